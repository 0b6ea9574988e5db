//! Webhooks (Standard Webhooks): endpoints, the events they receive, and their delivery logs.
//!
//! ```text
//!  a fact is durable (video ready, comment posted, ...)
//!     └──▶ Webhooks::emit(event) ──(reads)──▶ hooks/<owner>, hooks/instance   (the index)
//!             └──▶ Outbox::enqueue_all: one `webhook` delivery per matching endpoint,
//!                  key = webhook-id = msg_<event>_<endpoint>   (durable before emit returns)
//!  outbox ──(each attempt)──▶ the webhook transport (root crate: sign, vet, POST)
//!             ├──(reads)──▶ webhook/<endpoint>   (URL, secrets, state: checked every attempt)
//!             └──(after it is recorded)──▶ webhook/<endpoint> Record: the delivery log,
//!                  failing-since, disabled on a 410 or after days of failures
//! ```
//!
//! The endpoint actors are the truth; the index is a copy for producing events cheaply.

pub mod endpoint;
pub mod index;
pub mod values;

pub use endpoint::{EndpointPatch, NewEndpoint, Owner, Recorded, Target, WebhookError};
pub use values::{
    AttemptOutcome, DeliveryAttempt, EndpointState, EndpointView, Event, EventType, Scope,
};

use crate::outbox::{Outbox, OutboxError, Outgoing};
use endpoint::{WebhookActor, WebhookRequest, WebhookResponse};
use index::{HookIndex, IndexEntry, IndexRequest, IndexResponse};
use std::sync::Arc;
use std::time::Duration;
use troupe_runtime::{CallError, Directory, System};
use uuid::Uuid;

/// The index key of instance-wide endpoints.
pub const INSTANCE: &str = "instance";

/// The outbox kind of webhook deliveries.
pub const KIND: &str = "webhook";

/// The waits (s) before each background try of an event the outbox could not take on a
/// request path: about five minutes in all.
const EMIT_RETRY_SECS: [u64; 9] = [1, 2, 4, 8, 15, 30, 60, 90, 90];

/// How webhooks behave (`[webhooks]`).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The delays before each retry (Svix: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    pub schedule: Vec<Duration>,
    /// How long an endpoint may fail (no success in between) before it is disabled.
    pub disable_after: Duration,
    /// How long the previous secret still signs after a rotation.
    pub rotation_overlap: Duration,
    /// Most endpoints per user (and instance-wide).
    pub max_per_owner: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            schedule: [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            disable_after: Duration::from_secs(5 * 86_400),
            rotation_overlap: Duration::from_secs(86_400),
            max_per_owner: 20,
        }
    }
}

/// Why a webhook operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// An actor could not be reached (503).
    #[error(transparent)]
    Call(#[from] CallError),
    /// The endpoint's answer.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// The owner has the most endpoints allowed.
    #[error("at most {0} webhooks per owner")]
    Limit(usize),
    /// The outbox could not take the deliveries (503).
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// An actor answered something else than asked.
    #[error("unexpected answer from the {0} actor")]
    Unexpected(&'static str),
}

/// What a delivery carries in the outbox (its `payload`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DeliveryPayload {
    /// The endpoint.
    pub endpoint: Uuid,
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event: EventType,
    /// The body, exactly as sent (signed at each attempt with a fresh timestamp).
    pub body: String,
}

/// Endpoints and events. Cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    endpoints: Directory<WebhookActor>,
    index: Directory<HookIndex>,
    outbox: Outbox,
    settings: Arc<WebhookSettings>,
}

