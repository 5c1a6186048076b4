//! The users table: profiles shown as a market's `creator`, read in batches.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, Update};

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

/// Whether a transaction's profile item may find another name stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StoredName {
    /// Any: the write shows no name (a position).
    Ignored,
    /// Only this one: the write stores the name with it (a market's creator). Another one cancels
    /// the transaction and comes back with the refusal (`ALL_OLD`), to be written again with it.
    MustMatch,
}

/// What [`remember`] writes (`#name` is `name`).
pub(super) const PROFILE_UPDATE: &str = "SET #name = if_not_exists(#name, :name)";

/// The transaction item that stores `profile` unless the user has one (the first profile stays
/// the user's). An Update with `if_not_exists`, not a Put conditioned on absence: that condition
/// would cancel every write but a user's first.
pub(super) fn remember(table: &str, profile: &UserProfile, stored_name: StoredName) -> Result<Update, RepoError> {
    let update = Update::builder()
        .table_name(table)
        .key("id", s(&profile.id))
        .update_expression(PROFILE_UPDATE)
        .expression_attribute_names("#name", "name")
        .expression_attribute_values(":name", s(&profile.name));
    let update = match stored_name {
        StoredName::Ignored => update,
        StoredName::MustMatch => update
            .condition_expression("attribute_not_exists(id) OR #name = :name")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld),
    };
    update.build().map_err(|error| RepoError::Internal(error.into()))
}

/// The stored profile a refused [`remember`] item returned.
pub(super) fn stored_profile(old: Option<&Item>) -> RepoError {
    match old.filter(|old| !old.is_empty()).map(from_item) {
        Some(Ok(stored)) => RepoError::StoredProfileDiffers(stored),
        Some(Err(error)) => error,
        None => RepoError::Internal("a refused profile write returned no profile".into()),
    }
}

pub(super) fn from_item(item: &Item) -> Result<UserProfile, RepoError> {
    Ok(UserProfile { id: get_s(item, "id")?.to_owned(), name: get_s(item, "name")?.to_owned() })
}
