//! The one HTTP error type: RFC 9457 `application/problem+json` with a stable `code`.
//!
//! Every failure a client can see goes through [`ApiError`], including actix's own extractor
//! errors (bad JSON, wrong content type, oversized body, bad query or path), so that clients
//! can always branch on `code`. Timeouts and unavailable actors are 503 with `Retry-After`,
//! never 500.

use actix_web::http::{header, StatusCode};
use actix_web::{error::JsonPayloadError, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;
use troupe_actors::accounts::AccountError;
use troupe_actors::channels::ChannelError;
use troupe_actors::media::upload::UploadError;
use troupe_actors::media::video::VideoError;
use troupe_actors::media::MediaError;
use troupe_actors::playback::session::SessionError;
use troupe_actors::playback::PlaybackError;
use troupe_runtime::CallError;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `username_taken`.
    pub code: &'static str,
    /// Human-readable explanation of this occurrence.
    pub detail: String,
    /// Seconds after which a retry may succeed (sets `Retry-After`).
    pub retry_after: Option<u64>,
    /// Extra response headers (rate-limit state, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
    /// Extension members of the problem body (RFC 9457 §3.2), e.g. the live streams of a
    /// refused playback session.
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The problem+json body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the status.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Explanation of this occurrence.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
}

impl ApiError {
    /// An error with a status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
            headers: Vec::new(),
            extra: None,
        }
    }

    /// Adds extension members to the problem body.
    pub fn with_extra(mut self, extra: serde_json::Map<String, serde_json::Value>) -> Self {
        self.extra = Some(extra);
        self
    }

    /// 400.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 401, with a `WWW-Authenticate` challenge.
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, code, detail);
        let challenge = if code == "missing_token" {
            "Bearer realm=\"troupe\"".to_string()
        } else {
            "Bearer realm=\"troupe\", error=\"invalid_token\"".to_string()
        };
        e.headers.push(("www-authenticate", challenge));
        e
    }

    /// 403 `account_suspended`: the caller's account is suspended, for `reason`.
    pub fn suspended(reason: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "account_suspended",
            format!("this account is suspended: {reason}"),
        )
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(code: &'static str, detail: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail);
        e.retry_after = Some(retry_after);
        e
    }

    fn problem(&self) -> Problem {
        Problem {
            type_: format!(
                "https://troupe.dev/problems/{}",
                self.code.replace('_', "-")
            ),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        for (name, value) in &self.headers {
            res.insert_header((*name, value.as_str()));
        }
        let body = match (&self.extra, serde_json::to_value(self.problem())) {
            (Some(extra), Ok(serde_json::Value::Object(mut map))) => {
                for (k, v) in extra {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
                serde_json::to_vec(&map)
            }
            _ => serde_json::to_vec(&self.problem()),
        };
        res.body(body.unwrap_or_default())
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Timeout => ApiError::unavailable(
                "timeout",
                "the request timed out inside the server; retry",
                1,
            ),
            CallError::Stopped => ApiError::unavailable(
                "actor_restarting",
                "the actor handling this request restarted; retry",
                1,
            ),
            CallError::Unavailable(d) => ApiError::unavailable("unavailable", d, 2),
            CallError::ShuttingDown => ApiError::unavailable(
                "shutting_down",
                "this node is shutting down; retry on another or shortly",
                5,
            ),
            CallError::Fenced => ApiError::unavailable(
                "actor_moved",
                "the actor moved to another node while handling this request; retry",
                1,
            ),
            CallError::Unreachable(d) => ApiError::unavailable(
                "node_unreachable",
                format!("the node that owns this data is unreachable ({d}); its data moves to another node within seconds, retry"),
                1,
            ),
            CallError::NoQuorum => ApiError::unavailable(
                "no_quorum",
                "this node cannot see a majority of the cluster, so it serves nothing; retry on another node or shortly",
                2,
            ),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        use StatusCode as S;
        match e {
            AccountError::InvalidUsername(d) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_username",
                format!("username {d}"),
            ),
            AccountError::InvalidEmail(d) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_email",
                format!("email {d}"),
            ),
            AccountError::WeakPassword(d) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                "weak_password",
                format!("password too weak: {d}"),
            ),
            AccountError::UsernameTaken => ApiError::new(
                S::CONFLICT,
                "username_taken",
                "that username is already taken",
            ),
            AccountError::EmailTaken => ApiError::new(
                S::CONFLICT,
                "email_taken",
                "an account with that email already exists",
            ),
            AccountError::InvalidCredentials => ApiError::unauthorized(
                "invalid_credentials",
                "invalid username or password, or the account is temporarily locked",
            ),
            AccountError::RefreshInvalid => ApiError::unauthorized(
                "invalid_refresh_token",
                "the refresh token is invalid, expired or revoked; log in again",
            ),
            AccountError::RefreshReused => ApiError::unauthorized(
                "refresh_token_reused",
                "this refresh token was already used; every session of that login has been revoked",
            ),
            AccountError::NotFound => ApiError::not_found("user_not_found", "no such user"),
            AccountError::WrongPassword => ApiError::new(
                S::FORBIDDEN,
                "wrong_password",
                "the current password is wrong",
            ),
            AccountError::EmailNotVerified => ApiError::new(
                S::FORBIDDEN,
                "email_not_verified",
                "confirm your email address first with the link mailed to you; if it is lost or expired, a password reset (whose link also confirms the address) gets you in",
            ),
            AccountError::TokenInvalid => ApiError::bad_request(
                "invalid_token",
                "this link is not valid; copy it again from the mail, or ask for a new one",
            ),
            AccountError::TokenExpired => ApiError::new(
                S::GONE,
                "token_expired",
                "this link was used already or has expired; ask for a new one",
            ),
            AccountError::Suspended(s) => ApiError::suspended(&s.reason),
            AccountError::Store(d) => ApiError::unavailable(
                "store_unavailable",
                format!("state store error, nothing was changed: {d}"),
                2,
            ),
            AccountError::Unavailable(c) => c.into(),
        }
    }
}

