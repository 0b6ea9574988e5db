//! HLS playback: `/hls/{video_id}/master.m3u8?token=…`, and the media playlists and segments
//! it names, served from the blob store through a bounded in-memory cache.
//!
//! ```text
//! GET  /hls/{video}/master.m3u8?token=P              P: a playback token, from the API
//!        lists  t/{M}/720p/index.m3u8 …               M: a media token minted from P
//! GET  /hls/{video}/t/{M}/{rendition}/index.m3u8     the stored media playlist, verbatim
//! GET  /hls/{video}/t/{M}/{rendition}/seg_00000.ts   a segment (Range, ETag, immutable)
//! OPTIONS /hls/…                                     CORS preflight
//! ```
//!
//! The media token is in the *path*, so the relative segment URIs of the stored playlists
//! (`seg_00000.ts`) inherit it, and stored playlists are served byte for byte. Only the master
//! playlist asks an actor anything (is the video ready, which renditions does it have). Media
//! playlists and segments are checked against the media token alone and come from
//! [`BlobCache`]: a hit touches neither the blob store nor any actor. Segments and playlists
//! never change once a video is ready, so cached copies never go stale. Every answer, errors
//! included, carries CORS headers, so that browser players see the real status.

use super::error::{ApiError, Problem};
use super::tokens::{PlaybackClaims, Tokens};
use crate::startup::AppState;
use actix_web::body::{BoxBody, SizedStream};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{options, route, web, HttpRequest, HttpResponse, HttpResponseBuilder};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path as BlobPath;
use object_store::{GetOptions, GetRange, GetResult, GetResultPayload, ObjectStore};
use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, Weighter};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::sync::Arc;
use troupe_actors::media::video::{VideoError, VideoStatus};
use troupe_actors::media::{layout, MediaError, Rendition};
use uuid::Uuid;

/// `Content-Type` of playlists.
const MPEGURL: &str = "application/vnd.apple.mpegurl";
/// `Content-Type` of MPEG-TS segments.
const MP2T: &str = "video/mp2t";
/// Segment URLs are unique per media token and their bytes never change.
const SEGMENT_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// A media playlist's URL holds the viewer's media token.
const MEDIA_PLAYLIST_CACHE_CONTROL: &str = "private, max-age=3600";
/// The master playlist embeds a freshly minted token.
const MASTER_CACHE_CONTROL: &str = "private, no-store";
const EXPOSE_HEADERS: &str = "Content-Length, Content-Range, ETag";
const ALLOW_METHODS: &str = "GET, HEAD, OPTIONS";
const ALLOW_HEADERS: &str = "Range, If-None-Match, Origin, Accept";
/// Blobs up to this size are read whole even when they are not cached (cache off, or bigger
/// than a cache entry may be); bigger ones are streamed.
const READ_WHOLE_MAX: u64 = 1024 * 1024;
/// Read size when streaming a blob from the local file system.
const STREAM_CHUNK: u64 = 256 * 1024;
/// Bodies are handed to actix in pieces of at most this size (zero-copy slices of the cached
/// `Bytes`). actix copies each piece into its connection's write buffer, and frees a buffer
/// that grew past 128 KiB once it is flushed: a 2.5 MB segment in one piece costs a 2.5 MB
/// allocation per response and per connection (peak RSS 140-150 MB against 75 MB at 32
/// connections in `benches/load/hls_vs_nginx.sh`). 112 KiB plus the response head stays under
/// that limit, so the buffer is reused, and each write is still large (64 KiB pieces measured
/// about 15% slower).
const WRITE_PIECE: usize = 112 * 1024;

// ---------------------------------------------------------------------------------------------
// The cache.
// ---------------------------------------------------------------------------------------------

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
    cache: Option<Cache<String, Arc<CachedBlob>, BlobWeight>>,
    max_item: u64,
    tokens: Cache<String, VerifiedMedia>,
}

/// How many verified media tokens are remembered. A playback sends the same media token with
/// every playlist and segment request, for as long as the video plays; checking the signature
/// of each costs about a tenth of a small request. A remembered token is the exact string that
/// was verified, so skipping the check grants nothing the check would not; its expiry is still
/// checked on every request.
pub const MEDIA_TOKENS_REMEMBERED: usize = 8192;

/// What a verified media token allows.
#[derive(Debug, Clone, Copy)]
struct VerifiedMedia {
    video: Uuid,
    cap: u32,
    exp: i64,
}

/// One cached blob.
struct CachedBlob {
    bytes: Bytes,
    etag: HeaderValue,
}

/// What one entry costs: its bytes, its key, and roughly what the cache keeps per entry.
#[derive(Clone)]
struct BlobWeight;

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
}

// ---------------------------------------------------------------------------------------------
// Serving a blob: cache, conditional requests, ranges, CORS.
// ---------------------------------------------------------------------------------------------

/// Serves one blob with the cache, `Range`, `ETag`/`If-None-Match` and CORS rules of HLS
/// segments: `200`, `206` with `Content-Range`, `304`, or `416` with `Content-Range: bytes
/// */len`; `HEAD` answers the same headers without the body. A missing blob is `404
/// not_found`; a failing store is `503 blob_store_unavailable` with `Retry-After`.
///
/// `content_type` and `cache_control` must be valid header values. Use it only for blobs that
/// never change once readable: a cached copy is served until it is evicted.
pub async fn serve_blob(
    state: &AppState,
    req: &HttpRequest,
    path: &str,
    content_type: &'static str,
    cache_control: &'static str,
) -> Result<HttpResponse, ApiError> {
    serve(
        &state.hls_cache,
        state.blobs.object_store().as_ref(),
        req,
        path,
        content_type,
        cache_control,
    )
    .await
    .map_err(with_cors)
}

