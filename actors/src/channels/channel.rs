//! The channel actor: one channel's profile, its exact subscriber and video counts, and the
//! subscriber and video ids behind them as parts.
//!
//! ```text
//!  channel/<id>  (profile, counts, the owner's other channels when it is a default channel)
//!    ├── chsub/<id>.<shard>   shard in 0..SUBSCRIBER_SHARDS: sorted subscriber user ids
//!    └── chvid/<id>.<shard>   shard in 0..VIDEO_SHARDS: sorted video ids
//! ```
//!
//! A subscribe changes one subscriber part and writes that part alone (with the channel's
//! small state for its count), so that a channel with a million subscribers never rewrites a
//! million ids. The parts are the truth: an activation reads all of them once and recounts,
//! so a count that a crash left behind its part (the two are written side by side, not
//! atomically) is repaired before anyone reads it. Every request is idempotent: subscribing
//! twice, or adding a video twice, changes nothing the second time.

use super::{ChannelAvatar, ChannelError, ChannelView};
use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use troupe_runtime::{Ctx, Entity, Part};
use uuid::Uuid;

/// How many parts a channel's subscribers are spread over. Part of the storage layout.
pub const SUBSCRIBER_SHARDS: u32 = 256;
/// How many parts a channel's video ids are spread over. Part of the storage layout.
pub const VIDEO_SHARDS: u32 = 16;

/// The subscriber part a user's id lives in.
pub fn subscriber_shard(user: Uuid) -> u32 {
    u32::from(user.as_bytes()[15]) % SUBSCRIBER_SHARDS
}

/// The video part a video's id lives in.
pub fn video_shard(video: Uuid) -> u32 {
    u32::from(video.as_bytes()[15]) % VIDEO_SHARDS
}

/// The part key of one shard of a channel.
pub fn part_key(channel: Uuid, shard: u32) -> String {
    format!("{channel}.{shard}")
}

/// The actor kind `channel`, keyed by the channel id.
pub struct ChannelActor;

/// One shard of a channel's subscribers: a sorted set of user ids.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SubscriberPart {
    /// Sorted, no duplicates.
    pub users: Vec<Uuid>,
}

impl Part for SubscriberPart {
    const KIND: &'static str = "chsub";
    const SCHEMA: u8 = 1;
}

/// One shard of a channel's videos: a sorted set of video ids.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VideoPart {
    /// Sorted, no duplicates.
    pub videos: Vec<Uuid>,
}

impl Part for VideoPart {
    const KIND: &'static str = "chvid";
    const SCHEMA: u8 = 1;
}

/// A channel's avatar, as stored: the version names its blobs, so that a new upload never
/// serves a cached old image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvatarState {
    /// Bumped on every upload.
    pub version: u64,
}

/// The durable state of a channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelState {
    /// The channel id (also the actor key).
    pub id: Uuid,
    /// The handle (its claim is `handle:<handle>`); never changes.
    pub handle: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// The avatar, if one was uploaded.
    pub avatar: Option<AvatarState>,
    /// The owner's user id.
    pub owner_id: Uuid,
    /// The owner's normalised username.
    pub owner: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// The owner's default channel (its id is the owner's id); it cannot be deleted.
    pub default: bool,
    /// On a default channel: the owner's other channels, oldest first, so that the limit per
    /// user is checked by one actor, one request at a time.
    pub others: Vec<Uuid>,
    /// Exact, recounted from the parts on activation.
    pub subscribers: u64,
    /// Exact, recounted from the parts on activation.
    pub videos: u64,
    /// Bumped on every change.
    pub version: u64,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The subscriber parts, by shard, once this activation has read them; stored as parts
    /// of their own, not in this state.
    #[serde(skip)]
    pub subs: Vec<SubscriberPart>,
    /// The video parts, by shard, once read.
    #[serde(skip)]
    pub vids: Vec<VideoPart>,
    /// The comment policy of its videos that have none of their own.
    #[serde(default)]
    pub default_comment_policy: crate::comments::CommentPolicy,
    /// Whether new accounts' comments are held for review on its videos.
    #[serde(default)]
    pub hold_new_accounts: bool,
}

