//! Load benchmark of the cluster mode, with real processes: a `moto_server` S3 bucket as the
//! shared state store, and `troupe serve` nodes joined through ractor_cluster, driven over HTTP
//! by this process with reqwest.
//!
//! What it measures, in one run:
//!
//! 1. **Forwarded vs local latency.** A 3-node cluster (node0..node2); ~30 users registered
//!    and logged in through node0. The bench computes each user's owner with the same
//!    rendezvous function the nodes use ([`troupe_cluster::owner`]) and then sends, one at a
//!    time over one keep-alive connection, `GET /api/v1/users/me` to node0 for users node0
//!    owns (local) and for users node1/node2 own (forwarded over the forwarding link), interleaved,
//!    after a warm-up. The actors are already active and the request writes nothing, so the
//!    difference is the cost of forwarding. Prints p50/p90/p99 of both and the
//!    forwarded/local ratio at p50 and p99 (goal: ≤ 1.5× at p50).
//! 2. **Throughput, three nodes vs one.** [`CLIENTS`] concurrent clients (tokio tasks over
//!    keep-alive connections) for a fixed time after a warm-up: a mixed workload (90%
//!    `GET /users/me` over all users and all nodes, 10% admin
//!    `PUT /api/v1/admin/users/{name}/plan`), and a write-only variant, on a 1-node cluster
//!    (node0 alone, seeds = itself) and on the 3-node cluster. Prints requests/s, the ratio,
//!    error counts (any non-2xx or transport error), and the view changes and forwards the
//!    nodes counted in `/metrics` during the run.
//! 3. **What a write costs in the shared store.** Write-only throughput of one node on sled
//!    with local blobs (no cluster) vs the 1-node S3 cluster; and bare conditional PUTs
//!    (`If-Match: <etag>`, what one plan change costs in the store) sent from the bench to the
//!    same moto_server: the latency of one at a time, and the PUTs/s of [`CLIENTS`] concurrent
//!    writers, which is the ceiling of S3-backed writes on this machine.
//!
//! **TLS mode** (`cargo bench --bench cluster -- tls`) measures only what TLS on the cluster
//! links costs: part 1 (forwarded vs local `GET /api/v1/users/me` on node0, sequential) on a
//! 2-node cluster with plain-TCP links (`cluster.insecure = true`) and then on a 2-node
//! cluster whose links are TLS with certificates from `troupe cluster certs`, in one run.
//! Prints both and the TLS cluster's forwarded/local ratio at p50 (goal: ≤ 1.5×), and the CPU
//! of both nodes' processes per request, local and forwarded (sequential batches). Takes
//! about half a minute.
//!
//! **Failover mode** (`cargo bench --bench cluster -- failover`) measures how soon a node's
//! death is noticed and its actors answer elsewhere, the speed goal that the fault tests
//! (tests/it/failover.rs, cluster.rs, cluster_tls.rs) no longer time: [`FAILOVER_ROUNDS`]
//! rounds, alternating `kill -9` and SIGSTOP of node2 of a fresh 3-node cluster (default
//! timings: heartbeat 250 ms, failure deadline 1.5 s). Each round activates
//! [`FAILOVER_ACCOUNTS`] accounts node2 owns through node0, faults node2, and records how long
//! until node0 reports node2 `down` and until every one of those accounts answers
//! `GET /api/v1/users/me` on node0 again. Prints the median and the spread (min-max) over the
//! rounds of each fault, against the goals (answering within 1 s of a `kill -9`, within 3 s
//! of a SIGSTOP). Takes about two minutes.
//!
//! Everything runs on the same machine (2 cores here): the nodes, moto_server (one Python
//! process, which every S3-backed write goes through) and the load generator compete for the
//! cores, so absolute numbers are noisy and three nodes cannot be expected to beat one; compare
//! the ratios within one run.
//!
//! # Running
//!
//! ```sh
//! cargo bench --bench cluster          # parts 1-3, plain-TCP cluster links
//! cargo bench --bench cluster -- tls   # part 1 on 2 nodes, plain TCP then TLS
//! cargo bench --bench cluster -- failover   # failover after kill -9 and SIGSTOP
//! ```
//!
//! Cargo builds the `troupe` binary first (bench profile = release settings, into
//! `target/release/troupe`) and passes its path to benchmarks as `CARGO_BIN_EXE_troupe`, so no
//! separate `cargo build --release` is needed. `moto_server` must be on `PATH`
//! (`pip install 'moto[server]'`; `./scripts/test.sh` installs it). Takes about two minutes.
//! Every process it starts is killed (SIGKILL) when the bench ends, also on panic.
//!
//! Nodes run with `TROUPE__SERVER__WORKERS=2`, rate limits off, `warn` logs, and the default
//! cluster timings (heartbeat 250 ms, failure deadline 1.5 s). moto_server (Werkzeug) answers
//! every request with `Connection: close`, so each store request, the nodes' and the bench's
//! bare PUT alike, opens a new TCP connection.

#[path = "common/mod.rs"]
mod common;

