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
use crate::repo::MarketRepository;
use crate::repo::dynamodb::DynamoMarkets;
use crate::service::MarketService;

/// What every market route shares, built once per cold start and reused by every invocation.
pub struct AppState {
    pub auth: Authenticator,
    pub cursors: CursorCodec,
    pub markets: MarketService,
}

impl AppState {
    pub fn new(auth: &AuthConfig, markets: Arc<dyn MarketRepository>) -> Self {
        Self {
            auth: Authenticator::new(auth),
            cursors: CursorCodec::new(&auth.jwt_secret),
            markets: MarketService::new(markets),
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
        let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
        Ok(Self::new(&config.auth, Arc::new(DynamoMarkets::new(dynamodb, config.markets_table))))
    }
}

/// JSON logs for CloudWatch; the level comes from `RUST_LOG` or Lambda's `AWS_LAMBDA_LOG_LEVEL`.
pub fn init_logging() {
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|level| level.to_lowercase()))
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_target(false)
        .with_current_span(false)
        .flatten_event(true)
        .try_init();
}

/// Runs a market route: `handler(state, caller, request)` for every invocation.
pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static AppState, Caller, Request) -> Fut + Sync,
    Fut: Future<Output = Result<ApiResponse, ApiError>> + Send,
{
    init_logging();
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
    init_logging();
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
        let response = work.await.unwrap_or_else(|error| {
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
            "request"
        );
        Ok(response.into_lambda_response())
    }
    .instrument(span)
    .await
}
