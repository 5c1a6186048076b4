//! Walking the cursors yields each market exactly once, in order, for every sort: over 250 markets,
//! and over markets whose sort values tie, on one shard and on eight, while markets are written.

use std::collections::HashSet;

use api_tests::{Stack, User};
use futures::StreamExt;
use markets_core::domain::{Amount, IndexJob, JobOp, Market, MarketStatus, Role, UserProfile};
use reqwest::StatusCode;
use serde_json::Value;

const MARKETS: usize = 250;

/// Every market the cursor walk of `query` yields, page by page. A walk that repeats a cursor or
/// runs past the pages the stack's markets could fill (the very bugs it hunts) fails instead of
/// looping.
async fn walk(stack: &Stack, query: &str, limit: usize) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut cursors = HashSet::new();
    let most_pages = MARKETS * 2 / limit + 2;
    for _ in 0..most_pages {
        let path = match &cursor {
            Some(cursor) => format!("/api/markets?{query}&limit={limit}&cursor={cursor}"),
            None => format!("/api/markets?{query}&limit={limit}"),
        };
        let reply = stack.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        let page = reply.body["data"].as_array().unwrap().clone();
        assert_eq!(reply.body["meta"]["count"], page.len());
        assert!(page.len() <= limit);
        seen.extend(page);
        match reply.body["meta"]["nextCursor"].as_str() {
            Some(next) => {
                assert!(
                    cursors.insert(next.to_owned()),
                    "{query}: cursor {next} came back after {} markets",
                    seen.len()
                );
                cursor = Some(next.to_owned());
            }
            None => return seen,
        }
    }
    panic!("{query}: still a next cursor after {most_pages} pages of {limit} ({} markets seen)", seen.len())
}

