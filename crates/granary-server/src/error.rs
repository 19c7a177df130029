//! The one error type of the HTTP edge and the canonical envelope it renders:
//! `{"code", "detail", "type", "errors"?}`. Internal details are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use granary_blob::BlobError;
use granary_db::DbError;
use serde::Serialize;

/// Every kind of failure a client can see. Closed: adding one is a wire change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    AlreadyExists,
    PayloadTooLarge,
    PreconditionFailed,
    RangeNotSatisfiable,
    Validation,
    UpgradeRequired,
    RateLimited,
    Internal,
    BadGateway,
    GatewayTimeout,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Authentication => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::AlreadyExists => StatusCode::CONFLICT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorKind::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
            ErrorKind::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub fn type_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::PreconditionFailed => "precondition_failed",
            ErrorKind::RangeNotSatisfiable => "range_not_satisfiable",
            ErrorKind::Validation => "validation_error",
            ErrorKind::UpgradeRequired => "upgrade_required",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Internal => "internal_error",
            ErrorKind::BadGateway => "bad_gateway",
            ErrorKind::GatewayTimeout => "gateway_timeout",
        }
    }

    /// The kind an arbitrary error status maps to (for responses produced outside handlers).
    pub fn from_status(status: StatusCode) -> ErrorKind {
        match status.as_u16() {
            400 | 411 | 415 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::MethodNotAllowed,
            409 => ErrorKind::AlreadyExists,
            413 => ErrorKind::PayloadTooLarge,
            412 => ErrorKind::PreconditionFailed,
            416 => ErrorKind::RangeNotSatisfiable,
            422 => ErrorKind::Validation,
            426 => ErrorKind::UpgradeRequired,
            429 => ErrorKind::RateLimited,
            502 => ErrorKind::BadGateway,
            504 => ErrorKind::GatewayTimeout,
            _ if status.is_client_error() => ErrorKind::InvalidRequest,
            _ => ErrorKind::Internal,
        }
    }
}

/// One validation failure: where (`["query", "limit"]`), what, and a machine-readable type.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldError {
    pub loc: Vec<String>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    pub fn new(loc: &[&str], msg: impl Into<String>, kind: &str) -> Self {
        FieldError {
            loc: loc.iter().map(|s| s.to_string()).collect(),
            msg: msg.into(),
            kind: kind.into(),
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// The OCI distribution error code, used when the route is under `/v2/`.
    pub oci_code: Option<&'static str>,
    /// For 416: the blob's size, sent as `Content-Range: bytes */N`.
    pub range_size: Option<u64>,
    /// For 429: seconds until a retry can succeed, sent as `Retry-After` (spec §6).
    pub retry_after: Option<u64>,
}

/// The envelope's JSON shape.
#[derive(Serialize)]
pub struct Envelope<'a> {
    pub code: u16,
    pub detail: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    pub errors: &'a [FieldError],
}

/// Marks a response whose body is already an envelope; carries the OCI code for `/v2/`.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub oci_code: Option<&'static str>,
    pub detail: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        ApiError {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            oci_code: None,
            range_size: None,
            retry_after: None,
        }
    }
    /// 429 `rate_limited` with `Retry-After: secs` (spec §6).
    pub fn rate_limited(detail: impl Into<String>, secs: u64) -> Self {
        ApiError {
            retry_after: Some(secs.max(1)),
            ..Self::new(ErrorKind::RateLimited, detail).oci("TOOMANYREQUESTS")
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Authentication, detail).oci("UNAUTHORIZED")
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, detail).oci("DENIED")
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, detail)
    }
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.loc.join("."), e.msg))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            errors,
            ..Self::new(ErrorKind::Validation, detail)
        }
    }
    pub fn invalid_field(loc: &[&str], msg: impl Into<String>, kind: &str) -> Self {
        Self::validation(vec![FieldError::new(loc, msg, kind)])
    }
    /// A bug: logged here with its cause; the client sees a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorKind::Internal, "internal server error")
    }
    pub fn oci(mut self, code: &'static str) -> Self {
        self.oci_code = Some(code);
        self
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::AlreadyExists(what) => ApiError::conflict(format!("{what} already exists")),
            DbError::Timeout(cause) => {
                tracing::warn!(%cause, "metadata database timed out");
                ApiError::new(
                    ErrorKind::GatewayTimeout,
                    "the metadata database did not answer in time; retry shortly",
                )
            }
            DbError::Backend(cause) | DbError::Unavailable(cause) => {
                tracing::warn!(%cause, "metadata database error");
                ApiError::new(
                    ErrorKind::BadGateway,
                    "the metadata database answered with an error; retry shortly",
                )
            }
            DbError::NotFound(what) => {
                ApiError::not_found(format!("{what} was not found; it may have just been deleted"))
            }
            DbError::Corrupt(cause) => ApiError::internal(cause),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound => ApiError::not_found("blob not found").oci("BLOB_UNKNOWN"),
            BlobError::UploadNotFound => ApiError::not_found("upload session not found").oci("BLOB_UPLOAD_UNKNOWN"),
            e @ BlobError::OffsetMismatch { .. } => {
                ApiError::new(ErrorKind::RangeNotSatisfiable, e.to_string()).oci("BLOB_UPLOAD_INVALID")
            }
            e @ BlobError::DigestMismatch { .. } => ApiError::bad_request(e.to_string()).oci("DIGEST_INVALID"),
            e @ BlobError::Body(_) => ApiError::bad_request(e.to_string()).oci("BLOB_UPLOAD_INVALID"),
            e @ BlobError::InvalidPart(_) => ApiError::bad_request(e.to_string()).oci("BLOB_UPLOAD_INVALID"),
            BlobError::Range => ApiError::new(ErrorKind::RangeNotSatisfiable, "requested range is not satisfiable"),
            e @ BlobError::TooLarge { .. } => {
                ApiError::new(ErrorKind::PayloadTooLarge, e.to_string()).oci("SIZE_INVALID")
            }
            BlobError::Backend(cause) => {
                tracing::warn!(%cause, "object store error");
                ApiError::new(
                    ErrorKind::BadGateway,
                    "the object store answered with an error; retry shortly",
                )
            }
            BlobError::Timeout(cause) => {
                tracing::warn!(%cause, "object store timed out");
                ApiError::new(
                    ErrorKind::GatewayTimeout,
                    "the object store did not answer in time; retry shortly",
                )
            }
            BlobError::Config(cause) => ApiError::internal(cause),
            BlobError::Unavailable(cause) => {
                tracing::warn!(%cause, "object store unavailable");
                ApiError::new(
                    ErrorKind::BadGateway,
                    "the object store answered with an error; retry shortly",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        let body = Envelope {
            code: status.as_u16(),
            detail: &self.detail,
            kind: self.kind.type_str(),
            errors: &self.errors,
        };
        let json = serde_json::to_vec(&body).expect("envelope serialises");
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            json,
        )
            .into_response();
        if self.kind == ErrorKind::Authentication {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"granary\", charset=\"UTF-8\""),
            );
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(size) = self.range_size {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
        }
        resp.extensions_mut().insert(Rendered {
            oci_code: self.oci_code,
            detail: self.detail,
        });
        resp
    }
}
