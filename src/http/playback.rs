//! Playback sessions, heartbeats, watch history, ratings and trending.
//!
//! A viewer plays a video by starting a session (one stream on one device): the answer
//! carries the playback token and the master playlist URL, and the plan's concurrent-stream
//! limit is enforced by the viewer's session actor, wherever the request lands. Heartbeats
//! save the position, keep the stream alive and count views on the server. Ratings go to the
//! video's counter, which writes the viewer's tally and answers the new counts.

use super::error::{ApiError, Problem};
use super::guard::{client_ip, MaybeUser};
use super::tokens::AuthUser;
use super::videos::{viewer, visible, VideoBody};
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, post, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use troupe_actors::accounts::Plan;
use troupe_actors::media::video::VideoStatus;
use troupe_actors::playback::session::{
    anonymous_key, SessionError, StartStream, Stream, WatchEntry,
};
use troupe_actors::playback::{Counts, PlaybackError, Rating, Window};
use uuid::Uuid;

/// Positions beyond this many seconds (about four months) are absurd whatever the video.
const MAX_POSITION: f64 = 1.0e7;

/// A stream to start.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSession {
    /// The video to play.
    #[schema(format = Uuid)]
    pub video_id: String,
    /// The device, as the player names it: 1 to 128 of `A-Z a-z 0-9 . _ : -`. A new session
    /// on the same device replaces its previous one.
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    pub device_id: String,
}

/// A started stream.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionGrant {
    /// The session id, for heartbeats and to end it.
    pub session_id: Uuid,
    /// The video.
    pub video_id: Uuid,
    /// The device.
    pub device_id: String,
    /// The playback token (opens the master playlist; heartbeats renew it).
    pub token: String,
    /// Seconds until the token expires.
    pub token_expires_in: i64,
    /// The master playlist, token included: give it to any HLS player.
    pub master_url: String,
    /// Where to start playing (s): where this viewer stopped last time, or 0.
    pub resume_position: f64,
    /// Send a heartbeat this often (s).
    pub heartbeat_interval_secs: u64,
    /// The stream ends if no heartbeat arrives by then.
    pub expires_at: DateTime<Utc>,
    /// The tallest rendition the plan allows, in lines.
    pub max_rendition: u32,
}

/// A heartbeat.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatBody {
    /// The player's position, in seconds: 0 or more, within the video.
    #[schema(value_type = f64, minimum = 0, maximum = 10000000)]
    pub position: Value,
}

/// What a heartbeat answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeartbeatAck {
    /// The session.
    pub session_id: Uuid,
    /// The video.
    pub video_id: Uuid,
    /// The saved position (s).
    pub position: f64,
    /// Watched time as the server measured it (s).
    pub watched_secs: f64,
    /// Whether this heartbeat counted a view.
    pub view_counted: bool,
    /// The stream ends if no heartbeat arrives by then.
    pub expires_at: DateTime<Utc>,
    /// A renewed playback token.
    pub token: String,
    /// Seconds until it expires.
    pub token_expires_in: i64,
}

/// A live stream, as a refused start lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActiveDevice {
    /// Its session.
    pub session_id: Uuid,
    /// Its device.
    pub device_id: String,
    /// What it plays.
    pub video_id: Uuid,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub last_seen: DateTime<Utc>,
    /// `DELETE` it to end the stream.
    pub href: String,
}

impl From<Stream> for ActiveDevice {
    fn from(s: Stream) -> Self {
        ActiveDevice {
            href: format!("/api/v1/playback/sessions/{}", s.id),
            session_id: s.id,
            device_id: s.device_id,
            video_id: s.video,
            started_at: s.started_at,
            last_seen: s.last_seen,
        }
    }
}

/// The caller's live streams.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StreamList {
    /// Live streams, each endable with `DELETE` on its `href` from any of the caller's devices.
    pub streams: Vec<ActiveDevice>,
}

/// The caller's live streams (every device), oldest first.
#[utoipa::path(tag = "playback", security(("bearer" = [])), responses(
    (status = 200, description = "The live streams", body = StreamList),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "The session actor is unavailable; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/users/me/streams")]
pub async fn my_streams(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let mut streams = state.playback.streams(&user.0.sub).await?;
    streams.sort_by_key(|s| s.started_at);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(StreamList {
            streams: streams.into_iter().map(ActiveDevice::from).collect(),
        }))
}

fn device_ok(d: &str) -> bool {
    (1..=128).contains(&d.len())
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn session_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| PlaybackError::Session(SessionError::NotFound).into())
}

