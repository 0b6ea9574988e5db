//! Channel avatars: `PUT`, `DELETE /api/v1/channels/{handle}/avatar` (owner or admin) and
//! `GET /api/v1/channels/{handle}/avatar/{size}.jpg` (public).
//!
//! An upload is checked by ffprobe (one image stream of a known image codec, of sane size) and
//! scaled by ffmpeg to two squares, 48 and 192 px (cropped to the centre), stored as JPEG in the
//! blob store under `channels/<id>/avatar/<version>/`. Each upload is a new version, so its
//! URLs (which carry `?v=<version>`) can be cached for long; the old version's blobs go.

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, put, web, HttpRequest, HttpResponse};
use futures::StreamExt;
use std::process::Stdio;
use std::time::Duration;
use troupe_actors::channels::{ChannelView, AVATAR_SIZES};
use uuid::Uuid;

/// The largest avatar upload, in bytes.
pub const MAX_AVATAR_BYTES: usize = 5 * 1024 * 1024;
/// The largest width or height an avatar may have, in pixels.
pub const MAX_AVATAR_SIDE: u64 = 8_192;
/// Codecs ffprobe reports for still images.
const IMAGE_CODECS: [&str; 6] = ["mjpeg", "png", "webp", "gif", "bmp", "tiff"];
/// How long one ffprobe or ffmpeg run may take.
const TOOL_DEADLINE: Duration = Duration::from_secs(30);

fn prefix(channel: Uuid) -> String {
    format!("channels/{channel}/avatar/")
}

fn key(channel: Uuid, version: u64, size: u32) -> String {
    format!("channels/{channel}/avatar/{version}/{size}.jpg")
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_image", detail)
}

/// Runs a tool to its end (killed after [`TOOL_DEADLINE`] or when dropped); its stdout, or
/// its stderr as the error.
async fn run(program: &str, args: &[&str]) -> Result<Vec<u8>, String> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(TOOL_DEADLINE, child).await {
        Err(_) => Err(format!("{program} took longer than {TOOL_DEADLINE:?}")),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "{program} not found on PATH; install ffmpeg (apt-get install -y ffmpeg)"
        )),
        Ok(Err(e)) => Err(format!("{program} could not run: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(out.stdout),
        Ok(Ok(out)) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
    }
}

