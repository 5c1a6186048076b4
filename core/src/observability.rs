//! Logs and metrics: JSON logs for CloudWatch, per-request facts (the DynamoDB calls a request
//! made, so N+1 reads show in its log line; cache hits and misses), and metrics in CloudWatch's
//! Embedded Metric Format (JSON lines on stdout that CloudWatch turns into metrics, no API calls).

mod debug_sampling;
pub mod xray;

use std::cell::RefCell;
use std::future::Future;

pub use debug_sampling::{flush_debug_lines, with_sampled_debug};

/// JSON logs, and traces for `traces` if given (see [`xray`]); the levels come from `RUST_LOG` or
/// Lambda's `AWS_LAMBDA_LOG_LEVEL`: `level`, or `level,target=level,...` (tracing-subscriber's
/// `Targets`, which links no regular-expression engine, unlike its `EnvFilter`); anything else
/// means `info`. The project's debug lines are
/// sampled per invocation besides (see [`with_sampled_debug`]).
pub fn init_logging(traces: Option<xray::Exporter>) {
    use tracing_subscriber::fmt::format::{Format, Json, JsonFields};
    use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
    use tracing_subscriber::util::SubscriberInitExt as _;

    let directives = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|level| level.to_lowercase()))
        .unwrap_or_default();
    let info = || tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO);
    let levels = match directives.trim() {
        "" => info(),
        directives => directives.parse().unwrap_or_else(|_| info()),
    };
    debug_sampling::init_sample_rate();
    fn json<S>() -> tracing_subscriber::fmt::Layer<S, JsonFields, Format<Json>>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_subscriber::fmt::layer().json().with_target(false).with_current_span(false).flatten_event(true)
    }
    let written = json().with_filter(debug_sampling::Sampling { levels: levels.clone(), held: false });
    let held =
        json().with_writer(|| debug_sampling::HeldWriter).with_filter(debug_sampling::Sampling { levels, held: true });
    let _ = tracing_subscriber::registry().with(written).with(held).with(traces.map(xray::layer)).try_init();
}

/// What one request did, collected while it runs.
#[derive(Debug, Default, Clone)]
pub struct RequestFacts {
    /// DynamoDB operations called, in order (once per call, not per retry attempt).
    pub dynamodb_ops: Vec<String>,
    /// S3 Vectors operations called, the same way.
    pub vector_ops: Vec<String>,
    /// SQS operations called, the same way.
    pub sqs_ops: Vec<String>,
    /// Whether a cache answered (`Some(true)`), was asked and missed (`Some(false)`), or not asked.
    pub cache_hit: Option<bool>,
    /// Every AWS call's operation by the round trip it waited for: a call is in round n + 1 when
    /// the deepest call that had ended before it started was in round n, so calls made at the same
    /// time share a round and `rounds.len()` is how many round trips the request waited for one
    /// after the other (a call made after another only by chance counts as waiting for it).
    pub rounds: Vec<Vec<String>>,
    /// The deepest round of a call that has ended.
    deepest_ended: usize,
}

impl RequestFacts {
    /// The rounds as one line: operations of a round joined by `,`, rounds by ` | `.
    pub fn rounds_line(&self) -> String {
        self.rounds.iter().map(|round| round.join(",")).collect::<Vec<_>>().join(" | ")
    }
}

tokio::task_local! {
    static FACTS: RefCell<RequestFacts>;
    static REQUEST_ID: String;
}

/// Notes a cache lookup of the current request.
pub fn note_cache(hit: bool) {
    let _ = FACTS.try_with(|facts| facts.borrow_mut().cache_hit = Some(hit));
}

/// Runs `work` as the handling of request `request_id` (see [`current_request_id`]).
pub async fn with_request_id<F: Future>(request_id: String, work: F) -> F::Output {
    REQUEST_ID.scope(request_id, work).await
}

/// The id of the API request being handled, if any: index jobs carry it to the worker's logs.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `work` and returns, with its output, what it did.
pub async fn record_facts<F: Future>(work: F) -> (F::Output, RequestFacts) {
    FACTS
        .scope(RefCell::new(RequestFacts::default()), async {
            let output = work.await;
            (output, FACTS.with(|facts| facts.take()))
        })
        .await
}

/// An AWS service whose calls a request's facts list.
#[derive(Debug, Clone, Copy)]
pub enum Store {
    DynamoDb,
    S3Vectors,
    Sqs,
    /// Counted in the rounds only.
    Bedrock,
}

/// The round trip a call is in (see [`RequestFacts::rounds`]), from its start to its end.
#[derive(Debug, Clone, Copy)]
pub struct CallRound(usize);

