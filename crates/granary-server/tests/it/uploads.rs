use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use bytes::Bytes;
use granary_core::Digest;

use crate::helpers::backend_test;
use crate::helpers::envelope;

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 253) as u8).collect()
}

fn path_of(location: &str) -> String {
    location
        .strip_prefix("http://registry.test")
        .expect("absolute link")
        .to_string()
}

backend_test! {
    async fn chunked_upload_with_status_and_offsets(app) {
    let key = &app.admin;
    let bytes = data(10_000);
    let d = Digest::of(&bytes);
    let start = app
        .call(
            Method::POST,
            "/api/v1/default/ds/blobs/uploads/",
            Some(key),
            Body::empty(),
        )
        .await;
    assert_eq!(start.status, StatusCode::ACCEPTED);
    assert_eq!(start.header("range"), "0-0");
    assert_eq!(start.header("upload-offset"), "0");
    let id = start.header("docker-upload-uuid").to_string();
    let loc = path_of(start.header("location"));
    assert_eq!(loc, format!("/api/v1/default/ds/blobs/uploads/{id}"));

    let patch = |range: &str, body: Vec<u8>| {
        Request::builder()
            .method(Method::PATCH)
            .uri(&loc)
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Range", range)
            .body(Body::from(body))
            .unwrap()
    };
    let r = app.send(patch("0-3999", bytes[..4000].to_vec())).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("range"), "0-3999");
    // a chunk that does not start where the upload ends
    let r = app.send(patch("3000-5999", bytes[3000..6000].to_vec())).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.json(),
        envelope(
            416,
            "range_not_satisfiable",
            "chunk starts at byte 3000 but the upload has 4000 bytes; resume from 4000"
        )
    );
    let status = app.get(&loc, key).await;
    assert_eq!(status.status, StatusCode::NO_CONTENT);
    assert_eq!(
        (status.header("range"), status.header("upload-offset")),
        ("0-3999", "4000")
    );
    let r = app.send(patch("4000-9999", bytes[4000..].to_vec())).await;
    assert_eq!(r.header("range"), "0-9999");
    // not visible before it is finished
    assert_eq!(
        app.call(
            Method::HEAD,
            &format!("/api/v1/default/blobs/{d}"),
            Some(key),
            Body::empty()
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .call(Method::PUT, &format!("{loc}?digest={d}"), Some(key), Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("docker-content-digest"), d.to_string());
    assert_eq!(r.header("location"), format!("/api/v1/default/blobs/{d}"));
    let head = app
        .call(
            Method::HEAD,
            &format!("/api/v1/default/blobs/{d}"),
            Some(key),
            Body::empty(),
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), "10000");
    assert!(head.body.is_empty());
    let got = app.get(&format!("/api/v1/default/blobs/{d}"), key).await;
    assert_eq!(got.body.as_ref(), bytes.as_slice());
    assert_eq!(got.header("etag"), format!("\"{d}\""));
    // the finished session is gone
    assert_eq!(app.get(&loc, key).await.status, StatusCode::NOT_FOUND);
}
}

backend_test! {
    async fn blob_ranges(app) {
    let key = &app.admin;
    let bytes = data(1000);
    let d = app.push_blob(key, "default", "ds", &bytes).await;
    let uri = format!("/api/v1/default/blobs/{d}");
    let req = |range: &str| {
        Request::get(&uri)
            .header("Authorization", format!("Bearer {key}"))
            .header("Range", range)
            .body(Body::empty())
            .unwrap()
    };
    let r = app.send(req("bytes=100-199")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-range"), "bytes 100-199/1000");
    assert_eq!(r.header("content-length"), "100");
    assert_eq!(r.body.as_ref(), &bytes[100..200]);
    let r = app.send(req("bytes=-10")).await;
    assert_eq!(r.body.as_ref(), &bytes[990..]);
    let r = app.send(req("bytes=1000-")).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), "bytes */1000");
    assert_eq!(r.json()["type"], "range_not_satisfiable");
}
}

