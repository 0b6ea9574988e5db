//! The upload actor: one tus upload (length, offset, the parts its bytes are in, expiry) and
//! the transcode job that follows it (attempts, the run in progress and its lease).
//!
//! Bytes never pass through the actor. A PATCH streams its body into a part blob of its own;
//! once that blob is durable, `Commit` appends the part if the offset is still the one the
//! PATCH started from. Of two overlapping PATCHes, the first to commit wins and the other gets
//! `OffsetMismatch` (its part blob is deleted). With the last byte the upload is complete, the
//! video is told, and a transcode run starts on this node ([`super::jobs::Jobs`]). The run
//! reports progress back here; each report renews its lease. A run whose node died (its lease
//! ran out, or on one node its process is gone) is started again by the next `Kick`.

use super::jobs::{Jobs, RunSpec};
use super::video::{Processed, VideoActor, VideoError, VideoRequest, VideoResponse};
use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use troupe_runtime::{CallError, Ctx, Directory, Entity};
use uuid::Uuid;

/// The actor kind `upload`, keyed by the upload id.
pub struct UploadActor;

/// Where an upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Bytes are still expected.
    Uploading,
    /// Every byte has arrived.
    Complete,
    /// The client terminated it.
    Terminated,
    /// It was not finished in time.
    Expired,
}

/// One PATCH's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Where they start in the upload.
    pub offset: u64,
    /// How many.
    pub len: u64,
    /// The blob holding them.
    pub key: String,
}

/// Where the transcode job is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    /// Waiting to run (again), not before `not_before`.
    Queued,
    /// A run is in progress on some node.
    Running {
        /// The run; reports from any other run are refused.
        run: Uuid,
        /// The process that runs it (see [`Jobs::boot`]).
        boot: Uuid,
        /// Another node may take the job over after this, unless the run reports first.
        lease_until: DateTime<Utc>,
    },
    /// Finished; the video is ready.
    Done,
    /// Failed for good; the video says why.
    Failed,
}

/// The transcode job of a complete upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// Where it is.
    pub status: JobStatus,
    /// Failed runs so far.
    pub attempts: u32,
    /// Runs lost with their node or process.
    pub interruptions: u32,
    /// Progress of the current run, 0–1.
    pub progress: f64,
    /// Why the last run failed.
    pub last_error: Option<String>,
    /// A queued job waits until then (backoff after a failure).
    pub not_before: Option<DateTime<Utc>>,
}

/// The durable state of an upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadState {
    /// The upload id (also the actor key).
    pub id: Uuid,
    /// The video the bytes are for.
    pub video: Uuid,
    /// Who may write and see it.
    pub owner_id: Uuid,
    /// Total length in bytes.
    pub length: u64,
    /// Bytes received and durable.
    pub offset: u64,
    /// The `Upload-Metadata` header as the client sent it.
    pub metadata: Option<String>,
    /// The parts, in offset order, covering `0..offset`.
    pub parts: Vec<Part>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// An unfinished upload expires then; every PATCH moves it on.
    pub expires_at: DateTime<Utc>,
    /// Where it is.
    pub status: UploadStatus,
    /// The last PATCH committed, so that a retried commit is recognised.
    pub last_patch: Option<Uuid>,
    /// The transcode job, once complete.
    pub job: Option<Job>,
    /// The parts have been deleted (the upload ended).
    pub blobs_deleted: bool,
}

impl UploadState {
    /// The API view.
    pub fn view(&self) -> UploadView {
        UploadView {
            id: self.id,
            video: self.video,
            owner_id: self.owner_id,
            length: self.length,
            offset: self.offset,
            metadata: self.metadata.clone(),
            expires_at: self.expires_at,
            status: self.status,
            job: self.job.as_ref().map(|j| j.status.clone()),
        }
    }

    /// Whether nothing more will happen to it but clean-up.
    /// Whether its transcode job failed for good.
    pub fn failed(&self) -> bool {
        self.status == UploadStatus::Complete
            && self
                .job
                .as_ref()
                .is_some_and(|j| matches!(j.status, JobStatus::Failed))
    }

    /// Whether nothing more will happen to it: ended, or its job settled.
    pub fn finished(&self) -> bool {
        match self.status {
            UploadStatus::Uploading => false,
            UploadStatus::Terminated | UploadStatus::Expired => true,
            UploadStatus::Complete => self
                .job
                .as_ref()
                .is_none_or(|j| matches!(j.status, JobStatus::Done | JobStatus::Failed)),
        }
    }
}

