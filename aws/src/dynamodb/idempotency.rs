//! The idempotency table: the first result of each keyed request, expired by TTL (`expiresAt`).
//! The result is a map attribute, `market` or `position`, stored as the markets and positions
//! tables store it.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure};

use super::{Item, get_n, get_s, malformed, market_item, n, position_item, s, store_error};
use markets_core::domain::unix_seconds;
use markets_core::repo::{FirstResult, IdempotencyRecord, IdempotencyRepository, RepoError};

pub struct DynamoIdempotency {
    client: Client,
    table: String,
}

impl DynamoIdempotency {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

/// The transaction item that stores `record`, unless a live record holds the key (TTL deletes
/// lazily, so an expired one may still be there and is overwritten); the live one comes back
/// with the refusal (see [`key_used`]).
pub(super) fn put_record(table: &str, record: &IdempotencyRecord) -> Result<Put, RepoError> {
    let result = match &record.result {
        FirstResult::Market { market, creator } => ("market", market_item::attributes(market, Some(creator))),
        FirstResult::Position(position) => ("position", position_item::to_item(position)),
    };
    let item = Item::from([
        ("key".into(), s(&record.key)),
        ("fingerprint".into(), s(&record.fingerprint)),
        (result.0.into(), AttributeValue::M(result.1)),
        ("expiresAt".into(), n(record.expires_at)),
    ]);
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#key) OR expiresAt < :now")
        .expression_attribute_names("#key", "key")
        .expression_attribute_values(":now", n(unix_seconds()))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(|error| RepoError::Internal(error.into()))
}

/// Why a refused [`put_record`] was refused: the key's live record, as the refusal returned it
/// (none if it did not: the caller reads it).
pub(super) fn key_used(old: Option<&Item>) -> RepoError {
    match old.filter(|old| !old.is_empty()).map(from_item).transpose() {
        Ok(stored) => RepoError::IdempotencyKeyUsed(stored.map(Box::new)),
        Err(error) => error,
    }
}

fn from_item(item: &Item) -> Result<IdempotencyRecord, RepoError> {
    let map = |field| item.get(field).and_then(|value| value.as_m().ok());
    let result = if let Some(market) = map("market") {
        let creator = market_item::creator_from_item(market).ok_or_else(|| malformed(item, "market"))?;
        FirstResult::Market { market: Box::new(market_item::from_item(market)?), creator }
    } else {
        FirstResult::Position(position_item::from_item(map("position").ok_or_else(|| malformed(item, "position"))?)?)
    };
    Ok(IdempotencyRecord {
        key: get_s(item, "key")?.to_owned(),
        fingerprint: get_s(item, "fingerprint")?.to_owned(),
        result,
        expires_at: get_n(item, "expiresAt")?.parse().map_err(|_| malformed(item, "expiresAt"))?,
    })
}

#[async_trait]
impl IdempotencyRepository for DynamoIdempotency {
    #[tracing::instrument(skip(self), err(Debug))]
    async fn get(&self, key: &str) -> Result<Option<IdempotencyRecord>, RepoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("key", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let record = output.item.as_ref().map(from_item).transpose()?;
        Ok(record.filter(|record| record.expires_at >= unix_seconds()))
    }
}
