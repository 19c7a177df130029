//! The viewer's background job: parquet renditions equal to pyarrow's reading of the
//! original, column statistics equal to pyarrow.compute's, and a job that completes once
//! even when the server working on it dies (`tests/it/viewer/make_stats.py`).

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{json, Value};
use std::process::Command;

use crate::helpers::backend_test;
use crate::helpers::TestApp;

fn close(a: &Value, b: &Value, what: &str) {
    let (x, y) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
    assert!(
        (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        "{what}: {a} vs {b}"
    );
}

/// Publishes `default/stats@1.0.0` (the corpus csv) and returns pyarrow's answers, or
/// `None` without pyarrow and numpy.
async fn published(app: &TestApp, dir: &std::path::Path) -> Option<Value> {
    let script = format!("{}/tests/it/viewer/make_stats.py", env!("CARGO_MANIFEST_DIR"));
    match Command::new("python3").arg(script).arg(dir).output() {
        Ok(o) if o.status.success() => {}
        other => {
            eprintln!("skipped: python3 with pyarrow and numpy is needed (.ci/run installs them): {other:?}");
            return None;
        }
    }
    let csv = std::fs::read(dir.join("data.csv")).unwrap();
    let r = app
        .publish(
            &app.admin,
            "default",
            "stats",
            "1.0.0",
            &[("data.csv", csv)],
            json!({"format": "csv"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    Some(serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap())
}

backend_test!(
    async fn renditions_and_statistics_equal_pyarrow(app) {
        let dir = tempfile::tempdir().unwrap();
        let Some(want) = published(&app, dir.path()).await else { return };
        let base = "/api/v1/org/default/datasets/stats/1.0.0";
        // Before the job: pending, and no parquet links yet.
        let d = app.get(base, &app.admin).await.json();
        assert_eq!(d["viewer"], json!({"state": "pending", "error": null, "renditions": []}));
        let r = app.post_json(&format!("{base}/parquet"), &app.admin, &json!({})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            r.json()["detail"],
            "the parquet rendition of data.csv is pending; it is written shortly after a publish, try again in a minute"
        );
        let s = app.get(&format!("{base}/statistics"), &app.admin).await.json();
        assert_eq!(s["state"], "pending");
        assert_eq!(s["columns"], Value::Null);

        assert_eq!(granary_server::viewer::run_once(&app.state).await.unwrap().len(), 1);
        assert_eq!(granary_server::viewer::run_once(&app.state).await.unwrap().len(), 0, "done once");
        let d = app.get(base, &app.admin).await.json();
        assert_eq!(d["viewer"]["state"], "ready");
        let rendition = &d["viewer"]["renditions"][0];
        assert_eq!(rendition["source"], "data.csv");
        assert_eq!(rendition["path"], "data.csv.parquet");
        assert_eq!(rendition["row_count"], 5001);

        // The rendition, through a counted link, is the table pyarrow reads from the csv.
        let links = app.post_json(&format!("{base}/parquet"), &app.admin, &json!({})).await.json();
        assert_eq!(links["files"][0]["path"], "data.csv.parquet");
        let got = app.fetch_link(links["files"][0]["url"].as_str().unwrap(), None).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(granary_core::Digest::of(&got.body).to_string(), rendition["digest"].as_str().unwrap());
        std::fs::write(dir.path().join("rendition.parquet"), &got.body).unwrap();
        let same = Command::new("python3")
            .arg("-c")
            .arg(
                "import sys, pyarrow.csv as c, pyarrow.parquet as q; \
                 a = q.read_table(sys.argv[1]); b = c.read_csv(sys.argv[2]); \
                 sys.exit(0 if a.equals(b) else print(a.schema, b.schema) or 1)",
            )
            .arg(dir.path().join("rendition.parquet"))
            .arg(dir.path().join("data.csv"))
            .output()
            .unwrap();
        assert!(same.status.success(), "{}", String::from_utf8_lossy(&same.stdout));
        let feed = app.get("/api/v1/org/default/datasets/activity", &app.admin).await.json();
        assert_eq!(feed["total"], 1, "the parquet links count as one download");

        // Statistics, column by column, against pyarrow.compute and numpy.
        let s = app.get(&format!("{base}/statistics"), &app.admin).await.json();
        assert_eq!(s["state"], "ready");
        assert_eq!(s["split"], "default");
        assert_eq!(s["num_rows"], 5001);
        let cols = s["columns"].as_array().unwrap();
        let by = |n: &str| &cols.iter().find(|c| c["column_name"] == n).unwrap()["column_statistics"];
        let kinds: Vec<(&str, &str)> = cols
            .iter()
            .map(|c| (c["column_name"].as_str().unwrap(), c["column_type"].as_str().unwrap()))
            .collect();
        assert_eq!(kinds, [("n", "int"), ("x", "float"), ("word", "string"), ("flag", "bool"), ("day", "datetime")]);
        for name in ["n", "x"] {
            let (got, want) = (by(name), &want["columns"][name]);
            assert_eq!(got["nan_count"], want["nan_count"], "{name}");
            close(&got["nan_proportion"], &json!(want["nan_count"].as_f64().unwrap() / 5001.0), name);
            for k in ["min", "max", "median"] {
                assert_eq!(got[k].as_f64(), want[k].as_f64(), "{name} {k}: exact");
            }
            close(&got["mean"], &want["mean"], &format!("{name} mean"));
            close(&got["std"], &want["std"], &format!("{name} std"));
            assert_eq!(got["histogram"]["hist"], want["histogram"]["hist"], "{name} histogram");
            for (a, b) in got["histogram"]["bin_edges"].as_array().unwrap().iter().zip(want["histogram"]["bin_edges"].as_array().unwrap()) {
                close(a, b, &format!("{name} edge"));
            }
        }
        assert_eq!(by("n")["min"], json!(-500), "integers stay integers");
        let w = by("word");
        assert_eq!(w["n_unique"], want["columns"]["word"]["n_unique"]);
        assert_eq!(w["frequencies"], want["columns"]["word"]["frequencies"]);
        assert_eq!(w["length_histogram"], want["columns"]["word"]["length_histogram"]);
        assert_eq!(by("flag")["frequencies"], want["columns"]["flag"]["frequencies"]);
        assert_eq!(by("flag")["nan_count"], want["columns"]["flag"]["nan_count"]);
        assert_eq!(by("day")["min"], want["columns"]["day"]["min"]);
        assert_eq!(by("day")["max"], want["columns"]["day"]["max"]);

        // Rows deep in the csv are read from its rendition, exactly as pyarrow reads them.
        let rows = app.get(&format!("{base}/rows?offset=4990&length=20"), &app.admin).await.json();
        let got: Vec<&Value> = rows["rows"].as_array().unwrap().iter().map(|r| &r["row"]).collect();
        assert_eq!(got.len(), 11);
        for (i, row) in got.iter().enumerate() {
            let w = &want["rows"][4990 + i];
            assert_eq!(row["n"], w["n"]);
            assert_eq!(row["word"], w["word"]);
            assert_eq!(row["flag"], w["flag"]);
            assert_eq!(row["day"], w["day"]);
            close(&row["x"], &w["x"], "x");
        }
        // A unknown split is refused by name.
        let r = app.get(&format!("{base}/statistics?split=train"), &app.admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
);

backend_test!(
    async fn a_job_whose_server_died_is_done_once_by_another(app) {
        let r = app
            .publish(&app.admin, "default", "tiny", "1.0.0", &[("a.jsonl", b"{\"a\": 1}\n{\"a\": 2}\n".to_vec())], json!({"format": "jsonl"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let db = &app.state.db;
        // A server claims the job and dies: its lease ends without a result.
        let now = Utc::now();
        let dead = db
            .viewer_claim(uuid::Uuid::new_v4(), now + chrono::Duration::seconds(60), now)
            .await
            .unwrap()
            .expect("claimable");
        assert_eq!(dead.attempts, 1);
        // While the lease holds, nobody else takes it, and a run says who holds it.
        let s = granary_server::viewer::run_with_summary(&app.state, false).await.unwrap();
        assert_eq!(s.done.len(), 0);
        assert_eq!(s.held.len(), 1);
        assert_eq!(s.held[0].version, "default/tiny@1.0.0");
        let d = app.get("/api/v1/org/default/datasets/tiny/1.0.0", &app.admin).await.json();
        assert_eq!(d["viewer"]["state"], "running");
        // Later (as seen from 2 minutes on), its lease has run out: another server claims it.
        let later = now + chrono::Duration::seconds(120);
        let second = db
            .viewer_claim(uuid::Uuid::new_v4(), later + chrono::Duration::seconds(600), later)
            .await
            .unwrap()
            .expect("claimable again");
        assert_eq!(second.attempts, 2);
        // The dead server's result, should it come back, is refused; the live one's stands.
        assert!(!db.viewer_finish(&dead, &[], "{\"statistics\": {}}", Utc::now()).await.unwrap());
        assert!(db.viewer_finish(&second, &[], "{\"statistics\": {}}", Utc::now()).await.unwrap());
        assert!(!db.viewer_finish(&second, &[], "{}", Utc::now()).await.unwrap(), "finished once");
        let d = app.get("/api/v1/org/default/datasets/tiny/1.0.0", &app.admin).await.json();
        assert_eq!(d["viewer"]["state"], "ready");

        // A whole run: claimed after a death, run, finished once with its rendition.
        let r = app
            .publish(&app.admin, "default", "tiny", "1.0.1", &[("a.jsonl", b"{\"a\": 1}\n{\"a\": 2}\n".to_vec())], json!({"format": "jsonl"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let past = Utc::now() - chrono::Duration::seconds(3600);
        db.viewer_claim(uuid::Uuid::new_v4(), past, past).await.unwrap().expect("claimed, then the server died");
        assert_eq!(granary_server::viewer::run_once(&app.state).await.unwrap().len(), 1);
        let d = app.get("/api/v1/org/default/datasets/tiny/1.0.1", &app.admin).await.json();
        assert_eq!(d["viewer"]["state"], "ready");
        assert_eq!(d["viewer"]["renditions"].as_array().unwrap().len(), 1);
        assert_eq!(d["viewer"]["renditions"][0]["row_count"], 2);
        // Files without a split answer to "default", the name their statistics carry.
        for q in ["rows?split=default", "filter?split=default&where=a%20%3E%201", "statistics?split=default"] {
            let r = app.get(&format!("/api/v1/org/default/datasets/tiny/1.0.1/{q}"), &app.admin).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", String::from_utf8_lossy(&r.body));
        }
        let r = app.get("/api/v1/org/default/datasets/tiny/1.0.1/filter?split=default&where=a%20%3E%201", &app.admin).await;
        assert_eq!(r.json()["num_rows_total"], 1);
        // An order alone sorts every row.
        let r = app.get("/api/v1/org/default/datasets/tiny/1.0.1/filter?orderby=a%20DESC", &app.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert_eq!(v["num_rows_total"], 2);
        assert_eq!(idx(&v), [1, 0]);
        // gc keeps the rendition: it is referenced.
        let digest = d["viewer"]["renditions"][0]["digest"].as_str().unwrap().to_string();
        let kept = db.referenced_digests(app.state.db.org_by_key("default").await.unwrap().unwrap().id).await.unwrap();
        assert!(kept.contains(&digest));
        // A job failed for good is queued again by `viewer-retry`, attempts reset, and runs.
        let r = app
            .publish(&app.admin, "default", "tiny", "1.0.2", &[("a.jsonl", b"{\"a\": 1}\n".to_vec())], json!({"format": "jsonl"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let now = Utc::now();
        let c = db.viewer_claim(uuid::Uuid::new_v4(), now + chrono::Duration::seconds(60), now).await.unwrap().unwrap();
        db.viewer_fail(&c, "the store was down", false, now).await.unwrap();
        let v2 = app.get("/api/v1/org/default/datasets/tiny/1.0.2", &app.admin).await.json();
        assert_eq!(v2["viewer"]["state"], "failed");
        assert_eq!(granary_server::viewer::run_once(&app.state).await.unwrap().len(), 0, "failed stays failed");
        assert_eq!(granary_server::viewer::retry_failed(&app.state).await.unwrap(), ["default/tiny@1.0.2"]);
        assert_eq!(db.viewer_status(c.version_id).await.unwrap().unwrap().attempts, 0);
        assert_eq!(granary_server::viewer::run_once(&app.state).await.unwrap().len(), 1);
        let v2 = app.get("/api/v1/org/default/datasets/tiny/1.0.2", &app.admin).await.json();
        assert_eq!(v2["viewer"]["state"], "ready");
        assert!(granary_server::viewer::retry_failed(&app.state).await.unwrap().is_empty());
        // Deleting the version forgets its job.
        let r = app
            .call(axum::http::Method::DELETE, "/api/v1/org/default/datasets/tiny/1.0.1", Some(&app.admin), axum::body::Body::empty())
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let id = uuid::Uuid::parse_str(d["id"].as_str().unwrap()).unwrap();
        assert_eq!(db.viewer_status(id).await.unwrap(), None);
    }
);

fn idx(v: &Value) -> Vec<u64> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row_idx"].as_u64().unwrap())
        .collect()
}

backend_test!(
    async fn search_and_filter_equal_pyarrow(app) {
        let dir = tempfile::tempdir().unwrap();
        let Some(want) = published(&app, dir.path()).await else { return };
        let base = "/api/v1/org/default/datasets/stats/1.0.0";
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        // Before the rendition exists a csv cannot be searched.
        let r = app.get(&format!("{base}/search?query=alpha"), &app.admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json()["detail"], "searching data.csv needs its parquet rendition, which is pending; the viewer's background job writes it (on a server without --no-viewer-jobs, or by `granary admin viewer-run`): try again in a minute");
        granary_server::viewer::run_once(&app.state).await.unwrap();

        for (cond, expected) in want["filters"].as_object().unwrap() {
            let expected: Vec<u64> = expected.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            for offset in [0usize, 37] {
                let uri = format!("{base}/filter?where={}&offset={offset}&length=50", enc(cond));
                let r = app.get(&uri, &app.admin).await;
                assert_eq!(r.status, StatusCode::OK, "{cond}: {}", String::from_utf8_lossy(&r.body));
                let v = r.json();
                assert_eq!(v["num_rows_total"], expected.len(), "{cond}");
                assert_eq!(v["partial"], false);
                let page: Vec<u64> = expected.iter().skip(offset).take(50).copied().collect();
                assert_eq!(idx(&v), page, "{cond} at {offset}");
                if let Some(first) = v["rows"][0]["row"].as_object() {
                    assert_eq!(first["word"], want["rows"][page[0] as usize]["word"]);
                }
            }
        }
        // Ordered: pyarrow's sort, page by page.
        let ordered: Vec<u64> = want["ordered"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        for offset in [0usize, 100, 990] {
            let v = app
                .get(&format!("{base}/filter?where={}&orderby={}&offset={offset}&length=20", enc("n >= 0"), enc("x DESC")), &app.admin)
                .await
                .json();
            assert_eq!(v["num_rows_total"], ordered.len());
            assert_eq!(idx(&v), ordered.iter().skip(offset).take(20).copied().collect::<Vec<_>>(), "ordered at {offset}");
        }
        // Search: case-insensitive substring, with the total.
        let expected: Vec<u64> = want["search_alpha"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        let v = app.get(&format!("{base}/search?query=ALPHA&length=100"), &app.admin).await.json();
        assert_eq!(v["num_rows_total"], expected.len());
        assert_eq!(idx(&v), expected.iter().take(100).copied().collect::<Vec<_>>());
        // Mistakes get one line each, at their parameter.
        for (q, loc, msg) in [
            ("filter?where=n%20%3E", "where", "expected a value, found the end"),
            ("filter?where=nope%20%3D%201", "where", "no column \"nope\"; the columns are n, x, word, flag, day"),
            ("filter?where=n%20%3D%20'abc'", "where", "column \"n\" is int64; 'abc' is not a value of it"),
            ("filter", "where", "required: a condition such as \"age\" > 30 (or an orderby, to sort every row)"),
            ("search", "query", "required: the text to search for"),
            ("filter?where=n%3D1&orderby=zzz", "orderby", "no column \"zzz\""),
            ("filter?where=n%3D1&orderby=x&offset=9990&length=20", "offset", "ordered pages reach row 10000 at most"),
        ] {
            let r = app.get(&format!("{base}/{q}"), &app.admin).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
            let v = r.json();
            assert_eq!(v["errors"][0]["loc"], json!(["query", loc]), "{q}: {v}");
            assert_eq!(v["errors"][0]["msg"], msg, "{q}");
        }
    }
);
