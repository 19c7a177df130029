//! A small typed HTTP client for the registry: JSON calls with the error envelope turned
//! into one readable line, blob existence checks, resumable streamed uploads, manifests.

use anyhow::{anyhow, bail, Context, Result};
use futures::StreamExt;
use granary_core::Digest;
use reqwest::{header, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use std::path::Path;
use tokio::io::AsyncSeekExt;

use crate::progress::Transfer;
use crate::sessions::SavedSession;

pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    /// Where the key came from (`--api-key`, `GRANARY_API_KEY`, the profile), named when
    /// the registry refuses it.
    key_source: String,
}

/// Bytes sent per `PATCH` of an upload session: the registry keeps each acknowledged
/// window, so a push cut off by a server restart loses at most one window.
pub const PATCH_BYTES: u64 = 32 << 20;

/// How often an interrupted upload is resumed before giving up.
const UPLOAD_ATTEMPTS: usize = 4;

/// A registry URL as users write it, made the base every route hangs from: a missing scheme
/// is an error that suggests one; a trailing `/`, `/api` or `/api/v1` (the form `dn`
/// takes) is dropped.
pub fn normalize_server(server: &str) -> Result<String> {
    let trimmed = server.trim();
    if !trimmed.contains("://") {
        bail!("invalid server URL {server:?}: it needs a scheme, such as http://{trimmed}");
    }
    let url = url::Url::parse(trimmed).map_err(|e| anyhow!("invalid server URL {server:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("invalid server URL {server:?}: use http:// or https://");
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("invalid server URL {server:?}: it names no host");
    }
    let mut base = trimmed.trim_end_matches('/').to_string();
    for suffix in ["/api/v1", "/api"] {
        if let Some(b) = base.strip_suffix(suffix) {
            base = b.trim_end_matches('/').to_string();
            break;
        }
    }
    Ok(base)
}

impl Client {
    /// A client of the registry at `server` (see [`normalize_server`]) sending `key`, which
    /// came from `key_source` (said in the error when the registry refuses the key).
    pub fn new(server: &str, key: &str, key_source: &str) -> Result<Self> {
        let base = normalize_server(server)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("granary/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Client {
            http,
            base,
            key: key.to_string(),
            key_source: key_source.to_string(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn req(&self, method: Method, path_or_url: &str) -> RequestBuilder {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        self.http.request(method, url).bearer_auth(&self.key)
    }

    async fn send(&self, rb: RequestBuilder) -> Result<Response> {
        let resp = rb.send().await.map_err(|e| self.unreachable(&e))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            let text = resp.text().await.unwrap_or_default();
            let detail = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["detail"].as_str().map(str::to_string))
                .unwrap_or_else(|| "unauthorized".into());
            bail!(
                "{detail} (HTTP 401): the registry at {} refused the API key from {}; check it, or run `granary login --server {} --api-key KEY`",
                self.base,
                self.key_source,
                self.base
            );
        }
        Ok(resp)
    }

    /// One line for a request that got no answer, naming the likely cause.
    fn unreachable(&self, e: &reqwest::Error) -> anyhow::Error {
        let cause = root_cause(e);
        let hint = if cause.contains("InvalidContentType") || cause.contains("corrupt message") {
            format!(
                "the server answered in plain HTTP, not TLS; use {}",
                self.base.replacen("https://", "http://", 1)
            )
        } else if e.is_connect() && cause.contains("refused") {
            format!("{cause}; is `granary serve` running there?")
        } else if cause.contains("dns error") || cause.contains("failed to lookup address") {
            format!("{cause}; check the host name in the server URL")
        } else {
            cause
        };
        anyhow!("cannot reach {}: {hint}", self.base)
    }

    /// Turns an error response into one line: the envelope's `detail`, or the status.
    async fn check(resp: Response) -> Result<Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        if status == StatusCode::NOT_FOUND
            && resp
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
        {
            bail!(
                "{} is a web page, not a granary registry API (HTTP 404): check --server",
                resp.url()
            );
        }
        let url = resp.url().clone();
        let text = resp.text().await.unwrap_or_default();
        let Some(detail) = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_string))
        else {
            // No error envelope: whatever answered is not a granary registry.
            let reason = status.canonical_reason().unwrap_or("error");
            bail!(
                "{reason} (HTTP {}) from {}: is --server the root URL of a granary registry?",
                status.as_u16(),
                url.origin().ascii_serialization()
            );
        };
        Err(anyhow!("{} (HTTP {})", with_hint(&detail, status), status.as_u16()))
    }

    /// GET of a JSON resource that may not exist: `None` on 404.
    pub async fn get_json_opt(&self, path: &str) -> Result<Option<Value>> {
        let resp = self.send(self.req(Method::GET, path)).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = Self::check(resp).await?;
        resp.json()
            .await
            .map(Some)
            .context("the server sent a response that is not JSON")
    }

    pub async fn get_json(&self, path: &str) -> Result<Value> {
        self.get_query(path, &[]).await
    }

    /// GET with query pairs; a key may repeat (`tags=a&tags=b`).
    pub async fn get_query(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let resp = Self::check(self.send(self.req(Method::GET, path).query(query)).await?).await?;
        resp.json().await.context("the server sent a response that is not JSON")
    }

    /// Sends a JSON body; returns the JSON answer (or `null` for an empty one).
    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Result<Value> {
        let resp = Self::check(self.send(self.req(method, path).json(body)).await?).await?;
        let bytes = resp.bytes().await?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).context("the server sent a response that is not JSON")
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        Self::check(self.send(self.req(Method::DELETE, path)).await?).await?;
        Ok(())
    }

    /// Fetches a signed link (no credentials are sent with it), from byte `from` on.
    pub async fn fetch_link(&self, url: &str, from: u64) -> Result<Response> {
        let mut rb = self.http.get(url);
        if from > 0 {
            rb = rb.header(header::RANGE, format!("bytes={from}-"));
        }
        let resp = rb.send().await.map_err(|e| self.unreachable(&e))?;
        Self::check(resp).await
    }

    /// Whether the org already has the blob.
    pub async fn blob_exists(&self, org: &str, digest: &Digest) -> Result<bool> {
        let resp = self
            .send(self.req(Method::HEAD, &format!("/api/v1/{org}/blobs/{digest}")))
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Self::check(resp).await.map(|_| false),
        }
    }

    /// The server's reading of the org's blob `digest` as `format`: its columns and exact
    /// row count, exactly what a publish naming the file will record
    /// (`GET /api/v1/org/{org}/blobs/{digest}/schema`). Fails with the server's one-line
    /// reason when the file is not readable as that format.
    pub async fn blob_schema(
        &self,
        org: &str,
        digest: &Digest,
        format: granary_core::DataFormat,
    ) -> Result<granary_infer::Inferred> {
        let v = self
            .get_query(
                &format!("/api/v1/org/{org}/blobs/{digest}/schema"),
                &[("format", format.to_string())],
            )
            .await?;
        let rows = v["row_count"]
            .as_u64()
            .ok_or_else(|| anyhow!("the server's schema answer has no row_count"))?;
        let columns = v["columns"]
            .as_array()
            .ok_or_else(|| anyhow!("the server's schema answer has no columns"))?
            .iter()
            .map(|c| match (c["name"].as_str(), c["type"].as_str()) {
                (Some(n), Some(t)) => Ok((n.to_string(), t.to_string())),
                _ => Err(anyhow!("the server's schema answer has a malformed column")),
            })
            .collect::<Result<_>>()?;
        Ok(granary_infer::Inferred { columns, rows })
    }

    /// Streams a file into a new upload session of dataset `(org, name)` and commits it
    /// under `digest`. An
    /// interrupted transfer asks the server how much arrived and sends only the rest.
    pub async fn upload_file(
        &self,
        (org, name): (&str, &str),
        path: &Path,
        digest: &Digest,
        size: u64,
        t: &Transfer,
        saved: &SavedSession,
    ) -> Result<()> {
        let location = self.start_upload(org, name).await?;
        saved.save(&location);
        self.finish_upload(&location, path, digest, 0, size, t).await?;
        saved.clear();
        Ok(())
    }

    /// Continues an upload session an earlier run opened (see [`crate::sessions`]): asks
    /// the registry how much it holds, sends the rest of the file and commits it. `digest`
    /// is the file's when known, else the file is hashed first. `None` when the registry
    /// no longer has the session (the caller then sends the file anew).
    pub async fn resume_upload(
        &self,
        location: &str,
        path: &Path,
        digest: Option<Digest>,
        size: u64,
        t: &Transfer,
    ) -> Result<Option<Digest>> {
        let resp = self.send(self.req(Method::GET, location)).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let offset = Self::offset_of(&Self::check(resp).await?).min(size);
        if offset == size {
            t.start_at(size);
        }
        t.say(format!(
            "{}: resuming the upload at {} of {}",
            t.name(),
            crate::output::bytes(offset),
            crate::output::bytes(size)
        ));
        let digest = match digest {
            Some(d) => {
                self.send_rest(location, path, offset, size, t).await?;
                d
            }
            // The digest is needed only to commit: the file is hashed on a thread of its
            // own while the rest of it is sent.
            None => {
                let file = path.to_path_buf();
                let hashing = tokio::task::spawn_blocking(move || crate::local::hash_file(&file));
                self.send_rest(location, path, offset, size, t).await?;
                t.note("hashing the file to commit it");
                let d = hashing.await??.0;
                t.note("");
                d
            }
        };
        self.commit(location, &digest).await?;
        Ok(Some(digest))
    }

    /// Streams a file into a new upload session while hashing it, and commits it under the
    /// digest found: one read of the file instead of a hash pass before the upload. Returns
    /// the digest. An interrupted transfer is resumed as [`Self::upload_file`] does, after
    /// the file is hashed on its own.
    pub async fn upload_file_hashing(
        &self,
        (org, name): (&str, &str),
        path: &Path,
        size: u64,
        t: &Transfer,
        saved: &SavedSession,
    ) -> Result<Digest> {
        let location = self.start_upload(org, name).await?;
        saved.save(&location);
        let digest = self.send_hashing(&location, path, size, t).await?;
        saved.clear();
        Ok(digest)
    }

    /// Sends a file into the session at `location` while hashing it (one read of the file),
    /// in windows of [`PATCH_BYTES`]; commits it under the digest found. An interrupted
    /// transfer is resumed as [`Self::upload_file`] does, after the file is hashed on its own.
    async fn send_hashing(&self, location: &str, path: &Path, size: u64, t: &Transfer) -> Result<Digest> {
        use sha2::Digest as _;
        let hasher = std::sync::Arc::new(std::sync::Mutex::new(sha2::Sha256::new()));
        let mut sent = Ok(());
        let mut offset = 0;
        t.start_at(0);
        while offset < size {
            let end = (offset + PATCH_BYTES).min(size);
            if let Err(e) = self.patch_window(location, path, offset, end, t, Some(&hasher)).await {
                sent = Err(e);
                break;
            }
            offset = end;
        }
        let digest = match sent {
            Ok(()) => {
                let h = std::mem::take(&mut *hasher.lock().expect("poisoned"));
                Digest::from_hasher(h)
            }
            Err(e) if size == 0 => return Err(e),
            // Interrupted: hash the file on its own, then resume where the server stopped.
            Err(e) => {
                t.say(format!("upload of {} interrupted ({e}); resuming", t.name()));
                t.note("hashing the file to resume its upload");
                let file = path.to_path_buf();
                let (d, _) = tokio::task::spawn_blocking(move || crate::local::hash_file(&file)).await??;
                t.note("");
                let offset = self.upload_offset(location).await?;
                self.finish_upload(location, path, &d, offset, size, t).await?;
                return Ok(d);
            }
        };
        self.finish_upload(location, path, &digest, size, size, t).await?;
        Ok(digest)
    }

    async fn start_upload(&self, org: &str, name: &str) -> Result<String> {
        let start = Self::check(
            self.send(self.req(Method::POST, &format!("/api/v1/{org}/{name}/blobs/uploads/")))
                .await?,
        )
        .await?;
        Ok(start
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("the server did not say where to upload"))?
            .to_string())
    }

    /// Sends the rest of the file from `offset` (resuming when interrupted) and commits the
    /// session under `digest`.
    async fn finish_upload(
        &self,
        location: &str,
        path: &Path,
        digest: &Digest,
        offset: u64,
        size: u64,
        t: &Transfer,
    ) -> Result<()> {
        self.send_rest(location, path, offset, size, t).await?;
        self.commit(location, digest).await
    }

    /// Sends the file from `offset` to its end, resuming from the registry's offset when
    /// the connection breaks (at most [`UPLOAD_ATTEMPTS`] times).
    async fn send_rest(&self, location: &str, path: &Path, mut offset: u64, size: u64, t: &Transfer) -> Result<()> {
        let mut attempt = 0;
        while offset < size {
            attempt += 1;
            // Rate and ETA count the bytes moved from here on, not those already held.
            t.start_at(offset);
            match self.patch_from(location, path, offset, size, t).await {
                Ok(()) => offset = size,
                Err(e) if attempt < UPLOAD_ATTEMPTS => {
                    t.say(format!("upload of {} interrupted ({e}); resuming", t.name()));
                    offset = self.upload_offset(location).await?;
                }
                Err(e) => return Err(e.context(format!("uploading {}", path.display()))),
            }
        }
        Ok(())
    }

    /// Commits the session's bytes as the blob `digest` (the registry verifies them).
    async fn commit(&self, location: &str, digest: &Digest) -> Result<()> {
        let sep = if location.contains('?') { '&' } else { '?' };
        Self::check(
            self.send(
                self.req(Method::PUT, &format!("{location}{sep}digest={digest}"))
                    .header(header::CONTENT_LENGTH, 0),
            )
            .await?,
        )
        .await?;
        Ok(())
    }

    /// Sends the file from `offset` to its end, a window of [`PATCH_BYTES`] per request.
    async fn patch_from(&self, location: &str, path: &Path, mut offset: u64, size: u64, t: &Transfer) -> Result<()> {
        while offset < size {
            let end = (offset + PATCH_BYTES).min(size);
            self.patch_window(location, path, offset, end, t, None).await?;
            offset = end;
        }
        Ok(())
    }

    /// One `PATCH` of the file's bytes `start..end`, hashed into `hasher` when given. Each
    /// window the registry acknowledges is kept by it, even if it restarts afterwards.
    async fn patch_window(
        &self,
        location: &str,
        path: &Path,
        start: u64,
        end: u64,
        t: &Transfer,
        hasher: Option<&std::sync::Arc<std::sync::Mutex<sha2::Sha256>>>,
    ) -> Result<()> {
        use tokio::io::AsyncReadExt;
        let mut file = tokio::fs::File::open(path).await?;
        file.seek(std::io::SeekFrom::Start(start)).await?;
        let progress = t.clone();
        let hasher = hasher.cloned();
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(end - start), 1 << 20).map(move |chunk| {
            if let Ok(c) = &chunk {
                if let Some(h) = &hasher {
                    sha2::Digest::update(&mut *h.lock().expect("poisoned"), c);
                }
                progress.inc(c.len() as u64);
            }
            chunk
        });
        let rb = self
            .req(Method::PATCH, location)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_RANGE, format!("{start}-{}", end - 1))
            .header(header::CONTENT_LENGTH, end - start)
            .body(reqwest::Body::wrap_stream(stream));
        Self::check(self.send(rb).await?).await?;
        Ok(())
    }

    async fn upload_offset(&self, location: &str) -> Result<u64> {
        let resp = Self::check(self.send(self.req(Method::GET, location)).await?).await?;
        Ok(Self::offset_of(&resp))
    }

    /// The bytes an upload session holds, from the answer to a `GET` on it.
    fn offset_of(resp: &Response) -> u64 {
        let h = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if let Some(o) = h("upload-offset").and_then(|v| v.parse().ok()) {
            return o;
        }
        // Standard OCI: `Range: 0-<last byte>`.
        h("range")
            .and_then(|r| r.split('-').nth(1).and_then(|e| e.parse::<u64>().ok()))
            .map_or(0, |e| e + 1)
    }

    /// Uploads small in-memory bytes (config blobs) in one request.
    pub async fn upload_bytes(&self, org: &str, name: &str, bytes: Vec<u8>) -> Result<()> {
        let d = Digest::of(&bytes);
        let rb = self
            .req(Method::POST, &format!("/api/v1/{org}/{name}/blobs/uploads/?digest={d}"))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        Self::check(self.send(rb).await?).await?;
        Ok(())
    }

    /// Publishes a manifest; returns the digest the server reports.
    pub async fn put_manifest(&self, org: &str, name: &str, version: &str, manifest: Vec<u8>) -> Result<String> {
        let fallback = Digest::of(&manifest).to_string();
        let rb = self
            .req(Method::PUT, &format!("/api/v1/{org}/{name}/manifests/{version}"))
            .header(header::CONTENT_TYPE, granary_core::manifest::MEDIA_OCI_MANIFEST)
            .body(manifest);
        let resp = Self::check(self.send(rb).await?).await?;
        Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or(fallback))
    }
}

