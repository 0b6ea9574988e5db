//! `/api/v1/webhooks`: endpoints that receive signed events (Standard Webhooks), their
//! secrets, delivery logs, retries and test events.
//!
//! A user's endpoints receive events about their own videos and channels; an admin's
//! instance-wide endpoints (`scope: "instance"`) receive every event. Only the owner (and, for
//! instance endpoints, admins) sees an endpoint: to anyone else it does not exist (404). The
//! secret is shown twice only: in the creation's answer and in a rotation's.

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use crate::outbound::webhook::new_secret;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use troupe_actors::accounts::Role;
use troupe_actors::channels::ChannelView;
use troupe_actors::comments::CommentView;
use troupe_actors::media::upload::UploadView;
use troupe_actors::media::video::VideoView;
use troupe_actors::webhooks::{
    DeliveryAttempt, EndpointPatch, EndpointState, EndpointView, Event, EventType, HookError,
    NewEndpoint, Owner, Scope, WebhookError,
};
use uuid::Uuid;

/// The longest URL.
pub const MAX_URL_CHARS: usize = 2_048;
/// The longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

impl From<HookError> for ApiError {
    fn from(e: HookError) -> Self {
        match e {
            HookError::Call(c) => c.into(),
            HookError::Webhook(WebhookError::NotFound) => not_found(),
            HookError::Webhook(WebhookError::Taken) => {
                ApiError::unavailable("conflict", "an id collision; retry", 1)
            }
            HookError::Webhook(WebhookError::Store(d)) => {
                ApiError::unavailable("unavailable", d, 2)
            }
            HookError::Limit(n) => ApiError::new(
                StatusCode::CONFLICT,
                "webhook_limit_reached",
                format!("at most {n} webhooks per owner; delete one first"),
            ),
            HookError::Outbox(o) => ApiError::unavailable("outbox_unavailable", o.to_string(), 2),
            HookError::Unexpected(k) => ApiError::unavailable(
                "unavailable",
                format!("unexpected answer from the {k} actor; retry"),
                1,
            ),
        }
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("webhook_not_found", "no such webhook")
}

fn invalid_url(why: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_webhook_url", why)
}

/// A new endpoint.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed: `https://` (plain `http://` only where the server allows
    /// it), resolving only to public addresses (see `[webhooks] allowed_networks`).
    #[schema(max_length = 2048)]
    pub url: String,
    /// Up to 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// At least one of `video.created`, `upload.completed`, `video.ready`, `video.failed`,
    /// `video.updated`, `video.deleted`, `channel.subscribed`, `comment.created`,
    /// `comment.held`.
    #[schema(value_type = Vec<EventName>, min_items = 1)]
    pub events: Vec<String>,
    /// `user` (the default): events on the caller's videos and channels; `instance`: every
    /// event (admins only).
    #[serde(default)]
    pub scope: Option<Scope>,
}

/// The events an endpoint can ask for (the document's list of what `events` admits).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub enum EventName {
    /// A video was created (before its upload).
    #[schema(rename = "video.created")]
    VideoCreated,
    /// A video's upload received its last byte.
    #[schema(rename = "upload.completed")]
    UploadCompleted,
    /// A video can be played.
    #[schema(rename = "video.ready")]
    VideoReady,
    /// A video's transcoding failed for good.
    #[schema(rename = "video.failed")]
    VideoFailed,
    /// A video's metadata changed.
    #[schema(rename = "video.updated")]
    VideoUpdated,
    /// A video was deleted.
    #[schema(rename = "video.deleted")]
    VideoDeleted,
    /// Someone subscribed to a channel.
    #[schema(rename = "channel.subscribed")]
    ChannelSubscribed,
    /// A comment was posted (or approved) and is visible.
    #[schema(rename = "comment.created")]
    CommentCreated,
    /// A comment was posted and held for review.
    #[schema(rename = "comment.held")]
    CommentHeld,
}

