//! The webhook actor (`webhook/<endpoint id>`): one endpoint's URL, secrets (two during a
//! rotation), event filter and state, and its delivery log as parts.
//!
//! The log is a ring of [`LOG_PAGES`] parts `whlog/<id>.<slot>` of [`LOG_PAGE`] attempts
//! each: recording an attempt writes the small state and one page, never the whole log, and
//! the newest `LOG_PAGES × LOG_PAGE` attempts are kept.

use super::values::{
    AttemptOutcome, DeliveryAttempt, EndpointState, EndpointView, EventType, Scope,
};
use chrono::{DateTime, Utc};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use troupe_runtime::{Ctx, Entity, Part};
use uuid::Uuid;

/// Attempts per log page.
pub const LOG_PAGE: u64 = 32;
/// Pages in the ring: the log keeps the newest `LOG_PAGES × LOG_PAGE` attempts.
pub const LOG_PAGES: u64 = 8;

/// The actor kind `webhook`, keyed by the endpoint id.
pub struct WebhookActor;

/// A signing secret (`whsec_…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Secret {
    /// `whsec_` and the base64 of the key's bytes.
    pub value: String,
    /// When it stops signing (the previous secret during a rotation); `None`: the current one.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who owns an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// `user`: events on this user's videos and channels; `instance`: every event.
    pub scope: Scope,
    /// The user's id (the admin's, for an instance endpoint).
    pub user_id: Uuid,
    /// The user's key (normalised username), to find their address.
    pub username: String,
}

impl Owner {
    /// The key of the index that lists this owner's endpoints.
    pub fn index_key(&self) -> String {
        match self.scope {
            Scope::User => self.user_id.to_string(),
            Scope::Instance => super::INSTANCE.to_owned(),
        }
    }
}

/// The durable state of an endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookState {
    /// The id (also the key).
    pub id: Uuid,
    /// Whose it is.
    pub owner: Owner,
    /// Where events go.
    pub url: String,
    /// The owner's note.
    pub description: String,
    /// Which events it receives.
    pub events: Vec<EventType>,
    /// Enabled or disabled.
    pub state: EndpointState,
    /// Why it was disabled (not by its owner).
    pub disabled_reason: Option<String>,
    /// The current secret first, then the previous one while it still signs.
    pub secrets: Vec<Secret>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Since when every attempt failed; cleared by a success.
    pub failing_since: Option<DateTime<Utc>>,
    /// The sequence number of the next log entry.
    pub log_next: u64,
    /// The log's pages, once this activation read them (memory only).
    #[serde(skip)]
    pub log: Option<Vec<LogPage>>,
}

/// One page of the delivery log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogPage {
    /// Its page number (`seq / LOG_PAGE`): a slot holding an older page is overwritten.
    pub page: u64,
    /// Its attempts, oldest first.
    pub entries: Vec<DeliveryAttempt>,
}

impl Part for LogPage {
    const KIND: &'static str = "whlog";
    const SCHEMA: u8 = 1;
}

impl WebhookState {
    /// The secrets that sign now (the current one, and the previous one within its overlap).
    pub fn signing(&self, now: DateTime<Utc>) -> Vec<String> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|e| e > now))
            .map(|s| s.value.clone())
            .collect()
    }

    /// The API view.
    pub fn view(&self) -> EndpointView {
        let now = Utc::now();
        EndpointView {
            id: self.id,
            url: self.url.clone(),
            description: self.description.clone(),
            events: self.events.clone(),
            scope: self.owner.scope,
            state: self.state,
            disabled_reason: self.disabled_reason.clone(),
            owner: self.owner.username.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            failing_since: self.failing_since,
            previous_secret_expires_at: self
                .secrets
                .iter()
                .filter_map(|s| s.expires_at)
                .find(|e| *e > now),
        }
    }
}

/// A new endpoint, validated by the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewEndpoint {
    /// Chosen by the caller, so a retried creation finds its endpoint.
    pub id: Uuid,
    /// Whose.
    pub owner: Owner,
    /// The URL (vetted by the caller).
    pub url: String,
    /// The note.
    pub description: String,
    /// The events.
    pub events: Vec<EventType>,
    /// The first secret (chosen by the caller, for the same reason as the id).
    pub secret: String,
}

/// A change, validated by the caller; `None` leaves a field alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EndpointPatch {
    /// A new URL.
    pub url: Option<String>,
    /// A new note.
    pub description: Option<String>,
    /// New events.
    pub events: Option<Vec<EventType>>,
    /// Enable or disable.
    pub state: Option<EndpointState>,
}

/// What a delivery needs to know of its endpoint at each attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    /// The URL.
    pub url: String,
    /// The secrets that sign now.
    pub secrets: Vec<String>,
    /// Whether it receives events.
    pub state: EndpointState,
    /// Whose.
    pub owner: Owner,
}

