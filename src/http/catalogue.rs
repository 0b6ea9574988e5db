//! Listing, search and suggestions, answered from the catalogue index
//! ([`troupe_catalogue`]), with what it returns re-checked against the video actors.
//!
//! The index follows the actors within a commit interval, so it may briefly hold a video
//! that was just made private or deleted. Every result is therefore read back from its
//! actor (a snapshot read when the actor is active here) and shown only if the caller may
//! list it now, with its current title and state. A page may so come out shorter than
//! `limit`; `next_cursor` says whether more follow.

use super::error::{ApiError, Problem};
use super::guard::MaybeUser;
use super::tokens::Tokens;
use super::videos::{viewer, VideoBody};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use troupe_actors::events::{Counts, VideoStatus, VideoView, Visibility};
use troupe_actors::media::{MediaError, Viewer};
use troupe_catalogue::{CatalogueError, Cursor, Highlighter, Scope, Search, Segment, Sort};
use uuid::Uuid;

/// The longest query searched.
pub const MAX_QUERY_CHARS: usize = 512;
/// The largest page.
pub const MAX_PAGE: usize = 100;
/// The most words a query may hold.
pub use troupe_catalogue::search::MAX_WORDS;

fn unprocessable(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
}

impl From<CatalogueError> for ApiError {
    fn from(e: CatalogueError) -> Self {
        match e {
            CatalogueError::Rebuilding(n) => ApiError::unavailable(
                "catalogue_rebuilding",
                format!("the catalogue index is being rebuilt ({n} videos read so far); listing and search answer once it is done"),
                2,
            ),
            CatalogueError::NotReady(why) => ApiError::unavailable(
                "catalogue_not_ready",
                format!("the catalogue index is not in line with the stored videos: {why}"),
                5,
            ),
            CatalogueError::Index(reason) => {
                tracing::error!(%reason, "catalogue query failed");
                ApiError::unavailable("catalogue_unavailable", "the catalogue index failed this query", 1)
            }
            CatalogueError::CursorExpired => ApiError::new(
                StatusCode::GONE,
                "cursor_expired",
                "the ranking this cursor pages through is no longer kept (a ranked cursor lasts 10 minutes after its page, on the node that gave it); start again without the cursor",
            ),
            CatalogueError::CursorMismatch => unprocessable(
                "cursor_mismatch",
                "this cursor belongs to another query or another caller; pass the same parameters as the page that gave it, or start again without it",
            ),
        }
    }
}

/// What the caller may list.
pub(crate) fn scope(viewer: Option<Viewer>) -> Scope {
    match viewer {
        None => Scope::Public,
        Some(v) if v.admin => Scope::Admin,
        Some(v) => Scope::User(v.id),
    }
}

/// Whether `scope` may list `v` as it is now: what the index lists for the scope, and what
/// [`troupe_actors::moderation::Moderation::may_see`] lets its viewer see (a suspended owner's
/// videos, which the index does not know of, are gone for all but admins).
pub(crate) fn listable(state: &AppState, scope: Scope, v: &VideoView) -> bool {
    let viewer = match scope {
        Scope::Admin => return true,
        Scope::User(me) if v.owner_id == me => return true,
        Scope::User(me) => Some(Viewer {
            id: me,
            admin: false,
            moderator: false,
        }),
        Scope::Public => None,
    };
    v.visibility == Visibility::Public
        && v.state == VideoStatus::Ready
        && state.moderation.may_see(viewer, v)
}

/// Runs `search` and re-checks each result with its actor: what the caller may list now,
/// as it is now, with the index's counts.
pub(crate) async fn run(
    state: &AppState,
    viewer: Option<Viewer>,
    wanted: &Search,
) -> Result<(Vec<(VideoView, Counts)>, Option<String>), ApiError> {
    run_in(state, scope(viewer), wanted).await
}

/// [`run`] for an explicit scope (a channel's page and the subscription feed list what
/// anyone may list, whoever asks).
pub(crate) async fn run_in(
    state: &AppState,
    scope: Scope,
    wanted: &Search,
) -> Result<(Vec<(VideoView, Counts)>, Option<String>), ApiError> {
    let (items, next) = run_shared(state, scope, wanted).await?;
    Ok((
        items
            .into_iter()
            .map(|(v, c)| (Arc::unwrap_or_clone(v), c))
            .collect(),
        next,
    ))
}

