//! Markets: creation, reads, edits under optimistic locking (the edit rules are the domain's:
//! [`Market::edited`]), and deletion.

use std::collections::HashMap;
use std::sync::Arc;

use super::freshness::{invalidate_if_uncertain, refreshed, repair};
use super::idempotency::Replays;
use super::{Error, IdempotentRequest, Written, retrying_conflicts};
use crate::cache::{CachedMarket, Lookup, MarketCache, Refresh};
use crate::domain::{
    Amount, Market, MarketPatch, MarketReplacement, MarketStatus, NewMarket, Permission, Position, Precondition,
    Principal, UserProfile, new_id, now,
};
use crate::domain::{IndexJob, JobOp};
use crate::error::error_chain;
use crate::observability::{current_request_id, note_cache};
use crate::repo::{
    FirstResult, IdempotencyRepository, ListQuery, MarketRepository, PageToken, RepoError, UserRepository,
};
use crate::retry::{Backoff, sleep_would_pass};

/// How an edit without `If-Match` retries after losing a race (positions bump the version too): on
/// a market busy with positions it may lose many times, so it keeps trying until the invocation's
/// deadline (50 attempts take longer than a route's timeout; the number only bounds a call made
/// outside an invocation).
const EDIT_RETRIES: Backoff = Backoff { max_attempts: 50, ..Backoff::CONTENTION };

/// The profiles of the creators of some markets, by user id.
pub type Creators = HashMap<String, UserProfile>;

/// A page of a market list, with the creators of its markets and where the next page starts.
pub struct MarketPage {
    pub markets: Vec<Market>,
    pub creators: Creators,
    pub next: Option<PageToken>,
}

/// Market reads: the shared cache in front of DynamoDB, and creators read in one batch.
pub struct MarketReads {
    markets: Arc<dyn MarketRepository>,
    users: Arc<dyn UserRepository>,
    cache: Arc<dyn MarketCache>,
}

/// Market writes (create, edit, delete), each followed by its cache refresh. Each commits its index
/// job to the outbox with the change; the outbox's stream relays it to the queue (`crate::jobs`).
pub struct MarketService {
    reads: MarketReads,
    replays: Replays,
}

impl MarketReads {
    pub fn new(
        markets: Arc<dyn MarketRepository>,
        users: Arc<dyn UserRepository>,
        cache: Arc<dyn MarketCache>,
    ) -> Self {
        Self { markets, users, cache }
    }

    /// A market and its creator as GET shows them: from the shared cache when it holds them (no
    /// DynamoDB call), else read strongly consistently and filled into the cache under the lease
    /// the miss gave. A cache that fails or is slow is a miss.
    pub async fn get_through_cache(&self, id: &str) -> Result<CachedMarket, Error> {
        let lease = match self.cache.lookup(id).await {
            Ok(Lookup::Hit(cached)) => {
                note_cache(true);
                return Ok(*cached);
            }
            Ok(Lookup::Deleted) => {
                note_cache(true);
                return Err(Error::market_not_found(id));
            }
            Ok(Lookup::Miss(lease)) => {
                if lease.is_some() {
                    note_cache(false);
                }
                lease
            }
            Err(error) => {
                note_cache(false);
                tracing::warn!(market = id, error = %error_chain(&error), "cache lookup failed; reading DynamoDB");
                None
            }
        };
        let (market, creator) = self.get_with_creator(id).await?;
        let read = CachedMarket { market, creator };
        if let Some(lease) = lease
            && let Err(error) = self.cache.fill(id, &lease, &read).await
        {
            tracing::warn!(market = id, error = %error_chain(&error), "cache fill failed");
        }
        Ok(read)
    }

    /// A market and its creator, read strongly consistently: one read, as the creator's profile is
    /// stored with the market (a second read, of the users table, for a market stored without it).
    pub async fn get_with_creator(&self, id: &str) -> Result<(Market, Option<UserProfile>), Error> {
        let found = self.markets.get_with_creator(id).await?;
        let (market, creator) = found.ok_or_else(|| Error::market_not_found(id))?;
        let creator = match creator {
            Some(creator) => Some(creator),
            None => self.creators(std::slice::from_ref(&market)).await?.remove(&market.creator_id),
        };
        Ok((market, creator))
    }

