//! Client load for fault tests: workers that register accounts, log in and change plans
//! through whichever nodes are targets, and a ledger of what was acknowledged, to read back
//! from the survivors afterwards.

use crate::harness::PASSWORD;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PLANS: [&str; 4] = ["free", "basic", "premium", "ultimate"];

/// What one account went through.
#[derive(Debug, Clone, Default)]
pub struct Account {
    /// Registration was acknowledged (201).
    pub registered: bool,
    /// The last plan acknowledged (200), if any.
    pub acked_plan: Option<String>,
    /// Plans sent after the last acknowledged one whose fate is unknown (503, lost link).
    pub unknown_plans: Vec<String>,
    /// Refresh tokens of acknowledged logins.
    pub refresh_tokens: Vec<String>,
}

/// Counts of answers, by class.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: AtomicU64,
    pub unavailable: AtomicU64,
    pub other_5xx: AtomicU64,
    pub other_4xx: AtomicU64,
    pub transport_errors: AtomicU64,
    /// A 503 without `Retry-After`.
    pub unavailable_without_retry_after: AtomicU64,
}

/// Running client load.
pub struct Load {
    pub ledger: Arc<Mutex<HashMap<String, Account>>>,
    pub tally: Arc<Tally>,
    /// Addresses requests go to; tests change it as nodes come and go.
    pub targets: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `workers` workers, as admin `admin_token`, on `targets`. Worker `w` registers
    /// accounts `{prefix}w{w}u{i}` and changes their plans and logs them in, one request at
    /// a time.
    pub fn start(prefix: &str, workers: usize, admin_token: &str, targets: Vec<String>) -> Load {
        let ledger: Arc<Mutex<HashMap<String, Account>>> = Default::default();
        let tally: Arc<Tally> = Default::default();
        let targets = Arc::new(Mutex::new(targets));
        let stop = Arc::new(AtomicBool::new(false));
        let client = Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let handles = (0..workers)
            .map(|w| {
                let worker = Worker {
                    id: w,
                    prefix: prefix.to_owned(),
                    client: client.clone(),
                    admin: admin_token.to_owned(),
                    ledger: ledger.clone(),
                    tally: tally.clone(),
                    targets: targets.clone(),
                    stop: stop.clone(),
                };
                tokio::spawn(worker.run())
            })
            .collect();
        Load {
            ledger,
            tally,
            targets,
            stop,
            workers: handles,
        }
    }

    /// Stops the workers and waits for their last requests.
    pub async fn stop(self) -> (HashMap<String, Account>, Arc<Tally>) {
        self.stop.store(true, Ordering::SeqCst);
        for w in self.workers {
            w.await.unwrap();
        }
        let ledger = self.ledger.lock().unwrap().clone();
        (ledger, self.tally)
    }

    /// Acknowledged operations so far.
    pub fn acked(&self) -> u64 {
        self.tally.ok.load(Ordering::Relaxed)
    }
}

