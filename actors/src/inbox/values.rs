//! What a notification is, and a user's notification settings: the values the inbox stores,
//! the API shows and the other modules build.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A channel the user subscribes to published a video (it became ready and public).
    NewVideoFromSubscription,
    /// One of the user's videos finished processing.
    MyVideoReady,
    /// One of the user's videos failed processing; `reason` says why.
    MyVideoFailed,
    /// Someone subscribed to one of the user's channels.
    NewSubscriber,
    /// Someone commented on one of the user's videos.
    CommentOnMyVideo,
    /// Someone replied to the user's comment (or in a thread the user started).
    ReplyToMyComment,
    /// Someone mentioned the user (`@username`) in a comment.
    Mention,
    /// A comment on one of the user's videos is held for review.
    CommentHeldForReview,
    /// A report the user made was accepted or rejected.
    AbuseStateChange,
    /// A moderator wrote in the thread of a report the user made.
    AbuseNewMessage,
}

impl NotificationKind {
    /// Every kind, in the order the settings list them.
    pub const ALL: [NotificationKind; 10] = [
        NotificationKind::NewVideoFromSubscription,
        NotificationKind::MyVideoReady,
        NotificationKind::MyVideoFailed,
        NotificationKind::NewSubscriber,
        NotificationKind::CommentOnMyVideo,
        NotificationKind::ReplyToMyComment,
        NotificationKind::Mention,
        NotificationKind::CommentHeldForReview,
        NotificationKind::AbuseStateChange,
        NotificationKind::AbuseNewMessage,
    ];

    /// Its name in the API (`new_video_from_subscription`...).
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::NewVideoFromSubscription => "new_video_from_subscription",
            NotificationKind::MyVideoReady => "my_video_ready",
            NotificationKind::MyVideoFailed => "my_video_failed",
            NotificationKind::NewSubscriber => "new_subscriber",
            NotificationKind::CommentOnMyVideo => "comment_on_my_video",
            NotificationKind::ReplyToMyComment => "reply_to_my_comment",
            NotificationKind::Mention => "mention",
            NotificationKind::CommentHeldForReview => "comment_held_for_review",
            NotificationKind::AbuseStateChange => "abuse_state_change",
            NotificationKind::AbuseNewMessage => "abuse_new_message",
        }
    }

    /// The kind of an API name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The video a notification is about, as a client shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotifiedVideo {
    /// The video id.
    pub id: Uuid,
    /// Its title when the notification was made.
    pub title: String,
    /// Its poster, relative to the server, when it has one.
    pub thumbnail_url: Option<String>,
}

/// The channel a notification is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotifiedChannel {
    /// The channel's handle.
    pub handle: String,
    /// Its display name when the notification was made.
    pub display_name: String,
}

/// Who did what the notification tells of (the uploader, the new subscriber).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotifiedUser {
    /// Their username.
    pub username: String,
}

/// The comment a notification is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotifiedComment {
    /// The comment id.
    pub id: String,
    /// Its video.
    pub video_id: Uuid,
    /// Its thread (the top-level comment's id).
    pub thread_id: String,
    /// Its first 200 characters, as plain text.
    pub excerpt: String,
}

/// One notification, with everything a client needs to show it without another call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    /// Deterministic: the same event always makes the same id (`<type>:<video id>`,
    /// `new_subscriber:<channel id>:<user id>`), so that delivering it twice stores it once.
    pub id: String,
    /// What it is about.
    #[serde(rename = "type")]
    pub kind: NotificationKind,
    /// When the event happened.
    pub created_at: DateTime<Utc>,
    /// Whether the user has marked it read.
    pub read: bool,
    /// The video, for video notifications.
    pub video: Option<NotifiedVideo>,
    /// The channel.
    pub channel: Option<NotifiedChannel>,
    /// Who did it.
    pub actor: Option<NotifiedUser>,
    /// Why, for `my_video_failed`.
    pub reason: Option<String>,
    /// The report, for `abuse_state_change` and `abuse_new_message`.
    #[serde(default)]
    pub report: Option<NotifiedReport>,
    /// The comment, for comment notifications.
    #[serde(default)]
    pub comment: Option<NotifiedComment>,
}

