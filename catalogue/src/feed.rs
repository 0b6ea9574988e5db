//! The cluster's change log: how every node's replica of the index hears of changes made by
//! actors on other nodes.
//!
//! Each node batches the changes of its own actors and writes one blob per batch to the
//! shared bucket, under `catalogue-log/<node>/<ms>-<seq>.json`, every `interval`. Every node
//! lists the other nodes' logs from where it last read (S3 lists keys in order) and applies
//! what is new. A change carries the video's version, so replaying one twice, or an older
//! one late, changes nothing. Each node deletes its own batches after `retention`; a node
//! that was away longer catches up by reconciling with the actors' state at start, as every
//! node does.
//!
//! Nothing here is consensus: there is one writer per log (the node), the bucket orders
//! each log, and versions order each video.

use crate::{Catalogue, Change};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use troupe_actors::events::{Counts, ViewBuckets};
use troupe_runtime::blob::BlobStore;
use uuid::Uuid;

/// Where the logs live in the bucket.
pub const PREFIX: &str = "catalogue-log";

/// One entry of a batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Record {
    /// A change of the index.
    Change(Change),
    /// A video's views over time (for trending).
    Views(Uuid, ViewBuckets, Counts),
}

/// The changes of this node's actors, waiting to be shipped.
#[derive(Clone, Default)]
pub struct Outbox {
    buf: Arc<Mutex<Vec<Record>>>,
}

impl Outbox {
    /// Queues a change.
    pub fn push(&self, change: Change) {
        self.buf
            .lock()
            .expect("outbox lock")
            .push(Record::Change(change));
    }

    /// Queues new counts and views over time.
    pub fn push_counts(&self, id: Uuid, counts: Counts, views: ViewBuckets) {
        let mut b = self.buf.lock().expect("outbox lock");
        b.push(Record::Change(Change::Counts(id, counts)));
        b.push(Record::Views(id, views, counts));
    }

    fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *self.buf.lock().expect("outbox lock"))
    }

    fn put_back(&self, mut records: Vec<Record>) {
        let mut b = self.buf.lock().expect("outbox lock");
        records.append(&mut b);
        *b = records;
    }
}

/// Starts shipping this node's changes and following the other nodes' logs.
pub fn start(
    catalogue: Catalogue,
    blobs: BlobStore,
    node: String,
    interval: Duration,
    retention: Duration,
) {
    let outbox = Outbox::default();
    catalogue.ship_to(outbox.clone());
    let started_ms = chrono::Utc::now().timestamp_millis();
    tokio::spawn(ship(
        outbox,
        blobs.clone(),
        node.clone(),
        interval,
        retention,
    ));
    tokio::spawn(follow(catalogue, blobs, node, interval, started_ms));
}

fn batch_key(node: &str, ms: i64, seq: u64) -> String {
    format!("{PREFIX}/{node}/{ms:013}-{seq:010}.json")
}

fn key_ms(key: &str) -> Option<i64> {
    key.rsplit('/').next()?.split('-').next()?.parse().ok()
}

async fn ship(
    outbox: Outbox,
    blobs: BlobStore,
    node: String,
    interval: Duration,
    retention: Duration,
) {
    let mut seq = 0u64;
    let mut last_ms = 0i64;
    let mut tick = tokio::time::interval(interval);
    let mut last_cleanup = std::time::Instant::now();
    loop {
        tick.tick().await;
        let records = outbox.take();
        if !records.is_empty() {
            // Keys only grow, even if the clock steps back: readers list from the last one.
            let ms = chrono::Utc::now().timestamp_millis().max(last_ms);
            let key = batch_key(&node, ms, seq);
            let body = serde_json::to_vec(&records).unwrap_or_default();
            match blobs.put(&key, body.into()).await {
                Ok(()) => {
                    seq += 1;
                    last_ms = ms;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "catalogue: shipping changes failed; retrying");
                    outbox.put_back(records);
                }
            }
        }
        if last_cleanup.elapsed() > Duration::from_secs(30) {
            last_cleanup = std::time::Instant::now();
            let cutoff = chrono::Utc::now().timestamp_millis() - retention.as_millis() as i64;
            if let Ok(keys) = blobs.list(&format!("{PREFIX}/{node}")).await {
                for k in keys
                    .iter()
                    .filter(|k| key_ms(k).is_some_and(|ms| ms < cutoff))
                {
                    let _ = blobs.delete(k).await;
                }
            }
        }
    }
}

async fn follow(
    catalogue: Catalogue,
    blobs: BlobStore,
    me: String,
    interval: Duration,
    started_ms: i64,
) {
    // Where each other node's log was last read. A log first seen is read from a little
    // before this node started: what came earlier, the start's reconcile read from the
    // actors' state.
    let mut read: HashMap<String, String> = HashMap::new();
    let mut tick = tokio::time::interval(interval);
    let mut n = 0u64;
    loop {
        tick.tick().await;
        if n.is_multiple_of(20) {
            if let Ok(keys) = blobs.list(PREFIX).await {
                for k in keys {
                    if let Some(node) = k.split('/').nth(1) {
                        if node != me && !read.contains_key(node) {
                            read.insert(node.to_owned(), batch_key(node, started_ms - 30_000, 0));
                        }
                    }
                }
            }
        }
        n += 1;
        for (node, last) in read.iter_mut() {
            let Ok(keys) = blobs.list_after(&format!("{PREFIX}/{node}"), last).await else {
                continue;
            };
            for k in keys {
                match blobs.get(&k).await {
                    Ok(bytes) => {
                        if let Ok(records) = serde_json::from_slice::<Vec<Record>>(&bytes) {
                            for r in records {
                                match r {
                                    Record::Change(c) => catalogue.apply(c),
                                    Record::Views(id, v, c) => catalogue.set_views(id, v, c),
                                }
                            }
                        }
                        *last = k;
                    }
                    // Deleted meanwhile (retention): skip it.
                    Err(troupe_runtime::blob::BlobError::NotFound(_)) => *last = k,
                    Err(_) => break,
                }
            }
        }
    }
}
