//! troupe's cluster layer: membership, placement, routing and failover.
//!
//! It moves envelopes of bytes between nodes and knows nothing of videos or users. It holds
//! [`membership`] (who is up, by our own heartbeats over ractor_cluster) and [`placement`]
//! (which member owns an actor, by rendezvous hashing). Routing and failover come next.

pub mod membership;
pub mod placement;

pub use membership::{Cluster, ClusterConfig, MemberView};
pub use placement::{owner, NodeId};