/// [`run_in`] with the views as the media service shares them (see [`Bodies`]).
pub(crate) async fn run_shared(
    state: &AppState,
    scope: Scope,
    wanted: &Search,
) -> Result<(Vec<(Arc<VideoView>, Counts)>, Option<String>), ApiError> {
    let page = state.catalogue.search(wanted, scope)?;
    let checks = page.hits.into_iter().map(|hit| async move {
        match state.media.peek_shared(hit.id).await {
            Ok(v) => Ok(Some((v, hit.counts))),
            Err(MediaError::Video(troupe_actors::media::video::VideoError::NotFound)) => Ok(None),
            Err(e) => Err(ApiError::from(e)),
        }
    });
    let mut items = Vec::new();
    for checked in join_all(checks).await {
        let Some((v, counts)) = checked? else {
            continue;
        };
        let filtered = wanted
            .tag
            .as_ref()
            .is_none_or(|t| v.tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
            && wanted
                .owner
                .as_ref()
                .is_none_or(|o| v.owner.eq_ignore_ascii_case(o))
            && wanted
                .state
                .as_ref()
                .is_none_or(|s| troupe_catalogue::schema::state_name(v.state) == s)
            && wanted
                .channels
                .as_ref()
                .is_none_or(|cs| cs.contains(&v.channel_id))
            && !wanted.exclude.contains(&v.id);
        if listable(state, scope, &v) && filtered {
            items.push((v, counts));
        }
    }
    Ok((items, page.next_cursor))
}

pub(crate) fn limit(l: Option<usize>) -> Result<usize, ApiError> {
    match l {
        None => Ok(20),
        Some(l) if (1..=MAX_PAGE).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 100",
        )),
    }
}

pub(crate) fn cursor(c: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    c.map(|c| {
        Cursor::decode(c).ok_or_else(|| {
            unprocessable(
                "invalid_cursor",
                "the cursor is not one this server gave out; start again without it",
            )
        })
    })
    .transpose()
}

pub(crate) fn query_text(q: Option<String>) -> Result<String, ApiError> {
    let q = q.unwrap_or_default();
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(unprocessable(
            "query_too_long",
            format!("q is limited to {MAX_QUERY_CHARS} characters"),
        ));
    }
    let words = troupe_catalogue::schema::words(&q).len();
    if words > MAX_WORDS {
        return Err(unprocessable(
            "too_many_words",
            format!("q holds {words} words; at most {MAX_WORDS} are searched"),
        ));
    }
    Ok(q)
}

/// Parses an RFC 3339 time or a date (`2026-12-05`, the start of that day in UTC).
pub(crate) fn time(name: &str, v: Option<&str>, end_of_day: bool) -> Result<Option<u64>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    let t = DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map(|d| {
                let t = d.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
                if end_of_day {
                    t + chrono::Duration::milliseconds(86_400_000 - 1)
                } else {
                    t
                }
            })
        })
        .map_err(|_| {
            unprocessable(
                "invalid_date",
                format!("{name} must be a date (2026-12-05) or an RFC 3339 time"),
            )
        })?;
    Ok(Some(t.timestamp_millis().max(0) as u64))
}

pub(crate) fn seconds(name: &str, v: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=1e9).contains(&s) => Ok(Some((s * 1000.0) as u64)),
        _ => Err(unprocessable(
            "invalid_range",
            format!("{name} must be a number of seconds, 0 or more"),
        )),
    }
}

pub(crate) fn ordered(
    lo: Option<u64>,
    hi: Option<u64>,
    what: &str,
) -> Result<(Option<u64>, Option<u64>), ApiError> {
    if let (Some(a), Some(b)) = (lo, hi) {
        if a > b {
            return Err(unprocessable(
                "invalid_range",
                format!("the {what} range is empty: its start is after its end"),
            ));
        }
    }
    Ok((lo, hi))
}

