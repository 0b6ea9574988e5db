//! Compression of the answers that are text: gzip or brotli, negotiated by `Accept-Encoding`.
//!
//! Compressed: the whole body of a `GET` answer whose type is text (JSON, problem+json, HLS
//! playlists, HTML, JavaScript, CSS, SVG, XML feeds, the metrics page), of
//! [`MIN_BYTES`]`..=`[`MAX_BYTES`] bytes, compressed in one go on the worker (so the answer
//! keeps its `Content-Length`; actix's own `Compress` hands every chunk over 1 KiB to a
//! blocking thread and turns the answer chunked).
//!
//! Never compressed, whatever the client accepts:
//! - anything but `GET` (a `HEAD` gets the `Vary` only; `POST` answers carry the secrets —
//!   tokens from login, refresh, API tokens, webhook secrets — and compressing a secret next to
//!   text an attacker chooses is what BREACH measures);
//! - a request with `Range`, or an answer `206` (ranges count bytes of the identity body);
//! - the tus upload endpoints (`/api/v1/uploads…`);
//! - streaming bodies: event streams (`text/event-stream`, which a compressor would hold back
//!   until its buffer fills) and segments streamed from the store;
//! - segments, images and video (`video/*`, `image/*` but SVG), whose bytes are compressed
//!   already;
//! - an answer that already has a `Content-Encoding` (the console's precompressed assets);
//! - bodies under [`MIN_BYTES`]: an answer of that size fits in one TCP segment with its
//!   headers either way, so compressing it saves no packet and costs CPU.
//!
//! Every `GET`/`HEAD` answer of a compressible type carries `Vary: Accept-Encoding`, compressed
//! or not, so that a cache never hands a compressed copy to a client that did not ask for one.
//! A compressed answer loses `Accept-Ranges` and its strong `ETag` becomes weak (`W/"…"`),
//! as nginx does: the bytes differ from the identity ones, which `If-None-Match` (weak
//! comparison) still matches.

use crate::state::AppState;
use actix_web::body::{BodySize, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use bytes::Bytes;

/// Bodies smaller than this are sent as they are (see the module documentation).
pub const MIN_BYTES: u64 = 1024;
/// Bodies larger than this are sent as they are: compressing a megabyte takes milliseconds of
/// the worker's time, which every other connection on that worker would wait for.
pub const MAX_BYTES: u64 = 1024 * 1024;
/// gzip level: zlib's fastest, as nginx's default `gzip_comp_level 1` and actix's `Compress`.
const GZIP_LEVEL: u32 = 1;
/// Brotli quality: 3 of 11, as actix's `Compress`; 11 (the library's default) is far slower
/// for a few percent fewer bytes, which pays only for files compressed once at build. Even 3
/// costs ~400 µs on a 26 KB listing here (benches/load/README.md).
const BROTLI_QUALITY: u32 = 3;
/// Brotli window (log2): 1 MiB, the largest body compressed here.
const BROTLI_WINDOW: u32 = 20;

/// A content coding this server produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `br`.
    Brotli,
    /// `gzip`.
    Gzip,
}

impl Coding {
    /// The token of this coding in `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// The coding to answer with, from an `Accept-Encoding` value: the one with the highest
/// q-value among `br` and `gzip` (`x-gzip` counts as `gzip`; `*` stands for each one not
/// named), `br` when equal, and none when neither is acceptable (absent, `q=0`, unknown
/// codings only, or garbage). An item with a malformed q-value is ignored.
pub fn negotiate(accept: &[u8]) -> Option<Coding> {
    match weights(accept) {
        (0, 0) => None,
        (b, g) if b >= g => Some(Coding::Brotli),
        _ => Some(Coding::Gzip),
    }
}

/// The coding for a body compressed per request: as [`negotiate`], but `gzip` when both are
/// equally acceptable. Measured on a 26 KB listing (`benches/load/README.md`), gzip level 1
/// made it 5.6× smaller for ~80 µs of CPU, the Rust brotli encoder at quality 3 6.8× for
/// ~400 µs: the extra 16 % of bytes is not worth five times the CPU on every request.
/// Precompressed files, which cost nothing to send, still go out as `br`.
pub fn negotiate_dynamic(accept: &[u8]) -> Option<Coding> {
    match weights(accept) {
        (0, 0) => None,
        (b, g) if b > g => Some(Coding::Brotli),
        _ => Some(Coding::Gzip),
    }
}

/// The q-values (thousandths) of `br` and `gzip` in an `Accept-Encoding` value.
fn weights(accept: &[u8]) -> (u16, u16) {
    let mut br = None;
    let mut gzip = None;
    let mut star = None;
    for item in accept.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let name = parts.next().unwrap_or_default().trim_ascii();
        let mut q = Some(1000u16);
        for param in parts {
            let param = param.trim_ascii();
            if let Some(v) = param
                .strip_prefix(b"q=")
                .or_else(|| param.strip_prefix(b"Q="))
            {
                q = qvalue(v.trim_ascii());
            }
        }
        let Some(q) = q else { continue };
        let slot = if name.eq_ignore_ascii_case(b"br") {
            &mut br
        } else if name.eq_ignore_ascii_case(b"gzip") || name.eq_ignore_ascii_case(b"x-gzip") {
            &mut gzip
        } else if name == b"*" {
            &mut star
        } else {
            continue;
        };
        slot.get_or_insert(q);
    }
    (br.or(star).unwrap_or(0), gzip.or(star).unwrap_or(0))
}

