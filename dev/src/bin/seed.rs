//! Loads N realistic sample markets into the markets table through the repository.
//!
//! `MARKETS_TABLE=local-MarketsTable AWS_ENDPOINT_URL=http://127.0.0.1:5000 cargo run -p dev --bin seed -- --count 500`

use std::sync::Arc;

use clap::Parser;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use shared::domain::{Amount, Market, MarketStatus, now};
use shared::repo::MarketRepository;
use shared::repo::dynamodb::DynamoMarkets;

#[derive(Parser)]
#[command(about = "Seed sample markets into MARKETS_TABLE (endpoint from AWS_ENDPOINT_URL)")]
struct Args {
    /// How many markets to write.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Writes in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

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

fn sample_market() -> Market {
    let subject = SUBJECTS[fastrand::usize(..SUBJECTS.len())];
    let event = EVENTS[fastrand::usize(..EVENTS.len())];
    let status = match fastrand::u8(..10) {
        0..=6 => MarketStatus::Active,
        7..=8 => MarketStatus::Closed,
        _ => MarketStatus::Resolved,
    };
    let created_at = now();
    Market {
        id: ulid::Ulid::new().to_string(),
        name: format!("Will {subject} {event}?"),
        description: format!("Resolves yes if {subject} does {event}, as reported by two major outlets."),
        status,
        volume: Amount::ZERO,
        creator_id: USERS[fastrand::usize(..USERS.len())].to_owned(),
        end_date: None,
        updated_at: created_at.clone(),
        created_at,
        version: 1,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let table = std::env::var("MARKETS_TABLE").map_err(|_| "set MARKETS_TABLE (the local stack prints it)")?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let markets = Arc::new(DynamoMarkets::new(aws_sdk_dynamodb::Client::new(&aws), table));

    let progress = ProgressBar::new(args.count as u64);
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} markets {per_sec} eta {eta}")?);
    let mut writes = futures::stream::iter(0..args.count)
        .map(|_| {
            let markets = Arc::clone(&markets);
            async move { markets.create(&sample_market()).await }
        })
        .buffer_unordered(args.concurrency);
    while let Some(result) = writes.next().await {
        result?;
        progress.inc(1);
    }
    progress.finish();
    Ok(())
}
