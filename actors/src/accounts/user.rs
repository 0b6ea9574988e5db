//! The user actor: one account.
//!
//! It owns the account (argon2id hash, role, plan), the failed-login count and lockout, and
//! the refresh-token families. Login attempts for one account are handled one at a time, so
//! the failed-login count is exact even under a flood of concurrent guesses.

use super::claim::{ClaimActor, ClaimMsg, ClaimOutcome};
use super::{password, AccountError, AccountsPolicy, LoginGrant, Plan, Role, UserView};
use crate::runtime::{Ctx, Directory, Entity};
use chrono::{DateTime, Utc};
use ractor::{ActorProcessingErr, RpcReplyPort};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
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
}

impl UserState {
    fn view(&self) -> UserView {
        UserView {
            id: self.id,
            username: self.username.clone(),
            email: self.email.clone(),
            role: self.role,
            plan: self.plan,
            created_at: self.created_at,
        }
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
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The username as typed.
    pub username: String,
    /// Normalised email.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// Messages of the user actor.
pub enum UserMsg {
    /// Creates the account if the username and the email are free.
    Create(NewUser, RpcReplyPort<Result<UserView, AccountError>>),
    /// The account, if it exists.
    Get(RpcReplyPort<Option<UserView>>),
    /// Checks a password and, if it is right, starts a refresh-token family.
    Login(String, RpcReplyPort<Result<LoginGrant, AccountError>>),
    /// Rotates a refresh token: `(family, generation)` must be the family's current one.
    Refresh(Uuid, u32, RpcReplyPort<Result<LoginGrant, AccountError>>),
    /// Revokes a refresh-token family.
    Logout(Uuid, RpcReplyPort<Result<(), AccountError>>),
    /// Changes the plan.
    SetPlan(Plan, RpcReplyPort<Result<UserView, AccountError>>),
}

impl Entity for UserActor {
    const KIND: &'static str = "user";
    const SCHEMA: u8 = 1;
    type State = UserState;
    type Msg = UserMsg;
    type Args = UserArgs;

    async fn handle(ctx: &mut Ctx<Self>, msg: UserMsg) -> Result<(), ActorProcessingErr> {
        match msg {
            UserMsg::Create(new, reply) => {
                let _ = reply.send(create(ctx, new).await);
            }
            UserMsg::Get(reply) => {
                let _ = reply.send(ctx.state().map(UserState::view));
            }
            UserMsg::Login(pw, reply) => {
                let _ = reply.send(login(ctx, pw).await);
            }
            UserMsg::Refresh(family, generation, reply) => {
                let _ = reply.send(refresh(ctx, family, generation).await);
            }
            UserMsg::Logout(family, reply) => {
                let _ = reply.send(logout(ctx, family).await);
            }
            UserMsg::SetPlan(plan, reply) => {
                let result = match ctx.state().cloned() {
                    None => Err(AccountError::NotFound),
                    Some(mut s) => {
                        s.plan = plan;
                        save(ctx, s).await
                    }
                };
                let _ = reply.send(result);
            }
        }
        Ok(())
    }
}

async fn save(ctx: &mut Ctx<UserActor>, state: UserState) -> Result<UserView, AccountError> {
    let view = state.view();
    ctx.save(state).await?;
    Ok(view)
}

async fn create(ctx: &mut Ctx<UserActor>, new: NewUser) -> Result<UserView, AccountError> {
    if ctx.state().is_some() {
        return Err(AccountError::UsernameTaken);
    }
    let id = Uuid::now_v7();
    let key = ctx.key().to_owned();
    let email_claim = format!("email:{}", new.email);
    if !claim(ctx, &email_claim, id, &key).await? {
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
    };
    match save(ctx, state).await {
        Ok(view) => Ok(view),
        Err(e) => {
            // Give back what we claimed, so the email (and the admin seat) stay available.
            release(ctx, &email_claim, id).await;
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
        let key = key.to_owned();
        let name = name.to_owned();
        async move {
            claims
                .call(&name, |reply| ClaimMsg::Claim {
                    owner: id,
                    username: key.clone(),
                    takeover,
                    reply,
                })
                .await?
                .map_err(AccountError::Store)
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
        old_enough
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
        .call(name, |reply| ClaimMsg::Release { owner: id, reply })
        .await;
    if !matches!(result, Ok(Ok(()))) {
        tracing::warn!(
            claim = name,
            "could not release a claim; it becomes stale and can be taken over"
        );
    }
}

async fn login(ctx: &mut Ctx<UserActor>, pw: String) -> Result<LoginGrant, AccountError> {
    let now = Utc::now();
    let Some(mut state) = ctx.state().cloned() else {
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
    if !ok {
        state.failed_logins += 1;
        if state.failed_logins >= policy.max_failed_logins {
            state.failed_logins = 0;
            state.locked_until =
                Some(now + chrono::Duration::from_std(policy.lockout).unwrap_or_default());
            tracing::warn!(user = %ctx.key(), "account locked after repeated failed logins");
        }
        ctx.save(state).await?;
        return Err(AccountError::InvalidCredentials);
    }
    state.failed_logins = 0;
    state.locked_until = None;
    state.families.retain(|f| f.expires_at > now);
    while state.families.len() >= policy.max_refresh_families {
        state.families.remove(0);
    }
    let family = RefreshFamily {
        id: Uuid::new_v4(),
        generation: 0,
        expires_at: now + chrono::Duration::from_std(policy.refresh_ttl).unwrap_or_default(),
        revoked: false,
    };
    let grant = LoginGrant {
        user: state.view(),
        family: family.id,
        generation: 0,
        refresh_expires_at: family.expires_at,
    };
    state.families.push(family);
    ctx.save(state).await?;
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
) -> Result<LoginGrant, AccountError> {
    let now = Utc::now();
    let Some(mut state) = ctx.state().cloned() else {
        return Err(AccountError::RefreshInvalid);
    };
    let Some(f) = state.families.iter_mut().find(|f| f.id == family) else {
        return Err(AccountError::RefreshInvalid);
    };
    if f.revoked || f.expires_at <= now || generation > f.generation {
        return Err(AccountError::RefreshInvalid);
    }
    if generation < f.generation {
        // An old token of the chain came back: it was stolen, or the client is confused.
        // Either way nobody can be trusted with this family any more.
        f.revoked = true;
        tracing::warn!(user = %ctx.key(), %family, "refresh token reused; family revoked");
        ctx.save(state).await?;
        return Err(AccountError::RefreshReused);
    }
    f.generation += 1;
    let (generation, refresh_expires_at) = (f.generation, f.expires_at);
    let grant = LoginGrant {
        user: state.view(),
        family,
        generation,
        refresh_expires_at,
    };
    ctx.save(state).await?;
    Ok(grant)
}

async fn logout(ctx: &mut Ctx<UserActor>, family: Uuid) -> Result<(), AccountError> {
    let Some(mut state) = ctx.state().cloned() else {
        return Ok(());
    };
    match state.families.iter_mut().find(|f| f.id == family) {
        Some(f) if !f.revoked => {
            f.revoked = true;
            ctx.save(state).await?;
            Ok(())
        }
        _ => Ok(()),
    }
}
