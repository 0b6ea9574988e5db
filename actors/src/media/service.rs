//! [`Media`]: what the HTTP layer calls for videos and uploads. It validates input, calls the
//! actors, and does the blob work that does not belong in a handler (deleting a video's
//! blobs).

use super::jobs::{JobSettings, Jobs};
use super::layout;
use super::upload::{
    NewUpload, UploadActor, UploadArgs, UploadError, UploadPolicy, UploadRequest, UploadResponse,
    UploadView,
};
use super::video::{
    NewVideo, VideoActor, VideoArgs, VideoError, VideoPatch, VideoRequest, VideoResponse,
    VideoState, VideoStatus, VideoView, Visibility,
};
use crate::events::EventHub;
use std::sync::Arc;
use std::time::Duration;
use troupe_runtime::blob::BlobStore;
use troupe_runtime::codec;
use troupe_runtime::{CallError, Directory, Entity, System};
use uuid::Uuid;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;
/// Most tags per video.
pub const MAX_TAGS: usize = 16;
/// Longest tag, in characters.
pub const MAX_TAG: usize = 40;
/// Largest page of a listing.
pub const MAX_PAGE: usize = 100;

/// Everything [`Media::start`] needs.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// How transcode runs are done.
    pub jobs: JobSettings,
    /// Upload and job limits.
    pub policy: UploadPolicy,
    /// How often the sweeper runs.
    pub sweep_every: Duration,
    /// How often event watchers poll a video that lives on another node.
    pub events_poll: Duration,
}

/// Why a media operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MediaError {
    /// A field is invalid.
    #[error("{field} {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The cursor is not one this server gave out.
    #[error("the cursor is not valid")]
    BadCursor,
    /// The video refused.
    #[error("{0}")]
    Video(VideoError),
    /// The upload refused.
    #[error("{0}")]
    Upload(UploadError),
    /// An actor could not be reached.
    #[error("{0}")]
    Unavailable(CallError),
    /// A store failed.
    #[error("storage error: {0}")]
    Store(String),
}

impl From<CallError> for MediaError {
    fn from(e: CallError) -> Self {
        MediaError::Unavailable(e)
    }
}

/// Metadata as a client sends it, before validation.
#[derive(Debug, Clone, Default)]
pub struct VideoInput {
    /// Title (required on creation).
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Tags.
    pub tags: Option<Vec<String>>,
    /// Visibility.
    pub visibility: Option<Visibility>,
}

/// Who is asking, for what they may see.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    /// The user id.
    pub id: Uuid,
    /// Whether they are an admin.
    pub admin: bool,
}

impl Viewer {
    /// Whether this viewer may see `v` (and play it).
    pub fn may_see(viewer: Option<Viewer>, v: &VideoView) -> bool {
        v.visibility != Visibility::Private || viewer.is_some_and(|w| w.admin || w.id == v.owner_id)
    }

    /// Whether this viewer may change `v`.
    pub fn may_edit(viewer: Option<Viewer>, v: &VideoView) -> bool {
        viewer.is_some_and(|w| w.admin || w.id == v.owner_id)
    }
}

/// A listing query.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Page size (1–100; default 20).
    pub limit: Option<usize>,
    /// Where the previous page ended.
    pub cursor: Option<String>,
    /// Only videos with this tag.
    pub tag: Option<String>,
    /// Only videos of this owner (user key).
    pub owner: Option<String>,
    /// Words that must all appear in the title, description or tags.
    pub q: Option<String>,
    /// Only videos in this state (admins list failed videos with it).
    pub state: Option<VideoStatus>,
}

