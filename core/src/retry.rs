//! Retry with exponential backoff and full jitter, for the failures the AWS SDK does not retry
//! itself: a cancelled transaction's conflict, unprocessed batch keys, the embedder's transient
//! errors and the outbox sweeper's sends. Only what `is_transient` accepts is retried, and never
//! past the deadline: the one given, or the deadline of the invocation being served (see
//! [`within_deadline`]), whichever comes first.

use std::future::Future;
use std::time::{Duration, Instant};

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// Fast retries for contention on one item: many short attempts.
    pub const CONTENTION: Backoff =
        Backoff { max_attempts: 10, base: Duration::from_millis(10), cap: Duration::from_millis(500) };

    /// The sleep before retry number `attempt` (1-based): uniform in [0, min(cap, base * 2^attempt)].
    /// Full jitter spreads competing clients apart instead of having them collide again.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponential = self.base.saturating_mul(2u32.saturating_pow(attempt.min(16)));
        let ceiling = exponential.min(self.cap);
        ceiling.mul_f64(fastrand::f64())
    }
}

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` as the handling of an invocation that must answer by `deadline`: every retry inside
/// it stops sleeping before then (see [`current_deadline`]).
pub async fn within_deadline<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// When the invocation being served must have its answer ready, if one is being served.
pub fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Whether a sleep of `delay` now would end past `deadline` or the invocation's deadline.
pub fn sleep_would_pass(delay: Duration, deadline: Option<Instant>) -> bool {
    let wakes = Instant::now() + delay;
    [deadline, current_deadline()].into_iter().flatten().any(|deadline| wakes >= deadline)
}

/// Runs `operation` until it succeeds, fails for good, runs out of attempts, or the next sleep
/// would end past `deadline` or the invocation's.
pub async fn retry<T, E, Fut>(
    backoff: Backoff,
    deadline: Option<Instant>,
    is_transient: impl Fn(&E) -> bool,
    mut operation: impl FnMut() -> Fut,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match operation().await {
            Err(error) if is_transient(&error) && attempt < backoff.max_attempts => {
                let delay = backoff.delay(attempt);
                if sleep_would_pass(delay, deadline) {
                    return Err(error);
                }
                tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, "transient failure, retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const FAST: Backoff = Backoff { max_attempts: 4, base: Duration::from_millis(1), cap: Duration::from_millis(2) };

    #[test]
    fn delays_grow_but_stay_under_the_cap() {
        let backoff = Backoff { max_attempts: 10, base: Duration::from_millis(10), cap: Duration::from_millis(100) };
        for attempt in 1..10 {
            assert!(backoff.delay(attempt) <= Duration::from_millis(100));
        }
        assert!(backoff.delay(1) <= Duration::from_millis(20));
    }

    #[tokio::test]
    async fn retries_transient_errors_only_and_gives_up_after_max_attempts() {
        let calls = Cell::new(0);
        let result: Result<(), &str> = retry(
            FAST,
            None,
            |e| *e == "busy",
            || async {
                calls.set(calls.get() + 1);
                Err("busy")
            },
        )
        .await;
        assert_eq!((result, calls.get()), (Err("busy"), 4));

        calls.set(0);
        let result: Result<(), &str> = retry(
            FAST,
            None,
            |e| *e == "busy",
            || async {
                calls.set(calls.get() + 1);
                Err("broken")
            },
        )
        .await;
        assert_eq!((result, calls.get()), (Err("broken"), 1));

        calls.set(0);
        let result = retry(
            FAST,
            None,
            |e: &&str| *e == "busy",
            || async {
                calls.set(calls.get() + 1);
                if calls.get() < 3 { Err("busy") } else { Ok(7) }
            },
        )
        .await;
        assert_eq!(result, Ok(7));
    }

    #[tokio::test]
    async fn never_sleeps_past_the_deadline() {
        let calls = Cell::new(0);
        let slow = Backoff { max_attempts: 100, base: Duration::from_secs(10), cap: Duration::from_secs(10) };
        let started = Instant::now();
        let deadline = Some(Instant::now() + Duration::from_millis(1));
        let result: Result<(), &str> = retry(
            slow,
            deadline,
            |_| true,
            || async {
                calls.set(calls.get() + 1);
                Err("busy")
            },
        )
        .await;
        assert_eq!(result, Err("busy"));
        assert!(calls.get() <= 2 && started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn never_sleeps_past_the_invocations_deadline() {
        let calls = Cell::new(0);
        let result: Result<(), &str> = within_deadline(
            Instant::now(),
            retry(
                FAST,
                None,
                |_| true,
                || async {
                    calls.set(calls.get() + 1);
                    Err("busy")
                },
            ),
        )
        .await;
        assert_eq!((result, calls.get()), (Err("busy"), 1));
    }
}
