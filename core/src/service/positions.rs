//! Positions: taking one on an active market (moving its volume in the same transaction) and
//! listing a market's positions.

use std::sync::Arc;

use super::freshness::{invalidate_if_uncertain, refreshed, repair};
use super::idempotency::Replays;
use super::{Error, IdempotentRequest, Written, retrying_conflicts};
use crate::cache::{MarketCache, Refresh};
use crate::domain::Principal;
use crate::domain::{Position, PositionInput, Precondition, UserProfile, new_id, now};
use crate::repo::{
    FirstResult, IdempotencyRepository, MarketRepository, Page, PageToken, PositionRepository, RepoError,
};

pub struct PositionService {
    markets: Arc<dyn MarketRepository>,
    positions: Arc<dyn PositionRepository>,
    replays: Replays,
    cache: Arc<dyn MarketCache>,
}

impl PositionService {
    pub fn new(
        markets: Arc<dyn MarketRepository>,
        positions: Arc<dyn PositionRepository>,
        idempotency: Arc<dyn IdempotencyRepository>,
        cache: Arc<dyn MarketCache>,
    ) -> Self {
        Self { markets, positions, replays: Replays::new(idempotency), cache }
    }

    #[tracing::instrument(skip(self, user, input, idempotency), fields(user = %user.user_id))]
    pub async fn take(
        &self,
        user: &Principal,
        market_id: &str,
        input: PositionInput,
        precondition: Precondition,
        idempotency: Option<IdempotentRequest>,
    ) -> Result<Written<Position>, Error> {
        let expected = precondition.expected_version()?;
        // The market's version moved with the first write, whose refresh may not have landed (its
        // answer was then a 503): a replay refreshes the entry too.
        let cache = self.cache.as_ref();
        // Stored with the position's transaction unless the user has a profile already.
        let trader = UserProfile::first_seen(&user.user_id, user.name.as_deref(), user.email.as_deref());
        let position = Position {
            id: new_id(),
            market_id: market_id.to_owned(),
            user_id: user.user_id.clone(),
            outcome: input.outcome,
            amount: input.amount,
            created_at: now(),
        };
        let record = idempotency.as_ref().map(|request| request.record(FirstResult::Position(position.clone())));
        // Positions on one market contend for its item: a cancelled transaction is retried with jitter.
        let write = || self.positions.add(&position, &trader, expected, record.as_ref());
        match retrying_conflicts(write).await {
            Ok(_) => {
                // The market's new version is not known here (positions add to it in DynamoDB).
                refreshed(cache, market_id, Refresh::Invalidate).await?;
                Ok(Written::New(position))
            }
            Err(refused @ (RepoError::NotFound | RepoError::VersionConflict | RepoError::MarketNotActive)) => {
                repair(cache, market_id).await;
                Err(match refused {
                    RepoError::NotFound => Error::market_not_found(market_id),
                    RepoError::VersionConflict => Error::PreconditionFailed,
                    other => other.into(),
                })
            }
            // A key already used: its first result, from the refusal (a first request pays no read).
            Err(RepoError::IdempotencyKeyUsed(stored)) => {
                let request = idempotency.as_ref().expect("only a keyed write has a record");
                let first = self.replays.after_losing(request, stored).await?;
                refreshed(cache, market_id, Refresh::Invalidate).await?;
                Ok(Written::Replayed(first))
            }
            Err(error) => {
                invalidate_if_uncertain(cache, market_id, &error).await;
                Err(error.into())
            }
        }
    }

    /// A market's positions, newest first; 404 if the market does not exist. The market and its
    /// positions are read at the same time: one round trip, not two.
    pub async fn list(
        &self,
        market_id: &str,
        start: Option<&PageToken>,
        limit: usize,
    ) -> Result<Page<Position>, Error> {
        let (market, page) = tokio::join!(self.markets.get(market_id), self.positions.list(market_id, start, limit));
        if market?.is_none() {
            return Err(Error::market_not_found(market_id));
        }
        Ok(page?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use crate::domain::{Amount, NewMarket, Outcome};
    use crate::service::Dependencies;

    fn alice() -> Principal {
        Principal { user_id: "alice".into(), role: Role::User, name: Some("Alice".into()), email: None }
    }

    fn input(amount: &str) -> PositionInput {
        PositionInput { outcome: Outcome::Yes, amount: Amount::from_stored(amount).unwrap() }
    }

    #[tokio::test]
    async fn positions_move_volume_exactly_and_only_on_active_markets() {
        let dependencies = Dependencies::in_memory();
        let (markets, positions) = (dependencies.market_service(), dependencies.position_service());
        let fields = crate::domain::MarketPatch { name: Some("Rain?".into()), ..Default::default() };
        let new_market = NewMarket { fields, initial_position: Some(input("0.1")) };
        let Written::New((market, creator)) = markets.create(&alice(), new_market, None).await.unwrap() else {
            panic!("new")
        };
        assert_eq!((market.volume.to_stored().as_str(), creator.name.as_str()), ("0.1", "Alice"));
        for amount in ["0.2", "0.000001"] {
            positions.take(&alice(), &market.id, input(amount), Precondition::Any, None).await.unwrap();
        }
        let after = markets.reads().get(&market.id).await.unwrap();
        assert_eq!((after.volume.to_stored().as_str(), after.version), ("0.300001", 3));
        let listed = positions.list(&market.id, None, 10).await.unwrap();
        assert_eq!(listed.items.iter().map(|p| p.amount.to_stored()).collect::<Vec<_>>(), ["0.000001", "0.2", "0.1"]);

        let close =
            crate::domain::MarketPatch { status: Some(crate::domain::MarketStatus::Closed), ..Default::default() };
        let stale = positions.take(&alice(), &market.id, input("1"), Precondition::Version(1), None).await;
        assert!(matches!(stale, Err(Error::PreconditionFailed)));
        markets.patch(&alice(), &market.id, close, Precondition::Any).await.unwrap();
        let refused = positions.take(&alice(), &market.id, input("1"), Precondition::Any, None).await;
        assert!(matches!(refused, Err(Error::MarketNotActive)));
        assert!(matches!(
            positions.take(&alice(), "missing", input("1"), Precondition::Any, None).await,
            Err(Error::MarketNotFound { .. })
        ));
        assert!(matches!(positions.list("missing", None, 10).await, Err(Error::MarketNotFound { .. })));
    }
}
