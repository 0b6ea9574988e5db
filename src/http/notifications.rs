//! `/api/v1/users/me/notifications…` and `/api/v1/users/me/notification-settings`: the
//! signed-in user's inbox, its live stream and its settings.

use super::error::{ApiError, Problem};
use super::guard::MaybeUser;
use super::tokens::AuthUser;
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, put, web, HttpResponse};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use troupe_actors::inbox::{
    EmailMode, FanoutView, InboxEvent, ListQuery, Notification, NotificationKind,
    NotificationSettings, NotifyError, SettingChange,
};

impl From<NotifyError> for ApiError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::Call(c) => c.into(),
            NotifyError::Unexpected(what) => ApiError::unavailable(
                "unavailable",
                format!("unexpected answer from the {what} actor (nodes of different versions?)"),
                2,
            ),
        }
    }
}

fn unknown_type(t: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_notification_type",
        format!(
            "{t:?} is not a notification type; the types are {}",
            NotificationKind::ALL.map(|k| k.as_str()).join(", ")
        ),
    )
}

/// Filters and paging of the notification list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NotificationParams {
    /// Only unread notifications.
    pub unread: Option<bool>,
    /// Only this type (`new_video_from_subscription`, `my_video_ready`, `my_video_failed`,
    /// `new_subscriber`).
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<NotificationKind>)]
    pub kind: Option<String>,
    /// Page size, 1-100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page: the page after it, unmoved by new arrivals.
    pub cursor: Option<String>,
}

/// A page of notifications.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationPage {
    /// Newest first.
    pub items: Vec<Notification>,
    /// The cursor of the next page, if more follow.
    pub next_cursor: Option<String>,
    /// Unread notifications in the whole inbox.
    pub unread: u64,
}

/// The unread count.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnreadCount {
    /// Unread notifications.
    pub unread: u64,
}

/// The signed-in user's notifications, newest first. The cursor is a position in the inbox:
/// notifications that arrive while paging do not shift the pages.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), params(NotificationParams), responses(
    (status = 200, description = "A page", body = NotificationPage),
    (status = 400, description = "`invalid_cursor`, or `invalid_query` (limit out of range)", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`unknown_notification_type`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/users/me/notifications")]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<NotificationParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = super::error::page_limit(q.limit)?;
    let kind = match q.kind.as_deref() {
        Some(t) => Some(NotificationKind::parse(t).ok_or_else(|| unknown_type(t))?),
        None => None,
    };
    let before = match q.cursor.as_deref() {
        Some(c) => Some(c.parse::<u64>().map_err(|_| {
            ApiError::bad_request(
                "invalid_cursor",
                "the cursor is not one this server gave out; start again without it",
            )
        })?),
        None => None,
    };
    let page = state
        .notify
        .list(
            user.0.uid,
            ListQuery {
                unread_only: q.unread.unwrap_or(false),
                kind,
                before,
                limit,
            },
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(NotificationPage {
            items: page.items,
            next_cursor: page.next.map(|n| n.to_string()),
            unread: page.unread,
        }))
}

/// How many of the signed-in user's notifications are unread.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), responses(
    (status = 200, description = "The count", body = UnreadCount),
))]
#[get("/api/v1/users/me/notifications/unread-count")]
pub async fn unread_count(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let unread = state.notify.unread(user.0.uid).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(UnreadCount { unread }))
}

/// Which notifications to mark read: `{"ids": [...]}` or `{"all": true}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum MarkRead {
    /// These notifications. Ids that are not the caller's are ignored.
    Ids {
        /// Notification ids (at most 1,000).
        #[schema(max_items = 1000)]
        ids: Vec<String>,
    },
    /// Every notification (`true`); `false` marks nothing.
    All {
        /// Whether to mark every notification read.
        all: bool,
    },
}

