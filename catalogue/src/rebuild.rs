//! Bringing the index in line with the actors' stored state: a rebuild from nothing, a
//! catch-up from the change journal (a restart with an intact index), or a full reconcile
//! of an index that may have missed changes the journal no longer holds.

use crate::{journal, Catalogue, Change};
use futures::StreamExt;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use troupe_actors::media::video::{VideoActor, VideoState};
use troupe_actors::playback::counter::{CounterActor, CounterState};
use troupe_runtime::store::{StateStore, Versioned};
use troupe_runtime::{codec, Entity};
use uuid::Uuid;

/// Videos read per page of the store.
const PAGE: usize = 2_000;
/// A progress line every this many videos.
const PROGRESS_EVERY: u64 = 50_000;

/// How far before the index's last commit a catch-up starts reading the journal: room for
/// a write whose note was taken before the commit but whose change reached the index after
/// it (a slow store write), and for clocks that differ between the nodes of a cluster.
pub const CATCH_UP_MARGIN: Duration = Duration::from_secs(120);
/// Store reads in flight at once while re-reading videos.
const PARALLEL_READS: usize = 32;

/// How the index was brought in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Built from empty, reading every video.
    Rebuilt,
    /// Reconciled with every video (the index was kept but the journal could not say what
    /// it missed).
    Reconciled,
    /// Caught up from the journal's notes since the last commit.
    CaughtUp,
}

