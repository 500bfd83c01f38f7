//! The queue's reliability settings: leases, attempts, retries, merging a chat's messages, and shutdown.

use super::parse::{millis, seconds, whole};
use super::{Fallback, Legacy, Setting};
use std::time::Duration;

/// How long a taken job stays leased without renewal, in seconds.
/// 30 s: a job whose worker died returns to the queue within half a minute, while a worker that loses Redis
/// for a few seconds keeps its jobs.
pub static JOB_LEASE: Setting<Duration> = Setting {
    name: "JOB_LEASE",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(30)),
    parse: |name, s| seconds(name, s, 1..=86_400),
    show: |c| c.queue.lease.as_secs().to_string(),
};

/// Attempts of a job before it is dead-lettered.
/// 3: a transient failure gets two more chances; a persistent one does not hold the chat for long.
pub static JOB_MAX_ATTEMPTS: Setting<u32> = Setting {
    name: "JOB_MAX_ATTEMPTS",
    legacy: Legacy::None,
    default: Fallback::Value(|| 3),
    parse: |name, s| whole(name, s, 1..=100, "attempts"),
    show: |c| c.queue.max_attempts.to_string(),
};

/// The wait before the first retry, in seconds; doubled per attempt.
/// 2 s: long enough for a brief network failure to pass, short enough that the user hardly notices.
pub static JOB_RETRY_DELAY: Setting<Duration> = Setting {
    name: "JOB_RETRY_DELAY",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(2)),
    parse: |name, s| seconds(name, s, 0..=120),
    show: |c| c.queue.retry_base.as_secs().to_string(),
};

/// Text messages of one chat queued within this many milliseconds of each other are answered as one turn.
/// 1500 ms: Telegram splits a long paste into messages a fraction of a second apart.
pub static MERGE_WINDOW_MS: Setting<Duration> = Setting {
    name: "MERGE_WINDOW_MS",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_millis(1500)),
    parse: |name, s| millis(name, s, 0..=60_000),
    show: |c| c.queue.merge_window.as_millis().to_string(),
};

/// How long shutdown waits for jobs in flight before handing them back to the queue, in seconds.
/// 20 s: finishing answers in flight rarely needs more, and it stays well under systemd's 90 s stop timeout.
pub static SHUTDOWN_GRACE: Setting<Duration> = Setting {
    name: "SHUTDOWN_GRACE",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(20)),
    parse: |name, s| seconds(name, s, 0..=3600),
    show: |c| c.shutdown_grace.as_secs().to_string(),
};
