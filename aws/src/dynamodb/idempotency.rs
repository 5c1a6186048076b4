//! The idempotency table: the first result of each keyed request, expired by TTL (`expiresAt`).

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure};

use super::{Item, get_n, get_s, n, s, store_error};
use markets_core::domain::unix_seconds;
use markets_core::repo::{IdempotencyRecord, IdempotencyRepository, RepoError};

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
    let mut item = Item::from([
        ("key".into(), s(&record.key)),
        ("fingerprint".into(), s(&record.fingerprint)),
        ("resourceId".into(), s(&record.resource_id)),
        ("data".into(), s(&record.data)),
        ("expiresAt".into(), n(record.expires_at)),
    ]);
    if let Some(version) = record.version {
        item.insert("version".into(), n(version));
    }
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
        Ok(stored) => RepoError::IdempotencyKeyUsed(stored),
        Err(error) => error,
    }
}

fn from_item(item: &Item) -> Result<IdempotencyRecord, RepoError> {
    let number = |field| get_n(item, field)?.parse().map_err(|_| super::malformed(item, field));
    Ok(IdempotencyRecord {
        key: get_s(item, "key")?.to_owned(),
        fingerprint: get_s(item, "fingerprint")?.to_owned(),
        resource_id: get_s(item, "resourceId")?.to_owned(),
        version: item.contains_key("version").then(|| number("version")).transpose()?,
        data: get_s(item, "data")?.to_owned(),
        expires_at: number("expiresAt")?,
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
