//! The comments actor: every comment of one video, in pages stored as parts.
//!
//! ```text
//!  comments/<video>            (policy, how many pages)
//!    └── cmtpage/<video>.<n>   comments with sequence numbers n*PAGE .. (n+1)*PAGE, by number
//! ```
//!
//! A new comment goes into the newest page and writes that page alone (with the small state
//! beside it), so a video with 100,000 comments rewrites at most [`PAGE`] comments per change,
//! never all of them. An edit, a deletion, a pin or an approval rewrites the page of the
//! comment it touches. The pages are the truth: an activation reads all of them once (the
//! pages the state names, then on until one is missing, in case a page was written and the
//! state beside it was not) and builds in memory what listing needs: the order by time and
//! by replies, each thread's replies, the visible count and the pin. Listing then costs no
//! store read. Every request is idempotent: a post carries its comment's id (a retry finds
//! it), and a second delete, approval or pin changes nothing.

use super::hub::{CommentHub, LiveComment};
use super::text::{LinkSpan, MentionSpan};
use super::values::{CommentAuthor, CommentError, CommentPage, CommentPolicy, CommentView};
use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use troupe_runtime::{Ctx, Entity, Part, Snapshot};
use uuid::Uuid;

/// Comments per page part. Part of the storage layout.
pub const PAGE: u64 = 64;
/// How many recent changes an activation keeps for other nodes' live streams.
const LOG: usize = 1024;
/// Replies shown under each top-level comment in a listing.
pub const FIRST_REPLIES: usize = 3;

/// The part key of one page.
pub fn page_key(video: Uuid, page: u64) -> String {
    format!("{video}.{page}")
}

/// One comment as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    /// The comment id.
    pub id: String,
    /// Its sequence number in the video (dense, from 0): its page and its order.
    pub seq: u64,
    /// The thread's root, by sequence number (`None` for a top-level comment).
    pub root: Option<u64>,
    /// The comment it answers.
    pub in_reply_to: Option<String>,
    /// The author.
    pub author: Uuid,
    /// The author's username.
    pub author_name: String,
    /// The text (empty once deleted).
    pub text: String,
    /// Links in the text.
    pub links: Vec<LinkSpan>,
    /// Mentions in the text.
    pub mentions: Vec<MentionSpan>,
    /// Posted.
    pub created_at: DateTime<Utc>,
    /// Last edited.
    pub edited_at: Option<DateTime<Utc>>,
    /// Deleted, kept as a tombstone (it had replies).
    pub deleted: bool,
    /// Deleted (or rejected) without replies: shown nowhere.
    pub gone: bool,
    /// Pinned since.
    pub pinned_at: Option<DateTime<Utc>>,
    /// Held for review, and why.
    pub held: Option<String>,
}

impl Stored {
    /// Counted and shown to everyone.
    fn public(&self) -> bool {
        !self.gone && !self.deleted && self.held.is_none()
    }
}

/// One page of a video's comments, sorted by sequence number.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CommentPart {
    /// The comments.
    pub comments: Vec<Stored>,
}

impl Part for CommentPart {
    const KIND: &'static str = "cmtpage";
    const SCHEMA: u8 = 1;
}

/// The durable state of a video's comments: small, whatever their number.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CommentsState {
    /// The video's own policy (`None`: its channel's default).
    pub policy: Option<CommentPolicy>,
    /// How many pages exist (at least).
    pub pages: u64,
    /// What listing needs, in memory once read.
    #[serde(skip)]
    mem: Option<Box<Index>>,
}

/// The in-memory index an activation builds from the pages.
#[derive(Debug, Default)]
struct Index {
    pages: Vec<CommentPart>,
    ids: HashMap<String, u64>,
    /// Top-level comments shown in listings (not gone), by sequence number.
    top: BTreeSet<u64>,
    /// The same, by (visible replies, sequence number).
    by_replies: BTreeSet<(u64, u64)>,
    /// Each thread's replies (not gone), by root, ascending.
    replies: HashMap<u64, Vec<u64>>,
    /// Each thread's visible replies.
    reply_counts: HashMap<u64, u64>,
    /// Visible comments.
    visible: u64,
    pinned: Option<u64>,
    next_seq: u64,
    /// Recent changes, for other nodes' live streams.
    log: VecDeque<LiveComment>,
    version: u64,
    epoch: u64,
    /// Per author: (posted, Unix ms; hash of the text), within the duplicate window.
    recent: HashMap<Uuid, VecDeque<(i64, u64)>>,
}

