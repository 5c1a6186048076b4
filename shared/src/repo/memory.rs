//! In-memory repositories with the same behaviour as the DynamoDB ones, for unit tests.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{ListQuery, MarketRepository, Page, PageKey, RepoError, SortField, SortOrder, name_key};
use crate::domain::Market;

#[derive(Default)]
pub struct InMemoryMarkets {
    markets: Mutex<HashMap<String, Market>>,
}

/// What a market sorts by in a query: the sort value, then the id to break ties.
fn sort_key(market: &Market, sort: SortField) -> (SortValue, String) {
    let value = match sort {
        SortField::CreatedAt => SortValue::Text(market.created_at.clone()),
        SortField::Volume => SortValue::Amount(market.volume),
        SortField::Name => SortValue::Text(name_key(&market.name)),
    };
    (value, market.id.clone())
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Text(String),
    Amount(crate::domain::Amount),
}

impl InMemoryMarkets {
    fn page_key(market: &Market, sort: SortField) -> PageKey {
        let (value, id) = sort_key(market, sort);
        let value = match value {
            SortValue::Text(text) => super::KeyAttr::S(text),
            SortValue::Amount(amount) => super::KeyAttr::N(amount.to_stored()),
        };
        PageKey([("id".to_owned(), super::KeyAttr::S(id)), ("sort".to_owned(), value)].into())
    }

    fn start_after(key: &PageKey) -> Result<(SortValue, String), RepoError> {
        let bad = || RepoError::Internal("malformed page key".into());
        let Some(super::KeyAttr::S(id)) = key.0.get("id") else { return Err(bad()) };
        let value = match key.0.get("sort") {
            Some(super::KeyAttr::S(text)) => SortValue::Text(text.clone()),
            Some(super::KeyAttr::N(text)) => {
                SortValue::Amount(crate::domain::Amount::from_stored(text).ok_or_else(bad)?)
            }
            None => return Err(bad()),
        };
        Ok((value, id.clone()))
    }
}

#[async_trait]
impl MarketRepository for InMemoryMarkets {
    async fn get(&self, id: &str) -> Result<Option<Market>, RepoError> {
        Ok(self.markets.lock().unwrap().get(id).cloned())
    }

    async fn create(&self, market: &Market) -> Result<(), RepoError> {
        let mut markets = self.markets.lock().unwrap();
        if markets.contains_key(&market.id) {
            return Err(RepoError::AlreadyExists);
        }
        markets.insert(market.id.clone(), market.clone());
        Ok(())
    }

    async fn update(&self, market: &Market) -> Result<(), RepoError> {
        let mut markets = self.markets.lock().unwrap();
        let stored = markets.get_mut(&market.id).ok_or(RepoError::NotFound)?;
        if stored.version + 1 != market.version {
            return Err(RepoError::VersionConflict);
        }
        *stored = Market { volume: stored.volume, ..market.clone() };
        Ok(())
    }

    async fn delete(&self, id: &str, expected_version: Option<u64>) -> Result<(), RepoError> {
        let mut markets = self.markets.lock().unwrap();
        let stored = markets.get(id).ok_or(RepoError::NotFound)?;
        if expected_version.is_some_and(|version| version != stored.version) {
            return Err(RepoError::VersionConflict);
        }
        markets.remove(id);
        Ok(())
    }

    async fn list(&self, query: &ListQuery, start: Option<&PageKey>, limit: usize) -> Result<Page<Market>, RepoError> {
        let start = start.map(Self::start_after).transpose()?;
        let direction = |ordering: Ordering| if query.order == SortOrder::Asc { ordering } else { ordering.reverse() };
        let mut matching: Vec<Market> = self
            .markets
            .lock()
            .unwrap()
            .values()
            .filter(|market| query.status.is_none_or(|status| market.status == status))
            .filter(|market| {
                start
                    .as_ref()
                    .is_none_or(|after| direction(sort_key(market, query.sort).cmp(after)) == Ordering::Greater)
            })
            .cloned()
            .collect();
        matching.sort_by(|a, b| direction(sort_key(a, query.sort).cmp(&sort_key(b, query.sort))));
        let more = matching.len() > limit;
        matching.truncate(limit);
        let next = if more { matching.last().map(|last| Self::page_key(last, query.sort)) } else { None };
        Ok(Page { items: matching, next })
    }
}
