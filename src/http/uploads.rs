//! `/api/v1/uploads`: tus 1.0 resumable uploads (core, creation, creation-with-upload,
//! expiration, checksum, termination), served by the upload actor.
//!
//! A PATCH streams its body straight into a part blob of its own (never whole in memory),
//! hashing it on the way when `Upload-Checksum` is given. Only when the blob is durable does
//! the upload actor append it, and only if the offset is still the one the PATCH started at;
//! then the answer is 204. If the connection drops mid-body, the bytes that arrived are kept
//! (unless a checksum was promised: then nothing can be verified and they are dropped), so a
//! client resumes from the new `Upload-Offset`.
//!
//! There is no tus server crate we would trust (the Rust ones are 0.x experiments), so the
//! handful of headers is parsed here, against the spec.

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use super::videos::editable;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderValue};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{delete, head, options, patch, post, web, HttpRequest, HttpResponse};
use base64::Engine;
use futures::StreamExt;
use sha1::Digest;
use troupe_actors::accounts::Role;
use troupe_actors::media::upload::{UploadError, UploadStatus, UploadView};
use troupe_actors::media::{layout, MediaError};
use uuid::Uuid;

/// The protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions supported.
pub const TUS_EXTENSIONS: &str = "creation,creation-with-upload,expiration,checksum,termination";
/// Checksum algorithms for `Upload-Checksum`.
pub const TUS_CHECKSUMS: &str = "sha1,sha256";
const OCTETS: &str = "application/offset+octet-stream";
/// Headers a browser client must be allowed to read.
const EXPOSE: &str = "Location, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, Upload-Defer-Length, Upload-Concat, Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, Tus-Checksum-Algorithm";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Tus-Resumable, Upload-Length, Upload-Metadata, Upload-Offset, Upload-Checksum, Upload-Defer-Length, Upload-Concat, X-HTTP-Method-Override, X-Requested-With";

/// Adds `Tus-Resumable` and CORS to every answer under `/api/v1/uploads`, errors included.
pub async fn tus_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let tus = req.path().starts_with("/api/v1/uploads");
    let preflight = req.method() == Method::OPTIONS;
    let mut res = next.call(req).await?;
    if tus {
        let h = res.headers_mut();
        if !preflight {
            h.insert(
                header::HeaderName::from_static("tus-resumable"),
                HeaderValue::from_static(TUS_VERSION),
            );
        }
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE),
        );
    }
    Ok(res)
}

fn status(code: u16, name: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
        name,
        detail,
    )
}

/// An upload refusal as an HTTP problem.
fn refused(e: UploadError) -> ApiError {
    MediaError::Upload(e).into()
}

/// 412 unless the client speaks our version.
pub(crate) fn check_version(req: &HttpRequest) -> Result<(), ApiError> {
    match req
        .headers()
        .get("tus-resumable")
        .and_then(|v| v.to_str().ok())
    {
        Some(TUS_VERSION) => Ok(()),
        Some(other) => {
            let mut e = status(
                412,
                "unsupported_tus_version",
                format!("Tus-Resumable {other} is not supported; this server speaks {TUS_VERSION}"),
            );
            e.headers.push(("tus-version", TUS_VERSION.into()));
            Err(e)
        }
        None => {
            let mut e = status(
                412,
                "unsupported_tus_version",
                format!("the Tus-Resumable header is required (this server speaks {TUS_VERSION})"),
            );
            e.headers.push(("tus-version", TUS_VERSION.into()));
            Err(e)
        }
    }
}

pub(crate) fn header_u64(
    h: &HeaderMap,
    name: &str,
    code: &'static str,
) -> Result<Option<u64>, ApiError> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(code, format!("{name} must be a non-negative integer"))
            }),
    }
}

/// One `Upload-Metadata` entry: a key and its decoded value, if it has one.
pub type MetadataPair = (String, Option<Vec<u8>>);

