//! The rate-limit table (`key`): one counter per identity and window, shared by every instance
//! of every function, expiring by TTL.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;

use super::{error_code, is_condition_failed, n, s, store_error};
use markets_core::repo::{Count, RateCounter, RepoError};

pub struct DynamoRateCounter {
    client: Client,
    table: String,
}

impl DynamoRateCounter {
    /// `client` with the rate counter's own budget (`timeouts`, tighter than other calls': the
    /// count sits in front of every request) and two attempts. Past that the table counts as
    /// unreachable and the request is served (fail open) rather than made slow; a throttled
    /// counter is not retried further.
    pub fn new(client: Client, table: impl Into<String>, timeouts: TimeoutConfig) -> Self {
        let retries = RetryConfig::standard().with_max_attempts(2).with_initial_backoff(Duration::from_millis(20));
        let config = client.config().to_builder().timeout_config(timeouts).retry_config(retries).build();
        Self { client: Client::from_conf(config), table: table.into() }
    }
}

/// What DynamoDB answers when one item (here: one identity's counter) takes writes faster than
/// its partition allows.
const THROTTLED: [&str; 2] = ["ProvisionedThroughputExceededException", "ThrottlingException"];

#[async_trait]
impl RateCounter for DynamoRateCounter {
    async fn increment_below(&self, key: &str, limit: u64, expires_at: u64) -> Result<Count, RepoError> {
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
                Ok(Count::Counted(count.and_then(|c| c.parse().ok()).unwrap_or(limit)))
            }
            Err(error) if is_condition_failed(&error) => Ok(Count::LimitReached),
            Err(error) if error_code(&error).is_some_and(|code| THROTTLED.contains(&code)) => Ok(Count::Throttled),
            Err(error) => Err(store_error(error)),
        }
    }
}
