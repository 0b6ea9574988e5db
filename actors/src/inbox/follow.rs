//! What a video's change of state sets off: the owner's `my_video_ready` or `my_video_failed`,
//! and the fan-out of a video that became ready and public.
//!
//! The video records what it owes in its durable state ([`FollowUp`]) in the same write as
//! the change, and hands it to [`FollowUps`] once that write is durable, in a task: the video
//! answers at once. When the work is done (the owner's inbox holds the notification; the
//! fan-out's record exists) the task tells the video, which clears the mark. A process that
//! dies in between leaves the mark set, and the video's next activation hands it over again;
//! the notification ids are deterministic and the fan-out is keyed by its video, so doing it
//! twice changes nothing.

use super::fanout::FanoutStart;
use super::values::{Notification, NotificationKind, NotifiedChannel, NotifiedUser, NotifiedVideo};
use super::Notifier;
use crate::events::VideoView;
use chrono::Utc;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use uuid::Uuid;

/// Whether a video has started the fan-out of its publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FanoutMark {
    /// Not (yet) ready and public.
    #[default]
    No,
    /// Became ready and public; the fan-out is not known to exist yet.
    Pending,
    /// The fan-out's record exists: it runs to its end on its own.
    Started,
}

/// What a video owes since it last changed state, kept in its durable state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FollowUp {
    /// A notice to its owner not yet known to be delivered.
    pub owner_notice: Option<NotificationKind>,
    /// The fan-out to its channel's subscribers.
    pub fanout: FanoutMark,
}

impl FollowUp {
    /// Whether anything is owed.
    pub fn owed(&self) -> bool {
        self.owner_notice.is_some() || self.fanout == FanoutMark::Pending
    }
}

/// What was done of a [`FollowUp`], reported back to the video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowedUp {
    /// This owner notice is delivered.
    pub owner_notice: Option<NotificationKind>,
    /// The fan-out's record exists.
    pub fanout: bool,
}

/// How the follow-up task tells the video what it did.
pub type Report = Arc<dyn Fn(Uuid, FollowedUp) -> BoxFuture<'static, ()> + Send + Sync>;

/// The video actors' way to the notifier, set once both exist. Cheap to clone.
#[derive(Clone, Default)]
pub struct FollowUps {
    inner: Arc<OnceLock<(Notifier, Report)>>,
    /// Where `video.ready` and `video.failed` webhook events go, once set.
    webhooks: Arc<OnceLock<crate::webhooks::Webhooks>>,
}

/// The notification a video's owner gets when it reached `kind`.
pub fn owner_notice(
    kind: NotificationKind,
    video: &VideoView,
    channel: Option<NotifiedChannel>,
) -> Notification {
    Notification {
        id: Notification::video_id(kind, video.id),
        kind,
        created_at: video.updated_at,
        read: false,
        video: Some(notified_video(video)),
        channel,
        actor: Some(NotifiedUser {
            username: video.owner.clone(),
        }),
        reason: match kind {
            NotificationKind::MyVideoFailed => video.failure_reason.clone(),
            _ => None,
        },
        report: None,
        comment: None,
    }
}

/// The video as a notification shows it.
pub fn notified_video(video: &VideoView) -> NotifiedVideo {
    NotifiedVideo {
        id: video.id,
        title: video.title.clone(),
        thumbnail_url: video
            .has_poster
            .then(|| format!("/api/v1/videos/{}/thumbnail.jpg", video.id)),
    }
}

impl FollowUps {
    /// Connects the video actors to the notifier; `report` tells a video what was done.
    pub fn set(&self, notifier: Notifier, report: Report) {
        let _ = self.inner.set((notifier, report));
    }

    /// Connects the video actors to the webhooks: from now on the owner's notice of a video
    /// that became ready or failed comes with a `video.ready` or `video.failed` event.
    pub fn set_webhooks(&self, webhooks: crate::webhooks::Webhooks) {
        let _ = self.webhooks.set(webhooks);
    }

    /// Does what `video` owes, in a task; `channel` is its channel's id (for the fan-out).
    /// Without a notifier yet, nothing happens: the mark stays, and the video's next
    /// activation tries again.
    pub fn spawn(&self, video: VideoView, channel: Option<Uuid>, owed: FollowUp) {
        let Some((notifier, report)) = self.inner.get().cloned() else {
            return;
        };
        let webhooks = self.webhooks.get().cloned();
        tokio::spawn(async move {
            let channel_info = match channel {
                Some(c) => notifier.channel_info(c).await,
                None => None,
            };
            let mut done = FollowedUp {
                owner_notice: None,
                fanout: false,
            };
            if let Some(kind) = owed.owner_notice {
                let n = owner_notice(kind, &video, channel_info.clone());
                let event = webhooks.as_ref().and_then(|_| video_event(kind, &video));
                let delivered = retry(|| async {
                    notifier
                        .deliver(video.owner_id, n.clone())
                        .await
                        .map_err(|e| e.to_string())?;
                    // The webhook event is part of the notice: the mark is cleared only once
                    // its deliveries are durable (the same event again adds nothing).
                    if let (Some(w), Some(e)) = (&webhooks, &event) {
                        w.emit(e).await.map_err(|e| e.to_string())?;
                    }
                    Ok::<(), String>(())
                })
                .await;
                if delivered {
                    done.owner_notice = Some(kind);
                }
            }
            if let (FanoutMark::Pending, Some(channel_id)) = (owed.fanout, channel) {
                let start = FanoutStart {
                    channel_id,
                    video: notified_video(&video),
                    channel: channel_info.unwrap_or_else(|| NotifiedChannel {
                        handle: video.owner.clone(),
                        display_name: video.owner.clone(),
                    }),
                    actor: NotifiedUser {
                        username: video.owner.clone(),
                    },
                    at: Utc::now(),
                };
                done.fanout = retry(|| notifier.start_fanout(start.clone())).await;
            }
            if done.owner_notice.is_some() || done.fanout {
                report(video.id, done).await;
            }
        });
    }
}

/// The webhook event of an owner's notice: `video.ready` or `video.failed` (with `reason`),
/// keyed by the video and its upload (a video becomes ready or fails once per upload).
fn video_event(kind: NotificationKind, video: &VideoView) -> Option<crate::webhooks::Event> {
    use crate::webhooks::{Event, EventType};
    let t = match kind {
        NotificationKind::MyVideoReady => EventType::VideoReady,
        NotificationKind::MyVideoFailed => EventType::VideoFailed,
        _ => return None,
    };
    let mut data = serde_json::to_value(video).ok()?;
    if t == EventType::VideoFailed {
        data["reason"] = serde_json::json!(video.failure_reason);
    }
    let upload = video.upload_id.map(|u| u.to_string()).unwrap_or_default();
    Some(Event::new(
        t,
        &format!("{}:{}:{upload}", t.as_str(), video.id),
        Some(video.owner_id),
        video.updated_at,
        data,
    ))
}

/// Tries `f` a few times with backoff (about 10 s in all); whether it succeeded.
async fn retry<T, E: std::fmt::Display, F, Fut>(mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    for wait in [100, 200, 400, 800, 1_600, 3_200, 5_000] {
        match f().await {
            Ok(_) => return true,
            Err(e) => {
                tracing::debug!(error = %e, "a video follow-up failed; retrying");
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
        }
    }
    false
}
