//! Channels and subscriptions: the channel actor (profile, exact counts, subscriber and video
//! ids as parts), the follows actor (the channels a user follows), and the [`Channels`]
//! service that the HTTP layer calls.
//!
//! ```text
//!  Channels::create ──▶ channel/<owner id> Reserve   (the default channel counts the owner's)
//!                   ──▶ claim/handle:<handle>        (one namespace with usernames)
//!                   ──▶ channel/<id> Create
//!  Channels::subscribe ──▶ follows/<user> Follow ──▶ channel/<id> Subscribe (chsub/<id>.<shard>)
//! ```
//!
//! Usernames and channel handles share one namespace, as on PeerTube: registering a user
//! claims `handle:<username>` for the user's default channel, whose id is the user's id. A
//! handle resolves to its channel through that claim. Calls go one way (follows → channel,
//! channel never calls back), so no two actors wait on each other.

pub mod channel;
pub mod follows;
pub mod migration;

use crate::accounts::claim::{ClaimActor, ClaimOutcome, ClaimRequest, ClaimResponse, ClaimState};
use crate::accounts::user::{UserActor, UserState};
use channel::{ChannelActor, ChannelRequest, ChannelResponse, NewChannel};
use chrono::{DateTime, Utc};
use follows::{Follow, FollowsActor, FollowsRequest, FollowsResponse};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use troupe_runtime::store::StateStore;
use troupe_runtime::{codec, CallError, Directory, Entity, System};
use uuid::Uuid;

pub use channel::{subscriber_shard, SUBSCRIBER_SHARDS};

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 100;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 5_000;

/// A channel's avatar: where its two sizes are served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelAvatar {
    /// 48×48 pixels; a URL relative to the server.
    pub small: String,
    /// 192×192 pixels; a URL relative to the server.
    pub large: String,
}

/// The two avatar sizes, in pixels (square).
pub const AVATAR_SIZES: [u32; 2] = [48, 192];

impl ChannelAvatar {
    /// The URLs of avatar `version` of the channel `handle`; the version in the query makes
    /// a new upload a new URL, so the images can be cached for long.
    pub fn urls(handle: &str, version: u64) -> Self {
        let url = |px: u32| format!("/api/v1/channels/{handle}/avatar/{px}.jpg?v={version}");
        ChannelAvatar {
            small: url(AVATAR_SIZES[0]),
            large: url(AVATAR_SIZES[1]),
        }
    }
}

/// A channel as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelView {
    /// Stable channel id (a default channel's is its owner's user id).
    pub id: Uuid,
    /// Unique handle, 3 to 32 of `[a-z0-9_.]` (a default channel's is its owner's
    /// username, which may also hold `-`); never changes.
    pub handle: String,
    /// Display name (plain text).
    pub display_name: String,
    /// Description (plain text).
    pub description: String,
    /// The avatar, if one was uploaded.
    pub avatar: Option<ChannelAvatar>,
    /// The owner's user id.
    pub owner_id: Uuid,
    /// The owner's username (normalised).
    pub owner: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Exact number of subscribers.
    pub subscribers: u64,
    /// Exact number of videos (of every state and visibility).
    pub videos: u64,
    /// Whether it is its owner's default channel (which cannot be deleted).
    pub default: bool,
    /// The comment policy of its videos that have none of their own.
    #[serde(default)]
    pub default_comment_policy: crate::comments::CommentPolicy,
    /// Whether comments by accounts younger than `comments.new_account_age_secs` are held
    /// for review on its videos.
    #[serde(default)]
    pub hold_new_accounts: bool,
}

/// Why a channel operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ChannelError {
    /// The handle is malformed.
    #[error("invalid handle: {0}")]
    InvalidHandle(String),
    /// A field is malformed.
    #[error("{field} {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Somebody has that handle (a channel or a username).
    #[error("that handle is taken")]
    HandleTaken,
    /// No such channel.
    #[error("no such channel")]
    NotFound,
    /// The caller does not own the channel.
    #[error("only the channel's owner may do this")]
    Forbidden,
    /// The channel still has videos.
    #[error("the channel still has {0} videos; delete or move them first")]
    HasVideos(u64),
    /// A default channel cannot be deleted.
    #[error("a user's default channel cannot be deleted")]
    DefaultChannel,
    /// The owner has the most channels allowed.
    #[error("at most {0} channels per user")]
    LimitReached(u32),
    /// The user follows the most channels allowed.
    #[error("at most {0} subscriptions per user")]
    FollowLimit(u32),
    /// The state store failed; nothing was changed.
    #[error("state store error: {0}")]
    Store(String),
    /// An actor did not answer.
    #[error("{0}")]
    Unavailable(CallError),
}

