//! What troupe sends: email (rendered from the templates in `templates/email/`, sent through
//! the outbox over SMTP or written as `.eml` files) and, with the webhooks, HTTP calls.
//!
//! INTERFACE SKELETON (issue 24): the signatures here are fixed by /work/wt/INTERFACES24.md;
//! milestone O1 fills in the bodies.

pub mod webhook;

use serde::Serialize;
use troupe_actors::outbox::{Outbox, OutboxError};
use uuid::Uuid;

/// One email to send.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Its idempotency key (the `Message-ID`'s local part, the delivery's key): the same key
    /// twice sends once. Derive it from what caused the mail (`reset.<token id>`).
    pub key: String,
    /// The recipient's address.
    pub to: String,
    /// The template's name: `templates/email/<template>.txt` and `.html`.
    pub template: &'static str,
    /// What the template reads (`instance`, `public_url` are added).
    pub context: serde_json::Value,
    /// For notification and digest mail: whose and which type a one-click unsubscribe turns
    /// off (`List-Unsubscribe`, RFC 8058). `None` for account mail (reset, verification).
    pub unsubscribe: Option<Unsubscribe>,
}

/// What a one-click unsubscribe link turns off.
#[derive(Debug, Clone, Serialize)]
pub struct Unsubscribe {
    /// The user.
    pub user: Uuid,
    /// A notification type's API name, or `digest`.
    pub what: String,
}

/// Renders mail and hands it to the outbox.
#[derive(Clone)]
pub struct Mailer {
    outbox: Outbox,
    public_url: String,
}

impl Mailer {
    /// A mailer over `outbox`, building links from `public_url`.
    pub fn new(outbox: Outbox, public_url: String) -> Self {
        Self { outbox, public_url }
    }

    /// Renders `mail` and durably enqueues it; returns once it is durable, never waiting for
    /// the SMTP server.
    pub async fn send(&self, mail: Mail) -> Result<(), OutboxError> {
        let _ = (&self.outbox, mail);
        Err(OutboxError::Unavailable(
            "email is not built yet (O1)".into(),
        ))
    }

    /// An absolute link: the configured public URL and `path` (which starts with `/`), never
    /// the request's `Host`.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.trim_end_matches('/'))
    }
}
