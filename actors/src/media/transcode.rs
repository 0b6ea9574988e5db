//! ffprobe and ffmpeg as child processes: probing an upload, and encoding it to an H.264/AAC
//! HLS ladder capped at the source resolution, with a poster thumbnail.
//!
//! Both tools run with `kill_on_drop(true)`, a deadline, stdin closed and stderr captured; a
//! timeout kills the process, and a failed or cancelled [`encode`] removes what it wrote.
//!
//! The input is opened as `file:<path>` with `-protocol_whitelist file` and a demuxer allow
//! list ([`INPUT_FORMATS`]), so that an uploaded playlist (HLS, concat, DASH, image sequences
//! and the like) cannot make ffmpeg read other local files or fetch URLs.
//!
//! One ffmpeg run encodes every rung ([`encode_command`]): the decoded video is split and
//! scaled once per rung, keyframes are forced at every multiple of the segment length (plus a
//! fixed GOP of half a segment, scene-cut off), so every rendition cuts its MPEG-TS segments at
//! the same instants. ffmpeg writes the media playlists; the master playlist is ours to write,
//! from the [`Rendition`]s measured here (peak and average bit rate from the segment files,
//! RFC 6381 codecs from ffprobe of the first segment).

use super::Rendition;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::time::Instant;

/// Where the tools are.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The ffmpeg binary (a name on PATH or a path).
    pub ffmpeg: PathBuf,
    /// The ffprobe binary.
    pub ffprobe: PathBuf,
}

/// What ffprobe found in an upload.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Duration in seconds.
    pub duration_secs: f64,
    /// Width of the first video stream, after rotation.
    pub width: u32,
    /// Height of the first video stream, after rotation.
    pub height: u32,
    /// Frames per second of the first video stream.
    pub frame_rate: f64,
    /// Whether there is an audio stream.
    pub has_audio: bool,
    /// The video codec name, e.g. `h264`.
    pub video_codec: String,
}

/// How to encode.
#[derive(Debug, Clone)]
pub struct EncodeSettings {
    /// Allowed rung heights, e.g. `[240, 360, 480, 720, 1080, 1440, 2160]`; those above the
    /// source are skipped.
    pub heights: Vec<u32>,
    /// Target segment length in seconds (keyframes are placed so that every rendition cuts at
    /// the same instants).
    pub segment_secs: u32,
    /// x264 preset, e.g. `veryfast`.
    pub preset: String,
    /// `-threads` for ffmpeg; 0 lets ffmpeg choose.
    pub threads: u32,
    /// The whole encode is killed after this long.
    pub timeout: Duration,
}

/// One planned rung.
#[derive(Debug, Clone, PartialEq)]
pub struct Rung {
    /// `720p`.
    pub name: String,
    /// Output width (even).
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Target video bit rate, kbit/s.
    pub video_kbps: u32,
    /// Audio bit rate, kbit/s (0 without audio).
    pub audio_kbps: u32,
}

/// What an encode produced, in `out_dir`.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// One per rung, tallest first; `{name}/index.m3u8` and its segments are in `out_dir`.
    pub renditions: Vec<Rendition>,
    /// The poster, relative to `out_dir` (`poster.jpg`).
    pub poster: PathBuf,
    /// Every file written, relative to `out_dir`.
    pub files: Vec<PathBuf>,
    /// The encoded duration in seconds.
    pub duration_secs: f64,
}

/// Why probing or encoding failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TranscodeError {
    /// The input is not a video we can read; the text says why, for a human.
    #[error("{0}")]
    NotVideo(String),
    /// ffmpeg or ffprobe is not installed.
    #[error("{tool} not found ({path}); install it with `apt-get install ffmpeg` (Debian/Ubuntu), `dnf install ffmpeg` or `brew install ffmpeg`, or set media.{tool} in the configuration")]
    ToolMissing {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// What was tried.
        path: String,
    },
    /// It ran longer than allowed and was killed.
    #[error("transcoding timed out after {0:?}")]
    Timeout(Duration),
    /// The tool exited with an error; the last lines of its stderr are included.
    #[error("{tool} failed ({status}): {stderr}")]
    Failed {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// The exit status.
        status: String,
        /// The tail of stderr.
        stderr: String,
    },
    /// Reading or writing local files failed.
    #[error("transcoding I/O error: {0}")]
    Io(String),
}

impl TranscodeError {
    /// Whether trying again may help (a crash or timeout may; a file that is not video won't).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TranscodeError::Timeout(_) | TranscodeError::Failed { .. } | TranscodeError::Io(_)
        )
    }
}

/// The demuxers an upload may be read with (`-format_whitelist`): ordinary video containers
/// and raw streams, plus a few audio formats so that an audio file is reported as "no video
/// stream" rather than as an unknown format. Playlist-like formats (hls, concat, dash, image2,
/// tty, …) are deliberately absent: they open other files.
pub const INPUT_FORMATS: &str = "mov,matroska,avi,flv,mpegts,mpeg,ogg,asf,mxf,dv,nut,rm,ivf,obu,\
m4v,h264,hevc,mpegvideo,yuv4mpegpipe,gif,wav,mp3,flac,aac";

/// Video bit rates by rung height, kbit/s; other heights are interpolated.
const BITRATES: [(u32, u32); 7] = [
    (240, 400),
    (360, 800),
    (480, 1400),
    (720, 2800),
    (1080, 5000),
    (1440, 8000),
    (2160, 14000),
];

/// Audio bit rate of every rung that has audio, kbit/s.
const AUDIO_KBPS: u32 = 128;

/// The poster's file name in `out_dir`.
const POSTER: &str = "poster.jpg";

/// How many lines of stderr a [`TranscodeError::Failed`] carries.
const STDERR_TAIL_LINES: usize = 20;

/// ffprobe's JSON is not expected to be anywhere near this; more is cut off.
const MAX_PROBE_OUTPUT: usize = 8 << 20;

/// Codecs whose one-frame streams are pictures rather than video.
const IMAGE_CODECS: &[&str] = &[
    "mjpeg", "png", "apng", "bmp", "gif", "webp", "tiff", "jpeg2000", "jpegls", "jpegxl", "ljpeg",
    "pam", "pbm", "pgm", "ppm", "qoi", "sgi", "targa", "exr", "dpx", "psd", "pcx",
];

// ---------------------------------------------------------------------------------------------
// Probing
// ---------------------------------------------------------------------------------------------

