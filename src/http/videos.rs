//! `/api/v1/videos`: create, read, change, delete and list videos; their poster, playback
//! tokens and live events.
//!
//! Who sees what: public and unlisted videos are visible to anyone who knows the id; private
//! ones only to their owner and admins (anyone else gets 404, so that their existence does not
//! leak). Only the owner or an admin may change or delete a video.

use super::error::{ApiError, Problem};
pub use super::guard::MaybeUser;
use super::tokens::{AccessClaims, AuthUser, Tokens};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use troupe_actors::accounts::Role;
use troupe_actors::events::VideoEvent;
use troupe_actors::media::video::{VideoView, Visibility};
use troupe_actors::media::{layout, VideoInput, Viewer};
use troupe_actors::playback::{Counts, Rating};
use troupe_actors::webhooks::EventType;
use uuid::Uuid;

/// Who the caller is for visibility rules. A staff role (admin, moderator) in the token is
/// confirmed with the user actor (a token's role may be stale, and a role taken away counts
/// at once); a token that says `user` needs no lookup, so a role granted counts from the
/// caller's next token (a refresh or a login).
pub(crate) async fn viewer(
    state: &AppState,
    claims: Option<&AccessClaims>,
) -> Result<Option<Viewer>, ApiError> {
    let Some(c) = claims else { return Ok(None) };
    let (admin, moderator) = if c.role == Role::User {
        (false, false)
    } else {
        match state.accounts.get(&c.sub).await? {
            Some(u) if u.id == c.uid => (u.role == Role::Admin, u.role.is_staff()),
            _ => (false, false),
        }
    };
    Ok(Some(Viewer {
        id: c.uid,
        admin,
        moderator,
    }))
}

/// A video as the API returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VideoBody {
    /// The video.
    #[serde(flatten)]
    pub video: VideoView,
    /// The poster thumbnail, once processed. A private video's poster URL is signed
    /// (`?token=`, valid for an hour or more) so that a plain `<img>` can load it; it is given
    /// only to callers who may see the video (its owner and admins), and it opens that poster
    /// and nothing else.
    pub thumbnail_url: Option<String>,
    /// Where to send the bytes (tus 1.0; name the video in `Upload-Metadata: video_id`).
    pub upload_url: &'static str,
    /// Views, likes and dislikes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    /// The caller's own rating (`none` when they have not rated it): on
    /// `GET /api/v1/videos/{id}`, for a signed-in caller only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Rating>)]
    pub my_rating: Option<Rating>,
    /// The exact number of visible comments (on `GET /api/v1/videos/{id}` and the answers
    /// of `POST` and `PATCH`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comments: Option<u64>,
    /// Who may comment: the video's own policy, else its channel's default (with
    /// `comments`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment_policy: Option<troupe_actors::comments::CommentPolicy>,
}

impl VideoBody {
    /// The video as `viewer` gets it (see [`poster_url`]).
    pub fn shown(video: VideoView, tokens: &Tokens, viewer: Option<Viewer>) -> Self {
        VideoBody {
            thumbnail_url: poster_url(&video, tokens, viewer),
            video,
            upload_url: "/api/v1/uploads",
            counts: None,
            my_rating: None,
            comments: None,
            comment_policy: None,
        }
    }

    /// The body with the video's comment count and effective policy.
    pub async fn with_comments(mut self, state: &AppState) -> Result<Self, ApiError> {
        let (policy, total, _) = super::comments::effective_policy(state, &self.video).await?;
        self.comments = Some(total);
        self.comment_policy = Some(policy);
        Ok(self)
    }

    /// The body with the video's counts.
    pub fn with_counts(mut self, counts: Counts) -> Self {
        self.counts = Some(counts);
        self
    }
}

