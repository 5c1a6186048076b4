//! The index worker: applies a batch of index jobs from the queue, concurrently, and reports
//! exactly the messages that failed (SQS redelivers those, and after `maxReceiveCount` moves them to
//! the dead-letter queue). Jobs are idempotent, so a redelivered one does no harm. The edge
//! (`markets_lambda::runtime`) turns the SQS event into [`JobMessage`]s and the failed ids into the
//! partial batch response.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tracing::{Instrument, Span};

use crate::domain::{IndexJob, JobOp, Market, MarketStatus};
use crate::embedder::{Embedder, market_text};
use crate::error::{BoxError, error_chain};
use crate::observability::xray;
use crate::repo::{IndexEntry, MarketRepository, PositionRepository, VectorIndex};
use crate::retry::{Backoff, retry};

/// Jobs of one batch in flight at once.
const CONCURRENCY: usize = 8;
/// The longest one job takes with the SDK budgets: a read (1.8 s), an embedding (5 s), a write
/// (1.8 s) and a read again (1.8 s), rounded up. No job starts with less time than this left
/// before the cut: it is reported failed, unstarted, and comes back later.
const JOB_BUDGET: Duration = Duration::from_secs(11);

/// Kept after the cut to answer the batch: a job still running then is stopped and reported
/// failed, so the invocation never times out and no job's receive is spent on another's slowness.
const REPLY_MARGIN: Duration = Duration::from_millis(500);

/// How many times one job writes the market's entry when the market keeps changing meanwhile,
/// before it gives up and SQS brings it back later.
const MAX_WRITES: usize = 3;

/// How many of a deleted market's positions one round removes (one Query, four BatchWriteItems).
const POSITIONS_PER_ROUND: usize = 100;

/// What a job did to the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Indexed,
    Removed,
}

/// One message of a batch, as the queue delivered it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobMessage {
    pub message_id: String,
    /// The API request that made the job (its message attribute `requestId`), for the logs.
    pub request_id: String,
    /// The trace the job continues (its `AWSTraceHeader`): the job's span is a segment of it.
    pub trace_header: Option<String>,
    pub body: Option<String>,
}

pub struct Indexer {
    markets: Arc<dyn MarketRepository>,
    positions: Arc<dyn PositionRepository>,
    embedder: Arc<dyn Embedder>,
    index: Arc<dyn VectorIndex>,
}

/// What the index entry is made from: a market that differs in none of these needs no new one.
fn indexed_fields(market: &Market) -> (&str, &str, MarketStatus) {
    (&market.name, &market.description, market.status)
}

impl Indexer {
    pub fn new(
        markets: Arc<dyn MarketRepository>,
        positions: Arc<dyn PositionRepository>,
        embedder: Arc<dyn Embedder>,
        index: Arc<dyn VectorIndex>,
    ) -> Self {
        Self { markets, positions, embedder, index }
    }

    /// Makes the market's entry match the market as it is now, whatever version the job names, so
    /// that a job delivered late or twice does no harm. The vector index has no conditional write,
    /// so two workers on one market could each write what they read, an older state last. Hence
    /// read (consistently), write, and read again: if the market changed in between, write again.
    /// The last write to land is then always followed by a read that found that very state (or the
    /// market gone, and the entry removed). A delete is final: ids are never reused, and the
    /// market's positions are removed here, after the DELETE has answered, not in its transaction.
    pub async fn apply(&self, job: &IndexJob, deadline: Instant) -> Result<Applied, BoxError> {
        let mut current = match job.op {
            JobOp::Delete => None,
            JobOp::Upsert => self.markets.get(&job.market_id).await?,
        };
        for _ in 0..MAX_WRITES {
            let Some(market) = current else {
                self.index.remove(&job.market_id).await?;
                self.remove_positions(&job.market_id).await?;
                return Ok(Applied::Removed);
            };
            self.index.put(&self.entry(&market, deadline).await?).await?;
            current = self.markets.get(&job.market_id).await?;
            if current.as_ref().is_some_and(|now| indexed_fields(now) == indexed_fields(&market)) {
                return Ok(Applied::Indexed);
            }
        }
        Err("the market kept changing while it was indexed".into())
    }