impl Webhooks {
    /// Starts the `webhook` and `hooks` kinds on this node.
    pub async fn start(
        system: &System,
        outbox: Outbox,
        settings: WebhookSettings,
    ) -> Result<Self, CallError> {
        Ok(Self {
            endpoints: Directory::<WebhookActor>::start(system, ()).await?,
            index: Directory::<HookIndex>::start(system, ()).await?,
            outbox,
            settings: Arc::new(settings),
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    async fn call(&self, id: Uuid, req: WebhookRequest) -> Result<WebhookResponse, HookError> {
        Ok(self.endpoints.call(&id.to_string(), req).await?)
    }

    async fn endpoint(&self, id: Uuid, req: WebhookRequest) -> Result<EndpointView, HookError> {
        match self.call(id, req).await? {
            WebhookResponse::Endpoint(r) => Ok(r?),
            _ => Err(HookError::Unexpected("webhook")),
        }
    }

    async fn put_index(&self, owner: &Owner, view: &EndpointView) -> Result<bool, HookError> {
        let entry = IndexEntry {
            id: view.id,
            events: view.events.clone(),
            state: view.state,
        };
        let req = IndexRequest::Put {
            entry,
            max: self.settings.max_per_owner,
        };
        match self.index.call(&owner.index_key(), req).await? {
            IndexResponse::Done(ok) => Ok(ok),
            IndexResponse::List(_) => Err(HookError::Unexpected("hooks")),
        }
    }

    /// The endpoint ids an owner has (`index_key`: a user id, or [`INSTANCE`]).
    async fn entries(&self, index_key: &str) -> Result<Vec<IndexEntry>, HookError> {
        if let Some(e) = self.index.snapshot::<Vec<IndexEntry>>(index_key) {
            return Ok(e.as_ref().clone());
        }
        match self.index.call(index_key, IndexRequest::List).await? {
            IndexResponse::List(l) => Ok(l),
            IndexResponse::Done(_) => Err(HookError::Unexpected("hooks")),
        }
    }

    /// Creates an endpoint (the caller vetted the URL and chose the id and secret). Over the
    /// owner's limit: [`HookError::Limit`], and nothing is kept.
    pub async fn create(&self, new: NewEndpoint) -> Result<EndpointView, HookError> {
        let owner = new.owner.clone();
        if self.entries(&owner.index_key()).await?.len() >= self.settings.max_per_owner {
            return Err(HookError::Limit(self.settings.max_per_owner));
        }
        let id = new.id;
        let view = self.endpoint(id, WebhookRequest::Create(new)).await?;
        if !self.put_index(&owner, &view).await? {
            let _ = self.call(id, WebhookRequest::Delete).await;
            return Err(HookError::Limit(self.settings.max_per_owner));
        }
        Ok(view)
    }

    /// An owner's endpoints, oldest first.
    pub async fn list(&self, index_key: &str) -> Result<Vec<EndpointView>, HookError> {
        let entries = self.entries(index_key).await?;
        let views = futures::future::join_all(
            entries
                .iter()
                .map(|e| self.endpoint(e.id, WebhookRequest::Get)),
        )
        .await;
        let mut out = Vec::new();
        for v in views {
            match v {
                Ok(v) => out.push(v),
                Err(HookError::Webhook(WebhookError::NotFound)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// An endpoint.
    pub async fn get(&self, id: Uuid) -> Result<EndpointView, HookError> {
        self.endpoint(id, WebhookRequest::Get).await
    }

    /// Whose an endpoint is.
    pub async fn owner(&self, id: Uuid) -> Result<Owner, HookError> {
        Ok(self.target(id).await?.owner)
    }

    /// What a delivery to `id` needs now.
    pub async fn target(&self, id: Uuid) -> Result<Target, HookError> {
        match self.call(id, WebhookRequest::Target).await? {
            WebhookResponse::Target(r) => Ok(r?),
            _ => Err(HookError::Unexpected("webhook")),
        }
    }

    /// Changes an endpoint, then its index entry.
    pub async fn update(&self, id: Uuid, patch: EndpointPatch) -> Result<EndpointView, HookError> {
        let owner = self.owner(id).await?;
        let view = self.endpoint(id, WebhookRequest::Update(patch)).await?;
        self.put_index(&owner, &view).await?;
        Ok(view)
    }

    /// Makes `secret` the current secret; the previous one signs for the overlap. Answers the
    /// endpoint (its `previous_secret_expires_at`).
    pub async fn rotate(&self, id: Uuid, secret: String) -> Result<EndpointView, HookError> {
        let previous_until = chrono::Utc::now()
            + chrono::Duration::from_std(self.settings.rotation_overlap)
                .unwrap_or(chrono::Duration::days(1));
        self.endpoint(
            id,
            WebhookRequest::Rotate {
                secret,
                previous_until,
            },
        )
        .await
    }

    /// Deletes an endpoint: out of the index first (no new events), then its state and log.
    /// Pending deliveries to it fail at their next attempt.
    pub async fn delete(&self, id: Uuid) -> Result<(), HookError> {
        let owner = self.owner(id).await?;
        match self
            .index
            .call(&owner.index_key(), IndexRequest::Remove(id))
            .await?
        {
            IndexResponse::Done(_) => {}
            IndexResponse::List(_) => return Err(HookError::Unexpected("hooks")),
        }
        match self.call(id, WebhookRequest::Delete).await? {
            WebhookResponse::Deleted(r) => r.map(|_| ()).map_err(HookError::from),
            _ => Err(HookError::Unexpected("webhook")),
        }
    }

    /// The delivery log, newest first.
    pub async fn log(
        &self,
        id: Uuid,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, HookError> {
        match self.call(id, WebhookRequest::Log { before, limit }).await? {
            WebhookResponse::Log(r) => Ok(r?),
            _ => Err(HookError::Unexpected("webhook")),
        }
    }

    /// Records an attempt in the endpoint's log (the transport, after the outbox recorded
    /// it); disables the endpoint on a 410 or after failing too long, and then updates the
    /// index.
    pub async fn record(
        &self,
        id: Uuid,
        entry: DeliveryAttempt,
        gone: bool,
    ) -> Result<Recorded, HookError> {
        let req = WebhookRequest::Record {
            entry,
            gone,
            disable_after_secs: self.settings.disable_after.as_secs(),
        };
        let recorded = match self.call(id, req).await? {
            WebhookResponse::Recorded(r) => r?,
            _ => return Err(HookError::Unexpected("webhook")),
        };
        if recorded.disabled.is_some() {
            self.put_index(&recorded.owner, &recorded.endpoint).await?;
        }
        Ok(recorded)
    }

    fn outgoing(&self, event: &Event, endpoint: Uuid) -> Outgoing {
        let payload = DeliveryPayload {
            endpoint,
            event_id: event.id.clone(),
            event: event.kind,
            body: event.body(),
        };
        Outgoing {
            kind: KIND.to_owned(),
            key: event.delivery_id(endpoint),
            payload: serde_json::to_value(payload).unwrap_or_default(),
            target: endpoint.to_string(),
            schedule: self.settings.schedule.clone(),
            not_before: None,
        }
    }

    /// Produces an event: one durable delivery per enabled endpoint that asked for its type,
    /// among its owner's and the instance's. Returns once every delivery is durable (or the
    /// outbox failed); the same event again adds nothing (the keys are the same). Answers how
    /// many endpoints it goes to.
    pub async fn emit(&self, event: &Event) -> Result<usize, HookError> {
        let mut keys = vec![INSTANCE.to_owned()];
        if let Some(owner) = event.owner {
            keys.push(owner.to_string());
        }
        let mut out = Vec::new();
        for key in keys {
            for e in self.entries(&key).await? {
                if e.state == EndpointState::Enabled && e.events.contains(&event.kind) {
                    out.push(self.outgoing(event, e.id));
                }
            }
        }
        let n = out.len();
        if n > 0 {
            self.outbox.enqueue_all(out).await?;
            metrics::counter!("troupe_webhook_events_total", "type" => event.kind.as_str())
                .increment(1);
        }
        Ok(n)
    }

    /// Produces an event and never returns a failure: for producers that answer anyway (the
    /// fact is durable; a 503 would make the client repeat it). When the outbox cannot take
    /// it now (overloaded or unavailable), the event is tried again in the background for
    /// about five minutes (the same event again adds nothing) before it is logged at ERROR
    /// and counted as lost.
    pub async fn emit_logged(&self, event: &Event) {
        let Err(e) = self.emit(event).await else {
            return;
        };
        tracing::warn!(event = %event.id, kind = event.kind.as_str(), error = %e, "could not enqueue a webhook event; trying again in the background");
        metrics::counter!("troupe_webhook_events_retried_total", "type" => event.kind.as_str())
            .increment(1);
        let (this, event) = (self.clone(), event.clone());
        tokio::spawn(async move {
            let mut error = e.to_string();
            for wait in EMIT_RETRY_SECS {
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                match this.emit(&event).await {
                    Ok(_) => return,
                    Err(e) => error = e.to_string(),
                }
            }
            metrics::counter!("troupe_webhook_events_lost_total", "type" => event.kind.as_str())
                .increment(1);
            tracing::error!(event = %event.id, kind = event.kind.as_str(), error = %error, "could not enqueue a webhook event; giving up");
        });
    }

    /// Sends a `webhook.test` event to one endpoint (enabled or not: it is the owner asking).
    /// Answers the delivery's id.
    pub async fn test(&self, id: Uuid, owner: Option<Uuid>) -> Result<String, HookError> {
        let now = chrono::Utc::now();
        let event = Event::new(
            EventType::WebhookTest,
            &format!("webhook.test:{id}:{}", Uuid::new_v4()),
            owner,
            now,
            serde_json::json!({ "endpoint_id": id, "message": "a test event from troupe" }),
        );
        let out = self.outgoing(&event, id);
        let key = out.key.clone();
        self.outbox.enqueue(out).await?;
        Ok(key)
    }

    /// Sends a finished delivery again at once (`Ok(false)`: the outbox has no such delivery).
    pub async fn retry(&self, delivery: &str) -> Result<bool, HookError> {
        Ok(self.outbox.retry_now(delivery).await?)
    }
}
