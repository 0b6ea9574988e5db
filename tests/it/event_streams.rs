//! A client that closes its event stream is noticed: its subscription is dropped, and
//! `troupe_sse_subscribers` goes back down, within two keep-alive periods
//! (`media.events_keepalive_ms`, 1.5 s by default, so within 3 s; the test allows 10 s for a
//! loaded machine and prints how long it took).

use crate::harness::*;
use crate::media::new_video;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

async fn subscribers(app: &TestApp) -> f64 {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("troupe_sse_subscribers "))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

/// Opens the video's event stream on a connection of its own and reads its first event.
fn subscribe(app: &TestApp, video: &str, token: &str) -> TcpStream {
    let mut s = TcpStream::connect(&app.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET /api/v1/videos/{video}/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n",
        app.addr
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("event: video") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_event_stream_is_dropped_within_two_keepalives() {
    let app = TestApp::spawn(Options::default()).await;
    let alice = app.user("alice").await;
    let video = new_video(&app, &alice, "watched", "public").await;
    let video = video["id"].as_str().unwrap().to_owned();
    assert_eq!(subscribers(&app).await, 0.0);

    let (v, t) = (video.clone(), alice.clone());
    let app = std::sync::Arc::new(app);
    let app2 = app.clone();
    let stream = tokio::task::spawn_blocking(move || subscribe(&app2, &v, &t))
        .await
        .unwrap();
    assert_eq!(subscribers(&app).await, 1.0);

    // The client goes away without a word, as a closed browser tab does.
    drop(stream);
    let closed = Instant::now();
    let deadline = closed + Duration::from_secs(10);
    loop {
        let n = subscribers(&app).await;
        if n == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "10 s after the client closed its stream, troupe_sse_subscribers is still {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "the closed stream was dropped after {:.1} s",
        closed.elapsed().as_secs_f64()
    );
}

/// Reads one video's event stream and, on each `video` event, reads the video (and its poster
/// when the event says it has one) at once, as the console does: the read must show the
/// event's version or a newer one. Returns how many events it checked, and what it found
/// wrong. Stops at the event whose title is `last`.
async fn read_back_each_event(
    app: std::sync::Arc<TestApp>,
    id: String,
    token: String,
    last: &'static str,
) -> (usize, Vec<String>) {
    let mut sse = app
        .client
        .get(app.url(&format!("/api/v1/videos/{id}/events")))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), reqwest::StatusCode::OK);
    let (mut checked, mut wrong) = (0, Vec::new());
    let mut buf = String::new();
    while let Ok(Some(chunk)) = sse.chunk().await {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let ev: String = buf.drain(..end + 2).collect();
            if !ev.lines().any(|l| l == "event: video") {
                continue;
            }
            let data = ev.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            let heard: serde_json::Value = serde_json::from_str(data).unwrap();
            let version = heard["version"].as_u64().unwrap();
            let r = app.get(&format!("/api/v1/videos/{id}"), Some(&token)).await;
            let status = r.status();
            let read: serde_json::Value = r.json().await.unwrap();
            checked += 1;
            match read["version"].as_u64() {
                Some(v) if status.is_success() && v >= version => {}
                _ => wrong.push(format!(
                    "heard version {version} ({}), then GET answered {status}: version {}",
                    heard["state"], read["version"]
                )),
            }
            if let Some(poster) = heard["thumbnail_url"].as_str() {
                let r = app.get(poster, Some(&token)).await;
                let status = r.status();
                let bytes = r.bytes().await.unwrap();
                if !(status.is_success() && bytes.starts_with(&[0xFF, 0xD8])) {
                    wrong.push(format!(
                        "heard version {version} with a poster, then GET {poster} answered {status}"
                    ));
                }
            }
            if heard["title"] == last {
                return (checked, wrong);
            }
        }
    }
    panic!("the event stream ended before the title {last:?} was announced");
}

/// Changes the video's title `n` times from each of `writers` concurrent clients.
async fn edit_titles(
    app: &std::sync::Arc<TestApp>,
    id: &str,
    token: &str,
    writers: usize,
    n: usize,
) {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (app, id, token) = (app.clone(), id.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                let r = app
                    .request(
                        reqwest::Method::PATCH,
                        &format!("/api/v1/videos/{id}"),
                        Some(&token),
                        Some(serde_json::json!({"title": format!("edit {w}.{i}")})),
                    )
                    .await;
                assert_eq!(
                    r.status(),
                    reqwest::StatusCode::OK,
                    "{}",
                    r.text().await.unwrap()
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// A client that hears of a new version on the event stream and reads the video at once gets
/// that version or a newer one, and the poster once the event says there is one: changes are
/// announced only once they are durable (and so visible). Titles are edited by concurrent
/// clients (so that writes share group commits) while the video uploads and transcodes and
/// after it is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoever_hears_of_a_version_can_read_it_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let app = std::sync::Arc::new(TestApp::spawn(crate::media::media_options()).await);
    let alice = app.user("alice").await;
    let video = new_video(&app, &alice, "heard", "public").await;
    let id = video["id"].as_str().unwrap().to_owned();
    let reader = tokio::spawn(read_back_each_event(
        app.clone(),
        id.clone(),
        alice.clone(),
        "last",
    ));
    // The reader is subscribed once the subscriber gauge says so.
    crate::harness::eventually(Duration::from_secs(30), || async {
        (subscribers(&app).await >= 1.0).then_some(())
    })
    .await;

    let data = std::fs::read(crate::media::clip(tmp.path(), "in.mp4", 320, 240, 3, true)).unwrap();
    let upload = {
        let (app, id, alice) = (app.clone(), id.clone(), alice.clone());
        tokio::spawn(async move { crate::media::upload(&app, &alice, &id, &data, 64 * 1024).await })
    };
    edit_titles(&app, &id, &alice, 4, 15).await;
    upload.await.unwrap();
    crate::media::wait_state(&app, &alice, &id, "ready", Duration::from_secs(180)).await;
    edit_titles(&app, &id, &alice, 4, 15).await;
    let r = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/videos/{id}"),
            Some(&alice),
            Some(serde_json::json!({"title": "last"})),
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);

    let (checked, wrong) = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the last title is announced")
        .unwrap();
    println!("{checked} events read back, {} wrong", wrong.len());
    assert!(
        wrong.is_empty(),
        "{} of {checked} reads were behind their event:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(checked >= 20, "only {checked} events heard");
}
