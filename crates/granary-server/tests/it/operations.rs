//! What operators rely on: liveness, readiness that names the failing store, Prometheus
//! metrics, and rate limits answered 429 with `Retry-After`.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use granary_blob::BlobStore;
use granary_db::sql::SqlStore;
use granary_server::ratelimit::{Rate, RateLimits};
use granary_server::{app, AppState, ServerConfig};
use serde_json::json;
use std::sync::Arc;

use crate::helpers::{backend_test, envelope};

backend_test! {
    async fn readiness_checks_both_stores(app) {
    let r = app.call(Method::GET, "/api/v1/ready", None, Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"status": "ready", "checks": {"metadata": "ok", "blobs": "ok"}}));
    }
}

async fn get_json(router: &axum::Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let req = Request::get(uri).body(Body::empty()).unwrap();
    let resp = tower::ServiceExt::oneshot(router.clone(), req).await.unwrap();
    let status = resp.status();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

/// A server whose metadata store was closed (the database went away) and whose blob
/// store points at a port nothing listens on.
#[tokio::test]
async fn readiness_names_the_failing_store_while_liveness_stays_cheap() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqlStore::open_sqlite(&dir.path().join("g.db")).await.unwrap();
    db.close().await;
    let blobs = BlobStore::local(&dir.path().join("blobs")).unwrap();
    let state = AppState::new(Arc::new(db), blobs, ServerConfig::default());
    let router = app(state);
    let (status, body) = get_json(&router, "/api/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, body) = get_json(&router, "/api/v1/ready").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        body,
        envelope(
            502,
            "bad_gateway",
            "not ready: the metadata store answered with an error"
        )
    );

    // The blob store broken as well (its directory replaced by a file): named too.
    let db = SqlStore::open_sqlite(&dir.path().join("h.db")).await.unwrap();
    let root = dir.path().join("gone");
    let blobs = BlobStore::local(&root).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::write(&root, b"not a directory").unwrap();
    let router = app(AppState::new(Arc::new(db), blobs, ServerConfig::default()));
    let resp = tower::ServiceExt::oneshot(router, Request::get("/api/v1/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        status == StatusCode::BAD_GATEWAY || status == StatusCode::GATEWAY_TIMEOUT,
        "{status}"
    );
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.starts_with("not ready: the blob store "), "{detail}");
    assert!(!detail.contains("metadata"), "{detail}");
}

fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(prefix))
}

backend_test! {
    async fn metrics_count_requests_by_route_and_status(app) {
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/org/default/datasets", &app.admin).await.status, StatusCode::OK);
    }
    assert_eq!(app.get("/api/v1/org/nope/datasets", &app.admin).await.status, StatusCode::NOT_FOUND);
    let r = app.call(Method::GET, "/metrics", None, Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert_eq!(
        line(&text, "granary_http_requests_total{method=\"GET\",route=\"/api/v1/org/{org}/datasets\",status=\"200\"}"),
        Some("granary_http_requests_total{method=\"GET\",route=\"/api/v1/org/{org}/datasets\",status=\"200\"} 3")
    );
    assert_eq!(
        line(&text, "granary_http_requests_total{method=\"GET\",route=\"/api/v1/org/{org}/datasets\",status=\"404\"}"),
        Some("granary_http_requests_total{method=\"GET\",route=\"/api/v1/org/{org}/datasets\",status=\"404\"} 1")
    );
    assert!(line(&text, "granary_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/org/{org}/datasets\",status=\"200\"} 3").is_some(), "{text}");
    // an upload and a counted download move the byte and event counters
    let r = app.publish(&app.admin, "default", "m", "1.0.0", &[("t.parquet", crate::helpers::parquet(5))], json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let d = app.post_json("/api/v1/org/default/datasets/m/1.0.0/download", &app.admin, &json!({})).await;
    let link = d.json()["url"].as_str().unwrap().to_string();
    let bytes = app.fetch_link(&link, None).await.body.len();
    let text = String::from_utf8(app.call(Method::GET, "/metrics", None, Body::empty()).await.body.to_vec()).unwrap();
    assert_eq!(line(&text, "granary_blob_uploads_total"), Some("granary_blob_uploads_total 2"), "file + config");
    assert_eq!(line(&text, "granary_downloads_counted_total"), Some("granary_downloads_counted_total 1"));
    let sent: u64 = line(&text, "granary_http_response_body_bytes_total ").unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    assert!(sent >= bytes as u64, "{sent} < {bytes}");
    let received: u64 = line(&text, "granary_http_request_body_bytes_total ").unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    assert!(received >= crate::helpers::parquet(5).len() as u64);
    // unknown paths share one label, so no request can add a series
    app.call(Method::GET, "/api/v1/no/such/route/1", None, Body::empty()).await;
    app.call(Method::GET, "/api/v1/no/such/route/2", None, Body::empty()).await;
    let text = String::from_utf8(app.call(Method::GET, "/metrics", None, Body::empty()).await.body.to_vec()).unwrap();
    assert!(!text.contains("/no/such"), "{text}");
    }
}

backend_test! {
    async fn rate_limits_answer_429_with_retry_after(app) {
    let limited = app.twin_with(|c| {
        c.rate_limits = RateLimits {
            metadata: Some(Rate { per_minute: 1, burst: 2 }),
            blobs: Some(Rate { per_minute: 1, burst: 1 }),
        }
    });
    let other = limited.member("default", "otto", granary_core::Role::Reader).await;
    let uri = "/api/v1/org/default/datasets";
    assert_eq!(limited.get(uri, &app.admin).await.status, StatusCode::OK);
    assert_eq!(limited.get(uri, &app.admin).await.status, StatusCode::OK);
    let r = limited.get(uri, &app.admin).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("retry-after"), "60");
    assert_eq!(
        r.json(),
        envelope(429, "rate_limited", "too many metadata requests from this client; retry in 60 s")
    );
    // another key has its own budget; liveness and readiness are never limited
    assert_eq!(limited.get(uri, &other).await.status, StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(limited.call(Method::GET, "/api/v1/health", None, Body::empty()).await.status, StatusCode::OK);
    }
    // blob transfer draws from its own budget; under /v2/ the error is an OCI body
    let r = limited.get("/v2/default/x/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000", &app.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = limited.get("/v2/default/x/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000", &app.admin).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json()["errors"][0]["code"], "TOOMANYREQUESTS");
    assert_eq!(r.header("retry-after"), "60");
    // requests without credentials share their address's bucket
    let anon = |_: ()| limited.call(Method::GET, "/api/v1/user", None, Body::empty());
    assert_eq!(anon(()).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anon(()).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anon(()).await.status, StatusCode::TOO_MANY_REQUESTS);
    let text = String::from_utf8(limited.call(Method::GET, "/metrics", None, Body::empty()).await.body.to_vec()).unwrap();
    assert_eq!(line(&text, "granary_rate_limited_total{kind=\"metadata\"}"), Some("granary_rate_limited_total{kind=\"metadata\"} 2"));
    assert_eq!(line(&text, "granary_rate_limited_total{kind=\"blobs\"}"), Some("granary_rate_limited_total{kind=\"blobs\"} 1"));
    assert_eq!(limited.state.rate_limiter.buckets(), 4, "admin and otto (metadata), anonymous, admin (blobs)");
    }
}
