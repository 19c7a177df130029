//! The web UI, page by page, through the real router: sign-in and sessions, CSRF, the
//! catalog, dataset, activity and settings pages, escaping, and who may see what.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use granary_core::Role;
use serde_json::{json, Value};

use crate::helpers::backend_test;
use crate::helpers::{parquet, Resp, TestApp};

/// A browser: keeps the session cookie between requests.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    session: Option<String>,
}

fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")))
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

fn html(r: &Resp) -> String {
    String::from_utf8(r.body.to_vec()).unwrap()
}

/// The value of the first hidden `csrf` field of a page.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a csrf field") + 19;
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_html_form::to_string(pairs).unwrap()
}

impl<'a> Browser<'a> {
    async fn request(&self, method: Method, uri: &str, body: Option<String>) -> Resp {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(s) = &self.session {
            b = b.header("cookie", format!("granary_session={s}"));
        }
        let body = match body {
            Some(f) => {
                b = b.header("content-type", "application/x-www-form-urlencoded");
                Body::from(f)
            }
            None => Body::empty(),
        };
        self.app.send(b.body(body).unwrap()).await
    }

    pub(crate) async fn get(&self, uri: &str) -> Resp {
        self.request(Method::GET, uri, None).await
    }

    async fn post(&self, uri: &str, pairs: &[(&str, &str)]) -> Resp {
        self.request(Method::POST, uri, Some(form(pairs))).await
    }

