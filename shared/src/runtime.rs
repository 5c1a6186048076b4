//! Turns a route handler into a Lambda function: logging and shared state set up once per cold
//! start, then for every request the same envelope of request id, authentication, error mapping
//! and one log line.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, RequestExt as _, Response, service_fn};
use tracing::Instrument;

use crate::auth::{Authenticator, Caller, JwksKeys};
use crate::cache::{MarketCache, NoCache, RedisCache};
use crate::config::{
    AuthSettings, Config, EmbedderKind, SdkTimeouts, Settings, TokenKeys, checked_secret, is_loopback_url,
};
use crate::error::ApiError;
use crate::failure::{BoxError, error_chain};
use crate::http::{ApiResponse, CursorCodec, request_id, route_key, source_ip};
use crate::jobs::worker::Indexer;
use crate::jobs::{JobPublisher, SqsJobQueue};
use crate::observability::{
    RequestFacts, RequestMetrics, emit_request_metrics, first_invocation, record_facts, with_request_id,
};
use crate::repo::dynamodb::{
    DynamoIdempotency, DynamoMarkets, DynamoOutbox, DynamoPositions, DynamoRateCounter, DynamoUsers,
};
use crate::routes::{check_route, is_cors_preflight};
use crate::search::{BedrockEmbedder, Embedder, HashingEmbedder, S3VectorIndex};
use crate::service::{Dependencies, MarketService, PositionService, Quota, RateLimiter, SearchService};

/// What every market route shares, built once per cold start and reused by every invocation.
pub struct AppState {
    pub auth: Authenticator,
    /// Only in the functions that page (they alone may read the cursor secret).
    cursors: Option<CursorCodec>,
    pub markets: MarketService,
    pub positions: PositionService,
    pub search: SearchService,
    pub limiter: RateLimiter,
}

impl AppState {
    pub fn new(
        auth: Authenticator,
        cursors: Option<CursorCodec>,
        dependencies: &Dependencies,
        settings: Settings,
    ) -> Self {
        Self {
            auth,
            cursors,
            markets: MarketService::new(dependencies),
            positions: PositionService::new(dependencies),
            search: SearchService::new(dependencies),
            limiter: RateLimiter::new(dependencies.rate_counter.clone(), settings.rate_limit),
        }
    }

    /// The settings from the environment, the secrets from Secrets Manager, the keys from the
    /// identity provider: read once, and the function refuses to start if any is missing or unsafe.
    pub async fn from_env() -> Result<Self, BoxError> {
        let auth = AuthSettings::from_env()?;
        let config = Config::from_env()?;
        // One SDK config for the secrets and every other client: loading it resolves the region and
        // credentials, which a cold start should do once.
        let aws = aws_config(&config.settings.sdk_timeouts).await;
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        let authenticator = match auth.keys {
            TokenKeys::Secret { arn } => {
                Authenticator::with_secret(&read_secret(&secrets, "JWT_SECRET_ARN", &arn).await?, &auth.claims)
            }
            TokenKeys::Jwks(jwks) => Authenticator::with_jwks(JwksKeys::load(jwks).await?, &auth.claims),
        };
        let cursors = match &auth.cursor_secret_arn {
            Some(arn) => Some(CursorCodec::new(&read_secret(&secrets, "CURSOR_SECRET_ARN", arn).await?)),
            None => None,
        };
        Ok(Self::new(authenticator, cursors, &aws_dependencies(&config, &aws).await?, config.settings))
    }

    /// The cursor codec of a function that pages.
    pub fn cursors(&self) -> Result<&CursorCodec, ApiError> {
        self.cursors.as_ref().ok_or_else(|| ApiError::internal("CURSOR_SECRET_ARN is not set for this function"))
    }
}

