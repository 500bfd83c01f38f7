//! What the queue hands out and reports: its error, its settings, its statistics, a lease on a job with the
//! progress of its earlier attempts, and the outcomes of taking and failing a job.

use super::job::{Job, JobDecodeError, Priority};
use crate::ids::{JobId, MessageId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("Redis error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("unexpected answer from a queue script: {0}")]
    Protocol(String),
    /// A batch queued under a poller token that does not hold the role any more: nothing was queued.
    #[error("this process does not hold the poller role any more")]
    NotThePoller,
    /// A batch of operations failed as a whole (see `APPLY_BATCH` in `batch.rs`); the first error, as text.
    #[error("{0}")]
    Batch(String),
}

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
    /// Jobs taken back at once from a process whose heartbeat was gone (it crashed).
    pub reclaimed: u64,
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
    pub(super) fn from_fields(fields: impl IntoIterator<Item = (String, String)>) -> Progress {
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
