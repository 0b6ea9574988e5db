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
//! The outbox is bounded: while the bucket cannot be written, at most [`OUTBOX_MAX`]
//! records wait; past that, new ones are dropped, counted in
//! `troupe_catalogue_outbox_dropped_total` and logged, and the other nodes hear of those
//! changes when they next reconcile. A batch that cannot be encoded or decoded is logged
//! with its key and counted in `troupe_catalogue_log_errors_total` (by `op`); its good
//! records still go through.
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

/// How many records wait to be shipped at most.
pub const OUTBOX_MAX: usize = 100_000;

/// One entry of a batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Record {
    /// A change of the index.
    Change(Change),
    /// A video's views over time (for trending).
    Views(Uuid, ViewBuckets, Counts),
}

/// The changes of this node's actors, waiting to be shipped (at most [`OUTBOX_MAX`]).
#[derive(Clone, Default)]
pub struct Outbox {
    buf: Arc<Mutex<Buffer>>,
}

#[derive(Default)]
struct Buffer {
    records: Vec<Record>,
    /// Records dropped since the outbox was last not full.
    dropped: u64,
}

impl Buffer {
    fn push(&mut self, records: impl IntoIterator<Item = Record>) {
        for r in records {
            if self.records.len() >= OUTBOX_MAX {
                if self.dropped == 0 {
                    tracing::error!(
                        max = OUTBOX_MAX,
                        "catalogue: the change-log outbox is full (the bucket is not taking \
                         batches); dropping changes until it drains: other nodes see them at \
                         their next reconcile"
                    );
                }
                self.dropped += 1;
                metrics::counter!("troupe_catalogue_outbox_dropped_total").increment(1);
            } else {
                self.records.push(r);
            }
        }
        metrics::gauge!("troupe_catalogue_outbox_records").set(self.records.len() as f64);
    }
}

impl Outbox {
    /// Queues a change (dropped and counted when the outbox is full).
    pub fn push(&self, change: Change) {
        self.buf
            .lock()
            .expect("outbox lock")
            .push([Record::Change(change)]);
    }

    /// Queues new counts and views over time.
    pub fn push_counts(&self, id: Uuid, counts: Counts, views: ViewBuckets) {
        self.buf.lock().expect("outbox lock").push([
            Record::Change(Change::Counts(id, counts)),
            Record::Views(id, views, counts),
        ]);
    }

    /// How many records wait.
    pub fn len(&self) -> usize {
        self.buf.lock().expect("outbox lock").records.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn take(&self) -> Vec<Record> {
        let mut b = self.buf.lock().expect("outbox lock");
        if b.dropped > 0 {
            tracing::warn!(
                dropped = b.dropped,
                "catalogue: the change-log outbox drains again"
            );
            b.dropped = 0;
        }
        metrics::gauge!("troupe_catalogue_outbox_records").set(0.0);
        std::mem::take(&mut b.records)
    }

    /// Puts records that could not be shipped back in front, as far as they fit.
    fn put_back(&self, records: Vec<Record>) {
        let mut b = self.buf.lock().expect("outbox lock");
        let newer = std::mem::take(&mut b.records);
        b.push(records.into_iter().chain(newer));
    }
}

/// Encodes a batch. A record that cannot be encoded is logged with the batch's key and
/// the video, counted, and left out; `None` when none can.
fn encode(key: &str, records: &[Record]) -> Option<Vec<u8>> {
    match serde_json::to_vec(records) {
        Ok(body) => return Some(body),
        Err(e) => {
            tracing::error!(batch = key, records = records.len(), error = %e, "catalogue: a change-log batch cannot be encoded; shipping its records one by one")
        }
    }
    let mut good = Vec::with_capacity(records.len());
    for r in records {
        match serde_json::to_value(r) {
            Ok(v) => good.push(v),
            Err(e) => {
                let video = match r {
                    Record::Change(c) => c.id(),
                    Record::Views(id, _, _) => *id,
                };
                tracing::error!(batch = key, %video, error = %e, "catalogue: a change cannot be encoded; left out of the log");
                metrics::counter!("troupe_catalogue_log_errors_total", "op" => "encode")
                    .increment(1);
            }
        }
    }
    if good.is_empty() {
        return None;
    }
    serde_json::to_vec(&good).ok()
}

/// Decodes a batch. A batch that is not a JSON list, or a record that is not a record, is
/// logged with the batch's key and counted; the good records of the batch are returned.
pub fn decode(key: &str, bytes: &[u8]) -> Vec<Record> {
    let values = match serde_json::from_slice::<Vec<serde_json::Value>>(bytes) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(batch = key, bytes = bytes.len(), error = %e, "catalogue: a change-log batch cannot be parsed; skipped");
            metrics::counter!("troupe_catalogue_log_errors_total", "op" => "decode").increment(1);
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.into_iter().enumerate() {
        match serde_json::from_value::<Record>(v) {
            Ok(r) => out.push(r),
            Err(e) => {
                tracing::error!(batch = key, record = i, error = %e, "catalogue: a change-log record cannot be parsed; skipped");
                metrics::counter!("troupe_catalogue_log_errors_total", "op" => "decode")
                    .increment(1);
            }
        }
    }
    out
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
            match encode(&key, &records) {
                None => {}
                Some(body) => match blobs.put(&key, body.into()).await {
                    Ok(()) => {
                        seq += 1;
                        last_ms = ms;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "catalogue: shipping changes failed; retrying");
                        outbox.put_back(records);
                    }
                },
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
                        for r in decode(&k, &bytes) {
                            match r {
                                Record::Change(c) => catalogue.apply(c),
                                Record::Views(id, v, c) => catalogue.set_views(id, v, c),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_that_cannot_be_parsed_is_skipped_and_in_one_that_can_only_the_bad_record() {
        assert!(decode("catalogue-log/a/1-0.json", b"not json").is_empty());
        assert!(decode("catalogue-log/a/1-0.json", b"").is_empty());
        let good =
            serde_json::to_string(&Record::Change(Change::Deleted(Uuid::from_u128(7)))).unwrap();
        let body = format!("[{good}, {{\"Nope\": 1}}, {good}]");
        let out = decode("catalogue-log/a/1-1.json", body.as_bytes());
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(
            |r| matches!(r, Record::Change(Change::Deleted(id)) if *id == Uuid::from_u128(7))
        ));
        let records = vec![Record::Change(Change::Deleted(Uuid::from_u128(8)))];
        let body = encode("catalogue-log/a/1-2.json", &records).unwrap();
        assert_eq!(decode("catalogue-log/a/1-2.json", &body).len(), 1);
    }

    #[test]
    fn the_outbox_holds_at_most_its_bound_and_keeps_the_oldest() {
        let o = Outbox::default();
        for n in 0..OUTBOX_MAX as u128 + 10 {
            o.push(Change::Deleted(Uuid::from_u128(n)));
        }
        assert_eq!(o.len(), OUTBOX_MAX);
        let taken = o.take();
        assert!(o.is_empty());
        assert!(
            matches!(&taken[0], Record::Change(Change::Deleted(id)) if *id == Uuid::from_u128(0))
        );
        // What could not be shipped goes back in front of what came meanwhile, within the
        // bound.
        o.push(Change::Deleted(Uuid::from_u128(u128::MAX)));
        o.put_back(taken);
        assert_eq!(o.len(), OUTBOX_MAX);
        let again = o.take();
        assert!(
            matches!(&again[0], Record::Change(Change::Deleted(id)) if *id == Uuid::from_u128(0))
        );
    }
}
