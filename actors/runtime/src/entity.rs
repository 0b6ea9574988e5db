//! What an actor kind implements ([`Entity`]) and the ractor actor that hosts it ([`EntityHost`]).

use super::CallError;
use crate::codec;
use crate::stamps;
use crate::store::{Etag, Precondition, StateStore, StoreError};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{de::DeserializeOwned, Serialize};
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;

/// One kind of virtual actor: its name, its durable state, its requests and its handler.
///
/// The runtime does the rest: activation on the first request (state loaded from the store),
/// passivation when idle, supervision, and routing to the node that owns the entity.
///
/// Requests and responses are plain serialisable values, not messages with reply ports, so
/// that any kind can be called from any node: the cluster carries them as bytes. **Requests
/// must be idempotent.** A caller that cannot know whether a request was applied (the owner
/// died, or its write was fenced off) sends it again, so applying one twice must leave the
/// same state and give the same answer as applying it once.
pub trait Entity: Sized + Send + Sync + 'static {
    /// The kind name, used in [`crate::ActorId`] and as the storage prefix. No `/`.
    const KIND: &'static str;
    /// The schema byte written in front of this kind's stored state and of its requests and
    /// responses on the cluster link (see [`crate::codec`]). Bump it when any of them changes
    /// shape.
    const SCHEMA: u8;
    /// The durable state. `None` in the context means "this entity does not exist yet".
    type State: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What callers ask. Cloned when a request is retried.
    type Request: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    /// What the entity answers. Expected failures (not found, forbidden...) are answers too.
    type Response: Serialize + DeserializeOwned + Send + 'static;
    /// Context shared by every activation of the kind (configuration, other directories).
    type Args: Clone + Send + Sync + 'static;

    /// Handles one request and returns the answer. An `Err` here means the activation is
    /// broken: it stops, its caller gets [`CallError::Stopped`], and the next request restarts
    /// it from its last durable state.
    fn handle(
        ctx: &mut Ctx<Self>,
        req: Self::Request,
    ) -> impl Future<Output = Result<Self::Response, ActorProcessingErr>> + Send;

    /// What readers on this node may see of the entity without calling it
    /// ([`super::Directory::snapshot`]), computed from its **durable** state (`None`: it does
    /// not exist). Published when an activation loads, and after each durable write before any
    /// answer that write releases, so a reader never sees a change before it is acknowledged
    /// nor misses one after. `None` (the default): the kind publishes nothing.
    fn snapshot(_state: Option<&Self::State>) -> Option<Snapshot> {
        None
    }
}

/// A node-local, read-only copy of what an entity publishes ([`Entity::snapshot`]).
pub type Snapshot = Arc<dyn Any + Send + Sync>;

/// Publishes an activation's snapshot to its directory.
pub(crate) type Publish = Arc<dyn Fn(ractor::ActorId, Snapshot) + Send + Sync>;

/// A record an activation owns besides its state, under its own storage key
/// (`<KIND>/<key>`): a change to one part writes that part alone, so an entity whose state is
/// large and sharded (a video's per-viewer ratings) writes only the shard that changed. Parts
/// are fenced like the state: each write is conditional on the version this activation last
/// read or wrote. Only the entity that owns a part may write it.
pub trait Part: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The storage prefix of this kind of part. No `/`.
    const KIND: &'static str;
    /// The schema byte written in front of it (see [`crate::codec`]).
    const SCHEMA: u8;
}

/// A part this activation has read or staged: its version, and what the next write stores.
struct PartSlot {
    etag: Option<Etag>,
    staged: Option<Vec<u8>>,
}

/// What one background write did, target by target: `None` is the state, `Some(key)` a part.
type Written = Vec<(Option<String>, Result<Etag, StoreError>)>;

/// Work held back until the state it saw is durable ([`Ctx::after_durable`]).
type Hook = Box<dyn FnOnce() + Send + Sync>;

