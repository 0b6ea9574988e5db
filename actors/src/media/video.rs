//! The video actor: one video's metadata, owner, visibility, processing state and renditions.
//!
//! ```text
//! awaiting_upload ──Attach──▶ uploading ──Queued──▶ queued ──Progress──▶ processing(pct)
//!        ▲                        │  ▲                 ▲                    │
//!        └── (a new Attach replaces the upload) ───────┴──(retry)───────────┤
//!                                                           ready ◀──Ready──┤
//!                                                          failed ◀─Failed──┘
//! ```
//!
//! The processing requests (`Attach`, `Queued`, `Progress`, `Ready`, `Failed`) come from the
//! upload actor and name their upload: one for an upload the video no longer expects is
//! answered [`VideoError::Superseded`] and changes nothing. Every change bumps `version`, so
//! that event streams can tell what is new. Creation and deletion are written through
//! ([`Ctx::save`]); everything else is staged (group commit). A change is announced to the
//! event streams and the catalogue only once it is durable ([`Ctx::after_durable`]), so a
//! client that reads the video on hearing of version N gets version N or newer.

pub use crate::events::{VideoStatus, VideoView, Visibility};

use crate::events::{EventHub, Rendition};
use crate::inbox::follow::{FanoutMark, FollowUp, FollowUps, FollowedUp};
use crate::inbox::NotificationKind;
use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use troupe_runtime::{Ctx, Entity};
use uuid::Uuid;

/// The actor kind `video`, keyed by the video id.
pub struct VideoActor;

/// The durable state of a video.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoState {
    /// The video id (also the actor key).
    pub id: Uuid,
    /// The owner's user key (normalised username).
    pub owner: String,
    /// The owner's user id, so that a re-registered name is not the owner.
    pub owner_id: Uuid,
    /// The channel it belongs to (nil in a video stored before channels existed, until the
    /// start-up migration sets it).
    #[serde(default)]
    pub channel_id: Uuid,
    /// That channel's handle.
    #[serde(default)]
    pub channel: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Tags, lowercase.
    pub tags: Vec<String>,
    /// Who may see it.
    pub visibility: Visibility,
    /// Where it is in its life.
    pub status: VideoStatus,
    /// Transcoding progress in percent, while processing.
    pub progress: f64,
    /// Why it failed, for a human.
    pub failure_reason: Option<String>,
    /// The HLS renditions, tallest first, once ready.
    pub renditions: Vec<Rendition>,
    /// Duration in seconds, once ready.
    pub duration_secs: Option<f64>,
    /// Whether a poster thumbnail exists.
    pub has_poster: bool,
    /// The upload the video expects its bytes from.
    pub upload: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Bumped on every change.
    pub version: u64,
    /// Deletion has begun: the video is gone for clients, and its blobs are being removed.
    pub deleting: bool,
    /// What reaching ready or failed (or ready and public) still owes: the owner's notice
    /// and the fan-out, until they are known to be done (see [`crate::inbox::follow`]).
    #[serde(default)]
    pub follow_up: FollowUp,
    /// Set while a moderator hides the video.
    #[serde(default)]
    pub hidden: Option<crate::events::Hidden>,
}

impl VideoState {
    /// The channel whose subscribers hear of this video; `None` for a video stored before
    /// channels existed that the migration has not reached yet (no fan-out starts for it).
    pub fn channel_for_fanout(&self) -> Option<Uuid> {
        (!self.channel_id.is_nil()).then_some(self.channel_id)
    }
}

impl VideoState {
    /// The API view.
    pub fn view(&self) -> VideoView {
        VideoView {
            id: self.id,
            owner: self.owner.clone(),
            owner_id: self.owner_id,
            channel_id: self.channel_id,
            channel: self.channel.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            tags: self.tags.clone(),
            visibility: self.visibility,
            state: self.status,
            progress: self.progress,
            failure_reason: self.failure_reason.clone(),
            renditions: self.renditions.clone(),
            duration_secs: self.duration_secs,
            has_poster: self.has_poster,
            upload_id: self.upload,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            hidden: self.hidden.clone(),
        }
    }
}

/// A new video, validated by the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewVideo {
    /// The id, chosen by the caller so that a retried creation is recognised.
    pub id: Uuid,
    /// The owner's user key.
    pub owner: String,
    /// The owner's user id.
    pub owner_id: Uuid,
    /// The channel (the caller checked that the owner owns it).
    pub channel_id: Uuid,
    /// The channel's handle.
    pub channel: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Visibility.
    pub visibility: Visibility,
}