impl From<ChannelError> for ApiError {
    fn from(e: ChannelError) -> Self {
        use StatusCode as S;
        match e {
            ChannelError::InvalidHandle(d) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_handle",
                format!("handle {d}"),
            ),
            ChannelError::Invalid { field, reason } => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_channel",
                format!("{field} {reason}"),
            ),
            ChannelError::HandleTaken => ApiError::new(
                S::CONFLICT,
                "handle_taken",
                "that handle is taken by a channel or a username",
            ),
            ChannelError::NotFound => ApiError::not_found("channel_not_found", "no such channel"),
            ChannelError::Forbidden => {
                ApiError::forbidden("only the channel's owner or an admin may do this")
            }
            ChannelError::HasVideos(n) => ApiError::new(
                S::CONFLICT,
                "channel_has_videos",
                format!("the channel still has {n} videos; delete them first"),
            ),
            ChannelError::DefaultChannel => ApiError::new(
                S::CONFLICT,
                "default_channel",
                "a user's default channel cannot be deleted",
            ),
            ChannelError::LimitReached(n) => ApiError::new(
                S::CONFLICT,
                "channel_limit_reached",
                format!("a user may own at most {n} channels"),
            ),
            ChannelError::FollowLimit(n) => ApiError::new(
                S::CONFLICT,
                "subscription_limit_reached",
                format!("a user may subscribe to at most {n} channels"),
            ),
            ChannelError::Store(d) => ApiError::unavailable(
                "store_unavailable",
                format!("state store error, nothing was changed: {d}"),
                2,
            ),
            ChannelError::Unavailable(c) => c.into(),
        }
    }
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        use StatusCode as S;
        match e {
            MediaError::Invalid { field, reason } => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_video",
                format!("{field} {reason}"),
            ),
            MediaError::Video(VideoError::NotFound) => {
                ApiError::not_found("video_not_found", "no such video")
            }
            MediaError::Video(VideoError::Conflict(d)) => {
                ApiError::new(S::CONFLICT, "video_conflict", d)
            }
            MediaError::Video(VideoError::Superseded) => ApiError::new(
                S::CONFLICT,
                "upload_superseded",
                "the video now expects another upload",
            ),
            MediaError::Video(VideoError::Store(d)) | MediaError::Upload(UploadError::Store(d)) => {
                ApiError::unavailable(
                    "store_unavailable",
                    format!("state store error, nothing was changed: {d}"),
                    2,
                )
            }
            MediaError::Upload(u) => upload_error(u),
            MediaError::Unavailable(c) => c.into(),
            MediaError::Store(d) => {
                ApiError::unavailable("store_unavailable", format!("storage error: {d}"), 2)
            }
        }
    }
}

