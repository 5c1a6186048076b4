//! The AWS round trips each route waits for one after the other (issue 22, item 2), read from the
//! request log line's `aws_rounds`, and what folding work into fewer of them must keep: a refused
//! caller writes nothing, a retried key is answered from its record, the first profile stays.

use api_tests::{Reply, Stack, User, market_path, positions_path};
use markets_core::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The operations of each round trip of the request `reply` answered, from its log line.
fn rounds(stack: &Stack, reply: &Reply) -> Vec<String> {
    let line = stack.request_log(reply.header("x-request-id").expect("every answer has a request id"));
    let rounds = line["aws_rounds"].as_str().unwrap_or_else(|| panic!("aws_rounds in {line}"));
    let rounds: Vec<String> = rounds.split(" | ").filter(|round| !round.is_empty()).map(str::to_owned).collect();
    assert_eq!(line["aws_round_trips"], json!(rounds.len()), "{line}");
    rounds
}

/// A market write's rounds up to its commit: the index job's delivery after it (SQS, then the
/// outbox cleared with a BatchWriteItem) is leaving the request path (issue 22: DynamoDB Streams).
fn up_to_commit(mut rounds: Vec<String>) -> Vec<String> {
    if rounds.last().is_some_and(|round| round == "BatchWriteItem") {
        rounds.pop();
    }
    rounds
}

#[tokio::test]
async fn every_route_waits_for_at_most_two_round_trips() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let moderator = User::new(Role::Moderator);
    let created = stack.post("/api/markets").as_user(&alice).json(json!({ "name": "Round trips?" })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    // The limiter, then the transaction with the market, the creator's profile and the job.
    assert_eq!(up_to_commit(rounds(&stack, &created)), ["UpdateItem", "TransactWriteItems"]);
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    let keyed =
        stack.post("/api/markets").as_user(&alice).idempotency_key("m-1").json(json!({ "name": "Keyed" })).await;
    assert_eq!(keyed.status, StatusCode::CREATED, "{}", keyed.text);
    assert_eq!(up_to_commit(rounds(&stack, &keyed)), ["UpdateItem", "TransactWriteItems"], "no read of the key");

    let position = |key: Option<&str>| {
        let request = stack.post(&positions_path(&id)).as_user(&alice).json(json!({"outcome": "yes", "amount": 1}));
        match key {
            Some(key) => request.idempotency_key(key),
            None => request,
        }
    };
    for key in [None, Some("p-1")] {
        let taken = position(key).await;
        assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.text);
        assert_eq!(rounds(&stack, &taken), ["UpdateItem", "TransactWriteItems"], "position with key {key:?}");
    }

    let mut reads = Vec::new();
    for path in [market_path(&id), market_path(&id), "/api/markets?limit=5".into(), positions_path(&id)] {
        reads.push((path.clone(), stack.get(&path).as_user(&alice).await));
    }
    reads.push(("search".into(), stack.get("/api/markets/search?q=round%20trips").as_user(&alice).await));
    for (path, read) in &reads {
        assert_eq!(read.status, StatusCode::OK, "{path}: {}", read.text);
        let rounds = rounds(&stack, read);
        assert!((1..=2).contains(&rounds.len()), "{path}: {rounds:?}");
    }
    // The market and its positions are read at the same time, with the limiter.
    assert_eq!(rounds(&stack, &reads[3].1).len(), 1, "{:?}", rounds(&stack, &reads[3].1));

    // An edit reads the market while the limiter counts, then commits.
    let edits = [
        stack.patch(&market_path(&id)).as_user(&alice).json(json!({ "description": "d" })).await,
        stack
            .put(&market_path(&id))
            .as_user(&alice)
            .json(json!({"name": "Put", "description": "", "status": "active"}))
            .await,
    ];
    for edit in &edits {
        assert_eq!(edit.status, StatusCode::OK, "{}", edit.text);
        let rounds = up_to_commit(rounds(&stack, edit));
        assert_eq!(rounds.len(), 2, "{rounds:?}");
        assert_eq!(rounds[1], "TransactWriteItems", "{rounds:?}");
    }
    let deleted = stack.delete(&market_path(&id)).as_user(&moderator).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_eq!(up_to_commit(rounds(&stack, &deleted)), ["UpdateItem", "TransactWriteItems"]);
}

const WINDOW: u64 = 600;

