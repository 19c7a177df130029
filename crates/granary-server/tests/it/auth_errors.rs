use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use granary_core::Role;
use granary_server::with_edge_layers;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::helpers::backend_test;
use crate::helpers::envelope;

backend_test! {
    async fn every_credential_form_is_accepted(app) {
    let key = &app.admin;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("__token__:{key}"));
    for (name, value) in [
        ("Authorization", format!("Bearer {key}")),
        ("X-API-Key", key.clone()),
        ("Authorization", format!("Basic {basic}")),
    ] {
        let req = Request::get("/api/v1/user")
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        let r = app.send(req).await;
        assert_eq!(r.status, StatusCode::OK, "{name}");
        let u = r.json();
        assert_eq!(u["username"], "admin");
        assert_eq!(u["email_address"], "admin@localhost");
        assert!(u["id"].as_str().unwrap().len() == 36);
    }
}
}

backend_test! {
    async fn missing_invalid_and_revoked_keys_are_401_envelopes(app) {
    let r = app.call(Method::GET, "/api/v1/user", None, Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(
        r.json(),
        envelope(
            401,
            "authentication_error",
            "authentication required: send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        )
    );
    let r = app.get("/api/v1/user", "gra_not-a-real-key").await;
    assert_eq!(
        r.json(),
        envelope(401, "authentication_error", "invalid or revoked API key")
    );

    let key = app.member("acme", "bob", Role::Reader).await;
    assert_eq!(app.get("/api/v1/user", &key).await.status, StatusCode::OK);
    let keys = app.state.db.list_api_keys(None).await.unwrap();
    let bob_key = keys.iter().find(|k| k.username == "bob").unwrap();
    assert!(app.state.db.revoke_api_key(bob_key.id).await.unwrap());
    let r = app.get("/api/v1/user", &key).await;
    assert_eq!(
        r.json(),
        envelope(401, "authentication_error", "invalid or revoked API key")
    );
}
}

backend_test! {
    async fn unknown_routes_and_methods_are_envelopes(app) {
    let r = app.get("/api/v1/nope/nope/nope/nope", &app.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json(), envelope(404, "not_found", "no such route"));
    let r = app
        .call(Method::DELETE, "/api/v1/user", Some(&app.admin), Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        r.json(),
        envelope(405, "method_not_allowed", "method not allowed on this route")
    );
}
}

backend_test! {
    async fn bad_path_values_are_422_with_locations(app) {
    let r = app.get("/api/v1/org/default/datasets/mnist/1.0", &app.admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json(),
        json!({"code": 422, "type": "validation_error",
               "detail": "path.version: invalid version \"1.0\": expected MAJOR.MINOR.PATCH such as 1.0.0 (digits only, no leading zeros, no suffix)",
               "errors": [{"loc": ["path", "version"], "msg": "invalid version \"1.0\": expected MAJOR.MINOR.PATCH such as 1.0.0 (digits only, no leading zeros, no suffix)", "type": "invalid_version"}]})
    );
    let r = app.get("/api/v1/org/default/datasets/Bad%20Name", &app.admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["loc"], json!(["path", "name"]));
}
}

#[tokio::test]
async fn panics_become_500_envelopes_without_internals() {
    let router = with_edge_layers(Router::new().route(
        "/boom",
        get(|| async { panic!("secret internal detail") as &'static str }),
    ));
    let resp = router
        .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v, envelope(500, "internal_error", "internal server error"));
}

backend_test! {
    async fn platform_routes_describe_user_orgs_and_workspace(app) {
    let orgs = app.get("/api/v1/user/organizations", &app.admin).await.json();
    assert_eq!(orgs.as_array().unwrap().len(), 1);
    assert_eq!(orgs[0]["key"], "default");
    assert_eq!(orgs[0]["role"], "owner");
    let org = app.get("/api/v1/org/default", &app.admin).await.json();
    for field in [
        "id",
        "name",
        "key",
        "created_at",
        "updated_at",
        "effective_max_sandbox_runtime_seconds",
        "max_sandbox_runtime_source_level",
        "effective_default_sandbox_runtime_seconds",
        "default_sandbox_runtime_source_level",
        "platform_max_sandbox_runtime_seconds",
        "platform_default_sandbox_runtime_seconds",
    ] {
        assert!(!org[field].is_null(), "{field}");
    }
    let ws = app.get("/api/v1/org/default/ws", &app.admin).await.json();
    assert_eq!(ws[0]["is_default"], true);
    assert_eq!(ws[0]["org_id"], org["id"]);
    // outsiders see neither the org nor its workspaces
    let outsider = app.member("other", "eve", Role::Owner).await;
    assert_eq!(
        app.get("/api/v1/org/default", &outsider).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/org/default/ws", &outsider).await.status,
        StatusCode::NOT_FOUND
    );
    let h = app.call(Method::GET, "/api/v1/health", None, Body::empty()).await;
    assert_eq!(h.json()["status"], "ok");
}
}

// Keys and roles are cached per server; a change made anywhere (here: straight in the
// store, as another replica or `granary admin` would) holds from the next request on, on
// both servers, including ones whose caches hold the old answer.
backend_test! {
    async fn cached_keys_and_roles_follow_changes_made_elsewhere(app) {
    let twin = app.twin();
    let key = app.member("acme", "carol", Role::Contributor).await;
    let db = &app.state.db;
    let acme = db.org_by_key("acme").await.unwrap().unwrap();
    let carol = db.user_by_name("carol").await.unwrap().unwrap();
    for server in [&app, &twin] {
        // warm both servers' caches: key, org, role
        assert_eq!(server.get("/api/v1/org/acme/datasets", &key).await.status, StatusCode::OK);
    }
    // contributor → reader: publishing is refused at once, on both servers
    db.set_membership(acme.id, carol.id, Role::Reader).await.unwrap();
    for (i, server) in [&app, &twin].into_iter().enumerate() {
        let uri = format!("/api/v1/acme/d{i}/blobs/uploads/");
        let r = server.call(Method::POST, &uri, Some(&key), Body::empty()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&r.body));
    }
    // removed from the org: its private listing is gone
    assert!(db.remove_membership(acme.id, carol.id).await.unwrap());
    for server in [&app, &twin] {
        let r = server.get("/api/v1/org/acme/datasets/activity", &key).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&r.body));
    }
    // back as an owner: allowed again everywhere
    db.set_membership(acme.id, carol.id, Role::Owner).await.unwrap();
    for server in [&app, &twin] {
        assert_eq!(server.get("/api/v1/org/acme/datasets/activity", &key).await.status, StatusCode::OK);
    }
    // the key revoked: refused by both
    let id = db.list_api_keys(Some(carol.id)).await.unwrap()[0].id;
    assert!(db.revoke_api_key(id).await.unwrap());
    for server in [&app, &twin] {
        assert_eq!(server.get("/api/v1/user", &key).await.status, StatusCode::UNAUTHORIZED);
    }
}
}