    /// Signs in through the form, as a person would.
    pub(crate) async fn sign_in(app: &'a TestApp, key: &str) -> Browser<'a> {
        let r = sign_in_post(app, key, "/").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", html(&r));
        Browser {
            app,
            session: Some(cookie_value(&set_cookie(&r, "granary_session").unwrap())),
        }
    }
}

/// GETs the sign-in form and posts `key` with the form's token and cookie.
async fn sign_in_post(app: &TestApp, key: &str, next: &str) -> Resp {
    let page = app.send(Request::get("/sign-in").body(Body::empty()).unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    let pre = cookie_value(&set_cookie(&page, "granary_sign_in").unwrap());
    let token = csrf(&html(&page));
    assert_eq!(
        pre, token,
        "double-submit: the cookie and the field carry the same token"
    );
    let req = Request::post("/sign-in")
        .header("cookie", format!("granary_sign_in={pre}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form(&[("api_key", key), ("csrf", &token), ("next", next)])))
        .unwrap();
    app.send(req).await
}

const XSS_SCRIPT: &str = "<script>alert(1)</script>";
const XSS_ATTR: &str = "\"><img src=x onerror=alert(2)>";

fn assert_escaped(page: &str) {
    assert!(!page.contains("<script>alert"), "raw script tag in page");
    assert!(!page.contains("<img src=x"), "raw img tag in page");
    assert!(!page.contains("onerror=alert(2)>\""), "attribute breakout");
}

backend_test!(
    async fn sign_in_session_cookie_and_sign_out(app) {
        // pages need a session
        let r = app.send(Request::get("/orgs/default?search=x").body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.header("location"), "/sign-in?next=%2Forgs%2Fdefault%3Fsearch%3Dx");

        // a wrong key re-renders the form with one clear line
        let r = sign_in_post(&app, "gra_wrong", "/").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(html(&r).contains("That API key is not valid or has been revoked. Check it and try again."));
        assert!(set_cookie(&r, "granary_session").is_none());

        // without the sign-in form's cookie the post is refused (login CSRF)
        let req = Request::post("/sign-in")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form(&[("api_key", &app.admin), ("csrf", "forged")])))
            .unwrap();
        let r = app.send(req).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(set_cookie(&r, "granary_session").is_none());

        // the right key: a session cookie and on to `next`
        let r = sign_in_post(&app, &app.admin, "/orgs/default?search=x").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.header("location"), "/orgs/default?search=x");
        let c = set_cookie(&r, "granary_session").unwrap();
        assert!(c.contains("; Path=/; HttpOnly; SameSite=Lax; Max-Age=604800"), "{c}");
        assert!(!c.contains("Secure"), "plain http: no Secure flag");
        // only local destinations: every known open-redirect vector goes to `/`
        for evil in [
            "//evil.example/",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/ /evil.example",
            "\t//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\\/evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5C/evil.example",
            "%2F%2Fevil.example",
            "https://evil.example/",
            "http:evil.example",
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "evil.example",
            "/\u{3000}/evil.example",
            "/\u{0}/evil.example",
            "/\x7f/evil.example",
            "",
        ] {
            let r = sign_in_post(&app, &app.admin, evil).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{evil:?}");
            assert_eq!(r.header("location"), "/", "{evil:?}");
            // already signed in, the sign-in page redirects to `next` the same way
            let c = cookie_value(&set_cookie(&r, "granary_session").unwrap());
            let q: String = form(&[("next", evil)]);
            let req = Request::get(format!("/sign-in?{q}"))
                .header("cookie", format!("granary_session={c}"))
                .body(Body::empty())
                .unwrap();
            let r = app.send(req).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{evil:?}");
            assert_eq!(r.header("location"), "/", "{evil:?}");
        }
        // local paths with queries and encoded characters pass through unchanged
        for local in ["/orgs/default", "/orgs/default?search=a%20b&tags=x", "/orgs/a/datasets/%C3%A9t%C3%A9"] {
            let r = sign_in_post(&app, &app.admin, local).await;
            assert_eq!(r.header("location"), local);
        }

        let b = Browser::sign_in(&app, &app.admin).await;
        let r = b.get("/").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.header("location"), "/orgs/default");
        let page = b.get("/orgs/default").await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(page.header("cache-control"), "no-store");
        assert!(page.header("content-security-policy").contains("script-src 'self'"));
        let body = html(&page);
        assert!(body.contains("Signed in as <strong>admin</strong>"));

        // sign-out needs the session's CSRF token
        let r = b.post("/sign-out", &[("csrf", "nope")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(b.get("/orgs/default").await.status, StatusCode::OK, "still signed in");
        let r = b.post("/sign-out", &[("csrf", &csrf(&body))]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.header("location"), "/sign-in");
        assert!(set_cookie(&r, "granary_session").unwrap().contains("Max-Age=0"));
        // the old cookie is dead on the server, not just in the browser
        assert_eq!(b.get("/orgs/default").await.status, StatusCode::SEE_OTHER);

        // over TLS the cookie is Secure
        let tls = app.twin_with(|c| c.public_url = Some("https://registry.test".into()));
        let r = sign_in_post(&tls, &tls.admin, "/").await;
        assert!(set_cookie(&r, "granary_session").unwrap().ends_with("; Secure"));
    }
);

backend_test!(
    async fn revoking_the_key_ends_its_sessions(app) {
        let key = app.member("default", "olga", Role::Owner).await;
        let b = Browser::sign_in(&app, &key).await;
        assert_eq!(b.get("/orgs/default").await.status, StatusCode::OK);
        let id = app.state.db.authenticate(&granary_server::auth::hash_token(&key)).await.unwrap().unwrap().0.id;
        app.state.db.revoke_api_key(id).await.unwrap();
        assert_eq!(b.get("/orgs/default").await.status, StatusCode::SEE_OTHER);
    }
);

/// Publishes `org/name@version` (parquet, 10 rows) with the given config fields.
async fn publish(app: &TestApp, key: &str, org: &str, name: &str, version: &str, extra: Value) {
    let r = app
        .publish(key, org, name, version, &[("data/train.parquet", parquet(10))], extra)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", html(&r));
}

fn cards(page: &str) -> usize {
    page.matches("<article class=\"card\">").count()
}

backend_test!(
    async fn catalog_groups_versions_filters_sorts_and_pages(app) {
        publish(&app, &app.admin, "default", "alpha", "1.0.0", json!({"tags": ["nlp"], "license": "mit", "summary": "first"})).await;
        publish(&app, &app.admin, "default", "alpha", "1.2.0", json!({"tags": ["nlp", "qa"], "license": "mit", "summary": "second"})).await;
        publish(&app, &app.admin, "default", "beta", "0.1.0", json!({"tags": ["vision"], "license": "apache-2.0"})).await;
        for i in 0..22 {
            publish(&app, &app.admin, "default", &format!("bulk-{i:02}"), "1.0.0", json!({"tags": ["bulk"]})).await;
        }
        let b = Browser::sign_in(&app, &app.admin).await;

        // two versions of alpha: one card, showing the latest
        let page = html(&b.get("/orgs/default?search=alpha").await);
        assert_eq!(cards(&page), 1);
        assert!(page.contains("<dt>Latest version</dt><dd>1.2.0</dd>"), "{page}");
        assert!(page.contains("<p class=\"summary\">second</p>"));
        assert!(page.contains("1 dataset · 2 matching versions"));

        // facet counts are the facets endpoint's numbers
        let api = app.get("/api/v1/org/default/datasets/facets?search=alpha", &app.admin).await.json();
        assert_eq!(api["tags"], json!([{"value": "nlp", "count": 2}, {"value": "qa", "count": 1}]));
        assert!(page.contains("name=\"tags\" value=\"nlp\"> nlp <span class=\"count\">(2)</span>"), "{page}");
        assert!(page.contains("name=\"tags\" value=\"qa\"> qa <span class=\"count\">(1)</span>"));

        // filtering by a facet keeps the box checked; one match
        let page = html(&b.get("/orgs/default?license=apache-2.0").await);
        assert_eq!(cards(&page), 1);
        assert!(page.contains("name=\"license\" value=\"apache-2.0\" checked> apache-2.0"));
        assert!(page.contains("href=\"/orgs/default/datasets/beta\""));

        // 24 datasets, 20 to a page, sorted by name ascending
        let page = html(&b.get("/orgs/default?sort_by=name&sort_dir=asc").await);
        assert_eq!(cards(&page), 20);
        assert!(page.contains("24 datasets · 25 matching versions"));
        assert!(page.contains("<option value=\"name\" selected>Name</option>"));
        let first = page.find("default/alpha").unwrap();
        assert!(first < page.find("default/bulk-00").unwrap());
        assert!(page.contains("Page 1 of 2"));
        assert!(page.contains("href=\"/orgs/default?sort_by=name&amp;sort_dir=asc&amp;page=2\""), "{page}");
        let page = html(&b.get("/orgs/default?sort_by=name&sort_dir=asc&page=2").await);
        assert_eq!(cards(&page), 4);
        assert!(page.contains("default/bulk-21"));
        assert!(!page.contains("default/alpha"));
        // every sort key of the list endpoint is offered
        for key in ["created_at", "updated_at", "name", "row_count", "file_size_bytes"] {
            assert!(page.contains(&format!("<option value=\"{key}\"")), "{key}");
            assert_eq!(b.get(&format!("/orgs/default?sort_by={key}")).await.status, StatusCode::OK);
        }
        let r = b.get("/orgs/default?sort_by=stars").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(html(&r).contains("&quot;stars&quot; is not one of name, created_at, updated_at, row_count, file_size_bytes"));

        // include_public: another org's public dataset joins the list
        let other = app.member("other", "oscar", Role::Owner).await;
        publish(&app, &other, "other", "shared", "1.0.0", json!({})).await;
        publish(&app, &other, "other", "secret", "1.0.0", json!({})).await;
        app.json_call(Method::PATCH, "/api/v1/org/other/datasets/shared/visibility", &other, &json!({"is_public": true})).await;
        let page = html(&b.get("/orgs/default?search=s").await);
        assert!(!page.contains("other/shared"));
        let page = html(&b.get("/orgs/default?search=s&include_public=true").await);
        assert!(page.contains("other/shared"));
        for spelled in ["True", "1", "yes"] {
            let p = html(&b.get(&format!("/orgs/default?search=s&include_public={spelled}")).await);
            assert!(p.contains("other/shared"), "{spelled}");
        }
        assert!(!html(&b.get("/orgs/default?search=s&include_public=False").await).contains("other/shared"));
        assert!(page.contains("<dt>Visibility</dt><dd>Public</dd>"));
        assert!(!page.contains("other/secret"));
    }
);

backend_test!(
    async fn dataset_page_escapes_everything_users_publish(app) {
        let evil = format!("{XSS_SCRIPT} and {XSS_ATTR}");
        let jsonl = format!(
            "{}\n{}\n",
            json!({"text": XSS_SCRIPT, XSS_ATTR: 1}),
            json!({"text": XSS_ATTR, XSS_ATTR: 2})
        );
        let r = app
            .publish(
                &app.admin,
                "default",
                "evil",
                "1.0.0",
                &[("data/rows.jsonl", jsonl.into_bytes())],
                json!({
                    "format": "jsonl",
                    "summary": evil,
                    "pretty_name": XSS_ATTR,
                    "tags": [XSS_SCRIPT],
                    "license": XSS_ATTR,
                    "task_categories": [XSS_ATTR],
                    "origin": {"source": XSS_SCRIPT, XSS_ATTR: {"nested": XSS_ATTR}}
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", html(&r));
        let b = Browser::sign_in(&app, &app.admin).await;
        for uri in ["/orgs/default", "/orgs/default?search=evil", "/orgs/default/datasets/evil"] {
            let r = b.get(uri).await;
            assert_eq!(r.status, StatusCode::OK, "{uri}");
            let page = html(&r);
            assert_escaped(&page);
            assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{uri}: text kept, escaped");
        }
        let page = html(&b.get("/orgs/default/datasets/evil").await);
        // summary, column names and cells all rendered as text
        assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
        assert!(page.contains("<th scope=\"col\" title=\"int64\">&quot;&gt;&lt;img src=x onerror=alert(2)&gt;</th>"), "{page}");
        assert!(page.contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"));
        // the search box echoes its query escaped too
        let page = html(&b.get(&format!("/orgs/default?search={}", form(&[("q", XSS_ATTR)]).trim_start_matches("q="))).await);
        assert_escaped(&page);
        assert!(page.contains("value=\"&quot;&gt;&lt;img src=x onerror=alert(2)&gt;\""));
        // an error page echoing input escapes it as well
        let page = html(&b.get("/orgs/default/datasets/evil?version=%3Cscript%3E").await);
        assert_escaped(&page);
    }
);

backend_test!(
    async fn dataset_page_shows_schema_files_preview_and_counts_downloads(app) {
        let train = parquet(150);
        let origin = json!({"license": "mit", "origin": {"source": "https://example.org/qa"}});
        app.publish_qa(&train, &parquet(5), origin).await;
        publish(&app, &app.admin, "default", "qa", "2.0.0", json!({})).await;
        let b = Browser::sign_in(&app, &app.admin).await;

        // latest by default, with a selector of every version
        let page = html(&b.get("/orgs/default/datasets/qa").await);
        assert!(page.contains("<option value=\"2.0.0\" selected>2.0.0 (latest)</option>"), "{page}");
        assert!(page.contains("<option value=\"1.0.0\">1.0.0</option>"));

        let r = b.get("/orgs/default/datasets/qa?version=1.0.0").await;
        assert_eq!(r.status, StatusCode::OK);
        let page = html(&r);
        assert!(page.contains("<h2 id=\"schema-h\">Schema</h2>"));
        assert!(page.contains("<tr><td><code>id</code></td><td><code>int64</code></td></tr>"));
        assert!(page.contains("<tr><td><code>text</code></td><td><code>string</code></td></tr>"));
        assert!(page.contains("<dt>source</dt><dd>https://example.org/qa</dd>"));
        assert!(page.contains("<li class=\"badge license\">mit</li>"));
        assert!(page.contains("<code>data/train.parquet</code>"));
        let digest = granary_core::Digest::of(&train);
        assert!(page.contains(&format!("<code class=\"digest\">{digest}</code>")), "the full digest");
        assert!(page.contains("<td>train</td>"));
        // preview: 100 rows of the train split by default
        assert!(page.contains("Rows 0–99 of 150 in the <strong>train</strong> split"), "{page}");
        assert_eq!(page.matches("<th class=\"idx\" scope=\"row\">").count(), 100, "100 numbered rows");
        assert!(page.contains("<th class=\"idx\" scope=\"row\">99</th><td class=\"n\">99</td>"), "numbers stay whole");
        assert!(page.contains("<a rel=\"next\" href=\"/orgs/default/datasets/qa?version=1.0.0&amp;split=train&amp;offset=100#preview\">Next 100 →</a>"), "{page}");
        assert!(!page.contains("rel=\"prev\""));
        // the next page: the last 50 rows, a way back and none further
        let next = html(&b.get("/orgs/default/datasets/qa?version=1.0.0&split=train&offset=100").await);
        assert!(next.contains("Rows 100–149 of 150 in the <strong>train</strong> split"), "{next}");
        assert_eq!(next.matches("<th class=\"idx\" scope=\"row\">").count(), 50);
        assert!(next.contains("<th class=\"idx\" scope=\"row\">149</th><td class=\"n\">149</td><td>t149</td>"), "{next}");
        assert!(next.contains("<a rel=\"prev\" href=\"/orgs/default/datasets/qa?version=1.0.0&amp;split=train#preview\">← Previous 100</a>"));
        assert!(!next.contains("rel=\"next\""));
        let past = html(&b.get("/orgs/default/datasets/qa?version=1.0.0&split=train&offset=150").await);
        assert!(past.contains("No rows at 150 of 150"), "{past}");
        let r = b.get("/orgs/default/datasets/qa?version=1.0.0&offset=-3").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(html(&r).contains("offset &quot;-3&quot; is not a row number (0 or more)"));
        assert!(page.contains("<td>train</td><td class=\"num\">150</td>"), "the train file's rows");
        assert!(page.contains("<td>test</td><td class=\"num\">5</td>"), "the test file's rows");
        assert!(page.contains("<td>t99</td>"));
        assert!(!page.contains("<td>t100</td>"));
        // any split
        let page = html(&b.get("/orgs/default/datasets/qa?version=1.0.0&split=test").await);
        assert!(page.contains("Rows 0–4 of 5 in the <strong>test</strong> split"));
        assert!(page.contains("href=\"/orgs/default/datasets/qa?version=1.0.0&amp;split=train#preview\""));
        let r = b.get("/orgs/default/datasets/qa?version=1.0.0&split=nope").await;
        assert_eq!(r.status, StatusCode::OK, "the page stands; the preview says why it is empty");
        assert!(html(&r).contains("has no split &quot;nope&quot;; its splits are test, train"));

        // the download button: one counted event, then the bytes
        let token = csrf(&page);
        let dl = "/orgs/default/datasets/qa/1.0.0/download";
        let r = b.post(dl, &[("csrf", "forged"), ("file", "data/train.parquet")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = b.post(dl, &[("csrf", &token), ("file", "data/nope.parquet")]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = b.post(dl, &[("csrf", &token), ("file", "data/train.parquet")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let link = r.header("location").to_string();
        assert!(link.starts_with("http://registry.test/files/default/sha256:"), "{link}");
        let got = app.fetch_link(&link, None).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.body.as_ref(), &train[..]);
        let page = html(&b.get("/orgs/default/datasets/qa?version=1.0.0").await);
        assert!(page.contains("<dt>Downloads</dt><dd>1 of this version, 1 in all</dd>"), "exactly one counted");

        // and it is on the activity page, with filters
        let page = html(&b.get("/orgs/default/activity").await);
        assert!(page.contains("1 download"));
        assert!(page.contains("<a href=\"/orgs/default/datasets/qa\">default/qa</a>"));
        assert!(page.contains("<td>1.0.0</td><td>train</td><td>admin</td><td>default</td>"), "{page}");
        let page = html(&b.get("/orgs/default/activity?dataset=other").await);
        assert!(page.contains("0 downloads"));
        let admin_id = app.state.db.user_by_name("admin").await.unwrap().unwrap().id;
        let page = html(&b.get(&format!("/orgs/default/activity?user={admin_id}&dataset=qa")).await);
        assert!(page.contains("1 download"));
        assert!(page.contains(&format!("<option value=\"{admin_id}\" selected>admin</option>")));
    }
);

backend_test!(
    async fn private_pages_are_not_found_for_outsiders(app) {
        publish(&app, &app.admin, "default", "hidden", "1.0.0", json!({"summary": "top secret"})).await;
        let outsider = app.member("other", "eve", Role::Owner).await;
        let b = Browser::sign_in(&app, &outsider).await;
        let r = b.get("/orgs/default/datasets/hidden").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let page = html(&r);
        assert!(page.contains("dataset default/hidden not found"));
        assert!(!page.contains("top secret"));
        assert_eq!(b.get("/orgs/default/datasets/hidden?version=1.0.0&split=train").await.status, StatusCode::NOT_FOUND);
        assert_eq!(b.get("/orgs/default/datasets/absent").await.status, StatusCode::NOT_FOUND);
        let page = html(&b.get("/orgs/default").await);
        assert!(page.contains("0 datasets"));
        assert!(!page.contains("default/hidden"));
        assert_eq!(b.get("/orgs/default/activity").await.status, StatusCode::FORBIDDEN);
        assert_eq!(b.get("/orgs/default/settings").await.status, StatusCode::FORBIDDEN);
        let r = b.post("/orgs/default/datasets/hidden/1.0.0/download", &[("csrf", &csrf(&page)), ("file", "data/train.parquet")]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(b.get("/orgs/nope").await.status, StatusCode::NOT_FOUND);
    }
);

backend_test!(
    async fn settings_for_owners_keys_shown_once_and_revoked(app) {
        let reader = app.member("default", "rita", Role::Reader).await;
        let b = Browser::sign_in(&app, &reader).await;
        let r = b.get("/orgs/default/settings").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(html(&r).contains("the settings of organization default are for its owners"));
        let page = html(&b.get("/orgs/default").await);
        assert!(!page.contains("/orgs/default/settings"), "no settings link for readers");
        assert!(page.contains("href=\"/orgs/default/activity\""));

        let b = Browser::sign_in(&app, &app.admin).await;
        let page = html(&b.get("/orgs/default/settings").await);
        assert!(page.contains("<tr><td>rita</td><td>rita@example.com</td><td>reader</td></tr>"), "{page}");
        assert!(page.contains("Active (this session)"));
        let token = csrf(&page);
        let r = b.post("/orgs/default/settings/keys", &[("csrf", "x"), ("name", "ci")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = b.post("/orgs/default/settings/keys", &[("csrf", &token), ("name", " ")]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = b.post("/orgs/default/settings/keys", &[("csrf", &token), ("name", "ci <b>")]).await;
        assert_eq!(r.status, StatusCode::OK);
        let page = html(&r);
        let at = page.find("<code id=\"new-key\">").unwrap() + 19;
        let key = &page[at..at + page[at..].find('<').unwrap()];
        assert!(key.starts_with("gra_"), "{key}");
        assert!(page.contains("New API key “ci &lt;b&gt;”"));
        assert_eq!(app.get("/api/v1/user", key).await.status, StatusCode::OK, "the new key works");
        // shown once: the settings page lists it by prefix only
        let page = html(&b.get("/orgs/default/settings").await);
        assert!(!page.contains(key));
        assert!(page.contains(&format!("<code>{}…</code>", &key[..12])));

        // revoke it
        let id = app.state.db.authenticate(&granary_server::auth::hash_token(key)).await.unwrap().unwrap().0.id;
        let uri = format!("/orgs/default/settings/keys/{id}/revoke");
        assert_eq!(b.post(&uri, &[("csrf", "x")]).await.status, StatusCode::FORBIDDEN);
        let r = b.post(&uri, &[("csrf", &token)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(app.get("/api/v1/user", key).await.status, StatusCode::UNAUTHORIZED);
        // someone else's key cannot be revoked here
        let rid = app.state.db.authenticate(&granary_server::auth::hash_token(&reader)).await.unwrap().unwrap().0.id;
        let r = b.post(&format!("/orgs/default/settings/keys/{rid}/revoke"), &[("csrf", &token)]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/api/v1/user", &reader).await.status, StatusCode::OK);
    }
);

#[tokio::test]
async fn static_assets_are_served() {
    let app = TestApp::new().await;
    let css = app
        .send(Request::get("/static/granary.css").body(Body::empty()).unwrap())
        .await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), "text/css; charset=utf-8");
    assert!(html(&css).contains("@media (max-width: 48rem)"));
    let js = app
        .send(Request::get("/static/granary.js").body(Body::empty()).unwrap())
        .await;
    assert_eq!(js.header("content-type"), "text/javascript; charset=utf-8");
    assert!(js.body.len() < 2048, "the script stays small");
}

#[tokio::test]
async fn browsers_get_html_error_pages_and_clients_the_envelope() {
    let app = TestApp::new().await;
    let page = Request::get("/no/such/page")
        .header("accept", "text/html,application/xhtml+xml")
        .body(Body::empty());
    let r = app.send(page.unwrap()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
    assert!(html(&r).contains("<p class=\"error\" role=\"alert\">no such route</p>"));
    let r = app
        .send(Request::get("/no/such/page").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.json(), crate::helpers::envelope(404, "not_found", "no such route"));
    // the API stays JSON even for a browser
    let api = Request::get("/api/v1/nope")
        .header("accept", "text/html")
        .body(Body::empty());
    assert_eq!(app.send(api.unwrap()).await.header("content-type"), "application/json");
}

backend_test!(
    async fn activity_pages_fifty_at_a_time(app) {
        publish(&app, &app.admin, "default", "busy", "1.0.0", json!({})).await;
        for _ in 0..61 {
            let r = app
                .post_json("/api/v1/org/default/datasets/busy/1.0.0/download", &app.admin, &json!({}))
                .await;
            assert_eq!(r.status, StatusCode::OK);
        }
        let b = Browser::sign_in(&app, &app.admin).await;
        let page = html(&b.get("/orgs/default/activity?dataset=busy").await);
        assert!(page.contains("61 downloads"));
        assert_eq!(page.matches("<td>default</td></tr>").count(), 50);
        assert!(page.contains("Page 1 of 2"));
        assert!(page.contains("<a rel=\"next\" href=\"/orgs/default/activity?dataset=busy&amp;page=2\">"), "{page}");
        let page = html(&b.get("/orgs/default/activity?dataset=busy&page=2").await);
        assert_eq!(page.matches("<td>default</td></tr>").count(), 11);
        assert!(page.contains("<a rel=\"prev\" href=\"/orgs/default/activity?dataset=busy\">"));
    }
);

/// A parquet file with a `decimal128(22, 2)` and a `timestamp[us, tz=America/New_York]`
/// column, as pandas writes a zoned datetime.
fn exact_values_parquet() -> Vec<u8> {
    use arrow_array::{ArrayRef, Decimal128Array, RecordBatch, TimestampMicrosecondArray};
    use std::sync::Arc;
    let amount: ArrayRef = Arc::new(
        Decimal128Array::from(vec![1234567890123456789012i128, 10])
            .with_precision_and_scale(22, 2)
            .unwrap(),
    );
    let at: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from(vec![1_700_000_000_123_456, 1_615_705_200_000_000])
            .with_timezone("America/New_York"),
    );
    let batch = RecordBatch::try_from_iter([("amount", amount), ("at", at)]).unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

backend_test!(
    async fn previews_show_exact_decimals_and_named_zones_in_the_api_and_the_page(app) {
        let r = app
            .publish(&app.admin, "default", "exact", "1.0.0", &[("data/train.parquet", exact_values_parquet())], json!({}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let p = app.get("/api/v1/org/default/datasets/exact/1.0.0/preview", &app.admin).await;
        assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
        assert_eq!(
            p.json()["rows"],
            json!([
                {"amount": "12345678901234567890.12", "at": "2023-11-14T17:13:20.123456-05:00"},
                {"amount": "0.10", "at": "2021-03-14T03:00:00.000000-04:00"}
            ])
        );
        let b = Browser::sign_in(&app, &app.admin).await;
        let page = html(&b.get("/orgs/default/datasets/exact").await);
        assert!(page.contains("<td>12345678901234567890.12</td>"), "{page}");
        assert!(page.contains("<td>0.10</td>"));
        assert!(page.contains("<td>2023-11-14T17:13:20.123456-05:00</td>"));
        assert!(page.contains("<code>timestamp[us, tz=America/New_York]</code>"));
    }
);

backend_test!(
    async fn dataset_cards_are_stored_returned_and_rendered_sanitized(app) {
        let card = format!(
            "# Questions\n\nA **small** set; see [the paper](https://example.org/p).\n\n\
             {XSS_SCRIPT}\n\n{XSS_ATTR}\n\n[click](javascript:alert(3))\n\n| split | rows |\n|---|---|\n| train | 10 |\n"
        );
        publish(&app, &app.admin, "default", "carded", "1.0.0", json!({"description": card})).await;
        // The API returns the markdown exactly as published.
        let d = app.get("/api/v1/org/default/datasets/carded/1.0.0", &app.admin).await.json();
        assert_eq!(d["description"], json!(card));
        // A version without one says null.
        publish(&app, &app.admin, "default", "plain", "1.0.0", json!({})).await;
        let d = app.get("/api/v1/org/default/datasets/plain", &app.admin).await.json();
        assert_eq!(d["description"], Value::Null);

        let b = Browser::sign_in(&app, &app.admin).await;
        let page = html(&b.get("/orgs/default/datasets/carded").await);
        assert_escaped(&page);
        assert!(!page.contains("javascript:"), "script links are dropped");
        assert!(page.contains("<h2 id=\"card-h\">Dataset card</h2>"));
        assert!(page.contains("<h3>Questions</h3>"), "{page}");
        assert!(page.contains("<strong>small</strong>"));
        assert!(page.contains(
            "<a href=\"https://example.org/p\" rel=\"noopener noreferrer nofollow\">the paper</a>"
        ));
        assert!(page.contains("<td>train</td>"));
        let page = html(&b.get("/orgs/default/datasets/plain").await);
        assert!(!page.contains("card-h"), "no card section without a card");
    }
);

backend_test!(
    async fn history_downloads_chart_diff_page_and_snippets(app) {
        publish(&app, &app.admin, "default", "hist", "1.0.0", json!({"license": "mit"})).await;
        let r = app
            .publish(
                &app.admin,
                "default",
                "hist",
                "1.1.0",
                &[("data/train.parquet", parquet(12)), ("data/extra.parquet", parquet(3))],
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        for v in ["1.0.0", "1.1.0", "1.1.0"] {
            let r = app
                .post_json(&format!("/api/v1/org/default/datasets/hist/{v}/download"), &app.admin, &json!({}))
                .await;
            assert_eq!(r.status, StatusCode::OK);
        }
        let b = Browser::sign_in(&app, &app.admin).await;
        let page = html(&b.get("/orgs/default/datasets/hist").await);
        // the history, newest first, each linked to its diff
        assert!(page.contains("<h2 id=\"versions-h\">Versions</h2>"));
        assert!(page.contains(
            "<a href=\"/orgs/default/datasets/hist/diff?from=1.0.0&amp;to=1.1.0\">Diff from 1.0.0</a>"
        ), "{page}");
        assert!(page.contains("<td>First version</td>"));
        // downloads: this version's, all versions', and a bar per day
        assert!(page.contains("<dd>2 of this version, 3 in all</dd>"), "{page}");
        assert!(page.contains("<strong>3</strong> downloads of all versions; 3 in the last 30 days."));
        assert_eq!(page.matches("<rect class=\"bar\"").count(), 30);
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        assert!(page.contains(&format!("<title>{today}: 3</title>")), "{page}");
        // how to load it
        assert!(page.contains("granary dataset pull default/hist@1.1.0 --output ./data"));
        assert!(page.contains("dn dataset pull default/hist@1.1.0"));
        assert!(page.contains("read_parquet(&#39;$URL&#39;)") || page.contains("read_parquet('$URL')"), "{page}");
        // the catalog card counts every version
        let cat = html(&b.get("/orgs/default").await);
        assert!(cat.contains("<div><dt>Downloads</dt><dd>3</dd></div>"), "{cat}");

        // the diff page
        let r = b.get("/orgs/default/datasets/hist/diff?from=1.0.0&to=1.1.0").await;
        assert_eq!(r.status, StatusCode::OK);
        let diff = html(&r);
        assert!(diff.contains("<h1>default/hist 1.0.0 → 1.1.0</h1>"), "{diff}");
        assert!(diff.contains("The same columns with the same types."));
        assert!(diff.contains("<dd>10 → 15 <span class=\"up\">(+5)</span></dd>"), "{diff}");
        assert!(diff.contains("<tr class=\"added\"><td>added</td><td><code>data/extra.parquet</code></td>"));
        assert!(diff.contains("<tr class=\"changed\"><td>changed</td><td><code>data/train.parquet</code></td>"));
        assert!(diff.contains("Changed: license"));
        let r = b.get("/orgs/default/datasets/hist/diff?to=1.0.0").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html(&r).contains("default/hist@1.0.0 is the first version"));
    }
);

backend_test!(
    async fn owners_publish_unpublish_and_delete_from_the_page(app) {
        publish(&app, &app.admin, "default", "own", "1.0.0", json!({})).await;
        publish(&app, &app.admin, "default", "own", "1.1.0", json!({})).await;
        let reader = app.member("default", "rita", Role::Reader).await;
        let r = Browser::sign_in(&app, &reader).await;
        let page = html(&r.get("/orgs/default/datasets/own").await);
        assert!(!page.contains("manage-h"), "readers see no owner actions");
        let token = csrf(&page);
        let res = r.post("/orgs/default/datasets/own/visibility", &[("csrf", &token), ("is_public", "true")]).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "the API's role rule");
        assert!(html(&res).contains("your role in organization default is reader"));

        let b = Browser::sign_in(&app, &app.admin).await;
        let page = html(&b.get("/orgs/default/datasets/own").await);
        assert!(page.contains("<h2 id=\"manage-h\">Manage</h2>"));
        assert!(page.contains("data-confirm=\"Publish default/own? Every organization will see all of its versions.\""));
        assert!(page.contains("<input type=\"checkbox\" name=\"confirm\" value=\"yes\" required>"));
        let token = csrf(&page);
        // CSRF first
        let res = b.post("/orgs/default/datasets/own/visibility", &[("csrf", "forged"), ("is_public", "true")]).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        let res = b.post("/orgs/default/datasets/own/visibility", &[("csrf", &token), ("is_public", "true")]).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        assert_eq!(res.header("location"), "/orgs/default/datasets/own");
        let d = app.get("/api/v1/org/default/datasets/own", &app.admin).await.json();
        assert_eq!(d["is_public"], true);
        let page = html(&b.get("/orgs/default/datasets/own").await);
        assert!(page.contains(">Make private</button>"));
        let res = b.post("/orgs/default/datasets/own/visibility", &[("csrf", &token), ("is_public", "false")]).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        assert_eq!(app.get("/api/v1/org/default/datasets/own", &app.admin).await.json()["is_public"], false);

        // delete: the box must be ticked; then the version is gone, the page shows the rest
        let res = b.post("/orgs/default/datasets/own/1.1.0/delete", &[("csrf", &token)]).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert!(html(&res).contains("tick the box to confirm the deletion"));
        let res = b.post("/orgs/default/datasets/own/1.1.0/delete", &[("csrf", &token), ("confirm", "yes")]).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        assert_eq!(res.header("location"), "/orgs/default/datasets/own");
        let v = app.get("/api/v1/org/default/datasets/own/versions", &app.admin).await.json();
        assert_eq!(v["versions"], json!(["1.0.0"]));
        let res = b.post("/orgs/default/datasets/own/1.1.0/delete", &[("csrf", &token), ("confirm", "yes")]).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        // the last version: back to the catalog
        let res = b.post("/orgs/default/datasets/own/1.0.0/delete", &[("csrf", &token), ("confirm", "yes")]).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER);
        assert_eq!(res.header("location"), "/orgs/default");
        assert_eq!(app.get("/api/v1/org/default/datasets/own", &app.admin).await.status, StatusCode::NOT_FOUND);
    }
);

backend_test!(
    async fn statistics_charts_and_rendition_downloads_in_the_page(app) {
        let csv = "n,word,flag\n1,a,true\n2,b,false\n3,a,\n,a,true\n";
        let r = app
            .publish(&app.admin, "default", "small", "1.0.0", &[("t.csv", csv.into())], json!({"format": "csv"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let b = Browser::sign_in(&app, &app.admin).await;
        let page = html(&b.get("/orgs/default/datasets/small").await);
        assert!(page.contains("Statistics of the <strong>default</strong> split are pending"), "{page}");
        assert!(page.contains("Parquet renditions: pending."));
        granary_server::viewer::run_once(&app.state).await.unwrap();
        let page = html(&b.get("/orgs/default/datasets/small").await);
        assert!(page.contains("The <strong>default</strong> split: 4 rows."), "{page}");
        assert_eq!(page.matches("<article class=\"stat\">").count(), 3);
        assert!(page.contains("<h3><code>n</code> <span class=\"type\">int64</span></h3><p class=\"nulls\">1 null (25.0%)</p>"), "{page}");
        assert!(page.contains("<div><dt>median</dt><dd>2</dd></div>"));
        assert!(page.contains("<svg class=\"mini\" viewBox=\"0 0 160 40\" role=\"img\" aria-label=\"Histogram of n\">"));
        assert!(page.contains("aria-label=\"Most frequent values of word\""));
        assert!(page.contains("<title>a: 3</title>"));
        assert!(page.contains("<div><dt>n_unique</dt><dd>2</dd></div>"));
        // the rendition, downloaded from the page through a counted link
        assert!(page.contains("<code>t.csv.parquet</code>"));
        let token = csrf(&page);
        let r = b
            .post("/orgs/default/datasets/small/1.0.0/download", &[("csrf", &token), ("file", "t.csv.parquet")])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let got = app.fetch_link(r.header("location"), None).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(&got.body[..4], b"PAR1");
        let d = app.get("/api/v1/org/default/datasets/small/1.0.0", &app.admin).await.json();
        assert_eq!(granary_core::Digest::of(&got.body).to_string(), d["viewer"]["renditions"][0]["digest"].as_str().unwrap());
        assert_eq!(d["download_count"], 1);

        // search and filter in the page, as the API answers them
        let page = html(&b.get("/orgs/default/datasets/small?q=A").await);
        assert!(page.contains("3 matching rows; 0–2 shown of default/small@1.0.0."), "{page}");
        assert!(page.contains("<th class=\"idx\" scope=\"row\">3</th>"), "row indexes are the split's");
        let page = html(&b.get("/orgs/default/datasets/small?where=n%20%3E%201&orderby=n%20DESC").await);
        assert!(page.contains("2 matching rows"), "{page}");
        let first = page.find("<th class=\"idx\" scope=\"row\">2</th>").unwrap();
        let second = page.find("<th class=\"idx\" scope=\"row\">1</th>").unwrap();
        assert!(first < second, "n = 3 (row 2) before n = 2 (row 1)");
        assert!(page.contains("value=\"n &gt; 1\""), "the form keeps the condition");
        let page = html(&b.get("/orgs/default/datasets/small?where=n%20%3E").await);
        assert!(page.contains("No rows: the filter: expected a value, found the end"), "{page}");
    }
);
