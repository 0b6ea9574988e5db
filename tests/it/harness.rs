//! `TestApp`: a real `troupe serve` process on 127.0.0.1 port 0, with its own temp data dir,
//! and typed helpers for the API. Processes are killed for real (SIGKILL, SIGTERM).

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A password every test user has; strong enough for the default policy.
pub const PASSWORD: &str = "violet-harbor-cinnamon-42";
/// The signing secret the tests configure, so they can forge tokens.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// How long [`TestApp::listed`] waits for a change to show in listing and search.
pub const LISTED_WITHIN: Duration = Duration::from_secs(20);

/// How to start a server.
#[derive(Clone, Default)]
pub struct Options {
    /// Extra `TROUPE__...` environment variables.
    pub env: Vec<(String, String)>,
    /// Keep rate limits on (off by default so load tests aren't throttled).
    pub rate_limits: bool,
    /// Don't set the test signing secret (exercise the generated one).
    pub generated_secret: bool,
    /// Another `troupe` binary to run (e.g. a previous version); default: this build's.
    pub binary: Option<PathBuf>,
}

impl Options {
    /// Adds an environment variable.
    pub fn env(mut self, k: &str, v: impl Into<String>) -> Self {
        self.env.push((k.to_owned(), v.into()));
        self
    }
}

/// A running server process.
pub struct TestApp {
    pub addr: String,
    pub client: Client,
    pub data_dir: PathBuf,
    pub options: Options,
    child: Option<Child>,
    log: PathBuf,
    _tmp: Option<Arc<tempfile::TempDir>>,
}

impl TestApp {
    /// Starts a server on a fresh data dir.
    pub async fn spawn(options: Options) -> TestApp {
        let tmp = Arc::new(tempfile::tempdir().expect("tempdir"));
        let data = tmp.path().join("data");
        let mut app = Self::start(&data, options).await.expect("server starts");
        app._tmp = Some(tmp);
        app
    }

    /// Like [`TestApp::spawn`], but `Err` with the server's log when it could not bind an
    /// address it was given: a test picks cluster ports ahead of time (`cluster::free_port`),
    /// and another process may take one before the server binds it. The caller then picks
    /// fresh ports and tries again. Any other failure to start panics.
    pub async fn spawn_unless_port_taken(options: Options) -> Result<TestApp, String> {
        let tmp = Arc::new(tempfile::tempdir().expect("tempdir"));
        let data = tmp.path().join("data");
        match Self::start(&data, options).await {
            Ok(mut app) => {
                app._tmp = Some(tmp);
                Ok(app)
            }
            Err((_, log)) if address_in_use(&log) => Err(log),
            Err((status, log)) => panic!("server did not start ({status:?}):\n{log}"),
        }
    }

