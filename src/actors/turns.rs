//! Group commit for the SessionManager: the turn steps ([`BeginTurn`], [`FinishTurn`]) of all running jobs are
//! coalesced into [`Turns`] messages, so many messages cost one SQLite transaction.
//!
//! No timer and no added wait: one task sends a batch as soon as a step is waiting; steps that arrive while a
//! batch is in the database go together in the next one. Under light load every batch holds one step (the
//! latency of a direct call); under heavy load the batches grow and the commits per message fall. One batch
//! at a time also means one writer, so SQLite's write lock is never contended by the turns themselves.

use crate::actors::session_manager::{
    BeginTurn, FinishTurn, SessionError, SessionManager, TurnContext, TurnReply, TurnStep, Turns,
};
use crate::actors::supervision::{keep_running, Backoff, RESTART_BASE_DELAY};
use crate::health::Health;
use actix::prelude::*;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Mutex};

/// The most steps in one transaction: bounds how long one commit holds SQLite's write lock.
pub const MAX_BATCH: usize = 128;
/// A failed batch task is started again quickly: every chat turn waits for it.
const RESTART_MAX_DELAY: Duration = Duration::from_secs(2);

type Reply = Result<Result<TurnReply, SessionError>, MailboxError>;
type Pending = (TurnStep, oneshot::Sender<Reply>);

/// Cheap to clone and `Send`; every clone feeds the same batches.
#[derive(Clone)]
pub struct TurnBatcher {
    steps: mpsc::UnboundedSender<Pending>,
}

impl TurnBatcher {
    /// Starts the task that sends the batches, on the current arbiter, under [`keep_running`]: if it fails,
    /// the steps of its batch in flight get an error (their jobs are retried) and it starts again, with the
    /// steps waiting meanwhile. It ends when every clone is dropped.
    pub fn start(sessions: Addr<SessionManager>, health: Arc<Health>) -> Self {
        let (steps, waiting) = mpsc::unbounded_channel();
        let waiting = Rc::new(Mutex::new(waiting));
        actix_rt::spawn(keep_running(
            "turn_batcher",
            health,
            Backoff::new(RESTART_BASE_DELAY, RESTART_MAX_DELAY),
            move || send_batches(sessions.clone(), waiting.clone()),
        ));
        Self { steps }
    }

    /// [`BeginTurn`], stored together with the other steps waiting.
    pub async fn begin(
        &self,
        step: BeginTurn,
    ) -> Result<Result<TurnContext, SessionError>, MailboxError> {
        Ok(self
            .submit(TurnStep::Begin(step))
            .await?
            .and_then(|reply| match reply {
                TurnReply::Begun(context) => Ok(context),
                TurnReply::Finished(_) => Err(mismatch()),
            }))
    }

    /// [`FinishTurn`], stored together with the other steps waiting.
    pub async fn finish(
        &self,
        step: FinishTurn,
    ) -> Result<Result<usize, SessionError>, MailboxError> {
        Ok(self
            .submit(TurnStep::Finish(step))
            .await?
            .and_then(|reply| match reply {
                TurnReply::Finished(tokens) => Ok(tokens),
                TurnReply::Begun(_) => Err(mismatch()),
            }))
    }

    async fn submit(&self, step: TurnStep) -> Reply {
        let (tx, rx) = oneshot::channel();
        if self.steps.send((step, tx)).is_err() {
            return Err(MailboxError::Closed);
        }
        // Dropped unanswered only if the batch task is gone (its arbiter stopped).
        rx.await.unwrap_or(Err(MailboxError::Closed))
    }
}

async fn send_batches(
    sessions: Addr<SessionManager>,
    waiting: Rc<Mutex<mpsc::UnboundedReceiver<Pending>>>,
) {
    let mut waiting = waiting.lock().await;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (steps, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        match sessions.send(Turns(steps)).await {
            Ok(results) => {
                let mut results = results.into_iter();
                for reply in replies {
                    let result = results.next().unwrap_or_else(|| Err(mismatch()));
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}

fn mismatch() -> SessionError {
    SessionError::Internal("the session manager answered a turn step out of order".into())
}
