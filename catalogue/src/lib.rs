//! The catalogue: an embedded [tantivy] index of every video, for listing, search, feeds and
//! trending in time that does not grow with the catalogue.
//!
//! The index is derived data. The video and counter actors are the truth; they tell the
//! catalogue of every change through the event hub ([`troupe_actors::events::CatalogueSink`]),
//! and one writer thread applies the changes in batches, committing every
//! [`Settings::commit_interval`] (250 ms by default), so an acknowledged change is searchable
//! within about that. A change carries the video's version; an older one never overwrites a
//! newer one, and a deletion leaves a marker that no late change undoes.
//!
//! What a query returns is re-checked against the video actors by the caller (the HTTP
//! layer), so a stale entry can never show a video to someone who may not see it.
//!
//! At start the index is opened and reconciled with the actors' stored state in the
//! background; a missing, unreadable or outdated index is rebuilt, and until that is done
//! queries answer [`CatalogueError::Rebuilding`]. In a cluster every node keeps a whole
//! replica, fed by the changes of its own actors and by the other nodes' change log in the
//! shared bucket (see [`feed`]).
//!
//! ```text
//!  video/counter actors ─► EventHub ─► Catalogue (sink) ─► writer thread ─► tantivy index
//!                                          │   ▲                                │
//!                         cluster: ship ───┘   └── poll other nodes' log        ▼
//!                                 (bucket: catalogue-log/<node>/…)         searchers
//! ```

use search::SegCols;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};
use troupe_actors::events::{CatalogueSink, Counts, VideoView, ViewBuckets};
use uuid::Uuid;

pub mod feed;
pub mod highlight;
pub mod journal;
pub mod rebuild;
pub mod schema;
pub mod search;
mod trend;

pub use highlight::{Highlighter, Segment};
pub use schema::Fields;
pub use search::{Cursor, Scope, Search, Sort};

/// How the catalogue behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the index lives (a directory of its own).
    pub dir: PathBuf,
    /// How often pending changes are committed (made searchable).
    pub commit_interval: Duration,
    /// The writer's memory budget in bytes.
    pub writer_memory: usize,
    /// How long a trending ranking is reused.
    pub trending_cache: Duration,
    /// How long a ranked cursor stays good after the page that gave it (its ranking is kept
    /// while pages of it are fetched).
    pub cursor_ttl: Duration,
    /// How many rankings ranked cursors point into are kept at most ([`RANKINGS`] by
    /// default); past that, the least recently paged one goes first.
    pub cursor_rankings: usize,
    /// Whether the actors' store notes every video and counter write in the change journal
    /// ([`journal::Journaled`]), so that a restart can catch up from it.
    pub journal: bool,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The index is being rebuilt; retry shortly.
    #[error("the catalogue is being rebuilt ({0} videos so far)")]
    Rebuilding(u64),
    /// The index failed.
    #[error("catalogue index error: {0}")]
    Index(String),
    /// The cursor points into a ranking this node no longer keeps (too old, evicted, made
    /// before a restart or on another node): start over without it.
    #[error("the cursor has expired")]
    CursorExpired,
    /// The cursor belongs to another query, or to another caller.
    #[error("the cursor belongs to another query")]
    CursorMismatch,
    /// Bringing the index in line with the store failed; it is retried with backoff, and
    /// until it succeeds queries are refused rather than answered from a partial index.
    #[error("the catalogue is not in line with the store: {0}")]
    NotReady(String),
}

impl From<tantivy::TantivyError> for CatalogueError {
    fn from(e: tantivy::TantivyError) -> Self {
        CatalogueError::Index(e.to_string())
    }
}

/// A change for the index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Change {
    /// The video is now this.
    Video(Box<VideoView>),
    /// The video is gone.
    Deleted(Uuid),
    /// The video's counts are now these.
    Counts(Uuid, Counts),
}

impl Change {
    fn id(&self) -> Uuid {
        match self {
            Change::Video(v) => v.id,
            Change::Deleted(id) | Change::Counts(id, _) => *id,
        }
    }
}

