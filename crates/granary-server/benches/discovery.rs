//! Latency of the list and activity endpoints, and server-side render time of the web UI's
//! catalog and dataset pages, at scale, through the real router in-process (routing, auth
//! or session, SQL, JSON or HTML; the dataset page includes its 100-row parquet preview). Seeds a fresh SQLite registry unless GRANARY_BENCH_DATA names
//! a data directory seeded before (`granary admin --data-dir DIR seed-demo`).
//!
//!   cargo bench -p granary-server --bench discovery
//!   GRANARY_BENCH_VERSIONS=100000 GRANARY_BENCH_EVENTS=10000000 cargo bench -p granary-server --bench discovery
//!   GRANARY_BENCH_DATABASE_URL=postgres://…/granary_bench cargo bench -p granary-server --bench discovery
//!
//! Prints the median, 95th percentile and maximum of 40 runs per query, in milliseconds.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use granary_blob::BlobStore;
use granary_db::sql::{seed, SqlStore};
use granary_db::MetadataStore;
use granary_server::{app, auth::issue_api_key, AppState, ServerConfig};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var("GRANARY_BENCH_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    // PostgreSQL when GRANARY_BENCH_DATABASE_URL is set (e.g. postgres://…/granary_bench).
    let store = match std::env::var("GRANARY_BENCH_DATABASE_URL") {
        Ok(url) => SqlStore::connect(&url).await.unwrap(),
        Err(_) => SqlStore::open_sqlite(&dir.join("granary.db")).await.unwrap(),
    };
    if store.org_by_key("org-00").await.unwrap().is_none() {
        let spec = seed::SeedSpec {
            orgs: 50,
            names: 1000,
            versions: env_usize("GRANARY_BENCH_VERSIONS", 100_000),
            events: env_usize("GRANARY_BENCH_EVENTS", 1_000_000),
            public_percent: 30,
        };
        let t = Instant::now();
        seed::seed(&store, &spec, |s| {
            eprintln!("{:>6.1}s seeding: {s}", t.elapsed().as_secs_f64())
        })
        .await
        .unwrap();
    }
    let user = store.user_by_name("user-00-0").await.unwrap().expect("seeded user");
    let key = issue_api_key(&store, user.id, "bench").await.unwrap().1;
    let blobs = BlobStore::local(&dir.join("blobs")).unwrap();
    let router = app(AppState::new(Arc::new(store), blobs, ServerConfig::default()));
    let cookie = session_cookie(&router, &key).await;
    publish_preview_dataset(&router, &key).await;

    let list = "/api/v1/org/org-00/datasets";
    let cases: Vec<(String, String)> = vec![
        ("list: default (created_at desc)".into(), list.to_string()),
        ("list: include_public".into(), format!("{list}?include_public=true")),
        ("list: include_public, name asc".into(), format!("{list}?include_public=true&sort_by=name&sort_dir=asc")),
        ("list: include_public, row_count desc".into(), format!("{list}?include_public=true&sort_by=row_count")),
        ("list: include_public, file_size asc".into(), format!("{list}?include_public=true&sort_by=file_size_bytes&sort_dir=asc")),
        ("list: include_public, updated_at desc".into(), format!("{list}?include_public=true&sort_by=updated_at")),
        ("list: include_public, limit 200".into(), format!("{list}?include_public=true&limit=200")),
        ("list: include_public, page 500".into(), format!("{list}?include_public=true&page=500")),
        ("list: tags nlp|qa, include_public".into(), format!("{list}?tags=nlp&tags=qa&include_public=true")),
        ("list: task_categories, include_public".into(), format!("{list}?task_categories=translation&include_public=true")),
        ("list: license+format+size, include_public".into(), format!("{list}?license=mit&format=csv&size_category=1K%3Cn%3C10K&include_public=true")),
        ("list: search 'recipes', include_public".into(), format!("{list}?search=recipes&include_public=true")),
        ("list: name, include_public".into(), format!("{list}?name=questions-0000&include_public=true")),
        ("list: everything, include_public".into(), format!("{list}?search=for&tags=nlp&license=mit&task_categories=translation&format=csv&include_public=true&sort_by=row_count")),
        ("facets: include_public".into(), format!("{list}/facets?include_public=true")),
        ("activity: first page".into(), "/api/v1/org/org-00/datasets/activity".into()),
        ("activity: offset 100000".into(), "/api/v1/org/org-00/datasets/activity?offset=100000".into()),
        ("activity: by user".into(), format!("/api/v1/org/org-00/datasets/activity?user_id={}", user.id)),
        ("activity: by dataset".into(), "/api/v1/org/org-00/datasets/activity?dataset_name=questions-0000".into()),
    ];
    let pages: Vec<(String, String)> = vec![
        ("page: catalog".into(), "/orgs/org-00".into()),
        (
            "page: catalog, include_public".into(),
            "/orgs/org-00?include_public=true".into(),
        ),
        (
            "page: catalog, include_public, name asc, p.50".into(),
            "/orgs/org-00?include_public=true&sort_by=name&sort_dir=asc&page=50".into(),
        ),
        (
            "page: catalog, search + facets".into(),
            "/orgs/org-00?search=for&tags=nlp&license=mit&include_public=true".into(),
        ),
        (
            "page: dataset (100-row parquet preview)".into(),
            "/orgs/org-00/datasets/bench-preview".into(),
        ),
        (
            "page: dataset, other split".into(),
            "/orgs/org-00/datasets/bench-preview?split=test".into(),
        ),
        ("page: activity".into(), "/orgs/org-00/activity".into()),
    ];
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>10}",
        "query", "p50 ms", "p95 ms", "max ms", "total"
    );
    for (label, uri) in pages {
        let (times, _) = timed(&router, &uri, ("Cookie", cookie.clone())).await;
        report(&label, times, "html");
    }
    for (label, uri) in cases {
        let (times, first) = timed(&router, &uri, ("Authorization", format!("Bearer {key}"))).await;
        let v: serde_json::Value = serde_json::from_slice(&first).unwrap();
        let total = v
            .get("total")
            .or(v.get("filtered_total"))
            .map(|t| t.to_string())
            .unwrap_or_default();
        report(&label, times, &total);
    }
}

