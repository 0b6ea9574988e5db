//! Transcode runs and the sweeper.
//!
//! ```text
//! Jobs (one per node)
//!   ├── run task per transcode run (spawned by the upload actor, never inside a handler)
//!   │     slot (bounded concurrency) ─▶ fetch source ─▶ ffprobe ─▶ ffmpeg ─▶ store outputs
//!   │     └── reporter: Progress to the upload actor at least every lease/3; "superseded"
//!   │         stops the run (ffmpeg is killed with its future)
//!   └── sweeper task: every interval, for each upload this node owns:
//!         expire unfinished ones past their time, delete the blobs of finished ones,
//!         forget them once expired, and Kick jobs that are queued or whose run was lost
//! ```
//!
//! A run works in a temp dir of its own, removed on every path (and the whole temp root is
//! emptied at start, for runs lost with a previous process).

use super::layout;
use super::transcode::{self, EncodeSettings, Tools, TranscodeError};
use super::upload::{
    FinishAnswer, JobStatus, Outcome, Part, UploadActor, UploadRequest, UploadResponse,
    UploadState, UploadStatus,
};
use super::video::Processed;
use chrono::Utc;
use futures::StreamExt;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tracing::Instrument;
use troupe_runtime::blob::BlobStore;
use troupe_runtime::{codec, ActorId};
use troupe_runtime::{Directory, Entity, System};
use uuid::Uuid;

/// How runs are done.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// ffmpeg and ffprobe.
    pub tools: Tools,
    /// The ladder and encoder settings.
    pub encode: EncodeSettings,
    /// Runs at once on this node.
    pub concurrency: usize,
    /// ffprobe's time limit.
    pub probe_timeout: Duration,
    /// A run reports at least this often (a third of the lease).
    pub report_every: Duration,
    /// Where runs keep their temp dirs.
    pub tmp_dir: PathBuf,
}

/// What a run needs to know.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The upload.
    pub upload: Uuid,
    /// Its video.
    pub video: Uuid,
    /// This run.
    pub run: Uuid,
    /// The source length.
    pub length: u64,
    /// Where the source bytes are.
    pub parts: Vec<Part>,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
}

struct Inner {
    settings: JobSettings,
    boot: Uuid,
    system: System,
    blobs: BlobStore,
    slots: Semaphore,
    running: Mutex<HashSet<Uuid>>,
    uploads: OnceLock<Directory<UploadActor>>,
}

/// This node's transcode runner. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

impl Jobs {
    /// A runner; runs wait until [`Jobs::set_uploads`] is called.
    pub fn new(settings: JobSettings, system: System, blobs: BlobStore) -> Self {
        // Temp dirs of runs lost with a previous process.
        let _ = std::fs::remove_dir_all(&settings.tmp_dir);
        let _ = std::fs::create_dir_all(&settings.tmp_dir);
        Self {
            inner: Arc::new(Inner {
                slots: Semaphore::new(settings.concurrency.max(1)),
                settings,
                boot: Uuid::new_v4(),
                system,
                blobs,
                running: Mutex::new(HashSet::new()),
                uploads: OnceLock::new(),
            }),
        }
    }

    /// Connects the runner to the upload actors it reports to.
    pub fn set_uploads(&self, uploads: Directory<UploadActor>) {
        let _ = self.inner.uploads.set(uploads);
    }

    /// This process's id: a run recorded with another one on this node was lost.
    pub fn boot(&self) -> Uuid {
        self.inner.boot
    }

    /// Whether the runs of other processes may be alive (in a cluster).
    pub fn clustered(&self) -> bool {
        self.inner.system.clustered()
    }

    /// Whether `run` is alive in this process.
    pub fn is_running(&self, run: Uuid) -> bool {
        self.inner
            .running
            .lock()
            .expect("running lock")
            .contains(&run)
    }

    /// Runs on this node now (waiting for a slot included).
    pub fn active(&self) -> usize {
        self.inner.running.lock().expect("running lock").len()
    }