/// The 429 of a start over the plan's limit: the live streams, and what to do about it.
fn limit_exceeded(state: &AppState, plan: Plan, limit: u32, streams: Vec<Stream>) -> ApiError {
    let devices: Vec<ActiveDevice> = streams.into_iter().map(ActiveDevice::from).collect();
    let mut actions: Vec<Value> = devices
        .iter()
        .map(|d| {
            json!({
                "action": "stop_stream",
                "method": "DELETE",
                "href": format!("/api/v1/playback/sessions/{}", d.session_id),
                "device_id": d.device_id,
            })
        })
        .collect();
    let next = [Plan::Basic, Plan::Premium, Plan::Ultimate]
        .into_iter()
        .find(|p| p.max_streams() > plan.max_streams());
    if let Some(next) = next {
        actions.push(json!({
            "action": "upgrade",
            "plan": next,
            "max_streams": next.max_streams(),
            "href": state.config.playback.upgrade_url,
        }));
    }
    let mut extra = serde_json::Map::new();
    extra.insert("limit".into(), json!(limit));
    extra.insert("plan".into(), json!(plan));
    extra.insert("devices".into(), json!(devices));
    extra.insert("actions".into(), Value::Array(actions));
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "concurrent_limit_exceeded",
        format!(
            "the {} plan allows {limit} stream(s) at once; stop one of the devices listed, or upgrade",
            json!(plan).as_str().unwrap_or("current")
        ),
    )
    .with_extra(extra)
}

/// Starts a stream of a ready video on one device, under the plan's concurrent-stream limit.
/// Without a token it starts an anonymous stream of a public or unlisted video: capped at
/// the rendition of `playback.anonymous_plan`, kept in memory only, its heartbeats and end
/// addressed by the session id alone; its views count once per device per window, and at
/// most `playback.anonymous_views_per_ip` devices per client address. The answer carries the
/// playback token, the master playlist URL, the position to resume from, and the heartbeat
/// interval.
#[utoipa::path(tag = "playback", security((), ("bearer" = [])), request_body = StartSession, responses(
    (status = 201, description = "Started", body = SessionGrant),
    (status = 401, description = "`invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found` (a private video, to anyone but its owner and admins)", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`video_not_ready`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_device_id` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`concurrent_limit_exceeded`, with `limit`, `plan`, `devices` (the live streams) and `actions` (stop one, or upgrade); or `rate_limited`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/playback/sessions")]
pub async fn start(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    user: MaybeUser,
    body: web::Json<StartSession>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if !device_ok(&body.device_id) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_device_id",
            "device_id must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'",
        ));
    }
    let video_id = Uuid::parse_str(&body.video_id)
        .map_err(|_| ApiError::not_found("video_not_found", "no such video"))?;
    let who = viewer(&state, user.0.as_ref()).await?;
    let video = visible(&state, video_id, who).await?;
    if video.state != VideoStatus::Ready {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "video_not_ready",
            format!(
                "the video is {}, not ready to play yet",
                serde_json::json!(video.state)
                    .as_str()
                    .unwrap_or("not ready")
            ),
        ));
    }
    let id = Uuid::new_v4();
    // Who plays: the account (its plan, its session actor), or an anonymous device (the
    // anonymous plan's rendition, an actor of its own for this one stream).
    let (key, plan, user_id, source) = match &user.0 {
        Some(claims) => match state.accounts.get(&claims.sub).await? {
            Some(u) if u.id == claims.uid => (claims.sub.clone(), u.plan, u.id, None),
            _ => {
                return Err(ApiError::unauthorized(
                    "invalid_token",
                    "the account of this token does not exist",
                ))
            }
        },
        None => {
            let ip = client_ip(&req, state.config.server.trust_forwarded_headers);
            (
                anonymous_key(id),
                state.config.playback.anonymous_plan,
                anonymous_viewer(&body.device_id),
                Some(ip.to_string()),
            )
        }
    };
    let anonymous = source.is_some();
    let start = StartStream {
        id,
        user_id,
        device_id: body.device_id,
        video: video_id,
        title: video.title.clone(),
        duration_secs: video.duration_secs.unwrap_or(0.0),
        limit: if anonymous { 1 } else { plan.max_streams() },
        max_rendition: plan.max_rendition(),
        source,
    };
    let started = match state.playback.start_stream(&key, start).await {
        Ok(s) => s,
        Err(PlaybackError::Session(SessionError::Limit { limit, streams })) => {
            return Err(limit_exceeded(&state, plan, limit, streams))
        }
        Err(e) => return Err(e.into()),
    };
    let s = started.stream;
    let ttl = state.config.media.playback_token_ttl_secs as i64;
    let (token, _) =
        state
            .tokens
            .sign_playback(video_id, s.max_rendition, &key, Some(s.id.to_string()), ttl)?;
    metrics::counter!("troupe_playback_sessions_started_total", "viewer" => if anonymous { "anonymous" } else { "account" }).increment(1);
    let settings = state.playback.settings();
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/playback/sessions/{}", s.id),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(SessionGrant {
            session_id: s.id,
            video_id,
            device_id: s.device_id,
            master_url: format!("/hls/{video_id}/master.m3u8?token={token}"),
            token,
            token_expires_in: ttl,
            resume_position: started.resume_position,
            heartbeat_interval_secs: settings.heartbeat_interval.as_secs(),
            expires_at: s.last_seen + chrono_duration(settings.stream_timeout),
            max_rendition: s.max_rendition,
        }))
}

/// The viewer id an anonymous device's views count under: the same device is one viewer.
fn anonymous_viewer(device_id: &str) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"troupe anonymous viewer\0")
        .chain_update(device_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The session actor key of a session: the caller's, or an anonymous stream's own.
fn session_key(user: &MaybeUser, id: Uuid) -> String {
    match &user.0 {
        Some(claims) => claims.sub.clone(),
        None => anonymous_key(id),
    }
}

fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::milliseconds(d.as_millis().min(i64::MAX as u128) as i64)
}

/// Saves the position of a stream and keeps it alive. Watched time is measured on the
/// server, and a view counts once enough of the video was watched. An anonymous stream's
/// heartbeat carries no token: its session id is enough.
#[utoipa::path(tag = "playback", security((), ("bearer" = [])), request_body = HeartbeatBody, params(("id" = Uuid, Path, description = "Session id")), responses(
    (status = 200, description = "Saved", body = HeartbeatAck),
    (status = 401, description = "`invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`session_not_found`: ended, expired, or not yours (without a token: not an anonymous session)", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_position`: not a number, negative, or beyond the video", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/playback/sessions/{id}/heartbeat")]
pub async fn heartbeat(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<String>,
    body: web::Json<HeartbeatBody>,
) -> Result<HttpResponse, ApiError> {
    let id = session_id(&path)?;
    let position = body
        .position
        .as_f64()
        .filter(|p| p.is_finite() && (0.0..=MAX_POSITION).contains(p))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_position",
                "position must be a number of seconds, 0 or more, within the video",
            )
        })?;
    let key = session_key(&user, id);
    let beat = state.playback.heartbeat(&key, id, position).await?;
    let s = beat.stream;
    let ttl = state.config.media.playback_token_ttl_secs as i64;
    let (token, _) =
        state
            .tokens
            .sign_playback(s.video, s.max_rendition, &key, Some(s.id.to_string()), ttl)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(HeartbeatAck {
            session_id: s.id,
            video_id: s.video,
            position: s.position,
            watched_secs: s.watched_secs,
            view_counted: beat.view_counted,
            expires_at: s.last_seen + chrono_duration(state.playback.settings().stream_timeout),
            token,
            token_expires_in: ttl,
        }))
}

