//! The route table: every path the server answers, in one place. `get` routes answer
//! `HEAD` too; handlers that stream bodies check the method and skip the body for `HEAD`.

pub(crate) mod croissant;
pub(crate) mod datasets;
pub(crate) mod discovery;
pub(crate) mod downloads;
pub(crate) mod history;
pub(crate) mod oci;
pub(crate) mod platform;
pub(crate) mod registry;
pub(crate) mod viewer;

use axum::routing::{any, get, patch, post};

use axum::Router;
pub(crate) use oci::base_url;

use crate::AppState;

pub fn router(state: AppState) -> Router {
    let rest = Router::new()
        .route("/api/v1/health", get(platform::health))
        .route("/api/v1/ready", get(platform::ready))
        .route("/metrics", get(crate::metrics::metrics))
        .route("/api/v1/openapi.json", get(crate::openapi::document))
        .route("/api/v1/user", get(platform::user))
        .route("/api/v1/user/organizations", get(platform::user_orgs))
        .route("/api/v1/org/{org}", get(platform::org))
        .route("/api/v1/org/{org}/ws", get(platform::workspaces))
        .route(
            "/api/v1/org/{org}/ws/{workspace}/storage/credentials",
            get(crate::s3::credentials),
        )
        // The S3-compatible ingest endpoint (its own auth, errors in S3's XML).
        .route("/s3", any(crate::s3::handle))
        .route("/s3/", any(crate::s3::handle))
        .route("/s3/{*path}", any(crate::s3::handle))
        .route("/api/v1/org/{org}/datasets", get(discovery::list))
        .route("/api/v1/org/{org}/datasets/facets", get(discovery::facets))
        .route("/api/v1/org/{org}/datasets/activity", get(discovery::activity))
        .route("/api/v1/org/{org}/datasets/{name}", get(datasets::latest))
        .route("/api/v1/org/{org}/datasets/{name}/versions", get(datasets::versions))
        .route("/api/v1/org/{org}/datasets/{name}/diff", get(history::diff_route))
        .route(
            "/api/v1/org/{org}/datasets/{name}/downloads",
            get(history::downloads_route),
        )
        .route(
            "/api/v1/org/{org}/datasets/{name}/visibility",
            patch(datasets::visibility),
        )
        .route(
            "/api/v1/org/{org}/datasets/{name}/{version}",
            get(datasets::version).delete(datasets::delete),
        )
        .route(
            "/api/v1/org/{org}/datasets/{name}/{version}/preview",
            get(datasets::preview),
        )
        .route("/api/v1/org/{org}/datasets/{name}/{version}/rows", get(datasets::rows))
        .route(
            "/api/v1/org/{org}/datasets/{name}/{version}/statistics",
            get(viewer::statistics),
        )
        .route(
            "/api/v1/org/{org}/datasets/{name}/{version}/parquet",
            post(viewer::parquet),
        )
        .route(
            "/api/v1/org/{org}/datasets/{name}/{version}/search",
            get(viewer::search),
        )
        .route(
            "/api/v1/org/{org}/datasets/{name}/{version}/filter",
            get(viewer::filter),
        )
        .route(
            "/api/v1/org/{org}/datasets/{name}/{version}/croissant",
            get(croissant::croissant),
        )
        .route(
            "/api/v1/org/{org}/datasets/{name}/{version}/download",
            post(downloads::download),
        )
        .route("/api/v1/org/{org}/blobs/{digest}/schema", get(datasets::blob_schema))
        // Signed download links: the signature is the credential.
        .route("/files/{org}/{digest}/{file}", get(downloads::signed_file));

    // OCI distribution: under /api/v1 as the official client uses it (plus its org-wide blob
    // route), and at the standard root for generic OCI tools.
    let api_oci = oci_routes("/api/v1").route("/api/v1/{org}/blobs/{digest}", get(oci::org_blob));
    let v2 = oci_routes("/v2")
        .route("/v2/", get(oci::base))
        .route("/v2", get(oci::base))
        .route("/v2/token", get(crate::token::token))
        .route("/v2/{org}/{name}/referrers/{digest}", get(registry::referrers))
        .route(
            "/v2/{org}/{name}/blobs/{digest}",
            axum::routing::delete(registry::delete_blob),
        )
        .route(
            "/v2/{org}/{name}/manifests/{reference}",
            axum::routing::delete(registry::delete_manifest),
        );

    rest.merge(api_oci)
        .merge(v2)
        .merge(crate::ui::router())
        .with_state(state)
}

/// The repository routes of the OCI distribution protocol under `root`.
fn oci_routes(root: &str) -> Router<AppState> {
    let repo = format!("{root}/{{org}}/{{name}}");
    Router::new()
        .route(&format!("{repo}/blobs/{{digest}}"), get(oci::repo_blob))
        .route(&format!("{repo}/blobs/uploads/"), post(oci::start_upload))
        .route(&format!("{repo}/blobs/uploads"), post(oci::start_upload))
        .route(
            &format!("{repo}/blobs/uploads/{{id}}"),
            get(oci::upload_status)
                .patch(oci::patch_upload)
                .put(oci::finish_upload)
                .delete(oci::cancel_upload),
        )
        .route(
            &format!("{repo}/manifests/{{reference}}"),
            get(oci::manifest).put(oci::put_manifest),
        )
        .route(&format!("{repo}/tags/list"), get(oci::tags))
}
