//! Row types (one per table) and their insert forms. Telegram's ids are typed ([`ChatId`], [`MessageId`]);
//! the columns are described in docs/architecture.md (SQLite tables).

use super::schema::{attachments, chats, conversations, messages, summaries};
use crate::ids::{ChatId, Conversation, MessageId, TopicId};
use crate::media::{Attachment, AttachmentKind};
use diesel::prelude::*;

/// One Telegram chat: what it is and when it was seen (a conversation's settings are in `conversations`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chats)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
pub struct ChatRow {
    /// Telegram's chat id (negative for groups).
    pub id: ChatId,
    pub kind: String,
    pub title: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub blocked_at: Option<i64>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = chats)]
pub struct NewChat<'a> {
    pub id: ChatId,
    pub kind: &'a str,
    pub title: Option<&'a str>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A conversation's own settings (its `conversations` row); all `None` when it set none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = conversations)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
pub struct ConversationSettings {
    /// Set by `/system`, or by `/role` (the role's prompt); `None`: `SYSTEM_PROMPT`.
    pub system_prompt: Option<String>,
    /// Chosen with `/model`, or by a role that names one; `None`: `AICHAT_MODEL`.
    pub model: Option<String>,
    /// The server's role whose prompt `system_prompt` is (`/role`); cleared by `/system` and `/role off`.
    pub role: Option<String>,
}

/// One turn of a conversation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
pub struct MessageRow {
    /// The database's own id: the order of the turns (summaries' ranges refer to it). Not Telegram's.
    pub id: i32,
    pub chat_id: ChatId,
    pub role: String,
    pub content: String,
    pub tokens: i32,
    /// The user's message, or the answer's first message: storing it twice is a no-op.
    pub telegram_message_id: Option<MessageId>,
    pub created_at: i64,
    pub folded: bool,
    /// The forum topic it was written in (0: none; see [`Conversation::topic_key`]).
    pub topic_id: TopicId,
}

impl MessageRow {
    /// The conversation the message belongs to.
    pub fn conversation(&self) -> Conversation {
        Conversation::from_key(self.chat_id, self.topic_id)
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage<'a> {
    pub chat_id: ChatId,
    pub topic_id: TopicId,
    pub role: &'a str,
    pub content: &'a str,
    pub tokens: i32,
    pub telegram_message_id: Option<MessageId>,
    pub created_at: i64,
}

/// What a user's message carried besides its text (a photo, a document): Telegram's ids, never the bytes.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = attachments)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
pub struct AttachmentRow {
    pub id: i32,
    /// The `messages` row it belongs to.
    pub message_id: i32,
    /// `photo` or `document`.
    pub kind: String,
    pub file_id: String,
    pub file_unique_id: String,
    pub name: Option<String>,
    pub size: Option<i64>,
    pub width: i32,
    pub height: i32,
    /// The message's caption.
    pub caption: Option<String>,
}

impl AttachmentRow {
    /// As the job fetches it (an unknown kind, which the schema's CHECK rules out, reads as a document).
    pub fn attachment(&self) -> Attachment {
        Attachment {
            kind: AttachmentKind::parse(&self.kind).unwrap_or(AttachmentKind::Document),
            file_id: self.file_id.clone(),
            file_unique_id: self.file_unique_id.clone(),
            name: self.name.clone(),
            mime: None,
            size: self.size.and_then(|s| u64::try_from(s).ok()),
            width: u32::try_from(self.width).unwrap_or(0),
            height: u32::try_from(self.height).unwrap_or(0),
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = attachments)]
pub struct NewAttachment<'a> {
    pub message_id: i32,
    pub kind: &'a str,
    pub file_id: &'a str,
    pub file_unique_id: &'a str,
    pub name: Option<&'a str>,
    pub size: Option<i64>,
    pub width: i32,
    pub height: i32,
    pub caption: Option<&'a str>,
}

impl<'a> NewAttachment<'a> {
    /// `attachment` of the `messages` row `message_id`, sent with `caption`.
    pub fn of(message_id: i32, attachment: &'a Attachment, caption: Option<&'a str>) -> Self {
        Self {
            message_id,
            kind: attachment.kind.as_str(),
            file_id: &attachment.file_id,
            file_unique_id: &attachment.file_unique_id,
            name: attachment.name.as_deref(),
            size: attachment.size.and_then(|s| i64::try_from(s).ok()),
            width: i32::try_from(attachment.width).unwrap_or(0),
            height: i32::try_from(attachment.height).unwrap_or(0),
            caption,
        }
    }
}

/// A summary of a chat's older turns; the newest is the one in use.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = summaries)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
pub struct SummaryRow {
    pub id: i32,
    pub chat_id: ChatId,
    pub content: String,
    pub tokens: i32,
    pub first_message_id: i32,
    pub last_message_id: i32,
    pub created_at: i64,
    pub topic_id: TopicId,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = summaries)]
