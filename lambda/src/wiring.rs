//! AWS wiring: the settings and the AWS SDK config, read and loaded once per cold start, and each
//! dependency a function needs built from them. A function's `main` names the builder of what it
//! serves (e.g. [`Wiring::market_reads`]); only what that builder reaches is built and linked
//! into the binary, so get-market has no SQS client and the worker no cursor secret.

use std::sync::Arc;
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::SharedCredentialsProvider;
use aws_smithy_http_client::tls;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::auth::{Authenticator, JwksKeys};
use crate::config::{AuthSettings, Config, EmbedderKind, TokenKeys, checked_secret, is_loopback_url};
use crate::http::CursorCodec;
use markets_aws::bedrock::BedrockEmbedder;
use markets_aws::clients::{bedrock_client, dynamodb_client, s3vectors_client, sqs_client};
use markets_aws::dynamodb::{
    DynamoIdempotency, DynamoMarkets, DynamoOutbox, DynamoPositions, DynamoRateCounter, DynamoUsers,
};
use markets_aws::s3vectors::S3VectorIndex;
use markets_aws::settings::SdkTimeouts;
use markets_aws::sqs::SqsJobQueue;
use markets_aws::valkey::RedisCache;
use markets_core::cache::{MarketCache, NoCache};
use markets_core::embedder::{Embedder, HashingEmbedder};
use markets_core::error::BoxError;
use markets_core::jobs::JobPublisher;
use markets_core::jobs::worker::Indexer;
use markets_core::repo::{MarketRepository, UserRepository};
use markets_core::service::{MarketReads, MarketService, PositionService, RateLimiter, SearchService};

/// The settings and the SDK config of one cold start, and the DynamoDB client every function
/// shares.
pub struct Wiring {
    pub config: Config,
    aws: aws_config::SdkConfig,
    dynamodb: aws_sdk_dynamodb::Client,
}

impl Wiring {
    /// Reads the settings and loads the SDK config (the region and credentials are resolved once).
    pub async fn from_env() -> Result<Self, BoxError> {
        let config = Config::from_env()?;
        let aws = sdk_config(&config.settings.sdk_timeouts);
        Ok(Self { dynamodb: dynamodb_client(&aws), aws, config })
    }

    /// Opens the DynamoDB connection (TCP and TLS) now, during init, where Lambda gives the function
    /// its full CPU, rather than in the first request: one `DescribeEndpoints`, which reads nothing.
    /// A failure only leaves the first request to connect.
    pub async fn open_dynamodb_connection(&self) {
        if let Err(error) = self.dynamodb.describe_endpoints().send().await {
            let error = aws_sdk_dynamodb::error::DisplayErrorContext(error);
            tracing::warn!(error = %error, "DynamoDB connection not opened during init");
        }
    }

    /// What the request pipeline checks and signs with, read once at cold start with one Secrets Manager
    /// client: the token verifier (the HS256 secret, or the identity provider's keys) and, in a
    /// function that pages (only those may read the cursor secret), the cursor codec.
    pub async fn pipeline_keys(&self) -> Result<(Authenticator, Option<CursorCodec>), BoxError> {
        let auth = AuthSettings::from_env()?;
        let secrets = aws_sdk_secretsmanager::Client::new(&self.aws);
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
        Ok((authenticator, cursors))
    }

    /// The shared rate limiter: a DynamoDB counter with its own, shorter budget.
    pub fn rate_limiter(&self) -> RateLimiter {
        let timeouts = self.config.settings.sdk_timeouts.rate_counter();
        let counter = DynamoRateCounter::new(self.dynamodb.clone(), self.config.tables.rate_limits.clone(), timeouts);
        RateLimiter::new(Arc::new(counter), self.config.settings.rate_limit)
    }

    /// Nothing beyond the request pipeline (the fallback route).
    pub async fn no_service(&self) -> Result<(), BoxError> {
        Ok(())
    }

    /// Market reads: the markets and users tables and the shared cache.
    pub async fn market_reads(&self) -> Result<MarketReads, BoxError> {
        Ok(MarketReads::new(self.markets(), self.users(), self.cache().await?))
    }

    /// Market reads and writes: also the idempotency table (and the outbox, in the transactions).
    pub async fn market_service(&self) -> Result<MarketService, BoxError> {
        let idempotency =
            Arc::new(DynamoIdempotency::new(self.dynamodb.clone(), self.config.tables.idempotency.clone()));
        Ok(MarketService::new(self.market_reads().await?, idempotency))
    }

    /// Positions: the markets, positions, users and idempotency tables and the shared cache.
    pub async fn position_service(&self) -> Result<PositionService, BoxError> {
        let tables = &self.config.tables;
        Ok(PositionService::new(
            self.markets(),
            Arc::new(DynamoPositions::new(self.dynamodb.clone(), tables.clone())),
            Arc::new(DynamoIdempotency::new(self.dynamodb.clone(), tables.idempotency.clone())),
            self.cache().await?,
        ))
    }

    /// Search: the embedder, the vector index and the markets table.
    pub async fn search_service(&self) -> Result<SearchService, BoxError> {
        Ok(SearchService::new(self.markets(), self.embedder(), self.vector_index()))
    }

    /// The index worker's: the markets and positions tables, the embedder and the vector index.
    pub async fn indexer(&self) -> Result<Indexer, BoxError> {
        let positions = Arc::new(DynamoPositions::new(self.dynamodb.clone(), self.config.tables.clone()));
        Ok(Indexer::new(self.markets(), positions, self.embedder(), self.vector_index()))
    }