/// A metadata change, validated by the caller; `None` leaves a field alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VideoPatch {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New visibility.
    pub visibility: Option<Visibility>,
}

/// What a finished transcode produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Processed {
    /// The renditions, tallest first.
    pub renditions: Vec<Rendition>,
    /// Duration in seconds.
    pub duration_secs: f64,
    /// Whether a poster was stored.
    pub has_poster: bool,
}

/// Requests to the video actor. All idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum VideoRequest {
    /// Creates the video.
    Create(NewVideo),
    /// The video.
    Get,
    /// Changes metadata.
    Update(VideoPatch),
    /// Starts deletion: from now on the video is gone for clients. Answers the last view, so
    /// that the caller knows which blobs to remove.
    BeginDelete,
    /// Ends deletion: the state is removed. Only after `BeginDelete`.
    FinishDelete,
    /// An upload starts (or replaces the previous one).
    Attach {
        /// The upload.
        upload: Uuid,
    },
    /// The upload is complete and waits for a transcoder (also after a failed attempt that
    /// will be retried).
    Queued {
        /// The upload.
        upload: Uuid,
    },
    /// A failed video's upload is queued again (its owner retried).
    Retry {
        /// The upload.
        upload: Uuid,
    },
    /// Transcoding progress.
    Progress {
        /// The upload.
        upload: Uuid,
        /// Percent, 0–100.
        percent: f64,
    },
    /// Transcoding finished.
    Ready {
        /// The upload.
        upload: Uuid,
        /// What it produced.
        processed: Processed,
    },
    /// Puts a video stored before channels existed in its owner's default channel (the
    /// start-up migration). A video that has a channel keeps it.
    SetChannel {
        /// The channel.
        channel_id: Uuid,
        /// Its handle.
        channel: String,
    },
    /// Transcoding failed for good.
    Failed {
        /// The upload.
        upload: Uuid,
        /// Why, for a human.
        reason: String,
    },
    /// Part of what the video owed is done (from its follow-up task).
    FollowedUp(FollowedUp),
    /// A moderator hides (`Some`) or shows again (`None`) the video; a hidden video keeps
    /// its first reason.
    SetHidden(Option<crate::events::Hidden>),
}

/// Why a video request failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum VideoError {
    /// No such video (or it is being deleted).
    #[error("no such video")]
    NotFound,
    /// The request does not fit the video's state; the text says why.
    #[error("{0}")]
    Conflict(String),
    /// The request names an upload the video no longer expects.
    #[error("the video now expects another upload")]
    Superseded,
    /// The state could not be written; nothing changed.
    #[error("state store error: {0}")]
    Store(String),
}

/// Answers of the video actor.
#[derive(Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // answers are moved once, not stored
pub enum VideoResponse {
    /// The video after the request.
    Video(Result<VideoView, VideoError>),
    /// Done.
    Done(Result<(), VideoError>),
}

/// What the video actor needs from its surroundings.
#[derive(Clone)]
pub struct VideoArgs {
    /// Where changes are announced to this node's event streams.
    pub events: EventHub,
    /// Where the owner's notices and fan-outs go.
    pub follow_ups: FollowUps,
}

impl Entity for VideoActor {
    const KIND: &'static str = "video";
    const SCHEMA: u8 = 1;
    type State = VideoState;
    type Request = VideoRequest;
    type Response = VideoResponse;
    type Args = VideoArgs;

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: VideoRequest,
    ) -> Result<VideoResponse, ActorProcessingErr> {
        if ctx.first_request() {
            // A process that died after a change was durable but before its follow-ups were
            // done left them owed: do them now (they are idempotent).
            if let Some(s) = ctx.state().filter(|s| s.follow_up.owed() && !s.deleting) {
                let (view, channel, owed) = (s.view(), s.channel_for_fanout(), s.follow_up);
                ctx.args().follow_ups.spawn(view, channel, owed);
            }
        }
        Ok(match req {
            VideoRequest::Create(new) => VideoResponse::Video(create(ctx, new).await),
            VideoRequest::Get => VideoResponse::Video(match ctx.state() {
                Some(s) if !s.deleting => Ok(s.view()),
                _ => Err(VideoError::NotFound),
            }),
            VideoRequest::BeginDelete => VideoResponse::Video(begin_delete(ctx).await),
            VideoRequest::FinishDelete => VideoResponse::Done(match ctx.state() {
                None => Ok(()),
                Some(s) if !s.deleting => {
                    Err(VideoError::Conflict("deletion has not begun".into()))
                }
                Some(_) => ctx
                    .remove()
                    .await
                    .map_err(|e| VideoError::Store(e.to_string())),
            }),
            other => VideoResponse::Video(change(ctx, other)),
        })
    }

    /// What `Get` answers, for reads on this node without a call: the view, or `None` when
    /// the video does not exist or is being deleted (an `Option<VideoView>`).
    fn snapshot(state: Option<&VideoState>) -> Option<troupe_runtime::Snapshot> {
        let view: Option<VideoView> = state.filter(|s| !s.deleting).map(VideoState::view);
        Some(std::sync::Arc::new(view))
    }
}

