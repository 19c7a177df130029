//! The list and facets endpoints against an independent computation over the same fixtures.

use axum::http::StatusCode;
use granary_core::{size_category, Digest, Role, Version};
use granary_db::{NewVersion, PublishOutcome, VersionMeta};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::helpers::backend_test;
use crate::helpers::TestApp;

/// One version as the model sees it.
#[derive(Clone, Debug)]
struct Row {
    id: String,
    org: String,
    name: String,
    full_name: String,
    summary: String,
    tags: Vec<String>,
    license: Option<String>,
    task_categories: Vec<String>,
    format: String,
    size_category: String,
    rows: u64,
    size: u64,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
    is_public: bool,
}

const TAGS: [&str; 4] = ["nlp", "vision", "audio", "qa"];
const LICENSES: [Option<&str>; 3] = [Some("mit"), Some("apache-2.0"), None];
const TASKS: [&str; 3] = ["text-classification", "translation", "image-classification"];
const FORMATS: [&str; 3] = ["parquet", "csv", "jsonl"];

struct World {
    app: TestApp,
    rows: Vec<Row>,
    /// a member of `acme` only
    acme_key: String,
}

async fn world(app: TestApp) -> World {
    let acme_key = app.member("acme", "ann", Role::Owner).await;
    let _ = app.member("beta", "ben", Role::Owner).await;
    let db = &app.state.db;
    let orgs = ["default", "acme", "beta"];
    let mut made = Vec::new();
    for i in 0..60u64 {
        let org = db.org_by_key(orgs[(i % 3) as usize]).await.unwrap().unwrap();
        let name = format!("ds{}", i % 11);
        let rows = (i * 7919) % 5000 / 100 * 100; // many ties
        let tags: Vec<String> = TAGS
            .iter()
            .enumerate()
            .filter(|(k, _)| (i >> k) & 1 == 1)
            .map(|(_, t)| t.to_string())
            .collect();
        let task_categories: Vec<String> = vec![TASKS[(i % 3) as usize].to_string()];
        let meta = VersionMeta {
            format: FORMATS[(i % 3) as usize].into(),
            data_schema: vec![("a".into(), "int64".into())],
            row_count: rows,
            file_size_bytes: (i * 104_729) % 50_000 / 1000 * 1000,
            size_category: size_category(rows).into(),
            summary: Some(if i % 4 == 0 {
                format!("Alpha QUESTIONS set {i}")
            } else {
                format!("beta images {i}")
            }),
            description: None,
            pretty_name: None,
            license: LICENSES[(i % 3) as usize].map(str::to_string),
            language: None,
            tags,
            task_categories,
            origin: None,
            splits: None,
            artifacts_hash: Digest::of(b"{}"),
        };
        let new = NewVersion {
            org_id: org.id,
            name: name.clone(),
            version: Version {
                major: i,
                minor: 0,
                patch: 0,
            },
            manifest_digest: Digest::of(format!("m{i}").as_bytes()),
            manifest: "{}".into(),
            config_digest: Digest::of(b"c"),
            meta,
            files: vec![],
            created_by: None,
            view: None,
        };
        assert!(matches!(
            db.publish_version(new).await.unwrap(),
            PublishOutcome::Created(_)
        ));
        made.push((
            org.id,
            org.key.clone(),
            name,
            Version {
                major: i,
                minor: 0,
                patch: 0,
            },
        ));
    }
    // Some names are public.
    for (org, name) in [("acme", "ds1"), ("beta", "ds2"), ("beta", "ds5"), ("default", "ds3")] {
        let o = db.org_by_key(org).await.unwrap().unwrap();
        db.set_visibility(o.id, name, true).await.unwrap().unwrap();
    }
    let mut rows = Vec::new();
    for (org_id, org, name, v) in made {
        let r = db.version(org_id, &name, Some(v)).await.unwrap().unwrap();
        rows.push(Row {
            id: r.id.to_string(),
            org: org.clone(),
            name: name.clone(),
            full_name: format!("{org}/{name}"),
            summary: r.meta.summary.clone().unwrap(),
            tags: r.meta.tags.clone(),
            license: r.meta.license.clone(),
            task_categories: r.meta.task_categories.clone(),
            format: r.meta.format.clone(),
            size_category: r.meta.size_category.clone(),
            rows: r.meta.row_count,
            size: r.meta.file_size_bytes,
            created_at: r.created_at,
            updated_at: r.updated_at,
            is_public: r.is_public,
        });
    }
    World { app, rows, acme_key }
}

