//! Accounts over HTTP: registration, login, tokens, lockout, plans, rate limits.

use crate::harness::*;
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_registers_logs_in_and_sees_their_account() {
    let app = TestApp::spawn(Options::default()).await;
    let user = app.register("Alice").await;
    assert_eq!(user["username"], "Alice");
    assert_eq!(user["email"], "alice@example.org");
    assert_eq!(user["plan"], "free");
    assert!(user.get("password_hash").is_none());
    let tokens = app.login("alice").await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let me: Value = app
        .get("/api/v1/users/me", tokens["access_token"].as_str())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], user["id"]);
    assert_eq!(
        me["limits"],
        json!({"max_streams": 1, "max_rendition": 480})
    );
    // Email works as a login name too.
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "ALICE@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_user_is_admin_unless_admins_are_configured() {
    let app = TestApp::spawn(Options::default()).await;
    assert_eq!(app.register("first").await["role"], "admin");
    assert_eq!(app.register("second").await["role"], "user");

    let configured =
        TestApp::spawn(Options::default().env("TROUPE__AUTH__ADMIN_USERNAMES", "[\"boss\"]")).await;
    assert_eq!(configured.register("early").await["role"], "user");
    assert_eq!(configured.register("Boss").await["role"], "admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_names_and_emails_get_409_whatever_their_case() {
    let app = TestApp::spawn(Options::default()).await;
    app.register("bob").await;
    let r = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "BOB", "email": "other@example.org", "password": PASSWORD}),
        )
        .await;
    problem(r, 409, "username_taken").await;
    let r = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "robert", "email": "Bob@Example.org", "password": PASSWORD}),
        )
        .await;
    problem(r, 409, "email_taken").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_one_name_concurrently_yields_one_account() {
    let app = TestApp::spawn(Options::default()).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (client, url) = (app.client.clone(), app.url("/api/v1/auth/register"));
        tasks.push(tokio::spawn(async move {
            let body = json!({"username": "racer", "email": format!("racer{i}@example.org"), "password": PASSWORD});
            client.post(url).json(&body).send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        11,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registrations_get_clear_problems() {
    let app = TestApp::spawn(Options::default()).await;
    let reg = async |body: Value| app.post("/api/v1/auth/register", body).await;
    problem(
        reg(json!({"username": "ok_name", "email": "x@example.org", "password": "password1"}))
            .await,
        422,
        "weak_password",
    )
    .await;
    problem(
        reg(json!({"username": "ok_name", "email": "x@example.org", "password": "short"})).await,
        422,
        "weak_password",
    )
    .await;
    problem(
        reg(json!({"username": "a b", "email": "x@example.org", "password": PASSWORD})).await,
        422,
        "invalid_username",
    )
    .await;
    problem(
        reg(json!({"username": "../etc", "email": "x@example.org", "password": PASSWORD})).await,
        422,
        "invalid_username",
    )
    .await;
    problem(
        reg(json!({"username": "ok_name", "email": "not-an-email", "password": PASSWORD})).await,
        422,
        "invalid_email",
    )
    .await;
    problem(
        reg(json!({"username": "ok_name", "email": "x@example.org"})).await,
        422,
        "invalid_body",
    )
    .await;
    problem(
        reg(json!({"username": 5, "email": "x@example.org", "password": PASSWORD})).await,
        422,
        "invalid_body",
    )
    .await;
    problem(reg(json!({"username": "ok_name", "email": "x@example.org", "password": PASSWORD, "role": "admin"})).await, 422, "invalid_body").await;
    let raw = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"username\":")
        .send()
        .await
        .unwrap();
    problem(raw, 400, "malformed_json").await;
    let text = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    problem(text, 415, "unsupported_media_type").await;
    let huge =
        json!({"username": "ok_name", "email": "x@example.org", "password": "x".repeat(100_000)});
    problem(reg(huge).await, 413, "payload_too_large").await;
    // Nothing half-made: the name is still free.
    app.register("ok_name").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failed_logins_lock_the_account_and_answers_never_reveal_which_case() {
    // A lockout long enough that the locked login below comes well inside it on a loaded
    // machine, short enough to wait out.
    let app = TestApp::spawn(Options::default().env("TROUPE__AUTH__LOCKOUT_SECS", "4")).await;
    app.register("carol").await;
    let login = async |name: &str, pw: &str| {
        app.post(
            "/api/v1/auth/login",
            json!({"username": name, "password": pw}),
        )
        .await
    };
    let unknown = problem(
        login("nobody", "whatever-pass").await,
        401,
        "invalid_credentials",
    )
    .await;
    let mut last_failure = Instant::now();
    for _ in 0..5 {
        last_failure = Instant::now();
        let wrong = problem(
            login("carol", "wrong-password!").await,
            401,
            "invalid_credentials",
        )
        .await;
        assert_eq!(
            wrong, unknown,
            "a wrong password must look like an unknown user"
        );
    }
    let locked = problem(login("carol", PASSWORD).await, 401, "invalid_credentials").await;
    assert_eq!(locked, unknown, "a locked account must look the same too");
    // The lockout ends: the right password works again (polled; a login while locked does
    // not extend the lock).
    eventually(Duration::from_secs(30), || async {
        (login("carol", PASSWORD).await.status() == StatusCode::OK).then_some(())
    })
    .await;
    // Not before its time: the lock began after the fifth failure was sent.
    assert!(
        last_failure.elapsed() >= Duration::from_millis(3900),
        "the account unlocked {:?} after the fifth failure, before its 4 s lockout",
        last_failure.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_login() {
    let app = TestApp::spawn(Options::default()).await;
    app.register("dave").await;
    let t0 = app.login("dave").await;
    let refresh = async |t: &Value| {
        app.post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": t["refresh_token"]}),
        )
        .await
    };
    let r1 = refresh(&t0).await;
    assert_eq!(r1.status(), StatusCode::OK);
    let t1: Value = r1.json().await.unwrap();
    assert_ne!(t1["refresh_token"], t0["refresh_token"]);
    assert_eq!(
        app.get("/api/v1/users/me", t1["access_token"].as_str())
            .await
            .status(),
        StatusCode::OK
    );
    let t2: Value = refresh(&t1).await.json().await.unwrap();
    problem(refresh(&t0).await, 401, "refresh_token_reused").await;
    problem(refresh(&t2).await, 401, "invalid_refresh_token").await;
    // Another login is unaffected, and logout ends it.
    let other = app.login("dave").await;
    let r = app
        .post(
            "/api/v1/auth/logout",
            json!({"refresh_token": other["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    problem(refresh(&other).await, 401, "invalid_refresh_token").await;
    // An access token is not a refresh token.
    let swapped = app
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": other["access_token"]}),
        )
        .await;
    problem(swapped, 401, "invalid_refresh_token").await;
}

fn forge(claims: &Value, key: &str, header: Header) -> String {
    encode(&header, claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_bearer_token_gets_401() {
    let app = TestApp::spawn(Options::default()).await;
    let good = app.user("erin").await;
    let me: Value = app
        .get("/api/v1/users/me", Some(&good))
        .await
        .json()
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, iss: &str, exp: i64| json!({"iss": iss, "aud": aud, "sub": "erin", "uid": me["id"], "role": "admin", "iat": now, "exp": exp});
    // The same claims, correctly signed, are accepted: the forgeries below fail for their flaw.
    let valid = forge(
        &claims("troupe-api", "troupe", now + 60),
        SECRET,
        Header::default(),
    );
    assert_eq!(
        app.get("/api/v1/users/me", Some(&valid)).await.status(),
        StatusCode::OK
    );

    let mut tampered = good.clone();
    let mid = tampered.len() / 2;
    tampered.replace_range(
        mid..mid + 1,
        if &good[mid..mid + 1] == "A" { "B" } else { "A" },
    );
    let parts: Vec<&str> = good.split('.').collect();
    let alg_none = format!(
        "{}.{}.",
        base64_url(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let cases = [
        ("tampered", tampered),
        (
            "expired",
            forge(
                &claims("troupe-api", "troupe", now - 120),
                SECRET,
                Header::default(),
            ),
        ),
        (
            "wrong audience",
            forge(
                &claims("someone-else", "troupe", now + 60),
                SECRET,
                Header::default(),
            ),
        ),
        (
            "refresh audience",
            forge(
                &claims("troupe-api/refresh", "troupe", now + 60),
                SECRET,
                Header::default(),
            ),
        ),
        (
            "wrong issuer",
            forge(
                &claims("troupe-api", "evil", now + 60),
                SECRET,
                Header::default(),
            ),
        ),
        (
            "wrong key",
            forge(
                &claims("troupe-api", "troupe", now + 60),
                "another-secret-another-secret-0000",
                Header::default(),
            ),
        ),
        (
            "HS512",
            forge(
                &claims("troupe-api", "troupe", now + 60),
                SECRET,
                Header::new(jsonwebtoken::Algorithm::HS512),
            ),
        ),
        ("alg none", alg_none),
        ("garbage", "not.a.jwt".to_string()),
        ("empty", String::new()),
    ];
    for (what, token) in cases {
        let r = app.get("/api/v1/users/me", Some(&token)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert!(r.headers().get("www-authenticate").is_some(), "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "invalid_token", "{what}");
    }
    problem(
        app.get("/api/v1/users/me", None).await,
        401,
        "missing_token",
    )
    .await;
    let basic = app
        .client
        .get(app.url("/api/v1/users/me"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    problem(basic, 401, "invalid_token").await;
}

fn base64_url(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_plans_and_nobody_else_can() {
    let app = TestApp::spawn(Options::default()).await;
    let admin = app.user("root").await;
    let user = app.user("frank").await;
    let set = async |token: &str, who: &str, body: Value| {
        app.request(
            Method::PUT,
            &format!("/api/v1/admin/users/{who}/plan"),
            Some(token),
            Some(body),
        )
        .await
    };
    let r = set(&admin, "Frank", json!({"plan": "premium"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["plan"], "premium");
    assert_eq!(
        body["limits"],
        json!({"max_streams": 4, "max_rendition": 1080})
    );
    // Idempotent.
    assert_eq!(
        set(&admin, "frank", json!({"plan": "premium"}))
            .await
            .status(),
        StatusCode::OK
    );
    let me: Value = app
        .get("/api/v1/users/me", Some(&user))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["plan"], "premium");
    problem(
        set(&user, "frank", json!({"plan": "ultimate"})).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        set(&admin, "nobody", json!({"plan": "basic"})).await,
        404,
        "user_not_found",
    )
    .await;
    problem(
        set(&admin, "frank", json!({"plan": "platinum"})).await,
        422,
        "invalid_body",
    )
    .await;
    problem(
        app.get("/api/v1/admin/users/frank", Some(&user)).await,
        403,
        "forbidden",
    )
    .await;
    let got: Value = app
        .get("/api/v1/admin/users/FRANK", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["plan"], "premium");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after_and_ratelimit_headers() {
    let opts = Options {
        rate_limits: true,
        ..Default::default()
    }
    .env("TROUPE__RATE_LIMIT__AUTH_PER_IP_BURST", "3")
    .env("TROUPE__RATE_LIMIT__AUTH_PER_IP_PER_MIN", "2")
    .env("TROUPE__RATE_LIMIT__PER_USER_BURST", "5")
    .env("TROUPE__RATE_LIMIT__PER_USER_PER_SEC", "1");
    let app = TestApp::spawn(opts).await;
    let token = app.user("gina").await; // two auth requests
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "gina", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["ratelimit-limit"], "3");
    assert_eq!(r.headers()["ratelimit-remaining"], "0");
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "gina", "password": PASSWORD}),
        )
        .await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(r.headers().get("ratelimit-reset").is_some());
    problem(r, 429, "rate_limited").await;
    // The per-user bucket: 5 quick requests pass, then 429.
    let mut codes = Vec::new();
    for _ in 0..7 {
        codes.push(
            app.get("/api/v1/users/me", Some(&token))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&codes[..5], &[200; 5], "{codes:?}");
    assert!(codes[5..].contains(&429), "{codes:?}");
    // Probes are never limited.
    for _ in 0..20 {
        assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    }
}
