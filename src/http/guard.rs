//! Request guards: who is calling (the [`AuthUser`] extractor) and whether they may, now (the
//! rate-limiting middleware, [`rate_limit`]). Both read the token and the limits from
//! [`AppState`]; the parts they use ([`super::tokens`], [`super::ratelimit`]) know nothing of it.

use super::error::ApiError;
use super::tokens::{bearer, AccessClaims, AuthUser};
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, FromRequest, HttpRequest, ResponseError};
use serde::Deserialize;
use std::future::{ready, Ready};
use std::net::IpAddr;

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::unavailable(
                "misconfigured",
                "no application state",
                1,
            )));
        };
        ready(match bearer(req, &state.tokens) {
            None => Err(ApiError::unauthorized(
                "missing_token",
                "this endpoint needs 'Authorization: Bearer <access token>'",
            )),
            Some(r) => r.and_then(|c| not_suspended(state, c)).map(AuthUser),
        })
    }
}

/// The caller, if the request carries a bearer token (or `?access_token=` for event streams,
/// which browsers open without headers). An invalid token is a 401, not anonymity.
pub struct MaybeUser(pub Option<AccessClaims>);

impl FromRequest for MaybeUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Ok(MaybeUser(None)));
        };
        if let Some(r) = bearer(req, &state.tokens) {
            return ready(
                r.and_then(|c| not_suspended(state, c))
                    .map(|c| MaybeUser(Some(c))),
            );
        }
        let query = web::Query::<TokenQuery>::from_query(req.query_string()).ok();
        ready(match query.and_then(|q| q.into_inner().access_token) {
            Some(t) => state
                .tokens
                .verify_access(&t)
                .and_then(|c| not_suspended(state, c))
                .map(|c| MaybeUser(Some(c))),
            None => Ok(MaybeUser(None)),
        })
    }
}

/// A suspended account's token opens nothing: 403 `account_suspended`, from this node's copy
/// of the suspended set (current within a poll of the set, see `troupe_actors::moderation`).
fn not_suspended(state: &AppState, claims: AccessClaims) -> Result<AccessClaims, ApiError> {
    match state.moderation.suspension(claims.uid) {
        Some(s) => Err(ApiError::suspended(&s.reason)),
        None => Ok(claims),
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

/// The rate-limiting middleware: see [`super::ratelimit`].
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let limits = &state.rate_limits;
    if !limits.applies(req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let ip = client_ip(req.request(), state.config.server.trust_forwarded_headers);
    let user = match bearer(req.request(), &state.tokens) {
        Some(Ok(claims)) => Some(claims.sub),
        _ => None,
    };
    let tightest = match limits.check(req.path(), &ip, user.as_ref()) {
        Ok(tightest) => tightest,
        Err(wait) => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry in {wait} s"),
            );
            e.retry_after = Some(wait);
            e.headers.push(("ratelimit-remaining", "0".into()));
            e.headers.push(("ratelimit-reset", wait.to_string()));
            metrics::counter!("troupe_http_rate_limited_total").increment(1);
            let res = e.error_response();
            return Ok(req.into_response(res).map_into_right_body());
        }
    };
    let mut res = next.call(req).await?;
    if let Some(s) = tightest {
        let h = res.headers_mut();
        for (name, value) in [
            ("ratelimit-limit", s.limit.to_string()),
            ("ratelimit-remaining", s.remaining.to_string()),
            ("ratelimit-reset", s.reset_secs.to_string()),
        ] {
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&value) {
                h.insert(actix_web::http::header::HeaderName::from_static(name), v);
            }
        }
    }
    Ok(res.map_into_left_body())
}

/// The client's address: the peer's, or with `trust_forwarded` the one a proxy reported.
pub fn client_ip(req: &HttpRequest, trust_forwarded: bool) -> IpAddr {
    let unspecified = IpAddr::from([0, 0, 0, 0]);
    if trust_forwarded {
        if let Some(ip) = req.connection_info().realip_remote_addr().and_then(|a| {
            a.parse::<std::net::SocketAddr>()
                .map(|s| s.ip())
                .ok()
                .or_else(|| a.parse().ok())
        }) {
            return ip;
        }
    }
    req.peer_addr().map(|a| a.ip()).unwrap_or(unspecified)
}
