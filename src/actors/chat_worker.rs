//! ChatWorker: takes jobs from Redis, highest priority first, and runs many at once.
//!
//! A job mostly waits on the LLM, so a worker does not run one job at a time: it takes a job as soon as a
//! permit of the shared semaphore (`MAX_CONCURRENT_JOBS` across all workers) is free, and runs it as its own
//! task on the worker's arbiter. A slow model therefore never makes other chats queue behind it. Jobs run
//! outside the actor's context, so a worker restart does not cut the jobs it already started.

use crate::activity::Activity;
use crate::actors::compressor::Compressor;
use crate::actors::generations::Generations;
use crate::actors::jobs::JobRunner;
use crate::actors::session_manager::SessionManager;
use crate::actors::supervision::{Backoff, DEPENDENCY_RETRY_MAX, RESTART_BASE_DELAY};
use crate::actors::turns::TurnBatcher;
use crate::catalog::ModelCatalog;
use crate::config::Config;
use crate::health::Health;
use crate::llm::LlmClient;
use crate::queue::{Lease, Queue, QueueError, Taken, Taker};
use crate::telegram::pacing::Pacer;
use crate::telegram::BotApi;
use crate::tokens::TokenCounter;
use actix::prelude::*;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A worker that lost Redis retries sooner than other actors: it should resume within seconds of Redis
/// coming back.
const WORKER_RESTART_MAX_DELAY: Duration = DEPENDENCY_RETRY_MAX;
/// The most jobs a worker takes in one Redis call, when that many are ready and that many permits are free.
pub const TAKE_BATCH: usize = 16;

// ---- Messages ----------------------------------------------------------------------------------------------

/// Sent by the worker to itself: wait for a permit and the next job.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct TakeNext;

/// From the RootSupervisor at shutdown: take no more jobs (jobs already running go on).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopTaking;

/// What a worker needs from outside; `Send`, so the supervisor can hand it to the worker's arbiter.
#[derive(Clone)]
pub struct WorkerDeps {
    pub config: Arc<Config>,
    pub queue: Queue,
    pub sessions: Addr<SessionManager>,
    /// Shared by all workers: the jobs' turn steps, stored in batches.
    pub turns: TurnBatcher,
    pub compressor: Addr<Compressor>,
    /// Shared by all workers: one permit per job in flight.
    pub permits: Arc<Semaphore>,
    /// Shared by all workers: the leases of the jobs running now.
    pub activity: Arc<Activity>,
    pub health: Arc<Health>,
    pub tokens: Arc<TokenCounter>,
    pub catalog: Arc<ModelCatalog>,
    /// Shared by all workers: Telegram's budget.
    pub pacer: Arc<Pacer>,
    /// Shared by all workers: the answers being generated, for `/cancel`.
    pub generations: Arc<Generations>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

// ---- Actor -------------------------------------------------------------------------------------------------

pub struct ChatWorker {
    index: usize,
    deps: WorkerDeps,
    runner: Rc<JobRunner>,
    /// The worker's own Redis connection for blocking pops; rebuilt after a failure.
    taker: Option<Taker>,
    backoff: Backoff,
    stopping: bool,
}

impl ChatWorker {
    /// Must run on the worker's own arbiter (it builds awc clients, which are not `Send`).
    pub fn new(index: usize, mut deps: WorkerDeps) -> Self {
        // A connection whose driver lives on this worker's arbiter.
        match deps.queue.reopen() {
            Ok(queue) => deps.queue = queue,
            Err(e) => log::warn!("worker {index}: sharing the main Redis connection: {e}"),
        }
        let config = &deps.config;
        let runner = Rc::new(JobRunner {
            api: BotApi::new(&config.telegram.api_url, &config.telegram.token)
                .with_observer(deps.metrics.telegram_observer()),
            llm: LlmClient::new(
                &config.llm.base_url,
                &config.llm.model,
                config.llm.api_key.clone(),
            ),
            sessions: deps.sessions.clone(),
            turns: deps.turns.clone(),
            compressor: deps.compressor.clone(),
            queue: deps.queue.clone(),
            config: deps.config.clone(),
            tokens: deps.tokens.clone(),
            catalog: deps.catalog.clone(),
            pacer: deps.pacer.clone(),
            generations: deps.generations.clone(),
            metrics: deps.metrics.clone(),
        });
        Self {
            index,
            deps,
            runner,
            taker: None,
            backoff: Backoff::new(RESTART_BASE_DELAY, WORKER_RESTART_MAX_DELAY),
            stopping: false,
        }
    }
}

impl Actor for ChatWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let delay = self.backoff.wait();
        if !delay.is_zero() {
            log::info!(
                "worker {} waits {delay:?} before taking jobs again",
                self.index
            );
        }
        ctx.run_later(delay, |_, ctx| ctx.notify(TakeNext));
    }
}

