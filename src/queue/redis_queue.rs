//! The reliable, prioritized job queue in Redis. Every state change is one Lua script, so it is atomic:
//! a crash between two steps cannot lose or duplicate a job. See `docs/queue.md` for the data structures and
//! the safety argument.
//!
//! Keys (all under the configured prefix `p`):
//! - `p:job:{id}` — hash: payload, priority, chat, attempts, enqueue time, and the job's progress (answer,
//!   delivered parts, merged messages) so a retried job continues instead of starting over.
//! - `p:ready:high|default|low` — lists of job ids ready to run, taken strictly in that order, FIFO.
//! - `p:chat:{chat}:active` — the one job of the chat that is ready or running (per-chat order);
//!   `p:chat:{chat}:pending` — the chat's later jobs, waiting their turn.
//! - `p:leases` — sorted set: job id → lease expiry (ms). An expired lease puts the job back in front.
//! - `p:delayed` — sorted set: job id → when a failed job may be retried (or an album's first item, queued alone, may
//!   run: `ALBUM_SETTLE`).
//! - `p:dead` — list of dead-lettered job ids; `p:deadjob:{id}` — the dead job's hash, with the reason. The
//!   operator lists, re-queues or drops them through the admin API ([`Queue::dead_jobs`],
//!   [`Queue::requeue_dead`], [`Queue::drop_dead`]).
//! - `p:seen:{update_id}` — an update already queued (Telegram redelivers after a crash), kept 48 h.
//! - `p:wake` — tokens that wake a worker blocked waiting for work.
//! - `p:migrated:{chat}` — the new id of a group that became a supergroup, so that the group's jobs still
//!   queued follow it ([`Queue::record_migration`]); kept [`MIGRATION_TTL`].
//! - `p:groupctx:{chat}` — a group's memory: its latest unaddressed messages, for the next turn that addresses
//!   the bot (see [`super::group_context`]); kept [`super::group_context::GROUP_CONTEXT_TTL`].
//! - `p:stats` — counters.
//!
//! Every call is bounded by a timeout: a call to a Redis that is down fails, it does not hang.

use super::batch::{apply_batches, Op, Pending};
use super::group_context::GroupMemory;
use super::holders::Holder;
use super::job::{Job, Priority, ALBUM_SETTLE, ALBUM_WINDOW};
use super::poller_role::Fence;
use super::scripts::Scripts;
use super::types::{FailOutcome, Lease, Progress, QueueError, QueueSettings, QueueStats, Taken};
use crate::ids::{ChatId, JobId, MessageId, UpdateId};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Bounds one ordinary Redis call (a local Redis answers in well under a millisecond).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a waiting worker blocks for a wake-up before looking again (also notices shutdown).
pub const TAKE_BLOCK: Duration = Duration::from_secs(2);
/// Telegram keeps an update for 24 h; remembering its id for 48 h covers every redelivery.
pub const SEEN_TTL: Duration = Duration::from_secs(48 * 3600);
/// A group's jobs queued before it became a supergroup are all run long before this; the record then goes.
pub const MIGRATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Retries of a failed job wait `retry_base * 2^(attempt-1)`, at most this long.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(120);

/// Runs one Redis call, failing with [`QueueError::Timeout`] when it does not answer within `limit`.
pub(super) async fn bounded<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(QueueError::from),
        Err(_) => Err(QueueError::Timeout(limit)),
    }
}

/// The bot's clock, passed to every script (no script reads Redis's own clock).
pub(super) fn now_ms() -> i64 {
    crate::text::now_unix_ms()
}

