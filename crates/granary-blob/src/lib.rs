//! Content-addressed blob storage and resumable upload sessions over `object_store`, so the
//! same code runs on a local directory and on S3-compatible storage.
//!
//! Invariants: a blob is visible under `blobs/{org}/sha256/…/{hex}` only after every byte
//! was hashed and the digest matched; the final write is a single atomic rename or
//! multipart completion. Bytes are streamed, never held whole in memory. Only this crate
//! depends on object_store.
//!
//! Upload sessions live in the store itself (`uploads/{id}/info.json` and one object per
//! appended chunk, named by its start offset), so any server sharing the store can resume
//! or finish a session another started. The running hash is cached in memory as an
//! optimisation; when the cache is stale or missing the parts are re-read and hashed.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, Stream, StreamExt, TryStreamExt};
use granary_core::Digest;
use object_store::{path::Path as ObjPath, GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Bytes buffered per multipart part before it is handed to the store.
const CHUNK: usize = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    #[error("upload session not found")]
    UploadNotFound,
    #[error("chunk starts at byte {got} but the upload has {expected} bytes; resume from {expected}")]
    OffsetMismatch { expected: u64, got: u64 },
    #[error("digest mismatch: the uploaded bytes hash to {actual}, not {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("the request body ended early: {0}")]
    Body(String),
    #[error("requested range is not satisfiable")]
    Range,
    /// A multipart completion names a part that was not uploaded, or with another ETag, or
    /// out of order (S3 `InvalidPart` / `InvalidPartOrder`).
    #[error("{0}")]
    InvalidPart(String),
    /// A blob read whole (a config, a manifest) is larger than the caller allows.
    #[error("blob {digest} is {size} bytes; at most {max} are allowed here")]
    TooLarge { digest: Digest, size: u64, max: u64 },
    #[error("object store error: {0}")]
    Backend(String),
    #[error("object store timed out: {0}")]
    Timeout(String),
    #[error("{0}")]
    Config(String),
    /// The store could not be reached at all (start-up check).
    #[error("{0}")]
    Unavailable(String),
}

impl From<object_store::Error> for BlobError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => BlobError::NotFound,
            other => {
                // The whole cause chain: the top message alone often hides the reason.
                let mut msg = other.to_string();
                let mut cause = std::error::Error::source(&other);
                while let Some(c) = cause {
                    let text = c.to_string();
                    if !msg.contains(&text) {
                        msg.push_str(": ");
                        msg.push_str(&text);
                    }
                    cause = c.source();
                }
                // (The message also echoes the retry settings, `retry_timeout: …`.)
                if msg.contains("timed out") || msg.contains("deadline has elapsed") {
                    BlobError::Timeout(msg)
                } else {
                    BlobError::Backend(msg)
                }
            }
        }
    }
}

pub type BlobResult<T> = Result<T, BlobError>;

/// What a session records about itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UploadInfo {
    pub id: Uuid,
    pub org: String,
    pub repo: String,
    pub created_at: DateTime<Utc>,
}

/// A committed blob as the store lists it.
#[derive(Clone, Debug)]
pub struct StoredBlob {
    pub org: String,
    pub digest: Digest,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
}

/// The session directories under a local store's `uploads/`, each with the newest
/// modification time of anything in it (staging files included).
fn local_sessions(dir: &std::path::Path) -> Vec<(Uuid, DateTime<Utc>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let id = Uuid::parse_str(&e.file_name().to_string_lossy()).ok()?;
            let newest = std::fs::read_dir(e.path())
                .ok()?
                .flatten()
                .filter_map(|f| f.metadata().ok()?.modified().ok())
                .chain(e.metadata().ok()?.modified().ok())
                .max()?;
            Some((id, DateTime::<Utc>::from(newest)))
        })
        .collect()
}

/// A blob's bytes as a stream, with its total size.
pub struct BlobStream {
    pub size: u64,
    pub range: Range<u64>,
    pub stream: BoxStream<'static, BlobResult<Bytes>>,
}

#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    /// Presigns direct links (S3), with the key prefix the store adds.
    signer: Option<(Arc<dyn object_store::signer::Signer>, String)>,
    /// Largest part `finish` may rename into place; bigger ones are copied by streaming
    /// (S3 copies at most 5 GiB in one request).
    max_rename: u64,
    /// Where the store is, for messages (never credentials).
    describe: String,
    /// The directory of a local store: staging files of writes cut off by a crash
    /// (`name#N`, which `list` never shows) are found and removed through it.
    local_root: Option<std::path::PathBuf>,
    /// upload id → (offset, hash state at that offset)
    hashers: Mutex<HashMap<Uuid, (u64, Sha256)>>,
    locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// multipart upload id → the hash of its parts 1..=n so far, advanced as parts arrive
    /// (an optimisation like `hashers`: a completion without it hashes every part itself)
    ordered: Mutex<HashMap<Uuid, OrderedHash>>,
    /// multipart upload id → where its parts are written in place (local stores only)
    slabs: Mutex<HashMap<Uuid, Slab>>,
}

/// A local multipart upload's parts written in place into one file, `uploads/{id}/slab`:
/// part N at byte (N−1)×P, where P is part 1's declared length (every part but the last has
/// one size, as S3 clients send them). If the parts named at completion line up there, the
/// slab becomes the blob by a rename, with no copy. A part that cannot go there (sent
/// before part 1, of another size, a number already in the slab, a size unknown in
/// advance) is kept in a file of its own and copied into place at completion.
#[derive(Default)]
struct Slab {
    /// P: part 1's declared length.
    part_size: Option<u64>,
    /// Part numbers written, or being written, into the slab.
    taken: std::collections::HashSet<u32>,
    /// Writes under way.
    writers: usize,
    /// No more writes into the slab: a completion began, or the slab was found on disk by a
    /// process that does not know what it holds (after a restart).
    closed: bool,
}

/// Where a stored part of a multipart upload is.
#[derive(Clone, Debug)]
enum PartPlace {
    /// An object of its own (`npart-…`).
    Object(ObjPath),
    /// `len` bytes at `offset` in the session's slab (local stores).
    Slab { offset: u64, len: u64 },
}

/// The largest byte a slab may reach: beyond it parts are kept as files of their own.
const SLAB_MAX_END: u64 = 1 << 40;

/// The running hash of a multipart upload's leading parts, and the parts stored but not yet
/// hashed because an earlier one was missing.
#[derive(Default)]
struct OrderedHash {
    /// (number, ETag) of the parts hashed, in order: 1, 2, …
    hashed: Vec<(u32, String)>,
    hasher: Sha256,
    waiting: std::collections::BTreeMap<u32, (String, PartPlace)>,
    /// A part number was uploaded again after it was hashed, or a part could not be read:
    /// completion hashes everything itself.
    spoiled: bool,
    /// `hasher` is out, advancing over the next part (read back, or as it streams).
    busy: bool,
}

fn blob_key(org: &str, digest: &Digest) -> ObjPath {
    let hex = digest.hex();
    let algorithm = digest.algorithm().as_str();
    ObjPath::from(format!("blobs/{org}/{algorithm}/{}/{hex}", &hex[..2]))
}

fn upload_prefix(id: Uuid) -> ObjPath {
    ObjPath::from(format!("uploads/{id}"))
}

fn info_key(id: Uuid) -> ObjPath {
    ObjPath::from(format!("uploads/{id}/info.json"))
}

/// A part of an S3-style multipart upload: kept by number (and its ETag, so a part sent
/// again with other bytes does not replace the one a completion names) until completion.
fn numbered_part_key(id: Uuid, number: u32, etag: &str) -> ObjPath {
    ObjPath::from(format!("uploads/{id}/npart-{number:05}-{etag}"))
}

/// The marker of a part written into the session's slab: its number, ETag and range.
fn slab_part_key(id: Uuid, number: u32, etag: &str, offset: u64, len: u64) -> ObjPath {
    ObjPath::from(format!("uploads/{id}/spart-{number:05}-{etag}-{offset}-{len}"))
}

