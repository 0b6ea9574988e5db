//! troupe's cluster layer: membership, placement, routing and failover.
//!
//! It moves envelopes of bytes between nodes and knows nothing of videos or users. It holds
//! [`membership`] (who is up, by our own heartbeats over ractor_cluster), [`placement`]
//! (which member owns an actor, by rendezvous hashing) and [`routing`] (forwarding requests
//! to owners, retries, and rebalancing when members change), [`tls`] (mutual TLS on both
//! cluster links), and `node`, which starts the
//! three together behind the [`Cluster`] handle. The dependencies go one way: node → routing →
//! membership → link. It depends on `troupe-runtime` only. Failover needs no code of its
//! own: when a member is down, its actors have new owners, which activate them from the
//! shared store at their next request.

mod link;
pub mod membership;
mod node;
pub mod placement;
pub mod routing;
pub mod tls;

pub use membership::{ClusterConfig, MemberView};
pub use node::Cluster;
pub use placement::{owner, NodeId};
pub use tls::ClusterTls;
