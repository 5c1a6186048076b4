//! The markets table. Lists are served by one GSI per variant (`all-*` partitioned by `listPk`,
//! `status-*` by `statusPk`), so that no request ever scans the table. Both partition keys are
//! write-sharded (`MARKET#<shard>`, `<status>#<shard>`, the shard from the market's id) and the
//! indexes project only their keys and `creatorId`: a position's volume change rewrites two index
//! entries, and no index partition takes more than 1/N of the writes.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, PutRequest, WriteRequest};

use super::idempotency::{key_used, put_record};
use super::market_item::{
    ALL_MARKETS, creator_from_item, edit, filter_partition, filter_partition_key, from_item, market_key, read,
    read_item, to_item,
};
use super::outbox::put_job;
use super::position_item::{put_position, to_item as position_item};
use super::transaction::{Refused, Transaction, WriteItem};
use super::users::{StoredName, remember, stored_profile};
use super::{Item, batch_get_by_ids, batch_write, get_s, key_value, n, s, store_error};
use crate::settings::Tables;
use markets_core::domain::IndexJob;
use markets_core::domain::{Market, Position, UserProfile};
use markets_core::repo::listing::{ShardRead, merge, read_shards};
use markets_core::repo::{
    IdempotencyRecord, KeyAttr, ListPosition, ListQuery, Listed, ListedMarket, MarketRepository, Page, PageToken,
    RepoError, SortField, SortOrder,
};

pub struct DynamoMarkets {
    client: Client,
    tables: Tables,
    table: String,
}

/// The partition key of an index as a list reads it: the attribute and its value in one shard.
struct ShardKey<'a> {
    index: String,
    partition: String,
    value: String,
    sort: &'static str,
    query: &'a ListQuery,
}

impl DynamoMarkets {
    pub fn new(client: Client, tables: Tables) -> Self {
        Self { client, table: tables.markets.clone(), tables }
    }

    /// Bulk load for tools (the seed): markets with their first positions, in BatchWriteItem calls
    /// of 25 items, unconditionally and without index jobs.
    pub async fn import(&self, markets: &[(Market, Position)]) -> Result<(), RepoError> {
        let put = |table: &str, item: Item| {
            let put = PutRequest::builder().set_item(Some(item)).build().map_err(|e| RepoError::Internal(e.into()))?;
            Ok::<_, RepoError>((table.to_owned(), WriteRequest::builder().put_request(put).build()))
        };
        let mut requests = Vec::with_capacity(markets.len() * 2);
        for (market, position) in markets {
            requests.push(put(&self.table, to_item(market, None, self.tables.write_shards))?);
            requests.push(put(&self.tables.positions, position_item(position))?);
        }
        batch_write(&self.client, requests).await
    }
}

/// The items of a write to one market.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MarketWrite {
    Market,
    Job,
    FirstPosition,
    Record,
    Creator,
}

impl DynamoMarkets {
    /// A conditional write on one market and its index job in one transaction; a failed
    /// condition is `NotFound` when the market is gone, else `VersionConflict`.
    async fn transact_on_market(&self, id: &str, write: WriteItem, job: &IndexJob) -> Result<(), RepoError> {
        let mut transaction = Transaction::default();
        transaction.add(MarketWrite::Market, write).put(MarketWrite::Job, put_job(&self.tables.outbox, job)?);
        match transaction.commit(&self.client).await {
            Ok(()) => Ok(()),
            Err(Refused::Condition { .. }) => match self.get(id).await? {
                Some(_) => Err(RepoError::VersionConflict),
                None => Err(RepoError::NotFound),
            },
            Err(Refused::Failed(error)) => Err(error),
        }
    }
}

