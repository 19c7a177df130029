//! Filters and orders against pyarrow: for each case of `tests/pyarrow/query_cases.py`,
//! `query_parquet` finds the rows pyarrow compute finds, in the order `sort_indices` gives.

use granary_infer::query::{parse_order_by, parse_where, query_parquet, Query};
use granary_infer::Budget;
use std::sync::Arc;

#[test]
fn filters_and_orders_match_pyarrow() {
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyarrow/query_cases.py");
    let has_pyarrow = std::process::Command::new("python3")
        .args(["-c", "import pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pyarrow {
        eprintln!("skipped: python3 with pyarrow is needed (.ci/run installs it)");
        return;
    }
    let made = std::process::Command::new("python3")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(script)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let table = bytes::Bytes::from(std::fs::read(dir.path().join("table.parquet")).unwrap());
    let cases: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.path().join("expected.json")).unwrap()).unwrap();
    assert!(cases.len() > 50);
    let mut wrong = vec![];
    for case in &cases {
        let q = Query {
            filter: case["where"].as_str().map(|w| parse_where(w).unwrap()),
            search: None,
            order_by: case["orderby"].as_str().map(parse_order_by),
        };
        let want: Vec<u64> = case["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        // The whole answer, and a page from its middle.
        for (offset, length) in [(0u64, 100usize), (5, 9)] {
            let found = query_parquet(
                vec![table.clone()],
                &q,
                offset,
                length,
                Arc::new(Budget::new(u64::MAX / 2, None)),
            )
            .unwrap_or_else(|e| panic!("{case}: {e}"));
            let got: Vec<u64> = found.rows.iter().map(|r| r.0).collect();
            let page: Vec<u64> = want.iter().copied().skip(offset as usize).take(length).collect();
            if found.total != want.len() as u64 || got != page || found.partial {
                wrong.push(format!(
                    "where {} orderby {} at {offset}: total {} (pyarrow {}), rows {got:?} (pyarrow {page:?})",
                    case["where"],
                    case["orderby"],
                    found.total,
                    want.len()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
