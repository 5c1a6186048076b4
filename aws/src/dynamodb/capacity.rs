//! The capacity model, as a test: from template.yaml's key schemas and index projections and the
//! items and update expressions the repositories really write, how many item writes each operation
//! makes and which partitions they land on; then the budgets. `cargo test -p markets-aws capacity --
//! --nocapture` prints the table the README's capacity section is built from.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::idempotency::put_record;
use super::market_item::{edit as edit_update, to_item as market_item};
use super::outbox::put_job;
use super::position_item::{POSITION_UPDATE, put_position};
use super::users::PROFILE_UPDATE;
use super::{Item, s};
use markets_core::domain::{Amount, Market, MarketStatus, Outcome, Position, UserProfile, new_id};
use markets_core::domain::{IndexJob, JobOp};
use markets_core::repo::{FirstResult, IdempotencyRecord};

/// DynamoDB's sustained limit per partition, in write units (1 KB each) per second.
const PARTITION_WCU: u64 = 1_000;
/// Markets used to tell a sharded partition from a constant one.
const SAMPLES: usize = 64;

/// A key schema and what the index holds besides its keys (`None`: every attribute).
#[derive(Debug)]
struct Keys {
    name: String,
    hash: String,
    range: Option<String>,
    projected: Option<Vec<String>>,
}

impl Keys {
    fn key_attributes(&self) -> Vec<&str> {
        std::iter::once(self.hash.as_str()).chain(self.range.as_deref()).collect()
    }
}

/// A table of template.yaml: its own key schema and its global secondary indexes.
#[derive(Debug)]
struct Table {
    keys: Keys,
    indexes: Vec<Keys>,
}

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_owned()
}

fn key_schema(name: String, schema: &Value, projection: Option<&Value>) -> Keys {
    let of = |kind: &str| {
        schema
            .as_array()?
            .iter()
            .find(|key| key["KeyType"].as_str() == Some(kind))
            .map(|key| text(&key["AttributeName"]))
    };
    let projected = projection.and_then(|projection| match projection["ProjectionType"].as_str() {
        Some("ALL") => None,
        Some("INCLUDE") => Some(projection["NonKeyAttributes"].as_array()?.iter().map(text).collect()),
        _ => Some(Vec::new()),
    });
    Keys { name, hash: of("HASH").expect("a HASH key"), range: of("RANGE"), projected: projected.or(Some(Vec::new())) }
}

fn template() -> Value {
    // CloudFormation's tags (!Ref, !GetAtt) read as plain values.
    let template: serde_norway::Value =
        serde_norway::from_str(include_str!("../../../template.yaml")).expect("valid YAML");
    serde_json::to_value(template).expect("YAML as JSON")
}

