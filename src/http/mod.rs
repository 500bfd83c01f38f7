//! The HTTP server for operators: `GET /health` (the process runs), `GET /ready` (it can do its work),
//! `GET /metrics` (Prometheus), and the admin API under `/api` ([`admin`], only with `API_TOKEN`); in webhook mode
//! also the endpoint Telegram POSTs updates to ([`webhook`]), here or on a port of its own.

pub mod admin;
mod views;
pub mod webhook;

use crate::actors::session_manager::CountChats;
use crate::actors::session_manager::{Ping, SessionManager};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::secret::{Redactor, Secret};
use crate::telegram::client::POLL_GRACE;
use actix::Addr;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A readiness check that takes longer than this counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct AppState {
    pub health: Arc<Health>,
    pub queue: Queue,
    pub sessions: Addr<SessionManager>,
    /// The long-poll wait: a successful `getUpdates` older than this (plus grace) means polling is stuck.
    pub poll_timeout: Duration,
    pub redactor: Redactor,
    pub metrics: Arc<Metrics>,
    /// `API_TOKEN`: the admin API and dashboard answer only when it is set, and only to it.
    pub api_token: Option<Secret>,
    /// The SQLite file (backups go next to it).
    pub database_path: PathBuf,
    /// What the workers are doing (dashboard).
    pub activity: Arc<crate::activity::Activity>,
    /// The workers' model catalog (the same `Arc`): the models' prices (`MODEL_PRICES`, else the server's, from
    /// its last model list), for `GET /api/usage`.
    pub catalog: Arc<crate::catalog::ModelCatalog>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(dashboard))
        .route("/metrics", web::get().to(metrics))
        .route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .configure(admin::routes);
}

/// The dashboard: one self-contained page (no CDN: the machine may be offline) that reads `/health`, `/ready`
/// and the admin API with the token the operator enters. Absent, like the admin API, without `API_TOKEN`.
async fn dashboard(state: web::Data<AppState>) -> HttpResponse {
    if state.api_token.is_none() {
        return HttpResponse::NotFound().json(
            json!({"error": "the dashboard is off: set API_TOKEN to enable it", "status": 404}),
        );
    }
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        ))
        .body(DASHBOARD_HTML)
}

const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// Prometheus text format. Gauges that mirror other state are refreshed first.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.set_restarts(&state.health.restarts());
    if let Ok(Ok(stats)) = tokio::time::timeout(CHECK_TIMEOUT, state.queue.stats()).await {
        state.metrics.set_queue(&stats);
    }
    if let Ok(Ok(Ok(n))) =
        tokio::time::timeout(CHECK_TIMEOUT, state.sessions.send(CountChats)).await
    {
        state
            .metrics
            .sessions
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.health.uptime().as_secs(),
        "restarts": state.health.restarts(),
        "role": state.health.poll_state().role,
    }))
}

/// 200 when SQLite, Redis and the last `getUpdates` are healthy, else 503 naming what failed.
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    // The checks run side by side, each bounded by CHECK_TIMEOUT.
    let sqlite_check = async {
        match tokio::time::timeout(CHECK_TIMEOUT, state.sessions.send(Ping)).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(e)) => Err(format!("session manager unavailable: {e}")),
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        }
    };
    let redis_check = async {
        let ask = || tokio::time::timeout(CHECK_TIMEOUT, state.queue.stats());
        // The first call after an outage fails on the dead connection, and the connection is made anew
        // for the next: asked again at once, so a Redis that is back is reported back.
        let answer = match ask().await {
            Ok(Err(_)) => ask().await,
            first => first,
        };
        match answer {
            Ok(Ok(stats)) => (Ok(()), Some(stats)),
            Ok(Err(e)) => (Err(e.to_string()), None),
            Err(_) => (Err(format!("no answer within {CHECK_TIMEOUT:?}")), None),
        }
    };
    let (sqlite, (redis, queue)) = tokio::join!(sqlite_check, redis_check);
    let poll = state.health.poll_state();
    let telegram = match (&poll.last_error, poll.last_ok) {
        // Another process polls (or none of this one's business): Telegram is not this process's to check.
        _ if matches!(poll.role, Some("standby" | "worker")) => Ok(()),
        (Some(e), _) => Err(e.clone()),
        // Webhook mode: `setWebhook`, then `getWebhookInfo` every few seconds.
        (None, None) if poll.role == Some("webhook") => Err("waiting for setWebhook".to_string()),
        (None, None) => Err("waiting for the first getUpdates".to_string()),
        (None, Some(at)) if at.elapsed() > state.poll_timeout + POLL_GRACE + CHECK_TIMEOUT => Err(
            format!("no answer from Telegram for {} s", at.elapsed().as_secs()),
        ),
        (None, Some(_)) => Ok(()),
    };
    let check = |r: &Result<(), String>| match r {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": state.redactor.redact(e)}),
    };
    let all_ok = sqlite.is_ok() && redis.is_ok() && telegram.is_ok();
    let failing: Vec<&str> = [
        ("sqlite", &sqlite),
        ("redis", &redis),
        ("telegram", &telegram),
    ]
    .iter()
    .filter(|(_, r)| r.is_err())
    .map(|(name, _)| *name)
    .collect();
    let body = json!({
        "status": if all_ok { "ready" } else { "not ready" },
        "failing": failing,
        "checks": {
            "sqlite": check(&sqlite),
            "redis": check(&redis),
            "telegram": check(&telegram),
        },
        "bot": poll.bot_username,
        "role": poll.role,
        "queue": queue,
    });
    if all_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
