//! In-memory repositories with the same behaviour as the DynamoDB ones, for unit tests: one store
//! behind every trait, so that a position moves its market's volume as the transaction does.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::listing::{ShardRead, compare, follows, merge};
use super::{
    IdempotencyRecord, IdempotencyRepository, IndexEntry, JobQueue, KeyAttr, ListPosition, ListQuery, Listed,
    ListedMarket, MarketRepository, Outbox, Page, PageToken, PendingJobs, PositionRepository, RepoError, SearchHit,
    SortField, UserRepository, VectorIndex, cosine, name_key, top_k,
};
use crate::domain::{IndexJob, Market, MarketStatus, Position, UserProfile};
use crate::error::BoxError;

#[derive(Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    markets: HashMap<String, Market>,
    positions: Vec<Position>,
    users: HashMap<String, UserProfile>,
    records: HashMap<String, IdempotencyRecord>,
    outbox: Vec<IndexJob>,
    vectors: HashMap<String, IndexEntry>,
    counters: HashMap<String, u64>,
}

impl InMemoryStore {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("no test panics while holding the lock")
    }

    /// Stores the profile unless the user has one, as the transactions do.
    fn remember(state: &mut State, profile: &UserProfile) {
        state.users.entry(profile.id.clone()).or_insert_with(|| profile.clone());
    }

    /// Fails like the transaction's condition on the idempotency record.
    fn check_record(state: &State, record: Option<&IdempotencyRecord>) -> Result<(), RepoError> {
        match record {
            Some(record) if state.records.contains_key(&record.key) => {
                Err(RepoError::IdempotencyKeyUsed(state.records.get(&record.key).cloned().map(Box::new)))
            }
            _ => Ok(()),
        }
    }
}

/// A market as a list index holds it.
fn listed(market: &Market, sort: SortField) -> Listed {
    let sort = match sort {
        SortField::CreatedAt => KeyAttr::S(market.created_at.clone()),
        SortField::Volume => KeyAttr::N(market.volume.to_stored()),
        SortField::Name => KeyAttr::S(name_key(&market.name)),
    };
    Listed { id: market.id.clone(), creator_id: market.creator_id.clone(), sort }
}

#[async_trait]
impl MarketRepository for InMemoryStore {
    async fn get(&self, id: &str) -> Result<Option<Market>, RepoError> {
        Ok(self.state().markets.get(id).cloned())
    }

    async fn get_with_creator(&self, id: &str) -> Result<Option<(Market, Option<UserProfile>)>, RepoError> {
        let state = self.state();
        let Some(market) = state.markets.get(id).cloned() else { return Ok(None) };
        let creator = state.users.get(&market.creator_id).cloned();
        Ok(Some((market, creator)))
    }

    async fn get_many_with_creators(
        &self,
        ids: &[&str],
        creator_ids: &[&str],
    ) -> Result<(Vec<Market>, HashMap<String, UserProfile>), RepoError> {
        let markets = {
            let state = self.state();
            ids.iter().filter_map(|id| state.markets.get(*id).cloned()).collect()
        };
        Ok((markets, UserRepository::get_many(self, creator_ids).await?))
    }

    async fn create(
        &self,
        market: &Market,
        creator: &UserProfile,
        first_position: Option<&Position>,
        record: Option<&IdempotencyRecord>,
        job: &IndexJob,
    ) -> Result<(), RepoError> {
        let mut state = self.state();
        Self::check_record(&state, record)?;
        let position_taken = first_position.is_some_and(|p| state.positions.iter().any(|q| q.id == p.id));
        if state.markets.contains_key(&market.id) || position_taken {
            return Err(RepoError::AlreadyExists);
        }
        if let Some(stored) = state.users.get(&creator.id).filter(|stored| stored.name != creator.name) {
            return Err(RepoError::StoredProfileDiffers(stored.clone()));
        }
        Self::remember(&mut state, creator);
        state.markets.insert(market.id.clone(), market.clone());
        state.positions.extend(first_position.cloned());
        if let Some(record) = record {
            state.records.insert(record.key.clone(), record.clone());
        }
        state.outbox.push(job.clone());
        Ok(())
    }