/// Ends a stream: its slot is free at once, its position is saved, and its token opens no
/// new master playlist. Works from any of the caller's devices; an anonymous stream is ended
/// by its session id alone.
#[utoipa::path(tag = "playback", security((), ("bearer" = [])), params(("id" = Uuid, Path, description = "Session id")), responses(
    (status = 204, description = "Ended"),
    (status = 401, description = "`invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`session_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/playback/sessions/{id}")]
pub async fn stop(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = session_id(&path)?;
    state.playback.stop(&session_key(&user, id), id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// History paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// One watched video.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryItem {
    /// The video.
    pub video_id: Uuid,
    /// Its title when last watched.
    pub title: String,
    /// Where the viewer stopped (s).
    pub position: f64,
    /// The video's duration (s).
    pub duration_secs: f64,
    /// How much of it was watched, 0 to 1.
    pub progress: f64,
    /// Whether it was watched to (nearly) the end.
    pub completed: bool,
    /// When it was last watched.
    pub last_watched_at: DateTime<Utc>,
}

impl From<WatchEntry> for HistoryItem {
    fn from(e: WatchEntry) -> Self {
        let progress = if e.duration_secs > 0.0 {
            (e.position / e.duration_secs).clamp(0.0, 1.0)
        } else {
            0.0
        };
        HistoryItem {
            video_id: e.video,
            completed: e.completed(),
            title: e.title,
            position: e.position,
            duration_secs: e.duration_secs,
            progress,
            last_watched_at: e.last_watched,
        }
    }
}

/// A page of the watch history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    /// Most recently watched first.
    pub items: Vec<HistoryItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The caller's watch history, most recent first: position, duration, completion.
#[utoipa::path(tag = "playback", security(("bearer" = [])), params(HistoryParams), responses(
    (status = 200, description = "A page of the history", body = HistoryPage),
    (status = 400, description = "`invalid_cursor` or `invalid_query`", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/users/me/history")]
pub async fn history(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = super::error::page_limit(q.limit)?;
    let before = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let page = state.playback.history(&user.0.sub, limit, before).await?;
    let next_cursor = page
        .more
        .then(|| page.items.last())
        .flatten()
        .map(|e| format!("{}.{}", e.last_watched.timestamp_micros(), e.video));
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(HistoryPage {
            items: page.items.into_iter().map(HistoryItem::from).collect(),
            next_cursor,
        }))
}

fn parse_cursor(c: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_cursor",
            "the cursor is not one this server gave out; start again without it",
        )
    };
    let (micros, id) = c.split_once('.').ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad)?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad())?))
}

