//! Faults under load, on three real troupe processes sharing a moto_server bucket: a node
//! killed with `kill -9`, frozen with SIGSTOP, cut off from the others, two nodes that both
//! believe they own an actor, the store unreachable, a node joining and one leaving. Client
//! load (registrations, logins, plan changes) runs throughout, and afterwards every
//! acknowledged write is read back from the survivors.

use crate::cluster::{Cluster, Spec};
use crate::harness::*;
use crate::load::{verify, Load};
use crate::proxy::Fault;
use nix::sys::signal::Signal;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Starts a cluster as `spec` says, an admin, and client load of `workers` workers on every
/// node, and waits for the load to get going.
async fn loaded(spec: Spec, prefix: &str, workers: usize) -> (Cluster, String, Vec<String>, Load) {
    let c = Cluster::start_with(spec).await;
    let admin = c.nodes[0].user("admin").await;
    let addrs: Vec<String> = c.nodes.iter().map(|n| n.addr.clone()).collect();
    let load = Load::start(prefix, workers, &admin, addrs.clone());
    progress(&load, 30).await;
    (c, admin, addrs, load)
}

/// Waits until the load has had `n` more acknowledged operations.
async fn progress(load: &Load, n: u64) {
    let start = load.acked();
    eventually(Duration::from_secs(60), || async {
        (load.acked() >= start + n).then_some(())
    })
    .await;
}

/// Logs in `count` new accounts owned by node `k` (among `members`) through node `via`;
/// returns their names and access tokens.
pub(crate) async fn accounts_owned_by(
    c: &Cluster,
    k: usize,
    members: &[usize],
    via: usize,
    prefix: &str,
    count: usize,
) -> (Vec<String>, Vec<String>) {
    let mut names = Vec::new();
    let mut tokens = Vec::new();
    let mut i = 0;
    while tokens.len() < count {
        let name = format!("{prefix}{i}");
        i += 1;
        if Cluster::owner("user", &name, members) != k {
            continue;
        }
        tokens.push(c.nodes[via].user(&name).await);
        names.push(name);
    }
    (names, tokens)
}

/// How long a failover may take before a test calls it failed. The speed goal (a node's actors
/// answer elsewhere within about a second of its death) is measured by `benches/cluster.rs`
/// (`-- failover`: kill -9 and SIGSTOP, median and spread over rounds); a test checks that the
/// failover happens and loses nothing, with room for a loaded 2-core machine.
pub(crate) const FAILOVER_BOUND: Duration = Duration::from_secs(30);

