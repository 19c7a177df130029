//! OCI distribution routes: blobs, upload sessions, manifests, tags. Served twice, under
//! `/api/v1/` (what the official client calls) and `/v2/` (generic OCI tools); only error
//! bodies and link roots differ between the two.

use axum::body::Body;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use granary_blob::UploadInfo;
use granary_core::manifest::MEDIA_OCI_MANIFEST;
use granary_core::{validate_dataset_name, Digest, Version};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::access::{not_found, OrgAccess};
use crate::auth::Caller;
use crate::blobs::{content_disposition, serve_blob};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::publish::publish;
use crate::AppState;

/// `/v2` or `/api/v1`: where the request came in, so links point back the same way.
fn root(uri: &OriginalUri) -> &'static str {
    if uri.path().starts_with("/v2") {
        "/v2"
    } else {
        "/api/v1"
    }
}

/// The base of absolute links: the configured public URL, else the request's own origin.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.config.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{proto}://{host}")
}

pub(crate) fn parse_digest(s: &str) -> ApiResult<Digest> {
    s.parse()
        .map_err(|e: granary_core::DigestError| ApiError::bad_request(e.to_string()).oci("DIGEST_INVALID"))
}

pub(crate) fn check_name(name: &str) -> ApiResult<()> {
    validate_dataset_name(name)
        .map_err(|e| ApiError::invalid_field(&["path", "name"], e.to_string(), "invalid_name").oci("NAME_INVALID"))
}

pub async fn base(_caller: Caller) -> Json<Value> {
    Json(json!({}))
}

/// Members read their org's blobs; others only blobs a public dataset of the org uses.
async fn readable_blob(state: &AppState, caller: &Caller, org: &str, digest: &str) -> ApiResult<Digest> {
    let access = state.org_access(caller, org).await?;
    let digest = parse_digest(digest)?;
    if !access.is_member() && !state.db.blob_is_public(access.org.id, &digest).await? {
        return Err(ApiError::not_found(format!("blob {digest} not found")).oci("BLOB_UNKNOWN"));
    }
    Ok(digest)
}

/// The query of a blob `GET`: `?filename=NAME` names the download (`Content-Disposition:
/// attachment`, RFC 6266), as S3's `response-content-disposition` does; a blob is otherwise
/// served without a name, since the same bytes may be several files.
#[derive(Deserialize, Default)]
pub struct BlobParams {
    filename: Option<String>,
}

/// Serves a readable blob, named when the query asks.
async fn blob_response(
    s: &AppState,
    caller: &Caller,
    org: &str,
    digest: &str,
    params: BlobParams,
    headers: &HeaderMap,
    method: &Method,
) -> ApiResult<Response> {
    let d = readable_blob(s, caller, org, digest).await?;
    let mut resp = serve_blob(s, org, &d, headers, method).await?;
    if let Some(name) = params.filename.filter(|n| !n.is_empty()) {
        resp.headers_mut()
            .insert(header::CONTENT_DISPOSITION, content_disposition(&name));
    }
    Ok(resp)
}

/// `GET`/`HEAD /api/v1/{org}/blobs/{digest}` (HEAD sends headers only).
pub async fn org_blob(
    State(s): State<AppState>,
    caller: Caller,
    method: Method,
    Path((org, digest)): Path<(String, String)>,
    params: Result<Query<BlobParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let params = params.map(|q| q.0).unwrap_or_default();
    blob_response(&s, &caller, &org, &digest, params, &headers, &method).await
}

/// `GET`/`HEAD …/{org}/{name}/blobs/{digest}`: the org's blob; the name is only checked.
pub async fn repo_blob(
    State(s): State<AppState>,
    caller: Caller,
    method: Method,
    uri: OriginalUri,
    Path((org, name, digest)): Path<(String, String, String)>,
    params: Result<Query<BlobParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_name(&name)?;
    let params = params.map(|q| q.0).unwrap_or_default();
    if root(&uri) == "/v2" && inverted_range(&headers) {
        let d = readable_blob(&s, &caller, &org, &digest).await?;
        let size = s
            .blobs
            .stat(&org, &d)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("blob {d} not found")).oci("BLOB_UNKNOWN"))?;
        let mut e = ApiError::new(
            crate::ErrorKind::RangeNotSatisfiable,
            "the Range ends before it starts: ask for bytes=<first>-<last> with last >= first",
        )
        .oci("BLOB_UPLOAD_INVALID");
        e.range_size = Some(size);
        return Err(e);
    }
    blob_response(&s, &caller, &org, &digest, params, &headers, &method).await
}

