//! Moderation: suspended accounts, the audit log, the queue of held comments, and the one
//! rule of who may see a video.
//!
//! ```text
//!  Moderation::suspend ──▶ suspensions/all  (the durable set, with a version)
//!        every node: poller ──(Since(version), every `poll`)──▶ suspensions/all
//!                    └──▶ node-local cache ──▶ is_suspended(user)  (synchronous)
//!  Moderation::audit   ──▶ audit/log ──▶ auditpage/<n>   (append-only pages)
//!  Moderation::queue_held / held_resolved ──▶ heldqueue/all
//! ```
//!
//! The cache is loaded from the stored set when the service starts (a read, no activation),
//! then kept current by the poller, which asks the set's owner, wherever it lives, for the
//! set only when its version changed. A suspension made on this node is in this node's cache
//! before its answer; other nodes learn of it within one poll. After a failover the set's new
//! owner loads it from the shared store, so nothing acknowledged is lost.

pub mod audit;
pub mod held;
pub mod report;
pub mod suspended;

pub use audit::AuditEntry;
pub use held::HeldComment;
pub use report::{ReportMessage, ReportReason, ReportState, ReportSummary, ReportView};
pub use suspended::SuspendedAccount;

use crate::events::VideoView;
use crate::media::Viewer;
use audit::{AuditActor, AuditRequest, AuditResponse, Logged};
use held::{HeldQueueActor, HeldRequest, HeldResponse};
use report::{
    IndexRequest, IndexResponse, ReportActor, ReportIndexActor, ReportRecord, ReportRequest,
    ReportResponse,
};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use suspended::{SuspendedSet, SuspensionsActor, SuspensionsRequest, SuspensionsResponse};
use troupe_runtime::{CallError, Directory, System};
use uuid::Uuid;

/// Why a moderation call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModerationError {
    /// An actor could not be reached.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The store failed.
    #[error("state store error: {0}")]
    Store(String),
    /// An actor answered something else than asked (a different version?).
    #[error("unexpected answer from the {0} actor")]
    Unexpected(&'static str),
    /// The reporter has a pending report on this target already (its id).
    #[error("a pending report of this reporter on this target exists: {0}")]
    DuplicateReport(Uuid),
    /// No such report.
    #[error("no such report")]
    ReportNotFound,
    /// The report's thread holds the most messages it may.
    #[error("the report's thread is full")]
    ThreadFull,
}

/// How moderation behaves (`[moderation]`).
#[derive(Debug, Clone)]
pub struct ModerationSettings {
    /// How often each node asks whether the suspended set changed.
    pub poll: Duration,
}

impl Default for ModerationSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(250),
        }
    }
}

/// This node's copy of the suspended set.
#[derive(Default)]
struct Cache {
    version: Option<u64>,
    users: Arc<HashMap<Uuid, SuspendedAccount>>,
}

/// The moderation service. Cheap to clone.
#[derive(Clone)]
pub struct Moderation {
    suspensions: Directory<SuspensionsActor>,
    audit: Directory<AuditActor>,
    held: Directory<HeldQueueActor>,
    reports: Directory<ReportActor>,
    index: Directory<ReportIndexActor>,
    cache: Arc<RwLock<Cache>>,
    settings: ModerationSettings,
}

impl Moderation {
    /// Starts the moderation directories in `system` and loads the suspended set from the
    /// store (without activating it: in a cluster, its owner may be another node).
    pub async fn start(system: &System, settings: ModerationSettings) -> Result<Self, CallError> {
        let suspensions = Directory::<SuspensionsActor>::start(system, ()).await?;
        let audit = Directory::<AuditActor>::start(system, ()).await?;
        let held = Directory::<HeldQueueActor>::start(system, ()).await?;
        let reports = Directory::<ReportActor>::start(system, ()).await?;
        let index = Directory::<ReportIndexActor>::start(system, ()).await?;
        let m = Self {
            suspensions,
            audit,
            held,
            reports,
            index,
            cache: Arc::default(),
            settings,
        };
        let key = format!(
            "{}/{}",
            <SuspensionsActor as troupe_runtime::Entity>::KIND,
            suspended::KEY
        );
        match system.store().get(&key).await {
            Ok(Some(v)) => match troupe_runtime::codec::decode::<SuspendedSet>(
                <SuspensionsActor as troupe_runtime::Entity>::SCHEMA,
                &v.value,
            ) {
                Ok(set) => m.install(set),
                Err(e) => tracing::error!(error = %e, "the stored suspended set is unreadable"),
            },
            Ok(None) => m.install(SuspendedSet::default()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the suspended set yet; the poller will")
            }
        }
        Ok(m)
    }