async fn serve(
    cache: &BlobCache,
    store: &dyn ObjectStore,
    req: &HttpRequest,
    path: &str,
    content_type: &'static str,
    cache_control: &'static str,
) -> Result<HttpResponse, ApiError> {
    let guard = match &cache.cache {
        Some(c) => {
            if let Some(blob) = c.get(path) {
                metrics::counter!("troupe_hls_cache_hits_total").increment(1);
                return respond_cached(req, &blob, content_type, cache_control);
            }
            match c.get_value_or_guard_async(path).await {
                // Another request read it while this one waited.
                Ok(blob) => {
                    metrics::counter!("troupe_hls_cache_hits_total").increment(1);
                    return respond_cached(req, &blob, content_type, cache_control);
                }
                Err(guard) => Some(guard),
            }
        }
        None => None,
    };
    metrics::counter!("troupe_hls_cache_misses_total").increment(1);
    let location = BlobPath::from(path);
    let got = store
        .get_opts(&location, GetOptions::default())
        .await
        .map_err(store_error)?;
    let size = got.meta.size;
    if size <= cache.max_item || size <= READ_WHOLE_MAX {
        let store_etag = got.meta.e_tag.clone();
        let bytes = got.bytes().await.map_err(store_error)?;
        let etag = strong_etag(store_etag.as_deref(), |h| h.update(&bytes));
        let blob = Arc::new(CachedBlob { bytes, etag });
        if let Some(guard) = guard {
            if size <= cache.max_item {
                let _ = guard.insert(blob.clone());
            }
        }
        return respond_cached(req, &blob, content_type, cache_control);
    }
    // Too big to cache: let waiting requests go, and stream it.
    drop(guard);
    let etag = strong_etag(got.meta.e_tag.as_deref(), |h| {
        h.update(size.to_be_bytes());
        h.update(got.meta.last_modified.to_rfc3339().as_bytes());
    });
    let head = req.method() == Method::HEAD;
    match decide(req, &etag, size) {
        ByteRange::NotModified => Ok(not_modified(&etag, cache_control)),
        ByteRange::Unsatisfiable => Err(unsatisfiable(size)),
        ByteRange::Full => {
            let body = if head {
                drop(got);
                futures::stream::empty().boxed()
            } else {
                payload_stream(got)
            };
            Ok(headers(StatusCode::OK, content_type, cache_control, &etag)
                .body(SizedStream::new(size, body)))
        }
        ByteRange::Partial { start, end } => {
            let store_etag = got.meta.e_tag.clone();
            drop(got);
            let len = end - start + 1;
            let body = if head {
                futures::stream::empty().boxed()
            } else {
                let part = store
                    .get_opts(
                        &location,
                        GetOptions {
                            range: Some(GetRange::Bounded(start..end + 1)),
                            if_match: store_etag,
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(store_error)?;
                payload_stream(part)
            };
            Ok(headers(
                StatusCode::PARTIAL_CONTENT,
                content_type,
                cache_control,
                &etag,
            )
            .insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")))
            .body(SizedStream::new(len, body)))
        }
    }
}

fn respond_cached(
    req: &HttpRequest,
    blob: &CachedBlob,
    content_type: &'static str,
    cache_control: &'static str,
) -> Result<HttpResponse, ApiError> {
    let size = blob.bytes.len() as u64;
    match decide(req, &blob.etag, size) {
        ByteRange::NotModified => Ok(not_modified(&blob.etag, cache_control)),
        ByteRange::Unsatisfiable => Err(unsatisfiable(size)),
        // A clone of `Bytes` is a reference count, not a copy.
        ByteRange::Full => Ok(
            headers(StatusCode::OK, content_type, cache_control, &blob.etag)
                .body(in_pieces(blob.bytes.clone())),
        ),
        ByteRange::Partial { start, end } => Ok(headers(
            StatusCode::PARTIAL_CONTENT,
            content_type,
            cache_control,
            &blob.etag,
        )
        .insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")))
        .body(in_pieces(blob.bytes.slice(start as usize..=end as usize)))),
    }
}

/// A body of `bytes`: as it is when small, else as a stream of [`WRITE_PIECE`] slices.
fn in_pieces(bytes: Bytes) -> BoxBody {
    if bytes.len() <= WRITE_PIECE {
        return BoxBody::new(bytes);
    }
    let len = bytes.len() as u64;
    BoxBody::new(SizedStream::new(
        len,
        futures::stream::iter(Pieces(bytes).map(Ok::<_, std::convert::Infallible>)),
    ))
}

/// `bytes` cut into zero-copy slices of at most [`WRITE_PIECE`] bytes.
struct Pieces(Bytes);

impl Iterator for Pieces {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.0.is_empty() {
            return None;
        }
        let n = self.0.len().min(WRITE_PIECE);
        Some(self.0.split_to(n))
    }
}

/// The headers of every successful blob answer.
fn headers(
    status: StatusCode,
    content_type: &'static str,
    cache_control: &'static str,
    etag: &HeaderValue,
) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        ))
        .insert_header((header::ETAG, etag.clone()))
        .insert_header((header::ACCEPT_RANGES, HeaderValue::from_static("bytes")));
    cors(&mut b);
    b
}

fn not_modified(etag: &HeaderValue, cache_control: &'static str) -> HttpResponse {
    let mut b = HttpResponse::NotModified();
    b.insert_header((header::ETAG, etag.clone()))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        ))
        .insert_header((header::ACCEPT_RANGES, HeaderValue::from_static("bytes")));
    cors(&mut b);
    b.finish()
}

