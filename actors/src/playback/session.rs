//! The session actor: one viewer's playback streams, watch progress and history.
//!
//! ```text
//!  Start ──▶ stream (device, video) ──Heartbeat(position)──▶ … ──Stop──▶ gone
//!                  └──── no heartbeat for `stream_timeout` ──▶ expired (slot freed)
//! ```
//!
//! One actor per user holds every stream of that user, wherever the requests arrive, so the
//! plan's concurrent-stream limit holds across the cluster. A device has at most one stream: a
//! new start on the same device replaces it. Heartbeats measure watched time on the server
//! (wall time between heartbeats, each gap capped), and when a stream has been watched long
//! enough the actor counts a view through the video's tally and counter. Starts and stops are
//! durable before they answer; heartbeats only move soft state (position, watched time) and
//! are written behind within `progress_flush`, so a crash loses at most that much progress.
//!
//! **Anonymous viewers** (no account) get one actor per stream, keyed `anon:<session id>`
//! ([`anonymous_key`]): the random session id is their capability. Such an actor keeps its
//! stream in memory only, never writes, and keeps no history: nothing is left in the store
//! when the viewer goes, and a failover ends the stream (the player starts a new one). Its
//! views count per device (the viewer id is derived from the device id), and the video's
//! counter counts at most `anonymous_views_per_source` devices per client address.

use super::counter::CounterActor;
use super::counter::CounterAnswer;
use super::counter::{CounterRequest, ViewSource};
use super::{LiveStreams, PlaybackSettings};
use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use troupe_runtime::{Ctx, Directory, Entity};
use uuid::Uuid;

/// The actor kind `session`, keyed by the user key, or for an anonymous stream by
/// [`anonymous_key`].
pub struct SessionActor;

/// The key of an anonymous stream's session actor.
pub fn anonymous_key(session: Uuid) -> String {
    format!("anon:{session}")
}

/// Whether a session actor key is an anonymous stream's.
pub fn is_anonymous(key: &str) -> bool {
    key.starts_with("anon:")
}

/// One playback stream: a device watching a video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    /// The session id clients use.
    pub id: Uuid,
    /// The device, as the client names it.
    pub device_id: String,
    /// The video.
    pub video: Uuid,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// The last start or heartbeat.
    pub last_seen: DateTime<Utc>,
    /// The last reported position (s).
    pub position: f64,
    /// Wall time watched, measured by the server from heartbeats (s).
    pub watched_secs: f64,
    /// The video's duration (s).
    pub duration_secs: f64,
    /// Whether this stream has already counted (or tried to count) its view.
    pub view_done: bool,
    /// The tallest rendition the viewer's plan allowed at the start, in lines.
    pub max_rendition: u32,
    /// For an anonymous viewer, the client address the stream started from (views are capped
    /// per address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One video in the watch history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchEntry {
    /// The video.
    pub video: Uuid,
    /// Its title when last watched.
    pub title: String,
    /// Where the viewer stopped (s).
    pub position: f64,
    /// The video's duration (s).
    pub duration_secs: f64,
    /// When it was last watched.
    pub last_watched: DateTime<Utc>,
}

impl WatchEntry {
    /// Whether the viewer watched (nearly) to the end: into the last 5%.
    pub fn completed(&self) -> bool {
        self.duration_secs > 0.0 && self.position >= self.duration_secs * 0.95
    }

    /// Where a new stream of this video starts: the position, or 0 once completed.
    pub fn resume_position(&self) -> f64 {
        if self.completed() {
            0.0
        } else {
            self.position
        }
    }
}

/// The durable state of a viewer's sessions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionState {
    /// The user's id (views and ratings are counted per user id).
    pub user_id: Uuid,
    /// Streams, possibly expired ones not yet pruned.
    pub streams: Vec<Stream>,
    /// Watched videos, most recent first.
    pub history: Vec<WatchEntry>,
}

/// A stream to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartStream {
    /// The new session id, chosen by the caller so that a retried start is recognised.
    pub id: Uuid,
    /// The viewer's user id.
    pub user_id: Uuid,
    /// The device.
    pub device_id: String,
    /// The video.
    pub video: Uuid,
    /// Its title.
    pub title: String,
    /// Its duration (s).
    pub duration_secs: f64,
    /// The viewer's plan's concurrent-stream limit.
    pub limit: u32,
    /// The tallest rendition the plan allows, in lines.
    pub max_rendition: u32,
    /// For an anonymous viewer, the client address.
    #[serde(default)]
    pub source: Option<String>,
}