/// What recording an attempt did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    /// The endpoint was disabled by this attempt (a 410, or failing for too long): why.
    pub disabled: Option<String>,
    /// The endpoint after it.
    pub endpoint: EndpointView,
    /// Whose it is (to tell them).
    pub owner: Owner,
}

/// Requests to the webhook actor. All idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WebhookRequest {
    /// Creates the endpoint.
    Create(NewEndpoint),
    /// The endpoint.
    Get,
    /// What a delivery needs.
    Target,
    /// Changes it.
    Update(EndpointPatch),
    /// Makes `secret` the current one; the current one signs until `previous_until`.
    Rotate {
        /// The new secret (chosen by the caller).
        secret: String,
        /// When the previous one stops signing.
        previous_until: DateTime<Utc>,
    },
    /// Records an attempt in the log (at most once per delivery and attempt number), and
    /// disables the endpoint on a 410 (`gone`) or when it has failed for `disable_after_secs`.
    Record {
        /// The attempt.
        entry: DeliveryAttempt,
        /// The answer was a 410.
        gone: bool,
        /// How long failing disables it.
        disable_after_secs: u64,
    },
    /// The log, newest first: at most `limit` attempts with `seq` below `before`.
    Log {
        /// Page below this sequence number.
        before: Option<u64>,
        /// At most this many.
        limit: usize,
    },
    /// Deletes the endpoint and its log.
    Delete,
}

/// Why a webhook request failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum WebhookError {
    /// No such endpoint.
    #[error("no such webhook")]
    NotFound,
    /// The id is taken by another owner's endpoint.
    #[error("that webhook id is taken")]
    Taken,
    /// The store failed.
    #[error("state store error: {0}")]
    Store(String),
}

/// Answers of the webhook actor.
#[derive(Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum WebhookResponse {
    /// The endpoint after the request.
    Endpoint(Result<EndpointView, WebhookError>),
    /// To `Target`.
    Target(Result<Target, WebhookError>),
    /// To `Record`.
    Recorded(Result<Recorded, WebhookError>),
    /// To `Log`.
    Log(Result<Vec<DeliveryAttempt>, WebhookError>),
    /// To `Delete`: whose it was, if it existed.
    Deleted(Result<Option<Owner>, WebhookError>),
}

fn slot_key(id: &str, slot: u64) -> String {
    format!("{id}.{slot}")
}

/// Reads the log's pages into memory, once per activation.
async fn load_log(ctx: &mut Ctx<WebhookActor>) -> Result<(), ActorProcessingErr> {
    if ctx.state().is_none_or(|s| s.log.is_some()) {
        return Ok(());
    }
    let keys: Vec<String> = (0..LOG_PAGES).map(|i| slot_key(ctx.key(), i)).collect();
    let pages = ctx.load_parts::<LogPage>(&keys).await?;
    if let Some(s) = ctx.state_mut().as_mut() {
        s.log = Some(pages.into_iter().map(Option::unwrap_or_default).collect());
    }
    Ok(())
}

impl Entity for WebhookActor {
    const KIND: &'static str = "webhook";
    const SCHEMA: u8 = 1;
    type State = WebhookState;
    type Request = WebhookRequest;
    type Response = WebhookResponse;
    type Args = ();

