//! The preview endpoint: first rows of a split, for those who may read the version.

use axum::http::StatusCode;
use granary_core::Role;
use serde_json::{json, Value};

use crate::helpers::backend_test;
use crate::helpers::{envelope, parquet, TestApp};

const URL: &str = "/api/v1/org/default/datasets/qa/1.0.0/preview";

async fn published(app: &TestApp) {
    let jsonl =
        "{\"q\": \"<script>alert(1)</script>\", \"n\": 1}\n{\"q\": \"\\\"><img src=x onerror=alert(2)>\", \"n\": 2}\n";
    app.publish_qa(&parquet(300), &parquet(20), json!({})).await;
    let r = app
        .publish(
            &app.admin,
            "default",
            "chat",
            "0.1.0",
            &[
                ("part-1.jsonl", jsonl.as_bytes().to_vec()),
                ("part-2.jsonl", jsonl.as_bytes().to_vec()),
            ],
            json!({"format": "jsonl"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

fn ids(v: &Value) -> Vec<i64> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

backend_test!(
    async fn preview_rows_of_a_split(app) {
        published(&app).await;
        // default: the train split, 20 rows
        let v = app.get(URL, &app.admin).await.json();
        assert_eq!(v["name"], "default/qa");
        assert_eq!(v["version"], "1.0.0");
        assert_eq!(v["split"], "train");
        assert_eq!(v["files"], json!(["data/train.parquet"]));
        assert_eq!(v["limit"], 20);
        assert_eq!(v["columns"], json!([{"name": "id", "type": "int64"}, {"name": "text", "type": "string"}]));
        assert_eq!(ids(&v), (0..20).collect::<Vec<_>>());
        assert_eq!(v["rows"][7], json!({"id": 7, "text": "t7"}));

        let v = app.get(&format!("{URL}?split=test&limit=100"), &app.admin).await.json();
        assert_eq!(v["split"], "test");
        assert_eq!(ids(&v), (0..20).collect::<Vec<_>>(), "the test split has 20 rows");

        let v = app.get(&format!("{URL}?limit=100"), &app.admin).await.json();
        assert_eq!(ids(&v).len(), 100);

        // no splits: the files in order, until the limit
        let v = app
            .get("/api/v1/org/default/datasets/chat/0.1.0/preview?limit=3", &app.admin)
            .await
            .json();
        assert_eq!(v["split"], Value::Null);
        assert_eq!(v["files"], json!(["part-1.jsonl", "part-2.jsonl"]));
        assert_eq!(
            v["rows"],
            json!([
                {"q": "<script>alert(1)</script>", "n": 1},
                {"q": "\"><img src=x onerror=alert(2)>", "n": 2},
                {"q": "<script>alert(1)</script>", "n": 1}
            ])
        );
    }
);

backend_test!(
    async fn preview_errors_and_access(app) {
        published(&app).await;
        let r = app.get(&format!("{URL}?limit=0"), &app.admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json()["errors"][0]["loc"], json!(["query", "limit"]));
        assert_eq!(r.json()["errors"][0]["msg"], "must be between 1 and 100");
        let r = app.get(&format!("{URL}?limit=101"), &app.admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = app.get(&format!("{URL}?split=validation"), &app.admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            r.json()["errors"][0]["msg"],
            "default/qa@1.0.0 has no split \"validation\"; its splits are test, train"
        );
        let r = app.get("/api/v1/org/default/datasets/qa/9.9.9/preview", &app.admin).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);

        // private: an outsider gets the same 404 as for a dataset that does not exist
        let outsider = app.member("other", "eve", Role::Owner).await;
        let r = app.get(URL, &outsider).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.json(), envelope(404, "not_found", "dataset default/qa not found"));
        // a reader of the org may preview
        let reader = app.member("default", "rita", Role::Reader).await;
        assert_eq!(app.get(URL, &reader).await.status, StatusCode::OK);
        // public: anyone signed in may
        let r = app
            .json_call(
                axum::http::Method::PATCH,
                "/api/v1/org/default/datasets/qa/visibility",
                &app.admin,
                &json!({"is_public": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(ids(&app.get(URL, &outsider).await.json()).len(), 20);
    }
);
