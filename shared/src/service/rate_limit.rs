//! Fixed-window rate limiting per caller, on a counter shared by every function instance.

use std::sync::Arc;

use crate::domain::unix_seconds;
use crate::error::error_chain;
use crate::repo::RateCounter;

/// The limit and window, from `RATE_LIMIT_PER_MINUTE` (default 100) and
/// `RATE_LIMIT_WINDOW_SECONDS` (default 60).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub window_seconds: u64,
}

/// What the limiter decided, with what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window resets.
    pub reset_seconds: u64,
}

pub struct RateLimiter {
    counter: Arc<dyn RateCounter>,
    rate: RateLimit,
}

impl RateLimiter {
    pub fn new(counter: Arc<dyn RateCounter>, rate: RateLimit) -> Self {
        Self { counter, rate }
    }

    /// Counts one request by `identity` (a user id or a source address). `None` when the counter
    /// cannot be reached: the request is served (fail open) and a warning logged.
    pub async fn check(&self, identity: &str) -> Option<Quota> {
        let now = unix_seconds();
        let window = self.rate.window_seconds.max(1);
        let window_start = now - now % window;
        let reset_seconds = window_start + window - now;
        let key = format!("{identity}#{window_start}");
        // Kept a window past its end, so that TTL (which deletes lazily) never removes a live one.
        let expires_at = window_start + 2 * window;
        match self.counter.increment_below(&key, self.rate.limit, expires_at).await {
            Ok(Some(count)) => Some(Quota {
                allowed: true,
                limit: self.rate.limit,
                remaining: self.rate.limit.saturating_sub(count),
                reset_seconds,
            }),
            Ok(None) => Some(Quota { allowed: false, limit: self.rate.limit, remaining: 0, reset_seconds }),
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "rate limiter unreachable: serving without a limit");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::RepoError;
    use crate::repo::memory::InMemoryStore;
    use async_trait::async_trait;

    struct Down;

    #[async_trait]
    impl RateCounter for Down {
        async fn increment_below(&self, _: &str, _: u64, _: u64) -> Result<Option<u64>, RepoError> {
            Err(RepoError::Unavailable("table gone".into()))
        }
    }

    #[tokio::test]
    async fn allows_the_limit_per_identity_then_refuses() {
        let limiter =
            RateLimiter::new(Arc::new(InMemoryStore::default()), RateLimit { limit: 3, window_seconds: 3600 });
        let mut remaining = Vec::new();
        for _ in 0..4 {
            let quota = limiter.check("user:alice").await.unwrap();
            remaining.push((quota.allowed, quota.remaining));
        }
        assert_eq!(remaining, [(true, 2), (true, 1), (true, 0), (false, 0)]);
        assert!(limiter.check("user:bob").await.unwrap().allowed);
        let quota = limiter.check("user:alice").await.unwrap();
        assert!(quota.reset_seconds >= 1 && quota.reset_seconds <= 3600);
    }

    #[tokio::test]
    async fn fails_open_when_the_counter_is_unreachable() {
        let limiter = RateLimiter::new(Arc::new(Down), RateLimit { limit: 1, window_seconds: 60 });
        assert_eq!(limiter.check("ip:1.2.3.4").await, None);
    }
}
