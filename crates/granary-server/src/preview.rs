//! Row previews of a version's files: the same for the API and the web UI. Parquet is read
//! by ranged requests (footer, page index, the first pages); other formats are streamed
//! from the front and dropped once enough rows have arrived.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use granary_core::{DataFormat, Digest};
use granary_db::{FileRecord, VersionRecord};
use granary_infer::{InferError, Preview};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use std::ops::Range;
use std::sync::Arc;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::AppState;

/// The rows of one split (or of the whole version when it has no splits).
pub struct SplitPreview {
    pub split: Option<String>,
    pub files: Vec<String>,
    pub preview: Preview,
}

/// The split a preview shows when none is asked for: `train` if there is one, else the
/// first split in file order; none when the version has no splits.
pub fn default_split(rec: &VersionRecord) -> Option<String> {
    let splits: Vec<&str> = rec.files.iter().filter_map(|f| f.split.as_deref()).collect();
    splits
        .iter()
        .find(|s| **s == "train")
        .or(splits.first())
        .map(|s| s.to_string())
}

/// The version's files that hold `split`, or an error naming the splits it has.
pub fn split_files<'a>(rec: &'a VersionRecord, split: Option<&str>) -> Result<Vec<&'a FileRecord>, String> {
    let Some(split) = split else {
        return Ok(rec.files.iter().collect());
    };
    let files: Vec<&FileRecord> = rec.files.iter().filter(|f| f.split.as_deref() == Some(split)).collect();
    if files.is_empty() {
        let mut splits: Vec<&str> = rec.files.iter().filter_map(|f| f.split.as_deref()).collect();
        splits.sort_unstable();
        splits.dedup();
        let known = if splits.is_empty() {
            "it has no splits".to_string()
        } else {
            format!("its splits are {}", splits.join(", "))
        };
        return Err(format!(
            "{}@{} has no split {split:?}; {known}",
            rec.full_name, rec.version
        ));
    }
    Ok(files)
}

/// The first `limit` rows of `split`, reading the split's files in order until enough.
pub async fn preview_split(
    state: &AppState,
    rec: &VersionRecord,
    split: Option<String>,
    limit: usize,
) -> ApiResult<SplitPreview> {
    let files =
        split_files(rec, split.as_deref()).map_err(|m| ApiError::invalid_field(&["query", "split"], m, "not_found"))?;
    let format: DataFormat = rec
        .meta
        .format
        .parse()
        .map_err(|_| ApiError::internal("a published version has an unknown format"))?;
    let org = rec.full_name.split('/').next().unwrap_or_default().to_string();
    let mut out = SplitPreview {
        split,
        files: Vec::new(),
        preview: Preview::default(),
    };
    for f in files {
        if out.preview.rows.len() >= limit {
            break;
        }
        let want = limit - out.preview.rows.len();
        let p = preview_file(state, &org, &f.digest, f.size, format, want)
            .await
            .map_err(|e| match e {
                InferError::Io(io) => ApiError::new(
                    ErrorKind::BadGateway,
                    format!("reading the stored file {} failed: {}", f.path, io.kind()),
                ),
                other => ApiError::new(
                    ErrorKind::Validation,
                    format!("{} cannot be previewed: {other}", f.path),
                ),
            })?;
        out.files.push(f.path.clone());
        out.preview.append(p, limit);
    }
    Ok(out)
}

async fn preview_file(
    state: &AppState,
    org: &str,
    digest: &Digest,
    size: u64,
    format: DataFormat,
    limit: usize,
) -> Result<Preview, InferError> {
    if format == DataFormat::Parquet {
        let reader = BlobFile {
            state: state.clone(),
            org: org.to_string(),
            digest: digest.clone(),
            size,
        };
        return granary_infer::preview_parquet(reader, limit).await;
    }
    let blob = state
        .blobs
        .get(org, digest, None)
        .await
        .map_err(|e| InferError::Io(std::io::Error::other(e)))?;
    let reader = tokio_util::io::StreamReader::new(blob.stream.map_err(std::io::Error::other));
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _guard = handle.enter();
        let sync = tokio_util::io::SyncIoBridge::new(reader);
        granary_infer::preview_reader(format, std::io::BufReader::with_capacity(1 << 16, sync), limit)
    })
    .await
    .map_err(|e| InferError::Io(std::io::Error::other(e.to_string())))?
}

/// A stored blob as parquet's ranged-read source.
struct BlobFile {
    state: AppState,
    org: String,
    digest: Digest,
    size: u64,
}

impl AsyncFileReader for BlobFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.state
                .blobs
                .read_range(&self.org, &self.digest, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let meta = ParquetMetaDataReader::new()
                .with_page_index_policy(PageIndexPolicy::Optional)
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(meta))
        }
        .boxed()
    }
}
