//! The token actor: one single-use account token (a password reset, an address verification,
//! an address change, or its undo).
//!
//! The token itself is never stored. The HTTP layer draws 256 random bits, mails them, and
//! keys this actor by the SHA-256 of the token (hex), so the store holds only hashes, and
//! finding a token is a lookup by its hash: how long the lookup takes says nothing about the
//! secret (there is no byte-by-byte comparison of the secret to leak through timing).
//!
//! A token is taken once ([`TokenRequest::Take`], durable before it answers); a second take
//! answers [`TokenError::Spent`], like an expired one. A spent token's record stays until it
//! expires, then the next lookup removes it (and later lookups find nothing).

use super::AccountError;
use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use troupe_runtime::{Ctx, Entity};
use uuid::Uuid;

/// The actor kind `token`, keyed by the hex SHA-256 of the token.
pub struct TokenActor;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    /// Sets a new password (1 hour).
    Reset,
    /// Verifies the account's address (7 days).
    Verify,
    /// Confirms a new address (24 hours).
    ChangeEmail,
    /// Undoes an address change, from the old address (7 days).
    Undo,
}

/// A token's durable record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// What it is for.
    pub purpose: TokenPurpose,
    /// The account's actor key (lowercase username).
    pub user_key: String,
    /// The account's id: a token outlives nothing, not even a deleted and re-registered name.
    pub user_id: Uuid,
    /// The address it concerns: the one to verify, the new one (change), or the old one to
    /// go back to (undo); the address it was sent to for a reset.
    pub email: String,
    /// For a change, the old address; for an undo, the address to leave.
    #[serde(default)]
    pub other_email: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// It is refused from then on.
    pub expires_at: DateTime<Utc>,
    /// When it was used.
    #[serde(default)]
    pub used_at: Option<DateTime<Utc>>,
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenError {
    /// No such token (forged, mistyped, or for another purpose).
    Unknown,
    /// Used already, or expired.
    Spent,
    /// The store failed; nothing changed.
    Store(String),
}

/// Requests to the token actor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TokenRequest {
    /// Stores a new token (idempotent: the same record twice is stored once).
    Put(TokenRecord),
    /// The record, if it is usable for `purpose`; nothing changes.
    Peek(TokenPurpose),
    /// Marks the token used (durably) and answers its record, if it is usable for `purpose`.
    Take(TokenPurpose),
    /// Makes a taken token usable again: the change it was taken for failed.
    Release,
}

/// Answers of the token actor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TokenResponse {
    /// To `Put` and `Release`.
    Done(Result<(), AccountError>),
    /// To `Peek` and `Take`.
    Record(Result<TokenRecord, TokenError>),
}

impl Entity for TokenActor {
    const KIND: &'static str = "token";
    const SCHEMA: u8 = 1;
    type State = TokenRecord;
    type Request = TokenRequest;
    type Response = TokenResponse;
    type Args = ();

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: TokenRequest,
    ) -> Result<TokenResponse, ActorProcessingErr> {
        let now = Utc::now();
        Ok(match req {
            TokenRequest::Put(record) => {
                if ctx.state().is_some() {
                    // 256 random bits do not collide: this is a retry of the same put.
                    TokenResponse::Done(Ok(()))
                } else {
                    TokenResponse::Done(ctx.save(record).await.map_err(AccountError::from))
                }
            }
            TokenRequest::Peek(purpose) | TokenRequest::Take(purpose) => {
                let take = matches!(req, TokenRequest::Take(_));
                let Some(record) = ctx.state().cloned() else {
                    return Ok(TokenResponse::Record(Err(TokenError::Unknown)));
                };
                if record.purpose != purpose {
                    return Ok(TokenResponse::Record(Err(TokenError::Unknown)));
                }
                if record.expires_at <= now {
                    // Nothing can use it any more: forget it (best effort).
                    let _ = ctx.remove().await;
                    return Ok(TokenResponse::Record(Err(TokenError::Spent)));
                }
                if record.used_at.is_some() {
                    return Ok(TokenResponse::Record(Err(TokenError::Spent)));
                }
                if take {
                    let mut used = record.clone();
                    used.used_at = Some(now);
                    if let Err(e) = ctx.save(used).await {
                        // Not spent: the caller answers 503 and the user may try again.
                        return Ok(TokenResponse::Record(Err(TokenError::Store(e.to_string()))));
                    }
                }
                TokenResponse::Record(Ok(record))
            }
            TokenRequest::Release => match ctx.state().cloned() {
                Some(mut r) if r.used_at.is_some() => {
                    r.used_at = None;
                    TokenResponse::Done(ctx.save(r).await.map_err(AccountError::from))
                }
                _ => TokenResponse::Done(Ok(())),
            },
        })
    }
}
