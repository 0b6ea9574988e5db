//! Email through a real SMTP server (aiosmtpd with its Maildir handler, `harness::SmtpSink`):
//! the outbox keeps a message while the server is down, across a `kill -9`, and sends it once
//! when the server is back (the same `Message-ID` on every attempt).

use crate::harness::{eventually, problem, Options, ParsedMail, SmtpSink, TestApp};
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
    // Every mail this process sent arrived once (registration also mails a verification link).
    eventually(WITHIN, || async {
        let n = sink.messages().len();
        let metrics = app.get("/metrics", None).await.text().await.unwrap();
        metrics
            .contains(&format!("troupe_outbox_sent_total{{kind=\"email\"}} {n}"))
            .then_some(())
    })
    .await;
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

async fn put_settings(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app
        .request(
            Method::PUT,
            "/api/v1/users/me/notification-settings",
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn subscribe(app: &TestApp, token: &str, handle: &str) {
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/users/me/subscriptions/{handle}"),
            Some(token),
            None,
        )
        .await;
    assert!(r.status().is_success(), "subscribe: {}", r.status());
}

async fn inbox_has(app: &TestApp, token: &str, who: &str) -> bool {
    let r = app
        .get(
            "/api/v1/users/me/notifications?type=new_subscriber",
            Some(token),
        )
        .await;
    let page: Value = r.json().await.unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["actor"]["username"] == who)
}

/// The path of a `List-Unsubscribe: <url>` header, checked to be under the public URL.
fn unsubscribe_path(app: &TestApp, header: &str) -> String {
    let url = header.trim().trim_start_matches('<').trim_end_matches('>');
    let base = format!("http://{}", app.addr);
    assert!(url.starts_with(&base), "{url} is not under {base}");
    url[base.len()..].to_owned()
}

#[tokio::test]
async fn instant_notification_email_then_one_click_unsubscribe_turns_that_type_off() {
    let sink = SmtpSink::start().await;
    let options =
        sink.options(Options::default().env("TROUPE__AUTH__ADMIN_USERNAMES", "[\"alice\"]"));
    let app = TestApp::spawn(options).await;
    let alice = app.user("alice").await;
    // Email at once, and nothing in the web inbox: email works with `web` off.
    let s = put_settings(
        &app,
        &alice,
        json!({"new_subscriber": {"web": false, "email": "instant"}}),
    )
    .await;
    assert_eq!(s["new_subscriber"]["email"], "instant");

    let bob = app.user("bob").await;
    subscribe(&app, &bob, "alice").await;
    let mail = sink
        .wait_for(WITHIN, |m| {
            m.to == "alice@example.org" && !is_verification(m)
        })
        .await;
    assert_eq!(mail.subject, "bob subscribed to alice");
    assert_eq!(mail.content_type, "multipart/alternative");
    let text = mail.text.as_deref().unwrap();
    let html = mail.html.as_deref().unwrap();
    assert!(
        text.contains("bob subscribed to alice") && text.contains("/c/alice"),
        "{text}"
    );
    assert!(
        html.contains("bob subscribed to alice") && html.contains("/c/alice\""),
        "{html}"
    );
    assert_eq!(
        mail.header("list-unsubscribe-post"),
        Some("List-Unsubscribe=One-Click")
    );
    let message_id = mail.header("message-id").unwrap().to_owned();
    assert!(
        message_id.starts_with("<notif.new_subscriber-") && message_id.ends_with("@127.0.0.1>"),
        "{message_id}"
    );
    assert!(
        !inbox_has(&app, &alice, "bob").await,
        "web is off for this type"
    );
    let path = unsubscribe_path(&app, mail.header("list-unsubscribe").unwrap());

    // The link's page changes nothing; a forged token is refused.
    let r = app.get(&path, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("<form method=\"post\">") && page.contains("new subscribers"),
        "{page}"
    );
    let settings: Value = app
        .get("/api/v1/users/me/notification-settings", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings["new_subscriber"]["email"], "instant");
    let forged = format!("{}x", path.trim_end_matches('/'));
    let r = app
        .client
        .post(app.url(&forged))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_unsubscribe_token").await;

    // As a mail client does it: a POST with the form body, no cookies, no token, and the
    // answer is no redirect.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(app.url(&path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Unsubscribed"));
    let settings: Value = app
        .get("/api/v1/users/me/notification-settings", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings["new_subscriber"]["email"], "off");
    assert_eq!(settings["new_subscriber"]["web"], false);
    // Multipart works too (and it is idempotent).
    let boundary = "----troupe-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--{boundary}--\r\n"
    );
    let r = client
        .post(app.url(&path))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // The next notification of that type sends no email. The inbox stores a notification
    // only after its email is queued, so once carol's is listed, any email would be in the
    // outbox or at the sink.
    put_settings(&app, &alice, json!({"new_subscriber": {"web": true}})).await;
    let carol = app.user("carol").await;
    subscribe(&app, &carol, "alice").await;
    eventually(WITHIN, || async {
        inbox_has(&app, &alice, "carol").await.then_some(())
    })
    .await;
    eventually(WITHIN, || async {
        outbox(&app, &alice).await.is_empty().then_some(())
    })
    .await;
    let to_alice = sink
        .messages()
        .into_iter()
        .filter(|m| m.to == "alice@example.org" && !is_verification(m))
        .count();
    assert_eq!(to_alice, 1);
}

