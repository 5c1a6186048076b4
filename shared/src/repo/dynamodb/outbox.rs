//! The outbox table (`queue`, `id`): index jobs written in the same transaction as their market
//! change, until they are known to be on the queue. One partition, so that the sweeper reads the
//! waiting jobs with a Query (never a Scan); it only ever holds jobs in flight.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{DeleteRequest, Put, WriteRequest};

use super::{Item, get_s, s, store_error};
use crate::jobs::{IndexJob, Outbox, PendingJobs};
use crate::repo::RepoError;
use crate::retry::Backoff;

const PARTITION: &str = "index";
/// BatchWriteItem's limit on requests per call.
const BATCH_LIMIT: usize = 25;

pub struct DynamoOutbox {
    client: Client,
    table: String,
}

impl DynamoOutbox {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn key(job_id: &str) -> Item {
    Item::from([("queue".to_owned(), s(PARTITION)), ("id".to_owned(), s(job_id))])
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
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#queue = :queue AND #id < :cutoff")
            .expression_attribute_names("#queue", "queue")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":queue", s(PARTITION))
            .expression_attribute_values(":cutoff", s(cutoff))
            .set_exclusive_start_key(start_after.map(key))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let mut page = PendingJobs::default();
        for item in output.items() {
            let id = get_s(item, "id").unwrap_or_default().to_owned();
            match get_s(item, "job").ok().and_then(|job| serde_json::from_str::<IndexJob>(job).ok()) {
                // The item's key is what clear() deletes: a job whose body names another id stays unreadable.
                Some(job) if job.id == id => page.jobs.push(job),
                _ => page.unreadable.push(id),
            }
        }
        page.next = output.last_evaluated_key.as_ref().and_then(|key| get_s(key, "id").ok()).map(str::to_owned);
        Ok(page)
    }

    async fn clear(&self, job_ids: &[String]) -> Result<(), RepoError> {
        let backoff = Backoff::CONTENTION;
        for chunk in job_ids.chunks(BATCH_LIMIT) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|id| {
                    let delete = DeleteRequest::builder().set_key(Some(key(id))).build();
                    delete.map(|d| WriteRequest::builder().delete_request(d).build())
                })
                .collect::<Result<_, _>>()
                .map_err(|e| RepoError::Internal(e.into()))?;
            let mut attempt = 0;
            while !requests.is_empty() {
                if attempt > 0 {
                    if attempt >= backoff.max_attempts {
                        return Err(RepoError::Unavailable("outbox deletes still unprocessed after retries".into()));
                    }
                    tokio::time::sleep(backoff.delay(attempt)).await;
                }
                attempt += 1;
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut requests))
                    .send()
                    .await
                    .map_err(store_error)?;
                requests =
                    output.unprocessed_items.and_then(|mut tables| tables.remove(&self.table)).unwrap_or_default();
            }
        }
        Ok(())
    }
}
