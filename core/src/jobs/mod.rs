//! Index jobs: every create, change and delete of a market leads to one, and none is ever lost.
//!
//! The transactional outbox: a job is written to the outbox table in the same DynamoDB transaction
//! as the market change, and the request is done. The outbox table's stream hands each new item to
//! the `outbox-relay`, which sends its job to SQS and then removes it from the outbox; a batch it
//! could not send is retried by the stream from the first job not sent. If that fails for good (SQS
//! down longer than the stream's retries, a record dropped), the job is still in the outbox and the
//! scheduled `outbox-sweeper` sends it: only jobs older than a grace period, so that it seldom
//! races the relay (a job sent twice is harmless: the worker indexes the market as it is now). The
//! `index-worker` consumes the queue.

pub mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::domain::IndexJob;
use crate::error::BoxError;
use crate::repo::{JobQueue, Outbox};
use crate::retry::{Backoff, retry};

/// The sweeper leaves a job alone for this long after it was written, by default: the stream hands
/// a new item to the relay within a second and the relay's send takes at most a few, so by then
/// the relay has sent the job or is retrying it (and a job sent twice is harmless).
pub const DEFAULT_SWEEP_GRACE: Duration = Duration::from_secs(30);

/// One new outbox item as the outbox's stream delivers it to the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedJob {
    /// The stream record's sequence number: what a partial batch failure names.
    pub sequence_number: String,
    /// The item's key (the job id it was written under).
    pub key: String,
    /// The job, if the item holds one that can be read and that is the one its key names.
    pub job: Option<IndexJob>,
}

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

    /// The relay's run on a batch of new outbox items, in stream order: sends their jobs (one try;
    /// the SDK retries the call itself) and removes the sent ones from the outbox. Returns the
    /// sequence number of the first item whose job was not sent, for the stream to retry the batch
    /// from there; the items stay in the outbox until sent, so a job is never lost, only delayed.
    /// Unreadable items are logged and skipped (retrying cannot mend them; the sweeper counts them).
    pub async fn relay(&self, items: &[StreamedJob]) -> Option<String> {
        for item in items.iter().filter(|item| item.job.is_none()) {
            tracing::error!(key = item.key, "unreadable outbox item skipped: repair or delete it");
        }
        let readable: Vec<(&str, &IndexJob)> =
            items.iter().filter_map(|item| Some((item.sequence_number.as_str(), item.job.as_ref()?))).collect();
        let jobs: Vec<IndexJob> = readable.iter().map(|(_, job)| (*job).clone()).collect();
        if jobs.is_empty() {
            return None;
        }
        let sent = match self.queue.send(&jobs).await {
            Ok(sent) => sent,
            Err(error) => {
                tracing::warn!(error = %crate::error::error_chain(error.as_ref()), jobs = jobs.len(), "index jobs not sent; the stream retries them");
                Vec::new()
            }
        };
        for (_, job) in &readable {
            if sent.contains(&job.id) {
                tracing::info!(job = job.id, market_id = job.market_id, version = job.version, op = ?job.op, "index job relayed");
            }
        }
        if !sent.is_empty()
            && let Err(error) = self.outbox.clear(&sent).await
        {
            tracing::warn!(error = %crate::error::error_chain(&error), "sent jobs stay in the outbox; they may be sent twice");
        }
        readable
            .iter()
            .find(|(_, job)| !sent.contains(&job.id))
            .map(|(sequence_number, _)| (*sequence_number).to_owned())
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

    /// A queue whose sends wait until the test lets them through, like a relay mid-send, and
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

    fn streamed(sequence_number: &str, job: Option<&IndexJob>) -> StreamedJob {
        let key = job.map_or_else(|| "corrupt".to_owned(), |job| job.id.clone());
        StreamedJob { sequence_number: sequence_number.into(), key, job: job.cloned() }
    }

    /// A queue that takes every job but one.
    struct RefusingOne(InMemoryQueue, String);

    #[async_trait]
    impl JobQueue for RefusingOne {
        async fn send(&self, jobs: &[IndexJob]) -> Result<Vec<String>, BoxError> {
            let taken: Vec<IndexJob> = jobs.iter().filter(|job| job.id != self.1).cloned().collect();
            self.0.send(&taken).await
        }
    }

    #[tokio::test]
    async fn the_relay_clears_what_it_sent_and_retries_from_the_first_job_not_sent() {
        let store = Arc::new(InMemoryStore::default());
        let jobs: Vec<IndexJob> = (1..=3).map(|i| IndexJob::new(&format!("m{i}"), 1, JobOp::Upsert)).collect();
        let queue = Arc::new(RefusingOne(InMemoryQueue::default(), jobs[1].id.clone()));
        let publisher = JobPublisher::new(queue.clone(), store.clone());
        jobs.iter().for_each(|job| store.park(job.clone()));
        let items = [
            streamed("1", Some(&jobs[0])),
            streamed("2", None),
            streamed("3", Some(&jobs[1])),
            streamed("4", Some(&jobs[2])),
        ];
        assert_eq!(publisher.relay(&items).await.as_deref(), Some("3"), "retried from the refused job");
        let deadline = Instant::now() + Duration::from_secs(5);
        // Only the refused job is left in the outbox, for the retry (or the sweeper).
        assert_eq!(publisher.sweep(Duration::ZERO, deadline).await.unwrap().sent, 0);
        assert_eq!(store.pending(SystemTime::now(), None, 10).await.unwrap().jobs, [jobs[1].clone()]);
        assert_eq!(queue.0.sent.lock().unwrap().as_slice(), [jobs[0].clone(), jobs[2].clone()]);
        assert_eq!(publisher.relay(&[streamed("5", None)]).await, None, "an unreadable item is not retried");
    }

    #[tokio::test]
    async fn a_job_being_relayed_is_not_swept_too() {
        let store = Arc::new(InMemoryStore::default());
        let queue = Arc::new(SlowQueue {
            inner: InMemoryQueue::default(),
            started: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
        });
        let publisher = JobPublisher::new(queue.clone(), store.clone());
        let job = IndexJob::new("m1", 1, JobOp::Upsert);
        store.park(job.clone());
        let relaying = tokio::spawn({
            let (publisher, job) = (publisher.clone(), job.clone());
            async move { publisher.relay(&[streamed("1", Some(&job))]).await }
        });
        // The relay is mid-send (on this current-thread runtime it would not start otherwise).
        queue.started.notified().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        // A sweep that took the job would wait on the queue with the relay: bound it.
        let sweep = tokio::time::timeout(Duration::from_secs(5), publisher.sweep(DEFAULT_SWEEP_GRACE, deadline));
        assert_eq!(sweep.await.expect("the sweep left the job alone").unwrap(), Swept::default());
        queue.release.notify_one();
        assert_eq!(relaying.await.unwrap(), None, "sent");
        assert_eq!(publisher.sweep(DEFAULT_SWEEP_GRACE, deadline).await.unwrap(), Swept::default());
        assert_eq!(queue.inner.sent.lock().unwrap().as_slice(), [job], "sent once, by the relay");
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
