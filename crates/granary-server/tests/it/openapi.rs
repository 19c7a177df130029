//! The OpenAPI document: served without credentials, covering every REST route.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;

#[tokio::test]
async fn document_covers_every_rest_route_and_the_preview() {
    let app = TestApp::new().await;
    let r = app
        .send(Request::get("/api/v1/openapi.json").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/json");
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "granary");
    let routes: &[(&str, &[&str])] = &[
        ("/api/v1/health", &["get"]),
        ("/api/v1/ready", &["get"]),
        ("/api/v1/user", &["get"]),
        ("/api/v1/user/organizations", &["get"]),
        ("/api/v1/org/{org}", &["get"]),
        ("/api/v1/org/{org}/ws", &["get"]),
        ("/api/v1/org/{org}/ws/{workspace}/storage/credentials", &["get"]),
        ("/api/v1/org/{org}/datasets", &["get"]),
        ("/api/v1/org/{org}/datasets/facets", &["get"]),
        ("/api/v1/org/{org}/datasets/activity", &["get"]),
        ("/api/v1/org/{org}/datasets/{name}", &["get"]),
        ("/api/v1/org/{org}/datasets/{name}/versions", &["get"]),
        ("/api/v1/org/{org}/datasets/{name}/visibility", &["patch"]),
        ("/api/v1/org/{org}/datasets/{name}/{version}", &["get", "delete"]),
        ("/api/v1/org/{org}/datasets/{name}/{version}/preview", &["get"]),
        ("/api/v1/org/{org}/datasets/{name}/{version}/rows", &["get"]),
        ("/api/v1/org/{org}/datasets/{name}/{version}/croissant", &["get"]),
        ("/api/v1/org/{org}/datasets/{name}/{version}/statistics", &["get"]),
        ("/api/v1/org/{org}/datasets/{name}/{version}/parquet", &["post"]),
        ("/api/v1/org/{org}/datasets/{name}/{version}/search", &["get"]),
        ("/api/v1/org/{org}/datasets/{name}/{version}/filter", &["get"]),
        ("/api/v1/org/{org}/datasets/{name}/diff", &["get"]),
        ("/api/v1/org/{org}/datasets/{name}/downloads", &["get"]),
        ("/api/v1/org/{org}/datasets/{name}/{version}/download", &["post"]),
        ("/api/v1/org/{org}/blobs/{digest}/schema", &["get"]),
        ("/files/{org}/{digest}/{file}", &["get"]),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), routes.len(), "{:?}", paths.keys().collect::<Vec<_>>());
    for (path, methods) in routes {
        let item = paths.get(*path).unwrap_or_else(|| panic!("{path} is missing"));
        let mut have: Vec<&String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "parameters")
            .collect();
        have.sort();
        let mut want: Vec<&str> = methods.to_vec();
        want.sort();
        assert_eq!(have, want, "{path}");
    }

    let preview = &paths["/api/v1/org/{org}/datasets/{name}/{version}/preview"]["get"];
    let params: Vec<&str> = preview["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["org", "name", "version", "split", "limit"]);
    let limit = &preview["parameters"][4];
    assert_eq!(limit["in"], "query");
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 100);
    assert_eq!(
        preview["responses"]["200"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/PreviewOut"})
    );
    let schema = &doc["components"]["schemas"]["PreviewOut"];
    let mut fields: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        ["columns", "files", "limit", "name", "rows", "split", "version"]
    );
    assert_eq!(
        doc["components"]["schemas"]["ErrorEnvelope"]["required"],
        json!(["code", "detail", "type"])
    );
    // health and signed links need no key; the rest do
    assert_eq!(paths["/api/v1/health"]["get"]["security"], json!([{}]));
    assert_eq!(doc["security"], json!([{"bearer": []}, {"api_key": []}]));
    assert!(paths["/api/v1/user"]["get"].get("security").is_none_or(Value::is_null));

    // As strict as the server: patterns, formats and enums where handlers enforce them,
    // and every error status any route can answer, each with the envelope.
    let param = |op: &Value, name: &str| {
        op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no parameter {name}"))["schema"]
            .clone()
    };
    assert_eq!(
        param(preview, "version")["pattern"],
        r"^(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})$"
    );
    assert_eq!(param(preview, "org")["pattern"], "^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$");
    let list = &paths["/api/v1/org/{org}/datasets"]["get"];
    assert_eq!(
        param(list, "sort_by")["enum"],
        json!(["name", "created_at", "updated_at", "row_count", "file_size_bytes"])
    );
    assert_eq!(param(list, "sort_dir")["enum"], json!(["asc", "desc"]));
    let activity = &paths["/api/v1/org/{org}/datasets/activity"]["get"];
    assert_eq!(param(activity, "user_id")["format"], "uuid");
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let codes: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            for code in ["404", "422", "429", "500", "502", "504"] {
                assert!(codes.iter().any(|c| *c == code), "{method} {path} lacks {code}");
                assert_eq!(
                    op["responses"][code]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorEnvelope"
                );
            }
            let public = path == "/api/v1/health" || path == "/api/v1/ready" || path.starts_with("/files/");
            assert_eq!(codes.iter().any(|c| *c == "401"), !public, "{method} {path}");
        }
    }
}
