//! The outbox: one durable queue for everything troupe sends (email, webhook calls).
//!
//! A send is a durable `delivery` record before the request that caused it is answered; a
//! delivery actor then sends it in the background through the [`Transport`] of its kind,
//! retries with backoff, and records the outcome. Deliveries are owned like any actor, so after
//! a failover the new owner resumes them; each node keeps a schedule of what is due, rebuilt
//! from the store on start.
//!
//! ```text
//!  enqueue ──▶ delivery/<key> (durable, fsync'd) + outq/<key> ──▶ the owner's Schedule
//!  Schedule (one per node: a heap of due times, no scans per tick)
//!    └── at the due time, at most `concurrency` at once:
//!          delivery Begin ──▶ Transport::send ──▶ delivery Record (durable: status, the
//!          record, the next time with ±20 % jitter or Retry-After) ──▶ Transport::recorded
//!  sweeper: at start and every `sweep`, rebuilds the schedule from outq/ for the deliveries
//!           this node owns (after a restart, a kill -9 or a failover)
//! ```
//!
//! A crash between a send and its record repeats the send with the same key, which the
//! receiver can tell (the email's `Message-ID`, the `webhook-id`).

mod delivery;

pub use delivery::{
    DeliveryActor, DeliveryRequest, DeliveryResponse, DeliveryState, QueueEntry, Status,
};

use chrono::{DateTime, Utc};
use delivery::{DeliveryArgs, FAILED, QUEUE};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use troupe_runtime::{codec, ActorId, CallError, Directory, Entity, System};
use uuid::Uuid;

/// What to send, as the delivery record keeps it. The transport of `kind` reads `payload`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outgoing {
    /// `email` or `webhook`: which [`Transport`] sends it.
    pub kind: String,
    /// The idempotency key, unique per send: the delivery's actor key, the email's
    /// `Message-ID` or the `webhook-id`. Enqueueing the same key twice stores it once.
    pub key: String,
    /// What the transport needs (a rendered email, a webhook call), as JSON.
    pub payload: serde_json::Value,
    /// Who it is for, for logs and per-target views (an email address, an endpoint id).
    pub target: String,
    /// The retry schedule: the delay before each retry (the first attempt is at once). When
    /// they are used up, the delivery fails for good.
    pub schedule: Vec<Duration>,
    /// Not before this time (a digest's hour); `None`: at once.
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
}

/// What one attempt came to, as a transport reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Attempt {
    /// Delivered (a 2xx, an SMTP 250).
    Sent {
        /// The HTTP status, for webhooks.
        status: Option<u16>,
        /// The start of the answer (at most 4 KiB), for the delivery log.
        response: Option<String>,
    },
    /// Failed for now: retry by the schedule, or not before `after` (a `Retry-After`).
    Retry {
        /// Why.
        error: String,
        /// The HTTP status, for webhooks.
        status: Option<u16>,
        /// The start of the answer (at most 4 KiB).
        response: Option<String>,
        /// At the earliest after this long (`Retry-After` on 429 and 503).
        after: Option<Duration>,
    },
    /// Failed for good (a 410, a refused address, a target that became internal): no retry.
    Failed {
        /// Why.
        error: String,
        /// The HTTP status, for webhooks.
        status: Option<u16>,
        /// The start of the answer (at most 4 KiB).
        response: Option<String>,
    },
}

/// One attempt as recorded, handed to [`Transport::recorded`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The delivery's key.
    pub key: String,
    /// 1 for the first attempt.
    pub number: u32,
    /// When it started.
    pub at: chrono::DateTime<chrono::Utc>,
    /// How long it took.
    pub latency_ms: u64,
    /// What it came to.
    pub outcome: Attempt,
    /// Whether the delivery is finished now (sent, failed for good, or out of retries).
    pub last: bool,
}

