//! What the schema shows: markets, positions and creators as GraphQL objects, built from the
//! services' domain values, and the enums and the exact `Decimal` scalar they use.

use async_graphql::{Enum, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject};
use markets_core::domain::{Market, Position, UserProfile};

/// An exact decimal (a volume, an amount), written as a string so that no client reads it through
/// a float. On input a number literal is taken too, as the text it prints as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal(pub String);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: async_graphql::Value) -> InputValueResult<Self> {
        match value {
            async_graphql::Value::String(text) => Ok(Self(text)),
            async_graphql::Value::Number(number) => Ok(Self(number.to_string())),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::String(self.0.clone())
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "markets_core::domain::MarketStatus")]
pub enum MarketStatus {
    Active,
    Closed,
    Resolved,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "markets_core::domain::Outcome")]
pub enum Outcome {
    Yes,
    No,
}

/// A user as shown next to what they created.
#[derive(SimpleObject, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
}

impl From<UserProfile> for User {
    fn from(profile: UserProfile) -> Self {
        Self { id: profile.id, name: profile.name }
    }
}

/// A market, as `GET /api/markets/{id}` shows it, with its creator and its positions.
// `creator`, `etag` and `positions` are resolved in `crate::schema`.
#[derive(SimpleObject)]
#[graphql(name = "Market", complex)]
pub struct MarketNode {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: MarketStatus,
    /// The exact sum of all position amounts.
    pub volume: Decimal,
    pub creator_id: String,
    pub end_date: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// 1 on create, +1 on every change; `ifMatch: "v<version>"` names it.
    pub version: u64,
    /// The creator, when the service read it with the market; the loader is fed with it.
    #[graphql(skip)]
    pub creator: Option<UserProfile>,
}

impl MarketNode {
    pub fn new(market: &Market, creator: Option<&UserProfile>) -> Self {
        Self {
            id: market.id.clone(),
            name: market.name.clone(),
            description: market.description.clone(),
            status: market.status.into(),
            volume: Decimal(market.volume.to_string()),
            creator_id: market.creator_id.clone(),
            end_date: market.end_date.clone(),
            created_at: market.created_at.clone(),
            updated_at: market.updated_at.clone(),
            version: market.version,
            creator: creator.cloned(),
        }
    }
}

/// A position on a market.
#[derive(SimpleObject)]
#[graphql(name = "Position")]
pub struct PositionNode {
    pub id: String,
    pub market_id: String,
    pub user_id: String,
    pub outcome: Outcome,
    pub amount: Decimal,
    pub created_at: String,
}

impl PositionNode {
    pub fn new(position: &Position) -> Self {
        Self {
            id: position.id.clone(),
            market_id: position.market_id.clone(),
            user_id: position.user_id.clone(),
            outcome: position.outcome.into(),
            amount: Decimal(position.amount.to_string()),
            created_at: position.created_at.clone(),
        }
    }
}
