//! The download activity feed: SQL assembled from the filters with bound values.

use sqlx::{AnyPool, Row};

use super::builder::SqlBuilder;

use super::{get_ts, get_uuid, map_err};
use crate::*;

fn event_from(row: &sqlx::any::AnyRow) -> DbResult<DownloadEvent> {
    Ok(DownloadEvent {
        id: get_uuid(row, "id")?,
        seq: row.try_get("seq").map_err(map_err)?,
        version_id: get_uuid(row, "version_id")?,
        dataset_name: row.try_get("dataset_name").map_err(map_err)?,
        version: row.try_get("version").map_err(map_err)?,
        split: row.try_get("split").map_err(map_err)?,
        user_id: get_uuid(row, "user_id")?,
        username: row.try_get("username").map_err(map_err)?,
        user_org: row.try_get("user_org").map_err(map_err)?,
        created_at: get_ts(row, "created_at")?,
    })
}

fn push_activity_where(qb: &mut SqlBuilder, q: &ActivityQuery) {
    qb.push("org_id = ").push_bind(q.org_id.to_string());
    if let Some(u) = q.user_id {
        qb.push(" AND user_id = ").push_bind(u.to_string());
    }
    if let Some(d) = &q.dataset_name {
        qb.push(" AND dataset_name = ").push_bind(d.clone());
    }
}

pub(super) async fn downloads(pool: &AnyPool, q: &ActivityQuery) -> DbResult<(Vec<DownloadEvent>, u64)> {
    let mut qb = SqlBuilder::new("SELECT * FROM download_events WHERE ");
    push_activity_where(&mut qb, q);
    // Newest first by the recorded time, so order and timestamps agree (docs/API.md).
    qb.push(" ORDER BY created_at DESC, seq DESC LIMIT ")
        .push_bind(q.limit as i64)
        .push(" OFFSET ")
        .push_bind(q.offset as i64);
    let rows = qb.build().fetch_all(pool).await.map_err(map_err)?;
    let events = rows.iter().map(event_from).collect::<DbResult<Vec<_>>>()?;
    // Folded totals plus the events still pending, in one statement (one snapshot): exact,
    // and cheap at any volume.
    // The folded part comes from the narrowest roll-up that holds the filter: one row for
    // an organization or a dataset, a user's rows otherwise.
    let folded = match (&q.user_id, &q.dataset_name) {
        (None, None) => "download_org_totals",
        (None, Some(_)) => "download_dataset_totals",
        (Some(_), _) => "download_totals",
    };
    let mut qb = SqlBuilder::new(format!("SELECT CAST((SELECT COALESCE(SUM(n), 0) FROM {folded} WHERE "));
    push_activity_where(&mut qb, q);
    qb.push(") + (SELECT COUNT(*) FROM download_pending WHERE ");
    push_activity_where(&mut qb, q);
    qb.push(") AS BIGINT)");
    let total: i64 = qb.build_query_scalar().fetch_one(pool).await.map_err(map_err)?;
    Ok((events, total as u64))
}

pub(super) async fn per_day(
    pool: &AnyPool,
    org_id: Uuid,
    dataset_name: &str,
    since: DateTime<Utc>,
) -> DbResult<Vec<DailyDownloads>> {
    // `created_at` is RFC 3339 UTC text: its first ten characters are the day, and text
    // order is time order (the org/dataset/time index serves the range).
    let rows = sqlx::query(
        "SELECT SUBSTR(created_at, 1, 10) AS day, version, COUNT(*) AS n FROM download_events
         WHERE org_id = $1 AND dataset_name = $2 AND created_at >= $3
         GROUP BY SUBSTR(created_at, 1, 10), version ORDER BY day, version",
    )
    .bind(org_id.to_string())
    .bind(dataset_name)
    .bind(super::ts(since))
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    rows.iter()
        .map(|r| {
            Ok(DailyDownloads {
                day: r.try_get("day").map_err(map_err)?,
                version: r.try_get("version").map_err(map_err)?,
                count: super::get_u64(r, "n")?,
            })
        })
        .collect()
}
