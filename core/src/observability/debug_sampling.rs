//! Debug lines as Powertools' Logger samples them: the project's own debug lines (one per store
//! call, retries, token rejections) are off by default; an invocation sampled at
//! `LOG_DEBUG_SAMPLE_RATE` (0 to 1) writes them as they come, and any other holds them until it
//! ends, when they are written only if it failed (a 5xx answer, see [`flush_debug_lines`]) and else
//! dropped. Holding costs formatting a few lines per request; other crates' debug lines (the SDK
//! writes dozens per call) stay under `RUST_LOG` alone.

use std::cell::RefCell;
use std::future::Future;
use std::io::Write as _;
use std::sync::OnceLock;

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Filter};

/// The targets whose debug lines are sampled: the workspace's crates.
const OWN_TARGETS: &str = "markets_";

/// The most an invocation holds: past it, its later debug lines are dropped.
const HELD_MAX_BYTES: usize = 64 * 1024;

static SAMPLE_RATE: OnceLock<f64> = OnceLock::new();

/// One invocation's sampling decision and the debug lines it holds.
struct Invocation {
    sampled: bool,
    held: RefCell<Vec<u8>>,
}

tokio::task_local! {
    static INVOCATION: Invocation;
}

/// `LOG_DEBUG_SAMPLE_RATE`: the share of invocations that write their debug lines; anything but a
/// number from 0 to 1 means 0.
pub(super) fn init_sample_rate() {
    let rate = std::env::var("LOG_DEBUG_SAMPLE_RATE").ok().and_then(|rate| rate.trim().parse::<f64>().ok());
    let _ = SAMPLE_RATE.set(rate.filter(|rate| (0.0..=1.0).contains(rate)).unwrap_or(0.0));
}

/// Runs `work` as one invocation: sampled or not, its debug lines written or held.
pub async fn with_sampled_debug<F: Future>(work: F) -> F::Output {
    let rate = SAMPLE_RATE.get().copied().unwrap_or(0.0);
    let sampled = rate >= 1.0 || (rate > 0.0 && fastrand::f64() < rate);
    INVOCATION.scope(Invocation { sampled, held: RefCell::default() }, work).await
}

/// Writes the debug lines the current invocation held so far: it failed, and they show how.
pub fn flush_debug_lines() {
    let _ = INVOCATION.try_with(|invocation| {
        let held = invocation.held.take();
        if !held.is_empty() {
            let _ = std::io::stdout().lock().write_all(&held);
        }
    });
}

fn sampled() -> bool {
    INVOCATION.try_with(|invocation| invocation.sampled).unwrap_or(false)
}

fn holding() -> bool {
    INVOCATION.try_with(|invocation| !invocation.sampled).unwrap_or(false)
}

fn own_debug(meta: &Metadata<'_>) -> bool {
    meta.is_event() && *meta.level() == Level::DEBUG && meta.target().starts_with(OWN_TARGETS)
}

/// Where the held lines are formatted to: the current invocation's buffer.
pub(super) struct HeldWriter;

impl std::io::Write for HeldWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let _ = INVOCATION.try_with(|invocation| {
            let mut held = invocation.held.borrow_mut();
            if held.len() + line.len() <= HELD_MAX_BYTES {
                held.extend_from_slice(line);
            }
        });
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Which lines a log layer takes: `levels` (`RUST_LOG`'s) decide, and the project's debug lines
/// go to the written layer in a sampled invocation and to the held one in any other.
pub(super) struct Sampling {
    pub levels: Targets,
    pub held: bool,
}

impl<S> Filter<S> for Sampling {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        let by_levels = self.levels.would_enable(meta.target(), meta.level());
        match (self.held, meta.is_span()) {
            // Both layers show the spans a line was in.
            (_, true) => by_levels,
            (false, false) => by_levels || (own_debug(meta) && sampled()),
            (true, false) => !by_levels && own_debug(meta) && holding(),
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let by_levels = self.levels.would_enable(meta.target(), meta.level());
        if by_levels && !(self.held && meta.is_event()) {
            Interest::always()
        } else if own_debug(meta) && !by_levels {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let levels = <Targets as Filter<S>>::max_level_hint(&self.levels).unwrap_or(LevelFilter::TRACE);
        Some(levels.max(LevelFilter::DEBUG))
    }
}
