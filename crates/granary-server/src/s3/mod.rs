//! The S3-compatible ingest endpoint under `/s3`, and the storage-credentials route that
//! hands out its credentials (`GET /api/v1/org/{org}/ws/{ws}/storage/credentials`).
//!
//! The official client pushes data files straight to object storage with s3fs/botocore
//! (path-style, SigV4) at `{bucket}/{prefix}/cas/sha256/{h[0:2]}/{h[2:4]}/{h}`; this endpoint
//! answers those requests itself. Bytes sent to such a key are hashed while they stream and
//! become an ordinary org blob — the same store, dedupe and atomic commit as the OCI upload
//! routes — only when they hash to the digest in the key. The bucket is the org's key and
//! the prefix is the org's key again.
//!
//! Credentials are stateless: the access key id carries the API key's id, the org's id and
//! the expiry; the secret key and the session token are HMACs of the access key id under the
//! registry's signing secret (the one signed download links use, shared by every replica).
//! Nothing about them is stored. Each request re-checks that the API key is live and that its
//! user may write to the org, so a revoked key or a lowered role stops them at once.
//!
//! Operations: `HeadObject` (with `Range`), `PutObject`, `CreateMultipartUpload`,
//! `UploadPart`, `CompleteMultipartUpload`, `AbortMultipartUpload`, `ListObjectsV2`,
//! `HeadBucket`, `GetBucketLocation`, `ListBuckets`. `GetObject` is answered `NoSuchKey`
//! (404) for every key, so a pull falls back to the counted download route (see
//! docs/API.md "S3-compatible ingest"). Anything else is an S3 error in S3's XML.

mod chunked;
mod sigv4;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use granary_blob::BlobError;
use granary_core::{Digest, Role};
use granary_db::Org;
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

use chunked::constant_eq;

/// The region credentials name and requests are expected to be signed for (any region in a
/// signature's scope is accepted: the endpoint has one location).
pub const REGION: &str = "us-east-1";

/// Prefix of the access key ids this endpoint issues.
const AKID_PREFIX: &str = "GRAN";

/// Largest single `PutObject` or part S3 accepts (5 GiB).
const MAX_OBJECT_PUT: u64 = 5 << 30;

/// Smallest part but the last of a multipart upload (S3: 5 MiB).
const MIN_PART: u64 = 5 << 20;

/// Largest `CompleteMultipartUpload` request body read (10,000 parts fit in under 1 MiB).
const MAX_COMPLETE_BODY: usize = 2 << 20;

// ---------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------

/// The body of `GET /api/v1/org/{org}/ws/{ws}/storage/credentials` (the official client's
/// `StorageCredentials`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StorageCredentialsOut {
    /// `GRAN` + 80 upper-case hex digits: the API key's id, the org's id, the expiry.
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Sent by S3 clients as `X-Amz-Security-Token`.
    pub session_token: String,
    /// When the credentials stop working (RFC 3339, UTC).
    pub expiration: String,
    pub region: String,
    /// The org's key.
    pub bucket: String,
    /// The org's key again: objects live at `{prefix}/cas/sha256/…`.
    pub prefix: String,
    /// This server's public URL + `/s3`.
    pub endpoint: String,
}

/// What an access key id names.
struct AccessKey {
    key_id: Uuid,
    org_id: Uuid,
    expires: i64,
}

impl AccessKey {
    fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(40);
        raw.extend_from_slice(self.key_id.as_bytes());
        raw.extend_from_slice(self.org_id.as_bytes());
        raw.extend_from_slice(&self.expires.to_be_bytes());
        format!("{AKID_PREFIX}{}", hex::encode_upper(raw))
    }

    fn decode(akid: &str) -> Option<AccessKey> {
        let raw = hex::decode(akid.strip_prefix(AKID_PREFIX)?).ok()?;
        if raw.len() != 40 {
            return None;
        }
        Some(AccessKey {
            key_id: Uuid::from_slice(&raw[..16]).ok()?,
            org_id: Uuid::from_slice(&raw[16..32]).ok()?,
            expires: i64::from_be_bytes(raw[32..40].try_into().ok()?),
        })
    }
}

