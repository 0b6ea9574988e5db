//! Subscriptions: subscribe/unsubscribe throughput, and the subscription feed's latency with
//! 500 subscriptions, against PostgreSQL doing the same in one run.
//!
//! 1. **Data.** The release `troupe serve` starts on a fresh data dir (rate limits off, the
//!    catalogue journal off so that a restart indexes every video). 50 owners register and
//!    each makes 9 more channels: 500 channels. The server stops; `CHANNEL_VIDEOS` (20) ready,
//!    public videos per channel, and `OTHER_VIDEOS` (40,000) of 2,000 channels nobody
//!    follows, are written into its sled state store (as `SledStore` frames them); it starts
//!    again and indexes them (and the start-up migration counts each channel's videos).
//! 2. **Rounds** (`ROUNDS`, 5), troupe and PostgreSQL alternating:
//!    - one viewer subscribes to the 500 channels over HTTP, `CONNS` (8) requests at a time
//!      (`PUT /api/v1/users/me/subscriptions/{handle}`, each durable before its 200):
//!      subscribes/s;
//!    - `FEED_SAMPLES` (300) feed pages, one at a time on one connection
//!      (`GET /api/v1/users/me/subscriptions/videos?limit=20`): p50, p99. Goal: p99 ≤ 20 ms;
//!    - the viewer unsubscribes from all 500 the same way: unsubscribes/s.
//!
//!    PostgreSQL (Debian's, `initdb`-ed in a temp dir, started as the `postgres` user,
//!    `fsync=on`, `synchronous_commit=on` as troupe's OK is durable): `videos(id, channel_id,
//!    created_at, listed)` with a btree on `(channel_id, created_at DESC)`, and
//!    `subscriptions(user_id, channel_id, since)` with its primary key; the same rows; an
//!    `INSERT … ON CONFLICT DO NOTHING` / `DELETE` per subscribe from `CONNS` clients, and the
//!    feed as one join ordered by `created_at DESC LIMIT 20` from one client (the `postgres`
//!    crate, prepared statements).
//!
//! ```sh
//! cargo bench --bench channels
//! ```
//!
//! Needs PostgreSQL's server binaries (`apt-get install -y postgresql`) and `runuser` when run
//! as root; `CHANNELS_SKIP_PG=1` skips it.

#[path = "common/mod.rs"]
mod common;
#[path = "common/corpus.rs"]
#[allow(dead_code)]
mod corpus;

use common::{register, Percentiles, Proc, Rng};
use reqwest::Client;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use troupe_actors::media::video::{VideoActor, VideoState, VideoStatus, Visibility};
use troupe_runtime::{codec, Entity};
use uuid::Uuid;

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0";
const PASSWORD: &str = "violet-harbor-cinnamon-42";
const OWNERS: usize = 50;
const PER_OWNER: usize = 10;
const GOAL_P99_MS: f64 = 20.0;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// One seeded video.
struct Row {
    id: Uuid,
    channel: Uuid,
    created_ms: i64,
}

