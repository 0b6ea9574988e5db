//! What an actor kind implements ([`Entity`]) and the ractor actor that hosts it ([`EntityHost`]).

use crate::codec;
use crate::store::{Etag, Precondition, StateStore, StoreError};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;
use std::sync::Arc;

/// One kind of virtual actor: its name, its durable state, its messages and its handler.
///
/// The runtime does the rest: activation on the first message (state loaded from the store),
/// passivation when idle, supervision, and routing.
pub trait Entity: Sized + Send + Sync + 'static {
    /// The kind name, used in [`crate::ActorId`] and as the storage prefix. No `/`.
    const KIND: &'static str;
    /// The schema byte written in front of this kind's stored state (see [`crate::codec`]).
    const SCHEMA: u8;
    /// The durable state. `None` in the context means "this entity does not exist yet".
    type State: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// The messages the entity handles. Queries carry an `RpcReplyPort`.
    type Msg: Send + 'static;
    /// Context shared by every activation of the kind (configuration, other directories).
    type Args: Clone + Send + Sync + 'static;

    /// Handles one message. Expected failures go back through the message's reply port; an
    /// `Err` here means the activation is broken: it stops and the next message restarts it
    /// from its last durable state.
    fn handle(
        ctx: &mut Ctx<Self>,
        msg: Self::Msg,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send;
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
    poisoned: Option<String>,
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

    /// Durably replaces the state with `new`. On `Ok` the change survives a crash; on `Err`
    /// the state is unchanged and the activation stops after this message (a conflict means
    /// another activation has written: this one is stale and must not write again).
    pub async fn save(&mut self, new: E::State) -> Result<(), StoreError> {
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
                Ok(())
            }
            Err(e) => {
                self.poisoned = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Durably deletes the entity's state.
    pub async fn remove(&mut self) -> Result<(), StoreError> {
        let condition = match &self.etag {
            Some(e) => Precondition::Matches(e.clone()),
            None => return Ok(()),
        };
        match self.store.delete(&self.storage_key, condition).await {
            Ok(()) => {
                self.etag = None;
                self.state = None;
                Ok(())
            }
            Err(e) => {
                self.poisoned = Some(e.to_string());
                Err(e)
            }
        }
    }
}

/// The message type of a hosted entity: the entity's own message, wrapped so that the runtime
/// can implement `ractor::Message` for it once, for every kind.
pub struct Envelope<M>(pub M);

impl<M: Send + 'static> ractor::Message for Envelope<M> {}

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
    type Msg = Envelope<E::Msg>;
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
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        Envelope(msg): Self::Msg,
        ctx: &mut Ctx<E>,
    ) -> Result<(), ActorProcessingErr> {
        E::handle(ctx, msg).await?;
        if let Some(reason) = ctx.poisoned.take() {
            tracing::warn!(kind = E::KIND, key = %ctx.key, %reason, "stopping activation after a failed write");
            myself.stop(Some(reason));
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        ctx: &mut Ctx<E>,
    ) -> Result<(), ActorProcessingErr> {
        (ctx.on_exit)(myself.get_id());
        Ok(())
    }
}
