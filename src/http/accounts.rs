//! `/api/v1/auth/*`: register, login, refresh, logout.
//!
//! Two ways to hold a login:
//! - **API clients** get the refresh token in the body and send it back in the body.
//! - **Browsers** (the console) ask for it in a cookie (`refresh_cookie: true`): `troupe_refresh`,
//!   `HttpOnly` (no script can read it), `SameSite=Strict`, scoped to `/api/v1/auth`, and
//!   `Secure` except over plain HTTP on a loopback address. Refresh and logout then send no
//!   body, and must carry `X-Troupe-CSRF: 1`: a header a cross-site form cannot send, and a
//!   cross-origin script cannot send without a CORS preflight this server never grants.
//!   The access token stays in the page's memory only.

use super::error::{json_problem, ApiError, Problem};
use super::tokens::{RefreshClaims, TokenPair};
use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::error::JsonPayloadError;
use actix_web::http::{header, StatusCode};
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use troupe_actors::accounts::{AccountError, UserView};

/// Registration request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3 to 32 letters, digits, `_`, `.` or `-`, starting with a letter or digit; unique
    /// regardless of case.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$")]
    pub username: String,
    /// A unique email address.
    #[schema(min_length = 3, max_length = 254)]
    pub email: String,
    /// 8 to 128 characters, not easy to guess.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// Creates an account. The first account (unless admins are configured) is an admin.
#[utoipa::path(tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, description = "Account created", body = UserView),
    (status = 409, description = "`username_taken` (also when a channel has that handle) or `email_taken`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_username`, `invalid_email`, `weak_password` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/auth/register")]
pub async fn register(
    state: web::Data<AppState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .accounts
        .register(&body.username, &body.email, &body.password)
        .await?;
    tracing::info!(user = %user.username, role = ?user.role, "account registered");
    // The default channel (handle: the username, already claimed by the registration). If
    // this fails, the channel is made on its first lookup or at the next start.
    let key = user.username.to_ascii_lowercase();
    if let Err(e) = state
        .channels
        .ensure_default(user.id, &key, &user.username, user.created_at)
        .await
    {
        tracing::warn!(user = %user.username, error = %e, "could not make the default channel yet");
    }
    // The verification mail goes out beside the answer, not before it: it needs a token and
    // an outbox write, each an actor call that may wait out a membership change, and the
    // account is already durable (a lost link is asked for again from the banner).
    let (st, u) = (state.clone(), user.clone());
    actix_web::rt::spawn(async move { super::lifecycle::on_registered(&st, &u).await });
    Ok(HttpResponse::Created()
        .insert_header(("location", "/api/v1/users/me"))
        .json(user))
}

/// Login request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username or email address.
    pub username: String,
    /// Password.
    pub password: String,
    /// Put the refresh token in the `troupe_refresh` cookie (`HttpOnly`) instead of the body:
    /// for browsers.
    #[serde(default)]
    pub refresh_cookie: bool,
}

/// The refresh cookie's name.
pub const REFRESH_COOKIE: &str = "troupe_refresh";
/// The header a cookie-authenticated request must carry.
pub const CSRF_HEADER: &str = "x-troupe-csrf";

/// Whether the request came over plain HTTP to a loopback address, where a `Secure` cookie
/// would not be kept by every browser.
fn plain_loopback(req: &HttpRequest) -> bool {
    let info = req.connection_info();
    let host = info.host();
    let name = host
        .strip_prefix('[')
        .and_then(|h| h.split_once(']').map(|(n, _)| n))
        .unwrap_or_else(|| host.rsplit_once(':').map_or(host, |(n, _)| n));
    info.scheme() == "http"
        && (name == "localhost"
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()))
}

/// The refresh cookie holding `token` for `max_age` seconds (0 clears it).
fn refresh_cookie(req: &HttpRequest, token: &str, max_age: i64) -> Cookie<'static> {
    Cookie::build(REFRESH_COOKIE, token.to_owned())
        .path("/api/v1/auth")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(!plain_loopback(req))
        .max_age(actix_web::cookie::time::Duration::seconds(max_age.max(0)))
        .finish()
}

/// Answers a token pair: in the body, or with the refresh token moved into the cookie.
fn grant_response(req: &HttpRequest, mut pair: TokenPair, cookie: bool) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if cookie {
        if let Some(token) = pair.refresh_token.take() {
            res.cookie(refresh_cookie(req, &token, pair.refresh_expires_in));
        }
    }
    res.json(pair)
}