impl ChannelState {
    /// The API view.
    pub fn view(&self) -> ChannelView {
        ChannelView {
            id: self.id,
            handle: self.handle.clone(),
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            avatar: self
                .avatar
                .map(|a| ChannelAvatar::urls(&self.handle, a.version)),
            owner_id: self.owner_id,
            owner: self.owner.clone(),
            created_at: self.created_at,
            subscribers: self.subscribers,
            videos: self.videos,
            default: self.default,
            default_comment_policy: self.default_comment_policy,
            hold_new_accounts: self.hold_new_accounts,
        }
    }
}

/// A new channel, validated by the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewChannel {
    /// The id (the owner's id for a default channel).
    pub id: Uuid,
    /// The handle, already claimed for `id`.
    pub handle: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// The owner's user id.
    pub owner_id: Uuid,
    /// The owner's normalised username.
    pub owner: String,
    /// Whether it is the owner's default channel.
    pub default: bool,
    /// Creation time (a migrated default channel takes its account's).
    pub created_at: DateTime<Utc>,
}

/// Requests to the channel actor. All idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ChannelRequest {
    /// Creates the channel (a retry of the same creation answers the channel).
    Create(NewChannel),
    /// The channel, if it exists.
    Get,
    /// Changes the display name or the description.
    Update {
        /// New display name.
        display_name: Option<String>,
        /// New description.
        description: Option<String>,
        /// New default comment policy.
        #[serde(default)]
        default_comment_policy: Option<crate::comments::CommentPolicy>,
        /// Whether new accounts' comments are held.
        #[serde(default)]
        hold_new_accounts: Option<bool>,
    },
    /// Sets (a new version) or clears the avatar.
    SetAvatar(Option<u64>),
    /// On a default channel: records another channel of the owner, unless the owner already
    /// has `max` channels (this one included).
    Reserve {
        /// The other channel.
        channel: Uuid,
        /// Most channels per user.
        max: u32,
    },
    /// On a default channel: forgets another channel of the owner.
    Release {
        /// The other channel.
        channel: Uuid,
    },
    /// On a default channel: the owner's other channels.
    Others,
    /// Deletes the channel: refused for a default channel and for one with videos.
    Delete,
    /// Deletes the channel whatever it is: its owner's account is being deleted (and its
    /// videos were deleted first).
    Purge,
    /// Adds a subscriber; answers whether it is new.
    Subscribe {
        /// The subscriber.
        user: Uuid,
    },
    /// Removes a subscriber; answers whether it was one.
    Unsubscribe {
        /// The subscriber.
        user: Uuid,
    },
    /// One shard of the subscribers, sorted (empty for an empty shard or no channel).
    Subscribers {
        /// In `0..SUBSCRIBER_SHARDS`.
        shard: u32,
    },
    /// Counts a video in the channel; answers whether it is new.
    AddVideo {
        /// The video.
        video: Uuid,
    },
    /// Stops counting a video; answers whether it was counted.
    RemoveVideo {
        /// The video.
        video: Uuid,
    },
}

/// Answers of the channel actor.
#[derive(Debug, Serialize, Deserialize)]
pub enum ChannelResponse {
    /// To `Create`, `Update` and `SetAvatar`.
    Channel(Result<ChannelView, ChannelError>),
    /// To `Get`.
    Found(Option<ChannelView>),
    /// To `Reserve`, `Release` and `Others`: the owner's other channels.
    Others(Result<Vec<Uuid>, ChannelError>),
    /// To `Subscribe`, `Unsubscribe`, `AddVideo` and `RemoveVideo`: whether it changed.
    Changed(Result<bool, ChannelError>),
    /// To `Subscribers`.
    Subscribers(Vec<Uuid>),
    /// To `Delete`: the deleted channel (`None` if there was none).
    Deleted(Result<Option<ChannelView>, ChannelError>),
}

/// What the channel actor needs from its surroundings: nothing yet.
pub type ChannelArgs = ();

