//! Every route that serves bytes answers conditional and range requests the same way
//! (RFC 9110 §13, §14) and names downloads by RFC 6266.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use granary_core::Digest;
use serde_json::json;

use crate::helpers::backend_test;
use crate::helpers::{Resp, TestApp};

const NAME: &str = "déjà vu 日本.csv";

/// The parts of a `multipart/byteranges` body: (Content-Range, bytes).
fn parts(resp: &Resp) -> Vec<(String, Vec<u8>)> {
    let ct = resp.header("content-type");
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{ct}"));
    let delimiter = format!("--{boundary}");
    let body = resp.body.as_ref();
    let text = String::from_utf8_lossy(body);
    assert!(text.ends_with(&format!("\r\n{delimiter}--\r\n")), "{text}");
    let mut out = Vec::new();
    let mut at = 0;
    let find = |from: usize, needle: &[u8]| {
        body[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    while let Some(start) = find(at, delimiter.as_bytes()) {
        let after = start + delimiter.len();
        if body[after..].starts_with(b"--") {
            break;
        }
        let head_end = find(after, b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&body[after..head_end]).to_string();
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .unwrap()
            .to_string();
        let next = find(head_end, format!("\r\n{delimiter}").as_bytes()).unwrap();
        out.push((range, body[head_end + 4..next].to_vec()));
        at = next + 2;
    }
    out
}

async fn request(app: &TestApp, method: Method, path: &str, key: Option<&str>, headers: &[(&str, String)]) -> Resp {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        b = b.header("Authorization", format!("Bearer {k}"));
    }
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    app.send(b.body(Body::empty()).unwrap()).await
}

backend_test! {
    async fn every_byte_route_follows_rfc_9110_and_names_downloads_by_rfc_6266(app) {
    let bytes: Vec<u8> = (0..200).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    let data = [b"x\n".to_vec(), bytes].concat();
    let size = data.len();
    let digest = Digest::of(&data);
    let path = format!("data/{NAME}");
    let r = app
        .publish(&app.admin, "default", "deja", "1.0.0", &[(path.as_str(), data.clone())], json!({"format": "csv"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let link = app
        .post_json("/api/v1/org/default/datasets/deja/1.0.0/download", &app.admin, &json!({}))
        .await
        .json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        link.contains("/d%C3%A9j%C3%A0%20vu%20%E6%97%A5%E6%9C%AC.csv?expires="),
        "the link keeps the name, percent-encoded: {link}"
    );
    let link = link.strip_prefix("http://registry.test").unwrap().to_string();
    let key = app.admin.clone();
    let routes: Vec<(String, Option<&str>)> = vec![
        (link.clone(), None),
        (format!("/api/v1/default/blobs/{digest}"), Some(key.as_str())),
        (format!("/api/v1/default/deja/blobs/{digest}"), Some(key.as_str())),
        (format!("/v2/default/deja/blobs/{digest}"), Some(key.as_str())),
    ];
    let etag = format!("\"{digest}\"");
    let whole = request(&app, Method::GET, &routes[0].0, None, &[]).await;
    let lm = whole.header("last-modified").to_string();
    let t = chrono::DateTime::parse_from_rfc2822(&lm).unwrap();
    let date = |s: i64| (t + chrono::Duration::seconds(s)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let (before, after) = (date(-1), date(1));
    let s = |v: &str| v.to_string();
    type Row = (Method, Vec<(&'static str, String)>, StatusCode, Option<(usize, usize)>);
    let (g, h) = (Method::GET, Method::HEAD);
    let rows: Vec<Row> = vec![
        (g.clone(), vec![], StatusCode::OK, Some((0, size))),
        (h.clone(), vec![], StatusCode::OK, None),
        (g.clone(), vec![("if-match", etag.clone())], StatusCode::OK, Some((0, size))),
        (g.clone(), vec![("if-match", s("*"))], StatusCode::OK, Some((0, size))),
        (g.clone(), vec![("if-match", s("\"sha256:00\""))], StatusCode::PRECONDITION_FAILED, None),
        (g.clone(), vec![("if-match", format!("W/{etag}"))], StatusCode::PRECONDITION_FAILED, None),
        (h.clone(), vec![("if-match", s("\"x\""))], StatusCode::PRECONDITION_FAILED, None),
        (g.clone(), vec![("if-unmodified-since", lm.clone())], StatusCode::OK, Some((0, size))),
        (g.clone(), vec![("if-unmodified-since", before.clone())], StatusCode::PRECONDITION_FAILED, None),
        (g.clone(), vec![("if-none-match", etag.clone())], StatusCode::NOT_MODIFIED, None),
        (h.clone(), vec![("if-none-match", format!("W/{etag}"))], StatusCode::NOT_MODIFIED, None),
        (g.clone(), vec![("if-none-match", s("*"))], StatusCode::NOT_MODIFIED, None),
        (g.clone(), vec![("if-none-match", s("\"x\""))], StatusCode::OK, Some((0, size))),
        (g.clone(), vec![("if-modified-since", lm.clone())], StatusCode::NOT_MODIFIED, None),
        (g.clone(), vec![("if-modified-since", after.clone())], StatusCode::NOT_MODIFIED, None),
        (g.clone(), vec![("if-modified-since", before.clone())], StatusCode::OK, Some((0, size))),
        (g.clone(), vec![("if-none-match", s("\"x\"")), ("if-modified-since", lm.clone())], StatusCode::OK, Some((0, size))),
        (g.clone(), vec![("range", s("bytes=0-9"))], StatusCode::PARTIAL_CONTENT, Some((0, 10))),
        (g.clone(), vec![("range", s("bytes=100-"))], StatusCode::PARTIAL_CONTENT, Some((100, size))),
        (g.clone(), vec![("range", s("bytes=-7"))], StatusCode::PARTIAL_CONTENT, Some((size - 7, size))),
        (g.clone(), vec![("range", format!("bytes=-{}", size + 5))], StatusCode::PARTIAL_CONTENT, Some((0, size))),
        (g.clone(), vec![("range", format!("bytes={size}-"))], StatusCode::RANGE_NOT_SATISFIABLE, None),
        (g.clone(), vec![("range", s("bytes=9-3"))], StatusCode::OK, Some((0, size))),
        (h.clone(), vec![("range", s("bytes=0-9"))], StatusCode::OK, None),
        (g.clone(), vec![("range", s("bytes=0-9")), ("if-range", etag.clone())], StatusCode::PARTIAL_CONTENT, Some((0, 10))),
        (g.clone(), vec![("range", s("bytes=0-9")), ("if-range", lm.clone())], StatusCode::PARTIAL_CONTENT, Some((0, 10))),
        (g.clone(), vec![("range", s("bytes=0-9")), ("if-range", s("\"old\""))], StatusCode::OK, Some((0, size))),
        (g.clone(), vec![("range", s("bytes=0-9")), ("if-range", format!("W/{etag}"))], StatusCode::OK, Some((0, size))),
        (g.clone(), vec![("range", s("bytes=0-9")), ("if-range", before.clone())], StatusCode::OK, Some((0, size))),
        (g.clone(), vec![("range", s("bytes=0-9")), ("if-none-match", etag.clone())], StatusCode::NOT_MODIFIED, None),
    ];
    for (path, key) in &routes {
        for (method, headers, status, want) in &rows {
            // `/v2/` answers an inverted range 416, as the OCI conformance suite asks.
            let inverted = path.starts_with("/v2/") && headers.iter().any(|(_, v)| v == "bytes=9-3");
            let (status, want) = if inverted {
                (&StatusCode::RANGE_NOT_SATISFIABLE, &None)
            } else {
                (status, want)
            };
            let r = request(&app, method.clone(), path, *key, headers).await;
            assert_eq!(r.status, *status, "{method} {path} {headers:?}: {:?}", String::from_utf8_lossy(&r.body));
            if status.is_success() || *status == StatusCode::NOT_MODIFIED {
                assert_eq!(r.header("etag"), etag, "{path} {headers:?}");
                assert_eq!(r.header("last-modified"), lm, "{path} {headers:?}");
            }
            match want {
                Some((a, b)) => {
                    assert_eq!(r.body.as_ref(), &data[*a..*b], "{path} {headers:?}");
                    assert_eq!(r.header("content-length"), (b - a).to_string());
                    if *status == StatusCode::PARTIAL_CONTENT {
                        assert_eq!(r.header("content-range"), format!("bytes {a}-{}/{size}", b - 1));
                    }
                }
                None => assert!(r.body.is_empty() || !status.is_success(), "{path} {headers:?}"),
            }
            if *method == Method::HEAD && *status == StatusCode::OK {
                assert_eq!(r.header("content-length"), size.to_string());
            }
            if *status == StatusCode::RANGE_NOT_SATISFIABLE {
                assert_eq!(r.header("content-range"), format!("bytes */{size}"));
            }
        }
        // Several ranges: multipart/byteranges, parts in the order asked.
        let r = request(&app, Method::GET, path, *key, &[("range", s("bytes=0-4, 50-59, -3"))]).await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.header("content-length"), r.body.len().to_string());
        let want = vec![
            (format!("bytes 0-4/{size}"), data[0..5].to_vec()),
            (format!("bytes 50-59/{size}"), data[50..60].to_vec()),
            (format!("bytes {}-{}/{size}", size - 3, size - 1), data[size - 3..].to_vec()),
        ];
        assert_eq!(parts(&r), want, "{path}");
    }

    // RFC 6266 names: the link always, blob routes when asked.
    let disposition = "attachment; filename=\"d_j_ vu __.csv\"; filename*=UTF-8''d%C3%A9j%C3%A0%20vu%20%E6%97%A5%E6%9C%AC.csv";
    assert_eq!(whole.header("content-disposition"), disposition);
    for (path, key) in &routes[1..] {
        let r = request(&app, Method::GET, path, *key, &[]).await;
        assert!(r.headers.get("content-disposition").is_none(), "{path}");
        let named = format!("{path}?filename=d%C3%A9j%C3%A0%20vu%20%E6%97%A5%E6%9C%AC.csv");
        let r = request(&app, Method::GET, &named, *key, &[]).await;
        assert_eq!(r.header("content-disposition"), disposition, "{path}");
    }
}
}

backend_test! {
    async fn empty_blobs_answer_ranges_by_rfc_9110(app) {
    app.push_blob(&app.admin, "default", "empty", b"").await;
    let path = format!("/api/v1/default/blobs/{}", Digest::of(b""));
    let key = app.admin.clone();
    for (range, status) in [
        ("bytes=0-", StatusCode::RANGE_NOT_SATISFIABLE),
        ("bytes=0-0", StatusCode::RANGE_NOT_SATISFIABLE),
        ("bytes=-5", StatusCode::OK),
    ] {
        let r = request(&app, Method::GET, &path, Some(&key), &[("range", range.to_string())]).await;
        assert_eq!(r.status, status, "{range}");
        assert!(r.body.is_empty() || status != StatusCode::OK, "{range}");
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            assert_eq!(r.header("content-range"), "bytes */0");
        } else {
            assert_eq!(r.header("content-length"), "0");
        }
    }
}
}

#[tokio::test]
async fn web_assets_revalidate_and_serve_ranges() {
    let app = TestApp::new().await;
    for path in ["/static/granary.css", "/static/granary.js"] {
        let whole = request(&app, Method::GET, path, None, &[]).await;
        assert_eq!(whole.status, StatusCode::OK);
        let etag = whole.header("etag").to_string();
        assert_eq!(whole.header("cache-control"), "public, max-age=3600");
        let r = request(&app, Method::GET, path, None, &[("if-none-match", etag.clone())]).await;
        assert_eq!((r.status, r.body.len()), (StatusCode::NOT_MODIFIED, 0));
        let r = request(&app, Method::GET, path, None, &[("range", "bytes=0-9".into())]).await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.body.as_ref(), &whole.body[..10]);
        let r = request(&app, Method::GET, path, None, &[("if-match", "\"stale\"".into())]).await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    }
}