impl Supervised for ChatWorker {
    fn restarting(&mut self, _: &mut Context<Self>) {
        let n = self.deps.health.record_restart("chat_worker");
        self.backoff.fail();
        self.taker = None;
        log::warn!("worker {} restarting (restart #{n})", self.index);
    }
}

// ---- Handlers ----------------------------------------------------------------------------------------------

impl Handler<TakeNext> for ChatWorker {
    type Result = ();

    fn handle(&mut self, _: TakeNext, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let permits = self.deps.permits.clone();
        let queue = self.deps.queue.clone();
        let taker = self.taker.take();
        let take = async move {
            // A closed semaphore means shutdown: take nothing more.
            let Ok(first) = permits.clone().acquire_owned().await else {
                return Ok::<_, QueueError>(None);
            };
            // Under load, several jobs in one call: as many as permits are free right now.
            let mut held = vec![first];
            while held.len() < TAKE_BATCH {
                match permits.clone().try_acquire_owned() {
                    Ok(permit) => held.push(permit),
                    Err(_) => break,
                }
            }
            let mut taker = match taker {
                Some(t) => t,
                None => {
                    // After an outage the shared connection still holds its failure, which the first call
                    // returns (and then reconnects): spend it on a ping, not on a job's first record.
                    if queue.ping().await.is_err() {
                        queue.ping().await?;
                    }
                    queue.taker().await?
                }
            };
            let jobs = taker.take_many(held.len()).await?;
            Ok(Some((taker, held, jobs)))
        };
        ctx.spawn(take.into_actor(self).map(|result, act, ctx| match result {
            Ok(None) => act.stopping = true,
            Ok(Some((taker, held, jobs))) => {
                act.taker = Some(taker);
                act.backoff.reset();
                // Permits left over (fewer jobs were ready) are released as `held` is dropped.
                for (job, permit) in jobs.into_iter().zip(held) {
                    match job {
                        Taken::Job(lease) => act.spawn_job(lease, permit),
                        Taken::GaveUp(job) => {
                            let runner = act.runner.clone();
                            actix_rt::spawn(async move {
                                runner.gave_up(job).await;
                                drop(permit);
                            });
                        }
                        Taken::Unreadable { id, reason } => {
                            log::error!("job {id} cannot be read and was dead-lettered: {reason}");
                        }
                    }
                }
                ctx.notify(TakeNext);
            }
            Err(e) => {
                // The connection is gone (Redis down or restarted): let the supervisor restart this worker
                // with back-off; it reconnects when started again.
                log::warn!("worker {}: cannot take jobs: {e}", act.index);
                ctx.stop();
            }
        }));
    }
}

impl Handler<StopTaking> for ChatWorker {
    type Result = ();

    fn handle(&mut self, _: StopTaking, _: &mut Context<Self>) {
        self.stopping = true;
    }
}

// ---- Helpers -----------------------------------------------------------------------------------------------

impl ChatWorker {
    /// Runs the job as its own task on this arbiter; the permit is released when it ends.
    fn spawn_job(&self, lease: Lease, permit: OwnedSemaphorePermit) {
        let runner = self.runner.clone();
        let activity = self.deps.activity.clone();
        log::debug!(
            "worker {} runs job {} (attempt {}) for chat {}",
            self.index,
            lease.id,
            lease.attempt,
            lease.job.chat_id()
        );
        activity.start(&lease, self.index);
        actix_rt::spawn(async move {
            let id = lease.id.clone();
            let outcome = runner.run(lease).await;
            activity.end(&id, outcome);
            drop(permit);
        });
    }
}
