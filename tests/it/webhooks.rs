//! Webhooks: endpoints, SSRF refusals, and deliveries that a real receiver
//! (`tests/support/webhook_receiver.py`) verifies with the reference verifier, the
//! `standardwebhooks` package (PyPI; `scripts/lib.sh` `ensure_standardwebhooks` installs it).

use crate::cluster::{Cluster, Spec};
use crate::comments::posted;
use crate::harness::{eventually, problem, Options, SmtpSink, TestApp};
use crate::media::{clip, media_env, new_video, upload};
use crate::notifications::subscribe;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The receiver process: a path per endpoint, scripted answers, every delivery verified.
pub struct Receiver {
    child: Child,
    pub port: u16,
    client: reqwest::Client,
}

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

/// `name`'s receipts by webhook-id.
fn by_id(got: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for g in got {
        m.entry(g["id"].as_str().unwrap().to_owned())
            .or_default()
            .push(g.clone());
    }
    m
}

/// The parsed body of a receipt.
fn body(g: &Value) -> Value {
    serde_json::from_str(g["body"].as_str().unwrap()).unwrap()
}

/// The endpoint's delivery log (newest first).
async fn log(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/api/v1/webhooks/{id}/deliveries?limit=100"),
            Some(token),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["deliveries"].as_array().unwrap().clone()
}

fn with_media(mut o: Options) -> Options {
    for (k, v) in media_env() {
        o = o.env(k, v);
    }
    o
}

