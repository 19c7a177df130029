//! The `/s3` ingest endpoint end to end against the real binary: the S3 protocol driven by
//! boto3 (an independent S3 client), and the official client's `dn dataset push` round
//! trip. Each runs on the embedded default and, when `GRANARY_TEST_DATABASE_URL` and
//! `GRANARY_TEST_S3_URL` are set, on PostgreSQL + S3.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

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
        let second: serde_json::Value = serde_json::from_str(&admin(
            root,
            &b,
            &["key", "create", "admin", "--name", "revoked", "--json"],
        ))
        .unwrap();
        let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
        let revoke = format!(
            "{} admin {} key revoke {}",
            quote(BIN),
            admin_store(root, &b)
                .iter()
                .map(|a| quote(a))
                .collect::<Vec<_>>()
                .join(" "),
            second["id"].as_str().unwrap()
        );
        // A second server whose credentials live one second.
        let short_dir = root.join("short");
        std::fs::create_dir_all(&short_dir).unwrap();
        let short = start(&short_dir, &["--s3-credentials-ttl-secs", "1"]);
        // On the scale-out backend, a second replica over the same stores.
        let replica = (!b.store.is_empty()).then(|| {
            let dir = root.join("replica");
            std::fs::create_dir_all(&dir).unwrap();
            serve(&dir, &b, &[])
        });
        let mut cmd = Command::new("python3");
        if let Some(r) = &replica {
            cmd.env("URL2", &r.url);
        }
        let out = cmd
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

/// The body of a GET, with the key as bearer token when given.
fn http_get(url: &str, key: Option<&str>) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().get(url);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send().await.unwrap().text().await.unwrap()
    })
}

