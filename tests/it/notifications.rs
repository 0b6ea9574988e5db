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

/// Subscribes the caller to `handle`.
pub async fn subscribe(app: &TestApp, token: &str, handle: &str) {
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/users/me/subscriptions/{handle}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

/// The channel's fan-outs, as its owner sees them.
pub async fn fanouts(app: &TestApp, owner: &str, handle: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/channels/{handle}/fanouts"), Some(owner))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until the fan-out of `video` is done; returns it.
pub async fn fanout_done(app: &TestApp, owner: &str, handle: &str, video: &str) -> Value {
    eventually(Duration::from_secs(120), || async {
        fanouts(app, owner, handle)
            .await
            .into_iter()
            .find(|f| f["video_id"] == video && f["state"] == "done")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_hears_of_a_new_video_within_2_s_and_not_after_unsubscribing() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    subscribe(&app, &bob, "alice").await;
    subscribe(&app, &carol, "alice").await;
    // A repeated subscribe notifies the owner once.
    subscribe(&app, &bob, "alice").await;
    // Carol wants no new-video notices: settings off means nothing arrives.
    let r = app
        .request(
            Method::PUT,
            "/api/v1/users/me/notification-settings",
            Some(&carol),
            Some(json!({"new_video_from_subscription": {"web": false}})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Alice hears of her two subscribers, once each.
    let subs = eventually(Duration::from_secs(10), || async {
        let page = inbox(&app, &alice, "?type=new_subscriber").await;
        let items = page["items"].as_array().unwrap().clone();
        (items.len() == 2).then_some(items)
    })
    .await;
    let mut who: Vec<&str> = subs
        .iter()
        .map(|n| n["actor"]["username"].as_str().unwrap())
        .collect();
    who.sort();
    assert_eq!(who, ["bob", "carol"]);
    assert_eq!(subs[0]["channel"]["handle"], "alice");

    let mut live = Stream::open(&app, &bob).await;
    live.next("unread", Duration::from_secs(10)).await;
    let video = ready_video(&app, &alice, tmp.path(), 320, 240, 2, "public").await;
    let id = video["id"].as_str().unwrap();
    let ready_at = Instant::now();
    let heard = live.next("notification", Duration::from_secs(30)).await;
    let took = ready_at.elapsed();
    println!(
        "bob heard of the new video {:.3} s after it read as ready",
        took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(heard["type"], "new_video_from_subscription");
    assert_eq!(heard["id"], format!("new_video_from_subscription:{id}"));
    assert_eq!(heard["video"]["id"], id);
    assert_eq!(heard["video"]["title"], "a clip");
    assert_eq!(
        heard["video"]["thumbnail_url"],
        format!("/api/v1/videos/{id}/thumbnail.jpg")
    );
    // The poster opens from the notification alone.
    let poster = app
        .get(heard["video"]["thumbnail_url"].as_str().unwrap(), None)
        .await;
    assert_eq!(poster.status(), StatusCode::OK);
    assert!(poster.bytes().await.unwrap().starts_with(&[0xFF, 0xD8]));
    assert_eq!(heard["channel"]["handle"], "alice");
    assert!(heard["channel"]["display_name"].is_string());
    assert_eq!(heard["actor"]["username"], "alice");
    let page = inbox(&app, &bob, "").await;
    assert_eq!(page["items"][0], heard);

    // The owner sees the fan-out's progress; nobody else does.
    let done = fanout_done(&app, &alice, "alice", id).await;
    assert_eq!(done["delivered"], 1, "{done}");
    assert_eq!(done["skipped"], 1, "{done}");
    assert_eq!(done["shards_done"], done["shards_total"]);
    problem(
        app.get("/api/v1/channels/alice/fanouts", Some(&bob)).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(inbox(&app, &carol, "").await["items"], json!([]));

    // Bob unsubscribes: the next video does not reach him.
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/users/me/subscriptions/alice",
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let second = ready_video(&app, &alice, tmp.path(), 320, 240, 2, "public").await;
    let second = second["id"].as_str().unwrap();
    let done = fanout_done(&app, &alice, "alice", second).await;
    assert_eq!(done["delivered"], 0, "{done}");
    let page = inbox(&app, &bob, "").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    // A private video reaches nobody, and becoming public later starts its fan-out.
    let hidden = ready_video(&app, &alice, tmp.path(), 320, 240, 2, "private").await;
    let hidden = hidden["id"].as_str().unwrap();
    subscribe(&app, &bob, "alice").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(fanouts(&app, &alice, "alice")
        .await
        .iter()
        .all(|f| f["video_id"] != hidden));
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/videos/{hidden}"),
            Some(&alice),
            Some(json!({"visibility": "public"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let heard = live.next("notification", Duration::from_secs(30)).await;
    assert_eq!(heard["video"]["id"], hidden);
}

/// An access token for a user `name` with id `uid`, with the claims of `model` (a real token
/// of this server) and signed with the test's signing secret, as the server signs its own.
///
/// The kill -9 test needs 20,000 subscribers; registering and logging in 20,000 accounts
/// costs 40,000 argon2 hashes (minutes on a 2-core machine), and subscribing needs only the
/// caller's id, which the token carries. So the subscribers hold tokens this server would
/// accept, and everything they do (subscribe, read their inbox) goes through the real API.
pub fn token_for(model: &str, name: &str, uid: uuid::Uuid) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = model.split('.').nth(1).unwrap();
    let mut claims: Value = serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
    claims["sub"] = json!(name);
    claims["uid"] = json!(uid);
    let head = b64.encode(serde_json::to_vec(&json!({"alg": "HS256", "typ": "JWT"})).unwrap());
    let body = b64.encode(serde_json::to_vec(&claims).unwrap());
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(crate::harness::SECRET.as_bytes()).unwrap();
    mac.update(format!("{head}.{body}").as_bytes());
    let sig = b64.encode(mac.finalize().into_bytes());
    format!("{head}.{body}.{sig}")
}

/// Runs `f` over `items`, `n` at a time.
async fn each<T, F, Fut>(items: Vec<T>, n: usize, f: F)
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::StreamExt;
    futures::stream::iter(items)
        .map(f)
        .buffer_unordered(n)
        .collect::<Vec<()>>()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_fanout_to_20000_subscribers_still_notifies_each_exactly_once() {
    const SUBSCRIBERS: usize = 20_000;
    let tmp = tempfile::tempdir().unwrap();
    let options = media_options().env("TROUPE__NOTIFICATIONS__FANOUT_SWEEP_SECS", "2");
    let mut app = TestApp::spawn(options).await;
    let alice = app.user("alice").await;
    let started = Instant::now();
    let tokens: Vec<String> = (0..SUBSCRIBERS)
        .map(|i| token_for(&alice, &format!("fan{i}"), uuid::Uuid::new_v4()))
        .collect();
    {
        let app = &app;
        each(tokens.clone(), 128, |t| async move {
            subscribe(app, &t, "alice").await;
        })
        .await;
    }
    let r: Value = app
        .get("/api/v1/channels/alice", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["subscribers"], SUBSCRIBERS, "{r}");
    println!(
        "{SUBSCRIBERS} subscribed in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let video = ready_video(&app, &alice, tmp.path(), 320, 240, 2, "public").await;
    let id = video["id"].as_str().unwrap().to_owned();
    // Killed while the fan-out is partway: some shards done, not all.
    let partway = eventually(Duration::from_secs(60), || async {
        let f = fanouts(&app, &alice, "alice").await;
        let f = f.into_iter().find(|f| f["video_id"] == id.as_str())?;
        let done = f["shards_done"].as_u64().unwrap();
        assert!(
            f["state"] == "running",
            "the fan-out finished before it could be killed: {f}"
        );
        (done > 0).then_some(f)
    })
    .await;
    app.kill9();
    println!("killed with the fan-out at {partway}");
    let app = app.restart().await;
    let done = fanout_done(&app, &alice, "alice", &id).await;
    println!("after the restart: {done}");
    // Every subscriber has exactly one notification of it.
    let wrong = std::sync::Mutex::new(Vec::new());
    {
        let (app, wrong, id) = (&app, &wrong, id.as_str());
        each(tokens, 64, |t| async move {
            let page = inbox(app, &t, "").await;
            let items = page["items"].as_array().unwrap();
            let ok = items.len() == 1
                && items[0]["id"] == format!("new_video_from_subscription:{id}")
                && page["unread"] == 1;
            if !ok {
                wrong.lock().unwrap().push(page.to_string());
            }
        })
        .await;
    }
    let wrong = wrong.into_inner().unwrap();
    assert!(
        wrong.is_empty(),
        "{} subscribers without exactly one notification, e.g. {}",
        wrong.len(),
        wrong[0]
    );
    // Each subscriber counted once: stored by a window whose progress was recorded, or
    // found already stored when the window cut short by the kill was delivered again.
    let (delivered, duplicates) = (
        done["delivered"].as_u64().unwrap(),
        done["duplicates"].as_u64().unwrap(),
    );
    assert_eq!(delivered + duplicates, SUBSCRIBERS as u64, "{done}");
    println!(
        "whole test {:.1} s; {} deliveries repeated after the restart were no-ops",
        started.elapsed().as_secs_f64(),
        done["duplicates"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_three_nodes_subscribers_on_every_node_hear_of_a_new_video_live() {
    use crate::cluster::{Cluster, Spec};
    let tmp = tempfile::tempdir().unwrap();
    let env: Vec<(&str, String)> = crate::media::media_env()
        .into_iter()
        .chain([("TROUPE__NOTIFICATIONS__EVENTS_POLL_MS", "200".to_owned())])
        .collect();
    let c = Cluster::start_with_env(
        Spec {
            nodes: 3,
            proxied: false,
        },
        &env,
    )
    .await;
    let alice = c.nodes[0].user("alice").await;
    c.wait_all_up(&alice).await;
    // On each node, one subscriber whose inbox lives on that node and one whose inbox lives
    // on another: the stream must work both ways.
    let mut streams = Vec::new();
    let mut n = 0;
    for node in 0..3 {
        let (mut local, mut remote) = (false, false);
        while !(local && remote) {
            n += 1;
            let name = format!("sub{n}");
            let user = c.nodes[node].register(&name).await;
            let uid = user["id"].as_str().unwrap().to_owned();
            let here = Cluster::owner("inbox", &uid, &[0, 1, 2]) == node;
            if (here && local) || (!here && remote) {
                continue;
            }
            let token = c.nodes[node].login_token(&name).await;
            subscribe(&c.nodes[node], &token, "alice").await;
            let mut s = Stream::open(&c.nodes[node], &token).await;
            s.next("unread", Duration::from_secs(10)).await;
            streams.push((node, here, name, s));
            local |= here;
            remote |= !here;
        }
    }
    let video = ready_video(&c.nodes[0], &alice, tmp.path(), 320, 240, 2, "public").await;
    let id = video["id"].as_str().unwrap().to_owned();
    let ready_at = Instant::now();
    for (node, here, name, s) in &mut streams {
        let heard = s.next("notification", Duration::from_secs(30)).await;
        println!(
            "{name} on node{node} (inbox {}) heard it {:.3} s after ready",
            if *here { "there" } else { "elsewhere" },
            ready_at.elapsed().as_secs_f64()
        );
        assert_eq!(heard["type"], "new_video_from_subscription");
        assert_eq!(heard["video"]["id"], id.as_str());
        let unread = s.next("unread", Duration::from_secs(10)).await;
        assert_eq!(unread["unread"], 1);
    }
}