#[tokio::test]
async fn every_event_reaches_its_endpoints_signed_and_verified_by_standardwebhooks() {
    let rx = Receiver::start();
    let app = TestApp::spawn(with_media(options("[1,1,1]"))).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let boss = app.user("boss").await;
    let all = register(&app, &alice, &rx.url("alice"), &ALL).await;
    rx.configure("alice", json!({"secrets": [all["secret"]]}))
        .await;
    // Bob's endpoint hears of nothing of Alice's; the instance's hears of everything.
    let bobs = register(&app, &bob, &rx.url("bob"), &ALL).await;
    rx.configure("bob", json!({"secrets": [bobs["secret"]]}))
        .await;
    let r = app
        .request(
            Method::POST,
            "/api/v1/webhooks",
            Some(&boss),
            Some(json!({"url": rx.url("instance"), "events": ["video.created", "video.ready"], "scope": "instance"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let inst: Value = r.json().await.unwrap();
    rx.configure("instance", json!({"secrets": [inst["secret"]]}))
        .await;

    // video.created, upload.completed, video.ready, video.updated.
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(clip(dir.path(), "c.mp4", 160, 90, 1, false)).unwrap();
    let v = new_video(&app, &alice, "hooked", "public").await;
    let id = v["id"].as_str().unwrap().to_owned();
    upload(&app, &alice, &id, &data, 1 << 20).await;
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/videos/{id}"),
            Some(&alice),
            Some(json!({"title": "renamed", "comment_policy": "enabled"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // channel.subscribed, comment.created, then comment.held under the approval policy.
    subscribe(&app, &bob, "alice").await;
    posted(&app, &bob, &id, "nice one", None).await;
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/videos/{id}"),
            Some(&alice),
            Some(json!({"comment_policy": "approval"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    posted(&app, &bob, &id, "held for review", None).await;
    // video.failed (with the reason): a file that is not a video.
    let bad = new_video(&app, &alice, "not a video", "public").await;
    let bad_id = bad["id"].as_str().unwrap().to_owned();
    upload(
        &app,
        &alice,
        &bad_id,
        &b"not a video\n".repeat(100),
        1 << 20,
    )
    .await;
    let got = rx
        .wait("alice", Duration::from_secs(120), |g| {
            let types: BTreeSet<&str> = g.iter().filter_map(|r| r["type"].as_str()).collect();
            ALL.iter()
                .filter(|t| **t != "video.deleted")
                .all(|t| types.contains(t))
        })
        .await;
    // video.deleted.
    app.delete_video(&alice, &id).await;
    let got = rx
        .wait("alice", Duration::from_secs(30), |g| {
            g.len() > got.len() && g.iter().any(|r| r["type"] == "video.deleted")
        })
        .await;
    for g in &got {
        assert_eq!(g["verified_with"], json!([0]), "{g}");
        assert_eq!(g["answered"], "200");
        let id = g["id"].as_str().unwrap();
        assert!(id.starts_with("msg_"), "{id}");
        let b = body(g);
        assert!(b["timestamp"].is_string() && b["data"].is_object(), "{b}");
        assert_eq!(b["type"], g["type"]);
    }
    // One delivery per event: no id twice (every answer was a 2xx).
    assert_eq!(by_id(&got).len(), got.len(), "{got:?}");
    let of = |t: &str| {
        got.iter()
            .filter(|g| g["type"] == t)
            .map(body)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("video.created")[0]["data"]["id"], id.as_str());
    assert_eq!(of("video.created")[0]["data"]["owner"], "alice");
    assert_eq!(of("upload.completed")[0]["data"]["video_id"], id.as_str());
    let ready = &of("video.ready")[0]["data"];
    assert_eq!(ready["id"], id.as_str());
    assert_eq!(ready["state"], "ready");
    assert!(!ready["renditions"].as_array().unwrap().is_empty());
    assert_eq!(of("video.updated")[0]["data"]["title"], "renamed");
    let failed = &of("video.failed")[0]["data"];
    assert_eq!(failed["id"], bad_id.as_str());
    assert!(
        failed["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{failed}"
    );
    let sub = &of("channel.subscribed")[0]["data"];
    assert_eq!(
        (&sub["channel"], &sub["subscriber"]),
        (&json!("alice"), &json!("bob"))
    );
    assert_eq!(
        of("comment.created")[0]["data"]["comment"]["text"],
        "nice one"
    );
    assert_eq!(
        of("comment.held")[0]["data"]["comment"]["text"],
        "held for review"
    );
    assert_eq!(of("video.deleted")[0]["data"]["id"], id.as_str());

    // The instance endpoint got Alice's video.created and video.ready; Bob's, nothing of hers.
    let inst_got = rx
        .wait("instance", Duration::from_secs(30), |g| {
            g.iter().any(|r| r["type"] == "video.ready")
        })
        .await;
    assert!(inst_got.iter().all(|g| g["verified"] == true));
    assert!(inst_got.iter().any(|g| g["type"] == "video.created"));
    assert!(inst_got.iter().all(|g| g["type"] != "comment.created"));
    assert_eq!(rx.received("bob").await, Vec::<Value>::new());

    // The log: every attempt, sent with a 200 and what the receiver answered.
    let entries = log(&app, &alice, all["id"].as_str().unwrap()).await;
    assert_eq!(entries.len(), got.len(), "{entries:?}");
    for e in &entries {
        assert_eq!(e["outcome"], "sent");
        assert_eq!(e["status"], 200);
        assert!(e["response"].as_str().unwrap().starts_with("answer 200"));
    }
}

#[tokio::test]
async fn failures_and_timeouts_are_retried_with_the_same_id_until_one_succeeds() {
    let rx = Receiver::start();
    let app = TestApp::spawn(options("[1,1,1,1,1]")).await;
    let alice = app.user("alice").await;
    let hook = register(&app, &alice, &rx.url("flaky"), &["video.created"]).await;
    rx.configure(
        "flaky",
        json!({"secrets": [hook["secret"]], "script": ["500", "timeout", "503:1", "302"], "timeout_secs": 4}),
    )
    .await;
    new_video(&app, &alice, "retried", "public").await;
    let got = rx
        .wait("flaky", Duration::from_secs(60), |g| {
            g.iter().any(|r| r["answered"] == "200")
        })
        .await;
    let answers: Vec<&str> = got
        .iter()
        .map(|g| g["answered"].as_str().unwrap())
        .collect();
    assert_eq!(answers, ["500", "timeout", "503:1", "302", "200"]);
    assert_eq!(by_id(&got).len(), 1, "one webhook-id across retries");
    assert!(got
        .iter()
        .all(|g| g["verified"] == true && g["body"] == got[0]["body"]));
    // Each attempt is signed afresh.
    let stamps: Vec<i64> = got
        .iter()
        .map(|g| g["timestamp"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]) && stamps[0] < stamps[4],
        "{stamps:?}"
    );
    // Retry-After: 1 on the 503 was honoured (the next attempt came no sooner).
    let at: Vec<f64> = got.iter().map(|g| g["at"].as_f64().unwrap()).collect();
    assert!(at[3] - at[2] >= 0.95, "{at:?}");
    let id = hook["id"].as_str().unwrap();
    let entries = eventually(Duration::from_secs(20), || async {
        let l = log(&app, &alice, id).await;
        (l.len() == 5).then_some(l)
    })
    .await;
    let outcomes: Vec<&str> = entries
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["sent", "retrying", "retrying", "retrying", "retrying"]
    );
    let statuses: Vec<Value> = entries.iter().map(|e| e["status"].clone()).collect();
    assert_eq!(
        statuses,
        [json!(200), json!(302), json!(503), Value::Null, json!(500)]
    );
    assert!(entries[1]["error"].as_str().unwrap().contains("redirect"));
    assert!(entries[3]["error"]
        .as_str()
        .unwrap()
        .contains("no answer within 2 s"));
    // The endpoint is healthy again.
    let e: Value = app
        .get(&format!("/api/v1/webhooks/{id}"), Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(e["failing_since"], Value::Null);
    // A manual retry sends the same delivery again.
    let delivery = entries[0]["delivery_id"].as_str().unwrap();
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/deliveries/{delivery}/retry"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "{}",
        r.text().await.unwrap()
    );
    let again = rx
        .wait("flaky", Duration::from_secs(30), |g| g.len() == 6)
        .await;
    assert_eq!(again[5]["id"], delivery);
    assert_eq!(again[5]["body"], got[0]["body"]);
    let r = app
        .request(
            Method::POST,
            &format!(
                "/api/v1/webhooks/{id}/deliveries/msg_nope_{}/retry",
                id.replace('-', "")
            ),
            Some(&alice),
            None,
        )
        .await;
    problem(r, 404, "delivery_not_found").await;
}

#[tokio::test]
async fn a_410_disables_the_endpoint_at_once() {
    let rx = Receiver::start();
    let app = TestApp::spawn(options("[1,1,1]")).await;
    let alice = app.user("alice").await;
    let gone = register(
        &app,
        &alice,
        &rx.url("gone"),
        &["video.created", "video.updated"],
    )
    .await;
    rx.configure(
        "gone",
        json!({"secrets": [gone["secret"]], "script": ["410"]}),
    )
    .await;
    let v = new_video(&app, &alice, "first", "public").await;
    let id = gone["id"].as_str().unwrap();
    let e = app
        .json_when(
            Duration::from_secs(30),
            &format!("/api/v1/webhooks/{id}"),
            Some(&alice),
            |e| e["state"] == "disabled",
        )
        .await;
    assert_eq!(e["disabled_reason"], "gone");
    let entries = log(&app, &alice, id).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (&entries[0]["outcome"], &entries[0]["status"]),
        (&json!("failed"), &json!(410))
    );
    // Later events skip it; a witness endpoint shows they were produced.
    let witness = register(&app, &alice, &rx.url("witness"), &["video.updated"]).await;
    rx.configure("witness", json!({"secrets": [witness["secret"]]}))
        .await;
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/videos/{}", v["id"].as_str().unwrap()),
            Some(&alice),
            Some(json!({"title": "second"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    rx.wait("witness", Duration::from_secs(30), |g| g.len() == 1)
        .await;
    assert_eq!(rx.received("gone").await.len(), 1);
    // Its owner enables it again, and a test event goes through.
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(&alice),
            Some(json!({"state": "enabled"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/test"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let got = rx
        .wait("gone", Duration::from_secs(30), |g| g.len() == 2)
        .await;
    assert_eq!(got[1]["type"], "webhook.test");
    assert_eq!(got[1]["answered"], "200");
}

#[tokio::test]
async fn both_secrets_sign_during_a_rotation_and_only_the_new_one_after() {
    let rx = Receiver::start();
    let app =
        TestApp::spawn(options("[1]").env("TROUPE__WEBHOOKS__ROTATION_OVERLAP_SECS", "4")).await;
    let alice = app.user("alice").await;
    let hook = register(&app, &alice, &rx.url("rot"), &["video.created"]).await;
    let id = hook["id"].as_str().unwrap();
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
    rx.configure("rot", json!({"secrets": [hook["secret"], rot["secret"]]}))
        .await;
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/test"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let got = rx
        .wait("rot", Duration::from_secs(30), |g| g.len() == 1)
        .await;
    assert_eq!(got[0]["verified_with"], json!([0, 1]), "{}", got[0]);
    assert_eq!(got[0]["signature"].as_str().unwrap().split(' ').count(), 2);
    // After the overlap only the new secret signs.
    let expires =
        chrono::DateTime::parse_from_rfc3339(rot["previous_expires_at"].as_str().unwrap()).unwrap();
    eventually(Duration::from_secs(30), || async {
        (chrono::Utc::now() > expires).then_some(())
    })
    .await;
    new_video(&app, &alice, "after", "public").await;
    let got = rx
        .wait("rot", Duration::from_secs(30), |g| g.len() == 2)
        .await;
    assert_eq!(got[1]["verified_with"], json!([1]), "{}", got[1]);
    assert_eq!(got[1]["signature"].as_str().unwrap().split(' ').count(), 1);
}

#[tokio::test]
async fn a_target_that_resolves_inside_is_refused_at_delivery() {
    let rx = Receiver::start();
    // Registered while loopback is allowed, by name (the client's own resolver vets it) and
    // as an IP literal (vetted before the request).
    let opts = options("[1,1]").env(
        "TROUPE__WEBHOOKS__ALLOWED_NETWORKS",
        "[\"127.0.0.0/8\", \"::1/128\"]",
    );
    let mut app = TestApp::spawn(opts).await;
    let alice = app.user("alice").await;
    let by_name = format!("http://localhost:{}/hook/name", rx.port);
    let named = register(&app, &alice, &by_name, &["video.created"]).await;
    let literal = register(&app, &alice, &rx.url("literal"), &["video.created"]).await;
    rx.configure("name", json!({"secrets": [named["secret"]]}))
        .await;
    rx.configure("literal", json!({"secrets": [literal["secret"]]}))
        .await;
    new_video(&app, &alice, "allowed", "public").await;
    rx.wait("name", Duration::from_secs(30), |g| g.len() == 1)
        .await;
    rx.wait("literal", Duration::from_secs(30), |g| g.len() == 1)
        .await;
    // The same server without the exemption: the next deliveries fail for good.
    app.kill9();
    let strict = options("[1,1]").env("TROUPE__WEBHOOKS__ALLOWED_NETWORKS", "[]");
    let app2 = TestApp::start(&app.data_dir, strict)
        .await
        .unwrap_or_else(|(_, l)| panic!("{l}"));
    let alice = app2.login_token("alice").await;
    new_video(&app2, &alice, "refused", "public").await;
    for hook in [&named, &literal] {
        let id = hook["id"].as_str().unwrap();
        let entries = eventually(Duration::from_secs(30), || async {
            let l = log(&app2, &alice, id).await;
            (l.len() == 2).then_some(l)
        })
        .await;
        assert_eq!(entries[0]["outcome"], "failed", "{entries:?}");
        let error = entries[0]["error"].as_str().unwrap();
        assert!(
            error.contains("refused by the SSRF rules") && error.contains("loopback"),
            "{error}"
        );
    }
    assert_eq!(rx.received("name").await.len(), 1);
    assert_eq!(rx.received("literal").await.len(), 1);
    // And a new registration of it is refused.
    let r = app2
        .request(
            Method::POST,
            "/api/v1/webhooks",
            Some(&alice),
            Some(json!({"url": by_name, "events": ["video.created"]})),
        )
        .await;
    problem(r, 422, "invalid_webhook_url").await;
}

#[tokio::test]
async fn a_kill_9_in_the_middle_of_retries_loses_no_event_and_repeats_no_id() {
    let rx = Receiver::start();
    let mut app = TestApp::spawn(options("[1,1,1,1,1,1,1,1,1,1]")).await;
    let alice = app.user("alice").await;
    let hook = register(&app, &alice, &rx.url("k"), &["video.created"]).await;
    rx.configure("k", json!({"secrets": [hook["secret"]], "default": "500"}))
        .await;
    let mut videos = Vec::new();
    for i in 0..5 {
        let v = new_video(&app, &alice, &format!("v{i}"), "public").await;
        videos.push(v["id"].as_str().unwrap().to_owned());
    }
    // Every event tried and refused at least once, then the node dies mid-retries.
    rx.wait("k", Duration::from_secs(30), |g| by_id(g).len() == 5)
        .await;
    app.kill9();
    rx.configure("k", json!({"default": "200"})).await;
    let app = app.restart().await;
    let got = rx
        .wait("k", Duration::from_secs(60), |g| {
            by_id(g)
                .values()
                .filter(|rs| rs.iter().any(|r| r["answered"] == "200"))
                .count()
                == 5
        })
        .await;
    assert!(got.iter().all(|g| g["verified"] == true));
    let ids = by_id(&got);
    assert_eq!(ids.len(), 5, "one webhook-id per event");
    let mut seen = BTreeSet::new();
    for receipts in ids.values() {
        let b: BTreeSet<&str> = receipts
            .iter()
            .map(|r| r["body"].as_str().unwrap())
            .collect();
        assert_eq!(b.len(), 1, "one body per id");
        seen.insert(
            body(&receipts[0])["data"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(seen, videos.into_iter().collect::<BTreeSet<_>>());
    drop(app);
}

#[tokio::test]
async fn on_three_nodes_events_caused_on_every_node_reach_the_endpoint() {
    let rx = Receiver::start();
    let env = [
        (
            "TROUPE__WEBHOOKS__ALLOWED_NETWORKS",
            "[\"127.0.0.0/8\"]".to_owned(),
        ),
        ("TROUPE__WEBHOOKS__ALLOW_HTTP", "true".to_owned()),
        ("TROUPE__WEBHOOKS__SCHEDULE_SECS", "[1,1,1]".to_owned()),
    ];
    let c = Cluster::start_with_env(
        Spec {
            nodes: 3,
            proxied: false,
        },
        &env,
    )
    .await;
    let alice = c.nodes[0].user("alice").await;
    let hook = register(&c.nodes[0], &alice, &rx.url("c"), &["video.created"]).await;
    rx.configure("c", json!({"secrets": [hook["secret"]]}))
        .await;
    let mut videos = BTreeSet::new();
    for (i, node) in c.nodes.iter().enumerate() {
        let v = new_video(node, &alice, &format!("from node {i}"), "public").await;
        videos.insert(v["id"].as_str().unwrap().to_owned());
    }
    let got = rx
        .wait("c", Duration::from_secs(60), |g| g.len() >= 3)
        .await;
    assert!(got.iter().all(|g| g["verified"] == true));
    let seen: BTreeSet<String> = got
        .iter()
        .map(|g| body(g)["data"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, videos);
    assert_eq!(by_id(&got).len(), 3);
}

#[tokio::test]
async fn an_endpoint_failing_for_too_long_is_disabled_and_its_owner_emailed() {
    let rx = Receiver::start();
    let sink = SmtpSink::start().await;
    let opts = sink
        .options(options("[1,1,1,1,1,1,1,1,1,1]").env("TROUPE__WEBHOOKS__DISABLE_AFTER_SECS", "3"));
    let app = TestApp::spawn(opts).await;
    let alice = app.user("alice").await;
    let hook = register(&app, &alice, &rx.url("down"), &["video.created"]).await;
    rx.configure(
        "down",
        json!({"secrets": [hook["secret"]], "default": "500"}),
    )
    .await;
    new_video(&app, &alice, "unheard", "public").await;
    let id = hook["id"].as_str().unwrap();
    let e = app
        .json_when(
            Duration::from_secs(60),
            &format!("/api/v1/webhooks/{id}"),
            Some(&alice),
            |e| e["state"] == "disabled",
        )
        .await;
    assert_eq!(e["disabled_reason"], "failing");
    assert!(e["failing_since"].is_string());
    let mail = sink
        .wait_for(Duration::from_secs(60), |m| {
            // Not the address-verification mail every registration sends.
            m.to.contains("alice@example.org") && !m.subject.starts_with("Confirm your email")
        })
        .await;
    assert!(mail.subject.contains("was disabled"), "{}", mail.subject);
    let text = mail.text.unwrap_or_default();
    assert!(
        text.contains(&rx.url("down")) && text.contains("failed since"),
        "{text}"
    );
    // The delivery under way ends: its next attempt finds the endpoint disabled.
    let entries = eventually(Duration::from_secs(30), || async {
        let l = log(&app, &alice, id).await;
        (l.first()?["outcome"] == "failed").then_some(l)
    })
    .await;
    assert!(entries.iter().skip(1).all(|e| e["status"] == 500));
}
