//! The catalogue across restarts: a reconcile never loses a video created while it runs (on
//! one node, on the shared bucket, on three nodes), a restart with an intact index catches
//! up from the change journal, and a rebuild that fails answers 503 until it can succeed.

use crate::catalogue::{get_json, patch};
use crate::harness::{eventually, problem, Options, TestApp};
use crate::s3::{s3_options, Moto};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use troupe_actors::events::{VideoStatus, Visibility};
use troupe_actors::media::video::{VideoActor, VideoState};
use troupe_actors::playback::counter::{CounterActor, CounterState};
use troupe_runtime::store::{ObjectStateStore, Precondition, StateStore};
use troupe_runtime::{codec, Entity};
use uuid::Uuid;

/// A ready, public video owned by `seeder`, as the video actor stores it.
fn seeded_video(i: usize) -> VideoState {
    let now = chrono::Utc::now();
    VideoState {
        id: Uuid::now_v7(),
        owner: "seeder".into(),
        owner_id: Uuid::from_u128(0x5EED),
        channel_id: Uuid::from_u128(0x5EED),
        channel: "seeder".into(),
        title: format!("Archive reel {i}"),
        description: "From the archive.".into(),
        tags: vec!["archive".into()],
        visibility: Visibility::Public,
        status: VideoStatus::Ready,
        progress: 100.0,
        failure_reason: None,
        renditions: Vec::new(),
        duration_secs: Some(12.0),
        has_poster: false,
        upload: None,
        created_at: now,
        updated_at: now,
        version: 1,
        deleting: false,
        follow_up: Default::default(),
        hidden: None,
    }
}

/// `n` videos, and a counter for every tenth, as (key, encoded state) pairs.
fn seed_entries(n: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n {
        let v = seeded_video(i);
        let id = v.id;
        out.push((
            format!("{}/{id}", VideoActor::KIND),
            codec::encode(VideoActor::SCHEMA, &v).unwrap(),
        ));
        if i % 10 == 0 {
            out.push((
                format!("{}/{id}", CounterActor::KIND),
                codec::encode(CounterActor::SCHEMA, &CounterState::default()).unwrap(),
            ));
        }
    }
    out
}

/// Writes `n` videos (and some counters) straight into a stopped node's sled state store, framed
/// as `SledStore` frames them (`[etag: u64 BE][value]`).
fn seed_sled(data_dir: &std::path::Path, n: usize) {
    let db = sled::Config::new()
        .path(data_dir.join("state"))
        .mode(sled::Mode::LowSpace)
        .open()
        .unwrap();
    let tree = db.open_tree("state").unwrap();
    let mut batch = sled::Batch::default();
    for (key, value) in seed_entries(n) {
        let mut framed = db.generate_id().unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(&value);
        batch.insert(key.as_bytes(), framed);
    }
    tree.apply_batch(batch).unwrap();
    db.flush().unwrap();
}

/// The bucket, as the nodes open it.
fn bucket(moto: &Moto, bucket: &str) -> troupe_runtime::blob::BlobStore {
    use troupe_runtime::blob::{BlobBackend, BlobStore, S3Settings};
    BlobStore::open(&BlobBackend::S3(S3Settings {
        endpoint: moto.endpoint.clone(),
        bucket: bucket.into(),
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        path_style: true,
    }))
    .unwrap()
}

/// The bucket's state store, as the nodes open it.
fn bucket_store(moto: &Moto, name: &str) -> ObjectStateStore {
    ObjectStateStore::new(bucket(moto, name).object_store().clone(), "state")
}

