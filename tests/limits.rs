//! Rate limiting on a shared DynamoDB counter, and the logs and metrics every request leaves, over
//! HTTP against the local stack.

use std::collections::HashSet;

use api_tests::{JWT_SECRET, Stack, User};
use markets_core::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WINDOW: u64 = 600;

/// Rate-limit settings for a stack: 10 per `WINDOW`, so a window boundary cannot fall mid-test
/// once [`away_from_window_end`] has waited.
const LIMITED: [&str; 4] = ["--env", "RATE_LIMIT_PER_MINUTE=10", "--env", "RATE_LIMIT_WINDOW_SECONDS=600"];

async fn away_from_window_end() {
    api_tests::away_from_window_end(WINDOW).await;
}

#[tokio::test]
async fn two_instances_share_one_limit() {
    away_from_window_end().await;
    let first = Stack::start_with(&LIMITED);
    // A second, separately started stack (its own gateway and function processes) on the same tables.
    let second = Stack::start_with_prefix(&first.prefix, &LIMITED);
    let alice = User::new(Role::User);
    let mut statuses = Vec::new();
    for i in 0..15 {
        let stack = if i % 2 == 0 { &first } else { &second };
        let reply = stack.get("/api/markets").as_user(&alice).await;
        assert_eq!(reply.header("ratelimit-limit"), Some("10"));
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(reply.error_code(), "RATE_LIMITED");
            let retry_after: u64 = reply.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=WINDOW).contains(&retry_after));
            assert_eq!(reply.header("ratelimit-remaining"), Some("0"));
        }
        statuses.push(reply.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 5);
    assert!(statuses[..10].iter().all(|s| *s == StatusCode::OK));
    // Health is exempt, even for the caller whose budget is spent.
    let health = first.get("/api/health").as_user(&alice).await;
    assert_eq!((health.status, health.header("ratelimit-limit")), (StatusCode::OK, None), "{}", health.text);
}

#[tokio::test]
async fn forwarded_for_headers_do_not_reset_an_anonymous_budget() {
    away_from_window_end().await;
    let stack = Stack::start_with(&LIMITED);
    let mut statuses = Vec::new();
    for i in 0..12 {
        let reply = stack.get("/api/markets").header("x-forwarded-for", format!("1.2.3.{i}")).await;
        statuses.push(reply.status);
    }
    assert_eq!(&statuses[10..], [StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS]);
}

#[tokio::test]
async fn unknown_paths_count_against_the_callers_limit() {
    away_from_window_end().await;
    let stack = Stack::start_with(&LIMITED);
    for _ in 0..5 {
        assert_eq!(stack.get("/api/markets").await.status, StatusCode::OK);
    }
    let mut statuses = Vec::new();
    for i in 0..7 {
        let reply = stack.get(&format!("/api/probing/{i}")).await;
        assert_eq!(reply.header("ratelimit-limit"), Some("10"), "{}", reply.text);
        statuses.push(reply.status);
    }
    assert_eq!(statuses[..5], [StatusCode::NOT_FOUND; 5]);
    assert_eq!(statuses[5..], [StatusCode::TOO_MANY_REQUESTS; 2]);
    assert_eq!(stack.get("/api/markets").await.status, StatusCode::TOO_MANY_REQUESTS, "one budget for all routes");
    assert_eq!(stack.get("/api/health").await.status, StatusCode::OK, "health stays exempt");
}

/// A table that is gone is a misconfiguration, not an outage: answered 500, not served unlimited
/// (an unreachable counter fails open: tests/hardening.rs).
#[tokio::test]
async fn requests_fail_when_the_limiter_table_is_gone() {
    let stack = Stack::start_with(&LIMITED);
    assert_eq!(stack.get("/api/markets").await.status, StatusCode::OK);
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    dynamodb.delete_table().table_name(format!("{}-RateLimitTable", stack.prefix)).send().await.unwrap();
    for _ in 0..12 {
        let reply = stack.get("/api/markets").await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"));
        assert_eq!(reply.header("ratelimit-limit"), None);
    }
    let is_error = |line: &Value| {
        line["level"] == "ERROR" && line["message"].as_str().unwrap_or("").contains("rate limiter failed")
    };
    let logged = stack.logs_when(|logs| logs.iter().any(is_error)).iter().any(is_error);
    assert!(logged, "an error is logged");
}