/// Probes `input`.
pub async fn probe(
    tools: &Tools,
    input: &Path,
    timeout: Duration,
) -> Result<Probe, TranscodeError> {
    let meta = tokio::fs::metadata(input)
        .await
        .map_err(|e| TranscodeError::Io(format!("cannot read {}: {e}", input.display())))?;
    if meta.len() == 0 {
        return Err(TranscodeError::NotVideo(
            "the uploaded file is empty (0 bytes), so it is not a video".into(),
        ));
    }
    let input_arg = input_url(input);
    let mut args: Vec<OsString> = [
        "-hide_banner",
        "-v",
        "error",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        INPUT_FORMATS,
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(input_arg.clone());

    let (ran, json) = ffprobe_json(tools, &args, Instant::now() + timeout, timeout).await?;
    if !ran.status.success() {
        if ran.status.code().is_none() {
            // Killed by a signal: a crash or the OOM killer, not necessarily the file's fault.
            return Err(ran.failed("ffprobe"));
        }
        let why = human_reason(ran.stderr.first(), &input_arg.to_string_lossy());
        return Err(TranscodeError::NotVideo(format!(
            "the uploaded file is not a video ffprobe can read: {why}"
        )));
    }
    probe_from_json(&json)
}

/// Makes a [`Probe`] of ffprobe's `-show_format -show_streams` JSON, or says why the file is
/// not a video.
pub fn probe_from_json(json: &str) -> Result<Probe, TranscodeError> {
    let not_video = |s: &str| TranscodeError::NotVideo(s.to_string());
    let root: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        TranscodeError::NotVideo(format!(
            "the uploaded file could not be analysed (unreadable ffprobe output: {e})"
        ))
    })?;
    let streams = root
        .get("streams")
        .and_then(|s| s.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let is_type =
        |s: &serde_json::Value, t: &str| s.get("codec_type").and_then(|v| v.as_str()) == Some(t);
    let disposition = |s: &serde_json::Value, d: &str| {
        s.get("disposition")
            .and_then(|v| v.get(d))
            .and_then(|v| v.as_i64())
            .unwrap_or(0)
            != 0
    };
    let has_audio = streams.iter().any(|s| is_type(s, "audio"));
    // Cover art and thumbnails are video streams too, but not the video.
    let Some(video) = streams.iter().find(|s| {
        is_type(s, "video")
            && !disposition(s, "attached_pic")
            && !disposition(s, "timed_thumbnails")
    }) else {
        return Err(not_video(if has_audio {
            "the file has no video stream (it contains only audio)"
        } else {
            "the file has no video stream"
        }));
    };

    let codec = video
        .get("codec_name")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    if codec.is_empty() || codec == "none" {
        return Err(not_video(
            "the file's video codec is unknown or not supported",
        ));
    }
    let coded_w = video.get("width").and_then(|v| v.as_u64()).unwrap_or(0);
    let coded_h = video.get("height").and_then(|v| v.as_u64()).unwrap_or(0);
    if coded_w == 0 || coded_h == 0 || coded_w > 16384 || coded_h > 16384 {
        return Err(not_video(
            "the file's video stream has no usable picture size",
        ));
    }

    // Non-square pixels: widen (or narrow) to the display aspect, so the ladder keeps it.
    let mut width = coded_w as f64;
    let height = coded_h as f64;
    if let Some((n, d)) = video
        .get("sample_aspect_ratio")
        .and_then(|v| v.as_str())
        .and_then(|s| parse_ratio(s, ':'))
    {
        if n > 0.0 && d > 0.0 && (n / d - 1.0).abs() > 1e-3 && (0.1..=10.0).contains(&(n / d)) {
            width = width * n / d;
        }
    }
    let (mut width, mut height) = (even_at_least_2(width), height as u32);
    if rotation_degrees(video).rem_euclid(180) == 90 {
        std::mem::swap(&mut width, &mut height);
    }

    let rate_of = |key: &str| {
        video
            .get(key)
            .and_then(|v| v.as_str())
            .and_then(|s| parse_ratio(s, '/'))
            .filter(|(n, d)| *n > 0.0 && *d > 0.0)
            .map(|(n, d)| n / d)
            .filter(|f| f.is_finite() && *f > 0.0 && *f <= 1000.0)
    };
    let frame_rate = rate_of("avg_frame_rate")
        .or_else(|| rate_of("r_frame_rate"))
        .unwrap_or(30.0)
        .clamp(1.0, 240.0);

    let secs = |v: Option<&serde_json::Value>| {
        v.and_then(|v| v.get("duration"))
            .and_then(|v| v.as_str())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|d| d.is_finite() && *d > 0.0)
    };
    let stream_duration = secs(Some(video));
    let duration = secs(root.get("format")).or(stream_duration).or_else(|| {
        streams
            .iter()
            .filter_map(|s| secs(Some(s)))
            .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d))))
    });

    let frames = video
        .get("nb_frames")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<u64>().ok());
    let image_codec = IMAGE_CODECS.contains(&codec.as_str());
    let one_frame_long = stream_duration
        .or(duration)
        .is_some_and(|d| d * frame_rate < 1.5);
    if frames == Some(1)
        || disposition(video, "still_image")
        || (image_codec && (duration.is_none() || one_frame_long || frames == Some(0)))
    {
        return Err(not_video("the file is a still image, not a video"));
    }
    let Some(duration_secs) = duration else {
        return Err(not_video(
            "the file's duration cannot be determined (it may be truncated or damaged)",
        ));
    };
    if one_frame_long {
        return Err(not_video("the video is a single frame long"));
    }
    Ok(Probe {
        duration_secs,
        width,
        height,
        frame_rate,
        has_audio,
        video_codec: codec,
    })
}

/// The display rotation of a stream in degrees (display matrix side data, or the old `rotate`
/// tag), rounded to a multiple of 90.
fn rotation_degrees(stream: &serde_json::Value) -> i64 {
    let from_side_data = stream
        .get("side_data_list")
        .and_then(|v| v.as_array())
        .and_then(|list| {
            list.iter()
                .find_map(|sd| sd.get("rotation").and_then(|r| r.as_f64()))
        });
    let from_tag = || {
        stream
            .get("tags")
            .and_then(|t| t.get("rotate"))
            .and_then(|r| r.as_str())
            .and_then(|r| r.trim().parse::<f64>().ok())
    };
    let deg = from_side_data.or_else(from_tag).unwrap_or(0.0);
    ((deg / 90.0).round() as i64) * 90
}

/// `"30000/1001"` → (30000, 1001).
fn parse_ratio(s: &str, sep: char) -> Option<(f64, f64)> {
    let (n, d) = s.split_once(sep)?;
    Some((n.trim().parse().ok()?, d.trim().parse().ok()?))
}

/// Rounds to the nearest even number, at least 2.
fn even_at_least_2(x: f64) -> u32 {
    (((x / 2.0).round() as u32) * 2).max(2)
}

/// A one-line reason from ffprobe's first stderr line, without the `[demuxer @ 0x…]` prefix or
/// the input path.
fn human_reason(first_line: Option<&str>, input_arg: &str) -> String {
    let Some(line) = first_line.map(str::trim).filter(|l| !l.is_empty()) else {
        return "ffprobe gave no reason".into();
    };
    let (context, rest) = match line.strip_prefix('[').and_then(|l| l.split_once("] ")) {
        Some((ctx, rest)) => (ctx.split(" @ ").next().unwrap_or(ctx), rest),
        None => ("", line),
    };
    if rest.starts_with("Format not on whitelist") {
        return format!("its format ({context}) is not a supported video container");
    }
    let rest = rest
        .strip_prefix(input_arg)
        .and_then(|r| r.strip_prefix(": "))
        .unwrap_or(rest);
    rest.to_string()
}

// ---------------------------------------------------------------------------------------------
// The ladder
// ---------------------------------------------------------------------------------------------

/// The ladder for a source: the configured rungs not bigger than it, measured on the frame's
/// short side (the height of a landscape frame, the width of a portrait one).
///
/// Biggest first. Never upscales: a source smaller than every configured rung gets one rung
/// at its own size (rounded down to even). The other side keeps the source's aspect and is
/// even.
pub fn ladder(probe: &Probe, settings: &EncodeSettings) -> Vec<Rung> {
    let src_h = probe.height.max(2);
    let src_w = probe.width.max(2);
    // A rung is named by the frame's short side, as players and plans mean it: a portrait
    // 1080×1920 phone video is "1080p", not "1920p", and a plan capped at 480p gets 480×854.
    let portrait = src_w < src_h;
    let short = src_w.min(src_h);
    let mut sizes: Vec<u32> = settings
        .heights
        .iter()
        .copied()
        .filter(|&h| h >= 2 && h <= short)
        .map(|h| h & !1)
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes.dedup();
    if sizes.is_empty() {
        sizes.push((short & !1).max(2));
    }
    let audio_kbps = if probe.has_audio { AUDIO_KBPS } else { 0 };
    sizes
        .into_iter()
        .map(|p| {
            let (width, height) = if portrait {
                (p, even_at_least_2(src_h as f64 * p as f64 / src_w as f64))
            } else {
                (even_at_least_2(src_w as f64 * p as f64 / src_h as f64), p)
            };
            Rung {
                name: format!("{p}p"),
                width,
                height,
                video_kbps: video_kbps(p),
                audio_kbps,
            }
        })
        .collect()
}

