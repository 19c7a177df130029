//! `granary dataset pull`: counted download of a version's files, each verified against
//! its digest; an interrupted file resumes from its `.part` with an HTTP range request.

use anyhow::{anyhow, bail, Context, Result};
use futures::StreamExt;
use granary_core::Digest;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Digest as _;
use std::path::{Path, PathBuf};

use crate::client::Client;
use crate::progress::{Progress, Transfer};

#[derive(Serialize, Deserialize, Clone)]
pub struct Wanted {
    pub path: String,
    pub digest: Digest,
    pub size: u64,
    pub url: String,
}

/// The links one download event handed out, kept beside the files being pulled
/// (`<out>/.granary-pull.json`) until every file is in place, so that a pull that is cut
/// off and run again while the links are valid fetches the rest under the same download
/// instead of counting another.
#[derive(Serialize, Deserialize)]
pub struct Grant {
    pub org: String,
    pub name: String,
    pub version: String,
    pub split: Option<String>,
    /// Unix seconds after which the links no longer work.
    pub expires: i64,
    pub files: Vec<Wanted>,
}

/// Where a pull into `out` keeps its [`Grant`].
pub fn grant_path(out: &Path) -> PathBuf {
    out.join(".granary-pull.json")
}

impl Grant {
    /// The grant a cut-off pull of the same version (and split) left in `out`, while its
    /// links stay valid for at least a minute more.
    pub fn resumable(out: &Path, org: &str, name: &str, version: &str, split: Option<&str>) -> Option<Grant> {
        let g: Grant = serde_json::from_slice(&std::fs::read(grant_path(out)).ok()?).ok()?;
        let fresh = g.expires > chrono::Utc::now().timestamp() + 60;
        (fresh && g.org == org && g.name == name && g.version == version && g.split.as_deref() == split).then_some(g)
    }

    /// Writes the grant into `out` (whole, then renamed into place).
    pub fn keep(&self, out: &Path) -> Result<()> {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let tmp = out.join(".granary-pull.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)?;
        std::fs::rename(&tmp, grant_path(out))?;
        Ok(())
    }
}

/// What `pull` fetches, where to, and how it reports.
#[derive(clap::Args, Clone, Default)]
pub struct PullOptions {
    /// Directory to write into [default: ./<name>]
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Only this split's file
    #[arg(long)]
    split: Option<String>,
    /// Only files whose path matches this glob (repeatable; `*` also crosses `/`), e.g. '*.parquet'
    #[arg(long = "include", value_name = "GLOB")]
    include: Vec<String>,
    /// Print a signed link per file (`PATH<TAB>URL`, or JSON with --json) instead of downloading; counts as a download
    #[arg(long)]
    urls: bool,
    /// With --urls: the links as JSON ({expires_at, files: [{path, digest, size, url}]})
    #[arg(long, requires = "urls")]
    json: bool,
    /// A line per file instead of progress bars (also when stderr is not a terminal or CI is set)
    #[arg(long, short)]
    quiet: bool,
}

/// Which of a version's files a pull wants: a split's, and those matching `--include`.
pub struct Selection {
    split: Option<String>,
    include: Option<globset::GlobSet>,
}

impl Selection {
    /// Errors when a glob is malformed, naming it.
    pub fn new(split: Option<String>, include: &[String]) -> Result<Self> {
        let include = if include.is_empty() {
            None
        } else {
            let mut b = globset::GlobSetBuilder::new();
            for g in include {
                b.add(globset::Glob::new(g).map_err(|e| anyhow!("--include {g}: {e}"))?);
            }
            Some(b.build().map_err(|e| anyhow!("--include: {e}"))?)
        };
        Ok(Selection { split, include })
    }

    pub fn split(&self) -> Option<&str> {
        self.split.as_deref()
    }

