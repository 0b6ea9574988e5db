//! troupe's cluster layer: membership, placement, routing and failover.
//!
//! It moves envelopes of bytes between nodes and knows nothing of videos or users. For now it
//! holds [`placement`]: which member owns an actor, by rendezvous hashing.

pub mod placement;

pub use placement::{owner, NodeId};
