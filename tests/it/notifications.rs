//! Notifications over real HTTP: the inbox (list, cursor, unread count, marking read,
//! settings), the live stream, the owner's notices from real transcodes, and bad input.

use crate::harness::{eventually, problem, TestApp};
use crate::media::{media_options, new_video, ready_video, upload};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The caller's notifications (one page, with `query`).
pub async fn inbox(app: &TestApp, token: &str, query: &str) -> Value {
    let r = app
        .get(
            &format!("/api/v1/users/me/notifications{query}"),
            Some(token),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// The caller's unread count.
pub async fn unread(app: &TestApp, token: &str) -> u64 {
    let r = app
        .get("/api/v1/users/me/notifications/unread-count", Some(token))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["unread"].as_u64().unwrap()
}

/// A live notification stream, read event by event.
pub struct Stream {
    resp: reqwest::Response,
    buf: String,
}

impl Stream {
    /// Opens the caller's stream on `app`.
    pub async fn open(app: &TestApp, token: &str) -> Stream {
        let resp = app
            .client
            .get(app.url(&format!(
                "/api/v1/users/me/notifications/events?access_token={token}"
            )))
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        Stream {
            resp,
            buf: String::new(),
        }
    }

    /// The next event of type `kind` (its data), within `timeout`.
    pub async fn next(&mut self, kind: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let ev: String = self.buf.drain(..end + 2).collect();
                if ev.lines().any(|l| l == format!("event: {kind}")) {
                    let data = ev.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                    return serde_json::from_str(data).unwrap();
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .unwrap_or_else(|_| panic!("no {kind} event within {timeout:?}"))
                .unwrap()
                .expect("the stream ended");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_video_notifies_its_owner_live_and_in_the_inbox_once() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(unread(&app, &alice).await, 0);
    let mut live = Stream::open(&app, &alice).await;
    assert_eq!(
        live.next("unread", Duration::from_secs(10)).await["unread"],
        0
    );

    let video = ready_video(&app, &alice, tmp.path(), 320, 240, 2, "private").await;
    let id = video["id"].as_str().unwrap();
    let ready_at = Instant::now();
    let heard = live.next("notification", Duration::from_secs(30)).await;
    println!(
        "my_video_ready heard live {:.2} s after the video read as ready",
        ready_at.elapsed().as_secs_f64()
    );
    assert_eq!(heard["type"], "my_video_ready");
    assert_eq!(heard["id"], format!("my_video_ready:{id}"));
    assert_eq!(heard["video"]["id"], id);
    assert_eq!(heard["video"]["title"], "a clip");
    assert_eq!(
        heard["video"]["thumbnail_url"],
        format!("/api/v1/videos/{id}/thumbnail.jpg")
    );
    // It names the poster itself (private here: its owner's token opens it).
    let poster = app
        .get(
            heard["video"]["thumbnail_url"].as_str().unwrap(),
            Some(&alice),
        )
        .await;
    assert_eq!(poster.status(), reqwest::StatusCode::OK);
    assert_eq!(poster.headers()["content-type"], "image/jpeg");
    assert_eq!(heard["actor"]["username"], "alice");
    assert_eq!(heard["read"], false);
    assert_eq!(
        live.next("unread", Duration::from_secs(10)).await["unread"],
        1
    );

    let page = inbox(&app, &alice, "").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["items"][0], heard);
    assert_eq!(page["unread"], 1);
    assert_eq!(unread(&app, &alice).await, 1);
    // Nobody else hears of it.
    assert_eq!(inbox(&app, &bob, "").await["items"], json!([]));

    // A notification id that is not bob's is ignored, and nothing says whether it exists.
    let nid = heard["id"].as_str().unwrap();
    let r = app
        .request(
            Method::POST,
            "/api/v1/users/me/notifications/read",
            Some(&bob),
            Some(json!({"ids": [nid]})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["unread"], 0);
    assert_eq!(unread(&app, &alice).await, 1);

    let r = app
        .request(
            Method::POST,
            "/api/v1/users/me/notifications/read",
            Some(&alice),
            Some(json!({"ids": [nid, "new_subscriber:nobody"]})),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["unread"], 0);
    assert_eq!(
        live.next("unread", Duration::from_secs(10)).await["unread"],
        0
    );
    assert_eq!(inbox(&app, &alice, "").await["items"][0]["read"], true);
    assert_eq!(
        inbox(&app, &alice, "?unread=true").await["items"],
        json!([])
    );
    assert_eq!(
        inbox(&app, &alice, "?type=new_subscriber").await["items"],
        json!([])
    );
    assert_eq!(
        inbox(&app, &alice, "?type=my_video_ready").await["items"][0]["id"],
        nid
    );

    // After a kill -9 and a restart the inbox holds it once: the video's follow-up is done
    // and recorded, and doing it again would change nothing.
    let mut app = app;
    app.kill9();
    let app = app.restart().await;
    let v = app.get(&format!("/api/v1/videos/{id}"), Some(&alice)).await;
    assert_eq!(v.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let page = inbox(&app, &alice, "").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["items"][0]["read"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_video_tells_its_owner_why_and_settings_off_means_nothing_arrives() {
    let app = TestApp::spawn(media_options()).await;
    let alice = app.user("alice").await;
    let carol = app.user("carol").await;
    // Carol wants no failure notices in the web inbox.
    let r = app
        .request(
            Method::PUT,
            "/api/v1/users/me/notification-settings",
            Some(&carol),
            Some(json!({"my_video_failed": {"web": false, "email": "digest"}})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let settings: Value = r.json().await.unwrap();
    assert_eq!(
        settings["my_video_failed"],
        json!({"web": false, "email": "digest"})
    );
    assert_eq!(
        settings["my_video_ready"],
        json!({"web": true, "email": "off"})
    );
    let r = app
        .get("/api/v1/users/me/notification-settings", Some(&carol))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap(), settings);

    let garbage: Vec<u8> = b"this is not a video at all\n".repeat(100);
    let mut ids = Vec::new();
    for token in [&alice, &carol] {
        let v = new_video(&app, token, "not a video", "public").await;
        let id = v["id"].as_str().unwrap().to_owned();
        upload(&app, token, &id, &garbage, 1 << 20).await;
        ids.push(id);
    }
    let n = eventually(Duration::from_secs(60), || async {
        let page = inbox(&app, &alice, "").await;
        page["items"].as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(n["type"], "my_video_failed");
    assert_eq!(n["video"]["id"], ids[0].as_str());
    assert_eq!(n["video"]["thumbnail_url"], Value::Null);
    let reason = n["reason"].as_str().unwrap();
    let v: Value = app
        .get(&format!("/api/v1/videos/{}", ids[0]), Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["state"], "failed");
    assert_eq!(v["failure_reason"].as_str(), Some(reason));

    // Carol's video failed too, and her inbox stays empty.
    eventually(Duration::from_secs(60), || async {
        let v: Value = app
            .get(&format!("/api/v1/videos/{}", ids[1]), Some(&carol))
            .await
            .json()
            .await
            .unwrap();
        (v["state"] == "failed").then_some(())
    })
    .await;
    // The follow-up runs after the failure is durable; give it time to (not) arrive.
    eventually(Duration::from_secs(20), || async {
        let m = app.get("/metrics", None).await.text().await.unwrap();
        m.lines()
            .any(|l| {
                l.starts_with("troupe_notifications_delivered_total{")
                    && l.contains("outcome=\"off\"")
                    && l.contains("type=\"my_video_failed\"")
                    && l.ends_with(" 1")
            })
            .then_some(())
    })
    .await;
    assert_eq!(inbox(&app, &carol, "").await["items"], json!([]));
    assert_eq!(unread(&app, &carol).await, 0);
}

#[tokio::test]
async fn bad_input_to_the_inbox_gets_clear_answers() {
    let app = TestApp::spawn(Default::default()).await;
    let alice = app.user("alice").await;
    let settings = "/api/v1/users/me/notification-settings";
    for (body, code) in [
        (
            json!({"new_comment": {"web": true}}),
            "unknown_notification_type",
        ),
        (
            json!({"new_subscriber": {"web": "yes"}}),
            "invalid_notification_setting",
        ),
        (
            json!({"new_subscriber": {"email": "weekly"}}),
            "invalid_notification_setting",
        ),
        (
            json!({"new_subscriber": {"sms": true}}),
            "invalid_notification_setting",
        ),
        (
            json!({"new_subscriber": true}),
            "invalid_notification_setting",
        ),
        (json!(["new_subscriber"]), "invalid_notification_setting"),
    ] {
        let r = app
            .request(Method::PUT, settings, Some(&alice), Some(body))
            .await;
        problem(r, 422, code).await;
    }
    // Nothing was changed by the refused requests.
    let r = app.get(settings, Some(&alice)).await;
    let s: Value = r.json().await.unwrap();
    for t in [
        "new_video_from_subscription",
        "my_video_ready",
        "my_video_failed",
        "new_subscriber",
    ] {
        assert_eq!(s[t], json!({"web": true, "email": "off"}), "{s}");
    }
    let list = "/api/v1/users/me/notifications";
    problem(
        app.get(&format!("{list}?type=nope"), Some(&alice)).await,
        422,
        "unknown_notification_type",
    )
    .await;
    problem(
        app.get(&format!("{list}?cursor=abc"), Some(&alice)).await,
        400,
        "invalid_cursor",
    )
    .await;
    problem(
        app.get(&format!("{list}?limit=0"), Some(&alice)).await,
        400,
        "invalid_query",
    )
    .await;
    let too_many: Vec<String> = (0..1001).map(|i| format!("x{i}")).collect();
    for (body, code) in [
        (json!({}), "invalid_body"),
        (json!({"all": "yes"}), "invalid_body"),
        (json!({ "ids": too_many }), "invalid_mark_read"),
    ] {
        let r = app
            .request(
                Method::POST,
                &format!("{list}/read"),
                Some(&alice),
                Some(body),
            )
            .await;
        problem(r, 422, code).await;
    }
    problem(app.get(list, None).await, 401, "missing_token").await;
    problem(
        app.get(&format!("{list}/events"), None).await,
        401,
        "missing_token",
    )
    .await;
    problem(
        app.get(&format!("{list}/events?access_token=forged"), None)
            .await,
        401,
        "invalid_token",
    )
    .await;
}
