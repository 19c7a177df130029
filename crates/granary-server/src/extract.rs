//! Extractors whose rejections are the canonical envelope instead of axum's plain text.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// `Json<T>`: a body that is not JSON is 400; JSON of the wrong shape is 422.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection::*;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonDataError(e)) => Err(ApiError::validation(vec![FieldError::new(
                &["body"],
                e.body_text(),
                "invalid_value",
            )])),
            Err(JsonSyntaxError(e)) => Err(ApiError::bad_request(format!(
                "request body is not valid JSON: {}",
                e.body_text()
            ))),
            Err(MissingJsonContentType(_)) => Err(ApiError::bad_request(
                "send the body with 'Content-Type: application/json'",
            )),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// `Query<T>`: values of the wrong type are 422 naming the parameter. Empty values
/// (`?sort_by=&page=`) are ignored, as if the parameter were absent (docs/API.md).
pub struct ApiQuery<T>(pub T);

/// The query string without its empty-valued pairs (`a=`, `a`, `&&`).
fn without_empty_values(q: &str) -> String {
    q.split('&')
        .filter(|kv| kv.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
        .collect::<Vec<_>>()
        .join("&")
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = without_empty_values(parts.uri.query().unwrap_or(""));
        // Repeated keys (`?tags=a&tags=b`) fill `Vec` fields.
        let de = serde_html_form::Deserializer::from_bytes(q.as_bytes());
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.inner().to_string();
            // Errors about a whole field (missing, duplicate, unknown) name it in backticks.
            let loc = match (path.as_str(), msg.split('`').nth(1)) {
                (".", Some(field)) => field.to_string(),
                (".", None) => "query".to_string(),
                _ => path,
            };
            ApiError::validation(vec![FieldError::new(&["query", &loc], msg, "invalid_value")])
        })
    }
}

/// The spellings a query boolean takes, in any case: what the platform the contract comes
/// from accepts, and what Python's `requests`/`urlencode` send for `True`/`False`.
pub const BOOL_SPELLINGS: &str = "true/false, 1/0, yes/no, on/off (any case)";

/// Reads a query boolean: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, in any case
/// (use with `#[serde(default, deserialize_with = "…")]` on an `Option<bool>`). Anything
/// else is an error naming the accepted spellings, which [`ApiQuery`] turns into a 422.
pub fn query_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    parse_bool(&s)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a boolean; use {BOOL_SPELLINGS}")))
}

/// `Some(b)` for a spelling in [`BOOL_SPELLINGS`], else `None`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Q {
        #[serde(default, deserialize_with = "query_bool")]
        flag: Option<bool>,
    }

    fn flag(q: &str) -> Result<Option<bool>, String> {
        serde_html_form::from_str::<Q>(&without_empty_values(q))
            .map(|q| q.flag)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn booleans_take_every_spelling() {
        for t in ["true", "True", "TRUE", "1", "yes", "Yes", "on", "ON"] {
            assert_eq!(flag(&format!("flag={t}")), Ok(Some(true)), "{t}");
        }
        for f in ["false", "False", "0", "no", "NO", "off", "Off"] {
            assert_eq!(flag(&format!("flag={f}")), Ok(Some(false)), "{f}");
        }
        assert_eq!(flag(""), Ok(None));
        assert_eq!(flag("flag="), Ok(None));
        let e = flag("flag=maybe").unwrap_err();
        assert!(e.contains("\"maybe\" is not a boolean; use true/false, 1/0"), "{e}");
    }
}
