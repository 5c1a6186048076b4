//! Turns a route handler into a Lambda function: logging and shared state set up once per cold
//! start, then for every request the same envelope of request id, authentication, error mapping
//! and one log line.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, Response, service_fn};
use tracing::Instrument;

use crate::auth::{Authenticator, Caller};
use crate::config::{AuthConfig, Config, EmbedderKind};
use crate::error::{ApiError, BoxError, error_chain};
use crate::http::{ApiResponse, CursorCodec, request_id, route_key};
use crate::jobs::worker::Indexer;
use crate::jobs::{JobPublisher, SqsJobQueue};
use crate::observability::{record_dynamodb_calls, with_request_id};
use crate::repo::dynamodb::{
    DynamoIdempotency, DynamoMarkets, DynamoOutbox, DynamoPositions, DynamoUsers, DynamoVectors,
};
use crate::search::{BedrockEmbedder, Embedder, HashingEmbedder};
use crate::service::{Dependencies, MarketService, PositionService, SearchService};

/// What every market route shares, built once per cold start and reused by every invocation.
pub struct AppState {
    pub auth: Authenticator,
    pub cursors: CursorCodec,
    pub markets: MarketService,
    pub positions: PositionService,
    pub search: SearchService,
}

impl AppState {
    pub fn new(auth: &AuthConfig, dependencies: &Dependencies) -> Self {
        Self {
            auth: Authenticator::new(auth),
            cursors: CursorCodec::new(&auth.jwt_secret),
            markets: MarketService::new(dependencies),
            positions: PositionService::new(dependencies),
            search: SearchService::new(dependencies),
        }
    }

    pub async fn from_env() -> Result<Self, BoxError> {
        let auth = AuthConfig::from_env()?;
        Ok(Self::new(&auth, &aws_dependencies(&Config::from_env()?).await))
    }
}

/// The AWS SDK's shared config. The endpoint comes from the standard settings
/// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SQS`, ...), so the same binary talks to AWS or moto.
async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        // Explicit, not by accident: 3 attempts with exponential backoff and jitter.
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// The AWS implementation of every dependency, clients built once.
pub async fn aws_dependencies(config: &Config) -> Dependencies {
    let aws = aws_config().await;
    let embedder: Arc<dyn Embedder> = match &config.embedder {
        EmbedderKind::Local => Arc::new(HashingEmbedder),
        EmbedderKind::Bedrock(model) => {
            Arc::new(BedrockEmbedder::new(aws_sdk_bedrockruntime::Client::new(&aws), model.clone()))
        }
    };
    let queue = SqsJobQueue::new(aws_sdk_sqs::Client::new(&aws), config.index_queue_url.clone());
    Dependencies {
        queue: Arc::new(queue),
        embedder,
        ..dynamodb_dependencies(crate::observability::dynamodb_client(&aws), config.tables.clone())
    }
}

/// The DynamoDB implementations, with the local embedder and a queue that is never reached (for
/// tools that only read and write tables).
pub fn dynamodb_dependencies(client: aws_sdk_dynamodb::Client, tables: crate::config::Tables) -> Dependencies {
    Dependencies {
        markets: Arc::new(DynamoMarkets::new(client.clone(), tables.clone())),
        positions: Arc::new(DynamoPositions::new(client.clone(), tables.clone())),
        users: Arc::new(DynamoUsers::new(client.clone(), tables.users.clone())),
        idempotency: Arc::new(DynamoIdempotency::new(client.clone(), tables.idempotency.clone())),
        outbox: Arc::new(DynamoOutbox::new(client.clone(), tables.outbox.clone())),
        queue: Arc::new(crate::repo::memory::InMemoryQueue::default()),
        embedder: Arc::new(HashingEmbedder),
        vectors: Arc::new(DynamoVectors::new(client, tables.vectors)),
    }
}

/// The instant a Lambda invocation must be done by.
fn deadline(context: &lambda_runtime::Context) -> Instant {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Instant::now() + std::time::Duration::from_millis(context.deadline.saturating_sub(now_ms))
}

/// Runs the index worker: SQS batches in, partial batch failures out.
pub async fn serve_index_worker() -> Result<(), lambda_runtime::Error> {
    crate::observability::init_logging();
    let dependencies = aws_dependencies(&Config::from_env()?).await;
    let indexer = &Indexer::new(dependencies.markets, dependencies.embedder, dependencies.vectors);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            let deadline = deadline(&event.context);
            Ok::<_, lambda_runtime::Error>(indexer.handle_batch(event.payload, deadline).await)
        },
    ))
    .await
}

/// Runs the outbox sweeper (on a schedule): sends the index jobs a failed send left behind.
pub async fn serve_outbox_sweeper() -> Result<(), lambda_runtime::Error> {
    crate::observability::init_logging();
    let dependencies = aws_dependencies(&Config::from_env()?).await;
    let publisher = &JobPublisher::new(dependencies.queue, dependencies.outbox);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let sent = publisher.sweep(deadline(&event.context)).await?;
            if sent > 0 {
                tracing::info!(sent, "outbox swept");
            }
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "sent": sent }))
        },
    ))
    .await
}

/// Runs a market route: `handler(state, caller, request)` for every invocation.
pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static AppState, Caller, Request) -> Fut + Sync,
    Fut: Future<Output = Result<ApiResponse, ApiError>> + Send,
{
    crate::observability::init_logging();
    let state: &'static AppState = match AppState::from_env().await {
        Ok(state) => Box::leak(Box::new(state)),
        Err(error) => {
            tracing::error!(error = %error_chain(error.as_ref()), "refusing to start");
            return Err(error);
        }
    };
    let handler = &handler;
    lambda_http::run(service_fn(move |request: Request| async move {
        let (id, route) = (request_id(&request), route_key(&request));
        let caller = state.auth.authenticate(request.headers());
        respond(id, route, async move { handler(state, caller?, request).await }).await
    }))
    .await
}

/// Runs a route that needs no state, no table and no token (health, the not-found fallback).
pub async fn serve_stateless<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Result<ApiResponse, ApiError>> + Send,
{
    crate::observability::init_logging();
    let handler = &handler;
    lambda_http::run(service_fn(move |request: Request| async move {
        let (id, route) = (request_id(&request), route_key(&request));
        respond(id, route, handler(request)).await
    }))
    .await
}

/// Runs the handler's future inside a span with the request id, maps its error to the contract's
/// body, stamps `x-request-id`, and logs one line for the request.
async fn respond(
    request_id: String,
    route: String,
    work: impl Future<Output = Result<ApiResponse, ApiError>>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let span = tracing::info_span!("request", request_id = %request_id, route = %route);
    async {
        let started = Instant::now();
        let (result, dynamodb_calls) = with_request_id(request_id.clone(), record_dynamodb_calls(work)).await;
        let response = result.unwrap_or_else(|error| {
            let (status, code) = error.status_and_code();
            if status.is_server_error() {
                tracing::error!(code, error = %error_chain(&error), "request failed");
            } else {
                tracing::info!(code, error = %error, "request refused");
            }
            error.to_response(&request_id)
        });
        let response = match HeaderValue::from_str(&request_id) {
            Ok(value) => response.header("x-request-id", value),
            Err(_) => response,
        };
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            dynamodb_calls = dynamodb_calls.len(),
            dynamodb_ops = %dynamodb_calls.join(","),
            "request"
        );
        Ok(response.into_lambda_response())
    }
    .instrument(span)
    .await
}
