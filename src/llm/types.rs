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

/// One message of a prompt. Without images its `content` is a string; with images it is OpenAI's list of
/// content parts: the text first, then one `image_url` part per image, as a `data:` URL (the model server is
/// given the bytes, never a Telegram URL, which would carry the token).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
    /// Images that go with the text (a user's photo, for a model that sees images).
    #[serde(skip)]
    pub images: Vec<Image>,
}

/// An image as a prompt carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `image/jpeg`, `image/png`, …
    pub mime: String,
    /// Shared, not copied, between the turns that show it.
    pub bytes: std::sync::Arc<Vec<u8>>,
}

impl Image {
    /// `data:{mime};base64,…`.
    pub fn data_url(&self) -> String {
        use base64::Engine;
        format!(
            "data:{};base64,{}",
            self.mime,
            base64::engine::general_purpose::STANDARD.encode(self.bytes.as_slice())
        )
    }
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            images: Vec::new(),
        }
    }
}

impl Serialize for ChatMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut message = serializer.serialize_struct("ChatMessage", 2)?;
        message.serialize_field("role", &self.role)?;
        if self.images.is_empty() {
            message.serialize_field("content", &self.content)?;
        } else {
            let mut parts = Vec::with_capacity(self.images.len() + 1);
            parts.push(serde_json::json!({"type": "text", "text": self.content}));
            parts.extend(self.images.iter().map(|image| {
                serde_json::json!({"type": "image_url", "image_url": {"url": image.data_url()}})
            }));
            message.serialize_field("content", &parts)?;
        }
        message.end()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_a_string_without_images_and_content_parts_with_them() {
        let plain = serde_json::to_value(ChatMessage::new(Role::User, "hi")).unwrap();
        assert_eq!(plain, serde_json::json!({"role": "user", "content": "hi"}));
        let mut with = ChatMessage::new(Role::User, "what is this?");
        with.images.push(Image {
            mime: "image/png".into(),
            bytes: std::sync::Arc::new(vec![1, 2, 3]),
        });
        assert_eq!(
            serde_json::to_value(&with).unwrap(),
            serde_json::json!({"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AQID"}}
            ]})
        );
    }
}
