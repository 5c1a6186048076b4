//! The users table: profiles shown as a market's `creator`, read in batches.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::{Item, get_s, is_condition_failed, s, store_error};
use crate::domain::UserProfile;
use crate::repo::{RepoError, UserRepository};
use crate::retry::Backoff;

/// BatchGetItem's limit on keys per call.
const BATCH_LIMIT: usize = 100;

pub struct DynamoUsers {
    client: Client,
    table: String,
}

impl DynamoUsers {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// One BatchGetItem, then again for whatever DynamoDB left unprocessed (it may, under load).
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, RepoError> {
        let backoff = Backoff::CONTENTION;
        let mut found = Vec::with_capacity(keys.len());
        let mut pending =
            Some(KeysAndAttributes::builder().set_keys(Some(keys)).build().map_err(|e| RepoError::Internal(e.into()))?);
        let mut attempt = 0;
        while let Some(request) = pending.take() {
            if attempt > 0 {
                if attempt >= backoff.max_attempts {
                    return Err(RepoError::Unavailable("keys still unprocessed after retries".into()));
                }
                tokio::time::sleep(backoff.delay(attempt)).await;
            }
            attempt += 1;
            let output =
                self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(store_error)?;
            found.extend(output.responses.and_then(|mut tables| tables.remove(&self.table)).unwrap_or_default());
            pending = output
                .unprocessed_keys
                .and_then(|mut tables| tables.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
        }
        Ok(found)
    }
}

#[async_trait]
impl UserRepository for DynamoUsers {
    #[tracing::instrument(skip_all, fields(user = %profile.id), err(Debug))]
    async fn create_if_absent(&self, profile: &UserProfile) -> Result<(), RepoError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", s(&profile.id))
            .item("name", s(&profile.name))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match result {
            Err(error) if !is_condition_failed(&error) => Err(store_error(error)),
            _ => Ok(()),
        }
    }

    #[tracing::instrument(skip_all, fields(count = ids.len()), err(Debug))]
    async fn get_many(&self, ids: &[&str]) -> Result<HashMap<String, UserProfile>, RepoError> {
        let mut unique: Vec<&str> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let mut profiles = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(BATCH_LIMIT) {
            let keys = chunk.iter().map(|id| Item::from([("id".to_owned(), s(*id))])).collect();
            for item in self.batch_get(keys).await? {
                let profile =
                    UserProfile { id: get_s(&item, "id")?.to_owned(), name: get_s(&item, "name")?.to_owned() };
                profiles.insert(profile.id.clone(), profile);
            }
        }
        Ok(profiles)
    }
}
