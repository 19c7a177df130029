//! A dataset over time: what changed between two versions (`…/{name}/diff`) and how often
//! it was downloaded each day (`…/{name}/downloads`). The web UI renders the same answers.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{Duration, NaiveDate, Utc};
use granary_core::Version;
use granary_db::{FileRecord, VersionRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

use super::datasets::local_name;
use super::discovery::bounded;
use crate::access::OrgAccess;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::ApiQuery;
use crate::openapi::ErrorEnvelope;
use crate::wire::ColumnOut;
use crate::AppState;

/// A number in both versions and the change (`to - from`).
#[derive(Serialize, ToSchema, Clone, Copy, Debug, PartialEq)]
pub struct Delta {
    pub from: u64,
    pub to: u64,
    pub delta: i64,
}

impl Delta {
    fn new(from: u64, to: u64) -> Self {
        Delta {
            from,
            to,
            delta: to as i64 - from as i64,
        }
    }
}

/// A column whose type changed.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct Retyped {
    pub name: String,
    pub from: String,
    pub to: String,
}

#[derive(Serialize, ToSchema, Clone, Debug, Default)]
pub struct ColumnsDiff {
    /// Columns of `to` that `from` lacks, in `to`'s order.
    pub added: Vec<ColumnOut>,
    /// Columns of `from` that `to` lacks, in `from`'s order.
    pub removed: Vec<ColumnOut>,
    /// Columns in both whose Arrow type differs, in `to`'s order.
    pub retyped: Vec<Retyped>,
}

/// One file of a version.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct FileRef {
    pub path: String,
    pub split: Option<String>,
    pub digest: String,
    /// Bytes.
    pub size: u64,
    pub row_count: Option<u64>,
}

/// A path in both versions with different bytes (or split).
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct FileChange {
    pub path: String,
    pub from: FileRef,
    pub to: FileRef,
}

#[derive(Serialize, ToSchema, Clone, Debug, Default)]
pub struct FilesDiff {
    pub added: Vec<FileRef>,
    pub removed: Vec<FileRef>,
    pub changed: Vec<FileChange>,
    /// Paths with the same digest and split in both.
    pub unchanged: Vec<String>,
}

/// The body of the diff endpoint.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct DiffOut {
    pub name: String,
    pub from: String,
    pub to: String,
    /// By column name (the published schemas, version-wide).
    pub columns: ColumnsDiff,
    pub row_count: Delta,
    /// Bytes of all files.
    pub file_size_bytes: Delta,
    /// Files matched by path.
    pub files: FilesDiff,
    /// Rows per split where either version has splits: split → delta (absent in one
    /// version counts as 0 rows there).
    #[schema(value_type = Object)]
    pub splits: BTreeMap<String, Delta>,
    /// Descriptive fields whose value differs: `summary`, `description`, `pretty_name`,
    /// `license`, `tags`, `task_categories`, `language`, `origin`, `size_category`, `format`.
    pub fields_changed: Vec<String>,
}

fn file_ref(rec: &VersionRecord, f: &FileRecord) -> FileRef {
    FileRef {
        path: f.path.clone(),
        split: f.split.clone(),
        digest: f.digest.to_string(),
        size: f.size,
        row_count: crate::wire::file_facts(rec, f).1,
    }
}

