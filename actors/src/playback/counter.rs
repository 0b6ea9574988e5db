//! The counter actor: one video's views, likes and dislikes, with the per-viewer facts behind
//! them, and its views over time for trending.
//!
//! The counter owns the video's [`SHARDS`] tallies as parts (see [`troupe_runtime::Part`]):
//! a rating or a view changes the viewer's tally, that tally alone is written, and the answer
//! (the video's new counts) waits until it is durable. Its own state (the newest [`Partial`]
//! of each tally, whose sum is the counts, and the view buckets) is derived and written
//! behind. The tallies are the truth: an activation reads every tally and merges what its
//! last write missed (a counter whose write-behind state was lost with its node), so counts
//! never drift. Merging a partial is idempotent (the newer version wins). Views that a merge
//! adds are also added to the current time bucket, from which trending ranks videos.

use super::tally::{self, Partial, TallyState, SHARDS};
use super::{Counts, Rating};
use crate::events::EventHub;
use chrono::Utc;
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use troupe_runtime::{Ctx, Entity};
use uuid::Uuid;

/// The actor kind `counter`, keyed by the video id.
pub struct CounterActor;

use crate::events::{ViewBuckets, FINE_KEEP_MS};
pub use crate::events::{COARSE_MS, FINE_MS};
/// How long coarse buckets are kept (ms): 8 days.
const COARSE_KEEP_MS: i64 = 8 * 24 * COARSE_MS;

/// The durable state of a video's counter.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CounterState {
    /// The newest partial of each shard, by shard.
    pub shards: Vec<Partial>,
    /// Bumped whenever the counts change.
    pub version: u64,
    /// Views per 5-minute bucket over the last 2 hours: (bucket start, Unix ms; views).
    pub fine: Vec<(i64, u64)>,
    /// Views per hour over the last 8 days: (bucket start, Unix ms; views).
    pub coarse: Vec<(i64, u64)>,
    /// The tallies, by shard, once an activation has read them; stored as parts of their
    /// own, not in this state.
    #[serde(skip)]
    pub tallies: Vec<TallyState>,
    /// Anonymous viewers counted per address (memory only).
    #[serde(skip)]
    sources: Sources,
}

impl CounterState {
    /// The video's counts: the sum of its shards.
    pub fn counts(&self) -> Counts {
        self.shards.iter().fold(Counts::default(), |c, p| Counts {
            views: c.views + p.views,
            likes: c.likes + p.likes,
            dislikes: c.dislikes + p.dislikes,
        })
    }

    /// Views within the last `window_ms` before `now_ms`, at the buckets' resolution:
    /// 5 minutes for windows up to 2 hours, an hour beyond.
    pub fn views_within(&self, now_ms: i64, window_ms: i64) -> u64 {
        crate::events::views_within(&self.fine, &self.coarse, now_ms, window_ms)
    }

    /// The view buckets, for the catalogue's trending.
    pub fn buckets(&self) -> ViewBuckets {
        ViewBuckets {
            fine: self.fine.clone(),
            coarse: self.coarse.clone(),
        }
    }

    /// Merges a shard's partial; whether it was newer than what the counter had.
    fn merge(&mut self, p: Partial, now_ms: i64) -> bool {
        if self.shards.len() < SHARDS as usize {
            self.shards.resize(SHARDS as usize, Partial::default());
            for (i, s) in self.shards.iter_mut().enumerate() {
                s.shard = i as u8;
            }
        }
        let Some(slot) = self.shards.get_mut(p.shard as usize) else {
            return false;
        };
        if p.version <= slot.version {
            return false;
        }
        let new_views = p.views.saturating_sub(slot.views);
        *slot = p;
        self.version += 1;
        if new_views > 0 {
            add(
                &mut self.fine,
                now_ms - now_ms.rem_euclid(FINE_MS),
                new_views,
            );
            add(
                &mut self.coarse,
                now_ms - now_ms.rem_euclid(COARSE_MS),
                new_views,
            );
        }
        self.fine.retain(|(s, _)| *s > now_ms - FINE_KEEP_MS);
        self.coarse.retain(|(s, _)| *s > now_ms - COARSE_KEEP_MS);
        true
    }
}

fn add(buckets: &mut Vec<(i64, u64)>, start: i64, n: u64) {
    match buckets.last_mut() {
        Some((s, v)) if *s == start => *v += n,
        _ => buckets.push((start, n)),
    }
}

/// Requests to a counter. All idempotent: a rating is a value, not a delta, and a view is
/// counted at most once per viewer per window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CounterRequest {
    /// Sets a viewer's rating.
    Rate {
        /// The viewer's user id.
        viewer: Uuid,
        /// The new rating.
        rating: Rating,
    },
    /// Counts a view, unless this viewer was counted one within `window_ms` before `at_ms`.
    View {
        /// The viewer's user id.
        viewer: Uuid,
        /// When the view qualified (Unix ms).
        at_ms: i64,
        /// The de-duplication window (ms).
        window_ms: i64,
        /// For an anonymous viewer: the client address, and how many devices from it may
        /// count a view of this video within the window.
        #[serde(default)]
        source: Option<ViewSource>,
    },
    /// The counts.
    Get,
    /// The counts, and `viewer`'s own rating (`none` when they have not rated).
    GetFor {
        /// The viewer's user id.
        viewer: Uuid,
    },
    /// Forgets the counter and its tallies (its video was deleted).
    Forget,
}

