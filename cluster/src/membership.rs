//! Cluster membership: ractor_cluster sessions, one gateway actor per node, and troupe's own
//! heartbeats with a deadline.
//!
//! ```text
//!  NodeServer (ractor_cluster) ── TLS (mutual) + cookie auth ── every peer (full mesh, by gossip)
//!  Gateway  (pg group "troupe-gateway"; the only cluster-messaged actor)
//!     ├── Ping(info)      heartbeat; the answer carries the peer's info and the peers it knows
//!     └── Leaving(info)   the sender is draining: take its actors over now
//!  (requests between nodes travel on the forwarding link: see `link` and `routing`)
//!  heartbeat task ── Ping every `heartbeat` ──▶ every remote gateway; re-evaluates the view
//!  reconnect task ── connects to seeds and to gossiped members that are not up
//! ```
//!
//! ractor_cluster notices only broken TCP connections: a frozen (SIGSTOP) or partitioned peer
//! keeps its session for minutes (research/ractor_sled_objstore.md §1.5). So membership is our
//! own: a peer is `up` while it answered a ping within `failure_deadline` and its session is
//! open, and `down` otherwise. A peer that announced it is leaving is `left`. Nothing here is
//! consensus: two nodes may briefly disagree, which the shared store's compare-and-swap makes
//! safe.

use crate::placement;
use ractor::{pg, Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::{NodeEventSubscription, NodeServerMessage, RactorClusterMessage};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use troupe_runtime::store::StateStore;
use troupe_runtime::System;

/// The pg group every node's gateway joins.
pub const GATEWAY_GROUP: &str = "troupe-gateway";
/// Version byte in front of every msgpack payload between gateways.
const WIRE_VERSION: u8 = 1;

/// How this node takes part in the cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This node's unique name.
    pub node_name: String,
    /// Where this node's cluster listener binds. Outgoing cluster connections leave from its
    /// IP address too (unless it is unspecified, `0.0.0.0`).
    pub listen: SocketAddr,
    /// The address peers use to reach this node (`listen` unless set: behind NAT, in a
    /// container, or through a proxy).
    pub advertise: String,
    /// Where the forwarding link listens (see `link`): requests between nodes travel there.
    pub link_listen: SocketAddr,
    /// The address peers use to reach this node's forwarding link.
    pub link_advertise: String,
    /// Addresses of nodes to join through.
    pub seeds: Vec<String>,
    /// The shared secret every node must present.
    pub cookie: String,
    /// How often each peer is pinged.
    pub heartbeat: Duration,
    /// A peer that has not answered for this long is down.
    pub failure_deadline: Duration,
    /// An opaque fingerprint of this node's configuration that every node should share (the
    /// id of a configured signing key): a peer with another one is logged as an error.
    pub key_fingerprint: Option<String>,
    /// TLS with mutual authentication on both cluster links; `None` runs them as plain TCP
    /// (`cluster.insecure`).
    pub tls: Option<crate::tls::ClusterTls>,
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
    /// Its advertised cluster address.
    pub address: String,
    /// Active actors by kind.
    pub actors: BTreeMap<String, u64>,
    /// The members it sees up (name, address): how a joining node finds every member from
    /// one seed.
    #[serde(default)]
    pub peers: Vec<(String, String)>,
    /// It is draining before it exits.
    #[serde(default)]
    pub leaving: bool,
    /// Its forwarding link's address (empty only in a `learn`ed entry not yet heard from).
    #[serde(default)]
    pub link: String,
    /// Its [`ClusterConfig::key_fingerprint`].
    #[serde(default)]
    pub key: Option<String>,
}

/// A member as this node sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MemberView {
    /// Node name.
    pub name: String,
    /// Cluster address.
    pub address: String,
    /// `up`, `down` or `left`.
    pub state: &'static str,
    /// Whether this is the node answering.
    pub this_node: bool,
    /// Milliseconds since it last answered a heartbeat (0 for this node).
    pub last_seen_ms: u64,
    /// Active actors by kind, as of its last heartbeat.
    pub actors: BTreeMap<String, u64>,
}

