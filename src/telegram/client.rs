//! The Bot API client. Every call goes to `{TELEGRAM_API_URL}/bot<token>/<method>` as a JSON POST.
//!
//! awc's `Client` is not `Send`: build one `BotApi` per actor or arbiter (it is cheap to clone there).

use super::error::TelegramError;
use super::types::{
    BotCommandSpec, DeleteMessage, EditMessageText, Envelope, GetUpdates, IncomingUpdate, Message,
    ResponseParameters, SendChatAction, SendMessage, User,
};
use crate::ids::{ChatId, Conversation, UpdateId};
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
/// The update kinds the bot handles (`my_chat_member`: the bot added to or removed from a group, which Telegram
/// sends only when asked; `callback_query`: a tap on a keyboard button); `allowed_updates` is sticky on
/// Telegram's side, so always send it.
pub const ALLOWED_UPDATES: &[&str] = &["message", "my_chat_member", "callback_query"];

/// Told the method and result (`ok`, `429`, `4xx`, `5xx`, `network`, `timeout`) of every call (metrics).
pub type CallObserver = std::sync::Arc<dyn Fn(&'static str, &'static str) + Send + Sync>;

#[derive(Clone)]
pub struct BotApi {
    pub(super) http: awc::Client,
    /// `{api_url}/bot{token}/`; never logged.
    base: String,
    /// `{api_url}/file/bot{token}/`, where files are downloaded from; never logged.
    pub(super) file_base: String,
    pub(super) redactor: Redactor,
    pub(super) observer: Option<CallObserver>,
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
            file_base: format!(
                "{}/file/bot{}/",
                api_url.trim_end_matches('/'),
                token.expose()
            ),
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

