//! Request observability: a request id, a tracing span, an access-log line, and metrics
//! (requests by route and status, latency histogram by route).
//!
//! The route label is the pattern of the route the path matches (`/api/v1/videos/{id}`), found
//! in a table built once from the OpenAPI document, segment by segment. Asking actix
//! (`match_pattern`) would run its regex router over the path a second time on every request,
//! which cost more than a tenth of a rating's CPU time (measured with `perf`).

use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;
use tracing::Instrument;

/// The id of the current request: the client's `X-Request-Id` if it is sane, else a new UUID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn quiet(route: &str) -> bool {
    matches!(route, "/healthz" | "/readyz" | "/metrics")
}

/// The observability middleware; the outermost one.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let access_log = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.config.log.access_log);
    let method = req.method().to_string();
    let route = Routes::get().label(req.path());
    let path = redact(req.path());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    // Probes and scrapes are never logged, so they skip the span too (a fifth of /healthz's
    // cost, measured in benches/load).
    let span = if quiet(route) {
        tracing::Span::none()
    } else {
        tracing::info_span!("http", request_id = %request_id, method = %method, route = %route)
    };
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    metrics::counter!("troupe_http_requests_total", "method" => method.clone(), "route" => route, "status" => status.to_string()).increment(1);
    metrics::histogram!("troupe_http_request_duration_seconds", "method" => method, "route" => route).record(elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(X_REQUEST_ID, v);
    }
    if status >= 500 {
        let error = res
            .response()
            .error()
            .map(|e| e.to_string())
            .unwrap_or_default();
        tracing::error!(parent: &span, request_id, status, latency_ms = elapsed.as_secs_f64() * 1e3, path, error, "request failed");
    } else if access_log && !quiet(route) {
        span.in_scope(|| {
            tracing::info!(
                target: crate::telemetry::ACCESS_LOG_TARGET,
                status,
                latency_ms = elapsed.as_secs_f64() * 1e3,
                path,
                "request"
            )
        });
    }
    Ok(res)
}

/// One segment of a route pattern.
#[derive(Debug, PartialEq)]
enum Segment {
    /// Matches itself only.
    Literal(String),
    /// `{name}`: matches any non-empty segment, as in actix.
    Param,
}

/// The route patterns, grouped by their number of segments, the most literal first.
struct Routes(HashMap<usize, Vec<(Vec<Segment>, String)>>);

impl Routes {
    /// The table of this server's routes, built on first use.
    fn get() -> &'static Routes {
        static ROUTES: OnceLock<Routes> = OnceLock::new();
        ROUTES.get_or_init(|| Routes::new(super::openapi().paths.paths.keys()))
    }

    fn new<'a>(patterns: impl IntoIterator<Item = &'a String>) -> Self {
        let mut by_len: HashMap<usize, Vec<(Vec<Segment>, String)>> = HashMap::new();
        for pattern in patterns {
            let segments: Vec<Segment> = pattern
                .split('/')
                .skip(1)
                .map(|s| {
                    if s.starts_with('{') && s.ends_with('}') {
                        Segment::Param
                    } else {
                        Segment::Literal(s.to_owned())
                    }
                })
                .collect();
            by_len
                .entry(segments.len())
                .or_default()
                .push((segments, pattern.clone()));
        }
        for routes in by_len.values_mut() {
            // `/videos/trending` before `/videos/{id}`, as actix routes them.
            routes.sort_by_key(|(segments, _)| {
                std::cmp::Reverse(
                    segments
                        .iter()
                        .filter(|s| matches!(s, Segment::Literal(_)))
                        .count(),
                )
            });
        }
        Self(by_len)
    }

    /// Every pattern `path` matches.
    fn matching<'a, 'p>(&'a self, path: &'p str) -> impl Iterator<Item = &'a str> + use<'a, 'p> {
        let rest = path.strip_prefix('/').unwrap_or("");
        let parts = if path.starts_with('/') {
            rest.split('/').count()
        } else {
            usize::MAX
        };
        self.0
            .get(&parts)
            .into_iter()
            .flatten()
            .filter(move |(segments, _)| {
                segments.iter().zip(rest.split('/')).all(|(s, p)| match s {
                    Segment::Literal(l) => l == p,
                    Segment::Param => !p.is_empty(),
                })
            })
            .map(|(_, pattern)| pattern.as_str())
    }

    /// The pattern `path` matches, or `unmatched`.
    fn label(&self, path: &str) -> &str {
        self.matching(path).next().unwrap_or("unmatched")
    }
}