enum Msg {
    Change(Change),
    /// Changes from a rebuild, acknowledged once added (not yet committed).
    Batch(Vec<Change>, tokio::sync::oneshot::Sender<()>),
    /// Commit now, then answer.
    Commit(tokio::sync::oneshot::Sender<()>),
    /// The ids of every live document whose id is not in the set (candidates for deletion,
    /// which the caller re-checks against the store).
    Unseen(
        std::collections::HashSet<Uuid>,
        tokio::sync::oneshot::Sender<Vec<Uuid>>,
    ),
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page {
    /// The results, in order, as the index has them (re-check before showing).
    pub hits: Vec<Hit>,
    /// The cursor of the next page, when there is one.
    pub next_cursor: Option<String>,
}

/// A result: which video, and what the index knows of it without reading its stored copy
/// (the caller reads the video itself from its actor, to re-check it).
#[derive(Debug, Clone)]
pub struct Hit {
    /// The video's id.
    pub id: Uuid,
    /// Its counts as the index last heard of them (trailing the counter by up to a commit
    /// interval, or the change log's delay in a cluster).
    pub counts: Counts,
    /// Its creation time, Unix ms.
    pub created_ms: u64,
}

/// A trending video.
#[derive(Debug, Clone)]
pub struct Trend {
    /// The video's id.
    pub id: Uuid,
    /// Views within the window.
    pub window_views: u64,
}

/// The catalogue of this node. Cheap to clone.
#[derive(Clone)]
pub struct Catalogue {
    inner: Arc<Inner>,
}

struct Inner {
    fields: Fields,
    reader: IndexReader,
    tx: Mutex<mpsc::SyncSender<Msg>>,
    /// Messages sent to the writer and not yet received by it.
    queued: AtomicU64,
    /// False while a rebuild from empty runs, or after bringing the index in line failed.
    ready: AtomicBool,
    /// Why the last attempt to bring the index in line with the store failed (until one
    /// succeeds).
    failed: Mutex<Option<String>>,
    /// When the index's last commit before this start was made (Unix ms; from the commit's
    /// payload), if it recorded one with the journal on and the journal is on now.
    committed_ms: Option<i64>,
    /// Whether the journal is on.
    journal: bool,
    /// Whether the index has been brought in line with the store since this start: until
    /// then a commit records the start's `committed_ms`, not its own time.
    in_line: AtomicBool,
    /// Videos a running rebuild has read.
    rebuilt: AtomicU64,
    /// Views over time of every video viewed within the longest trending window (at most
    /// [`TREND_MAX`] videos), and when it was last aged.
    trend: Mutex<(trend::Trends, Instant)>,
    /// The searchers ranked cursors point into, so that they page through one ranking.
    rankings: Mutex<Rankings>,
    /// This opening of the catalogue, in ranked cursors: a generation means nothing to
    /// another process.
    instance: u32,
    /// Where local changes are also shipped, in a cluster.
    feed: Mutex<Option<feed::Outbox>>,
    /// Commits so far.
    commits: AtomicU64,
    /// Recent trending rankings, by (window, limit, scope).
    trending: Mutex<HashMap<TrendKey, (Instant, TrendList)>>,
    trending_ttl: Duration,
    cursor_ttl: Duration,
    /// Fast columns, opened once per segment.
    columns: Arc<search::Columns>,
}

type TrendList = Arc<Vec<(Trend, Hit)>>;
/// A trending ranking's window (ms), limit and scope.
type TrendKey = (i64, usize, Scope);

/// How many rankings (searchers that ranked cursors point into) a node keeps at most; past
/// that, the least recently paged one is dropped and its cursors answer
/// [`CatalogueError::CursorExpired`]. Each pins its segments (memory maps and files that a
/// merge would otherwise free), so the bound is in rankings, not in time.
pub const RANKINGS: usize = 256;
/// How many messages wait for the writer at most; a sender past that waits (backpressure).
pub const WRITER_QUEUE: usize = 16_384;
/// How many changes the writer folds in memory before it writes them (uncommitted).
const PENDING_MAX: usize = 10_000;
/// How many videos written since the last commit the writer remembers at most (to compare
/// versions with); past that it commits early.
const WRITTEN_MAX: usize = 50_000;
/// How many counts heard before their video are kept at most (each for a minute).
pub const EARLY_MAX: usize = 10_000;
/// How many videos' views over time trending keeps at most; past that, the least viewed
/// over the longest window are dropped (a video's next view brings it back whole).
pub const TREND_MAX: usize = 100_000;
/// The longest trending window: views older than this are aged out.
const TREND_KEEP: Duration = Duration::from_secs(7 * 86_400 + 3_600);

/// The searchers ranked cursors point into, by generation, with when they were last paged;
/// at most `max`.
struct Rankings {
    kept: HashMap<u64, (Searcher, Instant)>,
    max: usize,
}

impl Rankings {
    /// The ranking of `generation`, if kept and paged within `ttl`.
    fn get(&mut self, generation: u64, ttl: Duration) -> Option<Searcher> {
        let (s, at) = self.kept.get_mut(&generation)?;
        if at.elapsed() >= ttl {
            self.kept.remove(&generation);
            return None;
        }
        *at = Instant::now();
        Some(s.clone())
    }

    /// Keeps `s` for cursors, dropping what is older than `ttl` and, when full, the least
    /// recently paged.
    fn keep(&mut self, s: &Searcher, ttl: Duration) {
        let g = s.generation().generation_id();
        if let Some((_, at)) = self.kept.get_mut(&g) {
            *at = Instant::now();
            return;
        }
        self.kept.retain(|_, (_, at)| at.elapsed() < ttl);
        while self.kept.len() >= self.max.max(1) {
            let Some(oldest) = self
                .kept
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(g, _)| *g)
            else {
                break;
            };
            self.kept.remove(&oldest);
            metrics::counter!("troupe_catalogue_rankings_evicted_total").increment(1);
        }
        self.kept.insert(g, (s.clone(), Instant::now()));
        metrics::gauge!("troupe_catalogue_rankings").set(self.kept.len() as f64);
    }
}

