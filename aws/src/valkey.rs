//! The cache on a Valkey/Redis server (ElastiCache Serverless on AWS, redis-server locally): one
//! multiplexed connection per warm instance, reconnecting by itself, and one Lua script per
//! operation so that every check-and-set is atomic on the server. Each entry is a hash at
//! `market:<id>` with `v` (the version, or `deleted`), `body` (the market and its creator as
//! JSON) and `lease`.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, Script, ScriptInvocation};
use tracing::{Instrument, Span};

use markets_core::cache::{CacheError, CachedMarket, Lease, Lookup, MarketCache};
use markets_core::observability::xray;

use crate::settings::CacheSettings;

/// How long a reader's lease lives: longer than any request (the functions' timeout is 10 s).
const LEASE_SECONDS: u64 = 30;

/// How long init may spend opening the connection and loading the scripts before giving up
/// (the cache is then only slow: calls reconnect, under their own timeout).
const INIT_BUDGET: Duration = Duration::from_secs(2);

const LOOKUP: &str = r"
local entry = redis.call('HMGET', KEYS[1], 'v', 'body', 'lease')
if entry[1] == 'deleted' then return {'deleted'} end
if entry[2] then return {'hit', entry[2]} end
if entry[3] then return {'miss', entry[3]} end
redis.call('HSET', KEYS[1], 'lease', ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {'miss', ARGV[1]}
";

// Only under the lease this reader was given, and never below the version the entry knows.
const FILL: &str = r"
local entry = redis.call('HMGET', KEYS[1], 'v', 'lease')
if entry[2] ~= ARGV[1] or entry[1] == 'deleted' then return 0 end
if entry[1] and tonumber(entry[1]) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'body', ARGV[3])
redis.call('HDEL', KEYS[1], 'lease')
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
";

// Only an entry that exists (absent stays absent), never a tombstone, never over a newer version;
// and only a body that is there: an entry without one may have been invalidated by a later write
// (a position) whose version is not known here, so it only learns this version as a floor. (An
// entry of only a lease is gone once the lease is: the floor written then needs its own TTL.)
const UPDATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local entry = redis.call('HMGET', KEYS[1], 'v', 'body')
if entry[1] == 'deleted' then return 0 end
redis.call('HDEL', KEYS[1], 'lease')
local known = tonumber(entry[1])
if known and known >= tonumber(ARGV[1]) then return 0 end
if not entry[2] then
  redis.call('HSET', KEYS[1], 'v', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'body', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
";

const INVALIDATE: &str = r"
if redis.call('HGET', KEYS[1], 'v') == 'deleted' then return 0 end
return redis.call('HDEL', KEYS[1], 'body', 'lease')
";

const TOMBSTONE: &str = r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', 'deleted')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
";

pub struct RedisCache {
    connection: ConnectionManager,
    /// The longest any one call may take, connecting included.
    timeout: Duration,
    /// How long entries and tombstones live.
    ttl_seconds: u64,
    scripts: Scripts,
}

struct Scripts {
    lookup: Script,
    fill: Script,
    update: Script,
    invalidate: Script,
    tombstone: Script,
}

fn failed(error: redis::RedisError) -> CacheError {
    CacheError::Failed(error.into())
}

fn key(id: &str) -> String {
    format!("market:{id}")
}

impl RedisCache {
    /// A cache on the server at `endpoint` (`redis://host:port`, or `rediss://` for TLS as
    /// ElastiCache Serverless requires). The connection is opened and the scripts loaded here,
    /// during init; a server that does not answer now only makes calls miss until it does.
    pub async fn connect(endpoint: &str, settings: &CacheSettings) -> Result<Self, CacheError> {
        let client = redis::Client::open(endpoint).map_err(failed)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10));
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(failed)?;
        let cache = Self {
            connection,
            timeout: settings.timeout,
            ttl_seconds: settings.ttl.as_secs().max(1),
            scripts: Scripts {
                lookup: Script::new(LOOKUP),
                fill: Script::new(FILL),
                update: Script::new(UPDATE),
                invalidate: Script::new(INVALIDATE),
                tombstone: Script::new(TOMBSTONE),
            },
        };
        match tokio::time::timeout(INIT_BUDGET, cache.load_scripts()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "cache unreachable at init; reads go to DynamoDB until it is")
            }
            Err(_) => tracing::warn!("cache did not answer at init; reads go to DynamoDB until it does"),
        }
        Ok(cache)
    }

    async fn load_scripts(&self) -> Result<(), redis::RedisError> {
        let mut connection = self.connection.clone();
        let scripts = &self.scripts;
        for script in [&scripts.lookup, &scripts.fill, &scripts.update, &scripts.invalidate, &scripts.tombstone] {
            script.prepare_invoke().load_async(&mut connection).await?;
        }
        Ok(())
    }

    /// Runs one script, `operation`, under the call timeout (a script the server lost, after a
    /// restart, is loaded again by the client); a span of the request's trace when it is sampled.
    async fn run<T: FromRedisValue>(
        &self,
        operation: &'static str,
        invocation: ScriptInvocation<'_>,
    ) -> Result<T, CacheError> {
        let span = if xray::sampled_here() { tracing::debug_span!("Valkey") } else { Span::none() };
        xray::set(&span, "namespace", "remote");
        xray::set_in(&span, "annotations", "operation", operation);
        let mut connection = self.connection.clone();
        let call = tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection));
        let result = match call.instrument(span.clone()).await {
            Ok(result) => result.map_err(failed),
            Err(_) => Err(CacheError::Timeout(self.timeout)),
        };
        if result.is_err() {
            xray::set(&span, "fault", true);
        }
        result
    }
}