/// A temp dir removed on every path.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks that `input` is one image, and scales it to each of [`AVATAR_SIZES`] (JPEG).
async fn scale(state: &AppState, dir: &std::path::Path) -> Result<Vec<(u32, Vec<u8>)>, ApiError> {
    let input = dir.join("upload");
    let input_s = input.to_string_lossy().into_owned();
    let media = &state.config.media;
    let probe = run(
        &media.ffprobe,
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,width,height",
            "-of",
            "json",
            &input_s,
        ],
    )
    .await
    .map_err(|e| invalid(format!("not an image ffprobe can read: {e}")))?;
    let probed: serde_json::Value = serde_json::from_slice(&probe)
        .map_err(|e| invalid(format!("ffprobe said something unreadable: {e}")))?;
    let streams = probed["streams"].as_array().cloned().unwrap_or_default();
    let image = match streams.as_slice() {
        [s] if s["codec_type"] == "video"
            && IMAGE_CODECS.contains(&s["codec_name"].as_str().unwrap_or_default()) =>
        {
            s.clone()
        }
        _ => {
            return Err(invalid(format!(
                "expected one still image ({}), found {}",
                IMAGE_CODECS.join(", "),
                if streams.is_empty() {
                    "no picture".to_owned()
                } else {
                    streams
                        .iter()
                        .map(|s| {
                            format!(
                                "{} {}",
                                s["codec_type"].as_str().unwrap_or("?"),
                                s["codec_name"].as_str().unwrap_or("?")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )))
        }
    };
    let (w, h) = (
        image["width"].as_u64().unwrap_or(0),
        image["height"].as_u64().unwrap_or(0),
    );
    if w == 0 || h == 0 || w > MAX_AVATAR_SIDE || h > MAX_AVATAR_SIDE {
        return Err(invalid(format!(
            "the image is {w}×{h}; each side must be 1 to {MAX_AVATAR_SIDE} pixels"
        )));
    }
    let mut out = Vec::new();
    for size in AVATAR_SIZES {
        let file = dir.join(format!("{size}.jpg"));
        let file_s = file.to_string_lossy().into_owned();
        let filter =
            format!("scale={size}:{size}:force_original_aspect_ratio=increase,crop={size}:{size}");
        run(
            &media.ffmpeg,
            &[
                "-v",
                "error",
                "-y",
                "-i",
                &input_s,
                "-frames:v",
                "1",
                "-vf",
                &filter,
                "-q:v",
                "3",
                &file_s,
            ],
        )
        .await
        .map_err(|e| invalid(format!("ffmpeg could not scale the image: {e}")))?;
        let bytes = tokio::fs::read(&file)
            .await
            .map_err(|e| ApiError::unavailable("scratch_unavailable", e.to_string(), 2))?;
        out.push((size, bytes));
    }
    Ok(out)
}

/// Sets a channel's avatar from an uploaded image (owner or admin): the body is the image,
/// with an `image/*` content type, at most 5 MiB. It is scaled to 48 and 192 px squares.
#[utoipa::path(tag = "channels", security(("bearer" = [])), params(("handle" = String, Path, description = "Channel handle")),
    request_body(content = Vec<u8>, content_type = "image/*", description = "The image (PNG, JPEG, WebP, GIF, BMP, TIFF)"),
    responses(
    (status = 200, description = "The channel with its new avatar", body = ChannelView),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: someone else's channel", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "`payload_too_large`: over 5 MiB", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: not sent as `image/*`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_image`: not an image ffprobe recognises, or too large", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/channels/{handle}/avatar")]
pub async fn put_avatar(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    path: web::Path<String>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let channel = super::channels::editable(&state, &user, &path).await?;
    let image_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("image/"));
    if !image_type {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the avatar as the body, with an image/* Content-Type",
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("an avatar is at most {MAX_AVATAR_BYTES} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_AVATAR_BYTES) {
        return Err(too_large());
    }
    let mut data = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        if data.len() + chunk.len() > MAX_AVATAR_BYTES {
            return Err(too_large());
        }
        data.extend_from_slice(&chunk);
    }
    if data.is_empty() {
        return Err(invalid("the body is empty"));
    }
    let scratch = Scratch(std::env::temp_dir().join(format!("troupe-avatar-{}", Uuid::new_v4())));
    tokio::fs::create_dir_all(&scratch.0)
        .await
        .map_err(|e| ApiError::unavailable("scratch_unavailable", e.to_string(), 2))?;
    tokio::fs::write(scratch.0.join("upload"), &data)
        .await
        .map_err(|e| ApiError::unavailable("scratch_unavailable", e.to_string(), 2))?;
    let scaled = scale(&state, &scratch.0).await?;
    drop(scratch);
    let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
    let previous = channel.avatar.as_ref().and_then(|a| version_of(&a.small));
    let version = now_ms.max(previous.map_or(0, |p| p + 1));
    for (size, bytes) in scaled {
        state
            .blobs
            .put(&key(channel.id, version, size), bytes.into())
            .await
            .map_err(|e| ApiError::unavailable("blob_store_unavailable", e.to_string(), 2))?;
    }
    let updated = state.channels.set_avatar(channel.id, Some(version)).await?;
    if let Some(old) = previous {
        for size in AVATAR_SIZES {
            let _ = state.blobs.delete(&key(channel.id, old, size)).await;
        }
    }
    tracing::info!(channel = %channel.handle, version, "avatar set");
    Ok(HttpResponse::Ok().json(updated))
}

/// The version in an avatar URL (`…?v=<version>`).
fn version_of(url: &str) -> Option<u64> {
    url.rsplit_once("?v=").and_then(|(_, v)| v.parse().ok())
}

/// Removes a channel's avatar (owner or admin).
#[utoipa::path(tag = "channels", security(("bearer" = [])), params(("handle" = String, Path, description = "Channel handle")), responses(
    (status = 204, description = "No avatar (any more)"),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: someone else's channel", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/channels/{handle}/avatar")]
pub async fn delete_avatar(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let channel = super::channels::editable(&state, &user, &path).await?;
    state.channels.set_avatar(channel.id, None).await?;
    let _ = state.blobs.delete_prefix(&prefix(channel.id)).await;
    Ok(HttpResponse::NoContent().finish())
}

/// A channel's avatar image (public): `48.jpg` or `192.jpg`.
#[utoipa::path(tag = "channels", params(("handle" = String, Path, description = "Channel handle"), ("size" = u32, Path, description = "48 or 192")), responses(
    (status = 200, description = "The image; cacheable (a new avatar has a new URL)", content_type = "image/jpeg"),
    (status = 404, description = "`channel_not_found`, `avatar_not_found` (none set) or `not_found` (another size)", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/channels/{handle}/avatar/{size}.jpg")]
pub async fn get_avatar(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (handle, size) = path.into_inner();
    let size: u32 = size
        .parse()
        .ok()
        .filter(|s| AVATAR_SIZES.contains(s))
        .ok_or_else(|| ApiError::not_found("not_found", "avatars come in 48 and 192 px"))?;
    let channel = state.channels.require(&handle).await?;
    let version = channel
        .avatar
        .as_ref()
        .and_then(|a| version_of(&a.small))
        .ok_or_else(|| ApiError::not_found("avatar_not_found", "the channel has no avatar"))?;
    super::hls::serve_blob(
        &state,
        &req,
        &key(channel.id, version, size),
        "image/jpeg",
        "public, max-age=86400",
    )
    .await
}