/// The CLI flag a request field (`query.limit`, `body.split`) came from.
fn flag_of(field: &str) -> String {
    match field {
        "user_id" => "--user".into(),
        "dataset_name" => "--dataset".into(),
        "tags" => "--tag".into(),
        "task_categories" => "--task-category".into(),
        f => format!("--{}", f.replace('_', "-")),
    }
}

/// A registry error detail as the CLI says it: request fields named by the flags that set
/// them, and what to do after a "not found".
fn with_hint(detail: &str, status: StatusCode) -> String {
    let mut d = detail.to_string();
    for prefix in ["query.", "body."] {
        if let Some(rest) = d.strip_prefix(prefix) {
            if let Some((field, msg)) = rest.split_once(':') {
                d = format!("{}:{msg}", flag_of(field));
            }
        }
    }
    if status == StatusCode::NOT_FOUND {
        if d == "no such route" {
            d.push_str(": is --server the root URL of a granary registry?");
        } else if d.starts_with("version ") && d.contains(" of dataset ") {
            d.push_str(": `granary dataset info NAME` lists its versions");
        } else if d.starts_with("dataset ") {
            d.push_str(": `granary dataset list` shows the datasets there are");
        } else if d.starts_with("organization ") {
            d.push_str(": `granary whoami` lists your organizations");
        }
    }
    d
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::normalize_server;

    #[test]
    fn server_urls_are_normalised_or_refused_with_a_fix() {
        for (given, base) in [
            ("http://h:8080", "http://h:8080"),
            ("http://h:8080/", "http://h:8080"),
            ("http://h:8080/api/v1", "http://h:8080"),
            ("http://h:8080/api/v1/", "http://h:8080"),
            ("https://h/api", "https://h"),
            ("http://h/registry/api/v1", "http://h/registry"),
            (" http://h ", "http://h"),
        ] {
            assert_eq!(normalize_server(given).unwrap(), base, "{given}");
        }
        let e = normalize_server("127.0.0.1:8080").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid server URL \"127.0.0.1:8080\": it needs a scheme, such as http://127.0.0.1:8080"
        );
        let e = normalize_server("ftp://h").unwrap_err().to_string();
        assert!(e.ends_with("use http:// or https://"), "{e}");
    }
}
