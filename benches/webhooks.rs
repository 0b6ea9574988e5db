//! Webhooks: `video.ready` events to 10 endpoints, from the event to the receiver's 2xx, with
//! one endpoint down for a while.
//!
//! ```text
//! cargo bench --bench webhooks                      # short: 1,000 events at 200/s, one endpoint down 10 s
//! WEBHOOK_BENCH_EVENTS=10000 WEBHOOK_BENCH_RATE=500 WEBHOOK_BENCH_DOWN_SECS=60 \
//!   WEBHOOK_BENCH_ROUNDS=3 cargo bench --bench webhooks   # the issue's run
//! ```
//!
//! The troupe server is built in this process from the library (`Application::build`: the
//! real actors, outbox, sled store with its fsyncs, and the `webhook` transport with its
//! vetting resolver, signing and HTTP client), on a fresh data dir. A `video.ready` event has
//! no cheaper real cause than a transcode, so the bench produces events the way the video's
//! follow-up does, by calling `Webhooks::emit` (which returns once the deliveries to every
//! matching endpoint are durable). The receiver is an actix-web server on another thread: it
//! checks each delivery's signature and answers 200, except endpoint 0, which answers 503 for
//! the first `WEBHOOK_BENCH_DOWN_SECS` of each round.
//!
//! Measured per round: the emit's latency (durable enqueue of one event to every endpoint),
//! and from the emit's start to the receiver's 2xx, for the healthy endpoints (goal p99 ≤ 1 s)
//! and for the one that was down; and that every delivery arrived (none lost). The reference
//! is the same POSTs sent straight from a plain HTTP client at the same rate, with no outbox
//! (no durability, no retries): the ratio says what the durable path costs.
//!
//! `WEBHOOK_BENCH_DOWN=slow`: while down, endpoint 0 hangs for 20 s before its 503, so every
//! attempt to it waits out troupe's 15 s timeout (a slow endpoint, not a failing one).
//!
//! An emit that fails (an overloaded outbox times out) is tried again with the backoff of the
//! video's follow-up, which produces `video.ready` in the server; the latency counts from the
//! first try, and the round prints how many were tried again. `WEBHOOK_BENCH_CONCURRENCY`
//! sets `outbox.concurrency` (attempts under way at once, default 64). The process runs with
//! mimalloc, as the server binary does.
//!
//! Retries use `WEBHOOK_BENCH_SCHEDULE` (seconds, default `1,5,10,30,60`) instead of Svix's
//! (5 s, 5 min, ...), so that a minute of downtime is caught up within the round.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use troupe::outbound::webhook::{new_secret, sign};
use troupe_actors::webhooks::{Event, EventType, NewEndpoint, Owner, Scope};

#[path = "common/mod.rs"]
mod common;
use common::Percentiles;

// The allocator the server binary runs with (src/main.rs): measured as it runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Emits that failed and were tried again (an overloaded outbox).
static RETRIED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the receiver saw: per webhook-id, when the first 2xx was answered; and how many
/// deliveries it refused (endpoint 0 while down) or found badly signed.
#[derive(Default)]
struct Seen {
    ok: HashMap<String, Instant>,
    refused: u64,
    bad_signature: u64,
}

struct Receiver {
    seen: Mutex<Seen>,
    /// Secret per endpoint index.
    secrets: Mutex<HashMap<usize, String>>,
    /// Endpoint 0 answers 503 until then.
    down_until: Mutex<Instant>,
    /// While down, endpoint 0 hangs for 20 s first (`WEBHOOK_BENCH_DOWN=slow`).
    slow: bool,
}

