//! Email: the templates (`templates/email/<name>.txt` and `.html`, baked in, rendered with
//! minijinja, HTML auto-escaped) and the outbox transport of kind `email` (lettre: an SMTP
//! connection pool over `smtp://` or `smtps://`, or `.eml` files under `<data_dir>/mail/`).

use futures::future::BoxFuture;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use troupe_actors::outbox::{Attempt, Outgoing, Transport};

/// The outbox kind of email.
pub const KIND: &str = "email";

/// Every template: its name, its text (first line `Subject: …`) and its HTML. Each part of
/// troupe adds its own here.
const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "test",
        include_str!("../../templates/email/test.txt"),
        include_str!("../../templates/email/test.html"),
    ),
    (
        "notification",
        include_str!("../../templates/email/notification.txt"),
        include_str!("../../templates/email/notification.html"),
    ),
    (
        "digest",
        include_str!("../../templates/email/digest.txt"),
        include_str!("../../templates/email/digest.html"),
    ),
    (
        "webhook_disabled",
        include_str!("../../templates/email/webhook_disabled.txt"),
        include_str!("../../templates/email/webhook_disabled.html"),
    ),
    (
        "verify_email",
        include_str!("../../templates/email/verify_email.txt"),
        include_str!("../../templates/email/verify_email.html"),
    ),
    (
        "password_reset",
        include_str!("../../templates/email/password_reset.txt"),
        include_str!("../../templates/email/password_reset.html"),
    ),
    (
        "password_changed",
        include_str!("../../templates/email/password_changed.txt"),
        include_str!("../../templates/email/password_changed.html"),
    ),
    (
        "email_change_confirm",
        include_str!("../../templates/email/email_change_confirm.txt"),
        include_str!("../../templates/email/email_change_confirm.html"),
    ),
    (
        "email_changed_notice",
        include_str!("../../templates/email/email_changed_notice.txt"),
        include_str!("../../templates/email/email_changed_notice.html"),
    ),
    (
        "export_ready",
        include_str!("../../templates/email/export_ready.txt"),
        include_str!("../../templates/email/export_ready.html"),
    ),
    (
        "account_deletion_scheduled",
        include_str!("../../templates/email/account_deletion_scheduled.txt"),
        include_str!("../../templates/email/account_deletion_scheduled.html"),
    ),
    (
        "account_deleted",
        include_str!("../../templates/email/account_deleted.txt"),
        include_str!("../../templates/email/account_deleted.html"),
    ),
];

fn environment() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        env.add_template(
            "layout.html",
            include_str!("../../templates/email/layout.html"),
        )
        .expect("the email layout parses");
        for (name, text, html) in TEMPLATES {
            // Leaked once per template for the process's life: the names are static.
            let t: &'static str = Box::leak(format!("{name}.txt").into_boxed_str());
            let h: &'static str = Box::leak(format!("{name}.html").into_boxed_str());
            env.add_template(t, text).expect("an email template parses");
            env.add_template(h, html).expect("an email template parses");
        }
        env
    })
}

/// What every template gets besides its own context.
pub struct Common<'a> {
    /// The instance's name.
    pub instance: &'a str,
    /// The public URL, no trailing `/`.
    pub public_url: &'a str,
    /// The recipient.
    pub to: &'a str,
    /// The one-click unsubscribe link, if the mail has one.
    pub unsubscribe_url: Option<&'a str>,
}

/// A rendered message.
pub struct Rendered {
    /// From the text template's first line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// Renders template `name` with `context` (an object) and the common values. An unknown
/// template or one that fails to render is an error (a bug: a unit test renders them all).
pub fn render(
    name: &str,
    context: &serde_json::Value,
    common: &Common<'_>,
) -> Result<Rendered, String> {
    let env = environment();
    let mut ctx = match context {
        serde_json::Value::Object(m) => m.clone(),
        serde_json::Value::Null => serde_json::Map::new(),
        _ => return Err("the context must be an object".into()),
    };
    ctx.insert("instance".into(), common.instance.into());
    ctx.insert("public_url".into(), common.public_url.into());
    ctx.insert("to".into(), common.to.into());
    ctx.insert(
        "unsubscribe_url".into(),
        common.unsubscribe_url.map(Into::into).unwrap_or_default(),
    );
    let value = minijinja::Value::from(minijinja::value::Serde(&ctx));
    let text = env
        .get_template(&format!("{name}.txt"))
        .map_err(|e| e.to_string())?
        .render(&value)
        .map_err(|e| e.to_string())?;
    let html = env
        .get_template(&format!("{name}.html"))
        .map_err(|e| e.to_string())?
        .render(&value)
        .map_err(|e| e.to_string())?
        // minijinja escapes `/` too; a browser shows `&#x2f;` as `/` anyway, and links read
        // better in the source (and in clients that show it) without it.
        .replace("&#x2f;", "/");
    let (first, body) = text.split_once('\n').unwrap_or((&text, ""));
    let subject = first
        .strip_prefix("Subject:")
        .ok_or("the text template's first line must be `Subject: …`")?
        .trim()
        .to_owned();
    Ok(Rendered {
        subject,
        text: body.trim_start_matches('\n').to_owned(),
        html,
    })
}

/// An email as the outbox keeps it (the delivery's payload).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    /// `From`.
    pub from: String,
    /// `To`.
    pub to: String,
    /// `Subject`.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// `Message-ID`, `<key@host>`: the same on every attempt.
    pub message_id: String,
    /// The one-click unsubscribe link (`List-Unsubscribe`, `List-Unsubscribe-Post`).
    pub list_unsubscribe: Option<String>,
}

