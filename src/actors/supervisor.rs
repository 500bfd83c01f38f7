//! RootSupervisor: starts and wires every actor, restarts the ones that fail (through actix's `Supervisor`
//! with each actor's back-off), turns fatal errors into a process exit, and runs the graceful shutdown.

use crate::activity::Activity;
use crate::actors::chat_worker::{ChatWorker, StopTaking, WorkerDeps};
use crate::actors::compressor::Compressor;
use crate::actors::generations::Generations;
use crate::actors::poller::{Fatal, StopPolling, TelegramPoller};
use crate::actors::session_manager::SessionManager;
use crate::actors::turns::TurnBatcher;
use crate::catalog::ModelCatalog;
use crate::config::{Config, ProcessRole};
use crate::health::Health;
use crate::llm::LlmClient;
use crate::metrics::Metrics;
use crate::queue::holders::HEARTBEAT_EVERY;
use crate::queue::Queue;
use crate::telegram::pacing::Pacer;
use crate::tokens::TokenCounter;
use actix::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// How often shutdown checks whether the jobs in flight are done.
const DRAIN_CHECK: Duration = Duration::from_millis(50);
/// Asking the model server for its context window at start: attempts, and the wait between them.
const MODEL_INFO_ATTEMPTS: u32 = 5;
const MODEL_INFO_RETRY: Duration = Duration::from_secs(3);

// ---- Messages ----------------------------------------------------------------------------------------------

/// From the application on SIGTERM/SIGINT: stop polling and taking jobs, wait up to `grace` for the jobs in
/// flight, then stop the workers and hand the unfinished jobs back to the queue. Replies with the number of
/// jobs handed back (0 = all finished).
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct Shutdown {
    pub grace: Duration,
}

/// From the application once everything is started: the poller's address (`None` with `PROCESS_ROLE=worker`),
/// for the webhook endpoint.
#[derive(Debug, Message)]
#[rtype(result = "Option<Addr<TelegramPoller>>")]
pub struct GetPoller;

/// Why the process should end, sent to the application.
#[derive(Debug, Clone)]
pub struct ExitRequest {
    pub reason: String,
    pub exit_code: i32,
}

// ---- Actor -------------------------------------------------------------------------------------------------

/// What the application builds before the actors: shared by the actors the supervisor starts.
pub struct Services {
    pub config: Arc<Config>,
    pub health: Arc<Health>,
    pub queue: Queue,
    pub sessions: Addr<SessionManager>,
    pub tokens: Arc<TokenCounter>,
    /// The models: `AICHAT_MODEL`, the server's list, each one's context window.
    pub catalog: Arc<ModelCatalog>,
    pub pacer: Arc<Pacer>,
    pub metrics: Arc<Metrics>,
    pub activity: Arc<Activity>,
}

pub struct RootSupervisor {
    config: Arc<Config>,
    health: Arc<Health>,
    queue: Queue,
    sessions: Addr<SessionManager>,
    tokens: Arc<TokenCounter>,
    catalog: Arc<ModelCatalog>,
    pacer: Arc<Pacer>,
    metrics: Arc<Metrics>,
    exit: mpsc::UnboundedSender<ExitRequest>,
    permits: Arc<Semaphore>,
    activity: Arc<Activity>,
    poller: Option<Addr<TelegramPoller>>,
    workers: Vec<(Arbiter, Addr<ChatWorker>)>,
    /// Set at shutdown: the heartbeat is not renewed any more (it is ended once the jobs are handed back).
    stopping: bool,
}

impl RootSupervisor {
    pub fn new(services: Services, exit: mpsc::UnboundedSender<ExitRequest>) -> Self {
        let Services {
            config,
            health,
            queue,
            sessions,
            tokens,
            catalog,
            pacer,
            metrics,
            activity,
        } = services;
        let permits = Arc::new(Semaphore::new(config.max_concurrent_jobs));
        Self {
            config,
            health,
            queue,
            sessions,
            tokens,
            catalog,
            pacer,
            metrics,
            exit,
            permits,
            activity,
            poller: None,
            workers: Vec::new(),
            stopping: false,
        }
    }
}

