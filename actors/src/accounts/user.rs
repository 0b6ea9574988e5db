//! The user actor: one account.
//!
//! Creation writes through [`Ctx::save`], because a failed write must give back the claims it
//! took. Every other change is staged ([`Ctx::stage`]): answers wait for the write, and
//! changes that arrive while one is under way share the next.
//!
//! It owns the account (argon2id hash, role, plan), the failed-login count and lockout, and
//! the refresh-token families. Login attempts for one account are handled one at a time, so
//! the failed-login count is exact even under a flood of concurrent guesses.

use super::claim::{ClaimActor, ClaimOutcome, ClaimRequest, ClaimResponse};
use super::{password, AccountError, AccountsPolicy, LoginGrant, Plan, Role, Suspension, UserView};
use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use troupe_runtime::{Ctx, Directory, Entity};
use uuid::Uuid;

/// The actor kind `user`, keyed by the normalised (lowercase) username.
pub struct UserActor;

/// The durable state of an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserState {
    /// Stable id, for references from other entities.
    pub id: Uuid,
    /// The username as registered (its lowercase form is the actor key).
    pub username: String,
    /// Normalised email address.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Admin or user.
    pub role: Role,
    /// The subscription plan.
    pub plan: Plan,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// Consecutive failed logins since the last success or lockout.
    pub failed_logins: u32,
    /// Logins are refused until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// Refresh-token families (one per login), newest last.
    pub families: Vec<RefreshFamily>,
    /// The login attempt that failed last, so that a retried attempt is not counted twice.
    #[serde(default)]
    pub last_failed_attempt: Option<Uuid>,
    /// Set while the account is suspended (by a moderator): logins and refreshes are refused.
    #[serde(default)]
    pub suspended: Option<Suspension>,
    /// Whether the address was confirmed (a link in a mail to it, or an admin's say-so).
    #[serde(default)]
    pub email_verified: bool,
    /// The account will be deleted then, unless its owner signs in before.
    #[serde(default)]
    pub deletion_scheduled_at: Option<DateTime<Utc>>,
    /// Set once the account is deleted: what is left is a tombstone that holds the username
    /// back from registration until `hold_until`.
    #[serde(default)]
    pub deleted: Option<Tombstone>,
}

/// What is left of a deleted account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tombstone {
    /// When it was deleted.
    pub at: DateTime<Utc>,
    /// Nobody may register the username before then.
    pub hold_until: DateTime<Utc>,
}

/// One chain of rotating refresh tokens, started by a login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshFamily {
    /// Family id, carried in every token of the chain.
    pub id: Uuid,
    /// The generation of the only token of the chain that may be used next.
    pub generation: u32,
    /// The family dies then, whatever happens.
    pub expires_at: DateTime<Utc>,
    /// Revoked by logout or by the reuse of an old token.
    pub revoked: bool,
    /// The login attempt that started the family, so that a retried login returns it again.
    #[serde(default)]
    pub origin: Option<Uuid>,
    /// The refresh attempt that made the current generation, so that a retried refresh gets
    /// the same answer instead of looking like the reuse of a spent token.
    #[serde(default)]
    pub last_rotation: Option<Uuid>,
}

impl UserState {
    /// What the API shows of the account.
    pub(crate) fn view(&self) -> UserView {
        UserView {
            id: self.id,
            username: self.username.clone(),
            email: self.email.clone(),
            role: self.role,
            plan: self.plan,
            created_at: self.created_at,
            suspended: self.suspended.clone(),
            email_verified: self.email_verified,
            deletion_scheduled_at: self.deletion_scheduled_at,
        }
    }

    /// Whether the account exists (is not a deleted account's tombstone).
    pub fn live(&self) -> bool {
        self.deleted.is_none()
    }

    /// Revokes every refresh-token family but `keep`; whether any was live.
    fn revoke_families(&mut self, keep: Option<Uuid>) -> bool {
        let mut any = false;
        for f in self.families.iter_mut() {
            if Some(f.id) != keep && !f.revoked {
                f.revoked = true;
                any = true;
            }
        }
        any
    }
}

