//! `granary dataset pull`: counted download of a version's files, each verified against
//! its digest; an interrupted file resumes from its `.part` with an HTTP range request.

use anyhow::{anyhow, bail, Context, Result};
use futures::StreamExt;
use granary_core::Digest;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;

use crate::client::Client;

pub struct Wanted {
    pub path: String,
    pub digest: Digest,
    pub size: u64,
    pub url: String,
}

/// Asks for links (one download event) and returns the files to fetch.
pub async fn request(
    client: &Client,
    org: &str,
    name: &str,
    version: &str,
    split: Option<&str>,
) -> Result<Vec<Wanted>> {
    let mut body = json!({"format": "raw"});
    if let Some(s) = split {
        body["split"] = json!(s);
    }
    let v = client
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/org/{org}/datasets/{name}/{version}/download"),
            &body,
        )
        .await?;
    let files = v["files"]
        .as_array()
        .ok_or_else(|| anyhow!("the server sent no file list"))?;
    let mut out = Vec::new();
    for f in files {
        if split.is_some() && f["split"].as_str() != split {
            continue;
        }
        let path = f["path"].as_str().unwrap_or_default().to_string();
        granary_core::validate_artifact_path(&path).map_err(|e| anyhow!("the server sent {e}"))?;
        out.push(Wanted {
            digest: f["digest"]
                .as_str()
                .unwrap_or_default()
                .parse()
                .map_err(|e| anyhow!("the server sent {e}"))?,
            size: f["size"].as_u64().unwrap_or(0),
            url: f["url"]
                .as_str()
                .ok_or_else(|| anyhow!("the server sent a file without a link"))?
                .to_string(),
            path,
        });
    }
    Ok(out)
}

/// Whether every file the pull would fetch is already in `out` with the right digest,
/// judged from the version's detail (which counts no download).
pub async fn all_present(
    client: &Client,
    org: &str,
    name: &str,
    version: &str,
    split: Option<&str>,
    out: &Path,
) -> Result<bool> {
    let d = client
        .get_json(&format!("/api/v1/org/{org}/datasets/{name}/{version}"))
        .await?;
    let files = d["files"].as_array().cloned().unwrap_or_default();
    let mut any = false;
    for f in files.iter().filter(|f| split.is_none() || f["split"].as_str() == split) {
        any = true;
        let (Some(path), Some(digest)) = (f["path"].as_str(), f["digest"].as_str()) else {
            return Ok(false);
        };
        if granary_core::validate_artifact_path(path).is_err() || !out.join(path).is_file() {
            return Ok(false);
        }
        let mut h = sha2::Sha256::new();
        hash_file(&out.join(path), &mut h).await?;
        if Digest::from_hasher(h).to_string() != digest {
            return Ok(false);
        }
    }
    Ok(any)
}

async fn hash_file(path: &Path, h: &mut sha2::Sha256) -> Result<u64> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).await?;
        if k == 0 {
            return Ok(n);
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
}

/// Downloads every wanted file into `out`, skipping files already there intact.
pub async fn fetch_all(client: &Client, files: &[Wanted], out: &Path) -> Result<(usize, usize)> {
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:<24!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        .expect("valid template")
        .progress_chars("=> ");
    let (mut fetched, mut present) = (0, 0);
    for f in files {
        let dest = out.join(&f.path);
        if dest.is_file() {
            let mut h = sha2::Sha256::new();
            hash_file(&dest, &mut h).await?;
            if Digest::from_hasher(h) == f.digest {
                present += 1;
                continue;
            }
        }
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let bar = bars.add(ProgressBar::new(f.size));
        bar.set_style(style.clone());
        bar.set_prefix(f.path.clone());
        let part = PathBuf::from(format!("{}.part", dest.display()));
        match fetch_one(client, f, &part, &bar).await {
            Ok(()) => {}
            // A bad partial file: start that file over once.
            Err(e) if part.exists() => {
                bar.println(format!("{}: {e}; starting over", f.path));
                tokio::fs::remove_file(&part).await.ok();
                fetch_one(client, f, &part, &bar).await?;
            }
            Err(e) => return Err(e),
        }
        tokio::fs::rename(&part, &dest)
            .await
            .with_context(|| format!("cannot write {}", dest.display()))?;
        bar.finish();
        fetched += 1;
    }
    Ok((fetched, present))
}

async fn fetch_one(client: &Client, f: &Wanted, part: &Path, bar: &ProgressBar) -> Result<()> {
    let mut h = sha2::Sha256::new();
    let mut have = if part.is_file() {
        hash_file(part, &mut h).await?
    } else {
        0
    };
    if have > f.size {
        bail!("partial file is larger than the file");
    }
    let resp = client.fetch_link(&f.url, have).await?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(part)
        .with_context(|| format!("cannot write {}", part.display()))?;
    if have > 0 && resp.status() != StatusCode::PARTIAL_CONTENT {
        // The server sent the whole file: start the part over.
        file.set_len(0)?;
        h = sha2::Sha256::new();
        have = 0;
    }
    bar.set_position(have);
    // Bytes are hashed and written on a thread of their own, in the order they arrive,
    // while the next ones are received; at most 8 chunks wait between the two.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<sha2::Sha256> {
        use std::io::Write;
        while let Some(chunk) = rx.blocking_recv() {
            h.update(&chunk);
            file.write_all(&chunk)?;
        }
        file.sync_all()?;
        Ok(h)
    });
    let mut stream = resp.bytes_stream();
    let mut broke = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                bar.inc(chunk.len() as u64);
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(e) => {
                broke = Some(anyhow!(
                    "download of {} broke off: {e}; run pull again to resume",
                    f.path
                ));
                break;
            }
        }
    }
    drop(tx);
    let h = writer
        .await?
        .with_context(|| format!("cannot write {}", part.display()))?;
    if let Some(e) = broke {
        return Err(e);
    }
    let got = Digest::from_hasher(h);
    if got != f.digest {
        bail!("{} does not match its digest (got {got}, want {})", f.path, f.digest);
    }
    Ok(())
}

/// The highest version of a dataset, when a reference names none.
pub async fn latest(client: &Client, org: &str, name: &str) -> Result<String> {
    let v: Value = client
        .get_json(&format!("/api/v1/org/{org}/datasets/{name}/versions"))
        .await?;
    v["versions"][0]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{org}/{name} has no versions"))
}
