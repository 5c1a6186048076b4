//! AWS's limits, which the local gateway (dev/local.py) keeps as API Gateway and Lambda do, and what
//! they answer themselves, without the contract's envelope: `{"message": ...}` with API Gateway's
//! `apigw-requestid` and no `x-request-id`. A body over the HTTP API's 10 MB is a 413; an event over
//! Lambda's 6 MB, or an invocation over the function's reserved concurrency, is refused by Lambda,
//! which API Gateway answers with a 500; a throttled route is a 429; none of them reaches the
//! function. (A response over 6 MB and the 30 s integration timeout, which no route here reaches, are
//! pinned by dev/sim/tests: test_pool.py and test_gateway.py.)

use std::time::Duration;

use api_tests::{Fault, FaultProxy, Reply, Stack, User};
use markets_core::domain::Role;
use reqwest::StatusCode;

const TEN_MB: usize = 10 * 1024 * 1024;

#[tokio::test]
async fn bodies_over_10_mb_and_events_over_6_mb_never_reach_the_function() {
    let stack = Stack::start();
    // Over the HTTP API's payload quota: refused from its Content-Length, before anything is read.
    let request = format!("POST /api/markets HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", TEN_MB + 1);
    let (status, headers, body) = stack.raw(request.as_bytes());
    assert_eq!((status, body.as_str()), (413, r#"{"message":"Request Entity Too Large"}"#));
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert!(header("apigw-requestid").is_some() && header("x-request-id").is_none(), "{headers:?}");

    // Within the 10 MB but, as an event, over Lambda's 6 MB: a binary body is base64 in the event
    // (5 MB become 6.7 MB), and exactly 10 MB of text is 10 MB.
    let binary = stack.post("/api/markets").header("content-type", "application/json").body(vec![0xff_u8; 5 << 20]);
    let text = stack.post("/api/markets").json_text("a".repeat(TEN_MB));
    for (what, reply) in [("5 MB of binary", binary.await), ("10 MB of text", text.await)] {
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{what}: {}", reply.text);
        assert_eq!(reply.aws_message(), "Internal Server Error", "{what}");
    }
    assert_eq!(stack.function_pids("create-market"), Vec::<u32>::new(), "no instance was started");

    // 5 MB of text is a 5 MB event: the function gets it, and refuses it in the contract's envelope.
    let reply = stack.post("/api/markets").as_user(&User::new(Role::User)).json_text("a".repeat(5 << 20)).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"));
}

/// Asserts that the function logged `served` (by its request id) and never saw any of `refused`.
fn only_served_reached_the_function(stack: &Stack, served: &Reply, refused: &[&Reply]) {
    stack.request_log(served.header("x-request-id").expect("a function's answer has a request id"));
    let ids: Vec<&str> = refused.iter().map(|reply| reply.header("apigw-requestid").unwrap()).collect();
    let reached = stack.logs().into_iter().filter(|line| ids.iter().any(|id| line["request_id"] == *id)).count();
    assert_eq!(reached, 0, "a refused request reached the function");
}

#[tokio::test]
async fn a_throttled_route_is_api_gateways_429() {
    // One request at once, one more a second: of six sent together, the first passes.
    let stack = Stack::start_with(&["--param", "ApiThrottlingBurstLimit=1", "--param", "ApiThrottlingRateLimit=1"]);
    let replies = futures::future::join_all((0..6).map(|_| stack.get("/api/health").send())).await;
    let (served, refused): (Vec<&Reply>, Vec<&Reply>) = replies.iter().partition(|r| r.status == StatusCode::OK);
    assert!(!served.is_empty() && refused.len() >= 3, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    for reply in &refused {
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", reply.text);
        assert_eq!(reply.aws_message(), "Too Many Requests");
    }
    only_served_reached_the_function(&stack, served[0], &refused);
}

#[tokio::test]
async fn an_invocation_over_the_functions_reserved_concurrency_is_api_gateways_500() {
    // list-markets may run once at a time; its first DynamoDB call is held 3 s, so the first request
    // is still running when the second comes.
    let proxy = FaultProxy::for_moto();
    let endpoint = format!("AWS_ENDPOINT_URL_DYNAMODB={}", proxy.url);
    let stack = Stack::start_with(&["--env", &endpoint, "--param", "ReadRouteConcurrency=1"]);
    proxy.inject(&[], Fault::Delay(Duration::from_secs(3)), Some(1));
    let (first, second) = futures::join!(stack.get("/api/markets").send(), stack.get("/api/markets").send());
    let (served, refused) = if first.status == StatusCode::OK { (&first, &second) } else { (&second, &first) };
    assert_eq!(
        (served.status, refused.status),
        (StatusCode::OK, StatusCode::INTERNAL_SERVER_ERROR),
        "{}",
        refused.text
    );
    assert_eq!(refused.aws_message(), "Internal Server Error");
    only_served_reached_the_function(&stack, served, &[refused]);
    // Lambda throttled it (the function is fine): once the first is done, the next one runs.
    assert_eq!(stack.get("/api/markets").await.status, StatusCode::OK);
}
