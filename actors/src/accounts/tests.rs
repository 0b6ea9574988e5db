//! Account flows against the real runtime and a real sled store.

use super::*;
use troupe_runtime::store::{SledStore, StateStore};

const PW: &str = "violet-harbor-cinnamon-42";

async fn accounts(policy: AccountsPolicy) -> (Accounts, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let a = Accounts::start(
        &troupe_runtime::System::new(store, troupe_runtime::RuntimeConfig::default()),
        policy,
    )
    .await
    .unwrap();
    (a, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_user_is_admin_and_the_next_is_not() {
    let (a, _d) = accounts(AccountsPolicy::default()).await;
    let first = a.register("Alice", "alice@example.org", PW).await.unwrap();
    let second = a.register("bob", "bob@example.org", PW).await.unwrap();
    assert_eq!((first.role, second.role), (Role::Admin, Role::User));
    assert_eq!(first.username, "Alice");
    assert_eq!(first.plan, Plan::Free);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_emails_are_unique_even_under_races() {
    let (a, _d) = accounts(AccountsPolicy::default()).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            a.register("carol", &format!("carol{i}@example.org"), PW)
                .await
        }));
    }
    let results: Vec<_> = futures::future::join_all(tasks).await;
    let ok = results
        .iter()
        .filter(|r| r.as_ref().unwrap().is_ok())
        .count();
    assert_eq!(ok, 1);
    for r in &results {
        if let Err(e) = r.as_ref().unwrap() {
            assert!(matches!(e, AccountError::UsernameTaken), "{e:?}");
        }
    }
    // The losers gave their email claims back.
    let winner_email = results
        .iter()
        .find_map(|r| r.as_ref().unwrap().as_ref().ok())
        .unwrap()
        .email
        .clone();
    for i in 0..8 {
        let email = format!("carol{i}@example.org");
        if email != winner_email {
            a.register(&format!("other{i}"), &email, PW).await.unwrap();
        }
    }
    let taken = a.register("dave", &winner_email.to_uppercase(), PW).await;
    assert!(matches!(taken, Err(AccountError::EmailTaken)), "{taken:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failures_lock_the_account_and_the_lock_expires() {
    let policy = AccountsPolicy {
        lockout: Duration::from_millis(600),
        ..Default::default()
    };
    let (a, _d) = accounts(policy).await;
    a.register("erin", "erin@example.org", PW).await.unwrap();
    for _ in 0..5 {
        assert!(matches!(
            a.login("erin", "wrong password").await,
            Err(AccountError::InvalidCredentials)
        ));
    }
    assert!(matches!(
        a.login("erin", PW).await,
        Err(AccountError::InvalidCredentials)
    ));
    tokio::time::sleep(Duration::from_millis(700)).await;
    a.login("ERIN@example.org", PW).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let (a, _d) = accounts(AccountsPolicy::default()).await;
    a.register("frank", "frank@example.org", PW).await.unwrap();
    let g0 = a.login("frank", PW).await.unwrap();
    let g1 = a.refresh("frank", g0.family, g0.generation).await.unwrap();
    assert_eq!(g1.generation, 1);
    let g2 = a.refresh("frank", g1.family, g1.generation).await.unwrap();
    assert!(matches!(
        a.refresh("frank", g0.family, g0.generation).await,
        Err(AccountError::RefreshReused)
    ));
    // The thief's reuse also kills the legitimate holder's newest token.
    assert!(matches!(
        a.refresh("frank", g2.family, g2.generation).await,
        Err(AccountError::RefreshInvalid)
    ));
    let other = a.login("frank", PW).await.unwrap();
    a.logout("frank", other.family).await.unwrap();
    assert!(matches!(
        a.refresh("frank", other.family, other.generation).await,
        Err(AccountError::RefreshInvalid)
    ));
}

