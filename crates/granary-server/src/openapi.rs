//! The OpenAPI document of the REST API, generated from the handlers' annotations and the
//! wire types, served at `GET /api/v1/openapi.json` (no credentials needed). The OCI
//! distribution routes (`/v2/…` and their `/api/v1/{org}/{name}/…` twins) follow the OCI
//! distribution specification and are not repeated here.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::LazyLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::error::FieldError;
use crate::routes::{datasets, discovery, downloads, platform};

/// The envelope every error response carries (under `/v2/` the OCI error body instead).
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The HTTP status.
    code: u16,
    /// One line saying what is wrong and what to do.
    detail: String,
    /// `invalid_request`, `authentication_error`, `forbidden`, `not_found`,
    /// `already_exists`, `validation_error`, …
    #[serde(rename = "type")]
    kind: String,
    /// For validation errors: each failing field, its location and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<FieldError>>,
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "granary",
        description = "A self-hostable dataset registry: publish versioned datasets, find them by \
                       search, filters and facets, preview their rows, and download them through \
                       counted, expiring links. Authenticate with an API key as a bearer token or \
                       in `X-API-Key`. Every error is the envelope `ErrorEnvelope`."
    ),
    paths(
        platform::health,
        platform::user,
        platform::user_orgs,
        platform::org,
        platform::workspaces,
        discovery::list,
        discovery::facets,
        discovery::activity,
        datasets::latest,
        datasets::versions,
        datasets::visibility,
        datasets::version,
        datasets::delete,
        datasets::preview,
        downloads::download,
        downloads::signed_file,
    ),
    components(schemas(ErrorEnvelope, FieldError)),
    modifiers(&Security),
    security(("bearer" = []), ("api_key" = [])),
    tags(
        (name = "platform", description = "Health, the caller, their organizations"),
        (name = "datasets", description = "Listing, facets, details, previews, visibility, deletion"),
        (name = "downloads", description = "Counted downloads, signed links and the activity feed"),
    )
)]
pub struct ApiDoc;

static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| ApiDoc::openapi().to_pretty_json().expect("the document serializes"));

/// `GET /api/v1/openapi.json`
pub async fn document() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        DOCUMENT.as_str(),
    )
        .into_response()
}