    /// Long-polls for updates. Each one is parsed on its own, so that one malformed update cannot hide the
    /// others: it comes back as `IncomingUpdate::Malformed`, with its id when it has one, so the caller can
    /// still confirm it.
    pub async fn get_updates(
        &self,
        offset: Option<UpdateId>,
        timeout: Duration,
    ) -> Result<Vec<IncomingUpdate>, TelegramError> {
        let params = GetUpdates {
            offset,
            limit: MAX_UPDATES_PER_CALL,
            timeout: timeout.as_secs(),
            allowed_updates: ALLOWED_UPDATES,
        };
        let raw: Vec<serde_json::Value> = self
            .call("getUpdates", &params, timeout + POLL_GRACE)
            .await?;
        Ok(raw.into_iter().map(IncomingUpdate::from_value).collect())
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

    /// Shows `action` (e.g. `typing`) in the conversation: the chat, or its forum topic.
    pub async fn send_chat_action(
        &self,
        to: Conversation,
        action: &'static str,
    ) -> Result<bool, TelegramError> {
        let params = SendChatAction {
            chat_id: to.chat,
            message_thread_id: to.topic,
            action,
        };
        self.call("sendChatAction", &params, CALL_TIMEOUT).await
    }

    /// One call of `method` with `params`, classified and reported to the observer (also for `callbacks.rs`).
    pub(super) async fn call<P, R>(
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
    Err(classify(
        method,
        code,
        description,
        envelope.parameters.unwrap_or_default(),
    ))
}

/// What a refusal means. The one place where Telegram's descriptions are read: the codes and `parameters`
/// decide first; the texts (matched without regard to case, as Telegram's capitals vary: "message is too long"
/// for a send, "MESSAGE_TOO_LONG" for an edit) only split a 400 or a 409.
fn classify(
    method: &'static str,
    code: u16,
    description: String,
    parameters: ResponseParameters,
) -> TelegramError {
    let text = description.to_lowercase();
    let says = |phrase: &str| text.contains(phrase);
    match code {
        429 => TelegramError::RetryAfter {
            method,
            retry_after: Duration::from_secs(parameters.retry_after.unwrap_or(1).max(1)),
        },
        401 => TelegramError::Unauthorized { method },
        409 if says("webhook") => TelegramError::WebhookActive {
            method,
            description,
        },
        409 => TelegramError::Conflict {
            method,
            description,
        },
        403 => TelegramError::Forbidden {
            method,
            description,
        },
        400 => match parameters.migrate_to_chat_id {
            Some(to) => TelegramError::ChatMigrated {
                method,
                to,
                description,
            },
            None if says("message is not modified") => TelegramError::NotModified {
                method,
                description,
            },
            None if says("message to edit not found") || says("message to delete not found") => {
                TelegramError::EditTargetGone {
                    method,
                    description,
                }
            }
            None if says("topic_closed")
                || says("topic_deleted")
                || says("message thread not found") =>
            {
                TelegramError::TopicGone {
                    method,
                    description,
                }
            }
            None if says("can't parse entities") => TelegramError::CantParseEntities {
                method,
                description,
            },
            None if says("query is too old") || says("query id is invalid") => {
                TelegramError::CallbackQueryExpired {
                    method,
                    description,
                }
            }
            None if says("file is too big") => TelegramError::FileTooBig {
                method,
                description,
            },
            None if says("message is too long") || says("message_too_long") => {
                TelegramError::MessageTooLong {
                    method,
                    description,
                }
            }
            None => TelegramError::Rejected {
                method,
                code,
                description,
            },
        },
        500..=599 => TelegramError::Server { method, code },
        _ => TelegramError::Rejected {
            method,
            code,
            description,
        },
    }
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

    /// A refusal as Telegram sends it: `code`, `description` and, when given, `parameters`.
    fn refusal(
        code: u16,
        description: &str,
        parameters: Option<serde_json::Value>,
    ) -> TelegramError {
        let mut answer =
            serde_json::json!({"ok": false, "error_code": code, "description": description});
        if let Some(parameters) = parameters {
            answer["parameters"] = parameters;
        }
        interpret::<serde_json::Value>(
            "m",
            code,
            serde_json::from_value(answer).unwrap(),
            &Redactor::default(),
        )
        .unwrap_err()
    }

    #[test]
    fn an_identical_edit_is_not_modified() {
        let e = refusal(
            400,
            "Bad Request: message is not modified: specified new message content and reply markup are exactly \
             the same as a current content and reply markup of the message",
            None,
        );
        assert!(matches!(e, TelegramError::NotModified { .. }), "{e:?}");
        assert!(e.is_not_modified());
        assert!(!e.is_transient());
    }

    #[test]
    fn a_message_to_edit_that_is_gone_is_an_edit_target_gone() {
        let e = refusal(400, "Bad Request: message to edit not found", None);
        assert!(matches!(e, TelegramError::EditTargetGone { .. }), "{e:?}");
        assert!(e.is_edit_target_gone());
    }

    #[test]
    fn a_message_to_delete_that_is_gone_is_an_edit_target_gone() {
        let e = refusal(400, "Bad Request: message to delete not found", None);
        assert!(matches!(e, TelegramError::EditTargetGone { .. }), "{e:?}");
        assert!(e.is_edit_target_gone());
    }

    #[test]
    fn refused_html_is_cant_parse_entities() {
        let e = refusal(
            400,
            "Bad Request: can't parse entities: Unsupported start tag \"foo\" at byte offset 0",
            None,
        );
        assert!(
            matches!(e, TelegramError::CantParseEntities { .. }),
            "{e:?}"
        );
        assert!(e.is_entity_error());
    }

    #[test]
    fn a_send_over_the_limit_is_message_too_long() {
        let e = refusal(400, "Bad Request: message is too long", None);
        assert!(matches!(e, TelegramError::MessageTooLong { .. }), "{e:?}");
        assert!(e.to_string().contains("message is too long"));
    }

    #[test]
    fn an_edit_over_the_limit_is_message_too_long() {
        let e = refusal(400, "Bad Request: MESSAGE_TOO_LONG", None);
        assert!(matches!(e, TelegramError::MessageTooLong { .. }), "{e:?}");
    }

    #[test]
    fn a_call_to_an_upgraded_group_is_chat_migrated_with_the_new_id() {
        let e = refusal(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            Some(serde_json::json!({"migrate_to_chat_id": -1_001_180_035_764_i64})),
        );
        assert!(
            matches!(
                e,
                TelegramError::ChatMigrated {
                    to: ChatId(-1_001_180_035_764),
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.migrated_to(), Some(ChatId(-1_001_180_035_764)));
        assert!(!e.is_transient());
        assert!(e.to_string().contains("upgraded to a supergroup"));
    }

    #[test]
    fn the_upgrade_text_without_the_new_id_is_only_a_rejection() {
        let e = refusal(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            None,
        );
        assert!(
            matches!(e, TelegramError::Rejected { code: 400, .. }),
            "{e:?}"
        );
        assert_eq!(e.migrated_to(), None);
    }

    #[test]
    fn a_blocked_bot_is_forbidden() {
        let e = refusal(403, "Forbidden: bot was blocked by the user", None);
        assert!(matches!(e, TelegramError::Forbidden { .. }), "{e:?}");
        assert!(!e.is_transient());
        assert_eq!(e.migrated_to(), None);
    }

    #[test]
    fn a_bot_removed_from_the_group_is_forbidden() {
        let e = refusal(403, "Forbidden: bot was kicked from the group chat", None);
        assert!(matches!(e, TelegramError::Forbidden { .. }), "{e:?}");
    }

    #[test]
    fn flood_control_is_retry_after() {
        let e = refusal(
            429,
            "Too Many Requests: retry after 7",
            Some(serde_json::json!({"retry_after": 7})),
        );
        assert!(matches!(e, TelegramError::RetryAfter { .. }), "{e:?}");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn a_second_poller_is_a_conflict() {
        let e = refusal(
            409,
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
            None,
        );
        assert!(matches!(e, TelegramError::Conflict { .. }), "{e:?}");
    }

    #[test]
    fn polling_while_a_webhook_is_set_is_webhook_active() {
        let e = refusal(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the \
             webhook first",
            None,
        );
        assert!(matches!(e, TelegramError::WebhookActive { .. }), "{e:?}");
        assert!(e
            .to_string()
            .starts_with("Telegram reports a conflict on m: Conflict: can't use getUpdates"));
    }

    #[test]
    fn other_bad_requests_stay_rejections() {
        for description in [
            "Bad Request: chat not found",
            "Bad Request: message text is empty",
            "Bad Request: message can't be edited",
        ] {
            let e = refusal(400, description, None);
            assert!(
                matches!(e, TelegramError::Rejected { code: 400, .. }),
                "{e:?}"
            );
            assert!(!e.is_not_modified() && !e.is_edit_target_gone() && !e.is_entity_error());
        }
    }

    #[test]
    fn the_texts_of_a_bad_request_decide_nothing_under_another_code() {
        let e = refusal(404, "Not Found: message to edit not found", None);
        assert!(
            matches!(e, TelegramError::Rejected { code: 404, .. }),
            "{e:?}"
        );
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
