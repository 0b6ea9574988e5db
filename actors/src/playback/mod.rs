//! Playback: sessions (streams, plan limits, progress, history), and the counters of views,
//! likes and dislikes, with trending.
//!
//! ```text
//!  HTTP ──▶ session/<user> ──(a view qualifies)──▶ counter/<video> (writes tally/<video>.<shard>)
//!  HTTP ──▶ (rating) ─────────────────────────────▶ counter/<video> (writes tally/<video>.<shard>)
//! ```
//!
//! Calls go one way only (session → counter), so no two actors ever wait on each other. A
//! change is durable in its tally, a part the counter owns, before the counter answers; the
//! counter's own sums are written behind and rebuilt from the tallies whenever it activates.

pub mod counter;
pub mod session;
pub mod tally;

pub use crate::events::Counts;

use crate::events::EventHub;
use counter::{CounterActor, CounterAnswer, CounterArgs, CounterRequest, CounterState};
use serde::{Deserialize, Serialize};
use session::{
    Beat, HistoryPage, SessionActor, SessionArgs, SessionError, SessionRequest, SessionResponse,
    StartStream, Started,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use troupe_runtime::codec;
use troupe_runtime::{CallError, Directory, Entity, System};
use uuid::Uuid;

/// A viewer's opinion of a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    /// A like.
    Like,
    /// A dislike.
    Dislike,
    /// Neither (takes a rating back).
    None,
}

/// How playback behaves.
#[derive(Debug, Clone)]
pub struct PlaybackSettings {
    /// A stream without a heartbeat for this long has ended and frees its slot.
    pub stream_timeout: Duration,
    /// How often players should send heartbeats (told to clients).
    pub heartbeat_interval: Duration,
    /// Watched seconds after which a view counts (or half the video, when shorter).
    pub view_min_secs: f64,
    /// One view per viewer and video within this window.
    pub view_dedupe: Duration,
    /// The most watched time one gap between heartbeats may add.
    pub max_heartbeat_gap: Duration,
    /// How many videos the history keeps.
    pub history_limit: usize,
    /// Progress from heartbeats, and counters' sums (derived from the durable tallies), are
    /// written within this long.
    pub progress_flush: Duration,
    /// At most this many distinct anonymous devices from one client address count a view of
    /// one video within `view_dedupe`.
    pub anonymous_views_per_source: u32,
}

impl Default for PlaybackSettings {
    fn default() -> Self {
        Self {
            stream_timeout: Duration::from_secs(120),
            heartbeat_interval: Duration::from_secs(10),
            view_min_secs: 10.0,
            view_dedupe: Duration::from_secs(3600),
            max_heartbeat_gap: Duration::from_secs(30),
            history_limit: 500,
            progress_flush: Duration::from_secs(5),
            anonymous_views_per_source: 3,
        }
    }
}

/// This node's live streams, for the `troupe_playback_streams_active` gauge.
#[derive(Clone, Default)]
pub struct LiveStreams(Arc<Mutex<HashMap<Uuid, Instant>>>);

impl LiveStreams {
    /// A stream started or beat: live until `timeout` from now.
    pub fn beat(&self, id: Uuid, timeout: Duration) {
        self.0
            .lock()
            .expect("live lock")
            .insert(id, Instant::now() + timeout);
    }

    /// A stream ended.
    pub fn remove(&self, id: Uuid) {
        self.0.lock().expect("live lock").remove(&id);
    }

    /// Drops expired streams and counts the rest.
    pub fn count(&self) -> usize {
        let now = Instant::now();
        let mut live = self.0.lock().expect("live lock");
        live.retain(|_, until| *until > now);
        live.len()
    }
}

/// Why a playback request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlaybackError {
    /// The session actor refused.
    #[error("{0:?}")]
    Session(SessionError),
    /// An actor could not be reached.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The store could not be read.
    #[error("store: {0}")]
    Store(String),
}

