//! The start-up migration to channels, on a data dir in the previous version's format.
//!
//! CI has only a clean checkout, so by default the previous version's data dir is made
//! honestly without its binary: this build registers the accounts and makes the videos, then,
//! with the server stopped, the test takes out everything the previous version did not write
//! (channels, their parts, follows, handle claims) and writes every video back in the
//! previous schema ([`PreviousVideoState`], the previous `VideoState` field for field), and
//! checks that the dir holds no trace of channels. With `TROUPE_BEFORE_BIN` naming a release
//! build of the previous version, that binary writes the data dir instead.

use crate::harness::{problem, Options, TestApp, PASSWORD};
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use troupe_actors::channels::channel::{ChannelActor, VideoPart};
use troupe_actors::events::Rendition;
use troupe_actors::media::video::{VideoActor, VideoState, VideoStatus, Visibility};
use troupe_runtime::store::{Precondition, SledStore, StateStore};
use troupe_runtime::{codec, Entity, Part};
use uuid::Uuid;

/// The video actor's state as the previous version stored it: no channel.
#[derive(Debug, Serialize, Deserialize)]
struct PreviousVideoState {
    id: Uuid,
    owner: String,
    owner_id: Uuid,
    title: String,
    description: String,
    tags: Vec<String>,
    visibility: Visibility,
    status: VideoStatus,
    progress: f64,
    failure_reason: Option<String>,
    renditions: Vec<Rendition>,
    duration_secs: Option<f64>,
    has_poster: bool,
    upload: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: u64,
    deleting: bool,
}

/// Prefixes of what only the channel-aware version writes.
const CHANNEL_PREFIXES: [&str; 5] = ["channel/", "chsub/", "chvid/", "follows/", "claim/handle:"];

/// The stopped server's state store. A store dropped a moment ago may still hold its lock
/// while its flusher thread winds down: wait for it (bounded).
async fn open_store(dir: &Path) -> SledStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match SledStore::open(&dir.join("state")) {
            Ok(s) => return s,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "cannot open the store: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Turns a data dir written by this build (stopped) into the previous version's format.
async fn rewrite_as_previous_version(dir: &Path) {
    let store = open_store(dir).await;
    for prefix in CHANNEL_PREFIXES {
        for (key, _) in store.scan_prefix(prefix).await.unwrap() {
            store.delete(&key, Precondition::None).await.unwrap();
        }
    }
    for (key, v) in store.scan_prefix("video/").await.unwrap() {
        let previous: PreviousVideoState = codec::decode(VideoActor::SCHEMA, &v.value).unwrap();
        let bytes = codec::encode(VideoActor::SCHEMA, &previous).unwrap();
        store.put(&key, bytes, Precondition::None).await.unwrap();
    }
}

/// Checks that a stopped server's data dir holds no channel: what the migration starts from.
async fn assert_previous_format(dir: &Path, videos: usize) {
    let store = open_store(dir).await;
    for prefix in CHANNEL_PREFIXES {
        assert!(
            store.scan_prefix(prefix).await.unwrap().is_empty(),
            "{prefix} in the old data dir"
        );
    }
    let stored = store.scan_prefix("video/").await.unwrap();
    assert_eq!(stored.len(), videos);
    for (_, v) in stored {
        let s: VideoState = codec::decode(VideoActor::SCHEMA, &v.value).unwrap();
        assert!(
            s.channel_id.is_nil() && s.channel.is_empty(),
            "an old video decodes without a channel"
        );
    }
}

async fn channel(app: &TestApp, handle: &str) -> Value {
    let r = app.get(&format!("/api/v1/channels/{handle}"), None).await;
    assert_eq!(r.status(), StatusCode::OK, "GET channel {handle}");
    r.json().await.unwrap()
}

/// The fields of the last "channel migration done" log line.
fn last_migration(app: &TestApp) -> Value {
    let logs = app.logs();
    let line = logs
        .lines()
        .rfind(|l| l.contains("\"channel migration done\""))
        .unwrap_or_else(|| panic!("no migration logged:\n{logs}"));
    serde_json::from_str(line).unwrap()
}

/// Starts this build on `dir`, once the test's own store has let go of it (its flusher
/// thread releases the lock a moment after the store is dropped).
async fn start(dir: &Path) -> TestApp {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match TestApp::start(dir, Options::default()).await {
            Ok(app) => return app,
            Err((_, log)) if log.contains("could not acquire lock") => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the data dir stays locked:\n{log}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err((s, log)) => panic!("the server did not start ({s:?}):\n{log}"),
        }
    }
}