/// The index that serves a query, and its partition and sort attributes, in shard `shard`.
fn shard_key(query: &ListQuery, shard: usize) -> ShardKey<'_> {
    let (prefix, partition, value) = match &query.filter {
        Some(filter) => {
            (filter.field.name, filter_partition_key(filter.field.name), filter_partition(&filter.value, shard))
        }
        None => ("all", "listPk".to_owned(), format!("{ALL_MARKETS}#{shard}")),
    };
    let sort = match query.sort {
        SortField::CreatedAt => "createdAt",
        SortField::Volume => "volume",
        SortField::Name => "nameKey",
    };
    ShardKey { index: format!("{prefix}-{}", query.sort.as_str()), partition, value, sort, query }
}

impl ShardKey<'_> {
    /// Where DynamoDB resumes after `id` (whose sort value is `sort`) in this shard.
    fn after(&self, sort: &KeyAttr, id: &str) -> Item {
        Item::from([
            ("id".to_owned(), s(id)),
            (self.partition.clone(), s(&self.value)),
            (self.sort.to_owned(), key_value(sort)),
        ])
    }

    fn listed(&self, item: &Item) -> Result<Listed, RepoError> {
        let sort = match item.get(self.sort) {
            Some(AttributeValue::S(text)) => KeyAttr::S(text.clone()),
            Some(AttributeValue::N(text)) => KeyAttr::N(text.clone()),
            _ => return Err(super::malformed(item, self.sort)),
        };
        Ok(Listed { id: get_s(item, "id")?.to_owned(), creator_id: get_s(item, "creatorId")?.to_owned(), sort })
    }
}

impl DynamoMarkets {
    /// Up to `wanted` index entries of one shard after `start`, in the query's order: one Query,
    /// more only when a page of entries passes DynamoDB's 1 MB per call.
    async fn read_shard(&self, key: ShardKey<'_>, start: Option<Item>, wanted: usize) -> Result<ShardRead, RepoError> {
        let mut read = ShardRead::default();
        let mut exclusive_start = start;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(&key.index)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", &key.partition)
                .expression_attribute_values(":pk", s(&key.value))
                .scan_index_forward(key.query.order == SortOrder::Asc)
                .limit(i32::try_from(wanted - read.markets.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(exclusive_start.take())
                .send()
                .await
                .map_err(store_error)?;
            for item in output.items() {
                read.markets.push(key.listed(item)?);
            }
            match output.last_evaluated_key {
                Some(last) if read.markets.len() < wanted => exclusive_start = Some(last),
                Some(_) => return Ok(read),
                None => {
                    read.exhausted = true;
                    return Ok(read);
                }
            }
        }
    }
}

#[async_trait]
impl MarketRepository for DynamoMarkets {
    #[tracing::instrument(skip(self), err(Debug))]
    async fn get(&self, id: &str) -> Result<Option<Market>, RepoError> {
        read(&self.client, &self.table, id).await
    }

    #[tracing::instrument(skip(self), err(Debug))]
    async fn get_with_creator(&self, id: &str) -> Result<Option<(Market, Option<UserProfile>)>, RepoError> {
        let Some(item) = read_item(&self.client, &self.table, id).await? else { return Ok(None) };
        Ok(Some((from_item(&item)?, creator_from_item(&item))))
    }

    #[tracing::instrument(skip_all, fields(count = ids.len()), err(Debug))]
    async fn get_many_with_creators(
        &self,
        ids: &[&str],
        creator_ids: &[&str],
    ) -> Result<(Vec<Market>, HashMap<String, UserProfile>), RepoError> {
        let wanted = [(self.table.as_str(), ids), (self.tables.users.as_str(), creator_ids)];
        let mut found = batch_get_by_ids(&self.client, &wanted).await?;
        let markets = found.remove(&self.table).unwrap_or_default().iter().map(from_item).collect::<Result<_, _>>()?;
        let mut creators = HashMap::new();
        for item in found.remove(&self.tables.users).unwrap_or_default() {
            let profile = super::users::from_item(&item)?;
            creators.insert(profile.id.clone(), profile);
        }
        Ok((markets, creators))
    }

