//! DynamoDB implementations of the repository traits, one module per table.

#[cfg(test)]
mod capacity;
mod idempotency;
mod market_item;
mod markets;
mod outbox;
mod position_item;
mod positions;
mod rate_limits;
mod transaction;
mod users;

pub use idempotency::DynamoIdempotency;
pub use markets::DynamoMarkets;
pub use outbox::{DynamoOutbox, streamed_job};
pub use positions::DynamoPositions;
pub use rate_limits::DynamoRateCounter;
pub use users::DynamoUsers;

use std::collections::{BTreeMap, HashMap};
use std::error::Error;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, KeysAndAttributes, WriteRequest};

use markets_core::domain::Position;
use markets_core::error::BoxError;
use markets_core::json::Json;
use markets_core::repo::{KeyAttr, PageToken, RepoError};
use markets_core::retry::Backoff;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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
/// else is a bug or a misconfiguration (500). Any AWS SDK's error will do (S3 Vectors' too).
pub(crate) fn store_error<E, R>(error: SdkError<E, R>) -> RepoError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    const TRANSIENT: [&str; 9] = [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
        // S3 Vectors' names for the same.
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "InternalServerException",
    ];
    if error_code(&error) == Some("TransactionConflictException") {
        return RepoError::TransactionConflict;
    }
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

fn key_value(value: &KeyAttr) -> AttributeValue {
    match value {
        KeyAttr::S(text) => s(text),
        KeyAttr::N(text) => n(text),
    }
}

/// Where a query continues: the full index key of the last item served. Its page token is its
/// JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PageKey(BTreeMap<String, KeyAttr>);

impl PageKey {
    /// Where a market's positions continue after `position` (the positions table's key).
    fn after_position(position: &Position) -> PageToken {
        let key = Self(
            [
                ("marketId".to_owned(), KeyAttr::S(position.market_id.clone())),
                ("id".to_owned(), KeyAttr::S(position.id.clone())),
            ]
            .into(),
        );
        PageToken(serde_json::to_vec(&key).expect("page keys serialize to JSON"))
    }

    /// The key a page token holds, as DynamoDB's `ExclusiveStartKey`.
    fn exclusive_start(token: &PageToken) -> Result<Item, RepoError> {
        let key: Self = serde_json::from_slice(&token.0).map_err(|_| RepoError::InvalidPosition)?;
        Ok(key.0.iter().map(|(field, value)| (field.clone(), key_value(value))).collect())
    }
}

/// A value's serde form as attributes, member by member: strings are S, numbers N (with their
/// exact digits), booleans BOOL, arrays L, objects M; a `null` member is `None`, no attribute.
fn to_attributes<T: Serialize>(value: &T) -> Vec<(String, Option<AttributeValue>)> {
    let text = serde_json::to_vec(value).expect("stored values serialize to JSON");
    let Ok(Json::Object(members)) = Json::parse(&text) else { panic!("stored values serialize to JSON objects") };
    members.into_iter().map(|(name, value)| (name, attribute(value))).collect()
}

fn attribute(value: Json) -> Option<AttributeValue> {
    Some(match value {
        Json::Null => return None,
        Json::Bool(value) => AttributeValue::Bool(value),
        Json::Number(digits) => AttributeValue::N(digits),
        Json::String(text) => AttributeValue::S(text),
        Json::Array(items) => AttributeValue::L(
            items.into_iter().map(|item| attribute(item).unwrap_or(AttributeValue::Null(true))).collect(),
        ),
        Json::Object(members) => {
            AttributeValue::M(members.into_iter().filter_map(|(name, value)| Some((name, attribute(value)?))).collect())
        }
    })
}

/// The value whose serde form an item's attributes are ([`to_attributes`]' reverse; attributes
/// the value does not have are skipped), or why they are not one.
fn from_attributes<T: DeserializeOwned>(item: &Item) -> Result<T, String> {
    let members = item.iter().filter_map(|(name, value)| Some((name.clone(), json(value)?))).collect();
    let text = serde_json::to_string(&Json::Object(members)).map_err(|error| error.to_string())?;
    serde_json::from_str(&text).map_err(|error| error.to_string())
}

