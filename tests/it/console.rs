//! What the web console needs from the server, over real HTTP against a real troupe: the
//! console served at every non-API path with its security headers, browser sign-in with the
//! refresh token in an `HttpOnly` cookie behind a CSRF header, anonymous playback (views per
//! device, capped per address), the caller's live streams, retrying a failed video, and the
//! admin lists. The pages themselves are tested in a real browser by `web/e2e` (Playwright).

use crate::harness::*;
use crate::media::{clip, media_env, new_video, upload, wait_state};
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

fn options(extra: &[(&str, &str)]) -> Options {
    let mut o = Options::default();
    for (k, v) in media_env() {
        o = o.env(k, v);
    }
    for (k, v) in extra {
        o = o.env(k, *v);
    }
    o
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn the_console_answers_every_page_path_but_the_api_and_playback_stay_problems() {
    assert!(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist/index.html")).exists(),
        "the console is not built: scripts/test.sh builds web/dist before the tests"
    );
    let app = TestApp::spawn(Options::default()).await;
    for path in ["/", "/watch/0b7c", "/upload", "/account", "/admin/users"] {
        let r = app.get(path, None).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers().clone();
        assert!(
            header(&h, "content-type").starts_with("text/html"),
            "{path}"
        );
        let csp = header(&h, "content-security-policy");
        assert!(
            csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(header(&h, "x-content-type-options"), "nosniff");
        assert_eq!(header(&h, "x-frame-options"), "DENY");
        assert!(h.contains_key("referrer-policy"));
        let body = r.text().await.unwrap();
        assert!(
            body.contains("<div id=\"app\"") || body.contains("<script type=\"module\""),
            "{body}"
        );
        assert!(!body.contains("<script>"), "no inline script: {body}");
    }
    // The embed page, and only it, may be framed by other sites.
    let r = app
        .get("/embed/5a1c0d5e-0000-4000-8000-000000000000", None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = header(r.headers(), "content-security-policy").to_owned();
    assert!(csp.contains("frame-ancestors *"), "{csp}");
    assert!(!r.headers().contains_key("x-frame-options"));
    // The assets it names come with long-lived caching.
    let index = app.get("/", None).await.text().await.unwrap();
    let asset = index
        .split('"')
        .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
        .expect("index.html names a script under /assets/")
        .to_owned();
    let r = app.get(&asset, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(r.headers(), "cache-control").contains("immutable"));
    assert!(header(r.headers(), "content-type").contains("javascript"));
    // The API and playback never answer with the app.
    problem(
        app.get("/api/v1/nothing-here", None).await,
        404,
        "not_found",
    )
    .await;
    problem(app.get("/api", None).await, 404, "not_found").await;
    problem(app.get("/hls/nothing", None).await, 404, "not_found").await;
    problem(
        app.get("/assets/missing-0000.js", None).await,
        404,
        "not_found",
    )
    .await;
    // Writes to a page path are not pages.
    let r = app
        .request(Method::POST, "/watch/x", None, Some(json!({})))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// The `troupe_refresh` cookie a response sets, and its attributes.
fn refresh_cookie(h: &HeaderMap) -> (String, String) {
    let raw = h
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("troupe_refresh="))
        .expect("a troupe_refresh cookie");
    let value = raw["troupe_refresh=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (value, raw)
}

async fn cookie_post(app: &TestApp, path: &str, cookie: &str, csrf: bool) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url(path))
        .header("cookie", format!("troupe_refresh={cookie}"));
    if csrf {
        r = r.header("x-troupe-csrf", "1");
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn browser_sign_in_keeps_the_refresh_token_in_an_httponly_cookie_behind_a_csrf_header() {
    let app = TestApp::spawn(Options::default()).await;
    app.register("carol").await;
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "carol", "password": PASSWORD, "refresh_cookie": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (cookie, raw) = refresh_cookie(r.headers());
    let lower = raw.to_ascii_lowercase();
    for attr in [
        "httponly",
        "samesite=strict",
        "path=/api/v1/auth",
        "max-age=",
    ] {
        assert!(lower.contains(attr), "{raw} lacks {attr}");
    }
    // Plain HTTP on loopback: a Secure cookie would not be kept by every browser.
    assert!(
        !lower.contains("secure;") && !lower.ends_with("secure"),
        "{raw}"
    );
    let body: Value = r.json().await.unwrap();
    assert!(body["access_token"].is_string());
    assert!(
        body.get("refresh_token").is_none(),
        "the body carries no refresh token: {body}"
    );

    // The cookie alone is not enough: a cross-site form cannot add the header.
    problem(
        cookie_post(&app, "/api/v1/auth/refresh", &cookie, false).await,
        403,
        "csrf_required",
    )
    .await;
    let r = cookie_post(&app, "/api/v1/auth/refresh", &cookie, true).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (rotated, _) = refresh_cookie(r.headers());
    assert_ne!(rotated, cookie);
    let body: Value = r.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert!(body.get("refresh_token").is_none());
    assert_eq!(
        app.get("/api/v1/users/me", Some(&access)).await.status(),
        StatusCode::OK
    );
    // The spent cookie is a reuse: the whole login is revoked, the rotated one included.
    problem(
        cookie_post(&app, "/api/v1/auth/refresh", &cookie, true).await,
        401,
        "refresh_token_reused",
    )
    .await;
    problem(
        cookie_post(&app, "/api/v1/auth/refresh", &rotated, true).await,
        401,
        "invalid_refresh_token",
    )
    .await;

    // A new login, then a logout with the cookie clears it and ends the login.
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "carol", "password": PASSWORD, "refresh_cookie": true}),
        )
        .await;
    let (cookie, _) = refresh_cookie(r.headers());
    problem(
        cookie_post(&app, "/api/v1/auth/logout", &cookie, false).await,
        403,
        "csrf_required",
    )
    .await;
    let r = cookie_post(&app, "/api/v1/auth/logout", &cookie, true).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (cleared, raw) = refresh_cookie(r.headers());
    assert!(
        cleared.is_empty() && raw.to_ascii_lowercase().contains("max-age=0"),
        "{raw}"
    );
    problem(
        cookie_post(&app, "/api/v1/auth/refresh", &cookie, true).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    // Neither a body nor a cookie.
    problem(
        app.client
            .post(app.url("/api/v1/auth/refresh"))
            .send()
            .await
            .unwrap(),
        401,
        "missing_refresh_token",
    )
    .await;
    // A body is still JSON, with the usual answers.
    let r = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(r, 400, "malformed_json").await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    problem(r, 415, "unsupported_media_type").await;
    // API clients keep the body flow.
    let pair = app.login("carol").await;
    let r = app
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert!(body["refresh_token"].is_string());
}

/// Starts an anonymous stream (no token) from device `device`.
async fn anonymous_start(app: &TestApp, video: &str, device: &str) -> reqwest::Response {
    app.post(
        "/api/v1/playback/sessions",
        json!({"video_id": video, "device_id": device}),
    )
    .await
}

async fn views(app: &TestApp, token: &str, video: &str) -> u64 {
    let v: Value = app
        .get(&format!("/api/v1/videos/{video}"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    v["counts"]["views"].as_u64().unwrap()
}

#[tokio::test]
async fn anonymous_viewers_play_public_and_unlisted_videos_and_count_once_per_device_three_per_address(
) {
    let app = TestApp::spawn(options(&[
        ("TROUPE__PLAYBACK__VIEW_MIN_SECS", "1"),
        ("TROUPE__PLAYBACK__ANONYMOUS_PLAN", "basic"),
    ]))
    .await;
    let owner = app.user("owner").await;
    let tmp = tempfile::tempdir().unwrap();
    let data = std::fs::read(clip(tmp.path(), "c.mp4", 320, 240, 4, true)).unwrap();
    let mut ids = Vec::new();
    for vis in ["public", "unlisted", "private"] {
        let v = new_video(&app, &owner, vis, vis).await;
        let id = v["id"].as_str().unwrap().to_owned();
        upload(&app, &owner, &id, &data, 1 << 20).await;
        ids.push(id);
    }
    for id in &ids {
        wait_state(&app, &owner, id, "ready", Duration::from_secs(120)).await;
    }
    let (public, unlisted, private) = (&ids[0], &ids[1], &ids[2]);

    // A private video is not there for anonymous viewers; a bad token is not anonymity.
    problem(
        anonymous_start(&app, private, "dev-a").await,
        404,
        "video_not_found",
    )
    .await;
    let r = app
        .request(
            Method::POST,
            "/api/v1/playback/sessions",
            Some("not-a-token"),
            Some(json!({"video_id": public, "device_id": "dev-a"})),
        )
        .await;
    problem(r, 401, "invalid_token").await;

    // Unlisted plays without an account, capped at the anonymous plan's rendition.
    let r = anonymous_start(&app, unlisted, "dev-a").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let g: Value = r.json().await.unwrap();
    assert_eq!(g["max_rendition"], 720, "basic's cap: {g}");
    let master = app.get(g["master_url"].as_str().unwrap(), None).await;
    assert_eq!(master.status(), StatusCode::OK);
    assert!(master.text().await.unwrap().contains("#EXT-X-STREAM-INF"));

    // Four devices from this one address watch the public video long enough: three count.
    let mut sessions = Vec::new();
    for device in ["dev-a", "dev-b", "dev-c", "dev-d"] {
        let r = anonymous_start(&app, public, device).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let g: Value = r.json().await.unwrap();
        assert_eq!(g["resume_position"], 0.0);
        sessions.push(g["session_id"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut counted = Vec::new();
    for s in &sessions {
        let r = app
            .post(
                &format!("/api/v1/playback/sessions/{s}/heartbeat"),
                json!({"position": 1.5}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let ack: Value = r.json().await.unwrap();
        counted.push(ack["view_counted"].as_bool().unwrap());
    }
    assert_eq!(
        counted,
        [true, true, true, false],
        "the fourth device is over the cap"
    );
    assert_eq!(views(&app, &owner, public).await, 3);

    // The same device again, in a new session: still one view.
    let r = anonymous_start(&app, public, "dev-a").await;
    let s = r.json::<Value>().await.unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let ack: Value = app
        .post(
            &format!("/api/v1/playback/sessions/{s}/heartbeat"),
            json!({"position": 2.0}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ack["view_counted"], false);
    assert_eq!(views(&app, &owner, public).await, 3);

    // An anonymous stream ends by its id; its token opens nothing new after that.
    let ended = &sessions[0];
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/playback/sessions/{ended}"),
            None,
            None,
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "{}",
        r.text().await.unwrap()
    );
    problem(
        app.post(
            &format!("/api/v1/playback/sessions/{ended}/heartbeat"),
            json!({"position": 1.0}),
        )
        .await,
        404,
        "session_not_found",
    )
    .await;
    // A signed-in viewer's session is not reachable without their token.
    let viewer = app.user("viewer").await;
    let r = app
        .request(
            Method::POST,
            "/api/v1/playback/sessions",
            Some(&viewer),
            Some(json!({"video_id": public, "device_id": "tv"})),
        )
        .await;
    let mine = r.json::<Value>().await.unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    problem(
        app.post(
            &format!("/api/v1/playback/sessions/{mine}/heartbeat"),
            json!({"position": 1.0}),
        )
        .await,
        404,
        "session_not_found",
    )
    .await;
    // Nothing of the anonymous viewers was written: the store holds the signed-in viewer's
    // session state and no anonymous one.
    let mut app = app;
    assert!(app.terminate_wait_after_sigterm().await.success());
    let store = troupe_runtime::store::SledStore::open(&app.data_dir.join("state")).unwrap();
    use troupe_runtime::store::StateStore;
    let sessions: Vec<String> = store
        .scan_prefix("session/")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(sessions, ["session/viewer"], "{sessions:?}");
}

#[tokio::test]
async fn a_viewer_lists_their_live_streams_and_ends_one_from_another_device() {
    let app = TestApp::spawn(options(&[])).await;
    let admin = app.user("admin").await;
    let viewer = app.user("dana").await;
    set_plan(&app, &admin, "dana", "basic").await;
    let tmp = tempfile::tempdir().unwrap();
    let v = crate::media::ready_video(&app, &admin, tmp.path(), 320, 240, 2, "public").await;
    let video = v["id"].as_str().unwrap();
    problem(
        app.get("/api/v1/users/me/streams", None).await,
        401,
        "missing_token",
    )
    .await;
    let listed: Value = app
        .get("/api/v1/users/me/streams", Some(&viewer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["streams"], json!([]));
    let mut ids = Vec::new();
    for device in ["phone", "tv"] {
        let r = app
            .request(
                Method::POST,
                "/api/v1/playback/sessions",
                Some(&viewer),
                Some(json!({"video_id": video, "device_id": device})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(r.json::<Value>().await.unwrap()["session_id"].clone());
    }
    let r = app.get("/api/v1/users/me/streams", Some(&viewer)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let listed: Value = r.json().await.unwrap();
    let streams = listed["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2, "{listed}");
    assert_eq!(streams[0]["device_id"], "phone");
    assert_eq!(streams[0]["session_id"], ids[0]);
    assert_eq!(streams[0]["video_id"], video);
    // From the tv (same account, any device), end the phone's stream by its href.
    let href = streams[0]["href"].as_str().unwrap();
    let r = app.request(Method::DELETE, href, Some(&viewer), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let listed: Value = app
        .get("/api/v1/users/me/streams", Some(&viewer))
        .await
        .json()
        .await
        .unwrap();
    let left: Vec<&Value> = listed["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["device_id"])
        .collect();
    assert_eq!(left, [&json!("tv")]);
    // Someone else's stream is not theirs to end.
    let other = app.user("eve").await;
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/playback/sessions/{}", ids[1].as_str().unwrap()),
            Some(&other),
            None,
        )
        .await;
    problem(r, 404, "session_not_found").await;
}

#[tokio::test]
async fn a_failed_video_is_retried_by_its_owner_after_the_cause_is_fixed_and_admins_list_it() {
    // ffmpeg "runs" but fails: every transcode fails for good after one attempt.
    let mut app = TestApp::spawn(options(&[
        ("TROUPE__MEDIA__FFMPEG", "/bin/false"),
        ("TROUPE__MEDIA__TRANSCODE_ATTEMPTS", "1"),
    ]))
    .await;
    let admin = app.user("admin").await;
    let owner = app.user("frank").await;
    let stranger = app.user("gina").await;
    let tmp = tempfile::tempdir().unwrap();
    let data = std::fs::read(clip(tmp.path(), "c.mp4", 320, 240, 2, true)).unwrap();
    let v = new_video(&app, &owner, "to retry", "private").await;
    let id = v["id"].as_str().unwrap().to_owned();
    upload(&app, &owner, &id, &data, 1 << 20).await;
    let failed = wait_state(&app, &owner, &id, "failed", Duration::from_secs(60)).await;
    assert!(failed["failure_reason"].is_string(), "{failed}");
    let ready_one = new_video(&app, &owner, "never uploaded", "public").await;

    // Admins see failed videos of every owner, with their reasons; others may not look.
    let page = app
        .listed("/api/v1/admin/videos?state=failed", Some(&admin), |p| {
            !p["items"].as_array().unwrap().is_empty()
        })
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["id"], id.as_str());
    assert!(items[0]["failure_reason"].is_string());
    problem(
        app.get("/api/v1/admin/videos?state=failed", Some(&owner))
            .await,
        403,
        "forbidden",
    )
    .await;
    problem(
        app.get("/api/v1/admin/videos?state=exploded", Some(&admin))
            .await,
        400,
        "invalid_query",
    )
    .await;

    // Sweeps run every second: the failed upload's source is kept for the retry.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The cause is fixed (a working ffmpeg), and the server restarted.
    assert!(app.terminate_wait_after_sigterm().await.success());
    app.options.env.retain(|(k, _)| !k.contains("FFMPEG"));
    app = app.restart().await;
    let retry = |token: String, video: String| {
        let app = &app;
        async move {
            app.request(
                Method::POST,
                &format!("/api/v1/videos/{video}/retry"),
                Some(&token),
                None,
            )
            .await
        }
    };
    problem(
        retry(stranger.clone(), id.clone()).await,
        404,
        "video_not_found",
    )
    .await;
    problem(
        retry(owner.clone(), ready_one["id"].as_str().unwrap().to_owned()).await,
        409,
        "invalid_state",
    )
    .await;
    let r = retry(owner.clone(), id.clone()).await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "{}",
        r.text().await.unwrap()
    );
    let queued: Value = r.json().await.unwrap();
    assert!(
        ["queued", "processing"].contains(&queued["state"].as_str().unwrap()),
        "{queued}"
    );
    assert!(queued["failure_reason"].is_null(), "{queued}");
    let ready = wait_state(&app, &owner, &id, "ready", Duration::from_secs(120)).await;
    assert!(!ready["renditions"].as_array().unwrap().is_empty());
    // A retried retry of a ready video is a conflict, not a second transcode.
    problem(retry(owner.clone(), id.clone()).await, 409, "invalid_state").await;
    let page: Value = app
        .get("/api/v1/admin/videos?state=failed", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"], json!([]));
}

#[tokio::test]
async fn admins_page_through_every_account_with_role_and_plan() {
    let app = TestApp::spawn(Options::default()).await;
    let admin = app.user("root").await;
    for name in ["Bea", "ali", "cyd", "deb"] {
        app.register(name).await;
    }
    let user = app.login("ali").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    problem(
        app.get("/api/v1/admin/users", Some(&user)).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        app.get("/api/v1/admin/users", None).await,
        401,
        "missing_token",
    )
    .await;
    problem(
        app.get("/api/v1/admin/users?limit=0", Some(&admin)).await,
        400,
        "invalid_query",
    )
    .await;
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/admin/users?limit=2&cursor={c}"),
            None => "/api/v1/admin/users?limit=2".to_owned(),
        };
        let page: Value = app.get(&path, Some(&admin)).await.json().await.unwrap();
        for u in page["items"].as_array().unwrap() {
            assert!(u["role"].is_string() && u["plan"] == "free", "{u}");
            assert!(u["limits"]["max_streams"].is_u64());
            names.push(u["username"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["ali", "Bea", "cyd", "deb", "root"]);
}

#[tokio::test]
async fn a_wrong_method_on_a_known_path_is_405_with_allow() {
    let app = TestApp::spawn(Options::default()).await;
    let cases = [
        (Method::DELETE, "/api/v1/auth/login", "POST"),
        (Method::PUT, "/api/v1/videos", "GET, POST"),
        (Method::POST, "/api/v1/users/me", "GET, DELETE"),
        (Method::PUT, "/api/v1/videos/0b7c/retry", "POST"),
        // A literal under a parameter route: only its own methods.
        (Method::PATCH, "/api/v1/videos/trending", "GET"),
        (Method::DELETE, "/api/v1/videos/trending", "GET"),
    ];
    for (method, path, allow) in cases {
        let r = app.request(method.clone(), path, None, None).await;
        let allowed = r
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        problem(r, 405, "method_not_allowed").await;
        assert_eq!(allowed.as_deref(), Some(allow), "{method} {path}");
    }
    // An unknown path stays a 404.
    problem(
        app.request(Method::DELETE, "/api/v1/nothing", None, None)
            .await,
        404,
        "not_found",
    )
    .await;
}