/// An upload as the tus layer sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadView {
    /// Upload id.
    pub id: Uuid,
    /// Its video.
    pub video: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// Total length.
    pub length: u64,
    /// Durable bytes.
    pub offset: u64,
    /// `Upload-Metadata` as sent.
    pub metadata: Option<String>,
    /// Expiry of an unfinished upload.
    pub expires_at: DateTime<Utc>,
    /// Where it is.
    pub status: UploadStatus,
    /// The transcode job's status.
    pub job: Option<JobStatus>,
}

/// A new upload, validated by the caller (who also checked that the owner owns the video).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewUpload {
    /// The id, chosen by the caller.
    pub id: Uuid,
    /// The video.
    pub video: Uuid,
    /// The owner.
    pub owner_id: Uuid,
    /// Total length.
    pub length: u64,
    /// `Upload-Metadata` as sent.
    pub metadata: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Outcome {
    /// Everything is stored.
    Done(Processed),
    /// It failed; `retryable` says whether another attempt may help.
    Failed {
        /// Why, for a human.
        reason: String,
        /// Whether to try again (within the attempt limit).
        retryable: bool,
    },
}

/// Requests to the upload actor. All idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum UploadRequest {
    /// Creates the upload and attaches it to its video.
    Create(NewUpload),
    /// The upload.
    Get,
    /// Appends a durable part that a PATCH wrote.
    Commit {
        /// The PATCH, so that a retried commit is recognised.
        patch: Uuid,
        /// The offset the PATCH started at.
        offset: u64,
        /// Its length.
        len: u64,
        /// The blob holding its bytes.
        key: String,
    },
    /// tus termination.
    Terminate,
    /// Expires the upload if its time has passed.
    Expire,
    /// The parts have been deleted.
    BlobsDeleted,
    /// Removes a finished, cleaned-up upload whose expiry has passed.
    Forget,
    /// Starts the job's run if it is due (queued, or its run was lost).
    Kick,
    /// Queues a job that failed for good once more, with fresh attempts (the owner asked).
    Retry,
    /// A run's progress (0–1), or just "still alive" while it waits for a slot.
    Progress {
        /// The run.
        run: Uuid,
        /// Progress, if it has started.
        fraction: Option<f64>,
    },
    /// A run ended.
    Finish {
        /// The run.
        run: Uuid,
        /// How.
        outcome: Outcome,
    },
}

/// Why an upload request failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum UploadError {
    /// No such upload.
    #[error("no such upload")]
    NotFound,
    /// It was terminated or has expired.
    #[error("the upload was terminated or has expired")]
    Gone,
    /// The PATCH did not start at the current offset.
    #[error("the upload is at offset {expected}, not {got}")]
    OffsetMismatch {
        /// The current offset.
        expected: u64,
        /// The offset the PATCH claimed.
        got: u64,
    },
    /// More bytes than the declared length.
    #[error("the upload would exceed its declared length of {0} bytes")]
    TooLong(u64),
    /// Every byte has already arrived.
    #[error("the upload is already complete")]
    Complete,
    /// The video refused the upload (deleted, or already has one).
    #[error("{0}")]
    Video(VideoError),
    /// The run reporting is not the job's current run: it must stop.
    #[error("this run has been superseded")]
    Superseded,
    /// The video could not be reached.
    #[error("{0}")]
    Unavailable(CallError),
    /// Only a job that failed can be retried.
    #[error("{0}")]
    NotRetryable(String),
    /// The uploaded source is no longer kept: it must be uploaded again.
    #[error("the uploaded file is no longer kept; upload it again")]
    SourceGone,
    /// The state could not be written; nothing changed.
    #[error("state store error: {0}")]
    Store(String),
}

/// What a finished run should do next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FinishAnswer {
    /// Nothing: the job is done or failed for good.
    Settled,
    /// Try again after this many milliseconds (send `Kick`).
    RetryAfter(u64),
    /// The video is gone: delete what the run stored.
    Orphaned,
    /// Another run owns the job: discard.
    Superseded,
}