struct Worker {
    id: usize,
    prefix: String,
    client: Client,
    admin: String,
    ledger: Arc<Mutex<HashMap<String, Account>>>,
    tally: Arc<Tally>,
    targets: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

enum Outcome {
    Acked(Value),
    Unknown,
    Refused,
}

impl Worker {
    async fn run(self) {
        let mut mine: Vec<String> = Vec::new();
        let mut n = 0usize;
        while !self.stop.load(Ordering::Relaxed) {
            n += 1;
            // Every third step registers; the others change a plan or log in.
            if mine.is_empty() || n.is_multiple_of(3) {
                let name = format!("{}w{}u{}", self.prefix, self.id, mine.len());
                let body = json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD});
                // Retried until the answer is known, so every name is an account or not.
                loop {
                    match self
                        .send(
                            reqwest::Method::POST,
                            "/api/v1/auth/register",
                            None,
                            body.clone(),
                            n,
                        )
                        .await
                    {
                        // A 409 (refused) after an unknown outcome: the first try made it.
                        Outcome::Acked(_) | Outcome::Refused => {
                            self.ledger
                                .lock()
                                .unwrap()
                                .entry(name.clone())
                                .or_default()
                                .registered = true;
                            mine.push(name.clone());
                            break;
                        }
                        Outcome::Unknown => {
                            if self.stop.load(Ordering::Relaxed) {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            } else if n % 3 == 1 {
                let name = mine[n % mine.len()].clone();
                let plan = PLANS[(n / 3) % PLANS.len()];
                let path = format!("/api/v1/admin/users/{name}/plan");
                let outcome = self
                    .send(
                        reqwest::Method::PUT,
                        &path,
                        Some(&self.admin),
                        json!({"plan": plan}),
                        n,
                    )
                    .await;
                let mut ledger = self.ledger.lock().unwrap();
                let acc = ledger.entry(name).or_default();
                match outcome {
                    Outcome::Acked(v) => {
                        assert_eq!(v["plan"], plan, "{v}");
                        acc.acked_plan = Some(plan.to_owned());
                        acc.unknown_plans.clear();
                    }
                    Outcome::Unknown => acc.unknown_plans.push(plan.to_owned()),
                    Outcome::Refused => {}
                }
            } else {
                let name = mine[n % mine.len()].clone();
                let outcome = self
                    .send(
                        reqwest::Method::POST,
                        "/api/v1/auth/login",
                        None,
                        json!({"username": name, "password": PASSWORD}),
                        n,
                    )
                    .await;
                if let Outcome::Acked(v) = outcome {
                    let token = v["refresh_token"].as_str().unwrap().to_owned();
                    let mut ledger = self.ledger.lock().unwrap();
                    let acc = ledger.entry(name).or_default();
                    // The account keeps its 20 newest logins; check only those.
                    acc.refresh_tokens.push(token);
                    if acc.refresh_tokens.len() > 10 {
                        acc.refresh_tokens.remove(0);
                    }
                }
            }
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
        n: usize,
    ) -> Outcome {
        let target = {
            let t = self.targets.lock().unwrap();
            (!t.is_empty()).then(|| t[(n + self.id) % t.len()].clone())
        };
        let Some(target) = target else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Outcome::Unknown;
        };
        let mut r = self
            .client
            .request(method, format!("http://{target}{path}"))
            .json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let res = match r.send().await {
            Ok(res) => res,
            Err(_) => {
                self.tally.transport_errors.fetch_add(1, Ordering::Relaxed);
                return Outcome::Unknown;
            }
        };
        let status = res.status();
        if status.is_success() {
            self.tally.ok.fetch_add(1, Ordering::Relaxed);
            return match res.json().await {
                Ok(v) => Outcome::Acked(v),
                Err(_) => Outcome::Unknown,
            };
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            self.tally.unavailable.fetch_add(1, Ordering::Relaxed);
            if res.headers().get("retry-after").is_none() {
                self.tally
                    .unavailable_without_retry_after
                    .fetch_add(1, Ordering::Relaxed);
            }
            return Outcome::Unknown;
        }
        if status.is_server_error() {
            self.tally.other_5xx.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "{status} from {target}{path}: {}",
                res.text().await.unwrap_or_default()
            );
            return Outcome::Unknown;
        }
        self.tally.other_4xx.fetch_add(1, Ordering::Relaxed);
        Outcome::Refused
    }
}

/// Reads every acknowledged write back through `addr`: every registered account exists with
/// a plan it may have, and every acknowledged login's refresh token still works. Returns how
/// many checks passed; panics on the first loss.
pub async fn verify(addr: &str, admin: &str, ledger: &HashMap<String, Account>) -> usize {
    let client = Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut checked = 0;
    for (name, acc) in ledger {
        if !acc.registered {
            continue;
        }
        let r = retry_503(|| {
            client
                .get(format!("http://{addr}/api/v1/admin/users/{name}"))
                .bearer_auth(admin)
        })
        .await;
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(
            status,
            StatusCode::OK,
            "acknowledged account {name} is missing: {text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        let plan = v["plan"].as_str().unwrap().to_owned();
        let mut allowed: Vec<String> = acc.unknown_plans.clone();
        allowed.push(acc.acked_plan.clone().unwrap_or_else(|| "free".into()));
        assert!(
            allowed.contains(&plan),
            "{name} has plan {plan}; acknowledged {:?}, unknown {:?}",
            acc.acked_plan,
            acc.unknown_plans
        );
        checked += 1;
        for t in &acc.refresh_tokens {
            let r = retry_503(|| {
                client
                    .post(format!("http://{addr}/api/v1/auth/refresh"))
                    .json(&json!({"refresh_token": t}))
            })
            .await;
            assert_eq!(
                r.status(),
                StatusCode::OK,
                "an acknowledged login of {name} was lost: {}",
                r.text().await.unwrap()
            );
            checked += 1;
        }
    }
    checked
}

async fn retry_503(make: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    for _ in 0..20 {
        let r = make().send().await.unwrap();
        if r.status() != StatusCode::SERVICE_UNAVAILABLE {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    make().send().await.unwrap()
}