    /// Starts this node's poller of the suspended set. Call it once the node can reach the
    /// set's owner (after joining the cluster).
    pub fn watch(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.settings.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = me.refresh().await {
                    tracing::debug!(error = %e, "suspended set poll failed; next time");
                }
            }
        })
    }

    /// Asks the set's owner for the set if it changed, and installs it.
    pub async fn refresh(&self) -> Result<(), ModerationError> {
        let known = self.cache.read().map(|c| c.version).unwrap_or(None);
        match self
            .suspensions
            .call(suspended::KEY, SuspensionsRequest::Since(known))
            .await?
        {
            SuspensionsResponse::Set(Some(set)) => {
                self.install(set);
                Ok(())
            }
            SuspensionsResponse::Set(None) => Ok(()),
            _ => Err(ModerationError::Unexpected("suspensions")),
        }
    }

    fn install(&self, set: SuspendedSet) {
        if let Ok(mut c) = self.cache.write() {
            if c.version.is_none_or(|v| v < set.version) {
                c.version = Some(set.version);
                c.users = Arc::new(set.users.into_iter().collect());
            }
        }
    }

    /// Whether `user` is suspended, as this node knows now (see the module doc).
    pub fn is_suspended(&self, user: Uuid) -> bool {
        self.cache
            .read()
            .map(|c| c.users.contains_key(&user))
            .unwrap_or(false)
    }

    /// Every suspended account's id, as this node knows now (for filters that hide them).
    pub fn suspended_ids(&self) -> Vec<Uuid> {
        self.cache
            .read()
            .map(|c| c.users.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The suspension of `user`, as this node knows now.
    pub fn suspension(&self, user: Uuid) -> Option<SuspendedAccount> {
        self.cache
            .read()
            .ok()
            .and_then(|c| c.users.get(&user).cloned())
    }

    /// Every suspended account, newest suspension first, from the set's owner.
    pub async fn suspended(&self) -> Result<Vec<SuspendedAccount>, ModerationError> {
        match self
            .suspensions
            .call(suspended::KEY, SuspensionsRequest::Since(None))
            .await?
        {
            SuspensionsResponse::Set(Some(set)) => {
                let mut all: Vec<SuspendedAccount> = set.users.values().cloned().collect();
                self.install(set);
                all.sort_by(|a, b| b.at.cmp(&a.at).then(a.username.cmp(&b.username)));
                Ok(all)
            }
            SuspensionsResponse::Set(None) => Ok(Vec::new()),
            _ => Err(ModerationError::Unexpected("suspensions")),
        }
    }

    /// Adds `account` to the suspended set (durably), and to this node's cache at once.
    pub async fn suspend(&self, account: SuspendedAccount) -> Result<(), ModerationError> {
        self.change(SuspensionsRequest::Suspend(account)).await
    }

    /// Removes `user` from the suspended set (durably), and from this node's cache at once.
    pub async fn unsuspend(&self, user: Uuid) -> Result<(), ModerationError> {
        self.change(SuspensionsRequest::Unsuspend(user)).await
    }

    async fn change(&self, req: SuspensionsRequest) -> Result<(), ModerationError> {
        match self.suspensions.call(suspended::KEY, req).await? {
            SuspensionsResponse::Version(_) => self.refresh().await,
            _ => Err(ModerationError::Unexpected("suspensions")),
        }
    }

    /// Appends `entry` to the audit log; `Ok` once it is durable.
    pub async fn audit(&self, entry: AuditEntry) -> Result<(), ModerationError> {
        let logged = Logged {
            id: Uuid::new_v4(),
            entry,
        };
        match self
            .audit
            .call(audit::KEY, AuditRequest::Append(logged))
            .await?
        {
            AuditResponse::Appended(_) => Ok(()),
            AuditResponse::Failed(e) => Err(ModerationError::Store(e)),
            _ => Err(ModerationError::Unexpected("audit")),
        }
    }

    /// Up to `limit` audit entries before position `before`, newest first, with their
    /// positions; and the position to continue from when older entries exist.
    pub async fn audit_log(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<(u64, AuditEntry)>, Option<u64>), ModerationError> {
        match self
            .audit
            .call(audit::KEY, AuditRequest::List { before, limit })
            .await?
        {
            AuditResponse::Entries(items, more) => {
                let next = if more {
                    items.last().map(|(p, _)| *p)
                } else {
                    None
                };
                Ok((items, next))
            }
            AuditResponse::Failed(e) => Err(ModerationError::Store(e)),
            _ => Err(ModerationError::Unexpected("audit")),
        }
    }

    /// Puts a held comment in the moderation queue. The comments actor calls it before it
    /// writes the held comment, so a held comment is never missing from the queue.
    pub async fn queue_held(&self, held: HeldComment) -> Result<(), ModerationError> {
        match self.held.call(held::KEY, HeldRequest::Add(held)).await? {
            HeldResponse::Done => Ok(()),
            _ => Err(ModerationError::Unexpected("heldqueue")),
        }
    }

    /// Takes a comment out of the queue once it was approved, rejected or deleted.
    pub async fn held_resolved(&self, video: Uuid, comment: &str) -> Result<(), ModerationError> {
        match self
            .held
            .call(held::KEY, HeldRequest::Remove(video, comment.to_owned()))
            .await?
        {
            HeldResponse::Done => Ok(()),
            _ => Err(ModerationError::Unexpected("heldqueue")),
        }
    }

    /// Every queued held comment, oldest first (the caller drops those no longer held).
    pub async fn held(&self) -> Result<Vec<HeldComment>, ModerationError> {
        match self.held.call(held::KEY, HeldRequest::List).await? {
            HeldResponse::Items(items) => Ok(items),
            _ => Err(ModerationError::Unexpected("heldqueue")),
        }
    }

    /// Makes a report and lists it; [`ModerationError::DuplicateReport`] when its reporter
    /// has a pending report on the same target.
    pub async fn open_report(&self, view: ReportView) -> Result<ReportView, ModerationError> {
        let reporter = view.reporter.as_ref().map(|r| r.id).unwrap_or_default();
        let summary = ReportSummary {
            id: view.id,
            reporter_id: reporter,
            target: view.target.key(),
            state: view.state,
            reason: view.reason,
            created_at: view.created_at,
        };
        let made = self
            .report_call(view.id, ReportRequest::Create(Box::new(view)))
            .await?;
        match self
            .index
            .call(report::INDEX_KEY, IndexRequest::Open(summary))
            .await?
        {
            IndexResponse::Done => Ok(made.0.view),
            IndexResponse::Duplicate(d) => Err(ModerationError::DuplicateReport(d)),
            _ => Err(ModerationError::Unexpected("reports")),
        }
    }

    async fn report_call(
        &self,
        id: Uuid,
        req: ReportRequest,
    ) -> Result<(ReportRecord, bool), ModerationError> {
        match self.reports.call(&id.to_string(), req).await? {
            ReportResponse::Report(Some(r), changed) => Ok((*r, changed)),
            ReportResponse::Report(None, _) => Err(ModerationError::ReportNotFound),
            ReportResponse::ThreadFull => Err(ModerationError::ThreadFull),
        }
    }

    /// A report and its thread.
    pub async fn report(
        &self,
        id: Uuid,
    ) -> Result<(ReportView, Vec<ReportMessage>), ModerationError> {
        let (r, _) = self.report_call(id, ReportRequest::Get).await?;
        Ok((r.view, r.thread))
    }

    /// A moderator's decision on a report; the report, and whether its state changed.
    pub async fn decide_report(
        &self,
        id: Uuid,
        state: ReportState,
        note: Option<String>,
    ) -> Result<(ReportView, bool), ModerationError> {
        let before = self.report(id).await?.0.state;
        let (r, _) = self
            .report_call(id, ReportRequest::Decide { state, note })
            .await?;
        match self
            .index
            .call(report::INDEX_KEY, IndexRequest::SetState(id, r.view.state))
            .await?
        {
            IndexResponse::Done => Ok((r.view.clone(), before != r.view.state)),
            _ => Err(ModerationError::Unexpected("reports")),
        }
    }

    /// Adds a message to a report's thread (once per message id).
    pub async fn post_report_message(
        &self,
        id: Uuid,
        message: ReportMessage,
    ) -> Result<ReportView, ModerationError> {
        Ok(self
            .report_call(id, ReportRequest::Post(message))
            .await?
            .0
            .view)
    }

    /// Every listed report, oldest first, as the index last heard of it.
    pub async fn report_index(&self) -> Result<Vec<ReportSummary>, ModerationError> {
        match self
            .index
            .call(report::INDEX_KEY, IndexRequest::List)
            .await?
        {
            IndexResponse::Items(items) => Ok(items),
            _ => Err(ModerationError::Unexpected("reports")),
        }
    }

    /// **The** rule of who may see (and play, and list) a video: [`Viewer::may_see`] (private
    /// videos, hidden videos), and a suspended owner's videos only for staff.
    pub fn may_see(&self, viewer: Option<Viewer>, v: &VideoView) -> bool {
        Viewer::may_see(viewer, v)
            && (viewer.is_some_and(|w| w.staff()) || !self.is_suspended(v.owner_id))
    }
}
