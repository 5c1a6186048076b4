//! The rate-limit table (`key`): one counter per identity and window, shared by every instance
//! of every function, expiring by TTL.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;

use super::{is_condition_failed, n, s, store_error};
use crate::repo::{RateCounter, RepoError};

pub struct DynamoRateCounter {
    client: Client,
    table: String,
}

impl DynamoRateCounter {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

#[async_trait]
impl RateCounter for DynamoRateCounter {
    async fn increment_below(&self, key: &str, limit: u64, expires_at: u64) -> Result<Option<u64>, RepoError> {
        // One conditional ADD: counting and checking cannot race, however many instances run.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(key))
            .update_expression("ADD #count :one SET expiresAt = if_not_exists(expiresAt, :expires)")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":expires", n(expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let count = output.attributes().and_then(|a| a.get("count")).and_then(|v| v.as_n().ok());
                Ok(Some(count.and_then(|c| c.parse().ok()).unwrap_or(limit)))
            }
            Err(error) if is_condition_failed(&error) => Ok(None),
            Err(error) => Err(store_error(error)),
        }
    }
}
