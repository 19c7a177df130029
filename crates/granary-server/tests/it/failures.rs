//! Backend failures at run time come back as the contract's 502/504, never a hang or a 500.

use axum::http::{Method, StatusCode};
use granary_blob::BlobStore;
use granary_server::{app, AppState, ServerConfig};
use std::sync::Arc;

use crate::helpers::{envelope, TestApp};

#[tokio::test]
async fn an_unreachable_object_store_is_502() {
    let healthy = TestApp::new().await;
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    let dead = BlobStore::from_url("s3://gone?endpoint=http://127.0.0.1:1&region=us-east-1").unwrap();
    let state = AppState::new(healthy.state.db.clone(), dead, ServerConfig::default());
    let broken = TestApp {
        router: app(state.clone()),
        state,
        admin: healthy.admin.clone(),
        _dir: tempfile::tempdir().unwrap(),
    };
    let digest = granary_core::Digest::of(b"x");
    let r = broken
        .call(
            Method::HEAD,
            &format!("/api/v1/default/blobs/{digest}"),
            Some(&broken.admin),
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let r = broken
        .call(
            Method::POST,
            "/api/v1/default/x/blobs/uploads/",
            Some(&broken.admin),
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(
        r.json(),
        envelope(
            502,
            "bad_gateway",
            "the object store answered with an error; retry shortly"
        )
    );
    // the metadata side still answers
    assert_eq!(
        broken.get("/api/v1/org/default/datasets", &broken.admin).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_metadata_database_that_goes_away_is_502() {
    let Some((db_url, _)) = crate::helpers::scale_out_urls() else {
        eprintln!("skipped: set GRANARY_TEST_DATABASE_URL and GRANARY_TEST_S3_URL to run against PostgreSQL");
        return;
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let url = granary_db::sql::create_postgres_database(&db_url, &name).await.unwrap();
    let db = granary_db::sql::SqlStore::connect(&url).await.unwrap();
    let admin = granary_server::bootstrap::ensure_initial_admin(&db)
        .await
        .unwrap()
        .unwrap()
        .key;
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(
        Arc::new(db),
        BlobStore::local(dir.path()).unwrap(),
        ServerConfig::default(),
    );
    let t = TestApp {
        router: app(state.clone()),
        state,
        admin,
        _dir: dir,
    };
    assert_eq!(t.get("/api/v1/user", &t.admin).await.status, StatusCode::OK);
    // the database disappears under the running server
    granary_db::sql::drop_postgres_database(&db_url, &name).await.unwrap();
    let r = t.get("/api/v1/user", &t.admin).await;
    assert_eq!(
        r.json(),
        envelope(
            502,
            "bad_gateway",
            "the metadata database answered with an error; retry shortly"
        )
    );
}

#[tokio::test]
async fn several_servers_starting_at_once_migrate_and_bootstrap_once() {
    let Some((db_url, _)) = crate::helpers::scale_out_urls() else {
        eprintln!("skipped: set GRANARY_TEST_DATABASE_URL and GRANARY_TEST_S3_URL to run against PostgreSQL");
        return;
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let url = granary_db::sql::create_postgres_database(&db_url, &name).await.unwrap();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let db = granary_db::sql::SqlStore::connect(&url).await.unwrap();
                granary_server::bootstrap::ensure_initial_admin(&db)
                    .await
                    .unwrap()
                    .is_some()
            })
        })
        .collect();
    let mut created = 0;
    for s in starts {
        created += s.await.unwrap() as usize;
    }
    assert_eq!(created, 1, "exactly one server creates the owner");
    let db = granary_db::sql::SqlStore::connect(&url).await.unwrap();
    use granary_db::MetadataStore;
    assert_eq!(db.list_users().await.unwrap().len(), 1);
    assert_eq!(db.list_api_keys(None).await.unwrap().len(), 1);
}
