//! Storage behind traits: services see these, never `aws_sdk_dynamodb`. Each trait has a DynamoDB
//! implementation (`markets_aws::dynamodb`) and an in-memory one (`memory`, with the `in-memory`
//! feature) for fast unit tests.

pub mod listing;
#[cfg(any(test, feature = "in-memory"))]
pub mod memory;
mod vectors;

pub use listing::{ListPage, ListPosition, Listed};
pub use vectors::{IndexEntry, SearchHit, VectorIndex, cosine, top_k};

use std::collections::HashMap;
use std::time::SystemTime;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::IndexJob;
use crate::domain::{Filter, Market, Position, UserProfile};
use crate::error::BoxError;

/// How a storage call failed, in terms the services can act on.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("item not found")]
    NotFound,
    #[error("item already exists")]
    AlreadyExists,
    #[error("item changed since it was read")]
    VersionConflict,
    #[error("market is not active")]
    MarketNotActive,
    /// Another request holds this idempotency key: its record, when the store returned it with
    /// the refusal.
    #[error("idempotency key already used")]
    IdempotencyKeyUsed(Option<Box<IdempotencyRecord>>),
    /// The writer's stored profile is not the one the write carried (their token's name changed
    /// since their first write): the write is to be made again with the stored one.
    #[error("the user's stored profile differs")]
    StoredProfileDiffers(UserProfile),
    /// A concurrent transaction touched the same items: worth retrying at once.
    #[error("transaction conflict")]
    TransactionConflict,
    /// A list position that does not fit the list (another shard count): the cursor is stale.
    #[error("list position does not fit this list")]
    InvalidPosition,
    /// Worth retrying later: throttling, timeouts, the store unreachable.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    #[error("store failed")]
    Internal(#[source] BoxError),
}

impl RepoError {
    /// A write that failed this way may still have committed (a timeout after DynamoDB applied it):
    /// the caller must treat the item as changed.
    pub fn may_have_committed(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Internal(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    Volume,
    Name,
}

impl SortField {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "createdAt" => Some(Self::CreatedAt),
            "volume" => Some(Self::Volume),
            "name" => Some(Self::Name),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreatedAt => "createdAt",
            Self::Volume => "volume",
            Self::Name => "name",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// Which markets, in which order.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<ListFilter>,
    pub sort: SortField,
    pub order: SortOrder,
}

/// The markets whose `field` has `value` (a value [`Filter::parse`] gave).
#[derive(Debug, Clone)]
pub struct ListFilter {
    pub field: &'static Filter,
    pub value: String,
}

impl ListFilter {
    /// Whether `market` is in the filtered list.
    pub fn matches(&self, market: &Market) -> bool {
        (self.field.value_of)(market) == Some(self.value.as_str())
    }
}

impl ListQuery {
    /// Names the query, so a cursor can be bound to the query it came from.
    pub fn scope(&self) -> String {
        let list = match &self.filter {
            None => "all".to_owned(),
            // A status list's scope is its bare status: the form its cursors had before other filters.
            Some(ListFilter { field, value }) if field.name == "status" => value.clone(),
            Some(ListFilter { field, value }) => format!("{}={value}", field.name),
        };
        let order = if self.order == SortOrder::Asc { "asc" } else { "desc" };
        format!("markets:{list}:{}:{order}", self.sort.as_str())
    }
}

/// One attribute of a page key, typed as DynamoDB types it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyAttr {
    S(String),
    N(String),
}

/// Where the next page of a list starts, in bytes the storage adapter chose (a DynamoDB key, a
/// place in a sharded order): the services pass it on and the edge signs it into the client's
/// cursor, so neither knows how a backend pages. An adapter given one it cannot read answers
/// [`RepoError::InvalidPosition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken(pub Vec<u8>);

/// A page of results and where the next one starts, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageToken>,
}

/// A market as a list names it: enough to read it and its creator in one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMarket {
    pub id: String,
    pub creator_id: String,
}

impl<T> Page<T> {
    /// A page from up to `limit + 1` items read: the extra one only tells that a next page
    /// exists, so the last page never carries a cursor to an empty one.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize, key_after: impl FnOnce(&T) -> PageToken) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        let next = items.last().filter(|_| more).map(key_after);
        Self { items, next }
    }
}

/// The first result of an idempotent request, written in the same transaction as its effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The caller, the operation and the client's key: one caller can never see another's result.
    pub key: String,
    /// A hash of the request, to tell a retry from a different request reusing the key.
    pub fingerprint: String,
    pub result: FirstResult,
    /// Unix seconds; DynamoDB's TTL removes the record some time after.
    pub expires_at: u64,
}

/// What an idempotent request created, as it was then: a retry is answered with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstResult {
    /// Boxed: a market is much larger than the other results a write can have.
    Market {
        market: Box<Market>,
        creator: UserProfile,
    },
    Position(Position),
}

#[async_trait]
pub trait MarketRepository: Send + Sync {
    async fn get(&self, id: &str) -> Result<Option<Market>, RepoError>;

    /// The market, read strongly consistently, with its creator's profile as the create stored it
    /// with the market (a profile never changes once written), in one read; `None` for the profile
    /// of a market stored without it (bulk imports).
    async fn get_with_creator(&self, id: &str) -> Result<Option<(Market, Option<UserProfile>)>, RepoError>;

