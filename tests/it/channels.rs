//! Channels and subscriptions over real HTTP: default channels, the shared handle namespace,
//! ownership, exact counts, idempotent subscribes, and what survives a `kill -9`.

use crate::harness::{problem, Options, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn create_channel(app: &TestApp, token: &str, handle: &str, name: &str) -> reqwest::Response {
    app.request(
        Method::POST,
        "/api/v1/channels",
        Some(token),
        Some(json!({"handle": handle, "display_name": name, "description": "about it"})),
    )
    .await
}

async fn channel(app: &TestApp, handle: &str) -> Value {
    let r = app.get(&format!("/api/v1/channels/{handle}"), None).await;
    assert_eq!(r.status(), StatusCode::OK, "GET channel {handle}");
    r.json().await.unwrap()
}

async fn subscribe(app: &TestApp, token: &str, handle: &str, on: bool) -> reqwest::Response {
    let method = if on { Method::PUT } else { Method::DELETE };
    app.request(
        method,
        &format!("/api/v1/users/me/subscriptions/{handle}"),
        Some(token),
        None,
    )
    .await
}

async fn create_video(
    app: &TestApp,
    token: &str,
    title: &str,
    channel: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({"title": title});
    if let Some(c) = channel {
        body["channel"] = json!(c);
    }
    app.request(Method::POST, "/api/v1/videos", Some(token), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_makes_a_default_channel_named_after_the_user() {
    let app = TestApp::spawn(Options::default()).await;
    let token = app.user("Alice_B").await;
    let me: Value = app
        .get("/api/v1/users/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let c = channel(&app, "alice_b").await;
    assert_eq!(c["handle"], "alice_b");
    assert_eq!(c["display_name"], "Alice_B");
    assert_eq!(c["owner"], "alice_b");
    assert_eq!(c["owner_id"], me["id"]);
    assert_eq!(c["id"], me["id"], "a default channel's id is its owner's");
    assert_eq!(c["default"], true);
    assert_eq!(
        (c["subscribers"].as_u64(), c["videos"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(c["avatar"].is_null());
    // Handles are looked up regardless of case.
    assert_eq!(channel(&app, "ALICE_B").await["id"], c["id"]);
    let mine: Value = app
        .get("/api/v1/users/me/channels", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["handle"], "alice_b");
    problem(
        app.get("/api/v1/channels/nobody_here", None).await,
        404,
        "channel_not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_and_usernames_share_one_namespace_and_bad_handles_are_refused() {
    let app = TestApp::spawn(Options::default()).await;
    let alice = app.user("alice").await;
    app.register("bob").await;
    let r = create_channel(&app, &alice, "cooking.show", "Cooking <b>show</b>").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        "/api/v1/channels/cooking.show"
    );
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["handle"], "cooking.show");
    assert_eq!(c["owner"], "alice");
    assert_eq!(c["default"], false);
    // Markup is kept as the text it is; JSON carries it as a string.
    assert_eq!(
        channel(&app, "cooking.show").await["display_name"],
        "Cooking <b>show</b>"
    );
    // A username whose handle a channel holds is taken, and so is a channel handle that a
    // username holds, and a handle taken by another channel.
    let r = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "cooking.show", "email": "c@example.org", "password": crate::harness::PASSWORD}),
        )
        .await;
    problem(r, 409, "username_taken").await;
    problem(
        create_channel(&app, &alice, "bob", "Bob?").await,
        409,
        "handle_taken",
    )
    .await;
    problem(
        create_channel(&app, &alice, "cooking.show", "Again").await,
        409,
        "handle_taken",
    )
    .await;
    for bad in [
        "ab",
        "Cooking",
        "has-dash",
        "has space",
        "<script>",
        &"x".repeat(33),
    ] {
        problem(
            create_channel(&app, &alice, bad, "Bad").await,
            422,
            "invalid_handle",
        )
        .await;
    }
    problem(
        create_channel(&app, &alice, "fine_name", "").await,
        422,
        "invalid_channel",
    )
    .await;
    let r = app
        .request(
            Method::POST,
            "/api/v1/channels",
            Some(&alice),
            Some(json!({"handle": "x1y", "colour": "red"})),
        )
        .await;
    problem(r, 422, "invalid_body").await;
    problem(
        app.request(
            Method::POST,
            "/api/v1/channels",
            None,
            Some(json!({"handle": "anon"})),
        )
        .await,
        401,
        "missing_token",
    )
    .await;
    let mine: Value = app
        .get("/api/v1/users/me/channels", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    let handles: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["handle"].as_str().unwrap())
        .collect();
    assert_eq!(handles, ["alice", "cooking.show"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_may_have_at_most_max_per_user_channels() {
    let app = TestApp::spawn(Options::default().env("TROUPE__CHANNELS__MAX_PER_USER", "3")).await;
    let alice = app.user("alice").await;
    for h in ["one_", "two_"] {
        assert_eq!(
            create_channel(&app, &alice, h, h).await.status(),
            StatusCode::CREATED
        );
    }
    problem(
        create_channel(&app, &alice, "three", "3").await,
        409,
        "channel_limit_reached",
    )
    .await;
    // Deleting one frees a place; the refused handle was never taken.
    let r = app
        .request(Method::DELETE, "/api/v1/channels/two_", Some(&alice), None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        create_channel(&app, &alice, "three", "3").await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_changes_a_channel_and_one_with_videos_or_the_default_stays() {
    let app = TestApp::spawn(Options::default()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(
        create_channel(&app, &alice, "garden", "Garden")
            .await
            .status(),
        StatusCode::CREATED
    );
    let patch = json!({"display_name": "Bob's now"});
    let r = app
        .request(
            Method::PATCH,
            "/api/v1/channels/garden",
            Some(&bob),
            Some(patch.clone()),
        )
        .await;
    problem(r, 403, "forbidden").await;
    let r = app
        .request(Method::DELETE, "/api/v1/channels/garden", Some(&bob), None)
        .await;
    problem(r, 403, "forbidden").await;
    let r = app
        .request(
            Method::PATCH,
            "/api/v1/channels/garden",
            Some(&alice),
            Some(json!({"description": "Plants & <i>weeds</i>"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let c: Value = r.json().await.unwrap();
    assert_eq!(
        (c["display_name"].as_str(), c["description"].as_str()),
        (Some("Garden"), Some("Plants & <i>weeds</i>"))
    );
    let r = app
        .request(
            Method::PATCH,
            "/api/v1/channels/garden",
            Some(&alice),
            Some(json!({"handle": "other"})),
        )
        .await;
    problem(r, 422, "invalid_body").await;

    // A video goes to the named channel, or by default to the owner's default channel.
    let r = create_video(&app, &alice, "Tomatoes", Some("garden")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["channel"], "garden");
    assert_eq!(v["channel_id"], c["id"]);
    let d: Value = create_video(&app, &alice, "Hello", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["channel"], "alice");
    problem(
        create_video(&app, &bob, "Not mine", Some("garden")).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        create_video(&app, &bob, "Nowhere", Some("no_such")).await,
        404,
        "channel_not_found",
    )
    .await;
    assert_eq!(channel(&app, "garden").await["videos"], 1);
    assert_eq!(channel(&app, "alice").await["videos"], 1);
    assert_eq!(
        channel(&app, "bob").await["videos"],
        0,
        "refused videos are not counted"
    );
    let got: Value = app
        .get(
            &format!("/api/v1/videos/{}", v["id"].as_str().unwrap()),
            Some(&alice),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["channel"], "garden");

    let r = app
        .request(
            Method::DELETE,
            "/api/v1/channels/garden",
            Some(&alice),
            None,
        )
        .await;
    problem(r, 409, "channel_has_videos").await;
    let r = app
        .request(Method::DELETE, "/api/v1/channels/alice", Some(&alice), None)
        .await;
    problem(r, 409, "default_channel").await;
    app.delete_video(&alice, v["id"].as_str().unwrap()).await;
    assert_eq!(channel(&app, "garden").await["videos"], 0);
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/channels/garden",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    problem(
        app.get("/api/v1/channels/garden", None).await,
        404,
        "channel_not_found",
    )
    .await;
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/channels/garden",
            Some(&alice),
            None,
        )
        .await;
    problem(r, 404, "channel_not_found").await;
    // Its handle is free again, for anyone.
    assert_eq!(
        create_channel(&app, &bob, "garden", "Bob's garden")
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(channel(&app, "garden").await["owner"], "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_is_idempotent_counted_exactly_and_listed_newest_first() {
    let app = TestApp::spawn(Options::default()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(
        create_channel(&app, &alice, "music", "Music")
            .await
            .status(),
        StatusCode::CREATED
    );

    let r = subscribe(&app, &bob, "alice", true).await;
    assert_eq!(r.status(), StatusCode::OK);
    let s: Value = r.json().await.unwrap();
    assert_eq!(
        (s["subscribed"].as_bool(), s["changed"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(s["channel"]["subscribers"], 1);
    let s: Value = subscribe(&app, &bob, "ALICE", true)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["changed"], false, "a repeat changes nothing");
    assert_eq!(channel(&app, "alice").await["subscribers"], 1);
    problem(
        subscribe(&app, &bob, "nobody_at_all", true).await,
        404,
        "channel_not_found",
    )
    .await;
    problem(
        subscribe(&app, &bob, "x", true).await,
        404,
        "channel_not_found",
    )
    .await;
    // Yourself: allowed.
    assert_eq!(
        subscribe(&app, &bob, "bob", true).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        subscribe(&app, &bob, "music", true).await.status(),
        StatusCode::OK
    );
    assert_eq!(channel(&app, "bob").await["subscribers"], 1);

    let page: Value = app
        .get("/api/v1/users/me/subscriptions", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    let handles: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["channel"]["handle"].as_str().unwrap())
        .collect();
    assert_eq!(handles, ["music", "bob", "alice"]);
    assert!(page["next_cursor"].is_null());
    assert!(page["items"][0]["subscribed_at"].is_string());
    // Paged one at a time, the cursor walks the same order.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users/me/subscriptions?limit=1&cursor={c}"),
            None => "/api/v1/users/me/subscriptions?limit=1".into(),
        };
        let p: Value = app.get(&path, Some(&bob)).await.json().await.unwrap();
        walked.extend(
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["channel"]["handle"].as_str().unwrap().to_owned()),
        );
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(walked, ["music", "bob", "alice"]);
    problem(
        app.get("/api/v1/users/me/subscriptions?cursor=nonsense", Some(&bob))
            .await,
        422,
        "invalid_cursor",
    )
    .await;
    problem(
        app.get("/api/v1/users/me/subscriptions?limit=0", Some(&bob))
            .await,
        400,
        "invalid_query",
    )
    .await;

    let exist: Value = app
        .get(
            "/api/v1/users/me/subscriptions/exist?handles=alice,nobody_at_all,music,ALICE",
            Some(&bob),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        exist,
        json!({"alice": true, "nobody_at_all": false, "music": true, "ALICE": true})
    );
    let none: Value = app
        .get(
            "/api/v1/users/me/subscriptions/exist?handles=alice,bob",
            Some(&alice),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!({"alice": false, "bob": false}));
    problem(
        app.get("/api/v1/users/me/subscriptions/exist?handles=", Some(&bob))
            .await,
        400,
        "invalid_query",
    )
    .await;

    let s: Value = subscribe(&app, &bob, "alice", false)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (s["subscribed"].as_bool(), s["changed"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(s["channel"]["subscribers"], 0);
    let s: Value = subscribe(&app, &bob, "alice", false)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["changed"], false);
    problem(
        subscribe(&app, &bob, "nobody_at_all", false).await,
        404,
        "channel_not_found",
    )
    .await;
    let page: Value = app
        .get("/api/v1/users/me/subscriptions", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);

    // A deleted channel drops out of its subscribers' lists.
    let r = app
        .request(Method::DELETE, "/api/v1/channels/music", Some(&alice), None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let page: Value = app
        .get("/api/v1/users/me/subscriptions", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    let handles: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["channel"]["handle"].as_str().unwrap())
        .collect();
    assert_eq!(handles, ["bob"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_subscriptions_and_counts_survive_kill_9() {
    let mut app = TestApp::spawn(Options::default()).await;
    let alice = app.user("alice").await;
    let mut tokens = Vec::new();
    for i in 0..24 {
        tokens.push(app.user(&format!("fan{i:02}")).await);
    }
    let subs =
        futures::future::join_all(tokens.iter().map(|t| subscribe(&app, t, "alice", true))).await;
    assert!(subs.iter().all(|r| r.status() == StatusCode::OK));
    for t in &tokens[..4] {
        assert_eq!(
            subscribe(&app, t, "alice", false).await.status(),
            StatusCode::OK
        );
    }
    let v: Value = create_video(&app, &alice, "Kept", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(channel(&app, "alice").await["subscribers"], 20);
    app.kill9();
    let app = app.restart().await;
    let c = channel(&app, "alice").await;
    assert_eq!(
        (c["subscribers"].as_u64(), c["videos"].as_u64()),
        (Some(20), Some(1))
    );
    let fan: Value = app
        .get("/api/v1/users/me/subscriptions", Some(&tokens[10]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fan["items"][0]["channel"]["handle"], "alice");
    let gone: Value = app
        .get("/api/v1/users/me/subscriptions", Some(&tokens[0]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(gone["items"].as_array().unwrap().len(), 0);
    let got: Value = app
        .get(
            &format!("/api/v1/videos/{}", v["id"].as_str().unwrap()),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["channel"], "alice");
}

/// Creates a video in `channel`, uploads `data` and waits until it is ready; its id.
pub async fn ready_in(
    app: &TestApp,
    token: &str,
    channel: &str,
    title: &str,
    visibility: &str,
    data: &[u8],
) -> String {
    let r = app
        .request(
            Method::POST,
            "/api/v1/videos",
            Some(token),
            Some(json!({"title": title, "visibility": visibility, "channel": channel})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    crate::media::upload(app, token, &id, data, 1 << 20).await;
    crate::media::wait_state(
        app,
        token,
        &id,
        "ready",
        std::time::Duration::from_secs(180),
    )
    .await;
    id
}

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_pages_and_the_subscription_feed_list_public_ready_videos_newest_first() {
    let app = TestApp::spawn(crate::media::media_options()).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = std::fs::read(crate::media::clip(tmp.path(), "c.mp4", 160, 120, 1, true)).unwrap();
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    assert_eq!(
        create_channel(&app, &alice, "cooking", "Cooking")
            .await
            .status(),
        StatusCode::CREATED
    );
    let empty: Value = app
        .get("/api/v1/users/me/subscriptions/videos", Some(&carol))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&empty), Vec::<String>::new());
    for h in ["cooking", "bob"] {
        assert_eq!(
            subscribe(&app, &carol, h, true).await.status(),
            StatusCode::OK
        );
    }
    ready_in(&app, &alice, "cooking", "Soup", "public", &data).await;
    ready_in(&app, &alice, "cooking", "Secret", "private", &data).await;
    let stew = ready_in(&app, &alice, "cooking", "Stew", "public", &data).await;
    ready_in(&app, &alice, "alice", "Holiday", "public", &data).await;
    // Not ready: never listed.
    assert_eq!(
        create_video(&app, &bob, "Draft", Some("bob"))
            .await
            .status(),
        StatusCode::CREATED
    );
    ready_in(&app, &bob, "bob", "Bike", "public", &data).await;

    let page = app
        .listed("/api/v1/channels/cooking/videos", None, |p| {
            titles(p) == ["Stew", "Soup"]
        })
        .await;
    assert!(page["next_cursor"].is_null());
    assert_eq!(page["items"][0]["channel"], "cooking");
    assert!(page["items"][0]["counts"].is_object());
    // The owner sees the same public page: a channel page lists what anyone may list.
    let own: Value = app
        .get("/api/v1/channels/cooking/videos", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&own), ["Stew", "Soup"]);
    let first: Value = app
        .get("/api/v1/channels/cooking/videos?limit=1", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&first), ["Stew"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second: Value = app
        .get(
            &format!("/api/v1/channels/cooking/videos?limit=1&cursor={cursor}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&second), ["Soup"]);
    problem(
        app.get("/api/v1/channels/no_such/videos", None).await,
        404,
        "channel_not_found",
    )
    .await;
    problem(
        app.get("/api/v1/channels/cooking/videos?cursor=zzz", None)
            .await,
        422,
        "invalid_cursor",
    )
    .await;

    let feed = app
        .listed("/api/v1/users/me/subscriptions/videos", Some(&carol), |p| {
            titles(p) == ["Bike", "Stew", "Soup"]
        })
        .await;
    assert!(feed["next_cursor"].is_null());
    let one: Value = app
        .get(
            "/api/v1/users/me/subscriptions/videos?limit=2",
            Some(&carol),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&one), ["Bike", "Stew"]);
    let cursor = one["next_cursor"].as_str().unwrap().to_owned();
    let rest: Value = app
        .get(
            &format!("/api/v1/users/me/subscriptions/videos?limit=2&cursor={cursor}"),
            Some(&carol),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&rest), ["Soup"]);
    // A channel page's cursor is not the feed's.
    let r = app
        .get(
            &format!("/api/v1/channels/cooking/videos?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    problem(r, 422, "cursor_mismatch").await;

    // Watched videos can be left out.
    crate::media::playback(&app, &carol, &stew).await;
    let unwatched: Value = app
        .get(
            "/api/v1/users/me/subscriptions/videos?exclude_watched=true",
            Some(&carol),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&unwatched), ["Bike", "Soup"]);

    // A video made private leaves the feed; an unsubscribed channel's videos too.
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/videos/{stew}"),
            Some(&alice),
            Some(json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let feed: Value = app
        .get("/api/v1/users/me/subscriptions/videos", Some(&carol))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&feed), ["Bike", "Soup"]);
    assert_eq!(
        subscribe(&app, &carol, "bob", false).await.status(),
        StatusCode::OK
    );
    let feed: Value = app
        .get("/api/v1/users/me/subscriptions/videos", Some(&carol))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&feed), ["Soup"]);
    problem(
        app.get("/api/v1/users/me/subscriptions/videos", None).await,
        401,
        "missing_token",
    )
    .await;
}

/// An image made by ffmpeg: `w`×`h`, in the format the file name's extension names.
fn image(dir: &std::path::Path, name: &str, w: u32, h: u32) -> Vec<u8> {
    let out = dir.join(name);
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={w}x{h}"))
        .args(["-frames:v", "1"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(st.success(), "ffmpeg made no {name}");
    std::fs::read(out).unwrap()
}

async fn put_avatar(
    app: &TestApp,
    token: &str,
    handle: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/channels/{handle}/avatar")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avatar_is_scaled_to_two_sizes_and_anything_but_an_image_is_refused() {
    let app = TestApp::spawn(Options::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let png = image(tmp.path(), "a.png", 640, 360);
    let r = put_avatar(&app, &alice, "alice", "image/png", png.clone()).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let c: Value = r.json().await.unwrap();
    let (small, large) = (
        c["avatar"]["small"].as_str().unwrap().to_owned(),
        c["avatar"]["large"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        channel(&app, "alice").await["avatar"]["small"],
        small.as_str()
    );
    for (url, px) in [(&small, 48), (&large, 192)] {
        let r = app.get(url, None).await;
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("public"));
        let file = tmp.path().join(format!("got{px}.jpg"));
        std::fs::write(&file, r.bytes().await.unwrap()).unwrap();
        let probe = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=width,height,codec_name",
                "-of",
                "csv=p=0",
            ])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&probe.stdout).trim(),
            format!("mjpeg,{px},{px}")
        );
    }
    // A new upload is a new URL; the old one is gone.
    let jpeg = image(tmp.path(), "b.jpg", 100, 300);
    let r = put_avatar(&app, &alice, "alice", "image/jpeg", jpeg).await;
    assert_eq!(r.status(), StatusCode::OK);
    let c: Value = r.json().await.unwrap();
    assert_ne!(c["avatar"]["small"].as_str().unwrap(), small);

    // Not an image: 422; not sent as one: 415; too large: 413; someone else's: 403.
    let video = std::fs::read(crate::media::clip(tmp.path(), "v.mp4", 160, 120, 1, true)).unwrap();
    problem(
        put_avatar(&app, &alice, "alice", "image/png", video).await,
        422,
        "invalid_image",
    )
    .await;
    problem(
        put_avatar(
            &app,
            &alice,
            "alice",
            "image/png",
            b"<svg onload=alert(1)>".to_vec(),
        )
        .await,
        422,
        "invalid_image",
    )
    .await;
    problem(
        put_avatar(&app, &alice, "alice", "image/png", Vec::new()).await,
        422,
        "invalid_image",
    )
    .await;
    problem(
        put_avatar(&app, &alice, "alice", "text/plain", png.clone()).await,
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        put_avatar(
            &app,
            &alice,
            "alice",
            "image/png",
            vec![0u8; 5 * 1024 * 1024 + 1],
        )
        .await,
        413,
        "payload_too_large",
    )
    .await;
    problem(
        put_avatar(&app, &bob, "alice", "image/png", png.clone()).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        put_avatar(&app, &alice, "no_such", "image/png", png).await,
        404,
        "channel_not_found",
    )
    .await;
    problem(
        app.get("/api/v1/channels/alice/avatar/64.jpg", None).await,
        404,
        "not_found",
    )
    .await;
    problem(
        app.get("/api/v1/channels/bob/avatar/48.jpg", None).await,
        404,
        "avatar_not_found",
    )
    .await;

    let r = app
        .request(
            Method::DELETE,
            "/api/v1/channels/alice/avatar",
            Some(&bob),
            None,
        )
        .await;
    problem(r, 403, "forbidden").await;
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/channels/alice/avatar",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(channel(&app, "alice").await["avatar"].is_null());
    problem(
        app.get("/api/v1/channels/alice/avatar/48.jpg", None).await,
        404,
        "avatar_not_found",
    )
    .await;
}
