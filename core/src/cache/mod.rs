//! The shared cache of markets (cache-aside, Valkey/Redis on AWS and locally), behind a trait the
//! services use without seeing a client type.
//!
//! Why readers can never put the past back: an entry holds a market (with its creator) and its
//! version; a reader that misses gets a *lease* and may fill the entry only while the lease lives.
//! Every committed write, after its commit, either updates the entry to its own (newer) version,
//! drops the entry's body and every lease (when it does not know the new version: a position), or
//! replaces the entry with a tombstone (a delete). So a reader that loaded version 1 from DynamoDB
//! before a write finds its lease gone when it tries to fill, whether the entry was updated,
//! invalidated, tombstoned or even evicted in between; and an update never replaces a newer
//! version. A lost cache call only costs a DynamoDB read: every call has a short timeout, and
//! callers treat an error as a miss.

#[cfg(any(test, feature = "in-memory"))]
mod memory;

#[cfg(any(test, feature = "in-memory"))]
pub use memory::InMemoryCache;

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::domain::{Market, UserProfile};
use crate::error::BoxError;
use crate::retry::{Backoff, sleep_would_pass};

/// What an entry holds: a market as GET shows it, with its creator's profile when it is known.
/// The adapter that stores it chooses how it is serialized; the HTTP edge renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedMarket {
    pub market: Market,
    pub creator: Option<UserProfile>,
}

impl CachedMarket {
    /// The version the entry holds (the market's, which is its ETag).
    pub fn version(&self) -> u64 {
        self.market.version
    }
}

/// The right to fill one entry after a miss, lost as soon as a write touches the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease(pub String);

impl Lease {
    pub fn new() -> Self {
        Self(format!("{:016x}", fastrand::u64(..)))
    }
}

impl Default for Lease {
    fn default() -> Self {
        Self::new()
    }
}

/// What the cache holds for a market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Hit(Box<CachedMarket>),
    /// Deleted (a tombstone): 404 without asking DynamoDB.
    Deleted,
    /// Not cached: read DynamoDB, then fill with the lease (none when the cache is off).
    Miss(Option<Lease>),
}

/// A cache call that failed or took too long; the caller goes to DynamoDB instead.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache call timed out after {0:?}")]
    Timeout(Duration),
    #[error("cache call failed")]
    Failed(#[source] BoxError),
}

#[async_trait]
pub trait MarketCache: Send + Sync {
    /// The entry of market `id`; on a miss, a lease to fill it with what DynamoDB says next.
    async fn lookup(&self, id: &str) -> Result<Lookup, CacheError>;

    /// Stores what a reader loaded under `lease`; refused (false) when a write touched the entry
    /// since the lease was given, or the entry already holds a newer version.
    async fn fill(&self, id: &str, lease: &Lease, market: &CachedMarket) -> Result<bool, CacheError>;

    /// After a committed edit: an entry holding an older body gets `market`'s; an entry without a
    /// body (invalidated, perhaps by a later write whose version is not known here) only learns
    /// `market`'s version as a floor; an absent entry stays absent (the next reader fills it).
    /// Drops every lease.
    async fn update(&self, id: &str, market: &CachedMarket) -> Result<(), CacheError>;

    /// After a committed write whose result is not known here: drops the entry's body and every
    /// lease, keeping the version it had as a floor.
    async fn invalidate(&self, id: &str) -> Result<(), CacheError>;

    /// After a committed delete: a tombstone that no fill or update overwrites until it expires.
    async fn tombstone(&self, id: &str) -> Result<(), CacheError>;
}

/// The cache switched off: every lookup misses without a lease, and writes have nothing to do.
pub struct NoCache;

#[async_trait]
impl MarketCache for NoCache {
    async fn lookup(&self, _id: &str) -> Result<Lookup, CacheError> {
        Ok(Lookup::Miss(None))
    }

    async fn fill(&self, _id: &str, _lease: &Lease, _market: &CachedMarket) -> Result<bool, CacheError> {
        Ok(false)
    }

    async fn update(&self, _id: &str, _market: &CachedMarket) -> Result<(), CacheError> {
        Ok(())
    }

    async fn invalidate(&self, _id: &str) -> Result<(), CacheError> {
        Ok(())
    }

    async fn tombstone(&self, _id: &str) -> Result<(), CacheError> {
        Ok(())
    }
}

/// What a committed write does to its market's entry.
#[derive(Debug, Clone, Copy)]
pub enum Refresh<'a> {
    Update(&'a CachedMarket),
    Invalidate,
    Tombstone,
}

/// How long a committed write keeps trying its refresh (after at least [`REFRESH_MIN_ATTEMPTS`]).
/// A write is answered only once its entry shows it (else a reader that can reach the cache would
/// serve the past until the TTL), so a refresh that does not land turns the answer into a 503: the
/// client retries with the same key, and the retry (its replay, or the 412/404/no-op it meets)
/// repairs the entry.
const REFRESH_BUDGET: Duration = Duration::from_secs(1);
const REFRESH_MIN_ATTEMPTS: u32 = 3;

/// The pace of a refresh's attempts (their number is bounded by [`REFRESH_BUDGET`]).
const REFRESH_RETRIES: Backoff =
    Backoff { max_attempts: u32::MAX, base: Duration::from_millis(10), cap: Duration::from_millis(200) };

/// Applies `refresh` to market `id` after its write committed (or after a write found the entry
/// may be wrong), retrying failed calls within [`REFRESH_BUDGET`] and never past the invocation's
/// deadline. One that never lands is logged and counted (`CacheRefreshLost`, which has an alarm),
/// and returned: the caller must not answer as if the entry were right.
pub async fn refresh_after_commit(cache: &dyn MarketCache, id: &str, refresh: Refresh<'_>) -> Result<(), CacheError> {
    let started = Instant::now();
    let mut attempt = 1;
    let error = loop {
        let result = match refresh {
            Refresh::Update(market) => cache.update(id, market).await,
            Refresh::Invalidate => cache.invalidate(id).await,
            Refresh::Tombstone => cache.tombstone(id).await,
        };
        let Err(error) = result else { return Ok(()) };
        let delay = REFRESH_RETRIES.delay(attempt);
        let spent = attempt >= REFRESH_MIN_ATTEMPTS && started.elapsed() + delay >= REFRESH_BUDGET;
        if spent || sleep_would_pass(delay, None) {
            break error;
        }
        tokio::time::sleep(delay).await;
        attempt += 1;
    };
    let refresh = match refresh {
        Refresh::Update(_) => "update",
        Refresh::Invalidate => "invalidate",
        Refresh::Tombstone => "tombstone",
    };
    tracing::error!(market = id, refresh, attempts = attempt, error = %crate::error::error_chain(&error), "cache not refreshed after a write");
    crate::observability::emit_cache_refresh_lost();
    Err(error)
}

#[cfg(test)]
mod tests;