/// The parameters of one list call, and the model's answer to it.
#[derive(Default, Clone)]
struct Q {
    name: Option<&'static str>,
    search: Option<&'static str>,
    tags: Vec<&'static str>,
    license: Vec<&'static str>,
    task_categories: Vec<&'static str>,
    format: Vec<&'static str>,
    size_category: Vec<&'static str>,
    include_public: bool,
}

impl Q {
    fn query(&self) -> String {
        let mut parts = vec![];
        if let Some(n) = self.name {
            parts.push(format!("name={}", n.replace('/', "%2F")));
        }
        if let Some(s) = self.search {
            parts.push(format!("search={}", s.replace(' ', "%20")));
        }
        for (k, vs) in [
            ("tags", &self.tags),
            ("license", &self.license),
            ("task_categories", &self.task_categories),
            ("format", &self.format),
            ("size_category", &self.size_category),
        ] {
            for v in vs {
                parts.push(format!("{k}={}", v.replace('<', "%3C").replace('>', "%3E")));
            }
        }
        parts.push(format!("include_public={}", self.include_public));
        parts.join("&")
    }

    /// Rows `viewer` (a member of `org`, or not) may see under `org`, filtered; `skip` leaves
    /// one facet's own filter out.
    fn matches(&self, r: &Row, org: &str, member: bool, skip: Option<&str>) -> bool {
        let in_scope = match (member, self.include_public) {
            (true, false) => r.org == org,
            (true, true) => r.org == org || r.is_public,
            (false, false) => r.org == org && r.is_public,
            (false, true) => r.is_public,
        };
        let any =
            |want: &Vec<&str>, have: &[String]| want.is_empty() || want.iter().any(|w| have.iter().any(|h| h == w));
        let one = |want: &Vec<&str>, have: Option<&str>| want.is_empty() || have.is_some_and(|h| want.contains(&h));
        in_scope
            && self.name.is_none_or(|n| match n.split_once('/') {
                Some(_) => r.full_name == n,
                None => r.name == n,
            })
            && self.search.is_none_or(|s| {
                let s = s.to_lowercase();
                r.name.to_lowercase().contains(&s) || r.summary.to_lowercase().contains(&s)
            })
            && (skip == Some("tags") || any(&self.tags, &r.tags))
            && (skip == Some("task_categories") || any(&self.task_categories, &r.task_categories))
            && (skip == Some("licenses") || one(&self.license, r.license.as_deref()))
            && (skip == Some("formats") || one(&self.format, Some(&r.format)))
            && (skip == Some("size_categories") || one(&self.size_category, Some(&r.size_category)))
    }
}

fn sorted(mut rows: Vec<Row>, key: &str, dir: &str) -> Vec<String> {
    rows.sort_by(|a, b| {
        let o = match key {
            "name" => a.full_name.cmp(&b.full_name),
            "created_at" => a.created_at.cmp(&b.created_at),
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            "row_count" => a.rows.cmp(&b.rows),
            "file_size_bytes" => a.size.cmp(&b.size),
            _ => unreachable!(),
        }
        .then_with(|| a.id.cmp(&b.id));
        if dir == "desc" {
            o.reverse()
        } else {
            o
        }
    });
    rows.into_iter().map(|r| r.id).collect()
}

