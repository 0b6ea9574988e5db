//! The master playlist a viewer gets: the renditions their plan allows, each named under a
//! media token, and how long that token lives.

use super::access::rendition_height;
use std::fmt::Write as _;
use troupe_actors::media::Rendition;

/// Whether an RFC 6381 codecs list is safe inside a quoted attribute.
fn valid_codecs(codecs: &str) -> bool {
    !codecs.is_empty()
        && codecs
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b',' | b'-' | b'_'))
}

/// The renditions a viewer capped at `cap` lines gets: those at most `cap` tall, or, when
/// none is, the smallest one, so that something plays. Renditions with unservable names are
/// left out. Order is kept.
pub(super) fn playable(renditions: &[Rendition], cap: u32) -> Vec<&Rendition> {
    let named = || {
        renditions
            .iter()
            .filter_map(|r| rendition_height(&r.name).map(|h| (h, r)))
    };
    let mut chosen: Vec<&Rendition> = named().filter(|(h, _)| *h <= cap).map(|(_, r)| r).collect();
    if chosen.is_empty() {
        chosen.extend(named().min_by_key(|(h, _)| *h).map(|(_, r)| r));
    }
    chosen
}

/// The master playlist naming `renditions`, each as `t/{media_token}/{name}/index.m3u8`.
pub(super) fn master_playlist(renditions: &[&Rendition], media_token: &str) -> String {
    let mut out = String::with_capacity(64 + renditions.len() * (200 + media_token.len()));
    out.push_str("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for r in renditions {
        let peak = r.bandwidth.max(r.average_bandwidth).max(1);
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={peak}");
        if r.average_bandwidth > 0 {
            let _ = write!(out, ",AVERAGE-BANDWIDTH={}", r.average_bandwidth);
        }
        if r.width > 0 && r.height > 0 {
            let _ = write!(out, ",RESOLUTION={}x{}", r.width, r.height);
        }
        if r.frame_rate.is_finite() && r.frame_rate > 0.0 {
            let _ = write!(out, ",FRAME-RATE={:.3}", r.frame_rate);
        }
        if valid_codecs(&r.codecs) {
            let _ = write!(out, ",CODECS=\"{}\"", r.codecs);
        }
        let _ = writeln!(out, "\nt/{media_token}/{}/index.m3u8", r.name);
    }
    out
}

/// How long a media token lives: twice the video (pauses, seeking), at least an hour, plus
/// ten minutes.
pub(super) fn media_token_ttl(duration_secs: Option<f64>) -> i64 {
    let d = duration_secs
        .filter(|d| d.is_finite() && *d > 0.0)
        .unwrap_or(0.0);
    ((d * 2.0).ceil() as i64).max(3600) + 600
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendition(name: &str, w: u32, h: u32, bw: u64) -> Rendition {
        Rendition {
            name: name.into(),
            width: w,
            height: h,
            bandwidth: bw,
            average_bandwidth: bw * 9 / 10,
            codecs: "avc1.64001f,mp4a.40.2".into(),
            frame_rate: 30.0,
        }
    }

    fn ladder() -> Vec<Rendition> {
        vec![
            rendition("1080p", 1920, 1080, 5_500_000),
            rendition("720p", 1280, 720, 2_890_800),
            rendition("360p", 640, 360, 910_800),
        ]
    }

    #[test]
    fn master_lists_what_the_cap_allows_with_every_attribute() {
        let renditions = ladder();
        let chosen = playable(&renditions, 720);
        let names: Vec<_> = chosen.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["720p", "360p"]);
        let m = master_playlist(&chosen, "TOK.EN");
        assert_eq!(
            m,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2890800,AVERAGE-BANDWIDTH=2601720,RESOLUTION=1280x720,FRAME-RATE=30.000,CODECS=\"avc1.64001f,mp4a.40.2\"\n\
             t/TOK.EN/720p/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=910800,AVERAGE-BANDWIDTH=819720,RESOLUTION=640x360,FRAME-RATE=30.000,CODECS=\"avc1.64001f,mp4a.40.2\"\n\
             t/TOK.EN/360p/index.m3u8\n"
        );
        assert_eq!(playable(&renditions, 1080).len(), 3);
        assert_eq!(playable(&renditions, 2160).len(), 3);
        assert_eq!(playable(&renditions, 1079).len(), 2);
    }

    #[test]
    fn master_falls_back_to_the_smallest_rendition() {
        let renditions = ladder();
        let chosen = playable(&renditions, 240);
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].name, "360p");
        assert!(playable(&[], 720).is_empty());
    }

    #[test]
    fn master_skips_unservable_names_and_unsafe_attributes() {
        let mut odd = rendition("720p", 1280, 720, 0);
        odd.codecs = "avc1\",evil".into();
        odd.frame_rate = f64::NAN;
        odd.average_bandwidth = 0;
        let renditions = vec![rendition("../x", 1, 1, 1), odd];
        let chosen = playable(&renditions, 1080);
        assert_eq!(chosen.len(), 1);
        let m = master_playlist(&chosen, "T");
        assert!(
            m.contains("#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=1280x720\nt/T/720p/index.m3u8\n"),
            "{m}"
        );
        assert!(!m.contains("CODECS"));
        assert!(!m.contains("../x"));
    }

    #[test]
    fn media_token_lifetime() {
        assert_eq!(media_token_ttl(None), 4200);
        assert_eq!(media_token_ttl(Some(12.0)), 4200);
        assert_eq!(media_token_ttl(Some(f64::NAN)), 4200);
        assert_eq!(media_token_ttl(Some(7200.2)), 14401 + 600);
    }
}