impl Payload {
    /// The message (multipart/alternative: text, then HTML), DKIM-signed if configured.
    pub fn message(&self, dkim: Option<&DkimConfig>) -> Result<Message, String> {
        let from: Mailbox = self
            .from
            .parse()
            .map_err(|e| format!("from {:?}: {e}", self.from))?;
        let to: Mailbox = self
            .to
            .parse()
            .map_err(|e| format!("to {:?}: {e}", self.to))?;
        let mut builder = Message::builder()
            .from(from)
            .to(to)
            .subject(self.subject.clone())
            .message_id(Some(self.message_id.clone()));
        if let Some(url) = &self.list_unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        let mut message = builder
            .multipart(MultiPart::alternative_plain_html(
                self.text.clone(),
                self.html.clone(),
            ))
            .map_err(|e| e.to_string())?;
        if let Some(cfg) = dkim {
            message.sign(cfg);
        }
        Ok(message)
    }
}

/// How email leaves.
#[derive(Debug, Clone, Default)]
pub struct EmailSettings {
    /// `smtp://host:port` or `smtps://user:pass@host:465` (lettre's URL form); empty: `.eml`
    /// files in `mail_dir`.
    pub smtp_url: String,
    /// Where `.eml` files go when there is no SMTP server.
    pub mail_dir: PathBuf,
    /// The SMTP command timeout.
    pub timeout: Duration,
    /// DKIM: the selector, the domain and the PEM file of the key (RSA PKCS#1, or a base64
    /// Ed25519 seed); all three set, or signing is off.
    pub dkim: Option<(String, String, PathBuf)>,
}

enum Sink {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// The outbox transport of kind `email`.
pub struct EmailTransport {
    sink: Sink,
    dkim: Option<DkimConfig>,
}

impl EmailTransport {
    /// Builds the transport: the SMTP pool (connections are opened on the first send) or the
    /// `.eml` directory, and the DKIM key if configured.
    pub fn new(settings: &EmailSettings) -> anyhow::Result<Self> {
        let sink = if settings.smtp_url.trim().is_empty() {
            std::fs::create_dir_all(&settings.mail_dir)?;
            Sink::Files(settings.mail_dir.clone())
        } else {
            let transport =
                AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp_url.trim())
                    .map_err(|e| anyhow::anyhow!("email.smtp_url is not a valid SMTP URL: {e}"))?
                    .timeout(Some(settings.timeout))
                    .pool_config(PoolConfig::new().max_size(16))
                    .build();
            Sink::Smtp(transport)
        };
        let dkim = match &settings.dkim {
            None => None,
            Some((selector, domain, file)) => {
                let pem = std::fs::read_to_string(file)
                    .map_err(|e| anyhow::anyhow!("email.dkim_key_file {}: {e}", file.display()))?;
                let pem = pem.trim();
                let key = if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
                    DkimSigningKey::new(pem, DkimSigningAlgorithm::Rsa)
                } else {
                    DkimSigningKey::new(pem, DkimSigningAlgorithm::Ed25519)
                }
                .map_err(|e| {
                    anyhow::anyhow!(
                        "email.dkim_key_file {} holds no RSA (PKCS#1 PEM) or Ed25519 (base64) key: {e}",
                        file.display()
                    )
                })?;
                Some(DkimConfig::new(
                    selector.clone(),
                    domain.clone(),
                    key,
                    [
                        "From",
                        "To",
                        "Subject",
                        "Date",
                        "Message-ID",
                        "List-Unsubscribe",
                        "List-Unsubscribe-Post",
                    ]
                    .into_iter()
                    .map(HeaderName::new_from_ascii_str)
                    .collect(),
                    DkimCanonicalization {
                        header: DkimCanonicalizationType::Relaxed,
                        body: DkimCanonicalizationType::Relaxed,
                    },
                ))
            }
        };
        Ok(Self { sink, dkim })
    }

    /// Where the `.eml` files go, when there is no SMTP server.
    pub fn mail_dir(&self) -> Option<&PathBuf> {
        match &self.sink {
            Sink::Files(d) => Some(d),
            Sink::Smtp(_) => None,
        }
    }
}