impl Actor for RootSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let health = self.health.clone();
        let (config, sessions, tokens, catalog, metrics) = (
            self.config.clone(),
            self.sessions.clone(),
            self.tokens.clone(),
            self.catalog.clone(),
            self.metrics.clone(),
        );
        self.keep_heartbeat(ctx);
        let compressor = Supervisor::start(move |_| {
            Compressor::new(config, health, sessions, tokens, catalog, metrics)
        });
        self.learn_models(ctx);

        let deps = WorkerDeps {
            config: self.config.clone(),
            queue: self.queue.clone(),
            sessions: self.sessions.clone(),
            turns: TurnBatcher::start(self.sessions.clone(), self.health.clone()),
            compressor,
            permits: self.permits.clone(),
            activity: self.activity.clone(),
            health: self.health.clone(),
            tokens: self.tokens.clone(),
            catalog: self.catalog.clone(),
            pacer: self.pacer.clone(),
            generations: Arc::new(Generations::default()),
            metrics: self.metrics.clone(),
        };
        // Each worker gets its own arbiter (thread): jobs are spread over the cores.
        for index in 0..self.config.workers {
            let arbiter = Arbiter::new();
            let deps = deps.clone();
            let addr = Supervisor::start_in_arbiter(&arbiter.handle(), move |_| {
                ChatWorker::new(index, deps)
            });
            self.workers.push((arbiter, addr));
        }

        let (config, queue, health, metrics) = (
            self.config.clone(),
            self.queue.clone(),
            self.health.clone(),
            self.metrics.clone(),
        );
        let fatal = ctx.address().recipient();
        if config.process_role == ProcessRole::Worker {
            // PROCESS_ROLE=worker: another process polls.
            health.set_role("worker");
        } else {
            self.poller = Some(Supervisor::start(move |_| {
                TelegramPoller::new(config, queue, health, metrics, fatal)
            }));
        }
        log::info!(
            "started: {} workers, up to {} jobs at once, model {} at {}",
            self.config.workers,
            self.config.max_concurrent_jobs,
            self.config.llm.model,
            self.config.llm.base_url
        );
    }
}

impl RootSupervisor {
    /// Renews this process's heartbeat in Redis every `HEARTBEAT_EVERY`, from now until shutdown: while it
    /// lives, no other process takes this one's jobs; when it crashes, they are taken over within
    /// `HEARTBEAT_TTL` (see `queue::holders`).
    fn keep_heartbeat(&mut self, ctx: &mut Context<Self>) {
        let beat = |act: &mut Self, ctx: &mut Context<Self>| {
            if act.stopping {
                return;
            }
            let (queue, metrics) = (act.queue.clone(), act.metrics.clone());
            ctx.spawn(
                async move {
                    let result = queue.heartbeat().await;
                    let label = if result.is_ok() { "ok" } else { "failed" };
                    metrics.heartbeats.with_label_values(&[label]).inc();
                    if let Err(e) = result {
                        log::debug!("heartbeat not renewed: {e}");
                    }
                }
                .into_actor(act),
            );
        };
        beat(self, ctx);
        ctx.run_interval(HEARTBEAT_EVERY, beat);
    }

