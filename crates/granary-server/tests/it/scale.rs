//! Several servers over one set of stores: what one does, the others see and honour.

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use granary_core::Digest;
use serde_json::json;

use crate::helpers::backend_test;
use crate::helpers::{parquet, TestApp};

backend_test! {
    async fn published_on_one_listed_and_downloaded_on_the_other(a) {
    let b = a.twin();
    assert_eq!(b.get("/api/v1/org/default/datasets", &b.admin).await.json()["total"], 0);
    let data = parquet(50);
    let r = a.publish(&a.admin, "default", "twin", "1.0.0", &[("t.parquet", data.clone())], json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let v = b.get("/api/v1/org/default/datasets?name=twin", &b.admin).await.json();
    assert_eq!(v["total"], 1);
    // a link issued by one server is honoured by the other
    let d = a.post_json("/api/v1/org/default/datasets/twin/1.0.0/download", &a.admin, &json!({"format": "raw"})).await.json();
    let got = b.fetch_link(d["url"].as_str().unwrap(), None).await;
    assert_eq!((got.status, got.body.as_ref()), (StatusCode::OK, data.as_slice()));
    assert_eq!(b.get("/api/v1/org/default/datasets/twin", &b.admin).await.json()["download_count"], 1);
    }
}

backend_test! {
    async fn an_upload_started_on_one_is_finished_on_the_other(a) {
    let b = a.twin();
    let bytes: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let d = Digest::of(&bytes);
    let start = a.call(Method::POST, "/api/v1/default/x/blobs/uploads/", Some(&a.admin), axum::body::Body::empty()).await;
    let loc = start.header("location").strip_prefix("http://registry.test").unwrap().to_string();
    let patch = |app: &TestApp, range: String, body: Vec<u8>| {
        let req = axum::http::Request::patch(&loc)
            .header("Authorization", format!("Bearer {}", app.admin))
            .header("Content-Range", range)
            .body(axum::body::Body::from(body))
            .unwrap();
        let router = app.router.clone();
        async move {
            use tower::ServiceExt;
            router.oneshot(req).await.unwrap().status()
        }
    };
    assert_eq!(patch(&a, "0-9999".into(), bytes[..10_000].to_vec()).await, StatusCode::ACCEPTED);
    assert_eq!(b.get(&loc, &b.admin).await.header("upload-offset"), "10000");
    assert_eq!(patch(&b, "10000-19999".into(), bytes[10_000..20_000].to_vec()).await, StatusCode::ACCEPTED);
    assert_eq!(patch(&a, "20000-29999".into(), bytes[20_000..].to_vec()).await, StatusCode::ACCEPTED);
    let r = b.call(Method::PUT, &format!("{loc}?digest={d}"), Some(&b.admin), Bytes::new()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(a.get(&format!("/api/v1/default/blobs/{d}"), &a.admin).await.body.as_ref(), bytes.as_slice());
    }
}

backend_test! {
    async fn concurrent_downloads_over_both_servers_count_exactly(a) {
    let b = a.twin();
    let r = a.publish(&a.admin, "default", "hot", "1.0.0", &[("t.parquet", parquet(5))], json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let router = if i % 2 == 0 { a.router.clone() } else { b.router.clone() };
        let key = a.admin.clone();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let req = axum::http::Request::post("/api/v1/org/default/datasets/hot/1.0.0/download")
                .header("Authorization", format!("Bearer {key}"))
                .header("Content-Type", "application/json")
                .body(axum::body::Body::from(r#"{"format": "raw"}"#))
                .unwrap();
            router.oneshot(req).await.unwrap().status()
        }));
        if i == 20 {
            // both servers fold while downloads are still arriving
            let (da, db) = (a.state.db.clone(), b.state.db.clone());
            tasks.push(tokio::spawn(async move { da.fold_downloads().await.unwrap(); StatusCode::OK }));
            tasks.push(tokio::spawn(async move { db.fold_downloads().await.unwrap(); StatusCode::OK }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    for app in [&a, &b] {
        let d = app.get("/api/v1/org/default/datasets/hot/1.0.0", &app.admin).await.json();
        assert_eq!(d["download_count"], 40);
    }
    a.state.db.fold_downloads().await.unwrap();
    b.state.db.fold_downloads().await.unwrap();
    let d = b.get("/api/v1/org/default/datasets/hot/1.0.0", &b.admin).await.json();
    assert_eq!(d["download_count"], 40);
    assert_eq!(a.get("/api/v1/org/default/datasets/activity", &a.admin).await.json()["total"], 40);
    }
}

backend_test! {
    async fn concurrent_publishes_of_one_version_have_one_winner(a) {
    let b = a.twin();
    // six different contents for the same version, pushed through both servers at once
    let mut manifests = Vec::new();
    for i in 0..6 {
        let d = a.push_blob(&a.admin, "default", "race", &parquet(10 + i)).await;
        let config = serde_json::to_vec(&json!({"artifacts": {"t.parquet": d.to_string()}})).unwrap();
        let cd = a.push_blob(&a.admin, "default", "race", &config).await;
        manifests.push(crate::helpers::manifest_json(&cd, config.len(), "default", "race", "1.0.0"));
    }
    let mut tasks = Vec::new();
    for (i, m) in manifests.into_iter().enumerate() {
        let router = if i % 2 == 0 { a.router.clone() } else { b.router.clone() };
        let key = a.admin.clone();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let req = axum::http::Request::put("/api/v1/default/race/manifests/1.0.0")
                .header("Authorization", format!("Bearer {key}"))
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .body(axum::body::Body::from(m))
                .unwrap();
            router.oneshot(req).await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT, StatusCode::CONFLICT, StatusCode::CONFLICT, StatusCode::CONFLICT, StatusCode::CONFLICT]);
    assert_eq!(b.get("/api/v1/org/default/datasets/race/versions", &b.admin).await.json()["total"], 1);
    }
}

backend_test! {
    async fn redirect_mode_sends_links_to_presigned_urls(app) {
    let data = parquet(33);
    let r = app.publish(&app.admin, "default", "direct", "1.0.0", &[("t.parquet", data.clone())], json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let redirecting = app.twin_with(|c| c.download_redirect = true);
    let d = redirecting.post_json("/api/v1/org/default/datasets/direct/1.0.0/download", &app.admin, &json!({"format": "raw"})).await.json();
    let r = redirecting.fetch_link(d["url"].as_str().unwrap(), None).await;
    if r.status == StatusCode::TEMPORARY_REDIRECT {
        // S3: the bytes come straight from the object store, with a signature of its own
        let location = r.header("location").to_string();
        assert!(location.contains("X-Amz-Signature="), "{location}");
        let got = reqwest::get(&location).await.unwrap();
        assert_eq!(got.status(), reqwest::StatusCode::OK);
        assert_eq!(got.bytes().await.unwrap().as_ref(), data.as_slice());
    } else {
        // a local store cannot sign URLs: the bytes are streamed
        assert_eq!((r.status, r.body.as_ref()), (StatusCode::OK, data.as_slice()));
    }
    // a tampered link is refused before any redirect
    let bad = d["url"].as_str().unwrap().replace("t.parquet", "u.parquet");
    assert_eq!(redirecting.fetch_link(&bad, None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/org/default/datasets/direct", &app.admin).await.json()["download_count"], 1);
    }
}
