//! The account lifecycle: verifying the address, resetting and changing the password,
//! changing the address (with an undo), and deleting the account.
//!
//! **Tokens.** Every link mailed here carries 256 random bits (base64url, 43 characters).
//! Only the SHA-256 of a token is stored (the `token` actor kind is keyed by it), so a
//! lookup compares no secret byte by byte and a copy of the store opens nothing. A token is
//! single use (spent durably before the change it authorises), and lives 1 hour (reset),
//! 24 hours (address change), or 7 days (verification, undo). A forged token gets 400
//! `invalid_token`; a used, expired or stale one 410 `token_expired`: the same for every kind
//! of token, and neither says anything about the account.
//!
//! **Nothing leaks which addresses have accounts.** A reset request answers the same 202 at
//! once, whether or not the address has an account (the lookup and the mail happen after the
//! answer); a change of address to one that is taken answers the same 202 and mails nothing.
//!
//! **Mail.** A request whose point is a mail (a new verification link, an address change)
//! answers 503 with `Retry-After` when the mail cannot be enqueued. A notice about a change
//! that already happened (password changed, address changed) is logged, not answered, if it
//! cannot be enqueued: the change stands.

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use super::users::{require_admin, user_key, Me};
use crate::outbound::Mail;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{delete, patch, post, put, web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{DateTime, Utc};
use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Digest;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;
use troupe_actors::accounts::token::{TokenPurpose, TokenRecord};
use troupe_actors::accounts::{normalize_email, AccountError, UserView};
use uuid::Uuid;

/// How long a reset link works.
pub const RESET_TTL: Duration = Duration::from_secs(3600);
/// How long a verification link works.
pub const VERIFY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long an address-change confirmation works.
pub const CHANGE_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long the old address's undo link works.
pub const UNDO_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// This node's limits on the account mails: reset requests per client address (429) and per
/// address (silently not sent), and verification resends per user (429).
pub struct AccountLimits {
    reset_per_ip: Keyed<IpAddr>,
    reset_per_address: Keyed<String>,
    resend_per_user: Keyed<Uuid>,
}

fn per_hour(n: u32) -> Quota {
    let n = NonZeroU32::new(n.max(1)).expect("max(1) is non-zero");
    Quota::with_period(Duration::from_secs(3600) / n.get())
        .expect("a positive period")
        .allow_burst(n)
}

impl AccountLimits {
    /// The limits of `[auth]`.
    pub fn new(cfg: &crate::config::AuthConfig) -> Self {
        Self {
            reset_per_ip: RateLimiter::keyed(per_hour(cfg.reset_per_ip_per_hour)),
            reset_per_address: RateLimiter::keyed(per_hour(cfg.reset_per_address_per_hour)),
            resend_per_user: RateLimiter::keyed(per_hour(cfg.verify_resend_per_hour)),
        }
    }

    /// Forgets buckets that are full again.
    pub fn tidy(&self) {
        self.reset_per_ip.retain_recent();
        self.reset_per_address.retain_recent();
        self.resend_per_user.retain_recent();
    }
}

fn wait_secs<K: std::hash::Hash + Eq + Clone>(limiter: &Keyed<K>, key: &K) -> Result<(), u64> {
    use governor::clock::Clock;
    limiter.check_key(key).map_err(|not_until| {
        not_until
            .wait_time_from(DefaultClock::default().now())
            .as_secs_f64()
            .ceil()
            .max(1.0) as u64
    })
}

fn limited(wait: u64, detail: &str) -> ApiError {
    let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail);
    e.retry_after = Some(wait);
    e
}

/// A new token: what the link carries, and the hash that is stored.
fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

fn hash_token(token: &str) -> String {
    let digest = sha2::Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored hash of a presented token; 400 `invalid_token` when it cannot be one of ours.
fn presented(token: &str) -> Result<String, ApiError> {
    let ok = token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(AccountError::TokenInvalid.into());
    }
    Ok(hash_token(token))
}

/// Issues a token of `purpose` for `user` about `email`; the token to mail.
async fn issue(
    state: &AppState,
    purpose: TokenPurpose,
    user: &UserView,
    email: &str,
    other_email: Option<&str>,
    ttl: Duration,
) -> Result<(String, String), AccountError> {
    let (token, hash) = new_token();
    let now = Utc::now();
    let record = TokenRecord {
        purpose,
        user_key: user.username.to_ascii_lowercase(),
        user_id: user.id,
        email: email.to_owned(),
        other_email: other_email.map(str::to_owned),
        created_at: now,
        expires_at: now + chrono::Duration::from_std(ttl).unwrap_or_default(),
        used_at: None,
    };
    state.accounts.put_token(&hash, record).await?;
    Ok((token, hash))
}

