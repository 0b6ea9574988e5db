//! The virtual-actor runtime (Orleans-style).
//!
//! An actor kind implements [`Entity`]. A [`Directory`] per kind and per node activates an
//! entity on its first message by loading its state from the [`crate::store::StateStore`],
//! hosts it in a ractor actor supervised by the kind's supervisor, and passivates it once it
//! has been idle for [`RuntimeConfig::idle_timeout`]. Entities persist every change before
//! they reply, so passivation never loses anything and a crashed activation restarts from its
//! last durable state at its next message. Every call has a timeout.

mod directory;
mod entity;

pub use directory::Directory;
pub use entity::{Ctx, Entity, EntityHost, Envelope};
/// The reply port that queries carry (re-exported so callers need not depend on ractor).
pub use ractor::RpcReplyPort;

use std::time::Duration;

/// Timing of the runtime.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeConfig {
    /// An activation that has received no message for this long is passivated.
    pub idle_timeout: Duration,
    /// How long a caller waits for an answer, activation included.
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
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// No answer within the call timeout. The message may still be handled later.
    #[error("the actor did not answer in time")]
    Timeout,
    /// The activation stopped (crashed, or fenced off after a failed write) before answering.
    #[error("the actor stopped before answering")]
    Stopped,
    /// The actor could not be activated (its state could not be read).
    #[error("actor unavailable: {0}")]
    Unavailable(String),
    /// The node is shutting down and activates nothing new.
    #[error("the node is shutting down")]
    ShuttingDown,
}

#[cfg(test)]
mod tests;