/// Marks notifications read. Ids the caller's inbox does not hold are ignored, so the answer
/// never tells whether an id exists elsewhere.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), request_body = MarkRead, responses(
    (status = 200, description = "The unread count after it", body = UnreadCount),
    (status = 422, description = "`invalid_mark_read`: more than 1,000 ids", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/users/me/notifications/read")]
pub async fn mark_read(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<MarkRead>,
) -> Result<HttpResponse, ApiError> {
    let ids = match body.into_inner() {
        MarkRead::Ids { ids } if ids.len() > 1_000 => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_mark_read",
                "at most 1,000 ids at once",
            ))
        }
        MarkRead::Ids { ids } => Some(ids),
        MarkRead::All { all: true } => None,
        MarkRead::All { all: false } => Some(Vec::new()),
    };
    let unread = state.notify.mark_read(user.0.uid, ids).await?;
    Ok(HttpResponse::Ok().json(UnreadCount { unread }))
}

/// A change to one type's setting: either field, or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeSettingChange {
    /// Keep and push this type in the web inbox.
    pub web: Option<bool>,
    /// Email delivery: `off`, `instant` or `digest`.
    pub email: Option<EmailMode>,
}

/// A settings change: the types to change; the others stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    /// `new_video_from_subscription`.
    pub new_video_from_subscription: Option<TypeSettingChange>,
    /// `my_video_ready`.
    pub my_video_ready: Option<TypeSettingChange>,
    /// `my_video_failed`.
    pub my_video_failed: Option<TypeSettingChange>,
    /// `new_subscriber`.
    pub new_subscriber: Option<TypeSettingChange>,
    /// `comment_on_my_video`.
    pub comment_on_my_video: Option<TypeSettingChange>,
    /// `reply_to_my_comment`.
    pub reply_to_my_comment: Option<TypeSettingChange>,
    /// `mention`.
    pub mention: Option<TypeSettingChange>,
    /// `comment_held_for_review`.
    pub comment_held_for_review: Option<TypeSettingChange>,
}

/// The signed-in user's notification settings, per type: `web` (kept and pushed in the
/// inbox, or not at all) and `email` (`off`, `instant` or `digest`; stored, not sent yet).
#[utoipa::path(tag = "notifications", security(("bearer" = [])), responses(
    (status = 200, description = "The settings", body = NotificationSettings),
))]
#[get("/api/v1/users/me/notification-settings")]
pub async fn get_settings(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let settings = state.notify.settings(user.0.uid).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(settings))
}

/// Changes settings: send the types to change, each with `web`, `email` or both; the others
/// stay as they are. Answers the whole settings after the change.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), request_body = SettingsChange, responses(
    (status = 200, description = "The settings after the change", body = NotificationSettings),
    (status = 422, description = "`unknown_notification_type`, or `invalid_notification_setting` (a value that is not a boolean `web` or an `email` of `off`, `instant`, `digest`)", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/users/me/notification-settings")]
pub async fn put_settings(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let changes = parse_settings(&body)?;
    if changes.iter().any(|c| c.email.is_some()) {
        // Email finds the address by the username the user's digest record keeps.
        state.digests.set_profile(user.0.uid, &user.0.sub).await?;
    }
    let settings = state.notify.set_settings(user.0.uid, changes).await?;
    Ok(HttpResponse::Ok().json(settings))
}

/// Parses a settings change at the edge, with a clear answer for each mistake.
fn parse_settings(body: &Value) -> Result<Vec<SettingChange>, ApiError> {
    let invalid = |d: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_notification_setting",
            d,
        )
    };
    let Some(map) = body.as_object() else {
        return Err(invalid(
            "the body must be an object of types, e.g. {\"new_subscriber\": {\"web\": false}}"
                .into(),
        ));
    };
    let mut changes = Vec::with_capacity(map.len());
    for (t, v) in map {
        let kind = NotificationKind::parse(t).ok_or_else(|| unknown_type(t))?;
        if v.is_null() {
            continue;
        }
        let Some(fields) = v.as_object() else {
            return Err(invalid(format!(
                "{t} must be an object with \"web\" and/or \"email\""
            )));
        };
        let mut change = SettingChange {
            kind,
            web: None,
            email: None,
        };
        for (f, value) in fields {
            if value.is_null() {
                continue;
            }
            match f.as_str() {
                "web" => {
                    change.web = Some(
                        value
                            .as_bool()
                            .ok_or_else(|| invalid(format!("{t}.web must be true or false")))?,
                    )
                }
                "email" => {
                    change.email =
                        Some(value.as_str().and_then(EmailMode::parse).ok_or_else(|| {
                            invalid(format!(
                                "{t}.email must be \"off\", \"instant\" or \"digest\""
                            ))
                        })?)
                }
                other => {
                    return Err(invalid(format!(
                        "{t}.{other} is not a setting; the settings are web and email"
                    )))
                }
            }
        }
        changes.push(change);
    }
    Ok(changes)
}

