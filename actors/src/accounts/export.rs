//! The export actor: the latest data export of one account ("Export my data").
//!
//! Keyed by the account's id (not its username, which a deleted account gives back), it holds
//! one record: the newest export, its state (`pending`, `ready`, `failed`, `expired`), where
//! its archive is and when it expires. Every change is written ([`Ctx::save`], durable) before
//! the actor answers, so a 202 means the export is on record and a node that restarts finds
//! it (and prepares it again, see [`ExportRequest::Resume`]).
//!
//! The archive itself is a blob, written by the HTTP layer; this actor only records it.

use super::AccountError;
use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use troupe_runtime::{Ctx, Entity};
use uuid::Uuid;

/// The actor kind `export`, keyed by the account id.
pub struct ExportActor;

/// How far an export got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportState {
    /// Asked for; being prepared.
    Pending,
    /// The archive can be downloaded until `expires_at`.
    Ready,
    /// It could not be prepared (see `error`); the user may ask again.
    Failed,
    /// Its time ran out and its archive was deleted.
    Expired,
}

/// The durable record of an account's latest export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRecord {
    /// The export id (a new one per request).
    pub id: Uuid,
    /// The account's actor key (lowercase username), for the archive's name and the mail.
    pub user_key: String,
    /// How far it got.
    pub state: ExportState,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it became ready (or failed).
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The archive is deleted then (set once ready).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The archive's size in bytes (set once ready).
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// The archive's blob path (set once ready).
    #[serde(default)]
    pub blob: Option<String>,
    /// How many times its preparation was started (a restart starts it again).
    #[serde(default)]
    pub attempts: u32,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// Why a new export is refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ExportRefusal {
    /// One is being prepared: this one.
    Pending(ExportRecord),
    /// The last one was asked for too recently: a new one may be asked for in this many
    /// seconds.
    TooSoon(u64),
}

/// Requests to the export actor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ExportRequest {
    /// Starts a new export `id` for the account `user_key`, unless one is pending or the
    /// last was asked for less than `min_interval_secs` ago (a failed one does not count).
    Start {
        /// The new export's id.
        id: Uuid,
        /// The account's actor key.
        user_key: String,
        /// The least time between two exports, in seconds.
        min_interval_secs: u64,
    },
    /// The latest export, if any.
    Get,
    /// Counts one more start of export `id`'s preparation and answers its record if it is
    /// still pending and was started fewer than `max_attempts` times; past that, it is marked
    /// failed (a preparation that kills the node every time must not loop for ever).
    Resume {
        /// The export.
        id: Uuid,
        /// The most starts.
        max_attempts: u32,
    },
    /// Export `id`'s archive is stored: it is ready until `expires_at`.
    Ready {
        /// The export.
        id: Uuid,
        /// The archive's blob path.
        blob: String,
        /// Its size.
        size_bytes: u64,
        /// When it expires.
        expires_at: DateTime<Utc>,
    },
    /// Export `id` could not be prepared.
    Fail {
        /// The export.
        id: Uuid,
        /// Why.
        error: String,
    },
    /// Export `id`'s archive was deleted: it has expired.
    Expire {
        /// The export.
        id: Uuid,
    },
    /// Forgets every export (the account is deleted); answers the last record.
    Forget,
}

/// Answers of the export actor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ExportResponse {
    /// To `Start`.
    Started(Result<ExportRecord, ExportRefusal>),
    /// To the others: the record after the request (none if there is none, or if the request
    /// named another export than the latest).
    Record(Option<ExportRecord>),
    /// The store failed; nothing changed.
    Failed(AccountError),
}

impl Entity for ExportActor {
    const KIND: &'static str = "export";
    const SCHEMA: u8 = 1;
    type State = ExportRecord;
    type Request = ExportRequest;
    type Response = ExportResponse;
    type Args = ();

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: ExportRequest,
    ) -> Result<ExportResponse, ActorProcessingErr> {
        let now = Utc::now();
        let current = ctx.state().cloned();
        let latest = |id: Uuid| current.clone().filter(|r| r.id == id);
        Ok(match req {
            ExportRequest::Start {
                id,
                user_key,
                min_interval_secs,
            } => {
                if let Some(r) = &current {
                    if r.id == id {
                        // A retry of the same request.
                        return Ok(ExportResponse::Started(Ok(r.clone())));
                    }
                    if r.state == ExportState::Pending {
                        return Ok(ExportResponse::Started(Err(ExportRefusal::Pending(
                            r.clone(),
                        ))));
                    }
                    let since = (now - r.created_at).num_seconds().max(0) as u64;
                    if r.state != ExportState::Failed && since < min_interval_secs {
                        return Ok(ExportResponse::Started(Err(ExportRefusal::TooSoon(
                            min_interval_secs - since,
                        ))));
                    }
                }
                let record = ExportRecord {
                    id,
                    user_key,
                    state: ExportState::Pending,
                    created_at: now,
                    finished_at: None,
                    expires_at: None,
                    size_bytes: None,
                    blob: None,
                    attempts: 0,
                    error: None,
                };
                match ctx.save(record.clone()).await {
                    Ok(()) => ExportResponse::Started(Ok(record)),
                    Err(e) => ExportResponse::Failed(e.into()),
                }
            }
            ExportRequest::Get => ExportResponse::Record(current),
            ExportRequest::Resume { id, max_attempts } => {
                let Some(mut r) = latest(id).filter(|r| r.state == ExportState::Pending) else {
                    return Ok(ExportResponse::Record(None));
                };
                r.attempts += 1;
                if r.attempts > max_attempts {
                    r.state = ExportState::Failed;
                    r.finished_at = Some(now);
                    r.error = Some(format!("not prepared after {max_attempts} tries"));
                }
                save(ctx, r).await
            }
            ExportRequest::Ready {
                id,
                blob,
                size_bytes,
                expires_at,
            } => {
                let Some(mut r) = latest(id).filter(|r| r.state == ExportState::Pending) else {
                    return Ok(ExportResponse::Record(None));
                };
                r.state = ExportState::Ready;
                r.finished_at = Some(now);
                r.expires_at = Some(expires_at);
                r.size_bytes = Some(size_bytes);
                r.blob = Some(blob);
                save(ctx, r).await
            }
            ExportRequest::Fail { id, error } => {
                let Some(mut r) = latest(id).filter(|r| r.state == ExportState::Pending) else {
                    return Ok(ExportResponse::Record(None));
                };
                r.state = ExportState::Failed;
                r.finished_at = Some(now);
                r.error = Some(error);
                save(ctx, r).await
            }
            ExportRequest::Expire { id } => {
                let Some(mut r) = latest(id) else {
                    return Ok(ExportResponse::Record(None));
                };
                r.state = ExportState::Expired;
                r.blob = None;
                save(ctx, r).await
            }
            ExportRequest::Forget => {
                if current.is_some() {
                    if let Err(e) = ctx.remove().await {
                        return Ok(ExportResponse::Failed(e.into()));
                    }
                }
                ExportResponse::Record(current)
            }
        })
    }
}

async fn save(ctx: &mut Ctx<ExportActor>, r: ExportRecord) -> ExportResponse {
    match ctx.save(r.clone()).await {
        Ok(()) => ExportResponse::Record(Some(r)),
        Err(e) => ExportResponse::Failed(e.into()),
    }
}
