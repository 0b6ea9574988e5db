//! The actor kind `heldqueue` (one entity, key `all`): the comments held for review, for the
//! moderation queue. The comments actor says when one is held and when it is resolved; the
//! queue is an index, and its lister drops entries whose comment is no longer held.

use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use troupe_runtime::{Ctx, Entity};
use uuid::Uuid;

/// The actor kind `heldqueue`.
pub struct HeldQueueActor;

/// The key of its only entity.
pub const KEY: &str = "all";

/// A comment held for review, as the moderation queue shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldComment {
    /// The video.
    pub video_id: Uuid,
    /// The comment.
    pub comment_id: String,
    /// The video's channel.
    pub channel_id: Uuid,
    /// The comment's author.
    pub author_id: Uuid,
    /// The author's username.
    pub author: String,
    /// The video's title.
    pub video_title: String,
    /// The start of the comment's text.
    pub excerpt: String,
    /// Why it is held: `link`, `watched_word`, `approval`, `new_account`.
    pub reason: String,
    /// When it was held.
    pub at: DateTime<Utc>,
}

/// The durable queue, by `<video id>/<comment id>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HeldState {
    /// The held comments.
    pub items: BTreeMap<String, HeldComment>,
}

/// Requests. Each is idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum HeldRequest {
    /// Adds (or replaces) a held comment.
    Add(HeldComment),
    /// Removes one.
    Remove(Uuid, String),
    /// Every held comment, oldest first.
    List,
}

/// Answers.
#[derive(Debug, Serialize, Deserialize)]
pub enum HeldResponse {
    /// To `Add` and `Remove`.
    Done,
    /// To `List`.
    Items(Vec<HeldComment>),
}

/// The queue key of a comment.
pub fn key(video: Uuid, comment: &str) -> String {
    format!("{video}/{comment}")
}

impl Entity for HeldQueueActor {
    const KIND: &'static str = "heldqueue";
    const SCHEMA: u8 = 1;
    type State = HeldState;
    type Request = HeldRequest;
    type Response = HeldResponse;
    type Args = ();

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: HeldRequest,
    ) -> Result<HeldResponse, ActorProcessingErr> {
        let mut s = ctx.state().cloned().unwrap_or_default();
        Ok(match req {
            HeldRequest::Add(h) => {
                let k = key(h.video_id, &h.comment_id);
                if s.items.get(&k) != Some(&h) {
                    s.items.insert(k, h);
                    ctx.stage(s);
                }
                HeldResponse::Done
            }
            HeldRequest::Remove(video, comment) => {
                if s.items.remove(&key(video, &comment)).is_some() {
                    ctx.stage(s);
                }
                HeldResponse::Done
            }
            HeldRequest::List => {
                let mut items: Vec<HeldComment> = s.items.into_values().collect();
                items.sort_by_key(|h| h.at);
                HeldResponse::Items(items)
            }
        })
    }
}
