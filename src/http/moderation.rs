//! Moderation endpoints: roles (admins grant and take `moderator`), suspensions, the list of
//! suspended accounts, and the audit log. Every action is recorded in the audit log before it
//! is acknowledged.

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use super::users::{require_admin, require_moderator, user_key, Me};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{delete, get, put, web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use troupe_actors::accounts::{Role, Suspension, UserView};
use troupe_actors::moderation::{AuditEntry, ModerationError, SuspendedAccount};

impl From<ModerationError> for ApiError {
    fn from(e: ModerationError) -> Self {
        match e {
            ModerationError::Call(c) => c.into(),
            ModerationError::Store(d) => {
                ApiError::unavailable("store_unavailable", format!("state store error: {d}"), 2)
            }
            ModerationError::DuplicateReport(id) => ApiError::new(
                StatusCode::CONFLICT,
                "duplicate_report",
                format!("you have a pending report on this already: {id}"),
            ),
            ModerationError::ReportNotFound => {
                ApiError::not_found("report_not_found", "no such report")
            }
            ModerationError::ThreadFull => ApiError::new(
                StatusCode::CONFLICT,
                "thread_full",
                format!(
                    "this report's thread holds {} messages, the most it may",
                    troupe_actors::moderation::report::MAX_MESSAGES
                ),
            ),
            ModerationError::Unexpected(kind) => ApiError::unavailable(
                "unavailable",
                format!("the {kind} actor gave an unexpected answer (a node of another version?)"),
                2,
            ),
        }
    }
}

fn unprocessable(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
}

/// Records `action` by `who` on `target` in the audit log; `Ok` once durable.
pub(crate) async fn audit(
    state: &AppState,
    who: &UserView,
    action: &str,
    target: String,
    reason: Option<String>,
) -> Result<(), ApiError> {
    state
        .moderation
        .audit(AuditEntry {
            at: Utc::now(),
            actor_id: who.id,
            actor: who.username.clone(),
            action: action.to_owned(),
            target,
            reason,
        })
        .await?;
    Ok(())
}

/// The longest reason or note a moderator may give.
pub const MAX_REASON_CHARS: usize = 2_000;

/// Checks a moderator's reason: 1 to 2,000 characters, not only spaces.
pub(crate) fn reason(r: &str) -> Result<String, ApiError> {
    let t = crate::http::error::trim_blank(r);
    if t.is_empty() || t.chars().count() > MAX_REASON_CHARS {
        return Err(unprocessable(
            "invalid_reason",
            format!("reason must be 1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(t.to_owned())
}

/// A role an admin may grant here (admins are named by configuration, or are the first
/// account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GrantableRole {
    /// Moderates.
    Moderator,
    /// An ordinary account.
    User,
}

/// A role change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoleRequest {
    /// `moderator` or `user`.
    pub role: GrantableRole,
}

/// Grants or takes the moderator role (admins only). Idempotent. The change counts at once
/// for what the account may no longer do; what it may now do counts from its next token (a
/// refresh or a login).
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("username" = String, Path, description = "Username (any case)")), request_body = SetRoleRequest, responses(
    (status = 200, description = "The account with its new role", body = Me),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`target_is_admin`: an admin's role is not changed here", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_body` (a role other than `moderator` or `user`)", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/admin/users/{username}/role")]
pub async fn set_role(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<SetRoleRequest>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user).await?;
    let role = match body.into_inner().role {
        GrantableRole::Moderator => Role::Moderator,
        GrantableRole::User => Role::User,
    };
    let key = user_key(path.into_inner())?;
    let Some(target) = state.accounts.get(&key).await? else {
        return Err(ApiError::not_found("user_not_found", "no such user"));
    };
    if target.role == Role::Admin {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "target_is_admin",
            "this account is an admin; its role is not changed here",
        ));
    }
    let me = caller(&state, &user).await?;
    let updated = state.accounts.set_role(&key, role).await?;
    if target.role != role {
        let name = serde_json::to_value(role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        audit(&state, &me, "user.role", format!("user:{key}"), name).await?;
    }
    tracing::info!(admin = %user.0.sub, user = %key, ?role, "role changed");
    Ok(HttpResponse::Ok().json(Me::from(updated)))
}

/// The caller's account.
async fn caller(state: &AppState, user: &AuthUser) -> Result<UserView, ApiError> {
    match state.accounts.get(&user.0.sub).await? {
        Some(u) if u.id == user.0.uid => Ok(u),
        _ => Err(ApiError::unauthorized(
            "invalid_token",
            "the account of this token does not exist",
        )),
    }
}

/// Why an account is suspended.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// 1 to 2,000 characters, not only spaces; the account is told it when it tries to log
    /// in.
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub reason: String,
}

