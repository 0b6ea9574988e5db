//! HLS playback: `/hls/{video_id}/master.m3u8?token=…`, and the media playlists and segments
//! it names, served from the blob store through a bounded in-memory cache.
//!
//! ```text
//! GET  /hls/{video}/master.m3u8?token=P              P: a playback token, from the API
//!        lists  t/{M}/720p/index.m3u8 …               M: a media token minted from P
//! GET  /hls/{video}/t/{M}/{rendition}/index.m3u8     the stored media playlist, verbatim
//! GET  /hls/{video}/t/{M}/{rendition}/seg_00000.ts   a segment (Range, ETag, immutable)
//! OPTIONS /hls/…                                     CORS preflight
//! ```
//!
//! The media token is in the *path*, so the relative segment URIs of the stored playlists
//! (`seg_00000.ts`) inherit it, and stored playlists are served byte for byte. The master
//! playlist asks the video's actor (is it ready, which renditions, who may see it). Media
//! playlists and segments are checked against the media token, and against what this node
//! last learned of the video (deleted? private, and whose?), which it trusts for
//! [`PLAYABILITY_FRESH`] (0.5 s): so a deleted video, or one made private, stops playing for
//! everyone it excludes within that long on every node, and a hit touches no actor in
//! between. They come from [`BlobCache`]. Segments and playlists never change once a video is
//! ready, so cached copies never go stale. Every answer, errors
//! included, carries CORS headers, so that browser players see the real status.
//!
//! This module holds the handlers; the rest is in its parts:
//! - [`access`]: tokens and paths (which media token opens which rendition, valid names);
//! - [`cache`]: the bounded cache of blobs and of verified media tokens;
//! - [`playlist`]: the master playlist written for a viewer's plan;
//! - [`respond`]: serving one blob: cache, conditional requests, ranges, CORS.

mod access;
mod cache;
mod playlist;
#[cfg(test)]
mod proptests;
mod respond;

pub use cache::{BlobCache, MEDIA_TOKENS_REMEMBERED};
pub use respond::serve_blob;

use super::error::{ApiError, Problem};
use super::tokens::PlaybackClaims;
use crate::state::AppState;
pub use access::PLAYABILITY_FRESH;
use access::{
    authorize, file_not_found, may_play, param, rendition_height, still_playable, valid_segment,
};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{options, route, web, HttpRequest, HttpResponse};
use playlist::{master_playlist, media_token_ttl, playable};
use respond::{cors, with_cors};
use serde::Deserialize;
use troupe_actors::media::video::{VideoError, VideoStatus};
use troupe_actors::media::{layout, MediaError};
use uuid::Uuid;

/// `Content-Type` of playlists.
const MPEGURL: &str = "application/vnd.apple.mpegurl";
/// `Content-Type` of MPEG-TS segments.
const MP2T: &str = "video/mp2t";
/// Segment URLs are unique per media token and their bytes never change.
const SEGMENT_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// A media playlist's URL holds the viewer's media token.
const MEDIA_PLAYLIST_CACHE_CONTROL: &str = "private, max-age=3600";
/// The master playlist embeds a freshly minted token.
const MASTER_CACHE_CONTROL: &str = "private, no-store";
const EXPOSE_HEADERS: &str = "Content-Length, Content-Range, ETag";
const ALLOW_METHODS: &str = "GET, HEAD, OPTIONS";
const ALLOW_HEADERS: &str = "Range, If-None-Match, Origin, Accept";
/// Blobs up to this size are read whole even when they are not cached (cache off, or bigger
/// than a cache entry may be); bigger ones are streamed.
const READ_WHOLE_MAX: u64 = 1024 * 1024;
/// Read size when streaming a blob from the local file system.
const STREAM_CHUNK: u64 = 256 * 1024;
/// Bodies are handed to actix in pieces of at most this size (zero-copy slices of the cached
/// `Bytes`). actix copies each piece into its connection's write buffer, and frees a buffer
/// that grew past 128 KiB once it is flushed: a 2.5 MB segment in one piece costs a 2.5 MB
/// allocation per response and per connection (peak RSS 140-150 MB against 75 MB at 32
/// connections in `benches/load/hls_vs_nginx.sh`). 112 KiB plus the response head stays under
/// that limit, so the buffer is reused, and each write is still large (64 KiB pieces measured
/// about 15% slower).
const WRITE_PIECE: usize = 112 * 1024;