/// Search parameters. Every word must match (exactly, within its typo tolerance, or, for
/// the last word as it is being typed, as a prefix); quotes, colons, `*`, `-`, `~` and
/// brackets are searched as the text they separate, never as operators.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Words to find in titles (weighted most), tags, channel names and descriptions; up to
    /// 512 characters and 32 words. Empty: the latest videos.
    #[param(max_length = 512)]
    pub q: Option<String>,
    /// Only videos with this tag.
    pub tag: Option<String>,
    /// Only videos of this username.
    pub owner: Option<String>,
    /// Only videos at least this long, in seconds (videos not yet processed have no duration
    /// and match no duration filter).
    #[param(value_type = Option<f64>, minimum = 0)]
    pub duration_min: Option<String>,
    /// Only videos at most this long, in seconds.
    #[param(value_type = Option<f64>, minimum = 0)]
    pub duration_max: Option<String>,
    /// Only videos uploaded at or after this time (RFC 3339) or date (`2026-12-05`).
    pub uploaded_after: Option<String>,
    /// Only videos uploaded at or before this time, or during this date.
    pub uploaded_before: Option<String>,
    /// `relevance` (default; among equal scores the most viewed first), `newest` or `views`.
    #[param(pattern = "^(relevance|newest|views)$")]
    pub sort: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page, with the same parameters (another query's cursor:
    /// 422 `cursor_mismatch`). A cursor gives exactly the next page or 410 `cursor_expired`:
    /// a `newest` cursor never expires; a ranked one (`relevance`, `views`) lasts 10 minutes
    /// after the page that gave it, on the node that gave it (fewer when the node pages
    /// through more than 256 rankings at once); then start over without it.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// Which words of a result matched, as runs of plain text.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Highlight {
    /// The title, cut into matched and unmatched runs.
    pub title: Vec<Segment>,
    /// About 200 characters of the description around its first match.
    pub description: Vec<Segment>,
}

/// A search result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchItem {
    /// The video, with its counts (as the index last heard them).
    #[serde(flatten)]
    pub video: VideoBody,
    /// What matched; render each segment as text, marking those with `hit`.
    pub highlight: Highlight,
}

/// A page of search results.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchPage {
    /// In the order asked for.
    pub items: Vec<SearchItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Searches the videos the caller may list: public ready videos, plus the caller's own (all,
/// for admins). Every word must match, in any of the fields. Ranked by BM25 over title (×3), tags (×2), channel name (×1.5) and
/// description; a word of 5 to 7 letters that the catalogue does not hold as typed also
/// matches within one typo, 8 or more within two, and the last word matches as a prefix too
/// (its 16 completions that the most videos hold). Changes show within about a second.
#[utoipa::path(tag = "catalogue", params(SearchParams), responses(
    (status = 200, description = "A page of results", body = SearchPage),
    (status = 400, description = "`invalid_query` (a limit out of range, an unknown parameter)", body = Problem, content_type = "application/problem+json"),
    (status = 410, description = "`cursor_expired`: the ranking a ranked cursor pages through is no longer kept (10 minutes after its page, on the node that gave it); start again without the cursor", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`query_too_long` (over 512 characters), `too_many_words` (over 32 words), `invalid_sort`, `invalid_date`, `invalid_range`, `invalid_cursor` (not a cursor this server made) or `cursor_mismatch` (another query's cursor)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`catalogue_rebuilding` (the index is being rebuilt), `catalogue_not_ready` (bringing it in line with the store failed; retried with backoff) or an actor is unavailable; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/search")]
pub async fn search(
    state: web::Data<AppState>,
    user: MaybeUser,
    query: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let p = query.into_inner();
    let q = query_text(p.q)?;
    let sort = match p.sort.as_deref() {
        None => Sort::Relevance,
        Some(s) => Sort::parse(s).ok_or_else(|| {
            unprocessable("invalid_sort", "sort must be relevance, newest or views")
        })?,
    };
    let duration_ms = ordered(
        seconds("duration_min", p.duration_min.as_deref())?,
        seconds("duration_max", p.duration_max.as_deref())?,
        "duration",
    )?;
    let created_ms = ordered(
        time("uploaded_after", p.uploaded_after.as_deref(), false)?,
        time("uploaded_before", p.uploaded_before.as_deref(), true)?,
        "upload date",
    )?;
    let wanted = Search {
        q: q.clone(),
        tag: p.tag.filter(|t| !t.trim().is_empty()),
        owner: p.owner.filter(|o| !o.trim().is_empty()),
        state: None,
        duration_ms,
        created_ms,
        sort,
        limit: limit(p.limit)?,
        cursor: cursor(p.cursor.as_deref())?,
        ..Default::default()
    };
    let viewer = viewer(&state, user.0.as_ref()).await?;
    let (items, next_cursor) = run(&state, viewer, &wanted).await?;
    let h = Highlighter::new(&q);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(SearchPage {
            items: items
                .into_iter()
                .map(|(v, counts)| SearchItem {
                    highlight: Highlight {
                        title: h.segments(&v.title),
                        description: h.snippet(&v.description, 200),
                    },
                    video: VideoBody::shown(v, &state.tokens, viewer).with_counts(counts),
                })
                .collect(),
            next_cursor,
        }))
}

/// Suggestion parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SuggestParams {
    /// What has been typed so far (the last word counts as a prefix); up to 512 characters
    /// and 32 words.
    #[param(max_length = 512)]
    pub q: Option<String>,
    /// How many, 1 to 10 (default 8).
    #[param(minimum = 1, maximum = 10)]
    pub limit: Option<usize>,
}

