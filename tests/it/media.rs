//! Videos, tus uploads, transcoding and HLS playback, over real HTTP with real ffmpeg on clips
//! that ffmpeg generates here.

use crate::harness::{eventually, problem, Options, TestApp};
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha1::Digest;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings that keep transcodes quick and the sweeper and leases short.
pub fn media_env() -> Vec<(&'static str, String)> {
    vec![
        ("TROUPE__MEDIA__X264_PRESET", "ultrafast".into()),
        ("TROUPE__MEDIA__SWEEP_INTERVAL_SECS", "1".into()),
        ("TROUPE__MEDIA__JOB_LEASE_SECS", "3".into()),
        ("TROUPE__MEDIA__TRANSCODE_RETRY_BACKOFF_MS", "300".into()),
        ("TROUPE__MEDIA__EVENTS_POLL_MS", "200".into()),
    ]
}

pub fn media_options() -> Options {
    let mut o = Options::default();
    for (k, v) in media_env() {
        o = o.env(k, v);
    }
    o
}

/// Generates a test clip with ffmpeg (testsrc2 pattern, a sine tone if `audio`).
pub fn clip(dir: &Path, name: &str, w: u32, h: u32, secs: u32, audio: bool) -> PathBuf {
    let out = dir.join(name);
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={w}x{h}:rate=30"));
    if audio {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
    }
    cmd.args([
        "-t",
        &secs.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ]);
    if audio {
        cmd.args(["-c:a", "aac", "-shortest"]);
    }
    cmd.args(["-movflags", "+faststart"]).arg(&out);
    let st = cmd.status().expect("ffmpeg runs");
    assert!(st.success(), "ffmpeg could not generate {name}");
    out
}

