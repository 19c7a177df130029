//! Listing, facets and download activity: SQL assembled from filters with bound values.

use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::{get_ts, get_uuid, map_err, version_from, VERSION_COLS};
use crate::*;

/// A facet whose own filter is left out when counting its values.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Facet {
    Tags,
    Licenses,
    TaskCategories,
    Formats,
    SizeCategories,
}

fn push_in(qb: &mut QueryBuilder<'_, Sqlite>, values: &[String]) {
    qb.push(" IN (");
    let mut sep = qb.separated(", ");
    for v in values {
        sep.push_bind(v.clone());
    }
    qb.push(")");
}

/// Appends the scope and every filter except `skip`'s own.
pub(super) fn push_where(qb: &mut QueryBuilder<'_, Sqlite>, scope: Scope, f: &ListFilter, skip: Option<Facet>) {
    match scope {
        Scope::Org(id) => {
            qb.push("v.org_id = ").push_bind(id.to_string());
        }
        Scope::OrgPublic(id) => {
            qb.push("v.org_id = ")
                .push_bind(id.to_string())
                .push(" AND v.is_public = 1");
        }
        Scope::OrgAndPublic(id) => {
            qb.push("(v.org_id = ")
                .push_bind(id.to_string())
                .push(" OR v.is_public = 1)");
        }
        Scope::Public => {
            qb.push("v.is_public = 1");
        }
    }
    match &f.name {
        Some((Some(org), name)) => {
            qb.push(" AND v.full_name = ").push_bind(format!("{org}/{name}"));
        }
        Some((None, name)) => {
            qb.push(" AND v.name = ").push_bind(name.clone());
        }
        None => {}
    }
    if let Some(s) = &f.search {
        qb.push(" AND instr(v.search_text, ")
            .push_bind(s.to_lowercase())
            .push(") > 0");
    }
    let active = |facet: Facet, values: &[String]| skip != Some(facet) && !values.is_empty();
    if active(Facet::Tags, &f.tags) {
        qb.push(" AND v.id IN (SELECT version_id FROM version_tags WHERE tag");
        push_in(qb, &f.tags);
        qb.push(")");
    }
    if active(Facet::TaskCategories, &f.task_categories) {
        qb.push(" AND v.id IN (SELECT version_id FROM version_task_categories WHERE task_category");
        push_in(qb, &f.task_categories);
        qb.push(")");
    }
    for (facet, column, values) in [
        (Facet::Licenses, "v.license", &f.licenses),
        (Facet::Formats, "v.format", &f.formats),
        (Facet::SizeCategories, "v.size_category", &f.size_categories),
    ] {
        if active(facet, values) {
            qb.push(" AND ").push(column);
            push_in(qb, values);
        }
    }
}

pub(super) async fn count(pool: &SqlitePool, scope: Scope, f: &ListFilter) -> DbResult<u64> {
    let mut qb = QueryBuilder::new("SELECT COUNT(*) FROM dataset_versions v WHERE ");
    push_where(&mut qb, scope, f, None);
    let n: i64 = qb.build_query_scalar().fetch_one(pool).await.map_err(map_err)?;
    Ok(n as u64)
}

pub(super) async fn page(pool: &SqlitePool, q: &ListQuery) -> DbResult<Vec<VersionRecord>> {
    let mut qb = QueryBuilder::new(format!("SELECT {VERSION_COLS} FROM dataset_versions v WHERE "));
    push_where(&mut qb, q.scope, &q.filter, None);
    let column = match q.sort {
        SortKey::Name => "v.full_name",
        SortKey::CreatedAt => "v.created_at",
        SortKey::UpdatedAt => "v.updated_at",
        SortKey::RowCount => "v.row_count",
        SortKey::FileSizeBytes => "v.file_size_bytes",
    };
    let dir = match q.dir {
        SortDir::Asc => "ASC",
        SortDir::Desc => "DESC",
    };
    qb.push(format!(" ORDER BY {column} {dir}, v.id {dir} LIMIT "))
        .push_bind(q.limit as i64)
        .push(" OFFSET ")
        .push_bind(q.offset as i64);
    let rows = qb.build().fetch_all(pool).await.map_err(map_err)?;
    rows.iter().map(version_from).collect()
}