/// A change to an endpoint; absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// A new URL, vetted as at creation.
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// A new description.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// New events (at least one).
    #[schema(value_type = Option<Vec<EventName>>, min_items = 1)]
    pub events: Option<Vec<String>>,
    /// `enabled` (also re-enables one that was disabled after a 410 or days of failures) or
    /// `disabled`.
    pub state: Option<EndpointState>,
}

/// A new endpoint, with its secret (shown only here).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_…`: verify deliveries with it (any Standard Webhooks library). Shown only in
    /// this answer.
    pub secret: String,
}

/// The caller's endpoints.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    /// Oldest first: the caller's, then (for an admin) the instance's.
    pub webhooks: Vec<EndpointView>,
}

/// A rotated secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    /// The new secret (`whsec_…`), shown only here.
    pub secret: String,
    /// Until when the previous secret also signs: deliveries carry both signatures until
    /// then.
    pub previous_expires_at: Option<DateTime<Utc>>,
}

/// A page of the delivery log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    /// Attempts, newest first.
    pub deliveries: Vec<DeliveryAttempt>,
    /// The `cursor` of the next (older) page, if there may be one.
    pub next_cursor: Option<String>,
}

/// A delivery that was queued.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Queued {
    /// Its id (the `webhook-id` the receiver sees).
    pub delivery_id: String,
}

/// Paging of the delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

fn events(names: &[String]) -> Result<Vec<EventType>, ApiError> {
    let invalid = |d: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_events", d);
    if names.is_empty() {
        return Err(invalid("name at least one event".into()));
    }
    let mut out = Vec::new();
    for n in names {
        let t = EventType::parse(n).ok_or_else(|| {
            invalid(format!(
                "unknown event {n:?}; known: {}",
                EventType::SUBSCRIBABLE.map(EventType::as_str).join(", ")
            ))
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn description(d: Option<String>) -> Result<Option<String>, ApiError> {
    match d {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_description",
            format!("the description is at most {MAX_DESCRIPTION_CHARS} characters"),
        )),
        d => Ok(d.map(|d| d.trim().to_owned())),
    }
}

async fn vet_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(invalid_url(format!(
            "the URL is longer than {MAX_URL_CHARS} characters"
        )));
    }
    state
        .webhook_vetting
        .check_url(url.trim())
        .await
        .map(|u| u.to_string())
        .map_err(invalid_url)
}

/// The caller's role, confirmed with the account (the token's may be stale).
async fn caller_role(state: &AppState, user: &AuthUser) -> Result<Role, ApiError> {
    match state.accounts.get(&user.0.sub).await? {
        Some(u) if u.id == user.0.uid => Ok(u.role),
        _ => Err(ApiError::unauthorized(
            "invalid_token",
            "the account of this token does not exist",
        )),
    }
}

/// The endpoint `id` if the caller may manage it (its owner; an admin for an instance one),
/// else 404.
async fn owned(state: &AppState, user: &AuthUser, id: Uuid) -> Result<Owner, ApiError> {
    let owner = state.webhooks.owner(id).await?;
    let mine = match owner.scope {
        Scope::User => owner.user_id == user.0.uid,
        Scope::Instance => caller_role(state, user).await? == Role::Admin,
    };
    if mine {
        Ok(owner)
    } else {
        Err(not_found())
    }
}

fn path_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| not_found())
}