fn text_hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.trim().hash(&mut h);
    h.finish()
}

impl Index {
    fn get(&self, seq: u64) -> Option<&Stored> {
        let page = self.pages.get((seq / PAGE) as usize)?;
        let i = page.comments.binary_search_by_key(&seq, |c| c.seq).ok()?;
        page.comments.get(i)
    }

    fn get_mut(&mut self, seq: u64) -> Option<&mut Stored> {
        let page = self.pages.get_mut((seq / PAGE) as usize)?;
        let i = page.comments.binary_search_by_key(&seq, |c| c.seq).ok()?;
        page.comments.get_mut(i)
    }

    fn by_id(&self, id: &str) -> Option<&Stored> {
        self.ids.get(id).and_then(|s| self.get(*s))
    }

    /// Adds a loaded or new comment to the index.
    fn admit(&mut self, c: &Stored) {
        self.ids.insert(c.id.clone(), c.seq);
        self.next_seq = self.next_seq.max(c.seq + 1);
        if c.pinned_at.is_some() && !c.gone {
            // Two pins after a crash between unpinning one and pinning another: the newer.
            let newer = match self.pinned.and_then(|p| self.get(p)) {
                Some(p) => p.pinned_at < c.pinned_at,
                None => true,
            };
            if newer {
                self.pinned = Some(c.seq);
            }
        }
        if c.gone {
            return;
        }
        match c.root {
            None => {
                self.top.insert(c.seq);
                let n = self.reply_counts.get(&c.seq).copied().unwrap_or(0);
                self.by_replies.insert((n, c.seq));
            }
            Some(root) => {
                let list = self.replies.entry(root).or_default();
                match list.binary_search(&c.seq) {
                    Ok(_) => {}
                    Err(at) => list.insert(at, c.seq),
                }
            }
        }
        if c.public() {
            self.count(c, 1);
        }
    }

    /// Adds `delta` (±1) to the visible counts a comment is part of.
    fn count(&mut self, c: &Stored, delta: i64) {
        self.visible = self.visible.saturating_add_signed(delta);
        if let Some(root) = c.root {
            let n = self.reply_counts.entry(root).or_default();
            let before = *n;
            *n = n.saturating_add_signed(delta);
            let after = *n;
            if self.top.contains(&root) {
                self.by_replies.remove(&(before, root));
                self.by_replies.insert((after, root));
            }
        }
    }

    /// Takes a comment out of listings (it is gone).
    fn forget(&mut self, c: &Stored) {
        match c.root {
            None => {
                self.top.remove(&c.seq);
                let n = self.reply_counts.get(&c.seq).copied().unwrap_or(0);
                self.by_replies.remove(&(n, c.seq));
            }
            Some(root) => {
                if let Some(list) = self.replies.get_mut(&root) {
                    list.retain(|s| *s != c.seq);
                }
            }
        }
        if self.pinned == Some(c.seq) {
            self.pinned = None;
        }
    }

    /// Whether a comment has replies that are not gone: a thread's for a root, direct
    /// answers for a reply.
    fn has_replies(&self, c: &Stored) -> bool {
        match c.root {
            None => self.replies.get(&c.seq).is_some_and(|l| !l.is_empty()),
            Some(root) => self.replies.get(&root).is_some_and(|l| {
                l.iter().any(|s| {
                    self.get(*s)
                        .is_some_and(|r| r.in_reply_to.as_deref() == Some(c.id.as_str()))
                })
            }),
        }
    }

    fn thread_id(&self, c: &Stored) -> String {
        match c.root {
            None => c.id.clone(),
            Some(r) => self.get(r).map(|r| r.id.clone()).unwrap_or_default(),
        }
    }

    /// A comment as `staff` (the video's owner, moderators) or anyone else sees it, without
    /// its first replies.
    fn view(&self, video: Uuid, c: &Stored, staff: bool) -> CommentView {
        let hidden = c.deleted || c.gone;
        CommentView {
            id: c.id.clone(),
            video_id: video,
            thread_id: self.thread_id(c),
            in_reply_to: c.in_reply_to.clone(),
            author: (!hidden).then(|| CommentAuthor {
                id: c.author,
                username: c.author_name.clone(),
            }),
            text: (!hidden).then(|| c.text.clone()),
            links: if hidden { Vec::new() } else { c.links.clone() },
            mentions: if hidden {
                Vec::new()
            } else {
                c.mentions.clone()
            },
            created_at: c.created_at,
            edited_at: c.edited_at,
            deleted: hidden,
            pinned: self.pinned == Some(c.seq),
            held: c.held.is_some() && !hidden,
            held_reason: if staff && !hidden {
                c.held.clone()
            } else {
                None
            },
            replies: if c.root.is_none() {
                self.reply_counts.get(&c.seq).copied().unwrap_or(0)
            } else {
                0
            },
            first_replies: Vec::new(),
        }
    }

