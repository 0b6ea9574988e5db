//! "Export my data": `POST` and `GET /api/v1/users/me/export`, and the archive's download
//! link, `GET /api/v1/exports/{id}/archive?token=…`.
//!
//! **The archive** is one JSON document (`"format": "troupe-export-v1"`): the profile (no
//! password hash, no token), the user's channels, their own videos' metadata (private ones
//! too), watch history, ratings, subscriptions, the comments they wrote, and their
//! notification settings. It is prepared in the background, by a task the `POST` starts on
//! the node that owns the account's export record, and stored in the blob store (the same as
//! media: fsynced on the local store, the bucket in a cluster) under
//! `exports/<user id>/<export id>.json`.
//!
//! **The record** (the `export` actor, keyed by the account id) is written durably before the
//! `POST` answers 202. A node that starts (after a crash, a `kill -9`) prepares the pending
//! exports it owns again; one whose preparation was started [`MAX_ATTEMPTS`] times is marked
//! failed instead, so no export stays pending for ever.
//!
//! **One at a time, one a day.** Like PeerTube (which answers 409 to a new export request
//! while one is being processed), a `POST` while an export is pending answers 409
//! `export_pending` (with the pending export's `id`), and one within `auth.export_interval_secs`
//! (24 h) of the last export that did not fail answers 429 `export_rate_limited` with
//! `Retry-After`. A new export replaces the previous one (its archive is deleted).
//!
//! **The link** is signed like poster and playback links (an HS256 token of the service's
//! keys, audience `<audience>/export`) and expires with the archive, after
//! `auth.export_ttl_secs` (7 days); the deletion sweep deletes expired archives. The link is
//! also mailed (template `export_ready`, idempotency key `export.<export id>`).

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use crate::outbound::Mail;
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use troupe_actors::accounts::export::{
    ExportActor, ExportRecord, ExportRefusal, ExportRequest, ExportResponse, ExportState,
};
use troupe_runtime::Entity;
use uuid::Uuid;

/// How many times the preparation of one export is started (by its request, then by
/// restarts) before it is marked failed.
pub const MAX_ATTEMPTS: u32 = 3;
/// A pending export this old is prepared again by the sweep of the node that owns it (the
/// node preparing it may have died without its owner restarting).
pub const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// The archive's format name.
pub const FORMAT: &str = "troupe-export-v1";

/// A data export as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportView {
    /// The export id.
    pub id: Uuid,
    /// `pending` (being prepared), `ready` (download it), or `failed` (ask again).
    #[schema(value_type = String, pattern = "^(pending|ready|failed)$")]
    pub state: ExportState,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When the archive and its link expire (once ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The archive's size in bytes (once ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// The signed download link (once ready): no bearer token needed, valid until
    /// `expires_at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

fn store_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable("store_unavailable", format!("state store error: {e}"), 2)
}

fn record(r: ExportResponse) -> Result<Option<ExportRecord>, ApiError> {
    match r {
        ExportResponse::Record(r) => Ok(r),
        _ => Err(store_err("unexpected answer from the export actor")),
    }
}

/// The path of an export's archive in the blob store.
fn blob_path(user: Uuid, export: Uuid) -> String {
    format!("exports/{user}/{export}.json")
}

/// The signed download link of a ready export.
fn download_url(state: &AppState, user: Uuid, r: &ExportRecord) -> Result<String, ApiError> {
    let exp = r.expires_at.unwrap_or_else(Utc::now).timestamp();
    let token = state.tokens.sign_export(&r.user_key, user, r.id, exp)?;
    Ok(state
        .mailer
        .link(&format!("/api/v1/exports/{}/archive?token={token}", r.id)))
}

fn view(state: &AppState, user: Uuid, r: ExportRecord) -> Result<ExportView, ApiError> {
    let download_url = match r.state {
        ExportState::Ready => Some(download_url(state, user, &r)?),
        _ => None,
    };
    Ok(ExportView {
        id: r.id,
        state: r.state,
        created_at: r.created_at,
        expires_at: r.expires_at,
        size_bytes: r.size_bytes,
        download_url,
    })
}

fn no_export() -> ApiError {
    ApiError::not_found(
        "no_export",
        "no export, or the last one expired; ask for one with POST /api/v1/users/me/export",
    )
}

