//! Index jobs from the outbox through the relay and SQS to the worker (redelivered, reordered, poison
//! ones to the dead-letter queue), the outbox sweeper that sends what the relay could not, and
//! search, over HTTP against the local stack.

use std::collections::HashMap;
use std::time::Duration;

use api_tests::{Fault, FaultProxy, Stack, User, eventually, job_done};
use markets_core::domain::{IndexJob, JobOp, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};

const UNRELATED: [&str; 10] = [
    "Will Bitcoin close above its all-time high",
    "Will the Fed cut rates at the next meeting",
    "Will SpaceX launch Starship to orbit",
    "Will the Lakers win the championship",
    "Will OpenAI release a new model",
    "Will Tesla deliver more cars than last year",
    "Will the UK hold an election",
    "Will Ethereum flip its rival",
    "Will Apple announce a new product line",
    "Will the World Cup final go to penalties",
];

/// How soon a market is searchable after its write was answered, by the stack's own log lines (the
/// write's request line to the worker's "job done"), not the test's clock: SQS delivery, one
/// embedding and one `PutVectors`. On AWS that is well under a second; the local stack's queue
/// poller adds at most its 1 s long poll.
const SEARCHABLE_WITHIN: Duration = Duration::from_secs(2);

/// The time a JSON log line was written.
fn logged_at(line: &Value) -> time::OffsetDateTime {
    let text = line["timestamp"].as_str().expect("every log line has a timestamp");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).expect("an RFC 3339 timestamp")
}

#[tokio::test]
async fn a_new_market_is_found_first_within_two_seconds_of_its_write() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    for i in 0..50 {
        stack.create_market(&alice, &format!("{} (round {i})?", UNRELATED[i % UNRELATED.len()])).await;
    }
    let rain = stack.create_market(&alice, "Will it rain in Paris tomorrow?").await;
    let found = eventually(Duration::from_secs(20), async || {
        stack.search_ids("rain%20Paris", 5).await.first() == Some(&rain.id)
    })
    .await;
    assert!(found.is_some(), "not found first");
    // The worker's line for the job carries the id of the request that caused it.
    let request_id = rain.reply.header("x-request-id").unwrap();
    let written = logged_at(&stack.request_log(request_id));
    let rain_done = job_done(&rain.id);
    let logs = stack.logs_when(|logs| logs.iter().any(&rain_done));
    let indexed = logs.iter().find(|l| rain_done(l)).map(logged_at).expect("the job's line");
    let took = Duration::try_from(indexed - written).expect("indexed after the write");
    assert!(took < SEARCHABLE_WITHIN, "searchable {took:?} after the write was answered");
    println!("searchable {took:?} after the write was answered");
    let job_lines = logs.iter().filter(|l| rain_done(l)).count();
    let correlated = logs.iter().filter(|l| rain_done(l) && l["spans"].to_string().contains(request_id)).count();
    assert!(job_lines >= 1 && correlated == job_lines, "{job_lines} job lines, {correlated} with the request id");

    let reply = stack.get("/api/markets/search?q=rain%20Paris&limit=3").await;
    let scores: Vec<f64> =
        reply.body["data"].as_array().unwrap().iter().map(|m| m["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
    assert_eq!(reply.body["data"][0]["creator"]["id"], alice.id.as_str());
    // The rate limiter's call, one nearest-neighbour query, then the markets and their creators in
    // one batch read.
    let log = stack.request_log(reply.header("x-request-id").unwrap());
    let ops = (&log["vector_ops"], &log["dynamodb_ops"]);
    assert_eq!(ops, (&json!("QueryVectors"), &json!("UpdateItem,BatchGetItem")), "{log}");
    // Texts without a word of two letters still embed to a vector a cosine index takes.
    let one_letter = stack.create_market(&alice, "A").await;
    let found =
        eventually(Duration::from_secs(10), async || stack.search_ids("A", 5).await.first() == Some(&one_letter.id))
            .await;
    assert!(found.is_some(), "a market named \"A\" is indexed and found");
    assert_eq!(stack.get("/api/markets/search?q=%3F%21").await.status, StatusCode::OK);
    for bad in ["", "q=", "q=x&limit=0", "q=x&limit=51", &format!("q={}", "a".repeat(501))] {
        let reply = stack.get(&format!("/api/markets/search?{bad}")).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{bad}");
    }
}

#[tokio::test]
async fn jobs_written_while_sqs_is_down_are_all_delivered_when_it_returns() {
    let sqs = FaultProxy::for_moto();
    let stack = Stack::start_behind(&sqs, "SQS", &["--schedule-seconds", "1", "--env", "OUTBOX_GRACE_SECONDS=1"]);
    let alice = User::new(Role::User);
    sqs.inject(&[], Fault::Refuse, None);
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(stack.create_market(&alice, &format!("Outage market number {i} about volcanoes")).await.id);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(stack.search_ids("volcanoes", 50).await.is_empty(), "nothing reached the queue while it was down");

    // The relay and the sweeper keep trying (batches of up to 10 jobs, retried and bisected).
    let refused = eventually(Duration::from_secs(20), async || sqs.injected() >= 20).await;
    assert!(refused.is_some(), "the sends kept being refused: {}", sqs.injected());
    // The sweeps during the outage measured the jobs' wait: the outbox age alarm's metric.
    let waited = |line: &Value| line["OutboxOldestJobAge"].as_f64().is_some_and(|age| age >= 1.0);
    assert!(stack.logs_when(|logs| logs.iter().any(waited)).iter().any(waited), "no OutboxOldestJobAge >= 1 s");
    sqs.clear();
    let took = eventually(Duration::from_secs(20), async || {
        let mut found = stack.search_ids("volcanoes", 50).await;
        found.sort();
        let mut expected = ids.clone();
        expected.sort();
        found == expected
    })
    .await;
    assert!(took.is_some(), "every job sent once SQS was back");
}

/// Whether a log line is the outbox relay's for the job `op` ("Upsert", "Delete") of market `id`.
fn relayed<'a>(id: &'a str, op: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |line| line["message"] == "index job relayed" && line["market_id"] == id && line["op"] == op
}

