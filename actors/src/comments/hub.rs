//! Live comments for this node's event-stream subscribers (the `comment` event of
//! `/api/v1/videos/{id}/events`).
//!
//! A video's comments actor announces each durable change to the hub of the node it runs on.
//! For every video with subscribers here, one watcher task also asks the actor (wherever it
//! lives) for the changes after the last one heard of: a comment posted through another node
//! arrives within one poll interval, one posted here at once, and none twice (changes are
//! numbered per activation). Each change is serialised once per hub, in two forms (as staff
//! see it, and as everyone else does), so that ten thousand watchers cost ten thousand
//! writes of shared bytes, not ten thousand serialisations.

use super::values::CommentView;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

/// One change of a comment, as the actor records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveComment {
    /// The activation that made it.
    pub epoch: u64,
    /// Its number within the activation.
    pub version: u64,
    /// The comment's author.
    pub author: Uuid,
    /// The comment as staff see it now (`deleted: true` once gone).
    pub view: CommentView,
}

impl LiveComment {
    /// A change.
    pub fn new(epoch: u64, version: u64, author: Uuid, view: CommentView) -> Self {
        Self {
            epoch,
            version,
            author,
            view,
        }
    }
}

/// A change as subscribers get it: who may see it, and its JSON.
#[derive(Debug)]
pub struct LiveEvent {
    /// The author.
    pub author: Uuid,
    /// Held for review: only its author and staff may see it.
    pub held: bool,
    /// The JSON of the view as staff see it.
    pub staff_json: String,
    /// The JSON of the view as everyone else sees it (no `held_reason`).
    pub public_json: String,
}

impl LiveEvent {
    fn of(live: &LiveComment) -> Self {
        let staff_json = serde_json::to_string(&live.view).unwrap_or_else(|_| "{}".into());
        let public_json = if live.view.held_reason.is_some() {
            let mut v = live.view.clone();
            v.held_reason = None;
            serde_json::to_string(&v).unwrap_or_else(|_| "{}".into())
        } else {
            staff_json.clone()
        };
        LiveEvent {
            author: live.author,
            held: live.view.held,
            staff_json,
            public_json,
        }
    }

    /// The JSON `viewer` may see (`staff`: the video's owner or a moderator), if any.
    pub fn for_viewer(&self, viewer: Option<Uuid>, staff: bool, muted: &[Uuid]) -> Option<&str> {
        let own = viewer == Some(self.author);
        if self.held && !(own || staff) {
            return None;
        }
        if !own && muted.contains(&self.author) {
            return None;
        }
        Some(if staff {
            &self.staff_json
        } else {
            &self.public_json
        })
    }
}

/// Reads a video's comment changes after `(epoch, since)`, wherever its actor lives:
/// `(epoch, newest version, changes)`; `None` when it could not ask.
pub type FetchChanges = Arc<
    dyn Fn(Uuid, Option<u64>, u64) -> BoxFuture<'static, Option<(u64, u64, Vec<LiveComment>)>>
        + Send
        + Sync,
>;

struct Topic {
    tx: broadcast::Sender<Arc<LiveEvent>>,
    /// The activation last heard from (0: none yet).
    epoch: u64,
    /// Its last change announced.
    version: u64,
}

struct Inner {
    topics: Mutex<HashMap<Uuid, Topic>>,
    fetch: OnceLock<FetchChanges>,
    poll: Duration,
}

/// This node's live comments. Cheap to clone.
#[derive(Clone)]
pub struct CommentHub {
    inner: Arc<Inner>,
}

/// How many changes a subscriber may fall behind before it misses some.
const BACKLOG: usize = 4096;

impl CommentHub {
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

    /// Sets how watchers read a video's changes (once, when the actors exist).
    pub fn set_fetch(&self, fetch: FetchChanges) {
        let _ = self.inner.fetch.set(fetch);
    }

    /// Announces a change to this node's subscribers of the video, unless they had it.
    pub fn publish(&self, video: Uuid, live: LiveComment) {
        let mut topics = self.inner.topics.lock().expect("topics lock");
        let Some(t) = topics.get_mut(&video) else {
            return;
        };
        if live.epoch == t.epoch && live.version <= t.version {
            return;
        }
        t.epoch = live.epoch;
        t.version = live.version;
        let _ = t.tx.send(Arc::new(LiveEvent::of(&live)));
    }

    /// Subscribes to a video's comment changes from now on.
    pub fn subscribe(&self, video: Uuid) -> broadcast::Receiver<Arc<LiveEvent>> {
        let mut topics = self.inner.topics.lock().expect("topics lock");
        if let Some(t) = topics.get(&video) {
            return t.tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(BACKLOG);
        topics.insert(
            video,
            Topic {
                tx,
                epoch: 0,
                version: 0,
            },
        );
        drop(topics);
        self.watch(video);
        rx
    }

    /// Where the video's topic stands, if it has not heard from any activation yet: set from
    /// the actor's answer, so that a subscriber hears every change after it subscribed.
    pub async fn sync(&self, video: Uuid) {
        let unsynced = {
            let topics = self.inner.topics.lock().expect("topics lock");
            topics.get(&video).is_some_and(|t| t.epoch == 0)
        };
        let Some(fetch) = self.inner.fetch.get().cloned() else {
            return;
        };
        if !unsynced {
            return;
        }
        if let Some((epoch, version, _)) = fetch(video, None, 0).await {
            let mut topics = self.inner.topics.lock().expect("topics lock");
            if let Some(t) = topics.get_mut(&video) {
                if t.epoch == 0 {
                    t.epoch = epoch;
                    t.version = version;
                }
            }
        }
    }

    /// Polls one video's changes while it has subscribers here.
    fn watch(&self, video: Uuid) {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(hub.inner.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (epoch, since) = {
                    let mut topics = hub.inner.topics.lock().expect("topics lock");
                    match topics.get(&video) {
                        Some(t) if t.tx.receiver_count() > 0 => {
                            ((t.epoch != 0).then_some(t.epoch), t.version)
                        }
                        _ => {
                            topics.remove(&video);
                            return;
                        }
                    }
                };
                let Some(fetch) = hub.inner.fetch.get().cloned() else {
                    continue;
                };
                let Some((now_epoch, now_version, items)) = fetch(video, epoch, since).await else {
                    continue;
                };
                if epoch.is_none() {
                    // The first answer only says where things stand: what came before the
                    // subscribers is not theirs.
                    let mut topics = hub.inner.topics.lock().expect("topics lock");
                    if let Some(t) = topics.get_mut(&video) {
                        if t.epoch == 0 {
                            t.epoch = now_epoch;
                            t.version = now_version;
                        }
                    }
                    continue;
                }
                for live in items {
                    hub.publish(video, live);
                }
            }
        });
    }
}
