//! Fixed-window rate limiting per caller, on a counter shared by every function instance, with
//! each instance remembering who is already refused so that a flood costs it no DynamoDB call.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::domain::unix_seconds;
use crate::error::error_chain;
use crate::observability::emit_rate_limiter_unreachable;
use crate::repo::{Count, RateCounter, RepoError};

/// The limit and window (the edge reads them from `RATE_LIMIT_PER_MINUTE`, default 100, and
/// `RATE_LIMIT_WINDOW_SECONDS`, default 60).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub window_seconds: u64,
}

/// What the limiter decided, with what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window resets.
    pub reset_seconds: u64,
    /// Set when the request is refused: seconds until it is worth retrying (`Retry-After`).
    pub retry_after: Option<u64>,
}

/// What the limiter made of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted: served, or refused (429) when the quota's `retry_after` is set.
    Counted(Quota),
    /// Not counted, and served: a CORS preflight, or the counter unreachable (fail open, counted
    /// by the `RateLimiterUnreachable` metric, which has an alarm).
    Uncounted,
    /// Not counted, and not served: the counter refused the call for a reason an outage does not
    /// explain (a missing permission, a malformed request), a misconfiguration that serving every
    /// caller without a limit would hide.
    Failed,
}

impl Admission {
    pub fn quota(self) -> Option<Quota> {
        match self {
            Self::Counted(quota) => Some(quota),
            Self::Uncounted | Self::Failed => None,
        }
    }

    /// Whether the request is served.
    pub fn serves(self) -> bool {
        matches!(self, Self::Counted(Quota { retry_after: None, .. }) | Self::Uncounted)
    }
}

tokio::task_local! {
    /// The current request's write gate (see [`WriteGate`]): `true` once it is open.
    static WRITES_ADMITTED: tokio::sync::watch::Receiver<bool>;
}

/// What keeps a request's writes waiting for its rate-limit check, so that the reads it starts
/// from (an edit reads the market first) run alongside the check instead of after it, and a
/// refused caller still writes nothing: every transactional write waits for [`admitted`].
pub struct WriteGate(tokio::sync::watch::Sender<bool>);

impl WriteGate {
    /// A closed gate, and `work` run behind it.
    pub fn guard<F: Future>(work: F) -> (Self, impl Future<Output = F::Output>) {
        let (gate, admitted) = tokio::sync::watch::channel(false);
        (Self(gate), WRITES_ADMITTED.scope(admitted, work))
    }

    /// Lets the writes start: the check has passed.
    pub fn open(&self) {
        self.0.send_replace(true);
    }
}

/// Waits until the current request's writes may start; at once outside a request behind a gate
/// (unit tests, tools).
pub(super) async fn admitted() -> Result<(), RepoError> {
    let Ok(mut gate) = WRITES_ADMITTED.try_with(Clone::clone) else { return Ok(()) };
    match gate.wait_for(|open| *open).await {
        Ok(_) => Ok(()),
        // The pipeline drops a refused request's work before its gate: never reached.
        Err(_) => Err(RepoError::Internal("the request's writes were never admitted".into())),
    }
}

/// How many refused identities an instance remembers (the oldest are forgotten first, and then
/// merely cost a DynamoDB call again).
const REMEMBERED_IDENTITIES: usize = 10_000;

/// How long a throttled identity is refused: DynamoDB throttles one item past ~1,000 writes a
/// second, so its caller is flooding, but whether it is over its limit is unknown.
const THROTTLED_PAUSE_SECONDS: u64 = 1;

pub struct RateLimiter {
    counter: Arc<dyn RateCounter>,
    rate: RateLimit,
    /// Identity → the Unix second until which it is refused without asking the counter.
    refused: Mutex<RefusedCallers>,
}

/// The identities an instance refuses without asking the counter, at most
/// [`REMEMBERED_IDENTITIES`] of them: a full map forgets those whose refusal is over, then the
/// ones refused until the earliest. (A plain map: moka's concurrent cache cost every function
/// 47 KB of its zip, for what one invocation at a time reads.)
#[derive(Default)]
struct RefusedCallers(HashMap<String, u64>);

impl RefusedCallers {
    fn until(&self, identity: &str, now: u64) -> Option<u64> {
        self.0.get(identity).copied().filter(|until| *until > now)
    }

    fn insert(&mut self, identity: &str, until: u64, now: u64) {
        if self.0.len() >= REMEMBERED_IDENTITIES && !self.0.contains_key(identity) {
            self.0.retain(|_, until| *until > now);
            if self.0.len() >= REMEMBERED_IDENTITIES
                && let Some(first) = self.0.iter().min_by_key(|(_, until)| **until).map(|(id, _)| id.clone())
            {
                self.0.remove(&first);
            }
        }
        self.0.insert(identity.to_owned(), until);
    }
}

impl RateLimiter {
    pub fn new(counter: Arc<dyn RateCounter>, rate: RateLimit) -> Self {
        Self { counter, rate, refused: Mutex::default() }
    }

