//! The publish use case: a manifest PUT becomes an immutable dataset version.
//!
//! Nothing a publisher declares about the data is trusted: every referenced blob must
//! exist in the org, and schema, row count, sizes and size category are computed from
//! the stored files. The version is created in one metadata transaction, so a failed
//! publish leaves nothing behind.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use granary_core::manifest::{ANN_NAME, ANN_TYPE, ANN_VERSION, MEDIA_DATASET_CONFIG, MEDIA_OCI_MANIFEST};
use granary_core::{
    artifacts_hash, size_category, validate_artifact_path, DataFormat, DatasetManifest, Digest, OciManifest, Version,
};
use granary_db::{FileRecord, NewVersion, PublishOutcome, VersionMeta};
use granary_infer::{
    check_footer_len, infer_parquet_metadata, parquet_metadata_len, version_schema, Budget, BudgetReader, Inferred,
    TableFile, PARQUET_TAIL,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use uuid::Uuid;

use crate::access::OrgAccess;
use crate::error::{ApiError, ApiResult};
use crate::preview::CancelOnDrop;
use crate::AppState;

/// Most files one version may list.
const MAX_FILES: usize = 10_000;

pub struct Published {
    pub digest: Digest,
    pub created: bool,
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request(detail).oci("MANIFEST_INVALID")
}

/// Publishes a dataset manifest (`body`, sent with `content_type`) as `name@version`.
/// `pushed_view` is the manifest's `/v2/` rendering when it was pushed there; otherwise a
/// layered view is rendered. Errors: 400 `MANIFEST_INVALID`/`MANIFEST_BLOB_UNKNOWN` for a
/// manifest or file that fails a check, 409 when the version (or its `/v2/` tag) exists with
/// other content, 413 for an oversized config.
#[allow(clippy::too_many_arguments)]
pub async fn publish(
    state: &AppState,
    access: &OrgAccess,
    user_id: Uuid,
    name: &str,
    version: Version,
    content_type: Option<&str>,
    body: Bytes,
    pushed_view: Option<granary_db::OciContent>,
) -> ApiResult<Published> {
    let org = &access.org;
    if let Some(ct) = content_type {
        let ct = ct.split(';').next().unwrap_or("").trim();
        if !ct.is_empty() && ct != MEDIA_OCI_MANIFEST && ct != "application/json" {
            return Err(ApiError::bad_request(format!(
                "unsupported manifest media type {ct:?}: send {MEDIA_OCI_MANIFEST}"
            ))
            .oci("MANIFEST_INVALID"));
        }
    }
    let manifest_digest = Digest::of(&body);
    let manifest: OciManifest = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("manifest is not a valid OCI image manifest: {e}")))?;
    if manifest.schema_version != 2 {
        return Err(invalid("manifest schemaVersion must be 2"));
    }
    if let Some(mt) = &manifest.media_type {
        if mt != MEDIA_OCI_MANIFEST {
            return Err(invalid(format!(
                "manifest mediaType must be {MEDIA_OCI_MANIFEST}, not {mt:?}"
            )));
        }
    }
    if manifest.config.media_type != MEDIA_DATASET_CONFIG {
        return Err(invalid(format!(
            "config mediaType must be {MEDIA_DATASET_CONFIG}, not {:?}",
            manifest.config.media_type
        )));
    }
    if !manifest.layers.is_empty() {
        return Err(invalid(
            "a dataset manifest has no layers: list data files in the config's artifacts",
        ));
    }
    let canonical = format!("{}/{name}", org.key);
    let ann = |k: &str| manifest.annotations.get(k).map(String::as_str);
    if let Some(t) = ann(ANN_TYPE) {
        if t != "dataset" {
            return Err(invalid(format!(
                "annotation {ANN_TYPE} is {t:?}; this registry stores datasets"
            )));
        }
    }
    if let Some(n) = ann(ANN_NAME) {
        if n != canonical {
            return Err(invalid(format!(
                "annotation {ANN_NAME} is {n:?} but the manifest is pushed to {canonical}"
            )));
        }
    }
    if let Some(v) = ann(ANN_VERSION) {
        if v != version.to_string() {
            return Err(invalid(format!(
                "annotation {ANN_VERSION} is {v:?} but the manifest is pushed as {version}"
            )));
        }
    }

    // The config blob: the dataset manifest.
    let config_digest = manifest.config.digest.clone();
    let config_bytes = state
        .blobs
        .read_small(&org.key, &config_digest, state.config.max_manifest_bytes as u64)
        .await
        .map_err(|e| match e {
            granary_blob::BlobError::TooLarge { size, max, .. } => ApiError::new(
                crate::ErrorKind::PayloadTooLarge,
                format!(
                    "the config blob {config_digest} is {size} bytes; a dataset manifest may be at most {max} bytes"
                ),
            )
            .oci("SIZE_INVALID"),
            other => other.into(),
        })?
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "manifest references blobs this org does not have: config ({config_digest})"
            ))
            .oci("MANIFEST_BLOB_UNKNOWN")
        })?;
    if config_bytes.len() as u64 != manifest.config.size {
        return Err(invalid(format!(
            "config descriptor says {} bytes but blob {config_digest} has {}",
            manifest.config.size,
            config_bytes.len()
        )));
    }
    let config: DatasetManifest = serde_json::from_slice(&config_bytes)
        .map_err(|e| invalid(format!("config blob is not a dataset manifest: {e}")))?;

    let (meta, files) = analyze(state, access, &config).await?;
    let manifest = String::from_utf8(body.to_vec()).map_err(|_| invalid("manifest is not UTF-8"))?;
    // Pushed through /v2/, the manifest is the view itself: OCI tools read back by tag what
    // they pushed. Pushed through /api/v1 (the dataset clients), the view lists the files
    // as layers, so `oras pull` writes them.
    let view = match pushed_view {
        Some(v) => v,
        None => crate::oci_content::dataset_view(&manifest, &canonical, version, &meta.format, &files)?,
    };
    let new = NewVersion {
        org_id: org.id,
        name: name.to_string(),
        version,
        manifest_digest,
        manifest,
        config_digest,
        meta,
        files,
        created_by: Some(user_id),
        view: Some(view),
    };
    commit(state, new, &canonical).await
}

