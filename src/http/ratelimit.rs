//! Rate limiting: token buckets (governor) per client address, per signed-in user, and a
//! stricter one per client address on the auth endpoints.
//!
//! Every limited response carries `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset` (draft-ietf-httpapi-ratelimit-headers) for the tightest bucket it
//! touched. A refused request gets 429 `rate_limited` with `Retry-After`. Health probes and
//! metrics scrapes are never limited, nor is HLS playback (token-gated, paced by players).

use crate::config::RateLimitConfig;
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
pub struct Standing {
    /// The bucket's burst size.
    pub limit: u32,
    /// What is left of it after this request.
    pub remaining: u32,
    /// Seconds until it is full again.
    pub reset_secs: u64,
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

    /// Whether requests to `path` are limited at all.
    pub fn applies(&self, path: &str) -> bool {
        self.enabled && !exempt(path)
    }

    /// Takes one request from every bucket it touches: its address's, the auth endpoints'
    /// (for `/api/v1/auth/`), and its user's when it carries a valid token. `Ok` holds the
    /// tightest bucket's standing; `Err` the seconds to wait when any bucket is empty.
    pub fn check(
        &self,
        path: &str,
        ip: &IpAddr,
        user: Option<&String>,
    ) -> Result<Option<Standing>, u64> {
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
        consider(self.per_ip.check(ip));
        if path.starts_with("/api/v1/auth/") {
            consider(self.auth_per_ip.check(ip));
        }
        if let Some(user) = user {
            consider(self.per_user.check(user));
        }
        verdict.map(|()| tightest)
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
