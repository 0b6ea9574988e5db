//! The catalogue index at a million videos: build time, disk, memory, query latency against
//! PostgreSQL full-text search, and how soon a change is searchable under write load.
//!
//! 1. **Data.** [`corpus`] generates `CATALOGUE_VIDEOS` (1,000,000) videos on one node: titles
//!    of 4–8 and descriptions of 20–60 words from a 30k-word vocabulary (pseudo-words plus
//!    some real English words) with a Zipf spread (s = 1), 1–5 tags of a 2k-tag Zipf
//!    vocabulary, 20k owners (Zipf), creation times over 3 years (UUIDv7 ids of that time),
//!    3 % private, all ready, 10 s to 2 h long; and view counters (hourly buckets over 8
//!    days, 5-minute ones over 2 hours) for `CATALOGUE_COUNTERS` (100k) of them. They are
//!    written straight into the server's sled state store (`<data>/state`, tree `state`,
//!    values framed `[etag u64 BE][codec::encode(..)]` as `SledStore` frames them) in
//!    batches, before the server starts. A 1,000-video data set is seeded the same way.
//! 2. **Build.** The release `troupe serve` starts on each data set (rate limits off, the
//!    trending cache off so that every trending request ranks); the build time is from spawn
//!    until `GET /api/v1/videos` stops answering 503 `catalogue_rebuilding`, and the log's
//!    `catalogue: rebuild done` `secs`. Then the size of `<data>/catalogue` and the server's
//!    RSS, idle and under query load.
//! 3. **Queries.** One client, one keep-alive connection, one request at a time, anonymous:
//!    latest, by owner, by tag, search (a mid-frequency word; a top-frequency word), two
//!    words, a typo, a prefix, suggestions and trending 24h, each kind cycling through up to
//!    200 different query texts; `CATALOGUE_QUERIES` (2,000) each after a warm-up, or as
//!    many as fit in `CATALOGUE_KIND_SECS` (30 s). Goals: p99 ≤ 20 ms each, and latest at
//!    1M within 1.5× of latest at 1k (p50).
//! 4. **PostgreSQL** (Debian's, `initdb`-ed in a temp dir and started by the bench as the
//!    `postgres` user, on loopback TCP): the same rows loaded with COPY, a GIN index on a
//!    `tsvector` (title A, tags B, description C, `simple` config), btrees on `created_at`,
//!    `(owner, created_at)` and `views_24h`, GIN on the tags; the equivalent queries from one
//!    client (the `postgres` crate, prepared statements). A typo is also asked the way a
//!    PostgreSQL user would ask for one: `pg_trgm`'s `<%` (word similarity ≥ 0.4) over
//!    title, tags and description with a GIN trigram index, best `word_similarity` first
//!    (printed as the row under troupe's typo). Goal: troupe ≥ 1.0× PostgreSQL's queries/s
//!    on every kind.
//! 5. **Freshness.** A user creates `CATALOGUE_FRESH_VIDEOS` (2,000) videos over HTTP, then
//!    16 connections PATCH their titles at `CATALOGUE_FRESH_RATE` (1,000/s) for
//!    `CATALOGUE_FRESH_SECS` (20 s), each title with a unique marker word; every 40th change
//!    is polled (`/api/v1/search?q=<marker> ` as that user, every 25 ms) until its video
//!    shows. Time from the PATCH's 200 to the answer that shows it. Goal: p99 ≤ 1 s.
//!
//! ```sh
//! cargo bench --bench catalogue                     # the real run: 1M videos
//! CATALOGUE_VIDEOS=100000 cargo bench --bench catalogue
//! ```
//!
//! Other knobs: `CATALOGUE_SKIP_PG=1`, `CATALOGUE_SKIP_FRESH=1`, `CATALOGUE_HOLD_SECS=<s>`
//! (after the query kinds, keep the big node up this long and print its address and pid, to
//! profile it by hand), `CATALOGUE_TMP=<dir>` (where
//! the data sets go; default the system temp dir), `CATALOGUE_PG_TMP=<dir>` (PostgreSQL's;
//! the big troupe data set is removed before PostgreSQL loads, so one disk suffices). Needs PostgreSQL's server binaries
//! (`apt-get install -y postgresql`) and `runuser` when run as root. A 1M run needs ~5 GB of
//! disk and takes about 15 minutes on 2 cores.

#[path = "common/mod.rs"]
mod common;
#[path = "common/corpus.rs"]
mod corpus;

