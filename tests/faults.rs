//! Fault tests: DynamoDB and SQS failing under the stack (through the fault proxy in
//! support/faults.rs), the index worker killed mid-batch (its S3 Vectors writes held) or slowed
//! past its deadline (its S3 Vectors writes delayed), and the rate-limit table throttled or
//! unreachable. Each asserts what the contract says the client sees, and that the only 5xx answers
//! are the specified 503 UNAVAILABLE.

use std::time::Duration;

use api_tests::{Fault, FaultProxy, Reply, Stack, User, away_from_window_end, eventually, job_done, job_failed};
use markets_core::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How fast a 503 must come when a store is unreachable, as the function itself measures it (its
/// log line's `latency_ms`, not the test's clock, which a loaded machine stretches): the SDK's
/// 1.8 s per operation and the rate limiter's 0.5 s (README, Retries and timeouts), well before the
/// function's 10 s timeout.
const UNAVAILABLE_WITHIN: Duration = Duration::from_secs(3);

/// Asserts a 503 UNAVAILABLE with Retry-After, in the contract's error shape.
fn assert_unavailable(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.text);
    assert_eq!(reply.error_code(), "UNAVAILABLE");
    assert!(reply.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok()), "{:?}", reply.headers);
    assert!(!reply.text.contains("Table") && !reply.text.contains("Exception"), "no internals: {}", reply.text);
}

/// Whether a search for `query` finds exactly the markets `ids` (their jobs done) within `within`.
async fn search_finds_exactly(stack: &Stack, query: &str, ids: &[String], within: Duration) -> bool {
    let mut expected = ids.to_vec();
    expected.sort();
    let found_all = eventually(within, async || {
        let mut found = stack.search_ids(query, 50).await;
        found.sort();
        found == expected
    })
    .await;
    found_all.is_some()
}

#[tokio::test]
async fn unreachable_dynamodb_is_a_503_with_retry_after_within_3_s_then_recovers() {
    let dynamodb = FaultProxy::for_moto();
    // Without the shared cache, which would (rightly) answer the GET with DynamoDB down.
    let stack = Stack::start_behind(&dynamodb, "DYNAMODB", &["--no-cache"]);
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will the table come back?").await;
    let path = market.path.as_str();
    assert_eq!(stack.get(path).await.status, StatusCode::OK, "warm instances before the fault");

    let mut answers = Vec::new();
    for fault in [Fault::BlackHole, Fault::Refuse] {
        dynamodb.inject(&[], fault, None);
        let create = stack.post("/api/markets").as_user(&alice).json(json!({"name": "n"}));
        for request in [stack.get(path), create] {
            let reply = request.await;
            assert_unavailable(&reply);
            let took = stack.latency(&reply);
            assert!(took < UNAVAILABLE_WITHIN, "{fault:?}: answered in {took:?}");
            answers.push((fault, took));
        }
        dynamodb.clear();
    }
    assert_eq!(stack.get(path).await.status, StatusCode::OK, "served again once DynamoDB is back");
    println!("faults injected: {}, 503 UNAVAILABLE answers: {answers:?}", dynamodb.injected());
}

#[tokio::test]
async fn throttled_dynamodb_is_retried_then_a_503_and_a_short_burst_is_absorbed() {
    let dynamodb = FaultProxy::for_moto();
    let stack = Stack::start_behind(&dynamodb, "DYNAMODB", &[]);
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Throttled tortoises?").await;
    // The index worker reads the market too (and again after writing its vector): only once its
    // job is done are all GetItems this GET's. Searchable is too early: the re-read comes after.
    let indexed = job_done(&market.id);
    assert!(stack.logs_when(|logs| logs.iter().any(&indexed)).iter().any(&indexed), "the create's job is done");
    const GET_ITEM: &str = "DynamoDB_20120810.GetItem";

    dynamodb.inject(&[GET_ITEM], Fault::Error("ProvisionedThroughputExceededException"), None);
    let reply = stack.get(&market.path).await;
    assert_unavailable(&reply);
    let took = stack.latency(&reply);
    assert!(took < UNAVAILABLE_WITHIN, "answered in {took:?}");
    assert_eq!(dynamodb.injected(), 3, "the SDK tried three times before giving up");
    dynamodb.clear();

    // Two throttled attempts, then the third goes through: the client never sees the burst.
    dynamodb.inject(&[GET_ITEM], Fault::Error("ThrottlingException"), Some(2));
    let reply = stack.get(&market.path).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["data"]["name"], "Throttled tortoises?");
    assert_eq!(dynamodb.injected(), 5);
    println!("faults injected: {}, the 503 answered in {took:?}, the burst absorbed", dynamodb.injected());
}

