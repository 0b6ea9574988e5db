//! A [`StateStore`] on `object_store`: the shared, durable state of a cluster (S3, MinIO,
//! Garage, R2...), with compare-and-swap through ETag-conditional puts.
//!
//! Layout: `<root>/<kind>/<escaped key>`, one object per actor. Each object is
//! `[flag][nonce: 16 bytes][value]`:
//! - The random nonce makes every write's ETag unique. S3 ETags are content MD5s, so without it
//!   rewriting identical bytes would reuse an ETag, and a stale writer holding that ETag could
//!   pass a compare-and-swap it should fail.
//! - `flag` 1 marks a tombstone: a conditional delete is a conditional put of a tombstone,
//!   because S3 has no conditional delete. Reads treat tombstones as absent.
//!
//! An `Ok` from `put` means the object store acknowledged the write, which for S3 means it
//! is durable. Keys are escaped byte by byte (`[A-Za-z0-9._-]` kept, anything else `=XX`),
//! which keeps prefixes, so `scan_prefix` lists `<root>/<kind>/` and filters by name.
//!
//! `LocalFileSystem` does not implement conditional updates, so this backend needs S3 (or
//! `InMemory` in tests).

use super::{condition_holds, Etag, Precondition, StateStore, StoreError, Versioned};
use async_trait::async_trait;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use std::sync::Arc;

const LIVE: u8 = 0;
const TOMBSTONE: u8 = 1;
const HEADER: usize = 17;
/// Values read at once by a page of [`StateStore::scan_page`].
const PARALLEL_GETS: usize = 32;

/// A [`StateStore`] in an object store bucket.
pub struct ObjectStateStore {
    store: Arc<dyn ObjectStore>,
    root: String,
}

/// What is stored under a key, tombstones included.
struct Raw {
    etag: Etag,
    tombstone: bool,
    value: Vec<u8>,
}

