//! Compression, with real clients: curl (`--compressed`, and raw `br`/`gzip` bodies decoded
//! by Python's `brotli` and `gzip`), Python `requests` and reqwest. Every negotiated coding
//! decodes back to the identity bytes; bad `Accept-Encoding` values get the identity answer;
//! segments, ranges, `HEAD` and event streams are never compressed, and an event still
//! arrives within a second through clients that accept gzip and brotli. (hls.js playing
//! compressed playlists is in the console's Playwright suite, web/e2e.)

use crate::harness::*;
use crate::media::{media_options, new_video, playback, ready_video};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What curl got: status, headers (lower-case names) and the body as it came.
struct Got {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn encoding(&self) -> &str {
        self.header("content-encoding").unwrap_or("identity")
    }
    fn varies(&self) -> bool {
        self.headers.iter().any(|(k, v)| {
            k == "vary"
                && v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
        })
    }
}

/// Runs curl with `args` on `url`; the last response's status, headers and body.
fn curl(url: &str, args: &[&str]) -> Got {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("h");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-D"])
        .arg(&head)
        .args(args)
        .arg(url)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {args:?} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&head).unwrap();
    let block = text
        .split("\r\n\r\n")
        .filter(|b| !b.trim().is_empty())
        .last()
        .unwrap();
    let mut lines = block.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Got {
        status: status.parse().unwrap(),
        headers,
        body: out.stdout,
    }
}

