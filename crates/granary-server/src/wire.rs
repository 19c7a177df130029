//! Response bodies. These structs are the wire contract (spec §3, §5); storage records are
//! converted into them explicitly, so a schema change never silently changes the API.

use chrono::{DateTime, SecondsFormat, Utc};
use granary_db::{FileRecord, Org, User, VersionRecord};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[derive(Clone, Serialize, ToSchema)]
pub struct DatasetSummary {
    pub id: Uuid,
    pub name: String,
    pub version: String,
    pub format: String,
    pub is_public: bool,
    pub download_count: u64,
    pub created_at: String,
    pub updated_at: String,
    #[schema(value_type = Option<Object>)]
    pub origin: Option<Map<String, Value>>,
    pub summary: Option<String>,
    pub pretty_name: Option<String>,
    pub tags: Vec<String>,
    pub license: Option<String>,
    pub task_categories: Vec<String>,
    pub language: Option<Vec<String>>,
    pub size_category: String,
    pub row_count: u64,
    pub file_size_bytes: u64,
}

impl DatasetSummary {
    pub fn new(r: &VersionRecord) -> Self {
        let m = &r.meta;
        DatasetSummary {
            id: r.id,
            name: r.full_name.clone(),
            version: r.version.to_string(),
            format: m.format.clone(),
            is_public: r.is_public,
            download_count: r.download_count,
            created_at: iso(r.created_at),
            updated_at: iso(r.updated_at),
            origin: m.origin.clone(),
            summary: m.summary.clone(),
            pretty_name: m.pretty_name.clone(),
            tags: m.tags.clone(),
            license: m.license.clone(),
            task_categories: m.task_categories.clone(),
            language: m.language.clone(),
            size_category: m.size_category.clone(),
            row_count: m.row_count,
            file_size_bytes: m.file_size_bytes,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FileOut {
    pub path: String,
    pub digest: String,
    /// Bytes.
    pub size: u64,
    pub split: Option<String>,
    /// The file's own columns: name → arrow type name, in column order. Null only for files
    /// of versions published before files carried their schema.
    #[schema(value_type = Option<Object>)]
    pub data_schema: Option<Map<String, Value>>,
    /// The file's own row count; null as for `data_schema`.
    pub row_count: Option<u64>,
}

/// Columns in order: (name, arrow type name).
pub type Columns = [(String, String)];

/// A schema as the wire's `{column: type}` object, in column order.
pub fn schema_object(columns: &[(String, String)]) -> Map<String, Value> {
    columns
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// A file's own schema and row count. A version of one file published before files
/// carried them has the version's.
pub fn file_facts<'a>(r: &'a VersionRecord, f: &'a FileRecord) -> (Option<&'a Columns>, Option<u64>) {
    match (&f.data_schema, f.row_count) {
        (Some(s), rows) => (Some(s.as_slice()), rows),
        (None, _) if r.files.len() == 1 => (Some(r.meta.data_schema.as_slice()), Some(r.meta.row_count)),
        (None, rows) => (None, rows),
    }
}

#[derive(Serialize, ToSchema)]
pub struct DatasetDetail {
    #[serde(flatten)]
    pub summary: DatasetSummary,
    /// The dataset card: markdown as published, or null. Render it sanitized: it is
    /// author-controlled text.
    pub description: Option<String>,
    /// Column name → arrow type name, in column order.
    #[schema(value_type = Object)]
    pub data_schema: Map<String, Value>,
    pub splits: Option<BTreeMap<String, String>>,
    pub artifacts: BTreeMap<String, String>,
    pub files: Vec<FileOut>,
    pub artifacts_hash: String,
    pub manifest_digest: String,
    pub versions: Vec<String>,
    pub latest_version: String,
    /// The viewer's work on this version: parquet renditions and column statistics.
    pub viewer: ViewerOut,
}

/// Where the viewer's background job for a version stands, and the parquet renditions it
/// wrote (one per csv, json, jsonl, arrow or feather file).
#[derive(Serialize, ToSchema, Clone, Debug, Default)]
pub struct ViewerOut {
    /// `pending`, `running`, `ready` or `failed`.
    pub state: String,
    /// Why the last attempt failed, if it did.
    pub error: Option<String>,
    pub renditions: Vec<RenditionOut>,
}

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct RenditionOut {
    /// The file rendered.
    pub source: String,
    /// The rendition's own path (`{source}.parquet`).
    pub path: String,
    pub digest: String,
    /// Bytes.
    pub size: u64,
    pub row_count: u64,
}

impl ViewerOut {
    pub fn new(status: Option<granary_db::ViewerStatus>) -> Self {
        match status {
            None => ViewerOut {
                state: "pending".into(),
                ..Default::default()
            },
            Some(s) => ViewerOut {
                state: s.state,
                error: s.error,
                renditions: s
                    .renditions
                    .into_iter()
                    .map(|r| RenditionOut {
                        source: r.source,
                        path: r.path,
                        digest: r.digest.to_string(),
                        size: r.size,
                        row_count: r.row_count,
                    })
                    .collect(),
            },
        }
    }
}

impl DatasetDetail {
    pub fn new(r: &VersionRecord, versions: Vec<String>) -> Self {
        let latest = versions.first().cloned().unwrap_or_else(|| r.version.to_string());
        DatasetDetail {
            summary: DatasetSummary::new(r),
            description: r.meta.description.clone(),
            data_schema: schema_object(&r.meta.data_schema),
            splits: r.meta.splits.clone(),
            artifacts: r.files.iter().map(|f| (f.path.clone(), f.digest.to_string())).collect(),
            files: r
                .files
                .iter()
                .map(|f| {
                    let (schema, rows) = file_facts(r, f);
                    FileOut {
                        path: f.path.clone(),
                        digest: f.digest.to_string(),
                        size: f.size,
                        split: f.split.clone(),
                        data_schema: schema.map(schema_object),
                        row_count: rows,
                    }
                })
                .collect(),
            artifacts_hash: r.meta.artifacts_hash.to_string(),
            manifest_digest: r.manifest_digest.to_string(),
            versions,
            latest_version: latest,
            viewer: ViewerOut::default(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VersionsOut {
    pub name: String,
    pub versions: Vec<String>,
    pub total: usize,
}

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub id: Uuid,
    pub username: String,
    pub email_address: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        UserOut {
            id: u.id,
            username: u.username.clone(),
            email_address: u.email.clone(),
            created_at: iso(u.created_at),
            updated_at: iso(u.updated_at),
        }
    }
}

/// An organization, with the fixed sandbox settings the official client requires.
#[derive(Serialize, ToSchema)]
pub struct OrgOut {
    pub id: Uuid,
    pub key: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub role: Option<String>,
    pub effective_max_sandbox_runtime_seconds: i64,
    #[schema(value_type = String)]
    pub max_sandbox_runtime_source_level: &'static str,
    pub effective_default_sandbox_runtime_seconds: i64,
    #[schema(value_type = String)]
    pub default_sandbox_runtime_source_level: &'static str,
    pub platform_max_sandbox_runtime_seconds: i64,
    pub platform_default_sandbox_runtime_seconds: i64,
}

impl OrgOut {
    pub fn new(o: &Org, role: Option<&str>) -> Self {
        OrgOut {
            id: o.id,
            key: o.key.clone(),
            name: o.name.clone(),
            created_at: iso(o.created_at),
            updated_at: iso(o.updated_at),
            role: role.map(str::to_string),
            effective_max_sandbox_runtime_seconds: 0,
            max_sandbox_runtime_source_level: "platform",
            effective_default_sandbox_runtime_seconds: 0,
            default_sandbox_runtime_source_level: "platform",
            platform_max_sandbox_runtime_seconds: 0,
            platform_default_sandbox_runtime_seconds: 0,
        }
    }
}

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct ColumnOut {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The body of the preview endpoint.
#[derive(Serialize, ToSchema)]
pub struct PreviewOut {
    pub name: String,
    pub version: String,
    /// The split shown; null when the version has no splits (then all its files are read).
    pub split: Option<String>,
    /// The files the rows came from, in order.
    pub files: Vec<String>,
    pub columns: Vec<ColumnOut>,
    /// One object per row, keys in column order.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Map<String, Value>>,
    pub limit: u64,
}

impl PreviewOut {
    pub fn new(r: &VersionRecord, p: crate::preview::SplitPreview, limit: u64) -> Self {
        PreviewOut {
            name: r.full_name.clone(),
            version: r.version.to_string(),
            split: p.split,
            files: p.files,
            columns: p
                .preview
                .columns
                .into_iter()
                .map(|(name, kind)| ColumnOut { name, kind })
                .collect(),
            rows: p.preview.rows,
            limit,
        }
    }
}

/// One row of the rows endpoint: its index in the split and its values.
#[derive(Serialize, ToSchema)]
pub struct RowOut {
    /// 0-based index of the row in the split (its files in order).
    pub row_idx: u64,
    /// Values keyed by column, in column order.
    #[schema(value_type = Object)]
    pub row: Map<String, Value>,
}

/// The body of the rows endpoint (the Hugging Face dataset viewer's `/rows` vocabulary:
/// `row_idx`, `row`, `num_rows_total`).
#[derive(Serialize, ToSchema)]
pub struct RowsOut {
    pub name: String,
    pub version: String,
    /// The split read; null when the version has no splits (then all its files are read).
    pub split: Option<String>,
    /// The first row asked for (0-based).
    pub offset: u64,
    /// How many rows were asked for (1–100); `rows` is shorter at the end of the split.
    pub length: u64,
    /// Rows in the split; null only for versions published before files carried counts.
    pub num_rows_total: Option<u64>,
    pub columns: Vec<ColumnOut>,
    pub rows: Vec<RowOut>,
}

impl RowsOut {
    pub fn new(r: &VersionRecord, p: crate::preview::SplitPreview, offset: u64, length: u64) -> Self {
        RowsOut {
            name: r.full_name.clone(),
            version: r.version.to_string(),
            split: p.split,
            offset,
            length,
            num_rows_total: p.total,
            columns: p
                .preview
                .columns
                .into_iter()
                .map(|(name, kind)| ColumnOut { name, kind })
                .collect(),
            rows: p
                .preview
                .rows
                .into_iter()
                .zip(offset..)
                .map(|(row, row_idx)| RowOut { row_idx, row })
                .collect(),
        }
    }
}
