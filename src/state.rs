//! [`AppState`]: what every request handler can reach. Built by [`crate::startup`], read by
//! the handlers in [`crate::http`]; it depends only on the parts it holds, none of which
//! depends on it.

use crate::config::Config;
use crate::http::hls::BlobCache;
use crate::http::ratelimit::RateLimits;
use crate::http::tokens::Tokens;
use crate::probes::MediaTools;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use troupe_actors::accounts::Accounts;
use troupe_actors::channels::Channels;
use troupe_actors::comments::Comments;
use troupe_actors::inbox::Notifier;
use troupe_actors::media::Media;
use troupe_actors::moderation::Moderation;
use troupe_actors::playback::Playback;
use troupe_cluster::Cluster;
use troupe_runtime::blob::BlobStore;
use troupe_runtime::store::StateStore;
use troupe_runtime::System;

/// What every request handler can reach.
pub struct AppState {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// This node's actor system: every kind's directory, and the router in a cluster.
    pub system: System,
    /// Accounts.
    pub accounts: Accounts,
    /// Channels and subscriptions.
    pub channels: Channels,
    /// Comments, their rules (bans, watched words, mutes) and live announcements.
    pub comments: Comments,
    /// Token signing and verification.
    pub tokens: Tokens,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Limits on account mails (reset requests, verification resends).
    pub account_limits: crate::http::lifecycle::AccountLimits,
    /// The per-user comment rate limit and the comment rules' settings.
    pub comment_limits: crate::http::comments::CommentLimits,
    /// Durable actor state.
    pub store: Arc<dyn StateStore>,
    /// Blobs.
    pub blobs: BlobStore,
    /// ffmpeg availability.
    pub tools: MediaTools,
    /// Videos, uploads and transcoding.
    pub media: Media,
    /// Playback sessions and counters.
    pub playback: Playback,
    /// Notifications: inboxes, live events, fan-outs.
    pub notify: Notifier,
    /// Moderation: suspended accounts, the audit log, the held-comment queue.
    pub moderation: Moderation,
    /// The outbox: durable deliveries of email and webhook calls, retried in the background.
    pub outbox: troupe_actors::outbox::Outbox,
    /// Email: templates rendered and enqueued in the outbox.
    pub mailer: crate::outbound::Mailer,
    /// Webhooks: endpoints, events, delivery logs.
    pub webhooks: troupe_actors::webhooks::Webhooks,
    /// The webhooks' SSRF rules, for vetting URLs at registration.
    pub webhook_vetting: Arc<crate::outbound::webhook::Vetting>,
    /// The users' daily digests of notification email.
    pub digests: troupe_actors::inbox::digest::Digests,
    /// The catalogue index: listing, search, trending.
    pub catalogue: troupe_catalogue::Catalogue,
    /// Listed videos kept as JSON with the views they were encoded from.
    pub bodies: crate::http::catalogue::Bodies,
    /// Hot HLS segments and playlists.
    pub hls_cache: BlobCache,
    /// The Prometheus recorder.
    pub metrics: PrometheusHandle,
    /// The OpenAPI document, rendered once.
    pub openapi_json: bytes::Bytes,
    /// Cluster membership, in cluster mode.
    pub cluster: Option<Cluster>,
}
