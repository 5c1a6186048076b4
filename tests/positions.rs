//! Positions and their transactions, idempotent writes, and N+1-free creator reads, over HTTP.

use std::collections::HashSet;

use api_tests::{Reply, Stack, User, market_path, positions_path};
use futures::StreamExt;
use markets_core::domain::{Amount, IndexJob, JobOp, Market, MarketStatus, Outcome, Position, Role, UserProfile};
use markets_core::repo::RepoError;
use reqwest::StatusCode;
use serde_json::json;

fn decimal(micros: u64) -> String {
    Amount::from_stored(&format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)).unwrap().to_stored()
}

#[tokio::test]
async fn concurrent_positions_sum_exactly_into_volume() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will it rain in Paris tomorrow?").await;
    let positions = positions_path(&market.id);

    let amounts: Vec<u64> = (0..100).map(|_| fastrand::u64(1..=1_000_000_000_000)).collect();
    let replies: Vec<Reply> = futures::stream::iter(&amounts)
        .map(|micros| {
            let body = format!(r#"{{"outcome": "yes", "amount": {}}}"#, decimal(*micros));
            stack.post(&positions).as_user(&alice).json_text(body).send()
        })
        .buffer_unordered(100)
        .collect()
        .await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    }

    let after = stack.get(&market.path).await;
    assert_eq!(after.exact_field("volume"), decimal(amounts.iter().sum()));
    assert_eq!(after.body["data"]["version"], 101);
    let listed = stack.get(&positions).query(&[("limit", "100")]).await;
    assert_eq!(listed.body["meta"]["count"], 100);
    let newest_first: Vec<&str> =
        listed.body["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert!(newest_first.windows(2).all(|w| w[0] > w[1]));
}

