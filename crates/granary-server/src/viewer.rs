//! The viewer's background work, once per version: a parquet rendition of every csv, json,
//! jsonl, arrow and feather file (the published schema, stored as a blob of the org), then
//! the column statistics of every split, read from parquet (the originals or renditions).
//!
//! Any server may do a job: it claims it in the metadata store under a lease
//! ([`LEASE`], renewed every [`RENEW`] while it works). A server that dies leaves its lease
//! to run out, and the job is claimed again; a finished job is recorded once, by the holder
//! of the live lease. A job that fails [`MAX_ATTEMPTS`] times stays `failed` with the reason.
//! [`serve`](crate::serve) runs [`run_once`] every few seconds; tests call it directly.

use chrono::Utc;
use granary_core::{DataFormat, Digest};
use granary_db::{Rendition, VersionRecord, ViewerClaim};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;
use crate::AppState;

/// How long a claim holds without renewal.
pub const LEASE: Duration = Duration::from_secs(600);
/// How often a working server renews its claim.
pub const RENEW: Duration = Duration::from_secs(60);
/// Attempts before a job is left failed.
pub const MAX_ATTEMPTS: u32 = 3;
/// How often `serve` looks for work.
pub const POLL: Duration = Duration::from_secs(3);

/// The split key of files without a split (the Hugging Face viewer's default config name).
pub const DEFAULT_SPLIT: &str = "default";

/// Why a job failed: `retry` when another attempt may succeed (a store outage), not when
/// the data cannot be rendered.
struct JobError {
    message: String,
    retry: bool,
}

impl From<ApiError> for JobError {
    fn from(e: ApiError) -> Self {
        JobError {
            message: e.detail,
            retry: true,
        }
    }
}

impl From<granary_db::DbError> for JobError {
    fn from(e: granary_db::DbError) -> Self {
        JobError {
            message: e.to_string(),
            retry: true,
        }
    }
}

fn io(e: impl std::fmt::Display) -> JobError {
    JobError {
        message: format!("local scratch space: {e}"),
        retry: true,
    }
}

/// What one finished job did, with timings (for operators and benchmarks).
#[derive(Clone, Debug, serde::Serialize)]
pub struct JobReport {
    /// `org/name@version`
    pub version: String,
    /// Each rendition: the source file, its bytes, the rows and bytes written, milliseconds.
    pub renditions: Vec<RenditionReport>,
    /// Bytes of parquet the statistics read (each pass reads them again).
    pub statistics_bytes: u64,
    /// Milliseconds computing the statistics of every split.
    pub statistics_ms: u64,
}

/// One rendition written by a job.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RenditionReport {
    pub source: String,
    pub source_bytes: u64,
    pub rows: u64,
    pub parquet_bytes: u64,
    /// Milliseconds reading the source and writing the parquet file (local scratch files).
    pub ms: u64,
    /// Milliseconds storing the parquet file as a blob (copied and its digest checked).
    pub store_ms: u64,
}

/// What one call of [`run`] did, job by job.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunSummary {
    /// Jobs finished and recorded.
    pub done: Vec<JobReport>,
    /// Jobs whose attempt failed: `org/name@version`, why, and whether it will be tried
    /// again (else it stays `failed` until `granary admin viewer-retry`).
    pub failed: Vec<FailedJob>,
    /// Jobs finished here whose result was refused: another server had taken the job over
    /// (this one's lease ran out, or `--reclaim`); that server's result stands.
    pub refused: Vec<String>,
    /// Jobs left alone because another server's lease on them is live: `org/name@version`
    /// and when the lease ends (RFC 3339). Empty when reclaiming.
    pub held: Vec<HeldJob>,
}

/// A failed attempt (see [`RunSummary::failed`]).
#[derive(Clone, Debug, serde::Serialize)]
pub struct FailedJob {
    pub version: String,
    pub error: String,
    pub will_retry: bool,
}

