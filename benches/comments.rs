//! Comments on one node: a hot video, and the first page of a video with 100,000 comments.
//!
//! ```text
//! cargo bench --bench comments
//! COMMENTS_BENCH_RATE=1000 COMMENTS_BENCH_USERS=1000 COMMENTS_BENCH_WATCHERS=10000 \
//!   COMMENTS_BENCH_SECS=10 COMMENTS_BENCH_ROUNDS=3 COMMENTS_BENCH_BIG=100000 cargo bench --bench comments
//! ```
//!
//! One release `troupe serve` on a fresh data dir, the comment rate limit raised through its
//! configuration (`comments.rate_per_minute`, `comments.burst`) and the request rate limit
//! off. Users are access tokens signed with the server's secret (the bench sets it).
//!
//! - **Hot video**: `COMMENTS_BENCH_WATCHERS` anonymous clients hold the video's event stream
//!   open on raw connections; then, per round, `COMMENTS_BENCH_USERS` users post
//!   `COMMENTS_BENCH_RATE` comments a second for `COMMENTS_BENCH_SECS` seconds, open loop
//!   (each post starts on its schedule, whatever the others do). Each 201 means the comment
//!   is durable. Measured: the posts' latency (p50, p99), and for every watcher and comment
//!   the time from the post's start to the watcher reading its `comment` event (p50, p99),
//!   and how many events the watchers missed. Goals (issue 23): post p99 ≤ 50 ms, watcher
//!   p99 ≤ 1 s.
//! - **First page**: a second video gets `COMMENTS_BENCH_BIG` comments (posted through the
//!   API, 64 at a time), then one client reads `GET /api/v1/videos/{id}/comments` (the first
//!   page, 20 comments) 1,000 times per round, `sort=new` and `sort=top` alternately. Goal:
//!   p99 ≤ 20 ms. Also printed: the first read after a restart (activation reads every page).

#[path = "common/mod.rs"]
mod common;

use base64::Engine;
use common::{free_port, register, serve, troupe_bin, Percentiles};
use futures::StreamExt;
use hmac::Mac;
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";
const PASSWORD: &str = "violet-harbor-cinnamon-42";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An access token like `model`, for another user, signed with the bench's secret.
fn token_for(model: &str, name: &str, uid: uuid::Uuid) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = model.split('.').nth(1).unwrap();
    let mut claims: Value = serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
    claims["sub"] = json!(name);
    claims["uid"] = json!(uid);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 24 * 3600);
    let head = b64.encode(serde_json::to_vec(&json!({"alg": "HS256", "typ": "JWT"})).unwrap());
    let body = b64.encode(serde_json::to_vec(&claims).unwrap());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{head}.{body}").as_bytes());
    let sig = b64.encode(mac.finalize().into_bytes());
    format!("{head}.{body}.{sig}")
}

/// Latencies in milliseconds, counted per millisecond up to a minute, shared by every watcher.
struct Histogram(Vec<AtomicU64>);

