//! Typed settings read once per cold start from the environment that template.yaml sets.

use std::env;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;

use crate::service::RateLimit;

pub use crate::repo::dynamodb::Tables;

/// The shortest HS256 secret we accept: shorter ones are guessable offline from any token.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// The local stack's secret (dev/local.py, the token command, events/): never deploy it, since
/// template.yaml takes the real secret as a parameter.
pub const LOCAL_DEV_JWT_SECRET: &str = "local-dev-secret-change-me-0123456789abcdef";

/// How many shards the shared partitions (the list indexes', the outbox's) are spread over unless
/// `WRITE_SHARDS` says (template.yaml's `WriteShards`); a list page makes one Query per shard.
pub const DEFAULT_WRITE_SHARDS: usize = 8;
const MAX_WRITE_SHARDS: usize = 64;

/// A setting that is missing or unsafe; the function refuses to start with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("{0} is not valid")]
    Invalid(&'static str),
    #[error("JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes (got {0})")]
    ShortSecret(usize),
}

/// How bearer tokens are verified.
#[derive(Clone)]
pub struct AuthConfig {
    /// Verifies HS256 tokens, unless `jwks_url` is set; always signs pagination cursors.
    pub jwt_secret: Vec<u8>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Tokens are RS256, signed by the keys published here (e.g. Cognito's JWKS).
    pub jwks_url: Option<String>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwks_url", &self.jwks_url)
            .finish()
    }
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let secret = env::var("JWT_SECRET").map_err(|_| ConfigError::Missing("JWT_SECRET"))?;
        let config = Self::new(secret.into_bytes(), optional("JWT_ISSUER"), optional("JWT_AUDIENCE"))?;
        Ok(Self { jwks_url: optional("JWT_JWKS_URL"), ..config })
    }

    pub fn new(jwt_secret: Vec<u8>, issuer: Option<String>, audience: Option<String>) -> Result<Self, ConfigError> {
        if jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError::ShortSecret(jwt_secret.len()));
        }
        Ok(Self { jwt_secret, issuer, audience, jwks_url: None })
    }
}

/// Which embedder turns text into vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedderKind {
    /// The built-in hashing embedder: no network, no model.
    Local,
    /// Amazon Bedrock, with this model id.
    Bedrock(String),
}

/// How long AWS SDK calls may take. DynamoDB and SQS answer in milliseconds: a call that has not
/// connected, or not answered, within 0.8 s is lost rather than slow. Retries included, an
/// operation gets 1.8 s, so an unreachable or throttling store is a 503 UNAVAILABLE in under 3 s
/// (the rate limiter's 0.5 s included, with room to spare), never a hang to the function's 10 s
/// timeout; and the SQS send that follows a committed write gives up within 1.8 s (the outbox
/// keeps the job).
///
/// `SDK_TIMEOUT_SCALE` (default 1) multiplies every budget, for emulators far slower than AWS
/// (the black-box tests run moto, which can take a second under load, with 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkTimeouts {
    scale: u32,
}

impl Default for SdkTimeouts {
    fn default() -> Self {
        Self { scale: 1 }
    }
}

impl SdkTimeouts {
    /// DynamoDB and SQS calls.
    pub fn store(&self) -> TimeoutConfig {
        self.budget(800, 800, 1800)
    }

    /// The rate-limit count, in front of every request: past this the limiter fails open rather
    /// than make the request slow.
    pub fn rate_counter(&self) -> TimeoutConfig {
        self.budget(250, 350, 500)
    }

    /// A model call (tens to hundreds of milliseconds): more room, still far inside the
    /// function's timeout.
    pub fn embedding(&self) -> TimeoutConfig {
        self.budget(1000, 3000, 5000)
    }

    fn budget(&self, connect_ms: u64, attempt_ms: u64, operation_ms: u64) -> TimeoutConfig {
        let scaled = |ms: u64| Duration::from_millis(ms * u64::from(self.scale));
        TimeoutConfig::builder()
            .connect_timeout(scaled(connect_ms))
            .operation_attempt_timeout(scaled(attempt_ms))
            .operation_timeout(scaled(operation_ms))
            .build()
    }
}

/// Tunables of the request path, with defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub rate_limit: RateLimit,
    pub sdk_timeouts: SdkTimeouts,
}

impl Default for Settings {
    fn default() -> Self {
        Self { rate_limit: RateLimit { limit: 100, window_seconds: 60 }, sdk_timeouts: SdkTimeouts::default() }
    }
}

