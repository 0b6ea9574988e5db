//! Choosing the renditions: the [`ladder`] of [`Rung`]s for a source under the configured
//! [`EncodeSettings`], and the bit rate of each rung.

use super::probe::even_at_least_2;
use super::Probe;
use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::transcode::test_support::{settings, source};

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
}
