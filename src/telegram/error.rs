//! Bot API failures, as decisions: retry later, retry after `retry_after`, stop, give up on this call, or do
//! something particular (treat as success, send anew, send as plain text, write to the new chat id).
//!
//! The variant is chosen once, where the answer is read (`client::classify`); nothing else reads Telegram's
//! descriptions. The descriptions stay in the variants for the logs, redacted.

use crate::ids::ChatId;
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
    /// 409: another process polls with this token (its `getUpdates` ended ours).
    #[error("Telegram reports a conflict on {method}: {description}")]
    Conflict {
        method: &'static str,
        description: String,
    },
    /// 409 while a webhook is set: `getUpdates` works only after `deleteWebhook`.
    #[error("Telegram reports a conflict on {method}: {description}")]
    WebhookActive {
        method: &'static str,
        description: String,
    },
    /// 403: the user blocked the bot, or it was removed from the chat. Nothing can be delivered there.
    #[error("Telegram refused {method} (403): {description}")]
    Forbidden {
        method: &'static str,
        description: String,
    },
    /// 400 with `parameters.migrate_to_chat_id`: the group became a supergroup, whose id is `to`; every call to
    /// the old id fails from now on.
    #[error("Telegram rejected {method} (400): {description}")]
    ChatMigrated {
        method: &'static str,
        to: ChatId,
        description: String,
    },
    /// 400 "message is not modified": the edit had the text the message already shows (as good as success).
    #[error("Telegram rejected {method} (400): {description}")]
    NotModified {
        method: &'static str,
        description: String,
    },
    /// 400 "message to edit not found" or "message to delete not found": the user deleted it.
    #[error("Telegram rejected {method} (400): {description}")]
    EditTargetGone {
        method: &'static str,
        description: String,
    },
    /// 400 "TOPIC_CLOSED", "TOPIC_DELETED" or "message thread not found": the forum topic was closed or deleted
    /// meanwhile. Nothing can be delivered there (the rest of the forum is fine).
    #[error("Telegram rejected {method} (400): {description}")]
    TopicGone {
        method: &'static str,
        description: String,
    },
    /// 400 "can't parse entities": the HTML was refused; the text can still go as plain text.
    #[error("Telegram rejected {method} (400): {description}")]
    CantParseEntities {
        method: &'static str,
        description: String,
    },
    /// 400 "message is too long" (send) or "MESSAGE_TOO_LONG" (edit): over 4096 UTF-16 units after parsing.
    #[error("Telegram rejected {method} (400): {description}")]
    MessageTooLong {
        method: &'static str,
        description: String,
    },
    /// 400 "query is too old and response timeout expired or query ID is invalid": `answerCallbackQuery` for a
    /// tap that was already answered, is unknown, or came too long ago. Nothing to answer any more.
    #[error("Telegram rejected {method} (400): {description}")]
    CallbackQueryExpired {
        method: &'static str,
        description: String,
    },
    /// 400 "file is too big" from `getFile`: over the 20 MB a bot may download; or a download over the size the
    /// bot takes. Asking again will not help.
    #[error("Telegram refused {method}: {description}")]
    FileTooBig {
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
    /// No answer within the call's timeout (`CALL_TIMEOUT`, or the long-poll wait plus `POLL_GRACE`).
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

    /// 400 "message is not modified": the edit had the text the message already shows.
    pub fn is_not_modified(&self) -> bool {
        matches!(self, TelegramError::NotModified { .. })
    }

    /// 400 "message to edit not found" / "message to delete not found" (the user deleted it).
    pub fn is_edit_target_gone(&self) -> bool {
        matches!(self, TelegramError::EditTargetGone { .. })
    }

    /// 400 "can't parse entities": the HTML was refused; the text can still go as plain text.
    pub fn is_entity_error(&self) -> bool {
        matches!(self, TelegramError::CantParseEntities { .. })
    }

    /// 400 "query is too old …": the tap's query was answered already, is unknown, or has expired.
    pub fn is_callback_query_expired(&self) -> bool {
        matches!(self, TelegramError::CallbackQueryExpired { .. })
    }

    /// How long flood control asks us to wait, for a 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TelegramError::RetryAfter { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The supergroup a group became, when the call went to the group's old id.
    pub fn migrated_to(&self) -> Option<ChatId> {
        match self {
            TelegramError::ChatMigrated { to, .. } => Some(*to),
            _ => None,
        }
    }
}
