//! Tokens and paths: which media token opens which rendition of which video, and which names
//! are servable at all.

use super::cache::{Playability, Seen, VerifiedMedia};
use crate::http::error::ApiError;
use crate::http::tokens::Tokens;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use quick_cache::sync::Cache;
use std::sync::Arc;
use std::time::{Duration, Instant};
use troupe_actors::accounts::Role;
use troupe_actors::media::video::{VideoError, VideoStatus, Visibility};
use troupe_actors::media::MediaError;
use uuid::Uuid;

/// How long HLS trusts what it last learned of a video before asking its actor again: a
/// deleted video, or one made private, stops playing for everyone it excludes within this long
/// (plus one call to the video's actor) on every node, whatever media token they hold.
pub const PLAYABILITY_FRESH: Duration = Duration::from_millis(500);

/// A path parameter of the matched route, or `""`.
pub(super) fn param<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.match_info().get(name).unwrap_or("")
}

pub(super) fn file_not_found() -> ApiError {
    ApiError::not_found("not_found", "no such file")
}

/// The height of a rendition named like `^[0-9]{3,4}p$` (`720p` → 720), or `None`.
pub(super) fn rendition_height(name: &str) -> Option<u32> {
    let digits = name.strip_suffix('p')?;
    if !(3..=4).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether `name` is a segment file name: `^seg_[0-9]{5}\.ts$`.
pub(super) fn valid_segment(name: &str) -> bool {
    name.strip_prefix("seg_")
        .and_then(|rest| rest.strip_suffix(".ts"))
        .is_some_and(|n| n.len() == 5 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a media URL's token and rendition: the video id and rendition it names, and the
/// viewer the token was issued to.
pub(super) fn authorize<'a>(
    state: &AppState,
    req: &'a HttpRequest,
) -> Result<(Uuid, &'a str, Arc<str>), ApiError> {
    let video = Uuid::parse_str(param(req, "video_id")).map_err(|_| file_not_found())?;
    let (cap, viewer) = media_cap(
        &state.hls_cache.tokens,
        &state.tokens,
        param(req, "media_token"),
        video,
    )?;
    let rendition = param(req, "rendition");
    let height = rendition_height(rendition).ok_or_else(file_not_found)?;
    if height > cap {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "rendition_not_allowed",
            format!("this token plays renditions up to {cap}p; {rendition} is not one of them"),
        ));
    }
    Ok((video, rendition, viewer))
}

/// Whether `viewer` may still play `video`: it exists, is ready, and is not private to someone
/// else (admins may play any). What was learned is trusted for [`PLAYABILITY_FRESH`].
pub(super) async fn still_playable(
    state: &AppState,
    video: Uuid,
    viewer: &str,
) -> Result<(), ApiError> {
    let known = state.hls_cache.videos.get(&video);
    let was_gone = matches!(
        known,
        Some(Playability {
            seen: Seen::Gone,
            ..
        })
    );
    let cached = known.filter(|p| p.at.elapsed() < PLAYABILITY_FRESH);
    let seen = match cached {
        Some(p) => p.seen,
        None => {
            let seen = match state.media.video(video).await {
                Ok(v) if v.state == VideoStatus::Ready => Seen::Ready {
                    private: v.visibility == Visibility::Private,
                    hidden: v.hidden.is_some(),
                    owner_id: v.owner_id,
                    owner: v.owner.into(),
                },
                Ok(_) => Seen::NotReady,
                Err(MediaError::Video(VideoError::NotFound)) => Seen::Gone,
                Err(e) => return Err(super::media_error(e)),
            };
            if matches!(seen, Seen::Gone) && !was_gone {
                // Deleted, perhaps through another node: its cached blobs go too.
                state.hls_cache.forget_video(video);
            }
            state.hls_cache.videos.insert(
                video,
                Playability {
                    at: Instant::now(),
                    seen: seen.clone(),
                },
            );
            seen
        }
    };
    match seen {
        Seen::Gone => Err(ApiError::not_found(
            "video_not_found",
            "the video was deleted",
        )),
        Seen::NotReady => Err(ApiError::new(
            StatusCode::CONFLICT,
            "video_not_ready",
            "the video is not ready to play",
        )),
        Seen::Ready {
            private,
            owner,
            owner_id,
            hidden,
        } => {
            if may_play(state, viewer, private, hidden, &owner, owner_id).await? {
                Ok(())
            } else {
                Err(ApiError::not_found("video_not_found", "no such video"))
            }
        }
    }
}

/// Whether the user key `viewer` may play a video of `owner` (`owner_id`) that is `private`
/// or `hidden` as said: the rule of `Moderation::may_see`, for a viewer known by user key.
/// Asks the viewer's user actor only when the answer depends on their role.
pub(super) async fn may_play(
    state: &AppState,
    viewer: &str,
    private: bool,
    hidden: bool,
    owner: &str,
    owner_id: Uuid,
) -> Result<bool, ApiError> {
    let own = owner == viewer;
    let suspended = state.moderation.is_suspended(owner_id);
    if (own || !(private || hidden)) && !suspended {
        return Ok(true);
    }
    let role = role_of(state, viewer).await?;
    let admin = role == Some(Role::Admin);
    let staff = role.is_some_and(Role::is_staff);
    Ok((!private || own || admin) && (!hidden || own || staff) && (!suspended || staff))
}

