//! What the viewer's background job produced, over HTTP: column statistics per split
//! (`GET …/{version}/statistics`) and counted, signed links to every file in parquet
//! (`POST …/{version}/parquet`: parquet originals and the renditions of the rest).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use granary_core::Version;
use granary_db::FileRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::datasets::local_name;
use super::downloads::{grant, DownloadOut};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorKind, FieldError};
use crate::extract::{ApiJson, ApiQuery};
use crate::openapi::ErrorEnvelope;
use crate::preview::{default_split, split_files};
use crate::AppState;

fn version_of(v: &str) -> ApiResult<Version> {
    v.parse().map_err(|e: granary_core::VersionError| {
        ApiError::validation(vec![FieldError::new(
            &["path", "version"],
            e.to_string(),
            "invalid_version",
        )])
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatisticsParams {
    /// The split; default `train` if there is one, else the first split (`default` for a
    /// version without splits).
    split: Option<String>,
}

/// The body of the statistics endpoint.
#[derive(Serialize, ToSchema)]
pub struct StatisticsOut {
    pub name: String,
    pub version: String,
    pub split: String,
    /// The job's state: `pending`, `running`, `ready` or `failed`; statistics only when ready.
    pub state: String,
    pub error: Option<String>,
    pub num_rows: Option<u64>,
    /// Per column: `column_name`, `column_type` (`int`, `float`, `bool`, `string`, `list`,
    /// `datetime`, `other`), `arrow_type` and `column_statistics`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub columns: Option<Value>,
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/{name}/{version}/statistics", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)"), ("version" = String, Path, description = "Version, MAJOR.MINOR.PATCH"), StatisticsParams), responses((status = 200, description = "The split's column statistics once the version's job is ready; its state either way", body = StatisticsOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "A malformed version or an unknown split", body = ErrorEnvelope)))]
/// `GET …/{version}/statistics?split=`: column statistics of a split.
pub async fn statistics(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, name, version)): Path<(String, String, String)>,
    ApiQuery(p): ApiQuery<StatisticsParams>,
) -> ApiResult<Json<StatisticsOut>> {
    let version = version_of(&version)?;
    let access = state.org_access(&caller, &org).await?;
    let name = local_name(&org, &name)?;
    let rec = state.visible_version(&access, name, Some(version)).await?;
    let split = match p.split.filter(|s| !s.is_empty()).or_else(|| default_split(&rec)) {
        Some(s) => {
            split_files(&rec, Some(&s)).map_err(|m| ApiError::invalid_field(&["query", "split"], m, "not_found"))?;
            s
        }
        None => crate::viewer::DEFAULT_SPLIT.to_string(),
    };
    let (job, error, stats) = crate::viewer::statistics(&state, &rec, &split).await?;
    Ok(Json(StatisticsOut {
        name: rec.full_name.clone(),
        version: rec.version.to_string(),
        split,
        state: job,
        error,
        num_rows: stats.as_ref().and_then(|s| s["num_rows"].as_u64()),
        columns: stats.map(|s| s["columns"].clone()),
    }))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ParquetBody {
    /// Only this split's files.
    split: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/org/{org}/datasets/{name}/{version}/parquet", tag = "downloads", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)"), ("version" = String, Path, description = "Version, MAJOR.MINOR.PATCH")), request_body = ParquetBody, responses((status = 200, description = "One download event recorded; signed links to every file as parquet (`path` is the rendition's, `{source}.parquet`, for files in other formats)", body = DownloadOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "An unknown split, or renditions not ready (the job's state and error say why)", body = ErrorEnvelope)))]
