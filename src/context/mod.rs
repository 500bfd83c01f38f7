//! A chat's context: how big the model's window is, what goes into a turn's prompt, and what a compression
//! folds. Plain data and pure functions (rows in, prompt or selection out); the `SessionManager` reads the
//! rows and calls these, so they are tested without the actor or a database.
//!
//! - [`window`]: the model's context window, compression threshold and prompt budget ([`ContextWindow`]).
//! - [`prompt`]: a turn's prompt from the stored context, within the budget ([`build_prompt`]); in groups the
//!   system prompt says so ([`system_for_chat`]); what `/context` and `/system` report ([`ContextUsage`],
//!   [`SystemPrompt`]).
//! - [`group_memory`]: a group's kept unaddressed messages in a turn's prompt ([`add_group_memory`]).
//! - [`compression`]: which of the oldest turns a compression folds ([`select_for_compression`]).

pub mod compression;
pub mod group_memory;
pub mod prompt;
pub mod window;

pub use compression::{select_for_compression, CompressionInput};
pub use group_memory::add_group_memory;
pub use prompt::{
    build_prompt, system_for_chat, ContextUsage, PromptBudget, StoredContext, SystemPrompt,
    TurnContext, SUMMARY_PREFIX,
};
pub use window::{ContextWindow, WindowSize};
