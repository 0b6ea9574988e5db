//! What troupe's transcode wrapper costs over running ffmpeg by hand.
//!
//! Generates a 20 s 1280x720 30 fps test clip with ffmpeg (testsrc2 + a sine tone), then,
//! alternating three times each, times:
//!
//! - (a) `troupe_actors::media::transcode::encode()` with heights [240, 360, 480, 720],
//!   preset veryfast, 4 s segments: poster grab, one-shot ladder encode with progress parsing,
//!   then the measuring (playlist parsing, segment sizes, an ffprobe of each rung's first
//!   segment for its codecs);
//! - (b) the very same two ffmpeg commands ([`transcode::poster_command`] and
//!   [`transcode::encode_command`], exactly the arguments `encode()` runs), run one after the
//!   other with `std::process::Command`, stdout and stderr discarded.
//!
//! Prints the median wall time of each and the ratio (goal: troupe ≤ 1.1× by hand), and the
//! same for the CPU time of the child processes (user + system, from `/proc/self/stat` on
//! Linux), which a busy machine disturbs much less than wall time.
//!
//! ```sh
//! cargo bench --bench transcode
//! ```
//!
//! Needs ffmpeg and ffprobe on PATH. On a 2-core machine one run takes several seconds.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use troupe_actors::media::transcode::{self, EncodeSettings, Tools};

const ROUNDS: usize = 3;

fn main() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let input = dir.path().join("source");
    let generated = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-y", "-loglevel", "error"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        ])
        .args(["-c:a", "aac", "-shortest", "-f", "mp4"])
        .arg(&input)
        .status()
        .expect("ffmpeg must be on PATH");
    assert!(generated.success(), "could not generate the test clip");

    let tools = Tools {
        ffmpeg: "ffmpeg".into(),
        ffprobe: "ffprobe".into(),
    };
    let settings = EncodeSettings {
        heights: vec![240, 360, 480, 720],
        segment_secs: 4,
        preset: "veryfast".into(),
        threads: 0,
        timeout: Duration::from_secs(600),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let probe = rt
        .block_on(transcode::probe(&tools, &input, Duration::from_secs(60)))
        .expect("probe");
    println!(
        "source: {}x{} {:.3} fps {:.2} s, audio: {}",
        probe.width, probe.height, probe.frame_rate, probe.duration_secs, probe.has_audio
    );

    let mut troupe = Vec::new();
    let mut by_hand = Vec::new();
    let mut troupe_cpu = Vec::new();
    let mut by_hand_cpu = Vec::new();
    let mut last = None;
    for round in 0..ROUNDS {
        // (a) encode()
        let out = dir.path().join(format!("troupe-{round}"));
        std::fs::create_dir(&out).unwrap();
        let cpu = children_cpu();
        let started = Instant::now();
        let encoded = rt
            .block_on(transcode::encode(
                &tools,
                &input,
                &probe,
                &settings,
                &out,
                &|_| {},
            ))
            .expect("encode");
        let t = started.elapsed();
        let c = children_cpu().saturating_sub(cpu);
        troupe.push(t);
        troupe_cpu.push(c);
        println!(
            "round {round}: troupe  {:>8.3} s wall {:>8.3} s cpu",
            t.as_secs_f64(),
            c.as_secs_f64()
        );
        last = Some(encoded);
        std::fs::remove_dir_all(&out).unwrap();

        // (b) the same commands by hand
        let out = dir.path().join(format!("hand-{round}"));
        std::fs::create_dir(&out).unwrap();
        let cpu = children_cpu();
        let started = Instant::now();
        run_by_hand(&transcode::poster_command(&input, &probe, &settings, &out));
        run_by_hand(&transcode::encode_command(&input, &probe, &settings, &out));
        let t = started.elapsed();
        let c = children_cpu().saturating_sub(cpu);
        by_hand.push(t);
        by_hand_cpu.push(c);
        println!(
            "round {round}: by hand {:>8.3} s wall {:>8.3} s cpu",
            t.as_secs_f64(),
            c.as_secs_f64()
        );
        assert!(out.join("720p/index.m3u8").is_file() && out.join("poster.jpg").is_file());
        std::fs::remove_dir_all(&out).unwrap();
    }

    if let Some(e) = last {
        for r in &e.renditions {
            println!(
                "  {:>5} {:>4}x{:<4} BANDWIDTH={:<8} AVERAGE-BANDWIDTH={:<8} CODECS={} FRAME-RATE={:.3}",
                r.name, r.width, r.height, r.bandwidth, r.average_bandwidth, r.codecs, r.frame_rate
            );
        }
        println!("  {} files, {:.3} s", e.files.len(), e.duration_secs);
    }
    let (a, b) = (median(&mut troupe), median(&mut by_hand));
    println!(
        "median of {ROUNDS}: troupe encode() {:.3} s, same ffmpeg commands by hand {:.3} s, ratio {:.3}x (goal <= 1.1x)",
        a.as_secs_f64(),
        b.as_secs_f64(),
        a.as_secs_f64() / b.as_secs_f64()
    );
    let (a, b) = (median(&mut troupe_cpu), median(&mut by_hand_cpu));
    if b > Duration::ZERO {
        println!(
            "median of {ROUNDS}, CPU of the child processes: troupe {:.3} s, by hand {:.3} s, ratio {:.3}x",
            a.as_secs_f64(),
            b.as_secs_f64(),
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
}

/// User + system CPU time of this process's waited-for children (`cutime` + `cstime` of
/// `/proc/self/stat`, in clock ticks of 1/100 s), or zero where there is no such file.
fn children_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name start at field 3 (state).
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(16 - 3) + ticks(17 - 3)) * 10)
}

fn run_by_hand(args: &[std::ffi::OsString]) {
    let status = Command::new("ffmpeg")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
