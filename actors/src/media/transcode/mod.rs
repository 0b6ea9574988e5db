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
//! from the [`Rendition`](super::Rendition)s measured here (peak and average bit rate from the
//! segment files, RFC 6381 codecs from ffprobe of the first segment).
//!
//! The parts, one file each:
//!
//! - `probe`: running ffprobe on an upload and reading its JSON into a [`Probe`]
//!   ([`probe`], [`probe_from_json`]), or saying why the file is not a video.
//! - `ladder`: choosing the renditions: [`EncodeSettings`], the [`ladder`] of [`Rung`]s for a
//!   source, and the bit rate of each rung.
//! - `command`: building the ffmpeg arguments ([`encode_command`], [`poster_command`]) and the
//!   demuxer allow list both tools get ([`INPUT_FORMATS`]).
//! - `run`: [`encode`] and running a tool ([`Tools`]): spawning with a deadline, progress from
//!   `-progress` lines, the stderr tail in [`TranscodeError`], and removing the outputs of a
//!   failed or cancelled encode; what an encode produced ([`Encoded`]).
//! - `playlists`: reading and validating the media playlists ffmpeg wrote, and measuring each
//!   rendition from them (bit rates from the segment sizes, codecs from ffprobe of the first
//!   segment).

mod command;
mod ladder;
mod playlists;
mod probe;
mod run;
#[cfg(test)]
mod test_support;

pub use command::{encode_command, poster_command, INPUT_FORMATS};
pub use ladder::{ladder, EncodeSettings, Rung};
pub use probe::{probe, probe_from_json, Probe};
pub use run::{encode, Encoded, Tools, TranscodeError};
