//! Bringing the index in line with the actors' stored state: a rebuild from nothing, or a
//! reconcile of an index that may have missed changes (a crash before its last commit).

use crate::{Catalogue, Change};
use std::collections::HashSet;
use std::time::Instant;
use troupe_actors::media::video::{VideoActor, VideoState};
use troupe_actors::playback::counter::{CounterActor, CounterState};
use troupe_runtime::store::{StateStore, Versioned};
use troupe_runtime::{codec, Entity};
use uuid::Uuid;

/// Videos read per page of the store.
const PAGE: usize = 2_000;
/// A progress line every this many videos.
const PROGRESS_EVERY: u64 = 50_000;

/// Reads every video and counter from `store` and applies what the index lacks; with
/// `from_empty`, queries answer "rebuilding" until it is done. Videos the index holds but
/// the store does not are marked deleted.
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
        catalogue.sweep(alive.clone()).await
    };
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