/// One counter of the server's /metrics (0 when absent).
fn metric(s: &Server, line_start: &str) -> u64 {
    let body = http_get(&format!("{}/metrics", s.url), None);
    body.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn get_json(s: &Server, key: &str, path: &str) -> serde_json::Value {
    serde_json::from_str(&http_get(&format!("{}{path}", s.url), Some(key))).unwrap()
}

/// The official client's push round trip (issue: `dn dataset push` works unchanged): a
/// directory with a parquet split over 100 MiB (multipart through /s3) and a csv split is
/// pushed; pushed again it uploads nothing; info shows the server's rows; pulls return the
/// same bytes and are counted once each; `--publish` makes it public; a reader gets a 403.
#[test]
fn dn_push_round_trip() {
    let venv = dn_venv();
    if !venv.join("bin/dn").exists() {
        eprintln!(
            "skipped: the official client is not installed at {} (.ci/run installs dreadnode==2.0.52 there; or set GRANARY_DN_VENV)",
            venv.display()
        );
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path();
    let ds = top.join("ds");
    std::fs::create_dir_all(&ds).unwrap();
    // 120,000 rows of 1,000 random bytes, uncompressed: ~116 MiB, over the client's
    // 100 MiB multipart threshold; written by the venv's pyarrow.
    let gen = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(
            "import os,sys,csv,pyarrow as pa,pyarrow.parquet as pq\n\
             d=sys.argv[1]; n=120000\n\
             pq.write_table(pa.table({'id':pa.array(range(n),pa.int64()),'blob':pa.array([os.urandom(1000) for _ in range(n)],pa.binary())}),d+'/train.parquet',compression='none')\n\
             w=csv.writer(open(d+'/test.csv','w',newline=''))\n\
             w.writerow(['id','text'])\n\
             [w.writerow([i,'row %d'%i]) for i in range(500)]\n",
        )
        .arg(&ds)
        .status()
        .unwrap();
    assert!(gen.success());
    assert!(std::fs::metadata(ds.join("train.parquet")).unwrap().len() > 100 << 20);
    // The client infers a dataset's format from its first file and reads every file with
    // it, so a mixed directory declares format, schema and rows (the server computes its own).
    let yaml = |version: &str| {
        format!(
            "name: dn-mixed\nversion: {version}\nsummary: A parquet split and a csv split\nformat: parquet\n\
             row_count: 120500\ndata_schema:\n  id: int64\nsplits:\n  train: train.parquet\n  test: test.csv\n"
        )
    };
    std::fs::write(ds.join("dataset.yaml"), yaml("1.0.0")).unwrap();
    let dsp = ds.to_str().unwrap();

    for b in backends(&rt) {
        let root = &top.join(b.label);
        std::fs::create_dir_all(root).unwrap();
        let s = serve(root, &b, &[]);
        let key = s.admin_key();
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let label = b.label;

        let (ok1, out) = dn(&venv, &home, &s, &key, &["dataset", "push", dsp]);
        assert!(
            ok1 && out.contains("Pushed default/dn-mixed@1.0.0"),
            "{label}: push: {out}"
        );
        let posts = metric(
            &s,
            r#"granary_http_requests_total{method="POST",route="/s3/{*path}",status="200"}"#,
        );
        assert_eq!(posts, 2, "{label}: one multipart upload (create + complete)");
        assert_eq!(
            metric(&s, "granary_blob_uploads_total"),
            3,
            "{label}: two data files and the config"
        );

        // Again: every file is already there (HeadObject hits), nothing is uploaded.
        let heads = metric(
            &s,
            r#"granary_http_requests_total{method="HEAD",route="/s3/{*path}",status="200"}"#,
        );
        let (ok2, out) = dn(&venv, &home, &s, &key, &["dataset", "push", dsp]);
        assert!(
            ok2 && out.contains("Pushed default/dn-mixed@1.0.0"),
            "{label}: second push: {out}"
        );
        assert_eq!(
            metric(&s, "granary_blob_uploads_total"),
            3,
            "{label}: second push uploaded something"
        );
        assert_eq!(
            metric(
                &s,
                r#"granary_http_requests_total{method="HEAD",route="/s3/{*path}",status="200"}"#
            ),
            heads + 2,
            "{label}: second push checks both files"
        );

        // The server's own figures.
        let info: serde_json::Value = serde_json::from_str(&ok(&run(
            root,
            &[
                "dataset",
                "info",
                "default/dn-mixed@1.0.0",
                "--json",
                "--server",
                &s.url,
                "--api-key",
                &key,
            ],
        )))
        .unwrap();
        assert_eq!(info["row_count"], 120_500, "{label}: {info}");
        assert_eq!(info["format"], "parquet", "{label}: {info}");
        let (ok3, out) = dn(
            &venv,
            &home,
            &s,
            &key,
            &["dataset", "info", "dn-mixed", "--organization", "default"],
        );
        assert!(ok3 && out.contains("default/dn-mixed@1.0.0"), "{label}: dn info: {out}");

        // Pulls: identical bytes, each counted once.
        for (split, file) in [("train", "train.parquet"), ("test", "test.csv")] {
            let dest = root.join(format!("pulled-{file}"));
            let (okp, out) = dn(
                &venv,
                &home,
                &s,
                &key,
                &[
                    "dataset",
                    "pull",
                    "default/dn-mixed@1.0.0",
                    "--split",
                    split,
                    "--output",
                    dest.to_str().unwrap(),
                    "--organization",
                    "default",
                ],
            );
            assert!(okp, "{label}: pull {split}: {out}");
            assert!(
                std::fs::read(&dest).unwrap() == std::fs::read(ds.join(file)).unwrap(),
                "{label}: pulled {file} differs"
            );
        }
        let activity = get_json(&s, &key, "/api/v1/org/default/datasets/activity");
        assert_eq!(activity["total"], 2, "{label}: {activity}");
        let detail = get_json(&s, &key, "/api/v1/org/default/datasets/dn-mixed/1.0.0");
        assert_eq!(detail["download_count"], 2, "{label}: {detail}");

        // --publish: the new version is public.
        let ds2 = root.join("ds2");
        std::fs::create_dir_all(&ds2).unwrap();
        for f in ["train.parquet", "test.csv"] {
            std::fs::hard_link(ds.join(f), ds2.join(f)).unwrap();
        }
        std::fs::write(ds2.join("dataset.yaml"), yaml("1.1.0")).unwrap();
        let (ok4, out) = dn(
            &venv,
            &home,
            &s,
            &key,
            &["dataset", "push", ds2.to_str().unwrap(), "--publish"],
        );
        assert!(
            ok4 && out.contains("Pushed default/dn-mixed@1.1.0"),
            "{label}: push --publish: {out}"
        );
        let latest = get_json(&s, &key, "/api/v1/org/default/datasets/dn-mixed");
        assert_eq!(
            (latest["version"].as_str(), latest["is_public"].as_bool()),
            (Some("1.1.0"), Some(true))
        );

        // Into an org where the key's user is only a reader: a clear 403.
        admin(root, &b, &["org", "create", "second"]);
        admin(root, &b, &["member", "add", "second", "admin", "--role", "reader"]);
        let (ok5, out) = dn(
            &venv,
            &home,
            &s,
            &key,
            &["dataset", "push", dsp, "--organization", "second"],
        );
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            !ok5 && flat.contains("403") && flat.contains("your role in organization second is reader"),
            "{label}: reader push: {out}"
        );
        eprintln!("{label}: dn push round trip ok");
    }
}
