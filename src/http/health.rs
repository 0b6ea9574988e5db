//! `/healthz` (liveness), `/readyz` (readiness), `/metrics` (Prometheus), `/api/openapi.json`.

use crate::probes::Check;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use std::time::Duration;
use troupe_runtime::store::Precondition;

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The process is alive", body = HealthBody)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// Body of `/healthz`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthBody {
    /// Always `ok`.
    pub status: String,
}

/// Body of `/readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// The state store accepts a durable write.
    pub store: Check,
    /// The blob store accepts a write and a read.
    pub blobs: Check,
    /// ffmpeg and ffprobe run.
    pub ffmpeg: Check,
    /// The catalogue index answers (not while it is rebuilt).
    pub catalogue: Check,
    /// In a cluster: this node sees a majority of the configured members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Check>,
}

/// Readiness: the state store is writable, the blob store answers, ffmpeg is installed, the
/// catalogue index is not being rebuilt.
/// 503 with `Retry-After` when any check fails.
#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "Ready to serve", body = Readiness),
    (status = 503, description = "Not ready; the body says why", body = Readiness),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = match tokio::time::timeout(Duration::from_secs(3), async {
        state
            .store
            .put("_troupe/readyz", b"probe".to_vec(), Precondition::None)
            .await
    })
    .await
    {
        Ok(Ok(_)) => Check {
            ok: true,
            detail: format!("{} accepts durable writes", state.store.backend()),
        },
        Ok(Err(e)) => Check {
            ok: false,
            detail: e.to_string(),
        },
        Err(_) => Check {
            ok: false,
            detail: "state store write timed out after 3 s".into(),
        },
    };
    let blobs =
        match tokio::time::timeout(Duration::from_secs(5), state.blobs.probe("readyz")).await {
            Ok(Ok(())) => Check {
                ok: true,
                detail: format!("{} blob store answers", state.blobs.backend()),
            },
            Ok(Err(e)) => Check {
                ok: false,
                detail: e.to_string(),
            },
            Err(_) => Check {
                ok: false,
                detail: "blob store probe timed out after 5 s".into(),
            },
        };
    let ffmpeg = state.tools.check().await;
    let cluster = state.cluster.as_ref().map(|c| {
        let (up, configured) = (c.live_members().len(), c.configured_size());
        let majority = configured / 2 + 1;
        Check {
            ok: up >= majority,
            detail: format!("{up} of {configured} configured members up (majority is {majority})"),
        }
    });
    let catalogue = if state.catalogue.is_ready() {
        Check {
            ok: true,
            detail: "the catalogue index answers".into(),
        }
    } else if let Some(why) = state.catalogue.failure() {
        Check {
            ok: false,
            detail: format!("the catalogue index is not in line with the stored videos: {why}"),
        }
    } else {
        Check {
            ok: false,
            detail: format!(
                "the catalogue index is being rebuilt ({} videos read so far)",
                state.catalogue.rebuilt()
            ),
        }
    };
    let ready =
        store.ok && blobs.ok && ffmpeg.ok && catalogue.ok && cluster.as_ref().is_none_or(|c| c.ok);
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        store,
        blobs,
        ffmpeg,
        catalogue,
        cluster,
    };
    if ready {
        HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "5"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(body)
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    ::metrics::gauge!("troupe_playback_streams_active").set(state.playback.live_streams() as f64);
    state.hls_cache.record_gauges();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
#[get("/api/openapi.json")]
pub async fn openapi(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi_json.clone())
}