/// A q-value in thousandths (`0`, `0.5`, `1.000`), or `None` when it is not one.
fn qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether a `Content-Type` names text worth compressing.
pub fn compressible(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let is = |t: &[u8]| essence.eq_ignore_ascii_case(t);
    if essence.len() > 5 && essence[..5].eq_ignore_ascii_case(b"text/") {
        return !is(b"text/event-stream");
    }
    let ends = |s: &[u8]| {
        essence.len() > s.len() && essence[essence.len() - s.len()..].eq_ignore_ascii_case(s)
    };
    let starts = |s: &[u8]| essence.len() > s.len() && essence[..s.len()].eq_ignore_ascii_case(s);
    is(b"application/json")
        || is(b"application/vnd.apple.mpegurl")
        || is(b"application/x-mpegurl")
        || is(b"application/javascript")
        || is(b"application/xml")
        || is(b"image/svg+xml")
        || ends(b"+json")
        || (ends(b"+xml") && !starts(b"image/"))
}

/// Whether the request goes to the tus upload endpoints.
fn upload(path: &str) -> bool {
    path.strip_prefix("/api/v1/uploads")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Adds `Vary: Accept-Encoding` unless the answer already varies by it.
pub fn vary(headers: &mut HeaderMap) {
    let listed = headers.get_all(header::VARY).any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"accept-encoding"))
    });
    if !listed {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// `bytes` compressed with `coding`.
pub fn encode(coding: Coding, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    match coding {
        Coding::Gzip => gzip(bytes),
        Coding::Brotli => {
            let mut out = Vec::with_capacity(bytes.len() / 4 + 64);
            let params = brotli::enc::BrotliEncoderParams {
                quality: BROTLI_QUALITY as i32,
                lgwin: BROTLI_WINDOW as i32,
                size_hint: bytes.len(),
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
            Ok(out)
        }
    }
}

thread_local! {
    /// Each thread's deflate state, reset for every answer: a new one allocates and clears its
    /// window and hash tables (~25 µs, more than deflating a 2 KB playlist;
    /// `benches/load/compression.sh`).
    static DEFLATE: std::cell::RefCell<Option<flate2::Compress>> =
        const { std::cell::RefCell::new(None) };
}

/// `bytes` as a gzip member (RFC 1952: no name, no time, OS unknown), deflated with this
/// thread's reused state.
fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() / 4 + 64);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    DEFLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let deflate = slot.get_or_insert_with(|| {
            flate2::Compress::new(flate2::Compression::new(GZIP_LEVEL), false)
        });
        deflate.reset();
        loop {
            let read = usize::try_from(deflate.total_in()).unwrap_or(bytes.len());
            out.reserve(bytes.len().saturating_sub(read) / 2 + 1024);
            let status = deflate
                .compress_vec(&bytes[read..], &mut out, flate2::FlushCompress::Finish)
                .map_err(std::io::Error::other)?;
            if status == flate2::Status::StreamEnd {
                return Ok::<_, std::io::Error>(());
            }
        }
    })?;
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    Ok(out)
}