/// Requests to the session actor. All idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SessionRequest {
    /// Starts a stream (replacing the device's previous one).
    Start(StartStream),
    /// A heartbeat of a stream.
    Heartbeat {
        /// The session id.
        stream: Uuid,
        /// The player's position (s), finite and not negative (the caller checked).
        position: f64,
    },
    /// Ends a stream.
    Stop {
        /// The session id.
        stream: Uuid,
    },
    /// Whether a stream of this video is live.
    Check {
        /// The session id.
        stream: Uuid,
        /// The video it must play.
        video: Uuid,
    },
    /// The live streams.
    Streams,
    /// Ends every stream (the account's logins were revoked): a heartbeat through any node
    /// is refused afterwards.
    EndAll,
    /// Ends every stream and forgets the watch history (the account is deleted).
    Forget,
    /// A page of the watch history, newest first.
    History {
        /// At most this many.
        limit: usize,
        /// Only entries older than this (last watched, video).
        before: Option<(DateTime<Utc>, Uuid)>,
    },
}

/// Expected refusals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionError {
    /// No live stream with that id for this viewer.
    NotFound,
    /// The plan's limit is reached; these streams are live.
    Limit {
        /// The limit.
        limit: u32,
        /// The live streams.
        streams: Vec<Stream>,
    },
    /// The position is beyond the video.
    InvalidPosition(String),
}

/// A started stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Started {
    /// The stream.
    pub stream: Stream,
    /// Where to resume (s).
    pub resume_position: f64,
}

/// A heartbeat's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Beat {
    /// The stream after it.
    pub stream: Stream,
    /// Whether this heartbeat counted a view.
    pub view_counted: bool,
    /// The video's counts, when this heartbeat counted a view.
    pub counts: Option<CounterAnswer>,
}

/// A page of the history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryPage {
    /// The entries, newest first.
    pub items: Vec<WatchEntry>,
    /// Whether older entries follow.
    pub more: bool,
}

/// What the session actor answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SessionResponse {
    /// To `Start`.
    Started(Result<Started, SessionError>),
    /// To `Heartbeat`.
    Beat(Result<Beat, SessionError>),
    /// To `Stop` and `Check`.
    Done(Result<(), SessionError>),
    /// To `History`.
    History(HistoryPage),
    /// To `Streams`.
    Streams(Vec<Stream>),
}

/// Per-kind context of sessions.
#[derive(Clone)]
pub struct SessionArgs {
    /// Timing and rules.
    pub settings: Arc<PlaybackSettings>,
    /// Where views are counted: the videos' counters.
    pub counters: Directory<CounterActor>,
    /// This node's live streams, for the metric.
    pub live: LiveStreams,
}

impl SessionState {
    fn alive(
        &self,
        now: DateTime<Utc>,
        timeout: chrono::Duration,
    ) -> impl Iterator<Item = &Stream> {
        self.streams
            .iter()
            .filter(move |s| now - s.last_seen <= timeout)
    }

    /// Drops expired streams; the ids dropped.
    fn prune(&mut self, now: DateTime<Utc>, timeout: chrono::Duration) -> Vec<Uuid> {
        let (live, dead): (Vec<Stream>, Vec<Stream>) = std::mem::take(&mut self.streams)
            .into_iter()
            .partition(|s| now - s.last_seen <= timeout);
        self.streams = live;
        dead.into_iter().map(|s| s.id).collect()
    }

    /// Records where the viewer is in a video, as the newest history entry.
    fn remember(&mut self, entry: WatchEntry, limit: usize) {
        self.history.retain(|e| e.video != entry.video);
        self.history.insert(0, entry);
        self.history.truncate(limit.max(1));
    }
}

fn chrono_secs(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::milliseconds(d.as_millis().min(i64::MAX as u128) as i64)
}