/// Registers an endpoint: 201 with its `secret`, shown only here.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), request_body = CreateWebhook, responses(
    (status = 201, description = "The endpoint and its secret", body = CreatedWebhook),
    (status = 403, description = "`forbidden`: `scope: instance` by a non-admin", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`webhook_limit_reached`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_webhook_url` (not https, an internal address, malformed; `detail` says which), `invalid_events`, `invalid_description` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/webhooks")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let events = events(&body.events)?;
    let description = description(body.description)?.unwrap_or_default();
    let scope = body.scope.unwrap_or(Scope::User);
    if scope == Scope::Instance && caller_role(&state, &user).await? != Role::Admin {
        return Err(ApiError::forbidden(
            "only admins may register instance-wide webhooks",
        ));
    }
    let url = vet_url(&state, &body.url).await?;
    let secret = new_secret();
    let view = state
        .webhooks
        .create(NewEndpoint {
            id: Uuid::new_v4(),
            owner: Owner {
                scope,
                user_id: user.0.uid,
                username: user.0.sub.clone(),
            },
            url,
            description,
            events,
            secret: secret.clone(),
        })
        .await?;
    tracing::info!(endpoint = %view.id, owner = %user.0.sub, url = %view.url, scope = ?scope, "webhook registered");
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(CreatedWebhook {
            endpoint: view,
            secret,
        }))
}

/// The caller's endpoints (and, for an admin, the instance-wide ones).
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), responses(
    (status = 200, description = "The endpoints", body = WebhookList),
))]
#[get("/api/v1/webhooks")]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let mut webhooks = state.webhooks.list(&user.0.uid.to_string()).await?;
    if caller_role(&state, &user).await? == Role::Admin {
        webhooks.extend(
            state
                .webhooks
                .list(troupe_actors::webhooks::INSTANCE)
                .await?,
        );
    }
    Ok(HttpResponse::Ok().json(WebhookList { webhooks }))
}

/// One endpoint.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path, description = "Endpoint id")), responses(
    (status = 200, description = "The endpoint", body = EndpointView),
    (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path)?;
    owned(&state, &user, id).await?;
    Ok(HttpResponse::Ok().json(state.webhooks.get(id).await?))
}

/// Changes an endpoint: URL (vetted again), description, events, or state.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path, description = "Endpoint id")), request_body = UpdateWebhook, responses(
    (status = 200, description = "The endpoint", body = EndpointView),
    (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_webhook_url`, `invalid_events`, `invalid_description` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[patch("/api/v1/webhooks/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<UpdateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path)?;
    let body = body.into_inner();
    owned(&state, &user, id).await?;
    let events = body.events.as_deref().map(events).transpose()?;
    let description = description(body.description)?;
    let url = match body.url {
        Some(u) => Some(vet_url(&state, &u).await?),
        None => None,
    };
    let view = state
        .webhooks
        .update(
            id,
            EndpointPatch {
                url,
                description,
                events,
                state: body.state,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Deletes an endpoint; deliveries still pending to it fail.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path, description = "Endpoint id")), responses(
    (status = 204, description = "Deleted"),
    (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path)?;
    owned(&state, &user, id).await?;
    state.webhooks.delete(id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Makes a new secret. Until `previous_expires_at` (`[webhooks] rotation_overlap_secs`, a day
/// by default) deliveries are signed with both, so receivers can switch without losing one.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path, description = "Endpoint id")), responses(
    (status = 200, description = "The new secret", body = RotatedSecret),
    (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/webhooks/{id}/rotate-secret")]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path)?;
    owned(&state, &user, id).await?;
    let secret = new_secret();
    let view = state.webhooks.rotate(id, secret.clone()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(RotatedSecret {
            secret,
            previous_expires_at: view.previous_secret_expires_at,
        }))
}

/// The delivery log: every attempt (time, event, outcome, status, latency, the first 4 KiB of
/// the answer), newest first; the newest 256 are kept.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path, description = "Endpoint id"), LogQuery), responses(
    (status = 200, description = "A page of attempts", body = DeliveryPage),
    (status = 400, description = "`invalid_cursor`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_limit`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/webhooks/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path)?;
    let q = query.into_inner();
    let limit = super::error::page_limit(q.limit)?;
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<u64>().map_err(|_| {
            ApiError::bad_request(
                "invalid_cursor",
                "the cursor is not one this server gave out; start again without it",
            )
        })?),
    };
    owned(&state, &user, id).await?;
    let deliveries = state.webhooks.log(id, before, limit).await?;
    let next_cursor = (deliveries.len() == limit)
        .then(|| deliveries.last().map(|d| d.seq.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(DeliveryPage {
        deliveries,
        next_cursor,
    }))
}

/// Sends a delivery again at once (one that failed for good, was sent, or still waits for
/// its next retry), with the same `webhook-id` and body, signed afresh.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path, description = "Endpoint id"), ("delivery_id" = String, Path, description = "The delivery (its webhook-id)")), responses(
    (status = 202, description = "Queued", body = Queued),
    (status = 404, description = "`webhook_not_found` or `delivery_not_found` (never made, or no longer kept)", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry")]
pub async fn retry(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let id = path_id(&id)?;
    owned(&state, &user, id).await?;
    let gone = || ApiError::not_found("delivery_not_found", "no such delivery to this webhook");
    if !delivery.ends_with(&format!("_{}", id.simple())) {
        return Err(gone());
    }
    if !state.webhooks.retry(&delivery).await? {
        return Err(gone());
    }
    Ok(HttpResponse::Accepted().json(Queued {
        delivery_id: delivery,
    }))
}

/// Sends a `webhook.test` event to the endpoint (whatever its events, even disabled).
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path, description = "Endpoint id")), responses(
    (status = 202, description = "Queued", body = Queued),
    (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/webhooks/{id}/test")]
pub async fn test(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path)?;
    let owner = owned(&state, &user, id).await?;
    let delivery_id = state.webhooks.test(id, Some(owner.user_id)).await?;
    Ok(HttpResponse::Accepted().json(Queued { delivery_id }))
}

// What produces events: each is called once the fact is durable, and returns once the
// deliveries are durable (one enqueue per matching endpoint). A failure to enqueue is tried
// again in the background (`Webhooks::emit_logged`), never turned into an error for a
// request whose change is already made.

/// `video.created`, `video.updated` or `video.deleted` for `video` (its owner's view).
pub async fn video_event(state: &AppState, kind: EventType, video: &VideoView) {
    let fact = match kind {
        EventType::VideoUpdated => format!("{}:{}:{}", kind.as_str(), video.id, video.version),
        _ => format!("{}:{}", kind.as_str(), video.id),
    };
    let data = serde_json::to_value(video).unwrap_or_default();
    let at = match kind {
        EventType::VideoCreated => video.created_at,
        EventType::VideoUpdated => video.updated_at,
        _ => Utc::now(),
    };
    let event = Event::new(kind, &fact, Some(video.owner_id), at, data);
    state.webhooks.emit_logged(&event).await;
}

/// `upload.completed`: an upload received its last byte.
pub async fn upload_completed(state: &AppState, upload: &UploadView) {
    let data = serde_json::json!({
        "upload_id": upload.id,
        "video_id": upload.video,
        "length": upload.length,
    });
    let fact = format!("upload.completed:{}", upload.id);
    let event = Event::new(
        EventType::UploadCompleted,
        &fact,
        Some(upload.owner_id),
        Utc::now(),
        data,
    );
    state.webhooks.emit_logged(&event).await;
}

/// `channel.subscribed`: `subscriber` subscribed to `channel` (a new subscription only).
pub async fn channel_subscribed(state: &AppState, channel: &ChannelView, subscriber: &AuthUser) {
    let now = Utc::now();
    let data = serde_json::json!({
        "channel_id": channel.id,
        "channel": channel.handle,
        "subscriber": subscriber.0.sub,
        "subscribers": channel.subscribers,
        "subscribed_at": now,
    });
    // A later subscription after an unsubscribe is a new fact: the count tells them apart.
    let fact = format!(
        "channel.subscribed:{}:{}:{}",
        channel.id, subscriber.0.uid, channel.subscribers
    );
    let event = Event::new(
        EventType::ChannelSubscribed,
        &fact,
        Some(channel.owner_id),
        now,
        data,
    );
    state.webhooks.emit_logged(&event).await;
}

/// `comment.held` for a comment held for review, `comment.created` for one that is visible
/// (posted, or approved).
pub async fn comment_event(state: &AppState, video: &VideoView, comment: &CommentView) {
    let kind = if comment.held {
        EventType::CommentHeld
    } else {
        EventType::CommentCreated
    };
    let data = serde_json::json!({
        "video_id": video.id,
        "video_title": video.title,
        "comment": comment,
    });
    let fact = format!("{}:{}", kind.as_str(), comment.id);
    let event = Event::new(kind, &fact, Some(video.owner_id), comment.created_at, data);
    state.webhooks.emit_logged(&event).await;
}
