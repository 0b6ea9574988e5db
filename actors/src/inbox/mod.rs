//! Notifications: one inbox actor per user, the per-node live hub, and the fan-out of a new
//! video to a channel's subscribers.
//!
//! ```text
//!  video/<id> ──(ready: after durable, in a task)──▶ Notifier::deliver ──▶ inbox/<owner>
//!      │                                                                   (my_video_ready|failed)
//!      └──(ready and public)──▶ fanout/<channel>.<video> ──(batches)──▶ inbox/<subscriber> ...
//!  channel (a new subscriber) ──▶ Notifier::deliver ──▶ inbox/<channel owner>
//!  inbox ──(after durable)──▶ NotificationHub (this node) ──▶ SSE streams
//!  NotificationHub watcher (other nodes) ──(snapshot or call, every poll)──▶ inbox
//! ```
//!
//! Calls go one way: video → fan-out → inbox, never back, so no two actors wait on each
//! other (the follow-ups that report back to the video run in tasks, outside any handler).
//! Notification ids are deterministic, and an inbox stores an id once, so every delivery can
//! be retried after a crash without a notification arriving twice.

pub mod actor;
pub mod digest;
pub mod fanout;
pub mod follow;
pub mod hub;
pub mod values;

#[cfg(test)]
mod tests;

pub use actor::{Delivered, InboxPageView};
pub use fanout::{FanoutView, SubscriberSource};
pub use hub::{InboxEvent, Live, NotificationHub};
pub use values::{
    EmailMode, Notification, NotificationKind, NotificationSettings, NotifiedChannel,
    NotifiedComment, NotifiedReport, NotifiedUser, NotifiedVideo, SettingChange, TypeSetting,
};

use actor::{InboxActor, InboxArgs, InboxRequest, InboxResponse};

/// Sends the email of a notification whose type's email is on: `instant` (one email, durably
/// queued) or `digest` (added to the user's digest). Called by the inbox before it stores the
/// notification (and also when the type is off for the web), so that a failure here leaves
/// nothing stored and the delivery is retried whole; idempotent per notification id.
pub trait NotificationMail: Send + Sync + 'static {
    /// Handles `n` for `user` in `mode` (never `Off`).
    fn notify(
        &self,
        user: Uuid,
        n: Notification,
        mode: EmailMode,
    ) -> futures::future::BoxFuture<'static, Result<(), String>>;
}
use fanout::{FanoutActor, FanoutArgs, FanoutRequest, FanoutResponse, FanoutStart};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use troupe_runtime::{CallError, Directory, System};
use uuid::Uuid;

/// How notifications behave (`[notifications]`).
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// How many notifications an inbox keeps, newest first.
    pub history: u64,
    /// How often a live watcher reads an inbox (its snapshot here, or a call elsewhere).
    pub poll: Duration,
    /// How many deliveries one fan-out has under way at once.
    pub fanout_concurrency: usize,
    /// How often each node looks for unfinished fan-outs it owns (and at start).
    pub fanout_sweep: Duration,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        Self {
            history: 1_000,
            poll: Duration::from_millis(500),
            fanout_concurrency: 64,
            fanout_sweep: Duration::from_secs(30),
        }
    }
}

/// Why a notifier call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotifyError {
    /// An actor could not be reached.
    #[error(transparent)]
    Call(#[from] CallError),
    /// An actor answered something else than asked (a different version?).
    #[error("unexpected answer from the {0} actor")]
    Unexpected(&'static str),
}

/// A page query of an inbox.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only unread notifications.
    pub unread_only: bool,
    /// Only this type.
    pub kind: Option<NotificationKind>,
    /// Only older than this cursor (a sequence number).
    pub before: Option<u64>,
    /// Page size.
    pub limit: usize,
}

/// The notification service: inboxes, live events, fan-outs. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inboxes: Directory<InboxActor>,
    fanouts: Directory<FanoutActor>,
    hub: NotificationHub,
    source: Arc<OnceLock<Arc<dyn SubscriberSource>>>,
    mail: Arc<OnceLock<Arc<dyn NotificationMail>>>,
    system: System,
    _sweeper: Arc<fanout::SweeperHandle>,
}

impl Notifier {
    /// Starts the inbox and fan-out kinds on this node, and the fan-out sweeper.
    pub async fn start(system: &System, settings: NotifierSettings) -> Result<Self, CallError> {
        let hub = NotificationHub::new(settings.poll);
        let mail: Arc<OnceLock<Arc<dyn NotificationMail>>> = Arc::new(OnceLock::new());
        let inboxes = Directory::<InboxActor>::start(
            system,
            InboxArgs {
                hub: hub.clone(),
                history: settings.history,
                mail: mail.clone(),
            },
        )
        .await?;
        let fetch = inboxes.clone();
        hub.set_fetch(Arc::new(move |user: Uuid| {
            let inboxes = fetch.clone();
            Box::pin(async move {
                let key = user.to_string();
                if let Some(live) = inboxes.snapshot::<Live>(&key) {
                    return Some((*live).clone());
                }
                match inboxes.call(&key, InboxRequest::Live).await {
                    Ok(InboxResponse::Live(l)) => Some(l),
                    _ => None,
                }
            })
        }));
        let source: Arc<OnceLock<Arc<dyn SubscriberSource>>> = Arc::new(OnceLock::new());
        let cell = Arc::new(OnceLock::new());
        let fanouts = Directory::<FanoutActor>::start(
            system,
            FanoutArgs {
                inboxes: inboxes.clone(),
                source: source.clone(),
                concurrency: settings.fanout_concurrency.max(1),
                fanouts: cell.clone(),
            },
        )
        .await?;
        let _ = cell.set(fanouts.clone());
        let sweeper = fanout::start_sweeper(system.clone(), fanouts.clone(), settings.fanout_sweep);
        Ok(Self {
            inboxes,
            fanouts,
            hub,
            source,
            mail,
            system: system.clone(),
            _sweeper: Arc::new(sweeper),
        })
    }

