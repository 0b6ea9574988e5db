//! Digests: N users whose digest falls due in the same minute, all sent to a real SMTP server.
//!
//! ```text
//! cargo bench --bench digest                                  # 2,000 users (quick)
//! DIGEST_BENCH_USERS=100000 DIGEST_BENCH_ROUNDS=3 cargo bench --bench digest   # the goal's run
//! ```
//!
//! In one process, the server's own parts over a fresh sled store: the `digest` and
//! `delivery` actor kinds (`Digests`, `Outbox`), the real email transport (lettre's SMTP pool)
//! and the real `digest` template, sending to `aiosmtpd` with its Maildir handler (started by
//! the bench; `. scripts/lib.sh; ensure_aiosmtpd`). What it leaves out: the account lookup (the
//! sink addresses `<username>@example.org` instead of asking the user actor, since 100,000
//! accounts would be 100,000 argon2 hashes) and HTTP. Each user gets one notification, added
//! through `Digests::add` 256 at a time, with digests every `DIGEST_BENCH_PERIOD_SECS`
//! (default: long enough for every add to land first), so all of them fall due within the
//! add phase's length (under a minute at 100,000 on a 2-core machine).
//!
//! Measured from the first due time until the sink holds all N messages (its Maildir's
//! `new/` count, or smtp-sink's files, see `sink_kind`): the time, the throughput, and the process's RSS (sampled every 250 ms, and
//! its peak `VmHWM`). The reference in the same run: the same number of messages sent straight
//! through the same lettre pool (64 at a time, no outbox, no digest), its time, and the ratio.
//! Goal (issue 24): 100,000 within 5 minutes.

use futures::StreamExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use troupe::outbound::email::{EmailSettings, EmailTransport, Payload};
use troupe::outbound::{notify::digest_mail, Mailer};
use troupe_actors::inbox::digest::{DigestMail, DigestSettings, DigestSink, Digests};
use troupe_actors::inbox::{Notification, NotificationKind, NotifiedChannel, NotifiedUser};
use troupe_actors::outbox::{Outbox, OutboxSettings};
use troupe_runtime::store::SledStore;
use troupe_runtime::{RuntimeConfig, System};

// The allocator the server binary runs with (src/main.rs): measured as it runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Messages the sink holds: aiosmtpd's Maildir keeps them in `new/`, smtp-sink writes one file
/// per message straight into the directory.
fn count_new(dir: &Path) -> usize {
    let new = dir.join("new");
    let dir = if new.is_dir() { new } else { dir.to_path_buf() };
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

/// Which SMTP server receives: `smtp-sink` (Postfix's test server, an event loop in C that
/// writes each message to a file; `apt-get install postfix`) when it is there, else aiosmtpd's
/// Maildir handler, which tops out near 200 messages a second on this machine and then
/// measures itself rather than troupe. `DIGEST_BENCH_SINK=aiosmtpd|smtp-sink` picks one.
fn sink_kind() -> &'static str {
    match std::env::var("DIGEST_BENCH_SINK").as_deref() {
        Ok("aiosmtpd") => "aiosmtpd",
        Ok("smtp-sink") => "smtp-sink",
        _ if Path::new("/usr/sbin/smtp-sink").exists() => "smtp-sink",
        _ => "aiosmtpd",
    }
}

struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sink(port: u16, dir: &Path) -> Sink {
    let mut cmd = if sink_kind() == "smtp-sink" {
        std::fs::create_dir_all(dir).unwrap();
        let mut cmd = Command::new("/usr/sbin/smtp-sink");
        // As root it must drop to another user, who must be able to write the directory.
        if status_kb("Uid:") == 0 {
            use std::os::unix::fs::PermissionsExt;
            for d in [dir, dir.parent().unwrap()] {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
            }
            cmd.args(["-u", "nobody"]);
        }
        cmd.arg("-d")
            .arg(format!("{}/%H%M%S.", dir.display()))
            .arg(format!("127.0.0.1:{port}"))
            .arg("1024");
        cmd
    } else {
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir);
        cmd
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the SMTP sink (apt-get install postfix, or . scripts/lib.sh; ensure_aiosmtpd)");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the SMTP sink did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Sink(child)
}

/// The digest sink of the bench: the real template and outbox, addresses from the username.
struct BenchSink(Mailer);

impl DigestSink for BenchSink {
    fn send(&self, mail: DigestMail) -> futures::future::BoxFuture<'static, Result<(), String>> {
        let mailer = self.0.clone();
        Box::pin(async move {
            let to = format!("{}@example.org", mail.username);
            let m = digest_mail(&mailer, mail, to);
            mailer.send(m).await.map_err(|e| e.to_string())
        })
    }
}

struct Round {
    add_secs: f64,
    deliver_secs: f64,
    reference_secs: f64,
    peak_rss_mb: f64,
}

