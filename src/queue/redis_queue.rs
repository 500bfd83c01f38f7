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
//! - `p:delayed` — sorted set: job id → when a failed job may be retried.
//! - `p:dead` — list of dead-lettered job ids; `p:deadjob:{id}` — the dead job's hash, with the reason. The
//!   operator lists, re-queues or drops them through the admin API ([`Queue::dead_jobs`],
//!   [`Queue::requeue_dead`], [`Queue::drop_dead`]).
//! - `p:seen:{update_id}` — an update already queued (Telegram redelivers after a crash), kept 48 h.
//! - `p:wake` — tokens that wake a worker blocked waiting for work.
//! - `p:migrated:{chat}` — the new id of a group that became a supergroup, so that the group's jobs still
//!   queued follow it ([`Queue::record_migration`]); kept [`MIGRATION_TTL`].
//! - `p:stats` — counters.
//!
//! Every call is bounded by a timeout: a call to a Redis that is down fails, it does not hang.

use super::job::{Job, JobDecodeError, Priority};
use crate::ids::{ChatId, JobId, MessageId, UpdateId};
use crate::paging::Page;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Script};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

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

const COMMON: &str = include_str!("lua/common.lua");

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("Redis error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("unexpected answer from a queue script: {0}")]
    Protocol(String),
    /// A batch of operations failed as a whole (see [`APPLY_BATCH`]); the first error, as text.
    #[error("{0}")]
    Batch(String),
}

/// The most records and acknowledgements applied in one Redis call. They come from all running jobs: one call
/// is sent as soon as one is waiting, and those arriving meanwhile go together in the next.
pub const APPLY_BATCH: usize = 128;

/// A record or an acknowledgement for `lua/apply.lua`.
#[derive(Debug)]
enum Op {
    Ack,
    Record(Vec<(String, String)>),
}

/// An operation on job `id`, for the holder of `attempt`.
struct Applied {
    op: Op,
    id: JobId,
    attempt: u32,
}

/// An operation waiting for the batch task, with where its result goes.
type Pending = (Applied, oneshot::Sender<Result<bool, QueueError>>);

/// How jobs are leased and retried.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// A taken job returns to the queue if its worker does not finish or extend it within this time.
    pub lease: Duration,
    /// Attempts before a job is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt.
    pub retry_base: Duration,
    /// Messages of one chat that arrive within this time of each other are answered as one turn.
    pub merge_window: Duration,
}

/// Numbers for operators (`/ready`, `/metrics`, the admin API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Ready to run, per priority.
    pub high: u64,
    pub default: u64,
    pub low: u64,
    /// Waiting behind another job of the same chat.
    pub chat_waiting: u64,
    /// Leased by a worker right now.
    pub in_flight: u64,
    /// Failed, waiting for their retry.
    pub delayed: u64,
    /// Dead-lettered and still kept.
    pub dead: u64,
    /// Age of the oldest ready job, if any.
    pub oldest_age_ms: Option<u64>,
    /// Totals since the queue was created.
    pub retried: u64,
    pub dead_lettered: u64,
    pub completed: u64,
    pub enqueued: u64,
    pub lease_expired: u64,
    pub merged: u64,
}

/// A job held by a worker. `attempt` is the lease token: only the holder of the current attempt may
/// acknowledge, fail, extend or release the job.
#[derive(Debug, Clone)]
pub struct Lease {
    pub id: JobId,
    pub attempt: u32,
    pub priority: Priority,
    pub job: Job,
    /// What earlier attempts did, and the messages merged into this job (read as it was taken).
    pub progress: Progress,
}

/// What a worker got from the queue.
#[derive(Debug)]
pub enum Taken {
    Job(Lease),
    /// A job whose payload cannot be read; it has been dead-lettered with the reason.
    Unreadable {
        id: JobId,
        reason: JobDecodeError,
    },
    /// A job that was taken `max_attempts` times without finishing (the process died each time); it has been
    /// dead-lettered. The user should be told.
    GaveUp(Job),
}

/// What an earlier attempt of a job already did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The complete answer, saved before any of it was shown formatted.
    pub answer: Option<String>,
    /// Parts of the answer already delivered: part index → Telegram message id.
    pub parts: BTreeMap<usize, MessageId>,
    /// Jobs (messages) merged into this one.
    pub merged: Vec<Job>,
}