/// The secret key and session token of an access key id, derived with the registry secret.
fn derive(secret: &[u8], akid: &str) -> (String, String) {
    let b64 = |label: &str| {
        let tag = sigv4::hmac(secret, format!("granary-s3-{label}\n{akid}").as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
    };
    (b64("secret"), b64("token"))
}

#[utoipa::path(get, path = "/api/v1/org/{org}/ws/{workspace}/storage/credentials", tag = "platform",
    params(("org" = String, Path, description = "Organization key"), ("workspace" = String, Path, description = "Workspace key (`default`)")),
    responses(
        (status = 200, body = StorageCredentialsOut, description = "Credentials for the `/s3` ingest endpoint, bound to the caller's API key and org"),
        (status = 401, description = "No or invalid API key", body = crate::openapi::ErrorEnvelope),
        (status = 403, description = "The caller may not write to the org (reader)", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "No such org or workspace, or not a member", body = crate::openapi::ErrorEnvelope)))]
/// Credentials for pushing data files through `/s3` into the org. Members with write access
/// only; they expire after the configured lifetime (default 1 h) and stop working as soon as
/// the API key is revoked or the caller loses write access.
pub async fn credentials(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((org, ws)): Path<(String, String)>,
) -> ApiResult<Json<StorageCredentialsOut>> {
    let access = state.org_access(&caller, &org).await?;
    if !access.is_member() {
        return Err(ApiError::not_found(format!("organization {org:?} not found")));
    }
    if ws != "default" {
        return Err(ApiError::not_found(format!(
            "workspace {ws:?} not found in organization {org}; its only workspace is \"default\""
        )));
    }
    access.require_write()?;
    let ttl = chrono::Duration::from_std(state.config.s3_credential_ttl).unwrap_or(chrono::Duration::hours(1));
    let expires = Utc::now() + ttl;
    let akid = AccessKey {
        key_id: caller.key.id,
        org_id: access.org.id,
        expires: expires.timestamp(),
    }
    .encode();
    let (secret, token) = derive(state.link_secret().await?, &akid);
    Ok(Json(StorageCredentialsOut {
        access_key_id: akid,
        secret_access_key: secret,
        session_token: token,
        expiration: Utc
            .timestamp_opt(expires.timestamp(), 0)
            .single()
            .unwrap_or(expires)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        region: REGION.into(),
        bucket: access.org.key.clone(),
        prefix: access.org.key.clone(),
        endpoint: format!("{}/s3", crate::routes::base_url(&state, &headers)),
    }))
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// An S3 error response: the code and status S3 uses, and a message for people.
#[derive(Debug)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl S3Error {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        S3Error {
            status,
            code,
            message: message.into(),
        }
    }
    fn denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }
    fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }
    fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("{what} is not supported by this endpoint; it accepts content-addressed dataset files only"),
        )
    }
    fn no_such_key(key: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NoSuchKey", format!("no object at {key:?}"))
    }
    fn no_such_upload() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "no such multipart upload for this key; it may have been completed or aborted",
        )
    }
    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "the server could not complete the request; try again",
        )
    }
    /// The S3 error for a status produced outside the endpoint (edge layers).
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            404 => Self::new(status, "NoSuchKey", "no such resource"),
            405 => Self::new(status, "MethodNotAllowed", "method not allowed on this resource"),
            413 => Self::new(status, "EntityTooLarge", "the request body is too large"),
            429 | 503 => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "too many requests; retry later",
            ),
            s if s >= 500 => Self::internal(),
            _ => Self::new(
                status,
                "InvalidRequest",
                status.canonical_reason().unwrap_or("invalid request"),
            ),
        }
    }

    /// Rate limiting, as S3 signals it (`SlowDown`, 503).
    pub fn slow_down(retry_after: u64) -> Response {
        let mut r = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            format!("too many requests from these credentials; retry in {retry_after} s"),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        r
    }
}

