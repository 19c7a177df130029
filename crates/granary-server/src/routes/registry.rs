//! The parts of `/v2/` that make granary a general OCI registry (distribution-spec 1.1):
//! manifests and indexes of any kind by tag or digest, tag listing with paging, deletes,
//! and the referrers API. Dataset manifests and ORAS-style pushes of data files become
//! dataset versions (see [`crate::oci_content`]); everything else is stored as generic
//! content of the repository, visible to the org's members only.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use granary_core::manifest::{MEDIA_DATASET_CONFIG, MEDIA_OCI_MANIFEST};
use granary_core::{Digest, Role, Version};
use granary_db::{OciManifestRecord, OciPutOutcome};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::access::OrgAccess;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::oci_content::{self, is_tag, MEDIA_OCI_INDEX};
use crate::publish::{publish, publish_oras};
use crate::AppState;

use super::oci::{check_name, parse_digest, writable};

fn manifest_unknown(reference: &str) -> ApiError {
    ApiError::not_found(format!("manifest {reference} not found")).oci("MANIFEST_UNKNOWN")
}

/// A reference is a digest when it has an algorithm prefix, else a tag.
enum Reference {
    Digest(Digest),
    Tag(String),
}

fn reference(s: &str) -> ApiResult<Reference> {
    if s.contains(':') {
        return parse_digest(s).map(Reference::Digest);
    }
    if !is_tag(s) {
        return Err(ApiError::bad_request(format!(
            "invalid tag {s:?}: a tag is [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}"
        ))
        .oci("TAG_INVALID"));
    }
    Ok(Reference::Tag(s.to_string()))
}

/// Owners delete (the same rule the registry token's `delete` action follows).
fn require_owner(access: &OrgAccess) -> ApiResult<()> {
    match access.role {
        Some(Role::Owner) => Ok(()),
        Some(r) => Err(ApiError::forbidden(format!(
            "your role in organization {} is {r}; deleting needs owner",
            access.org.key
        ))
        .oci("DENIED")),
        None => {
            Err(ApiError::forbidden(format!("you are not a member of organization {}", access.org.key)).oci("DENIED"))
        }
    }
}