impl Progress {
    /// The messages earlier attempts delivered, in order: parts 0, 1, … as far as they are contiguous.
    pub fn delivered(&self) -> Vec<MessageId> {
        self.parts
            .iter()
            .enumerate()
            .take_while(|(n, (index, _))| n == *index)
            .map(|(_, (_, id))| *id)
            .collect()
    }

    /// From the fields of a job's hash (other fields are ignored).
    fn from_fields(fields: impl IntoIterator<Item = (String, String)>) -> Progress {
        let mut progress = Progress::default();
        for (name, value) in fields {
            if name == "answer" {
                progress.answer = Some(value);
            } else if name == "merged" {
                let payloads: Vec<String> = serde_json::from_str(&value).unwrap_or_default();
                progress.merged = decode_all(&payloads);
            } else if let Some(index) = name.strip_prefix("part:") {
                if let (Ok(i), Ok(m)) = (index.parse::<usize>(), value.parse::<i64>()) {
                    progress.parts.insert(i, MessageId(m));
                }
            }
        }
        progress
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// It will be tried again after this delay.
    Retry(Duration),
    /// Dead-lettered: the user should be told.
    Dead,
    /// The lease was lost meanwhile (another worker has the job); nothing was changed.
    Stale,
}

/// A dead-lettered job as the operator sees it (`p:deadjob:{id}`). Every field but the id is `None` when
/// its record is missing or holds no such field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadJob {
    pub id: JobId,
    pub reason: Option<String>,
    /// When it was dead-lettered (Unix ms).
    pub dead_at_ms: Option<i64>,
    /// The attempt it died in (one more than `JOB_MAX_ATTEMPTS` when it was given up as it was taken).
    pub attempts: Option<u32>,
    pub priority: Option<Priority>,
    /// `None` for a job outside any chat's order (compression).
    pub chat: Option<ChatId>,
    /// When it was queued (Unix ms).
    pub enqueued_at_ms: Option<i64>,
    /// Why its latest attempt failed (also set when it was retried before).
    pub last_error: Option<String>,
    /// Messages merged into it, which go with it.
    pub merged: usize,
    /// The payload as stored: the job's JSON, which may not parse (that may be why it died).
    pub payload: Option<String>,
}

/// What `lua/dead.lua` answers: the total, then each job's id and fields.
type DeadReply = (i64, Vec<(String, Vec<Option<String>>)>);

/// A page of dead jobs, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadPage {
    /// All dead jobs, not only this page's.
    pub total: u64,
    pub jobs: Vec<DeadJob>,
}

/// What [`Queue::requeue_dead`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeued {
    /// It is ready to run (its chat had nothing else ready or running).
    Ready,
    /// It waits behind the job its chat is on.
    Waiting,
    /// No dead job has this id.
    NotFound,
    /// A live job has this id (a new job made since); nothing was changed. Drop the dead one instead.
    Conflict,
}

struct Scripts {
    enqueue: Script,
    take: Script,
    apply: Script,
    fail: Script,
    extend: Script,
    release: Script,
    stats: Script,
    dead: Script,
    requeue: Script,
    drop: Script,
}

impl Scripts {
    fn new() -> Self {
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
        }
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

fn now_ms() -> i64 {
    crate::text::now_unix_ms()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The queue. Cheap to clone and `Send`, but its connection's driver task lives on the runtime (actix
/// arbiter) that first uses it, and dies with it: give each arbiter its own with [`Queue::reopen`].
#[derive(Clone)]
pub struct Queue {
    conn: ConnectionManager,
    client: redis::Client,
    prefix: String,
    settings: QueueSettings,
    scripts: Arc<Scripts>,
    /// Records and acknowledgements go to the task that applies them in batches (`None` in that task).
    ops: Option<mpsc::UnboundedSender<Pending>>,
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
        };
        let (ops, pending) = mpsc::unbounded_channel();
        // Ends when every clone of the queue is dropped.
        tokio::spawn(apply_batches(direct.reopen()?, pending));
        // The first message need not wait for a script to be sent to Redis (if Redis is down now, the first
        // call of each script loads it).
        let preload = direct.clone();
        tokio::spawn(async move {
            if let Err(e) = preload.load_scripts().await {
                log::debug!("queue scripts not preloaded ({e}); they load on first use");
            }
        });
        Ok(Queue {
            ops: Some(ops),
            ..direct
        })
    }

