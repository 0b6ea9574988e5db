//! `/api/v1/channels` and the signed-in user's channels and subscriptions
//! (`/api/v1/users/me/channels`, `/api/v1/users/me/subscriptions`).
//!
//! A channel is public: anyone may read it by handle. Only its owner (or an admin) may change
//! or delete it; anyone else gets 403. Handles and usernames share one namespace.

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{delete, get, patch, post, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use troupe_actors::channels::{ChannelInput, ChannelView, Owner, SubscriptionCursor};
use troupe_catalogue::{Scope, Search, Sort};

/// A new channel.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    /// 3 to 32 of `a-z`, `0-9`, `_` and `.`; unique among channels and usernames; never
    /// changes.
    #[schema(pattern = "^[a-z0-9_.]{3,32}$")]
    pub handle: String,
    /// 1 to 100 characters (default: the handle).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: Option<String>,
    /// Up to 5,000 characters.
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: Option<String>,
}

/// A change to a channel; absent fields stay as they are. The handle never changes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannel {
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: Option<String>,
    /// Up to 5,000 characters.
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    /// The comment policy of the channel's videos that have none of their own.
    pub default_comment_policy: Option<troupe_actors::comments::CommentPolicy>,
    /// Whether comments by new accounts (younger than `comments.new_account_age_secs`) are
    /// held for review on the channel's videos.
    pub hold_new_accounts: Option<bool>,
}

/// A channel, by handle (public).
#[utoipa::path(tag = "channels", params(("handle" = String, Path, description = "Channel handle (any case)")), responses(
    (status = 200, description = "The channel, with its exact subscriber and video counts", body = ChannelView),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/channels/{handle}")]
pub async fn get_channel(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let channel = state.channels.require(&path).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(channel))
}

/// Creates a channel owned by the caller (at most `channels.max_per_user`, the default
/// channel included).
#[utoipa::path(tag = "channels", security(("bearer" = [])), request_body = CreateChannel, responses(
    (status = 201, description = "Created", body = ChannelView),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`handle_taken` (by a channel or a username) or `channel_limit_reached`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_handle`, `invalid_channel` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/channels")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreateChannel>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    // The default channel holds the list of the owner's others: make sure it exists.
    state
        .channels
        .default_for(user.0.uid, &user.0.sub)
        .await
        .map_err(|e| match e {
            troupe_actors::channels::ChannelError::NotFound => {
                ApiError::unauthorized("invalid_token", "the account of this token does not exist")
            }
            e => e.into(),
        })?;
    let owner = Owner {
        id: user.0.uid,
        key: user.0.sub.clone(),
    };
    let input = ChannelInput {
        display_name: b.display_name,
        description: b.description,
        ..ChannelInput::default()
    };
    let channel = state.channels.create(&owner, &b.handle, input).await?;
    tracing::info!(channel = %channel.id, handle = %channel.handle, owner = %owner.key, "channel created");
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/channels/{}", channel.handle),
        ))
        .json(channel))
}

/// The channel `handle` if the caller may change it (owner or admin).
pub(crate) async fn editable(
    state: &AppState,
    user: &AuthUser,
    handle: &str,
) -> Result<ChannelView, ApiError> {
    let viewer = super::videos::viewer(state, Some(&user.0)).await?;
    let admin = viewer.is_some_and(|v| v.admin);
    Ok(state.channels.editable(handle, user.0.uid, admin).await?)
}

/// Changes a channel's display name or description (owner or admin).
#[utoipa::path(tag = "channels", security(("bearer" = [])), params(("handle" = String, Path, description = "Channel handle")), request_body = UpdateChannel, responses(
    (status = 200, description = "The changed channel", body = ChannelView),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: someone else's channel", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_channel` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[patch("/api/v1/channels/{handle}")]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<UpdateChannel>,
) -> Result<HttpResponse, ApiError> {
    let channel = editable(&state, &user, &path).await?;
    let b = body.into_inner();
    let input = ChannelInput {
        display_name: b.display_name,
        description: b.description,
        default_comment_policy: b.default_comment_policy,
        hold_new_accounts: b.hold_new_accounts,
    };
    let channel = state.channels.update(channel.id, input).await?;
    Ok(HttpResponse::Ok().json(channel))
}

/// Deletes a channel (owner or admin). A channel that still has videos, and a user's default
/// channel, cannot be deleted. Its handle becomes free.
#[utoipa::path(tag = "channels", security(("bearer" = [])), params(("handle" = String, Path, description = "Channel handle")), responses(
    (status = 204, description = "Deleted"),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: someone else's channel", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`channel_has_videos` or `default_channel`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/channels/{handle}")]