async fn facet_values(pool: &SqlitePool, scope: Scope, f: &ListFilter, facet: Facet) -> DbResult<Vec<(String, u64)>> {
    let (select, extra) = match facet {
        Facet::Tags => ("SELECT t.tag AS value, COUNT(*) AS n FROM version_tags t JOIN dataset_versions v ON v.id = t.version_id WHERE ", ""),
        Facet::TaskCategories => (
            "SELECT t.task_category AS value, COUNT(*) AS n FROM version_task_categories t JOIN dataset_versions v ON v.id = t.version_id WHERE ",
            "",
        ),
        Facet::Licenses => ("SELECT v.license AS value, COUNT(*) AS n FROM dataset_versions v WHERE ", " AND v.license IS NOT NULL"),
        Facet::Formats => ("SELECT v.format AS value, COUNT(*) AS n FROM dataset_versions v WHERE ", ""),
        Facet::SizeCategories => ("SELECT v.size_category AS value, COUNT(*) AS n FROM dataset_versions v WHERE ", ""),
    };
    let mut qb = QueryBuilder::new(select);
    push_where(&mut qb, scope, f, Some(facet));
    qb.push(extra).push(" GROUP BY value ORDER BY n DESC, value ASC");
    let rows = qb.build().fetch_all(pool).await.map_err(map_err)?;
    rows.iter()
        .map(|r| {
            let v: String = r.try_get("value").map_err(map_err)?;
            let n: i64 = r.try_get("n").map_err(map_err)?;
            Ok((v, n as u64))
        })
        .collect()
}

pub(super) async fn facets(pool: &SqlitePool, scope: Scope, f: &ListFilter) -> DbResult<Facets> {
    Ok(Facets {
        tags: facet_values(pool, scope, f, Facet::Tags).await?,
        licenses: facet_values(pool, scope, f, Facet::Licenses).await?,
        task_categories: facet_values(pool, scope, f, Facet::TaskCategories).await?,
        formats: facet_values(pool, scope, f, Facet::Formats).await?,
        size_categories: facet_values(pool, scope, f, Facet::SizeCategories).await?,
        filtered_total: count(pool, scope, f).await?,
        total: count(pool, scope, &ListFilter::default()).await?,
    })
}

fn event_from(row: &sqlx::sqlite::SqliteRow) -> DbResult<DownloadEvent> {
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

fn push_activity_where(qb: &mut QueryBuilder<'_, Sqlite>, q: &ActivityQuery) {
    qb.push("org_id = ").push_bind(q.org_id.to_string());
    if let Some(u) = q.user_id {
        qb.push(" AND user_id = ").push_bind(u.to_string());
    }
    if let Some(d) = &q.dataset_name {
        qb.push(" AND dataset_name = ").push_bind(d.clone());
    }
}

pub(super) async fn downloads(pool: &SqlitePool, q: &ActivityQuery) -> DbResult<(Vec<DownloadEvent>, u64)> {
    let mut qb = QueryBuilder::new("SELECT * FROM download_events WHERE ");
    push_activity_where(&mut qb, q);
    qb.push(" ORDER BY seq DESC LIMIT ")
        .push_bind(q.limit as i64)
        .push(" OFFSET ")
        .push_bind(q.offset as i64);
    let rows = qb.build().fetch_all(pool).await.map_err(map_err)?;
    let events = rows.iter().map(event_from).collect::<DbResult<Vec<_>>>()?;
    // Folded totals plus the events past the watermark: exact, and cheap at any volume.
    let mut qb = QueryBuilder::new("SELECT (SELECT COALESCE(SUM(n), 0) FROM download_totals WHERE ");
    push_activity_where(&mut qb, q);
    qb.push(") + (SELECT COUNT(*) FROM download_events WHERE ");
    push_activity_where(&mut qb, q);
    qb.push(" AND seq > (SELECT folded_seq FROM download_fold WHERE id = 1))");
    let total: i64 = qb.build_query_scalar().fetch_one(pool).await.map_err(map_err)?;
    Ok((events, total as u64))
}