fn unsatisfiable(size: u64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range_not_satisfiable",
        format!("the requested range is outside the {size} bytes of this file"),
    );
    e.headers.push(("content-range", format!("bytes */{size}")));
    e.headers.push(("accept-ranges", "bytes".into()));
    e
}

fn cors(b: &mut HttpResponseBuilder) {
    b.insert_header((
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    ))
    .insert_header((
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    ));
}

/// Adds the CORS headers to an error, so that a browser player sees its status.
fn with_cors(mut e: ApiError) -> ApiError {
    e.headers.push(("access-control-allow-origin", "*".into()));
    e.headers
        .push(("access-control-expose-headers", EXPOSE_HEADERS.into()));
    e
}

fn store_error(e: object_store::Error) -> ApiError {
    match e {
        object_store::Error::NotFound { .. } => ApiError::not_found("not_found", "no such file"),
        object_store::Error::Precondition { .. } => ApiError::unavailable(
            "blob_store_unavailable",
            "the file changed while it was being read; retry",
            1,
        ),
        other => ApiError::unavailable(
            "blob_store_unavailable",
            format!("the blob store failed: {other}"),
            2,
        ),
    }
}

/// A strong entity tag: a digest of the store's own tag (an S3 ETag, or the local file
/// system's inode-mtime-size), so it is stable across requests and, on a shared store, across
/// nodes; `fallback` feeds the digest when the store has no tag.
fn strong_etag(store_etag: Option<&str>, fallback: impl FnOnce(&mut Sha256)) -> HeaderValue {
    let mut h = Sha256::new();
    match store_etag {
        Some(tag) => h.update(tag.as_bytes()),
        None => fallback(&mut h),
    }
    let digest = h.finalize();
    let mut s = String::with_capacity(2 + 20);
    s.push('"');
    for b in &digest[..10] {
        let _ = write!(s, "{b:02x}");
    }
    s.push('"');
    HeaderValue::from_str(&s).expect("hex digits and quotes are a valid header value")
}

/// Streams a store read: the local file system in large reads (object_store's own stream
/// reads 8 KiB at a time), anything else as the store delivers it; either way handed on in
/// [`WRITE_PIECE`] slices.
fn payload_stream(got: GetResult) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    let range = got.range.clone();
    let chunks = match got.payload {
        GetResultPayload::File(file, _) => futures::stream::try_unfold(
            (file, range.start, range.end - range.start, false),
            |(mut file, pos, remaining, seeked)| async move {
                if remaining == 0 {
                    return Ok(None);
                }
                tokio::task::spawn_blocking(move || {
                    use std::io::{Read, Seek, SeekFrom};
                    if !seeked {
                        file.seek(SeekFrom::Start(pos))?;
                    }
                    let n = remaining.min(STREAM_CHUNK);
                    let mut buf = vec![0u8; n as usize];
                    file.read_exact(&mut buf)?;
                    Ok(Some((
                        Bytes::from(buf),
                        (file, pos + n, remaining - n, true),
                    )))
                })
                .await
                .map_err(std::io::Error::other)?
            },
        )
        .boxed(),
        GetResultPayload::Stream(s) => s.map_err(std::io::Error::other).boxed(),
    };
    chunks
        .map_ok(|chunk| futures::stream::iter(Pieces(chunk).map(Ok)))
        .try_flatten()
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Conditional requests and ranges.
// ---------------------------------------------------------------------------------------------

/// What to answer for a blob of known size and tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// `304`: the client's copy is current.
    NotModified,
    /// `200` with every byte: no range, a range to ignore, or several ranges.
    Full,
    /// `206` with bytes `start..=end`.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// `416`.
    Unsatisfiable,
}

/// Applies `If-None-Match`, `If-Range` and `Range` (RFC 9110 §13, §14) to a blob.
fn decide(req: &HttpRequest, etag: &HeaderValue, size: u64) -> ByteRange {
    let h = req.headers();
    if let Some(inm) = h.get(header::IF_NONE_MATCH) {
        if etag_listed(inm.as_bytes(), etag.as_bytes()) {
            return ByteRange::NotModified;
        }
    }
    let Some(range) = h.get(header::RANGE) else {
        return ByteRange::Full;
    };
    // If-Range needs a strong match; a date (or another tag) means "send it all".
    if let Some(if_range) = h.get(header::IF_RANGE) {
        if if_range.as_bytes() != etag.as_bytes() {
            return ByteRange::Full;
        }
    }
    match range.to_str() {
        Ok(v) => parse_range(v, size),
        Err(_) => ByteRange::Full,
    }
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, so `W/"x"` matches `"x"`).
fn etag_listed(list: &[u8], etag: &[u8]) -> bool {
    list.split(|&b| b == b',').any(|item| {
        let item = item.trim_ascii();
        item == b"*" || item.strip_prefix(b"W/").unwrap_or(item) == etag
    })
}

