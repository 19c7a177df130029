//! Hostile input and races through the real router: crafted files end in a 4xx that says
//! what is wrong and the server keeps answering; requests racing a delete (and the gc that
//! follows it) end in 404/409, never a 5xx.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use granary_server::gc::{collect, GcOptions};
use serde_json::{json, Value};
use std::sync::Arc;

use crate::helpers::backend_test;
use crate::helpers::{parquet, TestApp};

/// A parquet file of a few hundred bytes whose footer's schema list claims 2^31-1 elements.
fn footer_bomb() -> Vec<u8> {
    let mut footer = vec![0x15, 0x02, 0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07];
    footer.extend_from_slice(&[0x18, 0x01, b'x', 0x00]);
    footer.resize(400, 0);
    let mut f = b"PAR1".to_vec();
    f.extend_from_slice(&footer);
    f.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    f.extend_from_slice(b"PAR1");
    f
}

/// A parquet file holding one `bytes`-long zstd-compressed value of zeros.
fn decompression_bomb(bytes: usize) -> Vec<u8> {
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    let zeros = "\0".repeat(bytes);
    let text: ArrayRef = Arc::new(StringArray::from(vec![zeros.as_str()]));
    let batch = RecordBatch::try_from_iter([("text", text)]).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_dictionary_enabled(false)
        .build();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

async fn alive(app: &TestApp) {
    let r = app.get("/api/v1/health", &app.admin).await;
    assert_eq!(r.status, StatusCode::OK);
}

backend_test! {
    async fn crafted_files_end_in_clear_4xx(app) {
    let key = &app.admin;
    // A footer that claims 2^31-1 schema elements is refused at publish, not allocated.
    let r = app
        .publish(key, "default", "bomb", "1.0.0", &[("t.parquet", footer_bomb())], json!({}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(
        detail.starts_with("t.parquet: not a readable parquet file: malformed footer: a thrift list claims 2147483647 elements"),
        "{detail}"
    );
    alive(&app).await;

    // A 24 MiB value of zeros in a few KiB publishes (only the footer is read) ...
    let bomb = decompression_bomb(24 << 20);
    assert!(bomb.len() < 64 << 10);
    let r = app
        .publish(key, "default", "zeros", "1.0.0", &[("z.parquet", bomb)], json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // ... and its preview stops at the preview budget with a 422 that says so.
    let small = app.twin_with(|c| c.preview_max_bytes = 8 << 20);
    let r = small.get("/api/v1/org/default/datasets/zeros/1.0.0/preview", key).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(
        r.json()["detail"],
        "z.parquet cannot be previewed: too large to read: it needs more than 8 MiB of data to decode \
         (a preview may decode 8 MiB in 10 s); download the file instead"
    );
    // With the default budget (64 MiB) it previews, the cell cut to 1,000 characters.
    let r = app.get("/api/v1/org/default/datasets/zeros/1.0.0/preview", key).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.json()["rows"][0]["text"].as_str().unwrap().chars().count(), 1001);

    // A jsonl file whose second line is 20 MB.
    let mut jsonl = b"{\"a\": \"x\"}\n{\"a\": \"".to_vec();
    jsonl.resize(jsonl.len() + (20 << 20), b'y');
    jsonl.extend_from_slice(b"\"}\n");
    let r = app
        .publish(key, "default", "long-line", "1.0.0", &[("l.jsonl", jsonl)], json!({"format": "jsonl"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = small.get("/api/v1/org/default/datasets/long-line/1.0.0/preview", key).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert!(r.json()["detail"].as_str().unwrap().starts_with("l.jsonl cannot be previewed: too large to read"));
    alive(&app).await;
    }
}

backend_test! {
    async fn requests_racing_a_delete_never_answer_5xx(app) {
    let key = app.admin.clone();
    let gc = GcOptions {
        min_blob_age: chrono::Duration::zero(),
        upload_age: chrono::Duration::hours(1),
        dry_run: false,
    };
    let mut seen = std::collections::BTreeMap::<u16, usize>::new();
    for round in 0..4 {
        // Fresh bytes each round, so the gc of the last round cannot have taken them.
        let r = app
            .publish(
                &key,
                "default",
                "racy",
                "1.0.0",
                &[("a.parquet", parquet(10 + round)), ("b.parquet", parquet(20 + round))],
                json!({"splits": {"train": "a.parquet", "test": "b.parquet"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let base = "/api/v1/org/default/datasets/racy/1.0.0";
        let link: Value = app.post_json(&format!("{base}/download"), &key, &json!({})).await.json();
        let link = link["url"].as_str().unwrap().to_string();
        let mut tasks = Vec::new();
        for i in 0..48 {
            let (h, k, link) = (app.clone_handle(), key.clone(), link.clone());
            tasks.push(tokio::spawn(async move {
                let (app, key) = (h, k);
                let r = match i % 6 {
                    0 => app.post_json(&format!("{base}/download"), &key, &json!({})).await,
                    1 => app.fetch_link(&link, None).await,
                    2 => app.get(&format!("{base}/preview?split=test"), &key).await,
                    3 => app.get(base, &key).await,
                    4 => app.get("/api/v1/default/racy/manifests/1.0.0", &key).await,
                    _ => app.post_json(&format!("{base}/download"), &key, &json!({"split": "test"})).await,
                };
                (r.status, r.body)
            }));
            if i == 24 {
                let (app, key, gc) = (app.clone_handle(), key.clone(), gc.clone());
                tasks.push(tokio::spawn(async move {
                    let r = app.call(Method::DELETE, base, Some(&key), Body::empty()).await;
                    collect(app.state.db.as_ref(), &app.state.blobs, &gc).await.unwrap();
                    (r.status, r.body)
                }));
            }
        }
        for t in tasks {
            let (status, body) = t.await.unwrap();
            assert!(status.as_u16() < 500, "{status}: {}", String::from_utf8_lossy(&body));
            *seen.entry(status.as_u16()).or_default() += 1;
        }
    }
    // The race was real: some requests saw the version, some did not.
    assert!(seen.get(&404).copied().unwrap_or(0) > 0, "{seen:?}");
    assert!(seen.get(&200).copied().unwrap_or(0) > 0, "{seen:?}");
    }
}

backend_test! {
    async fn activity_order_agrees_with_its_timestamps_under_concurrency(app) {
    let r = app
        .publish(&app.admin, "default", "busy", "1.0.0", &[("t.parquet", parquet(3))], json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let twin = app.twin();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let h = if i % 2 == 0 { app.clone_handle() } else { twin.clone_handle() };
        tasks.push(tokio::spawn(async move {
            let key = h.admin.clone();
            h.post_json("/api/v1/org/default/datasets/busy/1.0.0/download", &key, &json!({}))
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let feed = app.get("/api/v1/org/default/datasets/activity?limit=100", &app.admin).await;
    assert_eq!(feed.status, StatusCode::OK, "{:?}", feed.body);
    let feed = feed.json();
    let times: Vec<String> = feed["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["created_at"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(times.len(), 40);
    let parsed: Vec<chrono::DateTime<chrono::Utc>> = times.iter().map(|t| t.parse().unwrap()).collect();
    for w in parsed.windows(2) {
        assert!(w[0] >= w[1], "newest first, but {} comes before {}", w[0], w[1]);
    }
    }
}

backend_test! {
    async fn small_faults_answer_what_they_are(app) {
    let key = &app.admin;
    // A config blob past the 4 MiB manifest limit is 413, not a broken body.
    let mut config = br#"{"artifacts": {}, "format": "csv", "summary": ""#.to_vec();
    config.resize(config.len() + (5 << 20), b'x');
    config.extend_from_slice(b"\"}");
    let d = app.push_blob(key, "default", "big", &config).await;
    let manifest = crate::helpers::manifest_json(&d, config.len(), "default", "big", "1.0.0");
    let r = app.put_manifest(key, "default", "big", "1.0.0", manifest).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json(),
        crate::helpers::envelope(
            413,
            "payload_too_large",
            &format!("the config blob {d} is {} bytes; a dataset manifest may be at most 4194304 bytes", config.len())
        )
    );
    // Empty query values are ignored, as the docs say, on every route that reads a query.
    for uri in [
        "/api/v1/org/default/datasets?sort_by=&sort_dir=&page=&limit=&search=&tags=",
        "/api/v1/org/default/datasets/facets?search=&license=",
        "/api/v1/org/default/datasets/activity?limit=&offset=&user_id=&dataset_name=",
    ] {
        let r = app.get(uri, key).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {:?}", r.body);
    }
    let with = app.get("/api/v1/org/default/datasets?sort_by=&sort_dir=&limit=", key).await.json();
    let without = app.get("/api/v1/org/default/datasets", key).await.json();
    assert_eq!(with, without);
    // ... while a value that is there and wrong is still named.
    let r = app.get("/api/v1/org/default/datasets?sort_by=size", key).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["loc"], json!(["query", "sort_by"]));
    }
}