fn from_blob(e: BlobError, key: &str) -> S3Error {
    match e {
        BlobError::NotFound => S3Error::no_such_key(key),
        BlobError::UploadNotFound => S3Error::no_such_upload(),
        BlobError::DigestMismatch { expected, actual } => S3Error::new(
            StatusCode::BAD_REQUEST,
            "BadDigest",
            format!("the bytes sent hash to {actual}, not {expected}; nothing was stored"),
        ),
        BlobError::Body(m) if m.contains("chunk signature") => S3Error::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            format!("the request body was refused: {m}"),
        ),
        BlobError::Body(m) => S3Error::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            format!("the request body ended early: {m}"),
        ),
        BlobError::InvalidPart(m) => {
            let code = if m.contains("ascending") {
                "InvalidPartOrder"
            } else if m.contains("at least") {
                "EntityTooSmall"
            } else {
                "InvalidPart"
            };
            S3Error::new(StatusCode::BAD_REQUEST, code, m)
        }
        BlobError::Range => S3Error::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "the requested range is not satisfiable",
        ),
        BlobError::Timeout(m) => {
            tracing::warn!(cause = %m, "s3 endpoint: blob store timed out");
            S3Error::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "the blob store did not answer in time; retry",
            )
        }
        other => {
            tracing::error!(cause = %other, "s3 endpoint: blob store error");
            S3Error::internal()
        }
    }
}

fn from_api(e: ApiError) -> S3Error {
    tracing::error!(cause = ?e, "s3 endpoint: metadata error");
    let status = e.into_response().status();
    if status.is_server_error() && status != StatusCode::INTERNAL_SERVER_ERROR {
        return S3Error::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the metadata store is unavailable; retry",
        );
    }
    S3Error::internal()
}

impl From<granary_db::DbError> for S3Error {
    fn from(e: granary_db::DbError) -> Self {
        from_api(ApiError::from(e))
    }
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId></Error>",
            self.code,
            esc(&self.message),
            Uuid::new_v4().simple()
        );
        let mut r = (self.status, body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        r.extensions_mut().insert(S3Response);
        r
    }
}

/// Marks a response as the S3 endpoint's own (XML), so the edge leaves it as it is.
#[derive(Clone, Copy, Debug)]
pub struct S3Response;

type S3Result<T> = Result<T, S3Error>;

/// A request body as it streams, decoded; errors are messages for the client.
type BodyStream = BoxStream<'static, Result<Bytes, String>>;

/// XML text escaping for element content. Characters XML 1.0 does not allow at all (the
/// C0 controls but tab, line feed and carriage return) become U+FFFD, so an echoed query
/// value can never make a response unparseable.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn xml(status: StatusCode, body: String) -> Response {
    let mut r = (status, format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}")).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    r.extensions_mut().insert(S3Response);
    r
}