    /// Starts a run in the background.
    pub fn spawn(&self, spec: RunSpec) {
        self.inner
            .running
            .lock()
            .expect("running lock")
            .insert(spec.run);
        let jobs = self.clone();
        let span = tracing::info_span!("transcode", upload = %spec.upload, video = %spec.video, run = %spec.run, attempt = spec.attempt);
        tokio::spawn(
            async move {
                let run = spec.run;
                jobs.run(spec).await;
                jobs.inner
                    .running
                    .lock()
                    .expect("running lock")
                    .remove(&run);
            }
            .instrument(span),
        );
    }

    async fn call(&self, upload: Uuid, req: UploadRequest) -> Option<UploadResponse> {
        let uploads = self.inner.uploads.get()?;
        match uploads.call(&upload.to_string(), req).await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::debug!(%upload, error = %e, "a transcode run could not reach its upload");
                None
            }
        }
    }

    /// Reports; `false` when the run has been superseded and must stop.
    async fn report(&self, spec: &RunSpec, fraction: Option<f64>) -> bool {
        !matches!(
            self.call(
                spec.upload,
                UploadRequest::Progress {
                    run: spec.run,
                    fraction
                }
            )
            .await,
            Some(UploadResponse::Done(Err(_)))
        )
    }

    async fn run(&self, spec: RunSpec) {
        let every = self.inner.settings.report_every;
        // Wait for a slot, telling the upload the run is alive meanwhile.
        let permit = loop {
            tokio::select! {
                p = self.inner.slots.acquire() => break p,
                () = tokio::time::sleep(every) => {
                    if !self.report(&spec, None).await {
                        tracing::info!(upload = %spec.upload, "transcode run superseded while queued");
                        return;
                    }
                }
            }
        };
        let Ok(_permit) = permit else { return };
        let started = std::time::Instant::now();
        metrics::gauge!("troupe_transcodes_running").increment(1.0);
        let tmp = TempDir::new(self.inner.settings.tmp_dir.join(spec.run.to_string()));
        let (tx, rx) = watch::channel(0.0f64);
        let work = self.work(&spec, tmp.path(), tx);
        let reporter = async {
            let mut last = -1.0;
            loop {
                tokio::time::sleep(every.min(Duration::from_secs(1))).await;
                let p = *rx.borrow();
                let fraction = (p != last).then_some(p);
                last = p;
                if !self.report(&spec, fraction.or(Some(p))).await {
                    return;
                }
            }
        };
        let outcome = tokio::select! {
            o = work => Some(o),
            () = reporter => None,
        };
        metrics::gauge!("troupe_transcodes_running").decrement(1.0);
        drop(tmp);
        let Some(outcome) = outcome else {
            tracing::info!(upload = %spec.upload, "transcode run superseded; stopped");
            return;
        };
        let ok = matches!(outcome, Outcome::Done(_));
        metrics::counter!("troupe_transcodes_total", "outcome" => if ok { "done" } else { "failed" }).increment(1);
        metrics::histogram!("troupe_transcode_seconds").record(started.elapsed().as_secs_f64());
        match &outcome {
            Outcome::Done(_) => {
                tracing::info!(upload = %spec.upload, secs = started.elapsed().as_secs_f64(), "transcode run done")
            }
            Outcome::Failed { reason, retryable } => {
                tracing::warn!(upload = %spec.upload, %reason, retryable, "transcode run failed")
            }
        }
        // Report the end until the upload actor hears it (it may be failing over).
        let answer = loop {
            match self
                .call(
                    spec.upload,
                    UploadRequest::Finish {
                        run: spec.run,
                        outcome: outcome.clone(),
                    },
                )
                .await
            {
                Some(UploadResponse::Finished(a)) => break a,
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        };
        match answer {
            FinishAnswer::Settled | FinishAnswer::Superseded => {}
            FinishAnswer::Orphaned => {
                if let Err(e) = self
                    .inner
                    .blobs
                    .delete_prefix(&layout::video_prefix(spec.video))
                    .await
                {
                    tracing::warn!(video = %spec.video, error = %e, "could not delete the outputs of a deleted video");
                }
            }
            FinishAnswer::RetryAfter(ms) => {
                let jobs = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    jobs.call(spec.upload, UploadRequest::Kick).await;
                });
            }
        }
    }

    /// Fetches, probes, encodes and stores; never panics, always an outcome.
    async fn work(&self, spec: &RunSpec, dir: &Path, progress: watch::Sender<f64>) -> Outcome {
        let s = &self.inner.settings;
        let failed = |e: TranscodeError| Outcome::Failed {
            retryable: e.is_retryable(),
            reason: e.to_string(),
        };
        if spec.length == 0 {
            return Outcome::Failed {
                reason: "the uploaded file is empty (0 bytes), so it is not a video".into(),
                retryable: false,
            };
        }
        let started = std::time::Instant::now();
        let source = dir.join("source");
        let fetched = self.fetch(spec, &source).await;
        let fetched_at = std::time::Instant::now();
        if let Err(reason) = fetched {
            return Outcome::Failed {
                reason,
                retryable: true,
            };
        }
        let probe = match transcode::probe(&s.tools, &source, s.probe_timeout).await {
            Ok(p) => p,
            Err(e) => return failed(e),
        };
        let out = dir.join("out");
        if let Err(e) = tokio::fs::create_dir_all(&out).await {
            return failed(TranscodeError::Io(e.to_string()));
        }
        let report = |f: f64| {
            let _ = progress.send(f.clamp(0.0, 1.0) * 0.95);
        };
        let encoded =
            match transcode::encode(&s.tools, &source, &probe, &s.encode, &out, &report).await {
                Ok(e) => e,
                Err(e) => return failed(e),
            };
        // A truncated or corrupt file decodes only in part, and ffmpeg, being lenient, says
        // nothing: compare what was encoded with what the container declares.
        if encoded.duration_secs < probe.duration_secs * 0.9 - 0.5 {
            return Outcome::Failed {
                reason: format!(
                    "the file is truncated or corrupt: it declares {:.1} s of video but only {:.1} s could be decoded",
                    probe.duration_secs, encoded.duration_secs
                ),
                retryable: false,
            };
        }
        let encoded_at = std::time::Instant::now();
        // Store the outputs, a few at a time: segments and the poster first, playlists last,
        // so that a playlist never names a segment that is not there.
        let keyed: Vec<(String, PathBuf)> = encoded
            .files
            .iter()
            .filter_map(|rel| {
                let key = if rel == &encoded.poster {
                    layout::poster(spec.video)
                } else {
                    let rel_str = rel.to_string_lossy();
                    let (rendition, file) = rel_str.split_once('/')?;
                    layout::rendition_file(spec.video, rendition, file)
                };
                Some((key, out.join(rel)))
            })
            .collect();
        let (playlists, media): (Vec<_>, Vec<_>) =
            keyed.into_iter().partition(|(k, _)| k.ends_with(".m3u8"));
        let total = (playlists.len() + media.len()).max(1);
        let mut stored = 0usize;
        for batch in [media, playlists] {
            let mut puts = futures::stream::iter(batch.into_iter().map(|(key, path)| {
                let blobs = self.inner.blobs.clone();
                async move { blobs.put_file(&key, &path).await }
            }))
            .buffer_unordered(4);
            while let Some(result) = puts.next().await {
                if let Err(e) = result {
                    return Outcome::Failed {
                        reason: format!("could not store the transcoded files: {e}"),
                        retryable: true,
                    };
                }
                stored += 1;
                let _ = progress.send(0.95 + 0.05 * stored as f64 / total as f64);
            }
        }
        tracing::info!(
            fetch_secs = fetched_at.duration_since(started).as_secs_f64(),
            encode_secs = encoded_at.duration_since(fetched_at).as_secs_f64(),
            store_secs = encoded_at.elapsed().as_secs_f64(),
            "transcode run stored its outputs"
        );
        Outcome::Done(Processed {
            renditions: encoded.renditions,
            duration_secs: encoded.duration_secs,
            has_poster: true,
        })
    }

    /// Copies the source's parts into one local file.
    async fn fetch(&self, spec: &RunSpec, to: &Path) -> Result<(), String> {
        let mut file = tokio::fs::File::create(to)
            .await
            .map_err(|e| format!("cannot create a temp file: {e}"))?;
        let mut total = 0u64;
        for part in &spec.parts {
            let n = self
                .inner
                .blobs
                .copy_to_file(&part.key, &mut file)
                .await
                .map_err(|e| format!("cannot read the uploaded bytes: {e}"))?;
            if n != part.len {
                return Err(format!(
                    "an uploaded part has {n} bytes, expected {}",
                    part.len
                ));
            }
            total += n;
        }
        if total != spec.length {
            return Err(format!(
                "the upload has {total} bytes, expected {}",
                spec.length
            ));
        }
        use tokio::io::AsyncWriteExt;
        file.flush().await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Starts the sweeper: every `every`, one pass over the uploads (the first at once, so
    /// that jobs lost with a previous process resume at start).
    pub fn start_sweeper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let jobs = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = jobs.sweep().await {
                    tracing::warn!(error = %e, "upload sweep failed; trying again next time");
                }
            }
        })
    }

    /// One pass of the sweeper.
    pub async fn sweep(&self) -> Result<(), String> {
        let prefix = format!("{}/", UploadActor::KIND);
        let entries = self
            .inner
            .system
            .store()
            .scan_prefix(&prefix)
            .await
            .map_err(|e| e.to_string())?;
        let now = Utc::now();
        for (key, value) in entries {
            let id = key[prefix.len()..].to_owned();
            if !self
                .inner
                .system
                .owns(&ActorId::new(UploadActor::KIND, id.clone()))
            {
                continue;
            }
            let Ok(state) = codec::decode::<UploadState>(UploadActor::SCHEMA, &value.value) else {
                continue;
            };
            let Ok(upload) = Uuid::parse_str(&id) else {
                continue;
            };
            if state.status == UploadStatus::Uploading && state.expires_at < now {
                tracing::info!(%upload, "upload expired");
                self.call(upload, UploadRequest::Expire).await;
            } else if state.finished()
                && !state.blobs_deleted
                // A failed job's source is kept until its upload expires, for a retry.
                && (!state.failed() || state.expires_at < now)
            {
                match self
                    .inner
                    .blobs
                    .delete_prefix(&layout::upload_prefix(upload))
                    .await
                {
                    Ok(n) => {
                        tracing::debug!(%upload, blobs = n, "deleted the blobs of a finished upload");
                        self.call(upload, UploadRequest::BlobsDeleted).await;
                    }
                    Err(e) => {
                        tracing::warn!(%upload, error = %e, "could not delete an upload's blobs")
                    }
                }
            } else if state.finished() && state.blobs_deleted && state.expires_at < now {
                self.call(upload, UploadRequest::Forget).await;
            } else if let Some(job) = &state.job {
                let due = match &job.status {
                    JobStatus::Queued => job.not_before.is_none_or(|t| t <= now),
                    JobStatus::Running {
                        run,
                        boot,
                        lease_until,
                    } => {
                        if *boot == self.boot() {
                            !self.is_running(*run)
                        } else {
                            !self.clustered() || *lease_until < now
                        }
                    }
                    JobStatus::Done | JobStatus::Failed => false,
                };
                if due {
                    self.call(upload, UploadRequest::Kick).await;
                }
            }
        }
        Ok(())
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(path: PathBuf) -> Self {
        let _ = std::fs::remove_dir_all(&path);
        let _ = std::fs::create_dir_all(&path);
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
