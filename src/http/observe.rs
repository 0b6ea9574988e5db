//! Request observability: a request id, a tracing span, an access-log line, and metrics
//! (requests by route and status, latency histogram by route).

use crate::startup::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};
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
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let path = redact(req.path());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    // Probes and scrapes are never logged, so they skip the span too (a fifth of /healthz's
    // cost, measured in benches/load).
    let span = if quiet(&route) {
        tracing::Span::none()
    } else {
        tracing::info_span!("http", request_id = %request_id, method = %method, route = %route)
    };
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    metrics::counter!("troupe_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("troupe_http_request_duration_seconds", "method" => method, "route" => route.clone()).record(elapsed.as_secs_f64());
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
    } else if access_log && !quiet(&route) {
        span.in_scope(|| {
            tracing::info!(
                status,
                latency_ms = elapsed.as_secs_f64() * 1e3,
                path,
                "request"
            )
        });
    }
    Ok(res)
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
    #[test]
    fn media_tokens_are_not_logged() {
        assert_eq!(
            super::redact("/hls/v1/t/eyJsecret.x.y/720p/seg_00001.ts"),
            "/hls/v1/t/…/720p/seg_00001.ts"
        );
        assert_eq!(super::redact("/api/v1/videos"), "/api/v1/videos");
    }
}