#[test]
fn usernames_and_emails_are_validated() {
    assert_eq!(normalize_username("Alice_1").unwrap(), "alice_1");
    for bad in [
        "ab",
        "-lead",
        "sp ace",
        "é-accent",
        &"x".repeat(33),
        "a/b",
        "..",
    ] {
        assert!(normalize_username(bad).is_err(), "{bad}");
    }
    assert_eq!(normalize_email(" A@B.org ").unwrap(), "a@b.org");
    for bad in [
        "nope",
        "@x.org",
        "a@b",
        "a@.org",
        "a@b.org.",
        "a b@c.org",
        "a@b@c.org",
    ] {
        assert!(normalize_email(bad).is_err(), "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_is_one_at_a_time_one_per_interval_and_fails_after_its_last_start() {
    use export::{ExportRefusal, ExportRequest, ExportResponse, ExportState};
    let (a, _d) = accounts(AccountsPolicy::default()).await;
    let user = Uuid::new_v4();
    let start = |id: Uuid, interval: u64| ExportRequest::Start {
        id,
        user_key: "alice".into(),
        min_interval_secs: interval,
    };
    let record = |r: ExportResponse| match r {
        ExportResponse::Record(r) => r,
        other => panic!("{other:?}"),
    };
    assert!(record(a.export(user, ExportRequest::Get).await.unwrap()).is_none());
    let first = Uuid::new_v4();
    let ExportResponse::Started(Ok(r)) = a.export(user, start(first, 3600)).await.unwrap() else {
        panic!("not started")
    };
    assert_eq!(
        (r.id, r.state, r.attempts),
        (first, ExportState::Pending, 0)
    );
    // A retry of the same request is the same export; another one waits for it.
    let ExportResponse::Started(Ok(again)) = a.export(user, start(first, 3600)).await.unwrap()
    else {
        panic!("a retry is refused")
    };
    assert_eq!(again.id, first);
    match a.export(user, start(Uuid::new_v4(), 3600)).await.unwrap() {
        ExportResponse::Started(Err(ExportRefusal::Pending(p))) => assert_eq!(p.id, first),
        other => panic!("{other:?}"),
    }
    // Three starts of its preparation; the fourth gives up.
    for n in 1..=4 {
        let resume = ExportRequest::Resume {
            id: first,
            max_attempts: 3,
        };
        let r = record(a.export(user, resume).await.unwrap()).unwrap();
        let expected = if n <= 3 {
            ExportState::Pending
        } else {
            ExportState::Failed
        };
        assert_eq!((r.state, r.attempts), (expected, n));
        assert_eq!(r.error.is_some(), n == 4);
    }
    // A failed export does not count against the interval; a ready one does.
    let second = Uuid::new_v4();
    assert!(matches!(
        a.export(user, start(second, 3600)).await.unwrap(),
        ExportResponse::Started(Ok(_))
    ));
    let ready = ExportRequest::Ready {
        id: second,
        blob: "exports/x.json".into(),
        size_bytes: 10,
        expires_at: Utc::now() + chrono::Duration::days(7),
    };
    let r = record(a.export(user, ready).await.unwrap()).unwrap();
    assert_eq!(r.state, ExportState::Ready);
    match a.export(user, start(Uuid::new_v4(), 3600)).await.unwrap() {
        ExportResponse::Started(Err(ExportRefusal::TooSoon(s))) => {
            assert!((3590..=3600).contains(&s), "{s}")
        }
        other => panic!("{other:?}"),
    }
    // A late report about an export that is no longer pending changes nothing.
    let late = ExportRequest::Fail {
        id: second,
        error: "late".into(),
    };
    assert!(record(a.export(user, late).await.unwrap()).is_none());
    // The stored records are listed; forgetting removes them.
    let all = a.exports().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].0, all[0].1.id), (user, second));
    a.export(user, ExportRequest::Forget).await.unwrap();
    assert!(record(a.export(user, ExportRequest::Get).await.unwrap()).is_none());
    assert!(a.exports().await.unwrap().is_empty());
}