/// Whether `Range` is one `bytes=A-B` with `B < A`. RFC 9110 would ignore such a header and
/// send the whole blob; the distribution-spec conformance suite asks a registry for 416
/// ("range 500-0"), so `/v2/` blob routes answer that.
fn inverted_range(headers: &HeaderMap) -> bool {
    let Some(spec) = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return false;
    };
    match spec.trim().split_once('-') {
        Some((a, b)) if !spec.contains(',') => match (a.trim().parse::<u64>(), b.trim().parse::<u64>()) {
            (Ok(a), Ok(b)) => b < a,
            _ => false,
        },
        _ => false,
    }
}

#[derive(Deserialize)]
pub struct DigestQuery {
    digest: Option<String>,
    /// Cross-repository mount (`?mount=<digest>&from=<repo>`): blobs belong to the org, so
    /// a blob the org holds is mounted whatever `from` names.
    mount: Option<String>,
}

fn upload_response(status: StatusCode, location: &str, id: Uuid, offset: u64) -> Response {
    let range = if offset == 0 {
        "0-0".to_string()
    } else {
        format!("0-{}", offset - 1)
    };
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(location).expect("ascii location"),
    );
    h.insert("Range", HeaderValue::from_str(&range).expect("ascii"));
    h.insert(
        "Docker-Upload-UUID",
        HeaderValue::from_str(&id.to_string()).expect("ascii"),
    );
    h.insert("Upload-Offset", HeaderValue::from(offset));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    resp
}

fn upload_location(
    state: &AppState,
    headers: &HeaderMap,
    uri: &OriginalUri,
    org: &str,
    name: &str,
    id: Uuid,
) -> String {
    format!(
        "{}{}/{org}/{name}/blobs/uploads/{id}",
        base_url(state, headers),
        root(uri)
    )
}

