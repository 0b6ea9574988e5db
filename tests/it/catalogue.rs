//! The catalogue index: search that finds what people mean, freshness within a second,
//! visibility that holds even when the index is stale, rebuilds, and bad input.

use crate::harness::{problem, urlencode, TestApp};
use crate::media::{media_options, ready_video};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|v| v["title"].as_str().unwrap().to_owned())
        .collect()
}

fn search_path(q: &str) -> String {
    format!("/api/v1/search?q={}", urlencode(q))
}

/// The JSON answer of a GET that must succeed.
pub(crate) async fn get_json(app: &TestApp, path: &str, token: Option<&str>) -> Value {
    app.get(path, token).await.json().await.unwrap()
}

/// Creates a video with `body` as `token` (201 expected); its id.
pub(crate) async fn create(app: &TestApp, token: &str, body: Value) -> String {
    let r = app
        .request(Method::POST, "/api/v1/videos", Some(token), Some(body))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Renames video `id` through node `via` and waits (5 s at most) until a search on `on` for
/// the new title's last word finds exactly it.
async fn retitle_and_find(via: &TestApp, on: &TestApp, token: &str, id: &str, title: &str) {
    patch(via, token, id, json!({ "title": title })).await;
    let word = title.rsplit(' ').next().unwrap_or(title).to_lowercase();
    on.json_when(
        Duration::from_secs(5),
        &search_path(&word),
        Some(token),
        |page| titles(page) == [title],
    )
    .await;
}

/// Edits video `id` with `body` as `token` (200 expected).
pub(crate) async fn patch(app: &TestApp, token: &str, id: &str, body: Value) {
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/videos/{id}"),
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn search_finds_typos_and_prefixes_and_every_change_shows_within_a_second() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    // A public, ready video: what anyone can find.
    let v = ready_video(&app, &alice, tmp.path(), 160, 120, 1, "public").await;
    let public = v["id"].as_str().unwrap().to_owned();
    patch(
        &app,
        &alice,
        &public,
        json!({"title": "Mountain biking in the Brecon Beacons", "description": "A descent through <b>heather</b> and rain. Filmed on a helmet camera.", "tags": ["cycling", "wales"]}),
    )
    .await;
    let secret = create(
        &app,
        &alice,
        json!({"title": "Lighthouse keeper diaries", "visibility": "private"}),
    )
    .await;

    // The edit shows within a second, for anyone; the words people mistype still find it.
    let page = app
        .listed(&search_path("mountain"), None, |p| titles(p).len() == 1)
        .await;
    assert_eq!(titles(&page), ["Mountain biking in the Brecon Beacons"]);
    for q in [
        "moutain",         // a letter missing (5+ letters: one edit)
        "muontain biking", // two letters swapped
        "brecon beacns",   // a typo in the second word
        "mountain bik",    // the last word as typed so far
        "CYCLING",         // a tag, any case
        "alice",           // the channel
        "heather",         // the description
        "\"mountain",      // syntax characters are text
        "mountain:",
        "mount*",
        "(mountain)",
        "-mountain",
        "mountain~",
    ] {
        let page: Value = get_json(&app, &search_path(q), None).await;
        assert_eq!(
            titles(&page),
            ["Mountain biking in the Brecon Beacons"],
            "{q}"
        );
    }
    // Highlights are plain-text runs; markup in the description stays text.
    let page: Value = get_json(&app, &search_path("mountian heather"), None).await;
    let item = &page["items"][0];
    let hits: Vec<&str> = item["highlight"]["title"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["hit"] == true)
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(hits, ["Mountain"]);
    let description: String = item["highlight"]["description"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert!(description.contains("<b>heather</b>"), "{description}");
    // Short words must be exact: "mount" (5 letters) tolerates one edit, "bike" none.
    let page: Value = get_json(&app, &search_path("bike "), None).await;
    assert!(titles(&page).is_empty(), "{page}");

    // A private video: its owner finds it and gets it suggested (so it is indexed)...
    app.listed(&search_path("lighthouse"), Some(&alice), |p| {
        titles(p) == ["Lighthouse keeper diaries"]
    })
    .await;
    let s: Value = get_json(
        &app,
        "/api/v1/search/suggest?q=lighth",
        Some(alice.as_str()),
    )
    .await;
    assert_eq!(
        s["suggestions"][0]["text"], "Lighthouse keeper diaries",
        "{s}"
    );
    assert_eq!(s["suggestions"][0]["video_id"], secret.as_str());
    // ... and nobody else ever finds it, nor gets it suggested.
    for (token, who) in [(None, "anonymous"), (Some(bob.as_str()), "bob")] {
        for q in ["lighthouse", "lighthouse keeper diaries", "lightouse"] {
            let page = get_json(&app, &search_path(q), token).await;
            assert!(titles(&page).is_empty(), "{who} found {q}: {page}");
        }
        let s = get_json(&app, "/api/v1/search/suggest?q=lightho", token).await;
        assert_eq!(s["suggestions"], json!([]), "{who}: {s}");
    }
    let s: Value = get_json(&app, "/api/v1/search/suggest?q=mountain%20b", None).await;
    assert_eq!(
        s["suggestions"][0]["text"], "Mountain biking in the Brecon Beacons",
        "{s}"
    );

    // Made private: gone from everyone else's results within a second (the re-check makes
    // it at once), back for its owner.
    patch(&app, &alice, &public, json!({"visibility": "private"})).await;
    for token in [None, Some(bob.as_str())] {
        app.listed(&search_path("mountain"), token, |p| titles(p).is_empty())
            .await;
        app.listed("/api/v1/videos", token, |p| titles(p).is_empty())
            .await;
    }
    app.listed(&search_path("mountain"), Some(&alice), |p| {
        titles(p).len() == 1
    })
    .await;
    patch(&app, &alice, &public, json!({"visibility": "public"})).await;
    app.listed("/api/v1/videos", None, |p| titles(p).len() == 1)
        .await;

    // A new title replaces the old within a second.
    patch(
        &app,
        &alice,
        &public,
        json!({"title": "Coastal path at dawn"}),
    )
    .await;
    app.listed(&search_path("coastal"), None, |p| titles(p).len() == 1)
        .await;
    app.listed(&search_path("mountain"), None, |p| titles(p).is_empty())
        .await;

    // Deleted: gone within a second.
    app.delete_video(&alice, &public).await;
    for token in [None, Some(alice.as_str())] {
        app.listed(&search_path("coastal"), token, |p| titles(p).is_empty())
            .await;
    }
}

#[tokio::test]
async fn filters_sorts_and_cursors_and_bad_input_gets_422() {
    let app = TestApp::spawn(Default::default()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    // Alice's own videos (not yet uploaded: only she may list them).
    for (i, title) in [
        "Sourdough starter basics",
        "Sourdough shaping",
        "Croissant lamination",
        "Sourdough scoring patterns",
        "Baguette at home",
    ]
    .iter()
    .enumerate()
    {
        let tags = if i % 2 == 0 {
            json!(["bread"])
        } else {
            json!(["pastry"])
        };
        create(&app, &alice, json!({"title": title, "tags": tags})).await;
    }
    let everything = app
        .listed("/api/v1/videos?limit=100", Some(&alice), |p| {
            titles(p).len() == 5
        })
        .await;
    assert_eq!(titles(&everything)[0], "Baguette at home", "newest first");
    // Bob sees none of them.
    let page: Value = get_json(&app, &search_path("sourdough"), Some(bob.as_str())).await;
    assert!(titles(&page).is_empty());

    // Relevance: every word must match; the title counts most.
    let page: Value = get_json(&app, &search_path("sourdough"), Some(alice.as_str())).await;
    assert_eq!(titles(&page).len(), 3, "{page}");
    let page: Value = get_json(
        &app,
        "/api/v1/search?q=sourdough&tag=bread",
        Some(alice.as_str()),
    )
    .await;
    assert_eq!(titles(&page), ["Sourdough starter basics"]);
    let page: Value = get_json(
        &app,
        "/api/v1/search?q=sourdough&sort=newest",
        Some(alice.as_str()),
    )
    .await;
    assert_eq!(
        titles(&page),
        [
            "Sourdough scoring patterns",
            "Sourdough shaping",
            "Sourdough starter basics"
        ]
    );
    // Dates: all were uploaded today; nothing tomorrow.
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let page: Value = get_json(
        &app,
        &format!("/api/v1/search?uploaded_after={today}&owner=alice"),
        Some(alice.as_str()),
    )
    .await;
    assert_eq!(titles(&page).len(), 5);
    let page: Value = get_json(
        &app,
        &format!("/api/v1/search?uploaded_after={tomorrow}"),
        Some(alice.as_str()),
    )
    .await;
    assert!(titles(&page).is_empty());

    // Ranked pages: no repeats, nothing missing, while new videos arrive.
    let mut seen = Vec::new();
    let mut path = "/api/v1/search?q=sourdough&limit=1".to_owned();
    loop {
        let page: Value = get_json(&app, &path, Some(alice.as_str())).await;
        seen.extend(titles(&page));
        create(&app, &alice, json!({"title": "Sourdough again"})).await;
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/search?q=sourdough&limit=1&cursor={c}"),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "Sourdough scoring patterns",
            "Sourdough shaping",
            "Sourdough starter basics"
        ]
    );

    let long = "a".repeat(513);
    for (path, code) in [
        (format!("/api/v1/search?q={long}"), "query_too_long"),
        ("/api/v1/search?sort=best".into(), "invalid_sort"),
        (
            "/api/v1/search?uploaded_after=yesterday".into(),
            "invalid_date",
        ),
        (
            "/api/v1/search?uploaded_before=2026-13-01".into(),
            "invalid_date",
        ),
        (
            "/api/v1/search?uploaded_after=2026-12-05&uploaded_before=2026-12-01".into(),
            "invalid_range",
        ),
        (
            "/api/v1/search?duration_min=60&duration_max=10".into(),
            "invalid_range",
        ),
        ("/api/v1/search?duration_min=-1".into(), "invalid_range"),
        ("/api/v1/search?duration_max=NaN".into(), "invalid_range"),
        ("/api/v1/search?cursor=garbage".into(), "invalid_cursor"),
        ("/api/v1/videos?cursor=n".into(), "invalid_cursor"),
        (format!("/api/v1/search/suggest?q={long}"), "query_too_long"),
    ] {
        problem(app.get(&path, None).await, 422, code).await;
    }
    problem(
        app.get("/api/v1/search?limit=0", None).await,
        400,
        "invalid_query",
    )
    .await;
    problem(
        app.get("/api/v1/search?colour=red", None).await,
        400,
        "invalid_query",
    )
    .await;
    // An empty query is the latest videos; an empty suggestion query, nothing.
    app.listed("/api/v1/search?q=", Some(&alice), |p| {
        titles(p).first().map(String::as_str) == Some("Sourdough again")
    })
    .await;
    let s: Value = get_json(&app, "/api/v1/search/suggest?q=", None).await;
    assert_eq!(s["suggestions"], json!([]));
}

#[tokio::test]
async fn a_stale_index_never_shows_a_hidden_video_and_catches_up_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let alice = app.user("alice").await;
    let v = ready_video(&app, &alice, tmp.path(), 160, 120, 1, "public").await;
    let id = v["id"].as_str().unwrap().to_owned();
    patch(&app, &alice, &id, json!({"title": "Harbour seals"})).await;
    let doomed = create(&app, &alice, json!({"title": "Driftwood"})).await;
    app.listed(&search_path("harbour"), None, |p| titles(p).len() == 1)
        .await;
    app.json_when(
        Duration::from_secs(10),
        &search_path("driftwood"),
        Some(&alice),
        |page| titles(page).len() == 1,
    )
    .await;
    let mut app = app;
    app.kill9();

    // This run never commits its index: the change below is acknowledged (durable in the
    // actor's state) but the index on disk still says "public, Harbour seals".
    let data_dir = app.data_dir.clone();
    let options = app
        .options
        .clone()
        .env("TROUPE__CATALOGUE__COMMIT_INTERVAL_MS", "3600000");
    let mut frozen = TestApp::start(&data_dir, options.clone()).await.unwrap();
    let alice = frozen.login_token("alice").await;
    patch(
        &frozen,
        &alice,
        &id,
        json!({"visibility": "private", "title": "Harbour seals (private)"}),
    )
    .await;
    let fresh = create(&frozen, &alice, json!({"title": "Kelp forest"})).await;
    frozen.delete_video(&alice, &doomed).await;
    // Even before any commit, nobody else finds it: results are re-checked.
    let page: Value = get_json(&frozen, &search_path("harbour"), None).await;
    assert!(titles(&page).is_empty(), "{page}");
    frozen.kill9();

    // After the crash the index is stale; the restart reconciles it with the actors.
    let restarted = TestApp::start(&data_dir, app.options.clone())
        .await
        .unwrap();
    let page: Value = get_json(&restarted, &search_path("harbour"), None).await;
    assert!(titles(&page).is_empty(), "{page}");
    let alice = restarted.login_token("alice").await;
    let page = restarted
        .json_when(
            Duration::from_secs(10),
            &search_path("kelp"),
            Some(&alice),
            |page| titles(page) == ["Kelp forest"],
        )
        .await;
    assert_eq!(page["items"][0]["id"], fresh.as_str());
    restarted
        .listed(&search_path("harbour private"), Some(&alice), |p| {
            titles(p) == ["Harbour seals (private)"]
        })
        .await;
    // And the deletion made just before the crash is gone from its owner's results too.
    restarted
        .json_when(
            Duration::from_secs(10),
            &search_path("driftwood"),
            Some(&alice),
            |page| titles(page).is_empty(),
        )
        .await;
    // The restart caught up from the journal's notes (the index was intact), not by
    // reading every video.
    assert!(
        restarted
            .logs()
            .contains("catalogue: caught up from the journal"),
        "the catch-up says so in the log"
    );
}

#[tokio::test]
async fn a_deleted_index_is_rebuilt_at_start_and_by_troupe_reindex() {
    let app = TestApp::spawn(Default::default()).await;
    let alice = app.user("alice").await;
    for i in 0..30 {
        create(
            &app,
            &alice,
            json!({"title": format!("Episode {i} of the tide tables")}),
        )
        .await;
    }
    app.listed("/api/v1/search?q=tide&limit=100", Some(&alice), |p| {
        titles(p).len() == 30
    })
    .await;
    let mut app = app;
    app.kill9();
    std::fs::remove_dir_all(app.data_dir.join("catalogue")).unwrap();

    let app = app.restart().await;
    let alice = app.login_token("alice").await;
    // While it rebuilds, queries answer 503 with Retry-After or the whole answer; never a
    // part of it.
    let page = crate::harness::eventually(Duration::from_secs(20), || async {
        let r = app
            .get("/api/v1/search?q=tide&limit=100", Some(&alice))
            .await;
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert!(r.headers().contains_key("retry-after"));
            return None;
        }
        assert_eq!(r.status(), StatusCode::OK);
        Some(r.json::<Value>().await.unwrap())
    })
    .await;
    assert_eq!(titles(&page).len(), 30, "{page}");
    assert!(app.logs().contains("catalogue: rebuild done"));

    // `troupe reindex` refuses while the server runs, and rebuilds once it is stopped.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(["reindex", "--data-dir"])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let mut app = app;
    app.terminate_wait_after_sigterm().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(["reindex", "--data-dir"])
        .arg(&app.data_dir)
        .env("TROUPE__AUTH__JWT_SECRET", crate::harness::SECRET)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("reindexed 30 videos"), "{stdout}");
    let app = app.restart().await;
    let alice = app.login_token("alice").await;
    let page: Value = get_json(
        &app,
        "/api/v1/search?q=tide&limit=100",
        Some(alice.as_str()),
    )
    .await;
    assert_eq!(titles(&page).len(), 30, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_three_nodes_every_node_searches_everything_and_a_kill_9_loses_no_results() {
    use crate::cluster::Cluster;
    let c = Cluster::start(3).await;
    let alice = c.nodes[0].user("alice").await;
    c.wait_all_up(&alice).await;
    // Videos made through every node: their actors live wherever placement puts them, and
    // each node's replica of the index hears of the others' through the bucket's log.
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(
            create(
                &c.nodes[i % 3],
                &alice,
                json!({"title": format!("Glacier survey {i}")}),
            )
            .await,
        );
    }
    let all = "/api/v1/search?q=glacier&limit=100";
    for node in &c.nodes {
        node.json_when(Duration::from_secs(5), all, Some(&alice), |page| {
            titles(page).len() == 12
        })
        .await;
    }
    // How fresh across nodes: a change through node 1, looked for on node 2.
    let started = std::time::Instant::now();
    retitle_and_find(&c.nodes[1], &c.nodes[2], &alice, &ids[0], "Glacier retreat").await;
    let fresh = started.elapsed();
    assert!(
        fresh < Duration::from_millis(1500),
        "a change on node 1 took {fresh:?} to show on node 2"
    );

    // Kill -9 node 0 while nodes 1 and 2 keep answering: every answer is whole (all 12) or
    // a 503 with Retry-After, never a part of the catalogue.
    let mut c = c;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut watchers = Vec::new();
    for i in [1usize, 2] {
        let (addr, token, stop) = (c.nodes[i].url(all), alice.clone(), stop.clone());
        watchers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut whole, mut unavailable) = (0u32, 0u32);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = client
                    .get(&addr)
                    .bearer_auth(&token)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .expect("the survivor answers");
                match r.status() {
                    StatusCode::OK => {
                        let page: Value = r.json().await.unwrap();
                        assert_eq!(titles(&page).len(), 12, "a partial answer: {page}");
                        whole += 1;
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert!(r.headers().contains_key("retry-after"));
                        unavailable += 1;
                    }
                    s => panic!("{s}: {}", r.text().await.unwrap()),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (whole, unavailable)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.nodes[0].kill9();
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in watchers {
        let (whole, unavailable) = w.await.unwrap();
        // About 4 s of reads 20 ms apart: on a loaded 2-core machine fewer complete, but the
        // survivors must keep answering whole pages.
        assert!(whole > 5, "{whole} whole answers, {unavailable} 503s");
    }
    // And what changes after the loss still reaches every survivor.
    retitle_and_find(&c.nodes[2], &c.nodes[1], &alice, &ids[3], "Glacier calving").await;
}

/// Whether a listing holds video `id` (titled `title`, when given).
fn lists(page: &Value, id: &str, title: Option<&str>) -> bool {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["id"] == id && title.is_none_or(|t| v["title"] == t))
}

