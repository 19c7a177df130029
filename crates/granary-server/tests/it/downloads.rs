//! Counted downloads, signed links, the activity feed, and delete.

use axum::http::{Method, StatusCode};
use granary_core::{Digest, Role};
use serde_json::json;

use crate::helpers::backend_test;
use crate::helpers::{envelope, parquet, TestApp};

async fn published(app: &TestApp) -> (Vec<u8>, Vec<u8>) {
    let (train, test) = (parquet(300), parquet(20));
    app.publish_qa(&train, &test, json!({})).await;
    (train, test)
}

const DOWNLOAD: &str = "/api/v1/org/default/datasets/qa/1.0.0/download";
const DENIED: &str = "this download link is invalid or has expired; request a new one";

backend_test! {
    async fn links_are_signed_expiring_and_serve_the_bytes(app) {
    let (train, test) = published(&app).await;
    let r = app.post_json(DOWNLOAD, &app.admin, &json!({"format": "raw"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "ready");
    let expires = chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().unwrap()).unwrap();
    let ttl = expires.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((3590..=3600).contains(&ttl), "{ttl}");
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[1]["path"], "data/train.parquet");
    assert_eq!(files[1]["split"], "train");
    assert_eq!(files[1]["size"], train.len());
    assert_eq!(files[1]["digest"], Digest::of(&train).to_string());
    assert_eq!(v["url"], files[1]["url"], "without a split, the train split");

    // no credential needed
    let url = v["url"].as_str().unwrap();
    let got = app.fetch_link(url, None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body.as_ref(), train.as_slice());
    assert_eq!(got.header("content-length"), train.len().to_string());
    assert_eq!(got.header("etag"), format!("\"{}\"", Digest::of(&train)));
    assert_eq!(
        got.header("content-disposition"),
        "attachment; filename=\"train.parquet\"; filename*=UTF-8''train.parquet"
    );
    let part = app.fetch_link(url, Some("bytes=4-9")).await;
    assert_eq!(
        (part.status, part.body.as_ref()),
        (StatusCode::PARTIAL_CONTENT, &train[4..10])
    );
    assert_eq!(
        app.fetch_link(url, Some(&format!("bytes={}-", train.len())))
            .await
            .status,
        StatusCode::RANGE_NOT_SATISFIABLE
    );
    let other = app.fetch_link(files[0]["url"].as_str().unwrap(), None).await;
    assert_eq!(other.body.as_ref(), test.as_slice());

    // tampering in any part is 403
    let sig_at = url.find("sig=").unwrap() + 4;
    let mut flipped = url.to_string();
    let c = if &url[sig_at..sig_at + 1] == "A" { "B" } else { "A" };
    flipped.replace_range(sig_at..sig_at + 1, c);
    let exp: i64 = url
        .split("expires=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let test_digest = Digest::of(&test).to_string();
    for bad in [
        flipped,
        url.replace(&format!("expires={exp}"), &format!("expires={}", exp + 3600)),
        url.replace(&format!("expires={exp}"), "expires=soon"),
        url.replace(&Digest::of(&train).to_string(), &test_digest),
        url.replace("train.parquet", "test.parquet"),
        url.split("&sig=").next().unwrap().to_string(),
        format!("{url}&expires=1"),
    ] {
        let r = app.fetch_link(&bad, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{bad}");
        assert_eq!(r.json(), envelope(403, "forbidden", DENIED));
    }
    // an expired link, correctly signed, is 403 too
    let secret = app.state.link_secret().await.unwrap().to_vec();
    let past = chrono::Utc::now().timestamp() - 1;
    let d = Digest::of(&train).to_string();
    let sig = granary_server::links::sign(&secret, "default", &d, "train.parquet", past);
    let r = app
        .fetch_link(
            &format!("http://registry.test/files/default/{d}/train.parquet?expires={past}&sig={sig}"),
            None,
        )
        .await;
    assert_eq!(r.json(), envelope(403, "forbidden", DENIED));
    // and the same link with a future expiry works
    let future = past + 600;
    let sig = granary_server::links::sign(&secret, "default", &d, "train.parquet", future);
    let r = app
        .fetch_link(
            &format!("http://registry.test/files/default/{d}/train.parquet?expires={future}&sig={sig}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}
}

backend_test! {
    async fn splits_formats_and_bodies_are_validated(app) {
    let (_, test) = published(&app).await;
    let v = app
        .post_json(DOWNLOAD, &app.admin, &json!({"format": "raw", "split": "test"}))
        .await
        .json();
    assert_eq!(
        app.fetch_link(v["url"].as_str().unwrap(), None).await.body.as_ref(),
        test.as_slice()
    );
    let r = app
        .post_json(DOWNLOAD, &app.admin, &json!({"format": "raw", "split": "valid"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json()["errors"],
        json!([{"loc": ["body", "split"], "msg": "default/qa@1.0.0 has no split \"valid\"; its splits are test, train", "type": "not_found"}])
    );
    let r = app.post_json(DOWNLOAD, &app.admin, &json!({"format": "zip"})).await;
    assert_eq!(r.json()["errors"][0]["loc"], json!(["body", "format"]));
    let r = app.post_json(DOWNLOAD, &app.admin, &json!({"split": 5})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .call(Method::POST, DOWNLOAD, Some(&app.admin), axum::body::Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .post_json("/api/v1/org/default/datasets/qa/9.9.9/download", &app.admin, &json!({}))
        .await;
    assert_eq!(
        r.json(),
        envelope(404, "not_found", "version 9.9.9 of dataset default/qa not found")
    );
    // none of the failures counted
    let d = app.get("/api/v1/org/default/datasets/qa", &app.admin).await.json();
    assert_eq!(d["download_count"], 1);
}
}

backend_test! {
    async fn concurrent_downloads_are_counted_exactly_once_each(app) {
    published(&app).await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let router = app.router.clone();
        let key = app.admin.clone();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let req = axum::http::Request::post(DOWNLOAD)
                .header("Authorization", format!("Bearer {key}"))
                .header("Content-Type", "application/json")
                .body(axum::body::Body::from(r#"{"format": "raw"}"#))
                .unwrap();
            router.oneshot(req).await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(counts(&app).await, (40, 40), "exact before folding");
    assert_eq!(app.state.db.fold_downloads().await.unwrap(), 40);
    assert_eq!(counts(&app).await, (40, 40), "exact after folding");
    assert_eq!(app.state.db.fold_downloads().await.unwrap(), 0, "nothing folds twice");
    for _ in 0..3 {
        app.post_json(DOWNLOAD, &app.admin, &json!({"format": "raw"})).await;
    }
    assert_eq!(counts(&app).await, (43, 43), "folded plus pending");
    app.state.db.fold_downloads().await.unwrap();
    assert_eq!(counts(&app).await, (43, 43));
    let list = app.get("/api/v1/org/default/datasets?name=qa", &app.admin).await.json();
    assert_eq!(list["datasets"][0]["download_count"], 43);
}
}

backend_test! {
    async fn counts_and_activity_held_by_one_server_follow_downloads_through_another(app) {
    // Each server keeps listed counts and activity pages in memory while the download mark
    // stands still; a download committed through any server must show on every server's
    // next request, and a fold (which moves counts without changing them) must change nothing.
    published(&app).await;
    let twin = app.twin();
    let listed = |server: &TestApp| {
        let server = server.clone_handle();
        async move {
            let list = server.get("/api/v1/org/default/datasets?name=qa", &server.admin).await.json();
            let feed = server.get("/api/v1/org/default/datasets/activity?limit=5", &server.admin).await.json();
            let ids: Vec<String> = feed["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string())
                .collect();
            (list["datasets"][0]["download_count"].as_u64().unwrap(), feed["total"].as_u64().unwrap(), ids)
        }
    };
    let marks = app.state.db.change_marks().await.unwrap();
    for server in [&app, &twin] {
        assert_eq!(listed(server).await, (0, 0, vec![]), "both servers have cached the empty state");
    }
    let mut ids = Vec::new();
    for (i, through) in [&twin, &app, &twin].into_iter().enumerate() {
        let r = through.post_json(DOWNLOAD, &through.admin, &json!({"format": "raw"})).await;
        assert_eq!(r.status, StatusCode::OK);
        let newest = through.get("/api/v1/org/default/datasets/activity?limit=1", &through.admin).await.json();
        ids.insert(0, newest["events"][0]["id"].as_str().unwrap().to_string());
        let n = i as u64 + 1;
        for server in [&app, &twin] {
            assert_eq!(listed(server).await, (n, n, ids.clone()), "after download {n}");
        }
    }
    assert_eq!(app.state.db.change_marks().await.unwrap().downloads, marks.downloads + 3, "one mark per download");
    assert_eq!(app.state.db.fold_downloads().await.unwrap(), 3);
    assert_eq!(app.state.db.change_marks().await.unwrap().downloads, marks.downloads + 3, "a fold moves no mark");
    for server in [&app, &twin] {
        assert_eq!(listed(server).await, (3, 3, ids.clone()), "after the fold");
    }
}
}

backend_test! {
    async fn activity_is_newest_first_filtered_bounded_and_members_only(app) {
    published(&app).await;
    let bob = app.member("default", "bob", Role::Reader).await;
    let outsider = app.member("acme", "olga", Role::Owner).await;
    for (key, split) in [
        (&app.admin, "train"),
        (&bob, "test"),
        (&app.admin, "test"),
        (&bob, "train"),
    ] {
        let r = app
            .post_json(DOWNLOAD, key, &json!({"format": "raw", "split": split}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    app.state.db.fold_downloads().await.unwrap();
    // public now, so an outsider can download too; it counts under the dataset's org
    let r = app
        .json_call(
            Method::PATCH,
            "/api/v1/org/default/datasets/qa/visibility",
            &app.admin,
            &json!({"is_public": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.post_json(DOWNLOAD, &outsider, &json!({"format": "raw"}))
            .await
            .status,
        StatusCode::OK
    );

    let all = app
        .get("/api/v1/org/default/datasets/activity", &app.admin)
        .await
        .json();
    assert_eq!(
        (all["total"].clone(), all["limit"].clone(), all["offset"].clone()),
        (json!(5), json!(50), json!(0))
    );
    let events = all["events"].as_array().unwrap();
    let who: Vec<&str> = events.iter().map(|e| e["username"].as_str().unwrap()).collect();
    assert_eq!(who, ["olga", "bob", "admin", "bob", "admin"], "newest first");
    let e = &events[0];
    let version_id = app.get("/api/v1/org/default/datasets/qa", &app.admin).await.json()["id"].clone();
    assert_eq!(e["dataset_id"], version_id);
    assert_eq!(e["dataset_name"], "default/qa");
    assert_eq!(e["version"], "1.0.0");
    assert_eq!(e["split"], json!(null), "no split was asked for");
    assert_eq!(events[1]["split"], "train");
    assert_eq!(e["user_org"], "acme");
    assert_eq!(events[1]["user_org"], "default");
    for f in ["id", "user_id", "created_at"] {
        assert!(e[f].is_string(), "{f}");
    }

    let bob_id = events[1]["user_id"].as_str().unwrap();
    let v = app
        .get(
            &format!("/api/v1/org/default/datasets/activity?user_id={bob_id}"),
            &app.admin,
        )
        .await
        .json();
    assert_eq!(v["total"], 2);
    assert!(v["events"].as_array().unwrap().iter().all(|e| e["username"] == "bob"));
    for name in ["qa", "default/qa"] {
        let v = app
            .get(
                &format!(
                    "/api/v1/org/default/datasets/activity?dataset_name={}",
                    name.replace('/', "%2F")
                ),
                &bob,
            )
            .await
            .json();
        assert_eq!(v["total"], 5, "{name}");
    }
    let v = app
        .get("/api/v1/org/default/datasets/activity?dataset_name=other", &app.admin)
        .await
        .json();
    assert_eq!((v["total"].clone(), v["events"].clone()), (json!(0), json!([])));
    let v = app
        .get("/api/v1/org/default/datasets/activity?limit=2&offset=1", &app.admin)
        .await
        .json();
    let page: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["username"].as_str().unwrap())
        .collect();
    assert_eq!((page, v["total"].clone()), (vec!["bob", "admin"], json!(5)));

    for (q, loc) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("offset=-1", "offset"),
        ("user_id=nope", "user_id"),
        ("limit=x", "limit"),
    ] {
        let r = app
            .get(&format!("/api/v1/org/default/datasets/activity?{q}"), &app.admin)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert_eq!(r.json()["errors"][0]["loc"], json!(["query", loc]), "{q}");
    }
    let r = app.get("/api/v1/org/default/datasets/activity", &outsider).await;
    assert_eq!(
        r.json(),
        envelope(
            403,
            "forbidden",
            "download activity of organization default is visible to its members only"
        )
    );
}
}

backend_test! {
    async fn delete_removes_versions_and_the_name_with_the_last(app) {
    for v in ["1.0.0", "1.1.0"] {
        let r = app
            .publish(
                &app.admin,
                "default",
                "gone",
                v,
                &[("t.parquet", parquet(3))],
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let reader = app.member("default", "rita", Role::Reader).await;
    let contributor = app.member("default", "carl", Role::Contributor).await;
    let outsider = app.member("acme", "olaf", Role::Owner).await;
    let del = |key: String, v: &'static str| {
        let app = &app;
        async move {
            app.call(
                Method::DELETE,
                &format!("/api/v1/org/default/datasets/gone/{v}"),
                Some(&key),
                axum::body::Body::empty(),
            )
            .await
        }
    };
    assert_eq!(del(reader.clone(), "1.1.0").await.status, StatusCode::FORBIDDEN);
    let r = del(outsider.clone(), "1.1.0").await;
    assert_eq!(
        r.json(),
        envelope(404, "not_found", "dataset default/gone not found"),
        "private: not revealed"
    );
    let r = del(contributor.clone(), "1.1.0").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty());
    let v = app
        .get("/api/v1/org/default/datasets/gone/versions", &app.admin)
        .await
        .json();
    assert_eq!(v["versions"], json!(["1.0.0"]));
    assert_eq!(
        app.get("/api/v1/org/default/datasets/gone", &app.admin).await.json()["latest_version"],
        "1.0.0"
    );
    assert_eq!(
        del(contributor.clone(), "1.1.0").await.json(),
        envelope(404, "not_found", "version 1.1.0 of dataset default/gone not found")
    );
    // a public dataset: outsiders are refused, not told it is missing
    app.json_call(
        Method::PATCH,
        "/api/v1/org/default/datasets/gone/visibility",
        &app.admin,
        &json!({"is_public": true}),
    )
    .await;
    assert_eq!(del(outsider, "1.0.0").await.status, StatusCode::FORBIDDEN);
    assert_eq!(del(app.admin.clone(), "1.0.0").await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/org/default/datasets/gone", &app.admin).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/org/default/datasets/gone/versions", &app.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/org/default/datasets?name=gone", &app.admin)
            .await
            .json()["total"],
        0
    );
    // the name can be published again from scratch, private by default
    let r = app
        .publish(
            &app.admin,
            "default",
            "gone",
            "1.0.0",
            &[("t.parquet", parquet(4))],
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        app.get("/api/v1/org/default/datasets/gone", &app.admin).await.json()["is_public"],
        false
    );
}
}

/// The version's download count and the org's activity total.
async fn counts(app: &TestApp) -> (u64, u64) {
    let d = app
        .get("/api/v1/org/default/datasets/qa/1.0.0", &app.admin)
        .await
        .json();
    let a = app
        .get("/api/v1/org/default/datasets/activity?limit=1", &app.admin)
        .await
        .json();
    (d["download_count"].as_u64().unwrap(), a["total"].as_u64().unwrap())
}