/// Enqueues a mail; 503 `mail_unavailable` with `Retry-After` when it cannot be.
async fn send(state: &AppState, mail: Mail) -> Result<(), ApiError> {
    let (template, key) = (mail.template, mail.key.clone());
    state.mailer.send(mail).await.map_err(|e| {
        tracing::warn!(template, key = %key, error = %e, "could not enqueue a mail");
        ApiError::unavailable(
            "mail_unavailable",
            "the mail cannot be queued right now; nothing was sent, try again",
            5,
        )
    })
}

/// Enqueues a notice about a change that already happened; a failure is logged.
async fn notify(state: &AppState, mail: Mail) {
    let _ = send(state, mail).await;
}

fn mail(key: String, to: &str, template: &'static str, context: serde_json::Value) -> Mail {
    Mail {
        key,
        to: to.to_owned(),
        template,
        context,
        unsubscribe: None,
    }
}

/// Mails a verification link for `user`'s current address.
async fn send_verification(state: &AppState, user: &UserView) -> Result<(), ApiError> {
    let (token, hash) = issue(
        state,
        TokenPurpose::Verify,
        user,
        &user.email,
        None,
        VERIFY_TTL,
    )
    .await?;
    let link = state.mailer.link(&format!("/verify-email?token={token}"));
    send(
        state,
        mail(
            format!("verify.{}", &hash[..32]),
            &user.email,
            "verify_email",
            json!({"username": user.username, "link": link, "expires_days": VERIFY_TTL.as_secs() / 86_400}),
        ),
    )
    .await
}

/// Mails the verification link of a new account (registration runs it beside its answer). A
/// failure is logged: the account exists, and its owner can ask for the link again.
pub(crate) async fn on_registered(state: &AppState, user: &UserView) {
    if let Err(e) = send_verification(state, user).await {
        tracing::warn!(user = %user.username, code = e.code, "could not send the verification link; the user can ask again");
    }
}

/// The signed-in caller's account, checked against the token's id.
pub(crate) async fn me(state: &AppState, user: &AuthUser) -> Result<UserView, ApiError> {
    match state.accounts.get(&user.0.sub).await? {
        Some(u) if u.id == user.0.uid => Ok(u),
        _ => Err(ApiError::unauthorized(
            "invalid_token",
            "the account of this token does not exist",
        )),
    }
}

/// Revokes every playback session of `key` (logins are revoked by the user actor): a
/// heartbeat or a new media request of those streams is refused through every node.
async fn end_playback(state: &AppState, key: &str) {
    if let Err(e) = state.playback.end_all(key).await {
        tracing::warn!(user = %key, error = %e, "could not end the account's playback sessions");
    }
}

/// A single-use token from a link.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The `token` of the link.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    pub token: String,
}

/// Confirms the account's address with the token of the link mailed to it.
#[utoipa::path(tag = "auth", request_body = TokenBody, responses(
    (status = 204, description = "The address is verified"),
    (status = 400, description = "`invalid_token`: not a token this server issued (or not for this)", body = Problem, content_type = "application/problem+json"),
    (status = 410, description = "`token_expired`: used already, expired, or the address changed since", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/auth/verify-email")]
pub async fn verify_email(
    state: web::Data<AppState>,
    body: web::Json<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let hash = presented(&body.token)?;
    let record = state
        .accounts
        .token(&hash, TokenPurpose::Verify, true)
        .await?;
    match state
        .accounts
        .mark_verified(&record.user_key, &record.email)
        .await
    {
        Ok(u) if u.id == record.user_id => {}
        Ok(_) => return Err(AccountError::TokenExpired.into()),
        Err(e @ (AccountError::Store(_) | AccountError::Unavailable(_))) => {
            state.accounts.release_token(&hash).await;
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = %record.user_key, "email verified");
    Ok(HttpResponse::NoContent().finish())
}

/// Mails a new verification link to the signed-in user's address (rate-limited). An address
/// that is verified already gets no mail (202 all the same).
#[utoipa::path(tag = "users", security(("bearer" = [])), responses(
    (status = 202, description = "A link is on its way (unless the address is verified already)"),
    (status = 429, description = "`rate_limited`: `auth.verify_resend_per_hour` reached; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`mail_unavailable`: the mail cannot be queued; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/users/me/verify-email")]
pub async fn resend_verification(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let account = me(&state, &user).await?;
    if account.email_verified {
        return Ok(HttpResponse::Accepted().finish());
    }
    wait_secs(&state.account_limits.resend_per_user, &account.id)
        .map_err(|w| limited(w, "too many verification mails; try again later"))?;
    send_verification(&state, &account).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// A password-reset request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The account's address.
    pub email: String,
}

/// The same answer to every reset request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResetAccepted {
    /// What happens next.
    pub detail: &'static str,
}

