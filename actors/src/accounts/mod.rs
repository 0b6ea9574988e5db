//! Accounts: the user actor, the claim actor, and the registration and login flows that use
//! them.
//!
//! ```text
//! Accounts::register ──▶ user/<name> Create ──▶ claim/email:<email>   (unique email)
//!                                           └─▶ claim/first-admin     (first user is admin)
//! Accounts::login    ──▶ user/<name> Login  (argon2id on a blocking thread; lockout)
//! ```
//!
//! Usernames are unique because the user actor is keyed by the lowercase username: of two
//! concurrent registrations of one name, the actor handles one first and refuses the other.

pub mod claim;
pub mod export;
pub mod password;
pub mod token;
pub mod user;

use chrono::{DateTime, Utc};
use claim::{ClaimActor, ClaimRequest, ClaimResponse};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use troupe_runtime::store::{StateStore, StoreError};
use troupe_runtime::{CallError, Directory, System};
use user::{unexpected, NewUser, UserActor, UserArgs, UserRequest, UserResponse};
use uuid::Uuid;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages users and every video.
    Admin,
    /// Moderates: reports, held comments, hidden videos, suspensions. Granted by admins.
    Moderator,
    /// An ordinary account.
    User,
}

impl Role {
    /// Whether the role moderates (moderators and admins).
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Moderator)
    }
}

/// Why and since when an account is suspended: it cannot log in, its requests are refused,
/// and its videos and comments are hidden from everyone but staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suspension {
    /// The moderator's reason, shown to the account when it tries to log in.
    pub reason: String,
    /// When it was suspended.
    pub at: DateTime<Utc>,
}

/// A subscription plan: how many streams at once, and up to which rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// 1 stream, up to 480p.
    Free,
    /// 2 streams, up to 720p.
    Basic,
    /// 4 streams, up to 1080p.
    Premium,
    /// 6 streams, up to 2160p.
    Ultimate,
}

impl Plan {
    /// The most concurrent streams the plan allows.
    pub fn max_streams(self) -> u32 {
        match self {
            Plan::Free => 1,
            Plan::Basic => 2,
            Plan::Premium => 4,
            Plan::Ultimate => 6,
        }
    }

    /// The tallest rendition the plan allows, in lines (480 for 480p).
    pub fn max_rendition(self) -> u32 {
        match self {
            Plan::Free => 480,
            Plan::Basic => 720,
            Plan::Premium => 1080,
            Plan::Ultimate => 2160,
        }
    }
}

/// An account as others may see it (no hash, no token state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    /// Stable user id.
    pub id: Uuid,
    /// Username as registered.
    pub username: String,
    /// Email address (lowercase).
    pub email: String,
    /// Role.
    pub role: Role,
    /// Plan.
    pub plan: Plan,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Set while the account is suspended.
    #[serde(default)]
    pub suspended: Option<Suspension>,
    /// Whether the address was confirmed (by a link mailed to it, or by an admin).
    #[serde(default)]
    pub email_verified: bool,
    /// When the account will be deleted, if its owner asked; signing in cancels it.
    #[serde(default)]
    pub deletion_scheduled_at: Option<DateTime<Utc>>,
}

/// A successful login or refresh: the account, and the refresh-token family position that the
/// HTTP layer signs into a refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginGrant {
    /// The account.
    pub user: UserView,
    /// The refresh-token family.
    pub family: Uuid,
    /// The generation of the next refresh token.
    pub generation: u32,
    /// When the family expires.
    pub refresh_expires_at: DateTime<Utc>,
}

/// Why an account operation failed.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub enum AccountError {
    /// The username is malformed.
    #[error("invalid username: {0}")]
    InvalidUsername(String),
    /// The email address is malformed.
    #[error("invalid email: {0}")]
    InvalidEmail(String),
    /// The password is too weak.
    #[error("password too weak: {0}")]
    WeakPassword(String),
    /// Somebody has that username.
    #[error("username already taken")]
    UsernameTaken,
    /// Somebody has that email address.
    #[error("email already registered")]
    EmailTaken,
    /// Unknown user, wrong password, or a locked account: deliberately indistinguishable.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The refresh token's family is unknown, revoked or expired.
    #[error("refresh token invalid")]
    RefreshInvalid,
    /// An already-rotated refresh token was presented; its family is now revoked.
    #[error("refresh token reused; all sessions from that login are revoked")]
    RefreshReused,
    /// No such account.
    #[error("no such user")]
    NotFound,
    /// The current password given with a change is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// The password is right but the address is not verified, and the instance requires it.
    #[error("the email address is not verified yet")]
    EmailNotVerified,
    /// A token nobody issued (forged, mistyped, or for another purpose).
    #[error("invalid token")]
    TokenInvalid,
    /// A token used already, expired, or made stale by a later change.
    #[error("token used or expired")]
    TokenExpired,
    /// The account is suspended: no login, no refresh.
    #[error("this account is suspended: {}", .0.reason)]
    Suspended(Suspension),
    /// The state store failed; nothing was changed.
    #[error("state store error: {0}")]
    Store(String),
    /// The actor did not answer.
    #[error("{0}")]
    Unavailable(#[from] CallError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        AccountError::Store(e.to_string())
    }
}