/// The abuse report a notification is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotifiedReport {
    /// The report id.
    pub id: Uuid,
    /// Its state when the notification was made: `pending`, `accepted` or `rejected`.
    pub state: String,
}

impl Notification {
    /// The id of a notification about a video: `<type>:<video id>`.
    pub fn video_id(kind: NotificationKind, video: Uuid) -> String {
        format!("{}:{video}", kind.as_str())
    }
}

/// How email should carry one kind of notification (stored now, sent by a later issue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EmailMode {
    /// No email.
    #[default]
    Off,
    /// One email per notification.
    Instant,
    /// A daily digest.
    Digest,
}

impl EmailMode {
    /// The mode of an API name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(EmailMode::Off),
            "instant" => Some(EmailMode::Instant),
            "digest" => Some(EmailMode::Digest),
            _ => None,
        }
    }
}

/// What a user wants of one kind of notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TypeSetting {
    /// Stored, listed and pushed live in the web inbox. Off: such notifications are not kept
    /// at all.
    pub web: bool,
    /// Email delivery (not sent yet).
    pub email: EmailMode,
}

impl Default for TypeSetting {
    fn default() -> Self {
        Self {
            web: true,
            email: EmailMode::Off,
        }
    }
}

/// A user's settings, per kind. A kind added later (comments) is a new field with its
/// default, so stored settings need no migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NotificationSettings {
    /// `new_video_from_subscription`.
    pub new_video_from_subscription: TypeSetting,
    /// `my_video_ready`.
    pub my_video_ready: TypeSetting,
    /// `my_video_failed`.
    pub my_video_failed: TypeSetting,
    /// `new_subscriber`.
    pub new_subscriber: TypeSetting,
    /// `comment_on_my_video`.
    pub comment_on_my_video: TypeSetting,
    /// `reply_to_my_comment`.
    pub reply_to_my_comment: TypeSetting,
    /// `mention`.
    pub mention: TypeSetting,
    /// `comment_held_for_review`.
    pub comment_held_for_review: TypeSetting,
    /// `abuse_state_change`.
    pub abuse_state_change: TypeSetting,
    /// `abuse_new_message`.
    pub abuse_new_message: TypeSetting,
}

impl NotificationSettings {
    /// The setting of one kind.
    pub fn of(&self, kind: NotificationKind) -> TypeSetting {
        match kind {
            NotificationKind::NewVideoFromSubscription => self.new_video_from_subscription,
            NotificationKind::MyVideoReady => self.my_video_ready,
            NotificationKind::MyVideoFailed => self.my_video_failed,
            NotificationKind::NewSubscriber => self.new_subscriber,
            NotificationKind::CommentOnMyVideo => self.comment_on_my_video,
            NotificationKind::ReplyToMyComment => self.reply_to_my_comment,
            NotificationKind::Mention => self.mention,
            NotificationKind::CommentHeldForReview => self.comment_held_for_review,
            NotificationKind::AbuseStateChange => self.abuse_state_change,
            NotificationKind::AbuseNewMessage => self.abuse_new_message,
        }
    }

    /// The setting of one kind, to change.
    pub fn of_mut(&mut self, kind: NotificationKind) -> &mut TypeSetting {
        match kind {
            NotificationKind::NewVideoFromSubscription => &mut self.new_video_from_subscription,
            NotificationKind::MyVideoReady => &mut self.my_video_ready,
            NotificationKind::MyVideoFailed => &mut self.my_video_failed,
            NotificationKind::NewSubscriber => &mut self.new_subscriber,
            NotificationKind::CommentOnMyVideo => &mut self.comment_on_my_video,
            NotificationKind::ReplyToMyComment => &mut self.reply_to_my_comment,
            NotificationKind::Mention => &mut self.mention,
            NotificationKind::CommentHeldForReview => &mut self.comment_held_for_review,
            NotificationKind::AbuseStateChange => &mut self.abuse_state_change,
            NotificationKind::AbuseNewMessage => &mut self.abuse_new_message,
        }
    }
}

/// A change to one kind's setting; `None` leaves a field alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingChange {
    /// The kind.
    pub kind: NotificationKind,
    /// New `web`.
    pub web: Option<bool>,
    /// New `email`.
    pub email: Option<EmailMode>,
}