    fn may_see(&self, c: &Stored, v: &CommentViewer) -> bool {
        if c.gone {
            return false;
        }
        if c.deleted {
            return true;
        }
        let own = v.id == Some(c.author);
        if c.held.is_some() && !(v.staff || own) {
            return false;
        }
        if v.muted.contains(&c.author) && !own {
            return false;
        }
        !(v.hidden_authors.contains(&c.author) && !v.staff && !own)
    }

    /// Records a change for live streams; what to publish once it is durable.
    fn changed(&mut self, video: Uuid, seq: u64) -> LiveComment {
        self.version += 1;
        let c = self.get(seq).expect("a changed comment exists");
        let live = LiveComment::new(
            self.epoch,
            self.version,
            c.author,
            self.view(video, c, true),
        );
        if self.log.len() == LOG {
            self.log.pop_front();
        }
        self.log.push_back(live.clone());
        live
    }
}

/// Who is reading, for what they may see.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CommentViewer {
    /// The reader (`None`: anonymous).
    pub id: Option<Uuid>,
    /// The video's owner or a moderator: sees held comments and why they are held.
    pub staff: bool,
    /// Authors the reader muted: their comments are left out.
    pub muted: Vec<Uuid>,
    /// Authors hidden from everyone but staff (suspended accounts).
    pub hidden_authors: Vec<Uuid>,
}

/// How top-level comments are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CommentSort {
    /// Newest first.
    #[default]
    New,
    /// Most visible replies first, then newest.
    Top,
}

/// A new comment, checked by the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewComment {
    /// Its id, made by the caller (a retry carries the same).
    pub id: String,
    /// The author.
    pub author: Uuid,
    /// The author's username.
    pub author_name: String,
    /// The text.
    pub text: String,
    /// The comment it answers.
    pub in_reply_to: Option<String>,
    /// Links in the text.
    pub links: Vec<LinkSpan>,
    /// Mentions of known users.
    pub mentions: Vec<MentionSpan>,
    /// Held for review, and why (decided by the caller from the policy and the rules).
    pub held: Option<String>,
    /// The channel's default policy, for a video without its own.
    pub channel_policy: CommentPolicy,
    /// When.
    pub at: DateTime<Utc>,
    /// The same text by the same author within this long is refused (ms; 0: never).
    pub duplicate_window_ms: i64,
}

/// Requests to a video's comments. All idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CommentsRequest {
    /// Posts a comment (a retry with the same id answers the comment).
    Post(NewComment),
    /// Changes a comment's text (its author only).
    Edit {
        /// The comment.
        id: String,
        /// Who asks.
        by: Uuid,
        /// The new text.
        text: String,
        /// Links in it.
        links: Vec<LinkSpan>,
        /// Mentions in it.
        mentions: Vec<MentionSpan>,
        /// Held for review from now on, and why (the rules found something in the new text).
        held: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deletes a comment: its author, or `staff` (the video's owner, moderators).
    Delete {
        /// The comment.
        id: String,
        /// Who asks.
        by: Uuid,
        /// The caller is the video's owner or a moderator.
        staff: bool,
    },
    /// Pins a top-level comment (`Some`), or unpins (`None`: whichever is pinned).
    Pin(Option<String>),
    /// Approves a held comment.
    Approve(String),
    /// Rejects a held comment: it is gone.
    Reject(String),
    /// One comment, as staff sees it.
    Get(String),
    /// A page of top-level comments.
    List {
        /// Who reads.
        viewer: CommentViewer,
        /// The order.
        sort: CommentSort,
        /// The previous page's `next_cursor`.
        cursor: Option<String>,
        /// Page size.
        limit: usize,
    },
    /// A page of a thread's replies, oldest first.
    Replies {
        /// Who reads.
        viewer: CommentViewer,
        /// The thread's root comment.
        id: String,
        /// The previous page's `next_cursor`.
        cursor: Option<String>,
        /// Page size.
        limit: usize,
    },
    /// The visible count and the video's own policy.
    Summary,
    /// Sets (or clears: the channel's default) the video's policy.
    SetPolicy(Option<CommentPolicy>),
    /// The changes after `since` of activation `epoch` (`None`: none, only where things
    /// stand), for a live stream on another node.
    Changes {
        /// The activation the caller last heard from.
        epoch: Option<u64>,
        /// The last change it heard of.
        since: u64,
    },
    /// Forgets every comment (the video was deleted).
    Forget,
}

/// What a comment operation changed, for the caller's follow-ups (notifications, the
/// moderation queue, bans).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Changed {
    /// The comment as staff sees it now.
    pub view: CommentView,
    /// Whether this request changed anything (a retry does not).
    pub changed: bool,
    /// The author of the thread's root, and of the comment answered (for notifications).
    pub answered: Vec<Uuid>,
    /// Whether the comment was held before this request.
    pub was_held: bool,
}

