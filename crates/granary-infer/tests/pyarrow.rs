//! Differential tests: the schema and row count granary infers for each file of a seeded
//! corpus must equal what pyarrow reads (`pyarrow.csv.read_csv`, `pyarrow.json.read_json`,
//! default options), and a file pyarrow refuses must be refused. The corpora and pyarrow's
//! answers come from the generators in `tests/pyarrow/`, run here; CI installs pyarrow
//! (`.ci/run`). Without pyarrow the tests say so and pass.

use granary_core::DataFormat;
use std::process::Command;

fn pyarrow_available() -> bool {
    Command::new("python3")
        .args(["-c", "import pyarrow.csv, pyarrow.json"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `tests/pyarrow/{generator}` for `files` files and compares every one.
fn compare(generator: &str, format: Option<DataFormat>, files: usize) {
    if !pyarrow_available() {
        eprintln!("skipped: python3 cannot import pyarrow (pip install pyarrow; .ci/run does)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = format!("{}/tests/pyarrow/{generator}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(script)
        .arg(dir.path())
        .arg(files.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("expected.json")).unwrap()).unwrap();
    let expected = expected.as_object().unwrap();
    assert_eq!(expected.len(), files);
    let mut failures = Vec::new();
    for (name, want) in expected {
        let format = format.or(DataFormat::from_path(name)).unwrap();
        let got = granary_infer::infer_file(&dir.path().join(name), format);
        match (want.get("error"), got) {
            (Some(e), Ok(g)) => failures.push(format!("{name}: pyarrow refuses ({e}), granary read {g:?}")),
            (Some(_), Err(_)) => {}
            (None, Err(e)) => failures.push(format!("{name}: pyarrow reads {want}, granary refuses: {e}")),
            (None, Ok(g)) => {
                let columns: Vec<(String, String)> = want["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| (c[0].as_str().unwrap().to_string(), c[1].as_str().unwrap().to_string()))
                    .collect();
                if g.columns != columns || g.rows != want["rows"].as_u64().unwrap() {
                    failures.push(format!(
                        "{name}: pyarrow {columns:?} × {}, granary {:?} × {}",
                        want["rows"], g.columns, g.rows
                    ));
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

#[test]
fn csv_schemas_and_rows_equal_pyarrows() {
    compare("csv_corpus.py", Some(DataFormat::Csv), 240);
}

#[test]
fn jsonl_schemas_and_rows_equal_pyarrows() {
    compare("json_corpus.py", Some(DataFormat::Jsonl), 200);
}

#[test]
fn binary_schemas_and_rows_equal_pyarrows() {
    compare("binary_corpus.py", None, 150);
}