    async fn handle(
        ctx: &mut Ctx<Self>,
        req: WebhookRequest,
    ) -> Result<WebhookResponse, ActorProcessingErr> {
        let now = Utc::now();
        Ok(match req {
            WebhookRequest::Create(new) => WebhookResponse::Endpoint(match ctx.state() {
                Some(s) if s.owner == new.owner => Ok(s.view()),
                Some(_) => Err(WebhookError::Taken),
                None => {
                    let s = WebhookState {
                        id: new.id,
                        owner: new.owner,
                        url: new.url,
                        description: new.description,
                        events: new.events,
                        state: EndpointState::Enabled,
                        disabled_reason: None,
                        secrets: vec![Secret {
                            value: new.secret,
                            expires_at: None,
                        }],
                        created_at: now,
                        updated_at: now,
                        failing_since: None,
                        log_next: 0,
                        log: Some(vec![LogPage::default(); LOG_PAGES as usize]),
                    };
                    let view = s.view();
                    ctx.save(s)
                        .await
                        .map(|()| view)
                        .map_err(|e| WebhookError::Store(e.to_string()))
                }
            }),
            WebhookRequest::Get => WebhookResponse::Endpoint(
                ctx.state().map(|s| s.view()).ok_or(WebhookError::NotFound),
            ),
            WebhookRequest::Target => {
                WebhookResponse::Target(ctx.state().ok_or(WebhookError::NotFound).map(|s| Target {
                    url: s.url.clone(),
                    secrets: s.signing(now),
                    state: s.state,
                    owner: s.owner.clone(),
                }))
            }
            WebhookRequest::Update(p) => {
                let Some(mut s) = ctx.state_mut().take() else {
                    return Ok(WebhookResponse::Endpoint(Err(WebhookError::NotFound)));
                };
                if let Some(u) = p.url {
                    s.url = u;
                }
                if let Some(d) = p.description {
                    s.description = d;
                }
                if let Some(e) = p.events {
                    s.events = e;
                }
                if let Some(st) = p.state {
                    if st != s.state {
                        s.state = st;
                        s.disabled_reason = None;
                        s.failing_since = None;
                    }
                }
                s.updated_at = now;
                let view = s.view();
                ctx.stage(s);
                WebhookResponse::Endpoint(Ok(view))
            }
            WebhookRequest::Rotate {
                secret,
                previous_until,
            } => {
                let Some(mut s) = ctx.state_mut().take() else {
                    return Ok(WebhookResponse::Endpoint(Err(WebhookError::NotFound)));
                };
                if s.secrets.first().is_some_and(|c| c.value == secret) {
                    // A retried rotation.
                    let view = s.view();
                    *ctx.state_mut() = Some(s);
                    return Ok(WebhookResponse::Endpoint(Ok(view)));
                }
                let previous = s.secrets.first().cloned();
                s.secrets = vec![Secret {
                    value: secret,
                    expires_at: None,
                }];
                if let Some(mut p) = previous {
                    p.expires_at = Some(previous_until);
                    s.secrets.push(p);
                }
                s.updated_at = now;
                let view = s.view();
                ctx.stage(s);
                WebhookResponse::Endpoint(Ok(view))
            }
            WebhookRequest::Record {
                entry,
                gone,
                disable_after_secs,
            } => {
                load_log(ctx).await?;
                let Some(mut s) = ctx.state_mut().take() else {
                    return Ok(WebhookResponse::Recorded(Err(WebhookError::NotFound)));
                };
                let mut log = s.log.take().unwrap_or_default();
                let seen = log
                    .iter()
                    .flat_map(|p| &p.entries)
                    .any(|e| e.delivery_id == entry.delivery_id && e.attempt == entry.attempt);
                let mut disabled = None;
                if !seen {
                    let seq = s.log_next;
                    let (page, slot) = (seq / LOG_PAGE, (seq / LOG_PAGE) % LOG_PAGES);
                    let p = &mut log[slot as usize];
                    if p.page != page || (seq % LOG_PAGE == 0) {
                        *p = LogPage {
                            page,
                            entries: Vec::new(),
                        };
                    }
                    p.entries.push(DeliveryAttempt {
                        seq,
                        ..entry.clone()
                    });
                    ctx.stage_part(&slot_key(&s.id.to_string(), slot), &*p);
                    s.log_next += 1;
                    match entry.outcome {
                        AttemptOutcome::Sent => s.failing_since = None,
                        _ => {
                            let since = *s.failing_since.get_or_insert(entry.at);
                            if s.state == EndpointState::Enabled {
                                if gone {
                                    disabled = Some("gone".to_owned());
                                } else if (now - since).num_seconds() >= disable_after_secs as i64 {
                                    disabled = Some("failing".to_owned());
                                }
                            }
                        }
                    }
                    if let Some(why) = &disabled {
                        s.state = EndpointState::Disabled;
                        s.disabled_reason = Some(why.clone());
                        s.updated_at = now;
                    }
                    s.log = Some(log);
                    let answer = Recorded {
                        disabled,
                        endpoint: s.view(),
                        owner: s.owner.clone(),
                    };
                    ctx.stage(s);
                    WebhookResponse::Recorded(Ok(answer))
                } else {
                    s.log = Some(log);
                    let answer = Recorded {
                        disabled: None,
                        endpoint: s.view(),
                        owner: s.owner.clone(),
                    };
                    *ctx.state_mut() = Some(s);
                    WebhookResponse::Recorded(Ok(answer))
                }
            }
            WebhookRequest::Log { before, limit } => {
                load_log(ctx).await?;
                WebhookResponse::Log(match ctx.state() {
                    None => Err(WebhookError::NotFound),
                    Some(s) => {
                        let mut all: Vec<DeliveryAttempt> = s
                            .log
                            .iter()
                            .flatten()
                            .flat_map(|p| p.entries.iter())
                            .filter(|e| before.is_none_or(|b| e.seq < b))
                            .cloned()
                            .collect();
                        all.sort_by_key(|e| std::cmp::Reverse(e.seq));
                        all.truncate(limit);
                        Ok(all)
                    }
                })
            }
            WebhookRequest::Delete => {
                load_log(ctx).await?;
                WebhookResponse::Deleted(match ctx.state().map(|s| s.owner.clone()) {
                    None => Ok(None),
                    Some(owner) => ctx
                        .remove()
                        .await
                        .map(|()| Some(owner))
                        .map_err(|e| WebhookError::Store(e.to_string())),
                })
            }
        })
    }
}