/// The compression middleware (see the module documentation); inside the rate limiter.
pub async fn compress<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B, Bytes>>, Error> {
    let method = req.method();
    let get = method == Method::GET;
    if !get && method != Method::HEAD {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let enabled = req
        .app_data::<web::Data<AppState>>()
        .is_none_or(|s| s.config.server.compression);
    let coding =
        if get && enabled && !req.headers().contains_key(header::RANGE) && !upload(req.path()) {
            req.headers()
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| negotiate_dynamic(v.as_bytes()))
        } else {
            None
        };
    let mut res = next.call(req).await?;
    let text = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| compressible(ct.as_bytes()));
    if !text || !enabled {
        return Ok(res.map_into_left_body());
    }
    vary(res.headers_mut());
    let Some(coding) = coding else {
        return Ok(res.map_into_left_body());
    };
    let status = res.status();
    let eligible = !matches!(
        status,
        StatusCode::PARTIAL_CONTENT | StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
    ) && !status.is_informational()
        && !res.headers().contains_key(header::CONTENT_ENCODING)
        && !res.headers().contains_key(header::CONTENT_RANGE)
        && matches!(res.response().body().size(), BodySize::Sized(n) if (MIN_BYTES..=MAX_BYTES).contains(&n));
    if !eligible {
        return Ok(res.map_into_left_body());
    }
    let (req, res) = res.into_parts();
    let (mut res, body) = res.into_parts();
    // Whole bodies are bytes already; a sized stream (a cached playlist sent in pieces) is
    // in memory, so collecting it does not wait.
    let bytes = match body.try_into_bytes() {
        Ok(bytes) => bytes,
        Err(body) => actix_web::body::to_bytes(body)
            .await
            .map_err(|e| actix_web::error::ErrorInternalServerError(e.into()))?,
    };
    let compressed = match encode(coding, &bytes) {
        Ok(c) if c.len() < bytes.len() => c,
        // Incompressible (or the encoder failed): the identity bytes are as good an answer.
        _ => {
            return Ok(ServiceResponse::new(
                req,
                res.set_body(EitherBody::right(bytes)),
            ))
        }
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.token()),
    );
    h.remove(header::ACCEPT_RANGES);
    h.remove(header::CONTENT_LENGTH);
    if let Some(etag) = h.get(header::ETAG) {
        if etag.as_bytes().starts_with(b"\"") {
            let mut weak = Vec::with_capacity(etag.len() + 2);
            weak.extend_from_slice(b"W/");
            weak.extend_from_slice(etag.as_bytes());
            if let Ok(v) = HeaderValue::from_bytes(&weak) {
                h.insert(header::ETAG, v);
            }
        }
    }
    metrics::counter!("troupe_http_compressed_total", "coding" => coding.token()).increment(1);
    let body = EitherBody::right(Bytes::from(compressed));
    Ok(ServiceResponse::new(req, res.set_body(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_honours_q_values_and_prefers_br() {
        let n = |s: &str| negotiate(s.as_bytes());
        assert_eq!(n("gzip, deflate, br, zstd"), Some(Coding::Brotli));
        assert_eq!(n("gzip"), Some(Coding::Gzip));
        assert_eq!(n("x-gzip"), Some(Coding::Gzip));
        assert_eq!(n("br;q=0.5, gzip;q=0.8"), Some(Coding::Gzip));
        assert_eq!(n("br;q=1.0, gzip"), Some(Coding::Brotli));
        assert_eq!(n("GZIP;Q=0.3, BR;q=0.2"), Some(Coding::Gzip));
        assert_eq!(n("*"), Some(Coding::Brotli));
        assert_eq!(n("br;q=0, *;q=0.1"), Some(Coding::Gzip));
        let d = |s: &str| negotiate_dynamic(s.as_bytes());
        assert_eq!(d("gzip, deflate, br, zstd"), Some(Coding::Gzip));
        assert_eq!(d("br"), Some(Coding::Brotli));
        assert_eq!(d("br;q=1, gzip;q=0.5"), Some(Coding::Brotli));
        assert_eq!(d("identity"), None);
        assert_eq!(n("gzip;q=0, br;q=0"), None);
        assert_eq!(n("*;q=0"), None);
        assert_eq!(n("identity;q=0"), None);
        assert_eq!(n("identity"), None);
        assert_eq!(n("zstd, deflate, compress"), None);
        assert_eq!(n(""), None);
        assert_eq!(n(",,;;==,"), None);
        assert_eq!(n("br;q=2, gzip;q=banana"), None);
        assert_eq!(n("br;q=0.0001"), None);
        assert_eq!(n("\u{0}\u{7f}gzip"), None);
    }

    #[test]
    fn only_text_is_compressible() {
        for t in [
            "application/json",
            "application/problem+json",
            "application/vnd.apple.mpegurl",
            "text/html; charset=utf-8",
            "text/javascript",
            "text/css",
            "image/svg+xml",
            "application/atom+xml",
            "text/plain; version=0.0.4",
        ] {
            assert!(compressible(t.as_bytes()), "{t}");
        }
        // Short or odd values never panic.
        assert!(compressible(b"a+xml") && !compressible(b"+xml") && !compressible(b"text/"));
        for t in [
            "text/event-stream",
            "video/mp2t",
            "video/mp4",
            "image/jpeg",
            "image/png",
            "application/octet-stream",
            "application/offset+octet-stream",
            "",
            "image/x+xml",
        ] {
            assert!(!compressible(t.as_bytes()), "{t}");
        }
    }

    #[test]
    fn both_codings_decode_to_the_same_bytes() {
        let text = "{\"items\":[".to_owned() + &"{\"title\":\"a video\"},".repeat(200) + "]}";
        for coding in [Coding::Brotli, Coding::Gzip] {
            let c = encode(coding, text.as_bytes()).unwrap();
            assert!(c.len() * 4 < text.len());
            let mut back = Vec::new();
            match coding {
                Coding::Gzip => {
                    use std::io::Read as _;
                    flate2::read::GzDecoder::new(&c[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                Coding::Brotli => {
                    brotli::BrotliDecompress(&mut &c[..], &mut back).unwrap();
                }
            }
            assert_eq!(back, text.as_bytes());
        }
    }

    #[test]
    fn the_reused_gzip_state_makes_whole_members_of_every_size() {
        use std::io::Read as _;
        // Pseudo-random bytes do not compress: the output outgrows its first reservation.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let text = "#EXTINF:4.000,\nseg_00001.ts\n".repeat(100).into_bytes();
        for input in [&b""[..], b"a", &text, &noise, &text, b""] {
            let c = gzip(input).unwrap();
            let mut back = Vec::new();
            // The decoder checks the trailer's CRC-32 and length too.
            flate2::read::GzDecoder::new(&c[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, input, "a gzip member of {} bytes", input.len());
        }
    }
}