    /// A market read strongly consistently from DynamoDB (never from the cache: writes start here).
    pub async fn get(&self, id: &str) -> Result<Market, Error> {
        self.markets.get(id).await?.ok_or_else(|| Error::market_not_found(id))
    }

    /// The creators of `markets`, in one batch read whatever their number (no N+1).
    pub async fn creators(&self, markets: &[Market]) -> Result<Creators, Error> {
        if markets.is_empty() {
            return Ok(Creators::new());
        }
        let ids: Vec<&str> = markets.iter().map(|market| market.creator_id.as_str()).collect();
        self.profiles(&ids).await
    }

    /// The profiles of the users `ids`, in one batch read (a GraphQL response's creators).
    pub async fn profiles(&self, ids: &[&str]) -> Result<Creators, Error> {
        Ok(self.users.get_many(ids).await?)
    }

    /// A page of markets with their creators: from `start`, or after skipping `offset` (which
    /// reads through the lean index entries, never through whole markets). The page's markets and
    /// creators come in one batch read.
    pub async fn list(
        &self,
        query: &ListQuery,
        start: Option<&PageToken>,
        offset: usize,
        limit: usize,
    ) -> Result<MarketPage, Error> {
        let page = self.markets.list(query, start, offset, limit).await?;
        if page.items.is_empty() {
            return Ok(MarketPage { markets: Vec::new(), creators: Creators::new(), next: page.next });
        }
        let ids: Vec<&str> = page.items.iter().map(|listed| listed.id.as_str()).collect();
        let creator_ids: Vec<&str> = page.items.iter().map(|listed| listed.creator_id.as_str()).collect();
        let (found, creators) = self.markets.get_many_with_creators(&ids, &creator_ids).await?;
        let mut by_id: HashMap<String, Market> = found.into_iter().map(|market| (market.id.clone(), market)).collect();
        // In the index's order; a market deleted since the index was read is left out.
        let markets = page.items.iter().filter_map(|listed| by_id.remove(&listed.id)).collect();
        Ok(MarketPage { markets, creators, next: page.next })
    }
}

impl MarketService {
    pub fn new(reads: MarketReads, idempotency: Arc<dyn IdempotencyRepository>) -> Self {
        Self { reads, replays: Replays::new(idempotency) }
    }

    /// The reads a write starts from and refreshes.
    pub fn reads(&self) -> &MarketReads {
        &self.reads
    }

