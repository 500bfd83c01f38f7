//! OpenAI-compatible chat completions (`aichat --serve`, OpenAI, llama.cpp, vLLM …) over awc.
//! Knows nothing of actors.

pub mod client;
pub mod close_delimited;
pub mod error;
pub mod reasoning;
pub mod sse;
pub mod types;

pub use client::LlmClient;
pub use error::LlmError;
pub use sse::{SseDecoder, StreamEvent};
pub use types::{ChatMessage, Completion, Finish, ModelInfo, Role, StreamOutcome, Usage};
