//! The daily digest: per user, the notifications whose type's email is `digest`, collected
//! until the user's hour in the user's time zone, then sent as one email grouped by type and
//! channel, only if there is something to say.
//!
//! ```text
//!  digest/<user id>   state: username, hour, zone, last sent, the next due time, the pending
//!                     items (the newest MAX_ITEMS) and the counts per (type, channel)
//!  digestq/<user id>  while something is pending: its due time (the index each node's
//!                     schedule is rebuilt from; a user with nothing pending is not in it)
//!  Schedule (per node, a heap of due times) ──▶ at most `concurrency` flushes at once:
//!      digest Flush ──▶ DigestSink::send (the mail, durably in the outbox, key
//!      digest.<user>.<due>) ──▶ items cleared, digestq entry removed
//! ```
//!
//! 100,000 users due in the same minute are flushed `concurrency` at a time: no actor or task
//! holds more than one user's digest. A crash after the mail is enqueued and before the items
//! are cleared flushes again with the same key, which the outbox stores once.

use super::values::{Notification, NotificationKind};
use crate::outbox::Schedule;
use chrono::{DateTime, TimeZone, Utc};
use futures::future::BoxFuture;
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use troupe_runtime::store::{Precondition, StateStore};
use troupe_runtime::{codec, ActorId, CallError, Directory, Entity, System};
use uuid::Uuid;

/// Items a digest keeps in full (the newest); older ones are still counted.
pub const MAX_ITEMS: usize = 200;
/// Items shown per group.
const SHOWN_PER_GROUP: usize = 5;
/// The storage prefix of the due index.
const QUEUE: &str = "digestq/";

/// One notification as a digest keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestItem {
    /// The notification id (stored once).
    pub id: String,
    /// Its type.
    pub kind: NotificationKind,
    /// The channel's handle and name, if any.
    pub channel: Option<(String, String)>,
    /// One line saying what happened.
    pub headline: String,
    /// A path on the public site (`/watch/<id>`, `/c/<handle>`).
    pub path: Option<String>,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// One line about a notification, and where it leads (a path on the public site).
pub fn describe(n: &Notification) -> (String, Option<String>) {
    let who = n.actor.as_ref().map_or("Someone", |a| a.username.as_str());
    let title = n.video.as_ref().map_or("a video", |v| v.title.as_str());
    let channel = n
        .channel
        .as_ref()
        .map_or("your channel", |c| c.display_name.as_str());
    let watch = n.video.as_ref().map(|v| format!("/watch/{}", v.id));
    match n.kind {
        NotificationKind::NewVideoFromSubscription => {
            (format!("New video on {channel}: {title}"), watch)
        }
        NotificationKind::MyVideoReady => (format!("Your video is ready: {title}"), watch),
        NotificationKind::MyVideoFailed => (
            format!(
                "Your video could not be processed: {title}{}",
                n.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            watch,
        ),
        NotificationKind::NewSubscriber => (
            format!("{who} subscribed to {channel}"),
            n.channel.as_ref().map(|c| format!("/c/{}", c.handle)),
        ),
        NotificationKind::CommentOnMyVideo => (format!("{who} commented on {title}"), watch),
        NotificationKind::ReplyToMyComment => {
            (format!("{who} replied to your comment on {title}"), watch)
        }
        NotificationKind::Mention => (format!("{who} mentioned you on {title}"), watch),
        NotificationKind::CommentHeldForReview => {
            (format!("A comment on {title} is held for review"), watch)
        }
        NotificationKind::AbuseStateChange => (
            format!(
                "Your report was {}",
                n.report.as_ref().map_or("decided", |r| r.state.as_str())
            ),
            None,
        ),
        NotificationKind::AbuseNewMessage => {
            ("A moderator wrote about your report".to_owned(), None)
        }
    }
}

/// A type's label, for group headings.
pub fn label(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::NewVideoFromSubscription => "New videos",
        NotificationKind::MyVideoReady => "Your videos ready",
        NotificationKind::MyVideoFailed => "Your videos that failed",
        NotificationKind::NewSubscriber => "New subscribers",
        NotificationKind::CommentOnMyVideo => "Comments on your videos",
        NotificationKind::ReplyToMyComment => "Replies to your comments",
        NotificationKind::Mention => "Mentions",
        NotificationKind::CommentHeldForReview => "Comments held for review",
        NotificationKind::AbuseStateChange => "Your reports",
        NotificationKind::AbuseNewMessage => "Messages about your reports",
    }
}

