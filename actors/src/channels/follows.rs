//! The follows actor: the channels one user follows, bounded.
//!
//! A subscribe is two idempotent steps, this actor first and then the channel's subscriber
//! part (see [`super::Channels::subscribe`]): a subscribe cut short between them is repaired
//! by its retry, and the user's own list, which the feed is built from, is never behind
//! the channel's.

use super::ChannelError;
use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use troupe_runtime::{Ctx, Entity};
use uuid::Uuid;

/// The actor kind `follows`, keyed by the user id.
pub struct FollowsActor;

/// One followed channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Follow {
    /// The channel id.
    pub channel: Uuid,
    /// When the user subscribed.
    pub since: DateTime<Utc>,
}

/// The durable state: the followed channels, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FollowsState {
    /// Oldest first; no channel twice.
    pub channels: Vec<Follow>,
    /// The secret of the user's private subscription feed (`/feeds/subscriptions.atom`),
    /// once asked for; a new one replaces it.
    #[serde(default)]
    pub feed_token: Option<String>,
}

/// Requests to the follows actor. All idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FollowsRequest {
    /// Follows a channel, unless the user already follows `max`; answers whether it is new.
    Follow {
        /// The channel.
        channel: Uuid,
        /// Most channels one user may follow.
        max: u32,
    },
    /// Stops following a channel; answers whether it was followed.
    Unfollow {
        /// The channel.
        channel: Uuid,
    },
    /// The followed channels, oldest first.
    List,
    /// The feed token: the current one, or `fresh` when there is none yet or `regenerate`.
    FeedToken {
        /// The token to set (chosen by the caller, so a retry sets the same one).
        fresh: String,
        /// Replace the current one.
        regenerate: bool,
    },
}

/// Answers of the follows actor.
#[derive(Debug, Serialize, Deserialize)]
pub enum FollowsResponse {
    /// To `Follow` and `Unfollow`.
    Changed(Result<bool, ChannelError>),
    /// To `List`.
    List(Vec<Follow>),
    /// To `FeedToken`.
    Token(String),
}

impl Entity for FollowsActor {
    const KIND: &'static str = "follows";
    const SCHEMA: u8 = 1;
    type State = FollowsState;
    type Request = FollowsRequest;
    type Response = FollowsResponse;
    type Args = ();

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: FollowsRequest,
    ) -> Result<FollowsResponse, ActorProcessingErr> {
        Ok(match req {
            FollowsRequest::List => {
                FollowsResponse::List(ctx.state().map(|s| s.channels.clone()).unwrap_or_default())
            }
            FollowsRequest::Follow { channel, max } => {
                let mut s = ctx.state_mut().take().unwrap_or_default();
                let answer = if s.channels.iter().any(|f| f.channel == channel) {
                    Ok(false)
                } else if s.channels.len() >= max as usize {
                    Err(ChannelError::FollowLimit(max))
                } else {
                    s.channels.push(Follow {
                        channel,
                        since: Utc::now(),
                    });
                    Ok(true)
                };
                if answer == Ok(true) {
                    ctx.stage(s);
                } else {
                    *ctx.state_mut() = Some(s);
                }
                FollowsResponse::Changed(answer)
            }
            FollowsRequest::FeedToken { fresh, regenerate } => {
                let mut s = ctx.state_mut().take().unwrap_or_default();
                match s.feed_token.clone() {
                    Some(t) if !regenerate || t == fresh => {
                        *ctx.state_mut() = Some(s);
                        FollowsResponse::Token(t)
                    }
                    _ => {
                        s.feed_token = Some(fresh.clone());
                        ctx.stage(s);
                        FollowsResponse::Token(fresh)
                    }
                }
            }
            FollowsRequest::Unfollow { channel } => {
                let mut s = ctx.state_mut().take().unwrap_or_default();
                let before = s.channels.len();
                s.channels.retain(|f| f.channel != channel);
                let changed = s.channels.len() != before;
                if changed {
                    ctx.stage(s);
                } else {
                    *ctx.state_mut() = Some(s);
                }
                FollowsResponse::Changed(Ok(changed))
            }
        })
    }
}
