//! A position: a user's stake on one outcome of a market.

use serde::Serialize;

use super::{Amount, Outcome, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    /// A ULID, so that ids sort newest last.
    pub id: String,
    pub market_id: String,
    pub user_id: String,
    pub outcome: Outcome,
    pub amount: Amount,
    pub created_at: Timestamp,
}
