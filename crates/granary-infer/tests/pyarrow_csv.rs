//! Differential test: the schema and row count granary infers for each file of a seeded csv
//! corpus must equal what pyarrow reads (`pyarrow.csv.read_csv`, default options). The
//! corpus and pyarrow's answers come from `tests/pyarrow/csv_corpus.py`, run here; CI
//! installs pyarrow (`.ci/run`). Without pyarrow the test says so and passes.

use granary_core::DataFormat;
use std::process::Command;

fn pyarrow_available() -> bool {
    Command::new("python3")
        .args(["-c", "import pyarrow.csv"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn csv_schemas_and_rows_equal_pyarrows() {
    if !pyarrow_available() {
        eprintln!("skipped: python3 cannot import pyarrow (pip install pyarrow; .ci/run does)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyarrow/csv_corpus.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(dir.path())
        .arg("240")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("expected.json")).unwrap()).unwrap();
    let expected = expected.as_object().unwrap();
    assert_eq!(expected.len(), 240);
    let mut failures = Vec::new();
    for (name, want) in expected {
        let got = granary_infer::infer_file(&dir.path().join(name), DataFormat::Csv);
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
        "{} of 240 files differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