pub struct NewSummary<'a> {
    pub chat_id: ChatId,
    pub topic_id: TopicId,
    pub content: &'a str,
    pub tokens: i32,
    pub first_message_id: i32,
    pub last_message_id: i32,
    pub created_at: i64,
}

/// One conversation's figures for `/stats` (or a whole chat's, all topics, for the admin API).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatStats {
    pub user_messages: i64,
    pub assistant_messages: i64,
    /// Sum of stored token counts (our count) of the current history.
    pub tokens: i64,
    /// As reported by the LLM server.
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub first_at: Option<i64>,
    pub last_at: Option<i64>,
    /// Summaries made (compressions) since the last `/clear`.
    pub compressions: i64,
    /// Photos and documents sent since the last `/clear`.
    pub photos: i64,
    pub documents: i64,
}

/// One chat in the admin API's list: its row and its figures.
#[derive(Debug, Clone)]
pub struct ChatOverview {
    pub chat: ChatRow,
    pub user_messages: i64,
    pub assistant_messages: i64,
    /// Sum of stored token counts (our count) of all its messages, folded ones included.
    pub tokens: i64,
    /// As reported by the LLM server.
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// When its newest message was stored (Unix seconds), if it has any.
    pub last_message_at: Option<i64>,
    /// The main conversation's own model (`/model`); `None`: `AICHAT_MODEL`.
    pub model: Option<String>,
    /// The main conversation's role (`/role`); `None`: no role.
    pub role: Option<String>,
    /// Photos and documents its messages carried.
    pub photos: i64,
    pub documents: i64,
}

/// A page of chats for the admin API, most recently active first.
#[derive(Debug, Clone)]
pub struct ChatList {
    /// All chats, not only this page's.
    pub total: u64,
    pub chats: Vec<ChatOverview>,
}

/// One chat for the admin API: its row, its figures (all topics) and, of its main conversation (the chat
/// itself, or a forum's General topic), the system prompt, model, role and the summary in use.
#[derive(Debug, Clone)]
pub struct ChatDetail {
    pub chat: ChatRow,
    /// The main conversation's own system prompt.
    pub system_prompt: Option<String>,
    /// The main conversation's own model (`/model`); `None`: `AICHAT_MODEL`.
    pub model: Option<String>,
    /// The main conversation's role (`/role`); `None`: no role.
    pub role: Option<String>,
    pub stats: ChatStats,
    /// The main conversation's summary in use (the newest), if it was compressed.
    pub summary: Option<SummaryRow>,
    /// The forum topics that have messages, in order of their ids.
    pub topics: Vec<TopicId>,
}

/// A page of one chat's messages for the admin API, oldest first, with all its summaries.
#[derive(Debug, Clone)]
pub struct MessageList {
    /// All the chat's messages, not only this page's.
    pub total: u64,
    pub messages: Vec<MessageRow>,
    /// What this page's messages carried (photos, documents), in order.
    pub attachments: Vec<AttachmentRow>,
    /// Oldest first; the last one is in use.
    pub summaries: Vec<SummaryRow>,
}