/// The index jobs of market `id` still in the outbox (read with the tests' own credentials).
async fn outbox_jobs(stack: &Stack, id: &str) -> Vec<IndexJob> {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let table = format!("{}-OutboxTable", stack.prefix);
    let items = aws_sdk_dynamodb::Client::new(&aws).scan().table_name(table).send().await.expect("Scan");
    let job = |item: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>| {
        serde_json::from_str::<IndexJob>(item.get("job")?.as_s().ok()?).ok()
    };
    items.items().iter().filter_map(job).filter(|job| job.market_id == id).collect()
}

#[tokio::test]
async fn a_writes_job_reaches_the_worker_through_the_relay_and_the_write_sends_nothing() {
    // The sweeper runs every minute for jobs older than 30 s: whatever arrives sooner, the relay sent.
    let stack = Stack::start();
    let (alice, admin) = (User::new(Role::User), User::new(Role::Admin));
    let market = stack.create_market(&alice, "Will the relay carry the job: kestrels").await;
    let edit = stack.patch(&market.path).as_user(&alice).json(json!({"name": "Relayed edit: kestrels"})).await;
    assert_eq!(edit.status, StatusCode::OK, "{}", edit.text);
    let delete = stack.delete(&market.path).as_user(&admin).if_match("\"v2\"").await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT, "{}", delete.text);
    for reply in [&market.reply, &edit, &delete] {
        let log = stack.request_log(reply.header("x-request-id").unwrap());
        // The write ends at its transaction: no SQS send, no outbox delete on its path.
        assert_eq!(log["sqs_ops"], "", "{log}");
        assert!(!log["dynamodb_ops"].as_str().unwrap().contains("BatchWriteItem"), "{log}");
        println!("{}: DynamoDB {}, SQS [{}]", log["route"], log["dynamodb_ops"], log["sqs_ops"].as_str().unwrap());
    }
    let id = market.id.as_str();
    let (upserts, deletes, done) = (relayed(id, "Upsert"), relayed(id, "Delete"), job_done(id));
    let delivered = |logs: &[Value]| {
        logs.iter().filter(|l| upserts(l)).count() == 2
            && logs.iter().any(&deletes)
            && logs.iter().filter(|l| done(l)).count() == 3
    };
    let logs = stack.logs_within(Duration::from_secs(20), delivered);
    assert!(
        delivered(&logs),
        "the three jobs relayed and done: {:?}",
        logs.iter().filter(|l| l["market_id"] == id).collect::<Vec<_>>()
    );
    assert_eq!(outbox_jobs(&stack, id).await, [], "the relay removed what it sent from the outbox");
}

