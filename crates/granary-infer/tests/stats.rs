//! Column statistics against numpy and pyarrow (`tests/pyarrow/stats_cases.py`): integers
//! across int64 and past 2^53, floats with NaN, infinities and the extremes of float64.

use granary_infer::stats::column_statistics;

#[test]
fn statistics_match_numpy_on_edge_values() {
    let has_numpy = std::process::Command::new("python3")
        .args(["-c", "import pyarrow, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_numpy {
        eprintln!("skipped: python3 with pyarrow and numpy is needed (.ci/run installs them)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let made = std::process::Command::new("python3")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyarrow/stats_cases.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("expected.json")).unwrap()).unwrap();
    let got = column_statistics(&[dir.path().join("table.parquet")], &[], &|| false).unwrap();
    let mut wrong = vec![];
    for column in got["columns"].as_array().unwrap() {
        let name = column["column_name"].as_str().unwrap();
        let stats = &column["column_statistics"];
        for (key, want) in expected[name].as_object().unwrap() {
            let have = &stats[key];
            // The standard deviation is summed differently by numpy: to 1e-12.
            let close = key == "std"
                && want
                    .as_f64()
                    .zip(have.as_f64())
                    .is_some_and(|(w, h)| (w - h).abs() <= 1e-12 * w.abs());
            if have != want && !close {
                wrong.push(format!("{name}.{key}: {have} (numpy {want})"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
