//! One poller at a time: polling `getUpdates` is a role held through `p:poller` (a token with a TTL), renewed
//! by its holder. Every process runs workers; the one holding the role polls. The token is a fencing token:
//! the `enqueue` script queues a batch only for the token that holds the role now, so a poller that lost it
//! (paused, cut off) cannot queue — and so never confirms an offset — behind the new one's back.

use super::redis_queue::{bounded, Queue, CALL_TIMEOUT};
use super::types::QueueError;
use std::time::Duration;

/// How long the role lasts without renewal: another process takes polling over this long (at most) after
/// the poller died.
pub const POLLER_ROLE_TTL: Duration = Duration::from_secs(5);
/// How often the holder renews the role, and a standby process tries to claim it.
pub const POLLER_ROLE_EVERY: Duration = Duration::from_secs(1);

/// The poller role's fencing token, `{holder}:{n}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence(pub String);

impl Queue {
    /// Claims the poller role for this process, or renews it if it holds it already. `None`: another
    /// process holds it.
    pub async fn claim_poller(&self) -> Result<Option<Fence>, QueueError> {
        let mut inv = self.scripts.claim.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(&self.holder.id)
            .arg(u64::try_from(POLLER_ROLE_TTL.as_millis()).unwrap_or(u64::MAX));
        let mut conn = self.conn.clone();
        let token: Option<String> = bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await?;
        Ok(token.map(Fence))
    }

    /// Gives the role up at a clean stop, so another process polls at once. `false`: it was not held any more.
    pub async fn release_poller(&self, fence: &Fence) -> Result<bool, QueueError> {
        let mut inv = self.scripts.unclaim.prepare_invoke();
        inv.arg(&self.prefix).arg(&fence.0);
        let mut conn = self.conn.clone();
        let released: i64 = bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await?;
        Ok(released == 1)
    }
}