impl Catalogue {
    /// Opens the index in `settings.dir`, or creates an empty one. The second value says
    /// whether it must be rebuilt from the actors (it was missing, unreadable or of another
    /// schema version); until [`Catalogue::set_ready`], queries answer `Rebuilding`.
    pub fn open(settings: &Settings) -> Result<(Self, bool), CatalogueError> {
        let fields = Fields::new();
        let (index, fresh) = match open_existing(&settings.dir, &fields) {
            Ok(Some(index)) => (index, false),
            Ok(None) => (create(&settings.dir, &fields)?, true),
            Err(reason) => {
                tracing::warn!(dir = %settings.dir.display(), %reason, "catalogue index unreadable: rebuilding it");
                let _ = std::fs::remove_dir_all(&settings.dir);
                (create(&settings.dir, &fields)?, true)
            }
        };
        schema::register(&index);
        let committed_ms = if fresh {
            None
        } else {
            index
                .load_metas()
                .ok()
                .and_then(|m| m.payload)
                .and_then(|p| serde_json::from_str::<CommitPayload>(&p).ok())
                .filter(|p| p.journaled && settings.journal)
                .map(|p| p.committed_ms)
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let writer: IndexWriter = index.writer_with_num_threads(1, settings.writer_memory)?;
        let (tx, rx) = mpsc::sync_channel(WRITER_QUEUE);
        let inner = Arc::new(Inner {
            fields,
            reader,
            tx: Mutex::new(tx),
            queued: AtomicU64::new(0),
            ready: AtomicBool::new(!fresh),
            failed: Mutex::new(None),
            committed_ms,
            journal: settings.journal,
            in_line: AtomicBool::new(false),
            rebuilt: AtomicU64::new(0),
            trend: Mutex::new((trend::Trends::default(), Instant::now())),
            rankings: Mutex::new(Rankings {
                kept: HashMap::new(),
                max: settings.cursor_rankings,
            }),
            instance: Uuid::new_v4().as_u128() as u32,
            feed: Mutex::new(None),
            commits: AtomicU64::new(0),
            trending: Mutex::new(HashMap::new()),
            trending_ttl: settings.trending_cache,
            cursor_ttl: settings.cursor_ttl,
            columns: Arc::default(),
        });
        let weak = Arc::downgrade(&inner);
        let interval = settings.commit_interval;
        std::thread::Builder::new()
            .name("catalogue-writer".into())
            .spawn(move || writer_loop(weak, writer, rx, interval))
            .map_err(|e| CatalogueError::Index(e.to_string()))?;
        Ok((Self { inner }, fresh))
    }

    /// The fields, for building queries.
    pub fn fields(&self) -> &Fields {
        &self.inner.fields
    }

    /// Whether queries are answered (false while rebuilding from empty).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// Marks a rebuild done: queries are answered from now on.
    pub fn set_ready(&self) {
        *self.inner.failed.lock().expect("failed lock") = None;
        self.inner.ready.store(true, Ordering::Release);
        metrics::gauge!("troupe_catalogue_ready").set(1.0);
    }

    /// Marks the index as being rebuilt: queries answer `Rebuilding` until [`Self::set_ready`].
    pub fn set_rebuilding(&self) {
        self.inner.ready.store(false, Ordering::Release);
        metrics::gauge!("troupe_catalogue_ready").set(0.0);
    }

    /// Records that every change the store held when bringing the index in line began has
    /// been applied: commits from now on record their own time as the point to catch up
    /// from.
    pub(crate) fn mark_in_line(&self) {
        self.inner.in_line.store(true, Ordering::Release);
    }

    /// Marks the index as not in line with the store, for `reason`: queries answer
    /// [`CatalogueError::NotReady`] until [`Self::set_ready`].
    pub fn set_failed(&self, reason: String) {
        *self.inner.failed.lock().expect("failed lock") = Some(reason);
        self.inner.ready.store(false, Ordering::Release);
        metrics::gauge!("troupe_catalogue_ready").set(0.0);
    }

    /// Why the last attempt to bring the index in line with the store failed, while it has
    /// not succeeded since.
    pub fn failure(&self) -> Option<String> {
        self.inner.failed.lock().expect("failed lock").clone()
    }

    /// When the index's last commit before this start was made (Unix ms), when the index
    /// existed and recorded it: the point from which a restart catches up.
    pub fn committed_ms(&self) -> Option<i64> {
        self.inner.committed_ms
    }

    /// How many videos the running rebuild has read.
    pub fn rebuilt(&self) -> u64 {
        self.inner.rebuilt.load(Ordering::Relaxed)
    }

    /// Sends local changes to `outbox` too (cluster mode).
    pub fn ship_to(&self, outbox: feed::Outbox) {
        *self.inner.feed.lock().expect("feed lock") = Some(outbox);
    }

    /// Applies a change (queued; searchable after the next commit). When
    /// [`WRITER_QUEUE`] messages wait for the writer already, this waits until there is room
    /// (backpressure: the writer is a thread of its own, so it always drains).
    pub fn apply(&self, change: Change) {
        self.send(Msg::Change(change));
    }

    /// Queues `msg` for the writer, waiting while the queue is full; false when the writer
    /// is gone.
    fn send(&self, msg: Msg) -> bool {
        let tx = self.inner.tx.lock().expect("tx lock");
        // Counted before it is sent: the writer may take it (and count it off) at once.
        self.inner.queued.fetch_add(1, Ordering::Relaxed);
        let sent = match tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::TrySendError::Full(msg)) => {
                metrics::counter!("troupe_catalogue_writer_queue_full_total").increment(1);
                tx.send(msg).is_ok()
            }
            Err(mpsc::TrySendError::Disconnected(_)) => false,
        };
        if !sent {
            self.inner.queued.fetch_sub(1, Ordering::Relaxed);
        }
        sent
    }

    /// Applies changes and waits until they are added (not yet committed).
    pub async fn apply_batch(&self, changes: Vec<Change>) {
        self.ask(|tx| Msg::Batch(changes, tx)).await;
    }

    /// Commits what is pending and waits until it is searchable.
    pub async fn commit(&self) {
        self.ask(Msg::Commit).await;
    }

    /// Every live video in the index (as of its last commit and what the writer has added
    /// since) whose id is not in `seen`.
    pub async fn unseen(&self, seen: std::collections::HashSet<Uuid>) -> Vec<Uuid> {
        self.ask(|tx| Msg::Unseen(seen, tx))
            .await
            .unwrap_or_default()
    }

    /// Sends the writer a request carrying a reply channel and waits for the reply (`None`
    /// when the writer is gone).
    async fn ask<T>(&self, msg: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> Msg) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        match self.send(msg(tx)) {
            true => rx.await.ok(),
            false => None,
        }
    }

    /// Commits so far (for tests and metrics).
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// Live videos in the index.
    pub fn len(&self) -> u64 {
        let s = self.inner.reader.searcher();
        let q = TermQuery::new(
            Term::from_field_u64(self.inner.fields.alive, 1),
            IndexRecordOption::Basic,
        );
        s.search(&q, &tantivy::collector::Count).unwrap_or(0) as u64
    }

    /// Whether the index holds no live video.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records a video's views over time and its counts with them, for trending. Videos
    /// with no view within the longest window are aged out every minute; past
    /// [`TREND_MAX`] videos, the least viewed over that window are dropped.
    pub fn set_views(&self, id: Uuid, views: ViewBuckets, counts: Counts) {
        let mut guard = self.inner.trend.lock().expect("trend lock");
        let (t, aged) = &mut *guard;
        let now = chrono::Utc::now().timestamp_millis();
        t.set(id, views, counts, now);
        if aged.elapsed() >= Duration::from_secs(60) || t.len() > TREND_MAX {
            *aged = Instant::now();
            age_trend(t, now);
        }
    }

    fn check_ready(&self) -> Result<(), CatalogueError> {
        if self.is_ready() {
            Ok(())
        } else if let Some(why) = self.failure() {
            Err(CatalogueError::NotReady(why))
        } else {
            Err(CatalogueError::Rebuilding(self.rebuilt()))
        }
    }

    /// The searcher a page is cut from: for a ranked cursor, the one its ranking was made
    /// on (or `CursorExpired`); else the current one. A cursor of another query or caller
    /// is refused.
    fn searcher_for(&self, s: &Search, scope: Scope) -> Result<Searcher, CatalogueError> {
        let Some(cursor) = s.cursor else {
            return Ok(self.inner.reader.searcher());
        };
        if cursor.query() != s.fingerprint(scope) {
            return Err(CatalogueError::CursorMismatch);
        }
        match cursor {
            Cursor::Before { .. } => Ok(self.inner.reader.searcher()),
            Cursor::Offset {
                instance,
                generation,
                ..
            } => {
                let kept = (instance == self.inner.instance)
                    .then(|| {
                        self.inner
                            .rankings
                            .lock()
                            .expect("rankings lock")
                            .get(generation, self.inner.cursor_ttl)
                    })
                    .flatten();
                kept.ok_or_else(|| {
                    metrics::counter!("troupe_catalogue_cursors_expired_total").increment(1);
                    CatalogueError::CursorExpired
                })
            }
        }
    }

    /// Runs a search or a listing for `scope`.
    pub fn search(&self, s: &Search, scope: Scope) -> Result<Page, CatalogueError> {
        self.check_ready()?;
        let f = &self.inner.fields;
        let searcher = self.searcher_for(s, scope)?;
        let query = s.fingerprint(scope);
        let want = s.limit + 1;
        let words = search::words_query(f, &s.q, Some(&searcher));
        let sort = match (s.sort, &words) {
            (Sort::Relevance, None) => Sort::Newest,
            (sort, _) => sort,
        };
        // A ranked or newest-first search checks the scope while it collects (see
        // `search::by_relevance` and `search::newest`).
        let in_query = (sort == Sort::Views).then_some(scope);
        let mut clauses = search::filters(f, s, in_query);
        if let Some(w) = words {
            clauses.push((Occur::Must, w));
        }
        let (found, next) = match sort {
            Sort::Newest => {
                let before = match s.cursor {
                    Some(Cursor::Before { order, .. }) => Some(order),
                    Some(Cursor::Offset { .. }) => return Err(CatalogueError::CursorMismatch),
                    None => None,
                };
                let cols = &self.inner.columns;
                let found = search::newest(&searcher, cols, f, s, scope, clauses, before, want)?;
                let next = (found.len() > s.limit).then(|| {
                    Cursor::Before {
                        order: found[s.limit - 1].order,
                        query,
                    }
                    .encode()
                });
                (found, next)
            }
            Sort::Relevance | Sort::Views => {
                let offset = match s.cursor {
                    Some(Cursor::Offset { offset, .. }) => offset,
                    Some(Cursor::Before { .. }) => return Err(CatalogueError::CursorMismatch),
                    None => 0,
                };
                // Words alone are the query itself, not a clause of one, so that a union of
                // term queries stays one (and block-max WAND applies).
                let q: Box<dyn Query> = match clauses.pop() {
                    Some((Occur::Must, only)) if clauses.is_empty() => only,
                    last => {
                        clauses.extend(last);
                        Box::new(BooleanQuery::new(clauses))
                    }
                };
                let cols = &self.inner.columns;
                let found = if sort == Sort::Views {
                    search::by_views(&searcher, cols, &*q, offset, want)?
                } else {
                    search::by_relevance(&searcher, cols, &*q, scope, offset, want)?
                };
                let generation = searcher.generation().generation_id();
                let next =
                    (found.len() > s.limit && offset + s.limit <= search::MAX_OFFSET).then(|| {
                        self.inner
                            .rankings
                            .lock()
                            .expect("rankings lock")
                            .keep(&searcher, self.inner.cursor_ttl);
                        Cursor::Offset {
                            instance: self.inner.instance,
                            generation,
                            offset: offset + s.limit,
                            query,
                        }
                        .encode()
                    });
                (found, next)
            }
        };
        let mut hits = Vec::with_capacity(s.limit);
        for fo in found.into_iter().take(s.limit) {
            if let Some(h) = self.hit(&searcher, fo.addr)? {
                hits.push(h);
            }
        }
        Ok(Page {
            hits,
            next_cursor: next,
        })
    }

    fn hit(
        &self,
        searcher: &Searcher,
        addr: tantivy::DocAddress,
    ) -> Result<Option<Hit>, CatalogueError> {
        let c = self
            .inner
            .columns
            .of(searcher.segment_reader(addr.segment_ord));
        let doc = addr.doc_id;
        let Some(id) = c.id(doc) else {
            return Ok(None);
        };
        Ok(Some(Hit {
            id,
            counts: Counts {
                views: SegCols::get(&c.views, doc),
                likes: SegCols::get(&c.likes, doc),
                dislikes: 0,
            },
            created_ms: SegCols::get(&c.created_ms, doc),
        }))
    }

    /// The video as the index last stored it (`None` when absent or deleted).
    pub fn stored_video(&self, id: Uuid) -> Option<VideoView> {
        let searcher = self.inner.reader.searcher();
        lookup(&searcher, &self.inner.columns, &self.inner.fields, id)
            .and_then(|e| e.video(&searcher, &self.inner.fields))
    }

    /// The most viewed videos within `window_ms`, most first (ties: newest first), among
    /// those `scope` may list; up to `limit`.
    pub fn trending(
        &self,
        window_ms: i64,
        limit: usize,
        scope: Scope,
    ) -> Result<TrendList, CatalogueError> {
        self.check_ready()?;
        let key = (window_ms, limit, scope);
        if let Some((at, list)) = self.inner.trending.lock().expect("trending lock").get(&key) {
            if at.elapsed() < self.inner.trending_ttl {
                return Ok(list.clone());
            }
        }
        let now = chrono::Utc::now().timestamp_millis();
        let searcher = self.inner.reader.searcher();
        let ids = search::IdLookup::new(&searcher, &self.inner.fields)?;
        let mut out = Vec::new();
        // The most viewed first, a chunk at a time, read from the window's ranking; each
        // video is found by its id's postings and checked on the fast columns.
        let chunk_len = limit.max(1) * 2;
        let mut start = 0;
        while out.len() < limit {
            let chunk = self
                .inner
                .trend
                .lock()
                .expect("trend lock")
                .0
                .top(window_ms, now, start, chunk_len);
            if chunk.is_empty() {
                break;
            }
            start += chunk.len();
            for (id, n, counts) in &chunk {
                if out.len() >= limit {
                    break;
                }
                let Some(addr) = ids.find(id)? else {
                    continue;
                };
                let cols = self
                    .inner
                    .columns
                    .of(searcher.segment_reader(addr.segment_ord));
                if !cols.allows(scope, addr.doc_id) {
                    continue;
                }
                if let Some(mut h) = self.hit(&searcher, addr)? {
                    // The counts heard with the views, so that both say the same.
                    h.counts = *counts;
                    out.push((
                        Trend {
                            id: *id,
                            window_views: *n,
                        },
                        h,
                    ));
                }
            }
        }
        out.sort_by(|a, b| {
            b.0.window_views
                .cmp(&a.0.window_views)
                .then(b.1.created_ms.cmp(&a.1.created_ms))
        });
        let out = Arc::new(out);
        if !self.inner.trending_ttl.is_zero() {
            self.inner
                .trending
                .lock()
                .expect("trending lock")
                .insert(key, (Instant::now(), out.clone()));
        }
        Ok(out)
    }

    /// The version and counts the index holds for a video (`None` when absent; version
    /// `u64::MAX` for a deletion marker).
    pub fn indexed(&self, id: Uuid) -> Option<(u64, Counts)> {
        let searcher = self.inner.reader.searcher();
        lookup(&searcher, &self.inner.columns, &self.inner.fields, id)
            .map(|e| (e.version, e.counts))
    }
}

