//! A generated video catalogue for the catalogue benchmark: a deterministic vocabulary of
//! pseudo-words (syllable combinations) with some real English words among them, drawn with
//! a Zipf spread for titles, descriptions, tags and owners, and the videos (and the view
//! counters of some) as the server stores them. The same seed gives the same videos, so a
//! second pass (to load PostgreSQL) regenerates them instead of keeping them in memory.

use crate::common::Rng;
use chrono::{DateTime, TimeZone, Utc};
use std::collections::HashSet;
use std::path::Path;
use troupe_actors::events::{Rendition, VideoStatus, Visibility};
use troupe_actors::media::video::{VideoActor, VideoState};
use troupe_actors::playback::counter::{CounterActor, CounterState};
use troupe_actors::playback::tally::Partial;
use troupe_runtime::{codec, Entity};
use uuid::Uuid;

/// How many words the vocabulary has.
pub const VOCAB: usize = 30_000;
/// How many tags.
pub const TAGS: usize = 2_000;
/// How many owners (channels).
pub const OWNERS: usize = 20_000;
/// The Zipf exponent of every spread.
pub const ZIPF_S: f64 = 1.0;
/// The span of creation times: three years, ending a day before the bench starts.
const SPAN_MS: i64 = 3 * 365 * 86_400_000;
/// Where the real words sit in the vocabulary's ranks: the j-th at `REAL_FIRST + j * REAL_STEP`.
const REAL_FIRST: usize = 40;
const REAL_STEP: usize = 30;

/// Real English words (5 letters or more, for typo queries), placed among the pseudo-words.
pub const REAL: &[&str] = &[
    "music",
    "travel",
    "guitar",
    "kitchen",
    "garden",
    "football",
    "planet",
    "ocean",
    "camera",
    "winter",
    "summer",
    "island",
    "forest",
    "mountain",
    "river",
    "coffee",
    "pizza",
    "dragon",
    "castle",
    "rocket",
    "piano",
    "violin",
    "dance",
    "street",
    "market",
    "village",
    "history",
    "science",
    "energy",
    "engine",
    "bridge",
    "window",
    "flower",
    "butter",
    "chicken",
    "cheese",
    "pepper",
    "orange",
    "banana",
    "yellow",
    "purple",
    "silver",
    "golden",
    "shadow",
    "thunder",
    "storm",
    "desert",
    "jungle",
    "safari",
    "tiger",
    "monkey",
    "rabbit",
    "turtle",
    "spider",
    "eagle",
    "falcon",
    "shark",
    "whale",
    "dolphin",
    "puzzle",
    "battle",
    "knight",
    "wizard",
    "magic",
    "legend",
    "secret",
    "mystery",
    "detective",
    "comedy",
    "drama",
    "horror",
    "action",
    "anime",
    "cartoon",
    "tutorial",
    "lesson",
    "review",
    "unboxing",
    "gaming",
    "speedrun",
    "stream",
    "podcast",
    "interview",
    "concert",
    "festival",
    "holiday",
    "wedding",
    "birthday",
    "family",
    "friend",
    "school",
    "college",
    "office",
    "coding",
    "python",
    "server",
    "network",
    "robot",
    "machine",
    "circuit",
    "battery",
    "laptop",
    "phone",
    "tablet",
    "keyboard",
    "monitor",
    "printer",
    "garage",
    "vintage",
    "classic",
    "modern",
    "simple",
    "quick",
    "healthy",
    "recipe",
    "breakfast",
    "dinner",
    "dessert",
    "chocolate",
    "strawberry",
    "lemon",
    "honey",
    "bread",
    "pasta",
    "noodle",
    "burger",
    "salad",
    "sandwich",
    "soup",
    "cookie",
    "muffin",
    "pancake",
    "yoga",
    "workout",
    "running",
    "cycling",
    "hiking",
    "climbing",
    "fishing",
    "camping",
    "sailing",
    "surfing",
    "skiing",
    "skating",
    "boxing",
    "soccer",
    "tennis",
    "basketball",
    "baseball",
    "hockey",
    "cricket",
    "rugby",
    "golfing",
    "chess",
    "poker",
    "painting",
    "drawing",
    "sketch",
    "pottery",
    "knitting",
    "sewing",
    "origami",
    "candle",
    "jewelry",
    "fashion",
    "makeup",
    "haircut",
    "sneaker",
    "jacket",
    "weather",
    "volcano",
    "earthquake",
    "galaxy",
    "comet",
    "meteor",
    "satellite",
    "telescope",
    "microscope",
    "chemistry",
    "physics",
    "biology",
    "geology",
    "language",
    "grammar",
    "poetry",
    "novel",
    "library",
    "museum",
    "theater",
    "cinema",
    "trailer",
    "documentary",
    "animals",
    "puppy",
    "kitten",
    "parrot",
    "horse",
    "donkey",
    "camel",
    "penguin",
    "octopus",
    "lobster",
    "crab",
];

