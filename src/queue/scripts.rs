//! The queue's Lua scripts, each with `lua/common.lua` put in front of it, and their loading into Redis.

use super::redis_queue::{bounded, CALL_TIMEOUT};
use super::types::QueueError;
use redis::aio::ConnectionManager;
use redis::Script;

/// Put in front of every script: the key helpers and the operations several scripts share.
const COMMON: &str = include_str!("lua/common.lua");

/// One script per operation, each field named after its file `lua/{field}.lua`. Compiled once (a script's
/// hash is computed as it is made), shared by every clone of the queue.
pub(super) struct Scripts {
    pub(super) enqueue: Script,
    pub(super) take: Script,
    pub(super) apply: Script,
    pub(super) fail: Script,
    pub(super) extend: Script,
    pub(super) release: Script,
    pub(super) stats: Script,
    pub(super) dead: Script,
    pub(super) requeue: Script,
    pub(super) drop: Script,
    pub(super) forget: Script,
    pub(super) claim: Script,
    pub(super) unclaim: Script,
    pub(super) webhooks: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        let s = |body: &str| Script::new(&format!("{COMMON}\n{body}"));
        Self {
            enqueue: s(include_str!("lua/enqueue.lua")),
            take: s(include_str!("lua/take.lua")),
            apply: s(include_str!("lua/apply.lua")),
            fail: s(include_str!("lua/fail.lua")),
            extend: s(include_str!("lua/extend.lua")),
            release: s(include_str!("lua/release.lua")),
            stats: s(include_str!("lua/stats.lua")),
            dead: s(include_str!("lua/dead.lua")),
            requeue: s(include_str!("lua/requeue.lua")),
            drop: s(include_str!("lua/drop.lua")),
            forget: s(include_str!("lua/forget.lua")),
            claim: s(include_str!("lua/claim.lua")),
            unclaim: s(include_str!("lua/unclaim.lua")),
            webhooks: s(include_str!("lua/webhooks.lua")),
        }
    }

    /// Loads every script into Redis's script cache.
    pub(super) async fn load(&self, conn: &mut ConnectionManager) -> Result<(), QueueError> {
        for script in [
            &self.enqueue,
            &self.take,
            &self.apply,
            &self.fail,
            &self.extend,
            &self.release,
            &self.stats,
            &self.dead,
            &self.requeue,
            &self.drop,
            &self.forget,
            &self.claim,
            &self.unclaim,
            &self.webhooks,
        ] {
            bounded(CALL_TIMEOUT, script.load_async(conn)).await?;
        }
        Ok(())
    }
}