use common::{register, Percentiles, Proc, Rng, User};
use futures::stream::{self, StreamExt};
use reqwest::Client;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The password of every bench user (strong enough for the default policy).
const PASSWORD: &str = "violet-harbor-cinnamon-42";
/// The token signing secret every node shares (40 characters).
const SECRET: &str = "bench-secret-bench-secret-bench-secret-0";
/// Strong by troupe's rule: a cluster node refuses a weak cookie.
const COOKIE: &str = "bc-Z4nW8qT1xK6mR3vJ9pL2hD7sF0gY5cB";
/// `server.workers` of every node.
const WORKERS: &str = "2";
/// Users registered per deployment; the first is the admin.
const USERS: usize = 30;
/// Part 1: requests before measuring, and measured requests of each kind.
const LATENCY_WARMUP: usize = 600;
const LATENCY_SAMPLES: usize = 3_000;
/// Part 2: concurrent clients, and the timings of the two workloads.
const CLIENTS: usize = 32;
const MIXED_WARMUP: Duration = Duration::from_secs(2);
const MIXED_RUN: Duration = Duration::from_secs(10);
const WRITES_WARMUP: Duration = Duration::from_secs(1);
const WRITES_RUN: Duration = Duration::from_secs(6);
/// Share of writes in the mixed workload, in percent.
const MIXED_WRITE_PERCENT: u64 = 10;
/// Part 3: conditional PUTs timed against moto_server.
const PUT_WARMUP: usize = 50;
const PUT_SAMPLES: usize = 400;
/// Part 3: timings of the concurrent conditional PUTs to moto_server.
const PUT_CONCURRENT_WARMUP: Duration = Duration::from_millis(500);
const PUT_CONCURRENT_RUN: Duration = Duration::from_secs(3);
/// An `Authorization` header moto_server accepts (it does not verify signatures).
const FAKE_SIGV4: &str = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
const PLANS: [&str; 4] = ["free", "basic", "premium", "ultimate"];
/// Failover mode: rounds (alternately `kill -9` and SIGSTOP), and node2's accounts per round.
const FAILOVER_ROUNDS: usize = 10;
const FAILOVER_ACCOUNTS: usize = 6;

fn main() {
    // `cargo bench` passes `--bench`; `tls` picks the TLS mode.
    let tls = std::env::args().any(|a| a == "tls");
    let failover = std::env::args().any(|a| a == "failover");
    let bin = common::troupe_bin("cluster");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if failover {
        rt.block_on(run_failover(bin));
    } else if tls {
        rt.block_on(run_tls(bin));
    } else {
        rt.block_on(run(bin));
    }
}

