//! Property tests of what HLS parses from outside: `Range`, `If-None-Match` and `If-Range`
//! (through [`respond::serve`], the function that answers a blob request), the rendition and
//! segment names of a media URL, and media tokens. Whatever a client sends, the answer is a
//! 2xx, a 304 or a 4xx, never a panic or a 5xx, and what is served is what was asked for.

use super::access::{media_cap, rendition_height, valid_segment};
use super::cache::BlobCache;
use super::respond::serve;
use super::{MP2T, SEGMENT_CACHE_CONTROL};
use crate::config::AuthConfig;
use crate::http::tokens::Tokens;
use actix_web::http::header::HeaderValue;
use actix_web::http::Method;
use actix_web::test::TestRequest;
use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::path::Path as BlobPath;
use object_store::{ObjectStoreExt, PutPayload};
use proptest::prelude::*;
use proptest::test_runner::Config;
use uuid::Uuid;

/// 10,000 cases, as the issue asks of every parser of outside input; no regression files are
/// written into the source tree.
fn config() -> Config {
    Config {
        cases: 10_000,
        failure_persistence: None,
        ..Config::default()
    }
}

/// What may follow `bytes=`: numbers (small, near the blob's size, huge, past u64), dashes,
/// commas, blanks, and now and then anything printable.
fn range_spec() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        (0u64..3_000).prop_map(|n| n.to_string()),
        (1_048_000u64..1_200_000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("99999999999999999999999".to_owned()),
        Just(String::new()),
        "[0-9]{1,3}[a-z+.]?".prop_map(|s| s),
    ];
    let one = (number.clone(), "[ ]?-[ ]?", number).prop_map(|(a, d, b)| format!("{a}{d}{b}"));
    prop_oneof![
        4 => one.clone(),
        1 => prop::collection::vec(one, 2..4).prop_map(|v| v.join(",")),
        1 => "[ -~]{0,30}",
    ]
}

/// A `Range` header value: mostly byte ranges, with odd units, spacing and case.
fn range_header() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => (
            prop::sample::select(vec!["bytes", "BYTES", "Bytes", " bytes ", "items", "", "bytes="]),
            prop::sample::select(vec!["=", " = ", "", "=="]),
            range_spec(),
        )
            .prop_map(|(u, eq, spec)| format!("{u}{eq}{spec}").into_bytes()),
        1 => header_bytes(),
    ]
}

/// Any bytes a header value may hold (visible ASCII, blanks, tab and obs-text).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![8 => 0x20u8..0x7f, 1 => Just(b'\t'), 1 => 0x80u8..=0xff],
        0..48,
    )
}

/// An entity-tag list: the blob's own tag (found by the caller), others, weak ones, `*`.
fn tag_list() -> impl Strategy<Value = Vec<(u8, String)>> {
    prop::collection::vec(
        (
            0u8..5,
            prop_oneof!["\"[ -!#-~]{0,24}\"", "[ -~]{0,12}", Just("*".to_owned())],
        ),
        0..4,
    )
}