async fn stop(mut app: TestApp) {
    assert!(app.terminate_wait_after_sigterm().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_migration_gives_old_accounts_and_videos_channels_and_a_second_run_does_nothing(
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let before = std::env::var_os("TROUPE_BEFORE_BIN").map(PathBuf::from);
    let old = TestApp::start(
        &dir,
        Options {
            binary: before.clone(),
            ..Options::default()
        },
    )
    .await
    .unwrap_or_else(|(s, log)| panic!("the old server did not start ({s:?}):\n{log}"));
    let alice = old.user("alice").await;
    let carol = old.user("Carol-Ann").await;
    old.register("dave").await;
    let mut ids = Vec::new();
    for (token, title, visibility) in [
        (&alice, "One", "public"),
        (&alice, "Two", "private"),
        (&carol, "Three", "unlisted"),
    ] {
        let r = old
            .request(
                Method::POST,
                "/api/v1/videos",
                Some(token),
                Some(json!({"title": title, "visibility": visibility})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    stop(old).await;
    if before.is_none() {
        rewrite_as_previous_version(&dir).await;
    }
    assert_previous_format(&dir, 3).await;

    // The new version on the old data dir.
    let app = start(&dir).await;
    let m = last_migration(&app);
    assert_eq!(
        (
            &m["accounts"],
            &m["channels_made"],
            &m["videos"],
            &m["videos_assigned"],
            &m["counts_added"],
            &m["nothing_to_do"]
        ),
        (
            &json!(3),
            &json!(3),
            &json!(3),
            &json!(3),
            &json!(3),
            &json!(false)
        ),
        "{m}"
    );
    let a = channel(&app, "alice").await;
    assert_eq!(
        (
            a["default"].as_bool(),
            a["videos"].as_u64(),
            a["display_name"].as_str()
        ),
        (Some(true), Some(2), Some("alice"))
    );
    let c = channel(&app, "carol-ann").await;
    assert_eq!(
        (
            c["videos"].as_u64(),
            c["display_name"].as_str(),
            c["owner"].as_str()
        ),
        (Some(1), Some("Carol-Ann"), Some("carol-ann"))
    );
    assert_eq!(channel(&app, "dave").await["videos"], 0);
    let alice = app.login_token("alice").await;
    for (id, handle) in ids.iter().zip(["alice", "alice", "carol-ann"]) {
        let v: Value = app
            .get(&format!("/api/v1/videos/{id}"), Some(&alice))
            .await
            .json()
            .await
            .unwrap();
        let want = if handle == "alice" {
            a["id"].clone()
        } else {
            c["id"].clone()
        };
        assert_eq!(
            (v["channel"].as_str(), &v["channel_id"]),
            (Some(handle), &want),
            "{v}"
        );
    }
    // The migrated handles are claimed: no one can take them, as a channel or a username.
    let r = app
        .request(
            Method::POST,
            "/api/v1/channels",
            Some(&alice),
            Some(json!({"handle": "dave"})),
        )
        .await;
    problem(r, 409, "handle_taken").await;
    let r = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "Dave", "email": "dave2@example.org", "password": PASSWORD}),
        )
        .await;
    problem(r, 409, "username_taken").await;
    // Subscriptions work on a migrated channel.
    let r = app
        .request(
            Method::PUT,
            "/api/v1/users/me/subscriptions/carol-ann",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    stop(app).await;

    // A count that a crash left wrong (a video counted that no longer exists) is repaired.
    {
        let store = open_store(&dir).await;
        let a_id: Uuid = a["id"].as_str().unwrap().parse().unwrap();
        let ghost = Uuid::now_v7();
        let shard = u32::from(ghost.as_bytes()[15]) % 16;
        let key = format!("{}/{a_id}.{shard}", VideoPart::KIND);
        let mut part: VideoPart = match store.get(&key).await.unwrap() {
            Some(v) => codec::decode(VideoPart::SCHEMA, &v.value).unwrap(),
            None => VideoPart::default(),
        };
        part.videos.push(ghost);
        part.videos.sort();
        store
            .put(
                &key,
                codec::encode(VideoPart::SCHEMA, &part).unwrap(),
                Precondition::None,
            )
            .await
            .unwrap();
        assert!(store
            .get(&format!("{}/{a_id}", ChannelActor::KIND))
            .await
            .unwrap()
            .is_some());
    }
    let app = start(&dir).await;
    let m = last_migration(&app);
    assert_eq!(
        (
            &m["channels_made"],
            &m["videos_assigned"],
            &m["counts_added"],
            &m["counts_removed"]
        ),
        (&json!(0), &json!(0), &json!(0), &json!(1)),
        "{m}"
    );
    assert_eq!(channel(&app, "alice").await["videos"], 2);
    stop(app).await;

    // Once more: nothing to do, nothing changed.
    let app = start(&dir).await;
    let m = last_migration(&app);
    assert_eq!(m["nothing_to_do"], true, "{m}");
    assert_eq!((&m["accounts"], &m["videos"]), (&json!(3), &json!(3)));
    assert_eq!(channel(&app, "alice").await["videos"], 2);
    assert_eq!(channel(&app, "carol-ann").await["subscribers"], 1);
}
