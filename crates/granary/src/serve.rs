//! `granary serve`: configuration in two stages (what the user typed → resolved settings),
//! then the stores are opened, the first-start bootstrap runs, and the server listens.

use anyhow::{bail, Context, Result};
use clap::Args;
use granary_blob::BlobStore;
use granary_db::sql::SqlStore;
use granary_db::MetadataStore;
use granary_server::{bootstrap::ensure_initial_admin, AppState, ServerConfig};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the server keeps its data and listens. Each value comes from the flag, else the
/// environment variable, else the config file, else the default. The flags are global: they
/// may follow a subcommand (`granary admin org create acme --data-dir DIR`).
#[derive(Args, Clone, Default)]
pub struct StoreArgs {
    /// Directory for the database and blobs [default: ./granary-data]
    #[arg(long, env = "GRANARY_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Metadata database: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB [default: sqlite://<data-dir>/granary.db]
    #[arg(long, env = "GRANARY_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Blob store: file:///PATH or s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION, credentials from AWS_* [default: <data-dir>/blobs]
    #[arg(long, env = "GRANARY_BLOB_STORE", global = true)]
    pub blob_store: Option<String>,
    /// TOML config file [default: ./granary.toml if it exists]
    #[arg(long, env = "GRANARY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "GRANARY_LISTEN")]
    listen: Option<String>,
    /// Base URL of links the server hands out, when it runs behind a proxy [default: from the request's Host]
    #[arg(long, env = "GRANARY_PUBLIC_URL")]
    public_url: Option<String>,
    /// How download links serve bytes: stream (through the server) or redirect (to a presigned S3 URL) [default: stream]
    #[arg(long, env = "GRANARY_DOWNLOAD_MODE")]
    download_mode: Option<String>,
    /// Run no viewer jobs (parquet renditions, column statistics) on this server: others do, or `granary admin viewer-run`
    #[arg(long, env = "GRANARY_NO_VIEWER_JOBS")]
    no_viewer_jobs: bool,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// Request and preview limits (docs/OPERATIONS.md). Each value: flag, else environment,
/// else config file, else default.
#[derive(Args, Clone, Default)]
pub struct LimitArgs {
    /// Rate limits per API key (per client address without one): on or off [default: off on SQLite, on with PostgreSQL]
    #[arg(long, env = "GRANARY_RATE_LIMIT")]
    rate_limit: Option<String>,
    /// Metadata requests per second per key when rate limits are on; bursts of twice that [default: 100]
    #[arg(long, env = "GRANARY_RATE_LIMIT_METADATA")]
    rate_limit_metadata: Option<u32>,
    /// Blob transfer requests per second per key when rate limits are on; bursts of twice that [default: 20]
    #[arg(long, env = "GRANARY_RATE_LIMIT_BLOBS")]
    rate_limit_blobs: Option<u32>,
    /// Most MiB one row preview may read plus decompress [default: 64]
    #[arg(long, env = "GRANARY_PREVIEW_MAX_MIB")]
    preview_max_mib: Option<u64>,
    /// Longest one row preview may run, in seconds [default: 10]
    #[arg(long, env = "GRANARY_PREVIEW_TIMEOUT_SECS")]
    preview_timeout_secs: Option<u64>,
    /// How long credentials for the /s3 ingest endpoint stay valid, in seconds [default: 3600]
    #[arg(long, env = "GRANARY_S3_CREDENTIALS_TTL_SECS")]
    s3_credentials_ttl_secs: Option<u64>,
}

/// The config file's keys.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    blob_store: Option<String>,
    public_url: Option<String>,
    download_mode: Option<String>,
    rate_limit: Option<String>,
    rate_limit_metadata: Option<u32>,
    rate_limit_blobs: Option<u32>,
    preview_max_mib: Option<u64>,
    preview_timeout_secs: Option<u64>,
    s3_credentials_ttl_secs: Option<u64>,
}