/// What changed from `a` to `b` (two versions of one dataset).
pub fn diff(a: &VersionRecord, b: &VersionRecord) -> DiffOut {
    let mut columns = ColumnsDiff::default();
    let old: BTreeMap<&str, &str> = a
        .meta
        .data_schema
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let new: BTreeMap<&str, &str> = b
        .meta
        .data_schema
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    for (name, ty) in &b.meta.data_schema {
        match old.get(name.as_str()) {
            None => columns.added.push(ColumnOut {
                name: name.clone(),
                kind: ty.clone(),
            }),
            Some(was) if *was != ty => columns.retyped.push(Retyped {
                name: name.clone(),
                from: was.to_string(),
                to: ty.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, ty) in &a.meta.data_schema {
        if !new.contains_key(name.as_str()) {
            columns.removed.push(ColumnOut {
                name: name.clone(),
                kind: ty.clone(),
            });
        }
    }
    let mut files = FilesDiff::default();
    for f in &b.files {
        match a.files.iter().find(|o| o.path == f.path) {
            None => files.added.push(file_ref(b, f)),
            Some(o) if o.digest != f.digest || o.split != f.split => files.changed.push(FileChange {
                path: f.path.clone(),
                from: file_ref(a, o),
                to: file_ref(b, f),
            }),
            Some(_) => files.unchanged.push(f.path.clone()),
        }
    }
    for o in &a.files {
        if !b.files.iter().any(|f| f.path == o.path) {
            files.removed.push(file_ref(a, o));
        }
    }
    let split_rows = |r: &VersionRecord| {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for f in &r.files {
            if let Some(sp) = &f.split {
                *m.entry(sp.clone()).or_default() += crate::wire::file_facts(r, f).1.unwrap_or(0);
            }
        }
        m
    };
    let (sa, sb) = (split_rows(a), split_rows(b));
    let splits = sa
        .keys()
        .chain(sb.keys())
        .map(|k| {
            (
                k.clone(),
                Delta::new(*sa.get(k).unwrap_or(&0), *sb.get(k).unwrap_or(&0)),
            )
        })
        .collect();
    let (ma, mb) = (&a.meta, &b.meta);
    let json = |v: &dyn erased::AsJson| v.as_json();
    let fields: [(&str, Value, Value); 10] = [
        ("summary", json(&ma.summary), json(&mb.summary)),
        ("description", json(&ma.description), json(&mb.description)),
        ("pretty_name", json(&ma.pretty_name), json(&mb.pretty_name)),
        ("license", json(&ma.license), json(&mb.license)),
        ("tags", json(&ma.tags), json(&mb.tags)),
        ("task_categories", json(&ma.task_categories), json(&mb.task_categories)),
        ("language", json(&ma.language), json(&mb.language)),
        ("origin", json(&ma.origin), json(&mb.origin)),
        ("size_category", json(&ma.size_category), json(&mb.size_category)),
        ("format", json(&ma.format), json(&mb.format)),
    ];
    DiffOut {
        name: b.full_name.clone(),
        from: a.version.to_string(),
        to: b.version.to_string(),
        columns,
        row_count: Delta::new(ma.row_count, mb.row_count),
        file_size_bytes: Delta::new(ma.file_size_bytes, mb.file_size_bytes),
        files,
        splits,
        fields_changed: fields
            .into_iter()
            .filter(|(_, x, y)| x != y)
            .map(|(k, _, _)| k.to_string())
            .collect(),
    }
}

mod erased {
    /// Any serializable field as JSON, for comparing fields of different types in one list.
    pub trait AsJson {
        fn as_json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> AsJson for T {
        fn as_json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or_default()
        }
    }
}

fn parse_version(errors: &mut Vec<FieldError>, field: &str, v: Option<&str>) -> Option<Version> {
    let v = v.filter(|v| !v.is_empty())?;
    match v.parse::<Version>() {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(FieldError::new(&["query", field], e.to_string(), "invalid_version"));
            None
        }
    }
}

/// The two versions a diff compares: `to` (default: the highest), and `from` (default: the
/// highest version below `to`). 422 when `to` is the lowest version and no `from` is given.
pub(crate) async fn versions_to_compare(
    state: &AppState,
    access: &OrgAccess,
    name: &str,
    from: Option<Version>,
    to: Option<Version>,
) -> ApiResult<(VersionRecord, VersionRecord)> {
    let b = state.visible_version(access, name, to).await?;
    let from = match from {
        Some(f) => f,
        None => {
            let versions = state.db.list_versions(access.org.id, name).await?;
            versions.into_iter().find(|v| *v < b.version).ok_or_else(|| {
                ApiError::invalid_field(
                    &["query", "from"],
                    format!(
                        "{}@{} is the first version; name the version to compare with (from=)",
                        b.full_name, b.version
                    ),
                    "missing",
                )
            })?
        }
    };
    let a = state.visible_version(access, name, Some(from)).await?;
    Ok((a, b))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// The older version (default: the highest version below `to`).
    from: Option<String>,
    /// The newer version (default: the highest).
    to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/{name}/diff", tag = "datasets", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)"), DiffParams), responses((status = 200, description = "Columns added, removed and retyped; row, size and per-split deltas; files added, removed and changed; descriptive fields that differ", body = DiffOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization, dataset or version, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "A malformed version, or no version to compare with", body = ErrorEnvelope)))]
