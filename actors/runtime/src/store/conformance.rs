//! The conformance suite every [`StateStore`] backend must pass.
//!
//! Each backend's tests call [`run_all`] on a fresh store. The suite checks the contract the
//! runtime relies on: conditional writes, versions that change on every write, deletes, prefix
//! scans, and that exactly one of many racing conditional writers wins.

use super::{Precondition, StateStore, StoreError};
use std::sync::Arc;

/// Runs every check against `store`, which must be empty. Panics on the first failure.
pub async fn run_all(store: Arc<dyn StateStore>) {
    absent_keys_read_as_none(&*store).await;
    create_only_if_absent(&*store).await;
    update_only_with_the_current_version(&*store).await;
    versions_change_on_every_write(&*store).await;
    deletes_honour_their_condition(&*store).await;
    a_deleted_key_never_reuses_a_version(&*store).await;
    scans_return_exactly_the_prefix_in_order(&*store).await;
    exactly_one_racing_writer_wins(store.clone()).await;
    store.flush().await.expect("flush");
}

async fn absent_keys_read_as_none(store: &dyn StateStore) {
    assert_eq!(store.get("c/absent").await.unwrap(), None);
}

async fn create_only_if_absent(store: &dyn StateStore) {
    let e = store
        .put("c/create", b"one".to_vec(), Precondition::Absent)
        .await
        .unwrap();
    let again = store
        .put("c/create", b"two".to_vec(), Precondition::Absent)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    let got = store.get("c/create").await.unwrap().unwrap();
    assert_eq!(got.value, b"one");
    assert_eq!(got.etag, e);
}

async fn update_only_with_the_current_version(store: &dyn StateStore) {
    let e1 = store
        .put("c/update", b"v1".to_vec(), Precondition::None)
        .await
        .unwrap();
    let e2 = store
        .put(
            "c/update",
            b"v2".to_vec(),
            Precondition::Matches(e1.clone()),
        )
        .await
        .unwrap();
    let stale = store
        .put("c/update", b"v3".to_vec(), Precondition::Matches(e1))
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict)));
    let missing = store
        .put(
            "c/update-missing",
            b"x".to_vec(),
            Precondition::Matches(e2.clone()),
        )
        .await;
    assert!(matches!(missing, Err(StoreError::Conflict)));
    let got = store.get("c/update").await.unwrap().unwrap();
    assert_eq!((got.value.as_slice(), got.etag), (&b"v2"[..], e2));
}

async fn versions_change_on_every_write(store: &dyn StateStore) {
    let mut seen = std::collections::HashSet::new();
    for i in 0..20u8 {
        let e = store
            .put("c/versions", vec![i], Precondition::None)
            .await
            .unwrap();
        assert!(seen.insert(e), "a version was reused");
    }
}

async fn deletes_honour_their_condition(store: &dyn StateStore) {
    let e = store
        .put("c/delete", b"x".to_vec(), Precondition::None)
        .await
        .unwrap();
    let wrong = store
        .delete(
            "c/delete",
            Precondition::Matches(super::Etag("nope".into())),
        )
        .await;
    assert!(matches!(wrong, Err(StoreError::Conflict)));
    store
        .delete("c/delete", Precondition::Matches(e))
        .await
        .unwrap();
    assert_eq!(store.get("c/delete").await.unwrap(), None);
    store.delete("c/delete", Precondition::None).await.unwrap();
}

async fn a_deleted_key_never_reuses_a_version(store: &dyn StateStore) {
    let old = store
        .put("c/aba", b"a".to_vec(), Precondition::Absent)
        .await
        .unwrap();
    store.delete("c/aba", Precondition::None).await.unwrap();
    store
        .put("c/aba", b"b".to_vec(), Precondition::Absent)
        .await
        .unwrap();
    let stale = store
        .put("c/aba", b"c".to_vec(), Precondition::Matches(old))
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
}

async fn scans_return_exactly_the_prefix_in_order(store: &dyn StateStore) {
    for k in ["s/b", "s/a", "s/c", "sx/a", "r/a"] {
        store
            .put(k, k.as_bytes().to_vec(), Precondition::None)
            .await
            .unwrap();
    }
    let keys: Vec<String> = store
        .scan_prefix("s/")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(v.value, k.as_bytes());
            k
        })
        .collect();
    assert_eq!(keys, ["s/a", "s/b", "s/c"]);
    let page = |after: Option<&'static str>, limit| async move {
        store
            .scan_page("s/", after, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    };
    assert_eq!(page(None, 2).await, ["s/a", "s/b"]);
    assert_eq!(page(Some("s/b"), 2).await, ["s/c"]);
    assert_eq!(page(Some("s/c"), 2).await, Vec::<String>::new());
    assert_eq!(page(Some("a"), 1).await, ["s/a"]);
    // Keys alone, paged the same way.
    let keys = |after: Option<&'static str>, limit| async move {
        store.scan_keys("s/", after, limit).await.unwrap()
    };
    assert_eq!(keys(None, 2).await, ["s/a", "s/b"]);
    assert_eq!(keys(Some("s/b"), 2).await, ["s/c"]);
    assert_eq!(keys(Some("s/c"), 2).await, Vec::<String>::new());
}

async fn exactly_one_racing_writer_wins(store: Arc<dyn StateStore>) {
    let base = store
        .put("c/race", b"base".to_vec(), Precondition::None)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..32u8 {
        let store = store.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            store
                .put("c/race", vec![i], Precondition::Matches(base))
                .await
                .is_ok()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(
        winners, 1,
        "conditional writes must have exactly one winner"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, SledStore};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_memory_store_conforms() {
        run_all(Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sled_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        run_all(Arc::new(SledStore::open(dir.path()).unwrap())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sled_writes_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            store
                .put("k/1", b"kept".to_vec(), Precondition::None)
                .await
                .unwrap();
        }
        // sled releases its lock when the last handle (the flusher's) is dropped; give the
        // flusher task a moment to notice its channel closed.
        let store = loop {
            match SledStore::open(dir.path()) {
                Ok(s) => break s,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        assert_eq!(store.get("k/1").await.unwrap().unwrap().value, b"kept");
    }
}
