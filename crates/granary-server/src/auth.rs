//! API keys and the one place a request's credentials are read. Keys are 32 random bytes;
//! only their SHA-256 is stored. Accepted as `Authorization: Bearer`, `X-API-Key`, or
//! `Authorization: Basic base64("__token__:<key>")` (any user name is accepted with Basic).

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap};
use base64::Engine;
use granary_db::{ApiKey, DbResult, MetadataStore, User};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::AppState;

pub const KEY_PREFIX: &str = "gra_";

/// Creates a key for the user; returns the stored record and the key itself (shown once).
pub async fn issue_api_key(db: &dyn MetadataStore, user_id: Uuid, name: &str) -> DbResult<(ApiKey, String)> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    let key = db
        .create_api_key(user_id, name, &token[..12], &hash_token(&token))
        .await?;
    Ok((key, token))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The credential a request carries, if any.
pub fn credential(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = auth.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_user, password) = text.split_once(':')?;
        return Some(password.to_string());
    }
    None
}

/// An authenticated caller. Extracting it fails with 401 when credentials are missing,
/// unknown or revoked.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    pub key: ApiKey,
    /// The store's change marks, read after the request arrived: what the request's cached
    /// lookups (roles, the catalog) must reflect.
    pub marks: granary_db::ChangeMarks,
    /// The registry token the request came with, when it came with one rather than the key
    /// itself (`/v2/` only; see [`crate::token`]).
    pub token: Option<crate::token::Claims>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let token = credential(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized(
                "authentication required: send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            )
        })?;
        let marks = state.fresh.marks(state.db.as_ref()).await?;
        let (hash, claims) = if token.starts_with(crate::token::TOKEN_PREFIX) {
            let claims = registry_token(parts, state, &token).await?;
            (claims.key_hash.clone(), Some(claims))
        } else {
            (hash_token(&token), None)
        };
        let (key, user) = state
            .fresh
            .key(state.db.as_ref(), marks, &hash)
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid or revoked API key"))?;
        let caller = Caller {
            user,
            key,
            marks,
            token: claims,
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// Checks a registry token for this request: valid, unexpired (401 otherwise), on `/v2/`,
/// and granting the action the request needs on its repository: 403 otherwise, RFC 6750's
/// `insufficient_scope`, which `token::challenge` answers with the scope to ask for (ORAS
/// asks for a new token on a 403; on a 401 it retries with the token it has).
async fn registry_token(parts: &Parts, state: &AppState, token: &str) -> Result<crate::token::Claims, ApiError> {
    let claims = crate::token::verify(state.link_secret().await?, token, chrono::Utc::now().timestamp())?;
    let path = parts.uri.path();
    if !(path == "/v2" || path.starts_with("/v2/")) {
        return Err(ApiError::unauthorized(
            "registry tokens are for /v2/ only; send the API key itself",
        ));
    }
    if let Some((repository, action)) = crate::token::needed(path, &parts.method) {
        if !claims.allows(&repository, action) {
            return Err(ApiError::forbidden(format!(
                "the token does not grant {action} on {repository}; ask /v2/token for scope repository:{repository}:{action}"
            )));
        }
    }
    Ok(claims)
}