/// A duration as the whole milliseconds the scripts take.
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The queue. Cheap to clone and `Send`, but its connection's driver task lives on the runtime (actix
/// arbiter) that first uses it, and dies with it: give each arbiter its own with [`Queue::reopen`].
#[derive(Clone)]
pub struct Queue {
    /// This arbiter's connection, shared by its calls (it reconnects by itself after Redis comes back).
    pub(super) conn: ConnectionManager,
    /// Opens the further connections: [`Queue::reopen`]'s and the [`Taker`](super::Taker)'s.
    pub(super) client: redis::Client,
    /// `REDIS_KEY_PREFIX`: every key is under it (`p` in the list above).
    pub(super) prefix: String,
    /// How jobs are leased and retried.
    pub(super) settings: QueueSettings,
    /// Compiled once, shared by every clone.
    pub(super) scripts: Arc<Scripts>,
    /// Records and acknowledgements go to the task that applies them in batches (`None` in that task).
    pub(super) ops: Option<mpsc::UnboundedSender<Pending>>,
    /// This process as the holder of the leases it takes (shared by every clone).
    pub(super) holder: Arc<Holder>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Queue {
    /// Does not connect: the first call does, so the bot starts even while Redis is down.
    /// Must be called inside the actix/tokio runtime.
    pub fn new(url: &str, prefix: &str, settings: QueueSettings) -> Result<Queue, QueueError> {
        let client = redis::Client::open(url)?;
        let direct = Queue {
            conn: Self::manager(&client)?,
            client,
            prefix: prefix.to_string(),
            settings,
            scripts: Arc::new(Scripts::new()),
            ops: None,
            holder: Arc::new(Holder::new()),
        };
        let (ops, pending) = mpsc::unbounded_channel();
        // Ends when every clone of the queue is dropped.
        tokio::spawn(apply_batches(direct.reopen()?, pending));
        // The first message need not wait for a script to be sent to Redis (if Redis is down now, the first
        // call of each script loads it).
        let preload = direct.clone();
        tokio::spawn(async move {
            let mut conn = preload.conn.clone();
            if let Err(e) = preload.scripts.load(&mut conn).await {
                log::debug!("queue scripts not preloaded ({e}); they load on first use");
            }
        });
        Ok(Queue {
            ops: Some(ops),
            ..direct
        })
    }

    /// The same queue with a connection of its own, for use on another arbiter.
    pub fn reopen(&self) -> Result<Queue, QueueError> {
        Ok(Queue {
            conn: Self::manager(&self.client)?,
            ..self.clone()
        })
    }

    fn manager(client: &redis::Client) -> Result<ConnectionManager, QueueError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        Ok(ConnectionManager::new_lazy_with_config(
            client.clone(),
            config,
        )?)
    }

    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    /// The key `{prefix}:{part}:{part}…`.
    pub(super) fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        for p in parts {
            key.push(':');
            key.push_str(p);
        }
        key
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

