//! OCI content under `/v2/`: manifests stored byte for byte, tags, and the descriptors each
//! manifest names. A dataset version's view is one of these rows, tied to the version.

use sqlx::{AnyPool, Row};

use super::{map_err, Dialect};
use crate::*;

pub(super) type Tx = sqlx::Transaction<'static, sqlx::Any>;

const MANIFEST_COLS: &str = "m.digest, m.media_type, m.artifact_type, m.annotations, m.size";

fn record_from(row: &sqlx::any::AnyRow, with_body: bool, versions: Vec<Uuid>) -> DbResult<OciManifestRecord> {
    let digest: String = row.try_get("digest").map_err(map_err)?;
    let size: i64 = row.try_get("size").map_err(map_err)?;
    Ok(OciManifestRecord {
        digest: digest.parse().map_err(|_| super::corrupt("digest", &digest))?,
        media_type: row.try_get("media_type").map_err(map_err)?,
        artifact_type: row.try_get("artifact_type").map_err(map_err)?,
        annotations: row.try_get("annotations").map_err(map_err)?,
        body: if with_body {
            row.try_get("body").map_err(map_err)?
        } else {
            String::new()
        },
        size: size as u64,
        versions,
    })
}

fn uuids(ids: Vec<String>) -> DbResult<Vec<Uuid>> {
    ids.iter()
        .map(|s| Uuid::parse_str(s).map_err(|_| super::corrupt("version_id", s)))
        .collect()
}

/// The digest a tag points at, and the version the tag is, if any.
async fn tag_target(tx: &mut Tx, org_id: Uuid, repo: &str, tag: &str) -> DbResult<Option<(Digest, Option<String>)>> {
    let row = sqlx::query("SELECT digest, version_id FROM oci_tags WHERE org_id = $1 AND repo = $2 AND tag = $3")
        .bind(org_id.to_string())
        .bind(repo)
        .bind(tag)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
    row.map(|r| {
        let d: String = r.try_get("digest").map_err(map_err)?;
        let v: Option<String> = r.try_get("version_id").map_err(map_err)?;
        Ok((d.parse().map_err(|_| super::corrupt("digest", &d))?, v))
    })
    .transpose()
}

/// Stores `content` (a no-op when the digest is already stored) and its references; then
/// points each of `tags` at it, as the tag of `version_id` when given. A tag that is a
/// version's, or any tag when `version_id` is given, is only ever set to the same content
/// for the same version: otherwise nothing is written and the outcome names the tag. Within
/// the caller's transaction (roll it back on `TagIsVersion`).
pub(super) async fn insert_content(
    tx: &mut Tx,
    org_id: Uuid,
    repo: &str,
    content: &OciContent,
    version_id: Option<&str>,
    tags: &[&str],
    t: &str,
) -> DbResult<OciPutOutcome> {
    for tag in tags {
        if let Some((existing, of_version)) = tag_target(tx, org_id, repo, tag).await? {
            let same = existing == content.digest && of_version.as_deref() == version_id;
            if (of_version.is_some() || version_id.is_some()) && !same {
                return Ok(OciPutOutcome::TagIsVersion {
                    tag: tag.to_string(),
                    existing,
                });
            }
        }
    }
    sqlx::query(
        "INSERT INTO oci_manifests (org_id, repo, digest, media_type, artifact_type, subject, annotations, body, size,
            created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (org_id, repo, digest) DO NOTHING",
    )
    .bind(org_id.to_string())
    .bind(repo)
    .bind(content.digest.to_string())
    .bind(&content.media_type)
    .bind(&content.artifact_type)
    .bind(content.subject.as_ref().map(|d| d.to_string()))
    .bind(&content.annotations)
    .bind(&content.body)
    .bind(content.body.len() as i64)
    .bind(t)
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    for target in &content.refs {
        sqlx::query(
            "INSERT INTO oci_refs (org_id, repo, digest, target) VALUES ($1, $2, $3, $4)
             ON CONFLICT (org_id, repo, digest, target) DO NOTHING",
        )
        .bind(org_id.to_string())
        .bind(repo)
        .bind(content.digest.to_string())
        .bind(target.to_string())
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    }
    for tag in tags {
        sqlx::query(
            "INSERT INTO oci_tags (org_id, repo, tag, digest, version_id, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (org_id, repo, tag) DO UPDATE SET digest = excluded.digest, version_id = excluded.version_id,
                updated_at = excluded.updated_at",
        )
        .bind(org_id.to_string())
        .bind(repo)
        .bind(*tag)
        .bind(content.digest.to_string())
        .bind(version_id)
        .bind(t)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    }
    Ok(OciPutOutcome::Stored)
}

