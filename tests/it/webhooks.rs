//! Webhooks: endpoints, SSRF refusals, and deliveries that a real receiver
//! (`tests/support/webhook_receiver.py`) verifies with the reference verifier, the
//! `standardwebhooks` package (PyPI; `scripts/lib.sh` `ensure_standardwebhooks` installs it).

use crate::harness::{eventually, problem, Options, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The receiver process: a path per endpoint, scripted answers, every delivery verified.
pub struct Receiver {
    child: Child,
    pub port: u16,
    client: reqwest::Client,
}

// Used by the delivery tests, which need the outbox (milestone O1).
#[allow(dead_code)]
impl Receiver {
    /// Starts the receiver on a free port.
    pub fn start() -> Receiver {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/webhook_receiver.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the webhook receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the webhook receiver did not start (standardwebhooks from PyPI is needed; \
                     scripts/lib.sh ensure_standardwebhooks installs it): {line:?}"
                )
            });
        Receiver {
            child,
            port,
            client: reqwest::Client::new(),
        }
    }

    /// The URL of endpoint `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/hook/{name}", self.port)
    }

    /// Configures endpoint `name` (secrets, script, default; see the receiver's doc).
    pub async fn configure(&self, name: &str, cfg: Value) {
        let r = self
            .client
            .post(format!("http://127.0.0.1:{}/_control/{name}", self.port))
            .json(&cfg)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    /// What endpoint `name` received, in order.
    pub async fn received(&self, name: &str) -> Vec<Value> {
        self.client
            .get(format!("http://127.0.0.1:{}/_received/{name}", self.port))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until `ok` holds of what `name` received; that list.
    pub async fn wait(
        &self,
        name: &str,
        timeout: Duration,
        ok: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        eventually(timeout, || async {
            let got = self.received(name).await;
            ok(&got).then_some(got)
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server whose webhooks may reach the receiver on loopback over http, retrying fast.
pub fn options(schedule: &str) -> Options {
    Options::default()
        .env("TROUPE__WEBHOOKS__ALLOWED_NETWORKS", "[\"127.0.0.0/8\"]")
        .env("TROUPE__WEBHOOKS__ALLOW_HTTP", "true")
        .env("TROUPE__WEBHOOKS__SCHEDULE_SECS", schedule)
        .env("TROUPE__WEBHOOKS__TIMEOUT_SECS", "2")
        .env("TROUPE__AUTH__ADMIN_USERNAMES", "[\"boss\"]")
}

/// Registers an endpoint; its body (with `secret`).
pub async fn register(app: &TestApp, token: &str, url: &str, events: &[&str]) -> Value {
    let r = app
        .request(
            Method::POST,
            "/api/v1/webhooks",
            Some(token),
            Some(json!({"url": url, "description": "test", "events": events})),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    r.json().await.unwrap()
}

const ALL: [&str; 9] = [
    "video.created",
    "upload.completed",
    "video.ready",
    "video.failed",
    "video.updated",
    "video.deleted",
    "channel.subscribed",
    "comment.created",
    "comment.held",
];

#[tokio::test]
async fn registration_shows_the_secret_once_and_only_the_owner_sees_the_endpoint() {
    let app = TestApp::spawn(options("[1]")).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let hook = register(&app, &alice, "http://127.0.0.1:9/hook/a", &ALL).await;
    let secret = hook["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() >= 6 + 32,
        "{secret}"
    );
    assert_eq!(hook["state"], "enabled");
    assert_eq!(hook["scope"], "user");
    assert_eq!(hook["events"].as_array().unwrap().len(), 9);
    let id = hook["id"].as_str().unwrap();
    let got: Value = app
        .get(&format!("/api/v1/webhooks/{id}"), Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert!(got.get("secret").is_none(), "{got}");
    assert_eq!(got["url"], "http://127.0.0.1:9/hook/a");
    let list: Value = app
        .get("/api/v1/webhooks", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert!(list.to_string().find("whsec_").is_none());
    // Nobody else sees it, changes it or deletes it.
    problem(
        app.get(&format!("/api/v1/webhooks/{id}"), Some(&bob)).await,
        404,
        "webhook_not_found",
    )
    .await;
    problem(
        app.request(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            Some(&bob),
            None,
        )
        .await,
        404,
        "webhook_not_found",
    )
    .await;
    let bobs: Value = app
        .get("/api/v1/webhooks", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["webhooks"], json!([]));
    // Instance-wide endpoints are for admins.
    let r = app
        .request(
            Method::POST,
            "/api/v1/webhooks",
            Some(&bob),
            Some(json!({"url": "http://127.0.0.1:9/x", "events": ["video.ready"], "scope": "instance"})),
        )
        .await;
    problem(r, 403, "forbidden").await;
    let boss = app.user("boss").await;
    let r = app
        .request(
            Method::POST,
            "/api/v1/webhooks",
            Some(&boss),
            Some(json!({"url": "http://127.0.0.1:9/x", "events": ["video.ready"], "scope": "instance"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let inst: Value = r.json().await.unwrap();
    assert_eq!(inst["scope"], "instance");
    let mine: Value = app
        .get("/api/v1/webhooks", Some(&boss))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["webhooks"][0]["id"], inst["id"]);
    // PATCH: events and state; a bad event name is refused.
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(&alice),
            Some(json!({"events": ["video.ready", "video.failed"], "state": "disabled"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["events"], json!(["video.ready", "video.failed"]));
    assert_eq!(p["state"], "disabled");
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(&alice),
            Some(json!({"events": ["video.exploded"]})),
        )
        .await;
    problem(r, 422, "invalid_events").await;
    // Rotation: a new secret, and until when the old one signs too.
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rot: Value = r.json().await.unwrap();
    assert!(rot["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_ne!(rot["secret"], hook["secret"]);
    assert!(rot["previous_expires_at"].is_string(), "{rot}");
    // Deleted: gone for its owner too.
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    problem(
        app.get(&format!("/api/v1/webhooks/{id}"), Some(&alice))
            .await,
        404,
        "webhook_not_found",
    )
    .await;
}

#[tokio::test]
async fn internal_and_malformed_targets_are_refused_with_the_reason() {
    // The defaults: https only, no network exempt.
    let app = TestApp::spawn(Options::default()).await;
    let t = app.user("alice").await;
    let refused = |url: &'static str, why: &'static str| {
        let (app, t) = (&app, &t);
        async move {
            let r = app
                .request(
                    Method::POST,
                    "/api/v1/webhooks",
                    Some(t),
                    Some(json!({"url": url, "events": ["video.ready"]})),
                )
                .await;
            let body = problem(r, 422, "invalid_webhook_url").await;
            let detail = body["detail"].as_str().unwrap();
            assert!(detail.contains(why), "{url}: {detail}");
        }
    };
    refused("http://93.184.215.14/hook", "https").await;
    refused("ftp://93.184.215.14/hook", "https").await;
    refused("not a url", "malformed").await;
    refused("https://127.0.0.1/hook", "loopback").await;
    refused("https://localhost:8443/hook", "loopback").await;
    refused("https://[::1]/hook", "loopback").await;
    refused("https://[::ffff:127.0.0.1]/hook", "loopback").await;
    refused("https://10.0.0.8/hook", "private").await;
    refused("https://192.168.1.1/hook", "private").await;
    refused("https://100.64.1.1/hook", "CGNAT").await;
    refused("https://169.254.169.254/latest/meta-data", "metadata").await;
    refused("https://[fd00:ec2::254]/", "metadata").await;
    refused("https://[fe80::1]/", "link-local").await;
    refused("https://0.0.0.0/", "unspecified").await;
    refused("https://224.0.0.1/", "multicast").await;
    refused("https://192.0.2.1/", "documentation").await;
    refused("https://2130706433/", "loopback").await;
    refused("https://user:pw@93.184.215.14/", "password").await;
    // Events: at least one, all known.
    for events in [json!([]), json!(["video.ready", "nope"])] {
        let r = app
            .request(
                Method::POST,
                "/api/v1/webhooks",
                Some(&t),
                Some(json!({"url": "https://93.184.215.14/hook", "events": events})),
            )
            .await;
        problem(r, 422, "invalid_events").await;
    }
    // A public address is taken (nothing is sent to it here).
    let r = app
        .request(
            Method::POST,
            "/api/v1/webhooks",
            Some(&t),
            Some(json!({"url": "https://93.184.215.14/hook", "events": ["video.ready"]})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}