/// Answers of the upload actor.
#[derive(Debug, Serialize, Deserialize)]
pub enum UploadResponse {
    /// The upload after the request.
    Upload(Result<UploadView, UploadError>),
    /// Done.
    Done(Result<(), UploadError>),
    /// To `Finish`.
    Finished(FinishAnswer),
}

/// Limits and timings of uploads and jobs.
#[derive(Debug, Clone)]
pub struct UploadPolicy {
    /// An unfinished upload expires this long after its last PATCH.
    pub ttl: Duration,
    /// Failed runs allowed before the job fails for good.
    pub max_attempts: u32,
    /// Lost runs (node or process died) allowed before the job fails for good.
    pub max_interruptions: u32,
    /// A run's lease; it reports well within it.
    pub lease: Duration,
    /// Backoff after the first failed run; doubled after each.
    pub retry_backoff: Duration,
}

/// What the upload actor needs from its surroundings.
#[derive(Clone)]
pub struct UploadArgs {
    /// The videos it feeds.
    pub videos: Directory<VideoActor>,
    /// This node's transcode runner.
    pub jobs: Jobs,
    /// Limits and timings.
    pub policy: Arc<UploadPolicy>,
}

impl Entity for UploadActor {
    const KIND: &'static str = "upload";
    const SCHEMA: u8 = 1;
    type State = UploadState;
    type Request = UploadRequest;
    type Response = UploadResponse;
    type Args = UploadArgs;

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: UploadRequest,
    ) -> Result<UploadResponse, ActorProcessingErr> {
        use UploadResponse as R;
        Ok(match req {
            UploadRequest::Create(new) => R::Upload(create(ctx, new).await),
            UploadRequest::Get => R::Upload(
                ctx.state()
                    .map(UploadState::view)
                    .ok_or(UploadError::NotFound),
            ),
            UploadRequest::Commit {
                patch,
                offset,
                len,
                key,
            } => R::Upload(commit(ctx, patch, offset, len, key).await),
            UploadRequest::Terminate => R::Done(terminate(ctx).await),
            UploadRequest::Expire => R::Done(expire(ctx).await),
            UploadRequest::BlobsDeleted => R::Done(match ctx.state().cloned() {
                None => Ok(()),
                Some(mut s) => {
                    if !s.blobs_deleted {
                        s.blobs_deleted = true;
                        s.parts.clear();
                        ctx.stage(s);
                    }
                    Ok(())
                }
            }),
            UploadRequest::Forget => R::Done(match ctx.state() {
                Some(s) if s.finished() && s.blobs_deleted && s.expires_at < Utc::now() => ctx
                    .remove()
                    .await
                    .map_err(|e| UploadError::Store(e.to_string())),
                _ => Ok(()),
            }),
            UploadRequest::Kick => {
                kick(ctx).await;
                R::Done(Ok(()))
            }
            UploadRequest::Retry => R::Upload(retry(ctx).await),
            UploadRequest::Progress { run, fraction } => {
                R::Done(progress(ctx, run, fraction).await)
            }
            UploadRequest::Finish { run, outcome } => R::Finished(finish(ctx, run, outcome).await),
        })
    }
}

/// Calls the video; expected refusals come back as [`UploadError::Video`].
async fn tell_video(
    ctx: &Ctx<UploadActor>,
    video: Uuid,
    req: VideoRequest,
) -> Result<(), UploadError> {
    match ctx.args().videos.call(&video.to_string(), req).await {
        Ok(VideoResponse::Video(Ok(_)) | VideoResponse::Done(Ok(()))) => Ok(()),
        Ok(VideoResponse::Video(Err(e)) | VideoResponse::Done(Err(e))) => {
            Err(UploadError::Video(e))
        }
        Err(e) => Err(UploadError::Unavailable(e)),
    }
}

fn expiry(ctx: &Ctx<UploadActor>) -> DateTime<Utc> {
    Utc::now()
        + chrono::Duration::from_std(ctx.args().policy.ttl).unwrap_or(chrono::Duration::days(1))
}

