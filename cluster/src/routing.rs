//! Routing: which member owns an actor, carrying requests to it, and rebalancing when the
//! members change.
//!
//! - **Placement** is rendezvous hashing over the live members ([`crate::placement`]), so
//!   every node that sees the same members computes the same owner.
//! - **Majority.** A node that cannot see a majority of the cluster serves nothing
//!   ([`CallError::NoQuorum`], a 503): the majority side may have taken its actors over.
//! - **Forwarding.** A request for an actor owned elsewhere goes to the owner over the
//!   forwarding link ([`crate::link`]) as a [`Forward`] envelope carrying a `start_by` time. The owner drops a request that it cannot
//!   start by then. When an attempt fails after the request may have been delivered (the
//!   owner died or froze mid-call), the sender waits until `start_by` has passed before it
//!   retries elsewhere, so a frozen owner that wakes up later cannot apply the request again
//!   after the new owner has moved on. This assumes node clocks agree within
//!   [`CLOCK_MARGIN`]. The wait is skipped when the owner's process has exited (both its
//!   connections to this node closed from its end; see `ClusterRouter::exited`): then
//!   nothing it read can start later, and a `kill -9` costs in-flight requests milliseconds,
//!   not the fence.
//! - **Rebalancing.** When the live members change ([`crate::membership::refresh_view`], which
//!   notices it), each node passivates the activations it no longer owns (their state is already durable); they activate on their new owner at the
//!   next request. A brief overlap, while nodes disagree about the members, is made safe by
//!   the store's compare-and-swap: the stale activation's write fails and it is fenced off.

use crate::membership::{decode, encode, refresh_view, unix_ms, Shared};
use crate::placement;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use troupe_runtime::ActorId;
use troupe_runtime::{CallError, Placement, Router};

/// How far apart node clocks may be for the `start_by` fence to hold.
pub const CLOCK_MARGIN: Duration = Duration::from_millis(250);

/// A request for an actor, between nodes, over the forwarding link.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Forward {
    /// The actor.
    target: ActorId,
    /// Not to be started after this (Unix milliseconds).
    start_by_ms: u64,
    /// How long the sender waits for the answer.
    timeout_ms: u64,
    /// The runtime's encoded request.
    #[serde(with = "serde_bytes")]
    payload: Vec<u8>,
}

/// The [`Router`] the runtime uses in cluster mode.
pub(crate) struct ClusterRouter {
    shared: Arc<Shared>,
}

