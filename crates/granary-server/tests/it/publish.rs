use axum::http::StatusCode;
use granary_core::{Digest, Role};
use serde_json::json;

use crate::helpers::backend_test;
use crate::helpers::{envelope, manifest_json, parquet};

backend_test! {
    async fn publish_computes_the_truth_and_detail_reports_it(app) {
    let key = &app.admin;
    let train = parquet(1500);
    let test = parquet(20);
    let r = app
        .publish(
            key,
            "default",
            "mnist",
            "1.0.0",
            &[
                ("data/train.parquet", train.clone()),
                ("data/test.parquet", test.clone()),
            ],
            json!({
                "splits": {"train": "data/train.parquet", "test": "data/test.parquet"},
                "summary": "Digits", "tags": ["vision", "digits"], "license": "mit",
                "task_categories": ["image-classification"], "language": ["en"],
                "origin": {"source": "lecun", "url": "http://yann.lecun.com"},
                // declared values that lie are ignored in favour of what the files hold
                "row_count": 3, "data_schema": {"wrong": "int8"}
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let digest = r.header("docker-content-digest").to_string();

    let d = app.get("/api/v1/org/default/datasets/mnist", key).await;
    assert_eq!(d.status, StatusCode::OK);
    let d = d.json();
    assert_eq!(d["name"], "default/mnist");
    assert_eq!(d["version"], "1.0.0");
    assert_eq!(d["latest_version"], "1.0.0");
    assert_eq!(d["versions"], json!(["1.0.0"]));
    assert_eq!(d["row_count"], 1520);
    assert_eq!(d["data_schema"], json!({"id": "int64", "text": "string"}));
    assert_eq!(d["file_size_bytes"], (train.len() + test.len()) as u64);
    assert_eq!(d["size_category"], "1K<n<10K");
    assert_eq!(d["format"], "parquet");
    assert_eq!(d["is_public"], false);
    assert_eq!(d["download_count"], 0);
    assert_eq!(d["manifest_digest"], digest);
    assert_eq!(d["tags"], json!(["vision", "digits"]));
    assert_eq!(d["language"], json!(["en"]));
    assert_eq!(d["origin"], json!({"source": "lecun", "url": "http://yann.lecun.com"}));
    assert_eq!(
        d["splits"],
        json!({"test": "data/test.parquet", "train": "data/train.parquet"})
    );
    assert_eq!(
        d["files"],
        json!([
            {"path": "data/test.parquet", "digest": Digest::of(&test).to_string(), "size": test.len(), "split": "test",
             "data_schema": {"id": "int64", "text": "string"}, "row_count": 20},
            {"path": "data/train.parquet", "digest": Digest::of(&train).to_string(), "size": train.len(), "split": "train",
             "data_schema": {"id": "int64", "text": "string"}, "row_count": 1500},
        ])
    );
    assert_eq!(d["artifacts"]["data/train.parquet"], Digest::of(&train).to_string());
    let by_version = app.get("/api/v1/org/default/datasets/mnist/1.0.0", key).await.json();
    assert_eq!(by_version, d);
    // the org-prefixed name works too
    assert_eq!(
        app.get("/api/v1/org/default/datasets/default%2Fmnist", key)
            .await
            .json()["id"],
        d["id"]
    );
}
}

backend_test! {
    async fn text_formats_are_counted_by_reading_them(app) {
    let key = &app.admin;
    let csv = b"a,b\n1,\"x\ny\"\n2,z\n3,w\n".to_vec();
    let r = app
        .publish(
            key,
            "default",
            "c",
            "0.1.0",
            &[("rows.csv", csv)],
            json!({"format": "csv"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let d = app.get("/api/v1/org/default/datasets/c", key).await.json();
    assert_eq!(
        (d["row_count"].clone(), d["data_schema"].clone()),
        (json!(3), json!({"a": "int64", "b": "string"}))
    );

    let jsonl = b"{\"q\": \"a\"}\n{\"q\": \"b\"}\n".to_vec();
    let arr = b"[{\"q\": \"a\", \"n\": 1}]".to_vec();
    let r = app
        .publish(
            key,
            "default",
            "j",
            "0.1.0",
            &[("a.jsonl", jsonl), ("b.json", arr)],
            json!({"format": "jsonl"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let d = app.get("/api/v1/org/default/datasets/j", key).await.json();
    assert_eq!(d["row_count"], 3);
    assert_eq!(d["size_category"], "n<1K");
}
}

backend_test! {
    async fn republish_is_idempotent_and_different_content_conflicts(app) {
    let key = &app.admin;
    let data = parquet(10);
    let d = app.push_blob(key, "default", "x", &data).await;
    let config = json!({"artifacts": {"t.parquet": d.to_string()}, "format": "parquet"});
    let first = app.publish_config(key, "default", "x", "1.0.0", &config).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = app.publish_config(key, "default", "x", "1.0.0", &config).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(
        again.header("docker-content-digest"),
        first.header("docker-content-digest")
    );

    let other = json!({"artifacts": {"t.parquet": d.to_string()}, "format": "parquet", "summary": "changed"});
    let r = app.publish_config(key, "default", "x", "1.0.0", &other).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.json(),
        envelope(409, "already_exists", &format!(
            "default/x@1.0.0 is already published with different content ({}); versions are immutable, publish a new version",
            first.header("docker-content-digest")
        ))
    );
    assert_eq!(
        app.get("/api/v1/org/default/datasets/x/versions", key).await.json(),
        json!({"name": "default/x", "versions": ["1.0.0"], "total": 1})
    );
}
}

backend_test! {
    async fn missing_blobs_and_unsafe_paths_create_nothing(app) {
    let key = &app.admin;
    let present = app.push_blob(key, "default", "m", &parquet(5)).await;
    let absent = Digest::of(b"never uploaded");
    let config = json!({"artifacts": {"a.parquet": present.to_string(), "b.parquet": absent.to_string()}});
    let r = app.publish_config(key, "default", "m", "1.0.0", &config).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json(),
        envelope(
            400,
            "invalid_request",
            &format!("manifest references blobs this org does not have: b.parquet ({absent}); upload them first")
        )
    );
    assert_eq!(
        app.get("/api/v1/org/default/datasets/m", key).await.status,
        StatusCode::NOT_FOUND
    );

    for path in ["../escape.parquet", "/abs.parquet", "a/./b.parquet"] {
        let config = json!({"artifacts": {path: present.to_string()}});
        let r = app.publish_config(key, "default", "m", "1.0.0", &config).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            r.json()["detail"],
            format!("unsafe artifact path {path:?}: paths must be relative and stay inside the dataset")
        );
    }
    assert_eq!(
        app.get("/api/v1/org/default/datasets/m", key).await.status,
        StatusCode::NOT_FOUND
    );
}
}

backend_test! {
    async fn manifest_validation_errors(app) {
    let key = &app.admin;
    let d = app.push_blob(key, "default", "v", &parquet(5)).await;
    let bad = |config: serde_json::Value| async move { config };
    // artifacts_hash that does not match
    let r = app
        .publish_config(
            key,
            "default",
            "v",
            "1.0.0",
            &bad(json!({"artifacts": {"a.parquet": d.to_string()}, "artifacts_hash": Digest::of(b"x").to_string()}))
                .await,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .starts_with("artifacts_hash sha256:"));
    // a split that points nowhere
    let r = app
        .publish_config(
            key,
            "default",
            "v",
            "1.0.0",
            &json!({"artifacts": {"a.parquet": d.to_string()}, "splits": {"train": "b.parquet"}}),
        )
        .await;
    assert_eq!(
        r.json()["detail"],
        "split \"train\" points at \"b.parquet\", which is not among the artifacts"
    );
    // unsupported format, no artifacts
    let r = app
        .publish_config(
            key,
            "default",
            "v",
            "1.0.0",
            &json!({"artifacts": {"a.parquet": d.to_string()}, "format": "xlsx"}),
        )
        .await;
    assert_eq!(
        r.json()["detail"],
        "unsupported format \"xlsx\": expected one of parquet, csv, json, jsonl, arrow, feather"
    );
    let r = app
        .publish_config(key, "default", "v", "1.0.0", &json!({"artifacts": {}}))
        .await;
    assert_eq!(
        r.json()["detail"],
        "the dataset manifest lists no artifacts: a dataset needs at least one data file"
    );
    // a data file that is not what it claims
    let junk = app.push_blob(key, "default", "v", b"this is not parquet").await;
    let r = app
        .publish_config(
            key,
            "default",
            "v",
            "1.0.0",
            &json!({"artifacts": {"a.parquet": junk.to_string()}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("a.parquet: not a readable parquet file"),
        "{}",
        r.json()
    );
    // not JSON at all
    let r = app
        .put_manifest(key, "default", "v", "1.0.0", b"{not json".to_vec())
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .starts_with("manifest is not a valid OCI image manifest"));
    // name annotation that disagrees with the path
    let cfg = serde_json::to_vec(&json!({"artifacts": {"a.parquet": d.to_string()}})).unwrap();
    let cd = app.push_blob(key, "default", "v", &cfg).await;
    let r = app
        .put_manifest(
            key,
            "default",
            "v",
            "1.0.0",
            manifest_json(&cd, cfg.len(), "default", "other", "1.0.0"),
        )
        .await;
    assert_eq!(
        r.json()["detail"],
        "annotation io.dreadnode.name is \"default/other\" but the manifest is pushed to default/v"
    );
    // a tag instead of a version
    let r = app
        .put_manifest(
            key,
            "default",
            "v",
            "latest",
            manifest_json(&cd, cfg.len(), "default", "v", "1.0.0"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["loc"], json!(["path", "reference"]));
    assert_eq!(
        app.get("/api/v1/org/default/datasets/v", key).await.status,
        StatusCode::NOT_FOUND
    );
}
}

backend_test! {
    async fn versions_are_ordered_by_semver_and_latest_is_highest(app) {
    let key = &app.admin;
    for v in ["1.2.0", "1.10.0", "1.9.3"] {
        let r = app
            .publish(key, "default", "s", v, &[("t.parquet", parquet(3))], json!({}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let v = app.get("/api/v1/org/default/datasets/s/versions", key).await.json();
    assert_eq!(
        v,
        json!({"name": "default/s", "versions": ["1.10.0", "1.9.3", "1.2.0"], "total": 3})
    );
    let d = app.get("/api/v1/org/default/datasets/s", key).await.json();
    assert_eq!(
        (d["version"].clone(), d["latest_version"].clone()),
        (json!("1.10.0"), json!("1.10.0"))
    );
    let d = app.get("/api/v1/org/default/datasets/s/1.2.0", key).await.json();
    assert_eq!(
        (d["version"].clone(), d["latest_version"].clone()),
        (json!("1.2.0"), json!("1.10.0"))
    );
    let tags = app.get("/api/v1/default/s/tags/list", key).await.json();
    assert_eq!(tags, json!({"name": "default/s", "tags": ["1.10.0", "1.9.3", "1.2.0"]}));
    let r = app.get("/api/v1/org/default/datasets/s/2.0.0", key).await;
    assert_eq!(
        r.json(),
        envelope(404, "not_found", "version 2.0.0 of dataset default/s not found")
    );
}
}

backend_test! {
    async fn private_datasets_are_invisible_to_other_orgs_and_roles_gate_publishing(app) {
    let r = app
        .publish(
            &app.admin,
            "default",
            "secret",
            "1.0.0",
            &[("t.parquet", parquet(3))],
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let reader = app.member("default", "rita", Role::Reader).await;
    let outsider = app.member("other", "olaf", Role::Owner).await;
    assert_eq!(
        app.get("/api/v1/org/default/datasets/secret", &reader).await.status,
        StatusCode::OK
    );
    for uri in [
        "/api/v1/org/default/datasets/secret",
        "/api/v1/org/default/datasets/secret/1.0.0",
        "/api/v1/org/default/datasets/secret/versions",
        "/api/v1/default/secret/tags/list",
        "/api/v1/default/secret/manifests/1.0.0",
    ] {
        let r = app.get(uri, &outsider).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(r.json()["detail"], "dataset default/secret not found", "{uri}");
    }
    // the blobs of a private dataset are hidden too
    let d = app.get("/api/v1/org/default/datasets/secret", &reader).await.json();
    let digest = d["files"][0]["digest"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/api/v1/default/blobs/{digest}"), &reader)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/api/v1/default/blobs/{digest}"), &outsider)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // readers and outsiders cannot publish
    let r = app
        .call(
            axum::http::Method::POST,
            "/api/v1/default/secret/blobs/uploads/",
            Some(&reader),
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(
        r.json(),
        envelope(
            403,
            "forbidden",
            "your role in organization default is reader; publishing needs contributor or owner"
        )
    );
    let r = app
        .call(
            axum::http::Method::POST,
            "/api/v1/default/secret/blobs/uploads/",
            Some(&outsider),
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(
        r.json(),
        envelope(403, "forbidden", "you are not a member of organization default")
    );
    let contributor = app.member("default", "carl", Role::Contributor).await;
    let r = app
        .publish(
            &contributor,
            "default",
            "secret",
            "1.1.0",
            &[("t.parquet", parquet(4))],
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app.get("/api/v1/org/nosuchorg/datasets/secret", &reader).await;
    assert_eq!(
        r.json(),
        envelope(404, "not_found", "organization \"nosuchorg\" not found")
    );
}
}

backend_test! {
    async fn manifests_are_served_by_version_latest_and_digest(app) {
    let key = &app.admin;
    let r = app
        .publish(key, "default", "g", "1.0.0", &[("t.parquet", parquet(3))], json!({}))
        .await;
    let digest = r.header("docker-content-digest").to_string();
    for reference in ["1.0.0", "latest", digest.as_str()] {
        let m = app.get(&format!("/api/v1/default/g/manifests/{reference}"), key).await;
        assert_eq!(m.status, StatusCode::OK, "{reference}");
        assert_eq!(m.header("content-type"), "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(m.header("docker-content-digest"), digest);
        assert_eq!(
            Digest::of(&m.body).to_string(),
            digest,
            "served bytes are the pushed bytes"
        );
        let head = app
            .call(
                axum::http::Method::HEAD,
                &format!("/api/v1/default/g/manifests/{reference}"),
                Some(key),
                axum::body::Body::empty(),
            )
            .await;
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.header("content-length"), m.body.len().to_string());
        assert_eq!(head.header("docker-content-digest"), digest);
        assert!(head.body.is_empty());
    }
    let cfg = app.get("/api/v1/default/g/manifests/1.0.0", key).await.json()["config"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = app.get(&format!("/api/v1/default/blobs/{cfg}"), key).await;
    assert_eq!(blob.status, StatusCode::OK);
    assert_eq!(blob.json()["artifacts"]["t.parquet"].as_str().unwrap().len(), 71);
}
}

backend_test! {
    async fn a_blob_schema_is_what_a_publish_records(app) {
    // `GET /api/v1/org/{org}/blobs/{digest}/schema` answers what publishing the file records
    // (the CLI builds its config from it), for a text file and a parquet file, before and
    // after the publish; unreadable files, bad parameters and other orgs' blobs are refused.
    let csv = b"id,name,score\n1,ann,0.5\n2,bob,1.25\n3,cy,\n".to_vec();
    let pq = parquet(7);
    let csv_d = app.push_blob(&app.admin, "default", "mixed", &csv).await;
    let pq_d = app.push_blob(&app.admin, "default", "mixed", &pq).await;
    let schema = |d: &Digest, format: &str| {
        let (app, uri) = (app.clone_handle(), format!("/api/v1/org/default/blobs/{d}/schema?format={format}"));
        async move { app.get(&uri, &app.admin).await }
    };
    let before = schema(&csv_d, "csv").await;
    assert_eq!(before.status, StatusCode::OK, "{}", String::from_utf8_lossy(&before.body));
    let before = before.json();
    assert_eq!(before["digest"], csv_d.to_string());
    assert_eq!(before["format"], "csv");
    assert_eq!(before["row_count"], 3);
    let r = app
        .publish(&app.admin, "default", "mixed", "1.0.0", &[("a.csv", csv.clone())], json!({"format": "csv"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let detail = app.get("/api/v1/org/default/datasets/mixed/1.0.0", &app.admin).await.json();
    assert_eq!(detail["row_count"], before["row_count"]);
    let columns: serde_json::Map<String, serde_json::Value> = before["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["type"].clone()))
        .collect();
    assert_eq!(detail["data_schema"], serde_json::Value::Object(columns));
    assert_eq!(schema(&csv_d, "csv").await.json(), before, "the same answer after the publish");

    let p = schema(&pq_d, "parquet").await.json();
    assert_eq!(p["row_count"], 7);
    let r = app
        .publish(&app.admin, "default", "mixed", "2.0.0", &[("a.parquet", pq.clone())], json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let detail = app.get("/api/v1/org/default/datasets/mixed/2.0.0", &app.admin).await.json();
    assert_eq!(detail["row_count"], p["row_count"]);
    assert_eq!(
        detail["data_schema"].as_object().unwrap().keys().collect::<Vec<_>>(),
        p["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect::<Vec<_>>().iter().collect::<Vec<_>>()
    );

    // the csv read as parquet: not a readable file, said in one line
    let r = schema(&csv_d, "parquet").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["detail"].as_str().unwrap().contains("not a readable parquet file"), "{}", r.json());
    for bad in ["", "xlsx"] {
        let r = schema(&csv_d, bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "format={bad}");
        assert_eq!(r.json()["errors"][0]["loc"], json!(["query", "format"]));
    }
    let r = app.get("/api/v1/org/default/blobs/sha256:nothex/schema?format=csv", &app.admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let absent = Digest::of(b"never uploaded");
    assert_eq!(schema(&absent, "csv").await.status, StatusCode::NOT_FOUND);
    // another org's member cannot read default's private blob, nor learn it exists
    let outsider = app.member("acme", "olga", Role::Owner).await;
    let r = app
        .get(&format!("/api/v1/org/default/blobs/{csv_d}/schema?format=csv"), &outsider)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get(&format!("/api/v1/org/acme/blobs/{csv_d}/schema?format=csv"), &outsider)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "the blob is not acme's");
}
}

backend_test! {
    async fn a_csv_column_takes_the_type_its_last_rows_demand(app) {
    // Types come from every value, not a prefix: a column of 1,500 integers with `abc` after
    // them is string, with `2.5` double; null tokens leave an integer column integer.
    let mut body = String::from("id,code\n");
    for i in 0..1500 {
        body.push_str(&format!("{i},{i}\n"));
    }
    let cases = [
        ("late-text", "1500,abc\n", "string"),
        ("late-double", "1500,2.5\n", "double"),
        ("null-tokens", "1500,NA\n1501,\n1502,null\n", "int64"),
    ];
    for (name, tail, want) in cases {
        let file = format!("{body}{tail}").into_bytes();
        let r = app
            .publish(&app.admin, "default", name, "1.0.0", &[("t.csv", file)], json!({"format": "csv"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
        let d = app.get(&format!("/api/v1/org/default/datasets/{name}"), &app.admin).await.json();
        assert_eq!(d["data_schema"], json!({"id": "int64", "code": want}), "{name}");
        let rows = 1500 + tail.lines().count();
        assert_eq!(d["row_count"], rows, "{name}");
    }
}
}

backend_test! {
    async fn a_json_lines_key_first_seen_late_is_a_column(app) {
    // 1,500 records {"a": i}, then one with a new key: the key is a column, in .jsonl and
    // in a .json file of JSON lines; a late change of kind is refused naming line and column.
    let mut body: String = (0..1500).map(|i| format!("{{\"a\": {i}}}\n")).collect();
    body.push_str("{\"a\": 1500, \"b\": \"x\"}\n");
    for (name, path) in [("late-key-jsonl", "t.jsonl"), ("late-key-json", "t.json")] {
        let r = app
            .publish(&app.admin, "default", name, "1.0.0", &[(path, body.clone().into_bytes())], json!({"format": "jsonl"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
        let d = app.get(&format!("/api/v1/org/default/datasets/{name}"), &app.admin).await.json();
        assert_eq!(d["data_schema"], json!({"a": "int64", "b": "string"}), "{name}");
        assert_eq!(d["row_count"], 1501);
    }
    let bad = format!("{body}{{\"a\": \"text\"}}\n");
    let r = app
        .publish(&app.admin, "default", "late-kind", "1.0.0", &[("t.jsonl", bad.into_bytes())], json!({"format": "jsonl"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(detail.starts_with("t.jsonl: "), "{detail}");
    assert!(detail.contains("line 1502: column /a changed from number to string"), "{detail}");
}
}

backend_test! {
    async fn an_unsupported_file_type_is_named(app) {
    // An .xlsx artifact is refused as an unsupported type (it was read as the manifest's
    // format and reported as a corrupt parquet footer); a file without an extension is
    // still read as the manifest's format.
    let r = app
        .publish(&app.admin, "default", "sheet", "1.0.0", &[("data/a.xlsx", b"PK\x03\x04".to_vec())], json!({}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["detail"],
        "data/a.xlsx: .xlsx files are not supported; publish parquet, csv, json, jsonl, arrow or feather files"
    );
    let r = app
        .publish(&app.admin, "default", "bare", "1.0.0", &[("data/train", parquet(4))], json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let d = app.get("/api/v1/org/default/datasets/bare", &app.admin).await.json();
    assert_eq!(d["row_count"], 4);
}
}

backend_test! {
    async fn files_of_different_tables_publish_only_as_splits(app) {
    // Four csv tables with different columns are refused outside splits, naming files and
    // columns; mapped to splits each keeps its own schema, rows and preview, and the
    // version's schema is the train split's.
    let airports = b"faa,lat\nJFK,40.6\nLGA,40.7\n".to_vec();
    let airlines = b"carrier,name\nAA,American\n".to_vec();
    let files = [("airlines.csv", airlines.clone()), ("airports.csv", airports.clone())];
    let r = app
        .publish(&app.admin, "default", "flights", "1.0.0", &files, json!({"format": "csv"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["detail"],
        "airlines.csv and airports.csv have different columns: airlines.csv has columns \"carrier\", \"name\" that airports.csv lacks, airports.csv has columns \"faa\", \"lat\" that airlines.csv lacks; files that hold different tables must each be their own split: map airlines.csv and airports.csv to their own splits (`splits:` in dataset.yaml), or publish them as separate datasets"
    );
    assert_eq!(app.get("/api/v1/org/default/datasets/flights", &app.admin).await.status, StatusCode::NOT_FOUND);

    let r = app
        .publish(
            &app.admin, "default", "flights", "1.0.0", &files,
            json!({"format": "csv", "splits": {"train": "airports.csv", "carriers": "airlines.csv"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let d = app.get("/api/v1/org/default/datasets/flights", &app.admin).await.json();
    assert_eq!(d["data_schema"], json!({"faa": "string", "lat": "double"}));
    assert_eq!(d["row_count"], 3);
    assert_eq!(d["files"][0]["path"], "airlines.csv");
    assert_eq!(d["files"][0]["data_schema"], json!({"carrier": "string", "name": "string"}));
    assert_eq!(d["files"][0]["row_count"], 1);
    assert_eq!(d["files"][1]["data_schema"], json!({"faa": "string", "lat": "double"}));
    assert_eq!(d["files"][1]["row_count"], 2);
    for (split, columns) in [("carriers", json!([{"name": "carrier", "type": "string"}, {"name": "name", "type": "string"}])), ("train", json!([{"name": "faa", "type": "string"}, {"name": "lat", "type": "double"}]))] {
        let p = app
            .get(&format!("/api/v1/org/default/datasets/flights/1.0.0/preview?split={split}"), &app.admin)
            .await;
        assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
        assert_eq!(p.json()["columns"], columns, "{split}");
    }
    // The page shows each split's schema and each file's rows.
    let b = crate::ui::Browser::sign_in(&app, &app.admin).await;
    let page = b.get("/orgs/default/datasets/flights").await;
    let html = String::from_utf8_lossy(&page.body).to_string();
    assert!(html.contains("each file's own schema follows"), "{html}");
    assert!(html.contains("<code>carrier</code>"), "{html}");
}
}

backend_test! {
    async fn shards_of_one_table_unify_and_mixed_formats_need_splits(app) {
    // jsonl shards where a key appears only in a later shard: one table, the key added;
    // csv shards where one holds doubles: double. A csv and a jsonl outside splits: refused.
    let files = [
        ("part-0.jsonl", b"{\"a\": 1}\n{\"a\": 2}\n".to_vec()),
        ("part-1.jsonl", b"{\"a\": 3, \"b\": \"x\"}\n".to_vec()),
    ];
    let r = app.publish(&app.admin, "default", "shards", "1.0.0", &files, json!({"format": "jsonl"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let d = app.get("/api/v1/org/default/datasets/shards", &app.admin).await.json();
    assert_eq!(d["data_schema"], json!({"a": "int64", "b": "string"}));
    assert_eq!(d["files"][0]["data_schema"], json!({"a": "int64"}));
    assert_eq!(d["row_count"], 3);
    // The preview shows the version's columns, a key a file lacks as null.
    let p = app.get("/api/v1/org/default/datasets/shards/1.0.0/preview", &app.admin).await.json();
    assert_eq!(p["columns"], json!([{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}]));
    assert_eq!(p["rows"], json!([{"a": 1, "b": null}, {"a": 2, "b": null}, {"a": 3, "b": "x"}]));

    let files = [("a.csv", b"x\n1\n".to_vec()), ("b.csv", b"x\n2.5\n".to_vec())];
    let r = app.publish(&app.admin, "default", "csv-shards", "1.0.0", &files, json!({"format": "csv"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let d = app.get("/api/v1/org/default/datasets/csv-shards", &app.admin).await.json();
    assert_eq!(d["data_schema"], json!({"x": "double"}));
    let p = app.get("/api/v1/org/default/datasets/csv-shards/1.0.0/preview", &app.admin).await.json();
    assert_eq!(p["columns"], json!([{"name": "x", "type": "double"}]));
    assert_eq!(p["rows"], json!([{"x": 1}, {"x": 2.5}]));

    let files = [("a.csv", b"x\n1\n".to_vec()), ("b.jsonl", b"{\"x\": 1}\n".to_vec())];
    let r = app.publish(&app.admin, "default", "mixed", "1.0.0", &files, json!({"format": "csv"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["detail"],
        "a.csv is csv but b.jsonl is jsonl: files outside splits are read as one table in one format; map each format's files to their own split (`splits:` in dataset.yaml), or publish them as separate datasets"
    );
    // A file is the file of one split, and a split has a name.
    for (splits, why) in [
        (json!({"train": "a.csv", "test": "a.csv"}), "a.csv is mapped to two splits (test and train): a file belongs to one split"),
        (json!({"": "a.csv", "train": "b.jsonl"}), "a split name is empty: name each split (train, test, …)"),
    ] {
        let r = app
            .publish(&app.admin, "default", "mixed", "1.0.0", &files, json!({"format": "csv", "splits": splits}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.json()["detail"], why);
    }
    // As splits, each file is read in its own format, preview included.
    let r = app
        .publish(&app.admin, "default", "mixed", "1.0.0", &files, json!({"format": "csv", "splits": {"train": "a.csv", "extra": "b.jsonl"}}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let p = app.get("/api/v1/org/default/datasets/mixed/1.0.0/preview?split=extra", &app.admin).await;
    assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
    assert_eq!(p.json()["rows"], json!([{"x": 1}]));
}
}
