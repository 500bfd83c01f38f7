//! The actors. Each file: its role, its messages, the actor, its handlers, helpers, tests.
//!
//! - [`supervisor::RootSupervisor`] starts and wires everything, forwards fatal errors, runs shutdown.
//! - [`poller::TelegramPoller`] long-polls Telegram and queues one job per update.
//! - [`session_manager::SessionManager`] owns SQLite (a `SyncArbiter`: Diesel blocks).
//! - [`chat_worker::ChatWorker`] takes jobs from Redis and runs many at once ([`jobs`] does one job).
//! - [`compressor::Compressor`] summarises long conversations.
//! - [`generations::Generations`]: the answers being generated, so `/cancel` can stop one.
//! - [`supervision`]: back-off and panic capture shared by all of them.
//! - [`turns::TurnBatcher`]: group commit of the jobs' turn steps (one SQLite transaction for many).

pub mod chat_worker;
pub mod compressor;
pub mod generations;
mod job_commands;
pub mod jobs;
pub mod poller;
pub mod session_manager;
pub mod supervision;
pub mod supervisor;
pub mod turns;
