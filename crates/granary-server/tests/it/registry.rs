//! `/v2/` as a general OCI registry (distribution-spec 1.1): generic manifests, indexes and
//! artifacts, tags and paging, deletes with roles, referrers, mounts, sha512, and how OCI
//! content and dataset versions meet (ORAS-style pushes, layered views, deletes, gc).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use granary_core::{Algorithm, Digest, Role};
use granary_server::gc::{collect, GcOptions};
use serde_json::{json, Value};

use crate::helpers::{backend_test, parquet, Resp, TestApp};

const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const EMPTY: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

async fn put(app: &TestApp, key: &str, path: &str, media_type: &str, body: &[u8]) -> Resp {
    let req = Request::put(path)
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", media_type)
        .body(Body::from(body.to_vec()))
        .unwrap();
    app.send(req).await
}

fn desc(media_type: &str, d: &Digest, size: usize) -> Value {
    json!({"mediaType": media_type, "digest": d.to_string(), "size": size})
}

/// An image manifest with a config of its own type and one layer, both pushed.
async fn image(app: &TestApp, repo: &str, layer: &[u8]) -> (Vec<u8>, Digest, Digest) {
    let cfg = br#"{"acme":1}"#;
    let c = app.push_blob(&app.admin, "default", repo, cfg).await;
    let l = app.push_blob(&app.admin, "default", repo, layer).await;
    let m = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": IMAGE,
        "config": desc("application/vnd.acme.config.v1+json", &c, cfg.len()),
        "layers": [desc("application/octet-stream", &l, layer.len())]}))
    .unwrap();
    (m, c, l)
}

backend_test! {
    async fn generic_content_round_trips_by_tag_and_digest(app) {
    let key = app.admin.clone();
    let (m, _, layer) = image(&app, "tools", b"layer bytes").await;
    let d = Digest::of(&m);
    let r = put(&app, &key, "/v2/default/tools/manifests/v1", IMAGE, &m).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.header("location"), format!("/v2/default/tools/manifests/{d}"));
    assert_eq!(r.header("docker-content-digest"), d.to_string());
    for path in ["/v2/default/tools/manifests/v1".to_string(), format!("/v2/default/tools/manifests/{d}")] {
        let g = app.get(&path, &key).await;
        assert_eq!(g.status, StatusCode::OK);
        assert_eq!(g.body.as_ref(), m.as_slice());
        assert_eq!(g.header("content-type"), IMAGE);
        assert_eq!(g.header("content-length"), m.len().to_string());
        assert_eq!(g.header("docker-content-digest"), d.to_string());
        let h = app.call(Method::HEAD, &path, Some(&key), Body::empty()).await;
        assert_eq!((h.status, h.body.len()), (StatusCode::OK, 0));
        assert_eq!(h.header("content-length"), m.len().to_string());
    }
    // An index over it, pushed by digest.
    let ix = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": INDEX,
        "manifests": [desc(IMAGE, &d, m.len())]})).unwrap();
    let ixd = Digest::of(&ix);
    let r = put(&app, &key, &format!("/v2/default/tools/manifests/{ixd}"), INDEX, &ix).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.get(&format!("/v2/default/tools/manifests/{ixd}"), &key).await.header("content-type"), INDEX);
    // A push by a digest that is not the body's.
    let r = put(&app, &key, &format!("/v2/default/tools/manifests/{d}"), INDEX, &ix).await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("DIGEST_INVALID")));
    // A layer that is not in the org.
    let missing = Digest::of(b"never pushed");
    let bad = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": IMAGE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY, "size": 2},
        "layers": [desc("application/octet-stream", &missing, 12)]})).unwrap();
    let r = put(&app, &key, "/v2/default/tools/manifests/v2", IMAGE, &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["errors"][0]["code"], "MANIFEST_BLOB_UNKNOWN");
    assert!(r.json()["errors"][0]["message"].as_str().unwrap().contains(&missing.to_string()));
    // Unknown tag and digest.
    let r = app.get("/v2/default/tools/manifests/nope", &key).await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::NOT_FOUND, Some("MANIFEST_UNKNOWN")));
    let r = app.get(&format!("/v2/default/tools/manifests/{}", Digest::of(b"x")), &key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // An invalid tag.
    let r = put(&app, &key, "/v2/default/tools/manifests/-bad", IMAGE, &m).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Generic content is in no dataset listing, and no dataset route breaks on it.
    let list = app.get("/api/v1/org/default/datasets", &key).await.json();
    assert_eq!(list["total"], 0, "{list}");
    assert_eq!(app.get("/api/v1/org/default/datasets/tools", &key).await.status, StatusCode::NOT_FOUND);
    // Non-members see none of it.
    let outsider = app.member("elsewhere", "outsider", Role::Owner).await;
    let r = app.get("/v2/default/tools/manifests/v1", &outsider).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let _ = layer;
}
}