/// Where an anonymous view comes from, and the cap per address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewSource {
    /// The client address.
    pub address: String,
    /// At most this many distinct viewers from it count within the window.
    pub cap: u32,
}

/// Anonymous viewers counted per client address, within the view window: soft state, kept
/// in memory only (after a restart or failover an address may count up to `cap` again).
#[derive(Debug, Clone, Default)]
struct Sources {
    /// Address → the viewers counted from it, with when.
    counted: std::collections::HashMap<String, Vec<(Uuid, i64)>>,
}

impl Sources {
    /// Whether `viewer` from `source` may count a view at `at_ms`: it already did within the
    /// window (the tally decides), or fewer than `cap` others did. Records it when allowed.
    fn admit(&mut self, source: &ViewSource, viewer: Uuid, at_ms: i64, window_ms: i64) -> bool {
        // Bounded: addresses whose every view left the window are forgotten.
        if self.counted.len() > 4096 {
            self.counted
                .retain(|_, v| v.iter().any(|(_, t)| *t > at_ms - window_ms));
        }
        let seen = self.counted.entry(source.address.clone()).or_default();
        seen.retain(|(_, t)| *t > at_ms - window_ms);
        if seen.iter().any(|(v, _)| *v == viewer) {
            return true;
        }
        if seen.len() >= source.cap as usize {
            return false;
        }
        seen.push((viewer, at_ms));
        true
    }
}

/// What a counter answers: the counts and their version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CounterAnswer {
    /// The counts.
    pub counts: Counts,
    /// Bumped whenever they change.
    pub version: u64,
    /// Whether this request changed them (a rating equal to the current one, or a view
    /// within the window, does not).
    pub changed: bool,
    /// The viewer's own rating, for [`CounterRequest::GetFor`] (absent otherwise, and from a
    /// node that predates it).
    #[serde(default)]
    pub rating: Option<Rating>,
}

/// Per-kind context of counters.
#[derive(Clone)]
pub struct CounterArgs {
    /// Where count changes are announced on this node.
    pub hub: EventHub,
    /// A counter's state is written within this long of a change (write-behind). It is
    /// derived: the tallies are durable before a change is acknowledged, and an activation
    /// merges whatever the counter's last write missed.
    pub flush: std::time::Duration,
}