fn sse(event: &str, data: &impl Serialize) -> Bytes {
    super::videos::sse(event, None, data)
}

/// A live stream (server-sent events) of the signed-in user's inbox: first an `unread`
/// event with the count, then a `notification` event for each new notification (the
/// notification itself) followed by an `unread` event, and an `unread` event whenever
/// notifications are marked read. Works on any node, wherever the inbox lives (within
/// `notifications.events_poll_ms` when it lives on another). Browsers' `EventSource` cannot
/// send headers, so the access token may also come as `?access_token=`.
#[utoipa::path(tag = "notifications", params(("access_token" = Option<String>, Query, description = "Access token, for clients that cannot send headers")), security(("bearer" = [])), responses(
    (status = 200, description = "An event stream", content_type = "text/event-stream"),
))]
#[get("/api/v1/users/me/notifications/events")]
pub async fn events(state: web::Data<AppState>, user: MaybeUser) -> Result<HttpResponse, ApiError> {
    let Some(claims) = user.0 else {
        return Err(ApiError::unauthorized(
            "missing_token",
            "this endpoint needs 'Authorization: Bearer <access token>' or ?access_token=",
        ));
    };
    let live = state.notify.live(claims.uid).await?;
    let rx = state.notify.hub().subscribe(claims.uid, &live);
    let first = sse(
        "unread",
        &UnreadCount {
            unread: live.unread,
        },
    );
    metrics::gauge!("troupe_notification_streams").increment(1.0);
    // As for video events: the keep-alive is also how a closed client is noticed.
    let every = Duration::from_millis(state.config.media.events_keepalive_ms.max(100));
    let keepalive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    struct Sub {
        rx: tokio::sync::broadcast::Receiver<InboxEvent>,
        keepalive: tokio::time::Interval,
    }
    impl Drop for Sub {
        fn drop(&mut self) {
            metrics::gauge!("troupe_notification_streams").decrement(1.0);
        }
    }
    let rest = futures::stream::unfold(Sub { rx, keepalive }, move |mut sub| async move {
        loop {
            tokio::select! {
                ev = sub.rx.recv() => match ev {
                    Ok(InboxEvent::Notification(n)) => {
                        return Some((Ok::<_, actix_web::Error>(sse("notification", &n)), sub));
                    }
                    Ok(InboxEvent::Unread(unread)) => {
                        return Some((Ok(sse("unread", &UnreadCount { unread })), sub));
                    }
                    // Too slow to keep up: the next count is whole anyway, and the list
                    // holds what was skipped.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                },
                _ = sub.keepalive.tick() => {
                    return Some((Ok(super::videos::KEEPALIVE), sub));
                }
            }
        }
    });
    Ok(super::videos::event_stream(first, rest))
}

/// The fan-outs of a channel's videos.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FanoutList {
    /// The newest 100, newest first.
    pub items: Vec<FanoutView>,
}

/// How far the notification of each of a channel's new videos has reached its subscribers:
/// shards of the subscriber list delivered, notifications stored, subscribers who turned
/// the type off. For the channel's owner (and admins).
#[utoipa::path(tag = "notifications", security(("bearer" = [])), params(("handle" = String, Path, description = "Channel handle")), responses(
    (status = 200, description = "The fan-outs", body = FanoutList),
    (status = 403, description = "`forbidden`: not the channel's owner", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/channels/{handle}/fanouts")]
pub async fn fanouts(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let channel = super::channels::editable(&state, &user, &path).await?;
    let items = state.notify.fanouts_of(channel.id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(FanoutList { items }))
}
