//! Comments: one actor per video's comments (threads kept in page parts), their live
//! announcements, and the [`Comments`] service the HTTP layer calls.
//!
//! ```text
//!  Comments::post ──▶ comments/<video> Post ──▶ cmtpage/<video>.<n> (one page written)
//!                                          └──▶ after durable: CommentHub (this node's streams)
//!  other nodes' streams ──▶ comments/<video> Changes (polled while they have subscribers)
//! ```
//!
//! Who may do what (owner, moderator, author) and what is held for review is decided by the
//! caller, which knows the video, the channel and the accounts; the actor keeps the comments,
//! their order and counts, and enforces what only it can see: the policy `disabled`, replies
//! to comments of its own video, authorship for edits, and duplicates.

pub mod hub;
pub mod rules;
pub mod text;
pub mod thread;
pub mod values;

pub use hub::{CommentHub, LiveComment, LiveEvent};
pub use rules::{Ban, RulesActor, RulesRequest, RulesResponse, RulesState, WordList};
pub use thread::{
    Changed, CommentSort, CommentViewer, CommentsActor, CommentsRequest, CommentsResponse,
    CommentsSnapshot, NewComment,
};
pub use values::{
    check_text, CommentAuthor, CommentError, CommentPage, CommentPolicy, CommentView,
    MAX_TEXT_CHARS,
};

use std::time::Duration;
use thread::CommentsArgs;
use troupe_runtime::{CallError, Directory, System};
use uuid::Uuid;

/// A new comment's id: the video id's last 8 hex digits (random in v4 and v7 ids), then a
/// time-ordered unique part. The
/// prefix tells a reply to another video's comment (422) from one to a comment that does not
/// exist (404) without asking anyone.
pub fn new_comment_id(video: Uuid) -> String {
    format!("{}{}", video_tag(video), Uuid::now_v7().simple())
}

/// Whether a comment id was made for `video` (see [`new_comment_id`]).
pub fn id_of_video(id: &str, video: Uuid) -> bool {
    id.len() == 40 && id.starts_with(&video_tag(video))
}

fn video_tag(video: Uuid) -> String {
    let s = video.simple().to_string();
    s[s.len() - 8..].to_string()
}

/// Comments, bans, watched words and mutes. Cheap to clone.
#[derive(Clone)]
pub struct Comments {
    threads: Directory<CommentsActor>,
    rules: Directory<RulesActor>,
    hub: CommentHub,
}

fn unexpected(r: impl std::fmt::Debug) -> CommentError {
    CommentError::Store(format!("unexpected answer: {r:?}"))
}

impl Comments {
    /// Starts the kinds on this node; live streams on other nodes' videos poll every `poll`.
    pub async fn start(system: &System, poll: Duration) -> Result<Self, CallError> {
        let hub = CommentHub::new(poll);
        let threads =
            Directory::<CommentsActor>::start(system, CommentsArgs { hub: hub.clone() }).await?;
        let rules = Directory::<RulesActor>::start(system, ()).await?;
        let dir = threads.clone();
        hub.set_fetch(std::sync::Arc::new(move |video, epoch, since| {
            let dir = dir.clone();
            Box::pin(async move {
                match dir
                    .call(
                        &video.to_string(),
                        CommentsRequest::Changes { epoch, since },
                    )
                    .await
                {
                    Ok(CommentsResponse::Changes {
                        epoch,
                        version,
                        items,
                    }) => Some((epoch, version, items)),
                    _ => None,
                }
            })
        }));
        Ok(Self {
            threads,
            rules,
            hub,
        })
    }

    /// This node's live comments.
    pub fn hub(&self) -> &CommentHub {
        &self.hub
    }

    async fn call(
        &self,
        video: Uuid,
        req: CommentsRequest,
    ) -> Result<CommentsResponse, CommentError> {
        Ok(self.threads.call(&video.to_string(), req).await?)
    }

