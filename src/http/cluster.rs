//! `GET /api/v1/cluster`: the members as this node sees them.

use super::error::{ApiError, Problem};
use super::tokens::AuthUser;
use super::users::require_admin;
use crate::state::AppState;
use actix_web::{delete, get, web, HttpResponse};
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

/// Checks that the caller is an admin. The cluster endpoints matter most when the cluster is
/// broken, which is when this node may not reach the admin's user actor: then the signed role
/// in the token (at most one access-token lifetime old) is trusted instead.
async fn admin_even_without_quorum(state: &AppState, user: &AuthUser) -> Result<(), ApiError> {
    match require_admin(state, user).await {
        Ok(()) => Ok(()),
        Err(e) if e.status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE => {
            if user.0.role == troupe_actors::accounts::Role::Admin {
                Ok(())
            } else {
                Err(ApiError::forbidden("this endpoint is for admins"))
            }
        }
        Err(e) => Err(e),
    }
}

/// The members, their state and how many actors of each kind each hosts (admins only).
#[utoipa::path(tag = "admin", security(("bearer" = [])), responses(
    (status = 200, description = "The cluster as this node sees it", body = ClusterView),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
))]
#[get("/api/v1/cluster")]
pub async fn cluster(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    admin_even_without_quorum(&state, &user).await?;
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

/// Forgets a member that is gone for good (admins only): it no longer counts toward the
/// majority, on every node within about 2 s. A member that is up cannot be forgotten; one
/// that comes back later counts again. Works without a majority, which is when it is needed.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("name" = String, Path, description = "The member's node name")), responses(
    (status = 204, description = "Forgotten"),
    (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`member_unknown`: no member has that name", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`member_alive`: it is up; or `not_clustered`: this is a one-node deployment", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "The shared store is unavailable; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/api/v1/cluster/members/{name}")]
pub async fn forget(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin_even_without_quorum(&state, &user).await?;
    let Some(members) = &state.cluster else {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "not_clustered",
            "this is a one-node deployment: it has no members to forget",
        ));
    };
    use troupe_cluster::membership::ForgetError;
    match members.forget(&path).await {
        Ok(()) => {
            tracing::warn!(admin = %user.0.sub, member = %path, "cluster member forgotten");
            Ok(HttpResponse::NoContent().finish())
        }
        Err(e @ ForgetError::Alive(_)) => Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "member_alive",
            e.to_string(),
        )),
        Err(e @ ForgetError::Unknown(_)) => {
            Err(ApiError::not_found("member_unknown", e.to_string()))
        }
        Err(e @ ForgetError::Store(_)) => {
            Err(ApiError::unavailable("store_unavailable", e.to_string(), 2))
        }
    }
}
