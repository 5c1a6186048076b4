//! The users table: profiles shown as a market's `creator`, read in batches.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::{Item, batch_get_by_id, get_s, s, store_error};
use markets_core::domain::UserProfile;
use markets_core::repo::{RepoError, UserRepository};

pub struct DynamoUsers {
    client: Client,
    table: String,
}

impl DynamoUsers {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

#[async_trait]
impl UserRepository for DynamoUsers {
    #[tracing::instrument(skip_all, fields(user = %profile.id), err(Debug))]
    async fn create_if_absent(&self, profile: &UserProfile) -> Result<UserProfile, RepoError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", s(&profile.id))
            .item("name", s(&profile.name))
            .condition_expression("attribute_not_exists(id)")
            // The stored profile comes back with the refusal: no second call to read it.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(profile.clone()),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(refused)) => match &refused.item {
                    Some(stored) => from_item(stored),
                    None => Err(RepoError::Internal("a refused profile write returned no profile".into())),
                },
                _ => Err(store_error(error)),
            },
        }
    }

    #[tracing::instrument(skip_all, fields(count = ids.len()), err(Debug))]
    async fn get_many(&self, ids: &[&str]) -> Result<HashMap<String, UserProfile>, RepoError> {
        let mut profiles = HashMap::with_capacity(ids.len());
        for item in batch_get_by_id(&self.client, &self.table, ids).await? {
            let profile = from_item(&item)?;
            profiles.insert(profile.id.clone(), profile);
        }
        Ok(profiles)
    }
}

pub(super) fn from_item(item: &Item) -> Result<UserProfile, RepoError> {
    Ok(UserProfile { id: get_s(item, "id")?.to_owned(), name: get_s(item, "name")?.to_owned() })
}
