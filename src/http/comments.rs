//! `/api/v1/videos/{id}/comments`: threads, replies, edits, deletions, pins, and the review of
//! held comments.
//!
//! Who may do what: anyone who may see the video reads its comments (held ones only their
//! author and the video's staff: its owner, admins and moderators); a signed-in user posts
//! (unless banned from the channel, or the policy is `disabled`); only the author edits;
//! the author or staff delete; the owner pins; staff approve and reject. What is held for
//! review is decided here, from the policy and the rules (see [`hold_reason`]).

use super::error::{page_limit, ApiError, Problem};
use super::tokens::{AccessClaims, AuthUser};
use super::videos::{viewer, visible, MaybeUser};
use crate::config::CommentsConfig;
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, put, web, HttpResponse};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde::Deserialize;
use std::num::NonZeroU32;
use troupe_actors::comments::{
    check_text, id_of_video, new_comment_id, text, Changed, CommentError, CommentPage,
    CommentPolicy, CommentSort, CommentView, CommentViewer, CommentsRequest, NewComment,
};
use troupe_actors::media::video::VideoView;
use troupe_actors::media::Viewer;
use uuid::Uuid;

impl From<CommentError> for ApiError {
    fn from(e: CommentError) -> Self {
        use StatusCode as S;
        match e {
            CommentError::Invalid(d) => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "invalid_comment", d)
            }
            CommentError::Disabled => ApiError::new(
                S::FORBIDDEN,
                "comments_disabled",
                "comments are disabled on this video",
            ),
            CommentError::NotFound => ApiError::not_found("comment_not_found", "no such comment"),
            CommentError::OtherVideo => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                "reply_to_other_video",
                "the comment answered belongs to another video",
            ),
            CommentError::Forbidden(d) => ApiError::forbidden(d),
            CommentError::Duplicate => ApiError::new(
                S::CONFLICT,
                "duplicate_comment",
                "you posted the same text on this video moments ago",
            ),
            CommentError::BadCursor => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_cursor",
                "not a cursor of this listing",
            ),
            CommentError::Store(d) => ApiError::unavailable("store_unavailable", d, 2),
            CommentError::Unavailable(e) => e.into(),
        }
    }
}

type Keyed = RateLimiter<Uuid, DefaultKeyedStateStore<Uuid>, DefaultClock>;

/// The per-user comment rate limit (a token bucket per user, on this node) and the rules'
/// settings.
pub struct CommentLimits {
    limiter: Keyed,
    settings: CommentsConfig,
}

impl CommentLimits {
    /// Builds the buckets from configuration.
    pub fn new(cfg: &CommentsConfig) -> Self {
        let nz = |n: u32| NonZeroU32::new(n.max(1)).expect("max(1) is non-zero");
        Self {
            limiter: RateLimiter::keyed(
                Quota::per_minute(nz(cfg.rate_per_minute)).allow_burst(nz(cfg.burst)),
            ),
            settings: cfg.clone(),
        }
    }

    /// Takes one comment from `user`'s bucket; `Err` holds the seconds to wait.
    fn take(&self, user: Uuid) -> Result<(), u64> {
        self.limiter.check_key(&user).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }

    /// Forgets buckets that are full again.
    pub fn tidy(&self) {
        self.limiter.retain_recent();
    }
}

/// Whether `viewer` is staff for `video`: its owner, an admin (or a moderator).
pub(crate) fn is_staff(viewer: Option<Viewer>, video: &VideoView) -> bool {
    viewer.is_some_and(|w| w.staff() || w.id == video.owner_id)
}

fn video_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("video_not_found", "no such video"))
}

/// The video, who the caller is, and whether they are staff for it.
async fn context(
    state: &AppState,
    claims: Option<&AccessClaims>,
    raw: &str,
) -> Result<(VideoView, Option<Viewer>, bool), ApiError> {
    let id = video_id(raw)?;
    let viewer = viewer(state, claims).await?;
    let video = visible(state, id, viewer).await?;
    let staff = is_staff(viewer, &video);
    Ok((video, viewer, staff))
}

