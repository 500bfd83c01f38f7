//! What users' messages carried besides text (`attachments`): recorded with the message, read back for the
//! prompt (the photos still in it), for `/stats` and for the admin API. Telegram's ids only, never the bytes.

use super::models::{AttachmentRow, NewAttachment};
use super::queries::Scope;
use super::schema::{attachments, messages};
use crate::ids::{ChatId, Conversation, MessageId};
use crate::media::Attachment;
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::SqliteConnection;
use std::collections::HashMap;

type QResult<T> = Result<T, diesel::result::Error>;

// Counting a page of chats' attachments by chat and kind groups by columns of both tables.
diesel::allow_columns_to_appear_in_same_group_by_clause!(messages::chat_id, attachments::kind);

/// Records `items` (sent with `caption`) on the user's message `telegram_message_id` of `chat`, once: a
/// message that has its attachments already (a retried job) keeps them. Returns how many were added.
pub fn attach(
    conn: &mut SqliteConnection,
    chat: ChatId,
    telegram_message_id: MessageId,
    items: &[Attachment],
    caption: Option<&str>,
) -> QResult<usize> {
    if items.is_empty() {
        return Ok(0);
    }
    let row: Option<i32> = messages::table
        .filter(messages::chat_id.eq(chat))
        .filter(messages::telegram_message_id.eq(telegram_message_id))
        .filter(messages::role.eq("user"))
        .select(messages::id)
        .get_result(conn)
        .optional()?;
    let Some(row) = row else {
        return Ok(0);
    };
    let present: i64 = attachments::table
        .filter(attachments::message_id.eq(row))
        .select(count_star())
        .get_result(conn)?;
    if present > 0 {
        return Ok(0);
    }
    let new: Vec<NewAttachment<'_>> = items
        .iter()
        .map(|a| NewAttachment::of(row, a, caption))
        .collect();
    diesel::insert_into(attachments::table)
        .values(&new)
        .execute(conn)
}

/// The photos of a conversation's messages that are not folded into a summary (those a prompt may still
/// carry), in message order.
pub fn photos_in_history(
    conn: &mut SqliteConnection,
    c: Conversation,
) -> QResult<Vec<AttachmentRow>> {
    attachments::table
        .inner_join(messages::table)
        .filter(messages::chat_id.eq(c.chat))
        .filter(messages::topic_id.eq(c.topic_key()))
        .filter(messages::folded.eq(false))
        .filter(attachments::kind.eq("photo"))
        .order(attachments::id.asc())
        .select(AttachmentRow::as_select())
        .load(conn)
}

/// The attachments of these `messages` rows (the admin API's page of messages), in order.
pub fn of_messages(conn: &mut SqliteConnection, ids: &[i32]) -> QResult<Vec<AttachmentRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    attachments::table
        .filter(attachments::message_id.eq_any(ids))
        .order(attachments::id.asc())
        .select(AttachmentRow::as_select())
        .load(conn)
}

/// How many photos and documents were sent in `scope` (since the last `/clear`).
pub fn counts(conn: &mut SqliteConnection, scope: Scope) -> QResult<(i64, i64)> {
    let mut of = |kind: &str| -> QResult<i64> {
        let kind = attachments::kind.eq(kind.to_string());
        let all = attachments::table.inner_join(messages::table);
        match scope {
            Scope::Conversation(c) => all
                .filter(messages::chat_id.eq(c.chat))
                .filter(messages::topic_id.eq(c.topic_key()))
                .filter(kind)
                .select(count_star())
                .get_result(conn),
            Scope::Chat(chat) => all
                .filter(messages::chat_id.eq(chat))
                .filter(kind)
                .select(count_star())
                .get_result(conn),
        }
    };
    Ok((of("photo")?, of("document")?))
}

/// Photos and documents per chat of `chats` (the admin API's page of sessions); a chat without any is absent.
pub fn counts_by_chat(
    conn: &mut SqliteConnection,
    chats: &[ChatId],
) -> QResult<HashMap<ChatId, (i64, i64)>> {
    let rows: Vec<(ChatId, String, i64)> = attachments::table
        .inner_join(messages::table)
        .filter(messages::chat_id.eq_any(chats))
        .group_by((messages::chat_id, attachments::kind))
        .select((messages::chat_id, attachments::kind, count_star()))
        .load(conn)?;
    let mut counts: HashMap<ChatId, (i64, i64)> = HashMap::new();
    for (chat, kind, n) in rows {
        let entry = counts.entry(chat).or_default();
        match kind.as_str() {
            "photo" => entry.0 += n,
            _ => entry.1 += n,
        }
    }
    Ok(counts)
}
