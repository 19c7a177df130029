//! The distribution token flow (the "Docker Registry v2 authentication" protocol every OCI
//! client speaks): a `/v2/` request without credentials is answered 401 with
//! `WWW-Authenticate: Bearer realm="<public url>/v2/token",service="granary",scope="…"`;
//! the client asks `GET /v2/token?service=granary&scope=repository:org/name:pull,push`
//! with its API key (Basic `__token__:<key>`, any user name, or Bearer) and gets a
//! short-lived token for what the key may do there; it sends that token as
//! `Authorization: Bearer` on `/v2/` and nowhere else.
//!
//! A token is `grt_<payload>.<mac>`: the payload (base64url JSON) holds the API key's hash,
//! the granted scopes and the expiry; the mac is HMAC-SHA256 of the payload under a key
//! derived from the registry's signing secret (the one every replica shares, see
//! `links.rs`), so any replica honours a token any other issued. A token is only as good
//! as its key: a revoked key's tokens are refused at once.

use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use base64::Engine;
use granary_core::Role;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::auth::{credential, hash_token};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// What a token starts with, telling it apart from an API key (`gra_`).
pub const TOKEN_PREFIX: &str = "grt_";

/// How long a token is valid (seconds). Clients ask again when it runs out.
pub const TOKEN_TTL_SECS: i64 = 300;

/// The `service` the registry names in its challenge and expects in token requests.
pub const SERVICE: &str = "granary";

/// The actions a scope can grant on a repository, in the protocol's words.
pub const ACTIONS: [&str; 3] = ["pull", "push", "delete"];

/// One `repository:<org>/<name>:<actions>` scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// `org/name`.
    #[serde(rename = "r")]
    pub repository: String,
    /// A subset of [`ACTIONS`], in that order.
    #[serde(rename = "a")]
    pub actions: Vec<String>,
}

impl Scope {
    /// Parses `repository:org/name:pull,push` (`*` means every action). `None` for other
    /// resource types (`registry:catalog:*`) and malformed scopes, which grant nothing.
    pub fn parse(s: &str) -> Option<Scope> {
        let rest = s.strip_prefix("repository:")?;
        let (repository, actions) = rest.rsplit_once(':')?;
        if repository.is_empty() {
            return None;
        }
        let wanted: Vec<&str> = actions.split(',').map(str::trim).collect();
        let actions = ACTIONS
            .iter()
            .filter(|a| wanted.contains(a) || wanted.contains(&"*"))
            .map(|a| a.to_string())
            .collect();
        Some(Scope {
            repository: repository.to_string(),
            actions,
        })
    }

    /// The scope as the protocol writes it.
    pub fn render(&self) -> String {
        format!("repository:{}:{}", self.repository, self.actions.join(","))
    }
}

/// What a token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// SHA-256 (hex) of the API key the token was issued for.
    #[serde(rename = "h")]
    pub key_hash: String,
    #[serde(rename = "s")]
    pub scopes: Vec<Scope>,
    /// Unix seconds after which the token is refused.
    #[serde(rename = "e")]
    pub expires: i64,
}

impl Claims {
    /// Whether the token lets `action` be done on `repository`.
    pub fn allows(&self, repository: &str, action: &str) -> bool {
        self.scopes
            .iter()
            .any(|s| s.repository == repository && s.actions.iter().any(|a| a == action))
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], payload: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    // A key of its own for tokens: a link's signature can never pass as a token's.
    m.update(b"granary registry token v1\n");
    m.update(payload.as_bytes());
    m
}

/// Signs `claims` into a token.
pub fn issue(secret: &[u8], claims: &Claims) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = b64.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let tag = b64.encode(mac(secret, &payload).finalize().into_bytes());
    format!("{TOKEN_PREFIX}{payload}.{tag}")
}

/// The claims of a token signed with `secret` that has not expired at `now` (Unix
/// seconds). Errors (401) for a malformed, forged or expired token.
pub fn verify(secret: &[u8], token: &str, now: i64) -> ApiResult<Claims> {
    let invalid = || ApiError::unauthorized("invalid or expired registry token; ask /v2/token for a new one");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let body = token.strip_prefix(TOKEN_PREFIX).ok_or_else(invalid)?;
    let (payload, tag) = body.split_once('.').ok_or_else(invalid)?;
    let tag = b64.decode(tag).map_err(|_| invalid())?;
    mac(secret, payload).verify_slice(&tag).map_err(|_| invalid())?;
    let claims: Claims = serde_json::from_slice(&b64.decode(payload).map_err(|_| invalid())?).map_err(|_| invalid())?;
    if now > claims.expires {
        return Err(invalid());
    }
    Ok(claims)
}

