//! Trending's views over time, with each window's ranking kept as counts arrive, so that a
//! trending request reads the head of a sorted set instead of summing every viewed video's
//! buckets.
//!
//! For each kept window (1 h, 24 h, 7 d) every viewed video has its sum over the window as of
//! its last counts, in a set ordered by that sum, and the time its oldest counted bucket
//! leaves the window (a bucket counts while most of it lies inside, as
//! [`troupe_actors::events::views_within`] has it). Sums only fall as time passes, and only
//! when a bucket leaves: before a ranking is read, the videos whose next leaving time has
//! passed are summed again (a heap by that time). A ranking read so is the one a walk over
//! every video's buckets at that moment would give.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use troupe_actors::events::{Counts, ViewBuckets, COARSE_MS, FINE_KEEP_MS, FINE_MS};
use uuid::Uuid;

/// The windows kept ranked (ms): the API's `1h`, `24h` and `7d`.
pub(crate) const WINDOWS: [i64; 3] = [COARSE_MS, 24 * COARSE_MS, 7 * 24 * COARSE_MS];

/// A video's sum over `window_ms` at `now_ms` and when it next falls (`i64::MAX`: never).
fn window_sum(b: &ViewBuckets, now_ms: i64, window_ms: i64) -> (u64, i64) {
    let (buckets, width) = if window_ms <= FINE_KEEP_MS {
        (&b.fine, FINE_MS)
    } else {
        (&b.coarse, COARSE_MS)
    };
    let (mut sum, mut next) = (0, i64::MAX);
    for (start, n) in buckets {
        let leaves = start + width / 2 + window_ms;
        if leaves > now_ms {
            sum += n;
            next = next.min(leaves);
        }
    }
    (sum, next)
}

/// One window's ranking.
struct Ranked {
    window_ms: i64,
    /// Each video with views in the window: its sum and when that next falls.
    sums: HashMap<Uuid, (u64, i64)>,
    /// Most viewed first; among equal sums the newest id (UUIDv7: the newest video) first.
    order: BTreeSet<(Reverse<u64>, Reverse<Uuid>)>,
    /// When sums fall; entries that no longer match `sums` are skipped.
    falls: BinaryHeap<Reverse<(i64, Uuid)>>,
}

impl Ranked {
    fn new(window_ms: i64) -> Self {
        Self {
            window_ms,
            sums: HashMap::new(),
            order: BTreeSet::new(),
            falls: BinaryHeap::new(),
        }
    }

    fn remove(&mut self, id: Uuid) {
        if let Some((sum, _)) = self.sums.remove(&id) {
            self.order.remove(&(Reverse(sum), Reverse(id)));
        }
    }

    fn rank(&mut self, id: Uuid, b: &ViewBuckets, now_ms: i64) {
        self.remove(id);
        let (sum, next) = window_sum(b, now_ms, self.window_ms);
        if sum == 0 {
            return;
        }
        self.sums.insert(id, (sum, next));
        self.order.insert((Reverse(sum), Reverse(id)));
        self.falls.push(Reverse((next, id)));
        // Stale entries pile up as counts arrive: past four per video, the heap is rebuilt.
        if self.falls.len() > 4 * self.sums.len() + 1_024 {
            self.falls = self
                .sums
                .iter()
                .map(|(id, (_, next))| Reverse((*next, *id)))
                .collect();
        }
    }

    /// Sums again the videos whose sums fell by `now_ms`.
    fn advance(&mut self, views: &HashMap<Uuid, (ViewBuckets, Counts)>, now_ms: i64) {
        while let Some(Reverse((at, id))) = self.falls.peek().copied() {
            if at > now_ms {
                break;
            }
            self.falls.pop();
            if self.sums.get(&id).map(|s| s.1) != Some(at) {
                continue;
            }
            match views.get(&id) {
                Some((b, _)) => self.rank(id, b, now_ms),
                None => self.remove(id),
            }
        }
    }
}

/// Views over time and counts of every video viewed within the longest window, with the
/// kept windows' rankings.
pub(crate) struct Trends {
    views: HashMap<Uuid, (ViewBuckets, Counts)>,
    ranked: Vec<Ranked>,
}