/// Parses `Upload-Metadata`: `key base64value,key2,...`, keys unique ASCII without spaces or
/// commas. Returns `(key, decoded value)` pairs.
pub fn parse_metadata(raw: &str) -> Result<Vec<MetadataPair>, String> {
    let mut out: Vec<MetadataPair> = Vec::new();
    for pair in raw.split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let mut it = pair.split(' ');
        let key = it.next().unwrap_or_default();
        if key.is_empty() || !key.is_ascii() || key.chars().any(|c| c.is_ascii_control()) {
            return Err(format!("bad key {key:?}"));
        }
        let value = match it.next() {
            None | Some("") => None,
            Some(v) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|_| format!("the value of {key:?} is not base64"))?,
            ),
        };
        if it.next().is_some() {
            return Err(format!(
                "the pair for {key:?} has more than a key and a value"
            ));
        }
        if out.iter().any(|(k, _)| k == key) {
            return Err(format!("the key {key:?} appears twice"));
        }
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

/// `Upload-Checksum: <algorithm> <base64 digest>`.
pub(crate) enum Checksum {
    Sha1(sha1::Sha1, Vec<u8>),
    Sha256(sha2::Sha256, Vec<u8>),
}

impl Checksum {
    pub(crate) fn parse(h: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let Some(v) = h.get("upload-checksum") else {
            return Ok(None);
        };
        let bad = || {
            ApiError::bad_request(
                "invalid_checksum_header",
                "Upload-Checksum must be '<algorithm> <base64 digest>'",
            )
        };
        let (alg, digest) = v
            .to_str()
            .ok()
            .and_then(|s| s.trim().split_once(' '))
            .ok_or_else(bad)?;
        let digest = base64::engine::general_purpose::STANDARD
            .decode(digest.trim())
            .map_err(|_| bad())?;
        match alg.to_ascii_lowercase().as_str() {
            "sha1" => Ok(Some(Checksum::Sha1(sha1::Sha1::new(), digest))),
            "sha256" => Ok(Some(Checksum::Sha256(sha2::Sha256::new(), digest))),
            other => Err(ApiError::bad_request(
                "unsupported_checksum_algorithm",
                format!(
                    "checksum algorithm {other:?} is not supported; use one of {TUS_CHECKSUMS}"
                ),
            )),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Checksum::Sha1(h, _) => h.update(bytes),
            Checksum::Sha256(h, _) => h.update(bytes),
        }
    }

    fn matches(self) -> bool {
        match self {
            Checksum::Sha1(h, want) => h.finalize().as_slice() == want.as_slice(),
            Checksum::Sha256(h, want) => h.finalize().as_slice() == want.as_slice(),
        }
    }
}

fn expires(view: &UploadView) -> String {
    httpdate::fmt_http_date(view.expires_at.into())
}

/// The upload a request names, if it speaks our tus version, the caller may write the upload,
/// and the upload has not ended.
async fn live(
    state: &AppState,
    req: &HttpRequest,
    user: &AuthUser,
    id: &str,
) -> Result<UploadView, ApiError> {
    check_version(req)?;
    let view = owned(state, user, id).await?;
    gone(&view)?;
    Ok(view)
}

/// The upload, if the caller may write it.
async fn owned(state: &AppState, user: &AuthUser, id: &str) -> Result<UploadView, ApiError> {
    let id = Uuid::parse_str(id)
        .map_err(|_| ApiError::not_found("upload_not_found", "no such upload"))?;
    let view = state.media.upload(id).await?;
    if view.owner_id != user.0.uid && user.0.role != Role::Admin {
        return Err(ApiError::forbidden("this upload belongs to another user"));
    }
    Ok(view)
}

fn gone(view: &UploadView) -> Result<(), ApiError> {
    match view.status {
        UploadStatus::Terminated | UploadStatus::Expired => Err(refused(UploadError::Gone)),
        _ => Ok(()),
    }
}

/// Discovery: version, extensions, limits. Also the CORS preflight.
#[utoipa::path(tag = "uploads", responses((status = 204, description = "Capabilities in `Tus-Version`, `Tus-Extension`, `Tus-Max-Size`, `Tus-Checksum-Algorithm`")))]
#[options("/api/v1/uploads")]
pub async fn options(state: web::Data<AppState>) -> HttpResponse {
    capabilities(&state)
}

