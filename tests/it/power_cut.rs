//! What an OK promises against a power cut: before the server answers a rating, a
//! registration or a tus PATCH, the file that holds the change has been `fsync`ed or
//! `fdatasync`ed (data and metadata on stable storage), not merely written or
//! `sync_file_range`d (which survives `kill -9` but not a power cut).
//!
//! The server runs as usual and `strace` (Debian's) attaches to it, following every thread,
//! with `-yy` so that each descriptor shows its path or its TCP endpoints. Each request goes
//! over a connection of its own, so its local port names its socket in the trace; the trace
//! is in causal order (a thread stopped at a syscall's exit cannot go on until strace has
//! printed it), so "a sync of the file completed between the request's arrival and the first
//! byte of the answer" can be read off the order of the lines.

use crate::harness::*;
use crate::media::{new_video, tus_create};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `strace` attached to a running process.
struct Strace {
    child: Child,
    out: PathBuf,
}

impl Strace {
    /// Attaches to every thread of `pid` and waits until it is attached to all of them.
    fn attach(pid: u32, out: &Path) -> Strace {
        let err = out.with_extension("stderr");
        let child = Command::new("strace")
            .args(["-f", "-tt", "-yy", "-s", "48", "-e"])
            .arg(
                "trace=fsync,fdatasync,sync_file_range,read,recvfrom,recvmsg,readv,write,writev,sendto,sendmsg",
            )
            .arg("-o")
            .arg(out)
            .arg("-p")
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("strace runs (Debian package strace; scripts/lib.sh ensure_strace)");
        // strace says "Process <pid> attached with <n> threads" once it holds them all.
        let deadline = Instant::now() + Duration::from_secs(60);
        let attached = format!("Process {pid} attached");
        loop {
            let log = std::fs::read_to_string(&err).unwrap_or_default();
            if log.contains(&attached) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "strace did not attach to {pid} within 60 s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Strace {
            child,
            out: out.to_owned(),
        }
    }