/// Deletes the manifest `digest` when no tag points at it any more: what is left of a
/// version's view once the version's tag went with the version.
pub(super) async fn drop_if_untagged(tx: &mut Tx, org_id: Uuid, repo: &str, digest: &str) -> DbResult<()> {
    let tagged: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(1 AS BIGINT) FROM oci_tags WHERE org_id = $1 AND repo = $2 AND digest = $3 LIMIT 1",
    )
    .bind(org_id.to_string())
    .bind(repo)
    .bind(digest)
    .fetch_optional(&mut **tx)
    .await
    .map_err(map_err)?;
    if tagged.is_none() {
        let d: Digest = digest.parse().map_err(|_| super::corrupt("digest", digest))?;
        delete_manifest(tx, org_id, repo, &d).await?;
    }
    Ok(())
}

/// The digest of a version's view (its tag's target).
pub(super) async fn view_digest(tx: &mut Tx, version_id: &str) -> DbResult<Option<(String, String)>> {
    let row = sqlx::query("SELECT repo, digest FROM oci_tags WHERE version_id = $1")
        .bind(version_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
    row.map(|r| {
        Ok((
            r.try_get("repo").map_err(map_err)?,
            r.try_get("digest").map_err(map_err)?,
        ))
    })
    .transpose()
}

pub(super) async fn manifest(
    pool: &AnyPool,
    org_id: Uuid,
    repo: &str,
    digest: &Digest,
) -> DbResult<Option<OciManifestRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {MANIFEST_COLS}, m.body FROM oci_manifests m WHERE m.org_id = $1 AND m.repo = $2 AND m.digest = $3"
    ))
    .bind(org_id.to_string())
    .bind(repo)
    .bind(digest.to_string())
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    let Some(row) = row else { return Ok(None) };
    let versions: Vec<String> = sqlx::query_scalar(
        "SELECT version_id FROM oci_tags WHERE org_id = $1 AND repo = $2 AND digest = $3 AND version_id IS NOT NULL
         ORDER BY tag",
    )
    .bind(org_id.to_string())
    .bind(repo)
    .bind(digest.to_string())
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    record_from(&row, true, uuids(versions)?).map(Some)
}

pub(super) async fn tagged(pool: &AnyPool, org_id: Uuid, repo: &str, tag: &str) -> DbResult<Option<OciManifestRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {MANIFEST_COLS}, m.body, t.version_id FROM oci_tags t
         JOIN oci_manifests m ON m.org_id = t.org_id AND m.repo = t.repo AND m.digest = t.digest
         WHERE t.org_id = $1 AND t.repo = $2 AND t.tag = $3"
    ))
    .bind(org_id.to_string())
    .bind(repo)
    .bind(tag)
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    let Some(row) = row else { return Ok(None) };
    let version: Option<String> = row.try_get("version_id").map_err(map_err)?;
    record_from(&row, true, uuids(version.into_iter().collect())?).map(Some)
}

