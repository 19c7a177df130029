//! Garbage collection: removes blobs no version references and upload sessions nobody
//! finished. Run by `granary admin gc`, on any backend.
//!
//! A publish uploads its blobs first and references them only when its manifest lands, so a
//! blob younger than `min_blob_age` is never removed: a publish has that long to finish.

use chrono::{Duration, Utc};
use granary_blob::BlobStore;
use granary_db::MetadataStore;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Db(#[from] granary_db::DbError),
    #[error(transparent)]
    Blob(#[from] granary_blob::BlobError),
}

#[derive(Clone, Debug)]
pub struct GcOptions {
    /// Unreferenced blobs younger than this are kept.
    pub min_blob_age: Duration,
    /// Upload sessions untouched for this long are removed.
    pub upload_age: Duration,
    /// Report only; remove nothing.
    pub dry_run: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    pub blobs_removed: u64,
    pub bytes_removed: u64,
    pub blobs_kept: u64,
    pub uploads_removed: u64,
    /// Staging files of commits cut off by a crash (local stores).
    pub staging_removed: u64,
}

pub async fn collect(db: &dyn MetadataStore, blobs: &BlobStore, opts: &GcOptions) -> Result<GcReport, GcError> {
    let now = Utc::now();
    let mut report = GcReport::default();
    let mut by_org: HashMap<String, Vec<granary_blob::StoredBlob>> = HashMap::new();
    for b in blobs.list_blobs().await? {
        by_org.entry(b.org.clone()).or_default().push(b);
    }
    for (org_key, stored) in by_org {
        let referenced = match db.org_by_key(&org_key).await? {
            Some(org) => db.referenced_digests(org.id).await?,
            None => Default::default(),
        };
        for b in stored {
            if referenced.contains(&b.digest.to_string()) || now - b.last_modified < opts.min_blob_age {
                report.blobs_kept += 1;
                continue;
            }
            if !opts.dry_run {
                blobs.delete_blob(&org_key, &b.digest).await?;
            }
            report.blobs_removed += 1;
            report.bytes_removed += b.size;
        }
    }
    for (id, touched) in blobs.list_uploads().await? {
        if now - touched >= opts.upload_age {
            if !opts.dry_run {
                blobs.discard(id).await?;
            }
            report.uploads_removed += 1;
        }
    }
    report.staging_removed = blobs.sweep_staging(now - opts.upload_age, opts.dry_run).await?;
    Ok(report)
}
