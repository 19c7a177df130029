//! Row previews of a version's files: the same for the API and the web UI. Parquet is read
//! by ranged requests (footer, then the first pages of each column, a page at a time);
//! other formats are streamed from the front and dropped once enough rows have arrived.
//!
//! Each preview runs under a [`Budget`] of bytes and time (`ServerConfig::preview_max_bytes`,
//! `preview_timeout`) and holds one of a few preview slots, so memory stays bounded
//! whatever the files hold; the budget is cancelled when the request is dropped (the
//! client went away), which stops the blocking decoder at its next read.

use bytes::Bytes;
use futures::TryStreamExt;
use granary_core::{DataFormat, Digest};
use granary_db::{FileRecord, VersionRecord};
use granary_infer::{Budget, InferError, Preview};
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};
use std::ops::Range;
use std::sync::Arc;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::AppState;

/// The rows of one split (or of the whole version when it has no splits).
pub struct SplitPreview {
    pub split: Option<String>,
    pub files: Vec<String>,
    pub preview: Preview,
    /// Rows in the split, from the files' published row counts; `None` when a file of a
    /// version published before files carried them has none.
    pub total: Option<u64>,
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
    // Files without a split answer to the name their statistics and `/splits` give them.
    let files: Vec<&FileRecord> = rec
        .files
        .iter()
        .filter(|f| f.split.as_deref().unwrap_or(crate::viewer::DEFAULT_SPLIT) == split)
        .collect();
    if files.is_empty() {
        let mut splits: Vec<&str> = rec
            .files
            .iter()
            .map(|f| f.split.as_deref().unwrap_or(crate::viewer::DEFAULT_SPLIT))
            .collect();
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
/// Errors: 422 naming the split when it does not exist or a file cannot be previewed
/// (past the budget included), 429 when every preview slot stays busy for the timeout,
/// 404 when the version's blobs vanished (deleted meanwhile), 502 on store failures.
pub async fn preview_split(
    state: &AppState,
    rec: &VersionRecord,
    split: Option<String>,
    limit: usize,
) -> ApiResult<SplitPreview> {
    rows_split(state, rec, split, 0, limit).await
}

/// `limit` rows of `split` from row `offset` (0-based, across the split's files in order),
/// under the same budget, slots and errors as [`preview_split`]. Files wholly before
/// `offset` are passed over by their published row counts and never opened; in the file
/// holding `offset`, parquet skips by row group and page, text formats read and drop the
/// rows before it (within the byte budget). An offset at or past the end gives no rows.
pub async fn rows_split(
    state: &AppState,
    rec: &VersionRecord,
    split: Option<String>,
    offset: u64,
    limit: usize,
) -> ApiResult<SplitPreview> {
    let out = preview_split_inner(state, rec, split, offset, limit).await;
    let kind = match &out {
        Ok(_) => "ok",
        Err(e) if e.kind == ErrorKind::Validation || e.kind == ErrorKind::RateLimited => "refused",
        Err(_) => "failed",
    };
    state
        .metrics
        .previews
        .get_or_create(&crate::metrics::KindLabel { kind })
        .inc();
    out
}

async fn preview_split_inner(
    state: &AppState,
    rec: &VersionRecord,
    split: Option<String>,
    offset: u64,
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
    let budget = Arc::new(Budget::new(
        state.config.preview_max_bytes,
        Some(state.config.preview_timeout),
    ));
    let _cancel = CancelOnDrop(budget.clone());
    let _slot = tokio::time::timeout(state.config.preview_timeout, state.preview_slots.acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            state
                .metrics
                .rate_limited
                .get_or_create(&crate::metrics::KindLabel { kind: "previews" })
                .inc();
            ApiError::rate_limited("every preview slot is busy; try again in a few seconds", 2)
        })?;
    state.metrics.previews_running.inc();
    let _running = running_preview(state);
    let total = files
        .iter()
        .map(|f| crate::wire::file_facts(rec, f).1)
        .sum::<Option<u64>>();
    let mut out = SplitPreview {
        split,
        files: Vec::new(),
        preview: Preview::default(),
        total,
    };
    // Past the first rows, a text file's parquet rendition (when the viewer's job has
    // written it) is read instead: by row group and page rather than from the front.
    let renditions = if offset > 0 {
        state
            .db
            .viewer_status(rec.id)
            .await
            .ok()
            .flatten()
            .map(|s| s.renditions)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut skip = offset;
    for &f in &files {
        if out.preview.rows.len() >= limit {
            break;
        }
        match crate::wire::file_facts(rec, f).1 {
            Some(n) if skip >= n => {
                skip -= n;
                continue;
            }
            None if skip > 0 => {
                return Err(ApiError::invalid_field(
                    &["query", "offset"],
                    format!(
                        "{}@{} was published before files carried row counts; only the first rows of this split can be read",
                        rec.full_name, rec.version
                    ),
                    "unsupported",
                ))
            }
            _ => {}
        }
        let want = limit - out.preview.rows.len();
        // A file is read as its extension says (splits may differ in format), else as the
        // version's format.
        let format = DataFormat::from_path(&f.path).unwrap_or(format);
        let columns = crate::wire::file_facts(rec, f).0.map(<[_]>::to_vec);
        let rendered = renditions.iter().find(|r| r.source == f.path).map(|r| FileRecord {
            digest: r.digest.clone(),
            size: r.size,
            ..f.clone()
        });
        let (source, format) = match &rendered {
            Some(r) => (r, DataFormat::Parquet),
            None => (f, format),
        };
        let p = match preview_file(state, &org, source, format, skip, want, budget.clone(), columns).await {
            Ok(p) => p,
            // The version was deleted (and its blobs collected) while this preview ran.
            Err(_) if matches!(state.blobs.stat(&org, &f.digest).await, Ok(None)) => {
                return Err(ApiError::not_found(format!(
                    "{}@{} was not found; it may have just been deleted",
                    rec.full_name, rec.version
                )))
            }
            Err(e) => return Err(preview_error(state, &f.path, e)),
        };
        skip = 0;
        out.files.push(f.path.clone());
        out.preview.append(p, limit);
    }
    // The columns are the published schema: of the one file, else of the version (the
    // files of a version without splits), whatever each file's decoder reported.
    let columns = match files.as_slice() {
        [one] => crate::wire::file_facts(rec, one).0,
        _ => Some(rec.meta.data_schema.as_slice()),
    };
    if let Some(columns) = columns.filter(|c| !c.is_empty()) {
        out.preview.conform(columns);
    }
    Ok(out)
}

fn preview_error(state: &AppState, path: &str, e: InferError) -> ApiError {
    match e {
        InferError::Limit(why) => ApiError::new(
            ErrorKind::Validation,
            format!(
                "{path} cannot be previewed: too large to read: {why} (a preview may decode {} MiB in {} s); download the file instead",
                state.config.preview_max_bytes >> 20,
                state.config.preview_timeout.as_secs()
            ),
        ),
        InferError::Io(io) => ApiError::new(
            ErrorKind::BadGateway,
            format!("reading the stored file {path} failed: {}", io.kind()),
        ),
        other => ApiError::new(ErrorKind::Validation, format!("{path} cannot be previewed: {other}")),
    }
}

/// Lowers the running-previews gauge when the preview ends, however it ends.
fn running_preview(state: &AppState) -> impl Drop {
    struct Dec(prometheus_client::metrics::gauge::Gauge);
    impl Drop for Dec {
        fn drop(&mut self) {
            self.0.dec();
        }
    }
    Dec(state.metrics.previews_running.clone())
}

/// Cancels a budget when dropped: a preview whose request is dropped stops its work.
pub(crate) struct CancelOnDrop(pub(crate) Arc<Budget>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// `limit` rows of one stored file (`file`'s digest and size) from row `offset`, read as
/// `format`; `columns` is its published schema, which a text file's preview shows.
#[allow(clippy::too_many_arguments)]
async fn preview_file(
    state: &AppState,
    org: &str,
    file: &FileRecord,
    format: DataFormat,
    offset: u64,
    limit: usize,
    budget: Arc<Budget>,
    columns: Option<Vec<(String, String)>>,
) -> Result<Preview, InferError> {
    let (digest, size) = (&file.digest, file.size);
    let handle = tokio::runtime::Handle::current();
    if format == DataFormat::Parquet {
        let source = BlobChunks {
            state: state.clone(),
            org: org.to_string(),
            digest: digest.clone(),
            size,
            handle,
            budget: budget.clone(),
        };
        return tokio::task::spawn_blocking(move || granary_infer::rows_parquet(source, offset, limit, budget))
            .await
            .map_err(|e| InferError::Io(std::io::Error::other(e.to_string())))?;
    }
    let blob = state
        .blobs
        .get(org, digest, None)
        .await
        .map_err(|e| InferError::Io(std::io::Error::other(e)))?;
    let reader = tokio_util::io::StreamReader::new(blob.stream.map_err(std::io::Error::other));
    tokio::task::spawn_blocking(move || {
        let _guard = handle.enter();
        let sync = tokio_util::io::SyncIoBridge::new(reader);
        let reader = std::io::BufReader::with_capacity(1 << 16, sync);
        granary_infer::rows_reader_typed(format, reader, offset, limit, &budget, columns.as_deref())
    })
    .await
    .map_err(|e| InferError::Io(std::io::Error::other(e.to_string())))?
}

/// How much a page reader fetches at a time: page headers are small, page bodies are
/// fetched whole by `get_bytes`.
const WINDOW: u64 = 16 << 10;

/// A stored blob as parquet's source of byte ranges, for a blocking thread: every read is
/// a ranged read of the store, so a preview fetches the footer and the pages it decodes.
#[derive(Clone)]
struct BlobChunks {
    state: AppState,
    org: String,
    digest: Digest,
    size: u64,
    handle: tokio::runtime::Handle,
    budget: Arc<Budget>,
}

impl BlobChunks {
    fn range(&self, range: Range<u64>) -> parquet::errors::Result<Bytes> {
        self.budget.check().map_err(|e| ParquetError::External(Box::new(e)))?;
        self.handle
            .block_on(self.state.blobs.read_range(&self.org, &self.digest, range))
            .map_err(|e| ParquetError::External(Box::new(e)))
    }
}

impl Length for BlobChunks {
    fn len(&self) -> u64 {
        self.size
    }
}

impl ChunkReader for BlobChunks {
    type T = WindowReader;

    fn get_read(&self, start: u64) -> parquet::errors::Result<WindowReader> {
        Ok(WindowReader {
            source: self.clone(),
            pos: start,
            buf: Bytes::new(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.range(start..start + length as u64)
    }
}

/// Reads forward from an offset, fetching [`WINDOW`] bytes at a time as they are needed.
struct WindowReader {
    source: BlobChunks,
    pos: u64,
    buf: Bytes,
}

impl std::io::Read for WindowReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            if self.pos >= self.source.size {
                return Ok(0);
            }
            let end = (self.pos + WINDOW).min(self.source.size);
            self.buf = self.source.range(self.pos..end).map_err(std::io::Error::other)?;
            self.pos = end;
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}

/// Search and filter rows of `split` (see `granary_infer::query`), over the split's parquet
/// files: originals, and for other formats their renditions (422 while those are not
/// written). Runs under a preview slot, within `ServerConfig::preview_timeout`; past it the
/// answer is `partial`. Errors: 422 for an unknown split, a bad column or value, or a
/// missing rendition; 429 when every slot stays busy.
pub async fn query_split(
    state: &AppState,
    rec: &VersionRecord,
    split: Option<String>,
    query: granary_infer::query::Query,
    offset: u64,
    length: usize,
) -> ApiResult<(Option<String>, granary_infer::query::Found)> {
    let files =
        split_files(rec, split.as_deref()).map_err(|m| ApiError::invalid_field(&["query", "split"], m, "not_found"))?;
    let org = rec.full_name.split('/').next().unwrap_or_default().to_string();
    let version_format: DataFormat = rec.meta.format.parse().unwrap_or(DataFormat::Parquet);
    let status = state.db.viewer_status(rec.id).await?;
    let handle = tokio::runtime::Handle::current();
    // Search reads whole files: the byte budget is the time's (a page is still checked
    // before it is decompressed).
    let budget = Arc::new(Budget::new(u64::MAX / 2, Some(state.config.preview_timeout)));
    let _cancel = CancelOnDrop(budget.clone());
    let mut inputs = Vec::with_capacity(files.len());
    // A text file's rows are read from its rendition and shown under its published schema.
    let mut published: Option<Vec<(String, String)>> = None;
    for f in files {
        let format = DataFormat::from_path(&f.path).unwrap_or(version_format);
        let (digest, size) = if format == DataFormat::Parquet {
            (f.digest.clone(), f.size)
        } else {
            if published.is_none() {
                published = crate::wire::file_facts(rec, f).0.map(<[_]>::to_vec);
            }
            let r = status
                .as_ref()
                .and_then(|s| s.renditions.iter().find(|r| r.source == f.path))
                .ok_or_else(|| {
                    let state = status.as_ref().map_or("pending", |s| s.state.as_str());
                    ApiError::new(
                        ErrorKind::Validation,
                        format!(
                            "searching {} needs its parquet rendition, which is {state}; the viewer's background job writes it (on a server without --no-viewer-jobs, or by `granary admin viewer-run`): try again in a minute",
                            f.path
                        ),
                    )
                })?;
            (r.digest.clone(), r.size)
        };
        inputs.push(BlobChunks {
            state: state.clone(),
            org: org.clone(),
            digest,
            size,
            handle: handle.clone(),
            budget: budget.clone(),
        });
    }
    let _slot = tokio::time::timeout(state.config.preview_timeout, state.preview_slots.acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| ApiError::rate_limited("every preview slot is busy; try again in a few seconds", 2))?;
    let mut found = tokio::task::spawn_blocking(move || {
        granary_infer::query::query_parquet(inputs, &query, offset, length, budget)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| match e {
        InferError::Parquet(m) if m.starts_with("no column") || m.starts_with("column ") => {
            ApiError::invalid_field(&["query", "where"], m, "invalid")
        }
        InferError::Io(io) => ApiError::new(
            ErrorKind::BadGateway,
            format!("reading a stored file failed: {}", io.kind()),
        ),
        other => ApiError::new(ErrorKind::Validation, format!("the split cannot be searched: {other}")),
    })?;
    if let Some(columns) = published {
        for (_, row) in &mut found.rows {
            granary_infer::conform_row(row, &columns);
        }
        found.columns = columns;
    }
    Ok((split, found))
}