/// Answers of the comments actor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CommentsResponse {
    /// To changes and `Get`.
    Comment(Result<Box<Changed>, CommentError>),
    /// To `List` and `Replies`.
    Page(Result<CommentPage, CommentError>),
    /// To `Summary` and `SetPolicy`.
    Summary {
        /// Visible comments.
        total: u64,
        /// The video's own policy.
        policy: Option<CommentPolicy>,
    },
    /// To `Changes`.
    Changes {
        /// The activation.
        epoch: u64,
        /// Its newest change.
        version: u64,
        /// The changes after `since` (all it kept, for another activation's caller).
        items: Vec<LiveComment>,
    },
    /// To `Forget`.
    Forgotten,
}

/// What readers on this node see without a call: the visible count and the policy.
#[derive(Debug, Clone, Copy)]
pub struct CommentsSnapshot {
    /// Visible comments, once an activation has read its pages.
    pub total: Option<u64>,
    /// The video's own policy.
    pub policy: Option<CommentPolicy>,
}

/// Per-kind context of the comments actor.
#[derive(Clone)]
pub struct CommentsArgs {
    /// Where changes are announced on this node.
    pub hub: CommentHub,
}

/// The actor kind `comments`, keyed by the video id.
pub struct CommentsActor;

impl Entity for CommentsActor {
    const KIND: &'static str = "comments";
    const SCHEMA: u8 = 1;
    type State = CommentsState;
    type Request = CommentsRequest;
    type Response = CommentsResponse;
    type Args = CommentsArgs;

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: CommentsRequest,
    ) -> Result<CommentsResponse, ActorProcessingErr> {
        let video: Uuid = ctx.key().parse()?;
        if ctx.state().is_none_or(|s| s.mem.is_none()) {
            load(ctx, video).await?;
        }
        if let CommentsRequest::Forget = req {
            if ctx.state().is_some() {
                ctx.remove().await?;
            }
            return Ok(CommentsResponse::Forgotten);
        }
        let mut state = ctx.state_mut().take().unwrap_or_default();
        let mut mem = state.mem.take().unwrap_or_default();
        let mut touched: Vec<u64> = Vec::new();
        let mut policy_changed = false;
        let answer = handle(
            video,
            &mut state,
            &mut mem,
            req,
            &mut touched,
            &mut policy_changed,
        );
        if touched.is_empty() && !policy_changed {
            state.mem = Some(mem);
            *ctx.state_mut() = Some(state);
            return Ok(answer);
        }
        let mut live = Vec::new();
        touched.dedup();
        for seq in &touched {
            let page = seq / PAGE;
            if let Some(p) = mem.pages.get(page as usize) {
                ctx.stage_part(&page_key(video, page), p);
            }
            live.push(mem.changed(video, *seq));
        }
        state.pages = state.pages.max(mem.pages.len() as u64);
        state.mem = Some(mem);
        // The small state goes with every change: it carries the snapshot (the count).
        ctx.stage(state);
        if !live.is_empty() {
            let hub = ctx.args().hub.clone();
            ctx.after_durable(move || {
                for l in live {
                    hub.publish(video, l);
                }
            });
        }
        Ok(answer)
    }

    fn snapshot(state: Option<&CommentsState>) -> Option<Snapshot> {
        Some(Arc::new(CommentsSnapshot {
            total: match state {
                None => Some(0),
                Some(s) => s.mem.as_ref().map(|m| m.visible),
            },
            policy: state.and_then(|s| s.policy),
        }))
    }
}

