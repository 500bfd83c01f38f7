//! Inline keyboards over the Bot API: messages sent or edited with a keyboard, a keyboard changed or removed,
//! and a tap on one of its buttons: the `callback_query` update, which `answerCallbackQuery` must answer (or
//! the user's client shows a spinner on the button).
//!
//! Telegram sends `callback_query` updates only when `allowed_updates` names [`CALLBACK_QUERY_UPDATE`].

use super::client::{BotApi, CALL_TIMEOUT};
use super::error::TelegramError;
use super::keyboard::InlineKeyboardMarkup;
use super::types::{Chat, EditMessageText, Message, SendMessage, User};
use crate::ids::{ChatId, MessageId};
use serde::{Deserialize, Deserializer, Serialize};

/// The `allowed_updates` kind of a tap on an inline keyboard.
pub const CALLBACK_QUERY_UPDATE: &str = "callback_query";

/// The id Telegram gives a tap, to answer it by (`answerCallbackQuery`); a string of digits, unique per tap.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallbackQueryId(pub String);

/// A tap on a button of an inline keyboard (`callback_query`).
#[derive(Debug, Clone, Deserialize)]
pub struct CallbackQuery {
    pub id: CallbackQueryId,
    /// Who tapped: in a group, anyone who sees the message can.
    pub from: User,
    /// The message with the keyboard; absent when the keyboard was under an inline-mode message
    /// (`inline_message_id`).
    pub message: Option<CallbackMessage>,
    /// The inline-mode message with the keyboard (the bot sends none).
    pub inline_message_id: Option<String>,
    /// Stands for the chat the message is in, the same for every tap there.
    #[serde(default)]
    pub chat_instance: String,
    /// The tapped button's `callback_data`; absent for a game's button.
    pub data: Option<String>,
}

/// The message a tapped keyboard is under (Telegram's `MaybeInaccessibleMessage`).
#[derive(Debug, Clone)]
pub enum CallbackMessage {
    /// The message as Telegram shows it.
    Accessible(Box<Message>),
    /// A message the bot may no longer see (deleted, or too old): Telegram sends only its chat and id, with
    /// `date` 0.
    Inaccessible { chat: Chat, message_id: MessageId },
}

impl CallbackMessage {
    pub fn chat(&self) -> &Chat {
        match self {
            CallbackMessage::Accessible(message) => &message.chat,
            CallbackMessage::Inaccessible { chat, .. } => chat,
        }
    }

    pub fn message_id(&self) -> MessageId {
        match self {
            CallbackMessage::Accessible(message) => message.message_id,
            CallbackMessage::Inaccessible { message_id, .. } => *message_id,
        }
    }
}

impl<'de> Deserialize<'de> for CallbackMessage {
    /// An `InaccessibleMessage` is told from a `Message` by its `date`, which is always 0 (as documented).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let message = Message::deserialize(deserializer)?;
        Ok(if message.date == 0 {
            CallbackMessage::Inaccessible {
                chat: message.chat,
                message_id: message.message_id,
            }
        } else {
            CallbackMessage::Accessible(Box::new(message))
        })
    }
}

/// `sendMessage` with a keyboard: the message's parameters as [`SendMessage`] has them, and `reply_markup`.
#[derive(Debug, Serialize)]
struct SendWithKeyboard<'a> {
    #[serde(flatten)]
    message: &'a SendMessage,
    reply_markup: &'a InlineKeyboardMarkup,
}

/// `editMessageText` with a keyboard. (Without `reply_markup`, an edit removes the message's keyboard.)
#[derive(Debug, Serialize)]
struct EditWithKeyboard<'a> {
    #[serde(flatten)]
    edit: &'a EditMessageText,
    reply_markup: &'a InlineKeyboardMarkup,
}

/// `editMessageReplyMarkup`; without `reply_markup` the keyboard is removed.
#[derive(Debug, Serialize)]
struct EditReplyMarkup<'a> {
    chat_id: ChatId,
    message_id: MessageId,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_markup: Option<&'a InlineKeyboardMarkup>,
}

/// `answerCallbackQuery`: ends the button's spinner, optionally showing a short text (0–200 characters) as a
/// notice at the top of the chat, or as an alert the user must dismiss.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerCallbackQuery {
    pub callback_query_id: CallbackQueryId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub show_alert: bool,
}

impl BotApi {
    /// Sends a message with an inline keyboard under it.
    pub async fn send_message_with_keyboard(
        &self,
        message: &SendMessage,
        keyboard: &InlineKeyboardMarkup,
    ) -> Result<Message, TelegramError> {
        let params = SendWithKeyboard {
            message,
            reply_markup: keyboard,
        };
        self.call("sendMessage", &params, CALL_TIMEOUT).await
    }

