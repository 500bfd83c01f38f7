//! Who holds the leases: each process registers itself in Redis (`p:holder:{id}`, expiring after
//! [`HEARTBEAT_TTL`], renewed every [`HEARTBEAT_EVERY`]; listed in the set `p:holders`), and every lease names
//! its holder (the job hash's `holder` field). A `take` by any process reclaims at once the leases of a holder
//! whose heartbeat is gone — a process that crashed — instead of waiting for them to expire (`JOB_LEASE` stays
//! the backstop for a process that is alive but stuck).
//!
//! A process reclaims only once its own heartbeat has been renewed without a break for [`HEARTBEAT_TTL`]:
//! after Redis was down, every living process has re-registered by then, so none is taken for dead.

use super::redis_queue::{bounded, Queue, CALL_TIMEOUT};
use super::types::QueueError;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// How long a heartbeat lasts: a crashed process's jobs are reclaimed this long (at most) after its last one.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(4);
/// How often a process renews its heartbeat: well within [`HEARTBEAT_TTL`], so a slow round trip or two
/// never lets it lapse.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// This process as a lease holder.
#[derive(Debug)]
pub(super) struct Holder {
    /// Unique per process start: the pid, the start time (a restarted process is a new holder) and a count
    /// of the queues the process made.
    pub(super) id: String,
    /// Since when (Unix ms) the heartbeat has been renewed without a break; 0: not renewed lately.
    alive_since_ms: AtomicI64,
}

impl Holder {
    pub(super) fn new() -> Self {
        // Several queues of one process (tests) are several holders.
        static MADE: AtomicI64 = AtomicI64::new(0);
        let started = crate::text::now_unix_ms();
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        Self {
            id: format!("{}-{started}-{n}", std::process::id()),
            alive_since_ms: AtomicI64::new(0),
        }
    }

    /// Whether this process may take the leases of holders whose heartbeat is gone (see the module's doc).
    pub(super) fn may_reclaim(&self, now_ms: i64) -> bool {
        let since = self.alive_since_ms.load(Ordering::Relaxed);
        since > 0 && now_ms - since >= millis(HEARTBEAT_TTL)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Queue {
    /// This process's holder id (as leases name it).
    pub fn holder_id(&self) -> &str {
        &self.holder.id
    }

    /// Renews this process's heartbeat (and registers it). A failure (Redis down) is returned, and the
    /// process stops reclaiming others' jobs until its heartbeat has lasted [`HEARTBEAT_TTL`] again.
    pub async fn heartbeat(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let key = self.key(&["holder", &self.holder.id]);
        let result: Result<(), QueueError> = bounded(
            CALL_TIMEOUT,
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&key)
                .arg(1)
                .arg("PX")
                .arg(millis(HEARTBEAT_TTL))
                .ignore()
                .cmd("SADD")
                .arg(self.key(&["holders"]))
                .arg(&self.holder.id)
                .ignore()
                .query_async(&mut conn),
        )
        .await;
        let alive = &self.holder.alive_since_ms;
        match &result {
            Ok(()) => {
                let _ = alive.compare_exchange(
                    0,
                    crate::text::now_unix_ms(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            Err(_) => alive.store(0, Ordering::Relaxed),
        }
        result
    }

    /// Ends this process's heartbeat at a clean stop (its leases were handed back): nothing of it is left to
    /// reclaim, and its entry goes.
    pub async fn retire(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        bounded(
            CALL_TIMEOUT,
            redis::pipe()
                .atomic()
                .cmd("DEL")
                .arg(self.key(&["holder", &self.holder.id]))
                .ignore()
                .cmd("SREM")
                .arg(self.key(&["holders"]))
                .arg(&self.holder.id)
                .ignore()
                .query_async(&mut conn),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_reclaims_only_after_its_heartbeat_lasted_a_whole_ttl() {
        let h = Holder::new();
        assert!(!h.may_reclaim(10_000_000), "never renewed");
        h.alive_since_ms.store(1_000, Ordering::Relaxed);
        assert!(!h.may_reclaim(1_000 + millis(HEARTBEAT_TTL) - 1));
        assert!(h.may_reclaim(1_000 + millis(HEARTBEAT_TTL)));
        assert!(h.id.starts_with(&format!("{}-", std::process::id())));
    }
}