impl CatalogueSink for Catalogue {
    fn video(&self, view: &VideoView) {
        let change = Change::Video(Box::new(view.clone()));
        if let Some(o) = self.inner.feed.lock().expect("feed lock").as_ref() {
            o.push(change.clone());
        }
        self.apply(change);
    }

    fn deleted(&self, id: Uuid) {
        if let Some(o) = self.inner.feed.lock().expect("feed lock").as_ref() {
            o.push(Change::Deleted(id));
        }
        self.set_views(id, ViewBuckets::default(), Counts::default());
        self.apply(Change::Deleted(id));
    }

    fn counts(&self, id: Uuid, counts: Counts, views: ViewBuckets) {
        if let Some(o) = self.inner.feed.lock().expect("feed lock").as_ref() {
            o.push_counts(id, counts, views.clone());
        }
        self.set_views(id, views, counts);
        self.apply(Change::Counts(id, counts));
    }
}

fn open_existing(dir: &Path, fields: &Fields) -> Result<Option<Index>, String> {
    let marker = dir.join("troupe-schema");
    if !dir.join("meta.json").exists() {
        return Ok(None);
    }
    let version = std::fs::read_to_string(&marker).map_err(|e| format!("no schema marker: {e}"))?;
    if version.trim() != schema::SCHEMA_VERSION.to_string() {
        return Err(format!(
            "schema version {} where {} is expected",
            version.trim(),
            schema::SCHEMA_VERSION
        ));
    }
    let index = Index::open_in_dir(dir).map_err(|e| e.to_string())?;
    if index.schema() != fields.schema {
        return Err("the index's fields differ from this version's".into());
    }
    // Read every segment once: a corrupt file shows here, not in the first query.
    schema::register(&index);
    let reader = index.reader().map_err(|e| e.to_string())?;
    let searcher = reader.searcher();
    for r in searcher.segment_readers() {
        let _ = r.fast_fields().u64("order").map_err(|e| e.to_string())?;
        let _ = r.inverted_index(fields.title).map_err(|e| e.to_string())?;
        r.get_store_reader(1).map_err(|e| e.to_string())?;
    }
    Ok(Some(index))
}