/// Creates a video and returns its body.
pub async fn new_video(app: &TestApp, token: &str, title: &str, visibility: &str) -> Value {
    let r = app
        .request(
            Method::POST,
            "/api/v1/videos",
            Some(token),
            Some(json!({"title": title, "visibility": visibility, "tags": ["test"]})),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    r.json().await.unwrap()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// tus creation; returns the upload URL path.
pub async fn tus_create(app: &TestApp, token: &str, video: &str, len: u64) -> String {
    let r = app
        .client
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", len.to_string())
        .header(
            "Upload-Metadata",
            format!("video_id {},filename {}", b64(video), b64("clip.mp4")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// One tus PATCH.
pub async fn tus_patch(
    app: &TestApp,
    token: &str,
    loc: &str,
    offset: u64,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.client
        .patch(app.url(loc))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// Uploads `data` in `chunk`-sized PATCHes; returns the upload URL.
pub async fn upload(app: &TestApp, token: &str, video: &str, data: &[u8], chunk: usize) -> String {
    let loc = tus_create(app, token, video, data.len() as u64).await;
    let mut off = 0usize;
    while off < data.len() {
        let end = (off + chunk).min(data.len());
        let r = tus_patch(app, token, &loc, off as u64, data[off..end].to_vec()).await;
        assert_eq!(
            r.status(),
            StatusCode::NO_CONTENT,
            "{}",
            r.text().await.unwrap()
        );
        assert_eq!(
            r.headers()["upload-offset"].to_str().unwrap(),
            end.to_string()
        );
        off = end;
    }
    loc
}

/// Waits until the video is in `state` (or fails the test if it fails instead).
pub async fn wait_state(
    app: &TestApp,
    token: &str,
    id: &str,
    state: &str,
    timeout: Duration,
) -> Value {
    eventually(timeout, || async {
        let r = app.get(&format!("/api/v1/videos/{id}"), Some(token)).await;
        if r.status() != StatusCode::OK {
            return None;
        }
        let v: Value = r.json().await.unwrap();
        if state != "failed" && v["state"] == "failed" {
            panic!("the video failed: {v}");
        }
        (v["state"] == state).then_some(v)
    })
    .await
}

/// Creates, uploads and waits for a ready video from a fresh clip.
pub async fn ready_video(
    app: &TestApp,
    token: &str,
    dir: &Path,
    w: u32,
    h: u32,
    secs: u32,
    visibility: &str,
) -> Value {
    let file = clip(dir, &format!("c{w}x{h}x{secs}.mp4"), w, h, secs, true);
    let data = std::fs::read(file).unwrap();
    let v = new_video(app, token, "a clip", visibility).await;
    let id = v["id"].as_str().unwrap().to_owned();
    upload(app, token, &id, &data, 1 << 20).await;
    wait_state(app, token, &id, "ready", Duration::from_secs(120)).await
}

/// Starts a playback session for the signed-in viewer `token` (on one device, so that a
/// second call replaces the first stream rather than hitting the plan's limit); its playback
/// token and the master URL (absolute).
pub async fn playback(app: &TestApp, token: &str, id: &str) -> (String, String) {
    let g = app.start_playback(token, id, "it-player").await;
    (
        g["token"].as_str().unwrap().to_owned(),
        app.url(g["master_url"].as_str().unwrap()),
    )
}

/// Lines of a playlist that are URIs, resolved against `base`.
fn uris(base: &str, playlist: &str) -> Vec<String> {
    let dir = &base[..base.rfind('/').unwrap() + 1];
    let dir = dir.split('?').next().unwrap();
    playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| format!("{dir}{l}"))
        .collect()
}

/// GETs a URL and returns the body as text.
async fn text(app: &TestApp, url: &str) -> String {
    app.client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn ffmpeg_plays(url: &str) -> (bool, String) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i", url, "-map", "0", "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_720p_upload_goes_through_to_ready_with_live_events_and_plays_in_ffmpeg() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let admin = app.user("boss").await;
    let token = app.user("uploader").await;
    let data = std::fs::read(clip(tmp.path(), "in.mp4", 1280, 720, 8, true)).unwrap();
    let v = new_video(&app, &token, "Seven seas", "public").await;
    assert_eq!(v["state"], "awaiting_upload");
    let id = v["id"].as_str().unwrap().to_owned();

    // A live subscriber, from before the upload.
    let sse = app
        .client
        .get(app.url(&format!("/api/v1/videos/{id}/events?access_token={token}")))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), StatusCode::OK);
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let events = tokio::spawn(async move {
        let mut sse = sse;
        let mut seen: Vec<(String, f64)> = Vec::new();
        let mut buf = String::new();
        while let Ok(Some(chunk)) = sse.chunk().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let ev: String = buf.drain(..end + 2).collect();
                if let Some(data) = ev.lines().find_map(|l| l.strip_prefix("data: ")) {
                    let v: Value = serde_json::from_str(data).unwrap();
                    let state = v["state"].as_str().unwrap().to_owned();
                    seen.push((state.clone(), v["progress"].as_f64().unwrap()));
                    if state == "ready" {
                        return seen;
                    }
                }
            }
        }
        seen
    });

    upload(&app, &token, &id, &data, 700_000).await;
    let v = wait_state(&app, &token, &id, "ready", Duration::from_secs(120)).await;
    let names: Vec<&str> = v["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["720p", "480p", "360p", "240p"],
        "capped at the source: {v}"
    );
    let duration = v["duration_secs"].as_f64().unwrap();
    assert!((duration - 8.0).abs() < 0.6, "duration {duration}");
    assert_eq!(v["progress"], 100.0);
    for r in v["renditions"].as_array().unwrap() {
        assert!(r["bandwidth"].as_u64().unwrap() >= r["average_bandwidth"].as_u64().unwrap());
        assert!(r["codecs"].as_str().unwrap().starts_with("avc1."), "{r}");
        assert!(r["codecs"].as_str().unwrap().contains("mp4a.40.2"), "{r}");
    }

    // The event stream showed processing with progress, then ready.
    let seen = tokio::time::timeout(Duration::from_secs(10), events)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.first().unwrap().0, "awaiting_upload", "{seen:?}");
    assert_eq!(seen.last().unwrap().0, "ready", "{seen:?}");
    assert!(
        seen.iter()
            .any(|(s, p)| s == "processing" && *p > 0.0 && *p < 100.0),
        "no progress seen: {seen:?}"
    );

    // The poster.
    let r = app.get(v["thumbnail_url"].as_str().unwrap(), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(&r.bytes().await.unwrap()[..2], &[0xFF, 0xD8]);

    // A free-plan viewer gets up to 480p.
    let (_, master_url) = playback(&app, &token, &id).await;
    let master = app.client.get(&master_url).send().await.unwrap();
    assert_eq!(master.status(), StatusCode::OK);
    assert_eq!(
        master.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(master.headers()["access-control-allow-origin"], "*");
    let master = master.text().await.unwrap();
    assert!(master.starts_with("#EXTM3U"), "{master}");
    let variants: Vec<&str> = master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-STREAM-INF"))
        .collect();
    assert_eq!(variants.len(), 3, "free plan: 480p and below\n{master}");
    for v in &variants {
        for attr in [
            "BANDWIDTH=",
            "AVERAGE-BANDWIDTH=",
            "RESOLUTION=",
            "CODECS=",
            "FRAME-RATE=",
        ] {
            assert!(v.contains(attr), "{attr} missing in {v}");
        }
    }
    assert!(!master.contains("1280x720"), "{master}");

    // A media playlist: VOD, ENDLIST, a version, segments of about 4 s.
    let media_url = uris(&master_url, &master).remove(0);
    let media = text(&app, &media_url).await;
    for tag in [
        "#EXT-X-VERSION:",
        "#EXT-X-TARGETDURATION:",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-ENDLIST",
    ] {
        assert!(media.contains(tag), "{tag} missing\n{media}");
    }
    let seg_url = uris(&media_url, &media).remove(0);
    let seg = app.client.get(&seg_url).send().await.unwrap();
    assert_eq!(seg.status(), StatusCode::OK);
    assert_eq!(seg.headers()["content-type"], "video/mp2t");
    assert!(seg.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let etag = seg.headers()["etag"].to_str().unwrap().to_owned();
    let body = seg.bytes().await.unwrap();
    assert_eq!(body[0], 0x47, "MPEG-TS sync byte");
    let r = app
        .client
        .get(&seg_url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes 100-199/{}", body.len())
    );
    assert_eq!(r.bytes().await.unwrap(), body.slice(100..200));
    let r = app
        .client
        .get(&seg_url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    // ffmpeg plays the whole master playlist over HTTP without an error.
    let (ok, stderr) = ffmpeg_plays(&master_url);
    assert!(ok && stderr.trim().is_empty(), "ffmpeg failed: {stderr}");

    // Upgraded to premium, the same viewer gets 720p too.
    let r = app
        .request(
            Method::PUT,
            "/api/v1/admin/users/uploader/plan",
            Some(&admin),
            Some(json!({"plan": "premium"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, master_url) = playback(&app, &token, &id).await;
    let master = text(&app, &master_url).await;
    assert!(master.contains("RESOLUTION=1280x720"), "{master}");
}

#[tokio::test]
async fn tus_answers_each_protocol_error_with_its_status() {
    let app =
        TestApp::spawn(media_options().env("TROUPE__MEDIA__MAX_UPLOAD_BYTES", "1000000")).await;
    let token = app.user("alice").await;
    let other = app.user("mallory").await;
    let v = new_video(&app, &token, "t", "public").await;
    let id = v["id"].as_str().unwrap();

    // Discovery.
    let r = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/uploads"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["tus-version"], "1.0.0");
    let ext = r.headers()["tus-extension"].to_str().unwrap();
    for e in [
        "creation",
        "creation-with-upload",
        "expiration",
        "checksum",
        "termination",
    ] {
        assert!(ext.split(',').any(|x| x == e), "{e} in {ext}");
    }
    assert_eq!(r.headers()["tus-max-size"], "1000000");
    assert!(r.headers()["tus-checksum-algorithm"]
        .to_str()
        .unwrap()
        .contains("sha1"));
    assert!(r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Upload-Offset"));

    let create = |version: &'static str, len: &str| {
        app.client
            .post(app.url("/api/v1/uploads"))
            .bearer_auth(&token)
            .header("Tus-Resumable", version)
            .header("Upload-Length", len.to_owned())
            .header("Upload-Metadata", format!("video_id {}", b64(id)))
    };
    problem(
        create("0.2.2", "10").send().await.unwrap(),
        412,
        "unsupported_tus_version",
    )
    .await;
    problem(
        create("1.0.0", "2000000").send().await.unwrap(),
        413,
        "upload_too_large",
    )
    .await;
    problem(
        create("1.0.0", "ten").send().await.unwrap(),
        400,
        "invalid_upload_length",
    )
    .await;
    let r = app
        .client
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    problem(r, 400, "missing_video_id").await;
    // Somebody else's video.
    let r = app
        .client
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&other)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10")
        .header("Upload-Metadata", format!("video_id {}", b64(id)))
        .send()
        .await
        .unwrap();
    problem(r, 403, "forbidden").await;
    let r = app
        .client
        .post(app.url("/api/v1/uploads"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    problem(r, 401, "missing_token").await;

    let r = create("1.0.0", "300").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["tus-resumable"], "1.0.0");
    assert!(r.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("Upload-Offset"));
    assert!(r.headers().contains_key("upload-expires"));
    let loc = r.headers()["location"].to_str().unwrap().to_owned();

    // HEAD: offset 0, no caching.
    let head = |t: &str| {
        app.client
            .head(app.url(&loc))
            .bearer_auth(t.to_owned())
            .header("Tus-Resumable", "1.0.0")
            .send()
    };
    let r = head(&token).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["upload-offset"], "0");
    assert_eq!(r.headers()["upload-length"], "300");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(head(&other).await.unwrap().status(), StatusCode::FORBIDDEN);

    let patch = |offset: u64, ct: &'static str, body: Vec<u8>| {
        app.client
            .patch(app.url(&loc))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", ct)
            .body(body)
    };
    const OCT: &str = "application/offset+octet-stream";
    problem(
        patch(0, "application/json", vec![1; 10])
            .send()
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        patch(5, OCT, vec![1; 10]).send().await.unwrap(),
        409,
        "offset_mismatch",
    )
    .await;
    problem(
        patch(0, OCT, vec![1; 301]).send().await.unwrap(),
        413,
        "upload_too_long",
    )
    .await;
    // A wrong checksum stores nothing.
    let sha = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b));
    let r = patch(0, OCT, vec![7; 100])
        .header("Upload-Checksum", format!("sha1 {}", sha(&[8; 100])))
        .send()
        .await
        .unwrap();
    problem(r, 460, "checksum_mismatch").await;
    let r = patch(0, OCT, vec![7; 100])
        .header("Upload-Checksum", "md4 AAAA")
        .send()
        .await
        .unwrap();
    problem(r, 400, "unsupported_checksum_algorithm").await;
    assert_eq!(head(&token).await.unwrap().headers()["upload-offset"], "0");
    // A right checksum stores the chunk.
    let r = patch(0, OCT, vec![7; 100])
        .header("Upload-Checksum", format!("sha1 {}", sha(&[7; 100])))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(r.headers()["upload-offset"], "100");
    assert!(r.headers().contains_key("upload-expires"));
    // X-HTTP-Method-Override: PATCH through POST.
    let r = app
        .client
        .post(app.url(&loc))
        .bearer_auth(&token)
        .header("X-HTTP-Method-Override", "PATCH")
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "100")
        .header("Content-Type", OCT)
        .body(vec![7; 50])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["upload-offset"], "150");
    // Termination: then 410, and its bytes are gone.
    let r = app
        .client
        .delete(app.url(&loc))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = head(&token).await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(!r.headers().contains_key("upload-offset"));
    problem(
        patch(150, OCT, vec![7; 10]).send().await.unwrap(),
        410,
        "upload_gone",
    )
    .await;
    let upload_id = loc.rsplit('/').next().unwrap();
    assert!(
        !app.data_dir.join("blobs/uploads").join(upload_id).exists(),
        "terminated bytes are deleted"
    );
    let r = app
        .client
        .head(app.url("/api/v1/uploads/00000000-0000-0000-0000-000000000000"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn overlapping_patches_commit_once_and_a_patch_after_completion_is_refused() {
    let app = TestApp::spawn(media_options()).await;
    let token = app.user("alice").await;
    let v = new_video(&app, &token, "race", "public").await;
    let id = v["id"].as_str().unwrap();
    let loc = tus_create(&app, &token, id, 2_000_000).await;
    let (a, b) = tokio::join!(
        tus_patch(&app, &token, &loc, 0, vec![1; 1_000_000]),
        tus_patch(&app, &token, &loc, 0, vec![2; 1_000_000])
    );
    let mut codes = [a.status().as_u16(), b.status().as_u16()];
    codes.sort();
    assert_eq!(
        codes,
        [204, 409],
        "exactly one of two PATCHes at one offset wins"
    );
    let r = tus_patch(&app, &token, &loc, 1_000_000, vec![3; 1_000_000]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    problem(
        tus_patch(&app, &token, &loc, 2_000_000, vec![4; 10]).await,
        409,
        "upload_complete",
    )
    .await;
    // The stored parts are exactly the winner's bytes: one part file per committed PATCH.
    let upload_id = loc.rsplit('/').next().unwrap();
    let parts = app
        .data_dir
        .join("blobs/uploads")
        .join(upload_id)
        .join("parts");
    let mut sizes: Vec<u64> = std::fs::read_dir(&parts)
        .map(|d| d.map(|e| e.unwrap().metadata().unwrap().len()).collect())
        .unwrap_or_default();
    sizes.sort();
    // (They may already be deleted if the transcode failed and the sweeper ran.)
    assert!(
        sizes.is_empty() || sizes == [1_000_000, 1_000_000],
        "{sizes:?}"
    );
}

#[tokio::test]
async fn files_that_are_not_video_fail_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let token = app.user("alice").await;
    let real = std::fs::read(clip(tmp.path(), "x.mp4", 320, 240, 2, false)).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "random bytes",
            (0..50_000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
        ("empty", Vec::new()),
        ("truncated", real[..real.len() / 3].to_vec()),
        ("text", b"this is not a video at all\n".repeat(100)),
    ];
    let mut ids = Vec::new();
    for (what, data) in &cases {
        let v = new_video(&app, &token, what, "public").await;
        let id = v["id"].as_str().unwrap().to_owned();
        if data.is_empty() {
            tus_create(&app, &token, &id, 0).await;
        } else {
            upload(&app, &token, &id, data, 1 << 20).await;
        }
        ids.push((what, id));
    }
    for (what, id) in ids {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let v = loop {
            let v: Value = app
                .get(&format!("/api/v1/videos/{id}"), Some(&token))
                .await
                .json()
                .await
                .unwrap();
            if v["state"] == "failed" {
                break v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what} did not fail: {v}\n{}",
                app.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let reason = v["failure_reason"].as_str().unwrap_or_default();
        assert!(!reason.is_empty(), "{what}: {v}");
        assert!(
            reason.contains("video") || reason.contains("empty") || reason.contains("truncated"),
            "{what}: {reason}"
        );
    }
    // Nothing is left in the transcoder's temp dir.
    let tmpdir = app.data_dir.join("tmp/transcode");
    eventually(Duration::from_secs(10), || async {
        (std::fs::read_dir(&tmpdir).map(|d| d.count()).unwrap_or(0) == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_dropped_connection_keeps_what_arrived_and_the_upload_resumes() {
    use tokio::io::AsyncWriteExt;
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let token = app.user("alice").await;
    let data = std::fs::read(clip(tmp.path(), "in.mp4", 320, 240, 3, true)).unwrap();
    let v = new_video(&app, &token, "flaky", "public").await;
    let id = v["id"].as_str().unwrap().to_owned();
    let loc = tus_create(&app, &token, &id, data.len() as u64).await;
    // Send headers for the whole file and only half the body, then hang up.
    let half = data.len() / 2;
    let mut s = tokio::net::TcpStream::connect(&app.addr).await.unwrap();
    let head = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        app.addr,
        data.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&data[..half]).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(s);
    // The server kept the bytes that arrived.
    let offset: usize = eventually(Duration::from_secs(10), || async {
        let r = app
            .client
            .head(app.url(&loc))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .unwrap();
        let o: usize = r.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        (o > 0).then_some(o)
    })
    .await;
    assert!(offset <= half, "{offset} > {half}");
    let r = tus_patch(&app, &token, &loc, offset as u64, data[offset..].to_vec()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    wait_state(&app, &token, &id, "ready", Duration::from_secs(60)).await;
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_transcode_still_ends_ready() {
    let tmp = tempfile::tempdir().unwrap();
    let mut app =
        TestApp::spawn(media_options().env("TROUPE__MEDIA__X264_PRESET", "veryfast")).await;
    let token = app.user("alice").await;
    let data = std::fs::read(clip(tmp.path(), "long.mp4", 1280, 720, 20, true)).unwrap();
    let v = new_video(&app, &token, "long", "public").await;
    let id = v["id"].as_str().unwrap().to_owned();
    upload(&app, &token, &id, &data, 4 << 20).await;
    let p = eventually(Duration::from_secs(60), || async {
        let v: Value = app
            .get(&format!("/api/v1/videos/{id}"), Some(&token))
            .await
            .json()
            .await
            .unwrap();
        assert_ne!(
            v["state"], "ready",
            "finished before it could be interrupted"
        );
        (v["state"] == "processing" && v["progress"].as_f64().unwrap() > 5.0)
            .then(|| v["progress"].as_f64().unwrap())
    })
    .await;
    app.kill9();
    let app = app.restart().await;
    let v = wait_state(&app, &token, &id, "ready", Duration::from_secs(180)).await;
    assert_eq!(v["renditions"].as_array().unwrap().len(), 4, "{v}");
    assert!(
        app.logs().contains("lost"),
        "the restart should say it resumed a lost run (was at {p}%)"
    );
    let (_, master) = playback(&app, &token, &id).await;
    let (ok, stderr) = ffmpeg_plays(&master);
    assert!(ok && stderr.trim().is_empty(), "{stderr}");
    assert_eq!(
        std::fs::read_dir(app.data_dir.join("tmp/transcode"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn without_ffmpeg_the_server_starts_and_says_how_to_install_it() {
    let app = TestApp::spawn(
        media_options()
            .env("TROUPE__MEDIA__FFMPEG", "/nonexistent/ffmpeg")
            .env("TROUPE__MEDIA__FFPROBE", "/nonexistent/ffprobe"),
    )
    .await;
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["ffmpeg"]["ok"], false, "{body}");
    let token = app.user("alice").await;
    let v = new_video(&app, &token, "no tools", "public").await;
    let id = v["id"].as_str().unwrap();
    upload(&app, &token, id, &[1u8; 1000], 1000).await;
    let v = wait_state(&app, &token, id, "failed", Duration::from_secs(30)).await;
    let reason = v["failure_reason"].as_str().unwrap();
    assert!(reason.contains("install"), "{reason}");
}

#[tokio::test]
async fn hls_refuses_bad_tokens_other_videos_and_odd_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let token = app.user("alice").await;
    let a = ready_video(&app, &token, tmp.path(), 320, 240, 2, "public").await;
    let a = a["id"].as_str().unwrap().to_owned();
    let b = new_video(&app, &token, "other", "public").await;
    let b = b["id"].as_str().unwrap().to_owned();
    let (tok, master_url) = playback(&app, &token, &a).await;
    let master = text(&app, &master_url).await;
    let media_url = uris(&master_url, &master).remove(0);
    let media = text(&app, &media_url).await;
    let seg_url = uris(&media_url, &media).remove(0);
    assert_eq!(
        app.client.get(&seg_url).send().await.unwrap().status(),
        StatusCode::OK
    );

    // No token, a tampered token, another video's token.
    problem(
        app.get(&format!("/hls/{a}/master.m3u8"), None).await,
        403,
        "invalid_playback_token",
    )
    .await;
    let mut bad = tok.clone();
    bad.pop();
    bad.push(if tok.ends_with('A') { 'B' } else { 'A' });
    problem(
        app.get(&format!("/hls/{a}/master.m3u8?token={bad}"), None)
            .await,
        403,
        "invalid_playback_token",
    )
    .await;
    problem(
        app.get(&format!("/hls/{b}/master.m3u8?token={tok}"), None)
            .await,
        403,
        "token_wrong_video",
    )
    .await;
    let other_seg = seg_url.replace(&a, &b);
    assert_eq!(
        app.client.get(&other_seg).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // An expired token (forged with the test secret, which the test server uses).
    let expired = forge_playback(&a, -120);
    problem(
        app.get(&format!("/hls/{a}/master.m3u8?token={expired}"), None)
            .await,
        403,
        "playback_token_expired",
    )
    .await;
    // Odd paths never reach the store.
    let base = &seg_url[..seg_url.rfind('/').unwrap()];
    for odd in [
        "..%2F..%2Fjwt-secret",
        "%2e%2e%2fsecret",
        "seg_00000.ts%2F..",
        "..",
        "index.m3u8.bak",
        "seg_1.ts",
        "%2Fetc%2Fpasswd",
    ] {
        let r = app
            .client
            .get(format!("{base}/{odd}"))
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        assert!(s == 404 || s == 400 || s == 403, "{odd}: {s}");
        let body = r.bytes().await.unwrap();
        assert!(!body.starts_with(&[0x47]), "{odd} served segment bytes");
    }
    // A private video: invisible to others, no token for them.
    let other = app.user("mallory").await;
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/videos/{a}"),
            Some(&token),
            Some(json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    problem(
        app.get(&format!("/api/v1/videos/{a}"), Some(&other)).await,
        404,
        "video_not_found",
    )
    .await;
    problem(
        app.get(&format!("/api/v1/videos/{a}"), None).await,
        404,
        "video_not_found",
    )
    .await;
    problem(
        app.request(
            Method::POST,
            "/api/v1/playback/sessions",
            Some(&other),
            Some(json!({"video_id": a, "device_id": "mallory-tv"})),
        )
        .await,
        404,
        "video_not_found",
    )
    .await;
    problem(
        app.request(
            Method::PATCH,
            &format!("/api/v1/videos/{b}"),
            Some(&other),
            Some(json!({"title": "mine now"})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    problem(
        app.request(
            Method::DELETE,
            &format!("/api/v1/videos/{b}"),
            Some(&other),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // The owner still plays it.
    let (_, master_url) = playback(&app, &token, &a).await;
    assert_eq!(
        app.client.get(&master_url).send().await.unwrap().status(),
        StatusCode::OK
    );
}

/// A playback token signed with the test secret, expiring `exp_in` seconds from now.
fn forge_playback(video: &str, exp_in: i64) -> String {
    use hmac::Mac;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let enc = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let head = enc(&json!({"alg": "HS256", "typ": "JWT"}));
    let claims = enc(
        &json!({"iss": "troupe", "aud": "troupe/playback", "sub": "alice", "vid": video, "cap": 480, "iat": now - 600, "exp": now + exp_in}),
    );
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(crate::harness::SECRET.as_bytes()).unwrap();
    mac.update(format!("{head}.{claims}").as_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{head}.{claims}.{sig}")
}

#[tokio::test]
async fn listing_paginates_searches_and_shows_only_what_the_caller_may_see() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let ready = ready_video(&app, &alice, tmp.path(), 320, 240, 2, "public").await;
    for (title, vis) in [
        ("Ocean waves", "public"),
        ("Mountain hike", "public"),
        ("Secret diary", "private"),
        ("Hidden gem", "unlisted"),
        ("City lights", "public"),
    ] {
        let r = app
            .request(Method::POST, "/api/v1/videos", Some(&alice), Some(json!({"title": title, "visibility": vis, "tags": [title.split(' ').next().unwrap().to_lowercase()]})))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // Listed within a second of the acknowledgement.
    app.listed("/api/v1/videos?owner=alice&limit=10", Some(&alice), |p| {
        p["items"].as_array().unwrap().len() == 6
    })
    .await;
    // Alice pages through her six videos, two at a time, newest first, no repeats.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/v1/videos?owner=alice&limit=2&cursor={c}"),
            None => "/api/v1/videos?owner=alice&limit=2".into(),
        };
        let page: Value = app.get(&q, Some(&alice)).await.json().await.unwrap();
        for v in page["items"].as_array().unwrap() {
            seen.push(v["title"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "City lights",
            "Hidden gem",
            "Secret diary",
            "Mountain hike",
            "Ocean waves",
            "a clip"
        ]
    );
    // Search and tags.
    let page: Value = app
        .get("/api/v1/videos?q=ocean", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let page: Value = app
        .get("/api/v1/videos?tag=mountain", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"][0]["title"], "Mountain hike");
    // Bob and anonymous see only the public, ready one.
    for t in [Some(bob.as_str()), None] {
        let page: Value = app.get("/api/v1/videos", t).await.json().await.unwrap();
        let ids: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [ready["id"].as_str().unwrap()]);
    }
    problem(
        app.get("/api/v1/videos?cursor=garbage", None).await,
        422,
        "invalid_cursor",
    )
    .await;
    problem(
        app.get("/api/v1/videos?limit=1000", None).await,
        400,
        "invalid_query",
    )
    .await;
    let r = app
        .request(
            Method::POST,
            "/api/v1/videos",
            Some(&alice),
            Some(json!({"title": ""})),
        )
        .await;
    problem(r, 422, "invalid_video").await;
    let r = app
        .request(
            Method::POST,
            "/api/v1/videos",
            Some(&alice),
            Some(json!({"title": "x", "visibility": "secret"})),
        )
        .await;
    problem(r, 422, "invalid_body").await;
}

#[tokio::test]
async fn deleting_a_video_removes_every_blob_it_owns() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let token = app.user("alice").await;
    let v = ready_video(&app, &token, tmp.path(), 320, 240, 2, "public").await;
    let id = v["id"].as_str().unwrap();
    let upload = v["upload_id"].as_str().unwrap();
    let (_, master) = playback(&app, &token, id).await;
    assert!(app.data_dir.join("blobs/videos").join(id).exists());
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/videos/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(
        !app.data_dir.join("blobs/videos").join(id).exists(),
        "HLS output left behind"
    );
    assert!(
        !app.data_dir.join("blobs/uploads").join(upload).exists(),
        "upload bytes left behind"
    );
    problem(
        app.get(&format!("/api/v1/videos/{id}"), Some(&token)).await,
        404,
        "video_not_found",
    )
    .await;
    assert_eq!(
        app.client.get(&master).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // Again: still gone, not an error of another kind.
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/videos/{id}"),
            Some(&token),
            None,
        )
        .await;
    problem(r, 404, "video_not_found").await;
}

#[tokio::test]
async fn an_unfinished_upload_expires_and_leaves_no_file() {
    let app = TestApp::spawn(media_options().env("TROUPE__MEDIA__UPLOAD_TTL_SECS", "2")).await;
    let token = app.user("alice").await;
    let v = new_video(&app, &token, "abandoned", "public").await;
    let id = v["id"].as_str().unwrap();
    let loc = tus_create(&app, &token, id, 1000).await;
    assert_eq!(
        tus_patch(&app, &token, &loc, 0, vec![1; 400])
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let upload_id = loc.rsplit('/').next().unwrap().to_owned();
    assert!(app.data_dir.join("blobs/uploads").join(&upload_id).exists());
    let v = wait_state(&app, &token, id, "failed", Duration::from_secs(20)).await;
    assert!(
        v["failure_reason"].as_str().unwrap().contains("expired"),
        "{v}"
    );
    eventually(Duration::from_secs(10), || async {
        (!app.data_dir.join("blobs/uploads").join(&upload_id).exists()).then_some(())
    })
    .await;
    let r = app
        .client
        .head(app.url(&loc))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert!(matches!(r.status().as_u16(), 404 | 410), "{}", r.status());
    problem(
        tus_patch(&app, &token, &loc, 400, vec![1; 600]).await,
        410,
        "upload_gone",
    )
    .await;
    // A new upload for the same video works.
    let loc = tus_create(&app, &token, id, 10).await;
    assert_eq!(
        tus_patch(&app, &token, &loc, 0, vec![1; 10]).await.status(),
        StatusCode::NO_CONTENT
    );
}

mod cluster {
    use super::*;
    use crate::cluster::{Cluster, Spec};

    async fn media_cluster() -> Cluster {
        let env = media_env();
        Cluster::start_with_env(
            Spec {
                nodes: 3,
                proxied: false,
            },
            &env,
        )
        .await
    }

    #[tokio::test]
    async fn in_a_cluster_an_upload_through_every_node_plays_from_any() {
        let tmp = tempfile::tempdir().unwrap();
        let c = media_cluster().await;
        let token = c.nodes[0].user("alice").await;
        let data = std::fs::read(clip(tmp.path(), "in.mp4", 640, 360, 6, true)).unwrap();
        let v = new_video(&c.nodes[1], &token, "clustered", "public").await;
        let id = v["id"].as_str().unwrap().to_owned();
        // One PATCH through each node in turn.
        let loc = tus_create(&c.nodes[0], &token, &id, data.len() as u64).await;
        let chunk = data.len() / 3 + 1;
        for (i, off) in (0..data.len()).step_by(chunk).enumerate() {
            let end = (off + chunk).min(data.len());
            let r = tus_patch(
                &c.nodes[i % 3],
                &token,
                &loc,
                off as u64,
                data[off..end].to_vec(),
            )
            .await;
            assert_eq!(
                r.status(),
                StatusCode::NO_CONTENT,
                "{}",
                r.text().await.unwrap()
            );
        }
        let v = wait_state(&c.nodes[2], &token, &id, "ready", Duration::from_secs(120)).await;
        let names: Vec<&str> = v["renditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["360p", "240p"]);
        for n in 0..3 {
            let (_, master) = playback(&c.nodes[n], &token, &id).await;
            let (ok, stderr) = ffmpeg_plays(&master);
            assert!(ok && stderr.trim().is_empty(), "node{n}: {stderr}");
        }
        // Deleting through one node removes the blobs from the shared bucket.
        let r = c.nodes[1]
            .request(
                Method::DELETE,
                &format!("/api/v1/videos/{id}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let keys = c.moto.keys("troupe").await;
        // (State under `state/` is the store's; a removed actor leaves a tombstone there.)
        let blobs: Vec<&String> = keys.iter().filter(|k| !k.starts_with("state/")).collect();
        assert!(
            !blobs
                .iter()
                .any(|k| k.contains(&id) || k.contains("uploads/")),
            "blobs left in the bucket: {blobs:?}"
        );
    }

    #[tokio::test]
    async fn killing_the_node_that_runs_a_transcode_still_ends_ready() {
        let tmp = tempfile::tempdir().unwrap();
        let env: Vec<(&str, String)> = media_env()
            .into_iter()
            .chain([("TROUPE__MEDIA__X264_PRESET", "veryfast".to_string())])
            .collect();
        let mut c = Cluster::start_with_env(
            Spec {
                nodes: 3,
                proxied: false,
            },
            &env,
        )
        .await;
        let token = c.nodes[0].user("alice").await;
        let data = std::fs::read(clip(tmp.path(), "long.mp4", 1280, 720, 20, true)).unwrap();
        let v = new_video(&c.nodes[0], &token, "long", "public").await;
        let id = v["id"].as_str().unwrap().to_owned();
        let loc = upload(&c.nodes[0], &token, &id, &data, 8 << 20).await;
        let upload_id = loc.rsplit('/').next().unwrap().to_owned();
        let runner = Cluster::owner("upload", &upload_id, &[0, 1, 2]);
        let survivor = (runner + 1) % 3;
        eventually(Duration::from_secs(60), || async {
            let v: Value = c.nodes[survivor]
                .get(&format!("/api/v1/videos/{id}"), Some(&token))
                .await
                .json()
                .await
                .unwrap();
            assert_ne!(
                v["state"], "ready",
                "finished before it could be interrupted"
            );
            (v["state"] == "processing" && v["progress"].as_f64().unwrap() > 5.0).then_some(())
        })
        .await;
        c.nodes[runner].kill9();
        let v = wait_state(
            &c.nodes[survivor],
            &token,
            &id,
            "ready",
            Duration::from_secs(240),
        )
        .await;
        assert_eq!(v["renditions"].as_array().unwrap().len(), 4, "{v}");
        let taken_over = (0..3)
            .filter(|&n| n != runner)
            .any(|n| c.nodes[n].logs().contains("was lost"));
        assert!(
            taken_over,
            "a survivor should say it took over the lost run"
        );
        let (_, master) = playback(&c.nodes[survivor], &token, &id).await;
        let (ok, stderr) = ffmpeg_plays(&master);
        assert!(ok && stderr.trim().is_empty(), "{stderr}");
    }
}

#[tokio::test]
async fn a_transcode_that_times_out_is_retried_with_backoff_then_fails_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let data = std::fs::read(clip(tmp.path(), "long.mp4", 1280, 720, 20, true)).unwrap();
    let app = TestApp::spawn(
        media_options()
            .env("TROUPE__MEDIA__X264_PRESET", "medium")
            .env("TROUPE__MEDIA__TRANSCODE_TIMEOUT_SECS", "1")
            .env("TROUPE__MEDIA__TRANSCODE_ATTEMPTS", "3"),
    )
    .await;
    let token = app.user("alice").await;
    let v = new_video(&app, &token, "too slow", "public").await;
    let id = v["id"].as_str().unwrap();
    upload(&app, &token, id, &data, 8 << 20).await;
    let v = wait_state(&app, &token, id, "failed", Duration::from_secs(60)).await;
    let reason = v["failure_reason"].as_str().unwrap();
    assert!(
        reason.contains("3 times") && reason.contains("timed out"),
        "{reason}"
    );
    let logs = app.logs();
    assert_eq!(
        logs.matches("transcode run failed; will retry").count(),
        2,
        "two retries before giving up"
    );
    assert_eq!(
        std::fs::read_dir(app.data_dir.join("tmp/transcode"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn a_portrait_phone_video_gets_renditions_named_by_its_short_side() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let token = app.user("alice").await;
    let v = ready_video(&app, &token, tmp.path(), 360, 640, 2, "public").await;
    let sizes: Vec<(String, u64, u64)> = v["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap().to_owned();
            (
                name,
                r["width"].as_u64().unwrap(),
                r["height"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [
            ("360p".to_string(), 360, 640),
            ("240p".to_string(), 240, 426)
        ],
        "{v}"
    );
    let (_, master) = playback(&app, &token, v["id"].as_str().unwrap()).await;
    let master = text(&app, &master).await;
    assert!(master.contains("RESOLUTION=360x640"), "{master}");
}

/// This node's HLS cache gauges: (`troupe_hls_cache_bytes`, `troupe_hls_cache_entries`).
async fn hls_cache_gauges(app: &TestApp) -> (f64, f64) {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    let gauge = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("/metrics lacks {name}:\n{text}"))
            .trim()
            .parse::<f64>()
            .unwrap()
    };
    (
        gauge("troupe_hls_cache_bytes"),
        gauge("troupe_hls_cache_entries"),
    )
}

/// Plays a video as a player does: its master playlist, its first variant's media playlist,
/// and every segment of it.
async fn play_first_variant(app: &TestApp, token: &str, id: &str) {
    let (_, master_url) = playback(app, token, id).await;
    let master = text(app, &master_url).await;
    let media_url = uris(&master_url, &master).remove(0);
    let media = text(app, &media_url).await;
    let segments = uris(&media_url, &media);
    assert!(!segments.is_empty(), "{media}");
    for s in segments {
        let r = app.client.get(&s).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{s}");
        assert!(!r.bytes().await.unwrap().is_empty());
    }
}

/// The HLS cache shows what it holds on `/metrics`, and a deleted video's blobs leave it: the
/// gauges go back to what the video that stays holds.
#[tokio::test]
async fn a_deleted_videos_segments_leave_the_hls_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let token = app.user("alice").await;
    let kept = ready_video(&app, &token, tmp.path(), 320, 240, 3, "public").await;
    let gone = ready_video(&app, &token, tmp.path(), 426, 240, 3, "public").await;
    let (kept, gone) = (kept["id"].as_str().unwrap(), gone["id"].as_str().unwrap());
    assert_eq!(
        hls_cache_gauges(&app).await,
        (0.0, 0.0),
        "nothing played yet"
    );

    play_first_variant(&app, &token, kept).await;
    let (kept_bytes, kept_entries) = hls_cache_gauges(&app).await;
    assert!(
        kept_bytes > 0.0 && kept_entries >= 2.0,
        "{kept_bytes} bytes in {kept_entries}"
    );
    play_first_variant(&app, &token, gone).await;
    let (both_bytes, both_entries) = hls_cache_gauges(&app).await;
    assert!(
        both_bytes > kept_bytes && both_entries > kept_entries,
        "{both_bytes} bytes in {both_entries} after playing a second video"
    );

    let r = app
        .request(
            Method::DELETE,
            &format!("/api/v1/videos/{gone}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    eventually(Duration::from_secs(30), || async {
        (hls_cache_gauges(&app).await == (kept_bytes, kept_entries)).then_some(())
    })
    .await;
    // What stays is still served.
    play_first_variant(&app, &token, kept).await;
    assert_eq!(hls_cache_gauges(&app).await, (kept_bytes, kept_entries));
}