/// Asks for an export of the caller's data. It is prepared in the background; poll
/// `GET /api/v1/users/me/export` (or wait for the mail) for the link. A new export replaces
/// the previous one.
#[utoipa::path(tag = "users", security(("bearer" = [])), responses(
    (status = 202, description = "Asked for: `state` is `pending`", body = ExportView),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`export_pending`: an export is being prepared (its `id` is in the problem); wait for it", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`export_rate_limited`: one export per `auth.export_interval_secs` (24 h); `Retry-After` says when", body = Problem, content_type = "application/problem+json"),
))]
#[post("/api/v1/users/me/export")]
pub async fn start(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let me = super::lifecycle::me(&state, &user).await?;
    let id = Uuid::new_v4();
    let req = ExportRequest::Start {
        id,
        user_key: user.0.sub.clone(),
        min_interval_secs: state.config.auth.export_interval_secs,
    };
    let previous = match state
        .accounts
        .export(me.id, ExportRequest::Get)
        .await
        .map_err(ApiError::from)
        .and_then(record)?
    {
        Some(p) => p.blob,
        None => None,
    };
    let rec = match state.accounts.export(me.id, req).await? {
        ExportResponse::Started(Ok(r)) => r,
        ExportResponse::Started(Err(ExportRefusal::Pending(p))) => {
            let mut e = ApiError::new(
                StatusCode::CONFLICT,
                "export_pending",
                format!(
                    "export {} is being prepared; GET /api/v1/users/me/export says when it is ready",
                    p.id
                ),
            );
            let mut extra = serde_json::Map::new();
            extra.insert("export_id".into(), json!(p.id));
            e.extra = Some(extra);
            return Err(e);
        }
        ExportResponse::Started(Err(ExportRefusal::TooSoon(secs))) => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "export_rate_limited",
                format!(
                    "one export per {} s; ask again in {secs} s",
                    state.config.auth.export_interval_secs
                ),
            );
            e.retry_after = Some(secs.max(1));
            return Err(e);
        }
        _ => return Err(store_err("unexpected answer from the export actor")),
    };
    if let Some(old) = previous {
        if let Err(e) = state.blobs.delete(&old).await {
            tracing::warn!(user = %user.0.sub, error = %e, "could not delete the previous export's archive; the sweep does not see it any more");
        }
    }
    tracing::info!(user = %user.0.sub, export = %rec.id, "data export asked for");
    spawn_prepare(state.clone(), me.id, rec.id);
    Ok(HttpResponse::Accepted()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(view(&state, me.id, rec)?))
}

/// The caller's latest export.
#[utoipa::path(tag = "users", security(("bearer" = [])), responses(
    (status = 200, description = "The latest export", body = ExportView),
    (status = 401, description = "`missing_token` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`no_export`: none, or the last one expired", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/users/me/export")]
pub async fn latest(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let me = super::lifecycle::me(&state, &user).await?;
    let rec = record(state.accounts.export(me.id, ExportRequest::Get).await?)?
        .filter(|r| r.state != ExportState::Expired)
        .filter(|r| r.expires_at.is_none_or(|t| t > Utc::now()))
        .ok_or_else(no_export)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(view(&state, me.id, rec)?))
}

/// The query of a download link.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArchiveQuery {
    /// The link's signature.
    pub token: Option<String>,
}