fn create(dir: &Path, fields: &Fields) -> Result<Index, CatalogueError> {
    std::fs::create_dir_all(dir).map_err(|e| CatalogueError::Index(e.to_string()))?;
    let d = MmapDirectory::open(dir).map_err(|e| CatalogueError::Index(e.to_string()))?;
    let index = Index::create(d, fields.schema.clone(), tantivy::IndexSettings::default())?;
    std::fs::write(
        dir.join("troupe-schema"),
        schema::SCHEMA_VERSION.to_string(),
    )
    .map_err(|e| CatalogueError::Index(e.to_string()))?;
    Ok(index)
}

/// What the index holds of one video.
struct Existing {
    version: u64,
    counts: Counts,
    addr: tantivy::DocAddress,
}

impl Existing {
    /// The stored copy of the video (a stored-document read: only when a change lacks it).
    fn video(&self, searcher: &Searcher, f: &Fields) -> Option<VideoView> {
        let d = searcher.doc::<TantivyDocument>(self.addr).ok()?;
        let bytes = d.get_first(f.doc)?.as_bytes()?;
        serde_json::from_slice(bytes).ok()
    }
}

fn lookup(searcher: &Searcher, cols: &search::Columns, f: &Fields, id: Uuid) -> Option<Existing> {
    let q = TermQuery::new(
        Term::from_field_text(f.id, &id.to_string()),
        IndexRecordOption::Basic,
    );
    let (_, addr) = *searcher.search(&q, &TopDocs::with_limit(1)).ok()?.first()?;
    let c = cols.of(searcher.segment_reader(addr.segment_ord));
    let doc = addr.doc_id;
    Some(Existing {
        version: SegCols::get(&c.version, doc),
        counts: Counts {
            views: SegCols::get(&c.views, doc),
            likes: SegCols::get(&c.likes, doc),
            dislikes: 0,
        },
        addr,
    })
}

