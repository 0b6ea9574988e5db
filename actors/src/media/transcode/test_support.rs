//! What the tests of the parts share: tools on PATH, settings, fixtures made with ffmpeg, and
//! a made-up probe.

use super::{EncodeSettings, Probe, Tools};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) fn tools() -> Tools {
    Tools {
        ffmpeg: "ffmpeg".into(),
        ffprobe: "ffprobe".into(),
    }
}

pub(super) fn settings(heights: &[u32], segment_secs: u32) -> EncodeSettings {
    EncodeSettings {
        heights: heights.to_vec(),
        segment_secs,
        preset: "ultrafast".into(),
        threads: 0,
        timeout: Duration::from_secs(300),
    }
}

/// Runs ffmpeg to make a fixture; panics with its stderr on failure.
pub(super) fn ffmpeg(args: &[&str]) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-y", "-loglevel", "error"])
        .args(args)
        .output()
        .expect("ffmpeg must be installed for these tests");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test clip: testsrc2 at `size`, `secs` long, with a sine tone when `audio`.
pub(super) fn clip(
    dir: &Path,
    name: &str,
    size: &str,
    rate: &str,
    secs: u32,
    audio: bool,
) -> PathBuf {
    let path = dir.join(name);
    let src = format!("testsrc2=size={size}:rate={rate}");
    let t = secs.to_string();
    let mut args = vec!["-f", "lavfi", "-i", &src];
    if audio {
        args.extend(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
    }
    args.extend([
        "-t",
        &t,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ]);
    if audio {
        args.extend(["-c:a", "aac", "-shortest"]);
    }
    let p = path.to_str().unwrap();
    args.extend(["-f", "mp4", p]);
    ffmpeg(&args);
    path
}

pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) fn source(width: u32, height: u32, has_audio: bool) -> Probe {
    Probe {
        duration_secs: 10.0,
        width,
        height,
        frame_rate: 30.0,
        has_audio,
        video_codec: "h264".into(),
    }
}
