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

/// The token of the first link in `text` to `path` (`/reset-password`, ...).
fn token_in(text: &str, path: &str) -> String {
    let at = text
        .find(&format!("{path}?token="))
        .unwrap_or_else(|| panic!("no {path} link in:\n{text}"));
    let rest = &text[at + path.len() + "?token=".len()..];
    let token: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "a 256-bit base64url token: {token}");
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_verify_forget_reset_and_sign_in_again_through_a_real_smtp_server() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn(sink.options(Options::default())).await;
    app.register("root").await;
    app.register("alice").await;
    // The verification link, mailed at registration, from the configured public URL.
    let mail = sink
        .wait_for(Duration::from_secs(60), |m| {
            m.to.contains("alice@example.org") && m.subject.contains("Confirm your email")
        })
        .await;
    assert!(mail
        .html
        .as_deref()
        .unwrap()
        .contains("verify-email?token="));
    assert!(
        mail.header("list-unsubscribe").is_none(),
        "account mail is not bulk mail"
    );
    let verify = token_in(mail.text.as_deref().unwrap(), "/verify-email");
    let r = app
        .post("/api/v1/auth/verify-email", json!({"token": verify}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .post("/api/v1/auth/verify-email", json!({"token": verify}))
        .await;
    problem(r, 410, "token_expired").await;
    let before = app.login("alice").await;
    let access = before["access_token"].as_str().unwrap();
    assert_eq!(me(&app, access).await["email_verified"], true);

    // Forgot the password: the link arrives; an unknown address gets nothing.
    for email in ["alice@example.org", "nobody@example.org"] {
        let r = app
            .post("/api/v1/auth/password-reset", json!({"email": email}))
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let mail = sink
        .wait_for(Duration::from_secs(60), |m| {
            m.to.contains("alice@example.org") && m.subject.contains("Reset your")
        })
        .await;
    let reset = token_in(mail.text.as_deref().unwrap(), "/reset-password");
    assert!(mail.text.as_deref().unwrap().contains(&format!(
        "{}/reset-password?token=",
        app.url("").trim_end_matches('/')
    )));
    // A weak password is refused and the link still works.
    let r = app
        .post(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": reset, "password": "password1"}),
        )
        .await;
    problem(r, 422, "weak_password").await;
    let r = app
        .post(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": reset, "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .post(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": reset, "password": "another-fine-password-3"}),
        )
        .await;
    problem(r, 410, "token_expired").await;
    // The old login is over, the old password too; the new one signs in.
    let r = refresh(&app, before["refresh_token"].as_str().unwrap()).await;
    problem(r, 401, "invalid_refresh_token").await;
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
            json!({"username": "alice@example.org", "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // A notice tells her.
    sink.wait_for(Duration::from_secs(60), |m| {
        m.to.contains("alice@example.org") && m.subject.contains("password was changed")
    })
    .await;
    assert!(
        !sink.messages().iter().any(|m| m.to.contains("nobody@")),
        "nothing goes to an address without an account"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_change_is_confirmed_at_the_new_address_and_undone_from_the_old_one() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn(sink.options(Options::default())).await;
    app.register("root").await;
    app.register("carol").await;
    let token = app.user("alice").await;
    let change = |email: &'static str| {
        app.request(
            Method::PUT,
            "/api/v1/users/me/email",
            Some(&token),
            Some(json!({"current_password": PASSWORD, "email": email})),
        )
    };
    // A taken address and a free one get the same answer; only the free one gets a mail.
    assert_eq!(
        change("carol@example.org").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        change("alice@new.example.org").await.status(),
        StatusCode::ACCEPTED
    );
    let mail = sink
        .wait_for(Duration::from_secs(60), |m| {
            m.to.contains("alice@new.example.org") && m.subject.contains("new email address")
        })
        .await;
    let confirm = token_in(mail.text.as_deref().unwrap(), "/confirm-email");
    assert!(
        !sink
            .messages()
            .iter()
            .any(|m| m.to.contains("carol@") && m.subject.contains("new email address")),
        "the owner of a taken address is not mailed a change they did not ask for"
    );
    assert_eq!(me(&app, &token).await["email"], "alice@example.org");
    let r = app
        .post(
            "/api/v1/auth/email-change/confirm",
            json!({"token": confirm}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let now = me(&app, &token).await;
    assert_eq!(now["email"], "alice@new.example.org");
    assert_eq!(now["email_verified"], true);
    // The old address is told, with an undo link.
    let notice = sink
        .wait_for(Duration::from_secs(60), |m| {
            m.to.contains("alice@example.org") && m.subject.contains("was changed")
        })
        .await;
    assert!(notice
        .text
        .as_deref()
        .unwrap()
        .contains("alice@new.example.org"));
    let undo = token_in(notice.text.as_deref().unwrap(), "/undo-email-change");
    let session = app.login("alice").await;
    let r = app
        .post("/api/v1/auth/email-change/undo", json!({"token": undo}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .post("/api/v1/auth/email-change/undo", json!({"token": undo}))
        .await;
    problem(r, 410, "token_expired").await;
    assert_eq!(me(&app, &token).await["email"], "alice@example.org");
    // Every login is revoked: whoever made the change is signed out.
    let r = refresh(&app, session["refresh_token"].as_str().unwrap()).await;
    problem(r, 401, "invalid_refresh_token").await;
    // The new address is free again; the old one signs in.
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "alice@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_through_one_node_refuses_the_old_refresh_tokens_through_every_node() {
    let sink = SmtpSink::start().await;
    let c = crate::cluster::Cluster::start_with_env(
        crate::cluster::Spec {
            nodes: 3,
            proxied: false,
        },
        &[
            ("TROUPE__EMAIL__SMTP_URL", sink.url()),
            (
                "TROUPE__EMAIL__RETRY_SCHEDULE_SECS",
                "[1, 2, 2, 2, 2, 2, 2, 2, 2, 2]".into(),
            ),
        ],
    )
    .await;
    let root = c.nodes[0].user("root").await;
    c.nodes[0].register("alice").await;
    c.wait_up(&root, &[0, 1, 2], 3).await;
    // A login through each node.
    let mut logins = Vec::new();
    for node in &c.nodes {
        logins.push(node.login("alice").await);
    }
    let r = c.nodes[2]
        .post(
            "/api/v1/auth/password-reset",
            json!({"email": "alice@example.org"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = sink
        .wait_for(Duration::from_secs(60), |m| {
            m.to.contains("alice@example.org") && m.subject.contains("Reset your")
        })
        .await;
    let reset = token_in(mail.text.as_deref().unwrap(), "/reset-password");
    let r = c.nodes[1]
        .post(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": reset, "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Every old refresh token, through every node: refused.
    for login in &logins {
        for node in &c.nodes {
            let r = refresh(node, login["refresh_token"].as_str().unwrap()).await;
            problem(r, 401, "invalid_refresh_token").await;
        }
    }
    // The link is spent everywhere.
    let r = c.nodes[0]
        .post(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": reset, "password": "another-fine-password-3"}),
        )
        .await;
    problem(r, 410, "token_expired").await;
    for node in &c.nodes {
        let r = node
            .post(
                "/api/v1/auth/login",
                json!({"username": "alice", "password": NEW_PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_ends_every_playback_session_of_the_account() {
    let sink = SmtpSink::start().await;
    let mut options = sink.options(Options::default());
    for (k, v) in crate::media::media_env() {
        options = options.env(k, v);
    }
    let app = TestApp::spawn(options).await;
    let token = app.user("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let video = crate::media::ready_video(&app, &token, dir.path(), 320, 240, 2, "public").await;
    let id = video["id"].as_str().unwrap();
    let session = app.start_playback(&token, id, "tv").await;
    let sid = session["session_id"].as_str().unwrap().to_owned();
    let beat_path = format!("/api/v1/playback/sessions/{sid}/heartbeat");
    let beat = || {
        app.request(
            Method::POST,
            &beat_path,
            Some(&token),
            Some(json!({"position": 1.0})),
        )
    };
    assert_eq!(beat().await.status(), StatusCode::OK);
    app.post(
        "/api/v1/auth/password-reset",
        json!({"email": "alice@example.org"}),
    )
    .await;
    let mail = sink
        .wait_for(Duration::from_secs(60), |m| {
            m.subject.contains("Reset your")
        })
        .await;
    let reset = token_in(mail.text.as_deref().unwrap(), "/reset-password");
    let r = app
        .post(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": reset, "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The stream is gone: its next heartbeat is refused.
    problem(beat().await, 404, "session_not_found").await;
}