fn slab_path(root: &std::path::Path, id: Uuid) -> std::path::PathBuf {
    root.join("uploads").join(id.to_string()).join("slab")
}

fn part_key(id: Uuid, offset: u64) -> ObjPath {
    ObjPath::from(format!("uploads/{id}/part-{offset:020}"))
}

impl BlobStore {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self::build(store, None, u64::MAX, "object store".into())
    }

    fn build(
        store: Arc<dyn ObjectStore>,
        signer: Option<(Arc<dyn object_store::signer::Signer>, String)>,
        max_rename: u64,
        describe: String,
    ) -> Self {
        BlobStore {
            inner: Arc::new(Inner {
                store,
                signer,
                max_rename,
                describe,
                local_root: None,
                hashers: Mutex::new(HashMap::new()),
                locks: Mutex::new(HashMap::new()),
                ordered: Mutex::new(HashMap::new()),
                slabs: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A store rooted at a local directory, created if missing.
    pub fn local(dir: &std::path::Path) -> BlobResult<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| BlobError::Backend(format!("cannot create {}: {e}", dir.display())))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
        let mut store = Self::build(Arc::new(fs), None, u64::MAX, format!("file://{}", dir.display()));
        Arc::get_mut(&mut store.inner).expect("just built").local_root = Some(dir.to_path_buf());
        Ok(store)
    }

    /// A store from a URL: `file:///path` (or a bare path), or
    /// `s3://bucket[/prefix]?endpoint=…&region=…` with credentials from the standard `AWS_*`
    /// variables. Nothing is contacted here; see [`BlobStore::check`].
    pub fn from_url(url: &str) -> BlobResult<Self> {
        if let Some(path) = url.strip_prefix("file://") {
            return Self::local(std::path::Path::new(path));
        }
        if !url.contains("://") {
            return Self::local(std::path::Path::new(url));
        }
        let parsed =
            url::Url::parse(url).map_err(|e| BlobError::Config(format!("invalid blob store URL {url:?}: {e}")))?;
        if parsed.scheme() != "s3" {
            return Err(BlobError::Config(format!(
                "unsupported blob store {:?}: use file:///path or s3://bucket?endpoint=…&region=…",
                parsed.scheme()
            )));
        }
        let bucket = parsed
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| BlobError::Config(format!("blob store URL {url:?} names no bucket")))?
            .to_string();
        let prefix = parsed.path().trim_matches('/').to_string();
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&bucket);
        let mut allow_http = false;
        // Credentials come from AWS_* variables. Falling back to the instance metadata
        // service is opt-in (`credentials=instance`), so a missing variable is a clear error
        // rather than a request to a link-local address.
        let env_credentials = std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
            || std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").is_some()
            || std::env::var_os("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
            || std::env::var_os("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some();
        let mut instance_credentials = false;
        for (k, v) in parsed.query_pairs() {
            b = match k.as_ref() {
                "endpoint" => {
                    allow_http = v.starts_with("http://");
                    b.with_endpoint(v.as_ref())
                }
                "region" => b.with_region(v.as_ref()),
                "virtual_hosted" => b.with_virtual_hosted_style_request(v == "true"),
                "credentials" if v == "instance" => {
                    instance_credentials = true;
                    b
                }
                other => {
                    return Err(BlobError::Config(format!(
                    "unknown blob store option {other:?}: use endpoint, region, virtual_hosted or credentials=instance"
                )))
                }
            };
        }
        if !env_credentials && !instance_credentials {
            return Err(BlobError::Config(
                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or add credentials=instance to the blob store URL to use the instance's role)".into(),
            ));
        }
        let client = object_store::ClientOptions::new()
            .with_allow_http(allow_http)
            .with_timeout(std::time::Duration::from_secs(60))
            .with_connect_timeout(std::time::Duration::from_secs(5));
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(20),
            ..Default::default()
        };
        let s3 = Arc::new(
            b.with_client_options(client)
                .with_retry(retry)
                .build()
                .map_err(|e| BlobError::Config(format!("invalid S3 settings in {url:?}: {e}")))?,
        );
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            s3.clone()
        } else {
            let inner: Arc<dyn ObjectStore> = s3.clone();
            Arc::new(object_store::prefix::PrefixStore::new(inner, prefix.as_str()))
        };
        let describe = format!("s3://{bucket}/{prefix}");
        Ok(Self::build(store, Some((s3, prefix)), 5 << 30, describe))
    }

    /// Contacts the store once, so a misconfigured or unreachable one stops start-up.
    pub async fn check(&self) -> BlobResult<()> {
        match self.store().head(&ObjPath::from("granary-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => {
                let detail = match BlobError::from(e) {
                    BlobError::Backend(m) | BlobError::Timeout(m) => m,
                    other => other.to_string(),
                };
                Err(BlobError::Unavailable(format!(
                    "cannot reach the blob store {}: {detail}",
                    self.inner.describe
                )))
            }
        }
    }

    /// A direct, time-limited GET link to the blob, when the store can sign one (S3).
    pub async fn presigned_get(
        &self,
        org: &str,
        digest: &Digest,
        expires_in: std::time::Duration,
    ) -> BlobResult<Option<String>> {
        let Some((signer, prefix)) = &self.inner.signer else {
            return Ok(None);
        };
        let key = blob_key(org, digest);
        let full = if prefix.is_empty() {
            key
        } else {
            ObjPath::from(format!("{prefix}/{key}"))
        };
        let url = signer.signed_url(http::Method::GET, &full, expires_in).await?;
        Ok(Some(url.to_string()))
    }

    fn store(&self) -> &dyn ObjectStore {
        self.inner.store.as_ref()
    }

    /// The size of the org's blob, if it has it.
    pub async fn stat(&self, org: &str, digest: &Digest) -> BlobResult<Option<u64>> {
        match self.store().head(&blob_key(org, digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The committed blob's size and last modification (what `HEAD` on a byte route
    /// reports as `Content-Length` and `Last-Modified`), or `None` when it is not stored.
    pub async fn head(&self, org: &str, digest: &Digest) -> BlobResult<Option<StoredBlob>> {
        match self.store().head(&blob_key(org, digest)).await {
            Ok(meta) => Ok(Some(StoredBlob {
                org: org.to_string(),
                digest: digest.clone(),
                size: meta.size,
                last_modified: meta.last_modified,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams the blob, or the given byte range of it.
    pub async fn get(&self, org: &str, digest: &Digest, range: Option<Range<u64>>) -> BlobResult<BlobStream> {
        let opts = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            ..Default::default()
        };
        let res = self
            .store()
            .get_opts(&blob_key(org, digest), opts)
            .await
            .map_err(|e| match e {
                object_store::Error::NotModified { .. } => BlobError::Range,
                e if e.to_string().contains("Range") => BlobError::Range,
                e => e.into(),
            })?;
        let size = res.meta.size;
        let range = res.range.clone();
        #[cfg(unix)]
        if let object_store::GetResultPayload::File(file, _) = res.payload {
            return Ok(BlobStream {
                size,
                stream: file_stream(file, range.clone()),
                range,
            });
        }
        let stream = res.into_stream().map_err(BlobError::from).boxed();
        Ok(BlobStream { size, range, stream })
    }

    /// Reads a byte range fully into memory: for small reads such as parquet footers.
    pub async fn read_range(&self, org: &str, digest: &Digest, range: Range<u64>) -> BlobResult<Bytes> {
        Ok(self.store().get_range(&blob_key(org, digest), range).await?)
    }

    /// Reads a whole blob that must be at most `max` bytes (configs, manifests).
    pub async fn read_small(&self, org: &str, digest: &Digest, max: u64) -> BlobResult<Option<Bytes>> {
        let Some(size) = self.stat(org, digest).await? else {
            return Ok(None);
        };
        if size > max {
            return Err(BlobError::TooLarge {
                digest: digest.clone(),
                size,
                max,
            });
        }
        let bytes = self.store().get(&blob_key(org, digest)).await?.bytes().await?;
        Ok(Some(bytes))
    }

    /// Every committed blob: (org, digest, size, last modified).
    pub async fn list_blobs(&self) -> BlobResult<Vec<StoredBlob>> {
        let metas: Vec<object_store::ObjectMeta> =
            self.store().list(Some(&ObjPath::from("blobs"))).try_collect().await?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let parts: Vec<&str> = m.location.as_ref().split('/').collect();
                match parts.as_slice() {
                    ["blobs", org, algorithm @ ("sha256" | "sha512"), _, hex] => Some(StoredBlob {
                        org: org.to_string(),
                        digest: format!("{algorithm}:{hex}").parse().ok()?,
                        size: m.size,
                        last_modified: m.last_modified,
                    }),
                    _ => None,
                }
            })
            .collect())
    }

    pub async fn delete_blob(&self, org: &str, digest: &Digest) -> BlobResult<()> {
        match self.store().delete(&blob_key(org, digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every upload session: its id and when it last changed (its newest object).
    pub async fn list_uploads(&self) -> BlobResult<Vec<(Uuid, DateTime<Utc>)>> {
        let metas: Vec<object_store::ObjectMeta> =
            self.store().list(Some(&ObjPath::from("uploads"))).try_collect().await?;
        let mut latest: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
        for m in metas {
            let Some(id) = m
                .location
                .as_ref()
                .split('/')
                .nth(1)
                .and_then(|s| Uuid::parse_str(s).ok())
            else {
                continue;
            };
            let e = latest.entry(id).or_insert(m.last_modified);
            *e = (*e).max(m.last_modified);
        }
        // On a local store, a session directory may hold only a staging file left by a
        // write cut off by a crash; it counts as a session too, so gc removes it.
        if let Some(root) = self.inner.local_root.clone() {
            let local = tokio::task::spawn_blocking(move || local_sessions(&root.join("uploads")))
                .await
                .map_err(|e| BlobError::Backend(e.to_string()))?;
            for (id, t) in local {
                let e = latest.entry(id).or_insert(t);
                *e = (*e).max(t);
            }
        }
        Ok(latest.into_iter().collect())
    }

    /// On a local store, removes staging files (`name#N`) under `blobs/` older than
    /// `older_than`: what a commit cut off by a crash leaves behind. Returns how many.
    /// Other stores abort their multipart uploads themselves (S3 lifecycle rules).
    pub async fn sweep_staging(&self, older_than: DateTime<Utc>, dry_run: bool) -> BlobResult<u64> {
        let Some(root) = self.inner.local_root.clone() else {
            return Ok(0);
        };
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            let mut dirs = vec![root.join("blobs")];
            while let Some(dir) = dirs.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for e in entries.flatten() {
                    let path = e.path();
                    let Ok(meta) = e.metadata() else { continue };
                    if meta.is_dir() {
                        dirs.push(path);
                    } else if e.file_name().to_string_lossy().contains('#')
                        && meta.modified().map(DateTime::<Utc>::from).is_ok_and(|t| t < older_than)
                    {
                        if !dry_run {
                            match std::fs::remove_file(&path) {
                                Ok(()) => {}
                                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                                Err(e) => return Err(BlobError::Backend(format!("removing {}: {e}", path.display()))),
                            }
                        }
                        removed += 1;
                    }
                }
            }
            Ok(removed)
        })
        .await
        .map_err(|e| BlobError::Backend(e.to_string()))?
    }

    // ---- upload sessions ----

    pub async fn start_upload(&self, org: &str, repo: &str) -> BlobResult<UploadInfo> {
        let info = UploadInfo {
            id: Uuid::new_v4(),
            org: org.into(),
            repo: repo.into(),
            created_at: Utc::now(),
        };
        let json = serde_json::to_vec(&info).expect("plain data");
        self.store().put(&info_key(info.id), PutPayload::from(json)).await?;
        self.inner
            .hashers
            .lock()
            .expect("poisoned")
            .insert(info.id, (0, Sha256::new()));
        Ok(info)
    }

    /// The session and how many bytes it holds.
    pub async fn upload_status(&self, id: Uuid) -> BlobResult<(UploadInfo, u64)> {
        let info = self.upload_info(id).await?;
        let (_, offset) = self.parts(id).await?;
        Ok((info, offset))
    }

    /// The session's record, without counting its bytes.
    pub async fn upload_info(&self, id: Uuid) -> BlobResult<UploadInfo> {
        let bytes = match self.store().get(&info_key(id)).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Err(BlobError::UploadNotFound),
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes).map_err(|e| BlobError::Backend(format!("corrupt upload session: {e}")))
    }

    /// The session's parts in offset order, and the total bytes they hold.
    async fn parts(&self, id: Uuid) -> BlobResult<(Vec<(ObjPath, u64)>, u64)> {
        let mut parts: Vec<(ObjPath, u64)> = self
            .store()
            .list(Some(&upload_prefix(id)))
            .try_filter(|m| futures::future::ready(m.location.filename().is_some_and(|f| f.starts_with("part-"))))
            .map_ok(|m| (m.location, m.size))
            .try_collect()
            .await?;
        parts.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let total = parts.iter().map(|p| p.1).sum();
        Ok((parts, total))
    }

    fn lock_for(&self, id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        self.inner
            .locks
            .lock()
            .expect("poisoned")
            .entry(id)
            .or_default()
            .clone()
    }

    fn forget(&self, id: Uuid) {
        self.inner.locks.lock().expect("poisoned").remove(&id);
        self.inner.hashers.lock().expect("poisoned").remove(&id);
        self.inner.ordered.lock().expect("poisoned").remove(&id);
        self.inner.slabs.lock().expect("poisoned").remove(&id);
    }

    /// Appends a chunk that must start at the session's current size. Whatever part of the
    /// body arrives before a dropped connection is kept, so the client can resume after it.
    /// Returns the session's new size and the session.
    pub async fn append<S, E>(&self, id: Uuid, start: Option<u64>, body: S) -> BlobResult<(UploadInfo, u64)>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let info = self.upload_info(id).await?;
        let (parts, offset) = self.parts(id).await?;
        if let Some(start) = start {
            if start != offset {
                return Err(BlobError::OffsetMismatch {
                    expected: offset,
                    got: start,
                });
            }
        }
        let mut hasher = {
            let cache = self.inner.hashers.lock().expect("poisoned");
            match cache.get(&id) {
                Some((o, h)) if *o == offset => Some(h.clone()),
                _ => None,
            }
        };
        let mut body = std::pin::pin!(body);
        // On a local store, a chunk that continues the session (a resumable upload's next
        // window) is appended to its last part: the session stays one file, which finish
        // renames into place instead of copying many parts into a new one.
        if let (Some(root), Some((last, _))) = (self.inner.local_root.as_ref(), parts.last()) {
            let path = root.join(last.as_ref());
            let io = |e: std::io::Error| BlobError::Backend(format!("appending to upload {id}: {e}"));
            let file = tokio::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .await
                .map_err(io)?;
            let mut out = tokio::io::BufWriter::with_capacity(CHUNK, file);
            let mut written = 0u64;
            let mut failure = None;
            while let Some(item) = body.next().await {
                let chunk = match item {
                    Ok(c) => c,
                    Err(e) => {
                        failure = Some(BlobError::Body(e.to_string()));
                        break;
                    }
                };
                if let Err(e) = tokio::io::AsyncWriteExt::write_all(&mut out, &chunk).await {
                    failure = Some(io(e));
                    break;
                }
                if let Some(h) = hasher.as_mut() {
                    h.update(&chunk);
                }
                written += chunk.len() as u64;
            }
            // What was written stays (bytes that arrived before a broken connection are
            // kept); the running hash covers exactly those bytes.
            let flushed = tokio::io::AsyncWriteExt::flush(&mut out).await.map_err(io);
            let new_offset = offset + written;
            {
                let mut cache = self.inner.hashers.lock().expect("poisoned");
                match (hasher, &flushed) {
                    (Some(h), Ok(())) => cache.insert(id, (new_offset, h)),
                    _ => cache.remove(&id),
                };
            }
            flushed?;
            return match failure {
                Some(e) => Err(e),
                None => Ok((info, new_offset)),
            };
        }
        let mut writer: Option<WriteMultipart> = None;
        let mut written = 0u64;
        let mut failure = None;
        while let Some(item) = body.next().await {
            let chunk = match item {
                Ok(c) => c,
                Err(e) => {
                    failure = Some(BlobError::Body(e.to_string()));
                    break;
                }
            };
            if chunk.is_empty() {
                continue;
            }
            if writer.is_none() {
                let upload = self.store().put_multipart(&part_key(id, offset)).await?;
                writer = Some(WriteMultipart::new_with_chunk_size(upload, CHUNK));
            }
            let w = writer.as_mut().expect("set above");
            if let Err(e) = w.wait_for_capacity(4).await {
                failure = Some(e.into());
                break;
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            w.write(&chunk);
            written += chunk.len() as u64;
        }
        if let Some(w) = writer {
            if let Err(e) = w.finish().await {
                self.inner.hashers.lock().expect("poisoned").remove(&id);
                return Err(e.into());
            }
        }
        let new_offset = offset + written;
        {
            let mut cache = self.inner.hashers.lock().expect("poisoned");
            match hasher {
                Some(h) => cache.insert(id, (new_offset, h)),
                None => cache.remove(&id),
            };
        }
        match failure {
            Some(e) => Err(e),
            None => Ok((info, new_offset)),
        }
    }

    /// Verifies the session's bytes against `expected` and commits them as the org's blob.
    /// On a digest mismatch the session is discarded.
    pub async fn finish(&self, id: Uuid, expected: &Digest) -> BlobResult<(UploadInfo, u64)> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let info = self.upload_info(id).await?;
        let (parts, total) = self.parts(id).await?;
        // The running hash is sha256; a blob named by another algorithm is hashed here.
        let cached = if expected.algorithm() == granary_core::Algorithm::Sha256 {
            let cache = self.inner.hashers.lock().expect("poisoned");
            match cache.get(&id) {
                Some((o, h)) if *o == total => Some(h.clone()),
                _ => None,
            }
        } else {
            None
        };
        let algorithm = expected.algorithm();
        let actual = match cached {
            Some(h) => Digest::from_hasher(h),
            // A session this process did not see arrive (another replica took it, or the
            // server restarted): on a local store its files are read on a blocking thread
            // with large reads (object_store's stream read them at a third of the speed).
            None if self.inner.local_root.is_some() => {
                let root = self.inner.local_root.clone().expect("checked");
                let files: Vec<std::path::PathBuf> = parts.iter().map(|(k, _)| root.join(k.as_ref())).collect();
                tokio::task::spawn_blocking(move || -> std::io::Result<Digest> {
                    use std::io::Read;
                    let mut h = algorithm.hasher();
                    let mut buf = vec![0u8; 1 << 20];
                    for f in files {
                        let mut f = std::fs::File::open(f)?;
                        loop {
                            let n = f.read(&mut buf)?;
                            if n == 0 {
                                break;
                            }
                            h.update(&buf[..n]);
                        }
                    }
                    Ok(h.finish())
                })
                .await
                .map_err(|e| BlobError::Backend(e.to_string()))?
                .map_err(|e| BlobError::Backend(format!("reading upload {id}: {e}")))?
            }
            None => {
                let mut h = algorithm.hasher();
                for (key, _) in &parts {
                    let mut s = self.store().get(key).await?.into_stream();
                    while let Some(chunk) = s.next().await {
                        h.update(&chunk?);
                    }
                }
                h.finish()
            }
        };
        if &actual != expected {
            self.discard(id).await?;
            return Err(BlobError::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        let dest = blob_key(&info.org, expected);
        if self.stat(&info.org, expected).await?.is_none() {
            match parts.as_slice() {
                [] => {
                    self.store().put(&dest, PutPayload::default()).await?;
                }
                [(only, size)] if *size <= self.inner.max_rename => {
                    self.store().rename(only, &dest).await?;
                }
                // On a local store the parts (a resumable upload sends one per window) are
                // concatenated in the kernel (`copy_file_range`), not streamed through
                // object_store's multipart writer: 25 parts of 32 MiB took 8.4 s that way.
                many if self.inner.local_root.is_some() => {
                    let root = self.inner.local_root.clone().expect("checked");
                    let sources = many.iter().map(|(key, _)| (root.join(key.as_ref()), None)).collect();
                    assemble_local(root, id, sources, dest, expected.clone(), false, true).await?;
                }
                many => {
                    let upload = self.store().put_multipart(&dest).await?;
                    let mut w = WriteMultipart::new_with_chunk_size(upload, CHUNK);
                    for (key, _) in many {
                        let mut s = self.store().get(key).await?.into_stream();
                        while let Some(chunk) = s.next().await {
                            w.wait_for_capacity(4).await?;
                            w.write(&chunk?);
                        }
                    }
                    w.finish().await?;
                }
            }
        }
        self.discard(id).await?;
        Ok((info, total))
    }

    /// Deletes a session and everything it staged.
    pub async fn discard(&self, id: Uuid) -> BlobResult<()> {
        let keys: Vec<ObjPath> = self
            .store()
            .list(Some(&upload_prefix(id)))
            .map_ok(|m| m.location)
            .try_collect()
            .await?;
        for key in keys {
            match self.store().delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Staging files of a write cut off by a crash are not listed; the directory goes.
        if let Some(root) = &self.inner.local_root {
            match tokio::fs::remove_dir_all(root.join("uploads").join(id.to_string())).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(BlobError::Backend(format!("removing upload {id}: {e}"))),
            }
        }
        self.forget(id);
        Ok(())
    }

    /// Stores a whole blob in one call: start, append, finish.
    pub async fn put<S, E>(&self, org: &str, expected: &Digest, body: S) -> BlobResult<u64>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let info = self.start_upload(org, "").await?;
        if let Err(e) = self.append(info.id, Some(0), body).await {
            let _ = self.discard(info.id).await;
            return Err(e);
        }
        let (_, size) = self.finish(info.id, expected).await?;
        Ok(size)
    }

    // ---- numbered parts (the S3 multipart protocol) ----

    /// Stores part `number` (1–10,000) of session `id` as it streams, and returns its ETag
    /// (32 hex digits, unique to this upload of the part) and size. `declared_len` is the
    /// request's announced length of the part's bytes, when known (a body of another length
    /// is refused with [`BlobError::Body`]); on a local store it lets the part be written in
    /// place in the session's slab. When `payload_sha256` is given (the signed
    /// `x-amz-content-sha256` of the request), the part is hashed as it streams and must
    /// hash to it, else [`BlobError::DigestMismatch`] and nothing is kept; otherwise it is not
    /// hashed here (the upload's running hash reads each part once, in order).
    pub async fn put_numbered_part<S, E>(
        &self,
        id: Uuid,
        number: u32,
        declared_len: Option<u64>,
        payload_sha256: Option<&Digest>,
        body: S,
    ) -> BlobResult<(String, u64)>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        self.upload_info(id).await?;
        let etag = Uuid::new_v4().simple().to_string();
        let slot = match declared_len {
            Some(len) => self.claim_slab(id, number, len).await.map(|offset| (offset, len)),
            None => None,
        };
        let (place, size) = match slot {
            Some((offset, len)) => {
                // A request dropped midway frees its range for a retry.
                let mut unclaim = OnDrop::new(|| self.release_slab(id, number, false));
                let written = async {
                    let (size, hashed) = self
                        .write_slab_part(id, number, offset, len, payload_sha256, body)
                        .await?;
                    let marked = self
                        .store()
                        .put(&slab_part_key(id, number, &etag, offset, len), PutPayload::default())
                        .await;
                    if let Err(e) = marked {
                        if hashed.is_some() {
                            self.release_next(id, None);
                        }
                        return Err(e.into());
                    }
                    Ok::<_, BlobError>((size, hashed))
                }
                .await;
                unclaim.disarm();
                self.release_slab(id, number, written.is_ok());
                let (size, hashed) = written?;
                if let Some(h) = hashed {
                    // Hashed as it streamed: the running hash now covers it.
                    self.release_next(id, Some((number, etag.clone(), h)));
                    self.hash_in_order(id).await;
                    return Ok((etag, size));
                }
                (PartPlace::Slab { offset, len }, size)
            }
            None => {
                let key = numbered_part_key(id, number, &etag);
                let size = self
                    .write_part_object(id, number, &key, declared_len, payload_sha256, body)
                    .await?;
                (PartPlace::Object(key), size)
            }
        };
        {
            let mut all = self.inner.ordered.lock().expect("poisoned");
            let st = all.entry(id).or_default();
            if st.hashed.iter().any(|(n, _)| *n == number) {
                st.spoiled = true;
            } else {
                st.waiting.insert(number, (etag.clone(), place));
            }
        }
        self.hash_in_order(id).await;
        Ok((etag, size))
    }

    /// A part as an object of its own at `key`, written under a temporary name and renamed
    /// once whole (and hashed, when `payload_sha256` is given).
    async fn write_part_object<S, E>(
        &self,
        id: Uuid,
        number: u32,
        key: &ObjPath,
        declared_len: Option<u64>,
        payload_sha256: Option<&Digest>,
        body: S,
    ) -> BlobResult<u64>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let temp = ObjPath::from(format!("uploads/{id}/incoming-{number:05}-{}", Uuid::new_v4().simple()));
        let upload = self.store().put_multipart(&temp).await?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, CHUNK);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = std::pin::pin!(body);
        let mut failure = None;
        while let Some(item) = body.next().await {
            let chunk = match item {
                Ok(c) => c,
                Err(e) => {
                    failure = Some(BlobError::Body(e.to_string()));
                    break;
                }
            };
            if let Err(e) = w.wait_for_capacity(4).await {
                failure = Some(e.into());
                break;
            }
            if payload_sha256.is_some() {
                hasher.update(&chunk);
            }
            size += chunk.len() as u64;
            w.write(&chunk);
        }
        if failure.is_none() {
            failure = check_part(size, declared_len, payload_sha256, hasher);
        }
        if let Some(e) = failure {
            let _ = w.abort().await;
            return Err(e);
        }
        w.finish().await?;
        self.store().rename(&temp, key).await?;
        Ok(size)
    }

    /// The offset in session `id`'s slab where part `number` of `len` bytes is to be written,
    /// reserved for it; `None` when it must be kept as an object of its own (see [`Slab`]).
    async fn claim_slab(&self, id: Uuid, number: u32, len: u64) -> Option<u64> {
        if !cfg!(unix) || len == 0 {
            return None;
        }
        let root = self.inner.local_root.as_ref()?;
        let known = self.inner.slabs.lock().expect("poisoned").contains_key(&id);
        // A slab on disk this process did not start is left as it is: what its ranges
        // hold is known only from the markers, so nothing more is written into it.
        let found = !known && tokio::fs::try_exists(slab_path(root, id)).await.unwrap_or(true);
        let mut all = self.inner.slabs.lock().expect("poisoned");
        let slab = all.entry(id).or_insert_with(|| Slab {
            closed: found,
            ..Slab::default()
        });
        if slab.closed {
            return None;
        }
        if number == 1 && slab.part_size.is_none() {
            slab.part_size = Some(len);
        }
        let p = slab.part_size?;
        let offset = u64::from(number - 1).checked_mul(p)?;
        if len > p || slab.taken.contains(&number) || offset.checked_add(len)? > SLAB_MAX_END {
            return None;
        }
        slab.taken.insert(number);
        slab.writers += 1;
        Some(offset)
    }

    /// Ends a write claimed by [`Self::claim_slab`]; a failed one frees the range for a retry.
    fn release_slab(&self, id: Uuid, number: u32, written: bool) {
        let mut all = self.inner.slabs.lock().expect("poisoned");
        if let Some(slab) = all.get_mut(&id) {
            slab.writers -= 1;
            if !written {
                slab.taken.remove(&number);
            }
        }
    }

    /// Streams a part's `len` bytes into the slab at `offset`, in blocks of up to 4 MiB
    /// written on a blocking thread while the next block arrives. When part `number` is (or
    /// becomes, while it streams) the next one the upload's running hash needs, the hash is
    /// taken and advanced on the same thread: over what was written so far, read back once,
    /// then over each block as it is written. Returns the size, and the advanced hash when
    /// it was taken (the caller gives it back with [`Self::release_next`]; on an error it is
    /// given back unchanged here).
    async fn write_slab_part<S, E>(
        &self,
        id: Uuid,
        number: u32,
        offset: u64,
        len: u64,
        payload_sha256: Option<&Digest>,
        body: S,
    ) -> BlobResult<(u64, Option<Sha256>)>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        const BLOCK: usize = 4 << 20;
        type Pending = tokio::task::JoinHandle<std::io::Result<Option<Sha256>>>;
        let root = self.inner.local_root.clone().expect("slabs are on local stores");
        let path = slab_path(&root, id);
        let file = tokio::task::spawn_blocking(move || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
        })
        .await
        .map_err(|e| BlobError::Backend(e.to_string()))?
        .map_err(|e| BlobError::Backend(format!("opening the upload's slab: {e}")))?;
        let file = Arc::new(file);
        let mut payload_hasher = Sha256::new();
        let (mut batch, mut batch_len, mut pos, mut size) = (Vec::<Bytes>::new(), 0usize, offset, 0u64);
        let mut pending: Option<Pending> = None;
        // The upload's running hash, once claimed; `None` while a write holds it. Given back
        // unchanged if this ends without the whole part, also when the request is dropped.
        let (mut claimed, mut running) = (false, None::<Sha256>);
        let mut unclaim = None;
        let wait = |p: Pending| async move {
            p.await
                .map_err(|e| BlobError::Backend(e.to_string()))?
                .map_err(|e| BlobError::Backend(format!("writing a part: {e}")))
        };
        let mut failure = None;
        let mut body = std::pin::pin!(body);
        loop {
            let item = body.next().await;
            let done = item.is_none();
            match item {
                Some(Ok(chunk)) => {
                    size += chunk.len() as u64;
                    if size > len {
                        failure = Some(BlobError::Body(format!(
                            "the part is longer than its declared {len} bytes"
                        )));
                        break;
                    }
                    if payload_sha256.is_some() {
                        payload_hasher.update(&chunk);
                    }
                    batch_len += chunk.len();
                    batch.push(chunk);
                }
                Some(Err(e)) => {
                    failure = Some(BlobError::Body(e.to_string()));
                    break;
                }
                None => {}
            }
            if batch_len >= BLOCK || (done && batch_len > 0) {
                if let Some(p) = pending.take() {
                    match wait(p).await {
                        Ok(h) => running = h,
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                let mut catch_up = None;
                if !claimed {
                    if let Some(h) = self.claim_next(id, number) {
                        (claimed, running, catch_up) = (true, Some(h), Some(offset..pos));
                        unclaim = Some(OnDrop::new(|| self.release_next(id, None)));
                    }
                }
                let blocks = std::mem::take(&mut batch);
                let at = pos;
                pos += batch_len as u64;
                batch_len = 0;
                let f = file.clone();
                let mut hasher = running.take();
                pending = Some(tokio::task::spawn_blocking(move || {
                    if let (Some(h), Some(range)) = (hasher.as_mut(), catch_up) {
                        hash_range(h, &f, range)?;
                    }
                    let mut at = at;
                    for b in blocks {
                        if let Some(h) = hasher.as_mut() {
                            h.update(&b);
                        }
                        write_all_at(&f, &b, at)?;
                        at += b.len() as u64;
                    }
                    Ok(hasher)
                }));
            }
            if done {
                break;
            }
        }
        // Whatever happened, no write of this part is left running when it returns.
        if let Some(p) = pending.take() {
            match wait(p).await {
                Ok(h) => running = h,
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if failure.is_none() {
            failure = check_part(size, Some(len), payload_sha256, payload_hasher);
        }
        match (failure, running) {
            (Some(e), _) => Err(e),
            (None, Some(h)) if claimed => {
                if let Some(mut u) = unclaim {
                    u.disarm();
                }
                Ok((size, Some(h)))
            }
            (None, _) => Ok((size, None)),
        }
    }

    /// How many leading parts (1, 2, …) of multipart upload `id` its running hash covers:
    /// a completion naming exactly those parts needs no hashing of its own.
    pub fn hashed_parts(&self, id: Uuid) -> usize {
        let all = self.inner.ordered.lock().expect("poisoned");
        all.get(&id).filter(|st| !st.spoiled).map_or(0, |st| st.hashed.len())
    }

    /// Takes out upload `id`'s running hash to advance it over part `number` as that part
    /// streams, when `number` is the next part to hash and nobody else holds the hash.
    fn claim_next(&self, id: Uuid, number: u32) -> Option<Sha256> {
        let mut all = self.inner.ordered.lock().expect("poisoned");
        let st = all.entry(id).or_default();
        let next = st.hashed.last().map_or(1, |(n, _)| n + 1);
        if st.spoiled || st.busy || next != number || st.waiting.contains_key(&number) {
            return None;
        }
        st.busy = true;
        Some(st.hasher.clone())
    }

    /// Gives back a hash taken by [`Self::claim_next`]: advanced over part (number, ETag)
    /// when that part was stored whole, else unchanged.
    fn release_next(&self, id: Uuid, advanced: Option<(u32, String, Sha256)>) {
        let mut all = self.inner.ordered.lock().expect("poisoned");
        if let Some(st) = all.get_mut(&id) {
            st.busy = false;
            if let Some((number, etag, hasher)) = advanced {
                st.hasher = hasher;
                st.hashed.push((number, etag));
            }
        }
    }

    /// Hashes the stored parts that continue the upload's running hash (part 1, then 2, …),
    /// so a completion usually finds every byte hashed already and only concatenates. A part
    /// that cannot be read leaves the hashing to the completion.
    async fn hash_in_order(&self, id: Uuid) {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        loop {
            let (next, etag, place, mut hasher) = {
                let mut all = self.inner.ordered.lock().expect("poisoned");
                let Some(st) = all.get_mut(&id) else { return };
                if st.spoiled || st.busy {
                    return;
                }
                let next = st.hashed.last().map_or(1, |(n, _)| n + 1);
                let Some((etag, place)) = st.waiting.remove(&next) else {
                    return;
                };
                st.busy = true;
                (next, etag, place, std::mem::take(&mut st.hasher))
            };
            // Dropped before the hash is back (the request went away): the running hash is
            // lost, so the completion will hash every part itself.
            let mut guard = SpoilOnDrop {
                store: self,
                id,
                armed: true,
            };
            let hashed = match (&self.inner.local_root, place) {
                (Some(root), place) => {
                    let (path, range) = match place {
                        PartPlace::Object(key) => (root.join(key.as_ref()), None),
                        PartPlace::Slab { offset, len } => (slab_path(root, id), Some(offset..offset + len)),
                    };
                    tokio::task::spawn_blocking(move || hash_file(hasher, &path, range))
                        .await
                        .ok()
                        .and_then(Result::ok)
                }
                (None, PartPlace::Object(key)) => {
                    async {
                        let mut s = self.store().get(&key).await.ok()?.into_stream();
                        while let Some(chunk) = s.next().await {
                            hasher.update(&chunk.ok()?);
                        }
                        Some(hasher)
                    }
                    .await
                }
                (None, PartPlace::Slab { .. }) => None,
            };
            guard.armed = false;
            let mut all = self.inner.ordered.lock().expect("poisoned");
            let Some(st) = all.get_mut(&id) else { return };
            st.busy = false;
            match hashed {
                Some(h) => {
                    st.hasher = h;
                    st.hashed.push((next, etag));
                }
                None => {
                    st.spoiled = true;
                    return;
                }
            }
        }
    }

    /// Completes a session of numbered parts: `parts` (number, ETag) in ascending order, each
    /// as uploaded, are read in that order, hashed and written once into the org's blob,
    /// which becomes visible only if the bytes hash to `expected`; otherwise the write is
    /// aborted and [`BlobError::DigestMismatch`] returned. Every part but the last must be
    /// at least `min_part` bytes. The session is removed once completed (a failed
    /// completion leaves it for a retry or an abort). Returns the size.
    pub async fn complete_numbered(
        &self,
        id: Uuid,
        parts: &[(u32, String)],
        expected: &Digest,
        min_part: u64,
    ) -> BlobResult<u64> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let info = self.upload_info(id).await?;
        if parts.is_empty() {
            return Err(BlobError::InvalidPart(
                "a multipart upload needs at least one part".into(),
            ));
        }
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(BlobError::InvalidPart(
                "the parts must be listed in ascending order of part number".into(),
            ));
        }
        // "{number:05}-{etag}" → where the part is and its size
        let stored: HashMap<String, (PartPlace, u64)> = self
            .store()
            .list(Some(&upload_prefix(id)))
            .try_filter_map(|m| {
                let name = m.location.filename().unwrap_or_default().to_string();
                let found = if let Some(rest) = name.strip_prefix("npart-") {
                    Some((rest.to_string(), (PartPlace::Object(m.location.clone()), m.size)))
                } else if let Some(rest) = name.strip_prefix("spart-") {
                    // {number}-{etag}-{offset}-{len}
                    let mut f = rest.rsplitn(3, '-');
                    let len = f.next().and_then(|v| v.parse::<u64>().ok());
                    let offset = f.next().and_then(|v| v.parse::<u64>().ok());
                    match (len, offset, f.next()) {
                        (Some(len), Some(offset), Some(key)) => {
                            Some((key.to_string(), (PartPlace::Slab { offset, len }, len)))
                        }
                        _ => None,
                    }
                } else {
                    None
                };
                futures::future::ready(Ok(found))
            })
            .try_collect()
            .await?;
        let mut places = Vec::with_capacity(parts.len());
        let mut sizes = Vec::with_capacity(parts.len());
        for (number, etag) in parts {
            let etag = etag.trim_matches('"');
            let (place, size) = stored.get(&format!("{number:05}-{etag}")).cloned().ok_or_else(|| {
                BlobError::InvalidPart(format!(
                    "part {number} with ETag {etag:?} was not uploaded to this upload"
                ))
            })?;
            sizes.push(size);
            places.push(place);
        }
        for (i, size) in sizes.iter().enumerate().take(parts.len() - 1) {
            if *size < min_part {
                return Err(BlobError::InvalidPart(format!(
                    "part {} is {size} bytes; every part but the last must be at least {min_part}",
                    parts[i].0
                )));
            }
        }
        // The running hash, when it covers exactly the parts named, in order.
        let precomputed = {
            let all = self.inner.ordered.lock().expect("poisoned");
            all.get(&id).and_then(|st| {
                let same = !st.spoiled
                    && st.hashed.len() == parts.len()
                    && st
                        .hashed
                        .iter()
                        .zip(parts)
                        .all(|((n, e), (pn, pe))| n == pn && e == pe.trim_matches('"'));
                same.then(|| Digest::from_hasher(st.hasher.clone()))
            })
        };
        if let Some(actual) = &precomputed {
            if actual != expected {
                return Err(BlobError::DigestMismatch {
                    expected: expected.clone(),
                    actual: actual.clone(),
                });
            }
        }
        let verified = precomputed.is_some();
        let exists = self.stat(&info.org, expected).await?.is_some();
        if exists && verified {
            // Already stored, and these bytes are known to be those: nothing to write.
            self.discard(id).await?;
            return Ok(sizes.iter().sum());
        }
        let dest = blob_key(&info.org, expected);
        if let Some(root) = self.inner.local_root.clone() {
            // No more writes into the slab; with none under way, and every part the slab
            // holds where the completed object needs it, the slab becomes the blob.
            let slab_free = {
                let mut all = self.inner.slabs.lock().expect("poisoned");
                let slab = all.entry(id).or_default();
                slab.closed = true;
                slab.writers == 0
            };
            let mut offsets = Vec::with_capacity(sizes.len());
            let mut end = 0u64;
            for size in &sizes {
                offsets.push(end);
                end += size;
            }
            let in_place = slab_free
                && places.iter().zip(&offsets).all(|(p, at)| match p {
                    PartPlace::Slab { offset, .. } => offset == at,
                    PartPlace::Object(_) => true,
                })
                && places.iter().any(|p| matches!(p, PartPlace::Slab { .. }));
            let outcome = if in_place {
                assemble_in_slab(root, id, places, offsets, end, dest, expected.clone(), exists, verified).await
            } else {
                let sources = places
                    .into_iter()
                    .map(|p| match p {
                        PartPlace::Object(key) => (root.join(key.as_ref()), None),
                        PartPlace::Slab { offset, len } => (slab_path(&root, id), Some(offset..offset + len)),
                    })
                    .collect();
                assemble_local(root, id, sources, dest, expected.clone(), exists, verified).await
            };
            if outcome.is_ok() {
                self.discard(id).await?;
            }
            return outcome;
        }
        let mut writer = if exists {
            None
        } else {
            Some(WriteMultipart::new_with_chunk_size(
                self.store().put_multipart(&dest).await?,
                CHUNK,
            ))
        };
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let keys: Vec<ObjPath> = places
            .into_iter()
            .map(|p| match p {
                PartPlace::Object(key) => Ok(key),
                PartPlace::Slab { .. } => Err(BlobError::Backend("a slab part on an object store".into())),
            })
            .collect::<BlobResult<_>>()?;
        let copied: BlobResult<()> = async {
            for key in &keys {
                let mut s = self.store().get(key).await?.into_stream();
                while let Some(chunk) = s.next().await {
                    let chunk = chunk?;
                    if !verified {
                        hasher.update(&chunk);
                    }
                    total += chunk.len() as u64;
                    if let Some(w) = writer.as_mut() {
                        w.wait_for_capacity(4).await?;
                        w.write(&chunk);
                    }
                }
            }
            Ok(())
        }
        .await;
        let actual = precomputed.unwrap_or_else(|| Digest::from_hasher(hasher));
        let outcome = match copied {
            Err(e) => Err(e),
            Ok(()) if &actual != expected => Err(BlobError::DigestMismatch {
                expected: expected.clone(),
                actual,
            }),
            Ok(()) => Ok(total),
        };
        match (&outcome, writer) {
            (Ok(_), Some(w)) => {
                w.finish().await?;
            }
            (Err(_), Some(w)) => {
                let _ = w.abort().await;
            }
            (_, None) => {}
        }
        // A completed session goes; a failed one stays, as on S3, so a client that retries
        // the completion gets the same answer (botocore retries `BadDigest`) and then
        // aborts; one nobody aborts is removed by `granary admin gc` with other stale
        // sessions.
        if outcome.is_ok() {
            self.discard(id).await?;
        }
        outcome
    }

    /// The org's committed blobs whose hex digest starts with `hex_prefix` (empty for all),
    /// in digest order, with their sizes.
    pub async fn list_org_blobs(&self, org: &str, hex_prefix: &str) -> BlobResult<Vec<(Digest, u64)>> {
        let dir = if hex_prefix.len() >= 2 {
            format!("blobs/{org}/sha256/{}", &hex_prefix[..2])
        } else {
            format!("blobs/{org}/sha256")
        };
        let metas: Vec<object_store::ObjectMeta> = self.store().list(Some(&ObjPath::from(dir))).try_collect().await?;
        let mut out: Vec<(Digest, u64)> = metas
            .into_iter()
            .filter_map(|m| {
                let hex = m.location.filename()?;
                if !hex.starts_with(hex_prefix) {
                    return None;
                }
                Some((format!("sha256:{hex}").parse().ok()?, m.size))
            })
            .collect();
        out.sort_by(|a, b| a.0.hex().cmp(b.0.hex()));
        Ok(out)
    }
}

