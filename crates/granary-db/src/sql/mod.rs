//! The SQL metadata store, one implementation for both backends through sqlx's `Any`
//! driver: SQLite (the embedded default: one file in WAL mode) and PostgreSQL (shared by any
//! number of servers). The SQL is common; where the dialects differ (`Dialect`) is how a
//! write transaction starts and how concurrent writers are kept in order.
//!
//! Values are stored as text (ids, RFC 3339 UTC timestamps, JSON) and 64-bit integers on
//! both backends, so rows decode the same way everywhere.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use granary_core::{Digest, Role, Version};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::AnyConnection;
use sqlx::{AnyPool, Executor, Row};
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

use crate::*;

mod activity;
mod builder;
mod oci;
pub mod seed;
mod viewer;

/// Events folded per transaction, so one fold never holds locks for long.
const FOLD_BATCH: i64 = 1_000;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Rows of `download_marks` (migrations sqlite 0007, postgres 0006).
const DOWNLOAD_MARK_SHARDS: u128 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

pub struct SqlStore {
    pub(crate) pool: AnyPool,
    /// Where `change_marks` runs: on SQLite a connection of its own, so the one read every
    /// request waits for never queues behind writers holding the pool's connections while
    /// they wait for the write lock; on PostgreSQL the pool.
    marks_pool: AnyPool,
    pub(crate) dialect: Dialect,
}

impl SqlStore {
    /// Closes every connection; later queries fail with [`DbError::Backend`]. For shutdown,
    /// and for tests of what the server does when its database is gone.
    pub async fn close(&self) {
        self.pool.close().await;
        self.marks_pool.close().await;
    }
}

/// A database URL with its password hidden, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Creates database `name` on the PostgreSQL server of `server_url` and returns its URL
/// (for tests and first-time setup; `name` must be a plain identifier).
pub async fn create_postgres_database(server_url: &str, name: &str) -> DbResult<String> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DbError::Backend(format!("invalid database name {name:?}")));
    }
    let mut conn = AnyConnection::connect(server_url).await.map_err(map_err)?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .map_err(map_err)?;
    let mut url = url::Url::parse(server_url).map_err(|e| DbError::Backend(e.to_string()))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Drops database `name` on the PostgreSQL server of `server_url`, closing its connections.
pub async fn drop_postgres_database(server_url: &str, name: &str) -> DbResult<()> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DbError::Backend(format!("invalid database name {name:?}")));
    }
    let mut conn = AnyConnection::connect(server_url).await.map_err(map_err)?;
    conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .map_err(map_err)?;
    Ok(())
}

impl SqlStore {
    /// Opens (creating if needed) a SQLite file and brings its schema up to date.
    pub async fn open_sqlite(path: &Path) -> DbResult<Self> {
        Self::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Opens `sqlite://…` or `postgres://…`, runs pending migrations (PostgreSQL serialises
    /// concurrent migrators with an advisory lock), and checks the connection.
    pub async fn connect(url: &str) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            let scheme = url.split(':').next().unwrap_or(url);
            return Err(DbError::Backend(format!(
                "unsupported database URL scheme {scheme:?}; use sqlite:// or postgres://"
            )));
        };
        let mut url = url.to_string();
        if dialect == Dialect::Sqlite && !url.contains("mode=") {
            url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
        }
        // One plain connection first: a refused or misconfigured database fails here at once,
        // with its own message, rather than as a pool timeout.
        {
            use sqlx::Connection;
            let conn = AnyConnection::connect(&url).await.map_err(|e| {
                DbError::Unavailable(format!("cannot connect to {}: {}", redact(&url), root_message(&e)))
            })?;
            let _ = conn.close().await;
        }
        let options = |max: u32| {
            AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn: &mut AnyConnection, _| {
                Box::pin(async move {
                    let setup = match dialect {
                        Dialect::Sqlite => {
                            // A 512 KiB page cache per connection (SQLite's default is 2 MB): the
                            // eight connections' caches are memory the server holds for good,
                            // and the OS page cache keeps the file's hot pages anyway.
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -512;"
                        }
                        // A statement that runs away is cut off rather than holding a connection.
                        Dialect::Postgres => "SET statement_timeout = 30000",
                    };
                    conn.execute(setup).await.map(|_| ())
                })
            })
        };
        let unavailable =
            |e: sqlx::Error| DbError::Unavailable(format!("cannot connect to {}: {}", redact(&url), root_message(&e)));
        let pool = options(if dialect == Dialect::Sqlite { 8 } else { 16 })
            .connect(&url)
            .await
            .map_err(unavailable)?;
        let migrator = match dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| DbError::Unavailable(format!("migrating {} failed: {e}", redact(&url))))?;
        let marks_pool = match dialect {
            Dialect::Sqlite => options(1).connect(&url).await.map_err(unavailable)?,
            Dialect::Postgres => pool.clone(),
        };
        Ok(SqlStore {
            pool,
            marks_pool,
            dialect,
        })
    }

    /// Starts a write transaction. SQLite takes its single write lock up front, so writers
    /// queue instead of failing on lock upgrade; PostgreSQL locks rows as it goes.
    ///
    /// sqlx's `begin_with` is not cancel-safe: dropped after its `BEGIN` ran but before it
    /// handed back the transaction (a client that disconnects mid-request), it returns the
    /// connection to the pool still inside a transaction that nothing ends — on SQLite one
    /// holding the write lock, so every later write times out. The begin therefore runs in a
    /// task of its own, which finishes even when the caller is gone; a transaction nobody
    /// received is dropped there, and dropping it rolls it back.
    async fn begin_write(&self) -> DbResult<sqlx::Transaction<'static, sqlx::Any>> {
        let begin = match self.dialect {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        };
        let pool = self.pool.clone();
        tokio::spawn(async move { pool.begin_with(begin).await })
            .await
            .map_err(|e| DbError::Backend(format!("starting a transaction failed: {e}")))?
            .map_err(map_err)
    }
}

