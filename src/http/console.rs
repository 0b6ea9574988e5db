//! The web console: the single-page app built from `web/` into `web/dist`, embedded in the
//! release binary (rust-embed), so one file deploys everything.
//!
//! ```text
//! GET /assets/…        a built asset (hashed name: cached for a year, immutable)
//! GET /embed/{id}      the embeddable player (embed.html); the only page other sites may frame
//! GET /anything-else   the app (index.html); its own router shows the page
//! /api/…, /hls/…       never the app: an unknown path there stays a 404 problem
//! ```
//!
//! Every console response carries a Content-Security-Policy with `script-src 'self'` (the
//! build has no inline script), `frame-ancestors 'none'` except on `/embed`, `nosniff` and a
//! `Referrer-Policy` that keeps page URLs on this origin.
//!
//! The build writes `x.br` and `x.gz` beside every text file of 1 KiB or more (web/vite.config.ts,
//! brotli quality 11 and gzip level 9); a `GET` without `Range` whose `Accept-Encoding` prefers
//! one of them gets it as it is: the original's `Content-Type`, `Content-Encoding`, `Vary:
//! Accept-Encoding` and an `ETag` of its own. The compression middleware leaves an answer that
//! has a `Content-Encoding` alone, so nothing is compressed twice.
//!
//! Debug builds read `web/dist` from disk at run time, so a rebuilt console shows up without
//! recompiling troupe; release builds carry the files in the binary. A checkout where the
//! console was never built still compiles: `GET /` then answers 404 `console_not_built`.

use super::compress::{self, Coding};
use super::error::ApiError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use rust_embed::Embed;

/// The built console.
#[derive(Embed)]
#[folder = "web/dist/"]
#[allow_missing = true]
struct Assets;

/// The policy of every console page. `blob:` is for hls.js, which feeds the video element
/// through a MediaSource object URL and runs its demuxer in a worker made from a blob.
const CSP_APP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// The same for the embeddable player, which any site may frame.
const CSP_EMBED: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors *";

/// Whether `path` belongs to the API or to playback, where the console never answers.
pub fn reserved(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || path == "/hls" || path.starts_with("/hls/")
}

/// Answers a GET or HEAD outside the API with the console: an asset when one has that name,
/// the embed page under `/embed/`, and the app for every other path.
pub fn serve(req: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.path();
    let asset = path.trim_start_matches('/');
    if !asset.is_empty() && !asset.ends_with(".html") {
        if let Some(file) = Assets::get(asset) {
            let immutable = asset.starts_with("assets/");
            return Ok(respond(req, asset, file, immutable, CSP_APP));
        }
        if asset.starts_with("assets/") {
            return Err(ApiError::not_found("not_found", "no such asset"));
        }
    }
    let (page, csp) = if path.starts_with("/embed/") {
        ("embed.html", CSP_EMBED)
    } else {
        ("index.html", CSP_APP)
    };
    match Assets::get(page) {
        Some(file) => Ok(respond(req, page, file, false, csp)),
        None => Err(ApiError::not_found(
            "console_not_built",
            "the web console is not built into this server; build it with `npm --prefix web ci && npm --prefix web run build` (./scripts/serve.sh does it), or use the API under /api",
        )),
    }
}

/// The precompressed variant of `name` the request should get, if any.
fn precompressed(
    req: &HttpRequest,
    name: &str,
    mime: &str,
) -> Option<(Coding, rust_embed::EmbeddedFile)> {
    if req.method() != actix_web::http::Method::GET
        || req.headers().contains_key(header::RANGE)
        || !compress::compressible(mime.as_bytes())
    {
        return None;
    }
    let enabled = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .is_none_or(|s| s.config.server.compression);
    if !enabled {
        return None;
    }
    let coding = compress::negotiate(req.headers().get(header::ACCEPT_ENCODING)?.as_bytes())?;
    let suffix = match coding {
        Coding::Brotli => "br",
        Coding::Gzip => "gz",
    };
    Assets::get(&format!("{name}.{suffix}")).map(|f| (coding, f))
}

fn respond(
    req: &HttpRequest,
    name: &str,
    file: rust_embed::EmbeddedFile,
    immutable: bool,
    csp: &'static str,
) -> HttpResponse {
    let mime = file.metadata.mimetype().to_owned();
    let (coding, file) = match precompressed(req, name, &mime) {
        Some((coding, variant)) => (Some(coding), variant),
        None => (None, file),
    };
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut b = HttpResponse::build(StatusCode::OK);
    b.insert_header((header::CONTENT_TYPE, mime.as_str()))
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((
            header::CACHE_CONTROL,
            if immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            },
        ))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"));
    if csp == CSP_APP {
        b.insert_header((header::X_FRAME_OPTIONS, "DENY"));
    }
    if let Some(coding) = coding {
        b.insert_header((header::CONTENT_ENCODING, coding.token()));
    }
    if compress::compressible(mime.as_bytes()) {
        b.insert_header((header::VARY, "accept-encoding"));
    }
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if fresh {
        return b.status(StatusCode::NOT_MODIFIED).finish();
    }
    b.body(file.data.into_owned())
}