/// Sends one kind of delivery. Implemented by email (this module) and by webhooks.
pub trait Transport: Send + Sync + 'static {
    /// The kind it sends (`email`, `webhook`).
    fn kind(&self) -> &'static str;
    /// Makes one attempt. Never panics; a timeout is a `Retry`.
    fn send(&self, delivery: &Outgoing, attempt: u32) -> BoxFuture<'static, Attempt>;
    /// Called after each attempt is durably recorded (a delivery log, disabling an endpoint).
    /// Errors are logged, never retried.
    fn recorded(&self, _delivery: &Outgoing, _attempt: &AttemptRecord) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// Why a delivery could not be enqueued (the store failed or timed out: the caller answers 503).
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The durable write failed or timed out.
    #[error("the outbox is unavailable: {0}")]
    Unavailable(String),
    /// No transport of this kind is registered.
    #[error("no transport for {0}")]
    NoTransport(String),
}

/// How the outbox runs (from `[outbox]` in the configuration).
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// How many attempts run at once on a node.
    pub concurrency: usize,
    /// How many of them may go to one target (a webhook endpoint, an address) at once.
    pub per_target: usize,
    /// How often every node rebuilds its schedule from the store (and at start), to take over
    /// the deliveries of a node that left.
    pub sweep: Duration,
    /// The longest one attempt may take before it counts as a timeout (a `Retry`).
    pub attempt_timeout: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            concurrency: 256,
            per_target: 64,
            sweep: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(120),
        }
    }
}

/// A pending or failed delivery, as the admin view shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxItem {
    /// The idempotency key.
    pub key: String,
    /// `email` or `webhook`.
    pub kind: String,
    /// Who it is for.
    pub target: String,
    /// `pending` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When the next attempt is due (pending), or when it failed (failed).
    pub next_attempt_at: DateTime<Utc>,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// The per-node schedule of due deliveries: a heap of (due time, key), with the keys it holds
/// and the attempts under way, so that a key is never in it twice. At most `per_target`
/// attempts to one target (a webhook endpoint, an address) are under way at once: a due key
/// whose target is at its limit is parked until one of them ends, so that a slow or failing
/// target never takes every attempt the node may run and holds up the others.
pub(crate) struct Schedule {
    inner: Mutex<Sched>,
    wake: tokio::sync::Notify,
    /// The gauge of what it holds, by kind.
    metric: &'static str,
    /// Attempts under way at once per target (an empty target has no limit).
    per_target: usize,
}

/// A key that is due: when, its kind and its target.
struct Due {
    ms: i64,
    kind: String,
    target: String,
}

#[derive(Default)]
struct Sched {
    heap: BinaryHeap<Reverse<(i64, String)>>,
    /// The live entries (parked ones too); heap entries that disagree are stale.
    due: HashMap<String, Due>,
    /// Keys whose attempt is under way, with their kind and target.
    running: HashMap<String, (String, String)>,
    /// Attempts under way per target.
    busy: HashMap<String, usize>,
    /// Due keys waiting for an attempt of their target to end, oldest first.
    parked: HashMap<String, VecDeque<String>>,
    /// How many keys of each kind are due or under way: the gauge, kept as they come and go
    /// (counting the maps at every change would cost the schedule's size each time).
    sizes: BTreeMap<String, usize>,
}

impl Sched {
    fn gauge(&self, metric: &'static str) {
        if metric == "troupe_outbox_pending" {
            for kind in ["email", "webhook"] {
                if !self.sizes.contains_key(kind) {
                    metrics::gauge!(metric, "kind" => kind).set(0.0);
                }
            }
        }
        for (kind, n) in &self.sizes {
            metrics::gauge!(metric, "kind" => kind.clone()).set(*n as f64);
        }
    }

    /// One key of `kind` more (`up`) or fewer in the schedule.
    fn count(&mut self, kind: &str, up: bool) {
        match self.sizes.get_mut(kind) {
            Some(n) if up => *n += 1,
            Some(n) => *n = n.saturating_sub(1),
            None if up => {
                self.sizes.insert(kind.to_owned(), 1);
            }
            None => {}
        }
    }

