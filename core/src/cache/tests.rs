//! The cache's rules (on the in-memory twin) and the services' use of them.

use std::sync::Arc;

use super::*;
use crate::domain::IndexJob;
use crate::domain::{Amount, MarketPatch, NewMarket, Outcome, PositionInput, Precondition};
use crate::domain::{Market, Position};
use crate::domain::{Principal, Role};
use crate::repo::{IdempotencyRecord, ListQuery, ListedMarket, MarketRepository, Page, PageToken, RepoError};
use crate::service::{Dependencies, Error, MarketService, PositionService, Written};

fn version(version: u64) -> CachedMarket {
    let market = Market {
        id: "m".into(),
        name: "Rain?".into(),
        description: String::new(),
        status: crate::domain::MarketStatus::Active,
        volume: Amount::ZERO,
        creator_id: "alice".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
        version,
        ..Market::default()
    };
    CachedMarket { market, creator: None }
}

async fn lease(cache: &dyn MarketCache, id: &str) -> Lease {
    match cache.lookup(id).await.unwrap() {
        Lookup::Miss(Some(lease)) => lease,
        other => panic!("expected a miss with a lease, got {other:?}"),
    }
}

#[tokio::test]
async fn a_fill_under_a_lease_is_a_hit_and_readers_of_one_miss_share_the_lease() {
    let cache = InMemoryCache::default();
    let first = lease(&cache, "m").await;
    assert_eq!(lease(&cache, "m").await, first);
    assert!(cache.fill("m", &first, &version(1)).await.unwrap());
    assert_eq!(cache.lookup("m").await.unwrap(), Lookup::Hit(Box::new(version(1))));
    assert!(!cache.fill("m", &first, &version(1)).await.unwrap(), "a lease fills once");
}

#[tokio::test]
async fn a_reader_that_loaded_the_past_cannot_put_it_back_over_any_write() {
    for refresh in ["update", "invalidate", "tombstone"] {
        let cache = InMemoryCache::default();
        let reader = lease(&cache, "m").await; // then reads version 1 from DynamoDB, slowly
        match refresh {
            "update" => cache.update("m", &version(2)).await.unwrap(),
            "invalidate" => cache.invalidate("m").await.unwrap(),
            _ => cache.tombstone("m").await.unwrap(),
        }
        assert!(!cache.fill("m", &reader, &version(1)).await.unwrap(), "after {refresh}");
        let expected = match refresh {
            "tombstone" => Lookup::Deleted,
            _ => Lookup::Miss(Some(lease(&cache, "m").await)),
        };
        assert_eq!(cache.lookup("m").await.unwrap(), expected, "after {refresh}");
    }
}

#[tokio::test]
async fn updates_never_go_back_and_tombstones_stay() {
    let cache = InMemoryCache::default();
    cache.update("m", &version(2)).await.unwrap();
    assert!(matches!(cache.lookup("m").await.unwrap(), Lookup::Miss(_)), "an absent entry stays absent");
    let reader = lease(&cache, "m").await;
    assert!(cache.fill("m", &reader, &version(3)).await.unwrap());
    cache.update("m", &version(2)).await.unwrap();
    assert_eq!(cache.lookup("m").await.unwrap(), Lookup::Hit(Box::new(version(3))), "an older update is refused");
    cache.invalidate("m").await.unwrap();
    let reader = lease(&cache, "m").await;
    assert!(!cache.fill("m", &reader, &version(2)).await.unwrap(), "never below the version known");
    cache.tombstone("m").await.unwrap();
    cache.update("m", &version(9)).await.unwrap();
    cache.invalidate("m").await.unwrap();
    assert_eq!(cache.lookup("m").await.unwrap(), Lookup::Deleted);
}

#[tokio::test]
async fn an_edit_refreshed_after_a_later_position_never_shows_its_older_version() {
    let cache = InMemoryCache::default();
    let reader = lease(&cache, "m").await;
    assert!(cache.fill("m", &reader, &version(1)).await.unwrap());
    // A PATCH commits v2; a position commits v3 and invalidates; then the PATCH's update lands.
    cache.invalidate("m").await.unwrap();
    cache.update("m", &version(2)).await.unwrap();
    let Lookup::Miss(Some(reader)) = cache.lookup("m").await.unwrap() else { panic!("v2 must not be a hit") };
    assert!(!cache.fill("m", &reader, &version(1)).await.unwrap(), "never below the edit's version");
    assert!(cache.fill("m", &reader, &version(3)).await.unwrap());
    assert_eq!(cache.lookup("m").await.unwrap(), Lookup::Hit(Box::new(version(3))));
}

