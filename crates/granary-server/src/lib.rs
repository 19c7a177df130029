//! The HTTP edge of granary: the REST routes, the OCI distribution routes (under `/api/v1/`
//! and `/v2/`), authentication, the error envelope, and the publish use case.
//! Only this crate depends on axum. Handlers stay thin: they parse, authorize, and call the
//! metadata store, the blob store, or `publish`.

mod access;
pub mod auth;
mod blobs;
pub mod bootstrap;
pub mod catalog;
pub mod conditional;
pub mod error;
pub mod extract;
pub mod fresh;
pub mod gc;
mod idle;
pub mod links;
pub mod metrics;
pub mod oci_content;
pub mod openapi;
mod preview;
mod publish;
pub mod ratelimit;
mod routes;
pub mod s3;
pub mod token;
pub mod ui;
pub mod viewer;
mod wire;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use granary_blob::BlobStore;
use granary_db::MetadataStore;
use std::sync::Arc;

pub use error::{ApiError, ErrorKind};

/// Settings the server needs at run time.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Base URL used in links the server hands out (`Location`, download URLs). When unset,
    /// links are built from the request's `Host` (and `X-Forwarded-Proto`, if present).
    pub public_url: Option<String>,
    /// Largest manifest or config blob accepted, in bytes.
    pub max_manifest_bytes: usize,
    /// How long a download link stays valid.
    pub link_ttl: std::time::Duration,
    /// Serve download links by redirecting to a presigned object-store URL (when the store
    /// can sign one) instead of streaming the bytes through the server.
    pub download_redirect: bool,
    /// Most bytes one row preview may read plus decompress (default 64 MiB); past it the
    /// preview is a 422 that says so.
    pub preview_max_bytes: u64,
    /// Longest one row preview may run, waiting for a slot included (default 10 s).
    pub preview_timeout: std::time::Duration,
    /// Previews decoded at once by this server (default 4); others wait for a slot.
    pub preview_slots: usize,
    /// Request rate limits per API key or client address (default: none).
    pub rate_limits: ratelimit::RateLimits,
    /// How long credentials for the `/s3` ingest endpoint stay valid (default 1 h).
    pub s3_credential_ttl: std::time::Duration,
    /// Whether [`serve`] runs the viewer's background jobs (default true).
    pub viewer_jobs: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            public_url: None,
            max_manifest_bytes: 4 << 20,
            link_ttl: std::time::Duration::from_secs(3600),
            download_redirect: false,
            preview_max_bytes: 64 << 20,
            preview_timeout: std::time::Duration::from_secs(10),
            preview_slots: 4,
            rate_limits: ratelimit::RateLimits::OFF,
            s3_credential_ttl: std::time::Duration::from_secs(3600),
            viewer_jobs: true,
        }
    }
}

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Arc<dyn MetadataStore>,
    pub blobs: BlobStore,
    pub config: Arc<ServerConfig>,
    link_secret: Arc<tokio::sync::OnceCell<Vec<u8>>>,
    pub catalog: Arc<catalog::Catalog>,
    /// Change marks shared by concurrent requests, and the key and role caches they keep exact.
    pub fresh: Arc<fresh::Freshness>,
    /// Bounds the previews decoded at once (`ServerConfig::preview_slots`).
    pub preview_slots: Arc<tokio::sync::Semaphore>,
    pub metrics: Arc<metrics::Metrics>,
    pub rate_limiter: Arc<ratelimit::RateLimiter>,
    /// Recent schema inferences by content and format (see `publish::inferred`).
    pub inferred: Arc<publish::InferCache>,
}

impl AppState {
    pub fn new(db: Arc<dyn MetadataStore>, blobs: BlobStore, config: ServerConfig) -> Self {
        AppState {
            db,
            blobs,
            preview_slots: Arc::new(tokio::sync::Semaphore::new(config.preview_slots.max(1))),
            metrics: Arc::default(),
            rate_limiter: Arc::new(ratelimit::RateLimiter::new(config.rate_limits)),
            config: Arc::new(config),
            link_secret: Arc::default(),
            catalog: Arc::default(),
            fresh: Arc::default(),
            inferred: Arc::default(),
        }
    }
}

/// The whole application: routes plus the edge layers every response passes through.
pub fn app(state: AppState) -> Router {
    let router = routes::router(state.clone())
        .layer(middleware::from_fn_with_state(state.clone(), token::challenge))
        .layer(middleware::from_fn_with_state(state.clone(), ratelimit::limit))
        .layer(middleware::from_fn_with_state(state, metrics::track))
        .layer(middleware::map_request(|req: Request| async move {
            req.map(|b| axum::body::Body::new(idle::IdleTimeout::new(b)))
        }));
    with_edge_layers(router)
}

/// Layers that make every response, including panics, unknown routes and rejections
/// produced outside handlers, come back as the canonical envelope.
pub fn with_edge_layers(router: Router) -> Router {
    router
        .layer(middleware::from_fn(envelope_everything))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                tracing::error!("handler panicked");
                ApiError::new(ErrorKind::Internal, "internal server error").into_response()
            },
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

