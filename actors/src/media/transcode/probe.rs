//! Probing an upload: ffprobe's `-show_format -show_streams` JSON read into a [`Probe`]
//! (rotation, non-square pixels, still images), or a reason, for a human, why the file is not
//! a video.

use super::command::{input_url, INPUT_FORMATS};
use super::run::ffprobe_json;
use super::{Tools, TranscodeError};
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

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

/// Codecs whose one-frame streams are pictures rather than video.
const IMAGE_CODECS: &[&str] = &[
    "mjpeg", "png", "apng", "bmp", "gif", "webp", "tiff", "jpeg2000", "jpegls", "jpegxl", "ljpeg",
    "pam", "pbm", "pgm", "ppm", "qoi", "sgi", "targa", "exr", "dpx", "psd", "pcx",
];

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
pub(super) fn even_at_least_2(x: f64) -> u32 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::transcode::test_support::{clip, ffmpeg, tools, PROBE_TIMEOUT};

    fn not_video(r: Result<Probe, TranscodeError>) -> String {
        match r {
            Err(TranscodeError::NotVideo(why)) => why,
            other => panic!("expected NotVideo, got {other:?}"),
        }
    }

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
        let why = match probe_from_json(include_str!("../testdata/ffprobe_mp3_with_cover.json")) {
            Err(TranscodeError::NotVideo(why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(
            why.starts_with("the file has no video stream"),
            "cover art is not video: {why}"
        );

        let p = probe_from_json(include_str!("../testdata/ffprobe_rotated_720p.json")).unwrap();
        assert_eq!((p.width, p.height, p.has_audio), (720, 1280, true));
        assert!((p.duration_secs - 1.003).abs() < 1e-9);
        assert_eq!(p.frame_rate, 30.0);

        let why = match probe_from_json(include_str!("../testdata/ffprobe_still_mjpeg_mkv.json")) {
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
}