/// Downloads an export's archive (the `download_url` of a ready export; no bearer token: the
/// link is signed). `application/json`, as an attachment named
/// `troupe-export-<user>-<date>.json`.
#[utoipa::path(tag = "users", params(("id" = Uuid, Path, description = "Export id"), ArchiveQuery), responses(
    (status = 200, description = "The archive (`troupe-export-v1`)", body = Object, content_type = "application/json"),
    (status = 403, description = "`invalid_export_link`: missing, malformed, tampered with, or for another export", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: not an export id", body = Problem, content_type = "application/problem+json"),
    (status = 410, description = "`export_expired`: the link ran out, or the export was replaced or deleted", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/exports/{id}/archive")]
pub async fn archive(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ArchiveQuery>,
) -> Result<HttpResponse, ApiError> {
    let id =
        Uuid::parse_str(&path).map_err(|_| ApiError::not_found("not_found", "not an export id"))?;
    let token = query.token.as_deref().unwrap_or_default();
    let claims = state.tokens.verify_export(token, id)?;
    let gone = || {
        ApiError::new(
            StatusCode::GONE,
            "export_expired",
            "this export was replaced, deleted or has expired; ask for a new export",
        )
    };
    let rec = record(
        state
            .accounts
            .export(claims.uid, ExportRequest::Get)
            .await?,
    )?
    .filter(|r| r.id == id && r.state == ExportState::Ready)
    // Expired even if the sweep has not deleted it yet (the token's expiry has whole seconds).
    .filter(|r| r.expires_at.is_some_and(|t| t > Utc::now()))
    .ok_or_else(gone)?;
    let blob = rec.blob.as_deref().ok_or_else(gone)?;
    let bytes = match state.blobs.get(blob).await {
        Ok(b) => b,
        Err(troupe_runtime::blob::BlobError::NotFound(_)) => return Err(gone()),
        Err(e) => {
            return Err(ApiError::unavailable(
                "blob_store_unavailable",
                e.to_string(),
                2,
            ))
        }
    };
    let name = format!(
        "troupe-export-{}-{}.json",
        rec.user_key,
        rec.created_at.format("%Y-%m-%d")
    );
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(bytes))
}

/// Starts preparing export `export` of account `user` in the background.
pub(crate) fn spawn_prepare(state: web::Data<AppState>, user: Uuid, export: Uuid) {
    tokio::spawn(async move { prepare(&state, user, export).await });
}

/// Prepares export `export` of account `user`: counts the attempt, builds and stores the
/// archive, records it ready and mails the link; or records it failed.
async fn prepare(state: &AppState, user: Uuid, export: Uuid) {
    let resumed = ExportRequest::Resume {
        id: export,
        max_attempts: MAX_ATTEMPTS,
    };
    let rec = match state
        .accounts
        .export(user, resumed)
        .await
        .map_err(ApiError::from)
        .and_then(record)
    {
        Ok(Some(r)) if r.state == ExportState::Pending => r,
        Ok(Some(r)) => {
            tracing::warn!(export = %export, state = ?r.state, error = ?r.error, "data export given up");
            return;
        }
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(export = %export, code = e.code, "data export: cannot count the attempt; the next start tries again");
            return;
        }
    };
    let outcome = async {
        let doc = build(state, user, &rec).await?;
        let bytes = serde_json::to_vec_pretty(&doc)
            .map_err(|e| ApiError::unavailable("export_failed", e.to_string(), 2))?;
        let size = bytes.len() as u64;
        let path = blob_path(user, export);
        state
            .blobs
            .put(&path, bytes.into())
            .await
            .map_err(|e| ApiError::unavailable("blob_store_unavailable", e.to_string(), 2))?;
        Ok::<_, ApiError>((path, size))
    }
    .await;
    let (path, size) = match outcome {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(user = %rec.user_key, export = %export, code = e.code, detail = %e.detail, "data export failed");
            let _ = state
                .accounts
                .export(
                    user,
                    ExportRequest::Fail {
                        id: export,
                        error: e.code.to_owned(),
                    },
                )
                .await;
            return;
        }
    };
    let expires_at = Utc::now()
        + chrono::Duration::seconds(state.config.auth.export_ttl_secs.min(i64::MAX as u64) as i64);
    let ready = ExportRequest::Ready {
        id: export,
        blob: path.clone(),
        size_bytes: size,
        expires_at,
    };
    let rec = match state
        .accounts
        .export(user, ready)
        .await
        .map_err(ApiError::from)
        .and_then(record)
    {
        Ok(Some(r)) => r,
        Ok(None) => {
            // Replaced or forgotten (the account was deleted) meanwhile, or already made
            // ready by another start of the same export (whose archive is this path).
            let current = state.accounts.export(user, ExportRequest::Get).await;
            let recorded = matches!(current, Ok(ExportResponse::Record(Some(ref r))) if r.blob.as_deref() == Some(path.as_str()));
            if !recorded {
                let _ = state.blobs.delete(&path).await;
            }
            return;
        }
        Err(e) => {
            tracing::warn!(export = %export, code = e.code, "data export: archive stored but not recorded; the next start prepares it again");
            return;
        }
    };
    tracing::info!(user = %rec.user_key, export = %export, bytes = size, "data export ready");
    let account = match state.accounts.get(&rec.user_key).await {
        Ok(Some(a)) if a.id == user => a,
        _ => return,
    };
    let link = match download_url(state, user, &rec) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(export = %export, code = e.code, "data export: cannot sign the link for the mail");
            return;
        }
    };
    let mail = Mail {
        key: format!("export.{}", export.simple()),
        to: account.email.clone(),
        template: "export_ready",
        context: json!({
            "username": account.username,
            "link": link,
            "expires_at": expires_at.to_rfc3339(),
        }),
        unsubscribe: None,
    };
    if let Err(e) = state.mailer.send(mail).await {
        tracing::warn!(export = %export, error = %e, "could not enqueue the export-ready mail; the console shows the link");
    }
}