/// Suspends an account (moderators and admins; only an admin suspends a moderator, and
/// nobody an admin). While suspended it cannot log in or refresh, every request with its
/// tokens gets 403 `account_suspended`, and its videos are hidden from everyone but staff
/// (404 to others, gone from listings, search, channel pages and feeds). Takes effect on
/// every node of a cluster within `moderation.poll_ms`. Idempotent: a suspended account
/// keeps its first suspension.
#[utoipa::path(tag = "moderation", security(("bearer" = [])), params(("username" = String, Path, description = "Username (any case)")), request_body = SuspendRequest, responses(
    (status = 200, description = "The account, suspended", body = Me),
    (status = 403, description = "`forbidden`: not staff, or a moderator suspending staff", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`cannot_suspend_self`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_reason` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/admin/users/{username}/suspension")]
pub async fn suspend(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<SuspendRequest>,
) -> Result<HttpResponse, ApiError> {
    let me = require_moderator(&state, &user).await?;
    let why = reason(&body.reason)?;
    let key = user_key(path.into_inner())?;
    let target = staff_may_act_on(&state, &me, &key).await?;
    let at = target.suspended.as_ref().map_or_else(Utc::now, |s| s.at);
    let updated = state
        .accounts
        .set_suspension(
            &key,
            Some(Suspension {
                reason: why.clone(),
                at,
            }),
        )
        .await?;
    // The account's own suspension (the one that stands) goes into the set every node reads.
    let s = updated.suspended.clone().unwrap_or(Suspension {
        reason: why.clone(),
        at,
    });
    state
        .moderation
        .suspend(SuspendedAccount {
            id: updated.id,
            username: updated.username.clone(),
            reason: s.reason,
            at: s.at,
            by: me.username.clone(),
        })
        .await?;
    if target.suspended.is_none() {
        audit(
            &state,
            &me,
            "user.suspend",
            format!("user:{key}"),
            Some(why),
        )
        .await?;
    }
    tracing::info!(moderator = %me.username, user = %key, "account suspended");
    Ok(HttpResponse::Ok().json(Me::from(updated)))
}

/// Whom `me` may suspend: not themselves, not an admin, and a moderator only if `me` is an
/// admin.
async fn staff_may_act_on(
    state: &AppState,
    me: &UserView,
    key: &str,
) -> Result<UserView, ApiError> {
    let Some(target) = state.accounts.get(key).await? else {
        return Err(ApiError::not_found("user_not_found", "no such user"));
    };
    if target.id == me.id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cannot_suspend_self",
            "an account cannot suspend or unsuspend itself",
        ));
    }
    if target.role == Role::Admin || (target.role == Role::Moderator && me.role != Role::Admin) {
        return Err(ApiError::forbidden(
            "admins cannot be suspended, and only an admin suspends a moderator",
        ));
    }
    Ok(target)
}

/// Lifts a suspension (moderators and admins). Idempotent: 200 for an account that is not
/// suspended. Its videos are visible again (in listings within the catalogue's interval).
#[utoipa::path(tag = "moderation", security(("bearer" = [])), params(("username" = String, Path, description = "Username (any case)")), responses(
    (status = 200, description = "The account, no longer suspended", body = Me),
    (status = 403, description = "`forbidden`: not staff, or a moderator unsuspending staff", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`cannot_suspend_self`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/admin/users/{username}/suspension")]
pub async fn unsuspend(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let me = require_moderator(&state, &user).await?;
    let key = user_key(path.into_inner())?;
    let target = staff_may_act_on(&state, &me, &key).await?;
    let updated = state.accounts.set_suspension(&key, None).await?;
    state.moderation.unsuspend(updated.id).await?;
    if target.suspended.is_some() {
        audit(&state, &me, "user.unsuspend", format!("user:{key}"), None).await?;
    }
    tracing::info!(moderator = %me.username, user = %key, "account unsuspended");
    Ok(HttpResponse::Ok().json(Me::from(updated)))
}

/// The suspended accounts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuspendedList {
    /// Newest suspension first.
    pub items: Vec<SuspendedAccount>,
}

/// Every suspended account, newest suspension first (moderators and admins).
#[utoipa::path(tag = "moderation", security(("bearer" = [])), responses(
    (status = 200, description = "The suspended accounts", body = SuspendedList),
    (status = 403, description = "`forbidden`: not staff", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/moderation/suspended")]
pub async fn suspended(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    require_moderator(&state, &user).await?;
    let items = state.moderation.suspended().await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(SuspendedList { items }))
}

/// Paging of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,19}$")]
    pub cursor: Option<String>,
}

/// One audit log entry, with its position.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditItem {
    /// Its position in the log (0 for the first action ever recorded).
    pub seq: u64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// A page of the audit log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub items: Vec<AuditItem>,
    /// Pass as `cursor` for older entries; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The audit log of moderation actions, newest first (admins only): who did what to what,
/// when and why. Append-only: nothing in it is ever changed or removed.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(AuditQuery), responses(
    (status = 200, description = "A page of the log", body = AuditList),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_cursor`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/moderation/audit")]
pub async fn audit_log(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user).await?;
    let q = query.into_inner();
    let limit = super::error::page_limit(q.limit)?;
    let before = q
        .cursor
        .map(|c| {
            c.parse::<u64>().map_err(|_| {
                unprocessable(
                    "invalid_cursor",
                    "the cursor is not one this server gave out; start again without it",
                )
            })
        })
        .transpose()?;
    let (items, next) = state.moderation.audit_log(before, limit).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(AuditList {
            items: items
                .into_iter()
                .map(|(seq, entry)| AuditItem { seq, entry })
                .collect(),
            next_cursor: next.map(|n| n.to_string()),
        }))
}