pub async fn delete_channel(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let channel = editable(&state, &user, &path).await?;
    state.channels.delete(&channel).await?;
    tracing::info!(channel = %channel.id, handle = %channel.handle, by = %user.0.sub, "channel deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's channels: the default channel first, then the others, oldest first.
#[utoipa::path(tag = "channels", security(("bearer" = [])), responses(
    (status = 200, description = "The caller's channels", body = Vec<ChannelView>),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/users/me/channels")]
pub async fn my_channels(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    // Made now if the account predates channels or its registration was cut short.
    let _ = state.channels.default_for(user.0.uid, &user.0.sub).await;
    let channels = state.channels.of_user(user.0.uid).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(channels))
}

/// A subscription change: the channel after it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionChange {
    /// Whether the caller is subscribed now.
    pub subscribed: bool,
    /// Whether this request changed it (`false` for a repeat).
    pub changed: bool,
    /// The channel, with its subscriber count after the change.
    pub channel: ChannelView,
}

/// Subscribes the caller to a channel. Idempotent; subscribing to your own channel is
/// allowed.
#[utoipa::path(tag = "channels", security(("bearer" = [])), params(("handle" = String, Path, description = "Channel handle")), responses(
    (status = 200, description = "Subscribed", body = SubscriptionChange),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`subscription_limit_reached`", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/users/me/subscriptions/{handle}")]
pub async fn subscribe(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (new, channel) = state.channels.subscribe(user.0.uid, &path).await?;
    // Also when not new: the notice has a deterministic id, so a retried subscribe repairs
    // one that a crash lost, and a repeated one changes nothing.
    on_new_subscriber(&state, &channel, &user, new);
    if new {
        super::webhooks::channel_subscribed(&state, &channel, &user).await;
    }
    Ok(HttpResponse::Ok().json(SubscriptionChange {
        subscribed: true,
        changed: new,
        channel,
    }))
}

/// Called once a subscription is durable: the channel's owner hears of it
/// (`new_subscriber`, id `new_subscriber:<channel>:<user>`, stored once), in a task, so the
/// subscriber's answer does not wait for the owner's inbox.
fn on_new_subscriber(state: &AppState, channel: &ChannelView, user: &AuthUser, new: bool) {
    use troupe_actors::inbox::{Notification, NotificationKind, NotifiedChannel, NotifiedUser};
    tracing::debug!(channel = %channel.id, subscriber = %user.0.uid, new, "subscriber");
    let n = Notification {
        id: format!("new_subscriber:{}:{}", channel.id, user.0.uid),
        kind: NotificationKind::NewSubscriber,
        created_at: chrono::Utc::now(),
        read: false,
        video: None,
        channel: Some(NotifiedChannel {
            handle: channel.handle.clone(),
            display_name: channel.display_name.clone(),
        }),
        actor: Some(NotifiedUser {
            username: user.0.sub.clone(),
        }),
        reason: None,
        report: None,
        comment: None,
    };
    let (notify, owner) = (state.notify.clone(), channel.owner_id);
    tokio::spawn(async move {
        if let Err(e) = notify.deliver(owner, n).await {
            tracing::warn!(%owner, error = %e, "could not notify a channel owner of a subscriber");
        }
    });
}

/// Unsubscribes the caller from a channel. Idempotent.
#[utoipa::path(tag = "channels", security(("bearer" = [])), params(("handle" = String, Path, description = "Channel handle")), responses(
    (status = 200, description = "Not subscribed (any more)", body = SubscriptionChange),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/users/me/subscriptions/{handle}")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (was, channel) = state.channels.unsubscribe(user.0.uid, &path).await?;
    Ok(HttpResponse::Ok().json(SubscriptionChange {
        subscribed: false,
        changed: was,
        channel,
    }))
}

/// Paging of the caller's subscriptions.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// One subscription.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    /// The channel.
    pub channel: ChannelView,
    /// When the caller subscribed.
    pub subscribed_at: DateTime<Utc>,
}

/// A page of subscriptions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionPage {
    /// Newest subscription first.
    pub items: Vec<Subscription>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The channels the caller subscribes to, newest subscription first, with a stable cursor.