/// The vocabularies and their Zipf spreads.
pub struct Corpus {
    /// Words, most frequent first.
    pub vocab: Vec<String>,
    /// Tags, most frequent first.
    pub tags: Vec<String>,
    word_cdf: Vec<f64>,
    tag_cdf: Vec<f64>,
    owner_cdf: Vec<f64>,
    /// Every word, for typo checks.
    pub words: HashSet<String>,
    /// The vocabulary ranks of the real words.
    pub real_ranks: Vec<usize>,
    /// The end of the span of creation times (Unix ms).
    pub now_ms: i64,
}

fn cdf(n: usize) -> Vec<f64> {
    let mut acc = 0.0;
    (1..=n)
        .map(|k| {
            acc += 1.0 / (k as f64).powf(ZIPF_S);
            acc
        })
        .collect()
}

fn zipf(rng: &mut Rng, cdf: &[f64]) -> usize {
    let u = unit(rng) * cdf[cdf.len() - 1];
    cdf.partition_point(|c| *c < u).min(cdf.len() - 1)
}

/// A uniform number in `[0, 1)`.
pub fn unit(rng: &mut Rng) -> f64 {
    rng.below(1 << 53) as f64 / (1u64 << 53) as f64
}

impl Corpus {
    /// The corpus, with creation times ending a day before `now_ms`.
    pub fn new(now_ms: i64) -> Corpus {
        const ONSETS: &[&str] = &[
            "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
            "z", "br", "cr", "dr", "fr", "gr", "pr", "tr", "bl", "cl", "fl", "gl", "pl", "sl",
            "st", "sp", "sk", "ch", "sh", "th",
        ];
        const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"];
        const CODAS: &[&str] = &["", "", "", "n", "r", "s", "l", "m", "nd", "st"];
        let mut rng = Rng::new(0xCA7A_1061);
        let real: HashSet<&str> = REAL.iter().copied().collect();
        let mut seen: HashSet<String> = HashSet::new();
        let mut vocab = Vec::with_capacity(VOCAB);
        while vocab.len() < VOCAB {
            let syllables = 2 + (rng.below(10) >= 7) as u64;
            let mut w = String::new();
            for _ in 0..syllables {
                w += ONSETS[rng.below(ONSETS.len() as u64) as usize];
                w += VOWELS[rng.below(VOWELS.len() as u64) as usize];
                w += CODAS[rng.below(CODAS.len() as u64) as usize];
            }
            if w.len() < 4 || real.contains(w.as_str()) || !seen.insert(w.clone()) {
                continue;
            }
            vocab.push(w);
        }
        let mut real_ranks = Vec::new();
        let mut placed = HashSet::new();
        for (j, r) in REAL.iter().enumerate() {
            if !placed.insert(*r) {
                continue;
            }
            let rank = REAL_FIRST + j * REAL_STEP;
            vocab[rank] = (*r).to_owned();
            real_ranks.push(rank);
        }
        // Tags: words of the vocabulary in another order, so a tag is also a searched word.
        let tags: Vec<String> = (0..TAGS)
            .map(|r| vocab[(r * 7919 + 13) % VOCAB].clone())
            .collect();
        let words = vocab.iter().cloned().collect();
        Corpus {
            vocab,
            tags,
            word_cdf: cdf(VOCAB),
            tag_cdf: cdf(TAGS),
            owner_cdf: cdf(OWNERS),
            words,
            real_ranks,
            now_ms,
        }
    }