/// What the user actor needs from its surroundings.
#[derive(Clone)]
pub struct UserArgs {
    /// Claims, for unique emails and the first-admin rule.
    pub claims: Directory<ClaimActor>,
    /// Lockout, token lifetimes, admins.
    pub policy: Arc<AccountsPolicy>,
}

/// A new account, validated and hashed by the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewUser {
    /// The account id, chosen by the caller so that a retried creation is recognised.
    pub id: Uuid,
    /// The username as typed.
    pub username: String,
    /// Normalised email.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// Requests to the user actor. Each is idempotent: `attempt` ids let a retried login or
/// refresh find the answer the first try produced.
#[derive(Clone, Serialize, Deserialize)]
pub enum UserRequest {
    /// Creates the account if the username and the email are free.
    Create(NewUser),
    /// The account, if it exists.
    Get,
    /// Checks a password and, if it is right, starts a refresh-token family.
    Login {
        /// The password as typed.
        password: String,
        /// Unique per login attempt.
        attempt: Uuid,
    },
    /// Rotates a refresh token: `(family, generation)` must be the family's current one.
    Refresh {
        /// The token's family.
        family: Uuid,
        /// The token's generation.
        generation: u32,
        /// Unique per refresh attempt.
        attempt: Uuid,
    },
    /// Revokes a refresh-token family.
    Logout(Uuid),
    /// Changes the plan.
    SetPlan(Plan),
    /// Changes the role.
    SetRole(Role),
    /// Suspends (`Some`) or unsuspends (`None`); an existing suspension is kept as it is.
    SetSuspension(Option<Suspension>),
    /// Sets a new password hash (a reset: the caller checked the token, whose mail reached
    /// the address, which is therefore verified) and revokes every refresh-token family.
    SetPassword {
        /// argon2id PHC string.
        hash: String,
    },
    /// Changes the password if `current` is right, and revokes every refresh-token family but
    /// `keep` (the caller's own login).
    ChangePassword {
        /// The current password as typed.
        current: String,
        /// The new argon2id PHC string.
        hash: String,
        /// The caller's own refresh-token family, kept.
        keep: Option<Uuid>,
    },
    /// Checks the password (for changes that need it again).
    CheckPassword(String),
    /// Marks `email` verified, if it is still the account's address.
    MarkVerified {
        /// The address the verification link was sent to.
        email: String,
    },
    /// Sets whether the address is verified (an admin's override).
    SetEmailVerified(bool),
    /// Moves the account from address `from` to `to` (verified: a link proved it), if `from`
    /// is still its address; with `revoke`, revokes every refresh-token family too.
    ChangeEmail {
        /// The address it must have now.
        from: String,
        /// The new address.
        to: String,
        /// Sign out everywhere (an undo: somebody else may have made the change).
        revoke: bool,
    },
    /// Schedules the deletion at `at` if `password` is right (or without a password, when
    /// `None`: the caller checked who asks), and revokes every refresh-token family.
    ScheduleDeletion {
        /// The password as typed.
        password: Option<String>,
        /// When to delete.
        at: DateTime<Utc>,
    },
    /// Cancels a scheduled deletion.
    CancelDeletion,
    /// Deletes the account: what is left is a tombstone holding the username until
    /// `hold_until`, and the address is free again. Answers the account as it was.
    Erase {
        /// Until when the username stays taken.
        hold_until: DateTime<Utc>,
    },
}

/// Answers of the user actor.
#[derive(Debug, Serialize, Deserialize)]
pub enum UserResponse {
    /// To `Create` and `SetPlan`.
    Account(Result<UserView, AccountError>),
    /// To `Get`.
    Found(Option<UserView>),
    /// To `Login` and `Refresh`.
    Grant(Result<LoginGrant, AccountError>),
    /// To `Logout`.
    Done(Result<(), AccountError>),
}

