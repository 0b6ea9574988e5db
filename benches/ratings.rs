//! Durable writes at disk speed (issue 14): where a rating's time goes, and ratings against
//! redis `INCR` at the same concurrency, in one run.
//!
//! 1. **Breakdown.** One `troupe serve` on sled (temp data dir, one HTTP worker, rate limits
//!    off) with [`USERS`] users and [`VIDEOS`] public videos, started with the runtime's
//!    timing stamps on (`troupe_runtime::stamps` at debug level, see
//!    `actors/runtime/src/stamps.rs`). One connection sends `PUT /api/v1/videos/{id}/rating`
//!    (random user, video and rating) one at a time for [`BREAKDOWN_RUN`]; the bench notes the
//!    wall-clock time of each send and receive, reads the server's stamps from its log, lines
//!    each rating up with the stamps of its counter call, and prints p50 and mean of every
//!    stage of the ratings that wrote (a rating equal to the current one writes nothing).
//!    HTTP parse and token are split by difference: `GET /healthz` (no token, no body) and a
//!    rating with an invalid value (token and JSON body checked, answered 422 before any
//!    actor) at one connection too.
//! 2. **Ratings against redis.** The same node restarted without stamps takes ratings from 1,
//!    32 and 128 keep-alive connections ([`RUN_WARMUP`] + [`RUN`] each; each user on one
//!    connection at a time). Then `redis-benchmark -t incr` at the same `-c` (no pipelining),
//!    against a `redis-server` without persistence, and against one with `appendonly yes`,
//!    `appendfsync always` (every answer fsynced first, as troupe's are); the median of
//!    [`REDIS_ROUNDS`] runs. Prints requests/s and p50 side by side, the CPU the server spent per
//!    rating, the mean store flush batch, and the goals: a lone rating's p50 ≤ 0.5 ms, and at
//!    32 connections ≥ 0.5× plain redis INCR.
//!
//! 3. **Before and after** (only when `RATINGS_BENCH_BEFORE` names another `troupe` binary,
//!    e.g. one built from an earlier commit; it then replaces part 2). [`AB_ROUNDS`] rounds
//!    (`RATINGS_BENCH_ROUNDS`), each starting with the other binary: each binary serves the
//!    same data dir in turn and takes ratings at 1 and at 32 connections, then redis with
//!    `appendfsync always` runs `INCR` at 1 and 32 connections. Prints, per binary, the median
//!    and the range over the rounds of the lone rating's p50 and of ratings/s at 32, and the
//!    median ratio to redis. Issue 21 measured the cost of syncing sled's files after its flush
//!    this way.
//!
//! ```sh
//! cargo bench --bench ratings
//! RATINGS_BENCH_BEFORE=/tmp/troupe-before RATINGS_BENCH_ROUNDS=5 cargo bench --bench ratings
//! ```
//!
//! With `taskset` and 2+ CPUs, after setup the server (every thread) and redis-server run on
//! CPU 0, this process and redis-benchmark on CPU 1 (`RATINGS_BENCH_NO_PIN=1` turns that off).
//! Needs `redis-server` and `redis-benchmark` (`apt-get install -y redis-server`) for the
//! reference. Takes about two minutes.

#[path = "common/mod.rs"]
mod common;

use common::raw_http::{http_request, RawConn};
use common::{register, Percentiles, Proc, Rng, User};
use futures::stream::{self, StreamExt};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const PASSWORD: &str = "violet-harbor-cinnamon-42";
const SECRET: &str = "bench-secret-bench-secret-bench-secret-0";
/// Users: at 128 connections, two per connection.
const USERS: usize = 256;
const VIDEOS: usize = 500;
const BREAKDOWN_WARMUP: Duration = Duration::from_secs(1);
const BREAKDOWN_RUN: Duration = Duration::from_secs(5);
const PROBE_RUN: Duration = Duration::from_secs(2);
const CONNS: [usize; 3] = [1, 32, 128];
const RUN_WARMUP: Duration = Duration::from_secs(2);
const RUN: Duration = Duration::from_secs(8);
const REDIS_ROUNDS: usize = 3;
/// Part 3: rounds per binary (each binary once per round, in alternating order).
const AB_ROUNDS: usize = 5;
const GOAL_P50_MS: f64 = 0.5;
const GOAL_RATIO: f64 = 0.5;
const RATINGS: [&str; 3] = ["none", "like", "dislike"];

