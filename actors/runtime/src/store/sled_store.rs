//! The sled backend, with group commit.
//!
//! sled keeps writes in memory and fsyncs them about every 500 ms on its own, so on `kill -9`
//! it loses the last half second of acknowledged writes (measured in
//! `research/ractor_sled_objstore.md`). We therefore never acknowledge before a flush. A single
//! flusher thread owns flushing: writers apply their change to sled, then queue a waiter; the
//! flusher takes every queued waiter, runs one `flush()` itself, and answers them all. Writes
//! that arrive during a flush wait for the next one, so under load each fsync covers a whole
//! batch. Nothing else delays a flush: a lone write is flushed as soon as it is queued (no
//! timer, no hand-off to a task and then to the blocking pool; the thread does the flush).
//!
//! sled's own flush is not enough for a power cut: sled 0.34 writes its log with `pwrite` and
//! `sync_file_range`, which neither persists the file's metadata (the log grows by appending,
//! so its size is metadata) nor flushes the device's write cache; it never syncs the large
//! values it keeps as files under `blobs/`, nor the directory entries of the files it creates
//! (`conf`, blobs, snapshots renamed into place). So after sled's flush the flusher makes
//! everything it wrote stable itself ([`Syncer`]): it fsyncs each file that appeared (or grew)
//! in the database's directory or in `blobs/` since the last flush and then that directory, and
//! `fdatasync`s the log file `db` (an `fdatasync` on our own descriptor of the file flushes the
//! inode, whoever wrote it). Only then are the waiters answered. After a failed sync the store
//! answers every later flush with an error until the process restarts: the kernel may have
//! dropped the pages it could not write, so a later sync that succeeds would prove nothing.
//!
//! Each stored value is `[etag: u64 big-endian][payload]`. Etags come from sled's
//! `generate_id`, which is unique and increasing across restarts, so a key that is deleted and
//! created again never reuses a version (no ABA).

use super::{condition_holds, Etag, Precondition, StateStore, StoreError, Versioned};
use async_trait::async_trait;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;
use tokio::sync::oneshot;

/// Waits for a flush: its result, and when it started and ended (Unix ns; 0 unless stamps
/// are on, see [`crate::stamps`]).
type FlushWaiter = oneshot::Sender<(Result<(), StoreError>, u64, u64)>;

/// A [`StateStore`] on a sled database in a directory.
pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    flusher: mpsc::Sender<FlushWaiter>,
}

impl SledStore {
    /// Opens (or creates) the database in `dir` and starts its flusher thread, which ends when
    /// the store is dropped.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::LowSpace)
            .cache_capacity(256 * 1024 * 1024)
            .open()
            .map_err(io)?;
        let tree = db.open_tree("state").map_err(io)?;
        db.flush().map_err(io)?;
        let syncer = Syncer::open(dir).map_err(|e| {
            StoreError::Io(format!(
                "cannot sync the state store in {}: {e}",
                dir.display()
            ))
        })?;
        let (tx, rx) = mpsc::channel();
        let flushed = db.clone();
        std::thread::Builder::new()
            .name("troupe-flush".into())
            .spawn(move || flusher(flushed, syncer, rx))
            .map_err(|e| StoreError::Io(format!("cannot start the flusher thread: {e}")))?;
        Ok(Self {
            db,
            tree,
            flusher: tx,
        })
    }

    /// Waits until a flush that started after this call has completed.
    async fn durable(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.flusher
            .send(tx)
            .map_err(|_| StoreError::Unavailable("the store is shutting down".into()))?;
        let (result, start, end) = rx
            .await
            .map_err(|_| StoreError::Unavailable("the store flusher stopped".into()))?;
        crate::stamps::mark_flush(start, end);
        result
    }

    fn split(key: &str, raw: &[u8]) -> Result<Versioned, StoreError> {
        if raw.len() < 8 {
            return Err(StoreError::Corrupt {
                key: key.to_owned(),
                reason: "value shorter than its version header".into(),
            });
        }
        let (head, value) = raw.split_at(8);
        let version = u64::from_be_bytes(head.try_into().expect("8 bytes"));
        Ok(Versioned {
            etag: Etag(version.to_string()),
            value: value.to_vec(),
        })
    }

    fn current_etag(
        &self,
        key: &str,
        raw: Option<&sled::IVec>,
    ) -> Result<Option<Etag>, StoreError> {
        raw.map(|r| Self::split(key, r).map(|v| v.etag)).transpose()
    }
}

