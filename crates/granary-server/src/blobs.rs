//! Serving blob bytes over HTTP: streamed from the blob store with `Content-Length`, a
//! strong `ETag` (the digest) and single-range `Range` requests (206/416).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use futures::TryStreamExt;
use granary_core::Digest;
use std::ops::Range;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::AppState;

/// Parses a `Range` header against a blob of `size` bytes. `Ok(None)`: serve it whole
/// (no header, a malformed one, or several ranges, which RFC 9110 lets a server ignore).
pub fn parse_range(value: Option<&HeaderValue>, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(spec) = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(());
        }
        size.saturating_sub(n)..size
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            size
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => (e + 1).min(size),
                _ => return Ok(None),
            }
        };
        if start >= size {
            return Err(());
        }
        start..end
    };
    Ok(Some(range))
}

/// Responds with the org's blob (or a range of it). `head` sends headers only.
pub async fn serve_blob(
    state: &AppState,
    org: &str,
    digest: &Digest,
    headers: &HeaderMap,
    head: bool,
) -> ApiResult<Response> {
    let size = state
        .blobs
        .stat(org, digest)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("blob {digest} not found")).oci("BLOB_UNKNOWN"))?;
    let etag = format!("\"{digest}\"");
    if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        if inm.split(',').any(|t| t.trim() == etag || t.trim() == "*") {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            resp.headers_mut()
                .insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
            return Ok(resp);
        }
    }
    let range = match parse_range(headers.get(header::RANGE), size) {
        Ok(r) => r,
        Err(()) => {
            let mut e = ApiError::new(
                ErrorKind::RangeNotSatisfiable,
                format!("range not satisfiable; the blob has {size} bytes"),
            );
            e.range_size = Some(size);
            return Err(e);
        }
    };
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ETAG, &etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header("Docker-Content-Digest", digest.to_string());
    let (status, len) = match &range {
        Some(r) => {
            builder = builder.header(header::CONTENT_RANGE, format!("bytes {}-{}/{size}", r.start, r.end - 1));
            (StatusCode::PARTIAL_CONTENT, r.end - r.start)
        }
        None => (StatusCode::OK, size),
    };
    builder = builder.status(status).header(header::CONTENT_LENGTH, len);
    let body = if head || len == 0 {
        Body::empty()
    } else {
        let blob = state.blobs.get(org, digest, range).await?;
        Body::from_stream(blob.stream.map_err(std::io::Error::other))
    };
    builder.body(body).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str, size: u64) -> Result<Option<Range<u64>>, ()> {
        parse_range(Some(&HeaderValue::from_str(v).unwrap()), size)
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(r("bytes=0-4", 10), Ok(Some(0..5)));
        assert_eq!(r("bytes=5-", 10), Ok(Some(5..10)));
        assert_eq!(r("bytes=-3", 10), Ok(Some(7..10)));
        assert_eq!(r("bytes=-30", 10), Ok(Some(0..10)));
        assert_eq!(r("bytes=8-100", 10), Ok(Some(8..10)));
        assert_eq!(r("bytes=10-", 10), Err(()));
        assert_eq!(r("bytes=-0", 10), Err(()));
        assert_eq!(r("bytes=0-0", 0), Err(()));
        assert_eq!(r("bytes=0-1,4-5", 10), Ok(None));
        assert_eq!(r("bytes=5-2", 10), Ok(None));
        assert_eq!(r("items=0-1", 10), Ok(None));
    }
}
