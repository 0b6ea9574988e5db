//! The fan-out actor: one new video's walk over its channel's subscribers, with a durable
//! cursor, so that every subscriber's inbox gets its `new_video_from_subscription` exactly
//! once across crashes, `kill -9` and failovers.
//!
//! ```text
//!  fanout/<channel id>.<video id>   state: the notification to deliver, the next shard, counts
//!    └── run task (not in a handler; one per activation at a time)
//!          for each window of 16 shards from next_shard:
//!            source.subscribers(channel, shard) for each  (one window's ids in memory at once)
//!            deliver to each inbox, `concurrency` at a time (retried with backoff)
//!            fanout Progress{run, from, to, counts} ──▶ the cursor moves on, durably
//! ```
//!
//! The cursor moves only after a whole window is delivered; a run that dies mid-window is
//! followed by one that delivers that window again, and the inboxes, which store an id once,
//! turn the repeats into no-ops. A run is started by `Start` (from the video), by the
//! sweeper (every node, at start and then periodically, for the unfinished fan-outs it
//! owns) and by any request to an activation without one. Progress from a run that is not
//! the activation's own (a run of a node that froze and woke up) is refused and that run
//! stops. Deliveries hold one window's subscriber ids at a time and at most `concurrency`
//! inbox calls, and the inboxes they activate count against the runtime's bound on active
//! actors (the least recently used are passivated), so memory stays bounded whatever the
//! channel's size.

use super::actor::{Delivered, InboxActor, InboxRequest, InboxResponse};
use super::values::{Notification, NotificationKind, NotifiedChannel, NotifiedUser, NotifiedVideo};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::StreamExt;
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use troupe_runtime::{codec, ActorId, Ctx, Directory, Entity, System};
use uuid::Uuid;

/// Where a fan-out reads a channel's subscribers: implemented over the channel actors.
pub trait SubscriberSource: Send + Sync + 'static {
    /// How many subscriber shards every channel has.
    fn shards(&self) -> u32;
    /// The subscribers in one shard of a channel (sorted; empty for an empty shard).
    fn subscribers(
        &self,
        channel: Uuid,
        shard: u32,
    ) -> BoxFuture<'static, Result<Vec<Uuid>, String>>;
    /// The channel as notifications show it (`None`: unknown, or it could not be read).
    fn channel(&self, channel: Uuid) -> BoxFuture<'static, Option<NotifiedChannel>>;
}

/// The actor kind `fanout`, keyed by `<channel id>.<video id>`.
pub struct FanoutActor;

/// The key of a fan-out.
pub fn key(channel: Uuid, video: Uuid) -> String {
    format!("{channel}.{video}")
}

/// The durable state of a fan-out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutState {
    /// The channel whose subscribers it walks.
    pub channel_id: Uuid,
    /// What every subscriber gets.
    pub notification: Notification,
    /// How many shards the channel has (fixed at the start).
    pub shards: u32,
    /// The first shard not yet wholly delivered: the cursor.
    pub next_shard: u32,
    /// Notifications stored by this fan-out.
    pub delivered: u64,
    /// Subscribers whose inbox already held it (a shard delivered again after a crash).
    pub duplicates: u64,
    /// Subscribers who turned this type off for the web.
    pub skipped: u64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// The run under way in this activation (memory only).
    #[serde(skip)]
    run: Option<Uuid>,
}

/// A fan-out as its channel's owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FanoutView {
    /// The video.
    pub video_id: Uuid,
    /// Its title.
    pub title: String,
    /// The channel.
    pub channel_id: Uuid,
    /// `running` or `done`.
    pub state: String,
    /// Shards wholly delivered.
    pub shards_done: u32,
    /// Shards in all.
    pub shards_total: u32,
    /// Notifications stored.
    pub delivered: u64,
    /// Subscribers who turned this type off.
    pub skipped: u64,
    /// Deliveries repeated after a crash that the inbox already held.
    pub duplicates: u64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl FanoutState {
    /// Whether every shard is delivered.
    pub fn done(&self) -> bool {
        self.next_shard >= self.shards
    }

    /// The owner's view.
    pub fn view(&self) -> FanoutView {
        FanoutView {
            video_id: self
                .notification
                .video
                .as_ref()
                .map_or(Uuid::nil(), |v| v.id),
            title: self
                .notification
                .video
                .as_ref()
                .map_or(String::new(), |v| v.title.clone()),
            channel_id: self.channel_id,
            state: if self.done() { "done" } else { "running" }.into(),
            shards_done: self.next_shard.min(self.shards),
            shards_total: self.shards,
            delivered: self.delivered,
            skipped: self.skipped,
            duplicates: self.duplicates,
            started_at: self.started_at,
            finished_at: self.finished_at,
        }
    }
}