#[tokio::test]
async fn a_black_holed_sqs_neither_fails_nor_stalls_a_write_and_its_job_is_indexed_after() {
    let sqs = FaultProxy::for_moto();
    // The sweeper leaves jobs younger than its grace period to their publisher: 1 s here, not 30.
    let stack = Stack::start_behind(&sqs, "SQS", &["--schedule-seconds", "1", "--env", "OUTBOX_GRACE_SECONDS=1"]);
    let alice = User::new(Role::User);
    stack.create_market(&alice, "A warm-up market").await;

    sqs.inject(&[], Fault::BlackHole, None);
    let reply =
        stack.post("/api/markets").as_user(&alice).json(json!({"name": "Written while SQS hangs: glaciers"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let took = stack.latency(&reply);
    assert!(took < UNAVAILABLE_WITHIN, "the send after the commit is bounded: {took:?}");
    let id = reply.body["data"]["id"].as_str().unwrap().to_owned();
    assert!(sqs.injected() >= 1);

    sqs.clear();
    let indexed =
        eventually(Duration::from_secs(20), async || stack.search_ids("glaciers", 5).await.contains(&id)).await;
    assert!(indexed.is_some(), "the outbox sweeper sent the job once SQS answered again");
    // The sweep that sent it measured its wait first: the outbox age alarm's metric.
    let waited = |line: &Value| line["OutboxOldestJobAge"].as_f64().is_some_and(|age| age >= 1.0);
    assert!(stack.logs_when(|logs| logs.iter().any(waited)).iter().any(waited), "no OutboxOldestJobAge >= 1 s");
    println!("faults injected: {}, the write answered 201 in {took:?}", sqs.injected());
}

#[tokio::test]
async fn the_index_worker_killed_mid_batch_loses_no_job() {
    let vectors = FaultProxy::for_moto();
    let stack = Stack::start_behind(&vectors, "S3VECTORS", &["--param", "IndexVisibilityTimeout=2"]);
    let alice = User::new(Role::User);
    // The worker's vector writes (S3 Vectors PutVectors: the only request with a vector list)
    // hang, so a batch is certainly in flight when the worker dies.
    vectors.inject(&["\"vectors\":[", "float32"], Fault::BlackHole, None);
    let names: Vec<String> = (0..5).map(|i| format!("Killed worker market {i}: lighthouses")).collect();
    let created = futures::future::join_all(names.iter().map(|name| stack.create_market(&alice, name))).await;
    let ids: Vec<String> = created.into_iter().map(|market| market.id).collect();
    // Several jobs of one batch in flight (the first batch may hold a single job; the next one
    // takes what queued up meanwhile).
    let in_flight = eventually(Duration::from_secs(15), async || vectors.held() >= 2).await;
    assert!(in_flight.is_some(), "the worker took a batch of several jobs");
    let batch = vectors.held();
    let workers = stack.function_pids("index-worker");
    assert!(!workers.is_empty(), "an index-worker instance is running");
    for pid in &workers {
        let killed = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
        assert!(killed.success(), "SIGKILL {pid}");
    }
    vectors.clear();

    let all_indexed = search_finds_exactly(&stack, "lighthouses", &ids, Duration::from_secs(30)).await;
    assert!(all_indexed, "every job of the killed batch came back and was indexed");
    println!(
        "faults injected: {}, a worker killed with {batch} jobs in flight, all {} indexed",
        vectors.injected(),
        ids.len()
    );
}

/// 2 requests per `WINDOW` seconds for each identity.
const WINDOW: u64 = 600;
const LIMITED: [&str; 4] = ["--env", "RATE_LIMIT_PER_MINUTE=2", "--env", "RATE_LIMIT_WINDOW_SECONDS=600"];

#[tokio::test]
async fn the_rate_limit_table_throttled_is_a_429_unreachable_is_served_and_refusals_are_remembered() {
    away_from_window_end(WINDOW).await;
    let dynamodb = FaultProxy::for_moto();
    let stack = Stack::start_behind(&dynamodb, "DYNAMODB", &LIMITED);
    const COUNTER: &str = "-RateLimitTable";
    let get = |user: &User| stack.get("/api/markets").as_user(user);

    // A throttled counter: the caller is refused, never served unlimited.
    let flood = User::new(Role::User);
    dynamodb.inject(&[COUNTER], Fault::Error("ProvisionedThroughputExceededException"), None);
    let reply = get(&flood).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", reply.text);
    assert_eq!(reply.error_code(), "RATE_LIMITED");
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.header("ratelimit-remaining"), Some("0"));
    let throttled = dynamodb.injected();
    assert!(throttled >= 1);
    dynamodb.clear();

    // An unreachable counter table: served (fail open), quickly.
    dynamodb.inject(&[COUNTER], Fault::BlackHole, None);
    let quiet = User::new(Role::User);
    let reply = get(&quiet).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("ratelimit-limit"), None, "served without a limit");
    // The limiter's own budget is 0.5 s (its timeout): the request is served soon after.
    let took = stack.latency(&reply);
    assert!(took < Duration::from_secs(2), "the limiter gave up quickly: {took:?}");
    dynamodb.clear();

    // Over the limit: refused, and refused again by the warm instance without a DynamoDB call.
    let eager = User::new(Role::User);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(get(&eager).await.status);
    }
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
    let counted = dynamodb.seen(&[COUNTER, &eager.id]);
    assert_eq!(counted, 3);
    for _ in 0..10 {
        let reply = get(&eager).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = reply.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=WINDOW).contains(&retry_after));
    }
    // Each instance asks once (the gateway may have started a second one for back-to-back requests).
    let instances = stack.function_pids("list-markets").len();
    let asked_again = dynamodb.seen(&[COUNTER, &eager.id]) - counted;
    assert!(asked_again < instances, "{asked_again} more counter calls with {instances} instances");
    println!(
        "faults injected: {}, fail-open answer in {took:?}, {asked_again} counter calls for 10 refusals on {instances} instances",
        dynamodb.injected()
    );
}

