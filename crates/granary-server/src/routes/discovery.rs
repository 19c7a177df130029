//! Finding datasets: the list (spec §3.1), facets (§3.3) and the download activity feed (§3.2).

use axum::extract::{Path, State};
use axum::Json;
use granary_db::ActivityQuery;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::OrgAccess;
use crate::auth::Caller;
use crate::catalog::{ListFilter, ListQuery, Scope, SortDir, SortKey};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::ApiQuery;
use crate::openapi::ErrorEnvelope;
use crate::wire::{iso, DatasetSummary};
use crate::AppState;

/// The filters shared by the list and facets endpoints (repeat a key for several values).
#[derive(Deserialize, Default, Clone, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Exact dataset name, `name` or `org/name`.
    pub name: Option<String>,
    /// Case-insensitive substring of the name or summary.
    pub search: Option<String>,
    /// Any of these tags (case-insensitive).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Any of these licenses (case-insensitive).
    #[serde(default)]
    pub license: Vec<String>,
    /// Any of these task categories (case-insensitive).
    #[serde(default)]
    pub task_categories: Vec<String>,
    /// Any of these formats (`parquet`, `csv`, `json`, `jsonl`, `arrow`, `feather`;
    /// case-insensitive).
    #[serde(default)]
    pub format: Vec<String>,
    /// Any of these size categories (`n<1K`, `1K<n<10K`, …).
    #[serde(default)]
    pub size_category: Vec<String>,
    /// Also list every other organization's public datasets. A boolean: `true`/`false`,
    /// `1`/`0`, `yes`/`no` or `on`/`off`, in any case.
    #[serde(default, deserialize_with = "crate::extract::query_bool")]
    pub include_public: Option<bool>,
}

fn nonempty(v: Vec<String>) -> Vec<String> {
    v.into_iter().filter(|s| !s.is_empty()).collect()
}

impl FilterParams {
    pub fn into_filter(self) -> ListFilter {
        let name = self.name.filter(|n| !n.is_empty()).map(|n| match n.split_once('/') {
            Some((org, name)) => (Some(org.to_string()), name.to_string()),
            None => (None, n),
        });
        ListFilter {
            name,
            search: self.search.filter(|s| !s.is_empty()),
            tags: nonempty(self.tags),
            licenses: nonempty(self.license),
            task_categories: nonempty(self.task_categories),
            formats: nonempty(self.format),
            size_categories: nonempty(self.size_category),
        }
    }
}

/// What the caller may list under `{org}`: all of it for members, its public datasets for
/// others; with `include_public`, also every other org's public datasets.
pub(crate) fn scope(access: &OrgAccess, include_public: bool) -> Scope {
    match (access.is_member(), include_public) {
        (true, false) => Scope::Org(access.org.id),
        (true, true) => Scope::OrgAndPublic(access.org.id),
        (false, false) => Scope::OrgPublic(access.org.id),
        (false, true) => Scope::Public,
    }
}

/// Paging and order of the list; read from the same query string as the filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `name`, `created_at` (default), `updated_at`, `row_count` or `file_size_bytes`.
    sort_by: Option<String>,
    /// `asc` or `desc` (default).
    sort_dir: Option<String>,
    /// Page number from 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// Versions per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ListOut {
    datasets: Vec<DatasetSummary>,
    has_next: bool,
    has_previous: bool,
    limit: u64,
    page: u64,
    total: u64,
    total_pages: u64,
}

pub(super) fn bounded(
    errors: &mut Vec<FieldError>,
    name: &str,
    value: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
) -> u64 {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        let msg = if max == i64::MAX {
            format!("must be at least {min}")
        } else {
            format!("must be between {min} and {max}")
        };
        errors.push(FieldError::new(&["query", name], msg, "out_of_range"));
        return default as u64;
    }
    v as u64
}

