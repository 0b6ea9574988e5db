//! Logging (tracing, JSON lines by default) and the Prometheus metrics recorder.

use crate::config::LogConfig;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber. Call once, before anything logs, and keep the
/// returned guard until the process ends (dropping it writes the lines still held).
///
/// The access log's lines (one per request) and `debug`/`trace` lines are gathered in a buffer
/// and written to stderr every [`LOG_FLUSH_INTERVAL`] by a logging thread, or at once when the
/// buffer is full: one `write` for many lines, where a `write` per line was a fifth of a light
/// request's CPU (`benches/load/cpu_budget.sh`: 3.8 of 18.2 µs for `GET /users/me`). Every
/// other line (start-up, migrations, failures, warnings, errors) is written at once, after
/// what is gathered, so the order holds and it is on stderr before anything else can happen.
/// A `kill -9` loses at most the last interval's access-log lines.
pub fn init_tracing(cfg: &LogConfig) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // tantivy logs every segment file it creates and deletes at info; its warnings matter.
    let filter = match "tantivy=warn".parse() {
        Ok(d) if !std::env::var("RUST_LOG").is_ok_and(|v| v.contains("tantivy")) => {
            filter.add_directive(d)
        }
        _ => filter,
    };
    let writer = BatchedStderr::start();
    let guard = LogGuard(writer.clone());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let result = if cfg.format == "pretty" {
        builder.try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    };
    // A second init (tests in one process) keeps the first subscriber; that is fine.
    let _ = result;
    guard
}

/// The access log's target: its lines, one per request, are the ones worth gathering.
pub const ACCESS_LOG_TARGET: &str = "troupe::http::observe";

/// How long an access-log line may wait in the log's buffer.
pub const LOG_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// Past this many bytes held, the next line writes them all.
const LOG_BUFFER_MAX: usize = 64 * 1024;

/// Stderr, with `info` and lower lines gathered (see [`init_tracing`]).
#[derive(Clone)]
pub struct BatchedStderr(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl BatchedStderr {
    fn start() -> Self {
        let held = Self(std::sync::Arc::new(std::sync::Mutex::new(
            Vec::with_capacity(LOG_BUFFER_MAX),
        )));
        let weak = std::sync::Arc::downgrade(&held.0);
        // Holds only a weak reference: it ends with the last writer (tests start many).
        let _ = std::thread::Builder::new()
            .name("troupe-log".into())
            .spawn(move || loop {
                std::thread::sleep(LOG_FLUSH_INTERVAL);
                let Some(buf) = weak.upgrade() else { return };
                BatchedStderr(buf).flush_held();
            });
        held
    }

    /// Writes what is held, if anything.
    fn flush_held(&self) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !held.is_empty() {
            use std::io::Write;
            let _ = std::io::stderr().lock().write_all(&held);
            held.clear();
        }
    }
}

/// One line being written: held, or written at once (`urgent`).
pub struct LogLine<'a> {
    to: &'a BatchedStderr,
    urgent: bool,
}

impl std::io::Write for LogLine<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut held = self.to.0.lock().unwrap_or_else(|e| e.into_inner());
        if self.urgent || held.len() + line.len() > LOG_BUFFER_MAX {
            let mut err = std::io::stderr().lock();
            if !held.is_empty() {
                err.write_all(&held)?;
                held.clear();
            }
            if self.urgent || line.len() > LOG_BUFFER_MAX {
                err.write_all(line)?;
                return Ok(line.len());
            }
        }
        held.extend_from_slice(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStderr {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine {
            to: self,
            urgent: true,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        let level = *meta.level();
        let urgent = level <= tracing::Level::WARN
            || (level == tracing::Level::INFO && meta.target() != ACCESS_LOG_TARGET);
        LogLine { to: self, urgent }
    }
}

/// Writes the log lines still held when dropped (see [`init_tracing`]).
#[must_use = "dropping the guard at once writes the held lines then, not at the end"]
pub struct LogGuard(BatchedStderr);

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.0.flush_held();
    }
}

/// Installs the global Prometheus recorder and returns the handle `/metrics` renders.
pub fn init_metrics() -> PrometheusHandle {
    let latency = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let batch = [
        1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
    ];
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_batch_size".into()), &batch))
        .expect("valid histogram buckets");
    match builder.install_recorder() {
        Ok(handle) => handle,
        // Already installed in this process: render from a private recorder instead.
        Err(_) => PrometheusBuilder::new().build_recorder().handle(),
    }
}