/// The durable state of a user's digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestState {
    /// The user's key (username), to find the address at sending time.
    pub username: Option<String>,
    /// The hour (0-23) in `zone`.
    pub hour: u8,
    /// An IANA time zone name.
    pub zone: String,
    /// When the last digest went out.
    pub last_sent: Option<DateTime<Utc>>,
    /// When the pending items are due (`None`: nothing pending).
    pub due: Option<DateTime<Utc>>,
    /// The newest items, oldest first.
    pub items: Vec<DigestItem>,
    /// Everything pending, per (type, channel handle): what the groups count.
    pub counts: BTreeMap<String, u64>,
}

impl Default for DigestState {
    fn default() -> Self {
        Self {
            username: None,
            hour: 8,
            zone: "UTC".into(),
            last_sent: None,
            due: None,
            items: Vec::new(),
            counts: BTreeMap::new(),
        }
    }
}

/// A user's digest settings, as the API shows them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DigestView {
    /// The hour (0-23) the digest goes out, in `time_zone`.
    pub digest_hour: u8,
    /// An IANA time zone name (`Europe/Paris`).
    pub time_zone: String,
    /// When the last digest went out.
    pub last_sent_at: Option<DateTime<Utc>>,
    /// When the next one is due (`null`: nothing is waiting, so none will be sent).
    pub next_due_at: Option<DateTime<Utc>>,
    /// Notifications waiting for it.
    pub pending: u64,
}

/// One group of a digest email: a type and a channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestGroup {
    /// The type's API name.
    pub kind: String,
    /// The type's label.
    pub label: String,
    /// The channel's display name, if the type has one.
    pub channel: Option<String>,
    /// How many arrived.
    pub count: u64,
    /// The newest few: `{headline, path}`.
    pub items: Vec<DigestLine>,
    /// How many more than shown.
    pub more: u64,
}

/// One line of a group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestLine {
    /// What happened.
    pub headline: String,
    /// A path on the public site.
    pub path: Option<String>,
}

/// A digest ready to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestMail {
    /// The idempotency key: `digest.<user>.<due unix seconds>`.
    pub key: String,
    /// The user.
    pub user: Uuid,
    /// The user's key (username).
    pub username: String,
    /// The groups, by type then channel.
    pub groups: Vec<DigestGroup>,
    /// Notifications in all.
    pub total: u64,
}

/// Sends a digest (renders it and enqueues it in the outbox; durable when it returns `Ok`).
pub trait DigestSink: Send + Sync + 'static {
    /// Sends `mail`. `Ok` once durably queued (or when there is no one to send it to).
    fn send(&self, mail: DigestMail) -> BoxFuture<'static, Result<(), String>>;
}

/// How digests run.
#[derive(Debug, Clone)]
pub struct DigestSettings {
    /// `Some(n)`: every digest every `n` instead of daily at the user's hour (tests).
    pub every: Option<Duration>,
    /// Flushes at once on a node.
    pub concurrency: usize,
    /// How often each node rebuilds its schedule from the store (and at start).
    pub sweep: Duration,
}

impl Default for DigestSettings {
    fn default() -> Self {
        Self {
            every: None,
            concurrency: 64,
            sweep: Duration::from_secs(30),
        }
    }
}

/// Requests to a digest. All idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum DigestRequest {
    /// Remembers the user's key (so the address can be found at sending time).
    Profile(String),
    /// Adds a notification (once per id).
    Add(Box<Notification>),
    /// Changes the hour and zone (validated by the caller).
    Set {
        /// 0-23.
        hour: u8,
        /// An IANA name.
        zone: String,
    },
    /// The settings.
    Get,
    /// The user's key, if known.
    Username,
    /// Sends what is pending if it is due.
    Flush,
}