/// A page of a listing.
#[derive(Debug, Clone)]
pub struct Page {
    /// The videos, newest first.
    pub items: Vec<VideoView>,
    /// Pass it back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Videos and uploads. Cheap to clone.
#[derive(Clone)]
pub struct Media {
    videos: Directory<VideoActor>,
    uploads: Directory<UploadActor>,
    jobs: Jobs,
    events: EventHub,
    blobs: BlobStore,
    system: System,
    _sweeper: Arc<SweeperHandle>,
}

struct SweeperHandle(tokio::task::JoinHandle<()>);

impl Drop for SweeperHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Media {
    /// Starts the video and upload kinds, the runner and the sweeper.
    pub async fn start(
        system: &System,
        blobs: BlobStore,
        settings: MediaSettings,
    ) -> Result<Self, CallError> {
        let events = EventHub::new(settings.events_poll);
        let videos = Directory::<VideoActor>::start(
            system,
            VideoArgs {
                events: events.clone(),
            },
        )
        .await?;
        let jobs = Jobs::new(settings.jobs, system.clone(), blobs.clone());
        let uploads = Directory::<UploadActor>::start(
            system,
            UploadArgs {
                videos: videos.clone(),
                jobs: jobs.clone(),
                policy: Arc::new(settings.policy),
            },
        )
        .await?;
        jobs.set_uploads(uploads.clone());
        let fetch_videos = videos.clone();
        events.set_fetch(Arc::new(move |id: Uuid| {
            let videos = fetch_videos.clone();
            Box::pin(async move {
                match videos.call(&id.to_string(), VideoRequest::Get).await {
                    Ok(VideoResponse::Video(Ok(v))) => Some(Some(v)),
                    Ok(_) => Some(None),
                    Err(_) => None,
                }
            })
        }));
        let sweeper = jobs.start_sweeper(settings.sweep_every);
        Ok(Self {
            videos,
            uploads,
            jobs,
            events,
            blobs,
            system: system.clone(),
            _sweeper: Arc::new(SweeperHandle(sweeper)),
        })
    }

    /// This node's event hub.
    pub fn events(&self) -> &EventHub {
        &self.events
    }

    /// This node's transcode runner.
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    async fn video_call(&self, id: Uuid, req: VideoRequest) -> Result<VideoView, MediaError> {
        match self.videos.call(&id.to_string(), req).await? {
            VideoResponse::Video(r) => r.map_err(MediaError::Video),
            VideoResponse::Done(_) => Err(MediaError::Store(
                "unexpected answer from the video actor".into(),
            )),
        }
    }

    async fn upload_call(
        &self,
        id: Uuid,
        req: UploadRequest,
    ) -> Result<Option<UploadView>, MediaError> {
        match self.uploads.call(&id.to_string(), req).await? {
            UploadResponse::Upload(r) => r.map(Some).map_err(MediaError::Upload),
            UploadResponse::Done(r) => r.map(|()| None).map_err(MediaError::Upload),
            UploadResponse::Finished(_) => Err(MediaError::Store(
                "unexpected answer from the upload actor".into(),
            )),
        }
    }

    /// Creates a video owned by `owner`.
    pub async fn create_video(
        &self,
        owner: &str,
        owner_id: Uuid,
        input: VideoInput,
    ) -> Result<VideoView, MediaError> {
        let patch = validate(input, true)?;
        let new = NewVideo {
            id: Uuid::now_v7(),
            owner: owner.to_owned(),
            owner_id,
            title: patch.title.unwrap_or_default(),
            description: patch.description.unwrap_or_default(),
            tags: patch.tags.unwrap_or_default(),
            visibility: patch.visibility.unwrap_or(Visibility::Public),
        };
        self.video_call(new.id, VideoRequest::Create(new.clone()))
            .await
    }

    /// A video.
    pub async fn video(&self, id: Uuid) -> Result<VideoView, MediaError> {
        // The video's activation here publishes what `Get` would answer: no call needed.
        if let Some(view) = self.videos.snapshot::<Option<VideoView>>(&id.to_string()) {
            return view
                .as_ref()
                .clone()
                .ok_or(MediaError::Video(VideoError::NotFound));
        }
        self.video_call(id, VideoRequest::Get).await
    }

    /// Changes a video's metadata.
    pub async fn update_video(&self, id: Uuid, input: VideoInput) -> Result<VideoView, MediaError> {
        let patch = validate(input, false)?;
        self.video_call(id, VideoRequest::Update(patch)).await
    }