const RESET_ACCEPTED: &str = "If an account uses that address, a link to reset its password is on its way. It works once, for one hour.";

/// Asks for a password-reset link. The answer is the same 202, at once, whether or not the
/// address has an account: the lookup and the mail happen afterwards. At most
/// `auth.reset_per_ip_per_hour` requests per client address (429), and at most
/// `auth.reset_per_address_per_hour` mails per address (more are silently not sent).
#[utoipa::path(tag = "auth", request_body = ResetRequest, responses(
    (status = 202, description = "Always, whether or not the address has an account", body = ResetAccepted),
    (status = 429, description = "`rate_limited`: too many reset requests from this client address; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/auth/password-reset")]
pub async fn password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ResetRequest>,
) -> Result<HttpResponse, ApiError> {
    let ip = super::guard::client_ip(&req, state.config.server.trust_forwarded_headers);
    wait_secs(&state.account_limits.reset_per_ip, &ip)
        .map_err(|w| limited(w, "too many password-reset requests; try again later"))?;
    let email = body.into_inner().email;
    let state = state.into_inner();
    tokio::spawn(async move { reset_mail(&state, &email).await });
    Ok(HttpResponse::Accepted()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(ResetAccepted {
            detail: RESET_ACCEPTED,
        }))
}

/// The work behind a reset request, after its answer: nothing of it reaches the requester.
async fn reset_mail(state: &AppState, email: &str) {
    let Ok(email) = normalize_email(email) else {
        return;
    };
    if wait_secs(&state.account_limits.reset_per_address, &email).is_err() {
        tracing::info!("a reset request over the per-address limit; no mail sent");
        return;
    }
    let user = match state.accounts.key_by_email(&email).await {
        Ok(Some(key)) => match state.accounts.get(&key).await {
            Ok(Some(u)) if u.email == email => u,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "reset request: could not read the account");
                return;
            }
        },
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "reset request: could not look the address up");
            return;
        }
    };
    let (token, hash) = match issue(state, TokenPurpose::Reset, &user, &email, None, RESET_TTL)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(user = %user.username, error = %e, "reset request: could not store a token");
            return;
        }
    };
    let link = state.mailer.link(&format!("/reset-password?token={token}"));
    notify(
        state,
        mail(
            format!("reset.{}", &hash[..32]),
            &email,
            "password_reset",
            json!({"username": user.username, "link": link, "expires_minutes": RESET_TTL.as_secs() / 60}),
        ),
    )
    .await;
    tracing::info!(user = %user.username, "password-reset link sent");
}

/// A new password, with the reset link's token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    /// The `token` of the reset link.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    pub token: String,
    /// The new password: 8 to 128 characters, not easy to guess.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// Sets a new password with a reset link's token. Every login of the account (every