    /// A new market, and its creator's first position with it when one is given (one transaction).
    #[tracing::instrument(skip_all, fields(creator = %author.user_id))]
    pub async fn create(
        &self,
        author: &Principal,
        input: NewMarket,
        idempotency: Option<IdempotentRequest>,
    ) -> Result<Written<(Market, UserProfile)>, Error> {
        // The profile the token makes: stored with the market unless the user wrote before under
        // another name, when the transaction is refused with the stored one and made again with it.
        let mut creator = UserProfile::first_seen(&author.user_id, author.name.as_deref(), author.email.as_deref());
        let created_at = now();
        let id = new_id();
        let first_position = input.initial_position.map(|position| Position {
            id: new_id(),
            market_id: id.clone(),
            user_id: author.user_id.clone(),
            outcome: position.outcome,
            amount: position.amount,
            created_at: created_at.clone(),
        });
        let mut market = Market {
            id,
            status: MarketStatus::Active,
            volume: first_position.as_ref().map_or(Amount::ZERO, |position| position.amount),
            creator_id: author.user_id.clone(),
            updated_at: created_at.clone(),
            created_at,
            version: 1,
            ..Market::default()
        };
        input.fields.apply(&mut market);
        let job = index_job(&market.id, market.version, JobOp::Upsert);
        let written = loop {
            let record = idempotency.as_ref().map(|request| {
                request.record(FirstResult::Market { market: Box::new(market.clone()), creator: creator.clone() })
            });
            let write = || self.reads.markets.create(&market, &creator, first_position.as_ref(), record.as_ref(), &job);
            match retrying_conflicts(write).await {
                // A profile is never changed once stored: this comes once at most.
                Err(RepoError::StoredProfileDiffers(stored)) if stored != creator => creator = stored,
                written => break written,
            }
        };
        // A key already used is answered from its record, which the refusal returns: a first
        // request pays no read for it.
        match written {
            Ok(()) => Ok(Written::New((market, creator))),
            Err(RepoError::IdempotencyKeyUsed(stored)) => {
                let request = idempotency.as_ref().expect("only a keyed write has a record");
                Ok(Written::Replayed(self.replays.after_losing(request, stored).await?))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// PUT: every editable field replaced.
    pub async fn replace(
        &self,
        editor: &Principal,
        id: &str,
        input: MarketReplacement,
        precondition: Precondition,
    ) -> Result<(Market, Option<UserProfile>), Error> {
        self.patch(editor, id, input.fields, precondition).await
    }

    /// PATCH: the given fields changed, the rest kept; the market and its creator, which the
    /// shared cache shows too before this returns (or the answer is a 503).
    #[tracing::instrument(skip(self, editor, patch), fields(editor = %editor.user_id))]
    pub async fn patch(
        &self,
        editor: &Principal,
        id: &str,
        patch: MarketPatch,
        precondition: Precondition,
    ) -> Result<(Market, Option<UserProfile>), Error> {
        let cache = self.reads.cache.as_ref();
        let Edited { market, creator } = match self.edit(editor, id, patch, precondition).await {
            Ok(edited) => edited,
            Err(
                refused @ (Error::PreconditionFailed | Error::MarketNotFound { .. } | Error::InvalidTransition { .. }),
            ) => {
                repair(cache, id).await;
                return Err(refused);
            }
            Err(error) => return Err(error),
        };
        let edited = CachedMarket { market, creator };
        // Without its creator the market is not what GET shows: let the next reader fill it instead.
        let refresh = if edited.creator.is_some() { Refresh::Update(&edited) } else { Refresh::Invalidate };
        refreshed(cache, id, refresh).await.map(|()| (edited.market, edited.creator))
    }

    /// The edit itself: the market after it, committed with its index job (or unchanged when it
    /// changes nothing), and its creator. An edit without `If-Match` that loses a race is
    /// applied again to what is there now, until it wins or the invocation runs out of time.
    async fn edit(
        &self,
        editor: &Principal,
        id: &str,
        patch: MarketPatch,
        precondition: Precondition,
    ) -> Result<Edited, Error> {
        let attempts = if precondition == Precondition::Any { EDIT_RETRIES.max_attempts } else { 1 };
        for attempt in 0..attempts {
            if attempt > 0 {
                let delay = EDIT_RETRIES.delay(attempt);
                if sleep_would_pass(delay, None) {
                    break;
                }
                tokio::time::sleep(delay).await;
            }
            let (current, creator) = self.reads.get_with_creator(id).await?;
            let Some(changed) = current.edited(editor, &patch, precondition)? else {
                return Ok(Edited { market: current, creator });
            };
            let job = index_job(&changed.id, changed.version, JobOp::Upsert);
            // Position traffic on the market cancels edits too: a moderator's edit is retried, not refused.
            match retrying_conflicts(|| self.reads.markets.update(&changed, &job)).await {
                Ok(()) => return Ok(Edited { market: changed, creator }),
                Err(RepoError::VersionConflict) if precondition != Precondition::Any => {
                    return Err(Error::PreconditionFailed);
                }
                Err(RepoError::NotFound) => return Err(Error::market_not_found(id)),
                // Someone else wrote in between: re-read and apply the edit to what is there now.
                Err(RepoError::VersionConflict) => continue,
                Err(error) => {
                    invalidate_if_uncertain(self.reads.cache.as_ref(), id, &error).await;
                    return Err(error.into());
                }
            }
        }
        Err(Error::Conflict("the market keeps changing concurrently; retry"))
    }

    /// Deletes a market; the shared cache answers 404 for it before this returns (or the answer
    /// is a 503).
    #[tracing::instrument(skip(self, deleter), fields(deleter = %deleter.user_id))]
    pub async fn delete(&self, deleter: &Principal, id: &str, precondition: Precondition) -> Result<(), Error> {
        if !deleter.can(Permission::Delete) {
            return Err(Error::Forbidden("deleting markets needs the delete permission"));
        }
        let expected = precondition.expected_version()?;
        let job = index_job(id, expected.unwrap_or_default(), JobOp::Delete);
        let cache = self.reads.cache.as_ref();
        match retrying_conflicts(|| self.reads.markets.delete(id, expected, &job)).await {
            Ok(()) => {}
            Err(RepoError::VersionConflict) => {
                repair(cache, id).await;
                return Err(Error::PreconditionFailed);
            }
            Err(RepoError::NotFound) => {
                repair(cache, id).await;
                return Err(Error::market_not_found(id));
            }
            Err(error) => {
                invalidate_if_uncertain(cache, id, &error).await;
                return Err(error.into());
            }
        }
        refreshed(cache, id, Refresh::Tombstone).await
    }
}

/// A committed (or no-op) edit: the market after it and its creator.
struct Edited {
    market: Market,
    creator: Option<UserProfile>,
}

/// The index job of a market change, carrying the id of the request that made it (the worker's
/// logs join the request's by it) and the request's trace (the worker's span joins it).
fn index_job(market_id: &str, version: u64, op: JobOp) -> IndexJob {
    let trace_header = crate::observability::xray::current_header().map(|header| header.to_string());
    IndexJob::new(market_id, version, op).caused_by(current_request_id(), trace_header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use crate::repo::{SortField, SortOrder};

    fn principal(id: &str, role: Role) -> Principal {
        Principal { user_id: id.into(), role, name: None, email: None }
    }

    fn service() -> MarketService {
        crate::service::Dependencies::in_memory().market_service()
    }

    fn new_market(name: &str) -> NewMarket {
        NewMarket::from_json(crate::json::object(serde_json::json!({ "name": name }))).unwrap()
    }

    async fn create(service: &MarketService, author: &Principal, name: &str) -> Market {
        match service.create(author, new_market(name), None).await.unwrap() {
            Written::New((market, _)) => market,
            Written::Replayed(_) => panic!("nothing to replay without a key"),
        }
    }

    #[tokio::test]
    async fn a_retried_key_replays_and_a_reused_key_is_refused() {
        let service = service();
        let alice = principal("alice", Role::User);
        let body = crate::json::object(serde_json::json!({"name": "Rain?"}));
        let request = || IdempotentRequest::new("alice", "create-market", "k", &body);
        let Written::New((market, _)) = service.create(&alice, new_market("Rain?"), Some(request())).await.unwrap()
        else {
            panic!("first write")
        };
        let Written::Replayed(first) = service.create(&alice, new_market("Rain?"), Some(request())).await.unwrap()
        else {
            panic!("a retry replays")
        };
        let FirstResult::Market { market: replayed, creator } = first else { panic!("a market was created") };
        assert_eq!((*replayed, creator.id.as_str()), (market, "alice"));
        let other = IdempotentRequest::new(
            "alice",
            "create-market",
            "k",
            &crate::json::object(serde_json::json!({"name": "Snow?"})),
        );
        assert!(matches!(
            service.create(&alice, new_market("Snow?"), Some(other)).await,
            Err(Error::IdempotencyKeyReused)
        ));
    }

    fn status_patch(status: MarketStatus) -> MarketPatch {
        MarketPatch { status: Some(status), ..Default::default() }
    }

    #[tokio::test]
    async fn creates_active_markets_at_version_one() {
        let service = service();
        let alice = principal("alice", Role::User);
        let Written::New((market, creator)) = service.create(&alice, new_market("Rain?"), None).await.unwrap() else {
            panic!("a first write is new")
        };
        assert_eq!((market.status, market.version, market.volume), (MarketStatus::Active, 1, Amount::ZERO));
        assert_eq!(service.reads().get(&market.id).await.unwrap(), market);
        assert_eq!(creator, UserProfile { id: "alice".into(), name: "alice".into() });
        assert_eq!(service.reads().creators(std::slice::from_ref(&market)).await.unwrap()["alice"], creator);
    }

    #[tokio::test]
    async fn only_creator_or_moderator_edits_and_only_admin_resolves() {
        let service = service();
        let (alice, bob) = (principal("alice", Role::User), principal("bob", Role::User));
        let market = create(&service, &alice, "Rain?").await;
        let rename = MarketPatch { name: Some("Snow?".into()), ..Default::default() };

        assert!(matches!(
            service.patch(&bob, &market.id, rename.clone(), Precondition::Any).await,
            Err(Error::Forbidden(_))
        ));
        let (renamed, _) =
            service.patch(&principal("mod", Role::Moderator), &market.id, rename, Precondition::Any).await.unwrap();
        assert_eq!((renamed.name.as_str(), renamed.version), ("Snow?", 2));

        let resolve = status_patch(MarketStatus::Resolved);
        assert!(matches!(
            service.patch(&alice, &market.id, resolve.clone(), Precondition::Any).await,
            Err(Error::Forbidden(_))
        ));
        let (resolved, _) =
            service.patch(&principal("root", Role::Admin), &market.id, resolve, Precondition::Any).await.unwrap();
        assert_eq!(resolved.status, MarketStatus::Resolved);
        let reopen = service
            .patch(&principal("root", Role::Admin), &market.id, status_patch(MarketStatus::Active), Precondition::Any)
            .await;
        assert!(matches!(
            reopen,
            Err(Error::InvalidTransition { from: MarketStatus::Resolved, to: MarketStatus::Active })
        ));
    }

    #[tokio::test]
    async fn stale_preconditions_fail_and_no_op_patches_do_not_write() {
        let service = service();
        let alice = principal("alice", Role::User);
        let market = create(&service, &alice, "Rain?").await;
        let close = status_patch(MarketStatus::Closed);
        for stale in [Precondition::Version(7), Precondition::Never] {
            assert!(matches!(
                service.patch(&alice, &market.id, close.clone(), stale).await,
                Err(Error::PreconditionFailed)
            ));
        }
        assert_eq!(
            service.patch(&alice, &market.id, close.clone(), Precondition::Version(1)).await.unwrap().0.version,
            2
        );
        assert_eq!(service.patch(&alice, &market.id, close, Precondition::Version(2)).await.unwrap().0.version, 2);
    }

    #[tokio::test]
    async fn delete_needs_the_permission_and_the_current_version() {
        let service = service();
        let alice = principal("alice", Role::User);
        let moderator = principal("mod", Role::Moderator);
        let market = create(&service, &alice, "Rain?").await;
        assert!(matches!(service.delete(&alice, &market.id, Precondition::Any).await, Err(Error::Forbidden(_))));
        for stale in [Precondition::Version(2), Precondition::Never] {
            assert!(matches!(service.delete(&moderator, &market.id, stale).await, Err(Error::PreconditionFailed)));
        }
        service.delete(&moderator, &market.id, Precondition::Version(1)).await.unwrap();
        assert!(matches!(
            service.delete(&moderator, &market.id, Precondition::Any).await,
            Err(Error::MarketNotFound { .. })
        ));
    }

    #[tokio::test]
    async fn offset_and_pages_cover_every_market_once() {
        let service = service();
        let alice = principal("alice", Role::User);
        let mut names = Vec::new();
        for i in 0..7 {
            names.push(create(&service, &alice, &format!("m{i}")).await.name);
        }
        let query = ListQuery { filter: None, sort: SortField::Name, order: SortOrder::Asc };
        let mut seen = Vec::new();
        let mut start = None;
        loop {
            let page = service.reads().list(&query, start.as_ref(), 0, 3).await.unwrap();
            assert_eq!(page.creators.len(), 1);
            seen.extend(page.markets.into_iter().map(|m| m.name));
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, names);
        let skipped = service.reads().list(&query, None, 5, 3).await.unwrap();
        assert_eq!(skipped.markets.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["m5", "m6"]);
        assert!(skipped.next.is_none());
    }
}