    async fn update(&self, market: &Market, job: &IndexJob) -> Result<(), RepoError> {
        let mut state = self.state();
        let stored = state.markets.get_mut(&market.id).ok_or(RepoError::NotFound)?;
        if stored.version + 1 != market.version {
            return Err(RepoError::VersionConflict);
        }
        *stored = Market { volume: stored.volume, ..market.clone() };
        state.outbox.push(job.clone());
        Ok(())
    }

    async fn delete(&self, id: &str, expected_version: Option<u64>, job: &IndexJob) -> Result<(), RepoError> {
        let mut state = self.state();
        let stored = state.markets.get(id).ok_or(RepoError::NotFound)?;
        if expected_version.is_some_and(|version| version != stored.version) {
            return Err(RepoError::VersionConflict);
        }
        state.markets.remove(id);
        state.outbox.push(job.clone());
        Ok(())
    }

    /// One shard: the whole list is one partition here.
    async fn list(
        &self,
        query: &ListQuery,
        start: Option<&PageToken>,
        offset: usize,
        limit: usize,
    ) -> Result<Page<ListedMarket>, RepoError> {
        let start = start.map(ListPosition::from_token).transpose()?;
        if start.as_ref().is_some_and(|start| start.shards != 1) {
            return Err(RepoError::InvalidPosition);
        }
        let mut markets: Vec<Listed> = self
            .state()
            .markets
            .values()
            .filter(|market| query.filter.as_ref().is_none_or(|filter| filter.matches(market)))
            .map(|market| listed(market, query.sort))
            .filter(|market| start.as_ref().is_none_or(|start| follows(query.order, market, &start.after)))
            .collect();
        markets.sort_by(|a, b| compare(query.order, a, b));
        Ok(merge(query.order, 1, vec![ShardRead { markets, exhausted: true }], offset, limit).into())
    }
}

#[async_trait]
impl PositionRepository for InMemoryStore {
    async fn add(
        &self,
        position: &Position,
        trader: &UserProfile,
        expected_version: Option<u64>,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), RepoError> {
        let mut state = self.state();
        Self::check_record(&state, record)?;
        let market = state.markets.get(&position.market_id).ok_or(RepoError::NotFound)?;
        if market.status != MarketStatus::Active {
            return Err(RepoError::MarketNotActive);
        }
        if expected_version.is_some_and(|version| version != market.version) {
            return Err(RepoError::VersionConflict);
        }
        Self::remember(&mut state, trader);
        let market = state.markets.get_mut(&position.market_id).expect("checked above");
        market.volume = market.volume.checked_add(position.amount).ok_or(RepoError::Internal("overflow".into()))?;
        market.version += 1;
        market.updated_at.clone_from(&position.created_at);
        state.positions.push(position.clone());
        if let Some(record) = record {
            state.records.insert(record.key.clone(), record.clone());
        }
        Ok(())
    }

    /// Its page token is the last position's id.
    async fn list(
        &self,
        market_id: &str,
        start: Option<&PageToken>,
        limit: usize,
    ) -> Result<Page<Position>, RepoError> {
        let after = start.map(|token| String::from_utf8(token.0.clone()).map_err(|_| RepoError::InvalidPosition));
        let after = after.transpose()?;
        let mut matching: Vec<Position> = self
            .state()
            .positions
            .iter()
            .filter(|p| p.market_id == market_id && after.as_ref().is_none_or(|after| &p.id < after))
            .cloned()
            .collect();
        matching.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(Page::from_overfetch(matching, limit, |last| PageToken(last.id.clone().into_bytes())))
    }

    async fn remove_some(&self, market_id: &str, limit: usize) -> Result<bool, RepoError> {
        let positions = &mut self.state().positions;
        let mut removed = 0;
        positions.retain(|position| {
            let remove = position.market_id == market_id && removed < limit;
            removed += usize::from(remove);
            !remove
        });
        Ok(positions.iter().any(|position| position.market_id == market_id))
    }
}