    /// The outbox and the index queue (the relay's and the sweeper's).
    pub async fn job_publisher(&self) -> Result<JobPublisher, BoxError> {
        let queue = SqsJobQueue::new(sqs_client(&self.aws), self.config.index_queue_url.clone());
        let outbox = DynamoOutbox::new(self.dynamodb.clone(), self.config.tables.outbox.clone());
        Ok(JobPublisher::new(Arc::new(queue), Arc::new(outbox)))
    }

    fn markets(&self) -> Arc<dyn MarketRepository> {
        Arc::new(DynamoMarkets::new(self.dynamodb.clone(), self.config.tables.clone()))
    }

    fn users(&self) -> Arc<dyn UserRepository> {
        Arc::new(DynamoUsers::new(self.dynamodb.clone(), self.config.tables.users.clone()))
    }

    /// The shared cache of markets, connected now, or none when `CACHE_ENDPOINT` is unset.
    async fn cache(&self) -> Result<Arc<dyn MarketCache>, BoxError> {
        let settings = &self.config.cache;
        Ok(match &settings.endpoint {
            Some(endpoint) => Arc::new(
                RedisCache::connect(endpoint, settings)
                    .await
                    .map_err(|e| format!("CACHE_ENDPOINT is not usable: {e}"))?,
            ),
            None => Arc::new(NoCache),
        })
    }

    fn embedder(&self) -> Arc<dyn Embedder> {
        match &self.config.embedder {
            EmbedderKind::Local => Arc::new(HashingEmbedder),
            EmbedderKind::Bedrock(model) => {
                let client = bedrock_client(&self.aws, self.config.settings.sdk_timeouts.embedding());
                Arc::new(BedrockEmbedder::new(client, model.clone()))
            }
        }
    }

    fn vector_index(&self) -> Arc<S3VectorIndex> {
        Arc::new(S3VectorIndex::new(s3vectors_client(&self.aws), self.config.vector_index_arn.clone()))
    }
}

/// The AWS SDK's shared config, with the DynamoDB and SQS budgets of [`SdkTimeouts::store`], from
/// the environment Lambda gives a function: the region (`AWS_REGION`) and the credentials
/// (`AWS_ACCESS_KEY_ID`, ...) Lambda sets, and the endpoints of the standard settings
/// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, ...), so the same binary talks to AWS or moto.
/// Not aws-config's default chains: their profile files, IMDS, container, SSO and STS providers
/// never answer on Lambda, and linking them cost every function 0.1 MB of its zip.
fn sdk_config(timeouts: &SdkTimeouts) -> aws_config::SdkConfig {
    // One HTTPS client for every SDK client built from this config. Left to itself, each client
    // (DynamoDB, the rate counter's, Secrets Manager, SQS) makes its own: its own parse of the
    // root certificates and its own connection pool, so the pool opened during init would not be
    // the one the first request's calls use. (Unlike the SDK's default, it does not read proxy
    // settings from the environment: Lambda reaches AWS directly or through VPC endpoints.)
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .build_https();
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(setting("AWS_REGION").or_else(|| setting("AWS_DEFAULT_REGION")).map(Region::new))
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()))
        .service_config(ServiceEndpoints)
        .http_client(https)
        // Explicit, not by accident: 3 attempts with exponential backoff and full jitter. The first
        // backoff is short (the SDK's default is 1 s) so that all three fit in the operation budget.
        .retry_config(RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(100)))
        .timeout_config(timeouts.store())
        .build()
}

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The endpoint of one service, which each SDK client asks its shared config for: the service's own
/// setting (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SECRETS_MANAGER`: the service id in upper
/// case, spaces as underscores), else `AWS_ENDPOINT_URL`. (An endpoint set on the shared config
/// itself would win over every service's own.)
#[derive(Debug)]
struct ServiceEndpoints;

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        setting(&service_setting(&key)).or_else(|| setting(key.env()))
    }
}

fn service_setting(key: &ServiceConfigKey<'_>) -> String {
    format!("{}_{}", key.env(), key.service_id().replace(' ', "_").to_uppercase())
}

/// A secret's value from Secrets Manager (by ARN or name), checked by [`checked_secret`]: the
/// local stack's development secret passes only when Secrets Manager is on this machine (moto).
async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    setting: &'static str,
    id: &str,
) -> Result<Vec<u8>, BoxError> {
    let output = client.get_secret_value().secret_id(id).send().await.map_err(|error| {
        let error = aws_sdk_secretsmanager::error::DisplayErrorContext(error);
        format!("cannot read the secret of {setting}: {error}")
    })?;
    let value = output.secret_string.ok_or_else(|| format!("the secret of {setting} has no string value"))?;
    let endpoint_is_local = crate::config::secrets_endpoint().is_some_and(|url| is_loopback_url(&url));
    Ok(checked_secret(setting, value, endpoint_is_local)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_reads_its_own_endpoint_setting_as_aws_config_names_it() {
        let names: Vec<String> = ["DynamoDB", "SQS", "Secrets Manager", "S3Vectors", "Bedrock Runtime"]
            .into_iter()
            .map(|service| {
                let key = ServiceConfigKey::builder()
                    .service_id(service)
                    .env("AWS_ENDPOINT_URL")
                    .profile("endpoint_url")
                    .build()
                    .unwrap();
                service_setting(&key)
            })
            .collect();
        let expected = [
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_SQS",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "AWS_ENDPOINT_URL_S3VECTORS",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        ];
        assert_eq!(names, expected);
    }
}