/// The methods the route matching `path` answers (for `Allow`), or `None` when no route
/// matches it: those the API document lists for it.
pub fn allowed_methods(path: &str) -> Option<String> {
    static METHODS: OnceLock<HashMap<String, Vec<&'static str>>> = OnceLock::new();
    let table = METHODS.get_or_init(|| {
        super::openapi()
            .paths
            .paths
            .into_iter()
            .map(|(pattern, item)| {
                let mut m = Vec::new();
                for (has, name) in [
                    (item.get.is_some(), "GET"),
                    (item.head.is_some(), "HEAD"),
                    (item.post.is_some(), "POST"),
                    (item.put.is_some(), "PUT"),
                    (item.patch.is_some(), "PATCH"),
                    (item.delete.is_some(), "DELETE"),
                    (item.options.is_some(), "OPTIONS"),
                ] {
                    if has {
                        m.push(name);
                    }
                }
                (pattern, m)
            })
            .collect()
    });
    // The most literal route wins, as in routing (`/videos/trending` over `/videos/{id}`).
    let pattern = Routes::get().matching(path).next()?;
    let allowed = table.get(pattern)?;
    // A CORS preflight catch-all (`OPTIONS /hls/{tail}`) is not a resource of its own.
    let resource = allowed.iter().any(|m| *m != "OPTIONS");
    resource.then(|| allowed.join(", "))
}

/// The path as logged: the media token in HLS paths (`/hls/{id}/t/{token}/…`) is a bearer
/// credential valid for hours, so it never reaches the logs.
fn redact(path: &str) -> String {
    match path.find("/t/") {
        Some(i) if path.starts_with("/hls/") => {
            let rest = &path[i + 3..];
            let tail = rest.find('/').map_or("", |j| &rest[j..]);
            format!("{}/t/…{tail}", &path[..i])
        }
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::Routes;

    #[test]
    fn routes_are_labelled_by_their_pattern_the_most_literal_first() {
        let patterns: Vec<String> = [
            "/api/v1/videos/{id}",
            "/api/v1/videos/trending",
            "/api/v1/videos/{id}/rating",
            "/healthz",
            "/hls/{video_id}/t/{media_token}/{rendition}/index.m3u8",
            "/hls/{video_id}/t/{media_token}/{rendition}/{file}",
        ]
        .map(String::from)
        .into();
        let routes = Routes::new(&patterns);
        let label = |p| routes.label(p);
        assert_eq!(label("/api/v1/videos/trending"), "/api/v1/videos/trending");
        assert_eq!(label("/api/v1/videos/abc"), "/api/v1/videos/{id}");
        assert_eq!(
            label("/api/v1/videos/abc/rating"),
            "/api/v1/videos/{id}/rating"
        );
        assert_eq!(
            label("/hls/v/t/tok/720p/index.m3u8"),
            "/hls/{video_id}/t/{media_token}/{rendition}/index.m3u8"
        );
        assert_eq!(
            label("/hls/v/t/tok/720p/seg_00001.ts"),
            "/hls/{video_id}/t/{media_token}/{rendition}/{file}"
        );
        assert_eq!(label("/healthz"), "/healthz");
        for unmatched in [
            "/api/v1/videos/",
            "/api/v1/videos//rating",
            "/nope",
            "",
            "/",
        ] {
            assert_eq!(label(unmatched), "unmatched", "{unmatched:?}");
        }
    }

    #[test]
    fn the_table_has_every_route_of_the_server() {
        let routes = Routes::get();
        assert_eq!(
            routes.label("/api/v1/videos/x/rating"),
            "/api/v1/videos/{id}/rating"
        );
        assert_eq!(
            routes.label("/api/v1/playback/sessions/s/heartbeat"),
            "/api/v1/playback/sessions/{id}/heartbeat"
        );
        assert_eq!(routes.label("/metrics"), "/metrics");
    }

    #[test]
    fn media_tokens_are_not_logged() {
        assert_eq!(
            super::redact("/hls/v1/t/eyJsecret.x.y/720p/seg_00001.ts"),
            "/hls/v1/t/…/720p/seg_00001.ts"
        );
        assert_eq!(super::redact("/api/v1/videos"), "/api/v1/videos");
    }
}
