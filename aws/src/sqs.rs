//! The SQS index queue: jobs are sent ten to a `SendMessageBatch`, with the causing request's id as
//! a message attribute and its trace as the `AWSTraceHeader` system attribute (Lambda's SQS event
//! source hands it to the worker). In a sampled trace the send is a segment of the job's own trace
//! (the request's, kept in the outbox, whoever sends it: relay or sweeper), and the message's
//! header names it as the worker's parent.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    SendMessageBatchRequestEntry,
};
use tracing::Span;

use markets_core::domain::IndexJob;
use markets_core::error::BoxError;
use markets_core::observability::xray::{self, Place, TraceHeader};
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
            let mut sends = Vec::new();
            for job in chunk {
                let mut entry =
                    SendMessageBatchRequestEntry::builder().id(&job.id).message_body(serde_json::to_string(job)?);
                if let Some(request_id) = &job.request_id {
                    let attribute =
                        MessageAttributeValue::builder().data_type("String").string_value(request_id).build()?;
                    entry = entry.message_attributes("requestId", attribute);
                }
                if let Some(header) = job.trace_header.as_deref().and_then(TraceHeader::parse) {
                    let (header, send) = traced_send(&header, &self.queue_url);
                    let value =
                        MessageSystemAttributeValue::builder().data_type("String").string_value(header).build()?;
                    entry = entry.message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, value);
                    sends.extend(send.map(|send| (job.id.as_str(), send)));
                }
                entries.push(entry.build()?);
            }
            let output = self.client.send_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send();
            let output = output.await.inspect_err(|_| {
                sends.iter().for_each(|(_, send)| xray::set(&send.call, "fault", true));
            })?;
            for failed in output.failed() {
                if let Some((_, send)) = sends.iter().find(|(job, _)| *job == failed.id()) {
                    xray::set(&send.call, if failed.sender_fault() { "error" } else { "fault" }, true);
                }
                tracing::warn!(
                    job = failed.id(),
                    code = failed.code(),
                    "SQS refused an index job; it stays in the outbox"
                );
            }
            for entry in output.successful() {
                if let Some((_, send)) = sends.iter().find(|(job, _)| *job == entry.id()) {
                    xray::set_in(&send.call, "aws", "message_id", entry.message_id());
                }
            }
            sent.extend(output.successful().iter().map(|entry| entry.id().to_owned()));
        }
        Ok(sent)
    }
}

/// One job's send as a segment of its trace (named after this function) with the SQS call under it.
struct TracedSend {
    _segment: Span,
    call: Span,
}

/// The `AWSTraceHeader` a job's message carries: its trace with the send's span as parent when
/// sampled (the spans end when dropped, after the call), else `header` as it is.
fn traced_send(header: &TraceHeader, queue_url: &str) -> (String, Option<TracedSend>) {
    if !header.is_sampled() {
        return (header.to_string(), None);
    }
    let segment = tracing::debug_span!(parent: None, "send");
    xray::start(&segment, header, Place::Segment);
    let call = tracing::debug_span!(parent: &segment, "SQS");
    xray::set(&call, "namespace", "aws");
    xray::set_in(&call, "aws", "operation", "SendMessageBatch");
    xray::set_in(&call, "aws", "queue_url", queue_url);
    let header = xray::header_of(&call).unwrap_or_else(|| header.clone());
    (header.to_string(), Some(TracedSend { _segment: segment, call }))
}
