//! The outbox table (`queue`, `id`): index jobs written in the same transaction as their market
//! change, until they are known to be on the queue. `queue` is `index#<shard>` (the shard from the
//! job id), so that no partition takes more than 1/N of the market changes, and the sweeper reads
//! the waiting jobs with one Query per shard (never a Scan); it only ever holds jobs in flight.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{DeleteRequest, Put, WriteRequest};

use super::{Item, batch_write, get_s, s, store_error};
use crate::jobs::{IndexJob, Outbox};
use crate::repo::RepoError;
use crate::repo::listing::shard_of;

const PARTITION: &str = "index";

pub struct DynamoOutbox {
    client: Client,
    table: String,
    shards: usize,
}

impl DynamoOutbox {
    pub fn new(client: Client, table: impl Into<String>, shards: usize) -> Self {
        Self { client, table: table.into(), shards }
    }
}

fn partition(shard: usize) -> String {
    format!("{PARTITION}#{shard}")
}

fn key(job_id: &str, shards: usize) -> Item {
    Item::from([("queue".to_owned(), s(partition(shard_of(job_id, shards)))), ("id".to_owned(), s(job_id))])
}

/// The transaction item that parks `job` in the outbox.
pub(super) fn put_job(table: &str, job: &IndexJob, shards: usize) -> Result<Put, RepoError> {
    let mut item = key(&job.id, shards);
    item.insert("job".into(), s(serde_json::to_string(job).map_err(|e| RepoError::Internal(e.into()))?));
    Put::builder().table_name(table).set_item(Some(item)).build().map_err(|e| RepoError::Internal(e.into()))
}

#[async_trait]
impl Outbox for DynamoOutbox {
    async fn pending(&self, limit: usize) -> Result<Vec<IndexJob>, RepoError> {
        let reads = (0..self.shards).map(|shard| {
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#queue = :queue")
                .expression_attribute_names("#queue", "queue")
                .expression_attribute_values(":queue", s(partition(shard)))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .consistent_read(true)
                .send()
        });
        let mut jobs = Vec::new();
        for output in futures::future::try_join_all(reads).await.map_err(store_error)? {
            for item in output.items() {
                let job: IndexJob =
                    serde_json::from_str(get_s(item, "job")?).map_err(|e| RepoError::Internal(e.into()))?;
                jobs.push(job);
            }
        }
        // Job ids are ULIDs: oldest first across the shards.
        jobs.sort_by(|a, b| a.id.cmp(&b.id));
        jobs.truncate(limit);
        Ok(jobs)
    }

    async fn clear(&self, job_ids: &[String]) -> Result<(), RepoError> {
        let deletes = job_ids
            .iter()
            .map(|id| {
                let delete = DeleteRequest::builder().set_key(Some(key(id, self.shards))).build();
                delete.map(|d| (self.table.clone(), WriteRequest::builder().delete_request(d).build()))
            })
            .collect::<Result<_, _>>()
            .map_err(|e| RepoError::Internal(e.into()))?;
        batch_write(&self.client, deletes).await
    }
}