/// A rating.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateBody {
    /// `like`, `dislike` or `none`.
    #[schema(value_type = Rating)]
    pub rating: Value,
}

/// A rating's outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RatingAck {
    /// The video.
    pub video_id: Uuid,
    /// The caller's rating now.
    pub rating: Rating,
    /// The video's counts, this rating included.
    pub counts: Counts,
}

/// Sets the caller's rating of a video. Idempotent: the same rating again changes nothing.
/// The answer comes once the rating is durable, with the video's new counts.
#[utoipa::path(tag = "playback", security(("bearer" = [])), request_body = RateBody, params(("id" = Uuid, Path, description = "Video id")), responses(
    (status = 200, description = "Rated", body = RatingAck),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_rating`", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/videos/{id}/rating")]
pub async fn rate(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<RateBody>,
) -> Result<HttpResponse, ApiError> {
    let rating = serde_json::from_value::<Rating>(body.into_inner().rating).map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rating",
            "rating must be \"like\", \"dislike\" or \"none\"",
        )
    })?;
    let id = Uuid::parse_str(&path)
        .map_err(|_| ApiError::not_found("video_not_found", "no such video"))?;
    let who = viewer(&state, Some(&user.0)).await?;
    visible(&state, id, who).await?;
    let counts = state.playback.rate(id, user.0.uid, rating).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RatingAck {
            video_id: id,
            rating,
            counts,
        }))
}

/// Trending parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TrendingParams {
    /// `1h`, `24h` (default) or `7d`.
    #[param(pattern = "^(1h|24h|7d)$")]
    pub window: Option<String>,
    /// How many, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

/// A trending video.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrendingItem {
    /// The video, with its counts.
    #[serde(flatten)]
    pub video: VideoBody,
    /// Its views within the window.
    pub window_views: u64,
}

/// A trending list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrendingList {
    /// The window.
    pub window: String,
    /// Most viewed first.
    pub items: Vec<TrendingItem>,
}

/// Public videos ranked by views within a window (`1h`, `24h`, `7d`), most viewed first (ties:
/// newest first), from the catalogue, which hears every counter change within a commit
/// interval (a second or so in a cluster); views are bucketed by 5 minutes within the last
/// 2 hours and by the hour beyond. A video deleted or hidden is gone at once.
#[utoipa::path(tag = "playback", params(TrendingParams), responses(
    (status = 200, description = "The list", body = TrendingList),
    (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_window`", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`catalogue_rebuilding` or `catalogue_not_ready`; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/videos/trending")]
pub async fn trending(
    state: web::Data<AppState>,
    query: web::Query<TrendingParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let window = match q.window.as_deref() {
        None => Window::Day,
        Some(w) => Window::parse(w).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_window",
                "window must be 1h, 24h or 7d",
            )
        })?,
    };
    let limit = super::error::page_limit(q.limit)?;
    let ranked =
        state
            .catalogue
            .trending(window.millis(), limit, troupe_catalogue::Scope::Public)?;
    // Re-checked like every catalogue answer: a video deleted or hidden a moment ago is gone.
    // The views are the media service's shared ones, so that a video's JSON is kept between
    // answers while it does not change (see `catalogue::Bodies`).
    let checks = ranked.iter().map(|(t, hit)| {
        let state = &state;
        async move {
            match state.media.peek_shared(t.id).await {
                Ok(v) if super::catalogue::listable(state, troupe_catalogue::Scope::Public, &v) => {
                    Some((v, hit.counts, t.window_views))
                }
                _ => None,
            }
        }
    });
    let items: Vec<_> = futures::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=10"))
        .content_type("application/json")
        .body(
            state
                .bodies
                .trending(&state.tokens, window.as_str(), &items),
        ))
}