async fn create(ctx: &mut Ctx<UploadActor>, new: NewUpload) -> Result<UploadView, UploadError> {
    if let Some(s) = ctx.state() {
        return if s.video == new.video && s.owner_id == new.owner_id {
            Ok(s.view())
        } else {
            Err(UploadError::Video(VideoError::Conflict(
                "that upload id is taken".into(),
            )))
        };
    }
    // The video first: if it refuses, no upload is left behind.
    tell_video(ctx, new.video, VideoRequest::Attach { upload: new.id }).await?;
    let now = Utc::now();
    let state = UploadState {
        id: new.id,
        video: new.video,
        owner_id: new.owner_id,
        length: new.length,
        offset: 0,
        metadata: new.metadata,
        parts: Vec::new(),
        created_at: now,
        expires_at: expiry(ctx),
        status: UploadStatus::Uploading,
        last_patch: None,
        job: None,
        blobs_deleted: false,
    };
    let view = state.view();
    ctx.save(state)
        .await
        .map_err(|e| UploadError::Store(e.to_string()))?;
    if new.length == 0 {
        // `Upload-Length: 0` is complete at once (tus creation); the job fails it as empty.
        complete(ctx).await;
        return Ok(ctx.state().map(UploadState::view).unwrap_or(view));
    }
    Ok(view)
}

async fn commit(
    ctx: &mut Ctx<UploadActor>,
    patch: Uuid,
    offset: u64,
    len: u64,
    key: String,
) -> Result<UploadView, UploadError> {
    let Some(mut s) = ctx.state().cloned() else {
        return Err(UploadError::NotFound);
    };
    if s.last_patch == Some(patch) {
        return Ok(s.view());
    }
    match s.status {
        UploadStatus::Uploading => {}
        UploadStatus::Complete => return Err(UploadError::Complete),
        UploadStatus::Terminated | UploadStatus::Expired => return Err(UploadError::Gone),
    }
    if offset != s.offset {
        return Err(UploadError::OffsetMismatch {
            expected: s.offset,
            got: offset,
        });
    }
    if offset + len > s.length {
        return Err(UploadError::TooLong(s.length));
    }
    if len > 0 {
        s.parts.push(Part { offset, len, key });
    }
    s.offset += len;
    s.last_patch = Some(patch);
    s.expires_at = expiry(ctx);
    let done = s.offset == s.length;
    ctx.stage(s);
    if done {
        complete(ctx).await;
    }
    ctx.state()
        .map(UploadState::view)
        .ok_or(UploadError::NotFound)
}

/// Every byte is here: queue the job, tell the video, start a run.
async fn complete(ctx: &mut Ctx<UploadActor>) {
    let Some(mut s) = ctx.state().cloned() else {
        return;
    };
    s.status = UploadStatus::Complete;
    s.job = Some(Job {
        status: JobStatus::Queued,
        attempts: 0,
        interruptions: 0,
        progress: 0.0,
        last_error: None,
        not_before: None,
    });
    let video = s.video;
    let id = s.id;
    ctx.stage(s);
    match tell_video(ctx, video, VideoRequest::Queued { upload: id }).await {
        Ok(()) => {}
        Err(UploadError::Video(_)) => {
            // The video was deleted or took another upload: nothing to transcode for.
            settle(
                ctx,
                JobStatus::Failed,
                Some("the video no longer expects this upload".into()),
            );
            return;
        }
        // The video is unreachable for now; the run's first report tells it.
        Err(e) => {
            tracing::warn!(upload = %id, error = %e, "could not tell the video its upload is complete")
        }
    }
    kick(ctx).await;
}

fn settle(ctx: &mut Ctx<UploadActor>, status: JobStatus, error: Option<String>) {
    if let Some(mut s) = ctx.state().cloned() {
        if let Some(job) = s.job.as_mut() {
            job.status = status;
            if error.is_some() {
                job.last_error = error;
            }
        }
        ctx.stage(s);
    }
}

