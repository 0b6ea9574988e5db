//! Atom and RSS feeds, read by Python's `feedparser` (PyPI; `scripts/lib.sh` installs it):
//! well-formed, markup in names shown as text, Media RSS thumbnails and durations, 304 on a
//! conditional GET, and the private subscription feed behind a token that can be replaced.

use crate::channels::ready_in;
use crate::harness::{problem, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// What feedparser makes of `xml`.
fn parse(xml: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.xml");
    std::fs::write(&file, xml).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/feeds/parse.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "feedparser (PyPI) is needed; scripts/lib.sh ensure_feedparser installs it:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn fetch(app: &TestApp, path: &str) -> (reqwest::header::HeaderMap, String) {
    let r = app.get(path, None).await;
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    let headers = r.headers().clone();
    (headers, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_feeds_pass_feedparser_escape_markup_carry_media_rss_and_answer_304() {
    let app = TestApp::spawn(crate::media::media_options()).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = std::fs::read(crate::media::clip(tmp.path(), "c.mp4", 160, 120, 2, true)).unwrap();
    let alice = app.user("alice").await;
    let name = "Tom & <Jerry> \"quoted\"";
    let r = app
        .request(
            Method::POST,
            "/api/v1/channels",
            Some(&alice),
            Some(json!({"handle": "tricky", "display_name": name, "description": "<script>alert(1)</script>"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let first = ready_in(
        &app,
        &alice,
        "tricky",
        "<b>Bold</b> & more",
        "public",
        &data,
    )
    .await;
    let second = ready_in(&app, &alice, "tricky", "Plain second", "public", &data).await;
    ready_in(&app, &alice, "tricky", "Private one", "private", &data).await;
    // The index lists them within its commit interval.
    app.listed("/api/v1/channels/tricky/videos", None, |p| {
        p["items"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;

    let (headers, atom) = fetch(&app, "/feeds/channels/tricky.atom").await;
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/atom+xml"));
    for raw in ["<script>", "<b>Bold", "<Jerry>"] {
        assert!(
            !atom.contains(raw),
            "{raw} reached the XML unescaped:\n{atom}"
        );
    }
    let f = parse(&atom);
    assert_eq!(
        (f["bozo"].as_i64(), f["version"].as_str()),
        (Some(0), Some("atom10")),
        "{f}"
    );
    assert_eq!(f["title"], name);
    let entries = f["entries"].as_array().unwrap();
    let titles: Vec<&str> = entries
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Plain second", "<b>Bold</b> & more"], "{f}");
    assert_eq!(entries[0]["id"], format!("urn:uuid:{second}"));
    assert!(entries[1]["link"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/watch/{first}")));
    for e in entries {
        let thumb = e["thumbnail"][0].as_str().unwrap();
        assert!(
            thumb.starts_with("http://") && thumb.ends_with("/thumbnail.jpg"),
            "{e}"
        );
        assert_eq!(e["duration"][0], "2", "{e}");
    }
    // The poster the feed names is there.
    let thumb = entries[0]["thumbnail"][0].as_str().unwrap();
    let r = app.client.get(thumb).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let (headers, rss) = fetch(&app, "/feeds/channels/tricky.rss").await;
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/rss+xml"));
    assert!(!rss.contains("<script>") && !rss.contains("<b>Bold"));
    let r = parse(&rss);
    assert_eq!(
        (r["bozo"].as_i64(), r["version"].as_str()),
        (Some(0), Some("rss20")),
        "{r}"
    );
    assert_eq!(r["title"], name);
    assert_eq!(r["entries"][1]["title"], "<b>Bold</b> & more");
    assert_eq!(r["entries"][1]["duration"][0], "2");

    // Conditional GETs.
    let (headers, _) = fetch(&app, "/feeds/channels/tricky.atom").await;
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let modified = headers["last-modified"].to_str().unwrap().to_owned();
    let r = app
        .client
        .get(app.url("/feeds/channels/tricky.atom"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    let r = app
        .client
        .get(app.url("/feeds/channels/tricky.atom"))
        .header("if-modified-since", &modified)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    // A change is a new version.
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/videos/{second}"),
            Some(&alice),
            Some(json!({"title": "Renamed"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let changed = crate::harness::eventually(std::time::Duration::from_secs(20), || async {
        let r = app
            .client
            .get(app.url("/feeds/channels/tricky.atom"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        (r.status() == StatusCode::OK).then_some(r)
    })
    .await;
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    assert!(changed.text().await.unwrap().contains("Renamed"));

    problem(
        app.get("/feeds/channels/nobody_here.atom", None).await,
        404,
        "channel_not_found",
    )
    .await;
    problem(
        app.get("/feeds/channels/nobody_here.rss", None).await,
        404,
        "channel_not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_feed_needs_the_current_token_and_a_regenerated_one_retires_the_old() {
    let app = TestApp::spawn(crate::media::media_options()).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = std::fs::read(crate::media::clip(tmp.path(), "c.mp4", 160, 120, 1, true)).unwrap();
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    ready_in(&app, &alice, "alice", "Alice's <first>", "public", &data).await;
    let r = app
        .request(
            Method::PUT,
            "/api/v1/users/me/subscriptions/alice",
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let t: Value = app
        .get("/api/v1/users/me/feed-token", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    let token = t["token"].as_str().unwrap().to_owned();
    let again: Value = app
        .get("/api/v1/users/me/feed-token", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["token"],
        token.as_str(),
        "the token stays until regenerated"
    );
    let url = t["url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("/feeds/subscriptions.atom?token={token}"));
    let body = crate::harness::eventually(std::time::Duration::from_secs(20), || async {
        let r = app.get(&url, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body = r.text().await.unwrap();
        body.contains("<entry>").then_some(body)
    })
    .await;
    let f = parse(&body);
    assert_eq!(
        (f["bozo"].as_i64(), f["version"].as_str()),
        (Some(0), Some("atom10")),
        "{f}"
    );
    assert_eq!(f["entries"][0]["title"], "Alice's <first>");
    assert_eq!(f["entries"][0]["duration"][0], "1");

    // Wrong tokens: 404, never a hint.
    for bad in [
        "nonsense".to_owned(),
        format!("{token}x"),
        token.replace('a', "b"),
    ] {
        if bad == token {
            continue;
        }
        problem(
            app.get(&format!("/feeds/subscriptions.atom?token={bad}"), None)
                .await,
            404,
            "feed_not_found",
        )
        .await;
    }
    problem(
        app.get("/feeds/subscriptions.atom", None).await,
        400,
        "invalid_query",
    )
    .await;
    problem(
        app.request(Method::POST, "/api/v1/users/me/feed-token", None, None)
            .await,
        401,
        "missing_token",
    )
    .await;

    let r = app
        .request(
            Method::POST,
            "/api/v1/users/me/feed-token",
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh: Value = r.json().await.unwrap();
    let fresh = fresh["token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, token);
    problem(app.get(&url, None).await, 404, "feed_not_found").await;
    let r = app
        .get(&format!("/feeds/subscriptions.atom?token={fresh}"), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Alice's token is not Bob's feed.
    let a: Value = app
        .get("/api/v1/users/me/feed-token", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    let r = app.get(a["url"].as_str().unwrap(), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let f = parse(&r.text().await.unwrap());
    assert_eq!(
        f["entries"].as_array().unwrap().len(),
        0,
        "alice subscribes to nothing"
    );
}
