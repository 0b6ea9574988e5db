//! Durable actor state: the [`StateStore`] trait and its backends.
//!
//! An actor's state is one value under one key (see [`crate::ActorId::storage_key`]). Every
//! write is conditional on the version the writer last saw (an [`Etag`]), which is how a stale
//! activation is fenced off: its write fails with [`StoreError::Conflict`] and it stops.
//!
//! **What an `Ok` means.** When [`StateStore::put`] or [`StateStore::delete`] returns `Ok`, the
//! change survives `kill -9` of the process. The sled backend gets there with group commit:
//! writes land in sled's memory at once, and the caller then waits for the next flush, which
//! covers every write made before it started. Concurrent writers therefore share one fsync.
//!
//! Backends: [`SledStore`] (the default, one node), [`ObjectStateStore`] (S3-compatible
//! shared storage, for the cluster) and [`MemoryStore`] (tests, benchmarks).
//! Both pass the same [`conformance`] suite.

mod memory;
mod object;
mod sled_store;

pub mod conformance;

pub use memory::MemoryStore;
pub use object::ObjectStateStore;
pub use sled_store::SledStore;

use async_trait::async_trait;
use std::fmt;

/// An opaque version of a stored value. It changes on every write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Etag(pub String);

impl fmt::Display for Etag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored value with the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The version of `value`; pass it back as [`Precondition::Matches`] to update it.
    pub etag: Etag,
    /// The stored bytes, as the writer gave them (see [`crate::codec`]).
    pub value: Vec<u8>,
}

/// The condition a write must meet to be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Apply whatever is stored.
    None,
    /// Apply only if nothing is stored under the key.
    Absent,
    /// Apply only if the stored value still has this version.
    Matches(Etag),
}

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The precondition did not hold: somebody else wrote the key since it was read.
    #[error("precondition failed: the value changed since it was read")]
    Conflict,
    /// The backend could not do the operation (I/O error, full disk...).
    #[error("state store I/O error: {0}")]
    Io(String),
    /// The backend is not reachable now; the operation may succeed later.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// A stored value is not what this store wrote.
    #[error("corrupt stored value under {key}: {reason}")]
    Corrupt {
        /// The key of the bad value.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Durable, versioned key-value storage for actor state.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// Reads the value under `key`, with its version.
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError>;

    /// Writes `value` under `key` if `condition` holds, and returns the new version once the
    /// write is durable.
    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        condition: Precondition,
    ) -> Result<Etag, StoreError>;

    /// Removes `key` if `condition` holds, durably. Removing a missing key with
    /// [`Precondition::None`] is not an error.
    async fn delete(&self, key: &str, condition: Precondition) -> Result<(), StoreError>;

    /// Every key that starts with `prefix`, with its value, in key order.
    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError>;

    /// Up to `limit` keys that start with `prefix` and sort after `after` (from the first key
    /// when `None`), with their values, in key order: a scan in pages, so that walking a
    /// large prefix never holds all of it in memory. Backends that can seek override this.
    async fn scan_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Versioned)>, StoreError> {
        Ok(self
            .scan_prefix(prefix)
            .await?
            .into_iter()
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .take(limit)
            .collect())
    }

    /// Like [`StateStore::scan_page`], but only the keys: on a bucket a listing answers a
    /// thousand names per request, while each value is one more request. For keys whose
    /// name is all that matters (the catalogue's journal notes).
    async fn scan_keys(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .scan_page(prefix, after, limit)
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// Makes every write so far durable. `put` and `delete` already wait for this; shutdown
    /// calls it once more for good measure.
    async fn flush(&self) -> Result<(), StoreError>;

    /// A short name of the backend, for logs and `/readyz`.
    fn backend(&self) -> &'static str;
}

/// Checks `condition` against the version currently stored (`None` when the key is absent).
pub(crate) fn condition_holds(condition: &Precondition, current: Option<&Etag>) -> bool {
    match (condition, current) {
        (Precondition::None, _) => true,
        (Precondition::Absent, None) => true,
        (Precondition::Absent, Some(_)) => false,
        (Precondition::Matches(want), Some(have)) => want == have,
        (Precondition::Matches(_), None) => false,
    }
}
