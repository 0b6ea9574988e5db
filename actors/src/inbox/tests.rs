//! The inbox against the real runtime and a real sled store: the bounded history across
//! sealed pages, stable cursors, filters, read marks and idempotent ids, also after the
//! activation is gone (a new system on the same store).

use super::*;
use std::sync::Arc;
use troupe_runtime::store::{SledStore, StateStore};

async fn notifier(store: Arc<dyn StateStore>, history: u64) -> Notifier {
    Notifier::start(
        &troupe_runtime::System::new(store, troupe_runtime::RuntimeConfig::default()),
        NotifierSettings {
            history,
            ..NotifierSettings::default()
        },
    )
    .await
    .unwrap()
}

fn note(i: usize) -> Notification {
    let kind = if i.is_multiple_of(3) {
        NotificationKind::NewSubscriber
    } else {
        NotificationKind::MyVideoReady
    };
    Notification {
        id: format!("n{i}"),
        kind,
        created_at: chrono::Utc::now(),
        read: false,
        video: None,
        channel: None,
        actor: Some(NotifiedUser {
            username: format!("user{i}"),
        }),
        reason: None,
        report: None,
        comment: None,
    }
}

/// Every id in the inbox, newest first, paging with `limit` and the given filters.
async fn all_ids(n: &Notifier, user: Uuid, limit: usize, unread_only: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = n
            .list(
                user,
                ListQuery {
                    unread_only,
                    kind: None,
                    before,
                    limit,
                },
            )
            .await
            .unwrap();
        out.extend(page.items.into_iter().map(|i| i.id));
        match page.next {
            Some(c) => before = Some(c),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_keeps_the_newest_history_across_pages_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let user = Uuid::new_v4();
    let history = 150;
    let n = notifier(store.clone(), history).await;
    for i in 0..400 {
        assert_eq!(n.deliver(user, note(i)).await.unwrap(), Delivered::Stored);
        // Every delivery twice: stored once.
        assert_eq!(
            n.deliver(user, note(i)).await.unwrap(),
            Delivered::Duplicate
        );
    }
    let expected: Vec<String> = (250..400).rev().map(|i| format!("n{i}")).collect();
    assert_eq!(all_ids(&n, user, 7, false).await, expected);
    assert_eq!(n.unread(user).await.unwrap(), 150);

    // A cursor does not move when new notifications arrive.
    let first = n
        .list(
            user,
            ListQuery {
                limit: 10,
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
    n.deliver(user, note(400)).await.unwrap();
    let second = n
        .list(
            user,
            ListQuery {
                limit: 10,
                before: first.next,
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(second.items[0].id, "n389");

    // Read marks: some ids (one unknown), then a type filter.
    let unread = n
        .mark_read(
            user,
            Some(vec!["n399".into(), "n300".into(), "nope".into()]),
        )
        .await
        .unwrap();
    assert_eq!(unread, 148);
    let subs = n
        .list(
            user,
            ListQuery {
                kind: Some(NotificationKind::NewSubscriber),
                limit: 100,
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(subs
        .items
        .iter()
        .all(|i| i.kind == NotificationKind::NewSubscriber));
    assert_eq!(subs.items.len(), 50, "ids 251..=400 divisible by 3");
    assert!(subs.items.iter().any(|i| i.id == "n300" && i.read));

    // A fresh system on the same store reads the same inbox, pages included.
    drop(n);
    let n = notifier(store, history).await;
    let unread_ids = all_ids(&n, user, 33, true).await;
    assert_eq!(unread_ids.len(), 148);
    assert!(!unread_ids.contains(&"n300".to_owned()));
    assert_eq!(n.mark_read(user, None).await.unwrap(), 0);
    assert_eq!(all_ids(&n, user, 100, true).await, Vec::<String>::new());
    assert_eq!(all_ids(&n, user, 100, false).await.len(), 150);
    // An id still held is a duplicate after the restart too.
    assert_eq!(
        n.deliver(user, note(399)).await.unwrap(),
        Delivered::Duplicate
    );
}
