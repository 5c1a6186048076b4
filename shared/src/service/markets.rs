//! Markets: creation, reads, edits under optimistic locking, and the status and permission rules.

use std::sync::Arc;

use crate::auth::{Permission, Principal};
use crate::domain::{Amount, Market, MarketPatch, MarketReplacement, MarketStatus, NewMarket, now};
use crate::error::ApiError;
use crate::http::If;
use crate::repo::{ListQuery, MarketRepository, Page, PageKey, RepoError};

/// How often an edit without `If-Match` re-reads and retries after losing a race.
const EDIT_ATTEMPTS: usize = 3;

pub struct MarketService {
    markets: Arc<dyn MarketRepository>,
}

impl MarketService {
    pub fn new(markets: Arc<dyn MarketRepository>) -> Self {
        Self { markets }
    }

    #[tracing::instrument(skip_all, fields(creator = %author.user_id))]
    pub async fn create(&self, author: &Principal, input: NewMarket) -> Result<Market, ApiError> {
        if input.initial_position.is_some() {
            return Err(ApiError::validation("initialPosition", "is not supported yet"));
        }
        let created_at = now();
        let market = Market {
            id: ulid::Ulid::new().to_string(),
            name: input.name,
            description: input.description,
            status: MarketStatus::Active,
            volume: Amount::ZERO,
            creator_id: author.user_id.clone(),
            end_date: input.end_date,
            updated_at: created_at.clone(),
            created_at,
            version: 1,
        };
        self.markets.create(&market).await?;
        Ok(market)
    }

    pub async fn get(&self, id: &str) -> Result<Market, ApiError> {
        self.markets.get(id).await?.ok_or_else(|| ApiError::NotFound(format!("market {id} not found")))
    }

    /// A page of markets: after `start`, or after skipping `offset` (the older, costlier way).
    pub async fn list(
        &self,
        query: &ListQuery,
        start: Option<&PageKey>,
        offset: usize,
        limit: usize,
    ) -> Result<Page<Market>, ApiError> {
        let mut page = self.markets.list(query, start, offset + limit).await?;
        page.items.drain(..offset.min(page.items.len()));
        Ok(page)
    }

    /// PUT: every editable field replaced.
    pub async fn replace(
        &self,
        editor: &Principal,
        id: &str,
        input: MarketReplacement,
        precondition: If,
    ) -> Result<Market, ApiError> {
        let patch = MarketPatch {
            name: Some(input.name),
            description: Some(input.description),
            status: Some(input.status),
            end_date: Some(input.end_date),
        };
        self.patch(editor, id, patch, precondition).await
    }