#[utoipa::path(tag = "channels", security(("bearer" = [])), params(SubscriptionParams), responses(
    (status = 200, description = "A page of subscriptions", body = SubscriptionPage),
    (status = 400, description = "`invalid_query` (a limit out of range, an unknown parameter)", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_cursor`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/users/me/subscriptions")]
pub async fn subscriptions(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<SubscriptionParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = super::error::page_limit(q.limit)?;
    let after = match q.cursor.as_deref() {
        None => None,
        Some(raw) => Some(SubscriptionCursor::parse(raw).ok_or_else(|| {
            ApiError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_cursor",
                "not a cursor this server made",
            )
        })?),
    };
    let page = state
        .channels
        .subscriptions(user.0.uid, limit, after)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(SubscriptionPage {
            items: page
                .items
                .into_iter()
                .map(|(channel, subscribed_at)| Subscription {
                    channel,
                    subscribed_at,
                })
                .collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }))
}

/// Which handles to check.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExistParams {
    /// Up to 100 channel handles, comma-separated.
    #[param(min_length = 1)]
    pub handles: String,
}

/// Most handles one `exist` request may name.
const MAX_EXIST: usize = 100;

/// Whether the caller subscribes to each of the named channels, for subscribe buttons in
/// bulk: an object from each handle as given to `true` or `false` (an unknown handle is
/// `false`).
#[utoipa::path(tag = "channels", security(("bearer" = [])), params(ExistParams), responses(
    (status = 200, description = "Handle → subscribed", body = BTreeMap<String, bool>),
    (status = 400, description = "`invalid_query` (no handles, more than 100, an unknown parameter)", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/users/me/subscriptions/exist")]
pub async fn exist(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<ExistParams>,
) -> Result<HttpResponse, ApiError> {
    let handles: Vec<String> = query
        .handles
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .collect();
    if handles.is_empty() || handles.len() > MAX_EXIST {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("handles must name 1 to {MAX_EXIST} channels"),
        ));
    }
    let found = state.channels.subscribed_to(user.0.uid, &handles).await?;
    let body: BTreeMap<String, bool> = found.into_iter().collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// Paging of a channel's videos.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ChannelVideosParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page (never expires).
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// The newest-first listing of `channels` that anyone may list, from the catalogue index,
/// re-checked with the video actors.
async fn channel_page(
    state: &AppState,
    channels: Vec<uuid::Uuid>,
    label: String,
    exclude: Vec<uuid::Uuid>,
    limit: Option<usize>,
    cursor: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let search = Search {
        channels: Some(channels),
        exclude,
        label: Some(label),
        sort: Sort::Newest,
        limit: super::catalogue::limit(limit)?,
        cursor: super::catalogue::cursor(cursor)?,
        ..Default::default()
    };
    let (items, next_cursor) = super::catalogue::run_shared(state, Scope::Public, &search).await?;
    Ok(super::catalogue::page_response(
        state,
        None,
        &items,
        next_cursor.as_deref(),
    ))
}

/// A channel's public, ready videos, newest first, from the catalogue index, with a cursor
/// that stays stable while videos are added (the same shape as `GET /api/v1/videos`).
#[utoipa::path(tag = "channels", params(("handle" = String, Path, description = "Channel handle"), ChannelVideosParams), responses(
    (status = 200, description = "A page of videos", body = super::videos::VideoPage),
    (status = 400, description = "`invalid_query` (a limit out of range, an unknown parameter)", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_cursor` or `cursor_mismatch` (another listing's cursor)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`catalogue_rebuilding` or `catalogue_not_ready`; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/channels/{handle}/videos")]
pub async fn channel_videos(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ChannelVideosParams>,
) -> Result<HttpResponse, ApiError> {
    let channel = state.channels.require(&path).await?;
    let q = query.into_inner();
    channel_page(
        &state,
        vec![channel.id],
        format!("channel:{}", channel.id),
        Vec::new(),
        q.limit,
        q.cursor.as_deref(),
    )
    .await
}

/// Paging of the subscription feed.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page (never expires).
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Leave out the videos in the caller's watch history.
    pub exclude_watched: Option<bool>,
}

/// The subscription feed: public, ready videos of every channel the caller subscribes to,
/// newest first, with a stable cursor; one query over the catalogue index. With
/// `exclude_watched=true`, without the videos in the caller's watch history.
#[utoipa::path(tag = "channels", security(("bearer" = [])), params(FeedParams), responses(
    (status = 200, description = "A page of videos", body = super::videos::VideoPage),
    (status = 400, description = "`invalid_query` (a limit out of range, an unknown parameter)", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_cursor` or `cursor_mismatch` (another listing's cursor)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`catalogue_rebuilding` or `catalogue_not_ready`; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/users/me/subscriptions/videos")]
pub async fn feed(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<FeedParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let channels: Vec<uuid::Uuid> = state
        .channels
        .following(user.0.uid)
        .await?
        .into_iter()
        .map(|f| f.channel)
        .collect();
    let exclude_watched = q.exclude_watched.unwrap_or(false);
    let exclude = if exclude_watched {
        watched(&state, &user.0.sub).await?
    } else {
        Vec::new()
    };
    let label = format!("feed:{}", if exclude_watched { "unwatched" } else { "all" });
    channel_page(
        &state,
        channels,
        label,
        exclude,
        q.limit,
        q.cursor.as_deref(),
    )
    .await
}

/// The videos in `user_key`'s watch history (bounded by `playback.history_limit`).
pub(crate) async fn watched(state: &AppState, user_key: &str) -> Result<Vec<uuid::Uuid>, ApiError> {
    let page = state.playback.history(user_key, 100_000, None).await?;
    Ok(page.items.into_iter().map(|e| e.video).collect())
}
