//! The Lambda adapters: a route handler, the index worker, the outbox relay or sweeper turned into a
//! Lambda function. Logging and the function's dependencies are set up once per cold start (see
//! [`crate::wiring`]), then every request goes through the same pipeline: request id, rate limit,
//! authentication, error mapping and one log line.
//!
//! Every function's `main` runs on tokio's current-thread runtime: Lambda hands an instance one
//! invocation at a time, and the multi-thread runtime's worker threads cost peak memory (0.3 MB
//! in get-market and in the floor, by `dev/bench-cold`) for no throughput. Calls still overlap:
//! they wait on the network, not on a core.

use std::future::Future;
use std::pin::pin;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::future::{self, Either};
use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, RequestExt as _, Response, service_fn};
use tracing::{Instrument, Span};

use crate::app::AppState;
use crate::auth::{Authenticator, Caller};
use crate::error::ApiError;
use crate::http::{ApiResponse, ReadyResponse, request_id, route_key, source_ip};
use crate::routes::{check_route, is_cors_preflight};
use crate::wiring::Wiring;
use markets_core::error::{BoxError, error_chain};
use markets_core::jobs::JobPublisher;
use markets_core::jobs::worker::{Indexer, JobMessage};
use markets_core::observability::xray::{self, Place, TraceHeader};
use markets_core::observability::{
    RequestMetrics, emit_request_metrics, first_invocation, flush_debug_lines, record_facts, with_request_id,
    with_sampled_debug,
};
use markets_core::retry::within_deadline;
use markets_core::service::{Admission, Quota, RateLimiter, WriteGate};

/// How long an invocation that came without a usable deadline may take: the template's Timeout of
/// the functions that read their deadline (the index worker and the outbox sweeper, 30 s); the
/// worker starts no job with less than one job's worst case left, which is more than 10 s.
const TIMEOUT_WITHOUT_DEADLINE: Duration = Duration::from_secs(30);

/// What a request keeps of its invocation's time to answer after its last retry gives up.
const ANSWER_MARGIN: Duration = Duration::from_millis(250);

/// The instant a Lambda invocation must be done by. Lambda's deadline is when the invocation
/// started plus the function's timeout, so it is never past on arrival; one that is came from an
/// emulator that gives none (`cargo lambda watch` sends 600,000 ms after 1970), and the invocation
/// gets [`TIMEOUT_WITHOUT_DEADLINE`] instead of failing every job as too late.
fn deadline(context: &lambda_runtime::Context) -> Instant {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let left = context.deadline.checked_sub(now_ms).filter(|ms| *ms > 0).map(Duration::from_millis);
    Instant::now() + left.unwrap_or(TIMEOUT_WITHOUT_DEADLINE)
}

/// `span`, one invocation of a function an event source or schedule invokes, as a subsegment of
/// the function segment Lambda traced the invocation in (when it is sampled).
fn traced_invocation(span: Span, context: &lambda_runtime::Context) -> Span {
    if let Some(header) = context.xray_trace_id.as_deref().and_then(TraceHeader::parse) {
        xray::start(&span, &header, Place::Subsegment);
    }
    span
}

/// Builds what a function needs at cold start, or logs why it refuses to start.
async fn start<T: 'static>(build: impl AsyncFnOnce(&Wiring) -> Result<T, BoxError>) -> Result<&'static T, BoxError> {
    markets_core::observability::init_logging(crate::xray_daemon::exporter());
    let built = async {
        let wiring = Wiring::from_env().await?;
        // The connection opens while the function reads its secrets and builds its clients.
        let (built, ()) = tokio::join!(build(&wiring), wiring.open_dynamodb_connection());
        built
    }
    .await;
    match built {
        Ok(built) => Ok(Box::leak(Box::new(built))),
        Err(error) => {
            tracing::error!(error = %error_chain(error.as_ref()), "refusing to start");
            Err(error)
        }
    }
}

