//! Write races that moto never produces (it runs one DynamoDB call at a time), made through the
//! fault proxy: a transaction cancelled by a conflicting one, and a read whose answer comes back
//! only after another writer changed the item. Each asserts what the client sees and what the
//! tables hold after it.

use std::time::Duration;

use api_tests::{Fault, FaultProxy, Stack, User, eventually, job_done, positions_path};
use markets_core::domain::Role;
use markets_core::retry::Backoff;
use reqwest::StatusCode;
use serde_json::{Value, json};

const TRANSACT: &str = "DynamoDB_20120810.TransactWriteItems";

/// How many times `op` appears in a request log line's `dynamodb_ops`.
fn calls(log: &Value, op: &str) -> usize {
    log["dynamodb_ops"].as_str().unwrap_or_default().split(',').filter(|name| *name == op).count()
}

#[tokio::test]
async fn a_position_cancelled_by_a_conflict_is_retried_and_applied_once() {
    let dynamodb = FaultProxy::for_moto();
    let stack = Stack::start_behind(&dynamodb, "DYNAMODB", &[]);
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will the queue at the bakery clear?").await;

    let before = dynamodb.seen(&[TRANSACT, &market.id]);
    dynamodb.inject(&[TRANSACT, &market.id], Fault::Conflict, Some(2));
    let reply = stack
        .post(&positions_path(&market.id))
        .as_user(&alice)
        .idempotency_key("conflicted-once")
        .json(json!({"outcome": "yes", "amount": 5}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let sent = dynamodb.seen(&[TRANSACT, &market.id]) - before;
    assert_eq!((dynamodb.injected(), sent), (2, 3), "two conflicts, one commit");
    let log = stack.request_log(reply.header("x-request-id").unwrap());
    assert_eq!(calls(&log, "TransactWriteItems"), 3, "{log}");

    let after = stack.get(&market.path).await;
    assert_eq!(
        (after.exact_field("volume").as_str(), &after.body["data"]["version"]),
        ("5", &json!(2)),
        "{}",
        after.text
    );
    let positions = stack.get(&positions_path(&market.id)).await;
    assert_eq!(positions.body["meta"]["count"], 1, "{}", positions.text);
}

#[tokio::test]
async fn a_conflict_that_persists_is_a_409_conflict_and_nothing_is_written() {
    let dynamodb = FaultProxy::for_moto();
    let stack = Stack::start_behind(&dynamodb, "DYNAMODB", &[]);
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will the crowd ever thin out?").await;

    let before = dynamodb.seen(&[TRANSACT, &market.id]);
    dynamodb.inject(&[TRANSACT, &market.id], Fault::Conflict, None);
    let reply =
        stack.post(&positions_path(&market.id)).as_user(&alice).json(json!({"outcome": "no", "amount": 3})).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::CONFLICT, "CONFLICT"), "{}", reply.text);
    let attempts = Backoff::CONTENTION.max_attempts as usize;
    assert_eq!(dynamodb.seen(&[TRANSACT, &market.id]) - before, attempts, "tried {attempts} times, then gave up");
    dynamodb.clear();

    let after = stack.get(&market.path).await;
    assert_eq!(
        (after.exact_field("volume").as_str(), &after.body["data"]["version"]),
        ("0", &json!(1)),
        "{}",
        after.text
    );
    assert_eq!(stack.get(&positions_path(&market.id)).await.body["meta"]["count"], 0);
}

