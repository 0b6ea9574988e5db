//! The inbox actor: one user's notifications (a bounded history, newest kept), which of them
//! are read, and the user's per-type settings.
//!
//! ```text
//!  inbox/<user id>                       state: settings, the index of held notifications
//!    │                                   (id hash, sequence number, read, type) and the
//!    │                                   newest page of notifications (up to PAGE)
//!    └── inboxpage/<user id>.<slot>      parts: older pages, sealed and never rewritten,
//!                                        in a ring of `slots` (fixed when the inbox is made)
//! ```
//!
//! A delivery writes the state alone (index and newest page); every [`PAGE`]th seals the
//! page into the ring, overwriting the page that fell out of the history. Marking read
//! changes the index only, so it never rewrites a page. A notification id is stored once:
//! a second delivery of an id the inbox still holds changes nothing (the fan-out and the
//! video's follow-ups rely on it after a crash). Notifications whose type the user turned off
//! for the web are not stored at all.

use super::hub::{Live, NotificationHub};
use super::values::{
    EmailMode, Notification, NotificationKind, NotificationSettings, SettingChange,
};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use troupe_runtime::{Ctx, Entity, Part};

/// Notifications per page: the newest page lives in the state, older ones are parts.
pub const PAGE: u64 = 64;
/// How many of the newest notifications a live event or a snapshot carries.
const RECENT: usize = 16;

/// The actor kind `inbox`, keyed by the user id.
pub struct InboxActor;

/// One held notification in the index: (hash of its id, sequence number, read, type).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Held(u64, u64, bool, NotificationKind);

/// A stored notification with its sequence number (the order of arrival in this inbox).
pub type Numbered = (u64, Notification);

/// The durable state of an inbox.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InboxState {
    /// Bumped on every change, so that live watchers can tell what is new.
    pub version: u64,
    /// The sequence number the next notification gets.
    pub next_seq: u64,
    /// The ring of sealed pages has this many slots; fixed when the inbox is made, from the
    /// history configured then (so a changed setting never misreads stored pages).
    pub slots: u64,
    /// Per-type settings.
    pub settings: NotificationSettings,
    /// The notifications held (within the history), oldest first.
    held: VecDeque<Held>,
    /// The newest page's notifications, oldest first.
    head: Vec<Numbered>,
    /// Sealed pages read by this activation, by page number (memory only).
    #[serde(skip)]
    pages: HashMap<u64, Arc<Vec<Numbered>>>,
}

impl InboxState {
    /// Unread notifications held.
    pub fn unread(&self) -> u64 {
        self.held.iter().filter(|h| !h.2).count() as u64
    }

    /// How many notifications this inbox keeps: the configured history, within what its ring
    /// can hold.
    fn keep(&self, history: u64) -> u64 {
        history.min(self.slots.saturating_sub(1) * PAGE).max(1)
    }

    /// What live watchers see now.
    fn live(&self) -> Live {
        let from = self.head.len().saturating_sub(RECENT);
        Live {
            version: self.version,
            unread: self.unread(),
            recent: self.head[from..]
                .iter()
                .map(|(seq, n)| (*seq, with_read(n, self.is_read(*seq))))
                .collect(),
        }
    }

    fn is_read(&self, seq: u64) -> bool {
        // `held` is in sequence order.
        match self.held.binary_search_by_key(&seq, |h| h.1) {
            Ok(i) => self.held[i].2,
            Err(_) => true,
        }
    }
}

fn with_read(n: &Notification, read: bool) -> Notification {
    let mut n = n.clone();
    n.read = read;
    n
}

/// A sealed page of notifications, stored as a part in one slot of the ring.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxPage {
    /// The page number (a slot is reused by later pages; an older one found there is stale).
    pub page: u64,
    /// Its notifications, oldest first.
    pub items: Vec<Numbered>,
}

impl Part for InboxPage {
    const KIND: &'static str = "inboxpage";
    const SCHEMA: u8 = 1;
}