/// Runs the index worker: SQS batches in, partial batch failures out.
pub async fn serve_index_worker(
    build: impl AsyncFnOnce(&Wiring) -> Result<Indexer, BoxError>,
) -> Result<(), lambda_runtime::Error> {
    let indexer = start(build).await?;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
        let deadline = deadline(&event.context);
        let (cold_start, jobs) = (first_invocation(), event.payload.records.len());
        let span = traced_invocation(tracing::debug_span!("batch", jobs), &event.context);
        let failed = with_sampled_debug(async {
            let failed = indexer.handle_batch(job_messages(event.payload), deadline).await;
            if !failed.is_empty() {
                flush_debug_lines();
            }
            failed
        })
        .instrument(span)
        .await;
        markets_core::observability::emit_job_metrics(jobs - failed.len(), failed.len(), cold_start);
        Ok::<_, lambda_runtime::Error>(batch_response(failed))
    }))
    .await
}

/// An SQS batch as the worker takes it.
fn job_messages(event: SqsEvent) -> Vec<JobMessage> {
    let message = |message: SqsMessage| JobMessage {
        request_id: message
            .message_attributes
            .get("requestId")
            .and_then(|attribute| attribute.string_value.clone())
            .unwrap_or_default(),
        trace_header: message.attributes.get("AWSTraceHeader").cloned(),
        message_id: message.message_id.unwrap_or_default(),
        body: message.body,
    };
    event.records.into_iter().map(message).collect()
}

/// The partial batch response: the messages SQS must deliver again.
fn batch_response(failed: Vec<String>) -> SqsBatchResponse {
    let failure = |message_id| {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = message_id;
        failure
    };
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed.into_iter().map(failure).collect();
    response
}

/// Runs the outbox relay: batches of the outbox table's stream in, the new items' jobs sent to the
/// queue, and the record to retry from (the first job not sent) out as a partial batch failure.
pub async fn serve_outbox_relay(
    build: impl AsyncFnOnce(&Wiring) -> Result<JobPublisher, BoxError>,
) -> Result<(), lambda_runtime::Error> {
    let publisher = start(build).await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let records = event.payload["Records"].as_array().map(Vec::as_slice).unwrap_or_default();
            let items: Vec<_> = records.iter().filter_map(markets_aws::dynamodb::streamed_job).collect();
            let mut response = DynamoDbEventResponse::default();
            let span = traced_invocation(tracing::debug_span!("relay", records = records.len()), &event.context);
            if let Some(sequence_number) = publisher.relay(&items).instrument(span).await {
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(sequence_number);
                response.batch_item_failures.push(failure);
            }
            Ok::<_, lambda_runtime::Error>(response)
        },
    ))
    .await
}

/// Runs the outbox sweeper (on a schedule): sends the index jobs a failed send left behind.
pub async fn serve_outbox_sweeper(
    build: impl AsyncFnOnce(&Wiring) -> Result<JobPublisher, BoxError>,
) -> Result<(), lambda_runtime::Error> {
    let (publisher, sweep_grace) =
        start(async |wiring: &Wiring| Ok::<_, BoxError>((build(wiring).await?, wiring.config.settings.sweep_grace)))
            .await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let span = traced_invocation(tracing::debug_span!("sweep"), &event.context);
            let swept = publisher.sweep(*sweep_grace, deadline(&event.context)).instrument(span).await?;
            if swept.sent > 0 {
                tracing::info!(sent = swept.sent, "outbox swept");
            }
            markets_core::observability::emit_sweep_metrics(swept.sent, swept.unreadable);
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "sent": swept.sent, "unreadable": swept.unreadable }))
        },
    ))
    .await
}

/// What every market route's requests go through: the token verifier, the rate limiter, and the
/// state its handler is given.
pub struct Pipeline<S> {
    auth: Authenticator,
    limiter: RateLimiter,
    state: AppState<S>,
}

impl<S> Pipeline<S> {
    pub fn new(auth: Authenticator, limiter: RateLimiter, state: AppState<S>) -> Self {
        Self { auth, limiter, state }
    }

