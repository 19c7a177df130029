//! Rate limits (spec §6): per API key, or per client address for requests without
//! credentials, with separate budgets for metadata calls and blob transfer. Over budget is
//! 429 `rate_limited` with `Retry-After` in seconds. Token buckets from `governor` (GCRA),
//! kept in memory per server: with N replicas a client gets at most N× the rate.
//!
//! Keys are the SHA-256 of the presented credential, so a raw key never sits in the
//! limiter's map; buckets unused for a minute are dropped by [`RateLimiter::cleanup`].

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest as _, Sha256};
use std::net::SocketAddr;
use std::num::NonZeroU32;

use crate::error::ApiError;
use crate::metrics::KindLabel;
use crate::AppState;

/// One budget: a sustained rate and the burst allowed above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per minute, sustained (a token every 60/`per_minute` seconds).
    pub per_minute: u32,
    /// Requests allowed at once (the bucket's size).
    pub burst: u32,
}

impl Rate {
    /// `n` requests per second, bursts of `2n`.
    pub fn per_second(n: u32) -> Rate {
        Rate {
            per_minute: n.saturating_mul(60),
            burst: n.saturating_mul(2),
        }
    }
}

/// What the limiter allows; `None` for a class means no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Every route that is not a blob transfer.
    pub metadata: Option<Rate>,
    /// Blob reads and writes: `/files/…`, `…/blobs/…`, `…/blobs/uploads/…`.
    pub blobs: Option<Rate>,
}

impl RateLimits {
    /// The defaults `--rate-limit on` turns on: 100 req/s (burst 200) per key for
    /// metadata, 20 req/s (burst 40) for blob transfer.
    pub const DEFAULT_ON: RateLimits = RateLimits {
        metadata: Some(Rate {
            per_minute: 6000,
            burst: 200,
        }),
        blobs: Some(Rate {
            per_minute: 1200,
            burst: 40,
        }),
    };
    /// No limits.
    pub const OFF: RateLimits = RateLimits {
        metadata: None,
        blobs: None,
    };
}

/// Keyed token buckets for both classes.
pub struct RateLimiter {
    metadata: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    blobs: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
}

fn keyed(rate: Option<Rate>) -> Option<DefaultKeyedRateLimiter<[u8; 32]>> {
    let rate = rate?;
    let per_minute = NonZeroU32::new(rate.per_minute)?;
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Some(governor::RateLimiter::keyed(
        Quota::per_minute(per_minute).allow_burst(burst),
    ))
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            metadata: keyed(limits.metadata),
            blobs: keyed(limits.blobs),
        }
    }

    /// Whether any class is limited.
    pub fn enabled(&self) -> bool {
        self.metadata.is_some() || self.blobs.is_some()
    }

    /// Drops buckets that are full again (unused long enough), so memory follows the
    /// clients active in the last minute, not every client ever seen.
    pub fn cleanup(&self) {
        for l in [&self.metadata, &self.blobs].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Number of buckets held (for tests and metrics).
    pub fn buckets(&self) -> usize {
        [&self.metadata, &self.blobs]
            .into_iter()
            .flatten()
            .map(|l| l.len())
            .sum()
    }
}

/// Whether a path moves blob bytes.
fn is_blob_route(path: &str) -> bool {
    path.starts_with("/files/") || path.contains("/blobs/") || path == "/s3" || path.starts_with("/s3/")
}

/// The access key id of a SigV4-signed request (header or presigned query): the part of
/// its credential that stays the same from request to request.
fn sigv4_access_key(headers: &HeaderMap, query: Option<&str>) -> Option<Vec<u8>> {
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let cred = auth.strip_prefix("AWS4-HMAC-SHA256")?.split("Credential=").nth(1)?;
        return Some(cred.split('/').next()?.as_bytes().to_vec());
    }
    let cred = query?.split('&').find_map(|p| p.strip_prefix("X-Amz-Credential="))?;
    Some(cred.split(['/', '%']).next()?.as_bytes().to_vec())
}

/// The bucket a request draws from: its credential (Bearer, `X-API-Key`, Basic, the web
/// session cookie, or a SigV4 access key id), else its client address.
fn bucket_key(headers: &HeaderMap, query: Option<&str>, peer: Option<SocketAddr>) -> [u8; 32] {
    let mut h = Sha256::new();
    let credential = sigv4_access_key(headers, query)
        .or_else(|| headers.get(header::AUTHORIZATION).map(|v| v.as_bytes().to_vec()))
        .or_else(|| headers.get("x-api-key").map(|v| v.as_bytes().to_vec()))
        .or_else(|| {
            let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
            cookies
                .split(';')
                .map(str::trim)
                .find(|c| c.starts_with(concat!("granary_session", "=")))
                .map(|c| c.as_bytes().to_vec())
        });
    match credential {
        Some(c) => {
            h.update(b"key:");
            h.update(c);
        }
        None => {
            h.update(b"ip:");
            h.update(peer.map(|p| p.ip().to_string()).unwrap_or_default().as_bytes());
        }
    }
    h.finalize().into()
}

/// Middleware: draws one token from the request's bucket, or answers 429 with
/// `Retry-After`. Health, readiness and metrics are never limited.
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/api/v1/health" || path == "/api/v1/ready" || path == "/metrics" {
        return next.run(req).await;
    }
    let (class, limiter) = if is_blob_route(path) {
        ("blobs", &state.rate_limiter.blobs)
    } else {
        ("metadata", &state.rate_limiter.metadata)
    };
    let Some(limiter) = limiter else {
        return next.run(req).await;
    };
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let key = bucket_key(req.headers(), req.uri().query(), peer);
    match limiter.check_key(&key) {
        Ok(()) => next.run(req).await,
        Err(not_until) => {
            state
                .metrics
                .rate_limited
                .get_or_create(&KindLabel { kind: class })
                .inc();
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if path == "/s3" || path.starts_with("/s3/") {
                return crate::s3::S3Error::slow_down(secs.max(1));
            }
            ApiError::rate_limited(
                format!("too many {class} requests from this client; retry in {secs} s"),
                secs,
            )
            .into_response()
        }
    }
}
