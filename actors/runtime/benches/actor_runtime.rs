//! Throughput of the virtual-actor runtime (`troupe_runtime`) on a real `SledStore`.
//!
//! Everything runs on a multi-thread tokio runtime with 2 workers (the size of the dev and CI
//! machines), with the sled database in a temp dir (`TMPDIR`, so on a real disk: every durable
//! write pays for an fsync, shared by group commit).
//!
//! Groups, with the goals of the performance issue:
//!
//! * `calls_to_active_actors` — calls with a read-only request (no store write) to actors that
//!   are already active. `*/directory` goes through [`Directory::call`], the real path: the
//!   placement check (no router here, so every actor is local), the request's clone for a
//!   possible retry, the directory lookup, the deadline, the send to the activation and the
//!   answer back through a oneshot. `*/plain_task` is the floor to compare it with: a plain
//!   tokio task per key with an unbounded mpsc mailbox, answering through a oneshot, with no
//!   directory, no ractor and no [`Entity`]. `sequential/*` is one task doing one call at a
//!   time; `in_flight_64/*` is one task with 64 calls in flight to 64 different actors
//!   (`join_all` rounds), and `pipelined_64/directory` keeps a window of 64 calls in flight
//!   without round barriers. Goal: at least 300k calls/s to active actors from one task.
//! * `activations_from_sled` — first calls to distinct keys whose state is in sled, so each
//!   call activates an actor (spawn + sled read + decode). The benchmark streams through a pool
//!   of 131,072 entities written up front; activations passivate after a 20 ms idle timeout, so
//!   the passivation of earlier batches runs alongside (and competes for the cores), as it does
//!   in steady state. Each timed batch of 4,096 activations also waits for passivation to get
//!   back to at most 8,192 live activations, so the figure is a sustainable rate (without that
//!   wait a single caller outruns passivation and live activations pile up without bound; see
//!   the `activation_rss` bench). Measured one at a time from one task and with 64 activations
//!   in flight. Goal: at least 50k activations/s.
//! * `durable_writes_64_writers` — 64 tasks, each looping over durable writes of ~100 bytes:
//!   straight `StateStore::put` calls, and calls to 64 actors that each `ctx.save` per call.
//!   Goal: at least 20k durable writes/s.
//!
//! The entity answers with a plain value ([`Entity::Response`]); the directory carries it back
//! over the oneshot it creates per call. The bench cannot message an activation except through
//! the directory (the runtime's envelope is private to it, and the root package does not depend
//! on `ractor`), which is why the floor is a plain tokio task rather than a bare ractor actor.
//!
//! Run with `cargo bench --bench actor_runtime`.

// The same allocator as the server binary (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use troupe_runtime::store::{Precondition, SledStore, StateStore};
use troupe_runtime::{Ctx, Directory, Entity, RuntimeConfig, System};

/// Tokio workers: the machine has 2 cores.
const WORKERS: usize = 2;
/// Concurrency of the in-flight and durable-write benchmarks.
const FANOUT: usize = 64;
/// Entities written to sled up front for the activation benchmark. The benchmark cycles through
/// them; at the measured rates a key comes round again only after seconds, long after its
/// previous activation passivated.
const PREPOPULATED: usize = 131_072;
/// Distinct keys activated per criterion iteration of the activation benchmark.
const ACTIVATION_BATCH: usize = 4_096;
/// Each timed batch ends only once at most this many activations are alive, so a backlog of
/// passivations is paid for inside the measurement instead of being pushed past it: the result
/// is the rate the runtime can sustain, not the rate at which it can pile up live activations.
const SUSTAINED_ALIVE: usize = 2 * ACTIVATION_BATCH;
/// Idle timeout of the activation benchmark's directory.
const SHORT_IDLE: Duration = Duration::from_millis(20);

/// ractor's `ActorProcessingErr`, spelled out (the root package does not depend on ractor).
type ProcessingErr = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A counter entity, like the runtime tests' `Tally`.
struct Counter;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct CounterState {
    n: u64,
    /// Makes a saved state about 100 bytes, like a small real entity.
    pad: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum CounterReq {
    /// Read-only: answers the count, writes nothing.
    Get,
    /// Adds to the count and saves the state durably before answering. Not idempotent, which
    /// the runtime asks of requests because it may retry them; it only does so with a cluster
    /// router or after a write conflict, and this bench has neither.
    Add(u64),
}

impl Entity for Counter {
    const KIND: &'static str = "benchcounter";
    const SCHEMA: u8 = 1;
    type State = CounterState;
    type Request = CounterReq;
    /// The count after the request.
    type Response = u64;
    type Args = ();