/// The innermost cause of an error, which names what actually went wrong.
fn root_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn map_err(e: sqlx::Error) -> DbError {
    match e {
        sqlx::Error::PoolTimedOut => DbError::Timeout("no connection available".into()),
        sqlx::Error::Database(ref d) if d.is_unique_violation() => DbError::AlreadyExists(d.message().to_string()),
        sqlx::Error::Database(ref d)
            if d.message().contains("database is locked") || d.code().as_deref() == Some("57014") =>
        {
            DbError::Timeout(d.message().to_string())
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            DbError::Corrupt(e.to_string())
        }
        other => DbError::Backend(other.to_string()),
    }
}

/// Like `map_err`, naming what a uniqueness violation was about.
fn exists_as(what: String) -> impl FnOnce(sqlx::Error) -> DbError {
    move |e| match map_err(e) {
        DbError::AlreadyExists(_) => DbError::AlreadyExists(what),
        other => other,
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn now() -> DateTime<Utc> {
    // Stored with microsecond precision; truncate so values compare equal after a round trip.
    let t = Utc::now();
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

fn corrupt(what: &str, v: &str) -> DbError {
    DbError::Corrupt(format!("bad {what}: {v:?}"))
}

fn get_ts(row: &AnyRow, col: &str) -> DbResult<DateTime<Utc>> {
    let s: String = row.try_get(col).map_err(map_err)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| corrupt(col, &s))
}

fn get_opt_ts(row: &AnyRow, col: &str) -> DbResult<Option<DateTime<Utc>>> {
    let s: Option<String> = row.try_get(col).map_err(map_err)?;
    s.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| corrupt(col, &s))
    })
    .transpose()
}

fn get_uuid(row: &AnyRow, col: &str) -> DbResult<Uuid> {
    let s: String = row.try_get(col).map_err(map_err)?;
    Uuid::parse_str(&s).map_err(|_| corrupt(col, &s))
}

fn get_str(row: &AnyRow, col: &str) -> DbResult<String> {
    row.try_get(col).map_err(map_err)
}

fn get_parsed<T: FromStr>(row: &AnyRow, col: &str) -> DbResult<T> {
    let s = get_str(row, col)?;
    s.parse().map_err(|_| corrupt(col, &s))
}

fn get_json<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> DbResult<T> {
    let s = get_str(row, col)?;
    serde_json::from_str(&s).map_err(|_| corrupt(col, &s))
}

fn get_opt_json<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> DbResult<Option<T>> {
    let s: Option<String> = row.try_get(col).map_err(map_err)?;
    s.map(|s| serde_json::from_str(&s).map_err(|_| corrupt(col, &s)))
        .transpose()
}

fn get_u64(row: &AnyRow, col: &str) -> DbResult<u64> {
    let v: i64 = row.try_get(col).map_err(map_err)?;
    u64::try_from(v).map_err(|_| corrupt(col, &v.to_string()))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialising plain data cannot fail")
}

