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
use crate::routes::{croissant, datasets, discovery, downloads, history, platform, viewer};

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

/// Makes the document as strict as the server, in one place: path and query parameters
/// get the patterns and formats the handlers enforce (org keys, dataset names, versions,
/// UUIDs, sort enums), and every operation lists the error statuses any route can answer
/// (400 malformed body, 401 no key, 404, 422, 429 rate limited, 500, 502/504 store
/// failures), each with the envelope.
struct Tighten;

/// `granary_core::names::validate_org_key`
const ORG_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$";
/// `granary_core::names::validate_dataset_name`, optionally prefixed `org/`
const NAME_PATTERN: &str = "^([a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?/)?[a-z0-9][a-z0-9._-]{0,99}$";
/// `granary_core::Version`: MAJOR.MINOR.PATCH, no leading zeros, each part a u64
const VERSION_PATTERN: &str = "^(0|[1-9][0-9]{0,18})\\.(0|[1-9][0-9]{0,18})\\.(0|[1-9][0-9]{0,18})$";

impl Modify for Tighten {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Operation, ParameterIn};
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let string = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::String));
        let envelope = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                            .build(),
                    )
                    .build(),
            )
        };
        let tighten = |op: &mut Operation, has_body: bool| {
            for p in op.parameters.iter_mut().flatten() {
                let schema = match (&p.parameter_in, p.name.as_str()) {
                    (ParameterIn::Path, "org") => string().pattern(Some(ORG_PATTERN)),
                    (ParameterIn::Path, "name") => string().pattern(Some(NAME_PATTERN)),
                    (ParameterIn::Path, "version") => string().pattern(Some(VERSION_PATTERN)),
                    (ParameterIn::Query, "user_id") => {
                        string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                    }
                    (ParameterIn::Query, "sort_by") => string().enum_values(Some([
                        "name",
                        "created_at",
                        "updated_at",
                        "row_count",
                        "file_size_bytes",
                    ])),
                    (ParameterIn::Query, "sort_dir") => string().enum_values(Some(["asc", "desc"])),
                    _ => continue,
                };
                p.schema = Some(RefOr::T(schema.build().into()));
            }
            let public = op
                .security
                .as_ref()
                .is_some_and(|s| s.iter().all(|r| r == &Default::default()));
            let r = &mut op.responses.responses;
            let mut add = |code: &str, why: &str| {
                r.entry(code.to_string()).or_insert_with(|| envelope(why));
            };
            if has_body {
                add("400", "The body is not valid JSON");
            }
            if !public {
                add("401", "No or invalid API key");
            }
            add(
                "404",
                "No such organization, dataset, version or route (or not visible to the caller)",
            );
            add("422", "Invalid parameters; `errors` says which");
            add("429", "Rate limited; `Retry-After` says when to retry");
            add("500", "A bug; the cause is logged, never sent");
            add("502", "The metadata database or object store answered with an error");
            add("504", "The metadata database or object store did not answer in time");
        };
        for item in doc.paths.paths.values_mut() {
            for (op, body) in [
                (&mut item.get, false),
                (&mut item.delete, false),
                (&mut item.head, false),
                (&mut item.post, true),
                (&mut item.put, true),
                (&mut item.patch, true),
            ] {
                if let Some(op) = op.as_mut() {
                    tighten(op, body);
                }
            }
        }
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
        platform::ready,
        platform::user,
        platform::user_orgs,
        platform::org,
        platform::workspaces,
        crate::s3::credentials,
        discovery::list,
        discovery::facets,
        discovery::activity,
        datasets::latest,
        datasets::versions,
        datasets::visibility,
        datasets::version,
        datasets::delete,
        datasets::preview,
        datasets::rows,
        croissant::croissant,
        viewer::statistics,
        viewer::parquet,
        viewer::search,
        viewer::filter,
        history::diff_route,
        history::downloads_route,
        datasets::blob_schema,
        downloads::download,
        downloads::signed_file,
    ),
    components(schemas(ErrorEnvelope, FieldError)),
    modifiers(&Security, &Tighten),
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