    /// Sets how notifications become email (set once, when email exists).
    pub fn set_mail(&self, mail: Arc<dyn NotificationMail>) {
        let _ = self.mail.set(mail);
    }

    /// Sets where fan-outs read a channel's subscribers (set once, when channels exist).
    pub fn set_subscriber_source(&self, source: Arc<dyn SubscriberSource>) {
        let _ = self.source.set(source);
    }

    /// A channel as notifications show it, if channels are wired and it can be read.
    pub async fn channel_info(&self, channel: Uuid) -> Option<NotifiedChannel> {
        let source = self.source.get()?.clone();
        source.channel(channel).await
    }

    /// This node's live hub.
    pub fn hub(&self) -> &NotificationHub {
        &self.hub
    }

    async fn call(&self, user: Uuid, req: InboxRequest) -> Result<InboxResponse, NotifyError> {
        Ok(self.inboxes.call(&user.to_string(), req).await?)
    }

    /// Delivers `n` to `user`'s inbox: stored once however often it is delivered, and not at
    /// all when the user turned its type off for the web. Answers once it is durable.
    pub async fn deliver(&self, user: Uuid, n: Notification) -> Result<Delivered, NotifyError> {
        let kind = n.kind;
        match self.call(user, InboxRequest::Deliver(Box::new(n))).await? {
            InboxResponse::Delivered(d, _) => {
                let outcome = match d {
                    Delivered::Stored => "stored",
                    Delivered::Duplicate => "duplicate",
                    Delivered::Off => "off",
                };
                metrics::counter!("troupe_notifications_delivered_total", "type" => kind.as_str(), "outcome" => outcome)
                    .increment(1);
                Ok(d)
            }
            _ => Err(NotifyError::Unexpected("inbox")),
        }
    }

    /// A page of `user`'s notifications, newest first.
    pub async fn list(&self, user: Uuid, q: ListQuery) -> Result<InboxPageView, NotifyError> {
        let req = InboxRequest::List {
            unread_only: q.unread_only,
            kind: q.kind,
            before: q.before,
            limit: q.limit,
        };
        match self.call(user, req).await? {
            InboxResponse::Page(p) => Ok(p),
            _ => Err(NotifyError::Unexpected("inbox")),
        }
    }

    /// `user`'s unread count.
    pub async fn unread(&self, user: Uuid) -> Result<u64, NotifyError> {
        match self.call(user, InboxRequest::Unread).await? {
            InboxResponse::Unread(n) => Ok(n),
            _ => Err(NotifyError::Unexpected("inbox")),
        }
    }

    /// Marks some of `user`'s notifications read (`None`: all); ids the inbox does not hold
    /// are ignored. The unread count after it.
    pub async fn mark_read(
        &self,
        user: Uuid,
        ids: Option<Vec<String>>,
    ) -> Result<u64, NotifyError> {
        let req = match ids {
            Some(ids) => InboxRequest::MarkRead(ids),
            None => InboxRequest::MarkAllRead,
        };
        match self.call(user, req).await? {
            InboxResponse::Unread(n) => Ok(n),
            _ => Err(NotifyError::Unexpected("inbox")),
        }
    }

    /// `user`'s settings.
    pub async fn settings(&self, user: Uuid) -> Result<NotificationSettings, NotifyError> {
        match self.call(user, InboxRequest::Settings).await? {
            InboxResponse::Settings(s) => Ok(s),
            _ => Err(NotifyError::Unexpected("inbox")),
        }
    }

    /// Changes `user`'s settings; the settings after it.
    pub async fn set_settings(
        &self,
        user: Uuid,
        changes: Vec<SettingChange>,
    ) -> Result<NotificationSettings, NotifyError> {
        match self.call(user, InboxRequest::SetSettings(changes)).await? {
            InboxResponse::Settings(s) => Ok(s),
            _ => Err(NotifyError::Unexpected("inbox")),
        }
    }

    /// What a live stream shows first: the version, the unread count and the newest
    /// notifications.
    pub async fn live(&self, user: Uuid) -> Result<Live, NotifyError> {
        match self.call(user, InboxRequest::Live).await? {
            InboxResponse::Live(l) => Ok(l),
            _ => Err(NotifyError::Unexpected("inbox")),
        }
    }

    /// Starts (or confirms) the fan-out of `start.video` to the subscribers of
    /// `start.channel_id`; answers once its record is durable, long before it is done.
    pub async fn start_fanout(&self, start: FanoutStart) -> Result<FanoutView, NotifyError> {
        let key = fanout::key(start.channel_id, start.video.id);
        match self.fanouts.call(&key, FanoutRequest::Start(start)).await? {
            FanoutResponse::View(Some(v)) => Ok(v),
            _ => Err(NotifyError::Unexpected("fanout")),
        }
    }

    /// The fan-outs of a channel's videos, newest first (read from the store: their records
    /// are durable at every step).
    pub async fn fanouts_of(&self, channel: Uuid) -> Result<Vec<FanoutView>, NotifyError> {
        fanout::of_channel(&self.system, channel)
            .await
            .map_err(|e| NotifyError::Call(CallError::Unavailable(e)))
    }
}