/// The DynamoDB tables of template.yaml, by logical id.
fn tables(template: &Value) -> HashMap<String, Table> {
    let resources = template["Resources"].as_object().expect("Resources");
    resources
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .map(|(id, resource)| {
            let properties = &resource["Properties"];
            let indexes = properties["GlobalSecondaryIndexes"]
                .as_array()
                .map(|indexes| {
                    indexes
                        .iter()
                        .map(|index| {
                            key_schema(text(&index["IndexName"]), &index["KeySchema"], Some(&index["Projection"]))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let keys = Keys { projected: None, ..key_schema(id.clone(), &properties["KeySchema"], None) };
            (id.clone(), Table { keys, indexes })
        })
        .collect()
}

/// The attributes an update expression writes (`SET a = …, ADD b :v, REMOVE c`), aliases resolved.
fn written_attributes(expression: &str, names: &[(&str, &str)]) -> BTreeSet<String> {
    let spaced = expression.replace(',', " , ");
    let mut attributes = BTreeSet::new();
    let mut expect_attribute = false;
    for token in spaced.split_whitespace() {
        match token {
            "SET" | "ADD" | "REMOVE" | "DELETE" | "," => expect_attribute = true,
            _ if expect_attribute => {
                let name = names.iter().find(|(alias, _)| *alias == token).map_or(token, |(_, name)| name);
                attributes.insert(name.to_owned());
                expect_attribute = false;
            }
            _ => {}
        }
    }
    attributes
}

/// One item write of an operation.
enum Write {
    /// A whole item put or deleted.
    Item(Item),
    /// Some attributes of an item updated; the item as it is after.
    Update(Item, BTreeSet<String>),
}

/// What one write costs: item writes in the table and its indexes, write units, and the partition
/// (table or index, and key value) each lands on.
#[derive(Default)]
struct Cost {
    items: usize,
    units: u64,
    partitions: Vec<(String, String)>,
}

fn partition_value(item: &Item, attribute: &str) -> Option<String> {
    match item.get(attribute)? {
        AttributeValue::S(text) => Some(text.clone()),
        AttributeValue::N(number) => Some(number.clone()),
        _ => None,
    }
}

/// A write's cost in `table`. Transactional writes cost two units per base item; an index entry
/// whose key changes is deleted and put again (two units); an index whose keys and projected
/// attributes the write leaves alone is not written at all.
fn cost(table: &Table, write: &Write, transactional: bool) -> Cost {
    let item = match write {
        Write::Item(item) | Write::Update(item, _) => item,
    };
    let mut cost = Cost {
        items: 1,
        units: if transactional { 2 } else { 1 },
        partitions: vec![(table.keys.name.clone(), partition_value(item, &table.keys.hash).expect("base key"))],
    };
    for index in &table.indexes {
        let Some(partition) = partition_value(item, &index.hash) else { continue }; // sparse: not in it
        let units = match write {
            Write::Item(_) => 1,
            Write::Update(_, attributes) => {
                let keys = index.key_attributes();
                let projected = |attribute: &String| match &index.projected {
                    None => true,
                    Some(included) => included.contains(attribute),
                };
                if attributes.iter().any(|a| keys.contains(&a.as_str())) {
                    2
                } else if attributes.iter().any(projected) {
                    1
                } else {
                    0
                }
            }
        };
        if units > 0 {
            cost.items += 1;
            cost.units += units;
            cost.partitions.push((index.name.clone(), partition));
        }
    }
    cost
}

fn sample_market() -> Market {
    Market {
        id: new_id(),
        name: "Will it rain in Paris tomorrow?".into(),
        description: "Resolves yes if Météo-France reports rain.".into(),
        status: MarketStatus::Active,
        volume: Amount::from_stored("120.5").expect("decimal"),
        creator_id: format!("user-{}", new_id()),
        created_at: "2026-01-01T00:00:00.000Z".into(),
        updated_at: "2026-01-01T00:00:00.000Z".into(),
        version: 3,
        ..Market::default()
    }
}

/// An operation's writes, by table (logical id), and whether they are one transaction.
struct Operation {
    name: &'static str,
    transactional: bool,
    writes: Vec<(&'static str, Write)>,
}

fn operation(name: &'static str, transactional: bool, writes: Vec<(&'static str, Write)>) -> Operation {
    Operation { name, transactional, writes }
}

/// The writes of each operation on `market`, taken from the repositories' own item builders and
/// update expressions.
fn operations(market: &Market, shards: usize) -> Vec<Operation> {
    let position = Position {
        id: new_id(),
        market_id: market.id.clone(),
        user_id: market.creator_id.clone(),
        outcome: Outcome::Yes,
        amount: Amount::from_stored("7").expect("decimal"),
        created_at: market.created_at.clone(),
    };
    // A long display name: the market item carries it (the users table too).
    let creator = UserProfile { id: market.creator_id.clone(), name: "Ann Example-Longname".repeat(10) };
    let put_item = |put: aws_sdk_dynamodb::types::Put| Write::Item(put.item().clone());
    let job = |op| put_item(put_job("outbox", &IndexJob::new(&market.id, market.version, op)).expect("job"));
    let record = IdempotencyRecord {
        key: format!("{}:create-position:{}", market.creator_id, new_id()),
        fingerprint: "0".repeat(64),
        result: FirstResult::Position(position.clone()),
        expires_at: 0,
    };
    // The writer's profile, in the write's transaction (stored unless one is).
    let profile = || {
        let item = Item::from([("id".into(), s(&creator.id)), ("name".into(), s(&creator.name))]);
        ("UsersTable", Write::Update(item, written_attributes(PROFILE_UPDATE, &[("#name", "name")])))
    };
    let edited =
        Market { name: "Will it snow in Paris tomorrow?".into(), status: MarketStatus::Closed, ..market.clone() };
    let edit = edit_attributes(&edited, shards);
    vec![
        operation(
            "create",
            true,
            vec![
                ("MarketsTable", Write::Item(market_item(market, Some(&creator), shards))),
                ("OutboxTable", job(JobOp::Upsert)),
                ("PositionsTable", put_item(put_position("positions", &position).expect("position"))),
                profile(),
            ],
        ),
        operation(
            "edit",
            true,
            vec![
                ("MarketsTable", Write::Update(market_item(&edited, Some(&creator), shards), edit)),
                ("OutboxTable", job(JobOp::Upsert)),
            ],
        ),
        operation(
            "position",
            true,
            vec![
                (
                    "MarketsTable",
                    Write::Update(
                        market_item(market, Some(&creator), shards),
                        written_attributes(POSITION_UPDATE, &[]),
                    ),
                ),
                ("PositionsTable", put_item(put_position("positions", &position).expect("position"))),
                ("IdempotencyTable", put_item(put_record("idempotency", &record).expect("record"))),
                profile(),
            ],
        ),
        operation(
            "delete",
            true,
            vec![
                ("MarketsTable", Write::Item(market_item(market, Some(&creator), shards))),
                ("OutboxTable", job(JobOp::Delete)),
            ],
        ),
    ]
}

#[test]
fn capacity_budgets_hold_and_no_write_lands_on_a_constant_partition() {
    let template = template();
    let tables = tables(&template);
    let shards = crate::settings::DEFAULT_WRITE_SHARDS;
    let samples: Vec<Market> = (0..SAMPLES).map(|_| sample_market()).collect();
    println!("| operation | table: item writes (write units) | partitions written |");
    println!("|---|---|---|");
    for (index, Operation { name: operation, transactional, writes }) in
        operations(&samples[0], shards).into_iter().enumerate()
    {
        let mut row = Vec::new();
        let mut partitions = Vec::new();
        for (table, write) in &writes {
            let cost = cost(&tables[*table], write, transactional);
            row.push(format!("{table} {} ({} WCU)", cost.items, cost.units));
            partitions.extend(cost.partitions.iter().map(|(name, _)| name.clone()));
            if *table == "MarketsTable" && operation == "position" {
                assert!(cost.items <= 3, "a position writes {} items of the markets table and its indexes", cost.items);
            }
        }
        println!("| {operation} | {} | {} |", row.join(", "), partitions.join(", "));
        // Over many markets, every table and index an operation writes sees many partition values:
        // none is a constant partition that every market's writes would share.
        let mut values: HashMap<String, BTreeSet<String>> = HashMap::new();
        for market in &samples {
            let operation = operations(market, shards).swap_remove(index);
            for (table, write) in &operation.writes {
                for (name, value) in cost(&tables[*table], write, operation.transactional).partitions {
                    values.entry(name).or_default().insert(value);
                }
            }
        }
        for (name, values) in values {
            assert!(values.len() > 1, "{operation} writes every market to one partition of {name}: {values:?}");
        }
    }
    // The arithmetic of the README: a position's hottest shared partitions are the volume indexes'.
    let position_units_per_shard = 2;
    println!(
        "positions/s per shard partition of a volume index: {}; platform-wide with {shards} shards: {}",
        PARTITION_WCU / position_units_per_shard,
        PARTITION_WCU / position_units_per_shard * shards as u64
    );
}

#[test]
fn the_vector_index_has_the_embedders_dimension() {
    let template = template();
    let index = &template["Resources"]["SearchIndex"]["Properties"];
    assert_eq!(index["Dimension"].as_u64(), Some(markets_core::embedder::DIMENSIONS as u64));
    assert_eq!(index["DistanceMetric"].as_str(), Some("cosine"));
}

#[test]
fn update_expressions_are_read_as_the_attributes_they_write() {
    assert_eq!(
        written_attributes(POSITION_UPDATE, &[]),
        ["updatedAt", "version", "volume"].map(String::from).into_iter().collect()
    );
    let edit = edit_attributes(&sample_market(), 1);
    assert!(edit.contains("statusPk") && edit.contains("endDate"), "{edit:?}");
    assert!(!edit.contains("volume") && !edit.contains("createdAt"), "{edit:?}");
}

/// The attributes an edit of `market` sets or removes, read from the update the repository builds.
fn edit_attributes(market: &Market, shards: usize) -> BTreeSet<String> {
    let update = edit_update("markets", market, shards).build().expect("an update");
    let names = update.expression_attribute_names().expect("aliased names");
    let names: Vec<(&str, &str)> = names.iter().map(|(alias, name)| (alias.as_str(), name.as_str())).collect();
    written_attributes(update.update_expression(), &names)
}
