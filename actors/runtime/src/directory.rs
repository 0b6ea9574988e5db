//! The per-node, per-kind directory of activations, and the kind's supervisor.
//!
//! ```text
//!  Directory<E> ──spawns──▶ KindSupervisor<E>   (one per kind, never dies of a child)
//!        │                       │ linked
//!        │ ActorRef              ├── EntityHost<E> "alice"
//!        └──────────────────────▶├── EntityHost<E> "bob"
//!                                └── ...
//! ```
//!
//! A key's slot is either `Active` (a running activation) or `Busy` (being activated, or being
//! passivated). Callers that find a `Busy` slot wait for the transition to finish and look
//! again, so a key never has two activations on one node, and a message is never sent to an
//! activation that is gone: a send that fails because the activation is draining is retried on
//! the next one.

use super::entity::{Entity, EntityHost, Envelope, HostArgs, HostMsg, Snapshot};
use super::system::{decode_answer, Hosted, Placement, RouterCell, System};
use super::{CallError, RuntimeConfig};
use crate::store::StateStore;
use crate::{codec, ActorId};
use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{oneshot, watch};

type HostRef<E> = ActorRef<HostMsg<E>>;

/// The most times one call is sent, retries included (and never past its deadline). With
/// backoff from 5 ms doubling to 200 ms, twelve attempts span about 1.6 s of waiting, more
/// than a failover takes.
const MAX_ATTEMPTS: u32 = 12;

enum Slot<E: Entity> {
    Active {
        actor: HostRef<E>,
        last_used: Instant,
    },
    /// A transition is under way; the receiver closes when it is over.
    Busy {
        done: watch::Receiver<()>,
        /// Set when the transition is the passivation of this activation.
        passivating: Option<ractor::ActorId>,
    },
}

struct Slots<E: Entity> {
    by_key: HashMap<String, Slot<E>>,
    by_pid: HashMap<ractor::ActorId, Live>,
    /// The newest snapshot each running activation published ([`Entity::snapshot`]).
    snapshots: HashMap<ractor::ActorId, Snapshot>,
}

/// A running activation's bookkeeping.
struct Live {
    key: String,
    /// Dropped when the activation exits, to wake callers waiting on its passivation.
    done: Option<watch::Sender<()>>,
    /// Its share of `max_active`, given back when it exits.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

struct Inner<E: Entity> {
    slots: Mutex<Slots<E>>,
    store: Arc<dyn StateStore>,
    /// Where actors live, once the cluster layer has plugged in; local until then.
    router: RouterCell,
    args: E::Args,
    config: RuntimeConfig,
    runtime: tokio::runtime::Handle,
    supervisor: Mutex<Option<ActorRef<()>>>,
    closing: AtomicBool,
    /// Wakes `shutdown` when the last activation exits.
    emptied: tokio::sync::Notify,
    /// One permit per live activation, `config.max_active` in all.
    permits: Arc<tokio::sync::Semaphore>,
}

/// The activations of one actor kind on this node.
pub struct Directory<E: Entity> {
    inner: Arc<Inner<E>>,
}

impl<E: Entity> Clone for Directory<E> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<E: Entity> Directory<E> {
    /// Starts the directory for kind `E` in `system`: its supervisor and its passivation
    /// sweeper, and registers it so that other nodes can reach the kind. Must be called on
    /// the runtime the actors should run on.
    pub async fn start(system: &System, args: E::Args) -> Result<Self, CallError> {
        let config = system.config();
        let inner = Arc::new(Inner {
            slots: Mutex::new(Slots {
                by_key: HashMap::new(),
                by_pid: HashMap::new(),
                snapshots: HashMap::new(),
            }),
            store: system.store().clone(),
            router: system.router_cell(),
            args,
            config,
            runtime: tokio::runtime::Handle::current(),
            supervisor: Mutex::new(None),
            closing: AtomicBool::new(false),
            emptied: tokio::sync::Notify::new(),
            permits: Arc::new(tokio::sync::Semaphore::new(config.max_active.max(1))),
        });
        let (supervisor, _) = Actor::spawn(
            None,
            KindSupervisor::<E>(std::marker::PhantomData),
            Arc::downgrade(&inner),
        )
        .await
        .map_err(|e| {
            CallError::Unavailable(format!("cannot start the {} supervisor: {e}", E::KIND))
        })?;
        *inner.supervisor.lock().expect("supervisor lock") = Some(supervisor);
        let sweeper = Arc::downgrade(&inner);
        tokio::spawn(async move {
            // At most 1 s: besides bounding how late an idle actor goes, an armed timer that
            // fires before any call timeout saves tokio from waking a parked worker to re-arm
            // its timer on every call (measured: 2x on sequential calls).
            let period = (config.idle_timeout / 4).clamp(
                std::time::Duration::from_millis(5),
                std::time::Duration::from_secs(1),
            );
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = sweeper.upgrade() else {
                    break;
                };
                if inner.closing.load(Ordering::Relaxed) {
                    break;
                }
                inner.passivate_idle();
            }
        });
        let directory = Self { inner };
        system.register(E::KIND, Arc::new(directory.clone()));
        Ok(directory)
    }