/// The list's sort key and direction (defaults `created_at`, `desc`); bad values are
/// reported into `errors` and replaced by the defaults.
pub(crate) fn parse_sort(
    sort_by: Option<&str>,
    sort_dir: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> (SortKey, SortDir) {
    let sort = match sort_by.unwrap_or("created_at") {
        "name" => SortKey::Name,
        "created_at" => SortKey::CreatedAt,
        "updated_at" => SortKey::UpdatedAt,
        "row_count" => SortKey::RowCount,
        "file_size_bytes" => SortKey::FileSizeBytes,
        other => {
            errors.push(FieldError::new(
                &["query", "sort_by"],
                format!("{other:?} is not one of name, created_at, updated_at, row_count, file_size_bytes"),
                "enum",
            ));
            SortKey::CreatedAt
        }
    };
    let dir = match sort_dir.unwrap_or("desc") {
        "asc" => SortDir::Asc,
        "desc" => SortDir::Desc,
        other => {
            errors.push(FieldError::new(
                &["query", "sort_dir"],
                format!("{other:?} is not one of asc, desc"),
                "enum",
            ));
            SortDir::Desc
        }
    };
    (sort, dir)
}

/// One page of versions in the catalog's order, as listings show them, with exact download
/// counts read from the store.
pub(crate) async fn list_rows(s: &AppState, caller: &Caller, q: &ListQuery) -> ApiResult<(Vec<DatasetSummary>, u64)> {
    let (mut rows, total) = s.catalog.fresh(s.db.as_ref(), caller.marks).await?.list_summaries(q);
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let counts = s.fresh.download_counts(s.db.as_ref(), caller.marks, &ids).await?;
    // A version deleted since the catalog was read is left out, as a read by id would.
    rows.retain_mut(|r| match counts.get(&r.id) {
        Some(n) => {
            r.download_count = *n;
            true
        }
        None => false,
    });
    Ok((rows, total))
}

/// The versions with these ids, in this order, read from the store with exact counts.
pub(crate) async fn rows_by_id(s: &AppState, ids: &[Uuid]) -> ApiResult<Vec<granary_db::VersionRecord>> {
    let mut found: std::collections::HashMap<Uuid, granary_db::VersionRecord> =
        s.db.versions_by_id(ids).await?.into_iter().map(|r| (r.id, r)).collect();
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ListParams, FilterParams), responses((status = 200, description = "One page of versions", body = ListOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "Invalid parameters; `errors` says which", body = ErrorEnvelope)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    ApiQuery(p): ApiQuery<ListParams>,
    ApiQuery(filter): ApiQuery<FilterParams>,
) -> ApiResult<Json<ListOut>> {
    let mut errors = Vec::new();
    let page = bounded(&mut errors, "page", p.page, 1, 1, i64::MAX);
    let limit = bounded(&mut errors, "limit", p.limit, 50, 1, 200);
    let (sort, dir) = parse_sort(p.sort_by.as_deref(), p.sort_dir.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let access = s.org_access(&caller, &org).await?;
    let include_public = filter.include_public.unwrap_or(false);
    let q = ListQuery {
        scope: scope(&access, include_public),
        filter: filter.into_filter(),
        sort,
        dir,
        offset: (page - 1).saturating_mul(limit),
        limit,
        group: false,
    };
    let (rows, total) = list_rows(&s, &caller, &q).await?;
    let total_pages = total.div_ceil(limit);
    Ok(Json(ListOut {
        datasets: rows,
        has_next: page < total_pages,
        has_previous: page > 1,
        limit,
        page,
        total,
        total_pages,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FacetValue {
    value: String,
    count: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FacetsOut {
    tags: Vec<FacetValue>,
    licenses: Vec<FacetValue>,
    task_categories: Vec<FacetValue>,
    formats: Vec<FacetValue>,
    size_categories: Vec<FacetValue>,
    filtered_total: u64,
    total: u64,
}

fn values(v: Vec<(String, u64)>) -> Vec<FacetValue> {
    v.into_iter()
        .map(|(value, count)| FacetValue { value, count })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/facets", tag = "datasets", params(("org" = String, Path, description = "Organization key"), FilterParams), responses((status = 200, description = "Counts of versions per value, each facet computed without its own filter", body = FacetsOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "Invalid parameters; `errors` says which", body = ErrorEnvelope)))]
pub async fn facets(
    State(s): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    ApiQuery(p): ApiQuery<FilterParams>,
) -> ApiResult<Json<FacetsOut>> {
    let access = s.org_access(&caller, &org).await?;
    let include_public = p.include_public.unwrap_or(false);
    let f = s
        .catalog
        .fresh(s.db.as_ref(), caller.marks)
        .await?
        .facets(scope(&access, include_public), &p.into_filter());
    Ok(Json(FacetsOut {
        tags: values(f.tags),
        licenses: values(f.licenses),
        task_categories: values(f.task_categories),
        formats: values(f.formats),
        size_categories: values(f.size_categories),
        filtered_total: f.filtered_total,
        total: f.total,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityParams {
    /// Events per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// Events to skip, newest first.
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Only this user's downloads: their id (UUID) or username.
    user_id: Option<String>,
    /// Only this dataset's downloads, `name` or `org/name`.
    dataset_name: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventOut {
    id: Uuid,
    dataset_id: Uuid,
    dataset_name: String,
    version: String,
    split: Option<String>,
    user_id: Uuid,
    username: String,
    user_org: Option<String>,
    created_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ActivityOut {
    events: Vec<EventOut>,
    limit: u64,
    offset: u64,
    total: u64,
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/activity", tag = "downloads", params(("org" = String, Path, description = "Organization key"), ActivityParams), responses((status = 200, description = "Download events, newest first", body = ActivityOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 403, description = "Not a member of the organization", body = ErrorEnvelope), (status = 422, description = "Invalid parameters; `errors` says which", body = ErrorEnvelope)))]
pub async fn activity(
    State(s): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    ApiQuery(p): ApiQuery<ActivityParams>,
) -> ApiResult<Json<ActivityOut>> {
    let mut errors = Vec::new();
    let limit = bounded(&mut errors, "limit", p.limit, 50, 1, 200);
    let offset = bounded(&mut errors, "offset", p.offset, 0, 0, i64::MAX);
    // A user id, or (as the feed shows users) a username.
    let user_id = match p.user_id.as_deref().filter(|u| !u.is_empty()) {
        Some(u) => match Uuid::parse_str(u) {
            Ok(id) => Some(id),
            Err(_) => match s.db.user_by_name(u).await? {
                Some(user) => Some(user.id),
                None => {
                    errors.push(FieldError::new(
                        &["query", "user_id"],
                        format!("{u:?} is neither a user id (UUID) nor a username"),
                        "uuid_parsing",
                    ));
                    None
                }
            },
        },
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let access = s.org_access(&caller, &org).await?;
    let page = feed(&s, &caller, &access, user_id, p.dataset_name.as_deref(), offset, limit).await?;
    let (events, total) = &*page;
    Ok(Json(ActivityOut {
        events: events
            .iter()
            .map(|e| EventOut {
                id: e.id,
                dataset_id: e.version_id,
                dataset_name: e.dataset_name.clone(),
                version: e.version.clone(),
                split: e.split.clone(),
                user_id: e.user_id,
                username: e.username.clone(),
                user_org: e.user_org.clone(),
                created_at: iso(e.created_at),
            })
            .collect(),
        limit,
        offset,
        total: *total,
    }))
}

/// The org's download events (members only), newest first, and how many match, as of the
/// caller's marks. `dataset_name` is `name` or `org/name`.
pub(crate) async fn feed(
    s: &AppState,
    caller: &Caller,
    access: &OrgAccess,
    user_id: Option<Uuid>,
    dataset_name: Option<&str>,
    offset: u64,
    limit: u64,
) -> ApiResult<crate::fresh::ActivityPage> {
    let org = &access.org.key;
    if !access.is_member() {
        return Err(ApiError::forbidden(format!(
            "download activity of organization {org} is visible to its members only"
        )));
    }
    let dataset_name = dataset_name.filter(|d| !d.is_empty()).map(|d| {
        if d.contains('/') {
            d.to_string()
        } else {
            format!("{org}/{d}")
        }
    });
    let q = ActivityQuery {
        org_id: access.org.id,
        user_id,
        dataset_name,
        offset,
        limit,
    };
    s.fresh.activity(s.db.as_ref(), caller.marks, &q).await
}