/// FNV-1a: a stable 64-bit hash of a notification id (the index stores hashes, not ids).
fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Requests to an inbox. All idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum InboxRequest {
    /// Stores a notification, unless its id is held already or its type is off for the web.
    Deliver(Box<Notification>),
    /// A page of notifications, newest first.
    List {
        /// Only unread ones.
        unread_only: bool,
        /// Only this type.
        kind: Option<NotificationKind>,
        /// Only those older than this sequence number (a cursor).
        before: Option<u64>,
        /// At most this many.
        limit: usize,
    },
    /// The unread count.
    Unread,
    /// Marks these ids read; ids the inbox does not hold are ignored.
    MarkRead(Vec<String>),
    /// Marks everything read.
    MarkAllRead,
    /// The settings.
    Settings,
    /// Changes settings.
    SetSettings(Vec<SettingChange>),
    /// What live watchers on another node need: the version, the unread count and the
    /// newest notifications.
    Live,
}

/// What a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivered {
    /// Stored now.
    Stored,
    /// The inbox already held that id.
    Duplicate,
    /// The user turned that type off for the web: not stored.
    Off,
}

/// A page of notifications.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxPageView {
    /// The notifications, newest first.
    pub items: Vec<Notification>,
    /// The cursor of the next page (a sequence number), if more follow.
    pub next: Option<u64>,
    /// Unread notifications in the whole inbox.
    pub unread: u64,
}

/// Answers of the inbox actor.
#[derive(Debug, Serialize, Deserialize)]
pub enum InboxResponse {
    /// What a delivery did, and the unread count after it.
    Delivered(Delivered, u64),
    /// A page.
    Page(InboxPageView),
    /// The unread count.
    Unread(u64),
    /// The settings.
    Settings(NotificationSettings),
    /// What live watchers need.
    Live(Live),
}

/// Per-kind context of inboxes.
#[derive(Clone)]
pub struct InboxArgs {
    /// Where new notifications and unread counts are announced on this node.
    pub hub: NotificationHub,
    /// How many notifications an inbox keeps (`notifications.history`).
    pub history: u64,
    /// How notifications become email (set once email is wired).
    pub mail: Arc<std::sync::OnceLock<Arc<dyn super::NotificationMail>>>,
}

impl Entity for InboxActor {
    const KIND: &'static str = "inbox";
    const SCHEMA: u8 = 1;
    type State = InboxState;
    type Request = InboxRequest;
    type Response = InboxResponse;
    type Args = InboxArgs;

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: InboxRequest,
    ) -> Result<InboxResponse, ActorProcessingErr> {
        let history = ctx.args().history.max(1);
        Ok(match req {
            InboxRequest::Deliver(n) => deliver(ctx, *n, history).await?,
            InboxRequest::List {
                unread_only,
                kind,
                before,
                limit,
            } => InboxResponse::Page(list(ctx, unread_only, kind, before, limit).await?),
            InboxRequest::Unread => {
                InboxResponse::Unread(ctx.state().map_or(0, InboxState::unread))
            }
            InboxRequest::MarkRead(ids) => {
                let hashes: std::collections::HashSet<u64> =
                    ids.iter().map(|i| id_hash(i)).collect();
                mark(ctx, |h| hashes.contains(&h.0))
            }
            InboxRequest::MarkAllRead => mark(ctx, |_| true),
            InboxRequest::Settings => {
                InboxResponse::Settings(ctx.state().map(|s| s.settings).unwrap_or_default())
            }
            InboxRequest::SetSettings(changes) => {
                let mut s = ctx.state().cloned().unwrap_or_else(|| new_state(history));
                let before = s.settings;
                for c in changes {
                    let t = s.settings.of_mut(c.kind);
                    if let Some(web) = c.web {
                        t.web = web;
                    }
                    if let Some(email) = c.email {
                        t.email = email;
                    }
                }
                let settings = s.settings;
                if settings != before {
                    s.version += 1;
                    ctx.stage(s);
                }
                InboxResponse::Settings(settings)
            }
            InboxRequest::Live => InboxResponse::Live(
                ctx.state()
                    .map(InboxState::live)
                    .unwrap_or_else(Live::empty),
            ),
        })
    }

    /// What live watchers on this node read without a call (a [`Live`]).
    fn snapshot(state: Option<&InboxState>) -> Option<troupe_runtime::Snapshot> {
        let live = state.map(InboxState::live).unwrap_or_else(Live::empty);
        Some(Arc::new(live))
    }
}

