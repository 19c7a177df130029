//! Differential tests through the real server: every file of a seeded corpus is published
//! as its own dataset, and the schema and row count the server records for it must equal
//! what pyarrow reads from the same bytes (`pyarrow.csv.read_csv`, `pyarrow.json.read_json`,
//! `pyarrow.parquet.read_schema`, `pyarrow.ipc`, default options), and where the corpus gives
//! values (the type corpus) the preview shows them exactly; a file pyarrow refuses
//! must be refused. The corpora (csv; JSON lines; parquet, arrow and feather written by
//! pyarrow, pandas and polars) and pyarrow's answers come from the seeded generators in
//! `crates/granary-infer/tests/pyarrow/`, run here; CI installs pyarrow, pandas and polars
//! (`.ci/run`). Without pyarrow the tests say so and pass.

use axum::http::StatusCode;
use serde_json::{json, Value};
use std::process::Command;

use crate::helpers::TestApp;

fn pyarrow_available() -> bool {
    Command::new("python3")
        .args(["-c", "import pyarrow.csv, pyarrow.json, pyarrow.parquet"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the generator for `files` files (`None`: as many as it writes), publishes each and
/// compares every one; where the generator gives `values`, the preview's rows must equal
/// them exactly.
async fn compare(generator: &str, format: &str, files: Option<usize>) {
    if !pyarrow_available() {
        eprintln!("skipped: python3 cannot import pyarrow (pip install pyarrow pandas polars; .ci/run does)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "{}/../granary-infer/tests/pyarrow/{generator}",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new("python3")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(script)
        .arg(dir.path())
        .args(files.map(|n| n.to_string()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: Value = serde_json::from_slice(&std::fs::read(dir.path().join("expected.json")).unwrap()).unwrap();
    let expected = expected.as_object().unwrap();
    let files = files.unwrap_or(expected.len());
    assert_eq!(expected.len(), files);
    let app = TestApp::new().await;
    let mut failures = Vec::new();
    for (n, (name, want)) in expected.iter().enumerate() {
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        let dataset = format!("corpus-{n}");
        let r = app
            .publish(
                &app.admin,
                "default",
                &dataset,
                "1.0.0",
                &[(name, bytes)],
                json!({"format": format}),
            )
            .await;
        let refused = if r.status == StatusCode::CREATED {
            None
        } else {
            assert!(r.status.is_client_error(), "{name}: {} {:?}", r.status, r.body);
            Some(r.json()["detail"].as_str().unwrap_or_default().to_string())
        };
        match (want.get("error"), refused) {
            (Some(_), Some(_)) => {}
            (Some(e), None) => failures.push(format!("{name}: pyarrow refuses ({e}), granary published it")),
            (None, Some(e)) => failures.push(format!("{name}: pyarrow reads {want}, granary refuses: {e}")),
            (None, None) => {
                let d = app
                    .get(&format!("/api/v1/org/default/datasets/{dataset}"), &app.admin)
                    .await
                    .json();
                let file = &d["files"][0];
                let got: Vec<(String, String)> = file["data_schema"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let columns: Vec<(String, String)> = want["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| (c[0].as_str().unwrap().to_string(), c[1].as_str().unwrap().to_string()))
                    .collect();
                if got != columns || file["row_count"] != want["rows"] || d["row_count"] != want["rows"] {
                    failures.push(format!(
                        "{name}: pyarrow {columns:?} × {}, granary {got:?} × {}",
                        want["rows"], file["row_count"]
                    ));
                }
                assert_eq!(d["data_schema"], file["data_schema"], "{name}: one file, one schema");
                // The file previews, with the same columns.
                let p = app
                    .get(
                        &format!("/api/v1/org/default/datasets/{dataset}/1.0.0/preview"),
                        &app.admin,
                    )
                    .await;
                if p.status != StatusCode::OK {
                    failures.push(format!("{name}: preview {}: {}", p.status, p.json()["detail"]));
                } else {
                    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
                    let shown: Vec<String> = p.json()["columns"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["name"].as_str().unwrap().to_string())
                        .collect();
                    if shown != names {
                        failures.push(format!("{name}: preview columns {shown:?}, pyarrow {names:?}"));
                    }
                    if let Some(values) = want.get("values") {
                        if p.json()["rows"] != *values {
                            failures.push(format!("{name}: preview rows {}, pyarrow {values}", p.json()["rows"]));
                        }
                    }
                    let previewed = p.json()["rows"].as_array().map_or(0, Vec::len) as u64;
                    if previewed != want["rows"].as_u64().unwrap().min(20) {
                        failures.push(format!("{name}: preview shows {previewed} rows of {}", want["rows"]));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {files} files differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn csv_schemas_and_rows_equal_pyarrows() {
    compare("csv_corpus.py", "csv", Some(240)).await;
}

#[tokio::test]
async fn jsonl_schemas_and_rows_equal_pyarrows() {
    compare("json_corpus.py", "jsonl", Some(200)).await;
}

#[tokio::test]
async fn files_pyarrow_pandas_and_polars_write_are_read_as_pyarrow_reads_them() {
    compare("binary_corpus.py", "parquet", Some(240)).await;
}

/// One file per Arrow type and container (parquet, arrow, feather), plus csv and JSON lines
/// with 64-bit integers past 2^53: every previewed value equals pyarrow's, in the JSON form
/// docs/API.md states (decimals and big integers exact, timestamps ISO 8601 with their zone).
#[tokio::test]
async fn previews_show_every_arrow_type_exactly_as_pyarrow_reads_it() {
    compare("types_corpus.py", "parquet", None).await;
}
