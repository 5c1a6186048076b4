//! The market, its status lifecycle, the fields it is listed by, and how it is shown to clients.

use serde::{Deserialize, Serialize};

use super::{Amount, Timestamp};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarketStatus {
    #[default]
    Active,
    Closed,
    Resolved,
}

impl MarketStatus {
    pub const ALL: [MarketStatus; 3] = [Self::Active, Self::Closed, Self::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Closed => "closed",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// `active → closed → resolved` or `active → resolved`; staying put is not a change.
    pub fn can_become(self, next: MarketStatus) -> bool {
        use MarketStatus::*;
        self == next || matches!((self, next), (Active, Closed) | (Active, Resolved) | (Closed, Resolved))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Yes,
    No,
}

/// A market: the one declaration of its fields. Its serde form (camelCase) is the API's (with
/// the creator beside it: [`MarketView`]), the DynamoDB item's (an absent optional field is a
/// missing attribute; `markets_aws` maps it) and the cache entry's; the exact volume keeps its
/// digits in each. A new field is added here, to the body rules of `input.rs` if clients write it,
/// and to [`FILTERS`] if markets are listed by it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Market {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: MarketStatus,
    /// The exact sum of all position amounts; only the server changes it.
    pub volume: Amount,
    pub creator_id: String,
    pub end_date: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// 1 on create, +1 on every change; the optimistic-locking token and the ETag.
    pub version: u64,
}

/// A field markets are listed by: `GET /api/markets?<name>=<value>`, served by indexes of its own
/// (see `markets_aws::dynamodb`); one filter per list.
#[derive(Debug)]
pub struct Filter {
    /// The query parameter (and GraphQL argument): the field's name in the API.
    pub name: &'static str,
    /// The values the parameter takes, for the 400 that refuses another.
    pub expected: &'static str,
    /// A value as the lists hold it; `None` when it is not one of `expected`.
    pub parse: fn(&str) -> Option<String>,
    /// A market's value; `None` puts the market in no list of this filter.
    pub value_of: fn(&Market) -> Option<&str>,
}

/// Every filter of the market lists.
pub static FILTERS: [Filter; 1] = [Filter {
    name: "status",
    expected: "active, closed or resolved",
    parse: |text| MarketStatus::parse(text).map(|status| status.as_str().to_owned()),
    value_of: |market| Some(market.status.as_str()),
}];

impl Filter {
    /// The filter of this name.
    pub fn named(name: &str) -> Option<&'static Filter> {
        FILTERS.iter().find(|filter| filter.name == name)
    }
}

/// A user as shown next to what they created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    pub id: String,
    pub name: String,
}

impl UserProfile {
    /// The profile a user seen for the first time gets: their token's name, else e-mail, else id.
    pub fn first_seen(id: &str, name: Option<&str>, email: Option<&str>) -> Self {
        let name = [name, email].into_iter().flatten().map(str::trim).find(|n| !n.is_empty()).unwrap_or(id);
        Self { id: id.to_owned(), name: name.to_owned() }
    }
}

/// A market as the API shows it: its fields and its creator.
#[derive(Debug, Clone, Serialize)]
pub struct MarketView<'a> {
    #[serde(flatten)]
    pub market: &'a Market,
    pub creator: Option<&'a UserProfile>,
}

impl Market {
    pub fn view<'a>(&'a self, creator: Option<&'a UserProfile>) -> MarketView<'a> {
        MarketView { market: self, creator }
    }
}

#[cfg(test)]
mod tests {
    use super::MarketStatus::*;

    #[test]
    fn status_only_moves_forward() {
        assert!(Active.can_become(Closed) && Active.can_become(Resolved) && Closed.can_become(Resolved));
        assert!(Active.can_become(Active));
        assert!(!Closed.can_become(Active) && !Resolved.can_become(Active) && !Resolved.can_become(Closed));
    }
}
