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
