//! What troupe sends, as operators see it: the outbox of pending and failed deliveries, and a
//! test email.

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use super::users::require_admin;
use crate::outbound::Mail;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use troupe_actors::outbox::{OutboxError, OutboxItem};
use utoipa_actix_web::service_config::ServiceConfig;

/// The outbound routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(outbox).service(test_email);
}

impl From<OutboxError> for ApiError {
    fn from(e: OutboxError) -> Self {
        ApiError::unavailable("outbox_unavailable", e.to_string(), 2)
    }
}

/// `?kind=&status=` of the outbox view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// `email` or `webhook`; all kinds when absent.
    pub kind: Option<String>,
    /// `pending` or `failed`; both when absent.
    pub status: Option<String>,
    /// At most this many of each status (1-1000, default 100).
    pub limit: Option<usize>,
}

/// The outbox as an operator sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxList {
    /// Pending deliveries (due first) and permanent failures not retried since.
    pub items: Vec<OutboxItem>,
}

/// Pending and recently failed deliveries (admins only): key, kind, target, attempts, the next
/// attempt and the last error, so that an operator sees stuck sends. Never the payloads.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(OutboxQuery), responses(
    (status = 200, description = "The deliveries", body = OutboxList),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_query`: an unknown kind or status", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`outbox_unavailable`: the store could not be read", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/admin/outbox")]
pub async fn outbox(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<OutboxQuery>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user).await?;
    let q = query.into_inner();
    if let Some(k) = q.kind.as_deref() {
        if !matches!(k, "email" | "webhook") {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_query",
                "kind must be email or webhook",
            ));
        }
    }
    if let Some(s) = q.status.as_deref() {
        if !matches!(s, "pending" | "failed") {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_query",
                "status must be pending or failed",
            ));
        }
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1_000);
    let mut items = state
        .outbox
        .list(q.kind.as_deref(), q.status.as_deref(), limit)
        .await?;
    items.sort_by(|a, b| {
        (a.status.as_str(), a.next_attempt_at).cmp(&(b.status.as_str(), b.next_attempt_at))
    });
    Ok(HttpResponse::Ok().json(OutboxList { items }))
}

/// A test email to send.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestEmail {
    /// The address to send it to.
    pub to: String,
    /// A line of text to include.
    pub note: Option<String>,
}

/// The test email, queued.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestEmailQueued {
    /// The delivery's key (its `Message-ID` is `<key@public host>`); see it in
    /// `GET /api/v1/admin/outbox` while it is pending.
    pub key: String,
}

/// Sends a test email (admins only): it is durably queued in the outbox and sent in the
/// background like any mail, so an operator can check the SMTP settings (or, with no
/// `email.smtp_url`, find the `.eml` file the log names).
#[utoipa::path(tag = "admin", security(("bearer" = [])), request_body = TestEmail, responses(
    (status = 202, description = "Queued", body = TestEmailQueued),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_email`: not an email address", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`outbox_unavailable`: the outbox could not store it", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/admin/email/test")]
pub async fn test_email(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<TestEmail>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user).await?;
    let TestEmail { to, note } = body.into_inner();
    let to = to.trim().to_owned();
    if to.parse::<lettre::Address>().is_err() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
            "`to` is not an email address",
        ));
    }
    let key = troupe_actors::outbox::Outbox::new_key("test");
    state
        .mailer
        .send(Mail {
            key: key.clone(),
            to,
            template: "test",
            context: serde_json::json!({ "note": note.unwrap_or_default() }),
            unsubscribe: None,
        })
        .await?;
    Ok(HttpResponse::Accepted().json(TestEmailQueued { key }))
}