/// An activation's view of itself: its key, its durable state, and how to change it.
pub struct Ctx<E: Entity> {
    on_exit: OnExit,
    /// This activation's id, under which it publishes snapshots.
    pid: ractor::ActorId,
    publish: Publish,
    key: String,
    storage_key: String,
    state: Option<E::State>,
    etag: Option<Etag>,
    args: E::Args,
    store: Arc<dyn StateStore>,
    /// Set when a write failed: memory and store may disagree, so the activation must stop.
    poisoned: Option<StoreError>,
    /// Set once a write has failed: the activation is draining, and every request still
    /// queued for it is sent back to be retried on a fresh activation.
    retired: bool,
    /// The state holds changes ([`Ctx::stage`]) that no write has covered yet.
    staged: bool,
    /// Answers waiting for the next write: it covers the state they were computed from.
    pending: Vec<Answer<E>>,
    /// Hooks waiting for the next write, as the pending answers do ([`Ctx::after_durable`]).
    hooks: Vec<Hook>,
    /// The write in progress, if any, and the answers it releases.
    flush: Option<Flush<E>>,
    /// Numbers writes, so that a late `Flushed` for a write already handled is ignored.
    batches: u64,
    /// The state holds soft changes ([`Ctx::stage_soft`]) that no write has covered yet.
    soft: bool,
    /// A soft change asked for a write within this long, and no timer is set yet.
    soft_due: Option<Duration>,
    /// A timer will write the soft changes.
    soft_timer: bool,
    /// The request being handled is this activation's first.
    first: bool,
    /// The parts read or staged, by storage key.
    parts: HashMap<String, PartSlot>,
    /// Some part holds staged bytes that no write has covered yet.
    parts_staged: bool,
    /// The stamps of the request being handled, when stamps are on ([`crate::stamps`]).
    current: Option<Arc<stamps::Call>>,
    /// The handler asked to end the activation after this request ([`Ctx::passivate`]).
    passivate: bool,
}

/// An answer held back until the state it was computed from is durable.
struct Answer<E: Entity> {
    reply: oneshot::Sender<Result<E::Response, CallError>>,
    response: E::Response,
    stamps: Option<Arc<stamps::Call>>,
}

impl<E: Entity> Answer<E> {
    /// Sends the response, or `error` instead.
    fn send(self, error: Option<CallError>) {
        if let Some(c) = &self.stamps {
            c.mark(|c| &c.answered);
        }
        let _ = self.reply.send(match error {
            None => Ok(self.response),
            Some(e) => Err(e),
        });
    }
}

/// A background write of staged state.
struct Flush<E: Entity> {
    batch: u64,
    done: oneshot::Receiver<Written>,
    answers: Vec<Answer<E>>,
    /// The hooks this write releases, run once it is durable ([`Ctx::after_durable`]).
    hooks: Vec<Hook>,
    /// The snapshot of the state this write stores, published once it is durable.
    snapshot: Option<Snapshot>,
    /// The write's stamps, when stamps are on.
    stamps: Option<Arc<stamps::Write>>,
}

impl<E: Entity> Flush<E> {
    /// Waits for the write to finish: what it did, target by target.
    async fn finish(self) -> Finished<E> {
        let written = self.done.await.unwrap_or_else(|_| {
            vec![(
                None,
                Err(StoreError::Unavailable(
                    "the state write was abandoned".into(),
                )),
            )]
        });
        if let Some(w) = &self.stamps {
            for c in self.answers.iter().filter_map(|a| a.stamps.as_ref()) {
                c.wrote(w);
            }
        }
        Finished {
            answers: self.answers,
            hooks: self.hooks,
            written,
            snapshot: self.snapshot,
        }
    }
}

/// A finished background write, to settle ([`Ctx::settle`]).
struct Finished<E: Entity> {
    answers: Vec<Answer<E>>,
    hooks: Vec<Hook>,
    written: Written,
    snapshot: Option<Snapshot>,
}

fn condition(etag: &Option<Etag>) -> Precondition {
    match etag {
        Some(e) => Precondition::Matches(e.clone()),
        None => Precondition::Absent,
    }
}

impl<E: Entity> Ctx<E> {
    /// The entity's key within its kind.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The entity's current durable state; `None` if it does not exist.
    pub fn state(&self) -> Option<&E::State> {
        self.state.as_ref()
    }

    /// The state, to change in place: the change is in memory only until
    /// [`Ctx::stage`], [`Ctx::stage_soft`] or [`Ctx::save`] covers it. Good for taking the
    /// state out and putting it back without copying it.
    pub fn state_mut(&mut self) -> &mut Option<E::State> {
        &mut self.state
    }

    /// The per-kind context.
    pub fn args(&self) -> &E::Args {
        &self.args
    }

