//! The `/s3` ingest endpoint end to end against the real binary: the S3 protocol driven by
//! boto3 (an independent S3 client), and the official client's `dn dataset push` round
//! trip. Each runs on the embedded default and, when `GRANARY_TEST_DATABASE_URL` and
//! `GRANARY_TEST_S3_URL` are set, on PostgreSQL + S3.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One backend pair: its label and the flags `serve` and `admin` take for it beyond
/// `--data-dir` (none for the embedded default).
struct Backend {
    label: &'static str,
    store: Vec<String>,
}

fn backends(rt: &tokio::runtime::Runtime) -> Vec<Backend> {
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

/// The `granary admin` flags that reach a backend whose server runs in `root`.
fn admin_store(root: &Path, b: &Backend) -> Vec<String> {
    let mut v = vec!["--data-dir".to_string(), root.join("data").display().to_string()];
    v.extend(b.store.iter().cloned());
    v
}

fn admin(root: &Path, b: &Backend, args: &[&str]) -> String {
    let store = admin_store(root, b);
    let mut all: Vec<&str> = vec!["admin"];
    all.extend(store.iter().map(String::as_str));
    all.extend_from_slice(args);
    ok(&run(root, &all)).trim().to_string()
}

fn serve(root: &Path, b: &Backend, extra: &[&str]) -> Server {
    let mut args: Vec<&str> = b.store.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    start(root, &args)
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3").join(name)
}

/// boto3 against `/s3`: put, multipart out of order, head with ranges, list, abort, digest
/// mismatches, bad signatures, wrong and missing session tokens, clock skew, presigned URLs,
/// revoked keys and expired credentials (tests/s3/boto3_protocol.py lists every check).
#[test]
fn s3_protocol_with_boto3() {
    if !python_has("boto3") {
        eprintln!("skipped: python3 with boto3 is needed (pip install boto3)");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for b in backends(&rt) {
        let root = &root.join(b.label);
        std::fs::create_dir_all(root).unwrap();
        let s = serve(root, &b, &[]);
        let key = s.admin_key();
        admin(root, &b, &["user", "create", "reader"]);
        admin(root, &b, &["member", "add", "default", "reader", "--role", "reader"]);
        let reader = admin(root, &b, &["key", "create", "reader"]);
        let second: serde_json::Value =
            serde_json::from_str(&admin(root, &b, &["key", "create", "admin", "--name", "revoked", "--json"])).unwrap();
        let revoke = format!(
            "{BIN} admin {} key revoke {}",
            admin_store(root, &b).join(" "),
            second["id"].as_str().unwrap()
        );
        // A second server whose credentials live one second.
        let short_dir = root.join("short");
        std::fs::create_dir_all(&short_dir).unwrap();
        let short = start(&short_dir, &["--s3-credentials-ttl-secs", "1"]);
        let out = Command::new("python3")
            .arg(script("boto3_protocol.py"))
            .env("URL", &s.url)
            .env("KEY", &key)
            .env("READER_KEY", &reader)
            .env("REVOKED_KEY", second["key"].as_str().unwrap())
            .env("REVOKE", &revoke)
            .env("SHORT_URL", &short.url)
            .env("SHORT_KEY", short.admin_key())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.starts_with("ok "),
            "{}: boto3 checks failed\nstdout: {stdout}\nstderr: {}",
            b.label,
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{}: {}", b.label, stdout.lines().next().unwrap_or(""));
    }
}
