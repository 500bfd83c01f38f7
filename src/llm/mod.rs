//! OpenAI-compatible chat completions (`aichat --serve`, OpenAI, llama.cpp, vLLM …) over awc.
//! Knows nothing of actors.

pub mod client;
pub mod error;
pub mod reasoning;
pub mod types;

pub use client::LlmClient;
pub use error::LlmError;
pub use types::{ChatMessage, Completion, ModelInfo, Role, Usage};