fn empty(status: StatusCode) -> Response {
    let mut r = status.into_response();
    r.extensions_mut().insert(S3Response);
    r
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// An authenticated request: who, for which org, and the claim it was signed with.
struct Authed {
    org: Org,
    claim: sigv4::Claim,
    secret: String,
}

/// `{prefix}/cas/sha256/{h[0:2]}/{h[2:4]}/{h}` → the digest, for keys of the org's prefix.
fn cas_digest(org: &Org, key: &str) -> Option<Digest> {
    let rest = key.strip_prefix(org.key.as_str())?.strip_prefix("/cas/sha256/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [a, b, hex] = parts.as_slice() else { return None };
    let digest: Digest = format!("sha256:{hex}").parse().ok()?;
    (a.len() == 2 && b.len() == 2 && hex.starts_with(a) && hex[2..].starts_with(b)).then_some(digest)
}

fn cas_key(org: &Org, digest: &Digest) -> String {
    let h = digest.hex();
    format!("{}/cas/sha256/{}/{}/{h}", org.key, &h[..2], &h[2..4])
}

fn etag_of(digest: &Digest) -> String {
    format!("\"{}\"", &digest.hex()[..32])
}

/// Every request under `/s3`: authenticate, then dispatch on method, bucket, key and query.
pub async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let head = method == Method::HEAD;
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v != "0");
    let mut r = match dispatch(&state, &method, &uri, &headers, body).await {
        Ok(r) => return r,
        Err(e) if head => {
            // A HEAD answer has no body; the code travels in a header for people debugging.
            let mut r = empty(e.status);
            if let Ok(v) = HeaderValue::from_str(e.code) {
                r.headers_mut().insert("x-amz-error-code", v);
            }
            r
        }
        Err(e) => e.into_response(),
    };
    // Refused before its body was read: a client that sends the body anyway (after
    // `Expect: 100-continue` went unanswered) would have it read as the start of its next
    // request on this connection, so the connection ends with this answer.
    if has_body {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

async fn dispatch(state: &AppState, method: &Method, uri: &Uri, headers: &HeaderMap, body: Body) -> S3Result<Response> {
    let path = uri.path().strip_prefix("/s3").unwrap_or("");
    let path = String::from_utf8(sigv4::percent_decode(path.trim_start_matches('/').as_bytes()))
        .map_err(|_| S3Error::new(StatusCode::BAD_REQUEST, "InvalidURI", "the path is not UTF-8"))?;
    let (bucket, key) = path.split_once('/').unwrap_or((path.as_str(), ""));
    let query = sigv4::query_pairs(uri.query().unwrap_or(""));
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let has = |k: &str| query.iter().any(|(n, _)| n == k);

    let authed = authenticate(state, method, uri, headers, bucket).await?;
    let org = &authed.org;

    if bucket.is_empty() {
        return match *method {
            Method::GET => Ok(list_buckets(org)),
            _ => Err(S3Error::not_implemented("this operation on the service")),
        };
    }
    if key.is_empty() {
        return match *method {
            Method::HEAD => Ok(empty(StatusCode::OK)),
            Method::GET if has("location") => Ok(xml(
                StatusCode::OK,
                format!("<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{REGION}</LocationConstraint>"),
            )),
            Method::GET if q("list-type") == Some("2") => list_objects_v2(state, org, &query).await,
            Method::GET if has("uploads") => Err(S3Error::not_implemented("ListMultipartUploads")),
            Method::GET => Err(S3Error::not_implemented("ListObjects (version 1); use ListObjectsV2")),
            _ => Err(S3Error::not_implemented("this bucket operation")),
        };
    }
    let digest = cas_digest(org, key);
    match *method {
        Method::HEAD => {
            let digest = digest.ok_or_else(|| S3Error::no_such_key(key))?;
            head_object(state, org, key, &digest, headers).await
        }
        Method::GET if has("uploadId") => Err(S3Error::not_implemented("ListParts")),
        // Reads go through the counted download route (docs/API.md).
        Method::GET => Err(S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "objects are not read through /s3; download dataset files with POST /api/v1/org/{org}/datasets/{name}/{version}/download",
        )),
        Method::PUT | Method::POST | Method::DELETE if digest.is_none() => Err(S3Error::denied(format!(
            "only content-addressed keys ({}/cas/sha256/<h[0:2]>/<h[2:4]>/<sha256 hex>) can be written",
            org.key
        ))),
        Method::PUT if headers.contains_key("x-amz-copy-source") => Err(S3Error::not_implemented("CopyObject")),
        Method::PUT if has("uploadId") || has("partNumber") => {
            let number: u32 = q("partNumber")
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| S3Error::invalid_argument("partNumber must be an integer from 1 to 10000"))?;
            let id = upload_of(state, org, key, q("uploadId")).await?;
            upload_part(state, &authed, headers, body, id, number, key).await
        }
        Method::PUT => put_object(state, &authed, headers, body, digest.expect("checked above"), key).await,
        Method::POST if has("uploads") => {
            let info = state
                .blobs
                .start_upload(&org.key, &format!("s3:{key}"))
                .await
                .map_err(|e| from_blob(e, key))?;
            Ok(xml(
                StatusCode::OK,
                format!(
                    "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId></InitiateMultipartUploadResult>",
                    esc(&org.key),
                    esc(key),
                    info.id.simple()
                ),
            ))
        }
        Method::POST if has("uploadId") => {
            let id = upload_of(state, org, key, q("uploadId")).await?;
            complete(state, &authed, headers, body, id, digest.expect("checked above"), key).await
        }
        Method::DELETE if has("uploadId") => {
            let id = upload_of(state, org, key, q("uploadId")).await?;
            state.blobs.discard(id).await.map_err(|e| from_blob(e, key))?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Method::DELETE => Err(S3Error::denied(
            "objects cannot be deleted through /s3; unreferenced blobs are removed by `granary admin gc`",
        )),
        _ => Err(S3Error::not_implemented("this object operation")),
    }
}

/// Verifies the signature, the session token, the expiry, the API key and the caller's
/// right to write to the bucket's org.
async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    bucket: &str,
) -> S3Result<Authed> {
    let now = Utc::now();
    let claim = sigv4::Claim::parse(headers, uri, now).map_err(|e| match e {
        sigv4::AuthError::Missing => S3Error::denied("anonymous access is not allowed; sign requests with the credentials from /api/v1/org/{org}/ws/default/storage/credentials"),
        sigv4::AuthError::Malformed(m) => S3Error::new(StatusCode::BAD_REQUEST, "AuthorizationHeaderMalformed", m),
        sigv4::AuthError::Skewed => S3Error::new(
            StatusCode::FORBIDDEN,
            "RequestTimeTooSkewed",
            "the difference between the request time and the server's time is more than 15 minutes; check the client's clock",
        ),
        sigv4::AuthError::PresignExpired => S3Error::denied("Request has expired"),
    })?;
    let invalid_key = || {
        S3Error::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "the access key id was not issued by this registry, or its API key was revoked; request new credentials",
        )
    };
    let ak = AccessKey::decode(&claim.access_key).ok_or_else(invalid_key)?;
    let secret_key = state.link_secret().await.map_err(from_api)?;
    let (secret, token) = derive(secret_key, &claim.access_key);
    if !claim.verify(method, uri, headers, &secret) {
        return Err(S3Error::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "the request signature does not match the one computed with the secret key of these credentials",
        ));
    }
    match &claim.security_token {
        Some(t) if constant_eq(t.as_bytes(), token.as_bytes()) => {}
        Some(_) => {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidToken",
                "the session token does not belong to these credentials",
            ))
        }
        None => return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidToken",
            "the request carries no session token (X-Amz-Security-Token); send the one issued with these credentials",
        )),
    }
    if now.timestamp() >= ak.expires {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "these credentials have expired; request new ones",
        ));
    }
    let (_key, user) = state.db.live_api_key(ak.key_id).await?.ok_or_else(invalid_key)?;
    let org = if bucket.is_empty() {
        None
    } else {
        state.db.org_by_key(bucket).await?
    };
    let org = match org {
        Some(o) if o.id == ak.org_id => o,
        Some(o) => {
            return Err(S3Error::denied(format!(
                "these credentials are for another organization, not {}",
                o.key
            )))
        }
        None if bucket.is_empty() => {
            // ListBuckets: the org the credentials name.
            let orgs = state.db.list_user_orgs(user.id).await?;
            orgs.into_iter()
                .map(|(o, _)| o)
                .find(|o| o.id == ak.org_id)
                .ok_or_else(|| S3Error::denied("these credentials' organization is not one of yours any more"))?
        }
        None => {
            return Err(S3Error::new(
                StatusCode::NOT_FOUND,
                "NoSuchBucket",
                format!("no bucket {bucket:?}; the bucket is the organization's key"),
            ))
        }
    };
    match state.db.role_of(org.id, user.id).await? {
        Some(r) if r.can_write() => {}
        r => {
            return Err(S3Error::denied(format!(
                "your role in organization {} is {}; pushing needs contributor or owner",
                org.key,
                r.map_or("none", Role::as_str)
            )))
        }
    }
    Ok(Authed { org, claim, secret })
}