fn ids(v: &Value) -> Vec<String> {
    v["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

fn queries() -> Vec<Q> {
    vec![
        Q::default(),
        Q {
            include_public: true,
            ..Q::default()
        },
        Q {
            tags: vec!["nlp", "audio"],
            ..Q::default()
        },
        Q {
            tags: vec!["vision"],
            license: vec!["mit"],
            include_public: true,
            ..Q::default()
        },
        Q {
            license: vec!["mit", "apache-2.0"],
            format: vec!["csv"],
            ..Q::default()
        },
        Q {
            task_categories: vec!["translation"],
            size_category: vec!["1K<n<10K"],
            include_public: true,
            ..Q::default()
        },
        Q {
            search: Some("alpha questions"),
            ..Q::default()
        },
        Q {
            search: Some("DS1"),
            include_public: true,
            ..Q::default()
        },
        Q {
            name: Some("ds3"),
            include_public: true,
            ..Q::default()
        },
        Q {
            name: Some("default/ds3"),
            include_public: true,
            ..Q::default()
        },
        Q {
            format: vec!["jsonl", "parquet"],
            tags: vec!["qa"],
            search: Some("images"),
            ..Q::default()
        },
        Q {
            tags: vec!["no-such-tag"],
            ..Q::default()
        },
    ]
}

backend_test! {
    async fn every_filter_sort_and_page_matches_the_model(app) {
    let w = world(app).await;
    let key = &w.app.admin;
    for q in queries() {
        for sort in ["name", "created_at", "updated_at", "row_count", "file_size_bytes"] {
            for dir in ["asc", "desc"] {
                let want: Vec<Row> = w
                    .rows
                    .iter()
                    .filter(|r| q.matches(r, "default", true, None))
                    .cloned()
                    .collect();
                let want = sorted(want, sort, dir);
                let limit = 7;
                let mut got = Vec::new();
                let pages = want.len().div_ceil(limit).max(1);
                for page in 1..=pages + 1 {
                    let uri = format!(
                        "/api/v1/org/default/datasets?{}&sort_by={sort}&sort_dir={dir}&page={page}&limit={limit}",
                        q.query()
                    );
                    let r = w.app.get(&uri, key).await;
                    assert_eq!(r.status, StatusCode::OK, "{uri}: {:?}", r.body);
                    let v = r.json();
                    assert_eq!(v["total"], want.len(), "{uri}");
                    assert_eq!(v["total_pages"], want.len().div_ceil(limit), "{uri}");
                    assert_eq!(v["page"], page);
                    assert_eq!(v["limit"], limit);
                    assert_eq!(v["has_previous"], page > 1, "{uri}");
                    assert_eq!(v["has_next"], page < want.len().div_ceil(limit), "{uri}");
                    got.extend(ids(&v));
                }
                assert_eq!(got, want, "sort={sort} dir={dir} query={}", q.query());
            }
        }
    }
}
}

backend_test! {
    async fn outsiders_see_only_public_rows_and_defaults_apply(app) {
    let w = world(app).await;
    // ann (acme) lists `default`: its public datasets only; with include_public, all public ones
    for include_public in [false, true] {
        let q = Q {
            include_public,
            ..Q::default()
        };
        let want = sorted(
            w.rows
                .iter()
                .filter(|r| q.matches(r, "default", false, None))
                .cloned()
                .collect(),
            "created_at",
            "desc",
        );
        let v = w
            .app
            .get(
                &format!("/api/v1/org/default/datasets?include_public={include_public}&limit=200"),
                &w.acme_key,
            )
            .await
            .json();
        assert_eq!(ids(&v), want);
        assert!(v["datasets"].as_array().unwrap().iter().all(|d| d["is_public"] == true));
        // Every spelling the platform accepts reads the same, on the list and on facets.
        let spellings: &[&str] = if include_public {
            &["True", "TRUE", "1", "yes", "Yes", "on", "ON"]
        } else {
            &["False", "0", "no", "NO", "off", "Off"]
        };
        let facets = |q: &str| format!("/api/v1/org/default/datasets/facets?include_public={q}");
        let want_facets = w.app.get(&facets(&include_public.to_string()), &w.acme_key).await.json();
        for spelled in spellings {
            let r = w
                .app
                .get(&format!("/api/v1/org/default/datasets?include_public={spelled}&limit=200"), &w.acme_key)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{spelled}");
            assert_eq!(ids(&r.json()), want, "{spelled}");
            assert_eq!(w.app.get(&facets(spelled), &w.acme_key).await.json(), want_facets, "{spelled}");
        }
    }
    // defaults: created_at desc, page 1, limit 50
    let v = w.app.get("/api/v1/org/default/datasets", &w.app.admin).await.json();
    let want = sorted(
        w.rows.iter().filter(|r| r.org == "default").cloned().collect(),
        "created_at",
        "desc",
    );
    assert_eq!(
        (v["limit"].clone(), v["page"].clone(), v["total"].clone()),
        (json!(50), json!(1), json!(want.len()))
    );
    assert_eq!(ids(&v), want);
    // every DatasetSummary field is there
    let d = &v["datasets"][0];
    for f in [
        "id",
        "name",
        "version",
        "format",
        "is_public",
        "download_count",
        "created_at",
        "updated_at",
        "origin",
        "summary",
        "pretty_name",
        "tags",
        "license",
        "task_categories",
        "language",
        "size_category",
        "row_count",
        "file_size_bytes",
    ] {
        assert!(d.get(f).is_some(), "missing {f}");
    }
    // a page past the end is empty with correct totals
    let v = w
        .app
        .get("/api/v1/org/default/datasets?page=99&limit=10", &w.app.admin)
        .await
        .json();
    assert_eq!(v["datasets"], json!([]));
    assert_eq!(v["total"], want.len());
    assert_eq!(v["has_next"], false);
    assert_eq!(v["has_previous"], true);
}
}

backend_test! {
    async fn out_of_range_and_mistyped_parameters_are_422_naming_them(app) {
    let w = world(app).await;
    let key = &w.app.admin;
    for (query, loc, msg) in [
        ("limit=0", "limit", "must be between 1 and 200"),
        ("limit=201", "limit", "must be between 1 and 200"),
        ("page=0", "page", "must be at least 1"),
        (
            "sort_by=size",
            "sort_by",
            "\"size\" is not one of name, created_at, updated_at, row_count, file_size_bytes",
        ),
        ("sort_dir=up", "sort_dir", "\"up\" is not one of asc, desc"),
    ] {
        let r = w.app.get(&format!("/api/v1/org/default/datasets?{query}"), key).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let v = r.json();
        assert_eq!(v["type"], "validation_error");
        assert_eq!(
            v["errors"],
            json!([{"loc": ["query", loc], "msg": msg, "type": if loc.starts_with("sort") { "enum" } else { "out_of_range" }}]),
            "{query}"
        );
    }
    for (query, loc) in [
        ("page=abc", "page"),
        ("limit=1.5", "limit"),
        ("include_public=maybe", "include_public"),
    ] {
        let r = w.app.get(&format!("/api/v1/org/default/datasets?{query}"), key).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(r.json()["errors"][0]["loc"], json!(["query", loc]), "{query}");
    }
    let r = w.app.get("/api/v1/org/default/datasets?include_public=maybe", key).await;
    assert_eq!(
        r.json()["errors"][0]["msg"],
        "\"maybe\" is not a boolean; use true/false, 1/0, yes/no, on/off (any case)"
    );
    let r = w.app.get("/api/v1/org/nope/datasets", key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
}

backend_test! {
    async fn facets_count_each_facet_without_its_own_filter(app) {
    let w = world(app).await;
    let key = &w.app.admin;
    for q in queries() {
        let v = w
            .app
            .get(&format!("/api/v1/org/default/datasets/facets?{}", q.query()), key)
            .await
            .json();
        let qr = &q;
        let scoped = |skip: Option<&str>| {
            w.rows
                .iter()
                .filter(|r| qr.matches(r, "default", true, skip))
                .cloned()
                .collect::<Vec<_>>()
        };
        let count = |rows: Vec<Row>, values: &dyn Fn(&Row) -> Vec<String>| {
            let mut m: BTreeMap<String, u64> = BTreeMap::new();
            for r in &rows {
                for val in values(r) {
                    *m.entry(val).or_default() += 1;
                }
            }
            let mut out: Vec<(String, u64)> = m.into_iter().collect();
            out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            json!(out
                .into_iter()
                .map(|(value, count)| json!({"value": value, "count": count}))
                .collect::<Vec<_>>())
        };
        assert_eq!(
            v["tags"],
            count(scoped(Some("tags")), &|r| r.tags.clone()),
            "{}",
            q.query()
        );
        assert_eq!(
            v["licenses"],
            count(scoped(Some("licenses")), &|r| r.license.iter().cloned().collect()),
            "{}",
            q.query()
        );
        assert_eq!(
            v["task_categories"],
            count(scoped(Some("task_categories")), &|r| r.task_categories.clone())
        );
        assert_eq!(
            v["formats"],
            count(scoped(Some("formats")), &|r| vec![r.format.clone()])
        );
        assert_eq!(
            v["size_categories"],
            count(scoped(Some("size_categories")), &|r| vec![r.size_category.clone()])
        );
        assert_eq!(v["filtered_total"], scoped(None).len(), "{}", q.query());
        let unfiltered = Q {
            include_public: q.include_public,
            ..Q::default()
        };
        assert_eq!(
            v["total"],
            w.rows
                .iter()
                .filter(|r| unfiltered.matches(r, "default", true, None))
                .count()
        );
    }
}
}

backend_test! {
    async fn visibility_publishes_and_unpublishes_every_version(app) {
    let w = world(app).await;
    let app = &w.app;
    // ds4 of default: private; ann (acme) cannot see it
    let r = app.get("/api/v1/org/default/datasets/ds4", &w.acme_key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .json_call(
            axum::http::Method::PATCH,
            "/api/v1/org/default/datasets/ds4/visibility",
            &app.admin,
            &json!({"is_public": true}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::OK, json!({"name": "default/ds4", "is_public": true}))
    );
    let versions: Vec<&Row> = w.rows.iter().filter(|r| r.full_name == "default/ds4").collect();
    let v = app
        .get("/api/v1/org/default/datasets?name=ds4&limit=200", &w.acme_key)
        .await
        .json();
    assert_eq!(v["total"], versions.len(), "every version is public");
    assert_eq!(
        app.get("/api/v1/org/default/datasets/ds4", &w.acme_key).await.status,
        StatusCode::OK
    );
    let v = app
        .get(
            "/api/v1/org/acme/datasets?include_public=true&name=default/ds4",
            &w.acme_key,
        )
        .await
        .json();
    assert_eq!(v["total"], versions.len());
    // outsiders may not change it; readers neither
    let r = app
        .json_call(
            axum::http::Method::PATCH,
            "/api/v1/org/default/datasets/ds4/visibility",
            &w.acme_key,
            &json!({"is_public": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let reader = app.member("default", "rex", Role::Reader).await;
    let r = app
        .json_call(
            axum::http::Method::PATCH,
            "/api/v1/org/default/datasets/ds4/visibility",
            &reader,
            &json!({"is_public": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // bad bodies
    let r = app
        .json_call(
            axum::http::Method::PATCH,
            "/api/v1/org/default/datasets/ds4/visibility",
            &app.admin,
            &json!({"is_public": "yes"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["loc"], json!(["body"]));
    let req = axum::http::Request::patch("/api/v1/org/default/datasets/ds4/visibility")
        .header("Authorization", format!("Bearer {}", app.admin))
        .header("Content-Type", "application/json")
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["type"], "invalid_request");
    // unpublish hides it again
    let r = app
        .json_call(
            axum::http::Method::PATCH,
            "/api/v1/org/default/datasets/ds4/visibility",
            &app.admin,
            &json!({"is_public": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/org/default/datasets/ds4", &w.acme_key).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .json_call(
            axum::http::Method::PATCH,
            "/api/v1/org/default/datasets/nope/visibility",
            &app.admin,
            &json!({"is_public": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let _ = Uuid::nil();
}
}

#[tokio::test]
async fn a_second_server_on_the_same_store_sees_every_change() {
    use granary_server::{app, AppState, ServerConfig};
    use tower::ServiceExt;
    let a = TestApp::new().await;
    let b_state = AppState::new(a.state.db.clone(), a.state.blobs.clone(), ServerConfig::default());
    let b = app(b_state);
    let list_on_b = |query: &'static str| {
        let b = b.clone();
        let key = a.admin.clone();
        async move {
            let req = axum::http::Request::get(format!("/api/v1/org/default/datasets?{query}"))
                .header("Authorization", format!("Bearer {key}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = b.oneshot(req).await.unwrap();
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap()
                .to_bytes();
            serde_json::from_slice::<Value>(&body).unwrap()
        }
    };
    assert_eq!(list_on_b("").await["total"], 0, "b has loaded its catalog");
    let r = a
        .publish(
            &a.admin,
            "default",
            "shared",
            "1.0.0",
            &[("t.parquet", crate::helpers::parquet(5))],
            json!({"tags": ["x"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let v = list_on_b("tags=x").await;
    assert_eq!(v["total"], 1, "a publish through a is listed by b");
    assert_eq!(v["datasets"][0]["name"], "default/shared");
    a.json_call(
        axum::http::Method::PATCH,
        "/api/v1/org/default/datasets/shared/visibility",
        &a.admin,
        &json!({"is_public": true}),
    )
    .await;
    assert_eq!(list_on_b("").await["datasets"][0]["is_public"], true);
    let r = a
        .call(
            axum::http::Method::DELETE,
            "/api/v1/org/default/datasets/shared/1.0.0",
            Some(&a.admin),
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(list_on_b("").await["total"], 0, "a delete through a is gone from b");
}

backend_test! {
    async fn listed_versions_match_their_detail_field_for_field(app) {
    // Listings are built from the in-memory catalog plus counts from the store; every field
    // they show must be what the version's own detail shows, download count included.
    let extra = json!({
        "summary": "Questions and answers",
        "pretty_name": "QA ✓",
        "license": "mit",
        "tags": ["qa", "nlp"],
        "task_categories": ["question-answering"],
        "language": ["en", "fr"],
        "origin": {"source": "test", "n": 3},
    });
    app.publish_qa(&crate::helpers::parquet(30), &crate::helpers::parquet(5), extra).await;
    for _ in 0..3 {
        let r = app
            .post_json("/api/v1/org/default/datasets/qa/1.0.0/download", &app.admin, &json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let list = app.get("/api/v1/org/default/datasets", &app.admin).await.json();
    let listed = &list["datasets"][0];
    let detail = app.get("/api/v1/org/default/datasets/qa/1.0.0", &app.admin).await.json();
    assert_eq!(listed["download_count"], json!(3));
    assert_eq!(listed["pretty_name"], json!("QA ✓"));
    assert_eq!(listed["origin"], json!({"source": "test", "n": 3}));
    for (field, value) in listed.as_object().unwrap() {
        if let Some(d) = detail.get(field) {
            assert_eq!(value, d, "{field}");
        }
    }
}
}

backend_test! {
    async fn a_detail_lists_every_version_highest_first_on_every_server(app) {
    let twin = app.twin();
    for v in ["1.0.0", "1.10.0", "1.2.0"] {
        let files = [("data.parquet", crate::helpers::parquet(3))];
        let r = app.publish(&app.admin, "default", "multi", v, &files, json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    for server in [&app, &twin] {
        let d = server.get("/api/v1/org/default/datasets/multi", &app.admin).await.json();
        assert_eq!(d["version"], "1.10.0");
        assert_eq!(d["versions"], json!(["1.10.0", "1.2.0", "1.0.0"]));
    }
    let r = app
        .call(axum::http::Method::DELETE, "/api/v1/org/default/datasets/multi/1.2.0", Some(&app.admin), axum::body::Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    for server in [&twin, &app] {
        let d = server.get("/api/v1/org/default/datasets/multi/1.0.0", &app.admin).await.json();
        assert_eq!(d["versions"], json!(["1.10.0", "1.0.0"]));
    }
}
}

backend_test! {
    async fn versions_order_over_the_whole_component_range(app) {
    let max = "9223372036854775807";
    let vs = ["1.0.0".to_string(), format!("{max}.0.0"), format!("9223372036854775806.{max}.{max}")];
    for v in &vs {
        let files = [("data.parquet", crate::helpers::parquet(3))];
        let r = app.publish(&app.admin, "default", "huge", v, &files, json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{v}: {:?}", r.body);
    }
    let files = [("data.parquet", crate::helpers::parquet(3))];
    let r = app.publish(&app.admin, "default", "huge", "9223372036854775808.0.0", &files, json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let body = String::from_utf8_lossy(&r.body).to_string();
    assert!(body.contains("at most 9223372036854775807 (2^63 - 1)"), "{body}");
    let want = json!([vs[1], vs[2], vs[0]]);
    let d = app.get("/api/v1/org/default/datasets/huge", &app.admin).await.json();
    assert_eq!((d["version"].clone(), d["versions"].clone()), (want[0].clone(), want.clone()));
    // /api/v1 lists versions highest first; /v2/ lists tags in lexical order (distribution-spec).
    let tags = app.get("/api/v1/default/huge/tags/list", &app.admin).await.json();
    assert_eq!(tags["tags"], want);
    let tags = app.get("/v2/default/huge/tags/list", &app.admin).await.json();
    assert_eq!(tags["tags"], json!([vs[0], vs[2], vs[1]]));
    let latest = app.get("/v2/default/huge/manifests/latest", &app.admin).await;
    let exact = app.get(&format!("/v2/default/huge/manifests/{max}.0.0"), &app.admin).await;
    assert_eq!((latest.status, &latest.body), (StatusCode::OK, &exact.body));
    let r = app.get("/api/v1/org/default/datasets/huge/9223372036854775808.0.0", &app.admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Under /v2/ it is a valid tag that names nothing.
    let r = app.get("/v2/default/huge/manifests/1.9223372036854775808.0", &app.admin).await;
    assert_eq!((r.status, r.json()["errors"][0]["code"].as_str()), (StatusCode::NOT_FOUND, Some("MANIFEST_UNKNOWN")));
}
}

backend_test! {
    async fn tags_tasks_and_licenses_match_regardless_of_case(app) {
    let files = || [("data.parquet", crate::helpers::parquet(3))];
    let r = app
        .publish(&app.admin, "default", "planes", "1.0.0", &files(), json!({"tags": ["Aviation", "aviation"], "license": "MIT", "task_categories": ["Tabular-Regression"]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .publish(&app.admin, "default", "birds", "1.0.0", &files(), json!({"tags": ["aviation"], "license": "mit"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    for q in ["tags=Aviation", "tags=AVIATION", "tags=aviation", "license=Mit", "format=PARQUET", "format=Parquet"] {
        let v = app.get(&format!("/api/v1/org/default/datasets?{q}"), &app.admin).await.json();
        assert_eq!(v["total"], 2, "{q}");
        let f = app.get(&format!("/api/v1/org/default/datasets/facets?{q}"), &app.admin).await.json();
        assert_eq!(f["tags"], json!([{"value": "aviation", "count": 2}]), "{q}");
        assert_eq!(f["licenses"], json!([{"value": "mit", "count": 2}]), "{q}");
    }
    let v = app.get("/api/v1/org/default/datasets?task_categories=tabular-regression", &app.admin).await.json();
    assert_eq!(v["total"], 1);
    // the version keeps what was written
    let d = app.get("/api/v1/org/default/datasets/planes", &app.admin).await.json();
    assert_eq!((&d["tags"], &d["license"]), (&json!(["Aviation", "aviation"]), &json!("MIT")));
}
}