    /// The markets of `ids` that exist (order not kept) and the profiles of `creator_ids` that
    /// exist, by id: both tables in one batch read (two past 100 keys, BatchGetItem's limit).
    async fn get_many_with_creators(
        &self,
        ids: &[&str],
        creator_ids: &[&str],
    ) -> Result<(Vec<Market>, HashMap<String, UserProfile>), RepoError>;

    /// Writes the market (with its creator's profile), its creator's first position, the
    /// idempotency record, the index job (into the outbox) and the creator's profile when the
    /// users table has none yet, all or none. `IdempotencyKeyUsed` if the record exists (whatever
    /// else failed), `AlreadyExists` if an id is taken, `StoredProfileDiffers` (with the stored
    /// one) if the creator's stored profile has another name.
    async fn create(
        &self,
        market: &Market,
        creator: &UserProfile,
        first_position: Option<&Position>,
        record: Option<&IdempotencyRecord>,
        job: &IndexJob,
    ) -> Result<(), RepoError>;

    /// Writes the user-editable fields and the new version, with the index job, only if the stored
    /// version is `market.version - 1` (`VersionConflict` otherwise, `NotFound` if gone).
    async fn update(&self, market: &Market, job: &IndexJob) -> Result<(), RepoError>;

    /// Deletes the market, with the index job, only at `expected_version` when one is given.
    async fn delete(&self, id: &str, expected_version: Option<u64>, job: &IndexJob) -> Result<(), RepoError>;

    /// Up to `limit` markets of the query, in its order, as its index holds them: from `start`
    /// (the list's beginning when `None`), after skipping `offset`; and where the next page starts.
    async fn list(
        &self,
        query: &ListQuery,
        start: Option<&PageToken>,
        offset: usize,
        limit: usize,
    ) -> Result<Page<ListedMarket>, RepoError>;
}

#[async_trait]
pub trait PositionRepository: Send + Sync {
    /// One transaction: the position, the market's volume raised by its amount and its version
    /// by one, the idempotency record, and the trader's profile unless the users table has one;
    /// only if the key is free (`IdempotencyKeyUsed`, whatever else failed), the market exists
    /// (`NotFound`), is active (`MarketNotActive`) and, when one is expected, is at that version
    /// (`VersionConflict`).
    async fn add(
        &self,
        position: &Position,
        trader: &UserProfile,
        expected_version: Option<u64>,
        record: Option<&IdempotencyRecord>,
    ) -> Result<(), RepoError>;

    /// A market's positions, newest first.
    async fn list(&self, market_id: &str, start: Option<&PageToken>, limit: usize)
    -> Result<Page<Position>, RepoError>;

    /// Removes up to `limit` of a deleted market's positions; `true` when some may be left.
    async fn remove_some(&self, market_id: &str, limit: usize) -> Result<bool, RepoError>;
}

#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores the profile unless the user already has one, and returns the stored one (the first
    /// profile stays the user's, whatever later tokens say).
    async fn create_if_absent(&self, profile: &UserProfile) -> Result<UserProfile, RepoError>;

    /// The profiles of `ids` that exist, in one batch read.
    async fn get_many(&self, ids: &[&str]) -> Result<HashMap<String, UserProfile>, RepoError>;
}

#[async_trait]
pub trait IdempotencyRepository: Send + Sync {
    /// The record under `key`, unless it has expired.
    async fn get(&self, key: &str) -> Result<Option<IdempotencyRecord>, RepoError>;
}

/// The case-folded name that name order sorts by.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// What adding one to a rate-limit counter did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Counted: the new count.
    Counted(u64),
    /// The counter had reached the limit: nothing counted.
    LimitReached,
    /// The store refused to write this counter that fast: its one caller is sending faster than
    /// one item takes writes.
    Throttled,
}

/// The queue jobs are sent to.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends the jobs (batched) and returns the ids of those that were accepted.
    async fn send(&self, jobs: &[IndexJob]) -> Result<Vec<String>, BoxError>;
}

/// Jobs written with their market change and not yet known to be sent (the transactional outbox).
/// One page of the outbox.
#[derive(Debug, Default)]
pub struct PendingJobs {
    pub jobs: Vec<IndexJob>,
    /// Keys of items that are not a job we can read: reported, skipped, never blocking the rest.
    pub unreadable: Vec<String>,
    /// The key to continue after, when there may be more.
    pub next: Option<String>,
}

#[async_trait]
pub trait Outbox: Send + Sync {
    /// Up to `limit` items written before `created_before`, oldest first, after the key
    /// `start_after` (a job id is a ULID, so its key tells its age).
    async fn pending(
        &self,
        created_before: SystemTime,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<PendingJobs, RepoError>;
    /// Forgets jobs that were sent.
    async fn clear(&self, job_ids: &[String]) -> Result<(), RepoError>;
}

#[async_trait]
pub trait RateCounter: Send + Sync {
    /// Adds one to the counter `key` unless it has reached `limit`. The counter expires at
    /// `expires_at` (Unix seconds). An error means the store could not be reached.
    async fn increment_below(&self, key: &str, limit: u64, expires_at: u64) -> Result<Count, RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_keep_the_form_cursors_were_issued_with() {
        let status = ListFilter { field: Filter::named("status").unwrap(), value: "closed".into() };
        let query = |filter| ListQuery { filter, sort: SortField::Volume, order: SortOrder::Asc };
        assert_eq!(query(None).scope(), "markets:all:volume:asc");
        assert_eq!(query(Some(status)).scope(), "markets:closed:volume:asc");
    }
}
