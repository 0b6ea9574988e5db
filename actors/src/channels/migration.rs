//! The start-up migration to channels: every account gets its default channel, every video
//! its channel, and every channel the exact count of its videos.
//!
//! It runs on every start, before the server listens, and is idempotent: it reads the stored
//! state (accounts, channels, videos, the channels' video parts) in one pass and changes only
//! what is missing or wrong, through the actors, with the same idempotent requests the API
//! uses. A second run finds nothing to do. Each run logs what it did. It also repairs a
//! video count that a crash left behind (between a video's creation or deletion and its
//! count), since it compares every channel's video parts with the videos themselves.

use super::channel::{ChannelActor, ChannelState, VideoPart};
use super::{ChannelError, Channels};
use crate::accounts::user::{UserActor, UserState};
use crate::media::video::{VideoActor, VideoState};
use crate::media::Media;
use std::collections::{BTreeSet, HashMap};
use troupe_runtime::store::StateStore;
use troupe_runtime::{codec, Entity, Part};
use uuid::Uuid;

/// Written once a run has completed. On one node with sled the migration runs on every start
/// anyway (a local scan); with the state in a bucket, a start that finds the marker skips it.
pub const DONE_MARKER: &str = "migration/channels-v1";

/// What one run of the migration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Accounts read.
    pub accounts: usize,
    /// Default channels made (accounts older than channels).
    pub channels_made: usize,
    /// Videos read (not being deleted).
    pub videos: usize,
    /// Videos put in their owner's default channel (videos older than channels).
    pub videos_assigned: usize,
    /// Videos whose owner has no account, so no channel: left as they are.
    pub orphans: usize,
    /// Videos that name a channel that does not exist: left as they are.
    pub missing_channel: usize,
    /// Videos a channel did not count and now does.
    pub counts_added: usize,
    /// Videos a channel counted that no longer exist (or belong elsewhere) and now does not.
    pub counts_removed: usize,
}

impl Report {
    /// Whether the run changed nothing.
    pub fn nothing_to_do(&self) -> bool {
        self.channels_made == 0
            && self.videos_assigned == 0
            && self.counts_added == 0
            && self.counts_removed == 0
    }
}

fn decode_all<T: serde::de::DeserializeOwned>(
    schema: u8,
    entries: Vec<(String, troupe_runtime::store::Versioned)>,
) -> Vec<(String, T)> {
    entries
        .into_iter()
        .filter_map(|(k, v)| match codec::decode::<T>(schema, &v.value) {
            Ok(t) => Some((k, t)),
            Err(e) => {
                tracing::warn!(key = %k, error = %e, "channel migration: an unreadable record is left alone");
                None
            }
        })
        .collect()
}

async fn scan<T: serde::de::DeserializeOwned>(
    store: &dyn StateStore,
    kind: &str,
    schema: u8,
) -> Result<Vec<(String, T)>, ChannelError> {
    let entries = store
        .scan_prefix(&format!("{kind}/"))
        .await
        .map_err(|e| ChannelError::Store(e.to_string()))?;
    Ok(decode_all(schema, entries))
}

/// Whether video `id` exists now and is not being deleted (read again right before a count
/// changes, so that a video made or deleted meanwhile on another node is not miscounted).
async fn live_video(store: &dyn StateStore, id: Uuid) -> Result<Option<Uuid>, ChannelError> {
    let key = format!("{}/{id}", VideoActor::KIND);
    match store
        .get(&key)
        .await
        .map_err(|e| ChannelError::Store(e.to_string()))?
    {
        Some(v) => Ok(codec::decode::<VideoState>(VideoActor::SCHEMA, &v.value)
            .ok()
            .filter(|s| !s.deleting)
            .map(|s| s.channel_id)),
        None => Ok(None),
    }
}

