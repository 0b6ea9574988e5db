//! The account lifecycle over HTTP: password reset requests (the same answer for every
//! address, rate limits), tokens refused, password changes, verified addresses, address
//! changes, and account deletion with its grace period.

use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// A password nobody guesses, for changes.
pub const NEW_PASSWORD: &str = "amber-lantern-quarry-97";

async fn me(app: &TestApp, token: &str) -> Value {
    let r = app.get("/api/v1/users/me", Some(token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/refresh",
        json!({"refresh_token": refresh_token}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_request_answers_the_same_for_every_address_and_is_limited_per_client() {
    let app =
        TestApp::spawn(Options::default().env("TROUPE__AUTH__RESET_PER_IP_PER_HOUR", "4")).await;
    app.register("alice").await;
    let mut bodies = Vec::new();
    for email in [
        "alice@example.org",
        "nobody@example.org",
        "not an address",
        "ALICE@example.org",
    ] {
        let r = app
            .post("/api/v1/auth/password-reset", json!({"email": email}))
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{email}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        bodies.push(r.text().await.unwrap());
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every answer is the same: {bodies:?}"
    );
    // The fifth from this client within the hour is refused, whatever the address.
    let r = app
        .post(
            "/api/v1/auth/password-reset",
            json!({"email": "nobody@example.org"}),
        )
        .await;
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "rate_limited").await;
    // Signing in still works: nothing changed until a link is used.
    app.login("alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_malformed_tokens_are_refused_alike_by_every_link() {
    let app = TestApp::spawn(Options::default()).await;
    app.register("alice").await;
    // 43 base64url characters, like ours, but never issued; and things that are not tokens.
    let forged = "A".repeat(43);
    for token in [forged.as_str(), "short", "", &"!".repeat(43)] {
        for path in [
            "/api/v1/auth/verify-email",
            "/api/v1/auth/email-change/confirm",
            "/api/v1/auth/email-change/undo",
        ] {
            let r = app.post(path, json!({"token": token})).await;
            problem(r, 400, "invalid_token").await;
        }
        let r = app
            .post(
                "/api/v1/auth/password-reset/confirm",
                json!({"token": token, "password": NEW_PASSWORD}),
            )
            .await;
        problem(r, 400, "invalid_token").await;
    }
    app.login("alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_needs_the_current_one_and_signs_out_the_other_logins() {
    let app = TestApp::spawn(Options::default()).await;
    app.register("alice").await;
    let here = app.login("alice").await;
    let elsewhere = app.login("alice").await;
    let token = here["access_token"].as_str().unwrap();
    let change = |current: &str, new: &str| {
        app.request(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(token),
            Some(json!({"current_password": current, "new_password": new})),
        )
    };
    problem(
        change("wrong-password-1", NEW_PASSWORD).await,
        403,
        "wrong_password",
    )
    .await;
    problem(change(PASSWORD, "password1").await, 422, "weak_password").await;
    problem(change(PASSWORD, "alice12345").await, 422, "weak_password").await;
    let r = change(PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The old password no longer works; the new one does.
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    problem(r, 401, "invalid_credentials").await;
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "alice", "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // The other login is over; this one goes on.
    let r = refresh(&app, elsewhere["refresh_token"].as_str().unwrap()).await;
    problem(r, 401, "invalid_refresh_token").await;
    let r = refresh(&app, here["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_requires_verified_addresses_lets_in_only_those_an_admin_vouched_for() {
    let app =
        TestApp::spawn(Options::default().env("TROUPE__AUTH__REQUIRE_VERIFIED_EMAIL", "true"))
            .await;
    // The first account is an admin, who may sign in to set the instance up.
    let admin = app.user("root").await;
    let bob = app.register("bob").await;
    assert_eq!(bob["email_verified"], false);
    assert_eq!(bob["deletion_scheduled_at"], Value::Null);
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "bob", "password": PASSWORD}),
        )
        .await;
    problem(r, 403, "email_not_verified").await;
    // A wrong password still gets the same 401 as ever: the 403 says nothing to a guesser.
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "bob", "password": "not-his-password-9"}),
        )
        .await;
    problem(r, 401, "invalid_credentials").await;
    // Only an admin may vouch.
    let r = app
        .request(
            Method::PATCH,
            "/api/v1/admin/users/bob",
            Some(&admin),
            Some(json!({"email_verified": true})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["email_verified"], true);
    let token = app.login_token("bob").await;
    assert_eq!(me(&app, &token).await["email_verified"], true);
    let r = app
        .request(
            Method::PATCH,
            "/api/v1/admin/users/root",
            Some(&token),
            Some(json!({"email_verified": true})),
        )
        .await;
    problem(r, 403, "forbidden").await;
    // The admin list shows it, and the audit log records who vouched.
    let list: Value = app
        .get("/api/v1/admin/users", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let bob = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "bob")
        .unwrap();
    assert_eq!(bob["email_verified"], true);
    let audit: Value = app
        .get("/api/v1/moderation/audit", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "user.email_verified" && e["target"] == "user:bob"),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_change_needs_the_password_and_never_says_which_addresses_are_taken() {
    let app = TestApp::spawn(Options::default()).await;
    app.register("carol").await;
    let token = app.user("alice").await;
    let change = |password: &str, email: &str| {
        app.request(
            Method::PUT,
            "/api/v1/users/me/email",
            Some(&token),
            Some(json!({"current_password": password, "email": email})),
        )
    };
    problem(
        change("not-the-password-7", "new@example.org").await,
        403,
        "wrong_password",
    )
    .await;
    problem(change(PASSWORD, "no-at-sign").await, 422, "invalid_email").await;
    problem(
        change(PASSWORD, "alice@example.org").await,
        422,
        "invalid_email",
    )
    .await;
    // Carol's address: the same answer as a free address would get (here, with no mail
    // transport yet, the taken one is not even attempted).
    let taken = change(PASSWORD, "carol@example.org").await;
    assert_eq!(taken.status(), StatusCode::ACCEPTED);
    // Nothing changes before the new address confirms.
    assert_eq!(me(&app, &token).await["email"], "alice@example.org");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_waits_out_its_grace_period_and_signing_in_cancels_it() {
    let app = TestApp::spawn(Options::default()).await;
    app.register("root").await;
    app.register("alice").await;
    let tokens = app.login("alice").await;
    let access = tokens["access_token"].as_str().unwrap();
    let delete = |password: &str| {
        app.request(
            Method::DELETE,
            "/api/v1/users/me",
            Some(access),
            Some(json!({"password": password})),
        )
    };
    problem(delete("not-the-password-7").await, 403, "wrong_password").await;
    let r = delete(PASSWORD).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let at: Value = r.json().await.unwrap();
    let delete_at =
        chrono::DateTime::parse_from_rfc3339(at["delete_at"].as_str().unwrap()).unwrap();
    let days = (delete_at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!((167..=168).contains(&days), "7 days by default: {days} h");
    assert_eq!(
        me(&app, access).await["deletion_scheduled_at"],
        at["delete_at"]
    );
    // Every login was revoked.
    let r = refresh(&app, tokens["refresh_token"].as_str().unwrap()).await;
    problem(r, 401, "invalid_refresh_token").await;
    // Signing in cancels it.
    let token = app.login_token("alice").await;
    assert_eq!(me(&app, &token).await["deletion_scheduled_at"], Value::Null);
    // So does the explicit cancel.
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = app
        .request(
            Method::POST,
            "/api/v1/users/me/deletion/cancel",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["deletion_scheduled_at"], Value::Null);
}

/// Creates a video (metadata only) for `token`'s account; its id.
async fn video(app: &TestApp, token: &str, title: &str) -> String {
    let r = app
        .request(
            Method::POST,
            "/api/v1/videos",
            Some(token),
            Some(json!({"title": title})),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_account_leaves_no_videos_holds_its_name_and_frees_its_address() {
    let app = TestApp::spawn(
        Options::default()
            .env("TROUPE__AUTH__DELETION_GRACE_SECS", "1")
            .env("TROUPE__AUTH__DELETION_SWEEP_SECS", "1"),
    )
    .await;
    let admin = app.user("root").await;
    let token = app.user("alice").await;
    let id = video(&app, &token, "Alice's holiday").await;
    let r = app
        .request(
            Method::PUT,
            "/api/v1/users/me/subscriptions/root",
            Some(&token),
            None,
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // Within a generous deadline, the sweep deletes it.
    eventually(Duration::from_secs(30), || async {
        let r = app.get("/api/v1/admin/users/alice", Some(&admin)).await;
        (r.status() == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    problem(r, 401, "invalid_credentials").await;
    let r = app.get(&format!("/api/v1/videos/{id}"), Some(&admin)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.get("/api/v1/channels/alice", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The name is held back; the address is free.
    let r = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "Alice", "email": "other@example.org", "password": PASSWORD}),
        )
        .await;
    problem(r, 409, "username_taken").await;
    let r = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "alice2", "email": "alice@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_deletes_an_account_at_once_with_a_reason_in_the_audit_log() {
    let app = TestApp::spawn(Options::default()).await;
    let admin = app.user("root").await;
    let bob = app.user("bob").await;
    async fn del(app: &TestApp, who: &str, token: &str, body: Value) -> reqwest::Response {
        app.request(
            Method::DELETE,
            &format!("/api/v1/admin/users/{who}"),
            Some(token),
            Some(body),
        )
        .await
    }
    problem(
        del(&app, "root", &bob, json!({"reason": "spam"})).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        del(&app, "bob", &admin, json!({"reason": "  "})).await,
        422,
        "invalid_reason",
    )
    .await;
    problem(
        del(&app, "root", &admin, json!({"reason": "x"})).await,
        409,
        "cannot_delete_self",
    )
    .await;
    problem(
        del(&app, "nobody", &admin, json!({"reason": "x"})).await,
        404,
        "user_not_found",
    )
    .await;
    let r = del(&app, "bob", &admin, json!({"reason": "spam account"})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.get("/api/v1/users/me", Some(&bob)).await;
    problem(r, 401, "invalid_token").await;
    let audit: Value = app
        .get("/api/v1/moderation/audit", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let entry = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "account.delete")
        .cloned()
        .expect("audited");
    assert_eq!(entry["target"], "user:bob");
    assert_eq!(entry["reason"], "spam account");
    assert_eq!(entry["actor"], "root");
}