/// Where `viewer` loads the video's poster: none before it is processed; the plain URL of a
/// public or unlisted video; a signed URL of a private one, for those who may see it (and
/// none for anybody else, although they should never get the video in the first place).
pub(crate) fn poster_url(
    video: &VideoView,
    tokens: &Tokens,
    viewer: Option<Viewer>,
) -> Option<String> {
    if !video.has_poster {
        return None;
    }
    let url = format!("/api/v1/videos/{}/thumbnail.jpg", video.id);
    if video.visibility != Visibility::Private {
        return Some(url);
    }
    if !Viewer::may_see(viewer, video) {
        return None;
    }
    match tokens.sign_poster(video.id, chrono::Utc::now().timestamp()) {
        Ok(token) => Some(format!("{url}?token={token}")),
        // No signing key right now: the plain URL still opens with the caller's bearer token.
        Err(_) => Some(url),
    }
}

/// A new video's metadata.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVideo {
    /// 1 to 200 characters.
    pub title: String,
    /// Up to 10,000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Up to 16 tags of 1 to 40 characters (stored lowercase).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// `public` (default), `unlisted` or `private`.
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// The handle of one of the caller's channels (default: the caller's default channel).
    #[serde(default)]
    pub channel: Option<String>,
    /// Who may comment (default: the channel's `default_comment_policy`).
    #[serde(default)]
    pub comment_policy: Option<troupe_actors::comments::CommentPolicy>,
}

/// A metadata change; absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVideo {
    /// 1 to 200 characters.
    pub title: Option<String>,
    /// Up to 10,000 characters.
    pub description: Option<String>,
    /// Up to 16 tags.
    pub tags: Option<Vec<String>>,
    /// `public`, `unlisted` or `private`.
    pub visibility: Option<Visibility>,
    /// Who may comment: `enabled`, `disabled` or `approval`.
    #[serde(default)]
    pub comment_policy: Option<troupe_actors::comments::CommentPolicy>,
}

/// Creates a video, waiting for its upload. Upload its file with tus at `/api/v1/uploads`,
/// naming the video in `Upload-Metadata` (`video_id <base64 id>`).
#[utoipa::path(tag = "videos", security(("bearer" = [])), request_body = CreateVideo, responses(
    (status = 201, description = "Created; `state` is `awaiting_upload`", body = VideoBody),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: `channel` is someone else's", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found`: no channel has the handle `channel`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_video` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/videos")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreateVideo>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = VideoInput {
        title: Some(body.title),
        description: body.description,
        tags: body.tags,
        visibility: body.visibility,
    };
    let channel = match body.channel.as_deref() {
        Some(handle) => {
            let c = state.channels.require(handle).await?;
            if c.owner_id != user.0.uid {
                return Err(ApiError::forbidden(
                    "videos may be created only in the caller's own channels",
                ));
            }
            c
        }
        None => state.channels.default_for(user.0.uid, &user.0.sub).await?,
    };
    let video = state
        .media
        .create_video(
            &user.0.sub,
            user.0.uid,
            (channel.id, &channel.handle),
            input,
        )
        .await?;
    // Counted once the video exists; a count this misses (a crash in between) is repaired by
    // the start-up reconciliation.
    state.channels.add_video(channel.id, video.id).await?;
    if body.comment_policy.is_some() {
        state
            .comments
            .set_policy(video.id, body.comment_policy)
            .await?;
    }
    tracing::info!(video = %video.id, owner = %video.owner, channel = %channel.handle, "video created");
    super::webhooks::video_event(&state, EventType::VideoCreated, &video).await;
    let shown = VideoBody::shown(
        video,
        &state.tokens,
        Some(Viewer {
            id: user.0.uid,
            admin: false,
            moderator: false,
        }),
    )
    .with_comments(&state)
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/videos/{}", shown.video.id),
        ))
        .json(shown))
}

/// A video the caller may see, or 404.
pub(crate) async fn visible(
    state: &AppState,
    id: Uuid,
    viewer: Option<Viewer>,
) -> Result<VideoView, ApiError> {
    let video = state.media.video(id).await?;
    if state.moderation.may_see(viewer, &video) {
        Ok(video)
    } else {
        Err(ApiError::not_found("video_not_found", "no such video"))
    }
}

