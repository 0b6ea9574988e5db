//! Feeds for feed readers: a channel's videos as Atom (`/feeds/channels/{handle}.atom`) and
//! RSS 2.0 (`.rss`), and a user's private subscription feed (`/feeds/subscriptions.atom`)
//! behind a per-user feed token (`/api/v1/users/me/feed-token`).
//!
//! Entries carry the video's poster and duration as Media RSS (`media:thumbnail`,
//! `media:content`). Every text is escaped (a title holding markup is shown as that text). A
//! feed answers a conditional GET (`If-None-Match` with its `ETag`, or `If-Modified-Since`
//! with its `Last-Modified`) with 304. A wrong or replaced feed token gives 404.

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use crate::state::AppState;
use actix_web::http::header::{self, EntityTag, IfModifiedSince, IfNoneMatch};
use actix_web::{get, post, web, HttpMessage, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use quick_xml::escape::escape;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use troupe_actors::events::VideoView;
use troupe_catalogue::{Scope, Search, Sort};
use uuid::Uuid;

/// The most entries a feed holds (the newest).
pub const FEED_ITEMS: usize = 50;

/// Atom or RSS 2.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Atom,
    Rss,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Rss => "application/rss+xml; charset=utf-8",
        }
    }
}

/// What a feed is about.
struct FeedHead {
    /// Feed title.
    title: String,
    /// Feed description.
    subtitle: String,
    /// The feed's own URL (absolute).
    self_url: String,
    /// The page it mirrors (absolute).
    alternate: String,
    /// A stable id (`urn:uuid:…` or a tag URI).
    id: String,
    /// When it last changed, when it has no entries.
    since: DateTime<Utc>,
}

/// `scheme://host` of the request, for the absolute URLs a feed needs.
fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// The newest public, ready videos of `channels`, from the catalogue, re-checked.
async fn videos(
    state: &AppState,
    channels: Vec<Uuid>,
    label: String,
) -> Result<Vec<VideoView>, ApiError> {
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let search = Search {
        channels: Some(channels),
        label: Some(label),
        sort: Sort::Newest,
        limit: FEED_ITEMS,
        ..Default::default()
    };
    let (items, _) = super::catalogue::run_in(state, Scope::Public, &search).await?;
    Ok(items.into_iter().map(|(v, _)| v).collect())
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The feed as Atom 1.0 with Media RSS.
fn atom(head: &FeedHead, items: &[VideoView], base: &str, updated: DateTime<Utc>) -> String {
    let mut x = String::with_capacity(1024 + items.len() * 1024);
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\" xmlns:media=\"http://search.yahoo.com/mrss/\">\n");
    let _ = writeln!(x, "  <id>{}</id>", escape(&head.id));
    let _ = writeln!(x, "  <title>{}</title>", escape(&head.title));
    let _ = writeln!(x, "  <subtitle>{}</subtitle>", escape(&head.subtitle));
    let _ = writeln!(x, "  <updated>{}</updated>", rfc3339(updated));
    let _ = writeln!(
        x,
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>",
        escape(&head.self_url)
    );
    let _ = writeln!(
        x,
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
        escape(&head.alternate)
    );
    x.push_str("  <generator>troupe</generator>\n");
    for v in items {
        let watch = format!("{base}/watch/{}", v.id);
        x.push_str("  <entry>\n");
        let _ = writeln!(x, "    <id>urn:uuid:{}</id>", v.id);
        let _ = writeln!(x, "    <title>{}</title>", escape(&v.title));
        let _ = writeln!(
            x,
            "    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
            escape(&watch)
        );
        let _ = writeln!(x, "    <published>{}</published>", rfc3339(v.created_at));
        let _ = writeln!(x, "    <updated>{}</updated>", rfc3339(v.updated_at));
        let _ = writeln!(
            x,
            "    <author><name>{}</name><uri>{}</uri></author>",
            escape(&v.channel),
            escape(format!("{base}/c/{}", v.channel))
        );
        let _ = writeln!(
            x,
            "    <summary type=\"text\">{}</summary>",
            escape(&v.description)
        );
        media(&mut x, v, base);
        x.push_str("  </entry>\n");
    }
    x.push_str("</feed>\n");
    x
}