impl Entity for SessionActor {
    const KIND: &'static str = "session";
    const SCHEMA: u8 = 1;
    type State = SessionState;
    type Request = SessionRequest;
    type Response = SessionResponse;
    type Args = SessionArgs;

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: SessionRequest,
    ) -> Result<SessionResponse, ActorProcessingErr> {
        let args = ctx.args().clone();
        let settings = &args.settings;
        let timeout = chrono_secs(settings.stream_timeout);
        let now = Utc::now();
        let mut state = ctx.state().cloned().unwrap_or_default();
        for id in state.prune(now, timeout) {
            args.live.remove(id);
        }
        match req {
            SessionRequest::Start(start) => {
                if let Some(s) = state.streams.iter().find(|s| s.id == start.id) {
                    // A retried start: it already happened.
                    let resume = s.position;
                    return Ok(SessionResponse::Started(Ok(Started {
                        stream: s.clone(),
                        resume_position: resume,
                    })));
                }
                // The same device: its stream is replaced and frees its slot.
                if let Some(old) = state
                    .streams
                    .iter()
                    .find(|s| s.device_id == start.device_id)
                {
                    args.live.remove(old.id);
                }
                state.streams.retain(|s| s.device_id != start.device_id);
                if state.alive(now, timeout).count() >= start.limit as usize {
                    return Ok(SessionResponse::Started(Err(SessionError::Limit {
                        limit: start.limit,
                        streams: state.alive(now, timeout).cloned().collect(),
                    })));
                }
                let resume = state
                    .history
                    .iter()
                    .find(|e| e.video == start.video)
                    .map_or(0.0, WatchEntry::resume_position);
                let stream = Stream {
                    id: start.id,
                    device_id: start.device_id,
                    video: start.video,
                    started_at: now,
                    last_seen: now,
                    position: resume,
                    watched_secs: 0.0,
                    duration_secs: start.duration_secs,
                    view_done: false,
                    max_rendition: start.max_rendition,
                    source: start.source,
                };
                state.user_id = start.user_id;
                state.streams.push(stream.clone());
                args.live.beat(stream.id, settings.stream_timeout);
                if is_anonymous(ctx.key()) {
                    // Memory only: nothing of an anonymous viewer is written.
                    *ctx.state_mut() = Some(state);
                    return Ok(SessionResponse::Started(Ok(Started {
                        stream,
                        resume_position: resume,
                    })));
                }
                state.remember(
                    WatchEntry {
                        video: start.video,
                        title: start.title,
                        position: resume,
                        duration_secs: start.duration_secs,
                        last_watched: now,
                    },
                    settings.history_limit,
                );
                ctx.stage(state);
                Ok(SessionResponse::Started(Ok(Started {
                    stream,
                    resume_position: resume,
                })))
            }
            SessionRequest::Heartbeat { stream, position } => {
                let user_id = state.user_id;
                let Some(s) = state.streams.iter_mut().find(|s| s.id == stream) else {
                    return Ok(SessionResponse::Beat(Err(SessionError::NotFound)));
                };
                let slack = 10.0_f64.max(s.duration_secs * 0.01);
                if s.duration_secs > 0.0 && position > s.duration_secs + slack {
                    return Ok(SessionResponse::Beat(Err(SessionError::InvalidPosition(
                        format!(
                            "position {position} is beyond the video's {:.1} s",
                            s.duration_secs
                        ),
                    ))));
                }
                // Watched time is the server's own clock between heartbeats, each gap capped,
                // so a client can neither claim time nor bank it by pausing its heartbeats.
                let gap = (now - s.last_seen).num_milliseconds().max(0) as f64 / 1000.0;
                s.watched_secs += gap.min(settings.max_heartbeat_gap.as_secs_f64());
                s.last_seen = now;
                s.position = position;
                let threshold = if s.duration_secs > 0.0 {
                    settings.view_min_secs.min(s.duration_secs / 2.0)
                } else {
                    settings.view_min_secs
                };
                let mut counted = None;
                if !s.view_done && s.watched_secs >= threshold {
                    let view = CounterRequest::View {
                        viewer: user_id,
                        at_ms: now.timestamp_millis(),
                        window_ms: settings.view_dedupe.as_millis() as i64,
                        source: s.source.clone().map(|address| ViewSource {
                            address,
                            cap: settings.anonymous_views_per_source,
                        }),
                    };
                    match args.counters.call(&s.video.to_string(), view).await {
                        Ok(answer) => {
                            s.view_done = true;
                            if answer.changed {
                                metrics::counter!("troupe_views_counted_total").increment(1);
                            }
                            counted = Some(answer);
                        }
                        // The next heartbeat tries again; the tally counts it once.
                        Err(e) => {
                            tracing::warn!(error = %e, video = %s.video, "could not count a view")
                        }
                    }
                }
                let s = s.clone();
                args.live.beat(s.id, settings.stream_timeout);
                if let Some(e) = state.history.iter().find(|e| e.video == s.video) {
                    let mut e = e.clone();
                    e.position = position;
                    e.last_watched = now;
                    state.remember(e, settings.history_limit);
                }
                if is_anonymous(ctx.key()) {
                    *ctx.state_mut() = Some(state);
                } else {
                    ctx.stage_soft(state, settings.progress_flush);
                }
                Ok(SessionResponse::Beat(Ok(Beat {
                    stream: s,
                    view_counted: counted.as_ref().is_some_and(|a| a.changed),
                    counts: counted,
                })))
            }
            SessionRequest::Stop { stream } => {
                if !state.streams.iter().any(|s| s.id == stream) {
                    return Ok(SessionResponse::Done(Err(SessionError::NotFound)));
                }
                state.streams.retain(|s| s.id != stream);
                args.live.remove(stream);
                if is_anonymous(ctx.key()) {
                    *ctx.state_mut() = Some(state);
                } else {
                    ctx.stage(state);
                }
                Ok(SessionResponse::Done(Ok(())))
            }
            SessionRequest::Check { stream, video } => Ok(SessionResponse::Done(
                if state
                    .alive(now, timeout)
                    .any(|s| s.id == stream && s.video == video)
                {
                    Ok(())
                } else {
                    Err(SessionError::NotFound)
                },
            )),
            SessionRequest::EndAll | SessionRequest::Forget => {
                let forget = matches!(req, SessionRequest::Forget);
                for s in &state.streams {
                    args.live.remove(s.id);
                }
                if ctx.state().is_none() || is_anonymous(ctx.key()) {
                    return Ok(SessionResponse::Done(Ok(())));
                }
                if forget {
                    if let Err(e) = ctx.remove().await {
                        return Err(Box::new(e));
                    }
                } else {
                    state.streams.clear();
                    if let Err(e) = ctx.save(state).await {
                        return Err(Box::new(e));
                    }
                }
                Ok(SessionResponse::Done(Ok(())))
            }
            SessionRequest::Streams => Ok(SessionResponse::Streams(
                state.alive(now, timeout).cloned().collect(),
            )),
            SessionRequest::History { limit, before } => {
                let mut items = state
                    .history
                    .iter()
                    .filter(|e| before.is_none_or(|b| (e.last_watched, e.video) < b))
                    .cloned();
                let page: Vec<WatchEntry> = items.by_ref().take(limit).collect();
                let more = items.next().is_some();
                Ok(SessionResponse::History(HistoryPage { items: page, more }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(position: f64, duration: f64) -> WatchEntry {
        WatchEntry {
            video: Uuid::new_v4(),
            title: String::new(),
            position,
            duration_secs: duration,
            last_watched: Utc::now(),
        }
    }

    #[test]
    fn completion_and_resume() {
        assert_eq!(entry(30.0, 600.0).resume_position(), 30.0);
        assert!(entry(590.0, 600.0).completed());
        assert!(!entry(2.0, 5.0).completed(), "short videos too");
        assert!(entry(96.0, 100.0).completed(), "within the last 5%");
        assert_eq!(entry(96.0, 100.0).resume_position(), 0.0);
        assert!(!entry(3.0, 0.0).completed(), "unknown duration");
    }

    #[test]
    fn history_keeps_one_entry_per_video_newest_first() {
        let mut s = SessionState::default();
        let (a, b) = (entry(1.0, 10.0), entry(2.0, 10.0));
        s.remember(a.clone(), 10);
        s.remember(b.clone(), 10);
        s.remember(a.clone(), 10);
        assert_eq!(
            s.history.iter().map(|e| e.video).collect::<Vec<_>>(),
            vec![a.video, b.video]
        );
        s.remember(entry(0.0, 1.0), 2);
        assert_eq!(s.history.len(), 2);
    }
}
