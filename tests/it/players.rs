//! Real, unchanged third-party clients against a real server: hls.js in headless Debian
//! Chromium (driven by playwright-core) plays the HLS output to the end; tuspy and
//! tus-js-client upload with their own resume logic, interrupted halfway (and once across a
//! server restart). The scripts they run live in `tests/players/`; `scripts/test.sh` installs
//! the tools (Debian's chromium and nodejs, the npm packages, PyPI's tuspy). Nothing here
//! skips: a missing tool fails the test and says so.

use crate::harness::TestApp;
use crate::media::{clip, media_options, new_video, playback, ready_video, wait_state};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Debian's chromium: its ffmpeg decodes H.264 and AAC (Playwright's own build has no H.264).
const CHROMIUM: &str = "/usr/bin/chromium";

fn players_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/players")
}

/// Fails the test (never skips it) when a tool is missing.
fn need(ok: bool, what: &str) {
    assert!(
        ok,
        "{what} is missing: run scripts/test.sh, which installs it"
    );
}

fn runs(cmd: &str, args: &[&str]) -> bool {
    std::process::Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn need_node_packages(packages: &[&str]) {
    need(runs("node", &["--version"]), "node (Node.js ≥ 20)");
    for p in packages {
        let manifest = players_dir()
            .join("node_modules")
            .join(p)
            .join("package.json");
        need(
            manifest.exists(),
            &format!("the npm package {p} (in tests/players/node_modules)"),
        );
    }
}

fn need_chromium() {
    need(
        Path::new(CHROMIUM).exists(),
        "Debian's chromium (/usr/bin/chromium)",
    );
}

fn need_tuspy() {
    need(
        runs("python3", &["-c", "import tusclient"]),
        "the PyPI package tuspy (python3 module tusclient)",
    );
}

/// Runs a client script to its end (killed after `limit`); returns its exit status and the JSON
/// it printed last. Panics with everything it printed if there is no such JSON.
async fn run_script(cmd: &str, args: &[String], limit: Duration) -> (bool, Value, String) {
    let started = Instant::now();
    let child = tokio::process::Command::new(cmd)
        .args(args)
        .current_dir(players_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{cmd} could not start ({e}): run scripts/test.sh, which installs it")
        });
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{cmd} {args:?} did not finish within {limit:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = stdout
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
        })
        .unwrap_or_else(|| {
            panic!(
                "{cmd} {args:?} printed no JSON ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
                out.status
            )
        });
    eprintln!(
        "{cmd} {} took {:.1} s",
        args.first().map(String::as_str).unwrap_or(""),
        started.elapsed().as_secs_f64()
    );
    (out.status.success(), json, stderr)
}

/// Plays `master_url` to the end with hls.js in headless chromium; returns play.js's report.
async fn play(master_url: &str, pin_top: bool) -> Value {
    let mut args = vec!["play.js".to_owned(), master_url.to_owned()];
    if pin_top {
        args.push("--pin-top".into());
    }
    // play.js gives up after the duration + 30 s itself; this is only a backstop.
    let (ok, report, stderr) = run_script("node", &args, Duration::from_secs(120)).await;
    assert!(ok, "hls.js did not play to the end: {report:#}\n{stderr}");
    report
}

