//! The actors. Each file: its role, its messages, the actor, its handlers, helpers, tests.
//!
//! - [`supervisor::RootSupervisor`] starts and wires everything, forwards fatal errors, runs shutdown.
//! - [`poller::TelegramPoller`] long-polls Telegram and queues a job for each update that needs one (a
//!   stranger is told "Access denied." once per `REFUSAL_NOTICE_INTERVAL`).
//! - [`session_manager::SessionManager`] owns SQLite (a `SyncArbiter`: Diesel blocks); its `Turns` work is in
//!   `session_turns.rs`.
//! - [`chat_worker::ChatWorker`] takes jobs from Redis and runs many at once ([`jobs`] does one job, top-down:
//!   [`jobs::JobRunner::run`]; its [`jobs::LeaseRecorder`] records an answer's messages with the lease; the
//!   commands it runs are in `job_commands.rs`, what it does for groups in `job_groups.rs`).
//! - [`compressor::Compressor`] summarises long conversations.
//! - [`generations::Generations`]: the answers being generated, so `/cancel` can stop one.
//! - [`supervision`]: back-off and panic capture shared by all of them, and [`supervision::keep_running`] for a
//!   task outside any actor (the `TurnBatcher`'s).
//! - [`turns::TurnBatcher`]: group commit of the jobs' turn steps (one SQLite transaction for many).

pub mod chat_worker;
pub mod compressor;
pub mod generations;
mod job_budget;
mod job_choices;
mod job_commands;
mod job_groups;
mod job_media;
mod job_usage;
pub mod jobs;
pub mod poller;
pub mod session_manager;
pub mod supervision;
pub mod supervisor;
pub mod turns;
