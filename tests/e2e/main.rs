//! End-to-end tests: the real binary against a real redis-server and honest fakes of Telegram and the LLM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod admin;
mod chat;
mod dashboard;
mod fakes_files;
mod fakes_selftest;
mod groups;
mod media;
mod models;
mod operations;
mod queue;
mod recovery;
mod reliability;
mod sessions;
mod streaming;
mod support;
mod topics;
mod usage;
mod webhook;
