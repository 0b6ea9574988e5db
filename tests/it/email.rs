//! Email through a real SMTP server (aiosmtpd with its Maildir handler, `harness::SmtpSink`):
//! the outbox keeps a message while the server is down, across a `kill -9`, and sends it once
//! when the server is back (the same `Message-ID` on every attempt).

use crate::harness::{eventually, problem, Options, SmtpSink, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// Generous bounds for a loaded 2-core machine.
const WITHIN: Duration = Duration::from_secs(60);

async fn outbox(app: &TestApp, admin: &str) -> Vec<Value> {
    let r = app
        .request(Method::GET, "/api/v1/admin/outbox", Some(admin), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_email_queued_while_smtp_is_down_arrives_once_after_a_kill_9() {
    let mut sink = SmtpSink::down_at_first();
    let options =
        sink.options(Options::default().env("TROUPE__AUTH__ADMIN_USERNAMES", "[\"boss\"]"));
    let mut app = TestApp::spawn(options).await;
    let admin = app.user("boss").await;

    // Bad input first: not an address; not an admin.
    let r = app
        .request(
            Method::POST,
            "/api/v1/admin/email/test",
            Some(&admin),
            Some(json!({"to": "nobody"})),
        )
        .await;
    problem(r, 422, "invalid_email").await;
    let someone = app.user("someone").await;
    let r = app
        .request(
            Method::POST,
            "/api/v1/admin/email/test",
            Some(&someone),
            Some(json!({"to": "a@example.org"})),
        )
        .await;
    problem(r, 403, "forbidden").await;

    // Queued while the SMTP server is down: the API answers at once all the same.
    let r = app
        .request(
            Method::POST,
            "/api/v1/admin/email/test",
            Some(&admin),
            Some(json!({"to": "ops@example.org", "note": "down, then up"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // The outbox shows it pending, with the refused connection as its last error.
    let item = eventually(WITHIN, || async {
        outbox(&app, &admin)
            .await
            .into_iter()
            .find(|i| i["key"] == key.as_str() && i["attempts"].as_u64() >= Some(2))
    })
    .await;
    assert_eq!(item["kind"], "email");
    assert_eq!(item["status"], "pending");
    assert_eq!(item["target"], "ops@example.org");
    assert!(item["last_error"].is_string(), "{item}");
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("troupe_outbox_retried_total{kind=\"email\"}"),
        "{metrics}"
    );

    // kill -9, the SMTP server comes up, troupe starts again on the same data.
    app.kill9();
    sink.up().await;
    let app = app.restart().await;

    let mail = sink.wait_for(WITHIN, |m| m.to == "ops@example.org").await;
    assert_eq!(mail.subject, "A test email from troupe");
    assert_eq!(mail.content_type, "multipart/alternative");
    assert!(
        mail.text.as_deref().unwrap().contains("down, then up"),
        "{mail:?}"
    );
    assert!(
        mail.html
            .as_deref()
            .unwrap()
            .contains("<p>Note from the administrator: down, then up</p>"),
        "{mail:?}"
    );
    assert_eq!(
        mail.header("message-id"),
        Some(format!("<{key}@127.0.0.1>").as_str())
    );
    // A test mail is account-like: no unsubscribe headers.
    assert_eq!(mail.header("list-unsubscribe"), None);

    // Sent: it leaves the outbox, and it arrived once.
    let admin = app.login_token("boss").await;
    eventually(WITHIN, || async {
        (!outbox(&app, &admin)
            .await
            .iter()
            .any(|i| i["key"] == key.as_str()))
        .then_some(())
    })
    .await;
    let copies = sink
        .messages()
        .iter()
        .filter(|m| m.header("message-id") == mail.header("message-id"))
        .count();
    assert_eq!(copies, 1);
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("troupe_outbox_sent_total{kind=\"email\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn with_no_smtp_server_email_is_an_eml_file_that_the_log_names() {
    let app =
        TestApp::spawn(Options::default().env("TROUPE__AUTH__ADMIN_USERNAMES", "[\"boss\"]")).await;
    let admin = app.user("boss").await;
    let r = app
        .request(
            Method::POST,
            "/api/v1/admin/email/test",
            Some(&admin),
            Some(json!({"to": "ops@example.org"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = app.data_dir.join("mail").join(format!("{key}.eml"));
    let text = eventually(WITHIN, || async { std::fs::read_to_string(&file).ok() }).await;
    assert!(text.contains("Subject: A test email from troupe"), "{text}");
    assert!(text.contains("multipart/alternative"), "{text}");
    let logs = eventually(WITHIN, || async {
        let l = app.logs();
        l.contains(&file.display().to_string()).then_some(l)
    })
    .await;
    assert!(logs.contains("email written to a file"));
}
