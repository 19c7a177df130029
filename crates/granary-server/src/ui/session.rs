//! Browser sessions. Signing in with an API key opens a session stored in the metadata
//! database (so any server behind a load balancer knows it) and sets a random token as an
//! `HttpOnly`, `SameSite=Lax` cookie (`Secure` when served over TLS). The session ends on
//! sign-out, after [`SESSION_TTL`], or when its key is revoked. Forms that change state
//! carry a CSRF token: an HMAC of the session token under the server secret. The sign-in
//! form itself uses a double-submit token (cookie + field).

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use chrono::Utc;
use granary_core::Role;
use granary_db::Org;
use hmac::{Hmac, Mac};
use maud::html;
use rand::RngCore;
use serde::Deserialize;
use sha2::Sha256;

use super::{parse_form, view, UiError, UiResult};
use crate::auth::{hash_token, Caller};
use crate::AppState;

pub const SESSION_COOKIE: &str = "granary_session";
const SIGN_IN_COOKIE: &str = "granary_sign_in";
/// How long a browser session lasts.
pub const SESSION_TTL: chrono::Duration = chrono::Duration::days(7);

/// The signed-in user of a page: who they are, their organizations, and the CSRF token
/// their forms carry.
pub struct Viewer {
    pub caller: Caller,
    pub orgs: Vec<(Org, Role)>,
    pub csrf: String,
    session_hash: String,
}

impl Viewer {
    /// Fails unless `token` is this session's CSRF token.
    pub fn check_csrf(&self, token: &str) -> UiResult<()> {
        if constant_time_eq(self.csrf.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err(UiError::Page(
                axum::http::StatusCode::FORBIDDEN,
                "this form has expired or did not come from this site; reload the page and try again".into(),
            ))
        }
    }

    pub fn role_in(&self, org: &str) -> Option<Role> {
        self.orgs.iter().find(|(o, _)| o.key == org).map(|(_, r)| *r)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn csrf_for(secret: &[u8], session_token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(b"granary-csrf\0");
    mac.update(session_token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether the browser reached us over TLS (directly via the public URL, or through a proxy).
fn is_tls(state: &AppState, headers: &HeaderMap) -> bool {
    state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https")
}

fn set_cookie(resp: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Only paths on this site may be a sign-in's destination; anything else goes to `/`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_string(),
        _ => "/".to_string(),
    }
}

/// A path a browser resolves against this site's origin and nowhere else: it starts with
/// one `/`; holds only printable ASCII without backslashes (browsers drop tabs and
/// newlines and read `\\` as `/`, WHATWG URL "path-relative-scheme-less-URL" parsing, so
/// `/<TAB>/evil.example` would become `//evil.example`); and stays so once `%2F`/`%5C`
/// are decoded.
pub(crate) fn is_local_path(n: &str) -> bool {
    let printable = n.len() <= 2048 && n.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'\\');
    let decoded = n.to_ascii_lowercase().replace("%2f", "/").replace("%5c", "/");
    printable && n.starts_with('/') && !decoded.starts_with("//")
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let next = if parts.method == Method::GET {
            parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string()
        } else {
            "/".to_string()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(UiError::SignIn { next });
        };
        let session_hash = hash_token(&token);
        let marks = state.fresh.marks(state.db.as_ref()).await?;
        let Some((key, user)) = state.db.session(&session_hash).await? else {
            return Err(UiError::SignIn { next });
        };
        let secret = state.link_secret().await?;
        let orgs = state.db.list_user_orgs(user.id).await?;
        Ok(Viewer {
            caller: Caller {
                user,
                key,
                marks,
                token: None,
            },
            orgs,
            csrf: csrf_for(secret, &token),
            session_hash,
        })
    }
}

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct SignInForm {
    api_key: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

fn sign_in_form(next: &str, csrf: &str, error: Option<&str>) -> maud::Markup {
    html! {
        h1 { "Sign in" }
        @if let Some(e) = error {
            p.error role="alert" { (e) }
        }
        form.signin method="post" action="/sign-in" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="next" value=(next);
            label for="api_key" { "API key" }
            input #api_key type="password" name="api_key" autocomplete="current-password" required autofocus;
            p.hint { "Use a key from " code { "granary admin key create" } " or from an organization's settings page." }
            button type="submit" { "Sign in" }
        }
    }
}

fn sign_in_response(state: &AppState, headers: &HeaderMap, next: &str, error: Option<&str>) -> Response {
    let csrf = random_token();
    let mut resp = view::page("Sign in", None, None, sign_in_form(next, &csrf, error));
    let secure = if is_tls(state, headers) { "; Secure" } else { "" };
    set_cookie(
        &mut resp,
        format!("{SIGN_IN_COOKIE}={csrf}; Path=/sign-in; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"),
    );
    resp
}

/// `GET /sign-in`: the form (or straight on, when already signed in).
pub async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<SignInQuery>) -> UiResult {
    let next = safe_next(q.next.as_deref());
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if state.db.session(&hash_token(&token)).await?.is_some() {
            return Ok(redirect(&next));
        }
    }
    Ok(sign_in_response(&state, &headers, &next, None))
}

fn redirect(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// `POST /sign-in`: checks the key and opens a session.
pub async fn sign_in(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> UiResult {
    let form: SignInForm = parse_form(&body)?;
    let next = safe_next(form.next.as_deref());
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        let mut resp = sign_in_response(
            &state,
            &headers,
            &next,
            Some("The sign-in form expired. Enter your key again."),
        );
        *resp.status_mut() = axum::http::StatusCode::FORBIDDEN;
        return Ok(resp);
    }
    let Some((key, _user)) = state.db.authenticate(&hash_token(form.api_key.trim())).await? else {
        let mut resp = sign_in_response(
            &state,
            &headers,
            &next,
            Some("That API key is not valid or has been revoked. Check it and try again."),
        );
        *resp.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
        return Ok(resp);
    };
    let token = random_token();
    state
        .db
        .create_session(&hash_token(&token), key.id, Utc::now() + SESSION_TTL)
        .await?;
    let secure = if is_tls(&state, &headers) { "; Secure" } else { "" };
    let mut resp = redirect(&next);
    set_cookie(
        &mut resp,
        format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            SESSION_TTL.num_seconds()
        ),
    );
    set_cookie(&mut resp, format!("{SIGN_IN_COOKIE}=; Path=/sign-in; Max-Age=0"));
    Ok(resp)
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /sign-out`: ends the session here and in the database.
pub async fn sign_out(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> UiResult {
    let form: CsrfForm = parse_form(&body)?;
    viewer.check_csrf(&form.csrf)?;
    state.db.delete_session(&viewer.session_hash).await?;
    let mut resp = redirect("/sign-in");
    set_cookie(
        &mut resp,
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(resp)
}
