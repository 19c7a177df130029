//! The web UI: server-rendered HTML pages on the same port as the API, calling the same
//! services (catalog, access rules, previews, download grants), so a page and the API never
//! disagree. Every value users publish is escaped by the template engine (maud); pages work
//! without JavaScript, and the little there is (`/static/granary.js`) only submits forms
//! sooner. A browser signs in with an API key and gets a session cookie; every form that
//! changes something carries a CSRF token derived from that session.

mod card;
mod catalog;
mod dataset;
mod history;
mod org;
mod session;
mod view;

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;

use crate::error::ApiError;
use crate::AppState;

pub use session::{Viewer, SESSION_COOKIE};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(session::sign_in_page).post(session::sign_in))
        .route("/sign-out", post(session::sign_out))
        .route("/orgs/{org}", get(catalog::page))
        .route("/orgs/{org}/datasets/{name}", get(dataset::page))
        .route("/orgs/{org}/datasets/{name}/diff", get(history::diff_page))
        .route(
            "/orgs/{org}/datasets/{name}/{version}/download",
            post(dataset::download),
        )
        .route("/orgs/{org}/datasets/{name}/visibility", post(dataset::set_visibility))
        .route(
            "/orgs/{org}/datasets/{name}/{version}/delete",
            post(dataset::delete_version),
        )
        .route("/orgs/{org}/activity", get(org::activity))
        .route("/orgs/{org}/settings", get(org::settings))
        .route("/orgs/{org}/settings/keys", post(org::create_key))
        .route("/orgs/{org}/settings/keys/{id}/revoke", post(org::revoke_key))
        .route("/static/granary.css", get(css))
        .route("/static/granary.js", get(js))
}

/// Marks a response as a finished HTML page, so the API's error envelope leaves it alone
/// (only error statuses are ever rewritten, so redirects need no mark).
#[derive(Clone, Copy)]
pub(crate) struct HtmlPage;

/// What a page handler can fail with: an error page, or a trip to the sign-in form.
#[derive(Debug)]
pub enum UiError {
    Page(StatusCode, String),
    SignIn { next: String },
}

pub type UiResult<T = Response> = Result<T, UiError>;

impl UiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        UiError::Page(StatusCode::BAD_REQUEST, msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        UiError::Page(StatusCode::NOT_FOUND, msg.into())
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        // Details of API errors are written for clients and never carry internals.
        UiError::Page(e.kind.status(), e.detail)
    }
}

impl From<granary_db::DbError> for UiError {
    fn from(e: granary_db::DbError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::Page(status, msg) => {
                let title = status.canonical_reason().unwrap_or("Error");
                let body = maud::html! {
                    h1 { (title) }
                    p.error role="alert" { (msg) }
                    p { a href="/" { "Back to the catalog" } }
                };
                let mut resp = view::page(title, None, None, body);
                *resp.status_mut() = status;
                resp
            }
            UiError::SignIn { next } => {
                let q = serde_html_form::to_string([("next", next.as_str())]).unwrap_or_default();
                Redirect::to(&format!("/sign-in?{q}")).into_response()
            }
        }
    }
}

/// `/`: the catalog of the viewer's first organization.
async fn home(viewer: Viewer) -> UiResult {
    match viewer.orgs.first() {
        Some((org, _)) => Ok(Redirect::to(&format!("/orgs/{}", org.key)).into_response()),
        None => Ok(view::page(
            "No organization",
            Some(&viewer),
            None,
            maud::html! {
                h1 { "No organization yet" }
                p { "Your account is not a member of any organization. Ask an owner to add you, or run "
                    code { "granary admin member add" } " on the server." }
            },
        )),
    }
}

/// Serves a built-in asset by RFC 9110 like any other byte route: its strong `ETag` is a
/// hash of its bytes, so a browser revalidates with `If-None-Match` and gets 304.
async fn asset(method: &Method, headers: &HeaderMap, content_type: &'static str, body: &'static str) -> Response {
    use sha2::Digest as _;
    let rep = crate::conditional::Representation {
        size: body.len() as u64,
        etag: format!("\"{}\"", &hex::encode(sha2::Sha256::digest(body.as_bytes()))[..32]),
        last_modified: None,
    };
    let cache = [(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"))];
    let served = crate::blobs::serve(method, headers, &rep, content_type, &cache, move |range| async move {
        let bytes = bytes::Bytes::from_static(body.as_bytes());
        let part = match range {
            Some(r) => bytes.slice(r.start as usize..r.end as usize),
            None => bytes,
        };
        Ok(futures::stream::once(async { Ok(part) }).boxed())
    })
    .await;
    served.unwrap_or_else(IntoResponse::into_response)
}

async fn css(method: Method, headers: HeaderMap) -> Response {
    asset(
        &method,
        &headers,
        "text/css; charset=utf-8",
        include_str!("../../assets/granary.css"),
    )
    .await
}

async fn js(method: Method, headers: HeaderMap) -> Response {
    asset(
        &method,
        &headers,
        "text/javascript; charset=utf-8",
        include_str!("../../assets/granary.js"),
    )
    .await
}

/// Parses an urlencoded form body or query string; a malformed one is a 400 page.
pub(crate) fn parse_form<T: serde::de::DeserializeOwned>(raw: &[u8]) -> UiResult<T> {
    serde_html_form::from_bytes(raw).map_err(|e| UiError::bad_request(format!("the form could not be read: {e}")))
}
