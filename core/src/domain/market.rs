//! The market, its status lifecycle, and how it is shown to clients.

use serde::{Deserialize, Serialize};

use super::{Amount, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarketStatus {
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

/// A market as stored (serde gives the adapters that store whole values, like the cache, a form
/// that round-trips exactly; the API's form is [`MarketView`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// A market as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub status: MarketStatus,
    pub volume: Amount,
    pub creator_id: &'a str,
    pub creator: Option<&'a UserProfile>,
    pub end_date: Option<&'a str>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub version: u64,
}

impl Market {
    pub fn view<'a>(&'a self, creator: Option<&'a UserProfile>) -> MarketView<'a> {
        MarketView {
            id: &self.id,
            name: &self.name,
            description: &self.description,
            status: self.status,
            volume: self.volume,
            creator_id: &self.creator_id,
            creator,
            end_date: self.end_date.as_deref(),
            created_at: &self.created_at,
            updated_at: &self.updated_at,
            version: self.version,
        }
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
