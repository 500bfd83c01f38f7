//! Row types (one per table) and their insert forms.

use super::schema::{chats, messages, summaries};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chats)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
pub struct ChatRow {
    pub id: i64,
    pub kind: String,
    pub title: Option<String>,
    pub system_prompt: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub blocked_at: Option<i64>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = chats)]
pub struct NewChat<'a> {
    pub id: i64,
    pub kind: &'a str,
    pub title: Option<&'a str>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
pub struct MessageRow {
    pub id: i32,
    pub chat_id: i64,
    pub role: String,
    pub content: String,
    pub tokens: i32,
    pub telegram_message_id: Option<i64>,
    pub created_at: i64,
    pub folded: bool,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage<'a> {
    pub chat_id: i64,
    pub role: &'a str,
    pub content: &'a str,
    pub tokens: i32,
    pub telegram_message_id: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = summaries)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
pub struct SummaryRow {
    pub id: i32,
    pub chat_id: i64,
    pub content: String,
    pub tokens: i32,
    pub first_message_id: i32,
    pub last_message_id: i32,
    pub created_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = summaries)]
pub struct NewSummary<'a> {
    pub chat_id: i64,
    pub content: &'a str,
    pub tokens: i32,
    pub first_message_id: i32,
    pub last_message_id: i32,
    pub created_at: i64,
}

/// One chat's figures for `/stats`.
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
}