pub(crate) struct Peer {
    pub(crate) info: NodeInfo,
    pub(crate) last_seen: Instant,
    /// Its gateway, as found through pg on the current session; `None` once the session
    /// closed. Never kept across sessions: a reconnect gives the same actor a new id.
    pub(crate) gateway: Option<ActorRef<GatewayMsg>>,
}

pub(crate) struct Shared {
    pub(crate) config: ClusterConfig,
    pub(crate) system: System,
    pub(crate) peers: Mutex<HashMap<String, Peer>>,
    attempts: Mutex<HashMap<String, Instant>>,
    /// Set when this node starts draining: it owns nothing from then on.
    pub(crate) leaving: AtomicBool,
    /// The live members at the last look, to notice a change and rebalance.
    pub(crate) last_view: Mutex<Option<View>>,
    /// Connections that carry forwarded requests.
    pub(crate) links: Arc<crate::link::Links>,
    /// Members an operator declared gone for good (name → address): they no longer count
    /// toward the majority. Kept in the shared store under [`FORGOTTEN_KEY`].
    pub(crate) forgotten: Mutex<BTreeMap<String, String>>,
    /// With TLS: the node name each open session's certificate and handshake agree on, by
    /// ractor_cluster's node id of the session. Only a gateway reached through such a session
    /// makes its node a member, and only under that name.
    pub(crate) vouched: Mutex<HashMap<u64, String>>,
    /// Members whose membership session was closed from their end and that have not answered
    /// on a new one since: most likely their process exited (a frozen or cut-off node closes
    /// nothing). See `routing::ClusterRouter::exited`.
    pub(crate) closed: Mutex<HashSet<String>>,
}

/// Where the forgotten members are kept, in the shared state store.
pub const FORGOTTEN_KEY: &str = "_cluster/forgotten";

/// Why a member could not be forgotten.
#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    /// It answers heartbeats: a live member cannot be forgotten.
    #[error("{0} is up; only a member that is gone can be forgotten")]
    Alive(String),
    /// No member has that name.
    #[error("no member is named {0}")]
    Unknown(String),
    /// The shared store could not be read or written.
    #[error("cannot record it in the shared store: {0}")]
    Store(String),
}

impl Shared {
    /// The state of a node that knows no peers yet.
    pub(crate) fn new(
        config: ClusterConfig,
        system: System,
        links: Arc<crate::link::Links>,
    ) -> Self {
        Self {
            links,
            config,
            system,
            peers: Mutex::new(HashMap::new()),
            attempts: Mutex::new(HashMap::new()),
            leaving: AtomicBool::new(false),
            last_view: Mutex::new(None),
            forgotten: Mutex::new(BTreeMap::new()),
            vouched: Mutex::new(HashMap::new()),
            closed: Mutex::new(HashSet::new()),
        }
    }

    /// Whether a gateway with actor id `id` may speak for node `name`: always without TLS;
    /// with TLS, when it lives across a session whose certificate names `name`.
    pub(crate) fn vouches(&self, id: ractor::ActorId, name: &str) -> bool {
        if self.config.tls.is_none() {
            return true;
        }
        match id {
            ractor::ActorId::Remote { node_id, .. } => self
                .vouched
                .lock()
                .expect("vouched lock")
                .get(&node_id)
                .is_some_and(|n| n == name),
            ractor::ActorId::Local(_) => false,
        }
    }

    /// Whether some open session's certificate names node `name` (always without TLS).
    pub(crate) fn vouched_name(&self, name: &str) -> bool {
        self.config.tls.is_none()
            || self
                .vouched
                .lock()
                .expect("vouched lock")
                .values()
                .any(|n| n == name)
    }