/// 43 GETs of `uri`; the times of the last 40 in ms, and the first response's body.
async fn timed(router: &axum::Router, uri: &str, auth: (&str, String)) -> (Vec<f64>, bytes::Bytes) {
    let mut times = Vec::new();
    let mut first = bytes::Bytes::new();
    for i in 0..43 {
        let req = Request::get(uri).header(auth.0, &auth.1).body(Body::empty()).unwrap();
        let t = Instant::now();
        let resp = router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let elapsed = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(status, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&body));
        if i == 0 {
            first = body;
        } else if i >= 3 {
            times.push(elapsed);
        }
    }
    (times, first)
}

fn report(label: &str, mut times: Vec<f64>, total: &str) {
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{label:<44} {:>8.2} {:>8.2} {:>8.2} {total:>10}",
        p(0.5),
        p(0.95),
        times[times.len() - 1]
    );
}

async fn call(router: &axum::Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, bytes::Bytes) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.into_body().collect().await.unwrap().to_bytes())
}

/// Signs in through the form, as a browser would; returns the `Cookie` header value.
async fn session_cookie(router: &axum::Router, key: &str) -> String {
    let (_, headers, body) = call(router, Request::get("/sign-in").body(Body::empty()).unwrap()).await;
    let pre = headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let token = pre.split_once('=').unwrap().1.to_string();
    assert!(String::from_utf8_lossy(&body).contains(&token));
    let form = serde_html_form::to_string([("api_key", key), ("csrf", &token)]).unwrap();
    let req = Request::post("/sign-in")
        .header("Cookie", &pre)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let (status, headers, _) = call(router, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// Publishes `org-00/bench-preview@1.0.0` (parquet, train 100,000 rows and test 5,000) if it
/// is not there yet, so the dataset page renders a real preview.
async fn publish_preview_dataset(router: &axum::Router, key: &str) {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    let exists = Request::get("/api/v1/org/org-00/datasets/bench-preview")
        .header("Authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    if call(router, exists).await.0 == StatusCode::OK {
        return;
    }
    let parquet = |rows: i64| {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
        let text: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("row {i} of the benchmark")),
        ));
        let batch = RecordBatch::try_from_iter([("id", ids), ("text", text)]).unwrap();
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        out
    };
    let push = |bytes: Vec<u8>| async move {
        let d = granary_core::Digest::of(&bytes);
        let req = Request::post(format!("/v2/org-00/bench-preview/blobs/uploads/?digest={d}"))
            .header("Authorization", format!("Bearer {key}"))
            .body(Body::from(bytes))
            .unwrap();
        let (status, _, body) = call(router, req).await;
        assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
        d
    };
    let train = push(parquet(100_000)).await;
    let test = push(parquet(5_000)).await;
    let config = serde_json::to_vec(&serde_json::json!({
        "format": "parquet",
        "artifacts": {"data/train.parquet": train.to_string(), "data/test.parquet": test.to_string()},
        "splits": {"train": "data/train.parquet", "test": "data/test.parquet"},
        "summary": "A dataset for page benchmarks",
    }))
    .unwrap();
    let config_len = config.len();
    let cd = push(config).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.dreadnode.config.v1+json", "digest": cd.to_string(), "size": config_len},
        "layers": [],
        "annotations": {"io.dreadnode.type": "dataset", "io.dreadnode.name": "org-00/bench-preview", "io.dreadnode.version": "1.0.0"}
    });
    let req = Request::put("/v2/org-00/bench-preview/manifests/1.0.0")
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(Body::from(serde_json::to_vec(&manifest).unwrap()))
        .unwrap();
    let (status, _, body) = call(router, req).await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
}
