//! Rate limiting: token buckets (governor) per client address, per signed-in user, and a
//! stricter one per client address on the auth endpoints.
//!
//! Every limited response carries `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset` (draft-ietf-httpapi-ratelimit-headers) for the tightest bucket it
//! touched. A refused request gets 429 `rate_limited` with `Retry-After`. Health probes and
//! metrics scrapes are never limited, nor is HLS playback (token-gated, paced by players).

use super::error::ApiError;
use super::tokens::bearer;
use crate::config::RateLimitConfig;
use crate::startup::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

struct Bucket<K: Hash + Eq + Clone> {
    limiter: Keyed<K>,
    burst: u32,
    period: Duration,
}

/// Where a request stands in one bucket.
struct Standing {
    limit: u32,
    remaining: u32,
    reset_secs: u64,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn new(quota: Quota) -> Self {
        Self {
            burst: quota.burst_size().get(),
            period: quota.replenish_interval(),
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
        }
    }

    fn check(&self, key: &K) -> Result<Standing, u64> {
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let refill = self.period * (self.burst - remaining);
                Ok(Standing {
                    limit: self.burst,
                    remaining,
                    reset_secs: refill.as_secs_f64().ceil() as u64,
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(wait.as_secs_f64().ceil().max(1.0) as u64)
            }
        }
    }

    fn tidy(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// All the buckets.
pub struct RateLimits {
    enabled: bool,
    per_ip: Bucket<IpAddr>,
    per_user: Bucket<String>,
    auth_per_ip: Bucket<IpAddr>,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("max(1) is non-zero")
}

impl RateLimits {
    /// Builds the buckets from configuration.
    pub fn new(cfg: &RateLimitConfig) -> Self {
        Self {
            enabled: cfg.enabled,
            per_ip: Bucket::new(
                Quota::per_second(nz(cfg.per_ip_per_sec)).allow_burst(nz(cfg.per_ip_burst)),
            ),
            per_user: Bucket::new(
                Quota::per_second(nz(cfg.per_user_per_sec)).allow_burst(nz(cfg.per_user_burst)),
            ),
            auth_per_ip: Bucket::new(
                Quota::per_minute(nz(cfg.auth_per_ip_per_min))
                    .allow_burst(nz(cfg.auth_per_ip_burst)),
            ),
        }
    }

    /// Forgets buckets that are full again, to bound memory. Run it every minute or so.
    pub fn tidy(&self) {
        self.per_ip.tidy();
        self.per_user.tidy();
        self.auth_per_ip.tidy();
    }
}

fn exempt(path: &str) -> bool {
    // HLS is gated by signed tokens and fetched at the player's pace (a segment every few
    // seconds per viewer, many viewers behind one address); it is served like a CDN would.
    matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/hls/")
}

/// The rate-limiting middleware.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let limits = &state.rate_limits;
    if !limits.enabled || exempt(req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let ip = client_ip(&req, state.config.server.trust_forwarded_headers);
    let mut tightest: Option<Standing> = None;
    let mut verdict = Ok(());
    let mut consider = |r: Result<Standing, u64>| match r {
        Ok(s) => {
            if tightest.as_ref().is_none_or(|t| s.remaining < t.remaining) {
                tightest = Some(s);
            }
        }
        Err(wait) => verdict = Err(wait),
    };
    consider(limits.per_ip.check(&ip));
    if req.path().starts_with("/api/v1/auth/") {
        consider(limits.auth_per_ip.check(&ip));
    }
    if let Some(Ok(claims)) = bearer(req.request(), &state.tokens) {
        consider(limits.per_user.check(&claims.sub));
    }
    if let Err(wait) = verdict {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; retry in {wait} s"),
        );
        e.retry_after = Some(wait);
        e.headers.push(("ratelimit-remaining", "0".into()));
        e.headers.push(("ratelimit-reset", wait.to_string()));
        metrics::counter!("troupe_http_rate_limited_total").increment(1);
        let res = e.error_response();
        return Ok(req.into_response(res).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    if let Some(s) = tightest {
        let h = res.headers_mut();
        for (name, value) in [
            ("ratelimit-limit", s.limit.to_string()),
            ("ratelimit-remaining", s.remaining.to_string()),
            ("ratelimit-reset", s.reset_secs.to_string()),
        ] {
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&value) {
                h.insert(actix_web::http::header::HeaderName::from_static(name), v);
            }
        }
    }
    Ok(res.map_into_left_body())
}

fn client_ip(req: &ServiceRequest, trust_forwarded: bool) -> IpAddr {
    let unspecified = IpAddr::from([0, 0, 0, 0]);
    if trust_forwarded {
        if let Some(ip) = req.connection_info().realip_remote_addr().and_then(|a| {
            a.parse::<std::net::SocketAddr>()
                .map(|s| s.ip())
                .ok()
                .or_else(|| a.parse().ok())
        }) {
            return ip;
        }
    }
    req.peer_addr().map(|a| a.ip()).unwrap_or(unspecified)
}
