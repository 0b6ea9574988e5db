//! Deleting an account, and finding what it left across the store (for the deletion and for
//! the data export).
//!
//! A deletion removes, in this order, so that a failure part-way is finished by the next try
//! (the account stays scheduled, or the admin's request answers 503 and can be repeated):
//! its videos (with their media, counts and comments), its channels, its subscriptions, its
//! comments on other videos (each deleted as its author would: a comment with replies stays
//! as a tombstone without text or author), its ratings, its watch history and playback
//! sessions, its data exports (records and archives); then the account itself becomes a
//! tombstone that holds the username back for `auth.username_hold_secs` and frees the address
//! at once; then a last mail tells the old address. Comments and ratings have no per-user index: they are found by one scan of the
//! stored comment pages and rating shards, which a deletion (rare) and an export can afford.

use super::error::ApiError;
use crate::outbound::Mail;
use crate::state::AppState;
use chrono::Utc;
use serde_json::json;
use troupe_actors::comments::thread::{CommentPart, Stored};
use troupe_actors::media::video::{VideoActor, VideoState, VideoView};
use troupe_actors::playback::tally::TallyState;
use troupe_actors::playback::Rating;
use troupe_runtime::{codec, Entity, Part};
use uuid::Uuid;

fn store_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable("store_unavailable", format!("state store error: {e}"), 2)
}

/// Every video `owner` owns, from the stored videos.
pub(crate) async fn owned_videos(
    state: &AppState,
    owner: Uuid,
) -> Result<Vec<VideoView>, ApiError> {
    let prefix = format!("{}/", VideoActor::KIND);
    let entries = state.store.scan_prefix(&prefix).await.map_err(store_err)?;
    Ok(entries
        .into_iter()
        .filter_map(|(_, v)| codec::decode::<VideoState>(VideoActor::SCHEMA, &v.value).ok())
        .filter(|v| v.owner_id == owner)
        .map(|v| v.view())
        .collect())
}

/// Every comment `author` wrote and has not deleted, with its video, from the stored pages.
pub(crate) async fn authored_comments(
    state: &AppState,
    author: Uuid,
) -> Result<Vec<(Uuid, Stored)>, ApiError> {
    let prefix = format!("{}/", CommentPart::KIND);
    let entries = state.store.scan_prefix(&prefix).await.map_err(store_err)?;
    let mut out = Vec::new();
    for (key, v) in entries {
        let Some(video) = key
            .strip_prefix(&prefix)
            .and_then(|k| k.split_once('.'))
            .and_then(|(id, _)| id.parse::<Uuid>().ok())
        else {
            continue;
        };
        let Ok(page) = codec::decode::<CommentPart>(CommentPart::SCHEMA, &v.value) else {
            continue;
        };
        out.extend(
            page.comments
                .into_iter()
                .filter(|c| c.author == author && !c.deleted && !c.gone)
                .map(|c| (video, c)),
        );
    }
    Ok(out)
}

/// Every rating `viewer` gave, by video, from the stored rating shards.
pub(crate) async fn ratings_of(
    state: &AppState,
    viewer: Uuid,
) -> Result<Vec<(Uuid, Rating)>, ApiError> {
    let shard = troupe_actors::playback::tally::shard_of(viewer);
    let prefix = format!("{}/", TallyState::KIND);
    let entries = state.store.scan_prefix(&prefix).await.map_err(store_err)?;
    let mut out = Vec::new();
    for (key, v) in entries {
        let Some((video, s)) = key.strip_prefix(&prefix).and_then(|k| k.split_once('.')) else {
            continue;
        };
        if s.parse::<u8>().ok() != Some(shard) {
            continue;
        }
        let Ok(video) = video.parse::<Uuid>() else {
            continue;
        };
        let Ok(tally) = codec::decode::<TallyState>(TallyState::SCHEMA, &v.value) else {
            continue;
        };
        if let Some(r) = tally.ratings.get(&viewer) {
            out.push((video, *r));
        }
    }
    Ok(out)
}

/// Deletes everything of the account `key` and then the account (see the module doc).
/// Idempotent: a repeat finishes what an earlier try left.
pub(crate) async fn delete_account(
    state: &AppState,
    key: &str,
    only_if_due: bool,
) -> Result<(), ApiError> {
    let Some(user) = state.accounts.get(key).await? else {
        return Ok(());
    };
    if only_if_due && user.deletion_scheduled_at.is_none_or(|t| t > Utc::now()) {
        // Cancelled (its owner signed in) since the sweep listed it.
        return Ok(());
    }
    let id = user.id;
    for video in owned_videos(state, id).await? {
        match state.media.delete_video(video.id).await {
            Ok(()) => {}
            Err(troupe_actors::media::MediaError::Video(
                troupe_actors::media::video::VideoError::NotFound,
            )) => {}
            Err(e) => return Err(e.into()),
        }
        if !video.channel_id.is_nil() {
            let _ = state
                .channels
                .remove_video(video.channel_id, video.id)
                .await;
        }
        state.hls_cache.forget_video(video.id);
        if let Err(e) = state.playback.forget(video.id).await {
            tracing::warn!(video = %video.id, error = %e, "deletion: could not forget a video's counters");
        }
        if let Err(e) = state.comments.forget(video.id).await {
            tracing::warn!(video = %video.id, error = %e, "deletion: could not forget a video's comments");
        }
    }
    // The default channel (whose id is the account's) last: it lists the others.
    let mut channels = state.channels.of_user(id).await?;
    channels.sort_by_key(|c| c.id == id);
    for channel in channels {
        state.channels.purge(&channel).await?;
    }
    for follow in state.channels.following(id).await? {
        if let Some(ch) = state.channels.get(follow.channel).await? {
            state.channels.unsubscribe(id, &ch.handle).await?;
        }
    }
    for (video, comment) in authored_comments(state, id).await? {
        match state
            .comments
            .delete(video, &comment.id, id, false, None)
            .await
        {
            Ok(_) | Err(troupe_actors::comments::CommentError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for (video, _) in ratings_of(state, id).await? {
        state.playback.rate(video, id, Rating::None).await?;
    }
    state.playback.forget_viewer(key).await?;
    super::export::forget(state, id).await?;
    let hold = chrono::Duration::from_std(std::time::Duration::from_secs(
        state.config.auth.username_hold_secs,
    ))
    .unwrap_or_default();
    let before = state.accounts.erase(key, Utc::now() + hold).await?;
    tracing::info!(user = %key, "account deleted");
    if !before.email.is_empty() {
        let mail = Mail {
            key: format!("deleted.{}", id.simple()),
            to: before.email.clone(),
            template: "account_deleted",
            context: json!({"username": before.username}),
            unsubscribe: None,
        };
        if let Err(e) = state.mailer.send(mail).await {
            tracing::warn!(user = %key, error = %e, "could not enqueue the account-deleted notice");
        }
    }
    Ok(())
}

/// Deletes the accounts whose grace period is over and that this node owns. Runs every
/// `auth.deletion_sweep_secs` on every node.
pub async fn sweep(state: &AppState) {
    let due = match state.accounts.due_deletions(Utc::now()).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "deletion sweep: cannot list accounts; next time");
            return;
        }
    };
    for key in due {
        let id = troupe_runtime::ActorId::new(
            <troupe_actors::accounts::user::UserActor as Entity>::KIND,
            &key,
        );
        if !state.system.owns(&id) {
            continue;
        }
        if let Err(e) = delete_account(state, &key, true).await {
            tracing::warn!(user = %key, code = e.code, "deletion sweep: not finished; next time");
        }
    }
}