/// Why a video is hidden.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HideRequest {
    /// 1 to 2,000 characters, not only spaces; the owner sees it on the video (`hidden`).
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub reason: String,
}

fn video_path_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::not_found("video_not_found", "no such video"))
}

/// Hides a video from everyone but its owner (who sees `hidden` with the reason) and staff:
/// 404 to others by id and for playback, gone from listings, search, channel pages, feeds and
/// trending (moderators and admins). Idempotent: a hidden video keeps its first reason.
#[utoipa::path(tag = "moderation", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Video id")), request_body = HideRequest, responses(
    (status = 200, description = "The video, hidden", body = super::videos::VideoBody),
    (status = 403, description = "`forbidden`: not staff", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_reason` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/videos/{id}/hidden")]
pub async fn hide_video(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<HideRequest>,
) -> Result<HttpResponse, ApiError> {
    let me = require_moderator(&state, &user).await?;
    let why = reason(&body.reason)?;
    let id = video_path_id(&path)?;
    let before = state.media.video(id).await?;
    let video = state
        .media
        .set_hidden(
            id,
            Some(troupe_actors::events::Hidden {
                reason: why.clone(),
                at: Utc::now(),
            }),
        )
        .await?;
    if before.hidden.is_none() {
        audit(&state, &me, "video.hide", format!("video:{id}"), Some(why)).await?;
    }
    tracing::info!(moderator = %me.username, video = %id, "video hidden");
    let viewer = super::videos::viewer(&state, Some(&user.0)).await?;
    Ok(HttpResponse::Ok().json(super::videos::VideoBody::shown(
        video,
        &state.tokens,
        viewer,
    )))
}

/// Shows a hidden video again (moderators and admins). Idempotent.
#[utoipa::path(tag = "moderation", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Video id")), responses(
    (status = 200, description = "The video, no longer hidden", body = super::videos::VideoBody),
    (status = 403, description = "`forbidden`: not staff", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/videos/{id}/hidden")]
pub async fn unhide_video(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let me = require_moderator(&state, &user).await?;
    let id = video_path_id(&path)?;
    let before = state.media.video(id).await?;
    let video = state.media.set_hidden(id, None).await?;
    if before.hidden.is_some() {
        audit(&state, &me, "video.unhide", format!("video:{id}"), None).await?;
    }
    tracing::info!(moderator = %me.username, video = %id, "video shown again");
    let viewer = super::videos::viewer(&state, Some(&user.0)).await?;
    Ok(HttpResponse::Ok().json(super::videos::VideoBody::shown(
        video,
        &state.tokens,
        viewer,
    )))
}