/// `PUT /v2/{org}/{name}/manifests/{reference}`: stores a manifest by tag or digest.
/// A dataset manifest publishes a version (its tag must be `MAJOR.MINOR.PATCH`); an image
/// manifest whose layers are all titled data files, under such a tag, publishes a version
/// read from those files; anything else is generic content. 201 with `Location`,
/// `Docker-Content-Digest` and, for a manifest with a subject, `OCI-Subject`.
///
/// `tag_params` are the `?tag=` parameters of a push by digest (distribution-spec 1.1+dev,
/// "Pushing manifests with tags"): each tag is pointed at the manifest and named back in
/// `OCI-Tag`.
#[allow(clippy::too_many_arguments)]
pub async fn put_manifest(
    s: &AppState,
    caller: &Caller,
    org: &str,
    name: &str,
    reference_str: &str,
    tag_params: &[String],
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let access = writable(s, caller, org, name).await?;
    let reference = reference(reference_str)?;
    if tag_params.len() > MAX_TAG_PARAMS {
        return Err(ApiError::bad_request(format!(
            "{} tag parameters; a push names at most {MAX_TAG_PARAMS} tags",
            tag_params.len()
        ))
        .oci("TAG_INVALID"));
    }
    for t in tag_params {
        if !is_tag(t) {
            return Err(ApiError::bad_request(format!(
                "invalid tag {t:?}: a tag is [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}"
            ))
            .oci("TAG_INVALID"));
        }
    }
    let limit = s.config.max_manifest_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            crate::ErrorKind::PayloadTooLarge,
            format!("manifest is larger than {limit} bytes"),
        )
        .oci("SIZE_INVALID")
    })?;
    let first_param = tag_params.first().map(String::as_str);
    let (tag, digest) = match &reference {
        Reference::Digest(d) => {
            let actual = Digest::of_with(d.algorithm(), &bytes);
            if &actual != d {
                return Err(ApiError::bad_request(format!(
                    "the manifest's digest is {actual}, not {d} as the path says"
                ))
                .oci("DIGEST_INVALID"));
            }
            (first_param, actual)
        }
        Reference::Tag(t) => (Some(t.as_str()), Digest::of(&bytes)),
    };
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let parsed = oci_content::parse(&bytes, ct, digest.clone())?;
    let version: Option<Version> = tag.and_then(|t| t.parse().ok());
    let config_type = parsed.image.as_ref().map(|m| m.config().media_type().to_string());
    let subject = parsed.content.subject.clone();

    let oras = match &parsed.image {
        Some(m) if config_type.as_deref() != Some(MEDIA_DATASET_CONFIG) => oci_content::oras_files(m)?,
        _ => None,
    };
    let dataset = config_type.as_deref() == Some(MEDIA_DATASET_CONFIG) || oras.is_some();
    // Every tag the push names: the path's, when it is one, and each `?tag=`.
    let mut tags: Vec<&str> = match &reference {
        Reference::Tag(t) => vec![t.as_str()],
        Reference::Digest(_) => Vec::new(),
    };
    tags.extend(tag_params.iter().map(String::as_str));
    if dataset && tags.len() > 1 {
        return Err(ApiError::bad_request(
            "a dataset version is pushed under one tag, its version; tag it further after the push",
        )
        .oci("TAG_INVALID"));
    }
    // A tag shaped like a version that is not one (a component past 2^63 - 1) is refused
    // for dataset content rather than stored as a generic tag.
    if let (true, None, Some(t)) = (dataset, version, tag) {
        if looks_like_version(t) {
            let e = t.parse::<Version>().expect_err("not a version");
            return Err(ApiError::bad_request(format!("tag {t}: {e}")).oci("TAG_INVALID"));
        }
    }
    let stored_digest = if config_type.as_deref() == Some(MEDIA_DATASET_CONFIG) {
        let version = version.ok_or_else(|| {
            ApiError::bad_request(format!(
                "a dataset manifest is pushed under its version (MAJOR.MINOR.PATCH), not {reference_str:?}"
            ))
            .oci("TAG_INVALID")
        })?;
        publish(
            s,
            &access,
            caller.user.id,
            name,
            version,
            ct,
            bytes,
            Some(parsed.content),
        )
        .await?
        .digest
    } else if let (Some(version), Some(files)) = (version, oras) {
        require_blobs(s, &access, &parsed.required_blobs).await?;
        let meta = oci_content::oras_meta(parsed.image.as_ref().expect("image"));
        publish_oras(s, &access, caller.user.id, name, version, files, meta, parsed.content).await?;
        tracing::info!(dataset = %format!("{org}/{name}@{version}"), %digest, "published from an OCI artifact");
        digest
    } else {
        require_blobs(s, &access, &parsed.required_blobs).await?;
        match s
            .db
            .oci_put_manifest(access.org.id, name, &parsed.content, &tags)
            .await?
        {
            OciPutOutcome::Stored => {}
            OciPutOutcome::TagIsVersion { tag: t, existing } => {
                return Err(ApiError::conflict(format!(
                    "tag {t} is version {t} of dataset {org}/{name} ({existing}); versions are immutable, push another tag"
                )));
            }
        }
        digest
    };
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    let location = format!("/v2/{org}/{name}/manifests/{stored_digest}");
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(ApiError::internal)?,
    );
    h.insert(
        "Docker-Content-Digest",
        HeaderValue::from_str(&stored_digest.to_string()).map_err(ApiError::internal)?,
    );
    if let Some(subject) = subject {
        h.insert(
            "OCI-Subject",
            HeaderValue::from_str(&subject.to_string()).map_err(ApiError::internal)?,
        );
    }
    if !tag_params.is_empty() {
        h.insert(
            "OCI-Tag",
            HeaderValue::from_str(&tag_params.join(", ")).map_err(ApiError::internal)?,
        );
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    Ok(resp)
}

/// The query of a manifest `PUT`: `?tag=` may repeat.
#[derive(Deserialize, Default)]
pub struct PutQuery {
    #[serde(default)]
    pub tag: Vec<String>,
}

/// Most tags one push may name with `?tag=`.
const MAX_TAG_PARAMS: usize = 100;

/// Missing blobs named in one error; the rest are counted.
const MAX_NAMED_MISSING: usize = 10;