    /// A deleted market's positions, a round at a time (a job cut at the deadline removes the
    /// rest when it comes back).
    async fn remove_positions(&self, market_id: &str) -> Result<(), BoxError> {
        while self.positions.remove_some(market_id, POSITIONS_PER_ROUND).await? {}
        Ok(())
    }

    async fn entry(&self, market: &Market, deadline: Instant) -> Result<IndexEntry, BoxError> {
        let text = market_text(&market.name, &market.description);
        let backoff = Backoff { max_attempts: 4, base: Duration::from_millis(100), cap: Duration::from_secs(2) };
        let vector = retry(
            backoff,
            Some(deadline),
            |e: &crate::embedder::EmbedError| e.is_transient(),
            || self.embedder.embed(&text),
        )
        .await?;
        Ok(IndexEntry::of(market, vector))
    }

    /// One batch: the ids of the messages that failed or were not started in time.
    pub async fn handle_batch(&self, messages: Vec<JobMessage>, deadline: Instant) -> Vec<String> {
        futures::stream::iter(messages)
            .map(|message| self.handle_message(message, deadline))
            .buffer_unordered(CONCURRENCY)
            .filter_map(|failed| async move { failed })
            .collect()
            .await
    }

    /// `Some(message id)` if the message must come back.
    async fn handle_message(&self, message: JobMessage, deadline: Instant) -> Option<String> {
        let JobMessage { message_id, request_id, trace_header, body } = message;
        let span = tracing::info_span!("job", message_id = %message_id, request_id = %request_id);
        if let Some(header) = trace_header.as_deref().and_then(xray::TraceHeader::parse) {
            xray::start(&span, &header, xray::Place::Segment);
            xray::set_in(&span, "annotations", "message_id", message_id.as_str());
        }
        let cut = deadline.checked_sub(REPLY_MARGIN).unwrap_or(deadline);
        async {
            if Instant::now() + JOB_BUDGET >= cut {
                tracing::warn!("not started: too close to the deadline");
                return Some(message_id);
            }
            let job: IndexJob = match body.as_deref().map(serde_json::from_str) {
                Some(Ok(job)) => job,
                _ => {
                    tracing::error!("poison message: not an index job");
                    return Some(message_id);
                }
            };
            let applied = tokio::time::timeout_at(cut.into(), self.apply(&job, cut)).await;
            match applied.unwrap_or_else(|_| Err("stopped at the invocation's deadline".into())) {
                Ok(applied) => {
                    xray::set_in(&Span::current(), "annotations", "market_id", job.market_id.as_str());
                    tracing::info!(market_id = %job.market_id, version = job.version, outcome = ?applied, "job done");
                    None
                }
                Err(error) => {
                    xray::set(&Span::current(), "fault", true);
                    tracing::error!(market_id = %job.market_id, error = %error_chain(error.as_ref()), "job failed");
                    Some(message_id)
                }
            }
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Amount;
    use crate::embedder::HashingEmbedder;
    use crate::repo::SearchHit;
    use crate::repo::memory::InMemoryStore;

    fn market(id: &str, name: &str) -> Market {
        Market {
            id: id.into(),
            name: name.into(),
            description: String::new(),
            status: MarketStatus::Active,
            volume: Amount::ZERO,
            creator_id: "alice".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            version: 1,
            ..Market::default()
        }
    }

    fn message(id: &str, body: &str) -> JobMessage {
        JobMessage { message_id: id.into(), body: Some(body.into()), ..JobMessage::default() }
    }

    async fn setup() -> (Arc<InMemoryStore>, Indexer) {
        let store = Arc::new(InMemoryStore::default());
        for i in 0..7 {
            let job = IndexJob::new(&format!("m{i}"), 1, JobOp::Upsert);
            let creator = crate::domain::UserProfile { id: "alice".into(), name: "Alice".into() };
            let market = market(&format!("m{i}"), &format!("market number {i}"));
            store.create(&market, &creator, None, None, &job).await.unwrap();
        }
        let indexer = Indexer::new(store.clone(), store.clone(), Arc::new(HashingEmbedder), store.clone());
        (store, indexer)
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[tokio::test]
    async fn reports_exactly_the_poison_messages() {
        let (store, indexer) = setup().await;
        let mut records: Vec<JobMessage> = (0..7)
            .map(|i| {
                message(
                    &format!("good-{i}"),
                    &serde_json::to_string(&IndexJob::new(&format!("m{i}"), 1, JobOp::Upsert)).unwrap(),
                )
            })
            .collect();
        records.extend(
            ["not json", "{\"marketId\": 5}", ""]
                .iter()
                .enumerate()
                .map(|(i, body)| message(&format!("bad-{i}"), body)),
        );
        let mut failed = indexer.handle_batch(records, later()).await;
        failed.sort();
        assert_eq!(failed, ["bad-0", "bad-1", "bad-2"]);
        assert_eq!(store.search(&HashingEmbedder.embed_now("market number"), 10).await.unwrap().len(), 7);
    }

    #[tokio::test]
    async fn a_late_update_never_revives_a_deleted_market() {
        let (store, indexer) = setup().await;
        let delete = IndexJob::new("m1", 1, JobOp::Delete);
        store.delete("m1", None, &delete).await.unwrap();
        let update = IndexJob::new("m1", 1, JobOp::Upsert);
        for job in [&update, &delete, &update] {
            assert_eq!(indexer.apply(job, later()).await.unwrap(), Applied::Removed);
        }
        assert_eq!(store.index_entry("m1"), None);
        let hits = store.search(&HashingEmbedder.embed_now("market number 1"), 10).await.unwrap();
        assert!(hits.iter().all(|hit| hit.market_id != "m1"));
    }

    #[tokio::test]
    async fn a_deleted_markets_positions_are_removed_and_no_others() {
        let (store, indexer) = setup().await;
        let bob = crate::domain::UserProfile { id: "bob".into(), name: "Bob".into() };
        for (market, count) in [("m4", 250), ("m5", 3)] {
            for _ in 0..count {
                let position = crate::domain::Position {
                    id: crate::domain::new_id(),
                    market_id: market.into(),
                    user_id: "bob".into(),
                    outcome: crate::domain::Outcome::Yes,
                    amount: Amount::from_stored("1").unwrap(),
                    created_at: "2026-01-01T00:00:00.000Z".into(),
                };
                store.add(&position, &bob, None, None).await.unwrap();
            }
        }
        let delete = IndexJob::new("m4", 1, JobOp::Delete);
        store.delete("m4", None, &delete).await.unwrap();
        assert_eq!(indexer.apply(&delete, later()).await.unwrap(), Applied::Removed);
        assert!(
            PositionRepository::list(store.as_ref(), "m4", None, 10).await.unwrap().items.is_empty(),
            "the deleted market's positions"
        );
        assert_eq!(
            PositionRepository::list(store.as_ref(), "m5", None, 10).await.unwrap().items.len(),
            3,
            "another market's positions"
        );
    }

    async fn rename(store: &InMemoryStore, id: &str, name: &str) -> Market {
        let mut renamed = store.get(id).await.unwrap().unwrap();
        renamed.name = name.into();
        renamed.version += 1;
        store.update(&renamed, &IndexJob::new(id, renamed.version, JobOp::Upsert)).await.unwrap();
        renamed
    }

    #[tokio::test]
    async fn duplicate_and_out_of_order_jobs_leave_the_current_version() {
        let (store, indexer) = setup().await;
        let renamed = rename(&store, "m2", "a volcano erupts").await;
        let (old, new) = (IndexJob::new("m2", 1, JobOp::Upsert), IndexJob::new("m2", 2, JobOp::Upsert));
        for job in [&new, &old, &new, &old] {
            assert_eq!(indexer.apply(job, later()).await.unwrap(), Applied::Indexed);
        }
        let entry = store.index_entry("m2").unwrap();
        assert_eq!((entry.version, entry.vector), (renamed.version, HashingEmbedder.embed_now("a volcano erupts\n")));
    }

    /// An index whose first write lands just after a newer edit of the market, as when a worker
    /// with an older read loses the race to another worker's write.
    struct EditedDuringWrite {
        store: Arc<InMemoryStore>,
        writes: std::sync::Mutex<Vec<u64>>,
    }

    #[async_trait::async_trait]
    impl VectorIndex for EditedDuringWrite {
        async fn put(&self, entry: &IndexEntry) -> Result<(), crate::repo::RepoError> {
            let first = {
                let mut writes = self.writes.lock().unwrap();
                writes.push(entry.version);
                writes.len() == 1
            };
            if first {
                rename(&self.store, &entry.market_id, "a volcano erupts").await;
            }
            self.store.put(entry).await
        }
        async fn remove(&self, market_id: &str) -> Result<(), crate::repo::RepoError> {
            self.store.remove(market_id).await
        }
        async fn search(&self, query: &[f32], k: usize) -> Result<Vec<SearchHit>, crate::repo::RepoError> {
            self.store.search(query, k).await
        }
    }

    #[tokio::test]
    async fn a_write_that_lands_after_a_newer_edit_is_written_again() {
        let (store, _) = setup().await;
        let index = Arc::new(EditedDuringWrite { store: store.clone(), writes: Default::default() });
        let indexer = Indexer::new(store.clone(), store.clone(), Arc::new(HashingEmbedder), index.clone());
        let job = IndexJob::new("m3", 1, JobOp::Upsert);
        assert_eq!(indexer.apply(&job, later()).await.unwrap(), Applied::Indexed);
        assert_eq!(*index.writes.lock().unwrap(), [1, 2]);
        let entry = store.index_entry("m3").unwrap();
        assert_eq!((entry.version, entry.vector), (2, HashingEmbedder.embed_now("a volcano erupts\n")));
    }

    #[tokio::test]
    async fn stops_taking_work_near_the_deadline() {
        let (_, indexer) = setup().await;
        let batch = vec![message("late", &serde_json::to_string(&IndexJob::new("m0", 1, JobOp::Upsert)).unwrap())];
        let failed = indexer.handle_batch(batch, Instant::now() + Duration::from_millis(500)).await;
        assert_eq!(failed.len(), 1);
    }

    /// A vector index that never answers for one market: a store that hangs.
    struct HangsOn(&'static str, Arc<InMemoryStore>);

    #[async_trait::async_trait]
    impl VectorIndex for HangsOn {
        async fn put(&self, entry: &IndexEntry) -> Result<(), crate::repo::RepoError> {
            if entry.market_id == self.0 {
                std::future::pending::<()>().await;
            }
            self.1.put(entry).await
        }
        async fn remove(&self, market_id: &str) -> Result<(), crate::repo::RepoError> {
            self.1.remove(market_id).await
        }
        async fn search(&self, query: &[f32], k: usize) -> Result<Vec<SearchHit>, crate::repo::RepoError> {
            self.1.search(query, k).await
        }
    }

    #[tokio::test]
    async fn a_job_that_hangs_is_stopped_before_the_deadline_and_the_batch_answered() {
        let (store, _) = setup().await;
        let index = Arc::new(HangsOn("m6", store.clone()));
        let indexer = Indexer::new(store.clone(), store.clone(), Arc::new(HashingEmbedder), index);
        let batch = (0..7)
            .map(|i| {
                let job = IndexJob::new(&format!("m{i}"), 1, JobOp::Upsert);
                message(&format!("job-{i}"), &serde_json::to_string(&job).unwrap())
            })
            .collect();
        // Just enough time to start every job.
        let deadline = Instant::now() + JOB_BUDGET + REPLY_MARGIN + Duration::from_millis(300);
        let answered = tokio::time::timeout(3 * JOB_BUDGET, indexer.handle_batch(batch, deadline)).await;
        let failed = answered.expect("the batch is answered, not cut off by the invocation's timeout");
        assert_eq!(failed, ["job-6"], "only the job that hung");
        assert!(store.index_entry("m5").is_some());
    }
}