#[tokio::test]
async fn a_relay_that_cannot_reach_sqs_leaves_the_job_in_the_outbox_and_it_is_delivered_later() {
    let sqs = FaultProxy::for_moto();
    let stack = Stack::start_behind(&sqs, "SQS", &[]);
    let alice = User::new(Role::User);
    sqs.inject(&[], Fault::Refuse, None);
    let market = stack.create_market(&alice, "Will the relay wait out the queue: puffins").await;
    let not_sent = |line: &Value| line["message"] == "index jobs not sent; the stream retries them";
    assert!(
        stack.logs_within(Duration::from_secs(20), |logs| logs.iter().any(not_sent)).iter().any(not_sent),
        "the relay's send failed"
    );
    let waiting = outbox_jobs(&stack, &market.id).await;
    assert_eq!(waiting.len(), 1, "the unsent job stays in the outbox: {waiting:?}");
    assert!(!stack.logs().iter().any(job_done(&market.id)), "and nothing reached the worker");

    sqs.clear();
    let found =
        eventually(Duration::from_secs(40), async || stack.search_ids("puffins", 5).await.contains(&market.id)).await;
    assert!(found.is_some(), "the job was delivered once SQS answered again");
    let logs = stack.logs_when(|logs| logs.iter().any(relayed(&market.id, "Upsert")));
    assert!(logs.iter().any(relayed(&market.id, "Upsert")), "by the stream's retry of the relay");
    assert_eq!(outbox_jobs(&stack, &market.id).await, [], "and removed from the outbox");
    println!("faults injected: {}, the job kept in the outbox and relayed once SQS was back", sqs.injected());
}