    /// One request: authenticated, counted by the rate limiter, routed, handled by `handler`, its
    /// error mapped, logged (see [`respond`]).
    pub async fn handle<'a, F, Fut>(&'a self, handler: &F, request: Request) -> Response<Body>
    where
        F: Fn(&'a AppState<S>, Caller, Request) -> Fut,
        Fut: Future<Output = Result<ApiResponse, ApiError>>,
    {
        let info = RequestInfo::of(&request);
        let caller = self
            .auth
            .authenticate(request.headers())
            .instrument(tracing::debug_span!(parent: &info.span, "auth"))
            .await;
        let user_id = caller.as_ref().ok().and_then(Caller::principal).map(|p| p.user_id.clone());
        // Identity: the token's subject, else the address API Gateway saw (never X-Forwarded-For).
        let identity = match &user_id {
            Some(user) => format!("user:{user}"),
            None => format!("ip:{}", info.source_ip.as_deref().unwrap_or("unknown")),
        };
        // A browser's CORS preflight carries no credentials and is cached by the browser: no budget.
        let preflight = is_cors_preflight(&request);
        let limit = async {
            if preflight {
                Admission::Uncounted
            } else {
                self.limiter.check(&identity).instrument(tracing::debug_span!("rate_limit")).await
            }
        };
        // Routing's 405 and 400 come before authentication's 401, but behind the rate limit.
        let work = async {
            check_route(&request)?;
            handler(&self.state, caller?, request).instrument(tracing::debug_span!("handler")).await
        };
        respond(info, user_id, within_limit(limit, work)).await
    }
}

/// Runs a market route: `handler(state, caller, request)` for every invocation, behind the rate
/// limiter, where the state's service is what `build` makes (e.g. [`Wiring::market_reads`]).
pub async fn serve<S, F, Fut>(
    build: impl AsyncFnOnce(&Wiring) -> Result<S, BoxError>,
    handler: F,
) -> Result<(), lambda_http::Error>
where
    S: Sync + 'static,
    F: Fn(&'static AppState<S>, Caller, Request) -> Fut + Sync,
    Fut: Future<Output = Result<ApiResponse, ApiError>> + Send,
{
    let pipeline: &'static Pipeline<S> = start(async |wiring: &Wiring| {
        let (auth, cursors) = wiring.pipeline_keys().await?;
        let state = AppState::new(build(wiring).await?, cursors);
        Ok::<_, BoxError>(Pipeline::new(auth, wiring.rate_limiter(), state))
    })
    .await?;
    let handler = &handler;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(ReadyResponse(with_sampled_debug(pipeline.handle(handler, request)).await))
    }))
    .await
}

/// Runs a route that needs no state, no table, no token and no rate limit (health, the API's
/// documents).
pub async fn serve_stateless<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Result<ApiResponse, ApiError>> + Send,
{
    markets_core::observability::init_logging(crate::xray_daemon::exporter());
    let handler = &handler;
    lambda_http::run(service_fn(move |request: Request| async move {
        let info = RequestInfo::of(&request);
        let work = async {
            check_route(&request)?;
            handler(request).await
        };
        let response = with_sampled_debug(respond(info, None, async { (None, work.await) })).await;
        Ok::<_, std::convert::Infallible>(ReadyResponse(response))
    }))
    .await
}

/// What the pipeline logs about a request, and its span.
struct RequestInfo {
    /// The request's span: a subsegment of Lambda's function segment, or a segment of the trace the
    /// client's `traceparent` or `X-Amzn-Trace-Id` names (sampled as X-Ray decided for Lambda).
    span: Span,
    request_id: String,
    lambda_request_id: String,
    route: String,
    source_ip: Option<String>,
    /// When its retries must give up, to answer within the invocation's timeout.
    retries_until: Instant,
}

