//! Records and acknowledgements of all running jobs, applied in batches: each goes to one task that sends
//! those waiting together in one `lua/apply.lua` call.

use super::redis_queue::{bounded, Queue, CALL_TIMEOUT};
use super::types::{Lease, QueueError};
use crate::ids::JobId;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use tokio::sync::{mpsc, oneshot};

/// The most records and acknowledgements applied in one Redis call. They come from all running jobs: one call
/// is sent as soon as one is waiting, and those arriving meanwhile go together in the next.
pub(super) const APPLY_BATCH: usize = 128;

/// A record or an acknowledgement for `lua/apply.lua`.
#[derive(Debug)]
pub(super) enum Op {
    Ack,
    Record(Vec<(String, String)>),
}

/// An operation on job `id`, for the holder of `attempt`.
pub(super) struct Applied {
    op: Op,
    id: JobId,
    attempt: u32,
}

/// An operation waiting for the batch task, with where its result goes.
pub(super) type Pending = (Applied, oneshot::Sender<Result<bool, QueueError>>);

impl Queue {
    /// Applies a record or an acknowledgement, batched with those of the other running jobs.
    pub(super) async fn submit(&self, lease: &Lease, op: Op) -> Result<bool, QueueError> {
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
}

/// Applies the records and acknowledgements of all running jobs in batches, one Redis call at a time. The task
/// serves every job of the process, so a panic inside a call (a bug in a dependency) fails that batch only.
pub(super) async fn apply_batches(queue: Queue, mut pending: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(APPLY_BATCH);
    while pending.recv_many(&mut batch, APPLY_BATCH).await > 0 {
        let (ops, replies): (Vec<Applied>, Vec<_>) = batch.drain(..).unzip();
        let applied = AssertUnwindSafe(queue.apply_now(&ops))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(QueueError::Protocol("applying a batch panicked".into())));
        match applied {
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