/// Runs the migration once (see the module doc).
pub async fn run(
    store: &dyn StateStore,
    channels: &Channels,
    media: &Media,
) -> Result<Report, ChannelError> {
    let mut report = Report::default();
    let users: Vec<(String, UserState)> = scan(store, UserActor::KIND, UserActor::SCHEMA).await?;
    let existing: Vec<(String, ChannelState)> =
        scan(store, ChannelActor::KIND, ChannelActor::SCHEMA).await?;
    let existing: std::collections::HashSet<Uuid> =
        existing.into_iter().map(|(_, c)| c.id).collect();
    // Owner id → (default channel id, handle).
    let mut defaults: HashMap<Uuid, String> = HashMap::new();
    // A deleted account's tombstone has no channels.
    for (key, u) in users.iter().filter(|(_, u)| u.live()) {
        report.accounts += 1;
        let handle = key.strip_prefix("user/").unwrap_or(&u.username).to_owned();
        if !existing.contains(&u.id) {
            match channels
                .ensure_default(u.id, &handle, &u.username, u.created_at)
                .await
            {
                Ok(_) => report.channels_made += 1,
                Err(ChannelError::HandleTaken) => {
                    tracing::error!(user = %u.username, "channel migration: another channel holds this account's handle; it has no default channel");
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        defaults.insert(u.id, handle);
    }

    let videos: Vec<(String, VideoState)> =
        scan(store, VideoActor::KIND, VideoActor::SCHEMA).await?;
    let mut expected: HashMap<Uuid, BTreeSet<Uuid>> = HashMap::new();
    for (_, v) in videos.iter().filter(|(_, v)| !v.deleting) {
        report.videos += 1;
        let channel = if v.channel_id.is_nil() {
            let Some(handle) = defaults.get(&v.owner_id) else {
                report.orphans += 1;
                continue;
            };
            match media.set_channel(v.id, (v.owner_id, handle)).await {
                Ok(view) => {
                    report.videos_assigned += 1;
                    view.channel_id
                }
                // Deleted meanwhile.
                Err(crate::media::MediaError::Video(crate::media::video::VideoError::NotFound)) => {
                    continue
                }
                Err(e) => return Err(ChannelError::Store(e.to_string())),
            }
        } else {
            v.channel_id
        };
        expected.entry(channel).or_default().insert(v.id);
    }

    let parts = store
        .scan_prefix(&format!("{}/", VideoPart::KIND))
        .await
        .map_err(|e| ChannelError::Store(e.to_string()))?;
    let mut counted: HashMap<Uuid, BTreeSet<Uuid>> = HashMap::new();
    for (key, part) in decode_all::<VideoPart>(VideoPart::SCHEMA, parts) {
        let channel = key
            .strip_prefix("chvid/")
            .and_then(|k| k.split_once('.'))
            .and_then(|(c, _)| c.parse::<Uuid>().ok());
        if let Some(c) = channel {
            counted.entry(c).or_default().extend(part.videos);
        }
    }
    let empty = BTreeSet::new();
    // Channels made above exist too (their ids are their owners').
    let exists = |c: &Uuid| existing.contains(c) || defaults.contains_key(c);
    report.missing_channel = expected
        .iter()
        .filter(|(c, _)| !exists(c))
        .map(|(_, v)| v.len())
        .sum();
    let all: BTreeSet<Uuid> = expected
        .keys()
        .chain(counted.keys())
        .copied()
        .filter(exists)
        .collect();
    for channel in all {
        let want = expected.get(&channel).unwrap_or(&empty);
        let have = counted.get(&channel).unwrap_or(&empty);
        for v in want.difference(have) {
            if live_video(store, *v).await? == Some(channel) {
                match channels.add_video(channel, *v).await {
                    Ok(true) => report.counts_added += 1,
                    Ok(false) => {}
                    Err(ChannelError::NotFound) => {
                        tracing::warn!(%channel, video = %v, "channel migration: a video names a channel that does not exist");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        for v in have.difference(want) {
            if live_video(store, *v).await? == Some(channel) {
                continue;
            }
            match channels.remove_video(channel, *v).await {
                Ok(true) => report.counts_removed += 1,
                Ok(false) | Err(ChannelError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(report)
}
