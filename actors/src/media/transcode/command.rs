//! The ffmpeg command lines: the one-run ladder encode ([`encode_command`]), the poster grab
//! ([`poster_command`]), and the input restrictions both tools are given ([`INPUT_FORMATS`],
//! `file:` URLs).

use super::{ladder, EncodeSettings, Probe};
use std::ffi::OsString;
use std::path::Path;

/// The demuxers an upload may be read with (`-format_whitelist`): ordinary video containers
/// and raw streams, plus a few audio formats so that an audio file is reported as "no video
/// stream" rather than as an unknown format. Playlist-like formats (hls, concat, dash, image2,
/// tty, …) are deliberately absent: they open other files.
pub const INPUT_FORMATS: &str = "mov,matroska,avi,flv,mpegts,mpeg,ogg,asf,mxf,dv,nut,rm,ivf,obu,\
m4v,h264,hevc,mpegvideo,yuv4mpegpipe,gif,wav,mp3,flac,aac";

/// The poster's file name in `out_dir`.
pub(super) const POSTER: &str = "poster.jpg";

/// `file:<path>`: ffmpeg never takes the path for another protocol (`a:b`, `concat:`…).
pub(super) fn input_url(input: &Path) -> OsString {
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

/// The ffmpeg arguments (without the program) of the ladder encode that
/// [`encode`](super::encode) runs: every rung of [`ladder`] in one run, HLS media playlists and
/// MPEG-TS segments in `{out_dir}/{rung}/`, progress as `key=value` lines on stdout.
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
pub(super) fn poster_at(probe: &Probe) -> f64 {
    (probe.duration_secs * 0.1).clamp(0.0, 5.0)
}

/// The ffmpeg arguments (without the program) of the poster grab that
/// [`encode`](super::encode) runs first: one frame at [`poster_at`] seconds, scaled to the
/// tallest rung, as `{out_dir}/poster.jpg`.
pub fn poster_command(
    input: &Path,
    probe: &Probe,
    settings: &EncodeSettings,
    out_dir: &Path,
) -> Vec<OsString> {
    poster_command_at(input, probe, settings, out_dir, poster_at(probe))
}

pub(super) fn poster_command_at(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::transcode::test_support::{settings, source};

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
}