backend_test! {
    async fn tags_are_listed_in_lexical_order_and_paged(app) {
    let key = app.admin.clone();
    let (m, _, _) = image(&app, "paged", b"l").await;
    for t in ["b", "a", "C", "1.0.0-rc", "a.b"] {
        assert_eq!(put(&app, &key, &format!("/v2/default/paged/manifests/{t}"), IMAGE, &m).await.status, StatusCode::CREATED);
    }
    let all = app.get("/v2/default/paged/tags/list", &key).await;
    assert_eq!(all.json(), json!({"name": "default/paged", "tags": ["1.0.0-rc", "C", "a", "a.b", "b"]}));
    let p1 = app.get("/v2/default/paged/tags/list?n=2", &key).await;
    assert_eq!(p1.json()["tags"], json!(["1.0.0-rc", "C"]));
    assert_eq!(p1.header("link"), "</v2/default/paged/tags/list?n=2&last=C>; rel=\"next\"");
    let p2 = app.get("/v2/default/paged/tags/list?n=2&last=C", &key).await;
    assert_eq!(p2.json()["tags"], json!(["a", "a.b"]));
    let p3 = app.get("/v2/default/paged/tags/list?n=2&last=a.b", &key).await;
    assert_eq!(p3.json()["tags"], json!(["b"]));
    assert!(p3.headers.get("link").is_none());
    // A repository with nothing in it lists no tags.
    assert_eq!(app.get("/v2/default/empty/tags/list", &key).await.json()["tags"], json!([]));
}
}