/// The listings the shortcut serves: the latest videos and a channel's.
const SHORTCUT_PLACES: [&str; 2] = ["/api/v1/videos?limit=100", "/api/v1/channels/alice/videos"];

/// Polls each place until its listing reflects a change (`ok`); prints how long after the
/// change's OK that was. `at_once`: the first listing after the OK must already (what a change
/// takes away, which the re-check of every result removes at once; what a change adds or
/// renames follows the index, within its commit interval).
async fn reflected(app: &TestApp, what: &str, at_once: bool, ok: impl Fn(&Value) -> bool) {
    let t = std::time::Instant::now();
    for p in SHORTCUT_PLACES {
        let mut first = true;
        loop {
            let page = get_json(app, p, None).await;
            if ok(&page) {
                break;
            }
            assert!(
                !(at_once && first),
                "{what}: the first listing of {p} after the OK does not reflect it: {page}"
            );
            // The promise is 1 s; the bound leaves room for a loaded 2-core machine.
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "{what}: {p} does not reflect it after {:?}: {page}",
                t.elapsed()
            );
            first = false;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    println!(
        "{what}: reflected by the listings {:.1} ms after the OK",
        t.elapsed().as_secs_f64() * 1e3
    );
}

/// The listings' shortcut (a video's view kept between listings, dropped when its actor
/// announces a change, before the change's OK) never shows what a change took away: a video
/// made private, hidden by a moderator or deleted leaves the latest and the channel's
/// listings in the first listing after the OK, and an edited title shows within the promised
/// second, while other videos change up to 1,000 times a second.
#[tokio::test]
async fn catalogue_shortcuts_keep_every_change_visible_at_once_under_1000_changes_a_second() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    // Actors passivate after a second idle, so listings read videos back from the store (and
    // the kept views), not only from active actors' snapshots.
    let app = TestApp::spawn(media_options().env("TROUPE__ACTORS__IDLE_TIMEOUT_SECS", "1")).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = std::fs::read(crate::media::clip(tmp.path(), "c.mp4", 160, 120, 1, true)).unwrap();
    let admin = app.user("root").await;
    app.user("molly").await;
    let molly = crate::moderation::make_moderator(&app, &admin, "molly").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let video =
        crate::channels::ready_in(&app, &alice, "alice", "harbour lights", "public", &data).await;
    for p in SHORTCUT_PLACES {
        app.listed(p, None, |b| lists(b, &video, Some("harbour lights")))
            .await;
    }

    // The background: bob's 100 videos retitled over 32 connections, paced to 1,000 changes
    // a second together (a debug build may manage fewer; the rate is printed).
    let mut others = Vec::new();
    for i in 0..100 {
        others.push(create(&app, &bob, json!({"title": format!("load {i}")})).await);
    }
    let others = Arc::new(others);
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let mut load = Vec::new();
    for w in 0..32u64 {
        let (client, url, bob) = (app.client.clone(), app.url(""), bob.clone());
        let (others, stop) = (others.clone(), stop.clone());
        let (done, failed) = (done.clone(), failed.clone());
        load.push(tokio::spawn(async move {
            let mut n = w;
            while !stop.load(Ordering::Relaxed) {
                let due = started + Duration::from_micros(n * 1_000);
                tokio::time::sleep_until(due.into()).await;
                let id = &others[(n % others.len() as u64) as usize];
                let r = client
                    .patch(format!("{url}/api/v1/videos/{id}"))
                    .bearer_auth(&bob)
                    .json(&json!({ "title": format!("load {n}") }))
                    .send()
                    .await;
                let counter = match r {
                    Ok(r) if r.status() == StatusCode::OK => &done,
                    _ => &failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                n += 32;
            }
        }));
    }

    let path = format!("/api/v1/videos/{video}");
    for round in 0..3 {
        // Edited: the new title at once.
        let title = format!("tidal lantern {round}");
        patch(&app, &alice, &video, json!({ "title": title })).await;
        reflected(&app, "edited", false, |b| lists(b, &video, Some(&title))).await;
        // Made private: gone at once. Public again: back once the index has it again.
        patch(&app, &alice, &video, json!({"visibility": "private"})).await;
        reflected(&app, "made private", true, |b| !lists(b, &video, None)).await;
        patch(&app, &alice, &video, json!({"visibility": "public"})).await;
        for p in SHORTCUT_PLACES {
            app.listed(p, None, |b| lists(b, &video, Some(&title)))
                .await;
        }
        // Hidden by a moderator: gone at once. Shown again: back.
        let r = app
            .request(
                Method::PUT,
                &format!("{path}/hidden"),
                Some(&molly),
                Some(json!({"reason": "under review"})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        reflected(&app, "hidden by a moderator", true, |b| {
            !lists(b, &video, None)
        })
        .await;
        let r = app
            .request(
                Method::DELETE,
                &format!("{path}/hidden"),
                Some(&molly),
                None,
            )
            .await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        for p in SHORTCUT_PLACES {
            app.listed(p, None, |b| lists(b, &video, Some(&title)))
                .await;
        }
    }
    // Deleted: gone at once.
    app.delete_video(&alice, &video).await;
    reflected(&app, "deleted", true, |b| !lists(b, &video, None)).await;

    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let (done, failed) = (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!(
        "background: {done} title changes in {secs:.1} s = {:.0}/s ({failed} failed)",
        done as f64 / secs
    );
    assert_eq!(failed, 0, "background changes failed");
    assert!(done > 0, "no background change was made");
}