/// The limits the server runs with, from flags, environment and config file.
fn resolve_limits(
    args: &LimitArgs,
    file: Option<&Path>,
    scale_out: bool,
) -> Result<(
    granary_server::ratelimit::RateLimits,
    u64,
    std::time::Duration,
    std::time::Duration,
)> {
    use granary_server::ratelimit::{Rate, RateLimits};
    let f = read_file_config(file)?;
    let on = match args.rate_limit.clone().or(f.rate_limit).as_deref() {
        None => scale_out,
        Some("on") => true,
        Some("off") => false,
        Some(other) => bail!("invalid --rate-limit {other:?}: use on or off"),
    };
    let rate = |v: Option<u32>, default: u32, flag: &str| -> Result<Option<Rate>> {
        let per_second = v.unwrap_or(default);
        if per_second == 0 {
            bail!("--{flag} must be at least 1 request per second (turn limits off with --rate-limit off)");
        }
        Ok(Some(Rate::per_second(per_second)))
    };
    let limits = if on {
        RateLimits {
            metadata: rate(
                args.rate_limit_metadata.or(f.rate_limit_metadata),
                100,
                "rate-limit-metadata",
            )?,
            blobs: rate(args.rate_limit_blobs.or(f.rate_limit_blobs), 20, "rate-limit-blobs")?,
        }
    } else {
        RateLimits::OFF
    };
    let mib = args.preview_max_mib.or(f.preview_max_mib).unwrap_or(64);
    if !(1..=65536).contains(&mib) {
        bail!("--preview-max-mib must be between 1 and 65536, not {mib}");
    }
    let secs = args.preview_timeout_secs.or(f.preview_timeout_secs).unwrap_or(10);
    if !(1..=3600).contains(&secs) {
        bail!("--preview-timeout-secs must be between 1 and 3600, not {secs}");
    }
    let ttl = args
        .s3_credentials_ttl_secs
        .or(f.s3_credentials_ttl_secs)
        .unwrap_or(3600);
    if !(1..=43200).contains(&ttl) {
        bail!("--s3-credentials-ttl-secs must be between 1 and 43200 (12 h), not {ttl}");
    }
    Ok((
        limits,
        mib << 20,
        std::time::Duration::from_secs(secs),
        std::time::Duration::from_secs(ttl),
    ))
}

fn read_file_config(path: Option<&Path>) -> Result<FileConfig> {
    let (path, required) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from("granary.toml"), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid config file {}: {}", path.display(), toml_error(&text, &e))),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read config file {}", path.display())),
    }
}

/// A TOML error as one line: `line N: message`.
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => format!(
            "line {}: {}",
            text[..span.start.min(text.len())].matches('\n').count() + 1,
            e.message().trim()
        ),
        None => e.message().trim().to_string(),
    }
}

pub struct Resolved {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub blob_store: Option<String>,
    pub listen: String,
    pub public_url: Option<String>,
    pub download_mode: Option<String>,
}

fn resolve(store: &StoreArgs, listen: Option<String>, public_url: Option<String>) -> Result<Resolved> {
    resolve_all(store, listen, public_url, None)
}

fn resolve_all(
    store: &StoreArgs,
    listen: Option<String>,
    public_url: Option<String>,
    download_mode: Option<String>,
) -> Result<Resolved> {
    let file = read_file_config(store.config.as_deref())?;
    Ok(Resolved {
        data_dir: store
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("granary-data")),
        database_url: store.database_url.clone().or(file.database_url),
        blob_store: store.blob_store.clone().or(file.blob_store),
        listen: listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into()),
        public_url: public_url.or(file.public_url),
        download_mode: download_mode.or(file.download_mode),
    })
}

/// Opens the metadata store the settings name.
pub async fn open_db(store: &StoreArgs) -> Result<(Arc<dyn MetadataStore>, PathBuf)> {
    let r = resolve(store, None, None)?;
    let db = open_db_resolved(&r).await?;
    Ok((db, r.data_dir))
}

/// Opens the SQL store the settings name (embedded SQLite or PostgreSQL) as itself, for
/// operations that work below the `MetadataStore` interface (bulk seeding).
pub async fn open_sql(store: &StoreArgs) -> Result<SqlStore> {
    let r = resolve(store, None, None)?;
    match r.database_url.as_deref() {
        None => {
            std::fs::create_dir_all(&r.data_dir)
                .with_context(|| format!("cannot create data directory {}", r.data_dir.display()))?;
            Ok(SqlStore::open_sqlite(&r.data_dir.join("granary.db")).await?)
        }
        Some(url) => Ok(SqlStore::connect(url).await.context("metadata database")?),
    }
}