    /// Starts a server on `data_dir`; `Err` carries the exit status and stderr if it exits
    /// before listening.
    pub async fn start(
        data_dir: &Path,
        options: Options,
    ) -> Result<TestApp, (Option<ExitStatus>, String)> {
        std::fs::create_dir_all(data_dir).unwrap();
        let log = data_dir.with_extension(format!(
            "{}.log",
            std::process::id() as u64 * 1000 + rand_u16() as u64
        ));
        let stderr = std::fs::File::create(&log).unwrap();
        let binary =
            (options.binary.clone()).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_troupe")));
        let mut cmd = Command::new(binary);
        if options.binary.is_some() {
            // Another version reads its own defaults, not this checkout's config/default.toml.
            cmd.current_dir(data_dir.parent().unwrap_or(data_dir));
        }
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("RUST_LOG")
            .env("TROUPE__LOG__LEVEL", "info,troupe=debug")
            .env("TROUPE__SERVER__WORKERS", "2")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if !options.generated_secret {
            cmd.env("TROUPE__AUTH__JWT_SECRET", SECRET);
        }
        if !options.rate_limits {
            cmd.env("TROUPE__RATE_LIMIT__ENABLED", "false");
        }
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn troupe");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("troupe listening on http://") {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            if let Ok(addr) = rx.try_recv() {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err((
                    Some(status),
                    std::fs::read_to_string(&log).unwrap_or_default(),
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err((None, std::fs::read_to_string(&log).unwrap_or_default()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let client = Client::builder()
            // A whole request, room for a loaded 2-core machine (a login under client load is
            // an argon2 hash queued behind others); no test relies on a request timing out.
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            // Below the server's 5 s keep-alive, so that a pooled connection is never reused
            // just as the server closes it (a POST on it would fail with IncompleteMessage).
            .pool_idle_timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        Ok(TestApp {
            addr,
            client,
            data_dir: data_dir.to_owned(),
            options,
            child: Some(child),
            log,
            _tmp: None,
        })
    }

    /// Starts a new process on the same data dir with the same options (after a kill).
    pub async fn restart(mut self) -> TestApp {
        assert!(
            self.child.is_none(),
            "restart only after the process is gone"
        );
        let tmp = self._tmp.take();
        let mut app = Self::start(&self.data_dir, self.options.clone())
            .await
            .unwrap_or_else(|(s, log)| panic!("restart failed ({s:?}):\n{log}"));
        app._tmp = tmp;
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The server's stderr so far (JSON log lines).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Waits for the process to exit after a signal sent elsewhere (at most `timeout`).
    pub async fn terminate_wait(&mut self, timeout: Duration) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let logs = self.logs();
                let tail: Vec<&str> = logs.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "server did not exit within {timeout:?}; its last log lines:\n{}",
                    tail.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM and waits for the exit status (at most 30 s).
    pub async fn terminate_wait_after_sigterm(&mut self) -> ExitStatus {
        let pid = self.pid() as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        self.terminate_wait(Duration::from_secs(30)).await
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut r = self.client.request(method, self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    /// GETs `path` until `ok` holds of its JSON body. The catalogue promises that a change
    /// acknowledged to a client shows in listing and search within about a second; that is a
    /// speed goal, measured by `benches/catalogue.rs` ("freshness": searchable after p50/p99),
    /// so this waits up to [`LISTED_WITHIN`], room for a loaded 2-core machine, and checks
    /// only that the change shows. Panics, with the last body, when it does not.
    pub async fn listed(
        &self,
        path: &str,
        token: Option<&str>,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + LISTED_WITHIN;
        loop {
            let r = self.get(path, token).await;
            assert_eq!(r.status(), reqwest::StatusCode::OK, "GET {path}");
            let body: Value = r.json().await.unwrap();
            if ok(&body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "GET {path} did not show the change within {LISTED_WITHIN:?}: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// GETs `path` until its body is JSON of which `ok` holds, for at most `timeout`; that
    /// body. Unlike [`TestApp::listed`], a body that is not JSON is only waited past, not a
    /// failure, and `timeout` is the caller's.
    pub async fn json_when(
        &self,
        timeout: Duration,
        path: &str,
        token: Option<&str>,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(timeout, || async {
            let body: Value = self.get(path, token).await.json().await.ok()?;
            ok(&body).then_some(body)
        })
        .await
    }

    /// Deletes video `id` as `token` (204 expected).
    pub async fn delete_video(&self, token: &str, id: &str) {
        let r = self
            .request(
                Method::DELETE,
                &format!("/api/v1/videos/{id}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path, None, Some(body)).await
    }

    /// Registers `name` (email `<name>@example.org`) and returns the account.
    pub async fn register(&self, name: &str) -> Value {
        let r = self
            .post("/api/v1/auth/register", json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD}))
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "register {name}: {}",
            r.text().await.unwrap()
        );
        r.json().await.unwrap()
    }

    /// Logs in and returns the token pair.
    pub async fn login(&self, name: &str) -> Value {
        let r = self
            .post(
                "/api/v1/auth/login",
                json!({"username": name, "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "login {name}: {}",
            r.text().await.unwrap()
        );
        r.json().await.unwrap()
    }

    /// Logs in an existing user; returns the access token.
    pub async fn login_token(&self, name: &str) -> String {
        self.login(name).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Registers and logs in; returns the access token.
    pub async fn user(&self, name: &str) -> String {
        self.register(name).await;
        self.login(name).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Opens a playback session of `video` on `device` (asserting 201) and returns the grant.
    pub async fn start_playback(&self, token: &str, video: &str, device: &str) -> Value {
        let r = self
            .request(
                Method::POST,
                "/api/v1/playback/sessions",
                Some(token),
                Some(json!({"video_id": video, "device_id": device})),
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
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A failing test shows what each server was doing last: CI keeps no temp dirs.
        if std::thread::panicking() {
            let logs = self.logs();
            let lines: Vec<&str> = logs.lines().collect();
            let noteworthy: Vec<&str> = lines
                .iter()
                .filter(|l| l.contains("\"WARN\"") || l.contains("\"ERROR\""))
                .copied()
                .collect();
            eprintln!(
                "--- {}: last warnings and errors ({} in all) ---\n{}\n--- last lines ---\n{}",
                self.log.display(),
                noteworthy.len(),
                noteworthy[noteworthy.len().saturating_sub(20)..].join("\n"),
                lines[lines.len().saturating_sub(15)..].join("\n"),
            );
        }
    }
}

/// Whether a server's log says that it exited because an address it was told to listen on was
/// taken (`EADDRINUSE`).
pub fn address_in_use(log: &str) -> bool {
    log.contains("Address already in use") || log.contains("os error 98")
}

fn rand_u16() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static N: AtomicU16 = AtomicU16::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Sets `user`'s plan as the admin `admin` (a token), and checks that it took.
pub async fn set_plan(app: &TestApp, admin: &str, user: &str, plan: &str) {
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/admin/users/{user}/plan"),
            Some(admin),
            Some(json!({ "plan": plan })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

/// Asserts a problem+json answer and returns its body.
pub async fn problem(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "expected {status} {code}");
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

/// `s` percent-encoded for a query string (all but `A-Za-z0-9-_.`).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls `f` until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A real SMTP server: `aiosmtpd` (PyPI, or Debian's `python3-aiosmtpd`; `scripts/lib.sh`
/// `ensure_aiosmtpd`) with its Maildir handler, on a port of its own. It can be stopped and
/// started again on the same port and Maildir (an SMTP server that is down, then up).
pub struct SmtpSink {
    /// The port it listens on, 127.0.0.1.
    pub port: u16,
    /// The Maildir it stores what it receives in.
    pub dir: PathBuf,
    child: Option<Child>,
    _tmp: tempfile::TempDir,
}

/// One message the sink received, as Python's `email` package parses it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ParsedMail {
    /// `To`.
    pub to: String,
    /// `Subject`.
    pub subject: String,
    /// The top-level content type (`multipart/alternative`).
    pub content_type: String,
    /// The text/plain part.
    pub text: Option<String>,
    /// The text/html part.
    pub html: Option<String>,
    /// Every header, by lower-case name.
    pub headers: std::collections::HashMap<String, Vec<String>>,
}

impl ParsedMail {
    /// The first value of a header (`name` in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }
}

impl SmtpSink {
    /// Starts a sink on a free port.
    pub async fn start() -> SmtpSink {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("maildir");
        let mut sink = SmtpSink {
            port: sink_port(),
            dir,
            child: None,
            _tmp: tmp,
        };
        sink.up().await;
        sink
    }

    /// A sink that is not running yet (its port reserved by number only): `up` starts it.
    pub fn down_at_first() -> SmtpSink {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("maildir");
        SmtpSink {
            port: sink_port(),
            dir,
            child: None,
            _tmp: tmp,
        }
    }

    /// `smtp://127.0.0.1:<port>`, for `TROUPE__EMAIL__SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again), and waits until it accepts connections.
    pub async fn up(&mut self) {
        assert!(self.child.is_none(), "the sink is already up");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (install it: . scripts/lib.sh; ensure_aiosmtpd)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.as_mut().unwrap().try_wait() {
                panic!("aiosmtpd exited at once ({status}); is it installed? (. scripts/lib.sh; ensure_aiosmtpd)");
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server (SIGKILL): connections are refused until `up`.
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Every message received so far, in the order of the Maildir's keys.
    pub fn messages(&self) -> Vec<ParsedMail> {
        if !self.dir.join("new").is_dir() {
            return Vec::new();
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/maildir_dump.py");
        let out = Command::new("python3")
            .arg(script)
            .arg(&self.dir)
            .output()
            .expect("python3 reads the Maildir");
        assert!(
            out.status.success(),
            "maildir_dump.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("maildir_dump.py prints JSON")
    }

    /// Waits until some message satisfies `ok` (at most `within`), and returns it.
    pub async fn wait_for(&self, within: Duration, ok: impl Fn(&ParsedMail) -> bool) -> ParsedMail {
        let deadline = Instant::now() + within;
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| ok(m)) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no such message at the SMTP sink within {within:?}; it has: {:#?}",
                self.messages()
                    .iter()
                    .map(|m| (&m.to, &m.subject))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Server options that send email to this sink (and retry every second or two, so that
    /// tests of retries need not wait a minute).
    pub fn options(&self, options: Options) -> Options {
        options.env("TROUPE__EMAIL__SMTP_URL", self.url()).env(
            "TROUPE__EMAIL__RETRY_SCHEDULE_SECS",
            "[1, 2, 2, 2, 2, 2, 2, 2, 2, 2]",
        )
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.down();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn sink_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
