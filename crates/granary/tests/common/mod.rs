//! Shared by the binary's integration tests: a real `granary serve` on a loopback port,
//! the CLI run against it, and dataset fixtures.
#![allow(dead_code)]

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

pub const BIN: &str = env!("CARGO_BIN_EXE_granary");

pub struct Server {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
    pub banner: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn clean(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("GRANARY_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Starts `granary serve` on a free port; returns once it listens.
pub fn start(dir: &Path, extra: &[&str]) -> Server {
    start_on(dir, "127.0.0.1:0", extra)
}

/// Starts `granary serve` listening on `listen` (a restart keeps its address).
pub fn start_on(dir: &Path, listen: &str, extra: &[&str]) -> Server {
    let data = dir.join("data");
    let mut cmd = Command::new(BIN);
    clean(&mut cmd)
        .current_dir(dir)
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(&data)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    let url = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        if let Some(addr) = line.strip_prefix("granary listening on ") {
            break addr.to_string();
        }
        banner.push_str(&line);
        banner.push('\n');
    };
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        url,
        data,
        banner,
    }
}

impl Server {
    pub fn admin_key(&self) -> String {
        std::fs::read_to_string(self.data.join("initial-admin-key"))
            .unwrap()
            .trim()
            .to_string()
    }
}

pub fn run(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    clean(&mut cmd)
        .current_dir(dir)
        .env("GRANARY_CONFIG_DIR", dir.join("cfg"))
        .env("GRANARY_CACHE_DIR", dir.join("cache"))
        .args(args);
    cmd.output().unwrap()
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Fails with exactly one line on stderr, `error: …`, and no backtrace.
pub fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.starts_with("error: "), "{err:?}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err:?}");
    err.trim_end().to_string()
}

pub fn parquet_file(path: &Path, rows: i64) {
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
    let q: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..rows).map(|i| format!("question {i}")),
    ));
    let batch = RecordBatch::try_from_iter([("id", ids), ("question", q)]).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

pub fn dataset_dir(root: &Path, name: &str, version: &str) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(d.join("data")).unwrap();
    parquet_file(&d.join("data/train.parquet"), 1200);
    parquet_file(&d.join("data/test.parquet"), 34);
    std::fs::write(
        d.join("dataset.yaml"),
        format!(
            "name: {name}\nversion: {version}\nsummary: Questions\nlicense: apache-2.0\ntags: [qa]\n\
             splits:\n  train: data/train.parquet\n  test: data/test.parquet\n"
        ),
    )
    .unwrap();
    d
}

/// Fails after progress lines (a phase or file line each, as outside a terminal): the last
/// line is the one `error: …` line; no panic, no backtrace.
pub fn fails_after_progress(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure");
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{err:?}");
    assert_eq!(err.matches("error:").count(), 1, "{err:?}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err:?}");
    last.to_string()
}

/// One backend pair: its label and the flags `serve` and `admin` take for it beyond
/// `--data-dir` (none for the embedded default).
pub struct Backend {
    pub label: &'static str,
    pub store: Vec<String>,
}

pub fn backends(rt: &tokio::runtime::Runtime) -> Vec<Backend> {
    let mut out = vec![Backend {
        label: "sqlite+disk",
        store: vec![],
    }];
    match (
        std::env::var("GRANARY_TEST_DATABASE_URL"),
        std::env::var("GRANARY_TEST_S3_URL"),
    ) {
        (Ok(db_url), Ok(s3_url)) => {
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let url = rt
                .block_on(granary_db::sql::create_postgres_database(&db_url, &name))
                .unwrap();
            let (base, query) = s3_url.split_once('?').unwrap_or((&s3_url, ""));
            let blobs = format!("{}/{name}?{query}", base.trim_end_matches('/'));
            out.push(Backend {
                label: "postgres+s3",
                store: vec!["--database-url".into(), url, "--blob-store".into(), blobs],
            });
        }
        _ => eprintln!(
            "postgres+s3 skipped: set GRANARY_TEST_DATABASE_URL and GRANARY_TEST_S3_URL to run against PostgreSQL + S3"
        ),
    }
    out
}

pub fn serve(root: &Path, b: &Backend, extra: &[&str]) -> Server {
    let mut args: Vec<&str> = b.store.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    start(root, &args)
}

pub fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Where `.ci/run` installs the official client (`dreadnode` 2.0.52): `GRANARY_DN_VENV`,
/// else `target/dn-venv` at the workspace root.
pub fn dn_venv() -> PathBuf {
    std::env::var_os("GRANARY_DN_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dn-venv"))
}

/// Runs `dn` with the server and key, in a home of its own; returns (success, stdout+stderr).
pub fn dn(venv: &Path, home: &Path, s: &Server, key: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(venv.join("bin/dn"))
        .args(args)
        .args(["--server", &s.url, "--api-key", key])
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "200")
        .env_remove("DREADNODE_SERVER")
        .env_remove("DREADNODE_API_KEY")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
