//! The Bot API client. Every call goes to `{TELEGRAM_API_URL}/bot<token>/<method>` as a JSON POST.
//!
//! awc's `Client` is not `Send`: build one `BotApi` per actor or arbiter (it is cheap to clone there).

use super::error::TelegramError;
use super::types::{
    BotCommandSpec, DeleteMessage, EditMessageText, Envelope, GetUpdates, Message, SendChatAction,
    SendMessage, User,
};
use crate::ids::{ChatId, UpdateId};
use crate::secret::{Redactor, Secret};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Ordinary calls answer in well under a second; this bounds a hung connection.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// The HTTP client waits this much longer than the long-poll timeout asked of Telegram.
pub const POLL_GRACE: Duration = Duration::from_secs(10);
/// Largest answer we read (100 updates of big messages fit easily).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Telegram's maximum batch of updates.
pub const MAX_UPDATES_PER_CALL: u8 = 100;
/// The update kinds the bot handles; `allowed_updates` is sticky on Telegram's side, so always send it.
pub const ALLOWED_UPDATES: &[&str] = &["message"];

/// Told the method and result (`ok`, `429`, `4xx`, `5xx`, `network`, `timeout`) of every call (metrics).
pub type CallObserver = std::sync::Arc<dyn Fn(&'static str, &'static str) + Send + Sync>;

#[derive(Clone)]
pub struct BotApi {
    http: awc::Client,
    /// `{api_url}/bot{token}/`; never logged.
    base: String,
    redactor: Redactor,
    observer: Option<CallObserver>,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotApi { .. }")
    }
}

impl BotApi {
    pub fn new(api_url: &str, token: &Secret) -> Self {
        let http = awc::Client::builder()
            .disable_redirects()
            .timeout(CALL_TIMEOUT)
            .finish();
        Self {
            http,
            base: format!("{}/bot{}/", api_url.trim_end_matches('/'), token.expose()),
            redactor: Redactor::new([token.clone()]),
            observer: None,
        }
    }

    /// Reports every call's result to `observer`.
    pub fn with_observer(mut self, observer: CallObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    pub async fn get_me(&self) -> Result<User, TelegramError> {
        self.call("getMe", &serde_json::json!({}), CALL_TIMEOUT)
            .await
    }

    pub async fn set_my_commands(
        &self,
        commands: &[BotCommandSpec],
    ) -> Result<bool, TelegramError> {
        self.call(
            "setMyCommands",
            &serde_json::json!({ "commands": commands }),
            CALL_TIMEOUT,
        )
        .await
    }

    /// Long-polls for updates. Returns them raw, so that one malformed update cannot hide the others: the
    /// caller parses each one and still confirms its id.
    pub async fn get_updates(
        &self,
        offset: Option<UpdateId>,
        timeout: Duration,
    ) -> Result<Vec<serde_json::Value>, TelegramError> {
        let params = GetUpdates {
            offset,
            limit: MAX_UPDATES_PER_CALL,
            timeout: timeout.as_secs(),
            allowed_updates: ALLOWED_UPDATES,
        };
        self.call("getUpdates", &params, timeout + POLL_GRACE).await
    }

    pub async fn send_message(&self, message: &SendMessage) -> Result<Message, TelegramError> {
        self.call("sendMessage", message, CALL_TIMEOUT).await
    }

    /// Edits a message's text. "message is not modified" (the same text again) counts as success.
    pub async fn edit_message_text(&self, edit: &EditMessageText) -> Result<(), TelegramError> {
        match self
            .call::<_, serde_json::Value>("editMessageText", edit, CALL_TIMEOUT)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_modified() => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_message(
        &self,
        chat_id: ChatId,
        message_id: crate::ids::MessageId,
    ) -> Result<bool, TelegramError> {
        self.call(
            "deleteMessage",
            &DeleteMessage {
                chat_id,
                message_id,
            },
            CALL_TIMEOUT,
        )
        .await
    }

    pub async fn send_chat_action(
        &self,
        chat_id: ChatId,
        action: &'static str,
    ) -> Result<bool, TelegramError> {
        self.call(
            "sendChatAction",
            &SendChatAction { chat_id, action },
            CALL_TIMEOUT,
        )
        .await
    }

    async fn call<P, R>(
        &self,
        method: &'static str,
        params: &P,
        timeout: Duration,
    ) -> Result<R, TelegramError>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        let result = self.call_once(method, params, timeout).await;
        if let Some(observe) = &self.observer {
            let outcome = match &result {
                Ok(_) => "ok",
                Err(TelegramError::RetryAfter { .. }) => "429",
                Err(TelegramError::Server { .. }) => "5xx",
                Err(TelegramError::Network { .. } | TelegramError::Decode { .. }) => "network",
                Err(TelegramError::Timeout { .. }) => "timeout",
                Err(_) => "4xx",
            };
            observe(method, outcome);
        }
        result
    }

    async fn call_once<P, R>(
        &self,
        method: &'static str,
        params: &P,
        timeout: Duration,
    ) -> Result<R, TelegramError>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        let url = format!("{}{}", self.base, method);
        let mut response = self
            .http
            .post(url)
            .timeout(timeout)
            .send_json(params)
            .await
            .map_err(|e| match e {
                awc::error::SendRequestError::Timeout => TelegramError::Timeout { method },
                other => TelegramError::Network {
                    method,
                    reason: self.redactor.redact(&other.to_string()).into_owned(),
                },
            })?;
        let status = response.status().as_u16();
        let body = response
            .body()
            .limit(MAX_BODY_BYTES)
            .await
            .map_err(|e| match status {
                500..=599 => TelegramError::Server {
                    method,
                    code: status,
                },
                _ => TelegramError::Network {
                    method,
                    reason: self.redactor.redact(&e.to_string()).into_owned(),
                },
            })?;
        let envelope: Envelope<R> = match serde_json::from_slice(&body) {
            Ok(env) => env,
            // A proxy in front of Telegram (or a self-hosted server) may answer 5xx with HTML.
            Err(_) if status >= 500 => {
                return Err(TelegramError::Server {
                    method,
                    code: status,
                })
            }
            Err(e) => {
                return Err(TelegramError::Decode {
                    method,
                    reason: format!("HTTP {status}: {e}"),
                })
            }
        };
        interpret(method, status, envelope, &self.redactor)
    }
}

