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

/// The caller's account if it is staff (a moderator or an admin), confirmed with the user
/// actor; 403 `forbidden` otherwise.
pub(crate) async fn require_moderator(
    state: &AppState,
    user: &AuthUser,
) -> Result<UserView, ApiError> {
    match state.accounts.get(&user.0.sub).await? {
        Some(u) if u.id == user.0.uid && u.role.is_staff() => Ok(u),
        Some(u) if u.id == user.0.uid => Err(ApiError::forbidden(
            "this endpoint is for moderators and admins",
        )),
        _ => Err(ApiError::unauthorized(
            "invalid_token",
            "the account of this token does not exist",
        )),
    }
}

/// The actor key of a username from a path; a name that cannot exist is simply not found.
pub(crate) fn user_key(username: String) -> Result<String, ApiError> {
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

/// Paging of the admin lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdminPage {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// A page of accounts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    /// By username.
    pub items: Vec<Me>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Every account, by username, with role, plan and limits (admins only).
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(AdminPage), responses(
    (status = 200, description = "A page of accounts", body = UserList),
    (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "The store is unavailable; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/admin/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<AdminPage>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user).await?;
    let q = query.into_inner();
    let limit = super::error::page_limit(q.limit)?;
    if q.cursor.as_deref() == Some("") {
        return Err(ApiError::bad_request(
            "invalid_cursor",
            "the cursor is not one this server gave out; start again without it",
        ));
    }
    let page = state.accounts.list(limit, q.cursor.as_deref()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(UserList {
            items: page.items.into_iter().map(Me::from).collect(),
            next_cursor: page.next_cursor,
        }))
}

/// Filters of the admin video list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdminVideoQuery {
    /// Only videos in this state: `awaiting_upload`, `uploading`, `queued`, `processing`,
    /// `ready` or `failed`.
    pub state: Option<troupe_actors::media::video::VideoStatus>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// Every video, newest first, of any owner and visibility, optionally in one state: for
/// example the failed ones, with their reasons (admins only).
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(AdminVideoQuery), responses(
    (status = 200, description = "A page of videos", body = super::videos::VideoPage),
    (status = 400, description = "`invalid_query` (an unknown state, a bad limit)", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_cursor` (not a cursor this server made) or `cursor_mismatch` (another listing's cursor)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`catalogue_rebuilding`, `catalogue_not_ready` or an actor is unavailable; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/admin/videos")]
pub async fn list_videos(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<AdminVideoQuery>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user).await?;
    let q = query.into_inner();
    let limit = super::error::page_limit(q.limit)?;
    let viewer = super::videos::viewer(&state, Some(&user.0)).await?;
    let search =
        super::catalogue::listing(None, None, None, q.state, Some(limit), q.cursor.as_deref())?;
    super::videos::page_response(&state, viewer, &search).await
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