/// `POST …/{version}/parquet`: the version's files as parquet, through counted links.
pub async fn parquet(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((org, name, version)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<ParquetBody>,
) -> ApiResult<Json<DownloadOut>> {
    let version = version_of(&version)?;
    let access = s.org_access(&caller, &org).await?;
    let name = local_name(&org, &name)?;
    let rec = s.visible_version(&access, name, Some(version)).await?;
    let status = s.db.viewer_status(rec.id).await?;
    let renditions = status.as_ref().map(|x| x.renditions.clone()).unwrap_or_default();
    let mut files = Vec::with_capacity(rec.files.len());
    for f in &rec.files {
        if f.path.to_ascii_lowercase().ends_with(".parquet")
            || (rec.meta.format == "parquet" && granary_core::DataFormat::from_path(&f.path).is_none())
        {
            files.push(f.clone());
            continue;
        }
        let Some(r) = renditions.iter().find(|r| r.source == f.path) else {
            let (state, why) = status
                .as_ref()
                .map_or(("pending".to_string(), None), |x| (x.state.clone(), x.error.clone()));
            let detail = match why.filter(|_| state == "failed") {
                Some(why) => format!("{} has no parquet rendition: {why}", f.path),
                None => format!(
                    "the parquet rendition of {} is {state}; it is written shortly after a publish, try again in a minute",
                    f.path
                ),
            };
            return Err(ApiError::new(ErrorKind::Validation, detail));
        };
        files.push(FileRecord {
            path: r.path.clone(),
            digest: r.digest.clone(),
            size: r.size,
            split: f.split.clone(),
            data_schema: None,
            row_count: Some(r.row_count),
        });
    }
    let mut parquet = rec.clone();
    parquet.files = files;
    grant(&s, &caller, &headers, &access, &parquet, body.split)
        .await
        .map(Json)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The split; default `train` if there is one, else the first split.
    split: Option<String>,
    /// Text any string column must contain, ignoring case (`search` only; required there).
    query: Option<String>,
    /// A condition (`filter` only; required there): comparisons, `IN`, `IS [NOT] NULL`,
    /// `AND`, `OR`, `NOT`, parentheses; columns bare or `"double quoted"`, text `'single quoted'`.
    #[serde(rename = "where")]
    #[param(rename = "where")]
    condition: Option<String>,
    /// A column to order by, optionally followed by `ASC` or `DESC` (`filter` only);
    /// ordered pages reach row 10,000 at most.
    orderby: Option<String>,
    /// The first match to return, 0-based (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Matches per page, 1 to 100 (default 100).
    #[param(minimum = 1, maximum = 100)]
    length: Option<i64>,
}

/// The body of the search and filter endpoints.
#[derive(Serialize, ToSchema)]
pub struct FoundOut {
    pub name: String,
    pub version: String,
    pub split: Option<String>,
    pub offset: u64,
    pub length: u64,
    /// Matching rows in the split (among those read, when `partial`).
    pub num_rows_total: u64,
    /// True when the time budget ended the scan early.
    pub partial: bool,
    pub columns: Vec<crate::wire::ColumnOut>,
    /// Each with its index in the split.
    pub rows: Vec<crate::wire::RowOut>,
}

async fn run_query(
    state: AppState,
    caller: Caller,
    org: String,
    name: String,
    version: String,
    p: SearchParams,
    filter: bool,
) -> ApiResult<Json<FoundOut>> {
    use granary_infer::query::{parse_where, Query, MAX_ORDERED_ROWS};
    let mut errors = Vec::new();
    let max = granary_infer::MAX_PREVIEW_ROWS as i64;
    let length = super::discovery::bounded(&mut errors, "length", p.length, max, 1, max);
    let offset = super::discovery::bounded(&mut errors, "offset", p.offset, 0, 0, i64::MAX);
    let mut q = Query::default();
    if filter {
        let ordered = p.orderby.as_deref().is_some_and(|o| !o.trim().is_empty());
        match p.condition.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
            // An order alone sorts every row.
            None if ordered => {}
            None => errors.push(FieldError::new(
                &["query", "where"],
                "required: a condition such as \"age\" > 30 (or an orderby, to sort every row)",
                "missing",
            )),
            Some(w) => match parse_where(w) {
                Ok(e) => q.filter = Some(e),
                Err(m) => errors.push(FieldError::new(&["query", "where"], m, "invalid")),
            },
        }
        if let Some(o) = p.orderby.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
            q.order_by = Some(granary_infer::query::parse_order_by(o));
            if offset + length > MAX_ORDERED_ROWS {
                errors.push(FieldError::new(
                    &["query", "offset"],
                    format!("ordered pages reach row {MAX_ORDERED_ROWS} at most"),
                    "out_of_range",
                ));
            }
        }
    } else {
        match p.query.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => errors.push(FieldError::new(
                &["query", "query"],
                "required: the text to search for",
                "missing",
            )),
            Some(s) => q.search = Some(s.to_string()),
        }
    }
    let version = version.parse::<Version>();
    if let Err(e) = &version {
        errors.push(FieldError::new(&["path", "version"], e.to_string(), "invalid_version"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let access = state.org_access(&caller, &org).await?;
    let name = local_name(&org, &name)?;
    let rec = state.visible_version(&access, name, version.ok()).await?;
    if let (Some((col, _)), false) = (&q.order_by, rec.meta.data_schema.is_empty()) {
        let split_cols = rec.meta.data_schema.iter().any(|(c, _)| c == col)
            || rec
                .files
                .iter()
                .any(|f| f.data_schema.as_ref().is_some_and(|s| s.iter().any(|(c, _)| c == col)));
        if !split_cols {
            return Err(ApiError::invalid_field(
                &["query", "orderby"],
                format!("no column {col:?}"),
                "invalid",
            ));
        }
    }
    let split = p.split.filter(|s| !s.is_empty()).or_else(|| default_split(&rec));
    let (split, found) = crate::preview::query_split(&state, &rec, split, q, offset, length as usize).await?;
    Ok(Json(FoundOut {
        name: rec.full_name.clone(),
        version: rec.version.to_string(),
        split,
        offset,
        length,
        num_rows_total: found.total,
        partial: found.partial,
        columns: found
            .columns
            .into_iter()
            .map(|(name, kind)| crate::wire::ColumnOut { name, kind })
            .collect(),
        rows: found
            .rows
            .into_iter()
            .map(|(row_idx, row)| crate::wire::RowOut { row_idx, row })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/{name}/{version}/search", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)"), ("version" = String, Path, description = "Version, MAJOR.MINOR.PATCH"), SearchParams), responses((status = 200, description = "Rows where a string column contains `query` (ignoring case), paged, with the number of matches", body = FoundOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "Missing query, bad paging, unknown split, or a rendition not written yet", body = ErrorEnvelope), (status = 429, description = "Every reader is busy", body = ErrorEnvelope)))]
/// `GET …/{version}/search?split=&query=&offset=&length=`
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, name, version)): Path<(String, String, String)>,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<Json<FoundOut>> {
    run_query(state, caller, org, name, version, p, false).await
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/{name}/{version}/filter", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)"), ("version" = String, Path, description = "Version, MAJOR.MINOR.PATCH"), SearchParams), responses((status = 200, description = "Rows where `where` holds, optionally ordered, paged, with the number of matches", body = FoundOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "A condition that does not parse or names an unknown column, bad paging, unknown split, or a rendition not written yet", body = ErrorEnvelope), (status = 429, description = "Every reader is busy", body = ErrorEnvelope)))]
/// `GET …/{version}/filter?split=&where=&orderby=&offset=&length=`
pub async fn filter(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, name, version)): Path<(String, String, String)>,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<Json<FoundOut>> {
    run_query(state, caller, org, name, version, p, true).await
}
