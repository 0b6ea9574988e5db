//! What the API shows of comments, and the errors of comment operations.

use super::text::{LinkSpan, MentionSpan};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use troupe_runtime::CallError;
use uuid::Uuid;

/// Longest comment, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// Who may comment on a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CommentPolicy {
    /// Anyone signed in; comments are held only by the rules (links, watched words, new
    /// accounts).
    #[default]
    Enabled,
    /// Nobody: posting gives 403 `comments_disabled` (existing comments stay readable).
    Disabled,
    /// Every comment but the owner's is held until the owner or a moderator approves it.
    Approval,
}

/// A comment's author, as shown beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommentAuthor {
    /// The user id.
    pub id: Uuid,
    /// The username (normalised: letters, digits, `_`, `-`; never direction overrides or
    /// zero-width characters).
    pub username: String,
}

/// A comment as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommentView {
    /// Stable, opaque, URL-safe.
    pub id: String,
    /// The video.
    pub video_id: Uuid,
    /// The thread: the root comment's id (`id` itself for a top-level comment).
    pub thread_id: String,
    /// The comment this one answers (any comment of the thread); absent on a top-level one.
    pub in_reply_to: Option<String>,
    /// Absent on a tombstone (a deleted comment kept because others answered it).
    pub author: Option<CommentAuthor>,
    /// Plain text, exactly as posted (render it as text); absent on a tombstone.
    pub text: Option<String>,
    /// Links in `text` (UTF-16 offsets), to render with `rel="nofollow ugc"`.
    pub links: Vec<LinkSpan>,
    /// Mentions of known users in `text` (UTF-16 offsets).
    pub mentions: Vec<MentionSpan>,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
    /// When its text last changed, if it did.
    pub edited_at: Option<DateTime<Utc>>,
    /// A tombstone: deleted, kept as a placeholder because it has replies.
    pub deleted: bool,
    /// Pinned by the video's owner (shown first).
    pub pinned: bool,
    /// Held for review: only its author, the video's owner and moderators see it.
    pub held: bool,
    /// Why it is held: `link`, `watched_word`, `approval` or `new_account` (shown to the
    /// video's owner and moderators only).
    pub held_reason: Option<String>,
    /// Visible replies (top-level comments only; 0 on a reply).
    pub replies: u64,
    /// The first replies, oldest first (top-level comments in listings only, up to 3).
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub first_replies: Vec<CommentView>,
}

/// A page of comments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommentPage {
    /// The comments.
    pub items: Vec<CommentView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// The video's exact number of visible comments (replies included; neither held nor
    /// deleted ones).
    pub total: u64,
}

/// Why a comment operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CommentError {
    /// Empty or too long text.
    #[error("{0}")]
    Invalid(String),
    /// The video's policy is `disabled`.
    #[error("comments are disabled on this video")]
    Disabled,
    /// No such comment (or one the caller may not see).
    #[error("no such comment")]
    NotFound,
    /// The comment answered belongs to another video.
    #[error("the comment answered belongs to another video")]
    OtherVideo,
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The same text by the same author within the duplicate window.
    #[error("the same comment was posted moments ago")]
    Duplicate,
    /// A cursor this listing did not make.
    #[error("not a cursor of this listing")]
    BadCursor,
    /// The state store failed.
    #[error("state store error: {0}")]
    Store(String),
    /// An actor did not answer.
    #[error("{0}")]
    Unavailable(CallError),
}

impl From<CallError> for CommentError {
    fn from(e: CallError) -> Self {
        CommentError::Unavailable(e)
    }
}

/// Checks a comment's text: 1 to [`MAX_TEXT_CHARS`] characters, not only whitespace.
pub fn check_text(text: &str) -> Result<(), CommentError> {
    if text.trim().is_empty() {
        return Err(CommentError::Invalid("text must not be empty".into()));
    }
    let n = text.chars().count();
    if n > MAX_TEXT_CHARS {
        return Err(CommentError::Invalid(format!(
            "text is {n} characters; at most {MAX_TEXT_CHARS}"
        )));
    }
    Ok(())
}