    /// The gauge of one kind only.
    fn gauge_kind(&self, metric: &'static str, kind: &str) {
        let n = self.sizes.get(kind).copied().unwrap_or(0);
        metrics::gauge!(metric, "kind" => kind.to_owned()).set(n as f64);
    }
}

impl Schedule {
    /// An empty schedule whose size is the gauge `metric`, by kind, running at most
    /// `per_target` attempts to one target at once.
    pub(crate) fn new(metric: &'static str, per_target: usize) -> Self {
        Self {
            inner: Mutex::new(Sched::default()),
            wake: tokio::sync::Notify::new(),
            metric,
            per_target: per_target.max(1),
        }
    }

    /// Waits for the next due key and moves it to the running set: its key, kind and target.
    pub(crate) async fn next_due(&self) -> (String, String, String) {
        loop {
            match self.pop_due() {
                Ok(next) => return next,
                Err(wait) => {
                    let wait = wait.unwrap_or(Duration::from_secs(3600));
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.wake.notified() => {}
                    }
                }
            }
        }
    }

    /// Schedules `key` (of `kind`, to `target`; empty: no per-target limit) at `at`
    /// (replacing an earlier time for it), unless its attempt is under way.
    pub(crate) fn push(&self, key: &str, kind: &str, target: &str, at: DateTime<Utc>) {
        let ms = at.timestamp_millis();
        let mut s = self.inner.lock().expect("schedule lock");
        if s.running.contains_key(key) {
            return;
        }
        if s.due.get(key).is_some_and(|d| d.ms == ms) {
            return;
        }
        let due = Due {
            ms,
            kind: kind.to_owned(),
            target: target.to_owned(),
        };
        if s.due.insert(key.to_owned(), due).is_none() {
            s.count(kind, true);
        }
        s.heap.push(Reverse((ms, key.to_owned())));
        s.gauge_kind(self.metric, kind);
        drop(s);
        self.wake.notify_one();
    }

    /// Whether `key` is scheduled or under way.
    pub(crate) fn contains(&self, key: &str) -> bool {
        let s = self.inner.lock().expect("schedule lock");
        s.due.contains_key(key) || s.running.contains_key(key)
    }

    /// The next due key whose target may take another attempt (moved to the running set),
    /// or how long until one is due. Due keys of a target at its limit are parked.
    fn pop_due(&self) -> Result<(String, String, String), Option<Duration>> {
        let now = Utc::now().timestamp_millis();
        let mut guard = self.inner.lock().expect("schedule lock");
        let s = &mut *guard;
        while let Some(Reverse((at, key))) = s.heap.peek().cloned() {
            let Some(due) = s.due.get(&key).filter(|d| d.ms == at) else {
                s.heap.pop();
                continue;
            };
            if at > now {
                return Err(Some(Duration::from_millis((at - now) as u64)));
            }
            s.heap.pop();
            let target = due.target.clone();
            if !target.is_empty() && s.busy.get(&target).copied().unwrap_or(0) >= self.per_target {
                s.parked.entry(target).or_default().push_back(key);
                continue;
            }
            let due = s.due.remove(&key).expect("a live entry");
            if !target.is_empty() {
                *s.busy.entry(target.clone()).or_default() += 1;
            }
            s.running
                .insert(key.clone(), (due.kind.clone(), target.clone()));
            return Ok((key, due.kind, target));
        }
        Err(None)
    }

    /// The attempt of `key` is over: a key parked for its target is due again.
    pub(crate) fn done(&self, key: &str) {
        let mut guard = self.inner.lock().expect("schedule lock");
        let s = &mut *guard;
        let Some((kind, target)) = s.running.remove(key) else {
            return;
        };
        s.count(&kind, false);
        s.gauge_kind(self.metric, &kind);
        if target.is_empty() {
            return;
        }
        if let Some(n) = s.busy.get_mut(&target) {
            *n -= 1;
            if *n == 0 {
                s.busy.remove(&target);
            }
        }
        let Some(queue) = s.parked.get_mut(&target) else {
            return;
        };
        // The oldest parked key that is still due (one pushed again since has its own heap
        // entry; one that left is gone).
        while let Some(next) = queue.pop_front() {
            if let Some(d) = s.due.get(&next) {
                s.heap.push(Reverse((d.ms, next)));
                drop(guard);
                self.wake.notify_one();
                return;
            }
        }
        s.parked.remove(&target);
    }
}