/// The body as sent, decoded from `aws-chunked` when the payload hash says so. Also
/// returns the signed payload hash when it is a hex digest (checked against the bytes).
fn body_stream(authed: &Authed, headers: &HeaderMap, body: Body) -> S3Result<(BodyStream, Option<Digest>)> {
    let hash = authed.claim.payload_hash.as_str();
    let raw = body.into_data_stream().map_err(|e| e.to_string());
    let decoded_len = headers
        .get("x-amz-decoded-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match hash {
        "UNSIGNED-PAYLOAD" => Ok((raw.boxed(), None)),
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Ok((chunked::decode(raw, None, decoded_len).boxed(), None)),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" | "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => {
            let signer = chunked::ChunkSigner {
                key: authed.claim.signing_key(&authed.secret),
                amz_date: authed.claim.amz_date.clone(),
                scope: authed.claim.scope.clone(),
                previous: authed.claim.signature.clone(),
            };
            Ok((chunked::decode(raw, Some(signer), decoded_len).boxed(), None))
        }
        h if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            let d: Digest = format!("sha256:{}", h.to_ascii_lowercase())
                .parse()
                .map_err(|_| S3Error::invalid_argument("x-amz-content-sha256 is not a SHA-256"))?;
            Ok((raw.boxed(), Some(d)))
        }
        other => Err(S3Error::invalid_argument(format!(
            "unsupported x-amz-content-sha256 {other:?}: send the payload's SHA-256, UNSIGNED-PAYLOAD or an aws-chunked STREAMING-* value"
        ))),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    h("x-amz-decoded-content-length").or_else(|| h("content-length"))
}