    /// The kind this directory serves.
    pub fn kind(&self) -> &'static str {
        E::KIND
    }

    /// How many activations are running now.
    pub fn active(&self) -> usize {
        self.inner.slots.lock().expect("slots lock").by_pid.len()
    }

    /// What the entity `key` published of its durable state ([`Entity::snapshot`]), if it is
    /// active on this node, this node owns it, and it published a `T`: a read without a call.
    /// `None` means "ask the entity" ([`Directory::call`]), never "it does not exist". Counts
    /// as a use: a read keeps the activation from passivating as a call would.
    pub fn snapshot<T: std::any::Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        if crate::stamps::on() {
            let start = crate::stamps::now();
            let read = self.read_snapshot(key);
            crate::stamps::snapshot_read(start);
            return read;
        }
        self.read_snapshot(key)
    }

    fn read_snapshot<T: std::any::Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        if let Some(router) = self.inner.router.get() {
            // Another node owns it (or this one is cut off): its state is not ours to read.
            if !matches!(
                router.place(&ActorId::new(E::KIND, key)),
                Ok(Placement::Local)
            ) {
                return None;
            }
        }
        let mut guard = self.inner.slots.lock().expect("slots lock");
        let slots = &mut *guard;
        let Some(Slot::Active { actor, last_used }) = slots.by_key.get_mut(key) else {
            return None;
        };
        *last_used = Instant::now();
        let snapshot = slots.snapshots.get(&actor.get_id())?.clone();
        drop(guard);
        snapshot.downcast::<T>().ok()
    }

    /// Sends `request` to the entity `key` wherever it lives, activating it if needed, and
    /// waits for the answer for at most the configured call timeout.
    ///
    /// In a cluster the request goes to the entity's owner. A request that could not be
    /// applied (the owner died, its activation was fenced off by a newer one, or it is
    /// leaving) is sent again to the owner of the moment, with backoff, until the deadline:
    /// requests are idempotent, so a retry never applies a change twice.
    pub async fn call(&self, key: &str, request: E::Request) -> Result<E::Response, CallError> {
        let deadline = tokio::time::Instant::now() + self.inner.config.call_timeout;
        let mut backoff = Duration::from_millis(5);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = match self.place(key) {
                Ok((Placement::Local, _)) => {
                    // A request still queued when its caller gives up is dropped, not applied
                    // late (after a freeze, say) behind the caller's back.
                    let start_by = SystemTime::now()
                        + deadline.saturating_duration_since(tokio::time::Instant::now());
                    self.call_local(key, request.clone(), deadline, Some(start_by))
                        .await
                }
                Ok((Placement::Remote(node), router)) => {
                    let router = router.expect("a remote placement comes from a router");
                    self.call_remote(&*router, &node, key, &request, deadline)
                        .await
                }
                // This node is cut off: say so at once rather than wait out the deadline.
                Err(e) => return Err(e),
            };
            match result {
                // Without a cluster only a fenced write is worth retrying (another writer on
                // the same store); in a cluster, every retryable failure is.
                Err(e)
                    if e.is_retryable()
                        && (self.inner.router.get().is_some() || e == CallError::Fenced) =>
                {
                    let now = tokio::time::Instant::now();
                    if now + backoff >= deadline || attempt >= MAX_ATTEMPTS {
                        return Err(e);
                    }
                    tracing::debug!(kind = E::KIND, key, attempt, error = %e, "retrying call");
                    metrics::counter!("troupe_actor_call_retries_total", "kind" => E::KIND)
                        .increment(1);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    fn place(&self, key: &str) -> Result<(Placement, Option<Arc<dyn super::Router>>), CallError> {
        match self.inner.router.get() {
            None => Ok((Placement::Local, None)),
            Some(router) => {
                let placement = router.place(&ActorId::new(E::KIND, key))?;
                Ok((placement, Some(router.clone())))
            }
        }
    }

    async fn call_remote(
        &self,
        router: &dyn super::Router,
        node: &str,
        key: &str,
        request: &E::Request,
        deadline: tokio::time::Instant,
    ) -> Result<E::Response, CallError> {
        let payload = codec::encode(E::SCHEMA, request)
            .map_err(|e| CallError::Unavailable(format!("cannot encode request: {e}")))?;
        let started = Instant::now();
        let answer = router
            .forward(node, &ActorId::new(E::KIND, key), payload, deadline)
            .await;
        metrics::histogram!("troupe_cluster_forward_seconds", "kind" => E::KIND)
            .record(started.elapsed().as_secs_f64());
        decode_answer::<E::Response>(E::SCHEMA, &answer?)
    }

    /// Sends `request` to the activation on this node. A request that has not started by
    /// `start_by` is answered with [`CallError::Timeout`] unhandled.
    async fn call_local(
        &self,
        key: &str,
        request: E::Request,
        deadline: tokio::time::Instant,
        start_by: Option<SystemTime>,
    ) -> Result<E::Response, CallError> {
        let mut request = Some(request);
        loop {
            let actor = tokio::time::timeout_at(deadline, self.actor_ref(key))
                .await
                .map_err(|_| CallError::Timeout)??;
            let (tx, rx) = oneshot::channel();
            let stamps = crate::stamps::on().then(crate::stamps::Call::start);
            let envelope = Envelope {
                request: request.take().expect("the request is still ours"),
                start_by,
                reply: tx,
                stamps: stamps.clone(),
            };
            if let Err(e) = actor.send_message(HostMsg::Request(envelope)) {
                // The activation is draining or gone; its slot changes as soon as its exit is
                // processed. Look again shortly.
                request = match e {
                    ractor::MessagingErr::SendErr(HostMsg::Request(env)) => Some(env.request),
                    _ => return Err(CallError::Stopped),
                };
                if tokio::time::Instant::now() >= deadline {
                    return Err(CallError::Timeout);
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                continue;
            }
            let answer = tokio::time::timeout_at(deadline, rx).await;
            if let Some(c) = stamps {
                c.mark(|c| &c.returned);
                crate::stamps::record(E::KIND, c);
            }
            return match answer {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(CallError::Stopped),
                Err(_) => Err(CallError::Timeout),
            };
        }
    }

    /// The running activation for `key`, activating it (loading its state) if there is none.
    pub async fn actor_ref(&self, key: &str) -> Result<HostRef<E>, CallError> {
        enum Next<R> {
            Wait(watch::Receiver<()>),
            Activate(watch::Sender<()>),
            Ready(R),
        }
        loop {
            let next = {
                let mut slots = self.inner.slots.lock().expect("slots lock");
                match slots.by_key.get_mut(key) {
                    Some(Slot::Active { actor, last_used }) => {
                        *last_used = Instant::now();
                        Next::Ready(actor.clone())
                    }
                    Some(Slot::Busy { done, .. }) => Next::Wait(done.clone()),
                    None => {
                        if self.inner.closing.load(Ordering::Relaxed) {
                            return Err(CallError::ShuttingDown);
                        }
                        let (tx, rx) = watch::channel(());
                        slots.by_key.insert(
                            key.to_owned(),
                            Slot::Busy {
                                done: rx,
                                passivating: None,
                            },
                        );
                        Next::Activate(tx)
                    }
                }
            };
            match next {
                Next::Ready(actor) => return Ok(actor),
                Next::Activate(done) => return self.activate(key, done).await,
                // Err means the sender was dropped: the transition is over. Look again.
                Next::Wait(mut done) => {
                    let _ = done.changed().await;
                }
            }
        }
    }

    async fn activate(&self, key: &str, done: watch::Sender<()>) -> Result<HostRef<E>, CallError> {
        let max = self.inner.config.max_active.max(1);
        if self.inner.permits.available_permits() <= max / 10 {
            self.inner.evict_lru((max / 10).max(1));
        }
        let permit = match tokio::time::timeout(
            self.inner.config.call_timeout,
            self.inner.permits.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(p)) => p,
            _ => {
                let why = format!(
                    "all {max} {} slots are busy and none freed in time",
                    E::KIND
                );
                return Err(self.abandon(key, done, why));
            }
        };
        let supervisor = self
            .inner
            .supervisor
            .lock()
            .expect("supervisor lock")
            .clone()
            .ok_or(CallError::ShuttingDown)?;
        let exits = Arc::downgrade(&self.inner);
        let publishes = Arc::downgrade(&self.inner);
        let host_args = HostArgs::<E> {
            key: key.to_owned(),
            args: self.inner.args.clone(),
            store: self.inner.store.clone(),
            on_exit: Arc::new(move |pid| {
                if let Some(inner) = exits.upgrade() {
                    inner.exited(pid, false);
                }
            }),
            publish: Arc::new(move |pid, snapshot| {
                if let Some(inner) = publishes.upgrade() {
                    let mut slots = inner.slots.lock().expect("slots lock");
                    slots.snapshots.insert(pid, snapshot);
                }
            }),
        };
        let spawn = Actor::spawn_linked(
            None,
            EntityHost::<E>::default(),
            host_args,
            supervisor.get_cell(),
        );
        // Actors live on the main multi-thread runtime or on a thread marked as their home (an
        // HTTP worker), never on some other single-threaded runtime that may end before them.
        // A spawn from such a runtime is handed over to the main one.
        let here = super::this_thread_is_an_actor_home()
            || tokio::runtime::Handle::try_current()
                .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
                .unwrap_or(false);
        let spawned = if here {
            spawn.await
        } else {
            match self.inner.runtime.spawn(spawn).await {
                Ok(r) => r,
                Err(e) => {
                    return Err(self.abandon(key, done, format!("activation task failed: {e}")))
                }
            }
        };
        let mut slots = self.inner.slots.lock().expect("slots lock");
        match spawned {
            Ok((actor, _)) => {
                slots.by_pid.insert(
                    actor.get_id(),
                    Live {
                        key: key.to_owned(),
                        done: None,
                        _permit: permit,
                    },
                );
                slots.by_key.insert(
                    key.to_owned(),
                    Slot::Active {
                        actor: actor.clone(),
                        last_used: Instant::now(),
                    },
                );
                drop(slots);
                drop(done);
                metrics::counter!("troupe_actor_activations_total", "kind" => E::KIND).increment(1);
                metrics::gauge!("troupe_actors_active", "kind" => E::KIND).increment(1.0);
                Ok(actor)
            }
            Err(e) => {
                slots.by_key.remove(key);
                drop(slots);
                drop(done);
                // The node began shutting down between the check above and the spawn (its
                // supervisor refuses new children): the request was not applied, so say so in
                // the retryable way, and the router sends it to the new owner.
                if self.inner.closing.load(Ordering::SeqCst) {
                    tracing::debug!(kind = E::KIND, key, error = %e, "activation refused: shutting down");
                    return Err(CallError::ShuttingDown);
                }
                tracing::error!(kind = E::KIND, key, error = %e, "activation failed");
                metrics::counter!("troupe_actor_activation_failures_total", "kind" => E::KIND)
                    .increment(1);
                Err(CallError::Unavailable(format!(
                    "cannot activate {}/{key}: {e}",
                    E::KIND
                )))
            }
        }
    }

    /// Gives up an activation before it started: frees the slot and wakes its waiters.
    fn abandon(&self, key: &str, done: watch::Sender<()>, why: String) -> CallError {
        self.inner
            .slots
            .lock()
            .expect("slots lock")
            .by_key
            .remove(key);
        drop(done);
        CallError::Unavailable(why)
    }

    /// Passivates every activation and waits for them to exit (at most `timeout`). After this,
    /// calls fail with [`CallError::ShuttingDown`].
    pub async fn shutdown(&self, timeout: std::time::Duration) {
        self.inner.closing.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.emptied.notified();
            let remaining = {
                let slots = self.inner.slots.lock().expect("slots lock");
                slots.by_pid.len()
            };
            if remaining == 0 {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    kind = E::KIND,
                    remaining,
                    "activations still running at shutdown deadline"
                );
                break;
            }
            self.inner.passivate_where(|_, _| true);
            // Look again soon even if not all are gone: an activation that was starting when
            // `closing` was set comes alive after this sweep, and must be passivated too.
            let soon = (tokio::time::Instant::now() + Duration::from_millis(50)).min(deadline);
            let _ = tokio::time::timeout_at(soon, notified).await;
        }
        let supervisor = self
            .inner
            .supervisor
            .lock()
            .expect("supervisor lock")
            .take();
        if let Some(s) = supervisor {
            let _ = s
                .stop_and_wait(None, Some(std::time::Duration::from_secs(1)))
                .await;
        }
    }
}