/// An ORAS-style push read as a dataset (see [`crate::oci_content::oras_files`]): the
/// server writes the dataset manifest such a version would have been published with (its
/// config blob is stored in the org, so the official client and `granary dataset pull` read
/// the version like any other), and keeps the pushed manifest, byte for byte, as the
/// version's `/v2/` view. Errors as [`publish`].
#[allow(clippy::too_many_arguments)]
pub async fn publish_oras(
    state: &AppState,
    access: &OrgAccess,
    user_id: Uuid,
    name: &str,
    version: Version,
    files: BTreeMap<String, Digest>,
    meta: crate::oci_content::OrasMeta,
    pushed: granary_db::OciContent,
) -> ApiResult<Published> {
    let org = &access.org;
    let canonical = format!("{}/{name}", org.key);
    let artifacts: BTreeMap<String, String> = files.iter().map(|(p, d)| (p.clone(), d.to_string())).collect();
    let format = files
        .keys()
        .find_map(|p| DataFormat::from_path(p))
        .unwrap_or(DataFormat::Parquet);
    let mut config = DatasetManifest {
        artifacts_hash: Some(artifacts_hash(&artifacts).to_string()),
        artifacts,
        format: format.to_string(),
        summary: meta.summary,
        license: meta.license,
        origin: meta.origin,
        pretty_name: meta.pretty_name,
        ..Default::default()
    };
    let (version_meta, file_records) = analyze(state, access, &config).await?;
    config.row_count = Some(version_meta.row_count as i64);
    config.data_schema = version_meta
        .data_schema
        .iter()
        .map(|(c, t)| (c.clone(), serde_json::Value::String(t.clone())))
        .collect();
    config.size_category = Some(version_meta.size_category.clone());
    let config_bytes = serde_json::to_vec(&config).map_err(ApiError::internal)?;
    let config_digest = Digest::of(&config_bytes);
    let len = config_bytes.len() as u64;
    state
        .blobs
        .put(
            &org.key,
            &config_digest,
            futures::stream::once(async move { Ok::<_, std::convert::Infallible>(Bytes::from(config_bytes)) }),
        )
        .await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "config": {"mediaType": MEDIA_DATASET_CONFIG, "digest": config_digest.to_string(), "size": len},
        "layers": [],
        "annotations": {ANN_TYPE: "dataset", ANN_NAME: canonical, ANN_VERSION: version.to_string()},
    })
    .to_string();
    let new = NewVersion {
        org_id: org.id,
        name: name.to_string(),
        version,
        manifest_digest: Digest::of(manifest.as_bytes()),
        manifest,
        config_digest,
        meta: version_meta,
        files: file_records,
        created_by: Some(user_id),
        view: Some(pushed.clone()),
    };
    let published = commit(state, new, &canonical).await?;
    // The same files under the same version with another manifest (another config or
    // layer media types) is other content: the version's view says which was pushed.
    if !published.created {
        let view = state.db.oci_tagged(org.id, name, &version.to_string()).await?;
        if let Some(v) = view.filter(|v| v.digest != pushed.digest) {
            return Err(ApiError::conflict(format!(
                "{canonical}@{version} is already published with different content ({}); versions are immutable, publish a new version",
                v.digest
            )));
        }
    }
    Ok(Published {
        digest: pushed.digest,
        created: published.created,
    })
}