/// Notes the start of one call of `operation` on `store` in the current request (once per call,
/// not per retry attempt: the adapters' clients call this), and returns its round, which
/// [`note_call_ended`] takes at its end; `None` outside a request (the seed tool, say).
pub fn note_store_call(store: Store, operation: String) -> Option<CallRound> {
    tracing::debug!(store = ?store, operation = %operation, "store call");
    FACTS
        .try_with(|facts| {
            let mut facts = facts.borrow_mut();
            let round = facts.deepest_ended + 1;
            if facts.rounds.len() < round {
                facts.rounds.resize_with(round, Vec::new);
            }
            facts.rounds[round - 1].push(operation.clone());
            match store {
                Store::DynamoDb => facts.dynamodb_ops.push(operation),
                Store::S3Vectors => facts.vector_ops.push(operation),
                Store::Sqs => facts.sqs_ops.push(operation),
                Store::Bedrock => {}
            }
            CallRound(round)
        })
        .ok()
}

/// Notes the end (answered or failed) of a call [`note_store_call`] noted.
pub fn note_call_ended(round: CallRound) {
    let _ = FACTS.try_with(|facts| {
        let mut facts = facts.borrow_mut();
        facts.deepest_ended = facts.deepest_ended.max(round.0);
    });
}

const NAMESPACE: &str = "MarketsApi";

/// One Embedded Metric Format line: `metrics` (name, unit, value) under the `dimension` named
/// `dimension_name`, plus `properties` that are searchable in Logs Insights but are not metrics.
fn emit_emf(dimension_name: &str, dimension: &str, metrics: &[(&str, &str, f64)], properties: serde_json::Value) {
    let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let definitions: Vec<_> =
        metrics.iter().map(|(name, unit, _)| serde_json::json!({"Name": name, "Unit": unit})).collect();
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": [[dimension_name]], "Metrics": definitions }],
        },
        dimension_name: dimension,
    });
    for (name, _, value) in metrics {
        line[*name] = serde_json::json!(value);
    }
    if let (Some(line), serde_json::Value::Object(properties)) = (line.as_object_mut(), properties) {
        line.extend(properties);
    }
    println!("{line}");
}

/// The metrics of one API request.
pub struct RequestMetrics<'a> {
    pub route: &'a str,
    pub request_id: &'a str,
    pub status: u16,
    pub latency_ms: f64,
    pub rate_limited: bool,
    pub cold_start: bool,
    pub facts: &'a RequestFacts,
}

pub fn emit_request_metrics(m: &RequestMetrics<'_>) {
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    emit_emf(
        "Route",
        m.route,
        &[
            ("Requests", "Count", 1.0),
            ("Latency", "Milliseconds", m.latency_ms),
            ("Status4xx", "Count", flag((400..500).contains(&m.status))),
            ("Status5xx", "Count", flag(m.status >= 500)),
            ("RateLimited", "Count", flag(m.rate_limited)),
            ("CacheHits", "Count", flag(m.facts.cache_hit == Some(true))),
            ("CacheMisses", "Count", flag(m.facts.cache_hit == Some(false))),
            ("ColdStarts", "Count", flag(m.cold_start)),
            ("DynamoDBCalls", "Count", m.facts.dynamodb_ops.len() as f64),
        ],
        serde_json::json!({ "requestId": m.request_id, "status": m.status }),
    );
}

/// The metrics of one index worker batch.
pub fn emit_job_metrics(processed: usize, failed: usize, cold_start: bool) {
    emit_emf(
        "Function",
        "index-worker",
        &[
            ("JobsProcessed", "Count", processed as f64),
            ("JobsFailed", "Count", failed as f64),
            ("ColdStarts", "Count", if cold_start { 1.0 } else { 0.0 }),
        ],
        serde_json::json!({}),
    );
}

/// The metrics of one outbox sweep; `OutboxUnreadable` has an alarm (template.yaml).
pub fn emit_sweep_metrics(sent: usize, unreadable: usize) {
    emit_emf(
        "Function",
        "outbox-sweeper",
        &[("OutboxSwept", "Count", sent as f64), ("OutboxUnreadable", "Count", unreadable as f64)],
        serde_json::json!({}),
    );
}

/// The age of the oldest index job in the outbox (0 if none waits past the sweeper's grace);
/// `OutboxOldestJobAge` has an alarm (template.yaml).
pub fn emit_outbox_age(age: std::time::Duration) {
    emit_emf(
        "Function",
        "outbox-sweeper",
        &[("OutboxOldestJobAge", "Seconds", age.as_secs_f64())],
        serde_json::json!({}),
    );
}

/// One request served without a rate limit because the counter was unreachable (fail open);
/// `RateLimiterUnreachable` has an alarm (template.yaml).
pub fn emit_rate_limiter_unreachable() {
    emit_emf("Component", "rate-limiter", &[("RateLimiterUnreachable", "Count", 1.0)], serde_json::json!({}));
}

/// One write whose cache refresh did not land (answered 503, see `cache::refresh_after_commit`);
/// `CacheRefreshLost` has an alarm (template.yaml).
pub fn emit_cache_refresh_lost() {
    emit_emf("Component", "cache", &[("CacheRefreshLost", "Count", 1.0)], serde_json::json!({}));
}

/// True the first time it is called in this process: the invocation that paid the cold start.
pub fn first_invocation() -> bool {
    static SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    !SEEN.swap(true, std::sync::atomic::Ordering::Relaxed)
}