    /// Detaches and returns the trace's lines.
    fn finish(mut self) -> Vec<String> {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        self.child.wait().unwrap();
        std::fs::read_to_string(&self.out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Strace {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request sent over a connection of its own: its client port and the server's answer.
struct Sent {
    what: String,
    port: u16,
    status: u16,
}

/// Sends `request` (head and body) on a new connection and reads the whole answer.
fn send(app: &TestApp, what: String, head: &str, body: &[u8]) -> Sent {
    let mut s = TcpStream::connect(&app.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let port = s.local_addr().unwrap().port();
    let mut req = format!(
        "{head}Host: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        app.addr,
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{what}: not an HTTP answer: {answer}"));
    Sent { what, port, status }
}

/// A completed sync in the trace: its line, and the path of the descriptor.
struct Sync {
    line: usize,
    call: String,
    path: String,
}

/// The completed `fsync`/`fdatasync` calls (with their results, 0), in order of completion.
/// A call that blocked is printed as `<unfinished ...>` and completes at its `resumed` line.
fn syncs(trace: &[String]) -> Vec<Sync> {
    let mut pending: std::collections::HashMap<String, (String, String)> = Default::default();
    let mut out = Vec::new();
    let pid = |l: &str| l.split_whitespace().next().unwrap_or("").to_owned();
    let parse = |l: &str| -> Option<(String, String)> {
        for call in ["fdatasync(", "fsync("] {
            if let Some(at) = l.find(call) {
                let rest = &l[at + call.len()..];
                let path = rest.split_once('<')?.1.split_once('>')?.0.to_owned();
                return Some((call.trim_end_matches('(').to_owned(), path));
            }
        }
        None
    };
    for (i, l) in trace.iter().enumerate() {
        if l.contains("<unfinished ...>") {
            if let Some(c) = parse(l) {
                pending.insert(pid(l), c);
            }
        } else if l.contains("fsync resumed>") || l.contains("fdatasync resumed>") {
            if let Some((call, path)) = pending.remove(&pid(l)) {
                if l.trim_end().ends_with("= 0") {
                    out.push(Sync {
                        line: i,
                        call,
                        path,
                    });
                }
            }
        } else if let Some((call, path)) = parse(l) {
            if l.trim_end().ends_with("= 0") {
                out.push(Sync {
                    line: i,
                    call,
                    path,
                });
            }
        }
    }
    out
}

/// The lines where the server first read from the connection of client port `port`, and
/// where it began to write its answer there.
fn window(trace: &[String], port: u16) -> Option<(usize, usize)> {
    let sock = format!("->127.0.0.1:{port}]");
    let is = |l: &str, calls: &[&str]| {
        l.contains(&sock) && calls.iter().any(|c| l.contains(&format!(" {c}(")))
    };
    // The first read that got bytes (not one that found the socket empty).
    let read = trace.iter().position(|l| {
        is(l, &["read", "recvfrom", "recvmsg", "readv"])
            && !l.contains("= -1")
            && !l.ends_with("= 0")
    })?;
    let write = trace
        .iter()
        .skip(read)
        .position(|l| is(l, &["write", "writev", "sendto", "sendmsg"]))?
        + read;
    Some((read, write))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_is_fsynced_before_its_answer() {
    let app = TestApp::spawn(Options::default()).await;
    let alice = app.user("alice").await;
    let video = new_video(&app, &alice, "durable", "public").await;
    let video = video["id"].as_str().unwrap().to_owned();
    const PART: usize = 64 * 1024;
    let upload = tus_create(&app, &alice, &video, 3 * PART as u64).await;

    let state = app.data_dir.join("state");
    let db = std::fs::canonicalize(state.join("db")).unwrap();
    let db = db.to_str().unwrap().to_owned();
    let blobs = std::fs::canonicalize(app.data_dir.join("blobs")).unwrap();
    let blobs = blobs.to_str().unwrap().to_owned();
    let tmp = tempfile::tempdir().unwrap();
    let strace = Strace::attach(app.pid(), &tmp.path().join("trace"));

    // Three of each, one at a time, each on its own connection. The ratings alternate, so
    // each one changes something (the same rating again is answered without a write).
    let mut sent = Vec::new();
    let auth = format!("Authorization: Bearer {alice}\r\n");
    let app = std::sync::Arc::new(app);
    for i in 0..3 {
        let rating = ["like", "dislike", "like"][i];
        let body = format!("{{\"rating\":\"{rating}\"}}");
        let head = format!(
            "PUT /api/v1/videos/{video}/rating HTTP/1.1\r\n{auth}Content-Type: application/json\r\n"
        );
        let a = app.clone();
        sent.push(
            tokio::task::spawn_blocking(move || {
                send(&a, format!("rating {rating}"), &head, body.as_bytes())
            })
            .await
            .unwrap(),
        );
    }
    for i in 0..3 {
        let name = format!("cut{i}");
        let body = format!(
            "{{\"username\":\"{name}\",\"email\":\"{name}@example.org\",\"password\":\"{PASSWORD}\"}}"
        );
        let head = "POST /api/v1/auth/register HTTP/1.1\r\nContent-Type: application/json\r\n";
        let a = app.clone();
        sent.push(
            tokio::task::spawn_blocking(move || {
                send(&a, format!("register {name}"), head, body.as_bytes())
            })
            .await
            .unwrap(),
        );
    }
    for i in 0..3 {
        let head = format!(
            "PATCH {upload} HTTP/1.1\r\n{auth}Tus-Resumable: 1.0.0\r\nUpload-Offset: {}\r\nContent-Type: application/offset+octet-stream\r\n",
            i * PART
        );
        let body = vec![i as u8 + 1; PART];
        let a = app.clone();
        sent.push(
            tokio::task::spawn_blocking(move || {
                send(&a, format!("tus PATCH at {}", i * PART), &head, &body)
            })
            .await
            .unwrap(),
        );
    }
    let trace = strace.finish();

    let expected = |what: &str| {
        if what.starts_with("rating") {
            200
        } else if what.starts_with("register") {
            201
        } else {
            204
        }
    };
    for s in &sent {
        assert_eq!(s.status, expected(&s.what), "{}", s.what);
    }
    // sled's own flush (sync_file_range) happens in the trace; it is not enough.
    let synced = syncs(&trace);
    let show = |from: usize, to: usize| trace[from..=to].join("\n");
    for s in &sent {
        let (read, write) = window(&trace, s.port).unwrap_or_else(|| {
            panic!(
                "{}: the connection from port {} is not in the trace ({} lines)",
                s.what,
                s.port,
                trace.len()
            )
        });
        let within: Vec<&Sync> = synced
            .iter()
            .filter(|y| y.line > read && y.line < write)
            .collect();
        assert!(
            within.iter().any(|y| y.path == db),
            "{}: no fsync/fdatasync of {db} between the request (line {read}) and its answer (line {write}):\n{}",
            s.what,
            show(read, write)
        );
        if s.what.starts_with("tus") {
            // The part's bytes: the staged file is fsynced, renamed into place, and its
            // directory fsynced (object_store's LocalFileSystem with fsync on).
            let part = within
                .iter()
                .find(|y| y.call == "fsync" && y.path.starts_with(&blobs) && y.path.contains('#'))
                .unwrap_or_else(|| {
                    panic!(
                        "{}: no fsync of the part's file under {blobs}:\n{}",
                        s.what,
                        show(read, write)
                    )
                });
            let dir = Path::new(&part.path).parent().unwrap().to_str().unwrap();
            assert!(
                within
                    .iter()
                    .any(|y| y.line > part.line && y.call == "fsync" && y.path == dir),
                "{}: the part's directory {dir} is not fsynced after it is renamed:\n{}",
                s.what,
                show(read, write)
            );
        }
        println!(
            "{}: {} syncs between request and answer: {}",
            s.what,
            within.len(),
            within
                .iter()
                .map(|y| format!("{}({})", y.call, y.path))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}
