//! A dataset over time: diffs between versions, downloads per day, and both in the page.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::backend_test;
use crate::helpers::TestApp;

const V1: &str = "a,b\n1,x\n2,y\n";
const V2: &str = "a,c\n1.5,true\n2,false\n3,true\n";
const MORE: &str = "a,c\n4.5,false\n";

/// `default/ds@1.0.0` (one csv: a int64, b string; license mit) and `@1.1.0` (a double,
/// c bool; the csv changed, one added; license and summary set).
async fn two_versions(app: &TestApp) {
    let r = app
        .publish(
            &app.admin,
            "default",
            "ds",
            "1.0.0",
            &[("data.csv", V1.into())],
            json!({"format": "csv", "license": "mit"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let r = app
        .publish(
            &app.admin,
            "default",
            "ds",
            "1.1.0",
            &[("data.csv", V2.into()), ("more.csv", MORE.into())],
            json!({"format": "csv", "license": "apache-2.0", "summary": "Now with c"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
}

backend_test!(
    async fn diffs_name_every_change_between_two_versions(app) {
        two_versions(&app).await;
        let want = json!({
            "name": "default/ds", "from": "1.0.0", "to": "1.1.0",
            "columns": {
                "added": [{"name": "c", "type": "bool"}],
                "removed": [{"name": "b", "type": "string"}],
                "retyped": [{"name": "a", "from": "int64", "to": "double"}]
            },
            "row_count": {"from": 2, "to": 4, "delta": 2},
            "file_size_bytes": {"from": V1.len(), "to": V2.len() + MORE.len(), "delta": (V2.len() + MORE.len()) as i64 - V1.len() as i64},
            "files": {
                "added": [{"path": "more.csv", "split": null, "digest": granary_core::Digest::of(MORE.as_bytes()).to_string(), "size": MORE.len(), "row_count": 1}],
                "removed": [],
                "changed": [{
                    "path": "data.csv",
                    "from": {"path": "data.csv", "split": null, "digest": granary_core::Digest::of(V1.as_bytes()).to_string(), "size": V1.len(), "row_count": 2},
                    "to": {"path": "data.csv", "split": null, "digest": granary_core::Digest::of(V2.as_bytes()).to_string(), "size": V2.len(), "row_count": 3}
                }],
                "unchanged": []
            },
            "splits": {},
            "fields_changed": ["summary", "license"]
        });
        let base = "/api/v1/org/default/datasets/ds/diff";
        // Defaults: the highest version against the one before it.
        assert_eq!(app.get(base, &app.admin).await.json(), want);
        assert_eq!(app.get(&format!("{base}?from=1.0.0&to=1.1.0"), &app.admin).await.json(), want);
        // Backwards is the mirror image.
        let back = app.get(&format!("{base}?from=1.1.0&to=1.0.0"), &app.admin).await.json();
        assert_eq!(back["columns"]["added"], json!([{"name": "b", "type": "string"}]));
        assert_eq!(back["row_count"], json!({"from": 4, "to": 2, "delta": -2}));
        assert_eq!(back["files"]["removed"][0]["path"], "more.csv");
        // A version against itself: nothing changed.
        let same = app.get(&format!("{base}?from=1.0.0&to=1.0.0"), &app.admin).await.json();
        assert_eq!(same["files"]["unchanged"], json!(["data.csv"]));
        assert_eq!(same["fields_changed"], json!([]));
        // Errors: the first version has nothing before it; bad and missing versions.
        let r = app.get(&format!("{base}?to=1.0.0"), &app.admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            r.json()["errors"][0]["msg"],
            "default/ds@1.0.0 is the first version; name the version to compare with (from=)"
        );
        let r = app.get(&format!("{base}?from=1.0"), &app.admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json()["errors"][0]["loc"], json!(["query", "from"]));
        let r = app.get(&format!("{base}?from=9.0.0"), &app.admin).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.json()["detail"], "version 9.0.0 of dataset default/ds not found");
        // Outsiders of a private dataset learn nothing.
        let outsider = app.member("other", "eve", granary_core::Role::Owner).await;
        let r = app.get(base, &outsider).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
);

backend_test!(
    async fn downloads_per_day_count_every_version_exactly(app) {
        two_versions(&app).await;
        for (version, n) in [("1.0.0", 2), ("1.1.0", 3)] {
            for _ in 0..n {
                let r = app
                    .post_json(&format!("/api/v1/org/default/datasets/ds/{version}/download"), &app.admin, &json!({}))
                    .await;
                assert_eq!(r.status, StatusCode::OK);
            }
        }
        let check = |v: &Value, days: usize| {
            assert_eq!(v["name"], "default/ds");
            assert_eq!(v["days"], days);
            assert_eq!(v["total"], 5);
            assert_eq!(v["by_version"], json!({"1.0.0": 2, "1.1.0": 3}));
            let series = v["series"].as_array().unwrap();
            assert_eq!(series.len(), days);
            let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
            let last = series.last().unwrap();
            assert_eq!(last["date"], today);
            assert_eq!(last["count"], 5);
            assert_eq!(last["by_version"], json!({"1.0.0": 2, "1.1.0": 3}));
            assert!(series[..days - 1].iter().all(|d| d["count"] == 0 && d["by_version"] == json!({})));
            let first = chrono::Utc::now().date_naive() - chrono::Duration::days(days as i64 - 1);
            assert_eq!(series[0]["date"], first.format("%Y-%m-%d").to_string());
        };
        let base = "/api/v1/org/default/datasets/ds/downloads";
        check(&app.get(base, &app.admin).await.json(), 30);
        check(&app.get(&format!("{base}?days=1"), &app.admin).await.json(), 1);
        // Folding the counters changes nothing.
        app.state.db.fold_downloads().await.unwrap();
        check(&app.get(&format!("{base}?days=366"), &app.admin).await.json(), 366);
        for bad in ["0", "367"] {
            let r = app.get(&format!("{base}?days={bad}"), &app.admin).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert_eq!(r.json()["errors"][0]["msg"], "must be between 1 and 366");
        }
    }
);