impl Histogram {
    fn new() -> Self {
        Histogram((0..60_001).map(|_| AtomicU64::new(0)).collect())
    }
    fn add(&self, ms: u64) {
        self.0[ms.min(60_000) as usize].fetch_add(1, Ordering::Relaxed);
    }
    fn reset(&self) {
        for b in &self.0 {
            b.store(0, Ordering::Relaxed);
        }
    }
    fn count(&self) -> u64 {
        self.0.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }
    fn quantile(&self, q: f64) -> u64 {
        let n = self.count();
        let want = ((n as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (ms, b) in self.0.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= want.max(1) {
                return ms as u64;
            }
        }
        60_000
    }
}

/// Start times of the posts of the current round, by index, in µs since the bench began.
struct Sent {
    at: Vec<AtomicU64>,
    round: AtomicUsize,
}

/// A raw SSE connection to the video's stream: for each `comment` event of the current
/// round, the time since its post started.
async fn watch(
    addr: String,
    video: String,
    opened: Arc<AtomicUsize>,
    sent: Arc<Sent>,
    hist: Arc<Histogram>,
    epoch: Instant,
) {
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let req = format!(
        "GET /api/v1/videos/{video}/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut text: Vec<u8> = Vec::new();
    let mut counted = false;
    const MARK: &[u8] = b"\"text\":\"r";
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let now = epoch.elapsed().as_micros() as u64;
        text.extend_from_slice(&buf[..n]);
        if !counted && text.windows(11).any(|w| w == b"event: vide") {
            counted = true;
            opened.fetch_add(1, Ordering::Relaxed);
        }
        // Texts are "r<round>c<index> ...".
        let mut from = 0;
        while let Some(i) = find(&text[from..], MARK) {
            let start = from + i + MARK.len();
            let Some(end) = text[start..].iter().position(|b| *b == b' ') else {
                break;
            };
            let tag = std::str::from_utf8(&text[start..start + end]).unwrap_or("");
            if let Some((round, idx)) = tag.split_once('c') {
                let (round, idx): (usize, usize) = (
                    round.parse().unwrap_or(0),
                    idx.parse().unwrap_or(usize::MAX),
                );
                if round == sent.round.load(Ordering::Relaxed) {
                    if let Some(t) = sent.at.get(idx) {
                        let t = t.load(Ordering::Relaxed);
                        if t > 0 {
                            hist.add(now.saturating_sub(t) / 1000);
                        }
                    }
                }
            }
            from = start + end;
        }
        text.drain(..from);
        if text.len() > 256 * 1024 {
            text.clear();
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn new_video(c: &reqwest::Client, url: &str, token: &str, title: &str) -> String {
    let v: Value = c
        .post(format!("{url}/api/v1/videos"))
        .bearer_auth(token)
        .json(&json!({"title": title, "visibility": "public"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["id"].as_str().unwrap().to_owned()
}

fn median_spread(v: &[f64]) -> String {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    format!("{:.1} [{:.1}-{:.1}]", s[s.len() / 2], s[0], s[s.len() - 1])
}

#[tokio::main]
async fn main() {
    let rate = env_usize("COMMENTS_BENCH_RATE", 1000);
    let users = env_usize("COMMENTS_BENCH_USERS", 1000);
    let watchers = env_usize("COMMENTS_BENCH_WATCHERS", 10_000);
    let secs = env_usize("COMMENTS_BENCH_SECS", 10);
    let rounds = env_usize("COMMENTS_BENCH_ROUNDS", 3);
    let big = env_usize("COMMENTS_BENCH_BIG", 100_000);
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = tmp.path().join("data");
    let command = || {
        let mut cmd = Command::new(troupe_bin("comments"));
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("RUST_LOG")
        .env("TROUPE__LOG__LEVEL", "warn")
        .env("TROUPE__AUTH__JWT_SECRET", SECRET)
        .env("TROUPE__RATE_LIMIT__ENABLED", "false")
        .env("TROUPE__COMMENTS__RATE_PER_MINUTE", "6000000")
        .env("TROUPE__COMMENTS__BURST", "1000000");
        cmd
    };
    let (proc, addr) = serve(command(), tmp.path().join("troupe.log")).await;
    let url = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let owner = register(&client, &url, "creator", PASSWORD).await;
    let tokens: Vec<String> = (0..users)
        .map(|i| token_for(&owner.token, &format!("fan{i}"), uuid::Uuid::new_v4()))
        .collect();

    // Hot video.
    let hot = new_video(&client, &url, &owner.token, "hot").await;
    let per_round = rate * secs;
    let epoch = Instant::now();
    let sent = Arc::new(Sent {
        at: (0..per_round).map(|_| AtomicU64::new(0)).collect(),
        round: AtomicUsize::new(0),
    });
    let hist = Arc::new(Histogram::new());
    let opened = Arc::new(AtomicUsize::new(0));
    for i in 0..watchers {
        tokio::spawn(watch(
            addr.clone(),
            hot.clone(),
            opened.clone(),
            sent.clone(),
            hist.clone(),
            epoch,
        ));
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while opened.load(Ordering::Relaxed) < watchers {
        assert!(
            Instant::now() < deadline,
            "only {} of {watchers} streams opened",
            opened.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("{watchers} event streams open on the hot video");
    let (mut post_p50, mut post_p99, mut sse_p50, mut sse_p99, mut missed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        hist.reset();
        for t in &sent.at {
            t.store(0, Ordering::Relaxed);
        }
        sent.round.store(round, Ordering::Relaxed);
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::with_capacity(per_round);
        for i in 0..per_round {
            let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
            let (client, url, hot, token, sent) = (
                client.clone(),
                url.clone(),
                hot.clone(),
                tokens[i % users].clone(),
                sent.clone(),
            );
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(due).await;
                let t0 = Instant::now();
                sent.at[i].store(epoch.elapsed().as_micros() as u64, Ordering::Relaxed);
                let r = client
                    .post(format!("{url}/api/v1/videos/{hot}/comments"))
                    .bearer_auth(&token)
                    .json(&json!({"text": format!("r{round}c{i} a comment from a fan")}))
                    .send()
                    .await;
                let ok = matches!(&r, Ok(r) if r.status().as_u16() == 201);
                (ok, t0.elapsed().as_secs_f64() * 1000.0)
            }));
        }
        let mut lat = Vec::with_capacity(per_round);
        let mut failed = 0;
        for t in tasks {
            let (ok, ms) = t.await.unwrap();
            if ok {
                lat.push(ms);
            } else {
                failed += 1;
            }
        }
        let posting = start.elapsed().as_secs_f64();
        // Every watcher should hear every comment; wait until they have, or 30 s.
        let want = (per_round * watchers) as u64;
        let wait = Instant::now() + Duration::from_secs(30);
        while hist.count() < want && Instant::now() < wait {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let p = Percentiles::of(lat);
        let heard = hist.count();
        println!(
            "round {round}: {per_round} posts in {posting:.1} s ({failed} failed); post p50 {:.1} ms, p99 {:.1} ms, max {:.0} ms; \
             watchers heard {heard} of {want} events, p50 {} ms, p99 {} ms",
            p.p50,
            p.p99,
            p.max,
            hist.quantile(0.5),
            hist.quantile(0.99),
        );
        post_p50.push(p.p50);
        post_p99.push(p.p99);
        sse_p50.push(hist.quantile(0.5) as f64);
        sse_p99.push(hist.quantile(0.99) as f64);
        missed.push((want - heard.min(want)) as f64 / want.max(1) as f64 * 100.0);
    }
    println!(
        "hot video, {rate}/s from {users} users, {watchers} watchers, {rounds} rounds, median [min-max]: \
         post p50 {} ms, p99 {} ms (goal 50); watcher p50 {} ms, p99 {} ms (goal 1000); missed {} %",
        median_spread(&post_p50),
        median_spread(&post_p99),
        median_spread(&sse_p50),
        median_spread(&sse_p99),
        median_spread(&missed),
    );

    // The first page of a big video.
    let video = new_video(&client, &url, &owner.token, "big").await;
    let started = Instant::now();
    futures::stream::iter(0..big)
        .map(|i| {
            let (client, url, video, token) = (&client, &url, &video, &tokens[i % users]);
            async move {
                let r = client
                    .post(format!("{url}/api/v1/videos/{video}/comments"))
                    .bearer_auth(token)
                    .json(&json!({"text": format!("comment {i} on the big video")}))
                    .send()
                    .await
                    .expect("post");
                assert_eq!(r.status().as_u16(), 201);
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    println!(
        "{big} comments posted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let first_page = |sort: &'static str| {
        let (client, url, video) = (client.clone(), url.clone(), video.clone());
        async move {
            let t = Instant::now();
            let r = client
                .get(format!("{url}/api/v1/videos/{video}/comments?sort={sort}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["total"].as_u64(), Some(big as u64));
            t.elapsed().as_secs_f64() * 1000.0
        }
    };
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let mut lat = Vec::new();
        for i in 0..1000 {
            lat.push(first_page(if i % 2 == 0 { "new" } else { "top" }).await);
        }
        let p = Percentiles::of(lat);
        println!(
            "first page, round {round}: p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
            p.p50, p.p99, p.max
        );
        p50s.push(p.p50);
        p99s.push(p.p99);
    }
    println!(
        "first page of a {big}-comment video, {rounds} rounds of 1,000, median [min-max]: p50 {} ms, p99 {} ms (goal 20)",
        median_spread(&p50s),
        median_spread(&p99s),
    );
    // Activation: the first read after a restart reads every page.
    drop(proc);
    let (_proc, addr) = serve(command(), tmp.path().join("troupe2.log")).await;
    let url = format!("http://{addr}");
    let t = Instant::now();
    let r = client
        .get(format!("{url}/api/v1/videos/{video}/comments"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    println!(
        "first read after a restart (activation of {big} comments): {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
}
