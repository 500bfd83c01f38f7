//! aichat-telegram-bot: a self-hosted Telegram bot in front of any OpenAI-compatible chat server.
//!
//! Map of the crate:
//! - [`config`]: environment (and `.env`) to a validated [`config::Config`]; every problem reported at once.
//! - [`app`]: builds and runs the whole system (actors + HTTP server); used by `main` and the tests.
//! - [`actors`]: the actix actors — `RootSupervisor`, `TelegramPoller`, `SessionManager`, `ChatWorker`,
//!   `Compressor` — thin orchestration over the plain modules below; with one job's run (`jobs`), the `/cancel`
//!   registry (`generations`), the batched turn steps (`turns`) and restart back-off (`supervision`).
//! - [`telegram`]: Bot API client over awc, wire types, errors, Markdown to Telegram HTML, message splitting,
//!   one answer's delivery (streamed, then formatted) and the pacing under Telegram's limits.
//! - [`llm`]: OpenAI-compatible chat-completions client over awc (streamed: SSE).
//! - [`queue`]: jobs and the prioritized, reliable Redis queue (Lua scripts).
//! - [`db`]: SQLite through Diesel: schema, models, queries, embedded migrations.
//! - [`http`]: `/health`, `/ready`, `/metrics`, and the admin API under `/api` (when `API_TOKEN` is set).
//! - [`choice`]: choosing a chat's model and role: `ALLOWED_MODELS`, the offered models, button labels, the
//!   paged keyboards, their `callback_data` and its decoder, the closest names: pure functions.
//! - [`commands`]: the bot's commands: parsing and descriptions.
//! - [`texts`]: every sentence the bot says to users (notices, failures, command replies).
//! - [`context`]: the model's context window (configured or learned from the server) and prompt budget, a
//!   turn's prompt and what a compression folds: pure functions over the stored rows.
//! - [`metrics`]: Prometheus metrics served at `/metrics`.
//! - [`tokens`]: token counting (a `tokenizer.json` or a fast estimate).
//! - [`activity`]: the jobs running now and those that ended recently (shutdown, dashboard).
//! - [`health`]: shared liveness facts (restarts, polling state) that actors write and HTTP reads.
//! - [`ids`], [`paging`], [`secret`], [`logging`], [`text`], [`memory`]: small shared pieces.
//!
//! `telegram`, `llm`, `queue` and `db` know nothing of actors.

pub mod activity;
pub mod actors;
pub mod app;
pub mod catalog;
pub mod choice;
pub mod commands;
pub mod config;
pub mod context;
pub mod db;
pub mod health;
pub mod http;
pub mod ids;
pub mod llm;
pub mod logging;
pub mod media;
pub mod memory;
pub mod metrics;
pub mod paging;
pub mod queue;
pub mod secret;
pub mod telegram;
pub mod text;
pub mod texts;
pub mod tokens;
pub mod usage;