#[derive(Default)]
struct Pending {
    video: Option<Box<VideoView>>,
    counts: Option<Counts>,
    deleted: bool,
}

fn merge(pending: &mut HashMap<Uuid, Pending>, change: Change) {
    let p = pending.entry(change.id()).or_default();
    match change {
        Change::Video(v) => {
            if p.video.as_ref().is_none_or(|old| old.version <= v.version) {
                p.video = Some(v);
            }
        }
        Change::Deleted(_) => p.deleted = true,
        Change::Counts(_, c) => p.counts = Some(c),
    }
}

/// Counts heard before their video (a cluster's log may deliver them first), kept a while.
type Early = HashMap<Uuid, (Counts, Instant)>;

/// A video as the writer last wrote it, before the commit that makes it searchable.
struct Written {
    /// Its version (`u64::MAX` for a deletion marker).
    version: u64,
    counts: Counts,
    /// The video (none for a deletion marker).
    video: Option<Box<VideoView>>,
}

/// What the writer remembers between commits: what it wrote since the last one (the
/// committed searcher does not show it yet, so versions are compared with this first) and
/// counts heard before their video.
#[derive(Default)]
struct Memory {
    written: HashMap<Uuid, Written>,
    early: Early,
}

/// Writes `pending` changes against what the index will hold at the next commit: what was
/// written since the last commit, else what the last commit holds.
fn write(writer: &mut IndexWriter, me: &Inner, pending: HashMap<Uuid, Pending>, mem: &mut Memory) {
    let searcher = &me.reader.searcher();
    let (cols, f) = (&*me.columns, &me.fields);
    let Memory { written, early } = mem;
    for (id, p) in pending {
        let id_term = Term::from_field_text(f.id, &id.to_string());
        let uncommitted = written.get(&id);
        let committed = match uncommitted {
            Some(_) => None,
            None => lookup(searcher, cols, f, id),
        };
        let known = match (uncommitted, &committed) {
            (Some(w), _) => Some((w.version, w.counts)),
            (None, Some(e)) => Some((e.version, e.counts)),
            (None, None) => None,
        };
        if p.deleted {
            if known.is_none_or(|(v, _)| v != u64::MAX) {
                writer.delete_term(id_term);
                let _ = writer.add_document(f.tombstone(id));
                written.insert(
                    id,
                    Written {
                        version: u64::MAX,
                        counts: Counts::default(),
                        video: None,
                    },
                );
            }
            continue;
        }
        if known.is_some_and(|(v, _)| v == u64::MAX) {
            continue; // deleted: nothing brings it back
        }
        let (old_counts, old_version) = match known {
            Some((v, c)) => (Some(c), v),
            None => (None, 0),
        };
        let (video, video_changed) = match p.video {
            Some(v) if v.version >= old_version => (Some(*v), true),
            _ => match uncommitted {
                Some(w) => (w.video.as_deref().cloned(), false),
                None => (committed.as_ref().and_then(|e| e.video(searcher, f)), false),
            },
        };
        let Some(video) = video else {
            if let Some(c) = p.counts {
                if early.len() < EARLY_MAX || early.contains_key(&id) {
                    early.insert(id, (c, Instant::now()));
                } else {
                    metrics::counter!("troupe_catalogue_early_counts_dropped_total").increment(1);
                }
            }
            continue;
        };
        let counts = p
            .counts
            .or_else(|| early.remove(&id).map(|(c, _)| c))
            .or(old_counts)
            .unwrap_or_default();
        let counts_changed = Some(counts) != old_counts;
        if !video_changed && !counts_changed {
            continue;
        }
        if video_changed && !counts_changed && old_counts.is_some() && old_version == video.version
        {
            continue; // the same version again (a reconcile): nothing to write
        }
        writer.delete_term(id_term);
        let _ = writer.add_document(f.document(&video, counts));
        written.insert(
            id,
            Written {
                version: video.version,
                counts,
                video: Some(Box::new(video)),
            },
        );
    }
    early.retain(|_, (_, at)| at.elapsed() < Duration::from_secs(60));
    metrics::gauge!("troupe_catalogue_early_counts").set(early.len() as f64);
}