/// Reads every page and builds the index.
async fn load(ctx: &mut Ctx<CommentsActor>, video: Uuid) -> Result<(), ActorProcessingErr> {
    let known = ctx.state().map_or(0, |s| s.pages);
    let mut pages: Vec<CommentPart> = Vec::new();
    if ctx.state().is_some() {
        let keys: Vec<String> = (0..known).map(|p| page_key(video, p)).collect();
        pages = ctx
            .load_parts::<CommentPart>(&keys)
            .await?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        // A page written whose state was not (a crash between the two).
        loop {
            let next = pages.len() as u64;
            let more = ctx
                .load_parts::<CommentPart>(&[page_key(video, next)])
                .await?;
            match more.into_iter().next().flatten() {
                Some(p) => pages.push(p),
                None => break,
            }
        }
    }
    let mut mem = Index {
        epoch: rand::random::<u64>() | 1,
        ..Index::default()
    };
    let now = Utc::now().timestamp_millis();
    let all: Vec<Stored> = pages.iter().flat_map(|p| p.comments.clone()).collect();
    mem.pages = pages;
    // Roots before their replies: sequence order guarantees it.
    for c in &all {
        mem.admit(c);
        if !c.gone && now - c.created_at.timestamp_millis() < 3_600_000 {
            mem.recent
                .entry(c.author)
                .or_default()
                .push_back((c.created_at.timestamp_millis(), text_hash(&c.text)));
        }
    }
    if let Some(s) = ctx.state_mut().as_mut() {
        s.mem = Some(Box::new(mem));
    } else if !all.is_empty() {
        // Pages without a state: written before the state's first write (a crash); adopt them.
        let pages = mem.pages.len() as u64;
        ctx.stage(CommentsState {
            policy: None,
            pages,
            mem: Some(Box::new(mem)),
        });
    } else {
        *ctx.state_mut() = Some(CommentsState {
            policy: None,
            pages: 0,
            mem: Some(Box::new(mem)),
        });
        // Nothing to write until the first change.
    }
    Ok(())
}

