//! A tally: one shard of one video's ratings and views, with each viewer's own rating and
//! recent view, so that every change is counted exactly once.
//!
//! A video's viewers are spread over [`SHARDS`] tallies by their id, so that no single record
//! holds every rating of a popular video and a write stays small. Each tally keeps the
//! per-viewer facts (who rated what, who was counted a view in the last window) and its own
//! partial counts with a version. The tallies are parts of the video's
//! [`super::counter::CounterActor`] (stored under `tally/<video>.<shard>`): the counter
//! changes one, writes that one alone, and answers once it is durable.

use super::{Counts, Rating};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use troupe_runtime::Part;
use uuid::Uuid;

/// How many tallies one video's viewers are spread over. Part of the storage layout: changing
/// it re-shards nobody's existing ratings.
pub const SHARDS: u8 = 16;

/// The shard a viewer's ratings and views live in.
pub fn shard_of(viewer: Uuid) -> u8 {
    viewer.as_bytes()[15] % SHARDS
}

/// The part key of one video's shard.
pub fn key(video: Uuid, shard: u8) -> String {
    format!("{video}.{shard}")
}

/// One shard's counts, as the counter adds them up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partial {
    /// Which shard.
    pub shard: u8,
    /// Bumped on every change of the shard; a counter keeps the newest it has seen.
    pub version: u64,
    /// Views counted in this shard.
    pub views: u64,
    /// Likes in this shard.
    pub likes: u64,
    /// Dislikes in this shard.
    pub dislikes: u64,
}

impl Partial {
    /// The counts of this shard alone.
    pub fn counts(&self) -> Counts {
        Counts {
            views: self.views,
            likes: self.likes,
            dislikes: self.dislikes,
        }
    }
}

/// The durable state of one shard.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TallyState {
    /// The shard's counts and version.
    pub partial: Partial,
    /// Each viewer's rating; `none` is absence.
    pub ratings: HashMap<Uuid, Rating>,
    /// When each viewer was last counted a view (Unix ms), within the de-duplication window.
    pub viewed: HashMap<Uuid, i64>,
}

impl TallyState {
    /// Sets a viewer's rating (a value, not a delta); whether it changed anything.
    pub fn rate(&mut self, viewer: Uuid, rating: Rating) -> bool {
        let old = self.ratings.get(&viewer).copied().unwrap_or(Rating::None);
        if old == rating {
            return false;
        }
        let p = &mut self.partial;
        match old {
            Rating::Like => p.likes -= 1,
            Rating::Dislike => p.dislikes -= 1,
            Rating::None => {}
        }
        match rating {
            Rating::Like => p.likes += 1,
            Rating::Dislike => p.dislikes += 1,
            Rating::None => {}
        }
        if rating == Rating::None {
            self.ratings.remove(&viewer);
        } else {
            self.ratings.insert(viewer, rating);
        }
        p.version += 1;
        true
    }

    /// Counts a view, unless this viewer was counted one within `window_ms` before `at_ms`;
    /// whether it counted.
    pub fn view(&mut self, viewer: Uuid, at_ms: i64, window_ms: i64) -> bool {
        // Views older than the window no longer matter to anybody: keep the state small.
        self.viewed.retain(|_, t| at_ms - *t < window_ms);
        if self.viewed.contains_key(&viewer) {
            return false;
        }
        self.viewed.insert(viewer, at_ms);
        self.partial.views += 1;
        self.partial.version += 1;
        true
    }
}

impl Part for TallyState {
    const KIND: &'static str = "tally";
    const SCHEMA: u8 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_values_not_deltas() {
        let mut s = TallyState::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(s.rate(a, Rating::Like));
        assert!(!s.rate(a, Rating::Like), "the same rating twice is a no-op");
        assert!(s.rate(b, Rating::Dislike));
        assert!(s.rate(a, Rating::Dislike));
        assert_eq!((s.partial.likes, s.partial.dislikes), (0, 2));
        assert!(s.rate(a, Rating::None));
        assert!(!s.rate(a, Rating::None));
        assert_eq!((s.partial.likes, s.partial.dislikes), (0, 1));
        assert_eq!(s.partial.version, 4);
        assert!(!s.ratings.contains_key(&a));
    }

    #[test]
    fn a_view_counts_once_per_window() {
        let mut s = TallyState::default();
        let v = Uuid::new_v4();
        assert!(s.view(v, 1_000, 3_600_000));
        assert!(!s.view(v, 1_000 + 3_599_999, 3_600_000));
        assert!(s.view(v, 1_000 + 3_600_000, 3_600_000));
        assert_eq!(s.partial.views, 2);
        assert!(s.view(Uuid::new_v4(), 10_000_000, 3_600_000));
        assert_eq!(s.viewed.len(), 1, "old views are pruned");
    }

    #[test]
    fn shards_spread_viewers() {
        let mut seen = [0u32; SHARDS as usize];
        for _ in 0..1600 {
            seen[shard_of(Uuid::new_v4()) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 40), "{seen:?}");
    }
}
