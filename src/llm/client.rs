//! `POST {AICHAT_BASE_URL}/v1/chat/completions` with `AICHAT_MODEL` and an optional bearer key.
//!
//! awc's `Client` is not `Send`: build one `LlmClient` per actor or arbiter.

use super::error::{classify, LlmError};
use super::types::{
    ChatMessage, ChatRequest, ChatResponse, Completion, ErrorBody, ErrorDetail, ModelInfo,
    ModelList,
};
use crate::secret::Secret;
use std::time::Duration;

/// Largest answer we read; a model's answer is far smaller.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// How long a TCP connection may take; a local gateway answers at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct LlmClient {
    http: awc::Client,
    completions_url: String,
    models_url: String,
    model: String,
    api_key: Option<Secret>,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("completions_url", &self.completions_url)
            .field("model", &self.model)
            .finish()
    }
}

impl LlmClient {
    pub fn new(base_url: &str, model: &str, api_key: Option<Secret>) -> Self {
        let connector = awc::Connector::new().timeout(CONNECT_TIMEOUT);
        let http = awc::Client::builder().connector(connector).finish();
        Self {
            http,
            completions_url: format!("{}/v1/chat/completions", base_url.trim_end_matches('/')),
            models_url: format!("{}/v1/models", base_url.trim_end_matches('/')),
            model: model.to_string(),
            api_key,
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// The server's model list (`GET /v1/models`), with context sizes where it reports them (aichat does).
    pub async fn models(&self, timeout: Duration) -> Result<Vec<ModelInfo>, LlmError> {
        let mut req = self.http.get(&self.models_url).timeout(timeout);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key.expose());
        }
        let mut response = req.send().await.map_err(|e| match e {
            awc::error::SendRequestError::Timeout => LlmError::Timeout,
            other => LlmError::Unreachable(other.to_string()),
        })?;
        let status = response.status().as_u16();
        let body = response
            .body()
            .limit(MAX_BODY_BYTES)
            .await
            .map_err(|e| LlmError::BadResponse(e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(classify(
                status,
                String::from_utf8_lossy(&body).chars().take(300).collect(),
            ));
        }
        let list: ModelList = serde_json::from_slice(&body)
            .map_err(|e| LlmError::BadResponse(format!("not a model list: {e}")))?;
        Ok(list.data)
    }

    /// What the server reports for the configured model (for `default`, the first model listed).
    pub async fn model_info(&self, timeout: Duration) -> Result<Option<ModelInfo>, LlmError> {
        let models = self.models(timeout).await?;
        let wanted = models.iter().find(|m| m.id == self.model).cloned();
        Ok(wanted.or_else(|| {
            (self.model == "default")
                .then(|| models.into_iter().next())
                .flatten()
        }))
    }

    /// One non-streamed completion, bounded by `timeout` from request to the whole body.
    pub async fn complete(
        &self,
        messages: &[ChatMessage],
        timeout: Duration,
    ) -> Result<Completion, LlmError> {
        let request = ChatRequest {
            model: &self.model,
            messages,
            stream: false,
        };
        let work = async {
            let mut req = self.http.post(&self.completions_url).timeout(timeout);
            if let Some(key) = &self.api_key {
                req = req.bearer_auth(key.expose());
            }
            let mut response = req.send_json(&request).await.map_err(|e| match e {
                awc::error::SendRequestError::Timeout => LlmError::Timeout,
                other => LlmError::Unreachable(other.to_string()),
            })?;
            let status = response.status().as_u16();
            let body = response
                .body()
                .limit(MAX_BODY_BYTES)
                .await
                .map_err(|e| LlmError::BadResponse(e.to_string()))?;
            parse_answer(status, &body)
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(LlmError::Timeout),
        }
    }
}

/// Reads a chat-completions answer (or error). Pure, so answer shapes are unit-tested.
pub(crate) fn parse_answer(status: u16, body: &[u8]) -> Result<Completion, LlmError> {
    if !(200..300).contains(&status) {
        let message = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(ErrorBody {
                error: ErrorDetail::Object { message } | ErrorDetail::Text(message),
            }) => message,
            Err(_) => String::from_utf8_lossy(body).chars().take(500).collect(),
        };
        return Err(classify(status, message));
    }
    let parsed: ChatResponse = serde_json::from_slice(body)
        .map_err(|e| LlmError::BadResponse(format!("not a chat completion: {e}")))?;
    let choice = parsed
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::BadResponse("no choices in the answer".into()))?;
    Ok(Completion {
        content: choice.message.and_then(|m| m.content).unwrap_or_default(),
        finish_reason: choice.finish_reason,
        usage: parsed.usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_normal_answer_is_read_with_usage() {
        let body = br#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;
        let c = parse_answer(200, body).unwrap();
        assert_eq!(c.content, "Hi!");
        assert_eq!(c.finish_reason.as_deref(), Some("stop"));
        assert_eq!(c.usage.unwrap().prompt_tokens, 12);
    }

    #[test]
    fn error_bodies_of_both_shapes_are_read() {
        let e = parse_answer(
            400,
            br#"{"error":{"message":"Unknown model","type":"invalid_request_error"}}"#,
        )
        .unwrap_err();
        assert!(matches!(e, LlmError::Rejected { ref message, .. } if message == "Unknown model"));
        let e = parse_answer(500, br#"{"error":"boom"}"#).unwrap_err();
        assert!(matches!(e, LlmError::Server { status: 500, .. }));
        let e = parse_answer(502, b"<html>Bad Gateway</html>").unwrap_err();
        assert!(matches!(e, LlmError::Server { status: 502, .. }));
    }

    #[test]
    fn an_answer_without_choices_is_a_bad_response() {
        assert!(matches!(
            parse_answer(200, br#"{"choices":[]}"#),
            Err(LlmError::BadResponse(_))
        ));
        assert!(matches!(
            parse_answer(200, b"not json"),
            Err(LlmError::BadResponse(_))
        ));
    }
}
