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
    VideoState, VideoView, Visibility,
};
use crate::events::EventHub;
use crate::inbox::follow::{FollowUps, FollowedUp};
use crate::inbox::Notifier;
use std::sync::Arc;
use std::time::Duration;
use troupe_runtime::blob::BlobStore;
use troupe_runtime::store::StateStore;
use troupe_runtime::{codec, CallError, Directory, Entity, System};
use uuid::Uuid;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;
/// Most tags per video.
pub const MAX_TAGS: usize = 16;
/// Longest tag, in characters.
pub const MAX_TAG: usize = 40;

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
    /// Whether they moderate (moderators and admins).
    pub moderator: bool,
}

impl Viewer {
    /// Whether they are staff (a moderator or an admin).
    pub fn staff(self) -> bool {
        self.admin || self.moderator
    }

    /// Whether this viewer may see `v` (and play it), as far as the video alone says; the
    /// whole rule, with suspended owners, is `crate::moderation::Moderation::may_see`.
    pub fn may_see(viewer: Option<Viewer>, v: &VideoView) -> bool {
        let own = viewer.is_some_and(|w| w.id == v.owner_id);
        (v.visibility != Visibility::Private || own || viewer.is_some_and(|w| w.admin))
            && (v.hidden.is_none() || own || viewer.is_some_and(Viewer::staff))
    }

    /// Whether this viewer may change `v`.
    pub fn may_edit(viewer: Option<Viewer>, v: &VideoView) -> bool {
        viewer.is_some_and(|w| w.admin || w.id == v.owner_id)
    }
}

/// Videos and uploads. Cheap to clone.
#[derive(Clone)]
pub struct Media {
    videos: Directory<VideoActor>,
    uploads: Directory<UploadActor>,
    jobs: Jobs,
    events: EventHub,
    follow_ups: FollowUps,
    blobs: BlobStore,
    store: Arc<dyn StateStore>,
    shared: Arc<SharedViews>,
    _sweeper: Arc<SweeperHandle>,
}

/// Stripes of [`SharedViews`].
const SHARED_STRIPES: usize = 16;
/// At most this many active videos' shared views are kept.
const SHARED_MAX: usize = 4_096;

/// Active videos' snapshots as shared views: the same `Arc` for as long as the actor's
/// snapshot is the same one, so that what a listing derives from a view (its JSON, kept by the
/// HTTP layer while the `Arc` is the same) is kept for active videos too. Without it each
/// listing cloned a new view of every active video and re-encoded it, and kept the encoding
/// for nothing (`benches/load/cpu_budget.sh`: the latest 20, all active, cost 146 µs against
/// 124 before the encodings were kept). Only derived from the snapshot: a new snapshot, a
/// new view. Holds the snapshot weakly (its address cannot be reused while held).
struct SharedViews(Box<[std::sync::Mutex<SharedStripe>]>);

type SharedStripe =
    std::collections::HashMap<Uuid, (std::sync::Weak<Option<VideoView>>, Arc<VideoView>)>;

impl SharedViews {
    fn new() -> Self {
        Self((0..SHARED_STRIPES).map(|_| Default::default()).collect())
    }