    async fn handle(ctx: &mut Ctx<Self>, req: CounterReq) -> Result<u64, ProcessingErr> {
        Ok(match req {
            CounterReq::Get => ctx.state().map(|s| s.n).unwrap_or(0),
            CounterReq::Add(k) => {
                let mut s = ctx.state().cloned().unwrap_or_default();
                s.n += k;
                if s.pad.is_empty() {
                    s.pad = "x".repeat(90);
                }
                let n = s.n;
                ctx.save(s).await?;
                n
            }
        })
    }
}

/// A read-only call through the directory.
async fn dir_get(dir: &Directory<Counter>, key: &str) -> u64 {
    dir.call(key, CounterReq::Get)
        .await
        .expect("get through the directory")
}

/// A durable write through the directory.
async fn dir_add(dir: &Directory<Counter>, key: &str) -> u64 {
    dir.call(key, CounterReq::Add(1))
        .await
        .expect("add through the directory")
}

/// The mailbox of a plain tokio task that answers every message with its count.
type PlainTask = mpsc::UnboundedSender<oneshot::Sender<u64>>;

/// Spawns a plain task answering `n` (must run inside the runtime).
fn spawn_plain_task(n: u64) -> PlainTask {
    let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<u64>>();
    tokio::spawn(async move {
        while let Some(reply) = rx.recv().await {
            let _ = reply.send(n);
        }
    });
    tx
}

/// A read-only call to a plain task: send + oneshot reply only.
async fn plain_get(task: &PlainTask) -> u64 {
    let (tx, rx) = oneshot::channel();
    task.send(tx).expect("the plain task is running");
    rx.await.expect("reply")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `fut` as a task on a worker of `rt` (like a request handler) and returns its output.
fn on_worker<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    rt.block_on(rt.spawn(fut)).expect("bench task panicked")
}

fn config(idle: Duration) -> RuntimeConfig {
    RuntimeConfig {
        idle_timeout: idle,
        call_timeout: Duration::from_secs(30),
        ..RuntimeConfig::default()
    }
}

/// Opens a sled store in a fresh temp dir (the dir lives as long as the returned guard).
fn sled_store(rt: &tokio::runtime::Runtime) -> (Arc<SledStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    // `open` spawns the group-commit flusher, so it must run inside the runtime.
    let store = rt.block_on(async { SledStore::open(dir.path()).expect("open sled") });
    (Arc::new(store), dir)
}

/// Starts the counter directory in a fresh single-node system (no router: every actor is local).
async fn counters(store: Arc<dyn StateStore>, idle: Duration) -> Directory<Counter> {
    Directory::<Counter>::start(&System::new(store, config(idle)), ())
        .await
        .expect("directory")
}

/// Waits (at most 60 s) until no more than `alive` activations are running.
async fn wait_until_alive_at_most(dir: &Directory<Counter>, alive: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while dir.active() > alive {
        assert!(
            Instant::now() < deadline,
            "activations did not passivate in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn calls_to_active_actors(c: &mut Criterion) {
    let rt = runtime();
    let (store, _tmp) = sled_store(&rt);
    let keys: Arc<Vec<String>> = Arc::new((0..FANOUT).map(|i| format!("hot{i}")).collect());
    let dir = rt.block_on(async {
        let dir = counters(store, Duration::from_secs(3600)).await;
        for k in keys.iter() {
            dir_add(&dir, k).await;
        }
        dir
    });
    // One plain task per key, holding the same count as its actor.
    let tasks: Arc<Vec<PlainTask>> =
        Arc::new(rt.block_on(async { (0..FANOUT).map(|_| spawn_plain_task(1)).collect() }));

    let mut g = c.benchmark_group("calls_to_active_actors");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));

    g.throughput(Throughput::Elements(1));
    g.bench_function("sequential/directory", |b| {
        b.iter_custom(|iters| {
            let dir = dir.clone();
            on_worker(&rt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(dir_get(&dir, "hot0").await);
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("sequential/plain_task", |b| {
        b.iter_custom(|iters| {
            let tasks = tasks.clone();
            on_worker(&rt, async move {
                let task = &tasks[0];
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(plain_get(task).await);
                }
                start.elapsed()
            })
        })
    });

    g.throughput(Throughput::Elements(FANOUT as u64));
    g.bench_function("in_flight_64/directory", |b| {
        b.iter_custom(|iters| {
            let (dir, keys) = (dir.clone(), keys.clone());
            on_worker(&rt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(join_all(keys.iter().map(|k| dir_get(&dir, k))).await);
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("in_flight_64/plain_task", |b| {
        b.iter_custom(|iters| {
            let tasks = tasks.clone();
            on_worker(&rt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(join_all(tasks.iter().map(plain_get)).await);
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("pipelined_64/directory", |b| {
        b.iter_custom(|iters| {
            let (dir, keys) = (dir.clone(), keys.clone());
            on_worker(&rt, async move {
                let total = iters as usize * FANOUT;
                let start = Instant::now();
                let mut inflight = FuturesUnordered::new();
                let mut issued = 0;
                while issued < FANOUT.min(total) {
                    inflight.push(dir_get(&dir, &keys[issued % FANOUT]));
                    issued += 1;
                }
                while let Some(v) = inflight.next().await {
                    black_box(v);
                    if issued < total {
                        inflight.push(dir_get(&dir, &keys[issued % FANOUT]));
                        issued += 1;
                    }
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

fn activations_from_sled(c: &mut Criterion) {
    let rt = runtime();
    let (store, _tmp) = sled_store(&rt);
    let keys: Arc<Vec<String>> = Arc::new((0..PREPOPULATED).map(|i| format!("e{i:06}")).collect());
    let dir = rt.block_on(async {
        let dir = counters(store, SHORT_IDLE).await;
        // Every entity gets a durable state (n = 1), written through its own activation.
        for chunk in keys.chunks(512) {
            join_all(chunk.iter().map(|k| dir_add(&dir, k))).await;
        }
        wait_until_alive_at_most(&dir, 0).await;
        dir
    });

    let mut g = c.benchmark_group("activations_from_sled");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(ACTIVATION_BATCH as u64));

    // Steady state: each iteration activates the next batch of keys of the pool while the
    // earlier batches passivate in the background (that work competes for the same 2 cores, as
    // it does in production, so it is part of the measured cost), and waits, timed, until
    // passivation has caught up to at most SUSTAINED_ALIVE live activations.
    let mut next_batch = 0usize;
    let mut next_keys = move || {
        let first = (next_batch * ACTIVATION_BATCH) % PREPOPULATED;
        next_batch += 1;
        first..first + ACTIVATION_BATCH
    };
    g.bench_function("sequential", |b| {
        b.iter_custom(|iters| {
            let batches: Vec<_> = (0..iters).map(|_| next_keys()).collect();
            let (dir, keys) = (dir.clone(), keys.clone());
            on_worker(&rt, async move {
                let mut total = Duration::ZERO;
                for range in batches {
                    let start = Instant::now();
                    for k in &keys[range] {
                        assert_eq!(dir_get(&dir, k).await, 1, "state not loaded from sled");
                    }
                    wait_until_alive_at_most(&dir, SUSTAINED_ALIVE).await;
                    total += start.elapsed();
                }
                total
            })
        })
    });
    g.bench_function("in_flight_64", |b| {
        b.iter_custom(|iters| {
            let batches: Vec<_> = (0..iters).map(|_| next_keys()).collect();
            let (dir, keys) = (dir.clone(), keys.clone());
            on_worker(&rt, async move {
                let mut total = Duration::ZERO;
                for range in batches {
                    let start = Instant::now();
                    let mut todo = keys[range].iter();
                    let mut inflight: FuturesUnordered<_> = todo
                        .by_ref()
                        .take(FANOUT)
                        .map(|k| dir_get(&dir, k))
                        .collect();
                    while let Some(v) = inflight.next().await {
                        assert_eq!(v, 1, "state not loaded from sled");
                        if let Some(k) = todo.next() {
                            inflight.push(dir_get(&dir, k));
                        }
                    }
                    wait_until_alive_at_most(&dir, SUSTAINED_ALIVE).await;
                    total += start.elapsed();
                }
                total
            })
        })
    });
    g.finish();
}

fn durable_writes(c: &mut Criterion) {
    let rt = runtime();
    let (store, _tmp) = sled_store(&rt);
    let dir = rt.block_on(counters(store.clone(), Duration::from_secs(3600)));
    let value = vec![0x5a_u8; 100];

    let mut g = c.benchmark_group("durable_writes_64_writers");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    // One iteration is one write by each of the 64 writers; the writers loop without barriers.
    g.throughput(Throughput::Elements(FANOUT as u64));

    g.bench_function("store_put", |b| {
        b.iter_custom(|iters| {
            let (store, value) = (store.clone(), value.clone());
            on_worker(&rt, async move {
                let start = Instant::now();
                let writers: Vec<_> = (0..FANOUT)
                    .map(|w| {
                        let (store, value) = (store.clone(), value.clone());
                        tokio::spawn(async move {
                            for i in 0..iters {
                                let key = format!("w{w}/{}", i % 1024);
                                store
                                    .put(&key, value.clone(), Precondition::None)
                                    .await
                                    .expect("put");
                            }
                        })
                    })
                    .collect();
                for w in join_all(writers).await {
                    w.expect("writer panicked");
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("actor_save", |b| {
        b.iter_custom(|iters| {
            let dir = dir.clone();
            on_worker(&rt, async move {
                let start = Instant::now();
                let writers: Vec<_> = (0..FANOUT)
                    .map(|w| {
                        let dir = dir.clone();
                        tokio::spawn(async move {
                            let key = format!("writer{w}");
                            for _ in 0..iters {
                                black_box(dir_add(&dir, &key).await);
                            }
                        })
                    })
                    .collect();
                for w in join_all(writers).await {
                    w.expect("writer panicked");
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    calls_to_active_actors,
    activations_from_sled,
    durable_writes
);
criterion_main!(benches);
