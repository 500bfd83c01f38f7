//! Bot API wire types: only the fields the bot reads. Unknown fields are ignored, so new Telegram fields never
//! break parsing.

use crate::ids::{ChatId, MessageId, UpdateId, UserId};
use serde::{Deserialize, Serialize};

/// Every Bot API answer: `{"ok":true,"result":…}` or `{"ok":false,"error_code":…,"description":…}`.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    pub ok: bool,
    pub result: Option<T>,
    pub description: Option<String>,
    pub error_code: Option<u16>,
    pub parameters: Option<ResponseParameters>,
}

/// The `parameters` of a refusal: what Telegram tells us to do about it.
#[derive(Debug, Default, Deserialize)]
pub struct ResponseParameters {
    /// Seconds to wait before the next request (flood control).
    pub retry_after: Option<u64>,
    /// The group became a supergroup with this id; the call went to the old one.
    pub migrate_to_chat_id: Option<ChatId>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: UserId,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub first_name: String,
    pub username: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    pub id: ChatId,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MessageEntity {
    #[serde(rename = "type")]
    pub kind: String,
    /// In UTF-16 code units.
    pub offset: usize,
    pub length: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub message_id: MessageId,
    pub from: Option<User>,
    pub chat: Chat,
    #[serde(default)]
    pub date: i64,
    pub text: Option<String>,
    #[serde(default)]
    pub entities: Vec<MessageEntity>,
}

/// One update. Kinds the bot does not handle stay `None` and are confirmed without a job.
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    pub update_id: UpdateId,
    pub message: Option<Message>,
    pub edited_message: Option<Message>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BotCommandSpec {
    pub command: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplyParameters {
    pub message_id: MessageId,
    /// The user may have deleted their message; answer anyway.
    pub allow_sending_without_reply: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SendMessage {
    pub chat_id: ChatId,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_parameters: Option<ReplyParameters>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GetUpdates {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<UpdateId>,
    pub limit: u8,
    /// Long-polling wait in seconds.
    pub timeout: u64,
    pub allowed_updates: &'static [&'static str],
}

#[derive(Debug, Clone, Serialize)]
pub struct SendChatAction {
    pub chat_id: ChatId,
    pub action: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct EditMessageText {
    pub chat_id: ChatId,
    pub message_id: MessageId,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeleteMessage {
    pub chat_id: ChatId,
    pub message_id: MessageId,
}
