//! What troupe sends: email (rendered from the templates in `templates/email/`, sent through
//! the outbox over SMTP or written as `.eml` files) and, with the webhooks, HTTP calls.
//!
//! ```text
//!  Mailer::send(Mail) ── render <template>.txt + .html (minijinja) ──▶ Outbox::enqueue
//!     kind "email", key = Mail.key (Message-ID <key@public host>), schedule 1 min … 24 h
//!  EmailTransport (registered with the outbox) ── lettre: SMTP pool, or <data_dir>/mail/*.eml
//! ```

pub mod email;
pub mod notify;
pub mod webhook;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use troupe_actors::outbox::{Outbox, OutboxError, Outgoing};
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
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unsubscribe {
    /// The user.
    pub user: Uuid,
    /// A notification type's API name, or `digest`.
    pub what: String,
}

/// The retry schedule of email: the delay before each retry after the first attempt.
pub const EMAIL_SCHEDULE_SECS: [u64; 7] = [60, 300, 1_800, 7_200, 21_600, 43_200, 86_400];

/// Renders mail and hands it to the outbox.
#[derive(Clone)]
pub struct Mailer {
    outbox: Outbox,
    public_url: Arc<RwLock<String>>,
    instance: Arc<str>,
    from: Arc<str>,
    /// Keys of the unsubscribe tokens: the first signs, every one verifies.
    keys: Arc<Vec<Vec<u8>>>,
    /// The retry schedule of every email.
    schedule: Arc<Vec<Duration>>,
}

impl Mailer {
    /// A mailer over `outbox`, building links from `public_url`.
    pub fn new(outbox: Outbox, public_url: String) -> Self {
        Self {
            outbox,
            public_url: Arc::new(RwLock::new(public_url)),
            instance: "troupe".into(),
            from: "troupe <troupe@localhost>".into(),
            keys: Arc::new(vec![rand::random::<[u8; 32]>().to_vec()]),
            schedule: Arc::new(
                EMAIL_SCHEDULE_SECS
                    .iter()
                    .map(|s| Duration::from_secs(*s))
                    .collect(),
            ),
        }
    }

    /// The same with the instance's name, the `From` address and the keys unsubscribe tokens
    /// are signed with (the first signs, any verifies; derived from the signing keys, so that
    /// every node of a cluster makes and accepts the same tokens).
    pub fn with_identity(mut self, instance: &str, from: &str, keys: Vec<Vec<u8>>) -> Self {
        self.instance = instance.into();
        self.from = from.into();
        if !keys.is_empty() {
            self.keys = Arc::new(
                keys.iter()
                    .map(|k| {
                        let mut mac = Hmac::<Sha256>::new_from_slice(k).expect("any key length");
                        mac.update(b"troupe unsubscribe v1");
                        mac.finalize().into_bytes().to_vec()
                    })
                    .collect(),
            );
        }
        self
    }

    /// The same with another retry schedule (`email.retry_schedule_secs`).
    pub fn with_schedule(mut self, schedule: Vec<Duration>) -> Self {
        self.schedule = Arc::new(schedule);
        self
    }

    /// Sets the public URL once the server knows its address (when none is configured).
    pub fn set_public_url(&self, url: String) {
        *self.public_url.write().expect("public url lock") = url;
    }

    /// The public URL links start with (no trailing `/`).
    pub fn public_url(&self) -> String {
        self.public_url
            .read()
            .expect("public url lock")
            .trim_end_matches('/')
            .to_owned()
    }

    /// The instance's name, as mail shows it.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Renders `mail` and durably enqueues it; returns once it is durable, never waiting for
    /// the SMTP server.
    pub async fn send(&self, mail: Mail) -> Result<(), OutboxError> {
        let outgoing = self.render(&mail)?;
        self.outbox.enqueue(outgoing).await
    }

    /// Renders many and enqueues them together (a digest batch).
    pub async fn send_all(&self, mails: Vec<Mail>) -> Result<(), OutboxError> {
        let outgoing = mails
            .iter()
            .map(|m| self.render(m))
            .collect::<Result<Vec<_>, _>>()?;
        self.outbox.enqueue_all(outgoing).await
    }