/// The video bit rate for a rung height: the table, interpolated linearly between its heights,
/// and scaled by area below and above it.
fn video_kbps(height: u32) -> u32 {
    let h = height as f64;
    let (lo_h, lo_k) = BITRATES[0];
    let (hi_h, hi_k) = BITRATES[BITRATES.len() - 1];
    let kbps = if height <= lo_h {
        lo_k as f64 * (h / lo_h as f64).powi(2)
    } else if height >= hi_h {
        hi_k as f64 * (h / hi_h as f64).powi(2)
    } else {
        let i = BITRATES
            .iter()
            .position(|&(bh, _)| bh >= height)
            .unwrap_or(1);
        let (h0, k0) = BITRATES[i - 1];
        let (h1, k1) = BITRATES[i];
        k0 as f64 + (k1 as f64 - k0 as f64) * (h - h0 as f64) / (h1 as f64 - h0 as f64)
    };
    (kbps.round() as u32).max(100)
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// `file:<path>`: ffmpeg never takes the path for another protocol (`a:b`, `concat:`…).
fn input_url(input: &Path) -> OsString {
    let mut s = OsString::from("file:");
    s.push(input.as_os_str());
    s
}

fn push(args: &mut Vec<OsString>, items: &[&str]) {
    args.extend(items.iter().map(OsString::from));
}

fn path_arg(dir: &Path, rest: &str) -> OsString {
    let mut s = dir.as_os_str().to_os_string();
    if !s.to_string_lossy().ends_with('/') {
        s.push("/");
    }
    s.push(rest);
    s
}

/// The keyframe interval in frames: half a segment (an IDR every 2 s with 4 s segments).
fn gop_frames(probe: &Probe, settings: &EncodeSettings) -> u32 {
    let fps = if probe.frame_rate.is_finite() && probe.frame_rate > 0.0 {
        probe.frame_rate
    } else {
        30.0
    };
    ((fps * settings.segment_secs.max(1) as f64 / 2.0).round() as u32).max(1)
}

/// The ffmpeg arguments (without the program) of the ladder encode that [`encode`] runs:
/// every rung of [`ladder`] in one run, HLS media playlists and MPEG-TS segments in
/// `{out_dir}/{rung}/`, progress as `key=value` lines on stdout.
pub fn encode_command(
    input: &Path,
    probe: &Probe,
    settings: &EncodeSettings,
    out_dir: &Path,
) -> Vec<OsString> {
    let rungs = ladder(probe, settings);
    let seg = settings.segment_secs.max(1);
    let gop = gop_frames(probe, settings).to_string();
    let mut a = Vec::new();
    push(
        &mut a,
        &[
            "-hide_banner",
            "-nostdin",
            "-y",
            "-loglevel",
            "warning",
            "-nostats",
            "-progress",
            "pipe:1",
            "-protocol_whitelist",
            "file",
            "-format_whitelist",
            INPUT_FORMATS,
            "-i",
        ],
    );
    a.push(input_url(input));

    // [0:V:0] is the first video stream that is not cover art.
    let n = rungs.len();
    let mut graph = if n == 1 {
        String::from("[0:V:0]null[s0];")
    } else {
        let outs: String = (0..n).map(|i| format!("[s{i}]")).collect();
        format!("[0:V:0]split={n}{outs};")
    };
    for (i, r) in rungs.iter().enumerate() {
        if i > 0 {
            graph.push(';');
        }
        graph.push_str(&format!(
            "[s{i}]scale={}:{},setsar=1[v{i}]",
            r.width, r.height
        ));
    }
    push(&mut a, &["-filter_complex", &graph]);
    for i in 0..n {
        push(&mut a, &["-map", &format!("[v{i}]")]);
    }
    if probe.has_audio {
        for _ in 0..n {
            push(&mut a, &["-map", "0:a:0"]);
        }
    }
    push(
        &mut a,
        &[
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
            "-c:v",
            "libx264",
            "-preset",
            &settings.preset,
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
            "-force_key_frames",
            &format!("expr:gte(t,n_forced*{seg})"),
        ],
    );
    for (i, r) in rungs.iter().enumerate() {
        let k = r.video_kbps;
        push(
            &mut a,
            &[
                &format!("-b:v:{i}"),
                &format!("{k}k"),
                &format!("-maxrate:v:{i}"),
                &format!("{}k", (k as f64 * 1.1).round() as u32),
                &format!("-bufsize:v:{i}"),
                &format!("{}k", k * 2),
            ],
        );
    }
    if probe.has_audio {
        push(&mut a, &["-c:a", "aac", "-ac", "2", "-ar", "48000"]);
        for (i, r) in rungs.iter().enumerate() {
            push(
                &mut a,
                &[&format!("-b:a:{i}"), &format!("{}k", r.audio_kbps)],
            );
        }
    }
    if settings.threads > 0 {
        push(&mut a, &["-threads", &settings.threads.to_string()]);
    }
    let map: Vec<String> = rungs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if probe.has_audio {
                format!("v:{i},a:{i},name:{}", r.name)
            } else {
                format!("v:{i},name:{}", r.name)
            }
        })
        .collect();
    push(
        &mut a,
        &[
            "-f",
            "hls",
            "-hls_time",
            &seg.to_string(),
            "-hls_playlist_type",
            "vod",
            "-hls_segment_type",
            "mpegts",
            "-hls_flags",
            "independent_segments",
            "-var_stream_map",
            &map.join(" "),
            "-hls_segment_filename",
        ],
    );
    a.push(path_arg(out_dir, "%v/seg_%05d.ts"));
    a.push(path_arg(out_dir, "%v/index.m3u8"));
    a
}

/// When the poster is taken: at 10% of the video, but no later than 5 s.
fn poster_at(probe: &Probe) -> f64 {
    (probe.duration_secs * 0.1).clamp(0.0, 5.0)
}

/// The ffmpeg arguments (without the program) of the poster grab that [`encode`] runs first:
/// one frame at [`poster_at`] seconds, scaled to the tallest rung, as `{out_dir}/poster.jpg`.
pub fn poster_command(
    input: &Path,
    probe: &Probe,
    settings: &EncodeSettings,
    out_dir: &Path,
) -> Vec<OsString> {
    poster_command_at(input, probe, settings, out_dir, poster_at(probe))
}

fn poster_command_at(
    input: &Path,
    probe: &Probe,
    settings: &EncodeSettings,
    out_dir: &Path,
    at: f64,
) -> Vec<OsString> {
    let top = ladder(probe, settings).into_iter().next();
    let (w, h) = top.map_or((probe.width, probe.height), |r| (r.width, r.height));
    let mut a = Vec::new();
    push(
        &mut a,
        &[
            "-hide_banner",
            "-nostdin",
            "-y",
            "-loglevel",
            "error",
            "-protocol_whitelist",
            "file",
            "-format_whitelist",
            INPUT_FORMATS,
            "-ss",
            &format!("{at:.3}"),
            "-i",
        ],
    );
    a.push(input_url(input));
    push(
        &mut a,
        &[
            "-map",
            "0:V:0",
            "-frames:v",
            "1",
            "-vf",
            &format!("scale={w}:{h},setsar=1"),
            "-map_metadata",
            "-1",
            "-q:v",
            "3",
            "-update",
            "1",
            "-f",
            "image2",
        ],
    );
    a.push(path_arg(out_dir, POSTER));
    a
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Removes the outputs of an encode when dropped, unless disarmed: on errors, timeouts and
/// when the encode future is dropped (after `kill_on_drop` has killed ffmpeg, since the child
/// is declared later and so dropped first).
struct Cleanup {
    paths: Vec<PathBuf>,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for p in &self.paths {
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(p)
            } else {
                std::fs::remove_file(p)
            };
        }
    }
}