impl From<CallError> for ChannelError {
    fn from(e: CallError) -> Self {
        ChannelError::Unavailable(e)
    }
}

/// A channel handle, checked: lowercase, 3 to 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(String);

impl Handle {
    /// The handle of a new channel: 3 to 32 of `[a-z0-9_.]`.
    pub fn new_channel(raw: &str) -> Result<Handle, ChannelError> {
        let len = raw.chars().count();
        if !(3..=32).contains(&len) {
            return Err(ChannelError::InvalidHandle(
                "must be 3 to 32 characters long".into(),
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.'))
        {
            return Err(ChannelError::InvalidHandle(
                "may contain only a-z, 0-9, '_' and '.'".into(),
            ));
        }
        Ok(Handle(raw.to_owned()))
    }

    /// A handle to look up (case-insensitive): `None` when no channel can have it. Default
    /// channels carry their owner's username, which may also hold `-`.
    pub fn lookup(raw: &str) -> Option<Handle> {
        let h = raw.to_ascii_lowercase();
        ((3..=32).contains(&h.len())
            && h.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')
            }))
        .then_some(Handle(h))
    }

    /// The handle.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn claim(&self) -> String {
        format!("handle:{}", self.0)
    }
}

impl std::fmt::Display for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Channel rules that come from configuration.
#[derive(Debug, Clone)]
pub struct ChannelsPolicy {
    /// Most channels per user, the default channel included.
    pub max_per_user: u32,
    /// Most channels one user may follow.
    pub max_subscriptions: u32,
    /// A handle claim whose channel never came to exist may be taken over after this long.
    pub stale_claim_after: Duration,
}

impl Default for ChannelsPolicy {
    fn default() -> Self {
        Self {
            max_per_user: 10,
            max_subscriptions: 5_000,
            stale_claim_after: Duration::from_secs(60),
        }
    }
}

/// The owner of a new channel, as the caller knows them.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The user id.
    pub id: Uuid,
    /// The normalised username.
    pub key: String,
}

/// What a new channel's creator sends, before validation.
#[derive(Debug, Clone, Default)]
pub struct ChannelInput {
    /// Display name (defaults to the handle on creation).
    pub display_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// The default comment policy of the channel's videos.
    pub default_comment_policy: Option<crate::comments::CommentPolicy>,
    /// Whether new accounts' comments are held for review.
    pub hold_new_accounts: Option<bool>,
}

/// A page of subscriptions, newest first.
#[derive(Debug, Clone)]
pub struct SubscriptionPage {
    /// The channels, with when the user subscribed.
    pub items: Vec<(ChannelView, DateTime<Utc>)>,
    /// Where the next page starts, when more follow.
    pub next_cursor: Option<SubscriptionCursor>,
}

/// A position in a user's subscriptions (newest first): the subscription time and channel
/// of the last item seen. Stable across subscribes and unsubscribes of others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionCursor {
    /// Subscription time, Unix microseconds.
    pub since_us: i64,
    /// The channel.
    pub channel: Uuid,
}

impl SubscriptionCursor {
    /// Parses `<micros>_<uuid>`.
    pub fn parse(raw: &str) -> Option<Self> {
        let (t, c) = raw.split_once('_')?;
        Some(Self {
            since_us: t.parse().ok()?,
            channel: c.parse().ok()?,
        })
    }

    fn of(f: &Follow) -> Self {
        Self {
            since_us: f.since.timestamp_micros(),
            channel: f.channel,
        }
    }
}

impl std::fmt::Display for SubscriptionCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.since_us, self.channel)
    }
}