/// A file name for a key: its safe characters.
fn file_name(key: &str) -> String {
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.eml")
}

/// Writes `bytes` to `path` durably: a temporary file, fsync'd, renamed, the directory synced.
fn write_durably(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("eml.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Transport for EmailTransport {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn send(&self, delivery: &Outgoing, _attempt: u32) -> BoxFuture<'static, Attempt> {
        let failed = |error: String| Attempt::Failed {
            error,
            status: None,
            response: None,
        };
        let payload: Payload = match serde_json::from_value(delivery.payload.clone()) {
            Ok(p) => p,
            Err(e) => return Box::pin(async move { failed(format!("not an email: {e}")) }),
        };
        let message = match payload.message(self.dkim.as_ref()) {
            Ok(m) => m,
            // A bad address never gets better.
            Err(e) => return Box::pin(async move { failed(e) }),
        };
        match &self.sink {
            Sink::Smtp(smtp) => {
                let smtp = smtp.clone();
                Box::pin(async move {
                    match smtp.send(message).await {
                        Ok(r) => Attempt::Sent {
                            status: None,
                            response: Some(r.message().collect::<Vec<_>>().join(" ")),
                        },
                        Err(e) if e.is_permanent() => failed(e.to_string()),
                        Err(e) => Attempt::Retry {
                            error: e.to_string(),
                            status: None,
                            response: None,
                            after: None,
                        },
                    }
                })
            }
            Sink::Files(dir) => {
                let path = dir.join(file_name(&delivery.key));
                let (to, subject) = (payload.to.clone(), payload.subject.clone());
                Box::pin(async move {
                    let bytes = message.formatted();
                    let p = path.clone();
                    match tokio::task::spawn_blocking(move || write_durably(&p, &bytes)).await {
                        Ok(Ok(())) => {
                            tracing::info!(file = %path.display(), %to, %subject, "email written to a file (no email.smtp_url set)");
                            Attempt::Sent {
                                status: None,
                                response: Some(path.display().to_string()),
                            }
                        }
                        Ok(Err(e)) => Attempt::Retry {
                            error: format!("cannot write {}: {e}", path.display()),
                            status: None,
                            response: None,
                            after: None,
                        },
                        Err(e) => Attempt::Retry {
                            error: e.to_string(),
                            status: None,
                            response: None,
                            after: None,
                        },
                    }
                })
            }
        }
    }
}

/// The names of every template, for tests and checks.
pub fn template_names() -> Vec<&'static str> {
    TEMPLATES.iter().map(|(n, _, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_both_parts_with_a_subject() {
        let common = Common {
            instance: "troupe <test>",
            public_url: "https://video.example.org",
            to: "a@example.org",
            unsubscribe_url: Some("https://video.example.org/api/v1/unsubscribe/x"),
        };
        for name in template_names() {
            let r = render(name, &serde_json::json!({}), &common)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!r.subject.is_empty(), "{name}: no subject");
            assert!(!r.text.trim().is_empty(), "{name}: no text");
            assert!(r.html.contains("<html"), "{name}: no html");
            // Auto-escaped in HTML, not in text.
            assert!(r.html.contains("troupe &lt;test&gt;"), "{name}: {}", r.html);
        }
        assert!(render("no_such_template", &serde_json::json!({}), &common).is_err());
    }

    #[test]
    fn a_message_has_both_parts_its_id_and_the_one_click_headers() {
        let p = Payload {
            from: "troupe <troupe@localhost>".into(),
            to: "a@example.org".into(),
            subject: "Hello".into(),
            text: "plain".into(),
            html: "<html><body>rich</body></html>".into(),
            message_id: "<k1@video.example.org>".into(),
            list_unsubscribe: Some("https://video.example.org/api/v1/unsubscribe/t".into()),
        };
        let m = String::from_utf8(p.message(None).unwrap().formatted()).unwrap();
        assert!(m.contains("Message-ID: <k1@video.example.org>"), "{m}");
        assert!(m.contains("multipart/alternative"), "{m}");
        assert!(
            m.contains("List-Unsubscribe: <https://video.example.org/api/v1/unsubscribe/t>"),
            "{m}"
        );
        assert!(
            m.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{m}"
        );
        assert!(m.contains("text/plain") && m.contains("text/html"), "{m}");
    }
}
