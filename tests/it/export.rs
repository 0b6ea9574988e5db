//! "Export my data" over real HTTP: an archive of exactly the user's data (and nobody
//! else's), prepared in the background, downloaded by a plain HTTP client from a signed link
//! that the real SMTP sink received too; tampered and expired links refused; one export at a
//! time and one a day; expiry and account deletion remove the archive; a `kill -9` during the
//! preparation leaves no export pending for ever.

use crate::comments::posted;
use crate::harness::*;
use crate::media::{media_env, new_video, ready_video};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const EXPORT: &str = "/api/v1/users/me/export";

fn options(extra: &[(&str, &str)]) -> Options {
    let mut o = Options::default()
        .env("TROUPE__COMMENTS__RATE_PER_MINUTE", "60000")
        .env("TROUPE__COMMENTS__BURST", "10000");
    for (k, v) in media_env() {
        o = o.env(k, v);
    }
    for (k, v) in extra {
        o = o.env(k, *v);
    }
    o
}

async fn ask(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    app.request(Method::POST, EXPORT, token, None).await
}

/// Polls the latest export until it is no longer pending (generous deadline); it.
async fn settled(app: &TestApp, token: &str) -> Value {
    eventually(Duration::from_secs(90), || async {
        let r = app.get(EXPORT, Some(token)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        (v["state"] != "pending").then_some(v)
    })
    .await
}

/// Asks for an export (202, pending) and waits until it is ready; the export.
async fn ready_export(app: &TestApp, token: &str) -> Value {
    let r = ask(app, Some(token)).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let asked: Value = r.json().await.unwrap();
    assert_eq!(asked["state"], "pending", "{asked}");
    let ex = settled(app, token).await;
    assert_eq!(ex["id"], asked["id"]);
    assert_eq!(ex["state"], "ready", "{ex}");
    ex
}

/// The export's link with its token's last characters changed.
fn tampered(url: &str) -> String {
    let (head, tail) = url.split_at(url.len() - 4);
    let flipped: String = tail
        .chars()
        .map(|c| if c == 'A' { 'B' } else { 'A' })
        .collect();
    format!("{head}{flipped}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_holds_the_users_data_and_nobody_elses_and_its_link_arrives_by_mail() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn(sink.options(options(&[]))).await;
    app.register("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    // Alice: a private video of her own, ready, watched (history).
    let tmp = tempfile::tempdir().unwrap();
    let mine = ready_video(&app, &alice, tmp.path(), 320, 240, 4, "private").await;
    let mine = mine["id"].as_str().unwrap().to_owned();
    let session = app.start_playback(&alice, &mine, "laptop").await;
    let sid = session["session_id"].as_str().unwrap();
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/playback/sessions/{sid}/heartbeat"),
            Some(&alice),
            Some(json!({"position": 2.5})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/playback/sessions/{sid}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // Bob: a public talk and a private one, and a comment of his own.
    let talk = new_video(&app, &bob, "Bob public talk", "public").await;
    let talk = talk["id"].as_str().unwrap().to_owned();
    let secret = new_video(&app, &bob, "Bob secret draft", "private").await;
    let secret = secret["id"].as_str().unwrap().to_owned();
    posted(&app, &bob, &talk, "bob-comment-7f3a", None).await;

    // Alice rates Bob's talk, comments on it and subscribes to his channel.
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/videos/{talk}/rating"),
            Some(&alice),
            Some(json!({"rating": "like"})),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    posted(&app, &alice, &talk, "alice-comment-91c2", None).await;
    let r = app
        .request(
            Method::PUT,
            "/api/v1/users/me/subscriptions/bob",
            Some(&alice),
            None,
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());

    // Nobody gets anything without signing in; nobody has an export yet.
    problem(ask(&app, None).await, 401, "missing_token").await;
    problem(app.get(EXPORT, None).await, 401, "missing_token").await;
    problem(app.get(EXPORT, Some(&alice)).await, 404, "no_export").await;

    // Two requests at once: one export. The other is told about the pending one (409), or, if
    // the preparation was already over when it arrived, about the daily limit (429).
    let (a, b) = tokio::join!(ask(&app, Some(&alice)), ask(&app, Some(&alice)));
    let (first, second) = if a.status() == StatusCode::ACCEPTED {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let asked: Value = first.json().await.unwrap();
    assert_eq!(asked["state"], "pending");
    assert!(asked.get("download_url").is_none(), "{asked}");
    match second.status().as_u16() {
        409 => {
            let p = problem(second, 409, "export_pending").await;
            assert_eq!(p["export_id"], asked["id"], "{p}");
        }
        _ => {
            assert!(second.headers().contains_key("retry-after"));
            problem(second, 429, "export_rate_limited").await;
        }
    }
    let ex = settled(&app, &alice).await;
    assert_eq!(ex["id"], asked["id"]);
    assert_eq!(ex["state"], "ready", "{ex}");
    assert!(ex["size_bytes"].as_u64().unwrap() > 100, "{ex}");
    let expires = chrono::DateTime::parse_from_rfc3339(ex["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let hours = (expires - chrono::Utc::now()).num_hours();
    assert!((167..=168).contains(&hours), "7 days by default: {hours} h");
    let url = ex["download_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&app.url("/api/v1/exports/")), "{url}");

    // A plain client, no bearer token.
    let plain = reqwest::Client::new();
    let r = plain.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    // The date is the request's (UTC): a run across midnight may see yesterday's.
    assert!(
        disposition.starts_with("attachment; filename=\"troupe-export-alice-")
            && disposition.ends_with(".json\""),
        "{disposition}"
    );
    assert!(
        disposition.contains(&today)
            || disposition.contains(
                &(chrono::Utc::now() - chrono::Duration::days(1))
                    .format("%Y-%m-%d")
                    .to_string()
            ),
        "{disposition}"
    );
    let text = r.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["format"], "troupe-export-v1");
    assert_eq!(doc["export_id"], asked["id"]);
    assert_eq!(doc["profile"]["username"], "alice");
    assert_eq!(doc["profile"]["email"], "alice@example.org");
    let handles: Vec<&str> = doc["channels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["handle"].as_str())
        .collect();
    assert_eq!(handles, ["alice"], "{}", doc["channels"]);
    let videos = doc["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 1, "{videos:?}");
    assert_eq!(videos[0]["id"], mine.as_str());
    assert_eq!(videos[0]["title"], "a clip");
    assert_eq!(videos[0]["visibility"], "private");
    let history = doc["watch_history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["video_id"], mine.as_str());
    assert_eq!(history[0]["position"], 2.5);
    assert_eq!(
        doc["ratings"],
        json!([{"video_id": talk, "rating": "like"}]),
        "{}",
        doc["ratings"]
    );
    let subs = doc["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0]["handle"], "bob");
    let comments = doc["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0]["text"], "alice-comment-91c2");
    assert_eq!(comments[0]["video_id"], talk.as_str());
    assert!(comments[0]["created_at"].is_string());
    assert!(doc["notification_settings"].is_object(), "{doc}");
    // Nothing of Bob's but what Alice did to his things; no secret of hers.
    for absent in [
        "bob-comment-7f3a",
        "Bob secret draft",
        secret.as_str(),
        "bob@example.org",
        "$argon2",
        "password",
        "refresh",
    ] {
        assert!(!text.contains(absent), "{absent} is in the archive");
    }

    // The mail has the link, and it works.
    let mail = sink
        .wait_for(Duration::from_secs(60), |m| {
            m.to.contains("alice@example.org") && m.subject.contains("data is ready")
        })
        .await;
    let body = mail.text.as_deref().unwrap();
    let at = body.find("/api/v1/exports/").expect("a link in the mail");
    let start = body[..at].rfind("http").unwrap();
    let mailed: String = body[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(
        mailed.contains(&format!(
            "/api/v1/exports/{}/archive?token=",
            asked["id"].as_str().unwrap()
        )),
        "{mailed}"
    );
    let r = plain.get(&mailed).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), text);

    // Tampered, missing or misplaced signatures are refused.
    let r = plain.get(tampered(&url)).send().await.unwrap();
    problem(r, 403, "invalid_export_link").await;
    let bare = url.split_once('?').unwrap().0;
    let r = plain.get(bare).send().await.unwrap();
    problem(r, 403, "invalid_export_link").await;
    let other = url.replace(
        asked["id"].as_str().unwrap(),
        "00000000-0000-4000-8000-000000000000",
    );
    let r = plain.get(other).send().await.unwrap();
    problem(r, 403, "invalid_export_link").await;

    // Bob has none; Alice may not ask again today.
    problem(app.get(EXPORT, Some(&bob)).await, 404, "no_export").await;
    let r = ask(&app, Some(&alice)).await;
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((86_000..=86_400).contains(&wait), "{wait}");
    problem(r, 429, "export_rate_limited").await;
}

/// Whether the archive of export `id` is in the local blob store.
fn archive_on_disk(app: &TestApp, id: &str) -> bool {
    walk(&app.data_dir).iter().any(|p| {
        p.to_string_lossy().contains("exports")
            && p.to_string_lossy().ends_with(&format!("{id}.json"))
    })
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_export_is_gone_with_its_link_and_archive_and_a_new_one_may_follow() {
    let app = TestApp::spawn(options(&[
        ("TROUPE__AUTH__EXPORT_TTL_SECS", "3"),
        ("TROUPE__AUTH__EXPORT_INTERVAL_SECS", "0"),
        ("TROUPE__AUTH__DELETION_SWEEP_SECS", "1"),
    ]))
    .await;
    let alice = app.user("alice").await;
    let ex = ready_export(&app, &alice).await;
    let id = ex["id"].as_str().unwrap().to_owned();
    let url = ex["download_url"].as_str().unwrap().to_owned();
    let plain = reqwest::Client::new();
    assert_eq!(
        plain.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert!(archive_on_disk(&app, &id));
    // Three seconds later it has expired; the sweep deletes the archive.
    eventually(Duration::from_secs(30), || async {
        let r = app.get(EXPORT, Some(&alice)).await;
        (r.status() == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    problem(app.get(EXPORT, Some(&alice)).await, 404, "no_export").await;
    problem(plain.get(&url).send().await.unwrap(), 410, "export_expired").await;
    eventually(Duration::from_secs(30), || async {
        (!archive_on_disk(&app, &id)).then_some(())
    })
    .await;

    // A new one at once (the interval is 0 here).
    let ex = ready_export(&app, &alice).await;
    assert_ne!(ex["id"].as_str().unwrap(), id);
    assert_eq!(
        plain
            .get(ex["download_url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_account_deletes_its_export() {
    let app = TestApp::spawn(options(&[
        ("TROUPE__AUTH__DELETION_SWEEP_SECS", "1"),
        ("TROUPE__AUTH__DELETION_GRACE_SECS", "1"),
    ]))
    .await;
    let admin = app.user("root").await;
    let alice = app.user("alice").await;
    let ex = ready_export(&app, &alice).await;
    let id = ex["id"].as_str().unwrap().to_owned();
    let url = ex["download_url"].as_str().unwrap().to_owned();
    assert!(archive_on_disk(&app, &id));
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&alice),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    eventually(Duration::from_secs(30), || async {
        let r = app.get("/api/v1/admin/users/alice", Some(&admin)).await;
        (r.status() == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    // The link is signed for 7 days, but its export went with the account.
    problem(reqwest::get(&url).await.unwrap(), 410, "export_expired").await;
    assert!(
        !archive_on_disk(&app, &id),
        "the archive went with the account"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_during_the_preparation_leaves_no_export_pending_for_ever() {
    let app = TestApp::spawn(options(&[])).await;
    app.register("root").await;
    let alice = app.user("alice").await;
    for i in 0..20 {
        new_video(&app, &alice, &format!("talk {i}"), "public").await;
    }
    let r = ask(&app, Some(&alice)).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let asked: Value = r.json().await.unwrap();
    let mut app = app;
    app.kill9();
    let app = app.restart().await;
    // Pending, durably: after the restart the export is there, and ends ready or failed.
    let alice = app.login_token("alice").await;
    let ex = settled(&app, &alice).await;
    assert_eq!(ex["id"], asked["id"]);
    assert!(ex["state"] == "ready" || ex["state"] == "failed", "{ex}");
    if ex["state"] == "ready" {
        let r = reqwest::get(ex["download_url"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["videos"].as_array().unwrap().len(), 20);
    } else {
        // A failed export does not count against the daily limit.
        assert_eq!(ask(&app, Some(&alice)).await.status(), StatusCode::ACCEPTED);
    }
}
