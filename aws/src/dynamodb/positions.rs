//! The positions table (`marketId`, `id`): a market's positions, newest first. A position is
//! written in one transaction with its market's volume and version.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, Update};

use super::idempotency::{key_used, put_record};
use super::market_item::{from_item as market_from_item, market_key, read as read_market};
use super::position_item::{POSITION_UPDATE, from_item, put_position};
use super::transaction::{Refused, Transaction};
use super::users::{StoredName, remember};
use super::{PageKey, batch_delete, n, s, store_error};
use crate::settings::Tables;
use markets_core::domain::{MarketStatus, Position, UserProfile};
use markets_core::repo::{IdempotencyRecord, Page, PageToken, PositionRepository, RepoError};

pub struct DynamoPositions {
    client: Client,
    tables: Tables,
}

/// The items of a position's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PositionWrite {
    Market,
    Position,
    Record,
    Trader,
}

impl DynamoPositions {
    pub fn new(client: Client, tables: Tables) -> Self {
        Self { client, tables }
    }

    /// A Query of one market's positions.
    fn market_query(&self, market_id: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.tables.positions)
            .key_condition_expression("marketId = :market")
            .expression_attribute_values(":market", s(market_id))
    }
}

fn build_error(error: aws_sdk_dynamodb::error::BuildError) -> RepoError {
    RepoError::Internal(error.into())
}

#[async_trait]
impl PositionRepository for DynamoPositions {
    #[tracing::instrument(skip_all, fields(market = %position.market_id, amount = %position.amount), err(Debug))]
    async fn add(
        &self,
        position: &Position,
        trader: &UserProfile,
        expected_version: Option<u64>,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), RepoError> {
        let mut condition = "attribute_exists(id) AND #status = :active".to_owned();
        // ADD is exact decimal arithmetic in DynamoDB: concurrent positions never lose an update.
        let mut raise_volume = Update::builder()
            .table_name(&self.tables.markets)
            .set_key(Some(market_key(&position.market_id)))
            .update_expression(POSITION_UPDATE)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", s(&position.created_at))
            .expression_attribute_values(":amount", n(position.amount.to_stored()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":active", s("active"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(version) = expected_version {
            condition.push_str(" AND version = :expected");
            raise_volume = raise_volume.expression_attribute_values(":expected", n(version));
        }
        let raise_volume = raise_volume.condition_expression(condition).build().map_err(build_error)?;
        let mut transaction = Transaction::default();
        // The record first: a cancellation names the first failed item, and a taken key means a
        // replay even on a market closed since.
        if let Some(record) = record {
            transaction.put(PositionWrite::Record, put_record(&self.tables.idempotency, record)?);
        }
        transaction
            .update(PositionWrite::Market, raise_volume)
            .put(PositionWrite::Position, put_position(&self.tables.positions, position)?)
            .update(PositionWrite::Trader, remember(&self.tables.users, trader, StoredName::Ignored)?);
        match transaction.commit(&self.client).await {
            Ok(()) => Ok(()),
            Err(Refused::Condition { item: PositionWrite::Market, old }) => {
                // Why the market refused: gone, not active, or at another version than expected.
                let market = match old.filter(|old| !old.is_empty()) {
                    Some(old) => Some(market_from_item(&old)?),
                    None => read_market(&self.client, &self.tables.markets, &position.market_id).await?,
                };
                Err(match market {
                    None => RepoError::NotFound,
                    Some(market) if market.status != MarketStatus::Active => RepoError::MarketNotActive,
                    Some(_) => RepoError::VersionConflict,
                })
            }
            Err(Refused::Condition { item: PositionWrite::Position, .. }) => Err(RepoError::AlreadyExists),
            Err(Refused::Condition { item: PositionWrite::Record, old }) => Err(key_used(old.as_ref())),
            Err(Refused::Condition { item: PositionWrite::Trader, .. }) => {
                Err(RepoError::Internal("an unconditional profile write was refused".into()))
            }
            Err(Refused::Failed(error)) => Err(error),
        }
    }

    #[tracing::instrument(skip(self, start), err(Debug))]
    async fn list(
        &self,
        market_id: &str,
        start: Option<&PageToken>,
        limit: usize,
    ) -> Result<Page<Position>, RepoError> {
        let exclusive_start = start.map(PageKey::exclusive_start).transpose()?;
        let output = self
            .market_query(market_id)
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(exclusive_start)
            .send()
            .await
            .map_err(store_error)?;
        let positions = output.items.unwrap_or_default().iter().map(from_item).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(positions, limit, PageKey::after_position))
    }

    #[tracing::instrument(skip(self), err(Debug))]
    async fn remove_some(&self, market_id: &str, limit: usize) -> Result<bool, RepoError> {
        let output = self
            .market_query(market_id)
            .projection_expression("marketId, id")
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(store_error)?;
        batch_delete(&self.client, &self.tables.positions, output.items.unwrap_or_default()).await?;
        Ok(output.last_evaluated_key.is_some())
    }
}
