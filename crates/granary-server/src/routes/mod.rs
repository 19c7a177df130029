//! The route table: every path the server answers, in one place. `get` routes answer
//! `HEAD` too; handlers that stream bodies check the method and skip the body for `HEAD`.

mod datasets;
mod discovery;
mod downloads;
mod oci;
mod platform;

use axum::routing::{get, patch, post};
use axum::Router;

use crate::AppState;

pub fn router(state: AppState) -> Router {
    let rest = Router::new()
        .route("/api/v1/health", get(platform::health))
        .route("/api/v1/user", get(platform::user))
        .route("/api/v1/user/organizations", get(platform::user_orgs))
        .route("/api/v1/org/{org}", get(platform::org))
        .route("/api/v1/org/{org}/ws", get(platform::workspaces))
        .route("/api/v1/org/{org}/datasets", get(discovery::list))
        .route("/api/v1/org/{org}/datasets/facets", get(discovery::facets))
        .route("/api/v1/org/{org}/datasets/activity", get(discovery::activity))
        .route("/api/v1/org/{org}/datasets/{name}", get(datasets::latest))
        .route("/api/v1/org/{org}/datasets/{name}/versions", get(datasets::versions))
        .route(
            "/api/v1/org/{org}/datasets/{name}/visibility",
            patch(datasets::visibility),
        )
        .route(
            "/api/v1/org/{org}/datasets/{name}/{version}",
            get(datasets::version).delete(datasets::delete),
        )
        .route(
            "/api/v1/org/{org}/datasets/{name}/{version}/download",
            post(downloads::download),
        )
        // Signed download links: the signature is the credential.
        .route("/files/{org}/{digest}/{file}", get(downloads::signed_file));

    // OCI distribution, as the official client uses it under /api/v1 ...
    let api_oci = Router::new()
        .route("/api/v1/{org}/blobs/{digest}", get(oci::org_blob))
        .route("/api/v1/{org}/{name}/blobs/{digest}", get(oci::repo_blob))
        .route("/api/v1/{org}/{name}/blobs/uploads/", post(oci::start_upload))
        .route("/api/v1/{org}/{name}/blobs/uploads", post(oci::start_upload))
        .route(
            "/api/v1/{org}/{name}/blobs/uploads/{id}",
            get(oci::upload_status)
                .patch(oci::patch_upload)
                .put(oci::finish_upload)
                .delete(oci::cancel_upload),
        )
        .route(
            "/api/v1/{org}/{name}/manifests/{reference}",
            get(oci::manifest).put(oci::put_manifest),
        )
        .route("/api/v1/{org}/{name}/tags/list", get(oci::tags));

    // ... and at the standard root for generic OCI tools.
    let v2 = Router::new()
        .route("/v2/", get(oci::base))
        .route("/v2", get(oci::base))
        .route("/v2/{org}/{name}/blobs/{digest}", get(oci::repo_blob))
        .route("/v2/{org}/{name}/blobs/uploads/", post(oci::start_upload))
        .route("/v2/{org}/{name}/blobs/uploads", post(oci::start_upload))
        .route(
            "/v2/{org}/{name}/blobs/uploads/{id}",
            get(oci::upload_status)
                .patch(oci::patch_upload)
                .put(oci::finish_upload)
                .delete(oci::cancel_upload),
        )
        .route(
            "/v2/{org}/{name}/manifests/{reference}",
            get(oci::manifest).put(oci::put_manifest),
        )
        .route("/v2/{org}/{name}/tags/list", get(oci::tags));

    rest.merge(api_oci).merge(v2).with_state(state)
}