/// Encodes `input` into `out_dir`; `progress` is called with 0.0..=1.0 as ffmpeg reports it.
/// Dropping the future kills ffmpeg.
///
/// Runs [`poster_command`], then [`encode_command`], then measures every rendition. On any
/// error the files it wrote in `out_dir` are removed.
pub async fn encode(
    tools: &Tools,
    input: &Path,
    probe: &Probe,
    settings: &EncodeSettings,
    out_dir: &Path,
    progress: &(dyn Fn(f64) + Send + Sync),
) -> Result<Encoded, TranscodeError> {
    let deadline = Instant::now() + settings.timeout;
    let timeout = settings.timeout;
    if out_dir.to_string_lossy().contains('%') {
        // ffmpeg would read it as part of the segment name pattern.
        return Err(TranscodeError::Io(format!(
            "the output directory {} must not contain '%'",
            out_dir.display()
        )));
    }
    let rungs = ladder(probe, settings);
    let mut cleanup = Cleanup {
        paths: rungs
            .iter()
            .map(|r| out_dir.join(&r.name))
            .chain([out_dir.join(POSTER)])
            .collect(),
        armed: true,
    };
    for r in &rungs {
        tokio::fs::create_dir_all(out_dir.join(&r.name))
            .await
            .map_err(|e| {
                TranscodeError::Io(format!(
                    "cannot create {}/{}: {e}",
                    out_dir.display(),
                    r.name
                ))
            })?;
    }
    progress(0.0);

    // The poster first: it takes a fraction of a second and fails early on broken input.
    let poster = out_dir.join(POSTER);
    let mut at = poster_at(probe);
    loop {
        let args = poster_command_at(input, probe, settings, out_dir, at);
        let ran = run(&tools.ffmpeg, "ffmpeg", &args, deadline, timeout, |_| {}).await?;
        if !ran.status.success() {
            return Err(ran.failed("ffmpeg"));
        }
        let written = tokio::fs::metadata(&poster)
            .await
            .is_ok_and(|m| m.len() > 0);
        if written {
            break;
        }
        if at == 0.0 {
            return Err(TranscodeError::Failed {
                tool: "ffmpeg",
                status: ran.status.to_string(),
                stderr: "no video frame could be decoded for the poster".into(),
            });
        }
        // The seek went past the last decodable frame; take the first one instead.
        at = 0.0;
    }

    let args = encode_command(input, probe, settings, out_dir);
    let mut reporter = ProgressReporter::new(probe.duration_secs, progress);
    let ran = run(&tools.ffmpeg, "ffmpeg", &args, deadline, timeout, |line| {
        reporter.line(line)
    })
    .await?;
    if !ran.status.success() {
        return Err(ran.failed("ffmpeg"));
    }

    let mut renditions = Vec::with_capacity(rungs.len());
    let mut files = Vec::new();
    let mut duration_secs = 0.0;
    let codec_probes = rungs.iter().map(|r| {
        let dir = out_dir.join(&r.name);
        async move {
            let segments = read_media_playlist(&dir).await?;
            let first = segments.first().ok_or_else(|| {
                TranscodeError::Io(format!("{}/index.m3u8 lists no segments", r.name))
            })?;
            let codecs = segment_codecs(tools, &dir.join(&first.uri), deadline, timeout).await?;
            Ok::<_, TranscodeError>((segments, codecs))
        }
    });
    let measured = futures::future::try_join_all(codec_probes).await?;
    for (i, (r, (segments, codecs))) in rungs.iter().zip(measured).enumerate() {
        let (bandwidth, average_bandwidth) = bandwidths(&segments);
        if i == 0 {
            duration_secs = segments.iter().map(|s| s.duration).sum();
        }
        files.push(Path::new(&r.name).join("index.m3u8"));
        files.extend(segments.iter().map(|s| Path::new(&r.name).join(&s.uri)));
        renditions.push(Rendition {
            name: r.name.clone(),
            width: r.width,
            height: r.height,
            bandwidth,
            average_bandwidth,
            codecs,
            frame_rate: (probe.frame_rate * 1000.0).round() / 1000.0,
        });
    }
    files.push(PathBuf::from(POSTER));
    if reporter.last < 1.0 {
        progress(1.0);
    }
    cleanup.armed = false;
    Ok(Encoded {
        renditions,
        poster: PathBuf::from(POSTER),
        files,
        duration_secs,
    })
}

/// Turns ffmpeg's `-progress` lines into monotonic fractions, at most about four a second.
struct ProgressReporter<'a> {
    duration_us: f64,
    last: f64,
    last_at: Option<std::time::Instant>,
    progress: &'a (dyn Fn(f64) + Send + Sync),
}

impl<'a> ProgressReporter<'a> {
    fn new(duration_secs: f64, progress: &'a (dyn Fn(f64) + Send + Sync)) -> Self {
        ProgressReporter {
            duration_us: (duration_secs * 1e6).max(1.0),
            last: 0.0,
            last_at: None,
            progress,
        }
    }

    fn line(&mut self, line: &str) {
        let Some(f) = progress_fraction(line, self.duration_us) else {
            return;
        };
        let now = std::time::Instant::now();
        let soon = self
            .last_at
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(250));
        if f > self.last && (!soon || f >= 1.0) {
            self.last = f;
            self.last_at = Some(now);
            (self.progress)(f);
        }
    }
}

/// The fraction done from one `-progress` line (`out_time_us=…`; `out_time_ms=…`, which
/// ffmpeg also writes in microseconds), or `None` for other lines.
fn progress_fraction(line: &str, duration_us: f64) -> Option<f64> {
    let (key, value) = line.trim().split_once('=')?;
    if key != "out_time_us" && key != "out_time_ms" {
        return None;
    }
    let us: f64 = value.trim().parse().ok()?;
    Some((us / duration_us).clamp(0.0, 1.0))
}

/// One segment of a media playlist, with its file's size.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    uri: String,
    duration: f64,
    bytes: u64,
}

/// Reads `{dir}/index.m3u8` and the sizes of the segments it lists.
async fn read_media_playlist(dir: &Path) -> Result<Vec<Segment>, TranscodeError> {
    let path = dir.join("index.m3u8");
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| TranscodeError::Io(format!("cannot read {}: {e}", path.display())))?;
    let mut segments = parse_media_playlist(&text)
        .map_err(|e| TranscodeError::Io(format!("{}: {e}", path.display())))?;
    for s in &mut segments {
        let seg = dir.join(&s.uri);
        s.bytes = tokio::fs::metadata(&seg)
            .await
            .map_err(|e| TranscodeError::Io(format!("cannot read {}: {e}", seg.display())))?
            .len();
    }
    Ok(segments)
}

/// The `EXTINF` durations and URIs of a VOD media playlist (sizes left at 0).
fn parse_media_playlist(text: &str) -> Result<Vec<Segment>, String> {
    let mut lines = text.lines().map(str::trim);
    if lines.next() != Some("#EXTM3U") {
        return Err("not an M3U8 playlist".into());
    }
    let mut segments = Vec::new();
    let mut pending: Option<f64> = None;
    let mut ended = false;
    for line in lines {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let d = rest.split(',').next().unwrap_or("").trim();
            pending = Some(
                d.parse()
                    .map_err(|_| format!("bad EXTINF duration {d:?}"))?,
            );
        } else if line == "#EXT-X-ENDLIST" {
            ended = true;
        } else if !line.is_empty() && !line.starts_with('#') {
            let duration = pending
                .take()
                .ok_or_else(|| format!("{line} has no EXTINF"))?;
            if line.contains('/') || line.contains('\\') {
                return Err(format!("unexpected segment URI {line:?}"));
            }
            segments.push(Segment {
                uri: line.to_string(),
                duration,
                bytes: 0,
            });
        }
    }
    if !ended {
        return Err("the playlist has no EXT-X-ENDLIST".into());
    }
    Ok(segments)
}

/// (peak, average) bits per second over the segments. A last segment under a second is left
/// out of the peak (its rate is mostly overhead), and the peak is never below the average.
fn bandwidths(segments: &[Segment]) -> (u64, u64) {
    let total_bytes: u64 = segments.iter().map(|s| s.bytes).sum();
    let total_secs: f64 = segments.iter().map(|s| s.duration).sum();
    if total_secs <= 0.0 {
        return (0, 0);
    }
    let average = total_bytes as f64 * 8.0 / total_secs;
    let counted = match segments.split_last() {
        Some((last, rest)) if !rest.is_empty() && last.duration < 1.0 => rest,
        _ => segments,
    };
    let peak = counted
        .iter()
        .filter(|s| s.duration > 0.0)
        .map(|s| s.bytes as f64 * 8.0 / s.duration)
        .fold(average, f64::max);
    (peak.ceil() as u64, average.ceil() as u64)
}