    /// Whether the file at `path` (in `split`) is wanted.
    pub fn wants(&self, path: &str, split: Option<&str>) -> bool {
        self.split.as_deref().is_none_or(|s| split == Some(s)) && self.include.as_ref().is_none_or(|g| g.is_match(path))
    }
}

/// `granary dataset pull` of `org/name@version`.
pub async fn run(client: &Client, org: &str, name: &str, version: &str, opts: PullOptions) -> Result<()> {
    let sel = Selection::new(opts.split.clone(), &opts.include)?;
    if opts.urls {
        let g = request(client, org, name, version, sel.split()).await?;
        let files: Vec<&Wanted> = g.files.iter().filter(|f| sel.wants(&f.path, sel.split())).collect();
        if files.is_empty() {
            bail!("no file of {org}/{name}@{version} matches the --split/--include given");
        }
        if opts.json {
            let expires = chrono::DateTime::from_timestamp(g.expires, 0).map(crate::output::iso);
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"expires_at": expires, "files": files}))?
            );
        } else {
            for f in files {
                println!("{}\t{}", f.path, f.url);
            }
        }
        return Ok(());
    }
    let out = opts.output.clone().unwrap_or_else(|| PathBuf::from(name));
    // Files already here and intact need no download (and count none).
    if all_present(client, org, name, version, &sel, &out).await? {
        println!("{org}/{name}@{version} is already in {} and intact", out.display());
        return Ok(());
    }
    // A pull cut off while its links are valid goes on under the same download.
    let grant = match Grant::resumable(&out, org, name, version, sel.split()) {
        Some(g) => {
            eprintln!("resuming the pull begun earlier (its links are valid until {})", {
                chrono::DateTime::from_timestamp(g.expires, 0).map_or_else(String::new, crate::output::iso)
            });
            g
        }
        None => {
            let g = request(client, org, name, version, sel.split()).await?;
            g.keep(&out)?;
            g
        }
    };
    let files: Vec<Wanted> = grant
        .files
        .iter()
        .filter(|f| sel.wants(&f.path, sel.split()))
        .cloned()
        .collect();
    if files.is_empty() {
        let _ = std::fs::remove_file(grant_path(&out));
        bail!("no file of {org}/{name}@{version} matches the --split/--include given");
    }
    let progress = Progress::new(opts.quiet);
    let total: u64 = files.iter().map(|f| f.size).sum();
    progress.phase(
        format!(
            "downloading {} file(s) ({}) of {org}/{name}@{version}",
            files.len(),
            crate::output::bytes(total)
        ),
        total,
    );
    let (fetched, present) = fetch_all(client, &files, &out, &progress).await?;
    progress.done();
    let _ = std::fs::remove_file(grant_path(&out));
    eprintln!("{fetched} file(s) downloaded, {present} already present and intact");
    write_dataset_yaml(client, org, name, version, sel.split(), &files, &out).await?;
    println!("Pulled {org}/{name}@{version} into {}", out.display());
    Ok(())
}