    fn words_into(&self, rng: &mut Rng, n: usize, out: &mut String) {
        for i in 0..n {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&self.vocab[zipf(rng, &self.word_cdf)]);
        }
    }

    /// A username of the owner of rank `k`.
    pub fn owner_name(k: usize) -> String {
        format!("chan{k:05}")
    }

    /// The videos, in creation order.
    pub fn videos(&self, n: usize, counters: usize, seed: u64) -> Videos<'_> {
        Videos {
            corpus: self,
            rng: Rng::new(seed),
            i: 0,
            n,
            counter_p: counters as f64 / n.max(1) as f64,
            counted: 0,
        }
    }
}

/// One generated video, and its view counter when it has one.
pub struct Gen {
    /// The video's stored state.
    pub video: VideoState,
    /// Its counter's stored state.
    pub counter: Option<CounterState>,
    /// Views in the last 24 hours (as the counter's buckets say, at the corpus's `now_ms`).
    pub views_24h: u64,
}

impl Gen {
    /// The state store's (key, encoded state) pairs for this video: the video's, and its
    /// counter's when it has one.
    pub fn state_entries(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![(
            format!("{}/{}", VideoActor::KIND, self.video.id),
            codec::encode(VideoActor::SCHEMA, &self.video).expect("encode video"),
        )];
        if let Some(c) = &self.counter {
            out.push((
                format!("{}/{}", CounterActor::KIND, self.video.id),
                codec::encode(CounterActor::SCHEMA, c).expect("encode counter"),
            ));
        }
        out
    }
}

/// Writes `entries` into a sled state store in `data/state`, as `SledStore` frames them:
/// `[etag: u64 BE][value]` with etags from sled's `generate_id`, in the tree `state`, 10,000
/// to a batch; then flushes.
pub fn write_sled(data: &Path, entries: impl Iterator<Item = (String, Vec<u8>)>) {
    let db = sled::Config::new()
        .path(data.join("state"))
        .mode(sled::Mode::LowSpace)
        .cache_capacity(256 * 1024 * 1024)
        .open()
        .expect("open sled");
    let tree = db.open_tree("state").expect("state tree");
    let mut batch = sled::Batch::default();
    for (i, (key, value)) in entries.enumerate() {
        let mut framed = Vec::with_capacity(8 + value.len());
        framed.extend_from_slice(&db.generate_id().expect("generate_id").to_be_bytes());
        framed.extend_from_slice(&value);
        batch.insert(key.as_bytes(), framed);
        if i % 10_000 == 9_999 {
            tree.apply_batch(std::mem::take(&mut batch))
                .expect("apply batch");
        }
    }
    tree.apply_batch(batch).expect("apply batch");
    db.flush().expect("flush");
}

/// The generated videos.
pub struct Videos<'a> {
    corpus: &'a Corpus,
    rng: Rng,
    i: usize,
    n: usize,
    counter_p: f64,
    counted: usize,
}