impl RequestInfo {
    fn of(request: &Request) -> Self {
        let context = request.lambda_context_ref();
        let invocation_deadline = context.map_or_else(|| Instant::now() + TIMEOUT_WITHOUT_DEADLINE, deadline);
        let request_id = request_id(request);
        let route = route_key(request);
        let span = tracing::info_span!("request", request_id = %request_id, route = %route);
        if let Some((header, place)) = request_trace(request) {
            xray::start(&span, &header, place);
            xray::set_in(&span, "annotations", "route", route.as_str());
            xray::set_in(&span, "annotations", "request_id", request_id.as_str());
        }
        Self {
            span,
            request_id,
            lambda_request_id: context.map(|c| c.request_id.clone()).unwrap_or_default(),
            route,
            source_ip: source_ip(request),
            retries_until: invocation_deadline.checked_sub(ANSWER_MARGIN).unwrap_or(invocation_deadline),
        }
    }
}

/// The trace a request is in, and where its span goes: the client's trace when it names one (a
/// segment, parent the client's span), else the invocation's (a subsegment of Lambda's). Sampled
/// either way as X-Ray decided for the invocation: a client cannot make the function trace.
fn request_trace(request: &Request) -> Option<(TraceHeader, Place)> {
    let context = request.lambda_context_ref()?;
    let invocation = context.xray_trace_id.as_deref().and_then(TraceHeader::parse)?;
    let header = |name: &str| request.headers().get(name).and_then(|value| value.to_str().ok());
    let client = header("traceparent")
        .and_then(TraceHeader::from_traceparent)
        .or_else(|| header("x-amzn-trace-id").and_then(TraceHeader::parse));
    // API Gateway's own header names the invocation's trace without a parent, and lambda_http puts
    // the invocation's header in the request's when it has none: neither is a client's.
    let invocations = |header: &TraceHeader| {
        header.root == invocation.root && (header.parent.is_none() || header.parent == invocation.parent)
    };
    match client {
        Some(client) if !invocations(&client) => {
            Some((TraceHeader { sampled: invocation.sampled, ..client }, Place::Segment))
        }
        _ => Some((invocation, Place::Subsegment)),
    }
}

/// The rate limit (`limit`) and the handler's `work`, run alongside each other so that a request
/// waits for one round trip less: a read and the reads a write starts from (an edit's) run while
/// the check is made, and a write's writes wait behind a [`WriteGate`] that opens only once the
/// check has passed, so a refused caller changes nothing. A refused request's answer is dropped
/// (the limiter remembers a refused caller: its next requests are refused before any work starts).
async fn within_limit(
    limit: impl Future<Output = Admission>,
    work: impl Future<Output = Result<ApiResponse, ApiError>>,
) -> (Option<Quota>, Result<ApiResponse, ApiError>) {
    let (gate, work) = WriteGate::guard(work);
    // The limit is polled first: a caller already refused never starts the work.
    match future::select(pin!(limit), pin!(work)).await {
        Either::Left((admission, work)) => {
            if admission.serves() {
                gate.open();
            }
            (admission.quota(), unless_refused(admission, work).await)
        }
        Either::Right((answer, limit)) => {
            let admission = limit.await;
            (admission.quota(), unless_refused(admission, std::future::ready(answer)).await)
        }
    }
}

/// `work`'s answer, or 429 when `admission` refuses the caller, or 500 when the limiter failed
/// (then `work` is not polled).
async fn unless_refused(
    admission: Admission,
    work: impl Future<Output = Result<ApiResponse, ApiError>>,
) -> Result<ApiResponse, ApiError> {
    match admission {
        Admission::Counted(Quota { retry_after: Some(retry_after), .. }) => Err(ApiError::RateLimited { retry_after }),
        Admission::Failed => Err(ApiError::internal("the rate limiter failed")),
        Admission::Counted(_) | Admission::Uncounted => work.await,
    }
}