/// refresh token, on every node) and every playback session is revoked, the address counts as
/// verified (the link reached it), and a mail tells the user. Not a sign-in: sign in next.
#[utoipa::path(tag = "auth", request_body = ResetConfirm, responses(
    (status = 204, description = "The password is changed"),
    (status = 400, description = "`invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 410, description = "`token_expired`: used already or expired", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`weak_password` (the token stays usable)", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/auth/password-reset/confirm")]
pub async fn password_reset_confirm(
    state: web::Data<AppState>,
    body: web::Json<ResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    let hash = presented(&body.token)?;
    let record = state
        .accounts
        .token(&hash, TokenPurpose::Reset, false)
        .await?;
    let account = match state.accounts.get(&record.user_key).await? {
        Some(u) if u.id == record.user_id => u,
        // The account was deleted since.
        _ => return Err(AccountError::TokenExpired.into()),
    };
    if body.password.len() > 1024 {
        return Err(AccountError::WeakPassword("use at most 128 characters".into()).into());
    }
    let new_hash = state
        .accounts
        .hash_new_password(
            &body.password,
            [account.username.clone(), account.email.clone()],
        )
        .await?;
    // Spent before the change: of two concurrent uses, one wins.
    state
        .accounts
        .token(&hash, TokenPurpose::Reset, true)
        .await?;
    let updated = match state
        .accounts
        .set_password(&record.user_key, new_hash)
        .await
    {
        Ok(u) => u,
        Err(e) => {
            state.accounts.release_token(&hash).await;
            return Err(e.into());
        }
    };
    end_playback(&state, &record.user_key).await;
    tracing::info!(user = %record.user_key, "password reset; every login revoked");
    password_changed(
        &state,
        format!("pwchanged.{}", &hash[..32]),
        &updated,
        "reset",
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

/// Tells `user` their password was changed (`how`: `reset` or `change`), with a link to reset
/// it if that was not them.
async fn password_changed(state: &AppState, key: String, user: &UserView, how: &str) {
    let body = json!({"username": user.username, "how": how, "reset_link": state.mailer.link("/forgot-password")});
    notify(state, mail(key, &user.email, "password_changed", body)).await;
}

/// A password change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The current password.
    pub current_password: String,
    /// The new one: 8 to 128 characters, not easy to guess.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Changes the signed-in user's password. Every other login of the account is revoked (this
/// one stays), and a mail tells the user.
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = ChangePassword, responses(
    (status = 204, description = "Changed"),
    (status = 403, description = "`wrong_password`: the current password is wrong", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`weak_password`", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/users/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ChangePassword>,
) -> Result<HttpResponse, ApiError> {
    let account = me(&state, &user).await?;
    if body.current_password.len() > 1024 {
        return Err(AccountError::WrongPassword.into());
    }
    if body.new_password.len() > 1024 {
        return Err(AccountError::WeakPassword("use at most 128 characters".into()).into());
    }
    state
        .accounts
        .check_password(&user.0.sub, &body.current_password)
        .await?;
    let new_hash = state
        .accounts
        .hash_new_password(
            &body.new_password,
            [account.username.clone(), account.email.clone()],
        )
        .await?;
    let updated = state
        .accounts
        .change_password(&user.0.sub, &body.current_password, new_hash, user.0.fam)
        .await?;
    tracing::info!(user = %user.0.sub, "password changed; other logins revoked");
    password_changed(
        &state,
        format!("pwchanged.{}", Uuid::new_v4().simple()),
        &updated,
        "change",
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

/// An address change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmail {
    /// The current password.
    pub current_password: String,
    /// The new address.
    #[schema(min_length = 3, max_length = 254)]
    pub email: String,
}

/// Asks to move the account to another address: a link to confirm is mailed to the new one
/// (24 hours); nothing changes until it is followed. When the new address already has an
/// account, the answer is the same and nothing is mailed (no answer says which addresses are
/// taken).
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = ChangeEmail, responses(
    (status = 202, description = "A confirmation link is on its way to the new address"),
    (status = 403, description = "`wrong_password`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_email` (malformed, or already the account's)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`mail_unavailable`: the mail cannot be queued; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/users/me/email")]
pub async fn change_email(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ChangeEmail>,
) -> Result<HttpResponse, ApiError> {
    let account = me(&state, &user).await?;
    let email = normalize_email(&body.email)?;
    if body.current_password.len() > 1024 {
        return Err(AccountError::WrongPassword.into());
    }
    state
        .accounts
        .check_password(&user.0.sub, &body.current_password)
        .await?;
    if email == account.email {
        return Err(AccountError::InvalidEmail("is already this account's address".into()).into());
    }
    if state.accounts.key_by_email(&email).await?.is_some() {
        tracing::info!(user = %user.0.sub, "address change to a taken address; nothing mailed");
        return Ok(HttpResponse::Accepted().finish());
    }
    let (token, hash) = issue(
        &state,
        TokenPurpose::ChangeEmail,
        &account,
        &email,
        Some(&account.email),
        CHANGE_TTL,
    )
    .await?;
    let link = state.mailer.link(&format!("/confirm-email?token={token}"));
    send(
        &state,
        mail(
            format!("emailchange.{}", &hash[..32]),
            &email,
            "email_change_confirm",
            json!({"username": account.username, "link": link, "expires_hours": CHANGE_TTL.as_secs() / 3600}),
        ),
    )
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Confirms an address change with the token mailed to the new address. The old address is
/// told, with a link that undoes the change within 7 days.
#[utoipa::path(tag = "auth", request_body = TokenBody, responses(
    (status = 204, description = "The account has its new address (verified)"),
    (status = 400, description = "`invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`email_taken`: another account took the address meanwhile", body = Problem, content_type = "application/problem+json"),
    (status = 410, description = "`token_expired`: used, expired, or the address changed since", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/auth/email-change/confirm")]
pub async fn email_change_confirm(
    state: web::Data<AppState>,
    body: web::Json<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let hash = presented(&body.token)?;
    let record = state
        .accounts
        .token(&hash, TokenPurpose::ChangeEmail, true)
        .await?;
    let old = record.other_email.clone().unwrap_or_default();
    let updated = match state
        .accounts
        .change_email(&record.user_key, &old, &record.email, false)
        .await
    {
        Ok(u) if u.id == record.user_id => u,
        Ok(_) => return Err(AccountError::TokenExpired.into()),
        Err(e @ (AccountError::Store(_) | AccountError::Unavailable(_))) => {
            state.accounts.release_token(&hash).await;
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user = %record.user_key, "address changed");
    match issue(
        &state,
        TokenPurpose::Undo,
        &updated,
        &old,
        Some(&updated.email),
        UNDO_TTL,
    )
    .await
    {
        Ok((token, undo_hash)) => {
            let link = state
                .mailer
                .link(&format!("/undo-email-change?token={token}"));
            notify(
                &state,
                mail(
                    format!("emailchanged.{}", &undo_hash[..32]),
                    &old,
                    "email_changed_notice",
                    json!({"username": updated.username, "new_email": updated.email, "link": link, "expires_days": UNDO_TTL.as_secs() / 86_400}),
                ),
            )
            .await;
        }
        Err(e) => {
            tracing::warn!(user = %record.user_key, error = %e, "could not make the undo link of an address change");
        }
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Undoes an address change with the token mailed to the old address: the account gets its
/// old address back (verified), and every login and playback session is revoked, since
/// somebody else may have made the change (then a password reset, mailed to the old address,
/// locks them out).
#[utoipa::path(tag = "auth", request_body = TokenBody, responses(
    (status = 204, description = "The old address is back; every login is revoked"),
    (status = 400, description = "`invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`email_taken`: another account took the old address meanwhile", body = Problem, content_type = "application/problem+json"),
    (status = 410, description = "`token_expired`: used, expired, or the address changed again since", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/auth/email-change/undo")]
pub async fn email_change_undo(
    state: web::Data<AppState>,
    body: web::Json<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let hash = presented(&body.token)?;
    let record = state
        .accounts
        .token(&hash, TokenPurpose::Undo, true)
        .await?;
    let current = record.other_email.clone().unwrap_or_default();
    match state
        .accounts
        .change_email(&record.user_key, &current, &record.email, true)
        .await
    {
        Ok(u) if u.id == record.user_id => {}
        Ok(_) => return Err(AccountError::TokenExpired.into()),
        Err(e @ (AccountError::Store(_) | AccountError::Unavailable(_))) => {
            state.accounts.release_token(&hash).await;
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    }
    end_playback(&state, &record.user_key).await;
    tracing::info!(user = %record.user_key, "address change undone; every login revoked");
    Ok(HttpResponse::NoContent().finish())
}

/// What an admin may change on an account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUserPatch {
    /// Marks the address verified (or not).
    pub email_verified: Option<bool>,
}

/// Changes an account (admins only): for now whether its address counts as verified.
/// Recorded in the audit log (`user.email_verified`).
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("username" = String, Path, description = "Username (any case)")), request_body = AdminUserPatch, responses(
    (status = 200, description = "The account", body = Me),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[patch("/api/v1/admin/users/{username}")]
pub async fn admin_patch_user(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<AdminUserPatch>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user).await?;
    let key = user_key(path.into_inner())?;
    let admin = me(&state, &user).await?;
    let Some(current) = state.accounts.get(&key).await? else {
        return Err(ApiError::not_found("user_not_found", "no such user"));
    };
    let mut updated = current.clone();
    if let Some(v) = body.email_verified {
        updated = state.accounts.set_email_verified(&key, v).await?;
        if v != current.email_verified {
            super::moderation::audit(
                &state,
                &admin,
                "user.email_verified",
                format!("user:{key}"),
                Some(v.to_string()),
            )
            .await?;
        }
    }
    Ok(HttpResponse::Ok().json(Me::from(updated)))
}

/// A deletion request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMe {
    /// The account's password.
    pub password: String,
}

/// When a scheduled deletion happens.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeletionScheduled {
    /// The account is deleted then, unless its owner signs in (or cancels) before.
    pub delete_at: DateTime<Utc>,
}

/// Schedules the deletion of the signed-in user's account after `auth.deletion_grace_secs`
/// (7 days by default). Every login and playback session is revoked now; signing in before
/// `delete_at` cancels the deletion, and so does `POST /api/v1/users/me/deletion/cancel`. A
/// repeat keeps the first date. What the deletion removes is in docs/runtime-semantics.md.
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = DeleteMe, responses(
    (status = 202, description = "Scheduled", body = DeletionScheduled),
    (status = 403, description = "`wrong_password`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/users/me")]
pub async fn delete_me(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<DeleteMe>,
) -> Result<HttpResponse, ApiError> {
    me(&state, &user).await?;
    if body.password.len() > 1024 {
        return Err(AccountError::WrongPassword.into());
    }
    let at = Utc::now()
        + chrono::Duration::from_std(Duration::from_secs(state.config.auth.deletion_grace_secs))
            .unwrap_or_default();
    let updated = state
        .accounts
        .schedule_deletion(&user.0.sub, Some(&body.password), at)
        .await?;
    let delete_at = updated.deletion_scheduled_at.unwrap_or(at);
    end_playback(&state, &user.0.sub).await;
    tracing::info!(user = %user.0.sub, %delete_at, "account deletion scheduled");
    notify(
        &state,
        mail(
            format!("deletion.{}.{}", updated.id.simple(), delete_at.timestamp()),
            &updated.email,
            "account_deletion_scheduled",
            json!({"username": updated.username, "delete_at": delete_at.to_rfc3339(), "login_link": state.mailer.link("/signin")}),
        ),
    )
    .await;
    Ok(HttpResponse::Accepted().json(DeletionScheduled { delete_at }))
}

/// Cancels the signed-in user's scheduled deletion (signing in cancels it too).
#[utoipa::path(tag = "users", security(("bearer" = [])), responses(
    (status = 200, description = "The account, no longer scheduled for deletion", body = Me),
))]
#[post("/api/v1/users/me/deletion/cancel")]
pub async fn cancel_deletion(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    me(&state, &user).await?;
    let updated = state.accounts.cancel_deletion(&user.0.sub).await?;
    Ok(HttpResponse::Ok().json(Me::from(updated)))
}

/// Why an admin deletes an account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminDelete {
    /// 1 to 2,000 characters, not only spaces, recorded in the audit log.
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub reason: String,
}

/// Deletes an account at once (admins only; not their own), recorded in the audit log
/// (`account.delete`, with the reason). What goes is in docs/runtime-semantics.md.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("username" = String, Path, description = "Username (any case)")), request_body = AdminDelete, responses(
    (status = 204, description = "Deleted"),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`cannot_delete_self`: admins delete their own account like anyone else", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_reason`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/admin/users/{username}")]
pub async fn admin_delete_user(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<AdminDelete>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&state, &user).await?;
    let admin = me(&state, &user).await?;
    let why = super::moderation::reason(&body.reason)?;
    let key = user_key(path.into_inner())?;
    if key == user.0.sub {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cannot_delete_self",
            "an admin deletes their own account with DELETE /api/v1/users/me",
        ));
    }
    if state.accounts.get(&key).await?.is_none() {
        return Err(ApiError::not_found("user_not_found", "no such user"));
    }
    super::moderation::audit(
        &state,
        &admin,
        "account.delete",
        format!("user:{key}"),
        Some(why),
    )
    .await?;
    super::purge::delete_account(&state, &key, false).await?;
    tracing::info!(admin = %admin.username, user = %key, "account deleted by an admin");
    Ok(HttpResponse::NoContent().finish())
}
