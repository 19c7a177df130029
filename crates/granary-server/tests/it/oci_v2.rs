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
    assert_eq!(
        r.header("www-authenticate"),
        "Bearer realm=\"http://registry.test/v2/token\",service=\"granary\""
    );
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

/// `GET /v2/token` with Basic `user:key`; the token, or the response when there is none.
async fn token(app: &crate::helpers::TestApp, key: Option<&str>, query: &str) -> Result<String, crate::helpers::Resp> {
    use base64::Engine;
    let mut b = Request::get(format!("/v2/token?{query}"));
    if let Some(k) = key {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("anyone:{k}"));
        b = b.header("Authorization", format!("Basic {basic}"));
    }
    let r = app.send(b.body(Body::empty()).unwrap()).await;
    if r.status != StatusCode::OK {
        return Err(r);
    }
    let v = r.json();
    assert_eq!(v["token"], v["access_token"]);
    assert_eq!(v["expires_in"], 300);
    Ok(v["token"].as_str().unwrap().to_string())
}

backend_test! {
    async fn the_token_flow_grants_what_the_role_allows(app) {
    use granary_core::Role;
    let data = parquet(5);
    let d = app.push_blob(&app.admin, "default", "tok", &data).await;
    // without credentials: a challenge naming the realm, the service and the scope needed
    let r = app.call(Method::HEAD, &format!("/v2/default/tok/blobs/{d}"), None, Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.header("www-authenticate"),
        "Bearer realm=\"http://registry.test/v2/token\",service=\"granary\",scope=\"repository:default/tok:pull\""
    );
    let r = app.call(Method::POST, "/v2/default/tok/blobs/uploads/", None, Body::empty()).await;
    assert!(r.header("www-authenticate").ends_with("scope=\"repository:default/tok:pull,push\""));
    // the token endpoint wants the API key (Basic, any user name) and the right service
    let r = token(&app, None, "service=granary&scope=repository:default/tok:pull").await.unwrap_err();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").starts_with("Basic realm="));
    let r = token(&app, Some("gra_wrong"), "service=granary&scope=repository:default/tok:pull").await.unwrap_err();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = token(&app, Some(&app.admin), "service=other&scope=repository:default/tok:pull").await.unwrap_err();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // a reader asking for push gets pull only: reads pass, an upload is refused with the
    // scope to ask for
    let reader = app.member("default", "rita", Role::Reader).await;
    let t = token(&app, Some(&reader), "service=granary&scope=repository:default/tok:pull,push").await.unwrap();
    let r = app.call(Method::HEAD, &format!("/v2/default/tok/blobs/{d}"), Some(&t), Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    // (403 insufficient_scope, RFC 6750 §3.1: ORAS asks for a new token on a 403)
    let r = app.call(Method::POST, "/v2/default/tok/blobs/uploads/", Some(&t), Body::empty()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.header("www-authenticate"),
        "Bearer realm=\"http://registry.test/v2/token\",service=\"granary\",scope=\"repository:default/tok:pull,push\",error=\"insufficient_scope\""
    );
    // another repository is not in the token
    let r = app.call(Method::HEAD, &format!("/v2/default/other/blobs/{d}"), Some(&t), Body::empty()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.header("www-authenticate").ends_with("scope=\"repository:default/other:pull\",error=\"insufficient_scope\""));
    // a role's 403 to an API key is no scope question: no challenge
    let r = app.call(Method::POST, "/v2/default/tok/blobs/uploads/", Some(&reader), Body::empty()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.headers.get("www-authenticate").is_none());

    // a contributor's token pushes; several scopes in one request
    let writer = app.member("default", "wendy", Role::Contributor).await;
    let t = token(&app, Some(&writer), "service=granary&scope=repository:default/tok:pull,push&scope=repository:default/tok2:pull%20repository:default/tok3:delete").await.unwrap();
    let r = app.call(Method::POST, "/v2/default/tok/blobs/uploads/", Some(&t), Body::empty()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = app.call(Method::GET, "/v2/default/tok2/tags/list", Some(&t), Body::empty()).await;
    assert_ne!(r.status, StatusCode::UNAUTHORIZED);
    // a contributor cannot be granted delete: the token holds what was granted, no more
    let claims = {
        use base64::Engine;
        let payload = t.strip_prefix("grt_").unwrap().split_once('.').unwrap().0;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    assert_eq!(
        claims["s"],
        json!([{"r": "default/tok", "a": ["pull", "push"]}, {"r": "default/tok2", "a": ["pull"]}])
    );
    // a token is for /v2/ only
    let r = app.get("/api/v1/user", &t).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // a forged token is refused
    let forged = format!("{}x", &t[..t.len() - 1]);
    let r = app.call(Method::HEAD, &format!("/v2/default/tok/blobs/{d}"), Some(&forged), Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // revoking the key ends its tokens at once
    let keys = app.state.db.list_api_keys(None).await.unwrap();
    let wendy_key = keys.iter().find(|k| k.username == "wendy").unwrap();
    assert!(app.state.db.revoke_api_key(wendy_key.id).await.unwrap());
    let r = app.call(Method::POST, "/v2/default/tok/blobs/uploads/", Some(&t), Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // API keys keep working directly
    let r = app.call(Method::HEAD, &format!("/v2/default/tok/blobs/{d}"), Some(&app.admin), Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
}
}