impl Entity for ChannelActor {
    const KIND: &'static str = "channel";
    const SCHEMA: u8 = 1;
    type State = ChannelState;
    type Request = ChannelRequest;
    type Response = ChannelResponse;
    type Args = ChannelArgs;

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: ChannelRequest,
    ) -> Result<ChannelResponse, ActorProcessingErr> {
        let id: Uuid = ctx.key().parse()?;
        if ctx.first_request() {
            load(ctx, id).await?;
        }
        Ok(match req {
            ChannelRequest::Create(new) => ChannelResponse::Channel(create(ctx, new).await),
            ChannelRequest::Get => ChannelResponse::Found(ctx.state().map(ChannelState::view)),
            ChannelRequest::Update {
                display_name,
                description,
                default_comment_policy,
                hold_new_accounts,
            } => ChannelResponse::Channel(change(ctx, |s| {
                let mut changed = false;
                if let Some(p) = default_comment_policy.filter(|p| *p != s.default_comment_policy) {
                    s.default_comment_policy = p;
                    changed = true;
                }
                if let Some(h) = hold_new_accounts.filter(|h| *h != s.hold_new_accounts) {
                    s.hold_new_accounts = h;
                    changed = true;
                }
                if let Some(n) = display_name.filter(|n| *n != s.display_name) {
                    s.display_name = n;
                    changed = true;
                }
                if let Some(d) = description.filter(|d| *d != s.description) {
                    s.description = d;
                    changed = true;
                }
                Ok(changed)
            })),
            ChannelRequest::SetAvatar(version) => ChannelResponse::Channel(change(ctx, |s| {
                let avatar = version.map(|version| AvatarState { version });
                let changed = s.avatar != avatar;
                s.avatar = avatar;
                Ok(changed)
            })),
            ChannelRequest::Reserve { channel, max } => {
                ChannelResponse::Others(
                    change(ctx, |s| {
                        if !s.default {
                            return Err(ChannelError::NotFound);
                        }
                        if s.others.contains(&channel) {
                            return Ok(false);
                        }
                        // The default channel counts as one.
                        if s.others.len() as u64 + 1 >= u64::from(max) {
                            return Err(ChannelError::LimitReached(max));
                        }
                        s.others.push(channel);
                        Ok(true)
                    })
                    .map(|_| others(ctx)),
                )
            }
            ChannelRequest::Release { channel } => ChannelResponse::Others(
                change(ctx, |s| {
                    let before = s.others.len();
                    s.others.retain(|c| *c != channel);
                    Ok(s.others.len() != before)
                })
                .map(|_| others(ctx)),
            ),
            ChannelRequest::Others => ChannelResponse::Others(match ctx.state() {
                Some(s) => Ok(s.others.clone()),
                None => Err(ChannelError::NotFound),
            }),
            ChannelRequest::Delete => ChannelResponse::Deleted(delete(ctx).await),
            ChannelRequest::Purge => {
                ChannelResponse::Deleted(match ctx.state().map(|s| s.view()) {
                    None => Ok(None),
                    Some(view) => ctx
                        .remove()
                        .await
                        .map(|()| Some(view))
                        .map_err(|e| ChannelError::Store(e.to_string())),
                })
            }
            ChannelRequest::Subscribe { user } => {
                ChannelResponse::Changed(set_member(ctx, id, Member::Subscriber(user), true))
            }
            ChannelRequest::Unsubscribe { user } => {
                ChannelResponse::Changed(set_member(ctx, id, Member::Subscriber(user), false))
            }
            ChannelRequest::AddVideo { video } => {
                ChannelResponse::Changed(set_member(ctx, id, Member::Video(video), true))
            }
            ChannelRequest::RemoveVideo { video } => {
                ChannelResponse::Changed(set_member(ctx, id, Member::Video(video), false))
            }
            ChannelRequest::Subscribers { shard } => ChannelResponse::Subscribers(
                ctx.state()
                    .and_then(|s| s.subs.get(shard as usize))
                    .map(|p| p.users.clone())
                    .unwrap_or_default(),
            ),
        })
    }
}

/// The owner's other channels (on a default channel).
fn others(ctx: &Ctx<ChannelActor>) -> Vec<Uuid> {
    ctx.state().map(|s| s.others.clone()).unwrap_or_default()
}

