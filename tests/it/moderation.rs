//! Moderation: roles, suspensions (on one node and across a cluster), the audit log, and the
//! answers to bad input; over real HTTP against real servers.

use crate::harness::{eventually, problem, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// `method path` as `token` with `body`.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    app.request(method, path, Some(token), body).await
}

/// Makes `name` a moderator (as the admin `admin`) and returns a fresh token of theirs (a
/// granted role counts from the next token).
pub async fn make_moderator(app: &TestApp, admin: &str, name: &str) -> String {
    let r = call(
        app,
        Method::PUT,
        &format!("/api/v1/admin/users/{name}/role"),
        admin,
        Some(json!({"role": "moderator"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["role"], "moderator");
    app.login_token(name).await
}

/// Suspends `name` as `token`; the answer.
async fn suspend(app: &TestApp, token: &str, name: &str, reason: &str) -> reqwest::Response {
    call(
        app,
        Method::PUT,
        &format!("/api/v1/admin/users/{name}/suspension"),
        token,
        Some(json!({ "reason": reason })),
    )
    .await
}

async fn login_status(app: &TestApp, name: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/login",
        json!({"username": name, "password": crate::harness::PASSWORD}),
    )
    .await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The audit log's newest entries, as the admin `admin` reads them.
async fn audit(app: &TestApp, admin: &str) -> Vec<Value> {
    let r = app
        .get("/api/v1/moderation/audit?limit=100", Some(admin))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_grant_moderator_and_a_moderator_moderates_but_reaches_no_admin_endpoint() {
    let app = TestApp::spawn(Default::default()).await;
    let admin = app.user("root").await;
    let molly_old = app.user("molly").await;
    let nina = app.user("nina").await;
    problem(
        app.get("/api/v1/admin/users", Some(&nina)).await,
        403,
        "forbidden",
    )
    .await;
    app.user("otto").await;

    // Nobody but an admin grants a role.
    let r = call(
        &app,
        Method::PUT,
        "/api/v1/admin/users/nina/role",
        &molly_old,
        Some(json!({"role": "moderator"})),
    )
    .await;
    problem(r, 403, "forbidden").await;
    // `admin` is not granted here; an admin's own role is not changed here; unknown users.
    let r = call(
        &app,
        Method::PUT,
        "/api/v1/admin/users/nina/role",
        &admin,
        Some(json!({"role": "admin"})),
    )
    .await;
    problem(r, 422, "invalid_body").await;
    let r = call(
        &app,
        Method::PUT,
        "/api/v1/admin/users/root/role",
        &admin,
        Some(json!({"role": "user"})),
    )
    .await;
    problem(r, 409, "target_is_admin").await;
    let r = call(
        &app,
        Method::PUT,
        "/api/v1/admin/users/nobody/role",
        &admin,
        Some(json!({"role": "moderator"})),
    )
    .await;
    problem(r, 404, "user_not_found").await;
    let r = call(
        &app,
        Method::PUT,
        "/api/v1/admin/users/nina/role",
        &admin,
        Some(json!({"role": "emperor"})),
    )
    .await;
    problem(r, 422, "invalid_body").await;

    let molly = make_moderator(&app, &admin, "molly").await;
    let me: Value = app
        .get("/api/v1/users/me", Some(&molly))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "moderator");

    // A moderator reaches no admin endpoint.
    problem(
        app.get("/api/v1/admin/users", Some(&molly)).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        app.get("/api/v1/moderation/audit", Some(&molly)).await,
        403,
        "forbidden",
    )
    .await;
    let r = call(
        &app,
        Method::PUT,
        "/api/v1/admin/users/nina/role",
        &molly,
        Some(json!({"role": "moderator"})),
    )
    .await;
    problem(r, 403, "forbidden").await;
    let r = call(
        &app,
        Method::PUT,
        "/api/v1/admin/users/nina/plan",
        &molly,
        Some(json!({"plan": "premium"})),
    )
    .await;
    problem(r, 403, "forbidden").await;
    // ...but moderates: the suspended list, and a suspension of an ordinary user.
    let r = app.get("/api/v1/moderation/suspended", Some(&molly)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = suspend(&app, &molly, "otto", "spam links").await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    // Not an admin, not another moderator, not themselves; and an ordinary user nobody.
    problem(
        suspend(&app, &molly, "root", "coup").await,
        403,
        "forbidden",
    )
    .await;
    let r = call(
        &app,
        Method::PUT,
        "/api/v1/admin/users/nina/role",
        &admin,
        Some(json!({"role": "moderator"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    problem(
        suspend(&app, &molly, "nina", "rival").await,
        403,
        "forbidden",
    )
    .await;
    problem(
        suspend(&app, &molly, "molly", "tired").await,
        409,
        "cannot_suspend_self",
    )
    .await;
    let pia = app.user("pia").await;
    problem(suspend(&app, &pia, "otto", "again").await, 403, "forbidden").await;
    problem(
        suspend(&app, &molly, "ghost", "who").await,
        404,
        "user_not_found",
    )
    .await;
    problem(
        suspend(&app, &molly, "otto", "   ").await,
        422,
        "invalid_reason",
    )
    .await;
    let r = call(
        &app,
        Method::PUT,
        "/api/v1/admin/users/otto/suspension",
        &molly,
        Some(json!({"why": "x"})),
    )
    .await;
    problem(r, 422, "invalid_body").await;
    let r = call(
        &app,
        Method::DELETE,
        "/api/v1/admin/users/otto/suspension",
        &pia,
        None,
    )
    .await;
    problem(r, 403, "forbidden").await;
    // An admin suspends a moderator.
    let r = suspend(&app, &admin, "nina", "abuse of power").await;
    assert_eq!(r.status(), StatusCode::OK);

    // Taking the role counts at once, whatever the old token says.
    let r = call(
        &app,
        Method::PUT,
        "/api/v1/admin/users/molly/role",
        &admin,
        Some(json!({"role": "user"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = call(
        &app,
        Method::DELETE,
        "/api/v1/admin/users/otto/suspension",
        &molly,
        None,
    )
    .await;
    problem(r, 403, "forbidden").await;
    problem(
        app.get("/api/v1/moderation/suspended", Some(&molly)).await,
        403,
        "forbidden",
    )
    .await;

    // Every action is in the audit log, newest first: who, what, to what, why.
    let log = audit(&app, &admin).await;
    let seen: Vec<(String, String, String)> = log
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("root", "user.role", "user:molly"),
        ("root", "user.suspend", "user:nina"),
        ("root", "user.role", "user:nina"),
        ("molly", "user.suspend", "user:otto"),
        ("root", "user.role", "user:molly"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(seen, expected, "{log:?}");
    assert_eq!(log[3]["reason"], "spam links");
    assert_eq!(log[0]["reason"], "user");
    assert!(log[0]["at"].as_str().is_some() && log[0]["actor_id"].as_str().is_some());
    // Paged with a cursor.
    let r = app
        .get("/api/v1/moderation/audit?limit=2", Some(&admin))
        .await;
    let p1: Value = r.json().await.unwrap();
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    let cursor = p1["next_cursor"].as_str().unwrap().to_owned();
    let p2: Value = app
        .get(
            &format!("/api/v1/moderation/audit?limit=10&cursor={cursor}"),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p2["items"].as_array().unwrap().len(), 3);
    assert_eq!(p2["items"][0]["action"], "user.role");
    assert!(p2["next_cursor"].is_null());
    problem(
        app.get("/api/v1/moderation/audit?cursor=abc", Some(&admin))
            .await,
        422,
        "invalid_cursor",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspension_hides_the_account_everywhere_blocks_its_login_and_unsuspending_restores_it() {
    let app = TestApp::spawn(crate::media::media_options()).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = std::fs::read(crate::media::clip(tmp.path(), "c.mp4", 160, 120, 1, true)).unwrap();
    let admin = app.user("root").await;
    app.user("molly").await;
    let molly = make_moderator(&app, &admin, "molly").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let video =
        crate::channels::ready_in(&app, &carol, "carol", "carols garden tour", "public", &data)
            .await;
    let path = format!("/api/v1/videos/{video}");
    // Dave follows carol, so her video is in his subscription feed.
    let r = call(
        &app,
        Method::PUT,
        "/api/v1/users/me/subscriptions/carol",
        &dave,
        None,
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    let places = [
        "/api/v1/videos".to_owned(),
        "/api/v1/search?q=garden".to_owned(),
        "/api/v1/channels/carol/videos".to_owned(),
        "/api/v1/users/me/subscriptions/videos".to_owned(),
    ];
    for p in &places {
        let v = &video;
        app.listed(p, Some(&dave), |b| ids(b).contains(v)).await;
    }
    let atom = app
        .get("/feeds/channels/carol.atom", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(atom.contains(&video));

    let r = suspend(&app, &molly, "carol", "spam everywhere").await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["suspended"]["reason"], "spam everywhere");

    // No login, no refresh, and the tokens she holds open nothing.
    let body = problem(login_status(&app, "carol").await, 403, "account_suspended").await;
    assert!(body["detail"].as_str().unwrap().contains("spam everywhere"));
    problem(
        app.get("/api/v1/users/me", Some(&carol)).await,
        403,
        "account_suspended",
    )
    .await;
    problem(app.get(&path, Some(&carol)).await, 403, "account_suspended").await;
    // A wrong password still says only that the credentials are wrong.
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "carol", "password": "not-her-password-at-all"}),
        )
        .await;
    problem(r, 401, "invalid_credentials").await;

    // Her video is gone for everyone but staff: by id, playback, listings, search, her
    // channel page, the subscription feed and the channel's Atom feed.
    problem(app.get(&path, Some(&dave)).await, 404, "video_not_found").await;
    problem(app.get(&path, None).await, 404, "video_not_found").await;
    let r = call(
        &app,
        Method::POST,
        "/api/v1/playback/sessions",
        &dave,
        Some(json!({"video_id": video, "device_id": "d1"})),
    )
    .await;
    problem(r, 404, "video_not_found").await;
    for p in &places {
        let page: Value = app.get(p, Some(&dave)).await.json().await.unwrap();
        assert!(!ids(&page).contains(&video), "{p}: {page}");
    }
    let anon: Value = app.get("/api/v1/videos", None).await.json().await.unwrap();
    assert!(!ids(&anon).contains(&video));
    let atom = app
        .get("/feeds/channels/carol.atom", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(!atom.contains(&video));
    // Staff still see it.
    assert_eq!(app.get(&path, Some(&molly)).await.status(), StatusCode::OK);
    let admin_list: Value = app
        .get("/api/v1/admin/videos", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert!(ids(&admin_list).contains(&video));
    // Listed as suspended, for staff.
    let s: Value = app
        .get("/api/v1/moderation/suspended", Some(&molly))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["items"][0]["username"], "carol");
    assert_eq!(s["items"][0]["by"], "molly");
    assert_eq!(s["items"][0]["reason"], "spam everywhere");
    problem(
        app.get("/api/v1/moderation/suspended", Some(&dave)).await,
        403,
        "forbidden",
    )
    .await;
    // A second suspension keeps the first.
    let again: Value = suspend(&app, &molly, "carol", "other reason")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["suspended"]["reason"], "spam everywhere");
    assert_eq!(again["suspended"]["at"], me["suspended"]["at"]);

    // It survives kill -9.
    let mut app = app;
    app.kill9();
    let app = app.restart().await;
    problem(login_status(&app, "carol").await, 403, "account_suspended").await;
    problem(app.get(&path, Some(&dave)).await, 404, "video_not_found").await;
    problem(
        app.get("/api/v1/users/me", Some(&carol)).await,
        403,
        "account_suspended",
    )
    .await;

    // Unsuspended: everything is back.
    let r = call(
        &app,
        Method::DELETE,
        "/api/v1/admin/users/carol/suspension",
        &molly,
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert!(me["suspended"].is_null());
    assert_eq!(login_status(&app, "carol").await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&carol)).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.get(&path, Some(&dave)).await.status(), StatusCode::OK);
    for p in &places {
        let v = &video;
        app.listed(p, Some(&dave), |b| ids(b).contains(v)).await;
    }
    let s: Value = app
        .get("/api/v1/moderation/suspended", Some(&molly))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["items"].as_array().unwrap().len(), 0);
    let log = audit(&app, &admin).await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["user.unsuspend", "user.suspend", "user.role"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_suspension_made_through_one_node_takes_effect_on_the_others() {
    let c = crate::cluster::Cluster::start(3).await;
    let admin = c.nodes[0].user("root").await;
    c.wait_all_up(&admin).await;
    let carol = c.nodes[0].user("carol").await;
    // Carol's token works on every node.
    for node in &c.nodes {
        assert_eq!(
            node.get("/api/v1/users/me", Some(&carol)).await.status(),
            StatusCode::OK
        );
    }
    let r = suspend(&c.nodes[1], &admin, "carol", "bot").await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let at = Instant::now();
    let mut took = Vec::new();
    for node in &c.nodes {
        eventually(Duration::from_secs(15), || async {
            (node.get("/api/v1/users/me", Some(&carol)).await.status() == StatusCode::FORBIDDEN)
                .then_some(())
        })
        .await;
        took.push(at.elapsed());
        problem(login_status(node, "carol").await, 403, "account_suspended").await;
    }
    eprintln!("suspension seen on the three nodes after {took:?}");
    let r = call(
        &c.nodes[2],
        Method::DELETE,
        "/api/v1/admin/users/carol/suspension",
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    for node in &c.nodes {
        eventually(Duration::from_secs(15), || async {
            (node.get("/api/v1/users/me", Some(&carol)).await.status() == StatusCode::OK)
                .then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_video_is_seen_only_by_its_owner_with_the_reason_and_by_staff() {
    let app = TestApp::spawn(crate::media::media_options()).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = std::fs::read(crate::media::clip(tmp.path(), "c.mp4", 160, 120, 1, true)).unwrap();
    let admin = app.user("root").await;
    app.user("molly").await;
    let molly = make_moderator(&app, &admin, "molly").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let video =
        crate::channels::ready_in(&app, &carol, "carol", "harbour lights", "public", &data).await;
    let path = format!("/api/v1/videos/{video}");
    let hidden = format!("{path}/hidden");
    let places = [
        "/api/v1/videos",
        "/api/v1/search?q=harbour",
        "/api/v1/channels/carol/videos",
    ];
    for p in places {
        let v = &video;
        app.listed(p, Some(&dave), |b| ids(b).contains(v)).await;
    }
    // Dave is watching when it is hidden.
    let (_, master) = crate::media::playback(&app, &dave, &video).await;
    assert_eq!(
        app.client.get(&master).send().await.unwrap().status(),
        StatusCode::OK
    );

    // Bad input: not staff, no reason, no such video.
    let hide = |token: String, path: String, body: Value| {
        let app = &app;
        async move { call(app, Method::PUT, &path, &token, Some(body)).await }
    };
    problem(
        hide(dave.clone(), hidden.clone(), json!({"reason": "mine now"})).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        hide(carol.clone(), hidden.clone(), json!({"reason": "hide me"})).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        hide(molly.clone(), hidden.clone(), json!({"reason": ""})).await,
        422,
        "invalid_reason",
    )
    .await;
    problem(
        hide(molly.clone(), hidden.clone(), json!({})).await,
        422,
        "invalid_body",
    )
    .await;
    let ghost = format!("/api/v1/videos/{}/hidden", uuid::Uuid::new_v4());
    problem(
        hide(molly.clone(), ghost, json!({"reason": "x"})).await,
        404,
        "video_not_found",
    )
    .await;
    problem(
        hide(
            molly.clone(),
            "/api/v1/videos/not-a-video/hidden".into(),
            json!({"reason": "x"}),
        )
        .await,
        404,
        "video_not_found",
    )
    .await;

    let r = hide(
        molly.clone(),
        hidden.clone(),
        json!({"reason": "copyright claim by the harbour"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["hidden"]["reason"], "copyright claim by the harbour");

    // Gone for everyone else: by id, a new stream, the stream already playing, listings.
    problem(app.get(&path, Some(&dave)).await, 404, "video_not_found").await;
    problem(app.get(&path, None).await, 404, "video_not_found").await;
    let r = call(
        &app,
        Method::POST,
        "/api/v1/playback/sessions",
        &dave,
        Some(json!({"video_id": video, "device_id": "d2"})),
    )
    .await;
    problem(r, 404, "video_not_found").await;
    eventually(Duration::from_secs(10), || async {
        (app.client.get(&master).send().await.unwrap().status() == StatusCode::NOT_FOUND)
            .then_some(())
    })
    .await;
    for p in places {
        let page: Value = app.get(p, Some(&dave)).await.json().await.unwrap();
        assert!(!ids(&page).contains(&video), "{p}: {page}");
    }
    let atom = app
        .get("/feeds/channels/carol.atom", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(!atom.contains(&video));
    // Its owner sees it, and why; staff see it.
    let mine: Value = app.get(&path, Some(&carol)).await.json().await.unwrap();
    assert_eq!(mine["hidden"]["reason"], "copyright claim by the harbour");
    let own_list: Value = app
        .get("/api/v1/videos", Some(&carol))
        .await
        .json()
        .await
        .unwrap();
    assert!(ids(&own_list).contains(&video));
    assert_eq!(app.get(&path, Some(&molly)).await.status(), StatusCode::OK);
    // Hiding again keeps the first reason, and is audited once.
    let again: Value = hide(molly.clone(), hidden.clone(), json!({"reason": "another"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["hidden"]["reason"], "copyright claim by the harbour");

    // Shown again.
    let r = call(&app, Method::DELETE, &hidden, &carol, None).await;
    problem(r, 403, "forbidden").await;
    let r = call(&app, Method::DELETE, &hidden, &molly, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert!(v["hidden"].is_null());
    assert_eq!(app.get(&path, Some(&dave)).await.status(), StatusCode::OK);
    for p in places {
        let v = &video;
        app.listed(p, Some(&dave), |b| ids(b).contains(v)).await;
    }
    let log = audit(&app, &admin).await;
    let actions: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("video.unhide", "molly"),
            ("video.hide", "molly"),
            ("user.role", "root")
        ]
    );
    assert_eq!(log[1]["target"], format!("video:{video}"));
    assert_eq!(log[1]["reason"], "copyright claim by the harbour");
}

/// `token`'s notifications of `kind`, once at least `n` have arrived.
async fn notes(app: &TestApp, token: &str, kind: &str, n: usize) -> Vec<Value> {
    let path = format!("/api/v1/users/me/notifications?type={kind}");
    let body = app
        .json_when(Duration::from_secs(15), &path, Some(token), |b| {
            b["items"].as_array().is_some_and(|a| a.len() >= n)
        })
        .await;
    body["items"].as_array().unwrap().clone()
}

async fn report(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    call(app, Method::POST, "/api/v1/reports", token, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_goes_from_pending_to_decided_with_its_thread_and_the_reporter_is_told() {
    let app = TestApp::spawn(Default::default()).await;
    let admin = app.user("root").await;
    app.user("molly").await;
    let molly = make_moderator(&app, &admin, "molly").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let eve = app.user("eve").await;
    let video = crate::media::new_video(&app, &carol, "loud music", "public").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = crate::media::new_video(&app, &carol, "diary", "private").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bad input.
    let ghost = uuid::Uuid::new_v4();
    let cases = [
        (
            json!({"target": {"video": {"id": ghost}}, "reason": "spam", "text": "x"}),
            404,
            "video_not_found",
        ),
        (
            json!({"target": {"video": {"id": secret}}, "reason": "spam", "text": "x"}),
            404,
            "video_not_found",
        ),
        (
            json!({"target": {"account": {"username": "nobody"}}, "reason": "spam", "text": "x"}),
            404,
            "user_not_found",
        ),
        (
            json!({"target": {"comment": {"video_id": video, "id": "c1"}}, "reason": "spam", "text": "x"}),
            404,
            "comment_not_found",
        ),
        (
            json!({"target": {"video": {"id": video, "start": 5.0, "end": 2.0}}, "reason": "spam", "text": "x"}),
            422,
            "invalid_range",
        ),
        (
            json!({"target": {"video": {"id": video, "start": -1.0}}, "reason": "spam", "text": "x"}),
            422,
            "invalid_range",
        ),
        (
            json!({"target": {"video": {"id": video}}, "reason": "spam", "text": "  "}),
            422,
            "invalid_text",
        ),
        (
            json!({"target": {"video": {"id": video}}, "reason": "boring", "text": "x"}),
            422,
            "invalid_body",
        ),
        (
            json!({"target": {"planet": {"id": video}}, "reason": "spam", "text": "x"}),
            422,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        problem(report(&app, &dave, body).await, status, code).await;
    }
    let r = app
        .post(
            "/api/v1/reports",
            json!({"target": {"video": {"id": video}}, "reason": "spam", "text": "x"}),
        )
        .await;
    problem(r, 401, "missing_token").await;

    // Two reports; a second pending one on the same target is refused.
    let r = report(&app, &dave, json!({"target": {"video": {"id": video, "start": 1.5, "end": 9.0}}, "reason": "copyright", "text": "my song from 0:01"})).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let first: Value = r.json().await.unwrap();
    let id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(first["state"], "pending");
    assert_eq!(first["target"]["type"], "video");
    assert_eq!(first["target"]["video"]["title"], "loud music");
    assert_eq!(first["target"]["video"]["start"], 1.5);
    assert_eq!(first["reporter"]["username"], "dave");
    let again = report(
        &app,
        &dave,
        json!({"target": {"video": {"id": video}}, "reason": "spam", "text": "again"}),
    )
    .await;
    problem(again, 409, "duplicate_report").await;
    let r = report(&app, &dave, json!({"target": {"account": {"username": "Carol"}}, "reason": "harassment", "text": "she yells"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let second: Value = r.json().await.unwrap();
    assert_eq!(second["target"]["account"]["username"], "carol");
    // Another reporter may report the same video.
    let r = report(
        &app,
        &eve,
        json!({"target": {"video": {"id": video}}, "reason": "spam", "text": "ads"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Who sees what.
    let path = format!("/api/v1/reports/{id}");
    problem(app.get(&path, Some(&eve)).await, 404, "report_not_found").await;
    problem(
        app.get(
            &format!("/api/v1/reports/{}", uuid::Uuid::new_v4()),
            Some(&molly),
        )
        .await,
        404,
        "report_not_found",
    )
    .await;
    problem(
        app.get("/api/v1/moderation/queue", Some(&dave)).await,
        403,
        "forbidden",
    )
    .await;
    let r = call(
        &app,
        Method::PATCH,
        &path,
        &dave,
        Some(json!({"state": "accepted"})),
    )
    .await;
    problem(r, 403, "forbidden").await;
    assert_eq!(app.get(&path, Some(&molly)).await.status(), StatusCode::OK);

    // The queue, oldest first, filtered.
    let q: Value = app
        .get("/api/v1/moderation/queue", Some(&molly))
        .await
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = q["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["report"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 3, "{q}");
    assert_eq!(listed[0], id);
    assert_eq!(listed[1], second["id"].as_str().unwrap());
    assert!(q["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["kind"] == "report"));
    let q: Value = app
        .get("/api/v1/moderation/queue?reason=harassment", Some(&molly))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["items"].as_array().unwrap().len(), 1);
    let q: Value = app
        .get("/api/v1/moderation/queue?kind=held_comment", Some(&molly))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["items"].as_array().unwrap().len(), 0);
    let q: Value = app
        .get("/api/v1/moderation/queue?limit=2", Some(&molly))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["items"].as_array().unwrap().len(), 2);
    let cursor = q["next_cursor"].as_str().unwrap().to_owned();
    let q: Value = app
        .get(
            &format!("/api/v1/moderation/queue?limit=2&cursor={cursor}"),
            Some(&molly),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["items"].as_array().unwrap().len(), 1);
    assert!(q["next_cursor"].is_null());
    problem(
        app.get("/api/v1/moderation/queue?cursor=zzz", Some(&molly))
            .await,
        422,
        "invalid_cursor",
    )
    .await;

    // The thread: the reporter writes (nobody is notified), a moderator answers (the reporter is).
    let thread = format!("{path}/messages");
    let r = call(
        &app,
        Method::POST,
        &thread,
        &dave,
        Some(json!({"text": "it starts at 0:01"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = call(
        &app,
        Method::POST,
        &thread,
        &molly,
        Some(json!({"text": "which song?"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["from_moderator"], true);
    problem(
        call(
            &app,
            Method::POST,
            &thread,
            &eve,
            Some(json!({"text": "me too"})),
        )
        .await,
        404,
        "report_not_found",
    )
    .await;
    problem(
        call(
            &app,
            Method::POST,
            &thread,
            &dave,
            Some(json!({"text": ""})),
        )
        .await,
        422,
        "invalid_text",
    )
    .await;
    let t: Value = app.get(&thread, Some(&dave)).await.json().await.unwrap();
    let texts: Vec<(&str, &str, bool)> = t["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["author"].as_str().unwrap(),
                m["text"].as_str().unwrap(),
                m["from_moderator"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        texts,
        [
            ("dave", "it starts at 0:01", false),
            ("molly", "which song?", true)
        ]
    );
    let n = notes(&app, &dave, "abuse_new_message", 1).await;
    assert_eq!(n.len(), 1);
    assert_eq!(n[0]["report"]["id"], id);
    assert_eq!(n[0]["actor"]["username"], "molly");

    // The decision: the reporter sees it and is told.
    let r = call(
        &app,
        Method::PATCH,
        &path,
        &molly,
        Some(json!({"state": "accepted", "note": "taken down"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = call(
        &app,
        Method::PATCH,
        &path,
        &molly,
        Some(json!({"state": "finished"})),
    )
    .await;
    problem(r, 422, "invalid_body").await;
    let mine: Value = app.get(&path, Some(&dave)).await.json().await.unwrap();
    assert_eq!(mine["state"], "accepted");
    assert_eq!(mine["moderator_note"], "taken down");
    assert_eq!(mine["messages"], 2);
    let n = notes(&app, &dave, "abuse_state_change", 1).await;
    assert_eq!(n[0]["report"]["state"], "accepted");
    assert_eq!(n[0]["reason"], "taken down");
    // Decided, it leaves the pending queue; a new report of that video is welcome again.
    let q: Value = app
        .get("/api/v1/moderation/queue?state=accepted", Some(&molly))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["items"][0]["report"]["id"], id);
    let r = report(
        &app,
        &dave,
        json!({"target": {"video": {"id": video}}, "reason": "spam", "text": "back again"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mine: Value = app
        .get("/api/v1/users/me/reports", Some(&dave))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 3);
    assert_eq!(mine["items"][2]["id"], id);
    let log = audit(&app, &admin).await;
    assert_eq!(log[0]["action"], "report.state");
    assert_eq!(log[0]["actor"], "molly");
    assert_eq!(log[0]["target"], format!("report:{id}"));
    assert_eq!(log[0]["reason"], "accepted: taken down");

    // All of it survives kill -9.
    let mut app = app;
    app.kill9();
    let app = app.restart().await;
    let mine: Value = app.get(&path, Some(&dave)).await.json().await.unwrap();
    assert_eq!(mine["state"], "accepted");
    let t: Value = app.get(&thread, Some(&molly)).await.json().await.unwrap();
    assert_eq!(t["items"].as_array().unwrap().len(), 2);
    problem(
        report(
            &app,
            &dave,
            json!({"target": {"account": {"username": "carol"}}, "reason": "spam", "text": "x"}),
        )
        .await,
        409,
        "duplicate_report",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_is_reported_once_while_pending_and_a_gone_comment_is_a_404() {
    let app = TestApp::spawn(Default::default()).await;
    let admin = app.user("root").await;
    app.user("molly").await;
    let molly = make_moderator(&app, &admin, "molly").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let video = crate::media::new_video(&app, &carol, "a talk", "public").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(
        &app,
        Method::POST,
        &format!("/api/v1/videos/{video}/comments"),
        &carol,
        Some(json!({"text": "buy cheap watches now"})),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let comment: Value = r.json().await.unwrap();
    let cid = comment["id"].as_str().unwrap().to_owned();
    let body = json!({"target": {"comment": {"video_id": video, "id": cid}}, "reason": "spam", "text": "an ad"});
    let r = report(&app, &dave, body.clone()).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["target"]["type"], "comment");
    assert_eq!(made["target"]["comment"]["author"], "carol");
    assert_eq!(
        made["target"]["comment"]["excerpt"],
        "buy cheap watches now"
    );
    problem(report(&app, &dave, body).await, 409, "duplicate_report").await;
    let q: Value = app
        .get("/api/v1/moderation/queue?kind=report", Some(&molly))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["items"][0]["report"]["target"]["comment"]["id"], cid);
    // Deleted, it can no longer be reported.
    let r = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/videos/{video}/comments/{cid}"),
        &carol,
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = report(&app, &molly, json!({"target": {"comment": {"video_id": video, "id": cid}}, "reason": "spam", "text": "x"})).await;
    problem(r, 404, "comment_not_found").await;
}