fn new_state(history: u64) -> InboxState {
    InboxState {
        slots: history.div_ceil(PAGE) + 1,
        ..InboxState::default()
    }
}

/// The storage key of a slot of `user`'s ring.
fn slot_key(user: &str, slot: u64) -> String {
    format!("{user}.{slot}")
}

async fn deliver(
    ctx: &mut Ctx<InboxActor>,
    mut n: Notification,
    history: u64,
) -> Result<InboxResponse, ActorProcessingErr> {
    let hash = id_hash(&n.id);
    let mut s = match ctx.state_mut().take() {
        Some(s) => s,
        None => new_state(history),
    };
    if s.held.iter().any(|h| h.0 == hash) {
        let unread = s.unread();
        // Put back unchanged (a new inbox is not written for a duplicate: it cannot be one).
        *ctx.state_mut() = Some(s);
        return Ok(InboxResponse::Delivered(Delivered::Duplicate, unread));
    }
    let setting = s.settings.of(n.kind);
    if setting.email != EmailMode::Off {
        // The email first (durably queued, idempotent per id): if it fails, nothing is
        // stored and the caller's retry does both.
        if let Some(mail) = ctx.args().mail.get().cloned() {
            let user = ctx.key().parse::<uuid::Uuid>();
            if let Ok(user) = user {
                if let Err(e) = mail.notify(user, n.clone(), setting.email).await {
                    *ctx.state_mut() = Some(s);
                    return Err(e.into());
                }
            }
        }
    }
    if !setting.web {
        let unread = s.unread();
        *ctx.state_mut() = Some(s);
        return Ok(InboxResponse::Delivered(Delivered::Off, unread));
    }
    let seq = s.next_seq;
    // The newest page is full: seal it into its slot of the ring (overwriting a page that
    // fell out of the history long ago), and start a new one.
    if let Some((first, _)) = s.head.first() {
        let page = first / PAGE;
        if page != seq / PAGE {
            let key = slot_key(ctx.key(), page % s.slots.max(1));
            // Read first, so the write is conditional on the slot's current version.
            if let Err(e) = ctx
                .load_parts::<InboxPage>(std::slice::from_ref(&key))
                .await
            {
                *ctx.state_mut() = Some(s);
                return Err(e.into());
            }
            let items = std::mem::take(&mut s.head);
            let sealed = InboxPage { page, items };
            ctx.stage_part(&key, &sealed);
            s.pages.insert(page, Arc::new(sealed.items));
        }
    }
    n.read = false;
    s.head.push((seq, n.clone()));
    s.held.push_back(Held(hash, seq, false, n.kind));
    s.next_seq += 1;
    let keep = s.keep(history);
    let oldest = s.next_seq.saturating_sub(keep);
    while s.held.front().is_some_and(|h| h.1 < oldest) {
        s.held.pop_front();
    }
    let oldest_page = oldest / PAGE;
    s.pages.retain(|p, _| *p >= oldest_page);
    s.version += 1;
    let unread = s.unread();
    announce(ctx, &s);
    ctx.stage(s);
    Ok(InboxResponse::Delivered(Delivered::Stored, unread))
}

/// Announces the inbox as it is now to this node's live watchers, once it is durable.
fn announce(ctx: &mut Ctx<InboxActor>, s: &InboxState) {
    let (hub, live, user) = (ctx.args().hub.clone(), s.live(), ctx.key().to_owned());
    ctx.after_durable(move || {
        if let Ok(user) = user.parse() {
            hub.publish(user, &live);
        }
    });
}