/// A job another server holds (see [`RunSummary::held`]).
#[derive(Clone, Debug, serde::Serialize)]
pub struct HeldJob {
    pub version: String,
    pub lease_until: String,
}

/// Claims and runs jobs until none is left to claim; returns what this call finished.
/// Errors only when the metadata store cannot be asked.
pub async fn run_once(state: &AppState) -> Result<Vec<JobReport>, ApiError> {
    Ok(run(state, false).await?.done)
}

/// As [`run_once`], also taking over running jobs whose leases have not ended: for an
/// operator who knows their servers died (`granary admin viewer-run --reclaim`). A server
/// still working on one loses it; its result is refused when it finishes.
pub async fn reclaim_and_run(state: &AppState) -> Result<Vec<JobReport>, ApiError> {
    Ok(run(state, true).await?.done)
}

/// As [`run_once`] (or [`reclaim_and_run`] when `reclaim`), saying what became of every job
/// it met: for `granary admin viewer-run`.
pub async fn run_with_summary(state: &AppState, reclaim: bool) -> Result<RunSummary, ApiError> {
    run(state, reclaim).await
}

/// Makes every failed job pending again (`granary admin viewer-retry`); returns their
/// versions as `org/name@version`.
pub async fn retry_failed(state: &AppState) -> Result<Vec<String>, ApiError> {
    let ids = state.db.viewer_requeue_failed(Utc::now()).await?;
    names_of(state, &ids).await
}

/// `org/name@version` of each version id, in order (ids of deleted versions are left out).
async fn names_of(state: &AppState, ids: &[uuid::Uuid]) -> Result<Vec<String>, ApiError> {
    let heads = state.db.versions_by_id(ids).await?;
    Ok(ids
        .iter()
        .filter_map(|id| heads.iter().find(|h| h.id == *id))
        .map(|h| format!("{}@{}", h.full_name, h.version))
        .collect())
}

async fn run(state: &AppState, reclaim: bool) -> Result<RunSummary, ApiError> {
    sweep_scratch();
    let mut summary = RunSummary::default();
    let mut done = Vec::new();
    let lease_for = chrono::Duration::from_std(LEASE).expect("fits");
    loop {
        let now = Utc::now();
        let lease = uuid::Uuid::new_v4();
        let until = now + lease_for;
        // Reclaiming: every lease, however long it has left, counts as ended.
        let seen_at = if reclaim { until + lease_for } else { now };
        let Some(claim) = state.db.viewer_claim(lease, until, seen_at).await? else {
            summary.done = done;
            if !reclaim {
                let held = state.db.viewer_held(Utc::now()).await?;
                let ids: Vec<uuid::Uuid> = held.iter().map(|h| h.0).collect();
                let names = names_of(state, &ids).await?;
                summary.held = held
                    .iter()
                    .zip(names)
                    .map(|((_, until), version)| HeldJob {
                        version,
                        lease_until: until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    })
                    .collect();
            }
            return Ok(summary);
        };
        if claim.attempts > MAX_ATTEMPTS {
            state
                .db
                .viewer_fail(
                    &claim,
                    "gave up after 3 attempts: the servers working on it stopped",
                    false,
                    Utc::now(),
                )
                .await?;
            continue;
        }
        let heartbeat = {
            let (db, claim) = (state.db.clone(), claim.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RENEW).await;
                    let until = Utc::now() + chrono::Duration::from_std(LEASE).expect("fits");
                    if !matches!(db.viewer_renew(&claim, until).await, Ok(true)) {
                        return;
                    }
                }
            })
        };
        let outcome = run_job(state, &claim).await;
        heartbeat.abort();
        match outcome {
            Ok((renditions, result, report)) => {
                if state
                    .db
                    .viewer_finish(&claim, &renditions, &result.to_string(), Utc::now())
                    .await?
                {
                    tracing::info!(version = %report.version, statistics_ms = report.statistics_ms, renditions = report.renditions.len(), "viewer job done");
                    done.push(report);
                    state.metrics.ran("viewer_job");
                } else {
                    tracing::warn!(version = %report.version, "viewer job finished after another server took it over; its result stands");
                    summary.refused.push(report.version);
                }
            }
            Err(e) => {
                let retry = e.retry && claim.attempts < MAX_ATTEMPTS;
                tracing::warn!(version = %claim.version_id, error = %e.message, retry, "viewer job failed");
                state.db.viewer_fail(&claim, &e.message, retry, Utc::now()).await?;
                let version = names_of(state, &[claim.version_id])
                    .await?
                    .pop()
                    .unwrap_or_else(|| claim.version_id.to_string());
                summary.failed.push(FailedJob {
                    version,
                    error: e.message,
                    will_retry: retry,
                });
            }
        }
    }
}