fn round(users: usize) -> Round {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tmp = tempfile::tempdir().unwrap();
        let maildir = tmp.path().join("maildir");
        let port = free_port();
        let _sink = start_sink(port, &maildir);
        let store = SledStore::open(&tmp.path().join("state")).unwrap();
        let system = System::new(Arc::new(store), RuntimeConfig::default());
        let outbox = Outbox::start(&system, OutboxSettings::default()).await.unwrap();
        let settings = EmailSettings {
            smtp_url: format!("smtp://127.0.0.1:{port}"),
            mail_dir: tmp.path().join("mail"),
            timeout: Duration::from_secs(30),
            dkim: None,
        };
        outbox.register(Arc::new(EmailTransport::new(&settings).unwrap()));
        let mailer = Mailer::new(outbox.clone(), "http://127.0.0.1:8080".into());
        // Long enough for every add to land before the first is due.
        let period = env_usize("DIGEST_BENCH_PERIOD_SECS", (users / 200).max(10));
        let digests = Digests::start(
            &system,
            DigestSettings {
                every: Some(Duration::from_secs(period as u64)),
                ..DigestSettings::default()
            },
        )
        .await
        .unwrap();
        digests.set_sink(Arc::new(BenchSink(mailer)));

        let started = Instant::now();
        futures::stream::iter(0..users)
            .map(|i| {
                let digests = digests.clone();
                async move {
                    let user = uuid::Uuid::from_u128(0x7000_0000_0000_0000_0000_0000_0000_0000 + i as u128);
                    // Calls are idempotent: a timeout on a loaded machine is retried.
                    let mut tries = 0;
                    while let Err(e) = digests.set_profile(user, &format!("user{i}")).await {
                        tries += 1;
                        assert!(tries < 10, "set_profile keeps failing: {e}");
                    }
                    let n = Notification {
                        id: format!("new_subscriber:bench:{i}"),
                        kind: NotificationKind::NewSubscriber,
                        created_at: chrono::Utc::now(),
                        read: false,
                        video: None,
                        channel: Some(NotifiedChannel {
                            handle: format!("user{i}"),
                            display_name: format!("User {i}"),
                        }),
                        actor: Some(NotifiedUser {
                            username: "fan".into(),
                        }),
                        reason: None,
                        report: None,
                        comment: None,
                    };
                    let mut tries = 0;
                    while let Err(e) = digests.add(user, n.clone()).await {
                        tries += 1;
                        assert!(tries < 10, "add keeps failing: {e}");
                    }
                }
            })
            .buffer_unordered(256)
            .collect::<Vec<_>>()
            .await;
        let add_secs = started.elapsed().as_secs_f64();
        assert!(
            add_secs < period as f64,
            "the adds took {add_secs:.0} s, longer than the period {period} s: set DIGEST_BENCH_PERIOD_SECS higher"
        );
        // The first digest is due `period` after the first add.
        let first_due = started + Duration::from_secs(period as u64);
        tokio::time::sleep_until(first_due.into()).await;
        let mut peak_rss = 0;
        let deadline = Instant::now() + Duration::from_secs(1_200);
        while count_new(&maildir) < users {
            peak_rss = peak_rss.max(status_kb("VmRSS:"));
            assert!(Instant::now() < deadline, "not all digests arrived within 20 min");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let deliver_secs = first_due.elapsed().as_secs_f64();
        peak_rss = peak_rss.max(status_kb("VmHWM:"));

        // The reference: the same number straight through a lettre pool, 64 at a time.
        let direct = EmailTransport::new(&settings).unwrap();
        let payload = Payload {
            from: "troupe <troupe@localhost>".into(),
            to: "someone@example.org".into(),
            subject: "Your daily summary from troupe: 1 new".into(),
            text: "fan subscribed to User 1".into(),
            html: "<html><body>fan subscribed to User 1</body></html>".into(),
            message_id: String::new(),
            list_unsubscribe: Some("http://127.0.0.1:8080/api/v1/unsubscribe/x".into()),
        };
        let direct = Arc::new(direct);
        let t = Instant::now();
        futures::stream::iter(0..users)
            .map(|i| {
                let (direct, mut p) = (direct.clone(), payload.clone());
                p.message_id = format!("<ref.{i}@127.0.0.1>");
                async move {
                    use troupe_actors::outbox::Transport;
                    let o = troupe_actors::outbox::Outgoing {
                        kind: "email".into(),
                        key: format!("ref.{i}"),
                        payload: serde_json::to_value(&p).unwrap(),
                        target: p.to.clone(),
                        schedule: vec![],
                        not_before: None,
                    };
                    direct.send(&o, 1).await
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await;
        while count_new(&maildir) < 2 * users {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let reference_secs = t.elapsed().as_secs_f64();
        system.shutdown(Duration::from_secs(10)).await;
        Round {
            add_secs,
            deliver_secs,
            reference_secs,
            peak_rss_mb: peak_rss as f64 / 1024.0,
        }
    })
}

fn main() {
    // `cargo bench --no-run` builds this; `cargo test --benches` would run it with --bench
    // absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let users = env_usize("DIGEST_BENCH_USERS", 2_000);
    let rounds = env_usize("DIGEST_BENCH_ROUNDS", 1).max(1);
    println!("digests: SMTP sink {}", sink_kind());
    let mut results = Vec::new();
    for r in 0..rounds {
        let x = round(users);
        println!(
            "[round {}] {users} users: adds {:.1} s; all digests at the SMTP sink {:.1} s after the first was due ({:.0} msg/s); reference (lettre pool, no outbox) {:.1} s ({:.0} msg/s), ratio {:.2}; peak RSS {:.0} MB",
            r + 1,
            x.add_secs,
            x.deliver_secs,
            users as f64 / x.deliver_secs,
            x.reference_secs,
            users as f64 / x.reference_secs,
            x.reference_secs / x.deliver_secs,
            x.peak_rss_mb
        );
        results.push(x);
    }
    let mut times: Vec<f64> = results.iter().map(|r| r.deliver_secs).collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = times[times.len() / 2];
    println!(
        "digests: {users} users due at once, all sent in median {median:.1} s (min {:.1}, max {:.1}, {rounds} rounds); goal 300 s",
        times[0],
        times[times.len() - 1]
    );
}
