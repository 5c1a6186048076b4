//! Loads N realistic sample markets, each with its creator's first position, into the local stack's
//! tables and search index, in batches: `BatchWriteItem` (25 items a call) for the markets and
//! positions, `PutVectors` (500 a call) for their vectors, made with the same embedder and metadata
//! as the index worker's. Nothing goes through the outbox: the markets are searchable at once.
//!
//! `dev/seed 20000` sets the local stack's endpoint, then runs this with its prefix: the tables and
//! the index are named `<prefix>-<LogicalId>` as the local stack names them.

use clap::Parser;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use markets_aws::dynamodb::{DynamoMarkets, DynamoUsers};
use markets_aws::s3vectors::S3VectorIndex;
use markets_aws::settings::Tables;
use markets_core::domain::{Amount, Market, MarketStatus, Outcome, Position, UserProfile, new_id, now};
use markets_core::embedder::{HashingEmbedder, market_text};
use markets_core::repo::IndexEntry;
use markets_core::repo::UserRepository as _;

#[derive(Parser)]
#[command(
    about = "Seed sample markets, each with a first position, into the local stack with this prefix (the endpoint \
             from AWS_ENDPOINT_URL)"
)]
struct Args {
    /// How many markets to write.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// The local stack's resource prefix (`dev/local.py --prefix`).
    #[arg(long, default_value = "local")]
    prefix: String,
    /// The stack's WriteShards: markets land in the list shards the stack reads.
    #[arg(long, default_value_t = markets_aws::settings::DEFAULT_WRITE_SHARDS)]
    write_shards: usize,
    /// Batches of 500 markets in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

/// Markets per batch: one PutVectors call, 40 BatchWriteItem calls.
const BATCH: usize = 500;

const SUBJECTS: [&str; 12] = [
    "Bitcoin",
    "The Fed",
    "SpaceX",
    "Paris",
    "The Lakers",
    "OpenAI",
    "Tesla",
    "The UK",
    "Ethereum",
    "Apple",
    "The World Cup final",
    "Taylor Swift",
];
const EVENTS: [&str; 10] = [
    "close above its all-time high by year end",
    "cut rates at the next meeting",
    "launch Starship to orbit this quarter",
    "see rain tomorrow",
    "win the championship",
    "release a new model before summer",
    "deliver more cars than last year",
    "hold an election before autumn",
    "flip its rival in market cap",
    "announce a new product line",
];
const USERS: [&str; 8] = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];

/// A market with its creator's first position, as POST /api/markets with `initialPosition` makes.
fn sample_market() -> (Market, Position) {
    let subject = SUBJECTS[fastrand::usize(..SUBJECTS.len())];
    let event = EVENTS[fastrand::usize(..EVENTS.len())];
    let status = match fastrand::u8(..10) {
        0..=6 => MarketStatus::Active,
        7..=8 => MarketStatus::Closed,
        _ => MarketStatus::Resolved,
    };
    let created_at = now();
    let id = new_id();
    let creator_id = USERS[fastrand::usize(..USERS.len())].to_owned();
    let amount =
        Amount::from_stored(&format!("{}.{:02}", fastrand::u32(1..5000), fastrand::u8(..100))).expect("decimal");
    let position = Position {
        id: new_id(),
        market_id: id.clone(),
        user_id: creator_id.clone(),
        outcome: if fastrand::bool() { Outcome::Yes } else { Outcome::No },
        amount,
        created_at: created_at.clone(),
    };
    let market = Market {
        id,
        name: format!("Will {subject} {event}?"),
        description: format!("Resolves yes if {subject} does {event}, as reported by two major outlets."),
        status,
        volume: amount,
        creator_id,
        updated_at: created_at.clone(),
        created_at,
        version: 1,
        ..Market::default()
    };
    (market, position)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let tables = Tables::with_prefix(&args.prefix, args.write_shards);
    let index_arn = markets_aws::settings::local_vector_index_arn(&args.prefix);
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let users = DynamoUsers::new(dynamodb.clone(), tables.users.clone());
    for user in USERS {
        let name = format!("{}{}", user[..1].to_uppercase(), &user[1..]);
        users.create_if_absent(&UserProfile { id: user.into(), name }).await?;
    }
    let markets = &DynamoMarkets::new(dynamodb, tables);
    let index = &S3VectorIndex::new(aws_sdk_s3vectors::Client::new(&aws), index_arn);

    let progress = ProgressBar::new(args.count as u64);
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} markets {per_sec} eta {eta}")?);
    let batches = (0..args.count).step_by(BATCH).map(|start| BATCH.min(args.count - start));
    let mut writes = futures::stream::iter(batches)
        .map(|size| async move {
            let batch: Vec<(Market, Position)> = (0..size).map(|_| sample_market()).collect();
            let entries: Vec<IndexEntry> = batch
                .iter()
                .map(|(market, _)| {
                    IndexEntry::of(market, HashingEmbedder.embed_now(&market_text(&market.name, &market.description)))
                })
                .collect();
            markets.import(&batch).await?;
            index.put_many(&entries).await?;
            Ok::<_, markets_core::repo::RepoError>(size)
        })
        .buffer_unordered(args.concurrency);
    while let Some(written) = writes.next().await {
        progress.inc(written? as u64);
    }
    progress.finish();
    Ok(())
}