/// A suggestion.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// The completed query: a title that matches what was typed.
    pub text: String,
    /// The video it comes from.
    pub video_id: uuid::Uuid,
    /// The text cut into matched and unmatched runs.
    pub segments: Vec<Segment>,
}

/// Suggestions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Suggestions {
    /// Best first; no two alike.
    pub suggestions: Vec<Suggestion>,
}

/// Completions as the user types: the titles of the best-matching videos the caller may
/// list (the last word counts as a prefix, typos are tolerated as in search). Built from
/// listable videos only, so a private title is never suggested to anyone else.
#[utoipa::path(tag = "catalogue", params(SuggestParams), responses(
    (status = 200, description = "Suggestions (none for an empty query)", body = Suggestions),
    (status = 400, description = "`invalid_query` (a limit out of range, an unknown parameter)", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`query_too_long` (over 512 characters) or `too_many_words` (over 32 words)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`catalogue_rebuilding` or `catalogue_not_ready`; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/search/suggest")]
pub async fn suggest(
    state: web::Data<AppState>,
    user: MaybeUser,
    query: web::Query<SuggestParams>,
) -> Result<HttpResponse, ApiError> {
    let p = query.into_inner();
    let q = query_text(p.q)?;
    let want = match p.limit {
        None => 8,
        Some(l) if (1..=10).contains(&l) => l,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "limit must be between 1 and 10",
            ))
        }
    };
    let mut out: Vec<Suggestion> = Vec::new();
    if troupe_catalogue::is_searchable(&q) {
        let viewer = viewer(&state, user.0.as_ref()).await?;
        let wanted = Search {
            q: q.clone(),
            limit: want * 2,
            ..Default::default()
        };
        let (items, _) = run(&state, viewer, &wanted).await?;
        let h = Highlighter::new(&q);
        for (v, _) in items {
            if out.len() >= want {
                break;
            }
            if out.iter().any(|s| s.text.eq_ignore_ascii_case(&v.title)) {
                continue;
            }
            out.push(Suggestion {
                segments: h.segments(&v.title),
                text: v.title,
                video_id: v.id,
            });
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Suggestions { suggestions: out }))
}

/// A search for the plain listings (`GET /videos`, the admin list): newest first.
pub(crate) fn listing(
    q: Option<String>,
    tag: Option<String>,
    owner: Option<String>,
    state: Option<VideoStatus>,
    limit_: Option<usize>,
    cursor_: Option<&str>,
) -> Result<Search, ApiError> {
    let q = query_text(q)?;
    let sort = if troupe_catalogue::is_searchable(&q) {
        Sort::Relevance
    } else {
        Sort::Newest
    };
    Ok(Search {
        q,
        tag: tag.filter(|t| !t.trim().is_empty()),
        owner: owner.filter(|o| !o.trim().is_empty()),
        state: state.map(|s| troupe_catalogue::schema::state_name(s).to_owned()),
        sort,
        limit: limit(limit_)?,
        cursor: cursor(cursor_)?,
        ..Default::default()
    })
}