/// The feed as RSS 2.0 with Media RSS.
fn rss(head: &FeedHead, items: &[VideoView], base: &str, updated: DateTime<Utc>) -> String {
    let mut x = String::with_capacity(1024 + items.len() * 1024);
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str("<rss version=\"2.0\" xmlns:media=\"http://search.yahoo.com/mrss/\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n");
    let _ = writeln!(x, "  <title>{}</title>", escape(&head.title));
    let _ = writeln!(x, "  <link>{}</link>", escape(&head.alternate));
    let _ = writeln!(x, "  <description>{}</description>", escape(&head.subtitle));
    let _ = writeln!(
        x,
        "  <atom:link rel=\"self\" type=\"application/rss+xml\" href=\"{}\"/>",
        escape(&head.self_url)
    );
    let _ = writeln!(
        x,
        "  <lastBuildDate>{}</lastBuildDate>",
        updated.to_rfc2822()
    );
    x.push_str("  <generator>troupe</generator>\n");
    for v in items {
        let watch = format!("{base}/watch/{}", v.id);
        x.push_str("  <item>\n");
        let _ = writeln!(x, "    <title>{}</title>", escape(&v.title));
        let _ = writeln!(x, "    <link>{}</link>", escape(&watch));
        let _ = writeln!(
            x,
            "    <guid isPermaLink=\"false\">urn:uuid:{}</guid>",
            v.id
        );
        let _ = writeln!(x, "    <pubDate>{}</pubDate>", v.created_at.to_rfc2822());
        let _ = writeln!(
            x,
            "    <description>{}</description>",
            escape(&v.description)
        );
        media(&mut x, v, base);
        x.push_str("  </item>\n");
    }
    x.push_str("</channel>\n</rss>\n");
    x
}

/// The Media RSS elements of an entry: the poster and the player with the duration.
fn media(x: &mut String, v: &VideoView, base: &str) {
    if v.has_poster {
        let _ = writeln!(
            x,
            "    <media:thumbnail url=\"{}\"/>",
            escape(format!("{base}/api/v1/videos/{}/thumbnail.jpg", v.id))
        );
    }
    let duration = v
        .duration_secs
        .filter(|d| d.is_finite())
        .map(|d| format!(" duration=\"{}\"", d.max(0.0).round() as u64))
        .unwrap_or_default();
    let _ = writeln!(
        x,
        "    <media:content url=\"{}\" type=\"text/html\" medium=\"video\"{duration}/>",
        escape(format!("{base}/embed/{}", v.id))
    );
    let _ = writeln!(x, "    <media:title>{}</media:title>", escape(&v.title));
}

/// Answers a feed: 304 when the client holds this version, else the document.
fn respond(
    req: &HttpRequest,
    format: Format,
    head: &FeedHead,
    items: &[VideoView],
    public: bool,
) -> HttpResponse {
    // What the document shows changes only with these: its videos' versions and the head.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        head.title.as_str(),
        head.subtitle.as_str(),
        format == Format::Atom,
    )
        .hash(&mut h);
    for v in items {
        (v.id, v.version).hash(&mut h);
    }
    let etag = EntityTag::new_strong(format!("{:016x}", h.finish()));
    let updated = items
        .iter()
        .map(|v| v.updated_at)
        .max()
        .unwrap_or(head.since)
        .max(head.since);
    // HTTP dates have whole seconds.
    let last_modified = std::time::SystemTime::UNIX_EPOCH
        + std::time::Duration::from_secs(updated.timestamp().max(0) as u64);
    let cache = if public {
        "public, max-age=60"
    } else {
        "private, no-cache"
    };
    let not_modified = match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&etag)),
        None => match req.get_header::<IfModifiedSince>() {
            Some(IfModifiedSince(since)) => std::time::SystemTime::from(since) >= last_modified,
            None => false,
        },
    };
    let mut res = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header(header::ETag(etag))
        .insert_header(header::LastModified(last_modified.into()))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Accept-Encoding"));
    if not_modified {
        return res.finish();
    }
    let base = base_url(req);
    let body = match format {
        Format::Atom => atom(head, items, &base, updated),
        Format::Rss => rss(head, items, &base, updated),
    };
    res.content_type(format.content_type()).body(body)
}

async fn channel_feed(
    state: &AppState,
    req: &HttpRequest,
    handle: &str,
    format: Format,
) -> Result<HttpResponse, ApiError> {
    let channel = state.channels.require(handle).await?;
    let base = base_url(req);
    let ext = if format == Format::Atom {
        "atom"
    } else {
        "rss"
    };
    let head = FeedHead {
        title: channel.display_name.clone(),
        subtitle: if channel.description.is_empty() {
            format!("Videos of {} on troupe", channel.handle)
        } else {
            channel.description.clone()
        },
        self_url: format!("{base}/feeds/channels/{}.{ext}", channel.handle),
        alternate: format!("{base}/c/{}", channel.handle),
        id: format!("urn:uuid:{}", channel.id),
        since: channel.created_at,
    };
    let items = videos(state, vec![channel.id], format!("channel:{}", channel.id)).await?;
    Ok(respond(req, format, &head, &items, true))
}

