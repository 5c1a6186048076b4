//! The position item: how a position is stored in the positions table, and what taking one does
//! to its market's item.

use aws_sdk_dynamodb::types::Put;

use super::{Item, get_n, get_s, malformed, n, s};
use markets_core::domain::{Amount, Outcome, Position};
use markets_core::repo::RepoError;

pub(super) fn to_item(position: &Position) -> Item {
    Item::from([
        ("marketId".into(), s(&position.market_id)),
        ("id".into(), s(&position.id)),
        ("userId".into(), s(&position.user_id)),
        ("outcome".into(), s(if position.outcome == Outcome::Yes { "yes" } else { "no" })),
        ("amount".into(), n(position.amount.to_stored())),
        ("createdAt".into(), s(&position.created_at)),
    ])
}

pub(super) fn from_item(item: &Item) -> Result<Position, RepoError> {
    Ok(Position {
        id: get_s(item, "id")?.to_owned(),
        market_id: get_s(item, "marketId")?.to_owned(),
        user_id: get_s(item, "userId")?.to_owned(),
        outcome: if get_s(item, "outcome")? == "yes" { Outcome::Yes } else { Outcome::No },
        amount: Amount::from_stored(get_n(item, "amount")?).ok_or_else(|| malformed(item, "amount"))?,
        created_at: get_s(item, "createdAt")?.to_owned(),
    })
}

/// What a position does to its market (the capacity model reads the attributes it writes).
pub(super) const POSITION_UPDATE: &str = "SET updatedAt = :now ADD volume :amount, version :one";

/// The transaction item that writes a new position.
pub(super) fn put_position(table: &str, position: &Position) -> Result<Put, RepoError> {
    Put::builder()
        .table_name(table)
        .set_item(Some(to_item(position)))
        .condition_expression("attribute_not_exists(id)")
        .build()
        .map_err(|error| RepoError::Internal(error.into()))
}