fn heights(report: &Value, key: &str) -> Vec<u64> {
    let mut h: Vec<u64> = report[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {report}"))
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    h.sort_unstable();
    h
}

/// What every play-to-the-end must show.
fn assert_played_to_the_end(report: &Value, duration_secs: f64) {
    assert_eq!(report["fatal"], false, "{report:#}");
    assert_eq!(report["timedOut"], false, "{report:#}");
    assert_eq!(report["ended"], true, "{report:#}");
    let current = report["currentTime"].as_f64().unwrap();
    let duration = report["duration"].as_f64().unwrap();
    assert!(
        (current - duration).abs() < 0.5,
        "stopped at {current} of {duration}: {report:#}"
    );
    assert!(
        (duration - duration_secs).abs() < 0.5,
        "the player's duration {duration} is not the video's {duration_secs}: {report:#}"
    );
    // Both tracks went through MSE: H.264 video and AAC audio.
    let codecs = &report["codecs"];
    assert!(
        codecs["video"].as_str().unwrap_or("").starts_with("avc1."),
        "{report:#}"
    );
    assert!(
        codecs["audio"]
            .as_str()
            .unwrap_or("")
            .starts_with("mp4a.40"),
        "{report:#}"
    );
    // Frames were decoded for the whole length (30 fps source; generous for a busy machine).
    let frames = report["decodedFrames"].as_f64().unwrap();
    assert!(
        frames >= duration_secs * 30.0 * 0.8,
        "only {frames} frames decoded in {duration_secs} s: {report:#}"
    );
}

#[tokio::test]
async fn the_hls_output_plays_to_the_end_in_hls_js_in_headless_chromium() {
    need_chromium();
    need_node_packages(&["hls.js", "playwright-core"]);
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let admin = app.user("boss").await;
    let viewer = app.user("viewer").await;
    let v = ready_video(&app, &viewer, tmp.path(), 1280, 720, 6, "public").await;
    let id = v["id"].as_str().unwrap().to_owned();
    let duration = v["duration_secs"].as_f64().unwrap();

    // A free-plan viewer: the 480p ladder and below, chosen by hls.js's ABR.
    let (_, master_url) = playback(&app, &viewer, &id).await;
    let report = play(&master_url, false).await;
    eprintln!("free plan: {report}");
    assert_played_to_the_end(&report, duration);
    assert_eq!(heights(&report, "levels"), [240, 360, 480], "{report:#}");
    assert!(report["videoHeight"].as_u64().unwrap() <= 480, "{report:#}");

    // Upgraded to premium, the same viewer gets 720p too, and plays it (pinned) to the end.
    let r = app
        .request(
            Method::PUT,
            "/api/v1/admin/users/viewer/plan",
            Some(&admin),
            Some(json!({"plan": "premium"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let (_, master_url) = playback(&app, &viewer, &id).await;
    let report = play(&master_url, true).await;
    eprintln!("premium plan, top level: {report}");
    assert_played_to_the_end(&report, duration);
    assert_eq!(
        heights(&report, "levels"),
        [240, 360, 480, 720],
        "{report:#}"
    );
    assert_eq!(report["videoHeight"], 720, "{report:#}");
}

/// HEAD on a tus upload: its `Upload-Offset` and `Upload-Length`.
async fn head_offset(app: &TestApp, token: &str, url: &str) -> (u64, u64) {
    let r = app
        .client
        .head(url)
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "HEAD {url}");
    let num = |h: &str| -> u64 { r.headers()[h].to_str().unwrap().parse().unwrap() };
    (num("upload-offset"), num("upload-length"))
}

/// One run of tests/players/tuspy_resume.py: a new TusClient and uploader each time.
async fn tuspy(
    endpoint: &str,
    token: &str,
    file: &Path,
    video: &str,
    storage: &Path,
    stop_at: Option<u64>,
    checksum: bool,
) -> Value {
    let mut args: Vec<String> = vec![
        "tuspy_resume.py".into(),
        "--endpoint".into(),
        endpoint.into(),
        "--token".into(),
        token.into(),
        "--file".into(),
        file.display().to_string(),
        "--video-id".into(),
        video.into(),
        "--storage".into(),
        storage.display().to_string(),
    ];
    if let Some(n) = stop_at {
        args.extend(["--stop-at".into(), n.to_string()]);
    }
    if checksum {
        args.push("--checksum".into());
    }
    let (ok, out, stderr) = run_script("python3", &args, Duration::from_secs(120)).await;
    assert!(ok, "tuspy failed: {out}\n{stderr}");
    out
}

#[tokio::test]
async fn an_interrupted_upload_resumes_with_tuspy() {
    need_tuspy();
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let token = app.user("alice").await;
    let file = clip(tmp.path(), "in.mp4", 1280, 720, 4, true);
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(
        size > 4 * 256 * 1024,
        "the clip should take several chunks: {size} bytes"
    );
    let v = new_video(&app, &token, "tuspy", "public").await;
    let id = v["id"].as_str().unwrap().to_owned();
    let endpoint = app.url("/api/v1/uploads");
    let storage = tmp.path().join("tuspy-urls.json");

    // First half: tuspy stops deliberately (upload(stop_at=N)), not on a chunk boundary.
    let half = size / 2 + 12_345;
    let first = tuspy(&endpoint, &token, &file, &id, &storage, Some(half), false).await;
    assert_eq!(first["resumed"], false, "{first}");
    assert_eq!(first["offset"], half, "{first}");
    let url = first["url"].as_str().unwrap().to_owned();
    // The server holds exactly what was sent.
    assert_eq!(head_offset(&app, &token, &url).await, (half, size));
    let v: Value = app
        .get(&format!("/api/v1/videos/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(v["state"], "ready", "{v}");

    // A new client and uploader find the upload in the storage and finish it, with a sha1
    // Upload-Checksum on every chunk this time (which the server verifies).
    let second = tuspy(&endpoint, &token, &file, &id, &storage, None, true).await;
    assert_eq!(second["resumed"], true, "{second}");
    assert_eq!(second["url"], url.as_str(), "{second}");
    assert_eq!(second["offset_at_start"], half, "{second}");
    assert_eq!(second["offset"], size, "{second}");
    assert_eq!(head_offset(&app, &token, &url).await, (size, size));

    let v = wait_state(&app, &token, &id, "ready", Duration::from_secs(120)).await;
    let d = v["duration_secs"].as_f64().unwrap();
    assert!((d - 4.0).abs() < 0.6, "duration {d}: {v}");
}

/// A stable address in front of a server process that gets replaced (as a load balancer
/// would be): connections go to whatever `target` is when they are accepted.
struct Front {
    addr: String,
    target: Arc<Mutex<String>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Front {
    async fn start(target: &str) -> Front {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let target = Arc::new(Mutex::new(target.to_owned()));
        let t = target.clone();
        let accept = tokio::spawn(async move {
            // Dropped with the accept task, which aborts every connection.
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = t.lock().unwrap().clone();
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Front {
            addr,
            target,
            accept,
        }
    }

    fn retarget(&self, target: &str) {
        *self.target.lock().unwrap() = target.to_owned();
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[tokio::test]
async fn a_tuspy_upload_resumes_after_the_server_is_killed_and_restarted() {
    need_tuspy();
    let tmp = tempfile::tempdir().unwrap();
    let mut app = TestApp::spawn(media_options()).await;
    let token = app.user("alice").await;
    let file = clip(tmp.path(), "in.mp4", 1280, 720, 4, true);
    let size = std::fs::metadata(&file).unwrap().len();
    let v = new_video(&app, &token, "across a restart", "public").await;
    let id = v["id"].as_str().unwrap().to_owned();
    let front = Front::start(&app.addr).await;
    let endpoint = format!("http://{}/api/v1/uploads", front.addr);
    let storage = tmp.path().join("tuspy-urls.json");

    let half = size / 2;
    let first = tuspy(&endpoint, &token, &file, &id, &storage, Some(half), true).await;
    assert_eq!(first["offset"], half, "{first}");
    let url = first["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("http://{}/", front.addr)), "{url}");
    assert_eq!(head_offset(&app, &token, &url).await, (half, size));

    // kill -9, and a new process on the same data dir (on a new port, behind the same front).
    app.kill9();
    let app = app.restart().await;
    front.retarget(&app.addr);
    assert_eq!(
        head_offset(&app, &token, &url).await,
        (half, size),
        "what was acknowledged before the kill is still there"
    );

    let second = tuspy(&endpoint, &token, &file, &id, &storage, None, true).await;
    assert_eq!(second["resumed"], true, "{second}");
    assert_eq!(second["url"], url.as_str(), "{second}");
    assert_eq!(second["offset_at_start"], half, "{second}");
    assert_eq!(second["offset"], size, "{second}");
    let v = wait_state(&app, &token, &id, "ready", Duration::from_secs(120)).await;
    let d = v["duration_secs"].as_f64().unwrap();
    assert!((d - 4.0).abs() < 0.6, "duration {d}: {v}");
}

/// One run of tests/players/tus_upload.js (tus-js-client in Node).
async fn tus_js(
    endpoint: &str,
    token: &str,
    file: &Path,
    video: &str,
    storage: &Path,
    abort_at: Option<f64>,
) -> Value {
    let mut args: Vec<String> = vec![
        "tus_upload.js".into(),
        endpoint.into(),
        token.into(),
        file.display().to_string(),
        video.into(),
        "--storage".into(),
        storage.display().to_string(),
    ];
    if let Some(f) = abort_at {
        args.extend(["--abort-at".into(), f.to_string()]);
    }
    let (ok, out, stderr) = run_script("node", &args, Duration::from_secs(120)).await;
    assert!(ok, "tus-js-client failed: {out}\n{stderr}");
    out
}

#[tokio::test]
async fn tus_js_client_uploads_unchanged_and_resumes() {
    need_node_packages(&["tus-js-client"]);
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let token = app.user("alice").await;
    let file = clip(tmp.path(), "in.mp4", 1280, 720, 4, true);
    let size = std::fs::metadata(&file).unwrap().len();
    let v = new_video(&app, &token, "tus-js-client", "public").await;
    let id = v["id"].as_str().unwrap().to_owned();
    let endpoint = app.url("/api/v1/uploads");
    let storage = tmp.path().join("tus-js-urls.json");

    // First run: creation, 256 KiB PATCHes, abort (not terminate) after 40 %.
    let first = tus_js(&endpoint, &token, &file, &id, &storage, Some(0.4)).await;
    assert_eq!(first["aborted"], true, "{first}");
    assert_eq!(first["resumed"], false, "{first}");
    assert_eq!(
        first["storedAfter"], 1,
        "the url is in the storage: {first}"
    );
    let reqs = first["requests"].as_array().unwrap();
    assert_eq!(
        (reqs[0]["method"].as_str(), reqs[0]["status"].as_u64()),
        (Some("POST"), Some(201)),
        "{first}"
    );
    assert!(
        reqs[1..]
            .iter()
            .all(|r| r["method"] == "PATCH" && r["status"] == 204),
        "{first}"
    );
    let offset = first["offset"].as_u64().unwrap();
    assert!(
        offset as f64 >= 0.4 * size as f64 && offset < size,
        "{offset} of {size}"
    );
    assert_eq!(offset % (256 * 1024), 0, "whole chunks: {offset}");
    let url = first["url"].as_str().unwrap().to_owned();
    assert_eq!(head_offset(&app, &token, &url).await, (offset, size));

    // Second run: a new process finds the upload by its fingerprint, asks for the offset and
    // sends only the rest.
    let second = tus_js(&endpoint, &token, &file, &id, &storage, None).await;
    assert_eq!(second["resumed"], true, "{second}");
    assert_eq!(second["complete"], true, "{second}");
    assert_eq!(second["url"], url.as_str(), "{second}");
    let reqs = second["requests"].as_array().unwrap();
    assert_eq!(reqs[0]["method"], "HEAD", "{second}");
    assert_eq!(reqs[0]["responseOffset"], offset, "{second}");
    assert!(
        reqs.iter().all(|r| r["method"] != "POST"),
        "no new upload: {second}"
    );
    assert_eq!(reqs[1]["uploadOffset"], offset, "{second}");
    assert_eq!(reqs.last().unwrap()["responseOffset"], size, "{second}");
    assert_eq!(
        second["storedAfter"], 0,
        "removed from the storage on success: {second}"
    );

    let v = wait_state(&app, &token, &id, "ready", Duration::from_secs(120)).await;
    let d = v["duration_secs"].as_f64().unwrap();
    assert!((d - 4.0).abs() < 0.6, "duration {d}: {v}");
}
