//! Chat-completions wire types.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "system" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct ChatRequest<'a> {
    pub model: &'a str,
    pub messages: &'a [ChatMessage],
    pub stream: bool,
    /// For a stream: ask for `usage` in a last chunk (OpenAI, vLLM, llama.cpp send it; aichat does not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

/// `stream_options` of a streamed request.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct StreamOptions {
    pub include_usage: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatResponse {
    #[serde(default)]
    pub choices: Vec<Choice>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Choice {
    pub message: Option<ResponseMessage>,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResponseMessage {
    pub content: Option<String>,
}

/// `{"error":{"message":…}}` (OpenAI, aichat) or `{"error":"…"}` (some servers).
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ErrorDetail {
    Object { message: String },
    Text(String),
}

/// How an answer ended: the server's `finish_reason`, read once where the answer is parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Finish {
    /// `stop`: the model ended its answer itself. Also any reason this bot does not act on (`tool_calls`,
    /// `function_call`, a server's own words): the answer is complete as far as the bot can tell.
    Stop,
    /// `length`: the answer reached the model's output-token limit and was cut there.
    Length,
    /// `content_filter`: the server's content filter stopped (or emptied) the answer.
    ContentFilter,
    /// The answer may be incomplete: it ended without any `finish_reason` (aichat ends an upstream failure
    /// mid-answer like a normal end), or the stream broke or reported an error after some text had arrived.
    #[default]
    CutOff,
}

impl Finish {
    /// A `finish_reason` the server sent.
    pub fn from_reason(reason: &str) -> Finish {
        match reason {
            "length" => Finish::Length,
            "content_filter" => Finish::ContentFilter,
            _ => Finish::Stop,
        }
    }

    /// A `finish_reason` that may be missing (missing is [`Finish::CutOff`]).
    pub fn from_optional(reason: Option<&str>) -> Finish {
        reason.map_or(Finish::CutOff, Finish::from_reason)
    }
}

/// One finished answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub content: String,
    /// How it ended ([`Finish::CutOff`] when the answer carried no `finish_reason`).
    pub finish: Finish,
    /// As reported by the server; aichat reports zeros when it does not know.
    pub usage: Option<Usage>,
}

/// How a streamed answer ended. The text was also handed out piece by piece while it arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOutcome {
    /// Every delta, joined.
    pub content: String,
    /// How it ended: the last `finish_reason` the server sent, or [`Finish::CutOff`] (see there).
    pub finish: Finish,
    /// Only when the server sends it (never aichat in streams).
    pub usage: Option<Usage>,
}

/// `GET /v1/models`.
#[derive(Debug, Deserialize)]
pub(crate) struct ModelList {
    #[serde(default)]
    pub data: Vec<ModelInfo>,
}

/// One model as the server describes it. The token limits are aichat's fields; other servers may omit them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModelInfo {
    pub id: String,
    #[serde(default)]
    pub max_input_tokens: Option<u64>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
}
