//! A restart must not rescan the world: how long the catalogue takes to be whole again after
//! a restart, by catching up from the change journal, against reading every video (the full
//! reconcile every start did before the journal) and a rebuild from empty.
//!
//! 1. **Data.** `RESTART_VIDEOS` videos of the catalogue bench's corpus (1,000,000 on sled;
//!    with `RESTART_BACKEND=s3`, 10,000 by default, in a moto_server bucket started by the
//!    bench), 10 % with view counters, written straight into the state store before the
//!    server starts (sled: framed as `SledStore` frames them; the bucket: through
//!    `ObjectStateStore`, 64 PUTs at a time).
//! 2. **Rebuild.** The release `troupe serve` starts with no index: time from spawn to the
//!    log's `catalogue: rebuild done`.
//! 3. **Catch-up.** `RESTART_ROUNDS` (3) times: a user creates `RESTART_CHANGES` (500) videos
//!    through the API, the server is killed with SIGKILL at once (the last ones not yet
//!    committed to the index), and started again on the same data dir: time from spawn to
//!    `catalogue: caught up from the journal`; then the last video created is searched for
//!    (it must be found).
//! 4. **Reconcile.** The same restart with `catalogue.journal_retention_secs = 0`: every video
//!    is read (what every start did before the journal): time to `catalogue: reconcile done`.
//!
//! Goal: catch-up ≤ 10 s, however many videos. Printed: each time, the median and spread of
//! the catch-ups, and the ratio reconcile / catch-up.
//!
//! ```sh
//! cargo bench --bench catalogue_restart                                  # 1M on sled
//! RESTART_BACKEND=s3 RESTART_VIDEOS=100000 cargo bench --bench catalogue_restart
//! ```

#[path = "common/mod.rs"]
mod common;
#[path = "common/corpus.rs"]
#[allow(dead_code)]
mod corpus;

use common::Proc;
use corpus::Corpus;
use futures::StreamExt;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use troupe_runtime::store::{ObjectStateStore, Precondition, StateStore};

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0";
const PASSWORD: &str = "violet-harbor-cinnamon-42";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Where the state lives.
enum Backend {
    Sled,
    /// A moto_server on this endpoint, bucket `troupe`.
    S3(String),
}

/// The (key, value) pairs of `n` videos, with counters for a tenth of them.
fn entries(n: usize) -> impl Iterator<Item = (String, Vec<u8>)> {
    let corpus = Box::leak(Box::new(Corpus::new(chrono::Utc::now().timestamp_millis())));
    corpus
        .videos(n, n / 10, 0x5EED_2000)
        .flat_map(|g| g.state_entries())
}

