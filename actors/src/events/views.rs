//! The views that listings read back, kept between listings (see [`ViewCache`]).

use super::VideoView;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How many stripes the cache is cut into (each with its own lock and change count).
const STRIPES: usize = 64;
/// How many views the cache holds at most.
pub const VIEW_CACHE_MAX: usize = 16_384;
/// How long a view is kept at most: a write whose outcome its actor never learned (the
/// store failed it, yet it landed) is announced by no one; listings show it within this.
pub const VIEW_CACHE_TTL: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Stripe {
    /// Changes announced for any video of this stripe since start.
    changes: u64,
    views: HashMap<Uuid, (Instant, Arc<VideoView>)>,
}

/// Videos as their durable state last read them, for the listings' re-check, dropped the
/// moment their actor announces a change (before the change is acknowledged: the hub hears
/// it in the write's after-durable hook, which runs before the answer is sent).
///
/// A read of the store may race a change: it is kept only if no change of a video of its
/// stripe was announced between the [`ViewCache::ticket`] taken before the read and the
/// [`ViewCache::fill`] after it. So a view in the cache is never older than the newest
/// acknowledged change, and a listing that finds one may skip the store read and its
/// decoding. At most [`VIEW_CACHE_MAX`] views, each for [`VIEW_CACHE_TTL`] at most; a full
/// stripe drops an arbitrary one.
pub struct ViewCache {
    stripes: Box<[Mutex<Stripe>]>,
}

/// What a read of the store must present to [`ViewCache::fill`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    stripe: usize,
    changes: u64,
}

impl Default for ViewCache {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::default()).collect(),
        }
    }
}

impl ViewCache {
    fn stripe(id: Uuid) -> usize {
        (id.as_u128() as usize ^ (id.as_u128() >> 64) as usize) % STRIPES
    }

    /// The cached view of `id`, if any.
    pub fn get(&self, id: Uuid) -> Option<Arc<VideoView>> {
        let s = self.stripes[Self::stripe(id)]
            .lock()
            .expect("view cache lock");
        s.views
            .get(&id)
            .filter(|(at, _)| at.elapsed() < VIEW_CACHE_TTL)
            .map(|(_, v)| v.clone())
    }

    /// To take before reading `id` from the store.
    pub fn ticket(&self, id: Uuid) -> Ticket {
        let stripe = Self::stripe(id);
        let changes = self.stripes[stripe]
            .lock()
            .expect("view cache lock")
            .changes;
        Ticket { stripe, changes }
    }

    /// Keeps `view`, read after `ticket` was taken, unless a change of its stripe was
    /// announced since.
    pub fn fill(&self, ticket: Ticket, view: Arc<VideoView>) {
        let mut s = self.stripes[ticket.stripe].lock().expect("view cache lock");
        if s.changes != ticket.changes {
            return;
        }
        if s.views.len() >= VIEW_CACHE_MAX / STRIPES && !s.views.contains_key(&view.id) {
            if let Some(k) = s.views.keys().next().copied() {
                s.views.remove(&k);
            }
        }
        s.views.insert(view.id, (Instant::now(), view));
    }

    /// A change of `id` was announced: its cached view, if any, is dropped, and reads under
    /// way are not kept.
    pub fn changed(&self, id: Uuid) {
        let mut s = self.stripes[Self::stripe(id)]
            .lock()
            .expect("view cache lock");
        s.changes += 1;
        s.views.remove(&id);
    }

    /// How many views are cached.
    pub fn len(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| s.lock().expect("view cache lock").views.len())
            .sum()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: Uuid, version: u64) -> Arc<VideoView> {
        Arc::new(crate::media::video::sample_view(id, version))
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let c = ViewCache::default();
        let id = Uuid::now_v7();
        let t = c.ticket(id);
        c.changed(id);
        c.fill(t, view(id, 1));
        assert!(c.get(id).is_none(), "a read older than the change was kept");
        let t = c.ticket(id);
        c.fill(t, view(id, 2));
        assert_eq!(c.get(id).map(|v| v.version), Some(2));
        c.changed(id);
        assert!(c.get(id).is_none(), "a change left the old view");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let c = ViewCache::default();
        for _ in 0..VIEW_CACHE_MAX * 2 {
            let id = Uuid::new_v4();
            c.fill(c.ticket(id), view(id, 1));
        }
        assert!(c.len() <= VIEW_CACHE_MAX);
        assert!(c.len() >= VIEW_CACHE_MAX / 2);
    }
}