/// How many stripes [`Bodies`] is cut into.
const BODY_STRIPES: usize = 64;
/// How many encoded videos [`Bodies`] keeps at most.
pub const BODIES_MAX: usize = 16_384;

/// Listed videos as JSON, kept with the view they were encoded from: a listing whose
/// re-check gives the very same shared view (the media service keeps read-back views until
/// their video changes; see `troupe_actors::events::ViewCache`) reuses the encoding instead
/// of serialising the video again. Only videos that are not private are kept: their JSON is
/// the same for every caller (a private video's poster URL is signed for its viewer).
/// Bounded: [`BODIES_MAX`] encodings; a full stripe drops an arbitrary one.
pub struct Bodies {
    stripes: Box<[Mutex<Kept>]>,
}

/// One stripe of [`Bodies`]: each video's shared view and its JSON.
type Kept = HashMap<Uuid, (Arc<VideoView>, Arc<str>)>;

impl Default for Bodies {
    fn default() -> Self {
        Self {
            stripes: (0..BODY_STRIPES).map(|_| Mutex::default()).collect(),
        }
    }
}

impl Bodies {
    /// `v` as [`VideoBody::shown`] to `viewer` serialises it without counts, less the
    /// closing brace.
    fn open_body(&self, v: &Arc<VideoView>, tokens: &Tokens, viewer: Option<Viewer>) -> Arc<str> {
        let encode = || {
            let body = VideoBody::shown(VideoView::clone(v), tokens, viewer);
            let mut json = serde_json::to_string(&body).expect("a video serialises");
            json.pop();
            Arc::<str>::from(json)
        };
        if v.visibility == Visibility::Private {
            return encode();
        }
        let stripe = &self.stripes[v.id.as_u128() as usize % BODY_STRIPES];
        if let Some((seen, json)) = stripe.lock().expect("bodies lock").get(&v.id) {
            // The same view (held here, so its address is not reused): the same JSON.
            if Arc::ptr_eq(seen, v) {
                return json.clone();
            }
        }
        let json = encode();
        let mut map = stripe.lock().expect("bodies lock");
        if map.len() >= BODIES_MAX / BODY_STRIPES && !map.contains_key(&v.id) {
            if let Some(k) = map.keys().next().copied() {
                map.remove(&k);
            }
        }
        map.insert(v.id, (v.clone(), json.clone()));
        json
    }

    /// Appends `v` as [`VideoBody::shown`] to `viewer` with `counts`, less the closing brace.
    fn video_with_counts(
        &self,
        out: &mut Vec<u8>,
        v: &Arc<VideoView>,
        tokens: &Tokens,
        viewer: Option<Viewer>,
        counts: &Counts,
    ) {
        out.extend_from_slice(self.open_body(v, tokens, viewer).as_bytes());
        out.extend_from_slice(b",\"counts\":");
        serde_json::to_writer(&mut *out, counts).expect("counts serialise");
    }

    /// A page of videos as [`super::videos::VideoPage`] serialises it: each video as
    /// [`VideoBody::shown`] to `viewer`, with its counts.
    pub(crate) fn page(
        &self,
        tokens: &Tokens,
        viewer: Option<Viewer>,
        items: &[(Arc<VideoView>, Counts)],
        next_cursor: Option<&str>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + items.len() * 1_024);
        out.extend_from_slice(b"{\"items\":[");
        for (i, (v, counts)) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.video_with_counts(&mut out, v, tokens, viewer, counts);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"next_cursor\":");
        serde_json::to_writer(&mut out, &next_cursor).expect("a cursor serialises");
        out.push(b'}');
        out
    }
}

impl Bodies {
    /// A trending list as [`super::playback::TrendingList`] serialises it: each video as
    /// [`VideoBody::shown`] to anyone, with its counts and its views in the window.
    pub(crate) fn trending(
        &self,
        tokens: &Tokens,
        window: &str,
        items: &[(Arc<VideoView>, Counts, u64)],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + items.len() * 1_024);
        out.extend_from_slice(b"{\"window\":");
        serde_json::to_writer(&mut out, window).expect("a window serialises");
        out.extend_from_slice(b",\"items\":[");
        for (i, (v, counts, views)) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.video_with_counts(&mut out, v, tokens, None, counts);
            out.extend_from_slice(b",\"window_views\":");
            out.extend_from_slice(views.to_string().as_bytes());
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        out
    }
}

