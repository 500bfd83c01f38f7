//! LLM failures, with the short human sentence a user is shown for each. Details go to the log only.

#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    /// Connection refused, reset, DNS: nothing answered.
    #[error("the model server is not reachable: {0}")]
    Unreachable(String),
    /// No complete answer within the job's time limit.
    #[error("the model server did not answer in time")]
    Timeout,
    /// The server (or the model behind it) is overloaded or rate-limited.
    #[error("the model server is rate-limited or overloaded: {0}")]
    Overloaded(String),
    /// The server refused this request (bad model name, prompt too long, …). aichat reports every upstream
    /// error as HTTP 400, so this also covers upstream failures it could not classify.
    #[error("the model server rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// 5xx from the server itself.
    #[error("the model server failed (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// The API key was refused.
    #[error("the model server refused the API key (HTTP {0})")]
    Unauthorized(u16),
    /// An answer we could not read.
    #[error("unreadable answer from the model server: {0}")]
    BadResponse(String),
}

impl LlmError {
    /// Worth retrying the same request later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LlmError::Unreachable(_)
                | LlmError::Timeout
                | LlmError::Overloaded(_)
                | LlmError::Server { .. }
        )
    }
}

/// Classifies an error answer. aichat turns every upstream failure into HTTP 400 with a message, so the text
/// decides whether it is really overload, a timeout or a refusal.
pub fn classify(status: u16, message: String) -> LlmError {
    let lower = message.to_lowercase();
    let overloaded = [
        "429",
        "rate limit",
        "too many requests",
        "overloaded",
        "capacity",
        "quota",
    ]
    .iter()
    .any(|k| lower.contains(k));
    let upstream_down = [
        "502",
        "503",
        "504",
        "bad gateway",
        "service unavailable",
        "timed out",
        "timeout",
        "error sending request", // aichat (reqwest) when the upstream cannot be reached
        "server_error",          // OpenAI's error type for its own failures, passed on by aichat
        "internal server error",
    ]
    .iter()
    .any(|k| lower.contains(k));
    match status {
        401 | 403 => LlmError::Unauthorized(status),
        429 => LlmError::Overloaded(message),
        500..=599 => LlmError::Server { status, message },
        _ if overloaded => LlmError::Overloaded(message),
        _ if upstream_down => LlmError::Server { status, message },
        _ => LlmError::Rejected { status, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aichat_style_400s_are_classified_by_text() {
        assert!(matches!(
            classify(400, "upstream said 429 Too Many Requests".into()),
            LlmError::Overloaded(_)
        ));
        assert!(matches!(
            classify(400, "error sending request: operation timed out".into()),
            LlmError::Server { .. }
        ));
        assert!(matches!(
            classify(
                400,
                "error sending request for url (http://127.0.0.1:9/v1/chat/completions)".into()
            ),
            LlmError::Server { .. }
        ));
        assert!(matches!(
            classify(400, "Unknown model 'x'".into()),
            LlmError::Rejected { .. }
        ));
        assert!(matches!(
            classify(503, "down".into()),
            LlmError::Server { .. }
        ));
        assert!(matches!(
            classify(401, "bad key".into()),
            LlmError::Unauthorized(401)
        ));
    }
}
