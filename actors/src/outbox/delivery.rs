//! The `delivery` actor: one send (an email, a webhook call), keyed by its idempotency key.
//!
//! ```text
//!  delivery/<key>   state: the Outgoing, status, attempts, next attempt, the last records
//!  outq/<key>       while pending: kind, target, next attempt, attempts, last error
//!                   (the index the per-node schedules are rebuilt from; finished deliveries
//!                   leave it, so a restart scans only what is still to send)
//!  outfailed/<key>  after a permanent failure, until retried: for the admin view
//! ```
//!
//! The index entry is written before the state (a crash between leaves an entry whose
//! delivery does not exist, which the next attempt removes) and removed after the state says
//! finished (a crash between leaves an entry the next attempt removes).

use super::{Attempt, AttemptRecord, Outgoing, Schedule};
use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use troupe_runtime::store::{Precondition, StateStore};
use troupe_runtime::{codec, Ctx, Entity};

/// The storage prefix of the pending index.
pub(crate) const QUEUE: &str = "outq/";
/// The storage prefix of the permanent failures (until retried).
pub(crate) const FAILED: &str = "outfailed/";
/// Attempt records a delivery keeps.
const KEEP_RECORDS: usize = 5;
/// An attempt that has not recorded its outcome within this long is taken to have died.
pub(crate) const ATTEMPT_LEASE: Duration = Duration::from_secs(300);

/// A delivery's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// To be attempted (again).
    Pending,
    /// Delivered.
    Sent,
    /// Failed for good, or out of retries.
    Failed,
}

impl Status {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sent => "sent",
            Status::Failed => "failed",
        }
    }
}

/// The durable state of a delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryState {
    /// What to send.
    pub outgoing: Outgoing,
    /// Where it stands.
    pub status: Status,
    /// Attempts recorded so far.
    pub attempts: u32,
    /// The attempt count when the schedule last started over (`retry_now`).
    pub base: u32,
    /// When the next attempt is due (pending only).
    pub next_at: Option<DateTime<Utc>>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// The last few attempts, oldest first.
    pub records: Vec<AttemptRecord>,
    /// An attempt under way in this activation, since when (memory only).
    #[serde(skip)]
    running: Option<Instant>,
}

impl DeliveryState {
    /// The last attempt's error, if it failed.
    pub fn last_error(&self) -> Option<String> {
        match self.records.last().map(|r| &r.outcome) {
            Some(Attempt::Retry { error, .. }) | Some(Attempt::Failed { error, .. }) => {
                Some(error.clone())
            }
            _ => None,
        }
    }
}

/// The index entry of a pending (or failed) delivery: what the schedule and the admin view
/// need without activating it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueEntry {
    /// The transport's kind.
    pub kind: String,
    /// Who it is for.
    pub target: String,
    /// When the next attempt is due (the time it failed, for a failure).
    pub next_at: DateTime<Utc>,
    /// Attempts so far.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

impl QueueEntry {
    fn of(s: &DeliveryState, at: DateTime<Utc>) -> Self {
        Self {
            kind: s.outgoing.kind.clone(),
            target: s.outgoing.target.clone(),
            next_at: at,
            attempts: s.attempts,
            last_error: s.last_error(),
        }
    }
}

/// Requests to a delivery. All idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum DeliveryRequest {
    /// Stores it if new.
    Enqueue(Box<Outgoing>),
    /// Claims the next attempt if it is due.
    Begin,
    /// An attempt's outcome.
    Record {
        /// The attempt's number (1 for the first).
        number: u32,
        /// When it started.
        at: DateTime<Utc>,
        /// How long it took.
        latency_ms: u64,
        /// What it came to.
        outcome: Attempt,
    },
    /// Pending again, due at once.
    RetryNow,
    /// The delivery.
    Get,
}