#[tokio::test]
async fn a_transaction_whose_answer_is_lost_is_retried_with_its_token_and_applied_once() {
    let dynamodb = FaultProxy::for_moto();
    let stack = Stack::start_behind(&dynamodb, "DYNAMODB", &[]);
    let alice = User::new(Role::User);
    const TRANSACT: &str = "DynamoDB_20120810.TransactWriteItems";

    // The market's transaction commits, its answer is lost, and the SDK sends it again with the
    // same ClientRequestToken: DynamoDB answers the retry as a success without applying it twice.
    dynamodb.inject(&[TRANSACT], Fault::LoseAnswer, Some(1));
    let market = stack.create_market(&alice, "Lost answers?").await;
    assert_eq!((dynamodb.injected(), dynamodb.seen(&[TRANSACT])), (1, 2), "one lost answer, one retry");
    assert_eq!(stack.get(&market.path).await.body["data"]["name"], "Lost answers?");

    // A position's transaction moves the market's volume: a retry must not move it twice.
    dynamodb.inject(&[TRANSACT], Fault::LoseAnswer, Some(1));
    let reply = stack
        .post(&api_tests::positions_path(&market.id))
        .as_user(&alice)
        .json(json!({"outcome": "yes", "amount": 7}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(dynamodb.seen(&[TRANSACT]), 4);
    let after = stack.get(&market.path).await;
    assert_eq!(after.exact_field("volume"), "7");
}

#[tokio::test]
async fn s3_vectors_unreachable_is_a_503_for_search_while_writes_succeed_and_are_indexed_after() {
    let vectors = FaultProxy::for_moto();
    // A failed job comes back after 2 s instead of the template's visibility timeout.
    let stack = Stack::start_behind(&vectors, "S3VECTORS", &["--param", "IndexVisibilityTimeout=2"]);
    let alice = User::new(Role::User);
    vectors.inject(&[], Fault::Refuse, None);
    let reply = stack.get("/api/markets/search?q=comets").await;
    assert_unavailable(&reply);
    let took = stack.latency(&reply);
    assert!(took < UNAVAILABLE_WITHIN, "answered in {took:?}");

    let market = stack.create_market(&alice, "Will the comets come back?").await;
    let failed = job_failed(&market.id);
    assert!(
        stack.logs_when(|logs| logs.iter().any(&failed)).iter().any(&failed),
        "its job failed while S3 Vectors was down"
    );
    vectors.clear();
    let indexed =
        eventually(Duration::from_secs(30), async || stack.search_ids("comets", 5).await.contains(&market.id)).await;
    assert!(indexed.is_some(), "the job came back and was indexed once S3 Vectors answered again");
    println!("faults injected: {}, the search's 503 in {took:?}, the write's job indexed after", vectors.injected());
}

#[tokio::test]
async fn bedrock_unreachable_is_a_503_for_search_while_writes_succeed_and_their_jobs_are_retried() {
    // Nothing answers for Bedrock locally: every call to it is refused, so none reaches moto.
    let bedrock = FaultProxy::for_moto();
    bedrock.inject(&[], Fault::Refuse, None);
    let embed_with_bedrock = ["--param", "Embedder=bedrock", "--param", "IndexVisibilityTimeout=1"];
    let stack = Stack::start_behind(&bedrock, "BEDROCK_RUNTIME", &embed_with_bedrock);
    let alice = User::new(Role::User);
    let reply = stack.get("/api/markets/search?q=tides").await;
    assert_unavailable(&reply);
    let took = stack.latency(&reply);
    assert!(took < UNAVAILABLE_WITHIN, "answered in {took:?}");

    let market = stack.create_market(&alice, "Will the tides turn?").await;
    // The job is not lost: it fails, comes back after the visibility timeout, and is tried again.
    let failed = job_failed(&market.id);
    let retried = |logs: &[Value]| logs.iter().filter(|l| failed(l)).count() >= 2;
    assert!(
        retried(&stack.logs_within(Duration::from_secs(30), retried)),
        "its job was tried again while Bedrock was down"
    );
    println!("faults injected: {}, the search's 503 in {took:?}, the write's job retried", bedrock.injected());
}

#[tokio::test]
async fn a_write_answered_503_after_it_committed_is_replayed_to_a_retry_with_the_same_key() {
    let dynamodb = FaultProxy::for_moto();
    let stack = Stack::start_behind(&dynamodb, "DYNAMODB", &[]);
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will the careful client win?").await;
    const TRANSACT: &str = "DynamoDB_20120810.TransactWriteItems";
    let create_body = json!({"name": "Created under a lost answer", "initialPosition": {"outcome": "no", "amount": 4}});
    let writes = [
        ("/api/markets".to_owned(), create_body, "create-once"),
        (api_tests::positions_path(&market.id), json!({"outcome": "yes", "amount": 2.5}), "position-once"),
    ];
    for (path, body, key) in writes {
        // The transaction commits and its answer is lost; every retry of the SDK is refused: the
        // function cannot know the write happened and answers 503.
        dynamodb.inject(&[TRANSACT], Fault::LoseAnswer, Some(1));
        dynamodb.inject(&[TRANSACT], Fault::Refuse, None);
        let write = || stack.post(&path).as_user(&alice).idempotency_key(key).json(body.clone());
        assert_unavailable(&write().await);
        dynamodb.clear();
        // The careful client sends it again with the same key: the first answer, nothing new.
        let retried = write().await;
        assert_eq!(retried.status, StatusCode::CREATED, "{path}: {}", retried.text);
        let again = write().await;
        assert_eq!((again.status, &again.body), (StatusCode::CREATED, &retried.body), "{path}: one first answer");
        let id = retried.body["data"]["id"].as_str().unwrap();
        if path == "/api/markets" {
            let created = stack.get(&api_tests::market_path(id)).await;
            assert_eq!((created.exact_field("volume").as_str(), &created.body["data"]["version"]), ("4", &json!(1)));
        }
    }
    let after = stack.get(&market.path).await;
    assert_eq!(after.exact_field("volume"), "2.5", "the position moved the volume once");
    let positions = stack.get(&api_tests::positions_path(&market.id)).await;
    assert_eq!(positions.body["meta"]["count"], 1, "{}", positions.text);
    let mine = stack.get("/api/markets?limit=100").await;
    let named = mine.body["data"].as_array().unwrap().iter().filter(|m| m["name"] == "Created under a lost answer");
    assert_eq!(named.count(), 1, "one market for the key");
}

#[tokio::test]
async fn a_slow_vector_store_leaves_late_jobs_unstarted_not_cut_and_none_in_the_dead_letter_queue() {
    let vectors = FaultProxy::for_moto();
    // SDK budgets scaled 30 times (a vector write may take 24 s), so that the slow store is slow and
    // not failing: every job that starts can finish. Failed items come back 2 s later.
    let slow = ["--env", "SDK_TIMEOUT_SCALE=30", "--param", "IndexVisibilityTimeout=2"];
    let stack = Stack::start_behind(&vectors, "S3VECTORS", &slow);
    let alice = User::new(Role::User);
    // Every vector write (PutVectors: the only request with a vector list) lands at once and is
    // answered 20 s later: eight jobs at once take 20 s, so the worker (30 s timeout, 8 jobs at
    // once) has less than a job's worst case (11 s) left for the ninth and tenth of a batch.
    vectors.inject(&["\"vectors\":[", "float32"], Fault::Delay(Duration::from_secs(20)), None);
    // A first job holds the worker while ten more queue up: the next batch is a full one.
    let first = stack.create_market(&alice, "Slow store market 0: sandbanks").await;
    assert!(eventually(Duration::from_secs(30), async || vectors.held() >= 1).await.is_some(), "the first job");
    let names: Vec<String> = (1..=10).map(|i| format!("Slow store market {i}: sandbanks")).collect();
    let created = futures::future::join_all(names.iter().map(|name| stack.create_market(&alice, name))).await;
    let ids: Vec<String> = created.into_iter().map(|market| market.id).chain([first.id]).collect();

    // Every job either runs to its end or is not started: none is started with too little time
    // left and stopped at the deadline, which would spend its receive on the others' slowness.
    let not_started = |line: &Value| line["message"] == "not started: too close to the deadline";
    let assert_none_cut = |logs: &[Value]| {
        let cut: Vec<&Value> = logs.iter().filter(|line| line["message"] == "job failed").collect();
        assert!(cut.is_empty(), "jobs started too late and stopped at the deadline: {cut:?}");
    };
    let logs = stack.logs_within(Duration::from_secs(120), |logs| {
        logs.iter().any(|line| not_started(line) || line["message"] == "job failed")
    });
    assert_none_cut(&logs);
    assert!(logs.iter().any(not_started), "a batch left jobs unstarted near its deadline");
    // The store recovers.
    vectors.clear();
    let all_indexed = search_finds_exactly(&stack, "sandbanks", &ids, Duration::from_secs(60)).await;
    assert!(all_indexed, "every job was done once the store was fast again");

    let logs = stack.logs();
    assert_none_cut(&logs);
    let (sqs, dead_letters) = stack.queue("IndexDeadLetterQueue").await;
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&dead_letters)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("GetQueueAttributes");
    let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attributes.attributes().and_then(|all| all.get(&name)).cloned().unwrap_or_default()
    };
    let waiting = count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages);
    let in_flight = count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
    assert_eq!((waiting.as_str(), in_flight.as_str()), ("0", "0"), "nothing in the dead-letter queue");
    println!(
        "faults injected: {}, {} jobs not started near a deadline, all {} indexed, none cut, none dead-lettered",
        vectors.injected(),
        logs.iter().filter(|line| not_started(line)).count(),
        ids.len()
    );
}