/// Writes `n` videos (and some counters) into the bucket's state store, 64 at a time.
async fn seed_bucket(moto: &Moto, bucket: &str, n: usize) {
    let store = bucket_store(moto, bucket);
    let store = &store;
    futures::stream::iter(seed_entries(n))
        .map(|(key, value)| async move {
            store.put(&key, value, Precondition::None).await.unwrap();
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
}

fn search_path(q: &str) -> String {
    format!("/api/v1/search?q={q}")
}

/// Creates a video titled `title` as `token`; its id.
async fn create(app: &TestApp, token: &str, title: &str) -> String {
    crate::catalogue::create(app, token, json!({ "title": title })).await
}

/// The ids a search finds (200 expected).
async fn found(app: &TestApp, q: &str, token: Option<&str>) -> Option<Vec<String>> {
    let r = app.get(&search_path(q), token).await;
    if r.status() != StatusCode::OK {
        return None;
    }
    let page: Value = r.json().await.ok()?;
    Some(
        page["items"]
            .as_array()?
            .iter()
            .map(|v| v["id"].as_str().unwrap_or_default().to_owned())
            .collect(),
    )
}

/// Creates videos through `via` (round robin, four at a time, each writer pausing `pace`
/// between two creates) until `watched`'s log says its reconcile is done, and a little after;
/// the ids, in creation order, and how many were created before the reconcile ended.
///
/// `pace` leaves a share of moto_server's throughput (it serves some tens of requests per
/// second) to the reconcile, which reads through the same server.
async fn create_while_reconciling(
    via: &[&TestApp],
    watched: &TestApp,
    token: &str,
    pace: Duration,
) -> (Vec<(String, String)>, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let made: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let tasks = (0..4).map(|t| {
        let (stop, made) = (stop.clone(), made.clone());
        let app = via[t % via.len()];
        async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                // One word per video, held by no other: a search for it finds exactly it.
                let word = format!("racer{t}x{i}");
                let r = app
                    .request(
                        Method::POST,
                        "/api/v1/videos",
                        Some(token),
                        Some(json!({ "title": format!("Reconcile race {word}") })),
                    )
                    .await;
                match r.status() {
                    StatusCode::CREATED => {
                        let id = r.json::<Value>().await.unwrap()["id"]
                            .as_str()
                            .unwrap()
                            .to_owned();
                        made.lock().unwrap().push((word, id));
                        i += 1;
                        tokio::time::sleep(pace).await;
                    }
                    // A cluster member coming back: placement is settling. Not created.
                    StatusCode::SERVICE_UNAVAILABLE => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    s => panic!("{s}: {}", r.text().await.unwrap()),
                }
            }
        }
    });
    let watch = async {
        eventually(Duration::from_secs(300), || async {
            watched
                .logs()
                .contains("catalogue: reconcile done")
                .then_some(())
        })
        .await;
        let before = made.lock().unwrap().len();
        // Some more right after the sweep, while the writer may still be committing.
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        before
    };
    let (_, before) = tokio::join!(futures::future::join_all(tasks), watch);
    let made = made.lock().unwrap().clone();
    (made, before)
}

/// Every video in `made` is found on `on` by its own word (waiting up to `wait` for the last
/// ones to arrive).
async fn all_searchable(on: &TestApp, token: &str, made: &[(String, String)], wait: Duration) {
    for (word, id) in made {
        // Found (with, for a prefix or a typo of it, other racers' videos).
        eventually(wait, || async {
            found(on, word, Some(token))
                .await
                .filter(|ids| ids.contains(id))
        })
        .await;
    }
}