/// Answers of a digest.
#[derive(Debug, Serialize, Deserialize)]
pub enum DigestResponse {
    /// The settings.
    View(DigestView),
    /// The user's key, if known.
    Username(Option<String>),
    /// Not due before then (a flush came early), or `None`: nothing pending.
    Due(Option<DateTime<Utc>>),
}

/// Per-kind context.
#[derive(Clone)]
pub struct DigestArgs {
    store: Arc<dyn StateStore>,
    schedule: Arc<Schedule>,
    sink: Arc<OnceLock<Arc<dyn DigestSink>>>,
    every: Option<Duration>,
}

/// The actor kind `digest`, keyed by user id.
pub struct DigestActor;

fn view(s: &DigestState) -> DigestView {
    DigestView {
        digest_hour: s.hour,
        time_zone: s.zone.clone(),
        last_sent_at: s.last_sent,
        next_due_at: s.due,
        pending: s.counts.values().sum(),
    }
}

/// The next time it is `hour`:00 in `zone` after `after`.
pub fn next_at_hour(hour: u8, zone: &str, after: DateTime<Utc>) -> DateTime<Utc> {
    let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
    let mut date = after.with_timezone(&tz).date_naive();
    for _ in 0..4 {
        let naive = date
            .and_hms_opt(u32::from(hour.min(23)), 0, 0)
            .expect("valid time");
        // In a DST gap the hour does not exist that day: the next hour instead.
        let local = tz.from_local_datetime(&naive).earliest().or_else(|| {
            tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        });
        if let Some(t) = local {
            let t = t.with_timezone(&Utc);
            if t > after {
                return t;
            }
        }
        date = date.succ_opt().unwrap_or(date);
    }
    after + chrono::Duration::days(1)
}

fn group_key(kind: NotificationKind, channel: Option<&str>) -> String {
    format!("{}|{}", kind.as_str(), channel.unwrap_or(""))
}

fn io(e: impl std::fmt::Display) -> ActorProcessingErr {
    e.to_string().into()
}

impl Entity for DigestActor {
    const KIND: &'static str = "digest";
    const SCHEMA: u8 = 1;
    type State = DigestState;
    type Request = DigestRequest;
    type Response = DigestResponse;
    type Args = DigestArgs;

