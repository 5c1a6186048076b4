//! The vectors table (`shard`, `marketId`): one embedding per market, written conditionally so
//! that jobs can arrive twice or out of order. Search reads the whole partition with Query and
//! ranks in memory: fine up to some tens of thousands of markets (see the README for the upgrade
//! path to a real vector store).

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Item, get_s, is_condition_failed, n, s, store_error};
use crate::domain::unix_seconds;
use crate::repo::RepoError;
use crate::search::{IndexEntry, IndexOutcome, VectorIndex, cosine, top_k};

const SHARD: &str = "all";
/// How long a deleted market's tombstone outlives it: longer than any job can be delayed.
const TOMBSTONE_SECONDS: u64 = 7 * 24 * 60 * 60;

pub struct DynamoVectors {
    client: Client,
    table: String,
}

impl DynamoVectors {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])).collect()
}

#[async_trait]
impl VectorIndex for DynamoVectors {
    #[tracing::instrument(skip_all, fields(market = %entry.market_id, version = entry.version), err(Debug))]
    async fn upsert(&self, entry: &IndexEntry) -> Result<IndexOutcome, RepoError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("shard", s(SHARD))
            .item("marketId", s(&entry.market_id))
            .item("version", n(entry.version))
            .item("vector", AttributeValue::B(Blob::new(to_bytes(&entry.vector))))
            .condition_expression(
                "attribute_not_exists(marketId) OR (version < :version AND attribute_not_exists(deleted))",
            )
            .expression_attribute_values(":version", n(entry.version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(IndexOutcome::Written),
            Err(error) if is_condition_failed(&error) => Ok(IndexOutcome::Stale),
            Err(error) => Err(store_error(error)),
        }
    }

    #[tracing::instrument(skip(self), err(Debug))]
    async fn remove(&self, market_id: &str) -> Result<(), RepoError> {
        // A tombstone, not a delete: an update job that arrives late must not bring the entry back.
        self.client
            .put_item()
            .table_name(&self.table)
            .item("shard", s(SHARD))
            .item("marketId", s(market_id))
            .item("deleted", AttributeValue::Bool(true))
            .item("expiresAt", n(unix_seconds() + TOMBSTONE_SECONDS))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(k), err(Debug))]
    async fn search(&self, query: &[f32], k: usize) -> Result<Vec<(String, f32)>, RepoError> {
        let mut scored = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("shard = :shard")
                .expression_attribute_values(":shard", s(SHARD))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(store_error)?;
            for item in output.items() {
                if let Some(AttributeValue::B(vector)) = item.get("vector")
                    && !item.contains_key("deleted")
                {
                    scored.push((get_s(item, "marketId")?.to_owned(), cosine(query, &from_bytes(vector.as_ref()))));
                }
            }
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => break,
            }
        }
        Ok(top_k(scored, k))
    }
}
