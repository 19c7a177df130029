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
use crate::wire::{DatasetDetail, PreviewOut, RowsOut, VersionsOut};
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
    let mut detail = DatasetDetail::new(&rec, versions.iter().map(|v| v.to_string()).collect());
    detail.viewer = crate::wire::ViewerOut::new(state.db.viewer_status(rec.id).await?);
    Ok(Json(detail))
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
pub(crate) async fn writable_dataset(
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RowsParams {
    /// The split to read; default `train` if there is one, else the first split.
    split: Option<String>,
    /// The first row, 0-based (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// How many rows, 1 to 100 (default 100).
    #[param(minimum = 1, maximum = 100)]
    length: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/{name}/{version}/rows", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)"), ("version" = String, Path, description = "Version, MAJOR.MINOR.PATCH"), RowsParams), responses((status = 200, description = "Up to `length` rows of the split from `offset`, each with its `row_idx`; none past the end", body = RowsOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "Bad offset or length, unknown split, or a file that cannot be read to that offset within the read budget", body = ErrorEnvelope), (status = 429, description = "Every row reader is busy", body = ErrorEnvelope)))]
/// `GET …/{name}/{version}/rows?split=&offset=&length=`: rows at any offset of a split.
pub async fn rows(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, name, version)): Path<(String, String, String)>,
    ApiQuery(p): ApiQuery<RowsParams>,
) -> ApiResult<Json<RowsOut>> {
    let mut errors = Vec::new();
    let length = bounded(
        &mut errors,
        "length",
        p.length,
        MAX_PREVIEW_ROWS as i64,
        1,
        MAX_PREVIEW_ROWS as i64,
    );
    let offset = bounded(&mut errors, "offset", p.offset, 0, 0, i64::MAX);
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
    let out = crate::preview::rows_split(&state, &rec, split, offset, length as usize).await?;
    Ok(Json(RowsOut::new(&rec, out, offset, length)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BlobSchemaParams {
    /// How to read the file: `parquet`, `csv`, `json`, `jsonl`, `arrow` or `feather`.
    format: Option<String>,
}

/// A stored file's schema and exact row count, as a publish computes them.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BlobSchemaOut {
    pub digest: String,
    pub format: String,
    /// Exact number of rows.
    pub row_count: u64,
    /// Columns in file order, with their Arrow type names.
    pub columns: Vec<crate::wire::ColumnOut>,
}

#[utoipa::path(get, path = "/api/v1/org/{org}/blobs/{digest}/schema", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("digest" = String, Path, description = "The file's content digest, `sha256:<64 hex>`"), BlobSchemaParams), responses((status = 200, description = "The file's columns and exact row count, read as `format`: what a manifest naming this file would be published with", body = BlobSchemaOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization, the org holds no such blob, or the caller is not a member", body = ErrorEnvelope), (status = 422, description = "Missing or unknown format, a malformed digest, or a file that is not readable as that format", body = ErrorEnvelope)))]
/// `GET /api/v1/org/{org}/blobs/{digest}/schema?format=`: the columns and exact row count
/// of one of the org's blobs read as `format`, computed by the same code (and cached by the
/// same cache) a publish uses, so a client that asks right after uploading a text file
/// lets the server read it while the client sends its other files.
pub async fn blob_schema(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, digest)): Path<(String, String)>,
    ApiQuery(p): ApiQuery<BlobSchemaParams>,
) -> ApiResult<Json<BlobSchemaOut>> {
    let mut errors = Vec::new();
    let format = match p.format.as_deref().filter(|f| !f.is_empty()) {
        None => {
            errors.push(FieldError::new(
                &["query", "format"],
                "required: one of parquet, csv, json, jsonl, arrow, feather",
                "missing",
            ));
            None
        }
        Some(f) => match f.parse::<granary_core::DataFormat>() {
            Ok(f) => Some(f),
            Err(_) => {
                errors.push(FieldError::new(
                    &["query", "format"],
                    format!("{f:?} is not one of parquet, csv, json, jsonl, arrow, feather"),
                    "enum",
                ));
                None
            }
        },
    };
    let parsed = digest.parse::<granary_core::Digest>();
    if let Err(e) = &parsed {
        errors.push(FieldError::new(&["path", "digest"], e.to_string(), "invalid_digest"));
    }
    let (Some(format), Ok(digest), true) = (format, parsed, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let access = state.org_access(&caller, &org).await?;
    // Members only: a publish is a member's act, and reading a large text file is work no
    // outsider should be able to ask of the server (public datasets show their schema in
    // their detail).
    if !access.is_member() {
        return Err(ApiError::not_found(format!("blob {digest} not found")));
    }
    let Some(size) = state.blobs.stat(&access.org.key, &digest).await? else {
        return Err(ApiError::not_found(format!("blob {digest} not found")));
    };
    let inferred = crate::publish::inferred(&state, &access.org.key, &digest, size, format)
        .await
        .map_err(|e| match e {
            crate::publish::InferFailure::Api(e) => e,
            // One line saying what is wrong with the file, without a parameter location.
            crate::publish::InferFailure::Data(msg) => ApiError::new(crate::error::ErrorKind::Validation, msg),
        })?;
    Ok(Json(BlobSchemaOut {
        digest: digest.to_string(),
        format: format.to_string(),
        row_count: inferred.rows,
        columns: inferred
            .columns
            .into_iter()
            .map(|(name, kind)| crate::wire::ColumnOut { name, kind })
            .collect(),
    }))
}
