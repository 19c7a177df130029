//! Serving bytes over HTTP: streamed with `Content-Length`, a strong `ETag`, `Last-Modified`,
//! and RFC 9110 conditional and range requests ([`crate::conditional`]); and naming
//! downloads (RFC 6266 `Content-Disposition`).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use granary_core::Digest;
use std::ops::Range;

use crate::conditional::{evaluate, format_http_date, Outcome, Representation};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::AppState;

/// Characters RFC 8187 lets stand unescaped in an `ext-value` (`attr-char`).
const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition: attachment` naming `name` (RFC 6266): `filename="…"` is an ASCII
/// fallback (each other character, `"` and `\` become `_`, control characters are dropped)
/// and `filename*=UTF-8''…` the exact name, percent-encoded (RFC 8187), which browsers and
/// `curl -OJ` prefer. `déjà vu.csv` → `attachment; filename="d_j_ vu.csv";
/// filename*=UTF-8''d%C3%A9j%C3%A0%20vu.csv`.
pub fn content_disposition(name: &str) -> HeaderValue {
    let fallback: String = name
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c.is_ascii() && c != '"' && c != '\\' { c } else { '_' })
        .collect();
    let exact = percent_encoding::utf8_percent_encode(name, ATTR_CHAR);
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"
    ))
    .expect("visible ASCII only")
}

/// A stream of body bytes, as [`serve`] sends them.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Answers a `GET` or `HEAD` of a representation by RFC 9110 (see
/// [`conditional::evaluate`]): 200, 206 (one range, or `multipart/byteranges`), 304, 412 or
/// 416. Every answer but 412 and 416 carries `ETag`, `Last-Modified` (when known) and
/// `Accept-Ranges: bytes`; `extra` headers (such as `Docker-Content-Digest`) go on 200 and
/// 206. `fetch(range)` streams the bytes of a range, `None` for the whole; it is called
/// only for a `GET` that sends bytes.
pub async fn serve<F, Fut>(
    method: &Method,
    headers: &HeaderMap,
    rep: &Representation,
    content_type: &str,
    extra: &[(HeaderName, HeaderValue)],
    fetch: F,
) -> ApiResult<Response>
where
    F: Fn(Option<Range<u64>>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ApiResult<ByteStream>> + Send + 'static,
{
    let size = rep.size;
    let outcome = evaluate(method, headers, rep);
    let mut b = Response::builder().header(header::ETAG, &rep.etag);
    if let Some(lm) = rep.last_modified {
        b = b.header(header::LAST_MODIFIED, format_http_date(lm));
    }
    b = b.header(header::ACCEPT_RANGES, "bytes");
    let head = method == Method::HEAD;
    let with_extra = |mut b: axum::http::response::Builder| {
        for (k, v) in extra {
            b = b.header(k, v);
        }
        b
    };
    let response = match outcome {
        Outcome::PreconditionFailed => {
            return Err(ApiError::new(
                ErrorKind::PreconditionFailed,
                format!("precondition failed: the current entity tag is {}", rep.etag),
            ))
        }
        Outcome::Unsatisfiable => {
            let mut e = ApiError::new(
                ErrorKind::RangeNotSatisfiable,
                format!("range not satisfiable; the blob has {size} bytes"),
            );
            e.range_size = Some(size);
            return Err(e);
        }
        Outcome::NotModified => b.status(StatusCode::NOT_MODIFIED).body(Body::empty()),
        Outcome::Full => {
            let body = if head || size == 0 {
                Body::empty()
            } else {
                Body::from_stream(fetch(None).await?)
            };
            with_extra(b)
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, content_type)
                .header(header::CONTENT_LENGTH, size)
                .body(body)
        }
        Outcome::Partial(r) => {
            let len = r.end - r.start;
            let range = format!("bytes {}-{}/{size}", r.start, r.end - 1);
            with_extra(b)
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_TYPE, content_type)
                .header(header::CONTENT_RANGE, range)
                .header(header::CONTENT_LENGTH, len)
                .body(Body::from_stream(fetch(Some(r)).await?))
        }
        Outcome::Multipart(ranges) => {
            let boundary = uuid::Uuid::new_v4().simple().to_string();
            let mut pieces: Vec<Result<Bytes, Range<u64>>> = Vec::new();
            let mut len = 0u64;
            for (i, r) in ranges.into_iter().enumerate() {
                let lead = if i == 0 { "" } else { "\r\n" };
                let part = format!(
                    "{lead}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {}-{}/{size}\r\n\r\n",
                    r.start,
                    r.end - 1
                );
                len += part.len() as u64 + (r.end - r.start);
                pieces.push(Ok(Bytes::from(part)));
                pieces.push(Err(r));
            }
            let close = format!("\r\n--{boundary}--\r\n");
            len += close.len() as u64;
            pieces.push(Ok(Bytes::from(close)));
            let fetch = std::sync::Arc::new(fetch);
            let body = futures::stream::iter(pieces)
                .then(move |piece| {
                    let fetch = fetch.clone();
                    async move {
                        match piece {
                            Ok(bytes) => Ok(futures::stream::once(async { Ok(bytes) }).boxed()),
                            Err(range) => fetch(Some(range)).await.map_err(|e| std::io::Error::other(e.detail)),
                        }
                    }
                })
                .try_flatten();
            with_extra(b)
                .status(StatusCode::PARTIAL_CONTENT)
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/byteranges; boundary={boundary}"),
                )
                .header(header::CONTENT_LENGTH, len)
                .body(Body::from_stream(body))
        }
    };
    response.map_err(ApiError::internal)
}

/// Responds to a `GET` or `HEAD` of the org's blob by [`serve`]: its digest is the strong
/// `ETag`, the store's modification time `Last-Modified`.
pub async fn serve_blob(
    state: &AppState,
    org: &str,
    digest: &Digest,
    headers: &HeaderMap,
    method: &Method,
) -> ApiResult<Response> {
    let meta = state
        .blobs
        .head(org, digest)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("blob {digest} not found")).oci("BLOB_UNKNOWN"))?;
    let rep = Representation {
        size: meta.size,
        etag: format!("\"{digest}\""),
        // HTTP dates hold whole seconds; a finer time would never equal an If-Range date.
        last_modified: chrono::DateTime::from_timestamp(meta.last_modified.timestamp(), 0),
    };
    let extra = [(
        HeaderName::from_static("docker-content-digest"),
        HeaderValue::from_str(&digest.to_string()).map_err(ApiError::internal)?,
    )];
    let (store, org, digest) = (state.blobs.clone(), org.to_string(), digest.clone());
    serve(
        method,
        headers,
        &rep,
        "application/octet-stream",
        &extra,
        move |range| {
            let (store, org, digest) = (store.clone(), org.clone(), digest.clone());
            async move {
                let blob = store.get(&org, &digest, range).await?;
                Ok(blob.stream.map_err(std::io::Error::other).boxed())
            }
        },
    )
    .await
}