async fn start(dir: &Path, n: usize) -> (Proc, String) {
    let mut cmd = Command::new(common::troupe_bin("channels"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("TROUPE__AUTH__JWT_SECRET", SECRET)
        .env("TROUPE__RATE_LIMIT__ENABLED", "false")
        .env("TROUPE__CATALOGUE__JOURNAL_RETENTION_SECS", "0")
        .env("TROUPE__LOG__LEVEL", "warn,troupe=info");
    common::serve(cmd, dir.with_extension(format!("{n}.log"))).await
}

async fn stop(mut p: Proc) {
    let pid = p.child.id();
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(60);
    while p.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes the videos into the stopped server's state store (as `SledStore` frames them).
fn seed(dir: &Path, rows: &[Row], owners: &[(Uuid, String)]) {
    let entries = rows.iter().enumerate().map(|(i, r)| {
        let (owner_id, owner) = &owners[i % owners.len()];
        let at = chrono::DateTime::from_timestamp_millis(r.created_ms).unwrap();
        let v = VideoState {
            id: r.id,
            owner: owner.clone(),
            owner_id: *owner_id,
            channel_id: r.channel,
            channel: String::new(),
            title: format!("Seeded video {}", r.id.simple()),
            description: "A seeded video for the channels bench.".into(),
            tags: vec!["bench".into()],
            visibility: Visibility::Public,
            status: VideoStatus::Ready,
            progress: 100.0,
            failure_reason: None,
            renditions: Vec::new(),
            duration_secs: Some(60.0),
            has_poster: false,
            upload: None,
            created_at: at,
            updated_at: at,
            version: 1,
            deleting: false,
            follow_up: Default::default(),
            hidden: None,
        };
        (
            format!("{}/{}", VideoActor::KIND, v.id),
            codec::encode(VideoActor::SCHEMA, &v).unwrap(),
        )
    });
    corpus::write_sled(dir, entries);
}

/// Runs `ops` requests `conns` at a time; requests per second.
async fn throughput(
    client: &Client,
    url: &str,
    token: &str,
    handles: &[String],
    put: bool,
    conns: usize,
) -> f64 {
    use futures::StreamExt;
    let started = Instant::now();
    let results: Vec<bool> = futures::stream::iter(handles.iter().map(|h| {
        let u = format!("{url}/api/v1/users/me/subscriptions/{h}");
        let r = if put { client.put(u) } else { client.delete(u) };
        async move {
            r.bearer_auth(token)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    }))
    .buffer_unordered(conns)
    .collect()
    .await;
    assert!(results.iter().all(|ok| *ok), "a (un)subscribe failed");
    handles.len() as f64 / started.elapsed().as_secs_f64()
}

/// `n` feed pages one at a time; latencies in ms.
async fn feed(client: &Client, url: &str, token: &str, n: usize) -> Vec<f64> {
    let u = format!("{url}/api/v1/users/me/subscriptions/videos?limit=20");
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = client.get(&u).bearer_auth(token).send().await.unwrap();
        assert!(r.status().is_success());
        let body: Value = r.json().await.unwrap();
        out.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(body["items"].as_array().map(Vec::len), Some(20));
    }
    out
}

struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl PgServer {
    fn as_postgres(&self, cmd: &str) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(self.bin.join(cmd));
        c
    }

    fn start() -> PgServer {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is not installed: apt-get install -y postgresql")
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("no initdb under /usr/lib/postgresql/*/bin");
        let dir = std::env::temp_dir().join(format!("channels-bench-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("pg dir");
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .expect("chown");
        assert!(ok.success(), "chown postgres {}", dir.display());
        let pg = PgServer {
            dir,
            bin,
            port: common::free_port(),
        };
        let st = pg
            .as_postgres("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "-D",
            ])
            .arg(pg.dir.join("data"))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("initdb");
        assert!(st.success(), "initdb failed");
        // Durable commits, as troupe's: fsync and synchronous_commit stay on (the defaults).
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c shared_buffers=256MB -c jit=off",
            pg.port,
            pg.dir.display()
        );
        let st = pg
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(pg.dir.join("data"))
            .arg("-l")
            .arg(pg.dir.join("log"))
            .args(["-w", "-o", &opts, "start"])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("pg_ctl start");
        assert!(
            st.success(),
            "pg_ctl start failed; see {}/log",
            pg.dir.display()
        );
        pg
    }

    fn connect(&self) -> postgres::Client {
        postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                self.port
            ),
            postgres::NoTls,
        )
        .expect("connect to postgres")
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pg_load(pg: &PgServer, rows: &[Row]) {
    let mut db = pg.connect();
    db.batch_execute(
        "CREATE TABLE videos (id text PRIMARY KEY, channel_id text NOT NULL, created_at timestamptz NOT NULL, listed boolean NOT NULL);
         CREATE TABLE subscriptions (user_id text NOT NULL, channel_id text NOT NULL, since timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (user_id, channel_id));",
    )
    .unwrap();
    let mut w = db
        .copy_in("COPY videos (id, channel_id, created_at, listed) FROM STDIN")
        .unwrap();
    use std::io::Write as _;
    for r in rows {
        let at = chrono::DateTime::from_timestamp_millis(r.created_ms).unwrap();
        writeln!(w, "{}\t{}\t{}\tt", r.id, r.channel, at.to_rfc3339()).unwrap();
    }
    w.finish().unwrap();
    db.batch_execute(
        "CREATE INDEX videos_channel_time ON videos (channel_id, created_at DESC) WHERE listed",
    )
    .unwrap();
    db.batch_execute("VACUUM ANALYZE videos").unwrap();
}

/// (Un)subscribes from `conns` clients at once; operations per second.
fn pg_throughput(pg: &PgServer, user: &str, channels: &[Uuid], put: bool, conns: usize) -> f64 {
    let started = Instant::now();
    std::thread::scope(|s| {
        for part in channels.chunks(channels.len().div_ceil(conns)) {
            s.spawn(move || {
                let mut db = pg.connect();
                let sql = if put {
                    "INSERT INTO subscriptions (user_id, channel_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
                } else {
                    "DELETE FROM subscriptions WHERE user_id = $1 AND channel_id = $2"
                };
                let st = db.prepare(sql).unwrap();
                for c in part {
                    db.execute(&st, &[&user, &c.to_string()]).unwrap();
                }
            });
        }
    });
    channels.len() as f64 / started.elapsed().as_secs_f64()
}

fn pg_feed(pg: &PgServer, user: &str, n: usize) -> Vec<f64> {
    let mut db = pg.connect();
    let st = db
        .prepare(
            "SELECT v.id FROM videos v JOIN subscriptions s ON s.channel_id = v.channel_id \
             WHERE s.user_id = $1 AND v.listed ORDER BY v.created_at DESC LIMIT 20",
        )
        .unwrap();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let rows = db.query(&st, &[&user]).unwrap();
        out.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(rows.len(), 20);
    }
    out
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = env_num("ROUNDS", 5) as usize;
    let per_channel = env_num("CHANNEL_VIDEOS", 20) as usize;
    let others = env_num("OTHER_VIDEOS", 40_000) as usize;
    let samples = env_num("FEED_SAMPLES", 300) as usize;
    let conns = env_num("CONNS", 8) as usize;
    let skip_pg = std::env::var_os("CHANNELS_SKIP_PG").is_some();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let client = Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();

    // 500 channels over HTTP.
    let (p, addr) = start(&dir, 0).await;
    let url = format!("http://{addr}");
    let mut owners: Vec<(Uuid, String)> = Vec::new();
    let mut channels: Vec<(Uuid, String)> = Vec::new();
    for o in 0..OWNERS {
        let name = format!("owner{o:03}");
        let u = register(&client, &url, &name, PASSWORD).await;
        for c in 1..PER_OWNER {
            let r = client
                .post(format!("{url}/api/v1/channels"))
                .bearer_auth(&u.token)
                .json(&serde_json::json!({"handle": format!("{name}.c{c}")}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        }
        let mine: Value = client
            .get(format!("{url}/api/v1/users/me/channels"))
            .bearer_auth(&u.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for c in mine.as_array().unwrap() {
            channels.push((
                c["id"].as_str().unwrap().parse().unwrap(),
                c["handle"].as_str().unwrap().to_owned(),
            ));
        }
        owners.push((mine[0]["owner_id"].as_str().unwrap().parse().unwrap(), name));
    }
    assert_eq!(channels.len(), OWNERS * PER_OWNER);
    let viewer = register(&client, &url, "viewer", PASSWORD).await;
    stop(p).await;

    // The videos, straight into the store.
    let mut rng = Rng::new(22);
    let now = chrono::Utc::now().timestamp_millis();
    let year = 365 * 24 * 3600 * 1000u64;
    let mut rows: Vec<Row> = Vec::new();
    for (c, _) in &channels {
        for _ in 0..per_channel {
            rows.push(Row {
                id: Uuid::new_v4(),
                channel: *c,
                created_ms: now - rng.below(year) as i64,
            });
        }
    }
    let strangers: Vec<Uuid> = (0..2_000).map(|_| Uuid::new_v4()).collect();
    for i in 0..others {
        rows.push(Row {
            id: Uuid::new_v4(),
            channel: strangers[i % strangers.len()],
            created_ms: now - rng.below(year) as i64,
        });
    }
    let t = Instant::now();
    seed(&dir, &rows, &owners);
    eprintln!(
        "[seed] {} videos in {:.1} s",
        rows.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let (p, addr) = start(&dir, 1).await;
    let url = format!("http://{addr}");
    // Indexed: the feed of one followed channel shows its videos.
    let viewer_token = viewer.token.clone();
    loop {
        let r = client
            .get(format!(
                "{url}/api/v1/channels/{}/videos?limit=20",
                channels[0].1
            ))
            .send()
            .await
            .unwrap();
        if r.status().is_success() {
            let b: Value = r.json().await.unwrap();
            if b["items"].as_array().map(Vec::len) == Some(per_channel.min(20)) {
                break;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(600), "not indexed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "[troupe] started and indexed in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let pg = (!skip_pg).then(|| {
        tokio::task::block_in_place(|| {
            let pg = PgServer::start();
            pg_load(&pg, &rows);
            pg
        })
    });
    let handles: Vec<String> = channels.iter().map(|(_, h)| h.clone()).collect();
    let ids: Vec<Uuid> = channels.iter().map(|(c, _)| *c).collect();
    let (mut t_sub, mut t_unsub, mut t_p50, mut t_p99) = (vec![], vec![], vec![], vec![]);
    let (mut p_sub, mut p_unsub, mut p_p50, mut p_p99) = (vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let sub = throughput(&client, &url, &viewer_token, &handles, true, conns).await;
        let lat = Percentiles::of(feed(&client, &url, &viewer_token, samples).await);
        let unsub = throughput(&client, &url, &viewer_token, &handles, false, conns).await;
        eprintln!(
            "[troupe] round {round}: subscribe {sub:.0}/s, feed p50 {:.2} ms p99 {:.2} ms, unsubscribe {unsub:.0}/s",
            lat.p50, lat.p99
        );
        t_sub.push(sub);
        t_unsub.push(unsub);
        t_p50.push(lat.p50);
        t_p99.push(lat.p99);
        if let Some(pg) = &pg {
            let (pg_ref, ids_ref) = (pg, &ids);
            let (sub, lat, unsub) = tokio::task::block_in_place(|| {
                let sub = pg_throughput(pg_ref, "viewer", ids_ref, true, conns);
                let lat = Percentiles::of(pg_feed(pg_ref, "viewer", samples));
                let unsub = pg_throughput(pg_ref, "viewer", ids_ref, false, conns);
                (sub, lat, unsub)
            });
            eprintln!(
                "[postgres] round {round}: subscribe {sub:.0}/s, feed p50 {:.2} ms p99 {:.2} ms, unsubscribe {unsub:.0}/s",
                lat.p50, lat.p99
            );
            p_sub.push(sub);
            p_unsub.push(unsub);
            p_p50.push(lat.p50);
            p_p99.push(lat.p99);
        }
    }
    drop(p);
    println!(
        "\nchannels bench: {} channels followed, {} videos in them, {} videos in all; {rounds} rounds, median (min–max)",
        handles.len(),
        per_channel * handles.len(),
        rows.len()
    );
    let show = |v: &[f64], unit: &str| {
        if v.is_empty() {
            return String::from("-");
        }
        let (m, lo, hi) = median(v.to_vec());
        format!("{m:.2} {unit} ({lo:.2}–{hi:.2})")
    };
    println!("{:<22} | {:<28} | {:<28}", "", "troupe", "postgres");
    for (name, t, p, unit) in [
        ("subscribes/s", &t_sub, &p_sub, "/s"),
        ("unsubscribes/s", &t_unsub, &p_unsub, "/s"),
        ("feed p50", &t_p50, &p_p50, "ms"),
        ("feed p99", &t_p99, &p_p99, "ms"),
    ] {
        println!("{name:<22} | {:<28} | {:<28}", show(t, unit), show(p, unit));
    }
    let (p99, _, _) = median(t_p99.clone());
    println!(
        "goal: feed p99 ≤ {GOAL_P99_MS} ms with 500 subscriptions: {}",
        if p99 <= GOAL_P99_MS { "met" } else { "NOT met" }
    );
}