/// A video the caller may change, and who they are: 404 if they may not see it, 403 if they
/// may only see it.
pub(crate) async fn editable(
    state: &AppState,
    id: Uuid,
    user: &AuthUser,
) -> Result<(VideoView, Option<Viewer>), ApiError> {
    let viewer = viewer(state, Some(&user.0)).await?;
    let video = visible(state, id, viewer).await?;
    if Viewer::may_edit(viewer, &video) {
        Ok((video, viewer))
    } else {
        Err(ApiError::forbidden(
            "only the video's owner or an admin may do this",
        ))
    }
}

/// The video a path names, if the caller may see it, and who the caller is.
async fn seen(
    state: &AppState,
    user: &MaybeUser,
    raw: &str,
) -> Result<(Uuid, VideoView, Option<Viewer>), ApiError> {
    let id = video_id(raw)?;
    let viewer = viewer(state, user.0.as_ref()).await?;
    Ok((id, visible(state, id, viewer).await?, viewer))
}

fn video_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("video_not_found", "no such video"))
}

/// A video: its state, progress, renditions, duration, thumbnail and counts, and for a
/// signed-in caller their own rating (`my_rating`).
#[utoipa::path(tag = "videos", security((), ("bearer" = [])), params(("id" = Uuid, Path, description = "Video id")), responses(
    (status = 200, description = "The video", body = VideoBody),
    (status = 404, description = "`video_not_found` (also for a private video of someone else)", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/videos/{id}")]
pub async fn get_video(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, video, viewer) = seen(&state, &user, &path).await?;
    let (counts, my_rating) = match viewer {
        Some(w) => {
            let a = state.playback.counts_for(id, w.id).await?;
            // A node of an older version does not know the request's rating part.
            (a.counts, Some(a.rating.unwrap_or(Rating::None)))
        }
        None => (state.playback.counts(id).await?.counts, None),
    };
    let mut body = VideoBody::shown(video, &state.tokens, viewer)
        .with_counts(counts)
        .with_comments(&state)
        .await?;
    body.my_rating = my_rating;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// Changes a video's title, description, tags or visibility (owner or admin).
#[utoipa::path(tag = "videos", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Video id")), request_body = UpdateVideo, responses(
    (status = 200, description = "The changed video", body = VideoBody),
    (status = 403, description = "`forbidden`: not the owner", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_video` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[patch("/api/v1/videos/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<UpdateVideo>,
) -> Result<HttpResponse, ApiError> {
    let id = video_id(&path)?;
    let (_, viewer) = editable(&state, id, &user).await?;
    let b = body.into_inner();
    let input = VideoInput {
        title: b.title,
        description: b.description,
        tags: b.tags,
        visibility: b.visibility,
    };
    let video = if b.comment_policy.is_some()
        && input.title.is_none()
        && input.description.is_none()
        && input.tags.is_none()
        && input.visibility.is_none()
    {
        state.media.video(id).await?
    } else {
        let video = state.media.update_video(id, input).await?;
        super::webhooks::video_event(&state, EventType::VideoUpdated, &video).await;
        video
    };
    if b.comment_policy.is_some() {
        state.comments.set_policy(id, b.comment_policy).await?;
    }
    let shown = VideoBody::shown(video, &state.tokens, viewer)
        .with_comments(&state)
        .await?;
    Ok(HttpResponse::Ok().json(shown))
}

/// Deletes a video and every blob it owns: its upload's bytes, segments, playlists, poster.
#[utoipa::path(tag = "videos", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Video id")), responses(
    (status = 204, description = "Deleted"),
    (status = 403, description = "`forbidden`: not the owner", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/videos/{id}")]
pub async fn delete_video(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = video_id(&path)?;
    let (video, _) = editable(&state, id, &user).await?;
    state.media.delete_video(id).await?;
    if !video.channel_id.is_nil() {
        // Uncounted once the video is gone; a miss (a crash in between) is repaired by the
        // start-up reconciliation.
        if let Err(e) = state.channels.remove_video(video.channel_id, id).await {
            tracing::warn!(video = %id, channel = %video.channel_id, error = %e, "could not uncount a deleted video in its channel");
        }
    }
    // Its blobs are gone from the store: free their copies in this node's HLS cache (other
    // nodes free theirs when a request finds the video gone).
    state.hls_cache.forget_video(id);
    // The counts go with the video; if this fails, they stay behind unseen (no route shows
    // the counts of a deleted video) and the next DELETE, a 404, cannot retry it.
    if let Err(e) = state.playback.forget(id).await {
        tracing::warn!(video = %id, error = %e, "could not forget a deleted video's counters");
    }
    if let Err(e) = state.comments.forget(id).await {
        tracing::warn!(video = %id, error = %e, "could not forget a deleted video's comments");
    }
    tracing::info!(video = %id, by = %user.0.sub, "video deleted");
    super::webhooks::video_event(&state, EventType::VideoDeleted, &video).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Transcodes a failed video again, from the upload it kept (owner or admin). The video goes
/// back to `queued`; follow it on its event stream.
#[utoipa::path(tag = "videos", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Video id")), responses(
    (status = 202, description = "Queued again", body = VideoBody),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: not the owner or an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`invalid_state` (not failed) or `source_gone` (the upload is no longer kept: upload again)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "An actor or the store is unavailable; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/videos/{id}/retry")]
pub async fn retry(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = video_id(&path)?;
    let (_, viewer) = editable(&state, id, &user).await?;
    let video = state.media.retry(id).await?;
    tracing::info!(video = %id, by = %user.0.sub, "video queued again");
    Ok(HttpResponse::Accepted().json(VideoBody::shown(video, &state.tokens, viewer)))
}

/// Listing parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page, with the same parameters (another query's cursor:
    /// 422 `cursor_mismatch`). Without `q` the cursor never expires; with `q` (ranked) it
    /// lasts 10 minutes after the page that gave it, on the node that gave it, then 410
    /// `cursor_expired`: start over without it.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Only videos with this tag.
    pub tag: Option<String>,
    /// Only videos of this username.
    pub owner: Option<String>,
    /// Words to search for (up to 512 characters and 32 words); the best matches come first.
    pub q: Option<String>,
}

/// A page of videos.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VideoPage {
    /// Newest first.
    pub items: Vec<VideoBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Lists videos, newest first: public ready videos for everyone, plus all of the caller's
/// own (admins see all), from the catalogue index; with `q`, the best matches first (see
/// `GET /api/v1/search` for the whole search). Cursors stay stable while videos are added.
/// Counts are the index's, which trail the counters by up to a second.
#[utoipa::path(tag = "videos", params(ListParams), responses(
    (status = 200, description = "A page of videos", body = VideoPage),
    (status = 400, description = "`invalid_query` (a limit out of range, an unknown parameter)", body = Problem, content_type = "application/problem+json"),
    (status = 410, description = "`cursor_expired`: a ranked cursor (with `q`) whose ranking is no longer kept (10 minutes after its page, on the node that gave it); start again without it", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_cursor` (not a cursor this server made), `cursor_mismatch` (another query's cursor), `query_too_long` (over 512 characters) or `too_many_words` (over 32 words)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`catalogue_rebuilding` or `catalogue_not_ready`; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/videos")]
pub async fn list(
    state: web::Data<AppState>,
    user: MaybeUser,
    query: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let search =
        super::catalogue::listing(q.q, q.tag, q.owner, None, q.limit, q.cursor.as_deref())?;
    let viewer = viewer(&state, user.0.as_ref()).await?;
    page_response(&state, viewer, &search).await
}

/// A page of the catalogue as the API answers it, re-checked and with the index's counts.
pub(crate) async fn page_response(
    state: &AppState,
    viewer: Option<Viewer>,
    search: &troupe_catalogue::Search,
) -> Result<HttpResponse, ApiError> {
    let scope = super::catalogue::scope(viewer);
    let (items, next_cursor) = super::catalogue::run_shared(state, scope, search).await?;
    Ok(super::catalogue::page_response(
        state,
        viewer,
        &items,
        next_cursor.as_deref(),
    ))
}

/// Gone: playback tokens come from playback sessions (`POST /api/v1/playback/sessions`),
/// which enforce the plan's concurrent-stream limit and count views.
#[utoipa::path(tag = "playback", params(("id" = Uuid, Path, description = "Video id")), responses(
    (status = 410, description = "`use_playback_sessions`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/videos/{id}/playback-token")]
pub async fn playback_token() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        actix_web::http::StatusCode::GONE,
        "use_playback_sessions",
        "playback tokens now come from POST /api/v1/playback/sessions {video_id, device_id}",
    ))
}

