//! The platform endpoints a client checks before any dataset command (spec §5).

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::openapi::ErrorEnvelope;
use crate::wire::{iso, OrgOut, UserOut};
use crate::AppState;

#[utoipa::path(get, path = "/api/v1/health", tag = "platform", security(()), responses((status = 200, description = "The server is up: `{\"status\": \"ok\", \"version\": …}`", body = Object)))]
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// How long readiness waits for each store.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A store's answer to a readiness probe: `Ok` or why not (`Err((timed_out, cause))`).
async fn probe<F, T, E>(f: F) -> Result<(), (bool, String)>
where
    F: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(READY_TIMEOUT, f).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err((false, e.to_string())),
        Err(_) => Err((true, format!("no answer within {} s", READY_TIMEOUT.as_secs()))),
    }
}

#[utoipa::path(get, path = "/api/v1/ready", tag = "platform", security(()), responses((status = 200, description = "Both stores answer: `{\"status\": \"ready\", \"checks\": {\"metadata\": \"ok\", \"blobs\": \"ok\"}}`", body = Object), (status = 502, description = "A store answered with an error; `detail` names it", body = ErrorEnvelope), (status = 504, description = "A store did not answer within 2 s; `detail` names it", body = ErrorEnvelope)))]
/// Readiness: a round trip to the metadata store and to the blob store, each within 2 s,
/// concurrently. 200 when both answer; otherwise 502 (a store answered with an error) or
/// 504 (one did not answer in time), naming the store. Causes are logged, not sent.
pub async fn ready(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let zero = granary_core::Digest::of(b"");
    let (db, blobs) = tokio::join!(
        probe(state.db.ping()),
        probe(state.blobs.stat("granary-readiness", &zero))
    );
    let mut failing = Vec::new();
    let mut timed_out = false;
    for (name, r) in [("metadata store", db), ("blob store", blobs)] {
        if let Err((late, cause)) = r {
            tracing::warn!(store = name, %cause, "readiness check failed");
            timed_out |= late;
            failing.push(if late {
                format!("the {name} did not answer within {} s", READY_TIMEOUT.as_secs())
            } else {
                format!("the {name} answered with an error")
            });
        }
    }
    if failing.is_empty() {
        return Ok(Json(
            json!({"status": "ready", "checks": {"metadata": "ok", "blobs": "ok"}}),
        ));
    }
    let kind = if timed_out {
        ErrorKind::GatewayTimeout
    } else {
        ErrorKind::BadGateway
    };
    Err(ApiError::new(kind, format!("not ready: {}", failing.join("; "))))
}

#[utoipa::path(get, path = "/api/v1/user", tag = "platform", responses((status = 200, body = UserOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope)))]
pub async fn user(caller: Caller) -> Json<UserOut> {
    Json(UserOut::from(&caller.user))
}

#[utoipa::path(get, path = "/api/v1/user/organizations", tag = "platform", responses((status = 200, body = Vec<OrgOut>), (status = 401, description = "No or invalid API key", body = ErrorEnvelope)))]
pub async fn user_orgs(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<OrgOut>>> {
    let orgs = state.db.list_user_orgs(caller.user.id).await?;
    Ok(Json(
        orgs.iter().map(|(o, r)| OrgOut::new(o, Some(r.as_str()))).collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/org/{org}", tag = "platform", params(("org" = String, Path, description = "Organization key")), responses((status = 200, body = OrgOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization, or not a member", body = ErrorEnvelope)))]
/// An org is described to its members only.
pub async fn org(State(state): State<AppState>, caller: Caller, Path(org): Path<String>) -> ApiResult<Json<OrgOut>> {
    let access = state.org_access(&caller, &org).await?;
    let role = access
        .role
        .ok_or_else(|| ApiError::not_found(format!("organization {org:?} not found")))?;
    Ok(Json(OrgOut::new(&access.org, Some(role.as_str()))))
}

#[utoipa::path(get, path = "/api/v1/org/{org}/ws", tag = "platform", params(("org" = String, Path, description = "Organization key")), responses((status = 200, description = "One fixed default workspace", body = Vec<Object>), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
/// A registry has no workspaces; each org answers with one fixed default workspace.
pub async fn workspaces(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    let access = state.org_access(&caller, &org).await?;
    if !access.is_member() {
        return Err(ApiError::not_found(format!("organization {org:?} not found")));
    }
    let o = &access.org;
    Ok(Json(json!([{
        "id": o.id, "name": "Default", "key": "default", "org_id": o.id, "is_default": true,
        "created_at": iso(o.created_at), "updated_at": iso(o.updated_at),
    }])))
}
