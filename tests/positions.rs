//! Positions and their transactions, idempotent writes, and N+1-free creator reads, over HTTP.

use std::collections::HashSet;

use api_tests::{Reply, Stack, User};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::domain::Role;
use shared::domain::{Amount, Market, MarketStatus, Outcome, Position};
use shared::domain::{IndexJob, JobOp};
use shared::repo::RepoError;

fn decimal(micros: u64) -> String {
    Amount::from_stored(&format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)).unwrap().to_stored()
}

async fn post_position(stack: &Stack, user: &User, market_id: &str, body: String, key: Option<&str>) -> Reply {
    let mut request = stack
        .request(Method::POST, &format!("/api/markets/{market_id}/positions"))
        .bearer_auth(user.token())
        .header("content-type", "application/json")
        .body(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    Reply::from(request.send().await.unwrap()).await
}

#[tokio::test]
async fn concurrent_positions_sum_exactly_into_volume() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will it rain in Paris tomorrow?").await;
    let id = market["id"].as_str().unwrap();

    let amounts: Vec<u64> = (0..100).map(|_| fastrand::u64(1..=1_000_000_000_000)).collect();
    let replies: Vec<Reply> = futures::stream::iter(&amounts)
        .map(|micros| {
            let body = format!(r#"{{"outcome": "yes", "amount": {}}}"#, decimal(*micros));
            post_position(&stack, &alice, id, body, None)
        })
        .buffer_unordered(100)
        .collect()
        .await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    }

    let after = stack.get(&format!("/api/markets/{id}")).await;
    assert_eq!(after.exact_field("volume"), decimal(amounts.iter().sum()));
    assert_eq!(after.body["data"]["version"], 101);
    let listed = stack.get(&format!("/api/markets/{id}/positions?limit=100")).await;
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
    let id = market["id"].as_str().unwrap();

    for (body, field) in [
        (r#"{"outcome": "yes", "amount": 0.0000001}"#, "amount"),
        (r#"{"outcome": "maybe", "amount": 1}"#, "outcome"),
        (r#"{"outcome": "no", "amount": 1000000001}"#, "amount"),
    ] {
        let reply = post_position(&stack, &alice, id, body.into(), None).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"), "{body}");
        assert_eq!(reply.body["details"][0]["field"], field);
    }

    let stale = stack
        .request(Method::POST, &format!("/api/markets/{id}/positions"))
        .bearer_auth(alice.token())
        .header("if-match", "\"v7\"")
        .json(&json!({"outcome": "yes", "amount": 1}))
        .send()
        .await
        .unwrap();
    let stale = Reply::from(stale).await;
    assert_eq!((stale.status, stale.error_code()), (StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED"));

    let closed =
        stack.send_json(Method::PATCH, &format!("/api/markets/{id}"), &alice, json!({"status": "closed"})).await;
    assert_eq!(closed.status, StatusCode::OK);
    let refused = post_position(&stack, &alice, id, r#"{"outcome": "yes", "amount": 5}"#.into(), None).await;
    assert_eq!((refused.status, refused.error_code()), (StatusCode::CONFLICT, "MARKET_NOT_ACTIVE"));
    let after = stack.get(&format!("/api/markets/{id}")).await;
    assert_eq!((after.exact_field("volume").as_str(), &after.body["data"]["version"]), ("0", &json!(2)));
    assert_eq!(stack.get(&format!("/api/markets/{id}/positions")).await.body["meta"]["count"], 0);

    let missing =
        post_position(&stack, &alice, "01ARZ3NDEKTSV4RRFFQ69G5FAV", r#"{"outcome": "yes", "amount": 5}"#.into(), None)
            .await;
    assert_eq!((missing.status, missing.error_code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
    let missing_list = stack.get("/api/markets/01ARZ3NDEKTSV4RRFFQ69G5FAV/positions").await;
    assert_eq!((missing_list.status, missing_list.error_code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
}

#[tokio::test]
async fn a_market_and_its_first_position_are_written_together_or_not_at_all() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let created = stack
        .send_json(
            Method::POST,
            "/api/markets",
            &alice,
            json!({"name": "With a stake", "initialPosition": {"outcome": "no", "amount": 12.345678}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.exact_field("volume"), "12.345678");
    let id = created.body["data"]["id"].as_str().unwrap();
    let positions = stack.get(&format!("/api/markets/{id}/positions")).await;
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
        end_date: None,
        created_at: "2026-01-01T00:00:00.000Z".into(),
        updated_at: "2026-01-01T00:00:00.000Z".into(),
        version: 1,
    };
    let position = Position {
        id: taken,
        market_id: id.to_owned(),
        user_id: alice.id.clone(),
        outcome: Outcome::Yes,
        amount: Amount::from_stored("1").unwrap(),
        created_at: market.created_at.clone(),
    };
    let job = IndexJob::new(&market.id, 1, JobOp::Upsert);
    let result = repositories.markets.create(&market, Some(&position), None, &job).await;
    assert!(matches!(result, Err(RepoError::AlreadyExists)), "{result:?}");
    let orphan = stack.get(&format!("/api/markets/{}", market.id)).await;
    assert_eq!(orphan.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn one_idempotency_key_makes_one_market_however_often_it_is_sent() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let send = |key: &'static str, name: &'static str, user: &User| {
        stack
            .request(Method::POST, "/api/markets")
            .bearer_auth(user.token())
            .header("idempotency-key", key)
            .json(&json!({ "name": name }))
            .send()
    };
    let replies = futures::future::join_all((0..20).map(|_| send("key-1", "Once only", &alice))).await;
    let mut ids = HashSet::new();
    for response in replies {
        let reply = Reply::from(response.unwrap()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        ids.insert(reply.body["data"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "all 20 responses carry the one market");
    let listed = stack.get("/api/markets?limit=100").await;
    assert_eq!(listed.body["meta"]["count"], 1);

    let reused = Reply::from(send("key-1", "Something else", &alice).await.unwrap()).await;
    assert_eq!((reused.status, reused.error_code()), (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED"));
    let bob = User::new(Role::User);
    let bobs = Reply::from(send("key-1", "Once only", &bob).await.unwrap()).await;
    assert_eq!(bobs.status, StatusCode::CREATED);
    assert!(!ids.contains(bobs.body["data"]["id"].as_str().unwrap()), "another caller's key is another key");

    let market_id = ids.iter().next().unwrap();
    let body = || r#"{"outcome": "yes", "amount": 7}"#.to_owned();
    let first = post_position(&stack, &alice, market_id, body(), Some("p-1")).await;
    let again = post_position(&stack, &alice, market_id, body(), Some("p-1")).await;
    assert_eq!((first.status, again.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first.body["data"], again.body["data"]);
    assert_eq!(stack.get(&format!("/api/markets/{market_id}")).await.exact_field("volume"), "7");
    let bad_key = post_position(&stack, &alice, market_id, body(), Some(&"k".repeat(129))).await;
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

    // One Query per shard of the list index, then the markets and their creators in one batch.
    let log = stack.request_log(page.header("x-request-id").unwrap());
    let shards = shared::config::DEFAULT_WRITE_SHARDS;
    assert_eq!(log["dynamodb_ops"], format!("{}BatchGetItem", "Query,".repeat(shards)), "{log}");
    assert_eq!(log["dynamodb_calls"], shards + 1);
}