/// Turns an envelope into a result. Pure, so every Telegram answer shape is unit-tested.
fn interpret<R>(
    method: &'static str,
    status: u16,
    envelope: Envelope<R>,
    redactor: &Redactor,
) -> Result<R, TelegramError> {
    if envelope.ok {
        return envelope.result.ok_or(TelegramError::Decode {
            method,
            reason: "ok answer without result".into(),
        });
    }
    let code = envelope.error_code.unwrap_or(status);
    let description = redactor
        .redact(envelope.description.as_deref().unwrap_or("no description"))
        .into_owned();
    let retry_after = envelope.parameters.as_ref().and_then(|p| p.retry_after);
    Err(match code {
        429 => TelegramError::RetryAfter {
            method,
            retry_after: Duration::from_secs(retry_after.unwrap_or(1).max(1)),
        },
        401 => TelegramError::Unauthorized { method },
        409 => TelegramError::Conflict {
            method,
            description,
        },
        403 => TelegramError::Forbidden {
            method,
            description,
        },
        500..=599 => TelegramError::Server { method, code },
        _ => TelegramError::Rejected {
            method,
            code,
            description,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(json: &str) -> Envelope<serde_json::Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ok_envelope_gives_the_result() {
        let r = interpret(
            "getMe",
            200,
            env(r#"{"ok":true,"result":{"id":1}}"#),
            &Redactor::default(),
        );
        assert_eq!(r.unwrap()["id"], 1);
    }

    #[test]
    fn flood_control_carries_retry_after() {
        let e = interpret(
            "sendMessage",
            429,
            env(r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#),
            &Redactor::default(),
        )
        .unwrap_err();
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.is_transient());
    }

    #[test]
    fn errors_are_classified_by_code() {
        let r = Redactor::default();
        let e = |code: u16, d: &str| {
            interpret::<serde_json::Value>(
                "m",
                code,
                env(&format!(
                    r#"{{"ok":false,"error_code":{code},"description":"{d}"}}"#
                )),
                &r,
            )
            .unwrap_err()
        };
        assert!(matches!(
            e(401, "Unauthorized"),
            TelegramError::Unauthorized { .. }
        ));
        assert!(matches!(e(409, "Conflict"), TelegramError::Conflict { .. }));
        assert!(matches!(
            e(403, "Forbidden: bot was blocked by the user"),
            TelegramError::Forbidden { .. }
        ));
        assert!(matches!(
            e(502, "Bad Gateway"),
            TelegramError::Server { code: 502, .. }
        ));
        let bad = e(400, "Bad Request: message is too long");
        assert!(!bad.is_transient());
        assert!(bad.to_string().contains("message is too long"));
    }

    #[test]
    fn descriptions_are_redacted() {
        let r = Redactor::new([Secret::new("123:SECRETTOKEN")]);
        let e = interpret::<serde_json::Value>(
            "m",
            400,
            env(r#"{"ok":false,"error_code":400,"description":"bad url /bot123:SECRETTOKEN/m"}"#),
            &r,
        )
        .unwrap_err();
        assert!(!e.to_string().contains("SECRETTOKEN"));
    }
}