impl<E: Entity> Inner<E> {
    fn passivate_idle(&self) {
        let idle = self.config.idle_timeout;
        let now = Instant::now();
        self.passivate_where(|_, last_used| now.duration_since(last_used) >= idle);
    }

    /// Passivates about `count` of the least recently used activations.
    fn evict_lru(&self, count: usize) {
        let threshold = {
            let slots = self.slots.lock().expect("slots lock");
            let mut ages: Vec<Instant> = slots
                .by_key
                .values()
                .filter_map(|s| match s {
                    Slot::Active { last_used, .. } => Some(*last_used),
                    Slot::Busy { .. } => None,
                })
                .collect();
            if ages.is_empty() {
                return;
            }
            let k = count.min(ages.len()) - 1;
            *ages.select_nth_unstable(k).1
        };
        metrics::counter!("troupe_actor_evictions_total", "kind" => E::KIND)
            .increment(count as u64);
        self.passivate_where(|_, last_used| last_used <= threshold);
    }

    /// Moves every matching active slot to `Busy` and drains its activation: it finishes the
    /// messages already queued, refuses new ones, and exits; its exit frees the slot.
    fn passivate_where(&self, pred: impl Fn(&str, Instant) -> bool) {
        let mut draining = Vec::new();
        {
            let mut guard = self.slots.lock().expect("slots lock");
            let slots = &mut *guard;
            for (key, slot) in slots.by_key.iter_mut() {
                let Slot::Active { actor, last_used } = slot else {
                    continue;
                };
                if !pred(key, *last_used) {
                    continue;
                }
                let pid = actor.get_id();
                let (tx, rx) = watch::channel(());
                let actor = actor.clone();
                *slot = Slot::Busy {
                    done: rx,
                    passivating: Some(pid),
                };
                if let Some(live) = slots.by_pid.get_mut(&pid) {
                    live.done = Some(tx);
                }
                draining.push(actor);
            }
        }
        for actor in draining {
            let _ = actor.drain();
        }
    }

