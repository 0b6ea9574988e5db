//! The per-node [`System`]: the registry of every actor kind on this node, and the seam where
//! the cluster layer plugs in its [`Router`].
//!
//! The runtime knows nothing of the cluster. It asks the router where an actor lives, hands it
//! the bytes of a request for another node, and answers the requests that other nodes send
//! here through [`System::serve`]. Requests and answers are `[MAGIC][schema][msgpack]` (see
//! [`crate::codec`]), so nodes of different versions can tell what they are reading.

use super::{CallError, RuntimeConfig};
use crate::store::StateStore;
use crate::{codec, ActorId};
use async_trait::async_trait;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

/// Where an actor lives, as this node sees the cluster now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// On this node.
    Local,
    /// On the named node.
    Remote(String),
}

/// Placement and transport, implemented by the cluster layer.
#[async_trait]
pub trait Router: Send + Sync + 'static {
    /// Where `id` lives now. [`CallError::NoQuorum`] when this node must not serve at all.
    fn place(&self, id: &ActorId) -> Result<Placement, CallError>;

    /// Whether this node may serve requests now; checked for requests from other nodes.
    fn serving(&self) -> Result<(), CallError>;

    /// Carries `payload`, an encoded request for `id`, to `node`, and returns the encoded
    /// answer. The attempt ends by `deadline`. When it fails after the request may have
    /// reached `node`, the router returns only once `node` can no longer start it (see
    /// [`System::serve`]'s `start_by`), so that the caller may safely retry elsewhere.
    async fn forward(
        &self,
        node: &str,
        id: &ActorId,
        payload: Vec<u8>,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<u8>, CallError>;
}

/// What the system needs of a kind's directory, whatever the kind.
pub(crate) trait Hosted: Send + Sync + 'static {
    fn active(&self) -> usize;
    fn serve(
        &self,
        key: String,
        payload: Vec<u8>,
        start_by: SystemTime,
        deadline: tokio::time::Instant,
    ) -> BoxFuture<'static, Vec<u8>>;
    fn passivate_unowned(&self, owned: &dyn Fn(&ActorId) -> bool);
    fn shutdown(&self, timeout: Duration) -> BoxFuture<'static, ()>;
}

pub(crate) type RouterCell = Arc<OnceLock<Arc<dyn Router>>>;

struct Inner {
    store: Arc<dyn StateStore>,
    config: RuntimeConfig,
    router: RouterCell,
    kinds: RwLock<BTreeMap<&'static str, Arc<dyn Hosted>>>,
}

/// This node's actor system: the state store, the runtime settings, every kind's directory,
/// and (in a cluster) the router.
#[derive(Clone)]
pub struct System {
    inner: Arc<Inner>,
}

impl System {
    /// A system with no kinds yet. Kinds register as their directories start.
    pub fn new(store: Arc<dyn StateStore>, config: RuntimeConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                router: Arc::new(OnceLock::new()),
                kinds: RwLock::new(BTreeMap::new()),
            }),
        }
    }

    /// The durable state store.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.inner.store
    }

    /// The runtime settings.
    pub fn config(&self) -> RuntimeConfig {
        self.inner.config
    }

    pub(crate) fn router_cell(&self) -> RouterCell {
        self.inner.router.clone()
    }

    /// Plugs in the cluster's router. From then on, calls go to each actor's owner. Set once.
    pub fn set_router(&self, router: Arc<dyn Router>) -> Result<(), &'static str> {
        self.inner
            .router
            .set(router)
            .map_err(|_| "the router is already set")
    }

    pub(crate) fn register(&self, kind: &'static str, hosted: Arc<dyn Hosted>) {
        self.inner
            .kinds
            .write()
            .expect("kinds lock")
            .insert(kind, hosted);
    }

    fn kinds(&self) -> Vec<(&'static str, Arc<dyn Hosted>)> {
        self.inner
            .kinds
            .read()
            .expect("kinds lock")
            .iter()
            .map(|(k, h)| (*k, h.clone()))
            .collect()
    }

    /// Whether this node owns `id` now: always on one node; in a cluster, as the router
    /// places it. Background sweeps use it so that each actor is swept by one node only.
    pub fn owns(&self, id: &ActorId) -> bool {
        match self.inner.router.get() {
            None => true,
            Some(r) => matches!(r.place(id), Ok(Placement::Local)),
        }
    }

    /// Whether a cluster router is plugged in.
    pub fn clustered(&self) -> bool {
        self.inner.router.get().is_some()
    }

    /// Active actors on this node, by kind.
    pub fn active_counts(&self) -> BTreeMap<String, u64> {
        self.kinds()
            .into_iter()
            .map(|(k, h)| (k.to_owned(), h.active() as u64))
            .collect()
    }

    /// Answers a request that another node sent for `id`: the encoded answer, or an encoded
    /// [`CallError`]. A request that cannot start by `start_by` is dropped unhandled, because
    /// its sender may have retried it elsewhere by then.
    pub async fn serve(
        &self,
        id: &ActorId,
        payload: Vec<u8>,
        start_by: SystemTime,
        deadline: tokio::time::Instant,
    ) -> Vec<u8> {
        if let Some(Err(e)) = self.inner.router.get().map(|r| r.serving()) {
            return encode_error(e);
        }
        let hosted = self
            .inner
            .kinds
            .read()
            .expect("kinds lock")
            .get(id.kind.as_str())
            .cloned();
        match hosted {
            Some(h) => h.serve(id.key.clone(), payload, start_by, deadline).await,
            None => encode_error(CallError::Unavailable(format!(
                "this node hosts no actor kind {:?}",
                id.kind
            ))),
        }
    }

    /// Passivates every activation whose actor `owned` says this node no longer owns, after
    /// the membership changed. The actors' state is already durable; the next request
    /// activates them on their new owner.
    pub fn rebalance(&self, owned: &dyn Fn(&ActorId) -> bool) {
        for (_, h) in self.kinds() {
            h.passivate_unowned(owned);
        }
    }

    /// Passivates every activation of every kind and waits for them to exit (at most
    /// `timeout` per kind). After this, calls fail with [`CallError::ShuttingDown`].
    pub async fn shutdown(&self, timeout: Duration) {
        for (_, h) in self.kinds() {
            h.shutdown(timeout).await;
        }
    }
}

/// An answer that is an error, in a form any kind's caller decodes.
fn encode_error(e: CallError) -> Vec<u8> {
    // Schema 0 is nobody's: callers fail to decode it as their kind's answer and fall back
    // to reading a bare error (see `decode_answer`).
    codec::encode(0, &Err::<(), CallError>(e)).unwrap_or_default()
}

/// Decodes an answer from another node: the kind's own encoding, or a bare error.
pub(crate) fn decode_answer<R: serde::de::DeserializeOwned>(
    schema: u8,
    bytes: &[u8],
) -> Result<R, CallError> {
    match codec::decode::<Result<R, CallError>>(schema, bytes) {
        Ok(answer) => answer,
        Err(_) => match codec::decode::<Result<(), CallError>>(0, bytes) {
            Ok(Err(e)) => Err(e),
            _ => Err(CallError::Unavailable(
                "another node sent an answer this node cannot read (different versions?)".into(),
            )),
        },
    }
}