async fn create(ctx: &mut Ctx<VideoActor>, new: NewVideo) -> Result<VideoView, VideoError> {
    if let Some(s) = ctx.state() {
        // A retry of the creation that made this video; ids are random, so nothing else.
        return if s.owner_id == new.owner_id && !s.deleting {
            Ok(s.view())
        } else {
            Err(VideoError::Conflict("that video id is taken".into()))
        };
    }
    let now = Utc::now();
    let state = VideoState {
        id: new.id,
        owner: new.owner,
        owner_id: new.owner_id,
        channel_id: new.channel_id,
        channel: new.channel,
        title: new.title,
        description: new.description,
        tags: new.tags,
        visibility: new.visibility,
        status: VideoStatus::AwaitingUpload,
        progress: 0.0,
        failure_reason: None,
        renditions: Vec::new(),
        duration_secs: None,
        has_poster: false,
        upload: None,
        created_at: now,
        updated_at: now,
        version: 1,
        deleting: false,
        follow_up: FollowUp::default(),
        hidden: None,
    };
    let view = state.view();
    ctx.save(state)
        .await
        .map_err(|e| VideoError::Store(e.to_string()))?;
    ctx.args().events.publish(&view);
    Ok(view)
}

async fn begin_delete(ctx: &mut Ctx<VideoActor>) -> Result<VideoView, VideoError> {
    let Some(mut s) = ctx.state().cloned() else {
        return Err(VideoError::NotFound);
    };
    if s.deleting {
        // A retried or resumed deletion.
        return Ok(s.view());
    }
    s.deleting = true;
    s.version += 1;
    s.updated_at = Utc::now();
    let view = s.view();
    ctx.save(s)
        .await
        .map_err(|e| VideoError::Store(e.to_string()))?;
    ctx.args().events.closed(view.id);
    Ok(view)
}

