//! What an actor kind implements ([`Entity`]) and the ractor actor that hosts it ([`EntityHost`]).

use super::CallError;
use crate::codec;
use crate::store::{Etag, Precondition, StateStore, StoreError};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{de::DeserializeOwned, Serialize};
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
}

/// An activation's view of itself: its key, its durable state, and how to change it.
pub struct Ctx<E: Entity> {
    on_exit: OnExit,
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
}

/// An answer held back until the state it was computed from is durable.
struct Answer<E: Entity> {
    reply: oneshot::Sender<Result<E::Response, CallError>>,
    response: E::Response,
}

/// A background write of staged state.
struct Flush<E: Entity> {
    batch: u64,
    done: oneshot::Receiver<Result<Etag, StoreError>>,
    answers: Vec<Answer<E>>,
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
            let result = flush.done.await.unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "the state write was abandoned".into(),
                ))
            });
            self.settle(flush.answers, result)?;
        }
        let bytes = codec::encode(E::SCHEMA, &new).map_err(|e| StoreError::Corrupt {
            key: self.storage_key.clone(),
            reason: e.to_string(),
        })?;
        let condition = match &self.etag {
            Some(e) => Precondition::Matches(e.clone()),
            None => Precondition::Absent,
        };
        match self.store.put(&self.storage_key, bytes, condition).await {
            Ok(etag) => {
                self.etag = Some(etag);
                self.state = Some(new);
                // This write covered whatever was staged, and the answers waiting for it.
                self.staged = false;
                self.soft = false;
                for a in std::mem::take(&mut self.pending) {
                    let _ = a.reply.send(Ok(a.response));
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

    /// Whether the request being handled is the first this activation handles: a place to
    /// repair derived state once per activation.
    pub fn first_request(&self) -> bool {
        self.first
    }

    /// Whether answers must wait for a write: something is staged or being written.
    fn holding(&self) -> bool {
        self.staged || self.flush.is_some() || !self.pending.is_empty()
    }

    /// Starts a background write of the current state, if something is staged and no write
    /// is under way. The answers pending now are released by it.
    fn start_flush(&mut self, myself: &ActorRef<HostMsg<E>>) {
        if self.flush.is_some() || !self.staged {
            return;
        }
        let Some(state) = self.state.as_ref() else {
            return;
        };
        let bytes = match codec::encode(E::SCHEMA, state) {
            Ok(b) => b,
            Err(e) => {
                self.poisoned = Some(StoreError::Corrupt {
                    key: self.storage_key.clone(),
                    reason: e.to_string(),
                });
                return;
            }
        };
        let condition = match &self.etag {
            Some(e) => Precondition::Matches(e.clone()),
            None => Precondition::Absent,
        };
        self.staged = false;
        self.soft = false;
        self.batches += 1;
        let batch = self.batches;
        let (tx, rx) = oneshot::channel();
        let answers = std::mem::take(&mut self.pending);
        metrics::histogram!("troupe_actor_write_batch_size", "kind" => E::KIND)
            .record(answers.len() as f64);
        let (store, key, me) = (self.store.clone(), self.storage_key.clone(), myself.clone());
        tokio::spawn(async move {
            let _ = tx.send(store.put(&key, bytes, condition).await);
            // Wakes the activation; if it is draining, `post_stop` collects the result.
            let _ = me.send_message(HostMsg::Flushed(batch));
        });
        self.flush = Some(Flush {
            batch,
            done: rx,
            answers,
        });
    }

    /// Releases the answers a finished write covered: their responses if it succeeded, an
    /// error if it failed (and then everything held back fails too, and the activation must
    /// retire).
    fn settle(
        &mut self,
        answers: Vec<Answer<E>>,
        result: Result<Etag, StoreError>,
    ) -> Result<(), StoreError> {
        match result {
            Ok(etag) => {
                self.etag = Some(etag);
                for a in answers {
                    let _ = a.reply.send(Ok(a.response));
                }
                Ok(())
            }
            Err(e) => {
                let why = if matches!(e, StoreError::Conflict) {
                    CallError::Fenced
                } else {
                    CallError::Unavailable(e.to_string())
                };
                for a in answers.into_iter().chain(std::mem::take(&mut self.pending)) {
                    let _ = a.reply.send(Err(why.clone()));
                }
                self.staged = false;
                self.poisoned = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Durably deletes the entity's state.
    pub async fn remove(&mut self) -> Result<(), StoreError> {
        if let Some(flush) = self.flush.take() {
            let result = flush.done.await.unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "the state write was abandoned".into(),
                ))
            });
            self.settle(flush.answers, result)?;
        }
        self.staged = false;
        // Soft changes die with the state: nothing writes them back later.
        self.soft = false;
        let condition = match &self.etag {
            Some(e) => Precondition::Matches(e.clone()),
            None => {
                self.state = None;
                return Ok(());
            }
        };
        match self.store.delete(&self.storage_key, condition).await {
            Ok(()) => {
                self.etag = None;
                self.state = None;
                Ok(())
            }
            Err(e) => {
                self.poisoned = Some(e.clone());
                Err(e)
            }
        }
    }
}

/// One request to a hosted entity, with where its answer goes.
pub struct Envelope<E: Entity> {
    pub(crate) request: E::Request,
    /// A request that has not started by then is dropped unhandled: its caller has given up
    /// and may have retried it elsewhere, so starting it late could undo newer writes.
    pub(crate) start_by: Option<SystemTime>,
    pub(crate) reply: oneshot::Sender<Result<E::Response, CallError>>,
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
}

impl<E: Entity> Actor for EntityHost<E> {
    type Msg = HostMsg<E>;
    type State = Ctx<E>;
    type Arguments = HostArgs<E>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
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
        Ok(Ctx {
            on_exit: args.on_exit,
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
            flush: None,
            batches: 0,
            soft: false,
            soft_due: None,
            soft_timer: false,
            first: true,
        })
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
                    let result = flush.done.await.unwrap_or_else(|_| {
                        Err(StoreError::Unavailable(
                            "the state write was abandoned".into(),
                        ))
                    });
                    if ctx.settle(flush.answers, result).is_ok() {
                        if ctx.staged {
                            ctx.start_flush(&myself);
                        } else {
                            // Nothing new was staged: what the pending answers saw is durable.
                            for a in std::mem::take(&mut ctx.pending) {
                                let _ = a.reply.send(Ok(a.response));
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
        } = env;
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
        let handled = E::handle(ctx, request).await;
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
            if ctx.holding() {
                ctx.pending.push(Answer { reply, response });
                ctx.start_flush(&myself);
            } else {
                let _ = reply.send(Ok(response));
            }
            retire_if_poisoned(&myself, ctx);
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
                let result = flush.done.await.unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(
                        "the state write was abandoned".into(),
                    ))
                });
                let _ = ctx.settle(flush.answers, result);
                continue;
            }
            if ctx.staged && !ctx.retired && ctx.poisoned.is_none() {
                ctx.start_flush(&myself);
                if ctx.flush.is_some() {
                    continue;
                }
            }
            break;
        }
        let unsafe_to_answer = ctx.retired || ctx.poisoned.is_some() || ctx.staged;
        for a in std::mem::take(&mut ctx.pending) {
            let _ = a.reply.send(if unsafe_to_answer {
                Err(CallError::Fenced)
            } else {
                Ok(a.response)
            });
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
