//! A cluster node: [`Cluster::start`] wires this node's membership, routing and forwarding
//! link together, and the [`Cluster`] handle answers what the HTTP layer asks of the cluster.
//!
//! ```text
//!  Cluster ──▶ membership (node server, gateway, heartbeats, reconnects, the live view)
//!     │──────▶ routing    (the runtime's Router; serves forwarded requests)
//!     └──────▶ link       (the forwarding connections)
//! ```
//!
//! Each of those three depends on the ones after it in that list only: routing reads the
//! membership's view; membership holds the links; the link knows neither.

use crate::membership::{
    encode, heartbeats, reconnects, refresh_view, ClusterConfig, ClusterError, Gateway, GatewayMsg,
    MemberView, SessionEvents, Shared,
};
use crate::placement;
use ractor::{Actor, ActorRef};
use ractor_cluster::{IncomingEncryptionMode, NodeServer, NodeServerMessage};

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use troupe_runtime::{ActorId, System};

/// This node's membership in the cluster.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) shared: Arc<Shared>,
    node: ActorRef<NodeServerMessage>,
    gateway: ActorRef<GatewayMsg>,
    tasks: Arc<Vec<tokio::task::JoinHandle<()>>>,
}

impl Cluster {
    /// Starts the node server, the gateway, the heartbeat and the reconnect tasks, and plugs
    /// the router into `system`, so that its calls go to each actor's owner from now on.
    pub async fn start(config: ClusterConfig, system: System) -> Result<Cluster, ClusterError> {
        let host = config
            .advertise
            .rsplit_once(':')
            .filter(|(_, p)| p.parse::<u16>().is_ok())
            .map(|(h, _)| h.to_owned())
            .ok_or_else(|| {
                ClusterError::Start(format!(
                    "cluster.advertise {:?} is not host:port",
                    config.advertise
                ))
            })?;
        if let Some(tls) = &config.tls {
            if !tls
                .node_names()
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&config.node_name))
            {
                return Err(ClusterError::Start(format!(
                    "cluster.tls_cert names node {:?}, not this node: cluster.node_name is {:?} (give this node its own certificate: `troupe cluster certs --out DIR --nodes {}`)",
                    tls.node_names(),
                    config.node_name,
                    config.node_name
                )));
            }
        }
        // Without TLS, the node server binds `listen`; the name it gives peers is the
        // advertised one. With TLS, `membership::accept_tls` binds `listen` and hands the
        // node server each connection once its handshake passed; the node server's own
        // listener is then confined to an ephemeral loopback port, and demands the same
        // mutual TLS there.
        let own_listener =
            match &config.tls {
                Some(_) => Some(tokio::net::TcpListener::bind(config.listen).await.map_err(
                    |e| {
                        ClusterError::Start(format!(
                            "cannot listen for the cluster on {}: {e}",
                            config.listen
                        ))
                    },
                )?),
                None => None,
            };
        let server = match &config.tls {
            Some(tls) => NodeServer::new(
                0,
                config.cookie.clone(),
                config.node_name.clone(),
                host,
                Some(IncomingEncryptionMode::Tls(tls.acceptor.clone())),
                Some(ractor_cluster::node::NodeConnectionMode::Isolated),
            )
            .with_listen_addr(std::net::Ipv4Addr::LOCALHOST.into()),
            None => NodeServer::new(
                config.listen.port(),
                config.cookie.clone(),
                config.node_name.clone(),
                host,
                None,
                Some(ractor_cluster::node::NodeConnectionMode::Isolated),
            )
            .with_listen_addr(config.listen.ip()),
        };
        let (node, _) = Actor::spawn(None, server, ())
            .await
            .map_err(|e| ClusterError::Start(e.to_string()))?;
        let accept = match (own_listener, &config.tls) {
            (Some(listener), Some(tls)) => Some(tokio::spawn(crate::membership::accept_tls(
                listener,
                tls.clone(),
                node.clone(),
            ))),
            _ => None,
        };
        if config.tls.is_none() {
            tracing::warn!(
                "cluster.insecure = true: the cluster links are plain TCP, unencrypted, and peers are authenticated by the cookie alone; use this only on a network you trust (see docs/operations.md, \"Securing the cluster links\")"
            );
        }
        let links = crate::link::Links::new(
            config.node_name.clone(),
            config.cookie.clone(),
            config.listen.ip(),
            config.tls.clone(),
        );
        let link_listen = config.link_listen;
        let shared = Arc::new(Shared::new(config, system.clone(), links.clone()));
        let _ = node.cast(NodeServerMessage::SubscribeToEvents {
            id: "troupe-session-events".into(),
            subscription: Box::new(SessionEvents::new(shared.clone())),
        });
        let (gateway, _) = Actor::spawn(None, Gateway, shared.clone())
            .await
            .map_err(|e| ClusterError::Start(e.to_string()))?;
        system
            .set_router(Arc::new(crate::routing::ClusterRouter::new(shared.clone())))
            .map_err(|e| ClusterError::Start(e.to_owned()))?;
        let served = shared.clone();
        let handler: crate::link::Handler = Arc::new(move |bytes: Vec<u8>| {
            let shared = served.clone();
            Box::pin(async move { crate::routing::serve(&shared, &bytes).await })
        });
        let link = links.listen(link_listen, handler).await.map_err(|e| {
            ClusterError::Start(format!(
                "cannot listen for the forwarding link on {link_listen}: {e}"
            ))
        })?;
        let heartbeat = tokio::spawn(heartbeats(shared.clone()));
        let reconnect = tokio::spawn(reconnects(shared.clone(), node.clone()));
        tracing::info!(node = %shared.config.node_name, listen = %shared.config.listen, advertise = %shared.config.advertise, seeds = ?shared.config.seeds, tls = shared.config.tls.is_some(), "cluster layer started");
        let mut tasks = vec![heartbeat, reconnect, link];
        tasks.extend(accept);
        Ok(Cluster {
            shared,
            node,
            gateway,
            tasks: Arc::new(tasks),
        })
    }

    /// This node's name.
    pub fn node_name(&self) -> &str {
        &self.shared.config.node_name
    }

    /// Every member this node knows, itself first, then by name.
    pub fn view(&self) -> Vec<MemberView> {
        let me = self.shared.me();
        let mut out = vec![MemberView {
            name: me.name,
            address: me.address,
            state: if me.leaving { "left" } else { "up" },
            this_node: true,
            last_seen_ms: 0,
            actors: me.actors,
        }];
        let peers = self.shared.peers.lock().expect("peers lock");
        let mut others: Vec<MemberView> = peers
            .values()
            .map(|p| MemberView {
                name: p.info.name.clone(),
                address: p.info.address.clone(),
                state: self.shared.state_of(p),
                this_node: false,
                last_seen_ms: p.last_seen.elapsed().as_millis() as u64,
                actors: p.info.actors.clone(),
            })
            .collect();
        others.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(others);
        out
    }

    /// The names of the members that are up, this node included.
    pub fn live_members(&self) -> Vec<String> {
        self.view()
            .into_iter()
            .filter(|m| m.state == "up")
            .map(|m| m.name)
            .collect()
    }

    /// Forgets a member that is gone for good, so that it no longer counts toward the
    /// majority, on every node. A member that is up cannot be forgotten; one that comes back
    /// counts again.
    pub async fn forget(&self, name: &str) -> Result<(), crate::membership::ForgetError> {
        crate::membership::forget(&self.shared, name).await
    }

    /// How many members count for the majority rule: the configured ones (this node and its
    /// distinct seeds), or more if more have joined since.
    pub fn configured_size(&self) -> usize {
        self.shared.cluster_size()
    }

    /// The node that owns `id` in this node's current view (for diagnostics and tests).
    pub fn owner_of(&self, id: &ActorId) -> Option<String> {
        placement::owner(id, &self.live_members()).cloned()
    }

    /// Starts a graceful leave: this node owns nothing from now on, and tells every peer so
    /// that they take its actors over at once instead of after a failure deadline. Requests
    /// still reaching it are forwarded to the new owners. Call before draining.
    pub async fn leave(&self) {
        self.shared.leaving.store(true, Ordering::SeqCst);
        let me = encode(&self.shared.me());
        let gateways: Vec<ActorRef<GatewayMsg>> = self
            .shared
            .peers
            .lock()
            .expect("peers lock")
            .values()
            .filter_map(|p| p.gateway.clone())
            .collect();
        for g in &gateways {
            let _ = g.cast(GatewayMsg::Leaving(me.clone()));
        }
        refresh_view(&self.shared);
        tracing::info!(
            peers = gateways.len(),
            "told the cluster this node is leaving"
        );
    }

    /// Leaves the cluster: the gateway leaves its group (peers stop pinging it), then the
    /// node server closes every session.
    pub async fn shutdown(&self) {
        for t in self.tasks.iter() {
            t.abort();
        }
        let _ = self
            .gateway
            .stop_and_wait(None, Some(Duration::from_secs(2)))
            .await;
        let _ = self
            .node
            .stop_and_wait(None, Some(Duration::from_secs(2)))
            .await;
    }
}