impl Entity for CounterActor {
    const KIND: &'static str = "counter";
    /// Still 1: the stored state kept its shape (the tallies are skipped). The requests
    /// changed when the tallies became parts; a node of an older version answers one it
    /// cannot read with a clear error rather than misreading it.
    const SCHEMA: u8 = 1;
    type State = CounterState;
    type Request = CounterRequest;
    type Response = CounterAnswer;
    type Args = CounterArgs;

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: CounterRequest,
    ) -> Result<CounterAnswer, ActorProcessingErr> {
        let video: Uuid = ctx.key().parse()?;
        let now = Utc::now().timestamp_millis();
        // Taken out and put back, so that the tallies are not copied on every request.
        let mut state = ctx.state_mut().take().unwrap_or_default();
        let mut changed = false;
        // On the first request, and after a `Forget` dropped them (a late view of a deleted
        // video counts afresh).
        if state.tallies.len() != SHARDS as usize {
            // The tallies are the truth: take up whatever the last write behind missed.
            let keys: Vec<String> = (0..SHARDS).map(|s| tally::key(video, s)).collect();
            let loaded = ctx.load_parts::<TallyState>(&keys).await?;
            state.tallies = loaded
                .into_iter()
                .zip(0..SHARDS)
                .map(|(t, shard)| {
                    let mut t = t.unwrap_or_default();
                    t.partial.shard = shard;
                    t
                })
                .collect();
            let partials: Vec<Partial> = state.tallies.iter().map(|t| t.partial).collect();
            for p in partials {
                changed |= state.merge(p, now);
            }
        }
        let shard = match &req {
            CounterRequest::Rate { viewer, rating } => {
                let s = tally::shard_of(*viewer);
                state.tallies[s as usize]
                    .rate(*viewer, *rating)
                    .then_some(s)
            }
            CounterRequest::View {
                viewer,
                at_ms,
                window_ms,
                source,
            } => {
                let s = tally::shard_of(*viewer);
                let admitted = source
                    .as_ref()
                    .is_none_or(|src| state.sources.admit(src, *viewer, *at_ms, *window_ms));
                if admitted {
                    state.tallies[s as usize]
                        .view(*viewer, *at_ms, *window_ms)
                        .then_some(s)
                } else {
                    metrics::counter!("troupe_views_refused_per_source_total").increment(1);
                    None
                }
            }
            CounterRequest::Get | CounterRequest::GetFor { .. } => None,
            CounterRequest::Forget => {
                // The activation has read its tallies (above): it deletes them with its own
                // state.
                *ctx.state_mut() = Some(state);
                ctx.remove().await?;
                return Ok(CounterAnswer {
                    counts: Counts::default(),
                    version: 0,
                    changed: false,
                    rating: None,
                });
            }
        };
        if let Some(s) = shard {
            let t = &state.tallies[s as usize];
            ctx.stage_part(&tally::key(video, s), t);
            let partial = t.partial;
            changed |= state.merge(partial, now);
        }
        let rating = match &req {
            CounterRequest::GetFor { viewer } => Some(
                state.tallies[tally::shard_of(*viewer) as usize]
                    .ratings
                    .get(viewer)
                    .copied()
                    .unwrap_or(Rating::None),
            ),
            _ => None,
        };
        let answer = CounterAnswer {
            counts: state.counts(),
            version: state.version,
            changed: shard.is_some(),
            rating,
        };
        if changed {
            // Announced once the tally write is durable, as a video's changes are: a count
            // that a crash could still take back is never shown to anyone.
            let hub = ctx.args().hub.clone();
            let (version, counts, views) = (answer.version, answer.counts, state.buckets());
            ctx.after_durable(move || {
                hub.publish_counts(video, version, counts);
                hub.catalogue_counts(video, counts, || views);
            });
            // Write-behind: the acknowledged truth is in the tallies (see the module doc).
            let flush = ctx.args().flush;
            ctx.stage_soft(state, flush);
        } else {
            *ctx.state_mut() = Some(state);
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(shard: u8, version: u64, views: u64, likes: u64) -> Partial {
        Partial {
            shard,
            version,
            views,
            likes,
            dislikes: 0,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ratings_write_only_their_tally_and_forget_deletes_every_tally() {
        use troupe_runtime::store::{MemoryStore, StateStore};
        use troupe_runtime::{Directory, RuntimeConfig, System};
        let store: std::sync::Arc<dyn StateStore> = std::sync::Arc::new(MemoryStore::new());
        let system = System::new(store.clone(), RuntimeConfig::default());
        let args = CounterArgs {
            hub: EventHub::new(std::time::Duration::from_millis(500)),
            flush: std::time::Duration::from_secs(3600),
        };
        let counters = Directory::<CounterActor>::start(&system, args)
            .await
            .unwrap();
        let video = Uuid::new_v4();
        let key = video.to_string();
        let viewers: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
        for v in &viewers {
            let rate = CounterRequest::Rate {
                viewer: *v,
                rating: Rating::Like,
            };
            let a = counters.call(&key, rate.clone()).await.unwrap();
            assert!(a.changed);
            assert!(!counters.call(&key, rate).await.unwrap().changed);
        }
        let tallies = || async {
            store
                .scan_prefix(&format!("tally/{video}."))
                .await
                .unwrap()
                .len()
        };
        let shards: std::collections::HashSet<u8> =
            viewers.iter().map(|v| tally::shard_of(*v)).collect();
        assert_eq!(
            tallies().await,
            shards.len(),
            "one record per tally written"
        );
        // The sums are written behind (an hour here): nothing of the counter's own yet.
        assert!(store
            .get(&format!("counter/{video}"))
            .await
            .unwrap()
            .is_none());
        counters.call(&key, CounterRequest::Forget).await.unwrap();
        assert_eq!(tallies().await, 0);
        // A late view after the forget counts afresh rather than failing.
        let view = CounterRequest::View {
            viewer: viewers[0],
            at_ms: 1_000,
            window_ms: 3_600_000,
            source: None,
        };
        let a = counters.call(&key, view).await.unwrap();
        assert_eq!((a.counts.views, a.counts.likes), (1, 0));
    }

    #[test]
    fn merges_are_idempotent_and_newest_wins() {
        let mut s = CounterState::default();
        let t = 10 * COARSE_MS;
        assert!(s.merge(partial(3, 2, 5, 1), t));
        assert!(!s.merge(partial(3, 2, 5, 1), t), "the same partial twice");
        assert!(!s.merge(partial(3, 1, 4, 0), t), "an older partial");
        assert!(s.merge(partial(7, 1, 1, 1), t));
        assert_eq!(
            s.counts(),
            Counts {
                views: 6,
                likes: 2,
                dislikes: 0
            }
        );
        assert_eq!(s.views_within(t, COARSE_MS), 6);
    }

    #[test]
    fn views_land_in_time_buckets() {
        let mut s = CounterState::default();
        let t0 = 100 * COARSE_MS;
        s.merge(partial(0, 1, 3, 0), t0);
        s.merge(partial(0, 2, 5, 0), t0 + 3 * COARSE_MS);
        let now = t0 + 3 * COARSE_MS + 1000;
        assert_eq!(s.views_within(now, COARSE_MS), 2, "last hour");
        assert_eq!(s.views_within(now, 24 * COARSE_MS), 5, "last day");
        assert_eq!(s.views_within(now + 2 * 24 * COARSE_MS, 24 * COARSE_MS), 0);
        assert_eq!(s.views_within(now, 7 * 24 * COARSE_MS), 5);
    }
}