    /// Reads another entity's last durable state without activating it. Good for existence
    /// checks; anything that must be current asks the entity itself.
    pub async fn peek<O: Entity>(&self, key: &str) -> Result<Option<O::State>, StoreError> {
        let storage_key = format!("{}/{key}", O::KIND);
        match self.store.get(&storage_key).await? {
            Some(v) => codec::decode::<O::State>(O::SCHEMA, &v.value)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    key: storage_key,
                    reason: e.to_string(),
                }),
            None => Ok(None),
        }
    }

    /// Durably replaces the state with `new`. On `Ok` the change survives a crash (on one
    /// node) or a node's loss (in a cluster). On `Err` the state is unchanged and the
    /// activation stops after this request. [`StoreError::Conflict`] means another activation
    /// has written since this one loaded: this one is stale (fenced off), so its caller is
    /// told to retry, and the retry finds the current state.
    pub async fn save(&mut self, new: E::State) -> Result<(), StoreError> {
        // A background write of staged changes must land first: this write replaces it.
        if let Some(flush) = self.flush.take() {
            let finished = flush.finish().await;
            self.settle(finished)?;
        }
        let bytes = codec::encode(E::SCHEMA, &new).map_err(|e| StoreError::Corrupt {
            key: self.storage_key.clone(),
            reason: e.to_string(),
        })?;
        let put = self
            .store
            .put(&self.storage_key, bytes, condition(&self.etag));
        let written = match &self.current {
            Some(c) => {
                let w = Arc::new(stamps::Write::default());
                w.started
                    .store(stamps::now(), std::sync::atomic::Ordering::Relaxed);
                let written = stamps::writing(w.clone(), put).await;
                w.woke
                    .store(stamps::now(), std::sync::atomic::Ordering::Relaxed);
                c.wrote(&w);
                written
            }
            None => put.await,
        };
        match written {
            Ok(etag) => {
                self.etag = Some(etag);
                self.publish(E::snapshot(Some(&new)));
                self.state = Some(new);
                // This write covered whatever state was staged, and the answers waiting for
                // it, unless they also wait for a part.
                self.staged = false;
                self.soft = false;
                if !self.parts_staged {
                    self.run_hooks();
                    for a in std::mem::take(&mut self.pending) {
                        a.send(None);
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.poisoned = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Replaces the state with `new` in memory at once, and makes it durable in the
    /// background: every change staged while one write is under way shares the next write
    /// (group commit per actor), so a busy actor writes once per store round trip instead of
    /// once per request. The answer to this request, and to every later one, is held back
    /// until a write covering the state it saw is durable; if that write fails, they get an
    /// error instead and the activation retires. Use it where the handler needs no word on
    /// durability before it answers; use [`Ctx::save`] where it does.
    pub fn stage(&mut self, new: E::State) {
        self.state = Some(new);
        self.staged = true;
    }

    /// Runs `hook` once everything this activation has changed so far ([`Ctx::stage`],
    /// [`Ctx::stage_part`]) is durable: at once if nothing is waiting for a write, otherwise
    /// right after the write that covers it succeeds, after its snapshot is published and
    /// before the answers it releases are sent. If that write fails (fenced, or the store
    /// failed), the hook never runs. For announcing a change to others (event streams), so
    /// that whoever hears of it and then reads finds it. Soft changes ([`Ctx::stage_soft`])
    /// do not hold it back. The hook runs on the activation's task: keep it short and never
    /// block in it.
    pub fn after_durable(&mut self, hook: impl FnOnce() + Send + Sync + 'static) {
        if self.holding() {
            self.hooks.push(Box::new(hook));
        } else {
            hook();
        }
    }

    /// Runs the hooks waiting for the next write: what they saw is durable.
    fn run_hooks(&mut self) {
        for hook in std::mem::take(&mut self.hooks) {
            hook();
        }
    }

    /// Replaces the state with `new` in memory at once, and writes it within `within` in the
    /// background (write-behind): the answer is **not** held back, so the change may be lost
    /// if the node dies before that write. For soft state only, such as a playback position
    /// that the next heartbeat repeats anyway. Any later write ([`Ctx::stage`],
    /// [`Ctx::save`], passivation) covers it too. The write comes after a random part of
    /// `within` (between half and all of it): actors that changed together, such as the
    /// sessions of viewers who all started at once, do not all write in the same instant.
    pub fn stage_soft(&mut self, new: E::State, within: Duration) {
        self.state = Some(new);
        if !self.staged {
            self.soft = true;
        }
        if !self.soft_timer {
            let within = within.mul_f64(0.5 + rand::random::<f64>() / 2.0);
            self.soft_due = Some(self.soft_due.map_or(within, |d| d.min(within)));
        }
    }

    /// Reads parts of kind `P` by key (all at once), and remembers their versions for the
    /// writes that follow. Read a part before staging it, once per activation (the first
    /// request is the place): a part staged unread is written only if it does not exist yet,
    /// and otherwise fences the activation off.
    pub async fn load_parts<P: Part>(
        &mut self,
        keys: &[String],
    ) -> Result<Vec<Option<P>>, StoreError> {
        let storage: Vec<String> = keys.iter().map(|k| format!("{}/{k}", P::KIND)).collect();
        let store = self.store.clone();
        let reads = futures::future::try_join_all(storage.iter().map(|k| store.get(k))).await?;
        let mut out = Vec::with_capacity(keys.len());
        for (key, read) in storage.into_iter().zip(reads) {
            let (value, etag) = match read {
                Some(v) => (
                    Some(codec::decode::<P>(P::SCHEMA, &v.value).map_err(|e| {
                        StoreError::Corrupt {
                            key: key.clone(),
                            reason: e.to_string(),
                        }
                    })?),
                    Some(v.etag),
                ),
                None => (None, None),
            };
            self.parts
                .entry(key)
                .or_insert(PartSlot { etag, staged: None });
            out.push(value);
        }
        Ok(out)
    }

    /// Stages `value` as the part `key` of kind `P`: like [`Ctx::stage`], the answer to this
    /// request and every later one is held back until a write covering it is durable, and
    /// every part staged while one write is under way shares the next. Only the parts staged
    /// are written, not the state.
    pub fn stage_part<P: Part>(&mut self, key: &str, value: &P) {
        let storage_key = format!("{}/{key}", P::KIND);
        match codec::encode(P::SCHEMA, value) {
            Ok(bytes) => {
                self.parts
                    .entry(storage_key)
                    .or_insert(PartSlot {
                        etag: None,
                        staged: None,
                    })
                    .staged = Some(bytes);
                self.parts_staged = true;
            }
            Err(e) => {
                self.poisoned = Some(StoreError::Corrupt {
                    key: storage_key,
                    reason: e.to_string(),
                })
            }
        }
    }

    /// Whether the request being handled is the first this activation handles: a place to
    /// repair derived state once per activation.
    pub fn first_request(&self) -> bool {
        self.first
    }

    /// Ends this activation after the request being handled, as an idle one is passivated:
    /// its answer goes out once its writes are durable, requests already queued are handled,
    /// and a later request activates the entity afresh. For an entity whose work is done for
    /// now (a delivery that was sent, a digest that went out), so that it holds neither a
    /// slot nor memory until the idle timeout, which matters when thousands finish a second.
    pub fn passivate(&mut self) {
        self.passivate = true;
    }

    /// Publishes a snapshot of durable state, if the kind publishes any.
    fn publish(&self, snapshot: Option<Snapshot>) {
        if let Some(s) = snapshot {
            (self.publish)(self.pid, s);
        }
    }

    /// Whether answers must wait for a write: something is staged or being written.
    fn holding(&self) -> bool {
        self.staged || self.parts_staged || self.flush.is_some() || !self.pending.is_empty()
    }

    /// Starts a background write of the current state and the staged parts, if something is
    /// staged and no write is under way. The answers pending now are released by it.
    fn start_flush(&mut self, myself: &ActorRef<HostMsg<E>>) {
        if self.flush.is_some() || !(self.staged || self.parts_staged) {
            return;
        }
        let mut writes: Vec<(Option<String>, Vec<u8>, Precondition)> = Vec::new();
        let mut snapshot = None;
        if self.staged {
            if let Some(state) = self.state.as_ref() {
                snapshot = E::snapshot(Some(state));
                match codec::encode(E::SCHEMA, state) {
                    Ok(b) => writes.push((None, b, condition(&self.etag))),
                    Err(e) => {
                        self.poisoned = Some(StoreError::Corrupt {
                            key: self.storage_key.clone(),
                            reason: e.to_string(),
                        });
                        return;
                    }
                }
            }
            self.staged = false;
            self.soft = false;
        }
        if self.parts_staged {
            for (key, slot) in self.parts.iter_mut() {
                if let Some(bytes) = slot.staged.take() {
                    writes.push((Some(key.clone()), bytes, condition(&slot.etag)));
                }
            }
            self.parts_staged = false;
        }
        if writes.is_empty() {
            return;
        }
        self.batches += 1;
        let batch = self.batches;
        let (tx, rx) = oneshot::channel();
        let answers = std::mem::take(&mut self.pending);
        let hooks = std::mem::take(&mut self.hooks);
        metrics::histogram!("troupe_actor_write_batch_size", "kind" => E::KIND)
            .record(answers.len() as f64);
        let (store, key, me) = (self.store.clone(), self.storage_key.clone(), myself.clone());
        let write_stamps = stamps::on().then(|| {
            for c in answers.iter().filter_map(|a| a.stamps.as_ref()) {
                c.mark(|c| &c.write_spawned);
            }
            Arc::new(stamps::Write::default())
        });
        let w = write_stamps.clone();
        tokio::spawn(async move {
            let puts = writes.into_iter().map(|(part, bytes, condition)| {
                let (store, target) = (&store, part.clone().unwrap_or_else(|| key.clone()));
                async move { (part, store.put(&target, bytes, condition).await) }
            });
            let written = match w {
                Some(w) => {
                    w.started
                        .store(stamps::now(), std::sync::atomic::Ordering::Relaxed);
                    let written = stamps::writing(w.clone(), futures::future::join_all(puts)).await;
                    w.woke
                        .store(stamps::now(), std::sync::atomic::Ordering::Relaxed);
                    written
                }
                None => futures::future::join_all(puts).await,
            };
            let _ = tx.send(written);
            // Wakes the activation; if it is draining, `post_stop` collects the result.
            let _ = me.send_message(HostMsg::Flushed(batch));
        });
        self.flush = Some(Flush {
            batch,
            done: rx,
            answers,
            hooks,
            snapshot,
            stamps: write_stamps,
        });
    }

    /// Releases the answers a finished write covered: their responses if it succeeded, an
    /// error if it failed (and then everything held back fails too, and the activation must
    /// retire).
    fn settle(&mut self, finished: Finished<E>) -> Result<(), StoreError> {
        let Finished {
            answers,
            hooks,
            written,
            snapshot,
        } = finished;
        let mut failed = None;
        for (part, result) in written {
            match (result, part) {
                (Ok(etag), None) => self.etag = Some(etag),
                (Ok(etag), Some(key)) => {
                    if let Some(slot) = self.parts.get_mut(&key) {
                        slot.etag = Some(etag);
                    }
                }
                (Err(e), _) => {
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            None => {
                self.publish(snapshot);
                for hook in hooks {
                    hook();
                }
                for a in answers {
                    a.send(None);
                }
                Ok(())
            }
            Some(e) => {
                let why = if matches!(e, StoreError::Conflict) {
                    CallError::Fenced
                } else {
                    CallError::Unavailable(e.to_string())
                };
                for a in answers.into_iter().chain(std::mem::take(&mut self.pending)) {
                    a.send(Some(why.clone()));
                }
                // What they would announce never became durable: they never run.
                drop(hooks);
                self.hooks.clear();
                self.staged = false;
                self.parts_staged = false;
                self.poisoned = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Durably deletes the entity's state, and every part this activation has read or
    /// written.
    pub async fn remove(&mut self) -> Result<(), StoreError> {
        if let Some(flush) = self.flush.take() {
            let finished = flush.finish().await;
            self.settle(finished)?;
        }
        self.staged = false;
        // Soft changes die with the state: nothing writes them back later.
        self.soft = false;
        self.parts_staged = false;
        let mut existing: Vec<(String, Etag)> = self
            .parts
            .drain()
            .filter_map(|(key, slot)| Some((key, slot.etag?)))
            .collect();
        if let Some(etag) = self.etag.clone() {
            existing.push((self.storage_key.clone(), etag));
        }
        let store = self.store.clone();
        let deletes = existing
            .iter()
            .map(|(key, etag)| store.delete(key, Precondition::Matches(etag.clone())));
        let failed = futures::future::join_all(deletes)
            .await
            .into_iter()
            .find_map(Result::err);
        if let Some(e) = failed {
            self.poisoned = Some(e.clone());
            return Err(e);
        }
        self.etag = None;
        self.state = None;
        self.publish(E::snapshot(None));
        // The staged state they waited for is gone with the entity.
        self.hooks.clear();
        Ok(())
    }
}

/// One request to a hosted entity, with where its answer goes.
pub struct Envelope<E: Entity> {
    pub(crate) request: E::Request,
    /// A request that has not started by then is dropped unhandled: its caller has given up
    /// and may have retried it elsewhere, so starting it late could undo newer writes.
    pub(crate) start_by: Option<SystemTime>,
    pub(crate) reply: oneshot::Sender<Result<E::Response, CallError>>,
    /// The call's stamps, when stamps are on ([`crate::stamps`]).
    pub(crate) stamps: Option<Arc<stamps::Call>>,
}

/// What an [`EntityHost`] receives: requests, and word that a background write finished.
pub enum HostMsg<E: Entity> {
    /// A request.
    Request(Envelope<E>),
    /// The write numbered so has finished; its result waits in the context.
    Flushed(u64),
    /// Time to write the soft changes ([`Ctx::stage_soft`]).
    SoftFlush,
}

impl<E: Entity> ractor::Message for HostMsg<E> {}

/// The ractor actor that hosts one activation of an [`Entity`].
pub struct EntityHost<E>(std::marker::PhantomData<fn() -> E>);

impl<E> Default for EntityHost<E> {
    fn default() -> Self {
        Self(std::marker::PhantomData)
    }
}

/// Called with the activation's actor id when it stops normally.
pub(crate) type OnExit = Arc<dyn Fn(ractor::ActorId) + Send + Sync>;

/// What an [`EntityHost`] needs to start.
pub struct HostArgs<E: Entity> {
    pub(crate) key: String,
    pub(crate) args: E::Args,
    pub(crate) store: Arc<dyn StateStore>,
    /// Frees the directory slot. Called from the activation's own task, so that retiring
    /// activations does not funnel through the kind's single supervisor.
    pub(crate) on_exit: OnExit,
    /// Where the activation's snapshots go ([`Entity::snapshot`]).
    pub(crate) publish: Publish,
}

impl<E: Entity> Actor for EntityHost<E> {
    type Msg = HostMsg<E>;
    type State = Ctx<E>;
    type Arguments = HostArgs<E>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: HostArgs<E>,
    ) -> Result<Ctx<E>, ActorProcessingErr> {
        let storage_key = format!("{}/{}", E::KIND, args.key);
        let (state, etag) = match args.store.get(&storage_key).await? {
            Some(v) => (
                Some(codec::decode::<E::State>(E::SCHEMA, &v.value)?),
                Some(v.etag),
            ),
            None => (None, None),
        };
        let ctx = Ctx {
            on_exit: args.on_exit,
            pid: myself.get_id(),
            publish: args.publish,
            key: args.key,
            storage_key,
            state,
            etag,
            args: args.args,
            store: args.store,
            poisoned: None,
            retired: false,
            staged: false,
            pending: Vec::new(),
            hooks: Vec::new(),
            flush: None,
            batches: 0,
            soft: false,
            soft_due: None,
            soft_timer: false,
            first: true,
            parts: HashMap::new(),
            parts_staged: false,
            current: None,
            passivate: false,
        };
        ctx.publish(E::snapshot(ctx.state.as_ref()));
        Ok(ctx)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        ctx: &mut Ctx<E>,
    ) -> Result<(), ActorProcessingErr> {
        let env = match msg {
            HostMsg::Request(env) => env,
            HostMsg::Flushed(batch) => {
                if ctx.flush.as_ref().is_some_and(|f| f.batch == batch) {
                    let flush = ctx.flush.take().expect("checked above");
                    let finished = flush.finish().await;
                    if ctx.settle(finished).is_ok() {
                        if ctx.staged || ctx.parts_staged {
                            ctx.start_flush(&myself);
                        } else {
                            // Nothing new was staged: what the pending answers saw is durable.
                            ctx.run_hooks();
                            for a in std::mem::take(&mut ctx.pending) {
                                a.send(None);
                            }
                        }
                    }
                }
                retire_if_poisoned(&myself, ctx);
                return Ok(());
            }
            HostMsg::SoftFlush => {
                ctx.soft_timer = false;
                if ctx.soft && !ctx.retired && ctx.poisoned.is_none() {
                    ctx.staged = true;
                    ctx.start_flush(&myself);
                }
                retire_if_poisoned(&myself, ctx);
                return Ok(());
            }
        };
        let Envelope {
            request,
            start_by,
            reply,
            stamps,
        } = env;
        if let Some(c) = &stamps {
            c.mark(|c| &c.handle_start);
        }
        if start_by.is_some_and(|t| SystemTime::now() > t) {
            metrics::counter!("troupe_actor_expired_requests_total", "kind" => E::KIND)
                .increment(1);
            let _ = reply.send(Err(CallError::Timeout));
            return Ok(());
        }
        if ctx.retired {
            let _ = reply.send(Err(CallError::Fenced));
            return Ok(());
        }
        ctx.current = stamps.clone();
        let handled = E::handle(ctx, request).await;
        ctx.current = None;
        if let Some(c) = &stamps {
            c.mark(|c| &c.handle_end);
        }
        ctx.first = false;
        if let Some(due) = ctx.soft_due.take() {
            ctx.soft_timer = true;
            let me = myself.clone();
            tokio::spawn(async move {
                tokio::time::sleep(due).await;
                let _ = me.send_message(HostMsg::SoftFlush);
            });
        }
        if ctx.poisoned.is_none() {
            // On `Err` the activation is broken: the reply is dropped (its caller sees
            // `Stopped`) and the supervisor frees the slot for a fresh activation.
            let response = handled?;
            let answer = Answer {
                reply,
                response,
                stamps,
            };
            if ctx.holding() {
                ctx.pending.push(answer);
                ctx.start_flush(&myself);
            } else {
                answer.send(None);
            }
            retire_if_poisoned(&myself, ctx);
            if std::mem::take(&mut ctx.passivate) && !ctx.retired {
                // As the directory passivates: queued requests are handled, new ones wait
                // for the exit (post_stop finishes a write under way) and activate afresh.
                let _ = myself.drain();
            }
            return Ok(());
        }
        let fenced = matches!(ctx.poisoned, Some(StoreError::Conflict));
        // A fenced activation's answer was computed from stale state: discard it and have the
        // caller retry on a fresh activation. Any other failed write is an honest answer (the
        // store is unavailable), given as the handler made it.
        let _ = reply.send(match handled {
            Ok(response) if !fenced => Ok(response),
            _ => Err(CallError::Fenced),
        });
        retire_if_poisoned(&myself, ctx);
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        ctx: &mut Ctx<E>,
    ) -> Result<(), ActorProcessingErr> {
        // Passivated or drained with a write under way, or changes staged: finish them here,
        // so that no answer is lost and nothing staged is dropped. A write already under way
        // is always awaited: the answers it covers are durable if it succeeded. Soft changes
        // are written too.
        if ctx.soft {
            ctx.staged = true;
        }
        loop {
            if let Some(flush) = ctx.flush.take() {
                let finished = flush.finish().await;
                let _ = ctx.settle(finished);
                continue;
            }
            if (ctx.staged || ctx.parts_staged) && !ctx.retired && ctx.poisoned.is_none() {
                ctx.start_flush(&myself);
                if ctx.flush.is_some() {
                    continue;
                }
            }
            break;
        }
        let unsafe_to_answer =
            ctx.retired || ctx.poisoned.is_some() || ctx.staged || ctx.parts_staged;
        if !unsafe_to_answer {
            ctx.run_hooks();
        }
        for a in std::mem::take(&mut ctx.pending) {
            a.send(unsafe_to_answer.then_some(CallError::Fenced));
        }
        (ctx.on_exit)(myself.get_id());
        Ok(())
    }
}

/// After a failed write, memory and store may disagree: the activation retires. It drains
/// rather than stops, so requests already queued are answered (with `Fenced`, so their callers
/// retry on a fresh activation) instead of being dropped.
fn retire_if_poisoned<E: Entity>(myself: &ActorRef<HostMsg<E>>, ctx: &mut Ctx<E>) {
    let Some(error) = ctx.poisoned.as_ref() else {
        return;
    };
    if ctx.retired {
        return;
    }
    let fenced = matches!(error, StoreError::Conflict);
    tracing::warn!(kind = E::KIND, key = %ctx.key, %error, fenced, "retiring activation after a failed write");
    if fenced {
        metrics::counter!("troupe_actor_fenced_total", "kind" => E::KIND).increment(1);
    }
    ctx.retired = true;
    let _ = myself.drain();
}