    async fn handle(
        ctx: &mut Ctx,
        req: DigestRequest,
    ) -> Result<DigestResponse, ActorProcessingErr> {
        let key = ctx.key().to_owned();
        let args = ctx.args().clone();
        let mut s = ctx.state().cloned().unwrap_or_default();
        match req {
            DigestRequest::Profile(username) => {
                if s.username.as_deref() != Some(username.as_str()) {
                    s.username = Some(username);
                    ctx.save(s).await?;
                }
                Ok(DigestResponse::Username(
                    ctx.state().and_then(|s| s.username.clone()),
                ))
            }
            DigestRequest::Get => Ok(DigestResponse::View(view(&s))),
            DigestRequest::Username => Ok(DigestResponse::Username(s.username)),
            DigestRequest::Set { hour, zone } => {
                s.hour = hour;
                s.zone = zone;
                if s.due.is_some() && args.every.is_none() {
                    let due = next_at_hour(s.hour, &s.zone, Utc::now());
                    write_due(&args, &key, due).await?;
                    s.due = Some(due);
                    args.schedule.push(&key, "digest", "", due);
                }
                ctx.save(s).await?;
                Ok(DigestResponse::View(view(ctx.state().expect("saved"))))
            }
            DigestRequest::Add(n) => {
                if s.items.iter().any(|i| i.id == n.id) {
                    return Ok(DigestResponse::Due(s.due));
                }
                let (headline, path) = describe(&n);
                let channel = n
                    .channel
                    .as_ref()
                    .map(|c| (c.handle.clone(), c.display_name.clone()));
                *s.counts
                    .entry(group_key(n.kind, channel.as_ref().map(|c| c.0.as_str())))
                    .or_default() += 1;
                s.items.push(DigestItem {
                    id: n.id.clone(),
                    kind: n.kind,
                    channel,
                    headline,
                    path,
                    at: n.created_at,
                });
                if s.items.len() > MAX_ITEMS {
                    s.items.remove(0);
                }
                if s.due.is_none() {
                    let now = Utc::now();
                    let due = match args.every {
                        Some(every) => now + chrono::Duration::from_std(every).unwrap_or_default(),
                        None => next_at_hour(s.hour, &s.zone, now),
                    };
                    // The index first: a crash before the state leaves an entry the next
                    // flush finds empty and removes.
                    write_due(&args, &key, due).await?;
                    s.due = Some(due);
                    args.schedule.push(&key, "digest", "", due);
                }
                let due = s.due;
                ctx.save(s).await?;
                Ok(DigestResponse::Due(due))
            }
            DigestRequest::Flush => {
                let Some(due) = s.due else {
                    delete_due(&args, &key).await?;
                    return Ok(DigestResponse::Due(None));
                };
                if due > Utc::now() + chrono::Duration::milliseconds(50) {
                    return Ok(DigestResponse::Due(Some(due)));
                }
                let total: u64 = s.counts.values().sum();
                if total > 0 {
                    if let (Some(username), Ok(user)) = (s.username.clone(), key.parse::<Uuid>()) {
                        let sink = args
                            .sink
                            .get()
                            .cloned()
                            .ok_or("digests are not wired to email yet")?;
                        let mail = DigestMail {
                            key: format!("digest.{}.{}", user.simple(), due.timestamp()),
                            user,
                            username,
                            groups: groups(&s),
                            total,
                        };
                        sink.send(mail).await.map_err(io)?;
                        metrics::counter!("troupe_digests_sent_total").increment(1);
                    }
                }
                s.items.clear();
                s.counts.clear();
                s.due = None;
                s.last_sent = Some(Utc::now());
                ctx.save(s).await?;
                delete_due(&args, &key).await?;
                // Sent: until the next notification, nothing for it to do in memory.
                ctx.passivate();
                Ok(DigestResponse::Due(None))
            }
        }
    }
}

type Ctx = troupe_runtime::Ctx<DigestActor>;

async fn write_due(
    args: &DigestArgs,
    key: &str,
    due: DateTime<Utc>,
) -> Result<(), ActorProcessingErr> {
    let bytes = codec::encode(1, &due).map_err(io)?;
    args.store
        .put(&format!("{QUEUE}{key}"), bytes, Precondition::None)
        .await
        .map_err(io)?;
    Ok(())
}

async fn delete_due(args: &DigestArgs, key: &str) -> Result<(), ActorProcessingErr> {
    args.store
        .delete(&format!("{QUEUE}{key}"), Precondition::None)
        .await
        .map_err(io)
}

/// The groups of a digest: by type, then channel; each with its count and newest lines.
fn groups(s: &DigestState) -> Vec<DigestGroup> {
    let mut out: Vec<DigestGroup> = Vec::new();
    for (gk, count) in &s.counts {
        let (kind, handle) = gk.split_once('|').unwrap_or((gk.as_str(), ""));
        let Some(kind) = NotificationKind::parse(kind) else {
            continue;
        };
        let mine: Vec<&DigestItem> = s
            .items
            .iter()
            .rev()
            .filter(|i| i.kind == kind && i.channel.as_ref().map_or("", |c| c.0.as_str()) == handle)
            .collect();
        let channel = mine
            .first()
            .and_then(|i| i.channel.as_ref().map(|c| c.1.clone()));
        let items: Vec<DigestLine> = mine
            .iter()
            .take(SHOWN_PER_GROUP)
            .map(|i| DigestLine {
                headline: i.headline.clone(),
                path: i.path.clone(),
            })
            .collect();
        out.push(DigestGroup {
            kind: kind.as_str().to_owned(),
            label: label(kind).to_owned(),
            channel,
            count: *count,
            more: count.saturating_sub(items.len() as u64),
            items,
        });
    }
    // In the settings' order of types, then by channel.
    out.sort_by_key(|g| {
        (
            NotificationKind::ALL
                .iter()
                .position(|k| k.as_str() == g.kind)
                .unwrap_or(usize::MAX),
            g.channel.clone(),
        )
    });
    out
}