    /// Loads every script into Redis's script cache.
    async fn load_scripts(&self) -> Result<(), QueueError> {
        let s = &self.scripts;
        let mut conn = self.conn.clone();
        for script in [
            &s.enqueue, &s.take, &s.apply, &s.fail, &s.extend, &s.release, &s.stats, &s.dead,
            &s.requeue, &s.drop,
        ] {
            bounded(CALL_TIMEOUT, script.load_async(&mut conn)).await?;
        }
        Ok(())
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

    fn key(&self, parts: &[&str]) -> String {
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
        self.enqueue_all(&items).await
    }

    /// Queues one job the bot made itself. A job with the same id still queued is not queued again.
    pub async fn enqueue(&self, priority: Priority, job: &Job) -> Result<bool, QueueError> {
        Ok(self.enqueue_all(&[(None, priority, job)]).await? > 0)
    }

    async fn enqueue_all(
        &self,
        items: &[(Option<UpdateId>, Priority, &Job)],
    ) -> Result<usize, QueueError> {
        if items.is_empty() {
            return Ok(0);
        }
        let mut inv = self.scripts.enqueue.prepare_invoke();
        inv.arg(&self.prefix).arg(now_ms()).arg(SEEN_TTL.as_secs());
        for (update, priority, job) in items {
            inv.arg(update.map(|u| u.0.to_string()).unwrap_or_default())
                .arg(priority.as_str())
                .arg(
                    job.ordered_chat()
                        .map(|c| c.0.to_string())
                        .unwrap_or_default(),
                )
                .arg(&job.id.0)
                .arg(if job.is_mergeable() { "1" } else { "0" })
                .arg(job.encode());
        }
        let mut conn = self.conn.clone();
        bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await
    }

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

    /// Takes up to `count` jobs in one step, without waiting. A chat job absorbs its chat's messages waiting
    /// within the merge window (see `absorb` in `lua/common.lua`) in the same step; each lease carries its
    /// progress.
    pub async fn try_take_many(&self, count: usize) -> Result<Vec<Taken>, QueueError> {
        let mut inv = self.scripts.take.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(now_ms())
            .arg(millis(self.settings.lease))
            .arg(self.settings.max_attempts)
            .arg(millis(self.settings.merge_window))
            .arg(count.max(1));
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

    /// Applies a record or an acknowledgement, batched with those of the other running jobs.
    async fn submit(&self, lease: &Lease, op: Op) -> Result<bool, QueueError> {
        let applied = Applied {
            op,
            id: lease.id.clone(),
            attempt: lease.attempt,
        };
        let (reply, answer) = oneshot::channel();
        let applied = match &self.ops {
            Some(ops) => match ops.send((applied, reply)) {
                Ok(()) => {
                    return answer.await.unwrap_or_else(|_| {
                        Err(QueueError::Batch("the queue's batch task stopped".into()))
                    })
                }
                // The task is gone (its runtime stopped): apply it directly.
                Err(mpsc::error::SendError((applied, _))) => applied,
            },
            None => applied,
        };
        let results = self.apply_now(std::slice::from_ref(&applied)).await?;
        Ok(results.first().copied().unwrap_or(false))
    }

    /// One `lua/apply.lua` call: whether each operation was applied (its caller still held the job).
    async fn apply_now(&self, batch: &[Applied]) -> Result<Vec<bool>, QueueError> {
        let mut inv = self.scripts.apply.prepare_invoke();
        inv.arg(&self.prefix);
        for p in batch {
            match &p.op {
                Op::Ack => {
                    inv.arg("ack").arg(&p.id.0).arg(p.attempt);
                }
                Op::Record(fields) => {
                    inv.arg("record")
                        .arg(&p.id.0)
                        .arg(p.attempt)
                        .arg(fields.len());
                    for (f, v) in fields {
                        inv.arg(f).arg(v);
                    }
                }
            }
        }
        let mut conn = self.conn.clone();
        let results: Vec<i64> = bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await?;
        if results.len() != batch.len() {
            return Err(QueueError::Protocol(format!(
                "apply answered {} results for {} operations",
                results.len(),
                batch.len()
            )));
        }
        Ok(results.into_iter().map(|n| n == 1).collect())
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
                other => return Err(QueueError::Protocol(format!("unknown statistic {other}"))),
            }
        }
        Ok(s)
    }
    /// One page of the dead-lettered jobs, newest first, read in one atomic step.
    pub async fn dead_jobs(&self, page: Page) -> Result<DeadPage, QueueError> {
        let mut inv = self.scripts.dead.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(page.offset())
            .arg(page.per_page());
        let mut conn = self.conn.clone();
        let (total, entries): DeadReply =
            bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await?;
        Ok(DeadPage {
            total: u64::try_from(total).unwrap_or(0),
            jobs: entries
                .into_iter()
                .map(|(id, fields)| dead_job(id, fields))
                .collect(),
        })
    }