/// Ages trending's views: drops videos with no view within the longest window, then, past
/// [`TREND_MAX`], the least viewed over it (ties: the longest unviewed) down to 90 %.
fn age_trend(t: &mut trend::Trends, now_ms: i64) {
    let keep_ms = TREND_KEEP.as_millis() as i64;
    let last = |b: &ViewBuckets| {
        b.fine
            .iter()
            .chain(b.coarse.iter())
            .map(|(at, _)| *at)
            .max()
            .unwrap_or(i64::MIN)
    };
    let old: Vec<Uuid> = t
        .iter()
        .filter(|(_, b)| last(b) <= now_ms - keep_ms)
        .map(|(id, _)| *id)
        .collect();
    for id in old {
        t.remove(id);
    }
    if t.len() > TREND_MAX {
        let mut ranked: Vec<(u64, i64, Uuid)> = t
            .iter()
            .map(|(id, b)| (b.views_within(now_ms, keep_ms), last(b), *id))
            .collect();
        let drop = t.len() - TREND_MAX * 9 / 10;
        ranked.select_nth_unstable(drop - 1);
        for (_, _, id) in &ranked[..drop] {
            t.remove(*id);
        }
        metrics::counter!("troupe_catalogue_trending_dropped_total").increment(drop as u64);
    }
    metrics::gauge!("troupe_catalogue_trending_videos").set(t.len() as f64);
}

/// The live documents whose id is not in `seen`. Nothing is tombstoned here: a document
/// the scan did not see may have been created after the scan passed its key.
fn unseen(
    searcher: &Searcher,
    cols: &search::Columns,
    seen: &std::collections::HashSet<Uuid>,
) -> Vec<Uuid> {
    let mut gone = Vec::new();
    for r in searcher.segment_readers() {
        let c = cols.of(r);
        let Some(live) = &c.alive else {
            continue;
        };
        for doc in 0..r.max_doc() {
            if r.is_deleted(doc) || live.first(doc) != Some(1) {
                continue;
            }
            if let Some(id) = c.id(doc) {
                if !seen.contains(&id) {
                    gone.push(id);
                }
            }
        }
    }
    gone
}

/// What the writer loop holds between commits.
#[derive(Default)]
struct Uncommitted {
    /// Changes taken in and not yet written, merged by video.
    pending: HashMap<Uuid, Pending>,
    /// What was written since the last commit.
    mem: Memory,
    /// Whether the next commit is due to hold anything (or to record the time).
    dirty: bool,
    /// How many changes the next commit holds (for its metric).
    changes: usize,
}

impl Uncommitted {
    /// Writes what is pending, counted in the next commit's changes.
    fn write_pending(&mut self, writer: &mut IndexWriter, me: &Inner) {
        self.changes += self.pending.len();
        write(writer, me, std::mem::take(&mut self.pending), &mut self.mem);
        self.dirty = true;
    }