/// Starts a run if the job is due and none is alive.
async fn kick(ctx: &mut Ctx<UploadActor>) {
    let Some(mut s) = ctx.state().cloned() else {
        return;
    };
    let Some(job) = s.job.as_mut() else {
        return;
    };
    let jobs = ctx.args().jobs.clone();
    let policy = ctx.args().policy.clone();
    let now = Utc::now();
    match &job.status {
        JobStatus::Queued => {
            if job.not_before.is_some_and(|t| t > now) {
                return;
            }
        }
        JobStatus::Running {
            run,
            boot,
            lease_until,
        } => {
            let lost = if *boot == jobs.boot() {
                !jobs.is_running(*run)
            } else {
                // On one node, another process id means the process that ran it is gone.
                !jobs.clustered() || *lease_until < now
            };
            if !lost {
                return;
            }
            job.interruptions += 1;
            tracing::warn!(upload = %s.id, run = %run, interruptions = job.interruptions, "a transcode run was lost with its process or node; starting it again");
            if job.interruptions > policy.max_interruptions {
                let reason = format!(
                    "transcoding was interrupted {} times (the node running it stopped); giving up",
                    job.interruptions
                );
                job.status = JobStatus::Failed;
                job.last_error = Some(reason.clone());
                let (video, id) = (s.video, s.id);
                ctx.stage(s);
                let _ = tell_video(ctx, video, VideoRequest::Failed { upload: id, reason }).await;
                return;
            }
        }
        JobStatus::Done | JobStatus::Failed => return,
    }
    let run = super::new_run_id();
    job.status = JobStatus::Running {
        run,
        boot: jobs.boot(),
        lease_until: now
            + chrono::Duration::from_std(policy.lease).unwrap_or(chrono::Duration::seconds(30)),
    };
    job.progress = 0.0;
    job.not_before = None;
    let spec = RunSpec {
        upload: s.id,
        video: s.video,
        run,
        length: s.length,
        parts: s.parts.clone(),
        attempt: job.attempts + 1,
    };
    ctx.stage(s);
    jobs.spawn(spec);
}

async fn progress(
    ctx: &mut Ctx<UploadActor>,
    run: Uuid,
    fraction: Option<f64>,
) -> Result<(), UploadError> {
    let Some(mut s) = ctx.state().cloned() else {
        return Err(UploadError::Superseded);
    };
    let lease = ctx.args().policy.lease;
    let Some(job) = s.job.as_mut() else {
        return Err(UploadError::Superseded);
    };
    match &mut job.status {
        JobStatus::Running {
            run: r,
            lease_until,
            ..
        } if *r == run => {
            *lease_until = Utc::now()
                + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
        }
        _ => return Err(UploadError::Superseded),
    }
    if let Some(f) = fraction {
        job.progress = f.clamp(0.0, 1.0);
    }
    let (video, id) = (s.video, s.id);
    ctx.stage(s);
    if let Some(f) = fraction {
        // An unreachable video is told by the next report.
        if let Err(UploadError::Video(_)) = tell_video(
            ctx,
            video,
            VideoRequest::Progress {
                upload: id,
                percent: f * 100.0,
            },
        )
        .await
        {
            // Deleted, or it took another upload: stop the run.
            settle(
                ctx,
                JobStatus::Failed,
                Some("the video no longer expects this upload".into()),
            );
            return Err(UploadError::Superseded);
        }
    }
    Ok(())
}

async fn finish(ctx: &mut Ctx<UploadActor>, run: Uuid, outcome: Outcome) -> FinishAnswer {
    let Some(mut s) = ctx.state().cloned() else {
        return FinishAnswer::Orphaned;
    };
    let policy = ctx.args().policy.clone();
    let Some(job) = s.job.as_mut() else {
        return FinishAnswer::Superseded;
    };
    let current = matches!(&job.status, JobStatus::Running { run: r, .. } if *r == run);
    if !current {
        // A retried report of this very run, once it settled, gets the same answer.
        return match (&job.status, &outcome) {
            (JobStatus::Done, Outcome::Done(_)) | (JobStatus::Failed, Outcome::Failed { .. }) => {
                FinishAnswer::Settled
            }
            _ => FinishAnswer::Superseded,
        };
    }
    let (video, id) = (s.video, s.id);
    match outcome {
        Outcome::Done(processed) => {
            job.status = JobStatus::Done;
            job.progress = 1.0;
            ctx.stage(s);
            match tell_video(
                ctx,
                video,
                VideoRequest::Ready {
                    upload: id,
                    processed,
                },
            )
            .await
            {
                Ok(()) => FinishAnswer::Settled,
                Err(UploadError::Video(_)) => FinishAnswer::Orphaned,
                Err(e) => {
                    // Not told yet: run again later rather than leave the video processing.
                    tracing::warn!(upload = %id, error = %e, "could not tell the video it is ready; will retry");
                    settle(ctx, JobStatus::Queued, None);
                    FinishAnswer::RetryAfter(1000)
                }
            }
        }
        Outcome::Failed { reason, retryable } => {
            job.attempts += 1;
            job.last_error = Some(reason.clone());
            if retryable && job.attempts < policy.max_attempts {
                let backoff = policy
                    .retry_backoff
                    .saturating_mul(1 << (job.attempts - 1).min(6));
                job.status = JobStatus::Queued;
                job.not_before =
                    Some(Utc::now() + chrono::Duration::from_std(backoff).unwrap_or_default());
                tracing::warn!(upload = %id, attempt = job.attempts, %reason, ?backoff, "transcode run failed; will retry");
                ctx.stage(s);
                let _ = tell_video(ctx, video, VideoRequest::Queued { upload: id }).await;
                FinishAnswer::RetryAfter(backoff.as_millis() as u64)
            } else {
                job.status = JobStatus::Failed;
                let reason = if retryable {
                    format!(
                        "transcoding failed {} times; last error: {reason}",
                        job.attempts
                    )
                } else {
                    reason
                };
                tracing::warn!(upload = %id, %reason, "transcode job failed for good");
                // The source is kept for another `ttl`, so that the owner can retry.
                s.expires_at = expiry(ctx);
                ctx.stage(s);
                let _ = tell_video(ctx, video, VideoRequest::Failed { upload: id, reason }).await;
                FinishAnswer::Settled
            }
        }
    }
}