    /// Asks the model server for its models, in the background (the server may still be starting): the list
    /// goes into the catalog (each chosen model's window comes from it), and `AICHAT_MODEL`'s context window
    /// is learned from it (unless `CONTEXT_WINDOW_TOKENS` is set).
    fn learn_models(&self, ctx: &mut Context<Self>) {
        let llm = LlmClient::new(
            &self.config.llm.base_url,
            &self.config.llm.model,
            self.config.llm.api_key.clone(),
        );
        let catalog = self.catalog.clone();
        let model = self.config.llm.model.clone();
        ctx.spawn(
            async move {
                let window = catalog.window();
                for attempt in 1..=MODEL_INFO_ATTEMPTS {
                    let listed = catalog.models(&llm).await.map(|list| {
                        // aichat lists `default` as a model too; another server's first model is its default.
                        let found = list.iter().find(|m| m.id == model);
                        found
                            .or_else(|| list.first().filter(|_| model == "default"))
                            .cloned()
                    });
                    match listed {
                        Ok(Some(info)) => {
                            if window.learn(info.max_input_tokens, info.max_output_tokens) {
                                log::info!(
                                    "model {}: context window {} tokens (reported by the server)",
                                    info.id,
                                    window.window()
                                );
                            }
                            return;
                        }
                        Ok(None) => {
                            log::warn!(
                                "the model server does not list AICHAT_MODEL={} in /v1/models (aichat wants \
                                 `client:model` or `default`); using a context window of {} tokens",
                                model,
                                window.window()
                            );
                            return;
                        }
                        Err(e) if attempt < MODEL_INFO_ATTEMPTS => {
                            log::debug!("cannot ask the model server for its models yet: {e}");
                            actix_rt::time::sleep(MODEL_INFO_RETRY).await;
                        }
                        Err(e) => log::warn!(
                            "cannot ask the model server for the context window ({e}); using {} tokens",
                            window.window()
                        ),
                    }
                }
            }
            .into_actor(self),
        );
    }
}

// ---- Handlers ----------------------------------------------------------------------------------------------

impl Handler<Fatal> for RootSupervisor {
    type Result = ();

    fn handle(&mut self, msg: Fatal, _: &mut Context<Self>) {
        if self
            .exit
            .send(ExitRequest {
                reason: msg.reason,
                exit_code: msg.exit_code,
            })
            .is_err()
        {
            log::error!(
                "fatal error reported after the application stopped listening; stopping the system"
            );
            System::current().stop_with_code(msg.exit_code);
        }
    }
}

impl Handler<GetPoller> for RootSupervisor {
    type Result = Option<Addr<TelegramPoller>>;

    fn handle(&mut self, _: GetPoller, _: &mut Context<Self>) -> Self::Result {
        self.poller.clone()
    }
}

impl Handler<Shutdown> for RootSupervisor {
    type Result = ResponseActFuture<Self, usize>;

    fn handle(&mut self, msg: Shutdown, _: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        if let Some(poller) = &self.poller {
            poller.do_send(StopPolling);
        }
        for (_, worker) in &self.workers {
            worker.do_send(StopTaking);
        }
        let in_flight = self.activity.clone();
        let permits = self.permits.clone();
        let queue = self.queue.clone();
        let deadline = Instant::now() + msg.grace;
        let running = in_flight.len();
        if running > 0 {
            log::info!("waiting up to {:?} for {running} jobs in flight", msg.grace);
        }
        let drain = async move {
            while !in_flight.is_empty() && Instant::now() < deadline {
                actix_rt::time::sleep(DRAIN_CHECK).await;
            }
            // No new job can start from now on.
            permits.close();
            in_flight
        };
        Box::pin(drain.into_actor(self).then(move |in_flight, act, _| {
            // Stop the workers first (their unfinished jobs stop running), then hand the jobs back.
            for (arbiter, _) in act.workers.drain(..) {
                arbiter.stop();
            }
            let leftovers = in_flight.leases();
            async move {
                let mut handed_back = 0;
                for lease in &leftovers {
                    match queue.release(lease).await {
                        Ok(true) => {
                            handed_back += 1;
                            log::info!("job {} handed back to the queue", lease.id);
                        }
                        Ok(false) => {
                            log::info!("job {} was already finished or taken over", lease.id)
                        }
                        Err(e) => log::warn!(
                            "cannot hand job {} back ({e}); it is retried when its lease expires",
                            lease.id
                        ),
                    }
                }
                // Nothing of this process is left to reclaim (a job not handed back is taken over now).
                if let Err(e) = queue.retire().await {
                    log::warn!("cannot end this process's heartbeat ({e}); it expires by itself");
                }
                handed_back
            }
            .into_actor(act)
        }))
    }
}
