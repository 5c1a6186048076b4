//! The cache's rules in process memory, for unit tests only (no TTLs): the same decisions as the
//! Lua scripts of [`super::RedisCache`], which the black-box tests check against a real server.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{CacheError, CachedMarket, Lease, Lookup, MarketCache};

#[derive(Debug, Default)]
struct Entry {
    deleted: bool,
    /// The version of `market`, or, without one, the last version known (a floor for fills).
    version: Option<u64>,
    market: Option<CachedMarket>,
    lease: Option<String>,
}

#[derive(Default)]
pub struct InMemoryCache {
    entries: Mutex<HashMap<String, Entry>>,
}

#[async_trait]
impl MarketCache for InMemoryCache {
    async fn lookup(&self, id: &str) -> Result<Lookup, CacheError> {
        let mut entries = self.entries.lock().expect("cache lock");
        let entry = entries.entry(id.to_owned()).or_default();
        if entry.deleted {
            return Ok(Lookup::Deleted);
        }
        if let Some(market) = &entry.market {
            return Ok(Lookup::Hit(Box::new(market.clone())));
        }
        let lease = entry.lease.get_or_insert_with(|| Lease::new().0).clone();
        Ok(Lookup::Miss(Some(Lease(lease))))
    }

    async fn fill(&self, id: &str, lease: &Lease, market: &CachedMarket) -> Result<bool, CacheError> {
        let mut entries = self.entries.lock().expect("cache lock");
        let Some(entry) = entries.get_mut(id) else { return Ok(false) };
        if entry.lease.as_ref() != Some(&lease.0) || entry.deleted || entry.version > Some(market.version()) {
            return Ok(false);
        }
        *entry = Entry { deleted: false, version: Some(market.version()), market: Some(market.clone()), lease: None };
        Ok(true)
    }

    async fn update(&self, id: &str, market: &CachedMarket) -> Result<(), CacheError> {
        let mut entries = self.entries.lock().expect("cache lock");
        let Some(entry) = entries.get_mut(id) else { return Ok(()) };
        entry.lease = None;
        if entry.deleted || entry.version.is_some_and(|known| known >= market.version()) {
            return Ok(());
        }
        entry.version = Some(market.version());
        if entry.market.is_some() {
            entry.market = Some(market.clone());
        }
        Ok(())
    }

    async fn invalidate(&self, id: &str) -> Result<(), CacheError> {
        if let Some(entry) = self.entries.lock().expect("cache lock").get_mut(id) {
            entry.market = None;
            entry.lease = None;
        }
        Ok(())
    }

    async fn tombstone(&self, id: &str) -> Result<(), CacheError> {
        let tombstone = Entry { deleted: true, ..Entry::default() };
        self.entries.lock().expect("cache lock").insert(id.to_owned(), tombstone);
        Ok(())
    }
}
