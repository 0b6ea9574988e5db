//! The `webhook` transport of the outbox: Standard Webhooks signing, and an HTTP client that
//! cannot be turned against the inside (SSRF).
//!
//! - **Signing** (Standard Webhooks): `webhook-id` (the delivery's key, stable across
//!   retries), `webhook-timestamp` (this attempt's Unix seconds: every attempt is signed
//!   afresh, so a receiver's 5-minute tolerance never rejects a late retry) and
//!   `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one entry per
//!   secret that signs now (two during a rotation's overlap), separated by spaces.
//! - **SSRF.** Every A and AAAA record of the target's host is vetted at each attempt by the
//!   client's own DNS resolver ([`VettingResolver`]), which hands the connector only the vetted
//!   addresses (no second lookup, so DNS rebinding between check and connect cannot work);
//!   an IP literal (which reqwest never resolves) is vetted before the request. A refusal is a
//!   permanent failure. `[webhooks] allowed_networks` exempts named ranges. No proxy from the
//!   environment is used (it would do its own lookup), redirects are not followed (a 3xx is a
//!   failure), and one attempt has `[webhooks] timeout_secs` (15 s) in all.
//! - **Outcomes.** A 2xx is delivered. A 410 disables the endpoint and ends the delivery. A
//!   429 or 503 is retried no sooner than its `Retry-After`. Anything else (a 3xx, 4xx, 5xx,
//!   a timeout, a refused connection) is retried by the schedule. The first 4 KiB of every
//!   answer goes to the endpoint's delivery log.

use crate::outbound::{Mail, Mailer};
use base64::Engine;
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use troupe_actors::accounts::Accounts;
use troupe_actors::outbox::{Attempt, AttemptRecord, Outgoing, Transport};
use troupe_actors::webhooks::{
    AttemptOutcome, DeliveryAttempt, DeliveryPayload, EndpointState, EventType, HookError,
    WebhookError, Webhooks,
};

/// How much of an answer the delivery log keeps.
pub const RESPONSE_KEPT: usize = 4096;

/// Why an address is internal, if it is: loopback, private, link-local, CGNAT, cloud
/// metadata, unspecified, multicast, broadcast, documentation, benchmarking, reserved, and the
/// IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4) judged by it.
pub fn internal_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [169, 254, 169, 254] => "a cloud metadata address",
        [0, ..] => "an unspecified (\"this network\") address",
        [127, ..] => "a loopback address",
        [10, ..] => "a private address",
        [172, b, ..] if (16..32).contains(&b) => "a private address",
        [192, 168, ..] => "a private address",
        [100, b, ..] if (64..128).contains(&b) => "a shared (CGNAT) address",
        [169, 254, ..] => "a link-local address",
        [192, 0, 0, _] => "an IETF protocol address",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "a documentation address",
        [192, 88, 99, _] => "a 6to4 relay address",
        [198, b, ..] if b == 18 || b == 19 => "a benchmarking address",
        [a, ..] if (224..240).contains(&a) => "a multicast address",
        [255, 255, 255, 255] => "the broadcast address",
        [a, ..] if a >= 240 => "a reserved address",
        _ => return None,
    })
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254) {
        return Some("a cloud metadata address");
    }
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): judged as IPv4.
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return v4_reason(embedded(s[6], s[7])).or(if s[5] == 0 {
            Some("an IPv4-compatible address")
        } else {
            None
        });
    }
    // NAT64 (64:ff9b::/96) carries an IPv4 address; 64:ff9b:1::/48 is for local use.
    if s[0] == 0x64 && s[1] == 0xff9b {
        if s[2..6] == [0; 4] {
            return v4_reason(embedded(s[6], s[7]));
        }
        if s[2] == 1 {
            return Some("a local-use NAT64 address");
        }
    }
    // 6to4 (2002::/16) carries an IPv4 address in its next 32 bits.
    if s[0] == 0x2002 {
        return v4_reason(embedded(s[1], s[2]));
    }
    Some(match s[0] {
        0x2001 if s[1] == 0x0db8 => "a documentation address",
        0x2001 if s[1] == 0 => "a Teredo address",
        0x2001 if s[1] < 0x200 => "an IETF protocol address",
        0x0100 if s[1..4] == [0; 3] => "a discard address",
        a if a & 0xfe00 == 0xfc00 => "a unique local (private) address",
        a if a & 0xffc0 == 0xfe80 => "a link-local address",
        a if a & 0xffc0 == 0xfec0 => "a site-local address",
        a if a & 0xff00 == 0xff00 => "a multicast address",
        a if a & 0xe000 != 0x2000 => "an address outside global unicast",
        _ => return None,
    })
}

