//! The job queue in Redis: one list per priority, taken strictly high → default → low, FIFO within one.
//!
//! Keys (all under `REDIS_KEY_PREFIX`):
//! - `{p}:queue:high|default|low` — lists of job payloads (RPUSH in, BLMPOP LEFT out).
//! - `{p}:seen:{update_id}` — marks an update as queued, so a redelivered update is not queued twice.
//! - `{p}:dead` — payloads that could not be decoded, with the reason.
//!
//! Every call is bounded by a timeout: a call to a Redis that is down must fail, not hang.

use super::job::{Job, Priority};
use crate::ids::UpdateId;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncCommands, AsyncConnectionConfig, Script};
use serde::Serialize;
use std::time::Duration;

/// Bounds one ordinary Redis call (a local Redis answers in well under a millisecond).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a waiting worker blocks in one BLMPOP before looping (to notice shutdown).
pub const TAKE_BLOCK: Duration = Duration::from_secs(2);
/// Telegram keeps an update for 24 h; remembering its id for 48 h covers every redelivery.
pub const SEEN_TTL: Duration = Duration::from_secs(48 * 3600);

/// Enqueues a batch atomically, skipping updates already queued.
/// KEYS: seen_1, queue_1, seen_2, queue_2, …; ARGV: ttl_seconds, payload_1, payload_2, …
const ENQUEUE_ONCE: &str = r"
local added = 0
for i = 1, #ARGV - 1 do
  if redis.call('SET', KEYS[2*i-1], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('RPUSH', KEYS[2*i], ARGV[i+1])
    added = added + 1
  end
end
return added
";

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("Redis error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepths {
    pub high: u64,
    pub default: u64,
    pub low: u64,
    pub dead: u64,
}

#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn queue(&self, p: Priority) -> String {
        format!("{}:queue:{}", self.prefix, p.as_str())
    }
    fn seen(&self, id: UpdateId) -> String {
        format!("{}:seen:{}", self.prefix, id.0)
    }
    fn dead(&self) -> String {
        format!("{}:dead", self.prefix)
    }
}

async fn bounded<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(QueueError::from),
        Err(_) => Err(QueueError::Timeout(limit)),
    }
}

/// Producer side and inspection. Cheap to clone; `Send`, usable from any thread.
#[derive(Clone)]
pub struct Queue {
    conn: ConnectionManager,
    client: redis::Client,
    keys: Keys,
    enqueue_once: Script,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("prefix", &self.keys.prefix)
            .finish()
    }
}

impl Queue {
    /// Does not connect: the first call does, so the bot starts even while Redis is down.
    /// Must be called inside the actix/tokio runtime.
    pub fn new(url: &str, prefix: &str) -> Result<Queue, QueueError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Queue {
            conn,
            client,
            keys: Keys {
                prefix: prefix.to_string(),
            },
            enqueue_once: Script::new(ENQUEUE_ONCE),
        })
    }

    pub async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        bounded(
            CALL_TIMEOUT,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await?;
        Ok(())
    }

    /// Queues the jobs of a batch of updates in one atomic step. An update already queued earlier (Telegram
    /// redelivered it) is skipped. Returns how many were newly queued. When this returns `Ok`, every job is
    /// in Redis: only then may the poller confirm the updates to Telegram.
    pub async fn enqueue_updates(
        &self,
        jobs: &[(UpdateId, Priority, Job)],
    ) -> Result<usize, QueueError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let mut inv = self.enqueue_once.prepare_invoke();
        inv.arg(SEEN_TTL.as_secs());
        for (update_id, priority, job) in jobs {
            inv.key(self.keys.seen(*update_id));
            inv.key(self.keys.queue(*priority));
            inv.arg(job.encode());
        }
        let mut conn = self.conn.clone();
        let added: usize = bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await?;
        Ok(added)
    }

    /// Queues one job the bot made itself.
    pub async fn enqueue(&self, priority: Priority, job: &Job) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let key = self.keys.queue(priority);
        bounded(CALL_TIMEOUT, conn.rpush::<_, _, i64>(key, job.encode())).await?;
        Ok(())
    }

    pub async fn depths(&self) -> Result<QueueDepths, QueueError> {
        let mut conn = self.conn.clone();
        let (high, default, low, dead): (u64, u64, u64, u64) = bounded(
            CALL_TIMEOUT,
            redis::pipe()
                .llen(self.keys.queue(Priority::High))
                .llen(self.keys.queue(Priority::Default))
                .llen(self.keys.queue(Priority::Low))
                .llen(self.keys.dead())
                .query_async(&mut conn),
        )
        .await?;
        Ok(QueueDepths {
            high,
            default,
            low,
            dead,
        })
    }

    /// A consumer with its own connection (a blocking pop holds its connection while it waits).
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
            conn: self.conn.clone(),
            keys: self.keys.clone(),
        })
    }
}

/// Consumer side: waits for the next job, highest priority first.
pub struct Taker {
    blocking: MultiplexedConnection,
    conn: ConnectionManager,
    keys: Keys,
}

impl Taker {
    /// Waits up to [`TAKE_BLOCK`] for a job. A job wakes the waiting worker at once (BLMPOP, no polling).
    /// A payload that cannot be decoded is moved to the dead-letter list with its reason, and the wait goes on.
    pub async fn take(&mut self) -> Result<Option<Job>, QueueError> {
        let keys: Vec<String> = Priority::ALL.iter().map(|p| self.keys.queue(*p)).collect();
        let reply: Option<(String, Vec<String>)> = bounded(
            TAKE_BLOCK + CALL_TIMEOUT,
            redis::cmd("BLMPOP")
                .arg(TAKE_BLOCK.as_secs_f64())
                .arg(keys.len())
                .arg(&keys)
                .arg("LEFT")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut self.blocking),
        )
        .await?;
        let Some((_key, payloads)) = reply else {
            return Ok(None);
        };
        let Some(payload) = payloads.into_iter().next() else {
            return Ok(None);
        };
        match Job::decode(&payload) {
            Ok(job) => Ok(Some(job)),
            Err(reason) => {
                log::error!("dead-lettering a job that cannot be read: {reason}");
                let entry = serde_json::json!({
                    "reason": reason.to_string(),
                    "payload": payload,
                    "at_ms": crate::text::now_unix_ms(),
                });
                let mut conn = self.conn.clone();
                bounded(
                    CALL_TIMEOUT,
                    conn.rpush::<_, _, i64>(self.keys.dead(), entry.to_string()),
                )
                .await?;
                Ok(None)
            }
        }
    }
}
