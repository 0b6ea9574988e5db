//! Abuse reports: the actor kind `report` (one per report, keyed by its id: the report, its
//! state and its message thread) and the actor kind `reports` (one entity, key `all`: the
//! index the moderation queue, the reporter's list and the duplicate check read).
//!
//! A report is written to its own actor first, then opened in the index, which refuses a
//! second pending report of one reporter on one target (`duplicate_report`). A crash in
//! between leaves a report nobody lists, never a listed report that does not exist. A state
//! change is written to the report, then to the index; the lister reads each report's own
//! state, so an index entry left behind by a crash only costs a read.

use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use troupe_runtime::{Ctx, Entity};
use uuid::Uuid;

/// Why something is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportReason {
    /// Spam or scams.
    Spam,
    /// Harassment or hate.
    Harassment,
    /// Violence.
    Violent,
    /// Sexual content.
    Sexual,
    /// Someone else's work.
    Copyright,
    /// Private information.
    Privacy,
    /// Anything else (the text says what).
    Other,
}

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Waiting for a moderator.
    Pending,
    /// A moderator agreed.
    Accepted,
    /// A moderator disagreed.
    Rejected,
}

impl ReportState {
    /// Its API name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Pending => "pending",
            ReportState::Accepted => "accepted",
            ReportState::Rejected => "rejected",
        }
    }
}

/// What kind of thing is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A video (optionally a time range of it).
    Video,
    /// A comment.
    Comment,
    /// An account.
    Account,
}

/// A reported video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportedVideo {
    /// The video id.
    pub id: Uuid,
    /// Its title when reported.
    pub title: String,
    /// Where the reported part starts, in seconds.
    pub start: Option<f64>,
    /// Where it ends, in seconds.
    pub end: Option<f64>,
}

/// A reported comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportedComment {
    /// The comment id.
    pub id: String,
    /// Its video.
    pub video_id: Uuid,
    /// The start of its text when reported.
    pub excerpt: String,
    /// Its author's username.
    pub author: String,
}

/// An account, as a report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportedAccount {
    /// The account id.
    pub id: Uuid,
    /// Its username.
    pub username: String,
}

/// What a report is about: `type` says which of the three is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportTarget {
    /// `video`, `comment` or `account`.
    #[serde(rename = "type")]
    pub kind: TargetKind,
    /// The video, for a video report.
    pub video: Option<ReportedVideo>,
    /// The comment, for a comment report.
    pub comment: Option<ReportedComment>,
    /// The account, for an account report.
    pub account: Option<ReportedAccount>,
}

impl ReportTarget {
    /// The same for every report of the same thing (a video's time range aside).
    pub fn key(&self) -> String {
        match (&self.video, &self.comment, &self.account) {
            (Some(v), _, _) => format!("video:{}", v.id),
            (_, Some(c), _) => format!("comment:{}/{}", c.video_id, c.id),
            (_, _, Some(a)) => format!("account:{}", a.id),
            _ => "none".into(),
        }
    }
}

/// An abuse report as its reporter and staff see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportView {
    /// The report id.
    pub id: Uuid,
    /// `pending`, `accepted` or `rejected`.
    pub state: ReportState,
    /// Why.
    pub reason: ReportReason,
    /// The reporter's words.
    pub text: String,
    /// What is reported.
    pub target: ReportTarget,
    /// Who reported it (only its reporter and staff ever see a report).
    pub reporter: Option<ReportedAccount>,
    /// What the moderator said when deciding.
    pub moderator_note: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Its last change (state, note, message).
    pub updated_at: DateTime<Utc>,
    /// Messages in its thread.
    pub messages: u64,
}

/// One message of a report's thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportMessage {
    /// The message id.
    pub id: Uuid,
    /// Its author's username.
    pub author: String,
    /// Whether a moderator wrote it (else the reporter).
    pub from_moderator: bool,
    /// The text.
    pub text: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The most messages one thread holds.
pub const MAX_MESSAGES: usize = 500;

/// The actor kind `report`.
pub struct ReportActor;

/// A report's durable state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportRecord {
    /// The report.
    pub view: ReportView,
    /// Its thread, oldest first.
    pub thread: Vec<ReportMessage>,
}

/// Requests to a report. Each is idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ReportRequest {
    /// Makes the report (a retry finds it made).
    Create(Box<ReportView>),
    /// The report and its thread.
    Get,
    /// A moderator's decision.
    Decide {
        /// The new state.
        state: ReportState,
        /// The note (`None` keeps the one there is).
        note: Option<String>,
    },
    /// Adds a message (once per id).
    Post(ReportMessage),
}