    /// Deletes a video and every blob it owns. Safe to repeat after a crash part-way.
    pub async fn delete_video(&self, id: Uuid) -> Result<(), MediaError> {
        let view = self.video_call(id, VideoRequest::BeginDelete).await?;
        let blob_err = |e: troupe_runtime::blob::BlobError| MediaError::Store(e.to_string());
        self.blobs
            .delete_prefix(&layout::video_prefix(id))
            .await
            .map_err(blob_err)?;
        if let Some(upload) = view.upload_id {
            // Stops its job too: the run's next report finds the video gone.
            let _ = self.upload_call(upload, UploadRequest::Terminate).await;
            self.blobs
                .delete_prefix(&layout::upload_prefix(upload))
                .await
                .map_err(blob_err)?;
        }
        match self
            .videos
            .call(&id.to_string(), VideoRequest::FinishDelete)
            .await?
        {
            VideoResponse::Done(r) => r.map_err(MediaError::Video),
            VideoResponse::Video(_) => Ok(()),
        }
    }

    /// Lists videos that `viewer` may see, newest first.
    ///
    /// Public, ready videos are listed for everyone; a viewer also sees every video of their
    /// own (any state or visibility), and admins see everything. Unlisted videos are otherwise
    /// never listed. The listing reads the durable state of every video, so it costs one
    /// store scan: fine for a single node's catalogue (tens of thousands of videos).
    pub async fn list(&self, query: ListQuery, viewer: Option<Viewer>) -> Result<Page, MediaError> {
        let limit = query.limit.unwrap_or(20).clamp(1, MAX_PAGE);
        let after = match &query.cursor {
            Some(c) => Some(parse_cursor(c)?),
            None => None,
        };
        let tag = query.tag.as_deref().map(|t| t.trim().to_lowercase());
        let owner = query.owner.as_deref().map(|o| o.trim().to_lowercase());
        let words: Vec<String> = query
            .q
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let prefix = format!("{}/", VideoActor::KIND);
        let entries = self
            .system
            .store()
            .scan_prefix(&prefix)
            .await
            .map_err(|e| MediaError::Store(e.to_string()))?;
        let mut items: Vec<VideoView> = entries
            .into_iter()
            .filter_map(|(_, v)| codec::decode::<VideoState>(VideoActor::SCHEMA, &v.value).ok())
            .filter(|s| !s.deleting)
            .map(|s| s.view())
            .filter(|v| {
                let mine = viewer.is_some_and(|w| w.admin || w.id == v.owner_id);
                mine || (v.visibility == Visibility::Public && v.state == VideoStatus::Ready)
            })
            .filter(|v| tag.as_ref().is_none_or(|t| v.tags.iter().any(|x| x == t)))
            .filter(|v| owner.as_ref().is_none_or(|o| &v.owner == o))
            .filter(|v| query.state.is_none_or(|st| v.state == st))
            .filter(|v| {
                if words.is_empty() {
                    return true;
                }
                let hay =
                    format!("{} {} {}", v.title, v.description, v.tags.join(" ")).to_lowercase();
                words.iter().all(|w| hay.contains(w.as_str()))
            })
            .filter(|v| after.as_ref().is_none_or(|a| key(v) < *a))
            .collect();
        items.sort_by_key(|v| std::cmp::Reverse(key(v)));
        let next_cursor = (items.len() > limit).then(|| cursor(&items[limit - 1]));
        items.truncate(limit);
        Ok(Page { items, next_cursor })
    }

    /// Creates an upload for a video the caller may edit (the caller checked).
    pub async fn create_upload(
        &self,
        video: Uuid,
        owner_id: Uuid,
        length: u64,
        metadata: Option<String>,
    ) -> Result<UploadView, MediaError> {
        let new = NewUpload {
            id: Uuid::new_v4(),
            video,
            owner_id,
            length,
            metadata,
        };
        self.upload_call(new.id, UploadRequest::Create(new.clone()))
            .await?
            .ok_or_else(|| MediaError::Store("no upload in the answer".into()))
    }

    /// An upload.
    pub async fn upload(&self, id: Uuid) -> Result<UploadView, MediaError> {
        self.upload_call(id, UploadRequest::Get)
            .await?
            .ok_or(MediaError::Upload(UploadError::NotFound))
    }