/// Reads every part of an existing channel and recounts: the parts are the truth. A count
/// that differs (a crash between a part's write and the state's) is repaired, durably.
async fn load(ctx: &mut Ctx<ChannelActor>, id: Uuid) -> Result<(), ActorProcessingErr> {
    if ctx.state().is_none() {
        return Ok(());
    }
    let sub_keys: Vec<String> = (0..SUBSCRIBER_SHARDS).map(|s| part_key(id, s)).collect();
    let vid_keys: Vec<String> = (0..VIDEO_SHARDS).map(|s| part_key(id, s)).collect();
    let subs: Vec<SubscriberPart> = ctx
        .load_parts::<SubscriberPart>(&sub_keys)
        .await?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let vids: Vec<VideoPart> = ctx
        .load_parts::<VideoPart>(&vid_keys)
        .await?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let Some(mut state) = ctx.state_mut().take() else {
        return Ok(());
    };
    let subscribers: u64 = subs.iter().map(|p| p.users.len() as u64).sum();
    let videos: u64 = vids.iter().map(|p| p.videos.len() as u64).sum();
    state.subs = subs;
    state.vids = vids;
    if (subscribers, videos) != (state.subscribers, state.videos) {
        tracing::warn!(
            channel = %id,
            stored = ?(state.subscribers, state.videos),
            counted = ?(subscribers, videos),
            "channel counts repaired from their parts"
        );
        state.subscribers = subscribers;
        state.videos = videos;
        state.version += 1;
        ctx.stage(state);
    } else {
        *ctx.state_mut() = Some(state);
    }
    Ok(())
}

async fn create(ctx: &mut Ctx<ChannelActor>, new: NewChannel) -> Result<ChannelView, ChannelError> {
    if let Some(s) = ctx.state() {
        // A retry of the creation that made this channel.
        return if s.owner_id == new.owner_id && s.handle == new.handle {
            Ok(s.view())
        } else {
            Err(ChannelError::HandleTaken)
        };
    }
    let state = ChannelState {
        id: new.id,
        handle: new.handle,
        display_name: new.display_name,
        description: new.description,
        avatar: None,
        owner_id: new.owner_id,
        owner: new.owner,
        created_at: new.created_at,
        default: new.default,
        others: Vec::new(),
        subscribers: 0,
        videos: 0,
        version: 1,
        updated_at: Utc::now(),
        subs: vec![SubscriberPart::default(); SUBSCRIBER_SHARDS as usize],
        vids: vec![VideoPart::default(); VIDEO_SHARDS as usize],
        default_comment_policy: Default::default(),
        hold_new_accounts: false,
    };
    let view = state.view();
    ctx.save(state)
        .await
        .map_err(|e| ChannelError::Store(e.to_string()))?;
    Ok(view)
}

/// Applies `f` to the state; stages it (durable before the answer) when `f` says it changed.
fn change(
    ctx: &mut Ctx<ChannelActor>,
    f: impl FnOnce(&mut ChannelState) -> Result<bool, ChannelError>,
) -> Result<ChannelView, ChannelError> {
    let Some(mut s) = ctx.state_mut().take() else {
        return Err(ChannelError::NotFound);
    };
    match f(&mut s) {
        Ok(true) => {
            s.version += 1;
            s.updated_at = Utc::now();
            let view = s.view();
            ctx.stage(s);
            Ok(view)
        }
        Ok(false) => {
            let view = s.view();
            *ctx.state_mut() = Some(s);
            Ok(view)
        }
        Err(e) => {
            *ctx.state_mut() = Some(s);
            Err(e)
        }
    }
}

async fn delete(ctx: &mut Ctx<ChannelActor>) -> Result<Option<ChannelView>, ChannelError> {
    let Some(s) = ctx.state() else {
        return Ok(None);
    };
    if s.default {
        return Err(ChannelError::DefaultChannel);
    }
    if s.videos > 0 {
        return Err(ChannelError::HasVideos(s.videos));
    }
    let view = s.view();
    // Deletes the state and every part this activation read (all of them, on activation).
    ctx.remove()
        .await
        .map_err(|e| ChannelError::Store(e.to_string()))?;
    Ok(Some(view))
}

/// A subscriber or a video of the channel.
enum Member {
    Subscriber(Uuid),
    Video(Uuid),
}