impl Entity for UserActor {
    const KIND: &'static str = "user";
    const SCHEMA: u8 = 1;
    type State = UserState;
    type Request = UserRequest;
    type Response = UserResponse;
    type Args = UserArgs;

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: UserRequest,
    ) -> Result<UserResponse, ActorProcessingErr> {
        Ok(match req {
            UserRequest::Create(new) => UserResponse::Account(create(ctx, new).await),
            UserRequest::Get => UserResponse::Found(live(ctx).as_ref().map(UserState::view)),
            UserRequest::Login { password, attempt } => {
                UserResponse::Grant(login(ctx, password, attempt).await)
            }
            UserRequest::Refresh {
                family,
                generation,
                attempt,
            } => UserResponse::Grant(refresh(ctx, family, generation, attempt).await),
            UserRequest::Logout(family) => UserResponse::Done(logout(ctx, family).await),
            UserRequest::SetPlan(plan) => UserResponse::Account(match live(ctx) {
                None => Err(AccountError::NotFound),
                Some(mut s) => {
                    s.plan = plan;
                    let view = s.view();
                    // Batched: the answer waits for the write (see `Ctx::stage`).
                    ctx.stage(s);
                    Ok(view)
                }
            }),
            UserRequest::SetRole(role) => UserResponse::Account(match live(ctx) {
                None => Err(AccountError::NotFound),
                Some(s) if s.role == role => Ok(s.view()),
                Some(mut s) => {
                    s.role = role;
                    let view = s.view();
                    ctx.stage(s);
                    Ok(view)
                }
            }),
            UserRequest::SetPassword { hash } => UserResponse::Account(match live(ctx) {
                None => Err(AccountError::NotFound),
                Some(mut s) => {
                    s.password_hash = hash;
                    // The reset link reached the address: that verifies it.
                    s.email_verified = true;
                    s.failed_logins = 0;
                    s.locked_until = None;
                    s.revoke_families(None);
                    save(ctx, s).await
                }
            }),
            UserRequest::ChangePassword {
                current,
                hash,
                keep,
            } => UserResponse::Account(match live(ctx) {
                None => Err(AccountError::NotFound),
                Some(mut s) => {
                    if !verify_blocking(current, s.password_hash.clone()).await {
                        Err(AccountError::WrongPassword)
                    } else {
                        s.password_hash = hash;
                        s.revoke_families(keep);
                        save(ctx, s).await
                    }
                }
            }),
            UserRequest::CheckPassword(password) => UserResponse::Done(match live(ctx) {
                None => Err(AccountError::NotFound),
                Some(s) => {
                    if verify_blocking(password, s.password_hash.clone()).await {
                        Ok(())
                    } else {
                        Err(AccountError::WrongPassword)
                    }
                }
            }),
            UserRequest::MarkVerified { email } => UserResponse::Account(match live(ctx) {
                Some(s) if s.email != email => Err(AccountError::TokenExpired),
                Some(s) if s.email_verified => Ok(s.view()),
                Some(mut s) => {
                    s.email_verified = true;
                    save(ctx, s).await
                }
                None => Err(AccountError::TokenExpired),
            }),
            UserRequest::SetEmailVerified(v) => UserResponse::Account(match live(ctx) {
                None => Err(AccountError::NotFound),
                Some(s) if s.email_verified == v => Ok(s.view()),
                Some(mut s) => {
                    s.email_verified = v;
                    save(ctx, s).await
                }
            }),
            UserRequest::ChangeEmail { from, to, revoke } => {
                UserResponse::Account(change_email(ctx, from, to, revoke).await)
            }
            UserRequest::ScheduleDeletion { password, at } => {
                UserResponse::Account(match live(ctx) {
                    None => Err(AccountError::NotFound),
                    Some(mut s) => {
                        let ok = match password {
                            Some(p) => verify_blocking(p, s.password_hash.clone()).await,
                            None => true,
                        };
                        if !ok {
                            Err(AccountError::WrongPassword)
                        } else {
                            // A repeat keeps the first date.
                            s.deletion_scheduled_at.get_or_insert(at);
                            s.revoke_families(None);
                            save(ctx, s).await
                        }
                    }
                })
            }
            UserRequest::CancelDeletion => UserResponse::Account(match live(ctx) {
                None => Err(AccountError::NotFound),
                Some(s) if s.deletion_scheduled_at.is_none() => Ok(s.view()),
                Some(mut s) => {
                    s.deletion_scheduled_at = None;
                    save(ctx, s).await
                }
            }),
            UserRequest::Erase { hold_until } => {
                UserResponse::Account(erase(ctx, hold_until).await)
            }
            UserRequest::SetSuspension(suspension) => {
                UserResponse::Account(match live(ctx) {
                    None => Err(AccountError::NotFound),
                    // Already so (a retry, or a second suspension): the first one stands.
                    Some(s) if s.suspended.is_some() == suspension.is_some() => Ok(s.view()),
                    Some(mut s) => {
                        s.suspended = suspension;
                        let view = s.view();
                        ctx.stage(s);
                        Ok(view)
                    }
                })
            }
        })
    }
}

