//! `GET /api/v1/cluster`: the members as this node sees them.

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use super::users::require_admin;
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use std::collections::BTreeMap;

/// One member.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    /// Node name.
    pub name: String,
    /// Cluster address.
    pub address: String,
    /// `up` (answered a heartbeat within the failure deadline), `down`, or `left` (it said it
    /// was leaving, on SIGTERM).
    pub state: String,
    /// Whether this member is the node answering.
    pub this_node: bool,
    /// Milliseconds since its last heartbeat answer.
    pub last_seen_ms: u64,
    /// Active actors by kind on that node.
    pub actors: BTreeMap<String, u64>,
}

/// The cluster as this node sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClusterView {
    /// `single` (one node, embedded storage) or `cluster`.
    pub mode: String,
    /// The name of the node answering.
    pub this_node: String,
    /// How many members the configuration names (this node and its seeds).
    pub configured_members: usize,
    /// Members this node knows, itself first.
    pub members: Vec<Member>,
}

/// The members, their state and how many actors of each kind each hosts (admins only).
#[utoipa::path(tag = "admin", security(("bearer" = [])), responses(
    (status = 200, description = "The cluster as this node sees it", body = ClusterView),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/cluster")]
pub async fn cluster(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    match require_admin(&state, &user).await {
        Ok(()) => {}
        // The view matters most when the cluster is broken, which is when this node may not
        // reach the admin's user actor. Then the signed role in the token (at most one access
        // token lifetime old) is good enough for a read-only diagnostic.
        Err(e) if e.status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE => {
            if user.0.role != troupe_actors::accounts::Role::Admin {
                return Err(ApiError::forbidden("this endpoint is for admins"));
            }
        }
        Err(e) => return Err(e),
    }
    let view = match &state.cluster {
        Some(c) => ClusterView {
            mode: "cluster".into(),
            this_node: c.node_name().to_owned(),
            configured_members: c.configured_size(),
            members: c
                .view()
                .into_iter()
                .map(|m| Member {
                    name: m.name,
                    address: m.address,
                    state: m.state.into(),
                    this_node: m.this_node,
                    last_seen_ms: m.last_seen_ms,
                    actors: m.actors,
                })
                .collect(),
        },
        None => {
            let actors = state.system.active_counts();
            ClusterView {
                mode: "single".into(),
                this_node: "local".into(),
                configured_members: 1,
                members: vec![Member {
                    name: "local".into(),
                    address: state.config.server.listen.clone(),
                    state: "up".into(),
                    this_node: true,
                    last_seen_ms: 0,
                    actors,
                }],
            }
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(view))
}
