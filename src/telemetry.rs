//! Logging (tracing, JSON lines by default) and the Prometheus metrics recorder.

use crate::config::LogConfig;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber. Call once, before anything logs.
pub fn init_tracing(cfg: &LogConfig) {
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
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
