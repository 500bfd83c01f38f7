//! The work settings: worker threads, jobs in flight, a job's time limit and which queue a message goes to.

use super::parse::{seconds, whole};
use super::{Fallback, Legacy, Setting};
use crate::config::ProcessRole;
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

/// What this process does: `all` (workers, and polling when it holds the poller role) or `worker` (workers
/// only, never polls). `all`: a single process needs both.
pub static PROCESS_ROLE: Setting<ProcessRole> = Setting {
    name: "PROCESS_ROLE",
    legacy: Legacy::None,
    default: Fallback::Value(|| ProcessRole::All),
    parse: |name, s| match s.to_ascii_lowercase().as_str() {
        "all" => Ok(ProcessRole::All),
        "worker" => Ok(ProcessRole::Worker),
        _ => Err(format!("{name} must be all or worker, not {s:?}.")),
    },
    show: |c| match c.process_role {
        ProcessRole::All => "all".into(),
        ProcessRole::Worker => "worker".into(),
    },
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