/// The error a received part earns, if any: a length other than the declared one, or bytes
/// that do not hash to the signed payload hash (`hasher` holds them when it was given).
fn check_part(
    size: u64,
    declared_len: Option<u64>,
    payload_sha256: Option<&Digest>,
    hasher: Sha256,
) -> Option<BlobError> {
    if let Some(len) = declared_len {
        if size != len {
            return Some(BlobError::Body(format!(
                "the part has {size} bytes, not its declared {len}"
            )));
        }
    }
    let expected = payload_sha256?;
    let actual = Digest::from_hasher(hasher);
    (expected != &actual).then(|| BlobError::DigestMismatch {
        expected: expected.clone(),
        actual,
    })
}

#[cfg(unix)]
fn write_all_at(f: &std::fs::File, buf: &[u8], at: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, at)
}

#[cfg(unix)]
fn read_exact_at(f: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
}

// Slabs are used on unix only; elsewhere these are never reached.
#[cfg(not(unix))]
fn write_all_at(_: &std::fs::File, _: &[u8], _: u64) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(not(unix))]
fn read_exact_at(_: &std::fs::File, _: &mut [u8], _: u64) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Feeds `hasher` the bytes of the local file at `path` in `range` (the whole file when
/// `None`), read in 1 MiB blocks.
fn hash_file(mut hasher: Sha256, path: &std::path::Path, range: Option<Range<u64>>) -> std::io::Result<Sha256> {
    let f = std::fs::File::open(path)?;
    let range = match range {
        Some(r) => r,
        None => 0..f.metadata()?.len(),
    };
    hash_range(&mut hasher, &f, range)?;
    Ok(hasher)
}

/// Feeds `hasher` the bytes of `f` in `range`, read in 1 MiB blocks.
fn hash_range(hasher: &mut Sha256, f: &std::fs::File, range: Range<u64>) -> std::io::Result<()> {
    let mut buf = vec![0u8; (range.end - range.start).min(1 << 20) as usize];
    let mut at = range.start;
    while at < range.end {
        let n = (range.end - at).min(buf.len() as u64) as usize;
        read_exact_at(f, &mut buf[..n], at)?;
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok(())
}

/// Runs a closure when dropped unless disarmed: undoes a claim when the request that made
/// it is dropped midway.
struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> OnDrop<F> {
    fn new(f: F) -> Self {
        OnDrop(Some(f))
    }
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// Marks an upload's running hash lost unless disarmed (see `hash_in_order`).
struct SpoilOnDrop<'a> {
    store: &'a BlobStore,
    id: Uuid,
    armed: bool,
}

impl Drop for SpoilOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut all = self.store.inner.ordered.lock().expect("poisoned");
            if let Some(st) = all.get_mut(&self.id) {
                st.busy = false;
                st.spoiled = true;
            }
        }
    }
}