#[tokio::test]
async fn a_write_refused_by_the_rate_limit_writes_nothing() {
    api_tests::away_from_window_end(WINDOW).await;
    let stack = Stack::start_with(&["--env", "RATE_LIMIT_PER_MINUTE=3", "--env", "RATE_LIMIT_WINDOW_SECONDS=600"]);
    let (alice, bob) = (User::new(Role::Moderator), User::new(Role::User));
    let market = stack.create_market(&alice, "Will the limit hold?").await;
    for _ in 0..2 {
        assert_eq!(stack.get("/api/markets").as_user(&alice).await.status, StatusCode::OK);
    }
    // Each write goes to its own function, whose first refusal of alice comes from the shared
    // counter while the write runs alongside it: only the gate keeps the write from committing.
    let writes = [
        stack.post("/api/markets").as_user(&alice).json(json!({ "name": "Refused" })).await,
        stack.post(&positions_path(&market.id)).as_user(&alice).json(json!({"outcome": "yes", "amount": 5})).await,
        stack.patch(&market.path).as_user(&alice).json(json!({ "name": "Renamed" })).await,
        stack.delete(&market.path).as_user(&alice).await,
    ];
    for refused in &writes {
        assert_eq!((refused.status, refused.error_code()), (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"));
        assert_eq!(refused.header("ratelimit-remaining"), Some("0"));
        assert!(refused.header("retry-after").is_some(), "{refused:?}");
    }
    let after = stack.get(&market.path).as_user(&bob).await;
    assert_eq!(after.status, StatusCode::OK, "the delete was not made: {}", after.text);
    assert_eq!(
        (&after.body["data"]["name"], &after.body["data"]["version"]),
        (&json!("Will the limit hold?"), &json!(1))
    );
    assert_eq!(after.exact_field("volume"), "0", "no position moved the volume");
    let positions = stack.get(&positions_path(&market.id)).as_user(&bob).await;
    assert_eq!(positions.body["meta"]["count"], 0, "{}", positions.text);
    let listed = stack.get("/api/markets?limit=100").as_user(&bob).await;
    assert_eq!(listed.body["meta"]["count"], 1, "no second market: {}", listed.text);
}

#[tokio::test]
async fn a_retried_key_is_answered_from_its_record_once_the_transaction_finds_it_taken() {
    let stack = Stack::start();
    let (alice, moderator) = (User::new(Role::User), User::new(Role::Moderator));
    let market = stack.create_market(&alice, "Will the replay hold?").await;
    let position =
        |body: Value| stack.post(&positions_path(&market.id)).as_user(&alice).idempotency_key("once").json(body);
    let first = position(json!({"outcome": "yes", "amount": 3})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    // Closed since: the retry still gets its first answer, not a refusal of a new position.
    let closed = stack.patch(&market.path).as_user(&moderator).json(json!({ "status": "closed" })).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    let retried = position(json!({"amount": 3, "outcome": "yes"})).await;
    assert_eq!((retried.status, &retried.body), (StatusCode::CREATED, &first.body), "{}", retried.text);
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
    // The write is tried first and its refusal carries the record: no read of the key.
    assert_eq!(rounds(&stack, &retried), ["UpdateItem", "TransactWriteItems"]);
    let reused = position(json!({"outcome": "no", "amount": 3})).await;
    assert_eq!((reused.status, reused.error_code()), (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED"));
    let after = stack.get(&market.path).await;
    assert_eq!((after.exact_field("volume").as_str(), &after.body["data"]["version"]), ("3", &json!(3)));
    let positions = stack.get(&positions_path(&market.id)).await;
    assert_eq!(positions.body["meta"]["count"], 1, "{}", positions.text);
}

#[tokio::test]
async fn the_name_of_a_users_first_write_stays_theirs_when_that_write_was_a_position() {
    let stack = Stack::start();
    let (alice, bob) = (User::new(Role::User), User::new(Role::User));
    let market = stack.create_market(&alice, "Will Bob's name hold?").await;
    let named = |name: &str| bob.token_with(|claims| claims.name = Some(name.to_owned()));
    let body = json!({"outcome": "no", "amount": 1});
    let taken = stack.post(&positions_path(&market.id)).bearer(named("Bob First")).json(body).await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.text);
    let created = stack.post("/api/markets").bearer(named("Bob Later")).json(json!({ "name": "Bob's" })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["data"]["creator"]["name"], "Bob First", "the create's answer");
    let id = created.body["data"]["id"].as_str().unwrap();
    assert_eq!(stack.get(&market_path(id)).await.body["data"]["creator"]["name"], "Bob First", "GET");
    let listed = stack.get("/api/markets?limit=10").await;
    let bobs = listed.body["data"].as_array().unwrap().iter().find(|m| m["id"] == id).expect("listed");
    assert_eq!(bobs["creator"]["name"], "Bob First", "the list");
}
