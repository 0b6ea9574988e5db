//! The hook index (`hooks/<user id>` or `hooks/instance`): which endpoints an owner has, with
//! their event filters and states, so that producing an event costs one read per owner (a
//! snapshot on this node, else one call), not one per endpoint.
//!
//! The endpoint actors are the truth; an entry is a copy written after its endpoint changed.
//! A crash between the two leaves the entry behind until the endpoint's next change (the
//! transport checks the endpoint itself at each attempt, so a stale entry never sends to a
//! disabled or deleted endpoint).

use super::values::{EndpointState, EventType};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use troupe_runtime::{Ctx, Entity};
use uuid::Uuid;

/// The actor kind `hooks`, keyed by the owner's user id, or `instance`.
pub struct HookIndex;

/// One endpoint, as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The endpoint.
    pub id: Uuid,
    /// Its events.
    pub events: Vec<EventType>,
    /// Its state.
    pub state: EndpointState,
}

/// The durable state: the owner's endpoints, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IndexState {
    /// Oldest first.
    pub entries: Vec<IndexEntry>,
}

/// Requests to the index. All idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum IndexRequest {
    /// Adds or replaces an entry, unless the owner has `max` others already; answers whether
    /// it was taken.
    Put {
        /// The entry.
        entry: IndexEntry,
        /// Most endpoints per owner.
        max: usize,
    },
    /// Removes an entry.
    Remove(Uuid),
    /// The entries.
    List,
}

/// Answers of the index.
#[derive(Debug, Serialize, Deserialize)]
pub enum IndexResponse {
    /// To `Put` (false: over the limit) and `Remove` (whether it was there).
    Done(bool),
    /// To `List`.
    List(Vec<IndexEntry>),
}

impl Entity for HookIndex {
    const KIND: &'static str = "hooks";
    const SCHEMA: u8 = 1;
    type State = IndexState;
    type Request = IndexRequest;
    type Response = IndexResponse;
    type Args = ();

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: IndexRequest,
    ) -> Result<IndexResponse, ActorProcessingErr> {
        Ok(match req {
            IndexRequest::List => {
                IndexResponse::List(ctx.state().map(|s| s.entries.clone()).unwrap_or_default())
            }
            IndexRequest::Put { entry, max } => {
                let mut s = ctx.state_mut().take().unwrap_or_default();
                let full = s.entries.len() >= max;
                let ok = match s.entries.iter_mut().find(|e| e.id == entry.id) {
                    Some(e) if *e == entry => {
                        *ctx.state_mut() = Some(s);
                        return Ok(IndexResponse::Done(true));
                    }
                    Some(e) => {
                        *e = entry;
                        true
                    }
                    None if full => false,
                    None => {
                        s.entries.push(entry);
                        true
                    }
                };
                if ok {
                    ctx.stage(s);
                } else {
                    *ctx.state_mut() = Some(s);
                }
                IndexResponse::Done(ok)
            }
            IndexRequest::Remove(id) => {
                let mut s = ctx.state_mut().take().unwrap_or_default();
                let before = s.entries.len();
                s.entries.retain(|e| e.id != id);
                let changed = s.entries.len() != before;
                if changed {
                    ctx.stage(s);
                } else {
                    *ctx.state_mut() = Some(s);
                }
                IndexResponse::Done(changed)
            }
        })
    }

    /// The entries (a `Vec<IndexEntry>`), so that producing an event reads them without a
    /// call when the index is active here.
    fn snapshot(state: Option<&IndexState>) -> Option<troupe_runtime::Snapshot> {
        let entries: Vec<IndexEntry> = state.map(|s| s.entries.clone()).unwrap_or_default();
        Some(Arc::new(entries))
    }
}