fn check_size(headers: &HeaderMap) -> S3Result<()> {
    if declared_length(headers).is_some_and(|n| n > MAX_OBJECT_PUT) {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "a single upload is at most 5 GiB; use a multipart upload",
        ));
    }
    Ok(())
}

async fn put_object(
    state: &AppState,
    authed: &Authed,
    headers: &HeaderMap,
    body: Body,
    digest: Digest,
    key: &str,
) -> S3Result<Response> {
    check_size(headers)?;
    let (stream, payload) = body_stream(authed, headers, body)?;
    if let Some(p) = payload {
        if p != digest {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                format!("the signed payload hash {p} is not the digest the key names ({digest}); nothing was stored"),
            ));
        }
    }
    state
        .blobs
        .put(&authed.org.key, &digest, stream)
        .await
        .map_err(|e| from_blob(e, key))?;
    state.metrics.uploads.inc();
    let mut r = empty(StatusCode::OK);
    r.headers_mut()
        .insert(header::ETAG, HeaderValue::from_str(&etag_of(&digest)).expect("hex"));
    Ok(r)
}

/// The upload id of a multipart request, checked to belong to this org and key.
async fn upload_of(state: &AppState, org: &Org, key: &str, id: Option<&str>) -> S3Result<Uuid> {
    let id = id
        .and_then(|i| Uuid::parse_str(i).ok())
        .ok_or_else(S3Error::no_such_upload)?;
    let info = state.blobs.upload_info(id).await.map_err(|e| from_blob(e, key))?;
    if info.org != org.key || info.repo != format!("s3:{key}") {
        return Err(S3Error::no_such_upload());
    }
    Ok(id)
}

async fn upload_part(
    state: &AppState,
    authed: &Authed,
    headers: &HeaderMap,
    body: Body,
    id: Uuid,
    number: u32,
    key: &str,
) -> S3Result<Response> {
    check_size(headers)?;
    let (stream, payload) = body_stream(authed, headers, body)?;
    let (etag, _size) = state
        .blobs
        .put_numbered_part(id, number, declared_length(headers), payload.as_ref(), stream)
        .await
        .map_err(|e| match e {
            BlobError::DigestMismatch { .. } => S3Error::new(
                StatusCode::BAD_REQUEST,
                "XAmzContentSHA256Mismatch",
                "the part's bytes do not hash to its signed x-amz-content-sha256; nothing was stored",
            ),
            e => from_blob(e, key),
        })?;
    let mut r = empty(StatusCode::OK);
    r.headers_mut().insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{etag}\"")).expect("hex"),
    );
    Ok(r)
}

/// The (PartNumber, ETag) pairs of a `CompleteMultipartUpload` body, in document order.
fn parse_complete(xml: &str) -> S3Result<Vec<(u32, String)>> {
    let malformed = || {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "the CompleteMultipartUpload body is not the XML S3 expects",
        )
    };
    let text = |block: &str, tag: &str| -> Option<String> {
        let open = format!("<{tag}>");
        let start = block.find(&open)? + open.len();
        let end = block[start..].find(&format!("</{tag}>"))? + start;
        Some(
            block[start..end]
                .trim()
                .replace("&quot;", "\"")
                .replace("&#34;", "\"")
                .replace("&amp;", "&"),
        )
    };
    let mut parts = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Part>") {
        let end = rest[start..].find("</Part>").ok_or_else(malformed)? + start;
        let block = &rest[start + 6..end];
        let number = text(block, "PartNumber")
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(malformed)?;
        let etag = text(block, "ETag").ok_or_else(malformed)?;
        parts.push((number, etag));
        rest = &rest[end + 7..];
    }
    if !xml.contains("CompleteMultipartUpload") {
        return Err(malformed());
    }
    Ok(parts)
}