    async fn change(&self, video: Uuid, req: CommentsRequest) -> Result<Changed, CommentError> {
        match self.call(video, req).await? {
            CommentsResponse::Comment(r) => r.map(|b| *b),
            other => Err(unexpected(other)),
        }
    }

    /// Posts a comment.
    pub async fn post(&self, video: Uuid, new: NewComment) -> Result<Changed, CommentError> {
        self.change(video, CommentsRequest::Post(new)).await
    }

    /// Sends a change request ([`CommentsRequest::Edit`], `Delete`, `Pin`, `Approve`,
    /// `Reject`).
    pub async fn apply(&self, video: Uuid, req: CommentsRequest) -> Result<Changed, CommentError> {
        self.change(video, req).await
    }

    /// One comment as a moderator sees it (`None`: no such comment, or it is gone).
    pub async fn get(
        &self,
        video: Uuid,
        comment: &str,
    ) -> Result<Option<CommentView>, CommentError> {
        match self
            .change(video, CommentsRequest::Get(comment.to_string()))
            .await
        {
            Ok(c) => Ok(Some(c.view)),
            Err(CommentError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes a comment: by its author, or by the video's owner or a moderator
    /// (`as_moderator`). The caller records a moderator's deletion in the audit log, with
    /// `reason`.
    pub async fn delete(
        &self,
        video: Uuid,
        comment: &str,
        by: Uuid,
        as_moderator: bool,
        _reason: Option<String>,
    ) -> Result<Changed, CommentError> {
        self.change(
            video,
            CommentsRequest::Delete {
                id: comment.to_string(),
                by,
                staff: as_moderator,
            },
        )
        .await
    }

    /// A page of top-level comments, or of a thread's replies (`replies_of`).
    pub async fn page(
        &self,
        video: Uuid,
        viewer: CommentViewer,
        sort: CommentSort,
        replies_of: Option<String>,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<CommentPage, CommentError> {
        let req = match replies_of {
            Some(id) => CommentsRequest::Replies {
                viewer,
                id,
                cursor,
                limit,
            },
            None => CommentsRequest::List {
                viewer,
                sort,
                cursor,
                limit,
            },
        };
        match self.call(video, req).await? {
            CommentsResponse::Page(p) => p,
            other => Err(unexpected(other)),
        }
    }

    /// The visible count and the video's own policy; from this node's snapshot when the
    /// actor is active here.
    pub async fn summary(&self, video: Uuid) -> Result<(u64, Option<CommentPolicy>), CommentError> {
        if let Some(s) = self
            .threads
            .snapshot::<CommentsSnapshot>(&video.to_string())
        {
            if let Some(total) = s.total {
                return Ok((total, s.policy));
            }
        }
        match self.call(video, CommentsRequest::Summary).await? {
            CommentsResponse::Summary { total, policy } => Ok((total, policy)),
            other => Err(unexpected(other)),
        }
    }

    /// Sets the video's own policy (`None`: its channel's default).
    pub async fn set_policy(
        &self,
        video: Uuid,
        policy: Option<CommentPolicy>,
    ) -> Result<(), CommentError> {
        match self.call(video, CommentsRequest::SetPolicy(policy)).await? {
            CommentsResponse::Summary { .. } => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Forgets a deleted video's comments.
    pub async fn forget(&self, video: Uuid) -> Result<(), CommentError> {
        self.call(video, CommentsRequest::Forget).await.map(|_| ())
    }

    /// The rules of `key` (see [`Comments::rules`]); from this node's snapshot when the actor
    /// is active here.
    pub async fn rules_of(&self, key: &str) -> Result<RulesState, CommentError> {
        if let Some(s) = self.rules.snapshot::<RulesState>(key) {
            return Ok((*s).clone());
        }
        Ok(self.rules(key, RulesRequest::Get).await?.0)
    }

    /// Asks the rules actor `key` (`channel:<id>`, `instance`, `mutes:<user>`).
    pub async fn rules(&self, key: &str, req: RulesRequest) -> Result<RulesResponse, CommentError> {
        Ok(self.rules.call(key, req).await?)
    }
}