/// The role of the user key `viewer` (never an anonymous viewer's).
async fn role_of(state: &AppState, viewer: &str) -> Result<Option<Role>, ApiError> {
    if troupe_actors::playback::session::is_anonymous(viewer) {
        return Ok(None);
    }
    Ok(state.accounts.get(viewer).await?.map(|u| u.role))
}

/// The rendition cap of a media token for `video`, and its viewer: from the remembered
/// verifications when the token is there and unexpired, else verified (and then remembered).
pub(super) fn media_cap(
    remembered: &Cache<String, VerifiedMedia>,
    tokens: &Tokens,
    token: &str,
    video: Uuid,
) -> Result<(u32, Arc<str>), ApiError> {
    let now = chrono::Utc::now().timestamp();
    if let Some(v) = remembered.get(token) {
        if v.video == video && now < v.exp {
            return Ok((v.cap, v.sub));
        }
    }
    // Not remembered, expired (the check below says so) or for another video.
    let claims = tokens.verify_media(token, video)?;
    let sub: Arc<str> = claims.sub.into();
    remembered.insert(
        token.to_owned(),
        VerifiedMedia {
            video,
            cap: claims.cap,
            exp: claims.exp,
            sub: sub.clone(),
        },
    );
    Ok((claims.cap, sub))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::tokens::Tokens;

    #[test]
    fn rendition_names() {
        assert_eq!(rendition_height("720p"), Some(720));
        assert_eq!(rendition_height("1080p"), Some(1080));
        assert_eq!(rendition_height("2160p"), Some(2160));
        assert_eq!(rendition_height("240p"), Some(240));
        for bad in [
            "", "p", "72p", "10800p", "720", "720P", "720p ", " 720p", "7a0p", "..", "720p/..",
            "-720p", "+720p", "720p%2F", "720pp", "٧٢٠p",
        ] {
            assert_eq!(rendition_height(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn segment_names() {
        assert!(valid_segment("seg_00000.ts"));
        assert!(valid_segment("seg_99999.ts"));
        for bad in [
            "",
            "seg_0000.ts",
            "seg_000000.ts",
            "seg_00000.ts ",
            "seg_00000.m4s",
            "seg_00000.TS",
            "SEG_00000.ts",
            "index.m3u8",
            "..",
            "../seg_00000.ts",
            "..%2Fseg_00000.ts",
            "/etc/passwd",
            "seg_0000a.ts",
            "seg_-0000.ts",
            "seg_+0000.ts",
            "seg_00000.ts/x",
            "seg_00000.tsx",
            "xseg_00000.ts",
        ] {
            assert!(!valid_segment(bad), "{bad:?}");
        }
    }

    #[test]
    fn media_tokens_are_verified_once_and_still_expire() {
        let tokens = Tokens::new(
            b"unit-test-secret-unit-test-secret-0123",
            &crate::config::AuthConfig::default(),
        );
        let remembered = Cache::new(16);
        let video = Uuid::new_v4();
        let (_, playback) = tokens
            .sign_playback(video, 720, "viewer", None, 60)
            .unwrap();
        let media = tokens.sign_media(&playback, 3600).unwrap();
        assert_eq!(
            media_cap(&remembered, &tokens, &media, video).unwrap().0,
            720
        );
        assert_eq!(remembered.len(), 1);
        assert_eq!(
            media_cap(&remembered, &tokens, &media, video).unwrap().0,
            720
        );
        // Another video: refused, remembered or not.
        let err = media_cap(&remembered, &tokens, &media, Uuid::new_v4()).unwrap_err();
        assert_eq!(err.code, "token_wrong_video");
        // A playback token is not a media token.
        let (pb, _) = tokens
            .sign_playback(video, 720, "viewer", None, 60)
            .unwrap();
        assert_eq!(
            media_cap(&remembered, &tokens, &pb, video)
                .unwrap_err()
                .code,
            "invalid_playback_token"
        );
        // A tampered token is not the remembered string, so it is checked, and refused.
        let mut tampered = media.clone();
        tampered.pop();
        tampered.push(if media.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            media_cap(&remembered, &tokens, &tampered, video)
                .unwrap_err()
                .code,
            "invalid_playback_token"
        );
        // Expired (past the verifier's leeway): refused even though it was remembered.
        let old = tokens.sign_media(&playback, -60).unwrap();
        remembered.insert(
            old.clone(),
            VerifiedMedia {
                video,
                cap: 720,
                exp: chrono::Utc::now().timestamp() - 60,
                sub: "viewer".into(),
            },
        );
        assert_eq!(
            media_cap(&remembered, &tokens, &old, video)
                .unwrap_err()
                .code,
            "playback_token_expired"
        );
    }
}