backend_test! {
    async fn deletes_follow_roles_and_gc_agrees(app) {
    let key = app.admin.clone();
    let contributor = app.member("default", "contrib", Role::Contributor).await;
    let (m, cfg, layer) = image(&app, "gone", b"generic layer").await;
    let d = Digest::of(&m);
    put(&app, &key, "/v2/default/gone/manifests/v1", IMAGE, &m).await;
    put(&app, &key, "/v2/default/gone/manifests/v2", IMAGE, &m).await;
    // A dataset version too, whose files must survive everything below.
    let data = parquet(10);
    app.publish(&key, "default", "kept", "1.0.0", &[("t.parquet", data.clone())], json!({})).await;
    let data_digest = Digest::of(&data);

    let r = app.call(Method::DELETE, "/v2/default/gone/manifests/v1", Some(&contributor), Body::empty()).await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::FORBIDDEN, Some("DENIED")));
    // Deleting a tag leaves the manifest reachable by digest and by its other tag.
    let r = app.call(Method::DELETE, "/v2/default/gone/manifests/v1", Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(app.get("/v2/default/gone/manifests/v1", &key).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/v2/default/gone/manifests/v2", &key).await.status, StatusCode::OK);
    assert_eq!(app.get("/v2/default/gone/tags/list", &key).await.json()["tags"], json!(["v2"]));

    // While a manifest names them, gc keeps the generic blobs.
    let opts = GcOptions { min_blob_age: chrono::Duration::zero(), upload_age: chrono::Duration::days(1), dry_run: false };
    let report = collect(app.state.db.as_ref(), &app.state.blobs, &opts).await.unwrap();
    assert_eq!(report.blobs_removed, 0, "{report:?}");
    // Deleting by digest removes the manifest and its remaining tags; gc then removes the
    // blobs only it used, and never the dataset version's.
    let r = app.call(Method::DELETE, &format!("/v2/default/gone/manifests/{d}"), Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(app.get("/v2/default/gone/manifests/v2", &key).await.status, StatusCode::NOT_FOUND);
    let again = app.call(Method::DELETE, &format!("/v2/default/gone/manifests/{d}"), Some(&key), Body::empty()).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let report = collect(app.state.db.as_ref(), &app.state.blobs, &opts).await.unwrap();
    assert_eq!(report.blobs_removed, 2, "config and layer: {report:?}");
    for gone in [&cfg, &layer] {
        assert_eq!(app.state.blobs.stat("default", gone).await.unwrap(), None);
    }
    assert!(app.state.blobs.stat("default", &data_digest).await.unwrap().is_some());

    // A blob a version uses cannot be deleted; another can, by owners.
    let r = app.call(Method::DELETE, &format!("/v2/default/kept/blobs/{data_digest}"), Some(&key), Body::empty()).await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::CONFLICT, Some("DENIED")));
    let loose = app.push_blob(&key, "default", "gone", b"loose").await;
    let r = app.call(Method::DELETE, &format!("/v2/default/gone/blobs/{loose}"), Some(&contributor), Body::empty()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.call(Method::DELETE, &format!("/v2/default/gone/blobs/{loose}"), Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(app.get(&format!("/v2/default/gone/blobs/{loose}"), &key).await.status, StatusCode::NOT_FOUND);
}
}

backend_test! {
    async fn referrers_list_what_points_at_a_subject(app) {
    let key = app.admin.clone();
    let (m, _, _) = image(&app, "signed", b"payload").await;
    let subject = Digest::of(&m);
    put(&app, &key, "/v2/default/signed/manifests/v1", IMAGE, &m).await;
    let sig = app.push_blob(&key, "default", "signed", b"signature").await;
    let artifact = |t: &str| serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": IMAGE, "artifactType": t,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY, "size": 2},
        "layers": [desc("application/octet-stream", &sig, 9)],
        "subject": desc(IMAGE, &subject, m.len()),
        "annotations": {"org.example": "yes"}})).unwrap();
    let (a, b) = (artifact("application/vnd.example.sig"), artifact("application/vnd.example.sbom"));
    for body in [&a, &b] {
        let r = put(&app, &key, &format!("/v2/default/signed/manifests/{}", Digest::of(body)), IMAGE, body).await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.header("oci-subject"), subject.to_string());
    }
    let r = app.get(&format!("/v2/default/signed/referrers/{subject}"), &key).await;
    assert_eq!(r.header("content-type"), INDEX);
    let list = r.json();
    assert_eq!(list["manifests"].as_array().unwrap().len(), 2, "{list}");
    let r = app.get(&format!("/v2/default/signed/referrers/{subject}?artifactType=application/vnd.example.sbom"), &key).await;
    assert_eq!(r.header("oci-filters-applied"), "artifactType");
    assert_eq!(r.json()["manifests"], json!([{"mediaType": IMAGE, "digest": Digest::of(&b).to_string(), "size": b.len(),
        "artifactType": "application/vnd.example.sbom", "annotations": {"org.example": "yes"}}]));
    // Nothing refers to the layer: an empty index.
    assert_eq!(app.get(&format!("/v2/default/signed/referrers/{sig}"), &key).await.json()["manifests"], json!([]));
    let r = app.get("/v2/default/signed/referrers/sha256:nope", &key).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
}

