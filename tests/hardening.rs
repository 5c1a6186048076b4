//! The review's small findings (issue 20, item 5), each through the real path: the creator's name
//! is the stored profile on every route, whatever name a later token carries.

use std::time::Duration;

use api_tests::{CacheServer, Fault, FaultProxy, Stack, User, cached_market, eventually, market_path, positions_path};
use markets_aws::settings::CacheSettings;
use markets_aws::valkey::RedisCache;
use markets_core::cache::{Lookup, MarketCache};
use markets_core::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn the_creator_is_the_stored_profile_on_every_route_whatever_a_later_token_says() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let named = |name: &str| alice.token_with(|claims| claims.name = Some(name.to_owned()));
    let first = stack.post("/api/markets").bearer(named("First Name")).json(json!({ "name": "One" })).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let second = stack.post("/api/markets").bearer(named("Chosen Later")).json(json!({ "name": "Two" })).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    assert_eq!(second.body["data"]["creator"]["name"], "First Name", "the create's answer");

    let id = second.body["data"]["id"].as_str().unwrap();
    let read = stack.get(&market_path(id)).await;
    assert_eq!(read.body["data"]["creator"]["name"], "First Name", "GET");
    let edited = stack.patch(&market_path(id)).bearer(named("Third")).json(json!({ "description": "d" })).await;
    assert_eq!((edited.status, &edited.body["data"]["creator"]["name"]), (StatusCode::OK, &json!("First Name")));
    let listed = stack.get("/api/markets?limit=10").await;
    for market in listed.body["data"].as_array().unwrap() {
        assert_eq!(market["creator"]["name"], "First Name", "the list");
    }
}

