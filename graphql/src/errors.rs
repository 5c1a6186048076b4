//! Errors in GraphQL terms: every error of a response carries `extensions.code`, the REST code of
//! the same refusal (`NOT_FOUND`, `VALIDATION_FAILED` with `extensions.details`, ...), mapped from
//! the API's one error type; what GraphQL itself refuses (syntax, types, limits) is `BAD_REQUEST`.

use async_graphql::{ErrorExtensionValues, ServerError};

use markets_core::error::error_chain;
use markets_core::observability::current_request_id;
use markets_lambda::ApiError;

/// A resolver's answer.
pub type Answer<T> = Result<T, async_graphql::Error>;

/// The code of an error the document itself caused: it could not be parsed, broke the schema's
/// types or rules, or went over a limit.
pub const DOCUMENT_REFUSED: &str = "BAD_REQUEST";

/// `error` as a GraphQL error: the REST message and code, the field errors of a validation
/// failure, the request id; a server error is logged whole and shows only its generic message.
pub fn refused(error: impl Into<ApiError>) -> async_graphql::Error {
    let error = error.into();
    let (status, code) = error.status_and_code();
    if status.is_server_error() {
        tracing::error!(code, error = %error_chain(&error), "GraphQL field failed");
    } else {
        tracing::info!(code, error = %error, "GraphQL field refused");
    }
    let body = error.body(&current_request_id().unwrap_or_default());
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    extensions.set("requestId", body["requestId"].as_str().unwrap_or_default());
    if let Some(details) = body.get("details") {
        let details = async_graphql::Value::from_json(details.clone()).unwrap_or_default();
        extensions.set("details", details);
    }
    let mut graphql = async_graphql::Error::new(error.to_string());
    graphql.extensions = Some(extensions);
    graphql
}

/// Gives every error of a response that has no code (GraphQL's own) [`DOCUMENT_REFUSED`].
pub fn with_codes(errors: &mut [ServerError]) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
        if extensions.get("code").is_none() {
            extensions.set("code", DOCUMENT_REFUSED);
        }
    }
}

/// One GraphQL error, for a request refused before any operation ran (too many operations).
pub fn document_refused(message: impl Into<String>) -> async_graphql::Response {
    let mut error = ServerError::new(message, None);
    with_codes(std::slice::from_mut(&mut error));
    async_graphql::Response::from_errors(vec![error])
}