/// A poster URL's signature.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PosterParams {
    /// The signature a private video's `thumbnail_url` carries; without it, a private poster
    /// needs the owner's (or an admin's) bearer token.
    pub token: Option<String>,
}

/// The poster thumbnail (JPEG) of a processed video. A private video's poster opens with the
/// signed URL its `thumbnail_url` gives (or the owner's bearer token); to anybody else it does
/// not exist.
#[utoipa::path(tag = "videos", security((), ("bearer" = [])), params(("id" = Uuid, Path, description = "Video id"), PosterParams), responses(
    (status = 200, description = "The poster", content_type = "image/jpeg"),
    (status = 403, description = "`poster_token_expired` (read the video again for a fresh URL) or `invalid_poster_token` (malformed, tampered with, or for another video)", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found` or `not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/videos/{id}/thumbnail.jpg")]
pub async fn thumbnail(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: MaybeUser,
    path: web::Path<String>,
    query: web::Query<PosterParams>,
) -> Result<HttpResponse, ApiError> {
    let (id, video) = match query.into_inner().token {
        Some(token) => {
            let id = video_id(&path)?;
            state.tokens.verify_poster(&token, id)?;
            (id, state.media.video(id).await?)
        }
        None => {
            let (id, video, _) = seen(&state, &user, &path).await?;
            (id, video)
        }
    };
    if !video.has_poster {
        return Err(ApiError::not_found(
            "not_found",
            "the video has no poster yet",
        ));
    }
    let cache = if video.visibility == Visibility::Private {
        "private, max-age=300"
    } else {
        "public, max-age=300"
    };
    super::hls::serve_blob(&state, &req, &layout::poster(id), "image/jpeg", cache).await
}

/// The data of a `counts` event.
#[derive(Serialize)]
struct CountsEvent {
    video_id: Uuid,
    #[serde(flatten)]
    counts: Counts,
}

pub(crate) fn sse(event: &str, id: Option<u64>, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    let id = id.map(|v| format!("id: {v}\n")).unwrap_or_default();
    Bytes::from(format!("event: {event}\n{id}data: {json}\n\n"))
}

/// A live stream (server-sent events) of the video's changes: `video` events carry the whole
/// video (state, progress, renditions…) when anything changes, starting with its current
/// state and counts; `counts` events carry new views, likes and dislikes (within a second of
/// the change); `comment` events carry a comment (a `CommentView`) when it is posted, edited,
/// pinned, approved or deleted (`deleted: true`), as the subscriber may see it (held ones only
/// to their author and the video's staff; muted authors left out); `deleted` ends the stream. Browsers' `EventSource` cannot send headers, so the
/// access token may also come as `?access_token=`.
#[utoipa::path(tag = "videos", params(("id" = Uuid, Path, description = "Video id"), ("access_token" = Option<String>, Query, description = "Access token, for clients that cannot send headers")), responses(
    (status = 200, description = "An event stream", content_type = "text/event-stream"),
    (status = 404, description = "`video_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/videos/{id}/events")]