/// Tags in byte order on both backends (PostgreSQL's default collation would sort by
/// locale; the distribution-spec asks for lexical order).
pub(super) async fn tags(
    pool: &AnyPool,
    dialect: Dialect,
    org_id: Uuid,
    repo: &str,
    last: Option<&str>,
    n: Option<u32>,
) -> DbResult<Vec<String>> {
    let collate = match dialect {
        Dialect::Sqlite => "BINARY",
        Dialect::Postgres => "\"C\"",
    };
    let limit = n.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    let after = if last.is_some() {
        format!(" AND tag COLLATE {collate} > $3")
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT tag FROM oci_tags WHERE org_id = $1 AND repo = $2{after} ORDER BY tag COLLATE {collate}{limit}"
    );
    let mut q = sqlx::query_scalar(&sql).bind(org_id.to_string()).bind(repo);
    if let Some(last) = last {
        q = q.bind(last);
    }
    q.fetch_all(pool).await.map_err(map_err)
}

pub(super) async fn referrers(
    pool: &AnyPool,
    org_id: Uuid,
    repo: &str,
    digest: &Digest,
) -> DbResult<Vec<OciManifestRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {MANIFEST_COLS} FROM oci_manifests m WHERE m.org_id = $1 AND m.repo = $2 AND m.subject = $3
         ORDER BY m.created_at, m.digest"
    ))
    .bind(org_id.to_string())
    .bind(repo)
    .bind(digest.to_string())
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    rows.iter().map(|r| record_from(r, false, Vec::new())).collect()
}

pub(super) async fn delete_manifest(tx: &mut Tx, org_id: Uuid, repo: &str, digest: &Digest) -> DbResult<bool> {
    // Tags and references go with it (ON DELETE CASCADE), stated here too so the result
    // does not hang on the connection's foreign-key setting.
    for table in ["oci_tags", "oci_refs"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE org_id = $1 AND repo = $2 AND digest = $3"
        ))
        .bind(org_id.to_string())
        .bind(repo)
        .bind(digest.to_string())
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    }
    let gone = sqlx::query("DELETE FROM oci_manifests WHERE org_id = $1 AND repo = $2 AND digest = $3")
        .bind(org_id.to_string())
        .bind(repo)
        .bind(digest.to_string())
        .execute(&mut **tx)
        .await
        .map_err(map_err)?
        .rows_affected();
    Ok(gone > 0)
}

pub(super) async fn delete_tag(pool: &AnyPool, org_id: Uuid, repo: &str, tag: &str) -> DbResult<bool> {
    let gone = sqlx::query("DELETE FROM oci_tags WHERE org_id = $1 AND repo = $2 AND tag = $3")
        .bind(org_id.to_string())
        .bind(repo)
        .bind(tag)
        .execute(pool)
        .await
        .map_err(map_err)?
        .rows_affected();
    Ok(gone > 0)
}

/// Whether a version of the org (a public one, when `public_only`) uses the blob: as a
/// file, its config, its manifest, or a descriptor of its `/v2/` view.
pub(super) async fn version_uses_blob(
    pool: &AnyPool,
    org_id: Uuid,
    digest: &Digest,
    public_only: bool,
) -> DbResult<bool> {
    let public = if public_only { " AND v.is_public = 1" } else { "" };
    let found: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT CAST(1 AS BIGINT) FROM dataset_versions v
         WHERE v.org_id = $1{public}
           AND (v.config_digest = $2 OR v.manifest_digest = $2
                OR EXISTS (SELECT 1 FROM version_files f WHERE f.version_id = v.id AND f.digest = $2)
                OR EXISTS (SELECT 1 FROM oci_tags t JOIN oci_refs r
                             ON r.org_id = t.org_id AND r.repo = t.repo AND r.digest = t.digest
                           WHERE t.version_id = v.id AND r.target = $2))
         LIMIT 1"
    ))
    .bind(org_id.to_string())
    .bind(digest.to_string())
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    Ok(found.is_some())
}

/// Ids of versions whose tag under `/v2/` is missing, at most `limit`.
pub(super) async fn versions_without_view(pool: &AnyPool, limit: u32) -> DbResult<Vec<Uuid>> {
    let ids: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT v.id FROM dataset_versions v
         WHERE NOT EXISTS (SELECT 1 FROM oci_tags t WHERE t.version_id = v.id) LIMIT {limit}"
    ))
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    uuids(ids)
}
