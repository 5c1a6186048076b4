//! The market item: how a market is stored in the markets table (its attributes, key and list
//! partitions), and the strongly consistent read of one.

use aws_sdk_dynamodb::Client;

use super::{Item, get_n, get_s, malformed, n, s, store_error};
use markets_core::domain::{Amount, Market, MarketStatus, UserProfile};
use markets_core::repo::listing::shard_of;
use markets_core::repo::{RepoError, name_key};

/// The partition of the `all-*` indexes, before its shard number.
pub(super) const ALL_MARKETS: &str = "MARKET";

/// The partition keys of a market in the `all-*` and `status-*` indexes.
pub(super) fn list_partitions(market: &Market, shards: usize) -> (String, String) {
    let shard = shard_of(&market.id, shards);
    (format!("{ALL_MARKETS}#{shard}"), status_partition(market.status, shard))
}

pub(super) fn status_partition(status: MarketStatus, shard: usize) -> String {
    format!("{}#{shard}", status.as_str())
}

pub(super) fn market_key(id: &str) -> Item {
    Item::from([("id".to_owned(), s(id))])
}

/// A strongly consistent read of one market's item.
pub(super) async fn read_item(client: &Client, table: &str, id: &str) -> Result<Option<Item>, RepoError> {
    let output = client
        .get_item()
        .table_name(table)
        .set_key(Some(market_key(id)))
        .consistent_read(true)
        .send()
        .await
        .map_err(store_error)?;
    Ok(output.item)
}

/// A strongly consistent read of one market.
pub(super) async fn read(client: &Client, table: &str, id: &str) -> Result<Option<Market>, RepoError> {
    read_item(client, table, id).await?.as_ref().map(from_item).transpose()
}

/// What an edit sets (then `endDate` is set or removed); the capacity model reads it too.
pub(super) const EDIT_SET: &str = "SET #name = :name, nameKey = :nameKey, description = :description, \
                                   #status = :status, statusPk = :statusPk, updatedAt = :updatedAt, version = :version";
pub(super) const EDIT_NAMES: [(&str, &str); 2] = [("#name", "name"), ("#status", "status")];

/// The market's item; `creator`, its creator's profile, is stored with it when given, so that a
/// read of the market needs no read of the users table.
pub(super) fn to_item(market: &Market, creator: Option<&UserProfile>, shards: usize) -> Item {
    let (list_pk, status_pk) = list_partitions(market, shards);
    let mut item = attributes(market, creator);
    item.extend([
        ("listPk".into(), s(list_pk)),
        ("statusPk".into(), s(status_pk)),
        ("nameKey".into(), s(name_key(&market.name))),
    ]);
    item
}

/// The market's own attributes (and its creator's name), without what the list indexes need:
/// what [`from_item`] and [`creator_from_item`] read back.
pub(super) fn attributes(market: &Market, creator: Option<&UserProfile>) -> Item {
    let mut item = Item::from([
        ("id".into(), s(&market.id)),
        ("name".into(), s(&market.name)),
        ("description".into(), s(&market.description)),
        ("status".into(), s(market.status.as_str())),
        ("volume".into(), n(market.volume.to_stored())),
        ("creatorId".into(), s(&market.creator_id)),
        ("createdAt".into(), s(&market.created_at)),
        ("updatedAt".into(), s(&market.updated_at)),
        ("version".into(), n(market.version)),
    ]);
    if let Some(end_date) = &market.end_date {
        item.insert("endDate".into(), s(end_date));
    }
    if let Some(creator) = creator {
        item.insert("creatorName".into(), s(&creator.name));
    }
    item
}

/// The creator's profile stored with a market, if it was.
pub(super) fn creator_from_item(item: &Item) -> Option<UserProfile> {
    let name = item.get("creatorName").and_then(|v| v.as_s().ok())?;
    Some(UserProfile { id: get_s(item, "creatorId").ok()?.to_owned(), name: name.clone() })
}

pub(super) fn from_item(item: &Item) -> Result<Market, RepoError> {
    let number = |field: &str| get_n(item, field);
    Ok(Market {
        id: get_s(item, "id")?.to_owned(),
        name: get_s(item, "name")?.to_owned(),
        description: get_s(item, "description")?.to_owned(),
        status: MarketStatus::parse(get_s(item, "status")?).ok_or_else(|| malformed(item, "status"))?,
        volume: Amount::from_stored(number("volume")?).ok_or_else(|| malformed(item, "volume"))?,
        creator_id: get_s(item, "creatorId")?.to_owned(),
        end_date: item.get("endDate").and_then(|v| v.as_s().ok()).cloned(),
        created_at: get_s(item, "createdAt")?.to_owned(),
        updated_at: get_s(item, "updatedAt")?.to_owned(),
        version: number("version")?.parse().map_err(|_| malformed(item, "version"))?,
    })
}