fn mark(ctx: &mut Ctx<InboxActor>, pick: impl Fn(&Held) -> bool) -> InboxResponse {
    let Some(mut s) = ctx.state_mut().take() else {
        return InboxResponse::Unread(0);
    };
    let mut changed = false;
    for h in s.held.iter_mut() {
        if !h.2 && pick(h) {
            h.2 = true;
            changed = true;
        }
    }
    let unread = s.unread();
    if changed {
        s.version += 1;
        announce(ctx, &s);
        ctx.stage(s);
    } else {
        *ctx.state_mut() = Some(s);
    }
    InboxResponse::Unread(unread)
}

async fn list(
    ctx: &mut Ctx<InboxActor>,
    unread_only: bool,
    kind: Option<NotificationKind>,
    before: Option<u64>,
    limit: usize,
) -> Result<InboxPageView, ActorProcessingErr> {
    let Some(s) = ctx.state() else {
        return Ok(InboxPageView {
            items: Vec::new(),
            next: None,
            unread: 0,
        });
    };
    let limit = limit.max(1);
    let picked: Vec<Held> = s
        .held
        .iter()
        .rev()
        .filter(|h| before.is_none_or(|b| h.1 < b))
        .filter(|h| !unread_only || !h.2)
        .filter(|h| kind.is_none_or(|k| h.3 == k))
        .take(limit + 1)
        .copied()
        .collect();
    let more = picked.len() > limit;
    let picked = &picked[..picked.len().min(limit)];
    let head_page = s.head.first().map(|(seq, _)| seq / PAGE);
    let (slots, unread) = (s.slots.max(1), s.unread());
    // The sealed pages this page of results needs and this activation has not read yet.
    let mut missing: Vec<u64> = picked
        .iter()
        .map(|h| h.1 / PAGE)
        .filter(|p| Some(*p) != head_page && !s.pages.contains_key(p))
        .collect();
    missing.dedup();
    if !missing.is_empty() {
        let keys: Vec<String> = missing
            .iter()
            .map(|p| slot_key(ctx.key(), p % slots))
            .collect();
        let loaded = ctx.load_parts::<InboxPage>(&keys).await?;
        let s = ctx.state_mut().as_mut().expect("checked above");
        for (want, page) in missing.iter().zip(loaded) {
            // A slot holding another page: the one wanted was overwritten (out of history).
            let items = page
                .filter(|p| p.page == *want)
                .map(|p| p.items)
                .unwrap_or_default();
            s.pages.insert(*want, Arc::new(items));
        }
    }
    let s = ctx.state().expect("checked above");
    let find = |seq: u64| -> Option<&Notification> {
        let page = seq / PAGE;
        let items: &[Numbered] = if Some(page) == head_page {
            &s.head
        } else {
            s.pages.get(&page)?
        };
        items
            .binary_search_by_key(&seq, |(q, _)| *q)
            .ok()
            .map(|i| &items[i].1)
    };
    let items: Vec<Notification> = picked
        .iter()
        .filter_map(|h| find(h.1).map(|n| with_read(n, h.2)))
        .collect();
    Ok(InboxPageView {
        next: if more {
            picked.last().map(|h| h.1)
        } else {
            None
        },
        items,
        unread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_hash_stably() {
        // Stored hashes must never change between builds.
        assert_eq!(id_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(id_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(id_hash("my_video_ready:1"), id_hash("my_video_ready:2"));
    }

    #[test]
    fn a_ring_holds_the_history() {
        let s = new_state(1_000);
        assert_eq!(s.slots, 17);
        assert_eq!(s.keep(1_000), 1_000);
        // A history raised later is clamped to what the ring holds.
        assert_eq!(s.keep(5_000), 16 * PAGE);
    }
}
