//! The claim actor: exclusive ownership of a unique name (an email address, "first admin").
//!
//! Uniqueness across concurrent requests comes from the actor itself: one activation handles
//! one message at a time, so of two racing claims exactly one wins, on one node or, once
//! sharded, in the cluster.

use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use troupe_runtime::{Ctx, Entity};
use uuid::Uuid;

/// The actor kind `claim`, keyed by the claimed name (e.g. `email:alice@example.com`).
pub struct ClaimActor;

/// Who holds a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimState {
    /// The user id of the holder.
    pub owner: Uuid,
    /// The normalised username of the holder, to check whether the holder exists.
    pub username: String,
    /// When the claim was made; a claim whose holder never came to exist is stale after a
    /// while, and may be taken over.
    pub claimed_at: DateTime<Utc>,
}

/// The result of a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaimOutcome {
    /// The caller holds the claim now (or already did).
    Won,
    /// Somebody else holds it.
    Held(ClaimState),
}

/// Requests to the claim actor. All are idempotent: claiming what you hold wins again, and
/// releasing what you don't hold does nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ClaimRequest {
    /// Claims the name for `owner`. With `takeover`, the claim is taken from that holder if it
    /// still holds it.
    Claim {
        /// The claiming user's id.
        owner: Uuid,
        /// The claiming user's normalised username.
        username: String,
        /// Take the claim from this holder.
        takeover: Option<Uuid>,
    },
    /// Gives the claim up, if `owner` holds it.
    Release {
        /// The holder giving it up.
        owner: Uuid,
    },
    /// Who holds the claim, if anyone.
    Get,
}

/// Answers of the claim actor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ClaimResponse {
    /// To [`ClaimRequest::Claim`]: the outcome, or a store error.
    Claimed(Result<ClaimOutcome, String>),
    /// To [`ClaimRequest::Release`]: done, or a store error.
    Released(Result<(), String>),
    /// To [`ClaimRequest::Get`].
    Holder(Option<ClaimState>),
}

impl Entity for ClaimActor {
    const KIND: &'static str = "claim";
    const SCHEMA: u8 = 1;
    type State = ClaimState;
    type Request = ClaimRequest;
    type Response = ClaimResponse;
    type Args = ();

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: ClaimRequest,
    ) -> Result<ClaimResponse, ActorProcessingErr> {
        Ok(match req {
            ClaimRequest::Claim {
                owner,
                username,
                takeover,
            } => ClaimResponse::Claimed(match ctx.state() {
                Some(held) if held.owner == owner => Ok(ClaimOutcome::Won),
                Some(held) if Some(held.owner) != takeover => Ok(ClaimOutcome::Held(held.clone())),
                _ => {
                    let state = ClaimState {
                        owner,
                        username,
                        claimed_at: Utc::now(),
                    };
                    ctx.save(state)
                        .await
                        .map(|_| ClaimOutcome::Won)
                        .map_err(|e| e.to_string())
                }
            }),
            ClaimRequest::Release { owner } => ClaimResponse::Released(match ctx.state() {
                Some(held) if held.owner == owner => ctx.remove().await.map_err(|e| e.to_string()),
                _ => Ok(()),
            }),
            ClaimRequest::Get => ClaimResponse::Holder(ctx.state().cloned()),
        })
    }
}
