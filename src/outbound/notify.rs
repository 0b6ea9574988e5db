//! Notification email: an instant email per notification, or the notification added to the
//! user's daily digest; and the digest email itself. The address is the account's current one,
//! found by the username the user's digest record keeps (set when the user changes their
//! notification or digest settings).

use super::{Mail, Mailer, Unsubscribe};
use futures::future::BoxFuture;
use troupe_actors::accounts::Accounts;
use troupe_actors::inbox::digest::{describe, label, DigestMail, DigestSink, Digests};
use troupe_actors::inbox::{EmailMode, Notification, NotificationMail};
use uuid::Uuid;

/// Turns notifications into email.
#[derive(Clone)]
pub struct NotificationMailer {
    /// Renders and queues.
    pub mailer: Mailer,
    /// Where addresses come from.
    pub accounts: Accounts,
    /// The users' digests (and the username of each user).
    pub digests: Digests,
}

impl NotificationMailer {
    /// The current address of `username`, if the account exists.
    async fn address(&self, username: &str) -> Result<Option<String>, String> {
        match self.accounts.get(username).await {
            Ok(Some(u)) => Ok(Some(u.email)),
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The delivery key of a notification's instant email: `notif.<id>.<user>`, with the id's `:`
/// made `-` (a `Message-ID`'s local part takes no `:`).
pub fn notification_key(n: &Notification, user: Uuid) -> String {
    let id: String =
        n.id.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
    format!("notif.{id}.{}", user.simple())
}

impl NotificationMail for NotificationMailer {
    fn notify(
        &self,
        user: Uuid,
        n: Notification,
        mode: EmailMode,
    ) -> BoxFuture<'static, Result<(), String>> {
        let this = self.clone();
        Box::pin(async move {
            match mode {
                EmailMode::Off => Ok(()),
                EmailMode::Digest => this.digests.add(user, n).await.map_err(|e| e.to_string()),
                EmailMode::Instant => {
                    let Some(username) = this
                        .digests
                        .username(user)
                        .await
                        .map_err(|e| e.to_string())?
                    else {
                        tracing::debug!(%user, "no username on record for instant email; not sent");
                        return Ok(());
                    };
                    let Some(to) = this.address(&username).await? else {
                        return Ok(());
                    };
                    let (headline, path) = describe(&n);
                    let link = path.map(|p| this.mailer.link(&p));
                    let context = serde_json::json!({
                        "headline": headline,
                        "type": n.kind.as_str(),
                        "type_label": label(n.kind),
                        "video_title": n.video.as_ref().map(|v| v.title.clone()),
                        "channel_name": n.channel.as_ref().map(|c| c.display_name.clone()),
                        "excerpt": n.comment.as_ref().map(|c| c.excerpt.clone()),
                        "link": link,
                    });
                    this.mailer
                        .send(Mail {
                            key: notification_key(&n, user),
                            to,
                            template: "notification",
                            context,
                            unsubscribe: Some(Unsubscribe {
                                user,
                                what: n.kind.as_str().to_owned(),
                            }),
                        })
                        .await
                        .map_err(|e| e.to_string())
                }
            }
        })
    }
}

/// The email of a digest to `to`: the `digest` template with its groups, and a one-click
/// link that turns the digest off.
pub fn digest_mail(mailer: &Mailer, mail: DigestMail, to: String) -> Mail {
    let groups: Vec<serde_json::Value> = mail
        .groups
        .iter()
        .map(|g| {
            serde_json::json!({
                "kind": g.kind,
                "label": g.label,
                "channel": g.channel,
                "count": g.count,
                "more": g.more,
                "items": g.items.iter().map(|i| serde_json::json!({
                    "headline": i.headline,
                    "link": i.path.as_ref().map(|p| mailer.link(p)),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Mail {
        key: mail.key,
        to,
        template: "digest",
        context: serde_json::json!({ "groups": groups, "total": mail.total }),
        unsubscribe: Some(Unsubscribe {
            user: mail.user,
            what: "digest".into(),
        }),
    }
}

impl DigestSink for NotificationMailer {
    fn send(&self, mail: DigestMail) -> BoxFuture<'static, Result<(), String>> {
        let this = self.clone();
        Box::pin(async move {
            let Some(to) = this.address(&mail.username).await? else {
                return Ok(());
            };
            let m = digest_mail(&this.mailer, mail, to);
            this.mailer.send(m).await.map_err(|e| e.to_string())
        })
    }
}