/// Channels and subscriptions. Cheap to clone.
#[derive(Clone)]
pub struct Channels {
    channels: Directory<ChannelActor>,
    follows: Directory<FollowsActor>,
    claims: Directory<ClaimActor>,
    policy: Arc<ChannelsPolicy>,
    /// For existence checks of a claim's holder without activating it.
    store: Arc<dyn StateStore>,
}

impl Channels {
    /// Starts the channel and follows kinds in `system`; handles are claimed through `claims`.
    pub async fn start(
        system: &System,
        claims: Directory<ClaimActor>,
        policy: ChannelsPolicy,
    ) -> Result<Self, CallError> {
        let channels = Directory::<ChannelActor>::start(system, ()).await?;
        let follows = Directory::<FollowsActor>::start(system, ()).await?;
        Ok(Self {
            channels,
            follows,
            claims,
            policy: Arc::new(policy),
            store: system.store().clone(),
        })
    }

    /// The rules in force.
    pub fn policy(&self) -> &ChannelsPolicy {
        &self.policy
    }

    async fn call(&self, id: Uuid, req: ChannelRequest) -> Result<ChannelResponse, ChannelError> {
        Ok(self.channels.call(&id.to_string(), req).await?)
    }

    /// The channel `id`, if it exists.
    pub async fn get(&self, id: Uuid) -> Result<Option<ChannelView>, ChannelError> {
        match self.call(id, ChannelRequest::Get).await? {
            ChannelResponse::Found(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// The channel id a handle's claim names, if any.
    async fn holder(&self, handle: &Handle) -> Result<Option<ClaimState>, ChannelError> {
        match self.claims.call(&handle.claim(), ClaimRequest::Get).await? {
            ClaimResponse::Holder(h) => Ok(h),
            other => Err(unexpected(other)),
        }
    }

    /// The channel with handle `raw`, if any.
    pub async fn by_handle(&self, raw: &str) -> Result<Option<ChannelView>, ChannelError> {
        let Some(handle) = Handle::lookup(raw) else {
            return Ok(None);
        };
        let Some(held) = self.holder(&handle).await? else {
            return Ok(None);
        };
        match self.get(held.owner).await? {
            Some(c) if c.handle == handle.as_str() => Ok(Some(c)),
            Some(_) => Ok(None),
            // A user whose default channel was never made (a registration cut short before
            // it): made now, from the account.
            None => match self.peek::<UserActor>(&held.username).await? {
                // Not for a deleted account's tombstone.
                Some(u)
                    if u.live()
                        && u.id == held.owner
                        && u.username.to_ascii_lowercase() == handle.0 =>
                {
                    Ok(Some(self.ensure_default_of(&u).await?))
                }
                _ => Ok(None),
            },
        }
    }

    /// The channel with handle `raw`, or [`ChannelError::NotFound`].
    pub async fn require(&self, raw: &str) -> Result<ChannelView, ChannelError> {
        self.by_handle(raw).await?.ok_or(ChannelError::NotFound)
    }

    async fn peek<E: Entity>(&self, key: &str) -> Result<Option<E::State>, ChannelError> {
        let storage = format!("{}/{key}", E::KIND);
        match self
            .store
            .get(&storage)
            .await
            .map_err(|e| ChannelError::Store(e.to_string()))?
        {
            Some(v) => codec::decode::<E::State>(E::SCHEMA, &v.value)
                .map(Some)
                .map_err(|e| ChannelError::Store(format!("{storage}: {e}"))),
            None => Ok(None),
        }
    }

    /// Makes sure the account `user` has its default channel (handle: the username, id: the
    /// user id), and answers it. Idempotent: registration calls it, the start-up migration
    /// calls it for every account, and a lookup that finds it missing calls it.
    pub async fn ensure_default(
        &self,
        id: Uuid,
        key: &str,
        display_name: &str,
        created_at: DateTime<Utc>,
    ) -> Result<ChannelView, ChannelError> {
        if let Some(c) = self.get(id).await? {
            return Ok(c);
        }
        let handle = Handle(key.to_owned());
        match self.claim(&handle, id, key).await? {
            true => {}
            false => return Err(ChannelError::HandleTaken),
        }
        let new = NewChannel {
            id,
            handle: key.to_owned(),
            display_name: display_name.to_owned(),
            description: String::new(),
            owner_id: id,
            owner: key.to_owned(),
            default: true,
            created_at,
        };
        match self.call(id, ChannelRequest::Create(new)).await? {
            ChannelResponse::Channel(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// The default channel of the account (`id`, `key`), made now if it is missing (an
    /// account older than channels, or a registration cut short before it).
    pub async fn default_for(&self, id: Uuid, key: &str) -> Result<ChannelView, ChannelError> {
        if let Some(c) = self.get(id).await? {
            return Ok(c);
        }
        match self.peek::<UserActor>(key).await? {
            Some(u) if u.id == id && u.live() => self.ensure_default_of(&u).await,
            _ => Err(ChannelError::NotFound),
        }
    }

    async fn ensure_default_of(&self, u: &UserState) -> Result<ChannelView, ChannelError> {
        let key = u.username.to_ascii_lowercase();
        self.ensure_default(u.id, &key, &u.username, u.created_at)
            .await
    }

    /// Claims `handle` for channel `id` of the user `owner_key`; whether it was won. A claim
    /// whose holder never came to exist (no channel, no account with that id) is taken over
    /// once it is older than the policy's grace period.
    async fn claim(
        &self,
        handle: &Handle,
        id: Uuid,
        owner_key: &str,
    ) -> Result<bool, ChannelError> {
        let ask = |takeover: Option<Uuid>| {
            let request = ClaimRequest::Claim {
                owner: id,
                username: owner_key.to_owned(),
                takeover,
            };
            let (claims, name) = (self.claims.clone(), handle.claim());
            async move {
                match claims.call(&name, request).await? {
                    ClaimResponse::Claimed(outcome) => outcome.map_err(ChannelError::Store),
                    other => Err(unexpected(other)),
                }
            }
        };
        let held = match ask(None).await? {
            ClaimOutcome::Won => return Ok(true),
            ClaimOutcome::Held(h) => h,
        };
        let grace = chrono::Duration::from_std(self.policy.stale_claim_after)
            .unwrap_or(chrono::Duration::MAX);
        if Utc::now().signed_duration_since(held.claimed_at) <= grace
            || self.holder_exists(&held).await?
        {
            return Ok(false);
        }
        Ok(matches!(ask(Some(held.owner)).await?, ClaimOutcome::Won))
    }

    /// Whether the holder of a handle claim exists: its channel, or (a registration whose
    /// default channel is not made yet) its account.
    async fn holder_exists(&self, held: &ClaimState) -> Result<bool, ChannelError> {
        if self
            .peek::<ChannelActor>(&held.owner.to_string())
            .await?
            .is_some()
        {
            return Ok(true);
        }
        Ok(matches!(self.peek::<UserActor>(&held.username).await?, Some(u) if u.id == held.owner))
    }

    async fn release_claim(&self, handle: &Handle, id: Uuid) {
        let r = self
            .claims
            .call(&handle.claim(), ClaimRequest::Release { owner: id })
            .await;
        if !matches!(r, Ok(ClaimResponse::Released(Ok(())))) {
            tracing::warn!(handle = %handle, "could not release a handle claim; it becomes stale and can be taken over");
        }
    }

    /// Creates a channel for `owner` (who must have a default channel: registration made it).
    pub async fn create(
        &self,
        owner: &Owner,
        handle: &str,
        input: ChannelInput,
    ) -> Result<ChannelView, ChannelError> {
        let handle = Handle::new_channel(handle)?;
        let (display_name, description) = validate(input)?;
        let id = Uuid::now_v7();
        match self
            .call(
                owner.id,
                ChannelRequest::Reserve {
                    channel: id,
                    max: self.policy.max_per_user,
                },
            )
            .await?
        {
            ChannelResponse::Others(r) => {
                r?;
            }
            other => return Err(unexpected(other)),
        }
        let undo_reserve = || async {
            let _ = self
                .call(owner.id, ChannelRequest::Release { channel: id })
                .await;
        };
        match self.claim(&handle, id, &owner.key).await {
            Ok(true) => {}
            Ok(false) => {
                undo_reserve().await;
                return Err(ChannelError::HandleTaken);
            }
            Err(e) => {
                undo_reserve().await;
                return Err(e);
            }
        }
        let new = NewChannel {
            id,
            display_name: display_name.unwrap_or_else(|| handle.0.clone()),
            handle: handle.0.clone(),
            description: description.unwrap_or_default(),
            owner_id: owner.id,
            owner: owner.key.clone(),
            default: false,
            created_at: Utc::now(),
        };
        let made = match self.call(id, ChannelRequest::Create(new)).await {
            Ok(ChannelResponse::Channel(r)) => r,
            Ok(other) => Err(unexpected(other)),
            Err(e) => Err(e),
        };
        if made.is_err() {
            self.release_claim(&handle, id).await;
            undo_reserve().await;
        }
        made
    }

    /// The channels of user `owner`: the default channel first, then the others, oldest
    /// first.
    pub async fn of_user(&self, owner: Uuid) -> Result<Vec<ChannelView>, ChannelError> {
        let Some(default) = self.get(owner).await? else {
            return Ok(Vec::new());
        };
        let others = match self.call(owner, ChannelRequest::Others).await? {
            ChannelResponse::Others(r) => r?,
            other => return Err(unexpected(other)),
        };
        let mut out = vec![default];
        let got = futures::future::try_join_all(others.into_iter().map(|c| self.get(c))).await?;
        out.extend(got.into_iter().flatten());
        Ok(out)
    }

    /// The channel `raw` if `caller` may change it: [`ChannelError::NotFound`] or
    /// [`ChannelError::Forbidden`] otherwise. Admins may change any channel.
    pub async fn editable(
        &self,
        raw: &str,
        caller: Uuid,
        admin: bool,
    ) -> Result<ChannelView, ChannelError> {
        let c = self.require(raw).await?;
        if c.owner_id == caller || admin {
            Ok(c)
        } else {
            Err(ChannelError::Forbidden)
        }
    }

    /// Changes a channel's display name or description (the caller checked who may).
    pub async fn update(&self, id: Uuid, input: ChannelInput) -> Result<ChannelView, ChannelError> {
        let (policy, hold) = (input.default_comment_policy, input.hold_new_accounts);
        let (display_name, description) = validate(input)?;
        match self
            .call(
                id,
                ChannelRequest::Update {
                    display_name,
                    description,
                    default_comment_policy: policy,
                    hold_new_accounts: hold,
                },
            )
            .await?
        {
            ChannelResponse::Channel(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// Sets (a new version) or clears a channel's avatar.
    pub async fn set_avatar(
        &self,
        id: Uuid,
        version: Option<u64>,
    ) -> Result<ChannelView, ChannelError> {
        match self.call(id, ChannelRequest::SetAvatar(version)).await? {
            ChannelResponse::Channel(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// Deletes a channel (the caller checked who may): refused while it has videos, and for a
    /// default channel. Its handle becomes free.
    pub async fn delete(&self, channel: &ChannelView) -> Result<(), ChannelError> {
        match self.call(channel.id, ChannelRequest::Delete).await? {
            ChannelResponse::Deleted(r) => {
                r?;
            }
            other => return Err(unexpected(other)),
        }
        if let Some(handle) = Handle::lookup(&channel.handle) {
            self.release_claim(&handle, channel.id).await;
        }
        match self
            .call(
                channel.owner_id,
                ChannelRequest::Release {
                    channel: channel.id,
                },
            )
            .await?
        {
            ChannelResponse::Others(r) => r.map(|_| ()),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes a channel whatever it is (its owner's account is being deleted, its videos
    /// first). A default channel's handle stays claimed: it is the deleted account's username,
    /// held back from registration for a while.
    pub async fn purge(&self, channel: &ChannelView) -> Result<(), ChannelError> {
        match self.call(channel.id, ChannelRequest::Purge).await? {
            ChannelResponse::Deleted(r) => {
                r?;
            }
            other => return Err(unexpected(other)),
        }
        if channel.id == channel.owner_id {
            return Ok(());
        }
        if let Some(handle) = Handle::lookup(&channel.handle) {
            self.release_claim(&handle, channel.id).await;
        }
        match self
            .call(
                channel.owner_id,
                ChannelRequest::Release {
                    channel: channel.id,
                },
            )
            .await?
        {
            // The default channel is gone already (a retry): nothing to release.
            ChannelResponse::Others(Err(ChannelError::NotFound)) => Ok(()),
            ChannelResponse::Others(r) => r.map(|_| ()),
            other => Err(unexpected(other)),
        }
    }

    /// Subscribes `user` to the channel `raw`; whether it is a new subscription (with the
    /// channel after it). Two idempotent steps: the user's follows, then the channel's
    /// subscriber part. A retry after a failure part-way completes it.
    pub async fn subscribe(
        &self,
        user: Uuid,
        raw: &str,
    ) -> Result<(bool, ChannelView), ChannelError> {
        let channel = self.require(raw).await?;
        match self
            .follows
            .call(
                &user.to_string(),
                FollowsRequest::Follow {
                    channel: channel.id,
                    max: self.policy.max_subscriptions,
                },
            )
            .await?
        {
            FollowsResponse::Changed(r) => {
                r?;
            }
            other => return Err(unexpected(other)),
        }
        let new = self
            .changed(channel.id, ChannelRequest::Subscribe { user })
            .await?;
        let channel = self.get(channel.id).await?.ok_or(ChannelError::NotFound)?;
        Ok((new, channel))
    }

    /// Unsubscribes `user` from the channel `raw`; whether they were subscribed. The channel's
    /// part first, then the follows, so that a cut-short unsubscribe still shows in the
    /// user's list and its retry completes it.
    pub async fn unsubscribe(
        &self,
        user: Uuid,
        raw: &str,
    ) -> Result<(bool, ChannelView), ChannelError> {
        let channel = self.require(raw).await?;
        let was = self
            .changed(channel.id, ChannelRequest::Unsubscribe { user })
            .await?;
        match self
            .follows
            .call(
                &user.to_string(),
                FollowsRequest::Unfollow {
                    channel: channel.id,
                },
            )
            .await?
        {
            FollowsResponse::Changed(r) => {
                r?;
            }
            other => return Err(unexpected(other)),
        }
        let channel = self.get(channel.id).await?.ok_or(ChannelError::NotFound)?;
        Ok((was, channel))
    }

    async fn changed(&self, id: Uuid, req: ChannelRequest) -> Result<bool, ChannelError> {
        match self.call(id, req).await? {
            ChannelResponse::Changed(r) => r,
            other => Err(unexpected(other)),
        }
    }

    /// The channels `user` follows, oldest first (channels deleted since included: callers
    /// that show them skip what no longer exists).
    pub async fn following(&self, user: Uuid) -> Result<Vec<Follow>, ChannelError> {
        match self
            .follows
            .call(&user.to_string(), FollowsRequest::List)
            .await?
        {
            FollowsResponse::List(l) => Ok(l),
            other => Err(unexpected(other)),
        }
    }

    /// The user's feed token, `<user id>.<secret>` (made on first ask; `regenerate` makes a
    /// new one, and the old one stops working).
    pub async fn feed_token(&self, user: Uuid, regenerate: bool) -> Result<String, ChannelError> {
        let mut secret = [0u8; 24];
        rand::fill(&mut secret);
        let fresh: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        match self
            .follows
            .call(
                &user.to_string(),
                FollowsRequest::FeedToken { fresh, regenerate },
            )
            .await?
        {
            FollowsResponse::Token(t) => Ok(format!("{}.{t}", user.simple())),
            other => Err(unexpected(other)),
        }
    }

    /// The user a feed token belongs to, if it is their current one.
    pub async fn feed_token_user(&self, token: &str) -> Result<Option<Uuid>, ChannelError> {
        let Some((user, secret)) = token.split_once('.') else {
            return Ok(None);
        };
        let Ok(user) = Uuid::parse_str(user) else {
            return Ok(None);
        };
        if secret.len() != 48 {
            return Ok(None);
        }
        let state = self.peek::<FollowsActor>(&user.to_string()).await?;
        let current = state.and_then(|s| s.feed_token);
        // Compared in constant time: the secret is a credential.
        let same = current.is_some_and(|c| {
            c.len() == secret.len()
                && c.bytes()
                    .zip(secret.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        Ok(same.then_some(user))
    }

    /// A page of the channels `user` follows, newest subscription first.
    pub async fn subscriptions(
        &self,
        user: Uuid,
        limit: usize,
        after: Option<SubscriptionCursor>,
    ) -> Result<SubscriptionPage, ChannelError> {
        let mut follows = self.following(user).await?;
        follows.sort_by_key(|f| std::cmp::Reverse((f.since.timestamp_micros(), f.channel)));
        let start = match after {
            Some(c) => follows
                .iter()
                .position(|f| (f.since.timestamp_micros(), f.channel) < (c.since_us, c.channel))
                .unwrap_or(follows.len()),
            None => 0,
        };
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        for chunk in follows[start..].chunks(limit.max(1)) {
            let got =
                futures::future::try_join_all(chunk.iter().map(|f| self.get(f.channel))).await?;
            for (f, c) in chunk.iter().zip(got) {
                if items.len() == limit {
                    more = true;
                    break;
                }
                last = Some(SubscriptionCursor::of(f));
                if let Some(c) = c {
                    items.push((c, f.since));
                }
            }
            if more {
                break;
            }
        }
        Ok(SubscriptionPage {
            items,
            next_cursor: if more { last } else { None },
        })
    }

    /// Which of `handles` the user follows, in their order (an unknown handle: `false`).
    pub async fn subscribed_to(
        &self,
        user: Uuid,
        handles: &[String],
    ) -> Result<Vec<(String, bool)>, ChannelError> {
        let follows: std::collections::HashSet<Uuid> = self
            .following(user)
            .await?
            .into_iter()
            .map(|f| f.channel)
            .collect();
        let found =
            futures::future::try_join_all(handles.iter().map(|h| self.by_handle(h))).await?;
        Ok(handles
            .iter()
            .zip(found)
            .map(|(h, c)| (h.clone(), c.is_some_and(|c| follows.contains(&c.id))))
            .collect())
    }

    /// One shard of a channel's subscribers, sorted (empty for an empty shard or an unknown
    /// channel). Walk `0..SUBSCRIBER_SHARDS` for all of them.
    pub async fn subscribers(&self, channel: Uuid, shard: u32) -> Result<Vec<Uuid>, ChannelError> {
        match self
            .call(channel, ChannelRequest::Subscribers { shard })
            .await?
        {
            ChannelResponse::Subscribers(s) => Ok(s),
            other => Err(unexpected(other)),
        }
    }

    /// Counts `video` in `channel`; whether it was new.
    pub async fn add_video(&self, channel: Uuid, video: Uuid) -> Result<bool, ChannelError> {
        self.changed(channel, ChannelRequest::AddVideo { video })
            .await
    }

    /// Stops counting `video` in `channel`; whether it was counted.
    pub async fn remove_video(&self, channel: Uuid, video: Uuid) -> Result<bool, ChannelError> {
        self.changed(channel, ChannelRequest::RemoveVideo { video })
            .await
    }
}

/// Checks a display name and a description.
fn validate(input: ChannelInput) -> Result<(Option<String>, Option<String>), ChannelError> {
    let bad = |field: &str, reason: &str| ChannelError::Invalid {
        field: field.into(),
        reason: reason.into(),
    };
    let name = match input.display_name.map(|n| n.trim().to_owned()) {
        Some(n) if n.is_empty() || n.chars().count() > MAX_DISPLAY_NAME => {
            return Err(bad("display_name", "must be 1 to 100 characters"));
        }
        Some(n) if n.chars().any(char::is_control) => {
            return Err(bad("display_name", "must not contain control characters"));
        }
        n => n,
    };
    let description = match input.description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => {
            return Err(bad("description", "must be at most 5000 characters"));
        }
        d => d,
    };
    Ok((name, description))
}

/// An answer of the wrong shape: a bug, reported as an error rather than a panic.
fn unexpected(answer: impl std::fmt::Debug) -> ChannelError {
    ChannelError::Store(format!(
        "unexpected answer from a channel actor: {answer:?}"
    ))
}
