//! The outbox table (`queue`, `id`): index jobs written in the same transaction as their market
//! change, until they are known to be on the queue. One partition, so that the sweeper reads the
//! waiting jobs with a Query (never a Scan); it only ever holds jobs in flight.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{DeleteRequest, Put, WriteRequest};

use super::{Item, get_s, s, store_error};
use crate::jobs::{IndexJob, Outbox};
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
    async fn pending(&self, limit: usize) -> Result<Vec<IndexJob>, RepoError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#queue = :queue")
            .expression_attribute_names("#queue", "queue")
            .expression_attribute_values(":queue", s(PARTITION))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        output
            .items()
            .iter()
            .map(|item| serde_json::from_str(get_s(item, "job")?).map_err(|e| RepoError::Internal(e.into())))
            .collect()
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
