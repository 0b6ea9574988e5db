//! The HTTP layer: one file per resource, one route table ([`configure`]), one error type.
//!
//! Middleware, outermost first: [`observe`] (request id, span, access log, metrics), then
//! [`ratelimit`], the tus headers, then [`compress`]. Extractor errors are routed into [`error::ApiError`] by the configs that
//! [`app`] installs.

pub mod accounts;
pub mod avatars;
pub mod catalogue;
pub mod channels;
pub mod cluster;
pub mod comments;
pub mod compress;
pub mod console;
pub mod error;
pub mod export;
pub mod feeds;
pub mod guard;
pub mod health;
pub mod hls;
pub mod lifecycle;
pub mod moderation;
pub mod notifications;
pub mod observe;
pub mod outbound;
pub mod playback;
pub mod problems;
pub mod purge;
pub mod ratelimit;
pub mod reports;
pub mod tokens;
pub mod uploads;
pub mod users;
pub mod videos;
pub mod webhooks;

use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest};
use error::ApiError;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::AppExt;

/// The route table. Every route is registered here, through `service`, so that every route
/// is in the OpenAPI document.
pub fn configure(cfg: &mut ServiceConfig) {
    // The hottest routes first (HLS, then heartbeats, ratings and video pages): actix tries
    // the routes in order, one regex each. `trending` must precede `/videos/{id}`.
    cfg.service(hls::master)
        .service(hls::media_playlist)
        .service(hls::segment)
        .service(hls::preflight)
        .service(playback::heartbeat)
        .service(playback::rate)
        .service(playback::trending)
        .service(videos::get_video)
        .service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(health::openapi)
        .service(accounts::register)
        .service(accounts::login)
        .service(accounts::refresh)
        .service(accounts::logout)
        .service(lifecycle::verify_email)
        .service(lifecycle::password_reset)
        .service(lifecycle::password_reset_confirm)
        .service(lifecycle::email_change_confirm)
        .service(lifecycle::email_change_undo)
        .service(lifecycle::resend_verification)
        .service(lifecycle::change_password)
        .service(lifecycle::change_email)
        .service(lifecycle::delete_me)
        .service(lifecycle::cancel_deletion)
        .service(lifecycle::admin_patch_user)
        .service(lifecycle::admin_delete_user)
        .service(export::start)
        .service(export::latest)
        .service(export::archive)
        .service(users::me)
        .service(notifications::list)
        .service(notifications::unread_count)
        .service(notifications::mark_read)
        .service(notifications::events)
        .service(notifications::get_settings)
        .service(notifications::put_settings)
        .service(notifications::fanouts)
        .service(playback::my_streams)
        .service(users::list_users)
        .service(users::list_videos)
        .service(users::get_user)
        .service(users::set_plan)
        .service(moderation::set_role)
        .service(moderation::suspend)
        .service(moderation::unsuspend)
        .service(moderation::suspended)
        .service(moderation::audit_log)
        .service(moderation::hide_video)
        .service(moderation::unhide_video)
        .service(reports::create)
        .service(reports::get_report)
        .service(reports::decide)
        .service(reports::messages)
        .service(reports::post_message)
        .service(reports::my_reports)
        .service(reports::queue)
        .service(cluster::cluster)
        .service(cluster::forget)
        .service(videos::create)
        .service(videos::list)
        .service(catalogue::search)
        .service(catalogue::suggest)
        .service(videos::update)
        .service(videos::delete_video)
        .service(videos::retry)
        .service(videos::playback_token)
        .service(videos::thumbnail)
        .service(videos::events)
        .service(playback::start)
        .service(playback::stop)
        .service(playback::history)
        .service(uploads::options)
        .service(uploads::options_one)
        .service(uploads::create)
        .service(uploads::head)
        .service(uploads::patch)
        .service(uploads::terminate)
        .service(uploads::override_post)
        .service(channels::get_channel)
        .service(channels::create)
        .service(channels::update)
        .service(channels::delete_channel)
        .service(channels::my_channels)
        .service(channels::exist)
        .service(channels::feed)
        .service(channels::channel_videos)
        .service(avatars::put_avatar)
        .service(avatars::delete_avatar)
        .service(avatars::get_avatar)
        .service(feeds::channel_atom)
        .service(feeds::channel_rss)
        .service(feeds::subscriptions_atom)
        .service(feeds::feed_token)
        .service(feeds::regenerate_feed_token)
        .service(channels::subscriptions)
        .service(channels::subscribe)
        .service(channels::unsubscribe)
        .service(comments::list)
        .service(comments::replies)
        .service(comments::create)
        .service(comments::edit)
        .service(comments::delete_comment)
        .service(comments::pin)
        .service(comments::unpin)
        .service(comments::approve)
        .service(comments::reject)
        .service(comments::channel_words)
        .service(comments::set_channel_words)
        .service(comments::instance_words)
        .service(comments::set_instance_words)
        .service(comments::bans)
        .service(comments::unban)
        .service(comments::mutes)
        .service(comments::mute)
        .service(comments::unmute)
        .service(webhooks::create)
        .service(webhooks::list)
        .service(webhooks::get_webhook)
        .service(webhooks::update)
        .service(webhooks::delete_webhook)
        .service(webhooks::rotate_secret)
        .service(webhooks::deliveries)
        .service(webhooks::retry)
        .service(webhooks::test);
    outbound::configure(cfg);
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "troupe",
        description = "A video streaming platform server built from virtual actors. Errors are RFC 9457 `application/problem+json` with a stable `code`.",
        license(name = "AGPL-3.0-or-later")
    ),
    components(schemas(error::Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, login and tokens"),
        (name = "users", description = "The signed-in user"),
        (name = "admin", description = "Administration"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "videos", description = "Videos: metadata, state, live events"),
        (name = "uploads", description = "tus 1.0 resumable uploads"),
        (name = "playback", description = "Playback sessions, heartbeats, history, ratings, trending, and HLS with signed tokens"),
        (name = "catalogue", description = "Search and suggestions over the catalogue index"),
        (name = "channels", description = "Channels, subscriptions, the subscription feed, and Atom/RSS feeds for feed readers"),
        (name = "comments", description = "Comments under videos: threads, replies, pins, held-for-review, bans, watched words, mutes"),
        (name = "notifications", description = "The signed-in user's inbox, its live stream and settings, and channels' fan-outs"),
        (name = "moderation", description = "Suspensions, abuse reports, the moderation queue, hidden videos, the audit log"),
        (name = "webhooks", description = "Webhooks (Standard Webhooks): endpoints, signed events, secrets and rotation, delivery logs, retries, test events"),
        (name = "email", description = "Email: one-click unsubscribe (RFC 8058)"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document of every route in [`configure`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
        .split_for_parts();
    api.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut doc = serde_json::to_value(&api).expect("the OpenAPI document serialises");
    problems::document(&mut doc);
    close_tagged_variants(&mut doc);
    serde_json::from_value(doc).expect("the completed OpenAPI document reads back")
}

/// Marks each variant of an externally tagged enum (`{"video": {...}}`) as admitting no other
/// property: serde refuses a second key there, and the document should say so.
fn close_tagged_variants(doc: &mut serde_json::Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    for schema in schemas.values_mut() {
        let Some(variants) = schema
            .get_mut("oneOf")
            .and_then(serde_json::Value::as_array_mut)
        else {
            continue;
        };
        for variant in variants {
            let single_tag = variant["type"] == "object"
                && variant["properties"]
                    .as_object()
                    .is_some_and(|p| p.len() == 1)
                && variant["required"].as_array().is_some_and(|r| r.len() == 1);
            if single_tag {
                variant["additionalProperties"] = serde_json::Value::Bool(false);
            }
        }
    }
}

/// The actix application: routes, extractor error mapping, middleware.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let json = web::JsonConfig::default()
        .limit(state.config.server.max_json_bytes)
        .error_handler(error::json_error);
    // `/videos/trending` is a literal under `/videos/{id}`: any method but GET on it would
    // reach a `/videos/{id}` route (and its body extractor) instead of the 405 it deserves.
    let trending = web::resource("/api/v1/videos/trending")
        .guard(actix_web::guard::Not(actix_web::guard::Get()))
        .to(not_found);
    let (app, _) = App::new()
        .service(trending)
        .into_utoipa_app()
        .configure(configure)
        .split_for_parts();
    app.app_data(state)
        .app_data(json)
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(web::PayloadConfig::default().limit(1024 * 1024))
        .default_service(web::to(not_found))
        .wrap(from_fn(compress::compress))
        .wrap(from_fn(uploads::tus_headers))
        .wrap(from_fn(guard::rate_limit))
        .wrap(from_fn(observe::observe))
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let read = matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    );
    if read && !console::reserved(req.path()) {
        return console::serve(&req);
    }
    // A known path asked with a method it does not answer.
    if let Some(allow) = observe::allowed_methods(req.path()) {
        let mut e = ApiError::new(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!(
                "{} is not allowed on {}; allowed: {allow}",
                req.method(),
                req.path()
            ),
        );
        e.headers.push(("allow", allow));
        return Err(e);
    }
    Err(ApiError::not_found(
        "not_found",
        format!("no route for {} {}", req.method(), req.path()),
    ))
}