impl Default for Trends {
    fn default() -> Self {
        Self {
            views: HashMap::new(),
            ranked: WINDOWS.iter().map(|w| Ranked::new(*w)).collect(),
        }
    }
}

impl Trends {
    /// How many videos are kept.
    pub(crate) fn len(&self) -> usize {
        self.views.len()
    }

    /// Records a video's views over time and counts (no views at all: forgets it).
    pub(crate) fn set(&mut self, id: Uuid, views: ViewBuckets, counts: Counts, now_ms: i64) {
        if views.coarse.is_empty() && views.fine.is_empty() {
            self.remove(id);
            return;
        }
        for r in &mut self.ranked {
            r.rank(id, &views, now_ms);
        }
        self.views.insert(id, (views, counts));
    }

    /// Forgets a video.
    pub(crate) fn remove(&mut self, id: Uuid) {
        self.views.remove(&id);
        for r in &mut self.ranked {
            r.remove(id);
        }
    }

    /// Every kept video with its views over time (for ageing).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Uuid, &ViewBuckets)> {
        self.views.iter().map(|(id, (b, _))| (id, b))
    }

    /// The videos ranked `skip..skip + take` by views within `window_ms` at `now_ms` (only
    /// those with a view in it), most first, with their views in it and counts. A kept window
    /// reads its ranking; any other sums every video.
    pub(crate) fn top(
        &mut self,
        window_ms: i64,
        now_ms: i64,
        skip: usize,
        take: usize,
    ) -> Vec<(Uuid, u64, Counts)> {
        let views = &self.views;
        if let Some(r) = self.ranked.iter_mut().find(|r| r.window_ms == window_ms) {
            r.advance(views, now_ms);
            return r
                .order
                .iter()
                .skip(skip)
                .take(take)
                .map(|(Reverse(n), Reverse(id))| {
                    (*id, *n, views.get(id).map(|v| v.1).unwrap_or_default())
                })
                .collect();
        }
        let mut all: Vec<(Uuid, u64, Counts)> = views
            .iter()
            .map(|(id, (b, c))| (*id, b.views_within(now_ms, window_ms), *c))
            .filter(|(_, n, _)| *n > 0)
            .collect();
        all.sort_by_key(|(id, n, _)| (Reverse(*n), Reverse(*id)));
        all.into_iter().skip(skip).take(take).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use troupe_actors::events::views_within;

    fn walk(t: &Trends, window_ms: i64, now_ms: i64) -> Vec<(Uuid, u64)> {
        let mut all: Vec<(Uuid, u64)> = t
            .views
            .iter()
            .map(|(id, (b, _))| (*id, views_within(&b.fine, &b.coarse, now_ms, window_ms)))
            .filter(|(_, n)| *n > 0)
            .collect();
        all.sort_by_key(|(id, n)| (Reverse(*n), Reverse(*id)));
        all
    }

    #[test]
    fn kept_rankings_match_a_walk_over_every_bucket_as_time_passes() {
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        let start = 1_800_000_000_000i64 / COARSE_MS * COARSE_MS;
        let mut t = Trends::default();
        let mut now = start;
        for step in 0..3_000 {
            now += next(20 * 60_000) as i64;
            let id = Uuid::from_u128(next(300) as u128 + 1);
            let mut b = ViewBuckets::default();
            for k in 0..next(30) as i64 {
                let at = now - k * FINE_MS;
                b.fine.push((at / FINE_MS * FINE_MS, next(5)));
            }
            b.fine.retain(|(at, _)| *at > now - FINE_KEEP_MS);
            for k in 0..next(200) as i64 {
                let at = now - k * COARSE_MS;
                b.coarse.push((at / COARSE_MS * COARSE_MS, next(9)));
            }
            t.set(id, b, Counts::default(), now);
            if step % 7 == 0 {
                for w in WINDOWS {
                    let later = now + next(3 * COARSE_MS as u64) as i64;
                    let kept: Vec<(Uuid, u64)> = t
                        .top(w, later, 0, usize::MAX)
                        .into_iter()
                        .map(|(id, n, _)| (id, n))
                        .collect();
                    assert_eq!(kept, walk(&t, w, later), "window {w} at step {step}");
                    now = now.max(later);
                }
            }
        }
    }
}