    /// Called by the supervisor when an activation has exited, for whatever reason.
    fn exited(&self, pid: ractor::ActorId, failed: bool) {
        let mut slots = self.slots.lock().expect("slots lock");
        slots.snapshots.remove(&pid);
        let Some(Live {
            key,
            done,
            _permit: permit,
        }) = slots.by_pid.remove(&pid)
        else {
            return;
        };
        let ours = match slots.by_key.get(&key) {
            Some(Slot::Active { actor, .. }) => actor.get_id() == pid,
            Some(Slot::Busy { passivating, .. }) => *passivating == Some(pid),
            None => false,
        };
        if ours {
            slots.by_key.remove(&key);
        }
        let empty = slots.by_pid.is_empty();
        drop(slots);
        drop(done);
        drop(permit);
        metrics::gauge!("troupe_actors_active", "kind" => E::KIND).decrement(1.0);
        if failed {
            metrics::counter!("troupe_actor_crashes_total", "kind" => E::KIND).increment(1);
        } else {
            metrics::counter!("troupe_actor_passivations_total", "kind" => E::KIND).increment(1);
        }
        if empty {
            self.emptied.notify_waiters();
        }
    }
}

impl<E: Entity> Hosted for Directory<E> {
    fn active(&self) -> usize {
        Directory::active(self)
    }

