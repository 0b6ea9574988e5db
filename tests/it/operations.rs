//! Health, readiness, metrics, the OpenAPI document, request ids and unknown routes.

use crate::harness::*;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_and_readyz_checks_store_blobs_and_ffmpeg() {
    let app = TestApp::spawn(Options::default()).await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");
    let r = app.get("/readyz", None).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["store"]["ok"], true, "{body}");
    assert_eq!(body["blobs"]["ok"], true, "{body}");
    // The test command installs ffmpeg, so this node must be ready.
    assert_eq!(
        body["ffmpeg"]["ok"], true,
        "ffmpeg must be installed for the suite: {body}"
    );
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ffmpeg_the_server_runs_but_is_not_ready_and_says_how_to_install_it() {
    let app =
        TestApp::spawn(Options::default().env("TROUPE__MEDIA__FFMPEG", "/nonexistent/ffmpeg"))
            .await;
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    let detail = body["ffmpeg"]["detail"].as_str().unwrap();
    assert!(detail.contains("apt-get install ffmpeg"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_cover_http_actors_and_store_flushes() {
    let app = TestApp::spawn(Options::default()).await;
    app.user("henry").await;
    // A path no route matches (outside the API it would be a console page).
    app.get("/api/v1/nope", None).await;
    let text = app.get("/metrics", None).await.text().await.unwrap();
    for needle in [
        r#"troupe_http_requests_total{method="POST",route="/api/v1/auth/register",status="201"} 1"#,
        r#"troupe_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"troupe_http_request_duration_seconds_bucket{method="POST",route="/api/v1/auth/login",le="#,
        r#"troupe_actor_activations_total{kind="user"}"#,
        r#"troupe_actors_active{kind="user"}"#,
        "troupe_store_flush_seconds_bucket",
        "troupe_store_flush_batch_size_bucket",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passivation_shows_in_metrics_and_state_survives_it() {
    let app =
        TestApp::spawn(Options::default().env("TROUPE__ACTORS__IDLE_TIMEOUT_SECS", "1")).await;
    let token = app.user("ivy").await;
    eventually(std::time::Duration::from_secs(10), || async {
        let text = app.get("/metrics", None).await.text().await.unwrap();
        text.contains(r#"troupe_actor_passivations_total{kind="user"}"#)
            .then_some(())
    })
    .await;
    let me: Value = app
        .get("/api/v1/users/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "ivy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_covers_every_route_and_matches_the_committed_copy() {
    let app = TestApp::spawn(Options::default()).await;
    let doc: Value = app
        .get("/api/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/api/openapi.json", "get"),
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/admin/users/{username}", "get"),
        ("/api/v1/admin/users/{username}/plan", "put"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from OpenAPI"
        );
    }
    let committed: Value = serde_json::from_str(include_str!("../../docs/openapi.json")).unwrap();
    assert_eq!(
        doc, committed,
        "docs/openapi.json is stale: run `cargo run -q -- openapi > docs/openapi.json`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_a_request_id_and_unknown_routes_are_problems() {
    let app = TestApp::spawn(Options::default()).await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36);
    let r = app.get("/api/v1/nothing-here", None).await;
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    problem(r, 404, "not_found").await;
    // The access log is JSON, one object per line, with the request id.
    let logs = eventually(std::time::Duration::from_secs(5), || async {
        let logs = app.logs();
        logs.contains(&id).then_some(logs)
    })
    .await;
    let line = logs.lines().find(|l| l.contains(&id)).unwrap();
    let v: Value = serde_json::from_str(line).expect("JSON log line");
    assert_eq!(v["status"], 404);
    assert_eq!(v["span"]["request_id"], id);
}
