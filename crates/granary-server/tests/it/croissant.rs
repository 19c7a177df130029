//! Croissant JSON-LD: exact fields from the version, valid under MLCommons' own validator
//! (`mlcroissant validate`; CI installs it with pip, without it that part is skipped).

use axum::http::StatusCode;
use serde_json::{json, Value};
use std::process::Command;

use crate::helpers::backend_test;
use crate::helpers::parquet;

/// Runs `mlcroissant validate` on `doc`; `None` (said on stderr) when it is not installed.
fn validate(doc: &Value) -> Option<(bool, String)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("croissant.json");
    std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    match Command::new("mlcroissant")
        .args(["validate", "--jsonld"])
        .arg(&path)
        .output()
    {
        Ok(o) => Some((
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )),
        Err(e) => {
            eprintln!("skipped validation: mlcroissant is not installed (pip install mlcroissant; .ci/run does): {e}");
            None
        }
    }
}

backend_test!(
    async fn croissant_describes_files_and_record_sets_and_validates(app) {
        let (train, test) = (parquet(30), parquet(5));
        app.publish_qa(
            &train,
            &test,
            json!({"license": "mit", "summary": "Questions", "description": "# QA\n\nA card.", "tags": ["qa"], "pretty_name": "Q & A"}),
        )
        .await;
        // Column names with spaces, a file name with one.
        let csv = b"a b,b\n1,x\n".to_vec();
        let r = app
            .publish(
                &app.admin,
                "default",
                "two",
                "1.0.0",
                &[("p1.csv", csv.clone()), ("p 2.csv", csv.clone())],
                json!({"format": "csv"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);

        let r = app.get("/api/v1/org/default/datasets/qa/1.0.0/croissant", &app.admin).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), "application/ld+json");
        let doc = r.json();
        assert_eq!(doc["@type"], "sc:Dataset");
        assert_eq!(doc["conformsTo"], "http://mlcommons.org/croissant/1.0");
        assert_eq!(doc["name"], "default/qa");
        assert_eq!(doc["alternateName"], "Q & A");
        assert_eq!(doc["description"], "# QA\n\nA card.");
        assert_eq!(doc["license"], "mit");
        assert_eq!(doc["version"], "1.0.0");
        assert_eq!(doc["keywords"], json!(["qa"]));
        let dist = doc["distribution"].as_array().unwrap();
        assert_eq!(dist.len(), 2);
        let d = granary_core::Digest::of(&train);
        assert_eq!(
            dist.iter().find(|f| f["@id"] == "data/train.parquet").unwrap(),
            &json!({
                "@type": "cr:FileObject", "@id": "data/train.parquet", "name": "data/train.parquet",
                "description": "The train split",
                "contentUrl": format!("http://registry.test/v2/default/qa/blobs/{d}"),
                "contentSize": format!("{} B", train.len()),
                "encodingFormat": "application/x-parquet",
                "sha256": d.hex(),
            })
        );
        let sets = doc["recordSet"].as_array().unwrap();
        let names: Vec<&str> = sets.iter().map(|s| s["@id"].as_str().unwrap()).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"train") && names.contains(&"test"), "{names:?}");
        let train_set = sets.iter().find(|s| s["@id"] == "train").unwrap();
        assert_eq!(
            train_set["field"][0],
            json!({
                "@type": "cr:Field", "@id": "train/id", "name": "id",
                "description": "Column \"id\", Arrow type int64", "dataType": "sc:Integer",
                "source": {"fileObject": {"@id": "data/train.parquet"}, "extract": {"column": "id"}}
            })
        );
        assert_eq!(train_set["field"][1]["dataType"], "sc:Text");

        // Two files without splits: a record set each.
        let two = app.get("/api/v1/org/default/datasets/two/1.0.0/croissant", &app.admin).await.json();
        let ids: Vec<&str> = two["recordSet"].as_array().unwrap().iter().map(|s| s["@id"].as_str().unwrap()).collect();
        // Files in path order (" " sorts before "1").
        assert_eq!(ids, ["p_2.csv/rows", "p1.csv/rows"]);
        assert_eq!(two["recordSet"][1]["field"][0]["@id"], "p1.csv/rows/a_b");
        assert_eq!(two["recordSet"][1]["field"][0]["name"], "a b");
        assert_eq!(two["recordSet"][0]["field"][0]["source"]["fileObject"]["@id"], "p_2.csv");
        assert_eq!(two["distribution"][0]["encodingFormat"], "text/csv");
        assert_eq!(two["description"], "default/two@1.0.0");

        for doc in [&doc, &two] {
            if let Some((ok, out)) = validate(doc) {
                assert!(ok, "mlcroissant refused it:\n{out}\n{}", serde_json::to_string_pretty(doc).unwrap());
            }
        }
        // Access as for the version.
        let r = app.get("/api/v1/org/default/datasets/qa/1.0.0/croissant", "gra_nobody").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = app.get("/api/v1/org/default/datasets/qa/1.0/croissant", &app.admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
);