/// The authors `viewer` muted.
pub(crate) async fn muted(state: &AppState, viewer: Option<Viewer>) -> Result<Vec<Uuid>, ApiError> {
    Ok(match viewer {
        Some(w) => state
            .comments
            .rules_of(&format!("mutes:{}", w.id))
            .await?
            .muted
            .into_iter()
            .map(|(u, _)| u)
            .collect(),
        None => Vec::new(),
    })
}

/// Who reads, for the comments actor: their mutes included.
async fn reader(
    state: &AppState,
    viewer: Option<Viewer>,
    staff: bool,
) -> Result<CommentViewer, ApiError> {
    let muted = muted(state, viewer).await?;
    Ok(CommentViewer {
        id: viewer.map(|w| w.id),
        staff,
        muted,
        hidden_authors: state.moderation.suspended_ids(),
    })
}

/// A comment as a non-staff caller gets it: without why it is held.
fn shown(mut v: CommentView, staff: bool) -> CommentView {
    if !staff {
        v.held_reason = None;
    }
    v
}

/// The listing parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListComments {
    /// `new` (default: newest first) or `top` (most replies first, then newest).
    #[param(inline)]
    pub sort: Option<CommentSort>,
    /// `next_cursor` of the previous page, with the same `sort`.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

/// The top-level comments of a video, each with its reply count and first replies; on the
/// first page the pinned comment comes first. Held comments are listed only for their
/// author and the video's staff; muted authors are left out.
#[utoipa::path(tag = "comments", security((), ("bearer" = [])), params(("id" = Uuid, Path, description = "Video id"), ListComments), responses(
    (status = 200, description = "A page of comments", body = CommentPage),
    (status = 404, description = "`video_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_cursor`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/videos/{id}/comments")]
pub async fn list(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<String>,
    query: web::Query<ListComments>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let (video, viewer, staff) = context(&state, user.0.as_ref(), &path).await?;
    let who = reader(&state, viewer, staff).await?;
    let page = state
        .comments
        .page(
            video.id,
            who,
            q.sort.unwrap_or_default(),
            None,
            q.cursor,
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(page))
}

/// The replies parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListReplies {
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

/// The replies in a thread, oldest first.
#[utoipa::path(tag = "comments", security((), ("bearer" = [])), params(("id" = Uuid, Path, description = "Video id"), ("comment_id" = String, Path, description = "The thread's top-level comment"), ListReplies), responses(
    (status = 200, description = "A page of replies", body = CommentPage),
    (status = 404, description = "`video_not_found` or `comment_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_cursor`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/videos/{id}/comments/{comment_id}/replies")]
pub async fn replies(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<(String, String)>,
    query: web::Query<ListReplies>,
) -> Result<HttpResponse, ApiError> {
    let (raw, comment) = path.into_inner();
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let (video, viewer, staff) = context(&state, user.0.as_ref(), &raw).await?;
    let who = reader(&state, viewer, staff).await?;
    let page = state
        .comments
        .page(
            video.id,
            who,
            CommentSort::New,
            Some(comment),
            q.cursor,
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(page))
}

/// A new comment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostComment {
    /// Plain text, 1 to 10,000 characters (not only whitespace); stored and returned exactly
    /// as sent.
    #[schema(min_length = 1, max_length = 10000)]
    pub text: String,
    /// The comment this one answers (any comment of the thread).
    #[serde(default)]
    pub in_reply_to: Option<String>,
}

/// The video's effective policy: its own, else its channel's default.
pub(crate) async fn effective_policy(
    state: &AppState,
    video: &VideoView,
) -> Result<
    (
        CommentPolicy,
        u64,
        Option<troupe_actors::channels::ChannelView>,
    ),
    ApiError,
> {
    let (total, own) = state.comments.summary(video.id).await?;
    let channel = if video.channel_id.is_nil() {
        None
    } else {
        state.channels.get(video.channel_id).await?
    };
    let default = channel
        .as_ref()
        .map(|c| c.default_comment_policy)
        .unwrap_or_default();
    Ok((own.unwrap_or(default), total, channel))
}