impl From<PlaybackError> for ApiError {
    fn from(e: PlaybackError) -> Self {
        match e {
            PlaybackError::Session(SessionError::NotFound) => ApiError::not_found(
                "session_not_found",
                "no live playback session with this id (it ended, expired, or is not yours)",
            ),
            PlaybackError::Session(SessionError::InvalidPosition(d)) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_position", d)
            }
            PlaybackError::Session(SessionError::Limit { limit, .. }) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "concurrent_limit_exceeded",
                format!("the plan allows {limit} streams at once"),
            ),
            PlaybackError::Call(c) => c.into(),
            PlaybackError::Store(d) => {
                ApiError::unavailable("store_unavailable", format!("storage error: {d}"), 2)
            }
        }
    }
}

fn upload_error(e: UploadError) -> ApiError {
    use StatusCode as S;
    match e {
        UploadError::NotFound => ApiError::not_found("upload_not_found", "no such upload"),
        UploadError::Gone => ApiError::new(
            S::GONE,
            "upload_gone",
            "the upload was terminated or has expired; start a new one",
        ),
        UploadError::OffsetMismatch { expected, got } => ApiError::new(
            S::CONFLICT,
            "offset_mismatch",
            format!("Upload-Offset is {got} but the upload is at {expected}; HEAD the upload and resume from its offset"),
        ),
        UploadError::TooLong(len) => ApiError::new(
            S::PAYLOAD_TOO_LARGE,
            "upload_too_long",
            format!("the body goes past the declared Upload-Length of {len} bytes"),
        ),
        UploadError::Complete => ApiError::new(
            S::CONFLICT,
            "upload_complete",
            "every byte of this upload has already arrived",
        ),
        UploadError::Video(v) => MediaError::Video(v).into(),
        UploadError::Superseded => ApiError::new(
            S::CONFLICT,
            "upload_superseded",
            "the video now expects another upload",
        ),
        UploadError::NotRetryable(d) => ApiError::new(StatusCode::CONFLICT, "invalid_state", d),
        UploadError::SourceGone => ApiError::new(
            StatusCode::CONFLICT,
            "source_gone",
            "the uploaded file is no longer kept; upload it again",
        ),
        UploadError::Unavailable(c) => c.into(),
        UploadError::Store(d) => ApiError::unavailable(
            "store_unavailable",
            format!("state store error, nothing was changed: {d}"),
            2,
        ),
    }
}

/// Maps actix's JSON extractor errors to problems.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    json_problem(&err).into()
}

/// The problem a JSON body error answers: 415, 413, 422 `invalid_body` or 400 `malformed_json`.
pub fn json_problem(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON, sent with Content-Type: application/json",
        ),
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        ),
        JsonPayloadError::Deserialize(de) if de.is_data() => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("the JSON body does not match: {de}"),
        ),
        JsonPayloadError::Deserialize(de) => ApiError::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {de}"),
        ),
        other => ApiError::bad_request("invalid_body", other.to_string()),
    }
}

/// Maps query-string extractor errors to problems.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    ApiError::bad_request("invalid_query", err.to_string()).into()
}

/// Maps path extractor errors to problems.
pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::not_found("not_found", err.to_string()).into()
}

/// A page size from a query: `limit` (default 20) must be 1 to 100, else 400 `invalid_query`.
pub fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(20);
    if (1..=100).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 100",
        ))
    }
}

/// Trims what the OpenAPI document's `\S` pattern (ECMAScript's `\s`) calls space, so that a
/// text the document accepts as "not only spaces" is never refused as blank. Rust's `trim`
/// differs on U+0085 (space to Rust, a character to ECMAScript) and U+FEFF (the reverse).
pub fn trim_blank(s: &str) -> &str {
    s.trim_matches(|c: char| (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}')
}