/// Asks for links (one download event) and returns the files to fetch.
pub async fn request(client: &Client, org: &str, name: &str, version: &str, split: Option<&str>) -> Result<Grant> {
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
    let expires = v["expires_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| t.timestamp());
    Ok(Grant {
        org: org.to_string(),
        name: name.to_string(),
        version: version.to_string(),
        split: split.map(str::to_string),
        expires,
        files: out,
    })
}

/// Whether every file the pull would fetch is already in `out` with the right digest,
/// judged from the version's detail (which counts no download).
pub async fn all_present(
    client: &Client,
    org: &str,
    name: &str,
    version: &str,
    sel: &Selection,
    out: &Path,
) -> Result<bool> {
    let d = client
        .get_json(&format!("/api/v1/org/{org}/datasets/{name}/{version}"))
        .await?;
    let files = d["files"].as_array().cloned().unwrap_or_default();
    let mut any = false;
    for f in files
        .iter()
        .filter(|f| sel.wants(f["path"].as_str().unwrap_or(""), f["split"].as_str()))
    {
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

/// Feeds the file at `path` into `h` on a blocking thread (large reads; tokio's file reads
/// hop threads per call) and returns its length.
async fn hash_file(path: &Path, h: &mut sha2::Sha256) -> Result<u64> {
    let path = path.to_path_buf();
    let state = std::mem::take(h);
    let (state, n) = tokio::task::spawn_blocking(move || -> std::io::Result<(sha2::Sha256, u64)> {
        use std::io::Read;
        let mut h = state;
        let mut f = std::fs::File::open(&path)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let k = f.read(&mut buf)?;
            if k == 0 {
                return Ok((h, n));
            }
            h.update(&buf[..k]);
            n += k as u64;
        }
    })
    .await??;
    *h = state;
    Ok(n)
}

/// Downloads every wanted file into `out`, skipping files already there intact.
pub async fn fetch_all(client: &Client, files: &[Wanted], out: &Path, progress: &Progress) -> Result<(usize, usize)> {
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
        let bar = progress.transfer("downloading", &f.path, f.size);
        let part = PathBuf::from(format!("{}.part", dest.display()));
        let mut attempt = 0;
        let mut restarted = false;
        loop {
            attempt += 1;
            match fetch_one(client, f, &part, &bar).await {
                Ok(()) => break,
                // Bytes that do not hash to the digest: start that file over, once.
                Err(e) if e.is::<Corrupt>() && !restarted => {
                    bar.say(format!("{}: {e}; starting over", f.path));
                    tokio::fs::remove_file(&part).await.ok();
                    restarted = true;
                }
                // The connection broke (or the server went away): the part file keeps
                // what arrived; try again from there a few times, then say how to resume.
                Err(e) if !e.is::<Corrupt>() && attempt < FETCH_ATTEMPTS => {
                    bar.say(format!("{}: {e}; retrying", f.path));
                    tokio::time::sleep(std::time::Duration::from_secs(attempt as u64)).await;
                }
                Err(e) if e.is::<Corrupt>() => return Err(e),
                Err(e) => {
                    let kept = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
                    return Err(e.context(format!(
                        "{}: {} of {} downloaded and kept; run the same pull again to resume",
                        f.path,
                        crate::output::bytes(kept),
                        crate::output::bytes(f.size)
                    )));
                }
            }
        }
        tokio::fs::rename(&part, &dest)
            .await
            .with_context(|| format!("cannot write {}", dest.display()))?;
        bar.finish();
        fetched += 1;
    }
    Ok((fetched, present))
}

/// How often one file's download is tried when its connection breaks.
const FETCH_ATTEMPTS: usize = 3;

/// A downloaded file (or partial file) whose bytes are not the ones its digest names; a
/// connection that breaks is another error, and keeps the partial file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Corrupt(String);

async fn fetch_one(client: &Client, f: &Wanted, part: &Path, bar: &Transfer) -> Result<()> {
    let mut h = sha2::Sha256::new();
    let mut have = if part.is_file() {
        hash_file(part, &mut h).await?
    } else {
        0
    };
    if have > f.size {
        return Err(Corrupt("the partial file is larger than the file".into()).into());
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
    // Rate and ETA count the bytes this run moves, not those the part file held.
    bar.start_at(have);
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
                broke = Some(anyhow!("the download broke off: {e}"));
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
        return Err(Corrupt(format!(
            "{} does not match its digest (got {got}, want {})",
            f.path, f.digest
        ))
        .into());
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

/// `dataset.yaml` as a pulled version's detail says, so the directory can be edited and
/// pushed again.
#[derive(Serialize)]
struct PulledYaml {
    name: String,
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pretty_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    license: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    language: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    task_categories: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<serde_json::Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    splits: Option<std::collections::BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<String>>,
}

/// Writes `<out>/dataset.yaml` for the pulled files unless one is there already (then
/// says so and leaves it).
pub async fn write_dataset_yaml(
    client: &Client,
    org: &str,
    name: &str,
    version: &str,
    split: Option<&str>,
    files: &[Wanted],
    out: &Path,
) -> Result<()> {
    let path = out.join("dataset.yaml");
    if path.exists() {
        eprintln!("note: {} exists and was left as it is", path.display());
        return Ok(());
    }
    let d = client
        .get_json(&format!("/api/v1/org/{org}/datasets/{name}/{version}"))
        .await?;
    let text = |k: &str| d[k].as_str().map(str::to_string);
    let list = |k: &str| -> Vec<String> {
        d[k].as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let pulled: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let splits: Option<std::collections::BTreeMap<String, String>> = d["splits"].as_object().map(|m| {
        m.iter()
            .filter_map(|(k, v)| v.as_str().map(|p| (k.clone(), p.to_string())))
            .filter(|(k, p)| pulled.contains(&p.as_str()) && split.is_none_or(|s| s == k))
            .collect()
    });
    let splits = splits.filter(|s| !s.is_empty());
    let yaml = PulledYaml {
        name: name.to_string(),
        version: version.to_string(),
        pretty_name: text("pretty_name"),
        summary: text("summary"),
        license: text("license"),
        tags: list("tags"),
        language: list("language"),
        task_categories: list("task_categories"),
        origin: d["origin"].as_object().cloned().filter(|o| !o.is_empty()),
        files: splits.is_none().then(|| pulled.iter().map(|p| p.to_string()).collect()),
        splits,
    };
    let body = serde_yaml_ng::to_string(&yaml)?;
    // The card goes beside it as README.md, which a push reads back as the card.
    if let Some(card) = d["description"].as_str() {
        let readme = out.join(crate::local::CARD_FILE);
        if readme.exists() {
            eprintln!("note: {} exists and was left as it is", readme.display());
        } else {
            let tmp = out.join("README.md.tmp");
            std::fs::write(&tmp, card).with_context(|| format!("cannot write {}", readme.display()))?;
            std::fs::rename(&tmp, &readme).with_context(|| format!("cannot write {}", readme.display()))?;
        }
    }
    let tmp = out.join("dataset.yaml.tmp");
    std::fs::write(
        &tmp,
        format!(
            "# {org}/{name}@{version}, as pulled; edit and `granary dataset push` to publish a new version\n{body}"
        ),
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