/// Renders a tag list; kind 0 is the blob's tag, 1 its weak form, others as generated.
fn render_tags(list: &[(u8, String)], etag: &str) -> Vec<u8> {
    list.iter()
        .map(|(kind, other)| match kind {
            0 => etag.to_owned(),
            1 => format!("W/{etag}"),
            _ => other.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
        .into_bytes()
}

#[derive(Debug, Clone)]
struct Asked {
    head: bool,
    range: Option<Vec<u8>>,
    if_none_match: Option<Vec<(u8, String)>>,
    if_range: Option<(bool, Vec<u8>)>,
}

fn asked() -> impl Strategy<Value = Asked> {
    (
        prop::bool::weighted(0.1),
        prop::option::weighted(0.8, range_header()),
        prop::option::weighted(0.2, tag_list()),
        prop::option::weighted(0.15, (any::<bool>(), header_bytes())),
    )
        .prop_map(|(head, range, if_none_match, if_range)| Asked {
            head,
            range,
            if_none_match,
            if_range,
        })
}

fn request(a: &Asked, etag: &str) -> Option<TestRequest> {
    let mut req = TestRequest::default().method(if a.head { Method::HEAD } else { Method::GET });
    let mut add = |name: &'static str, v: Vec<u8>| -> Option<()> {
        // A value no HTTP parser would hand over is not a request anyone can send.
        let v = HeaderValue::from_bytes(&v).ok()?;
        req = std::mem::take(&mut req).insert_header((name, v));
        Some(())
    };
    if let Some(r) = &a.range {
        add("range", r.clone())?;
    }
    if let Some(list) = &a.if_none_match {
        add("if-none-match", render_tags(list, etag))?;
    }
    if let Some((own, other)) = &a.if_range {
        add(
            "if-range",
            if *own {
                etag.as_bytes().to_vec()
            } else {
                other.clone()
            },
        )?;
    }
    Some(req)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

const PATH: &str = "v/seg_00000.ts";

async fn store_with(bytes: &[u8]) -> InMemory {
    let store = InMemory::new();
    store
        .put(&BlobPath::from(PATH), PutPayload::from(bytes.to_vec()))
        .await
        .expect("put");
    store
}

/// Checks one answer against the blob and the request: 200 with it all, 206 with exactly the
/// range `Content-Range` names, 304 only when `If-None-Match` named its tag, or 416 naming
/// its size; never anything else. `read_body` reads and compares the body.
async fn check(
    res: Result<actix_web::HttpResponse, crate::http::error::ApiError>,
    data: &[u8],
    a: &Asked,
    read_body: bool,
) -> Result<(), TestCaseError> {
    let size = data.len() as u64;
    let res = match res {
        Ok(res) => res,
        Err(e) => {
            prop_assert_eq!(e.status.as_u16(), 416, "{:?}", e);
            let want = format!("bytes */{size}");
            prop_assert!(e
                .headers
                .iter()
                .any(|(k, v)| *k == "content-range" && *v == want));
            return Ok(());
        }
    };
    let status = res.status().as_u16();
    prop_assert!([200, 206, 304].contains(&status), "status {}", status);
    // `If-None-Match` naming the blob's own tag (or its weak form) is always a 304.
    let names_it = a
        .if_none_match
        .as_ref()
        .is_some_and(|l| l.iter().any(|(kind, _)| *kind <= 1));
    prop_assert!(
        status == 304 || !names_it,
        "status {} for its own tag",
        status
    );
    if status == 304 {
        prop_assert!(a.if_none_match.is_some());
        return Ok(());
    }
    let body_size = match actix_web::body::MessageBody::size(res.body()) {
        actix_web::body::BodySize::Sized(n) => n,
        other => return Err(TestCaseError::fail(format!("body size {other:?}"))),
    };
    let (start, end) = if status == 206 {
        prop_assert!(a.range.is_some());
        let cr = res
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (span, total) = cr
            .strip_prefix("bytes ")
            .and_then(|r| r.split_once('/'))
            .ok_or_else(|| TestCaseError::fail(format!("Content-Range {cr:?}")))?;
        prop_assert_eq!(total.parse::<u64>().ok(), Some(size));
        let (s, e) = span
            .split_once('-')
            .and_then(|(s, e)| Some((s.parse::<u64>().ok()?, e.parse::<u64>().ok()?)))
            .ok_or_else(|| TestCaseError::fail(format!("Content-Range {cr:?}")))?;
        prop_assert!(s <= e && e < size, "{}", cr);
        (s, e)
    } else {
        (0, size.saturating_sub(1))
    };
    let want = if size == 0 { 0 } else { end - start + 1 };
    // A HEAD answer's body is empty but sized; a GET's is exactly what Content-Range names.
    prop_assert_eq!(body_size, want);
    if read_body && !a.head {
        let body: Bytes = actix_web::body::to_bytes(res.into_body())
            .await
            .map_err(|_| TestCaseError::fail("body"))?;
        let expected = if size == 0 {
            &data[..0]
        } else {
            &data[start as usize..=end as usize]
        };
        prop_assert_eq!(body.as_ref(), expected);
    }
    Ok(())
}

#[test]
fn range_and_conditional_requests_on_cached_blobs_never_fail_or_serve_wrong_bytes() {
    let rt = runtime();
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&(0usize..3_000, asked()), |(size, a)| {
            rt.block_on(async {
                let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
                let store = store_with(&data).await;
                // With a cache, and without one (every blob read whole from the store).
                for cache_bytes in [1u64 << 20, 0] {
                    let cache = BlobCache::new(cache_bytes);
                    let first = serve(
                        &cache,
                        &store,
                        &TestRequest::get().to_http_request(),
                        PATH,
                        MP2T,
                        SEGMENT_CACHE_CONTROL,
                    )
                    .await
                    .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                    let etag = first
                        .headers()
                        .get("etag")
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_owned();
                    let Some(req) = request(&a, &etag) else {
                        return Ok(());
                    };
                    let res = serve(
                        &cache,
                        &store,
                        &req.to_http_request(),
                        PATH,
                        MP2T,
                        SEGMENT_CACHE_CONTROL,
                    )
                    .await;
                    check(res, &data, &a, true).await?;
                }
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn range_and_conditional_requests_on_streamed_blobs_never_fail() {
    let rt = runtime();
    // Over the whole-read limit (1 MiB) and over a cache entry: streamed from the store.
    let data: Vec<u8> = (0..1_100_000).map(|i| (i % 251) as u8).collect();
    let store = rt.block_on(store_with(&data));
    let cache = BlobCache::new(2 << 20);
    let etag = rt.block_on(async {
        let res = serve(
            &cache,
            &store,
            &TestRequest::default()
                .method(Method::HEAD)
                .to_http_request(),
            PATH,
            MP2T,
            SEGMENT_CACHE_CONTROL,
        )
        .await
        .unwrap();
        res.headers()
            .get("etag")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    });
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&asked(), |a| {
            let Some(req) = request(&a, &etag) else {
                return Ok(());
            };
            rt.block_on(async {
                let res = serve(
                    &cache,
                    &store,
                    &req.to_http_request(),
                    PATH,
                    MP2T,
                    SEGMENT_CACHE_CONTROL,
                )
                .await;
                // Bodies are not read here (a megabyte each); their sizes are checked.
                check(res, &data, &a, false).await
            })
        })
        .unwrap();
    assert!(cache.is_empty());
}

/// `^[0-9]{3,4}p$`, written another way.
fn is_rendition(s: &str) -> bool {
    let b = s.as_bytes();
    (4..=5).contains(&b.len())
        && b[b.len() - 1] == b'p'
        && b[..b.len() - 1].iter().all(u8::is_ascii_digit)
}

/// `^seg_[0-9]{5}\.ts$`, written another way.
fn is_segment(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && &b[..4] == b"seg_"
        && b[4..9].iter().all(u8::is_ascii_digit)
        && &b[9..] == b".ts"
}

/// Path segments as a client may send them: near misses of the valid names and anything.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{2,5}[pP]?[ ]?",
        "(seg|SEG)_[0-9]{4,6}\\.(ts|TS|m4s)",
        "[\\PC]{0,16}",
        "\\.\\.|%2[fF]|/|\\\\",
    ]
}

#[test]
fn rendition_and_segment_names_are_exactly_the_valid_ones() {
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&name(), |s| {
            prop_assert_eq!(rendition_height(&s).is_some(), is_rendition(&s), "{:?}", s);
            if let Some(h) = rendition_height(&s) {
                prop_assert_eq!(Some(h), s[..s.len() - 1].parse::<u32>().ok());
            }
            prop_assert_eq!(valid_segment(&s), is_segment(&s), "{:?}", s);
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_media_token_that_is_not_one_is_refused_with_403() {
    let tokens = Tokens::new(
        b"unit-test-secret-unit-test-secret-0123",
        &AuthConfig::default(),
    );
    let cache = BlobCache::new(0);
    let video = Uuid::new_v4();
    // A real media token, for tampering with.
    let (playback, claims) = tokens
        .sign_playback(video, 720, "ada", Some(Uuid::new_v4().to_string()), 60)
        .unwrap();
    let media = tokens.sign_media(&claims, 600).unwrap();
    let token = prop_oneof![
        "[\\PC]{0,64}",
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,43}",
        // The real one with a character changed, dropped or added.
        (0..media.len(), any::<char>(), 0u8..3).prop_map({
            let media = media.clone();
            move |(i, c, how)| {
                let mut chars: Vec<char> = media.chars().collect();
                match how {
                    0 => chars[i] = c,
                    1 => {
                        chars.remove(i);
                    }
                    _ => chars.insert(i, c),
                }
                chars.into_iter().collect::<String>()
            }
        }),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&token, |t| {
            match media_cap(&cache.tokens, &tokens, &t, video) {
                // Only the genuine token opens anything (a change in its base64 padding bits
                // aside, which decodes to the same bytes).
                Ok((cap, viewer)) => {
                    prop_assert_eq!(cap, 720);
                    prop_assert_eq!(&*viewer, "ada");
                }
                Err(e) => prop_assert_eq!(e.status.as_u16(), 403, "{:?}", e),
            }
            // A playback token is not a media token, nor a media token for another video.
            prop_assert!(media_cap(&cache.tokens, &tokens, &playback, video).is_err());
            prop_assert!(media_cap(&cache.tokens, &tokens, &t, Uuid::nil()).is_err());
            Ok(())
        })
        .unwrap();
}
