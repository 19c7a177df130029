//! Counted downloads (spec §3.6): a `POST` records one event and hands out signed, expiring
//! links; the links are served without credentials.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use granary_core::{Digest, Version};
use granary_db::{NewDownload, VersionRecord};
use serde::{Deserialize, Serialize};

use super::datasets::local_name;
use super::oci::base_url;
use crate::access::OrgAccess;
use crate::auth::Caller;
use crate::blobs::{content_disposition, serve_blob};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::links::{file_segment, path_segment, sign, verify};
use crate::openapi::ErrorEnvelope;
use crate::preview::split_files;
use crate::wire::iso;
use crate::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DownloadBody {
    format: Option<String>,
    split: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FileLink {
    pub path: String,
    pub split: Option<String>,
    pub digest: String,
    pub size: u64,
    pub url: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DownloadOut {
    pub status: &'static str,
    pub url: String,
    pub expires_at: String,
    pub files: Vec<FileLink>,
}

#[utoipa::path(post, path = "/api/v1/org/{org}/datasets/{name}/{version}/download", tag = "downloads", params(("org" = String, Path, description = "Organization key"), ("name" = String, Path, description = "Dataset name (or `org/name`, URL-encoded)"), ("version" = String, Path, description = "Version, MAJOR.MINOR.PATCH")), request_body = DownloadBody, responses((status = 200, description = "One download event recorded; signed links to every file", body = DownloadOut), (status = 401, description = "No or invalid API key", body = ErrorEnvelope), (status = 404, description = "No such organization or dataset, or a private dataset of another organization", body = ErrorEnvelope), (status = 422, description = "Invalid parameters; `errors` says which", body = ErrorEnvelope)))]
pub async fn download(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((org, name, version)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<DownloadBody>,
) -> ApiResult<Json<DownloadOut>> {
    let version: Version = version.parse().map_err(|e: granary_core::VersionError| {
        ApiError::invalid_field(&["path", "version"], e.to_string(), "invalid_version")
    })?;
    let format = body.format.as_deref().unwrap_or("raw");
    if format != "raw" {
        return Err(ApiError::invalid_field(
            &["body", "format"],
            format!("{format:?} is not supported; use \"raw\""),
            "enum",
        ));
    }
    let access = s.org_access(&caller, &org).await?;
    let name = local_name(&org, &name)?;
    let rec = s.visible_version(&access, name, Some(version)).await?;
    grant(&s, &caller, &headers, &access, &rec, body.split).await.map(Json)
}

/// Records one download event of `rec` by `caller` and hands out signed links to its
/// files. `split` names the split asked for (its first file is the primary link); none
/// means the whole version (primary: the train split's file, else the first file).
pub(crate) async fn grant(
    s: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    access: &OrgAccess,
    rec: &VersionRecord,
    split: Option<String>,
) -> ApiResult<DownloadOut> {
    let org = &access.org.key;
    let version = rec.version;
    let primary = match &split {
        Some(_) => split_files(rec, split.as_deref())
            .map_err(|m| ApiError::invalid_field(&["body", "split"], m, "not_found"))?[0],
        None => rec
            .files
            .iter()
            .find(|f| f.split.as_deref() == Some("train"))
            .or(rec.files.first())
            .ok_or_else(|| ApiError::internal("a published version has no files"))?,
    };
    // The downloader's org: the dataset's org if they belong to it, else their first org.
    let user_org = if access.is_member() {
        Some(access.org.key.clone())
    } else {
        s.db.list_user_orgs(caller.user.id)
            .await?
            .first()
            .map(|(o, _)| o.key.clone())
    };
    // Record first: a link is only handed out once its download is counted.
    s.db.record_download(NewDownload {
        org_id: access.org.id,
        version_id: rec.id,
        dataset_name: rec.full_name.clone(),
        version,
        // The split asked for; none when the whole version was requested.
        split: split.clone(),
        user_id: caller.user.id,
        username: caller.user.username.clone(),
        user_org,
    })
    .await?;
    s.metrics.downloads.inc();

    let secret = s.link_secret().await?;
    let expires = Utc::now() + chrono::Duration::from_std(s.config.link_ttl).unwrap_or(chrono::Duration::hours(1));
    let exp = expires.timestamp();
    let base = base_url(s, headers);
    let link = |digest: &Digest, path: &str| {
        let file = file_segment(path);
        let sig = sign(secret, org, &digest.to_string(), &file, exp);
        let segment = path_segment(&file);
        format!("{base}/files/{org}/{digest}/{segment}?expires={exp}&sig={sig}")
    };
    Ok(DownloadOut {
        status: "ready",
        url: link(&primary.digest, &primary.path),
        expires_at: iso(expires),
        files: rec
            .files
            .iter()
            .map(|f| FileLink {
                path: f.path.clone(),
                split: f.split.clone(),
                digest: f.digest.to_string(),
                size: f.size,
                url: link(&f.digest, &f.path),
            })
            .collect(),
    })
}

/// Kept as text: a link whose values do not parse was tampered with, which is 403, not 400.
#[derive(Deserialize)]
pub struct LinkParams {
    expires: Option<String>,
    sig: Option<String>,
}

#[utoipa::path(get, path = "/files/{org}/{digest}/{file}", tag = "downloads", security(()), params(("org" = String, Path), ("digest" = String, Path), ("file" = String, Path), ("expires" = i64, Query), ("sig" = String, Query)), responses((status = 200, description = "The file, named by RFC 6266 `Content-Disposition`; conditional and range requests by RFC 9110", content_type = "application/octet-stream"), (status = 206, description = "A byte range, or several as `multipart/byteranges`"), (status = 304, description = "Not modified (`If-None-Match`, `If-Modified-Since`)"), (status = 307, description = "Redirect to a presigned object-store URL (redirect download mode)"), (status = 403, description = "Invalid or expired link", body = ErrorEnvelope), (status = 412, description = "Precondition failed (`If-Match`, `If-Unmodified-Since`)", body = ErrorEnvelope), (status = 416, body = ErrorEnvelope)))]
/// `GET /files/{org}/{digest}/{file}?expires=…&sig=…`: no credentials; the signature is the
/// permission. Served with `Content-Length`, a strong `ETag` and `Range`.
pub async fn signed_file(
    State(s): State<AppState>,
    method: Method,
    Path((org, digest, file)): Path<(String, String, String)>,
    query: Result<Query<LinkParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let denied = || ApiError::forbidden("this download link is invalid or has expired; request a new one");
    // A query that does not even parse was tampered with, like a wrong signature.
    let Ok(Query(p)) = query else { return Err(denied()) };
    let (Some(expires), Some(sig)) = (p.expires.and_then(|e| e.parse::<i64>().ok()), p.sig) else {
        return Err(denied());
    };
    let secret = s.link_secret().await?;
    verify(secret, &org, &digest, &file, expires, &sig, Utc::now().timestamp())?;
    let digest: Digest = digest.parse().map_err(|_| denied())?;
    if s.config.download_redirect {
        // The presigned URL lives no longer than the link that led to it.
        let left = std::time::Duration::from_secs((expires - Utc::now().timestamp()).clamp(1, 3600) as u64);
        if let Some(url) = s.blobs.presigned_get(&org, &digest, left).await? {
            let mut resp = axum::http::StatusCode::TEMPORARY_REDIRECT.into_response();
            resp.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&url).map_err(ApiError::internal)?,
            );
            return Ok(resp);
        }
    }
    let mut resp = serve_blob(&s, &org, &digest, &headers, &method).await?;
    resp.headers_mut()
        .insert(header::CONTENT_DISPOSITION, content_disposition(&file));
    Ok(resp)
}
