//! Abuse reports and the moderation queue: `POST /api/v1/reports`, a report and its thread
//! (its reporter and staff), decisions (staff), the reporter's notifications, and
//! `GET /api/v1/moderation/queue` (reports and held comments, oldest first).

use super::error::{ApiError, Problem};
use super::moderation::audit;
use super::tokens::AuthUser;
use super::users::require_moderator;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use troupe_actors::accounts::UserView;
use troupe_actors::inbox::{Notification, NotificationKind, NotifiedReport, NotifiedUser};
use troupe_actors::moderation::report::{
    ReportTarget, ReportedAccount, ReportedComment, ReportedVideo, TargetKind,
};
use troupe_actors::moderation::{
    HeldComment, ReportMessage, ReportReason, ReportState, ReportView,
};
use uuid::Uuid;

/// The longest report text or message.
pub const MAX_TEXT_CHARS: usize = 3_000;

fn unprocessable(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
}

fn text(t: &str) -> Result<String, ApiError> {
    let t = crate::http::error::trim_blank(t);
    if t.is_empty() || t.chars().count() > MAX_TEXT_CHARS {
        return Err(unprocessable(
            "invalid_text",
            format!("text must be 1 to {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(t.to_owned())
}

/// What to report: exactly one of `video`, `comment` or `account`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetInput {
    /// A video, optionally a time range of it (seconds).
    Video(VideoTarget),
    /// A comment.
    Comment(CommentTarget),
    /// An account.
    Account(AccountTarget),
}

/// A reported video, optionally a time range of it (seconds).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoTarget {
    /// The video id.
    id: Uuid,
    /// Where the reported part starts (seconds, 0 or more).
    #[serde(default)]
    #[schema(minimum = 0)]
    start: Option<f64>,
    /// Where it ends (seconds, at least `start`, at most the video's duration).
    #[serde(default)]
    #[schema(minimum = 0)]
    end: Option<f64>,
}

/// A reported comment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentTarget {
    /// Its video.
    video_id: Uuid,
    /// The comment id.
    id: String,
}

/// A reported account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountTarget {
    /// Its username.
    username: String,
}

/// A new report.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// `{"video": {"id", "start"?, "end"?}}`, `{"comment": {"video_id", "id"}}` or
    /// `{"account": {"username"}}`.
    pub target: TargetInput,
    /// `spam`, `harassment`, `violent`, `sexual`, `copyright`, `privacy` or `other`.
    pub reason: ReportReason,
    /// 1 to 3,000 characters, not only spaces.
    #[schema(min_length = 1, max_length = 3000, pattern = "\\S")]
    pub text: String,
}

/// The caller's account.
async fn me(state: &AppState, user: &AuthUser) -> Result<UserView, ApiError> {
    match state.accounts.get(&user.0.sub).await? {
        Some(u) if u.id == user.0.uid => Ok(u),
        _ => Err(ApiError::unauthorized(
            "invalid_token",
            "the account of this token does not exist",
        )),
    }
}

/// The comment a report names, as a moderator sees it: `None` when it does not exist or is a
/// tombstone (nothing is left to report).
async fn find_comment(
    state: &AppState,
    video: Uuid,
    id: &str,
) -> Result<Option<ReportedComment>, ApiError> {
    let Some(c) = state.comments.get(video, id).await? else {
        return Ok(None);
    };
    let (Some(author), Some(text)) = (c.author, c.text) else {
        return Ok(None);
    };
    if c.deleted {
        return Ok(None);
    }
    Ok(Some(ReportedComment {
        id: c.id,
        video_id: c.video_id,
        excerpt: text.chars().take(200).collect(),
        author: author.username,
    }))
}