/// Decodes `data` with Python's `gzip` or `brotli` module.
fn python_decode(coding: &str, data: &[u8]) -> Vec<u8> {
    let module = if coding == "br" { "brotli" } else { "gzip" };
    let mut child = Command::new("python3")
        .args([
            "-c",
            &format!("import sys, {module}; sys.stdout.buffer.write({module}.decompress(sys.stdin.buffer.read()))"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/lib.sh ensure_brotli)");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python {module}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// GETs `url` with Python `requests` sending `accept`; the `Content-Encoding` it saw and the
/// body it decoded.
fn python_requests(url: &str, accept: &str) -> (String, Vec<u8>) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, requests\n\
             r = requests.get(sys.argv[1], headers={'Accept-Encoding': sys.argv[2]}, timeout=60)\n\
             assert r.status_code == 200, r.status_code\n\
             sys.stderr.write(r.headers.get('content-encoding', 'identity'))\n\
             sys.stdout.buffer.write(r.content)",
            url,
            accept,
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8(out.stderr).unwrap(), out.stdout)
}

/// Checks that `url` is compressed for every client that asks and decodes to `identity`;
/// `preferred` is the coding chosen when a client offers both: `gzip` for an answer compressed
/// per request (cheaper on the CPU), `br` for a precompressed console file.
fn decodes_the_same_through_every_client(url: &str, identity: &[u8], preferred: &str) {
    // curl --compressed offers deflate, gzip, br and zstd.
    let c = curl(url, &["--compressed"]);
    assert_eq!(c.status, 200, "{url}");
    assert_eq!(c.encoding(), preferred, "{url}");
    assert!(c.varies(), "{url}: {:?}", c.headers);
    assert!(
        c.body == identity,
        "{url}: curl --compressed decoded other bytes"
    );
    for (accept, coding) in [
        ("br", "br"),
        ("gzip", "gzip"),
        ("gzip;q=1, br;q=0.5", "gzip"),
    ] {
        let raw = curl(url, &["-H", &format!("Accept-Encoding: {accept}")]);
        assert_eq!(raw.encoding(), coding, "{url} {accept}");
        assert!(raw.body.len() < identity.len(), "{url} {accept}");
        assert!(
            raw.header("accept-ranges").is_none(),
            "{url}: a compressed answer offers no byte ranges"
        );
        assert!(
            python_decode(coding, &raw.body) == identity,
            "{url} {accept}: decoded other bytes"
        );
    }
    for (accept, want) in [("gzip, deflate, br", preferred), ("gzip", "gzip")] {
        let (coding, body) = python_requests(url, accept);
        assert_eq!(coding, want, "{url} {accept}");
        assert!(body == identity, "{url}: requests decoded other bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_listings_and_the_console_decode_to_the_same_bytes_through_every_client() {
    let app = TestApp::spawn(Options::default().env("TROUPE__COMMENTS__BURST", "100")).await;
    let alice = app.user("alice").await;
    let v = new_video(&app, &alice, "a video with comments", "public").await;
    let id = v["id"].as_str().unwrap();
    let comments = format!("/api/v1/videos/{id}/comments?limit=24");
    for i in 0..12 {
        let r = app
            .request(
                Method::POST,
                &format!("/api/v1/videos/{id}/comments"),
                Some(&alice),
                Some(json!({"text": format!("comment number {i}, a little longer than a word")})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }

    // The identity bytes, as a client that accepts no coding gets them.
    for path in [comments.as_str(), "/api/openapi.json"] {
        let url = app.url(path);
        let plain = curl(&url, &[]);
        assert_eq!(plain.status, 200);
        assert_eq!(plain.encoding(), "identity");
        assert!(plain.varies(), "{path}: {:?}", plain.headers);
        assert!(plain.body.len() > 4096, "{path}: {}", plain.body.len());
        decodes_the_same_through_every_client(&url, &plain.body, "gzip");
    }

    // The console's JavaScript: its precompressed files, each with its own ETag.
    let page = curl(&app.url("/"), &[]);
    let html = String::from_utf8(page.body.clone()).unwrap();
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("index.html names its script");
    let url = app.url(script);
    let plain = curl(&url, &[]);
    assert_eq!(plain.encoding(), "identity");
    decodes_the_same_through_every_client(&url, &plain.body, "br");
    let br = curl(&url, &["-H", "Accept-Encoding: br"]);
    let gz = curl(&url, &["-H", "Accept-Encoding: gzip"]);
    assert!(
        br.header("content-type").unwrap().contains("javascript"),
        "{:?}",
        br.headers
    );
    let tags = [&plain, &br, &gz].map(|g| g.header("etag").unwrap().to_owned());
    assert!(
        tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2],
        "{tags:?}"
    );
    // The build compressed it at brotli's best: the same bytes as the file beside it.
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("web/dist")
        .join(script.trim_start_matches('/'));
    let built = std::fs::read(format!("{}.br", file.display())).unwrap();
    assert!(br.body == built, "the .br file is served as it is");
    // Each variant revalidates with its own tag.
    let again = curl(
        &url,
        &[
            "-H",
            "Accept-Encoding: br",
            "-H",
            &format!("If-None-Match: {}", tags[1]),
        ],
    );
    assert_eq!(again.status, 304);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_accept_encoding_gets_the_identity_answer() {
    let app = TestApp::spawn(Options::default()).await;
    let path = "/api/openapi.json";
    let identity = app.get(path, None).await.bytes().await.unwrap();
    let bad: &[&[u8]] = &[
        b"compress, zstd, deflate",
        b"gzip;q=0, br;q=0",
        b"*;q=0",
        b"identity;q=0",
        b"identity;q=0, *;q=0",
        b";;;===,,,",
        b"br;q=2, gzip;q=banana",
        b"br;q=0.0001",
        b"\xff\xfe\x80gzip",
        b"",
    ];
    for value in bad {
        let v = reqwest::header::HeaderValue::from_bytes(value).unwrap();
        let r = app
            .client
            .get(app.url(path))
            .header("accept-encoding", v)
            .send()
            .await
            .unwrap();
        let label = String::from_utf8_lossy(value);
        assert_eq!(r.status(), StatusCode::OK, "{label}");
        assert!(r.headers().get("content-encoding").is_none(), "{label}");
        assert_eq!(r.bytes().await.unwrap(), identity, "{label}");
    }
    // curl sends them as they are too.
    let c = curl(
        &app.url(path),
        &["-H", "Accept-Encoding: identity;q=0, *;q=0"],
    );
    assert_eq!((c.status, c.encoding()), (200, "identity"));
    assert_eq!(c.body, identity);
    // Switched off in the configuration: nothing is compressed.
    let off = TestApp::spawn(Options::default().env("TROUPE__SERVER__COMPRESSION", "false")).await;
    let c = curl(&off.url(path), &["--compressed"]);
    assert_eq!((c.status, c.encoding()), (200, "identity"));
}

/// The URI lines of a playlist, resolved against `base`.
fn uris(base: &str, playlist: &str) -> Vec<String> {
    let dir = base.split('?').next().unwrap();
    let dir = &dir[..dir.rfind('/').unwrap() + 1];
    playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| format!("{dir}{l}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playlists_compress_but_segments_ranges_and_head_never_do() {
    // One-second segments, so that a 40-s clip's media playlist passes the threshold.
    let app = TestApp::spawn(media_options().env("TROUPE__MEDIA__SEGMENT_SECS", "1")).await;
    let alice = app.user("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let v = ready_video(&app, &alice, dir.path(), 160, 120, 40, "public").await;
    let id = v["id"].as_str().unwrap();
    // The listing, with this video in it (its description makes it pass the threshold).
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/videos/{id}"),
            Some(&alice),
            Some(json!({"description": "A test pattern with a tone. ".repeat(20)})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let listing = "/api/v1/videos?limit=24";
    app.listed(listing, None, |b| {
        b["items"][0]["description"]
            .as_str()
            .is_some_and(|d| d.len() > 500)
    })
    .await;
    let plain = curl(&app.url(listing), &[]);
    assert!(plain.body.len() > 1024, "{}", plain.body.len());
    decodes_the_same_through_every_client(&app.url(listing), &plain.body, "gzip");

    let (_, master) = playback(&app, &alice, id).await;
    let m = curl(&master, &["--compressed"]);
    assert_eq!(m.status, 200);
    assert!(m.varies(), "{:?}", m.headers);
    let master_text = String::from_utf8(m.body).unwrap();
    let media = uris(&master, &master_text)[0].clone();

    let plain = curl(&media, &[]);
    assert_eq!(plain.status, 200);
    assert!(plain.body.len() > 1024, "{}", plain.body.len());
    let etag = plain.header("etag").unwrap().to_owned();
    decodes_the_same_through_every_client(&media, &plain.body, "gzip");
    // A compressed playlist's tag is weak, and still revalidates.
    let br = curl(&media, &["-H", "Accept-Encoding: br"]);
    assert_eq!(br.header("etag").unwrap(), format!("W/{etag}"));
    let again = curl(
        &media,
        &[
            "-H",
            "Accept-Encoding: br",
            "-H",
            &format!("If-None-Match: W/{etag}"),
        ],
    );
    assert_eq!(again.status, 304);

    // A range of the playlist: identity bytes, 206.
    let part = curl(&media, &["--compressed", "-r", "0-99"]);
    assert_eq!((part.status, part.encoding()), (206, "identity"));
    assert!(part.body == plain.body[..100]);
    // HEAD: never compressed.
    let head = curl(&media, &["--compressed", "-I"]);
    assert_eq!((head.status, head.encoding()), (200, "identity"));

    // Segments: never, whole or in part, whatever the client accepts.
    let text = String::from_utf8(plain.body.clone()).unwrap();
    let segment = uris(&media, &text)[0].clone();
    let whole = curl(&segment, &[]);
    for args in [
        &["--compressed"][..],
        &["-H", "Accept-Encoding: br, gzip"][..],
        &["-H", "Accept-Encoding: gzip"][..],
    ] {
        let s = curl(&segment, args);
        assert_eq!((s.status, s.encoding()), (200, "identity"), "{args:?}");
        assert!(!s.varies());
        assert!(s.body == whole.body);
    }
    let (coding, body) = python_requests(&segment, "gzip, deflate, br");
    assert_eq!(coding, "identity");
    assert!(body == whole.body);
    let part = curl(&segment, &["--compressed", "-r", "100-999"]);
    assert_eq!((part.status, part.encoding()), (206, "identity"));
    assert!(part.body == whole.body[100..1000]);
    // The poster is an image: never.
    let poster = curl(
        &app.url(&format!("/api/v1/videos/{id}/thumbnail.jpg")),
        &["--compressed"],
    );
    if poster.status == 200 {
        assert_eq!(poster.encoding(), "identity");
    }
}

/// A streaming client: curl or Python requests reading `url` line by line, each line with the
/// instant it arrived. Its first line is the `Content-Encoding` it got.
struct Stream {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<(Instant, String)>,
}

impl Stream {
    fn curl(url: &str, token: &str) -> Stream {
        let child = Command::new("curl")
            .args(["-sS", "-N", "-i", "--compressed", "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self::reading(child, true)
    }

    fn requests(url: &str, token: &str) -> Stream {
        let child = Command::new("python3")
            .args([
                "-u",
                "-c",
                "import sys, requests\n\
                 r = requests.get(sys.argv[1], stream=True, timeout=60, headers={'Authorization': 'Bearer ' + sys.argv[2], 'Accept-Encoding': 'gzip, br'})\n\
                 print('content-encoding: ' + r.headers.get('content-encoding', 'identity'), flush=True)\n\
                 for line in r.iter_lines(chunk_size=1):\n    print(line.decode(), flush=True)",
                url,
                token,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self::reading(child, false)
    }

    /// Reads the child's output; with `headers_first` (curl -i), turns its response headers
    /// into one `content-encoding: …` line.
    fn reading(mut child: std::process::Child, headers_first: bool) -> Stream {
        let (tx, lines) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut in_headers = headers_first;
            let mut enc = "content-encoding: identity".to_owned();
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let l = l.trim_end_matches('\r').to_owned();
                if in_headers {
                    let lower = l.to_ascii_lowercase();
                    if lower.starts_with("content-encoding:") {
                        enc = lower;
                    } else if l.is_empty() {
                        in_headers = false;
                        let _ = tx.send((Instant::now(), enc.clone()));
                    }
                    continue;
                }
                if tx.send((Instant::now(), l)).is_err() {
                    return;
                }
            }
        });
        Stream { child, lines }
    }

    /// The first line for which `ok` holds, with when it arrived; panics after `within`.
    fn wait(&self, within: Duration, ok: impl Fn(&str) -> bool) -> (Instant, String) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, l)) if ok(&l) => return (at, l),
                Ok(_) => {}
                Err(e) => panic!("no such line within {within:?}: {e}"),
            }
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_still_arrives_within_a_second_through_compressing_clients() {
    let app = TestApp::spawn(Options::default()).await;
    let alice = app.user("alice").await;
    let v = new_video(&app, &alice, "watched", "public").await;
    let id = v["id"].as_str().unwrap().to_owned();
    let events = app.url(&format!("/api/v1/videos/{id}/events"));
    let inbox = app.url("/api/v1/users/me/notifications/events");
    for (client, open) in [
        (
            "curl --compressed",
            Stream::curl as fn(&str, &str) -> Stream,
        ),
        ("python requests", Stream::requests),
    ] {
        // The notification stream: not compressed, its first event arrives at once.
        let n = open(&inbox, &alice);
        let (_, enc) = n.wait(Duration::from_secs(30), |l| {
            l.starts_with("content-encoding")
        });
        assert_eq!(enc, "content-encoding: identity", "{client}");
        n.wait(Duration::from_secs(30), |l| l == "event: unread");

        let s = open(&events, &alice);
        let (_, enc) = s.wait(Duration::from_secs(30), |l| {
            l.starts_with("content-encoding")
        });
        assert_eq!(enc, "content-encoding: identity", "{client}");
        s.wait(Duration::from_secs(30), |l| l == "event: video");
        // A change, then a comment: each arrives within a second of its answer.
        let title = format!("renamed for {client}");
        let sent = Instant::now();
        let r = app
            .request(
                Method::PATCH,
                &format!("/api/v1/videos/{id}"),
                Some(&alice),
                Some(json!({"title": title})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let (at, _) = s.wait(Duration::from_secs(30), |l| {
            l.starts_with("data:") && l.contains(&title)
        });
        let took = at.saturating_duration_since(sent);
        println!("{client}: the video event arrived {took:?} after the change was sent");
        assert!(took < Duration::from_secs(1), "{client}: {took:?}");

        let text = format!("a comment through {client}");
        let sent = Instant::now();
        let r = app
            .request(
                Method::POST,
                &format!("/api/v1/videos/{id}/comments"),
                Some(&alice),
                Some(json!({"text": text})),
            )
            .await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let (at, _) = s.wait(Duration::from_secs(30), |l| {
            l.starts_with("data:") && l.contains(&text)
        });
        let took = at.saturating_duration_since(sent);
        println!("{client}: the comment event arrived {took:?} after the post was sent");
        assert!(took < Duration::from_secs(1), "{client}: {took:?}");
    }
}