use common::raw_http::{http_request, RawConn};
use common::{register, Percentiles, Proc, Rng};
use corpus::{Corpus, Gen};
use reqwest::Client;
use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0";
const PASSWORD: &str = "violet-harbor-cinnamon-42";
const SMALL: usize = 1_000;
const SAMPLES: usize = 200;
const GOAL_P99_MS: f64 = 20.0;
const GOAL_LATEST_RATIO: f64 = 1.5;
const GOAL_FRESH_P99_MS: f64 = 1000.0;
const FRESH_CONNS: usize = 16;
const FRESH_SAMPLE_EVERY: u64 = 40;
const FRESH_POLL: Duration = Duration::from_millis(25);
const FRESH_POLLERS: usize = 32;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn env_on(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

struct Opts {
    videos: usize,
    counters: usize,
    queries: usize,
    kind_secs: f64,
    skip_pg: bool,
    skip_fresh: bool,
    fresh_videos: usize,
    fresh_rate: f64,
    fresh_secs: f64,
}

fn main() {
    let o = Opts {
        videos: env_num("CATALOGUE_VIDEOS", 1_000_000) as usize,
        counters: env_num("CATALOGUE_COUNTERS", 100_000) as usize,
        queries: env_num("CATALOGUE_QUERIES", 2_000) as usize,
        kind_secs: env_num("CATALOGUE_KIND_SECS", 30) as f64,
        skip_pg: env_on("CATALOGUE_SKIP_PG"),
        skip_fresh: env_on("CATALOGUE_SKIP_FRESH"),
        fresh_videos: env_num("CATALOGUE_FRESH_VIDEOS", 2_000) as usize,
        fresh_rate: env_num("CATALOGUE_FRESH_RATE", 1_000) as f64,
        fresh_secs: env_num("CATALOGUE_FRESH_SECS", 20) as f64,
    };
    // CATALOGUE_TROUPE_BIN: another build of the server (e.g. a copy of a given commit's).
    let bin = std::env::var_os("CATALOGUE_TROUPE_BIN")
        .map_or_else(|| common::troupe_bin("catalogue"), PathBuf::from);
    let tmp = match std::env::var_os("CATALOGUE_TMP") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("tempdir");
    let now_ms = chrono::Utc::now().timestamp_millis();
    let corpus = Corpus::new(now_ms);
    let queries = Queries::new(&corpus);
    println!(
        "[catalogue bench] {} videos ({} with view counters), {} queries per kind (at most {} s), data in {}",
        o.videos,
        o.counters.min(o.videos),
        o.queries,
        o.kind_secs,
        tmp.path().display()
    );

    // 1. Data.
    let small_dir = tmp.path().join("small");
    let big_dir = tmp.path().join("big");
    let t = Instant::now();
    seed(&small_dir, &corpus, SMALL, SMALL / 10);
    let took_small = t.elapsed();
    let t = Instant::now();
    let seeded = seed(&big_dir, &corpus, o.videos, o.counters);
    let took_big = t.elapsed();
    println!(
        "[data] {SMALL} videos seeded in {:.1} s; {} videos and {} counters seeded in {:.1} s ({:.0}/s), state store {:.0} MB",
        took_small.as_secs_f64(),
        seeded.videos,
        seeded.counters,
        took_big.as_secs_f64(),
        seeded.videos as f64 / took_big.as_secs_f64(),
        dir_size(&big_dir.join("state")) as f64 / 1e6
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    // 2–3 at 1k: the latest listing only, for the ratio.
    let small = rt.block_on(async {
        let mut node = Node::spawn(&bin, &small_dir).await;
        let build = node.wait_built().await;
        let latest = run_kind(&node.addr, node.pid(), &queries.kinds[0], &o).await;
        println!(
            "[1k] built in {:.2} s; latest p50 {:.2} ms p99 {:.2} ms",
            build.wall, latest.lat.p50, latest.lat.p99
        );
        latest
    });

    // 2–3 and 5 at full size.
    let big = rt.block_on(async {
        let mut node = Node::spawn(&bin, &big_dir).await;
        let build = node.wait_built().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let idle_rss = node.rss_kb();
        let index_bytes = dir_size(&big_dir.join("catalogue"));
        println!(
            "[build] {} videos indexed: {:.1} s from spawn until /api/v1/videos answers (log: {} s for {} videos); index {:.0} MB; RSS idle {:.0} MB, peak so far {:.0} MB",
            o.videos,
            build.wall,
            build.log_secs.map_or("?".into(), |s| format!("{s:.1}")),
            build.log_videos.map_or("?".into(), |v| v.to_string()),
            index_bytes as f64 / 1e6,
            idle_rss as f64 / 1024.0,
            node.hwm_kb() as f64 / 1024.0
        );
        let mut results = Vec::new();
        let mut load_rss = 0;
        for k in &queries.kinds {
            let r = run_kind(&node.addr, node.pid(), k, &o).await;
            load_rss = load_rss.max(node.rss_kb());
            println!(
                "[troupe] {:<22} n {:>5}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  {:>7.0} q/s  hits/query {:>5.1}  errors {}  server CPU {:.2} ms/query  load {:.1}",
                k.name, r.n, r.lat.p50, r.lat.p99, r.lat.max, r.qps, r.hits, r.errors, r.cpu, r.load
            );
            results.push(r);
        }
        let hold = env_num("CATALOGUE_HOLD_SECS", 0);
        if hold > 0 {
            println!(
                "[hold] the {} node stays up {hold} s for profiling: {} (pid {})",
                o.videos,
                node.url,
                node.pid()
            );
            tokio::time::sleep(Duration::from_secs(hold)).await;
        }
        let fresh = if o.skip_fresh {
            None
        } else {
            Some(freshness(&node, &o).await)
        };
        let hwm = node.hwm_kb();
        Big {
            build,
            index_bytes,
            idle_rss,
            load_rss,
            hwm,
            results,
            fresh,
        }
    });
    drop(rt);
    // The big data set is done with: its disk goes to PostgreSQL's copy.
    let _ = std::fs::remove_dir_all(&big_dir);

    // 4. PostgreSQL, with troupe stopped.
    let pg = if o.skip_pg {
        None
    } else {
        Some(postgres_run(&corpus, &queries, &o))
    };

    report(&o, &small, &big, pg.as_ref(), &seeded);
}

// ---------------------------------------------------------------------------------------------
// 1. Seeding the state store.

struct Seeded {
    videos: usize,
    counters: usize,
}

/// Writes `n` videos (and counters for about `counters` of them) into a sled state store in
/// `data/state`, as `SledStore` frames them (see [`corpus::write_sled`]).
fn seed(data: &Path, corpus: &Corpus, n: usize, counters: usize) -> Seeded {
    std::fs::create_dir_all(data).expect("data dir");
    let mut out = Seeded {
        videos: 0,
        counters: 0,
    };
    let seed = if n == SMALL { 0x5EED_0001 } else { 0x5EED_1000 };
    let entries = corpus.videos(n, counters, seed).flat_map(|g| {
        out.videos += 1;
        out.counters += usize::from(g.counter.is_some());
        if out.videos.is_multiple_of(200_000) {
            eprintln!("[data] {} videos written", out.videos);
        }
        g.state_entries()
    });
    corpus::write_sled(data, entries);
    out
}

/// CPU time (user + system) a process has used so far, in ms.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 14th field, stime the 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // rest starts at field 3 (state): utime (14) is index 11, stime (15) index 12.
    (ticks(11) + ticks(12)) * 1000.0 / 100.0
}

/// The 1-minute load average.
fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return std::fs::metadata(p).map_or(0, |m| m.len());
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

// ---------------------------------------------------------------------------------------------
// 2. The node.

struct Node {
    addr: String,
    url: String,
    proc: Proc,
    spawned: Instant,
}

struct Build {
    wall: f64,
    log_secs: Option<f64>,
    log_videos: Option<u64>,
}

impl Node {
    async fn spawn(bin: &Path, data: &Path) -> Node {
        let log = data.with_extension("log");
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .current_dir(data)
            .env_remove("RUST_LOG")
            .env("TROUPE__LOG__LEVEL", "warn,troupe_catalogue=info")
            .env("TROUPE__LOG__FORMAT", "json")
            .env("TROUPE__RATE_LIMIT__ENABLED", "false")
            .env("TROUPE__AUTH__JWT_SECRET", SECRET)
            .env("TROUPE__AUTH__ACCESS_TTL_SECS", "86400")
            .env("TROUPE__PLAYBACK__TRENDING_CACHE_SECS", "0")
            .env("TROUPE__STATE__BACKEND", "sled")
            .env("TROUPE__BLOBS__BACKEND", "local");
        let spawned = Instant::now();
        let (proc, addr) = common::serve(cmd, log).await;
        Node {
            url: format!("http://{addr}"),
            addr,
            proc,
            spawned,
        }
    }

    fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    fn status_kb(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn rss_kb(&self) -> u64 {
        self.status_kb("VmRSS:")
    }

    fn hwm_kb(&self) -> u64 {
        self.status_kb("VmHWM:")
    }

    /// Waits until the listing stops answering 503 `catalogue_rebuilding`.
    async fn wait_built(&mut self) -> Build {
        let req = http_request("GET", "/api/v1/videos?limit=1", &self.addr, None, None);
        let mut conn = RawConn::new(&self.addr);
        let deadline = Instant::now() + Duration::from_secs(1800);
        let mut last_progress = Instant::now();
        loop {
            match conn.request(&req).await {
                Ok(200) => break,
                Ok(503) => {}
                Ok(s) => panic!(
                    "GET /api/v1/videos answered {s} while building: {}",
                    String::from_utf8_lossy(&conn.body)
                ),
                Err(e) => eprintln!("[build] {e}"),
            }
            if let Ok(Some(s)) = self.proc.child.try_wait() {
                panic!("troupe exited ({s}):\n{}", self.proc.log_tail());
            }
            assert!(Instant::now() < deadline, "no index after 30 min");
            if last_progress.elapsed() > Duration::from_secs(15) {
                eprintln!(
                    "[build] {:.0} s, RSS {:.0} MB",
                    self.spawned.elapsed().as_secs_f64(),
                    self.rss_kb() as f64 / 1024.0
                );
                last_progress = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let wall = self.spawned.elapsed().as_secs_f64();
        // The log line comes with the commit that made the index ready; give it a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let log = std::fs::read_to_string(&self.proc.log).unwrap_or_default();
        let mut log_secs = None;
        let mut log_videos = None;
        for line in log.lines().filter(|l| l.contains("rebuild done")) {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                let f = if v["fields"].is_object() {
                    &v["fields"]
                } else {
                    &v
                };
                log_secs = f["secs"].as_f64();
                log_videos = f["videos"].as_u64();
            }
        }
        Build {
            wall,
            log_secs,
            log_videos,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Queries.

/// A kind of query: the troupe paths and the PostgreSQL statement with its parameters.
struct Kind {
    name: &'static str,
    paths: Vec<String>,
    /// The SQL and one parameter per request (cycled); `None`: no PostgreSQL equivalent.
    pg: Option<(String, Vec<Option<String>>)>,
    /// A second PostgreSQL statement with the same parameters (its label and SQL): what else
    /// a PostgreSQL user would reach for.
    pg_alt: Option<(&'static str, String)>,
}

struct Queries {
    kinds: Vec<Kind>,
}

fn enc(s: &str) -> String {
    s.replace(' ', "%20")
}

const PG_COLS: &str =
    "id, owner, title, description, tags, created_at, duration_secs, views, views_24h";

impl Queries {
    fn new(c: &Corpus) -> Queries {
        let mut rng = Rng::new(0x9E27);
        let pick = |rng: &mut Rng, lo: usize, hi: usize| lo + rng.below((hi - lo) as u64) as usize;
        let mid: Vec<String> = (0..SAMPLES)
            .map(|_| c.vocab[pick(&mut rng, 300, 3000)].clone())
            .collect();
        let top: Vec<String> = (0..10).map(|r| c.vocab[r].clone()).collect();
        let two: Vec<String> = (0..SAMPLES)
            .map(|_| {
                let a = pick(&mut rng, 20, 400);
                let mut b = pick(&mut rng, 20, 400);
                if b == a {
                    b += 1;
                }
                format!("{} {}", c.vocab[a], c.vocab[b])
            })
            .collect();
        let mut typos = Vec::new();
        for &r in &c.real_ranks {
            let w = &c.vocab[r];
            if w.len() < 5 {
                continue;
            }
            for pos in [w.len() / 2, w.len() - 2] {
                let b = w.as_bytes();
                for k in 1..26u8 {
                    let ch = b'a' + (b[pos] - b'a' + k) % 26;
                    let mut t = b.to_vec();
                    t[pos] = ch;
                    let t = String::from_utf8(t).expect("ascii");
                    if !c.words.contains(&t) && !typos.contains(&t) {
                        typos.push(t);
                        break;
                    }
                }
            }
        }
        typos.truncate(SAMPLES);
        let mut prefixes = Vec::new();
        while prefixes.len() < SAMPLES {
            let w = &c.vocab[pick(&mut rng, 100, 3000)];
            if w.len() < 5 {
                continue;
            }
            let n = 3 + prefixes.len() % 2;
            let p = w[..n].to_owned();
            if !prefixes.contains(&p) {
                prefixes.push(p);
            }
        }
        let owners: Vec<String> = (0..SAMPLES)
            .map(|_| Corpus::owner_name(pick(&mut rng, 100, 5000)))
            .collect();
        let tags: Vec<String> = (10..10 + SAMPLES).map(|r| c.tags[r].clone()).collect();
        let search = |ws: &[String]| -> Vec<String> {
            ws.iter()
                .map(|w| format!("/api/v1/search?q={}", enc(w)))
                .collect()
        };
        let some = |ws: &[String]| ws.iter().cloned().map(Some).collect::<Vec<_>>();
        let fts = format!(
            "SELECT {PG_COLS} FROM videos, plainto_tsquery('simple', $1) q \
             WHERE listed AND tsv @@ q ORDER BY ts_rank(tsv, q) DESC LIMIT 20"
        );
        let kinds = vec![
            Kind {
                name: "latest",
                paths: vec!["/api/v1/videos?limit=20".into()],
                pg: Some((
                    format!(
                        "SELECT {PG_COLS} FROM videos WHERE listed ORDER BY created_at DESC LIMIT 20"
                    ),
                    vec![None],
                )),
                pg_alt: None,
            },
            Kind {
                name: "by owner",
                paths: owners
                    .iter()
                    .map(|o| format!("/api/v1/videos?owner={o}&limit=20"))
                    .collect(),
                pg: Some((
                    format!("SELECT {PG_COLS} FROM videos WHERE listed AND owner = $1 ORDER BY created_at DESC LIMIT 20"),
                    some(&owners),
                )),
                pg_alt: None,
            },
            Kind {
                name: "by tag",
                paths: tags
                    .iter()
                    .map(|t| format!("/api/v1/videos?tag={t}&limit=20"))
                    .collect(),
                pg: Some((
                    format!("SELECT {PG_COLS} FROM videos WHERE listed AND tags @> ARRAY[$1]::text[] ORDER BY created_at DESC LIMIT 20"),
                    some(&tags),
                )),
                pg_alt: None,
            },
            Kind {
                name: "search: mid word",
                paths: search(&mid),
                pg: Some((fts.clone(), some(&mid))),
                pg_alt: None,
            },
            Kind {
                name: "search: top word",
                paths: search(&top),
                pg: Some((fts.clone(), some(&top))),
                pg_alt: None,
            },
            Kind {
                name: "search: two words",
                paths: search(&two),
                pg: Some((fts.clone(), some(&two))),
                pg_alt: None,
            },
            Kind {
                name: "search: typo",
                paths: search(&typos),
                pg: Some((fts.clone(), some(&typos))),
                pg_alt: Some((
                    "typo (pg_trgm)",
                    format!(
                        "SELECT {PG_COLS} FROM videos WHERE listed AND $1 <% words \
                         ORDER BY word_similarity($1, words) DESC LIMIT 20"
                    ),
                )),
            },
            Kind {
                name: "search: prefix",
                paths: search(&prefixes),
                pg: Some((
                    format!(
                        "SELECT {PG_COLS} FROM videos, to_tsquery('simple', $1 || ':*') q \
                         WHERE listed AND tsv @@ q ORDER BY ts_rank(tsv, q) DESC LIMIT 20"
                    ),
                    some(&prefixes),
                )),
                pg_alt: None,
            },
            Kind {
                name: "suggest: prefix",
                paths: prefixes
                    .iter()
                    .map(|p| format!("/api/v1/search/suggest?q={p}"))
                    .collect(),
                pg: None,
                pg_alt: None,
            },
            Kind {
                name: "trending 24h",
                paths: vec!["/api/v1/videos/trending?window=24h".into()],
                pg: Some((
                    format!(
                        "SELECT {PG_COLS} FROM videos WHERE listed ORDER BY views_24h DESC LIMIT 20"
                    ),
                    vec![None],
                )),
                pg_alt: None,
            },
            Kind {
                name: "(HTTP floor: /healthz)",
                paths: vec!["/healthz".into()],
                pg: None,
                pg_alt: None,
            },
        ];
        Queries { kinds }
    }
}

struct KindResult {
    name: &'static str,
    n: usize,
    lat: Percentiles,
    qps: f64,
    hits: f64,
    errors: usize,
    /// Server CPU time per query (ms): the troupe process, or the PostgreSQL backend.
    cpu: f64,
    /// The 1-minute load average at the end.
    load: f64,
}

/// Items in a listing, search, suggestion or trending answer.
fn hits_of(body: &[u8]) -> usize {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    v["items"]
        .as_array()
        .or_else(|| v["suggestions"].as_array())
        .map_or(0, |a| a.len())
}

/// Runs `k` on one keep-alive connection, one request at a time: a warm-up (a tenth of the
/// queries, at most a third of the time), then the measured run.
async fn run_kind(addr: &str, pid: u32, k: &Kind, o: &Opts) -> KindResult {
    let reqs: Vec<Vec<u8>> = k
        .paths
        .iter()
        .map(|p| http_request("GET", p, addr, None, None))
        .collect();
    let mut conn = RawConn::new(addr);
    let _ = conn.connect().await;
    let warm = (o.queries / 10).max(1);
    let t = Instant::now();
    for i in 0..warm {
        let _ = conn.request(&reqs[i % reqs.len()]).await;
        if t.elapsed().as_secs_f64() > o.kind_secs / 3.0 {
            break;
        }
    }
    let mut lat = Vec::with_capacity(o.queries);
    let (mut hits, mut errors) = (0usize, 0usize);
    let cpu0 = cpu_ms(pid);
    let started = Instant::now();
    let mut busy = Duration::ZERO;
    for i in 0..o.queries {
        let t = Instant::now();
        let r = conn.request(&reqs[(i + warm) % reqs.len()]).await;
        let took = t.elapsed();
        busy += took;
        lat.push(took.as_secs_f64() * 1e3);
        match r {
            Ok(200) => hits += hits_of(&conn.body),
            _ => errors += 1,
        }
        if started.elapsed().as_secs_f64() > o.kind_secs {
            break;
        }
    }
    let n = lat.len();
    KindResult {
        name: k.name,
        n,
        lat: Percentiles::of(lat),
        qps: n as f64 / busy.as_secs_f64(),
        hits: hits as f64 / n as f64,
        errors,
        cpu: (cpu_ms(pid) - cpu0) / n as f64,
        load: loadavg(),
    }
}

struct Big {
    build: Build,
    index_bytes: u64,
    idle_rss: u64,
    load_rss: u64,
    hwm: u64,
    results: Vec<KindResult>,
    fresh: Option<Fresh>,
}

// ---------------------------------------------------------------------------------------------
// 5. Freshness under write load.

struct Fresh {
    changes: u64,
    failed: u64,
    secs: f64,
    lat: Percentiles,
    samples: usize,
    not_found: usize,
    overwritten: usize,
    rss_kb: u64,
    /// Index commits during the writes, and their mean time (ms).
    commits: f64,
    commit_ms: f64,
}

/// The catalogue's commits so far: their count and total seconds (from `/metrics`).
async fn commit_stats(addr: &str) -> (f64, f64) {
    let mut conn = RawConn::new(addr);
    let req = http_request("GET", "/metrics", addr, None, None);
    if conn.request(&req).await != Ok(200) {
        return (f64::NAN, f64::NAN);
    }
    let text = String::from_utf8_lossy(&conn.body).into_owned();
    let get = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (
        get("troupe_catalogue_commit_seconds_count"),
        get("troupe_catalogue_commit_seconds_sum"),
    )
}

/// A marker word for change `k`: a digit and three base-36 characters, unique per change and
/// unlike any vocabulary word (those are letters only). Four characters match exactly (no typo
/// tolerance below five), and the poll ends its query with a space (no prefix), so each poll
/// is a cheap term lookup rather than a fuzzy search that would load the server itself.
fn marker(k: u64) -> String {
    const B36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(4);
    out.push((b'0' + ((k / (36 * 36 * 36)) % 10) as u8) as char);
    for p in [36 * 36, 36, 1] {
        out.push(B36[((k / p) % 36) as usize] as char);
    }
    out
}

async fn freshness(node: &Node, o: &Opts) -> Fresh {
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let user = register(&client, &node.url, "freshuser", PASSWORD).await;
    let t = Instant::now();
    let ids: Vec<String> = {
        use futures::stream::{self, StreamExt};
        stream::iter(0..o.fresh_videos)
            .map(|i| {
                let (client, url, token) = (client.clone(), node.url.clone(), user.token.clone());
                async move {
                    let r = client
                        .post(format!("{url}/api/v1/videos"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({"title": format!("fresh clip {i}"), "description": "a clip whose title changes"}))
                        .send()
                        .await
                        .expect("create video");
                    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
                    let body: Value = r.json().await.expect("video body");
                    body["id"].as_str().expect("id").to_owned()
                }
            })
            .buffered(16)
            .collect()
            .await
    };
    println!(
        "[fresh] {} videos created over HTTP in {:.1} s",
        ids.len(),
        t.elapsed().as_secs_f64()
    );
    let ids = Arc::new(ids);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(String, String, Instant, u64)>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let found: Arc<Mutex<Vec<f64>>> = Arc::default();
    let not_found = Arc::new(AtomicU64::new(0));
    let overwritten = Arc::new(AtomicU64::new(0));
    // The newest change of each video: a sample whose video changed again before it showed
    // can no longer be found by its marker.
    let newest: Arc<Vec<AtomicU64>> =
        Arc::new((0..ids.len()).map(|_| AtomicU64::new(u64::MAX)).collect());
    let mut pollers = Vec::new();
    for _ in 0..FRESH_POLLERS {
        let (rx, found, not_found) = (rx.clone(), found.clone(), not_found.clone());
        let (overwritten, newest) = (overwritten.clone(), newest.clone());
        let (addr, token) = (node.addr.clone(), user.token.clone());
        pollers.push(tokio::spawn(async move {
            let mut conn = RawConn::new(&addr);
            loop {
                let Some((mark, id, acked, k)) = rx.lock().await.recv().await else {
                    break;
                };
                let req = http_request(
                    "GET",
                    &format!("/api/v1/search?q={mark}%20&limit=5"),
                    &addr,
                    Some(&token),
                    None,
                );
                loop {
                    let r = conn.request(&req).await;
                    if r == Ok(200) && String::from_utf8_lossy(&conn.body).contains(&id) {
                        found
                            .lock()
                            .unwrap()
                            .push(acked.elapsed().as_secs_f64() * 1e3);
                        break;
                    }
                    let slot = (k % newest.len() as u64) as usize;
                    if newest[slot].load(Ordering::Relaxed) != k {
                        overwritten.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    if acked.elapsed() > Duration::from_secs(10) {
                        not_found.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    tokio::time::sleep(FRESH_POLL).await;
                }
            }
        }));
    }
    let commits0 = commit_stats(&node.addr).await;
    let seq = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let run = Duration::from_secs_f64(o.fresh_secs);
    let mut writers = Vec::new();
    for _ in 0..FRESH_CONNS {
        let (seq, ok, failed, ids, tx, newest) = (
            seq.clone(),
            ok.clone(),
            failed.clone(),
            ids.clone(),
            tx.clone(),
            newest.clone(),
        );
        let (addr, token, rate) = (node.addr.clone(), user.token.clone(), o.fresh_rate);
        writers.push(tokio::spawn(async move {
            let mut conn = RawConn::new(&addr);
            loop {
                let k = seq.fetch_add(1, Ordering::Relaxed);
                let at = Duration::from_secs_f64(k as f64 / rate);
                if at >= run {
                    break;
                }
                tokio::time::sleep_until(start + at).await;
                let id = &ids[(k % ids.len() as u64) as usize];
                let mark = marker(k);
                let body = format!("{{\"title\":\"clip {mark} take\"}}");
                let req = http_request(
                    "PATCH",
                    &format!("/api/v1/videos/{id}"),
                    &addr,
                    Some(&token),
                    Some(&body),
                );
                match conn.request(&req).await {
                    Ok(200) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        newest[(k % ids.len() as u64) as usize].store(k, Ordering::Relaxed);
                        if k % FRESH_SAMPLE_EVERY == 0 {
                            let _ = tx.send((mark, id.clone(), Instant::now(), k));
                        }
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    drop(tx);
    let mut rss = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        rss = rss.max(node.rss_kb());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let commits1 = commit_stats(&node.addr).await;
    for p in pollers {
        let _ = p.await;
    }
    let commits = commits1.0 - commits0.0;
    let commit_ms = (commits1.1 - commits0.1) / commits * 1e3;
    let v = std::mem::take(&mut *found.lock().unwrap());
    let r = Fresh {
        changes: ok.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        secs,
        samples: v.len(),
        lat: Percentiles::of(v),
        not_found: not_found.load(Ordering::Relaxed) as usize,
        overwritten: overwritten.load(Ordering::Relaxed) as usize,
        rss_kb: rss,
        commits,
        commit_ms,
    };
    println!(
        "[fresh] {} changes in {:.1} s ({:.0}/s, {} failed); {} sampled: searchable after p50 {:.0} ms p99 {:.0} ms max {:.0} ms; {} not found within 10 s, {} changed again before they showed",
        r.changes,
        r.secs,
        r.changes as f64 / r.secs,
        r.failed,
        r.samples,
        r.lat.p50,
        r.lat.p99,
        r.lat.max,
        r.not_found,
        r.overwritten
    );
    println!(
        "[fresh] {:.0} index commits during the writes ({:.1}/s), {:.0} ms each on average",
        r.commits,
        r.commits / r.secs,
        r.commit_ms
    );
    r
}

// ---------------------------------------------------------------------------------------------
// 4. PostgreSQL.

struct Pg {
    load_secs: f64,
    index_secs: f64,
    table_bytes: u64,
    index_bytes: u64,
    results: Vec<Option<KindResult>>,
    /// Each kind's second statement, when it has one.
    alt: Vec<Option<KindResult>>,
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
        let base =
            std::env::var_os("CATALOGUE_PG_TMP").map_or_else(std::env::temp_dir, PathBuf::from);
        let dir = base.join(format!("catalogue-bench-pg-{}", std::process::id()));
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
                "--no-sync",
                "-D",
            ])
            .arg(pg.dir.join("data"))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("initdb");
        assert!(st.success(), "initdb failed");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c shared_buffers=2GB -c work_mem=64MB \
             -c maintenance_work_mem=1GB -c max_wal_size=1GB -c wal_level=minimal -c max_wal_senders=0 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c jit=off -c max_parallel_maintenance_workers=2",
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

fn postgres_run(corpus: &Corpus, queries: &Queries, o: &Opts) -> Pg {
    let server = PgServer::start();
    let mut db = postgres::Client::connect(
        &format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            server.port
        ),
        postgres::NoTls,
    )
    .expect("connect to postgres");
    // Table and COPY in one transaction: with wal_level=minimal the rows skip the WAL.
    let mut tx = db.transaction().expect("begin");
    tx.batch_execute(
        "CREATE TABLE videos (
            id uuid NOT NULL,
            owner text NOT NULL,
            title text NOT NULL,
            description text NOT NULL,
            tags text[] NOT NULL,
            tags_text text NOT NULL,
            listed boolean NOT NULL,
            created_at timestamptz NOT NULL,
            duration_secs double precision,
            views bigint NOT NULL,
            views_24h bigint NOT NULL,
            tsv tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('simple', title), 'A') ||
                setweight(to_tsvector('simple', tags_text), 'B') ||
                setweight(to_tsvector('simple', description), 'C')) STORED,
            words text GENERATED ALWAYS AS (title || ' ' || tags_text || ' ' || description) STORED
        )",
    )
    .expect("create table");
    let t = Instant::now();
    {
        let mut w = tx
            .copy_in(
                "COPY videos (id, owner, title, description, tags, tags_text, listed, created_at, \
                 duration_secs, views, views_24h) FROM STDIN",
            )
            .expect("copy in");
        let mut line = String::new();
        let mut buf = Vec::with_capacity(1 << 20);
        for Gen {
            video: v,
            counter,
            views_24h,
        } in corpus.videos(o.videos, o.counters, 0x5EED_1000)
        {
            use std::fmt::Write as _;
            line.clear();
            let views = counter.as_ref().map_or(0, |c| c.counts().views);
            let _ = writeln!(
                line,
                "{}\t{}\t{}\t{}\t{{{}}}\t{}\t{}\t{}\t{}\t{}\t{}",
                v.id,
                v.owner,
                v.title,
                v.description,
                v.tags.join(","),
                v.tags.join(" "),
                if v.visibility == troupe_actors::events::Visibility::Public {
                    "t"
                } else {
                    "f"
                },
                v.created_at.to_rfc3339(),
                v.duration_secs.unwrap_or(0.0),
                views,
                views_24h
            );
            buf.extend_from_slice(line.as_bytes());
            if buf.len() > (1 << 20) {
                w.write_all(&buf).expect("copy write");
                buf.clear();
            }
        }
        w.write_all(&buf).expect("copy write");
        w.finish().expect("copy finish");
    }
    tx.commit().expect("commit");
    let load_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "[postgres] {} rows loaded in {load_secs:.1} s; indexing",
        o.videos
    );
    let t = Instant::now();
    db.batch_execute(
        "CREATE INDEX videos_tsv ON videos USING gin (tsv);
         CREATE INDEX videos_created ON videos (created_at);
         CREATE INDEX videos_owner_created ON videos (owner, created_at);
         CREATE INDEX videos_tags ON videos USING gin (tags);
         CREATE INDEX videos_views_24h ON videos (views_24h);
         CREATE EXTENSION IF NOT EXISTS pg_trgm;
         CREATE INDEX videos_trgm ON videos USING gin (words gin_trgm_ops);",
    )
    .expect("indexes");
    db.batch_execute("VACUUM ANALYZE videos")
        .expect("vacuum analyze");
    let index_secs = t.elapsed().as_secs_f64();
    let row = db
        .query_one(
            "SELECT pg_table_size('videos')::bigint, pg_indexes_size('videos')::bigint",
            &[],
        )
        .expect("sizes");
    let (table_bytes, index_bytes): (i64, i64) = (row.get(0), row.get(1));
    println!(
        "[postgres] loaded in {load_secs:.1} s, indexed (+ VACUUM ANALYZE) in {index_secs:.1} s; table {:.0} MB, indexes {:.0} MB",
        table_bytes as f64 / 1e6,
        index_bytes as f64 / 1e6
    );
    // A typo matches within a word similarity of 0.4 (pg_trgm's default of 0.6 finds few
    // one-letter typos of words of 5 to 8 letters; troupe matches within one or two edits).
    db.batch_execute("SET pg_trgm.word_similarity_threshold = 0.4")
        .expect("set pg_trgm threshold");
    let mut results = Vec::new();
    let mut alt = Vec::new();
    for k in &queries.kinds {
        let Some((sql, params)) = &k.pg else {
            results.push(None);
            alt.push(None);
            continue;
        };
        results.push(Some(pg_kind(&mut db, k.name, sql, params, o)));
        alt.push(
            k.pg_alt
                .as_ref()
                .map(|(name, sql)| pg_kind(&mut db, name, sql, params, o)),
        );
    }
    drop(db);
    drop(server);
    Pg {
        load_secs,
        index_secs,
        table_bytes: table_bytes as u64,
        index_bytes: index_bytes as u64,
        results,
        alt,
    }
}

/// One kind of query on PostgreSQL, as troupe's: a warm-up, then one at a time.
fn pg_kind(
    db: &mut postgres::Client,
    name: &'static str,
    sql: &str,
    params: &[Option<String>],
    o: &Opts,
) -> KindResult {
    let stmt = db.prepare(sql).expect("prepare");
    let one = |db: &mut postgres::Client, i: usize| -> Result<usize, postgres::Error> {
        match &params[i % params.len()] {
            Some(p) => db.query(&stmt, &[p]).map(|r| r.len()),
            None => db.query(&stmt, &[]).map(|r| r.len()),
        }
    };
    let warm = (o.queries / 10).max(1);
    let backend: i32 = db
        .query_one("SELECT pg_backend_pid()", &[])
        .expect("backend pid")
        .get(0);
    let t = Instant::now();
    for i in 0..warm {
        let _ = one(db, i);
        if t.elapsed().as_secs_f64() > o.kind_secs / 3.0 {
            break;
        }
    }
    let mut lat = Vec::new();
    let (mut hits, mut errors) = (0, 0);
    let cpu0 = cpu_ms(backend as u32);
    let started = Instant::now();
    let mut busy = Duration::ZERO;
    for i in 0..o.queries {
        let t = Instant::now();
        let r = one(db, i + warm);
        let took = t.elapsed();
        busy += took;
        lat.push(took.as_secs_f64() * 1e3);
        match r {
            Ok(n) => hits += n,
            Err(e) => {
                if errors == 0 {
                    eprintln!("[postgres] {name}: {e}");
                }
                errors += 1
            }
        }
        if started.elapsed().as_secs_f64() > o.kind_secs {
            break;
        }
    }
    let n = lat.len();
    let r = KindResult {
        name,
        n,
        lat: Percentiles::of(lat),
        qps: n as f64 / busy.as_secs_f64(),
        hits: hits as f64 / n as f64,
        errors,
        cpu: (cpu_ms(backend as u32) - cpu0) / n as f64,
        load: loadavg(),
    };
    println!(
        "[postgres] {:<22} n {:>5}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  {:>7.0} q/s  rows/query {:>5.1}  errors {}  backend CPU {:.2} ms/query  load {:.1}",
        r.name, r.n, r.lat.p50, r.lat.p99, r.lat.max, r.qps, r.hits, r.errors, r.cpu, r.load
    );
    r
}

// ---------------------------------------------------------------------------------------------
// The report.

fn report(o: &Opts, small: &KindResult, big: &Big, pg: Option<&Pg>, seeded: &Seeded) {
    let pass = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!();
    println!(
        "== Catalogue at {} videos ({} with view counters): troupe vs PostgreSQL {} ==",
        seeded.videos,
        seeded.counters,
        if pg.is_some() { "" } else { "(skipped)" }
    );
    println!(
        "{:<20} | {:>8} {:>8} {:>7} {:>5} {:>6} | {:>8} {:>8} {:>7} {:>5} {:>6} | {:>7} {:>7} | p99≤{GOAL_P99_MS:.0}ms",
        "kind", "p50 ms", "p99 ms", "q/s", "hits", "cpu ms", "p50 ms", "p99 ms", "q/s", "rows", "cpu ms", "q/s ×", "cpu ×"
    );
    println!("{:<20} | {:^38} | {:^38} |", "", "troupe", "postgres");
    let mut all_p99 = true;
    let mut all_ratio = true;
    for (i, r) in big.results.iter().enumerate() {
        let p = pg.and_then(|p| p.results.get(i)).and_then(|r| r.as_ref());
        let (pcols, ratio) = match p {
            Some(p) => (
                format!(
                    "{:>8.2} {:>8.2} {:>7.0} {:>5.1} {:>6.2}",
                    p.lat.p50, p.lat.p99, p.qps, p.hits, p.cpu
                ),
                {
                    let x = r.qps / p.qps;
                    all_ratio &= x >= 1.0;
                    format!("{x:>6.2}× {:>6.2}×", p.cpu / r.cpu)
                },
            ),
            None => (format!("{:^38}", "n/a"), format!("{:>15}", "")),
        };
        let ok = r.lat.p99 <= GOAL_P99_MS && r.errors == 0;
        // The floor is a reference, not a catalogue query.
        let floor = r.name.starts_with('(');
        all_p99 &= ok || floor;
        println!(
            "{:<20} | {:>8.2} {:>8.2} {:>7.0} {:>5.1} {:>6.2} | {} | {} | {}",
            r.name,
            r.lat.p50,
            r.lat.p99,
            r.qps,
            r.hits,
            r.cpu,
            pcols,
            ratio,
            if floor { "" } else { pass(ok) }
        );
        if let Some(a) = pg.and_then(|p| p.alt.get(i)).and_then(|r| r.as_ref()) {
            let x = r.qps / a.qps;
            println!(
                "{:<20} | {:^38} | {:>8.2} {:>8.2} {:>7.0} {:>5.1} {:>6.2} | {x:>6.2}× {:>6.2}× |",
                format!(" vs {}", a.name),
                "(the row above)",
                a.lat.p50,
                a.lat.p99,
                a.qps,
                a.hits,
                a.cpu,
                a.cpu / r.cpu
            );
        }
    }
    println!("(q/s ×: troupe q/s over postgres q/s, the goal's ratio; cpu ×: postgres backend CPU per query over troupe's server CPU per query, which a busy machine distorts less)");
    let latest_big = &big.results[0];
    let ratio = latest_big.lat.p50 / small.lat.p50;
    println!();
    println!(
        "build: {:.1} s from spawn to the first listing (log: rebuild done in {} s, {} videos); index on disk {:.0} MB",
        big.build.wall,
        big.build.log_secs.map_or("?".into(), |s| format!("{s:.1}")),
        big.build.log_videos.map_or("?".into(), |v| v.to_string()),
        big.index_bytes as f64 / 1e6
    );
    println!(
        "RSS: idle after the build {:.0} MB, under query load {:.0} MB, peak (VmHWM, build included) {:.0} MB",
        big.idle_rss as f64 / 1024.0,
        big.load_rss as f64 / 1024.0,
        big.hwm as f64 / 1024.0
    );
    if let Some(p) = pg {
        println!(
            "postgres: COPY {:.1} s, indexes + VACUUM ANALYZE {:.1} s; table {:.0} MB + indexes {:.0} MB",
            p.load_secs,
            p.index_secs,
            p.table_bytes as f64 / 1e6,
            p.index_bytes as f64 / 1e6
        );
    }
    println!(
        "latest: p50 {:.2} ms at {} vs {:.2} ms at {SMALL}: {:.2}× (goal ≤ {GOAL_LATEST_RATIO}×) {}",
        latest_big.lat.p50,
        o.videos,
        small.lat.p50,
        ratio,
        pass(ratio <= GOAL_LATEST_RATIO)
    );
    if let Some(f) = &big.fresh {
        println!(
            "freshness: {} title changes in {:.1} s = {:.0}/s ({} failed) over {FRESH_CONNS} connections; {} sampled (every {FRESH_SAMPLE_EVERY}th, polled every {} ms): PATCH 200 → searchable p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms, {} not found in 10 s, {} changed again before they showed (goal p99 ≤ {GOAL_FRESH_P99_MS:.0} ms) {}; RSS under writes {:.0} MB",
            f.changes,
            f.secs,
            f.changes as f64 / f.secs,
            f.failed,
            f.samples,
            FRESH_POLL.as_millis(),
            f.lat.p50,
            f.lat.p99,
            f.lat.max,
            f.not_found,
            f.overwritten,
            pass(f.lat.p99 <= GOAL_FRESH_P99_MS && f.not_found == 0),
            f.rss_kb as f64 / 1024.0
        );
        println!(
            "index commits during the writes: {:.0} ({:.1}/s), mean {:.0} ms",
            f.commits,
            f.commits / f.secs,
            f.commit_ms
        );
    }
    println!(
        "goals: p99 ≤ {GOAL_P99_MS} ms on every kind {}; troupe ≥ 1.0× postgres q/s on every kind {}",
        pass(all_p99),
        if pg.is_some() { pass(all_ratio) } else { "n/a" }
    );
}