    pub(crate) fn me(&self) -> NodeInfo {
        NodeInfo {
            name: self.config.node_name.clone(),
            address: self.config.advertise.clone(),
            actors: self.system.active_counts(),
            peers: self
                .peers
                .lock()
                .expect("peers lock")
                .values()
                .filter(|p| self.is_up(p))
                .map(|p| (p.info.name.clone(), p.info.address.clone()))
                .collect(),
            leaving: self.leaving.load(Ordering::Relaxed),
            link: self.config.link_advertise.clone(),
            key: self.config.key_fingerprint.clone(),
        }
    }

    pub(crate) fn is_up(&self, p: &Peer) -> bool {
        !p.info.leaving
            && p.gateway.is_some()
            && p.last_seen.elapsed() <= self.config.failure_deadline
    }

    pub(crate) fn state_of(&self, p: &Peer) -> &'static str {
        if p.info.leaving {
            "left"
        } else if self.is_up(p) {
            "up"
        } else {
            "down"
        }
    }

    /// How many members the cluster has, for the majority rule: the configured members
    /// (this node and its seeds), or more if more have joined. Members that left gracefully
    /// don't count.
    pub(crate) fn cluster_size(&self) -> usize {
        let forgotten = self.forgotten.lock().expect("forgotten lock").clone();
        let mut addrs: HashSet<&str> = self.config.seeds.iter().map(String::as_str).collect();
        addrs.insert(&self.config.advertise);
        for address in forgotten.values() {
            addrs.remove(address.as_str());
        }
        let known = 1 + self
            .peers
            .lock()
            .expect("peers lock")
            .values()
            .filter(|p| !p.info.leaving && !forgotten.contains_key(&p.info.name))
            .count();
        addrs.len().max(known)
    }
}

/// Messages between nodes. Payloads are `[WIRE_VERSION][msgpack]` so that nodes of different
/// versions can tell what they are reading; add variants, never rename them.
#[derive(RactorClusterMessage)]
pub enum GatewayMsg {
    /// A heartbeat carrying the caller's [`NodeInfo`]; the answer carries ours.
    #[rpc]
    Ping(Vec<u8>, RpcReplyPort<Vec<u8>>),
    /// The sender (its [`NodeInfo`], `leaving` set) is draining and owns nothing any more.
    Leaving(Vec<u8>),
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION];
    rmp_serde::encode::write_named(&mut out, v).expect("msgpack encoding of plain data");
    out
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Option<T> {
    match b {
        [WIRE_VERSION, rest @ ..] => rmp_serde::from_slice(rest).ok(),
        _ => None,
    }
}

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

pub(crate) struct Gateway;

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
                    // Being pinged proves the peer is alive, too (when a session's
                    // certificate names it).
                    if shared.vouched_name(&peer.name) {
                        record(shared, peer, None);
                    }
                }
                let _ = reply.send(encode(&shared.me()));
            }
            GatewayMsg::Leaving(from) => {
                if let Some(peer) =
                    decode::<NodeInfo>(&from).filter(|p| shared.vouched_name(&p.name))
                {
                    tracing::info!(peer = %peer.name, "cluster peer is leaving; taking its actors over");
                    record(shared, peer, None);
                    refresh_view(shared);
                }
            }
        }
        Ok(())
    }
}

