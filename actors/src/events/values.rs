//! The values the event hub carries, which are also what the API shows of a video: its view
//! ([`VideoView`], with its [`Visibility`], [`VideoStatus`] and [`Rendition`]s) and its
//! [`Counts`]. They live here, apart from the media and playback modules that produce them,
//! so that both can use the hub without importing each other. Each is re-exported where it
//! used to be (`media::video`, `media`, `playback`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who may see a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Listed and playable by anyone.
    Public,
    /// Playable by anyone with the link; not listed.
    Unlisted,
    /// Only its owner and admins.
    Private,
}

/// Where a video is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VideoStatus {
    /// Created; no upload has started.
    AwaitingUpload,
    /// An upload is under way.
    Uploading,
    /// Uploaded; waiting for a transcoder.
    Queued,
    /// Being transcoded; see `progress`.
    Processing,
    /// Playable.
    Ready,
    /// Transcoding failed for good; see `failure_reason`.
    Failed,
}

/// One rung of the HLS ladder, as it was produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rendition {
    /// Its name and directory, e.g. `720p`.
    pub name: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels (the `720` of `720p`).
    pub height: u32,
    /// Peak bit rate over any one segment, audio included, in bits/s (HLS `BANDWIDTH`).
    pub bandwidth: u64,
    /// Average bit rate over the whole rendition, in bits/s (HLS `AVERAGE-BANDWIDTH`).
    pub average_bandwidth: u64,
    /// RFC 6381 codecs, e.g. `avc1.64001f,mp4a.40.2` (HLS `CODECS`).
    pub codecs: String,
    /// Frames per second (HLS `FRAME-RATE`).
    pub frame_rate: f64,
}

/// A video as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VideoView {
    /// Video id.
    pub id: Uuid,
    /// The owner's username (normalised).
    pub owner: String,
    /// The owner's user id.
    pub owner_id: Uuid,
    /// The channel the video belongs to.
    #[serde(default)]
    pub channel_id: Uuid,
    /// That channel's handle.
    #[serde(default)]
    pub channel: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// `public`, `unlisted` or `private`.
    pub visibility: Visibility,
    /// `awaiting_upload`, `uploading`, `queued`, `processing`, `ready` or `failed`.
    pub state: VideoStatus,
    /// Transcoding progress in percent (0–100).
    pub progress: f64,
    /// Why processing failed, when `state` is `failed`.
    pub failure_reason: Option<String>,
    /// The renditions, tallest first.
    pub renditions: Vec<Rendition>,
    /// Duration in seconds, once ready.
    pub duration_secs: Option<f64>,
    /// Whether a poster thumbnail exists.
    pub has_poster: bool,
    /// The current upload, if any.
    pub upload_id: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Bumped on every change.
    pub version: u64,
    /// Set while a moderator hides the video: then only its owner (who sees why) and staff
    /// see it.
    #[serde(default)]
    pub hidden: Option<Hidden>,
}

/// Why and since when a moderator hides a video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hidden {
    /// The moderator's reason, shown to the owner.
    pub reason: String,
    /// When it was hidden.
    pub at: DateTime<Utc>,
}

/// A video's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counts {
    /// Views counted by the view rule.
    pub views: u64,
    /// Likes.
    pub likes: u64,
    /// Dislikes.
    pub dislikes: u64,
}

/// Width of the fine view buckets (ms): 5 minutes.
pub const FINE_MS: i64 = 5 * 60 * 1000;
/// Width of the coarse view buckets (ms): 1 hour.
pub const COARSE_MS: i64 = 60 * 60 * 1000;
/// How long fine buckets are kept (ms): 2 hours.
pub const FINE_KEEP_MS: i64 = 2 * COARSE_MS;

/// A video's views over time, as its counter keeps them for trending.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewBuckets {
    /// Views per 5-minute bucket over the last 2 hours: (bucket start, Unix ms; views).
    pub fine: Vec<(i64, u64)>,
    /// Views per hour over the last 8 days: (bucket start, Unix ms; views).
    pub coarse: Vec<(i64, u64)>,
}

impl ViewBuckets {
    /// Views within the last `window_ms` before `now_ms`, at the buckets' resolution:
    /// 5 minutes for windows up to 2 hours, an hour beyond.
    pub fn views_within(&self, now_ms: i64, window_ms: i64) -> u64 {
        views_within(&self.fine, &self.coarse, now_ms, window_ms)
    }
}

/// [`ViewBuckets::views_within`] over borrowed buckets.
pub fn views_within(
    fine: &[(i64, u64)],
    coarse: &[(i64, u64)],
    now_ms: i64,
    window_ms: i64,
) -> u64 {
    let (buckets, width) = if window_ms <= FINE_KEEP_MS {
        (fine, FINE_MS)
    } else {
        (coarse, COARSE_MS)
    };
    // A bucket counts when most of it lies inside the window.
    buckets
        .iter()
        .filter(|(start, _)| start + width / 2 > now_ms - window_ms)
        .map(|(_, n)| n)
        .sum()
}
