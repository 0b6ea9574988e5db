//! Deleted and hidden videos stop playing: within 1 s of a DELETE, or of a change to private,
//! no node serves an excluded viewer the video's master playlist, media playlists or segments,
//! whatever media token they hold, while the owner of a private video still plays it. On one
//! node and on three, over real HTTP, with videos ffmpeg made and troupe transcoded.

use crate::cluster::{Cluster, Spec};
use crate::harness::*;
use crate::media::{clip, media_env, new_video, upload, wait_state};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

/// A viewer's playback of one video through one node: its master playlist, one media playlist
/// and one segment, as absolute URLs on that node.
struct Playback {
    master: String,
    playlist: String,
    segment: String,
}

async fn play(app: &TestApp, token: &str, video: &str, device: &str) -> Playback {
    let g = app.start_playback(token, video, device).await;
    let master = app.url(g["master_url"].as_str().unwrap());
    let body = app
        .client
        .get(&master)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rel = body
        .lines()
        .find(|l| l.starts_with("t/"))
        .expect("the master names a media playlist");
    let playlist = app.url(&format!("/hls/{video}/{rel}"));
    let media = app
        .client
        .get(&playlist)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let seg = media
        .lines()
        .find(|l| l.ends_with(".ts"))
        .expect("the playlist names a segment");
    let segment = format!("{}{seg}", &playlist[..playlist.rfind('/').unwrap() + 1]);
    Playback {
        master,
        playlist,
        segment,
    }
}

async fn status(app: &TestApp, url: &str) -> u16 {
    app.client.get(url).send().await.unwrap().status().as_u16()
}

/// Waits until the playback's playlist and segment (and, with `master`, the master playlist)
/// are refused through `app`; how long it took. Fails past 1 s.
async fn refused_within_a_second(app: &TestApp, p: &Playback, since: Instant) -> Duration {
    loop {
        let (seg, pl, ma) = (
            status(app, &p.segment).await,
            status(app, &p.playlist).await,
            status(app, &p.master).await,
        );
        if seg == 404 && pl == 404 && matches!(ma, 403 | 404) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "still served after {:?}: segment {seg}, playlist {pl}, master {ma}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn ready_public_video(app: &TestApp, owner: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let data = std::fs::read(clip(tmp.path(), "c.mp4", 320, 240, 3, true)).unwrap();
    let v = new_video(app, owner, "soon gone", "public").await;
    let id = v["id"].as_str().unwrap().to_owned();
    upload(app, owner, &id, &data, 1 << 20).await;
    wait_state(app, owner, &id, "ready", Duration::from_secs(120)).await;
    id
}

async fn set_private(app: &TestApp, owner: &str, video: &str) {
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/videos/{video}"),
            Some(owner),
            Some(json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn on_one_node_a_video_made_private_or_deleted_stops_playing_within_a_second() {
    let app = TestApp::spawn({
        let mut o = Options::default();
        for (k, v) in media_env() {
            o = o.env(k, v);
        }
        o
    })
    .await;
    let owner = app.user("owner").await;
    let viewer = app.user("viewer").await;
    let id = ready_public_video(&app, &owner).await;
    let theirs = play(&app, &viewer, &id, "tv").await;
    let own = play(&app, &owner, &id, "laptop").await;
    for url in [&theirs.segment, &theirs.playlist, &own.segment] {
        assert_eq!(status(&app, url).await, 200, "{url}");
    }

    set_private(&app, &owner, &id).await;
    let took = refused_within_a_second(&app, &theirs, Instant::now()).await;
    eprintln!("made private: refused to the viewer after {took:?}");
    // The owner still plays it, media token, playlists and all.
    assert_eq!(status(&app, &own.segment).await, 200);
    assert_eq!(status(&app, &own.playlist).await, 200);

    app.delete_video(&owner, &id).await;
    let took = refused_within_a_second(&app, &own, Instant::now()).await;
    eprintln!("deleted: refused to its owner after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_three_nodes_a_video_made_private_or_deleted_stops_playing_on_every_node_within_a_second(
) {
    let c = Cluster::start_with_env(
        Spec {
            nodes: 3,
            proxied: false,
        },
        &media_env(),
    )
    .await;
    let owner = c.nodes[0].user("owner").await;
    let viewer = c.nodes[1].user("viewer").await;
    let id = ready_public_video(&c.nodes[0], &owner).await;
    // The viewer plays through every node (one session each, on its own device: a plan with
    // room for three streams), and so does the owner: each node caches what it serves.
    // The owner is the first account, so the admin.
    for who in ["owner", "viewer"] {
        set_plan(&c.nodes[0], &owner, who, "ultimate").await;
    }
    let mut theirs = Vec::new();
    let mut own = Vec::new();
    for n in 0..3 {
        theirs.push(play(&c.nodes[n], &viewer, &id, &format!("tv-{n}")).await);
        own.push(play(&c.nodes[n], &owner, &id, &format!("laptop-{n}")).await);
    }
    for n in 0..3 {
        assert_eq!(
            status(&c.nodes[n], &theirs[n].segment).await,
            200,
            "node{n}"
        );
        assert_eq!(status(&c.nodes[n], &own[n].segment).await, 200, "node{n}");
    }

    // Made private through node 2: refused to the viewer everywhere within a second.
    set_private(&c.nodes[2], &owner, &id).await;
    let since = Instant::now();
    for n in 0..3 {
        let took = refused_within_a_second(&c.nodes[n], &theirs[n], since).await;
        eprintln!("made private: node{n} refused the viewer after {took:?}");
        assert_eq!(status(&c.nodes[n], &own[n].segment).await, 200, "node{n}");
    }

    // Deleted through node 1: refused to everyone everywhere within a second.
    c.nodes[1].delete_video(&owner, &id).await;
    let since = Instant::now();
    for (n, (node, p)) in c.nodes.iter().zip(&own).enumerate() {
        let took = refused_within_a_second(node, p, since).await;
        eprintln!("deleted: node{n} refused the owner after {took:?}");
    }
}