struct Core {
    system: System,
    deliveries: Directory<DeliveryActor>,
    schedule: Arc<Schedule>,
    transports: std::sync::RwLock<Vec<Arc<dyn Transport>>>,
    settings: OutboxSettings,
}

/// Stops the outbox's tasks when the last handle goes.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// The outbox service, on every node.
#[derive(Clone)]
pub struct Outbox {
    core: Arc<Core>,
    _tasks: Arc<Tasks>,
}

impl Outbox {
    /// Starts the `delivery` kind on this node and its schedule (rebuilt from the store).
    pub async fn start(
        system: &troupe_runtime::System,
        settings: OutboxSettings,
    ) -> Result<Self, troupe_runtime::CallError> {
        let schedule = Arc::new(Schedule::new("troupe_outbox_pending", settings.per_target));
        let deliveries = Directory::<DeliveryActor>::start(
            system,
            DeliveryArgs {
                store: system.store().clone(),
                schedule: schedule.clone(),
            },
        )
        .await?;
        let core = Arc::new(Core {
            system: system.clone(),
            deliveries,
            schedule,
            transports: std::sync::RwLock::new(Vec::new()),
            settings,
        });
        schedule_gauge_zero(&core.schedule);
        let runner = tokio::spawn(run(core.clone()));
        let sweeper = tokio::spawn(sweep_forever(core.clone()));
        Ok(Self {
            core,
            _tasks: Arc::new(Tasks(vec![runner, sweeper])),
        })
    }

    /// Registers the transport of one kind (at start-up, before serving). Deliveries of a
    /// kind with no transport wait.
    pub fn register(&self, transport: Arc<dyn Transport>) {
        self.core
            .transports
            .write()
            .expect("transports lock")
            .push(transport);
        // Deliveries that waited for it are due now.
        self.core.schedule.wake.notify_one();
    }