#[tokio::test]
async fn a_digest_groups_what_arrived_by_type_and_channel_and_nothing_is_sent_for_nothing() {
    let sink = SmtpSink::start().await;
    let options = sink
        .options(Options::default().env("TROUPE__AUTH__ADMIN_USERNAMES", "[\"alice\"]"))
        .env("TROUPE__EMAIL__DIGEST_EVERY_SECS", "4");
    let app = TestApp::spawn(options).await;
    let alice = app.user("alice").await;
    // A second channel of alice's.
    let r = app
        .request(
            Method::POST,
            "/api/v1/channels",
            Some(&alice),
            Some(json!({"handle": "alice.music", "display_name": "Alice Music"})),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    put_settings(&app, &alice, json!({"new_subscriber": {"email": "digest"}})).await;

    // Bad digest settings, then good ones.
    for bad in [
        json!({"digest_hour": 24}),
        json!({"time_zone": "Mars/Olympus"}),
        json!({"digest_hour": -1}),
    ] {
        let r = app
            .request(
                Method::PUT,
                "/api/v1/users/me/digest-settings",
                Some(&alice),
                Some(bad),
            )
            .await;
        problem(r, 422, "invalid_settings").await;
    }
    let r = app
        .request(
            Method::PUT,
            "/api/v1/users/me/digest-settings",
            Some(&alice),
            Some(json!({"digest_hour": 7, "time_zone": "Europe/Paris"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["digest_hour"].as_u64(), v["time_zone"].as_str()),
        (Some(7), Some("Europe/Paris"))
    );
    assert_eq!(v["pending"], 0);
    assert!(
        v["next_due_at"].is_null(),
        "nothing waits, so nothing is due: {v}"
    );

    for (who, handle) in [
        ("bob", "alice"),
        ("carol", "alice"),
        ("dave", "alice.music"),
    ] {
        let t = app.user(who).await;
        subscribe(&app, &t, handle).await;
    }
    let mail = sink
        .wait_for(WITHIN, |m| {
            m.to == "alice@example.org" && !is_verification(m)
        })
        .await;
    assert_eq!(mail.subject, "Your daily summary from troupe: 3 new");
    let text = mail.text.as_deref().unwrap();
    assert!(text.contains("== New subscribers · alice (2) =="), "{text}");
    assert!(
        text.contains("== New subscribers · Alice Music (1) =="),
        "{text}"
    );
    assert!(
        text.contains("- bob subscribed to alice") && text.contains("- carol subscribed to alice"),
        "{text}"
    );
    assert!(text.contains("- dave subscribed to Alice Music"), "{text}");
    let html = mail.html.as_deref().unwrap();
    assert!(html.contains("New subscribers · Alice Music (1)"), "{html}");
    assert_eq!(
        mail.header("list-unsubscribe-post"),
        Some("List-Unsubscribe=One-Click")
    );

    // Sent and cleared: nothing waits, nothing is due.
    let v: Value = eventually(WITHIN, || async {
        let v: Value = app
            .get("/api/v1/users/me/digest-settings", Some(&alice))
            .await
            .json()
            .await
            .unwrap();
        (v["pending"] == 0 && v["last_sent_at"].is_string()).then_some(v)
    })
    .await;
    assert!(v["next_due_at"].is_null(), "{v}");
    // Three periods with nothing: no second digest.
    let quiet_until = std::time::Instant::now() + Duration::from_secs(12);
    while std::time::Instant::now() < quiet_until {
        let n = sink
            .messages()
            .iter()
            .filter(|m| m.to == "alice@example.org" && !is_verification(m))
            .count();
        assert_eq!(n, 1, "a digest was sent for nothing");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The digest's one-click link turns the digest off.
    let path = unsubscribe_path(&app, mail.header("list-unsubscribe").unwrap());
    let r = app
        .client
        .post(app.url(&path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let settings: Value = app
        .get("/api/v1/users/me/notification-settings", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings["new_subscriber"]["email"], "off");
}

/// The address-verification mail every registration sends (issue 24's account lifecycle): the
/// notification tests here count only the mail they cause.
fn is_verification(m: &ParsedMail) -> bool {
    m.subject.starts_with("Confirm your email")
}

/// What `cmd` prints, once it has succeeded (a tool the test needs: `openssl`, `python3` with
/// dkimpy from `. scripts/lib.sh; ensure_dkimpy`).
fn output(cmd: &mut std::process::Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} did not start: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A new RSA key for DKIM in `dir`: the PKCS#1 PEM file troupe signs with, and the public key
/// (base64 DER) an operator would publish in DNS.
fn dkim_key(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let pem = dir.join("dkim.pem");
    output(
        std::process::Command::new("openssl")
            .args(["genrsa", "-traditional", "-out"])
            .arg(&pem)
            .arg("2048"),
    );
    let der = output(
        std::process::Command::new("openssl")
            .args(["rsa", "-pubout", "-outform", "DER", "-in"])
            .arg(&pem),
    );
    use base64::Engine;
    let public = base64::engine::general_purpose::STANDARD.encode(der);
    (pem, public)
}

#[tokio::test]
async fn dkim_signatures_verify_with_a_real_verifier_and_cover_the_unsubscribe_headers() {
    let keys = tempfile::tempdir().unwrap();
    let (pem, public) = dkim_key(keys.path());
    let sink = SmtpSink::start().await;
    let options = sink.options(
        Options::default()
            .env("TROUPE__EMAIL__DKIM_SELECTOR", "mail2026")
            .env("TROUPE__EMAIL__DKIM_DOMAIN", "example.org")
            .env("TROUPE__EMAIL__DKIM_KEY_FILE", pem.display().to_string()),
    );
    let app = TestApp::spawn(options).await;
    let alice = app.user("alice").await;
    put_settings(
        &app,
        &alice,
        json!({"new_subscriber": {"web": true, "email": "instant"}}),
    )
    .await;
    let bob = app.user("bob").await;
    subscribe(&app, &bob, "alice").await;
    sink.wait_for(WITHIN, |m| {
        m.to == "alice@example.org" && m.subject == "bob subscribed to alice"
    })
    .await;

    // dkimpy, given the public key as the DNS TXT record `mail2026._domainkey.example.org`.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/dkim_verify.py");
    let out = output(
        std::process::Command::new("python3")
            .arg(script)
            .arg(&sink.dir)
            .arg(&public),
    );
    let checked: Vec<Value> = serde_json::from_slice(&out).unwrap();
    // The verification mails of both registrations, and the notification.
    assert!(checked.len() >= 3, "{checked:#?}");
    for m in &checked {
        assert_eq!(m["signed"], true, "unsigned: {}", m["raw"]);
        assert_eq!(m["verified"], true, "does not verify: {}", m["raw"]);
        assert_eq!(m["domain"], "example.org");
        assert_eq!(m["selector"], "mail2026");
        let signed: Vec<&str> = m["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        for h in ["from", "to", "subject", "date", "message-id"] {
            assert!(signed.contains(&h), "{h} is not signed: {signed:?}");
        }
    }
    let notice = checked
        .iter()
        .find(|m| m["subject"] == "bob subscribed to alice")
        .unwrap();
    let signed = notice["headers"].as_array().unwrap();
    for h in ["list-unsubscribe", "list-unsubscribe-post"] {
        assert!(
            signed.iter().any(|s| s == h),
            "{h} is not signed: {signed:?}"
        );
    }
    // A forged unsubscribe link breaks the signature (the check can fail).
    assert_eq!(notice["tampered_verified"], false, "{}", notice["raw"]);
}

#[tokio::test]
async fn mail_owed_by_a_node_killed_while_smtp_is_down_is_sent_once_by_the_survivors() {
    use crate::cluster::{Cluster, Spec};
    let mut sink = SmtpSink::down_at_first();
    // Retries every 1-2 s for about 40 s, and sweeps every 2 s, so the test need not wait
    // for the defaults (a minute, 30 s).
    let schedule = format!("[1{}]", ", 2".repeat(20));
    let env = [
        ("TROUPE__EMAIL__SMTP_URL", sink.url()),
        ("TROUPE__EMAIL__RETRY_SCHEDULE_SECS", schedule),
        ("TROUPE__OUTBOX__SWEEP_SECS", "2".to_owned()),
        ("TROUPE__AUTH__ADMIN_USERNAMES", "[\"boss\"]".to_owned()),
    ];
    let mut c = Cluster::start_with_env(
        Spec {
            nodes: 3,
            proxied: false,
        },
        &env,
    )
    .await;
    let admin = c.nodes[0].user("boss").await;
    // 24 mails queued through node 0 while the SMTP server is down. Their deliveries are
    // owned by key across the three nodes (node 2 owns none of them with odds of 1 in 17,000).
    let mut keys = std::collections::BTreeSet::new();
    for i in 0..24 {
        let r = c.nodes[0]
            .request(
                Method::POST,
                "/api/v1/admin/email/test",
                Some(&admin),
                Some(json!({"to": format!("ops{i}@example.org")})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let key = r.json::<Value>().await.unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned();
        keys.insert(key);
    }
    c.nodes[2].kill9();
    sink.up().await;

    let ours = |sink: &SmtpSink| -> Vec<String> {
        sink.messages()
            .into_iter()
            .filter(|m| m.to.starts_with("ops"))
            .map(|m| m.header("message-id").unwrap_or_default().to_owned())
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while ours(&sink).len() < keys.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {} mails arrived after a node died: {:?}",
            ours(&sink).len(),
            keys.len(),
            ours(&sink)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every mail once: a few more retry periods bring no second copy.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let got = ours(&sink);
    let ids: std::collections::BTreeSet<String> = got
        .iter()
        .map(|id| {
            id.trim_start_matches('<')
                .split('@')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(got.len(), keys.len(), "a mail arrived twice: {got:?}");
    assert_eq!(ids, keys);
}
