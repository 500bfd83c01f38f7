//! OpenAI-compatible chat completions (`aichat --serve`, OpenAI, llama.cpp, vLLM …) over awc, and the server's
//! catalog of models and roles (`catalog`; its `Role` is `catalog::Role`, apart from the chat message's [`Role`]).
//! Knows nothing of actors.

pub mod catalog;
pub mod client;
pub mod close_delimited;
pub mod error;
pub mod reasoning;
pub mod sse;
pub mod types;

pub use catalog::{CatalogError, Model, ModelKind};
pub use client::LlmClient;
pub use error::LlmError;
pub use sse::{SseDecoder, StreamEvent};
pub use types::{ChatMessage, Completion, Finish, Image, ModelInfo, Role, StreamOutcome, Usage};