/// An attribute as JSON; `None` for binary and set attributes, which no serde form here has.
fn json(value: &AttributeValue) -> Option<Json> {
    Some(match value {
        AttributeValue::Null(_) => Json::Null,
        AttributeValue::Bool(value) => Json::Bool(*value),
        AttributeValue::N(digits) => Json::Number(digits.clone()),
        AttributeValue::S(text) => Json::String(text.clone()),
        AttributeValue::L(items) => Json::Array(items.iter().map(|item| json(item).unwrap_or(Json::Null)).collect()),
        AttributeValue::M(members) => {
            Json::Object(members.iter().filter_map(|(name, value)| Some((name.clone(), json(value)?))).collect())
        }
        _ => return None,
    })
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

/// BatchGetItem's limit on keys per call.
const BATCH_GET_LIMIT: usize = 100;

/// The items of a table keyed by `id` whose ids are in `ids` (see [`batch_get_by_ids`]).
async fn batch_get_by_id(client: &Client, table: &str, ids: &[&str]) -> Result<Vec<Item>, RepoError> {
    Ok(batch_get_by_ids(client, &[(table, ids)]).await?.remove(table).unwrap_or_default())
}

/// The items of several tables keyed by `id`, `(table, ids)` each, by table: one BatchGetItem for
/// up to 100 unique keys across all the tables, and again for whatever DynamoDB left unprocessed
/// (it may, under load).
async fn batch_get_by_ids(
    client: &Client,
    wanted: &[(&str, &[&str])],
) -> Result<HashMap<String, Vec<Item>>, RepoError> {
    let mut keys: Vec<(&str, &str)> =
        wanted.iter().flat_map(|(table, ids)| ids.iter().map(move |id| (*table, *id))).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut found: HashMap<String, Vec<Item>> = HashMap::new();
    for chunk in keys.chunks(BATCH_GET_LIMIT) {
        let mut by_table: HashMap<String, Vec<Item>> = HashMap::new();
        for (table, id) in chunk {
            by_table.entry((*table).to_owned()).or_default().push(Item::from([("id".to_owned(), s(*id))]));
        }
        let mut pending = by_table
            .into_iter()
            .map(|(table, keys)| {
                let request = KeysAndAttributes::builder().set_keys(Some(keys)).build();
                request.map(|request| (table, request)).map_err(|e| RepoError::Internal(e.into()))
            })
            .collect::<Result<HashMap<_, _>, _>>()?;
        let mut attempt = 0;
        while !pending.is_empty() {
            wait_before_retry(&mut attempt, "keys still unprocessed after retries").await?;
            let output = client.batch_get_item().set_request_items(Some(pending)).send().await.map_err(store_error)?;
            for (table, items) in output.responses.unwrap_or_default() {
                found.entry(table).or_default().extend(items);
            }
            pending = output.unprocessed_keys.unwrap_or_default();
            pending.retain(|_, request| !request.keys.is_empty());
        }
    }
    Ok(found)
}

/// Before each attempt at a batch call's unprocessed part: nothing the first time, then a jittered
/// backoff, and `Unavailable(why)` once the attempts are spent.
async fn wait_before_retry(attempt: &mut u32, why: &'static str) -> Result<(), RepoError> {
    let backoff = Backoff::CONTENTION;
    if *attempt > 0 {
        if *attempt >= backoff.max_attempts {
            return Err(RepoError::Unavailable(why.into()));
        }
        tokio::time::sleep(backoff.delay(*attempt)).await;
    }
    *attempt += 1;
    Ok(())
}

/// Deletes the items of `table` with these keys, with BatchWriteItem (see [`batch_write`]).
async fn batch_delete(client: &Client, table: &str, keys: impl IntoIterator<Item = Item>) -> Result<(), RepoError> {
    let deletes = keys
        .into_iter()
        .map(|key| {
            let delete = DeleteRequest::builder().set_key(Some(key)).build();
            delete.map(|d| (table.to_owned(), WriteRequest::builder().delete_request(d).build()))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| RepoError::Internal(e.into()))?;
    batch_write(client, deletes).await
}

/// BatchWriteItem's limit on requests per call.
const BATCH_WRITE_LIMIT: usize = 25;

/// Writes `requests` (table, request) with BatchWriteItem, 25 a call, and again for whatever
/// DynamoDB left unprocessed (it may, under load).
async fn batch_write(client: &Client, requests: Vec<(String, WriteRequest)>) -> Result<(), RepoError> {
    for chunk in requests.chunks(BATCH_WRITE_LIMIT) {
        let mut pending: HashMap<String, Vec<WriteRequest>> = HashMap::new();
        for (table, request) in chunk {
            pending.entry(table.clone()).or_default().push(request.clone());
        }
        let mut attempt = 0;
        while !pending.is_empty() {
            wait_before_retry(&mut attempt, "batch writes still unprocessed after retries").await?;
            let output =
                client.batch_write_item().set_request_items(Some(pending)).send().await.map_err(store_error)?;
            pending = output.unprocessed_items.unwrap_or_default();
            pending.retain(|_, requests| !requests.is_empty());
        }
    }
    Ok(())
}