fn handle(
    video: Uuid,
    state: &mut CommentsState,
    mem: &mut Index,
    req: CommentsRequest,
    touched: &mut Vec<u64>,
    policy_changed: &mut bool,
) -> CommentsResponse {
    use CommentsResponse as R;
    match req {
        CommentsRequest::Post(new) => {
            R::Comment(post(video, state, mem, new, touched).map(Box::new))
        }
        CommentsRequest::Edit {
            id,
            by,
            text,
            links,
            mentions,
            held,
            at,
        } => R::Comment(
            (|| {
                let seq = *mem.ids.get(&id).ok_or(CommentError::NotFound)?;
                let c = mem.get(seq).ok_or(CommentError::NotFound)?;
                if c.gone || c.deleted {
                    return Err(CommentError::NotFound);
                }
                if c.author != by {
                    return Err(CommentError::Forbidden(
                        "only its author may edit a comment".into(),
                    ));
                }
                let was_held = c.held.is_some();
                if c.text == text {
                    return Ok(Changed {
                        view: mem.view(video, c, true),
                        changed: false,
                        answered: Vec::new(),
                        was_held,
                    });
                }
                let before = c.public();
                let c = mem.get_mut(seq).expect("found above");
                c.text = text;
                c.links = links;
                c.mentions = mentions;
                c.edited_at = Some(at);
                if c.held.is_none() {
                    c.held = held;
                }
                let c = c.clone();
                if before && !c.public() {
                    mem.count(&c, -1);
                }
                touched.push(seq);
                Ok(Changed {
                    view: mem.view(video, &c, true),
                    changed: true,
                    answered: Vec::new(),
                    was_held,
                })
            })()
            .map(Box::new),
        ),
        CommentsRequest::Delete { id, by, staff } => R::Comment(
            (|| {
                let seq = *mem.ids.get(&id).ok_or(CommentError::NotFound)?;
                let c = mem.get(seq).ok_or(CommentError::NotFound)?.clone();
                if c.author != by && !staff {
                    return Err(CommentError::Forbidden(
                        "only its author, the video's owner or a moderator may delete a comment"
                            .into(),
                    ));
                }
                let was_held = c.held.is_some();
                if c.gone || c.deleted {
                    return Ok(Changed {
                        view: mem.view(video, &c, true),
                        changed: false,
                        answered: Vec::new(),
                        was_held,
                    });
                }
                if c.public() {
                    mem.count(&c, -1);
                }
                let keep = mem.has_replies(&c);
                if !keep {
                    mem.forget(&c);
                } else if mem.pinned == Some(seq) {
                    mem.pinned = None;
                }
                let d = mem.get_mut(seq).expect("found above");
                d.text = String::new();
                d.links.clear();
                d.mentions.clear();
                d.pinned_at = None;
                d.held = None;
                if keep {
                    d.deleted = true;
                } else {
                    d.gone = true;
                }
                let d = d.clone();
                touched.push(seq);
                Ok(Changed {
                    view: mem.view(video, &d, true),
                    changed: true,
                    answered: Vec::new(),
                    was_held,
                })
            })()
            .map(Box::new),
        ),
        CommentsRequest::Pin(id) => R::Comment(
            (|| {
                let target = match &id {
                    Some(id) => {
                        let seq = *mem.ids.get(id).ok_or(CommentError::NotFound)?;
                        let c = mem.get(seq).ok_or(CommentError::NotFound)?;
                        if !c.public() {
                            return Err(CommentError::NotFound);
                        }
                        if c.root.is_some() {
                            return Err(CommentError::Invalid(
                                "only a top-level comment can be pinned".into(),
                            ));
                        }
                        Some(seq)
                    }
                    None => None,
                };
                let current = mem.pinned;
                if current == target {
                    let seq = target.or(current);
                    return match seq.and_then(|s| mem.get(s)) {
                        Some(c) => Ok(Changed {
                            view: mem.view(video, c, true),
                            changed: false,
                            answered: Vec::new(),
                            was_held: false,
                        }),
                        None => Err(CommentError::NotFound),
                    };
                }
                if let Some(old) = current {
                    if let Some(c) = mem.get_mut(old) {
                        c.pinned_at = None;
                    }
                    mem.pinned = None;
                    touched.push(old);
                }
                if let Some(seq) = target {
                    if let Some(c) = mem.get_mut(seq) {
                        c.pinned_at = Some(Utc::now());
                    }
                    mem.pinned = Some(seq);
                    touched.push(seq);
                }
                let shown = target.or(current).expect("one of them is set");
                let c = mem.get(shown).expect("exists");
                Ok(Changed {
                    view: mem.view(video, c, true),
                    changed: true,
                    answered: Vec::new(),
                    was_held: false,
                })
            })()
            .map(Box::new),
        ),
        CommentsRequest::Approve(id) => R::Comment(
            (|| {
                let seq = *mem.ids.get(&id).ok_or(CommentError::NotFound)?;
                let c = mem.get(seq).ok_or(CommentError::NotFound)?;
                if c.gone {
                    return Err(CommentError::NotFound);
                }
                let answered = answered(mem, c);
                if c.held.is_none() {
                    return Ok(Changed {
                        view: mem.view(video, c, true),
                        changed: false,
                        answered,
                        was_held: false,
                    });
                }
                let c = mem.get_mut(seq).expect("found above");
                c.held = None;
                let c = c.clone();
                if c.public() {
                    mem.count(&c, 1);
                }
                touched.push(seq);
                Ok(Changed {
                    view: mem.view(video, &c, true),
                    changed: true,
                    answered,
                    was_held: true,
                })
            })()
            .map(Box::new),
        ),
        CommentsRequest::Reject(id) => R::Comment(
            (|| {
                let seq = *mem.ids.get(&id).ok_or(CommentError::NotFound)?;
                let c = mem.get(seq).ok_or(CommentError::NotFound)?.clone();
                if c.gone {
                    // A retry of the rejection that made it gone.
                    return Ok(Changed {
                        view: mem.view(video, &c, true),
                        changed: false,
                        answered: Vec::new(),
                        was_held: false,
                    });
                }
                if c.held.is_none() {
                    return Err(CommentError::Invalid(
                        "the comment is not held for review; delete it instead".into(),
                    ));
                }
                mem.forget(&c);
                let d = mem.get_mut(seq).expect("found above");
                d.gone = true;
                d.text = String::new();
                d.links.clear();
                d.mentions.clear();
                let view = {
                    let mut v = mem.view(video, &c, true);
                    v.deleted = true;
                    v.author = None;
                    v.text = None;
                    v
                };
                touched.push(seq);
                Ok(Changed {
                    view,
                    changed: true,
                    answered: Vec::new(),
                    was_held: true,
                })
            })()
            .map(Box::new),
        ),
        CommentsRequest::Get(id) => R::Comment(match mem.by_id(&id) {
            Some(c) if !c.gone => Ok(Box::new(Changed {
                view: mem.view(video, c, true),
                changed: false,
                answered: answered(mem, c),
                was_held: c.held.is_some(),
            })),
            _ => Err(CommentError::NotFound),
        }),
        CommentsRequest::List {
            viewer,
            sort,
            cursor,
            limit,
        } => R::Page(list(video, mem, &viewer, sort, cursor.as_deref(), limit)),
        CommentsRequest::Replies {
            viewer,
            id,
            cursor,
            limit,
        } => R::Page(replies(video, mem, &viewer, &id, cursor.as_deref(), limit)),
        CommentsRequest::Summary => R::Summary {
            total: mem.visible,
            policy: state.policy,
        },
        CommentsRequest::SetPolicy(p) => {
            if state.policy != p {
                state.policy = p;
                *policy_changed = true;
            }
            R::Summary {
                total: mem.visible,
                policy: state.policy,
            }
        }
        CommentsRequest::Changes { epoch, since } => R::Changes {
            epoch: mem.epoch,
            version: mem.version,
            items: match epoch {
                None => Vec::new(),
                Some(e) if e == mem.epoch => mem
                    .log
                    .iter()
                    .filter(|l| l.version > since)
                    .cloned()
                    .collect(),
                Some(_) => mem.log.iter().cloned().collect(),
            },
        },
        CommentsRequest::Forget => R::Forgotten,
    }
}