/// Why a comment by a non-staff author is held, if it is: the policy `approval`, then a link
/// (when `comments.hold_links`), a watched word of the channel or of the instance, or a new
/// account on a channel that holds them.
async fn hold_reason(
    state: &AppState,
    limits: &CommentsConfig,
    policy: CommentPolicy,
    channel: Option<&troupe_actors::channels::ChannelView>,
    author_key: &str,
    body: &str,
) -> Result<Option<String>, ApiError> {
    if policy == CommentPolicy::Approval {
        return Ok(Some("approval".into()));
    }
    if limits.hold_links && !text::links(body).is_empty() {
        return Ok(Some("link".into()));
    }
    let instance = state.comments.rules_of("instance").await?;
    if text::watched_word(body, instance.words()).is_some() {
        return Ok(Some("watched_word".into()));
    }
    if let Some(c) = channel {
        let rules = state
            .comments
            .rules_of(&format!("channel:{}", c.id))
            .await?;
        if text::watched_word(body, rules.words()).is_some() {
            return Ok(Some("watched_word".into()));
        }
        if c.hold_new_accounts {
            if let Some(u) = state.accounts.get(author_key).await? {
                let age = chrono::Utc::now() - u.created_at;
                if age.num_seconds() < limits.new_account_age_secs as i64 {
                    return Ok(Some("new_account".into()));
                }
            }
        }
    }
    Ok(None)
}

/// Mentions of users who exist (at most 10 looked up).
async fn mentions(
    state: &AppState,
    body: &str,
) -> Result<Vec<troupe_actors::comments::text::MentionSpan>, ApiError> {
    let mut known = Vec::new();
    let mut names: Vec<String> = text::mention_candidates(body)
        .into_iter()
        .map(|(_, _, n)| n)
        .collect();
    names.dedup();
    for name in names.into_iter().take(10) {
        if known.contains(&name) {
            continue;
        }
        if state.accounts.get(&name).await.ok().flatten().is_some() {
            known.push(name);
        }
    }
    Ok(text::mentions(body, &known))
}