/// From now, how long until every token's `GET /users/me` answers 200 on node `via`; panics
/// past [`FAILOVER_BOUND`].
pub(crate) async fn time_to_answer(
    c: &Cluster,
    via: usize,
    tokens: &[String],
    since: Instant,
) -> Vec<Duration> {
    let mut out = Vec::new();
    let tasks: Vec<_> = tokens
        .iter()
        .map(|t| {
            let (client, url, t) = (
                c.nodes[via].client.clone(),
                c.nodes[via].url("/api/v1/users/me"),
                t.clone(),
            );
            tokio::spawn(async move {
                loop {
                    if let Ok(r) = client.get(&url).bearer_auth(&t).send().await {
                        if r.status() == StatusCode::OK {
                            return since.elapsed();
                        }
                    }
                    assert!(
                        since.elapsed() < FAILOVER_BOUND,
                        "an account still did not answer after {:?}",
                        since.elapsed()
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

pub(crate) fn summary(label: &str, samples: &mut [Duration]) -> Duration {
    samples.sort();
    let q = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    eprintln!(
        "{label}: n={} min={:?} p50={:?} p90={:?} max={:?}",
        samples.len(),
        samples[0],
        q(0.5),
        q(0.9),
        samples[samples.len() - 1]
    );
    samples[samples.len() - 1]
}

fn assert_no_500(load_tally: &crate::load::Tally) {
    assert_eq!(
        load_tally.other_5xx.load(Ordering::Relaxed),
        0,
        "a 5xx other than 503"
    );
    assert_eq!(
        load_tally
            .unavailable_without_retry_after
            .load(Ordering::Relaxed),
        0,
        "a 503 without Retry-After"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_under_load_fails_over_and_loses_nothing() {
    let (mut c, admin, _, load) = loaded(
        Spec {
            nodes: 3,
            proxied: false,
        },
        "k",
        4,
    )
    .await;
    let mut failover = Vec::new();
    for (round, k) in [2usize, 0, 1].into_iter().enumerate() {
        let survivor = (k + 1) % 3;
        let (_, tokens) =
            accounts_owned_by(&c, k, &[0, 1, 2], survivor, &format!("r{round}x"), 6).await;
        // Activate them on their owner, so the kill takes live actors down.
        time_to_answer(&c, survivor, &tokens, Instant::now()).await;
        c.nodes[k].kill9();
        let killed = Instant::now();
        failover.extend(time_to_answer(&c, survivor, &tokens, killed).await);
        progress(&load, 20).await;
        let new_addr = {
            c.restart(k).await;
            c.nodes[k].addr.clone()
        };
        load.targets.lock().unwrap()[k] = new_addr;
        progress(&load, 20).await;
    }
    let (ledger, tally) = load.stop().await;
    // Every account answered again (time_to_answer bounds the wait); how fast is the bench's.
    summary(
        "failover after kill -9 (3 rounds, 6 actors each)",
        &mut failover,
    );
    assert_no_500(&tally);
    let checked = verify(&c.nodes[0].addr, &admin, &ledger).await;
    eprintln!("kill -9 x3 under load: {} ok, {} 503, {} transport errors; {checked} acknowledged writes read back", tally.ok.load(Ordering::Relaxed), tally.unavailable.load(Ordering::Relaxed), tally.transport_errors.load(Ordering::Relaxed));
    assert!(checked > 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_node_is_replaced_and_its_late_requests_change_nothing() {
    let (c, admin, addrs, load) = loaded(
        Spec {
            nodes: 3,
            proxied: false,
        },
        "f",
        4,
    )
    .await;
    let (_, tokens) = accounts_owned_by(&c, 1, &[0, 1, 2], 0, "frz", 5).await;
    time_to_answer(&c, 0, &tokens, Instant::now()).await;
    c.signal(1, Signal::SIGSTOP);
    let frozen = Instant::now();
    let mut failover = time_to_answer(&c, 0, &tokens, frozen).await;
    // Clients of the frozen node hang; those of the others carry on.
    *load.targets.lock().unwrap() = vec![addrs[0].clone(), addrs[2].clone()];
    progress(&load, 40).await;
    c.signal(1, Signal::SIGCONT);
    c.wait_ready(1).await;
    *load.targets.lock().unwrap() = addrs.clone();
    progress(&load, 40).await;
    let (ledger, tally) = load.stop().await;
    summary("failover after SIGSTOP (deadline 1 s)", &mut failover);
    assert_no_500(&tally);
    // Read back through the thawed node itself: it must not serve what it held before.
    let checked = verify(&addrs[1], &admin, &ledger).await;
    eprintln!("SIGSTOP/SIGCONT under load: {checked} acknowledged writes read back through the thawed node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_off_from_the_others_serves_nothing_and_the_majority_takes_over() {
    let (c, admin, addrs, load) = loaded(
        Spec {
            nodes: 3,
            proxied: true,
        },
        "p",
        4,
    )
    .await;
    let (names, tokens) = accounts_owned_by(&c, 2, &[0, 1, 2], 0, "cut", 5).await;
    time_to_answer(&c, 0, &tokens, Instant::now()).await;
    c.isolate(2, Fault::Blackhole);
    let cut = Instant::now();
    let mut failover = time_to_answer(&c, 0, &tokens, cut).await;
    // The isolated node still reaches the store, but it cannot see a majority: it answers
    // 503 no_quorum rather than serve what the others may be changing.
    let r = eventually(Duration::from_secs(10), || async {
        let r = c.nodes[2].get("/api/v1/users/me", Some(&tokens[0])).await;
        (r.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(r)
    })
    .await;
    assert!(r.headers().get("retry-after").is_some());
    problem(r, 503, "no_quorum").await;
    progress(&load, 40).await;
    // Changed by the majority while node2 was cut off.
    let r = c.nodes[0]
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/admin/users/{}/plan", names[0]),
            Some(&admin),
            Some(serde_json::json!({"plan": "ultimate"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    c.isolate(2, Fault::None);
    c.wait_ready(2).await;
    // Healed, node2 owns that account again, and serves what the majority wrote, not what
    // it held before the cut.
    let r = c.nodes[2]
        .get(&format!("/api/v1/admin/users/{}", names[0]), Some(&admin))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["plan"], "ultimate",
        "node2 served stale state after the partition healed"
    );
    progress(&load, 30).await;
    let (ledger, tally) = load.stop().await;
    summary("failover after a partition (deadline 1 s)", &mut failover);
    assert_no_500(&tally);
    let checked = verify(&addrs[2], &admin, &ledger).await;
    eprintln!("partition under load: {} 503 while cut; {checked} acknowledged writes read back through the healed node", tally.unavailable.load(Ordering::Relaxed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_that_both_own_an_actor_never_both_commit() {
    let c = Cluster::start_with(Spec {
        nodes: 3,
        proxied: true,
    })
    .await;
    let admin = c.nodes[1].user("admin").await;
    // Cut only node0 <-> node2. Both still see node1, so both keep a majority: node0 places
    // actors over {0,1}, node2 over {1,2}, and each believes it owns the accounts below.
    let mut contested = Vec::new();
    for i in 0.. {
        let name = format!("both{i}");
        if Cluster::owner("user", &name, &[0, 1]) == 0
            && Cluster::owner("user", &name, &[1, 2]) == 2
        {
            c.nodes[1].register(&name).await;
            contested.push(name);
        }
        if contested.len() == 4 {
            break;
        }
    }
    c.cut_link(0, 2, Fault::Blackhole);
    eventually(Duration::from_secs(10), || async {
        let v0 = c.view(0, &admin).await;
        let v2 = c.view(2, &admin).await;
        let state = |v: &Value, name: &str| {
            v["members"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == name)
                .map(|m| m["state"].clone())
        };
        (state(&v0, "node2") == Some("down".into()) && state(&v2, "node0") == Some("down".into()))
            .then_some(())
    })
    .await;
    // Concurrent logins for the same accounts through both owners: each adds a refresh
    // family to the account, so a lost update would lose an acknowledged login.
    let mut tasks = Vec::new();
    for name in &contested {
        for via in [0usize, 2] {
            let (client, url, name) = (
                c.nodes[via].client.clone(),
                c.nodes[via].url("/api/v1/auth/login"),
                name.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut tokens = Vec::new();
                for _ in 0..8 {
                    let r = client
                        .post(&url)
                        .json(&serde_json::json!({"username": name, "password": PASSWORD}))
                        .send()
                        .await
                        .unwrap();
                    if r.status() == StatusCode::OK {
                        let v: Value = r.json().await.unwrap();
                        tokens.push(v["refresh_token"].as_str().unwrap().to_owned());
                    } else {
                        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
                    }
                }
                (name, tokens)
            }));
        }
    }
    let mut acked: std::collections::HashMap<String, Vec<String>> = Default::default();
    for t in tasks {
        let (name, tokens) = t.await.unwrap();
        acked.entry(name).or_default().extend(tokens);
    }
    let mut fenced = 0.0;
    for i in [0usize, 2] {
        let text = c.nodes[i].get("/metrics", None).await.text().await.unwrap();
        fenced += metric(&text, "troupe_actor_fenced_total");
    }
    c.cut_link(0, 2, Fault::None);
    c.wait_all_up(&admin).await;
    let mut total = 0;
    for (name, tokens) in &acked {
        for t in tokens {
            let r = c.nodes[1]
                .post(
                    "/api/v1/auth/refresh",
                    serde_json::json!({"refresh_token": t}),
                )
                .await;
            assert_eq!(
                r.status(),
                StatusCode::OK,
                "an acknowledged login of {name} was lost to a concurrent owner"
            );
            total += 1;
        }
    }
    eprintln!(
        "two owners: {total} acknowledged logins all survive; {fenced} stale writes fenced off"
    );
    assert!(total >= 32, "too few logins acknowledged: {total}");
    assert!(
        fenced > 0.0,
        "the two owners never collided; the test did not test anything"
    );
}

/// The value of a counter in a Prometheus text exposition (summed over labels).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_store_gives_503_with_retry_after_and_loses_nothing() {
    let (c, admin, addrs, load) = loaded(
        Spec {
            nodes: 3,
            proxied: true,
        },
        "s",
        3,
    )
    .await;
    let store = c.store_proxy.as_ref().unwrap();
    store.set(Fault::Refuse);
    let before = load.tally.unavailable.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = load.tally.unavailable.load(Ordering::Relaxed) - before;
    store.set(Fault::None);
    progress(&load, 40).await;
    let (ledger, tally) = load.stop().await;
    assert!(during > 0, "no request noticed the store was gone");
    assert_no_500(&tally);
    let checked = verify(&addrs[1], &admin, &ledger).await;
    eprintln!("store down 3 s under load: {during} answers were 503 meanwhile; {checked} acknowledged writes read back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_joining_node_takes_its_share_and_a_leaving_one_hands_it_back_without_5xx() {
    let mut c = Cluster::start(3).await;
    let admin = c.nodes[0].user("admin").await;
    let addrs: Vec<String> = c.nodes.iter().map(|n| n.addr.clone()).collect();
    let load = Load::start("j", 4, &admin, addrs.clone());
    progress(&load, 60).await;
    // A fourth node joins through one seed.
    let node3 = crate::cluster::spawn_node(|addr| {
        crate::cluster::node_options(
            &c.moto,
            "troupe",
            "node3",
            addr,
            &[c.addrs[0].clone()],
            crate::cluster::COOKIE,
        )
    })
    .await;
    c.nodes.push(node3);
    c.wait_up(&admin, &[0], 4).await;
    c.wait_ready(3).await;
    load.targets.lock().unwrap().push(c.nodes[3].addr.clone());
    // Touch many accounts so they activate wherever they belong now.
    let names: Vec<String> = (0..80).map(|i| format!("share{i}")).collect();
    for n in &names {
        c.nodes[i_of(n)].register(n).await;
    }
    let expected = names
        .iter()
        .filter(|n| Cluster::owner("user", n, &[0, 1, 2, 3]) == 3)
        .count();
    assert!((12..=28).contains(&expected));
    // Each node's own count of live user actors: node3 holds about a quarter of them, and at
    // least every new account it owns.
    let mut hosted = Vec::new();
    for i in 0..4 {
        let v = c.view(i, &admin).await;
        hosted.push(v["members"][0]["actors"]["user"].as_u64().unwrap_or(0));
    }
    let share = hosted[3] as f64 / hosted.iter().sum::<u64>() as f64;
    eprintln!("after the join, live user actors per node {hosted:?}: node3 holds {:.0}% of them; rendezvous gives it {expected} of the 80 new accounts (1/4 would be 20)", share * 100.0);
    assert!(
        hosted[3] as usize >= expected,
        "node3 hosts {hosted:?}, expected at least {expected}"
    );
    assert!(
        (0.12..=0.40).contains(&share),
        "node3 holds {share:.2} of the user actors"
    );
    progress(&load, 40).await;
    // It leaves gracefully: it tells the others, drains and exits 0.
    load.targets.lock().unwrap().pop();
    let status = c.nodes[3].terminate_wait_after_sigterm().await;
    assert!(status.success());
    progress(&load, 40).await;
    let (ledger, tally) = load.stop().await;
    eprintln!(
        "join and leave under load: {} ok, {} 503, {} other 5xx",
        tally.ok.load(Ordering::Relaxed),
        tally.unavailable.load(Ordering::Relaxed),
        tally.other_5xx.load(Ordering::Relaxed)
    );
    assert_eq!(
        tally.unavailable.load(Ordering::Relaxed),
        0,
        "clients saw 503s during the join or the leave"
    );
    assert_no_500(&tally);
    verify(&addrs[0], &admin, &ledger).await;
    for n in &names {
        let r = c.nodes[1]
            .get(&format!("/api/v1/admin/users/{n}"), Some(&admin))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}

fn i_of(name: &str) -> usize {
    name.len() % 3
}