/// The RFC 6381 codecs of a segment, from ffprobe.
async fn segment_codecs(
    tools: &Tools,
    segment: &Path,
    deadline: Instant,
    timeout: Duration,
) -> Result<String, TranscodeError> {
    let mut args: Vec<OsString> = [
        "-hide_banner",
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_streams",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(input_url(segment));
    let (ran, json) = ffprobe_json(tools, &args, deadline, timeout).await?;
    if !ran.status.success() {
        return Err(ran.failed("ffprobe"));
    }
    codecs_from_json(&json).map_err(|e| TranscodeError::Failed {
        tool: "ffprobe",
        status: ran.status.to_string(),
        stderr: format!("{}: {e}", segment.display()),
    })
}

/// `avc1.PPCCLL[,mp4a.40.N]` from ffprobe's `-show_streams` JSON of an encoded segment.
fn codecs_from_json(json: &str) -> Result<String, String> {
    let root: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let streams = root
        .get("streams")
        .and_then(|s| s.as_array())
        .ok_or("no streams")?;
    let field = |s: &serde_json::Value, k: &str| {
        s.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string()
    };
    let video = streams
        .iter()
        .find(|s| field(s, "codec_type") == "video")
        .ok_or("no video stream")?;
    if field(video, "codec_name") != "h264" {
        return Err(format!(
            "unexpected video codec {:?}",
            field(video, "codec_name")
        ));
    }
    let profile = field(video, "profile");
    // profile_idc and the constraint flags byte, as x264 writes them.
    let (idc, constraints) = match profile.as_str() {
        "High" => (0x64, 0x00),
        "Main" => (0x4d, 0x40),
        "Constrained Baseline" => (0x42, 0xe0),
        "Baseline" => (0x42, 0x00),
        "High 10" => (0x6e, 0x00),
        "High 4:2:2" => (0x7a, 0x00),
        "High 4:4:4 Predictive" => (0xf4, 0x00),
        other => return Err(format!("unexpected H.264 profile {other:?}")),
    };
    let level = video
        .get("level")
        .and_then(|v| v.as_i64())
        .filter(|l| (1..=255).contains(l))
        .ok_or("no H.264 level")?;
    let mut codecs = format!("avc1.{idc:02x}{constraints:02x}{level:02x}");
    if let Some(audio) = streams.iter().find(|s| field(s, "codec_type") == "audio") {
        let object_type = match field(audio, "profile").as_str() {
            "HE-AAC" => 5,
            "HE-AACv2" => 29,
            _ => 2,
        };
        codecs.push_str(&format!(",mp4a.40.{object_type}"));
    }
    Ok(codecs)
}

// ---------------------------------------------------------------------------------------------
// Running a tool
// ---------------------------------------------------------------------------------------------

/// The end of a tool's run.
struct Ran {
    status: ExitStatus,
    stderr: StderrLines,
}

impl Ran {
    fn failed(&self, tool: &'static str) -> TranscodeError {
        TranscodeError::Failed {
            tool,
            status: self.status.to_string(),
            stderr: self.stderr.tail(),
        }
    }
}

/// The first line and the last [`STDERR_TAIL_LINES`] lines of stderr.
#[derive(Default)]
struct StderrLines {
    first: Option<String>,
    last: VecDeque<String>,
    dropped: usize,
}

impl StderrLines {
    fn push(&mut self, line: &str) {
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        if self.first.is_none() {
            self.first = Some(line.to_string());
        }
        if self.last.len() == STDERR_TAIL_LINES {
            self.last.pop_front();
            self.dropped += 1;
        }
        self.last.push_back(line.to_string());
    }

    fn first(&self) -> Option<&str> {
        self.first.as_deref()
    }

    fn tail(&self) -> String {
        if self.last.is_empty() {
            return "(no output on stderr)".into();
        }
        let lines: Vec<&str> = self.last.iter().map(String::as_str).collect();
        if self.dropped > 0 {
            format!("… {}", lines.join("\n"))
        } else {
            lines.join("\n")
        }
    }
}

/// Runs `program` until it exits or `deadline` passes (then kills it: [`TranscodeError::Timeout`]
/// with `timeout`). `on_stdout` gets every stdout line; stderr is kept as [`StderrLines`].
/// Runs ffprobe and collects its JSON output (bounded by [`MAX_PROBE_OUTPUT`]).
async fn ffprobe_json(
    tools: &Tools,
    args: &[OsString],
    deadline: Instant,
    timeout: Duration,
) -> Result<(Ran, String), TranscodeError> {
    let mut json = String::new();
    let ran = run(&tools.ffprobe, "ffprobe", args, deadline, timeout, |line| {
        if json.len() < MAX_PROBE_OUTPUT {
            json.push_str(line);
            json.push('\n');
        }
    })
    .await?;
    Ok((ran, json))
}

async fn run(
    program: &Path,
    tool: &'static str,
    args: &[OsString],
    deadline: Instant,
    timeout: Duration,
    mut on_stdout: impl FnMut(&str),
) -> Result<Ran, TranscodeError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                TranscodeError::ToolMissing {
                    tool,
                    path: program.display().to_string(),
                }
            } else {
                TranscodeError::Io(format!("cannot run {tool} ({}): {e}", program.display()))
            }
        })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let outcome = tokio::time::timeout_at(deadline, async {
        let out = for_each_line(stdout, |l| on_stdout(l));
        let mut lines = StderrLines::default();
        let err = for_each_line(stderr, |l| lines.push(l));
        let ((), (), status) = tokio::join!(out, err, child.wait());
        (status, lines)
    })
    .await;
    match outcome {
        Ok((Ok(status), stderr)) => Ok(Ran { status, stderr }),
        Ok((Err(e), _)) => Err(TranscodeError::Io(format!("waiting for {tool}: {e}"))),
        Err(_) => {
            // SIGKILL and reap it; kill_on_drop would too, but not wait for it to be gone.
            let _ = child.kill().await;
            Err(TranscodeError::Timeout(timeout))
        }
    }
}

