//! Runtime tests on real sled in a temp dir.

use super::*;
use crate::store::{MemoryStore, SledStore, StateStore};
use ractor::{ActorProcessingErr, RpcReplyPort};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

struct Tally;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct TallyState {
    n: u64,
}

enum TallyMsg {
    Add(u64, RpcReplyPort<u64>),
    Get(RpcReplyPort<u64>),
    Panic(RpcReplyPort<()>),
    Sleep(Duration, RpcReplyPort<()>),
    Flavor(RpcReplyPort<String>),
}

impl Entity for Tally {
    const KIND: &'static str = "tally";
    const SCHEMA: u8 = 1;
    type State = TallyState;
    type Msg = TallyMsg;
    type Args = ();

    async fn handle(ctx: &mut Ctx<Self>, msg: TallyMsg) -> Result<(), ActorProcessingErr> {
        match msg {
            TallyMsg::Add(k, reply) => {
                let mut s = ctx.state().cloned().unwrap_or_default();
                s.n += k;
                let n = s.n;
                ctx.save(s).await?;
                let _ = reply.send(n);
            }
            TallyMsg::Get(reply) => {
                let _ = reply.send(ctx.state().map(|s| s.n).unwrap_or(0));
            }
            TallyMsg::Panic(_reply) => panic!("tally asked to crash"),
            TallyMsg::Sleep(d, reply) => {
                tokio::time::sleep(d).await;
                let _ = reply.send(());
            }
            TallyMsg::Flavor(reply) => {
                let flavor = format!("{:?}", tokio::runtime::Handle::current().runtime_flavor());
                let _ = reply.send(flavor);
            }
        }
        Ok(())
    }
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
    let tallies = Directory::<Tally>::start(store, (), config(50))
        .await
        .unwrap();
    assert_eq!(tallies.call("a", |r| TallyMsg::Add(5, r)).await.unwrap(), 5);
    assert_eq!(tallies.active(), 1);
    wait_until(|| tallies.active() == 0).await;
    assert_eq!(tallies.call("a", TallyMsg::Get).await.unwrap(), 5);
    assert_eq!(tallies.call("b", TallyMsg::Get).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_actor_answers_its_caller_and_restarts_from_durable_state() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let tallies = Directory::<Tally>::start(store, (), config(60_000))
        .await
        .unwrap();
    tallies.call("c", |r| TallyMsg::Add(3, r)).await.unwrap();
    let started = std::time::Instant::now();
    let crashed = tallies.call("c", TallyMsg::Panic).await;
    assert!(matches!(crashed, Err(CallError::Stopped)), "{crashed:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the caller must not hang"
    );
    // Messages queued behind the crash get `Stopped` too; once the supervisor has freed the
    // slot, the next message restarts the actor from its durable state.
    wait_until(|| tallies.active() == 0).await;
    assert_eq!(tallies.call("c", TallyMsg::Get).await.unwrap(), 3);
    assert_eq!(tallies.call("c", |r| TallyMsg::Add(1, r)).await.unwrap(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_is_lost_while_actors_passivate_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    // A 1 ms idle timeout makes passivation race with almost every message.
    let tallies = Directory::<Tally>::start(store, (), config(1))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let tallies = tallies.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50u64 {
                let key = format!("k{}", (t + i) % 4);
                tallies.call(&key, |r| TallyMsg::Add(1, r)).await.unwrap();
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
        total += tallies.call(&format!("k{k}"), TallyMsg::Get).await.unwrap();
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
    let tallies = Directory::<Tally>::start(store, (), cfg).await.unwrap();
    let r = tallies
        .call("s", |reply| TallyMsg::Sleep(Duration::from_secs(2), reply))
        .await;
    assert!(matches!(r, Err(CallError::Timeout)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_called_from_a_single_threaded_runtime_run_on_the_main_one() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let tallies = Directory::<Tally>::start(store, (), config(60_000))
        .await
        .unwrap();
    let t2 = tallies.clone();
    // Like an actix worker: a thread with its own current-thread runtime.
    let flavor = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move { t2.call("w", TallyMsg::Flavor).await.unwrap() })
    })
    .join()
    .unwrap();
    assert_eq!(flavor, "MultiThread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_passivates_everything_and_refuses_new_work() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let tallies = Directory::<Tally>::start(store.clone(), (), config(60_000))
        .await
        .unwrap();
    for k in 0..100 {
        tallies
            .call(&format!("k{k}"), |r| TallyMsg::Add(1, r))
            .await
            .unwrap();
    }
    assert_eq!(tallies.active(), 100);
    tallies.shutdown(Duration::from_secs(5)).await;
    assert_eq!(tallies.active(), 0);
    assert!(matches!(
        tallies.call("k1", TallyMsg::Get).await,
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
    let tallies = Directory::<Tally>::start(store, (), cfg).await.unwrap();
    let mut peak = 0;
    for round in 1..=2u64 {
        for k in 0..200 {
            let n = tallies
                .call(&format!("k{k}"), |r| TallyMsg::Add(1, r))
                .await
                .unwrap();
            assert_eq!(n, round);
            peak = peak.max(tallies.active());
        }
    }
    assert!(peak <= 20, "{peak} activations alive with max_active 20");
}