/// Bytes per chunk of a local file served as a stream.
const FILE_READ_CHUNK: u64 = 2 << 20;

/// A local file's `range` as a stream of 2 MiB chunks that are slices of a read-only memory
/// map of the file: no copy in user space and no blocking-thread hop per chunk; the kernel
/// copies page-cache pages straight into the socket. The map is made on a blocking thread
/// with read-ahead advised. object_store's own local stream reads 8 KiB per blocking call,
/// which caps a download at a few hundred MB/s.
///
/// Mapping is sound here because blobs are immutable: a blob file is written elsewhere and
/// renamed into place whole, and is only ever unlinked (which leaves a mapping intact),
/// never truncated or rewritten.
#[cfg(unix)]
fn file_stream(file: std::fs::File, range: Range<u64>) -> BoxStream<'static, BlobResult<Bytes>> {
    if range.is_empty() {
        return futures::stream::empty().boxed();
    }
    let mapped = async move {
        tokio::task::spawn_blocking(move || -> std::io::Result<Bytes> {
            // SAFETY: see above; the file is never changed in place while it is a blob.
            let map = unsafe {
                memmap2::MmapOptions::new()
                    .offset(range.start)
                    .len((range.end - range.start) as usize)
                    .map(&file)?
            };
            let _ = map.advise(memmap2::Advice::Sequential);
            Ok(Bytes::from_owner(map))
        })
        .await
        .map_err(|e| BlobError::Backend(e.to_string()))?
        .map_err(|e| BlobError::Backend(format!("reading a blob: {e}")))
    };
    futures::stream::once(mapped)
        .map_ok(|whole| {
            let len = whole.len();
            futures::stream::iter(
                (0..len)
                    .step_by(FILE_READ_CHUNK as usize)
                    .map(move |at| Ok(whole.slice(at..(at + FILE_READ_CHUNK as usize).min(len)))),
            )
        })
        .try_flatten()
        .boxed()
}

