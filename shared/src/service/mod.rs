//! The use cases and the rules they keep, written against the repository traits only.

mod error;
mod idempotency;
mod markets;
mod positions;
mod rate_limit;
mod search;

pub use error::Error;
pub use idempotency::{FirstResult, IdempotentRequest, Written};
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
