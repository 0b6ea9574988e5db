//! Timing stamps of actor calls: a debug instrument that says where a call's time goes.
//!
//! Off unless the `troupe_runtime::stamps` tracing target is enabled at debug level when the
//! first call is made (`TROUPE__LOG__LEVEL=warn,troupe_runtime::stamps=debug`, or the same in
//! `RUST_LOG`). Then each local call records the wall-clock time (Unix nanoseconds, the clock
//! every process on the machine shares, so a load generator can line its own send and receive
//! times up with them) at each stage it passes:
//!
//! | field | when |
//! |---|---|
//! | `snap_start`, `snap_end` | the last [`crate::Directory::snapshot`] read on the caller's thread before the call (the visibility check in front of a rating) |
//! | `called` | [`crate::Directory::call`] sends the request |
//! | `handle_start`, `handle_end` | the activation's handler runs |
//! | `write_spawned` | the background write that covers the answer starts ([`crate::Ctx::stage`]) |
//! | `write_started` | that write's task first runs |
//! | `cas_done` | the store has applied the write in memory (sled: its compare-and-swap) |
//! | `flush_start`, `flush_end` | the flush (fsync) that made it durable |
//! | `write_woke` | the write's task has the result |
//! | `answered` | the activation sends the answer |
//! | `returned` | the caller has it |
//!
//! A field a call did not pass is 0 (a read holds no write). The stamps go out as one debug
//! event per call (fields as above, plus `kind`) from a thread of their own every 100 ms, so
//! formatting them costs the call nothing but a few clock reads and a queue push.
//! `benches/ratings.rs` turns them into a breakdown of a rating's latency.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// Whether stamps are being taken (decided once, at the first call).
pub(crate) fn on() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| tracing::enabled!(target: "troupe_runtime::stamps", tracing::Level::DEBUG))
}

/// Now, in Unix nanoseconds.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn set(field: &AtomicU64) {
    field.store(now(), Relaxed);
}

/// The stamps of one call.
#[derive(Default, Debug)]
pub(crate) struct Call {
    pub(crate) snap_start: AtomicU64,
    pub(crate) snap_end: AtomicU64,
    pub(crate) called: AtomicU64,
    pub(crate) handle_start: AtomicU64,
    pub(crate) handle_end: AtomicU64,
    pub(crate) write_spawned: AtomicU64,
    pub(crate) write_started: AtomicU64,
    pub(crate) cas_done: AtomicU64,
    pub(crate) flush_start: AtomicU64,
    pub(crate) flush_end: AtomicU64,
    pub(crate) write_woke: AtomicU64,
    pub(crate) answered: AtomicU64,
    pub(crate) returned: AtomicU64,
}

impl Call {
    /// A call starting now, with the last snapshot read of this thread.
    pub(crate) fn start() -> Arc<Call> {
        let c = Call::default();
        let (s, e) = LAST_SNAPSHOT.with(|l| l.get());
        c.snap_start.store(s, Relaxed);
        c.snap_end.store(e, Relaxed);
        set(&c.called);
        Arc::new(c)
    }

    pub(crate) fn mark(&self, field: impl Fn(&Call) -> &AtomicU64) {
        set(field(self));
    }

    /// Copies a write's stamps into this call's.
    pub(crate) fn wrote(&self, w: &Write) {
        for (to, from) in [
            (&self.write_started, &w.started),
            (&self.cas_done, &w.cas_done),
            (&self.flush_start, &w.flush_start),
            (&self.flush_end, &w.flush_end),
            (&self.write_woke, &w.woke),
        ] {
            to.store(from.load(Relaxed), Relaxed);
        }
    }
}

/// The stamps of one write (a background write, or the one [`crate::Ctx::save`] makes).
#[derive(Default, Debug)]
pub(crate) struct Write {
    pub(crate) started: AtomicU64,
    pub(crate) cas_done: AtomicU64,
    pub(crate) flush_start: AtomicU64,
    pub(crate) flush_end: AtomicU64,
    pub(crate) woke: AtomicU64,
}

tokio::task_local! {
    /// The write the current task is making, if stamps are on.
    static WRITE: Arc<Write>;
}

thread_local! {
    static LAST_SNAPSHOT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Runs `f` (a write) with `w` as the write the store stamps.
pub(crate) async fn writing<F: std::future::Future>(w: Arc<Write>, f: F) -> F::Output {
    WRITE.scope(w, f).await
}

/// Stamps the current write's `field`, if a write is being stamped.
pub(crate) fn mark_write(field: impl Fn(&Write) -> &AtomicU64) {
    let _ = WRITE.try_with(|w| set(field(w)));
}

/// Stamps the current write's flush, from the store's flusher.
pub(crate) fn mark_flush(start: u64, end: u64) {
    let _ = WRITE.try_with(|w| {
        w.flush_start.store(start, Relaxed);
        w.flush_end.store(end, Relaxed);
    });
}

/// Remembers a snapshot read on this thread, for the next call's stamps.
pub(crate) fn snapshot_read(start: u64) {
    LAST_SNAPSHOT.with(|l| l.set((start, now())));
}

static QUEUE: Mutex<Vec<(&'static str, Arc<Call>)>> = Mutex::new(Vec::new());

/// Queues a finished call's stamps for the debug log.
pub(crate) fn record(kind: &'static str, call: Arc<Call>) {
    static DRAIN: OnceLock<()> = OnceLock::new();
    DRAIN.get_or_init(|| {
        let _ = std::thread::Builder::new()
            .name("troupe-stamps".into())
            .spawn(drain);
    });
    QUEUE.lock().expect("stamps queue").push((kind, call));
}

fn drain() {
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let calls = std::mem::take(&mut *QUEUE.lock().expect("stamps queue"));
        for (kind, c) in calls {
            let g = |f: &AtomicU64| f.load(Relaxed);
            tracing::debug!(
                target: "troupe_runtime::stamps",
                kind,
                snap_start = g(&c.snap_start),
                snap_end = g(&c.snap_end),
                called = g(&c.called),
                handle_start = g(&c.handle_start),
                handle_end = g(&c.handle_end),
                write_spawned = g(&c.write_spawned),
                write_started = g(&c.write_started),
                cas_done = g(&c.cas_done),
                flush_start = g(&c.flush_start),
                flush_end = g(&c.flush_end),
                write_woke = g(&c.write_woke),
                answered = g(&c.answered),
                returned = g(&c.returned),
                "call stamps"
            );
        }
    }
}