/// What starts a fan-out: the video, its channel, and who published it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutStart {
    /// The channel.
    pub channel_id: Uuid,
    /// The video.
    pub video: NotifiedVideo,
    /// The channel as subscribers see it.
    pub channel: NotifiedChannel,
    /// The publisher.
    pub actor: NotifiedUser,
    /// When the video became ready and public.
    pub at: DateTime<Utc>,
}

/// Counts of one delivered shard.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ShardCounts {
    /// Stored.
    pub delivered: u64,
    /// Already held.
    pub duplicates: u64,
    /// Turned off.
    pub skipped: u64,
}

/// Requests to a fan-out. All idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FanoutRequest {
    /// Creates the fan-out (or finds it) and makes sure a run is under way.
    Start(FanoutStart),
    /// Makes sure a run is under way if it is unfinished (the sweeper).
    Resume,
    /// A run delivered whole shards, `from..to`.
    Progress {
        /// The run.
        run: Uuid,
        /// The first shard delivered.
        from: u32,
        /// One past the last.
        to: u32,
        /// What it did.
        counts: ShardCounts,
    },
    /// A run gave up (the store or the subscribers could not be read); the sweeper starts
    /// another later.
    Stalled {
        /// The run.
        run: Uuid,
    },
    /// The fan-out.
    Get,
}

/// Answers of a fan-out.
#[derive(Debug, Serialize, Deserialize)]
pub enum FanoutResponse {
    /// The fan-out (`None`: it does not exist).
    View(Option<FanoutView>),
    /// Whether a run's progress was taken (`false`: the run is not this activation's and
    /// must stop).
    Taken(bool),
}

/// Per-kind context of fan-outs.
#[derive(Clone)]
pub struct FanoutArgs {
    /// The inboxes.
    pub inboxes: Directory<InboxActor>,
    /// Where subscribers come from (set once channels exist).
    pub source: Arc<OnceLock<Arc<dyn SubscriberSource>>>,
    /// Deliveries under way at once, per run.
    pub concurrency: usize,
    /// The fan-outs themselves, for runs to report to (set right after the kind starts).
    pub fanouts: Arc<OnceLock<Directory<FanoutActor>>>,
}

impl Entity for FanoutActor {
    const KIND: &'static str = "fanout";
    const SCHEMA: u8 = 1;
    type State = FanoutState;
    type Request = FanoutRequest;
    type Response = FanoutResponse;
    type Args = FanoutArgs;

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: FanoutRequest,
    ) -> Result<FanoutResponse, ActorProcessingErr> {
        let response = match req {
            FanoutRequest::Start(start) => {
                if ctx.state().is_none() {
                    let shards = match ctx.args().source.get() {
                        Some(s) => s.shards(),
                        None => return Err("the fan-out started before the channels exist".into()),
                    };
                    let notification = Notification {
                        id: Notification::video_id(
                            NotificationKind::NewVideoFromSubscription,
                            start.video.id,
                        ),
                        kind: NotificationKind::NewVideoFromSubscription,
                        created_at: start.at,
                        read: false,
                        video: Some(start.video),
                        channel: Some(start.channel),
                        actor: Some(start.actor),
                        reason: None,
                        report: None,
                        comment: None,
                    };
                    let state = FanoutState {
                        channel_id: start.channel_id,
                        notification,
                        shards,
                        next_shard: 0,
                        delivered: 0,
                        duplicates: 0,
                        skipped: 0,
                        started_at: Utc::now(),
                        finished_at: None,
                        run: None,
                    };
                    // Written through: the video records that it started this only once the
                    // record exists.
                    ctx.save(state).await?;
                    metrics::counter!("troupe_fanout_started_total").increment(1);
                }
                FanoutResponse::View(ctx.state().map(FanoutState::view))
            }
            FanoutRequest::Resume | FanoutRequest::Get => {
                FanoutResponse::View(ctx.state().map(FanoutState::view))
            }
            FanoutRequest::Progress {
                run,
                from,
                to,
                counts,
            } => {
                let Some(mut s) = ctx.state().cloned() else {
                    return Ok(FanoutResponse::Taken(false));
                };
                if s.run != Some(run) {
                    return Ok(FanoutResponse::Taken(false));
                }
                if from == s.next_shard && to > from {
                    s.next_shard = to.min(s.shards);
                    s.delivered += counts.delivered;
                    s.duplicates += counts.duplicates;
                    s.skipped += counts.skipped;
                    metrics::counter!("troupe_fanout_shards_total").increment(u64::from(to - from));
                    if s.done() {
                        s.finished_at = Some(Utc::now());
                        s.run = None;
                        metrics::counter!("troupe_fanout_finished_total").increment(1);
                        let took = (Utc::now() - s.started_at).num_milliseconds() as f64 / 1e3;
                        metrics::histogram!("troupe_fanout_seconds").record(took);
                    }
                    ctx.stage(s);
                }
                return Ok(FanoutResponse::Taken(true));
            }
            FanoutRequest::Stalled { run } => {
                if let Some(s) = ctx.state_mut().as_mut() {
                    if s.run == Some(run) {
                        s.run = None;
                    }
                }
                return Ok(FanoutResponse::Taken(true));
            }
        };
        ensure_run(ctx);
        Ok(response)
    }
}