/// `MAJOR.MINOR.PATCH` in shape: three runs of digits.
fn looks_like_version(t: &str) -> bool {
    let parts: Vec<&str> = t.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Every blob must be in the org with the size its descriptor declares: else 400
/// `MANIFEST_BLOB_UNKNOWN` naming the missing ones (the first ten, and how many more), or
/// `MANIFEST_INVALID` for a size that differs. Each digest is looked up once, 16 at a time.
async fn require_blobs(s: &AppState, access: &OrgAccess, blobs: &[(Digest, u64)]) -> ApiResult<()> {
    use futures::{StreamExt, TryStreamExt};
    let unique: std::collections::BTreeMap<Digest, u64> = blobs.iter().cloned().collect();
    let found: Vec<(Digest, u64, Option<u64>)> = futures::stream::iter(unique)
        .map(|(d, declared)| {
            let (store, org) = (s.blobs.clone(), access.org.key.clone());
            async move { store.stat(&org, &d).await.map(|got| (d, declared, got)) }
        })
        .buffered(16)
        .try_collect()
        .await?;
    let missing: Vec<String> = found
        .iter()
        .filter(|(_, _, got)| got.is_none())
        .map(|(d, _, _)| d.to_string())
        .collect();
    if !missing.is_empty() {
        let more = missing.len().saturating_sub(MAX_NAMED_MISSING);
        let mut named = missing
            .into_iter()
            .take(MAX_NAMED_MISSING)
            .collect::<Vec<_>>()
            .join(", ");
        if more > 0 {
            named.push_str(&format!(" and {more} more"));
        }
        return Err(ApiError::bad_request(format!(
            "manifest references blobs this org does not have: {named}; upload them first"
        ))
        .oci("MANIFEST_BLOB_UNKNOWN"));
    }
    if let Some((d, declared, Some(got))) = found.iter().find(|(_, declared, got)| *got != Some(*declared)) {
        return Err(
            ApiError::bad_request(format!("a descriptor says blob {d} has {declared} bytes; it has {got}"))
                .oci("MANIFEST_INVALID"),
        );
    }
    Ok(())
}

/// The stored manifest a reference names that the caller may read. Non-members read only
/// the views of public dataset versions (and `latest` falls back to the highest version's
/// view when they may not read a generic `latest`).
async fn find_manifest(
    s: &AppState,
    access: &OrgAccess,
    name: &str,
    reference_str: &str,
) -> ApiResult<OciManifestRecord> {
    let org_id = access.org.id;
    let found = match reference(reference_str)? {
        Reference::Digest(d) => match s.db.oci_manifest(org_id, name, &d).await? {
            Some(r) => Some(r),
            // A dataset manifest as pushed is addressable by its digest too.
            None => {
                s.db.version_by_digest(org_id, name, &d)
                    .await?
                    .map(|v| OciManifestRecord {
                        digest: v.manifest_digest.clone(),
                        media_type: MEDIA_OCI_MANIFEST.into(),
                        artifact_type: Some(MEDIA_DATASET_CONFIG.into()),
                        annotations: None,
                        size: v.manifest.len() as u64,
                        body: v.manifest,
                        versions: vec![v.id],
                    })
            }
        },
        Reference::Tag(t) => match s.db.oci_tagged(org_id, name, &t).await? {
            Some(r) if access.is_member() || t != "latest" || readable(s, access, &r).await? => Some(r),
            // `latest` without such a tag (or one the caller may not read): the highest
            // version of the dataset.
            _ if t == "latest" => latest_view(s, access, name).await?,
            other => other,
        },
    };
    let Some(rec) = found else {
        return Err(missing(s, access, name, reference_str).await?);
    };
    if readable(s, access, &rec).await? {
        Ok(rec)
    } else {
        Err(manifest_unknown(reference_str))
    }
}

/// Whether the caller may read a stored manifest: members always; others when a version it
/// is the view of is public.
async fn readable(s: &AppState, access: &OrgAccess, rec: &OciManifestRecord) -> ApiResult<bool> {
    if access.is_member() {
        return Ok(true);
    }
    Ok(s.db.versions_by_id(&rec.versions).await?.iter().any(|v| v.is_public))
}

/// The view of the highest version the caller may read.
async fn latest_view(s: &AppState, access: &OrgAccess, name: &str) -> ApiResult<Option<OciManifestRecord>> {
    match s.db.version(access.org.id, name, None).await? {
        Some(v) if v.is_public || access.is_member() => {
            Ok(s.db.oci_tagged(access.org.id, name, &v.version.to_string()).await?)
        }
        _ => Ok(None),
    }
}

/// The error for a reference that names nothing: `NAME_UNKNOWN` for a repository with no
/// dataset and no tags, a missing version named as such in a dataset the caller may see,
/// else `MANIFEST_UNKNOWN`.
async fn missing(s: &AppState, access: &OrgAccess, name: &str, reference_str: &str) -> ApiResult<ApiError> {
    let org = &access.org.key;
    match s.db.dataset(access.org.id, name).await? {
        Some(d) if d.is_public || access.is_member() => Ok(match reference_str.parse::<Version>() {
            Ok(v) => crate::access::not_found(org, name, Some(v)),
            Err(_) => manifest_unknown(reference_str),
        }),
        Some(_) => Ok(crate::access::not_found(org, name, None)),
        None if access.is_member() && !s.db.oci_tags(access.org.id, name, None, Some(1)).await?.is_empty() => {
            Ok(manifest_unknown(reference_str))
        }
        None => Ok(crate::access::not_found(org, name, None)),
    }
}

/// `GET`/`HEAD /v2/{org}/{name}/manifests/{reference}`: the stored bytes with their media
/// type, length and digest.
pub async fn get_manifest(
    s: &AppState,
    caller: &Caller,
    org: &str,
    name: &str,
    reference_str: &str,
    head: bool,
) -> ApiResult<Response> {
    check_name(name)?;
    let access = s.org_access(caller, org).await?;
    let rec = find_manifest(s, &access, name, reference_str).await?;
    super::oci::manifest_bytes(&rec.media_type, &rec.digest, rec.body, head)
}

/// `DELETE /v2/{org}/{name}/manifests/{reference}` (owners): by digest removes the manifest
/// and every tag pointing at it; by tag removes the tag. A version's tag deletes that
/// version, and a digest that versions' tags name deletes those versions, as `DELETE
/// /api/v1/org/{org}/datasets/{name}/{version}` does; a generic tag on a version's view
/// removes only that tag. 202 Accepted; 404 `MANIFEST_UNKNOWN` when there is nothing to
/// delete.
pub async fn delete_manifest(
    State(s): State<AppState>,
    caller: Caller,
    Path((org, name, reference_str)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    check_name(&name)?;
    let access = s.org_access(&caller, &org).await?;
    require_owner(&access)?;
    let rec = find_manifest(&s, &access, &name, &reference_str).await?;
    for v in s.db.versions_by_id(&rec.versions).await? {
        s.db.delete_version(access.org.id, &name, v.version).await?;
        tracing::info!(dataset = %format!("{org}/{name}@{}", v.version), user = %caller.user.username, "deleted through /v2/");
    }
    match reference(&reference_str)? {
        Reference::Digest(d) => {
            s.db.oci_delete_manifest(access.org.id, &name, &d).await?;
        }
        Reference::Tag(t) if rec.versions.is_empty() => {
            if !s.db.oci_delete_tag(access.org.id, &name, &t).await? {
                return Err(manifest_unknown(&reference_str));
            }
        }
        Reference::Tag(_) => {}
    }
    Ok(StatusCode::ACCEPTED)
}

/// `DELETE /v2/{org}/{name}/blobs/{digest}` (owners): removes the org's blob. A blob a
/// dataset version uses is never removed (409 `DENIED`); one only generic manifests use may
/// be (distribution-spec leaves that to the registry). 202; 404 `BLOB_UNKNOWN`.
pub async fn delete_blob(
    State(s): State<AppState>,
    caller: Caller,
    Path((org, name, digest)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    check_name(&name)?;
    let access = s.org_access(&caller, &org).await?;
    require_owner(&access)?;
    let digest = parse_digest(&digest)?;
    if s.blobs.stat(&org, &digest).await?.is_none() {
        return Err(ApiError::not_found(format!("blob {digest} not found")).oci("BLOB_UNKNOWN"));
    }
    if s.db.blob_in_version(access.org.id, &digest).await? {
        return Err(ApiError::conflict(format!(
            "blob {digest} is a file of a dataset version; delete the version first"
        ))
        .oci("DENIED"));
    }
    s.blobs.delete_blob(&org, &digest).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, Default)]
pub struct TagsQuery {
    n: Option<String>,
    last: Option<String>,
}

/// Most tags one page lists; a larger `n` is served as this many, with a `Link` to the rest.
const MAX_PAGE: u64 = 10_000;

struct TagsPage {
    n: Option<u32>,
    last: Option<String>,
}

/// `GET /v2/{org}/{name}/tags/list?n=&last=`: tags in lexical order; with `n`, at most `n`
/// of them after `last`, and a `Link: <…>; rel="next"` header when there may be more.
/// Members see every tag; others the versions of a public dataset.
pub async fn tags(s: &AppState, caller: &Caller, org: &str, name: &str, q: TagsQuery) -> ApiResult<Response> {
    check_name(name)?;
    let n: Option<u32> =
        q.n.as_deref()
            .map(|n| {
                let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
                let n = if digits {
                    n.parse::<u64>().unwrap_or(u64::MAX)
                } else {
                    u64::MAX
                };
                Some(n)
                    .filter(|_| digits)
                    .map(|n| n.min(MAX_PAGE) as u32)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("n={n:?} is not a page size: give a whole number, 0 or more"))
                            .oci("PAGINATION_NUMBER_INVALID")
                    })
            })
            .transpose()?;
    let q = TagsPage { n, last: q.last };
    let access = s.org_access(caller, org).await?;
    let tags: Vec<String> = if access.is_member() {
        s.db.oci_tags(access.org.id, name, q.last.as_deref(), q.n).await?
    } else {
        s.require_visible_dataset(&access, name).await?;
        let mut all: Vec<String> =
            s.db.list_versions(access.org.id, name)
                .await?
                .iter()
                .map(|v| v.to_string())
                .collect();
        all.sort();
        all.into_iter()
            .filter(|t| q.last.as_deref().is_none_or(|l| t.as_str() > l))
            .take(q.n.map_or(usize::MAX, |n| n as usize))
            .collect()
    };
    let mut resp = Json(json!({"name": format!("{org}/{name}"), "tags": tags})).into_response();
    if let (Some(n), Some(last)) = (q.n, tags.last()) {
        if tags.len() == n as usize {
            let link = format!("</v2/{org}/{name}/tags/list?n={n}&last={last}>; rel=\"next\"");
            resp.headers_mut()
                .insert(header::LINK, HeaderValue::from_str(&link).map_err(ApiError::internal)?);
        }
    }
    Ok(resp)
}

