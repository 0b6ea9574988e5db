//! Load benchmark of the playback API (issue 5), with a real `troupe serve` process driven over
//! HTTP by this one.
//!
//! What it measures, in one run:
//!
//! 1. **Ratings against redis.** `redis-benchmark -t incr -c 32 -n 300000 -q` (no pipelining)
//!    against a `redis-server` without persistence gives a reference rate of small writes (the
//!    median of [`REDIS_ROUNDS`] runs). For comparison only, not the goal, the same against a
//!    `redis-server` that fsyncs every write before answering (`appendfsync always`), as
//!    troupe does: the last column of the table.
//!    Then one troupe node on sled (temp data dir, rate limiting off) with [`USERS`] registered
//!    users and [`VIDEOS`] public videos (created, never uploaded) takes
//!    `PUT /api/v1/videos/{id}/rating` with a random user, video and rating
//!    (`like`/`dislike`/`none`) from 64, 128 and 256 concurrent keep-alive connections, each for
//!    [`RATING_WARMUP`] + [`RATING_RUN`]. Only 200 answers count as rating changes (the answer
//!    means the change is durable). Prints ratings/s, p50/p99 latency, errors, the mean write
//!    batch sizes the server reports in `/metrics` during the run, the CPU the server's threads
//!    (by name) and the generator used, and troupe/redis (goal ≥ 0.5). Each user is driven by one connection at a time, so the last acknowledged rating of
//!    every (user, video) pair is its final rating; afterwards the likes and dislikes of every
//!    video (`GET /api/v1/videos/{id}`) are compared with what the bench's record implies:
//!    "totals exact: yes/no".
//! 2. **Sustained heartbeats.** The same node: [`USERS`] users are put on the `ultimate` plan
//!    (6 streams) and each starts [`DEVICES`] playback sessions, one per device, on one of
//!    [`READY_VIDEOS`] ready videos (uploaded with tus and transcoded during the setup):
//!    10,000 viewers. Registering 10,000 users would take minutes of argon2 (two hashes per
//!    user), so 2,000 users × 5 devices it is. Each viewer then sends
//!    `POST /api/v1/playback/sessions/{sid}/heartbeat` every [`HB_INTERVAL`] with jitter and an
//!    advancing position over its own keep-alive connection, open loop (on schedule, whatever
//!    the server's latency; latency is measured from the scheduled time), for [`HB_WARMUP`] +
//!    [`HB_RUN`]: 5,000 heartbeats/s. Prints the achieved rate and p50/p90/p99/max latency
//!    (goal p99 < 25 ms), and the same per 2-s slice of the run. The views the heartbeats count
//!    are part of the load: every session started within ~2 s, so all 10,000 viewers cross the
//!    10-s threshold within about 2 s of each other, a burst of durable view writes; the slices
//!    show it, and the p99 outside it is printed too.
//! 3. **Live fan-out.** A fresh node with one ready public video: [`SSE_CONNS`] concurrent
//!    `GET /api/v1/videos/{id}/events` streams (raw HTTP/1.1 over tokio TcpStreams, anonymous:
//!    the video is public). Once every stream has its first `event: video`, the server's RSS
//!    growth per subscriber (goal ≤ 16 KiB) and `troupe_sse_subscribers` are printed; then a user
//!    rates the video [`SSE_ROUNDS`] times (like, none, like) and the bench records when each
//!    stream receives the `event: counts` with the new likes: p50/p99/max delivery time and how
//!    many streams got it within 1 s (goal: all). For comparison it also measures, on another
//!    fresh node, the RSS of [`SSE_CONNS`] idle keep-alive connections (one `GET /healthz`
//!    each), the PUT's latency without subscribers, and how long the server takes to notice
//!    that every stream was closed (`troupe_sse_subscribers` back to 0).
//!
//! # Running
//!
//! ```sh
//! cargo bench --bench playback
//! ```
//!
//! Cargo builds the `troupe` binary first (bench profile, into `target/release/troupe`) and
//! gives its path as `CARGO_BIN_EXE_troupe`. Needs `ffmpeg` (test clips, and the server's
//! transcodes) and, for the reference, `redis-server` and `redis-benchmark`
//! (`apt-get install -y redis-server`; without them part 1 prints no ratio). Takes about
//! three to four minutes (registering 2,000 users is about one of them).
//! `PLAYBACK_BENCH_PARTS=13` runs only some parts; `PLAYBACK_BENCH_NO_PIN=1` turns CPU pinning
//! off; `PLAYBACK_BENCH_HB_CONNS=500` spreads the heartbeats over fewer connections. Every
//! process it starts is killed (SIGKILL) when the bench ends, also on panic.
//!
//! The server and the load generator share the machine. With `taskset` and at least 2 CPUs,
//! once the setup is done (registration hashes passwords on both cores), the server (all its
//! threads) is pinned to CPU 0 and this process to CPU 1; redis-server and redis-benchmark are
//! pinned the same way. The load itself goes through a minimal HTTP/1.1 client written here
//! (keep-alive, one request at a time per connection), far cheaper per request than reqwest;
//! reqwest does the setup. The bench tries to raise its open-file limit to [`NOFILE`] with
//! `prlimit` (the servers inherit it); where that is not permitted (a container without
//! `CAP_SYS_RESOURCE`) it says so and whether the current limit is enough for 10,000 streams.
//!
//! The server runs with `TROUPE__SERVER__WORKERS=1` (one core), rate limits off, `warn` logs
//! (so no access log), `TROUPE__PLAYBACK__STREAM_TIMEOUT_SECS=3600` and a day-long access-token
//! lifetime.

#[path = "common/mod.rs"]
mod common;

use base64::Engine;
use common::raw_http::{http_request, read_line, RawConn};
use common::{register, Percentiles, Proc, Rng, User};
use futures::stream::{self, StreamExt};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The password of every bench user (strong enough for the default policy).
const PASSWORD: &str = "violet-harbor-cinnamon-42";
/// The token signing secret (40 characters).
const SECRET: &str = "bench-secret-bench-secret-bench-secret-0";
/// `server.workers`: the server gets one core.
const WORKERS: &str = "1";
/// The open-file limit the bench asks for (10,000 streams on each side).
const NOFILE: u64 = 65_536;

/// Users registered on the node of parts 1 and 2; the first is the admin.
const USERS: usize = 2_000;
/// Registrations (register + login: two argon2 hashes) in flight at once.
const REGISTER_CONCURRENCY: usize = 8;
/// Videos rated in part 1 (created, never uploaded).
const VIDEOS: usize = 500;
/// Ready videos for the playback sessions of part 2.
const READY_VIDEOS: usize = 10;
/// Length of the test clip. Positions advance in real time for the 22 s of heartbeats from a
/// random start below 20 s, and must stay within the video's duration.
const CLIP_SECS: u32 = 60;

/// Part 1: the reference.
const REDIS_CLIENTS: usize = 32;
const REDIS_REQUESTS: usize = 300_000;
/// redis-benchmark runs; the median is the reference (single runs vary by ±25% here).
const REDIS_ROUNDS: usize = 3;
/// Part 1: concurrent connections of the three runs, and their timings.
const RATING_CONNS: [usize; 3] = [64, 128, 256];
const RATING_WARMUP: Duration = Duration::from_secs(2);
const RATING_RUN: Duration = Duration::from_secs(10);
const RATING_GOAL: f64 = 0.5;

/// Part 2: sessions per user (devices), the heartbeat interval and jitter, the timings.
const DEVICES: usize = 5;
const HB_INTERVAL: Duration = Duration::from_secs(2);
const HB_JITTER: Duration = Duration::from_millis(400);
const HB_WARMUP: Duration = Duration::from_secs(2);
const HB_RUN: Duration = Duration::from_secs(20);
/// Keep-alive connections the heartbeats go over (viewer i uses connection i % HB_CONNS): one
/// per viewer, as real players have, so that a slow answer delays no other viewer's heartbeat
/// in the client. `PLAYBACK_BENCH_HB_CONNS` overrides it (fewer connections queue heartbeats
/// behind slow answers in the client; latency still counts from the scheduled time).
const HB_CONNS: usize = 10_000;
const HB_GOAL_P99_MS: f64 = 25.0;