    /// The delivery `send` enqueues: the rendered message as the email transport reads it.
    pub fn render(&self, mail: &Mail) -> Result<Outgoing, OutboxError> {
        let public_url = self.public_url();
        let unsubscribe_url = mail.unsubscribe.as_ref().map(|u| {
            self.link(&format!(
                "/api/v1/unsubscribe/{}",
                self.unsubscribe_token(u)
            ))
        });
        let rendered = email::render(
            mail.template,
            &mail.context,
            &email::Common {
                instance: &self.instance,
                public_url: &public_url,
                to: &mail.to,
                unsubscribe_url: unsubscribe_url.as_deref(),
            },
        )
        .map_err(|e| OutboxError::Unavailable(format!("email template {}: {e}", mail.template)))?;
        let host = url_host(&public_url);
        let payload = email::Payload {
            from: self.from.to_string(),
            to: mail.to.clone(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            message_id: format!("<{}@{host}>", mail.key),
            list_unsubscribe: unsubscribe_url,
        };
        Ok(Outgoing {
            kind: email::KIND.into(),
            key: mail.key.clone(),
            payload: serde_json::to_value(&payload)
                .map_err(|e| OutboxError::Unavailable(e.to_string()))?,
            target: mail.to.clone(),
            schedule: self.schedule.to_vec(),
            not_before: None,
        })
    }

    /// An absolute link: the configured public URL and `path` (which starts with `/`), never
    /// the request's `Host`.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url())
    }

    /// The unforgeable, stable token of a one-click unsubscribe link:
    /// `<user>.<what>.<HMAC-SHA256, 128 bits, base64url>`.
    pub fn unsubscribe_token(&self, u: &Unsubscribe) -> String {
        let user = u.user.simple().to_string();
        let sig = sign(&self.keys[0], &user, &u.what);
        format!("{user}.{}.{sig}", u.what)
    }

    /// What a token turns off, if it is one of ours.
    pub fn verify_unsubscribe(&self, token: &str) -> Option<Unsubscribe> {
        let mut parts = token.splitn(3, '.');
        let (user, what, sig) = (parts.next()?, parts.next()?, parts.next()?);
        let ok = self.keys.iter().any(|k| {
            let expected = sign(k, user, what);
            // Constant time: the token is the only secret on this path.
            expected.len() == sig.len()
                && expected
                    .bytes()
                    .zip(sig.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if !ok {
            return None;
        }
        Some(Unsubscribe {
            user: Uuid::parse_str(user).ok()?,
            what: what.to_owned(),
        })
    }
}

/// Builds the mailer from `[email]` and registers the email transport with the outbox.
pub fn mailer(
    config: &crate::config::Config,
    data_dir: &std::path::Path,
    outbox: &Outbox,
    keyring: &crate::keys::Keyring,
) -> anyhow::Result<Mailer> {
    let e = &config.email;
    let dkim =
        (!e.dkim_selector.is_empty() && !e.dkim_domain.is_empty() && !e.dkim_key_file.is_empty())
            .then(|| {
                (
                    e.dkim_selector.clone(),
                    e.dkim_domain.clone(),
                    std::path::PathBuf::from(&e.dkim_key_file),
                )
            });
    let transport = email::EmailTransport::new(&email::EmailSettings {
        smtp_url: e.smtp_url.clone(),
        mail_dir: data_dir.join("mail"),
        timeout: Duration::from_secs(e.timeout_secs.max(1)),
        dkim,
    })?;
    if let Some(dir) = transport.mail_dir() {
        tracing::info!(dir = %dir.display(), "no email.smtp_url: email is written as .eml files");
    }
    outbox.register(Arc::new(transport));
    let keys = keyring
        .keys
        .iter()
        .filter_map(|k| crate::keys::unhex(&k.secret))
        .collect();
    Ok(Mailer::new(outbox.clone(), e.public_url.clone())
        .with_identity(&e.instance_name, &e.from, keys)
        .with_schedule(
            e.retry_schedule_secs
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
        ))
}

fn sign(key: &[u8], user: &str, what: &str) -> String {
    use base64::Engine;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(user.as_bytes());
    mac.update(b".");
    mac.update(what.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
}

/// The host of a URL (for the `Message-ID`), `localhost` if it has none.
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        "localhost".into()
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_public_urls() {
        assert_eq!(url_host("https://video.example.org"), "video.example.org");
        assert_eq!(url_host("http://127.0.0.1:8080/x"), "127.0.0.1");
        assert_eq!(url_host("http://[::1]:8080"), "::1");
        assert_eq!(url_host(""), "localhost");
    }
}
