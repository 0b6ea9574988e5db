//! What troupe sends, as operators see it: the outbox of pending and failed deliveries, and a
//! test email.

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use super::users::require_admin;
use crate::outbound::Mail;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, post, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use troupe_actors::inbox::digest::DigestView;
use troupe_actors::outbox::{OutboxError, OutboxItem};
use utoipa_actix_web::service_config::ServiceConfig;

/// The outbound routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(outbox)
        .service(test_email)
        .service(get_digest)
        .service(put_digest)
        .service(unsubscribe_page)
        .service(unsubscribe);
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
    #[param(pattern = "^(email|webhook)$")]
    pub kind: Option<String>,
    /// `pending` or `failed`; both when absent.
    #[param(pattern = "^(pending|failed)$")]
    pub status: Option<String>,
    /// At most this many of each status (1-1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
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
    (status = 422, description = "`invalid_query`: an unknown kind or status, or a limit outside 1-1000", body = Problem, content_type = "application/problem+json"),
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
    let limit = q.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
            "limit must be between 1 and 1000",
        ));
    }
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

/// A user's digest settings to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestChange {
    /// The hour (0-23) the daily digest goes out, in `time_zone`.
    #[schema(minimum = 0, maximum = 23)]
    pub digest_hour: Option<i64>,
    /// An IANA time zone name, e.g. `Europe/Paris`.
    pub time_zone: Option<String>,
}

/// The caller's daily digest: the hour and time zone it goes out at, when the last went out,
/// when the next is due and how many notifications wait for it. Which types go into it is the
/// `email: digest` of each type in the notification settings.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), responses(
    (status = 200, description = "The digest settings", body = DigestView),
))]
#[get("/api/v1/users/me/digest-settings")]
pub async fn get_digest(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let v = state.digests.get(user.0.uid).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(v))
}

/// Changes the hour (0-23, default 8) and the IANA time zone (default `UTC`) of the caller's
/// daily digest; the fields left out stay as they are.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), request_body = DigestChange, responses(
    (status = 200, description = "The digest settings after the change", body = DigestView),
    (status = 422, description = "`invalid_settings`: an hour outside 0-23 or an unknown time zone; `invalid_body`: not an object of these fields", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/users/me/digest-settings")]
pub async fn put_digest(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    // Read through a JSON object, so that an array (which serde would take for a struct's
    // fields in order) is refused like any other body that is not an object.
    let change: DigestChange = serde_json::from_value(serde_json::Value::Object(body.into_inner()))
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.to_string(),
            )
        })?;
    let invalid = |d: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_settings", d);
    let current = state.digests.get(user.0.uid).await?;
    let hour = match change.digest_hour {
        None => current.digest_hour,
        Some(h) if (0..=23).contains(&h) => h as u8,
        Some(_) => return Err(invalid("digest_hour must be a whole hour from 0 to 23")),
    };
    let zone = match change.time_zone {
        None => current.time_zone,
        Some(z) => match z.trim().parse::<chrono_tz::Tz>() {
            Ok(tz) => tz.name().to_owned(),
            Err(_) => {
                return Err(invalid(
                    "time_zone must be an IANA time zone name, e.g. Europe/Paris or UTC",
                ))
            }
        },
    };
    state.digests.set_profile(user.0.uid, &user.0.sub).await?;
    let v = state.digests.set(user.0.uid, hour, zone).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// What a one-click unsubscribe turned off.
fn unsubscribed_what(what: &str) -> String {
    if what == "digest" {
        "the daily digest email".to_owned()
    } else {
        match troupe_actors::inbox::NotificationKind::parse(what) {
            Some(k) => format!(
                "email about \"{}\"",
                troupe_actors::inbox::digest::label(k).to_lowercase()
            ),
            None => "these emails".to_owned(),
        }
    }
}

fn bad_unsubscribe_token() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_unsubscribe_token",
        "this unsubscribe link is not one this server made",
    )
}

/// The page behind a one-click unsubscribe link (RFC 8058): it says what the link turns off
/// and offers a button that does it. A GET changes nothing (mail scanners follow links).
#[utoipa::path(tag = "email", params(("token" = String, Path, description = "The token from the List-Unsubscribe link")), responses(
    (status = 200, description = "A small HTML page with a button that POSTs to the same URL", content_type = "text/html"),
    (status = 400, description = "`invalid_unsubscribe_token`: forged or mangled", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/unsubscribe/{token}")]
pub async fn unsubscribe_page(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let u = state
        .mailer
        .verify_unsubscribe(&token)
        .ok_or_else(bad_unsubscribe_token)?;
    let what = html_escape(&unsubscribed_what(&u.what));
    let instance = html_escape(state.mailer.instance());
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Unsubscribe · {instance}</title></head>\
<body style=\"font-family: system-ui, sans-serif; max-width: 32em; margin: 3em auto; padding: 0 1em;\">\
<h1 style=\"font-size: 1.3em;\">Stop {what}?</h1>\
<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
<button type=\"submit\" style=\"font-size: 1em; padding: 0.5em 1em;\">Unsubscribe</button></form>\
<p style=\"color: #555;\">You can turn it on again in your notification settings on {instance}.</p></body></html>"
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(page))
}

/// One-click unsubscribe (RFC 8058), as a mail client POSTs it: no sign-in, the token in the
/// URL says whose and which email; the body is `List-Unsubscribe=One-Click`
/// (`application/x-www-form-urlencoded` or `multipart/form-data`). Turns that type's email (or
/// the digest) off and answers 200 with a short text, never a redirect. Idempotent.
#[utoipa::path(tag = "email", params(("token" = String, Path, description = "The token from the List-Unsubscribe link")), request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`List-Unsubscribe=One-Click`"), responses(
    (status = 200, description = "Unsubscribed", body = String, content_type = "text/plain"),
    (status = 400, description = "`invalid_unsubscribe_token`: forged or mangled; `invalid_unsubscribe_request`: the body is not `List-Unsubscribe=One-Click`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/unsubscribe/{token}")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let u = state
        .mailer
        .verify_unsubscribe(&token)
        .ok_or_else(bad_unsubscribe_token)?;
    // Form-encoded: `List-Unsubscribe=One-Click`; multipart: a part named
    // `List-Unsubscribe` holding `One-Click`.
    let text = String::from_utf8_lossy(&body);
    let form = text.trim() == "List-Unsubscribe=One-Click";
    let multipart = text.contains("name=\"List-Unsubscribe\"") && text.contains("One-Click");
    if !form && !multipart {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_unsubscribe_request",
            "the body must be List-Unsubscribe=One-Click (RFC 8058)",
        ));
    }
    use troupe_actors::inbox::{EmailMode, NotificationKind, SettingChange};
    let changes: Vec<SettingChange> = if u.what == "digest" {
        let settings = state.notify.settings(u.user).await?;
        NotificationKind::ALL
            .into_iter()
            .filter(|k| settings.of(*k).email == EmailMode::Digest)
            .map(|kind| SettingChange {
                kind,
                web: None,
                email: Some(EmailMode::Off),
            })
            .collect()
    } else {
        match NotificationKind::parse(&u.what) {
            Some(kind) => vec![SettingChange {
                kind,
                web: None,
                email: Some(EmailMode::Off),
            }],
            None => Vec::new(),
        }
    };
    if !changes.is_empty() {
        state.notify.set_settings(u.user, changes).await?;
    }
    tracing::info!(user = %u.user, what = %u.what, "one-click unsubscribe");
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "Unsubscribed: you will get no more {}.\n",
            unsubscribed_what(&u.what)
        )))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