backend_test! {
    async fn digest_mismatch_is_rejected_and_nothing_is_stored(app) {
    let key = &app.admin;
    let start = app
        .call(
            Method::POST,
            "/api/v1/default/ds/blobs/uploads/",
            Some(key),
            Body::empty(),
        )
        .await;
    let loc = path_of(start.header("location"));
    let claimed = Digest::of(b"other bytes");
    let r = app
        .call(
            Method::PUT,
            &format!("{loc}?digest={claimed}"),
            Some(key),
            Bytes::from_static(b"actual bytes"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json(),
        envelope(
            400,
            "invalid_request",
            &format!(
                "digest mismatch: the uploaded bytes hash to {}, not {claimed}",
                Digest::of(b"actual bytes")
            )
        )
    );
    for d in [claimed.clone(), Digest::of(b"actual bytes")] {
        assert_eq!(
            app.call(
                Method::HEAD,
                &format!("/api/v1/default/blobs/{d}"),
                Some(key),
                Body::empty()
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
    }
    // a repeated query parameter is a validation error naming it
    let r = app
        .call(
            Method::PUT,
            &format!("{loc}?digest={claimed}&digest={claimed}"),
            Some(key),
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["loc"], serde_json::json!(["query", "digest"]));
    // a malformed digest is a 400 too
    let r = app
        .call(
            Method::PUT,
            &format!("{loc}?digest=sha256:xyz"),
            Some(key),
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
}

backend_test! {
    async fn a_dropped_connection_keeps_what_arrived_and_the_upload_resumes(app) {
    let key = &app.admin;
    let bytes = data(50_000);
    let d = Digest::of(&bytes);
    let start = app
        .call(
            Method::POST,
            "/api/v1/default/ds/blobs/uploads/",
            Some(key),
            Body::empty(),
        )
        .await;
    let loc = path_of(start.header("location"));
    // 20,000 bytes arrive, then the client's connection breaks
    let first: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::copy_from_slice(&bytes[..10_000])),
        Ok(Bytes::copy_from_slice(&bytes[10_000..20_000])),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset")),
    ];
    let req = Request::builder()
        .method(Method::PATCH)
        .uri(&loc)
        .header("Authorization", format!("Bearer {key}"))
        .body(Body::from_stream(futures::stream::iter(first)))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let status = app.get(&loc, key).await;
    assert_eq!(status.header("upload-offset"), "20000");
    let req = Request::builder()
        .method(Method::PUT)
        .uri(format!("{loc}?digest={d}"))
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Range", "20000-49999")
        .body(Body::from(bytes[20_000..].to_vec()))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        app.get(&format!("/api/v1/default/blobs/{d}"), key).await.body.as_ref(),
        bytes.as_slice()
    );
}
}

backend_test! {
    async fn sessions_belong_to_their_org_and_dataset(app) {
    let key = &app.admin;
    let start = app
        .call(
            Method::POST,
            "/api/v1/default/ds/blobs/uploads/",
            Some(key),
            Body::empty(),
        )
        .await;
    let id = start.header("docker-upload-uuid").to_string();
    let r = app.get(&format!("/api/v1/default/other/blobs/uploads/{id}"), key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.json()["detail"],
        "upload session not found; start a new one with POST …/blobs/uploads/"
    );
    let r = app.get("/api/v1/default/ds/blobs/uploads/not-a-uuid", key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/default/ds/blobs/uploads/{id}"),
            Some(key),
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/default/ds/blobs/uploads/{id}"), key)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
}

backend_test! {
    async fn monolithic_post_with_digest(app) {
    let key = &app.admin;
    let d = Digest::of(b"one shot");
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/default/ds/blobs/uploads/?digest={d}"),
            Some(key),
            Bytes::from_static(b"one shot"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        app.get(&format!("/api/v1/default/blobs/{d}"), key).await.body.as_ref(),
        b"one shot"
    );
}
}