// ---------------------------------------------------------------------------------------------
// Handlers.
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct MasterQuery {
    token: Option<String>,
}

fn media_error(e: MediaError) -> ApiError {
    match e {
        MediaError::Video(VideoError::NotFound) => {
            ApiError::not_found("video_not_found", "no such video")
        }
        MediaError::Unavailable(c) => c.into(),
        e @ (MediaError::Store(_) | MediaError::Video(VideoError::Store(_))) => e.into(),
        other => ApiError::unavailable(
            "video_unavailable",
            format!("cannot read the video: {other}"),
            2,
        ),
    }
}

/// The master playlist of a ready video: one variant per rendition the playback token's plan
/// allows (the smallest one if none is that small), each naming its media playlist under a
/// media token minted here. Never cached: it embeds that token.
#[utoipa::path(tag = "playback", params(
    ("video_id" = Uuid, Path, description = "Video id"),
    ("token" = String, Query, description = "Playback token, from `POST /api/v1/playback/sessions` or a heartbeat"),
), responses(
    (status = 200, description = "The master playlist (`#EXT-X-VERSION:3`, MPEG-TS renditions)", content_type = "application/vnd.apple.mpegurl"),
    (status = 403, description = "`invalid_playback_token`, `playback_token_expired`, `token_wrong_video` or `session_ended`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found`: no such video, or a private one of someone else", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`video_not_ready`", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "The video's actor or store is unavailable; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[route("/hls/{video_id}/master.m3u8", method = "GET", method = "HEAD")]
pub async fn master(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    master_playlist_for(&state, &req).await.map_err(with_cors)
}

async fn master_playlist_for(
    state: &AppState,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let video = Uuid::parse_str(param(req, "video_id"))
        .map_err(|_| ApiError::not_found("video_not_found", "no such video"))?;
    let token = web::Query::<MasterQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid_playback_token",
                "the master playlist needs ?token=<playback token>",
            )
        })?;
    let claims = state.tokens.verify_playback(&token, video)?;
    // A token dies with its session: a stopped or expired stream opens nothing new.
    let live = match claims.sid.as_deref().map(Uuid::parse_str) {
        Some(Ok(sid)) => state.playback.alive(&claims.sub, sid, video).await?,
        _ => false,
    };
    if !live {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "session_ended",
            "the playback session of this token has ended; start a new one",
        ));
    }
    let view = state.media.video(video).await.map_err(media_error)?;
    // Made private or hidden since the session started, or its owner suspended: only those
    // who may see it play it now.
    if !may_play(
        state,
        &claims.sub,
        view.visibility == troupe_actors::media::video::Visibility::Private,
        view.hidden.is_some(),
        &view.owner,
        view.owner_id,
    )
    .await?
    {
        return Err(ApiError::not_found("video_not_found", "no such video"));
    }
    if view.state != VideoStatus::Ready {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "video_not_ready",
            format!(
                "the video is {}, not ready to play yet",
                serde_json::json!(view.state)
                    .as_str()
                    .unwrap_or("not ready")
            ),
        ));
    }
    let renditions = playable(&view.renditions, claims.cap);
    if renditions.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "video_not_ready",
            "the video has no playable renditions",
        ));
    }
    // When no rendition fits the plan, the smallest one is offered anyway: let its media token
    // open it.
    let tallest = renditions
        .iter()
        .filter_map(|r| rendition_height(&r.name))
        .max()
        .unwrap_or(0);
    let media_claims = PlaybackClaims {
        cap: claims.cap.max(tallest),
        ..claims
    };
    let media_token = state
        .tokens
        .sign_media(&media_claims, media_token_ttl(view.duration_secs))?;
    let mut b = HttpResponse::Ok();
    b.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(MPEGURL)))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static(MASTER_CACHE_CONTROL),
        ));
    cors(&mut b);
    Ok(b.body(master_playlist(&renditions, &media_token)))
}