/// Part 3: event streams, how many connect at once, the rounds of changes, the goals.
const SSE_CONNS: usize = 10_000;
const SSE_CONNECT_CONCURRENCY: usize = 200;
const SSE_ROUNDS: usize = 3;
const SSE_GOAL_KIB: f64 = 16.0;
/// How long the bench waits, after closing every stream, for `troupe_sse_subscribers` to
/// drop back (the server notices a closed stream at its second keep-alive comment after the
/// close; they go out every `media.events_keepalive_ms`, 1.5 s).
const SSE_DRAIN_WAIT: Duration = Duration::from_secs(45);

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let bin = common::troupe_bin("playback");
    let parts = std::env::var("PLAYBACK_BENCH_PARTS").unwrap_or_else(|_| "123".into());
    let pin = Pinning::detect();
    let nofile = raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(bin, parts, pin, nofile));
}

async fn run(bin: PathBuf, parts: String, pin: Pinning, nofile: String) {
    let total = Instant::now();
    let mut summary: Vec<(String, String)> = Vec::new();
    println!("[playback bench] {}; {nofile}", pin.describe());
    let tmp = tempfile::tempdir().expect("tempdir");
    let clip = make_clip(tmp.path());

    if parts.contains('1') || parts.contains('2') {
        let setup = Setup::build(&bin, &tmp.path().join("node-a"), &clip).await;
        pin.pin_server(setup.node.pid());
        pin.pin_self();
        if parts.contains('1') {
            part1(&setup, &pin, &mut summary).await;
        }
        if parts.contains('2') {
            part2(&setup, &mut summary).await;
        }
    }
    if parts.contains('3') {
        part3(&bin, &tmp.path().join("node-b"), &clip, &pin, &mut summary).await;
    }

    println!();
    println!("== Summary ==");
    let width = summary
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in &summary {
        println!("{k:<width$}  {v}");
    }
    println!("(total {:.0} s)", total.elapsed().as_secs_f64());
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

// ---------------------------------------------------------------------------------------------
// Setup of the node of parts 1 and 2.

struct Setup {
    node: Node,
    users: Arc<Vec<User>>,
    /// Videos to rate (part 1).
    videos: Arc<Vec<String>>,
    /// Ready videos (part 2).
    ready: Vec<String>,
}

impl Setup {
    async fn build(bin: &Path, dir: &Path, clip: &[u8]) -> Setup {
        eprintln!("[playback bench] starting a node on sled…");
        let node = Node::spawn(bin, dir).await;
        let client = setup_client();
        let url = node.url.clone();

        let started = Instant::now();
        let admin = register(&client, &url, "pb00000", PASSWORD).await;
        // The ready videos first, so that they transcode while the users register.
        let uploads: Vec<String> = stream::iter(0..READY_VIDEOS)
            .map(|i| {
                let (client, url, token) = (client.clone(), url.clone(), admin.token.clone());
                async move { upload_video(&client, &url, &token, &format!("ready {i}"), clip).await }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        let mut users: Vec<User> = stream::iter(1..USERS)
            .map(|i| {
                let client = client.clone();
                let url = url.clone();
                async move { register(&client, &url, &format!("pb{i:05}"), PASSWORD).await }
            })
            .buffer_unordered(REGISTER_CONCURRENCY)
            .collect()
            .await;
        users.sort_by(|a, b| a.name.cmp(&b.name));
        users.insert(0, admin);
        let reg = started.elapsed();
        println!(
            "[setup] registered and logged in {USERS} users in {:.1} s ({:.0} users/s; {REGISTER_CONCURRENCY} at a time, two argon2 hashes each, both cores, while {READY_VIDEOS} uploads transcoded)",
            reg.as_secs_f64(),
            USERS as f64 / reg.as_secs_f64()
        );

        let started = Instant::now();
        let videos: Vec<String> = stream::iter(0..VIDEOS)
            .map(|i| {
                let (client, url, token) = (client.clone(), url.clone(), users[0].token.clone());
                async move { create_video(&client, &url, &token, &format!("rated {i}")).await }
            })
            .buffered(16)
            .collect()
            .await;
        println!(
            "[setup] created {VIDEOS} videos in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        let started = Instant::now();
        let ready: Vec<String> = stream::iter(uploads)
            .map(|id| {
                let (client, url, token) = (client.clone(), url.clone(), users[0].token.clone());
                async move {
                    wait_ready(&client, &url, &token, &id).await;
                    id
                }
            })
            .buffered(READY_VIDEOS)
            .collect()
            .await;
        println!(
            "[setup] {READY_VIDEOS} uploaded {CLIP_SECS}-s clips ready ({:.1} s after the videos were created)",
            started.elapsed().as_secs_f64()
        );
        Setup {
            node,
            users: Arc::new(users),
            videos: Arc::new(videos),
            ready,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Part 1: ratings vs redis.

/// What the bench knows of one (user, video) pair's rating.
const R_NONE: u8 = 0;
const R_LIKE: u8 = 1;
const R_DISLIKE: u8 = 2;
/// A request for the pair failed: its final state is unknown.
const R_UNKNOWN: u8 = 3;
const RATINGS: [&str; 3] = ["none", "like", "dislike"];

struct RatingRun {
    conns: usize,
    ok: usize,
    elapsed: Duration,
    lat: Percentiles,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    counter_batch: Option<f64>,
    flush_batch: Option<f64>,
    ratings_metric: f64,
    cpu: String,
}

impl RatingRun {
    fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

async fn part1(setup: &Setup, pin: &Pinning, summary: &mut Vec<(String, String)>) {
    eprintln!("[playback bench] part 1: redis reference");
    let redis = redis_reference(pin, false).map(|(median, runs)| {
        eprintln!("[playback bench] redis INCR runs: {runs:.0?} req/s");
        (median, runs)
    });
    // Not the goal's reference: the same INCRs with each acknowledged write fsynced first,
    // as troupe's are, for a like-for-like view of the durable cost.
    let durable_redis = redis_reference(pin, true).map(|(median, runs)| {
        eprintln!("[playback bench] redis INCR (appendfsync always) runs: {runs:.0?} req/s");
        (median, runs)
    });
    let mut record: HashMap<u64, u8> = HashMap::new();
    let mut runs = Vec::new();
    for conns in RATING_CONNS {
        eprintln!(
            "[playback bench] part 1: ratings, {conns} connections, {}+{} s",
            RATING_WARMUP.as_secs(),
            RATING_RUN.as_secs()
        );
        runs.push(rating_run(setup, conns, &mut record).await);
    }
    let check = verify_totals(setup, &record).await;

    println!();
    println!("== 1. Ratings: PUT /api/v1/videos/{{id}}/rating, {USERS} users × {VIDEOS} videos, one node on sled ==");
    match &redis {
        Ok((r, runs)) => println!(
            "reference: redis INCR {r:.0} req/s, median of {runs:.0?} (redis-benchmark -c {REDIS_CLIENTS} -n {REDIS_REQUESTS}, no pipelining, no persistence: its acks are not durable; troupe's are)"
        ),
        Err(e) => println!("reference: no redis ({e})"),
    }
    if let Ok((r, runs)) = &durable_redis {
        println!(
            "for comparison only (not the goal): redis INCR with appendonly yes, appendfsync always (every ack fsynced, like troupe's): {r:.0} req/s, median of {runs:.0?}"
        );
    }
    println!(
        "{:>5} {:>10} {:>8} {:>8} {:>8} {:>8} {:>13} {:>11} {:>12} {:>14}",
        "conns",
        "ratings/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "counter batch",
        "flush batch",
        "troupe/redis",
        "/fsync redis"
    );
    let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
    for r in &runs {
        let ratio = |reference: &Result<(f64, Vec<f64>), String>| match reference {
            Ok((x, _)) => format!("{:.2}", r.rps() / x),
            Err(_) => "-".into(),
        };
        println!(
            "{:>5} {:>10.0} {:>8.2} {:>8.2} {:>8.1} {:>8} {:>13} {:>11} {:>12} {:>14}",
            r.conns,
            r.rps(),
            r.lat.p50 / 1e3,
            r.lat.p99 / 1e3,
            r.lat.max / 1e3,
            r.errors.values().sum::<u64>(),
            opt(r.counter_batch),
            opt(r.flush_batch),
            ratio(&redis),
            ratio(&durable_redis)
        );
    }
    for r in &runs {
        if !r.errors.is_empty() {
            println!(
                "errors at {} connections: {:?}; first: {}",
                r.conns,
                r.errors,
                r.first_error.as_deref().unwrap_or("")
            );
        }
        println!(
            "  {} connections: {}; troupe_ratings_total +{:.0} ({} acknowledged: a rating equal to the current one changes nothing)",
            r.conns, r.cpu, r.ratings_metric, r.ok
        );
    }
    println!("(batch sizes: means of troupe_actor_write_batch_size{{kind=\"counter\"}} and troupe_store_flush_batch_size over the measured window; '-' = no samples or no such metric)");
    let best = runs
        .iter()
        .max_by(|a, b| a.rps().total_cmp(&b.rps()))
        .expect("runs");
    match &redis {
        Ok((x, _)) => {
            let ratio = best.rps() / x;
            println!(
                "best: {:.0} ratings/s at {} connections = {ratio:.2} × redis INCR (goal ≥ {RATING_GOAL}) {}",
                best.rps(),
                best.conns,
                verdict(ratio >= RATING_GOAL)
            );
            summary.push((
                "ratings/s vs redis INCR".into(),
                format!(
                    "{ratio:.2}x ({:.0} vs {x:.0}, {} conns, p99 {:.1} ms) goal ≥ {RATING_GOAL}: {}",
                    best.rps(),
                    best.conns,
                    best.lat.p99 / 1e3,
                    verdict(ratio >= RATING_GOAL)
                ),
            ));
        }
        Err(_) => summary.push((
            "ratings/s (no redis)".into(),
            format!("{:.0} at {} conns", best.rps(), best.conns),
        )),
    }
    println!("{}", check.line());
    summary.push(("rating totals".into(), check.line()));
}

async fn rating_run(setup: &Setup, conns: usize, record: &mut HashMap<u64, u8>) -> RatingRun {
    let addr = setup.node.addr.clone();
    let phase = Arc::new(AtomicU8::new(0));
    let tasks: Vec<_> = (0..conns)
        .map(|t| {
            let (addr, users, videos, phase) = (
                addr.clone(),
                setup.users.clone(),
                setup.videos.clone(),
                phase.clone(),
            );
            tokio::spawn(async move {
                // This connection alone drives users t, t + conns, …: one request per user at
                // a time, so the last acknowledged rating of a pair is its rating.
                let mine: Vec<usize> = (t..users.len()).step_by(conns).collect();
                let mut rng = Rng::new(0x5EED_0000 + t as u64 * 7919 + conns as u64);
                let mut conn = RawConn::new(&addr);
                let mut out = TaskOut::default();
                let mut seen: HashMap<u64, u8> = HashMap::new();
                loop {
                    let p = phase.load(Ordering::Relaxed);
                    if p == 2 || mine.is_empty() {
                        out.record = seen;
                        return out;
                    }
                    let u = mine[rng.below(mine.len() as u64) as usize];
                    let v = rng.below(videos.len() as u64) as usize;
                    let r = rng.below(3) as u8;
                    let req = http_request(
                        "PUT",
                        &format!("/api/v1/videos/{}/rating", videos[v]),
                        &addr,
                        Some(&users[u].token),
                        Some(&format!("{{\"rating\":\"{}\"}}", RATINGS[r as usize])),
                    );
                    let start = Instant::now();
                    let res = conn.request(&req).await;
                    let micros = start.elapsed().as_micros() as f64;
                    let key = ((u as u64) << 32) | v as u64;
                    let measuring = p == 1 && phase.load(Ordering::Relaxed) == 1;
                    match res {
                        Ok(200) => {
                            let e = seen.entry(key).or_insert(r);
                            if *e != R_UNKNOWN {
                                *e = r;
                            }
                            if measuring {
                                out.lat.push(micros);
                            }
                        }
                        other => {
                            seen.insert(key, R_UNKNOWN);
                            let e = match other {
                                Ok(s) => format!(
                                    "{s}: {}",
                                    String::from_utf8_lossy(&conn.body[..conn.body.len().min(300)])
                                ),
                                Err(e) => format!("transport: {e}"),
                            };
                            if measuring {
                                *out.errors
                                    .entry(e.split(':').next().unwrap_or("").to_owned())
                                    .or_default() += 1;
                            }
                            out.first_error.get_or_insert(e);
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(RATING_WARMUP).await;
    let before = metrics_text(&setup.node.url).await;
    let cpu0 = CpuMark::take(setup.node.pid());
    phase.store(1, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(RATING_RUN).await;
    phase.store(2, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu = cpu0.describe(&CpuMark::take(setup.node.pid()));
    let after = metrics_text(&setup.node.url).await;
    let mut lat = Vec::new();
    let mut errors = BTreeMap::new();
    let mut first_error = None;
    for t in tasks {
        let out = t.await.expect("rating task");
        lat.extend(out.lat);
        for (k, v) in out.errors {
            *errors.entry(k).or_default() += v;
        }
        if first_error.is_none() {
            first_error = out.first_error;
        }
        // Runs are sequential and each user had one connection: a later run's value wins,
        // except that an unknown pair stays unknown.
        for (k, v) in out.record {
            let e = record.entry(k).or_insert(v);
            if *e != R_UNKNOWN {
                *e = v;
            }
        }
    }
    let mean = |name: &str, label: Option<&str>| -> Option<f64> {
        let s = metric_sum_labeled(&after, &format!("{name}_sum"), label)
            - metric_sum_labeled(&before, &format!("{name}_sum"), label);
        let c = metric_sum_labeled(&after, &format!("{name}_count"), label)
            - metric_sum_labeled(&before, &format!("{name}_count"), label);
        (c > 0.0).then(|| s / c)
    };
    RatingRun {
        conns,
        ok: lat.len(),
        elapsed,
        lat: Percentiles::of(lat),
        errors,
        first_error,
        counter_batch: mean("troupe_actor_write_batch_size", Some("kind=\"counter\"")),
        flush_batch: mean("troupe_store_flush_batch_size", None),
        ratings_metric: metric_sum_labeled(&after, "troupe_ratings_total", None)
            - metric_sum_labeled(&before, "troupe_ratings_total", None),
        cpu,
    }
}

#[derive(Default)]
struct TaskOut {
    lat: Vec<f64>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    record: HashMap<u64, u8>,
}

struct TotalsCheck {
    checked: usize,
    matching: usize,
    skipped: usize,
    pairs: usize,
    likes: u64,
    dislikes: u64,
    mismatches: Vec<String>,
}

impl TotalsCheck {
    fn line(&self) -> String {
        let exact = self.checked > 0 && self.matching == self.checked;
        let mut s = format!(
            "totals exact: {} ({} of {} videos match the last acknowledged rating of {} (user, video) pairs: {} likes, {} dislikes expected",
            if exact { "yes" } else { "no" },
            self.matching,
            self.checked,
            self.pairs,
            self.likes,
            self.dislikes
        );
        if self.skipped > 0 {
            s += &format!(
                "; {} videos skipped: a request for them failed",
                self.skipped
            );
        }
        s += ")";
        if !self.mismatches.is_empty() {
            s += &format!("; e.g. {}", self.mismatches.join("; "));
        }
        s
    }
}

/// Compares every video's likes and dislikes with the bench's record.
async fn verify_totals(setup: &Setup, record: &HashMap<u64, u8>) -> TotalsCheck {
    let mut expected = vec![(0u64, 0u64, false); setup.videos.len()];
    for (&k, &r) in record {
        let v = (k & 0xFFFF_FFFF) as usize;
        match r {
            R_LIKE => expected[v].0 += 1,
            R_DISLIKE => expected[v].1 += 1,
            R_UNKNOWN => expected[v].2 = true,
            _ => {}
        }
    }
    let client = setup_client();
    let url = setup.node.url.clone();
    let token = setup.users[0].token.clone();
    let got: Vec<Option<(u64, u64)>> = stream::iter(setup.videos.iter().cloned())
        .map(|id| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            async move {
                let r = client
                    .get(format!("{url}/api/v1/videos/{id}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .ok()?;
                let v: Value = r.json().await.ok()?;
                Some((
                    v["counts"]["likes"].as_u64()?,
                    v["counts"]["dislikes"].as_u64()?,
                ))
            }
        })
        .buffered(16)
        .collect()
        .await;
    let mut c = TotalsCheck {
        checked: 0,
        matching: 0,
        skipped: 0,
        pairs: record.values().filter(|&&r| r != R_NONE).count(),
        likes: 0,
        dislikes: 0,
        mismatches: Vec::new(),
    };
    for (i, (e, g)) in expected.iter().zip(got).enumerate() {
        if e.2 {
            c.skipped += 1;
            continue;
        }
        c.checked += 1;
        c.likes += e.0;
        c.dislikes += e.1;
        if g == Some((e.0, e.1)) {
            c.matching += 1;
        } else if c.mismatches.len() < 3 {
            c.mismatches.push(format!(
                "video {} has {:?} (likes, dislikes), expected ({}, {})",
                setup.videos[i], g, e.0, e.1
            ));
        }
    }
    c
}

/// `redis-benchmark -t incr` against a fresh `redis-server` without persistence, [`REDIS_ROUNDS`]
/// times; the median requests/s, and every run's.
/// The median of [`REDIS_ROUNDS`] `redis-benchmark -t incr` runs against a fresh
/// `redis-server`: without persistence, or with `durable` every write in the append-only file
/// and fsynced before its answer (`appendfsync always`, in a temp dir).
fn redis_reference(pin: &Pinning, durable: bool) -> Result<(f64, Vec<f64>), String> {
    for tool in ["redis-server", "redis-benchmark"] {
        if Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            return Err(format!(
                "{tool} not found: install it with `apt-get install -y redis-server` for the reference"
            ));
        }
    }
    let port = common::free_port();
    let log = std::env::temp_dir().join(format!("playback-bench-redis-{port}.log"));
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut cmd = pin.command(0, "redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--dir"])
        .arg(dir.path());
    if durable {
        cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
    } else {
        cmd.args(["--appendonly", "no"]);
    }
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).map_err(|e| e.to_string())?)
        .stderr(Stdio::null());
    let child = cmd.spawn().map_err(|e| format!("redis-server: {e}"))?;
    let _redis = Proc {
        child,
        log: log.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("redis-server did not listen within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut runs = Vec::new();
    for _ in 0..REDIS_ROUNDS {
        let out = pin
            .command(1, "redis-benchmark")
            .args(["-p", &port.to_string(), "-t", "incr", "-q"])
            .args(["-c", &REDIS_CLIENTS.to_string()])
            .args(["-n", &REDIS_REQUESTS.to_string()])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("redis-benchmark: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        // "INCR: 123456.79 requests per second, p50=0.135 msec" (after \r-separated progress).
        let rps: f64 = text
            .split(['\r', '\n'])
            .rfind(|l| l.contains("requests per second"))
            .and_then(|l| l.split(':').nth(1)?.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| format!("cannot parse redis-benchmark output: {text}"))?;
        runs.push(rps);
    }
    let _ = std::fs::remove_file(&log);
    runs.sort_by(f64::total_cmp);
    Ok((runs[runs.len() / 2], runs))
}

// ---------------------------------------------------------------------------------------------
// Part 2: sustained heartbeats.

struct Viewer {
    session: String,
    user: usize,
    /// Position of the first heartbeat, seconds.
    p0: f64,
}

async fn part2(setup: &Setup, summary: &mut Vec<(String, String)>) {
    let client = setup_client();
    let url = setup.node.url.clone();
    let users = setup.users.clone();
    eprintln!("[playback bench] part 2: {USERS} users to the ultimate plan");
    let admin = users[0].token.clone();
    let plan_errors: Vec<String> = stream::iter(users.iter().map(|u| u.name.clone()))
        .map(|name| {
            let (client, url, admin) = (client.clone(), url.clone(), admin.clone());
            async move {
                let r = client
                    .put(format!("{url}/api/v1/admin/users/{name}/plan"))
                    .bearer_auth(&admin)
                    .json(&json!({"plan": "ultimate"}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == StatusCode::OK => None,
                    Ok(r) => Some(format!(
                        "{name}: {} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => Some(format!("{name}: {e}")),
                }
            }
        })
        .buffer_unordered(16)
        .filter_map(|e| async move { e })
        .collect()
        .await;
    if let Some(e) = plan_errors.first() {
        println!(
            "warning: {} plan changes failed, e.g. {e}",
            plan_errors.len()
        );
    }

    let n = USERS * DEVICES;
    eprintln!("[playback bench] part 2: starting {n} playback sessions");
    let started = Instant::now();
    let ready = Arc::new(setup.ready.clone());
    let created: Vec<Result<Viewer, String>> = stream::iter(0..n)
        .map(|i| {
            let (client, url, users, ready) =
                (client.clone(), url.clone(), users.clone(), ready.clone());
            async move {
                let (u, d) = (i / DEVICES, i % DEVICES);
                let video = &ready[i % ready.len()];
                let r = client
                    .post(format!("{url}/api/v1/playback/sessions"))
                    .bearer_auth(&users[u].token)
                    .json(&json!({"video_id": video, "device_id": format!("bench-dev-{d}")}))
                    .send()
                    .await
                    .map_err(|e| format!("transport: {e}"))?;
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                if status != StatusCode::CREATED {
                    return Err(format!("{status}: {body}"));
                }
                let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
                let mut rng = Rng::new(i as u64 + 17);
                Ok(Viewer {
                    session: v["session_id"].as_str().ok_or("no session_id")?.to_owned(),
                    user: u,
                    p0: rng.below(20_000) as f64 / 1000.0,
                })
            }
        })
        .buffered(32)
        .collect()
        .await;
    let took = started.elapsed();
    let mut viewers = Vec::with_capacity(n);
    let mut session_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_session_error = None;
    for c in created {
        match c {
            Ok(v) => viewers.push(v),
            Err(e) => {
                *session_errors
                    .entry(e.split(':').next().unwrap_or("").to_owned())
                    .or_default() += 1;
                first_session_error.get_or_insert(e);
            }
        }
    }
    println!();
    println!(
        "== 2. Heartbeats: {} viewers ({USERS} users on `ultimate` × {DEVICES} devices: 10,000 registrations would be 20,000 argon2 hashes), {READY_VIDEOS} videos ==",
        viewers.len()
    );
    println!(
        "started {} sessions in {:.1} s ({:.0}/s, 32 at a time){}",
        viewers.len(),
        took.as_secs_f64(),
        viewers.len() as f64 / took.as_secs_f64(),
        if session_errors.is_empty() {
            String::new()
        } else {
            format!(
                "; failed: {session_errors:?}, first: {}",
                first_session_error.unwrap_or_default()
            )
        }
    );
    if viewers.is_empty() {
        summary.push(("heartbeats".into(), "no sessions could be started".into()));
        return;
    }
    let active = metric_sum_labeled(
        &metrics_text(&url).await,
        "troupe_playback_streams_active",
        None,
    );
    let views_before = metric_sum_labeled(
        &metrics_text(&url).await,
        "troupe_views_counted_total",
        None,
    );

    // The schedule: viewer i's k-th heartbeat is due at phase_i + k·interval + jitter, the
    // phases spread evenly over one interval.
    let nv = viewers.len();
    let rounds = ((HB_WARMUP + HB_RUN).as_micros() / HB_INTERVAL.as_micros()) as u64 + 1;
    let interval = HB_INTERVAL.as_micros() as u64;
    let hb_conns = std::env::var("PLAYBACK_BENCH_HB_CONNS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(HB_CONNS)
        .clamp(1, nv);
    let mut schedules: Vec<Vec<(u64, u32, f64)>> = vec![Vec::new(); hb_conns];
    let mut rng = Rng::new(99);
    for (i, v) in viewers.iter().enumerate() {
        let phase = i as u64 * interval / nv as u64;
        for k in 0..rounds {
            let due = phase + k * interval + rng.below(HB_JITTER.as_micros() as u64);
            let pos = v.p0 + (due - phase) as f64 / 1e6;
            let c = i % schedules.len();
            schedules[c].push((due, i as u32, pos));
        }
    }
    for s in &mut schedules {
        s.sort_by_key(|e| e.0);
    }
    let window = (
        HB_WARMUP.as_micros() as u64,
        (HB_WARMUP + HB_RUN).as_micros() as u64,
    );
    let viewers = Arc::new(viewers);
    // Every connection is opened first; then the schedule starts (`base`), so that no idle
    // connection reaches the server's 5-s keep-alive timeout before its first heartbeat.
    let (base_tx, base_rx) = tokio::sync::watch::channel::<Option<Instant>>(None);
    let opened = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(SSE_CONNECT_CONCURRENCY));
    eprintln!(
        "[playback bench] part 2: heartbeats, {:.0}/s over {} connections, {}+{} s",
        nv as f64 / HB_INTERVAL.as_secs_f64(),
        schedules.len(),
        HB_WARMUP.as_secs(),
        HB_RUN.as_secs()
    );
    let tasks: Vec<_> = schedules
        .into_iter()
        .map(|sched| {
            let (addr, users, viewers) = (setup.node.addr.clone(), users.clone(), viewers.clone());
            let (mut base_rx, opened, gate) = (base_rx.clone(), opened.clone(), gate.clone());
            tokio::spawn(async move {
                let mut conn = RawConn::new(&addr);
                let mut out = HbOut::default();
                {
                    let _permit = gate.acquire().await.expect("gate");
                    if let Err(e) = conn.connect().await {
                        out.first_error = Some(e);
                    }
                }
                opened.fetch_add(1, Ordering::Relaxed);
                let base = loop {
                    if let Some(b) = *base_rx.borrow_and_update() {
                        break b;
                    }
                    base_rx.changed().await.expect("schedule start");
                };
                for (due_us, v, pos) in sched {
                    let due = base + Duration::from_micros(due_us);
                    tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                    let sent = Instant::now();
                    let viewer = &viewers[v as usize];
                    let req = http_request(
                        "POST",
                        &format!("/api/v1/playback/sessions/{}/heartbeat", viewer.session),
                        &addr,
                        Some(&users[viewer.user].token),
                        Some(&format!("{{\"position\":{pos:.3}}}")),
                    );
                    let res = conn.request(&req).await;
                    let done = Instant::now();
                    if due_us < window.0 || due_us >= window.1 {
                        continue;
                    }
                    out.last_done = Some(out.last_done.map_or(done, |d: Instant| d.max(done)));
                    out.send_lag
                        .push(sent.saturating_duration_since(due).as_micros() as f64);
                    let lat = done.saturating_duration_since(due).as_micros() as f64;
                    match res {
                        Ok(200) => {
                            out.lat.push(lat);
                            let view = find(&conn.body, b"\"view_counted\":true").is_some();
                            if view {
                                out.view_lat.push(lat);
                            }
                            out.samples.push((due_us - window.0, lat, view));
                        }
                        other => {
                            let e = match other {
                                Ok(s) => format!(
                                    "{s}: {}",
                                    String::from_utf8_lossy(&conn.body[..conn.body.len().min(300)])
                                ),
                                Err(e) => format!("transport: {e}"),
                            };
                            *out.errors
                                .entry(e.split(':').next().unwrap_or("").to_owned())
                                .or_default() += 1;
                            out.first_error.get_or_insert(e);
                        }
                    }
                }
                out
            })
        })
        .collect();
    let started = Instant::now();
    while opened.load(Ordering::Relaxed) < tasks.len()
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "opened {} heartbeat connections in {:.1} s",
        opened.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    let base = Instant::now() + Duration::from_millis(200);
    base_tx.send(Some(base)).expect("schedule start");
    let window_start = base + HB_WARMUP;
    tokio::time::sleep_until(tokio::time::Instant::from_std(window_start)).await;
    let cpu0 = CpuMark::take(setup.node.pid());
    tokio::time::sleep(HB_RUN).await;
    let cpu = cpu0.describe(&CpuMark::take(setup.node.pid()));
    let mut total = HbOut::default();
    for t in tasks {
        let o = t.await.expect("heartbeat task");
        total.lat.extend(o.lat);
        total.samples.extend(o.samples);
        total.view_lat.extend(o.view_lat);
        total.send_lag.extend(o.send_lag);
        for (k, v) in o.errors {
            *total.errors.entry(k).or_default() += v;
        }
        if total.first_error.is_none() {
            total.first_error = o.first_error;
        }
        if let Some(d) = o.last_done {
            total.last_done = Some(total.last_done.map_or(d, |t: Instant| t.max(d)));
        }
    }
    let views_after = metric_sum_labeled(
        &metrics_text(&url).await,
        "troupe_views_counted_total",
        None,
    );
    let ok = total.lat.len();
    let errors: u64 = total.errors.values().sum();
    let scheduled = ok as u64 + errors;
    let span = total
        .last_done
        .map_or(HB_RUN, |d| d.saturating_duration_since(window_start))
        .max(HB_RUN);
    let achieved = ok as f64 / span.as_secs_f64();
    let views_counted = total.view_lat.len();
    let lat = Percentiles::of(total.lat);
    let vlat = Percentiles::of(total.view_lat);
    let lag = Percentiles::of(total.send_lag);
    println!(
        "streams active before the run (troupe_playback_streams_active): {active:.0}; open loop over {} keep-alive connections, every {} s + up to {} ms jitter, latency from the scheduled time",
        hb_conns,
        HB_INTERVAL.as_secs(),
        HB_JITTER.as_millis()
    );
    println!(
        "{:<28} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "", "sent/s", "ok/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
    );
    println!(
        "{:<28} {:>9.0} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.1} {:>7}",
        format!("heartbeats ({} s)", HB_RUN.as_secs()),
        scheduled as f64 / HB_RUN.as_secs_f64(),
        achieved,
        lat.p50 / 1e3,
        lat.p90 / 1e3,
        lat.p99 / 1e3,
        lat.max / 1e3,
        errors
    );
    println!(
        "{:<28} {:>9} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>8.1}",
        format!("  of which counted a view ({views_counted})"),
        "",
        "",
        vlat.p50 / 1e3,
        vlat.p90 / 1e3,
        vlat.p99 / 1e3,
        vlat.max / 1e3,
    );
    println!(
        "client send lag behind schedule (the generator's own delay): p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
        lag.p50 / 1e3,
        lag.p99 / 1e3,
        lag.max / 1e3
    );
    println!(
        "troupe_views_counted_total grew by {:.0} during the heartbeats",
        views_after - views_before
    );
    println!("CPU while measuring: {cpu}");
    println!("by scheduled time (2-s slices of the window):");
    println!(
        "{:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "from s", "answers", "p50 ms", "p99 ms", "max ms", "views", "rest p99"
    );
    let slice = 2_000_000u64;
    for i in 0..(HB_RUN.as_micros() as u64).div_ceil(slice) {
        let inside: Vec<&(u64, f64, bool)> =
            total.samples.iter().filter(|s| s.0 / slice == i).collect();
        let views = inside.iter().filter(|s| s.2).count();
        let rest = Percentiles::of(inside.iter().filter(|s| !s.2).map(|s| s.1).collect());
        let p = Percentiles::of(inside.iter().map(|s| s.1).collect());
        println!(
            "{:>9} {:>8} {:>8.2} {:>8.2} {:>8.1} {:>8} {:>7.2}",
            (i * slice) / 1_000_000 + HB_WARMUP.as_secs(),
            inside.len(),
            p.p50 / 1e3,
            p.p99 / 1e3,
            p.max / 1e3,
            views,
            rest.p99 / 1e3
        );
    }
    println!("(\"from s\": seconds since the first heartbeat round; \"rest p99\": heartbeats that did not count a view)");
    // The slices in which no heartbeat counted a view.
    let busy: std::collections::HashSet<u64> = total
        .samples
        .iter()
        .filter(|s| s.2)
        .map(|s| s.0 / slice)
        .collect();
    let quiet_n = (0..(HB_RUN.as_micros() as u64).div_ceil(slice))
        .filter(|i| !busy.contains(i))
        .count();
    let quiet = Percentiles::of(
        total
            .samples
            .iter()
            .filter(|s| !busy.contains(&(s.0 / slice)))
            .map(|s| s.1)
            .collect(),
    );
    if let Some(e) = &total.first_error {
        println!("errors: {:?}; first: {e}", total.errors);
    }
    let pass = lat.p99 / 1e3 < HB_GOAL_P99_MS && errors == 0;
    println!(
        "heartbeats: {achieved:.0}/s achieved (target {:.0}/s), p99 {:.2} ms (goal < {HB_GOAL_P99_MS} ms), errors {errors}: {}",
        nv as f64 / HB_INTERVAL.as_secs_f64(),
        lat.p99 / 1e3,
        verdict(pass)
    );
    println!(
        "  in the {quiet_n} slices where no view was counted: p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms ({})",
        quiet.p50 / 1e3,
        quiet.p99 / 1e3,
        quiet.max / 1e3,
        verdict(quiet.p99 / 1e3 < HB_GOAL_P99_MS)
    );
    summary.push((
        "heartbeats, 10,000 viewers".into(),
        format!(
            "{achieved:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, errors {errors}; goal p99 < {HB_GOAL_P99_MS} ms: {} (p99 {:.2} ms outside the view-counting burst)",
            lat.p50 / 1e3,
            lat.p99 / 1e3,
            lat.max / 1e3,
            verdict(pass),
            quiet.p99 / 1e3
        ),
    ));
}

#[derive(Default)]
struct HbOut {
    lat: Vec<f64>,
    /// (due, µs after the window's start; latency, µs; counted a view) of each answer.
    samples: Vec<(u64, f64, bool)>,
    view_lat: Vec<f64>,
    send_lag: Vec<f64>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    last_done: Option<Instant>,
}

// ---------------------------------------------------------------------------------------------
// Part 3: live fan-out.

struct SseShared {
    connected: AtomicUsize,
    failed: AtomicUsize,
    /// 0 before the first change, then the round in progress.
    round: AtomicUsize,
    /// The likes each round's change leads to.
    expected: [AtomicU64; SSE_ROUNDS + 1],
    /// `video` events after the first, and `counts` events, over all streams.
    later_video_events: AtomicUsize,
    counts_events: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

async fn part3(
    bin: &Path,
    dir: &Path,
    clip: &[u8],
    pin: &Pinning,
    summary: &mut Vec<(String, String)>,
) {
    let idle = idle_baseline(bin, &dir.with_file_name("node-idle"), pin).await;
    eprintln!("[playback bench] part 3: starting a fresh node on sled…");
    let node = Node::spawn(bin, dir).await;
    let client = setup_client();
    let url = node.url.clone();
    let owner = register(&client, &url, "sse-owner", PASSWORD).await;
    let fan = register(&client, &url, "sse-fan", PASSWORD).await;
    let video = upload_video(&client, &url, &owner.token, "live", clip).await;
    wait_ready(&client, &url, &owner.token, &video).await;
    pin.pin_server(node.pid());
    pin.pin_self();
    // Let the transcode's aftermath settle and the metrics upkeep run.
    tokio::time::sleep(Duration::from_secs(6)).await;
    // What one rating costs without subscribers (like, none, like, none: back to 0 likes).
    let mut quiet_put = Vec::new();
    for rating in ["like", "none", "like", "none"] {
        let t0 = Instant::now();
        let r = client
            .put(format!("{url}/api/v1/videos/{video}/rating"))
            .bearer_auth(&fan.token)
            .json(&json!({ "rating": rating }))
            .send()
            .await
            .expect("PUT rating");
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "PUT rating: {}",
            r.text().await.unwrap_or_default()
        );
        quiet_put.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let subs_before = metric_sum_labeled(&metrics_text(&url).await, "troupe_sse_subscribers", None);
    let rss_before = rss_kib(node.pid());

    eprintln!("[playback bench] part 3: opening {SSE_CONNS} event streams");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let shared = Arc::new(SseShared {
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        round: AtomicUsize::new(0),
        expected: std::array::from_fn(|_| AtomicU64::new(u64::MAX)),
        later_video_events: AtomicUsize::new(0),
        counts_events: AtomicUsize::new(0),
        first_error: Mutex::new(None),
    });
    let gate = Arc::new(tokio::sync::Semaphore::new(SSE_CONNECT_CONCURRENCY));
    let request = Arc::new(http_request(
        "GET",
        &format!("/api/v1/videos/{video}/events"),
        &node.addr,
        None,
        None,
    ));
    let started = Instant::now();
    let handles: Vec<_> = (0..SSE_CONNS)
        .map(|_| {
            let (shared, gate, tx, request, addr) = (
                shared.clone(),
                gate.clone(),
                tx.clone(),
                request.clone(),
                node.addr.clone(),
            );
            tokio::spawn(async move {
                let permit = gate.acquire_owned().await.expect("gate");
                if let Err(e) = sse_stream(&addr, &request, &shared, &tx, permit).await {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                    shared.first_error.lock().unwrap().get_or_insert(e);
                }
            })
        })
        .collect();
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (c, f) = (
            shared.connected.load(Ordering::Relaxed),
            shared.failed.load(Ordering::Relaxed),
        );
        if c + f >= SSE_CONNS || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_time = started.elapsed();
    let connected = shared.connected.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss_kib(node.pid());
    let subs = metric_sum_labeled(&metrics_text(&url).await, "troupe_sse_subscribers", None);
    let per_sub = (rss_after as f64 - rss_before as f64) / connected.max(1) as f64;

    // The changes: like, none, like.
    let mut rounds = Vec::new();
    for r in 1..=SSE_ROUNDS {
        let (rating, likes) = if r % 2 == 1 { ("like", 1) } else { ("none", 0) };
        shared.expected[r].store(likes, Ordering::SeqCst);
        shared.round.store(r, Ordering::SeqCst);
        let t0 = Instant::now();
        let resp = client
            .put(format!("{url}/api/v1/videos/{video}/rating"))
            .bearer_auth(&fan.token)
            .json(&json!({"rating": rating}))
            .send()
            .await;
        let put_ms = t0.elapsed().as_secs_f64() * 1e3;
        let put_status = match resp {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) => format!("error {e}"),
        };
        let mut times = Vec::with_capacity(connected);
        let until = t0 + Duration::from_secs(5);
        while times.len() < connected {
            let left = until.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some((rr, at))) if rr == r => {
                    times.push(at.saturating_duration_since(t0).as_secs_f64() * 1e3)
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        rounds.push(SseRound {
            rating,
            put_status,
            put_ms,
            got: times.len(),
            within_1s: times.iter().filter(|&&t| t <= 1000.0).count(),
            delivery: Percentiles::of(times),
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Close every stream; the server should notice and count its subscribers down.
    for h in &handles {
        h.abort();
    }
    let closed = Instant::now();
    let mut subs_left = f64::NAN;
    while closed.elapsed() < SSE_DRAIN_WAIT {
        subs_left = metric_sum_labeled(&metrics_text(&url).await, "troupe_sse_subscribers", None);
        if subs_left <= subs_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let subs_left_after = closed.elapsed();
    let rss_closed = rss_kib(node.pid());

    println!();
    println!(
        "== 3. Live fan-out: {SSE_CONNS} event streams on one video, one node (anonymous; the video is public) =="
    );
    println!(
        "connected {connected} of {SSE_CONNS} in {:.1} s ({SSE_CONNECT_CONCURRENCY} connecting at a time), failed {}{}",
        connect_time.as_secs_f64(),
        shared.failed.load(Ordering::Relaxed),
        shared
            .first_error
            .lock()
            .unwrap()
            .as_ref()
            .map(|e| format!(", first error: {e}"))
            .unwrap_or_default()
    );
    println!(
        "server RSS: {:.1} MiB before, {:.1} MiB with {connected} streams → {:.2} KiB per subscriber (goal ≤ {SSE_GOAL_KIB} KiB) {}",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        per_sub,
        verdict(per_sub <= SSE_GOAL_KIB)
    );
    if let Some((kib, n, took)) = idle {
        println!(
            "for comparison, {n} idle keep-alive connections (one GET /healthz each, on another fresh node): {kib:.2} KiB each (measured {:.1} s after the first connected; the server closes idle ones after 5 s) → the event stream itself adds ~{:.2} KiB",
            took.as_secs_f64(),
            per_sub - kib
        );
    }
    println!(
        "troupe_sse_subscribers: {subs:.0} (before: {subs_before:.0}; expected {connected}) {}",
        verdict(subs - subs_before == connected as f64 && connected == SSE_CONNS)
    );
    println!(
        "{:<6} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "round", "rating", "PUT ms", "got", "p50 ms", "p99 ms", "max ms", "within 1 s"
    );
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "{:<6} {:>7} {:>8.1} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>11}{}",
            i + 1,
            r.rating,
            r.put_ms,
            r.got,
            r.delivery.p50,
            r.delivery.p99,
            r.delivery.max,
            r.within_1s,
            if r.put_status == "200" {
                String::new()
            } else {
                format!("  (PUT answered {})", r.put_status)
            }
        );
    }
    println!(
        "the same PUT with no subscribers: {} ms",
        quiet_put
            .iter()
            .map(|t| format!("{t:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "(delivery = from just before the PUT to the `event: counts` with the new likes, read by this process on one core: it includes the client's own parsing of {connected} events)"
    );
    println!(
        "events seen after the first: {} `counts`, {} `video`",
        shared.counts_events.load(Ordering::Relaxed),
        shared.later_video_events.load(Ordering::Relaxed)
    );
    println!(
        "after closing every stream: troupe_sse_subscribers {subs_left:.0} after {:.1} s; RSS {:.1} MiB",
        subs_left_after.as_secs_f64(),
        rss_closed as f64 / 1024.0
    );
    let all = rounds
        .iter()
        .all(|r| r.within_1s == SSE_CONNS && connected == SSE_CONNS);
    summary.push((
        "SSE memory per subscriber".into(),
        format!(
            "{per_sub:.2} KiB (goal ≤ {SSE_GOAL_KIB}): {}",
            verdict(per_sub <= SSE_GOAL_KIB)
        ),
    ));
    summary.push((
        "SSE counts fan-out".into(),
        format!(
            "{} (got within 1 s per round of {SSE_CONNS}); worst p99 {:.0} ms, max {:.0} ms; goal all within 1 s: {}",
            rounds
                .iter()
                .map(|r| r.within_1s.to_string())
                .collect::<Vec<_>>()
                .join(" / "),
            rounds.iter().map(|r| r.delivery.p99).fold(0.0, f64::max),
            rounds.iter().map(|r| r.delivery.max).fold(0.0, f64::max),
            verdict(all)
        ),
    ));
    drop(node);
}

/// Server memory per idle keep-alive connection, for comparison with an event stream: a
/// fresh node, [`SSE_CONNS`] connections that each made one `GET /healthz`; returns KiB per
/// connection, how many connected, and how long after the start RSS was read.
async fn idle_baseline(bin: &Path, dir: &Path, pin: &Pinning) -> Option<(f64, usize, Duration)> {
    eprintln!(
        "[playback bench] part 3: {SSE_CONNS} idle connections on a fresh node, for comparison"
    );
    let node = Node::spawn(bin, dir).await;
    pin.pin_server(node.pid());
    pin.pin_self();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_before = rss_kib(node.pid());
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(SSE_CONNECT_CONCURRENCY));
    let request = Arc::new(http_request("GET", "/healthz", &node.addr, None, None));
    let started = Instant::now();
    let handles: Vec<_> = (0..SSE_CONNS)
        .map(|_| {
            let (done, failed, gate, request, addr) = (
                done.clone(),
                failed.clone(),
                gate.clone(),
                request.clone(),
                node.addr.clone(),
            );
            tokio::spawn(async move {
                let permit = gate.acquire_owned().await.expect("gate");
                let mut conn = RawConn::new(&addr);
                match conn.request(&request).await {
                    Ok(200) => done.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                drop(permit);
                // Holds the connection open until aborted.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                drop(conn);
            })
        })
        .collect();
    while done.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < SSE_CONNS
        && started.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let rss_after = rss_kib(node.pid());
    for h in &handles {
        h.abort();
    }
    let n = done.load(Ordering::Relaxed);
    (n > 0).then(|| ((rss_after as f64 - rss_before as f64) / n as f64, n, took))
}

struct SseRound {
    rating: &'static str,
    put_status: String,
    put_ms: f64,
    got: usize,
    within_1s: usize,
    delivery: Percentiles,
}

/// One event stream: connects, waits for the first `video` event (then lets the next stream
/// connect), and reports when a `counts` event brings the likes the current round expects.
async fn sse_stream(
    addr: &str,
    request: &[u8],
    shared: &SseShared,
    tx: &tokio::sync::mpsc::UnboundedSender<(usize, Instant)>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<(), String> {
    let mut permit = Some(permit);
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut io = BufReader::with_capacity(1024, stream);
    io.get_mut()
        .write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut line = String::new();
    read_line(&mut io, &mut line).await?;
    let status = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut chunked = false;
    loop {
        read_line(&mut io, &mut line).await?;
        if line == "\r\n" || line == "\n" {
            break;
        }
        let l = line.to_ascii_lowercase();
        if l.starts_with("transfer-encoding:") && l.contains("chunked") {
            chunked = true;
        }
    }
    if status != "200" {
        return Err(format!("status {status}"));
    }
    let mut acc: Vec<u8> = Vec::new();
    let mut videos = 0usize;
    let mut reported = 0usize;
    loop {
        if chunked {
            read_line(&mut io, &mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| format!("bad chunk size {line:?}"))?;
            if size == 0 {
                return Err("the stream ended".into());
            }
            let old = acc.len();
            acc.resize(old + size, 0);
            io.read_exact(&mut acc[old..])
                .await
                .map_err(|e| format!("read: {e}"))?;
            read_line(&mut io, &mut line).await?;
        } else {
            let mut buf = [0u8; 1024];
            let n = io.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("the stream ended".into());
            }
            acc.extend_from_slice(&buf[..n]);
        }
        while let Some(end) = find(&acc, b"\n\n") {
            let at = Instant::now();
            let ev = &acc[..end];
            let name = ev
                .split(|&b| b == b'\n')
                .find_map(|l| l.strip_prefix(b"event: "))
                .unwrap_or(b"");
            match name {
                b"video" => {
                    videos += 1;
                    if videos == 1 {
                        shared.connected.fetch_add(1, Ordering::Relaxed);
                        permit.take();
                    } else {
                        shared.later_video_events.fetch_add(1, Ordering::Relaxed);
                    }
                }
                b"counts" => {
                    shared.counts_events.fetch_add(1, Ordering::Relaxed);
                    let r = shared.round.load(Ordering::SeqCst);
                    if r > reported
                        && likes_of(ev) == Some(shared.expected[r].load(Ordering::SeqCst))
                    {
                        reported = r;
                        let _ = tx.send((r, at));
                    }
                }
                _ => {}
            }
            acc.drain(..end + 2);
        }
    }
}

/// The `"likes":N` of an event's data, without parsing the JSON.
fn likes_of(ev: &[u8]) -> Option<u64> {
    let at = find(ev, b"\"likes\":")? + 8;
    let digits: Vec<u8> = ev[at..]
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Setup helpers (reqwest).

fn setup_client() -> Client {
    Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// Creates a public video; returns its id.
async fn create_video(client: &Client, url: &str, token: &str, title: &str) -> String {
    let r = client
        .post(format!("{url}/api/v1/videos"))
        .bearer_auth(token)
        .json(&json!({"title": title, "visibility": "public"}))
        .send()
        .await
        .expect("create video");
    let status = r.status();
    let body: Value = r.json().await.expect("video body");
    assert_eq!(status, StatusCode::CREATED, "create video: {body}");
    body["id"].as_str().expect("video id").to_owned()
}

/// Creates a public video and uploads `data` to it with tus (one POST, one PATCH); returns
/// its id. The server transcodes it in the background.
async fn upload_video(client: &Client, url: &str, token: &str, title: &str, data: &[u8]) -> String {
    let id = create_video(client, url, token, title).await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let r = client
        .post(format!("{url}/api/v1/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", data.len().to_string())
        .header(
            "Upload-Metadata",
            format!("video_id {},filename {}", b64(&id), b64("clip.mp4")),
        )
        .send()
        .await
        .expect("tus create");
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "tus create: {}",
        r.text().await.unwrap_or_default()
    );
    let loc = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let r = client
        .patch(format!("{url}{loc}"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .expect("tus patch");
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "tus patch: {}",
        r.text().await.unwrap_or_default()
    );
    id
}

/// Polls the video until it is `ready` (panics if it fails or takes over 5 minutes).
async fn wait_ready(client: &Client, url: &str, token: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(r) = client
            .get(format!("{url}/api/v1/videos/{id}"))
            .bearer_auth(token)
            .send()
            .await
        {
            if let Ok(v) = r.json::<Value>().await {
                match v["state"].as_str() {
                    Some("ready") => return,
                    Some("failed") => panic!("video {id} failed to transcode: {v}"),
                    _ => {}
                }
            }
        }
        assert!(Instant::now() < deadline, "video {id} not ready in 5 min");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A [`CLIP_SECS`]-second 320x240 test clip with sound; returns its bytes.
fn make_clip(dir: &Path) -> Vec<u8> {
    let out = dir.join("clip.mp4");
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
        ])
        .args(["-f", "lavfi", "-i", "sine", "-t", &CLIP_SECS.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-movflags", "+faststart"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs (install ffmpeg)");
    assert!(st.success(), "ffmpeg could not generate the clip");
    std::fs::read(out).expect("clip")
}

async fn metrics_text(url: &str) -> String {
    match Client::new().get(format!("{url}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The sum of every sample of `name` (exactly; with `label` among its labels, if given) in
/// Prometheus text.
fn metric_sum_labeled(text: &str, name: &str, label: Option<&str>) -> f64 {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let labels = if rest.starts_with('{') {
                &rest[..rest.find('}')? + 1]
            } else if rest.starts_with(' ') {
                ""
            } else {
                return None;
            };
            if let Some(want) = label {
                if !labels.contains(want) {
                    return None;
                }
            }
            l.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .sum()
}

/// VmRSS of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The troupe binary and processes.

/// Raises this process's open-file limit (children inherit it) with `prlimit`: to [`NOFILE`]
/// if allowed (root), else the soft limit to the hard one. Returns what it did.
fn raise_nofile() -> String {
    let pid = std::process::id().to_string();
    let set = |limit: &str| {
        Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={limit}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let current = || {
        std::fs::read_to_string("/proc/self/limits")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .map(|l| {
                l.split_whitespace()
                    .skip(3)
                    .take(2)
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|| "?".into())
    };
    if set(&format!("{NOFILE}:{NOFILE}")) {
        format!(
            "open-file limit raised to {} (prlimit; soft/hard), inherited by the servers",
            current()
        )
    } else {
        let hard = current()
            .split('/')
            .nth(1)
            .unwrap_or("unlimited")
            .to_owned();
        let _ = set(&format!("{hard}:"));
        let now = current();
        let soft: u64 = now
            .split('/')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX);
        format!(
            "open-file limit {now} (not permitted to raise it to {NOFILE}, e.g. no CAP_SYS_RESOURCE; {SSE_CONNS} streams need about {} on each side: {})",
            SSE_CONNS + 200,
            if soft >= (SSE_CONNS + 200) as u64 {
                "enough"
            } else {
                "NOT enough, run `ulimit -n 65536` first"
            }
        )
    }
}

/// CPU pinning with `taskset`: the server on CPU 0, the load generator on CPU 1.
struct Pinning {
    on: bool,
    why: String,
}

impl Pinning {
    fn detect() -> Pinning {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let taskset = Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if std::env::var_os("PLAYBACK_BENCH_NO_PIN").is_some() {
            Pinning {
                on: false,
                why: "PLAYBACK_BENCH_NO_PIN is set".into(),
            }
        } else if !taskset {
            Pinning {
                on: false,
                why: "taskset not found".into(),
            }
        } else if cpus < 2 {
            Pinning {
                on: false,
                why: format!("{cpus} CPU"),
            }
        } else {
            Pinning {
                on: true,
                why: format!("{cpus} CPUs"),
            }
        }
    }

    fn describe(&self) -> String {
        if self.on {
            format!("CPU pinning ({}): after setup, the server (every thread) on CPU 0 and this load generator on CPU 1, with taskset; redis-server on CPU 0, redis-benchmark on CPU 1", self.why)
        } else {
            format!("no CPU pinning ({})", self.why)
        }
    }

    /// A command, under `taskset -c cpu` when pinning.
    fn command(&self, cpu: usize, program: &str) -> Command {
        if self.on {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu.to_string(), program]);
            c
        } else {
            Command::new(program)
        }
    }

    fn pin(&self, pid: u32, cpu: usize) {
        if !self.on {
            return;
        }
        let ok = Command::new("taskset")
            .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("warning: could not pin pid {pid} to CPU {cpu}");
        }
    }

    fn pin_server(&self, pid: u32) {
        self.pin(pid, 0);
    }

    fn pin_self(&self) {
        self.pin(std::process::id(), 1);
    }
}

/// A running `troupe serve` on sled with local blobs.
struct Node {
    /// `http://ADDR`.
    url: String,
    /// `ADDR`.
    addr: String,
    proc: Proc,
}

impl Node {
    async fn spawn(bin: &Path, data_dir: &Path) -> Node {
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log = data_dir.with_extension("log");
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            // Compiled defaults, not a half-edited ./config/default.toml.
            .current_dir(data_dir)
            .env_remove("RUST_LOG")
            .env("TROUPE__LOG__LEVEL", "warn")
            .env("TROUPE__SERVER__WORKERS", WORKERS)
            .env("TROUPE__RATE_LIMIT__ENABLED", "false")
            .env("TROUPE__AUTH__JWT_SECRET", SECRET)
            .env("TROUPE__AUTH__ACCESS_TTL_SECS", "86400")
            .env("TROUPE__STATE__BACKEND", "sled")
            .env("TROUPE__BLOBS__BACKEND", "local")
            .env("TROUPE__MEDIA__X264_PRESET", "ultrafast")
            .env("TROUPE__PLAYBACK__STREAM_TIMEOUT_SECS", "3600");
        let (proc, addr) = common::serve(cmd, log).await;
        let node = Node {
            url: format!("http://{addr}"),
            addr,
            proc,
        };
        // The store must be up before the first request.
        let client = Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let body: Value = match client.get(format!("{}/readyz", node.url)).send().await {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            if body["store"]["ok"] == true {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready within 60 s: {body}\n{}",
                node.url,
                node.proc.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        node
    }

    fn pid(&self) -> u32 {
        self.proc.child.id()
    }
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc: where the time went during a measured window.

/// CPU time (utime + stime, clock ticks) of each thread of `pid`, by thread name.
fn thread_ticks(pid: u32) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the name: state is field 3, utime 14, stime 15.
        let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        *out.entry(name).or_insert(0) += ticks;
    }
    out
}

/// A snapshot of the CPU time of the server's threads and of this process's.
struct CpuMark {
    at: Instant,
    server: BTreeMap<String, u64>,
    bench: BTreeMap<String, u64>,
}

impl CpuMark {
    fn take(server: u32) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            server: thread_ticks(server),
            bench: thread_ticks(std::process::id()),
        }
    }

    /// "server 97% of a core (actix-rt|system: 61%, troupe-actors: 30%, …); generator 40%"
    /// between `self` and `later`. Threads that exited in between are not counted.
    fn describe(&self, later: &CpuMark) -> String {
        let secs = later.at.duration_since(self.at).as_secs_f64() * clk_tck();
        let delta = |a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>| {
            let mut d: Vec<(String, f64)> = b
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.saturating_sub(*a.get(k).unwrap_or(&0)) as f64 / secs * 100.0,
                    )
                })
                .filter(|(_, pct)| *pct >= 0.5)
                .collect();
            d.sort_by(|x, y| y.1.total_cmp(&x.1));
            d
        };
        let server = delta(&self.server, &later.server);
        let bench = delta(&self.bench, &later.bench);
        let total = |d: &[(String, f64)]| d.iter().map(|(_, p)| p).sum::<f64>();
        format!(
            "server {:.0}% of a core ({}); generator {:.0}%",
            total(&server),
            server
                .iter()
                .take(5)
                .map(|(k, p)| format!("{k} {p:.0}%"))
                .collect::<Vec<_>>()
                .join(", "),
            total(&bench)
        )
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
fn clk_tck() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

// ---------------------------------------------------------------------------------------------
// Results.
