//! `granary dataset …`: inspect a local directory, push it, look up published versions.

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use futures::{StreamExt, TryStreamExt};
use granary_core::{validate_dataset_name, DataFormat, Version};
use granary_infer::TableFile;
use serde_json::{json, Value};
use std::path::PathBuf;

use crate::client::Client;
use crate::local::load;
use crate::login::Remote;
use crate::output::{bytes, count, table};
use crate::progress::Progress;

#[derive(Subcommand)]
pub enum DatasetCommand {
    /// Show what a dataset directory holds, as it would be published.
    Inspect {
        /// Directory with dataset.yaml and data files
        dir: PathBuf,
        /// Every field as JSON on stdout (the shape `push` publishes, plus files)
        #[arg(long)]
        json: bool,
        /// A line per file instead of progress bars
        #[arg(long, short)]
        quiet: bool,
    },
    /// Publish a dataset directory; uploads only the files the registry lacks.
    // `--version` names the version to publish here, not granary's own.
    #[command(visible_alias = "upload", disable_version_flag = true)]
    Push {
        /// Directory with dataset.yaml and data files
        dir: PathBuf,
        #[command(flatten)]
        opts: PushOptions,
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
    /// What changed between two versions: [org/]name[@from] [[org/]name@to | to].
    ///
    /// Without versions: the highest version against the one before it. Shows columns
    /// added, removed and retyped, row and size deltas, files changed and fields changed.
    Diff {
        from: String,
        to: Option<String>,
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
    #[command(visible_alias = "download")]
    Pull {
        reference: String,
        #[command(flatten)]
        opts: crate::pull::PullOptions,
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
    #[command(visible_alias = "rm")]
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
        DatasetCommand::Inspect { dir, json, quiet } => inspect(dir, json, quiet).await,
        DatasetCommand::Push { dir, opts, remote } => push(dir, opts, remote).await,
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
        DatasetCommand::Diff { from, to, json, remote } => diff(from, to, json, remote).await,
        DatasetCommand::List(args) => list(args).await,
        DatasetCommand::Pull {
            reference,
            opts,
            remote,
        } => pull(reference, opts, remote).await,
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

async fn inspect(dir: PathBuf, as_json: bool, quiet: bool) -> Result<()> {
    let ds = tokio::task::spawn_blocking(move || {
        let progress = Progress::new(quiet);
        progress.step(format!("reading {}", dir.display()));
        load(&dir, &progress)
    })
    .await??;
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

/// What `push` may change about the directory it publishes, and how it reports.
#[derive(clap::Args, Clone, Default)]
pub struct PushOptions {
    /// Publish as [org/]NAME instead of dataset.yaml's `name:`
    #[arg(long)]
    name: Option<String>,
    /// Publish as this MAJOR.MINOR.PATCH instead of dataset.yaml's `version:`
    #[arg(long)]
    version: Option<String>,
    /// Make the dataset public once the version is published
    #[arg(long)]
    publish: bool,
    /// Check everything and say what would be sent, without sending or publishing anything
    #[arg(long)]
    dry_run: bool,
    /// A line per phase and file instead of progress bars (also when stderr is not a terminal or CI is set)
    #[arg(long, short)]
    quiet: bool,
    /// Print the result as JSON on stdout: {org, name, version, manifest_digest, uploaded, skipped, uploaded_bytes, already_published, dry_run}
    #[arg(long)]
    json: bool,
}

/// Hashes `f` (the digest cache first), showing it as a "hashing" transfer.
async fn digest_of(
    f: &crate::local::PlannedFile,
    cache: &crate::digests::DigestCache,
    progress: &Progress,
) -> Result<granary_core::Digest> {
    let meta = std::fs::metadata(&f.abs).with_context(|| format!("cannot read {}", f.abs.display()))?;
    if let Some(d) = cache.get(&f.abs, &meta) {
        return Ok(d);
    }
    let t = progress.transfer("hashing", &f.path, meta.len());
    t.start_at(0);
    let abs = f.abs.clone();
    let counter = t.clone();
    let d = tokio::task::spawn_blocking(move || crate::local::hash_file_with(&abs, &|n| counter.inc(n)))
        .await??
        .0;
    t.finish();
    cache.put(&f.abs, &meta, &d);
    Ok(d)
}

async fn push(dir: PathBuf, opts: PushOptions, remote: Remote) -> Result<()> {
    let override_version = opts
        .version
        .as_deref()
        .map(|v| v.parse::<Version>().map_err(|e| anyhow!("--version {v}: {e}")))
        .transpose()?;
    let progress = Progress::new(opts.quiet);
    progress.step(format!("reading {}", dir.display()));
    // Parquet and Arrow files are read from their footers, which is quick: a file that is not
    // one is reported before anything is sent. Text formats are read whole, beside the upload.
    let name_override = opts.name.clone();
    let (plan, mut early) = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut plan = crate::local::plan(&dir)?;
        if let Some(n) = &name_override {
            plan.set_name(n)?;
        }
        if let Some(v) = override_version {
            plan.set_version(v);
        }
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
    let version = plan.version().to_string();
    let total: u64 = plan
        .files
        .iter()
        .map(|f| std::fs::metadata(&f.abs).map(|m| m.len()).unwrap_or(0))
        .sum();
    let cache = std::sync::Arc::new(crate::digests::DigestCache::load());
    let report = |manifest: &str, uploaded: usize, skipped: usize, uploaded_bytes: u64, already: bool| {
        json!({
            "org": org, "name": name, "version": version, "manifest_digest": manifest,
            "uploaded": uploaded, "skipped": skipped, "uploaded_bytes": uploaded_bytes,
            "already_published": already, "dry_run": opts.dry_run,
        })
    };
    // The target version first: if it exists, it holds either these files (nothing to do)
    // or others (the registry would refuse the manifest once every byte was sent).
    progress.step(format!("checking {org}/{name}@{version} on {}", client.base()));
    // The organization first: a push (or a dry run) to one the key cannot write to fails
    // here, not after the files were read and sent.
    match client.get_json_opt(&format!("/api/v1/org/{org}")).await? {
        None => bail!(
            "organization {org:?} not found, or you are not a member of it: `granary whoami` lists yours"
        ),
        Some(o) if o["role"].as_str() == Some("reader") => bail!(
            "you are a reader of organization {org}; publishing needs the contributor or owner role: ask an owner of {org}"
        ),
        Some(_) => {}
    }
    if let Some(d) = client
        .get_json_opt(&format!("/api/v1/org/{org}/datasets/{name}/{version}"))
        .await?
    {
        progress.phase(
            format!(
                "{org}/{name}@{version} exists: hashing {} file(s) ({}) to compare",
                plan.files.len(),
                bytes(total)
            ),
            total,
        );
        let mut local = Vec::with_capacity(plan.files.len());
        for f in &plan.files {
            local.push((f.path.clone(), f.split.clone(), digest_of(f, &cache, &progress).await?));
        }
        cache.save();
        progress.done();
        let differences = plan.differences(&local, &d);
        if differences.is_empty() {
            let digest = d["manifest_digest"].as_str().unwrap_or("?");
            eprintln!("nothing to push: these files and fields are what {org}/{name}@{version} holds");
            if opts.publish && !opts.dry_run {
                set_public(&client, &org, &name, true).await?;
            }
            if opts.json {
                println!("{}", report(digest, 0, plan.files.len(), 0, true));
            } else {
                println!("Already published {org}/{name}@{version} ({digest})");
            }
            return Ok(());
        }
        bail!(
            "{org}/{name}@{version} is already published with different {}; versions are immutable: set a new version (`version:` in dataset.yaml or --version), or delete this one first (granary dataset delete {org}/{name}@{version})",
            differences.join(", ")
        );
    }
    if opts.dry_run {
        return dry_run(&client, &org, &name, &version, &plan, &cache, &progress, opts.json).await;
    }
    let sessions = crate::sessions::UploadSessions::open();
    progress.phase(
        format!(
            "uploading {} file(s) ({}) to {org}/{name}@{version}",
            plan.files.len(),
            bytes(total)
        ),
        total,
    );
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
            let (client, org, name, progress, cache, sessions) =
                (&client, &org, &name, &progress, cache.clone(), &sessions);
            async move {
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
                let t = progress.transfer("uploading", &f.path, size);
                // A session an earlier run left (client killed, server restarted) is
                // continued where the registry stopped.
                let saved = sessions.for_file(client.base(), org, &f.abs, &meta);
                let mut resumed = None;
                if let Some(location) = saved.location() {
                    resumed = client.resume_upload(&location, &f.abs, known.clone(), size, &t).await?;
                    saved.clear();
                }
                let (digest, uploaded) = match (resumed, known) {
                    (Some(d), _) => (d, true),
                    (None, Some(d)) if client.blob_exists(org, &d).await? => {
                        t.abandon();
                        progress.say(format!("{}: already on the server", f.path));
                        (d, false)
                    }
                    (None, Some(d)) => {
                        client.upload_file((org, name), &f.abs, &d, size, &t, &saved).await?;
                        (d, true)
                    }
                    (None, None) => {
                        let d = client
                            .upload_file_hashing((org, name), &f.abs, size, &t, &saved)
                            .await?;
                        (d, true)
                    }
                };
                cache.put(&f.abs, &meta, &digest);
                let inferred = match inferred {
                    Some(done) => done,
                    None => {
                        t.note("the registry is reading its schema and rows");
                        client
                            .blob_schema(org, &digest, f.format)
                            .await
                            .map_err(|e| anyhow!("{}: {e}", f.path))?
                    }
                };
                if uploaded {
                    t.finish();
                }
                let sent = t.moved();
                Ok::<_, anyhow::Error>((crate::local::FileFacts { digest, size, inferred }, uploaded, sent))
            }
        });
    let results: Vec<(crate::local::FileFacts, bool, u64)> = futures::stream::iter(work)
        .buffered(PARALLEL_FILES)
        .try_collect()
        .await?;
    cache.save();
    let uploaded = results.iter().filter(|(_, u, _)| *u).count();
    // What this run sent: a resumed upload counts only the rest it sent.
    let uploaded_bytes: u64 = results.iter().map(|(_, _, sent)| sent).sum();
    let skipped = results.len() - uploaded;
    let ds = crate::local::finish(plan, results.into_iter().map(|(f, _, _)| f).collect())?;
    progress.phase(
        format!("publishing {org}/{name}@{version}: the registry verifies the manifest"),
        total,
    );
    let config_digest = granary_core::Digest::of(&ds.config_bytes);
    if !client.blob_exists(&org, &config_digest).await? {
        client.upload_bytes(&org, &ds.name, ds.config_bytes.clone()).await?;
    }
    let digest = client
        .put_manifest(&org, &ds.name, &ds.version.to_string(), ds.manifest_bytes(&org))
        .await?;
    if opts.publish {
        progress.phase(format!("making {org}/{name} public"), total);
        set_public(&client, &org, &name, true).await?;
    }
    progress.done();
    eprintln!(
        "{uploaded} file(s) uploaded, {skipped} already on the server ({} sent)",
        bytes(uploaded_bytes)
    );
    if opts.json {
        println!("{}", report(&digest, uploaded, skipped, uploaded_bytes, false));
    } else {
        println!("Pushed {org}/{name}@{version} ({digest})");
    }
    Ok(())
}

/// `push --dry-run`: every file hashed, the registry asked which it lacks; nothing sent.
#[allow(clippy::too_many_arguments)]
async fn dry_run(
    client: &Client,
    org: &str,
    name: &str,
    version: &str,
    plan: &crate::local::Plan,
    cache: &crate::digests::DigestCache,
    progress: &Progress,
    as_json: bool,
) -> Result<()> {
    let total = plan
        .files
        .iter()
        .map(|f| std::fs::metadata(&f.abs).map(|m| m.len()).unwrap_or(0))
        .sum();
    progress.phase(
        format!("hashing {} file(s) to see which the registry lacks", plan.files.len()),
        total,
    );
    let (mut send, mut have) = (Vec::new(), Vec::new());
    let mut send_bytes = 0;
    for f in &plan.files {
        let d = digest_of(f, cache, progress).await?;
        let size = std::fs::metadata(&f.abs).map(|m| m.len()).unwrap_or(0);
        if client.blob_exists(org, &d).await? {
            have.push(f.path.clone());
        } else {
            send_bytes += size;
            send.push(f.path.clone());
        }
    }
    cache.save();
    progress.done();
    if as_json {
        println!(
            "{}",
            json!({
                "org": org, "name": name, "version": version, "manifest_digest": null,
                "uploaded": send.len(), "skipped": have.len(), "uploaded_bytes": send_bytes,
                "already_published": false, "dry_run": true,
                "would_upload": send, "already_on_server": have,
            })
        );
        return Ok(());
    }
    for p in &send {
        println!("would upload  {p}");
    }
    for p in &have {
        println!("on the server {p}");
    }
    println!(
        "Dry run: {org}/{name}@{version} would be published with {} file(s) to upload ({}) and {} already on the server; nothing was sent",
        send.len(),
        bytes(send_bytes),
        have.len()
    );
    Ok(())
}

async fn set_public(client: &Client, org: &str, name: &str, public: bool) -> Result<()> {
    client
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/org/{org}/datasets/{name}/visibility"),
            &json!({"is_public": public}),
        )
        .await?;
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

async fn diff(from: String, to: Option<String>, as_json: bool, remote: Remote) -> Result<()> {
    let (org, name, from_version) = parse_ref(&from)?;
    // The second reference: another `[org/]name@version` of the same dataset, or a bare version.
    let to_version = match to.as_deref() {
        None => None,
        Some(t) => match t.parse::<Version>() {
            Ok(v) => Some(v),
            Err(_) => {
                let (to_org, to_name, v) = parse_ref(t)?;
                if to_name != name || (to_org.is_some() && org.is_some() && to_org != org) {
                    bail!("a diff compares two versions of one dataset: {from} and {t} name different datasets");
                }
                Some(v.ok_or_else(|| anyhow!("{t}: name the version to compare with, as {to_name}@MAJOR.MINOR.PATCH"))?)
            }
        },
    };
    let (client, org) = connect(&remote, org)?;
    let mut q = Vec::new();
    if let Some(v) = from_version {
        q.push(format!("from={v}"));
    }
    if let Some(v) = to_version {
        q.push(format!("to={v}"));
    }
    let d = client
        .get_json(&format!("/api/v1/org/{org}/datasets/{name}/diff?{}", q.join("&")))
        .await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(());
    }
    let signed = |n: i64, show: &dyn Fn(u64) -> String| match n {
        0 => "no change".to_string(),
        n if n > 0 => format!("+{}", show(n as u64)),
        n => format!("-{}", show(n.unsigned_abs())),
    };
    let delta = |v: &Value, show: &dyn Fn(u64) -> String| {
        format!(
            "{} → {} ({})",
            show(v["from"].as_u64().unwrap_or(0)),
            show(v["to"].as_u64().unwrap_or(0)),
            signed(v["delta"].as_i64().unwrap_or(0), show)
        )
    };
    let list = |v: &Value, f: &dyn Fn(&Value) -> String| {
        let items: Vec<String> = v.as_array().map(|a| a.iter().map(f).collect()).unwrap_or_default();
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(", ")
        }
    };
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    println!("{} {} → {}", s(&d["name"]), s(&d["from"]), s(&d["to"]));
    println!("rows:             {}", delta(&d["row_count"], &count));
    println!("size:             {}", delta(&d["file_size_bytes"], &bytes));
    let c = &d["columns"];
    println!(
        "columns added:    {}",
        list(&c["added"], &|x| format!("{} ({})", s(&x["name"]), s(&x["type"])))
    );
    println!(
        "columns removed:  {}",
        list(&c["removed"], &|x| format!("{} ({})", s(&x["name"]), s(&x["type"])))
    );
    println!(
        "columns retyped:  {}",
        list(&c["retyped"], &|x| format!(
            "{}: {} → {}",
            s(&x["name"]),
            s(&x["from"]),
            s(&x["to"])
        ))
    );
    let f = &d["files"];
    println!("files added:      {}", list(&f["added"], &|x| s(&x["path"])));
    println!("files removed:    {}", list(&f["removed"], &|x| s(&x["path"])));
    println!("files changed:    {}", list(&f["changed"], &|x| s(&x["path"])));
    println!("fields changed:   {}", list(&d["fields_changed"], &s));
    if let Some(splits) = d["splits"].as_object().filter(|o| !o.is_empty()) {
        for (split, v) in splits {
            println!("split {split}: {}", delta(v, &count));
        }
    }
    Ok(())
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
        let joined = d[k]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        if joined.is_empty() {
            "-".to_string()
        } else {
            joined
        }
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
    if let Some(card) = d["description"].as_str().filter(|c| !c.trim().is_empty()) {
        println!();
        println!("card:");
        for line in card.trim_end().lines() {
            println!("  {line}");
        }
    }
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

async fn pull(reference: String, opts: crate::pull::PullOptions, remote: Remote) -> Result<()> {
    let (org, name, version) = parse_ref(&reference)?;
    let (client, org) = connect(&remote, org)?;
    let version = match version {
        Some(v) => v.to_string(),
        None => crate::pull::latest(&client, &org, &name).await?,
    };
    crate::pull::run(&client, &org, &name, &version, opts).await
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
        set_public(&client, &org, &name, public).await?;
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
