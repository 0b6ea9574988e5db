//! Live video events for this node's subscribers (the `/events` server-sent-event streams).
//!
//! A video actor announces every change to the hub of the node it runs on. Subscribers may be
//! connected to any node, so for every video that has subscribers here, one watcher task polls
//! the video actor (wherever it lives) and announces what changed: a change made on another
//! node arrives within one poll interval, a change made here at once. However many clients
//! watch one video on a node, it costs one watcher.

use super::video::VideoView;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

/// An event for subscribers of one video.
#[derive(Debug, Clone)]
pub enum VideoEvent {
    /// The video changed; this is it now.
    Changed(Box<VideoView>),
    /// The video is gone.
    Deleted,
}

/// Reads a video's current view, wherever its actor lives; `None` when it is gone.
pub type Fetch = Arc<dyn Fn(Uuid) -> BoxFuture<'static, Option<Option<VideoView>>> + Send + Sync>;

struct Topic {
    tx: broadcast::Sender<VideoEvent>,
    /// The newest version announced, so that nothing is announced twice or out of order.
    version: u64,
}

struct Inner {
    topics: Mutex<HashMap<Uuid, Topic>>,
    fetch: OnceLock<Fetch>,
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
                poll,
            }),
        }
    }

    /// Sets how watchers read a video (set once, when the video directory exists).
    pub fn set_fetch(&self, fetch: Fetch) {
        let _ = self.inner.fetch.set(fetch);
    }

    /// Announces a change, if anyone here listens and it is newer than what they saw.
    pub fn publish(&self, view: &VideoView) {
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
        if let Some(t) = self.inner.topics.lock().expect("topics lock").get(&id) {
            let _ = t.tx.send(VideoEvent::Deleted);
        }
    }

    /// How many subscribers this node has, over all videos.
    pub fn subscribers(&self) -> usize {
        let topics = self.inner.topics.lock().expect("topics lock");
        topics.values().map(|t| t.tx.receiver_count()).sum()
    }

    /// Subscribes to one video's changes, starting after `seen` (the version the subscriber
    /// already has).
    pub fn subscribe(&self, id: Uuid, seen: u64) -> broadcast::Receiver<VideoEvent> {
        let mut topics = self.inner.topics.lock().expect("topics lock");
        if let Some(t) = topics.get_mut(&id) {
            t.version = t.version.max(seen);
            return t.tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(64);
        topics.insert(id, Topic { tx, version: seen });
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
            }
        });
    }
}