#[tokio::test]
async fn a_subject_too_long_to_key_is_a_401_and_the_longest_keyable_one_works_end_to_end() {
    let stack = Stack::start();
    let longest = User { id: "s".repeat(1024), role: Role::User };
    let created = stack.post("/api/markets").as_user(&longest).idempotency_key(&"k".repeat(128));
    let created = created.json(json!({ "name": "Keyed", "initialPosition": { "outcome": "yes", "amount": 1 } })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    for length in [1025, 3000] {
        let unkeyable = User { id: "s".repeat(length), role: Role::User };
        for reply in [
            stack.get("/api/markets").as_user(&unkeyable).await,
            stack.post("/api/markets").as_user(&unkeyable).json(json!({ "name": "x" })).await,
        ] {
            assert_eq!(
                (reply.status, reply.error_code()),
                (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
                "{length}: {}",
                reply.text
            );
            assert!(reply.text.contains("subject is longer than 1,024 bytes"), "{}", reply.text);
        }
    }
}

/// The limiter fails open only when its table cannot be reached, and counts it in a metric.
#[tokio::test]
async fn an_unreachable_limiter_serves_counted_in_a_metric_and_a_refusing_one_fails() {
    let proxy = FaultProxy::for_moto();
    let stack = Stack::start_behind(&proxy, "DYNAMODB", &["--env", "RATE_LIMIT_PER_MINUTE=1"]);
    proxy.inject(&["UpdateItem", "RateLimitTable"], Fault::Refuse, None);
    for _ in 0..3 {
        let reply = stack.get("/api/markets").await;
        assert_eq!((reply.status, reply.header("ratelimit-limit")), (StatusCode::OK, None), "{}", reply.text);
    }
    let is_metric = |line: &Value| line["RateLimiterUnreachable"] == 1.0 && line["Component"] == "rate-limiter";
    let metrics = stack.logs_when(|logs| logs.iter().filter(|line| is_metric(line)).count() >= 3);
    assert_eq!(metrics.iter().filter(|line| is_metric(line)).count(), 3, "one metric per request served unlimited");

    proxy.clear();
    proxy.inject(&["UpdateItem", "RateLimitTable"], Fault::Error("AccessDeniedException"), None);
    let reply = stack.get("/api/markets").await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"), "{}", reply.text);
}

/// Every entry the cache scripts leave on the server expires, whatever the order of the calls: a
/// write that finds only a reader's lease used to re-create the entry without a TTL.
#[tokio::test]
async fn every_cache_entry_has_a_ttl_after_any_sequence_of_scripts() {
    let server = CacheServer::start();
    let settings = CacheSettings { timeout: Duration::from_secs(5), ..CacheSettings::default() };
    let cache = RedisCache::connect(&server.endpoint, &settings).await.expect("connect");
    let mut raw =
        redis::Client::open(server.endpoint.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let writes = ["update", "invalidate", "tombstone"];
    for (n, (first, second)) in writes.iter().flat_map(|a| writes.iter().map(move |b| (a, b))).enumerate() {
        let id = format!("ttl-{n}");
        // A reader's miss leaves a lease; then two writes, then maybe the reader's fill.
        let Lookup::Miss(Some(lease)) = cache.lookup(&id).await.unwrap() else { panic!("a miss with a lease") };
        for (version, write) in [(2, first), (3, second)] {
            match *write {
                "update" => cache.update(&id, &cached_market(version)).await.unwrap(),
                "invalidate" => cache.invalidate(&id).await.unwrap(),
                _ => cache.tombstone(&id).await.unwrap(),
            }
        }
        cache.fill(&id, &lease, &cached_market(1)).await.unwrap();
        let ttl: i64 = redis::cmd("TTL").arg(format!("market:{id}")).query_async(&mut raw).await.unwrap();
        // -2: no entry at all; -1: an entry that never expires.
        assert_ne!(ttl, -1, "{first} then {second} after a reader's miss left an entry without a TTL");
    }
}

/// A body of many long unknown keys is refused with `details` capped: at most 20 entries, each
/// field name cut to 100 characters, so the answer is far smaller than the request.
#[tokio::test]
async fn validation_details_are_capped_in_number_and_length() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let mut body = serde_json::Map::new();
    body.insert("name".into(), json!("Capped"));
    for i in 0..120 {
        body.insert(format!("{i:03}{}", "k".repeat(400)), json!(1));
    }
    let sent = Value::Object(body).to_string();
    let reply = stack.post("/api/markets").as_user(&alice).json_text(sent.clone()).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"), "{}", reply.text);
    let details = reply.body["details"].as_array().unwrap();
    assert_eq!(details.len(), 20, "at most 20 details");
    for detail in details {
        assert_eq!(detail["field"].as_str().unwrap().chars().count(), 100, "{detail}");
    }
    assert!(reply.text.len() < sent.len() / 10, "{} bytes answered to {} sent", reply.text.len(), sent.len());
}

/// The positions left in the stack's table for `market_id`.
async fn stored_positions(stack: &Stack, market_id: &str) -> usize {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let found = aws_sdk_dynamodb::Client::new(&aws)
        .query()
        .table_name(format!("{}-PositionsTable", stack.prefix))
        .key_condition_expression("marketId = :market")
        .expression_attribute_values(":market", aws_sdk_dynamodb::types::AttributeValue::S(market_id.to_owned()))
        .send()
        .await
        .unwrap();
    found.items().len()
}

/// A DELETE answers as before (one transaction); its index job then removes the market's positions.
#[tokio::test]
async fn a_deleted_markets_positions_are_removed_after_the_delete() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let (doomed, kept) = (stack.create_market(&alice, "Doomed").await, stack.create_market(&alice, "Kept").await);
    for market in [&doomed, &kept] {
        for _ in 0..12 {
            let position = json!({ "outcome": "yes", "amount": 1 });
            let reply = stack.post(&positions_path(&market.id)).as_user(&alice).json(position).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        }
    }
    assert_eq!(stored_positions(&stack, &doomed.id).await, 12);
    let moderator = User::new(Role::Moderator);
    assert_eq!(stack.delete(&doomed.path).as_user(&moderator).await.status, StatusCode::NO_CONTENT);
    let removed = eventually(Duration::from_secs(30), async || stored_positions(&stack, &doomed.id).await == 0).await;
    assert!(removed.is_some(), "{} positions of the deleted market left", stored_positions(&stack, &doomed.id).await);
    assert_eq!(stored_positions(&stack, &kept.id).await, 12, "another market's positions stay");
}
