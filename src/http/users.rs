//! `/api/v1/users/me` and the admin user endpoints.

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use crate::state::AppState;
use actix_web::{get, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use troupe_actors::accounts::{Plan, Role, UserView};

/// What a plan allows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanLimits {
    /// Concurrent streams.
    pub max_streams: u32,
    /// Tallest rendition, in lines (e.g. 1080).
    pub max_rendition: u32,
}

/// An account with its plan's limits.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The account.
    #[serde(flatten)]
    pub user: UserView,
    /// The plan's limits.
    pub limits: PlanLimits,
}

impl From<UserView> for Me {
    fn from(user: UserView) -> Self {
        let limits = PlanLimits {
            max_streams: user.plan.max_streams(),
            max_rendition: user.plan.max_rendition(),
        };
        Me { user, limits }
    }
}

/// The signed-in user's account.
#[utoipa::path(tag = "users", security(("bearer" = [])), responses(
    (status = 200, description = "The account", body = Me),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/users/me")]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    match state.accounts.get(&user.0.sub).await? {
        Some(u) if u.id == user.0.uid => Ok(HttpResponse::Ok().json(Me::from(u))),
        // The token names an account that no longer exists (or a reused name).
        _ => Err(ApiError::unauthorized(
            "invalid_token",
            "the account of this token does not exist",
        )),
    }
}

pub(crate) async fn require_admin(state: &AppState, user: &AuthUser) -> Result<(), ApiError> {
    // Ask the actor rather than trust the role in the token, which may be stale.
    match state.accounts.get(&user.0.sub).await? {
        Some(u) if u.id == user.0.uid && u.role == Role::Admin => Ok(()),
        Some(u) if u.id == user.0.uid => Err(ApiError::forbidden("this endpoint is for admins")),
        _ => Err(ApiError::unauthorized(
            "invalid_token",
            "the account of this token does not exist",
        )),
    }
}

/// The actor key of a username from a path; a name that cannot exist is simply not found.
fn user_key(username: String) -> Result<String, ApiError> {
    troupe_actors::accounts::normalize_username(&username)
        .map_err(|_| ApiError::not_found("user_not_found", "no such user"))
}

/// Any account, by username (admins only).
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("username" = String, Path, description = "Username (any case)")), responses(
    (status = 200, description = "The account", body = Me),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/admin/users/{username}")]
pub async fn get_user(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user).await?;
    let key = user_key(path.into_inner())?;
    match state.accounts.get(&key).await? {
        Some(u) => Ok(HttpResponse::Ok().json(Me::from(u))),
        None => Err(ApiError::not_found("user_not_found", "no such user")),
    }
}

/// A plan change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPlanRequest {
    /// `free`, `basic`, `premium` or `ultimate`.
    pub plan: Plan,
}

/// Sets a user's plan (admins only). Idempotent.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("username" = String, Path, description = "Username (any case)")), request_body = SetPlanRequest, responses(
    (status = 200, description = "The account with its new plan", body = Me),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_body`: unknown plan", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/admin/users/{username}/plan")]
pub async fn set_plan(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<SetPlanRequest>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user).await?;
    let key = user_key(path.into_inner())?;
    let updated = state.accounts.set_plan(&key, body.plan).await?;
    tracing::info!(admin = %user.0.sub, user = %key, plan = ?body.plan, "plan changed");
    Ok(HttpResponse::Ok().json(Me::from(updated)))
}