/// Account rules that come from configuration.
#[derive(Debug, Clone)]
pub struct AccountsPolicy {
    /// Failed logins in a row before the account locks.
    pub max_failed_logins: u32,
    /// How long a locked account stays locked.
    pub lockout: Duration,
    /// Lifetime of a refresh-token family (a login).
    pub refresh_ttl: Duration,
    /// Live logins kept per account; the oldest is dropped beyond this.
    pub max_refresh_families: usize,
    /// Usernames that are admins. When empty, the first registered user is admin.
    pub admin_usernames: Vec<String>,
    /// Minimum zxcvbn score (0-4) of a new password.
    pub min_password_score: u8,
    /// A claim whose holder never came to exist may be taken over after this long.
    pub stale_claim_after: Duration,
    /// Whether an account with an unverified address may sign in (`false`: it may).
    pub require_verified_email: bool,
}

impl Default for AccountsPolicy {
    fn default() -> Self {
        Self {
            max_failed_logins: 5,
            lockout: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            max_refresh_families: 20,
            admin_usernames: Vec::new(),
            min_password_score: 2,
            stale_claim_after: Duration::from_secs(60),
            require_verified_email: false,
        }
    }
}

/// The accounts service: validation, hashing, and the actors behind them.
#[derive(Clone)]
pub struct Accounts {
    users: Directory<UserActor>,
    claims: Directory<ClaimActor>,
    tokens: Directory<token::TokenActor>,
    exports: Directory<export::ExportActor>,
    policy: Arc<AccountsPolicy>,
    /// For listing accounts (admins), which reads stored state without activating anyone.
    store: Arc<dyn StateStore>,
}

/// A page of accounts.
#[derive(Debug, Clone)]
pub struct UserPage {
    /// The accounts, by username.
    pub items: Vec<UserView>,
    /// The last username of this page when more follow.
    pub next_cursor: Option<String>,
}

impl Accounts {
    /// Starts the user and claim directories in `system`.
    pub async fn start(system: &System, policy: AccountsPolicy) -> Result<Self, CallError> {
        let policy = Arc::new(policy);
        let claims = Directory::<ClaimActor>::start(system, ()).await?;
        let tokens = Directory::<token::TokenActor>::start(system, ()).await?;
        let exports = Directory::<export::ExportActor>::start(system, ()).await?;
        let users = Directory::<UserActor>::start(
            system,
            UserArgs {
                claims: claims.clone(),
                policy: policy.clone(),
            },
        )
        .await?;
        Ok(Self {
            users,
            claims,
            tokens,
            exports,
            policy,
            store: system.store().clone(),
        })
    }

    /// Accounts by username, `limit` at a time, after the username `after`. Reads the stored
    /// state (every account, for now: the catalogue index will serve this).
    pub async fn list(&self, limit: usize, after: Option<&str>) -> Result<UserPage, AccountError> {
        let prefix = format!("{}/", <UserActor as troupe_runtime::Entity>::KIND);
        let entries = self
            .store
            .scan_prefix(&prefix)
            .await
            .map_err(|e| AccountError::Store(e.to_string()))?;
        let mut items: Vec<UserView> = entries
            .into_iter()
            .filter_map(|(_, v)| {
                troupe_runtime::codec::decode::<user::UserState>(
                    <UserActor as troupe_runtime::Entity>::SCHEMA,
                    &v.value,
                )
                .ok()
            })
            .filter(|u| u.live())
            .map(|u| u.view())
            .filter(|u| after.is_none_or(|a| u.username.to_ascii_lowercase().as_str() > a))
            .collect();
        items.sort_by_key(|u| u.username.to_ascii_lowercase());
        let next_cursor =
            (items.len() > limit).then(|| items[limit - 1].username.to_ascii_lowercase());
        items.truncate(limit);
        Ok(UserPage { items, next_cursor })
    }

