//! Garbage collection of unreferenced blobs and abandoned upload sessions.

use axum::http::{Method, StatusCode};
use granary_server::gc::{collect, GcOptions, GcReport};
use serde_json::json;

use crate::helpers::backend_test;
use crate::helpers::{parquet, TestApp};

fn opts(min_blob_age: chrono::Duration, upload_age: chrono::Duration, dry_run: bool) -> GcOptions {
    GcOptions {
        min_blob_age,
        upload_age,
        dry_run,
    }
}

async fn head(app: &TestApp, digest: &str) -> StatusCode {
    app.call(
        Method::HEAD,
        &format!("/api/v1/default/blobs/{digest}"),
        Some(&app.admin),
        axum::body::Body::empty(),
    )
    .await
    .status
}

backend_test! {
    async fn gc_removes_only_unreferenced_old_blobs_and_stale_sessions(app) {
    let r = app.publish(&app.admin, "default", "kept", "1.0.0", &[("t.parquet", parquet(7))], json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let kept = app.get("/api/v1/org/default/datasets/kept", &app.admin).await.json();
    let kept_digest = kept["files"][0]["digest"].as_str().unwrap().to_string();
    let orphan = app.push_blob(&app.admin, "default", "kept", b"nobody references me").await.to_string();
    let start = app.call(Method::POST, "/api/v1/default/kept/blobs/uploads/", Some(&app.admin), axum::body::Body::empty()).await;
    let loc = start.header("location").strip_prefix("http://registry.test").unwrap().to_string();
    app.call(Method::PATCH, &loc, Some(&app.admin), bytes::Bytes::from_static(b"half an upload")).await;
    let (db, blobs) = (app.state.db.as_ref(), &app.state.blobs);
    let zero = chrono::Duration::zero();

    // young blobs and sessions are left alone
    let r = collect(db, blobs, &opts(chrono::Duration::hours(1), chrono::Duration::hours(1), false)).await.unwrap();
    assert_eq!(r, GcReport { blobs_removed: 0, bytes_removed: 0, blobs_kept: 3, uploads_removed: 0, staging_removed: 0 });
    // a dry run reports and removes nothing
    let r = collect(db, blobs, &opts(zero, zero, true)).await.unwrap();
    assert_eq!(r, GcReport { blobs_removed: 1, bytes_removed: 20, blobs_kept: 2, uploads_removed: 1, staging_removed: 0 });
    assert_eq!(head(&app, &orphan).await, StatusCode::OK);
    // the real run
    let r = collect(db, blobs, &opts(zero, zero, false)).await.unwrap();
    assert_eq!(r, GcReport { blobs_removed: 1, bytes_removed: 20, blobs_kept: 2, uploads_removed: 1, staging_removed: 0 });
    assert_eq!(head(&app, &orphan).await, StatusCode::NOT_FOUND);
    assert_eq!(head(&app, &kept_digest).await, StatusCode::OK);
    assert_eq!(app.get(&loc, &app.admin).await.status, StatusCode::NOT_FOUND);
    let d = app.post_json("/api/v1/org/default/datasets/kept/1.0.0/download", &app.admin, &json!({"format": "raw"})).await.json();
    assert_eq!(app.fetch_link(d["url"].as_str().unwrap(), None).await.status, StatusCode::OK);

    // a deleted version's blobs become garbage
    app.call(Method::DELETE, "/api/v1/org/default/datasets/kept/1.0.0", Some(&app.admin), axum::body::Body::empty()).await;
    let r = collect(db, blobs, &opts(zero, zero, false)).await.unwrap();
    assert_eq!((r.blobs_removed, r.blobs_kept), (2, 0));
    assert_eq!(head(&app, &kept_digest).await, StatusCode::NOT_FOUND);
    }
}