backend_test! {
    async fn sha512_mounts_and_inverted_ranges(app) {
    let key = app.admin.clone();
    let bytes = b"sha512 content".to_vec();
    let d = Digest::of_with(Algorithm::Sha512, &bytes);
    let r = app.call(Method::POST, &format!("/v2/default/algo/blobs/uploads/?digest={d}"), Some(&key), bytes.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.header("docker-content-digest"), d.to_string());
    assert_eq!(app.get(&format!("/v2/default/algo/blobs/{d}"), &key).await.body.as_ref(), bytes.as_slice());
    // The wrong sha512 is refused and nothing is stored.
    let wrong = Digest::of_with(Algorithm::Sha512, b"other");
    let r = app.call(Method::POST, &format!("/v2/default/algo/blobs/uploads/?digest={wrong}"), Some(&key), bytes.clone()).await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("DIGEST_INVALID")));
    assert_eq!(app.get(&format!("/v2/default/algo/blobs/{wrong}"), &key).await.status, StatusCode::NOT_FOUND);
    // A manifest pushed by its sha512 digest.
    let m = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": IMAGE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY, "size": 2},
        "layers": [desc("application/octet-stream", &d, bytes.len())]})).unwrap();
    let md = Digest::of_with(Algorithm::Sha512, &m);
    let r = put(&app, &key, &format!("/v2/default/algo/manifests/{md}"), IMAGE, &m).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(app.get(&format!("/v2/default/algo/manifests/{md}"), &key).await.body.as_ref(), m.as_slice());

    // Mount: a blob the org holds is mounted at once; one it does not opens a session.
    let r = app.call(Method::POST, &format!("/v2/default/other/blobs/uploads/?mount={d}&from=default/algo"), Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("location"), format!("/v2/default/other/blobs/{d}"));
    let r = app.call(Method::POST, &format!("/v2/default/other/blobs/uploads/?mount={}", Digest::of(b"absent")), Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);

    // bytes=500-0 asks for nothing that exists: 416 with the size.
    let big = app.push_blob(&key, "default", "algo", &[7u8; 1000]).await;
    let req = Request::get(format!("/v2/default/algo/blobs/{big}"))
        .header("Authorization", format!("Bearer {key}"))
        .header("Range", "bytes=500-0")
        .body(Body::empty())
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), "bytes */1000");
    assert_eq!(r.json()["errors"][0]["code"], "BLOB_UPLOAD_INVALID");
}
}