/// Answers of a delivery.
#[derive(Debug, Serialize, Deserialize)]
pub enum DeliveryResponse {
    /// Whether `Enqueue` stored it (`false`: the key was known).
    Enqueued(bool),
    /// The attempt to make, with its number.
    Begun(Box<Outgoing>, u32),
    /// Not due before then.
    NotYet(DateTime<Utc>),
    /// Nothing to attempt (finished, unknown, or an attempt under way).
    Nothing,
    /// The outcome recorded, and when the next attempt is due (`None`: finished).
    Recorded(Box<AttemptRecord>, Option<DateTime<Utc>>),
    /// Whether a `RetryNow` found the delivery.
    Found(bool),
    /// The delivery, if it exists.
    State(Option<Box<DeliveryState>>),
}

/// Per-kind context of deliveries.
#[derive(Clone)]
pub struct DeliveryArgs {
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) schedule: Arc<Schedule>,
}

/// The actor kind `delivery`, keyed by the idempotency key.
pub struct DeliveryActor;

fn io(e: impl std::fmt::Display) -> ActorProcessingErr {
    e.to_string().into()
}

async fn put_entry(
    store: &Arc<dyn StateStore>,
    prefix: &str,
    key: &str,
    entry: &QueueEntry,
) -> Result<(), ActorProcessingErr> {
    let bytes = codec::encode(1, entry).map_err(io)?;
    store
        .put(&format!("{prefix}{key}"), bytes, Precondition::None)
        .await
        .map_err(io)?;
    Ok(())
}

async fn delete_entry(
    store: &Arc<dyn StateStore>,
    prefix: &str,
    key: &str,
) -> Result<(), ActorProcessingErr> {
    store
        .delete(&format!("{prefix}{key}"), Precondition::None)
        .await
        .map_err(io)
}

/// The delay before the next attempt after attempt `done` (counted from the schedule's
/// start) failed: the schedule's, ±20 % jitter, at least `after`; `None` when the schedule is
/// used up.
pub(crate) fn next_delay(
    schedule: &[Duration],
    done: u32,
    after: Option<Duration>,
) -> Option<Duration> {
    let base = *schedule.get(done.checked_sub(1)? as usize)?;
    let jittered = base.mul_f64(0.8 + rand::random::<f64>() * 0.4);
    Some(after.map_or(jittered, |a| a.max(jittered)))
}