/// A JSON body that may be absent (`None` for an empty body or `null`), with the same problems as every
/// JSON body: 415 for another content type, 400 `malformed_json`, 422 `invalid_body`.
fn optional_json<T: DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<Option<T>, ApiError> {
    if body.is_empty() {
        return Ok(None);
    }
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<actix_web::mime::Mime>().ok())
        .is_some_and(|m| {
            m.subtype() == actix_web::mime::JSON || m.suffix() == Some(actix_web::mime::JSON)
        });
    if !json {
        return Err(json_problem(&JsonPayloadError::ContentType));
    }
    // `null` is no body too.
    serde_json::from_slice::<Option<T>>(body)
        .map_err(|e| json_problem(&JsonPayloadError::Deserialize(e)))
}

/// Where the refresh token of a refresh or logout comes from.
enum Presented {
    Body(RefreshClaims),
    Cookie(RefreshClaims),
}

/// The refresh token of a refresh or logout: the body's, or else the cookie's, which needs the
/// CSRF header.
fn presented(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<Presented, ApiError> {
    if let Some(b) = optional_json::<RefreshRequest>(req, body)? {
        return Ok(Presented::Body(
            state.tokens.verify_refresh(&b.refresh_token)?,
        ));
    }
    let Some(cookie) = req.cookie(REFRESH_COOKIE) else {
        return Err(ApiError::unauthorized(
            "missing_refresh_token",
            "send {\"refresh_token\": ...} in the body, or sign in with refresh_cookie to use the cookie",
        ));
    };
    if req.headers().get(CSRF_HEADER).is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_required",
            "a request authenticated by the refresh cookie must carry the header X-Troupe-CSRF: 1",
        ));
    }
    Ok(Presented::Cookie(
        state.tokens.verify_refresh(cookie.value())?,
    ))
}

/// Exchanges a username (or email) and password for an access token and a refresh token.
/// Unknown user, wrong password and a locked account all get the same 401.
#[utoipa::path(tag = "auth", request_body = LoginRequest, responses(
    (status = 200, description = "Signed in", body = TokenPair),
    (status = 401, description = "`invalid_credentials`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`account_suspended`: the password is right and the account is suspended (`detail` says why)", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    if body.password.len() > 1024 {
        return Err(AccountError::InvalidCredentials.into());
    }
    let grant = state.accounts.login(&body.username, &body.password).await?;
    Ok(grant_response(
        &req,
        state.tokens.issue(&grant)?,
        body.refresh_cookie,
    ))
}

/// A refresh token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    pub refresh_token: String,
}

/// Exchanges a refresh token for a new pair. Each refresh token works once; presenting an
/// already-used one revokes every token of that login (`refresh_token_reused`). The token
/// comes from the body, or with no body from the `troupe_refresh` cookie (which needs the
/// `X-Troupe-CSRF` header, and gets the new refresh token back in the cookie).
#[utoipa::path(tag = "auth", request_body(content = Option<RefreshRequest>, description = "The refresh token; no body to use the cookie"), params(
    ("X-Troupe-CSRF" = Option<String>, Header, description = "Required (any value) when the token comes from the cookie"),
), responses(
    (status = 200, description = "A new token pair (without `refresh_token` when it came from the cookie, which is renewed)", body = TokenPair),
    (status = 400, description = "`malformed_json`", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`invalid_refresh_token`, `refresh_token_reused` or `missing_refresh_token`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`csrf_required`: the cookie was used without `X-Troupe-CSRF`; `account_suspended`", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (claims, cookie) = match presented(&state, &req, &body)? {
        Presented::Body(c) => (c, false),
        Presented::Cookie(c) => (c, true),
    };
    let grant = state
        .accounts
        .refresh(&claims.sub, claims.fam, claims.gen)
        .await?;
    Ok(grant_response(&req, state.tokens.issue(&grant)?, cookie))
}

/// Ends a login: its refresh token (and every later one of the chain) stops working. Access
/// tokens already issued expire on their own within `auth.access_ttl_secs`. With no body, the
/// login of the `troupe_refresh` cookie ends (with `X-Troupe-CSRF`), and the cookie is cleared.
#[utoipa::path(tag = "auth", request_body(content = Option<RefreshRequest>, description = "The refresh token; no body to use the cookie"), params(
    ("X-Troupe-CSRF" = Option<String>, Header, description = "Required (any value) when the token comes from the cookie"),
), responses(
    (status = 204, description = "Logged out"),
    (status = 400, description = "`malformed_json`", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`invalid_refresh_token` or `missing_refresh_token`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`csrf_required`", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (claims, cookie) = match presented(&state, &req, &body)? {
        Presented::Body(c) => (c, false),
        Presented::Cookie(c) => (c, true),
    };
    state.accounts.logout(&claims.sub, claims.fam).await?;
    let mut res = HttpResponse::NoContent();
    if cookie {
        res.cookie(refresh_cookie(&req, "", 0));
    }
    Ok(res.finish())
}
