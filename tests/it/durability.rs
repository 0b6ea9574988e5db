//! What an OK promises: it survives `kill -9`, and SIGTERM loses nothing and exits 0.
//!
//! Clients register users and change plans concurrently while the process is killed. Every
//! registration that got 201 must exist afterwards, and every user's plan must be the last
//! acknowledged one, or the one that was in flight at the kill (which may or may not have
//! landed; either is honest).

use crate::harness::*;
use reqwest::{Client, StatusCode};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PLANS: [&str; 4] = ["free", "basic", "premium", "ultimate"];

#[derive(Default)]
struct Ledger {
    registered: Mutex<Vec<String>>,
    /// user -> (last acknowledged plan, plan in flight when the load stopped)
    plans: Mutex<HashMap<String, (String, Option<String>)>>,
    plan_acks: std::sync::atomic::AtomicUsize,
}

async fn load(app: &TestApp, run_for: Duration, fault: impl AsyncFnOnce()) -> Arc<Ledger> {
    let admin = app.user("admin").await;
    let ledger = Arc::new(Ledger::default());
    let mut targets = Vec::new();
    for i in 0..12 {
        let name = format!("plan{i}");
        app.register(&name).await;
        ledger
            .plans
            .lock()
            .unwrap()
            .insert(name.clone(), ("free".into(), None));
        targets.push(name);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for t in 0..6 {
        let (client, base, ledger, stop) =
            (client.clone(), app.url(""), ledger.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let name = format!("r{t}x{i}");
                let body = json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD});
                match client.post(format!("{base}/api/v1/auth/register")).json(&body).send().await {
                    Ok(r) if r.status() == StatusCode::CREATED => ledger.registered.lock().unwrap().push(name),
                    Ok(r) if r.status().is_server_error() => continue,
                    Ok(r) => panic!("unexpected {} for {name}", r.status()),
                    Err(_) => break,
                }
            }
        }));
    }
    for t in 0..6 {
        let (client, base, ledger, stop, admin) = (
            client.clone(),
            app.url(""),
            ledger.clone(),
            stop.clone(),
            admin.clone(),
        );
        let mine: Vec<String> = targets.iter().skip(t).step_by(6).cloned().collect();
        tasks.push(tokio::spawn(async move {
            for i in 0usize.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let user = &mine[i % mine.len()];
                let plan = PLANS[(i / mine.len() + 1) % PLANS.len()];
                ledger.plans.lock().unwrap().get_mut(user).unwrap().1 = Some(plan.into());
                let r = client
                    .put(format!("{base}/api/v1/admin/users/{user}/plan"))
                    .bearer_auth(&admin)
                    .json(&json!({"plan": plan}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == StatusCode::OK => {
                        *ledger.plans.lock().unwrap().get_mut(user).unwrap() = (plan.into(), None);
                        ledger.plan_acks.fetch_add(1, Ordering::Relaxed);
                    }
                    // Not acknowledged: it may or may not have landed; it stays "in flight".
                    Ok(r) if r.status().is_server_error() => break,
                    Ok(r) => panic!("unexpected {} changing {user}'s plan", r.status()),
                    Err(_) => break,
                }
            }
        }));
    }
    tokio::time::sleep(run_for).await;
    fault().await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    ledger
}

async fn verify(app: &TestApp, ledger: &Ledger) {
    let admin = app.login("admin").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let registered = ledger.registered.lock().unwrap().clone();
    assert!(
        registered.len() >= 5,
        "the load should have registered users before the fault ({})",
        registered.len()
    );
    for name in &registered {
        let r = app
            .get(&format!("/api/v1/admin/users/{name}"), Some(&admin))
            .await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "acknowledged registration of {name} was lost"
        );
    }
    // Acknowledged accounts also work: spot-check logins.
    for name in registered.iter().step_by(7) {
        app.login(name).await;
    }
    let plans = ledger.plans.lock().unwrap().clone();
    for (user, (acked, in_flight)) in &plans {
        let got: serde_json::Value = app
            .get(&format!("/api/v1/admin/users/{user}"), Some(&admin))
            .await
            .json()
            .await
            .unwrap();
        let got = got["plan"].as_str().unwrap();
        assert!(
            got == acked || in_flight.as_deref() == Some(got),
            "{user}: plan is {got}, last acknowledged {acked}, in flight {in_flight:?}"
        );
    }
    eprintln!(
        "verified {} acknowledged registrations and {} acknowledged plan changes on {} users",
        registered.len(),
        ledger.plan_acks.load(Ordering::Relaxed),
        plans.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_survives_kill_9_under_load() {
    let mut app = TestApp::spawn(Options::default()).await;
    let pid = app.pid();
    let killer = async || {
        // SIGKILL straight from the test: no chance to flush anything.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    };
    let ledger = load(&app, Duration::from_millis(2500), killer).await;
    app.kill9(); // reap
    let app = app.restart().await;
    verify(&app, &ledger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_drains_exits_0_and_loses_nothing() {
    let mut app = TestApp::spawn(Options::default()).await;
    let pid = app.pid();
    let term = async || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
    };
    let ledger = load(&app, Duration::from_millis(2000), term).await;
    let status = app.terminate_wait(Duration::from_secs(30)).await;
    assert!(status.success(), "exit status {status:?}\n{}", app.logs());
    let logs = app.logs();
    assert!(
        logs.contains("shutdown: passivating actors") && logs.contains("shutdown complete"),
        "{logs}"
    );
    let app = app.restart().await;
    verify(&app, &ledger).await;
}