pub async fn events(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, video, viewer) = seen(&state, &user, &path).await?;
    let counts = state.playback.counts(id).await?;
    // Comments: who may see which is decided per subscriber (held ones, muted authors).
    let staff = super::comments::is_staff(viewer, &video);
    let muted = super::comments::muted(&state, viewer).await?;
    let comments = state.comments.hub().subscribe(id);
    state.comments.hub().sync(id).await;
    let rx = state
        .media
        .events()
        .subscribe(id, video.version, counts.version);
    let first = sse(
        "video",
        Some(video.version),
        &VideoBody::shown(video, &state.tokens, viewer).with_counts(counts.counts),
    );
    metrics::gauge!("troupe_sse_subscribers").increment(1.0);
    // The keep-alive comment is also how a closed client is noticed: actix learns that the
    // peer is gone only when a write fails, which is the second write after the close (the
    // first draws the peer's reset). So a subscriber that left is dropped within two periods.
    let every = Duration::from_millis(state.config.media.events_keepalive_ms.max(100));
    let keepalive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    struct Sub {
        rx: tokio::sync::broadcast::Receiver<VideoEvent>,
        comments:
            tokio::sync::broadcast::Receiver<std::sync::Arc<troupe_actors::comments::LiveEvent>>,
        muted: Vec<Uuid>,
        keepalive: tokio::time::Interval,
        done: bool,
        /// For signing a private poster's URL in each `video` event.
        state: web::Data<AppState>,
    }
    impl Drop for Sub {
        fn drop(&mut self) {
            metrics::gauge!("troupe_sse_subscribers").decrement(1.0);
        }
    }
    let rest = futures::stream::unfold(
        Sub {
            rx,
            comments,
            muted,
            keepalive,
            done: false,
            state: state.clone(),
        },
        move |mut sub| async move {
            if sub.done {
                return None;
            }
            loop {
                tokio::select! {
                    ev = sub.rx.recv() => match ev {
                        Ok(VideoEvent::Changed(v)) => {
                            let b = sse("video", Some(v.version), &VideoBody::shown(*v, &sub.state.tokens, viewer));
                            return Some((Ok::<_, actix_web::Error>(b), sub));
                        }
                        Ok(VideoEvent::Counts(c)) => {
                            let b = sse("counts", None, &CountsEvent { video_id: id, counts: c });
                            return Some((Ok(b), sub));
                        }
                        Ok(VideoEvent::Deleted) => {
                            sub.done = true;
                            let b = sse("deleted", None, &serde_json::json!({"id": id}));
                            return Some((Ok(b), sub));
                        }
                        // Too slow to keep up: the next change carries the whole video anyway.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    },
                    c = sub.comments.recv() => match c {
                        Ok(ev) => {
                            let who = viewer.map(|w| w.id);
                            if let Some(json) = ev.for_viewer(who, staff, &sub.muted) {
                                let b = Bytes::from(format!("event: comment\ndata: {json}\n\n"));
                                return Some((Ok(b), sub));
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            metrics::counter!("troupe_comment_events_lagged_total").increment(n);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    },
                    _ = sub.keepalive.tick() => {
                        return Some((Ok(KEEPALIVE), sub));
                    }
                }
            }
        },
    );
    Ok(event_stream(first, rest))
}

/// The comment line an event stream sends to keep the connection open, which is also how a
/// closed client is noticed.
pub(crate) const KEEPALIVE: Bytes = Bytes::from_static(b": keep-alive\n\n");

/// A `text/event-stream` response: `first`, then what `rest` yields, never cached or buffered by
/// a proxy.
pub(crate) fn event_stream(
    first: Bytes,
    rest: impl futures::Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
) -> HttpResponse {
    let stream = futures::stream::once(async move { Ok::<_, actix_web::Error>(first) }).chain(rest);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(stream)
}