    /// The user directory.
    pub fn users(&self) -> &Directory<UserActor> {
        &self.users
    }

    /// The claim directory.
    pub fn claims(&self) -> &Directory<ClaimActor> {
        &self.claims
    }

    async fn ask(
        &self,
        user_key: &str,
        request: UserRequest,
    ) -> Result<UserResponse, AccountError> {
        Ok(self.users.call(user_key, request).await?)
    }

    /// Registers an account.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> Result<UserView, AccountError> {
        let key = normalize_username(username)?;
        let email = normalize_email(email)?;
        let (pw, user_inputs, min) = (
            password.to_owned(),
            [username.to_owned(), email.clone()],
            self.policy.min_password_score,
        );
        let password_hash = tokio::task::spawn_blocking(move || {
            let inputs: Vec<&str> = user_inputs.iter().map(String::as_str).collect();
            password::check_strength(&pw, min, &inputs)
                .map_err(|w| AccountError::WeakPassword(w.advice))?;
            password::hash(&pw).map_err(AccountError::Store)
        })
        .await
        .map_err(|e| AccountError::Store(format!("hashing task failed: {e}")))??;
        let new = NewUser {
            id: Uuid::now_v7(),
            username: username.to_owned(),
            email,
            password_hash,
        };
        match self.ask(&key, UserRequest::Create(new)).await? {
            UserResponse::Account(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// Checks a username (or email) and password, and starts a login.
    pub async fn login(&self, login: &str, password: &str) -> Result<LoginGrant, AccountError> {
        let key = if login.contains('@') {
            let email = login.trim().to_lowercase();
            match self
                .claims
                .call(&format!("email:{email}"), ClaimRequest::Get)
                .await?
            {
                ClaimResponse::Holder(Some(held)) => held.username,
                ClaimResponse::Holder(None) => {
                    let pw = password.to_owned();
                    let _ = tokio::task::spawn_blocking(move || {
                        password::verify(&pw, &password::DUMMY_HASH)
                    })
                    .await;
                    return Err(AccountError::InvalidCredentials);
                }
                other => return Err(unexpected(other)),
            }
        } else {
            login.trim().to_lowercase()
        };
        if key.is_empty() || key.len() > 64 {
            return Err(AccountError::InvalidCredentials);
        }
        let request = UserRequest::Login {
            password: password.to_owned(),
            attempt: Uuid::new_v4(),
        };
        match self.ask(&key, request).await? {
            UserResponse::Grant(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// Rotates a refresh token.
    pub async fn refresh(
        &self,
        user_key: &str,
        family: Uuid,
        generation: u32,
    ) -> Result<LoginGrant, AccountError> {
        let request = UserRequest::Refresh {
            family,
            generation,
            attempt: Uuid::new_v4(),
        };
        match self.ask(user_key, request).await? {
            UserResponse::Grant(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// Ends a login (revokes its refresh-token family).
    pub async fn logout(&self, user_key: &str, family: Uuid) -> Result<(), AccountError> {
        match self.ask(user_key, UserRequest::Logout(family)).await? {
            UserResponse::Done(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// The account `user_key`, if it exists.
    pub async fn get(&self, user_key: &str) -> Result<Option<UserView>, AccountError> {
        match self.ask(user_key, UserRequest::Get).await? {
            UserResponse::Found(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// Sets the role of `user_key`.
    pub async fn set_role(&self, user_key: &str, role: Role) -> Result<UserView, AccountError> {
        match self.ask(user_key, UserRequest::SetRole(role)).await? {
            UserResponse::Account(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// Suspends (`Some`) or unsuspends (`None`) `user_key`. Idempotent: suspending a
    /// suspended account keeps its first suspension.
    pub async fn set_suspension(
        &self,
        user_key: &str,
        suspension: Option<Suspension>,
    ) -> Result<UserView, AccountError> {
        match self
            .ask(user_key, UserRequest::SetSuspension(suspension))
            .await?
        {
            UserResponse::Account(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// Sets the plan of `user_key`.
    pub async fn set_plan(&self, user_key: &str, plan: Plan) -> Result<UserView, AccountError> {
        match self.ask(user_key, UserRequest::SetPlan(plan)).await? {
            UserResponse::Account(r) => r,
            other => Err(unexpected(other)),
        }
    }
}

impl Accounts {
    async fn account(&self, user_key: &str, req: UserRequest) -> Result<UserView, AccountError> {
        match self.ask(user_key, req).await? {
            UserResponse::Account(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// The account holding the address `email`, by its actor key, if any.
    pub async fn key_by_email(&self, email: &str) -> Result<Option<String>, AccountError> {
        let email = email.trim().to_lowercase();
        match self
            .claims
            .call(&format!("email:{email}"), ClaimRequest::Get)
            .await?
        {
            ClaimResponse::Holder(held) => Ok(held.map(|h| h.username)),
            other => Err(unexpected(other)),
        }
    }

    /// Checks a new password against the strength rule (with the account's name and address
    /// as guessable words) and hashes it, on a blocking thread.
    pub async fn hash_new_password(
        &self,
        password: &str,
        user_inputs: [String; 2],
    ) -> Result<String, AccountError> {
        let (pw, min) = (password.to_owned(), self.policy.min_password_score);
        tokio::task::spawn_blocking(move || {
            let inputs: Vec<&str> = user_inputs.iter().map(String::as_str).collect();
            password::check_strength(&pw, min, &inputs)
                .map_err(|w| AccountError::WeakPassword(w.advice))?;
            password::hash(&pw).map_err(AccountError::Store)
        })
        .await
        .map_err(|e| AccountError::Store(format!("hashing task failed: {e}")))?
    }

    /// Sets a new password hash and revokes every login (a reset).
    pub async fn set_password(
        &self,
        user_key: &str,
        hash: String,
    ) -> Result<UserView, AccountError> {
        self.account(user_key, UserRequest::SetPassword { hash })
            .await
    }

    /// Changes the password if `current` is right; revokes every login but `keep`.
    pub async fn change_password(
        &self,
        user_key: &str,
        current: &str,
        hash: String,
        keep: Option<Uuid>,
    ) -> Result<UserView, AccountError> {
        let req = UserRequest::ChangePassword {
            current: current.to_owned(),
            hash,
            keep,
        };
        self.account(user_key, req).await
    }

    /// `Ok` if `password` is the account's; [`AccountError::WrongPassword`] if not.
    pub async fn check_password(&self, user_key: &str, password: &str) -> Result<(), AccountError> {
        match self
            .ask(user_key, UserRequest::CheckPassword(password.to_owned()))
            .await?
        {
            UserResponse::Done(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// Marks `email` verified if it is still the account's address.
    pub async fn mark_verified(
        &self,
        user_key: &str,
        email: &str,
    ) -> Result<UserView, AccountError> {
        let req = UserRequest::MarkVerified {
            email: email.to_owned(),
        };
        self.account(user_key, req).await
    }

    /// Sets whether the address is verified (an admin's override).
    pub async fn set_email_verified(
        &self,
        user_key: &str,
        v: bool,
    ) -> Result<UserView, AccountError> {
        self.account(user_key, UserRequest::SetEmailVerified(v))
            .await
    }

    /// Moves the account from `from` to `to` (see [`UserRequest::ChangeEmail`]).
    pub async fn change_email(
        &self,
        user_key: &str,
        from: &str,
        to: &str,
        revoke: bool,
    ) -> Result<UserView, AccountError> {
        let req = UserRequest::ChangeEmail {
            from: from.to_owned(),
            to: to.to_owned(),
            revoke,
        };
        self.account(user_key, req).await
    }

    /// Schedules the account's deletion (see [`UserRequest::ScheduleDeletion`]).
    pub async fn schedule_deletion(
        &self,
        user_key: &str,
        password: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<UserView, AccountError> {
        let req = UserRequest::ScheduleDeletion {
            password: password.map(str::to_owned),
            at,
        };
        self.account(user_key, req).await
    }

    /// Cancels a scheduled deletion.
    pub async fn cancel_deletion(&self, user_key: &str) -> Result<UserView, AccountError> {
        self.account(user_key, UserRequest::CancelDeletion).await
    }

    /// Deletes the account, leaving a tombstone that holds the username until `hold_until`;
    /// answers the account as it was.
    pub async fn erase(
        &self,
        user_key: &str,
        hold_until: DateTime<Utc>,
    ) -> Result<UserView, AccountError> {
        self.account(user_key, UserRequest::Erase { hold_until })
            .await
    }

    /// Accounts whose scheduled deletion is due at `now`, by actor key (reads stored state).
    pub async fn due_deletions(&self, now: DateTime<Utc>) -> Result<Vec<String>, AccountError> {
        let prefix = format!("{}/", <UserActor as troupe_runtime::Entity>::KIND);
        let entries = self.store.scan_prefix(&prefix).await?;
        Ok(entries
            .into_iter()
            .filter_map(|(k, v)| {
                let u = troupe_runtime::codec::decode::<user::UserState>(
                    <UserActor as troupe_runtime::Entity>::SCHEMA,
                    &v.value,
                )
                .ok()?;
                (u.live() && u.deletion_scheduled_at.is_some_and(|t| t <= now))
                    .then(|| k.strip_prefix(&prefix).unwrap_or(&k).to_owned())
            })
            .collect())
    }

    /// Stores a token's record under the hash of the token.
    pub async fn put_token(
        &self,
        hash: &str,
        record: token::TokenRecord,
    ) -> Result<(), AccountError> {
        match self
            .tokens
            .call(hash, token::TokenRequest::Put(record))
            .await?
        {
            token::TokenResponse::Done(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// The record of the token with this hash, if usable for `purpose`; with `take`, it is
    /// spent (durably) before this answers.
    pub async fn token(
        &self,
        hash: &str,
        purpose: token::TokenPurpose,
        take: bool,
    ) -> Result<token::TokenRecord, AccountError> {
        let req = if take {
            token::TokenRequest::Take(purpose)
        } else {
            token::TokenRequest::Peek(purpose)
        };
        match self.tokens.call(hash, req).await? {
            token::TokenResponse::Record(Ok(r)) => Ok(r),
            token::TokenResponse::Record(Err(token::TokenError::Unknown)) => {
                Err(AccountError::TokenInvalid)
            }
            token::TokenResponse::Record(Err(token::TokenError::Spent)) => {
                Err(AccountError::TokenExpired)
            }
            token::TokenResponse::Record(Err(token::TokenError::Store(e))) => {
                Err(AccountError::Store(e))
            }
            other => Err(unexpected(other)),
        }
    }

    /// Asks the export actor of account `user` (its id) something.
    pub async fn export(
        &self,
        user: Uuid,
        req: export::ExportRequest,
    ) -> Result<export::ExportResponse, AccountError> {
        match self.exports.call(&user.to_string(), req).await? {
            export::ExportResponse::Failed(e) => Err(e),
            r => Ok(r),
        }
    }

    /// Every stored export record, with its account id (reads stored state: for the start-up
    /// resumption of pending exports and the expiry sweep).
    pub async fn exports(&self) -> Result<Vec<(Uuid, export::ExportRecord)>, AccountError> {
        use troupe_runtime::Entity;
        let prefix = format!("{}/", export::ExportActor::KIND);
        let entries = self.store.scan_prefix(&prefix).await?;
        Ok(entries
            .into_iter()
            .filter_map(|(k, v)| {
                let id = k.strip_prefix(&prefix)?.parse::<Uuid>().ok()?;
                let r = troupe_runtime::codec::decode::<export::ExportRecord>(
                    export::ExportActor::SCHEMA,
                    &v.value,
                )
                .ok()?;
                Some((id, r))
            })
            .collect())
    }

    /// Makes a taken token usable again (the change it was taken for failed).
    pub async fn release_token(&self, hash: &str) {
        if let Err(e) = self.tokens.call(hash, token::TokenRequest::Release).await {
            tracing::warn!(error = %e, "could not release a token; the user asks for a new one");
        }
    }
}

/// Checks a username and returns its normalised (lowercase) form, the actor key: 3 to 32
/// characters of ASCII letters, digits, `_`, `.` and `-`, starting with a letter or digit.
pub fn normalize_username(username: &str) -> Result<String, AccountError> {
    let len = username.chars().count();
    if !(3..=32).contains(&len) {
        return Err(AccountError::InvalidUsername(
            "must be 3 to 32 characters long".into(),
        ));
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(AccountError::InvalidUsername(
            "may contain only letters, digits, '_', '.' and '-'".into(),
        ));
    }
    if !username.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(AccountError::InvalidUsername(
            "must start with a letter or a digit".into(),
        ));
    }
    Ok(username.to_ascii_lowercase())
}

/// Checks an email address (the shape only) and returns it in lowercase.
pub fn normalize_email(email: &str) -> Result<String, AccountError> {
    let email = email.trim();
    let bad = |why: &str| Err(AccountError::InvalidEmail(why.into()));
    if email.len() > 254 {
        return bad("must be at most 254 characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return bad("must contain '@'");
    };
    if local.is_empty() || local.len() > 64 {
        return bad("the part before '@' must be 1 to 64 characters");
    }
    if domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return bad("the domain must look like example.org");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces or control characters");
    }
    Ok(email.to_lowercase())
}

#[cfg(test)]
mod tests;