/// Records what a peer said about itself; `gateway` when we reached it through our session.
fn record(shared: &Shared, info: NodeInfo, gateway: Option<ActorRef<GatewayMsg>>) {
    if info.name == shared.config.node_name {
        return;
    }
    let back = shared
        .forgotten
        .lock()
        .expect("forgotten lock")
        .remove(&info.name)
        .is_some();
    if back {
        tracing::warn!(peer = %info.name, "a forgotten member is back: it counts toward the majority again");
        let (shared2, name) = (shared.system.clone(), info.name.clone());
        tokio::spawn(async move {
            if let Err(e) = write_forgotten(shared2.store().as_ref(), |f| {
                f.remove(&name);
            })
            .await
            {
                tracing::warn!(error = %e, "cannot record that a forgotten member is back");
            }
        });
    }
    let mut peers = shared.peers.lock().expect("peers lock");
    let known = peers.get(&info.name);
    // Logged when first heard from, and whenever it changes, not on every heartbeat.
    if info.key != shared.config.key_fingerprint && known.is_none_or(|p| p.info.key != info.key) {
        tracing::error!(
            node = %shared.config.node_name,
            peer = %info.name,
            key = ?shared.config.key_fingerprint,
            peer_key = ?info.key,
            "configured signing keys differ: {} signs with {:?} and {} with {:?}, so tokens issued by one are refused by the other; configure the same auth.jwt_secret on every node, or none (the cluster then keeps its keys in the shared bucket)",
            shared.config.node_name,
            shared.config.key_fingerprint,
            info.name,
            info.key,
        );
    }
    let was_up = peers.get(&info.name).is_some_and(|p| shared.is_up(p));
    if gateway.is_some() {
        // It answered on a session: whatever closed before, it is alive now.
        shared
            .closed
            .lock()
            .expect("closed lock")
            .remove(&info.name);
    }
    let gateway = gateway.or_else(|| peers.get(&info.name).and_then(|p| p.gateway.clone()));
    let peer = Peer {
        info,
        last_seen: Instant::now(),
        gateway,
    };
    if !was_up && shared.is_up(&peer) {
        tracing::info!(peer = %peer.info.name, address = %peer.info.address, "cluster peer is up");
    }
    peers.insert(peer.info.name.clone(), peer);
}

/// Logs authentication failures, which ractor_cluster reports only as a disconnect, and
/// marks a peer down the moment its session closes (a killed process is noticed in a
/// millisecond instead of a heartbeat deadline).
pub(crate) struct SessionEvents {
    shared: Arc<Shared>,
    authenticated: Mutex<HashSet<String>>,
    /// Sessions closed because the peer's certificate names another node (already logged).
    impostors: Mutex<HashSet<String>>,
}

impl SessionEvents {
    /// Follows the node server's sessions for `shared`.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            authenticated: Mutex::new(HashSet::new()),
            impostors: Mutex::new(HashSet::new()),
        }
    }
}

impl NodeEventSubscription for SessionEvents {
    fn node_session_opened(&self, _: ractor_cluster::node::NodeServerSessionInformation) {}

    fn node_session_authenticated(&self, ses: ractor_cluster::node::NodeServerSessionInformation) {
        if let Some(tls) = &self.shared.config.tls {
            // The name it gave in ractor_cluster's handshake (`name@host`) must be one its
            // certificate names; else the session is closed before it becomes a member.
            let names = tls
                .pending
                .lock()
                .expect("pending lock")
                .remove(&ses.peer_addr)
                .map(|(names, _)| names)
                .unwrap_or_default();
            let claimed = ses
                .peer_name
                .as_ref()
                .map(|n| n.name.rsplit_once('@').map_or(n.name.as_str(), |(n, _)| n))
                .unwrap_or_default()
                .to_owned();
            if !names.iter().any(|n| n.eq_ignore_ascii_case(&claimed)) {
                let why = crate::tls::name_mismatch(&names, &claimed);
                match ses.peer_addr.parse() {
                    Ok(peer) => tls.refused(MEMBERSHIP_LINK, peer, &why),
                    Err(_) => {
                        tracing::warn!(peer = %ses.peer_addr, "cluster peer {} refused on the membership link: {why}", ses.peer_addr)
                    }
                }
                self.impostors
                    .lock()
                    .expect("impostors lock")
                    .insert(ses.peer_addr.clone());
                ses.actor
                    .stop(Some("its certificate names another node".into()));
                return;
            }
            self.shared
                .vouched
                .lock()
                .expect("vouched lock")
                .insert(ses.node_id, claimed);
        }
        self.authenticated
            .lock()
            .expect("auth lock")
            .insert(ses.peer_addr.clone());
    }