/// Settings of the race tests: the journal off, so that every start reconciles with every
/// video (the path where the race lived).
fn reconciling(o: Options) -> Options {
    o.env("TROUPE__CATALOGUE__JOURNAL_RETENTION_SECS", "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn videos_created_while_20000_are_reconciled_are_all_searchable_afterwards() {
    let app = TestApp::spawn(reconciling(Options::default())).await;
    let alice = app.user("alice").await;
    let mut app = app;
    app.terminate_wait_after_sigterm().await;
    seed_sled(&app.data_dir, 20_000);

    let app = app.restart().await;
    let (made, before) = create_while_reconciling(&[&app], &app, &alice, Duration::ZERO).await;
    assert!(
        before > 0,
        "no video was created while the reconcile ran; the test proves nothing"
    );
    let logs = app.logs();
    let done = logs
        .lines()
        .find(|l| l.contains("catalogue: reconcile done"))
        .unwrap();
    let seen: usize = done
        .split("\"videos\":")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(seen >= 20_000, "{done}");
    all_searchable(&app, &alice, &made, Duration::from_secs(10)).await;
    // And the seeded ones are all there.
    let page = get_json(&app, "/api/v1/search?q=archive&limit=1", None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn videos_created_while_the_bucket_is_reconciled_are_all_searchable_afterwards() {
    let moto = Moto::start().await;
    moto.create_bucket("troupe").await;
    let options = reconciling(s3_options(&moto, "troupe").env("TROUPE__STATE__BACKEND", "s3"));
    let app = TestApp::spawn(options).await;
    let alice = app.user("alice").await;
    let mut app = app;
    app.terminate_wait_after_sigterm().await;
    seed_bucket(&moto, "troupe", 2_000).await;

    let app = app.restart().await;
    let (made, before) = create_while_reconciling(&[&app], &app, &alice, Duration::ZERO).await;
    assert!(before > 0, "no video was created while the reconcile ran");
    all_searchable(&app, &alice, &made, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_three_nodes_videos_created_elsewhere_while_one_reconciles_are_all_searchable_there() {
    use crate::cluster::{Cluster, Spec};
    let mut c = Cluster::start_with_env(
        Spec {
            nodes: 3,
            proxied: false,
        },
        &[("TROUPE__CATALOGUE__JOURNAL_RETENTION_SECS", "0".into())],
    )
    .await;
    let alice = c.nodes[0].user("alice").await;
    c.wait_all_up(&alice).await;
    seed_bucket(&c.moto, "troupe", 500).await;

    // Node 0 restarts on its own data dir: its index is intact, so it reconciles.
    // (`TestApp::restart` keeps the data dir: dropping the old handle would delete it.)
    c.nodes[0].kill9();
    let node0 = c.nodes.remove(0).restart().await;
    c.nodes.insert(0, node0);
    let (made, before) = create_while_reconciling(
        &[&c.nodes[1], &c.nodes[2]],
        &c.nodes[0],
        &alice,
        // About 10 creates/s in all: moto_server keeps up, and a reconcile of some
        // seconds still sees dozens of them.
        Duration::from_millis(400),
    )
    .await;
    assert!(before > 0, "no video was created while the reconcile ran");
    // What the other nodes make reaches node 0 through the bucket's change log.
    all_searchable(&c.nodes[0], &alice, &made, Duration::from_secs(15)).await;
}

#[tokio::test]
async fn a_restart_on_the_bucket_catches_up_with_what_another_node_changed_meanwhile() {
    let moto = Moto::start().await;
    moto.create_bucket("troupe").await;
    let options = s3_options(&moto, "troupe").env("TROUPE__STATE__BACKEND", "s3");
    let a = TestApp::spawn(options.clone()).await;
    let alice = a.user("alice").await;
    let edited = create(&a, &alice, "Tidal bore").await;
    let hidden = create(&a, &alice, "Salt marsh").await;
    let deleted = create(&a, &alice, "Sand dunes").await;
    for (q, id) in [("tidal", &edited), ("marsh", &hidden), ("dunes", &deleted)] {
        eventually(Duration::from_secs(10), || async {
            (found(&a, q, Some(&alice)).await? == [id.clone()]).then_some(())
        })
        .await;
    }
    let mut a = a;
    a.terminate_wait_after_sigterm().await;

    // Another node on the same bucket changes all of them while node A is down.
    let b = TestApp::spawn(options.clone()).await;
    patch(&b, &alice, &edited, json!({"title": "Severn bore"})).await;
    patch(&b, &alice, &hidden, json!({"visibility": "private"})).await;
    b.delete_video(&alice, &deleted).await;
    let created = create(&b, &alice, "Estuary birds").await;
    let mut b = b;
    b.terminate_wait_after_sigterm().await;

    // Node A catches up from the journal, not by reading every video.
    let a = a.restart().await;
    eventually(Duration::from_secs(30), || async {
        a.logs()
            .contains("catalogue: caught up from the journal")
            .then_some(())
    })
    .await;
    assert!(!a.logs().contains("catalogue: reconcile done"));
    // (Videos that are not ready are listed to their owner only: every search is hers.)
    let alice = Some(alice.as_str());
    assert_eq!(
        found(&a, "severn", alice).await.unwrap(),
        vec![edited.clone()]
    );
    assert_eq!(
        found(&a, "tidal", alice).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(found(&a, "estuary", alice).await.unwrap(), [created]);
    assert_eq!(found(&a, "marsh", alice).await.unwrap(), [hidden]);
    let marsh = found(&a, "marsh", alice).await.unwrap();
    let page = get_json(&a, &format!("/api/v1/videos/{}", marsh[0]), alice).await;
    assert_eq!(page["visibility"], "private", "{page}");
    assert_eq!(
        found(&a, "dunes", alice).await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_rebuild_that_cannot_read_the_store_answers_503_until_the_fault_is_cleared() {
    let moto = Moto::start().await;
    moto.create_bucket("troupe").await;
    // A video state that is not what troupe wrote: the rebuild cannot read the store.
    let blobs = bucket(&moto, "troupe");
    let bad = "state/video/broken-object";
    blobs
        .put(bad, "not a troupe state".as_bytes().to_vec().into())
        .await
        .unwrap();
    let app = TestApp::spawn(s3_options(&moto, "troupe").env("TROUPE__STATE__BACKEND", "s3")).await;

    let readyz = || async {
        let r = app.get("/readyz", None).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        (status, body)
    };
    let body = eventually(Duration::from_secs(30), || async {
        let (status, body) = readyz().await;
        (status == StatusCode::SERVICE_UNAVAILABLE
            && body["catalogue"]["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("reading the actors' state failed"))
        .then_some(body)
    })
    .await;
    assert_eq!(body["catalogue"]["ok"], false, "{body}");
    assert!(
        body["catalogue"]["detail"]
            .as_str()
            .unwrap()
            .contains("corrupt"),
        "{body}"
    );
    let r = app.get(&search_path("anything"), None).await;
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 503, "catalogue_not_ready").await;
    let r = app.get("/api/v1/videos", None).await;
    problem(r, 503, "catalogue_not_ready").await;

    // Cleared: the retry (with backoff) succeeds and the catalogue answers.
    blobs.delete(bad).await.unwrap();
    eventually(Duration::from_secs(60), || async {
        let (status, body) = readyz().await;
        (status == StatusCode::OK && body["catalogue"]["ok"] == true).then_some(())
    })
    .await;
    let r = app.get(&search_path("anything"), None).await;
    assert_eq!(r.status(), StatusCode::OK);
}
