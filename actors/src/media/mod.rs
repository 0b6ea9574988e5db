//! Videos, uploads and transcoding: the video actor, the upload actor (tus state and the
//! transcode job), the ffmpeg runner, and where their blobs live.
//!
//! ```text
//! POST /videos ──▶ video/<id>  Create                      awaiting_upload
//! POST /uploads ─▶ upload/<id> Create ──▶ video Attach      uploading
//! PATCH ─────────▶ part blob (durable) ─▶ upload Commit     … last byte:
//!                  upload ──▶ video Queued ──▶ Jobs::spawn  queued
//! job task (not in any handler): fetch source, ffprobe, ffmpeg ladder, store outputs
//!     progress ──▶ upload Progress ──▶ video Progress     processing(pct)
//!     done ──────▶ upload Finish ───▶ video Ready|Failed  ready | failed(reason)
//! ```
//!
//! Calls go one way only, upload → video, so that no two actors ever wait on each other.

pub mod jobs;
pub mod service;
pub mod transcode;
pub mod upload;
pub mod video;

pub use crate::events::Rendition;
pub use service::{Media, MediaError, MediaSettings, VideoInput, Viewer};

use uuid::Uuid;

/// Where a video's blobs live. Everything a video owns is under [`layout::video_prefix`], except the
/// uploaded source, which is under [`layout::upload_prefix`] of its upload.
pub mod layout {
    use uuid::Uuid;

    /// Every blob of the video's HLS output and poster.
    pub fn video_prefix(video: Uuid) -> String {
        format!("videos/{video}")
    }

    /// A rendition's media playlist.
    pub fn media_playlist(video: Uuid, rendition: &str) -> String {
        format!("videos/{video}/hls/{rendition}/index.m3u8")
    }

    /// A file of a rendition (a segment, or its playlist).
    pub fn rendition_file(video: Uuid, rendition: &str, file: &str) -> String {
        format!("videos/{video}/hls/{rendition}/{file}")
    }

    /// The poster thumbnail (JPEG).
    pub fn poster(video: Uuid) -> String {
        format!("videos/{video}/poster.jpg")
    }

    /// Every blob of an upload: the parts of its source.
    pub fn upload_prefix(upload: Uuid) -> String {
        format!("uploads/{upload}")
    }

    /// One part of an upload's source: the bytes of one PATCH, starting at `offset`.
    pub fn upload_part(upload: Uuid, offset: u64, patch: Uuid) -> String {
        format!("uploads/{upload}/parts/{offset:020}-{patch}")
    }
}

/// A short, random-enough id for one run of a transcode job.
pub fn new_run_id() -> Uuid {
    Uuid::new_v4()
}