/// Creates the version, or finds it already there with the same manifest.
async fn commit(state: &AppState, new: NewVersion, canonical: &str) -> ApiResult<Published> {
    let (digest, version) = (new.manifest_digest.clone(), new.version);
    match state.db.publish_version(new).await? {
        PublishOutcome::Created(_) => Ok(Published { digest, created: true }),
        PublishOutcome::Unchanged(_) => Ok(Published { digest, created: false }),
        PublishOutcome::Conflict { existing } => Err(ApiError::conflict(format!(
            "{canonical}@{version} is already published with different content ({existing}); versions are immutable, publish a new version"
        ))),
        PublishOutcome::TagTaken { existing } => Err(ApiError::conflict(format!(
            "tag {version} of {canonical} already names other OCI content ({existing}); delete that tag under /v2/ first, or publish another version"
        ))),
    }
}

/// Checks a dataset manifest's files against the org's blobs and computes the version's
/// metadata from the stored bytes: schema and rows of each file, sizes, size category.
async fn analyze(
    state: &AppState,
    access: &OrgAccess,
    config: &DatasetManifest,
) -> ApiResult<(VersionMeta, Vec<FileRecord>)> {
    let org = &access.org;
    // Validate what needs no IO.
    if config.artifacts.is_empty() {
        return Err(invalid(
            "the dataset manifest lists no artifacts: a dataset needs at least one data file",
        ));
    }
    if config.artifacts.len() > MAX_FILES {
        return Err(invalid(format!("a version may hold at most {MAX_FILES} files")));
    }
    let default_format: DataFormat = config
        .format
        .parse()
        .map_err(|e: granary_core::ManifestError| invalid(e.to_string()))?;
    let mut artifacts: BTreeMap<String, Digest> = BTreeMap::new();
    for (path, digest) in &config.artifacts {
        validate_artifact_path(path).map_err(|e| invalid(e.to_string()))?;
        // A file without an extension is read as the manifest's format; one with an
        // extension granary does not read is named, not misread as that format.
        if let Some(ext) = std::path::Path::new(path).extension().and_then(|e| e.to_str()) {
            if DataFormat::from_path(path).is_none() {
                return Err(invalid(format!(
                    "{path}: .{ext} files are not supported; publish parquet, csv, json, jsonl, arrow or feather files"
                )));
            }
        }
        let d: Digest = digest
            .parse()
            .map_err(|e: granary_core::DigestError| invalid(format!("artifact {path}: {e}")))?;
        // Dataset clients (this CLI, the official one) check files by sha256.
        if d.algorithm() != granary_core::Algorithm::Sha256 {
            return Err(invalid(format!(
                "artifact {path}: dataset files are addressed by sha256 digests, not {}; push it as sha256",
                d.algorithm().as_str()
            )));
        }
        artifacts.insert(path.clone(), d);
    }
    let computed_hash = artifacts_hash(&config.artifacts);
    if let Some(declared) = &config.artifacts_hash {
        if declared != &computed_hash.to_string() {
            return Err(invalid(format!(
                "artifacts_hash {declared} does not match the artifacts listed ({computed_hash})"
            )));
        }
    }
    let mut split_of: BTreeMap<&str, &str> = BTreeMap::new();
    if let Some(splits) = &config.splits {
        granary_core::manifest::validate_splits(splits).map_err(|e| invalid(e.to_string()))?;
        for (split, path) in splits {
            if !artifacts.contains_key(path) {
                return Err(invalid(format!(
                    "split {split:?} points at {path:?}, which is not among the artifacts"
                )));
            }
            split_of.insert(path.as_str(), split.as_str());
        }
    }
    if let Some(cat) = &config.size_category {
        granary_core::manifest::validate_size_category(cat).map_err(|e| invalid(e.to_string()))?;
    }

    // Every blob must exist in the org.
    let owned: Vec<(String, Digest)> = artifacts.iter().map(|(p, d)| (p.clone(), d.clone())).collect();
    let sizes: Vec<(String, Option<u64>)> = futures::stream::iter(owned)
        .map(|(path, d)| {
            let (blobs, org_key) = (state.blobs.clone(), org.key.clone());
            async move { blobs.stat(&org_key, &d).await.map(|s| (path, s)) }
        })
        .buffered(16)
        .try_collect()
        .await?;
    let missing: Vec<String> = sizes
        .iter()
        .filter(|(_, s)| s.is_none())
        .map(|(p, _)| format!("{p} ({})", artifacts[p]))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!(
            "manifest references blobs this org does not have: {}; upload them first",
            missing.join(", ")
        ))
        .oci("MANIFEST_BLOB_UNKNOWN"));
    }

    // Compute the truth from the files.
    // Files are read a few at a time (text files are read whole); results keep manifest order.
    let todo: Vec<(String, Digest, u64)> = artifacts
        .iter()
        .zip(&sizes)
        .map(|((path, digest), (_, size))| (path.clone(), digest.clone(), size.expect("checked above")))
        .collect();
    let facts: Vec<Inferred> = futures::stream::iter(todo)
        .map(|(path, digest, size)| {
            let format = DataFormat::from_path(&path).unwrap_or(default_format);
            let (state, org_key) = (state.clone(), org.key.clone());
            async move {
                inferred(&state, &org_key, &digest, size, format)
                    .await
                    .map_err(|e| match e {
                        InferFailure::Api(e) => e,
                        InferFailure::Data(msg) => invalid(format!("{path}: {msg}")),
                    })
            }
        })
        .buffered(INFER_AT_ONCE)
        .try_collect()
        .await?;
    let mut files = Vec::with_capacity(artifacts.len());
    let mut rows = 0u64;
    for (((path, digest), (_, size)), inferred) in artifacts.iter().zip(&sizes).zip(facts) {
        rows += inferred.rows;
        files.push(FileRecord {
            path: path.clone(),
            digest: digest.clone(),
            size: size.expect("checked above"),
            split: split_of.get(path.as_str()).map(|s| s.to_string()),
            data_schema: Some(inferred.columns),
            row_count: Some(inferred.rows),
        });
    }
    // One table, or one table per split (granary_infer::version_schema's rules).
    let tables: Vec<TableFile> = files
        .iter()
        .map(|f| TableFile {
            path: &f.path,
            split: f.split.as_deref(),
            format: DataFormat::from_path(&f.path).unwrap_or(default_format),
            columns: f.data_schema.as_deref().unwrap_or_default(),
        })
        .collect();
    let schema = version_schema(&tables).map_err(|e| invalid(e.to_string()))?;
    Ok((
        VersionMeta {
            format: default_format.to_string(),
            data_schema: schema,
            row_count: rows,
            file_size_bytes: files.iter().map(|f| f.size).sum(),
            size_category: config
                .size_category
                .clone()
                .unwrap_or_else(|| size_category(rows).to_string()),
            summary: config.summary.clone(),
            description: config.description.clone(),
            pretty_name: config.pretty_name.clone(),
            license: config.license.clone(),
            language: config.language.clone(),
            tags: config.tags.clone().unwrap_or_default(),
            task_categories: config.task_categories.clone().unwrap_or_default(),
            origin: config.origin.clone(),
            splits: config.splits.clone(),
            artifacts_hash: computed_hash,
        },
        files,
    ))
}