/// Reports a video (or part of it), a comment or an account: 201 with the report. The reporter
/// follows it at `GET /api/v1/users/me/reports` and writes to moderators in its thread.
#[utoipa::path(tag = "moderation", security(("bearer" = [])), request_body = NewReport, responses(
    (status = 201, description = "The report", body = ReportView),
    (status = 404, description = "`video_not_found`, `comment_not_found` or `user_not_found`: nothing the caller can see by that name", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`duplicate_report`: the caller has a pending report on this already", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_range` (not within the video), `invalid_text` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/reports")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<NewReport>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let words = text(&body.text)?;
    let reporter = me(&state, &user).await?;
    let viewer = super::videos::viewer(&state, Some(&user.0)).await?;
    let target = match body.target {
        TargetInput::Video(VideoTarget { id, start, end }) => {
            let v = super::videos::visible(&state, id, viewer).await?;
            let bad = |why: &str| Err(unprocessable("invalid_range", why.to_owned()));
            let within =
                |t: f64| t.is_finite() && t >= 0.0 && v.duration_secs.is_none_or(|d| t <= d + 0.5);
            match (start, end) {
                (Some(s), _) if !within(s) => return bad("start must be within the video"),
                (_, Some(e)) if !within(e) => return bad("end must be within the video"),
                (Some(s), Some(e)) if e < s => return bad("end must not be before start"),
                _ => {}
            }
            ReportTarget {
                kind: TargetKind::Video,
                video: Some(ReportedVideo {
                    id,
                    title: v.title,
                    start,
                    end,
                }),
                comment: None,
                account: None,
            }
        }
        TargetInput::Comment(CommentTarget { video_id, id }) => {
            super::videos::visible(&state, video_id, viewer).await?;
            let Some(c) = find_comment(&state, video_id, &id).await? else {
                return Err(ApiError::not_found("comment_not_found", "no such comment"));
            };
            ReportTarget {
                kind: TargetKind::Comment,
                video: None,
                comment: Some(c),
                account: None,
            }
        }
        TargetInput::Account(AccountTarget { username }) => {
            let key = super::users::user_key(username)?;
            let Some(u) = state.accounts.get(&key).await? else {
                return Err(ApiError::not_found("user_not_found", "no such user"));
            };
            ReportTarget {
                kind: TargetKind::Account,
                video: None,
                comment: None,
                account: Some(ReportedAccount {
                    id: u.id,
                    username: u.username,
                }),
            }
        }
    };
    let now = Utc::now();
    let view = ReportView {
        id: Uuid::now_v7(),
        state: ReportState::Pending,
        reason: body.reason,
        text: words,
        target,
        reporter: Some(ReportedAccount {
            id: reporter.id,
            username: reporter.username.clone(),
        }),
        moderator_note: None,
        created_at: now,
        updated_at: now,
        messages: 0,
    };
    let made = state.moderation.open_report(view).await?;
    tracing::info!(report = %made.id, reporter = %reporter.username, target = %made.target.key(), "report made");
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/reports/{}", made.id),
        ))
        .json(made))
}

/// A report as `user` may see it: theirs, or any for staff; 404 otherwise. Whether they are
/// staff, and the caller's account.
async fn readable(
    state: &AppState,
    user: &AuthUser,
    raw: &str,
) -> Result<(ReportView, Vec<ReportMessage>, UserView), ApiError> {
    let id = Uuid::parse_str(raw)
        .map_err(|_| ApiError::not_found("report_not_found", "no such report"))?;
    let caller = me(state, user).await?;
    let (view, thread) = state.moderation.report(id).await?;
    let own = view.reporter.as_ref().is_some_and(|r| r.id == caller.id);
    if own || caller.role.is_staff() {
        Ok((view, thread, caller))
    } else {
        Err(ApiError::not_found("report_not_found", "no such report"))
    }
}

/// A report (its reporter and staff; 404 to anyone else).
#[utoipa::path(tag = "moderation", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Report id")), responses(
    (status = 200, description = "The report", body = ReportView),
    (status = 404, description = "`report_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/reports/{id}")]
pub async fn get_report(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (view, _, _) = readable(&state, &user, &path).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(view))
}

/// A moderator's decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `pending`, `accepted` or `rejected`.
    pub state: ReportState,
    /// Up to 2,000 characters, shown to the reporter; absent keeps the note there is.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// Decides a report (moderators and admins): its reporter gets `abuse_state_change` when the
