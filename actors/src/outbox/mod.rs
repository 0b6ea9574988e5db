//! The outbox: one durable queue for everything troupe sends (email, webhook calls).
//!
//! A send is a durable `delivery` record before the request that caused it is answered; a
//! delivery actor then sends it in the background through the [`Transport`] of its kind,
//! retries with backoff, and records the outcome. Deliveries are owned like any actor, so after
//! a failover the new owner resumes them; each node keeps a schedule of what is due, rebuilt
//! from the store on start.
//!
//! INTERFACE SKELETON (issue 24): the types and signatures here are fixed by
//! /work/wt/INTERFACES24.md; the bodies are filled in by milestone O1.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
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
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self { concurrency: 64 }
    }
}

/// The outbox service, on every node.
#[derive(Clone)]
pub struct Outbox {
    transports: Arc<std::sync::RwLock<Vec<Arc<dyn Transport>>>>,
}

impl Outbox {
    /// Starts the `delivery` kind on this node and its schedule (rebuilt from the store).
    pub async fn start(
        system: &troupe_runtime::System,
        settings: OutboxSettings,
    ) -> Result<Self, troupe_runtime::CallError> {
        let _ = (system, settings);
        Ok(Self {
            transports: Arc::new(std::sync::RwLock::new(Vec::new())),
        })
    }

    /// Registers the transport of one kind (at start-up, before serving). Deliveries of a
    /// kind with no transport wait.
    pub fn register(&self, transport: Arc<dyn Transport>) {
        self.transports
            .write()
            .expect("transports lock")
            .push(transport);
    }

    /// Durably stores `outgoing` (fsync'd) and schedules its first attempt. Returns once it is
    /// durable; never waits for the send. The same `key` again is a no-op.
    pub async fn enqueue(&self, outgoing: Outgoing) -> Result<(), OutboxError> {
        let _ = outgoing;
        Err(OutboxError::Unavailable(
            "the outbox is not built yet (O1)".into(),
        ))
    }

    /// The same for many at once (a digest batch, one event to many endpoints).
    pub async fn enqueue_all(&self, outgoing: Vec<Outgoing>) -> Result<(), OutboxError> {
        for o in outgoing {
            self.enqueue(o).await?;
        }
        Ok(())
    }

    /// Makes a finished delivery (failed for good, or sent) pending again, attempted at once
    /// (`POST /api/v1/webhooks/{id}/deliveries/{delivery}/retry`). `Ok(false)`: no such key.
    pub async fn retry_now(&self, key: &str) -> Result<bool, OutboxError> {
        let _ = key;
        Err(OutboxError::Unavailable(
            "the outbox is not built yet (O1)".into(),
        ))
    }

    /// A new id for a send (`msg_…` for webhooks, a `Message-ID` local part for email).
    pub fn new_key(prefix: &str) -> String {
        format!("{prefix}_{}", Uuid::new_v4().simple())
    }
}