async fn save(ctx: &mut Ctx<UserActor>, state: UserState) -> Result<UserView, AccountError> {
    let view = state.view();
    ctx.save(state).await?;
    Ok(view)
}

async fn create(ctx: &mut Ctx<UserActor>, new: NewUser) -> Result<UserView, AccountError> {
    match ctx.state() {
        // A retry of the creation that made this account.
        Some(s) if s.id == new.id => return Ok(s.view()),
        // A deleted account's name, free again once its hold is over.
        Some(s)
            if s.deleted
                .as_ref()
                .is_some_and(|t| t.hold_until <= Utc::now()) => {}
        Some(_) => return Err(AccountError::UsernameTaken),
        None => {}
    }
    let id = new.id;
    let key = ctx.key().to_owned();
    // Usernames and channel handles share one namespace: the account's default channel
    // (whose id is the account's) takes the username as its handle.
    let handle_claim = format!("handle:{key}");
    if !claim(ctx, &handle_claim, id, &key).await? {
        return Err(AccountError::UsernameTaken);
    }
    let email_claim = format!("email:{}", new.email);
    if !claim(ctx, &email_claim, id, &key).await? {
        release(ctx, &handle_claim, id).await;
        return Err(AccountError::EmailTaken);
    }
    let policy = ctx.args().policy.clone();
    let mut first_admin = false;
    let role = if !policy.admin_usernames.is_empty() {
        if policy
            .admin_usernames
            .iter()
            .any(|a| a.to_lowercase() == key)
        {
            Role::Admin
        } else {
            Role::User
        }
    } else {
        first_admin = claim(ctx, "first-admin", id, &key).await?;
        if first_admin {
            Role::Admin
        } else {
            Role::User
        }
    };
    let state = UserState {
        id,
        username: new.username,
        email: new.email,
        password_hash: new.password_hash,
        role,
        plan: Plan::Free,
        created_at: Utc::now(),
        failed_logins: 0,
        locked_until: None,
        families: Vec::new(),
        last_failed_attempt: None,
        suspended: None,
        email_verified: false,
        deletion_scheduled_at: None,
        deleted: None,
    };
    match save(ctx, state).await {
        Ok(view) => Ok(view),
        Err(e) => {
            // Give back what we claimed, so the email (and the admin seat) stay available.
            release(ctx, &email_claim, id).await;
            release(ctx, &handle_claim, id).await;
            if first_admin {
                release(ctx, "first-admin", id).await;
            }
            Err(e)
        }
    }
}

/// Claims `name` for user `id`. A claim left by a registration that never completed (its
/// holder does not exist) is taken over once it is older than the policy's grace period.
async fn claim(
    ctx: &Ctx<UserActor>,
    name: &str,
    id: Uuid,
    key: &str,
) -> Result<bool, AccountError> {
    let claims = ctx.args().claims.clone();
    let ask = |takeover: Option<Uuid>| {
        let claims = claims.clone();
        let request = ClaimRequest::Claim {
            owner: id,
            username: key.to_owned(),
            takeover,
        };
        let name = name.to_owned();
        async move {
            match claims.call(&name, request).await? {
                ClaimResponse::Claimed(outcome) => outcome.map_err(AccountError::Store),
                other => Err(unexpected(other)),
            }
        }
    };
    let held = match ask(None).await? {
        ClaimOutcome::Won => return Ok(true),
        ClaimOutcome::Held(h) => h,
    };
    let stale = if held.username == key {
        // An earlier registration of this very username that never completed: this actor
        // has no state, so that account does not exist.
        true
    } else {
        let grace = ctx.args().policy.stale_claim_after;
        let old_enough = Utc::now().signed_duration_since(held.claimed_at)
            > chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        // The holder may be a channel (a handle claim), whose id is not an account's.
        old_enough
            && ctx
                .peek::<crate::channels::channel::ChannelActor>(&held.owner.to_string())
                .await?
                .is_none()
            && match ctx.peek::<UserActor>(&held.username).await? {
                Some(u) => u.id != held.owner,
                None => true,
            }
    };
    if !stale {
        return Ok(false);
    }
    Ok(matches!(ask(Some(held.owner)).await?, ClaimOutcome::Won))
}