/// The SSRF rules in force: internal addresses are refused unless in `allowed`.
#[derive(Debug, Clone, Default)]
pub struct Vetting {
    /// Exempt networks (`[webhooks] allowed_networks`).
    pub allowed: Vec<IpNet>,
    /// Whether `http://` is allowed.
    pub allow_http: bool,
}

/// An address the SSRF rules refuse.
#[derive(Debug)]
pub struct Refused {
    /// The address.
    pub ip: IpAddr,
    /// Why.
    pub reason: &'static str,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is {}: refused by the SSRF rules",
            self.ip, self.reason
        )
    }
}

impl std::error::Error for Refused {}

impl Vetting {
    /// From `[webhooks]`: an `allowed_networks` entry that is not a CIDR (or a bare address)
    /// is an error.
    pub fn new(allowed: &[String], allow_http: bool) -> anyhow::Result<Self> {
        let allowed = allowed
            .iter()
            .map(|n| {
                n.parse::<IpNet>()
                    .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        anyhow::anyhow!("webhooks.allowed_networks: {n:?} is not a CIDR network")
                    })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            allowed,
            allow_http,
        })
    }

    /// Refuses an internal address, unless an allowed network holds it (an IPv4-mapped IPv6
    /// address is judged as the IPv4 address it maps).
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.allowed.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        match internal_reason(ip) {
            Some(reason) => Err(Refused { ip, reason }),
            None => Ok(()),
        }
    }

    /// Checks a URL's form: `https` (or `http` when allowed), a host, no user name or
    /// password. Answers the URL and, for an IP literal, the vetted address.
    pub fn check_form(&self, raw: &str) -> Result<reqwest::Url, String> {
        let url = reqwest::Url::parse(raw).map_err(|e| format!("the URL is malformed: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err("the URL must use https".into()),
            other => return Err(format!("the URL must use https, not {other}")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the URL must not carry a user name or password".into());
        }
        match url.host() {
            None => return Err("the URL has no host".into()),
            Some(url::Host::Ipv4(ip)) => {
                self.check_ip(IpAddr::V4(ip)).map_err(|e| e.to_string())?
            }
            Some(url::Host::Ipv6(ip)) => {
                self.check_ip(IpAddr::V6(ip)).map_err(|e| e.to_string())?
            }
            Some(url::Host::Domain(_)) => {}
        }
        Ok(url)
    }

    /// Checks a URL fully, as at registration: its form, then every address its host
    /// resolves to.
    pub async fn check_url(&self, raw: &str) -> Result<reqwest::Url, String> {
        let url = self.check_form(raw)?;
        if let Some(url::Host::Domain(host)) = url.host() {
            self.resolve(host).await.map_err(|e| e.to_string())?;
        }
        Ok(url)
    }

    /// Every address of `host`, all vetted; an error if any is refused or none is found.
    pub async fn resolve(
        &self,
        host: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| format!("{host} does not resolve: {e}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("{host} has no address").into());
        }
        for a in &addrs {
            self.check_ip(a.ip())?;
        }
        Ok(addrs)
    }
}

/// The client's DNS resolver: resolves, vets every record, and gives the connector only
/// those (pinned: the connection goes to an address that was vetted).
struct VettingResolver(Arc<Vetting>);

impl reqwest::dns::Resolve for VettingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let vetting = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = vetting.resolve(&host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The `webhook-signature` value: `v1,<base64>` per secret, space-separated.
pub fn sign(id: &str, timestamp: i64, body: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter_map(|s| {
            let raw = s.strip_prefix("whsec_").unwrap_or(s);
            let key = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
            mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
            Some(format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A new secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The `webhook` transport.
pub struct WebhookTransport {
    client: reqwest::Client,
    vetting: Arc<Vetting>,
    webhooks: Webhooks,
    mailer: Mailer,
    accounts: Accounts,
    timeout: Duration,
}

impl WebhookTransport {
    /// A transport under `vetting`, each attempt limited to `timeout`.
    pub fn new(
        vetting: Arc<Vetting>,
        timeout: Duration,
        webhooks: Webhooks,
        mailer: Mailer,
        accounts: Accounts,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(VettingResolver(vetting.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("troupe-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            vetting,
            webhooks,
            mailer,
            accounts,
            timeout,
        })
    }
}

/// Whether an error (or one it wraps) is an SSRF refusal.
fn refused(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<Refused>() {
            return Some(r.to_string());
        }
        cur = err.source();
    }
    None
}

/// The whole chain of an error, for the log.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = err.source();
    }
    out
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(86_400)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            .min(Duration::from_secs(86_400)),
    )
}

impl WebhookTransport {
    async fn attempt(
        client: reqwest::Client,
        vetting: Arc<Vetting>,
        webhooks: Webhooks,
        timeout: Duration,
        delivery: Outgoing,
    ) -> Attempt {
        let failed = |error: String| Attempt::Failed {
            error,
            status: None,
            response: None,
        };
        let retry = |error: String| Attempt::Retry {
            error,
            status: None,
            response: None,
            after: None,
        };
        let payload: DeliveryPayload = match serde_json::from_value(delivery.payload.clone()) {
            Ok(p) => p,
            Err(e) => return failed(format!("unreadable delivery: {e}")),
        };
        let target = match webhooks.target(payload.endpoint).await {
            Ok(t) => t,
            Err(HookError::Webhook(WebhookError::NotFound)) => {
                return failed("the endpoint was deleted".into())
            }
            Err(e) => return retry(format!("the endpoint could not be read: {e}")),
        };
        if target.state == EndpointState::Disabled && payload.event != EventType::WebhookTest {
            return failed("the endpoint is disabled".into());
        }
        if let Err(e) = vetting.check_form(&target.url) {
            return failed(e);
        }
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(&delivery.key, timestamp, &payload.body, &target.secrets);
        let sent = client
            .post(&target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &delivery.key)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(payload.body)
            .send()
            .await;
        let mut answer = match sent {
            Ok(r) => r,
            Err(e) => {
                if let Some(why) = refused(&e) {
                    return failed(why);
                }
                if e.is_timeout() {
                    return retry(format!("no answer within {} s", timeout.as_secs()));
                }
                return retry(chain(&e));
            }
        };
        let status = answer.status();
        let mut kept: Vec<u8> = Vec::new();
        let mut body_error = None;
        while kept.len() < RESPONSE_KEPT {
            match answer.chunk().await {
                Ok(Some(c)) => kept.extend_from_slice(&c),
                Ok(None) => break,
                Err(e) => {
                    body_error = Some(if e.is_timeout() {
                        format!("the answer's body took more than {} s", timeout.as_secs())
                    } else {
                        chain(&e)
                    });
                    break;
                }
            }
        }
        kept.truncate(RESPONSE_KEPT);
        let response = Some(String::from_utf8_lossy(&kept).into_owned());
        let code = Some(status.as_u16());
        if status.is_success() {
            return Attempt::Sent {
                status: code,
                response,
            };
        }
        if status == reqwest::StatusCode::GONE {
            return Attempt::Failed {
                error: "410 Gone: the endpoint is disabled".into(),
                status: code,
                response,
            };
        }
        let after = match status.as_u16() {
            429 | 503 => retry_after(answer.headers()),
            _ => None,
        };
        let error = if status.is_redirection() {
            format!("{status}: redirects are not followed")
        } else {
            body_error.map_or_else(|| status.to_string(), |b| format!("{status}: {b}"))
        };
        Attempt::Retry {
            error,
            status: code,
            response,
            after,
        }
    }
}

impl Transport for WebhookTransport {
    fn kind(&self) -> &'static str {
        troupe_actors::webhooks::KIND
    }

    fn send(&self, delivery: &Outgoing, _attempt: u32) -> BoxFuture<'static, Attempt> {
        Box::pin(Self::attempt(
            self.client.clone(),
            self.vetting.clone(),
            self.webhooks.clone(),
            self.timeout,
            delivery.clone(),
        ))
    }

    fn recorded(&self, delivery: &Outgoing, attempt: &AttemptRecord) -> BoxFuture<'static, ()> {
        let (webhooks, mailer, accounts) = (
            self.webhooks.clone(),
            self.mailer.clone(),
            self.accounts.clone(),
        );
        let (delivery, attempt) = (delivery.clone(), attempt.clone());
        Box::pin(async move {
            let Ok(payload) = serde_json::from_value::<DeliveryPayload>(delivery.payload) else {
                return;
            };
            let (outcome, status, response, error) = match attempt.outcome {
                Attempt::Sent { status, response } => {
                    (AttemptOutcome::Sent, status, response, None)
                }
                Attempt::Retry {
                    error,
                    status,
                    response,
                    ..
                } => (
                    if attempt.last {
                        AttemptOutcome::Failed
                    } else {
                        AttemptOutcome::Retrying
                    },
                    status,
                    response,
                    Some(error),
                ),
                Attempt::Failed {
                    error,
                    status,
                    response,
                } => (AttemptOutcome::Failed, status, response, Some(error)),
            };
            let entry = DeliveryAttempt {
                seq: 0,
                delivery_id: delivery.key.clone(),
                event: payload.event.as_str().to_owned(),
                attempt: attempt.number,
                at: attempt.at,
                outcome,
                status,
                latency_ms: attempt.latency_ms,
                response,
                error,
            };
            let gone = status == Some(410);
            match webhooks.record(payload.endpoint, entry, gone).await {
                Ok(r) => {
                    if let Some(why) = r.disabled.clone() {
                        tracing::warn!(endpoint = %payload.endpoint, url = %r.endpoint.url, reason = %why, "webhook endpoint disabled");
                        metrics::counter!("troupe_webhook_endpoints_disabled_total", "reason" => why.clone()).increment(1);
                        tell_owner(&mailer, &accounts, &r, &why).await;
                    }
                }
                Err(HookError::Webhook(WebhookError::NotFound)) => {}
                Err(e) => {
                    tracing::warn!(endpoint = %payload.endpoint, delivery = %delivery.key, error = %e, "could not log a webhook attempt")
                }
            }
        })
    }
}

