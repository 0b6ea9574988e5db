//! The actor kind `audit` (one entity, key `log`): the append-only audit log of moderation
//! actions, in pages.
//!
//! Entries live in parts of [`PAGE`] entries each (`auditpage/<n>`): an append rewrites the
//! one page it lands in, never the log. The state holds only the number of the last page; the
//! entries of that page are kept in memory once read. A page that is full sends the next
//! entry to the next page, so a half-finished write (the page written, the state not) is
//! found again at activation, and an entry carries an id, so a retried append is stored once.

use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use troupe_runtime::{Ctx, Entity, Part};
use uuid::Uuid;

/// The actor kind `audit`.
pub struct AuditActor;

/// The key of its only entity.
pub const KEY: &str = "log";

/// Entries per page.
pub const PAGE: usize = 64;

/// One moderation action: who did what to what, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (the account id).
    pub actor_id: Uuid,
    /// Who (the username).
    pub actor: String,
    /// What: `comment.delete`, `comment.reject_ban`, `video.hide`, `video.unhide`,
    /// `user.suspend`, `user.unsuspend`, `user.role`, `report.state`...
    pub action: String,
    /// To what: `video:<id>`, `user:<username>`, `comment:<video id>/<comment id>`,
    /// `report:<id>`.
    pub target: String,
    /// Why, as the moderator said (or the new role, the new state).
    pub reason: Option<String>,
}

/// An entry as stored: with its idempotency id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Logged {
    /// Unique per [`super::Moderation::audit`] call; a retried append carries the same.
    pub id: Uuid,
    /// The entry.
    pub entry: AuditEntry,
}

/// One page of the log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditPage {
    /// Oldest first.
    pub entries: Vec<Logged>,
}

impl Part for AuditPage {
    const KIND: &'static str = "auditpage";
    const SCHEMA: u8 = 1;
}

/// The durable state: where the log ends.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditHead {
    /// The page appends go to (or, if it is full, the one before the next).
    pub last_page: u64,
    /// The entries of `last_page`, once read (not stored here: the page is).
    #[serde(skip)]
    pub tail: Option<Vec<Logged>>,
}

/// Requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AuditRequest {
    /// Appends an entry (once per id).
    Append(Logged),
    /// Up to `limit` entries older than position `before` (all when `None`), newest first.
    List {
        /// A position from an earlier answer.
        before: Option<u64>,
        /// How many.
        limit: usize,
    },
}

/// Answers.
#[derive(Debug, Serialize, Deserialize)]
pub enum AuditResponse {
    /// To `Append`: the entry's position.
    Appended(u64),
    /// To `List`: entries with their positions, newest first, and whether older ones exist.
    Entries(Vec<(u64, AuditEntry)>, bool),
    /// The store failed.
    Failed(String),
}

fn page_key(n: u64) -> String {
    format!("{n:012}")
}

/// Reads the last page into memory, moving past full pages written by an append whose state
/// write did not land.
async fn tail(ctx: &mut Ctx<AuditActor>) -> Result<(u64, Vec<Logged>), String> {
    let mut head = ctx.state().cloned().unwrap_or_default();
    if let Some(t) = head.tail.take() {
        return Ok((head.last_page, t));
    }
    loop {
        let read = ctx
            .load_parts::<AuditPage>(&[page_key(head.last_page)])
            .await
            .map_err(|e| e.to_string())?;
        let page = read.into_iter().next().flatten().unwrap_or_default();
        if page.entries.len() < PAGE {
            return Ok((head.last_page, page.entries));
        }
        head.last_page += 1;
    }
}

impl Entity for AuditActor {
    const KIND: &'static str = "audit";
    const SCHEMA: u8 = 1;
    type State = AuditHead;
    type Request = AuditRequest;
    type Response = AuditResponse;
    type Args = ();

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: AuditRequest,
    ) -> Result<AuditResponse, ActorProcessingErr> {
        let (mut last, mut entries) = match tail(ctx).await {
            Ok(t) => t,
            Err(e) => return Ok(AuditResponse::Failed(e)),
        };
        let stored_last = ctx.state().map_or(0, |h| h.last_page);
        let answer = match req {
            AuditRequest::Append(logged) => {
                if let Some(i) = entries.iter().position(|l| l.id == logged.id) {
                    AuditResponse::Appended(last * PAGE as u64 + i as u64)
                } else {
                    if entries.len() >= PAGE {
                        last += 1;
                        entries.clear();
                    }
                    entries.push(logged);
                    ctx.stage_part(
                        &page_key(last),
                        &AuditPage {
                            entries: entries.clone(),
                        },
                    );
                    AuditResponse::Appended(last * PAGE as u64 + entries.len() as u64 - 1)
                }
            }
            AuditRequest::List { before, limit } => {
                let end =
                    (last * PAGE as u64 + entries.len() as u64).min(before.unwrap_or(u64::MAX));
                let mut out = Vec::new();
                let mut pos = end;
                while pos > 0 && out.len() < limit {
                    let page_no = (pos - 1) / PAGE as u64;
                    let page = if page_no == last {
                        entries.clone()
                    } else {
                        match ctx.load_parts::<AuditPage>(&[page_key(page_no)]).await {
                            Ok(p) => p.into_iter().next().flatten().unwrap_or_default().entries,
                            Err(e) => return Ok(AuditResponse::Failed(e.to_string())),
                        }
                    };
                    let within = (pos - 1) % PAGE as u64;
                    for i in (0..=within).rev() {
                        if out.len() >= limit {
                            break;
                        }
                        if let Some(l) = page.get(i as usize) {
                            out.push((page_no * PAGE as u64 + i, l.entry.clone()));
                        }
                        pos = page_no * PAGE as u64 + i;
                    }
                }
                AuditResponse::Entries(out, pos > 0)
            }
        };
        let head = AuditHead {
            last_page: last,
            tail: Some(entries),
        };
        if last != stored_last {
            ctx.stage(head);
        } else {
            *ctx.state_mut() = Some(head);
        }
        Ok(answer)
    }
}
