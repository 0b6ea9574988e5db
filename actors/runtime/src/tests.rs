//! Runtime tests on real sled in a temp dir.

use super::*;
use crate::store::{MemoryStore, SledStore, StateStore};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

struct Tally;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct TallyState {
    n: u64,
    /// The parts `<key>.p0` to `<key>.p2`, read on the first request; stored on their own.
    #[serde(skip)]
    parts: Vec<u64>,
}

/// A part of a tally: one more number, stored under `tallypart/<key>.p<i>`.
#[derive(Debug, Serialize, Deserialize)]
struct PartN(u64);

impl Part for PartN {
    const KIND: &'static str = "tallypart";
    const SCHEMA: u8 = 1;
}

const PARTS: usize = 3;

/// What `TallyReq::Announce` announced: (key, count).
static ANNOUNCED: std::sync::Mutex<Vec<(String, u64)>> = std::sync::Mutex::new(Vec::new());

/// The counts announced for `key`.
fn announced(key: &str) -> Vec<u64> {
    let all = ANNOUNCED.lock().unwrap();
    all.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, n)| *n)
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum TallyReq {
    Add(u64),
    /// Like `Add`, through `Ctx::stage` (batched writes).
    Stage(u64),
    /// Like `Stage`, then ends the activation (`Ctx::passivate`).
    StageAndGo(u64),
    /// Like `Add`, through `Ctx::stage_soft` (written behind within the duration).
    Soft(u64, Duration),
    /// Like `Stage`, and announces the new count in [`ANNOUNCED`] once it is durable
    /// (`Ctx::after_durable`).
    Announce(u64),
    Get,
    /// Deletes the state.
    Remove,
    /// Whether this is the activation's first request.
    First,
    Panic,
    Sleep(Duration),
    Flavor,
    /// Adds to part `i` through `Ctx::stage_part`.
    AddPart(usize, u64),
    GetPart(usize),
}

#[derive(Debug, Serialize, Deserialize)]
enum TallyAnswer {
    N(u64),
    Done,
    Flavor(String),
}

impl TallyAnswer {
    fn n(self) -> u64 {
        match self {
            TallyAnswer::N(n) => n,
            other => panic!("not a number: {other:?}"),
        }
    }
}

impl Entity for Tally {
    const KIND: &'static str = "tally";
    const SCHEMA: u8 = 1;
    type State = TallyState;
    type Request = TallyReq;
    type Response = TallyAnswer;
    type Args = ();

    async fn handle(ctx: &mut Ctx<Self>, req: TallyReq) -> Result<TallyAnswer, ActorProcessingErr> {
        if ctx.first_request() && matches!(req, TallyReq::AddPart(..) | TallyReq::GetPart(_)) {
            let keys: Vec<String> = (0..PARTS).map(|i| format!("{}.p{i}", ctx.key())).collect();
            let parts = ctx.load_parts::<PartN>(&keys).await?;
            let mut s = ctx.state_mut().take().unwrap_or_default();
            s.parts = parts.into_iter().map(|p| p.map_or(0, |p| p.0)).collect();
            *ctx.state_mut() = Some(s);
        }
        Ok(match req {
            TallyReq::Add(k) => {
                let mut s = ctx.state().cloned().unwrap_or_default();
                s.n += k;
                let n = s.n;
                ctx.save(s).await?;
                TallyAnswer::N(n)
            }
            TallyReq::Stage(k) => {
                let mut s = ctx.state().cloned().unwrap_or_default();
                s.n += k;
                let n = s.n;
                ctx.stage(s);
                TallyAnswer::N(n)
            }
            TallyReq::StageAndGo(k) => {
                let mut s = ctx.state().cloned().unwrap_or_default();
                s.n += k;
                let n = s.n;
                ctx.stage(s);
                ctx.passivate();
                TallyAnswer::N(n)
            }
            TallyReq::Announce(k) => {
                let mut s = ctx.state().cloned().unwrap_or_default();
                s.n += k;
                let (n, key) = (s.n, ctx.key().to_owned());
                ctx.stage(s);
                ctx.after_durable(move || ANNOUNCED.lock().unwrap().push((key, n)));
                TallyAnswer::N(n)
            }
            TallyReq::Soft(k, within) => {
                let mut s = ctx.state().cloned().unwrap_or_default();
                s.n += k;
                let n = s.n;
                ctx.stage_soft(s, within);
                TallyAnswer::N(n)
            }
            TallyReq::Get => TallyAnswer::N(ctx.state().map(|s| s.n).unwrap_or(0)),
            TallyReq::Remove => {
                ctx.remove().await?;
                TallyAnswer::Done
            }
            TallyReq::First => TallyAnswer::N(ctx.first_request() as u64),
            TallyReq::Panic => panic!("tally asked to crash"),
            TallyReq::Sleep(d) => {
                tokio::time::sleep(d).await;
                TallyAnswer::Done
            }
            TallyReq::Flavor => TallyAnswer::Flavor(format!(
                "{:?}",
                tokio::runtime::Handle::current().runtime_flavor()
            )),
            TallyReq::AddPart(i, k) => {
                let key = format!("{}.p{i}", ctx.key());
                let Some(s) = ctx.state_mut().as_mut().filter(|s| s.parts.len() == PARTS) else {
                    return Err("parts not loaded".into());
                };
                s.parts[i] += k;
                let n = s.parts[i];
                ctx.stage_part(&key, &PartN(n));
                TallyAnswer::N(n)
            }
            TallyReq::GetPart(i) => TallyAnswer::N(
                ctx.state()
                    .and_then(|s| s.parts.get(i).copied())
                    .unwrap_or(0),
            ),
        })
    }