/// The time window of a trending list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// The last hour.
    Hour,
    /// The last 24 hours.
    Day,
    /// The last 7 days.
    Week,
}

impl Window {
    /// Parses `1h`, `24h` or `7d`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "1h" => Some(Window::Hour),
            "24h" => Some(Window::Day),
            "7d" => Some(Window::Week),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Hour => "1h",
            Window::Day => "24h",
            Window::Week => "7d",
        }
    }

    /// The window's length in ms.
    pub fn millis(self) -> i64 {
        match self {
            Window::Hour => counter::COARSE_MS,
            Window::Day => 24 * counter::COARSE_MS,
            Window::Week => 7 * 24 * counter::COARSE_MS,
        }
    }
}

/// The playback service: sessions, counters and trending, for the HTTP layer.
#[derive(Clone)]
pub struct Playback {
    sessions: Directory<SessionActor>,
    counters: Directory<CounterActor>,
    settings: Arc<PlaybackSettings>,
    live: LiveStreams,
    system: System,
}

impl Playback {
    /// Starts the session and counter kinds on this node; count changes are announced on
    /// `events`.
    pub async fn start(
        system: &System,
        events: &EventHub,
        settings: PlaybackSettings,
    ) -> Result<Self, CallError> {
        let settings = Arc::new(settings);
        let counters = Directory::<CounterActor>::start(
            system,
            CounterArgs {
                hub: events.clone(),
                flush: settings.progress_flush,
            },
        )
        .await?;
        let live = LiveStreams::default();
        let sessions = Directory::<SessionActor>::start(
            system,
            SessionArgs {
                settings: settings.clone(),
                counters: counters.clone(),
                live: live.clone(),
            },
        )
        .await?;
        let fetch = counters.clone();
        events.set_fetch_counts(Arc::new(move |id: Uuid| {
            let counters = fetch.clone();
            Box::pin(async move {
                let a = counters
                    .call(&id.to_string(), CounterRequest::Get)
                    .await
                    .ok()?;
                Some((a.version, a.counts))
            })
        }));
        Ok(Self {
            sessions,
            counters,
            settings,
            live,
            system: system.clone(),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &PlaybackSettings {
        &self.settings
    }

    /// Streams live on this node's session actors.
    pub fn live_streams(&self) -> usize {
        self.live.count()
    }

    async fn session(
        &self,
        user_key: &str,
        req: SessionRequest,
    ) -> Result<SessionResponse, PlaybackError> {
        Ok(self.sessions.call(user_key, req).await?)
    }

    /// Starts a stream for the user `user_key`.
    pub async fn start_stream(
        &self,
        user_key: &str,
        start: StartStream,
    ) -> Result<Started, PlaybackError> {
        match self.session(user_key, SessionRequest::Start(start)).await? {
            SessionResponse::Started(r) => r.map_err(PlaybackError::Session),
            _ => Err(unexpected()),
        }
    }

    /// A heartbeat of one of `user_key`'s streams.
    pub async fn heartbeat(
        &self,
        user_key: &str,
        stream: Uuid,
        position: f64,
    ) -> Result<Beat, PlaybackError> {
        match self
            .session(user_key, SessionRequest::Heartbeat { stream, position })
            .await?
        {
            SessionResponse::Beat(r) => r.map_err(PlaybackError::Session),
            _ => Err(unexpected()),
        }
    }

    /// Ends one of `user_key`'s streams.
    pub async fn stop(&self, user_key: &str, stream: Uuid) -> Result<(), PlaybackError> {
        match self
            .session(user_key, SessionRequest::Stop { stream })
            .await?
        {
            SessionResponse::Done(r) => r.map_err(PlaybackError::Session),
            _ => Err(unexpected()),
        }
    }

    /// Whether `user_key` has a live stream `stream` of `video`.
    pub async fn alive(
        &self,
        user_key: &str,
        stream: Uuid,
        video: Uuid,
    ) -> Result<bool, PlaybackError> {
        match self
            .session(user_key, SessionRequest::Check { stream, video })
            .await?
        {
            SessionResponse::Done(r) => Ok(r.is_ok()),
            _ => Err(unexpected()),
        }
    }

    /// Ends every stream of `user_key` (durably): heartbeats and new media requests of those
    /// streams are refused through any node afterwards.
    pub async fn end_all(&self, user_key: &str) -> Result<(), PlaybackError> {
        match self.session(user_key, SessionRequest::EndAll).await? {
            SessionResponse::Done(r) => r.map_err(PlaybackError::Session),
            _ => Err(unexpected()),
        }
    }

    /// Ends every stream of `user_key` and deletes its watch history (a deleted account).
    pub async fn forget_viewer(&self, user_key: &str) -> Result<(), PlaybackError> {
        match self.session(user_key, SessionRequest::Forget).await? {
            SessionResponse::Done(r) => r.map_err(PlaybackError::Session),
            _ => Err(unexpected()),
        }
    }

    /// `user_key`'s live streams.
    pub async fn streams(&self, user_key: &str) -> Result<Vec<session::Stream>, PlaybackError> {
        match self.session(user_key, SessionRequest::Streams).await? {
            SessionResponse::Streams(s) => Ok(s),
            _ => Err(unexpected()),
        }
    }

    /// A page of `user_key`'s watch history, newest first.
    pub async fn history(
        &self,
        user_key: &str,
        limit: usize,
        before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
    ) -> Result<HistoryPage, PlaybackError> {
        match self
            .session(user_key, SessionRequest::History { limit, before })
            .await?
        {
            SessionResponse::History(p) => Ok(p),
            _ => Err(unexpected()),
        }
    }

    /// Sets `viewer`'s rating of `video` (the caller checked that the video exists and is
    /// visible); the video's counts after it.
    pub async fn rate(
        &self,
        video: Uuid,
        viewer: Uuid,
        rating: Rating,
    ) -> Result<Counts, PlaybackError> {
        let answer = self
            .counters
            .call(&video.to_string(), CounterRequest::Rate { viewer, rating })
            .await?;
        if answer.changed {
            metrics::counter!("troupe_ratings_total").increment(1);
        }
        Ok(answer.counts)
    }

    /// A video's counts and their version, from its counter.
    pub async fn counts(&self, video: Uuid) -> Result<CounterAnswer, PlaybackError> {
        Ok(self
            .counters
            .call(&video.to_string(), CounterRequest::Get)
            .await?)
    }

    /// A video's counts, their version and `viewer`'s own rating (in the answer's `rating`),
    /// from its counter.
    pub async fn counts_for(
        &self,
        video: Uuid,
        viewer: Uuid,
    ) -> Result<CounterAnswer, PlaybackError> {
        Ok(self
            .counters
            .call(&video.to_string(), CounterRequest::GetFor { viewer })
            .await?)
    }

    /// The last durable counts of several videos, without activating their counters (for
    /// listings). Missing counters count zero.
    pub async fn stored_counts(&self, videos: &[Uuid]) -> Vec<Counts> {
        let store = self.system.store();
        let reads = videos.iter().map(|id| async move {
            let key = format!("{}/{id}", CounterActor::KIND);
            match store.get(&key).await {
                Ok(Some(v)) => codec::decode::<CounterState>(CounterActor::SCHEMA, &v.value)
                    .map(|s| s.counts())
                    .unwrap_or_default(),
                _ => Counts::default(),
            }
        });
        futures::future::join_all(reads).await
    }

    /// Forgets a deleted video's counter and tallies.
    pub async fn forget(&self, video: Uuid) -> Result<(), PlaybackError> {
        self.counters
            .call(&video.to_string(), CounterRequest::Forget)
            .await?;
        Ok(())
    }
}

fn unexpected() -> PlaybackError {
    PlaybackError::Store("unexpected answer from the session actor".into())
}
