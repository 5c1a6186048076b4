//! The positions table (`marketId`, `id`): a market's positions, newest first. A position is
//! written in one transaction with its market's volume and version.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::exclusive_start_key;
use super::idempotency::put_record;
use super::markets::{from_item as market_from_item, market_key, read as read_market};
use super::{Cancelled, Item, Tables, cancellation, get_n, get_s, n, s, store_error};
use crate::domain::{Amount, MarketStatus, Outcome, Position};
use crate::repo::{IdempotencyRecord, Page, PageKey, PositionRepository, RepoError};

pub struct DynamoPositions {
    client: Client,
    tables: Tables,
}

impl DynamoPositions {
    pub fn new(client: Client, tables: Tables) -> Self {
        Self { client, tables }
    }
}

pub(super) fn to_item(position: &Position) -> Item {
    Item::from([
        ("marketId".into(), s(&position.market_id)),
        ("id".into(), s(&position.id)),
        ("userId".into(), s(&position.user_id)),
        ("outcome".into(), s(if position.outcome == Outcome::Yes { "yes" } else { "no" })),
        ("amount".into(), n(position.amount.to_stored())),
        ("createdAt".into(), s(&position.created_at)),
    ])
}

fn from_item(item: &Item) -> Result<Position, RepoError> {
    Ok(Position {
        id: get_s(item, "id")?.to_owned(),
        market_id: get_s(item, "marketId")?.to_owned(),
        user_id: get_s(item, "userId")?.to_owned(),
        outcome: if get_s(item, "outcome")? == "yes" { Outcome::Yes } else { Outcome::No },
        amount: Amount::from_stored(get_n(item, "amount")?).ok_or_else(|| super::malformed(item, "amount"))?,
        created_at: get_s(item, "createdAt")?.to_owned(),
    })
}

/// The transaction item that writes a new position.
/// What a position does to its market (the capacity model reads the attributes it writes).
pub(super) const POSITION_UPDATE: &str = "SET updatedAt = :now ADD volume :amount, version :one";

pub(super) fn put_position(table: &str, position: &Position) -> Result<Put, RepoError> {
    Put::builder()
        .table_name(table)
        .set_item(Some(to_item(position)))
        .condition_expression("attribute_not_exists(id)")
        .build()
        .map_err(|error| RepoError::Internal(error.into()))
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
        let mut items = vec![
            TransactWriteItem::builder().update(raise_volume).build(),
            TransactWriteItem::builder().put(put_position(&self.tables.positions, position)?).build(),
        ];
        if let Some(record) = record {
            items.push(TransactWriteItem::builder().put(put_record(&self.tables.idempotency, record)?).build());
        }
        let Err(error) = self.client.transact_write_items().set_transact_items(Some(items)).send().await else {
            return Ok(());
        };
        Err(match cancellation(&error) {
            Some(other @ (Cancelled::Conflict | Cancelled::Throttled)) => other.into(),
            Some(Cancelled::ConditionFailed { index: 0, item }) => {
                // Why the market refused: gone, not active, or at another version than expected.
                let market = match item.filter(|old| !old.is_empty()) {
                    Some(old) => Some(market_from_item(&old)?),
                    None => read_market(&self.client, &self.tables.markets, &position.market_id).await?,
                };
                match market {
                    None => RepoError::NotFound,
                    Some(market) if market.status != MarketStatus::Active => RepoError::MarketNotActive,
                    Some(_) => RepoError::VersionConflict,
                }
            }
            Some(Cancelled::ConditionFailed { index: 1, .. }) => RepoError::AlreadyExists,
            Some(Cancelled::ConditionFailed { .. }) => RepoError::IdempotencyKeyUsed,
            None => store_error(error),
        })
    }

    #[tracing::instrument(skip(self, start), err(Debug))]
    async fn list(&self, market_id: &str, start: Option<&PageKey>, limit: usize) -> Result<Page<Position>, RepoError> {
        let exclusive_start = start.map(exclusive_start_key);
        let output = self
            .client
            .query()
            .table_name(&self.tables.positions)
            .key_condition_expression("marketId = :market")
            .expression_attribute_values(":market", s(market_id))
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(exclusive_start)
            .send()
            .await
            .map_err(store_error)?;
        let positions = output.items.unwrap_or_default().iter().map(from_item).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(positions, limit, PageKey::after_position))
    }
}