#[async_trait]
impl UserRepository for InMemoryStore {
    async fn create_if_absent(&self, profile: &UserProfile) -> Result<UserProfile, RepoError> {
        Ok(self.state().users.entry(profile.id.clone()).or_insert_with(|| profile.clone()).clone())
    }

    async fn get_many(&self, ids: &[&str]) -> Result<HashMap<String, UserProfile>, RepoError> {
        let state = self.state();
        Ok(ids.iter().filter_map(|id| state.users.get(*id)).map(|p| (p.id.clone(), p.clone())).collect())
    }
}

#[async_trait]
impl IdempotencyRepository for InMemoryStore {
    async fn get(&self, key: &str) -> Result<Option<IdempotencyRecord>, RepoError> {
        Ok(self.state().records.get(key).cloned())
    }
}

impl InMemoryStore {
    /// Puts a job in the outbox as a market change would (for tests of the sweeper).
    pub fn park(&self, job: IndexJob) {
        self.state().outbox.push(job);
    }
}

#[async_trait]
impl Outbox for InMemoryStore {
    async fn pending(
        &self,
        created_before: std::time::SystemTime,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<PendingJobs, RepoError> {
        let state = self.state();
        let written_before =
            |job: &&IndexJob| ulid::Ulid::from_string(&job.id).is_ok_and(|id| id.datetime() < created_before);
        let mut waiting: Vec<&IndexJob> = state
            .outbox
            .iter()
            .filter(written_before)
            .filter(|job| start_after.is_none_or(|after| job.id.as_str() > after))
            .collect();
        waiting.sort_by(|a, b| a.id.cmp(&b.id));
        let more = waiting.len() > limit;
        let jobs: Vec<IndexJob> = waiting.into_iter().take(limit).cloned().collect();
        let next = if more { jobs.last().map(|job| job.id.clone()) } else { None };
        Ok(PendingJobs { jobs, unreadable: Vec::new(), next })
    }

    async fn clear(&self, job_ids: &[String]) -> Result<(), RepoError> {
        self.state().outbox.retain(|job| !job_ids.contains(&job.id));
        Ok(())
    }
}

/// A queue that keeps what it is sent, or refuses everything while `down`.
#[derive(Default)]
pub struct InMemoryQueue {
    pub sent: Mutex<Vec<IndexJob>>,
    pub down: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl JobQueue for InMemoryQueue {
    async fn send(&self, jobs: &[IndexJob]) -> Result<Vec<String>, BoxError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("queue unreachable".into());
        }
        self.sent.lock().expect("no panics under the lock").extend(jobs.iter().cloned());
        Ok(jobs.iter().map(|job| job.id.clone()).collect())
    }
}

#[async_trait]
impl VectorIndex for InMemoryStore {
    async fn put(&self, entry: &IndexEntry) -> Result<(), RepoError> {
        self.state().vectors.insert(entry.market_id.clone(), entry.clone());
        Ok(())
    }

    async fn remove(&self, market_id: &str) -> Result<(), RepoError> {
        self.state().vectors.remove(market_id);
        Ok(())
    }

    async fn search(&self, query: &[f32], k: usize) -> Result<Vec<SearchHit>, RepoError> {
        let state = self.state();
        let hits = state
            .vectors
            .values()
            .map(|entry| SearchHit {
                market_id: entry.market_id.clone(),
                creator_id: entry.creator_id.clone(),
                score: cosine(query, &entry.vector),
            })
            .collect();
        Ok(top_k(hits, k))
    }
}

impl InMemoryStore {
    /// The index entry of a market, to check what the worker wrote.
    pub fn index_entry(&self, market_id: &str) -> Option<IndexEntry> {
        self.state().vectors.get(market_id).cloned()
    }
}

#[async_trait]
impl super::RateCounter for InMemoryStore {
    async fn increment_below(&self, key: &str, limit: u64, _expires_at: u64) -> Result<super::Count, RepoError> {
        let mut state = self.state();
        let count = state.counters.entry(key.to_owned()).or_default();
        if *count >= limit {
            return Ok(super::Count::LimitReached);
        }
        *count += 1;
        Ok(super::Count::Counted(*count))
    }
}
