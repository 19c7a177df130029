//! The same protocol at the standard OCI root, with OCI error bodies.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use granary_core::Digest;
use serde_json::json;

use crate::helpers::backend_test;
use crate::helpers::{manifest_json, parquet};

backend_test! {
    async fn v2_base_challenges_for_credentials(app) {
    let r = app.call(Method::GET, "/v2/", None, Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").starts_with("Basic realm="));
    assert_eq!(r.json()["errors"][0]["code"], "UNAUTHORIZED");
    let r = app.get("/v2/", &app.admin).await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!({})));
}
}

backend_test! {
    async fn push_and_pull_through_v2(app) {
    let key = &app.admin;
    let data = parquet(42);
    let mut digests = Vec::new();
    let config_bytes;
    {
        let d = Digest::of(&data);
        config_bytes = serde_json::to_vec(&json!({"artifacts": {"t.parquet": d.to_string()}})).unwrap();
        for bytes in [&data, &config_bytes] {
            let start = app
                .call(
                    Method::POST,
                    "/v2/default/pulled/blobs/uploads/",
                    Some(key),
                    Body::empty(),
                )
                .await;
            assert_eq!(start.status, StatusCode::ACCEPTED);
            let loc = start
                .header("location")
                .strip_prefix("http://registry.test")
                .unwrap()
                .to_string();
            assert!(loc.starts_with("/v2/default/pulled/blobs/uploads/"));
            let d = Digest::of(bytes);
            let r = app
                .call(Method::PUT, &format!("{loc}?digest={d}"), Some(key), bytes.clone())
                .await;
            assert_eq!(r.status, StatusCode::CREATED);
            assert_eq!(r.header("location"), format!("/v2/default/pulled/blobs/{d}"));
            digests.push(d);
        }
    }
    let manifest = manifest_json(&digests[1], config_bytes.len(), "default", "pulled", "1.0.0");
    let req = Request::put("/v2/default/pulled/manifests/1.0.0")
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(Body::from(manifest.clone()))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("docker-content-digest"), Digest::of(&manifest).to_string());
    let m = app.get("/v2/default/pulled/manifests/1.0.0", key).await;
    assert_eq!(m.body.as_ref(), manifest.as_slice());
    let b = app.get(&format!("/v2/default/pulled/blobs/{}", digests[0]), key).await;
    assert_eq!(b.body.as_ref(), data.as_slice());
    assert_eq!(
        app.get("/v2/default/pulled/tags/list", key).await.json(),
        json!({"name": "default/pulled", "tags": ["1.0.0"]})
    );
}
}

backend_test! {
    async fn v2_errors_use_oci_bodies(app) {
    let key = &app.admin;
    let r = app
        .get(&format!("/v2/default/nothing/blobs/{}", Digest::of(b"x")), key)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["errors"][0]["code"], "BLOB_UNKNOWN");
    let r = app.get("/v2/default/nothing/manifests/1.0.0", key).await;
    assert_eq!(r.json()["errors"][0]["code"], "NAME_UNKNOWN");
    let r = app
        .publish(key, "default", "some", "1.0.0", &[("t.parquet", parquet(2))], json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app.get("/v2/default/some/manifests/9.9.9", key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["errors"][0]["code"], "MANIFEST_UNKNOWN");
    assert_eq!(
        r.json()["errors"][0]["message"],
        "version 9.9.9 of dataset default/some not found"
    );
    let r = app.get("/v2/no/such/route/at/all", key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["errors"][0]["code"], "NAME_UNKNOWN");
    // the same miss under /api/v1 is the canonical envelope
    let r = app
        .get(&format!("/api/v1/default/blobs/{}", Digest::of(b"x")), key)
        .await;
    assert_eq!(r.json()["type"], "not_found");
}
}