/// The failover mode: how soon node2's death or freeze is noticed on node0, and how soon its
/// actors answer there.
async fn run_failover(bin: PathBuf) {
    let total = Instant::now();
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let names: Vec<String> = (0..3).map(|i| format!("node{i}")).collect();
    // (fault, time until declared down, time until the last account answered), in ms.
    let mut rounds: Vec<(&str, f64, f64)> = Vec::new();
    for round in 0..FAILOVER_ROUNDS {
        let fault = if round % 2 == 0 { "kill -9" } else { "SIGSTOP" };
        eprintln!(
            "[cluster bench] failover round {}: a 3-node cluster, {fault} of node2…",
            round + 1
        );
        let mut d = Deployment::cluster(&bin, 3).await;
        let url = d.nodes[0].url.clone();
        let admin = register(&client, &url, "admin", PASSWORD).await;
        // Accounts node2 owns, made and activated through node0.
        let mut owned = Vec::new();
        let mut i = 0;
        while owned.len() < FAILOVER_ACCOUNTS {
            let name = format!("fo{i}");
            i += 1;
            let id = troupe_runtime::ActorId::new("user", &name);
            if troupe_cluster::owner(&id, &names).expect("members") == "node2" {
                owned.push(register(&client, &url, &name, PASSWORD).await);
            }
        }
        for u in &owned {
            let r = client
                .get(format!("{url}/api/v1/users/me"))
                .bearer_auth(&u.token)
                .send()
                .await
                .expect("GET /users/me");
            assert!(r.status().is_success(), "{}", r.status());
        }
        let pid = d.nodes[2].proc.child.id() as i32;
        let signal = if fault == "kill -9" { "KILL" } else { "STOP" };
        let t = Instant::now();
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        // Until node0 says node2 is down.
        let down = {
            let client = client.clone();
            let (url, token) = (url.clone(), admin.token.clone());
            tokio::spawn(async move {
                loop {
                    if let Ok(r) = client
                        .get(format!("{url}/api/v1/cluster"))
                        .bearer_auth(&token)
                        .send()
                        .await
                    {
                        let v: Value = r.json().await.unwrap_or(Value::Null);
                        let down = v["members"].as_array().is_some_and(|m| {
                            m.iter()
                                .any(|m| m["name"] == "node2" && m["state"] == "down")
                        });
                        if down {
                            return t.elapsed();
                        }
                    }
                    assert!(
                        t.elapsed() < Duration::from_secs(60),
                        "node2 never went down"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        // Until every account answers on node0.
        let answers: Vec<_> = owned
            .iter()
            .map(|u| {
                let (client, url, token) = (client.clone(), url.clone(), u.token.clone());
                tokio::spawn(async move {
                    loop {
                        if let Ok(r) = client
                            .get(format!("{url}/api/v1/users/me"))
                            .bearer_auth(&token)
                            .send()
                            .await
                        {
                            if r.status().is_success() {
                                return t.elapsed();
                            }
                        }
                        assert!(t.elapsed() < Duration::from_secs(60), "no failover");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
            })
            .collect();
        let down = down.await.expect("down task").as_secs_f64() * 1e3;
        let mut last = 0.0f64;
        for a in answers {
            last = last.max(a.await.expect("answer task").as_secs_f64() * 1e3);
        }
        eprintln!("[cluster bench]   {fault}: declared down after {down:.0} ms, all {FAILOVER_ACCOUNTS} accounts answered after {last:.0} ms");
        rounds.push((fault, down, last));
        if fault == "SIGSTOP" {
            // Let it go, so that it can be killed with the deployment.
            let _ = Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
        d.nodes.clear();
    }
    println!();
    println!(
        "== Failover on 3 nodes (heartbeat 250 ms, failure deadline 1.5 s): {FAILOVER_ROUNDS} rounds, {FAILOVER_ACCOUNTS} of node2's accounts each, asked through node0 (ms) =="
    );
    println!(
        "{:<10} {:>7} {:>20} {:>22} {:>22}",
        "fault", "rounds", "declared down, p50", "(min-max)", "all answer, p50 (min-max)"
    );
    for (fault, goal_ms) in [("kill -9", 1000.0), ("SIGSTOP", 3000.0)] {
        let of = |pick: fn(&(&str, f64, f64)) -> f64| {
            let mut v: Vec<f64> = rounds.iter().filter(|r| r.0 == fault).map(pick).collect();
            v.sort_by(f64::total_cmp);
            (v[v.len() / 2], v[0], v[v.len() - 1])
        };
        let (d50, dmin, dmax) = of(|r| r.1);
        let (a50, amin, amax) = of(|r| r.2);
        println!(
            "{fault:<10} {:>7} {d50:>20.0} {:>22} {:>22}   goal: every account within {goal_ms:.0} ms: {}",
            rounds.iter().filter(|r| r.0 == fault).count(),
            format!("({dmin:.0}-{dmax:.0})"),
            format!("{a50:.0} ({amin:.0}-{amax:.0})"),
            if amax <= goal_ms { "PASS" } else { "MISS" }
        );
    }
    println!("(total {:.0} s)", total.elapsed().as_secs_f64());
}

/// The TLS mode: forwarded vs local latency on 2 nodes, plain-TCP links then TLS links.
async fn run_tls(bin: PathBuf) {
    let total = Instant::now();
    let mut results = Vec::new();
    let mut cpu = Vec::new();
    for tls in [false, true] {
        let label = if tls { "TLS" } else { "plain TCP" };
        eprintln!("[cluster bench] starting moto_server and a 2-node cluster, {label} links…");
        let two = Deployment::cluster_with(&bin, 2, tls).await;
        let users = setup_users(&two.nodes[0].url, USERS).await;
        let names: Vec<String> = (0..2).map(|i| format!("node{i}")).collect();
        let (local, forwarded): (Vec<&User>, Vec<&User>) = users.iter().partition(|u| {
            troupe_cluster::owner(&troupe_runtime::ActorId::new("user", &u.name), &names)
                .expect("members")
                == "node0"
        });
        assert!(
            !local.is_empty() && !forwarded.is_empty(),
            "need users on node0 and on node1"
        );
        let before = two.counters().await;
        let (lat_local, lat_fwd) = latency(&two.nodes[0].url, &local, &forwarded).await;
        let after = two.counters().await;
        assert!(
            after.forwards - before.forwards >= LATENCY_SAMPLES as f64,
            "the forwarded requests must have been forwarded"
        );
        let pids: Vec<u32> = two.nodes.iter().map(|n| n.proc.child.id()).collect();
        let cpu_local = cpu_per_request(&two.nodes[0].url, &local, &pids).await;
        let cpu_fwd = cpu_per_request(&two.nodes[0].url, &forwarded, &pids).await;
        cpu.push((label, cpu_local, cpu_fwd));
        results.push((label, Percentiles::of(lat_local), Percentiles::of(lat_fwd)));
    }
    println!();
    println!(
        "== TLS on the cluster links: GET /api/v1/users/me on node0 of 2, sequential, one keep-alive connection (µs) =="
    );
    println!(
        "{:<22} {:>8} {:>8} {:>8} {:>8}",
        "", "p50", "p90", "p99", "max"
    );
    for (label, l, f) in &results {
        println!("{:<22} {}", format!("{label}, local"), l.row());
        println!("{:<22} {}", format!("{label}, forwarded"), f.row());
    }
    for (label, l, f) in &results {
        println!(
            "{label}: forwarded/local p50 {:.2}x ({:.0} µs vs {:.0} µs), p99 {:.2}x",
            f.p50 / l.p50,
            f.p50,
            l.p50,
            f.p99 / l.p99
        );
    }
    println!("== CPU per request, both nodes' processes together (µs), {CPU_SAMPLES} sequential requests each ==");
    for (label, l, f) in &cpu {
        println!(
            "{label}: local {:.0} µs, forwarded {:.0} µs ({:.2}x)",
            l.total,
            f.total,
            f.total / l.total
        );
        println!("  local, by thread (µs): {}", l.threads_line());
        println!("  forwarded, by thread (µs): {}", f.threads_line());
    }
    let (plain, tls) = (&results[0], &results[1]);
    println!(
        "TLS forwarded/local p50: {:.2}x (goal ≤ 1.5x: {}); TLS adds {:.0} µs to a forwarded request's p50 over plain TCP",
        tls.2.p50 / tls.1.p50,
        if tls.2.p50 / tls.1.p50 <= 1.5 { "PASS" } else { "MISS" },
        tls.2.p50 - plain.2.p50
    );
    println!("(total {:.0} s)", total.elapsed().as_secs_f64());
}

async fn run(bin: PathBuf) {
    let total = Instant::now();
    let mut rows: Vec<(String, String)> = Vec::new();

    // ---- The 3-node cluster: latency, then throughput.
    eprintln!("[cluster bench] starting moto_server and a 3-node cluster…");
    let three = Deployment::cluster(&bin, 3).await;
    let users = setup_users(&three.nodes[0].url, USERS).await;
    let names: Vec<String> = (0..3).map(|i| format!("node{i}")).collect();
    let (local, forwarded): (Vec<&User>, Vec<&User>) = users.iter().partition(|u| {
        troupe_cluster::owner(&troupe_runtime::ActorId::new("user", &u.name), &names)
            .expect("members")
            == "node0"
    });
    assert!(
        !local.is_empty() && !forwarded.is_empty(),
        "need users on node0 and elsewhere"
    );
    eprintln!(
        "[cluster bench] part 1: {} users owned by node0, {} by node1/node2; {LATENCY_SAMPLES} sequential requests each",
        local.len(),
        forwarded.len()
    );
    let before = three.counters().await;
    let (lat_local, lat_fwd) = latency(&three.nodes[0].url, &local, &forwarded).await;
    let after = three.counters().await;
    let (l, f) = (Percentiles::of(lat_local), Percentiles::of(lat_fwd));
    println!();
    println!("== 1. GET /api/v1/users/me on node0, sequential, one keep-alive connection (µs) ==");
    println!(
        "{:<11} {:>8} {:>8} {:>8} {:>8}",
        "", "p50", "p90", "p99", "max"
    );
    println!("{:<11} {}", "local", l.row());
    println!("{:<11} {}", "forwarded", f.row());
    println!(
        "forwarded/local: p50 {:.2}x  p99 {:.2}x  (goal ≤ 1.5x at p50); forwards served {}, view changes {}",
        f.p50 / l.p50,
        f.p99 / l.p99,
        after.forwards - before.forwards,
        after.view_changes - before.view_changes,
    );
    // Heartbeats go through ractor_cluster alone (gateway to gateway, answered inline): their
    // mean round trip is what a request forwarded as a ractor_cluster call would pay at least,
    // and the reason requests travel on the forwarding link instead.
    let ping_us =
        (after.ping_sum - before.ping_sum) / (after.ping_count - before.ping_count).max(1.0) * 1e6;
    println!(
        "bare ractor_cluster round trip (heartbeats during the run, mean): {ping_us:.0} µs; forwarding added {:.0} µs at p50",
        f.p50 - l.p50
    );
    rows.push((
        "ractor_cluster round trip, mean".into(),
        format!(
            "{ping_us:.0} µs (forwarding adds {:.0} µs at p50)",
            f.p50 - l.p50
        ),
    ));
    rows.push((
        "forwarded/local latency, p50".into(),
        format!(
            "{:.2}x  ({:.0} µs vs {:.0} µs)",
            f.p50 / l.p50,
            f.p50,
            l.p50
        ),
    ));
    rows.push((
        "forwarded/local latency, p99".into(),
        format!(
            "{:.2}x  ({:.0} µs vs {:.0} µs)",
            f.p99 / l.p99,
            f.p99,
            l.p99
        ),
    ));

    let mixed3 = three.load(&users, MIXED_WRITE_PERCENT).await;
    let writes3 = three.load(&users, 100).await;
    drop(three);

    // ---- The 1-node cluster: throughput, then a bare conditional PUT to its moto_server.
    eprintln!("[cluster bench] starting moto_server and a 1-node cluster…");
    let one = Deployment::cluster(&bin, 1).await;
    let users = setup_users(&one.nodes[0].url, USERS).await;
    let mixed1 = one.load(&users, MIXED_WRITE_PERCENT).await;
    let writes1 = one.load(&users, 100).await;
    let (put, put_rps) = conditional_puts(one.moto.as_ref().expect("moto")).await;
    drop(one);

    // ---- One node on sled with local blobs, no cluster.
    eprintln!("[cluster bench] starting one node on sled…");
    let sled = Deployment::sled(&bin).await;
    let users = setup_users(&sled.nodes[0].url, USERS).await;
    let writes_sled = sled.load(&users, 100).await;
    drop(sled);

    println!();
    println!(
        "== 2. Throughput, {CLIENTS} clients over keep-alive connections, requests spread over all nodes =="
    );
    println!("{}", LoadResult::header());
    for (label, r) in [
        ("mixed, 1 node (s3)", &mixed1),
        ("mixed, 3 nodes (s3)", &mixed3),
        ("writes, 1 node (s3)", &writes1),
        ("writes, 3 nodes (s3)", &writes3),
        ("writes, 1 node (sled)", &writes_sled),
    ] {
        println!("{}", r.row(label));
    }
    for (label, r) in [
        ("mixed, 1 node (s3)", &mixed1),
        ("mixed, 3 nodes (s3)", &mixed3),
        ("writes, 1 node (s3)", &writes1),
        ("writes, 3 nodes (s3)", &writes3),
        ("writes, 1 node (sled)", &writes_sled),
    ] {
        if let Some(e) = &r.first_error {
            println!("first error in {label}: {e}");
        }
    }
    println!(
        "3 nodes / 1 node: mixed {:.2}x, writes {:.2}x",
        mixed3.rps() / mixed1.rps(),
        writes3.rps() / writes1.rps()
    );
    rows.push((
        "mixed req/s, 3 nodes vs 1".into(),
        format!(
            "{:.2}x  ({:.0} vs {:.0}; errors {} / {})",
            mixed3.rps() / mixed1.rps(),
            mixed3.rps(),
            mixed1.rps(),
            mixed3.errors(),
            mixed1.errors()
        ),
    ));
    rows.push((
        "write req/s, 3 nodes vs 1".into(),
        format!(
            "{:.2}x  ({:.0} vs {:.0}; errors {} / {})",
            writes3.rps() / writes1.rps(),
            writes3.rps(),
            writes1.rps(),
            writes3.errors(),
            writes1.errors()
        ),
    ));

    println!();
    println!("== 3. What a write costs in the shared store ==");
    println!(
        "write-only, 1 node: sled {:.0} req/s, s3 (moto) {:.0} req/s → sled/s3 {:.2}x; write p50 sled {:.0} µs, s3 {:.0} µs",
        writes_sled.rps(),
        writes1.rps(),
        writes_sled.rps() / writes1.rps(),
        writes_sled.write_lat.p50,
        writes1.write_lat.p50,
    );
    println!(
        "bare conditional PUT (If-Match) to the same moto_server, from the bench: one at a time p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs; {CLIENTS} concurrent writers {:.0} PUT/s",
        put.p50, put.p90, put.p99, put_rps
    );
    println!(
        "→ a plan change is one such PUT. moto alone: ~{:.0} PUT/s one at a time (1/p50), {:.0} PUT/s to {CLIENTS} writers; the 1-node S3 cluster: {:.0} writes/s. \
         {CLIENTS} clients / {:.0} writes/s = {:.0} ms in the system per write (Little's law) vs a bare PUT's p50 of {:.1} ms: writes queue for the store",
        1e6 / put.p50,
        put_rps,
        writes1.rps(),
        writes1.rps(),
        1e3 * CLIENTS as f64 / writes1.rps(),
        put.p50 / 1e3,
    );
    rows.push((
        "write req/s, sled vs s3 (1 node)".into(),
        format!(
            "{:.2}x  ({:.0} vs {:.0})",
            writes_sled.rps() / writes1.rps(),
            writes_sled.rps(),
            writes1.rps()
        ),
    ));
    rows.push((
        "bare If-Match PUT to moto".into(),
        format!(
            "p50 {:.0} µs, p99 {:.0} µs one at a time; {:.0} PUT/s with {CLIENTS} writers",
            put.p50, put.p99, put_rps
        ),
    ));

    println!();
    println!("== Summary ==");
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in &rows {
        println!("{k:<width$}  {v}");
    }
    println!("(total {:.0} s)", total.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// The troupe binary.

// ---------------------------------------------------------------------------------------------
// Processes.

struct Moto {
    endpoint: String,
    _proc: Proc,
}

impl Moto {
    async fn start(dir: &Path) -> Moto {
        let port = common::free_port();
        let log = dir.join(format!("moto-{port}.log"));
        // moto_server, with its conditional writes made atomic (see the script).
        let child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/moto_atomic.py"
            ))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("moto log"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start python3 for moto_server ({e}): install it with pip install 'moto[server]'")
            });
        let proc = Proc { child, log };
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .get(format!("{endpoint}/moto-api/"))
            .send()
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within 30 s:\n{}",
                proc.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Moto {
            endpoint,
            _proc: proc,
        }
    }

    async fn create_bucket(&self, bucket: &str) {
        let r = Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("create bucket");
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }
}

/// A running `troupe serve`.
struct Node {
    /// `http://ADDR`.
    url: String,
    proc: Proc,
}

impl Node {
    async fn spawn(bin: &Path, data_dir: &Path, env: &[(String, String)]) -> Node {
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log = data_dir.with_extension("log");
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("RUST_LOG")
            .env("TROUPE__LOG__LEVEL", "warn")
            .env("TROUPE__SERVER__WORKERS", WORKERS)
            .env("TROUPE__RATE_LIMIT__ENABLED", "false")
            .env("TROUPE__AUTH__JWT_SECRET", SECRET)
            .envs(env.iter().map(|(k, v)| (k, v)));
        let (proc, addr) = common::serve(cmd, log).await;
        Node {
            url: format!("http://{addr}"),
            proc,
        }
    }
}

/// Nodes and their store. Field order is drop order: the nodes go before the store they use,
/// and the temp dir last.
struct Deployment {
    nodes: Vec<Node>,
    moto: Option<Moto>,
    clustered: bool,
    _tmp: tempfile::TempDir,
}

impl Deployment {
    /// `n` nodes named node0..node{n-1} on a fresh moto_server bucket, every one listing all
    /// as seeds; returns once every node sees a majority (and, within 15 s, all of them).
    async fn cluster(bin: &Path, n: usize) -> Deployment {
        Self::cluster_with(bin, n, false).await
    }

    /// Like [`Deployment::cluster`]; with `tls`, the cluster links are TLS with certificates
    /// made by `troupe cluster certs`, else plain TCP (`cluster.insecure`).
    async fn cluster_with(bin: &Path, n: usize, tls: bool) -> Deployment {
        let tmp = tempfile::tempdir().expect("tempdir");
        let certs = tmp.path().join("certs");
        if tls {
            let names: Vec<String> = (0..n).map(|i| format!("node{i}")).collect();
            let out = Command::new(bin)
                .args(["cluster", "certs", "--out"])
                .arg(&certs)
                .args(["--nodes", &names.join(",")])
                .output()
                .expect("troupe cluster certs");
            assert!(out.status.success(), "troupe cluster certs: {out:?}");
        }
        let moto = Moto::start(tmp.path()).await;
        moto.create_bucket("troupe").await;
        let listens: Vec<String> = (0..n)
            .map(|_| format!("127.0.0.1:{}", common::free_port()))
            .collect();
        let seeds = format!(
            "[{}]",
            listens
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let mut nodes = Vec::new();
        for (i, listen) in listens.iter().enumerate() {
            let env: Vec<(String, String)> = [
                ("TROUPE__STATE__BACKEND", "s3"),
                ("TROUPE__BLOBS__BACKEND", "s3"),
                ("TROUPE__BLOBS__S3__ENDPOINT", &moto.endpoint),
                ("TROUPE__BLOBS__S3__BUCKET", "troupe"),
                ("TROUPE__BLOBS__S3__REGION", "us-east-1"),
                ("TROUPE__BLOBS__S3__ACCESS_KEY_ID", "testing"),
                ("TROUPE__BLOBS__S3__SECRET_ACCESS_KEY", "testing"),
                ("TROUPE__BLOBS__S3__PATH_STYLE", "true"),
                ("TROUPE__CLUSTER__NODE_NAME", &format!("node{i}")),
                ("TROUPE__CLUSTER__LISTEN", listen),
                (
                    "TROUPE__CLUSTER__LINK_LISTEN",
                    &format!("127.0.0.1:{}", common::free_port()),
                ),
                ("TROUPE__CLUSTER__SEEDS", &seeds),
                ("TROUPE__CLUSTER__COOKIE", COOKIE),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            let mut env = env;
            if tls {
                let file = |f: String| certs.join(f).display().to_string();
                env.extend([
                    ("TROUPE__CLUSTER__TLS_CA".into(), file("ca.pem".into())),
                    (
                        "TROUPE__CLUSTER__TLS_CERT".into(),
                        file(format!("node{i}.pem")),
                    ),
                    (
                        "TROUPE__CLUSTER__TLS_KEY".into(),
                        file(format!("node{i}-key.pem")),
                    ),
                ]);
            } else {
                env.push(("TROUPE__CLUSTER__INSECURE".into(), "true".into()));
            }
            nodes.push(Node::spawn(bin, &tmp.path().join(format!("node{i}")), &env).await);
        }
        let d = Deployment {
            nodes,
            moto: Some(moto),
            clustered: true,
            _tmp: tmp,
        };
        d.wait_ready(n).await;
        d
    }

    /// One node on sled with local blobs, no cluster.
    async fn sled(bin: &Path) -> Deployment {
        let tmp = tempfile::tempdir().expect("tempdir");
        let env = [
            ("TROUPE__STATE__BACKEND".to_owned(), "sled".to_owned()),
            ("TROUPE__BLOBS__BACKEND".to_owned(), "local".to_owned()),
        ];
        let node = Node::spawn(bin, &tmp.path().join("node"), &env).await;
        let d = Deployment {
            nodes: vec![node],
            moto: None,
            clustered: false,
            _tmp: tmp,
        };
        d.wait_ready(0).await;
        d
    }

    /// Waits for every node's `/readyz` to say `cluster.ok` (or, without a cluster, for the
    /// store check), then gives the members up to 15 s to all see each other.
    async fn wait_ready(&self, members: usize) {
        let client = Client::new();
        for node in &self.nodes {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut all_up_by = None;
            loop {
                let body: Option<Value> =
                    match client.get(format!("{}/readyz", node.url)).send().await {
                        Ok(r) => r.json().await.ok(),
                        Err(_) => None,
                    };
                let body = body.unwrap_or(Value::Null);
                let ok = if self.clustered {
                    body["cluster"]["ok"] == true
                } else {
                    body["store"]["ok"] == true
                };
                if ok {
                    let all = format!("{members} of {members} ");
                    let detail = body["cluster"]["detail"].as_str().unwrap_or("");
                    let by = *all_up_by.get_or_insert(Instant::now() + Duration::from_secs(15));
                    if !self.clustered || detail.starts_with(&all) {
                        break;
                    }
                    if Instant::now() > by {
                        eprintln!("warning: {} is ready but reports \"{detail}\"", node.url);
                        break;
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "{} not ready within 60 s: {body}\n{}",
                    node.url,
                    node.proc.log_tail()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Forwards served and view changes, summed over the nodes' `/metrics`.
    async fn counters(&self) -> Counters {
        let client = Client::new();
        let mut c = Counters::default();
        for node in &self.nodes {
            let Ok(r) = client.get(format!("{}/metrics", node.url)).send().await else {
                continue;
            };
            let text = r.text().await.unwrap_or_default();
            c.forwards += metric_sum(&text, "troupe_cluster_forwards_served_total");
            c.view_changes += metric_sum(&text, "troupe_cluster_view_changes_total");
            c.ping_sum += metric_sum(&text, "troupe_cluster_ping_seconds_sum");
            c.ping_count += metric_sum(&text, "troupe_cluster_ping_seconds_count");
        }
        c
    }

    /// Runs the load of part 2 on every node of the deployment: a warm-up, then a measured
    /// run. `write_percent` of the requests are plan changes, the rest `GET /users/me`.
    async fn load(&self, users: &[User], write_percent: u64) -> LoadResult {
        let (warmup, run) = if write_percent >= 100 {
            (WRITES_WARMUP, WRITES_RUN)
        } else {
            (MIXED_WARMUP, MIXED_RUN)
        };
        eprintln!(
            "[cluster bench] load: {} node(s), {CLIENTS} clients, {write_percent}% writes, {}+{} s",
            self.nodes.len(),
            warmup.as_secs(),
            run.as_secs()
        );
        let targets: Arc<Vec<String>> =
            Arc::new(self.nodes.iter().map(|n| n.url.clone()).collect());
        let users = Arc::new(users.to_vec());
        let admin = Arc::new(users[0].token.clone());
        let client = Client::builder()
            .pool_max_idle_per_host(CLIENTS)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        // 0: warming up, 1: measuring, 2: stop.
        let phase = Arc::new(AtomicU8::new(0));
        let before = self.counters().await;
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|t| {
                let (client, targets, users, admin, phase) = (
                    client.clone(),
                    targets.clone(),
                    users.clone(),
                    admin.clone(),
                    phase.clone(),
                );
                tokio::spawn(async move {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) * 0x2545_F491));
                    let mut out = TaskResult::default();
                    loop {
                        let p = phase.load(Ordering::Relaxed);
                        if p == 2 {
                            return out;
                        }
                        let node = &targets[rng.below(targets.len() as u64) as usize];
                        let user = &users[rng.below(users.len() as u64) as usize];
                        let write = rng.below(100) < write_percent;
                        let request = if write {
                            let plan = PLANS[rng.below(PLANS.len() as u64) as usize];
                            client
                                .put(format!("{node}/api/v1/admin/users/{}/plan", user.name))
                                .bearer_auth(admin.as_str())
                                .json(&json!({ "plan": plan }))
                        } else {
                            client
                                .get(format!("{node}/api/v1/users/me"))
                                .bearer_auth(&user.token)
                        };
                        let start = Instant::now();
                        let outcome = match request.send().await {
                            Ok(r) => {
                                let status = r.status();
                                let body = r.bytes().await;
                                match body {
                                    Ok(_) if status.is_success() => Ok(()),
                                    Ok(b) => Err(format!(
                                        "{status}: {}",
                                        String::from_utf8_lossy(&b[..b.len().min(200)])
                                    )),
                                    Err(e) => Err(format!("{status}, body: {e}")),
                                }
                            }
                            Err(e) => Err(format!("transport: {e}")),
                        };
                        let micros = start.elapsed().as_micros() as f64;
                        // Counts what completes while measuring.
                        if phase.load(Ordering::Relaxed) != 1 {
                            continue;
                        }
                        match outcome {
                            Ok(()) if write => out.write_lat.push(micros),
                            Ok(()) => out.read_lat.push(micros),
                            Err(e) => {
                                let key = e.split(':').next().unwrap_or("").to_owned();
                                *out.errors.entry(key).or_default() += 1;
                                out.first_error.get_or_insert(e);
                            }
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(warmup).await;
        phase.store(1, Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(run).await;
        phase.store(2, Ordering::Relaxed);
        let elapsed = started.elapsed();
        let mut total = TaskResult::default();
        for t in tasks {
            let r = t.await.expect("load task");
            total.read_lat.extend(r.read_lat);
            total.write_lat.extend(r.write_lat);
            for (k, v) in r.errors {
                *total.errors.entry(k).or_default() += v;
            }
            if total.first_error.is_none() {
                total.first_error = r.first_error;
            }
        }
        let after = self.counters().await;
        LoadResult {
            reads: total.read_lat.len(),
            writes: total.write_lat.len(),
            read_lat: Percentiles::of(total.read_lat),
            write_lat: Percentiles::of(total.write_lat),
            errors_by_kind: total.errors,
            first_error: total.first_error,
            elapsed,
            forwards: after.forwards - before.forwards,
            view_changes: after.view_changes - before.view_changes,
        }
    }
}

#[derive(Default)]
struct Counters {
    forwards: f64,
    view_changes: f64,
    ping_sum: f64,
    ping_count: f64,
}

/// The sum of every sample of `name` in Prometheus text.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Users.

/// Registers `n` users through `url` (the first becomes the admin) and logs each in.
async fn setup_users(url: &str, n: usize) -> Vec<User> {
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let one = |i: usize| {
        let client = client.clone();
        async move {
            let name = format!("bench{i:03}");
            register(&client, url, &name, PASSWORD).await
        }
    };
    // The admin first, so that it is the first account; then the rest, a few at a time
    // (password hashing is deliberately slow).
    let mut users = vec![one(0).await];
    let mut rest: Vec<User> = stream::iter(1..n)
        .map(one)
        .buffer_unordered(4)
        .collect()
        .await;
    rest.sort_by(|a, b| a.name.cmp(&b.name));
    users.extend(rest);
    users
}

// ---------------------------------------------------------------------------------------------
// Part 1 and part 3 measurements.

/// Sequential `GET /users/me` to `url` over one keep-alive connection, alternating between a
/// user of `local` and one of `forwarded`; returns the measured latencies (µs) of each.
async fn latency(url: &str, local: &[&User], forwarded: &[&User]) -> (Vec<f64>, Vec<f64>) {
    let client = Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let (mut l, mut f) = (
        Vec::with_capacity(LATENCY_SAMPLES),
        Vec::with_capacity(LATENCY_SAMPLES),
    );
    for i in 0..LATENCY_WARMUP + 2 * LATENCY_SAMPLES {
        let (user, out) = if i % 2 == 0 {
            (local[(i / 2) % local.len()], &mut l)
        } else {
            (forwarded[(i / 2) % forwarded.len()], &mut f)
        };
        let start = Instant::now();
        let r = client
            .get(format!("{url}/api/v1/users/me"))
            .bearer_auth(&user.token)
            .send()
            .await
            .expect("GET /users/me");
        let status = r.status();
        let body = r.bytes().await.expect("body");
        let micros = start.elapsed().as_micros() as f64;
        assert!(
            status.is_success(),
            "GET /users/me as {}: {status} {}",
            user.name,
            String::from_utf8_lossy(&body)
        );
        if i >= LATENCY_WARMUP {
            out.push(micros);
        }
    }
    (l, f)
}

/// Requests per kind for [`cpu_per_request`].
const CPU_SAMPLES: usize = 3_000;

/// On-CPU time of every thread of a process, from `/proc/<pid>/task/*/schedstat` (ns), by
/// thread name (`comm`: the tokio workers, actix's workers, the store's flusher, ...).
fn threads_cpu_ns(pid: u32) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let ns = std::fs::read_to_string(t.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if let Some(ns) = ns {
            *out.entry(name.trim().to_string()).or_default() += ns;
        }
    }
    out
}

/// Server CPU per request, in µs: all the processes together, and by process and thread name.
struct CpuPerRequest {
    total: f64,
    /// `node<i>/<thread name>` → µs per request, the largest first.
    threads: Vec<(String, f64)>,
}

impl CpuPerRequest {
    /// The threads that took at least 1 µs per request, as one line.
    fn threads_line(&self) -> String {
        self.threads
            .iter()
            .filter(|(_, us)| *us >= 1.0)
            .map(|(name, us)| format!("{name} {us:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Server CPU (all `pids` together) per sequential `GET /users/me` to `url` as `users`: what
/// a request costs the cluster, unlike its latency, whatever else the machine runs; and where
/// it goes, thread by thread, on each node.
async fn cpu_per_request(url: &str, users: &[&User], pids: &[u32]) -> CpuPerRequest {
    let client = Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let sample = || pids.iter().map(|p| threads_cpu_ns(*p)).collect::<Vec<_>>();
    let before = sample();
    for i in 0..CPU_SAMPLES {
        let r = client
            .get(format!("{url}/api/v1/users/me"))
            .bearer_auth(&users[i % users.len()].token)
            .send()
            .await
            .expect("GET /users/me");
        assert!(r.status().is_success(), "GET /users/me: {}", r.status());
        r.bytes().await.expect("body");
    }
    let after = sample();
    let per = |ns: u64| ns as f64 / 1_000.0 / CPU_SAMPLES as f64;
    let mut threads = Vec::new();
    for (node, (b, a)) in before.iter().zip(&after).enumerate() {
        for (name, ns) in a {
            let spent = ns.saturating_sub(b.get(name).copied().unwrap_or(0));
            threads.push((format!("node{node}/{name}"), per(spent)));
        }
    }
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    CpuPerRequest {
        total: threads.iter().map(|t| t.1).sum(),
        threads,
    }
}

/// `PUT` of a ~300-byte object to `moto`, with `If-Match: <etag>` when given; returns the new
/// ETag.
async fn moto_put(client: &Client, url: &str, etag: Option<&str>) -> String {
    // moto_server refuses anonymous writes to an existing private object, and checks no
    // signatures: any SigV4-shaped header will do (the nodes sign for real).
    let mut req = client
        .put(url)
        .header("authorization", FAKE_SIGV4)
        .body(vec![b'x'; 300]);
    if let Some(e) = etag {
        req = req.header("if-match", e);
    }
    let r = req.send().await.expect("PUT to moto");
    assert!(r.status().is_success(), "PUT to moto: {}", r.status());
    r.headers()
        .get("etag")
        .and_then(|e| e.to_str().ok())
        .expect("etag")
        .to_owned()
}

/// Bare conditional PUTs to `moto`, as a node's `ctx.save` does them (one `PUT` with
/// `If-Match: <current etag>` per write): the latency (µs) of one at a time, and the PUTs/s
/// of [`CLIENTS`] concurrent writers, each on its own object.
async fn conditional_puts(moto: &Moto) -> (Percentiles, f64) {
    eprintln!("[cluster bench] timing conditional PUTs to moto_server");
    moto.create_bucket("bench-put").await;
    let client = Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let url = format!("{}/bench-put/state/user/probe", moto.endpoint);
    let mut etag = moto_put(&client, &url, None).await;
    let mut samples = Vec::with_capacity(PUT_SAMPLES);
    for i in 0..PUT_WARMUP + PUT_SAMPLES {
        let start = Instant::now();
        etag = moto_put(&client, &url, Some(&etag)).await;
        if i >= PUT_WARMUP {
            samples.push(start.elapsed().as_micros() as f64);
        }
    }

    let phase = Arc::new(AtomicU8::new(0));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let (client, phase) = (client.clone(), phase.clone());
            let url = format!("{}/bench-put/state/user/w{t}", moto.endpoint);
            tokio::spawn(async move {
                let mut etag = moto_put(&client, &url, None).await;
                let mut done = 0u64;
                loop {
                    match phase.load(Ordering::Relaxed) {
                        2 => return done,
                        p => {
                            etag = moto_put(&client, &url, Some(&etag)).await;
                            // Counts what completes while measuring.
                            if p == 1 && phase.load(Ordering::Relaxed) == 1 {
                                done += 1;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(PUT_CONCURRENT_WARMUP).await;
    phase.store(1, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(PUT_CONCURRENT_RUN).await;
    phase.store(2, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("PUT task");
    }
    (
        Percentiles::of(samples),
        done as f64 / elapsed.as_secs_f64(),
    )
}

// ---------------------------------------------------------------------------------------------
// Results.

#[derive(Default)]
struct TaskResult {
    read_lat: Vec<f64>,
    write_lat: Vec<f64>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

struct LoadResult {
    reads: usize,
    writes: usize,
    read_lat: Percentiles,
    write_lat: Percentiles,
    /// Failed requests by status (or `transport`).
    errors_by_kind: BTreeMap<String, u64>,
    first_error: Option<String>,
    elapsed: Duration,
    forwards: f64,
    view_changes: f64,
}

impl LoadResult {
    fn rps(&self) -> f64 {
        (self.reads + self.writes) as f64 / self.elapsed.as_secs_f64()
    }

    fn errors(&self) -> u64 {
        self.errors_by_kind.values().sum()
    }

    fn header() -> String {
        format!(
            "{:<22} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>8}  errors",
            "",
            "req/s",
            "reads",
            "writes",
            "rd p50µs",
            "rd p99µs",
            "wr p50µs",
            "wr p99µs",
            "views",
            "fwd/s"
        )
    }

    fn row(&self, label: &str) -> String {
        let errors = if self.errors_by_kind.is_empty() {
            "0".to_owned()
        } else {
            self.errors_by_kind
                .iter()
                .map(|(k, v)| format!("{k}×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "{label:<22} {:>8.0} {:>8} {:>8} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>7.0} {:>8.0}  {errors}",
            self.rps(),
            self.reads,
            self.writes,
            self.read_lat.p50,
            self.read_lat.p99,
            self.write_lat.p50,
            self.write_lat.p99,
            self.view_changes,
            self.forwards / self.elapsed.as_secs_f64(),
        )
    }
}