    /// PATCH: the given fields changed, the rest kept.
    #[tracing::instrument(skip(self, editor, patch), fields(editor = %editor.user_id))]
    pub async fn patch(
        &self,
        editor: &Principal,
        id: &str,
        patch: MarketPatch,
        precondition: If,
    ) -> Result<Market, ApiError> {
        let attempts = if precondition == If::Any { EDIT_ATTEMPTS } else { 1 };
        for _ in 0..attempts {
            let current = self.get(id).await?;
            let Some(changed) = apply(editor, &current, &patch, precondition)? else { return Ok(current) };
            match self.markets.update(&changed).await {
                Ok(()) => return Ok(changed),
                Err(RepoError::VersionConflict) if precondition != If::Any => return Err(ApiError::PreconditionFailed),
                // Someone else wrote in between: re-read and apply the edit to what is there now.
                Err(RepoError::VersionConflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(ApiError::Conflict("the market keeps changing concurrently; retry"))
    }

    #[tracing::instrument(skip(self, deleter), fields(deleter = %deleter.user_id))]
    pub async fn delete(&self, deleter: &Principal, id: &str, precondition: If) -> Result<(), ApiError> {
        if !deleter.can(Permission::Delete) {
            return Err(ApiError::Forbidden("deleting markets needs the delete permission"));
        }
        let expected = match precondition {
            If::Any => None,
            If::Version(version) => Some(version),
        };
        self.markets.delete(id, expected).await.map_err(|error| match error {
            RepoError::VersionConflict => ApiError::PreconditionFailed,
            RepoError::NotFound => ApiError::NotFound(format!("market {id} not found")),
            other => other.into(),
        })
    }
}

/// The market after `patch`, or `None` when the patch changes nothing; enforces who may edit,
/// the precondition, and the status rules.
fn apply(
    editor: &Principal,
    current: &Market,
    patch: &MarketPatch,
    precondition: If,
) -> Result<Option<Market>, ApiError> {
    let is_moderator = editor.can(Permission::Delete);
    if editor.user_id != current.creator_id && !is_moderator {
        return Err(ApiError::Forbidden("only the market's creator or a moderator may edit it"));
    }
    if let If::Version(version) = precondition
        && version != current.version
    {
        return Err(ApiError::PreconditionFailed);
    }
    let mut next = current.clone();
    if let Some(name) = &patch.name {
        next.name.clone_from(name);
    }
    if let Some(description) = &patch.description {
        next.description.clone_from(description);
    }
    if let Some(end_date) = &patch.end_date {
        next.end_date.clone_from(end_date);
    }
    if let Some(status) = patch.status
        && status != current.status
    {
        if !current.status.can_become(status) {
            return Err(ApiError::InvalidTransition { from: current.status.as_str(), to: status.as_str() });
        }
        if status == MarketStatus::Resolved && !editor.can(Permission::Admin) {
            return Err(ApiError::Forbidden("only an admin may resolve a market"));
        }
        next.status = status;
    }
    if next == *current {
        return Ok(None);
    }
    next.version = current.version + 1;
    next.updated_at = now();
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::repo::memory::InMemoryMarkets;
    use crate::repo::{SortField, SortOrder};

    fn principal(id: &str, role: Role) -> Principal {
        Principal { user_id: id.into(), role, name: None, email: None }
    }

    fn service() -> MarketService {
        MarketService::new(Arc::new(InMemoryMarkets::default()))
    }

    fn new_market(name: &str) -> NewMarket {
        NewMarket { name: name.into(), description: String::new(), end_date: None, initial_position: None }
    }

    fn status_patch(status: MarketStatus) -> MarketPatch {
        MarketPatch { status: Some(status), ..Default::default() }
    }

    #[tokio::test]
    async fn creates_active_markets_at_version_one() {
        let service = service();
        let alice = principal("alice", Role::User);
        let market = service.create(&alice, new_market("Rain?")).await.unwrap();
        assert_eq!((market.status, market.version, market.volume), (MarketStatus::Active, 1, Amount::ZERO));
        assert_eq!(service.get(&market.id).await.unwrap(), market);
    }

    #[tokio::test]
    async fn only_creator_or_moderator_edits_and_only_admin_resolves() {
        let service = service();
        let (alice, bob) = (principal("alice", Role::User), principal("bob", Role::User));
        let market = service.create(&alice, new_market("Rain?")).await.unwrap();
        let rename = MarketPatch { name: Some("Snow?".into()), ..Default::default() };

        assert!(matches!(service.patch(&bob, &market.id, rename.clone(), If::Any).await, Err(ApiError::Forbidden(_))));
        let renamed = service.patch(&principal("mod", Role::Moderator), &market.id, rename, If::Any).await.unwrap();
        assert_eq!((renamed.name.as_str(), renamed.version), ("Snow?", 2));

        let resolve = status_patch(MarketStatus::Resolved);
        assert!(matches!(
            service.patch(&alice, &market.id, resolve.clone(), If::Any).await,
            Err(ApiError::Forbidden(_))
        ));
        let resolved = service.patch(&principal("root", Role::Admin), &market.id, resolve, If::Any).await.unwrap();
        assert_eq!(resolved.status, MarketStatus::Resolved);
        let reopen = service
            .patch(&principal("root", Role::Admin), &market.id, status_patch(MarketStatus::Active), If::Any)
            .await;
        assert!(matches!(reopen, Err(ApiError::InvalidTransition { from: "resolved", to: "active" })));
    }

    #[tokio::test]
    async fn stale_preconditions_fail_and_no_op_patches_do_not_write() {
        let service = service();
        let alice = principal("alice", Role::User);
        let market = service.create(&alice, new_market("Rain?")).await.unwrap();
        let close = status_patch(MarketStatus::Closed);
        assert!(matches!(
            service.patch(&alice, &market.id, close.clone(), If::Version(7)).await,
            Err(ApiError::PreconditionFailed)
        ));
        assert_eq!(service.patch(&alice, &market.id, close.clone(), If::Version(1)).await.unwrap().version, 2);
        assert_eq!(service.patch(&alice, &market.id, close, If::Version(2)).await.unwrap().version, 2);
    }

    #[tokio::test]
    async fn delete_needs_the_permission_and_the_current_version() {
        let service = service();
        let alice = principal("alice", Role::User);
        let moderator = principal("mod", Role::Moderator);
        let market = service.create(&alice, new_market("Rain?")).await.unwrap();
        assert!(matches!(service.delete(&alice, &market.id, If::Any).await, Err(ApiError::Forbidden(_))));
        assert!(matches!(
            service.delete(&moderator, &market.id, If::Version(2)).await,
            Err(ApiError::PreconditionFailed)
        ));
        service.delete(&moderator, &market.id, If::Version(1)).await.unwrap();
        assert!(matches!(service.delete(&moderator, &market.id, If::Any).await, Err(ApiError::NotFound(_))));
    }

    #[tokio::test]
    async fn offset_and_pages_cover_every_market_once() {
        let service = service();
        let alice = principal("alice", Role::User);
        let mut names = Vec::new();
        for i in 0..7 {
            names.push(service.create(&alice, new_market(&format!("m{i}"))).await.unwrap().name);
        }
        let query = ListQuery { status: None, sort: SortField::Name, order: SortOrder::Asc };
        let mut seen = Vec::new();
        let mut start = None;
        loop {
            let page = service.list(&query, start.as_ref(), 0, 3).await.unwrap();
            seen.extend(page.items.into_iter().map(|m| m.name));
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, names);
        let skipped = service.list(&query, None, 5, 3).await.unwrap();
        assert_eq!(skipped.items.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["m5", "m6"]);
        assert!(skipped.next.is_none());
    }
}
