//! Live video events for this node's subscribers (the `/events` server-sent-event streams).
//!
//! A video actor announces every change to the hub of the node it runs on. Subscribers may be
//! connected to any node, so for every video that has subscribers here, one watcher task polls
//! the video actor (wherever it lives) and announces what changed: a change made on another
//! node arrives within one poll interval, a change made here at once. However many clients
//! watch one video on a node, it costs one watcher. The video's counter announces count
//! changes the same way, and the watcher polls the counter too.

use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

mod values;
mod views;

pub use values::{
    views_within, Counts, Hidden, Rendition, VideoStatus, VideoView, ViewBuckets, Visibility,
    COARSE_MS, FINE_KEEP_MS, FINE_MS,
};
pub use views::{Ticket, ViewCache, VIEW_CACHE_MAX, VIEW_CACHE_TTL};

/// What the catalogue hears from the actors that run on this node: every change of a video,
/// its deletion, and its new counts. Calls must not block: the catalogue queues them.
pub trait CatalogueSink: Send + Sync {
    /// The video changed; this is it now.
    fn video(&self, view: &VideoView);
    /// The video is being deleted.
    fn deleted(&self, id: Uuid);
    /// The video's counts changed; these are they now, with its views over time.
    fn counts(&self, id: Uuid, counts: Counts, views: ViewBuckets);
}

/// An event for subscribers of one video.
#[derive(Debug, Clone)]
pub enum VideoEvent {
    /// The video changed; this is it now.
    Changed(Box<VideoView>),
    /// The video's counts changed; these are they now.
    Counts(Counts),
    /// The video is gone.
    Deleted,
}

/// Reads a video's current view, wherever its actor lives; `None` when it is gone.
pub type Fetch = Arc<dyn Fn(Uuid) -> BoxFuture<'static, Option<Option<VideoView>>> + Send + Sync>;

/// Reads a video's current counts and their version, wherever its counter lives; `None` when
/// it could not ask.
pub type FetchCounts = Arc<dyn Fn(Uuid) -> BoxFuture<'static, Option<(u64, Counts)>> + Send + Sync>;

struct Topic {
    tx: broadcast::Sender<VideoEvent>,
    /// The newest version announced, so that nothing is announced twice or out of order.
    version: u64,
    /// The same for the counts.
    counts_version: u64,
}

struct Inner {
    topics: Mutex<HashMap<Uuid, Topic>>,
    fetch: OnceLock<Fetch>,
    fetch_counts: OnceLock<FetchCounts>,
    catalogue: OnceLock<Arc<dyn CatalogueSink>>,
    views: ViewCache,
    poll: Duration,
}

/// This node's event hub. Cheap to clone.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

impl EventHub {
    /// A hub whose watchers poll every `poll`.
    pub fn new(poll: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                topics: Mutex::new(HashMap::new()),
                fetch: OnceLock::new(),
                fetch_counts: OnceLock::new(),
                catalogue: OnceLock::new(),
                views: ViewCache::default(),
                poll,
            }),
        }
    }

    /// Sets how watchers read a video (set once, when the video directory exists).
    pub fn set_fetch(&self, fetch: Fetch) {
        let _ = self.inner.fetch.set(fetch);
    }

    /// Sets how watchers read a video's counts (set once, when the counters exist).
    pub fn set_fetch_counts(&self, fetch: FetchCounts) {
        let _ = self.inner.fetch_counts.set(fetch);
    }

    /// Sets the catalogue that hears every change (set once, at start).
    pub fn set_catalogue(&self, sink: Arc<dyn CatalogueSink>) {
        let _ = self.inner.catalogue.set(sink);
    }

    /// Tells the catalogue of new counts; `views` is only built when a catalogue listens.
    pub fn catalogue_counts(&self, id: Uuid, counts: Counts, views: impl FnOnce() -> ViewBuckets) {
        if let Some(c) = self.inner.catalogue.get() {
            c.counts(id, counts, views());
        }
    }

    /// Announces new counts, if anyone here listens and they are newer than what they saw.
    pub fn publish_counts(&self, id: Uuid, version: u64, counts: Counts) {
        let mut topics = self.inner.topics.lock().expect("topics lock");
        if let Some(t) = topics.get_mut(&id) {
            if version > t.counts_version {
                t.counts_version = version;
                let _ = t.tx.send(VideoEvent::Counts(counts));
            }
        }
    }

    /// The views listings read back from the store, dropped at every change announced here.
    pub fn views(&self) -> &ViewCache {
        &self.inner.views
    }

    /// Announces a change, if anyone here listens and it is newer than what they saw.
    pub fn publish(&self, view: &VideoView) {
        self.inner.views.changed(view.id);
        if let Some(c) = self.inner.catalogue.get() {
            c.video(view);
        }
        let mut topics = self.inner.topics.lock().expect("topics lock");
        if let Some(t) = topics.get_mut(&view.id) {
            if view.version > t.version {
                t.version = view.version;
                let _ = t.tx.send(VideoEvent::Changed(Box::new(view.clone())));
            }
        }
    }

    /// Announces that a video is gone.
    pub fn closed(&self, id: Uuid) {
        self.inner.views.changed(id);
        if let Some(c) = self.inner.catalogue.get() {
            c.deleted(id);
        }
        if let Some(t) = self.inner.topics.lock().expect("topics lock").get(&id) {
            let _ = t.tx.send(VideoEvent::Deleted);
        }
    }

    /// How many subscribers this node has, over all videos.
    pub fn subscribers(&self) -> usize {
        let topics = self.inner.topics.lock().expect("topics lock");
        topics.values().map(|t| t.tx.receiver_count()).sum()
    }

    /// Subscribes to one video's changes, starting after `seen` and `seen_counts` (the
    /// versions of the video and of its counts that the subscriber already has).
    pub fn subscribe(
        &self,
        id: Uuid,
        seen: u64,
        seen_counts: u64,
    ) -> broadcast::Receiver<VideoEvent> {
        let mut topics = self.inner.topics.lock().expect("topics lock");
        if let Some(t) = topics.get_mut(&id) {
            t.version = t.version.max(seen);
            t.counts_version = t.counts_version.max(seen_counts);
            return t.tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(64);
        topics.insert(
            id,
            Topic {
                tx,
                version: seen,
                counts_version: seen_counts,
            },
        );
        drop(topics);
        self.watch(id);
        rx
    }

    /// Polls one video while it has subscribers here.
    fn watch(&self, id: Uuid) {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(hub.inner.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                {
                    let mut topics = hub.inner.topics.lock().expect("topics lock");
                    if topics.get(&id).is_none_or(|t| t.tx.receiver_count() == 0) {
                        topics.remove(&id);
                        return;
                    }
                }
                let Some(fetch) = hub.inner.fetch.get().cloned() else {
                    continue;
                };
                match fetch(id).await {
                    Some(Some(view)) => hub.publish(&view),
                    Some(None) => hub.closed(id),
                    // Could not ask (the owner is failing over): try again next tick.
                    None => {}
                }
                if let Some(fetch) = hub.inner.fetch_counts.get().cloned() {
                    if let Some((version, counts)) = fetch(id).await {
                        hub.publish_counts(id, version, counts);
                    }
                }
            }
        });
    }
}