impl Entity for DeliveryActor {
    const KIND: &'static str = "delivery";
    const SCHEMA: u8 = 1;
    type State = DeliveryState;
    type Request = DeliveryRequest;
    type Response = DeliveryResponse;
    type Args = DeliveryArgs;

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: DeliveryRequest,
    ) -> Result<DeliveryResponse, ActorProcessingErr> {
        let key = ctx.key().to_owned();
        let store = ctx.args().store.clone();
        let schedule = ctx.args().schedule.clone();
        match req {
            DeliveryRequest::Enqueue(outgoing) => {
                if ctx.state().is_some() {
                    return Ok(DeliveryResponse::Enqueued(false));
                }
                let now = Utc::now();
                let due = outgoing.not_before.map_or(now, |t| t.max(now));
                let state = DeliveryState {
                    outgoing: *outgoing,
                    status: Status::Pending,
                    attempts: 0,
                    base: 0,
                    next_at: Some(due),
                    created_at: now,
                    records: Vec::new(),
                    running: None,
                };
                put_entry(&store, QUEUE, &key, &QueueEntry::of(&state, due)).await?;
                let (kind, target) = (state.outgoing.kind.clone(), state.outgoing.target.clone());
                ctx.save(state).await?;
                metrics::counter!("troupe_outbox_queued_total", "kind" => kind.clone())
                    .increment(1);
                schedule.push(&key, &kind, &target, due);
                Ok(DeliveryResponse::Enqueued(true))
            }
            DeliveryRequest::Begin => {
                let Some(s) = ctx.state_mut().as_mut() else {
                    // An index entry left by a crash before its state was written.
                    delete_entry(&store, QUEUE, &key).await?;
                    return Ok(DeliveryResponse::Nothing);
                };
                if s.status != Status::Pending {
                    // Left by a crash between the state and the index: clean it up.
                    delete_entry(&store, QUEUE, &key).await?;
                    return Ok(DeliveryResponse::Nothing);
                }
                if s.running.is_some_and(|t| t.elapsed() < ATTEMPT_LEASE) {
                    return Ok(DeliveryResponse::Nothing);
                }
                let now = Utc::now();
                if let Some(at) = s.next_at {
                    // A little slack: the schedule's clock and this one are the same node's.
                    if at > now + chrono::Duration::milliseconds(50) {
                        return Ok(DeliveryResponse::NotYet(at));
                    }
                }
                s.running = Some(Instant::now());
                Ok(DeliveryResponse::Begun(
                    Box::new(s.outgoing.clone()),
                    s.attempts + 1,
                ))
            }
            DeliveryRequest::Record {
                number,
                at,
                latency_ms,
                outcome,
            } => {
                let Some(mut s) = ctx.state().cloned() else {
                    return Ok(DeliveryResponse::Nothing);
                };
                if s.status != Status::Pending || number != s.attempts + 1 {
                    return Ok(DeliveryResponse::Nothing);
                }
                s.attempts = number;
                s.running = None;
                let now = Utc::now();
                let (status, next) = match &outcome {
                    Attempt::Sent { .. } => (Status::Sent, None),
                    Attempt::Failed { .. } => (Status::Failed, None),
                    Attempt::Retry { after, .. } => {
                        match next_delay(&s.outgoing.schedule, number - s.base, *after) {
                            Some(d) => (
                                Status::Pending,
                                Some(now + chrono::Duration::from_std(d).unwrap_or_default()),
                            ),
                            None => (Status::Failed, None),
                        }
                    }
                };
                let record = AttemptRecord {
                    key: key.clone(),
                    number,
                    at,
                    latency_ms,
                    outcome,
                    last: status != Status::Pending,
                };
                s.status = status;
                s.next_at = next;
                s.records.push(record.clone());
                if s.records.len() > KEEP_RECORDS {
                    s.records.remove(0);
                }
                let entry = QueueEntry::of(&s, next.unwrap_or(now));
                ctx.save(s).await?;
                match status {
                    Status::Pending => put_entry(&store, QUEUE, &key, &entry).await?,
                    Status::Failed => {
                        put_entry(&store, FAILED, &key, &entry).await?;
                        delete_entry(&store, QUEUE, &key).await?;
                    }
                    // The state says sent, durably: the index entry goes behind the answer
                    // (one durable write fewer per delivery). One left by a crash is removed
                    // by the next attempt, which finds the delivery finished.
                    Status::Sent => {
                        tokio::spawn(async move {
                            if let Err(e) = delete_entry(&store, QUEUE, &key).await {
                                tracing::debug!(key, error = %e, "a sent delivery's index entry stays until its next attempt");
                            }
                        });
                    }
                }
                if status != Status::Pending {
                    // Finished: no slot or memory held for it until the idle timeout.
                    ctx.passivate();
                }
                Ok(DeliveryResponse::Recorded(Box::new(record), next))
            }
            DeliveryRequest::RetryNow => {
                let Some(mut s) = ctx.state().cloned() else {
                    return Ok(DeliveryResponse::Found(false));
                };
                let now = Utc::now();
                if s.status != Status::Pending {
                    s.status = Status::Pending;
                    s.base = s.attempts;
                }
                s.next_at = Some(now);
                s.running = None;
                let (kind, target) = (s.outgoing.kind.clone(), s.outgoing.target.clone());
                put_entry(&store, QUEUE, &key, &QueueEntry::of(&s, now)).await?;
                ctx.save(s).await?;
                delete_entry(&store, FAILED, &key).await?;
                schedule.push(&key, &kind, &target, now);
                Ok(DeliveryResponse::Found(true))
            }
            DeliveryRequest::Get => Ok(DeliveryResponse::State(ctx.state().cloned().map(Box::new))),
        }
    }
}