/// Renames a finished staging file to the blob's path under a local store's `root`,
/// creating its directory: the one step that makes an assembled blob visible.
fn move_into_place(root: &std::path::Path, staging: &std::path::Path, dest: &ObjPath) -> BlobResult<()> {
    let io = |what: &str, e: std::io::Error| BlobError::Backend(format!("{what}: {e}"));
    let target = root.join(dest.as_ref());
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io("creating the blob's directory", e))?;
    }
    std::fs::rename(staging, &target).map_err(|e| io("moving the blob into place", e))
}

/// A part's bytes to read: the file at `path`, or its `range`.
fn open_part(path: &std::path::Path, range: &Option<Range<u64>>) -> std::io::Result<std::io::Take<std::fs::File>> {
    use std::io::{Read, Seek};
    let mut f = std::fs::File::open(path)?;
    Ok(match range {
        Some(r) => {
            f.seek(std::io::SeekFrom::Start(r.start))?;
            f.take(r.end - r.start)
        }
        None => f.take(u64::MAX),
    })
}

/// `complete_numbered` on a local store whose slab holds parts where the blob needs them:
/// the parts kept as objects of their own are copied to their `offsets` in the slab, the
/// slab's first `total` bytes hashed unless `verified` already, and the slab cut to `total`
/// and renamed into place (left in the session, unchanged in its first `total` bytes, when
/// the digest does not match).
#[allow(clippy::too_many_arguments)]
async fn assemble_in_slab(
    root: std::path::PathBuf,
    id: Uuid,
    places: Vec<PartPlace>,
    offsets: Vec<u64>,
    total: u64,
    dest: ObjPath,
    expected: Digest,
    exists: bool,
    verified: bool,
) -> BlobResult<u64> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let io = |what: &str, e: std::io::Error| BlobError::Backend(format!("{what}: {e}"));
        let path = slab_path(&root, id);
        let slab = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| io("opening the upload's slab", e))?;
        let mut buf = vec![0u8; 4 << 20];
        for (place, at) in places.iter().zip(&offsets) {
            let PartPlace::Object(key) = place else { continue };
            let mut f = std::fs::File::open(root.join(key.as_ref())).map_err(|e| io("opening a part", e))?;
            let mut at = *at;
            loop {
                let n = f.read(&mut buf).map_err(|e| io("reading a part", e))?;
                if n == 0 {
                    break;
                }
                write_all_at(&slab, &buf[..n], at).map_err(|e| io("writing a part into place", e))?;
                at += n as u64;
            }
        }
        if !verified {
            let actual = Digest::from_hasher(
                hash_file(Sha256::new(), &path, Some(0..total)).map_err(|e| io("reading the upload's slab", e))?,
            );
            if actual != expected {
                return Err(BlobError::DigestMismatch { expected, actual });
            }
        }
        if !exists {
            slab.set_len(total).map_err(|e| io("cutting the upload's slab", e))?;
            drop(slab);
            move_into_place(&root, &path, &dest)?;
        }
        Ok(total)
    })
    .await
    .map_err(|e| BlobError::Backend(e.to_string()))?
}