/// Adds (`present`) or removes a member in its part; whether anything changed. The part and
/// the count are staged together, and the answer waits until both are durable.
fn set_member(
    ctx: &mut Ctx<ChannelActor>,
    id: Uuid,
    member: Member,
    present: bool,
) -> Result<bool, ChannelError> {
    let Some(mut s) = ctx.state_mut().take() else {
        return Err(ChannelError::NotFound);
    };
    let (set, shard) = match member {
        Member::Subscriber(u) => {
            let shard = subscriber_shard(u);
            (&mut s.subs[shard as usize].users, (shard, u, true))
        }
        Member::Video(v) => {
            let shard = video_shard(v);
            (&mut s.vids[shard as usize].videos, (shard, v, false))
        }
    };
    let (shard, member, subscriber) = shard;
    let changed = match (set.binary_search(&member), present) {
        (Ok(_), true) | (Err(_), false) => false,
        (Err(at), true) => {
            set.insert(at, member);
            true
        }
        (Ok(at), false) => {
            set.remove(at);
            true
        }
    };
    if !changed {
        *ctx.state_mut() = Some(s);
        return Ok(false);
    }
    let key = part_key(id, shard);
    if subscriber {
        ctx.stage_part(&key, &s.subs[shard as usize]);
        s.subscribers = s.subs.iter().map(|p| p.users.len() as u64).sum();
    } else {
        ctx.stage_part(&key, &s.vids[shard as usize]);
        s.videos = s.vids.iter().map(|p| p.videos.len() as u64).sum();
    }
    s.version += 1;
    s.updated_at = Utc::now();
    ctx.stage(s);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use troupe_runtime::store::{MemoryStore, StateStore};
    use troupe_runtime::{Directory, RuntimeConfig, System};

    fn new_channel(id: Uuid) -> NewChannel {
        NewChannel {
            id,
            handle: "parts".into(),
            display_name: "Parts".into(),
            description: String::new(),
            owner_id: id,
            owner: "parts".into(),
            default: true,
            created_at: Utc::now(),
        }
    }

    async fn count(channels: &Directory<ChannelActor>, id: Uuid) -> (u64, u64) {
        match channels.call(&id.to_string(), ChannelRequest::Get).await {
            Ok(ChannelResponse::Found(Some(v))) => (v.subscribers, v.videos),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscribers_live_in_shards_and_counts_are_recounted_from_them() {
        let store: std::sync::Arc<dyn StateStore> = std::sync::Arc::new(MemoryStore::new());
        let system = System::new(store.clone(), RuntimeConfig::default());
        let channels = Directory::<ChannelActor>::start(&system, ()).await.unwrap();
        let id = Uuid::now_v7();
        let key = id.to_string();
        channels
            .call(&key, ChannelRequest::Create(new_channel(id)))
            .await
            .unwrap();
        let users: Vec<Uuid> = (0..600).map(|_| Uuid::new_v4()).collect();
        for u in &users {
            let r = channels
                .call(&key, ChannelRequest::Subscribe { user: *u })
                .await
                .unwrap();
            assert!(matches!(r, ChannelResponse::Changed(Ok(true))));
        }
        let again = channels
            .call(&key, ChannelRequest::Subscribe { user: users[0] })
            .await
            .unwrap();
        assert!(matches!(again, ChannelResponse::Changed(Ok(false))));
        assert_eq!(count(&channels, id).await, (600, 0));
        // Every subscriber is in exactly its shard, each shard sorted.
        let mut all = Vec::new();
        for shard in 0..SUBSCRIBER_SHARDS {
            let ChannelResponse::Subscribers(s) = channels
                .call(&key, ChannelRequest::Subscribers { shard })
                .await
                .unwrap()
            else {
                panic!("wrong answer")
            };
            assert!(s.windows(2).all(|w| w[0] < w[1]), "shard {shard} sorted");
            assert!(s.iter().all(|u| subscriber_shard(*u) == shard));
            all.extend(s);
        }
        all.sort();
        let mut expected = users.clone();
        expected.sort();
        assert_eq!(all, expected);
        let parts = store.scan_prefix(&format!("chsub/{id}.")).await.unwrap();
        let shards: std::collections::HashSet<u32> =
            users.iter().map(|u| subscriber_shard(*u)).collect();
        assert_eq!(parts.len(), shards.len(), "one record per shard written");

        // A count that a crash left behind its parts: the next activation recounts.
        let stored = store.get(&format!("channel/{id}")).await.unwrap().unwrap();
        let mut state: ChannelState =
            troupe_runtime::codec::decode(ChannelActor::SCHEMA, &stored.value).unwrap();
        state.subscribers = 3;
        state.videos = 9;
        let bytes = troupe_runtime::codec::encode(ChannelActor::SCHEMA, &state).unwrap();
        let other = System::new(store.clone(), RuntimeConfig::default());
        store
            .put(
                &format!("channel/{id}"),
                bytes,
                troupe_runtime::store::Precondition::Matches(stored.etag),
            )
            .await
            .unwrap();
        let fresh = Directory::<ChannelActor>::start(&other, ()).await.unwrap();
        assert_eq!(count(&fresh, id).await, (600, 0));
    }
}
