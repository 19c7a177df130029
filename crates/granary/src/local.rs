//! A dataset directory on disk: `dataset.yaml` plus data files. Loading it computes, for
//! every file, its digest, size, schema and row count, and builds the dataset manifest
//! (the config blob) exactly as it will be pushed.

use anyhow::{anyhow, bail, Context, Result};
use granary_core::manifest::{ANN_NAME, ANN_TYPE, ANN_VERSION, MEDIA_DATASET_CONFIG, MEDIA_OCI_MANIFEST};
use granary_core::{
    artifacts_hash, size_category, validate_artifact_path, validate_dataset_name, DataFormat, DatasetManifest,
    Descriptor, Digest, OciManifest, Version,
};
use granary_infer::{infer_file, version_schema, Inferred, TableFile};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The keys `dataset.yaml` may hold ([`DatasetYaml`]'s fields).
const KNOWN_KEYS: &[&str] = &[
    "name",
    "version",
    "summary",
    "description",
    "format",
    "splits",
    "files",
    "tags",
    "license",
    "pretty_name",
    "language",
    "task_categories",
    "size_category",
    "origin",
];

/// The dataset card read when `dataset.yaml` has no `description:`: markdown beside it.
pub const CARD_FILE: &str = "README.md";

/// The most characters of a card's first paragraph that become the summary.
const SUMMARY_CHARS: usize = 280;

/// The summary published: `summary:`, else the card's first paragraph that is not a
/// heading, as one line, cut at [`SUMMARY_CHARS`] characters.
fn summary_of(y: &DatasetYaml) -> Option<String> {
    if y.summary.is_some() {
        return y.summary.clone();
    }
    let card = y.description.as_deref()?;
    let para: Vec<&str> = card
        .split("\n\n")
        .map(str::trim)
        .find(|p| !p.is_empty() && !p.starts_with('#') && !p.starts_with("```") && !p.starts_with('<'))?
        .lines()
        .map(str::trim)
        .collect();
    let line = para.join(" ");
    Some(match line.char_indices().nth(SUMMARY_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    })
}

/// The keys `dataset.yaml` may hold. Unknown keys are not published; they get a warning
/// naming the closest known key.
#[derive(Deserialize, Default)]
struct DatasetYaml {
    name: Option<String>,
    /// Read as the text the user wrote: `1.10` stays `1.10`, not the float 1.1.
    version: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    format: Option<String>,
    splits: Option<BTreeMap<String, String>>,
    files: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    license: Option<String>,
    pretty_name: Option<String>,
    language: Option<Vec<String>>,
    task_categories: Option<Vec<String>>,
    size_category: Option<String>,
    origin: Option<Map<String, Value>>,
}

pub struct LocalFile {
    pub path: String,
    pub size: u64,
    pub digest: Digest,
    pub inferred: Inferred,
    pub split: Option<String>,
}

pub struct LocalDataset {
    /// Set when `name:` is written `org/name`.
    pub org: Option<String>,
    pub name: String,
    pub version: Version,
    pub files: Vec<LocalFile>,
    /// The version's schema, as the server will publish it.
    pub schema: Vec<(String, String)>,
    pub config: DatasetManifest,
    pub config_bytes: Vec<u8>,
}

impl LocalDataset {
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.inferred.rows).sum()
    }

    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The OCI manifest that publishes this dataset as `org/name@version`.
    pub fn manifest_bytes(&self, org: &str) -> Vec<u8> {
        let mut annotations = BTreeMap::new();
        annotations.insert(ANN_TYPE.to_string(), "dataset".to_string());
        annotations.insert(ANN_NAME.to_string(), format!("{org}/{}", self.name));
        annotations.insert(ANN_VERSION.to_string(), self.version.to_string());
        let m = OciManifest {
            schema_version: 2,
            media_type: Some(MEDIA_OCI_MANIFEST.to_string()),
            config: Descriptor {
                media_type: MEDIA_DATASET_CONFIG.to_string(),
                digest: Digest::of(&self.config_bytes),
                size: self.config_bytes.len() as u64,
                annotations: BTreeMap::new(),
            },
            layers: Vec::new(),
            annotations,
        };
        serde_json::to_vec_pretty(&m).expect("manifest serialises")
    }
}