/// A secret's value from Secrets Manager (by ARN or name), checked by [`checked_secret`]: the local
/// stack's development secret passes only when Secrets Manager is on this machine (moto).
async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    setting: &'static str,
    id: &str,
) -> Result<Vec<u8>, BoxError> {
    let output = client.get_secret_value().secret_id(id).send().await.map_err(|error| {
        format!("cannot read the secret of {setting}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(error))
    })?;
    let value = output.secret_string.ok_or_else(|| format!("the secret of {setting} has no string value"))?;
    let endpoint_is_local = crate::config::secrets_endpoint().is_some_and(|url| is_loopback_url(&url));
    Ok(checked_secret(setting, value, endpoint_is_local)?)
}

/// The AWS SDK's shared config, with the DynamoDB and SQS budgets of [`SdkTimeouts::store`]. The
/// endpoint comes from the standard settings (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`,
/// `AWS_ENDPOINT_URL_SQS`, ...), so the same binary talks to AWS or moto.
async fn aws_config(timeouts: &SdkTimeouts) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        // Explicit, not by accident: 3 attempts with exponential backoff and full jitter. The first
        // backoff is short (the SDK's default is 1 s) so that all three fit in the operation budget.
        .retry_config(RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(100)))
        .timeout_config(timeouts.store())
        .load()
        .await
}

/// The AWS implementation of every dependency, clients built (from `aws`, [`aws_config`]'s) and the
/// cache connected once.
pub async fn aws_dependencies(config: &Config, aws: &aws_config::SdkConfig) -> Result<Dependencies, BoxError> {
    let timeouts = config.settings.sdk_timeouts;
    let embedder: Arc<dyn Embedder> = match &config.embedder {
        EmbedderKind::Local => Arc::new(HashingEmbedder),
        EmbedderKind::Bedrock(model) => {
            let bedrock = aws_sdk_bedrockruntime::config::Builder::from(aws).timeout_config(timeouts.embedding());
            Arc::new(BedrockEmbedder::new(aws_sdk_bedrockruntime::Client::from_conf(bedrock.build()), model.clone()))
        }
    };
    let queue = SqsJobQueue::new(aws_sdk_sqs::Client::new(aws), config.index_queue_url.clone());
    let cache: Arc<dyn MarketCache> = match &config.cache.endpoint {
        Some(endpoint) => Arc::new(
            RedisCache::connect(endpoint, &config.cache)
                .await
                .map_err(|e| format!("CACHE_ENDPOINT is not usable: {e}"))?,
        ),
        None => Arc::new(NoCache),
    };
    Ok(Dependencies {
        queue: Arc::new(queue),
        embedder,
        cache,
        vectors: Arc::new(S3VectorIndex::new(
            crate::observability::s3vectors_client(aws),
            config.vector_index_arn.clone(),
        )),
        ..dynamodb_dependencies(crate::observability::dynamodb_client(aws), config.tables.clone(), &timeouts)
    })
}

/// The DynamoDB implementations, with the local embedder, a queue and a vector index that are never
/// reached, and no cache (for tools that only read and write tables). The rate counter gets
/// `timeouts.rate_counter()`.
pub fn dynamodb_dependencies(
    client: aws_sdk_dynamodb::Client,
    tables: crate::config::Tables,
    timeouts: &SdkTimeouts,
) -> Dependencies {
    Dependencies {
        markets: Arc::new(DynamoMarkets::new(client.clone(), tables.clone())),
        positions: Arc::new(DynamoPositions::new(client.clone(), tables.clone())),
        users: Arc::new(DynamoUsers::new(client.clone(), tables.users.clone())),
        idempotency: Arc::new(DynamoIdempotency::new(client.clone(), tables.idempotency.clone())),
        outbox: Arc::new(DynamoOutbox::new(client.clone(), tables.outbox.clone())),
        queue: Arc::new(crate::repo::memory::InMemoryQueue::default()),
        embedder: Arc::new(HashingEmbedder),
        vectors: Arc::new(crate::repo::memory::InMemoryStore::default()),
        rate_counter: Arc::new(DynamoRateCounter::new(client, tables.rate_limits, timeouts.rate_counter())),
        cache: Arc::new(NoCache),
    }
}

/// The instant a Lambda invocation must be done by.
fn deadline(context: &lambda_runtime::Context) -> Instant {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Instant::now() + Duration::from_millis(context.deadline.saturating_sub(now_ms))
}

/// Runs the index worker: SQS batches in, partial batch failures out.
pub async fn serve_index_worker() -> Result<(), lambda_runtime::Error> {
    crate::observability::init_logging();
    let config = Config::from_env()?;
    let dependencies = aws_dependencies(&config, &aws_config(&config.settings.sdk_timeouts).await).await?;
    let indexer = &Indexer::new(dependencies.markets, dependencies.embedder, dependencies.vectors);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            let deadline = deadline(&event.context);
            let (cold_start, jobs) = (first_invocation(), event.payload.records.len());
            let response = indexer.handle_batch(event.payload, deadline).await;
            let failed = response.batch_item_failures.len();
            crate::observability::emit_job_metrics(jobs - failed, failed, cold_start);
            Ok::<_, lambda_runtime::Error>(response)
        },
    ))
    .await
}