    fn snapshot(state: Option<&TallyState>) -> Option<Snapshot> {
        Some(Arc::new(state.map_or(0u64, |s| s.n)))
    }
}

async fn tallies(store: Arc<dyn StateStore>, cfg: RuntimeConfig) -> Directory<Tally> {
    Directory::<Tally>::start(&System::new(store, cfg), ())
        .await
        .unwrap()
}

fn config(idle_ms: u64) -> RuntimeConfig {
    RuntimeConfig {
        idle_timeout: Duration::from_millis(idle_ms),
        call_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_actor_passivates_and_comes_back_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let tallies = tallies(store, config(50)).await;
    assert_eq!(tallies.call("a", TallyReq::Add(5)).await.unwrap().n(), 5);
    assert_eq!(tallies.active(), 1);
    wait_until(|| tallies.active() == 0).await;
    assert_eq!(tallies.call("a", TallyReq::Get).await.unwrap().n(), 5);
    assert_eq!(tallies.call("b", TallyReq::Get).await.unwrap().n(), 0);
}

/// Reads `key`'s durable count straight from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_that_asks_to_passivate_goes_at_once_and_loses_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    // Idle actors would stay for a minute: only `passivate` makes them go.
    let tallies = tallies(store.clone(), config(60_000)).await;
    assert_eq!(
        tallies
            .call("a", TallyReq::StageAndGo(1))
            .await
            .unwrap()
            .n(),
        1
    );
    wait_until(|| tallies.active() == 0).await;
    assert_eq!(stored(&store, "a").await, 1);
    // Many at once: requests queued behind one that passivates are handled, later ones
    // activate it afresh; every answer is a different count, and all are durable.
    let calls = (0..200).map(|_| tallies.call("a", TallyReq::StageAndGo(1)));
    let mut seen: Vec<u64> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().n())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (2..=201).collect::<Vec<u64>>());
    wait_until(|| tallies.active() == 0).await;
    assert_eq!(stored(&store, "a").await, 201);
    assert_eq!(tallies.call("a", TallyReq::Get).await.unwrap().n(), 201);
}

