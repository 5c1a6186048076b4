//! The SQS index queue: jobs are sent ten to a `SendMessageBatch`, with the causing request's id as
//! a message attribute.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use markets_core::domain::IndexJob;
use markets_core::error::BoxError;
use markets_core::repo::JobQueue;

/// SQS's limit on entries per batch.
const BATCH_LIMIT: usize = 10;

pub struct SqsJobQueue {
    client: Client,
    queue_url: String,
}

impl SqsJobQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    #[tracing::instrument(skip_all, fields(jobs = jobs.len()), err(Display))]
    async fn send(&self, jobs: &[IndexJob]) -> Result<Vec<String>, BoxError> {
        let mut sent = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(BATCH_LIMIT) {
            let mut entries = Vec::with_capacity(chunk.len());
            for job in chunk {
                let mut entry =
                    SendMessageBatchRequestEntry::builder().id(&job.id).message_body(serde_json::to_string(job)?);
                if let Some(request_id) = &job.request_id {
                    let attribute =
                        MessageAttributeValue::builder().data_type("String").string_value(request_id).build()?;
                    entry = entry.message_attributes("requestId", attribute);
                }
                entries.push(entry.build()?);
            }
            let output =
                self.client.send_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await?;
            for failed in output.failed() {
                tracing::warn!(
                    job = failed.id(),
                    code = failed.code(),
                    "SQS refused an index job; it stays in the outbox"
                );
            }
            sent.extend(output.successful().iter().map(|entry| entry.id().to_owned()));
        }
        Ok(sent)
    }
}