impl ClusterRouter {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Whether `node`'s process has exited, judged once its forwarding link closed: its
    /// membership session, a second connection, closes from its end within a heartbeat too.
    /// The kernel closes both when a process exits; a frozen node, or one cut off by the
    /// network, closes neither, and troupe closes them only on the way out (after telling the
    /// peers it is leaving). A request the link carried to an exited node can never start, so
    /// it is retried elsewhere at once instead of after its `start_by` fence.
    async fn exited(&self, node: &str) -> bool {
        let closed = || {
            self.shared
                .closed
                .lock()
                .expect("closed lock")
                .contains(node)
        };
        let by = tokio::time::Instant::now() + self.shared.config.heartbeat;
        while !closed() {
            if tokio::time::Instant::now() >= by {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Resolves when `node` is no longer up.
    async fn down(&self, node: &str) {
        loop {
            tokio::time::sleep(Duration::from_millis(25)).await;
            let up = self
                .shared
                .peers
                .lock()
                .expect("peers lock")
                .get(node)
                .is_some_and(|p| self.shared.is_up(p));
            if !up {
                return;
            }
        }
    }
}

#[async_trait]
impl Router for ClusterRouter {
    fn place(&self, id: &ActorId) -> Result<Placement, CallError> {
        let view = refresh_view(&self.shared);
        if !view.quorum && !self.shared.leaving.load(Ordering::Relaxed) {
            return Err(CallError::NoQuorum);
        }
        match placement::owner(id, &view.members) {
            Some(o) if *o == self.shared.config.node_name => Ok(Placement::Local),
            Some(o) => Ok(Placement::Remote(o.clone())),
            // Leaving, and nobody else is up: finish locally while the directories still can.
            None => Ok(Placement::Local),
        }
    }

    fn serving(&self) -> Result<(), CallError> {
        if refresh_view(&self.shared).quorum || self.shared.leaving.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(CallError::NoQuorum)
        }
    }

    async fn forward(
        &self,
        node: &str,
        id: &ActorId,
        payload: Vec<u8>,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<u8>, CallError> {
        let link = self
            .shared
            .peers
            .lock()
            .expect("peers lock")
            .get(node)
            .filter(|p| self.shared.is_up(p))
            .filter(|p| p.gateway.is_some())
            .map(|p| p.info.link.clone())
            .ok_or_else(|| CallError::Unreachable(format!("{node} is not up")))?;
        let now = tokio::time::Instant::now();
        let remaining = deadline.saturating_duration_since(now);
        let window = self.shared.config.failure_deadline.min(remaining);
        let envelope = encode(&Forward {
            target: id.clone(),
            start_by_ms: unix_ms(SystemTime::now() + window),
            timeout_ms: remaining.as_millis() as u64,
            payload,
        });
        if link.is_empty() {
            // Every node since the link landed advertises one; nothing else can be a member.
            return Err(CallError::Unreachable(format!(
                "{node} has no forwarding link"
            )));
        }
        let conn = self
            .shared
            .links
            .conn(node, &link)
            .await
            .map_err(|e| CallError::Unreachable(format!("no link to {node}: {e}")))?;
        let Ok(mut in_flight) = conn.send(&envelope) else {
            // Never left this node: safe to retry at once.
            self.shared.links.drop_conn(node);
            return Err(CallError::Unreachable(format!(
                "the link to {node} is closed"
            )));
        };
        let (failure, link_closed) = tokio::select! {
            result = tokio::time::timeout(remaining, &mut in_flight.answer) => match result {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(_)) => (CallError::Unreachable(format!("the link to {node} broke mid-request")), true),
                Err(_) => (CallError::Timeout, false),
            },
            () = self.down(node) => (CallError::Unreachable(format!("{node} went down mid-request")), false),
        };
        if failure != CallError::Timeout {
            let link_closed = link_closed || {
                // Down: within a heartbeat, the link answers after all or closes too.
                match tokio::time::timeout(self.shared.config.heartbeat, &mut in_flight.answer)
                    .await
                {
                    Ok(Ok(answer)) => return Ok(answer),
                    Ok(Err(_)) => true,
                    Err(_) => false,
                }
            };
            if link_closed && self.exited(node).await {
                // Its process is gone with what it read: nothing can start there later.
                metrics::counter!("troupe_cluster_forwards_failed_fast_total").increment(1);
                return Err(failure);
            }
        }
        // The request may have reached `node`: wait until it can no longer start it there.
        let safe = now + window + CLOCK_MARGIN;
        if safe >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(CallError::Timeout);
        }
        tokio::time::sleep_until(safe).await;
        Err(failure)
    }
}

/// Answers a [`Forward`] from another node.
pub(crate) async fn serve(shared: &Shared, bytes: &[u8]) -> Vec<u8> {
    let Some(fwd) = decode::<Forward>(bytes) else {
        tracing::warn!("undecodable forward from a peer (different versions?)");
        return Vec::new();
    };
    let start_by = UNIX_EPOCH + Duration::from_millis(fwd.start_by_ms);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(fwd.timeout_ms);
    metrics::counter!("troupe_cluster_forwards_served_total", "kind" => fwd.target.kind.clone())
        .increment(1);
    shared
        .system
        .serve(&fwd.target, fwd.payload, start_by, deadline)
        .await
}
