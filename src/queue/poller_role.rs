//! One poller at a time: polling `getUpdates` is a role held through `p:poller` (a token with a TTL), renewed
//! by its holder. Every process runs workers; the one holding the role polls. The token is a fencing token:
//! the `enqueue` script queues a batch only for the token that holds the role now, so a poller that lost it
//! (paused, cut off) cannot queue — and so never confirms an offset — behind the new one's back.
//!
//! In webhook mode nobody polls: Telegram POSTs the updates. A process in webhook mode is listed in
//! `p:webhooks` while its heartbeat lives, so that a poller (during a switch back to polling) deletes the webhook
//! only once no process serves it any more, and a webhook process sets it again only when nobody polls.

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

    /// Whether some process (this one included) holds the poller role now.
    pub async fn poller_held(&self) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        bounded(
            CALL_TIMEOUT,
            redis::cmd("EXISTS")
                .arg(self.key(&["poller"]))
                .query_async(&mut conn),
        )
        .await
    }

    /// Lists this process as one in webhook mode (again: an entry whose heartbeat ended was dropped); returns
    /// how many such processes live.
    pub async fn announce_webhook(&self) -> Result<u64, QueueError> {
        self.webhook_processes(&self.holder.id).await
    }

    /// How many processes in webhook mode live (their heartbeats do).
    pub async fn webhooks_alive(&self) -> Result<u64, QueueError> {
        self.webhook_processes("").await
    }

    /// Takes this process off the list at a clean stop, so a poller waiting for it goes on at once.
    pub async fn withdraw_webhook(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        bounded(
            CALL_TIMEOUT,
            redis::cmd("SREM")
                .arg(self.key(&["webhooks"]))
                .arg(&self.holder.id)
                .query_async(&mut conn),
        )
        .await
    }

    async fn webhook_processes(&self, adding: &str) -> Result<u64, QueueError> {
        let mut inv = self.scripts.webhooks.prepare_invoke();
        inv.arg(&self.prefix).arg(adding);
        let mut conn = self.conn.clone();
        bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await
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