    #[tracing::instrument(skip_all, fields(id = %market.id), err(Debug))]
    async fn create(
        &self,
        market: &Market,
        creator: &UserProfile,
        first_position: Option<&Position>,
        record: Option<&IdempotencyRecord>,
        job: &IndexJob,
    ) -> Result<(), RepoError> {
        let put_market = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(market, Some(creator), self.tables.write_shards)))
            .condition_expression("attribute_not_exists(id)")
            .build()
            .map_err(|error| RepoError::Internal(error.into()))?;
        let mut transaction = Transaction::default();
        // The record first: a cancellation names the first failed item, and a taken key means a
        // replay whatever else failed.
        if let Some(record) = record {
            transaction.put(MarketWrite::Record, put_record(&self.tables.idempotency, record)?);
        }
        transaction.put(MarketWrite::Market, put_market).put(MarketWrite::Job, put_job(&self.tables.outbox, job)?);
        if let Some(position) = first_position {
            transaction.put(MarketWrite::FirstPosition, put_position(&self.tables.positions, position)?);
        }
        let creator_item = remember(&self.tables.users, creator, StoredName::MustMatch)?;
        transaction.update(MarketWrite::Creator, creator_item);
        // All or none: a market never exists without the position or the record written with it.
        match transaction.commit(&self.client).await {
            Ok(()) => Ok(()),
            Err(Refused::Condition { item: MarketWrite::Record, old }) => Err(key_used(old.as_ref())),
            Err(Refused::Condition { item: MarketWrite::Creator, old }) => Err(stored_profile(old.as_ref())),
            Err(Refused::Condition { .. }) => Err(RepoError::AlreadyExists),
            Err(Refused::Failed(error)) => Err(error),
        }
    }

    #[tracing::instrument(skip_all, fields(id = %market.id, version = market.version), err(Debug))]
    async fn update(&self, market: &Market, job: &IndexJob) -> Result<(), RepoError> {
        // Only the editable fields: volume is moved by position transactions, never overwritten.
        let update = edit(&self.table, market, self.tables.write_shards)
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(market.version - 1))
            .build()
            .map_err(|e| RepoError::Internal(e.into()))?;
        self.transact_on_market(&market.id, WriteItem::Update(update), job).await
    }

    #[tracing::instrument(skip(self, job), err(Debug))]
    async fn delete(&self, id: &str, expected_version: Option<u64>, job: &IndexJob) -> Result<(), RepoError> {
        let delete = Delete::builder().table_name(&self.table).set_key(Some(market_key(id)));
        let delete = match expected_version {
            Some(version) => {
                delete.condition_expression("version = :expected").expression_attribute_values(":expected", n(version))
            }
            None => delete.condition_expression("attribute_exists(id)"),
        };
        let delete = delete.build().map_err(|e| RepoError::Internal(e.into()))?;
        self.transact_on_market(id, WriteItem::Delete(delete), job).await
    }

    #[tracing::instrument(skip(self, start), err(Debug))]
    async fn list(
        &self,
        query: &ListQuery,
        start: Option<&PageToken>,
        offset: usize,
        limit: usize,
    ) -> Result<Page<ListedMarket>, RepoError> {
        let start = start.map(ListPosition::from_token).transpose()?;
        let shards = self.tables.write_shards;
        if start.as_ref().is_some_and(|start| start.shards != shards) {
            return Err(RepoError::InvalidPosition);
        }
        let after = start.as_ref().map(|start| &start.after);
        let reads = read_shards(query.order, shards, after, offset + limit + 1, |shard, after, wanted| async move {
            let key = shard_key(query, shard);
            // Every shard resumes at the same place of the one order: a key of this shard's
            // partition with the last market's sort value and id (not necessarily an item of it).
            let start = after.map(|after| key.after(&after.sort, &after.id));
            self.read_shard(key, start, wanted).await
        })
        .await?;
        Ok(merge(query.order, shards, reads, offset, limit).into())
    }
}
