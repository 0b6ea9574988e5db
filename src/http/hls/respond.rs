//! Serving one blob: the cache, conditional requests (`ETag`/`If-None-Match`), byte ranges,
//! `HEAD`, CORS, and streaming of blobs too big to cache.

use super::cache::{BlobCache, CachedBlob};
use super::{EXPOSE_HEADERS, READ_WHOLE_MAX, STREAM_CHUNK, WRITE_PIECE};
use crate::http::error::ApiError;
use crate::state::AppState;
use actix_web::body::{BoxBody, SizedStream};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path as BlobPath;
use object_store::{GetOptions, GetRange, GetResult, GetResultPayload, ObjectStore};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::sync::Arc;

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

pub(super) async fn serve(
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

pub(super) fn cors(b: &mut HttpResponseBuilder) {
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
pub(super) fn with_cors(mut e: ApiError) -> ApiError {
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

#[cfg(test)]
mod tests {
    use super::super::{MP2T, SEGMENT_CACHE_CONTROL};
    use super::*;
    use actix_web::test::TestRequest;
    use actix_web::ResponseError;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};

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