/// The authors a comment answers: its thread root's and its direct parent's.
fn answered(mem: &Index, c: &Stored) -> Vec<Uuid> {
    let mut out = Vec::new();
    if let Some(parent) = c.in_reply_to.as_deref().and_then(|p| mem.by_id(p)) {
        if !parent.gone && !parent.deleted {
            out.push(parent.author);
        }
    }
    if let Some(root) = c.root.and_then(|r| mem.get(r)) {
        if !root.gone && !root.deleted && !out.contains(&root.author) {
            out.push(root.author);
        }
    }
    out
}

fn post(
    video: Uuid,
    state: &CommentsState,
    mem: &mut Index,
    new: NewComment,
    touched: &mut Vec<u64>,
) -> Result<Changed, CommentError> {
    if let Some(c) = mem.by_id(&new.id) {
        // A retry of this very post.
        return Ok(Changed {
            view: mem.view(video, c, true),
            changed: false,
            answered: answered(mem, c),
            was_held: c.held.is_some(),
        });
    }
    if state.policy.unwrap_or(new.channel_policy) == CommentPolicy::Disabled {
        return Err(CommentError::Disabled);
    }
    let root = match &new.in_reply_to {
        None => None,
        Some(parent) => {
            let p = mem.by_id(parent).ok_or(CommentError::NotFound)?;
            let visible_to_poster = p.held.is_none() || p.author == new.author;
            if p.gone || p.deleted || !visible_to_poster {
                return Err(CommentError::NotFound);
            }
            Some(p.root.unwrap_or(p.seq))
        }
    };
    let at = new.at.timestamp_millis();
    let hash = text_hash(&new.text);
    let recent = mem.recent.entry(new.author).or_default();
    while recent
        .front()
        .is_some_and(|(t, _)| at - *t >= new.duplicate_window_ms.max(0) && at - *t >= 0)
    {
        recent.pop_front();
    }
    if new.duplicate_window_ms > 0 && recent.iter().any(|(_, h)| *h == hash) {
        return Err(CommentError::Duplicate);
    }
    recent.push_back((at, hash));
    let seq = mem.next_seq;
    let c = Stored {
        id: new.id,
        seq,
        root,
        in_reply_to: new.in_reply_to,
        author: new.author,
        author_name: new.author_name,
        text: new.text,
        links: new.links,
        mentions: new.mentions,
        created_at: new.at,
        edited_at: None,
        deleted: false,
        gone: false,
        pinned_at: None,
        held: new.held,
    };
    let page = (seq / PAGE) as usize;
    if mem.pages.len() <= page {
        mem.pages.resize_with(page + 1, CommentPart::default);
    }
    mem.pages[page].comments.push(c.clone());
    mem.admit(&c);
    touched.push(seq);
    Ok(Changed {
        view: mem.view(video, &c, true),
        changed: true,
        answered: answered(mem, &c),
        was_held: false,
    })
}