/// Puts on stable storage what sled's flush left in the kernel's caches: the files of the
/// database directory, data and metadata (see the module's documentation).
struct Syncer {
    dir: PathBuf,
    blobs: PathBuf,
    /// sled's log: every write goes through it.
    db: File,
    /// The names in `dir` and in `blobs` as of the last sync, with the length of each file
    /// when it was last synced (`db` aside, which is synced on every flush).
    known: HashMap<OsString, u64>,
    known_blobs: HashMap<OsString, u64>,
    /// Set by a failed sync; from then on every flush fails (see the module's documentation).
    failed: Option<String>,
}

impl Syncer {
    /// Syncs everything sled has in `dir` now, `dir` itself and its parent (which holds the
    /// entry of `dir`, created by sled when it was new).
    fn open(dir: &Path) -> std::io::Result<Self> {
        let mut s = Self {
            dir: dir.to_owned(),
            blobs: dir.join("blobs"),
            db: File::open(dir.join("db"))?,
            known: HashMap::new(),
            known_blobs: HashMap::new(),
            failed: None,
        };
        // Nothing is known yet: every file and both directories are synced.
        s.sync()?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(s)
    }

    /// Runs after sled's flush: fsyncs the files created since the last sync and the
    /// directories whose entries changed, then `fdatasync`s the log.
    fn sync(&mut self) -> std::io::Result<()> {
        sync_new_entries(&self.blobs, &mut self.known_blobs, None)?;
        sync_new_entries(&self.dir, &mut self.known, Some("db"))?;
        self.db.sync_data()
    }

    /// [`Syncer::sync`], refusing for good after a failure.
    fn sync_after_flush(&mut self) -> Result<(), StoreError> {
        if let Some(e) = &self.failed {
            return Err(StoreError::Io(format!(
                "an earlier sync of the state store failed ({e}); restart the process"
            )));
        }
        self.sync().map_err(|e| {
            let e = format!("cannot sync {}: {e}", self.dir.display());
            self.failed = Some(e.clone());
            StoreError::Io(e)
        })
    }
}