/// Discovery and CORS preflight for one upload.
#[utoipa::path(tag = "uploads", params(("id" = Uuid, Path, description = "Upload id")), responses((status = 204, description = "Capabilities")))]
#[options("/api/v1/uploads/{id}")]
pub async fn options_one(state: web::Data<AppState>) -> HttpResponse {
    capabilities(&state)
}

fn capabilities(state: &AppState) -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("tus-version", TUS_VERSION))
        .insert_header(("tus-extension", TUS_EXTENSIONS))
        .insert_header((
            "tus-max-size",
            state.config.media.max_upload_bytes.to_string(),
        ))
        .insert_header(("tus-checksum-algorithm", TUS_CHECKSUMS))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "POST, GET, HEAD, PATCH, DELETE, OPTIONS",
        ))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()
}

/// Creates an upload for one of the caller's videos (`Upload-Metadata` must name it as
/// `video_id`). With a body (`Content-Type: application/offset+octet-stream`) its bytes are
/// the upload's first (creation-with-upload).
#[utoipa::path(tag = "uploads", security(("bearer" = [])), responses(
    (status = 201, description = "Created; `Location` is the upload URL"),
    (status = 400, description = "`missing_upload_length`, `invalid_upload_metadata`, `missing_video_id`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: not your video", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`video_conflict`: the video already has its file", body = Problem, content_type = "application/problem+json"),
    (status = 412, description = "`unsupported_tus_version`", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "`upload_too_large`: over `Tus-Max-Size`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/uploads")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    check_version(&req)?;
    let h = req.headers();
    if h.contains_key("upload-defer-length") {
        return Err(ApiError::bad_request(
            "defer_length_unsupported",
            "Upload-Defer-Length is not supported: send Upload-Length",
        ));
    }
    if h.contains_key("upload-concat") {
        return Err(ApiError::bad_request(
            "concatenation_unsupported",
            "the concatenation extension is not supported",
        ));
    }
    let length = header_u64(h, "upload-length", "invalid_upload_length")?.ok_or_else(|| {
        ApiError::bad_request("missing_upload_length", "Upload-Length is required")
    })?;
    let max = state.config.media.max_upload_bytes;
    if length > max {
        return Err(status(
            413,
            "upload_too_large",
            format!("Upload-Length {length} is over the maximum of {max} bytes"),
        ));
    }
    let raw_meta = h
        .get("upload-metadata")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| {
            ApiError::bad_request("invalid_upload_metadata", "Upload-Metadata must be ASCII")
        })?;
    let meta = parse_metadata(raw_meta.as_deref().unwrap_or("")).map_err(|e| {
        ApiError::bad_request(
            "invalid_upload_metadata",
            format!("Upload-Metadata is malformed: {e}"),
        )
    })?;
    let video = meta
        .iter()
        .find(|(k, _)| k == "video_id")
        .and_then(|(_, v)| v.as_ref())
        .and_then(|v| std::str::from_utf8(v).ok())
        .ok_or_else(|| ApiError::bad_request("missing_video_id", "Upload-Metadata must name the video: video_id <base64 of the id from POST /api/v1/videos>"))?;
    let video = Uuid::parse_str(video.trim())
        .map_err(|_| ApiError::not_found("video_not_found", "no such video"))?;
    editable(&state, video, &user).await?;
    let view = state
        .media
        .create_upload(video, user.0.uid, length, raw_meta)
        .await?;
    tracing::info!(upload = %view.id, %video, length, "upload created");
    let location = format!("/api/v1/uploads/{}", view.id);
    let with_body = h
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(OCTETS.as_bytes()));
    let view = if with_body && length > 0 {
        match write(&state, &req, &view, 0, payload).await {
            Ok(v) => v,
            // The upload exists: the client resumes it with HEAD and PATCH.
            Err(e) => {
                tracing::info!(upload = %view.id, error = %e, "the body of a creation-with-upload was not stored");
                view
            }
        }
    } else {
        view
    };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header(("upload-offset", view.offset.to_string()))
        .insert_header(("upload-expires", expires(&view)))
        .finish())
}

