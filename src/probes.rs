//! Probes of what the node depends on: the verdict of one readiness check ([`Check`]), and
//! whether the ffmpeg and ffprobe it runs are there ([`MediaTools`]). `/readyz` reports them.

use serde::Serialize;
use std::time::{Duration, Instant};

/// One readiness check.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    /// Whether the check passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// Whether ffmpeg and ffprobe run; cached for a few seconds so probes stay cheap.
pub struct MediaTools {
    ffmpeg: String,
    ffprobe: String,
    cache: tokio::sync::Mutex<Option<(Instant, Check)>>,
}

impl MediaTools {
    /// The tools named in configuration.
    pub fn new(ffmpeg: &str, ffprobe: &str) -> Self {
        Self {
            ffmpeg: ffmpeg.into(),
            ffprobe: ffprobe.into(),
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// Runs `-version` on both (at most every 10 s).
    pub async fn check(&self) -> Check {
        let mut cache = self.cache.lock().await;
        if let Some((at, check)) = cache.as_ref() {
            if at.elapsed() < Duration::from_secs(10) {
                return check.clone();
            }
        }
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for tool in [&self.ffmpeg, &self.ffprobe] {
            let run = tokio::process::Command::new(tool)
                .arg("-version")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .output();
            match tokio::time::timeout(Duration::from_secs(5), run).await {
                Ok(Ok(out)) if out.status.success() => {
                    let first = String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    found.push(first);
                }
                _ => missing.push(tool.clone()),
            }
        }
        let check = if missing.is_empty() {
            Check {
                ok: true,
                detail: found.join("; "),
            }
        } else {
            Check {
                ok: false,
                detail: format!(
                    "{} not found on PATH or not runnable; install it with `apt-get install ffmpeg` (Debian/Ubuntu) or `brew install ffmpeg` (macOS), or set media.ffmpeg / media.ffprobe",
                    missing.join(" and ")
                ),
            }
        };
        *cache = Some((Instant::now(), check.clone()));
        check
    }
}
