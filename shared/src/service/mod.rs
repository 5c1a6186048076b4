//! The use cases and the rules they keep, written against the repository traits only.

mod idempotency;
mod markets;
mod positions;
mod rate_limit;
mod search;

pub use idempotency::{IdempotentRequest, StoredResponse, Written};
pub use markets::{Creators, MarketPage, MarketService};
pub use positions::PositionService;
pub use rate_limit::{Quota, RateLimit, RateLimiter};
pub use search::SearchService;

use std::sync::Arc;

use crate::cache::MarketCache;
use crate::jobs::{JobQueue, Outbox};
use crate::repo::{IdempotencyRepository, MarketRepository, PositionRepository, RateCounter, UserRepository};
use crate::search::{Embedder, VectorIndex};

/// Everything the services stand on, behind traits: the repositories, the job queue, the
/// embedder, the vector index and the shared cache of markets.
#[derive(Clone)]
pub struct Dependencies {
    pub markets: Arc<dyn MarketRepository>,
    pub positions: Arc<dyn PositionRepository>,
    pub users: Arc<dyn UserRepository>,
    pub idempotency: Arc<dyn IdempotencyRepository>,
    pub outbox: Arc<dyn Outbox>,
    pub queue: Arc<dyn JobQueue>,
    pub embedder: Arc<dyn Embedder>,
    pub vectors: Arc<dyn VectorIndex>,
    pub rate_counter: Arc<dyn RateCounter>,
    pub cache: Arc<dyn MarketCache>,
}

impl Dependencies {
    /// Everything in memory, for unit tests.
    pub fn in_memory() -> Self {
        let store = Arc::new(crate::repo::memory::InMemoryStore::default());
        Self {
            markets: store.clone(),
            positions: store.clone(),
            users: store.clone(),
            idempotency: store.clone(),
            outbox: store.clone(),
            queue: Arc::new(crate::repo::memory::InMemoryQueue::default()),
            embedder: Arc::new(crate::search::HashingEmbedder),
            vectors: store.clone(),
            rate_counter: store,
            cache: Arc::new(crate::cache::InMemoryCache::default()),
        }
    }
}

use crate::error::ApiError;
use crate::repo::RepoError;

impl From<RepoError> for ApiError {
    /// The meaning a storage failure has when the service gives it no more specific one.
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::NotFound => ApiError::NotFound("market not found".into()),
            RepoError::AlreadyExists => ApiError::Conflict("the resource already exists"),
            RepoError::VersionConflict => ApiError::Conflict("the market changed concurrently; retry"),
            RepoError::TransactionConflict => ApiError::Conflict("too many concurrent writes to this market; retry"),
            RepoError::MarketNotActive => ApiError::MarketNotActive,
            RepoError::IdempotencyKeyUsed => ApiError::Conflict("a request with this Idempotency-Key is in progress"),
            RepoError::InvalidPosition => ApiError::InvalidCursor,
            RepoError::Unavailable(source) => ApiError::Unavailable(source),
            RepoError::Internal(source) => ApiError::Internal(source),
        }
    }
}