/// state changes; the decision is audited (`report.state`).
#[utoipa::path(tag = "moderation", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Report id")), request_body = Decision, responses(
    (status = 200, description = "The report", body = ReportView),
    (status = 403, description = "`forbidden`: not staff", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`report_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_note` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[patch("/api/v1/reports/{id}")]
pub async fn decide(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<Decision>,
) -> Result<HttpResponse, ApiError> {
    let staff = require_moderator(&state, &user).await?;
    let body = body.into_inner();
    let note = match body.note {
        Some(n) if n.chars().count() > 2_000 => {
            return Err(unprocessable(
                "invalid_note",
                "note must be at most 2,000 characters",
            ))
        }
        Some(n) => Some(n.trim().to_owned()),
        None => None,
    };
    let id = Uuid::parse_str(&path)
        .map_err(|_| ApiError::not_found("report_not_found", "no such report"))?;
    let (view, changed) = state
        .moderation
        .decide_report(id, body.state, note.clone())
        .await?;
    if changed {
        let why = match &note {
            Some(n) if !n.is_empty() => format!("{}: {n}", view.state.as_str()),
            _ => view.state.as_str().to_owned(),
        };
        audit(
            &state,
            &staff,
            "report.state",
            format!("report:{id}"),
            Some(why),
        )
        .await?;
        notify_reporter(
            &state,
            &view,
            NotificationKind::AbuseStateChange,
            view.state.as_str(),
            &staff.username,
        );
    }
    Ok(HttpResponse::Ok().json(view))
}

/// Tells a report's reporter of a change, once the change is durable; in a task, so that a
/// slow inbox never holds up the moderator.
fn notify_reporter(
    state: &AppState,
    view: &ReportView,
    kind: NotificationKind,
    tag: &str,
    by: &str,
) {
    let Some(reporter) = view.reporter.clone() else {
        return;
    };
    let n = Notification {
        id: format!("{}:{}:{tag}", kind.as_str(), view.id),
        kind,
        created_at: Utc::now(),
        read: false,
        video: None,
        channel: None,
        actor: Some(NotifiedUser {
            username: by.to_owned(),
        }),
        reason: view
            .moderator_note
            .clone()
            .filter(|_| kind == NotificationKind::AbuseStateChange),
        comment: None,
        report: Some(NotifiedReport {
            id: view.id,
            state: view.state.as_str().to_owned(),
        }),
    };
    let notify = state.notify.clone();
    tokio::spawn(async move {
        if let Err(e) = notify.deliver(reporter.id, n).await {
            tracing::warn!(error = %e, user = %reporter.username, "could not notify a reporter");
        }
    });
}

/// A report's thread.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageList {
    /// Oldest first.
    pub items: Vec<ReportMessage>,
}

/// A report's thread, oldest first (its reporter and staff).
#[utoipa::path(tag = "moderation", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Report id")), responses(
    (status = 200, description = "The thread", body = MessageList),
    (status = 404, description = "`report_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/reports/{id}/messages")]
pub async fn messages(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (_, items, _) = readable(&state, &user, &path).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(MessageList { items }))
}

/// A message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// 1 to 3,000 characters, not only spaces.
    #[schema(min_length = 1, max_length = 3000, pattern = "\\S")]
    pub text: String,
}

/// Writes in a report's thread (its reporter and staff). A moderator's message notifies the
/// reporter (`abuse_new_message`); the reporter's reaches staff through the queue.
#[utoipa::path(tag = "moderation", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Report id")), request_body = NewMessage, responses(
    (status = 201, description = "The message", body = ReportMessage),
    (status = 404, description = "`report_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`thread_full`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_text` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/reports/{id}/messages")]
pub async fn post_message(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<NewMessage>,
) -> Result<HttpResponse, ApiError> {
    let words = text(&body.text)?;
    let (view, _, caller) = readable(&state, &user, &path).await?;
    let own = view.reporter.as_ref().is_some_and(|r| r.id == caller.id);
    let message = ReportMessage {
        id: Uuid::now_v7(),
        author: caller.username.clone(),
        from_moderator: !own,
        text: words,
        created_at: Utc::now(),
    };
    let updated = state
        .moderation
        .post_report_message(view.id, message.clone())
        .await?;
    if message.from_moderator {
        notify_reporter(
            &state,
            &updated,
            NotificationKind::AbuseNewMessage,
            &message.id.to_string(),
            &caller.username,
        );
    }
    Ok(HttpResponse::Created().json(message))
}

/// The caller's reports.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportList {
    /// Newest first.
    pub items: Vec<ReportView>,
}

/// The caller's own reports, newest first, with their states and notes.
#[utoipa::path(tag = "moderation", security(("bearer" = [])), responses(
    (status = 200, description = "The caller's reports", body = ReportList),
))]
#[get("/api/v1/users/me/reports")]
pub async fn my_reports(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let mine: Vec<Uuid> = state
        .moderation
        .report_index()
        .await?
        .into_iter()
        .rev()
        .filter(|r| r.reporter_id == user.0.uid)
        .map(|r| r.id)
        .collect();
    let reads = mine.iter().map(|id| state.moderation.report(*id));
    let mut items = Vec::new();
    for r in futures::future::join_all(reads).await {
        items.push(r?.0);
    }
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(ReportList { items }))
}