/// Queues a failed job again: fresh attempts, its source kept for another `ttl`, the video
/// back to `queued`, and a run started. A job already queued or running again answers as it
/// is (a retried retry).
async fn retry(ctx: &mut Ctx<UploadActor>) -> Result<UploadView, UploadError> {
    let Some(mut s) = ctx.state().cloned() else {
        return Err(UploadError::NotFound);
    };
    let Some(job) = s.job.as_mut() else {
        return Err(UploadError::NotRetryable(
            "the upload never completed; upload the file again".into(),
        ));
    };
    match job.status {
        JobStatus::Failed => {}
        JobStatus::Queued | JobStatus::Running { .. } => return Ok(s.view()),
        JobStatus::Done => {
            return Err(UploadError::NotRetryable(
                "the video was transcoded already".into(),
            ))
        }
    }
    if s.blobs_deleted || s.status != UploadStatus::Complete {
        return Err(UploadError::SourceGone);
    }
    job.status = JobStatus::Queued;
    job.attempts = 0;
    job.interruptions = 0;
    job.last_error = None;
    job.not_before = None;
    job.progress = 0.0;
    s.expires_at = expiry(ctx);
    let (video, id) = (s.video, s.id);
    ctx.stage(s);
    tell_video(ctx, video, VideoRequest::Retry { upload: id }).await?;
    kick(ctx).await;
    ctx.state()
        .map(UploadState::view)
        .ok_or(UploadError::NotFound)
}

async fn terminate(ctx: &mut Ctx<UploadActor>) -> Result<(), UploadError> {
    let Some(mut s) = ctx.state().cloned() else {
        return Err(UploadError::NotFound);
    };
    match s.status {
        UploadStatus::Terminated => return Ok(()),
        UploadStatus::Expired => return Err(UploadError::Gone),
        UploadStatus::Uploading | UploadStatus::Complete => {}
    }
    s.status = UploadStatus::Terminated;
    let mut tell = None;
    if let Some(job) = s.job.as_mut() {
        if matches!(job.status, JobStatus::Queued | JobStatus::Running { .. }) {
            job.status = JobStatus::Failed;
            job.last_error = Some("the upload was terminated".into());
            tell = Some("the upload was terminated before transcoding finished".to_string());
        }
    } else {
        tell = Some("the upload was terminated before it was complete".to_string());
    }
    let (video, id) = (s.video, s.id);
    ctx.stage(s);
    if let Some(reason) = tell {
        let _ = tell_video(ctx, video, VideoRequest::Failed { upload: id, reason }).await;
    }
    Ok(())
}

async fn expire(ctx: &mut Ctx<UploadActor>) -> Result<(), UploadError> {
    let Some(mut s) = ctx.state().cloned() else {
        return Ok(());
    };
    if s.status != UploadStatus::Uploading || s.expires_at > Utc::now() {
        return Ok(());
    }
    s.status = UploadStatus::Expired;
    let (video, id) = (s.video, s.id);
    ctx.stage(s);
    let reason = "the upload expired before it was complete; start a new upload".to_string();
    let _ = tell_video(ctx, video, VideoRequest::Failed { upload: id, reason }).await;
    Ok(())
}