/// Fsyncs each file in `dir` that is new or whose length changed since the last call (a file
/// sled was still writing when it was last listed: its length was read before that fsync, so
/// the same length later means the fsync covered it), except `skip`, then `dir` if its list
/// of entries changed (a file came or went), and remembers the new list.
fn sync_new_entries(
    dir: &Path,
    known: &mut HashMap<OsString, u64>,
    skip: Option<&str>,
) -> std::io::Result<()> {
    let mut now = HashMap::with_capacity(known.len());
    let mut changed = false;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if !known.contains_key(&name) {
            changed = true;
        }
        if skip.is_some_and(|s| name == s) {
            now.insert(name, 0);
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            // Removed since it was listed (a snapshot being replaced, a blob collected).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let len = if meta.is_file() { meta.len() } else { 0 };
        if meta.is_file() && known.get(&name) != Some(&len) {
            match File::open(entry.path()) {
                Ok(f) => f.sync_all()?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        now.insert(name, len);
    }
    if changed || now.len() != known.len() {
        sync_dir(dir)?;
    }
    *known = now;
    Ok(())
}

/// Makes a directory's entries durable (a file created, renamed or removed in it).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The group-commit loop, on its own thread: one flush per batch of queued waiters. It blocks
/// until a writer queues a waiter, takes every waiter queued by then, flushes and syncs,
/// answers them, and looks again. A flush covers every write applied before it started, so
/// the batch is exactly the writers that were waiting; the ones that queue during a flush go
/// in the next.
fn flusher(db: sled::Db, mut syncer: Syncer, rx: mpsc::Receiver<FlushWaiter>) {
    let mut batch = Vec::new();
    while let Ok(first) = rx.recv() {
        // Let a writer that is running on this CPU finish what it has ready before the flush
        // starts, so that its writes join this flush instead of the next (on a busy core they
        // would otherwise each pay for a flush of their own). Not a timer: when nothing else
        // is runnable here it returns at once, so a lone write is not delayed.
        std::thread::yield_now();
        batch.push(first);
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let stamp_start = if crate::stamps::on() {
            crate::stamps::now()
        } else {
            0
        };
        let started = Instant::now();
        let result = db
            .flush()
            .map_err(io)
            .and_then(|_| syncer.sync_after_flush());
        metrics::histogram!("troupe_store_flush_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("troupe_store_flush_batch_size").record(batch.len() as f64);
        if let Err(e) = &result {
            tracing::error!(error = %e, "state store flush failed");
        }
        let stamp_end = if crate::stamps::on() {
            crate::stamps::now()
        } else {
            0
        };
        for waiter in batch.drain(..) {
            let _ = waiter.send((result.clone(), stamp_start, stamp_end));
        }
    }
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

#[async_trait]
impl StateStore for SledStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        // A sled read is served from its page cache and does not block for long; it is not
        // worth a trip to the blocking pool on every activation.
        match self.tree.get(key).map_err(io)? {
            Some(raw) => Ok(Some(Self::split(key, &raw)?)),
            None => Ok(None),
        }
    }

    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        condition: Precondition,
    ) -> Result<Etag, StoreError> {
        let version = self.db.generate_id().map_err(io)?;
        let mut new = Vec::with_capacity(8 + value.len());
        new.extend_from_slice(&version.to_be_bytes());
        new.extend_from_slice(&value);
        loop {
            let current = self.tree.get(key).map_err(io)?;
            if !condition_holds(
                &condition,
                self.current_etag(key, current.as_ref())?.as_ref(),
            ) {
                return Err(StoreError::Conflict);
            }
            match self
                .tree
                .compare_and_swap(key, current, Some(new.as_slice()))
                .map_err(io)?
            {
                Ok(()) => break,
                // Somebody wrote in between: re-check the condition against their value.
                Err(_) => continue,
            }
        }
        crate::stamps::mark_write(|w| &w.cas_done);
        self.durable().await?;
        Ok(Etag(version.to_string()))
    }

    async fn delete(&self, key: &str, condition: Precondition) -> Result<(), StoreError> {
        loop {
            let current = self.tree.get(key).map_err(io)?;
            if !condition_holds(
                &condition,
                self.current_etag(key, current.as_ref())?.as_ref(),
            ) {
                return Err(StoreError::Conflict);
            }
            if current.is_none() {
                return Ok(());
            }
            match self
                .tree
                .compare_and_swap(key, current, None as Option<&[u8]>)
                .map_err(io)?
            {
                Ok(()) => break,
                Err(_) => continue,
            }
        }
        self.durable().await
    }

    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(prefix) {
            let (k, v) = item.map_err(io)?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let versioned = Self::split(&key, &v)?;
            out.push((key, versioned));
        }
        Ok(out)
    }

    async fn scan_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Versioned)>, StoreError> {
        use std::ops::Bound;
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded(a.as_bytes().to_vec()),
            _ => Bound::Included(prefix.as_bytes().to_vec()),
        };
        let mut out = Vec::new();
        for item in self.tree.range((start, Bound::Unbounded)) {
            let (k, v) = item.map_err(io)?;
            if !k.starts_with(prefix.as_bytes()) || out.len() >= limit {
                break;
            }
            let key = String::from_utf8_lossy(&k).into_owned();
            let versioned = Self::split(&key, &v)?;
            out.push((key, versioned));
        }
        Ok(out)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.durable().await
    }

    fn backend(&self) -> &'static str {
        "sled"
    }
}
