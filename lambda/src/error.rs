//! The API's one error type and its one mapping to the contract's JSON error body and status.

use lambda_http::http::StatusCode;
use serde_json::json;

use markets_core::domain::FieldError;
use markets_core::error::BoxError;
use markets_core::service;

/// Every way a request can fail, each meaning something to the caller.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("request body failed validation")]
    Validation(Vec<FieldError>),
    #[error("cursor is invalid or belongs to another query")]
    InvalidCursor,
    /// No credentials where they are required.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Credentials were sent but are not a valid token (malformed, expired, forged, not yet valid).
    #[error("{0}")]
    InvalidToken(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String, allow: String },
    #[error("{0}")]
    Conflict(&'static str),
    #[error("the market is not active")]
    MarketNotActive,
    #[error("market status cannot change from {from} to {to}")]
    InvalidTransition { from: &'static str, to: &'static str },
    #[error("the resource changed since the version given in If-Match")]
    PreconditionFailed,
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("too many requests: retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// A bug: the source is logged, the client sees a generic message.
    #[error("internal error")]
    Internal(#[source] BoxError),
    /// A dependency is down or throttling after the SDK's retries.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] BoxError),
}

/// What a 400's `details` shows at most: so many entries, and so much of each field name and
/// message, so that a body of many long unknown keys is not echoed back several times over.
const MAX_DETAILS: usize = 20;
const MAX_FIELD_CHARS: usize = 100;
const MAX_MESSAGE_CHARS: usize = 200;

impl ApiError {
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self::Internal(source.into())
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// The HTTP status and the contract's machine code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            Self::InvalidJson(_) => (StatusCode::BAD_REQUEST, "INVALID_JSON"),
            Self::Validation(_) => (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"),
            Self::InvalidCursor => (StatusCode::BAD_REQUEST, "INVALID_CURSOR"),
            Self::Unauthorized(_) | Self::InvalidToken(_) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Self::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT"),
            Self::MarketNotActive => (StatusCode::CONFLICT, "MARKET_NOT_ACTIVE"),
            Self::InvalidTransition { .. } => (StatusCode::CONFLICT, "INVALID_TRANSITION"),
            Self::PreconditionFailed => (StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED"),
            Self::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Self::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
            Self::IdempotencyKeyReused => (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
        }
    }

    /// The contract's error body. 5xx messages are generic: the cause is logged, never shown.
    pub fn body(&self, request_id: &str) -> serde_json::Value {
        let mut body = json!({
            "success": false,
            "error": self.to_string(),
            "code": self.status_and_code().1,
            "requestId": request_id,
        });
        if let Self::Validation(details) = self {
            let cut = |text: &str, chars: usize| text.chars().take(chars).collect::<String>();
            let shown = details.iter().take(MAX_DETAILS).map(|detail| {
                json!({ "field": cut(&detail.field, MAX_FIELD_CHARS), "message": cut(&detail.message, MAX_MESSAGE_CHARS) })
            });
            body["details"] = shown.collect();
        }
        body
    }

    /// The headers this error's response carries.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::MethodNotAllowed { allow, .. } => vec![("allow", allow.clone())],
            // RFC 6750: the scheme to use, and why the sent token was refused.
            Self::Unauthorized(_) => vec![("www-authenticate", "Bearer".to_owned())],
            Self::InvalidToken(_) => vec![("www-authenticate", "Bearer error=\"invalid_token\"".to_owned())],
            Self::Unavailable(_) => vec![("retry-after", "1".to_owned())],
            Self::RateLimited { retry_after } => vec![("retry-after", retry_after.to_string())],
            _ => Vec::new(),
        }
    }
}

impl From<service::Error> for ApiError {
    /// What a use case's refusal or failure means over HTTP.
    fn from(error: service::Error) -> Self {
        use service::Error;
        match error {
            Error::MarketNotFound { .. } => Self::NotFound(error.to_string()),
            Error::Forbidden(reason) => Self::Forbidden(reason),
            Error::PreconditionFailed => Self::PreconditionFailed,
            Error::InvalidTransition { from, to } => Self::InvalidTransition { from: from.as_str(), to: to.as_str() },
            Error::MarketNotActive => Self::MarketNotActive,
            Error::IdempotencyKeyReused => Self::IdempotencyKeyReused,
            Error::Conflict(reason) => Self::Conflict(reason),
            Error::StaleListPosition => Self::InvalidCursor,
            Error::Unavailable(source) => Self::Unavailable(source),
            Error::Internal(source) => Self::Internal(source),
        }
    }
}

/// A request body's broken field rules.
impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Validation(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ApiResponse;
    use markets_core::error::error_chain;

    #[test]
    fn server_errors_hide_their_cause() {
        let error = ApiError::internal("table markets-prod: AccessDenied for arn:aws:iam::1:role/x");
        let response = ApiResponse::error(&error, "req-1");
        let body = response.body_json();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["code"], "INTERNAL");
        assert_eq!(body["error"], "internal error");
        assert!(!body.to_string().contains("markets-prod"));
        assert!(error_chain(&error).contains("AccessDenied"));
    }

    #[test]
    fn validation_errors_name_each_field() {
        let error = ApiError::Validation(vec![FieldError::new("name", "must not be empty")]);
        let body = ApiResponse::error(&error, "req-2").body_json();
        assert_eq!(body["code"], "VALIDATION_FAILED");
        assert_eq!(body["requestId"], "req-2");
        assert_eq!(body["details"][0]["field"], "name");
    }

    #[test]
    fn every_401_names_the_bearer_scheme() {
        let missing = ApiResponse::error(&ApiError::Unauthorized("a bearer token is required"), "r");
        assert_eq!(missing.header_value("www-authenticate"), Some("Bearer"));
        let refused = ApiResponse::error(&ApiError::InvalidToken("expired"), "r");
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(refused.header_value("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    }

    #[test]
    fn unavailable_asks_to_retry() {
        let response = ApiResponse::error(&ApiError::Unavailable("throttled".into()), "r");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.header_value("retry-after"), Some("1"));
    }
}