fn sort_value(market: &Value, sort: &str) -> String {
    match sort {
        "name" => market["name"].as_str().unwrap().to_lowercase(),
        "volume" => format!("{:020}", market["volume"].as_u64().unwrap()),
        _ => market["createdAt"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn cursor_walks_cover_every_market_once_in_order() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let created: Vec<Value> = futures::stream::iter(0..MARKETS)
        .map(|i| {
            let stack = &stack;
            let alice = &alice;
            // Names out of creation order, with case differences, so each sort is a different order.
            let name = format!("{} market {i}", ["beta", "Alpha", "gamma", "Delta", "epsilon"][i * 7 % 5]);
            async move { stack.create_market(alice, &name).await.data().clone() }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let all_ids: HashSet<&str> = created.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(all_ids.len(), MARKETS);

    for sort in ["createdAt", "volume", "name"] {
        for order in ["asc", "desc"] {
            let walked = walk(&stack, &format!("sort={sort}&order={order}"), 37).await;
            let ids: Vec<&str> = walked.iter().map(|m| m["id"].as_str().unwrap()).collect();
            assert_eq!(ids.len(), MARKETS, "{sort} {order}: every market once");
            assert_eq!(ids.iter().copied().collect::<HashSet<_>>(), all_ids, "{sort} {order}");
            let values: Vec<String> = walked.iter().map(|m| sort_value(m, sort)).collect();
            let in_order = values.windows(2).all(|w| if order == "asc" { w[0] <= w[1] } else { w[0] >= w[1] });
            assert!(in_order, "{sort} {order} out of order");
        }
    }

    // The status filter walks its own index the same way.
    assert_eq!(walk(&stack, "status=active&sort=name&order=asc", 100).await.len(), MARKETS);
    assert!(walk(&stack, "status=closed", 10).await.is_empty());

    // offset, for older clients, lands on the same markets as the cursor walk.
    let by_cursor = walk(&stack, "sort=name&order=asc", 50).await;
    let by_offset = stack.get("/api/markets?sort=name&order=asc&offset=120&limit=10").await;
    let offset_ids: Vec<&Value> = by_offset.body["data"].as_array().unwrap().iter().map(|m| &m["id"]).collect();
    let cursor_ids: Vec<&Value> = by_cursor[120..130].iter().map(|m| &m["id"]).collect();
    assert_eq!(offset_ids, cursor_ids);

    // A cursor only works for the query it came from.
    let first = stack.get("/api/markets?sort=name&limit=5").await;
    let cursor = first.body["meta"]["nextCursor"].as_str().unwrap();
    let foreign = stack.get(&format!("/api/markets?sort=volume&limit=5&cursor={cursor}")).await;
    assert_eq!((foreign.status, foreign.error_code()), (StatusCode::BAD_REQUEST, "INVALID_CURSOR"));
    let mut edited = cursor.to_owned();
    edited.insert(3, 'x');
    let edited = stack.get(&format!("/api/markets?sort=name&limit=5&cursor={edited}")).await;
    assert_eq!((edited.status, edited.error_code()), (StatusCode::BAD_REQUEST, "INVALID_CURSOR"));
}

/// Markets written straight to the table, so that their sort values tie: 4 volumes (as decimals,
/// "10" sorts after "9.5"), 5 names (two of them equal once case-folded), 6 creation instants.
async fn tied_markets(stack: &Stack, count: usize) -> Vec<Market> {
    let repositories = stack.repositories().await;
    let mut markets = Vec::new();
    for i in 0..count {
        let market = Market {
            id: markets_core::domain::new_id(),
            name: ["Tie", "tie", "Alpha", "beta", "Zed"][i % 5].to_owned(),
            description: String::new(),
            status: if i % 3 == 0 { MarketStatus::Closed } else { MarketStatus::Active },
            volume: Amount::from_stored(["0", "9", "10", "9.5"][i % 4]).unwrap(),
            creator_id: "tie-maker".into(),
            created_at: format!("2026-01-01T00:00:0{}.000Z", i % 6),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            version: 1,
            ..Market::default()
        };
        let job = IndexJob::new(&market.id, 1, JobOp::Upsert);
        let creator = UserProfile { id: market.creator_id.clone(), name: "Tie Maker".into() };
        repositories.markets.create(&market, &creator, None, None, &job).await.unwrap();
        markets.push(market);
    }
    markets
}

fn tie_key(market: &Market, sort: &str) -> (String, String) {
    let value = match sort {
        "name" => market.name.to_lowercase(),
        "volume" => format!("{:>20}", market.volume.to_stored().parse::<f64>().unwrap() * 10.0),
        _ => market.created_at.clone(),
    };
    (value, market.id.clone())
}

#[tokio::test]
async fn walks_are_exact_through_ties_on_one_shard_and_on_eight_while_markets_are_written() {
    for shards in [1, 8] {
        let stack = Stack::start_with(&["--param", &format!("WriteShards={shards}")]);
        let alice = User::new(Role::User);
        let tied = tied_markets(&stack, 60).await;
        for sort in ["createdAt", "volume", "name"] {
            for (order, status) in [("asc", None), ("desc", None), ("desc", Some(MarketStatus::Closed))] {
                let query = match status {
                    Some(status) => format!("sort={sort}&order={order}&status={}", status.as_str()),
                    None => format!("sort={sort}&order={order}"),
                };
                // Writes during the walk: new markets (they may or may not be seen, never twice).
                let (walked, _) = tokio::join!(walk(&stack, &query, 7), async {
                    for i in 0..5 {
                        stack.create_market(&alice, &format!("Written during the walk {i}")).await;
                    }
                });
                let ids: Vec<&str> = walked.iter().map(|m| m["id"].as_str().unwrap()).collect();
                assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "{shards} shards, {query}: no repeats");
                let mut expected: Vec<&Market> = tied.iter().filter(|m| status.is_none_or(|s| m.status == s)).collect();
                expected.sort_by_key(|m| tie_key(m, sort));
                if order == "desc" {
                    expected.reverse();
                }
                let expected: Vec<&str> = expected.iter().map(|m| m.id.as_str()).collect();
                let seen: Vec<&str> = ids.iter().copied().filter(|id| expected.contains(id)).collect();
                assert_eq!(seen, expected, "{shards} shards, {query}: every tied market once, in order");
            }
        }
    }
}

#[tokio::test]
async fn a_cursor_from_another_shard_count_is_an_invalid_cursor() {
    let four = Stack::start_with(&["--param", "WriteShards=4"]);
    // The same tables and secrets, redeployed with another shard count.
    let eight = Stack::start_with_prefix(&four.prefix, &["--param", "WriteShards=8"]);
    let alice = User::new(Role::User);
    for i in 0..3 {
        four.create_market(&alice, &format!("Sharded market {i}")).await;
    }
    let first = four.get("/api/markets?limit=1").await;
    let cursor = first.body["meta"]["nextCursor"].as_str().expect("a next page");
    let path = format!("/api/markets?limit=1&cursor={cursor}");
    assert_eq!(four.get(&path).await.status, StatusCode::OK, "the cursor is good where it was made");
    let reply = eight.get(&path).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "INVALID_CURSOR"), "{}", reply.text);
}
