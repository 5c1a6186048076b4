//! The edge of the API as the local gateway (dev/local.py) serves it: CORS from template.yaml's
//! CorsConfiguration, every HTTP method routed, the gateway's own errors (malformed requests sent as
//! raw bytes) in the contract's shape, each with a request id, and a function that cannot start
//! answered as API Gateway does (AWS's limits: tests/aws_limits.rs).

use std::collections::HashSet;

use api_tests::{Reply, Stack};
use reqwest::{Method, StatusCode};

const ORIGIN: &str = "https://app.example.com";
const ALLOWED_METHODS: &str = "GET,POST,PUT,PATCH,DELETE";
const ALLOWED_HEADERS: &str = "authorization,content-type,if-match,if-none-match,idempotency-key";
const EXPOSED_HEADERS: [&str; 7] =
    ["etag", "location", "x-request-id", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after"];

async fn preflight(stack: &Stack, path: &str, origin: &str, method: &str) -> Reply {
    stack
        .request(Method::OPTIONS, path)
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "authorization,content-type,idempotency-key")
        .await
}

async fn with_origin(stack: &Stack, method: Method, path: &str, origin: &str) -> Reply {
    stack.request(method, path).header("origin", origin).await
}

#[tokio::test]
async fn cors_preflights_are_answered_by_the_gateway_and_responses_expose_the_contract_headers() {
    let stack = Stack::start();
    for (path, method) in
        [("/api/markets", "POST"), ("/api/markets/01J0000000000000000000000", "PATCH"), ("/nowhere", "GET")]
    {
        let reply = preflight(&stack, path, ORIGIN, method).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{path}: {}", reply.text);
        assert_eq!(reply.text, "");
        assert!(reply.header("x-request-id").is_some());
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        assert_eq!(reply.header("access-control-allow-methods"), Some(ALLOWED_METHODS));
        assert_eq!(reply.header("access-control-allow-headers"), Some(ALLOWED_HEADERS));
        assert_eq!(reply.header("access-control-max-age"), Some("600"));
    }

    // Actual responses, successes and errors alike, name the headers a browser script may read.
    for (method, path, status) in [
        (Method::GET, "/api/markets", StatusCode::OK),
        (Method::GET, "/api/markets/01J0000000000000000000000", StatusCode::NOT_FOUND),
        (Method::DELETE, "/api/markets", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let reply = with_origin(&stack, method, path, ORIGIN).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text);
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        let exposed: HashSet<&str> = reply.header("access-control-expose-headers").unwrap().split(',').collect();
        assert_eq!(exposed, HashSet::from(EXPOSED_HEADERS));
    }
    let without_origin = stack.get("/api/markets").await;
    assert_eq!(without_origin.header("access-control-allow-origin"), None, "CORS headers answer an Origin");
}

#[tokio::test]
async fn only_the_configured_origins_are_allowed() {
    let stack = Stack::start_with(&["--param", &format!("CorsAllowedOrigins={ORIGIN},http://*")]);
    for origin in [ORIGIN, "http://localhost:5173"] {
        let reply = preflight(&stack, "/api/markets", origin, "POST").await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        assert_eq!(reply.header("access-control-allow-origin"), Some(origin), "echoed, not *");
        assert_eq!(reply.header("vary"), Some("origin"));
        let reply = with_origin(&stack, Method::GET, "/api/markets", origin).await;
        assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
    }
    let foreign = "https://evil.example";
    let reply = preflight(&stack, "/api/markets", foreign, "POST").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.header("access-control-allow-origin"), None, "a foreign origin gets no permission");
    assert_eq!(reply.header("access-control-allow-methods"), None);
    let reply = with_origin(&stack, Method::GET, "/api/markets", foreign).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("access-control-allow-origin"), None);
}

/// Asserts the contract's error envelope with the response's request id, and returns the code.
fn envelope_code(headers: &[(String, String)], body: &str) -> String {
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("a JSON body: {body:?}"));
    let request_id = headers.iter().find(|(name, _)| name == "x-request-id").map(|(_, v)| v.as_str());
    assert!(request_id.is_some_and(|id| !id.is_empty()), "{headers:?}");
    assert_eq!(body["requestId"].as_str(), request_id);
    assert_eq!(body["success"], false);
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    body["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn any_method_on_a_known_path_is_a_405_listing_each_allowed_method_once() {
    let stack = Stack::start();
    let cases = [
        ("TRACE", "/api/markets", "GET, POST"),
        ("CONNECT", "/api/markets", "GET, POST"),
        ("BREW", "/api/markets/01J0000000000000000000000", "GET, PUT, PATCH, DELETE"),
        ("OPTIONS", "/api/markets/01J0000000000000000000000/positions", "POST, GET"),
    ];
    for (method, path, allow) in cases {
        let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (status, headers, body) = stack.raw(request.as_bytes());
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert_eq!(envelope_code(&headers, &body), "METHOD_NOT_ALLOWED");
        let allowed: Vec<&str> = headers.iter().find(|(n, _)| n == "allow").unwrap().1.split(", ").collect();
        let unique: HashSet<&str> = allowed.iter().copied().collect();
        assert_eq!(unique.len(), allowed.len(), "each method once: {allowed:?}");
        assert_eq!(unique, allow.split(", ").collect(), "{method} {path}");
    }
}

#[tokio::test]
async fn the_gateways_own_errors_carry_a_request_id_and_the_envelope() {
    let stack = Stack::start();
    let long_header = format!("GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(70_000));
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let cases: [(&str, Vec<u8>, u16, &str); 7] = [
        ("garbage", b"GARBAGE\r\n\r\n".to_vec(), 400, "BAD_REQUEST"),
        ("HTTP/0.9", b"GET /api/health\r\n\r\n".to_vec(), 400, "BAD_REQUEST"),
        ("a method that is no token", b"G@T /api/health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400, "BAD_REQUEST"),
        ("HTTP/2.0 in plain text", b"GET /api/health HTTP/2.0\r\n\r\n".to_vec(), 505, "INTERNAL"),
        ("a 70 KB header", long_header.into_bytes(), 431, "BAD_REQUEST"),
        ("a 70 KB request target", long_target.into_bytes(), 414, "BAD_REQUEST"),
        (
            "a negative Content-Length",
            b"POST /api/markets HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".to_vec(),
            400,
            "BAD_REQUEST",
        ),
    ];
    for (what, request, expected_status, expected_code) in cases {
        let (status, headers, body) = stack.raw(&request);
        assert_eq!(status, expected_status, "{what}: {body}");
        assert_eq!(envelope_code(&headers, &body), expected_code, "{what}");
    }
}

#[tokio::test]
async fn a_function_that_cannot_start_is_api_gateways_own_500() {
    // Every market function refuses to start with a short secret (read from Secrets Manager at cold
    // start); health needs none. An HTTP API answers a failed Lambda invocation itself, without the
    // contract's envelope.
    let stack = Stack::start_with(&["--secret", "JwtSecret=short"]);
    let reply = stack.get("/api/markets").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", reply.text);
    assert_eq!(reply.aws_message(), "Internal Server Error");
    assert_eq!(stack.get("/api/health").await.status, StatusCode::OK);
    let refusal = |line: &serde_json::Value| {
        line["message"] == "refusing to start"
            && line["error"].as_str().is_some_and(|e| e.contains("at least 32 bytes"))
    };
    assert!(stack.logs_when(|logs| logs.iter().any(refusal)).iter().any(refusal), "the reason is logged");
}