backend_test! {
    async fn oras_style_pushes_become_dataset_versions(app) {
    let key = app.admin.clone();
    let (train, test) = (parquet(30), parquet(12));
    let t = app.push_blob(&key, "default", "weather", &train).await;
    let s = app.push_blob(&key, "default", "weather", &test).await;
    app.push_blob(&key, "default", "weather", b"{}").await;
    let layer = |d: &Digest, n: usize, title: &str| json!({"mediaType": "application/vnd.apache.parquet",
        "digest": d.to_string(), "size": n, "annotations": {"org.opencontainers.image.title": title}});
    let m = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": IMAGE,
        "config": {"mediaType": "application/vnd.unknown.config.v1+json", "digest": EMPTY, "size": 2},
        "layers": [layer(&t, train.len(), "train.parquet"), layer(&s, test.len(), "test.parquet")],
        "annotations": {"org.opencontainers.image.description": "Rain", "org.opencontainers.image.licenses": "mit"}})).unwrap();
    let r = put(&app, &key, "/v2/default/weather/manifests/1.0.0", IMAGE, &m).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.header("docker-content-digest"), Digest::of(&m).to_string());
    // The same push again is accepted and changes nothing.
    assert_eq!(put(&app, &key, "/v2/default/weather/manifests/1.0.0", IMAGE, &m).await.status, StatusCode::CREATED);

    let detail = app.get("/api/v1/org/default/datasets/weather", &key).await.json();
    assert_eq!(detail["row_count"], 42, "{detail}");
    assert_eq!(detail["summary"], "Rain");
    assert_eq!(detail["license"], "mit");
    assert_eq!(detail["data_schema"], json!({"id": "int64", "text": "string"}));
    assert_eq!(detail["artifacts"], json!({"test.parquet": s.to_string(), "train.parquet": t.to_string()}));
    // /v2 serves what was pushed; /api/v1 the dataset manifest the dataset clients read.
    assert_eq!(app.get("/v2/default/weather/manifests/1.0.0", &key).await.body.as_ref(), m.as_slice());
    let dm = app.get("/api/v1/default/weather/manifests/1.0.0", &key).await.json();
    assert_eq!(dm["config"]["mediaType"], "application/vnd.dreadnode.config.v1+json");
    let config = app.get(&format!("/api/v1/default/blobs/{}", dm["config"]["digest"].as_str().unwrap()), &key).await.json();
    assert_eq!(config["artifacts"], detail["artifacts"]);
    assert_eq!(config["row_count"], 42);

    // Versions are immutable: other content under the same tag is refused.
    let (other, _, _) = image(&app, "weather", b"x").await;
    let r = put(&app, &key, "/v2/default/weather/manifests/1.0.0", IMAGE, &other).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    // A non-semver tag is generic content, and not a version.
    assert_eq!(put(&app, &key, "/v2/default/weather/manifests/latest", IMAGE, &m).await.status, StatusCode::CREATED);
    assert_eq!(app.get("/api/v1/default/weather/tags/list", &key).await.json()["tags"], json!(["1.0.0"]));

    // A file that is not data makes it a generic artifact; a bad title is refused.
    let bad = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": IMAGE,
        "config": {"mediaType": "application/vnd.unknown.config.v1+json", "digest": EMPTY, "size": 2},
        "layers": [layer(&t, train.len(), "../escape.parquet")]})).unwrap();
    let r = put(&app, &key, "/v2/default/weather/manifests/2.0.0", IMAGE, &bad).await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("MANIFEST_INVALID")));

    // Deleting the version (API) removes its /v2/ tag; its view stays while the generic
    // `latest` names the same bytes, and goes with the last tag.
    let r = app.call(Method::DELETE, "/api/v1/org/default/datasets/weather/1.0.0", Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v2/default/weather/manifests/1.0.0", &key).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/v2/default/weather/tags/list", &key).await.json()["tags"], json!(["latest"]));
    assert_eq!(app.get("/v2/default/weather/manifests/latest", &key).await.body.as_ref(), m.as_slice());
    let again = put(&app, &key, "/v2/default/weather/manifests/1.0.0", IMAGE, &m).await;
    assert_eq!(again.status, StatusCode::CREATED);
    let r = app.call(Method::DELETE, "/v2/default/weather/manifests/latest", Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = app.call(Method::DELETE, "/api/v1/org/default/datasets/weather/1.0.0", Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/v2/default/weather/manifests/{}", Digest::of(&m)), &key).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/v2/default/weather/tags/list", &key).await.json()["tags"], json!([]));
}
}