#[tokio::test]
async fn poison_messages_go_to_the_dead_letter_queue_and_the_rest_are_processed_once() {
    let stack = Stack::start_with(&["--param", "IndexVisibilityTimeout=1"]);
    let alice = User::new(Role::User);
    let mut jobs = Vec::new();
    for i in 0..7 {
        let market = stack.create_market(&alice, &format!("Batch market {i}")).await;
        jobs.push(IndexJob::new(&market.id, 1, JobOp::Upsert));
    }
    let (sqs, queue) = stack.queue("IndexQueue").await;
    let (_, dead_letters) = stack.queue("IndexDeadLetterQueue").await;
    let mut bodies: Vec<String> = jobs.iter().map(|job| serde_json::to_string(job).unwrap()).collect();
    bodies.extend(["poison: not json".to_owned(), "{\"marketId\": 3}".to_owned(), "[]".to_owned()]);
    let mut sent = HashMap::new();
    for (i, body) in bodies.iter().enumerate() {
        let entry = aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
            .id(i.to_string())
            .message_body(body)
            .build()
            .unwrap();
        let output = sqs.send_message_batch().queue_url(&queue).entries(entry).send().await.unwrap();
        sent.insert(output.successful()[0].message_id().to_owned(), body.clone());
    }

    let mut dead: Vec<String> = Vec::new();
    let arrived = eventually(Duration::from_secs(30), async || {
        let output = sqs.receive_message().queue_url(&dead_letters).max_number_of_messages(10).send().await.unwrap();
        for message in output.messages() {
            dead.push(message.body().unwrap_or_default().to_owned());
            sqs.delete_message()
                .queue_url(&dead_letters)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        dead.len() >= 3
    })
    .await;
    assert!(arrived.is_some(), "poison messages reach the DLQ after maxReceiveCount: {dead:?}");
    dead.sort();
    assert_eq!(dead, ["[]", "poison: not json", "{\"marketId\": 3}"]);

    let done: Vec<Value> = stack.logs().into_iter().filter(|line| line["message"] == "job done").collect();
    for (message_id, body) in &sent {
        let processed = done.iter().filter(|line| line["spans"].to_string().contains(message_id.as_str())).count();
        let expected = if body.starts_with("{\"id\"") { 1 } else { 0 };
        assert_eq!(processed, expected, "message {body}");
    }
}

#[tokio::test]
async fn an_update_delivered_after_the_delete_does_not_bring_the_market_back() {
    let stack = Stack::start();
    let (alice, moderator) = (User::new(Role::User), User::new(Role::Moderator));
    let market = stack.create_market(&alice, "Will the glacier melt this summer?").await;
    let id = market.id.clone();
    assert!(
        eventually(Duration::from_secs(5), async || stack.search_ids("glacier", 5).await.contains(&id)).await.is_some()
    );

    let renamed =
        stack.patch(&market.path).as_user(&alice).json(json!({"name": "Will the glacier melt by autumn?"})).await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(stack.delete(&market.path).as_user(&moderator).await.status, StatusCode::NO_CONTENT);
    // Search drops hits whose market is gone, so it would hide a vector left behind: look at the
    // index itself, once the rename's and the delete's jobs (version 0: no If-Match) are done.
    let market_id = id.as_str();
    let done = |version: u64| {
        move |l: &Value| l["message"] == "job done" && l["market_id"] == market_id && l["version"] == version
    };
    let both = |logs: &[Value]| logs.iter().any(done(2)) && logs.iter().any(done(0));
    assert!(both(&stack.logs_when(both)), "the rename's and the delete's jobs are done");
    assert_eq!(stack.vector_entry(&id).await, None, "the delete removed the vector");

    // The rename's job, delivered again after the delete's, as SQS may.
    let (sqs, queue) = stack.queue("IndexQueue").await;
    let late = serde_json::to_string(&IndexJob::new(&id, 2, JobOp::Upsert)).unwrap();
    sqs.send_message().queue_url(&queue).message_body(late).send().await.unwrap();
    let twice = |logs: &[Value]| logs.iter().filter(|l| done(2)(l)).count() == 2;
    assert!(twice(&stack.logs_when(twice)), "the late job is done");
    assert_eq!(stack.vector_entry(&id).await, None, "the late job did not bring the vector back");
    assert!(!stack.search_ids("glacier", 5).await.contains(&id));
}

#[tokio::test]
async fn repeated_and_reordered_jobs_leave_the_latest_version_indexed() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will the comet be visible?").await;
    let id = market.id.clone();
    let renamed = stack.patch(&market.path).as_user(&alice).json(json!({"name": "Will the meteors peak?"})).await;
    assert_eq!(renamed.body["data"]["version"], 2, "{}", renamed.body);
    let closed = stack.patch(&market.path).as_user(&alice).json(json!({"status": "closed"})).await;
    assert_eq!(closed.body["data"]["version"], 3, "{}", closed.body);
    // Every version's job again, newest first and twice over, as SQS may redeliver them.
    let (sqs, queue) = stack.queue("IndexQueue").await;
    for version in [3, 2, 1, 3, 1] {
        let job = serde_json::to_string(&IndexJob::new(&id, version, JobOp::Upsert)).unwrap();
        sqs.send_message().queue_url(&queue).message_body(job).send().await.unwrap();
    }
    let jobs_done = || stack.logs().iter().filter(|l| job_done(&id)(l)).count();
    let all_done = eventually(Duration::from_secs(20), async || jobs_done() >= 8).await;
    assert!(all_done.is_some(), "3 jobs from the writes and 5 sent: {} done", jobs_done());
    assert_eq!(stack.vector_entry(&id).await, Some((3, "closed".to_owned())));
    assert!(stack.search_ids("meteors", 5).await.contains(&id));
}

