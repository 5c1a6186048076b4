//! The outbox table (`queue`, `id`): index jobs written in the same transaction as their market
//! change, until they are known to be on the queue. `queue` is `index#<shard>` (the shard from the
//! job id), so that no partition takes more than 1/[`OUTBOX_SHARDS`] of the market changes, and the
//! sweeper reads the waiting jobs with one Query per shard (never a Scan); it only ever holds jobs
//! in flight. Its stream (new images) hands each new item to the relay: [`streamed_job`] reads one.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::Put;

use super::{Item, batch_delete, get_s, s, store_error};
use markets_core::domain::IndexJob;
use markets_core::jobs::StreamedJob;
use markets_core::repo::listing::shard_of;
use markets_core::repo::{Outbox, PendingJobs, RepoError};

const PARTITION: &str = "index";

/// The outbox's partitions. Fixed, not the `WriteShards` setting: a job's key must not move when
/// that setting changes, or the sweeper would never read (or never delete) the jobs already parked.
pub const OUTBOX_SHARDS: usize = 8;

pub struct DynamoOutbox {
    client: Client,
    table: String,
}

impl DynamoOutbox {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn partition(shard: usize) -> String {
    format!("{PARTITION}#{shard}")
}

fn key(job_id: &str) -> Item {
    Item::from([("queue".to_owned(), s(partition(shard_of(job_id, OUTBOX_SHARDS)))), ("id".to_owned(), s(job_id))])
}

/// The job an item keyed `id` holds, if `body` is one and names that key: clear() deletes by the
/// job's id, so one whose body names another key stays unreadable.
fn readable_job(id: &str, body: Option<&str>) -> Option<IndexJob> {
    body.and_then(|job| serde_json::from_str::<IndexJob>(job).ok()).filter(|job| job.id == id)
}

/// The outbox item a DynamoDB Streams record (as Lambda delivers it, JSON) adds or replaces, or
/// `None` for a removal (the relay's and the sweeper's own deletes).
pub fn streamed_job(record: &serde_json::Value) -> Option<StreamedJob> {
    let change = &record["dynamodb"];
    let image = change.get("NewImage")?;
    let key = change["Keys"]["id"]["S"].as_str().unwrap_or_default().to_owned();
    Some(StreamedJob {
        sequence_number: change["SequenceNumber"].as_str().unwrap_or_default().to_owned(),
        job: readable_job(&key, image["job"]["S"].as_str()),
        key,
    })
}

/// The transaction item that parks `job` in the outbox.
pub(super) fn put_job(table: &str, job: &IndexJob) -> Result<Put, RepoError> {
    let mut item = key(&job.id);
    item.insert("job".into(), s(serde_json::to_string(job).map_err(|e| RepoError::Internal(e.into()))?));
    Put::builder().table_name(table).set_item(Some(item)).build().map_err(|e| RepoError::Internal(e.into()))
}

#[async_trait]
impl Outbox for DynamoOutbox {
    async fn pending(
        &self,
        created_before: SystemTime,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<PendingJobs, RepoError> {
        // The smallest ULID of that millisecond: every id below it was made earlier.
        let millis = created_before.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let cutoff = ulid::Ulid::from_parts(millis, 0).to_string();
        let reads = (0..OUTBOX_SHARDS).map(|shard| {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_names("#queue", "queue")
                .expression_attribute_names("#id", "id")
                .expression_attribute_values(":queue", s(partition(shard)))
                .expression_attribute_values(":cutoff", s(&cutoff))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .consistent_read(true);
            // A key condition takes one range test: `BETWEEN` includes `start_after`, dropped below.
            match start_after {
                Some(after) => query
                    .key_condition_expression("#queue = :queue AND #id BETWEEN :after AND :cutoff")
                    .expression_attribute_values(":after", s(after)),
                None => query.key_condition_expression("#queue = :queue AND #id < :cutoff"),
            }
            .send()
        });
        let outputs = futures::future::try_join_all(reads).await.map_err(store_error)?;
        let more = outputs.iter().any(|output| output.last_evaluated_key.is_some());
        // Every item read, by key, oldest first across the shards (job ids are ULIDs): the first
        // `limit` are all the waiting items up to the last of them, whatever the shard.
        let mut items: Vec<(String, Option<IndexJob>)> = outputs
            .iter()
            .flat_map(|output| output.items())
            .map(|item| {
                let id = get_s(item, "id").unwrap_or_default().to_owned();
                let job = readable_job(&id, get_s(item, "job").ok());
                (id, job)
            })
            .filter(|(id, _)| Some(id.as_str()) != start_after && *id < cutoff)
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let truncated = items.len() > limit;
        items.truncate(limit);
        let next = if more || truncated { items.last().map(|(id, _)| id.clone()) } else { None };
        let mut page = PendingJobs { next, ..PendingJobs::default() };
        for (id, job) in items {
            match job {
                Some(job) => page.jobs.push(job),
                None => page.unreadable.push(id),
            }
        }
        Ok(page)
    }

    async fn clear(&self, job_ids: &[String]) -> Result<(), RepoError> {
        batch_delete(&self.client, &self.table, job_ids.iter().map(|id| key(id))).await
    }
}