/// A rendition's media playlist, as stored (its segment URIs are relative, so they carry the
/// media token of this URL).
#[utoipa::path(tag = "playback", params(
    ("video_id" = Uuid, Path, description = "Video id"),
    ("media_token" = String, Path, description = "Media token, as the master playlist names it"),
    ("rendition" = String, Path, description = "Rendition, e.g. `720p`"),
), responses(
    (status = 200, description = "The media playlist", content_type = "application/vnd.apple.mpegurl"),
    (status = 206, description = "Part of it (`Range`)", content_type = "application/vnd.apple.mpegurl"),
    (status = 304, description = "Not modified (`If-None-Match`)"),
    (status = 403, description = "`invalid_playback_token`, `playback_token_expired`, `token_wrong_video` or `rendition_not_allowed`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`, or `video_not_found`: deleted, or made private to someone else (within 0.5 s, on every node)", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`video_not_ready`", body = Problem, content_type = "application/problem+json"),
    (status = 416, description = "`range_not_satisfiable`", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`blob_store_unavailable`; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[route(
    "/hls/{video_id}/t/{media_token}/{rendition}/index.m3u8",
    method = "GET",
    method = "HEAD"
)]
pub async fn media_playlist(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (video, rendition, viewer) = authorize(&state, &req).map_err(with_cors)?;
    still_playable(&state, video, &viewer)
        .await
        .map_err(with_cors)?;
    let path = layout::media_playlist(video, rendition);
    serve_blob(&state, &req, &path, MPEGURL, MEDIA_PLAYLIST_CACHE_CONTROL).await
}

/// One MPEG-TS segment of a rendition: cached in memory, with `ETag`, `Range` and long-lived
/// immutable caching (its URL is unique to a media token).
#[utoipa::path(tag = "playback", params(
    ("video_id" = Uuid, Path, description = "Video id"),
    ("media_token" = String, Path, description = "Media token, as the master playlist names it"),
    ("rendition" = String, Path, description = "Rendition, e.g. `720p`"),
    ("file" = String, Path, description = "Segment, `seg_NNNNN.ts`"),
), responses(
    (status = 200, description = "The segment", content_type = "video/mp2t"),
    (status = 206, description = "Part of it (`Range`)", content_type = "video/mp2t"),
    (status = 304, description = "Not modified (`If-None-Match`)"),
    (status = 403, description = "`invalid_playback_token`, `playback_token_expired`, `token_wrong_video` or `rendition_not_allowed`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: no such segment, or not a segment name; `video_not_found`: deleted, or made private to someone else (within 0.5 s, on every node)", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`video_not_ready`", body = Problem, content_type = "application/problem+json"),
    (status = 416, description = "`range_not_satisfiable`", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`blob_store_unavailable`; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[route(
    "/hls/{video_id}/t/{media_token}/{rendition}/{file}",
    method = "GET",
    method = "HEAD"
)]
pub async fn segment(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (video, rendition, viewer) = authorize(&state, &req).map_err(with_cors)?;
    still_playable(&state, video, &viewer)
        .await
        .map_err(with_cors)?;
    let file = param(&req, "file");
    if !valid_segment(file) {
        return Err(with_cors(file_not_found()));
    }
    let path = layout::rendition_file(video, rendition, file);
    serve_blob(&state, &req, &path, MP2T, SEGMENT_CACHE_CONTROL).await
}

/// CORS preflight for everything under `/hls/`.
#[utoipa::path(tag = "playback", params(
    ("tail" = String, Path, description = "Any path under /hls/"),
), responses(
    (status = 204, description = "Allowed: `GET, HEAD, OPTIONS` from any origin, with `Range` and `If-None-Match`"),
))]
#[options("/hls/{tail:.*}")]
pub async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        ))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        ))
        .insert_header((
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        ))
        .finish()
}
