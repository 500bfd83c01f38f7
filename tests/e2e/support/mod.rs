//! Test support: honest fakes of the services the bot talks to, a real `redis-server`, and a
//! handle on the real bot binary.
//!
//! | module            | what it gives a test                                                        |
//! |-------------------|-----------------------------------------------------------------------------|
//! | [`redis`]         | [`RedisServer`]: a private `redis-server` on a free port, stoppable/restartable |
//! | [`fake_telegram`] | [`FakeTelegram`]: a Bot API server with Telegram's semantics, limits and errors |
//! | [`fake_llm`]      | [`FakeLlm`]: an OpenAI-compatible server shaped like `aichat --serve`          |
//! | [`bot`]           | [`BotProcess`] (the real binary) and [`TestEnv`] (everything wired together)   |
//!
//! Every fake binds 127.0.0.1 port 0 and reports its port, so tests run in parallel without
//! clashing. Fakes keep their state behind `Arc<Mutex<..>>` (never held across an await) and
//! wake waiters with `tokio::sync::Notify`, so tests wait on events rather than sleeping.

// Not every test module uses every helper; the support library is shared by all of them.
#![allow(dead_code, unused_imports)]

pub mod bot;
pub mod fake_llm;
pub mod fake_telegram;
pub mod redis;

pub use bot::{BotProcess, TestEnv};
pub use fake_llm::{Behaviour, FakeLlm};
pub use fake_telegram::{EditedMessage, FakeTelegram, Fault, SentMessage};
pub use redis::RedisServer;

use aichat_telegram_bot::queue::{Queue, QueueError, Taken};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One job at a time, for tests that take jobs by hand: the bot itself always takes them in batches
/// (`Queue::try_take_many`), and so does this.
pub(crate) trait TakeOne {
    async fn try_take(&self) -> Result<Option<Taken>, QueueError>;
}

impl TakeOne for Queue {
    async fn try_take(&self) -> Result<Option<Taken>, QueueError> {
        Ok(self.try_take_many(1).await?.into_iter().next())
    }
}

/// Locks a mutex even if a previous holder panicked: a panicking assertion in one handler must
/// not turn every later call into a confusing `PoisonError`.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Seconds since the Unix epoch, as Telegram and OpenAI put in their `date`/`created` fields.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Serves `routes` (with `data` and a request-body cap) on 127.0.0.1, port 0, on the current actix
/// runtime; returns the port and the handle that stops it. Shared by the fakes.
pub(crate) fn serve_on_loopback<T: Send + Sync + 'static>(
    what: &str,
    data: actix_web::web::Data<T>,
    body_limit: usize,
    routes: fn(&mut actix_web::web::ServiceConfig),
) -> (u16, actix_web::dev::ServerHandle) {
    use actix_web::{web, App, HttpServer};
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(body_limit))
            .configure(routes)
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0));
    let server = match server {
        Ok(server) => server,
        Err(err) => panic!("{what} cannot bind 127.0.0.1:0: {err}"),
    };
    let port = server.addrs().first().map(|a| a.port()).unwrap_or(0);
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (port, handle)
}