/// Where an upload is: `Upload-Offset` (bytes durably stored) and `Upload-Length`.
#[utoipa::path(tag = "uploads", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Upload id")), responses(
    (status = 200, description = "`Upload-Offset`, `Upload-Length`, `Upload-Metadata`, `Upload-Expires`"),
    (status = 404, description = "`upload_not_found`"),
    (status = 410, description = "`upload_gone`: terminated or expired"),
))]
#[head("/api/v1/uploads/{id}")]
pub async fn head(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    do_head(&state, &req, &user, &path).await
}

async fn do_head(
    state: &AppState,
    req: &HttpRequest,
    user: &AuthUser,
    id: &str,
) -> Result<HttpResponse, ApiError> {
    let view = live(state, req, user, id).await?;
    let mut res = HttpResponse::Ok();
    res.insert_header(("upload-offset", view.offset.to_string()))
        .insert_header(("upload-length", view.length.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if view.status == UploadStatus::Uploading {
        res.insert_header(("upload-expires", expires(&view)));
    }
    if let Some(m) = &view.metadata {
        res.insert_header(("upload-metadata", m.as_str()));
    }
    Ok(res.finish())
}

/// Appends bytes at `Upload-Offset`. Answers 204 only once they are durable.
#[utoipa::path(tag = "uploads", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Upload id")), responses(
    (status = 204, description = "Stored; `Upload-Offset` is the new offset"),
    (status = 400, description = "`missing_upload_offset`, `invalid_checksum_header`, `unsupported_checksum_algorithm`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`upload_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`offset_mismatch` or `upload_complete`", body = Problem, content_type = "application/problem+json"),
    (status = 410, description = "`upload_gone`", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "`upload_too_long`: past `Upload-Length`", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`: not `application/offset+octet-stream`", body = Problem, content_type = "application/problem+json"),
    (status = 460, description = "`checksum_mismatch`: nothing was stored", body = Problem, content_type = "application/problem+json"),
))]
#[patch("/api/v1/uploads/{id}")]
pub async fn patch(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    do_patch(&state, &req, &user, &path, payload).await
}

async fn do_patch(
    state: &AppState,
    req: &HttpRequest,
    user: &AuthUser,
    id: &str,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    check_version(req)?;
    let h = req.headers();
    if !h
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(OCTETS.as_bytes()))
    {
        return Err(status(
            415,
            "unsupported_media_type",
            format!("a PATCH body must be sent as Content-Type: {OCTETS}"),
        ));
    }
    let offset = header_u64(h, "upload-offset", "invalid_upload_offset")?.ok_or_else(|| {
        ApiError::bad_request("missing_upload_offset", "Upload-Offset is required")
    })?;
    let view = owned(state, user, id).await?;
    gone(&view)?;
    let view = write(state, req, &view, offset, payload).await?;
    if view.status == UploadStatus::Complete {
        // This PATCH completed it (`write` refuses a complete upload).
        super::webhooks::upload_completed(state, &view).await;
    }
    let mut res = HttpResponse::NoContent();
    res.insert_header(("upload-offset", view.offset.to_string()));
    if view.status == UploadStatus::Uploading {
        res.insert_header(("upload-expires", expires(&view)));
    }
    Ok(res.finish())
}

/// Streams the body into a part blob and commits it at `offset`.
async fn write(
    state: &AppState,
    req: &HttpRequest,
    view: &UploadView,
    offset: u64,
    mut payload: web::Payload,
) -> Result<UploadView, ApiError> {
    let h = req.headers();
    if view.status == UploadStatus::Complete {
        return Err(refused(UploadError::Complete));
    }
    if offset != view.offset {
        return Err(refused(UploadError::OffsetMismatch {
            expected: view.offset,
            got: offset,
        }));
    }
    let remaining = view.length - offset;
    if let Some(len) = header_u64(h, "content-length", "invalid_content_length")? {
        if len > remaining {
            return Err(refused(UploadError::TooLong(view.length)));
        }
    }
    let mut checksum = Checksum::parse(h)?;
    let patch_id = Uuid::new_v4();
    let key = layout::upload_part(view.id, offset, patch_id);
    let store_err = |e: troupe_runtime::blob::BlobError| {
        ApiError::unavailable(
            "blob_store_unavailable",
            format!("the bytes could not be stored: {e}"),
            2,
        )
    };
    let mut writer = state
        .blobs
        .writer(
            &key,
            state.config.media.upload_part_bytes.max(5 * 1024 * 1024),
        )
        .await
        .map_err(store_err)?;
    let mut broken = false;
    let started = std::time::Instant::now();
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(upload = %view.id, error = %e, received = writer.written(), "a PATCH body broke off");
                broken = true;
                break;
            }
        };
        if writer.written() + chunk.len() as u64 > remaining {
            writer.abort().await;
            return Err(refused(UploadError::TooLong(view.length)));
        }
        if let Some(c) = checksum.as_mut() {
            c.update(&chunk);
        }
        if let Err(e) = writer.write(chunk).await {
            writer.abort().await;
            return Err(store_err(e));
        }
    }
    let n = writer.written();
    if broken && (checksum.is_some() || n == 0) {
        // Unverifiable, or nothing: keep nothing.
        writer.abort().await;
        return Err(ApiError::bad_request(
            "body_incomplete",
            "the body broke off; HEAD the upload and resume",
        ));
    }
    if let Some(c) = checksum {
        if !c.matches() {
            writer.abort().await;
            return Err(status(
                460,
                "checksum_mismatch",
                "the body does not match Upload-Checksum; nothing was stored, send it again",
            ));
        }
    }
    if n == 0 {
        writer.abort().await;
        return Ok(view.clone());
    }
    writer.finish().await.map_err(store_err)?;
    metrics::histogram!("troupe_upload_part_write_seconds").record(started.elapsed().as_secs_f64());
    metrics::counter!("troupe_upload_bytes_total").increment(n);
    match state
        .media
        .commit(view.id, patch_id, offset, n, key.clone())
        .await
    {
        Ok(v) => {
            if v.offset == v.length {
                tracing::info!(upload = %v.id, video = %v.video, bytes = v.length, "upload complete");
            }
            Ok(v)
        }
        Err(e) => {
            // Lost a race with another PATCH, or the upload ended: the part is nobody's.
            let _ = state.blobs.delete(&key).await;
            Err(e.into())
        }
    }
}

/// Terminates an upload and deletes its bytes (tus termination).
#[utoipa::path(tag = "uploads", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Upload id")), responses(
    (status = 204, description = "Terminated"),
    (status = 404, description = "`upload_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 410, description = "`upload_gone`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/uploads/{id}")]
pub async fn terminate(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    do_delete(&state, &req, &user, &path).await
}

async fn do_delete(
    state: &AppState,
    req: &HttpRequest,
    user: &AuthUser,
    id: &str,
) -> Result<HttpResponse, ApiError> {
    let view = live(state, req, user, id).await?;
    state.media.terminate(view.id).await?;
    tracing::info!(upload = %view.id, "upload terminated");
    Ok(HttpResponse::NoContent().finish())
}

/// `X-HTTP-Method-Override` for clients that cannot send PATCH, DELETE or HEAD.
#[utoipa::path(tag = "uploads", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Upload id")), responses(
    (status = 204, description = "As the overriding method"),
    (status = 405, description = "`method_not_allowed`: no or unknown override", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/uploads/{id}")]
pub async fn override_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let method = req
        .headers()
        .get("x-http-method-override")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_uppercase);
    match method.as_deref() {
        Some("PATCH") => do_patch(&state, &req, &user, &path, payload).await,
        Some("DELETE") => do_delete(&state, &req, &user, &path).await,
        Some("HEAD") => do_head(&state, &req, &user, &path).await,
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "POST to an upload needs X-HTTP-Method-Override: PATCH, DELETE or HEAD",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_parses_per_the_spec() {
        let m = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")
            .unwrap();
        assert_eq!(m[0].0, "filename");
        assert_eq!(m[0].1.as_deref(), Some(&b"world_domination_plan.pdf"[..]));
        assert_eq!(m[1], ("is_confidential".to_string(), None));
        assert!(parse_metadata("").unwrap().is_empty());
    }

    #[test]
    fn bad_metadata_is_refused() {
        assert!(parse_metadata("a !!!").is_err(), "not base64");
        assert!(parse_metadata("a YQ==,a YQ==").is_err(), "duplicate key");
        assert!(parse_metadata("a YQ== b").is_err(), "three parts");
    }
}