    /// Edits a message's text and sets its keyboard. "message is not modified" (the same text and keyboard
    /// again) counts as success.
    pub async fn edit_message_text_with_keyboard(
        &self,
        edit: &EditMessageText,
        keyboard: &InlineKeyboardMarkup,
    ) -> Result<(), TelegramError> {
        let params = EditWithKeyboard {
            edit,
            reply_markup: keyboard,
        };
        let result = self
            .call::<_, serde_json::Value>("editMessageText", &params, CALL_TIMEOUT)
            .await;
        not_modified_is_success(result)
    }

    /// Replaces a message's keyboard, or removes it (`None`). "message is not modified" counts as success.
    pub async fn edit_message_reply_markup(
        &self,
        chat_id: ChatId,
        message_id: MessageId,
        keyboard: Option<&InlineKeyboardMarkup>,
    ) -> Result<(), TelegramError> {
        let params = EditReplyMarkup {
            chat_id,
            message_id,
            reply_markup: keyboard,
        };
        let result = self
            .call::<_, serde_json::Value>("editMessageReplyMarkup", &params, CALL_TIMEOUT)
            .await;
        not_modified_is_success(result)
    }

    /// Answers a tap. A tap answered already, unknown or too old is
    /// [`TelegramError::CallbackQueryExpired`].
    pub async fn answer_callback_query(
        &self,
        answer: &AnswerCallbackQuery,
    ) -> Result<(), TelegramError> {
        self.call::<_, bool>("answerCallbackQuery", answer, CALL_TIMEOUT)
            .await
            .map(drop)
    }
}

