//! The market item: how a market is stored in the markets table (its attributes, key and list
//! partitions), and the strongly consistent read of one. The market's own attributes are its serde
//! form (see [`Market`]), so a new field needs nothing here; a new filter neither (see below).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Update};

use super::{Item, from_attributes, get_s, malformed, s, store_error, to_attributes};
use markets_core::domain::{FILTERS, Market, UserProfile};
use markets_core::repo::listing::shard_of;
use markets_core::repo::{RepoError, name_key};

/// The partition of the `all-*` indexes, before its shard number.
pub(super) const ALL_MARKETS: &str = "MARKET";

/// The partition key attribute of a filter's indexes (`<filter>-<sort>`): `statusPk` for `status`.
pub(super) fn filter_partition_key(filter: &str) -> String {
    format!("{filter}Pk")
}

/// A filter's partition in one shard: the market's value, then the shard (`active#3`).
pub(super) fn filter_partition(value: &str, shard: usize) -> String {
    format!("{value}#{shard}")
}

/// What the list indexes key a market by: `listPk` (the `all-*` indexes), one partition key per
/// filter (`None` when the market has no value for it: it is in none of the filter's indexes),
/// and `nameKey`, the name order's sort key.
fn index_attributes(market: &Market, shards: usize) -> Vec<(String, Option<AttributeValue>)> {
    let shard = shard_of(&market.id, shards);
    let mut attributes = vec![
        ("listPk".to_owned(), Some(s(format!("{ALL_MARKETS}#{shard}")))),
        ("nameKey".to_owned(), Some(s(name_key(&market.name)))),
    ];
    for filter in &FILTERS {
        let value = (filter.value_of)(market).map(|value| s(filter_partition(value, shard)));
        attributes.push((filter_partition_key(filter.name), value));
    }
    attributes
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

/// Attributes only a create writes: the key, the creator, the creation time and `listPk`, which
/// no edit changes, and the volume, which only positions move.
const NOT_EDITED: [&str; 5] = ["id", "creatorId", "createdAt", "listPk", "volume"];

/// An edit's update of the market's item to `market` (without its condition): every attribute
/// an edit may change set to the market's value, or removed when the market has none; the
/// capacity model reads it too.
pub(super) fn edit(table: &str, market: &Market, shards: usize) -> UpdateBuilder {
    let edited = to_attributes(market).into_iter().chain(index_attributes(market, shards));
    let edited = edited.filter(|(name, _)| !NOT_EDITED.contains(&name.as_str()));
    let mut update = Update::builder().table_name(table).set_key(Some(market_key(&market.id)));
    let (mut set, mut remove) = (Vec::new(), Vec::new());
    // Every name aliased: `name` and `status` are reserved words.
    for (i, (name, value)) in edited.enumerate() {
        update = update.expression_attribute_names(format!("#a{i}"), name);
        match value {
            Some(value) => {
                set.push(format!("#a{i} = :a{i}"));
                update = update.expression_attribute_values(format!(":a{i}"), value);
            }
            None => remove.push(format!("#a{i}")),
        }
    }
    let mut expression = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    update.update_expression(expression)
}

/// The market's item; `creator`, its creator's profile, is stored with it when given, so that a
/// read of the market needs no read of the users table.
pub(super) fn to_item(market: &Market, creator: Option<&UserProfile>, shards: usize) -> Item {
    let mut item = attributes(market, creator);
    item.extend(index_attributes(market, shards).into_iter().filter_map(|(name, value)| Some((name, value?))));
    item
}

/// The market's own attributes (and its creator's name), without what the list indexes need:
/// what [`from_item`] and [`creator_from_item`] read back.
pub(super) fn attributes(market: &Market, creator: Option<&UserProfile>) -> Item {
    let mut item: Item = to_attributes(market).into_iter().filter_map(|(name, value)| Some((name, value?))).collect();
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
    from_attributes(item).map_err(|why| malformed(item, &format!("market ({why})")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use markets_core::domain::{Amount, MarketStatus};

    fn market(end_date: Option<&str>) -> Market {
        let mut market = Market {
            id: "01JABCDEFGHJKMNPQRSTVWXYZ0".into(),
            name: "Rain in Paris? \u{2614}".into(),
            description: "Line one\nline two".into(),
            status: MarketStatus::Closed,
            volume: Amount::from_stored("1234567.000001").expect("a decimal"),
            creator_id: "alice".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-02T00:00:00.000Z".into(),
            version: 7,
            ..Market::default()
        };
        market.end_date = end_date.map(str::to_owned);
        market
    }

    /// The item as the code before the serde mapping wrote it, attribute by attribute.
    fn item_as_written_before(market: &Market, shards: usize) -> Item {
        let shard = shard_of(&market.id, shards);
        let mut item = Item::from([
            ("id".into(), s(&market.id)),
            ("name".into(), s(&market.name)),
            ("description".into(), s(&market.description)),
            ("status".into(), s("closed")),
            ("volume".into(), AttributeValue::N("1234567.000001".into())),
            ("creatorId".into(), s(&market.creator_id)),
            ("createdAt".into(), s(&market.created_at)),
            ("updatedAt".into(), s(&market.updated_at)),
            ("version".into(), AttributeValue::N("7".into())),
            ("creatorName".into(), s("Alice")),
            ("listPk".into(), s(format!("MARKET#{shard}"))),
            ("statusPk".into(), s(format!("closed#{shard}"))),
            ("nameKey".into(), s(name_key(&market.name))),
        ]);
        if let Some(end_date) = &market.end_date {
            item.insert("endDate".into(), s(end_date));
        }
        item
    }

    #[test]
    fn the_item_keeps_its_format_and_items_written_before_still_read() {
        let alice = UserProfile { id: "alice".into(), name: "Alice".into() };
        for market in [market(None), market(Some("2027-01-01T00:00:00.000Z"))] {
            let before = item_as_written_before(&market, 8);
            assert_eq!(to_item(&market, Some(&alice), 8), before);
            assert_eq!(from_item(&before).unwrap(), market);
            assert_eq!(creator_from_item(&before), Some(alice.clone()));
        }
        let mut missing = item_as_written_before(&market(None), 8);
        missing.remove("volume");
        assert!(matches!(from_item(&missing), Err(RepoError::Internal(_))));
    }

    /// The attributes an edit of `market` sets and removes.
    fn edited(market: &Market) -> (Vec<String>, Vec<String>) {
        let update = edit("markets", market, 8).build().unwrap();
        let names = update.expression_attribute_names().unwrap();
        let (set, remove) =
            update.update_expression().split_once(" REMOVE ").unwrap_or((update.update_expression(), ""));
        let named = |aliases: &str| {
            let aliases = aliases.trim_start_matches("SET ").split(", ").filter(|alias| !alias.is_empty());
            let mut named: Vec<String> =
                aliases.map(|alias| names[alias.split(" = ").next().unwrap()].clone()).collect();
            named.sort();
            named
        };
        (named(set), named(remove))
    }

    #[test]
    fn an_edit_sets_what_it_may_change_and_removes_what_the_market_no_longer_has() {
        let (set, remove) = edited(&market(None));
        assert_eq!(set, ["description", "name", "nameKey", "status", "statusPk", "updatedAt", "version"]);
        assert!(remove.contains(&"endDate".to_owned()), "{remove:?}");
        let (set, remove) = edited(&market(Some("2027-01-01T00:00:00.000Z")));
        assert!(set.contains(&"endDate".to_owned()) && !remove.contains(&"endDate".to_owned()), "{remove:?}");
    }
}