    /// Durably stores `outgoing` (fsync'd) and schedules its first attempt. Returns once it is
    /// durable; never waits for the send. The same `key` again is a no-op.
    pub async fn enqueue(&self, outgoing: Outgoing) -> Result<(), OutboxError> {
        if self.transport(&outgoing.kind).is_none() {
            return Err(OutboxError::NoTransport(outgoing.kind));
        }
        let key = outgoing.key.clone();
        match self
            .core
            .deliveries
            .call(&key, DeliveryRequest::Enqueue(Box::new(outgoing)))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(OutboxError::Unavailable(e.to_string())),
        }
    }

    /// The same for many at once (a digest batch, one event to many endpoints): they are
    /// stored concurrently (sharing the store's group commit), and all are durable when it
    /// returns `Ok`.
    pub async fn enqueue_all(&self, outgoing: Vec<Outgoing>) -> Result<(), OutboxError> {
        use futures::StreamExt;
        let results: Vec<Result<(), OutboxError>> = futures::stream::iter(outgoing)
            .map(|o| self.enqueue(o))
            .buffer_unordered(64)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Makes a finished delivery (failed for good, or sent) pending again, attempted at once
    /// (`POST /api/v1/webhooks/{id}/deliveries/{delivery}/retry`). `Ok(false)`: no such key.
    pub async fn retry_now(&self, key: &str) -> Result<bool, OutboxError> {
        match self
            .core
            .deliveries
            .call(key, DeliveryRequest::RetryNow)
            .await
        {
            Ok(DeliveryResponse::Found(found)) => Ok(found),
            Ok(_) => Err(OutboxError::Unavailable("unexpected answer".into())),
            Err(e) => Err(OutboxError::Unavailable(e.to_string())),
        }
    }

    /// One delivery as stored (`None`: no such key).
    pub async fn get(&self, key: &str) -> Result<Option<DeliveryState>, OutboxError> {
        match self.core.deliveries.call(key, DeliveryRequest::Get).await {
            Ok(DeliveryResponse::State(s)) => Ok(s.map(|s| *s)),
            Ok(_) => Err(OutboxError::Unavailable("unexpected answer".into())),
            Err(e) => Err(OutboxError::Unavailable(e.to_string())),
        }
    }

    /// Pending deliveries and permanent failures (not retried since), from the index, at most
    /// `limit` of each, filtered by kind and status (`pending`, `failed`).
    pub async fn list(
        &self,
        kind: Option<&str>,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, OutboxError> {
        let mut out = Vec::new();
        for (prefix, name) in [(QUEUE, "pending"), (FAILED, "failed")] {
            if status.is_some_and(|s| s != name) {
                continue;
            }
            let mut after: Option<String> = None;
            let mut taken = 0;
            'pages: loop {
                let page = self
                    .core
                    .system
                    .store()
                    .scan_page(prefix, after.as_deref(), 1_000)
                    .await
                    .map_err(|e| OutboxError::Unavailable(e.to_string()))?;
                let Some((last, _)) = page.last() else {
                    break;
                };
                after = Some(last.clone());
                for (k, v) in page {
                    let Ok(e) = codec::decode::<QueueEntry>(1, &v.value) else {
                        continue;
                    };
                    if kind.is_some_and(|kd| kd != e.kind) {
                        continue;
                    }
                    out.push(OutboxItem {
                        key: k[prefix.len()..].to_owned(),
                        kind: e.kind,
                        target: e.target,
                        status: name.to_owned(),
                        attempts: e.attempts,
                        next_attempt_at: e.next_at,
                        last_error: e.last_error,
                    });
                    taken += 1;
                    if taken >= limit {
                        break 'pages;
                    }
                }
            }
        }
        Ok(out)
    }

    /// A new id for a send (`msg_…` for webhooks, a `Message-ID` local part for email).
    pub fn new_key(prefix: &str) -> String {
        format!("{prefix}_{}", Uuid::new_v4().simple())
    }

    fn transport(&self, kind: &str) -> Option<Arc<dyn Transport>> {
        find_transport(&self.core, kind)
    }
}

fn find_transport(core: &Core, kind: &str) -> Option<Arc<dyn Transport>> {
    core.transports
        .read()
        .expect("transports lock")
        .iter()
        .find(|t| t.kind() == kind)
        .cloned()
}

fn schedule_gauge_zero(schedule: &Schedule) {
    schedule
        .inner
        .lock()
        .expect("schedule lock")
        .gauge(schedule.metric);
}

/// The schedule's loop: waits for the earliest due delivery and starts its attempt, at most
/// `concurrency` at once.
async fn run(core: Arc<Core>) {
    let permits = Arc::new(tokio::sync::Semaphore::new(
        core.settings.concurrency.max(1),
    ));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (key, kind, target) = core.schedule.next_due().await;
        let core = core.clone();
        tokio::spawn(async move {
            let again = attempt(&core, &key, &kind).await;
            core.schedule.done(&key);
            if let Some(at) = again {
                core.schedule.push(&key, &kind, &target, at);
            }
            drop(permit);
        });
    }
}

