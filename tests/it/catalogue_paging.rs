//! Paging through the catalogue while it changes: a cursor gives exactly the next page of
//! its query, or 410 `cursor_expired`, never a page with repeats or gaps; and bad queries and
//! cursors get a 4xx problem, never a 5xx, never another user's private video.

use crate::harness::{problem, urlencode, Options, TestApp};
use futures::stream::{self, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Creates `n` videos titled `<word> <i>` as `token`, 32 at a time; their ids.
async fn seed(app: &TestApp, token: &str, word: &str, n: usize, visibility: &str) -> Vec<String> {
    stream::iter(0..n)
        .map(|i| async move {
            let r = app
                .request(
                    Method::POST,
                    "/api/v1/videos",
                    Some(token),
                    Some(json!({"title": format!("{word} {i}"), "visibility": visibility})),
                )
                .await;
            assert_eq!(r.status(), StatusCode::CREATED);
            let v: Value = r.json().await.unwrap();
            v["id"].as_str().unwrap().to_owned()
        })
        .buffer_unordered(32)
        .collect()
        .await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits (10 s at most) until searching "harbor" as `token` finds videos of which `ok` holds.
async fn harbor_found(app: &TestApp, token: &str, ok: impl Fn(&[String]) -> bool) {
    app.json_when(
        Duration::from_secs(10),
        "/api/v1/search?q=harbor&limit=100",
        Some(token),
        |p| ok(&ids(p)),
    )
    .await;
}

/// Pages through `path` (which takes `&cursor=`) to the end; every id in order, and
/// whether a cursor expired (410 `cursor_expired`) on the way.
async fn page_through(app: &TestApp, token: &str, path: &str) -> (Vec<String>, bool) {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={}", urlencode(c)),
            None => path.to_owned(),
        };
        let r = app.get(&url, Some(token)).await;
        if r.status() == StatusCode::GONE {
            problem(r, 410, "cursor_expired").await;
            return (seen, true);
        }
        assert_eq!(r.status(), StatusCode::OK, "GET {url}");
        let page: Value = r.json().await.unwrap();
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (seen, false),
        }
    }
}