backend_test! {
    async fn dataset_versions_have_a_layered_view(app) {
    let key = app.admin.clone();
    let (train, test) = (parquet(20), parquet(5));
    app.publish_qa(&train, &test, json!({})).await;
    let v = app.get("/v2/default/qa/manifests/1.0.0", &key).await;
    assert_eq!(v.header("content-type"), IMAGE);
    let view = v.json();
    assert_eq!(view["artifactType"], "application/vnd.granary.dataset.v1");
    assert_eq!(view["config"]["mediaType"], "application/vnd.dreadnode.config.v1+json");
    assert_eq!(view["layers"], json!([
        {"mediaType": "application/vnd.apache.parquet", "digest": Digest::of(&test).to_string(), "size": test.len(),
         "annotations": {"org.opencontainers.image.title": "data/test.parquet"}},
        {"mediaType": "application/vnd.apache.parquet", "digest": Digest::of(&train).to_string(), "size": train.len(),
         "annotations": {"org.opencontainers.image.title": "data/train.parquet"}},
    ]));
    assert_eq!(v.header("docker-content-digest"), Digest::of(&v.body).to_string());
    // `latest` without such a tag is the highest version.
    assert_eq!(app.get("/v2/default/qa/manifests/latest", &key).await.body, v.body);
    // The pushed manifest stays addressable by its own digest.
    let pushed = app.get("/api/v1/default/qa/manifests/1.0.0", &key).await;
    let r = app.get(&format!("/v2/default/qa/manifests/{}", Digest::of(&pushed.body)), &key).await;
    assert_eq!(r.body, pushed.body);
    // A public dataset's view is readable by anyone; a private one's by members only.
    let outsider = app.member("elsewhere", "outsider", Role::Owner).await;
    assert_eq!(app.get("/v2/default/qa/manifests/1.0.0", &outsider).await.status, StatusCode::NOT_FOUND);
    let r = app.json_call(Method::PATCH, "/api/v1/org/default/datasets/qa/visibility", &key, &json!({"is_public": true})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.get("/v2/default/qa/manifests/1.0.0", &outsider).await.body, v.body);
    assert_eq!(app.get("/v2/default/qa/tags/list", &outsider).await.json()["tags"], json!(["1.0.0"]));
    // Deleting through /v2/ deletes the version (owners).
    let r = app.call(Method::DELETE, "/v2/default/qa/manifests/1.0.0", Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(app.get("/api/v1/org/default/datasets/qa", &key).await.status, StatusCode::NOT_FOUND);
}
}

backend_test! {
    async fn versions_published_before_views_get_one_at_start(app) {
    let key = app.admin.clone();
    app.publish_qa(&parquet(3), &parquet(2), json!({})).await;
    // As a database migrated from before views were stored: the version has none.
    let view = app.get("/v2/default/qa/manifests/1.0.0", &key).await;
    let d = Digest::of(&view.body);
    app.state.db.oci_delete_manifest(app.state.db.org_by_key("default").await.unwrap().unwrap().id, "qa", &d).await.unwrap();
    assert_eq!(app.get("/v2/default/qa/manifests/1.0.0", &key).await.status, StatusCode::NOT_FOUND);
    assert_eq!(granary_server::backfill_views(&app.state).await.unwrap(), 1);
    assert_eq!(app.get("/v2/default/qa/manifests/1.0.0", &key).await.body, view.body);
    assert_eq!(granary_server::backfill_views(&app.state).await.unwrap(), 0);
}
}

/// An ORAS-style manifest of one titled parquet file (pushed), with `annotations`.
async fn oras_manifest(app: &TestApp, repo: &str, rows: i64, annotations: Value) -> Vec<u8> {
    let data = parquet(rows);
    let d = app.push_blob(&app.admin, "default", repo, &data).await;
    app.push_blob(&app.admin, "default", repo, b"{}").await;
    serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": IMAGE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY, "size": 2},
        "layers": [{"mediaType": "application/vnd.apache.parquet", "digest": d.to_string(), "size": data.len(),
                    "annotations": {"org.opencontainers.image.title": "t.parquet"}}],
        "annotations": annotations}))
    .unwrap()
}