    /// Puts a dead-lettered job back in the queue with a full set of attempts (see `lua/requeue.lua`).
    pub async fn requeue_dead(&self, id: &JobId) -> Result<Requeued, QueueError> {
        let mut inv = self.scripts.requeue.prepare_invoke();
        inv.arg(&self.prefix).arg(&id.0).arg(now_ms());
        let mut conn = self.conn.clone();
        let outcome: String = bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await?;
        match outcome.as_str() {
            "ready" => Ok(Requeued::Ready),
            "waiting" => Ok(Requeued::Waiting),
            "missing" => Ok(Requeued::NotFound),
            "conflict" => Ok(Requeued::Conflict),
            other => Err(QueueError::Protocol(format!("requeue answered {other:?}"))),
        }
    }

    /// Forgets a dead-lettered job for good. `false`: there was no such dead job.
    pub async fn drop_dead(&self, id: &JobId) -> Result<bool, QueueError> {
        let mut inv = self.scripts.drop.prepare_invoke();
        inv.arg(&self.prefix).arg(&id.0);
        let mut conn = self.conn.clone();
        let n: i64 = bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await?;
        Ok(n == 1)
    }
}

/// A dead job from the fields `lua/dead.lua` reads, in its order.
fn dead_job(id: String, fields: Vec<Option<String>>) -> DeadJob {
    let mut fields = fields.into_iter();
    let mut next = || fields.next().flatten();
    let (payload, prio, chat, attempts, enqueued, reason, dead_at, last_error, merged) = (
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
    );
    DeadJob {
        id: JobId(id),
        reason,
        dead_at_ms: dead_at.and_then(|v| v.parse().ok()),
        attempts: attempts.and_then(|v| v.parse().ok()),
        priority: prio.as_deref().and_then(Priority::parse),
        chat: chat.and_then(|v| v.parse().ok()).map(ChatId),
        enqueued_at_ms: enqueued.and_then(|v| v.parse().ok()),
        last_error,
        merged: merged
            .and_then(|v| serde_json::from_str::<Vec<serde_json::Value>>(&v).ok())
            .map_or(0, |m| m.len()),
        payload,
    }
}

/// Applies the records and acknowledgements of all running jobs in batches, one Redis call at a time.
async fn apply_batches(queue: Queue, mut pending: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(APPLY_BATCH);
    while pending.recv_many(&mut batch, APPLY_BATCH).await > 0 {
        let (ops, replies): (Vec<Applied>, Vec<_>) = batch.drain(..).unzip();
        match queue.apply_now(&ops).await {
            Ok(results) => {
                for (reply, applied) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(applied));
                }
            }
            Err(e) => {
                let reason = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(QueueError::Batch(reason.clone())));
                }
            }
        }
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

fn decode_all(payloads: &[String]) -> Vec<Job> {
    payloads
        .iter()
        .filter_map(|p| match Job::decode(p) {
            Ok(job) => Some(job),
            Err(e) => {
                log::error!("a merged message cannot be read and is skipped: {e}");
                None
            }
        })
        .collect()
}

/// Consumer side: waits for the next job, highest priority first.
pub struct Taker {
    blocking: MultiplexedConnection,
    queue: Queue,
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