/// One attempt of `key`: claims it, sends it, records the outcome. Returns when to schedule
/// it again on this node, if at all.
async fn attempt(core: &Core, key: &str, kind: &str) -> Option<DateTime<Utc>> {
    let soon = || Some(Utc::now() + chrono::Duration::seconds(5));
    if !core
        .system
        .owns(&ActorId::new(DeliveryActor::KIND, key.to_owned()))
    {
        // Its owner's schedule has it (its sweeper finds it).
        return None;
    }
    let Some(transport) = find_transport(core, kind) else {
        return soon();
    };
    let (outgoing, number) = match core.deliveries.call(key, DeliveryRequest::Begin).await {
        Ok(DeliveryResponse::Begun(o, n)) => (o, n),
        Ok(DeliveryResponse::NotYet(at)) => return Some(at),
        Ok(_) => return None,
        Err(e) => {
            tracing::debug!(key, error = %e, "could not begin a delivery; trying again soon");
            return soon();
        }
    };
    let at = Utc::now();
    let started = std::time::Instant::now();
    let outcome = match tokio::time::timeout(
        core.settings.attempt_timeout,
        transport.send(&outgoing, number),
    )
    .await
    {
        Ok(o) => o,
        Err(_) => Attempt::Retry {
            error: format!(
                "no outcome within {} s",
                core.settings.attempt_timeout.as_secs()
            ),
            status: None,
            response: None,
            after: None,
        },
    };
    let latency_ms = started.elapsed().as_millis() as u64;
    let record = DeliveryRequest::Record {
        number,
        at,
        latency_ms,
        outcome,
    };
    let mut tries = 0;
    let recorded = loop {
        match core.deliveries.call(key, record.clone()).await {
            Ok(r) => break r,
            Err(e) if tries < 5 && (e.is_retryable() || e == CallError::Timeout) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(200 << tries)).await;
            }
            Err(e) => {
                // The attempt is repeated after its lease, with the same key.
                tracing::warn!(key, error = %e, "could not record a delivery attempt; it will be repeated");
                return Some(
                    Utc::now()
                        + chrono::Duration::from_std(delivery::ATTEMPT_LEASE).unwrap_or_default(),
                );
            }
        }
    };
    let DeliveryResponse::Recorded(record, next) = recorded else {
        return None;
    };
    let k = outgoing.kind.clone();
    match (&record.outcome, record.last) {
        (Attempt::Sent { .. }, _) => {
            metrics::counter!("troupe_outbox_sent_total", "kind" => k).increment(1);
        }
        (Attempt::Retry { .. }, false) => {
            metrics::counter!("troupe_outbox_retried_total", "kind" => k).increment(1);
            tracing::info!(kind = %outgoing.kind, key, target = %outgoing.target, attempt = number, next = ?next, "delivery attempt failed; retrying later");
        }
        (Attempt::Retry { error, .. } | Attempt::Failed { error, .. }, _) => {
            metrics::counter!("troupe_outbox_failed_total", "kind" => k).increment(1);
            tracing::warn!(kind = %outgoing.kind, key, target = %outgoing.target, attempts = number, error = %error, "delivery failed for good");
        }
    }
    transport.recorded(&outgoing, &record).await;
    next
}

/// At start (a moment after, once a cluster's router is in place) and then every `sweep`,
/// schedules the pending deliveries this node owns that its schedule lacks.
async fn sweep_forever(core: Arc<Core>) {
    let first = tokio::time::Instant::now() + Duration::from_secs(1);
    let mut tick = tokio::time::interval_at(first, core.settings.sweep.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sweep(&core).await {
            tracing::warn!(error = %e, "outbox sweep failed; trying again next time");
        }
    }
}