/// Changes videos through the API at about `per_sec` a second until `stop`: retitles
/// seeded videos (keeping the word), creates new ones and deletes some seeded ones (those go
/// into `deleted` before the request is sent).
struct Churn {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    deleted: Arc<Mutex<HashSet<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Churn {
    fn start(app: &TestApp, token: &str, word: &str, seeded: &[String], per_sec: u64) -> Churn {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let deleted = Arc::new(Mutex::new(HashSet::new()));
        let workers = 32u64;
        let mut tasks = Vec::new();
        for w in 0..workers {
            let (client, base, token, word) = (
                app.client.clone(),
                app.url(""),
                token.to_owned(),
                word.to_owned(),
            );
            let seeded = seeded.to_vec();
            let (stop, done, deleted) = (stop.clone(), done.clone(), deleted.clone());
            tasks.push(tokio::spawn(async move {
                let mut tick =
                    tokio::time::interval(Duration::from_micros(1_000_000 * workers / per_sec));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut k = w * 7919 + 1;
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    k = k.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let id = &seeded[(k >> 24) as usize % seeded.len()];
                    let r = match (k >> 40) % 100 {
                        // A few deletions (those are not "present throughout")…
                        0 => {
                            deleted.lock().unwrap().insert(id.clone());
                            client
                                .delete(format!("{base}/api/v1/videos/{id}"))
                                .bearer_auth(&token)
                                .send()
                                .await
                        }
                        // …some new videos, matching the same query…
                        1..=9 => {
                            client
                                .post(format!("{base}/api/v1/videos"))
                                .bearer_auth(&token)
                                .json(&json!({"title": format!("{word} new {k}")}))
                                .send()
                                .await
                        }
                        // …and mostly edits that change how well a video matches.
                        _ => {
                            client
                                .patch(format!("{base}/api/v1/videos/{id}"))
                                .bearer_auth(&token)
                                .json(&json!({
                                    // 1 to 4 times the word: scores move with every edit.
                                    "title": format!("{}edited {k}", format!("{word} ").repeat(1 + ((k >> 50) % 4) as usize)),
                                    "description": format!("{word} {k}"),
                                }))
                                .send()
                                .await
                        }
                    };
                    if let Ok(r) = r {
                        // A deleted video's later edits are 404s: not a fault of the server.
                        let s = r.status();
                        assert!(s.is_success() || s == StatusCode::NOT_FOUND, "{s}");
                        if s.is_success() {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        Churn {
            stop,
            done,
            deleted,
            tasks,
        }
    }

    async fn stop(self) -> HashSet<String> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.expect("a churn worker panicked");
        }
        let d = self.deleted.lock().unwrap().clone();
        d
    }
}

/// Searches `q` without a cursor as fast as it can until `stop`, like other users do: each
/// search on a new index generation makes a ranking of its own.
fn other_searches(
    app: &TestApp,
    token: &str,
    q: &str,
) -> (Arc<AtomicBool>, tokio::task::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (client, url, token, s) = (
        app.client.clone(),
        app.url(&format!("/api/v1/search?q={q}&limit=5")),
        token.to_owned(),
        stop.clone(),
    );
    let task = tokio::spawn(async move {
        let mut n = 0;
        while !s.load(Ordering::Relaxed) {
            let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            n += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        n
    });
    (stop, task)
}

#[tokio::test]
async fn paging_through_5000_results_while_1000_videos_a_second_change_repeats_and_skips_nothing() {
    // Commits every 50 ms, so that a page sees a new index generation and the old
    // "64 rankings" would have been gone within a few seconds of paging.
    let app =
        TestApp::spawn(Options::default().env("TROUPE__CATALOGUE__COMMIT_INTERVAL_MS", "50")).await;
    app.user("admin").await; // the first user is an admin; Alice is not
    let alice = app.user("alice").await;
    let started = Instant::now();
    let seeded = seed(&app, &alice, "paging", 5_000, "private").await;
    eprintln!("seeded 5,000 videos in {:?}", started.elapsed());
    // All indexed (the owner lists all of her own, whatever their state).
    crate::harness::eventually(Duration::from_secs(120), || async {
        let (all, _) = page_through(&app, &alice, "/api/v1/videos?limit=100").await;
        (all.len() >= 5_000).then_some(())
    })
    .await;

    let churn = Churn::start(&app, &alice, "paging", &seeded, 1_000);
    let (searching, searches) = other_searches(&app, &alice, "paging");
    let paging = Instant::now();
    let before = churn.done.load(Ordering::Relaxed);
    // Ranked (relevance: the edits change every score), by views, and newest first.
    let mut passes = HashMap::new();
    for path in [
        "/api/v1/search?q=paging&limit=100",
        "/api/v1/search?q=paging&sort=views&limit=100",
        "/api/v1/videos?limit=100",
    ] {
        passes.insert(path, page_through(&app, &alice, path).await);
    }
    let changes = churn.done.load(Ordering::Relaxed) - before;
    let took = paging.elapsed();
    searching.store(true, Ordering::Relaxed);
    let other = searches.await.unwrap();
    let deleted = churn.stop().await;
    eprintln!(
        "paged 3 x 5,000 in {took:?} while {changes} changes went through ({:.0}/s) and {other} other searches ran",
        changes as f64 / took.as_secs_f64()
    );
    // The churn really ran through the paging (on a loaded 2-core machine it may run below
    // its 1,000/s target; it must still span many commits).
    assert!(changes >= 200, "only {changes} changes while paging");
    assert!(other >= 20, "only {other} other searches");

    let throughout: HashSet<&String> = seeded.iter().filter(|id| !deleted.contains(*id)).collect();
    for (path, (seen, expired)) in passes {
        // The bounds (10 minutes, 256 rankings) are far from reached here: no 410.
        assert!(!expired, "{path}: a cursor expired");
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{path}: an id came twice");
        let missed: Vec<&&String> = throughout
            .iter()
            .filter(|id| !unique.contains(**id))
            .collect();
        assert!(
            missed.is_empty(),
            "{path}: {} videos present throughout were skipped, e.g. {:?}",
            missed.len(),
            missed.first()
        );
    }
}

/// The page `path` gives `token` (200 expected).
async fn page(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app.get(path, Some(token)).await;
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.json().await.unwrap()
}

/// The page and next cursor of `path` as `token`.
async fn first_page(app: &TestApp, token: &str, path: &str) -> (Value, String) {
    let page = page(app, token, path).await;
    let next = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    (page, next)
}

#[tokio::test]
async fn bad_queries_and_cursors_get_a_4xx_problem_and_never_another_users_private_video() {
    let app = TestApp::spawn(Options::default()).await;
    app.user("admin").await; // the first user is an admin; Alice and Bob are not
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    seed(&app, &alice, "harbor", 12, "private").await;
    let secret = seed(&app, &bob, "harbor", 3, "private").await;
    harbor_found(&app, &bob, |ids| ids.len() == 3).await;
    harbor_found(&app, &alice, |ids| {
        ids.len() == 12 && ids.iter().all(|id| !secret.contains(id))
    })
    .await;

    // Words: 32 are searched, 33 are refused, on every endpoint that takes `q`.
    let words = |n: usize| urlencode(&vec!["harbor"; n].join(" "));
    for path in [
        "/api/v1/search?q=",
        "/api/v1/search/suggest?q=",
        "/api/v1/videos?q=",
    ] {
        let r = app.get(&format!("{path}{}", words(32)), Some(&alice)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path} with 32 words");
        let r = app.get(&format!("{path}{}", words(33)), Some(&alice)).await;
        problem(r, 422, "too_many_words").await;
        // 10,000 characters (of one word, of many, of letters that take two bytes).
        for q in ["h".repeat(10_000), "ab ".repeat(3_334), "é".repeat(10_000)] {
            let r = app
                .get(&format!("{path}{}", urlencode(&q)), Some(&alice))
                .await;
            problem(r, 422, "query_too_long").await;
        }
    }

    // A cursor from another query, another sort, another listing or another caller.
    let (_, ranked) = first_page(&app, &alice, "/api/v1/search?q=harbor&limit=5").await;
    let (_, newest) = first_page(&app, &alice, "/api/v1/videos?limit=5").await;
    for (path, token) in [
        (
            format!("/api/v1/search?q=harbour&limit=5&cursor={ranked}"),
            &alice,
        ),
        (
            format!("/api/v1/search?q=harbor&tag=x&limit=5&cursor={ranked}"),
            &alice,
        ),
        (
            format!("/api/v1/search?q=harbor&sort=views&limit=5&cursor={ranked}"),
            &alice,
        ),
        (
            format!("/api/v1/search?q=harbor&limit=5&cursor={ranked}"),
            &bob,
        ),
        (
            format!("/api/v1/videos?q=harbor&limit=5&cursor={newest}"),
            &alice,
        ),
        (
            format!("/api/v1/search?q=harbor&sort=newest&limit=5&cursor={newest}"),
            &alice,
        ),
        (format!("/api/v1/videos?limit=5&cursor={newest}"), &bob),
    ] {
        problem(app.get(&path, Some(token)).await, 422, "cursor_mismatch").await;
    }
    // The same query's cursor works, with another page size too.
    let p = page(
        &app,
        &alice,
        &format!("/api/v1/search?q=harbor&limit=7&cursor={ranked}"),
    )
    .await;
    assert_eq!(ids(&p).len(), 7);

    // Forged by hand: garbage, or well-formed with made-up parts. Never a 5xx, never a
    // page of Bob's private videos.
    let (instance_gen, _) = ranked.rsplit_once('.').unwrap();
    let (head, _) = instance_gen.rsplit_once('.').unwrap();
    let deep = format!("{head}.2710.0"); // offset 10,000, fingerprint 0
    for forged in [
        "x",
        "n",
        "r...",
        "nffffffffffffffff.0",
        "r0.0.0.0",
        "rffffffff.ffffffffffffffff.2710.ffffffff",
        &"n1".repeat(100),
        "%00",
        "n1.1%0a",
        &deep,
        "r1.2.3.4.5",
    ] {
        for path in [
            "/api/v1/search?q=harbor",
            "/api/v1/videos?q=harbor",
            "/api/v1/videos?limit=5",
        ] {
            let r = app
                .get(&format!("{path}&cursor={forged}"), Some(&alice))
                .await;
            let status = r.status();
            assert!(status.is_client_error(), "{path} cursor {forged}: {status}");
            let body = r.text().await.unwrap();
            assert!(
                secret.iter().all(|id| !body.contains(id.as_str())),
                "{path} cursor {forged} showed Bob's private video"
            );
        }
    }
}

#[tokio::test]
async fn a_ranked_cursor_expires_with_410_after_its_lifetime_and_after_a_restart() {
    let app =
        TestApp::spawn(Options::default().env("TROUPE__CATALOGUE__CURSOR_TTL_SECS", "1")).await;
    app.user("admin").await; // the first user is an admin; Alice is not
    let alice = app.user("alice").await;
    seed(&app, &alice, "harbor", 12, "private").await;
    harbor_found(&app, &alice, |ids| ids.len() == 12).await;
    let (_, next) = first_page(&app, &alice, "/api/v1/search?q=harbor&limit=5").await;
    let (_, newest) = first_page(&app, &alice, "/api/v1/videos?limit=5").await;
    // Within its second, the cursor gives the next page (and keeps the ranking another
    // second); a second after the last page, 410, never another ranking.
    let (path, started) = (
        format!("/api/v1/search?q=harbor&limit=5&cursor={next}"),
        Instant::now(),
    );
    let r = app.get(&path, Some(&alice)).await;
    if started.elapsed() < Duration::from_millis(900) {
        assert_eq!(r.status(), StatusCode::OK);
    }
    // The lifetime itself is what is waited for: time must pass, there is nothing to poll.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    problem(app.get(&path, Some(&alice)).await, 410, "cursor_expired").await;

    // After a restart, a ranked cursor of the process before has expired; a newest-first
    // cursor still gives its next page.
    let (_, fresh) = first_page(&app, &alice, "/api/v1/search?q=harbor&limit=5").await;
    let mut app = app;
    app.terminate_wait_after_sigterm().await;
    let app = app.restart().await;
    let alice = app.login_token("alice").await;
    crate::harness::eventually(Duration::from_secs(30), || async {
        (app.get("/api/v1/videos?limit=5", Some(&alice))
            .await
            .status()
            == StatusCode::OK)
            .then_some(())
    })
    .await;
    problem(
        app.get(
            &format!("/api/v1/search?q=harbor&limit=5&cursor={fresh}"),
            Some(&alice),
        )
        .await,
        410,
        "cursor_expired",
    )
    .await;
    let p = page(
        &app,
        &alice,
        &format!("/api/v1/videos?limit=5&cursor={newest}"),
    )
    .await;
    assert_eq!(ids(&p).len(), 5);
}
