//! `/api/v1/auth/*`: register, login, refresh, logout.

use super::error::{ApiError, Problem};
use super::tokens::TokenPair;
use crate::state::AppState;
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use troupe_actors::accounts::{AccountError, UserView};

/// Registration request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3 to 32 letters, digits, `_`, `.` or `-`; unique regardless of case.
    pub username: String,
    /// A unique email address.
    pub email: String,
    /// 8 to 128 characters, not easy to guess.
    pub password: String,
}

/// Creates an account. The first account (unless admins are configured) is an admin.
#[utoipa::path(tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, description = "Account created", body = UserView),
    (status = 409, description = "`username_taken` or `email_taken`", body = Problem, content_type = "application/problem+json"),
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
}

/// Exchanges a username (or email) and password for an access token and a refresh token.
/// Unknown user, wrong password and a locked account all get the same 401.
#[utoipa::path(tag = "auth", request_body = LoginRequest, responses(
    (status = 200, description = "Signed in", body = TokenPair),
    (status = 401, description = "`invalid_credentials`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    if body.password.len() > 1024 {
        return Err(AccountError::InvalidCredentials.into());
    }
    let grant = state.accounts.login(&body.username, &body.password).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(state.tokens.issue(&grant)?))
}

/// A refresh token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    pub refresh_token: String,
}

/// Exchanges a refresh token for a new pair. Each refresh token works once; presenting an
/// already-used one revokes every token of that login (`refresh_token_reused`).
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, description = "A new token pair", body = TokenPair),
    (status = 401, description = "`invalid_refresh_token` or `refresh_token_reused`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let claims = state.tokens.verify_refresh(&body.refresh_token)?;
    let grant = state
        .accounts
        .refresh(&claims.sub, claims.fam, claims.gen)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(state.tokens.issue(&grant)?))
}

/// Ends a login: its refresh token (and every later one of the chain) stops working. Access
/// tokens already issued expire on their own within `auth.access_ttl_secs`.
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses(
    (status = 204, description = "Logged out"),
    (status = 401, description = "`invalid_refresh_token`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let claims = state.tokens.verify_refresh(&body.refresh_token)?;
    state.accounts.logout(&claims.sub, claims.fam).await?;
    Ok(HttpResponse::NoContent().finish())
}
