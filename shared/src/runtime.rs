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
use crate::config::{AuthConfig, Config};
use crate::error::{ApiError, BoxError, error_chain};
use crate::http::{ApiResponse, CursorCodec, request_id, route_key};
use crate::observability::record_dynamodb_calls;
use crate::repo::dynamodb::{DynamoIdempotency, DynamoMarkets, DynamoPositions, DynamoUsers, Tables};
use crate::service::{MarketService, PositionService, Repositories};

/// What every market route shares, built once per cold start and reused by every invocation.
pub struct AppState {
    pub auth: Authenticator,
    pub cursors: CursorCodec,
    pub markets: MarketService,
    pub positions: PositionService,
}

impl AppState {
    pub fn new(auth: &AuthConfig, repositories: &Repositories) -> Self {
        Self {
            auth: Authenticator::new(auth),
            cursors: CursorCodec::new(&auth.jwt_secret),
            markets: MarketService::new(repositories),
            positions: PositionService::new(repositories),
        }
    }

    /// Reads the config and builds the AWS clients. The endpoint comes from the standard
    /// settings (`AWS_ENDPOINT_URL`), so the same binary talks to AWS, moto or DynamoDB Local.
    pub async fn from_env() -> Result<Self, BoxError> {
        let config = Config::from_env()?;
        let aws = aws_config::defaults(BehaviorVersion::latest())
            // Explicit, not by accident: 3 attempts with exponential backoff and jitter.
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .load()
            .await;
        let dynamodb = crate::observability::dynamodb_client(&aws);
        Ok(Self::new(&config.auth, &dynamodb_repositories(dynamodb, config.tables)))
    }
}

/// The DynamoDB implementation of every repository.
pub fn dynamodb_repositories(client: aws_sdk_dynamodb::Client, tables: Tables) -> Repositories {
    Repositories {
        markets: Arc::new(DynamoMarkets::new(client.clone(), tables.clone())),
        positions: Arc::new(DynamoPositions::new(client.clone(), tables.clone())),
        users: Arc::new(DynamoUsers::new(client.clone(), tables.users.clone())),
        idempotency: Arc::new(DynamoIdempotency::new(client, tables.idempotency)),
    }
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
        let (result, dynamodb_calls) = record_dynamodb_calls(work).await;
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