/// Answers of a report.
#[derive(Debug, Serialize, Deserialize)]
pub enum ReportResponse {
    /// The report, and whether this request changed it.
    Report(Option<Box<ReportRecord>>, bool),
    /// The thread is full.
    ThreadFull,
}

impl Entity for ReportActor {
    const KIND: &'static str = "report";
    const SCHEMA: u8 = 1;
    type State = ReportRecord;
    type Request = ReportRequest;
    type Response = ReportResponse;
    type Args = ();

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: ReportRequest,
    ) -> Result<ReportResponse, ActorProcessingErr> {
        let current = ctx.state().cloned();
        Ok(match (req, current) {
            (ReportRequest::Create(view), None) => {
                let r = ReportRecord {
                    view: *view,
                    thread: Vec::new(),
                };
                ctx.stage(r.clone());
                ReportResponse::Report(Some(Box::new(r)), true)
            }
            (ReportRequest::Create(_), Some(r)) => ReportResponse::Report(Some(Box::new(r)), false),
            (ReportRequest::Get, r) => ReportResponse::Report(r.map(Box::new), false),
            (_, None) => ReportResponse::Report(None, false),
            (ReportRequest::Decide { state, note }, Some(mut r)) => {
                let note = note.or(r.view.moderator_note.clone());
                if r.view.state == state && r.view.moderator_note == note {
                    ReportResponse::Report(Some(Box::new(r)), false)
                } else {
                    r.view.state = state;
                    r.view.moderator_note = note;
                    r.view.updated_at = Utc::now();
                    ctx.stage(r.clone());
                    ReportResponse::Report(Some(Box::new(r)), true)
                }
            }
            (ReportRequest::Post(m), Some(mut r)) => {
                if r.thread.iter().any(|x| x.id == m.id) {
                    ReportResponse::Report(Some(Box::new(r)), false)
                } else if r.thread.len() >= MAX_MESSAGES {
                    ReportResponse::ThreadFull
                } else {
                    r.view.updated_at = m.created_at;
                    r.thread.push(m);
                    r.view.messages = r.thread.len() as u64;
                    ctx.stage(r.clone());
                    ReportResponse::Report(Some(Box::new(r)), true)
                }
            }
        })
    }
}

/// What the index knows of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportSummary {
    /// The report id.
    pub id: Uuid,
    /// Its reporter.
    pub reporter_id: Uuid,
    /// [`ReportTarget::key`].
    pub target: String,
    /// Its state, as last told.
    pub state: ReportState,
    /// Its reason.
    pub reason: ReportReason,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// The actor kind `reports`.
pub struct ReportIndexActor;

/// The key of its only entity.
pub const INDEX_KEY: &str = "all";

/// The index's durable state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReportIndex {
    /// Every report, by id.
    pub items: BTreeMap<Uuid, ReportSummary>,
}

/// Requests to the index. Each is idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum IndexRequest {
    /// Lists a new report, unless its reporter has another pending one on its target.
    Open(ReportSummary),
    /// A report's new state.
    SetState(Uuid, ReportState),
    /// Every report, oldest first.
    List,
}

/// Answers of the index.
#[derive(Debug, Serialize, Deserialize)]
pub enum IndexResponse {
    /// Done.
    Done,
    /// `Open` refused: this pending report is there already.
    Duplicate(Uuid),
    /// To `List`.
    Items(Vec<ReportSummary>),
}

impl Entity for ReportIndexActor {
    const KIND: &'static str = "reports";
    const SCHEMA: u8 = 1;
    type State = ReportIndex;
    type Request = IndexRequest;
    type Response = IndexResponse;
    type Args = ();

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: IndexRequest,
    ) -> Result<IndexResponse, ActorProcessingErr> {
        let mut s = ctx.state().cloned().unwrap_or_default();
        Ok(match req {
            IndexRequest::Open(r) => {
                if s.items.contains_key(&r.id) {
                    return Ok(IndexResponse::Done);
                }
                if let Some(d) = s.items.values().find(|x| {
                    x.reporter_id == r.reporter_id
                        && x.target == r.target
                        && x.state == ReportState::Pending
                }) {
                    return Ok(IndexResponse::Duplicate(d.id));
                }
                s.items.insert(r.id, r);
                ctx.stage(s);
                IndexResponse::Done
            }
            IndexRequest::SetState(id, state) => {
                if let Some(x) = s.items.get_mut(&id) {
                    if x.state != state {
                        x.state = state;
                        ctx.stage(s);
                    }
                }
                IndexResponse::Done
            }
            IndexRequest::List => {
                let mut items: Vec<ReportSummary> = s.items.into_values().collect();
                items.sort_by_key(|x| (x.created_at, x.id));
                IndexResponse::Items(items)
            }
        })
    }
}
