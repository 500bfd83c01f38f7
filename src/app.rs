//! The application: builds every part from a [`Config`] and runs until SIGTERM/SIGINT or a fatal error.
//! `main` is a few lines over it. The end-to-end tests run the built binary itself (`tests/e2e/support/bot.rs`),
//! so they go through `main` and this module exactly as a user's process does.

use crate::activity::Activity;
use crate::actors::session_manager::{self, SessionManager};
use crate::actors::supervisor::{ExitRequest, GetPoller, RootSupervisor, Services, Shutdown};
use crate::catalog::ModelCatalog;
use crate::config::Config;
use crate::context::ContextWindow;
use crate::db::{self, DbError, DbPool};
use crate::health::Health;
use crate::http::webhook::WebhookState;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::queue::{Queue, QueueError};
use crate::telegram::pacing::Pacer;
use crate::tokens::{TokenCounter, TokenizerError};
use actix::prelude::*;
use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// SessionManager threads. SQLite has one writer at a time; two threads let reads overlap a write.
const SESSION_THREADS: usize = 2;
/// Requests still open at shutdown get this long (the job grace period has already passed).
const HTTP_SHUTDOWN_TIMEOUT_SECS: u64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error("cannot set up the Redis client: {0}")]
    Redis(#[from] QueueError),
    #[error("cannot listen on {addr} ({settings}): {source}")]
    Bind {
        addr: String,
        /// The settings that chose the address.
        settings: &'static str,
        source: std::io::Error,
    },
}

pub struct Application {
    port: u16,
    server: ServerHandle,
    /// The webhook's own server (`WEBHOOK_PORT`) and its port.
    webhook_server: Option<(ServerHandle, u16)>,
    root: Addr<RootSupervisor>,
    exit: mpsc::UnboundedReceiver<ExitRequest>,
    pool: DbPool,
    grace: Duration,
}

