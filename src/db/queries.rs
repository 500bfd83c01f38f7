//! Queries. Each takes a connection, so callers choose the transaction.

use super::models::{
    ChatOverview, ChatRow, ChatStats, ConversationSettings, MessageRow, NewChat, NewMessage,
    NewSummary, SummaryRow,
};
use super::schema::{chats, conversations, messages, summaries, usage};
use crate::ids::{ChatId, Conversation, MessageId, TopicId};
use crate::paging::Page;
use diesel::dsl::{count_star, max, min, sum};
use diesel::prelude::*;
use diesel::SqliteConnection;
use std::collections::HashMap;

type QResult<T> = Result<T, diesel::result::Error>;

/// The rows of `$table` (a table with `chat_id` and `topic_id`) that belong to the conversation `$c`.
macro_rules! of {
    ($table:ident, $c:expr) => {
        $table::chat_id
            .eq($c.chat)
            .and($table::topic_id.eq($c.topic_key()))
    };
}

// Single rows are read with `get_result` (the first row of the cursor), not `first` (`LIMIT ?`): SQLite
// re-prepares a statement whose LIMIT is a bound parameter every time it is bound (its value may change the
// plan), which cost a full parse per query.

/// Creates the chat, or refreshes its kind and title (a chat that writes is not blocked any more).
pub fn upsert_chat(conn: &mut SqliteConnection, chat: &NewChat<'_>) -> QResult<()> {
    diesel::insert_into(chats::table)
        .values(chat)
        .on_conflict(chats::id)
        .do_update()
        .set((
            chats::kind.eq(chat.kind),
            chats::title.eq(chat.title),
            chats::updated_at.eq(chat.updated_at),
            chats::blocked_at.eq(None::<i64>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks the chat as unreachable (Telegram answered 403).
pub fn mark_blocked(conn: &mut SqliteConnection, chat: ChatId, at: i64) -> QResult<()> {
    diesel::update(chats::table.find(chat))
        .set(chats::blocked_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}

/// The bot was removed from the group `chat` (`active: false`: marked unreachable at `at`, the row created if
/// the group never wrote) or added to it again (`active: true`: created, or refreshed and not blocked any more).
pub fn set_membership(
    conn: &mut SqliteConnection,
    chat: &NewChat<'_>,
    active: bool,
    at: i64,
) -> QResult<()> {
    if active || find_chat(conn, chat.id)?.is_none() {
        upsert_chat(conn, chat)?;
    }
    if !active {
        mark_blocked(conn, chat.id, at)?;
    }
    Ok(())
}

/// Whether `chat` is a group the bot was removed from: blocked, and not a private chat (a private chat that
/// writes is reachable again: Telegram delivers its messages only once the user unblocked the bot).
pub fn is_inactive_group(conn: &mut SqliteConnection, chat: ChatId) -> QResult<bool> {
    let row = find_chat(conn, chat)?;
    Ok(row.is_some_and(|c| {
        c.blocked_at.is_some() && matches!(c.kind.as_str(), "group" | "supergroup")
    }))
}

pub fn count_chats(conn: &mut SqliteConnection) -> QResult<i64> {
    chats::table.select(count_star()).get_result(conn)
}

pub fn find_chat(conn: &mut SqliteConnection, chat: ChatId) -> QResult<Option<ChatRow>> {
    chats::table
        .find(chat)
        .select(ChatRow::as_select())
        .get_result(conn)
        .optional()
}

/// Stores a message. A message already stored (same chat and Telegram message id) is left as it is;
/// returns whether a row was added.
pub fn insert_message(conn: &mut SqliteConnection, message: &NewMessage<'_>) -> QResult<bool> {
    let n = diesel::insert_or_ignore_into(messages::table)
        .values(message)
        .execute(conn)?;
    Ok(n > 0)
}

/// The conversation's history that goes into the prompt (not folded into a summary), oldest first.
pub fn active_history(conn: &mut SqliteConnection, c: Conversation) -> QResult<Vec<MessageRow>> {
    messages::table
        .filter(of!(messages, c))
        .filter(messages::folded.eq(false))
        .order(messages::id.asc())
        .select(MessageRow::as_select())
        .load(conn)
}

/// Sum of the stored token counts of the active history.
pub fn active_tokens(conn: &mut SqliteConnection, c: Conversation) -> QResult<i64> {
    let total: Option<i64> = messages::table
        .filter(of!(messages, c))
        .filter(messages::folded.eq(false))
        .select(sum(messages::tokens))
        .get_result(conn)?;
    Ok(total.unwrap_or(0))
}

/// Sum of the stored token counts of all the conversation's messages, folded ones included.
pub fn all_tokens(conn: &mut SqliteConnection, c: Conversation) -> QResult<i64> {
    let total: Option<i64> = messages::table
        .filter(of!(messages, c))
        .select(sum(messages::tokens))
        .get_result(conn)?;
    Ok(total.unwrap_or(0))
}

/// The conversation's summary in use (the newest), if any.
pub fn latest_summary(conn: &mut SqliteConnection, c: Conversation) -> QResult<Option<SummaryRow>> {
    summaries::table
        .filter(of!(summaries, c))
        .order(summaries::id.desc())
        .select(SummaryRow::as_select())
        .get_result(conn)
        .optional()
}

/// Stores a summary and folds the messages it covers (`first..=last`, those not yet folded). Fails with
/// `RollbackTransaction` when the conversation no longer has exactly `expected` unfolded messages in that range (it
/// was cleared or changed meanwhile): run it in a transaction, so that nothing changes then.
pub fn fold_into_summary(
    conn: &mut SqliteConnection,
    summary: &NewSummary<'_>,
    expected: usize,
) -> QResult<()> {
    let folded = diesel::update(
        messages::table
            .filter(messages::chat_id.eq(summary.chat_id))
            .filter(messages::topic_id.eq(summary.topic_id))
            .filter(messages::folded.eq(false))
            .filter(messages::id.between(summary.first_message_id, summary.last_message_id)),
    )
    .set(messages::folded.eq(true))
    .execute(conn)?;
    if folded != expected {
        return Err(diesel::result::Error::RollbackTransaction);
    }
    diesel::insert_into(summaries::table)
        .values(summary)
        .execute(conn)?;
    Ok(())
}

/// The conversation's own settings (all `None` when it set none).
pub fn settings(conn: &mut SqliteConnection, c: Conversation) -> QResult<ConversationSettings> {
    Ok(conversations::table
        .filter(of!(conversations, c))
        .select(ConversationSettings::as_select())
        .get_result(conn)
        .optional()?
        .unwrap_or_default())
}

/// Stores the conversation's settings as they are in `s` (its row created if needed).
fn write_settings(
    conn: &mut SqliteConnection,
    c: Conversation,
    s: &ConversationSettings,
) -> QResult<()> {
    let values = (
        conversations::system_prompt.eq(&s.system_prompt),
        conversations::model.eq(&s.model),
        conversations::role.eq(&s.role),
    );
    diesel::insert_into(conversations::table)
        .values((
            conversations::chat_id.eq(c.chat),
            conversations::topic_id.eq(c.topic_key()),
            values,
        ))
        .on_conflict((conversations::chat_id, conversations::topic_id))
        .do_update()
        .set(values)
        .execute(conn)?;
    Ok(())
}

/// Sets (or with `None` removes) the conversation's own system prompt. A prompt of one's own is no role's, so
/// the role goes.
pub fn set_system_prompt(
    conn: &mut SqliteConnection,
    c: Conversation,
    prompt: Option<&str>,
) -> QResult<()> {
    let s = ConversationSettings {
        system_prompt: prompt.map(str::to_string),
        role: None,
        ..settings(conn, c)?
    };
    write_settings(conn, c, &s)
}

/// Sets (or with `None` removes: back to `AICHAT_MODEL`) the conversation's model.
pub fn set_model(conn: &mut SqliteConnection, c: Conversation, model: Option<&str>) -> QResult<()> {
    let s = ConversationSettings {
        model: model.map(str::to_string),
        ..settings(conn, c)?
    };
    write_settings(conn, c, &s)
}

/// Takes the role `(name, prompt)`: its prompt becomes the conversation's system prompt. `None` removes the
/// role and its prompt (back to `SYSTEM_PROMPT`); the model stays as it is.
pub fn set_role(
    conn: &mut SqliteConnection,
    c: Conversation,
    role: Option<(&str, &str)>,
) -> QResult<()> {
    let s = ConversationSettings {
        system_prompt: role.map(|(_, prompt)| prompt.to_string()),
        role: role.map(|(name, _)| name.to_string()),
        ..settings(conn, c)?
    };
    write_settings(conn, c, &s)
}

/// The conversation's own system prompt, if it has one.
pub fn system_prompt(conn: &mut SqliteConnection, c: Conversation) -> QResult<Option<String>> {
    Ok(settings(conn, c)?.system_prompt)
}

/// For `/retry`: deletes the chat's last answer (if the last message is one) and returns the user messages of
/// that turn (those after the previous answer), oldest first. Empty when there is nothing to answer again.
/// A turn none of whose user messages has a Telegram id (they came with [`migrate_chat`]) cannot be replied
/// to: its answer stays, and the reply is empty.
pub fn drop_last_answer(conn: &mut SqliteConnection, c: Conversation) -> QResult<Vec<MessageRow>> {
    let history = active_history(conn, c)?;
    let (rows, answer) = match history.split_last() {
        Some((last, rest)) if last.role == "assistant" => (rest, Some(last.id)),
        _ => (history.as_slice(), None),
    };
    let turn = rows.iter().rev().take_while(|r| r.role == "user").count();
    let questions: Vec<MessageRow> = rows.iter().skip(rows.len() - turn).cloned().collect();
    if !questions.is_empty() && questions.iter().all(|r| r.telegram_message_id.is_none()) {
        return Ok(Vec::new());
    }
    if let Some(id) = answer {
        diesel::delete(messages::table.find(id)).execute(conn)?;
    }
    Ok(questions)
}

/// Forgets the conversation's history, summaries and usage totals (a forum's other topics keep theirs).
/// Returns how many messages were deleted.
pub fn clear_history(conn: &mut SqliteConnection, c: Conversation) -> QResult<usize> {
    diesel::delete(usage::table.filter(of!(usage, c))).execute(conn)?;
    diesel::delete(summaries::table.filter(of!(summaries, c))).execute(conn)?;
    diesel::delete(messages::table.filter(of!(messages, c))).execute(conn)
}

/// Adds server-reported usage to the conversation's totals.
pub fn add_usage(
    conn: &mut SqliteConnection,
    c: Conversation,
    prompt: i64,
    completion: i64,
) -> QResult<()> {
    add_usage_totals(conn, c, (prompt, completion, 1))
}

/// Adds `(prompt, completion, requests)` to the conversation's usage totals.
fn add_usage_totals(
    conn: &mut SqliteConnection,
    c: Conversation,
    (prompt, completion, requests): (i64, i64, i64),
) -> QResult<()> {
    diesel::insert_into(usage::table)
        .values((
            usage::chat_id.eq(c.chat),
            usage::topic_id.eq(c.topic_key()),
            usage::prompt_tokens.eq(prompt),
            usage::completion_tokens.eq(completion),
            usage::requests.eq(requests),
        ))
        .on_conflict((usage::chat_id, usage::topic_id))
        .do_update()
        .set((
            usage::prompt_tokens.eq(usage::prompt_tokens + prompt),
            usage::completion_tokens.eq(usage::completion_tokens + completion),
            usage::requests.eq(usage::requests + requests),
        ))
        .execute(conn)?;
    Ok(())
}

/// What figures count: one conversation (`/stats` in a chat or topic), or a whole chat with all its topics
/// (the admin API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Conversation(Conversation),
    Chat(ChatId),
}

/// `$body` run with `$q` bound to `$table` (with `chat_id` and `topic_id`) filtered to `$scope`.
macro_rules! in_scope {
    ($scope:expr, $table:ident, |$q:ident| $body:expr) => {
        match $scope {
            Scope::Conversation(c) => {
                let $q = $table::table.filter(of!($table, c));
                $body
            }
            Scope::Chat(chat) => {
                let $q = $table::table.filter($table::chat_id.eq(chat));
                $body
            }
        }
    };
}

pub fn chat_stats(conn: &mut SqliteConnection, scope: Scope) -> QResult<ChatStats> {
    let by_role: Vec<(String, i64, Option<i64>)> = in_scope!(scope, messages, |q| q
        .group_by(messages::role)
        .select((messages::role, count_star(), sum(messages::tokens)))
        .load(conn)?);
    let (first_at, last_at): (Option<i64>, Option<i64>) = in_scope!(scope, messages, |q| q
        .select((min(messages::created_at), max(messages::created_at)))
        .get_result(conn)?);
    // One row per conversation: summed here (SQLite's SUM of a BIGINT is not an integer to Diesel).
    let totals: Vec<(i64, i64)> = in_scope!(scope, usage, |q| q
        .select((usage::prompt_tokens, usage::completion_tokens))
        .load(conn)?);
    let (prompt_tokens, completion_tokens) = totals
        .iter()
        .fold((0, 0), |(p, c), (dp, dc)| (p + dp, c + dc));
    let compressions: i64 = in_scope!(scope, summaries, |q| q
        .select(count_star())
        .get_result(conn)?);
    let (photos, documents) = super::attachments::counts(conn, scope)?;
    let mut stats = ChatStats {
        first_at,
        last_at,
        prompt_tokens,
        completion_tokens,
        compressions,
        photos,
        documents,
        ..ChatStats::default()
    };
    for (role, n, tokens) in by_role {
        match role.as_str() {
            "user" => stats.user_messages = n,
            "assistant" => stats.assistant_messages = n,
            _ => {}
        }
        stats.tokens += tokens.unwrap_or(0);
    }
    Ok(stats)
}

/// `OFFSET` and `LIMIT` of a page.
fn bounds(page: Page) -> (i64, i64) {
    (
        i64::try_from(page.offset()).unwrap_or(i64::MAX),
        i64::from(page.per_page()),
    )
}

/// Per chat and role: messages, their tokens, the newest one's time.
type RoleFigures = (ChatId, String, i64, Option<i64>, Option<i64>);

/// One page of chats, most recently active first (then by id), with their figures and their main
/// conversation's model and role.
pub fn chat_overviews(conn: &mut SqliteConnection, page: Page) -> QResult<Vec<ChatOverview>> {
    let (offset, limit) = bounds(page);
    let rows: Vec<ChatRow> = chats::table
        .order((chats::updated_at.desc(), chats::id.asc()))
        .offset(offset)
        .limit(limit)
        .select(ChatRow::as_select())
        .load(conn)?;
    let ids: Vec<ChatId> = rows.iter().map(|c| c.id).collect();
    let by_role: Vec<RoleFigures> = messages::table
        .filter(messages::chat_id.eq_any(&ids))
        .group_by((messages::chat_id, messages::role))
        .select((
            messages::chat_id,
            messages::role,
            count_star(),
            sum(messages::tokens),
            max(messages::created_at),
        ))
        .load(conn)?;
    let mut usage: HashMap<ChatId, (i64, i64)> = HashMap::new();
    let totals: Vec<(ChatId, i64, i64)> = usage::table
        .filter(usage::chat_id.eq_any(&ids))
        .select((
            usage::chat_id,
            usage::prompt_tokens,
            usage::completion_tokens,
        ))
        .load(conn)?;
    for (id, p, c) in totals {
        let total = usage.entry(id).or_default();
        *total = (total.0 + p, total.1 + c);
    }
    let files = super::attachments::counts_by_chat(conn, &ids)?;
    // The main conversation's model and role (a topic's are its own), in one query for the page.
    let mut chosen: HashMap<ChatId, (Option<String>, Option<String>)> = conversations::table
        .filter(conversations::chat_id.eq_any(&ids))
        .filter(conversations::topic_id.eq(TopicId(0)))
        .select((
            conversations::chat_id,
            conversations::model,
            conversations::role,
        ))
        .load::<(ChatId, Option<String>, Option<String>)>(conn)?
        .into_iter()
        .map(|(id, model, role)| (id, (model, role)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|chat| {
            let (prompt_tokens, completion_tokens) = usage.get(&chat.id).copied().unwrap_or((0, 0));
            let (model, role) = chosen.remove(&chat.id).unwrap_or_default();
            let (photos, documents) = files.get(&chat.id).copied().unwrap_or((0, 0));
            let mut overview = ChatOverview {
                photos,
                documents,
                user_messages: 0,
                assistant_messages: 0,
                tokens: 0,
                prompt_tokens,
                completion_tokens,
                last_message_at: None,
                model,
                role,
                chat,
            };
            for (_, role, n, tokens, last) in by_role.iter().filter(|r| r.0 == overview.chat.id) {
                match role.as_str() {
                    "user" => overview.user_messages = *n,
                    "assistant" => overview.assistant_messages = *n,
                    _ => {}
                }
                overview.tokens += tokens.unwrap_or(0);
                overview.last_message_at = overview.last_message_at.max(*last);
            }
            overview
        })
        .collect())
}

/// How many messages the chat has, folded ones included.
pub fn count_messages(conn: &mut SqliteConnection, chat: ChatId) -> QResult<i64> {
    messages::table
        .filter(messages::chat_id.eq(chat))
        .select(count_star())
        .get_result(conn)
}

/// One page of the chat's messages, folded ones included, oldest first.
pub fn messages_page(
    conn: &mut SqliteConnection,
    chat: ChatId,
    page: Page,
) -> QResult<Vec<MessageRow>> {
    let (offset, limit) = bounds(page);
    messages::table
        .filter(messages::chat_id.eq(chat))
        .order(messages::id.asc())
        .offset(offset)
        .limit(limit)
        .select(MessageRow::as_select())
        .load(conn)
}

/// The forum topics of the chat that have messages, in order of their ids.
pub fn topics_of(conn: &mut SqliteConnection, chat: ChatId) -> QResult<Vec<TopicId>> {
    messages::table
        .filter(messages::chat_id.eq(chat))
        .filter(messages::topic_id.ne(TopicId(0)))
        .select(messages::topic_id)
        .distinct()
        .order(messages::topic_id.asc())
        .load(conn)
}

/// Every summary of the chat, oldest first (the last one is in use).
pub fn summaries_of(conn: &mut SqliteConnection, chat: ChatId) -> QResult<Vec<SummaryRow>> {
    summaries::table
        .filter(summaries::chat_id.eq(chat))
        .order(summaries::id.asc())
        .select(SummaryRow::as_select())
        .load(conn)
}

/// Deletes the chat; its messages, summaries and usage go with it (`ON DELETE CASCADE`, with the pool's
/// `foreign_keys = ON`). Returns whether the chat existed.
pub fn delete_chat(conn: &mut SqliteConnection, chat: ChatId) -> QResult<bool> {
    Ok(diesel::delete(chats::table.find(chat)).execute(conn)? > 0)
}

/// A Telegram group upgraded to a supergroup gets a new chat id (`to`): the chat's conversations (messages and
/// summaries, in their order, each in its topic), their settings and usage totals follow it from `from`, and `from`'s row is
/// removed. Run it in a transaction. Returns whether anything moved (`false`: no chat `from`, or `from` is `to`).
///
/// The moved messages lose their Telegram ids: those name messages of the old group, and the supergroup's own
/// ids start again, so keeping them would make a new message look stored already (and could not be replied
/// to anyway). In a merge, `to`'s kind, title and `blocked_at` stay (they describe the chat as it is now);
/// the system prompt is `from`'s unless it had none; `created_at` is the earlier one, `updated_at` the later.
/// The newest summary stays the one in use.
pub fn migrate_chat(conn: &mut SqliteConnection, from: ChatId, to: ChatId) -> QResult<bool> {
    if from == to {
        return Ok(false);
    }
    let Some(old) = find_chat(conn, from)? else {
        return Ok(false);
    };
    let new = find_chat(conn, to)?;
    if new.is_none() {
        upsert_chat(
            conn,
            &NewChat {
                id: to,
                kind: &old.kind,
                title: old.title.as_deref(),
                created_at: old.created_at,
                updated_at: old.updated_at,
            },
        )?;
    }
    let (created_at, updated_at) = new.map_or((old.created_at, old.updated_at), |n| {
        (n.created_at, n.updated_at)
    });
    diesel::update(chats::table.find(to))
        .set((
            chats::created_at.eq(old.created_at.min(created_at)),
            chats::updated_at.eq(old.updated_at.max(updated_at)),
        ))
        .execute(conn)?;
    diesel::update(messages::table.filter(messages::chat_id.eq(from)))
        .set((
            messages::chat_id.eq(to),
            messages::telegram_message_id.eq(None::<MessageId>),
        ))
        .execute(conn)?;
    diesel::update(summaries::table.filter(summaries::chat_id.eq(from)))
        .set(summaries::chat_id.eq(to))
        .execute(conn)?;
    let moving: Vec<(TopicId, ConversationSettings)> = conversations::table
        .filter(conversations::chat_id.eq(from))
        .select((conversations::topic_id, ConversationSettings::as_select()))
        .load(conn)?;
    for (topic, old) in moving {
        let there = Conversation::from_key(to, topic);
        let new = settings(conn, there)?;
        // The prompt and its role go together.
        let (system_prompt, role) = match old.system_prompt {
            Some(prompt) => (Some(prompt), old.role),
            None => (new.system_prompt, new.role),
        };
        let merged = ConversationSettings {
            system_prompt,
            role,
            model: old.model.or(new.model),
        };
        write_settings(conn, there, &merged)?;
    }
    let totals: Vec<(TopicId, i64, i64, i64)> = usage::table
        .filter(usage::chat_id.eq(from))
        .select((
            usage::topic_id,
            usage::prompt_tokens,
            usage::completion_tokens,
            usage::requests,
        ))
        .load(conn)?;
    for (topic, prompt, completion, requests) in totals {
        let there = Conversation::from_key(to, topic);
        add_usage_totals(conn, there, (prompt, completion, requests))?;
    }
    delete_chat(conn, from)?;
    Ok(true)
}

/// Writes a consistent copy of the whole database to `path` (`VACUUM INTO`): a compact, standalone SQLite
/// file, made while the bot keeps writing. SQLite refuses a `path` that exists and is not empty. Cannot run
/// inside a transaction.
pub fn vacuum_into(conn: &mut SqliteConnection, path: &str) -> QResult<()> {
    diesel::sql_query("VACUUM INTO ?")
        .bind::<diesel::sql_types::Text, _>(path)
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;

    fn pool() -> (tempfile::TempDir, db::DbPool) {
        let dir = tempfile::tempdir().unwrap();
        let pool = db::open(&dir.path().join("t.db"), 2).unwrap();
        (dir, pool)
    }

    fn chat(conn: &mut SqliteConnection, id: i64) {
        upsert_chat(
            conn,
            &NewChat {
                id: ChatId(id),
                kind: "private",
                title: None,
                created_at: 1,
                updated_at: 1,
            },
        )
        .unwrap();
    }

    fn msg(
        chat_id: i64,
        role: &'static str,
        content: &'static str,
        tg: Option<i64>,
    ) -> NewMessage<'static> {
        NewMessage {
            chat_id: ChatId(chat_id),
            topic_id: TopicId(0),
            role,
            content,
            tokens: 10,
            telegram_message_id: tg.map(MessageId),
            created_at: 100,
        }
    }

    #[test]
    fn a_user_message_is_stored_once_per_telegram_id() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat(&mut conn, 7);
        assert!(insert_message(&mut conn, &msg(7, "user", "hi", Some(1))).unwrap());
        assert!(!insert_message(&mut conn, &msg(7, "user", "hi", Some(1))).unwrap());
        assert!(insert_message(&mut conn, &msg(7, "assistant", "hello", Some(2))).unwrap());
        assert!(!insert_message(&mut conn, &msg(7, "assistant", "hello", Some(2))).unwrap());
        let history = active_history(&mut conn, Conversation::chat(ChatId(7))).unwrap();
        assert_eq!(
            history
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>(),
            ["hi", "hello"]
        );
        assert_eq!(
            active_tokens(&mut conn, Conversation::chat(ChatId(7))).unwrap(),
            20
        );
    }

    #[test]
    fn clearing_one_chat_leaves_the_others() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat(&mut conn, 1);
        chat(&mut conn, -1001234567890);
        insert_message(&mut conn, &msg(1, "user", "a", Some(1))).unwrap();
        insert_message(&mut conn, &msg(-1001234567890, "user", "b", Some(1))).unwrap();
        assert_eq!(
            clear_history(&mut conn, Conversation::chat(ChatId(1))).unwrap(),
            1
        );
        assert!(active_history(&mut conn, Conversation::chat(ChatId(1)))
            .unwrap()
            .is_empty());
        assert_eq!(
            active_history(&mut conn, Conversation::chat(ChatId(-1001234567890)))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn each_topic_of_a_forum_is_a_conversation_of_its_own_and_the_chat_is_all_of_them() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat(&mut conn, -100);
        let general = Conversation::chat(ChatId(-100));
        let topic = |t| Conversation::from_key(ChatId(-100), TopicId(t));
        let in_topic = |t, text, tg| NewMessage {
            topic_id: TopicId(t),
            ..msg(-100, "user", text, Some(tg))
        };
        insert_message(&mut conn, &in_topic(0, "in general", 1)).unwrap();
        insert_message(&mut conn, &in_topic(7, "in plans", 8)).unwrap();
        insert_message(&mut conn, &in_topic(9, "in food", 10)).unwrap();
        add_usage(&mut conn, topic(7), 30, 5).unwrap();
        add_usage(&mut conn, topic(9), 40, 6).unwrap();
        set_system_prompt(&mut conn, topic(7), Some("Plans only.")).unwrap();

        let contents = |conn: &mut SqliteConnection, c| -> Vec<String> {
            active_history(conn, c)
                .unwrap()
                .into_iter()
                .map(|m| m.content)
                .collect()
        };
        assert_eq!(contents(&mut conn, general), ["in general"]);
        assert_eq!(contents(&mut conn, topic(7)), ["in plans"]);
        assert_eq!(
            system_prompt(&mut conn, topic(7)).unwrap().as_deref(),
            Some("Plans only.")
        );
        assert_eq!(system_prompt(&mut conn, topic(9)).unwrap(), None);
        assert_eq!(system_prompt(&mut conn, general).unwrap(), None);
        let plans = chat_stats(&mut conn, Scope::Conversation(topic(7))).unwrap();
        assert_eq!((plans.user_messages, plans.prompt_tokens), (1, 30));
        let whole = chat_stats(&mut conn, Scope::Chat(ChatId(-100))).unwrap();
        assert_eq!(
            (
                whole.user_messages,
                whole.prompt_tokens,
                whole.completion_tokens
            ),
            (3, 70, 11)
        );
        assert_eq!(
            topics_of(&mut conn, ChatId(-100)).unwrap(),
            [TopicId(7), TopicId(9)]
        );

        assert_eq!(clear_history(&mut conn, topic(9)).unwrap(), 1);
        assert!(contents(&mut conn, topic(9)).is_empty());
        assert_eq!(
            contents(&mut conn, topic(7)),
            ["in plans"],
            "the other topics keep theirs"
        );
        let whole = chat_stats(&mut conn, Scope::Chat(ChatId(-100))).unwrap();
        assert_eq!(
            whole.prompt_tokens, 30,
            "only the cleared topic's usage went"
        );
    }

    #[test]
    fn a_role_brings_its_prompt_a_typed_prompt_drops_the_role_and_the_model_is_its_own_setting() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat(&mut conn, 3);
        let c = Conversation::chat(ChatId(3));
        let now = |conn: &mut SqliteConnection| settings(conn, c).unwrap();
        assert_eq!(now(&mut conn), ConversationSettings::default());

        set_model(&mut conn, c, Some("claude:sonnet")).unwrap();
        set_role(&mut conn, c, Some(("coder", "You write code."))).unwrap();
        let s = now(&mut conn);
        assert_eq!(
            (
                s.system_prompt.as_deref(),
                s.role.as_deref(),
                s.model.as_deref()
            ),
            (
                Some("You write code."),
                Some("coder"),
                Some("claude:sonnet")
            )
        );
        set_system_prompt(&mut conn, c, Some("Be brief.")).unwrap();
        let s = now(&mut conn);
        assert_eq!(
            (s.system_prompt.as_deref(), s.role),
            (Some("Be brief."), None)
        );
        set_role(&mut conn, c, Some(("poet", "You write poems."))).unwrap();
        set_role(&mut conn, c, None).unwrap();
        let s = now(&mut conn);
        assert_eq!((s.system_prompt, s.role), (None, None));
        assert_eq!(s.model.as_deref(), Some("claude:sonnet"), "the model stays");
    }

    #[test]
    fn stats_count_roles_tokens_and_reported_usage() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat(&mut conn, 3);
        insert_message(&mut conn, &msg(3, "user", "a", Some(1))).unwrap();
        insert_message(&mut conn, &msg(3, "assistant", "b", None)).unwrap();
        add_usage(&mut conn, Conversation::chat(ChatId(3)), 30, 5).unwrap();
        add_usage(&mut conn, Conversation::chat(ChatId(3)), 40, 6).unwrap();
        let s = chat_stats(
            &mut conn,
            Scope::Conversation(Conversation::chat(ChatId(3))),
        )
        .unwrap();
        assert_eq!(
            (s.user_messages, s.assistant_messages, s.tokens),
            (1, 1, 20)
        );
        assert_eq!((s.prompt_tokens, s.completion_tokens), (70, 11));
        assert_eq!((s.first_at, s.last_at), (Some(100), Some(100)));
        let empty = chat_stats(
            &mut conn,
            Scope::Conversation(Conversation::chat(ChatId(999))),
        )
        .unwrap();
        assert_eq!(empty, ChatStats::default());
    }

    #[test]
    fn chat_overviews_page_the_chats_with_their_figures() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        for id in [1, 2, 3] {
            chat(&mut conn, id);
        }
        insert_message(&mut conn, &msg(2, "user", "a", Some(1))).unwrap();
        insert_message(&mut conn, &msg(2, "assistant", "b", Some(2))).unwrap();
        insert_message(&mut conn, &msg(2, "user", "c", Some(3))).unwrap();
        add_usage(&mut conn, Conversation::chat(ChatId(2)), 30, 5).unwrap();

        let first = chat_overviews(&mut conn, Page::new(Some(1), Some(2)).unwrap()).unwrap();
        let second = chat_overviews(&mut conn, Page::new(Some(2), Some(2)).unwrap()).unwrap();

        let ids = |v: &[ChatOverview]| v.iter().map(|o| o.chat.id.0).collect::<Vec<_>>();
        assert_eq!((ids(&first), ids(&second)), (vec![1, 2], vec![3]));
        let two = &first[1];
        assert_eq!(
            (two.user_messages, two.assistant_messages, two.tokens),
            (2, 1, 30)
        );
        assert_eq!((two.prompt_tokens, two.completion_tokens), (30, 5));
        assert_eq!(two.last_message_at, Some(100));
        assert_eq!(
            (first[0].user_messages, first[0].last_message_at),
            (0, None)
        );
    }

    #[test]
    fn chat_overviews_show_the_main_conversations_model_and_role_not_a_topics() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        for id in [1, 2, 3] {
            chat(&mut conn, id);
        }
        let main = Conversation::chat(ChatId(1));
        set_model(&mut conn, main, Some("claude:sonnet")).unwrap();
        set_role(&mut conn, main, Some(("coder", "You write code."))).unwrap();
        let topic = Conversation {
            chat: ChatId(2),
            topic: Some(TopicId(5)),
        };
        set_model(&mut conn, topic, Some("local:small")).unwrap();

        let page = chat_overviews(&mut conn, Page::new(Some(1), Some(10)).unwrap()).unwrap();

        let settings: Vec<(i64, Option<&str>, Option<&str>)> = page
            .iter()
            .map(|o| (o.chat.id.0, o.model.as_deref(), o.role.as_deref()))
            .collect();
        assert_eq!(
            settings,
            [
                (1, Some("claude:sonnet"), Some("coder")),
                (2, None, None),
                (3, None, None)
            ]
        );
    }

    #[test]
    fn deleting_a_chat_takes_its_messages_summaries_and_usage_with_it() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat(&mut conn, 4);
        chat(&mut conn, 5);
        insert_message(&mut conn, &msg(4, "user", "a", Some(1))).unwrap();
        insert_message(&mut conn, &msg(5, "user", "b", Some(1))).unwrap();
        add_usage(&mut conn, Conversation::chat(ChatId(4)), 1, 1).unwrap();
        let summary = NewSummary {
            chat_id: ChatId(4),
            topic_id: TopicId(0),
            content: "s",
            tokens: 1,
            first_message_id: 1,
            last_message_id: 1,
            created_at: 1,
        };
        fold_into_summary(&mut conn, &summary, 1).unwrap();

        assert!(delete_chat(&mut conn, ChatId(4)).unwrap());

        assert!(!delete_chat(&mut conn, ChatId(4)).unwrap(), "already gone");
        assert_eq!(count_messages(&mut conn, ChatId(4)).unwrap(), 0);
        assert!(summaries_of(&mut conn, ChatId(4)).unwrap().is_empty());
        assert_eq!(
            chat_stats(
                &mut conn,
                Scope::Conversation(Conversation::chat(ChatId(4)))
            )
            .unwrap(),
            ChatStats::default()
        );
        assert_eq!(count_messages(&mut conn, ChatId(5)).unwrap(), 1);
    }

    #[test]
    fn messages_come_in_pages_oldest_first() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat(&mut conn, 6);
        for (i, text) in ["a", "b", "c"].into_iter().enumerate() {
            insert_message(&mut conn, &msg(6, "user", text, Some(i as i64))).unwrap();
        }
        let page = messages_page(&mut conn, ChatId(6), Page::new(Some(2), Some(2)).unwrap());
        let texts: Vec<String> = page.unwrap().into_iter().map(|m| m.content).collect();
        assert_eq!(texts, ["c"]);
        assert_eq!(count_messages(&mut conn, ChatId(6)).unwrap(), 3);
    }

    #[test]
    fn vacuum_into_writes_a_database_that_opens_and_refuses_an_existing_file() {
        let (dir, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat(&mut conn, 8);
        let target = dir.path().join("copy.db");
        let target_str = target.to_str().unwrap();

        vacuum_into(&mut conn, target_str).unwrap();

        let copy = db::open(&target, 1).unwrap();
        assert_eq!(count_chats(&mut copy.get().unwrap()).unwrap(), 1);
        assert!(vacuum_into(&mut conn, target_str).is_err());
    }

    /// A chat of `kind` with its own system prompt, if any.
    fn chat_of(conn: &mut SqliteConnection, id: i64, kind: &str, prompt: Option<&str>, at: i64) {
        upsert_chat(
            conn,
            &NewChat {
                id: ChatId(id),
                kind,
                title: Some("The group"),
                created_at: at,
                updated_at: at,
            },
        )
        .unwrap();
        set_system_prompt(conn, Conversation::chat(ChatId(id)), prompt).unwrap();
    }

    fn texts(conn: &mut SqliteConnection, id: i64) -> Vec<String> {
        messages_page(conn, ChatId(id), Page::new(None, None).unwrap())
            .unwrap()
            .into_iter()
            .map(|m| m.content)
            .collect()
    }

    const GROUP: i64 = -5;
    const SUPERGROUP: i64 = -1_000_000_000_005;

    #[test]
    fn migrating_a_chat_moves_its_conversation_settings_and_stats_to_the_new_id() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat_of(&mut conn, GROUP, "group", Some("Be brief."), 10);
        insert_message(&mut conn, &msg(GROUP, "user", "q1", Some(1))).unwrap();
        insert_message(&mut conn, &msg(GROUP, "assistant", "a1", Some(2))).unwrap();
        insert_message(&mut conn, &msg(GROUP, "user", "q2", Some(3))).unwrap();
        let first = active_history(&mut conn, Conversation::chat(ChatId(GROUP))).unwrap()[0].id;
        let summary = NewSummary {
            chat_id: ChatId(GROUP),
            topic_id: TopicId(0),
            content: "They said hello.",
            tokens: 5,
            first_message_id: first,
            last_message_id: first,
            created_at: 100,
        };
        fold_into_summary(&mut conn, &summary, 1).unwrap();
        add_usage(&mut conn, Conversation::chat(ChatId(GROUP)), 30, 5).unwrap();
        set_model(
            &mut conn,
            Conversation::chat(ChatId(GROUP)),
            Some("claude:sonnet"),
        )
        .unwrap();
        let stats = chat_stats(
            &mut conn,
            Scope::Conversation(Conversation::chat(ChatId(GROUP))),
        )
        .unwrap();

        let moved = conn
            .transaction(|conn| migrate_chat(conn, ChatId(GROUP), ChatId(SUPERGROUP)))
            .unwrap();

        assert!(moved);
        assert!(find_chat(&mut conn, ChatId(GROUP)).unwrap().is_none());
        let new = find_chat(&mut conn, ChatId(SUPERGROUP)).unwrap().unwrap();
        let moved_settings = settings(&mut conn, Conversation::chat(new.id)).unwrap();
        assert_eq!(moved_settings.system_prompt.as_deref(), Some("Be brief."));
        assert_eq!(moved_settings.model.as_deref(), Some("claude:sonnet"));
        assert_eq!(
            (new.created_at, new.title.as_deref()),
            (10, Some("The group"))
        );
        assert_eq!(texts(&mut conn, SUPERGROUP), ["q1", "a1", "q2"]);
        let history = active_history(&mut conn, Conversation::chat(ChatId(SUPERGROUP))).unwrap();
        assert_eq!(history.len(), 2, "the folded turn stays folded");
        assert_eq!(
            latest_summary(&mut conn, Conversation::chat(ChatId(SUPERGROUP)))
                .unwrap()
                .map(|s| s.content),
            Some("They said hello.".to_string())
        );
        assert_eq!(
            chat_stats(
                &mut conn,
                Scope::Conversation(Conversation::chat(ChatId(SUPERGROUP)))
            )
            .unwrap(),
            stats
        );
        assert_eq!(
            chat_stats(
                &mut conn,
                Scope::Conversation(Conversation::chat(ChatId(GROUP)))
            )
            .unwrap(),
            ChatStats::default()
        );
        assert_eq!(count_chats(&mut conn).unwrap(), 1);
    }

    #[test]
    fn migrating_twice_moves_nothing_the_second_time() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat_of(&mut conn, GROUP, "group", None, 10);
        insert_message(&mut conn, &msg(GROUP, "user", "q1", Some(1))).unwrap();
        assert!(migrate_chat(&mut conn, ChatId(GROUP), ChatId(SUPERGROUP)).unwrap());

        let again = migrate_chat(&mut conn, ChatId(GROUP), ChatId(SUPERGROUP)).unwrap();

        assert!(!again);
        assert!(!migrate_chat(&mut conn, ChatId(SUPERGROUP), ChatId(SUPERGROUP)).unwrap());
        assert_eq!(texts(&mut conn, SUPERGROUP), ["q1"]);
        assert_eq!(count_chats(&mut conn).unwrap(), 1);
    }

    #[test]
    fn migrating_into_a_chat_that_already_has_messages_merges_them_in_order() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat_of(&mut conn, GROUP, "group", Some("Old prompt."), 10);
        insert_message(&mut conn, &msg(GROUP, "user", "old q", Some(1))).unwrap();
        insert_message(&mut conn, &msg(GROUP, "assistant", "old a", Some(2))).unwrap();
        add_usage(&mut conn, Conversation::chat(ChatId(GROUP)), 30, 5).unwrap();
        // A message reached the supergroup before the migration was seen; its Telegram ids start again.
        chat_of(&mut conn, SUPERGROUP, "supergroup", None, 50);
        insert_message(&mut conn, &msg(SUPERGROUP, "user", "new q", Some(1))).unwrap();
        add_usage(&mut conn, Conversation::chat(ChatId(SUPERGROUP)), 7, 1).unwrap();

        let moved = conn
            .transaction(|conn| migrate_chat(conn, ChatId(GROUP), ChatId(SUPERGROUP)))
            .unwrap();

        assert!(moved);
        assert_eq!(texts(&mut conn, SUPERGROUP), ["old q", "old a", "new q"]);
        let new = find_chat(&mut conn, ChatId(SUPERGROUP)).unwrap().unwrap();
        let prompt = system_prompt(&mut conn, Conversation::chat(new.id)).unwrap();
        assert_eq!(prompt.as_deref(), Some("Old prompt."));
        assert_eq!((new.kind.as_str(), new.created_at), ("supergroup", 10));
        let stats = chat_stats(
            &mut conn,
            Scope::Conversation(Conversation::chat(ChatId(SUPERGROUP))),
        )
        .unwrap();
        assert_eq!((stats.user_messages, stats.assistant_messages), (2, 1));
        assert_eq!((stats.prompt_tokens, stats.completion_tokens), (37, 6));
        assert!(find_chat(&mut conn, ChatId(GROUP)).unwrap().is_none());
        // The supergroup's later messages are stored, whatever ids the old group's messages had.
        assert!(
            insert_message(&mut conn, &msg(SUPERGROUP, "assistant", "new a", Some(2))).unwrap()
        );
    }

    #[test]
    fn a_merge_keeps_the_new_chats_prompt_only_where_the_old_had_none() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat_of(&mut conn, GROUP, "group", None, 10);
        chat_of(&mut conn, SUPERGROUP, "supergroup", Some("New prompt."), 50);

        let moved = migrate_chat(&mut conn, ChatId(GROUP), ChatId(SUPERGROUP)).unwrap();

        assert!(moved);

        let new = find_chat(&mut conn, ChatId(SUPERGROUP)).unwrap().unwrap();
        let prompt = system_prompt(&mut conn, Conversation::chat(new.id)).unwrap();
        assert_eq!(prompt.as_deref(), Some("New prompt."));
    }

    #[test]
    fn retry_leaves_alone_an_answer_whose_question_came_with_a_migration() {
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        chat_of(&mut conn, GROUP, "group", None, 10);
        insert_message(&mut conn, &msg(GROUP, "user", "old q", Some(1))).unwrap();
        insert_message(&mut conn, &msg(GROUP, "assistant", "old a", Some(2))).unwrap();
        migrate_chat(&mut conn, ChatId(GROUP), ChatId(SUPERGROUP)).unwrap();

        let again = drop_last_answer(&mut conn, Conversation::chat(ChatId(SUPERGROUP))).unwrap();

        assert!(
            again.is_empty(),
            "the old group's message cannot be replied to"
        );
        assert_eq!(texts(&mut conn, SUPERGROUP), ["old q", "old a"]);
    }

    #[test]
    fn migrations_can_be_reverted_and_reapplied() {
        use diesel_migrations::MigrationHarness;
        let (_d, pool) = pool();
        let mut conn = pool.get().unwrap();
        conn.revert_all_migrations(db::MIGRATIONS).unwrap();
        conn.run_pending_migrations(db::MIGRATIONS).unwrap();
        chat(&mut conn, 1);
    }
}