    /// Group `from` became supergroup `to`: the group's jobs still queued are to run in `to`.
    pub async fn record_migration(&self, from: ChatId, to: ChatId) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        bounded(
            CALL_TIMEOUT,
            redis::cmd("SET")
                .arg(self.key(&["migrated", &from.0.to_string()]))
                .arg(to.0)
                .arg("EX")
                .arg(MIGRATION_TTL.as_secs())
                .query_async::<()>(&mut conn),
        )
        .await
    }

    /// Where group `chat` went, if it became a supergroup (see [`Queue::record_migration`]).
    pub async fn migrated(&self, chat: ChatId) -> Result<Option<ChatId>, QueueError> {
        let mut conn = self.conn.clone();
        let to: Option<i64> = bounded(
            CALL_TIMEOUT,
            redis::cmd("GET")
                .arg(self.key(&["migrated", &chat.0.to_string()]))
                .query_async(&mut conn),
        )
        .await?;
        Ok(to.map(ChatId))
    }

    /// Queues the jobs of a batch of updates in one atomic step. An update already queued earlier (Telegram
    /// redelivered it) is skipped. Returns how many were newly queued. When this returns `Ok`, every job is
    /// in Redis: only then may the poller confirm the updates to Telegram.
    pub async fn enqueue_updates(
        &self,
        jobs: &[(UpdateId, Priority, Job)],
    ) -> Result<usize, QueueError> {
        let items: Vec<(Option<UpdateId>, Priority, &Job)> =
            jobs.iter().map(|(u, p, j)| (Some(*u), *p, j)).collect();
        self.enqueue_all(&items, &GroupMemory::NONE, None).await
    }

    /// Queues one job the bot made itself. A job with the same id still queued is not queued again.
    pub async fn enqueue(&self, priority: Priority, job: &Job) -> Result<bool, QueueError> {
        Ok(self
            .enqueue_all(&[(None, priority, job)], &GroupMemory::NONE, None)
            .await?
            > 0)
    }

    /// Queues `items` and keeps `memory`'s messages in their groups' memory, in one atomic step.
    pub(super) async fn enqueue_all(
        &self,
        items: &[(Option<UpdateId>, Priority, &Job)],
        memory: &GroupMemory<'_>,
        fence: Option<&Fence>,
    ) -> Result<usize, QueueError> {
        if items.is_empty() && memory.kept.is_empty() {
            return Ok(0);
        }
        let mut inv = self.scripts.enqueue.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(now_ms())
            .arg(SEEN_TTL.as_secs())
            .arg(fence.map_or("", |f| f.0.as_str()))
            .arg(millis(ALBUM_SETTLE));
        memory.args(&mut inv);
        for (update, priority, job) in items {
            inv.arg(update.map(|u| u.0.to_string()).unwrap_or_default())
                .arg(priority.as_str())
                .arg(
                    job.ordered_chat()
                        .map(|c| c.0.to_string())
                        .unwrap_or_default(),
                )
                .arg(&job.id.0)
                .arg(job.merge_key().unwrap_or_else(|| "0".to_string()))
                .arg(job.encode());
        }
        let mut conn = self.conn.clone();
        let queued: i64 = bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await?;
        usize::try_from(queued).map_err(|_| QueueError::NotThePoller)
    }

    /// Takes up to `count` jobs in one step, without waiting. A chat job absorbs its chat's messages waiting
    /// within the merge window (see `absorb` in `lua/common.lua`) in the same step; each lease carries its
    /// progress.
    pub async fn try_take_many(&self, count: usize) -> Result<Vec<Taken>, QueueError> {
        let mut inv = self.scripts.take.prepare_invoke();
        let now = now_ms();
        let may_reclaim = self.holder.may_reclaim(now);
        inv.arg(&self.prefix)
            .arg(now)
            .arg(millis(self.settings.lease))
            .arg(self.settings.max_attempts)
            .arg(millis(self.settings.merge_window))
            .arg(count.max(1))
            .arg(&self.holder.id)
            .arg(if may_reclaim { "1" } else { "0" })
            .arg(millis(ALBUM_WINDOW));
        let mut conn = self.conn.clone();
        let reply: Vec<(String, String, String, u32, String, Vec<String>)> =
            bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await?;
        let mut taken = Vec::with_capacity(reply.len());
        for (kind, id, payload, attempt, prio, fields) in reply {
            taken.push(
                self.taken(kind, JobId(id), &payload, attempt, &prio, fields)
                    .await?,
            );
        }
        Ok(taken)
    }

    /// One entry of `lua/take.lua`'s answer.
    async fn taken(
        &self,
        kind: String,
        id: JobId,
        payload: &str,
        attempt: u32,
        prio: &str,
        fields: Vec<String>,
    ) -> Result<Taken, QueueError> {
        let job = match Job::decode(payload) {
            Ok(job) => job,
            Err(reason) => {
                if kind == "job" {
                    let lease_holder = attempt.to_string();
                    self.fail_raw(
                        &id,
                        &lease_holder,
                        &reason.to_string(),
                        false,
                        Duration::ZERO,
                    )
                    .await?;
                }
                return Ok(Taken::Unreadable { id, reason });
            }
        };
        if kind == "dead" {
            return Ok(Taken::GaveUp(job));
        }
        Ok(Taken::Job(Lease {
            id,
            attempt,
            priority: Priority::parse(prio).unwrap_or(Priority::Low),
            job,
            progress: Progress::from_fields(pairs(fields)),
        }))
    }

    /// The job is done: it is forgotten and its chat's next job becomes ready. `false` if the lease was lost
    /// (another worker took the job over after this one's lease expired).
    pub async fn ack(&self, lease: &Lease) -> Result<bool, QueueError> {
        self.submit(lease, Op::Ack).await
    }

    /// The attempt failed: retried later with back-off if `retry` and attempts remain, else dead-lettered.
    pub async fn fail(
        &self,
        lease: &Lease,
        reason: &str,
        retry: bool,
    ) -> Result<FailOutcome, QueueError> {
        let factor = 2u32.saturating_pow(lease.attempt.saturating_sub(1).min(16));
        let delay = self
            .settings
            .retry_base
            .saturating_mul(factor)
            .min(MAX_RETRY_DELAY);
        let outcome = self
            .fail_raw(&lease.id, &lease.attempt.to_string(), reason, retry, delay)
            .await?;
        Ok(match outcome.as_str() {
            "retry" => FailOutcome::Retry(delay),
            "dead" => FailOutcome::Dead,
            _ => FailOutcome::Stale,
        })
    }

    async fn fail_raw(
        &self,
        id: &JobId,
        attempt: &str,
        reason: &str,
        retry: bool,
        delay: Duration,
    ) -> Result<String, QueueError> {
        let mut inv = self.scripts.fail.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(&id.0)
            .arg(attempt)
            .arg(now_ms())
            .arg(reason)
            .arg(if retry { "1" } else { "0" })
            .arg(millis(delay))
            .arg(self.settings.max_attempts);
        let mut conn = self.conn.clone();
        bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await
    }

    /// Extends the lease of a running job. `false` if the lease was already lost.
    pub async fn extend(&self, lease: &Lease) -> Result<bool, QueueError> {
        let mut inv = self.scripts.extend.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(&lease.id.0)
            .arg(lease.attempt)
            .arg(now_ms())
            .arg(millis(self.settings.lease));
        let mut conn = self.conn.clone();
        let n: i64 = bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await?;
        Ok(n == 1)
    }

    /// Gives an unfinished job back (shutdown): first in its queue again, this attempt not counted.
    pub async fn release(&self, lease: &Lease) -> Result<bool, QueueError> {
        let mut inv = self.scripts.release.prepare_invoke();
        inv.arg(&self.prefix).arg(&lease.id.0).arg(lease.attempt);
        let mut conn = self.conn.clone();
        let n: i64 = bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await?;
        Ok(n == 1)
    }

    /// Saves the complete answer before any of it is sent, so a retry sends the same answer. `false` if the
    /// caller no longer holds the job.
    pub async fn save_answer(&self, lease: &Lease, answer: &str) -> Result<bool, QueueError> {
        self.record(lease, &[("answer", answer)]).await
    }

    /// Records that part `index` of the answer was delivered as Telegram message `message`.
    pub async fn record_part(
        &self,
        lease: &Lease,
        index: usize,
        message: MessageId,
    ) -> Result<bool, QueueError> {
        self.record(lease, &[(&format!("part:{index}"), &message.0.to_string())])
            .await
    }

    async fn record(&self, lease: &Lease, fields: &[(&str, &str)]) -> Result<bool, QueueError> {
        let fields = fields
            .iter()
            .map(|(f, v)| ((*f).to_string(), (*v).to_string()))
            .collect();
        self.submit(lease, Op::Record(fields)).await
    }

    pub async fn stats(&self) -> Result<QueueStats, QueueError> {
        let mut inv = self.scripts.stats.prepare_invoke();
        inv.arg(&self.prefix).arg(now_ms());
        let mut conn = self.conn.clone();
        let pairs: Vec<(String, i64)> = bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await?;
        let mut s = QueueStats::default();
        for (name, value) in pairs {
            let v = u64::try_from(value).unwrap_or(0);
            match name.as_str() {
                "high" => s.high = v,
                "default" => s.default = v,
                "low" => s.low = v,
                "in_flight" => s.in_flight = v,
                "delayed" => s.delayed = v,
                "dead" => s.dead = v,
                "oldest_age_ms" => s.oldest_age_ms = u64::try_from(value).ok(),
                "chat_waiting" => s.chat_waiting = v,
                "retried" => s.retried = v,
                "dead_lettered" => s.dead_lettered = v,
                "completed" => s.completed = v,
                "enqueued" => s.enqueued = v,
                "lease_expired" => s.lease_expired = v,
                "merged" => s.merged = v,
                "reclaimed" => s.reclaimed = v,
                other => return Err(QueueError::Protocol(format!("unknown statistic {other}"))),
            }
        }
        Ok(s)
    }
}

/// `[k1, v1, k2, v2, …]` → `[(k1, v1), (k2, v2), …]` (a flattened hash from a script).
fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut iter = flat.into_iter();
    while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
        out.push((k, v));
    }
    out
}
