//! What every layer shares about errors: a boxed cause, the cause chain rendered for the logs,
//! and client text quoted safely in a message. The errors themselves live where they arise (a use
//! case's [`crate::service::Error`], a store's [`crate::repo::RepoError`]); their one mapping to
//! HTTP is the edge's `markets_lambda::error::ApiError`.

/// Errors are boxed at the boundary so that the cause chain can be logged but never shown.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Client text quoted in an error message: at most 64 characters, control characters escaped.
pub fn printable(text: &str) -> String {
    text.chars().take(64).flat_map(char::escape_debug).collect()
}

/// Renders an error and its whole cause chain for the logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}