/// An outbox item as a market change writes it, in its shard's partition (`job` may be anything, to
/// stand for a corrupt one).
fn outbox_item(id: &str, job: &str) -> HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let shard = markets_core::repo::listing::shard_of(id, markets_aws::settings::DEFAULT_WRITE_SHARDS);
    let queue = S(format!("index#{shard}"));
    HashMap::from([("queue".into(), queue), ("id".into(), S(id.into())), ("job".into(), S(job.into()))])
}

#[tokio::test]
async fn the_sweeper_skips_unreadable_items_and_leaves_recent_jobs_to_their_publisher() {
    // The sweeper alone: the relay cannot read the outbox's stream (its role lacks GetRecords), as
    // when it is down; it would send the job "written" in the future at once.
    let relay_down = ["--without-permission", "outbox-relay=dynamodb:GetRecords"];
    let stack =
        Stack::start_with(&[&["--schedule-seconds", "1", "--env", "OUTBOX_GRACE_SECONDS=5"], &relay_down[..]].concat());
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will the sweeper get past the corrupt items").await;
    let market_id = market.id.as_str();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let table = format!("{}-OutboxTable", stack.prefix);
    // More corrupt items than one sweep page (100), spread over the shards, all sorting before the
    // real jobs.
    let corrupt: Vec<String> = (0..120).map(|i| format!("00000000000000000000000{i:03}")).collect();
    for chunk in corrupt.chunks(25) {
        let writes = chunk.iter().map(|id| {
            let put =
                aws_sdk_dynamodb::types::PutRequest::builder().set_item(Some(outbox_item(id, "{not json"))).build();
            aws_sdk_dynamodb::types::WriteRequest::builder().put_request(put.unwrap()).build()
        });
        dynamodb.batch_write_item().request_items(&table, writes.collect()).send().await.unwrap();
    }
    // A job its publisher never sent (written a minute ago), and one "written" in the future, which
    // stays within the grace period for the whole test.
    let now = std::time::SystemTime::now();
    let job_at = |at: std::time::SystemTime| IndexJob {
        id: ulid::Ulid::from_datetime(at).to_string(),
        // A version no API write made, to tell its "job done" line from the create's.
        ..IndexJob::new(market_id, 7, JobOp::Upsert)
    };
    let (stranded, recent) = (job_at(now - Duration::from_secs(60)), job_at(now + Duration::from_secs(600)));
    for job in [&stranded, &recent] {
        let item = outbox_item(&job.id, &serde_json::to_string(job).unwrap());
        dynamodb.put_item().table_name(&table).set_item(Some(item)).send().await.unwrap();
    }
    let in_outbox = async |id: &str| {
        let key = outbox_item(id, "");
        let key = key.into_iter().filter(|(name, _)| name != "job").collect();
        dynamodb.get_item().table_name(&table).set_key(Some(key)).send().await.unwrap().item.is_some()
    };
    let swept = eventually(Duration::from_secs(20), async || !in_outbox(&stranded.id).await).await;
    assert!(swept.is_some(), "the stranded job was sent past 120 unreadable items");
    let sent = |l: &Value| l["message"] == "job done" && l["market_id"] == market_id && l["version"] == 7;
    let logs = stack.logs_when(|logs| logs.iter().any(sent));
    assert!(logs.iter().any(sent), "the worker indexed the swept job");
    assert!(in_outbox(&recent.id).await, "a job within its grace period is left to its publisher");
    assert!(in_outbox(&corrupt[0]).await, "unreadable items stay for someone to look at");
    let skipped = |l: &Value| l["message"] == "unreadable outbox item skipped: repair or delete it";
    assert!(logs.iter().filter(|l| skipped(l)).count() >= corrupt.len(), "each one is logged");
    assert!(
        logs.iter().any(|l| l["OutboxUnreadable"].as_f64().is_some_and(|n| n >= 120.0)),
        "and counted for the alarm"
    );
}
