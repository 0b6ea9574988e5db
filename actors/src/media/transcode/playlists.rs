//! Reading what ffmpeg produced: the media playlists (validated), the sizes of their
//! segments, and from them each rendition's peak and average bit rate and RFC 6381 codecs.

use super::command::input_url;
use super::run::ffprobe_json;
use super::{Tools, TranscodeError};
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// One segment of a media playlist, with its file's size.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Segment {
    pub(super) uri: String,
    pub(super) duration: f64,
    bytes: u64,
}

/// Reads `{dir}/index.m3u8` and the sizes of the segments it lists.
pub(super) async fn read_media_playlist(dir: &Path) -> Result<Vec<Segment>, TranscodeError> {
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
pub(super) fn bandwidths(segments: &[Segment]) -> (u64, u64) {
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
pub(super) async fn segment_codecs(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