    fn node_session_disconnected(&self, ses: ractor_cluster::node::NodeServerSessionInformation) {
        self.shared
            .vouched
            .lock()
            .expect("vouched lock")
            .remove(&ses.node_id);
        if let Some(tls) = &self.shared.config.tls {
            tls.pending
                .lock()
                .expect("pending lock")
                .remove(&ses.peer_addr);
        }
        let was_authenticated = self
            .authenticated
            .lock()
            .expect("auth lock")
            .remove(&ses.peer_addr);
        if self
            .impostors
            .lock()
            .expect("impostors lock")
            .remove(&ses.peer_addr)
        {
            return;
        }
        if !was_authenticated {
            if self.shared.config.tls.is_some() {
                // In TLS 1.3 a dialing node learns only now that the peer refused its
                // certificate; the peer's log says which it was.
                tracing::warn!(peer = %ses.peer_addr, "cluster peer refused: it failed authentication (wrong cluster cookie, or the peer refused our certificate: see its log)");
            } else {
                tracing::warn!(peer = %ses.peer_addr, "cluster peer refused: it failed authentication (wrong cluster cookie?)");
            }
            return;
        }
        tracing::info!(peer = %ses.peer_addr, name = ?ses.peer_name.as_ref().map(|n| &n.name), "cluster session closed");
        // ractor_cluster names a peer `name@host`.
        let name = ses.peer_name.map(|n| match n.name.rsplit_once('@') {
            Some((name, _)) => name.to_owned(),
            None => n.name,
        });
        if let Some(name) = name {
            if let Some(p) = self.shared.peers.lock().expect("peers lock").get_mut(&name) {
                p.gateway = None;
            }
            self.shared.closed.lock().expect("closed lock").insert(name);
            refresh_view(&self.shared);
        }
    }
}

/// The live members at one moment, and whether they are a majority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct View {
    /// Names of the members this node may place actors on, sorted.
    pub(crate) members: Vec<String>,
    /// Whether they are a majority of the configured members.
    pub(crate) quorum: bool,
}

fn current_view(shared: &Shared) -> View {
    let me = &shared.config.node_name;
    let leaving = shared.leaving.load(Ordering::Relaxed);
    let mut members: Vec<String> = shared
        .peers
        .lock()
        .expect("peers lock")
        .values()
        .filter(|p| shared.is_up(p))
        .map(|p| p.info.name.clone())
        .collect();
    let up = members.len() + 1;
    if !leaving {
        members.push(me.clone());
    }
    members.sort();
    View {
        members,
        quorum: up > shared.cluster_size() / 2,
    }
}

/// Looks at the members; if they changed since the last look, rebalances:
/// - every activation this node no longer owns is passivated (all of them, without a
///   majority);
/// - when a member appears (joins, or comes back after a partition or a freeze), every
///   activation is passivated, owned or not. While apart, that member may have believed it
///   owned some of them and written to the store; an activation that kept its old state
///   would serve stale reads. Reloading from the store at the next request is one read each.
pub(crate) fn refresh_view(shared: &Shared) -> View {
    let view = current_view(shared);
    let previous = {
        let mut last = shared.last_view.lock().expect("view lock");
        if last.as_ref() == Some(&view) {
            return view;
        }
        last.replace(view.clone())
    };
    let appeared = previous.as_ref().is_some_and(|p| {
        view.members
            .iter()
            .any(|m| *m != shared.config.node_name && !p.members.contains(m))
    });
    tracing::info!(members = ?view.members, quorum = view.quorum, appeared, "cluster view changed; rebalancing");
    metrics::counter!("troupe_cluster_view_changes_total").increment(1);
    let me = shared.config.node_name.clone();
    let (members, keep) = (view.members.clone(), view.quorum && !appeared);
    shared
        .system
        .rebalance(&|id| keep && placement::owner(id, &members).is_some_and(|o| *o == me));
    view
}