async fn open_db_resolved(r: &Resolved) -> Result<Arc<dyn MetadataStore>> {
    let db = match r.database_url.as_deref() {
        None => {
            std::fs::create_dir_all(&r.data_dir)
                .with_context(|| format!("cannot create data directory {}", r.data_dir.display()))?;
            SqlStore::open_sqlite(&r.data_dir.join("granary.db"))
                .await
                .with_context(|| format!("metadata database in {}", r.data_dir.display()))?
        }
        Some(url) => SqlStore::connect(url).await.context("metadata database")?,
    };
    Ok(Arc::new(db))
}

/// Opens the blob store the settings name and checks it answers.
pub async fn open_blobs(store: &StoreArgs) -> Result<BlobStore> {
    open_blobs_resolved(&resolve(store, None, None)?).await
}

async fn open_blobs_resolved(r: &Resolved) -> Result<BlobStore> {
    let blobs = match r.blob_store.as_deref() {
        None => BlobStore::local(&r.data_dir.join("blobs")),
        Some(url) => BlobStore::from_url(url),
    }
    .context("blob store")?;
    blobs.check().await.context("blob store")?;
    Ok(blobs)
}

#[cfg(unix)]
fn write_secret(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_secret(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

pub async fn run(args: ServeArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GRANARY_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn,sqlx=warn,object_store=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let r = resolve_all(&args.store, args.listen, args.public_url, args.download_mode)?;
    let download_redirect = match r.download_mode.as_deref().unwrap_or("stream") {
        "stream" => false,
        "redirect" => true,
        other => bail!("invalid download mode {other:?}: use stream or redirect"),
    };
    let addr: SocketAddr = r.listen.parse().with_context(|| {
        format!(
            "invalid listen address {:?}; use HOST:PORT such as 127.0.0.1:8080",
            r.listen
        )
    })?;
    if let Some(u) = &r.public_url {
        url::Url::parse(u).with_context(|| format!("invalid public URL {u:?}"))?;
    }
    let scale_out = r.database_url.as_deref().is_some_and(|u| !u.starts_with("sqlite:"));
    let (rate_limits, preview_max_bytes, preview_timeout, s3_credential_ttl) =
        resolve_limits(&args.limits, args.store.config.as_deref(), scale_out)?;
    let db = open_db_resolved(&r).await?;
    let blobs = open_blobs_resolved(&r).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let base = r.public_url.clone().unwrap_or_else(|| format!("http://{local}"));

    if let Some(first) = ensure_initial_admin(db.as_ref()).await? {
        std::fs::create_dir_all(&r.data_dir)
            .with_context(|| format!("cannot create data directory {}", r.data_dir.display()))?;
        let key_file = r.data_dir.join("initial-admin-key");
        write_secret(&key_file, &format!("{}\n", first.key))
            .with_context(|| format!("cannot write {}", key_file.display()))?;
        println!("Created owner 'admin', organization 'default' and this API key (shown once):\n");
        println!("    {}\n", first.key);
        println!(
            "It is also in {} (readable only by you). Push a first dataset:\n",
            key_file.display()
        );
        println!(
            "    granary login --server {base} --api-key \"$(cat {})\"",
            key_file.display()
        );
        println!("    granary dataset push ./my-dataset   # a directory with dataset.yaml and data files\n");
        println!("Or open {base}/ in a browser and sign in with the key.\n");
    }
    let state = AppState::new(
        db,
        blobs,
        ServerConfig {
            public_url: r.public_url.clone(),
            download_redirect,
            rate_limits,
            preview_max_bytes,
            preview_timeout,
            s3_credential_ttl,
            viewer_jobs: !args.no_viewer_jobs,
            ..Default::default()
        },
    );
    println!("granary listening on http://{local}");
    tracing::info!(%local, data_dir = %r.data_dir.display(), "listening");
    granary_server::serve(listener, state, shutdown()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
