//! The change journal: a durable note, in the state store itself, of every video and
//! counter state written, so that a restart catches up from what changed since the index's
//! last commit instead of reading every video.
//!
//! [`Journaled`] wraps the actors' [`StateStore`]. Before a write (or delete) of a `video/`
//! or `counter/` key it writes `catalogue-journal/<s>-<kind>-<id>` (`<s>` the Unix second,
//! 11 digits, so keys sort by time), and only then the state. So a write that was
//! acknowledged always has its note, on sled and on the bucket alike; a note without its
//! write (a crash in between) only makes the catch-up read one video for nothing. On sled
//! both writes share one flush (the note is applied first; a flush covers every write
//! applied before it started, and sled recovers a prefix of its log). On the bucket the
//! note is written first, then the state: one more small PUT per video or counter write.
//!
//! In a cluster every node writes its notes to the shared bucket, so a node that restarts
//! also finds what the other nodes changed while it was down. Notes older than the
//! retention are removed by [`trim`]; a node whose index is older than that reads
//! everything instead (see [`crate::rebuild::bring_in_line`]).

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use troupe_runtime::store::{Etag, Precondition, StateStore, StoreError, Versioned};

/// The journal's kind (key prefix) in the state store.
pub const KIND: &str = "catalogue-journal";

/// Notes read per page while trimming (the scan stops at the first note to keep).
const TRIM_PAGE: usize = 200;

/// The state kinds whose writes are noted.
const NOTED: [&str; 2] = ["video", "counter"];

/// The note's key for a write of `key` at Unix second `s`, or `None` when such writes are
/// not noted.
fn note_key(key: &str, s: i64) -> Option<String> {
    let (kind, id) = key.split_once('/')?;
    NOTED
        .contains(&kind)
        .then(|| format!("{KIND}/{s:011}-{kind}-{id}"))
}

/// The first note key written at or after Unix second `s`.
pub fn key_from(s: i64) -> String {
    format!("{KIND}/{:011}", s.max(0))
}

/// What a note names: its second, kind (`video` or `counter`) and id.
pub fn parse(key: &str) -> Option<(i64, &str, &str)> {
    let rest = key.strip_prefix(KIND)?.strip_prefix('/')?;
    let (s, rest) = rest.split_once('-')?;
    let (kind, id) = rest.split_once('-')?;
    Some((s.parse().ok()?, kind, id))
}

/// A [`StateStore`] that notes every video and counter write in the journal first.
pub struct Journaled {
    inner: Arc<dyn StateStore>,
}

impl Journaled {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn StateStore>) -> Self {
        Self { inner }
    }

    /// Writes the note of `key` (if it is noted) and then `write`, so that the note is
    /// durable no later than the write.
    async fn noted<T>(
        &self,
        key: &str,
        write: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let Some(note) = note_key(key, chrono::Utc::now().timestamp()) else {
            return write.await;
        };
        let noting = self.inner.put(&note, Vec::new(), Precondition::None);
        if self.inner.backend() == "sled" {
            // sled applies a put before its first await (then waits for a flush): polling
            // the note first applies it first, and the two share a flush.
            let (noted, written) = futures::join!(noting, write);
            noted?;
            written
        } else {
            noting.await?;
            write.await
        }
    }
}

#[async_trait]
impl StateStore for Journaled {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(key).await
    }

    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        condition: Precondition,
    ) -> Result<Etag, StoreError> {
        self.noted(key, self.inner.put(key, value, condition)).await
    }

    async fn delete(&self, key: &str, condition: Precondition) -> Result<(), StoreError> {
        self.noted(key, self.inner.delete(key, condition)).await
    }

    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        self.inner.scan_prefix(prefix).await
    }

    async fn scan_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Versioned)>, StoreError> {
        self.inner.scan_page(prefix, after, limit).await
    }

    async fn scan_keys(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.scan_keys(prefix, after, limit).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

/// Removes the notes older than `retention`, every `every`, for as long as the process
/// runs. In a cluster every node trims; removing a note twice is harmless.
pub async fn trim(store: Arc<dyn StateStore>, retention: Duration, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let cutoff = key_from(chrono::Utc::now().timestamp() - retention.as_secs() as i64);
        let mut removed = 0u64;
        let mut after: Option<String> = None;
        'pages: loop {
            let page = match store
                .scan_keys(&format!("{KIND}/"), after.as_deref(), TRIM_PAGE)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "catalogue journal: trimming failed; retrying later");
                    break;
                }
            };
            let full = page.len() == TRIM_PAGE;
            for key in page {
                if key >= cutoff {
                    break 'pages;
                }
                if store.delete(&key, Precondition::None).await.is_ok() {
                    removed += 1;
                }
                after = Some(key);
            }
            if !full {
                break;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "catalogue journal: old notes removed");
        }
        metrics::counter!("troupe_catalogue_journal_trimmed_total").increment(removed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_sort_by_time_and_name_what_changed() {
        let k = note_key("video/0190a1b2-0000-7000-8000-000000000001", 1_700_000_000).unwrap();
        assert_eq!(
            parse(&k),
            Some((
                1_700_000_000,
                "video",
                "0190a1b2-0000-7000-8000-000000000001"
            ))
        );
        assert!(key_from(1_699_999_999) < k && k < key_from(1_700_000_001));
        assert!(note_key("user/alice", 1).is_none());
        assert!(note_key("tally/x", 1).is_none());
    }
}