fn alice() -> Principal {
    Principal { user_id: "alice".into(), role: Role::Moderator, name: Some("Alice".into()), email: None }
}

/// The services over in-memory repositories and one cache, and a market read once (so cached).
async fn services_with_a_cached_market() -> (MarketService, PositionService, Arc<dyn MarketCache>, String) {
    let dependencies = Dependencies::in_memory();
    let (markets, positions) = (dependencies.market_service(), dependencies.position_service());
    let new = NewMarket::from_json(crate::json::object(serde_json::json!({"name": "Rain?"}))).unwrap();
    let Written::New((market, _)) = markets.create(&alice(), new, None).await.unwrap() else { panic!("new") };
    assert!(matches!(dependencies.cache.lookup(&market.id).await.unwrap(), Lookup::Miss(_)), "create fills nothing");
    markets.reads().get_through_cache(&market.id).await.unwrap();
    assert!(matches!(dependencies.cache.lookup(&market.id).await.unwrap(), Lookup::Hit(m) if m.version() == 1));
    (markets, positions, dependencies.cache, market.id)
}

#[tokio::test]
async fn every_write_path_leaves_the_cache_showing_it() {
    let (markets, positions, cache, id) = services_with_a_cached_market().await;
    let rename = MarketPatch { name: Some("Snow?".into()), ..Default::default() };
    markets.patch(&alice(), &id, rename, Precondition::Any).await.unwrap();
    let Lookup::Hit(patched) = cache.lookup(&id).await.unwrap() else { panic!("a PATCH updates the entry") };
    assert_eq!((patched.version(), patched.market.name.as_str()), (2, "Snow?"));
    assert_eq!(patched.creator.map(|creator| creator.name).as_deref(), Some("Alice"));

    let position = PositionInput { outcome: Outcome::Yes, amount: Amount::from_stored("2.5").unwrap() };
    positions.take(&alice(), &id, position, Precondition::Any, None).await.unwrap();
    assert!(matches!(cache.lookup(&id).await.unwrap(), Lookup::Miss(_)), "a position invalidates");
    let read = markets.reads().get_through_cache(&id).await.unwrap();
    assert_eq!((read.version(), read.market.volume.to_stored().as_str()), (3, "2.5"));

    markets.delete(&alice(), &id, Precondition::Any).await.unwrap();
    assert_eq!(cache.lookup(&id).await.unwrap(), Lookup::Deleted);
    assert!(matches!(markets.reads().get_through_cache(&id).await, Err(Error::MarketNotFound { .. })));
}

/// A cache that fails every call, as a dead server does.
struct DeadCache;

#[async_trait]
impl MarketCache for DeadCache {
    async fn lookup(&self, _id: &str) -> Result<Lookup, CacheError> {
        Err(CacheError::Timeout(Duration::from_millis(50)))
    }

    async fn fill(&self, _id: &str, _lease: &Lease, _market: &CachedMarket) -> Result<bool, CacheError> {
        Err(CacheError::Failed("connection refused".into()))
    }

    async fn update(&self, _id: &str, _market: &CachedMarket) -> Result<(), CacheError> {
        Err(CacheError::Failed("connection refused".into()))
    }

    async fn invalidate(&self, _id: &str) -> Result<(), CacheError> {
        Err(CacheError::Failed("connection refused".into()))
    }

    async fn tombstone(&self, _id: &str) -> Result<(), CacheError> {
        Err(CacheError::Failed("connection refused".into()))
    }
}