/// A page of the catalogue as `GET /api/v1/videos` and the channels' listings answer it.
pub(crate) fn page_response(
    state: &AppState,
    viewer: Option<Viewer>,
    items: &[(Arc<VideoView>, Counts)],
    next_cursor: Option<&str>,
) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(state.bodies.page(&state.tokens, viewer, items, next_cursor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthConfig;
    use crate::http::videos::VideoPage;

    fn tokens() -> Tokens {
        Tokens::new(
            b"unit-test-secret-unit-test-secret-0123",
            &AuthConfig::default(),
        )
    }

    fn video(visibility: &str, poster: bool) -> Arc<VideoView> {
        let id = Uuid::now_v7();
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "id": id, "owner_id": id, "owner": "ada", "channel_id": id, "channel": "ada",
                "title": "A \"quoted\" <title> é", "description": "line\nbreak", "tags": ["x", "y"],
                "visibility": visibility, "state": "ready", "progress": 1.0,
                "renditions": [], "duration_secs": 12.5, "has_poster": poster,
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z",
                "version": 7
            }))
            .expect("a view"),
        )
    }

    #[test]
    fn kept_bodies_encode_a_page_as_serde_does() {
        let tokens = tokens();
        let bodies = Bodies::default();
        let counts = |n| Counts {
            views: n,
            likes: n / 2,
            dislikes: 1,
        };
        let items = vec![
            (video("public", true), counts(10)),
            (video("unlisted", false), counts(3)),
            (video("public", false), counts(0)),
        ];
        let want = |cursor: Option<&str>| {
            serde_json::to_vec(&VideoPage {
                items: items
                    .iter()
                    .map(|(v, c)| {
                        VideoBody::shown(VideoView::clone(v), &tokens, None).with_counts(*c)
                    })
                    .collect(),
                next_cursor: cursor.map(str::to_owned),
            })
            .unwrap()
        };
        for cursor in [None, Some("abc")] {
            // Twice: encoded, then kept.
            for _ in 0..2 {
                let got = bodies.page(&tokens, None, &items, cursor);
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(want(cursor)).unwrap()
                );
            }
        }
        assert_eq!(bodies.page(&tokens, None, &[], None), want_empty());
        // A changed video (a new shared view) is encoded again, not taken from the kept one.
        let mut changed = VideoView::clone(&items[0].0);
        changed.title = "renamed".into();
        let page = bodies.page(&tokens, None, &[(Arc::new(changed), counts(1))], None);
        let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
        assert_eq!(page["items"][0]["title"], "renamed");
    }

    #[test]
    fn kept_bodies_encode_a_trending_list_as_serde_does() {
        use crate::http::playback::{TrendingItem, TrendingList};
        let tokens = tokens();
        let bodies = Bodies::default();
        let counts = |n| Counts {
            views: n,
            likes: n / 3,
            dislikes: 2,
        };
        let items = vec![
            (video("public", true), counts(90), 40),
            (video("public", false), counts(7), 0),
        ];
        let want = |items: &[(Arc<VideoView>, Counts, u64)]| {
            serde_json::to_string(&TrendingList {
                window: "24h".into(),
                items: items
                    .iter()
                    .map(|(v, c, n)| TrendingItem {
                        video: VideoBody::shown(VideoView::clone(v), &tokens, None).with_counts(*c),
                        window_views: *n,
                    })
                    .collect(),
            })
            .unwrap()
        };
        // Twice: encoded, then kept.
        for _ in 0..2 {
            let got = bodies.trending(&tokens, "24h", &items);
            assert_eq!(String::from_utf8(got).unwrap(), want(&items));
        }
        let got = bodies.trending(&tokens, "24h", &[]);
        assert_eq!(String::from_utf8(got).unwrap(), want(&[]));
    }

    fn want_empty() -> Vec<u8> {
        serde_json::to_vec(&VideoPage {
            items: Vec::new(),
            next_cursor: None,
        })
        .unwrap()
    }
}