    /// Writes what is pending, then commits if anything was written since the last commit;
    /// a commit that succeeds clears what is remembered of the versions written.
    fn commit(&mut self, writer: &mut IndexWriter, me: &Inner) {
        if !self.pending.is_empty() {
            self.write_pending(writer, me);
        }
        if self.dirty {
            if commit(writer, me, std::mem::take(&mut self.changes)) {
                self.mem.written.clear();
            }
            self.dirty = false;
        }
    }
}

fn writer_loop(
    inner: std::sync::Weak<Inner>,
    mut writer: IndexWriter,
    rx: mpsc::Receiver<Msg>,
    interval: Duration,
) {
    let mut u = Uncommitted::default();
    let mut waiting: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
    let mut next_commit = Instant::now() + interval;
    loop {
        let timeout = next_commit.saturating_duration_since(Instant::now());
        let msg = match rx.recv_timeout(timeout) {
            Ok(m) => Some(m),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let Some(me) = inner.upgrade() else { break };
        if msg.is_some() {
            me.queued.fetch_sub(1, Ordering::Relaxed);
        }
        match msg {
            Some(Msg::Change(c)) => {
                merge(&mut u.pending, c);
                if u.pending.len() >= PENDING_MAX {
                    u.write_pending(&mut writer, &me);
                }
            }
            Some(Msg::Batch(changes, ack)) => {
                for c in changes {
                    merge(&mut u.pending, c);
                }
                write(&mut writer, &me, std::mem::take(&mut u.pending), &mut u.mem);
                u.dirty = true;
                let _ = ack.send(());
            }
            Some(Msg::Commit(ack)) => {
                // Even with nothing new: the commit records the time (see CommitPayload).
                u.dirty = true;
                waiting.push(ack);
                next_commit = Instant::now();
            }
            Some(Msg::Unseen(seen, ack)) => {
                // What the writer holds uncommitted counts too: commit it first.
                u.commit(&mut writer, &me);
                let _ = ack.send(unseen(&me.reader.searcher(), &me.columns, &seen));
            }
            None => {}
        }
        if u.mem.written.len() >= WRITTEN_MAX {
            next_commit = Instant::now();
        }
        if Instant::now() < next_commit {
            continue;
        }
        u.commit(&mut writer, &me);
        for w in waiting.drain(..) {
            let _ = w.send(());
        }
        metrics::gauge!("troupe_catalogue_writer_queue")
            .set(me.queued.load(Ordering::Relaxed) as f64);
        next_commit = Instant::now() + interval;
    }
    // The process is ending: commit what is pending, so a clean stop loses nothing.
    if u.dirty || !u.pending.is_empty() {
        if let Some(me) = inner.upgrade() {
            write(&mut writer, &me, u.pending, &mut u.mem);
            let _ = commit_stamped(&mut writer, &me);
        } else {
            let _ = writer.commit();
        }
    }
    let _ = writer.wait_merging_threads();
}

/// What each commit records in the index's metadata: up to when the index holds every
/// change, so that a restart knows from when to catch up (see [`rebuild::bring_in_line`]).
#[derive(Serialize, Deserialize)]
struct CommitPayload {
    /// Unix ms.
    committed_ms: i64,
    /// Whether the journal was on (a start with it off leaves no notes to catch up from).
    journaled: bool,
}

/// Commits with a [`CommitPayload`]: once the index is in line, the time taken before the
/// commit starts (every change the writer had taken in by then is in it); before, the
/// start's own point, since what changed while the node was down may not be in yet; with
/// the journal off, or no point to keep, none (the next start reads everything).
fn commit_stamped(writer: &mut IndexWriter, me: &Inner) -> tantivy::Result<u64> {
    let committed_ms = if !me.journal {
        None
    } else if me.in_line.load(Ordering::Acquire) {
        Some(chrono::Utc::now().timestamp_millis())
    } else {
        me.committed_ms
    };
    let mut prepared = writer.prepare_commit()?;
    if let Some(committed_ms) = committed_ms {
        let payload = CommitPayload {
            committed_ms,
            journaled: true,
        };
        prepared.set_payload(&serde_json::to_string(&payload).unwrap_or_default());
    }
    prepared.commit()
}

/// Commits, makes the commit searchable, and counts it; whether the commit succeeded.
fn commit(writer: &mut IndexWriter, me: &Inner, changes: usize) -> bool {
    let started = Instant::now();
    match commit_stamped(writer, me) {
        Ok(_) => {
            if let Err(e) = me.reader.reload() {
                tracing::error!(error = %e, "catalogue reader reload failed");
            }
            me.columns.retain(&me.reader.searcher());
            me.commits.fetch_add(1, Ordering::Relaxed);
            metrics_commit(started.elapsed(), changes);
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "catalogue commit failed");
            false
        }
    }
}

fn metrics_commit(took: Duration, changes: usize) {
    metrics::histogram!("troupe_catalogue_commit_seconds").record(took.as_secs_f64());
    metrics::counter!("troupe_catalogue_changes_total").increment(changes as u64);
}

/// Checks the query for obvious misuse: only words are searched (syntax characters are
/// separators, never operators).
pub fn is_searchable(q: &str) -> bool {
    !schema::words(q).is_empty()
}

/// The words query of `q`, for callers that build their own queries.
pub fn words_query(fields: &Fields, q: &str) -> Option<Box<dyn Query>> {
    search::words_query(fields, q, None)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