/// Files of one manifest inferred at once.
const INFER_AT_ONCE: usize = 2;

/// Inferences a server keeps (a few small records each; a schema with more columns than
/// [`MAX_CACHED_COLUMNS`] is not kept).
const MAX_INFERRED: usize = 256;
const MAX_CACHED_COLUMNS: usize = 1_000;

/// Recent schema inferences by content digest and format: the same bytes read as the same
/// format always give the same answer, whichever org holds them. A push asks for a text
/// file's schema right after uploading it (`GET /api/v1/{org}/blobs/{digest}/schema`), so
/// the inference runs while its other files are still being sent, and the manifest that
/// names the file moments later finds it here. Bounded; emptied when full.
#[derive(Default)]
pub struct InferCache {
    map: std::sync::Mutex<HashMap<(Digest, DataFormat), Inferred>>,
}

impl InferCache {
    fn get(&self, digest: &Digest, format: DataFormat) -> Option<Inferred> {
        self.map
            .lock()
            .expect("poisoned")
            .get(&(digest.clone(), format))
            .cloned()
    }

    fn put(&self, digest: &Digest, format: DataFormat, inferred: &Inferred) {
        if inferred.columns.len() > MAX_CACHED_COLUMNS {
            return;
        }
        let mut map = self.map.lock().expect("poisoned");
        if map.len() >= MAX_INFERRED {
            map.clear();
        }
        map.insert((digest.clone(), format), inferred.clone());
    }
}

