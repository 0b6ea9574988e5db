//! Live notifications for this node's subscribers (the `/users/me/notifications/events`
//! streams), built like the video event hub ([`crate::events::EventHub`]).
//!
//! An inbox announces each durable change to the hub of the node it runs on, so a subscriber
//! on that node hears of it at once. A subscriber may be connected to any node, so for every
//! user with subscribers here one watcher task reads the inbox every poll interval: from its
//! snapshot when it is active on this node (no call), else by calling it wherever it lives.
//! A change made on another node therefore arrives within one interval. However many streams
//! one user has open on a node, it costs one watcher.

use super::values::Notification;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

/// What a live watcher needs of an inbox: its version, the unread count and its newest
/// notifications with their sequence numbers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Live {
    /// The inbox's version.
    pub version: u64,
    /// Unread notifications.
    pub unread: u64,
    /// The newest notifications (at most 16), oldest first, with their sequence numbers.
    pub recent: Vec<(u64, Notification)>,
}

impl Live {
    /// An inbox that holds nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The newest sequence number it shows (0 when none).
    pub fn newest(&self) -> u64 {
        self.recent.last().map_or(0, |(s, _)| *s + 1)
    }
}

/// An event for one user's subscribers.
#[derive(Debug, Clone)]
pub enum InboxEvent {
    /// A new notification.
    Notification(Box<Notification>),
    /// The unread count changed (or a notification arrived).
    Unread(u64),
}

/// Reads an inbox's [`Live`], wherever it lives; `None` when it could not ask.
pub type FetchLive = Arc<dyn Fn(Uuid) -> BoxFuture<'static, Option<Live>> + Send + Sync>;

struct Topic {
    tx: broadcast::Sender<InboxEvent>,
    /// The newest inbox version announced, so that nothing is announced twice.
    version: u64,
    /// One past the newest sequence number announced.
    seq: u64,
}

struct Inner {
    topics: Mutex<HashMap<Uuid, Topic>>,
    fetch: OnceLock<FetchLive>,
    poll: Duration,
}

/// This node's notification hub. Cheap to clone.
#[derive(Clone)]
pub struct NotificationHub {
    inner: Arc<Inner>,
}

impl NotificationHub {
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

    /// Sets how watchers read an inbox (set once, when the inbox directory exists).
    pub fn set_fetch(&self, fetch: FetchLive) {
        let _ = self.inner.fetch.set(fetch);
    }

    /// Announces an inbox's state to its subscribers here, if it is newer than what they
    /// heard: each notification they have not seen, then the unread count.
    pub fn publish(&self, user: Uuid, live: &Live) {
        let mut topics = self.inner.topics.lock().expect("topics lock");
        let Some(t) = topics.get_mut(&user) else {
            return;
        };
        if live.version <= t.version {
            return;
        }
        t.version = live.version;
        for (seq, n) in &live.recent {
            if *seq >= t.seq {
                t.seq = seq + 1;
                let _ = t.tx.send(InboxEvent::Notification(Box::new(n.clone())));
            }
        }
        let _ = t.tx.send(InboxEvent::Unread(live.unread));
    }

    /// Subscribers over all users on this node.
    pub fn subscribers(&self) -> usize {
        let topics = self.inner.topics.lock().expect("topics lock");
        topics.values().map(|t| t.tx.receiver_count()).sum()
    }

    /// Subscribes to one user's inbox, after `seen` (what the subscriber was shown first).
    pub fn subscribe(&self, user: Uuid, seen: &Live) -> broadcast::Receiver<InboxEvent> {
        let mut topics = self.inner.topics.lock().expect("topics lock");
        if let Some(t) = topics.get_mut(&user) {
            t.version = t.version.max(seen.version);
            t.seq = t.seq.max(seen.newest());
            return t.tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(64);
        topics.insert(
            user,
            Topic {
                tx,
                version: seen.version,
                seq: seen.newest(),
            },
        );
        drop(topics);
        self.watch(user);
        rx
    }

    /// Reads one user's inbox every interval while it has subscribers here.
    fn watch(&self, user: Uuid) {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(hub.inner.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                {
                    let mut topics = hub.inner.topics.lock().expect("topics lock");
                    if topics.get(&user).is_none_or(|t| t.tx.receiver_count() == 0) {
                        topics.remove(&user);
                        return;
                    }
                }
                let Some(fetch) = hub.inner.fetch.get().cloned() else {
                    continue;
                };
                // `None`: could not ask (the owner is failing over); again next tick.
                if let Some(live) = fetch(user).await {
                    hub.publish(user, &live);
                }
            }
        });
    }
}
