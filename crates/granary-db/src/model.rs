//! Records the store returns and takes. These are storage-side types; the HTTP layer maps
//! them to its own wire types.

use chrono::{DateTime, Utc};
use granary_core::{Digest, Version};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq)]
pub struct Org {
    pub id: Uuid,
    pub key: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiKey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub is_public: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FileRecord {
    pub path: String,
    pub digest: Digest,
    pub size: u64,
    pub split: Option<String>,
    /// The file's own columns (name, arrow type name) in order; `None` for files of
    /// versions published before files carried their schema.
    pub data_schema: Option<Vec<(String, String)>>,
    /// The file's own row count; `None` as for `data_schema`.
    pub row_count: Option<u64>,
}

/// Descriptive metadata of a version, as published.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionMeta {
    pub format: String,
    /// Column name → arrow type name, in column order.
    pub data_schema: Vec<(String, String)>,
    pub row_count: u64,
    pub file_size_bytes: u64,
    pub size_category: String,
    pub summary: Option<String>,
    /// The dataset card: markdown, as published (`description` in the config blob).
    pub description: Option<String>,
    pub pretty_name: Option<String>,
    pub license: Option<String>,
    pub language: Option<Vec<String>>,
    pub tags: Vec<String>,
    pub task_categories: Vec<String>,
    pub origin: Option<Map<String, Value>>,
    pub splits: Option<BTreeMap<String, String>>,
    pub artifacts_hash: Digest,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewVersion {
    pub org_id: Uuid,
    pub name: String,
    pub version: Version,
    pub manifest_digest: Digest,
    /// The OCI manifest exactly as pushed.
    pub manifest: String,
    pub config_digest: Digest,
    pub meta: VersionMeta,
    pub files: Vec<FileRecord>,
    pub created_by: Option<Uuid>,
    /// The version's view under `/v2/`, stored with it and tagged with the version: the
    /// pushed manifest of an ORAS-style push, or a layered rendering of a dataset manifest.
    pub view: Option<OciContent>,
}

/// One OCI manifest or index to store under `/v2/{org}/{repo}` (OCI distribution-spec,
/// "Pushing manifests"). `body` is kept byte for byte; `digest` is its digest.
#[derive(Clone, Debug, PartialEq)]
pub struct OciContent {
    pub digest: Digest,
    /// The manifest's media type (`application/vnd.oci.image.manifest.v1+json`, …).
    pub media_type: String,
    /// `artifactType`, or for an image manifest without one its config's media type (the
    /// referrers API's rule).
    pub artifact_type: Option<String>,
    /// The `subject` descriptor's digest.
    pub subject: Option<Digest>,
    /// The manifest's `annotations`, as a JSON object, for the referrers API.
    pub annotations: Option<String>,
    pub body: String,
    /// Every digest a descriptor of the manifest names: config, layers, child manifests,
    /// subject. Garbage collection keeps these.
    pub refs: Vec<Digest>,
}

/// A stored OCI manifest (see [`OciContent`]).
#[derive(Clone, Debug, PartialEq)]
pub struct OciManifestRecord {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
    /// Empty when the record comes from a listing (the referrers API).
    pub body: String,
    /// The body's length in bytes.
    pub size: u64,
    /// The dataset versions whose tag names this manifest: the tag's version when read by
    /// tag, every such version when read by digest; empty for generic content.
    pub versions: Vec<Uuid>,
}

/// What storing a manifest did.
#[derive(Clone, Debug, PartialEq)]
pub enum OciPutOutcome {
    Stored,
    /// `tag` is a dataset version's tag with other content (or a version was to take a tag
    /// that names other content); versions are immutable. Nothing was written.
    TagIsVersion {
        tag: String,
        existing: Digest,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct VersionRecord {
    pub id: Uuid,
    pub dataset_id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    /// `org/name`
    pub full_name: String,
    pub version: Version,
    pub is_public: bool,
    pub manifest_digest: Digest,
    pub manifest: String,
    pub config_digest: Digest,
    pub meta: VersionMeta,
    /// In path order; empty in list results.
    pub files: Vec<FileRecord>,
    /// Exact: folded count plus events not yet folded.
    pub download_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PublishOutcome {
    /// The version is new.
    Created(Box<VersionRecord>),
    /// The same manifest was already published under this version: nothing changed.
    Unchanged(Box<VersionRecord>),
    /// The version exists with other content.
    Conflict { existing: Digest },
    /// The version's tag already names other OCI content in the repository (`/v2/`).
    TagTaken { existing: Digest },
}

/// Where the catalog, access rules and download counts stood when read (see
/// `MetadataStore::change_marks`). Each only grows; equal marks mean nothing of that kind
/// committed in between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeMarks {
    /// Newest catalog change number.
    pub catalog: i64,
    /// Newest access change number.
    pub access: i64,
    /// Downloads recorded so far (the `download_marks` sum).
    pub downloads: i64,
}

/// What the in-memory catalog keeps of a version: everything lists filter and sort on.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogRow {
    pub id: Uuid,
    pub dataset_id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub full_name: String,
    pub version: Version,
    pub is_public: bool,
    pub summary: Option<String>,
    pub tags: Vec<String>,
    pub task_categories: Vec<String>,
    pub license: Option<String>,
    pub format: String,
    pub size_category: String,
    pub row_count: u64,
    pub file_size_bytes: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Shown in listings, not filtered on.
    pub pretty_name: Option<String>,
    pub language: Option<Vec<String>>,
    pub origin: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewDownload {
    pub org_id: Uuid,
    pub version_id: Uuid,
    /// `org/name`
    pub dataset_name: String,
    pub version: Version,
    pub split: Option<String>,
    pub user_id: Uuid,
    pub username: String,
    pub user_org: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DownloadEvent {
    pub id: Uuid,
    pub seq: i64,
    pub version_id: Uuid,
    pub dataset_name: String,
    pub version: String,
    pub split: Option<String>,
    pub user_id: Uuid,
    pub username: String,
    pub user_org: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Downloads of one version on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyDownloads {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub version: String,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ActivityQuery {
    pub org_id: Uuid,
    pub user_id: Option<Uuid>,
    /// `org/name`
    pub dataset_name: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

/// A viewer job claimed by one server: it alone may finish it while `lease` holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewerClaim {
    pub version_id: Uuid,
    pub org_id: Uuid,
    /// Claims so far, this one included.
    pub attempts: u32,
    pub lease: Uuid,
}

/// The parquet rendition of one file of a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendition {
    /// The file it renders (its path in the version).
    pub source: String,
    /// Its own path: the source's with `.parquet` appended.
    pub path: String,
    pub digest: Digest,
    /// Bytes.
    pub size: u64,
    pub row_count: u64,
}

/// Where a version's viewer job stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewerStatus {
    /// `pending`, `running`, `ready` or `failed`.
    pub state: String,
    pub attempts: u32,
    /// The job's result (JSON: column statistics per split) once ready.
    pub result: Option<String>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    pub renditions: Vec<Rendition>,
}
