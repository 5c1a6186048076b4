//! Index jobs: every create, change and delete of a market leads to one, and none is ever lost.
//!
//! The transactional outbox: a job is written to the outbox table in the same DynamoDB transaction
//! as the market change, sent to SQS right after, and removed from the outbox once sent. If the
//! send fails (SQS down, the function killed in between), the job stays in the outbox and the
//! scheduled `outbox-sweeper` sends it later: only jobs older than a grace period, so that it never
//! races a publisher still at work. The `index-worker` consumes the queue.

pub mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::domain::IndexJob;
use crate::error::BoxError;
use crate::repo::{JobQueue, Outbox};
use crate::retry::{Backoff, retry};

/// The sweeper leaves a job alone for this long after it was written, by default: three times a
/// route function's 10 s timeout, after which no publisher can still be sending it.
pub const DEFAULT_SWEEP_GRACE: Duration = Duration::from_secs(30);

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub sent: usize,
    pub unreadable: usize,
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

    /// The sweeper's run: sends every job older than `grace`, retrying with backoff until
    /// `deadline`. Unreadable items are logged and skipped.
    pub async fn sweep(&self, grace: Duration, deadline: Instant) -> Result<Swept, BoxError> {
        const BATCH: usize = 100;
        let created_before = SystemTime::now() - grace;
        let (mut swept, mut start_after) = (Swept::default(), None);
        while Instant::now() < deadline {
            let page = self.outbox.pending(created_before, start_after.as_deref(), BATCH).await?;
            if start_after.is_none() {
                // Oldest first: the first job is the oldest unsent, measured before the sends, which
                // may fail (that is when it grows).
                crate::observability::emit_outbox_age(page.jobs.first().map_or(Duration::ZERO, waited));
            }
            for key in &page.unreadable {
                tracing::error!(key, "unreadable outbox item skipped: repair or delete it");
            }
            swept.unreadable += page.unreadable.len();
            if !page.jobs.is_empty() {
                let backoff = Backoff { max_attempts: 5, ..Backoff::CONTENTION };
                let sent = retry(backoff, Some(deadline), |_| true, || self.queue.send(&page.jobs)).await?;
                self.outbox.clear(&sent).await?;
                swept.sent += sent.len();
            }
            match page.next {
                Some(next) => start_after = Some(next),
                None => break,
            }
        }
        Ok(swept)
    }
}

/// How long `job` has waited since it was written (its id is a ULID).
fn waited(job: &IndexJob) -> Duration {
    let written = ulid::Ulid::from_string(&job.id).map_or(SystemTime::now(), |id| id.datetime());
    SystemTime::now().duration_since(written).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::JobOp;
    use crate::repo::memory::{InMemoryQueue, InMemoryStore};
    use async_trait::async_trait;

    /// A queue whose sends wait until the test lets them through, like a publisher mid-send, and
    /// say when one has started.
    struct SlowQueue {
        inner: InMemoryQueue,
        started: tokio::sync::Notify,
        release: tokio::sync::Notify,
    }

    #[async_trait]
    impl JobQueue for SlowQueue {
        async fn send(&self, jobs: &[IndexJob]) -> Result<Vec<String>, BoxError> {
            self.started.notify_one();
            self.release.notified().await;
            self.inner.send(jobs).await
        }
    }

    #[tokio::test]
    async fn a_job_being_published_is_not_swept_too() {
        let store = Arc::new(InMemoryStore::default());
        let queue = Arc::new(SlowQueue {
            inner: InMemoryQueue::default(),
            started: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
        });
        let publisher = JobPublisher::new(queue.clone(), store.clone());
        let job = IndexJob::new("m1", 1, JobOp::Upsert);
        store.park(job.clone());
        let publishing = tokio::spawn({
            let (publisher, job) = (publisher.clone(), job.clone());
            async move { publisher.publish(&[job]).await }
        });
        // The publisher is mid-send (on this current-thread runtime it would not start otherwise).
        queue.started.notified().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        // A sweep that took the job would wait on the queue with the publisher: bound it.
        let sweep = tokio::time::timeout(Duration::from_secs(5), publisher.sweep(DEFAULT_SWEEP_GRACE, deadline));
        assert_eq!(sweep.await.expect("the sweep left the job alone").unwrap(), Swept::default());
        queue.release.notify_one();
        publishing.await.unwrap();
        assert_eq!(publisher.sweep(DEFAULT_SWEEP_GRACE, deadline).await.unwrap(), Swept::default());
        assert_eq!(queue.inner.sent.lock().unwrap().as_slice(), [job], "sent once, by the publisher");
    }

    #[tokio::test]
    async fn jobs_older_than_the_grace_period_are_swept() {
        let store = Arc::new(InMemoryStore::default());
        let queue = Arc::new(InMemoryQueue::default());
        let publisher = JobPublisher::new(queue.clone(), store.clone());
        let old = IndexJob {
            id: ulid::Ulid::from_datetime(SystemTime::now() - Duration::from_secs(60)).to_string(),
            ..IndexJob::new("m1", 1, JobOp::Upsert)
        };
        let new = IndexJob::new("m2", 1, JobOp::Upsert);
        store.park(old.clone());
        store.park(new.clone());
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(publisher.sweep(DEFAULT_SWEEP_GRACE, deadline).await.unwrap().sent, 1);
        assert_eq!(queue.sent.lock().unwrap().as_slice(), [old]);
        assert_eq!(publisher.sweep(Duration::ZERO, deadline).await.unwrap().sent, 1);
    }
}