fn not_modified_is_success(
    result: Result<serde_json::Value, TelegramError>,
) -> Result<(), TelegramError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_modified() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{UpdateId, UserId};
    use crate::telegram::keyboard::InlineKeyboardButton;
    use crate::telegram::types::{IncomingUpdate, ReplyParameters};
    use serde_json::json;

    fn keyboard() -> InlineKeyboardMarkup {
        InlineKeyboardMarkup {
            inline_keyboard: vec![vec![InlineKeyboardButton::callback("a", "m:0")]],
        }
    }

    fn tap(message: serde_json::Value) -> CallbackQuery {
        let incoming = IncomingUpdate::from_value(json!({"update_id": 8, "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "from": {"id": 7, "is_bot": false, "first_name": "Ann", "language_code": "en"},
            "message": message,
            "chat_instance": "-7203948573049583",
            "data": "m=1:0badc0de"}}));
        assert_eq!(incoming.id(), Some(UpdateId(8)));
        let IncomingUpdate::Parsed(update) = incoming else {
            panic!("not parsed: {incoming:?}");
        };
        assert!(update.message.is_none());
        update.callback_query.unwrap()
    }

    #[test]
    fn a_tap_arrives_with_who_tapped_the_message_and_the_data() {
        // As Telegram sends it: the bot's message whole, its keyboard included.
        let query = tap(json!({
            "message_id": 21,
            "from": {"id": 123456, "is_bot": true, "first_name": "Test Bot", "username": "test_bot"},
            "chat": {"id": 7, "first_name": "Ann", "type": "private"},
            "date": 1700000000,
            "text": "Choose a model:",
            "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "m=1:0badc0de"}]]}}));
        assert_eq!(query.id, CallbackQueryId("4382bfdwdsb323b2d9".into()));
        assert_eq!(query.from.id, UserId(7));
        assert_eq!(query.data.as_deref(), Some("m=1:0badc0de"));
        assert_eq!(query.chat_instance, "-7203948573049583");
        let message = query.message.unwrap();
        assert!(matches!(message, CallbackMessage::Accessible(_)));
        assert_eq!(message.chat().id, ChatId(7));
        assert_eq!(message.message_id(), MessageId(21));
    }

    #[test]
    fn a_tap_under_a_message_the_bot_cannot_see_is_inaccessible() {
        let query = tap(
            json!({"chat": {"id": -5, "title": "t", "type": "group"}, "message_id": 3, "date": 0}),
        );
        let message = query.message.unwrap();
        assert!(matches!(message, CallbackMessage::Inaccessible { .. }));
        assert_eq!(message.chat().id, ChatId(-5));
        assert_eq!(message.message_id(), MessageId(3));
    }

    #[test]
    fn a_tap_without_a_message_has_none() {
        let incoming = IncomingUpdate::from_value(json!({"update_id": 9, "callback_query": {
            "id": "1", "from": {"id": 7, "is_bot": false, "first_name": "Ann"},
            "inline_message_id": "AAQ", "chat_instance": "1", "data": "x"}}));
        let IncomingUpdate::Parsed(update) = incoming else {
            panic!("not parsed: {incoming:?}");
        };
        let query = update.callback_query.unwrap();
        assert!(query.message.is_none());
        assert_eq!(query.inline_message_id.as_deref(), Some("AAQ"));
    }

    #[test]
    fn the_keyboard_goes_along_with_the_message_parameters() {
        let message = SendMessage {
            chat_id: ChatId(7),
            message_thread_id: None,
            text: "Choose:".into(),
            parse_mode: Some("HTML"),
            reply_parameters: Some(ReplyParameters {
                message_id: MessageId(3),
                allow_sending_without_reply: true,
            }),
        };
        let sent = serde_json::to_value(SendWithKeyboard {
            message: &message,
            reply_markup: &keyboard(),
        })
        .unwrap();
        assert_eq!(sent["chat_id"], 7);
        assert_eq!(sent["text"], "Choose:");
        assert_eq!(sent["reply_parameters"]["message_id"], 3);
        assert_eq!(
            sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
            "m:0"
        );

        let edit = EditMessageText {
            chat_id: ChatId(7),
            message_id: MessageId(4),
            text: "Now: a".into(),
            parse_mode: None,
        };
        let edited = serde_json::to_value(EditWithKeyboard {
            edit: &edit,
            reply_markup: &keyboard(),
        })
        .unwrap();
        assert_eq!(edited["message_id"], 4);
        assert_eq!(edited["reply_markup"]["inline_keyboard"][0][0]["text"], "a");

        let removed = serde_json::to_value(EditReplyMarkup {
            chat_id: ChatId(7),
            message_id: MessageId(4),
            reply_markup: None,
        })
        .unwrap();
        assert_eq!(removed, json!({"chat_id": 7, "message_id": 4}));

        let answer = AnswerCallbackQuery {
            callback_query_id: CallbackQueryId("5".into()),
            text: None,
            show_alert: false,
        };
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            json!({"callback_query_id": "5"})
        );
    }
}

#[cfg(test)]
mod http_tests {
    use super::*;
    use crate::secret::Secret;
    use actix_web::{web, App, HttpResponse, HttpServer};
    use serde_json::json;

    /// Answers every method as Telegram answers the case named by the path's last part.
    async fn answer(path: web::Path<(String, String)>) -> HttpResponse {
        let (_, method) = path.into_inner();
        match method.as_str() {
            "answerCallbackQuery" => HttpResponse::BadRequest().json(json!({"ok": false, "error_code": 400,
                "description": "Bad Request: query is too old and response timeout expired or query ID is invalid"})),
            "editMessageReplyMarkup" => HttpResponse::BadRequest().json(json!({"ok": false, "error_code": 400,
                "description": "Bad Request: message is not modified: specified new message content and reply \
                                markup are exactly the same as a current content and reply markup of the message"})),
            _ => HttpResponse::Ok().json(json!({"ok": true, "result": {"message_id": 5, "date": 1,
                "chat": {"id": 7, "type": "private"}, "text": "Choose:"}})),
        }
    }

    #[actix_rt::test]
    async fn an_expired_tap_is_typed_and_an_unchanged_keyboard_is_success() {
        let server =
            HttpServer::new(|| App::new().route("/{bot}/{method}", web::post().to(answer)))
                .workers(1)
                .disable_signals()
                .bind(("127.0.0.1", 0))
                .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        let api = BotApi::new(&format!("http://127.0.0.1:{port}"), &Secret::new("1:T"));

        let expired = api
            .answer_callback_query(&AnswerCallbackQuery {
                callback_query_id: CallbackQueryId("1".into()),
                text: Some("Done".into()),
                show_alert: false,
            })
            .await;
        let unchanged = api
            .edit_message_reply_markup(ChatId(7), MessageId(5), None)
            .await;
        let sent = api
            .send_message_with_keyboard(
                &SendMessage {
                    chat_id: ChatId(7),
                    message_thread_id: None,
                    text: "Choose:".into(),
                    parse_mode: None,
                    reply_parameters: None,
                },
                &InlineKeyboardMarkup::default(),
            )
            .await;

        let error = expired.unwrap_err();
        assert!(error.is_callback_query_expired(), "{error:?}");
        assert!(!error.is_transient());
        assert!(unchanged.is_ok(), "{unchanged:?}");
        assert_eq!(sent.unwrap().message_id, MessageId(5));
        handle.stop(false).await;
    }
}