/// The shared cache of markets (see [`crate::cache`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// `redis://host:port` or `rediss://host:port` (TLS); none: no cache, every read goes to DynamoDB.
    pub endpoint: Option<String>,
    /// The longest one cache call may take before the request goes to DynamoDB instead.
    pub timeout: Duration,
    /// How long an entry or a tombstone lives. Entries are never stale while the cache takes
    /// writes' refreshes; this bounds how long one may be if a refresh is lost.
    pub ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self { endpoint: None, timeout: Duration::from_millis(50), ttl: Duration::from_secs(60) }
    }
}

impl CacheSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            endpoint: optional("CACHE_ENDPOINT"),
            timeout: Duration::from_millis(number("CACHE_TIMEOUT_MS", defaults.timeout.as_millis() as u64)?.max(1)),
            ttl: Duration::from_secs(number("CACHE_TTL_SECONDS", defaults.ttl.as_secs())?.max(1)),
        })
    }
}

/// An optional numeric setting.
fn number(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match optional(name) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| ConfigError::Invalid(name)),
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            rate_limit: RateLimit {
                limit: number("RATE_LIMIT_PER_MINUTE", defaults.rate_limit.limit)?,
                window_seconds: number("RATE_LIMIT_WINDOW_SECONDS", defaults.rate_limit.window_seconds)?.max(1),
            },
            sdk_timeouts: SdkTimeouts {
                scale: u32::try_from(number("SDK_TIMEOUT_SCALE", 1)?)
                    .ok()
                    .filter(|scale| *scale >= 1)
                    .ok_or(ConfigError::Invalid("SDK_TIMEOUT_SCALE (a whole number from 1)"))?,
            },
        })
    }
}

/// Everything the functions need (each reads it all: the names are not secrets, and IAM decides
/// what each function may touch).
#[derive(Debug, Clone)]
pub struct Config {
    pub tables: Tables,
    pub index_queue_url: String,
    /// The S3 Vectors index search reads and the index worker writes.
    pub vector_index_arn: String,
    pub embedder: EmbedderKind,
    pub settings: Settings,
    pub cache: CacheSettings,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let embedder = match optional("EMBEDDER").as_deref() {
            None | Some("local") => EmbedderKind::Local,
            Some("bedrock") => EmbedderKind::Bedrock(
                optional("BEDROCK_MODEL_ID").unwrap_or_else(|| crate::search::BEDROCK_DEFAULT_MODEL.to_owned()),
            ),
            Some(_) => return Err(ConfigError::Invalid("EMBEDDER (local or bedrock)")),
        };
        Ok(Self {
            tables: Tables::from_env()?,
            index_queue_url: required("INDEX_QUEUE_URL")?,
            vector_index_arn: required("VECTOR_INDEX_ARN")?,
            embedder,
            settings: Settings::from_env()?,
            cache: CacheSettings::from_env()?,
        })
    }
}

impl Tables {
    pub fn from_env() -> Result<Self, ConfigError> {
        let write_shards = match optional("WRITE_SHARDS") {
            None => DEFAULT_WRITE_SHARDS,
            Some(text) => text
                .parse()
                .ok()
                .filter(|shards| (1..=MAX_WRITE_SHARDS).contains(shards))
                .ok_or(ConfigError::Invalid("WRITE_SHARDS (1 to 64)"))?,
        };
        Ok(Self {
            write_shards,
            markets: required("MARKETS_TABLE")?,
            positions: required("POSITIONS_TABLE")?,
            users: required("USERS_TABLE")?,
            idempotency: required("IDEMPOTENCY_TABLE")?,
            outbox: required("OUTBOX_TABLE")?,
            rate_limits: required("RATE_LIMIT_TABLE")?,
        })
    }
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name).ok_or(ConfigError::Missing(name))
}

/// Unset and empty mean the same: template.yaml passes empty parameters as "".
fn optional(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_budgets_answer_an_outage_within_3_s_and_scale_for_emulators() {
        let deployed = SdkTimeouts::default();
        let worst =
            deployed.rate_counter().operation_timeout().unwrap() + deployed.store().operation_timeout().unwrap();
        assert!(worst < Duration::from_secs(3), "limiter then one store call: {worst:?}");
        let emulated = SdkTimeouts { scale: 10 };
        assert_eq!(emulated.store().operation_attempt_timeout(), Some(Duration::from_secs(8)));
        assert_eq!(emulated.rate_counter().connect_timeout(), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn refuses_short_secrets_and_hides_the_secret_in_debug() {
        assert!(matches!(AuthConfig::new(b"short".to_vec(), None, None), Err(ConfigError::ShortSecret(5))));
        let config = AuthConfig::new(b"0123456789abcdef0123456789abcdef".to_vec(), None, None).unwrap();
        assert!(!format!("{config:?}").contains("0123456789"));
    }
}
