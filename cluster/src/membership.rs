//! Cluster membership: ractor_cluster sessions, one gateway actor per node, and troupe's own
//! heartbeats with a deadline.
//!
//! ```text
//!  NodeServer (ractor_cluster) ── TCP + cookie auth ── peers (full mesh, Transitive)
//!  Gateway  (pg group "troupe-gateway"; the only cluster-messaged actor)
//!  heartbeat task ── Ping(my info) every `heartbeat` ──▶ every remote gateway
//!  reconnect task ── client_connect to seeds and known members that are not up
//! ```
//!
//! ractor_cluster notices only broken TCP connections: a frozen (SIGSTOP) or partitioned peer
//! keeps its session for minutes (research/ractor_sled_objstore.md §1.5). So membership is our
//! own: a peer is `up` while it answered a ping within `failure_deadline`, and `down` otherwise.
//! Nothing here is consensus: two nodes may briefly disagree, which the shared store's
//! compare-and-swap makes safe.

use ractor::{pg, Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::{NodeEventSubscription, NodeServer, NodeServerMessage, RactorClusterMessage};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The pg group every node's gateway joins.
pub const GATEWAY_GROUP: &str = "troupe-gateway";
/// Version byte in front of every msgpack payload between gateways.
const WIRE_VERSION: u8 = 1;

/// How this node takes part in the cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This node's unique name.
    pub node_name: String,
    /// Where this node's cluster listener binds; peers connect here.
    pub listen: SocketAddr,
    /// Addresses of nodes to join through.
    pub seeds: Vec<String>,
    /// The shared secret every node must present.
    pub cookie: String,
    /// How often each peer is pinged.
    pub heartbeat: Duration,
    /// A peer that has not answered for this long is down.
    pub failure_deadline: Duration,
}

/// Why the cluster layer could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The node server or gateway failed to start.
    #[error("cannot start the cluster layer: {0}")]
    Start(String),
}

/// What a node says about itself in a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Its cluster address.
    pub address: String,
    /// Active actors by kind.
    pub actors: BTreeMap<String, u64>,
}

/// A member as this node sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MemberView {
    /// Node name.
    pub name: String,
    /// Cluster address.
    pub address: String,
    /// `up` or `down`.
    pub state: &'static str,
    /// Whether this is the node answering.
    pub this_node: bool,
    /// Milliseconds since it last answered a heartbeat (0 for this node).
    pub last_seen_ms: u64,
    /// Active actors by kind, as of its last heartbeat.
    pub actors: BTreeMap<String, u64>,
}

/// Counts this node's active actors by kind; supplied by the wiring, which knows the kinds.
pub type ActorCounts = Arc<dyn Fn() -> BTreeMap<String, u64> + Send + Sync>;

struct Peer {
    info: NodeInfo,
    last_seen: Instant,
}

struct Shared {
    config: ClusterConfig,
    counts: ActorCounts,
    peers: Mutex<HashMap<String, Peer>>,
    attempts: Mutex<HashMap<String, Instant>>,
}

impl Shared {
    fn me(&self) -> NodeInfo {
        NodeInfo {
            name: self.config.node_name.clone(),
            address: self.config.listen.to_string(),
            actors: (self.counts)(),
        }
    }

    fn is_up(&self, p: &Peer) -> bool {
        p.last_seen.elapsed() <= self.config.failure_deadline
    }
}

/// This node's membership in the cluster.
#[derive(Clone)]
pub struct Cluster {
    shared: Arc<Shared>,
    node: ActorRef<NodeServerMessage>,
    gateway: ActorRef<GatewayMsg>,
    tasks: Arc<Vec<tokio::task::JoinHandle<()>>>,
}

/// Messages between nodes. Payloads are `[WIRE_VERSION][msgpack]` so that nodes of different
/// versions can tell what they are reading; add variants, never rename them.
#[derive(RactorClusterMessage)]
pub enum GatewayMsg {
    /// A heartbeat carrying the caller's [`NodeInfo`]; the answer carries ours.
    #[rpc]
    Ping(Vec<u8>, RpcReplyPort<Vec<u8>>),
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION];
    rmp_serde::encode::write_named(&mut out, v).expect("msgpack encoding of plain data");
    out
}

fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Option<T> {
    match b {
        [WIRE_VERSION, rest @ ..] => rmp_serde::from_slice(rest).ok(),
        _ => None,
    }
}

struct Gateway;

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = Arc<Shared>;
    type Arguments = Arc<Shared>;

    async fn pre_start(
        &self,
        myself: ActorRef<GatewayMsg>,
        shared: Arc<Shared>,
    ) -> Result<Arc<Shared>, ActorProcessingErr> {
        pg::join(GATEWAY_GROUP.to_string(), vec![myself.get_cell()]);
        Ok(shared)
    }

    async fn handle(
        &self,
        _myself: ActorRef<GatewayMsg>,
        msg: GatewayMsg,
        shared: &mut Arc<Shared>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            GatewayMsg::Ping(from, reply) => {
                if let Some(peer) = decode::<NodeInfo>(&from) {
                    // Being pinged proves the peer is alive, too.
                    record(shared, peer);
                }
                let _ = reply.send(encode(&shared.me()));
            }
        }
        Ok(())
    }
}

