use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use granary_blob::BlobStore;
use granary_core::{Digest, Role};
use granary_db::sql::SqlStore;
use granary_server::{app, auth::issue_api_key, bootstrap::ensure_initial_admin, AppState, ServerConfig};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub admin: String,
    pub _dir: tempfile::TempDir,
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }
}

/// The backend pairs every integration test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite + local disk: always.
    Embedded,
    /// PostgreSQL + S3: when `GRANARY_TEST_DATABASE_URL` and `GRANARY_TEST_S3_URL` are set.
    ScaleOut,
}

/// Runs a test body against every backend pair: `embedded` always, `postgres_s3` when the
/// scale-out services are configured (skipped with a printed reason otherwise).
macro_rules! backend_test {
    (async fn $name:ident($app:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: crate::helpers::TestApp) $body
            #[tokio::test]
            async fn embedded() {
                run(crate::helpers::TestApp::on(crate::helpers::Backend::Embedded).await.unwrap()).await
            }
            #[tokio::test]
            async fn postgres_s3() {
                match crate::helpers::TestApp::on(crate::helpers::Backend::ScaleOut).await {
                    Some(app) => run(app).await,
                    None => eprintln!("skipped: set GRANARY_TEST_DATABASE_URL and GRANARY_TEST_S3_URL to run against PostgreSQL + S3"),
                }
            }
        }
    };
}
pub(crate) use backend_test;

/// `GRANARY_TEST_DATABASE_URL` and `GRANARY_TEST_S3_URL`, when both are set.
pub fn scale_out_urls() -> Option<(String, String)> {
    let db = std::env::var("GRANARY_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())?;
    let s3 = std::env::var("GRANARY_TEST_S3_URL").ok().filter(|v| !v.is_empty())?;
    Some((db, s3))
}

/// A fresh PostgreSQL database and S3 prefix of their own, for one test.
pub async fn scale_out_stores() -> Option<(SqlStore, BlobStore)> {
    let (db_url, s3_url) = scale_out_urls()?;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let url = granary_db::sql::create_postgres_database(&db_url, &name).await.unwrap();
    let db = SqlStore::connect(&url).await.unwrap();
    let (base, query) = s3_url.split_once('?').unwrap_or((&s3_url, ""));
    let blobs = BlobStore::from_url(&format!("{}/{name}?{query}", base.trim_end_matches('/'))).unwrap();
    blobs.check().await.unwrap();
    Some((db, blobs))
}

impl TestApp {
    /// An app on the embedded backend.
    pub async fn new() -> Self {
        Self::on(Backend::Embedded)
            .await
            .expect("the embedded backend is always there")
    }

    /// An app on `backend`; None when that backend is not configured.
    pub async fn on(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let (db, blobs) = match backend {
            Backend::Embedded => (
                SqlStore::open_sqlite(&dir.path().join("granary.db")).await.unwrap(),
                BlobStore::local(&dir.path().join("blobs")).unwrap(),
            ),
            Backend::ScaleOut => scale_out_stores().await?,
        };
        let admin = ensure_initial_admin(&db).await.unwrap().expect("fresh database").key;
        let config = ServerConfig {
            public_url: Some("http://registry.test".into()),
            ..Default::default()
        };
        let state = AppState::new(Arc::new(db), blobs, config);
        Some(TestApp {
            router: app(state.clone()),
            state,
            admin,
            _dir: dir,
        })
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp { status, headers, body }
    }

    pub async fn call(&self, method: Method, uri: &str, key: Option<&str>, body: impl Into<Body>) -> Resp {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(k) = key {
            b = b.header("Authorization", format!("Bearer {k}"));
        }
        self.send(b.body(body.into()).unwrap()).await
    }

    pub async fn get(&self, uri: &str, key: &str) -> Resp {
        self.call(Method::GET, uri, Some(key), Body::empty()).await
    }

    /// A new user in `org` (created if needed) with `role`; returns their API key.
    pub async fn member(&self, org: &str, username: &str, role: Role) -> String {
        let db = &self.state.db;
        let org = match db.org_by_key(org).await.unwrap() {
            Some(o) => o,
            None => db.create_org(org, org).await.unwrap(),
        };
        let user = db
            .create_user(username, &format!("{username}@example.com"))
            .await
            .unwrap();
        db.set_membership(org.id, user.id, role).await.unwrap();
        issue_api_key(db.as_ref(), user.id, "test").await.unwrap().1
    }

    /// Uploads a blob with POST + monolithic PUT.
    pub async fn push_blob(&self, key: &str, org: &str, name: &str, bytes: &[u8]) -> Digest {
        let start = self
            .call(
                Method::POST,
                &format!("/api/v1/{org}/{name}/blobs/uploads/"),
                Some(key),
                Body::empty(),
            )
            .await;
        assert_eq!(start.status, StatusCode::ACCEPTED, "{:?}", start.body);
        let loc = start
            .header("location")
            .strip_prefix("http://registry.test")
            .unwrap()
            .to_string();
        let d = Digest::of(bytes);
        let put = self
            .call(
                Method::PUT,
                &format!("{loc}?digest={d}"),
                Some(key),
                Bytes::copy_from_slice(bytes),
            )
            .await;
        assert_eq!(put.status, StatusCode::CREATED, "{:?}", put.body);
        d
    }

    /// Uploads files and a config, then PUTs the manifest. Returns the manifest response.
    pub async fn publish(
        &self,
        key: &str,
        org: &str,
        name: &str,
        version: &str,
        files: &[(&str, Vec<u8>)],
        extra: Value,
    ) -> Resp {
        let mut artifacts = BTreeMap::new();
        for (path, bytes) in files {
            let d = self.push_blob(key, org, name, bytes).await;
            artifacts.insert(path.to_string(), d.to_string());
        }
        let mut config = json!({"artifacts": artifacts, "format": "parquet"});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            config[k] = v;
        }
        self.publish_config(key, org, name, version, &config).await
    }

    /// Publishes `default/qa@1.0.0` with a train and a test split (parquet bytes given) and
    /// the extra config fields; asserts it was created.
    pub async fn publish_qa(&self, train: &[u8], test: &[u8], extra: Value) {
        let mut config = json!({"splits": {"train": "data/train.parquet", "test": "data/test.parquet"}});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            config[k] = v;
        }
        let files = [
            ("data/train.parquet", train.to_vec()),
            ("data/test.parquet", test.to_vec()),
        ];
        let r = self
            .publish(&self.admin, "default", "qa", "1.0.0", &files, config)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    }

    pub async fn publish_config(&self, key: &str, org: &str, name: &str, version: &str, config: &Value) -> Resp {
        let config_bytes = serde_json::to_vec(config).unwrap();
        let cd = self.push_blob(key, org, name, &config_bytes).await;
        let manifest = manifest_json(&cd, config_bytes.len(), org, name, version);
        self.put_manifest(key, org, name, version, manifest).await
    }

    pub async fn put_manifest(&self, key: &str, org: &str, name: &str, version: &str, manifest: Vec<u8>) -> Resp {
        let req = Request::builder()
            .method(Method::PUT)
            .uri(format!("/api/v1/{org}/{name}/manifests/{version}"))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(Body::from(manifest))
            .unwrap();
        self.send(req).await
    }
}