    /// The shared view of the snapshot `snap` of video `id` (none if it is gone).
    fn view(&self, id: Uuid, snap: &Arc<Option<VideoView>>) -> Option<Arc<VideoView>> {
        let v = snap.as_ref().as_ref()?;
        let stripe = &self.0[(id.as_u128() % SHARED_STRIPES as u128) as usize];
        let mut kept = stripe.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, view)) = kept.get(&id) {
            if std::ptr::eq(seen.as_ptr(), Arc::as_ptr(snap)) {
                return Some(view.clone());
            }
        }
        let view = Arc::new(v.clone());
        if kept.len() >= SHARED_MAX / SHARED_STRIPES && !kept.contains_key(&id) {
            if let Some(k) = kept.keys().next().copied() {
                kept.remove(&k);
            }
        }
        kept.insert(id, (Arc::downgrade(snap), view.clone()));
        Some(view)
    }
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
        let follow_ups = FollowUps::default();
        let videos = Directory::<VideoActor>::start(
            system,
            VideoArgs {
                events: events.clone(),
                follow_ups: follow_ups.clone(),
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
            follow_ups,
            blobs,
            store: system.store().clone(),
            shared: Arc::new(SharedViews::new()),
            _sweeper: Arc::new(SweeperHandle(sweeper)),
        })
    }

    /// Connects the video actors to the notifier: from now on a video that becomes ready or
    /// fails notifies its owner, and one that becomes ready and public starts its fan-out.
    pub fn set_notifier(&self, notifier: Notifier) {
        let videos = self.videos.clone();
        self.follow_ups.set(
            notifier,
            Arc::new(move |id: Uuid, done: FollowedUp| {
                let videos = videos.clone();
                Box::pin(async move {
                    let req = VideoRequest::FollowedUp(done);
                    if let Err(e) = videos.call(&id.to_string(), req).await {
                        // The mark stays: the video's next activation does it again.
                        tracing::debug!(video = %id, error = %e, "could not record a follow-up");
                    }
                })
            }),
        );
    }

    /// Connects the video actors to the webhooks (`video.ready`, `video.failed`).
    pub fn set_webhooks(&self, webhooks: crate::webhooks::Webhooks) {
        self.follow_ups.set_webhooks(webhooks);
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

    /// Creates a video owned by `owner`, in `channel` (id, handle; the caller checked that
    /// `owner` owns it).
    pub async fn create_video(
        &self,
        owner: &str,
        owner_id: Uuid,
        channel: (Uuid, &str),
        input: VideoInput,
    ) -> Result<VideoView, MediaError> {
        let patch = validate(input, true)?;
        let new = NewVideo {
            id: Uuid::now_v7(),
            owner: owner.to_owned(),
            owner_id,
            channel_id: channel.0,
            channel: channel.1.to_owned(),
            title: patch.title.unwrap_or_default(),
            description: patch.description.unwrap_or_default(),
            tags: patch.tags.unwrap_or_default(),
            visibility: patch.visibility.unwrap_or(Visibility::Public),
        };
        self.video_call(new.id, VideoRequest::Create(new.clone()))
            .await
    }

    /// Puts a video stored before channels existed in `channel` (id, handle); a video that
    /// has a channel keeps it. For the start-up migration.
    pub async fn set_channel(
        &self,
        id: Uuid,
        channel: (Uuid, &str),
    ) -> Result<VideoView, MediaError> {
        let req = VideoRequest::SetChannel {
            channel_id: channel.0,
            channel: channel.1.to_owned(),
        };
        self.video_call(id, req).await
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

    /// A video as a listing shows it: the active actor's snapshot when there is one here;
    /// else, with a store on this node (sled), its durable state read directly, which holds
    /// every acknowledged change, without activating an actor per listed video; else (a
    /// shared store) a call to the actor on its owner node.
    pub async fn peek(&self, id: Uuid) -> Result<VideoView, MediaError> {
        self.peek_shared(id).await.map(Arc::unwrap_or_clone)
    }

    /// [`Media::peek`], shared: a view kept for listings comes as the same `Arc` until the
    /// video changes (so what is derived from it may be kept with it).
    pub async fn peek_shared(&self, id: Uuid) -> Result<Arc<VideoView>, MediaError> {
        if let Some(snap) = self.videos.snapshot::<Option<VideoView>>(&id.to_string()) {
            return self
                .shared
                .view(id, &snap)
                .ok_or(MediaError::Video(VideoError::NotFound));
        }
        if self.store.backend() != "s3" {
            // On a store of this node alone (sled), every actor of the store runs here and
            // announces its changes to this hub before it answers: a kept view is the newest
            // acknowledged one. On a shared store (the bucket) other nodes' actors change
            // videos unannounced here, so nothing is kept.
            let cache =
                matches!(self.store.backend(), "sled" | "memory").then(|| self.events.views());
            if let Some(v) = cache.and_then(|c| c.get(id)) {
                return Ok(v);
            }
            let ticket = cache.map(|c| c.ticket(id));
            let key = format!("{}/{id}", VideoActor::KIND);
            let stored = self
                .store
                .get(&key)
                .await
                .map_err(|e| MediaError::Store(e.to_string()))?;
            return match stored {
                None => Err(MediaError::Video(VideoError::NotFound)),
                Some(v) => {
                    let s = codec::decode::<VideoState>(VideoActor::SCHEMA, &v.value)
                        .map_err(|e| MediaError::Store(e.to_string()))?;
                    if s.deleting {
                        Err(MediaError::Video(VideoError::NotFound))
                    } else {
                        let view = Arc::new(s.view());
                        if let (Some(c), Some(t)) = (cache, ticket) {
                            c.fill(t, view.clone());
                        }
                        Ok(view)
                    }
                }
            };
        }
        self.video_call(id, VideoRequest::Get).await.map(Arc::new)
    }

    /// Changes a video's metadata.
    pub async fn update_video(&self, id: Uuid, input: VideoInput) -> Result<VideoView, MediaError> {
        let patch = validate(input, false)?;
        self.video_call(id, VideoRequest::Update(patch)).await
    }

    /// Hides (`Some`) or shows again (`None`) a video, for moderators. Idempotent.
    pub async fn set_hidden(
        &self,
        id: Uuid,
        hidden: Option<crate::events::Hidden>,
    ) -> Result<VideoView, MediaError> {
        self.video_call(id, VideoRequest::SetHidden(hidden)).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(id: Uuid, version: u64) -> Arc<Option<VideoView>> {
        Arc::new(Some(super::super::video::sample_view(id, version)))
    }

    #[test]
    fn a_snapshot_gives_the_same_view_until_the_actor_publishes_another() {
        let shared = SharedViews::new();
        let id = Uuid::now_v7();
        let first = snapshot(id, 1);
        let a = shared.view(id, &first).expect("a view");
        let b = shared.view(id, &first).expect("a view");
        assert!(Arc::ptr_eq(&a, &b), "the same snapshot made a second view");
        let second = snapshot(id, 2);
        let c = shared.view(id, &second).expect("a view");
        assert!(!Arc::ptr_eq(&a, &c), "a new snapshot kept the old view");
        assert_eq!(c.version, 2);
        // The old snapshot dropped and its memory reused: still a view of the current one.
        drop(first);
        let third = snapshot(id, 3);
        assert_eq!(shared.view(id, &third).map(|v| v.version), Some(3));
        assert!(
            shared.view(id, &Arc::new(None)).is_none(),
            "a gone video has a view"
        );
    }

    #[test]
    fn the_shared_views_stay_bounded() {
        let shared = SharedViews::new();
        let kept: Vec<_> = (0..SHARED_MAX * 2)
            .map(|_| {
                let id = Uuid::new_v4();
                let s = snapshot(id, 1);
                shared.view(id, &s);
                s
            })
            .collect();
        let held: usize = shared.0.iter().map(|s| s.lock().expect("lock").len()).sum();
        assert!(held <= SHARED_MAX, "{held} views held");
        drop(kept);
    }
}
