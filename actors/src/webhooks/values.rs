//! What webhooks are made of: event types, events, endpoints as the API shows them, and the
//! delivery log's entries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The types of event an endpoint can ask for (`type` in the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    /// A video was created (before its upload).
    #[serde(rename = "video.created")]
    VideoCreated,
    /// A video's upload received its last byte (the video is queued for transcoding).
    #[serde(rename = "upload.completed")]
    UploadCompleted,
    /// A video finished transcoding and can be played.
    #[serde(rename = "video.ready")]
    VideoReady,
    /// A video's transcoding failed for good; `data.reason` says why.
    #[serde(rename = "video.failed")]
    VideoFailed,
    /// A video's metadata changed (title, description, tags, visibility).
    #[serde(rename = "video.updated")]
    VideoUpdated,
    /// A video was deleted.
    #[serde(rename = "video.deleted")]
    VideoDeleted,
    /// Someone subscribed to a channel.
    #[serde(rename = "channel.subscribed")]
    ChannelSubscribed,
    /// A comment was posted (or approved) and is visible.
    #[serde(rename = "comment.created")]
    CommentCreated,
    /// A comment was posted and held for review.
    #[serde(rename = "comment.held")]
    CommentHeld,
    /// A test event (`POST /api/v1/webhooks/{id}/test`); sent whatever the endpoint's filter.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    /// Every type an endpoint may subscribe to (not `webhook.test`, which is always sent).
    pub const SUBSCRIBABLE: [EventType; 9] = [
        EventType::VideoCreated,
        EventType::UploadCompleted,
        EventType::VideoReady,
        EventType::VideoFailed,
        EventType::VideoUpdated,
        EventType::VideoDeleted,
        EventType::ChannelSubscribed,
        EventType::CommentCreated,
        EventType::CommentHeld,
    ];

    /// The name on the wire (`video.ready`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::VideoCreated => "video.created",
            EventType::UploadCompleted => "upload.completed",
            EventType::VideoReady => "video.ready",
            EventType::VideoFailed => "video.failed",
            EventType::VideoUpdated => "video.updated",
            EventType::VideoDeleted => "video.deleted",
            EventType::ChannelSubscribed => "channel.subscribed",
            EventType::CommentCreated => "comment.created",
            EventType::CommentHeld => "comment.held",
            EventType::WebhookTest => "webhook.test",
        }
    }

    /// The type named `name`, if an endpoint may subscribe to it.
    pub fn parse(name: &str) -> Option<EventType> {
        Self::SUBSCRIBABLE.into_iter().find(|t| t.as_str() == name)
    }
}

/// One fact, as endpoints receive it: the body is `{type, timestamp, data}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Deterministic from the fact (`evt_` and 32 hex digits), so that producing the same
    /// fact twice (a retried request, a follow-up after a crash) makes the same deliveries.
    pub id: String,
    /// Its type.
    pub kind: EventType,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// What it is about (the video as its owner sees it, the comment, the subscription).
    pub data: serde_json::Value,
    /// Whose videos or channels it concerns: that user's endpoints receive it (instance
    /// endpoints receive every event).
    pub owner: Option<Uuid>,
}

impl Event {
    /// An event whose id derives from `fact` (a string naming the fact uniquely, such as
    /// `video.ready:<video>:<upload>`).
    pub fn new(
        kind: EventType,
        fact: &str,
        owner: Option<Uuid>,
        timestamp: DateTime<Utc>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            id: format!("evt_{}", short_hash(fact)),
            kind,
            timestamp,
            data,
            owner,
        }
    }

    /// The body every endpoint gets, serialised once so that each retry sends the same bytes.
    pub fn body(&self) -> String {
        serde_json::json!({
            "type": self.kind.as_str(),
            "timestamp": self.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": self.data,
        })
        .to_string()
    }

    /// The `webhook-id` (and outbox key) of this event's delivery to `endpoint`: stable
    /// across retries and crashes, different per endpoint.
    pub fn delivery_id(&self, endpoint: Uuid) -> String {
        format!(
            "msg_{}_{}",
            self.id.trim_start_matches("evt_"),
            endpoint.simple()
        )
    }
}

/// 32 hex digits of SHA-256.
fn short_hash(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an endpoint receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EndpointState {
    /// Receives events.
    Enabled,
    /// Receives nothing: by its owner (PATCH), after a 410, or after failing for days.
    Disabled,
}

/// Whose an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Events about its owner's videos and channels.
    User,
    /// Every event of the instance (admins only).
    Instance,
}

/// An endpoint as the API shows it (never its secrets).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointView {
    /// Its id.
    pub id: Uuid,
    /// Where events are POSTed.
    pub url: String,
    /// What its owner wrote about it.
    pub description: String,
    /// The event types it receives.
    pub events: Vec<EventType>,
    /// `user` or `instance`.
    pub scope: Scope,
    /// `enabled` or `disabled`.
    pub state: EndpointState,
    /// Why it was disabled, when it was not by its owner (`gone`: a 410; `failing`: days of
    /// failures).
    pub disabled_reason: Option<String>,
    /// The owner's username (the admin who made it, for an instance endpoint).
    pub owner: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Since when every attempt failed (none succeeded since), if so.
    pub failing_since: Option<DateTime<Utc>>,
    /// When the previous secret stops signing, during a rotation.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

/// What one attempt came to, in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// A 2xx.
    Sent,
    /// Failed; will be tried again.
    Retrying,
    /// Failed for good (a 410, a refused address, out of retries, endpoint disabled).
    Failed,
}

/// One attempt in an endpoint's delivery log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    /// The log's sequence number (newest highest); `cursor` pages below it.
    pub seq: u64,
    /// The delivery (the `webhook-id`); `POST .../deliveries/{id}/retry` sends it again.
    pub delivery_id: String,
    /// The event's type.
    pub event: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started.
    pub at: DateTime<Utc>,
    /// `sent`, `retrying` or `failed`.
    pub outcome: AttemptOutcome,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// How long it took.
    pub latency_ms: u64,
    /// The first 4 KiB of the answer.
    pub response: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}
