//! What the schema shows: markets, positions and creators as GraphQL objects, built from the
//! services' domain values or from the JSON a cache entry or an idempotency record keeps (the same
//! view REST answers with), and the enums and the exact `Decimal` scalar they use.

use async_graphql::{Enum, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::errors::{Answer, refused};
use markets_core::domain::{Market, Position, UserProfile};
use markets_lambda::ApiError;

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
#[derive(SimpleObject, Clone, Deserialize)]
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
#[derive(SimpleObject, Deserialize)]
#[graphql(name = "Market", complex)]
#[serde(rename_all = "camelCase")]
pub struct MarketNode {
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(deserialize_with = "status")]
    pub status: MarketStatus,
    /// The exact sum of all position amounts.
    #[serde(deserialize_with = "exact")]
    pub volume: Decimal,
    pub creator_id: String,
    pub end_date: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// 1 on create, +1 on every change; `ifMatch: "v<version>"` names it.
    pub version: u64,
    /// The creator as the view that made this node had it; the loader is fed with it.
    #[graphql(skip)]
    #[serde(default)]
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

    /// A market from its JSON view (a cache entry, the first answer of an idempotent write).
    pub fn from_view(view: &str) -> Answer<Self> {
        serde_json::from_str(view).map_err(|error| refused(ApiError::internal(error)))
    }
}

/// A position on a market.
#[derive(SimpleObject, Deserialize)]
#[graphql(name = "Position")]
#[serde(rename_all = "camelCase")]
pub struct PositionNode {
    pub id: String,
    pub market_id: String,
    pub user_id: String,
    #[serde(deserialize_with = "outcome")]
    pub outcome: Outcome,
    #[serde(deserialize_with = "exact")]
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

    /// A position from its JSON view (the first answer of an idempotent write).
    pub fn from_view(view: &str) -> Answer<Self> {
        serde_json::from_str(view).map_err(|error| refused(ApiError::internal(error)))
    }
}

/// A number kept as its exact text.
fn exact<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let raw = <&RawValue>::deserialize(deserializer)?;
    Ok(Decimal(raw.get().to_owned()))
}

fn status<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<MarketStatus, D::Error> {
    markets_core::domain::MarketStatus::deserialize(deserializer).map(Into::into)
}

fn outcome<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Outcome, D::Error> {
    markets_core::domain::Outcome::deserialize(deserializer).map(Into::into)
}