fn bad_cursor() -> CommentError {
    CommentError::BadCursor
}

fn list(
    video: Uuid,
    mem: &Index,
    viewer: &CommentViewer,
    sort: CommentSort,
    cursor: Option<&str>,
    limit: usize,
) -> Result<CommentPage, CommentError> {
    let mut items = Vec::new();
    let pinned = mem
        .pinned
        .and_then(|p| mem.get(p))
        .filter(|c| mem.may_see(c, viewer));
    if cursor.is_none() {
        if let Some(p) = pinned {
            items.push(with_replies(video, mem, viewer, p));
        }
    }
    let order: Box<dyn Iterator<Item = (u64, u64)> + '_> = match (sort, cursor) {
        (CommentSort::New, None) => Box::new(mem.top.iter().rev().map(|s| (0, *s))),
        (CommentSort::New, Some(c)) => {
            let seq: u64 = c
                .strip_prefix('n')
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad_cursor)?;
            Box::new(mem.top.range(..seq).rev().map(|s| (0, *s)))
        }
        (CommentSort::Top, None) => Box::new(mem.by_replies.iter().rev().copied()),
        (CommentSort::Top, Some(c)) => {
            let (n, seq) = c
                .strip_prefix('t')
                .and_then(|s| s.split_once('.'))
                .and_then(|(n, s)| Some((n.parse::<u64>().ok()?, s.parse::<u64>().ok()?)))
                .ok_or_else(bad_cursor)?;
            Box::new(mem.by_replies.range(..(n, seq)).rev().copied())
        }
    };
    let mut last = None;
    let mut more = false;
    for (n, seq) in order {
        if Some(seq) == mem.pinned {
            continue;
        }
        let Some(c) = mem.get(seq) else { continue };
        if !mem.may_see(c, viewer) {
            continue;
        }
        // A tombstone whose replies are all gone is left out.
        if c.deleted && !mem.has_replies(c) {
            continue;
        }
        if items.len() >= limit {
            more = true;
            break;
        }
        items.push(with_replies(video, mem, viewer, c));
        last = Some((n, seq));
    }
    let next_cursor = match (more, last) {
        (true, Some((n, seq))) => Some(match sort {
            CommentSort::New => format!("n{seq}"),
            CommentSort::Top => format!("t{n}.{seq}"),
        }),
        _ => None,
    };
    Ok(CommentPage {
        items,
        next_cursor,
        total: mem.visible,
    })
}

fn with_replies(video: Uuid, mem: &Index, viewer: &CommentViewer, c: &Stored) -> CommentView {
    let mut v = mem.view(video, c, viewer.staff);
    v.first_replies = mem
        .replies
        .get(&c.seq)
        .into_iter()
        .flatten()
        .filter_map(|s| mem.get(*s))
        .filter(|r| mem.may_see(r, viewer))
        .take(FIRST_REPLIES)
        .map(|r| mem.view(video, r, viewer.staff))
        .collect();
    v
}

fn replies(
    video: Uuid,
    mem: &Index,
    viewer: &CommentViewer,
    id: &str,
    cursor: Option<&str>,
    limit: usize,
) -> Result<CommentPage, CommentError> {
    let root = mem
        .by_id(id)
        .filter(|c| c.root.is_none() && mem.may_see(c, viewer))
        .ok_or(CommentError::NotFound)?;
    let after: Option<u64> = match cursor {
        None => None,
        Some(c) => Some(
            c.strip_prefix('r')
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad_cursor)?,
        ),
    };
    let mut items = Vec::new();
    let mut more = false;
    let mut last = None;
    for seq in mem.replies.get(&root.seq).into_iter().flatten() {
        if after.is_some_and(|a| *seq <= a) {
            continue;
        }
        let Some(c) = mem.get(*seq) else { continue };
        if !mem.may_see(c, viewer) {
            continue;
        }
        if items.len() >= limit {
            more = true;
            break;
        }
        items.push(mem.view(video, c, viewer.staff));
        last = Some(*seq);
    }
    Ok(CommentPage {
        items,
        next_cursor: match (more, last) {
            (true, Some(s)) => Some(format!("r{s}")),
            _ => None,
        },
        total: mem.visible,
    })
}