const SKIP_DIRS: &[&str] = &[".git", "__pycache__", "node_modules", ".venv"];

/// Finds the data files under `dir` (inside `root`, canonical), in name order. Hidden
/// entries and [`SKIP_DIRS`] are passed over; symbolic links are followed when their
/// target stays inside `root` (the file is published under the link's path) and refused,
/// naming the link, when it leaves `root`, dangles, or loops. Every other file that is
/// not published gets a line in `skipped`, so nothing is left out silently.
fn discover(root: &Path, dir: &Path, out: &mut Vec<PathBuf>, skipped: &mut Vec<String>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || SKIP_DIRS.contains(&name.as_str()) {
            continue;
        }
        let path = e.path();
        let mut ft = e.file_type()?;
        if ft.is_symlink() {
            let shown = rel(root, &path)?;
            let target = std::fs::read_link(&path).unwrap_or_default();
            let canon = match path.canonicalize() {
                Ok(c) => c,
                Err(_) => bail!(
                    "{shown} is a symbolic link to {}, which does not exist: fix or remove the link",
                    target.display()
                ),
            };
            if !canon.starts_with(root) {
                bail!(
                    "{shown} is a symbolic link to {}, outside {}: copy the file in (cp -L) or list only files inside the directory",
                    canon.display(),
                    root.display()
                );
            }
            ft = std::fs::metadata(&canon)
                .with_context(|| format!("cannot read {}", canon.display()))?
                .file_type();
            if ft.is_dir() && path.starts_with(&canon) {
                bail!("{shown} is a symbolic link to a directory that contains it: remove the link");
            }
        }
        if ft.is_dir() {
            discover(root, &path, out, skipped)?;
        } else if (name == "dataset.yaml" || name == CARD_FILE) && dir == root {
            continue;
        } else if ft.is_file() && DataFormat::from_path(&name).is_some() {
            out.push(path);
        } else if ft.is_file() {
            skipped.push(format!("{} (not a data file)", rel(root, &path)?));
        } else {
            skipped.push(format!("{} (not a regular file)", rel(root, &path)?));
        }
    }
    Ok(())
}

fn rel(root: &Path, p: &Path) -> Result<String> {
    let r = p
        .strip_prefix(root)
        .map_err(|_| anyhow!("{} is outside {}", p.display(), root.display()))?;
    let parts: Vec<String> = r
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    Ok(parts.join("/"))
}

pub fn hash_file(path: &Path) -> Result<(Digest, u64)> {
    hash_file_with(path, &|_| {})
}

/// The file's sha256 digest and size, calling `on_read` with each chunk's length (bytes)
/// as it is hashed (for progress).
pub fn hash_file_with(path: &Path, on_read: &(dyn Fn(u64) + Sync)) -> Result<(Digest, u64)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
        on_read(n as u64);
    }
    Ok((Digest::from_hasher(h), size))
}

/// A data file of a dataset directory, before it is read.
pub struct PlannedFile {
    pub path: String,
    pub abs: PathBuf,
    pub format: DataFormat,
    pub split: Option<String>,
}

/// A dataset directory read and checked, its files found but not yet read.
pub struct Plan {
    org: Option<String>,
    name: String,
    version: Version,
    format: DataFormat,
    y: DatasetYaml,
    pub files: Vec<PlannedFile>,
    /// Files in the directory that are not published, each with the reason in brackets.
    pub skipped: Vec<String>,
    /// What `dataset.yaml` holds that is not published (unknown keys), one line each.
    pub warnings: Vec<String>,
}

impl Plan {
    /// Says on stderr what will not be published: unknown `dataset.yaml` keys (a line
    /// each) and the directory's files that are not data files (one line).
    pub fn report_skipped(&self) {
        for w in &self.warnings {
            eprintln!("warning: {w}");
        }
        if !self.skipped.is_empty() {
            eprintln!("note: not published: {}", self.skipped.join(", "));
        }
    }

