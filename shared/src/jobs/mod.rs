//! Index jobs: every create, change and delete of a market leads to one, and none is ever lost.
//!
//! The transactional outbox: a job is written to the outbox table in the same DynamoDB transaction
//! as the market change, sent to SQS right after, and removed from the outbox once sent. If the
//! send fails (SQS down, the function killed in between), the job stays in the outbox and the
//! scheduled `outbox-sweeper` sends it later. The `index-worker` consumes the queue.

mod sqs;
pub mod worker;

pub use sqs::SqsJobQueue;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::BoxError;
use crate::repo::RepoError;
use crate::retry::{Backoff, retry};

/// What to do to a market's index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobOp {
    /// Index the market as it is now (created or changed).
    Upsert,
    Delete,
}

/// One index job, as it travels through the outbox and the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexJob {
    /// Unique per job: the outbox key and the SQS batch entry id.
    pub id: String,
    pub market_id: String,
    /// The market version the change produced.
    pub version: u64,
    pub op: JobOp,
    /// The API request that caused it, so the worker's logs can be joined to the request's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl IndexJob {
    pub fn new(market_id: &str, version: u64, op: JobOp) -> Self {
        Self {
            id: crate::domain::new_id(),
            market_id: market_id.to_owned(),
            version,
            op,
            request_id: crate::observability::current_request_id(),
        }
    }
}

/// The queue jobs are sent to.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends the jobs (batched) and returns the ids of those that were accepted.
    async fn send(&self, jobs: &[IndexJob]) -> Result<Vec<String>, BoxError>;
}

/// Jobs written with their market change and not yet known to be sent.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Up to `limit` jobs still waiting, oldest first.
    async fn pending(&self, limit: usize) -> Result<Vec<IndexJob>, RepoError>;
    /// Forgets jobs that were sent.
    async fn clear(&self, job_ids: &[String]) -> Result<(), RepoError>;
}

/// Moves jobs from the outbox to the queue.
#[derive(Clone)]
pub struct JobPublisher {
    queue: Arc<dyn JobQueue>,
    outbox: Arc<dyn Outbox>,
}

impl JobPublisher {
    pub fn new(queue: Arc<dyn JobQueue>, outbox: Arc<dyn Outbox>) -> Self {
        Self { queue, outbox }
    }

    /// Right after the market change: one try (the SDK retries the call itself). A failure is only
    /// logged: the job is safe in the outbox and the sweeper will send it.
    pub async fn publish(&self, jobs: &[IndexJob]) {
        match self.queue.send(jobs).await {
            Ok(sent) => {
                if let Err(error) = self.outbox.clear(&sent).await {
                    tracing::warn!(error = %crate::error::error_chain(&error), "sent jobs stay in the outbox; they may be sent twice");
                }
            }
            Err(error) => {
                tracing::warn!(error = %crate::error::error_chain(error.as_ref()), jobs = jobs.len(), "index jobs not sent now; the outbox sweeper will send them");
            }
        }
    }

    /// The sweeper's run: sends every waiting job, retrying with backoff until `deadline`.
    /// Returns how many were sent.
    pub async fn sweep(&self, deadline: Instant) -> Result<usize, BoxError> {
        const BATCH: usize = 100;
        let mut sent_total = 0;
        while Instant::now() < deadline {
            let pending = self.outbox.pending(BATCH).await?;
            if pending.is_empty() {
                break;
            }
            let backoff = Backoff { max_attempts: 5, ..Backoff::CONTENTION };
            let sent = retry(backoff, Some(deadline), |_| true, || self.queue.send(&pending)).await?;
            self.outbox.clear(&sent).await?;
            sent_total += sent.len();
            if pending.len() < BATCH {
                break;
            }
        }
        Ok(sent_total)
    }
}