async fn complete(
    state: &AppState,
    authed: &Authed,
    headers: &HeaderMap,
    body: Body,
    id: Uuid,
    digest: Digest,
    key: &str,
) -> S3Result<Response> {
    let (stream, payload) = body_stream(authed, headers, body)?;
    let mut buf = Vec::new();
    let mut stream = stream;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|m| S3Error::new(StatusCode::BAD_REQUEST, "IncompleteBody", m))?;
        if buf.len() + chunk.len() > MAX_COMPLETE_BODY {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "MalformedXML",
                "the CompleteMultipartUpload body is too large",
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    if let Some(p) = payload {
        if Digest::of(&buf) != p {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "XAmzContentSHA256Mismatch",
                "the request body does not hash to its signed x-amz-content-sha256",
            ));
        }
    }
    let text = String::from_utf8(buf)
        .map_err(|_| S3Error::new(StatusCode::BAD_REQUEST, "MalformedXML", "the body is not UTF-8"))?;
    let parts = parse_complete(&text)?;
    state
        .blobs
        .complete_numbered(id, &parts, &digest, MIN_PART)
        .await
        .map_err(|e| from_blob(e, key))?;
    state.metrics.uploads.inc();
    let location = format!(
        "{}/s3/{}/{}",
        crate::routes::base_url(state, headers),
        authed.org.key,
        key
    );
    Ok(xml(
        StatusCode::OK,
        format!(
            "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
            esc(&location),
            esc(&authed.org.key),
            esc(key),
            esc(&etag_of(&digest))
        ),
    ))
}