/// The name prefix of a job's scratch directory (in the system's temporary directory):
/// with the process id, so that [`sweep_scratch`] knows whose it is.
fn scratch_prefix(pid: u32) -> String {
    format!("granary-viewer-{pid}-")
}

/// Removes scratch directories that processes no longer running left behind (killed
/// mid-job: a job's own directory goes when it ends). Linux only, where `/proc` says which
/// processes run; elsewhere nothing is removed.
fn sweep_scratch() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("granary-viewer-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The path of a file's rendition: its own with `.parquet` appended.
pub fn rendition_path(source: &str) -> String {
    format!("{source}.parquet")
}

/// A split's key, its files as local parquet, and its published schema (name, type).
type SplitFiles = (String, Vec<PathBuf>, Vec<(String, String)>);

async fn run_job(state: &AppState, claim: &ViewerClaim) -> Result<(Vec<Rendition>, Value, JobReport), JobError> {
    let gone = || JobError {
        message: "the version was deleted".into(),
        retry: false,
    };
    // By id for its name, then whole (with its files).
    let head = state
        .db
        .versions_by_id(&[claim.version_id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(gone)?;
    let rec = state
        .db
        .version(head.org_id, &head.name, Some(head.version))
        .await?
        .filter(|r| r.id == claim.version_id)
        .ok_or_else(gone)?;
    let org = rec.full_name.split('/').next().unwrap_or_default().to_string();
    let scratch = tempfile::Builder::new()
        .prefix(&scratch_prefix(std::process::id()))
        .tempdir()
        .map_err(io)?;
    let version_format: DataFormat = rec.meta.format.parse().unwrap_or(DataFormat::Parquet);
    let mut renditions = Vec::new();
    let mut report = JobReport {
        version: format!("{}@{}", rec.full_name, rec.version),
        renditions: Vec::new(),
        statistics_bytes: 0,
        statistics_ms: 0,
    };
    // Each file as local parquet, by split, with the split's published schema.
    let mut splits: Vec<SplitFiles> = Vec::new();
    for (i, f) in rec.files.iter().enumerate() {
        let format = DataFormat::from_path(&f.path).unwrap_or(version_format);
        let src = scratch.path().join(format!("{i}.src"));
        spool(state, &org, &f.digest, f.size, &src).await?;
        let parquet = if format == DataFormat::Parquet {
            src
        } else {
            let out = scratch.path().join(format!("{i}.parquet"));
            let columns = crate::wire::file_facts(&rec, f)
                .0
                .unwrap_or(&rec.meta.data_schema)
                .to_vec();
            let (from, to) = (src.clone(), out.clone());
            let started = std::time::Instant::now();
            // The digest is taken as the file is written.
            let (rows, digest) = tokio::task::spawn_blocking(move || {
                let mut file = HashingWriter {
                    inner: std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&to)?),
                    hasher: granary_core::Algorithm::Sha256.hasher(),
                };
                let rows = granary_infer::rendition::to_parquet(format, &from, &columns, &mut file)?;
                std::io::Write::flush(&mut file.inner)?;
                Ok::<_, granary_infer::InferError>((rows, file.hasher.finish()))
            })
            .await
            .map_err(io)?
            .map_err(|e| JobError {
                message: format!("{}: no parquet rendition: {e}", f.path),
                retry: false,
            })?;
            let ms = started.elapsed().as_millis() as u64;
            let _ = tokio::fs::remove_file(&src).await;
            let started = std::time::Instant::now();
            let size = store(state, &org, &out, &digest).await?;
            report.renditions.push(RenditionReport {
                source: f.path.clone(),
                source_bytes: f.size,
                rows,
                parquet_bytes: size,
                ms,
                store_ms: started.elapsed().as_millis() as u64,
            });
            renditions.push(Rendition {
                source: f.path.clone(),
                path: rendition_path(&f.path),
                digest,
                size,
                row_count: rows,
            });
            out
        };
        let key = f.split.clone().unwrap_or_else(|| DEFAULT_SPLIT.to_string());
        match splits.iter_mut().find(|(k, ..)| *k == key) {
            Some((_, paths, _)) => paths.push(parquet),
            None => {
                let published = crate::wire::file_facts(&rec, f)
                    .0
                    .unwrap_or(&rec.meta.data_schema)
                    .to_vec();
                splits.push((key, vec![parquet], published));
            }
        }
    }
    let mut stats = Map::new();
    let started = std::time::Instant::now();
    for (key, paths, published) in splits {
        report.statistics_bytes += paths
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum::<u64>();
        let value =
            tokio::task::spawn_blocking(move || granary_infer::stats::column_statistics(&paths, &published, &|| false))
                .await
                .map_err(io)?
                .map_err(|e| JobError {
                    message: format!("the {key} split: no statistics: {e}"),
                    retry: false,
                })?;
        stats.insert(key, value);
    }
    report.statistics_ms = started.elapsed().as_millis() as u64;
    Ok((renditions, json!({ "statistics": stats }), report))
}

/// Bytes copied per read when spooling a blob: a window at a time, so the copy holds (and
/// on a local store, maps) no more than this whatever the blob's size.
const SPOOL_WINDOW: u64 = 8 << 20;

/// Copies a stored blob (`size` bytes) to `to`, checking its digest on the way.
async fn spool(state: &AppState, org: &str, digest: &Digest, size: u64, to: &Path) -> Result<(), JobError> {
    let mut file = tokio::fs::File::create(to).await.map_err(io)?;
    let mut hasher = digest.algorithm().hasher();
    let mut at = 0;
    while at < size {
        let end = (at + SPOOL_WINDOW).min(size);
        let chunk = state
            .blobs
            .read_range(org, digest, at..end)
            .await
            .map_err(|e| JobError {
                message: format!("reading {digest} from the store: {e}"),
                retry: true,
            })?;
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
        at = end;
    }
    file.flush().await.map_err(io)?;
    let got = hasher.finish();
    if got != *digest {
        return Err(JobError {
            message: format!("the stored blob {digest} reads back as {got}"),
            retry: false,
        });
    }
    Ok(())
}

/// A writer that hashes what it writes.
struct HashingWriter<W> {
    inner: W,
    hasher: granary_core::Hasher,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Stores a local file, whose digest is `digest`, as a blob of `org` (the store checks
/// the digest as it copies); returns its size.
async fn store(state: &AppState, org: &str, path: &Path, digest: &Digest) -> Result<u64, JobError> {
    let file = tokio::fs::File::open(path).await.map_err(io)?;
    let body = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
    Ok(state.blobs.put(org, digest, body).await.map_err(ApiError::from)?)
}

/// The statistics of `split` of `rec` once its job is ready, with the job's state:
/// `(state, error, statistics)`.
pub async fn statistics(
    state: &AppState,
    rec: &VersionRecord,
    split: &str,
) -> Result<(String, Option<String>, Option<Value>), ApiError> {
    let Some(status) = state.db.viewer_status(rec.id).await? else {
        return Ok(("pending".into(), None, None));
    };
    let stats = status
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str::<Value>(r).ok())
        .and_then(|v| v["statistics"].get(split).cloned());
    Ok((status.state, status.error, stats))
}
