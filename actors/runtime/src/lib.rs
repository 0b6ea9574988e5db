//! troupe's virtual-actor runtime (Orleans-style): the framework every actor kind is built on.
//!
//! This crate knows nothing of videos, accounts, HTTP or the cluster's transport. It holds:
//! - the runtime: [`Entity`] (what a kind implements), [`Directory`] (one per kind and node:
//!   activation, passivation, supervision, calls with timeouts), [`System`] (the node's
//!   directories and the cluster's [`Router`] hook), parts and snapshots;
//! - [`store`]: durable actor state behind the [`store::StateStore`] trait, with its sled,
//!   object-store and in-memory backends and the conformance suite they all pass;
//! - [`blob`]: bytes (uploads, segments, thumbnails) on the local disk or in S3;
//! - [`codec`]: the versioned encoding of stored values and cluster messages;
//! - [`ActorId`]: how an actor is addressed.
//!
//! The domain kinds live in `troupe-actors`; the cluster layer (`troupe-cluster`) depends on
//! this crate only.
//!
//! ```text
//!  System (one per node) ── router: Option<Arc<dyn Router>>  (set by the cluster layer)
//!    ├── Directory<UserActor>  ──▶ KindSupervisor ──▶ EntityHost "alice", "bob", ...
//!    ├── Directory<ClaimActor> ──▶ KindSupervisor ──▶ EntityHost ...
//!    └── ...                    (every kind registers itself, so the cluster can reach it)
//! ```
//!
//! An actor kind implements [`Entity`]. A [`Directory`] per kind and per node activates an
//! entity on its first request by loading its state from the [`crate::store::StateStore`],
//! hosts it in a ractor actor supervised by the kind's supervisor, and passivates it once it
//! has been idle for [`RuntimeConfig::idle_timeout`]. Entities persist every change before
//! they answer, so passivation never loses anything and a crashed activation restarts from its
//! last durable state at its next request. Every call has a timeout.
//!
//! In a cluster, the [`System`]'s [`Router`] says which node owns each actor; a call for an
//! actor owned elsewhere is carried there as bytes, and retried on the new owner when the old
//! one dies or its write is fenced off. Nothing here is specific to a kind, so every kind gets
//! routing and failover for free.
//!
//! # A new actor kind
//!
//! A kind names itself and its schema byte, and gives its state, requests, answers and one
//! handler. [`Ctx::stage`] records a change; the answer is held back until that change is
//! durable. Requests must be idempotent: a caller retries when it cannot know the outcome.
//!
//! ```
//! use troupe_runtime::{Ctx, Entity};
//!
//! /// A counter that remembers the highest value it was shown.
//! pub struct HighWater;
//!
//! impl Entity for HighWater {
//!     const KIND: &'static str = "highwater";
//!     const SCHEMA: u8 = 1;
//!     type State = u64;
//!     type Request = u64;
//!     type Response = u64;
//!     type Args = ();
//!
//!     async fn handle(ctx: &mut Ctx<Self>, seen: u64) -> Result<u64, ractor::ActorProcessingErr> {
//!         let high = ctx.state().copied().unwrap_or(0).max(seen);
//!         ctx.stage(high); // durable before the caller gets `high`
//!         Ok(high)
//!     }
//! }
//! ```
//!
//! It is started with `Directory::<HighWater>::start(&system, ()).await?` and called with
//! `directory.call("some-key", 7).await`.

pub mod blob;
pub mod codec;
mod directory;
mod entity;
mod id;
mod stamps;
pub mod store;
mod system;

pub use id::ActorId;

pub use directory::Directory;
pub use entity::{Ctx, Entity, EntityHost, Envelope, HostMsg, Part, Snapshot};
pub use system::{Placement, Router, System};

thread_local! {
    static ACTOR_HOME: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes the current thread's tokio runtime a home for the actors it activates: an actor
/// activated by a call from this thread then runs on this thread, and calls to it from here
/// hand no work to another thread. Without the mark, actors activated from a single-threaded
/// runtime are handed over to the multi-thread runtime the [`Directory`] was started on.
///
/// For the HTTP workers: a request handled on a worker talks to the actors it activated on
/// that worker without waking another thread, twice per call (measured on one core: 1.4x to
/// 2x the requests per second with wrk, and in `benches/playback.rs` the heartbeat p99 of the
/// view burst from 1.9 s to 64 ms). The runtime must run until
/// [`System::shutdown`] has returned, or the actors on it die unpassivated.
pub fn make_this_thread_an_actor_home() {
    ACTOR_HOME.with(|h| h.set(true));
}

/// Whether [`make_this_thread_an_actor_home`] was called on this thread.
pub(crate) fn this_thread_is_an_actor_home() -> bool {
    ACTOR_HOME.with(|h| h.get())
}

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Timing of the runtime.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeConfig {
    /// An activation that has received no message for this long is passivated.
    pub idle_timeout: Duration,
    /// How long a caller waits for an answer, activation and retries included.
    pub call_timeout: Duration,
    /// The most activations of one kind alive at once on this node. Near the limit, the least
    /// recently used tenth is passivated early; at the limit, a new activation waits (within
    /// the call timeout) for one to exit. This bounds memory whatever clients ask for.
    pub max_active: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(300),
            call_timeout: Duration::from_secs(5),
            max_active: 20_000,
        }
    }
}

/// Why a call to an actor got no answer. None of these says the request was wrong: the HTTP
/// layer answers them all with 503 and `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CallError {
    /// No answer within the call timeout. The request may still be handled later.
    #[error("the actor did not answer in time")]
    Timeout,
    /// The activation stopped (crashed) before answering.
    #[error("the actor stopped before answering")]
    Stopped,
    /// The actor could not be activated (its state could not be read).
    #[error("actor unavailable: {0}")]
    Unavailable(String),
    /// The node is shutting down and activates nothing new.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// The activation was stale: another activation of the same actor wrote first, so this
    /// one stopped without applying the request. Retried on the current owner.
    #[error("the actor moved to another activation")]
    Fenced,
    /// The node that owns the actor could not be reached (down, or the link broke).
    #[error("the owning node is unreachable: {0}")]
    Unreachable(String),
    /// This node cannot see a majority of the cluster, so it serves nothing: the majority
    /// side may have taken its actors over.
    #[error("this node cannot see a majority of the cluster")]
    NoQuorum,
}

impl CallError {
    /// Whether a call may be sent again (to a possibly different owner): the request was not
    /// applied, or requests are idempotent and the first attempt's fate is unknown.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CallError::Fenced
                | CallError::Unreachable(_)
                | CallError::ShuttingDown
                | CallError::NoQuorum
        )
    }
}

#[cfg(test)]
mod tests;