/// Starts a run if the fan-out is unfinished and this activation has none.
fn ensure_run(ctx: &mut Ctx<FanoutActor>) {
    let args = ctx.args().clone();
    let key = ctx.key().to_owned();
    let Some(s) = ctx.state_mut().as_mut() else {
        return;
    };
    if s.done() || s.run.is_some() {
        return;
    }
    let Some(fanouts) = args.fanouts.get().cloned() else {
        return;
    };
    let run = Uuid::new_v4();
    s.run = Some(run);
    let job = Run {
        run,
        key,
        channel: s.channel_id,
        notification: s.notification.clone(),
        from: s.next_shard,
        shards: s.shards,
        inboxes: args.inboxes,
        source: args.source,
        fanouts,
        concurrency: args.concurrency,
    };
    tokio::spawn(job.go());
}

/// One run of a fan-out: a task that walks the shards from the cursor.
struct Run {
    run: Uuid,
    key: String,
    channel: Uuid,
    notification: Notification,
    from: u32,
    shards: u32,
    inboxes: Directory<InboxActor>,
    source: Arc<OnceLock<Arc<dyn SubscriberSource>>>,
    fanouts: Directory<FanoutActor>,
    concurrency: usize,
}

/// Shards delivered between two moves of the cursor: one durable write per window, and a
/// crash repeats at most one window (1/16 of the subscribers).
const WINDOW: u32 = 16;

/// Backoff between attempts of one window.
const BACKOFF: [u64; 8] = [50, 100, 200, 400, 800, 1_600, 3_200, 5_000];

impl Run {
    async fn go(self) {
        metrics::gauge!("troupe_fanout_active").increment(1.0);
        let outcome = self.walk().await;
        metrics::gauge!("troupe_fanout_active").decrement(1.0);
        if let Err(e) = outcome {
            tracing::warn!(fanout = %self.key, error = %e, "fan-out run stopped; the sweeper resumes it");
            let _ = self
                .fanouts
                .call(&self.key, FanoutRequest::Stalled { run: self.run })
                .await;
        }
    }