pub(crate) async fn heartbeats(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.config.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sync_every = (Duration::from_secs(2).as_millis()
        / shared.config.heartbeat.as_millis().max(1))
    .max(1) as u64;
    for round in 0u64.. {
        tick.tick().await;
        if round % sync_every == 0 {
            sync_forgotten(&shared).await;
        }
        let me = encode(&shared.me());
        let deadline_ms = shared.config.failure_deadline.as_millis() as u64;
        for cell in pg::get_members(&GATEWAY_GROUP.to_string()) {
            if cell.get_id().is_local() {
                continue;
            }
            let gateway: ActorRef<GatewayMsg> = cell.into();
            // With TLS, only across a session whose certificate and handshake agreed.
            if shared.config.tls.is_some()
                && !matches!(gateway.get_id(), ractor::ActorId::Remote { node_id, .. } if shared.vouched.lock().expect("vouched lock").contains_key(&node_id))
            {
                continue;
            }
            let (me, shared) = (me.clone(), shared.clone());
            tokio::spawn(async move {
                let sent = Instant::now();
                if let Ok(reply) = ractor::call_t!(gateway, GatewayMsg::Ping, deadline_ms, me) {
                    // The bare round trip through ractor_cluster: the floor under every
                    // forwarded request.
                    metrics::histogram!("troupe_cluster_ping_seconds")
                        .record(sent.elapsed().as_secs_f64());
                    if let Some(info) = decode::<NodeInfo>(&reply) {
                        // A gateway speaks only for the node its session's certificate names.
                        if !shared.vouches(gateway.get_id(), &info.name) {
                            tracing::debug!(peer = %info.name, "a gateway spoke for another node than its certificate names; ignored");
                            return;
                        }
                        learn(&shared, &info);
                        record(&shared, info, Some(gateway));
                    }
                }
            });
        }
        // Membership changes with time alone (a silent peer passes its deadline): look.
        refresh_view(&shared);
    }
}

/// Reads the forgotten members from the shared store. One that is up here is not gone: it is
/// taken off the list (a live member cannot be forgotten).
async fn sync_forgotten(shared: &Shared) {
    let stored = match read_forgotten(shared.system.store().as_ref()).await {
        Ok((f, _)) => f,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the forgotten members");
            return;
        }
    };
    let alive: Vec<String> = {
        let peers = shared.peers.lock().expect("peers lock");
        stored
            .keys()
            .filter(|n| peers.get(*n).is_some_and(|p| shared.is_up(p)))
            .cloned()
            .collect()
    };
    let changed = {
        let mut f = shared.forgotten.lock().expect("forgotten lock");
        let mut next = stored;
        for n in &alive {
            next.remove(n);
        }
        // Forgotten by `troupe cluster forget`, which knows only the name: the address is
        // the one this node knows.
        let peers = shared.peers.lock().expect("peers lock");
        for (name, address) in next.iter_mut() {
            if address.is_empty() {
                if let Some(p) = peers.get(name) {
                    address.clone_from(&p.info.address);
                }
            }
        }
        drop(peers);
        let changed = *f != next;
        *f = next;
        changed
    };
    if !alive.is_empty() {
        tracing::warn!(members = ?alive, "asked to forget members that are up: they are not forgotten");
        let _ = write_forgotten(shared.system.store().as_ref(), |f| {
            for n in &alive {
                f.remove(n);
            }
        })
        .await;
    }
    if changed {
        refresh_view(shared);
    }
}

/// Forgotten members: name → cluster address (empty when not known to whoever wrote it).
pub type Forgotten = BTreeMap<String, String>;