/// Applies a metadata or processing change, staged.
fn change(ctx: &mut Ctx<VideoActor>, req: VideoRequest) -> Result<VideoView, VideoError> {
    let Some(mut s) = ctx.state().filter(|s| !s.deleting).cloned() else {
        return Err(VideoError::NotFound);
    };
    let expects = |s: &VideoState, upload: Uuid| {
        if s.upload == Some(upload) {
            Ok(())
        } else {
            Err(VideoError::Superseded)
        }
    };
    let before = (s.status, s.progress, s.version);
    let before_follow_up = s.follow_up;
    use VideoStatus as St;
    if let VideoRequest::FollowedUp(done) = req {
        // Not a change clients see: no new version, nothing announced.
        let mut owed = s.follow_up;
        if done.owner_notice.is_some() && owed.owner_notice == done.owner_notice {
            owed.owner_notice = None;
        }
        if done.fanout && owed.fanout == FanoutMark::Pending {
            owed.fanout = FanoutMark::Started;
        }
        if owed != s.follow_up {
            s.follow_up = owed;
            ctx.stage(s.clone());
        }
        return Ok(s.view());
    }
    match req {
        VideoRequest::SetHidden(h) => {
            if s.hidden.is_some() != h.is_some() {
                s.hidden = h;
                s.version += 1;
            }
        }
        VideoRequest::Update(p) => {
            if let Some(t) = p.title {
                s.title = t;
            }
            if let Some(d) = p.description {
                s.description = d;
            }
            if let Some(t) = p.tags {
                s.tags = t;
            }
            if let Some(v) = p.visibility {
                s.visibility = v;
            }
            s.version += 1;
        }
        VideoRequest::Attach { upload } => {
            if s.upload == Some(upload) {
                return Ok(s.view());
            }
            match s.status {
                St::AwaitingUpload | St::Uploading | St::Failed => {}
                St::Queued | St::Processing | St::Ready => return Err(VideoError::Conflict(
                    "the video already has its upload; create a new video to upload another file"
                        .into(),
                )),
            }
            s.upload = Some(upload);
            s.status = St::Uploading;
            s.progress = 0.0;
            s.failure_reason = None;
            s.renditions.clear();
            s.duration_secs = None;
            s.has_poster = false;
            s.version += 1;
        }
        VideoRequest::Queued { upload } => {
            expects(&s, upload)?;
            match s.status {
                St::Uploading | St::Processing | St::AwaitingUpload => {
                    s.status = St::Queued;
                    s.progress = 0.0;
                    s.version += 1;
                }
                St::Queued | St::Ready | St::Failed => {}
            }
        }
        VideoRequest::Retry { upload } => {
            expects(&s, upload)?;
            if s.status == St::Failed {
                s.status = St::Queued;
                s.progress = 0.0;
                s.failure_reason = None;
                s.version += 1;
            }
        }
        VideoRequest::Progress { upload, percent } => {
            expects(&s, upload)?;
            if matches!(s.status, St::Uploading | St::Queued | St::Processing) {
                let percent = percent.clamp(0.0, 100.0);
                if s.status != St::Processing || (percent - s.progress).abs() >= 0.1 {
                    s.status = St::Processing;
                    s.progress = (percent * 10.0).round() / 10.0;
                    s.version += 1;
                }
            }
        }
        VideoRequest::Ready { upload, processed } => {
            expects(&s, upload)?;
            if s.status != St::Ready {
                s.status = St::Ready;
                s.progress = 100.0;
                s.failure_reason = None;
                s.renditions = processed.renditions;
                s.duration_secs = Some(processed.duration_secs);
                s.has_poster = processed.has_poster;
                s.version += 1;
            }
        }
        VideoRequest::SetChannel {
            channel_id,
            channel,
        } => {
            if s.channel_id.is_nil() {
                s.channel_id = channel_id;
                s.channel = channel;
                s.version += 1;
            }
        }
        VideoRequest::Failed { upload, reason } => {
            expects(&s, upload)?;
            if s.status != St::Failed && s.status != St::Ready {
                s.status = St::Failed;
                s.failure_reason = Some(reason);
                s.version += 1;
            }
        }
        VideoRequest::Create(_)
        | VideoRequest::FollowedUp(_)
        | VideoRequest::Get
        | VideoRequest::BeginDelete
        | VideoRequest::FinishDelete => unreachable!("handled by the caller"),
    }
    let view = s.view();
    if (s.status, s.progress, s.version) != before {
        s.updated_at = Utc::now();
        // What reaching this state owes: the owner's notice, once per reaching ready or
        // failed; the fan-out, the first time the video is ready and public.
        if s.status != before.0 {
            match s.status {
                St::Ready => s.follow_up.owner_notice = Some(NotificationKind::MyVideoReady),
                St::Failed => s.follow_up.owner_notice = Some(NotificationKind::MyVideoFailed),
                _ => {}
            }
        }
        if s.status == St::Ready
            && s.visibility == Visibility::Public
            && s.follow_up.fanout == FanoutMark::No
            && s.channel_for_fanout().is_some()
        {
            s.follow_up.fanout = FanoutMark::Pending;
        }
        let view = s.view();
        let owed = s.follow_up;
        let owes = owed.owed() && owed != before_follow_up;
        let channel = s.channel_for_fanout();
        ctx.stage(s);
        if owes {
            let (follow_ups, video) = (ctx.args().follow_ups.clone(), view.clone());
            ctx.after_durable(move || follow_ups.spawn(video, channel, owed));
        }
        // Announced once durable, so that whoever hears of this version and then reads the
        // video (its snapshot here, or its poster) finds it; never if the write fails.
        let (events, announced) = (ctx.args().events.clone(), view.clone());
        ctx.after_durable(move || events.publish(&announced));
        return Ok(view);
    }
    Ok(view)
}

/// A ready public video's view with `id` as every id, at `version`, for unit tests.
#[cfg(test)]
pub(crate) fn sample_view(id: Uuid, version: u64) -> VideoView {
    let mut v: VideoView = serde_json::from_value(serde_json::json!({
        "id": id, "owner_id": id, "owner": "a", "channel_id": id, "title": "t",
        "description": "", "tags": [], "visibility": "public", "state": "ready",
        "progress": 1.0, "renditions": [], "has_poster": false,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "version": 1
    }))
    .expect("a view");
    v.version = version;
    v
}