/// `HeadObject`: size, ETag and content type of an org blob; `Range: bytes=a-b` answers 206
/// with the range's length and `Content-Range`.
async fn head_object(
    state: &AppState,
    org: &Org,
    key: &str,
    digest: &Digest,
    headers: &HeaderMap,
) -> S3Result<Response> {
    let size = state
        .blobs
        .stat(&org.key, digest)
        .await
        .map_err(|e| from_blob(e, key))?
        .ok_or_else(|| S3Error::no_such_key(key))?;
    let mut status = StatusCode::OK;
    let mut length = size;
    let mut content_range = None;
    if let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        let (start, end) = parse_range(range, size).ok_or_else(|| {
            S3Error::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "the requested range is not satisfiable",
            )
        })?;
        status = StatusCode::PARTIAL_CONTENT;
        length = end - start + 1;
        content_range = Some(format!("bytes {start}-{end}/{size}"));
    }
    let mut r = empty(status);
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::ETAG, HeaderValue::from_str(&etag_of(digest)).expect("hex"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(cr) = content_range {
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&cr).expect("ascii"));
    }
    Ok(r)
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` against `size` → inclusive (start, end).
fn parse_range(spec: &str, size: u64) -> Option<(u64, u64)> {
    let r = spec.trim().strip_prefix("bytes=")?;
    if r.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = r.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().ok()?, size - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(size - 1)),
    };
    (start <= end && start < size).then_some((start, end))
}

fn list_buckets(org: &Org) -> Response {
    xml(
        StatusCode::OK,
        format!(
            "<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>{}</ID><DisplayName>{}</DisplayName></Owner><Buckets><Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>",
            org.id.simple(),
            esc(&org.key),
            esc(&org.key),
            org.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ),
    )
}

/// `ListObjectsV2` over the org's blobs as CAS keys: `prefix`, `delimiter`, `start-after`,
/// `continuation-token` (the last key returned) and `max-keys` (at most 1,000).
async fn list_objects_v2(state: &AppState, org: &Org, query: &[(String, String)]) -> S3Result<Response> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let prefix = q("prefix").unwrap_or("");
    let delimiter = q("delimiter").filter(|d| !d.is_empty());
    let max_keys: usize = match q("max-keys") {
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| S3Error::invalid_argument("max-keys must be a non-negative integer"))?
            .min(1000),
        None => 1000,
    };
    let after = q("continuation-token").or(q("start-after")).unwrap_or("");
    // The blob listing can be narrowed by the hex digits the prefix fixes.
    let root = format!("{}/cas/sha256/", org.key);
    let hex_prefix: String = if let Some(rest) = prefix.strip_prefix(&root) {
        let segs: Vec<&str> = rest.split('/').collect();
        match segs.as_slice() {
            [a, ..] if a.len() < 2 => a.to_string(),
            [a, b, ..] if b.len() < 2 => format!("{a}{b}"),
            [a, b, h, ..] if h.starts_with(*a) => h.to_string(),
            [a, ..] => a.to_string(),
            _ => String::new(),
        }
    } else {
        String::new()
    };
    let hex_prefix: String = hex_prefix.chars().filter(char::is_ascii_hexdigit).collect();
    let under_root = prefix.is_empty() || root.starts_with(prefix) || prefix.starts_with(&root);
    let blobs = if under_root {
        state
            .blobs
            .list_org_blobs(&org.key, &hex_prefix)
            .await
            .map_err(|e| from_blob(e, prefix))?
    } else {
        Vec::new()
    };
    let mut contents = Vec::new();
    let mut common: Vec<String> = Vec::new();
    let mut truncated = false;
    let mut last = String::new();
    for (digest, size) in &blobs {
        let key = cas_key(org, digest);
        if !key.starts_with(prefix) || key.as_str() <= after {
            continue;
        }
        let entry = match delimiter.and_then(|d| key[prefix.len()..].find(d).map(|i| (i, d))) {
            Some((i, d)) => {
                let cp = key[..prefix.len() + i + d.len()].to_string();
                if common.last() == Some(&cp) || cp.as_str() <= after {
                    continue;
                }
                Err(cp)
            }
            None => Ok((key.clone(), *size, digest)),
        };
        if contents.len() + common.len() >= max_keys {
            // With max-keys=0 nothing is returned and there is no key to continue from:
            // answer not truncated rather than hand out an empty token to loop on.
            truncated = max_keys > 0;
            break;
        }
        match entry {
            Ok(c) => {
                last = c.0.clone();
                contents.push(c);
            }
            Err(cp) => {
                last = cp.clone();
                common.push(cp);
            }
        }
    }
    let mut out = String::from("<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    out.push_str(&format!(
        "<Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        esc(&org.key),
        esc(prefix),
        contents.len() + common.len()
    ));
    if let Some(d) = delimiter {
        out.push_str(&format!("<Delimiter>{}</Delimiter>", esc(d)));
    }
    if let Some(t) = q("continuation-token") {
        out.push_str(&format!("<ContinuationToken>{}</ContinuationToken>", esc(t)));
    }
    if let Some(s) = q("start-after") {
        out.push_str(&format!("<StartAfter>{}</StartAfter>", esc(s)));
    }
    if truncated {
        out.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            esc(&last)
        ));
    }
    for (key, size, digest) in &contents {
        out.push_str(&format!(
            "<Contents><Key>{}</Key><Size>{size}</Size><ETag>{}</ETag><StorageClass>STANDARD</StorageClass></Contents>",
            esc(key),
            esc(&etag_of(digest))
        ));
    }
    for cp in &common {
        out.push_str(&format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            esc(cp)
        ));
    }
    out.push_str("</ListBucketResult>");
    Ok(xml(StatusCode::OK, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_round_trip() {
        let a = AccessKey {
            key_id: Uuid::new_v4(),
            org_id: Uuid::new_v4(),
            expires: 1_800_000_000,
        };
        let s = a.encode();
        assert_eq!(s.len(), 84);
        let b = AccessKey::decode(&s).unwrap();
        assert_eq!((b.key_id, b.org_id, b.expires), (a.key_id, a.org_id, a.expires));
        assert!(AccessKey::decode("AKIAIOSFODNN7EXAMPLE").is_none());
    }

    #[test]
    fn complete_body() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>&quot;ab&quot;</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ETag>"cd"</ETag></Part></CompleteMultipartUpload>"#;
        assert_eq!(
            parse_complete(body).unwrap(),
            vec![(1, "\"ab\"".to_string()), (2, "\"cd\"".to_string())]
        );
        assert_eq!(parse_complete("<x/>").unwrap_err().code, "MalformedXML");
    }

    #[test]
    fn xml_text_is_always_well_formed() {
        assert_eq!(esc("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(esc("x\u{1}\u{0}y\tz"), "x\u{FFFD}\u{FFFD}y\tz");
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=0-500", 100), Some((0, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-2", 100), None);
    }
}