    /// Appends a durable part.
    pub async fn commit(
        &self,
        id: Uuid,
        patch: Uuid,
        offset: u64,
        len: u64,
        key: String,
    ) -> Result<UploadView, MediaError> {
        self.upload_call(
            id,
            UploadRequest::Commit {
                patch,
                offset,
                len,
                key,
            },
        )
        .await?
        .ok_or(MediaError::Upload(UploadError::NotFound))
    }

    /// Transcodes a failed video again from the source its upload kept (owner or admin: the
    /// caller checked). A video already queued again answers as it is.
    pub async fn retry(&self, id: Uuid) -> Result<VideoView, MediaError> {
        let video = self.video(id).await?;
        let Some(upload) = video.upload_id else {
            return Err(MediaError::Upload(UploadError::NotRetryable(
                "the video has no upload to transcode; upload a file".into(),
            )));
        };
        if video.state != super::video::VideoStatus::Failed {
            return Err(MediaError::Upload(UploadError::NotRetryable(format!(
                "only a failed video can be retried; this one is {}",
                serde_json::json!(video.state)
                    .as_str()
                    .unwrap_or("not failed")
            ))));
        }
        self.upload_call(upload, UploadRequest::Retry).await?;
        self.video(id).await
    }

    /// Terminates an upload and deletes its bytes.
    pub async fn terminate(&self, id: Uuid) -> Result<(), MediaError> {
        self.upload_call(id, UploadRequest::Terminate).await?;
        if let Err(e) = self.blobs.delete_prefix(&layout::upload_prefix(id)).await {
            // The sweeper deletes them later.
            tracing::warn!(upload = %id, error = %e, "could not delete a terminated upload's bytes yet");
        } else {
            let _ = self.upload_call(id, UploadRequest::BlobsDeleted).await;
        }
        Ok(())
    }
}

fn key(v: &VideoView) -> (i64, Uuid) {
    (v.created_at.timestamp_micros(), v.id)
}

fn cursor(v: &VideoView) -> String {
    let (t, id) = key(v);
    format!("{t}.{}", id.simple())
}

fn parse_cursor(c: &str) -> Result<(i64, Uuid), MediaError> {
    let (t, id) = c.split_once('.').ok_or(MediaError::BadCursor)?;
    Ok((
        t.parse().map_err(|_| MediaError::BadCursor)?,
        Uuid::parse_str(id).map_err(|_| MediaError::BadCursor)?,
    ))
}

/// Validates and normalises metadata; `creating` requires a title.
pub fn validate(input: VideoInput, creating: bool) -> Result<VideoPatch, MediaError> {
    let invalid = |field, reason: &str| MediaError::Invalid {
        field,
        reason: reason.to_owned(),
    };
    let title = match input.title {
        Some(t) => {
            let t = t.trim().to_owned();
            if t.is_empty() {
                return Err(invalid("title", "must not be empty"));
            }
            if t.chars().count() > MAX_TITLE {
                return Err(invalid(
                    "title",
                    &format!("must be at most {MAX_TITLE} characters"),
                ));
            }
            if t.chars().any(char::is_control) {
                return Err(invalid("title", "must not contain control characters"));
            }
            Some(t)
        }
        None if creating => return Err(invalid("title", "is required")),
        None => None,
    };
    let description = match input.description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => {
            return Err(invalid(
                "description",
                &format!("must be at most {MAX_DESCRIPTION} characters"),
            ))
        }
        other => other.map(|d| d.trim().to_owned()),
    };
    let tags = match input.tags {
        Some(tags) => {
            if tags.len() > MAX_TAGS {
                return Err(invalid("tags", &format!("must be at most {MAX_TAGS}")));
            }
            let mut out: Vec<String> = Vec::new();
            for t in tags {
                let t = t.trim().to_lowercase();
                if t.is_empty() || t.chars().count() > MAX_TAG {
                    return Err(invalid(
                        "tags",
                        &format!("must each be 1 to {MAX_TAG} characters"),
                    ));
                }
                if t.chars().any(|c| c.is_control() || c == ',') {
                    return Err(invalid(
                        "tags",
                        "must not contain commas or control characters",
                    ));
                }
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            Some(out)
        }
        None => None,
    };
    Ok(VideoPatch {
        title,
        description,
        tags,
        visibility: input.visibility,
    })
}
