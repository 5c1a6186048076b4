//! The use cases and the rules they keep, written against the repository traits only.

mod error;
mod freshness;
mod idempotency;
mod markets;
mod positions;
mod rate_limit;
mod search;

pub use error::Error;
pub use idempotency::{IdempotentRequest, Written};
pub use markets::{Creators, MarketPage, MarketReads, MarketService};
pub use positions::PositionService;
pub use rate_limit::{Admission, Quota, RateLimit, RateLimiter, WriteGate};
pub use search::SearchService;

use std::future::Future;

pub use crate::repo::FirstResult;
use crate::repo::RepoError;
#[cfg(any(test, feature = "in-memory"))]
use {
    crate::cache::MarketCache,
    crate::embedder::Embedder,
    crate::repo::{
        IdempotencyRepository, MarketRepository, PositionRepository, RateCounter, UserRepository, VectorIndex,
    },
    std::sync::Arc,
};

/// Runs a transactional write once the request's rate-limit check has passed (every write goes
/// through here: see [`WriteGate`]), and again while DynamoDB cancels it for a conflict with
/// another transaction on the same items (nothing was written; every write to a busy market
/// contends for its item), with jittered backoff and a bounded number of attempts.
async fn retrying_conflicts<T, Fut>(write: impl FnMut() -> Fut) -> Result<T, RepoError>
where
    Fut: Future<Output = Result<T, RepoError>>,
{
    rate_limit::admitted().await?;
    let conflict = |error: &RepoError| matches!(error, RepoError::TransactionConflict);
    crate::retry::retry(crate::retry::Backoff::CONTENTION, None, conflict, write).await
}

/// Everything the services stand on, in memory: for unit tests and benchmarks of the services and
/// routes without a network. Deployed functions build only what they use (see `markets_lambda::wiring`).
#[cfg(any(test, feature = "in-memory"))]
#[derive(Clone)]
pub struct Dependencies {
    pub markets: Arc<dyn MarketRepository>,
    pub positions: Arc<dyn PositionRepository>,
    pub users: Arc<dyn UserRepository>,
    pub idempotency: Arc<dyn IdempotencyRepository>,
    pub embedder: Arc<dyn Embedder>,
    pub vectors: Arc<dyn VectorIndex>,
    pub rate_counter: Arc<dyn RateCounter>,
    pub cache: Arc<dyn MarketCache>,
}

#[cfg(any(test, feature = "in-memory"))]
impl Dependencies {
    /// Everything in memory.
    pub fn in_memory() -> Self {
        let store = Arc::new(crate::repo::memory::InMemoryStore::default());
        Self {
            markets: store.clone(),
            positions: store.clone(),
            users: store.clone(),
            idempotency: store.clone(),
            embedder: Arc::new(crate::embedder::HashingEmbedder),
            vectors: store.clone(),
            rate_counter: store,
            cache: Arc::new(crate::cache::InMemoryCache::default()),
        }
    }

    pub fn market_reads(&self) -> MarketReads {
        MarketReads::new(self.markets.clone(), self.users.clone(), self.cache.clone())
    }

    pub fn market_service(&self) -> MarketService {
        MarketService::new(self.market_reads(), self.idempotency.clone())
    }

    pub fn position_service(&self) -> PositionService {
        let (markets, positions) = (self.markets.clone(), self.positions.clone());
        PositionService::new(markets, positions, self.idempotency.clone(), self.cache.clone())
    }

    pub fn search_service(&self) -> SearchService {
        SearchService::new(self.markets.clone(), self.embedder.clone(), self.vectors.clone())
    }
}