/// Filters of the moderation queue.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// Only `report` or `held_comment` items.
    pub kind: Option<QueueKind>,
    /// Only reports with this reason.
    pub reason: Option<ReportReason>,
    /// Only reports in this state (default `pending`; held comments are pending).
    pub state: Option<ReportState>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,19}\\.[0-9a-f-]{1,80}$")]
    pub cursor: Option<String>,
}

/// What a queue item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueKind {
    /// An abuse report.
    Report,
    /// A comment held for review.
    HeldComment,
}

/// One item of the moderation queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueItem {
    /// `report` or `held_comment`.
    pub kind: QueueKind,
    /// When it arrived.
    pub at: chrono::DateTime<Utc>,
    /// The report, for a report.
    pub report: Option<ReportView>,
    /// The comment, for a held comment.
    pub held_comment: Option<HeldComment>,
}

/// A page of the queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueuePage {
    /// Oldest first.
    pub items: Vec<QueueItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Whether a queued held comment is still held: a crash between the comment's resolution
/// and `held_resolved` leaves an entry behind, which the queue drops here.
async fn still_held(state: &AppState, held: &HeldComment) -> Result<bool, ApiError> {
    Ok(state
        .comments
        .get(held.video_id, &held.comment_id)
        .await?
        .is_some_and(|c| c.held && !c.deleted))
}

/// The moderation queue (moderators and admins): reports and held comments, oldest first,
/// filterable by kind, reason and state.
#[utoipa::path(tag = "moderation", security(("bearer" = [])), params(QueueQuery), responses(
    (status = 200, description = "A page of the queue", body = QueuePage),
    (status = 403, description = "`forbidden`: not staff", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_cursor`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/moderation/queue")]
pub async fn queue(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, ApiError> {
    require_moderator(&state, &user).await?;
    let q = query.into_inner();
    let limit = super::error::page_limit(q.limit)?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            c.split_once('.')
                .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| {
                    unprocessable(
                        "invalid_cursor",
                        "the cursor is not one this server gave out; start again without it",
                    )
                })
        })
        .transpose()?;
    let wanted = q.state.unwrap_or(ReportState::Pending);
    // (arrival in ms, id) orders the queue; a cursor is the last item's.
    let mut keyed: Vec<((i64, String), Result<Uuid, HeldComment>)> = Vec::new();
    if q.kind != Some(QueueKind::HeldComment) {
        for r in state.moderation.report_index().await? {
            if r.state == wanted && q.reason.is_none_or(|x| x == r.reason) {
                keyed.push((
                    (r.created_at.timestamp_millis(), r.id.to_string()),
                    Ok(r.id),
                ));
            }
        }
    }
    if q.kind != Some(QueueKind::Report) && q.reason.is_none() && wanted == ReportState::Pending {
        for h in state.moderation.held().await? {
            let id = format!("{}-{}", h.video_id, h.comment_id);
            keyed.push(((h.at.timestamp_millis(), id), Err(h)));
        }
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut items = Vec::new();
    let mut next = None;
    for (key, item) in keyed {
        if after.as_ref().is_some_and(|a| key <= *a) {
            continue;
        }
        if items.len() == limit {
            next = items
                .last()
                .map(|(k, _): &((i64, String), QueueItem)| format!("{}.{}", k.0, k.1));
            break;
        }
        let shown = match item {
            Ok(id) => {
                let (view, _) = state.moderation.report(id).await?;
                // The index may lag the report (a crash between their writes).
                if view.state != wanted {
                    continue;
                }
                QueueItem {
                    kind: QueueKind::Report,
                    at: view.created_at,
                    report: Some(view),
                    held_comment: None,
                }
            }
            Err(h) => {
                if !still_held(&state, &h).await? {
                    continue;
                }
                QueueItem {
                    kind: QueueKind::HeldComment,
                    at: h.at,
                    report: None,
                    held_comment: Some(h),
                }
            }
        };
        items.push((key, shown));
    }
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(QueuePage {
            items: items.into_iter().map(|(_, i)| i).collect(),
            next_cursor: next,
        }))
}
