//! Loads N realistic sample markets into the markets table through the repository. Their index
//! jobs wait in the outbox, where a running stack's sweeper finds them and sends them.
//!
//! `dev/seed 500` sets the local stack's table names and endpoint, then runs this.

use std::sync::Arc;

use clap::Parser;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use shared::config::Tables;
use shared::domain::{Amount, Market, MarketStatus, Outcome, Position, UserProfile, new_id, now};
use shared::jobs::{IndexJob, JobOp};
use shared::runtime::dynamodb_dependencies;

#[derive(Parser)]
#[command(
    about = "Seed sample markets, each with a first position (tables from MARKETS_TABLE etc., endpoint from AWS_ENDPOINT_URL)"
)]
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
        end_date: None,
        updated_at: created_at.clone(),
        created_at,
        version: 1,
    };
    (market, position)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let tables = Tables::from_env()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dependencies = dynamodb_dependencies(aws_sdk_dynamodb::Client::new(&aws), tables, &Default::default());
    for user in USERS {
        let name = format!("{}{}", user[..1].to_uppercase(), &user[1..]);
        dependencies.users.create_if_absent(&UserProfile { id: user.into(), name }).await?;
    }
    let markets = Arc::clone(&dependencies.markets);

    let progress = ProgressBar::new(args.count as u64);
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} markets {per_sec} eta {eta}")?);
    let mut writes = futures::stream::iter(0..args.count)
        .map(|_| {
            let markets = Arc::clone(&markets);
            async move {
                let (market, position) = sample_market();
                let job = IndexJob::new(&market.id, market.version, JobOp::Upsert);
                markets.create(&market, Some(&position), None, &job).await
            }
        })
        .buffer_unordered(args.concurrency);
    while let Some(result) = writes.next().await {
        result?;
        progress.inc(1);
    }
    progress.finish();
    Ok(())
}