fn org_from(row: &AnyRow) -> DbResult<Org> {
    Ok(Org {
        id: get_uuid(row, "id")?,
        key: get_str(row, "key")?,
        name: get_str(row, "name")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn user_from(row: &AnyRow) -> DbResult<User> {
    Ok(User {
        id: get_uuid(row, "id")?,
        username: get_str(row, "username")?,
        email: get_str(row, "email")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

/// A live key and its user, from a row of `key_*` columns joined with `users`.
fn live_key_from(row: &AnyRow) -> DbResult<(ApiKey, User)> {
    let user = user_from(row)?;
    let key = ApiKey {
        id: get_uuid(row, "key_id")?,
        user_id: user.id,
        username: user.username.clone(),
        name: get_str(row, "key_name")?,
        prefix: get_str(row, "prefix")?,
        created_at: get_ts(row, "key_created_at")?,
        revoked_at: None,
    };
    Ok((key, user))
}

fn key_from(row: &AnyRow) -> DbResult<ApiKey> {
    Ok(ApiKey {
        id: get_uuid(row, "id")?,
        user_id: get_uuid(row, "user_id")?,
        username: get_str(row, "username")?,
        name: get_str(row, "name")?,
        prefix: get_str(row, "prefix")?,
        created_at: get_ts(row, "created_at")?,
        revoked_at: get_opt_ts(row, "revoked_at")?,
    })
}

fn dataset_from(row: &AnyRow) -> DbResult<Dataset> {
    Ok(Dataset {
        id: get_uuid(row, "id")?,
        org_id: get_uuid(row, "org_id")?,
        name: get_str(row, "name")?,
        is_public: row.try_get::<i64, _>("is_public").map_err(map_err)? != 0,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

/// Columns of a version row (`v`); `download_count` includes events still pending.
const VERSION_COLS: &str =
    "v.id, v.dataset_id, v.org_id, v.name, v.full_name, v.is_public, v.version, v.manifest_digest,
    v.manifest, v.config_digest, v.format, v.data_schema, v.row_count, v.file_size_bytes, v.size_category,
    v.summary, v.description, v.pretty_name, v.license, v.language, v.tags, v.task_categories, v.origin, v.splits,
    v.artifacts_hash, v.created_at, v.updated_at,
    v.download_count + (SELECT COUNT(*) FROM download_pending p WHERE p.version_id = v.id) AS download_count";

const CATALOG_COLS: &str =
    "v.id, v.dataset_id, v.org_id, v.name, v.full_name, v.version, v.is_public, v.summary, v.tags,
    v.task_categories, v.license, v.format, v.size_category, v.row_count, v.file_size_bytes, v.created_at, v.updated_at,
    v.pretty_name, v.language, v.origin";

fn catalog_from(row: &AnyRow) -> DbResult<CatalogRow> {
    Ok(CatalogRow {
        id: get_uuid(row, "id")?,
        dataset_id: get_uuid(row, "dataset_id")?,
        org_id: get_uuid(row, "org_id")?,
        name: get_str(row, "name")?,
        full_name: get_str(row, "full_name")?,
        version: get_parsed(row, "version")?,
        is_public: row.try_get::<i64, _>("is_public").map_err(map_err)? != 0,
        summary: row.try_get("summary").map_err(map_err)?,
        tags: get_json(row, "tags")?,
        task_categories: get_json(row, "task_categories")?,
        license: row.try_get("license").map_err(map_err)?,
        format: get_str(row, "format")?,
        size_category: get_str(row, "size_category")?,
        row_count: get_u64(row, "row_count")?,
        file_size_bytes: get_u64(row, "file_size_bytes")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
        pretty_name: row.try_get("pretty_name").map_err(map_err)?,
        language: get_opt_json(row, "language")?,
        origin: get_opt_json(row, "origin")?,
    })
}

/// Records that a dataset's catalog rows changed, inside the caller's transaction.
async fn note_change(tx: &mut AnyConnection, dialect: Dialect, dataset_id: Uuid) -> DbResult<()> {
    if dialect == Dialect::Postgres {
        // One catalog writer at a time until commit, so change numbers commit in order and a
        // reader that has seen change N can never miss a later-committed change below N.
        sqlx::query("LOCK TABLE catalog_changes IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
    }
    sqlx::query("INSERT INTO catalog_changes (dataset_id) VALUES ($1)")
        .bind(dataset_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Records a change to who may do what, inside the caller's transaction.
async fn note_access_change(tx: &mut AnyConnection, dialect: Dialect) -> DbResult<()> {
    if dialect == Dialect::Postgres {
        // As for catalog changes: change numbers commit in order.
        sqlx::query("LOCK TABLE access_changes IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
    }
    sqlx::query("INSERT INTO access_changes (at) VALUES ($1)")
        .bind(ts(now()))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    Ok(())
}

fn version_from(row: &AnyRow) -> DbResult<VersionRecord> {
    let schema: Vec<(String, String)> = get_json(row, "data_schema")?;
    Ok(VersionRecord {
        id: get_uuid(row, "id")?,
        dataset_id: get_uuid(row, "dataset_id")?,
        org_id: get_uuid(row, "org_id")?,
        name: get_str(row, "name")?,
        full_name: get_str(row, "full_name")?,
        version: get_parsed(row, "version")?,
        is_public: row.try_get::<i64, _>("is_public").map_err(map_err)? != 0,
        manifest_digest: get_parsed(row, "manifest_digest")?,
        manifest: get_str(row, "manifest")?,
        config_digest: get_parsed(row, "config_digest")?,
        meta: VersionMeta {
            format: get_str(row, "format")?,
            data_schema: schema,
            row_count: get_u64(row, "row_count")?,
            file_size_bytes: get_u64(row, "file_size_bytes")?,
            size_category: get_str(row, "size_category")?,
            summary: row.try_get("summary").map_err(map_err)?,
            description: row.try_get("description").map_err(map_err)?,
            pretty_name: row.try_get("pretty_name").map_err(map_err)?,
            license: row.try_get("license").map_err(map_err)?,
            language: get_opt_json(row, "language")?,
            tags: get_json(row, "tags")?,
            task_categories: get_json(row, "task_categories")?,
            origin: get_opt_json(row, "origin")?,
            splits: get_opt_json(row, "splits")?,
            artifacts_hash: get_parsed(row, "artifacts_hash")?,
        },
        files: Vec::new(),
        download_count: get_u64(row, "download_count")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

impl SqlStore {
    async fn publish_once(&self, new: &NewVersion) -> DbResult<PublishOutcome> {
        let mut tx = self.begin_write().await?;
        let t = ts(now());
        let org_key: String = sqlx::query_scalar("SELECT key FROM orgs WHERE id = $1")
            .bind(new.org_id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        let existing = sqlx::query("SELECT id, is_public FROM datasets WHERE org_id = $1 AND name = $2")
            .bind(new.org_id.to_string())
            .bind(&new.name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let (dataset_id, is_public) = match existing {
            Some(row) => {
                let id = get_uuid(&row, "id")?;
                let is_public: i64 = row.try_get("is_public").map_err(map_err)?;
                let prior: Option<String> = sqlx::query_scalar(
                    "SELECT manifest_digest FROM dataset_versions WHERE dataset_id = $1 AND version = $2",
                )
                .bind(id.to_string())
                .bind(new.version.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                if let Some(prior) = prior {
                    drop(tx);
                    let prior: Digest = prior.parse().map_err(|_| corrupt("manifest_digest", &prior))?;
                    if prior == new.manifest_digest {
                        let rec = self.version(new.org_id, &new.name, Some(new.version)).await?;
                        return rec
                            .map(|r| PublishOutcome::Unchanged(Box::new(r)))
                            .ok_or_else(|| DbError::Backend("version vanished during publish".into()));
                    }
                    return Ok(PublishOutcome::Conflict { existing: prior });
                }
                sqlx::query("UPDATE datasets SET updated_at = $2 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(&t)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                (id, is_public)
            }
            None => {
                let id = Uuid::new_v4();
                sqlx::query("INSERT INTO datasets (id, org_id, name, is_public, created_at, updated_at) VALUES ($1, $2, $3, 0, $4, $4)")
                    .bind(id.to_string())
                    .bind(new.org_id.to_string())
                    .bind(&new.name)
                    .bind(&t)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                (id, 0)
            }
        };
        let vid = Uuid::new_v4().to_string();
        let m = &new.meta;
        sqlx::query(
            "INSERT INTO dataset_versions (id, dataset_id, version, major, minor, patch, manifest_digest, manifest,
                config_digest, format, data_schema, row_count, file_size_bytes, size_category, summary, pretty_name,
                license, language, tags, task_categories, origin, splits, artifacts_hash, created_by, created_at, updated_at,
                org_id, name, full_name, is_public, description)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
                $23, $24, $25, $25, $26, $27, $28, $29, $30)",
        )
        .bind(&vid)
        .bind(dataset_id.to_string())
        .bind(new.version.to_string())
        .bind(new.version.major as i64)
        .bind(new.version.minor as i64)
        .bind(new.version.patch as i64)
        .bind(new.manifest_digest.to_string())
        .bind(&new.manifest)
        .bind(new.config_digest.to_string())
        .bind(&m.format)
        .bind(to_json(&m.data_schema))
        .bind(m.row_count as i64)
        .bind(m.file_size_bytes as i64)
        .bind(&m.size_category)
        .bind(&m.summary)
        .bind(&m.pretty_name)
        .bind(&m.license)
        .bind(m.language.as_ref().map(to_json))
        .bind(to_json(&m.tags))
        .bind(to_json(&m.task_categories))
        .bind(m.origin.as_ref().map(to_json))
        .bind(m.splits.as_ref().map(to_json))
        .bind(m.artifacts_hash.to_string())
        .bind(new.created_by.map(|u| u.to_string()))
        .bind(&t)
        .bind(new.org_id.to_string())
        .bind(&new.name)
        .bind(format!("{org_key}/{}", new.name))
        .bind(is_public)
        .bind(&m.description)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some(view) = &new.view {
            let tag = new.version.to_string();
            if let OciPutOutcome::TagIsVersion { existing, .. } =
                oci::insert_content(&mut tx, new.org_id, &new.name, view, Some(&vid), &[&tag], &t).await?
            {
                return Ok(PublishOutcome::TagTaken { existing });
            }
        }
        for f in &new.files {
            sqlx::query(
                "INSERT INTO version_files (version_id, path, digest, size, split, data_schema, row_count)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&vid)
            .bind(&f.path)
            .bind(f.digest.to_string())
            .bind(f.size as i64)
            .bind(&f.split)
            .bind(f.data_schema.as_ref().map(to_json))
            .bind(f.row_count.map(|n| n as i64))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        for tag in dedup(&m.tags) {
            sqlx::query("INSERT INTO version_tags (version_id, tag) VALUES ($1, $2)")
                .bind(&vid)
                .bind(tag)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        for cat in dedup(&m.task_categories) {
            sqlx::query("INSERT INTO version_task_categories (version_id, task_category) VALUES ($1, $2)")
                .bind(&vid)
                .bind(cat)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        viewer::enqueue(&mut tx, &vid, new.org_id, &t).await?;
        note_change(&mut tx, self.dialect, dataset_id).await?;
        tx.commit().await.map_err(map_err)?;
        let rec = self.version(new.org_id, &new.name, Some(new.version)).await?;
        rec.map(|r| PublishOutcome::Created(Box::new(r)))
            .ok_or_else(|| DbError::Backend("version vanished after publish".into()))
    }

    /// A version and its files from one statement, so one snapshot: a version deleted
    /// meanwhile is either read whole or not found, never seen without its files. `pick`
    /// selects the version's id from `dataset_versions v2`, binding `$1`, `$2`, `$3`.
    async fn version_with_files(&self, pick: &str, binds: [Option<String>; 3]) -> DbResult<Option<VersionRecord>> {
        let sql = format!(
            "SELECT {VERSION_COLS}, f.path AS file_path, f.digest AS file_digest, f.size AS file_size, f.split AS file_split,
                    f.data_schema AS file_schema, f.row_count AS file_rows
             FROM dataset_versions v LEFT JOIN version_files f ON f.version_id = v.id
             WHERE v.id = ({pick})
             ORDER BY f.path"
        );
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await.map_err(map_err)?;
        let Some(first) = rows.first() else { return Ok(None) };
        let mut rec = version_from(first)?;
        for r in &rows {
            let Some(path) = r.try_get::<Option<String>, _>("file_path").map_err(map_err)? else {
                continue;
            };
            rec.files.push(FileRecord {
                path,
                digest: get_parsed(r, "file_digest")?,
                size: get_u64(r, "file_size")?,
                split: r.try_get("file_split").map_err(map_err)?,
                data_schema: get_opt_json(r, "file_schema")?,
                row_count: r
                    .try_get::<Option<i64>, _>("file_rows")
                    .map_err(map_err)?
                    .map(|n| u64::try_from(n).map_err(|_| corrupt("file_rows", &n.to_string())))
                    .transpose()?,
            });
        }
        Ok(Some(rec))
    }
}

#[async_trait]
impl MetadataStore for SqlStore {
    async fn ping(&self) -> DbResult<()> {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn user_count(&self) -> DbResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)
    }

    async fn create_org(&self, key: &str, name: &str) -> DbResult<Org> {
        let t = now();
        let org = Org {
            id: Uuid::new_v4(),
            key: key.into(),
            name: name.into(),
            created_at: t,
            updated_at: t,
        };
        sqlx::query("INSERT INTO orgs (id, key, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(org.id.to_string())
            .bind(key)
            .bind(name)
            .bind(ts(t))
            .execute(&self.pool)
            .await
            .map_err(exists_as(format!("organization {key:?}")))?;
        Ok(org)
    }

    async fn org_by_key(&self, key: &str) -> DbResult<Option<Org>> {
        let row = sqlx::query("SELECT * FROM orgs WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(org_from).transpose()
    }

    async fn list_orgs(&self) -> DbResult<Vec<Org>> {
        let rows = sqlx::query("SELECT * FROM orgs ORDER BY key")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(org_from).collect()
    }

    async fn create_user(&self, username: &str, email: &str) -> DbResult<User> {
        let t = now();
        let user = User {
            id: Uuid::new_v4(),
            username: username.into(),
            email: email.into(),
            created_at: t,
            updated_at: t,
        };
        sqlx::query("INSERT INTO users (id, username, email, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(user.id.to_string())
            .bind(username)
            .bind(email)
            .bind(ts(t))
            .execute(&self.pool)
            .await
            .map_err(exists_as(format!("user {username:?}")))?;
        Ok(user)
    }

    async fn user_by_name(&self, username: &str) -> DbResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(user_from).transpose()
    }

    async fn list_users(&self) -> DbResult<Vec<User>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(user_from).collect()
    }

    async fn set_membership(&self, org_id: Uuid, user_id: Uuid, role: Role) -> DbResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(org_id.to_string())
        .bind(user_id.to_string())
        .bind(role.as_str())
        .bind(ts(now()))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        note_access_change(&mut tx, self.dialect).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn remove_membership(&self, org_id: Uuid, user_id: Uuid) -> DbResult<bool> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id.to_string())
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if r.rows_affected() > 0 {
            note_access_change(&mut tx, self.dialect).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn role_of(&self, org_id: Uuid, user_id: Uuid) -> DbResult<Option<Role>> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org_id.to_string())
                .bind(user_id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        role.map(|r| r.parse().map_err(|_| corrupt("role", &r))).transpose()
    }

    async fn list_members(&self, org_id: Uuid) -> DbResult<Vec<(User, Role)>> {
        let rows = sqlx::query(
            "SELECT u.*, m.role FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.username",
        )
        .bind(org_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| Ok((user_from(r)?, get_parsed(r, "role")?)))
            .collect()
    }

    async fn list_user_orgs(&self, user_id: Uuid) -> DbResult<Vec<(Org, Role)>> {
        let rows = sqlx::query(
            "SELECT o.*, m.role FROM memberships m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY o.key",
        )
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| Ok((org_from(r)?, get_parsed(r, "role")?)))
            .collect()
    }

    async fn create_api_key(&self, user_id: Uuid, name: &str, prefix: &str, token_hash: &str) -> DbResult<ApiKey> {
        let t = now();
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, prefix, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(user_id.to_string())
        .bind(name)
        .bind(prefix)
        .bind(token_hash)
        .bind(ts(t))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        let row =
            sqlx::query("SELECT k.*, u.username FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = $1")
                .bind(id.to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(map_err)?;
        key_from(&row)
    }

    async fn authenticate(&self, token_hash: &str) -> DbResult<Option<(ApiKey, User)>> {
        let row = sqlx::query(
            "SELECT k.id AS key_id, k.name AS key_name, k.prefix, k.created_at AS key_created_at, k.revoked_at, u.*
             FROM api_keys k JOIN users u ON u.id = k.user_id
             WHERE k.token_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(|r| live_key_from(&r)).transpose()
    }

    async fn live_api_key(&self, id: Uuid) -> DbResult<Option<(ApiKey, User)>> {
        let row = sqlx::query(
            "SELECT k.id AS key_id, k.name AS key_name, k.prefix, k.created_at AS key_created_at, k.revoked_at, u.*
             FROM api_keys k JOIN users u ON u.id = k.user_id
             WHERE k.id = $1 AND k.revoked_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(|r| live_key_from(&r)).transpose()
    }

    async fn list_api_keys(&self, user_id: Option<Uuid>) -> DbResult<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT k.*, u.username FROM api_keys k JOIN users u ON u.id = k.user_id
             WHERE $1 IS NULL OR k.user_id = $1 ORDER BY k.created_at, k.id",
        )
        .bind(user_id.map(|u| u.to_string()))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(key_from).collect()
    }

    async fn revoke_api_key(&self, id: Uuid) -> DbResult<bool> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(ts(now()))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if r.rows_affected() > 0 {
            note_access_change(&mut tx, self.dialect).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn create_session(&self, token_hash: &str, key_id: Uuid, expires_at: DateTime<Utc>) -> DbResult<()> {
        let t = now();
        sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
            .bind(ts(t))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        sqlx::query("INSERT INTO web_sessions (token_hash, key_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(key_id.to_string())
            .bind(ts(t))
            .bind(ts(expires_at))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> DbResult<Option<(ApiKey, User)>> {
        let row = sqlx::query(
            "SELECT k.id AS key_id, k.name AS key_name, k.prefix, k.created_at AS key_created_at, u.*
             FROM web_sessions s JOIN api_keys k ON k.id = s.key_id JOIN users u ON u.id = k.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL",
        )
        .bind(token_hash)
        .bind(ts(now()))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(|r| live_key_from(&r)).transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn publish_version(&self, new: NewVersion) -> DbResult<PublishOutcome> {
        // Two servers publishing the same name at once (PostgreSQL) can both find it absent;
        // the loser's insert hits a uniqueness rule and is retried, and then sees the winner.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.publish_once(&new).await {
                Err(DbError::AlreadyExists(_)) if attempt < 4 => continue,
                other => return other,
            }
        }
    }

    async fn dataset(&self, org_id: Uuid, name: &str) -> DbResult<Option<Dataset>> {
        let row = sqlx::query("SELECT * FROM datasets WHERE org_id = $1 AND name = $2")
            .bind(org_id.to_string())
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(dataset_from).transpose()
    }

    async fn version(&self, org_id: Uuid, name: &str, version: Option<Version>) -> DbResult<Option<VersionRecord>> {
        self.version_with_files(
            "SELECT v2.id FROM dataset_versions v2
             WHERE v2.org_id = $1 AND v2.name = $2 AND ($3 IS NULL OR v2.version = $3)
             ORDER BY v2.major DESC, v2.minor DESC, v2.patch DESC LIMIT 1",
            [
                Some(org_id.to_string()),
                Some(name.to_string()),
                version.map(|v| v.to_string()),
            ],
        )
        .await
    }

    async fn version_by_digest(&self, org_id: Uuid, name: &str, digest: &Digest) -> DbResult<Option<VersionRecord>> {
        self.version_with_files(
            "SELECT v2.id FROM dataset_versions v2
             WHERE v2.org_id = $1 AND v2.name = $2 AND v2.manifest_digest = $3
             ORDER BY v2.major DESC, v2.minor DESC, v2.patch DESC LIMIT 1",
            [
                Some(org_id.to_string()),
                Some(name.to_string()),
                Some(digest.to_string()),
            ],
        )
        .await
    }

    async fn list_versions(&self, org_id: Uuid, name: &str) -> DbResult<Vec<Version>> {
        Ok(self
            .version_ids(org_id, name)
            .await?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    async fn version_ids(&self, org_id: Uuid, name: &str) -> DbResult<Vec<(Uuid, Version)>> {
        let rows = sqlx::query(
            "SELECT v.id, v.version FROM dataset_versions v
             WHERE v.org_id = $1 AND v.name = $2 ORDER BY v.major DESC, v.minor DESC, v.patch DESC",
        )
        .bind(org_id.to_string())
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let v: String = r.try_get("version").map_err(map_err)?;
                Ok((get_uuid(r, "id")?, v.parse().map_err(|_| corrupt("version", &v))?))
            })
            .collect()
    }

    async fn blob_is_public(&self, org_id: Uuid, digest: &Digest) -> DbResult<bool> {
        oci::version_uses_blob(&self.pool, org_id, digest, true).await
    }

    async fn versions_by_id(&self, ids: &[Uuid]) -> DbResult<Vec<VersionRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = builder::SqlBuilder::new(format!("SELECT {VERSION_COLS} FROM dataset_versions v WHERE v.id IN ("));
        qb.push_list(ids.iter().map(|id| id.to_string())).push(")");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(version_from).collect()
    }

    async fn catalog_snapshot(&self) -> DbResult<(i64, Vec<CatalogRow>)> {
        // The sequence is read first: a change committed meanwhile is reapplied later.
        let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM catalog_changes")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let rows = sqlx::query(&format!("SELECT {CATALOG_COLS} FROM dataset_versions v"))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        Ok((seq, rows.iter().map(catalog_from).collect::<DbResult<_>>()?))
    }

    async fn catalog_changes(&self, since: i64) -> DbResult<(i64, Vec<Uuid>)> {
        let rows = sqlx::query("SELECT seq, dataset_id FROM catalog_changes WHERE seq > $1 ORDER BY seq")
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        let mut newest = since;
        let mut ids = Vec::new();
        for r in &rows {
            newest = newest.max(r.try_get::<i64, _>("seq").map_err(map_err)?);
            let id = get_uuid(r, "dataset_id")?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok((newest, ids))
    }

    async fn change_marks(&self) -> DbResult<ChangeMarks> {
        let row = sqlx::query(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM catalog_changes) AS catalog,
                    (SELECT COALESCE(MAX(seq), 0) FROM access_changes) AS access,
                    (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM download_marks) AS downloads",
        )
        .fetch_one(&self.marks_pool)
        .await
        .map_err(map_err)?;
        Ok(ChangeMarks {
            catalog: row.try_get("catalog").map_err(map_err)?,
            access: row.try_get("access").map_err(map_err)?,
            downloads: row.try_get("downloads").map_err(map_err)?,
        })
    }

    async fn download_counts(&self, ids: &[Uuid]) -> DbResult<HashMap<Uuid, u64>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        // One statement text for any number of ids (a JSON array parameter), so it is
        // prepared once per connection and kept.
        let sql = match self.dialect {
            Dialect::Sqlite => {
                "SELECT v.id, v.download_count + (SELECT COUNT(*) FROM download_pending p WHERE p.version_id = v.id) AS n
                 FROM dataset_versions v WHERE v.id IN (SELECT value FROM json_each($1))"
            }
            Dialect::Postgres => {
                "SELECT v.id, v.download_count + (SELECT COUNT(*) FROM download_pending p WHERE p.version_id = v.id) AS n
                 FROM dataset_versions v WHERE v.id IN (SELECT json_array_elements_text($1::json))"
            }
        };
        let list = serde_json::to_string(&ids.iter().map(|i| i.to_string()).collect::<Vec<_>>()).expect("strings");
        let rows = sqlx::query(sql)
            .bind(list)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| Ok((get_uuid(r, "id")?, get_u64(r, "n")?)))
            .collect()
    }

    async fn catalog_rows(&self, dataset_ids: &[Uuid]) -> DbResult<Vec<CatalogRow>> {
        if dataset_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = builder::SqlBuilder::new(format!(
            "SELECT {CATALOG_COLS} FROM dataset_versions v WHERE v.dataset_id IN ("
        ));
        qb.push_list(dataset_ids.iter().map(|id| id.to_string())).push(")");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(catalog_from).collect()
    }

    async fn delete_version(&self, org_id: Uuid, name: &str, version: Version) -> DbResult<bool> {
        let mut tx = self.begin_write().await?;
        let dataset_id: Option<String> = sqlx::query_scalar("SELECT id FROM datasets WHERE org_id = $1 AND name = $2")
            .bind(org_id.to_string())
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let Some(dataset_id) = dataset_id else { return Ok(false) };
        // The version's /v2/ tag goes with it (stated, not left to the foreign key), and its
        // view too once no other tag names it.
        let version_id: Option<String> =
            sqlx::query_scalar("SELECT id FROM dataset_versions WHERE org_id = $1 AND name = $2 AND version = $3")
                .bind(org_id.to_string())
                .bind(name)
                .bind(version.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        if let Some(vid) = &version_id {
            let view = oci::view_digest(&mut tx, vid).await?;
            sqlx::query("DELETE FROM oci_tags WHERE version_id = $1")
                .bind(vid)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            if let Some((repo, digest)) = view {
                oci::drop_if_untagged(&mut tx, org_id, &repo, &digest).await?;
            }
            viewer::forget(&mut tx, vid).await?;
        }
        let gone = sqlx::query("DELETE FROM dataset_versions WHERE org_id = $1 AND name = $2 AND version = $3")
            .bind(org_id.to_string())
            .bind(name)
            .bind(version.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        if gone > 0 {
            sqlx::query(
                "DELETE FROM datasets WHERE org_id = $1 AND name = $2
                 AND NOT EXISTS (SELECT 1 FROM dataset_versions v WHERE v.dataset_id = datasets.id)",
            )
            .bind(org_id.to_string())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        if gone > 0 {
            note_change(
                &mut tx,
                self.dialect,
                Uuid::parse_str(&dataset_id).map_err(|_| corrupt("dataset id", &dataset_id))?,
            )
            .await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(gone > 0)
    }

    async fn set_visibility(&self, org_id: Uuid, name: &str, is_public: bool) -> DbResult<Option<Dataset>> {
        let mut tx = self.begin_write().await?;
        let t = ts(now());
        let row = sqlx::query(
            "UPDATE datasets SET is_public = $3, updated_at = $4 WHERE org_id = $1 AND name = $2 RETURNING *",
        )
        .bind(org_id.to_string())
        .bind(name)
        .bind(is_public as i64)
        .bind(&t)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let dataset = dataset_from(&row)?;
        sqlx::query("UPDATE dataset_versions SET is_public = $2, updated_at = $3 WHERE dataset_id = $1")
            .bind(dataset.id.to_string())
            .bind(is_public as i64)
            .bind(&t)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        note_change(&mut tx, self.dialect, dataset.id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some(dataset))
    }

    async fn record_download(&self, ev: NewDownload) -> DbResult<DownloadEvent> {
        // Time-ordered ids keep the unique index append-only.
        let id = Uuid::now_v7();
        let t = now();
        // The event and its pending mark commit together: a download is never half-recorded.
        let mut tx = self.begin_write().await?;
        // The version must still exist, and stays until this commits (SQLite: the write lock
        // is held; PostgreSQL: a key-share lock holds off a concurrent delete).
        let lock = if self.dialect == Dialect::Postgres {
            " FOR KEY SHARE"
        } else {
            ""
        };
        let exists: Option<String> =
            sqlx::query_scalar(&format!("SELECT id FROM dataset_versions WHERE id = $1{lock}"))
                .bind(ev.version_id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        if exists.is_none() {
            return Err(DbError::NotFound(format!("{}@{}", ev.dataset_name, ev.version)));
        }
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO download_events (id, org_id, version_id, dataset_name, version, split, user_id, username, user_org, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
        )
        .bind(id.to_string())
        .bind(ev.org_id.to_string())
        .bind(ev.version_id.to_string())
        .bind(&ev.dataset_name)
        .bind(ev.version.to_string())
        .bind(&ev.split)
        .bind(ev.user_id.to_string())
        .bind(&ev.username)
        .bind(&ev.user_org)
        .bind(ts(t))
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO download_pending (seq, org_id, version_id, dataset_name, user_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(seq)
        .bind(ev.org_id.to_string())
        .bind(ev.version_id.to_string())
        .bind(&ev.dataset_name)
        .bind(ev.user_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        // Moves the download mark in the same transaction; the row is picked from the event
        // id's random bits so concurrent downloads rarely wait on one another.
        let shard = (id.as_u128() % DOWNLOAD_MARK_SHARDS) as i64;
        sqlx::query("UPDATE download_marks SET n = n + 1 WHERE shard = $1")
            .bind(shard)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(DownloadEvent {
            id,
            seq,
            version_id: ev.version_id,
            dataset_name: ev.dataset_name,
            version: ev.version.to_string(),
            split: ev.split,
            user_id: ev.user_id,
            username: ev.username,
            user_org: ev.user_org,
            created_at: t,
        })
    }

    async fn fold_downloads(&self) -> DbResult<u64> {
        let mut folded = 0u64;
        loop {
            let mut tx = self.begin_write().await?;
            // The batch is locked row by row (PostgreSQL), so two servers folding at once
            // never fold the same event; an event committed meanwhile waits for the next fold.
            let lock = if self.dialect == Dialect::Postgres {
                " FOR UPDATE SKIP LOCKED"
            } else {
                ""
            };
            let seqs: Vec<i64> = sqlx::query_scalar(&format!(
                "SELECT seq FROM download_pending ORDER BY seq LIMIT {FOLD_BATCH}{lock}"
            ))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            if seqs.is_empty() {
                return Ok(folded);
            }
            // The batch, by sequence number, in each of the three statements below.
            let batch = |sql: &str, tail: &str| {
                let mut qb = builder::SqlBuilder::new(sql);
                qb.push_list(seqs.iter().copied()).push(tail);
                qb
            };
            batch(
                "UPDATE dataset_versions SET download_count = download_count + c.n
                 FROM (SELECT version_id, COUNT(*) AS n FROM download_pending WHERE seq IN (",
                ") GROUP BY version_id) AS c WHERE dataset_versions.id = c.version_id",
            )
            .build()
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            batch(
                "INSERT INTO download_totals (org_id, dataset_name, user_id, n)
                 SELECT org_id, dataset_name, user_id, COUNT(*) FROM download_pending WHERE seq IN (",
                ") GROUP BY org_id, dataset_name, user_id
                 ON CONFLICT (org_id, dataset_name, user_id) DO UPDATE SET n = download_totals.n + excluded.n",
            )
            .build()
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            batch(
                "INSERT INTO download_org_totals (org_id, n)
                 SELECT org_id, COUNT(*) FROM download_pending WHERE seq IN (",
                ") GROUP BY org_id
                 ON CONFLICT (org_id) DO UPDATE SET n = download_org_totals.n + excluded.n",
            )
            .build()
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            batch(
                "INSERT INTO download_dataset_totals (org_id, dataset_name, n)
                 SELECT org_id, dataset_name, COUNT(*) FROM download_pending WHERE seq IN (",
                ") GROUP BY org_id, dataset_name
                 ON CONFLICT (org_id, dataset_name) DO UPDATE SET n = download_dataset_totals.n + excluded.n",
            )
            .build()
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            batch("DELETE FROM download_pending WHERE seq IN (", ")")
                .build()
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            folded += seqs.len() as u64;
        }
    }

    async fn list_downloads(&self, q: &ActivityQuery) -> DbResult<(Vec<DownloadEvent>, u64)> {
        activity::downloads(&self.pool, q).await
    }

    async fn viewer_claim(
        &self,
        lease: Uuid,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> DbResult<Option<ViewerClaim>> {
        viewer::claim(&self.pool, lease, until, now).await
    }

    async fn viewer_renew(&self, claim: &ViewerClaim, until: DateTime<Utc>) -> DbResult<bool> {
        viewer::renew(&self.pool, claim, until).await
    }

    async fn viewer_finish(
        &self,
        claim: &ViewerClaim,
        renditions: &[Rendition],
        result: &str,
        now: DateTime<Utc>,
    ) -> DbResult<bool> {
        viewer::finish(self.begin_write().await?, claim, renditions, result, now).await
    }

    async fn viewer_fail(&self, claim: &ViewerClaim, error: &str, retry: bool, now: DateTime<Utc>) -> DbResult<()> {
        viewer::fail(&self.pool, claim, error, retry, now).await
    }

    async fn viewer_status(&self, version_id: Uuid) -> DbResult<Option<ViewerStatus>> {
        viewer::status(&self.pool, version_id).await
    }

    async fn viewer_requeue_failed(&self, now: DateTime<Utc>) -> DbResult<Vec<Uuid>> {
        viewer::requeue_failed(&self.pool, now).await
    }

    async fn viewer_held(&self, now: DateTime<Utc>) -> DbResult<Vec<(Uuid, DateTime<Utc>)>> {
        viewer::held(&self.pool, now).await
    }

    async fn downloads_per_day(
        &self,
        org_id: Uuid,
        dataset_name: &str,
        since: DateTime<Utc>,
    ) -> DbResult<Vec<DailyDownloads>> {
        activity::per_day(&self.pool, org_id, dataset_name, since).await
    }

    async fn oci_put_manifest(
        &self,
        org_id: Uuid,
        repo: &str,
        content: &OciContent,
        tags: &[&str],
    ) -> DbResult<OciPutOutcome> {
        let mut tx = self.begin_write().await?;
        let out = oci::insert_content(&mut tx, org_id, repo, content, None, tags, &ts(now())).await?;
        if out == OciPutOutcome::Stored {
            tx.commit().await.map_err(map_err)?;
        }
        Ok(out)
    }

    async fn oci_manifest(&self, org_id: Uuid, repo: &str, digest: &Digest) -> DbResult<Option<OciManifestRecord>> {
        oci::manifest(&self.pool, org_id, repo, digest).await
    }

    async fn oci_tagged(&self, org_id: Uuid, repo: &str, tag: &str) -> DbResult<Option<OciManifestRecord>> {
        oci::tagged(&self.pool, org_id, repo, tag).await
    }

    async fn oci_tags(&self, org_id: Uuid, repo: &str, last: Option<&str>, n: Option<u32>) -> DbResult<Vec<String>> {
        oci::tags(&self.pool, self.dialect, org_id, repo, last, n).await
    }

    async fn oci_referrers(&self, org_id: Uuid, repo: &str, digest: &Digest) -> DbResult<Vec<OciManifestRecord>> {
        oci::referrers(&self.pool, org_id, repo, digest).await
    }

    async fn oci_delete_manifest(&self, org_id: Uuid, repo: &str, digest: &Digest) -> DbResult<bool> {
        let mut tx = self.begin_write().await?;
        let gone = oci::delete_manifest(&mut tx, org_id, repo, digest).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(gone)
    }

    async fn oci_delete_tag(&self, org_id: Uuid, repo: &str, tag: &str) -> DbResult<bool> {
        oci::delete_tag(&self.pool, org_id, repo, tag).await
    }

    async fn blob_in_version(&self, org_id: Uuid, digest: &Digest) -> DbResult<bool> {
        oci::version_uses_blob(&self.pool, org_id, digest, false).await
    }

    async fn versions_without_view(&self, limit: u32) -> DbResult<Vec<VersionRecord>> {
        let ids = oci::versions_without_view(&self.pool, limit).await?;
        self.versions_by_id(&ids).await
    }

    async fn set_version_view(&self, version: &VersionRecord, view: &OciContent) -> DbResult<bool> {
        let mut tx = self.begin_write().await?;
        let tag = version.version.to_string();
        let vid = version.id.to_string();
        let (org, repo) = (version.org_id, version.name.as_str());
        // A tag taken by other content keeps it.
        if oci::insert_content(&mut tx, org, repo, view, Some(&vid), &[&tag], &ts(now())).await?
            != OciPutOutcome::Stored
        {
            return Ok(false);
        }
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn referenced_digests(&self, org_id: Uuid) -> DbResult<std::collections::HashSet<String>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT f.digest FROM version_files f JOIN dataset_versions v ON v.id = f.version_id WHERE v.org_id = $1
             UNION SELECT v.config_digest FROM dataset_versions v WHERE v.org_id = $1
             UNION SELECT r.target FROM oci_refs r WHERE r.org_id = $1
             UNION SELECT x.digest FROM viewer_renditions x WHERE x.org_id = $1",
        )
        .bind(org_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows.into_iter().collect())
    }

    async fn setting_or_init(&self, key: &str, init: &str) -> DbResult<String> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(init)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)
    }
}

fn dedup(v: &[String]) -> Vec<&String> {
    let mut seen = std::collections::BTreeSet::new();
    v.iter().filter(|s| seen.insert(s.as_str())).collect()
}