async fn seed_bucket(endpoint: &str, n: usize) {
    use troupe_runtime::blob::{BlobBackend, BlobStore, S3Settings};
    let blobs = BlobStore::open(&BlobBackend::S3(S3Settings {
        endpoint: endpoint.into(),
        bucket: "troupe".into(),
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        path_style: true,
    }))
    .expect("bucket");
    let store = ObjectStateStore::new(blobs.object_store().clone(), "state");
    let store = &store;
    futures::stream::iter(entries(n))
        .map(|(key, value)| async move {
            store
                .put(&key, value, Precondition::None)
                .await
                .expect("seed put");
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
}

fn command(bin: &Path, data: &Path, backend: &Backend, journal: bool) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env_remove("RUST_LOG")
        .env("TROUPE__LOG__LEVEL", "info")
        .env("TROUPE__AUTH__JWT_SECRET", SECRET)
        .env("TROUPE__RATE_LIMIT__ENABLED", "false");
    if !journal {
        cmd.env("TROUPE__CATALOGUE__JOURNAL_RETENTION_SECS", "0");
    }
    if let Backend::S3(endpoint) = backend {
        cmd.env("TROUPE__STATE__BACKEND", "s3")
            .env("TROUPE__BLOBS__BACKEND", "s3")
            .env("TROUPE__BLOBS__S3__ENDPOINT", endpoint)
            .env("TROUPE__BLOBS__S3__BUCKET", "troupe")
            .env("TROUPE__BLOBS__S3__ACCESS_KEY_ID", "testing")
            .env("TROUPE__BLOBS__S3__SECRET_ACCESS_KEY", "testing")
            .env("TROUPE__BLOBS__S3__PATH_STYLE", "true");
    }
    cmd
}

/// Starts the server and waits for `line` in its log; the process, its address and the
/// seconds from spawn to that line.
async fn start_until(cmd: Command, log: PathBuf, line: &str) -> (Proc, String, f64) {
    let t = Instant::now();
    let (proc, addr) = common::serve(cmd, log).await;
    loop {
        let text = std::fs::read_to_string(&proc.log).unwrap_or_default();
        if text.contains(line) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(4 * 3600),
            "no {line:?} after 4 h:\n{}",
            proc.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (proc, addr, t.elapsed().as_secs_f64())
}

async fn create_many(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    n: usize,
    round: usize,
) -> String {
    let last = format!("restartmark{round}x{}", n - 1);
    futures::stream::iter(0..n)
        .map(|i| async move {
            let r = client
                .post(format!("{url}/api/v1/videos"))
                .bearer_auth(token)
                .json(&json!({ "title": format!("Restart round restartmark{round}x{i}") }))
                .send()
                .await
                .expect("create");
            assert_eq!(r.status(), reqwest::StatusCode::CREATED);
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    last
}

fn median_spread(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

#[tokio::main]
async fn main() {
    let s3 = std::env::var("RESTART_BACKEND").is_ok_and(|b| b == "s3");
    let videos = env_num("RESTART_VIDEOS", if s3 { 10_000 } else { 1_000_000 }) as usize;
    let rounds = env_num("RESTART_ROUNDS", 3) as usize;
    let changes = env_num("RESTART_CHANGES", 500) as usize;
    let bin = common::troupe_bin("catalogue_restart");
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut moto = None;
    let backend = if s3 {
        let port = common::free_port();
        let child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/moto_atomic.py"
            ))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server (python3 -m pip install 'moto[server]')");
        moto = Some(Proc {
            child,
            log: tmp.path().join("moto.log"),
        });
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let t = Instant::now();
        while client
            .put(format!("{endpoint}/troupe"))
            .send()
            .await
            .is_err()
        {
            assert!(t.elapsed() < Duration::from_secs(30), "moto did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Backend::S3(endpoint)
    } else {
        Backend::Sled
    };
    println!(
        "[restart bench] {videos} videos on {}, {rounds} catch-up rounds of {changes} creates each",
        if s3 { "the bucket (moto)" } else { "sled" }
    );
    let t = Instant::now();
    match &backend {
        Backend::Sled => corpus::write_sled(&data, entries(videos)),
        Backend::S3(endpoint) => seed_bucket(endpoint, videos).await,
    }
    println!("[data] seeded in {:.1} s", t.elapsed().as_secs_f64());

    let log = |name: &str| tmp.path().join(format!("{name}.log"));
    let (mut proc, mut addr, rebuild) = start_until(
        command(&bin, &data, &backend, true),
        log("rebuild"),
        "catalogue: rebuild done",
    )
    .await;
    println!(
        "[rebuild] from empty: {rebuild:.1} s to whole ({:.0} videos/s)",
        videos as f64 / rebuild
    );
    let client = reqwest::Client::new();
    let user = common::register(&client, &format!("http://{addr}"), "restarter", PASSWORD).await;

    let mut catch_ups = Vec::new();
    for round in 0..rounds {
        let url = format!("http://{addr}");
        let last = create_many(&client, &url, &user.token, changes, round).await;
        let _ = proc.child.kill();
        let _ = proc.child.wait();
        let (p, a, secs) = start_until(
            command(&bin, &data, &backend, true),
            log(&format!("catch-up-{round}")),
            "catalogue: caught up from the journal",
        )
        .await;
        let r: Value = client
            .get(format!("http://{a}/api/v1/search?q={last}"))
            .bearer_auth(&user.token)
            .send()
            .await
            .expect("search")
            .json()
            .await
            .expect("search body");
        assert_eq!(
            r["items"].as_array().map(Vec::len),
            Some(1),
            "the last video created before the kill is not found after the catch-up: {r}"
        );
        println!("[catch-up] round {round}: {secs:.2} s from spawn to whole ({changes} creates while up, SIGKILL)");
        catch_ups.push(secs);
        proc = p;
        addr = a;
    }
    let _ = proc.child.kill();
    let _ = proc.child.wait();
    let (proc, _, reconcile) = start_until(
        command(&bin, &data, &backend, false),
        log("reconcile"),
        "catalogue: reconcile done",
    )
    .await;
    drop(proc);
    drop(moto);
    let (med, lo, hi) = median_spread(&catch_ups);
    println!("[reconcile] every video read (journal off, as before): {reconcile:.1} s");
    println!(
        "[result] {videos} videos on {}: catch-up p50 {med:.2} s (min {lo:.2}, max {hi:.2}, {rounds} rounds) — goal ≤ 10 s: {}; full reconcile {reconcile:.1} s = {:.0}× the catch-up; rebuild from empty {rebuild:.1} s",
        if s3 { "the bucket" } else { "sled" },
        if med <= 10.0 { "PASS" } else { "MISS" },
        reconcile / med
    );
}