#[async_trait]
impl MarketCache for RedisCache {
    async fn lookup(&self, id: &str) -> Result<Lookup, CacheError> {
        let mut invocation = self.scripts.lookup.key(key(id));
        invocation.arg(Lease::new().0).arg(LEASE_SECONDS);
        let reply: Vec<String> = self.run("lookup", invocation).await?;
        let malformed = || CacheError::Failed(format!("unexpected lookup reply {reply:?}").into());
        match reply.as_slice() {
            [kind] if kind == "deleted" => Ok(Lookup::Deleted),
            [kind, body] if kind == "hit" => Ok(Lookup::Hit(Box::new(from_body(body)?))),
            [kind, lease] if kind == "miss" => Ok(Lookup::Miss(Some(Lease(lease.clone())))),
            _ => Err(malformed()),
        }
    }

    async fn fill(&self, id: &str, lease: &Lease, market: &CachedMarket) -> Result<bool, CacheError> {
        let mut invocation = self.scripts.fill.key(key(id));
        invocation.arg(&lease.0).arg(market.version()).arg(body(market)).arg(self.ttl_seconds);
        self.run("fill", invocation).await
    }

    async fn update(&self, id: &str, market: &CachedMarket) -> Result<(), CacheError> {
        let mut invocation = self.scripts.update.key(key(id));
        invocation.arg(market.version()).arg(body(market)).arg(self.ttl_seconds);
        self.run::<i64>("update", invocation).await.map(drop)
    }

    async fn invalidate(&self, id: &str) -> Result<(), CacheError> {
        self.run::<i64>("invalidate", self.scripts.invalidate.key(key(id))).await.map(drop)
    }

    async fn tombstone(&self, id: &str) -> Result<(), CacheError> {
        let mut invocation = self.scripts.tombstone.key(key(id));
        invocation.arg(self.ttl_seconds);
        self.run::<i64>("tombstone", invocation).await.map(drop)
    }
}

/// An entry's body: the market and its creator as JSON.
fn body(cached: &CachedMarket) -> String {
    serde_json::to_string(cached).expect("cached markets serialize")
}

/// A body this version cannot read (one an older version wrote, until its TTL ends) is a failed
/// call: the reader goes to DynamoDB.
fn from_body(body: &str) -> Result<CachedMarket, CacheError> {
    serde_json::from_str(body).map_err(|error| CacheError::Failed(format!("unreadable cache entry: {error}").into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_an_older_version_wrote_is_a_failed_call_not_a_hit() {
        let rendered_view = r#"{"id":"m","name":"Rain?","volume":2.5,"creatorId":"alice","version":3}"#;
        assert!(matches!(from_body(rendered_view), Err(CacheError::Failed(_))));
    }

    #[tokio::test]
    async fn tls_endpoints_are_accepted_and_a_cache_down_at_init_does_not_stop_the_start() {
        let settings = CacheSettings::default();
        // ElastiCache Serverless only takes TLS; nothing listens on port 1, so init only warns.
        let cache = RedisCache::connect("rediss://127.0.0.1:1", &settings).await.expect("rediss:// is supported");
        assert!(
            cache.lookup("m").await.is_err(),
            "a call to a cache that is down fails (and the caller reads DynamoDB)"
        );
        assert!(
            RedisCache::connect("memcached://127.0.0.1:1", &settings).await.is_err(),
            "a wrong URL refuses to start"
        );
    }
}