/// A channel's newest public videos as an Atom feed (Media RSS thumbnails and durations).
#[utoipa::path(tag = "channels", params(("handle" = String, Path, description = "Channel handle")), responses(
    (status = 200, description = "The feed", content_type = "application/atom+xml"),
    (status = 304, description = "Not modified (`If-None-Match` or `If-Modified-Since`)"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/feeds/channels/{handle}.atom")]
pub async fn channel_atom(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    channel_feed(&state, &req, &path, Format::Atom).await
}

/// A channel's newest public videos as an RSS 2.0 feed (Media RSS thumbnails and durations).
#[utoipa::path(tag = "channels", params(("handle" = String, Path, description = "Channel handle")), responses(
    (status = 200, description = "The feed", content_type = "application/rss+xml"),
    (status = 304, description = "Not modified (`If-None-Match` or `If-Modified-Since`)"),
    (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/feeds/channels/{handle}.rss")]
pub async fn channel_rss(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    channel_feed(&state, &req, &path, Format::Rss).await
}

/// The private subscription feed's token.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedTokenParam {
    /// The caller's feed token (`GET /api/v1/users/me/feed-token`).
    #[param(min_length = 1)]
    pub token: String,
}

/// The newest public videos of every channel the token's owner subscribes to, as Atom. The
/// token is the credential: a wrong or regenerated one gives 404.
#[utoipa::path(tag = "channels", params(FeedTokenParam), responses(
    (status = 200, description = "The feed", content_type = "application/atom+xml"),
    (status = 304, description = "Not modified (`If-None-Match` or `If-Modified-Since`)"),
    (status = 400, description = "`invalid_query` (no token)", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`feed_not_found`: a wrong or regenerated token", body = Problem, content_type = "application/problem+json"),
))]
#[get("/feeds/subscriptions.atom")]
pub async fn subscriptions_atom(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<FeedTokenParam>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found("feed_not_found", "no feed has this token");
    let user = state
        .channels
        .feed_token_user(&query.token)
        .await?
        .ok_or_else(not_found)?;
    let follows = state.channels.following(user).await?;
    let since = follows
        .iter()
        .map(|f| f.since)
        .max()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let channels: Vec<Uuid> = follows.into_iter().map(|f| f.channel).collect();
    let base = base_url(&req);
    let head = FeedHead {
        title: "Subscriptions".into(),
        subtitle: "New videos of the channels you subscribe to on troupe".into(),
        self_url: format!("{base}/feeds/subscriptions.atom"),
        alternate: format!("{base}/me/subscriptions"),
        id: format!("urn:uuid:{user}:subscriptions"),
        since,
    };
    let mut items = videos(&state, channels, "feed:all".into()).await?;
    items.truncate(FEED_ITEMS);
    let mut res = respond(&req, Format::Atom, &head, &items, false);
    // Never in a shared cache or a referrer's log: the URL holds a credential.
    res.headers_mut().insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    Ok(res)
}

/// The caller's feed token and the feed's URL.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedToken {
    /// The token; it stays the same until regenerated.
    pub token: String,
    /// The private subscription feed (relative to the server).
    pub url: String,
}

fn token_body(token: String) -> FeedToken {
    FeedToken {
        url: format!("/feeds/subscriptions.atom?token={token}"),
        token,
    }
}

/// The caller's feed token for `/feeds/subscriptions.atom` (made on first ask).
#[utoipa::path(tag = "channels", security(("bearer" = [])), responses(
    (status = 200, description = "The token", body = FeedToken),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/users/me/feed-token")]
pub async fn feed_token(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let token = state.channels.feed_token(user.0.uid, false).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(token_body(token)))
}

/// Makes a new feed token; the old one stops working at once (404).
#[utoipa::path(tag = "channels", security(("bearer" = [])), responses(
    (status = 200, description = "The new token", body = FeedToken),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/users/me/feed-token")]
pub async fn regenerate_feed_token(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let token = state.channels.feed_token(user.0.uid, true).await?;
    tracing::info!(user = %user.0.sub, "feed token regenerated");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(token_body(token)))
}
