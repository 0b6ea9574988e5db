//! Comments over real HTTP: threads with replies, edits, tombstones and a pin, sorting and
//! cursors; policies and held-for-review; the rate limit and duplicates; text returned as
//! posted.

use crate::harness::{problem, Options, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Options with the comment rate limit out of the way (tests of the limit set their own).
pub fn unlimited() -> Options {
    Options::default()
        .env("TROUPE__COMMENTS__RATE_PER_MINUTE", "60000")
        .env("TROUPE__COMMENTS__BURST", "10000")
}

pub async fn new_video(app: &TestApp, token: &str, extra: Value) -> String {
    let mut body = json!({"title": "Talk"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = app
        .request(Method::POST, "/api/v1/videos", Some(token), Some(body))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

pub async fn post(
    app: &TestApp,
    token: &str,
    video: &str,
    text: &str,
    reply_to: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({ "text": text });
    if let Some(r) = reply_to {
        body["in_reply_to"] = json!(r);
    }
    app.request(
        Method::POST,
        &format!("/api/v1/videos/{video}/comments"),
        Some(token),
        Some(body),
    )
    .await
}

/// Posts and expects 201; the comment.
pub async fn posted(
    app: &TestApp,
    token: &str,
    video: &str,
    text: &str,
    reply_to: Option<&str>,
) -> Value {
    let r = post(app, token, video, text, reply_to).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    r.json().await.unwrap()
}

pub async fn page(app: &TestApp, token: Option<&str>, path: &str) -> Value {
    let r = app.get(path, token).await;
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn id(c: &Value) -> String {
    c["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_with_replies_edits_tombstones_and_a_pin_sorts_and_pages() {
    let app = TestApp::spawn(unlimited()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let video = new_video(&app, &alice, json!({})).await;
    let base = format!("/api/v1/videos/{video}/comments");

    let c1 = posted(&app, &bob, &video, "first", None).await;
    let c2 = posted(&app, &bob, &video, "second", None).await;
    let c3 = posted(&app, &bob, &video, "third", None).await;
    assert_eq!(c1["thread_id"], c1["id"]);
    assert_eq!(c1["author"]["username"], "bob");
    assert_eq!(c1["held"], false);
    assert!(c1["edited_at"].is_null());
    let r1 = posted(&app, &carol, &video, "reply one", Some(&id(&c1))).await;
    let r2 = posted(&app, &carol, &video, "reply two", Some(&id(&c1))).await;
    // A reply to a reply belongs to the root's thread and names what it answers.
    let r3 = posted(&app, &alice, &video, "@carol agreed", Some(&id(&r1))).await;
    assert_eq!(r3["thread_id"], c1["id"]);
    assert_eq!(r3["in_reply_to"], r1["id"]);
    assert_eq!(
        r3["mentions"],
        json!([{"start": 0, "end": 6, "username": "carol"}])
    );

    // Newest first, each with its reply count and first replies, oldest first.
    let p = page(&app, None, &base).await;
    assert_eq!(ids(&p), [id(&c3), id(&c2), id(&c1)]);
    assert_eq!(p["total"], 6);
    assert!(p["next_cursor"].is_null());
    let first = &p["items"][2];
    assert_eq!(first["replies"], 3);
    let firsts: Vec<String> = first["first_replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(firsts, [id(&r1), id(&r2), id(&r3)]);
    // Most replies first, then newest.
    let top = page(&app, None, &format!("{base}?sort=top")).await;
    assert_eq!(ids(&top), [id(&c1), id(&c3), id(&c2)]);
    // Cursors walk the same order one at a time, to the end.
    let mut seen = Vec::new();
    let mut next = format!("{base}?limit=1");
    loop {
        let p = page(&app, None, &next).await;
        seen.extend(ids(&p));
        match p["next_cursor"].as_str() {
            Some(c) => next = format!("{base}?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, [id(&c3), id(&c2), id(&c1)]);
    let top_cursor = page(&app, None, &format!("{base}?sort=top&limit=2")).await;
    let rest = page(
        &app,
        None,
        &format!(
            "{base}?sort=top&limit=2&cursor={}",
            top_cursor["next_cursor"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(ids(&rest), [id(&c2)]);
    // Replies, oldest first, with their own cursor.
    let rp = page(&app, None, &format!("{base}/{}/replies?limit=2", id(&c1))).await;
    assert_eq!(ids(&rp), [id(&r1), id(&r2)]);
    let rp2 = page(
        &app,
        None,
        &format!(
            "{base}/{}/replies?limit=2&cursor={}",
            id(&c1),
            rp["next_cursor"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(ids(&rp2), [id(&r3)]);
    assert!(rp2["next_cursor"].is_null());
    problem(
        app.get(&format!("{base}?cursor=bogus"), None).await,
        422,
        "invalid_cursor",
    )
    .await;

    // An edit says so, with the time; only the author edits.
    let path2 = format!("{base}/{}", id(&c2));
    let r = app
        .request(
            Method::PATCH,
            &path2,
            Some(&bob),
            Some(json!({"text": "second, better"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let edited: Value = r.json().await.unwrap();
    assert_eq!(edited["text"], "second, better");
    assert!(edited["edited_at"].is_string());
    let r = app
        .request(
            Method::PATCH,
            &path2,
            Some(&carol),
            Some(json!({"text": "mine now"})),
        )
        .await;
    problem(r, 403, "forbidden").await;
    let r = app
        .request(
            Method::PATCH,
            &path2,
            Some(&bob),
            Some(json!({"text": "  "})),
        )
        .await;
    problem(r, 422, "invalid_comment").await;

    // The owner pins one: it comes first on the first page, and not again later.
    let r = app
        .request(Method::PUT, &format!("{path2}/pin"), Some(&bob), None)
        .await;
    problem(r, 403, "forbidden").await;
    let r = app
        .request(Method::PUT, &format!("{path2}/pin"), Some(&alice), None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let p = page(&app, None, &format!("{base}?limit=2")).await;
    assert_eq!(ids(&p), [id(&c2), id(&c3)]);
    assert_eq!(p["items"][0]["pinned"], true);
    let p2 = page(
        &app,
        None,
        &format!(
            "{base}?limit=2&cursor={}",
            p["next_cursor"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(ids(&p2), [id(&c1)]);
    // A reply cannot be pinned.
    let r = app
        .request(
            Method::PUT,
            &format!("{base}/{}/pin", id(&r1)),
            Some(&alice),
            None,
        )
        .await;
    problem(r, 422, "invalid_comment").await;

    // A deleted comment that was answered stays as a tombstone; one without replies goes.
    let r = app
        .request(
            Method::DELETE,
            &format!("{base}/{}", id(&r1)),
            Some(&bob),
            None,
        )
        .await;
    problem(r, 403, "forbidden").await;
    let r = app
        .request(
            Method::DELETE,
            &format!("{base}/{}", id(&r1)),
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let rp = page(&app, None, &format!("{base}/{}/replies", id(&c1))).await;
    assert_eq!(ids(&rp), [id(&r1), id(&r2), id(&r3)]);
    let tomb = &rp["items"][0];
    assert_eq!(tomb["deleted"], true);
    assert!(tomb["author"].is_null() && tomb["text"].is_null());
    let r = app
        .request(
            Method::DELETE,
            &format!("{base}/{}", id(&c3)),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The video's owner deletes someone else's comment.
    let r = app
        .request(
            Method::DELETE,
            &format!("{base}/{}", id(&r2)),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let p = page(&app, None, &base).await;
    assert_eq!(ids(&p), [id(&c2), id(&c1)]);
    assert_eq!(p["total"], 3, "c1, c2 and r3");
    assert_eq!(p["items"][1]["replies"], 1);
    let v = page(&app, None, &format!("/api/v1/videos/{video}")).await;
    assert_eq!(v["comments"], 3);
    assert_eq!(v["comment_policy"], "enabled");

    // Everything survives a restart (the pages are read back).
    let mut app = app;
    app.kill9();
    let app = app.restart().await;
    let again = page(&app, None, &base).await;
    assert_eq!(ids(&again), [id(&c2), id(&c1)]);
    assert_eq!(again["items"][0]["pinned"], true);
    assert_eq!(again["total"], 3);
    assert_eq!(
        page(&app, None, &format!("{base}/{}/replies", id(&c1))).await["items"][0]["deleted"],
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_answers_and_text_comes_back_as_posted() {
    let app = TestApp::spawn(unlimited()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let video = new_video(&app, &alice, json!({})).await;
    let other = new_video(&app, &alice, json!({"title": "Other"})).await;
    problem(
        post(&app, &bob, &video, "", None).await,
        422,
        "invalid_comment",
    )
    .await;
    problem(
        post(&app, &bob, &video, &"x".repeat(10_001), None).await,
        422,
        "invalid_comment",
    )
    .await;
    let long = posted(&app, &bob, &video, &"é".repeat(10_000), None).await;
    assert_eq!(long["text"].as_str().unwrap().chars().count(), 10_000);
    let elsewhere = posted(&app, &bob, &other, "over there", None).await;
    problem(
        post(&app, &bob, &video, "answer", Some(&id(&elsewhere))).await,
        422,
        "reply_to_other_video",
    )
    .await;
    let tag = video.replace('-', "");
    let unknown = format!("{}{}", &tag[tag.len() - 8..], "0".repeat(32));
    problem(
        post(&app, &bob, &video, "answer", Some(&unknown)).await,
        404,
        "comment_not_found",
    )
    .await;
    problem(
        post(
            &app,
            &bob,
            "00000000-0000-0000-0000-000000000000",
            "hi",
            None,
        )
        .await,
        404,
        "video_not_found",
    )
    .await;
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/videos/{video}/comments"),
            None,
            Some(json!({"text": "anonymous"})),
        )
        .await;
    problem(r, 401, "missing_token").await;
    // Script tags, direction overrides and zero-width characters are text, returned as is.
    let tricky = "<script>alert(1)</script> \u{202E}evil\u{202C} zero\u{200B}width <b>&amp;</b>";
    let c = posted(&app, &bob, &video, tricky, None).await;
    assert_eq!(c["text"], tricky);
    let p = page(&app, None, &format!("/api/v1/videos/{video}/comments")).await;
    assert_eq!(p["items"][0]["text"], tricky);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_hold_comments_for_review_and_reject_and_ban_stops_the_author() {
    let app = TestApp::spawn(unlimited()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    // disabled: 403.
    let closed = new_video(&app, &alice, json!({"comment_policy": "disabled"})).await;
    problem(
        post(&app, &bob, &closed, "hello", None).await,
        403,
        "comments_disabled",
    )
    .await;
    // approval: held until approved; seen only by the author and the owner.
    let video = new_video(&app, &alice, json!({})).await;
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/videos/{video}"),
            Some(&alice),
            Some(json!({"comment_policy": "approval"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["comment_policy"], "approval");
    let base = format!("/api/v1/videos/{video}/comments");
    let held = posted(&app, &bob, &video, "please approve", None).await;
    assert_eq!(held["held"], true);
    assert!(held["held_reason"].is_null(), "the author is not told why");
    assert!(ids(&page(&app, None, &base).await).is_empty());
    assert!(ids(&page(&app, Some(&carol), &base).await).is_empty());
    let mine = page(&app, Some(&bob), &base).await;
    assert_eq!(ids(&mine), [id(&held)]);
    let owner = page(&app, Some(&alice), &base).await;
    assert_eq!(owner["items"][0]["held_reason"], "approval");
    assert_eq!(owner["total"], 0, "held comments are not counted");
    // The owner's own comments are never held.
    let own = posted(&app, &alice, &video, "from the owner", None).await;
    assert_eq!(own["held"], false);
    let approve = format!("{base}/{}/approve", id(&held));
    problem(
        app.request(Method::POST, &approve, Some(&carol), None)
            .await,
        403,
        "forbidden",
    )
    .await;
    let r = app
        .request(Method::POST, &approve, Some(&alice), None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let p = page(&app, None, &base).await;
    assert_eq!(ids(&p), [id(&own), id(&held)]);
    assert_eq!(p["total"], 2);

    // A link is held on an open video (comments.hold_links); reject makes it disappear.
    let open = new_video(&app, &alice, json!({})).await;
    let obase = format!("/api/v1/videos/{open}/comments");
    let linked = posted(&app, &bob, &open, "see https://spam.example/x", None).await;
    assert_eq!(linked["held"], true);
    assert_eq!(linked["links"][0]["url"], "https://spam.example/x");
    assert_eq!(
        page(&app, Some(&alice), &obase).await["items"][0]["held_reason"],
        "link"
    );
    let r = app
        .request(
            Method::POST,
            &format!("{obase}/{}/reject", id(&linked)),
            Some(&alice),
            Some(json!({"ban": false})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(ids(&page(&app, Some(&bob), &obase).await).is_empty());
    // Rejecting a comment that is not held: 422.
    let plain = posted(&app, &carol, &open, "plain words", None).await;
    problem(
        app.request(
            Method::POST,
            &format!("{obase}/{}/reject", id(&plain)),
            Some(&alice),
            Some(json!({"ban": false})),
        )
        .await,
        422,
        "invalid_comment",
    )
    .await;
    // Reject and ban: the author may no longer comment on the channel, on any video.
    let again = posted(&app, &bob, &open, "more https://spam.example/y", None).await;
    let r = app
        .request(
            Method::POST,
            &format!("{obase}/{}/reject", id(&again)),
            Some(&alice),
            Some(json!({"ban": true, "reason": "spam"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    problem(
        post(&app, &bob, &open, "let me in", None).await,
        403,
        "banned_from_channel",
    )
    .await;
    problem(
        post(&app, &bob, &video, "let me in", None).await,
        403,
        "banned_from_channel",
    )
    .await;
    // A channel's default policy applies to its videos without their own.
    let r = app
        .request(
            Method::PATCH,
            "/api/v1/channels/alice",
            Some(&alice),
            Some(json!({"default_comment_policy": "disabled"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let ch: Value = r.json().await.unwrap();
    assert_eq!(ch["default_comment_policy"], "disabled");
    problem(
        post(&app, &carol, &open, "closed now?", None).await,
        403,
        "comments_disabled",
    )
    .await;
    let v = page(&app, None, &format!("/api/v1/videos/{open}")).await;
    assert_eq!(v["comment_policy"], "disabled");
    // The video's own policy wins over the channel's.
    assert_eq!(
        posted(&app, &carol, &video, "still allowed", None).await["held"],
        true,
        "approval, the video's own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_answers_429_with_retry_after_and_duplicates_409() {
    let app = TestApp::spawn(Options::default()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let video = new_video(&app, &alice, json!({})).await;
    posted(&app, &bob, &video, "one", None).await;
    // The same text again within 10 minutes.
    problem(
        post(&app, &bob, &video, "one", None).await,
        409,
        "duplicate_comment",
    )
    .await;
    // Another user may say the same.
    posted(&app, &alice, &video, "one", None).await;
    // Burst of 3: the duplicate took a token too.
    posted(&app, &bob, &video, "two", None).await;
    let r = post(&app, &bob, &video, "three", None).await;
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=6).contains(&retry), "{retry}");
    problem(r, 429, "comment_rate_limited").await;
}

/// Opens a video's event stream and collects its `comment` events.
pub async fn comment_stream(
    app: &TestApp,
    video: &str,
    token: Option<&str>,
) -> std::sync::Arc<std::sync::Mutex<Vec<Value>>> {
    let mut req = app
        .client
        .get(app.url(&format!("/api/v1/videos/{video}/events")))
        .timeout(std::time::Duration::from_secs(600));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let mut sse = req.send().await.unwrap();
    assert_eq!(sse.status(), StatusCode::OK);
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = got.clone();
    tokio::spawn(async move {
        let mut buf = String::new();
        while let Ok(Some(chunk)) = sse.chunk().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let ev: String = buf.drain(..end + 2).collect();
                if ev.lines().any(|l| l == "event: comment") {
                    let data = ev.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                    into.lock()
                        .unwrap()
                        .push(serde_json::from_str(data).unwrap());
                }
            }
        }
    });
    got
}

fn heard(events: &std::sync::Mutex<Vec<Value>>) -> Vec<String> {
    events.lock().unwrap().iter().map(id).collect()
}

async fn until_heard(events: &std::sync::Mutex<Vec<Value>>, comment: &str) {
    crate::harness::eventually(std::time::Duration::from_secs(30), || async {
        heard(events).contains(&comment.to_string()).then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_arrive_live_to_those_who_may_see_them_and_watched_words_and_mutes_apply() {
    let app = TestApp::spawn(unlimited()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let video = new_video(&app, &alice, json!({})).await;
    // Carol mutes bob.
    let r = app
        .request(
            Method::PUT,
            "/api/v1/users/me/mutes/bob",
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let muted = page(&app, Some(&carol), "/api/v1/users/me/mutes").await;
    assert_eq!(muted[0]["username"], "bob");
    problem(
        app.request(
            Method::PUT,
            "/api/v1/users/me/mutes/nobody",
            Some(&carol),
            None,
        )
        .await,
        404,
        "user_not_found",
    )
    .await;
    // The channel watches a word.
    let r = app
        .request(
            Method::PUT,
            "/api/v1/channels/alice/watched-words",
            Some(&alice),
            Some(json!({"lists": [{"name": "spam", "words": ["Casino"]}]})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    problem(
        app.request(
            Method::PUT,
            "/api/v1/channels/alice/watched-words",
            Some(&bob),
            Some(json!({"lists": []})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;

    let anon = comment_stream(&app, &video, None).await;
    let owner = comment_stream(&app, &video, Some(&alice)).await;
    let author = comment_stream(&app, &video, Some(&bob)).await;
    let muting = comment_stream(&app, &video, Some(&carol)).await;

    let plain = posted(&app, &bob, &video, "hello all", None).await;
    let held = posted(&app, &bob, &video, "best casino in town", None).await;
    assert_eq!(held["held"], true);
    let from_dave = posted(&app, &dave, &video, "hi from dave", None).await;
    for s in [&anon, &owner, &author, &muting] {
        until_heard(s, &id(&from_dave)).await;
    }
    assert_eq!(heard(&anon), [id(&plain), id(&from_dave)]);
    assert_eq!(heard(&owner), [id(&plain), id(&held), id(&from_dave)]);
    assert_eq!(heard(&author), [id(&plain), id(&held), id(&from_dave)]);
    assert_eq!(heard(&muting), [id(&from_dave)], "bob is muted");
    let owner_saw = owner.lock().unwrap()[1].clone();
    assert_eq!(owner_saw["held_reason"], "watched_word");
    assert!(author.lock().unwrap()[1]["held_reason"].is_null());
    // Listings leave muted authors out too.
    let listed = page(
        &app,
        Some(&carol),
        &format!("/api/v1/videos/{video}/comments"),
    )
    .await;
    assert_eq!(ids(&listed), [id(&from_dave)]);
    // Approval and deletion arrive as changes of the same comment.
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/videos/{video}/comments/{}/approve", id(&held)),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/videos/{video}/comments/{}", id(&from_dave)),
            Some(&dave),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    crate::harness::eventually(std::time::Duration::from_secs(30), || async {
        (anon.lock().unwrap().len() >= 4).then_some(())
    })
    .await;
    let a = anon.lock().unwrap().clone();
    assert_eq!((id(&a[2]), a[2]["held"].clone()), (id(&held), json!(false)));
    assert_eq!(
        (id(&a[3]), a[3]["deleted"].clone()),
        (id(&from_dave), json!(true))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_three_nodes_comments_posted_through_any_node_appear_live_on_every_node() {
    let c = crate::cluster::Cluster::start_with_env(
        crate::cluster::Spec {
            nodes: 3,
            proxied: false,
        },
        &[
            ("TROUPE__COMMENTS__RATE_PER_MINUTE", "60000".into()),
            ("TROUPE__COMMENTS__BURST", "10000".into()),
        ],
    )
    .await;
    let alice = c.nodes[0].user("alice").await;
    c.wait_up(&alice, &[0, 1, 2], 3).await;
    let video = new_video(&c.nodes[0], &alice, json!({})).await;
    let mut streams = Vec::new();
    for node in &c.nodes {
        streams.push(comment_stream(node, &video, None).await);
    }
    let mut posted_ids = Vec::new();
    for (i, node) in c.nodes.iter().enumerate() {
        let token = node.login_token("alice").await;
        let comment = posted(node, &token, &video, &format!("from node {i}"), None).await;
        posted_ids.push(id(&comment));
    }
    for (i, s) in streams.iter().enumerate() {
        crate::harness::eventually(std::time::Duration::from_secs(30), || async {
            let h = heard(s);
            posted_ids.iter().all(|p| h.contains(p)).then_some(())
        })
        .await;
        let mut h = heard(s);
        h.sort();
        h.dedup();
        assert_eq!(h.len(), 3, "node {i} heard each comment");
        assert_eq!(heard(s).len(), 3, "node {i} heard each comment once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_comment_survives_kill_9_under_load_exactly_once() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut app = TestApp::spawn(unlimited()).await;
    let alice = app.user("alice").await;
    let mut tokens = Vec::new();
    for i in 0..6 {
        tokens.push(app.user(&format!("fan{i}")).await);
    }
    let video = new_video(&app, &alice, json!({})).await;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    // Top-level comments and replies to the first acknowledged ones, six writers at once.
    for (t, token) in tokens.iter().enumerate() {
        let (client, base, acked, stop, token, video) = (
            client.clone(),
            app.url(""),
            acked.clone(),
            stop.clone(),
            token.clone(),
            video.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let text = format!("w{t} n{i}");
                let parent = if i % 3 == 2 {
                    acked.lock().unwrap().first().map(|(id, _)| id.clone())
                } else {
                    None
                };
                let r = client
                    .post(format!("{base}/api/v1/videos/{video}/comments"))
                    .bearer_auth(&token)
                    .json(&json!({"text": text, "in_reply_to": parent}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let c: Value = r.json().await.unwrap();
                        acked.lock().unwrap().push((id(&c), text));
                    }
                    Ok(r) if r.status().is_server_error() => break,
                    Ok(r) => panic!("unexpected {} for {text}", r.status()),
                    Err(_) => break,
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(app.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    app.kill9();
    let app = app.restart().await;
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 20,
        "only {} comments acknowledged",
        acked.len()
    );
    // Read every comment back: top-level pages, and each thread's replies.
    let base = format!("/api/v1/videos/{video}/comments");
    let mut all: Vec<(String, String)> = Vec::new();
    let mut next = format!("{base}?limit=100");
    loop {
        let p = page(&app, None, &next).await;
        for c in p["items"].as_array().unwrap() {
            all.push((id(c), c["text"].as_str().unwrap().to_owned()));
            if c["replies"].as_u64().unwrap() > 0 {
                let mut rnext = format!("{base}/{}/replies?limit=100", id(c));
                loop {
                    let rp = page(&app, None, &rnext).await;
                    for r in rp["items"].as_array().unwrap() {
                        all.push((id(r), r["text"].as_str().unwrap().to_owned()));
                    }
                    match rp["next_cursor"].as_str() {
                        Some(cur) => {
                            rnext = format!("{base}/{}/replies?limit=100&cursor={cur}", id(c))
                        }
                        None => break,
                    }
                }
            }
        }
        match p["next_cursor"].as_str() {
            Some(cur) => next = format!("{base}?limit=100&cursor={cur}"),
            None => break,
        }
    }
    let total = page(&app, None, &base).await["total"].as_u64().unwrap();
    assert_eq!(
        total as usize,
        all.len(),
        "the count is the comments there are"
    );
    for (cid, text) in &acked {
        let n = all.iter().filter(|(i, _)| i == cid).count();
        assert_eq!(
            n, 1,
            "acknowledged comment {cid} ({text}) appears {n} times"
        );
        let texts = all.iter().filter(|(_, t)| t == text).count();
        assert_eq!(texts, 1, "{text} appears {texts} times");
    }
}

async fn inbox_types(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let p = page(app, Some(token), "/api/v1/users/me/notifications?limit=100").await;
    p["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["type"].as_str().unwrap().to_owned(),
                n["comment"]["id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn switch_off(app: &TestApp, token: &str, kind: &str) {
    let r = app
        .request(
            Method::PUT,
            "/api/v1/users/me/notification-settings",
            Some(token),
            Some(json!({ kind: {"web": false} })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_comment_notification_arrives_once_and_each_can_be_switched_off() {
    let app = TestApp::spawn(unlimited()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let video = new_video(&app, &alice, json!({})).await;
    let wait = std::time::Duration::from_secs(30);
    let has = |token: String, kind: &'static str, comment: String| {
        let app = &app;
        async move {
            crate::harness::eventually(wait, || {
                let (token, comment) = (token.clone(), comment.clone());
                async move {
                    inbox_types(app, &token)
                        .await
                        .contains(&(kind.to_string(), comment))
                        .then_some(())
                }
            })
            .await
        }
    };
    // comment_on_my_video.
    let c1 = posted(&app, &bob, &video, "nice video", None).await;
    has(alice.clone(), "comment_on_my_video", id(&c1)).await;
    // reply_to_my_comment to bob, and a mention of alice: one notification each.
    let r1 = posted(&app, &carol, &video, "agreed @alice", Some(&id(&c1))).await;
    has(bob.clone(), "reply_to_my_comment", id(&r1)).await;
    has(alice.clone(), "mention", id(&r1)).await;
    // comment_held_for_review, to the owner.
    let held = posted(&app, &dave, &video, "see https://x.example", None).await;
    has(alice.clone(), "comment_held_for_review", id(&held)).await;
    // A reply that mentions the parent's author is one reply_to_my_comment.
    let r2 = posted(&app, &dave, &video, "@carol yes", Some(&id(&r1))).await;
    has(carol.clone(), "reply_to_my_comment", id(&r2)).await;
    // Nobody hears of their own comment.
    let own = posted(&app, &alice, &video, "thanks all", None).await;
    // Switched off: nothing is stored.
    switch_off(&app, &alice, "comment_on_my_video").await;
    switch_off(&app, &bob, "reply_to_my_comment").await;
    switch_off(&app, &carol, "mention").await;
    switch_off(&app, &alice, "comment_held_for_review").await;
    let c2 = posted(&app, &dave, &video, "another one", None).await;
    let r3 = posted(&app, &dave, &video, "to bob", Some(&id(&c1))).await;
    let m = posted(&app, &dave, &video, "hey @carol", None).await;
    let held2 = posted(&app, &dave, &video, "www.spam.example", None).await;
    // A barrier: dave's comment on bob's thread mentions alice, which is still on.
    let barrier = posted(&app, &dave, &video, "@alice last", None).await;
    has(alice.clone(), "mention", id(&barrier)).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let a = inbox_types(&app, &alice).await;
    let b = inbox_types(&app, &bob).await;
    let c = inbox_types(&app, &carol).await;
    for (inbox, off) in [(&a, &c2), (&b, &r3), (&c, &m), (&a, &held2), (&a, &own)] {
        assert!(
            !inbox.iter().any(|(_, cid)| *cid == id(off)),
            "{} should not be in {inbox:?}",
            id(off)
        );
    }
    // Each comment notified each user once.
    let mut seen = a.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), a.len());
    assert!(!a
        .iter()
        .any(|(k, cid)| k == "comment_on_my_video" && *cid == id(&r1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_comments_wait_in_the_moderation_queue_and_a_suspended_authors_comments_vanish() {
    let app = TestApp::spawn(unlimited()).await;
    let root = app.user("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let video = new_video(&app, &alice, json!({})).await;
    let base = format!("/api/v1/videos/{video}/comments");
    // A held comment waits in the moderators' queue, with what they need to judge it.
    let linked = posted(&app, &bob, &video, "see https://spam.example/q", None).await;
    assert_eq!(linked["held"], true);
    let q = held_queue(&app, &root).await;
    assert_eq!(q.len(), 1, "{q:?}");
    let held = &q[0]["held_comment"];
    assert_eq!(held["comment_id"], id(&linked));
    assert_eq!(held["author"], "bob");
    assert_eq!(held["reason"], "link");
    assert_eq!(held["video_title"], "Talk");
    // A moderator deletes it: it leaves the queue, and the audit log says who and what.
    let r = app
        .request(
            Method::DELETE,
            &format!("{base}/{}", id(&linked)),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(held_queue(&app, &root).await.is_empty());
    let r = app
        .get("/api/v1/moderation/audit?limit=10", Some(&root))
        .await;
    let audit: Value = r.json().await.unwrap();
    let first = &audit["items"][0];
    assert_eq!(first["action"], "comment.delete", "{audit}");
    assert_eq!(first["actor"], "root");
    assert_eq!(first["target"], format!("comment:{}", id(&linked)));
    // A suspended author's comments vanish for everyone else, and come back on unsuspension.
    let plain = posted(&app, &bob, &video, "hello there", None).await;
    assert_eq!(ids(&page(&app, None, &base).await), [id(&plain)]);
    let r = app
        .request(
            Method::PUT,
            "/api/v1/admin/users/bob/suspension",
            Some(&root),
            Some(json!({"reason": "spam"})),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert!(ids(&page(&app, None, &base).await).is_empty());
    assert!(ids(&page(&app, Some(&carol), &base).await).is_empty());
    assert_eq!(ids(&page(&app, Some(&root), &base).await), [id(&plain)]);
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/admin/users/bob/suspension",
            Some(&root),
            None,
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(ids(&page(&app, Some(&carol), &base).await), [id(&plain)]);
}

/// The moderators' queue of held comments, as `token` (staff) reads it.
async fn held_queue(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app
        .get("/api/v1/moderation/queue?kind=held_comment", Some(token))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["items"].as_array().unwrap().clone()
}