impl ObjectStateStore {
    /// Keeps state under `root` (e.g. `state`) in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, root: &str) -> Self {
        Self {
            store,
            root: root.trim_matches('/').to_owned(),
        }
    }

    fn path(&self, key: &str) -> Path {
        let (kind, rest) = key.split_once('/').unwrap_or(("_", key));
        Path::from(format!("{}/{}/{}", self.root, escape(kind), escape(rest)))
    }

    async fn read(&self, key: &str) -> Result<Option<Raw>, StoreError> {
        let got = match self.store.get(&self.path(key)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        let etag = got
            .meta
            .e_tag
            .clone()
            .ok_or_else(|| StoreError::Io("the object store returned no ETag".into()))?;
        let bytes = got.bytes().await.map_err(unavailable)?;
        if bytes.len() < HEADER || bytes[0] > TOMBSTONE {
            return Err(StoreError::Corrupt {
                key: key.to_owned(),
                reason: "object lacks troupe's state header".into(),
            });
        }
        Ok(Some(Raw {
            etag: Etag(etag),
            tombstone: bytes[0] == TOMBSTONE,
            value: bytes[HEADER..].to_vec(),
        }))
    }

    async fn write(
        &self,
        key: &str,
        flag: u8,
        value: &[u8],
        mode: PutMode,
    ) -> Result<Etag, StoreError> {
        let mut body = Vec::with_capacity(HEADER + value.len());
        body.push(flag);
        body.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        body.extend_from_slice(value);
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&self.path(key), PutPayload::from(body), opts)
            .await
        {
            Ok(r) => r
                .e_tag
                .map(Etag)
                .ok_or_else(|| StoreError::Io("the object store returned no ETag".into())),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Writes over the current object, whatever it is, if `condition` holds for it.
    async fn conditional(
        &self,
        key: &str,
        flag: u8,
        value: &[u8],
        condition: &Precondition,
    ) -> Result<Etag, StoreError> {
        match condition {
            Precondition::None => self.write(key, flag, value, PutMode::Overwrite).await,
            Precondition::Matches(e) => self.write(key, flag, value, update(e)).await,
            Precondition::Absent => match self.write(key, flag, value, PutMode::Create).await {
                Err(StoreError::Conflict) => match self.read(key).await? {
                    // Absent in all but name: replace the tombstone, if it is still the one.
                    Some(raw) if raw.tombstone => {
                        self.write(key, flag, value, update(&raw.etag)).await
                    }
                    Some(_) => Err(StoreError::Conflict),
                    // Deleted in between: try creating once more.
                    None => self.write(key, flag, value, PutMode::Create).await,
                },
                other => other,
            },
        }
    }
}

fn update(e: &Etag) -> PutMode {
    PutMode::Update(UpdateVersion {
        e_tag: Some(e.0.clone()),
        version: None,
    })
}

fn unavailable(e: object_store::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Escapes a key into characters every object store accepts, byte by byte.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    // "." and ".." are not valid path parts.
    if out.chars().all(|c| c == '.') {
        out = out.replace('.', "=2E");
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        if b == b'=' {
            let hex = [it.next()?, it.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

#[async_trait]
impl StateStore for ObjectStateStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        Ok(self.read(key).await?.and_then(|raw| {
            (!raw.tombstone).then_some(Versioned {
                etag: raw.etag,
                value: raw.value,
            })
        }))
    }

    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        condition: Precondition,
    ) -> Result<Etag, StoreError> {
        self.conditional(key, LIVE, &value, &condition).await
    }

    async fn delete(&self, key: &str, condition: Precondition) -> Result<(), StoreError> {
        match condition {
            Precondition::None => match self.store.delete(&self.path(key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(unavailable(e)),
            },
            Precondition::Absent => {
                let current = self.get(key).await?.map(|v| v.etag);
                if condition_holds(&condition, current.as_ref()) {
                    Ok(())
                } else {
                    Err(StoreError::Conflict)
                }
            }
            Precondition::Matches(_) => self
                .conditional(key, TOMBSTONE, &[], &condition)
                .await
                .map(|_| ()),
        }
    }

    /// Lists from `after` on (S3 lists in key order and can start after a key), then reads
    /// only the page's values. Pages follow the order of the escaped names, which is key order
    /// for keys made of letters, digits, `.`, `_` and `-` (every id).
    async fn scan_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Versioned)>, StoreError> {
        let keys = self.scan_keys(prefix, after, limit).await?;
        // The page's values are read [`PARALLEL_GETS`] at a time, in order: a store's speed
        // is in how many requests it serves at once, not in one request's round trip.
        let gets = futures::StreamExt::map(futures::stream::iter(keys), |key| async move {
            let v = self.get(&key).await?;
            Ok::<_, StoreError>(v.map(|v| (key, v)))
        });
        let reads = futures::StreamExt::buffered(gets, PARALLEL_GETS);
        let out: Vec<Option<(String, Versioned)>> = reads.try_collect().await?;
        Ok(out.into_iter().flatten().collect())
    }

    async fn scan_keys(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let (kind, rest) = prefix.split_once('/').ok_or_else(|| {
            StoreError::Io("object state scans need a `<kind>/` prefix".to_owned())
        })?;
        let dir = Path::from(format!("{}/{}", self.root, escape(kind)));
        let wanted = escape(rest);
        let listing = match after.and_then(|a| a.strip_prefix(&format!("{kind}/"))) {
            Some(a) => self
                .store
                .list_with_offset(Some(&dir), &Path::from(format!("{dir}/{}", escape(a)))),
            None => self.store.list(Some(&dir)),
        };
        // The listing comes in name order: the first `limit` names that qualify are the page,
        // and the rest of the listing is never fetched.
        let qualifying = listing.map_err(unavailable).try_filter_map(|meta| {
            let key = meta
                .location
                .filename()
                .filter(|name| name.starts_with(&wanted))
                .and_then(unescape)
                .map(|k| format!("{kind}/{k}"))
                .filter(|k| after.is_none_or(|a| k.as_str() > a));
            futures::future::ready(Ok(key))
        });
        let mut keys: Vec<String> = futures::StreamExt::take(qualifying, limit)
            .try_collect()
            .await?;
        keys.sort();
        Ok(keys)
    }

    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        let (kind, rest) = prefix.split_once('/').ok_or_else(|| {
            StoreError::Io("object state scans need a `<kind>/` prefix".to_owned())
        })?;
        let dir = Path::from(format!("{}/{}", self.root, escape(kind)));
        let wanted = escape(rest);
        let mut keys: Vec<String> = self
            .store
            .list(Some(&dir))
            .map_ok(|meta| meta.location.filename().unwrap_or_default().to_owned())
            .try_collect::<Vec<_>>()
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter(|name| name.starts_with(&wanted))
            .filter_map(|name| unescape(&name).map(|k| format!("{kind}/{k}")))
            .collect();
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(v) = self.get(&key).await? {
                out.push((key, v));
            }
        }
        Ok(out)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "object"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_and_keeps_prefixes() {
        for k in ["alice", "email:a@b.org", "a/b c", "..", ".", "ü=%~"] {
            let e = escape(k);
            assert!(
                e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-=".contains(&b)),
                "{e}"
            );
            assert_eq!(unescape(&e).as_deref(), Some(k));
        }
        assert!(escape("email:a@b.org").starts_with(&escape("email:")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_object_store_backend_conforms_on_in_memory_object_store() {
        let store = Arc::new(object_store::memory::InMemory::new());
        super::super::conformance::run_all(Arc::new(ObjectStateStore::new(store, "state"))).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rewriting_identical_bytes_still_changes_the_version() {
        let s = ObjectStateStore::new(Arc::new(object_store::memory::InMemory::new()), "state");
        let e1 = s
            .put("k/x", b"same".to_vec(), Precondition::None)
            .await
            .unwrap();
        let e2 = s
            .put("k/x", b"same".to_vec(), Precondition::None)
            .await
            .unwrap();
        assert_ne!(e1, e2);
        let stale = s
            .put("k/x", b"same".to_vec(), Precondition::Matches(e1))
            .await;
        assert!(matches!(stale, Err(StoreError::Conflict)));
    }
}
