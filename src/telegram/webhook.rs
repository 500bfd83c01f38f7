//! Webhooks over the Bot API: `setWebhook` (Telegram then POSTs each update to the bot's public HTTPS URL
//! instead of answering `getUpdates`), `deleteWebhook` (back to polling) and `getWebhookInfo` (what Telegram
//! has set, how many updates wait, and its last delivery error), with the rules of the secret Telegram sends
//! back in [`SECRET_HEADER`].

use super::client::{BotApi, ALLOWED_UPDATES, CALL_TIMEOUT};
use super::error::TelegramError;
use serde::{Deserialize, Serialize};

/// The header in which Telegram sends `secret_token` with every webhook request: a request without it (or
/// with another value) did not come from Telegram.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// The most webhook requests Telegram may have open at once. Telegram's own default (1–100 allowed): each
/// request only queues its update, which takes milliseconds, so more would add nothing.
pub const MAX_CONNECTIONS: u8 = 40;

/// The longest `secret_token` Telegram accepts.
pub const MAX_SECRET_LEN: usize = 256;

/// Whether `secret` is one Telegram accepts as `secret_token`: 1–256 characters of `A-Z`, `a-z`, `0-9`, `_`
/// and `-` (it goes into an HTTP header as it is).
pub fn valid_secret(secret: &str) -> bool {
    (1..=MAX_SECRET_LEN).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `setWebhook`'s parameters.
#[derive(Debug, Serialize)]
struct SetWebhook<'a> {
    url: &'a str,
    secret_token: &'a str,
    max_connections: u8,
    allowed_updates: &'static [&'static str],
    /// Never: updates that waited while the bot was away are still to be answered.
    drop_pending_updates: bool,
}

/// What `getWebhookInfo` says (the fields the bot reads).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WebhookInfo {
    /// The webhook's URL; empty when none is set (the bot may poll).
    #[serde(default)]
    pub url: String,
    /// Updates Telegram holds, not yet delivered (or not yet fetched by `getUpdates`).
    #[serde(default)]
    pub pending_update_count: u64,
    /// Unix time of the last failed delivery.
    pub last_error_date: Option<i64>,
    /// Why it failed, in Telegram's words (e.g. "Wrong response from the webhook: 503 Service Unavailable").
    pub last_error_message: Option<String>,
}

impl BotApi {
    /// Sets the webhook: from now on Telegram POSTs each update the bot handles to `url`, with `secret` in
    /// [`SECRET_HEADER`], and `getUpdates` answers 409. Updates already waiting are delivered, not dropped.
    pub async fn set_webhook(&self, url: &str, secret: &str) -> Result<bool, TelegramError> {
        let params = SetWebhook {
            url,
            secret_token: secret,
            max_connections: MAX_CONNECTIONS,
            allowed_updates: ALLOWED_UPDATES,
            drop_pending_updates: false,
        };
        self.call("setWebhook", &params, CALL_TIMEOUT).await
    }

    /// Removes the webhook, keeping the updates that wait (the next `getUpdates` gets them).
    pub async fn delete_webhook(&self) -> Result<bool, TelegramError> {
        self.call(
            "deleteWebhook",
            &serde_json::json!({ "drop_pending_updates": false }),
            CALL_TIMEOUT,
        )
        .await
    }

    pub async fn get_webhook_info(&self) -> Result<WebhookInfo, TelegramError> {
        self.call("getWebhookInfo", &serde_json::json!({}), CALL_TIMEOUT)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_one_to_256_letters_digits_underscores_or_dashes() {
        assert!(valid_secret("a"));
        assert!(valid_secret("Abc_09-xyz"));
        assert!(valid_secret(&"x".repeat(256)));
        assert!(!valid_secret(""));
        assert!(!valid_secret(&"x".repeat(257)));
        assert!(!valid_secret("with space"));
        assert!(!valid_secret("semi;colon"));
        assert!(!valid_secret("ümlaut"));
    }

    #[test]
    fn webhook_info_reads_what_telegram_sends_and_defaults_the_rest() {
        let info: WebhookInfo = serde_json::from_value(serde_json::json!({
            "url": "https://bot.example.org/tg",
            "has_custom_certificate": false,
            "pending_update_count": 3,
            "last_error_date": 1_700_000_000,
            "last_error_message": "Wrong response from the webhook: 503 Service Unavailable",
            "max_connections": 40,
        }))
        .unwrap();
        assert_eq!(info.url, "https://bot.example.org/tg");
        assert_eq!(info.pending_update_count, 3);
        assert_eq!(info.last_error_date, Some(1_700_000_000));
        let none: WebhookInfo = serde_json::from_value(serde_json::json!({
            "url": "", "has_custom_certificate": false, "pending_update_count": 0
        }))
        .unwrap();
        assert!(none.url.is_empty() && none.last_error_message.is_none());
    }
}