/// The digests on this node: the kind, its schedule and sweeper.
#[derive(Clone)]
pub struct Digests {
    digests: Directory<DigestActor>,
    sink: Arc<OnceLock<Arc<dyn DigestSink>>>,
    _tasks: Arc<Tasks>,
}

struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

impl Digests {
    /// Starts the `digest` kind on this node, its schedule and its sweeper.
    pub async fn start(system: &System, settings: DigestSettings) -> Result<Self, CallError> {
        let schedule = Arc::new(Schedule::new("troupe_digests_pending", 1));
        let sink: Arc<OnceLock<Arc<dyn DigestSink>>> = Arc::new(OnceLock::new());
        let digests = Directory::<DigestActor>::start(
            system,
            DigestArgs {
                store: system.store().clone(),
                schedule: schedule.clone(),
                sink: sink.clone(),
                every: settings.every,
            },
        )
        .await?;
        let runner = tokio::spawn(run(
            system.clone(),
            digests.clone(),
            schedule.clone(),
            settings.concurrency.max(1),
        ));
        let sweeper = tokio::spawn(sweep_forever(
            system.clone(),
            schedule,
            settings.sweep.max(Duration::from_secs(1)),
        ));
        Ok(Self {
            digests,
            sink,
            _tasks: Arc::new(Tasks(vec![runner, sweeper])),
        })
    }

    /// Sets where digests are sent (once, at start-up).
    pub fn set_sink(&self, sink: Arc<dyn DigestSink>) {
        let _ = self.sink.set(sink);
    }

    /// Remembers `user`'s key (username): the digest and instant mail find the address by it.
    pub async fn set_profile(&self, user: Uuid, username: &str) -> Result<(), CallError> {
        self.digests
            .call(
                &user.to_string(),
                DigestRequest::Profile(username.to_owned()),
            )
            .await
            .map(|_| ())
    }

    /// `user`'s key, if known.
    pub async fn username(&self, user: Uuid) -> Result<Option<String>, CallError> {
        match self
            .digests
            .call(&user.to_string(), DigestRequest::Username)
            .await?
        {
            DigestResponse::Username(u) => Ok(u),
            _ => Err(CallError::Unavailable("unexpected answer".into())),
        }
    }

    /// Adds a notification to `user`'s next digest (once per id).
    pub async fn add(&self, user: Uuid, n: Notification) -> Result<(), CallError> {
        self.digests
            .call(&user.to_string(), DigestRequest::Add(Box::new(n)))
            .await
            .map(|_| ())
    }

    /// `user`'s digest settings.
    pub async fn get(&self, user: Uuid) -> Result<DigestView, CallError> {
        match self
            .digests
            .call(&user.to_string(), DigestRequest::Get)
            .await?
        {
            DigestResponse::View(v) => Ok(v),
            _ => Err(CallError::Unavailable("unexpected answer".into())),
        }
    }

    /// Changes `user`'s hour and zone (validated by the caller).
    pub async fn set(&self, user: Uuid, hour: u8, zone: String) -> Result<DigestView, CallError> {
        match self
            .digests
            .call(&user.to_string(), DigestRequest::Set { hour, zone })
            .await?
        {
            DigestResponse::View(v) => Ok(v),
            _ => Err(CallError::Unavailable("unexpected answer".into())),
        }
    }
}