fn record(shared: &Shared, info: NodeInfo) {
    if info.name == shared.config.node_name {
        return;
    }
    let mut peers = shared.peers.lock().expect("peers lock");
    let was_up = peers.get(&info.name).is_some_and(|p| shared.is_up(p));
    if !was_up {
        tracing::info!(peer = %info.name, address = %info.address, "cluster peer is up");
    }
    peers.insert(
        info.name.clone(),
        Peer {
            info,
            last_seen: Instant::now(),
        },
    );
}

/// Logs authentication failures, which ractor_cluster reports only as a disconnect.
struct AuthLog {
    authenticated: Mutex<HashSet<String>>,
}

impl NodeEventSubscription for AuthLog {
    fn node_session_opened(&self, _: ractor_cluster::node::NodeServerSessionInformation) {}

    fn node_session_authenticated(&self, ses: ractor_cluster::node::NodeServerSessionInformation) {
        self.authenticated
            .lock()
            .expect("auth lock")
            .insert(ses.peer_addr.clone());
    }

    fn node_session_disconnected(&self, ses: ractor_cluster::node::NodeServerSessionInformation) {
        let was_authenticated = self
            .authenticated
            .lock()
            .expect("auth lock")
            .remove(&ses.peer_addr);
        if was_authenticated {
            tracing::info!(peer = %ses.peer_addr, "cluster session closed");
        } else {
            tracing::warn!(peer = %ses.peer_addr, "cluster peer refused: it failed authentication (wrong cluster cookie?)");
        }
    }
}

impl Cluster {
    /// Starts the node server, the gateway, the heartbeat and the reconnect tasks.
    pub async fn start(
        config: ClusterConfig,
        counts: ActorCounts,
    ) -> Result<Cluster, ClusterError> {
        let server = NodeServer::new(
            config.listen.port(),
            config.cookie.clone(),
            config.node_name.clone(),
            config.listen.ip().to_string(),
            None,
            Some(ractor_cluster::node::NodeConnectionMode::Transitive),
        )
        .with_listen_addr(config.listen.ip());
        let (node, _) = Actor::spawn(None, server, ())
            .await
            .map_err(|e| ClusterError::Start(e.to_string()))?;
        let _ = node.cast(NodeServerMessage::SubscribeToEvents {
            id: "troupe-auth-log".into(),
            subscription: Box::new(AuthLog {
                authenticated: Mutex::new(HashSet::new()),
            }),
        });
        let shared = Arc::new(Shared {
            config,
            counts,
            peers: Mutex::new(HashMap::new()),
            attempts: Mutex::new(HashMap::new()),
        });
        let (gateway, _) = Actor::spawn(None, Gateway, shared.clone())
            .await
            .map_err(|e| ClusterError::Start(e.to_string()))?;
        let heartbeat = tokio::spawn(heartbeats(shared.clone()));
        let reconnect = tokio::spawn(reconnects(shared.clone(), node.clone()));
        tracing::info!(node = %shared.config.node_name, listen = %shared.config.listen, seeds = ?shared.config.seeds, "cluster layer started");
        Ok(Cluster {
            shared,
            node,
            gateway,
            tasks: Arc::new(vec![heartbeat, reconnect]),
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
            state: "up",
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
                state: if self.shared.is_up(p) { "up" } else { "down" },
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

    /// How many members the configuration names: this node and its distinct seeds.
    pub fn configured_size(&self) -> usize {
        let me = self.shared.config.listen.to_string();
        let mut addrs: HashSet<&str> = self
            .shared
            .config
            .seeds
            .iter()
            .map(String::as_str)
            .collect();
        addrs.insert(&me);
        addrs.len()
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

async fn heartbeats(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.config.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let me = encode(&shared.me());
        let deadline_ms = shared.config.failure_deadline.as_millis() as u64;
        for cell in pg::get_members(&GATEWAY_GROUP.to_string()) {
            if cell.get_id().is_local() {
                continue;
            }
            let gateway: ActorRef<GatewayMsg> = cell.into();
            let (me, shared) = (me.clone(), shared.clone());
            tokio::spawn(async move {
                if let Ok(reply) = ractor::call_t!(gateway, GatewayMsg::Ping, deadline_ms, me) {
                    if let Some(info) = decode::<NodeInfo>(&reply) {
                        record(&shared, info);
                    }
                }
            });
        }
    }
}

async fn reconnects(shared: Arc<Shared>, node: ActorRef<NodeServerMessage>) {
    let me = shared.config.listen.to_string();
    loop {
        let mut targets: HashSet<String> = shared.config.seeds.iter().cloned().collect();
        let up: HashSet<String> = {
            let peers = shared.peers.lock().expect("peers lock");
            for p in peers.values() {
                targets.insert(p.info.address.clone());
            }
            peers
                .values()
                .filter(|p| shared.is_up(p))
                .map(|p| p.info.address.clone())
                .collect()
        };
        for addr in targets {
            if addr == me || up.contains(&addr) {
                continue;
            }
            {
                let mut attempts = shared.attempts.lock().expect("attempts lock");
                if attempts
                    .get(&addr)
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(2))
                {
                    continue;
                }
                attempts.insert(addr.clone(), Instant::now());
            }
            let node = node.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(
                    Duration::from_secs(1),
                    ractor_cluster::client_connect(&node, addr.as_str()),
                )
                .await
                {
                    Ok(Ok(())) => tracing::debug!(%addr, "connected to cluster peer"),
                    Ok(Err(e)) => tracing::debug!(%addr, error = %e, "cannot reach cluster peer"),
                    Err(_) => tracing::debug!(%addr, "connecting to cluster peer timed out"),
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