/// Emails an endpoint's owner that it was disabled.
async fn tell_owner(
    mailer: &Mailer,
    accounts: &Accounts,
    r: &troupe_actors::webhooks::Recorded,
    why: &str,
) {
    let to = match accounts.get(&r.owner.username).await {
        Ok(Some(u)) if u.id == r.owner.user_id => u.email,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(endpoint = %r.endpoint.id, error = %e, "cannot find the owner of a disabled webhook to tell them");
            return;
        }
    };
    let mail = Mail {
        key: format!(
            "webhook-disabled.{}.{}",
            r.endpoint.id.simple(),
            r.endpoint.updated_at.timestamp()
        ),
        to,
        template: "webhook_disabled",
        context: serde_json::json!({
            "endpoint_id": r.endpoint.id,
            "url": r.endpoint.url,
            "description": r.endpoint.description,
            "reason": why,
            "gone": why == "gone",
            "failing_since": r.endpoint.failing_since.map(|t| t.to_rfc3339()),
        }),
        unsubscribe: None,
    };
    if let Err(e) = mailer.send(mail).await {
        tracing::warn!(endpoint = %r.endpoint.id, error = %e, "could not email the owner of a disabled webhook");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_and_public_ones_pass() {
        let v = Vetting::default();
        for bad in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "169.254.10.10",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.99",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
        ] {
            assert!(v.check_ip(ip(bad)).is_err(), "{bad} should be refused");
        }
        for good in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4007:80e::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(v.check_ip(ip(good)).is_ok(), "{good} should pass");
        }
    }

    #[test]
    fn metadata_addresses_say_so() {
        let v = Vetting::default();
        for m in ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"] {
            let e = v.check_ip(ip(m)).unwrap_err();
            assert_eq!(e.reason, "a cloud metadata address", "{m}");
        }
    }

    #[test]
    fn allowed_networks_exempt_only_what_they_name() {
        let v = Vetting::new(&["127.0.0.0/8".into(), "fd12::/16".into()], true).unwrap();
        assert!(v.check_ip(ip("127.0.0.1")).is_ok());
        assert!(v.check_ip(ip("::ffff:127.0.0.1")).is_ok());
        assert!(v.check_ip(ip("fd12::5")).is_ok());
        assert!(v.check_ip(ip("10.0.0.1")).is_err());
        assert!(v.check_ip(ip("::1")).is_err());
        assert!(v.check_ip(ip("169.254.169.254")).is_err());
        assert!(Vetting::new(&["not a network".into()], false).is_err());
    }

    #[test]
    fn url_forms_are_checked() {
        let strict = Vetting::default();
        assert!(strict.check_form("https://example.com/hook").is_ok());
        assert!(strict
            .check_form("http://example.com/hook")
            .unwrap_err()
            .contains("https"));
        assert!(strict.check_form("ftp://example.com/").is_err());
        assert!(strict
            .check_form("not a url")
            .unwrap_err()
            .contains("malformed"));
        assert!(strict.check_form("https://u:p@example.com/").is_err());
        assert!(strict
            .check_form("https://127.0.0.1/")
            .unwrap_err()
            .contains("loopback"));
        assert!(strict
            .check_form("https://[::1]:8443/")
            .unwrap_err()
            .contains("loopback"));
        assert!(strict
            .check_form("https://[::ffff:a9fe:a9fe]/")
            .unwrap_err()
            .contains("metadata"));
        // Decimal and hex forms of an address are still addresses (the URL parser reads them).
        assert!(strict.check_form("https://2130706433/").is_err());
        assert!(strict.check_form("https://0x7f.1/").is_err());
        let tests = Vetting::new(&["127.0.0.0/8".into()], true).unwrap();
        assert!(tests.check_form("http://127.0.0.1:9000/hook").is_ok());
    }

    #[tokio::test]
    async fn names_that_resolve_inside_are_refused() {
        let v = Vetting::default();
        let e = v.check_url("https://localhost/hook").await.unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        let e = v
            .check_url("https://nonexistent.invalid/hook")
            .await
            .unwrap_err();
        assert!(e.contains("does not resolve"), "{e}");
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification (spec/standard-webhooks.md).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string();
        let sig = sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
            std::slice::from_ref(&secret),
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let two = sign("id", 1, "{}", &[secret.clone(), new_secret()]);
        assert_eq!(two.split(' ').count(), 2);
        assert!(two.split(' ').all(|p| p.starts_with("v1,")));
    }

    /// The signatures verify with the reference verifier, the `standardwebhooks` package
    /// (PyPI; `scripts/lib.sh` `ensure_standardwebhooks`), each secret of a rotation alone.
    #[test]
    fn the_standardwebhooks_package_verifies_our_signatures() {
        let (old, new) = (new_secret(), new_secret());
        let body = r#"{"type":"video.ready","timestamp":"2026-12-07T12:00:00.000Z","data":{"id":"x","title":"caf\u00e9 ☕"}}"#;
        let id = "msg_0123456789abcdef0123456789abcdef_fedcba9876543210fedcba9876543210";
        let ts = chrono::Utc::now().timestamp();
        let sig = sign(id, ts, body, &[new.clone(), old.clone()]);
        let script = r#"
import json, sys
from standardwebhooks import Webhook
a = json.load(sys.stdin)
h = {"webhook-id": a["id"], "webhook-timestamp": str(a["ts"]), "webhook-signature": a["sig"]}
for s in a["secrets"]:
    Webhook(s).verify(a["body"], h)
try:
    Webhook(a["other"]).verify(a["body"], h)
    print("forged accepted")
except Exception:
    print("ok")
"#;
        let input = serde_json::json!({
            "id": id, "ts": ts, "sig": sig, "body": body,
            "secrets": [old, new], "other": new_secret(),
        });
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "standardwebhooks (PyPI) is needed; scripts/lib.sh ensure_standardwebhooks installs it:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    }
}
