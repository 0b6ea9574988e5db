//! The actor kind `suspensions` (one entity, key `all`): the set of suspended accounts, with a
//! version that every node polls to keep its cached copy current (see [`super::Moderation`]).
//!
//! The user actor holds each account's own suspension (it refuses logins); this set is what
//! every node needs at hand to hide a suspended account's videos and comments, and to refuse
//! its requests, without asking anyone.

use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use troupe_runtime::{Ctx, Entity};
use uuid::Uuid;

/// The actor kind `suspensions`.
pub struct SuspensionsActor;

/// The key of its only entity.
pub const KEY: &str = "all";

/// A suspended account, as moderators list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuspendedAccount {
    /// The account id.
    pub id: Uuid,
    /// Its username.
    pub username: String,
    /// Why.
    pub reason: String,
    /// Since when.
    pub at: DateTime<Utc>,
    /// Who suspended it (username).
    pub by: String,
}

/// The durable set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SuspendedSet {
    /// Bumped by every change, so that a poller learns of one by reading a number.
    pub version: u64,
    /// The suspended accounts by id.
    pub users: BTreeMap<Uuid, SuspendedAccount>,
}

/// Requests. Each is idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SuspensionsRequest {
    /// Adds an account (an account already in keeps its first entry).
    Suspend(SuspendedAccount),
    /// Removes an account.
    Unsuspend(Uuid),
    /// The whole set if its version differs from `known`, else nothing.
    Since(Option<u64>),
}

/// Answers.
#[derive(Debug, Serialize, Deserialize)]
pub enum SuspensionsResponse {
    /// To `Suspend` and `Unsuspend`: the version after the change.
    Version(u64),
    /// To `Since`.
    Set(Option<SuspendedSet>),
}

impl Entity for SuspensionsActor {
    const KIND: &'static str = "suspensions";
    const SCHEMA: u8 = 1;
    type State = SuspendedSet;
    type Request = SuspensionsRequest;
    type Response = SuspensionsResponse;
    type Args = ();

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: SuspensionsRequest,
    ) -> Result<SuspensionsResponse, ActorProcessingErr> {
        let mut set = ctx.state().cloned().unwrap_or_default();
        Ok(match req {
            SuspensionsRequest::Suspend(a) => {
                if !set.users.contains_key(&a.id) {
                    set.version += 1;
                    set.users.insert(a.id, a);
                    let v = set.version;
                    ctx.stage(set);
                    SuspensionsResponse::Version(v)
                } else {
                    SuspensionsResponse::Version(set.version)
                }
            }
            SuspensionsRequest::Unsuspend(id) => {
                if set.users.remove(&id).is_some() {
                    set.version += 1;
                    let v = set.version;
                    ctx.stage(set);
                    SuspensionsResponse::Version(v)
                } else {
                    SuspensionsResponse::Version(set.version)
                }
            }
            SuspensionsRequest::Since(known) => {
                SuspensionsResponse::Set((known != Some(set.version)).then_some(set))
            }
        })
    }
}