fn main() {
    let bin = common::troupe_bin("ratings");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(bin));
}

async fn run(bin: PathBuf) {
    let pin = std::env::var_os("RATINGS_BENCH_NO_PIN").is_none()
        && std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2
        && Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    println!(
        "[ratings bench] {}",
        if pin {
            "server and redis-server on CPU 0, load generator and redis-benchmark on CPU 1 (taskset)"
        } else {
            "no CPU pinning"
        }
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("node");

    // Part 1: the breakdown, on a node with stamps on.
    let node = Node::spawn(&bin, &data, true).await;
    let (users, videos) = setup(&node).await;
    if pin {
        taskset(node.pid(), 0);
        taskset(std::process::id(), 1);
    }
    let healthz = probe(&node, "GET", "/healthz", None, None).await;
    let bad_body = "{\"rating\":\"meh\"}";
    let bad = probe(
        &node,
        "PUT",
        &format!("/api/v1/videos/{}/rating", videos[0]),
        Some(&users[1].token),
        Some(bad_body),
    )
    .await;
    let timed = breakdown_run(&node, &users, &videos).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stamps = read_stamps(&node.proc.log);
    print_breakdown(&timed, &stamps, &healthz, &bad);
    drop(node);

    // Part 3 instead of part 2: this binary against an earlier one, alternating.
    if let Some(before) = std::env::var_os("RATINGS_BENCH_BEFORE") {
        let rounds = std::env::var("RATINGS_BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(AB_ROUNDS);
        before_after(
            pin,
            &[PathBuf::from(before), bin],
            &data,
            &users,
            &videos,
            rounds,
        )
        .await;
        return;
    }

    // Part 2: throughput against redis, on the same data without stamps.
    let node = Node::spawn(&bin, &data, false).await;
    if pin {
        taskset(node.pid(), 0);
    }
    let mut rows = Vec::new();
    for conns in CONNS {
        eprintln!("[ratings bench] ratings at {conns} connections");
        let r = rating_run(&node, &users, &videos, conns).await;
        let plain = redis(pin, false, conns);
        let fsync = redis(pin, true, conns);
        rows.push((conns, r, plain, fsync));
    }
    print_table(&rows);
}

// ---------------------------------------------------------------------------------------------
// The node.

struct Node {
    url: String,
    addr: String,
    proc: Proc,
}

impl Node {
    async fn spawn(bin: &Path, data_dir: &Path, stamps: bool) -> Node {
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log = data_dir.with_extension(if stamps { "stamps.log" } else { "log" });
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .current_dir(data_dir)
            .env_remove("RUST_LOG")
            .env(
                "TROUPE__LOG__LEVEL",
                if stamps {
                    "warn,troupe_runtime::stamps=debug"
                } else {
                    "warn"
                },
            )
            .env("TROUPE__LOG__FORMAT", "json")
            .env("TROUPE__SERVER__WORKERS", "1")
            .env("TROUPE__RATE_LIMIT__ENABLED", "false")
            .env("TROUPE__AUTH__JWT_SECRET", SECRET)
            .env("TROUPE__AUTH__ACCESS_TTL_SECS", "86400")
            .env("TROUPE__STATE__BACKEND", "sled")
            .env("TROUPE__BLOBS__BACKEND", "local");
        let (proc, addr) = common::serve(cmd, log).await;
        let node = Node {
            url: format!("http://{addr}"),
            addr,
            proc,
        };
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
            assert!(Instant::now() < deadline, "{} not ready", node.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        node
    }

    fn pid(&self) -> u32 {
        self.proc.child.id()
    }
}

fn taskset(pid: u32, cpu: usize) {
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

async fn setup(node: &Node) -> (Arc<Vec<User>>, Arc<Vec<String>>) {
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let started = Instant::now();
    // The first account is the admin: it creates the videos and rates nothing (an admin's
    // rating asks the user actor whether it still is one).
    let admin = register(&client, &node.url, "rbadmin", PASSWORD).await;
    let mut users: Vec<User> = stream::iter(0..USERS)
        .map(|i| {
            let (client, url) = (client.clone(), node.url.clone());
            async move { register(&client, &url, &format!("rb{i:05}"), PASSWORD).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    users.sort_by(|a, b| a.name.cmp(&b.name));
    let videos: Vec<String> = stream::iter(0..VIDEOS)
        .map(|i| {
            let (client, url, token) = (client.clone(), node.url.clone(), admin.token.clone());
            async move {
                let r = client
                    .post(format!("{url}/api/v1/videos"))
                    .bearer_auth(&token)
                    .json(&json!({"title": format!("rated {i}"), "visibility": "public"}))
                    .send()
                    .await
                    .expect("create video");
                assert_eq!(r.status(), StatusCode::CREATED);
                let body: Value = r.json().await.expect("video body");
                body["id"].as_str().expect("video id").to_owned()
            }
        })
        .buffered(16)
        .collect()
        .await;
    println!(
        "[setup] {USERS} users and {VIDEOS} public videos in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    (Arc::new(users), Arc::new(videos))
}

// ---------------------------------------------------------------------------------------------
// Part 1: the breakdown.

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One request at a time for [`PROBE_RUN`]: the latency percentiles (µs) and the statuses.
async fn probe(
    node: &Node,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (Percentiles, BTreeMap<u16, u64>) {
    let req = http_request(method, path, &node.addr, token, body);
    let mut conn = RawConn::new(&node.addr);
    let mut lat = Vec::new();
    let mut statuses = BTreeMap::new();
    let end = Instant::now() + PROBE_RUN;
    let mut n = 0u64;
    while Instant::now() < end {
        let t = Instant::now();
        let s = conn.request(&req).await.unwrap_or(0);
        n += 1;
        if n > 200 {
            lat.push(t.elapsed().as_nanos() as f64 / 1e3);
        }
        *statuses.entry(s).or_default() += 1;
    }
    (Percentiles::of(lat), statuses)
}

/// A rating as the bench saw it: wall-clock send and receive (Unix ns) and the status.
struct Timed {
    sent: u64,
    received: u64,
    status: u16,
}

async fn breakdown_run(node: &Node, users: &[User], videos: &[String]) -> Vec<Timed> {
    let mut conn = RawConn::new(&node.addr);
    let _ = conn.connect().await;
    let mut rng = Rng::new(0xB4EA_CD0E);
    let mut out = Vec::new();
    let started = Instant::now();
    while started.elapsed() < BREAKDOWN_WARMUP + BREAKDOWN_RUN {
        let u = rng.below(users.len() as u64) as usize;
        let v = rng.below(videos.len() as u64) as usize;
        let r = rng.below(3) as usize;
        let body = format!("{{\"rating\":\"{}\"}}", RATINGS[r]);
        let req = http_request(
            "PUT",
            &format!("/api/v1/videos/{}/rating", videos[v]),
            &node.addr,
            Some(&users[u].token),
            Some(&body),
        );
        let sent = unix_ns();
        let status = conn.request(&req).await.unwrap_or(0);
        let received = unix_ns();
        if started.elapsed() > BREAKDOWN_WARMUP {
            out.push(Timed {
                sent,
                received,
                status,
            });
        }
    }
    out
}

/// One call's stamps, as the server logged them (Unix ns; 0 = not passed).
#[derive(Default, Clone)]
struct Stamps {
    kind: String,
    f: BTreeMap<String, u64>,
}

impl Stamps {
    fn get(&self, k: &str) -> u64 {
        self.f.get(k).copied().unwrap_or(0)
    }
}

fn read_stamps(log: &Path) -> Vec<Stamps> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out: Vec<Stamps> = text
        .lines()
        .filter(|l| l.contains("troupe_runtime::stamps"))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            let mut s = Stamps {
                kind: v["kind"].as_str().unwrap_or("").to_owned(),
                ..Default::default()
            };
            if let Some(o) = v.as_object() {
                for (k, x) in o {
                    if let Some(n) = x.as_u64() {
                        s.f.insert(k.clone(), n);
                    }
                }
            }
            s
        })
        .collect();
    out.sort_by_key(|s| s.get("called"));
    out
}

/// The stages of a rating, each from one stamp to the next. `sent` and `received` are the
/// bench's own.
const STAGES: [(&str, &str, &str); 12] = [
    ("HTTP in: send, parse, token, body", "sent", "snap_start"),
    ("visibility check (snapshot)", "snap_start", "snap_end"),
    ("to the counter call", "snap_end", "called"),
    ("mailbox", "called", "handle_start"),
    ("handler", "handle_start", "handle_end"),
    ("stage: to the write's start", "handle_end", "write_spawned"),
    ("background write: task, CAS", "write_spawned", "cas_done"),
    ("flush wait: queued", "cas_done", "flush_start"),
    ("flush wait: flush (fsync)", "flush_start", "flush_end"),
    ("flush wait: wake the writer", "flush_end", "write_woke"),
    ("answer: actor to caller", "write_woke", "returned"),
    ("HTTP out: JSON, send, receive", "returned", "received"),
];

fn print_breakdown(
    timed: &[Timed],
    stamps: &[Stamps],
    healthz: &(Percentiles, BTreeMap<u16, u64>),
    bad: &(Percentiles, BTreeMap<u16, u64>),
) {
    let counters: Vec<&Stamps> = stamps.iter().filter(|s| s.kind == "counter").collect();
    let mut rows: Vec<Vec<f64>> = vec![Vec::new(); STAGES.len()];
    let mut totals = Vec::new();
    let mut all = Vec::new();
    let (mut matched, mut no_write) = (0, 0);
    let mut j = 0;
    for t in timed.iter().filter(|t| t.status == 200) {
        all.push((t.received - t.sent) as f64 / 1e3);
        while j < counters.len() && counters[j].get("called") < t.sent {
            j += 1;
        }
        let Some(s) = counters.get(j).filter(|s| s.get("returned") <= t.received) else {
            continue;
        };
        matched += 1;
        if s.get("write_spawned") == 0 || s.get("flush_end") == 0 {
            no_write += 1;
            continue;
        }
        let at = |k: &str| match k {
            "sent" => t.sent,
            "received" => t.received,
            k => s.get(k),
        };
        for (i, (_, from, to)) in STAGES.iter().enumerate() {
            rows[i].push(at(to).saturating_sub(at(from)) as f64 / 1e3);
        }
        totals.push((t.received - t.sent) as f64 / 1e3);
    }
    println!();
    println!("== 1. Where a rating's time goes: one connection, one rating at a time, one node on sled, stamps on ==");
    println!(
        "{} ratings answered 200 in {} s ({:.0}/s), p50 {:.0} µs; {} lined up with the server's stamps, {} of them wrote nothing (rating unchanged); the {} that wrote:",
        all.len(),
        BREAKDOWN_RUN.as_secs(),
        all.len() as f64 / BREAKDOWN_RUN.as_secs_f64(),
        Percentiles::of(all.clone()).p50,
        matched,
        no_write,
        totals.len()
    );
    println!("{:<36} {:>9} {:>9}", "stage", "p50 µs", "mean µs");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    for (i, (name, _, _)) in STAGES.iter().enumerate() {
        println!(
            "{:<36} {:>9.1} {:>9.1}",
            name,
            Percentiles::of(rows[i].clone()).p50,
            mean(&rows[i])
        );
    }
    println!(
        "{:<36} {:>9.1} {:>9.1}",
        "total (bench: send to receive)",
        Percentiles::of(totals.clone()).p50,
        mean(&totals)
    );
    println!(
        "HTTP in, split by difference at one connection: GET /healthz p50 {:.1} µs {:?} (HTTP parse and answer, no token); a rating with an invalid value p50 {:.1} µs {:?} (token and JSON body checked, 422 before any actor): token + body ≈ {:.1} µs",
        healthz.0.p50,
        healthz.1,
        bad.0.p50,
        bad.1,
        bad.0.p50 - healthz.0.p50
    );
}

// ---------------------------------------------------------------------------------------------
// Part 2: throughput.

struct Run {
    ok: usize,
    errors: u64,
    elapsed: Duration,
    lat: Percentiles,
    cpu_us_per_rating: f64,
    flush_batch: Option<f64>,
}

async fn rating_run(
    node: &Node,
    users: &Arc<Vec<User>>,
    videos: &Arc<Vec<String>>,
    conns: usize,
) -> Run {
    let phase = Arc::new(AtomicU8::new(0));
    let tasks: Vec<_> = (0..conns)
        .map(|t| {
            let (addr, users, videos, phase) = (
                node.addr.clone(),
                users.clone(),
                videos.clone(),
                phase.clone(),
            );
            tokio::spawn(async move {
                let mine: Vec<usize> = (t..users.len()).step_by(conns).collect();
                let mut rng = Rng::new(0x5EED + t as u64 * 7919 + conns as u64);
                let mut conn = RawConn::new(&addr);
                let (mut lat, mut errors) = (Vec::new(), 0u64);
                loop {
                    let p = phase.load(Ordering::Relaxed);
                    if p == 2 {
                        return (lat, errors);
                    }
                    let u = mine[rng.below(mine.len() as u64) as usize];
                    let v = rng.below(videos.len() as u64) as usize;
                    let r = rng.below(3) as usize;
                    let body = format!("{{\"rating\":\"{}\"}}", RATINGS[r]);
                    let req = http_request(
                        "PUT",
                        &format!("/api/v1/videos/{}/rating", videos[v]),
                        &addr,
                        Some(&users[u].token),
                        Some(&body),
                    );
                    let start = Instant::now();
                    let res = conn.request(&req).await;
                    let us = start.elapsed().as_nanos() as f64 / 1e3;
                    if p == 1 && phase.load(Ordering::Relaxed) == 1 {
                        match res {
                            Ok(200) => lat.push(us),
                            _ => errors += 1,
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(RUN_WARMUP).await;
    let before = metrics_text(&node.url).await;
    let cpu0 = process_ticks(node.pid());
    phase.store(1, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(RUN).await;
    phase.store(2, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu = process_ticks(node.pid()) - cpu0;
    let after = metrics_text(&node.url).await;
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.expect("rating task");
        lat.extend(l);
        errors += e;
    }
    let diff = |name: &str| metric(&after, name) - metric(&before, name);
    let c = diff("troupe_store_flush_batch_size_count");
    Run {
        ok: lat.len(),
        errors,
        elapsed,
        cpu_us_per_rating: cpu / clk_tck() * 1e6 / lat.len().max(1) as f64,
        lat: Percentiles::of(lat),
        flush_batch: (c > 0.0).then(|| diff("troupe_store_flush_batch_size_sum") / c),
    }
}

/// utime + stime of a process, in clock ticks.
fn process_ticks(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // After the command: state is 0, utime 11, stime 12.
    n(11) + n(12)
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

async fn metrics_text(url: &str) -> String {
    match Client::new().get(format!("{url}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `redis-benchmark -t incr -c conns` against a fresh redis-server ([`REDIS_ROUNDS`] runs):
/// the median run's requests/s and p50 (ms).
fn redis(pin: bool, fsync: bool, conns: usize) -> Result<(f64, f64), String> {
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
                "{tool} not found (apt-get install -y redis-server)"
            ));
        }
    }
    let pinned = |cpu: usize, program: &str| {
        if pin {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu.to_string(), program]);
            c
        } else {
            Command::new(program)
        }
    };
    let port = common::free_port();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let log = dir.path().join("redis.log");
    let mut cmd = pinned(0, "redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--dir"])
        .arg(dir.path());
    if fsync {
        cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
    } else {
        cmd.args(["--appendonly", "no"]);
    }
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).map_err(|e| e.to_string())?)
        .stderr(Stdio::null());
    let child = cmd.spawn().map_err(|e| format!("redis-server: {e}"))?;
    let _redis = Proc { child, log };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("redis-server did not listen within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // About 2-4 s per run.
    let n = match (conns, fsync) {
        (1, true) => 15_000,
        (1, false) => 40_000,
        _ => 200_000,
    };
    let mut runs = Vec::new();
    for _ in 0..REDIS_ROUNDS {
        let out = pinned(1, "redis-benchmark")
            .args(["-p", &port.to_string(), "-t", "incr", "-q"])
            .args(["-c", &conns.to_string(), "-n", &n.to_string()])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("redis-benchmark: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        // "INCR: 123456.79 requests per second, p50=0.135 msec" (after \r-separated progress).
        let line = text
            .split(['\r', '\n'])
            .rfind(|l| l.contains("requests per second"))
            .ok_or_else(|| format!("cannot parse redis-benchmark output: {text}"))?;
        let rps: f64 = line
            .split(':')
            .nth(1)
            .and_then(|x| x.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| format!("cannot parse {line}"))?;
        let p50: f64 = line
            .split("p50=")
            .nth(1)
            .and_then(|x| x.split_whitespace().next()?.parse().ok())
            .unwrap_or(f64::NAN);
        runs.push((rps, p50));
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(runs[runs.len() / 2])
}

type Row = (
    usize,
    Run,
    Result<(f64, f64), String>,
    Result<(f64, f64), String>,
);

fn print_table(rows: &[Row]) {
    println!();
    println!("== 2. Ratings (PUT /api/v1/videos/{{id}}/rating, durable) vs redis INCR, same -c, one run ==");
    println!(
        "{:>5} {:>10} {:>8} {:>8} {:>7} {:>9} {:>6} | {:>10} {:>8} | {:>10} {:>8} | {:>8} {:>8}",
        "conns",
        "ratings/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "CPU µs/r",
        "flush",
        "redis/s",
        "p50 ms",
        "fsync/s",
        "p50 ms",
        "/redis",
        "/fsync"
    );
    let cell = |r: &Result<(f64, f64), String>| match r {
        Ok((rps, p50)) => format!("{rps:>10.0} {p50:>8.3}"),
        Err(_) => format!("{:>10} {:>8}", "-", "-"),
    };
    for (conns, run, plain, fsync) in rows {
        let rps = run.ok as f64 / run.elapsed.as_secs_f64();
        let ratio = |r: &Result<(f64, f64), String>| match r {
            Ok((x, _)) => format!("{:.2}", rps / x),
            Err(_) => "-".into(),
        };
        println!(
            "{:>5} {:>10.0} {:>8.3} {:>8.3} {:>7} {:>9.1} {:>6} | {} | {} | {:>8} {:>8}",
            conns,
            rps,
            run.lat.p50 / 1e3,
            run.lat.p99 / 1e3,
            run.errors,
            run.cpu_us_per_rating,
            run.flush_batch.map_or("-".into(), |b| format!("{b:.1}")),
            cell(plain),
            cell(fsync),
            ratio(plain),
            ratio(fsync)
        );
    }
    if let Some((_, _, Err(e), _)) = rows.first() {
        println!("redis: {e}");
    }
    println!("(redis: plain = no persistence; fsync = appendonly yes, appendfsync always; median of {REDIS_ROUNDS} redis-benchmark runs. CPU µs/r: the server's CPU time over the run per rating answered. flush: mean writes per store flush.)");
    for (conns, run, plain, _) in rows {
        if *conns == 1 {
            let p50 = run.lat.p50 / 1e3;
            println!(
                "goal: one connection, rating p50 {p50:.3} ms ≤ {GOAL_P50_MS} ms: {}",
                if p50 <= GOAL_P50_MS { "PASS" } else { "MISS" }
            );
        }
        if *conns == 32 {
            if let Ok((x, _)) = plain {
                let ratio = run.ok as f64 / run.elapsed.as_secs_f64() / x;
                println!(
                    "goal: 32 connections, {ratio:.2}× plain redis INCR ≥ {GOAL_RATIO}: {}",
                    if ratio >= GOAL_RATIO { "PASS" } else { "MISS" }
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Part 3: before and after.

/// Median and range of `xs`.
fn spread(xs: &[f64]) -> (f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

async fn before_after(
    pin: bool,
    bins: &[PathBuf; 2],
    data: &Path,
    users: &Arc<Vec<User>>,
    videos: &Arc<Vec<String>>,
    rounds: usize,
) {
    // Per binary: lone p50 (ms), ratings/s at 32; redis fsync: (1 conn p50 ms, 32 conns /s).
    let mut p50 = [Vec::new(), Vec::new()];
    let mut rps = [Vec::new(), Vec::new()];
    let mut ratio = [Vec::new(), Vec::new()];
    let (mut redis_p50, mut redis_rps) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let redis1 = redis(pin, true, 1);
        let redis32 = redis(pin, true, 32);
        if let (Ok((_, p)), Ok((r, _))) = (&redis1, &redis32) {
            redis_p50.push(*p);
            redis_rps.push(*r);
        }
        for b in order {
            let node = Node::spawn(&bins[b], data, false).await;
            if pin {
                taskset(node.pid(), 0);
            }
            let one = rating_run(&node, users, videos, 1).await;
            let many = rating_run(&node, users, videos, 32).await;
            drop(node);
            let r = many.ok as f64 / many.elapsed.as_secs_f64();
            eprintln!(
                "[ratings bench] round {} {}: lone p50 {:.3} ms, 32 conns {:.0}/s (errors {}+{})",
                round + 1,
                if b == 0 { "before" } else { "after" },
                one.lat.p50 / 1e3,
                r,
                one.errors,
                many.errors
            );
            p50[b].push(one.lat.p50 / 1e3);
            rps[b].push(r);
            if let Ok((x, _)) = &redis32 {
                ratio[b].push(r / x);
            }
        }
    }
    println!();
    println!(
        "== 3. Before and after, {rounds} alternating rounds (median [min-max]); redis INCR with appendfsync always in each round =="
    );
    println!("before: {}", bins[0].display());
    println!("after:  {}", bins[1].display());
    for (b, name) in ["before", "after"].iter().enumerate() {
        let (m, lo, hi) = spread(&p50[b]);
        let (rm, rlo, rhi) = spread(&rps[b]);
        let (q, qlo, qhi) = spread(&ratio[b]);
        println!(
            "{name:>6}: lone rating p50 {m:.3} ms [{lo:.3}-{hi:.3}]; 32 conns {rm:.0}/s [{rlo:.0}-{rhi:.0}], {q:.2}x redis fsync [{qlo:.2}-{qhi:.2}]"
        );
    }
    let (m, lo, hi) = spread(&redis_p50);
    let (rm, rlo, rhi) = spread(&redis_rps);
    println!(
        " redis: appendfsync always, INCR p50 at 1 conn {m:.3} ms [{lo:.3}-{hi:.3}]; 32 conns {rm:.0}/s [{rlo:.0}-{rhi:.0}]"
    );
    let (after, _, _) = spread(&p50[1]);
    println!(
        "goal: one connection, rating p50 {after:.3} ms ≤ {GOAL_P50_MS} ms: {}",
        if after <= GOAL_P50_MS { "PASS" } else { "MISS" }
    );
}
