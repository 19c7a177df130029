//! Real OCI clients against `/v2/`, end to end with the real binary: the ORAS Python SDK
//! (PyPI `oras`, its default token auth) pushes two titled parquet files under `1.0.0` and
//! they become a dataset version with the rows and schema pyarrow reads; `oras pull` gets
//! the same bytes back; a generic artifact with an unknown config type round-trips and is
//! not listed as a dataset; and `oras pull` of a version pushed with `granary dataset push`
//! writes its files. Then `granary dataset pull` (and the official client's `dn dataset
//! pull`, when installed) read the ORAS-pushed version. On the embedded default and, when
//! `GRANARY_TEST_DATABASE_URL` and `GRANARY_TEST_S3_URL` are set, PostgreSQL + S3.

mod common;

use common::*;
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::process::Command;

fn sha256_file(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn oras_pushes_and_pulls_datasets_and_artifacts() {
    if !python_has("oras") || !python_has("pyarrow") {
        eprintln!("skipped: python3 with oras and pyarrow is needed (pip install oras pyarrow)");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path();
    for b in backends(&rt) {
        let label = b.label;
        let root = &top.join(label);
        std::fs::create_dir_all(root).unwrap();
        let s = serve(root, &b, &[]);
        let key = s.admin_key();
        ok(&run(root, &["login", "--server", &s.url, "--api-key", &key]));
        let pushed = dataset_dir(root, "qa-pushed", "1.0.0");
        ok(&run(root, &["dataset", "push", pushed.to_str().unwrap()]));

        let out = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oras/oras_e2e.py"))
            .env("URL", &s.url)
            .env("KEY", &key)
            .env("GRANARY_PUSHED", "qa-pushed")
            .env("PUSHED_DIR", &pushed)
            .env("WORK", root.join("oras-work"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{label}: ORAS checks failed\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

        // The ORAS push is a dataset version with the rows and schema pyarrow wrote.
        let detail = &seen["detail"];
        assert_eq!(detail["version"], "1.0.0", "{label}: {detail}");
        assert_eq!(detail["row_count"], seen["expected_rows"], "{label}");
        assert_eq!(detail["row_count"], 1250, "{label}");
        let schema: Vec<(String, String)> = detail["data_schema"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let expected: Vec<(String, String)> = seen["expected_schema"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
            .collect();
        assert_eq!(schema, expected, "{label}: schema differs from pyarrow's");
        assert_eq!(detail["summary"], "Weather, pushed with ORAS");
        assert_eq!(detail["license"], "cc-by-4.0");
        assert_eq!(detail["origin"]["url"], "https://example.org/weather");
        let files: Vec<&str> = detail["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(files, ["test.parquet", "train.parquet"], "{label}");

        // The generic artifact is listed nowhere in the catalog.
        let names: Vec<&str> = seen["listing"]["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"default/weather"), "{label}: {names:?}");
        assert!(!names.iter().any(|n| n.contains("acme-model")), "{label}: {names:?}");

        // `oras pull` of the granary-pushed version wrote its files (checked byte for byte
        // by the script).
        assert_eq!(
            seen["granary_pushed_files"],
            serde_json::json!(["data/test.parquet", "data/train.parquet"]),
            "{label}"
        );

        // `granary dataset pull` reads the ORAS-pushed version like any other.
        let dest = root.join("pulled-weather");
        ok(&run(
            root,
            &[
                "dataset",
                "pull",
                "default/weather@1.0.0",
                "--output",
                dest.to_str().unwrap(),
            ],
        ));
        let src = root.join("oras-work/src");
        let mut pulled: Vec<String> = walk(&dest);
        pulled.sort();
        assert_eq!(pulled, ["dataset.yaml", "test.parquet", "train.parquet"], "{label}");
        let yaml = std::fs::read_to_string(dest.join("dataset.yaml")).unwrap();
        assert!(yaml.contains("Weather, pushed with ORAS"), "{label}: {yaml}");
        pulled.retain(|p| p != "dataset.yaml");
        for p in &pulled {
            let name = Path::new(p).file_name().unwrap();
            assert_eq!(
                sha256_file(&dest.join(p)),
                sha256_file(&src.join(name)),
                "{label}: {p} differs"
            );
        }

        // And so does the official client, when installed.
        let venv = dn_venv();
        if venv.join("bin/dn").exists() {
            let home = root.join("dn-home");
            std::fs::create_dir_all(&home).unwrap();
            let (ok_info, info) = dn(
                &venv,
                &home,
                &s,
                &key,
                &["dataset", "info", "weather", "--organization", "default"],
            );
            assert!(
                ok_info && info.contains("default/weather@1.0.0") && info.contains("Weather, pushed with ORAS"),
                "{label}: dn dataset info: {info}"
            );
            let out_file = home.join("train.parquet");
            let (ok_pull, text) = dn(
                &venv,
                &home,
                &s,
                &key,
                &[
                    "dataset",
                    "pull",
                    "default/weather@1.0.0",
                    "--output",
                    out_file.to_str().unwrap(),
                    "--organization",
                    "default",
                ],
            );
            assert!(ok_pull, "{label}: dn dataset pull: {text}");
            let got = sha256_file(&out_file);
            assert!(
                got == sha256_file(&src.join("train.parquet")) || got == sha256_file(&src.join("test.parquet")),
                "{label}: dn pulled other bytes"
            );
        } else {
            eprintln!("{label}: dn checks skipped: the official client is not installed (see .ci/run)");
        }
    }
}

/// Every file under `dir`, as paths relative to it.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}