backend_test! {
    async fn versions_sharing_a_view_keep_their_own_fate(app) {
    let key = app.admin.clone();
    let m = oras_manifest(&app, "twin", 4, json!({})).await;
    let d = Digest::of(&m);
    for v in ["1.0.0", "1.0.1"] {
        assert_eq!(put(&app, &key, &format!("/v2/default/twin/manifests/{v}"), IMAGE, &m).await.status, StatusCode::CREATED);
    }
    // A generic tag on the same bytes.
    assert_eq!(put(&app, &key, "/v2/default/twin/manifests/mine", IMAGE, &m).await.status, StatusCode::CREATED);
    // Deleting the generic tag leaves both versions.
    let r = app.call(Method::DELETE, "/v2/default/twin/manifests/mine", Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(app.get("/api/v1/default/twin/tags/list", &key).await.json()["tags"], json!(["1.0.1", "1.0.0"]));
    // Deleting 1.0.1 by its tag deletes 1.0.1 only; 1.0.0 keeps its view and tag.
    let r = app.call(Method::DELETE, "/v2/default/twin/manifests/1.0.1", Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(app.get("/api/v1/default/twin/tags/list", &key).await.json()["tags"], json!(["1.0.0"]));
    assert_eq!(app.get("/v2/default/twin/tags/list", &key).await.json()["tags"], json!(["1.0.0"]));
    assert_eq!(app.get("/v2/default/twin/manifests/1.0.0", &key).await.body.as_ref(), m.as_slice());
    assert_eq!(app.get("/v2/default/twin/manifests/latest", &key).await.body.as_ref(), m.as_slice());
    // The API delete of a version leaves a generic tag on the same bytes.
    assert_eq!(put(&app, &key, "/v2/default/twin/manifests/keep", IMAGE, &m).await.status, StatusCode::CREATED);
    let r = app.call(Method::DELETE, "/api/v1/org/default/datasets/twin/1.0.0", Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v2/default/twin/manifests/keep", &key).await.body.as_ref(), m.as_slice());
    assert_eq!(app.get("/v2/default/twin/tags/list", &key).await.json()["tags"], json!(["keep"]));
    // Deleting by digest takes the manifest and every tag; with versions on it, them too.
    for v in ["2.0.0", "2.0.1"] {
        assert_eq!(put(&app, &key, &format!("/v2/default/twin/manifests/{v}"), IMAGE, &m).await.status, StatusCode::CREATED);
    }
    let r = app.call(Method::DELETE, &format!("/v2/default/twin/manifests/{d}"), Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(app.get("/v2/default/twin/tags/list", &key).await.json()["tags"], json!([]));
    assert_eq!(app.get("/api/v1/org/default/datasets/twin", &key).await.status, StatusCode::NOT_FOUND);
}
}

backend_test! {
    async fn hostile_pushes_are_refused_whole(app) {
    let key = app.admin.clone();
    let m = oras_manifest(&app, "hostile", 3, json!({})).await;
    // A dataset is pushed under one tag.
    let d = Digest::of(&m);
    let r = put(&app, &key, &format!("/v2/default/hostile/manifests/{d}?tag=1.0.0&tag=extra"), IMAGE, &m).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A version-shaped tag past 2^63 - 1 is refused, not stored as a generic tag.
    let r = put(&app, &key, "/v2/default/hostile/manifests/9223372036854775808.0.0", IMAGE, &m).await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("TAG_INVALID")));
    assert_eq!(app.get("/v2/default/hostile/tags/list", &key).await.json()["tags"], json!([]));
    // The path's tag counts: a dataset pushed by tag with a ?tag= is two tags.
    let r = put(&app, &key, "/v2/default/hostile/manifests/1.0.0?tag=1.0.1", IMAGE, &m).await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("TAG_INVALID")));
    // Tags named with ?tag= are set all or none.
    assert_eq!(put(&app, &key, "/v2/default/hostile/manifests/1.0.0", IMAGE, &m).await.status, StatusCode::CREATED);
    let (generic, _, _) = image(&app, "hostile", b"g").await;
    let gd = Digest::of(&generic);
    let r = put(&app, &key, &format!("/v2/default/hostile/manifests/{gd}?tag=pa&tag=1.0.0&tag=pb"), IMAGE, &generic).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(app.get("/v2/default/hostile/tags/list", &key).await.json()["tags"], json!(["1.0.0"]));
    // A push by tag sets its path tag and every ?tag=.
    let r = put(&app, &key, "/v2/default/hostile/manifests/p?tag=qa&tag=qb", IMAGE, &generic).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.get("/v2/default/hostile/tags/list", &key).await.json()["tags"], json!(["1.0.0", "p", "qa", "qb"]));
    for t in ["p", "qa", "qb"] {
        let r = app.call(Method::DELETE, &format!("/v2/default/hostile/manifests/{t}"), Some(&key), Body::empty()).await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    // The same files under the same version with another config is other content.
    let cfg = app.push_blob(&key, "default", "hostile", br#"{"k":2}"#).await;
    let mut v: Value = serde_json::from_slice(&m).unwrap();
    v["config"] = desc("application/vnd.oras.config.v1+json", &cfg, 7);
    let r = put(&app, &key, "/v2/default/hostile/manifests/1.0.0", IMAGE, &serde_json::to_vec(&v).unwrap()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    // A layer served from elsewhere is no dataset file: generic content, not a version.
    let mut v: Value = serde_json::from_slice(&m).unwrap();
    v["layers"][0]["urls"] = json!(["http://example.org/t.parquet"]);
    let r = put(&app, &key, "/v2/default/hostile/manifests/4.0.0", IMAGE, &serde_json::to_vec(&v).unwrap()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.get("/api/v1/default/hostile/tags/list", &key).await.json()["tags"], json!(["1.0.0"]));
    // The empty descriptor is two bytes.
    let mut v: Value = serde_json::from_slice(&m).unwrap();
    v["config"]["size"] = json!(3);
    let r = put(&app, &key, "/v2/default/hostile/manifests/odd", IMAGE, &serde_json::to_vec(&v).unwrap()).await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("MANIFEST_INVALID")));
    // A config the org does not have, or a layer of another size, is refused for datasets
    // and generic content alike.
    let mut v: Value = serde_json::from_slice(&m).unwrap();
    v["config"] = desc("application/vnd.custom.config", &Digest::of(b"absent"), 6);
    let r = put(&app, &key, "/v2/default/hostile/manifests/1.1.0", IMAGE, &serde_json::to_vec(&v).unwrap()).await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("MANIFEST_BLOB_UNKNOWN")));
    let mut v: Value = serde_json::from_slice(&m).unwrap();
    v["layers"][0]["size"] = json!(5);
    for tag in ["1.2.0", "generic-size"] {
        let r = put(&app, &key, &format!("/v2/default/hostile/manifests/{tag}"), IMAGE, &serde_json::to_vec(&v).unwrap()).await;
        assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("MANIFEST_INVALID")), "{tag}");
    }
    // Dataset files are sha256 (what dataset clients verify).
    let data = b"id\n1\n".to_vec();
    let d512 = Digest::of_with(Algorithm::Sha512, &data);
    let r = app.call(Method::POST, &format!("/v2/default/hostile/blobs/uploads/?digest={d512}"), Some(&key), data.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let m512 = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": IMAGE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY, "size": 2},
        "layers": [{"mediaType": "text/csv", "digest": d512.to_string(), "size": data.len(),
                    "annotations": {"org.opencontainers.image.title": "c.csv"}}]})).unwrap();
    let r = put(&app, &key, "/v2/default/hostile/manifests/3.0.0", IMAGE, &m512).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert!(r.json()["errors"][0]["message"].as_str().unwrap().contains("sha256"));
    // Page sizes and mount digests are checked.
    for n in ["-1", "%2B5", "1.5", "abc"] {
        let r = app.get(&format!("/v2/default/hostile/tags/list?n={n}"), &key).await;
        assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("PAGINATION_NUMBER_INVALID")), "{n}");
    }
    let r = app.get("/v2/default/hostile/tags/list?n=18446744073709551616", &key).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.call(Method::POST, "/v2/default/hostile/blobs/uploads/?mount=sha256:zz", Some(&key), Body::empty()).await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("DIGEST_INVALID")));
    // A version's view config is the version's: kept, and readable where the version is.
    let r = app.call(Method::DELETE, &format!("/v2/default/hostile/blobs/{EMPTY}"), Some(&key), Body::empty()).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app.json_call(Method::PATCH, "/api/v1/org/default/datasets/hostile/visibility", &key, &json!({"is_public": true})).await;
    assert_eq!(r.status, StatusCode::OK);
    let outsider = app.member("elsewhere", "outsider", Role::Owner).await;
    assert_eq!(app.get(&format!("/v2/default/hostile/blobs/{EMPTY}"), &outsider).await.body.as_ref(), b"{}");
    // A generic `latest` the outsider may not read does not hide the public versions.
    assert_eq!(put(&app, &key, "/v2/default/hostile/manifests/latest", IMAGE, &generic).await.status, StatusCode::CREATED);
    assert_eq!(app.get("/v2/default/hostile/manifests/latest", &outsider).await.body.as_ref(), m.as_slice());
    assert_eq!(app.get("/v2/default/hostile/manifests/latest", &key).await.body.as_ref(), generic.as_slice());
}
}