    pub fn org(&self) -> Option<&str> {
        self.org.as_deref()
    }
    pub fn version(&self) -> Version {
        self.version
    }

    /// What differs between this directory and a published version's detail (`detail`),
    /// given the local files' (path, split, digest): the files, then each field
    /// `dataset.yaml` sets. Empty when pushing would publish the same version again.
    pub fn differences(&self, local: &[(String, Option<String>, Digest)], detail: &Value) -> Vec<String> {
        let mut out = Vec::new();
        let mut published: Vec<(String, Option<String>, String)> = detail["files"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(|f| {
                        (
                            f["path"].as_str().unwrap_or_default().to_string(),
                            f["split"].as_str().map(str::to_string),
                            f["digest"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        published.sort();
        let mut here: Vec<(String, Option<String>, String)> = local
            .iter()
            .map(|(p, s, d)| (p.clone(), s.clone(), d.to_string()))
            .collect();
        here.sort();
        if here != published {
            let changed: Vec<&str> = here
                .iter()
                .filter(|f| !published.contains(f))
                .map(|f| f.0.as_str())
                .chain(
                    published
                        .iter()
                        .filter(|f| !here.iter().any(|h| h.0 == f.0))
                        .map(|f| f.0.as_str()),
                )
                .collect();
            out.push(format!("files ({})", changed.join(", ")));
        }
        let y = &self.y;
        let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        let list = |v: &Option<Vec<String>>| v.clone().map_or(Value::Null, |v| json!(v));
        let fields = [
            ("summary", text(&summary_of(y))),
            ("description", text(&y.description)),
            ("license", text(&y.license)),
            ("pretty_name", text(&y.pretty_name)),
            ("tags", list(&y.tags)),
            ("language", list(&y.language)),
            ("task_categories", list(&y.task_categories)),
            ("origin", y.origin.clone().map_or(Value::Null, Value::Object)),
        ];
        for (key, mine) in fields {
            let theirs = &detail[key];
            let empty = |v: &Value| {
                v.is_null() || v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(Map::is_empty)
            };
            if mine != *theirs && !(empty(&mine) && empty(theirs)) {
                out.push(key.to_string());
            }
        }
        out
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Publishes under `[org/]name` instead of what `dataset.yaml` says (`push --name`).
    /// Errors when the name (or org) is not valid, with the rule.
    pub fn set_name(&mut self, full: &str) -> Result<()> {
        let (org, name) = match full.split_once('/') {
            Some((o, n)) => {
                granary_core::validate_org_key(o).map_err(|e| anyhow!("--name {full}: {e}"))?;
                (Some(o.to_string()), n.to_string())
            }
            None => (self.org.clone(), full.to_string()),
        };
        validate_dataset_name(&name).map_err(|e| anyhow!("--name {full}: {e}"))?;
        self.org = org;
        self.name = name;
        Ok(())
    }

    /// Publishes as `version` instead of what `dataset.yaml` says (`push --version`).
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }
}

/// What reading one planned file found: its digest and size, and its schema and rows.
pub struct FileFacts {
    pub digest: Digest,
    pub size: u64,
    pub inferred: Inferred,
}

/// Infers a planned file's schema and row count (a pass over the file).
pub fn infer(f: &PlannedFile) -> Result<Inferred> {
    infer_file(&f.abs, f.format).map_err(|e| anyhow!("{}: {e}", f.path))
}

/// Infers as [`infer`] does, calling `on_read` with the bytes read as it goes (text and
/// Arrow formats are read whole; parquet only from its footer, said as one step).
pub fn infer_with(f: &PlannedFile, on_read: &(dyn Fn(u64) + Sync)) -> Result<Inferred> {
    if f.format == DataFormat::Parquet {
        let inferred = infer(f);
        on_read(std::fs::metadata(&f.abs).map(|m| m.len()).unwrap_or(0));
        return inferred;
    }
    struct Counting<'a, R>(R, &'a (dyn Fn(u64) + Sync));
    impl<R: Read> Read for Counting<'_, R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            (self.1)(n as u64);
            Ok(n)
        }
    }
    let file = std::fs::File::open(&f.abs).with_context(|| format!("cannot open {}", f.abs.display()))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, Counting(file, on_read));
    granary_infer::infer_reader(f.format, reader).map_err(|e| anyhow!("{}: {e}", f.path))
}

/// Reads and checks a dataset directory, reading every file, with each file's reading
/// shown by `progress` (one transfer per file). Errors are one line saying what to fix.
pub fn load(dir: &Path, progress: &crate::progress::Progress) -> Result<LocalDataset> {
    let plan = plan(dir)?;
    plan.report_skipped();
    let mut facts = Vec::with_capacity(plan.files.len());
    for f in &plan.files {
        let size = std::fs::metadata(&f.abs).map(|m| m.len()).unwrap_or(0);
        let t = progress.transfer("reading", &f.path, size);
        t.start_at(0);
        // Hashing and inference each read the file once; they run side by side, and the
        // inference (the slower pass) is what the bar shows.
        let (hashed, inferred) = std::thread::scope(|s| {
            let hashing = s.spawn(|| hash_file(&f.abs));
            let inferred = infer_with(f, &|n| t.inc(n));
            (hashing.join().expect("hashing does not panic"), inferred)
        });
        t.finish();
        let (digest, size) = hashed?;
        facts.push(FileFacts {
            digest,
            size,
            inferred: inferred?,
        });
    }
    finish(plan, facts)
}

/// Parses `dataset.yaml` (YAML 1.2: a leading byte order mark is allowed, as editors on
/// Windows write one). Errors name the line and quote it.
fn parse_yaml(text: &str) -> Result<(DatasetYaml, Vec<String>)> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    if body.trim().is_empty() {
        return Ok((DatasetYaml::default(), Vec::new()));
    }
    let warnings = match serde_yaml_ng::from_str::<serde_yaml_ng::Mapping>(body) {
        Ok(map) => map
            .keys()
            .filter_map(|k| k.as_str())
            .filter(|k| !KNOWN_KEYS.contains(k))
            .map(|k| {
                let place = yaml_place(text, k);
                let closest = KNOWN_KEYS
                    .iter()
                    .map(|known| (strsim::damerau_levenshtein(k, known), *known))
                    .min()
                    .filter(|(d, known)| *d <= 2.max(known.len() / 3));
                match closest {
                    Some((_, known)) => format!("{place}: unknown key `{k}` is not published; did you mean `{known}`?"),
                    None => format!(
                        "{place}: unknown key `{k}` is not published; known keys: {}",
                        KNOWN_KEYS.join(", ")
                    ),
                }
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let y = serde_yaml_ng::from_str(body).map_err(|e| {
        let Some(loc) = e.location() else {
            return anyhow!("dataset.yaml: {e}");
        };
        // The message without serde_yaml's own " at line L column C" suffix.
        let full = e.to_string();
        let msg = full.rsplit_once(" at line ").map_or(full.as_str(), |(m, _)| m);
        let line = body.lines().nth(loc.line().saturating_sub(1)).unwrap_or("").trim_end();
        anyhow!("dataset.yaml line {}: `{line}`: {msg}", loc.line())
    })?;
    Ok((y, warnings))
}

/// Where a top-level key is written: `dataset.yaml line N`, or `dataset.yaml` when the
/// key is not on a line of its own (flow style, or absent).
fn yaml_place(text: &str, key: &str) -> String {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    body.lines()
        .position(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or_else(
            || "dataset.yaml".to_string(),
            |i| format!("dataset.yaml line {}", i + 1),
        )
}

/// Reads and checks a dataset directory and finds its data files, without reading them.
pub fn plan(dir: &Path) -> Result<Plan> {
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot open {}", dir.display()))?;
    let yaml_path = root.join("dataset.yaml");
    let text = match std::fs::read_to_string(&yaml_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "no dataset.yaml in {}: create one with at least `name:` and `version:`",
                dir.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", yaml_path.display())),
    };
    let (mut y, warnings) = parse_yaml(&text)?;
    let at = |key: &str| yaml_place(&text, key);
    if y.description.is_none() {
        let card = root.join(CARD_FILE);
        if card.is_file() {
            let text = std::fs::read_to_string(&card).with_context(|| format!("cannot read {}", card.display()))?;
            y.description =
                Some(text.strip_prefix('\u{feff}').unwrap_or(&text).to_string()).filter(|t| !t.trim().is_empty());
        }
    }

    let full_name = y.name.clone().unwrap_or_else(|| {
        root.file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default()
    });
    let (org, name) = match full_name.split_once('/') {
        Some((o, n)) => {
            granary_core::validate_org_key(o).map_err(|e| anyhow!("{}: {e}", at("name")))?;
            (Some(o.to_string()), n.to_string())
        }
        None => (None, full_name),
    };
    validate_dataset_name(&name).map_err(|e| anyhow!("{}: {e}", at("name")))?;
    let version: Version = match &y.version {
        None => Version {
            major: 0,
            minor: 1,
            patch: 0,
        },
        Some(text) => text.parse().map_err(|e| anyhow!("{}: {e}", at("version")))?,
    };

    if let Some(splits) = &y.splits {
        granary_core::manifest::validate_splits(splits).map_err(|e| anyhow!("dataset.yaml splits: {e}"))?;
    }
    // Which files: the splits, else `files:`, else every data file in the directory.
    let listed: Option<Vec<String>> = match (&y.splits, &y.files) {
        (Some(s), _) if !s.is_empty() => Some(s.values().cloned().collect()),
        (_, Some(f)) if !f.is_empty() => Some(f.clone()),
        _ => None,
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut skipped = Vec::new();
    match listed {
        Some(list) => {
            for p in list {
                validate_artifact_path(&p).map_err(|e| anyhow!("dataset.yaml: {e}"))?;
                let abs = root.join(&p);
                if let Some(ext) = Path::new(&p).extension().and_then(|e| e.to_str()) {
                    if DataFormat::from_path(&p).is_none() {
                        bail!(
                            "dataset.yaml lists {p}: .{ext} files are not supported; use parquet, csv, json, jsonl, arrow or feather files"
                        );
                    }
                }
                if !abs.is_file() {
                    bail!("dataset.yaml lists {p}, but there is no such file in {}", dir.display());
                }
                let canon = abs.canonicalize()?;
                if !canon.starts_with(&root) {
                    bail!("dataset.yaml lists {p}, which leads outside {}", dir.display());
                }
                if !paths.contains(&abs) {
                    paths.push(abs);
                }
            }
            paths.sort();
        }
        None => {
            discover(&root, &root, &mut paths, &mut skipped)?;
            refuse_mixed_formats(&root, &paths, dir)?;
        }
    }
    if paths.is_empty() {
        let seen = if skipped.is_empty() {
            String::new()
        } else {
            format!(" (found only {})", skipped.join(", "))
        };
        bail!(
            "no data files in {}{seen}: add .parquet, .csv, .json, .jsonl, .arrow or .feather files, or list them under `files:` in dataset.yaml",
            dir.display()
        );
    }

    let first_rel = rel(&root, &paths[0])?;
    let format = match &y.format {
        Some(f) => f.parse::<DataFormat>().map_err(|e| anyhow!("dataset.yaml: {e}"))?,
        None => DataFormat::from_path(&first_rel).unwrap_or(DataFormat::Parquet),
    };
    let split_of: BTreeMap<String, String> = y
        .splits
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(split, path)| (path, split))
        .collect();
    let mut files = Vec::new();
    for abs in paths {
        let path = rel(&root, &abs)?;
        files.push(PlannedFile {
            split: split_of.get(&path).cloned(),
            format: DataFormat::from_path(&path).unwrap_or(format),
            path,
            abs,
        });
    }
    if let Some(cat) = &y.size_category {
        granary_core::manifest::validate_size_category(cat).map_err(|e| anyhow!("dataset.yaml: {e}"))?;
    }
    Ok(Plan {
        org,
        name,
        version,
        format,
        y,
        files,
        skipped,
        warnings,
    })
}

/// A directory published without `files:` or `splits:` holds one format: files of several
/// would be read under one schema and one `format`. Errors name each format's files.
fn refuse_mixed_formats(root: &Path, paths: &[PathBuf], dir: &Path) -> Result<()> {
    let mut by_format: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut readers: Vec<DataFormat> = Vec::new();
    for p in paths {
        let path = rel(root, p)?;
        let format = DataFormat::from_path(&path);
        // Formats read into one table (json with jsonl, arrow with feather) do not mix.
        if let Some(f) = format {
            if !readers.iter().any(|r| granary_infer::same_reader(*r, f)) {
                readers.push(f);
            }
        }
        by_format
            .entry(format.map_or("other".to_string(), |f| f.to_string()))
            .or_default()
            .push(path);
    }
    if readers.len() > 1 {
        let groups: Vec<String> = by_format
            .iter()
            .map(|(f, files)| {
                let shown: Vec<&str> = files.iter().take(3).map(String::as_str).collect();
                let more = if files.len() > 3 {
                    format!(" and {} more", files.len() - 3)
                } else {
                    String::new()
                };
                format!("{f}: {}{more}", shown.join(", "))
            })
            .collect();
        bail!(
            "{} mixes data formats ({}): without `files:` or `splits:` a directory is published in one format; map each format's files to their own split under `splits:` in dataset.yaml, list the files to publish under `files:`, or move the others out",
            dir.display(),
            groups.join("; ")
        );
    }
    Ok(())
}

/// The dataset, with `facts` about each of the plan's files (in the plan's order). Errors
/// when the files do not hold one table (or one per split), as the server would refuse
/// them (`granary_infer::version_schema`).
pub fn finish(plan: Plan, facts: Vec<FileFacts>) -> Result<LocalDataset> {
    let Plan {
        org,
        name,
        version,
        format,
        y,
        files: planned,
        ..
    } = plan;
    let tables: Vec<TableFile> = planned
        .iter()
        .zip(&facts)
        .map(|(p, f)| TableFile {
            path: &p.path,
            split: p.split.as_deref(),
            format: p.format,
            columns: &f.inferred.columns,
        })
        .collect();
    let schema = version_schema(&tables).map_err(|e| anyhow!("{e}"))?;
    let files: Vec<LocalFile> = planned
        .into_iter()
        .zip(facts)
        .map(|(p, f)| LocalFile {
            path: p.path,
            size: f.size,
            digest: f.digest,
            inferred: f.inferred,
            split: p.split,
        })
        .collect();

    let artifacts: BTreeMap<String, String> = files.iter().map(|f| (f.path.clone(), f.digest.to_string())).collect();
    let rows: u64 = files.iter().map(|f| f.inferred.rows).sum();
    let config = DatasetManifest {
        artifacts_hash: Some(artifacts_hash(&artifacts).to_string()),
        artifacts,
        format: format.to_string(),
        data_schema: schema
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
        row_count: Some(rows as i64),
        splits: y.splits.clone().filter(|s| !s.is_empty()),
        summary: summary_of(&y),
        description: y.description.clone(),
        tags: y.tags.clone(),
        license: y.license.clone(),
        pretty_name: y.pretty_name.clone(),
        language: y.language.clone(),
        task_categories: y.task_categories.clone(),
        size_category: Some(
            y.size_category
                .clone()
                .unwrap_or_else(|| size_category(rows).to_string()),
        ),
        origin: y.origin.clone(),
    };
    let config_bytes = serde_json::to_vec_pretty(&config).expect("config serialises");
    Ok(LocalDataset {
        org,
        name,
        version,
        files,
        schema,
        config,
        config_bytes,
    })
}
