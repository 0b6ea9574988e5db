//! An in-memory [`StateStore`] for tests and benchmarks. Nothing survives the process.

use super::{condition_holds, Etag, Precondition, StateStore, StoreError, Versioned};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A [`StateStore`] that keeps everything in a map. Its versions are a global write counter.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_version: u64,
    values: BTreeMap<String, (u64, Vec<u8>)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn etag(version: u64) -> Etag {
    Etag(version.to_string())
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let inner = self.inner.lock().expect("memory store lock");
        Ok(inner.values.get(key).map(|(v, bytes)| Versioned {
            etag: etag(*v),
            value: bytes.clone(),
        }))
    }

    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        condition: Precondition,
    ) -> Result<Etag, StoreError> {
        let mut inner = self.inner.lock().expect("memory store lock");
        let current = inner.values.get(key).map(|(v, _)| etag(*v));
        if !condition_holds(&condition, current.as_ref()) {
            return Err(StoreError::Conflict);
        }
        inner.next_version += 1;
        let version = inner.next_version;
        inner.values.insert(key.to_owned(), (version, value));
        Ok(etag(version))
    }

    async fn delete(&self, key: &str, condition: Precondition) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("memory store lock");
        let current = inner.values.get(key).map(|(v, _)| etag(*v));
        if !condition_holds(&condition, current.as_ref()) {
            return Err(StoreError::Conflict);
        }
        inner.values.remove(key);
        Ok(())
    }

    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        let inner = self.inner.lock().expect("memory store lock");
        Ok(inner
            .values
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, (v, bytes))| {
                (
                    k.clone(),
                    Versioned {
                        etag: etag(*v),
                        value: bytes.clone(),
                    },
                )
            })
            .collect())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