/// Reads go to the store; writes commit, but answer "unavailable" (they cannot tell the readers that
/// may still reach the cache), and reads show them.
#[tokio::test]
async fn a_dead_cache_slows_reads_and_holds_write_answers_back() {
    let dependencies = Dependencies { cache: Arc::new(DeadCache), ..Dependencies::in_memory() };
    let markets = dependencies.market_service();
    let new = NewMarket::from_json(crate::json::object(serde_json::json!({"name": "Rain?"}))).unwrap();
    let Written::New((market, _)) = markets.create(&alice(), new, None).await.unwrap() else { panic!("new") };
    assert_eq!(markets.reads().get_through_cache(&market.id).await.unwrap().version(), 1);
    let close = MarketPatch { status: Some(crate::domain::MarketStatus::Closed), ..Default::default() };
    let closed = markets.patch(&alice(), &market.id, close, Precondition::Any).await;
    assert!(matches!(closed, Err(Error::Unavailable(_))), "{closed:?}");
    assert_eq!(markets.reads().get_through_cache(&market.id).await.unwrap().version(), 2);
    let deleted = markets.delete(&alice(), &market.id, Precondition::Any).await;
    assert!(matches!(deleted, Err(Error::Unavailable(_))), "{deleted:?}");
    assert!(matches!(markets.reads().get_through_cache(&market.id).await, Err(Error::MarketNotFound { .. })));
}

/// Markets whose edits and deletes commit, then report a timeout (as a lost DynamoDB answer does).
struct CommitsThenTimesOut(Arc<dyn MarketRepository>);

#[async_trait]
impl MarketRepository for CommitsThenTimesOut {
    async fn get(&self, id: &str) -> Result<Option<Market>, RepoError> {
        self.0.get(id).await
    }

    async fn get_with_creator(&self, id: &str) -> Result<Option<(Market, Option<UserProfile>)>, RepoError> {
        self.0.get_with_creator(id).await
    }

    async fn get_many_with_creators(
        &self,
        ids: &[&str],
        creator_ids: &[&str],
    ) -> Result<(Vec<Market>, std::collections::HashMap<String, UserProfile>), RepoError> {
        self.0.get_many_with_creators(ids, creator_ids).await
    }

    async fn create(
        &self,
        market: &Market,
        creator: &UserProfile,
        first_position: Option<&Position>,
        record: Option<&IdempotencyRecord>,
        job: &IndexJob,
    ) -> Result<(), RepoError> {
        self.0.create(market, creator, first_position, record, job).await
    }

    async fn update(&self, market: &Market, job: &IndexJob) -> Result<(), RepoError> {
        self.0.update(market, job).await?;
        Err(RepoError::Unavailable("timed out".into()))
    }

    async fn delete(&self, id: &str, expected_version: Option<u64>, job: &IndexJob) -> Result<(), RepoError> {
        self.0.delete(id, expected_version, job).await?;
        Err(RepoError::Unavailable("timed out".into()))
    }

    async fn list(
        &self,
        query: &ListQuery,
        start: Option<&PageToken>,
        offset: usize,
        limit: usize,
    ) -> Result<Page<ListedMarket>, RepoError> {
        self.0.list(query, start, offset, limit).await
    }
}

#[tokio::test]
async fn a_write_that_may_have_committed_leaves_no_cached_past() {
    let mut dependencies = Dependencies::in_memory();
    dependencies.markets = Arc::new(CommitsThenTimesOut(dependencies.markets.clone()));
    let markets = dependencies.market_service();
    let new = NewMarket::from_json(crate::json::object(serde_json::json!({"name": "Rain?"}))).unwrap();
    let Written::New((market, _)) = markets.create(&alice(), new, None).await.unwrap() else { panic!("new") };
    markets.reads().get_through_cache(&market.id).await.unwrap();

    let rename = MarketPatch { name: Some("Snow?".into()), ..Default::default() };
    assert!(matches!(markets.patch(&alice(), &market.id, rename, Precondition::Any).await, Err(Error::Unavailable(_))));
    assert_eq!(
        markets.reads().get_through_cache(&market.id).await.unwrap().version(),
        2,
        "the committed edit, not the cached v1"
    );

    assert!(matches!(markets.delete(&alice(), &market.id, Precondition::Any).await, Err(Error::Unavailable(_))));
    assert!(
        matches!(markets.reads().get_through_cache(&market.id).await, Err(Error::MarketNotFound { .. })),
        "the committed delete"
    );
}