/// The schedule's loop: flushes due digests, at most `concurrency` at once.
async fn run(
    system: System,
    digests: Directory<DigestActor>,
    schedule: Arc<Schedule>,
    concurrency: usize,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (key, _, _) = schedule.next_due().await;
        let (system, digests, schedule) = (system.clone(), digests.clone(), schedule.clone());
        tokio::spawn(async move {
            let mut again = None;
            if system.owns(&ActorId::new(DigestActor::KIND, key.clone())) {
                match digests.call(&key, DigestRequest::Flush).await {
                    Ok(DigestResponse::Due(Some(at))) => again = Some(at),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(user = %key, error = %e, "could not send a digest; trying again in a minute");
                        again = Some(Utc::now() + chrono::Duration::seconds(60));
                    }
                }
            }
            schedule.done(&key);
            if let Some(at) = again {
                schedule.push(&key, "digest", "", at);
            }
            drop(permit);
        });
    }
}

async fn sweep_forever(system: System, schedule: Arc<Schedule>, every: Duration) {
    let first = tokio::time::Instant::now() + Duration::from_secs(1);
    let mut tick = tokio::time::interval_at(first, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut after: Option<String> = None;
        loop {
            let page = match system
                .store()
                .scan_page(QUEUE, after.as_deref(), 1_000)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "digest sweep failed; trying again next time");
                    break;
                }
            };
            let Some((last, _)) = page.last() else {
                break;
            };
            after = Some(last.clone());
            for (k, v) in page {
                let key = k[QUEUE.len()..].to_owned();
                if schedule.contains(&key)
                    || !system.owns(&ActorId::new(DigestActor::KIND, key.clone()))
                {
                    continue;
                }
                if let Ok(due) = codec::decode::<DateTime<Utc>>(1, &v.value) {
                    schedule.push(&key, "digest", "", due);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_next_digest_hour_is_in_the_users_zone() {
        // 08:00 in Paris is 07:00 UTC in winter.
        assert_eq!(
            next_at_hour(8, "Europe/Paris", at("2026-12-07T06:00:00Z")),
            at("2026-12-07T07:00:00Z")
        );
        // Past it today: tomorrow.
        assert_eq!(
            next_at_hour(8, "Europe/Paris", at("2026-12-07T07:00:00Z")),
            at("2026-12-08T07:00:00Z")
        );
        // Across a date line: 08:00 in Auckland (UTC+13 in December) is 19:00 UTC the day before.
        assert_eq!(
            next_at_hour(8, "Pacific/Auckland", at("2026-12-07T12:00:00Z")),
            at("2026-12-07T19:00:00Z")
        );
        // 02:30 does not exist in Paris on 2027-03-28 (clocks jump 02:00 -> 03:00): the hour
        // after it instead, 03:00 CEST = 01:00 UTC.
        assert_eq!(
            next_at_hour(2, "Europe/Paris", at("2027-03-27T23:00:00Z")),
            at("2027-03-28T01:00:00Z")
        );
    }

    #[test]
    fn groups_are_by_type_then_channel_with_counts_and_the_newest_lines() {
        let mut s = DigestState::default();
        for (i, (kind, ch)) in [
            (NotificationKind::NewSubscriber, "a"),
            (NotificationKind::NewSubscriber, "a"),
            (NotificationKind::NewSubscriber, "b"),
            (NotificationKind::MyVideoReady, "a"),
        ]
        .into_iter()
        .enumerate()
        {
            *s.counts.entry(group_key(kind, Some(ch))).or_default() += 1;
            s.items.push(DigestItem {
                id: format!("{i}"),
                kind,
                channel: Some((ch.to_owned(), ch.to_uppercase())),
                headline: format!("line {i}"),
                path: None,
                at: Utc::now(),
            });
        }
        let g = groups(&s);
        let got: Vec<(&str, Option<&str>, u64)> = g
            .iter()
            .map(|g| (g.kind.as_str(), g.channel.as_deref(), g.count))
            .collect();
        assert_eq!(
            got,
            vec![
                ("my_video_ready", Some("A"), 1),
                ("new_subscriber", Some("A"), 2),
                ("new_subscriber", Some("B"), 1),
            ]
        );
        // Newest first within a group.
        assert_eq!(g[1].items[0].headline, "line 1");
    }
}
