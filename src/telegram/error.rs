//! Bot API failures, as decisions: retry later, retry after `retry_after`, stop, or give up on this call.

use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TelegramError {
    /// 429: flood control; wait this long before calling again.
    #[error("Telegram flood control on {method}: retry after {retry_after:?}")]
    RetryAfter {
        method: &'static str,
        retry_after: Duration,
    },
    /// 401: the token is wrong or revoked. Fatal.
    #[error("Telegram rejected the bot token (401 Unauthorized) on {method}")]
    Unauthorized { method: &'static str },
    /// 409: another process polls with this token, or a webhook is set.
    #[error("Telegram reports a conflict on {method}: {description}")]
    Conflict {
        method: &'static str,
        description: String,
    },
    /// 403: the user blocked the bot, or it was removed from the chat.
    #[error("Telegram refused {method} (403): {description}")]
    Forbidden {
        method: &'static str,
        description: String,
    },
    /// Any other 4xx: this request will not succeed as it is.
    #[error("Telegram rejected {method} ({code}): {description}")]
    Rejected {
        method: &'static str,
        code: u16,
        description: String,
    },
    /// 5xx: Telegram's side failed; retry.
    #[error("Telegram server error on {method} ({code})")]
    Server { method: &'static str, code: u16 },
    /// The request did not get an answer (connection refused, reset, DNS).
    #[error("cannot reach Telegram ({method}): {reason}")]
    Network {
        method: &'static str,
        reason: String,
    },
    #[error("timed out waiting for Telegram ({method})")]
    Timeout { method: &'static str },
    /// An answer we could not read.
    #[error("unreadable answer from Telegram to {method}: {reason}")]
    Decode {
        method: &'static str,
        reason: String,
    },
}

impl TelegramError {
    /// Worth trying the same call again (after a back-off, or after `retry_after`).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TelegramError::RetryAfter { .. }
                | TelegramError::Server { .. }
                | TelegramError::Network { .. }
                | TelegramError::Timeout { .. }
                | TelegramError::Decode { .. }
        )
    }

    fn rejected_with(&self, text: &str) -> bool {
        matches!(self, TelegramError::Rejected { description, .. } if description.to_lowercase().contains(text))
    }

    /// 400 "message is not modified": the edit had the text the message already shows.
    pub fn is_not_modified(&self) -> bool {
        self.rejected_with("message is not modified")
    }

    /// 400 "message to edit not found" (the user deleted it).
    pub fn is_edit_target_gone(&self) -> bool {
        self.rejected_with("message to edit not found")
            || self.rejected_with("message to delete not found")
    }

    /// 400 "can't parse entities": the HTML was refused; the text can still go as plain text.
    pub fn is_entity_error(&self) -> bool {
        self.rejected_with("can't parse entities")
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TelegramError::RetryAfter { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}