fn committed_response(uri: &OriginalUri, org: &str, name: &str, digest: &Digest) -> Response {
    let location = match root(uri) {
        "/v2" => format!("/v2/{org}/{name}/blobs/{digest}"),
        _ => format!("/api/v1/{org}/blobs/{digest}"),
    };
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(&location).expect("ascii"));
    h.insert(
        "Docker-Content-Digest",
        HeaderValue::from_str(&digest.to_string()).expect("ascii"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    resp
}

pub(crate) async fn writable(state: &AppState, caller: &Caller, org: &str, name: &str) -> ApiResult<OrgAccess> {
    let access = state.org_access(caller, org).await?;
    check_name(name)?;
    access.require_write()?;
    Ok(access)
}

/// `POST …/blobs/uploads/`: opens a session; with `?digest=` the body is the whole blob.
pub async fn start_upload(
    State(s): State<AppState>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<DigestQuery>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    writable(&s, &caller, &org, &name).await?;
    let digest = q.digest.as_deref().map(parse_digest).transpose()?;
    // A mount the org can serve is done at once (201); otherwise an upload session opens
    // (202), as distribution-spec "Mounting a blob from another repository" allows.
    if let Some(mount) = q.mount.as_deref().map(parse_digest).transpose()? {
        if s.blobs.stat(&org, &mount).await?.is_some() {
            return Ok(committed_response(&uri, &org, &name, &mount));
        }
    }
    let info = s.blobs.start_upload(&org, &name).await?;
    if let Some(digest) = digest {
        s.blobs.append(info.id, Some(0), body.into_data_stream()).await?;
        s.blobs.finish(info.id, &digest).await?;
        return Ok(committed_response(&uri, &org, &name, &digest));
    }
    let location = upload_location(&s, &headers, &uri, &org, &name, info.id);
    Ok(upload_response(StatusCode::ACCEPTED, &location, info.id, 0))
}

/// The session named in the path, which must belong to this org and dataset. Reads only the
/// session's record, not its bytes.
async fn session(s: &AppState, org: &str, name: &str, id: &str) -> ApiResult<UploadInfo> {
    let unknown = || {
        ApiError::not_found("upload session not found; start a new one with POST …/blobs/uploads/")
            .oci("BLOB_UPLOAD_UNKNOWN")
    };
    let id = Uuid::parse_str(id).map_err(|_| unknown())?;
    let info = s.blobs.upload_info(id).await.map_err(|e| match e {
        granary_blob::BlobError::UploadNotFound => unknown(),
        e => e.into(),
    })?;
    if info.org != org || info.repo != name {
        return Err(unknown());
    }
    Ok(info)
}

pub async fn upload_status(
    State(s): State<AppState>,
    caller: Caller,
    Path((org, name, id)): Path<(String, String, String)>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    writable(&s, &caller, &org, &name).await?;
    let info = session(&s, &org, &name, &id).await?;
    let (_, offset) = s.blobs.upload_status(info.id).await?;
    let location = upload_location(&s, &headers, &uri, &org, &name, info.id);
    Ok(upload_response(StatusCode::NO_CONTENT, &location, info.id, offset))
}

/// The start offset of a `Content-Range` (`0-99`, or `bytes 0-99/*`).
fn content_range_start(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(v) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("").trim();
    let s = s.strip_prefix("bytes").map(str::trim_start).unwrap_or(s);
    let start = s.split(['-', '/']).next().unwrap_or("").trim();
    start.parse().map(Some).map_err(|_| {
        ApiError::bad_request(format!("invalid Content-Range {s:?}: expected <start>-<end>")).oci("BLOB_UPLOAD_INVALID")
    })
}

pub async fn patch_upload(
    State(s): State<AppState>,
    caller: Caller,
    Path((org, name, id)): Path<(String, String, String)>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    writable(&s, &caller, &org, &name).await?;
    let info = session(&s, &org, &name, &id).await?;
    let start = content_range_start(&headers)?;
    let (_, offset) = s.blobs.append(info.id, start, body.into_data_stream()).await?;
    let location = upload_location(&s, &headers, &uri, &org, &name, info.id);
    Ok(upload_response(StatusCode::ACCEPTED, &location, info.id, offset))
}

pub async fn finish_upload(
    State(s): State<AppState>,
    caller: Caller,
    Path((org, name, id)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<DigestQuery>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    writable(&s, &caller, &org, &name).await?;
    let digest = parse_digest(q.digest.as_deref().ok_or_else(|| {
        ApiError::bad_request("finishing an upload needs ?digest=sha256:<hex>").oci("DIGEST_INVALID")
    })?)?;
    let info = session(&s, &org, &name, &id).await?;
    let start = content_range_start(&headers)?;
    s.blobs.append(info.id, start, body.into_data_stream()).await?;
    s.blobs.finish(info.id, &digest).await?;
    s.metrics.uploads.inc();
    Ok(committed_response(&uri, &org, &name, &digest))
}

pub async fn cancel_upload(
    State(s): State<AppState>,
    caller: Caller,
    Path((org, name, id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    writable(&s, &caller, &org, &name).await?;
    let info = session(&s, &org, &name, &id).await?;
    s.blobs.discard(info.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn put_manifest(
    State(s): State<AppState>,
    caller: Caller,
    Path((org, name, reference)): Path<(String, String, String)>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if root(&uri) == "/v2" {
        let q: super::registry::PutQuery = serde_html_form::from_str(uri.query().unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))?;
        return super::registry::put_manifest(&s, &caller, &org, &name, &reference, &q.tag, &headers, body).await;
    }
    let access = writable(&s, &caller, &org, &name).await?;
    let version: Version = reference.parse().map_err(|e: granary_core::VersionError| {
        ApiError::invalid_field(
            &["path", "reference"],
            format!("{e}; publish under a version, not a tag"),
            "invalid_version",
        )
        .oci("TAG_INVALID")
    })?;
    let limit = s.config.max_manifest_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            crate::ErrorKind::PayloadTooLarge,
            format!("manifest is larger than {limit} bytes"),
        )
        .oci("SIZE_INVALID")
    })?;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let published = publish(&s, &access, caller.user.id, &name, version, ct, bytes, None).await?;
    if published.created {
        tracing::info!(dataset = %format!("{org}/{name}@{version}"), digest = %published.digest, "published");
    }
    let location = format!("{}/{org}/{name}/manifests/{}", root(&uri), published.digest);
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(&location).expect("ascii"));
    h.insert(
        "Docker-Content-Digest",
        HeaderValue::from_str(&published.digest.to_string()).expect("ascii"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    Ok(resp)
}

async fn manifest_response(
    s: &AppState,
    caller: &Caller,
    org: &str,
    name: &str,
    reference: &str,
    head: bool,
) -> ApiResult<Response> {
    check_name(name)?;
    let access = s.org_access(caller, org).await?;
    let rec = if let Some(hex) = reference.strip_prefix("sha256:") {
        let d = parse_digest(&format!("sha256:{hex}"))?;
        s.db.version_by_digest(access.org.id, name, &d)
            .await?
            .filter(|r| r.is_public || access.is_member())
    } else if reference == "latest" {
        s.db.version(access.org.id, name, None)
            .await?
            .filter(|r| r.is_public || access.is_member())
    } else {
        let v: Version = reference.parse().map_err(|e: granary_core::VersionError| {
            ApiError::invalid_field(&["path", "reference"], e.to_string(), "invalid_version").oci("TAG_INVALID")
        })?;
        Some(s.visible_version(&access, name, Some(v)).await?)
    };
    let rec = rec.ok_or_else(|| not_found(org, name, None).oci("MANIFEST_UNKNOWN"))?;
    manifest_bytes(MEDIA_OCI_MANIFEST, &rec.manifest_digest, rec.manifest, head)
}

/// A manifest's bytes (none for `HEAD`) with its media type, length, digest and ETag.
pub(crate) fn manifest_bytes(media_type: &str, digest: &Digest, body: String, head: bool) -> ApiResult<Response> {
    let len = body.len();
    let body = if head { Body::empty() } else { Body::from(body) };
    Response::builder()
        .header(header::CONTENT_TYPE, media_type)
        .header(header::CONTENT_LENGTH, len)
        .header(header::ETAG, format!("\"{digest}\""))
        .header("Docker-Content-Digest", digest.to_string())
        .body(body)
        .map_err(ApiError::internal)
}

/// `GET`/`HEAD …/manifests/{ref}`: under `/api/v1`, a dataset manifest by version, `latest`,
/// or digest; under `/v2`, any stored manifest (see [`super::registry::get_manifest`]).
pub async fn manifest(
    State(s): State<AppState>,
    caller: Caller,
    method: Method,
    uri: OriginalUri,
    Path((org, name, reference)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    if root(&uri) == "/v2" {
        return super::registry::get_manifest(&s, &caller, &org, &name, &reference, method == Method::HEAD).await;
    }
    manifest_response(&s, &caller, &org, &name, &reference, method == Method::HEAD).await
}

pub async fn tags(
    State(s): State<AppState>,
    caller: Caller,
    uri: OriginalUri,
    Path((org, name)): Path<(String, String)>,
    q: Result<Query<super::registry::TagsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    if root(&uri) == "/v2" {
        let q = q.map_err(|e| ApiError::bad_request(e.body_text()))?.0;
        return super::registry::tags(&s, &caller, &org, &name, q).await;
    }
    check_name(&name)?;
    let access = s.org_access(&caller, &org).await?;
    s.require_visible_dataset(&access, &name).await?;
    let versions: Vec<String> =
        s.db.list_versions(access.org.id, &name)
            .await?
            .iter()
            .map(|v| v.to_string())
            .collect();
    Ok(Json(json!({"name": format!("{org}/{name}"), "tags": versions})).into_response())
}
