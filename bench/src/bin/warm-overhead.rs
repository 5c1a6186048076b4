//! The warm overhead of a route function's request path, with the network taken away: the sample
//! event of each route (events/) parsed as lambda_http parses it, then the whole request pipeline (token,
//! rate limit, routing, the handler and its service over the in-memory repositories, error mapping,
//! the JSON log line, the Lambda response). Issue 11's target: p99 ≤ 1 ms.
//!
//! `target/release/warm-overhead [REQUESTS] [--traced] > /dev/null`: the figures go to stderr, the
//! functions' log lines to stdout (written, as in Lambda, then discarded). With `--traced` every
//! request is in a sampled X-Ray trace and its segment document goes as a UDP datagram to a receiver
//! of the benchmark's own, as to Lambda's X-Ray daemon: the difference to a run without it is what
//! tracing costs a request (issue 21's budget: p99 at most 0.1 ms more).

use std::future::Future;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lambda_http::{Request, RequestExt as _};
use markets_core::repo::memory::InMemoryStore;
use markets_core::service::RateLimit;
use markets_core::service::{Dependencies, RateLimiter};
use markets_lambda::app::AppState;
use markets_lambda::auth::{Authenticator, Caller};
use markets_lambda::config::{ClaimRules, LOCAL_DEV_JWT_SECRET};
use markets_lambda::error::ApiError;
use markets_lambda::http::{ApiResponse, CursorCodec};
use markets_lambda::routes;
use markets_lambda::runtime::Pipeline;
use serde_json::Value;

/// The market id the sample events name.
const SAMPLE_ID: &str = "01JDZQ8G4X5R7N2M3K4P5Q6R7S";

/// A route's sample event, as text, with `edit` applied.
fn event(name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("sample event")).unwrap();
    edit(&mut event);
    event.to_string()
}

fn pipeline<S>(service: S) -> Pipeline<S> {
    let auth = Authenticator::with_secret(LOCAL_DEV_JWT_SECRET.as_bytes(), &ClaimRules::default());
    // The in-memory counter, with a limit no run reaches: every request still counts.
    let limiter =
        RateLimiter::new(Arc::new(InMemoryStore::default()), RateLimit { limit: u64::MAX, window_seconds: 60 });
    Pipeline::new(auth, limiter, AppState::new(service, Some(CursorCodec::new(b"warm-overhead-cursor-key-0123456789"))))
}

/// A receiver on the X-Ray daemon's UDP port: its address, and the datagrams it has received.
fn daemon() -> (String, Arc<AtomicUsize>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
    let address = socket.local_addr().unwrap().to_string();
    let received = Arc::new(AtomicUsize::new(0));
    let counted = received.clone();
    std::thread::spawn(move || {
        let mut datagram = vec![0; 65536];
        while socket.recv(&mut datagram).is_ok() {
            counted.fetch_add(1, Ordering::Relaxed);
        }
    });
    (address, received)
}

/// p50 and p99 of `requests` requests through `pipeline`, taking `events` in turn, each answered
/// with `status`; with `traced`, each in a sampled trace of its own, as Lambda hands it over.
async fn measure<'a, S, F, Fut>(
    pipeline: &'a Pipeline<S>,
    handler: F,
    events: &[String],
    status: u16,
    (requests, traced): (usize, bool),
) -> (Duration, Duration)
where
    F: Fn(&'a AppState<S>, Caller, Request) -> Fut,
    Fut: Future<Output = Result<ApiResponse, ApiError>>,
{
    let mut times = Vec::with_capacity(requests);
    for i in 0..requests {
        let event = &events[i % events.len()];
        let mut context = lambda_runtime::Context::default();
        if traced {
            context.xray_trace_id = Some(format!("Root=1-6751a2c0-{i:024x};Parent={i:016x};Sampled=1"));
        }
        let started = Instant::now();
        let request = lambda_http::request::from_str(event).expect("an API Gateway v2 event");
        let request = request.with_lambda_context(context);
        let response = pipeline.handle(&handler, request).await;
        times.push(started.elapsed());
        assert_eq!(response.status().as_u16(), status, "{event}");
    }
    times.sort();
    (times[requests / 2], times[requests * 99 / 100])
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let traced = args.iter().any(|arg| arg == "--traced");
    let requests: usize =
        args.iter().find(|arg| *arg != "--traced").map_or(5000, |n| n.parse().expect("a number of requests"));
    let daemon = traced.then(daemon);
    markets_core::observability::init_logging(daemon.as_ref().map(|(address, _)| {
        markets_lambda::xray_daemon::exporter_to(address, "warm-overhead".into()).expect("the receiver's address")
    }));
    let run = (requests, traced);
    let dependencies = Dependencies::in_memory();
    let (writes, reads) = (pipeline(dependencies.market_service()), pipeline(dependencies.market_reads()));
    let positions = pipeline(dependencies.position_service());

    // One market to read, edit and take positions on.
    let created = writes
        .handle(&routes::create_market, lambda_http::request::from_str(&event("create-market", |_| ())).unwrap())
        .await;
    let body: Value = match created.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("{other:?}"),
    };
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    // The sample events name one market id: this run's market instead.
    let at_id = |name: &str, body: Option<&str>| {
        let text = event(name, |event| {
            if let Some(body) = body {
                event["body"] = body.into();
            }
            if let Some(headers) = event["headers"].as_object_mut() {
                headers.remove("idempotency-key");
                headers.remove("if-match");
            }
        });
        text.replace(SAMPLE_ID, &id)
    };
    let no_key =
        |name: &str| event(name, |event| drop(event["headers"].as_object_mut().map(|h| h.remove("idempotency-key"))));

    // Every edit writes: two names in turn.
    let renames = [
        at_id("update-market", Some(r#"{"name": "Rain in Paris?"}"#)),
        at_id("update-market", Some(r#"{"name": "Rain in Lyon?"}"#)),
    ];
    let rows = [
        ("get-market", measure(&reads, routes::get_market, &[at_id("get-market", None)], 200, run).await),
        ("list-markets", measure(&reads, routes::list_markets, &[event("list-markets", |_| ())], 200, run).await),
        (
            "create-position",
            measure(&positions, routes::create_position, &[at_id("create-position", None)], 201, run).await,
        ),
        ("update-market", measure(&writes, routes::update_market, &renames, 200, run).await),
        ("create-market", measure(&writes, routes::create_market, &[no_key("create-market")], 201, run).await),
    ];
    let tracing = match daemon {
        Some((_, received)) => {
            std::thread::sleep(Duration::from_millis(200)); // the last datagrams reach the receiver
            format!("each traced, {} segment documents received", received.load(Ordering::Relaxed))
        }
        None => "untraced".into(),
    };
    eprintln!(
        "warm overhead over in-memory repositories, {requests} requests per route, {tracing} (target: p99 <= 1 ms)"
    );
    eprintln!("{:<16} {:>10} {:>10}", "route", "p50", "p99");
    for (route, (p50, p99)) in rows {
        let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
        eprintln!(
            "{route:<16} {:>10} {:>10}{}",
            ms(p50),
            ms(p99),
            if p99 > Duration::from_millis(1) { "  over target" } else { "" }
        );
    }
}