/// Runs the outbox sweeper (on a schedule): sends the index jobs a failed send left behind.
pub async fn serve_outbox_sweeper() -> Result<(), lambda_runtime::Error> {
    crate::observability::init_logging();
    let config = Config::from_env()?;
    let sweep_grace = config.settings.sweep_grace;
    let dependencies = aws_dependencies(&config, &aws_config(&config.settings.sdk_timeouts).await).await?;
    let publisher = &JobPublisher::new(dependencies.queue, dependencies.outbox);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let swept = publisher.sweep(sweep_grace, deadline(&event.context)).await?;
            if swept.sent > 0 {
                tracing::info!(sent = swept.sent, "outbox swept");
            }
            crate::observability::emit_sweep_metrics(swept.sent, swept.unreadable);
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "sent": swept.sent, "unreadable": swept.unreadable }))
        },
    ))
    .await
}

/// Runs a market route: `handler(state, caller, request)` for every invocation, behind the rate
/// limiter.
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
        let info = RequestInfo::of(&request);
        let caller = state.auth.authenticate(request.headers()).await;
        let user_id = caller.as_ref().ok().and_then(Caller::principal).map(|p| p.user_id.clone());
        // Identity: the token's subject, else the address API Gateway saw (never X-Forwarded-For).
        let identity = match &user_id {
            Some(user) => format!("user:{user}"),
            None => format!("ip:{}", info.source_ip.as_deref().unwrap_or("unknown")),
        };
        // A browser's CORS preflight carries no credentials and is cached by the browser: no budget.
        let preflight = is_cors_preflight(&request);
        let limit = async move { if preflight { None } else { state.limiter.check(&identity).await } };
        // Routing's 405 and 400 come before authentication's 401, but behind the rate limit.
        let work = async move {
            check_route(&request)?;
            handler(state, caller?, request).await
        };
        respond(info, user_id, limit, work).await
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
    crate::observability::init_logging();
    let handler = &handler;
    lambda_http::run(service_fn(move |request: Request| async move {
        let checked = check_route(&request);
        let info = RequestInfo::of(&request);
        match checked {
            Ok(()) => respond(info, None, std::future::ready(None), handler(request)).await,
            Err(refused) => respond(info, None, std::future::ready(None), std::future::ready(Err(refused))).await,
        }
    }))
    .await
}

/// What the envelope of a request logs about it.
struct RequestInfo {
    request_id: String,
    lambda_request_id: String,
    route: String,
    source_ip: Option<String>,
}

impl RequestInfo {
    fn of(request: &Request) -> Self {
        Self {
            request_id: request_id(request),
            lambda_request_id: request.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default(),
            route: route_key(request),
            source_ip: source_ip(request),
        }
    }
}

/// The envelope of every request: the rate limit (`limit`), then the handler's future with its
/// DynamoDB calls recorded, its error mapped to the contract's body, `x-request-id` and the
/// `RateLimit-*` headers stamped, one log line and one metrics line.
async fn respond(
    info: RequestInfo,
    user_id: Option<String>,
    limit: impl Future<Output = Option<Quota>>,
    work: impl Future<Output = Result<ApiResponse, ApiError>>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let span = tracing::info_span!("request", request_id = %info.request_id, route = %info.route);
    async {
        let started = Instant::now();
        let cold_start = first_invocation();
        let quota = limit.await;
        let refused_for = quota.and_then(|quota| quota.retry_after);
        let rate_limited = refused_for.is_some();
        let (result, facts) = match refused_for {
            Some(retry_after) => (Err(ApiError::RateLimited { retry_after }), RequestFacts::default()),
            _ => with_request_id(info.request_id.clone(), record_facts(work)).await,
        };
        let mut response = result.unwrap_or_else(|error| {
            let (status, code) = error.status_and_code();
            if status.is_server_error() {
                tracing::error!(code, error = %error_chain(&error), "request failed");
            } else {
                tracing::info!(code, error = %error, "request refused");
            }
            error.to_response(&info.request_id)
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
        Ok(response.into_lambda_response())
    }
    .instrument(span)
    .await
}