    /// Counts one request by `identity` (a user id or a source address). When the counter cannot
    /// be reached the request is served uncounted (fail open), with a warning and a metric; when
    /// it fails otherwise, the request fails. An identity over its limit, or whose counter is
    /// throttled, is refused, and refused again by this instance without a DynamoDB call until the
    /// window resets (or the throttling pause ends).
    pub async fn check(&self, identity: &str) -> Admission {
        let now = unix_seconds();
        let window = self.rate.window_seconds.max(1);
        let window_start = now - now % window;
        let reset_seconds = window_start + window - now;
        let refused = |until: u64| Quota {
            limit: self.rate.limit,
            remaining: 0,
            reset_seconds,
            retry_after: Some(until.saturating_sub(now).max(1)),
        };
        if let Some(until) = self.refused().until(identity, now) {
            return Admission::Counted(refused(until));
        }
        let key = format!("{identity}#{window_start}");
        // Kept a window past its end, so that TTL (which deletes lazily) never removes a live one.
        let expires_at = window_start + 2 * window;
        let until = match self.counter.increment_below(&key, self.rate.limit, expires_at).await {
            Ok(Count::Counted(count)) => {
                let remaining = self.rate.limit.saturating_sub(count);
                return Admission::Counted(Quota {
                    limit: self.rate.limit,
                    remaining,
                    reset_seconds,
                    retry_after: None,
                });
            }
            Ok(Count::LimitReached) => window_start + window,
            Ok(Count::Throttled) => {
                tracing::warn!(identity, "rate-limit counter throttled: refusing the caller");
                now + THROTTLED_PAUSE_SECONDS
            }
            Err(error @ RepoError::Unavailable(_)) => {
                tracing::warn!(error = %error_chain(&error), "rate limiter unreachable: serving without a limit");
                emit_rate_limiter_unreachable();
                return Admission::Uncounted;
            }
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "rate limiter failed: refusing the request");
                return Admission::Failed;
            }
        };
        self.refused().insert(identity, until, now);
        Admission::Counted(refused(until))
    }

    fn refused(&self) -> std::sync::MutexGuard<'_, RefusedCallers> {
        // A panic while the lock is held leaves the map whole: its entries are plain values.
        self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::memory::InMemoryStore;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A counter that answers `outcome` (or the in-memory store's count) and counts its calls.
    #[derive(Default)]
    struct Counting {
        store: InMemoryStore,
        outcome: Option<Result<Count, fn() -> RepoError>>,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl RateCounter for Counting {
        async fn increment_below(&self, key: &str, limit: u64, expires_at: u64) -> Result<Count, RepoError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match self.outcome {
                None => self.store.increment_below(key, limit, expires_at).await,
                Some(Ok(count)) => Ok(count),
                Some(Err(error)) => Err(error()),
            }
        }
    }

    fn limiter(counter: &Arc<Counting>, limit: u64) -> RateLimiter {
        RateLimiter::new(counter.clone(), RateLimit { limit, window_seconds: 3600 })
    }

    #[test]
    fn the_refused_callers_stay_bounded_forgetting_ended_refusals_then_the_earliest() {
        let now = 1_000;
        let mut refused = RefusedCallers::default();
        refused.insert("ended", now - 1, now - 10);
        for i in 1..REMEMBERED_IDENTITIES {
            refused.insert(&format!("ip:{i}"), now + 10 + i as u64, now);
        }
        assert_eq!(refused.0.len(), REMEMBERED_IDENTITIES);
        refused.insert("new-1", now + 5, now);
        assert_eq!(refused.0.len(), REMEMBERED_IDENTITIES, "a full map forgets a refusal that is over first");
        assert_eq!((refused.until("ended", now), refused.until("ip:1", now)), (None, Some(now + 11)));
        refused.insert("new-2", now + 50_000, now);
        assert_eq!(refused.0.len(), REMEMBERED_IDENTITIES, "then the one refused until the earliest");
        assert_eq!((refused.until("new-1", now), refused.until("ip:1", now)), (None, Some(now + 11)));
        assert_eq!(refused.until("new-2", now), Some(now + 50_000));
    }

    #[tokio::test]
    async fn allows_the_limit_per_identity_then_refuses_without_asking_the_counter_again() {
        let counter = Arc::new(Counting::default());
        let limiter = limiter(&counter, 3);
        let mut decisions = Vec::new();
        for _ in 0..6 {
            let quota = limiter.check("user:alice").await.quota().unwrap();
            decisions.push((quota.retry_after.is_none(), quota.remaining));
        }
        assert_eq!(decisions, [(true, 2), (true, 1), (true, 0), (false, 0), (false, 0), (false, 0)]);
        assert_eq!(counter.calls.load(Ordering::SeqCst), 4, "refused from memory after the first refusal");
        let quota = limiter.check("user:alice").await.quota().unwrap();
        assert!(quota.reset_seconds >= 1 && quota.reset_seconds <= 3600);
        assert_eq!(quota.retry_after, Some(quota.reset_seconds), "refused until the window resets");
        assert!(limiter.check("user:bob").await.quota().unwrap().retry_after.is_none(), "others are not refused");
    }

    #[tokio::test]
    async fn a_throttled_counter_refuses_for_a_second_and_never_serves_unlimited() {
        let counter = Arc::new(Counting { outcome: Some(Ok(Count::Throttled)), ..Counting::default() });
        let limiter = limiter(&counter, 100);
        for _ in 0..3 {
            let quota = limiter.check("user:flood").await.quota().unwrap();
            assert_eq!((quota.retry_after, quota.remaining), (Some(1), 0));
        }
        assert_eq!(counter.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn fails_open_only_when_the_counter_is_unreachable() {
        let unreachable = || RepoError::Unavailable("timed out".into());
        let counter = Arc::new(Counting { outcome: Some(Err(unreachable)), ..Counting::default() });
        let open = limiter(&counter, 1);
        assert_eq!(open.check("ip:1.2.3.4").await, Admission::Uncounted);
        assert_eq!(open.check("ip:1.2.3.4").await, Admission::Uncounted, "an outage is not remembered as a refusal");
        assert_eq!(counter.calls.load(Ordering::SeqCst), 2);

        // A missing permission is no outage: not a reason to serve every caller without a limit.
        let denied = || RepoError::Internal("AccessDeniedException".into());
        let counter = Arc::new(Counting { outcome: Some(Err(denied)), ..Counting::default() });
        assert_eq!(limiter(&counter, 1).check("ip:1.2.3.4").await, Admission::Failed);
    }
}