#[derive(Deserialize, Default)]
pub struct ReferrersQuery {
    /// Repeated, the first counts.
    #[serde(rename = "artifactType", default)]
    artifact_type: Vec<String>,
}

/// `GET /v2/{org}/{name}/referrers/{digest}?artifactType=`: an image index listing the
/// manifests whose `subject` is `digest` (each with its media type, size, artifact type and
/// annotations), filtered by artifact type when asked (then `OCI-Filters-Applied:
/// artifactType`). A digest nothing refers to gives an empty index (distribution-spec,
/// "Listing Referrers"). Members only.
pub async fn referrers(
    State(s): State<AppState>,
    caller: Caller,
    Path((org, name, digest)): Path<(String, String, String)>,
    uri: axum::extract::OriginalUri,
) -> ApiResult<Response> {
    check_name(&name)?;
    let access = s.org_access(&caller, &org).await?;
    let digest = parse_digest(&digest)?;
    let q: ReferrersQuery = serde_html_form::from_str(uri.query().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))?;
    let wanted = q.artifact_type.into_iter().next();
    let found = if access.is_member() {
        s.db.oci_referrers(access.org.id, &name, &digest).await?
    } else {
        Vec::new()
    };
    let manifests: Vec<Value> = found
        .into_iter()
        .filter(|r| wanted.is_none() || r.artifact_type == wanted)
        .map(|r| {
            let mut d = json!({"mediaType": r.media_type, "digest": r.digest.to_string(), "size": r.size});
            if let Some(t) = r.artifact_type {
                d["artifactType"] = Value::String(t);
            }
            if let Some(a) = r.annotations.and_then(|a| serde_json::from_str::<Value>(&a).ok()) {
                d["annotations"] = a;
            }
            d
        })
        .collect();
    let body = json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": manifests}).to_string();
    let mut resp = Response::builder()
        .header(header::CONTENT_TYPE, MEDIA_OCI_INDEX)
        .body(Body::from(body))
        .map_err(ApiError::internal)?;
    if wanted.is_some() {
        resp.headers_mut()
            .insert("OCI-Filters-Applied", HeaderValue::from_static("artifactType"));
    }
    Ok(resp)
}

/// Stores the `/v2/` view of every version published before views were stored. Run once at
/// start-up by each server; idempotent, so replicas running it together agree.
pub async fn backfill_views(s: &AppState) -> ApiResult<u64> {
    let mut done = 0;
    for v in s.db.versions_without_view(u32::MAX).await? {
        let Some(full) = s.db.version(v.org_id, &v.name, Some(v.version)).await? else {
            continue;
        };
        let view = oci_content::dataset_view(
            &full.manifest,
            &full.full_name,
            full.version,
            &full.meta.format,
            &full.files,
        )?;
        if s.db.set_version_view(&full, &view).await? {
            done += 1;
        }
    }
    Ok(done)
}