#[tokio::test]
async fn an_edit_without_if_match_that_loses_a_race_is_applied_to_the_new_version() {
    let dynamodb = FaultProxy::for_moto();
    // SDK timeouts for a loaded machine (the delay must not time the read out: its retry would
    // read the new version and hide the race).
    let stack = Stack::start_behind(&dynamodb, "DYNAMODB", &["--env", "SDK_TIMEOUT_SCALE=10"]);
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will the race be won?").await;
    // The index worker reads the market too: only once it has, is the next read of it the rename's.
    let indexed = job_done(&market.id);
    assert!(stack.logs_when(|logs| logs.iter().any(&indexed)).iter().any(&indexed), "the create's job is done");

    // The rename reads version 1, and that read's answer is held while the close commits version 2:
    // the rename's write, made for version 1, is refused, re-read and applied on version 2.
    dynamodb.inject(&["DynamoDB_20120810.GetItem", &market.id], Fault::Delay(Duration::from_secs(3)), Some(1));
    let rename = stack.patch(&market.path).as_user(&alice).json(json!({"name": "Will the race be lost?"}));
    let close = async {
        let read_held = eventually(Duration::from_secs(10), async || dynamodb.held() == 1).await;
        assert!(read_held.is_some(), "the rename's read reached the proxy");
        stack.patch(&market.path).as_user(&alice).json(json!({"status": "closed"})).await
    };
    let (renamed, closed) = futures::join!(rename.send(), close);
    assert_eq!((closed.status, &closed.body["data"]["version"]), (StatusCode::OK, &json!(2)), "{}", closed.text);
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let data = &renamed.body["data"];
    assert_eq!(
        (&data["name"], &data["status"], &data["version"]),
        (&json!("Will the race be lost?"), &json!("closed"), &json!(3))
    );
    let log = stack.request_log(renamed.header("x-request-id").unwrap());
    assert_eq!(calls(&log, "TransactWriteItems"), 2, "refused once, then written on the version read again: {log}");
    let stored = stack.get(&market.path).await;
    assert_eq!(stored.body["data"], renamed.body["data"], "GET shows the edit on the new version");
}

#[tokio::test]
async fn a_moderator_edits_and_then_deletes_a_market_busy_with_positions() {
    let dynamodb = FaultProxy::for_moto();
    let stack = Stack::start_behind(&dynamodb, "DYNAMODB", &["--env", "SDK_TIMEOUT_SCALE=10"]);
    let (alice, moderator) = (User::new(Role::User), User::new(Role::Moderator));
    let market = stack.create_market(&alice, "Will the busy market stay moderated?").await;
    let (path, positions) = (market.path.as_str(), positions_path(&market.id));
    // On AWS every write to the market contends for its item: DynamoDB cancels the moderator's
    // edit (the only transaction that sets #name) and delete three times each, and the positions
    // twenty times between them.
    let (edit, delete) = ([TRANSACT, &market.id, "#name"], [TRANSACT, &market.id, "\"Delete\":"]);
    let sent = |matching: &[&str]| dynamodb.seen(matching);
    let (edits_before, deletes_before) = (sent(&edit), sent(&delete));
    dynamodb.inject(&edit, Fault::Conflict, Some(3));
    dynamodb.inject(&delete, Fault::Conflict, Some(3));
    dynamodb.inject(&[TRANSACT, &market.id], Fault::Conflict, Some(20));

    let stack = &stack;
    let writers = (0..20).map(|i| {
        let (user, positions) = (User::new(Role::User), positions.as_str());
        let outcome = if i % 2 == 0 { "yes" } else { "no" };
        async move {
            let mut statuses = Vec::new();
            for _ in 0..3 {
                let body = json!({"outcome": outcome, "amount": 1});
                statuses.push(stack.post(positions).as_user(&user).json(body).await.status);
            }
            statuses
        }
    });
    let moderation = async {
        let busy = eventually(Duration::from_secs(30), async || sent(&[TRANSACT, &market.id]) >= 10).await;
        assert!(busy.is_some(), "the position writers are at work");
        let edited = stack.patch(path).as_user(&moderator).json(json!({"name": "Moderated while busy"})).await;
        (edited, stack.delete(path).as_user(&moderator).await)
    };
    let (statuses, (edited, deleted)) = futures::join!(futures::future::join_all(writers), moderation);
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    assert_eq!(edited.body["data"]["name"], "Moderated while busy");
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    // Each was cancelled at least three times (more when it met the positions' conflicts too).
    let tries = (sent(&edit) - edits_before, sent(&delete) - deletes_before);
    assert!(tries.0 >= 4 && tries.1 >= 4, "edit and delete sent {tries:?} times");
    let statuses: Vec<StatusCode> = statuses.into_iter().flatten().collect();
    let taken = statuses.iter().filter(|status| **status == StatusCode::CREATED).count();
    // A position is taken, or finds the market gone: never refused for the traffic.
    assert!(statuses.iter().all(|s| [StatusCode::CREATED, StatusCode::NOT_FOUND].contains(s)), "{statuses:?}");
    assert_eq!(stack.get(path).await.status, StatusCode::NOT_FOUND);
    println!(
        "{taken} positions taken, {} conflicts injected, edit and delete sent {tries:?} times",
        dynamodb.injected()
    );
}