/// `GET …/{name}/diff?from=&to=`: what changed between two versions.
pub async fn diff_route(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
    ApiQuery(p): ApiQuery<DiffParams>,
) -> ApiResult<Json<DiffOut>> {
    let mut errors = Vec::new();
    let from = parse_version(&mut errors, "from", p.from.as_deref());
    let to = parse_version(&mut errors, "to", p.to.as_deref());
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let access = state.org_access(&caller, &org).await?;
    let name = local_name(&org, &name)?;
    let (a, b) = versions_to_compare(&state, &access, name, from, to).await?;
    Ok(Json(diff(&a, &b)))
}

/// One day of the downloads series.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct DayOut {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    /// Downloads that day, all versions.
    pub count: u64,
    /// Downloads that day by version (versions without any are absent).
    #[schema(value_type = Object)]
    pub by_version: BTreeMap<String, u64>,
}

/// The body of the downloads endpoint.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct DownloadsOut {
    pub name: String,
    /// Days in `series`, ending today (UTC).
    pub days: u64,
    /// Downloads of every version ever, deleted versions included.
    pub total: u64,
    /// Downloads per version, all time (current versions; deleted ones are in `total`).
    #[schema(value_type = Object)]
    pub by_version: BTreeMap<String, u64>,
    /// One entry per day, oldest first, days without downloads included.
    pub series: Vec<DayOut>,
}

/// Downloads of `rec`'s dataset over the last `days` days (UTC, today included).
pub(crate) async fn downloads(
    state: &AppState,
    access: &OrgAccess,
    rec: &VersionRecord,
    days: u64,
) -> ApiResult<DownloadsOut> {
    let today = Utc::now().date_naive();
    let first: NaiveDate = today - Duration::days(days as i64 - 1);
    let since = first.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let rows = state.db.downloads_per_day(access.org.id, &rec.full_name, since).await?;
    let (_, total) = state
        .db
        .list_downloads(&granary_db::ActivityQuery {
            org_id: access.org.id,
            user_id: None,
            dataset_name: Some(rec.full_name.clone()),
            offset: 0,
            limit: 0,
        })
        .await?;
    let ids = state.db.version_ids(access.org.id, &rec.name).await?;
    let counts = state
        .db
        .download_counts(&ids.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .await?;
    let by_version = ids
        .into_iter()
        .map(|(id, v)| (v.to_string(), counts.get(&id).copied().unwrap_or(0)))
        .collect();
    let mut series: Vec<DayOut> = (0..days)
        .map(|i| DayOut {
            date: (first + Duration::days(i as i64)).format("%Y-%m-%d").to_string(),
            count: 0,
            by_version: BTreeMap::new(),
        })
        .collect();
    for r in rows {
        if let Some(day) = series.iter_mut().find(|d| d.date == r.day) {
            day.count += r.count;
            *day.by_version.entry(r.version).or_default() += r.count;
        }
    }
    Ok(DownloadsOut {
        name: rec.full_name.clone(),
        days,
        total,
        by_version,
        series,
    })
}

/// Longest series served, in days.
pub const MAX_DAYS: i64 = 366;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadsParams {
    /// Days in the series, ending today (UTC): 1 to 366, default 30.
    #[param(minimum = 1, maximum = 366)]
    days: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/org/{org}/datasets/{name}/downloads", tag = "downloads", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)"), DownloadsParams), responses((status = 200, description = "Downloads per UTC day and version, the all-time total and per-version counts", body = DownloadsOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "`days` out of range", body = ErrorEnvelope)))]
/// `GET …/{name}/downloads?days=`: downloads per day, for anyone who may read the dataset.
pub async fn downloads_route(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
    ApiQuery(p): ApiQuery<DownloadsParams>,
) -> ApiResult<Json<DownloadsOut>> {
    let mut errors = Vec::new();
    let days = bounded(&mut errors, "days", p.days, 30, 1, MAX_DAYS);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let access = state.org_access(&caller, &org).await?;
    let name = local_name(&org, &name)?;
    let rec = state.visible_version(&access, name, None).await?;
    Ok(Json(downloads(&state, &access, &rec, days).await?))
}
