//! Log sampling (the template's `LogDebugSampleRate`): a request's debug lines (one per store call)
//! are off by default, written for every request at rate 1, and written for a request answered 5xx
//! (or an index worker batch with a failed job) whatever the rate.

use std::time::Duration;

use api_tests::{Fault, FaultProxy, Reply, Stack, User, job_failed};
use markets_core::domain::Role;
use reqwest::StatusCode;
use serde_json::Value;

/// The debug lines the function wrote while it handled `reply`'s request (those in its `request`
/// span), once its request line is in the log: debug lines come before it.
fn debug_lines(stack: &Stack, reply: &Reply) -> Vec<Value> {
    let request_id = reply.header("x-request-id").expect("every answer has a request id");
    stack.request_log(request_id);
    let in_request = |line: &Value| {
        line["spans"].as_array().is_some_and(|spans| spans.iter().any(|span| span["request_id"] == request_id))
    };
    stack.logs().into_iter().filter(|line| line["level"] == "DEBUG" && in_request(line)).collect()
}

/// Whether `lines` hold the debug line of a DynamoDB `operation` call.
fn has_store_call(lines: &[Value], operation: &str) -> bool {
    lines.iter().any(|line| line["message"] == "store call" && line["operation"] == operation)
}

#[tokio::test]
async fn at_rate_0_a_2xx_has_no_debug_lines_and_a_5xx_has_them() {
    let dynamodb = FaultProxy::for_moto();
    // Without the shared cache, so that the GET reads DynamoDB (and fails with it).
    let stack = Stack::start_behind(&dynamodb, "DYNAMODB", &["--no-cache", "--param", "LogDebugSampleRate=0"]);
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will the logs stay quiet?").await;

    let reply = stack.get(&market.path).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let lines = debug_lines(&stack, &reply);
    assert!(lines.is_empty(), "debug lines of a 200 at rate 0: {lines:?}");

    dynamodb.inject(&["DynamoDB_20120810.GetItem"], Fault::Error("ProvisionedThroughputExceededException"), None);
    let reply = stack.get(&market.path).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.text);
    let lines = debug_lines(&stack, &reply);
    assert!(has_store_call(&lines, "GetItem"), "the 503's debug lines show its GetItem: {lines:?}");
    println!("a 503 at rate 0 logged {} debug lines: {lines:?}", lines.len());
}

#[tokio::test]
async fn at_rate_1_a_2xx_has_its_debug_lines() {
    let stack = Stack::start_with(&["--no-cache", "--param", "LogDebugSampleRate=1"]);
    let alice = User::new(Role::User);
    let market = stack.create_market(&alice, "Will the logs speak up?").await;

    let reply = stack.get(&market.path).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let lines = debug_lines(&stack, &reply);
    assert!(has_store_call(&lines, "GetItem"), "a 200 at rate 1 logs its GetItem: {lines:?}");
}

#[tokio::test]
async fn at_rate_0_a_failed_index_job_has_its_debug_lines() {
    let vectors = FaultProxy::for_moto();
    let stack = Stack::start_behind(&vectors, "S3VECTORS", &["--param", "LogDebugSampleRate=0"]);
    vectors.inject(&[], Fault::Refuse, None);
    let market = stack.create_market(&User::new(Role::User), "Will the worker explain itself?").await;

    let put_vectors =
        |line: &Value| line["level"] == "DEBUG" && line["message"] == "store call" && line["operation"] == "PutVectors";
    // The batch's debug lines come once it is done, after its "job failed".
    let logs = stack.logs_within(Duration::from_secs(20), |logs| logs.iter().any(put_vectors));
    assert!(logs.iter().any(job_failed(&market.id)), "its job failed while S3 Vectors was down");
    assert!(logs.iter().any(put_vectors), "the failed batch's debug lines show its PutVectors");
}
