//! Memory use of the virtual-actor runtime over a long run of activations.
//!
//! One task calls 1,000,000 distinct keys in sequence (set `ACTIVATIONS` to change the count).
//! Each call goes through `Directory::call` and activates a fresh actor: spawn, a read of its
//! (absent) state from a real `SledStore` in a temp dir, one read-only request answered with a
//! plain value. Passivation is on (50 ms idle timeout), so the directory passivates the earlier
//! activations while the loop goes on; ideally only the last few tens of milliseconds of
//! activations are alive at any time. If passivation falls behind the loop, live activations
//! pile up until the runtime's cap (`RuntimeConfig::max_active`, left at its default of 20,000
//! per kind) makes the directory evict the least recently used ones early and, at the cap, makes
//! new activations wait: the bench reports the largest number alive that it saw. Everything runs
//! on a multi-thread tokio runtime with 2 workers (set `TOKIO_WORKERS` to change that).
//!
//! Every 100,000 activations it prints the rate and the process's VmRSS and VmHWM (from
//! `/proc/self/status`); at the end it waits for every activation to passivate and prints a
//! final line such as
//! `activation_rss: 1000000 activations, peak RSS 312 MiB, final RSS 250 MiB, 61234 activations/s`.
//!
//! Goal: peak RSS under 1 GiB, i.e. nothing grows with the number of activations ever made.
//!
//! Run with `cargo bench --bench activation_rss` (or `ACTIVATIONS=200000 cargo bench ...`).

// The same allocator as the server binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use troupe_runtime::store::{SledStore, StateStore};
use troupe_runtime::{Ctx, Directory, Entity, RuntimeConfig, System};

const DEFAULT_ACTIVATIONS: u64 = 1_000_000;
const REPORT_EVERY: u64 = 100_000;
const SAMPLE_ALIVE_EVERY: u64 = 1_000;
const IDLE_TIMEOUT: Duration = Duration::from_millis(50);
const GIB_KIB: u64 = 1024 * 1024;

/// ractor's `ActorProcessingErr`, spelled out (the root package does not depend on ractor).
type ProcessingErr = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A tiny entity that is only ever asked to answer its count.
struct Probe;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct ProbeState {
    n: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum ProbeReq {
    /// Read-only: answers the count.
    Get,
}

impl Entity for Probe {
    const KIND: &'static str = "benchprobe";
    const SCHEMA: u8 = 1;
    type State = ProbeState;
    type Request = ProbeReq;
    /// The count.
    type Response = u64;
    type Args = ();

    async fn handle(ctx: &mut Ctx<Self>, req: ProbeReq) -> Result<u64, ProcessingErr> {
        Ok(match req {
            ProbeReq::Get => ctx.state().map(|s| s.n).unwrap_or(0),
        })
    }
}

/// `(VmRSS, VmHWM)` of this process in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> u64 {
    kib / 1024
}

async fn run(activations: u64) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(tmp.path()).expect("open sled"));
    let config = RuntimeConfig {
        idle_timeout: IDLE_TIMEOUT,
        call_timeout: Duration::from_secs(30),
        ..RuntimeConfig::default()
    };
    // A single-node system: no router, so every actor is local.
    let dir = Directory::<Probe>::start(&System::new(store, config), ())
        .await
        .expect("directory");

    let (rss0, _) = rss_kib();
    println!(
        "activation_rss: {activations} activations, idle timeout {} ms, {} tokio workers, sled in {}; start RSS {} MiB",
        IDLE_TIMEOUT.as_millis(),
        tokio::runtime::Handle::current().metrics().num_workers(),
        tmp.path().display(),
        mib(rss0)
    );

    let start = Instant::now();
    let mut lap = start;
    let mut key = String::with_capacity(16);
    let mut peak_alive = 0usize;
    for i in 0..activations {
        key.clear();
        use std::fmt::Write as _;
        write!(key, "u{i:08}").expect("format key");
        let n = dir.call(&key, ProbeReq::Get).await.expect("call");
        assert_eq!(n, 0);
        let done = i + 1;
        if done % SAMPLE_ALIVE_EVERY == 0 {
            peak_alive = peak_alive.max(dir.active());
        }
        if done % REPORT_EVERY == 0 || done == activations {
            let now = Instant::now();
            let (rss, hwm) = rss_kib();
            let in_lap = match done % REPORT_EVERY {
                0 => REPORT_EVERY,
                r => r,
            };
            println!(
                "  {done:>9} activations  {:>7.1} s  lap {:>7.0}/s  active {:>6}  RSS {:>5} MiB  peak {:>5} MiB",
                (now - start).as_secs_f64(),
                in_lap as f64 / (now - lap).as_secs_f64(),
                dir.active(),
                mib(rss),
                mib(hwm)
            );
            lap = now;
        }
    }
    let elapsed = start.elapsed();
    let rate = activations as f64 / elapsed.as_secs_f64();
    let (rss_loop_end, _) = rss_kib();

    let deadline = Instant::now() + Duration::from_secs(60);
    while dir.active() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = dir.active();
    let (rss, hwm) = rss_kib();
    println!(
        "  loop took {:.1} s; at most {peak_alive} activations alive at once (sampled every {SAMPLE_ALIVE_EVERY}); RSS at loop end {} MiB; after passivation ({left} still active) RSS {} MiB",
        elapsed.as_secs_f64(),
        mib(rss_loop_end),
        mib(rss)
    );
    println!(
        "activation_rss: {activations} activations, peak RSS {} MiB, final RSS {} MiB, {:.0} activations/s",
        mib(hwm),
        mib(rss),
        rate
    );
    if hwm >= GIB_KIB {
        println!("activation_rss: GOAL MISSED: peak RSS is 1 GiB or more");
    }
    dir.shutdown(Duration::from_secs(10)).await;
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to configure on the command line.
    let activations = std::env::var("ACTIVATIONS")
        .ok()
        .map(|v| v.trim().replace('_', "").parse::<u64>())
        .transpose()
        .expect("ACTIVATIONS must be a whole number")
        .unwrap_or(DEFAULT_ACTIVATIONS);
    let workers = std::env::var("TOKIO_WORKERS")
        .ok()
        .map(|v| v.trim().parse::<usize>())
        .transpose()
        .expect("TOKIO_WORKERS must be a whole number")
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // The loop runs as a task on a worker, like a request handler would.
    rt.block_on(rt.spawn(run(activations)))
        .expect("bench task panicked");
}