#[tokio::test]
async fn positions_need_an_active_existing_market_and_a_valid_amount() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Closing soon").await;
    let positions = positions_path(&market.id);

    for (body, field) in [
        (r#"{"outcome": "yes", "amount": 0.0000001}"#, "amount"),
        (r#"{"outcome": "maybe", "amount": 1}"#, "outcome"),
        (r#"{"outcome": "no", "amount": 1000000001}"#, "amount"),
    ] {
        let reply = stack.post(&positions).as_user(&alice).json_text(body).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"), "{body}");
        assert_eq!(reply.body["details"][0]["field"], field);
    }

    let stale =
        stack.post(&positions).as_user(&alice).if_match("\"v7\"").json(json!({"outcome": "yes", "amount": 1})).await;
    assert_eq!((stale.status, stale.error_code()), (StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED"));

    let closed = stack.patch(&market.path).as_user(&alice).json(json!({"status": "closed"})).await;
    assert_eq!(closed.status, StatusCode::OK);
    let refused = stack.post(&positions).as_user(&alice).json_text(r#"{"outcome": "yes", "amount": 5}"#).await;
    assert_eq!((refused.status, refused.error_code()), (StatusCode::CONFLICT, "MARKET_NOT_ACTIVE"));
    let after = stack.get(&market.path).await;
    assert_eq!((after.exact_field("volume").as_str(), &after.body["data"]["version"]), ("0", &json!(2)));
    assert_eq!(stack.get(&positions).await.body["meta"]["count"], 0);

    let nowhere = positions_path("01ARZ3NDEKTSV4RRFFQ69G5FAV");
    let missing = stack.post(&nowhere).as_user(&alice).json_text(r#"{"outcome": "yes", "amount": 5}"#).await;
    assert_eq!((missing.status, missing.error_code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
    let missing_list = stack.get(&nowhere).await;
    assert_eq!((missing_list.status, missing_list.error_code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
}

#[tokio::test]
async fn a_market_and_its_first_position_are_written_together_or_not_at_all() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let body = json!({"name": "With a stake", "initialPosition": {"outcome": "no", "amount": 12.345678}});
    let created = stack.create_market_with(&alice, body).await;
    assert_eq!(created.reply.exact_field("volume"), "12.345678");
    let positions = stack.get(&positions_path(&created.id)).await;
    assert_eq!(positions.body["data"][0]["userId"], alice.id.as_str());
    assert_eq!(positions.body["data"][0]["outcome"], "no");

    // Make the position's write fail: its id is taken. The market must not be left behind.
    let repositories = stack.repositories().await;
    let taken = positions.body["data"][0]["id"].as_str().unwrap().to_owned();
    let market = Market {
        id: "01M000000000000000000FAIL1".into(),
        name: "Orphan?".into(),
        description: String::new(),
        status: MarketStatus::Active,
        volume: Amount::from_stored("1").unwrap(),
        creator_id: alice.id.clone(),
        created_at: "2026-01-01T00:00:00.000Z".into(),
        updated_at: "2026-01-01T00:00:00.000Z".into(),
        version: 1,
        ..Market::default()
    };
    let position = Position {
        id: taken,
        market_id: created.id.clone(),
        user_id: alice.id.clone(),
        outcome: Outcome::Yes,
        amount: Amount::from_stored("1").unwrap(),
        created_at: market.created_at.clone(),
    };
    let job = IndexJob::new(&market.id, 1, JobOp::Upsert);
    let creator = UserProfile { id: market.creator_id.clone(), name: "Alice".into() };
    let result = repositories.markets.create(&market, &creator, Some(&position), None, &job).await;
    assert!(matches!(result, Err(RepoError::AlreadyExists)), "{result:?}");
    let orphan = stack.get(&market_path(&market.id)).await;
    assert_eq!(orphan.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn one_idempotency_key_makes_one_market_however_often_it_is_sent() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let send = |key: &'static str, name: &'static str, user: &User| {
        stack.post("/api/markets").as_user(user).idempotency_key(key).json(json!({ "name": name })).send()
    };
    let replies = futures::future::join_all((0..20).map(|_| send("key-1", "Once only", &alice))).await;
    let mut ids = HashSet::new();
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        ids.insert(reply.body["data"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "all 20 responses carry the one market");
    // A replay is the first answer again: the same body, ETag and Location, marked as a replay.
    let answer = |reply: &Reply| {
        let header = |name| reply.header(name).map(str::to_owned);
        (reply.body["data"].clone(), header("etag"), header("location"))
    };
    let first = replies.iter().find(|reply| reply.header("idempotent-replayed").is_none()).expect("one first answer");
    let replays: Vec<&Reply> = replies.iter().filter(|reply| reply.header("idempotent-replayed").is_some()).collect();
    assert_eq!(replays.len(), 19, "every answer but the first is a replay");
    for replay in replays {
        assert_eq!(answer(replay), answer(first), "a replay differs from the first answer");
    }
    let listed = stack.get("/api/markets?limit=100").await;
    assert_eq!(listed.body["meta"]["count"], 1);

    let reused = send("key-1", "Something else", &alice).await;
    assert_eq!((reused.status, reused.error_code()), (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED"));
    let bob = User::new(Role::User);
    let bobs = send("key-1", "Once only", &bob).await;
    assert_eq!(bobs.status, StatusCode::CREATED);
    assert!(!ids.contains(bobs.body["data"]["id"].as_str().unwrap()), "another caller's key is another key");

    let market_id = ids.iter().next().unwrap();
    let position = |key: &str| {
        let body = r#"{"outcome": "yes", "amount": 7}"#;
        stack.post(&positions_path(market_id)).as_user(&alice).idempotency_key(key).json_text(body)
    };
    let first = position("p-1").await;
    let again = position("p-1").await;
    assert_eq!((first.status, again.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first.body["data"], again.body["data"]);
    assert_eq!(stack.get(&market_path(market_id)).await.exact_field("volume"), "7");
    let bad_key = position(&"k".repeat(129)).await;
    assert_eq!((bad_key.status, bad_key.error_code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));
}

#[tokio::test]
async fn a_page_of_markets_reads_its_creators_in_one_batch() {
    let stack = Stack::start();
    let creators: Vec<User> = (0..20).map(|_| User::new(Role::User)).collect();
    for (i, creator) in creators.iter().enumerate() {
        stack.create_market(creator, &format!("Market {i}")).await;
    }
    let page = stack.get("/api/markets?limit=20").await;
    assert_eq!(page.body["meta"]["count"], 20);
    let names: HashSet<&str> =
        page.body["data"].as_array().unwrap().iter().map(|m| m["creator"]["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 20, "every market shows its own creator");

    // The rate limiter's UpdateItem, one Query per shard of the list index, then the markets and
    // their creators in one batch.
    let log = stack.request_log(page.header("x-request-id").unwrap());
    let shards = markets_aws::settings::DEFAULT_WRITE_SHARDS;
    assert_eq!(log["dynamodb_ops"], format!("UpdateItem,{}BatchGetItem", "Query,".repeat(shards)), "{log}");
    assert_eq!(log["dynamodb_calls"], shards + 2);
}
