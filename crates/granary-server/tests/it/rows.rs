//! The rows endpoint: any offset of any split, every format, checked row by row against
//! pyarrow's reading of the same table (`tests/it/rows/make_rows.py`; CI installs pyarrow).

use axum::http::StatusCode;
use serde_json::{json, Value};
use std::process::Command;

use crate::helpers::backend_test;
use crate::helpers::TestApp;

/// Publishes `default/rows@1.0.0` with one split per format (and one of two parquet parts)
/// and returns pyarrow's rows (of the table, and of the csv as pyarrow reads it), or `None` (said on stderr) without pyarrow.
async fn published(app: &TestApp) -> Option<(Vec<Value>, Vec<Value>)> {
    let dir = tempfile::tempdir().unwrap();
    let script = format!("{}/tests/it/rows/make_rows.py", env!("CARGO_MANIFEST_DIR"));
    let out = match Command::new("python3").arg(script).arg(dir.path()).output() {
        Ok(o) if o.status.success() => o,
        other => {
            eprintln!("skipped: python3 with pyarrow is needed (pip install pyarrow; .ci/run does): {other:?}");
            return None;
        }
    };
    drop(out);
    // Several files in one split are read in order: the two parts (rows-parts) cross at 10,007.
    let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
    let files = [
        ("pq/all.parquet", read("all.parquet")),
        ("pq/indexed.parquet", read("indexed.parquet")),
    ];
    let r = app
        .publish(
            &app.admin,
            "default",
            "rows",
            "1.0.0",
            &files,
            json!({"format": "parquet", "splits": {"train": "pq/all.parquet", "indexed": "pq/indexed.parquet"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    for (name, file, format) in [
        ("rows-csv", "all.csv", "csv"),
        ("rows-jsonl", "all.jsonl", "jsonl"),
        ("rows-arrow", "all.arrow", "arrow"),
    ] {
        let r = app
            .publish(
                &app.admin,
                "default",
                name,
                "1.0.0",
                &[(file, read(file))],
                json!({"format": format}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    }
    let r = app
        .publish(
            &app.admin,
            "default",
            "rows-parts",
            "1.0.0",
            &[
                ("part-0.parquet", read("part-0.parquet")),
                ("part-1.parquet", read("part-1.parquet")),
            ],
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    Some((
        serde_json::from_slice(&read("expected.json")).unwrap(),
        serde_json::from_slice(&read("expected-csv.json")).unwrap(),
    ))
}

fn check(v: &Value, expected: &[Value], offset: usize, length: usize, what: &str) {
    assert_eq!(v["offset"], offset, "{what}");
    assert_eq!(v["length"], length, "{what}");
    assert_eq!(v["num_rows_total"], expected.len(), "{what}");
    let want: Vec<&Value> = expected.iter().skip(offset).take(length).collect();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), want.len(), "{what} at {offset}");
    for (i, (got, want)) in rows.iter().zip(want).enumerate() {
        assert_eq!(got["row_idx"], offset + i, "{what}");
        assert_eq!(&got["row"], want, "{what} row {}", offset + i);
    }
}

backend_test!(
    async fn rows_at_any_offset_equal_pyarrow_in_every_format(app) {
        let Some((expected, expected_csv)) = published(&app).await else { return };
        let n = expected.len();
        let cases = [
            ("rows", "&split=train"),
            ("rows", "&split=indexed"),
            ("rows-parts", ""),
            ("rows-csv", ""),
            ("rows-jsonl", ""),
            ("rows-arrow", ""),
        ];
        for (name, split) in cases {
            // The start, a row-group and page boundary, across the two parts (10,007),
            // inside a group, the last page, the very end and past it.
            for (offset, length) in [(0, 100), (2999, 3), (3000, 100), (9990, 40), (12_345, 77), (n - 5, 100), (n, 10), (n + 100, 1)] {
                let uri = format!("/api/v1/org/default/datasets/{name}/1.0.0/rows?offset={offset}&length={length}{split}");
                let r = app.get(&uri, &app.admin).await;
                assert_eq!(r.status, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&r.body));
                let expected = if name == "rows-csv" { &expected_csv } else { &expected };
                check(&r.json(), expected, offset, length, &uri);
            }
        }
        let v = app.get("/api/v1/org/default/datasets/rows/1.0.0/rows", &app.admin).await.json();
        assert_eq!(v["split"], "train");
        assert_eq!(
            v["columns"],
            json!([{"name": "id", "type": "int64"}, {"name": "name", "type": "string"}, {"name": "score", "type": "double"}, {"name": "flag", "type": "bool"}])
        );
        check(&v, &expected, 0, 100, "defaults");

        // Search and filter across row groups (3,000 rows each, scanned on two threads):
        // matches in split order, paged, counted exactly.
        let ids = |v: &Value| -> Vec<u64> { v["rows"].as_array().unwrap().iter().map(|r| r["row"]["id"].as_u64().unwrap()).collect() };
        let base = "/api/v1/org/default/datasets/rows/1.0.0";
        let v = app.get(&format!("{base}/filter?split=train&where=id%20%3E%3D%202990%20AND%20id%20%3C%203010&offset=5&length=10"), &app.admin).await.json();
        assert_eq!(v["num_rows_total"], 20);
        assert_eq!(ids(&v), (2995..3005).collect::<Vec<u64>>());
        let v = app.get(&format!("{base}/filter?split=indexed&where=id%20%3E%3D%200&orderby=id%20DESC&offset=3&length=4"), &app.admin).await.json();
        assert_eq!(v["num_rows_total"], expected.len());
        assert_eq!(ids(&v), [24996, 24995, 24994, 24993]);
        let v = app.get(&format!("{base}/search?split=train&query=ROW%2001%25&length=100"), &app.admin).await.json();
        assert_eq!(v["num_rows_total"], 0, "no name holds a percent sign");
        let v = app.get(&format!("{base}/search?split=train&query=row%20123&length=100"), &app.admin).await.json();
        // "row 0123x", "row 123xx" and "row 1x123"-like names, except ids that are multiples of 7 (null names).
        let want: Vec<u64> = (0..expected.len() as u64).filter(|i| i % 7 != 0 && format!("row {i:05}").contains("row 123")).collect();
        assert_eq!(v["num_rows_total"], want.len());
        assert_eq!(ids(&v), want.iter().take(100).copied().collect::<Vec<_>>());
    }
);

backend_test!(
    async fn rows_refuse_bad_parameters_with_the_envelope(app) {
        app.publish_qa(&crate::helpers::parquet(30), &crate::helpers::parquet(5), json!({})).await;
        let base = "/api/v1/org/default/datasets/qa/1.0.0/rows";
        for (q, loc, msg) in [
            ("length=0", "length", "must be between 1 and 100"),
            ("length=101", "length", "must be between 1 and 100"),
            ("offset=-1", "offset", "must be at least 0"),
        ] {
            let r = app.get(&format!("{base}?{q}"), &app.admin).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
            let v = r.json();
            assert_eq!(v["errors"][0]["loc"], json!(["query", loc]), "{q}: {v}");
            assert_eq!(v["errors"][0]["msg"], msg, "{q}");
        }
        let r = app.get(&format!("{base}?split=valid"), &app.admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.json()["errors"][0]["msg"].as_str().unwrap().contains("its splits are test, train"));
        // Outsiders see nothing of a private dataset.
        let r = app.get(&format!("{base}?offset=3"), "gra_nobody").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
);