/// The pipeline of every request: `outcome` (the rate limit and the handler's work, see
/// [`within_limit`]) with its DynamoDB calls recorded, its error mapped to the contract's body,
/// `x-request-id` and the `RateLimit-*` headers stamped, one log line and one metrics line.
async fn respond(
    info: RequestInfo,
    user_id: Option<String>,
    outcome: impl Future<Output = (Option<Quota>, Result<ApiResponse, ApiError>)>,
) -> Response<Body> {
    let span = info.span.clone();
    async {
        let started = Instant::now();
        let cold_start = first_invocation();
        // The limiter's call is one of the request's: it is counted with the handler's.
        let outcome = within_deadline(info.retries_until, record_facts(outcome));
        let ((quota, result), facts) = with_request_id(info.request_id.clone(), outcome).await;
        let rate_limited = quota.is_some_and(|quota| quota.retry_after.is_some());
        let mut response = result.unwrap_or_else(|error| {
            let (status, code) = error.status_and_code();
            if status.is_server_error() {
                // The debug lines the request held (see `with_sampled_debug`) show how it failed.
                flush_debug_lines();
                tracing::error!(code, error = %error_chain(&error), "request failed");
            } else {
                tracing::info!(code, error = %error, "request refused");
            }
            ApiResponse::error(&error, &info.request_id)
        });
        if let Some(quota) = quota {
            response = response
                .text_header("ratelimit-limit", &quota.limit.to_string())
                .text_header("ratelimit-remaining", &quota.remaining.to_string())
                .text_header("ratelimit-reset", &quota.reset_seconds.to_string());
        }
        if let Ok(value) = HeaderValue::from_str(&info.request_id) {
            response = response.header("x-request-id", value);
        }
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let status = response.status().as_u16();
        xray::set_status(&info.span, status, false);
        tracing::info!(
            request_id = %info.request_id,
            lambda_request_id = %info.lambda_request_id,
            route = %info.route,
            status,
            latency_ms,
            user_id = user_id.as_deref().unwrap_or(""),
            cold_start,
            dynamodb_calls = facts.dynamodb_ops.len(),
            dynamodb_ops = %facts.dynamodb_ops.join(","),
            vector_ops = %facts.vector_ops.join(","),
            sqs_ops = %facts.sqs_ops.join(","),
            aws_round_trips = facts.rounds.len(),
            aws_rounds = %facts.rounds_line(),
            cache_hit = facts.cache_hit,
            "request"
        );
        emit_request_metrics(&RequestMetrics {
            route: &info.route,
            request_id: &info.request_id,
            status,
            latency_ms,
            rate_limited,
            cold_start,
            facts: &facts,
        });
        response.into_lambda_response()
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use lambda_http::http::StatusCode;
    use tokio::sync::oneshot;

    use super::*;

    fn quota(retry_after: Option<u64>) -> Admission {
        let remaining = if retry_after.is_some() { 0 } else { 9 };
        Admission::Counted(Quota { limit: 10, remaining, reset_seconds: 30, retry_after })
    }

    fn status(result: &Result<ApiResponse, ApiError>) -> StatusCode {
        match result {
            Ok(response) => response.status(),
            Err(error) => error.status_and_code().0,
        }
    }

    #[tokio::test]
    async fn a_read_runs_while_its_limit_is_checked() {
        // The check answers only once the read has started: run one after the other, they would
        // wait for each other forever.
        let (started, read_started) = oneshot::channel();
        let limit = async {
            read_started.await.unwrap();
            quota(None)
        };
        let work = async {
            started.send(()).unwrap();
            Ok(ApiResponse::empty(StatusCode::OK))
        };
        let outcome = tokio::time::timeout(Duration::from_secs(5), within_limit(limit, work)).await;
        let (quota, result) = outcome.expect("the read waited for the limit check");
        assert_eq!(quota.unwrap().remaining, 9);
        assert_eq!(status(&result), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_refused_read_is_answered_429_whether_or_not_it_started() {
        let started = AtomicBool::new(false);
        let work = async {
            started.store(true, Ordering::SeqCst);
            Ok(ApiResponse::empty(StatusCode::OK))
        };
        // A caller the limiter already remembers as refused: the read never starts.
        let (_, result) = within_limit(std::future::ready(quota(Some(7))), work).await;
        assert_eq!(status(&result), StatusCode::TOO_MANY_REQUESTS);
        assert!(!started.load(Ordering::SeqCst), "the read started for a refused caller");

        // Refused by the counter after the read has answered: the answer is dropped.
        let slow_refusal = async {
            tokio::task::yield_now().await;
            quota(Some(7))
        };
        let (_, result) = within_limit(slow_refusal, async { Ok(ApiResponse::empty(StatusCode::OK)) }).await;
        assert_eq!(status(&result), StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn a_write_waits_for_its_limit_check_and_a_refused_one_writes_nothing() {
        use markets_core::domain::{MarketPatch, NewMarket, Principal, Role};
        use markets_core::repo::{ListQuery, SortField, SortOrder};
        let dependencies = markets_core::service::Dependencies::in_memory();
        let service = dependencies.market_service();
        let alice = Principal { user_id: "alice".into(), role: Role::User, name: None, email: None };
        let slow_check = |retry_after| async move {
            tokio::task::yield_now().await;
            quota(retry_after)
        };
        // The in-memory store answers at once: only the gate keeps the write from the store.
        let create = |name: &'static str| {
            let (service, alice) = (&service, &alice);
            async move {
                let fields = MarketPatch { name: Some(name.into()), ..Default::default() };
                let market = NewMarket { fields, initial_position: None };
                service.create(alice, market, None).await?;
                Ok(ApiResponse::empty(StatusCode::CREATED))
            }
        };
        let (_, refused) = within_limit(slow_check(Some(3)), create("Refused")).await;
        assert_eq!(status(&refused), StatusCode::TOO_MANY_REQUESTS);
        let (_, admitted) = within_limit(slow_check(None), create("Admitted")).await;
        assert_eq!(status(&admitted), StatusCode::CREATED);
        let query = ListQuery { filter: None, sort: SortField::Name, order: SortOrder::Asc };
        let listed = service.reads().list(&query, None, 0, 10).await.unwrap();
        let names: Vec<&str> = listed.markets.iter().map(|market| market.name.as_str()).collect();
        assert_eq!(names, ["Admitted"], "a refused caller's write was stored");
    }

    #[tokio::test]
    async fn a_failed_limiter_is_a_500_and_an_unreachable_one_serves() {
        let ran = AtomicBool::new(false);
        let work = || async {
            ran.store(true, Ordering::SeqCst);
            Ok(ApiResponse::empty(StatusCode::OK))
        };
        let (quota, result) = within_limit(std::future::ready(Admission::Failed), work()).await;
        assert_eq!((quota, status(&result)), (None, StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!ran.load(Ordering::SeqCst), "served without a limit");
        let (quota, result) = within_limit(std::future::ready(Admission::Uncounted), work()).await;
        assert_eq!((quota, status(&result)), (None, StatusCode::OK));
    }

    #[tokio::test]
    async fn the_sample_sqs_event_is_a_valid_batch_and_failures_go_back_by_message_id() {
        let store = std::sync::Arc::new(markets_core::repo::memory::InMemoryStore::default());
        let embedder = std::sync::Arc::new(markets_core::embedder::HashingEmbedder);
        let indexer = Indexer::new(store.clone(), store.clone(), embedder, store);
        let path = format!("{}/../events/index-worker.json", env!("CARGO_MANIFEST_DIR"));
        let event: SqsEvent = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let messages = job_messages(event);
        assert_eq!(messages[0].request_id, "EXAMPLE-request-id-0001", "the request id travels to the logs");
        let later = Instant::now() + Duration::from_secs(30);
        assert!(indexer.handle_batch(messages, later).await.is_empty());
        let response = batch_response(vec!["m-1".into()]);
        assert_eq!(response.batch_item_failures[0].item_identifier, "m-1");
    }
}