/// Calls `f` with every line (lossily decoded, without its end of line) until EOF.
async fn for_each_line<R: AsyncRead + Unpin>(from: Option<R>, mut f: impl FnMut(&str)) {
    let Some(from) = from else { return };
    let mut reader = BufReader::new(from);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => f(String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r'])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn tools() -> Tools {
        Tools {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
        }
    }

    fn settings(heights: &[u32], segment_secs: u32) -> EncodeSettings {
        EncodeSettings {
            heights: heights.to_vec(),
            segment_secs,
            preset: "ultrafast".into(),
            threads: 0,
            timeout: Duration::from_secs(300),
        }
    }

    /// Runs ffmpeg to make a fixture; panics with its stderr on failure.
    fn ffmpeg(args: &[&str]) {
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
    fn clip(dir: &Path, name: &str, size: &str, rate: &str, secs: u32, audio: bool) -> PathBuf {
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

    fn ffprobe_json(args: &[&str]) -> serde_json::Value {
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-print_format", "json"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn not_video(r: Result<Probe, TranscodeError>) -> String {
        match r {
            Err(TranscodeError::NotVideo(why)) => why,
            other => panic!("expected NotVideo, got {other:?}"),
        }
    }

    const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn probe_reads_a_real_clip() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(dir.path(), "source", "320x240", "25", 2, true);
        let p = probe(&tools(), &input, PROBE_TIMEOUT).await.unwrap();
        assert_eq!((p.width, p.height), (320, 240));
        assert!((p.duration_secs - 2.0).abs() < 0.2, "{p:?}");
        assert!((p.frame_rate - 25.0).abs() < 1e-6, "{p:?}");
        assert!(p.has_audio);
        assert_eq!(p.video_codec, "h264");
    }

    #[tokio::test]
    async fn probe_swaps_rotated_and_widens_anamorphic_video() {
        let dir = tempfile::tempdir().unwrap();
        let plain = clip(dir.path(), "plain.mp4", "320x240", "25", 1, false);
        let rotated = dir.path().join("rotated.mp4");
        let plain_s = plain.to_str().unwrap();
        ffmpeg(&[
            "-i",
            plain_s,
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            rotated.to_str().unwrap(),
        ]);
        let p = probe(&tools(), &rotated, PROBE_TIMEOUT).await.unwrap();
        assert_eq!((p.width, p.height), (240, 320));
        assert!(!p.has_audio);

        let anamorphic = dir.path().join("sar.mp4");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-t",
            "1",
            "-vf",
            "setsar=2/1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            anamorphic.to_str().unwrap(),
        ]);
        let p = probe(&tools(), &anamorphic, PROBE_TIMEOUT).await.unwrap();
        assert_eq!((p.width, p.height), (640, 240));
    }

    #[tokio::test]
    async fn probe_says_why_a_file_is_not_a_video() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();

        let random = d.join("random");
        let mut bytes = Vec::with_capacity(64 * 1024);
        let mut x: u32 = 0x2545_f491;
        for _ in 0..64 * 1024 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            bytes.push(x as u8);
        }
        std::fs::write(&random, &bytes).unwrap();
        let why = not_video(probe(&tools(), &random, PROBE_TIMEOUT).await);
        assert!(
            why.starts_with("the uploaded file is not a video ffprobe can read: "),
            "{why}"
        );
        assert!(why.contains("Invalid data"), "{why}");
        assert!(
            !why.contains(d.to_str().unwrap()),
            "no paths in a message for users: {why}"
        );

        let empty = d.join("empty");
        std::fs::write(&empty, b"").unwrap();
        let why = not_video(probe(&tools(), &empty, PROBE_TIMEOUT).await);
        assert!(why.contains("empty"), "{why}");

        // ffmpeg writes the moov atom at the end, so cutting the file loses it.
        let whole = clip(d, "whole.mp4", "320x240", "25", 2, true);
        let bytes = std::fs::read(&whole).unwrap();
        let truncated = d.join("truncated");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        let why = not_video(probe(&tools(), &truncated, PROBE_TIMEOUT).await);
        assert!(why.contains("moov atom not found"), "{why}");

        let audio = d.join("audio.m4a");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "1",
            "-c:a",
            "aac",
            audio.to_str().unwrap(),
        ]);
        let why = not_video(probe(&tools(), &audio, PROBE_TIMEOUT).await);
        assert!(why.starts_with("the file has no video stream"), "{why}");

        let png = d.join("image.png");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240",
            "-frames:v",
            "1",
            png.to_str().unwrap(),
        ]);
        let why = not_video(probe(&tools(), &png, PROBE_TIMEOUT).await);
        assert!(
            why.contains("png_pipe") && why.contains("not a supported video container"),
            "{why}"
        );

        // A still image inside a video container.
        let still = d.join("still.mov");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240",
            "-frames:v",
            "1",
            "-c:v",
            "mjpeg",
            still.to_str().unwrap(),
        ]);
        let why = not_video(probe(&tools(), &still, PROBE_TIMEOUT).await);
        assert!(why.contains("still image"), "{why}");

        // A playlist that would make ffmpeg read another local file is refused.
        let playlist = d.join("playlist");
        std::fs::write(
            &playlist,
            format!(
                "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{}\n#EXT-X-ENDLIST\n",
                whole.display()
            ),
        )
        .unwrap();
        let why = not_video(probe(&tools(), &playlist, PROBE_TIMEOUT).await);
        assert!(why.starts_with("the uploaded file is not a video"), "{why}");
    }

    #[test]
    fn probe_from_json_fixtures() {
        let why = match probe_from_json(include_str!("testdata/ffprobe_mp3_with_cover.json")) {
            Err(TranscodeError::NotVideo(why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(
            why.starts_with("the file has no video stream"),
            "cover art is not video: {why}"
        );

        let p = probe_from_json(include_str!("testdata/ffprobe_rotated_720p.json")).unwrap();
        assert_eq!((p.width, p.height, p.has_audio), (720, 1280, true));
        assert!((p.duration_secs - 1.003).abs() < 1e-9);
        assert_eq!(p.frame_rate, 30.0);

        let why = match probe_from_json(include_str!("testdata/ffprobe_still_mjpeg_mkv.json")) {
            Err(TranscodeError::NotVideo(why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(why.contains("still image"), "{why}");

        assert!(matches!(
            probe_from_json("not json"),
            Err(TranscodeError::NotVideo(_))
        ));
        assert!(matches!(
            probe_from_json("{}"),
            Err(TranscodeError::NotVideo(_))
        ));
    }

    #[test]
    fn human_reasons() {
        let arg = "file:/tmp/x/source";
        assert_eq!(
            human_reason(
                Some("file:/tmp/x/source: Invalid data found when processing input"),
                arg
            ),
            "Invalid data found when processing input"
        );
        assert_eq!(
            human_reason(
                Some("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55f6a1109280] moov atom not found"),
                arg
            ),
            "moov atom not found"
        );
        assert_eq!(
            human_reason(
                Some("[png_pipe @ 0x5648b5d96280] Format not on whitelist 'mov,…'"),
                arg
            ),
            "its format (png_pipe) is not a supported video container"
        );
        assert_eq!(human_reason(None, arg), "ffprobe gave no reason");
    }

    #[tokio::test]
    async fn missing_tools_are_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("source");
        std::fs::write(&input, b"whatever").unwrap();
        let missing = Tools {
            ffmpeg: dir.path().join("no-such-ffmpeg"),
            ffprobe: dir.path().join("no-such-ffprobe"),
        };
        match probe(&missing, &input, PROBE_TIMEOUT).await {
            Err(TranscodeError::ToolMissing {
                tool: "ffprobe",
                path,
            }) => assert!(path.ends_with("no-such-ffprobe")),
            other => panic!("{other:?}"),
        }
        let p = Probe {
            duration_secs: 1.0,
            width: 320,
            height: 240,
            frame_rate: 25.0,
            has_audio: false,
            video_codec: "h264".into(),
        };
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        match encode(&missing, &input, &p, &settings(&[240], 2), &out, &|_| {}).await {
            Err(e @ TranscodeError::ToolMissing { tool: "ffmpeg", .. }) => {
                assert!(e.to_string().contains("install it"), "{e}");
                assert!(!e.is_retryable());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            std::fs::read_dir(&out).unwrap().count(),
            0,
            "nothing left behind"
        );
    }

    fn source(width: u32, height: u32, has_audio: bool) -> Probe {
        Probe {
            duration_secs: 10.0,
            width,
            height,
            frame_rate: 30.0,
            has_audio,
            video_codec: "h264".into(),
        }
    }

    const ALL: [u32; 7] = [240, 360, 480, 720, 1080, 1440, 2160];

    #[test]
    fn ladder_never_upscales() {
        let rungs = ladder(&source(640, 360, true), &settings(&ALL, 4));
        assert_eq!(
            rungs,
            vec![
                Rung {
                    name: "360p".into(),
                    width: 640,
                    height: 360,
                    video_kbps: 800,
                    audio_kbps: 128
                },
                Rung {
                    name: "240p".into(),
                    width: 426,
                    height: 240,
                    video_kbps: 400,
                    audio_kbps: 128
                },
            ]
        );
        let rungs = ladder(
            &source(1920, 1080, false),
            &settings(&[720, 240, 1080, 2160, 720], 4),
        );
        let names: Vec<_> = rungs
            .iter()
            .map(|r| (r.name.as_str(), r.width, r.video_kbps, r.audio_kbps))
            .collect();
        assert_eq!(
            names,
            [
                ("1080p", 1920, 5000, 0),
                ("720p", 1280, 2800, 0),
                ("240p", 426, 400, 0)
            ]
        );
    }

    #[test]
    fn ladder_for_small_odd_and_portrait_sources() {
        // Shorter than every configured height: one rung at the source's height, made even.
        let rungs = ladder(&source(176, 145, true), &settings(&ALL, 4));
        assert_eq!(rungs.len(), 1);
        assert_eq!(
            (rungs[0].name.as_str(), rungs[0].width, rungs[0].height),
            ("144p", 174, 144)
        );
        assert!(rungs[0].video_kbps >= 100 && rungs[0].video_kbps < 400);

        // Portrait: named by the short side, never upscaled, aspect kept, even sizes.
        let rungs = ladder(&source(720, 1280, false), &settings(&[360, 720, 1080], 4));
        assert_eq!(
            rungs
                .iter()
                .map(|r| (r.name.as_str(), r.width, r.height))
                .collect::<Vec<_>>(),
            [("720p", 720, 1280), ("360p", 360, 640)]
        );
        assert!(rungs.iter().all(|r| r.width % 2 == 0 && r.height % 2 == 0));
    }

    #[test]
    fn bit_rates_interpolate_between_heights() {
        assert_eq!(video_kbps(240), 400);
        assert_eq!(video_kbps(2160), 14000);
        assert_eq!(video_kbps(540), 1750);
        assert_eq!(video_kbps(120), 100);
        assert_eq!(video_kbps(4320), 56000);
        let mut prev = 0;
        for h in (2..3000).step_by(2) {
            let k = video_kbps(h);
            assert!(k >= prev, "monotonic at {h}");
            prev = k;
        }
    }

    #[test]
    fn commands_have_the_expected_shape() {
        let s = EncodeSettings {
            threads: 2,
            ..settings(&[360, 720], 4)
        };
        let out = Path::new("/o");
        let args: Vec<String> =
            encode_command(Path::new("/in/source"), &source(1280, 720, true), &s, out)
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect();
        let joined = args.join(" ");
        for want in [
            "-i file:/in/source",
            "[0:V:0]split=2[s0][s1];[s0]scale=1280:720,setsar=1[v0];[s1]scale=640:360,setsar=1[v1]",
            "-map [v0] -map [v1] -map 0:a:0 -map 0:a:0",
            "-g 60 -keyint_min 60 -sc_threshold 0 -force_key_frames expr:gte(t,n_forced*4)",
            "-b:v:0 2800k -maxrate:v:0 3080k -bufsize:v:0 5600k",
            "-b:v:1 800k -maxrate:v:1 880k -bufsize:v:1 1600k",
            "-threads 2",
            "-hls_time 4",
            "-var_stream_map v:0,a:0,name:720p v:1,a:1,name:360p",
            "-hls_segment_filename /o/%v/seg_%05d.ts /o/%v/index.m3u8",
        ] {
            assert!(joined.contains(want), "{want:?} not in {joined}");
        }
        assert!(!joined.contains("master_pl_name"));
        let silent = encode_command(
            Path::new("/in/source"),
            &source(320, 240, false),
            &settings(&[240], 2),
            out,
        );
        let joined = silent
            .iter()
            .map(|a| a.to_str().unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(joined.contains("-var_stream_map v:0,name:240p"), "{joined}");
        assert!(
            !joined.contains("0:a") && !joined.contains("-threads"),
            "{joined}"
        );

        let poster: Vec<String> =
            poster_command(Path::new("/in/source"), &source(1280, 720, true), &s, out)
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect();
        let joined = poster.join(" ");
        assert!(joined.contains("-ss 1.000 -i file:/in/source"), "{joined}");
        assert!(
            joined.contains("scale=1280:720,setsar=1")
                && joined.ends_with("-q:v 3 -update 1 -f image2 /o/poster.jpg"),
            "{joined}"
        );
    }

    #[test]
    fn progress_lines() {
        assert_eq!(progress_fraction("out_time_us=2000000", 4e6), Some(0.5));
        assert_eq!(progress_fraction("out_time_ms=1000000", 4e6), Some(0.25));
        assert_eq!(progress_fraction("out_time_us=N/A", 4e6), None);
        assert_eq!(progress_fraction("out_time_us=9000000", 4e6), Some(1.0));
        assert_eq!(progress_fraction("frame=12", 4e6), None);
        assert_eq!(progress_fraction("out_time_us=-5000", 4e6), Some(0.0));
    }

    #[test]
    fn progress_reports_are_monotonic_and_throttled() {
        let calls = Mutex::new(Vec::new());
        let report = |f: f64| calls.lock().unwrap().push(f);
        let mut r = ProgressReporter::new(4.0, &report);
        for line in [
            "frame=1",
            "out_time_us=N/A",
            "out_time_us=1000000",
            "out_time_ms=1000000",
            "out_time_us=2000000", // within 250 ms of the last report: skipped
            "out_time_us=500000",  // backwards: skipped
            "out_time_us=4000000", // done: always reported
            "out_time_us=4100000",
            "progress=end",
        ] {
            r.line(line);
        }
        assert_eq!(calls.into_inner().unwrap(), [0.25, 1.0]);
    }

    #[test]
    fn playlists_and_bandwidth() {
        let text =
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.000000,\nseg_00000.ts\n\
                    #EXTINF:4.000,\nseg_00001.ts\n#EXTINF:0.5,\nseg_00002.ts\n#EXT-X-ENDLIST\n";
        let mut segs = parse_media_playlist(text).unwrap();
        assert_eq!(
            segs.iter()
                .map(|s| (s.uri.as_str(), s.duration))
                .collect::<Vec<_>>(),
            [
                ("seg_00000.ts", 4.0),
                ("seg_00001.ts", 4.0),
                ("seg_00002.ts", 0.5)
            ]
        );
        segs[0].bytes = 1_000_000; // 2 Mbit/s
        segs[1].bytes = 500_000; // 1 Mbit/s
        segs[2].bytes = 400_000; // 6.4 Mbit/s, but only half a second: not the peak
        let (peak, avg) = bandwidths(&segs);
        assert_eq!(peak, 2_000_000);
        assert_eq!(avg, (1_900_000.0f64 * 8.0 / 8.5).ceil() as u64);
        // A short last segment that is the only one still counts; the peak is never below the average.
        let one = [Segment {
            uri: "a.ts".into(),
            duration: 0.5,
            bytes: 1000,
        }];
        assert_eq!(bandwidths(&one), (16_000, 16_000));
        assert!(
            parse_media_playlist("#EXTM3U\n#EXTINF:4,\na.ts\n").is_err(),
            "no ENDLIST"
        );
        assert!(parse_media_playlist("#EXTM3U\n#EXTINF:4,\n../a.ts\n#EXT-X-ENDLIST\n").is_err());
    }

    #[test]
    fn codecs_strings() {
        let json = |profile: &str, level: i64, audio: Option<&str>| {
            let mut streams = vec![
                serde_json::json!({"codec_type": "video", "codec_name": "h264", "profile": profile, "level": level}),
            ];
            if let Some(a) = audio {
                streams.push(
                    serde_json::json!({"codec_type": "audio", "codec_name": "aac", "profile": a}),
                );
            }
            serde_json::json!({ "streams": streams }).to_string()
        };
        assert_eq!(
            codecs_from_json(&json("High", 31, Some("LC"))).unwrap(),
            "avc1.64001f,mp4a.40.2"
        );
        assert_eq!(
            codecs_from_json(&json("High", 40, None)).unwrap(),
            "avc1.640028"
        );
        assert_eq!(
            codecs_from_json(&json("Main", 30, None)).unwrap(),
            "avc1.4d401e"
        );
        assert_eq!(
            codecs_from_json(&json("Constrained Baseline", 30, Some("HE-AAC"))).unwrap(),
            "avc1.42e01e,mp4a.40.5"
        );
        assert!(codecs_from_json(&json("Mystery", 30, None)).is_err());
    }

    /// EXTINF values of a media playlist, as written.
    fn extinfs(playlist: &str) -> Vec<String> {
        playlist
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(str::to_string)
            .collect()
    }

    /// (pts_time, flags) of the first video packet of a segment.
    fn first_video_packet(segment: &Path) -> (f64, String) {
        let v = ffprobe_json(&[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
            "-read_intervals",
            "%+#1",
            segment.to_str().unwrap(),
        ]);
        let p = &v["packets"][0];
        (
            p["pts_time"].as_str().unwrap().parse().unwrap(),
            p["flags"].as_str().unwrap().to_string(),
        )
    }

    #[tokio::test]
    async fn encodes_an_aligned_ladder() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(dir.path(), "source", "1280x720", "30", 6, true);
        let p = probe(&tools(), &input, PROBE_TIMEOUT).await.unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let calls = Mutex::new(Vec::new());
        let report = |f: f64| calls.lock().unwrap().push(f);
        let s = settings(&[360, 720], 2);
        let e = encode(&tools(), &input, &p, &s, &out, &report)
            .await
            .unwrap();

        // Progress: called, monotonic, in range, ending at 1.
        let calls = calls.into_inner().unwrap();
        // 0.0 at the start, then at least ffmpeg's own final report.
        assert!(calls.len() >= 2 && calls[0] == 0.0, "{calls:?}");
        assert!(calls.windows(2).all(|w| w[0] <= w[1]), "{calls:?}");
        assert!(calls.iter().all(|f| (0.0..=1.0).contains(f)), "{calls:?}");
        assert!(*calls.last().unwrap() >= 0.99, "{calls:?}");

        assert_eq!(
            e.renditions
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>(),
            ["720p", "360p"]
        );
        assert!((e.duration_secs - 6.0).abs() < 0.3, "{}", e.duration_secs);
        let playlists: Vec<String> = e
            .renditions
            .iter()
            .map(|r| std::fs::read_to_string(out.join(&r.name).join("index.m3u8")).unwrap())
            .collect();
        for pl in &playlists {
            assert!(pl.starts_with("#EXTM3U\n"), "{pl}");
            assert!(pl.contains("#EXT-X-VERSION:"), "{pl}");
            assert!(pl.contains("#EXT-X-TARGETDURATION:2"), "{pl}");
            assert!(pl.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{pl}");
            assert!(pl.contains("#EXT-X-INDEPENDENT-SEGMENTS"), "{pl}");
            assert!(pl.trim_end().ends_with("#EXT-X-ENDLIST"), "{pl}");
        }
        // Cut at the same instants, about every segment_secs.
        let durations = extinfs(&playlists[0]);
        assert_eq!(durations, extinfs(&playlists[1]));
        assert_eq!(durations.len(), 3, "{durations:?}");
        for d in &durations[..durations.len() - 1] {
            let d: f64 = d.trim_end_matches(',').parse().unwrap();
            assert!((d - 2.0).abs() < 0.1, "{durations:?}");
        }
        // Every segment starts with a keyframe, at the same time in every rendition.
        for i in 0..durations.len() {
            let seg = format!("seg_{i:05}.ts");
            let (t720, k720) = first_video_packet(&out.join("720p").join(&seg));
            let (t360, k360) = first_video_packet(&out.join("360p").join(&seg));
            assert!(
                k720.starts_with('K') && k360.starts_with('K'),
                "{seg}: {k720} {k360}"
            );
            assert!((t720 - t360).abs() < 1e-6, "{seg}: {t720} vs {t360}");
        }

        for (r, (w, h)) in e.renditions.iter().zip([(1280, 720), (640, 360)]) {
            assert_eq!((r.width, r.height), (w, h));
            assert_eq!(r.frame_rate, 30.0);
            // ultrafast makes x264 fall back to Constrained Baseline; veryfast gives High.
            assert!(
                r.codecs.starts_with("avc1.") && r.codecs.ends_with(",mp4a.40.2"),
                "{}",
                r.codecs
            );
            assert_eq!(
                r.codecs.len(),
                "avc1.64001f,mp4a.40.2".len(),
                "{}",
                r.codecs
            );
            assert!(r.average_bandwidth > 100_000, "{r:?}");
            assert!(r.bandwidth >= r.average_bandwidth, "{r:?}");
            let probed = ffprobe_json(&[
                "-show_streams",
                out.join(&r.name).join("seg_00000.ts").to_str().unwrap(),
            ]);
            let v = probed["streams"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["codec_type"] == "video")
                .unwrap();
            assert_eq!(
                (v["width"].as_u64(), v["height"].as_u64()),
                (Some(w as u64), Some(h as u64))
            );
            assert_eq!(v["pix_fmt"], "yuv420p");
            let a = probed["streams"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["codec_type"] == "audio")
                .unwrap();
            assert_eq!(
                (a["channels"].as_u64(), a["sample_rate"].as_str()),
                (Some(2), Some("48000"))
            );
        }
        assert!(
            e.renditions[0].codecs.ends_with("1f,mp4a.40.2"),
            "720p30 is level 3.1: {}",
            e.renditions[0].codecs
        );

        // Files: exactly what is on disk, relative, with the poster.
        assert_eq!(e.poster, PathBuf::from("poster.jpg"));
        let mut listed: Vec<PathBuf> = e.files.clone();
        listed.sort();
        let mut on_disk = Vec::new();
        for entry in std::fs::read_dir(&out).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                for f in std::fs::read_dir(entry.path()).unwrap() {
                    on_disk.push(f.unwrap().path().strip_prefix(&out).unwrap().to_path_buf());
                }
            } else {
                on_disk.push(PathBuf::from(entry.file_name()));
            }
        }
        on_disk.sort();
        assert_eq!(listed, on_disk);
        assert_eq!(e.files[0], PathBuf::from("720p/index.m3u8"));
        assert_eq!(e.files[1], PathBuf::from("720p/seg_00000.ts"));
        assert_eq!(e.files.last().unwrap(), &PathBuf::from("poster.jpg"));

        let jpeg = std::fs::read(out.join("poster.jpg")).unwrap();
        assert_eq!(&jpeg[..3], &[0xff, 0xd8, 0xff]);
        let probed = ffprobe_json(&["-show_streams", out.join("poster.jpg").to_str().unwrap()]);
        assert_eq!(probed["streams"][0]["width"].as_u64(), Some(1280));
        assert_eq!(probed["streams"][0]["height"].as_u64(), Some(720));
    }

    #[tokio::test]
    async fn encodes_a_silent_clip_without_audio_codecs() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(dir.path(), "source", "320x240", "25", 2, false);
        let p = probe(&tools(), &input, PROBE_TIMEOUT).await.unwrap();
        assert!(!p.has_audio);
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let s = EncodeSettings {
            preset: "veryfast".into(),
            ..settings(&[240, 480], 1)
        };
        let e = encode(&tools(), &input, &p, &s, &out, &|_| {})
            .await
            .unwrap();
        assert_eq!(e.renditions.len(), 1);
        let r = &e.renditions[0];
        assert_eq!((r.name.as_str(), r.width, r.height), ("240p", 320, 240));
        assert!(
            r.codecs.starts_with("avc1.6400"),
            "veryfast keeps High: {}",
            r.codecs
        );
        assert!(!r.codecs.contains("mp4a"), "{}", r.codecs);
        assert_eq!(
            extinfs(&std::fs::read_to_string(out.join("240p/index.m3u8")).unwrap()).len(),
            2
        );
        assert!(out.join("poster.jpg").is_file());
    }

    #[tokio::test]
    async fn a_timeout_kills_ffmpeg_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(dir.path(), "source", "1280x720", "30", 6, true);
        let p = probe(&tools(), &input, PROBE_TIMEOUT).await.unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        // veryslow takes many seconds on this clip; 300 ms is not enough on any machine.
        let s = EncodeSettings {
            preset: "veryslow".into(),
            timeout: Duration::from_millis(300),
            ..settings(&[360, 720], 2)
        };
        let started = std::time::Instant::now();
        match encode(&tools(), &input, &p, &s, &out, &|_| {}).await {
            Err(e @ TranscodeError::Timeout(_)) => assert!(e.is_retryable()),
            other => panic!("{other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "killed promptly"
        );
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    /// Whether a live process has `out` in its command line.
    #[cfg(target_os = "linux")]
    fn ffmpeg_writing_to(out: &str) -> bool {
        std::fs::read_dir("/proc").unwrap().any(|e| {
            let cmdline = e.unwrap().path().join("cmdline");
            std::fs::read(cmdline).is_ok_and(|c| String::from_utf8_lossy(&c).contains(out))
        })
    }

    #[tokio::test]
    async fn dropping_the_encode_kills_ffmpeg_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(dir.path(), "source", "1280x720", "30", 6, true);
        let p = probe(&tools(), &input, PROBE_TIMEOUT).await.unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let s = EncodeSettings {
            preset: "veryslow".into(),
            ..settings(&[360, 720], 2)
        };
        // Wait until the ladder encode is under way (the poster is done, and then some), and
        // drop the future there, in the middle of the veryslow encode.
        let t = tools();
        let mut enc = Box::pin(encode(&t, &input, &p, &s, &out, &|_| {}));
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut ladder_started = None;
        loop {
            tokio::select! {
                r = &mut enc => panic!("veryslow finished early: {r:?}"),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            assert!(Instant::now() < deadline, "no poster within two minutes");
            if ladder_started.is_none() && out.join("poster.jpg").is_file() {
                ladder_started = Some(Instant::now());
            }
            if ladder_started.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) {
                break;
            }
        }
        let out_str = out.to_str().unwrap().to_string();
        #[cfg(target_os = "linux")]
        assert!(ffmpeg_writing_to(&out_str), "ffmpeg runs before the drop");
        drop(enc);
        // Give a surviving ffmpeg a chance to write more, then look.
        tokio::time::sleep(Duration::from_millis(500)).await;
        #[cfg(target_os = "linux")]
        assert!(!ffmpeg_writing_to(&out_str), "ffmpeg was killed");
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn a_failed_encode_reports_stderr_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(dir.path(), "source", "320x240", "25", 1, false);
        let p = probe(&tools(), &input, PROBE_TIMEOUT).await.unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let s = EncodeSettings {
            preset: "no-such-preset".into(),
            ..settings(&[240], 1)
        };
        match encode(&tools(), &input, &p, &s, &out, &|_| {}).await {
            Err(TranscodeError::Failed {
                tool: "ffmpeg",
                status,
                stderr,
            }) => {
                assert!(!status.is_empty());
                assert!(stderr.contains("preset"), "{stderr}");
                assert!(stderr.lines().count() <= STDERR_TAIL_LINES, "{stderr}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    }
}