/// Parses a `Range` header against a representation of `size` bytes.
///
/// `bytes=a-b`, `bytes=a-` and `bytes=-n` give [`ByteRange::Partial`] (clamped to the end),
/// or [`ByteRange::Unsatisfiable`] when they start past the end (or ask for the last 0 bytes,
/// or anything of an empty file). Several ranges, other units and malformed values give
/// [`ByteRange::Full`]: RFC 9110 lets a server ignore them and answer 200.
pub(crate) fn parse_range(value: &str, size: u64) -> ByteRange {
    let value = value.trim();
    let Some((unit, spec)) = value.split_once('=') else {
        return ByteRange::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    match (number(first), number(last)) {
        // bytes=-n: the last n bytes.
        (None, Some(n)) if first.is_empty() => {
            if n == 0 || size == 0 {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Partial {
                    start: size - n.min(size),
                    end: size - 1,
                }
            }
        }
        // bytes=a-
        (Some(start), None) if last.is_empty() => {
            if start >= size {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Partial {
                    start,
                    end: size - 1,
                }
            }
        }
        // bytes=a-b
        (Some(start), Some(end)) if start <= end => {
            if start >= size {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Partial {
                    start,
                    end: end.min(size - 1),
                }
            }
        }
        _ => ByteRange::Full,
    }
}

/// A run of ASCII digits as a number (saturating: `99999999999999999999` is "past any end").
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

// ---------------------------------------------------------------------------------------------
// Names and playlists.
// ---------------------------------------------------------------------------------------------

/// The height of a rendition named like `^[0-9]{3,4}p$` (`720p` → 720), or `None`.
pub(crate) fn rendition_height(name: &str) -> Option<u32> {
    let digits = name.strip_suffix('p')?;
    if !(3..=4).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether `name` is a segment file name: `^seg_[0-9]{5}\.ts$`.
pub(crate) fn valid_segment(name: &str) -> bool {
    name.strip_prefix("seg_")
        .and_then(|rest| rest.strip_suffix(".ts"))
        .is_some_and(|n| n.len() == 5 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether an RFC 6381 codecs list is safe inside a quoted attribute.
fn valid_codecs(codecs: &str) -> bool {
    !codecs.is_empty()
        && codecs
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b',' | b'-' | b'_'))
}

/// The renditions a viewer capped at `cap` lines gets: those at most `cap` tall, or, when
/// none is, the smallest one, so that something plays. Renditions with unservable names are
/// left out. Order is kept.
pub(crate) fn playable(renditions: &[Rendition], cap: u32) -> Vec<&Rendition> {
    let named = || {
        renditions
            .iter()
            .filter_map(|r| rendition_height(&r.name).map(|h| (h, r)))
    };
    let mut chosen: Vec<&Rendition> = named().filter(|(h, _)| *h <= cap).map(|(_, r)| r).collect();
    if chosen.is_empty() {
        chosen.extend(named().min_by_key(|(h, _)| *h).map(|(_, r)| r));
    }
    chosen
}

/// The master playlist naming `renditions`, each as `t/{media_token}/{name}/index.m3u8`.
pub(crate) fn master_playlist(renditions: &[&Rendition], media_token: &str) -> String {
    let mut out = String::with_capacity(64 + renditions.len() * (200 + media_token.len()));
    out.push_str("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for r in renditions {
        let peak = r.bandwidth.max(r.average_bandwidth).max(1);
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={peak}");
        if r.average_bandwidth > 0 {
            let _ = write!(out, ",AVERAGE-BANDWIDTH={}", r.average_bandwidth);
        }
        if r.width > 0 && r.height > 0 {
            let _ = write!(out, ",RESOLUTION={}x{}", r.width, r.height);
        }
        if r.frame_rate.is_finite() && r.frame_rate > 0.0 {
            let _ = write!(out, ",FRAME-RATE={:.3}", r.frame_rate);
        }
        if valid_codecs(&r.codecs) {
            let _ = write!(out, ",CODECS=\"{}\"", r.codecs);
        }
        let _ = writeln!(out, "\nt/{media_token}/{}/index.m3u8", r.name);
    }
    out
}

/// How long a media token lives: twice the video (pauses, seeking), at least an hour, plus
/// ten minutes.
pub(crate) fn media_token_ttl(duration_secs: Option<f64>) -> i64 {
    let d = duration_secs
        .filter(|d| d.is_finite() && *d > 0.0)
        .unwrap_or(0.0);
    ((d * 2.0).ceil() as i64).max(3600) + 600
}

// ---------------------------------------------------------------------------------------------
// Handlers.
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct MasterQuery {
    token: Option<String>,
}

fn param<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.match_info().get(name).unwrap_or("")
}

fn file_not_found() -> ApiError {
    ApiError::not_found("not_found", "no such file")
}

fn media_error(e: MediaError) -> ApiError {
    match e {
        MediaError::Video(VideoError::NotFound) => {
            ApiError::not_found("video_not_found", "no such video")
        }
        MediaError::Unavailable(c) => c.into(),
        e @ (MediaError::Store(_) | MediaError::Video(VideoError::Store(_))) => e.into(),
        other => ApiError::unavailable(
            "video_unavailable",
            format!("cannot read the video: {other}"),
            2,
        ),
    }
}

/// The master playlist of a ready video: one variant per rendition the playback token's plan
/// allows (the smallest one if none is that small), each naming its media playlist under a
/// media token minted here. Never cached: it embeds that token.
#[utoipa::path(tag = "playback", params(
    ("video_id" = Uuid, Path, description = "Video id"),
    ("token" = String, Query, description = "Playback token, from `POST /api/v1/playback/sessions` or a heartbeat"),
), responses(
    (status = 200, description = "The master playlist (`#EXT-X-VERSION:3`, MPEG-TS renditions)", content_type = "application/vnd.apple.mpegurl"),
    (status = 403, description = "`invalid_playback_token`, `playback_token_expired`, `token_wrong_video` or `session_ended`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`video_not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`video_not_ready`", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "The video's actor or store is unavailable; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[route("/hls/{video_id}/master.m3u8", method = "GET", method = "HEAD")]
pub async fn master(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    master_playlist_for(&state, &req).await.map_err(with_cors)
}

async fn master_playlist_for(
    state: &AppState,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let video = Uuid::parse_str(param(req, "video_id"))
        .map_err(|_| ApiError::not_found("video_not_found", "no such video"))?;
    let token = web::Query::<MasterQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid_playback_token",
                "the master playlist needs ?token=<playback token>",
            )
        })?;
    let claims = state.tokens.verify_playback(&token, video)?;
    // A token dies with its session: a stopped or expired stream opens nothing new.
    let live = match claims.sid.as_deref().map(Uuid::parse_str) {
        Some(Ok(sid)) => state.playback.alive(&claims.sub, sid, video).await?,
        _ => false,
    };
    if !live {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "session_ended",
            "the playback session of this token has ended; start a new one",
        ));
    }
    let view = state.media.video(video).await.map_err(media_error)?;
    if view.state != VideoStatus::Ready {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "video_not_ready",
            format!(
                "the video is {}, not ready to play yet",
                serde_json::json!(view.state)
                    .as_str()
                    .unwrap_or("not ready")
            ),
        ));
    }
    let renditions = playable(&view.renditions, claims.cap);
    if renditions.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "video_not_ready",
            "the video has no playable renditions",
        ));
    }
    // When no rendition fits the plan, the smallest one is offered anyway: let its media token
    // open it.
    let tallest = renditions
        .iter()
        .filter_map(|r| rendition_height(&r.name))
        .max()
        .unwrap_or(0);
    let media_claims = PlaybackClaims {
        cap: claims.cap.max(tallest),
        ..claims
    };
    let media_token = state
        .tokens
        .sign_media(&media_claims, media_token_ttl(view.duration_secs))?;
    let mut b = HttpResponse::Ok();
    b.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(MPEGURL)))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static(MASTER_CACHE_CONTROL),
        ));
    cors(&mut b);
    Ok(b.body(master_playlist(&renditions, &media_token)))
}