/// The forgotten members in the store, and the version read.
pub async fn read_forgotten(
    store: &dyn StateStore,
) -> Result<(Forgotten, Option<troupe_runtime::store::Etag>), ForgetError> {
    match store.get(FORGOTTEN_KEY).await {
        Ok(Some(v)) => Ok((
            serde_json::from_slice(&v.value).unwrap_or_default(),
            Some(v.etag),
        )),
        Ok(None) => Ok((Forgotten::new(), None)),
        Err(e) => Err(ForgetError::Store(e.to_string())),
    }
}

/// Changes the forgotten members in the store, with compare-and-swap (retried on a conflict).
pub async fn write_forgotten(
    store: &dyn StateStore,
    mut change: impl FnMut(&mut Forgotten),
) -> Result<(), ForgetError> {
    use troupe_runtime::store::{Precondition, StoreError};
    for _ in 0..10 {
        let (mut f, etag) = read_forgotten(store).await?;
        let before = f.clone();
        change(&mut f);
        if f == before {
            return Ok(());
        }
        let condition = match etag {
            Some(e) => Precondition::Matches(e),
            None => Precondition::Absent,
        };
        let bytes = serde_json::to_vec(&f).expect("a map of strings serialises");
        match store.put(FORGOTTEN_KEY, bytes, condition).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(ForgetError::Store(e.to_string())),
        }
    }
    Err(ForgetError::Store(
        "the list kept changing; try again".into(),
    ))
}

/// Forgets a member that is gone for good: it no longer counts toward the majority, on every
/// node (each reads the list from the shared store within about 2 s). Refused for a member
/// that is up here.
pub(crate) async fn forget(shared: &Shared, name: &str) -> Result<(), ForgetError> {
    if name == shared.config.node_name {
        return Err(ForgetError::Alive(name.to_owned()));
    }
    let address = {
        let peers = shared.peers.lock().expect("peers lock");
        match peers.get(name) {
            Some(p) if shared.is_up(p) => return Err(ForgetError::Alive(name.to_owned())),
            Some(p) => p.info.address.clone(),
            None => return Err(ForgetError::Unknown(name.to_owned())),
        }
    };
    write_forgotten(shared.system.store().as_ref(), |f| {
        f.insert(name.to_owned(), address.clone());
    })
    .await?;
    shared
        .forgotten
        .lock()
        .expect("forgotten lock")
        .insert(name.to_owned(), address);
    tracing::warn!(member = %name, "forgot a member that is gone for good: it no longer counts toward the majority");
    refresh_view(shared);
    Ok(())
}

/// Notes the members a peer knows, so the reconnect task connects to them too.
fn learn(shared: &Shared, info: &NodeInfo) {
    let mut peers = shared.peers.lock().expect("peers lock");
    for (name, address) in &info.peers {
        if *name == shared.config.node_name || peers.contains_key(name) {
            continue;
        }
        peers.insert(
            name.clone(),
            Peer {
                info: NodeInfo {
                    name: name.clone(),
                    address: address.clone(),
                    actors: BTreeMap::new(),
                    peers: Vec::new(),
                    leaving: false,
                    link: String::new(),
                    key: None,
                },
                // Not seen by us yet: down until it answers our own ping.
                last_seen: Instant::now()
                    .checked_sub(shared.config.failure_deadline * 2)
                    .unwrap_or_else(Instant::now),
                gateway: None,
            },
        );
    }
}

