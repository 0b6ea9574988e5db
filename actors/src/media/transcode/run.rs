//! Running the tools: [`encode`] (poster, ladder, measuring, cleanup of what it wrote on
//! failure or cancellation), ffmpeg's `-progress` lines turned into fractions, and spawning a
//! tool with a deadline, stdin closed, stdout read line by line and the tail of stderr kept.

use super::command::{encode_command, poster_at, poster_command_at, POSTER};
use super::playlists::{bandwidths, read_media_playlist, segment_codecs};
use super::{ladder, EncodeSettings, Probe};
use crate::media::Rendition;
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

/// How many lines of stderr a [`TranscodeError::Failed`] carries.
const STDERR_TAIL_LINES: usize = 20;

/// ffprobe's JSON is not expected to be anywhere near this; more is cut off.
const MAX_PROBE_OUTPUT: usize = 8 << 20;

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
/// Runs [`poster_command`](super::poster_command), then [`encode_command`], then measures
/// every rendition. On any error the files it wrote in `out_dir` are removed.
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

// ---------------------------------------------------------------------------------------------
// Running a tool
// ---------------------------------------------------------------------------------------------

/// The end of a tool's run.
pub(super) struct Ran {
    pub(super) status: ExitStatus,
    pub(super) stderr: StderrLines,
}

impl Ran {
    pub(super) fn failed(&self, tool: &'static str) -> TranscodeError {
        TranscodeError::Failed {
            tool,
            status: self.status.to_string(),
            stderr: self.stderr.tail(),
        }
    }
}

/// The first line and the last [`STDERR_TAIL_LINES`] lines of stderr.
#[derive(Default)]
pub(super) struct StderrLines {
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

    pub(super) fn first(&self) -> Option<&str> {
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
pub(super) async fn ffprobe_json(
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
    use crate::media::transcode::probe;
    use crate::media::transcode::test_support::{clip, settings, tools, PROBE_TIMEOUT};
    use std::sync::Mutex;

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