/// The actions a role may be granted: readers pull, contributors also push, owners also
/// delete. Outside the org, pull only (each request still checks the dataset is public).
pub fn allowed_actions(role: Option<Role>) -> &'static [&'static str] {
    match role {
        Some(Role::Owner) => &ACTIONS,
        Some(Role::Contributor) => &ACTIONS[..2],
        Some(Role::Reader) | None => &ACTIONS[..1],
    }
}

/// The query of a token request: `service` and any number of `scope`s (each may also hold
/// several space-separated scopes).
#[derive(Deserialize, Default)]
pub struct TokenQuery {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    scope: Vec<String>,
}

/// `GET /v2/token`: a token for the scopes asked, narrowed to what the key's user may do.
/// 401 (with a Basic challenge) without a valid API key; 400 for another `service`.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    // `scope` repeats, which only a form parser reads into a list.
    let q: TokenQuery = serde_html_form::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("the token request's query could not be read: {e}")))?;
    if let Some(s) = q.service.as_deref().filter(|s| *s != SERVICE) {
        return Err(ApiError::bad_request(format!(
            "this registry's token service is {SERVICE:?}, not {s:?}"
        )));
    }
    let key = credential(&headers)
        .filter(|k| !k.starts_with(TOKEN_PREFIX))
        .ok_or_else(|| {
            ApiError::unauthorized("send an API key: Basic auth with any user name and the key as password")
        })?;
    let marks = state.fresh.marks(state.db.as_ref()).await?;
    let key_hash = hash_token(&key);
    let (_, user) = state
        .fresh
        .key(state.db.as_ref(), marks, &key_hash)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid or revoked API key"))?;
    let mut scopes = Vec::new();
    for s in q.scope.iter().flat_map(|s| s.split(' ')).filter_map(Scope::parse) {
        let org = s.repository.split('/').next().unwrap_or_default();
        let role = match state.fresh.role(state.db.as_ref(), marks, org, user.id).await? {
            Some((_, role)) => role,
            None => None,
        };
        let allowed = allowed_actions(role);
        let actions: Vec<String> = s
            .actions
            .into_iter()
            .filter(|a| allowed.contains(&a.as_str()))
            .collect();
        if !actions.is_empty() {
            scopes.push(Scope {
                repository: s.repository,
                actions,
            });
        }
    }
    let now = chrono::Utc::now();
    let claims = Claims {
        key_hash,
        scopes,
        expires: now.timestamp() + TOKEN_TTL_SECS,
    };
    let token = issue(state.link_secret().await?, &claims);
    Ok(Json(json!({
        "token": token,
        "access_token": token,
        "expires_in": TOKEN_TTL_SECS,
        "issued_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })))
}

/// The repository and action a `/v2/` request needs: `org/name` from the path and pull
/// (GET, HEAD), push (POST, PUT, PATCH) or delete (DELETE). `None` for `/v2/` itself and
/// the token route, which any valid token may reach.
pub fn needed(path: &str, method: &axum::http::Method) -> Option<(String, &'static str)> {
    let rest = path.strip_prefix("/v2/")?;
    let mut parts = rest.split('/');
    let (org, name) = (parts.next()?, parts.next()?);
    if org.is_empty() || name.is_empty() || parts.next().is_none() {
        return None;
    }
    let action = match *method {
        axum::http::Method::GET | axum::http::Method::HEAD => "pull",
        axum::http::Method::DELETE => "delete",
        _ => "push",
    };
    Some((format!("{org}/{name}"), action))
}

/// On `/v2/`, a 401 challenges the client to the token flow: `WWW-Authenticate: Bearer
/// realm="<public url>/v2/token",service="granary",scope="repository:<org/name>:<actions>"`
/// (the scope the request needed; push asks for `pull,push`, as clients do). API keys sent
/// directly (Bearer, Basic, `X-API-Key`) keep working; `/v2/token` itself challenges for
/// Basic.
pub async fn challenge(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let v2 = path == "/v2" || path.starts_with("/v2/");
    if !v2 || path == "/v2/token" {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let headers = req.headers().clone();
    let mut resp = next.run(req).await;
    // A 403 to a registry token (not an API key) is a token without the scope the request
    // needs: challenged like a 401, with `error="insufficient_scope"` (RFC 6750 §3.1).
    let with_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| !t.trim().starts_with(crate::auth::KEY_PREFIX));
    let insufficient = resp.status() == StatusCode::FORBIDDEN && with_token;
    if resp.status() != StatusCode::UNAUTHORIZED && !insufficient {
        return resp;
    }
    let base = crate::routes::oci::base_url(&state, &headers);
    let mut value = format!("Bearer realm=\"{base}/v2/token\",service=\"{SERVICE}\"");
    if let Some((repository, action)) = needed(&path, &method) {
        let actions = match action {
            "push" => "pull,push",
            a => a,
        };
        value.push_str(&format!(",scope=\"repository:{repository}:{actions}\""));
    }
    if insufficient {
        value.push_str(",error=\"insufficient_scope\"");
    }
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires: i64) -> Claims {
        Claims {
            key_hash: "ab".repeat(32),
            scopes: vec![Scope::parse("repository:acme/qa:pull,push").unwrap()],
            expires,
        }
    }

    #[test]
    fn scopes_parse_as_the_protocol_writes_them() {
        let s = Scope::parse("repository:acme/qa:push,pull").unwrap();
        assert_eq!(s.actions, ["pull", "push"]);
        assert_eq!(s.render(), "repository:acme/qa:pull,push");
        assert_eq!(Scope::parse("repository:acme/qa:*").unwrap().actions, ACTIONS);
        assert_eq!(
            Scope::parse("repository:acme/qa:bogus").unwrap().actions,
            Vec::<String>::new()
        );
        assert_eq!(Scope::parse("registry:catalog:*"), None);
        assert_eq!(Scope::parse("repository::pull"), None);
        assert_eq!(Scope::parse("repository:acme/qa"), None);
    }

    #[test]
    fn tokens_verify_until_they_expire_and_not_when_altered() {
        let secret = b"secret";
        let t = issue(secret, &claims(1_000));
        assert!(t.starts_with(TOKEN_PREFIX));
        assert_eq!(verify(secret, &t, 1_000).unwrap(), claims(1_000));
        assert!(verify(secret, &t, 1_001).is_err(), "expired");
        assert!(verify(b"other", &t, 0).is_err(), "another registry's secret");
        // a payload changed to widen the scope no longer matches its mac
        let wider = issue(
            secret,
            &Claims {
                scopes: vec![Scope::parse("repository:acme/qa:*").unwrap()],
                ..claims(1_000)
            },
        );
        let (_, forged_payload) = wider.split_once('_').unwrap();
        let (_, tag) = t.split_once('.').unwrap();
        let forged = format!("{TOKEN_PREFIX}{}.{tag}", forged_payload.split_once('.').unwrap().0);
        assert!(verify(secret, &forged, 0).is_err());
        assert!(verify(secret, "gra_notatoken", 0).is_err());
        assert!(verify(secret, "grt_x.y", 0).is_err());
    }

    #[test]
    fn grants_follow_roles() {
        assert_eq!(allowed_actions(Some(Role::Owner)), ["pull", "push", "delete"]);
        assert_eq!(allowed_actions(Some(Role::Contributor)), ["pull", "push"]);
        assert_eq!(allowed_actions(Some(Role::Reader)), ["pull"]);
        assert_eq!(allowed_actions(None), ["pull"]);
        let c = claims(0);
        assert!(c.allows("acme/qa", "push") && !c.allows("acme/qa", "delete") && !c.allows("acme/other", "pull"));
    }

    #[test]
    fn requests_name_their_repository_and_action() {
        use axum::http::Method;
        assert_eq!(
            needed("/v2/acme/qa/blobs/uploads/", &Method::POST),
            Some(("acme/qa".into(), "push"))
        );
        assert_eq!(
            needed("/v2/acme/qa/manifests/1.0.0", &Method::HEAD),
            Some(("acme/qa".into(), "pull"))
        );
        assert_eq!(
            needed("/v2/acme/qa/manifests/1.0.0", &Method::DELETE),
            Some(("acme/qa".into(), "delete"))
        );
        assert_eq!(needed("/v2/", &Method::GET), None);
        assert_eq!(needed("/v2/token", &Method::GET), None);
        assert_eq!(needed("/api/v1/acme/qa/blobs/uploads/", &Method::POST), None);
    }
}