async fn release(ctx: &Ctx<UserActor>, name: &str, id: Uuid) {
    let result = ctx
        .args()
        .claims
        .call(name, ClaimRequest::Release { owner: id })
        .await;
    if !matches!(result, Ok(ClaimResponse::Released(Ok(())))) {
        tracing::warn!(
            claim = name,
            "could not release a claim; it becomes stale and can be taken over"
        );
    }
}

async fn login(
    ctx: &mut Ctx<UserActor>,
    pw: String,
    attempt: Uuid,
) -> Result<LoginGrant, AccountError> {
    let now = Utc::now();
    let Some(mut state) = live(ctx) else {
        // Same work, same answer as a wrong password.
        let _ = verify_blocking(pw, password::DUMMY_HASH.clone()).await;
        return Err(AccountError::InvalidCredentials);
    };
    let locked = state.locked_until.is_some_and(|t| t > now);
    let ok = verify_blocking(pw, state.password_hash.clone()).await;
    if locked {
        return Err(AccountError::InvalidCredentials);
    }
    let policy = ctx.args().policy.clone();
    if ok {
        if let Some(s) = &state.suspended {
            return Err(AccountError::Suspended(s.clone()));
        }
        // Admins may: an instance can be set up before its mail works.
        if policy.require_verified_email && !state.email_verified && state.role != Role::Admin {
            return Err(AccountError::EmailNotVerified);
        }
    }
    if !ok {
        if state.last_failed_attempt == Some(attempt) {
            return Err(AccountError::InvalidCredentials);
        }
        state.last_failed_attempt = Some(attempt);
        state.failed_logins += 1;
        if state.failed_logins >= policy.max_failed_logins {
            state.failed_logins = 0;
            state.locked_until =
                Some(now + chrono::Duration::from_std(policy.lockout).unwrap_or_default());
            tracing::warn!(user = %ctx.key(), "account locked after repeated failed logins");
        }
        ctx.stage(state);
        return Err(AccountError::InvalidCredentials);
    }
    if let Some(f) = state.families.iter().find(|f| f.origin == Some(attempt)) {
        // A retry of a login that already succeeded: the same family again.
        return Ok(LoginGrant {
            user: state.view(),
            family: f.id,
            generation: f.generation,
            refresh_expires_at: f.expires_at,
        });
    }
    state.failed_logins = 0;
    state.locked_until = None;
    if state.deletion_scheduled_at.take().is_some() {
        tracing::info!(user = %ctx.key(), "signed in: the scheduled deletion is cancelled");
    }
    state.families.retain(|f| f.expires_at > now);
    while state.families.len() >= policy.max_refresh_families {
        state.families.remove(0);
    }
    let family = RefreshFamily {
        id: Uuid::new_v4(),
        generation: 0,
        expires_at: now + chrono::Duration::from_std(policy.refresh_ttl).unwrap_or_default(),
        revoked: false,
        origin: Some(attempt),
        last_rotation: None,
    };
    let grant = LoginGrant {
        user: state.view(),
        family: family.id,
        generation: 0,
        refresh_expires_at: family.expires_at,
    };
    state.families.push(family);
    ctx.stage(state);
    Ok(grant)
}

async fn verify_blocking(pw: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .unwrap_or(false)
}