/// Brings the index in line with `store` at start. A fresh index is rebuilt (queries
/// answer "rebuilding" meanwhile). An intact index whose last commit is recent enough for
/// the journal to cover (`retention` minus [`CATCH_UP_MARGIN`]) catches up from the notes
/// since that commit (less the margin), re-reading only the videos they name; otherwise it
/// is reconciled with every video, and the old index keeps answering meanwhile. With
/// `retention` zero the journal is off and every start reconciles.
pub async fn bring_in_line(
    catalogue: &Catalogue,
    store: &dyn StateStore,
    fresh: bool,
    retention: Duration,
) -> Result<Way, String> {
    if fresh {
        reconcile(catalogue, store, true).await?;
        return Ok(Way::Rebuilt);
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let covered = catalogue.committed_ms().filter(|&c| {
        !retention.is_zero()
            && now_ms.saturating_sub(c) + (CATCH_UP_MARGIN.as_millis() as i64)
                < retention.as_millis() as i64
    });
    match covered {
        Some(committed_ms) => {
            let since = (committed_ms - CATCH_UP_MARGIN.as_millis() as i64) / 1000;
            catch_up(catalogue, store, since).await?;
            Ok(Way::CaughtUp)
        }
        None => {
            reconcile(catalogue, store, false).await?;
            Ok(Way::Reconciled)
        }
    }
}

/// Re-reads every video (and its counter) that a journal note since Unix second `since`
/// names, and applies what it finds; then commits and marks the index ready.
pub async fn catch_up(
    catalogue: &Catalogue,
    store: &dyn StateStore,
    since: i64,
) -> Result<(), String> {
    let started = Instant::now();
    let prefix = format!("{}/", journal::KIND);
    let mut after = Some(journal::key_from(since));
    // `key_from` sorts before every note of that second; start just before it.
    if let Some(a) = after.as_mut() {
        a.pop();
    }
    let mut ids: HashSet<Uuid> = HashSet::new();
    let mut notes = 0u64;
    loop {
        let page = store
            .scan_keys(&prefix, after.as_deref(), PAGE)
            .await
            .map_err(|e| e.to_string())?;
        let full = page.len() == PAGE;
        for key in &page {
            notes += 1;
            if let Some(id) = journal::parse(key).and_then(|(_, _, id)| id.parse().ok()) {
                ids.insert(id);
            }
        }
        after = page.last().cloned();
        if !full {
            break;
        }
    }
    let n = ids.len();
    reread(catalogue, store, ids.into_iter().collect()).await?;
    catalogue.mark_in_line();
    catalogue.commit().await;
    catalogue.set_ready();
    tracing::info!(
        notes,
        videos = n,
        since,
        secs = started.elapsed().as_secs_f64(),
        "catalogue: caught up from the journal"
    );
    metrics::gauge!("troupe_catalogue_catch_up_seconds").set(started.elapsed().as_secs_f64());
    Ok(())
}

/// Reads each video and its counter as the store holds them now, [`PARALLEL_READS`] at a
/// time, and applies them: a video absent or being deleted becomes a deletion.
async fn reread(
    catalogue: &Catalogue,
    store: &dyn StateStore,
    ids: Vec<Uuid>,
) -> Result<(), String> {
    let mut reads = futures::stream::iter(ids)
        .map(|id| async move {
            let video = store
                .get(&format!("{}/{id}", VideoActor::KIND))
                .await
                .map_err(|e| e.to_string())?;
            let video = match video {
                None => None,
                Some(v) => match codec::decode::<VideoState>(VideoActor::SCHEMA, &v.value) {
                    Ok(s) => Some(s),
                    Err(e) => return Err(format!("video {id}: unreadable state: {e}")),
                },
            };
            let counter = match &video {
                Some(s) if !s.deleting => store
                    .get(&format!("{}/{id}", CounterActor::KIND))
                    .await
                    .map_err(|e| e.to_string())?
                    .and_then(|v| {
                        codec::decode::<CounterState>(CounterActor::SCHEMA, &v.value).ok()
                    }),
                _ => None,
            };
            Ok::<_, String>((id, video, counter))
        })
        .buffer_unordered(PARALLEL_READS);
    let mut changes = Vec::new();
    while let Some(read) = reads.next().await {
        let (id, video, counter) = read?;
        match video {
            Some(s) if !s.deleting => {
                changes.push(Change::Video(Box::new(s.view())));
                if let Some(c) = counter {
                    catalogue.set_views(id, c.buckets(), c.counts());
                    changes.push(Change::Counts(id, c.counts()));
                }
            }
            _ => changes.push(Change::Deleted(id)),
        }
        if changes.len() >= PAGE {
            catalogue.apply_batch(std::mem::take(&mut changes)).await;
        }
    }
    catalogue.apply_batch(changes).await;
    Ok(())
}

/// Reads every video and counter from `store` and applies what the index lacks; with
/// `from_empty`, queries answer "rebuilding" until it is done. Videos the index holds but
/// the scan did not see are re-read from the store when the scan ends and marked deleted
/// only if the store says they are gone then (one created after the scan passed its key,
/// on this node or another, stays).
pub async fn reconcile(
    catalogue: &Catalogue,
    store: &dyn StateStore,
    from_empty: bool,
) -> Result<(), String> {
    let started = Instant::now();
    if from_empty {
        catalogue.set_rebuilding();
        tracing::info!("catalogue: rebuilding the index from the video actors' state");
    }
    catalogue
        .inner
        .rebuilt
        .store(0, std::sync::atomic::Ordering::Relaxed);
    let mut alive: HashSet<Uuid> = HashSet::new();
    let mut next_progress = PROGRESS_EVERY;
    let mut videos = Pages::new(store, format!("{}/", VideoActor::KIND));
    while let Some(page) = videos.next().await? {
        let mut changes = Vec::with_capacity(page.len());
        for (key, v) in &page {
            let Ok(s) = codec::decode::<VideoState>(VideoActor::SCHEMA, &v.value) else {
                tracing::warn!(%key, "catalogue: an unreadable video state was skipped");
                continue;
            };
            if s.deleting {
                changes.push(Change::Deleted(s.id));
            } else {
                alive.insert(s.id);
                changes.push(Change::Video(Box::new(s.view())));
            }
        }
        let n = catalogue
            .inner
            .rebuilt
            .fetch_add(page.len() as u64, std::sync::atomic::Ordering::Relaxed)
            + page.len() as u64;
        catalogue.apply_batch(changes).await;
        metrics::gauge!("troupe_catalogue_rebuild_videos_read").set(n as f64);
        if n >= next_progress {
            tracing::info!(
                videos = n,
                secs = started.elapsed().as_secs_f64(),
                "catalogue: {} videos read",
                if from_empty {
                    "rebuilding,"
                } else {
                    "reconciling,"
                }
            );
            next_progress += PROGRESS_EVERY;
        }
    }
    let counter_prefix = format!("{}/", CounterActor::KIND);
    let mut counters = Pages::new(store, counter_prefix.clone());
    while let Some(page) = counters.next().await? {
        let mut changes = Vec::with_capacity(page.len());
        for (key, v) in &page {
            let Some(id) = key
                .strip_prefix(&counter_prefix)
                .and_then(|k| k.parse::<Uuid>().ok())
            else {
                continue;
            };
            let Ok(s) = codec::decode::<CounterState>(CounterActor::SCHEMA, &v.value) else {
                continue;
            };
            if !alive.contains(&id) {
                continue;
            }
            catalogue.set_views(id, s.buckets(), s.counts());
            changes.push(Change::Counts(id, s.counts()));
        }
        catalogue.apply_batch(changes).await;
    }
    let gone = if from_empty {
        0
    } else {
        sweep(catalogue, store, alive.clone()).await?
    };
    catalogue.mark_in_line();
    catalogue.commit().await;
    catalogue.set_ready();
    tracing::info!(
        videos = alive.len(),
        gone,
        secs = started.elapsed().as_secs_f64(),
        "catalogue: {} done",
        if from_empty { "rebuild" } else { "reconcile" }
    );
    Ok(())
}

/// Marks deleted what the index holds live but the scan did not see and the store, read
/// now, does not hold either (or holds as being deleted); how many.
async fn sweep(
    catalogue: &Catalogue,
    store: &dyn StateStore,
    seen: HashSet<Uuid>,
) -> Result<usize, String> {
    let candidates = catalogue.unseen(seen).await;
    let mut gone = Vec::new();
    let mut reads = futures::stream::iter(candidates)
        .map(|id| async move {
            let got = store
                .get(&format!("{}/{id}", VideoActor::KIND))
                .await
                .map_err(|e| e.to_string())?;
            let absent = match got {
                None => true,
                Some(v) => codec::decode::<VideoState>(VideoActor::SCHEMA, &v.value)
                    .map(|s| s.deleting)
                    .unwrap_or(false),
            };
            Ok::<_, String>((id, absent))
        })
        .buffer_unordered(PARALLEL_READS);
    while let Some(read) = reads.next().await {
        let (id, absent) = read?;
        if absent {
            gone.push(Change::Deleted(id));
        }
    }
    let n = gone.len();
    catalogue.apply_batch(gone).await;
    Ok(n)
}

/// The keys under a prefix with their values, a page of [`PAGE`] at a time, in key order.
struct Pages<'a> {
    store: &'a dyn StateStore,
    prefix: String,
    after: Option<String>,
    done: bool,
}

impl<'a> Pages<'a> {
    fn new(store: &'a dyn StateStore, prefix: String) -> Self {
        Self {
            store,
            prefix,
            after: None,
            done: false,
        }
    }

    /// The next page; `None` once the prefix is read.
    async fn next(&mut self) -> Result<Option<Vec<(String, Versioned)>>, String> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .store
            .scan_page(&self.prefix, self.after.as_deref(), PAGE)
            .await
            .map_err(|e| e.to_string())?;
        self.done = page.len() < PAGE;
        match page.last() {
            Some((last, _)) => self.after = Some(last.clone()),
            None => return Ok(None),
        }
        Ok(Some(page))
    }
}
