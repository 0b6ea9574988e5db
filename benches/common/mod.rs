//! What the load benchmarks share: the troupe binary, child processes that die with the bench,
//! starting `troupe serve` until it listens, registered users, percentiles and a cheap random
//! number generator. Included with `#[path]` by each benchmark, which uses part of it.

#![allow(dead_code)]

pub mod raw_http;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server binary, which `cargo bench` builds first (with release settings) and names in
/// `CARGO_BIN_EXE_troupe`, as it does for integration tests. Exits with a hint when it is
/// missing; `bench` names the benchmark in that hint. `TROUPE_BIN` names another binary, for
/// example an older build to compare with.
pub fn troupe_bin(bench: &str) -> PathBuf {
    let bin = std::env::var_os("TROUPE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_troupe")));
    if !bin.is_file() {
        eprintln!(
            "error: {} does not exist. Run the bench through Cargo, which builds it first:\n\n    \
             cargo bench --bench {bench}\n\n\
             (or build it with `cargo build --release --bin troupe`).",
            bin.display()
        );
        std::process::exit(2);
    }
    bin
}

/// A child process, killed (SIGKILL) and reaped when dropped, also during a panic.
pub struct Proc {
    /// The process.
    pub child: Child,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl Proc {
    /// The last 40 lines of its log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Runs `cmd` (a `troupe serve` with its arguments and environment set) with stderr to `log`,
/// and waits up to 60 s for it to print where it listens. The process and that `ADDR`.
pub async fn serve(mut cmd: Command, log: PathBuf) -> (Proc, String) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("node log"));
    let mut child = cmd.spawn().expect("spawn troupe");
    let stdout = child.stdout.take().expect("stdout");
    let mut proc = Proc { child, log };
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads stdout to the end, so the pipe never fills.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("troupe listening on http://") {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        if let Ok(addr) = rx.try_recv() {
            break addr;
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!(
                "troupe exited before listening ({status}):\n{}",
                proc.log_tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "troupe did not listen within 60 s:\n{}",
            proc.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    (proc, addr)
}

/// A registered, logged-in user.
#[derive(Clone)]
pub struct User {
    /// The username.
    pub name: String,
    /// An access token.
    pub token: String,
}

/// Registers `name` (email `name@example.org`) with `password` and logs it in.
pub async fn register(client: &reqwest::Client, url: &str, name: &str, password: &str) -> User {
    use reqwest::StatusCode;
    use serde_json::{json, Value};
    let r = client
        .post(format!("{url}/api/v1/auth/register"))
        .json(&json!({"username": name, "email": format!("{name}@example.org"), "password": password}))
        .send()
        .await
        .expect("register");
    let status = r.status();
    assert_eq!(
        status,
        StatusCode::CREATED,
        "register {name}: {}",
        r.text().await.unwrap_or_default()
    );
    let r = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .expect("login");
    let status = r.status();
    let body: Value = r.json().await.expect("login body");
    assert_eq!(status, StatusCode::OK, "login {name}: {body}");
    User {
        name: name.to_owned(),
        token: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
    }
}

/// Nearest-rank percentiles (in the samples' unit); NaN without samples.
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// The largest sample.
    pub max: f64,
}

impl Percentiles {
    /// The percentiles of `v`.
    pub fn of(mut v: Vec<f64>) -> Percentiles {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if v.is_empty() {
                f64::NAN
            } else {
                v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
            }
        };
        Percentiles {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: at(1.0),
        }
    }

    /// p50, p90, p99 and max as a table row of whole numbers.
    pub fn row(&self) -> String {
        format!(
            "{:>8.0} {:>8.0} {:>8.0} {:>8.0}",
            self.p50, self.p90, self.p99, self.max
        )
    }
}

/// xorshift64*: cheap, deterministic per task.
pub struct Rng(pub u64);

impl Rng {
    /// A generator from any seed (never the all-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}
