//! DynamoDB implementations of the repository traits, one module per table.

mod markets;

pub use markets::DynamoMarkets;

use std::collections::HashMap;
use std::error::Error;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use super::RepoError;
use crate::error::BoxError;

type Item = HashMap<String, AttributeValue>;

/// The SDK error code of a failed call, if the service answered.
fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

fn is_condition_failed<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error_code(error) == Some("ConditionalCheckFailedException")
}

/// Throttling, server faults and network failures are `Unavailable` (503, retry later); anything
/// else is a bug or a misconfiguration (500).
fn store_error<E, R>(error: SdkError<E, R>) -> RepoError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    const TRANSIENT: [&str; 6] = [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    ];
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        other => error_code(other).is_some_and(|code| TRANSIENT.contains(&code)),
    };
    let source: BoxError = aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string().into();
    if transient { RepoError::Unavailable(source) } else { RepoError::Internal(source) }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn malformed(item: &Item, field: &str) -> RepoError {
    let id = item.get("id").and_then(|v| v.as_s().ok()).map_or("?", String::as_str);
    RepoError::Internal(format!("stored item {id} has a missing or malformed {field}").into())
}

fn get_s<'a>(item: &'a Item, field: &str) -> Result<&'a str, RepoError> {
    item.get(field).and_then(|v| v.as_s().ok()).map(String::as_str).ok_or_else(|| malformed(item, field))
}

fn get_n<'a>(item: &'a Item, field: &str) -> Result<&'a str, RepoError> {
    item.get(field).and_then(|v| v.as_n().ok()).map(String::as_str).ok_or_else(|| malformed(item, field))
}