#[tokio::test]
async fn every_request_logs_one_line_and_one_metrics_record_and_no_secret() {
    let stack = Stack::start();
    let alice = User::new(Role::User);
    let token = alice.token();
    let mut request_ids = Vec::new();
    let created = stack.create_market(&alice, "Logged").await;
    for (method, path) in [
        (Method::GET, "/api/health"),
        (Method::GET, "/api/markets"),
        (Method::GET, created.path.as_str()),
        (Method::GET, "/api/markets/missing"),
        (Method::DELETE, "/api/markets"),
        (Method::PATCH, created.path.as_str()),
    ] {
        let reply = stack.request(method, path).bearer(&token).json(json!({"description": "d"})).await;
        request_ids.push(reply.header("x-request-id").unwrap().to_owned());
    }
    let logged = |logs: &[Value]| {
        request_ids.iter().all(|id| logs.iter().any(|l| l["message"] == "request" && l["request_id"] == id.as_str()))
    };
    let logs = stack.logs_when(logged);
    for request_id in &request_ids {
        let lines: Vec<&Value> =
            logs.iter().filter(|l| l["message"] == "request" && l["request_id"] == request_id.as_str()).collect();
        assert_eq!(lines.len(), 1, "one request line for {request_id}");
        for field in ["route", "status", "latency_ms", "lambda_request_id", "user_id", "cold_start"] {
            assert!(!lines[0][field].is_null(), "{field} in {}", lines[0]);
        }
        // Typed fields are JSON values, not their Debug text.
        let line = lines[0];
        assert!(line["status"].is_u64() && line["latency_ms"].is_number() && line["cold_start"].is_boolean(), "{line}");
        assert!(line["dynamodb_calls"].is_u64() && line.get("cache_hit").is_none_or(Value::is_boolean), "{line}");
        let metrics: Vec<&Value> =
            logs.iter().filter(|l| l["requestId"] == request_id.as_str() && l.get("_aws").is_some()).collect();
        assert_eq!(metrics.len(), 1, "one EMF record for {request_id}");
        let definition = &metrics[0]["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(definition["Namespace"], "MarketsApi");
        for metric in definition["Metrics"].as_array().unwrap() {
            assert!(metrics[0][metric["Name"].as_str().unwrap()].is_number(), "{metric} in {}", metrics[0]);
        }
    }
    let patch_line =
        logs.iter().find(|l| l["request_id"] == request_ids[5].as_str() && l["message"] == "request").unwrap();
    assert_eq!(patch_line["user_id"], alice.id.as_str());
    // Every DynamoDB call a request makes is counted, the rate limiter's first.
    let get_line =
        logs.iter().find(|l| l["request_id"] == request_ids[2].as_str() && l["message"] == "request").unwrap();
    assert_eq!(get_line["dynamodb_ops"].as_str().unwrap().split(',').next(), Some("UpdateItem"), "{get_line}");
    let health_line = logs.iter().find(|l| l["request_id"] == request_ids[0].as_str() && l["message"] == "request");
    assert_eq!(health_line.unwrap()["dynamodb_calls"], 0, "health has no limiter and no table");

    let everything = std::fs::read_to_string(&stack.log_file).unwrap();
    assert!(!everything.contains(JWT_SECRET), "the secret is never logged");
    assert!(!everything.contains(&token), "tokens are never logged");
    let ids: HashSet<&String> = request_ids.iter().collect();
    assert_eq!(ids.len(), request_ids.len());
}