async fn receive(
    req: HttpRequest,
    path: web::Path<usize>,
    body: web::Bytes,
    rx: web::Data<Receiver>,
) -> HttpResponse {
    let n = path.into_inner();
    if n == 0 && Instant::now() < *rx.down_until.lock().unwrap() {
        if rx.slow {
            // Hangs past troupe's 15 s timeout, as an overloaded endpoint does.
            tokio::time::sleep(Duration::from_secs(20)).await;
        }
        rx.seen.lock().unwrap().refused += 1;
        return HttpResponse::ServiceUnavailable().finish();
    }
    let h = |k: &str| {
        req.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (id, ts, sig) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let secret = rx.secrets.lock().unwrap().get(&n).cloned();
    let ok = match (secret, ts.parse::<i64>()) {
        (Some(s), Ok(ts)) => {
            let want = sign(&id, ts, std::str::from_utf8(&body).unwrap_or(""), &[s]);
            sig.split(' ').any(|p| p == want)
        }
        _ => id.starts_with("direct_"),
    };
    let mut seen = rx.seen.lock().unwrap();
    if !ok {
        seen.bad_signature += 1;
        return HttpResponse::Unauthorized().finish();
    }
    seen.ok.entry(id).or_insert_with(Instant::now);
    HttpResponse::Ok().finish()
}

/// One round: `events` events at `rate` per second; the latencies from the start of each
/// event's emit to each endpoint's 2xx (healthy endpoints, endpoint 0), the emits', and how
/// many deliveries never arrived.
struct Round {
    healthy: Vec<f64>,
    down: Vec<f64>,
    emit: Vec<f64>,
    lost: usize,
    caught_up_after_down_secs: f64,
}

#[allow(clippy::too_many_arguments)]
async fn round(
    webhooks: &troupe_actors::webhooks::Webhooks,
    rx: &Arc<Receiver>,
    owner: uuid::Uuid,
    endpoints: &[uuid::Uuid],
    events: u64,
    rate: u64,
    down: Duration,
    deadline: Duration,
) -> Round {
    // What the receiver held before this round: the round is over when it holds that many
    // more (each delivery id once). Counting is cheap; matching 100,000 ids every 100 ms
    // would take CPU from the server under test.
    let before = rx.seen.lock().unwrap().ok.len();
    *rx.down_until.lock().unwrap() = Instant::now() + down;
    let down_ends = Instant::now() + down;
    let started: Arc<Mutex<Vec<(Event, Instant, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..events {
        let at = t0 + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(at.into()).await;
        let video = uuid::Uuid::new_v4();
        let event = Event::new(
            EventType::VideoReady,
            &format!("video.ready:{video}:bench"),
            Some(owner),
            chrono::Utc::now(),
            serde_json::json!({"id": video, "state": "ready", "title": format!("bench {i}")}),
        );
        let (w, started) = (webhooks.clone(), started.clone());
        tasks.push(tokio::spawn(async move {
            // As the video's follow-up produces it: tried again after a failure (an overloaded
            // outbox times out), with its backoff; the same event again adds nothing.
            let s = Instant::now();
            for (attempt, wait) in [100u64, 200, 400, 800, 1_600, 3_200, 5_000]
                .iter()
                .enumerate()
            {
                match w.emit(&event).await {
                    Ok(_) => break,
                    Err(e) if attempt == 6 => eprintln!("emit gave up: {e}"),
                    Err(_) => {
                        RETRIED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(*wait)).await;
                    }
                }
            }
            started.lock().unwrap().push((event, s, Instant::now()));
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let expected: Vec<(String, usize, Instant)> = started
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(e, s, _)| {
            endpoints
                .iter()
                .enumerate()
                .map(move |(n, ep)| (e.delivery_id(*ep), n, *s))
        })
        .collect();
    let emit: Vec<f64> = started
        .lock()
        .unwrap()
        .iter()
        .map(|(_, s, d)| d.duration_since(*s).as_secs_f64() * 1000.0)
        .collect();
    let until = Instant::now() + deadline;
    loop {
        let got = rx.seen.lock().unwrap().ok.len() - before;
        if got >= expected.len() || Instant::now() > until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = rx.seen.lock().unwrap();
    let (mut healthy, mut downs, mut lost, mut last_down) = (Vec::new(), Vec::new(), 0, down_ends);
    for (id, n, s) in &expected {
        match seen.ok.get(id) {
            Some(at) => {
                let ms = at.duration_since(*s).as_secs_f64() * 1000.0;
                if *n == 0 {
                    downs.push(ms);
                    last_down = last_down.max(*at);
                } else {
                    healthy.push(ms);
                }
            }
            None => lost += 1,
        }
    }
    Round {
        healthy,
        down: downs,
        emit,
        lost,
        caught_up_after_down_secs: last_down.duration_since(down_ends).as_secs_f64(),
    }
}

/// The reference: the same POSTs straight from a plain client at the same rate, no outbox.
async fn direct(
    url: &str,
    rx: &Arc<Receiver>,
    endpoints: usize,
    events: u64,
    rate: u64,
) -> Vec<f64> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..events {
        let at = t0 + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(at.into()).await;
        for n in 1..endpoints {
            let (client, url) = (client.clone(), format!("{url}/hook/{n}"));
            tasks.push(tokio::spawn(async move {
                let s = Instant::now();
                let r = client
                    .post(url)
                    .header("webhook-id", format!("direct_{i}_{n}"))
                    .body(r#"{"type":"video.ready"}"#)
                    .send()
                    .await;
                r.ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| s.elapsed().as_secs_f64() * 1000.0)
            }));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        if let Ok(Some(ms)) = t.await {
            out.push(ms);
        }
    }
    let _ = rx;
    out
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

#[tokio::main]
async fn main() {
    let events = env_num("WEBHOOK_BENCH_EVENTS", 1_000);
    let rate = env_num("WEBHOOK_BENCH_RATE", 200).max(1);
    let n_endpoints = env_num("WEBHOOK_BENCH_ENDPOINTS", 10).max(2) as usize;
    let down = Duration::from_secs(env_num("WEBHOOK_BENCH_DOWN_SECS", 10));
    let rounds = env_num("WEBHOOK_BENCH_ROUNDS", 1).max(1);
    let schedule: Vec<u64> = std::env::var("WEBHOOK_BENCH_SCHEDULE")
        .unwrap_or_else(|_| "1,5,10,30,60".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();

    // The receiver.
    let rx = Arc::new(Receiver {
        seen: Mutex::new(Seen::default()),
        secrets: Mutex::new(HashMap::new()),
        down_until: Mutex::new(Instant::now()),
        slow: std::env::var("WEBHOOK_BENCH_DOWN").as_deref() == Ok("slow"),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = web::Data::from(rx.clone());
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route("/hook/{n}", web::post().to(receive))
            })
            .workers(1)
            .backlog(4096)
            .listen(listener)
            .unwrap()
            .run()
            .await
        })
    });
    let url = format!("http://127.0.0.1:{port}");

    // The server.
    let tmp = tempfile::tempdir().unwrap();
    let mut config = troupe::config::Config::default();
    config.server.data_dir = tmp.path().join("data");
    config.log.level = "warn".into();
    config.webhooks.allowed_networks = vec!["127.0.0.0/8".into()];
    config.webhooks.allow_http = true;
    config.webhooks.schedule_secs = schedule.clone();
    if let Ok(n) = std::env::var("WEBHOOK_BENCH_CONCURRENCY") {
        // `outbox.concurrency`: attempts under way at once (default 64).
        config.outbox.concurrency = n.parse().expect("a number");
    }
    let _log = troupe::telemetry::init_tracing(&config.log);
    let app = troupe::startup::Application::build(config, troupe::telemetry::init_metrics())
        .await
        .expect("the server builds");
    let webhooks = app.state().webhooks.clone();
    let owner = uuid::Uuid::new_v4();
    let mut endpoints = Vec::new();
    for n in 0..n_endpoints {
        let secret = new_secret();
        rx.secrets.lock().unwrap().insert(n, secret.clone());
        let view = webhooks
            .create(NewEndpoint {
                id: uuid::Uuid::new_v4(),
                owner: Owner {
                    scope: Scope::User,
                    user_id: owner,
                    username: "bench".into(),
                },
                url: format!("{url}/hook/{n}"),
                description: format!("bench {n}"),
                events: vec![EventType::VideoReady],
                secret,
            })
            .await
            .expect("an endpoint");
        endpoints.push(view.id);
    }
    println!(
        "webhooks: {events} video.ready events at {rate}/s to {n_endpoints} endpoints, endpoint 0 down ({}) for {} s each round, retries after {schedule:?} s, {rounds} round(s)",
        if rx.slow { "hanging 20 s, then 503" } else { "503 at once" },
        down.as_secs()
    );
    let deadline = down + Duration::from_secs(schedule.iter().sum::<u64>() + 120);
    let (mut p99s, mut refp99s, mut lost_total) = (Vec::new(), Vec::new(), 0);
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>8}  (ms)",
        "", "p50", "p90", "p99", "max"
    );
    for r in 1..=rounds {
        let reference = direct(&url, &rx, n_endpoints, events, rate).await;
        let res = round(
            &webhooks, &rx, owner, &endpoints, events, rate, down, deadline,
        )
        .await;
        let healthy = Percentiles::of(res.healthy.clone());
        let refp = Percentiles::of(reference.clone());
        println!("round {r}");
        println!("  {:<32} {}", "reference: plain POST", refp.row());
        println!(
            "  {:<32} {}",
            "emit (durable, 10 endpoints)",
            Percentiles::of(res.emit).row()
        );
        println!(
            "  {:<32} {}",
            "event -> 2xx, healthy endpoints",
            healthy.row()
        );
        println!(
            "  {:<32} {}",
            "event -> 2xx, the down endpoint",
            Percentiles::of(res.down.clone()).row()
        );
        println!(
            "  emits tried again after a timeout: {}",
            RETRIED.swap(0, std::sync::atomic::Ordering::Relaxed)
        );
        println!(
            "  delivered {} of {}, lost {}; the down endpoint caught up {:.1} s after it came back; p99 {:.1}x the reference",
            res.healthy.len() + res.down.len(),
            res.healthy.len() + res.down.len() + res.lost,
            res.lost,
            res.caught_up_after_down_secs,
            healthy.p99 / refp.p99
        );
        p99s.push(healthy.p99);
        refp99s.push(refp.p99);
        lost_total += res.lost;
    }
    let (m, lo, hi) = median(p99s.clone());
    let (rm, rlo, rhi) = median(refp99s);
    println!(
        "event -> 2xx p99, healthy endpoints: median {m:.0} ms [{lo:.0}-{hi:.0}] over {rounds} round(s) (goal 1,000 ms: {}); reference plain POST p99 {rm:.0} ms [{rlo:.0}-{rhi:.0}]; lost {lost_total} (goal 0: {})",
        if m <= 1000.0 { "met" } else { "MISS" },
        if lost_total == 0 { "met" } else { "MISS" },
    );
    let seen = rx.seen.lock().unwrap();
    println!(
        "receiver: {} refused while down, {} badly signed",
        seen.refused, seen.bad_signature
    );
}