impl Iterator for Videos<'_> {
    type Item = Gen;

    fn next(&mut self) -> Option<Gen> {
        if self.i >= self.n {
            return None;
        }
        let c = self.corpus;
        let rng = &mut self.rng;
        let start = c.now_ms - 86_400_000 - SPAN_MS;
        let step = SPAN_MS / self.n as i64;
        let created_ms = start + self.i as i64 * step + rng.below(step.max(1) as u64) as i64;
        self.i += 1;
        let mut rand = [0u8; 10];
        let r1 = rng.below(u64::MAX);
        let r2 = rng.below(u64::MAX);
        rand[..8].copy_from_slice(&r1.to_le_bytes());
        rand[8..].copy_from_slice(&r2.to_le_bytes()[..2]);
        let id = uuid::Builder::from_unix_timestamp_millis(created_ms as u64, &rand).into_uuid();
        let owner = zipf(rng, &c.owner_cdf);
        let mut title = String::new();
        let nt = 4 + rng.below(5) as usize;
        c.words_into(rng, nt, &mut title);
        let mut description = String::new();
        let nd = 20 + rng.below(41) as usize;
        c.words_into(rng, nd, &mut description);
        let ntags = 1 + rng.below(5) as usize;
        let mut tags: Vec<String> = Vec::with_capacity(ntags);
        for _ in 0..ntags {
            let t = &c.tags[zipf(rng, &c.tag_cdf)];
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let public = rng.below(100) >= 3;
        let created_at: DateTime<Utc> = Utc.timestamp_millis_opt(created_ms).unwrap();
        let video = VideoState {
            id,
            owner: Corpus::owner_name(owner),
            owner_id: Uuid::from_u128(0xB0B0_0000_0000_0000_0000_0000_0000_0000 | owner as u128),
            // The owner's default channel: its id is the owner's.
            channel_id: Uuid::from_u128(0xB0B0_0000_0000_0000_0000_0000_0000_0000 | owner as u128),
            channel: Corpus::owner_name(owner),
            title,
            description,
            tags,
            visibility: if public {
                Visibility::Public
            } else {
                Visibility::Private
            },
            status: VideoStatus::Ready,
            progress: 100.0,
            failure_reason: None,
            renditions: vec![
                Rendition {
                    name: "720p".into(),
                    width: 1280,
                    height: 720,
                    bandwidth: 3_200_000,
                    average_bandwidth: 2_500_000,
                    codecs: "avc1.64001f,mp4a.40.2".into(),
                    frame_rate: 30.0,
                },
                Rendition {
                    name: "360p".into(),
                    width: 640,
                    height: 360,
                    bandwidth: 900_000,
                    average_bandwidth: 700_000,
                    codecs: "avc1.64001e,mp4a.40.2".into(),
                    frame_rate: 30.0,
                },
            ],
            duration_secs: Some(10.0 + rng.below(7_190_000) as f64 / 1000.0),
            has_poster: true,
            upload: None,
            created_at,
            updated_at: created_at,
            version: 4,
            deleting: false,
            follow_up: Default::default(),
            hidden: None,
        };
        let mut counter = None;
        let mut views_24h = 0;
        if public && unit(rng) < self.counter_p {
            self.counted += 1;
            // Popularity rank among the viewed videos (1 = most viewed), scattered.
            let rank = 1 + (self.counted.wrapping_mul(2_654_435_761) % 100_000) as u64;
            let (s, v24) = counter_state(rng, c.now_ms, rank);
            counter = Some(s);
            views_24h = v24;
        }
        Some(Gen {
            video,
            counter,
            views_24h,
        })
    }
}

/// A counter with views bucketed as the counter actor keeps them: 5-minute buckets over the
/// last 2 hours, hourly ones over the last 8 days; the more popular (lower `rank`), the more
/// buckets hold views and the more views each holds. Also its views in the last 24 hours.
fn counter_state(rng: &mut Rng, now_ms: i64, rank: u64) -> (CounterState, u64) {
    use troupe_actors::events::{COARSE_MS, FINE_MS};
    let heat = 1.0 / ((rank as f64) / 10.0).max(1.0).sqrt();
    let per_bucket = (100_000.0 / rank as f64).max(1.0);
    let mut coarse = Vec::new();
    let n_coarse = ((192.0 * heat) as usize).clamp(1, 192);
    let hour0 = now_ms - now_ms.rem_euclid(COARSE_MS);
    // The most recent `n_coarse` hours, with a few gaps.
    for h in (0..n_coarse as i64).rev() {
        if h > 0 && rng.below(8) == 0 {
            continue;
        }
        let v = 1 + (per_bucket * (0.5 + unit(rng))) as u64;
        coarse.push((hour0 - h * COARSE_MS, v));
    }
    let mut fine = Vec::new();
    let n_fine = ((24.0 * heat) as usize).min(24);
    let five0 = now_ms - now_ms.rem_euclid(FINE_MS);
    for f in (0..n_fine as i64).rev() {
        let v = 1 + (per_bucket / 12.0 * (0.5 + unit(rng))) as u64;
        fine.push((five0 - f * FINE_MS, v));
    }
    let recent: u64 = coarse.iter().map(|(_, v)| v).sum();
    let total = recent * 3 + rng.below(1000);
    let mut s = CounterState::default();
    s.shards = (0..troupe_actors::playback::tally::SHARDS)
        .map(|i| Partial {
            shard: i,
            version: 1,
            views: total / 16 + u64::from(i == 0) * (total % 16),
            likes: total / 160,
            dislikes: total / 1600,
        })
        .collect();
    s.version = 16;
    s.fine = fine;
    s.coarse = coarse;
    let v24 = troupe_actors::events::views_within(&s.fine, &s.coarse, now_ms, 86_400_000);
    (s, v24)
}
