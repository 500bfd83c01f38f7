//! RootSupervisor: starts and wires every actor, restarts the ones that fail (through actix's `Supervisor`
//! with each actor's back-off), turns fatal errors into a process exit, and runs the graceful shutdown.

use crate::actors::chat_worker::{ChatWorker, StopTaking, WorkerDeps};
use crate::actors::compressor::Compressor;
use crate::actors::poller::{Fatal, StopPolling, TelegramPoller};
use crate::actors::session_manager::SessionManager;
use crate::config::Config;
use crate::health::Health;
use crate::queue::Queue;
use actix::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// How often shutdown checks whether the jobs in flight are done.
const DRAIN_CHECK: Duration = Duration::from_millis(50);

// ---- Messages ----------------------------------------------------------------------------------------------

/// From the application on SIGTERM/SIGINT: stop polling and taking jobs, then wait up to `grace` for the jobs
/// in flight. Replies with the number of jobs still running when it gave up (0 = clean).
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct Shutdown {
    pub grace: Duration,
}

/// Why the process should end, sent to the application.
#[derive(Debug, Clone)]
pub struct ExitRequest {
    pub reason: String,
    pub exit_code: i32,
}

// ---- Actor -------------------------------------------------------------------------------------------------

pub struct RootSupervisor {
    config: Arc<Config>,
    health: Arc<Health>,
    queue: Queue,
    sessions: Addr<SessionManager>,
    exit: mpsc::UnboundedSender<ExitRequest>,
    permits: Arc<Semaphore>,
    poller: Option<Addr<TelegramPoller>>,
    workers: Vec<(Arbiter, Addr<ChatWorker>)>,
}

impl RootSupervisor {
    pub fn new(
        config: Arc<Config>,
        health: Arc<Health>,
        queue: Queue,
        sessions: Addr<SessionManager>,
        exit: mpsc::UnboundedSender<ExitRequest>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(config.max_concurrent_jobs));
        Self {
            config,
            health,
            queue,
            sessions,
            exit,
            permits,
            poller: None,
            workers: Vec::new(),
        }
    }

    fn jobs_in_flight(&self) -> usize {
        self.config
            .max_concurrent_jobs
            .saturating_sub(self.permits.available_permits())
    }
}

impl Actor for RootSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let health = self.health.clone();
        let compressor = Supervisor::start(move |_| Compressor::new(health));

        let deps = WorkerDeps {
            config: self.config.clone(),
            queue: self.queue.clone(),
            sessions: self.sessions.clone(),
            compressor,
            permits: self.permits.clone(),
            health: self.health.clone(),
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

        let (config, queue, health) =
            (self.config.clone(), self.queue.clone(), self.health.clone());
        let fatal = ctx.address().recipient();
        self.poller = Some(Supervisor::start(move |_| {
            TelegramPoller::new(config, queue, health, fatal)
        }));
        log::info!(
            "started: {} workers, up to {} jobs at once, model {} at {}",
            self.config.workers,
            self.config.max_concurrent_jobs,
            self.config.llm.model,
            self.config.llm.base_url
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

impl Handler<Shutdown> for RootSupervisor {
    type Result = ResponseActFuture<Self, usize>;

    fn handle(&mut self, msg: Shutdown, _: &mut Context<Self>) -> Self::Result {
        if let Some(poller) = &self.poller {
            poller.do_send(StopPolling);
        }
        for (_, worker) in &self.workers {
            worker.do_send(StopTaking);
        }
        let permits = self.permits.clone();
        let total = self.config.max_concurrent_jobs;
        let deadline = Instant::now() + msg.grace;
        let running = self.jobs_in_flight();
        if running > 0 {
            log::info!("waiting up to {:?} for {running} jobs in flight", msg.grace);
        }
        let drain = async move {
            loop {
                let left = total.saturating_sub(permits.available_permits());
                if left == 0 || Instant::now() >= deadline {
                    // No new job can start from now on.
                    permits.close();
                    return left;
                }
                actix_rt::time::sleep(DRAIN_CHECK).await;
            }
        };
        Box::pin(drain.into_actor(self).map(|left, act, _| {
            for (arbiter, _) in act.workers.drain(..) {
                arbiter.stop();
            }
            left
        }))
    }
}
