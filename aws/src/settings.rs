//! What the adapters are given: plain settings, with their defaults. The edge reads them from the
//! environment (`markets_lambda::config`); the seed tool and the tests build them for a local stack.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;

/// How many shards the shared partitions (the list indexes', the outbox's) are spread over unless
/// `WRITE_SHARDS` says (template.yaml's `WriteShards`); a list page makes one Query per shard.
pub const DEFAULT_WRITE_SHARDS: usize = 8;

/// The tables, by their deployed names (template.yaml passes them in the environment), and how
/// many shards the shared partitions (list indexes, outbox) are spread over.
#[derive(Debug, Clone)]
pub struct Tables {
    pub write_shards: usize,
    pub markets: String,
    pub positions: String,
    pub users: String,
    pub idempotency: String,
    pub outbox: String,
    pub rate_limits: String,
}

/// The name the local stack gives a resource of the stack with this prefix: `<prefix>-<LogicalId>`
/// (dev/sim/common.py's `resource_name` is its twin). The seed tool and the tests find a local
/// stack's tables, queues and vector index by it.
pub fn local_name(prefix: &str, logical_id: &str) -> String {
    format!("{prefix}-{logical_id}")
}

/// The ARN of a local stack's search index (S3 Vectors names allow no capitals: lower-cased).
pub fn local_vector_index_arn(prefix: &str) -> String {
    let name = |logical_id: &str| local_name(prefix, logical_id).to_lowercase();
    let (bucket, index) = (name("SearchVectorBucket"), name("SearchIndex"));
    format!("arn:aws:s3vectors:us-east-1:123456789012:bucket/{bucket}/index/{index}")
}

impl Tables {
    /// The tables of a local stack (see [`local_name`]).
    pub fn with_prefix(prefix: &str, write_shards: usize) -> Self {
        let table = |logical_id: &str| local_name(prefix, logical_id);
        Self {
            write_shards,
            markets: table("MarketsTable"),
            positions: table("PositionsTable"),
            users: table("UsersTable"),
            idempotency: table("IdempotencyTable"),
            outbox: table("OutboxTable"),
            rate_limits: table("RateLimitTable"),
        }
    }
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
    /// Every budget multiplied by `scale` (at least 1).
    pub fn scaled(scale: u32) -> Self {
        Self { scale: scale.max(1) }
    }

    /// DynamoDB and SQS calls.
    pub fn store(&self) -> TimeoutConfig {
        self.budget(800, 800, 1800)
    }

    /// The rate-limit count, in front of every request: past this the limiter fails open rather
    /// than make the request slow. The connect timeout is the store's (the attempt's 350 ms bounds
    /// a connect anyway) because the HTTP client keeps one connection pool per connect and read
    /// timeout: with its own, the counter would pay a second TLS handshake on the first request.
    pub fn rate_counter(&self) -> TimeoutConfig {
        self.budget(800, 350, 500)
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

/// The shared cache of markets (see `markets_core::cache` and [`crate::valkey`]).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_budgets_answer_an_outage_within_3_s_and_scale_for_emulators() {
        let deployed = SdkTimeouts::default();
        let worst =
            deployed.rate_counter().operation_timeout().unwrap() + deployed.store().operation_timeout().unwrap();
        assert!(worst < Duration::from_secs(3), "limiter then one store call: {worst:?}");
        let emulated = SdkTimeouts::scaled(10);
        assert_eq!(emulated.store().operation_attempt_timeout(), Some(Duration::from_secs(8)));
        assert_eq!(emulated.rate_counter().operation_attempt_timeout(), Some(Duration::from_millis(3500)));
        assert_eq!(deployed.rate_counter().connect_timeout(), deployed.store().connect_timeout(), "one pool");
    }
}