pub fn manifest_json(config: &Digest, size: usize, org: &str, name: &str, version: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.dreadnode.config.v1+json", "digest": config.to_string(), "size": size},
        "layers": [],
        "annotations": {"io.dreadnode.type": "dataset", "io.dreadnode.name": format!("{org}/{name}"), "io.dreadnode.version": version}
    }))
    .unwrap()
}

/// A parquet file with columns id (int64) and text (string), `rows` rows.
pub fn parquet(rows: i64) -> Vec<u8> {
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
    let text: ArrayRef = Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("t{i}"))));
    let batch = RecordBatch::try_from_iter([("id", ids), ("text", text)]).unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// The canonical envelope, exactly.
pub fn envelope(code: u16, kind: &str, detail: &str) -> Value {
    json!({"code": code, "detail": detail, "type": kind})
}

impl TestApp {
    /// POSTs a JSON body.
    pub async fn post_json(&self, uri: &str, key: &str, body: &Value) -> Resp {
        self.json_call(Method::POST, uri, key, body).await
    }

    pub async fn json_call(&self, method: Method, uri: &str, key: &str, body: &Value) -> Resp {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/json")
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap();
        self.send(req).await
    }

    /// GETs a signed link without credentials (the path part of the absolute URL).
    pub async fn fetch_link(&self, url: &str, range: Option<&str>) -> Resp {
        let path = url.strip_prefix("http://registry.test").expect("absolute link");
        let mut b = Request::get(path);
        if let Some(r) = range {
            b = b.header("Range", r);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }
}

impl TestApp {
    /// A second server on the same metadata and blob stores (its own catalog and caches),
    /// as another replica behind a load balancer would be.
    pub fn twin(&self) -> TestApp {
        self.twin_with(|_| {})
    }

    /// The same server (router, state and key), to move into a spawned task; the test's
    /// own `TestApp` keeps the data directory alive.
    pub fn clone_handle(&self) -> TestApp {
        TestApp {
            router: self.router.clone(),
            state: self.state.clone(),
            admin: self.admin.clone(),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A second server on the same stores, with its settings changed by `f`.
    pub fn twin_with(&self, f: impl FnOnce(&mut ServerConfig)) -> TestApp {
        let mut config = ServerConfig {
            public_url: Some("http://registry.test".into()),
            ..Default::default()
        };
        f(&mut config);
        let state = AppState::new(self.state.db.clone(), self.state.blobs.clone(), config);
        TestApp {
            router: app(state.clone()),
            state,
            admin: self.admin.clone(),
            _dir: tempfile::tempdir().unwrap(),
        }
    }
}