    async fn walk(&self) -> Result<(), String> {
        // The channels may be wired a moment after the sweeper first runs.
        let source = loop {
            if let Some(s) = self.source.get() {
                break s.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut from = self.from;
        while from < self.shards {
            let to = (from + WINDOW).min(self.shards);
            let mut attempt = 0;
            let counts = loop {
                match self.window(&source, from..to).await {
                    Ok(c) => break c,
                    Err(e) if attempt < BACKOFF.len() => {
                        tracing::debug!(fanout = %self.key, from, to, error = %e, "retrying shards");
                        tokio::time::sleep(Duration::from_millis(BACKOFF[attempt])).await;
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            };
            let progress = FanoutRequest::Progress {
                run: self.run,
                from,
                to,
                counts,
            };
            match self.fanouts.call(&self.key, progress).await {
                Ok(FanoutResponse::Taken(true)) => {}
                // Another run took over (this one is a frozen node's, or its activation was
                // replaced): stop quietly.
                Ok(_) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
            from = to;
        }
        Ok(())
    }

    /// Delivers a window of shards; an error if any delivery failed (the window is then
    /// delivered again, which the inboxes that got it ignore).
    async fn window(
        &self,
        source: &Arc<dyn SubscriberSource>,
        shards: std::ops::Range<u32>,
    ) -> Result<ShardCounts, String> {
        let lists = futures::future::try_join_all(
            shards.map(|shard| source.subscribers(self.channel, shard)),
        )
        .await?;
        let users: Vec<Uuid> = lists.into_iter().flatten().collect();
        let results: Vec<Result<Delivered, String>> = futures::stream::iter(users)
            .map(|user| {
                let n = Box::new(self.notification.clone());
                let inboxes = self.inboxes.clone();
                async move {
                    match inboxes
                        .call(&user.to_string(), InboxRequest::Deliver(n))
                        .await
                    {
                        Ok(InboxResponse::Delivered(d, _)) => Ok(d),
                        Ok(_) => Err("unexpected answer from an inbox".to_owned()),
                        Err(e) => Err(e.to_string()),
                    }
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut counts = ShardCounts::default();
        let mut failed = None;
        for r in results {
            match r {
                Ok(Delivered::Stored) => counts.delivered += 1,
                Ok(Delivered::Duplicate) => counts.duplicates += 1,
                Ok(Delivered::Off) => counts.skipped += 1,
                Err(e) => failed = Some(e),
            }
        }
        let kind = NotificationKind::NewVideoFromSubscription.as_str();
        for (outcome, n) in [
            ("stored", counts.delivered),
            ("duplicate", counts.duplicates),
            ("off", counts.skipped),
        ] {
            metrics::counter!("troupe_notifications_delivered_total", "type" => kind, "outcome" => outcome)
                .increment(n);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(counts),
        }
    }
}

/// Stops the sweeper when the notifier goes.
pub(crate) struct SweeperHandle(tokio::task::JoinHandle<()>);

impl Drop for SweeperHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every `every` (the first pass at once), resumes the unfinished fan-outs this node owns:
/// after a restart, a `kill -9` or a failover, their runs died with their process.
pub(crate) fn start_sweeper(
    system: System,
    fanouts: Directory<FanoutActor>,
    every: Duration,
) -> SweeperHandle {
    SweeperHandle(tokio::spawn(async move {
        // The first pass a moment after start, once a cluster's router is in place (without
        // it this node would think it owns every fan-out).
        let first = tokio::time::Instant::now() + Duration::from_secs(1);
        let mut tick = tokio::time::interval_at(first, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sweep(&system, &fanouts).await {
                tracing::warn!(error = %e, "fan-out sweep failed; trying again next time");
            }
        }
    }))
}

async fn sweep(system: &System, fanouts: &Directory<FanoutActor>) -> Result<(), String> {
    let prefix = format!("{}/", FanoutActor::KIND);
    let mut after: Option<String> = None;
    loop {
        let page = system
            .store()
            .scan_page(&prefix, after.as_deref(), 1_000)
            .await
            .map_err(|e| e.to_string())?;
        let Some((last, _)) = page.last() else {
            return Ok(());
        };
        after = Some(last.clone());
        for (storage_key, value) in page {
            let key = storage_key[prefix.len()..].to_owned();
            let Ok(state) = codec::decode::<FanoutState>(FanoutActor::SCHEMA, &value.value) else {
                continue;
            };
            if state.done() || !system.owns(&ActorId::new(FanoutActor::KIND, key.clone())) {
                continue;
            }
            tracing::info!(fanout = %key, next_shard = state.next_shard, shards = state.shards, "resuming a fan-out");
            if let Err(e) = fanouts.call(&key, FanoutRequest::Resume).await {
                tracing::warn!(fanout = %key, error = %e, "could not resume a fan-out");
            }
        }
    }
}

/// The fan-outs of one channel, newest first, from their durable records (the newest 100).
pub(crate) async fn of_channel(system: &System, channel: Uuid) -> Result<Vec<FanoutView>, String> {
    let prefix = format!("{}/{channel}.", FanoutActor::KIND);
    let entries = system
        .store()
        .scan_prefix(&prefix)
        .await
        .map_err(|e| e.to_string())?;
    let mut views: Vec<FanoutView> = entries
        .into_iter()
        .filter_map(|(_, v)| codec::decode::<FanoutState>(FanoutActor::SCHEMA, &v.value).ok())
        .map(|s| s.view())
        .collect();
    views.sort_by_key(|v| std::cmp::Reverse(v.started_at));
    views.truncate(100);
    Ok(views)
}

/// Fan-outs read subscribers from the channel actors' `chsub` parts, a shard at a time.
impl SubscriberSource for crate::channels::Channels {
    fn shards(&self) -> u32 {
        crate::channels::SUBSCRIBER_SHARDS
    }

    fn subscribers(
        &self,
        channel: Uuid,
        shard: u32,
    ) -> BoxFuture<'static, Result<Vec<Uuid>, String>> {
        let channels = self.clone();
        Box::pin(async move {
            channels
                .subscribers(channel, shard)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn channel(&self, channel: Uuid) -> BoxFuture<'static, Option<NotifiedChannel>> {
        let channels = self.clone();
        Box::pin(async move {
            let c = channels.get(channel).await.ok()??;
            Some(NotifiedChannel {
                handle: c.handle,
                display_name: c.display_name,
            })
        })
    }
}