impl Application {
    /// Opens the database (running migrations), starts the actors and binds the HTTP server.
    /// Must be called inside an actix system.
    pub async fn build(config: Config) -> Result<Application, StartError> {
        let config = Arc::new(config);
        let health = Arc::new(Health::new());
        let metrics = Arc::new(Metrics::new()?);
        let activity = Arc::new(Activity::default());
        let tokens = Arc::new(TokenCounter::load(config.tokenizer_path.as_deref())?);
        let pool = db::open(&config.database_path, (SESSION_THREADS + 1) as u32)?;
        let queue = Queue::new(
            config.redis.url.expose(),
            &config.redis.key_prefix,
            config.queue.clone(),
        )?;
        let sessions = SessionManager::start(
            SESSION_THREADS,
            pool.clone(),
            tokens.clone(),
            config.system_prompt.clone(),
            health.clone(),
        );
        let (exit_tx, exit_rx) = mpsc::unbounded_channel();
        let catalog = Arc::new(ModelCatalog::new(
            &config.llm.model,
            config.llm.allowed_models.clone(),
            config.usage.prices.clone(),
            Arc::new(ContextWindow::new(&config.context)),
        ));
        let services = Services {
            config: config.clone(),
            health: health.clone(),
            queue: queue.clone(),
            sessions: sessions.clone(),
            tokens,
            catalog: catalog.clone(),
            pacer: Arc::new(Pacer::new(config.pacing())),
            metrics: metrics.clone(),
            activity: activity.clone(),
        };
        let root = RootSupervisor::new(services, exit_tx).start();
        // Webhook mode: the endpoint hands updates to the poller (none with PROCESS_ROLE=worker: no endpoint).
        let webhook = match (&config.webhook, root.send(GetPoller).await) {
            (Some(w), Ok(Some(poller))) => Some((
                w.clone(),
                WebhookState {
                    poller,
                    secret: w.secret.clone(),
                    metrics: metrics.clone(),
                },
            )),
            _ => None,
        };
        let (webhook_on_api, webhook_apart) = match webhook {
            Some((w, state)) if w.port.is_none() => (Some((w.url.path, state)), None),
            other => (None, other),
        };

        let state = AppState {
            health,
            // Its own connection: it is first used (and driven) on the HTTP server's thread.
            queue: queue.reopen()?,
            sessions,
            poll_timeout: config.telegram.poll_timeout,
            redactor: config.redactor(),
            metrics,
            api_token: config.api_token.clone(),
            database_path: config.database_path.clone(),
            activity,
            catalog,
        };
        let addr = format!("{}:{}", config.api_host, config.api_port);
        let server = HttpServer::new(move || {
            let webhook = webhook_on_api.clone();
            App::new()
                .app_data(web::Data::new(state.clone()))
                .configure(http::routes)
                .configure(move |cfg| {
                    if let Some((path, state)) = webhook {
                        http::webhook::routes(cfg, &path, state);
                    }
                })
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(HTTP_SHUTDOWN_TIMEOUT_SECS)
        .bind((config.api_host.as_str(), config.api_port))
        .map_err(|source| StartError::Bind {
            addr: addr.clone(),
            settings: "API_HOST/API_PORT",
            source,
        })?;
        let bound = server.addrs();
        let port = bound.first().map_or(config.api_port, |a| a.port());
        for a in &bound {
            log::info!("api listening on {a}");
        }
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(async move {
            if let Err(e) = server.await {
                log::error!("the HTTP server stopped: {e}");
            }
        });
        let webhook_server = match webhook_apart {
            Some((w, state)) => Some(serve_webhook(&config.api_host, &w, state)?),
            None => None,
        };
        Ok(Application {
            port,
            server: handle,
            webhook_server,
            root,
            exit: exit_rx,
            pool,
            grace: config.shutdown_grace,
        })
    }

    /// The HTTP port actually bound (useful with `API_PORT=0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The webhook's own port (`WEBHOOK_PORT`, useful with 0), when it has one.
    pub fn webhook_port(&self) -> Option<u16> {
        self.webhook_server.as_ref().map(|(_, port)| *port)
    }

    /// Runs until SIGTERM/SIGINT (exit code 0 after a graceful shutdown) or a fatal error (its exit code).
    /// A second signal during the shutdown ends it at once: jobs still running are then retried when their
    /// leases expire.
    pub async fn run_until_stopped(mut self) -> i32 {
        let code = tokio::select! {
            signal = wait_for_signal() => {
                log::info!("{signal} received: shutting down");
                0
            }
            request = self.exit.recv() => match request {
                Some(r) => {
                    log::error!("stopping: {}", r.reason);
                    r.exit_code
                }
                None => 1,
            },
        };
        tokio::select! {
            () = self.shutdown() => code,
            signal = wait_for_signal() => {
                log::warn!("{signal} received again: stopping at once; unfinished jobs will be retried");
                code
            }
        }
    }

    async fn shutdown(self) {
        match self.root.send(Shutdown { grace: self.grace }).await {
            Ok(0) => log::info!("all jobs finished"),
            Ok(left) => log::warn!("{left} unfinished jobs were handed back to the queue"),
            Err(e) => log::warn!("shutdown could not reach the supervisor: {e}"),
        }
        self.server.stop(true).await;
        if let Some((server, _)) = &self.webhook_server {
            server.stop(true).await;
        }
        let pool = self.pool.clone();
        let closed =
            actix_web::rt::task::spawn_blocking(move || session_manager::close(&pool)).await;
        if closed.is_err() {
            log::warn!("closing the database did not finish cleanly");
        }
        log::info!("stopped");
    }
}

/// Serves the webhook alone on `host`:`WEBHOOK_PORT`; returns its handle and the port bound.
fn serve_webhook(
    host: &str,
    webhook: &crate::config::WebhookConfig,
    state: WebhookState,
) -> Result<(ServerHandle, u16), StartError> {
    let port = webhook.port.unwrap_or(0);
    let path = webhook.url.path.clone();
    let server = HttpServer::new(move || {
        let (path, state) = (path.clone(), state.clone());
        App::new().configure(move |cfg| http::webhook::routes(cfg, &path, state))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(HTTP_SHUTDOWN_TIMEOUT_SECS)
    .bind((host, port))
    .map_err(|source| StartError::Bind {
        addr: format!("{host}:{port}"),
        settings: "API_HOST/WEBHOOK_PORT",
        source,
    })?;
    let bound = server.addrs();
    for a in &bound {
        log::info!("webhook listening on {a}{}", webhook.url.path);
    }
    let port = bound.first().map_or(port, |a| a.port());
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(async move {
        if let Err(e) = server.await {
            log::error!("the webhook's HTTP server stopped: {e}");
        }
    });
    Ok((handle, port))
}

/// Resolves with the signal's name on SIGTERM or SIGINT.
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            log::error!("cannot listen for signals; the bot can only be stopped by killing it");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