/// The archive of `user`'s data.
async fn build(
    state: &AppState,
    user: Uuid,
    rec: &ExportRecord,
) -> Result<serde_json::Value, ApiError> {
    let account = state
        .accounts
        .get(&rec.user_key)
        .await?
        .filter(|a| a.id == user)
        .ok_or_else(|| ApiError::not_found("user_not_found", "the account is gone"))?;
    let channels = state.channels.of_user(user).await?;
    let videos = super::purge::owned_videos(state, user).await?;
    let mut history = Vec::new();
    let mut before = None;
    loop {
        let page = state.playback.history(&rec.user_key, 100, before).await?;
        before = page.items.last().map(|e| (e.last_watched, e.video));
        let more = page.more && before.is_some();
        history.extend(
            page.items
                .into_iter()
                .map(super::playback::HistoryItem::from),
        );
        if !more {
            break;
        }
    }
    let ratings: Vec<_> = super::purge::ratings_of(state, user)
        .await?
        .into_iter()
        .map(|(video, rating)| json!({"video_id": video, "rating": rating}))
        .collect();
    let mut subscriptions = Vec::new();
    for f in state.channels.following(user).await? {
        let handle = state.channels.get(f.channel).await?.map(|c| c.handle);
        subscriptions.push(json!({"channel_id": f.channel, "handle": handle, "since": f.since}));
    }
    let comments: Vec<_> = super::purge::authored_comments(state, user)
        .await?
        .into_iter()
        .map(|(video, c)| {
            json!({
                "id": c.id,
                "video_id": video,
                "in_reply_to": c.in_reply_to,
                "text": c.text,
                "created_at": c.created_at,
                "edited_at": c.edited_at,
                "held": c.held,
            })
        })
        .collect();
    let notification_settings = state.notify.settings(user).await?;
    Ok(json!({
        "format": FORMAT,
        "export_id": rec.id,
        "exported_at": Utc::now(),
        "instance": state.mailer.instance(),
        "profile": super::users::Me::from(account),
        "channels": channels,
        "videos": videos,
        "watch_history": history,
        "ratings": ratings,
        "subscriptions": subscriptions,
        "comments": comments,
        "notification_settings": notification_settings,
    }))
}

/// Prepares again the pending exports this node owns (at start-up: a crash or `kill -9`
/// during a preparation leaves its export pending).
pub async fn resume(state: web::Data<AppState>) {
    let all = match state.accounts.exports().await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list data exports; pending ones wait for the next start");
            return;
        }
    };
    for (user, r) in all {
        if r.state != ExportState::Pending || !owned(&state, user) {
            continue;
        }
        tracing::info!(user = %r.user_key, export = %r.id, attempts = r.attempts, "data export: preparing again after a restart");
        spawn_prepare(state.clone(), user, r.id);
    }
}

fn owned(state: &AppState, user: Uuid) -> bool {
    state.system.owns(&troupe_runtime::ActorId::new(
        ExportActor::KIND,
        user.to_string(),
    ))
}

/// Deletes the archives of the expired exports this node owns, and prepares again those it
/// owns that have been pending for longer than [`STALE_AFTER`] (run by the deletion sweep).
pub async fn sweep(state: &AppState) {
    let now = Utc::now();
    let all = match state.accounts.exports().await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "export sweep: cannot list exports; next time");
            return;
        }
    };
    for (user, r) in all {
        if !owned(state, user) {
            continue;
        }
        if r.state == ExportState::Pending && now - r.created_at > STALE_AFTER {
            // In a cluster, the node that was preparing it may have died without this one
            // restarting: prepare it here (each start counts towards MAX_ATTEMPTS).
            prepare(state, user, r.id).await;
            continue;
        }
        let due = r.state == ExportState::Ready && r.expires_at.is_some_and(|t| t <= now);
        if !due {
            continue;
        }
        if let Some(blob) = &r.blob {
            if let Err(e) = state.blobs.delete(blob).await {
                tracing::warn!(export = %r.id, error = %e, "export sweep: cannot delete the archive; next time");
                continue;
            }
        }
        match state
            .accounts
            .export(user, ExportRequest::Expire { id: r.id })
            .await
        {
            Ok(_) => {
                tracing::info!(user = %r.user_key, export = %r.id, "data export expired; archive deleted")
            }
            Err(e) => {
                tracing::warn!(export = %r.id, error = %e, "export sweep: cannot record the expiry; next time")
            }
        }
    }
}

/// Deletes every export of account `user` (the account is being deleted).
pub(crate) async fn forget(state: &AppState, user: Uuid) -> Result<(), ApiError> {
    state
        .blobs
        .delete_prefix(&format!("exports/{user}/"))
        .await
        .map_err(|e| ApiError::unavailable("blob_store_unavailable", e.to_string(), 2))?;
    state.accounts.export(user, ExportRequest::Forget).await?;
    Ok(())
}