/// Schema and row count of the org's blob `digest` (`size` bytes) read as `format`: from
/// the server's [`InferCache`] when it has them, otherwise read from the store and kept.
/// Errors: `Data` when the bytes are not a readable file of that format, `Api` when the
/// store fails.
pub(crate) async fn inferred(
    state: &AppState,
    org: &str,
    digest: &Digest,
    size: u64,
    format: DataFormat,
) -> Result<Inferred, InferFailure> {
    if let Some(hit) = state.inferred.get(digest, format) {
        return Ok(hit);
    }
    let found = infer_blob(state, org, digest, size, format).await?;
    state.inferred.put(digest, format, &found);
    Ok(found)
}

pub(crate) enum InferFailure {
    Api(ApiError),
    Data(String),
}

impl From<granary_blob::BlobError> for InferFailure {
    fn from(e: granary_blob::BlobError) -> Self {
        InferFailure::Api(e.into())
    }
}

/// Schema and row count of a stored blob: parquet from two ranged reads of its footer,
/// other formats from one streamed pass on a blocking thread.
async fn infer_blob(
    state: &AppState,
    org: &str,
    digest: &Digest,
    size: u64,
    format: DataFormat,
) -> Result<Inferred, InferFailure> {
    if format == DataFormat::Parquet {
        if size < (PARQUET_TAIL as u64) + 4 {
            return Err(InferFailure::Data(
                "not a readable parquet file: file is too small".into(),
            ));
        }
        let tail = state
            .blobs
            .read_range(org, digest, size - PARQUET_TAIL as u64..size)
            .await?;
        let tail: [u8; PARQUET_TAIL] = tail
            .as_ref()
            .try_into()
            .map_err(|_| InferFailure::Data("short read".into()))?;
        let len = parquet_metadata_len(&tail).map_err(|e| InferFailure::Data(e.to_string()))? as u64;
        check_footer_len(len, size).map_err(|e| InferFailure::Data(e.to_string()))?;
        let meta = state
            .blobs
            .read_range(
                org,
                digest,
                size - PARQUET_TAIL as u64 - len..size - PARQUET_TAIL as u64,
            )
            .await?;
        return infer_parquet_metadata(&meta).map_err(|e| InferFailure::Data(e.to_string()));
    }
    let blob = state.blobs.get(org, digest, None).await?;
    let reader = tokio_util::io::StreamReader::new(blob.stream.map_err(std::io::Error::other));
    let handle = tokio::runtime::Handle::current();
    // No byte or time limit (a publish reads every byte once), but the pass stops when the
    // publish request is dropped.
    let budget = Arc::new(Budget::new(u64::MAX, None));
    let _cancel = CancelOnDrop(budget.clone());
    tokio::task::spawn_blocking(move || {
        let _guard = handle.enter();
        let sync = BudgetReader::new(tokio_util::io::SyncIoBridge::new(reader), &budget);
        granary_infer::infer_reader(format, std::io::BufReader::with_capacity(1 << 20, sync))
    })
    .await
    .map_err(|e| InferFailure::Api(ApiError::internal(e)))?
    .map_err(|e| match e {
        granary_infer::InferError::Io(io) => InferFailure::Api(ApiError::new(
            crate::error::ErrorKind::BadGateway,
            format!("reading the stored file failed: {}", io.kind()),
        )),
        other => InferFailure::Data(other.to_string()),
    })
}