async fn envelope_everything(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let oci = path.starts_with("/v2/") || path == "/v2";
    // A browser that reaches no page gets an HTML error page; clients get the envelope.
    let browser = !oci
        && !path.starts_with("/api/")
        && !path.starts_with("/files/")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    let s3 = path == "/s3" || path.starts_with("/s3/");
    let resp = next.run(req).await;
    // HTML pages and the S3 endpoint's XML answers are rendered where they are made.
    if resp.extensions().get::<ui::HtmlPage>().is_some() || resp.extensions().get::<s3::S3Response>().is_some() {
        return resp;
    }
    if s3 && (resp.status().is_client_error() || resp.status().is_server_error()) {
        // Anything else that fails under /s3 (a panic caught below, a rejected body)
        // still answers in S3's XML.
        return s3::S3Error::from_status(resp.status()).into_response();
    }
    let status = resp.status();
    let rendered = resp.extensions().get::<error::Rendered>().cloned();
    match rendered {
        Some(r) if oci => to_oci_error(resp, r),
        Some(_) => resp,
        None if status.is_client_error() || status.is_server_error() => {
            let kind = ErrorKind::from_status(status);
            let detail = match status {
                StatusCode::NOT_FOUND => "no such route".to_string(),
                StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".to_string(),
                StatusCode::PAYLOAD_TOO_LARGE => "request body is too large".to_string(),
                s => s.canonical_reason().unwrap_or("error").to_string(),
            };
            if browser {
                return ui::UiError::Page(status, detail).into_response();
            }
            let mut err = ApiError::new(kind, detail);
            if status == StatusCode::NOT_FOUND {
                err = err.oci("NAME_UNKNOWN");
            }
            let mut new = err.into_response();
            *new.status_mut() = status;
            if let Some(allow) = resp.headers().get(header::ALLOW) {
                new.headers_mut().insert(header::ALLOW, allow.clone());
            }
            if oci {
                let r = new
                    .extensions()
                    .get::<error::Rendered>()
                    .cloned()
                    .expect("just rendered");
                return to_oci_error(new, r);
            }
            new
        }
        None => resp,
    }
}

/// On `/v2/` errors use the OCI distribution body: `{"errors": [{"code", "message"}]}`.
fn to_oci_error(resp: Response, r: error::Rendered) -> Response {
    let status = resp.status();
    let code = r.oci_code.unwrap_or(match status.as_u16() {
        401 => "UNAUTHORIZED",
        403 => "DENIED",
        404 => "NAME_UNKNOWN",
        405 => "UNSUPPORTED",
        429 => "TOOMANYREQUESTS",
        _ => "UNSUPPORTED",
    });
    let body = serde_json::json!({"errors": [{"code": code, "message": r.detail, "detail": {}}]});
    let (mut parts, _) = resp.into_parts();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}

/// Serves the application on `listener` until `shutdown` completes, then drains in-flight
/// requests. Background work: download events are folded into counters every two seconds
/// (counts are exact without it; it keeps reads cheap) and once more on the way out,
/// idle rate-limit buckets are dropped every minute, and the viewer's jobs (parquet
/// renditions, column statistics) are claimed and run ([`viewer::run_once`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let views = state.clone();
    tokio::spawn(async move {
        match backfill_views(&views).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                versions = n,
                "stored the /v2/ view of versions published before views were kept"
            ),
            Err(e) => {
                tracing::warn!(error = %e.detail, "storing /v2/ views of older versions failed; retried at next start")
            }
        }
    });
    let bg = state.clone();
    let folder = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        let mut sweeps = 0u32;
        loop {
            tick.tick().await;
            fold_once(&bg).await;
            sweeps += 1;
            if sweeps.is_multiple_of(30) && bg.rate_limiter.enabled() {
                bg.rate_limiter.cleanup();
                bg.metrics.ran("rate_limit_cleanup");
            }
        }
    });
    let viewer = {
        let bg = state.clone();
        let on = state.config.viewer_jobs;
        tokio::spawn(async move {
            if !on {
                return;
            }
            let mut tick = tokio::time::interval(viewer::POLL);
            loop {
                tick.tick().await;
                if let Err(e) = viewer::run_once(&bg).await {
                    tracing::warn!(error = %e.detail, "the viewer's background work could not ask the metadata store; retrying");
                }
            }
        })
    };
    let result = accept_loop(listener, app(state.clone()), shutdown).await;
    folder.abort();
    viewer.abort();
    if let Err(e) = state.db.fold_downloads().await {
        tracing::warn!(error = %e, "final fold of download counts failed; the events are kept and fold on next start");
    }
    result
}

/// How long a client may take to send a request's head (and, on a kept-alive connection,
/// to start its next one) before the connection is closed: what stops a client from holding
/// connections open by sending nothing, or a header a byte at a time.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Accepts connections until `shutdown`, serving each with HTTP/1.1 or HTTP/2 (prior
/// knowledge) under [`HEADER_READ_TIMEOUT`], with the peer address as `ConnectInfo`; then
/// stops accepting and waits for the requests in flight to finish.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = tower::ServiceBuilder::new()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)))
            .service(app.clone());
        let svc = hyper_util::service::TowerToHyperService::new(svc);
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            // hyper's header timeout starts with the first byte: a connection that sends
            // nothing at all is closed here after the same time.
            let mut first = [0u8; 1];
            if !matches!(
                tokio::time::timeout(HEADER_READ_TIMEOUT, stream.peek(&mut first)).await,
                Ok(Ok(1..))
            ) {
                return;
            }
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Stores the `/v2/` view (the version's files as OCI layers) of every dataset version
/// published before views were kept; returns how many. Run by [`serve`] at start-up.
pub async fn backfill_views(state: &AppState) -> Result<u64, error::ApiError> {
    routes::registry::backfill_views(state).await
}

/// One run of the download fold, counted in the metrics.
pub async fn fold_once(state: &AppState) {
    match state.db.fold_downloads().await {
        Ok(n) => {
            state.metrics.ran("download_fold");
            state.metrics.folded.inc_by(n);
        }
        Err(e) => {
            state.metrics.ran("download_fold_failed");
            tracing::warn!(error = %e, "folding download counts failed; will retry");
        }
    }
}