/// Checks a media URL's token and rendition: the video id and rendition it names.
fn authorize<'a>(state: &AppState, req: &'a HttpRequest) -> Result<(Uuid, &'a str), ApiError> {
    let video = Uuid::parse_str(param(req, "video_id")).map_err(|_| file_not_found())?;
    let cap = media_cap(
        &state.hls_cache.tokens,
        &state.tokens,
        param(req, "media_token"),
        video,
    )?;
    let rendition = param(req, "rendition");
    let height = rendition_height(rendition).ok_or_else(file_not_found)?;
    if height > cap {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "rendition_not_allowed",
            format!("this token plays renditions up to {cap}p; {rendition} is not one of them"),
        ));
    }
    Ok((video, rendition))
}

/// The rendition cap of a media token for `video`: from the remembered verifications when the
/// token is there and unexpired, else verified (and then remembered).
fn media_cap(
    remembered: &Cache<String, VerifiedMedia>,
    tokens: &Tokens,
    token: &str,
    video: Uuid,
) -> Result<u32, ApiError> {
    let now = chrono::Utc::now().timestamp();
    if let Some(v) = remembered.get(token) {
        if v.video == video && now < v.exp {
            return Ok(v.cap);
        }
    }
    // Not remembered, expired (the check below says so) or for another video.
    let claims = tokens.verify_media(token, video)?;
    remembered.insert(
        token.to_owned(),
        VerifiedMedia {
            video,
            cap: claims.cap,
            exp: claims.exp,
        },
    );
    Ok(claims.cap)
}

/// A rendition's media playlist, as stored (its segment URIs are relative, so they carry the
/// media token of this URL).
#[utoipa::path(tag = "playback", params(
    ("video_id" = Uuid, Path, description = "Video id"),
    ("media_token" = String, Path, description = "Media token, as the master playlist names it"),
    ("rendition" = String, Path, description = "Rendition, e.g. `720p`"),
), responses(
    (status = 200, description = "The media playlist", content_type = "application/vnd.apple.mpegurl"),
    (status = 206, description = "Part of it (`Range`)", content_type = "application/vnd.apple.mpegurl"),
    (status = 304, description = "Not modified (`If-None-Match`)"),
    (status = 403, description = "`invalid_playback_token`, `playback_token_expired`, `token_wrong_video` or `rendition_not_allowed`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 416, description = "`range_not_satisfiable`", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`blob_store_unavailable`; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[route(
    "/hls/{video_id}/t/{media_token}/{rendition}/index.m3u8",
    method = "GET",
    method = "HEAD"
)]
pub async fn media_playlist(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (video, rendition) = authorize(&state, &req).map_err(with_cors)?;
    let path = layout::media_playlist(video, rendition);
    serve_blob(&state, &req, &path, MPEGURL, MEDIA_PLAYLIST_CACHE_CONTROL).await
}