async fn sweep(core: &Core) -> Result<(), String> {
    let mut after: Option<String> = None;
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let page = core
            .system
            .store()
            .scan_page(QUEUE, after.as_deref(), 1_000)
            .await
            .map_err(|e| e.to_string())?;
        let Some((last, _)) = page.last() else {
            return Ok(());
        };
        after = Some(last.clone());
        for (storage_key, value) in page {
            let key = storage_key[QUEUE.len()..].to_owned();
            if !seen.insert(key.clone()) || core.schedule.contains(&key) {
                continue;
            }
            let Ok(entry) = codec::decode::<QueueEntry>(1, &value.value) else {
                continue;
            };
            if !core
                .system
                .owns(&ActorId::new(DeliveryActor::KIND, key.clone()))
            {
                continue;
            }
            core.schedule
                .push(&key, &entry.kind, &entry.target, entry.next_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(s: &Schedule) -> Vec<(String, usize)> {
        let s = s.inner.lock().unwrap();
        s.sizes
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    }

    #[test]
    fn the_schedules_sizes_follow_keys_in_and_out_without_counting_them_again() {
        let s = Schedule::new("troupe_outbox_pending", 64);
        let past = Utc::now() - chrono::Duration::seconds(1);
        s.push("a", "email", "", past);
        s.push("b", "email", "", past + chrono::Duration::milliseconds(1));
        s.push("c", "webhook", "", past + chrono::Duration::milliseconds(2));
        // Moved to another time: still one key.
        s.push("a", "email", "", past - chrono::Duration::milliseconds(5));
        assert_eq!(sizes(&s), [("email".into(), 2), ("webhook".into(), 1)]);
        // Under way still counts; a push while under way adds nothing.
        let (first, kind, _) = s.pop_due().unwrap();
        assert_eq!((first.as_str(), kind.as_str()), ("a", "email"));
        s.push("a", "email", "", past);
        assert_eq!(sizes(&s), [("email".into(), 2), ("webhook".into(), 1)]);
        s.done("a");
        s.done("a");
        assert_eq!(sizes(&s), [("email".into(), 1), ("webhook".into(), 1)]);
        for _ in 0..2 {
            let (k, _, _) = s.pop_due().unwrap();
            s.done(&k);
        }
        assert!(sizes(&s).is_empty());
        assert!(s.pop_due().is_err());
    }

    #[test]
    fn a_target_at_its_limit_waits_while_others_go_and_gets_its_turn_in_order() {
        let s = Schedule::new("troupe_outbox_pending", 2);
        let t0 = Utc::now() - chrono::Duration::seconds(10);
        let at = |ms: i64| t0 + chrono::Duration::milliseconds(ms);
        // A slow endpoint has five due, older than the other endpoint's one.
        for i in 0..5 {
            s.push(&format!("slow{i}"), "webhook", "ep-slow", at(i));
        }
        s.push("fast0", "webhook", "ep-fast", at(100));
        let next = || s.pop_due().map(|(k, _, _)| k);
        assert_eq!(next().unwrap(), "slow0");
        assert_eq!(next().unwrap(), "slow1");
        // ep-slow is at its limit: the rest wait, and the other endpoint goes at once.
        assert_eq!(next().unwrap(), "fast0");
        assert!(next().is_err());
        assert!(s.contains("slow2"), "parked keys are still scheduled");
        s.done("fast0");
        assert!(s.pop_due().is_err());
        // One of ep-slow's attempts ends: its oldest waiting key is due, and only that one.
        s.done("slow0");
        assert_eq!(s.pop_due().unwrap().0, "slow2");
        assert!(s.pop_due().is_err());
        // A parked key moved to a later time goes at that time, once.
        s.push(
            "slow4",
            "webhook",
            "ep-slow",
            Utc::now() + chrono::Duration::hours(1),
        );
        s.done("slow1");
        assert_eq!(s.pop_due().unwrap().0, "slow3");
        s.done("slow2");
        s.done("slow3");
        assert!(
            matches!(s.pop_due(), Err(Some(_))),
            "slow4 waits for its hour"
        );
        // No target: no limit.
        for i in 0..5 {
            s.push(&format!("d{i}"), "digest", "", at(i));
        }
        for _ in 0..5 {
            assert!(s.pop_due().unwrap().0.starts_with('d'));
        }
    }
}
