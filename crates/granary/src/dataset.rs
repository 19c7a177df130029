//! `granary dataset …`: inspect a local directory, push it, look up published versions.

use anyhow::{anyhow, bail, Result};
use clap::Subcommand;
use granary_core::{validate_dataset_name, Version};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::path::PathBuf;

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
            .map(|f| json!({"path": f.path, "digest": f.digest.to_string(), "size": f.size, "rows": f.inferred.rows, "split": f.split}))
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
    println!();
    table(
        &["COLUMN", "TYPE"],
        ds.files[0]
            .inferred
            .columns
            .iter()
            .map(|(n, t)| vec![n.clone(), t.clone()])
            .collect(),
    );
    Ok(())
}

async fn push(dir: PathBuf, remote: Remote) -> Result<()> {
    let ds = load_async(dir).await?;
    let (client, profile_org) = remote.client()?;
    let org = remote.org.clone().or(ds.org.clone()).or(profile_org).ok_or_else(|| {
        anyhow!("no organization: pass --org ORG, write `name: org/name` in dataset.yaml, or run `granary login`")
    })?;
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:<24!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        .expect("valid template")
        .progress_chars("=> ");
    let (mut uploaded, mut skipped) = (0, 0);
    for f in &ds.files {
        if client.blob_exists(&org, &f.digest).await? {
            skipped += 1;
            continue;
        }
        let bar = bars.add(ProgressBar::new(f.size));
        bar.set_style(style.clone());
        bar.set_prefix(f.path.clone());
        client
            .upload_file(&org, &ds.name, &f.abs, &f.digest, f.size, &bar)
            .await?;
        bar.finish();
        uploaded += 1;
    }
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

async fn info(reference: String, as_json: bool, remote: Remote) -> Result<()> {
    let (org, name, version) = parse_ref(&reference)?;
    let (client, profile_org) = remote.client()?;
    let org = org.or(remote.org.clone()).or(profile_org).ok_or_else(|| {
        anyhow!("no organization: write the reference as org/name, pass --org, or run `granary login`")
    })?;
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
        &["FILE", "SPLIT", "SIZE", "DIGEST"],
        files
            .iter()
            .map(|f| {
                vec![
                    f["path"].as_str().unwrap_or("").to_string(),
                    f["split"].as_str().unwrap_or("-").to_string(),
                    bytes(f["size"].as_u64().unwrap_or(0)),
                    f["digest"].as_str().unwrap_or("").to_string(),
                ]
            })
            .collect(),
    );
    println!();
    let schema = d["data_schema"].as_object().cloned().unwrap_or_default();
    if schema.is_empty() {
        bail!("the server sent no schema");
    }
    table(
        &["COLUMN", "TYPE"],
        schema
            .iter()
            .map(|(k, v)| vec![k.clone(), v.as_str().unwrap_or("").to_string()])
            .collect(),
    );
    Ok(())
}
