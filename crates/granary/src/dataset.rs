//! `granary dataset …`: inspect a local directory, push it, look up published versions.

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use futures::{StreamExt, TryStreamExt};
use granary_core::{validate_dataset_name, DataFormat, Version};
use granary_infer::TableFile;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::path::PathBuf;

use crate::client::Client;
use crate::local::{load, LocalDataset};
use crate::login::Remote;
use crate::output::{bytes, count, table};

#[derive(Subcommand)]
pub enum DatasetCommand {
    /// Show what a dataset directory holds, as it would be published.
    Inspect {
        /// Directory with dataset.yaml and data files
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Publish a dataset directory; uploads only the files the registry lacks.
    Push {
        dir: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a published dataset: [org/]name[@version].
    Info {
        reference: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show the first rows of a published version: [org/]name[@version].
    Preview {
        reference: String,
        /// The split to show [default: train, else the first]
        #[arg(long)]
        split: Option<String>,
        /// Rows, 1 to 100
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// The registry's answer as JSON: exact values (docs/API.md, "Preview values")
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List and search dataset versions.
    #[command(alias = "ls")]
    List(ListArgs),
    /// Download a version's files, verified against their digests: [org/]name[@version].
    Pull {
        reference: String,
        /// Directory to write into [default: ./<name>]
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Only this split's file
        #[arg(long)]
        split: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Make datasets (every version) visible to other organizations.
    Publish {
        #[arg(required = true)]
        names: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Make datasets private again.
    Unpublish {
        #[arg(required = true)]
        names: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete one version: [org/]name@version. Asks first on a terminal.
    Delete {
        reference: String,
        /// Do not ask
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Who downloaded what, newest first.
    Activity {
        /// Only this dataset
        #[arg(long)]
        dataset: Option<String>,
        /// Only this user: a username or user id
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// Case-insensitive substring of name or summary
    search: Option<String>,
    /// Exact dataset name
    #[arg(long)]
    name: Option<String>,
    /// Any of these tags (repeatable)
    #[arg(long = "tag")]
    tags: Vec<String>,
    #[arg(long)]
    license: Vec<String>,
    #[arg(long = "task-category")]
    task_categories: Vec<String>,
    #[arg(long)]
    format: Vec<String>,
    #[arg(long = "size-category")]
    size_categories: Vec<String>,
    /// Also public datasets of other organizations
    #[arg(long)]
    include_public: bool,
    /// name, created_at, updated_at, row_count or file_size_bytes
    #[arg(long, default_value = "created_at")]
    sort_by: String,
    /// asc or desc
    #[arg(long, default_value = "desc")]
    sort_dir: String,
    #[arg(long, default_value_t = 1)]
    page: u32,
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

pub async fn run(cmd: DatasetCommand) -> Result<()> {
    match cmd {
        DatasetCommand::Inspect { dir, json } => inspect(dir, json).await,
        DatasetCommand::Push { dir, remote } => push(dir, remote).await,
        DatasetCommand::Info {
            reference,
            json,
            remote,
        } => info(reference, json, remote).await,
        DatasetCommand::Preview {
            reference,
            split,
            limit,
            json,
            remote,
        } => preview(reference, split, limit, json, remote).await,
        DatasetCommand::List(args) => list(args).await,
        DatasetCommand::Pull {
            reference,
            output,
            split,
            remote,
        } => pull(reference, output, split, remote).await,
        DatasetCommand::Publish { names, remote } => visibility(names, true, remote).await,
        DatasetCommand::Unpublish { names, remote } => visibility(names, false, remote).await,
        DatasetCommand::Delete { reference, yes, remote } => delete(reference, yes, remote).await,
        DatasetCommand::Activity {
            dataset,
            user,
            limit,
            offset,
            json,
            remote,
        } => activity(dataset, user, limit, offset, json, remote).await,
    }
}

async fn load_async(dir: PathBuf) -> Result<LocalDataset> {
    tokio::task::spawn_blocking(move || load(&dir)).await?
}

async fn inspect(dir: PathBuf, as_json: bool) -> Result<()> {
    let ds = load_async(dir).await?;
    if as_json {
        let mut v = serde_json::to_value(&ds.config)?;
        v["name"] = json!(ds.name);
        v["version"] = json!(ds.version.to_string());
        v["file_size_bytes"] = json!(ds.size());
        v["files"] = json!(ds
            .files
            .iter()
            .map(|f| json!({
                "path": f.path, "digest": f.digest.to_string(), "size": f.size, "split": f.split,
                "row_count": f.inferred.rows, "data_schema": schema_json(&f.inferred.columns),
            }))
            .collect::<Vec<_>>());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let c = &ds.config;
    println!(
        "name:      {}",
        ds.org.as_ref().map_or(ds.name.clone(), |o| format!("{o}/{}", ds.name))
    );
    println!("version:   {}", ds.version);
    println!("format:    {}", c.format);
    println!("rows:      {}", count(ds.rows()));
    println!(
        "size:      {} ({})",
        bytes(ds.size()),
        c.size_category.as_deref().unwrap_or("-")
    );
    if let Some(s) = &c.summary {
        println!("summary:   {s}");
    }
    if let Some(s) = &c.pretty_name {
        println!("title:     {s}");
    }
    println!("license:   {}", c.license.as_deref().unwrap_or("-"));
    let list = |v: &Option<Vec<String>>| v.as_ref().filter(|v| !v.is_empty()).map(|v| v.join(", "));
    if let Some(t) = list(&c.tags) {
        println!("tags:      {t}");
    }
    if let Some(t) = list(&c.task_categories) {
        println!("tasks:     {t}");
    }
    if let Some(t) = list(&c.language) {
        println!("language:  {t}");
    }
    if let Some(origin) = &c.origin {
        let o: Vec<String> = origin
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.as_str().map_or(v.to_string(), str::to_string)))
            .collect();
        println!("origin:    {}", o.join(", "));
    }
    if let Some(splits) = &c.splits {
        let s: Vec<String> = splits.iter().map(|(k, v)| format!("{k} → {v}")).collect();
        println!("splits:    {}", s.join(", "));
    }
    println!();
    table(
        &["FILE", "SPLIT", "ROWS", "SIZE", "DIGEST"],
        ds.files
            .iter()
            .map(|f| {
                vec![
                    f.path.clone(),
                    f.split.clone().unwrap_or_else(|| "-".into()),
                    count(f.inferred.rows),
                    bytes(f.size),
                    format!("{}…", &f.digest.to_string()[..19]),
                ]
            })
            .collect(),
    );
    let own: Vec<OwnSchema> = ds
        .files
        .iter()
        .map(|f| OwnSchema {
            path: &f.path,
            split: f.split.as_deref(),
            columns: &f.inferred.columns,
        })
        .collect();
    schemas(&ds.schema, &own);
    Ok(())
}

/// A schema as the wire's `{column: type}` object, in column order.
fn schema_json(columns: &[(String, String)]) -> Value {
    Value::Object(columns.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// Prints the version's schema, and, when some file's own schema differs from it (splits
/// holding different tables, shards adding columns), each file's.
/// A file's own schema, for [`schemas`].
struct OwnSchema<'a> {
    path: &'a str,
    split: Option<&'a str>,
    columns: &'a [(String, String)],
}

fn schemas(version: &[(String, String)], files: &[OwnSchema]) {
    let rows = |c: &[(String, String)]| c.iter().map(|(n, t)| vec![n.clone(), t.clone()]).collect();
    if files.iter().all(|f| granary_infer::same_columns(f.columns, version)) {
        println!();
        table(&["COLUMN", "TYPE"], rows(version));
        return;
    }
    println!();
    println!("version schema:");
    table(&["COLUMN", "TYPE"], rows(version));
    for f in files {
        println!();
        match f.split {
            Some(s) => println!("{} (split {s}):", f.path),
            None => println!("{}:", f.path),
        }
        table(&["COLUMN", "TYPE"], rows(f.columns));
    }
}

/// Files smaller than this are hashed before they are sent, so one the server already has
/// is skipped even when the digest cache does not know it.
const HASH_FIRST_BELOW: u64 = 8 << 20;

/// Files uploaded at once.
const PARALLEL_FILES: usize = 4;

async fn push(dir: PathBuf, remote: Remote) -> Result<()> {
    // Parquet and Arrow files are read from their footers, which is quick: a file that is not
    // one is reported before anything is sent. Text formats are read whole, beside the upload.
    let (plan, mut early) = tokio::task::spawn_blocking(move || -> Result<_> {
        let plan = crate::local::plan(&dir)?;
        plan.report_skipped();
        let mut early = Vec::with_capacity(plan.files.len());
        for f in &plan.files {
            let quick = matches!(f.format, DataFormat::Parquet | DataFormat::Arrow | DataFormat::Feather);
            early.push(if quick { Some(crate::local::infer(f)?) } else { None });
        }
        // Files already read that do not belong together are refused before anything is
        // sent: more files only add differences (granary_infer::version_schema).
        let known: Vec<TableFile> = plan
            .files
            .iter()
            .zip(&early)
            .filter_map(|(f, i)| {
                i.as_ref().map(|i| TableFile {
                    path: &f.path,
                    split: f.split.as_deref(),
                    format: f.format,
                    columns: &i.columns,
                })
            })
            .collect();
        granary_infer::version_schema(&known).map_err(|e| anyhow!("{e}"))?;
        Ok((plan, early))
    })
    .await??;
    let (client, profile_org) = remote.client()?;
    let org = remote
        .org
        .clone()
        .or(plan.org().map(str::to_string))
        .or(profile_org)
        .ok_or_else(|| {
            anyhow!("no organization: pass --org ORG, write `name: org/name` in dataset.yaml, or run `granary login`")
        })?;
    let name = plan.name().to_string();
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:<24!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        .expect("valid template")
        .progress_chars("=> ");
    let cache = std::sync::Arc::new(crate::digests::DigestCache::load());
    // The target version first: if it exists, it holds either these files (nothing to do)
    // or others (the registry would refuse the manifest once every byte was sent).
    let version = plan.version().to_string();
    if let Some(d) = client
        .get_json_opt(&format!("/api/v1/org/{org}/datasets/{name}/{version}"))
        .await?
    {
        let mut local = Vec::with_capacity(plan.files.len());
        for f in &plan.files {
            let meta = std::fs::metadata(&f.abs).with_context(|| format!("cannot read {}", f.abs.display()))?;
            let digest = match cache.get(&f.abs, &meta) {
                Some(d) => d,
                None => {
                    let abs = f.abs.clone();
                    let d = tokio::task::spawn_blocking(move || crate::local::hash_file(&abs))
                        .await??
                        .0;
                    cache.put(&f.abs, &meta, &d);
                    d
                }
            };
            local.push((f.path.clone(), f.split.clone(), digest));
        }
        cache.save();
        let differences = plan.differences(&local, &d);
        if differences.is_empty() {
            eprintln!("nothing to push: these files and fields are what {org}/{name}@{version} holds");
            println!(
                "Already published {org}/{name}@{version} ({})",
                d["manifest_digest"].as_str().unwrap_or("?")
            );
            return Ok(());
        }
        bail!(
            "{org}/{name}@{version} is already published with different {}; versions are immutable: set a new `version:` in dataset.yaml, or delete this one first (granary dataset delete {org}/{name}@{version})",
            differences.join(", ")
        );
    }
    let sessions = crate::sessions::UploadSessions::open();
    // Files a few at a time. A file whose digest is known (small, or in the digest cache)
    // and that the server has is not sent again. A text file's schema and row count are
    // asked of the server once it holds the file: the server reads it (it must, to publish)
    // while the other files are still being sent, and the manifest then finds the answer
    // cached, so the file is read once instead of once on each side, one after the other.
    let work = plan
        .files
        .iter()
        .zip(early.iter_mut().map(Option::take))
        .map(|(f, inferred)| {
            let (client, org, name, bars, style, cache, sessions) =
                (&client, &org, &name, &bars, &style, cache.clone(), &sessions);
            async move {
                let file = crate::local::PlannedFile {
                    path: f.path.clone(),
                    abs: f.abs.clone(),
                    format: f.format,
                    split: f.split.clone(),
                };
                let meta = tokio::fs::metadata(&f.abs)
                    .await
                    .with_context(|| format!("cannot read {}", f.abs.display()))?;
                let size = meta.len();
                let mut known = cache.get(&f.abs, &meta);
                if known.is_none() && size < HASH_FIRST_BELOW {
                    let abs = f.abs.clone();
                    known = Some(
                        tokio::task::spawn_blocking(move || crate::local::hash_file(&abs))
                            .await??
                            .0,
                    );
                }
                let bar = || {
                    let bar = bars.add(ProgressBar::new(size));
                    bar.set_style(style.clone());
                    bar.set_prefix(f.path.clone());
                    bar
                };
                // A session an earlier run left (client killed, server restarted) is
                // continued where the registry stopped.
                let saved = sessions.for_file(client.base(), org, &f.abs, &meta);
                let mut resumed = None;
                if let Some(location) = saved.location() {
                    let bar = bar();
                    match client
                        .resume_upload(&location, &f.abs, known.clone(), size, &bar)
                        .await?
                    {
                        Some(d) => {
                            bar.finish();
                            resumed = Some(d);
                        }
                        None => bar.finish_and_clear(),
                    }
                    saved.clear();
                }
                let (digest, uploaded) = match (resumed, known) {
                    (Some(d), _) => (d, true),
                    (None, Some(d)) if client.blob_exists(org, &d).await? => (d, false),
                    (None, Some(d)) => {
                        let bar = bar();
                        client.upload_file((org, name), &f.abs, &d, size, &bar, &saved).await?;
                        bar.finish();
                        (d, true)
                    }
                    (None, None) => {
                        let bar = bar();
                        let d = client
                            .upload_file_hashing((org, name), &f.abs, size, &bar, &saved)
                            .await?;
                        bar.finish();
                        (d, true)
                    }
                };
                cache.put(&f.abs, &meta, &digest);
                let inferred = match inferred {
                    Some(done) => done,
                    None => client
                        .blob_schema(org, &digest, file.format)
                        .await
                        .map_err(|e| anyhow!("{}: {e}", file.path))?,
                };
                Ok::<_, anyhow::Error>((crate::local::FileFacts { digest, size, inferred }, uploaded))
            }
        });
    let results: Vec<(crate::local::FileFacts, bool)> = futures::stream::iter(work)
        .buffered(PARALLEL_FILES)
        .try_collect()
        .await?;
    cache.save();
    let uploaded = results.iter().filter(|(_, u)| *u).count();
    let skipped = results.len() - uploaded;
    let ds = crate::local::finish(plan, results.into_iter().map(|(f, _)| f).collect())?;
    let config_digest = granary_core::Digest::of(&ds.config_bytes);
    if !client.blob_exists(&org, &config_digest).await? {
        client.upload_bytes(&org, &ds.name, ds.config_bytes.clone()).await?;
    }
    let digest = client
        .put_manifest(&org, &ds.name, &ds.version.to_string(), ds.manifest_bytes(&org))
        .await?;
    eprintln!("{uploaded} file(s) uploaded, {skipped} already on the server");
    println!("Pushed {org}/{}@{} ({digest})", ds.name, ds.version);
    Ok(())
}

/// `[org/]name[@version]`
fn parse_ref(reference: &str) -> Result<(Option<String>, String, Option<Version>)> {
    let (rest, version) = match reference.rsplit_once('@') {
        Some((r, v)) => (r, Some(v.parse::<Version>().map_err(|e| anyhow!("{e}"))?)),
        None => (reference, None),
    };
    let (org, name) = match rest.split_once('/') {
        Some((o, n)) => (Some(o.to_string()), n.to_string()),
        None => (None, rest.to_string()),
    };
    validate_dataset_name(&name)?;
    Ok((org, name, version))
}

/// A client and the org a reference lives in: its own `org/`, else `--org`, else the profile's.
fn connect(remote: &Remote, org: Option<String>) -> Result<(Client, String)> {
    let (client, profile_org) = remote.client()?;
    let org = org.or(remote.org.clone()).or(profile_org).ok_or_else(|| {
        anyhow!("no organization: write the reference as org/name, pass --org, or run `granary login`")
    })?;
    Ok((client, org))
}

async fn preview(reference: String, split: Option<String>, limit: u32, as_json: bool, remote: Remote) -> Result<()> {
    let (org, name, version) = parse_ref(&reference)?;
    let (client, org) = connect(&remote, org)?;
    let version = match version {
        Some(v) => v.to_string(),
        None => client.get_json(&format!("/api/v1/org/{org}/datasets/{name}")).await?["version"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    let mut query = format!("limit={limit}");
    if let Some(s) = &split {
        let s = percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC);
        query.push_str(&format!("&split={s}"));
    }
    let p = client
        .get_json(&format!("/api/v1/org/{org}/datasets/{name}/{version}/preview?{query}"))
        .await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&p)?);
        return Ok(());
    }
    let columns: Vec<String> = p["columns"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["name"].as_str()).map(String::from).collect())
        .unwrap_or_default();
    let cell = |v: &Value| {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        match text.char_indices().nth(40) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    };
    let rows: Vec<Vec<String>> = p["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| columns.iter().map(|c| cell(&r[c.as_str()])).collect())
                .collect()
        })
        .unwrap_or_default();
    let header: Vec<&str> = columns.iter().map(String::as_str).collect();
    let shown = rows.len();
    table(&header, rows);
    let of = p["split"]
        .as_str()
        .map(|s| format!(" of the {s} split"))
        .unwrap_or_default();
    eprintln!("first {shown} row(s){of} of {org}/{name}@{version}");
    Ok(())
}

async fn info(reference: String, as_json: bool, remote: Remote) -> Result<()> {
    let (org, name, version) = parse_ref(&reference)?;
    let (client, org) = connect(&remote, org)?;
    let path = match version {
        Some(v) => format!("/api/v1/org/{org}/datasets/{name}/{v}"),
        None => format!("/api/v1/org/{org}/datasets/{name}"),
    };
    let d = client.get_json(&path).await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(());
    }
    let s = |k: &str| match &d[k] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        v => v.to_string(),
    };
    let list = |k: &str| {
        d[k].as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    println!("{}@{}", s("name"), s("version"));
    if d["summary"].is_string() {
        println!("  {}", s("summary"));
    }
    println!();
    println!("format:          {}", s("format"));
    println!("rows:            {}", count(d["row_count"].as_u64().unwrap_or(0)));
    println!(
        "size:            {} ({})",
        bytes(d["file_size_bytes"].as_u64().unwrap_or(0)),
        s("size_category")
    );
    println!(
        "visibility:      {}",
        if d["is_public"] == json!(true) {
            "public"
        } else {
            "private"
        }
    );
    println!("downloads:       {}", s("download_count"));
    println!("license:         {}", s("license"));
    println!("tags:            {}", list("tags"));
    println!("task categories: {}", list("task_categories"));
    println!("versions:        {}", list("versions"));
    println!("published:       {}", s("created_at"));
    println!("manifest:        {}", s("manifest_digest"));
    println!();
    let files = d["files"].as_array().cloned().unwrap_or_default();
    table(
        &["FILE", "SPLIT", "ROWS", "SIZE", "DIGEST"],
        files
            .iter()
            .map(|f| {
                vec![
                    f["path"].as_str().unwrap_or("").to_string(),
                    f["split"].as_str().unwrap_or("-").to_string(),
                    f["row_count"].as_u64().map_or("-".to_string(), count),
                    bytes(f["size"].as_u64().unwrap_or(0)),
                    f["digest"].as_str().unwrap_or("").to_string(),
                ]
            })
            .collect(),
    );
    let pairs = |v: &Value| -> Vec<(String, String)> {
        v.as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, t)| (k.clone(), t.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let version = pairs(&d["data_schema"]);
    if version.is_empty() {
        bail!("the server sent no schema");
    }
    // Files without their own schema (published before files carried one) show the version's.
    let columns: Vec<Vec<(String, String)>> = files
        .iter()
        .map(|f| match pairs(&f["data_schema"]) {
            c if c.is_empty() => version.clone(),
            c => c,
        })
        .collect();
    let own: Vec<OwnSchema> = files
        .iter()
        .zip(&columns)
        .map(|(f, c)| OwnSchema {
            path: f["path"].as_str().unwrap_or(""),
            split: f["split"].as_str(),
            columns: c,
        })
        .collect();
    schemas(&version, &own);
    Ok(())
}

async fn list(a: ListArgs) -> Result<()> {
    let (client, org) = connect(&a.remote, None)?;
    let mut q: Vec<(&str, String)> = vec![
        ("sort_by", a.sort_by.clone()),
        ("sort_dir", a.sort_dir.clone()),
        ("page", a.page.to_string()),
        ("limit", a.limit.to_string()),
        ("include_public", a.include_public.to_string()),
    ];
    if let Some(s) = &a.search {
        q.push(("search", s.clone()));
    }
    if let Some(n) = &a.name {
        q.push(("name", n.clone()));
    }
    for (k, vs) in [
        ("tags", &a.tags),
        ("license", &a.license),
        ("task_categories", &a.task_categories),
        ("format", &a.format),
        ("size_category", &a.size_categories),
    ] {
        q.extend(vs.iter().map(|v| (k, v.clone())));
    }
    let v = client.get_query(&format!("/api/v1/org/{org}/datasets"), &q).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let rows = v["datasets"].as_array().cloned().unwrap_or_default();
    let s = |d: &Value, k: &str| d[k].as_str().unwrap_or("-").to_string();
    table(
        &[
            "NAME",
            "VERSION",
            "FORMAT",
            "ROWS",
            "SIZE",
            "DOWNLOADS",
            "VISIBILITY",
            "CREATED",
        ],
        rows.iter()
            .map(|d| {
                vec![
                    s(d, "name"),
                    s(d, "version"),
                    s(d, "format"),
                    count(d["row_count"].as_u64().unwrap_or(0)),
                    bytes(d["file_size_bytes"].as_u64().unwrap_or(0)),
                    count(d["download_count"].as_u64().unwrap_or(0)),
                    if d["is_public"] == json!(true) {
                        "public"
                    } else {
                        "private"
                    }
                    .to_string(),
                    s(d, "created_at").chars().take(19).collect(),
                ]
            })
            .collect(),
    );
    eprintln!(
        "page {} of {} ({} version(s) in all)",
        v["page"],
        v["total_pages"].as_u64().unwrap_or(0).max(1),
        v["total"]
    );
    Ok(())
}

async fn pull(reference: String, output: Option<PathBuf>, split: Option<String>, remote: Remote) -> Result<()> {
    let (org, name, version) = parse_ref(&reference)?;
    let (client, org) = connect(&remote, org)?;
    let version = match version {
        Some(v) => v.to_string(),
        None => crate::pull::latest(&client, &org, &name).await?,
    };
    let out = output.unwrap_or_else(|| PathBuf::from(&name));
    // Files already here and intact need no download (and count none).
    if crate::pull::all_present(&client, &org, &name, &version, split.as_deref(), &out).await? {
        println!("{org}/{name}@{version} is already in {} and intact", out.display());
        return Ok(());
    }
    // A pull cut off while its links are valid goes on under the same download.
    let grant = match crate::pull::Grant::resumable(&out, &org, &name, &version, split.as_deref()) {
        Some(g) => {
            eprintln!("resuming the pull begun earlier (its links are valid until {})", {
                chrono::DateTime::from_timestamp(g.expires, 0).map_or_else(String::new, crate::output::iso)
            });
            g
        }
        None => {
            let g = crate::pull::request(&client, &org, &name, &version, split.as_deref()).await?;
            g.keep(&out)?;
            g
        }
    };
    let (fetched, present) = crate::pull::fetch_all(&client, &grant.files, &out).await?;
    let _ = std::fs::remove_file(crate::pull::grant_path(&out));
    eprintln!("{fetched} file(s) downloaded, {present} already present and intact");
    crate::pull::write_dataset_yaml(&client, &org, &name, &version, split.as_deref(), &grant.files, &out).await?;
    println!("Pulled {org}/{name}@{version} into {}", out.display());
    Ok(())
}

async fn visibility(names: Vec<String>, public: bool, remote: Remote) -> Result<()> {
    for n in names {
        let (org, name, version) = parse_ref(&n)?;
        if version.is_some() {
            bail!(
                "visibility belongs to a dataset, not a version: write {} without @version",
                n.split('@').next().unwrap_or(&n)
            );
        }
        let (client, org) = connect(&remote, org)?;
        client
            .send_json(
                reqwest::Method::PATCH,
                &format!("/api/v1/org/{org}/datasets/{name}/visibility"),
                &json!({"is_public": public}),
            )
            .await?;
        println!("{} {org}/{name}", if public { "Published" } else { "Unpublished" });
    }
    Ok(())
}

async fn delete(reference: String, yes: bool, remote: Remote) -> Result<()> {
    let (org, name, version) = parse_ref(&reference)?;
    let version = version.ok_or_else(|| anyhow!("name the version to delete: {reference}@MAJOR.MINOR.PATCH"))?;
    let (client, org) = connect(&remote, org)?;
    if !yes {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            bail!("refusing to delete {org}/{name}@{version} without --yes when not on a terminal");
        }
        eprint!("Delete {org}/{name}@{version}? This cannot be undone. [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("not deleted");
        }
    }
    client
        .delete(&format!("/api/v1/org/{org}/datasets/{name}/{version}"))
        .await?;
    println!("Deleted {org}/{name}@{version}");
    Ok(())
}

async fn activity(
    dataset: Option<String>,
    user: Option<String>,
    limit: u32,
    offset: u64,
    as_json: bool,
    remote: Remote,
) -> Result<()> {
    let (client, org) = connect(&remote, None)?;
    let mut q: Vec<(&str, String)> = vec![("limit", limit.to_string()), ("offset", offset.to_string())];
    if let Some(d) = dataset {
        q.push(("dataset_name", d));
    }
    if let Some(u) = user {
        q.push(("user_id", u));
    }
    let v = client
        .get_query(&format!("/api/v1/org/{org}/datasets/activity"), &q)
        .await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let events = v["events"].as_array().cloned().unwrap_or_default();
    let s = |e: &Value, k: &str| e[k].as_str().unwrap_or("-").to_string();
    table(
        &["WHEN", "DATASET", "VERSION", "SPLIT", "USER", "USER ORG"],
        events
            .iter()
            .map(|e| {
                vec![
                    s(e, "created_at").chars().take(19).collect(),
                    s(e, "dataset_name"),
                    s(e, "version"),
                    s(e, "split"),
                    s(e, "username"),
                    s(e, "user_org"),
                ]
            })
            .collect(),
    );
    eprintln!("{} of {} event(s)", events.len(), v["total"]);
    Ok(())
}
