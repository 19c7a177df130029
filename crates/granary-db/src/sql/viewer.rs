//! The viewer's jobs: claimed under a lease by any server, finished once.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AnyPool, Row};
use uuid::Uuid;

use super::{get_u64, get_uuid, map_err, ts};
use crate::*;

/// Records a pending job for a version just published (inside its transaction).
pub(super) async fn enqueue(tx: &mut AnyConnection, version_id: &str, org_id: Uuid, at: &str) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO viewer_jobs (version_id, org_id, state, attempts, created_at, updated_at)
         VALUES ($1, $2, 'pending', 0, $3, $3)",
    )
    .bind(version_id)
    .bind(org_id.to_string())
    .bind(at)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Removes a version's job and renditions (inside the delete's transaction).
pub(super) async fn forget(tx: &mut AnyConnection, version_id: &str) -> DbResult<()> {
    for sql in [
        "DELETE FROM viewer_jobs WHERE version_id = $1",
        "DELETE FROM viewer_renditions WHERE version_id = $1",
    ] {
        sqlx::query(sql)
            .bind(version_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

pub(super) async fn claim(
    pool: &AnyPool,
    lease: Uuid,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DbResult<Option<ViewerClaim>> {
    // The subquery picks the oldest claimable job; the outer condition is checked again on
    // the row itself, so of two servers racing for it only one updates it.
    let row = sqlx::query(
        "UPDATE viewer_jobs SET state = 'running', lease = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3
         WHERE version_id = (SELECT version_id FROM viewer_jobs
                             WHERE state = 'pending' OR (state = 'running' AND lease_until < $3)
                             ORDER BY created_at, version_id LIMIT 1)
           AND (state = 'pending' OR (state = 'running' AND lease_until < $3))
         RETURNING version_id, org_id, attempts",
    )
    .bind(lease.to_string())
    .bind(ts(until))
    .bind(ts(now))
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    row.map(|r| {
        Ok(ViewerClaim {
            version_id: get_uuid(&r, "version_id")?,
            org_id: get_uuid(&r, "org_id")?,
            attempts: get_u64(&r, "attempts")? as u32,
            lease,
        })
    })
    .transpose()
}

pub(super) async fn renew(pool: &AnyPool, c: &ViewerClaim, until: DateTime<Utc>) -> DbResult<bool> {
    let n = sqlx::query(
        "UPDATE viewer_jobs SET lease_until = $1 WHERE version_id = $2 AND lease = $3 AND state = 'running'",
    )
    .bind(ts(until))
    .bind(c.version_id.to_string())
    .bind(c.lease.to_string())
    .execute(pool)
    .await
    .map_err(map_err)?
    .rows_affected();
    Ok(n == 1)
}

pub(super) async fn finish(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    c: &ViewerClaim,
    renditions: &[Rendition],
    result: &str,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    let n = sqlx::query(
        "UPDATE viewer_jobs SET state = 'ready', result = $1, error = NULL, lease = NULL, lease_until = NULL, updated_at = $2
         WHERE version_id = $3 AND lease = $4 AND state = 'running'",
    )
    .bind(result)
    .bind(ts(now))
    .bind(c.version_id.to_string())
    .bind(c.lease.to_string())
    .execute(&mut *tx)
    .await
    .map_err(map_err)?
    .rows_affected();
    if n != 1 {
        // Another server holds the job now (this one's lease ran out): its result stands.
        return Ok(false);
    }
    for r in renditions {
        sqlx::query(
            "INSERT INTO viewer_renditions (version_id, org_id, source, path, digest, size, row_count)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(c.version_id.to_string())
        .bind(c.org_id.to_string())
        .bind(&r.source)
        .bind(&r.path)
        .bind(r.digest.to_string())
        .bind(r.size as i64)
        .bind(r.row_count as i64)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    }
    tx.commit().await.map_err(map_err)?;
    Ok(true)
}

pub(super) async fn fail(
    pool: &AnyPool,
    c: &ViewerClaim,
    error: &str,
    retry: bool,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let state = if retry { "pending" } else { "failed" };
    sqlx::query(
        "UPDATE viewer_jobs SET state = $1, error = $2, lease = NULL, lease_until = NULL, updated_at = $3
         WHERE version_id = $4 AND lease = $5",
    )
    .bind(state)
    .bind(error)
    .bind(ts(now))
    .bind(c.version_id.to_string())
    .bind(c.lease.to_string())
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(super) async fn status(pool: &AnyPool, version_id: Uuid) -> DbResult<Option<ViewerStatus>> {
    let Some(r) = sqlx::query("SELECT state, attempts, result, error FROM viewer_jobs WHERE version_id = $1")
        .bind(version_id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(map_err)?
    else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT source, path, digest, size, row_count FROM viewer_renditions WHERE version_id = $1 ORDER BY source",
    )
    .bind(version_id.to_string())
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    let renditions = rows
        .iter()
        .map(|x| {
            Ok(Rendition {
                source: x.try_get("source").map_err(map_err)?,
                path: x.try_get("path").map_err(map_err)?,
                digest: super::get_parsed(x, "digest")?,
                size: get_u64(x, "size")?,
                row_count: get_u64(x, "row_count")?,
            })
        })
        .collect::<DbResult<Vec<_>>>()?;
    Ok(Some(ViewerStatus {
        state: r.try_get("state").map_err(map_err)?,
        attempts: get_u64(&r, "attempts")? as u32,
        result: r.try_get("result").map_err(map_err)?,
        error: r.try_get("error").map_err(map_err)?,
        renditions,
    }))
}

pub(super) async fn requeue_failed(pool: &AnyPool, now: DateTime<Utc>) -> DbResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "UPDATE viewer_jobs SET state = 'pending', attempts = 0, error = NULL, updated_at = $1
         WHERE state = 'failed' RETURNING version_id",
    )
    .bind(ts(now))
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    rows.iter().map(|r| get_uuid(r, "version_id")).collect()
}

pub(super) async fn held(pool: &AnyPool, now: DateTime<Utc>) -> DbResult<Vec<(Uuid, DateTime<Utc>)>> {
    let rows = sqlx::query(
        "SELECT version_id, lease_until FROM viewer_jobs WHERE state = 'running' AND lease_until >= $1
         ORDER BY created_at, version_id",
    )
    .bind(ts(now))
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    rows.iter()
        .map(|r| Ok((get_uuid(r, "version_id")?, super::get_ts(r, "lease_until")?)))
        .collect()
}
