//! The work settings: worker threads, jobs in flight, a job's time limit and which queue a message goes to.

use super::parse::{seconds, whole};
use super::{Fallback, Legacy, Setting};
use std::time::Duration;

/// Workers take jobs from Redis; each runs many jobs at once, so one per CPU core is plenty: more threads than
/// cores only add context switches (measured: 2 workers on 2 cores answer 8–15% more messages per second
/// than 4; see docs/benchmarks.md).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 64))
}

/// Worker threads taking jobs from Redis. Default: one per CPU core (see [`default_workers`]).
pub static WORKERS: Setting<usize> = Setting {
    name: "WORKERS",
    legacy: Legacy::None,
    default: Fallback::Value(default_workers),
    parse: |name, s| whole(name, s, 1..=64, "workers"),
    show: |c| c.workers.to_string(),
};

/// Jobs in flight at once across all workers.
/// 64: jobs mostly wait on the LLM, so many can run at once.
pub static MAX_CONCURRENT_JOBS: Setting<usize> = Setting {
    name: "MAX_CONCURRENT_JOBS",
    legacy: Legacy::None,
    default: Fallback::Value(|| 64),
    parse: |name, s| whole(name, s, 1..=10_000, "jobs"),
    show: |c| c.max_concurrent_jobs.to_string(),
};

/// The longest one attempt of a job may take, in seconds.
/// 300 s: the Python bot's RQ job timeout.
pub static JOB_TIMEOUT: Setting<Duration> = Setting {
    name: "JOB_TIMEOUT",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(300)),
    parse: |name, s| seconds(name, s, 1..=86_400),
    show: |c| c.job_timeout.as_secs().to_string(),
};

/// Messages estimated at or above this many tokens go to the `default` queue instead of `high`.
/// 5000: far above a typed question, so only long pastes and documents wait behind the quick ones.
pub static BACKGROUND_THRESHOLD_TOKENS: Setting<usize> = Setting {
    name: "BACKGROUND_THRESHOLD_TOKENS",
    legacy: Legacy::None,
    default: Fallback::Value(|| 5000),
    parse: |name, s| whole(name, s, 1..=10_000_000, "tokens"),
    show: |c| c.background_threshold_tokens.to_string(),
};
