//! Prometheus metrics, served at `GET /metrics` in the text exposition format
//! (`prometheus-client`). Labels are bounded: routes are the route table's templates
//! (`/api/v1/org/{org}/datasets`), never raw paths, so no request can add a series.
//! Every metric is named and described in `docs/OPERATIONS.md`.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use std::time::Instant;

use crate::AppState;

/// Labels of a served request: method, route template, status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// One label: which kind of thing (a rate-limit class, an outcome, a task).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric the server keeps. Cheap to update from any thread.
pub struct Metrics {
    registry: Registry,
    /// `granary_http_requests_total{method,route,status}`
    pub requests: Family<RequestLabels, Counter>,
    /// `granary_http_request_duration_seconds{method,route,status}`: to the response head.
    pub latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    /// `granary_http_response_body_bytes_total`: body bytes sent (blobs, pages, JSON).
    pub bytes_sent: Counter,
    /// `granary_http_request_body_bytes_total`: body bytes received (uploads, manifests).
    pub bytes_received: Counter,
    /// `granary_blob_uploads_total`: blob uploads committed (digest verified).
    pub uploads: Counter,
    /// `granary_downloads_counted_total`: download events recorded.
    pub downloads: Counter,
    /// `granary_rate_limited_total{kind}`: requests answered 429 (`metadata`, `blobs`,
    /// `previews`).
    pub rate_limited: Family<KindLabel, Counter>,
    /// `granary_background_runs_total{kind}`: background work runs (`viewer_job`, `download_fold`,
    /// `download_fold_failed`, `rate_limit_cleanup`).
    pub background: Family<KindLabel, Counter>,
    /// `granary_downloads_folded_total`: download events folded into counters.
    pub folded: Counter,
    /// `granary_previews_total{kind}`: row previews by outcome (`ok`, `refused`, `failed`).
    pub previews: Family<KindLabel, Counter>,
    /// `granary_previews_running`: previews decoding now.
    pub previews_running: Gauge,
    /// `granary_process_resident_memory_bytes`: the process's resident set (Linux
    /// `/proc/self/status`), read at each scrape.
    pub resident: Gauge,
    /// `granary_allocator_allocated_bytes`: bytes the heap allocator has handed out and not
    /// got back (live objects), read at each scrape; 0 when the allocator does not report.
    pub allocated: Gauge,
    /// `granary_allocator_resident_bytes`: bytes the heap allocator holds in physical memory
    /// (live objects, its metadata and freed pages not yet returned); 0 when it does not report.
    pub allocator_resident: Gauge,
}

/// Heap figures from the process's allocator, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocatorStats {
    /// Live allocations.
    pub allocated: u64,
    /// Physical memory the allocator holds (live objects, metadata, retained free pages).
    pub resident: u64,
}

static ALLOCATOR_PROBE: OnceLock<fn() -> Option<AllocatorStats>> = OnceLock::new();

/// Installs the function `/metrics` asks for heap figures (the binary's allocator knows
/// them; this crate does not pick one). The first call wins; later calls are ignored.
pub fn set_allocator_probe(probe: fn() -> Option<AllocatorStats>) {
    let _ = ALLOCATOR_PROBE.set(probe);
}

/// The resident set of this process in bytes, from `VmRSS` in `/proc/self/status` (kB);
/// None where there is no procfs.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("granary");
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            bytes_sent: Counter::default(),
            bytes_received: Counter::default(),
            uploads: Counter::default(),
            downloads: Counter::default(),
            rate_limited: Family::default(),
            background: Family::default(),
            folded: Counter::default(),
            previews: Family::default(),
            previews_running: Gauge::default(),
            resident: Gauge::default(),
            allocated: Gauge::default(),
            allocator_resident: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("http_requests", "HTTP requests served", m.requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head",
            m.latency.clone(),
        );
        registry.register("http_response_body_bytes", "Body bytes sent", m.bytes_sent.clone());
        registry.register(
            "http_request_body_bytes",
            "Body bytes received",
            m.bytes_received.clone(),
        );
        registry.register("blob_uploads", "Blob uploads committed", m.uploads.clone());
        registry.register("downloads_counted", "Download events recorded", m.downloads.clone());
        registry.register("rate_limited", "Requests answered 429", m.rate_limited.clone());
        registry.register("background_runs", "Background work runs", m.background.clone());
        registry.register(
            "downloads_folded",
            "Download events folded into counters",
            m.folded.clone(),
        );
        registry.register("previews", "Row previews by outcome", m.previews.clone());
        registry.register("previews_running", "Previews decoding now", m.previews_running.clone());
        registry.register(
            "process_resident_memory_bytes",
            "Resident set size of the process",
            m.resident.clone(),
        );
        registry.register(
            "allocator_allocated_bytes",
            "Heap bytes in live allocations (0 when the allocator does not report)",
            m.allocated.clone(),
        );
        registry.register(
            "allocator_resident_bytes",
            "Physical memory the heap allocator holds (0 when it does not report)",
            m.allocator_resident.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        if let Some(rss) = resident_bytes() {
            self.resident.set(rss as i64);
        }
        if let Some(stats) = ALLOCATOR_PROBE.get().and_then(|probe| probe()) {
            self.allocated.set(stats.allocated as i64);
            self.allocator_resident.set(stats.resident as i64);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }

    /// Counts one background run of `kind`.
    pub fn ran(&self, kind: &'static str) {
        self.background.get_or_create(&KindLabel { kind }).inc();
    }
}

/// `GET /metrics`: Prometheus text format. No credentials (serve it to the scraper only:
/// see docs/OPERATIONS.md); it holds counts, never names or data.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut resp = state.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Middleware: counts each request by route template and status, its latency, and the
/// body bytes that flow each way (counted as frames pass, so streams are counted too).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let m = state.metrics.clone();
    let received = m.bytes_received.clone();
    let req = req.map(|b| {
        Body::new(b.map_frame(move |f| {
            if let Some(d) = f.data_ref() {
                received.inc_by(d.len() as u64);
            }
            f
        }))
    });
    let resp = next.run(req).await;
    let labels = RequestLabels {
        method,
        route,
        status: resp.status().as_u16(),
    };
    m.requests.get_or_create(&labels).inc();
    m.latency.get_or_create(&labels).observe(start.elapsed().as_secs_f64());
    let sent = m.bytes_sent.clone();
    resp.map(|b| {
        Body::new(b.map_frame(move |f| {
            if let Some(d) = f.data_ref() {
                sent.inc_by(d.len() as u64);
            }
            f
        }))
    })
}
