//! Dataset detail reads (spec §3.4, §3.5).

use axum::extract::{Path, State};
use axum::Json;
use granary_core::{validate_dataset_name, Version};

use granary_infer::MAX_PREVIEW_ROWS;
use serde::Deserialize;

use super::discovery::bounded;
use crate::access::not_found;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::ApiQuery;
use crate::openapi::ErrorEnvelope;
use crate::preview::{default_split, preview_split};
use crate::wire::{DatasetDetail, PreviewOut, VersionsOut};
use crate::AppState;

/// Accepts `name` or `org/name` (URL-encoded) as the dataset segment.
pub(crate) fn local_name<'a>(org: &str, name: &'a str) -> ApiResult<&'a str> {
    let name = match name.split_once('/') {
        Some((o, n)) if o == org => n,
        _ => name,
    };
    validate_dataset_name(name)
        .map_err(|e| ApiError::invalid_field(&["path", "name"], e.to_string(), "invalid_name"))?;
    Ok(name)
}

async fn detail(
    state: &AppState,
    caller: &Caller,
    org: &str,
    name: &str,
    version: Option<Version>,
) -> ApiResult<Json<DatasetDetail>> {
    let access = state.org_access(caller, org).await?;
    let name = local_name(org, name)?;
    let rec = state.visible_version(&access, name, version).await?;
    // The dataset's versions from the catalog (as fresh as this request); from the store
    // when the catalog no longer holds the version just read (deleted in between).
    let listed = state
        .catalog
        .fresh(state.db.as_ref(), caller.marks)
        .await?
        .versions_of(rec.dataset_id);
    let versions = match listed {
        Some(v) if v.contains(&rec.version) => v,
        _ => state.db.list_versions(access.org.id, name).await?,
    };
    Ok(Json(DatasetDetail::new(
        &rec,
        versions.iter().map(|v| v.to_string()).collect(),
    )))
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/{name}", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)")), responses((status = 200, description = "The highest version", body = DatasetDetail), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope)))]
pub async fn latest(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<Json<DatasetDetail>> {
    detail(&state, &caller, &org, &name, None).await
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/{name}/{version}", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)"), ("version" = String, Path, description = "Version, MAJOR.MINOR.PATCH")), responses((status = 200, body = DatasetDetail), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "Invalid parameters; `errors` says which", body = ErrorEnvelope)))]
pub async fn version(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, name, version)): Path<(String, String, String)>,
) -> ApiResult<Json<DatasetDetail>> {
    let v: Version = version.parse().map_err(|e: granary_core::VersionError| {
        ApiError::invalid_field(&["path", "version"], e.to_string(), "invalid_version")
    })?;
    detail(&state, &caller, &org, &name, Some(v)).await
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/{name}/versions", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)")), responses((status = 200, description = "All versions, highest first", body = VersionsOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope)))]
pub async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<Json<VersionsOut>> {
    let access = state.org_access(&caller, &org).await?;
    let name = local_name(&org, &name)?;
    state.require_visible_dataset(&access, name).await?;
    let versions: Vec<String> = state
        .db
        .list_versions(access.org.id, name)
        .await?
        .iter()
        .map(|v| v.to_string())
        .collect();
    if versions.is_empty() {
        return Err(not_found(&org, name, None));
    }
    Ok(Json(VersionsOut {
        name: format!("{org}/{name}"),
        total: versions.len(),
        versions,
    }))
}

/// Readers, and outsiders who can see the dataset, are refused; outsiders who cannot see
/// it are told it does not exist.
async fn writable_dataset(
    state: &AppState,
    caller: &Caller,
    org: &str,
    name: &str,
) -> ApiResult<crate::access::OrgAccess> {
    let access = state.org_access(caller, org).await?;
    if !access.is_member() {
        state.require_visible_dataset(&access, name).await?;
    }
    access.require_write()?;
    Ok(access)
}

#[utoipa::path(delete, path = "/api/v1/org/{org}/datasets/{name}/{version}", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)"), ("version" = String, Path, description = "Version, MAJOR.MINOR.PATCH")), responses((status = 204, description = "Deleted"), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 403, description = "Needs contributor or owner", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, name, version)): Path<(String, String, String)>,
) -> ApiResult<axum::http::StatusCode> {
    let v: Version = version.parse().map_err(|e: granary_core::VersionError| {
        ApiError::invalid_field(&["path", "version"], e.to_string(), "invalid_version")
    })?;
    let name = local_name(&org, &name)?;
    let access = writable_dataset(&state, &caller, &org, name).await?;
    if !state.db.delete_version(access.org.id, name, v).await? {
        return Err(not_found(&org, name, Some(v)));
    }
    tracing::info!(dataset = %format!("{org}/{name}@{v}"), user = %caller.user.username, "deleted");
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct VisibilityBody {
    is_public: bool,
}

#[utoipa::path(patch, path = "/api/v1/org/{org}/datasets/{name}/visibility", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)")), request_body = VisibilityBody, responses((status = 200, description = "`{\"name\", \"is_public\"}`", body = Object), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "Invalid parameters; `errors` says which", body = ErrorEnvelope)))]
pub async fn visibility(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
    crate::extract::ApiJson(body): crate::extract::ApiJson<VisibilityBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let name = local_name(&org, &name)?;
    let access = writable_dataset(&state, &caller, &org, name).await?;
    state
        .db
        .set_visibility(access.org.id, name, body.is_public)
        .await?
        .ok_or_else(|| not_found(&org, name, None))?;
    Ok(Json(
        serde_json::json!({"name": format!("{org}/{name}"), "is_public": body.is_public}),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewParams {
    /// The split to preview; default `train` if there is one, else the first split.
    split: Option<String>,
    /// How many rows, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/{name}/{version}/preview", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)"), ("version" = String, Path, description = "Version, MAJOR.MINOR.PATCH"), PreviewParams), responses((status = 200, description = "The first rows of the split, one JSON object per row with keys in column order; text cells longer than 1,000 characters end in …", body = PreviewOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "Bad limit, unknown split, or a file that cannot be read", body = ErrorEnvelope)))]
/// `GET …/{name}/{version}/preview?split=&limit=`: the first rows of a split as JSON.
pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, name, version)): Path<(String, String, String)>,
    ApiQuery(p): ApiQuery<PreviewParams>,
) -> ApiResult<Json<PreviewOut>> {
    let mut errors = Vec::new();
    let limit = bounded(&mut errors, "limit", p.limit, 20, 1, MAX_PREVIEW_ROWS as i64);
    let version: Result<Version, _> = version.parse();
    if let Err(e) = &version {
        errors.push(FieldError::new(&["path", "version"], e.to_string(), "invalid_version"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let access = state.org_access(&caller, &org).await?;
    let name = local_name(&org, &name)?;
    let rec = state.visible_version(&access, name, version.ok()).await?;
    let split = p.split.filter(|s| !s.is_empty()).or_else(|| default_split(&rec));
    let out = preview_split(&state, &rec, split, limit as usize).await?;
    Ok(Json(PreviewOut::new(&rec, out, limit)))
}
