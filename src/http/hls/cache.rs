//! The bounded in-memory cache of immutable HLS blobs, and of the media tokens already
//! verified.

use actix_web::http::header::HeaderValue;
use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, Weighter};
use std::sync::Arc;
use uuid::Uuid;

/// A bounded in-memory cache of immutable HLS blobs (segments, media playlists, posters),
/// keyed by blob path, holding each blob's bytes and its strong `ETag`.
///
/// Bounded by total bytes (quick_cache's S3-FIFO-style eviction, which keeps frequently
/// requested blobs over ones seen once). Blobs bigger than 1/8 of the capacity are never
/// cached; they are streamed from the store. Concurrent misses on one blob read it from the
/// store once: the others wait for that read.
///
/// It also remembers which media tokens it has verified (see [`MEDIA_TOKENS_REMEMBERED`]).
pub struct BlobCache {
    pub(super) cache: Option<Cache<String, Arc<CachedBlob>, BlobWeight>>,
    pub(super) max_item: u64,
    pub(super) tokens: Cache<String, VerifiedMedia>,
    /// What was last learned of each playing video, so that a deleted or hidden one stops
    /// playing without asking its actor on every request.
    pub(super) videos: Cache<Uuid, Playability>,
}

/// How many verified media tokens are remembered. A playback sends the same media token with
/// every playlist and segment request, for as long as the video plays; checking the signature
/// of each costs about a tenth of a small request. A remembered token is the exact string that
/// was verified, so skipping the check grants nothing the check would not; its expiry is still
/// checked on every request.
pub const MEDIA_TOKENS_REMEMBERED: usize = 8192;

/// What a verified media token allows.
#[derive(Debug, Clone)]
pub(super) struct VerifiedMedia {
    pub(super) video: Uuid,
    pub(super) cap: u32,
    pub(super) exp: i64,
    /// The viewer the token was issued to (a user key, or `anon:<session>`).
    pub(super) sub: Arc<str>,
}

/// What HLS last learned of whether a video may still be played, and when.
#[derive(Debug, Clone)]
pub(super) struct Playability {
    pub(super) at: std::time::Instant,
    pub(super) seen: Seen,
}

/// A video as playback sees it.
#[derive(Debug, Clone)]
pub(super) enum Seen {
    /// Deleted.
    Gone,
    /// Not ready (any more).
    NotReady,
    /// Ready; a private one plays only for its owner and admins.
    Ready {
        /// Whether only its owner and admins may play it.
        private: bool,
        /// Its owner's user key.
        owner: Arc<str>,
        /// Its owner's id (a suspended owner's videos play only for staff).
        owner_id: uuid::Uuid,
        /// Hidden by a moderator: plays only for its owner and staff.
        hidden: bool,
    },
}

/// One cached blob.
pub(super) struct CachedBlob {
    pub(super) bytes: Bytes,
    pub(super) etag: HeaderValue,
}

/// What one entry costs: its bytes, its key, and roughly what the cache keeps per entry.
#[derive(Clone)]
pub(super) struct BlobWeight;

impl Weighter<String, Arc<CachedBlob>> for BlobWeight {
    fn weight(&self, key: &String, blob: &Arc<CachedBlob>) -> u64 {
        blob.bytes.len() as u64 + key.len() as u64 + 160
    }
}

impl BlobCache {
    /// A cache holding at most `bytes` bytes (0 turns it off).
    pub fn new(bytes: u64) -> Self {
        let tokens = Cache::new(MEDIA_TOKENS_REMEMBERED);
        if bytes == 0 {
            return Self {
                cache: None,
                max_item: 0,
                tokens,
                videos: Cache::new(MEDIA_TOKENS_REMEMBERED),
            };
        }
        let options = OptionsBuilder::new()
            // quick_cache splits the capacity between shards and admits nothing heavier than
            // (nearly) one shard's share, so few shards: a quarter each leaves room for blobs
            // of an eighth. Four read-mostly locks are plenty for a few HTTP workers.
            .shards(4)
            .estimated_items_capacity((bytes / (512 * 1024)).clamp(16, 1 << 20) as usize)
            .weight_capacity(bytes)
            .build()
            .expect("weight_capacity and estimated_items_capacity are set");
        Self {
            cache: Some(Cache::with_options(
                options,
                BlobWeight,
                Default::default(),
                Default::default(),
            )),
            max_item: bytes / 8,
            tokens,
            videos: Cache::new(MEDIA_TOKENS_REMEMBERED),
        }
    }

    /// The biggest blob it caches, in bytes (0 when the cache is off).
    pub fn max_blob_bytes(&self) -> u64 {
        self.max_item
    }

    /// How many blobs it holds.
    pub fn len(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes it holds, entry overheads included.
    pub fn weight(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.weight())
    }

    /// Drops every blob of `video` (keys under `videos/<id>/`), and what was learned of
    /// whether it plays: for a deleted video, whose blobs no request will ask for again. One
    /// pass over the entries, a shard at a time under its write lock (a few thousand entries
    /// at the default bound, well under a millisecond); a read of one of its blobs that was
    /// already under way may still insert it afterwards, and eviction then ages it out.
    pub fn forget_video(&self, video: Uuid) {
        self.videos.remove(&video);
        if let Some(c) = &self.cache {
            let prefix = format!("{}/", troupe_actors::media::layout::video_prefix(video));
            c.retain(|key, _| !key.starts_with(&prefix));
        }
    }

    /// Sets the gauges `troupe_hls_cache_bytes` ([`BlobCache::weight`]) and
    /// `troupe_hls_cache_entries` ([`BlobCache::len`]).
    pub fn record_gauges(&self) {
        metrics::gauge!("troupe_hls_cache_bytes").set(self.weight() as f64);
        metrics::gauge!("troupe_hls_cache_entries").set(self.len() as f64);
    }
}
