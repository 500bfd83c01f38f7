//! The consumer side: a worker's own connection, for waiting for work without polling.

use super::redis_queue::{bounded, Queue, CALL_TIMEOUT, TAKE_BLOCK};
use super::types::{QueueError, Taken};
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

/// Consumer side: waits for the next job, highest priority first.
pub struct Taker {
    /// Held by the blocking wait, so the worker's other calls do not queue behind it.
    blocking: MultiplexedConnection,
    /// For the takes themselves and the wake list's key.
    queue: Queue,
}

impl Queue {
    /// A consumer with its own connection (a blocking wait holds its connection).
    pub async fn taker(&self) -> Result<Taker, QueueError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(TAKE_BLOCK + CALL_TIMEOUT));
        let blocking = bounded(
            CALL_TIMEOUT,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await?;
        Ok(Taker {
            blocking,
            queue: self.clone(),
        })
    }
}

impl Taker {
    /// Takes up to `count` jobs in one step: at once when some are ready, else after waiting up to
    /// [`TAKE_BLOCK`] (a job made ready wakes a waiting worker at once: a blocking pop on the wake list, no
    /// polling).
    pub async fn take_many(&mut self, count: usize) -> Result<Vec<Taken>, QueueError> {
        let taken = self.queue.try_take_many(count).await?;
        if !taken.is_empty() {
            return Ok(taken);
        }
        let wake = self.queue.key(&["wake"]);
        let woken: Option<(String, String)> = bounded(
            TAKE_BLOCK + CALL_TIMEOUT,
            redis::cmd("BLPOP")
                .arg(&wake)
                .arg(TAKE_BLOCK.as_secs_f64())
                .query_async(&mut self.blocking),
        )
        .await?;
        // Woken or not, look once more: a retry or an expired lease may be due.
        let _ = woken;
        self.queue.try_take_many(count).await
    }
}