pub(crate) async fn reconnects(shared: Arc<Shared>, node: ActorRef<NodeServerMessage>) {
    let me = shared.config.advertise.clone();
    loop {
        let mut targets: HashSet<String> = shared.config.seeds.iter().cloned().collect();
        let up: HashSet<String> = {
            let peers = shared.peers.lock().expect("peers lock");
            for p in peers.values().filter(|p| !p.info.leaving) {
                targets.insert(p.info.address.clone());
            }
            peers
                .values()
                .filter(|p| p.gateway.is_some())
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
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
                {
                    continue;
                }
                attempts.insert(addr.clone(), Instant::now());
            }
            let (node, source) = (node.clone(), shared.config.listen.ip());
            let tls = shared.config.tls.clone();
            tokio::spawn(async move {
                let connecting = connect(&node, &addr, source, tls.as_ref());
                match tokio::time::timeout(Duration::from_secs(1), connecting).await {
                    Ok(Ok(())) => tracing::debug!(%addr, "connected to cluster peer"),
                    Ok(Err(e)) => tracing::debug!(%addr, error = %e, "cannot reach cluster peer"),
                    Err(_) => tracing::debug!(%addr, "connecting to cluster peer timed out"),
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Opens a cluster connection to `addr` from the `source` address (the listen IP, unless it
/// is unspecified), over TLS unless `tls` is `None`, and hands it to the node server.
async fn connect(
    node: &ActorRef<NodeServerMessage>,
    addr: &str,
    source: std::net::IpAddr,
    tls: Option<&crate::tls::ClusterTls>,
) -> std::io::Result<()> {
    let stream = crate::link::dial(addr, source).await?;
    let (peer_addr, local_addr) = (stream.peer_addr()?, stream.local_addr()?);
    let stream = match tls {
        // A refusal is logged by `connect`.
        Some(tls) => {
            let stream = tls.connect(MEMBERSHIP_LINK, stream, peer_addr).await?;
            tls.expect_session(peer_addr, stream.get_ref().1.peer_certificates());
            ractor_cluster::NetworkStream::TlsClient {
                peer_addr,
                local_addr,
                stream,
            }
        }
        None => ractor_cluster::NetworkStream::Raw {
            peer_addr,
            local_addr,
            stream,
        },
    };
    node.cast(NodeServerMessage::ConnectionOpened {
        stream: Box::new(stream),
        is_server: false,
    })
    .map_err(|e| std::io::Error::other(e.to_string()))
}

/// The membership link's name in refusal logs.
pub(crate) const MEMBERSHIP_LINK: &str = "membership";

/// Accepts the membership link's connections over TLS and hands them to the node server.
///
/// ractor_cluster can accept TLS itself (`IncomingEncryptionMode::Tls`), but its listener
/// runs each handshake inline, with no deadline, before it accepts the next connection: one
/// peer that connects and stays silent would stop every other node from connecting, and a
/// refused handshake is logged without the peer's address. Here each handshake runs in its
/// own task within `tls::HANDSHAKE_TIMEOUT`, and a refusal names the peer. At most
/// `tls::MAX_HANDSHAKES` handshakes run at once; a connection beyond that is closed at once
/// (logged, and counted in `troupe_cluster_connections_refused_total`). Once ractor_cluster's
/// own handshake tells the peer's name, `SessionEvents` checks it against the certificate.
pub(crate) async fn accept_tls(
    listener: tokio::net::TcpListener,
    tls: crate::tls::ClusterTls,
    node: ActorRef<NodeServerMessage>,
) {
    loop {
        let (stream, peer_addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, say: don't spin, try again shortly.
                tracing::warn!(error = %e, "cluster listener cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Bounded: a connection that holds no permit is closed at once (logged).
        let Some(permit) = tls.admit(MEMBERSHIP_LINK, peer_addr) else {
            continue;
        };
        let (tls, node) = (tls.clone(), node.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            let Ok(local_addr) = stream.local_addr() else {
                return;
            };
            // A refusal is logged by `accept`.
            let Ok(stream) = tls.accept(MEMBERSHIP_LINK, stream, peer_addr).await else {
                return;
            };
            tls.expect_session(peer_addr, stream.get_ref().1.peer_certificates());
            let _ = node.cast(NodeServerMessage::ConnectionOpened {
                stream: Box::new(ractor_cluster::NetworkStream::TlsServer {
                    peer_addr,
                    local_addr,
                    stream,
                }),
                is_server: true,
            });
        });
    }
}
