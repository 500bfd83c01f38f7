//! The dead letters, as the operator sees them through the admin API: list them a page at a time, put one
//! back in the queue, or drop one for good.

use super::job::Priority;
use super::redis_queue::{bounded, now_ms, Queue, CALL_TIMEOUT};
use super::types::QueueError;
use crate::ids::{ChatId, JobId};
use crate::paging::Page;

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

impl Queue {
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