async fn stored(store: &Arc<dyn StateStore>, key: &str) -> u64 {
    match store.get(&format!("tally/{key}")).await.unwrap() {
        Some(v) => crate::codec::decode::<TallyState>(1, &v.value).unwrap().n,
        None => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_changes_answer_at_once_and_are_written_behind() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let tallies = tallies(store.clone(), config(60_000)).await;
    let within = Duration::from_millis(300);
    for i in 1..=5 {
        let n = tallies
            .call("s", TallyReq::Soft(1, within))
            .await
            .unwrap()
            .n();
        assert_eq!(n, i, "answered from memory at once");
    }
    assert_eq!(stored(&store, "s").await, 0, "not written yet");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while stored(&store, "s").await != 5 {
        assert!(std::time::Instant::now() < deadline, "never written behind");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A durable change covers the soft ones before it.
    tallies
        .call("s", TallyReq::Soft(10, Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(tallies.call("s", TallyReq::Stage(1)).await.unwrap().n(), 16);
    assert_eq!(stored(&store, "s").await, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_changes_are_written_on_passivation() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let tallies = tallies(store.clone(), config(100)).await;
    assert_eq!(tallies.call("p", TallyReq::First).await.unwrap().n(), 1);
    assert_eq!(tallies.call("p", TallyReq::First).await.unwrap().n(), 0);
    tallies
        .call("p", TallyReq::Soft(7, Duration::from_secs(3600)))
        .await
        .unwrap();
    wait_until(|| tallies.active() == 0).await;
    assert_eq!(stored(&store, "p").await, 7);
    assert_eq!(
        tallies.call("p", TallyReq::First).await.unwrap().n(),
        1,
        "a new activation"
    );
    assert_eq!(tallies.call("p", TallyReq::Get).await.unwrap().n(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_state_takes_its_unwritten_soft_changes_with_it() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let tallies = tallies(store.clone(), config(100)).await;
    // Never written, and written once: neither comes back after a remove and passivation.
    for (key, durable) in [("never", false), ("once", true)] {
        if durable {
            tallies.call(key, TallyReq::Stage(1)).await.unwrap();
        }
        tallies
            .call(key, TallyReq::Soft(5, Duration::from_secs(3600)))
            .await
            .unwrap();
        tallies.call(key, TallyReq::Remove).await.unwrap();
        assert_eq!(tallies.call(key, TallyReq::Get).await.unwrap().n(), 0);
    }
    wait_until(|| tallies.active() == 0).await;
    for key in ["never", "once"] {
        assert!(
            store.get(&format!("tally/{key}")).await.unwrap().is_none(),
            "{key} came back"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_actor_answers_its_caller_and_restarts_from_durable_state() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let tallies = tallies(store, config(60_000)).await;
    tallies.call("c", TallyReq::Add(3)).await.unwrap().n();
    let started = std::time::Instant::now();
    let crashed = tallies.call("c", TallyReq::Panic).await;
    assert!(matches!(crashed, Err(CallError::Stopped)), "{crashed:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the caller must not hang"
    );
    // Messages queued behind the crash get `Stopped` too; once the supervisor has freed the
    // slot, the next message restarts the actor from its durable state.
    wait_until(|| tallies.active() == 0).await;
    assert_eq!(tallies.call("c", TallyReq::Get).await.unwrap().n(), 3);
    assert_eq!(tallies.call("c", TallyReq::Add(1)).await.unwrap().n(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_is_lost_while_actors_passivate_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    // A 1 ms idle timeout makes passivation race with almost every message.
    let tallies = tallies(store, config(1)).await;
    let mut tasks = Vec::new();
    for t in 0..16 {
        let tallies = tallies.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50u64 {
                let key = format!("k{}", (t + i) % 4);
                tallies.call(&key, TallyReq::Add(1)).await.unwrap().n();
                if i % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut total = 0;
    for k in 0..4 {
        total += tallies
            .call(&format!("k{k}"), TallyReq::Get)
            .await
            .unwrap()
            .n();
    }
    assert_eq!(total, 16 * 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_actor_gives_a_timeout_not_a_hang() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let cfg = RuntimeConfig {
        idle_timeout: Duration::from_secs(60),
        call_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let tallies = tallies(store, cfg).await;
    let r = tallies
        .call("s", TallyReq::Sleep(Duration::from_secs(2)))
        .await;
    assert!(matches!(r, Err(CallError::Timeout)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_called_from_a_single_threaded_runtime_run_on_the_main_one() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let tallies = tallies(store, config(60_000)).await;
    let t2 = tallies.clone();
    // Like an actix worker: a thread with its own current-thread runtime.
    let flavor = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                match t2.call("w", TallyReq::Flavor).await.unwrap() {
                    TallyAnswer::Flavor(f) => f,
                    other => panic!("{other:?}"),
                }
            })
    })
    .join()
    .unwrap();
    assert_eq!(flavor, "MultiThread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_called_from_a_marked_home_run_there_and_passivate_before_it_ends() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let tallies = tallies(store.clone(), config(60_000)).await;
    let t2 = tallies.clone();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (end_tx, end_rx) = tokio::sync::oneshot::channel::<()>();
    // Like an actix worker marked as a home: it runs until told to end, after shutdown.
    let worker = std::thread::spawn(move || {
        crate::make_this_thread_an_actor_home();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let flavor = match t2.call("w", TallyReq::Flavor).await.unwrap() {
                    TallyAnswer::Flavor(f) => f,
                    other => panic!("{other:?}"),
                };
                // A soft change: only passivation writes it.
                t2.call("w", TallyReq::Soft(7, Duration::from_secs(3600)))
                    .await
                    .unwrap();
                ready_tx.send(flavor).unwrap();
                let _ = end_rx.await;
            })
    });
    assert_eq!(ready_rx.await.unwrap(), "CurrentThread");
    assert_eq!(tallies.active(), 1);
    tokio::time::timeout(
        Duration::from_secs(5),
        tallies.shutdown(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert_eq!(tallies.active(), 0);
    end_tx.send(()).unwrap();
    worker.join().unwrap();
    let stored = store
        .get("tally/w")
        .await
        .unwrap()
        .expect("passivation wrote the state");
    let state: TallyState = crate::codec::decode(Tally::SCHEMA, &stored.value).unwrap();
    assert_eq!(state.n, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_passivates_everything_and_refuses_new_work() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let tallies = tallies(store.clone(), config(60_000)).await;
    for k in 0..100 {
        tallies
            .call(&format!("k{k}"), TallyReq::Add(1))
            .await
            .unwrap()
            .n();
    }
    assert_eq!(tallies.active(), 100);
    tallies.shutdown(Duration::from_secs(5)).await;
    assert_eq!(tallies.active(), 0);
    assert!(matches!(
        tallies.call("k1", TallyReq::Get).await,
        Err(CallError::ShuttingDown)
    ));
    assert_eq!(store.scan_prefix("tally/").await.unwrap().len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_activations_never_exceed_max_active_and_evicted_state_survives() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let cfg = RuntimeConfig {
        max_active: 20,
        ..config(60_000)
    };
    let tallies = tallies(store, cfg).await;
    let mut peak = 0;
    for round in 1..=2u64 {
        for k in 0..200 {
            let n = tallies
                .call(&format!("k{k}"), TallyReq::Add(1))
                .await
                .unwrap()
                .n();
            assert_eq!(n, round);
            peak = peak.max(tallies.active());
        }
    }
    assert!(peak <= 20, "{peak} activations alive with max_active 20");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_activations_of_one_actor_never_both_commit() {
    // Two "nodes" on one shared store, both activating the same key: the stale one's write
    // fails its compare-and-swap, it is fenced off, and the request is retried on a fresh
    // activation that sees the other's write. Nothing is lost, nothing is applied twice.
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let a = tallies(store.clone(), config(60_000)).await;
    let b = tallies(store.clone(), config(60_000)).await;
    assert_eq!(a.call("x", TallyReq::Add(1)).await.unwrap().n(), 1);
    assert_eq!(b.call("x", TallyReq::Add(10)).await.unwrap().n(), 11);
    // `a` still holds n = 1 and the old version: its write is refused, and the retry loads 11.
    assert_eq!(a.call("x", TallyReq::Add(100)).await.unwrap().n(), 111);
    assert_eq!(b.call("x", TallyReq::Add(1000)).await.unwrap().n(), 1111);
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let d = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            d.call("x", TallyReq::Add(1)).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Reads from a stale activation can lag (in a cluster, placement keeps one owner per
    // actor); a fresh activation reads what was committed.
    let c = tallies(store, config(60_000)).await;
    assert_eq!(c.call("x", TallyReq::Get).await.unwrap().n(), 1151);
}

/// A store that counts writes, takes `delay` per write, and fails writes while `failing`.
struct SlowStore {
    inner: MemoryStore,
    delay: Duration,
    puts: std::sync::atomic::AtomicU64,
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl StateStore for SlowStore {
    async fn get(
        &self,
        key: &str,
    ) -> Result<Option<crate::store::Versioned>, crate::store::StoreError> {
        self.inner.get(key).await
    }
    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        condition: crate::store::Precondition,
    ) -> Result<crate::store::Etag, crate::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::store::StoreError::Unavailable(
                "test store is down".into(),
            ));
        }
        self.puts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.put(key, value, condition).await
    }
    async fn delete(
        &self,
        key: &str,
        condition: crate::store::Precondition,
    ) -> Result<(), crate::store::StoreError> {
        self.inner.delete(key, condition).await
    }
    async fn scan_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, crate::store::Versioned)>, crate::store::StoreError> {
        self.inner.scan_prefix(prefix).await
    }
    async fn flush(&self) -> Result<(), crate::store::StoreError> {
        Ok(())
    }
    fn backend(&self) -> &'static str {
        "slow"
    }
}

fn slow_store(delay_ms: u64) -> Arc<SlowStore> {
    Arc::new(SlowStore {
        inner: MemoryStore::new(),
        delay: Duration::from_millis(delay_ms),
        puts: Default::default(),
        failing: Default::default(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_writes_to_one_actor_share_store_writes_and_stay_exact() {
    let store = slow_store(10);
    let tallies = tallies(store.clone(), config(60_000)).await;
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let t = tallies.clone();
        tasks.push(tokio::spawn(async move {
            t.call("hot", TallyReq::Stage(1)).await.unwrap().n()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers.sort();
    assert_eq!(
        answers,
        (1..=200).collect::<Vec<_>>(),
        "every request saw its own increment"
    );
    let puts = store.puts.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        puts < 50,
        "200 staged changes took {puts} writes; they should share writes"
    );
    // Durable: a fresh node on the same store reads the total.
    let fresh = tallies_on(store.clone()).await;
    assert_eq!(fresh.call("hot", TallyReq::Get).await.unwrap().n(), 200);
}

async fn tallies_on(store: Arc<SlowStore>) -> Directory<Tally> {
    tallies(store, config(60_000)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_write_that_fails_answers_an_error_and_nothing_dirty_is_read() {
    let store = slow_store(5);
    let tallies = tallies(store.clone(), config(60_000)).await;
    assert_eq!(tallies.call("k", TallyReq::Stage(2)).await.unwrap().n(), 2);
    store
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = tallies.call("k", TallyReq::Stage(5)).await;
    assert!(
        matches!(failed, Err(CallError::Unavailable(_))),
        "{failed:?}"
    );
    store
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    // The activation retired; the next one reads what is durable, not the failed 7.
    wait_until(|| tallies.active() == 0).await;
    assert_eq!(tallies.call("k", TallyReq::Get).await.unwrap().n(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passivation_finishes_staged_writes_before_the_actor_goes() {
    let store = slow_store(20);
    let tallies = tallies(store.clone(), config(5)).await;
    let mut tasks = Vec::new();
    for i in 0..50u64 {
        let t = tallies.clone();
        tasks.push(tokio::spawn(async move {
            t.call(&format!("p{}", i % 5), TallyReq::Stage(1))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    wait_until(|| tallies.active() == 0).await;
    let fresh = tallies_on(store).await;
    let mut total = 0;
    for k in 0..5 {
        total += fresh
            .call(&format!("p{k}"), TallyReq::Get)
            .await
            .unwrap()
            .n();
    }
    assert_eq!(total, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_writes_of_two_activations_are_fenced_not_lost() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let a = tallies(store.clone(), config(60_000)).await;
    let b = tallies(store.clone(), config(60_000)).await;
    let mut tasks = Vec::new();
    for i in 0..60u64 {
        let d = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            d.call("x", TallyReq::Stage(1)).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let c = tallies(store, config(60_000)).await;
    assert_eq!(c.call("x", TallyReq::Get).await.unwrap().n(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_load_finishes_promptly_with_nothing_left_alive() {
    // Activations that are starting while shutdown begins come alive after its first sweep;
    // shutdown must catch them too rather than wait out its whole deadline.
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let tallies = tallies(store, config(60_000)).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (d, stop) = (tallies.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Err(CallError::ShuttingDown) =
                    d.call(&format!("t{t}k{i}"), TallyReq::Add(1)).await
                {
                    break;
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    tallies.shutdown(Duration::from_secs(20)).await;
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(tallies.active(), 0);
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_is_written_alone_before_the_answer_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let tallies = tallies(store.clone(), config(100)).await;
    let stored = |key: &'static str| {
        let store = store.clone();
        async move {
            store
                .get(key)
                .await
                .unwrap()
                .map(|v| crate::codec::decode::<PartN>(1, &v.value).unwrap().0)
        }
    };
    assert_eq!(
        tallies
            .call("a", TallyReq::AddPart(1, 5))
            .await
            .unwrap()
            .n(),
        5
    );
    // Answered: the part is durable, and it was written alone (the state was not staged).
    assert_eq!(stored("tallypart/a.p1").await, Some(5));
    assert_eq!(stored("tallypart/a.p0").await, None);
    assert!(store.get("tally/a").await.unwrap().is_none());
    let mut calls = Vec::new();
    for i in 0..30 {
        let t = tallies.clone();
        calls.push(tokio::spawn(async move {
            t.call("a", TallyReq::AddPart(i % PARTS, 1)).await.unwrap()
        }));
    }
    for c in calls {
        c.await.unwrap();
    }
    assert_eq!(stored("tallypart/a.p1").await, Some(15));
    wait_until(|| tallies.active() == 0).await;
    assert_eq!(
        tallies.call("a", TallyReq::GetPart(0)).await.unwrap().n(),
        10
    );
    assert_eq!(
        tallies.call("a", TallyReq::GetPart(1)).await.unwrap().n(),
        15
    );
    // Removing the entity deletes its parts with it.
    tallies.call("a", TallyReq::Remove).await.unwrap();
    assert_eq!(stored("tallypart/a.p0").await, None);
    assert_eq!(stored("tallypart/a.p1").await, None);
    assert_eq!(stored("tallypart/a.p2").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_activation_cannot_write_a_part() {
    // As for the state: two "nodes" on one store, and the stale writer of a part is fenced
    // off, its request retried on a fresh activation that reads the other's write.
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let a = tallies(store.clone(), config(60_000)).await;
    let b = tallies(store.clone(), config(60_000)).await;
    assert_eq!(a.call("x", TallyReq::AddPart(2, 1)).await.unwrap().n(), 1);
    assert_eq!(b.call("x", TallyReq::AddPart(2, 10)).await.unwrap().n(), 11);
    assert_eq!(
        a.call("x", TallyReq::AddPart(2, 100)).await.unwrap().n(),
        111
    );
    let c = tallies(store, config(60_000)).await;
    assert_eq!(c.call("x", TallyReq::GetPart(2)).await.unwrap().n(), 111);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_show_only_durable_state_and_only_while_active_here() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let tallies = tallies(store, config(60_000)).await;
    let seen = |t: &Directory<Tally>| t.snapshot::<u64>("s").map(|n| *n);
    assert_eq!(seen(&tallies), None, "not active here: ask it");
    assert_eq!(tallies.call("s", TallyReq::Stage(3)).await.unwrap().n(), 3);
    assert_eq!(seen(&tallies), Some(3), "published before the answer");
    // A soft change is answered before it is durable: the snapshot does not show it yet.
    let soft = TallyReq::Soft(4, Duration::from_secs(3600));
    assert_eq!(tallies.call("s", soft).await.unwrap().n(), 7);
    assert_eq!(seen(&tallies), Some(3));
    assert_eq!(tallies.call("s", TallyReq::Add(1)).await.unwrap().n(), 8);
    assert_eq!(seen(&tallies), Some(8));
    assert!(tallies.snapshot::<String>("s").is_none(), "another type");
    tallies.call("s", TallyReq::Remove).await.unwrap();
    assert_eq!(
        seen(&tallies),
        Some(0),
        "removed: what it publishes for no state"
    );
    tallies.shutdown(Duration::from_secs(5)).await;
    assert_eq!(seen(&tallies), None, "passivated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_durable_hooks_run_once_the_write_lands_and_never_when_it_fails() {
    let store = slow_store(30);
    let dyn_store: Arc<dyn StateStore> = store.clone();
    let tallies = tallies(store.clone(), config(60_000)).await;
    // Concurrent announcements share writes; whenever one is heard, the store holds it.
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let t = tallies.clone();
        tasks.push(tokio::spawn(async move {
            t.call("heard", TallyReq::Announce(1)).await.unwrap().n()
        }));
    }
    let mut checks = 0;
    while !tasks.iter().all(|t| t.is_finished()) {
        let heard = announced("heard").into_iter().max();
        if let Some(n) = heard {
            let durable = stored(&dyn_store, "heard").await;
            assert!(
                durable >= n,
                "{n} was announced while the store held {durable}"
            );
            checks += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for t in tasks {
        let n = t.await.unwrap();
        assert!(
            announced("heard").contains(&n),
            "{n} answered before it was announced"
        );
    }
    assert!(checks > 0, "never caught an announcement in flight");
    let heard = announced("heard");
    assert_eq!(heard.len(), 40, "each once: {heard:?}");

    // Nothing staged or being written: at once.
    assert_eq!(
        tallies.call("quiet", TallyReq::Add(1)).await.unwrap().n(),
        1
    );
    assert_eq!(
        tallies
            .call("quiet", TallyReq::Announce(0))
            .await
            .unwrap()
            .n(),
        1
    );
    assert_eq!(announced("quiet"), [1]);

    // A write that fails announces nothing.
    store
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = tallies.call("heard", TallyReq::Announce(1)).await;
    assert!(
        matches!(failed, Err(CallError::Unavailable(_))),
        "{failed:?}"
    );
    wait_until(|| tallies.active() == 1).await;
    store
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(announced("heard").len(), 40, "the failed 41 was announced");
    assert_eq!(tallies.call("heard", TallyReq::Get).await.unwrap().n(), 40);
}