    fn serve(
        &self,
        key: String,
        payload: Vec<u8>,
        start_by: SystemTime,
        deadline: tokio::time::Instant,
    ) -> BoxFuture<'static, Vec<u8>> {
        let this = self.clone();
        Box::pin(async move {
            let answer = match codec::decode::<E::Request>(E::SCHEMA, &payload) {
                Ok(request) => {
                    this.call_local(&key, request, deadline, Some(start_by))
                        .await
                }
                Err(e) => Err(CallError::Unavailable(format!(
                    "this node cannot read that {} request (different versions?): {e}",
                    E::KIND
                ))),
            };
            codec::encode(E::SCHEMA, &answer).unwrap_or_else(|e| {
                codec::encode(
                    E::SCHEMA,
                    &Err::<E::Response, _>(CallError::Unavailable(format!(
                        "cannot encode the answer: {e}"
                    ))),
                )
                .unwrap_or_default()
            })
        })
    }

    fn passivate_unowned(&self, owned: &dyn Fn(&ActorId) -> bool) {
        self.inner
            .passivate_where(|key, _| !owned(&ActorId::new(E::KIND, key)));
    }

    fn shutdown(&self, timeout: Duration) -> BoxFuture<'static, ()> {
        let this = self.clone();
        Box::pin(async move { Directory::shutdown(&this, timeout).await })
    }
}

/// The supervisor of one kind. A child's exit (passivation or crash) frees its directory slot,
/// so the next message activates the entity afresh from its last durable state.
struct KindSupervisor<E>(std::marker::PhantomData<fn() -> E>);

impl<E: Entity> Actor for KindSupervisor<E> {
    type Msg = ();
    type State = std::sync::Weak<Inner<E>>;
    type Arguments = std::sync::Weak<Inner<E>>;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        inner: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(inner)
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<()>,
        event: SupervisionEvent,
        inner: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let Some(inner) = inner.upgrade() else {
            return Ok(());
        };
        match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => inner.exited(cell.get_id(), false),
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::error!(kind = E::KIND, %error, "activation crashed; it restarts from its durable state on its next message");
                inner.exited(cell.get_id(), true)
            }
            _ => {}
        }
        Ok(())
    }
}