/// One MPEG-TS segment of a rendition: cached in memory, with `ETag`, `Range` and long-lived
/// immutable caching (its URL is unique to a media token).
#[utoipa::path(tag = "playback", params(
    ("video_id" = Uuid, Path, description = "Video id"),
    ("media_token" = String, Path, description = "Media token, as the master playlist names it"),
    ("rendition" = String, Path, description = "Rendition, e.g. `720p`"),
    ("file" = String, Path, description = "Segment, `seg_NNNNN.ts`"),
), responses(
    (status = 200, description = "The segment", content_type = "video/mp2t"),
    (status = 206, description = "Part of it (`Range`)", content_type = "video/mp2t"),
    (status = 304, description = "Not modified (`If-None-Match`)"),
    (status = 403, description = "`invalid_playback_token`, `playback_token_expired`, `token_wrong_video` or `rendition_not_allowed`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: no such segment, or not a segment name", body = Problem, content_type = "application/problem+json"),
    (status = 416, description = "`range_not_satisfiable`", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`blob_store_unavailable`; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[route(
    "/hls/{video_id}/t/{media_token}/{rendition}/{file}",
    method = "GET",
    method = "HEAD"
)]
pub async fn segment(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (video, rendition) = authorize(&state, &req).map_err(with_cors)?;
    let file = param(&req, "file");
    if !valid_segment(file) {
        return Err(with_cors(file_not_found()));
    }
    let path = layout::rendition_file(video, rendition, file);
    serve_blob(&state, &req, &path, MP2T, SEGMENT_CACHE_CONTROL).await
}

/// CORS preflight for everything under `/hls/`.
#[utoipa::path(tag = "playback", params(
    ("tail" = String, Path, description = "Any path under /hls/"),
), responses(
    (status = 204, description = "Allowed: `GET, HEAD, OPTIONS` from any origin, with `Range` and `If-None-Match`"),
))]
#[options("/hls/{tail:.*}")]
pub async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        ))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        ))
        .insert_header((
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        ))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use actix_web::ResponseError;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};

    fn rendition(name: &str, w: u32, h: u32, bw: u64) -> Rendition {
        Rendition {
            name: name.into(),
            width: w,
            height: h,
            bandwidth: bw,
            average_bandwidth: bw * 9 / 10,
            codecs: "avc1.64001f,mp4a.40.2".into(),
            frame_rate: 30.0,
        }
    }

    fn ladder() -> Vec<Rendition> {
        vec![
            rendition("1080p", 1920, 1080, 5_500_000),
            rendition("720p", 1280, 720, 2_890_800),
            rendition("360p", 640, 360, 910_800),
        ]
    }

    #[test]
    fn rendition_names() {
        assert_eq!(rendition_height("720p"), Some(720));
        assert_eq!(rendition_height("1080p"), Some(1080));
        assert_eq!(rendition_height("2160p"), Some(2160));
        assert_eq!(rendition_height("240p"), Some(240));
        for bad in [
            "", "p", "72p", "10800p", "720", "720P", "720p ", " 720p", "7a0p", "..", "720p/..",
            "-720p", "+720p", "720p%2F", "720pp", "٧٢٠p",
        ] {
            assert_eq!(rendition_height(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn segment_names() {
        assert!(valid_segment("seg_00000.ts"));
        assert!(valid_segment("seg_99999.ts"));
        for bad in [
            "",
            "seg_0000.ts",
            "seg_000000.ts",
            "seg_00000.ts ",
            "seg_00000.m4s",
            "seg_00000.TS",
            "SEG_00000.ts",
            "index.m3u8",
            "..",
            "../seg_00000.ts",
            "..%2Fseg_00000.ts",
            "/etc/passwd",
            "seg_0000a.ts",
            "seg_-0000.ts",
            "seg_+0000.ts",
            "seg_00000.ts/x",
            "seg_00000.tsx",
            "xseg_00000.ts",
        ] {
            assert!(!valid_segment(bad), "{bad:?}");
        }
    }

    #[test]
    fn ranges_of_every_form() {
        use ByteRange::*;
        let p = |start, end| Partial { start, end };
        assert_eq!(parse_range("bytes=0-99", 1000), p(0, 99));
        assert_eq!(parse_range("bytes=0-0", 1000), p(0, 0));
        assert_eq!(parse_range("bytes=100-", 1000), p(100, 999));
        assert_eq!(parse_range("bytes=0-", 1000), p(0, 999));
        assert_eq!(parse_range("bytes=-100", 1000), p(900, 999));
        assert_eq!(parse_range("bytes=-1", 1000), p(999, 999));
        // Clamped to the end.
        assert_eq!(parse_range("bytes=500-5000", 1000), p(500, 999));
        assert_eq!(parse_range("bytes=-5000", 1000), p(0, 999));
        assert_eq!(parse_range("bytes=999-999", 1000), p(999, 999));
        assert_eq!(
            parse_range("bytes=0-99999999999999999999999", 1000),
            p(0, 999)
        );
        // Lenient about case and spaces.
        assert_eq!(parse_range("Bytes=1-2", 1000), p(1, 2));
        assert_eq!(parse_range("  bytes = 1 - 2 ", 1000), p(1, 2));
    }

    #[test]
    fn unsatisfiable_ranges() {
        use ByteRange::*;
        assert_eq!(parse_range("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=1000-2000", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), Unsatisfiable);
        assert_eq!(
            parse_range("bytes=99999999999999999999999-", 1000),
            Unsatisfiable
        );
    }

    #[test]
    fn garbage_and_multi_ranges_are_ignored() {
        use ByteRange::*;
        for v in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=1-a",
            "bytes=5-1",
            "bytes=1--2",
            "bytes=-1-2",
            "bytes=+1-2",
            "bytes=0x10-20",
            "items=0-1",
            "0-1",
            "bytes=0-1,5-6",
            "bytes=0-1, 5-6",
            "bytes=0-1,",
            "bytes=1.5-2",
        ] {
            assert_eq!(parse_range(v, 1000), Full, "{v:?}");
        }
    }

    #[test]
    fn if_none_match_lists() {
        let tag = br#""abc""#;
        assert!(etag_listed(br#""abc""#, tag));
        assert!(etag_listed(br#"W/"abc""#, tag));
        assert!(etag_listed(br#""x", "abc""#, tag));
        assert!(etag_listed(b"*", tag));
        assert!(!etag_listed(br#""abcd""#, tag));
        assert!(!etag_listed(b"abc", tag));
        assert!(!etag_listed(b"", tag));
    }

    #[test]
    fn master_lists_what_the_cap_allows_with_every_attribute() {
        let renditions = ladder();
        let chosen = playable(&renditions, 720);
        let names: Vec<_> = chosen.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["720p", "360p"]);
        let m = master_playlist(&chosen, "TOK.EN");
        assert_eq!(
            m,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2890800,AVERAGE-BANDWIDTH=2601720,RESOLUTION=1280x720,FRAME-RATE=30.000,CODECS=\"avc1.64001f,mp4a.40.2\"\n\
             t/TOK.EN/720p/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=910800,AVERAGE-BANDWIDTH=819720,RESOLUTION=640x360,FRAME-RATE=30.000,CODECS=\"avc1.64001f,mp4a.40.2\"\n\
             t/TOK.EN/360p/index.m3u8\n"
        );
        assert_eq!(playable(&renditions, 1080).len(), 3);
        assert_eq!(playable(&renditions, 2160).len(), 3);
        assert_eq!(playable(&renditions, 1079).len(), 2);
    }

    #[test]
    fn master_falls_back_to_the_smallest_rendition() {
        let renditions = ladder();
        let chosen = playable(&renditions, 240);
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].name, "360p");
        assert!(playable(&[], 720).is_empty());
    }

    #[test]
    fn master_skips_unservable_names_and_unsafe_attributes() {
        let mut odd = rendition("720p", 1280, 720, 0);
        odd.codecs = "avc1\",evil".into();
        odd.frame_rate = f64::NAN;
        odd.average_bandwidth = 0;
        let renditions = vec![rendition("../x", 1, 1, 1), odd];
        let chosen = playable(&renditions, 1080);
        assert_eq!(chosen.len(), 1);
        let m = master_playlist(&chosen, "T");
        assert!(
            m.contains("#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=1280x720\nt/T/720p/index.m3u8\n"),
            "{m}"
        );
        assert!(!m.contains("CODECS"));
        assert!(!m.contains("../x"));
    }

    #[test]
    fn media_tokens_are_verified_once_and_still_expire() {
        let tokens = Tokens::new(
            b"unit-test-secret-unit-test-secret-0123",
            &crate::config::AuthConfig::default(),
        );
        let remembered = Cache::new(16);
        let video = Uuid::new_v4();
        let (_, playback) = tokens
            .sign_playback(video, 720, "viewer", None, 60)
            .unwrap();
        let media = tokens.sign_media(&playback, 3600).unwrap();
        assert_eq!(media_cap(&remembered, &tokens, &media, video).unwrap(), 720);
        assert_eq!(remembered.len(), 1);
        assert_eq!(media_cap(&remembered, &tokens, &media, video).unwrap(), 720);
        // Another video: refused, remembered or not.
        let err = media_cap(&remembered, &tokens, &media, Uuid::new_v4()).unwrap_err();
        assert_eq!(err.code, "token_wrong_video");
        // A playback token is not a media token.
        let (pb, _) = tokens
            .sign_playback(video, 720, "viewer", None, 60)
            .unwrap();
        assert_eq!(
            media_cap(&remembered, &tokens, &pb, video)
                .unwrap_err()
                .code,
            "invalid_playback_token"
        );
        // A tampered token is not the remembered string, so it is checked, and refused.
        let mut tampered = media.clone();
        tampered.pop();
        tampered.push(if media.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            media_cap(&remembered, &tokens, &tampered, video)
                .unwrap_err()
                .code,
            "invalid_playback_token"
        );
        // Expired (past the verifier's leeway): refused even though it was remembered.
        let old = tokens.sign_media(&playback, -60).unwrap();
        remembered.insert(
            old.clone(),
            VerifiedMedia {
                video,
                cap: 720,
                exp: chrono::Utc::now().timestamp() - 60,
            },
        );
        assert_eq!(
            media_cap(&remembered, &tokens, &old, video)
                .unwrap_err()
                .code,
            "playback_token_expired"
        );
    }

    #[test]
    fn media_token_lifetime() {
        assert_eq!(media_token_ttl(None), 4200);
        assert_eq!(media_token_ttl(Some(12.0)), 4200);
        assert_eq!(media_token_ttl(Some(f64::NAN)), 4200);
        assert_eq!(media_token_ttl(Some(7200.2)), 14401 + 600);
    }

    // --- serve(): the cache, conditional requests and ranges, against an in-memory store. ---

    async fn store_with(path: &str, bytes: &[u8]) -> InMemory {
        let store = InMemory::new();
        store
            .put(&BlobPath::from(path), PutPayload::from(bytes.to_vec()))
            .await
            .unwrap();
        store
    }

    fn hdr<'a>(h: &'a actix_web::http::header::HeaderMap, name: &str) -> &'a str {
        h.get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    async fn body(res: HttpResponse) -> Bytes {
        actix_web::body::to_bytes(res.into_body()).await.unwrap()
    }

    fn content(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    async fn get(
        cache: &BlobCache,
        store: &dyn ObjectStore,
        req: TestRequest,
    ) -> Result<HttpResponse, ApiError> {
        serve(
            cache,
            store,
            &req.to_http_request(),
            "v/seg_00000.ts",
            MP2T,
            SEGMENT_CACHE_CONTROL,
        )
        .await
    }

    #[actix_web::test]
    async fn cached_blob_full_range_etag_and_head() {
        let data = content(10_000);
        let store = store_with("v/seg_00000.ts", &data).await;
        let cache = BlobCache::new(1 << 20);
        let res = get(&cache, &store, TestRequest::get()).await.unwrap();
        assert_eq!(res.status(), 200);
        let h = res.headers().clone();
        assert_eq!(hdr(&h, "content-type"), "video/mp2t");
        assert_eq!(hdr(&h, "cache-control"), SEGMENT_CACHE_CONTROL);
        assert_eq!(hdr(&h, "accept-ranges"), "bytes");
        assert_eq!(hdr(&h, "access-control-allow-origin"), "*");
        assert_eq!(hdr(&h, "access-control-expose-headers"), EXPOSE_HEADERS);
        let etag = hdr(&h, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 22);
        assert_eq!(body(res).await, data);
        assert_eq!(cache.len(), 1);

        // Now from the cache, even with the store emptied: same tag.
        store
            .delete(&BlobPath::from("v/seg_00000.ts"))
            .await
            .unwrap();
        let res = get(&cache, &store, TestRequest::get()).await.unwrap();
        assert_eq!(hdr(res.headers(), "etag"), etag.as_str());
        assert_eq!(body(res).await, data);

        let res = get(
            &cache,
            &store,
            TestRequest::get().insert_header(("range", "bytes=100-199")),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 206);
        assert_eq!(hdr(res.headers(), "content-range"), "bytes 100-199/10000");
        assert_eq!(body(res).await, &data[100..200]);

        let res = get(
            &cache,
            &store,
            TestRequest::get().insert_header(("range", "bytes=-10")),
        )
        .await
        .unwrap();
        assert_eq!(hdr(res.headers(), "content-range"), "bytes 9990-9999/10000");
        assert_eq!(body(res).await, &data[9990..]);

        let res = get(
            &cache,
            &store,
            TestRequest::get().insert_header(("range", "bytes=0-1,5-6")),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(body(res).await.len(), 10_000);

        let err = get(
            &cache,
            &store,
            TestRequest::get().insert_header(("range", "bytes=10000-")),
        )
        .await
        .unwrap_err();
        assert_eq!(err.status, 416);
        let res = err.error_response();
        assert_eq!(hdr(res.headers(), "content-range"), "bytes */10000");

        let res = get(
            &cache,
            &store,
            TestRequest::get().insert_header(("if-none-match", etag.as_str())),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 304);
        assert_eq!(hdr(res.headers(), "etag"), etag.as_str());
        assert_eq!(hdr(res.headers(), "access-control-allow-origin"), "*");
        assert!(body(res).await.is_empty());

        // If-Range with another tag: the whole thing.
        let res = get(
            &cache,
            &store,
            TestRequest::get()
                .insert_header(("range", "bytes=0-9"))
                .insert_header(("if-range", "\"other\"")),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 200);
        let res = get(
            &cache,
            &store,
            TestRequest::get()
                .insert_header(("range", "bytes=0-9"))
                .insert_header(("if-range", etag.as_str())),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 206);

        let res = get(&cache, &store, TestRequest::default().method(Method::HEAD))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(hdr(res.headers(), "etag"), etag.as_str());
    }

    #[actix_web::test]
    async fn missing_blob_is_404_and_not_cached() {
        let store = InMemory::new();
        let cache = BlobCache::new(1 << 20);
        let err = get(&cache, &store, TestRequest::get()).await.unwrap_err();
        assert_eq!(err.status, 404);
        assert_eq!(err.code, "not_found");
        assert!(cache.is_empty());
    }

    #[actix_web::test]
    async fn big_blobs_are_streamed_not_cached() {
        // Capacity 8 MiB: blobs over 1 MiB are not cached, and this one is over the whole-read
        // limit too, so it is streamed.
        let data = content(1_500_000);
        let store = store_with("v/seg_00000.ts", &data).await;
        let cache = BlobCache::new(8 << 20);
        let res = get(&cache, &store, TestRequest::get()).await.unwrap();
        assert_eq!(res.status(), 200);
        let etag = hdr(res.headers(), "etag").to_owned();
        assert_eq!(body(res).await, data);
        assert!(cache.is_empty());

        // HEAD: the length, without reading the body.
        let res = get(&cache, &store, TestRequest::default().method(Method::HEAD))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            actix_web::body::MessageBody::size(res.body()),
            actix_web::body::BodySize::Sized(1_500_000)
        );
        assert_eq!(hdr(res.headers(), "etag"), etag);

        let res = get(
            &cache,
            &store,
            TestRequest::get().insert_header(("range", "bytes=1000000-1000009")),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 206);
        assert_eq!(
            hdr(res.headers(), "content-range"),
            "bytes 1000000-1000009/1500000"
        );
        assert_eq!(hdr(res.headers(), "etag"), etag.as_str());
        assert_eq!(body(res).await, &data[1_000_000..1_000_010]);

        let res = get(
            &cache,
            &store,
            TestRequest::get().insert_header(("if-none-match", etag.as_str())),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 304);

        let err = get(
            &cache,
            &store,
            TestRequest::get().insert_header(("range", "bytes=2000000-")),
        )
        .await
        .unwrap_err();
        assert_eq!(err.status, 416);
    }

    #[actix_web::test]
    async fn local_files_stream_in_large_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let data = content(STREAM_CHUNK as usize * 2 + 17);
        std::fs::create_dir_all(dir.path().join("v")).unwrap();
        std::fs::write(dir.path().join("v/seg_00000.ts"), &data).unwrap();
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let cache = BlobCache::new(0);
        let res = get(&cache, &store, TestRequest::get()).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(body(res).await, data);
        let res = get(
            &cache,
            &store,
            TestRequest::get().insert_header(("range", "bytes=262140-262150")),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 206);
        assert_eq!(body(res).await, &data[262_140..=262_150]);
    }

    #[actix_web::test]
    async fn the_cache_stays_within_its_bytes() {
        let cache = BlobCache::new(1 << 20);
        let store = InMemory::new();
        for i in 0..40 {
            let path = format!("v/{i}");
            store
                .put(
                    &BlobPath::from(path.as_str()),
                    PutPayload::from(content(100_000)),
                )
                .await
                .unwrap();
            let req = TestRequest::get().to_http_request();
            let res = serve(&cache, &store, &req, &path, MP2T, SEGMENT_CACHE_CONTROL)
                .await
                .unwrap();
            assert_eq!(body(res).await, content(100_000));
        }
        assert!(cache.weight() <= 1 << 20, "{}", cache.weight());
        assert!(!cache.is_empty());
        assert_eq!(cache.max_blob_bytes(), 128 * 1024);
    }
}