/// Posts a comment or a reply. It may be held for review (`held: true`): then only its
/// author, the video's owner and moderators see it until it is approved.
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Video id")), request_body = PostComment, responses(
    (status = 201, description = "Posted (durable)", body = CommentView),
    (status = 403, description = "`comments_disabled` (the video's policy) or `banned_from_channel`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found` or `comment_not_found` (`in_reply_to`)", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`duplicate_comment`: the same text on this video within `comments.duplicate_window_secs`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_comment` (empty, or over 10,000 characters) or `reply_to_other_video`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`comment_rate_limited`: over `comments.rate_per_minute` (burst `comments.burst`); retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/videos/{id}/comments")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<PostComment>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_text(&b.text)?;
    let (video, viewer, staff) = context(&state, Some(&user.0), &path).await?;
    if let Some(parent) = &b.in_reply_to {
        if !id_of_video(parent, video.id) {
            return Err(CommentError::OtherVideo.into());
        }
    }
    let (policy, _, channel) = effective_policy(&state, &video).await?;
    if policy == CommentPolicy::Disabled {
        return Err(CommentError::Disabled.into());
    }
    if let Some(c) = &channel {
        let rules = state
            .comments
            .rules_of(&format!("channel:{}", c.id))
            .await?;
        if rules.banned(user.0.uid) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "banned_from_channel",
                "you may not comment on this channel's videos",
            ));
        }
    }
    if let Err(wait) = state.comment_limits.take(user.0.uid) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "comment_rate_limited",
            format!("too many comments; retry in {wait} s"),
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let settings = &state.comment_limits.settings;
    let held = if staff {
        None
    } else {
        hold_reason(
            &state,
            settings,
            policy,
            channel.as_ref(),
            &user.0.sub,
            &b.text,
        )
        .await?
    };
    let new = NewComment {
        id: new_comment_id(video.id),
        author: user.0.uid,
        author_name: user.0.sub.clone(),
        links: text::links(&b.text),
        mentions: mentions(&state, &b.text).await?,
        text: b.text,
        in_reply_to: b.in_reply_to,
        held: held.clone(),
        channel_policy: channel
            .as_ref()
            .map(|c| c.default_comment_policy)
            .unwrap_or_default(),
        at: chrono::Utc::now(),
        duplicate_window_ms: (settings.duplicate_window_secs as i64).saturating_mul(1000),
    };
    if held.is_some() {
        on_comment_held(&state, &video, &new).await?;
    }
    let posted = state.comments.post(video.id, new).await?;
    follow_up_posted(&state, &video, viewer, &posted);
    super::webhooks::comment_event(&state, &video, &posted.view).await;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(shown(posted.view, staff)))
}

/// Called before a held comment is written: the moderation queue learns of it first, so a
/// held comment is never missing from the queue (an entry whose comment was never written, or
/// is no longer held, is dropped by the queue when it lists it).
async fn on_comment_held(
    state: &AppState,
    video: &VideoView,
    new: &NewComment,
) -> Result<(), ApiError> {
    state
        .moderation
        .queue_held(troupe_actors::moderation::HeldComment {
            video_id: video.id,
            comment_id: new.id.clone(),
            channel_id: video.channel_id,
            author_id: new.author,
            author: new.author_name.clone(),
            video_title: video.title.clone(),
            excerpt: new.text.chars().take(200).collect(),
            reason: new.held.clone().unwrap_or_default(),
            at: new.at,
        })
        .await?;
    Ok(())
}

/// A comment notification.
fn comment_note(
    kind: troupe_actors::inbox::NotificationKind,
    video: &VideoView,
    c: &CommentView,
) -> troupe_actors::inbox::Notification {
    use troupe_actors::inbox::{Notification, NotifiedComment, NotifiedUser, NotifiedVideo};
    Notification {
        id: format!("{}:{}", kind.as_str(), c.id),
        kind,
        created_at: c.created_at,
        read: false,
        video: Some(NotifiedVideo {
            id: video.id,
            title: video.title.clone(),
            thumbnail_url: video
                .has_poster
                .then(|| format!("/api/v1/videos/{}/thumbnail.jpg", video.id)),
        }),
        channel: None,
        actor: c.author.as_ref().map(|a| NotifiedUser {
            username: a.username.clone(),
        }),
        reason: None,
        report: None,
        comment: Some(NotifiedComment {
            id: c.id.clone(),
            video_id: video.id,
            thread_id: c.thread_id.clone(),
            excerpt: c.text.as_deref().unwrap_or("").chars().take(200).collect(),
        }),
    }
}

/// What follows a durable post (or an approval): notifications, in a task, so the answer does
/// not wait for inboxes. A held comment tells only the video's owner
/// (`comment_held_for_review`); a visible one tells the authors it answers
/// (`reply_to_my_comment`), the users it mentions (`mention`) and the video's owner
/// (`comment_on_my_video`), each user once, never the comment's own author. Ids are
/// `<type>:<comment id>`, so a retry stores nothing twice.
fn follow_up_posted(state: &AppState, video: &VideoView, _by: Option<Viewer>, c: &Changed) {
    use troupe_actors::inbox::NotificationKind as K;
    let Some(author) = c.view.author.as_ref().map(|a| a.id) else {
        return;
    };
    let (accounts, notify, video, c) = (
        state.accounts.clone(),
        state.notify.clone(),
        video.clone(),
        c.clone(),
    );
    tokio::spawn(async move {
        let mut to: Vec<(Uuid, K)> = Vec::new();
        let mut add = |user: Uuid, kind: K| {
            if user != author && !to.iter().any(|(u, _)| *u == user) {
                to.push((user, kind));
            }
        };
        if c.view.held {
            add(video.owner_id, K::CommentHeldForReview);
        } else {
            for u in &c.answered {
                add(*u, K::ReplyToMyComment);
            }
            for m in &c.view.mentions {
                if let Ok(Some(u)) = accounts.get(&m.username).await {
                    add(u.id, K::Mention);
                }
            }
            add(video.owner_id, K::CommentOnMyVideo);
        }
        for (user, kind) in to {
            if let Err(e) = notify
                .deliver(user, comment_note(kind, &video, &c.view))
                .await
            {
                tracing::warn!(comment = %c.view.id, %user, error = %e, "could not deliver a comment notification");
            }
        }
    });
}

/// Records a deletion or a rejection by someone other than the author in the audit log. It
/// runs after the change is durable; if the log cannot be reached the caller gets a 503 and
/// may retry (the change itself is idempotent).
async fn audit_comment_action(
    state: &AppState,
    by: &AccessClaims,
    action: &str,
    target: &str,
    reason: Option<String>,
) -> Result<(), ApiError> {
    state
        .moderation
        .audit(troupe_actors::moderation::AuditEntry {
            at: chrono::Utc::now(),
            actor_id: by.uid,
            actor: by.sub.clone(),
            action: action.to_owned(),
            target: format!("comment:{target}"),
            reason,
        })
        .await?;
    Ok(())
}

/// A change to a comment's text.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditComment {
    /// The new text, 1 to 10,000 characters (not only whitespace).
    #[schema(min_length = 1, max_length = 10000)]
    pub text: String,
}

/// Changes a comment's text (its author only). The comment then says it was edited, and
/// when. A new text that a rule would hold (a link, a watched word) holds the comment.
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Video id"), ("comment_id" = String, Path, description = "Comment id")), request_body = EditComment, responses(
    (status = 200, description = "The edited comment", body = CommentView),
    (status = 403, description = "`forbidden`: not the author", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found` or `comment_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_comment`", body = Problem, content_type = "application/problem+json"),
))]
#[patch("/api/v1/videos/{id}/comments/{comment_id}")]
pub async fn edit(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
    body: web::Json<EditComment>,
) -> Result<HttpResponse, ApiError> {
    let (raw, comment) = path.into_inner();
    let b = body.into_inner();
    check_text(&b.text)?;
    let (video, _, staff) = context(&state, Some(&user.0), &raw).await?;
    let held = if staff {
        None
    } else {
        let (policy, _, channel) = effective_policy(&state, &video).await?;
        // A comment already posted is not held again merely for the policy.
        let policy = if policy == CommentPolicy::Approval {
            CommentPolicy::Enabled
        } else {
            policy
        };
        let settings = &state.comment_limits.settings;
        hold_reason(
            &state,
            settings,
            policy,
            channel.as_ref(),
            &user.0.sub,
            &b.text,
        )
        .await?
    };
    let changed = state
        .comments
        .apply(
            video.id,
            CommentsRequest::Edit {
                id: comment,
                by: user.0.uid,
                links: text::links(&b.text),
                mentions: mentions(&state, &b.text).await?,
                text: b.text,
                held,
                at: chrono::Utc::now(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(shown(changed.view, staff)))
}

/// Deletes a comment (its author, the video's owner, moderators). One with replies stays as
/// a tombstone (no author, no text); one without disappears.
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Video id"), ("comment_id" = String, Path, description = "Comment id")), responses(
    (status = 204, description = "Deleted"),
    (status = 403, description = "`forbidden`: neither the author nor staff", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found` or `comment_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/videos/{id}/comments/{comment_id}")]
pub async fn delete_comment(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (raw, comment) = path.into_inner();
    let (video, _, staff) = context(&state, Some(&user.0), &raw).await?;
    let before = state.comments.get(video.id, &comment).await?;
    let changed = state
        .comments
        .delete(video.id, &comment, user.0.uid, staff, None)
        .await?;
    if changed.changed {
        if before
            .as_ref()
            .and_then(|c| c.author.as_ref())
            .map(|a| a.id)
            != Some(user.0.uid)
        {
            audit_comment_action(&state, &user.0, "comment.delete", &comment, None).await?;
        }
        if changed.was_held {
            held_resolved(&state, video.id, &comment).await;
        }
    }
    Ok(HttpResponse::NoContent().finish())
}

/// After a held comment is approved, rejected or deleted: it leaves the moderation queue.
async fn held_resolved(state: &AppState, video: Uuid, comment: &str) {
    // The comment's change is durable and answered for; a queue entry this misses is dropped
    // by the queue itself when it lists it (it checks the comment is still held).
    if let Err(e) = state.moderation.held_resolved(video, comment).await {
        tracing::warn!(%video, comment, error = %e, "held comment left in the queue");
    }
}

/// The video's owner only (or an admin).
async fn owner_context(
    state: &AppState,
    user: &AuthUser,
    raw: &str,
) -> Result<VideoView, ApiError> {
    let (video, viewer, _) = context(state, Some(&user.0), raw).await?;
    if !Viewer::may_edit(viewer, &video) {
        return Err(ApiError::forbidden("only the video's owner may do this"));
    }
    Ok(video)
}

/// Pins a top-level comment (the video's owner); it comes first on the first page. Pinning
/// another unpins the first.
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Video id"), ("comment_id" = String, Path, description = "Comment id")), responses(
    (status = 204, description = "Pinned"),
    (status = 403, description = "`forbidden`: not the video's owner", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found` or `comment_not_found` (also a held or deleted one)", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_comment`: a reply cannot be pinned", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/videos/{id}/comments/{comment_id}/pin")]
pub async fn pin(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (raw, comment) = path.into_inner();
    let video = owner_context(&state, &user, &raw).await?;
    state
        .comments
        .apply(video.id, CommentsRequest::Pin(Some(comment)))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Unpins the comment (the video's owner); nothing happens if it is not the pinned one.
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Video id"), ("comment_id" = String, Path, description = "Comment id")), responses(
    (status = 204, description = "Not pinned (any more)"),
    (status = 403, description = "`forbidden`: not the video's owner", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found` or `comment_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/videos/{id}/comments/{comment_id}/pin")]
pub async fn unpin(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (raw, comment) = path.into_inner();
    let video = owner_context(&state, &user, &raw).await?;
    let c = state
        .comments
        .get(video.id, &comment)
        .await?
        .ok_or(CommentError::NotFound)?;
    if c.pinned {
        match state
            .comments
            .apply(video.id, CommentsRequest::Pin(None))
            .await
        {
            Ok(_) | Err(CommentError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The video's staff only: its owner, admins (and moderators).
async fn staff_context(
    state: &AppState,
    user: &AuthUser,
    raw: &str,
) -> Result<VideoView, ApiError> {
    let (video, _, staff) = context(state, Some(&user.0), raw).await?;
    if !staff {
        return Err(ApiError::forbidden(
            "only the video's owner or a moderator may do this",
        ));
    }
    Ok(video)
}

/// Approves a held comment (the video's owner, moderators): everyone sees it from now on.
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Video id"), ("comment_id" = String, Path, description = "Comment id")), responses(
    (status = 204, description = "Approved (or was not held)"),
    (status = 403, description = "`forbidden`: not the video's owner or a moderator", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found` or `comment_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/videos/{id}/comments/{comment_id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (raw, comment) = path.into_inner();
    let video = staff_context(&state, &user, &raw).await?;
    let changed = state
        .comments
        .apply(video.id, CommentsRequest::Approve(comment.clone()))
        .await?;
    if changed.changed {
        held_resolved(&state, video.id, &comment).await;
        follow_up_posted(&state, &video, None, &changed);
        super::webhooks::comment_event(&state, &video, &changed.view).await;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// A rejection.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectComment {
    /// Also ban the author from commenting on the video's channel.
    #[serde(default)]
    pub ban: bool,
    /// Why (kept with the ban and in the audit log).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Rejects a held comment (the video's owner, moderators): it disappears. With `ban`, its
/// author may no longer comment on the video's channel.
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("id" = Uuid, Path, description = "Video id"), ("comment_id" = String, Path, description = "Comment id")), request_body = RejectComment, responses(
    (status = 204, description = "Rejected"),
    (status = 403, description = "`forbidden`: not the video's owner or a moderator", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found` or `comment_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_comment`: the comment is not held (delete it instead)", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/videos/{id}/comments/{comment_id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
    body: web::Json<RejectComment>,
) -> Result<HttpResponse, ApiError> {
    let (raw, comment) = path.into_inner();
    let b = body.into_inner();
    if b.reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
        return Err(CommentError::Invalid("reason is at most 1,000 characters".into()).into());
    }
    let video = staff_context(&state, &user, &raw).await?;
    let before = state
        .comments
        .get(video.id, &comment)
        .await?
        .ok_or(CommentError::NotFound)?;
    let changed = state
        .comments
        .apply(video.id, CommentsRequest::Reject(comment.clone()))
        .await?;
    if b.ban && !video.channel_id.is_nil() {
        if let Some(author) = before.author {
            if author.id != video.owner_id {
                let ban = troupe_actors::comments::Ban {
                    user_id: author.id,
                    username: author.username,
                    at: chrono::Utc::now(),
                    by: user.0.sub.clone(),
                    reason: b.reason.clone(),
                };
                state
                    .comments
                    .rules(
                        &format!("channel:{}", video.channel_id),
                        troupe_actors::comments::RulesRequest::Ban(ban),
                    )
                    .await?;
            }
        }
    }
    if changed.changed {
        let action = if b.ban {
            "comment.reject_ban"
        } else {
            "comment.reject"
        };
        audit_comment_action(&state, &user.0, action, &comment, b.reason).await?;
        held_resolved(&state, video.id, &comment).await;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Watched-word lists.
#[derive(Debug, serde::Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchedWords {
    /// At most 20 lists of at most 500 words or phrases (1 to 100 characters each), matched
    /// whole and ignoring case; a comment with one is held for review.
    pub lists: Vec<troupe_actors::comments::WordList>,
}

fn checked_lists(
    lists: Vec<troupe_actors::comments::WordList>,
) -> Result<Vec<troupe_actors::comments::WordList>, ApiError> {
    let bad = |d: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_watched_words", d);
    if lists.len() > 20 {
        return Err(bad("at most 20 lists"));
    }
    let mut out = Vec::new();
    for l in lists {
        let name = l.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(bad("a list's name is 1 to 100 characters"));
        }
        if l.words.len() > 500 {
            return Err(bad("at most 500 words per list"));
        }
        let mut words = Vec::new();
        for w in l.words {
            let w = w.trim().to_lowercase();
            if w.is_empty() || w.chars().count() > 100 {
                return Err(bad("a word is 1 to 100 characters"));
            }
            if !words.contains(&w) {
                words.push(w);
            }
        }
        out.push(troupe_actors::comments::WordList { name, words });
    }
    Ok(out)
}

/// A channel's watched words (its owner, admins and moderators).
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("handle" = String, Path, description = "Channel handle")), responses(
    (status = 200, description = "The lists", body = WatchedWords),
    (status = 403, description = "`forbidden`: someone else's channel", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/channels/{handle}/watched-words")]
pub async fn channel_words(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = super::channels::editable(&state, &user, &path).await?;
    let rules = state
        .comments
        .rules_of(&format!("channel:{}", c.id))
        .await?;
    Ok(HttpResponse::Ok().json(WatchedWords { lists: rules.lists }))
}

/// Replaces a channel's watched words (its owner, admins and moderators).
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("handle" = String, Path, description = "Channel handle")), request_body = WatchedWords, responses(
    (status = 200, description = "The lists now", body = WatchedWords),
    (status = 403, description = "`forbidden`: someone else's channel", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_watched_words`", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/channels/{handle}/watched-words")]
pub async fn set_channel_words(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<WatchedWords>,
) -> Result<HttpResponse, ApiError> {
    let lists = checked_lists(body.into_inner().lists)?;
    let c = super::channels::editable(&state, &user, &path).await?;
    let r = state
        .comments
        .rules(
            &format!("channel:{}", c.id),
            troupe_actors::comments::RulesRequest::SetLists(lists),
        )
        .await?;
    Ok(HttpResponse::Ok().json(WatchedWords { lists: r.0.lists }))
}

async fn require_staff(state: &AppState, user: &AuthUser) -> Result<(), ApiError> {
    let v = viewer(state, Some(&user.0)).await?;
    if v.is_some_and(|v| v.staff()) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only moderators and admins may do this",
        ))
    }
}

/// The instance's watched words (moderators and admins).
#[utoipa::path(tag = "comments", security(("bearer" = [])), responses(
    (status = 200, description = "The lists", body = WatchedWords),
    (status = 403, description = "`forbidden`: not a moderator", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/moderation/watched-words")]
pub async fn instance_words(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    require_staff(&state, &user).await?;
    let rules = state.comments.rules_of("instance").await?;
    Ok(HttpResponse::Ok().json(WatchedWords { lists: rules.lists }))
}

/// Replaces the instance's watched words (moderators and admins): they hold comments on
/// every channel.
#[utoipa::path(tag = "comments", security(("bearer" = [])), request_body = WatchedWords, responses(
    (status = 200, description = "The lists now", body = WatchedWords),
    (status = 403, description = "`forbidden`: not a moderator", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_watched_words`", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/moderation/watched-words")]
pub async fn set_instance_words(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<WatchedWords>,
) -> Result<HttpResponse, ApiError> {
    let lists = checked_lists(body.into_inner().lists)?;
    require_staff(&state, &user).await?;
    let r = state
        .comments
        .rules(
            "instance",
            troupe_actors::comments::RulesRequest::SetLists(lists),
        )
        .await?;
    Ok(HttpResponse::Ok().json(WatchedWords { lists: r.0.lists }))
}

/// The accounts banned from commenting on a channel (its owner, admins and moderators).
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("handle" = String, Path, description = "Channel handle")), responses(
    (status = 200, description = "The bans, oldest first", body = Vec<troupe_actors::comments::Ban>),
    (status = 403, description = "`forbidden`: someone else's channel", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/channels/{handle}/bans")]
pub async fn bans(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = super::channels::editable(&state, &user, &path).await?;
    let rules = state
        .comments
        .rules_of(&format!("channel:{}", c.id))
        .await?;
    Ok(HttpResponse::Ok().json(rules.bans))
}

/// Lifts a ban (the channel's owner, admins and moderators); 204 also when there was none.
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("handle" = String, Path, description = "Channel handle"), ("username" = String, Path, description = "The banned account")), responses(
    (status = 204, description = "Not banned (any more)"),
    (status = 403, description = "`forbidden`: someone else's channel", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`channel_not_found` or `user_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/channels/{handle}/bans/{username}")]
pub async fn unban(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (handle, name) = path.into_inner();
    let c = super::channels::editable(&state, &user, &handle).await?;
    let target = account(&state, &name).await?;
    state
        .comments
        .rules(
            &format!("channel:{}", c.id),
            troupe_actors::comments::RulesRequest::Unban(target.id),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn account(
    state: &AppState,
    name: &str,
) -> Result<troupe_actors::accounts::UserView, ApiError> {
    state
        .accounts
        .get(&name.to_lowercase())
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no such user"))
}

/// A muted account.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Muted {
    /// Its id.
    pub id: Uuid,
    /// Its username.
    pub username: String,
}

/// The accounts the caller muted: their comments are left out of the caller's listings and
/// live streams.
#[utoipa::path(tag = "comments", security(("bearer" = [])), responses(
    (status = 200, description = "The muted accounts", body = Vec<Muted>),
))]
#[get("/api/v1/users/me/mutes")]
pub async fn mutes(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let rules = state
        .comments
        .rules_of(&format!("mutes:{}", user.0.uid))
        .await?;
    let muted: Vec<Muted> = rules
        .muted
        .into_iter()
        .map(|(id, username)| Muted { id, username })
        .collect();
    Ok(HttpResponse::Ok().json(muted))
}

/// Mutes an account: from now on the caller sees none of its comments.
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("username" = String, Path, description = "The account to mute")), responses(
    (status = 204, description = "Muted"),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[put("/api/v1/users/me/mutes/{username}")]
pub async fn mute(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let target = account(&state, &path).await?;
    state
        .comments
        .rules(
            &format!("mutes:{}", user.0.uid),
            troupe_actors::comments::RulesRequest::Mute(target.id, target.username),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Unmutes an account.
#[utoipa::path(tag = "comments", security(("bearer" = [])), params(("username" = String, Path, description = "The account to unmute")), responses(
    (status = 204, description = "Not muted (any more)"),
    (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/users/me/mutes/{username}")]
pub async fn unmute(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let target = account(&state, &path).await?;
    state
        .comments
        .rules(
            &format!("mutes:{}", user.0.uid),
            troupe_actors::comments::RulesRequest::Unmute(target.id),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
