//! The rules actor: what decides who may comment and what is held, per channel (bans,
//! watched words), for the instance (watched words) and per user (mutes).
//!
//! Keys: `channel:<channel id>`, `instance`, `mutes:<user id>`. Each state is small (a list
//! of words, of banned or muted accounts) and written whole. Every request is idempotent.

use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use troupe_runtime::{Ctx, Entity, Snapshot};
use uuid::Uuid;

/// An account banned from commenting on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ban {
    /// The account.
    pub user_id: Uuid,
    /// Its username.
    pub username: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who banned it (username).
    pub by: String,
    /// Why.
    pub reason: Option<String>,
}

/// A named list of watched words or phrases (matched whole, ignoring case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WordList {
    /// The list's name.
    pub name: String,
    /// Its words.
    pub words: Vec<String>,
}

/// The durable rules of one key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RulesState {
    /// Banned accounts, by user id.
    pub bans: Vec<Ban>,
    /// Watched-word lists.
    pub lists: Vec<WordList>,
    /// Muted accounts (user id, username), by user id.
    pub muted: Vec<(Uuid, String)>,
}

impl RulesState {
    /// Whether `user` is banned.
    pub fn banned(&self, user: Uuid) -> bool {
        self.bans.iter().any(|b| b.user_id == user)
    }

    /// Every watched word, lowercase.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.lists
            .iter()
            .flat_map(|l| l.words.iter().map(String::as_str))
    }
}

/// Requests to the rules actor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RulesRequest {
    /// The rules.
    Get,
    /// Bans an account (again: keeps the first ban).
    Ban(Ban),
    /// Lifts a ban.
    Unban(Uuid),
    /// Replaces the watched-word lists.
    SetLists(Vec<WordList>),
    /// Mutes an account.
    Mute(Uuid, String),
    /// Unmutes an account.
    Unmute(Uuid),
}

/// The rules after the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RulesResponse(pub RulesState);

/// The actor kind `crules`.
pub struct RulesActor;

impl Entity for RulesActor {
    const KIND: &'static str = "crules";
    const SCHEMA: u8 = 1;
    type State = RulesState;
    type Request = RulesRequest;
    type Response = RulesResponse;
    type Args = ();

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: RulesRequest,
    ) -> Result<RulesResponse, ActorProcessingErr> {
        let mut s = ctx.state().cloned().unwrap_or_default();
        let changed = match req {
            RulesRequest::Get => false,
            RulesRequest::Ban(b) => {
                if s.banned(b.user_id) {
                    false
                } else {
                    s.bans.push(b);
                    true
                }
            }
            RulesRequest::Unban(u) => {
                let n = s.bans.len();
                s.bans.retain(|b| b.user_id != u);
                n != s.bans.len()
            }
            RulesRequest::SetLists(lists) => {
                let changed = s.lists != lists;
                s.lists = lists;
                changed
            }
            RulesRequest::Mute(u, name) => {
                if s.muted.iter().any(|(m, _)| *m == u) {
                    false
                } else {
                    s.muted.push((u, name));
                    true
                }
            }
            RulesRequest::Unmute(u) => {
                let n = s.muted.len();
                s.muted.retain(|(m, _)| *m != u);
                n != s.muted.len()
            }
        };
        if changed {
            ctx.stage(s.clone());
        }
        Ok(RulesResponse(s))
    }

    fn snapshot(state: Option<&RulesState>) -> Option<Snapshot> {
        Some(Arc::new(state.cloned().unwrap_or_default()))
    }
}