async fn refresh(
    ctx: &mut Ctx<UserActor>,
    family: Uuid,
    generation: u32,
    attempt: Uuid,
) -> Result<LoginGrant, AccountError> {
    let now = Utc::now();
    let Some(mut state) = live(ctx) else {
        return Err(AccountError::RefreshInvalid);
    };
    if let Some(s) = &state.suspended {
        return Err(AccountError::Suspended(s.clone()));
    }
    let Some(f) = state.families.iter_mut().find(|f| f.id == family) else {
        return Err(AccountError::RefreshInvalid);
    };
    if f.revoked || f.expires_at <= now || generation > f.generation {
        return Err(AccountError::RefreshInvalid);
    }
    if generation + 1 == f.generation && f.last_rotation == Some(attempt) {
        // A retry of the rotation that made the current generation: the same answer.
        let (generation, refresh_expires_at) = (f.generation, f.expires_at);
        return Ok(LoginGrant {
            user: state.view(),
            family,
            generation,
            refresh_expires_at,
        });
    }
    if generation < f.generation {
        // An old token of the chain came back: it was stolen, or the client is confused.
        // Either way nobody can be trusted with this family any more.
        f.revoked = true;
        tracing::warn!(user = %ctx.key(), %family, "refresh token reused; family revoked");
        ctx.stage(state);
        return Err(AccountError::RefreshReused);
    }
    f.generation += 1;
    f.last_rotation = Some(attempt);
    let (generation, refresh_expires_at) = (f.generation, f.expires_at);
    let grant = LoginGrant {
        user: state.view(),
        family,
        generation,
        refresh_expires_at,
    };
    ctx.stage(state);
    Ok(grant)
}

async fn logout(ctx: &mut Ctx<UserActor>, family: Uuid) -> Result<(), AccountError> {
    let Some(mut state) = ctx.state().cloned() else {
        return Ok(());
    };
    match state.families.iter_mut().find(|f| f.id == family) {
        Some(f) if !f.revoked => {
            f.revoked = true;
            ctx.stage(state);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The account's state, unless there is none or it was deleted.
fn live(ctx: &Ctx<UserActor>) -> Option<UserState> {
    ctx.state().filter(|s| s.live()).cloned()
}

async fn change_email(
    ctx: &mut Ctx<UserActor>,
    from: String,
    to: String,
    revoke: bool,
) -> Result<UserView, AccountError> {
    let Some(mut s) = live(ctx) else {
        return Err(AccountError::TokenExpired);
    };
    if s.email == to {
        // A retry of this very change.
        return Ok(s.view());
    }
    if s.email != from {
        // The address changed since the link was sent: the link is stale.
        return Err(AccountError::TokenExpired);
    }
    let key = ctx.key().to_owned();
    let new_claim = format!("email:{to}");
    if !claim(ctx, &new_claim, s.id, &key).await? {
        return Err(AccountError::EmailTaken);
    }
    s.email = to;
    s.email_verified = true;
    if revoke {
        s.revoke_families(None);
    }
    let id = s.id;
    match save(ctx, s).await {
        Ok(view) => {
            release(ctx, &format!("email:{from}"), id).await;
            Ok(view)
        }
        Err(e) => {
            release(ctx, &new_claim, id).await;
            Err(e)
        }
    }
}

async fn erase(
    ctx: &mut Ctx<UserActor>,
    hold_until: DateTime<Utc>,
) -> Result<UserView, AccountError> {
    let Some(s) = ctx.state().cloned() else {
        return Err(AccountError::NotFound);
    };
    if s.deleted.is_some() {
        // A retry: the account as far as the tombstone remembers (no address any more).
        return Ok(s.view());
    }
    let before = s.view();
    let mut gone = s.clone();
    gone.deleted = Some(Tombstone {
        at: Utc::now(),
        hold_until,
    });
    gone.email = String::new();
    gone.password_hash = String::new();
    gone.families.clear();
    gone.deletion_scheduled_at = None;
    gone.email_verified = false;
    ctx.save(gone).await?;
    // The address may register again at once.
    release(ctx, &format!("email:{}", s.email), s.id).await;
    Ok(before)
}

/// An answer of the wrong shape: a bug, reported as an error rather than a panic.
pub(crate) fn unexpected(answer: impl std::fmt::Debug) -> AccountError {
    AccountError::Store(format!(
        "unexpected answer from an account actor: {answer:?}"
    ))
}