/// `complete_numbered` on a local store: the parts are read in order in 4 MiB blocks on one
/// blocking thread and hashed there, while a second thread writes the same blocks to a
/// staging file in the session's directory; the file is renamed into place only if the
/// digest matches (removed otherwise), as the object store's own local writes are. Large
/// blocks, and hashing beside writing, instead of the object store's 8 KiB chunks each on a
/// blocking thread of its own: several times faster for the same bytes.
async fn assemble_local(
    root: std::path::PathBuf,
    id: Uuid,
    parts: Vec<(std::path::PathBuf, Option<Range<u64>>)>,
    dest: ObjPath,
    expected: Digest,
    exists: bool,
    verified: bool,
) -> BlobResult<u64> {
    use std::io::{Read, Write};
    if verified {
        // Every byte was hashed as the parts arrived: concatenate them in the kernel
        // (`std::io::copy` uses `copy_file_range` between files) and move the result.
        return tokio::task::spawn_blocking(move || {
            let io = |what: &str, e: std::io::Error| BlobError::Backend(format!("{what}: {e}"));
            let mut total = 0u64;
            let staging = root.join("uploads").join(id.to_string()).join("assembled");
            let mut out = std::fs::File::create(&staging).map_err(|e| io("creating the assembled blob", e))?;
            for (path, range) in &parts {
                let mut f = open_part(path, range).map_err(|e| io("opening a part", e))?;
                total += std::io::copy(&mut f, &mut out).map_err(|e| io("copying a part", e))?;
            }
            drop(out);
            move_into_place(&root, &staging, &dest)?;
            Ok(total)
        })
        .await
        .map_err(|e| BlobError::Backend(e.to_string()))?;
    }

    tokio::task::spawn_blocking(move || {
        let io = |what: &str, e: std::io::Error| BlobError::Backend(format!("{what}: {e}"));
        let staging = root.join("uploads").join(id.to_string()).join("assembled");
        // The writer: blocks arrive over a bounded channel (at most 4 in flight: 16 MiB).
        let (tx, rx) = std::sync::mpsc::sync_channel::<Arc<Vec<u8>>>(4);
        let writer = if exists {
            drop(rx);
            None
        } else {
            let mut out = std::fs::File::create(&staging).map_err(|e| io("creating the assembled blob", e))?;
            Some(std::thread::spawn(move || -> std::io::Result<()> {
                for block in rx {
                    out.write_all(&block)?;
                }
                out.flush()
            }))
        };
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let mut read_err = None;
        'parts: for (path, range) in &parts {
            let mut f = match open_part(path, range) {
                Ok(f) => f,
                Err(e) => {
                    read_err = Some(io("opening a part", e));
                    break;
                }
            };
            loop {
                let mut buf = vec![0u8; 4 << 20];
                let mut filled = 0;
                while filled < buf.len() {
                    match f.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) => {
                            read_err = Some(io("reading a part", e));
                            break 'parts;
                        }
                    }
                }
                if filled == 0 {
                    break;
                }
                buf.truncate(filled);
                let block = Arc::new(buf);
                if writer.is_some() && tx.send(block.clone()).is_err() {
                    break 'parts; // the writer failed; its error is reported below
                }
                hasher.update(block.as_slice());
                total += filled as u64;
            }
        }
        drop(tx);
        let written = match writer {
            Some(w) => w
                .join()
                .map_err(|_| BlobError::Backend("the writing thread panicked".into()))?
                .map_err(|e| io("writing the assembled blob", e)),
            None => Ok(()),
        };
        let cleanup = || {
            let _ = std::fs::remove_file(&staging);
        };
        if let Some(e) = read_err {
            cleanup();
            return Err(e);
        }
        if let Err(e) = written {
            cleanup();
            return Err(e);
        }
        let actual = Digest::from_hasher(hasher);
        if actual != expected {
            cleanup();
            return Err(BlobError::DigestMismatch { expected, actual });
        }
        if !exists {
            move_into_place(&root, &staging, &dest)?;
        }
        Ok(total)
    })
    .await
    .map_err(|e| BlobError::Backend(e.to_string()))?
}
