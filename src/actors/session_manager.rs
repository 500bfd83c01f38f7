//! SessionManager: owns all SQLite state (chats, messages, token counts, summaries, usage) through Diesel.
//!
//! Runs on a `SyncArbiter` (Diesel blocks). Every handler runs inside [`catch_panic_sync`]: a panic is turned
//! into an error for the sender, and the actor stops, so the arbiter builds a fresh one from its factory.
//! Each message (but `Ping` and `Backup`) is one transaction (`SessionManager::read`,
//! `SessionManager::write`), so a turn always sees a consistent context (a summary and the turns it does not
//! cover), even while the chat is being compressed. Transactions that write begin IMMEDIATE: in WAL mode a
//! read transaction that later writes fails at once (SQLITE_BUSY, no waiting) if another connection wrote
//! meanwhile, while an immediate one waits its turn (busy_timeout). What goes into a prompt, and what a
//! compression folds, is decided in [`crate::context`] from the rows read here. What the `Turns` handler does
//! with its steps is in `session_turns.rs`.

use crate::actors::supervision::catch_panic_sync;
use crate::context::prompt::to_usize;
use crate::context::{select_for_compression, StoredContext};
use crate::db::attachments;
use crate::db::backup;
use crate::db::models::{ChatStats, NewChat, NewSummary};
use crate::db::queries::Scope;
use crate::db::spending::{Spend, Totals, UsageQuery, UsageReport, UserSpending};
use crate::db::{self, queries, DbError, DbPool};
use crate::health::Health;
use crate::ids::{ChatId, Conversation, MessageId, UserId};
use crate::llm::Usage;
use crate::media::Attachment;
use crate::paging::Page;
use crate::queue::ChatRef;
use crate::text::now_unix;
use crate::tokens::TokenCounter;
use crate::usage::{Limits, Periods};
use actix::prelude::*;
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::context::{
    CompressionInput, ContextUsage, PromptBudget, SystemPrompt, TurnContext, SUMMARY_PREFIX,
};
pub use crate::db::backup::BackupOutcome;
pub use crate::db::models::ConversationSettings;
pub use crate::db::models::{ChatDetail, ChatList, MessageList};
pub use crate::db::SessionError;

/// The handlers of a conversation's settings (`GetSettings`, `SetModel`, `SetRole`) and of what model
/// requests used (`RecordSpend`, `GetUserSpending`, `GetTopUsers`).
#[path = "session_settings.rs"]
mod session_settings;

/// The `Turns` handler's work (`BeginTurn`, `FinishTurn`): an `impl SessionManager` block of its own.
#[path = "session_turns.rs"]
mod session_turns;

// ---- Messages ----------------------------------------------------------------------------------------------

/// The turn steps of many jobs, stored in ONE transaction (one commit for all of them; see
/// [`crate::actors::turns::TurnBatcher`], through which the jobs send their steps). If a step fails, the
/// batch is rolled back and each step is run again in a transaction of its own: a failing step changes
/// nothing and does not fail the others. Replies one result per step, in order.
#[derive(Debug, Message)]
#[rtype(result = "Vec<Result<TurnReply, SessionError>>")]
pub struct Turns(pub Vec<TurnStep>);

/// One job's step of a turn: taking up its messages, or storing its answer.
#[derive(Debug)]
pub enum TurnStep {
    Begin(BeginTurn),
    Finish(FinishTurn),
}

/// A [`TurnStep`]'s result: what its [`BeginTurn`] or [`FinishTurn`] gave.
#[derive(Debug)]
pub enum TurnReply {
    Begun(TurnContext),
    Finished(usize),
}

/// A step of [`Turns`], from a chat job when a user's message (or several merged ones) is taken up: stores them
/// (once, however often the job runs) and gives the prompt for the LLM — system prompt, summary, then the
/// recent history ending with these messages — within `budget` tokens (our count): the oldest turns are left
/// out of the prompt (not deleted) when it would not fit. If the new messages alone do not fit, nothing is
/// stored and the context says `refused`. In a group the bot was removed from ([`SetMembership`]), nothing is
/// stored and the context says `inactive`.
#[derive(Debug)]
pub struct BeginTurn {
    pub chat: ChatRef,
    /// In arrival order.
    pub messages: Vec<(MessageId, String)>,
    /// What the first of `messages` carried besides text (a photo, an album's photos, a document), recorded
    /// with it; its photos' tokens count with its text.
    pub attachments: Vec<Attachment>,
    /// The caption those were sent with.
    pub caption: Option<String>,
    /// The most the prompt may take (our tokens), so the answer still fits the window of the conversation's
    /// model (read with it, see [`PromptBudget`]).
    pub budget: PromptBudget,
    /// The user's token limits, checked in the same transaction before anything is stored; `None` (or no
    /// limit): not checked.
    pub quota: Option<Quota>,
}

/// Whose turn it is, their limits, and the UTC periods now (given by the caller, so tests choose the day).
#[derive(Debug, Clone)]
pub struct Quota {
    pub user: UserId,
    pub limits: Limits,
    pub periods: Periods,
}

/// A step of [`Turns`], from a chat job once the answer was delivered: stores it with its token count and the
/// server's usage (once: a retried job that stores the same delivered message again changes nothing). Gives
/// the chat's context size afterwards (tokens, our count), so the job can ask for compression.
#[derive(Debug, Clone)]
pub struct FinishTurn {
    pub conversation: Conversation,
    /// The answer as shown, without notes.
    pub content: String,
    /// The answer's first Telegram message: the key that makes storing it again a no-op.
    pub telegram_message_id: Option<MessageId>,
    /// What the server reported for this answer, added to the chat's totals.
    pub usage: Option<Usage>,
    /// What the answer used, for the user's daily record (`usage_daily`); recorded once, with the answer.
    pub spend: Option<Spend>,
}

/// The Compressor's request: what a summary used, recorded against the chat (`usage_daily`, user 0).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), SessionError>")]
pub struct RecordSpend(pub Spend);

/// `/usage`: what `user` used today and this month (`periods`), per model.
#[derive(Debug, Message)]
#[rtype(result = "Result<UserSpending, SessionError>")]
pub struct GetUserSpending {
    pub user: UserId,
    pub periods: Periods,
}

/// `/usage all` (an admin): the users who used the most since `from_day`, at most `limit`.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<(UserId, BTreeMap<String, Totals>)>, SessionError>")]
pub struct GetTopUsers {
    pub from_day: String,
    pub limit: usize,
}

/// From the admin API (`GET /api/usage`): one page of the usage report the query asks for.
#[derive(Debug, Message)]
#[rtype(result = "Result<UsageReport, SessionError>")]
pub struct GetUsageReport(pub UsageQuery);

/// `/clear`: forgets the conversation's (the chat's, or the topic's) history, summaries and usage. Replies with the number of messages deleted.
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, SessionError>")]
pub struct ClearHistory {
    pub conversation: Conversation,
}

/// `/stats`.
#[derive(Debug, Message)]
#[rtype(result = "Result<ChatStats, SessionError>")]
pub struct GetStats {
    pub conversation: Conversation,
}

/// `/context`: how many tokens the conversation's context takes.
#[derive(Debug, Message)]
#[rtype(result = "Result<ContextUsage, SessionError>")]
pub struct GetContextUsage {
    pub conversation: Conversation,
}

/// `/system …`: sets the conversation's own system prompt (`None`: back to the default). Replies with the prompt now
/// in force.
#[derive(Debug, Message)]
#[rtype(result = "Result<SystemPrompt, SessionError>")]
pub struct SetSystemPrompt {
    pub chat: ChatRef,
    pub prompt: Option<String>,
}

/// `/system`: the prompt in force for the conversation.
#[derive(Debug, Message)]
#[rtype(result = "Result<SystemPrompt, SessionError>")]
pub struct GetSystemPrompt {
    pub conversation: Conversation,
}

/// `/model`, `/role`, `/context`, `/help` and the Compressor: the conversation's own settings (its model, role
/// and system prompt; `None` where it set none).
#[derive(Debug, Message)]
#[rtype(result = "Result<ConversationSettings, SessionError>")]
pub struct GetSettings {
    pub conversation: Conversation,
}

/// `/model NAME` or a tap on `/model`'s keyboard: the conversation's model from now on (`None`: back to
/// `AICHAT_MODEL`). The answer in flight is not affected (the switch waits its turn in the chat's order).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), SessionError>")]
pub struct SetModel {
    pub chat: ChatRef,
    pub model: Option<String>,
}

/// `/role NAME`, a tap on `/role`'s keyboard, `/role off`: the role `(name, prompt)` whose prompt becomes the
/// conversation's system prompt (`None`: no role, back to `SYSTEM_PROMPT`), and, when the role names an
/// allowed model, that model too, in one transaction.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), SessionError>")]
pub struct SetRole {
    pub chat: ChatRef,
    pub role: Option<(String, String)>,
    pub model: Option<String>,
}

/// From the Compressor: what to summarise, if the chat's context is over `threshold` tokens. Everything but
/// the `keep_recent` newest messages is folded, as many of the oldest as fit in `max_input` tokens (see
/// [`select_for_compression`]).
#[derive(Debug, Message)]
#[rtype(result = "Result<Option<CompressionInput>, SessionError>")]
pub struct PrepareCompression {
    pub conversation: Conversation,
    pub threshold: usize,
    pub keep_recent: usize,
    pub max_input: usize,
}

/// From the Compressor: store the summary and fold the messages it covers, in one transaction. Replies
/// `false` (changing nothing) if the history changed meanwhile (e.g. `/clear`).
#[derive(Debug, Message)]
#[rtype(result = "Result<bool, SessionError>")]
pub struct CommitCompression {
    pub conversation: Conversation,
    pub summary: String,
    pub first_message_id: i32,
    pub last_message_id: i32,
    /// How many unfolded messages the range held when it was prepared; any other number means it changed.
    pub folded: usize,
}

/// `/retry`: forgets the conversation's last answer and replies with the user messages it answered (empty: nothing
/// to retry), so they can be answered again.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<(MessageId, String)>, SessionError>")]
pub struct DropLastAnswer {
    pub conversation: Conversation,
}

/// From a job that got 403 from Telegram: the user blocked the bot (or it left the group).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), SessionError>")]
pub struct MarkBlocked {
    pub chat_id: ChatId,
}

/// From a membership job (`my_chat_member`): the bot was removed from the group (`active: false`, its jobs
/// still queued end quietly, see [`BeginTurn`]) or added to it again.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), SessionError>")]
pub struct SetMembership {
    pub chat: ChatRef,
    pub active: bool,
}

/// A Telegram group was upgraded to a supergroup, which has a new chat id: the chat's conversation (messages,
/// summaries), its settings (system prompt) and its stats follow from `from` to `to`, in one transaction. If
/// `to` already has a chat (a message arrived there first), the two are merged, in the order they were
/// stored, and `to` keeps its own settings only where `from` had none. Replies whether anything moved
/// (`false`: no chat `from`, e.g. it was migrated already).
#[derive(Debug, Message)]
#[rtype(result = "Result<bool, SessionError>")]
pub struct MigrateChat {
    pub from: ChatId,
    pub to: ChatId,
}

/// From `/metrics`: how many chats the bot knows.
#[derive(Debug, Message)]
#[rtype(result = "Result<u64, SessionError>")]
pub struct CountChats;

/// From `/ready`: can the database be queried?
#[derive(Debug, Message)]
#[rtype(result = "Result<(), SessionError>")]
pub struct Ping;

/// From the admin API (`GET /api/sessions`): one page of chats, most recently active first, with their
/// figures, and how many chats there are.
#[derive(Debug, Message)]
#[rtype(result = "Result<ChatList, SessionError>")]
pub struct ListChats {
    pub page: Page,
}

/// From the admin API (`GET /api/sessions/{id}`): the chat's row, its `/stats` figures, its main
/// conversation's settings (system prompt, model, role) and summary in use. `None`: no such chat.
#[derive(Debug, Message)]
#[rtype(result = "Result<Option<ChatDetail>, SessionError>")]
pub struct GetChat {
    pub chat_id: ChatId,
}

/// From the admin API (`GET /api/sessions/{id}/messages`): one page of the chat's messages, oldest first
/// (folded ones included), and all its summaries. `None`: no such chat.
#[derive(Debug, Message)]
#[rtype(result = "Result<Option<MessageList>, SessionError>")]
pub struct ListMessages {
    pub chat_id: ChatId,
    pub page: Page,
}

/// From the admin API (`DELETE /api/sessions/{id}`): deletes the chat with its messages, summaries and
/// usage. `false`: no such chat. A job of the chat still queued runs as usual and starts it afresh.
#[derive(Debug, Message)]
#[rtype(result = "Result<bool, SessionError>")]
pub struct DeleteChat {
    pub chat_id: ChatId,
}

/// From the admin API (`POST /api/backup`): writes a consistent copy of the database to `target` (`VACUUM
/// INTO`), which must not exist. Blocks this thread for as long as the copy takes; the other thread goes on
/// serving the bot.
#[derive(Debug, Message)]
#[rtype(result = "Result<BackupOutcome, SessionError>")]
pub struct Backup {
    pub target: PathBuf,
}

// ---- Actor -------------------------------------------------------------------------------------------------

pub struct SessionManager {
    /// Shared by the arbiter's threads; a handler holds one connection for its transaction.
    pool: DbPool,
    /// Counts what is stored, so prompts are sized without counting the history again.
    tokens: Arc<TokenCounter>,
    /// `SYSTEM_PROMPT`, used when a chat has none of its own.
    default_system_prompt: Option<String>,
    /// Where a panic in a handler is counted as a restart.
    health: Arc<Health>,
}

impl SessionManager {
    pub fn new(
        pool: DbPool,
        tokens: Arc<TokenCounter>,
        default_system_prompt: Option<String>,
        health: Arc<Health>,
    ) -> Self {
        Self {
            pool,
            tokens,
            default_system_prompt: default_system_prompt.filter(|p| !p.trim().is_empty()),
            health,
        }
    }

    /// Starts `threads` instances on a SyncArbiter. SQLite in WAL mode serves readers in parallel with one
    /// writer, so a couple of threads is enough.
    pub fn start(
        threads: usize,
        pool: DbPool,
        tokens: Arc<TokenCounter>,
        default_system_prompt: Option<String>,
        health: Arc<Health>,
    ) -> Addr<SessionManager> {
        SyncArbiter::start(threads.max(1), move || {
            SessionManager::new(
                pool.clone(),
                tokens.clone(),
                default_system_prompt.clone(),
                health.clone(),
            )
        })
    }

    /// Runs `f` in one read transaction (everything it reads is one snapshot), guarded (see
    /// [`Self::connected`]).
    fn read<T, E>(
        &self,
        ctx: &mut SyncContext<Self>,
        what: &'static str,
        f: impl FnOnce(&mut SqliteConnection) -> Result<T, E>,
    ) -> Result<T, SessionError>
    where
        E: From<diesel::result::Error>,
        SessionError: From<E>,
    {
        self.connected::<T, SessionError>(ctx, what, |conn| {
            conn.transaction(f).map_err(SessionError::from)
        })
    }

    /// Runs `f` in one IMMEDIATE transaction (see the module's doc), guarded: an error rolls it all back.
    fn write<T, E>(
        &self,
        ctx: &mut SyncContext<Self>,
        what: &'static str,
        f: impl FnOnce(&mut SqliteConnection) -> Result<T, E>,
    ) -> Result<T, SessionError>
    where
        E: From<diesel::result::Error>,
        SessionError: From<E>,
    {
        self.connected::<T, SessionError>(ctx, what, |conn| {
            conn.immediate_transaction(f).map_err(SessionError::from)
        })
    }

    /// Runs `f` with a pooled connection and no transaction of its own. A panic becomes an error for the
    /// sender and the actor is replaced (see the module's doc).
    fn connected<T, E>(
        &self,
        ctx: &mut SyncContext<Self>,
        what: &'static str,
        f: impl FnOnce(&mut SqliteConnection) -> Result<T, E>,
    ) -> Result<T, SessionError>
    where
        SessionError: From<E>,
    {
        match catch_panic_sync(|| -> Result<T, SessionError> { Ok(f(&mut *self.pool.get()?)?) }) {
            Ok(result) => result,
            Err(panic) => {
                let n = self.health.record_restart("session_manager");
                log::error!(
                    "session manager panicked in {what}: {panic}; restarting it (restart #{n})"
                );
                ctx.stop();
                Err(SessionError::Internal(format!("panic in {what}")))
            }
        }
    }

    /// System prompt, summary and unfolded turns of a conversation, inside the caller's transaction.
    fn load_context(
        &self,
        conn: &mut SqliteConnection,
        conversation: Conversation,
    ) -> Result<StoredContext, SessionError> {
        let (system, system_tokens) = self.system_of(conn, conversation)?;
        self.load_after_system(conn, conversation, system, system_tokens)
    }

    /// The system prompt in force for a conversation (its own, else the default), and its size in tokens.
    fn system_of(
        &self,
        conn: &mut SqliteConnection,
        conversation: Conversation,
    ) -> Result<(Option<String>, usize), SessionError> {
        Ok(self.system_in(queries::system_prompt(conn, conversation)?))
    }

    /// The system prompt in force for a conversation whose own is `own` (else the default), and its size in
    /// tokens.
    fn system_in(&self, own: Option<String>) -> (Option<String>, usize) {
        let system = own
            .filter(|p| !p.trim().is_empty())
            .or_else(|| self.default_system_prompt.clone());
        let tokens = system
            .as_deref()
            .map_or(0, |s| self.tokens.count_message(s));
        (system, tokens)
    }

    /// [`load_context`](Self::load_context) once the system prompt is known.
    fn load_after_system(
        &self,
        conn: &mut SqliteConnection,
        conversation: Conversation,
        system: Option<String>,
        system_tokens: usize,
    ) -> Result<StoredContext, SessionError> {
        let summary = queries::latest_summary(conn, conversation)?;
        Ok(StoredContext {
            system,
            system_tokens,
            summary_tokens: summary.as_ref().map_or(0, |s| to_usize(s.tokens)),
            summary: summary.map(|s| s.content),
            history: queries::active_history(conn, conversation)?,
            photos: attachments::photos_in_history(conn, conversation)?,
        })
    }
}

impl Actor for SessionManager {
    type Context = SyncContext<Self>;
}

// ---- Handlers ----------------------------------------------------------------------------------------------

impl Handler<Turns> for SessionManager {
    type Result = Vec<Result<TurnReply, SessionError>>;

    fn handle(&mut self, msg: Turns, ctx: &mut SyncContext<Self>) -> Self::Result {
        let steps = msg.0;
        let count = steps.len();
        let stored = self.connected(ctx, "Turns", |conn| {
            Ok::<_, SessionError>(self.store_turns(conn, &steps))
        });
        match stored {
            Ok(replies) => replies,
            // No connection, or a panic: every step gets the error.
            Err(e) => {
                let reason = e.to_string();
                (0..count)
                    .map(|_| Err(SessionError::Internal(reason.clone())))
                    .collect()
            }
        }
    }
}

impl Handler<ClearHistory> for SessionManager {
    type Result = Result<usize, SessionError>;

    fn handle(&mut self, msg: ClearHistory, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.write(ctx, "ClearHistory", |conn| {
            queries::clear_history(conn, msg.conversation)
        })
    }
}

impl Handler<GetStats> for SessionManager {
    type Result = Result<ChatStats, SessionError>;

    fn handle(&mut self, msg: GetStats, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.read(ctx, "GetStats", |conn| {
            queries::chat_stats(conn, Scope::Conversation(msg.conversation))
        })
    }
}

impl Handler<GetContextUsage> for SessionManager {
    type Result = Result<ContextUsage, SessionError>;

    fn handle(&mut self, msg: GetContextUsage, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.read(ctx, "GetContextUsage", |conn| {
            let stored = self.load_context(conn, msg.conversation)?;
            let all = to_usize_i64(queries::all_tokens(conn, msg.conversation)?);
            Ok::<_, SessionError>(ContextUsage {
                with_summary: stored.tokens(),
                without_summary: stored.system_tokens + all,
                summary_tokens: stored.summary_tokens,
            })
        })
    }
}

impl Handler<SetSystemPrompt> for SessionManager {
    type Result = Result<SystemPrompt, SessionError>;

    fn handle(&mut self, msg: SetSystemPrompt, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.write(ctx, "SetSystemPrompt", |conn| {
            queries::upsert_chat(conn, &new_chat(&msg.chat, now_unix()))?;
            queries::set_system_prompt(conn, msg.chat.conversation(), msg.prompt.as_deref())
        })?;
        Ok(SystemPrompt {
            own: msg.prompt,
            default: self.default_system_prompt.clone(),
        })
    }
}

impl Handler<GetSystemPrompt> for SessionManager {
    type Result = Result<SystemPrompt, SessionError>;

    fn handle(&mut self, msg: GetSystemPrompt, ctx: &mut SyncContext<Self>) -> Self::Result {
        let own = self.read(ctx, "GetSystemPrompt", |conn| {
            queries::system_prompt(conn, msg.conversation)
        })?;
        Ok(SystemPrompt {
            own,
            default: self.default_system_prompt.clone(),
        })
    }
}

impl Handler<PrepareCompression> for SessionManager {
    type Result = Result<Option<CompressionInput>, SessionError>;

    fn handle(&mut self, msg: PrepareCompression, ctx: &mut SyncContext<Self>) -> Self::Result {
        let stored = self.read(ctx, "PrepareCompression", |conn| {
            self.load_context(conn, msg.conversation)
        })?;
        Ok(select_for_compression(
            stored,
            msg.threshold,
            msg.keep_recent,
            msg.max_input,
        ))
    }
}

impl Handler<CommitCompression> for SessionManager {
    type Result = Result<bool, SessionError>;

    fn handle(&mut self, msg: CommitCompression, ctx: &mut SyncContext<Self>) -> Self::Result {
        let tokens = self.tokens.count_message(&msg.summary) + self.tokens.count(SUMMARY_PREFIX);
        let committed = self.write(ctx, "CommitCompression", |conn| {
            // The new summary covers the earlier ones too.
            let first = queries::latest_summary(conn, msg.conversation)?
                .map_or(msg.first_message_id, |s| {
                    s.first_message_id.min(msg.first_message_id)
                });
            let summary = NewSummary {
                chat_id: msg.conversation.chat,
                topic_id: msg.conversation.topic_key(),
                content: &msg.summary,
                tokens: clamp_i32(tokens),
                first_message_id: first,
                last_message_id: msg.last_message_id,
                created_at: now_unix(),
            };
            queries::fold_into_summary(conn, &summary, msg.folded)
        });
        match committed {
            Ok(()) => Ok(true),
            // The history changed meanwhile: the transaction was rolled back.
            Err(SessionError::Db(DbError::Query(diesel::result::Error::RollbackTransaction))) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

impl Handler<DropLastAnswer> for SessionManager {
    type Result = Result<Vec<(MessageId, String)>, SessionError>;

    fn handle(&mut self, msg: DropLastAnswer, ctx: &mut SyncContext<Self>) -> Self::Result {
        let rows = self.write(ctx, "DropLastAnswer", |conn| {
            queries::drop_last_answer(conn, msg.conversation)
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.telegram_message_id.map(|id| (id, r.content)))
            .collect())
    }
}

impl Handler<MarkBlocked> for SessionManager {
    type Result = Result<(), SessionError>;

    fn handle(&mut self, msg: MarkBlocked, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.write(ctx, "MarkBlocked", |conn| {
            queries::mark_blocked(conn, msg.chat_id, now_unix())
        })
    }
}

impl Handler<SetMembership> for SessionManager {
    type Result = Result<(), SessionError>;

    fn handle(&mut self, msg: SetMembership, ctx: &mut SyncContext<Self>) -> Self::Result {
        let now = now_unix();
        self.write(ctx, "SetMembership", |conn| {
            queries::set_membership(conn, &new_chat(&msg.chat, now), msg.active, now)
        })
    }
}

impl Handler<MigrateChat> for SessionManager {
    type Result = Result<bool, SessionError>;

    fn handle(&mut self, msg: MigrateChat, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.write(ctx, "MigrateChat", |conn| {
            queries::migrate_chat(conn, msg.from, msg.to)
        })
    }
}

impl Handler<CountChats> for SessionManager {
    type Result = Result<u64, SessionError>;

    fn handle(&mut self, _: CountChats, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.read(ctx, "CountChats", queries::count_chats)
            .map(to_u64)
    }
}

impl Handler<Ping> for SessionManager {
    type Result = Result<(), SessionError>;

    fn handle(&mut self, _: Ping, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.connected(ctx, "Ping", |conn| {
            diesel::sql_query("SELECT 1").execute(conn)
        })?;
        Ok(())
    }
}

impl Handler<ListChats> for SessionManager {
    type Result = Result<ChatList, SessionError>;

    fn handle(&mut self, msg: ListChats, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.read(ctx, "ListChats", |conn| {
            Ok::<_, SessionError>(ChatList {
                total: to_u64(queries::count_chats(conn)?),
                chats: queries::chat_overviews(conn, msg.page)?,
            })
        })
    }
}

impl Handler<GetChat> for SessionManager {
    type Result = Result<Option<ChatDetail>, SessionError>;

    fn handle(&mut self, msg: GetChat, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.read(ctx, "GetChat", |conn| {
            let Some(chat) = queries::find_chat(conn, msg.chat_id)? else {
                return Ok(None);
            };
            let main = Conversation::chat(msg.chat_id);
            let settings = queries::settings(conn, main)?;
            Ok::<_, SessionError>(Some(ChatDetail {
                chat,
                system_prompt: settings.system_prompt,
                model: settings.model,
                role: settings.role,
                stats: queries::chat_stats(conn, Scope::Chat(msg.chat_id))?,
                summary: queries::latest_summary(conn, main)?,
                topics: queries::topics_of(conn, msg.chat_id)?,
            }))
        })
    }
}

impl Handler<ListMessages> for SessionManager {
    type Result = Result<Option<MessageList>, SessionError>;

    fn handle(&mut self, msg: ListMessages, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.read(ctx, "ListMessages", |conn| {
            if queries::find_chat(conn, msg.chat_id)?.is_none() {
                return Ok(None);
            }
            let messages = queries::messages_page(conn, msg.chat_id, msg.page)?;
            let ids: Vec<i32> = messages.iter().map(|m| m.id).collect();
            Ok::<_, SessionError>(Some(MessageList {
                total: to_u64(queries::count_messages(conn, msg.chat_id)?),
                attachments: attachments::of_messages(conn, &ids)?,
                messages,
                summaries: queries::summaries_of(conn, msg.chat_id)?,
            }))
        })
    }
}

impl Handler<DeleteChat> for SessionManager {
    type Result = Result<bool, SessionError>;

    fn handle(&mut self, msg: DeleteChat, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.write(ctx, "DeleteChat", |conn| {
            queries::delete_chat(conn, msg.chat_id)
        })
    }
}

impl Handler<Backup> for SessionManager {
    type Result = Result<BackupOutcome, SessionError>;

    fn handle(&mut self, msg: Backup, ctx: &mut SyncContext<Self>) -> Self::Result {
        // `VACUUM INTO` cannot run inside a transaction.
        self.connected(ctx, "Backup", |conn| backup::backup(conn, &msg.target))
    }
}

// ---- Helpers -----------------------------------------------------------------------------------------------

/// The chat row a message or command brings along (created, or refreshed, by `upsert_chat`).
fn new_chat(chat: &ChatRef, now: i64) -> NewChat<'_> {
    NewChat {
        id: chat.id,
        kind: &chat.kind,
        title: chat.title.as_deref(),
        created_at: now,
        updated_at: now,
    }
}

/// Token counts are stored as SQLite INTEGER via i32; a single message never comes near the limit.
fn clamp_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn to_usize_i64(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// A count from SQL (never negative) as the replies carry it.
fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Shuts the pool's connections down cleanly: checkpoints the WAL (called at shutdown).
pub fn close(pool: &DbPool) {
    if let Err(e) = db::checkpoint(pool) {
        log::warn!("could not checkpoint the database at shutdown: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::turns::TurnBatcher;
    use crate::llm::{ChatMessage, Role};

    fn chat(id: i64) -> ChatRef {
        ChatRef {
            id: ChatId(id),
            kind: "private".into(),
            title: None,
            topic: None,
        }
    }

    /// A SessionManager on a fresh database, and the batcher through which jobs send it their turn steps.
    fn start(system: Option<&str>) -> (tempfile::TempDir, Addr<SessionManager>, TurnBatcher) {
        let dir = tempfile::tempdir().unwrap();
        let pool = db::open(&dir.path().join("s.db"), 2).unwrap();
        let sm = SessionManager::start(
            1,
            pool,
            Arc::new(TokenCounter::estimate_only()),
            system.map(str::to_string),
            Arc::new(Health::new()),
        );
        let turns = TurnBatcher::start(
            sm.clone(),
            std::sync::Arc::new(crate::health::Health::new()),
        );
        (dir, sm, turns)
    }

    fn begin(text: &str, id: i64, budget: usize) -> BeginTurn {
        BeginTurn {
            chat: chat(5),
            messages: vec![(MessageId(id), text.into())],
            budget: PromptBudget::fixed(budget),
            attachments: Vec::new(),
            caption: None,
            quota: None,
        }
    }

    fn finish(text: &str, id: i64) -> FinishTurn {
        FinishTurn {
            conversation: Conversation::chat(ChatId(5)),
            content: text.into(),
            telegram_message_id: Some(MessageId(id)),
            usage: Some(Usage {
                prompt_tokens: 10,
                completion_tokens: 2,
            }),
            spend: None,
        }
    }

    fn contents(ctx: &TurnContext) -> Vec<&str> {
        ctx.prompt.iter().map(|m| m.content.as_str()).collect()
    }

    #[actix_rt::test]
    async fn a_batch_of_turn_steps_is_stored_together_and_a_failing_step_fails_alone() {
        let (_d, sm, turns) = start(None);
        let other = BeginTurn {
            chat: chat(6),
            ..begin("from chat six", 7, 10_000)
        };
        let orphan = FinishTurn {
            // No such chat: the foreign key refuses the answer.
            conversation: Conversation::chat(ChatId(999)),
            ..finish("an answer to nobody", 8)
        };

        let replies = sm
            .send(Turns(vec![
                TurnStep::Begin(begin("from chat five", 1, 10_000)),
                TurnStep::Finish(orphan),
                TurnStep::Begin(other),
            ]))
            .await
            .unwrap();

        assert_eq!(replies.len(), 3);
        assert!(
            matches!(&replies[0], Ok(TurnReply::Begun(c)) if contents(c) == ["from chat five"])
        );
        assert!(
            replies[1].is_err(),
            "the orphan answer fails: {:?}",
            replies[1]
        );
        assert!(matches!(&replies[2], Ok(TurnReply::Begun(c)) if contents(c) == ["from chat six"]));
        let answered = turns.finish(finish("hi", 2)).await.unwrap().unwrap();
        let direct = sm
            .send(GetContextUsage {
                conversation: Conversation::chat(ChatId(5)),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            answered, direct.with_summary,
            "FinishTurn reports the context's size"
        );
    }

    #[actix_rt::test]
    async fn the_turn_batcher_gives_each_job_its_own_reply() {
        let (_d, _sm, batcher) = start(None);
        let begins = (0..20).map(|i| {
            let batcher = batcher.clone();
            async move {
                batcher
                    .begin(BeginTurn {
                        chat: chat(100 + i),
                        messages: vec![(MessageId(1), format!("message of chat {i}"))],
                        budget: PromptBudget::fixed(10_000),
                        attachments: Vec::new(),
                        caption: None,
                        quota: None,
                    })
                    .await
            }
        });

        let contexts = futures_util::future::join_all(begins).await;

        for (i, context) in contexts.into_iter().enumerate() {
            let context = context.unwrap().unwrap();
            assert_eq!(contents(&context), [format!("message of chat {i}")]);
        }
        let tokens = batcher
            .finish(FinishTurn {
                conversation: Conversation::chat(ChatId(100)),
                ..finish("an answer", 2)
            })
            .await
            .unwrap()
            .unwrap();
        assert!(tokens > 0);
    }

    #[actix_rt::test]
    async fn a_turn_is_stored_and_comes_back_as_context() {
        let (_d, sm, turns) = start(Some("Be brief."));
        let first = turns
            .begin(begin("hello", 1, 10_000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.prompt.len(), 2);
        assert_eq!(first.prompt[0], ChatMessage::new(Role::System, "Be brief."));
        let after = turns.finish(finish("hi there", 2)).await.unwrap().unwrap();
        assert!(after > 0);
        // The same user message again (a retried job) is not stored twice, nor the same answer.
        turns
            .begin(begin("hello", 1, 10_000))
            .await
            .unwrap()
            .unwrap();
        turns.finish(finish("hi there", 2)).await.unwrap().unwrap();
        let second = turns
            .begin(begin("and you?", 3, 10_000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            contents(&second),
            ["Be brief.", "hello", "hi there", "and you?"]
        );
        let stats = sm
            .send(GetStats {
                conversation: Conversation::chat(ChatId(5)),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!((stats.user_messages, stats.assistant_messages), (2, 1));
        assert_eq!(stats.prompt_tokens, 10, "usage counted once");
        assert_eq!(
            sm.send(ClearHistory {
                conversation: Conversation::chat(ChatId(5))
            })
            .await
            .unwrap()
            .unwrap(),
            3
        );
        assert!(sm.send(Ping).await.unwrap().is_ok());
    }

    #[actix_rt::test]
    async fn the_oldest_turns_are_left_out_when_the_prompt_would_not_fit() {
        let (_d, _sm, turns) = start(None);
        for i in 0..5 {
            let text = format!("question {i} {}", "x".repeat(400));
            turns
                .begin(begin(&text, i * 2, 10_000))
                .await
                .unwrap()
                .unwrap();
            turns
                .finish(finish(&"y".repeat(400), i * 2 + 1))
                .await
                .unwrap()
                .unwrap();
        }
        let ctx = turns.begin(begin("last", 100, 400)).await.unwrap().unwrap();
        assert!(ctx.tokens <= 400, "{}", ctx.tokens);
        assert!(ctx.trimmed > 0);
        assert_eq!(contents(&ctx).last(), Some(&"last"));
        // Nothing was deleted: with room, everything comes back.
        let ctx = turns
            .begin(begin("again", 101, 100_000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ctx.trimmed, 0);
        assert_eq!(ctx.prompt.len(), 12);
    }

    #[actix_rt::test]
    async fn a_message_too_big_for_the_window_is_refused_and_not_stored() {
        let (_d, sm, turns) = start(None);
        let ctx = turns
            .begin(begin(&"word ".repeat(1000), 1, 500))
            .await
            .unwrap()
            .unwrap();
        assert!(ctx.refused.unwrap() > 500);
        assert!(ctx.prompt.is_empty());
        let stats = sm
            .send(GetStats {
                conversation: Conversation::chat(ChatId(5)),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stats.user_messages, 0);
    }

    #[actix_rt::test]
    async fn compression_folds_old_turns_into_a_summary_and_keeps_them() {
        let (_d, sm, turns) = start(None);
        for i in 0..6 {
            turns
                .begin(begin(&format!("q{i} {}", "a".repeat(200)), i * 2, 100_000))
                .await
                .unwrap()
                .unwrap();
            turns
                .finish(finish(&format!("a{i} {}", "b".repeat(200)), i * 2 + 1))
                .await
                .unwrap()
                .unwrap();
        }
        let usage = sm
            .send(GetContextUsage {
                conversation: Conversation::chat(ChatId(5)),
            })
            .await
            .unwrap()
            .unwrap();
        let none = sm
            .send(PrepareCompression {
                conversation: Conversation::chat(ChatId(5)),
                threshold: usage.with_summary,
                keep_recent: 4,
                max_input: 100_000,
            })
            .await
            .unwrap()
            .unwrap();
        assert!(none.is_none(), "not over the threshold: nothing to do");
        let input = sm
            .send(PrepareCompression {
                conversation: Conversation::chat(ChatId(5)),
                threshold: 100,
                keep_recent: 4,
                max_input: 100_000,
            })
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(input.turns.len(), 8);
        let committed = sm
            .send(CommitCompression {
                conversation: Conversation::chat(ChatId(5)),
                summary: "They talked about q0 to q3.".into(),
                first_message_id: input.first_message_id,
                last_message_id: input.last_message_id,
                folded: input.turns.len(),
            })
            .await
            .unwrap()
            .unwrap();
        assert!(committed);
        let ctx = turns
            .begin(begin("next", 50, 100_000))
            .await
            .unwrap()
            .unwrap();
        let c = contents(&ctx);
        assert!(
            c[0].starts_with(SUMMARY_PREFIX) && c[0].ends_with("q0 to q3."),
            "{c:?}"
        );
        assert_eq!(c.len(), 1 + 4 + 1);
        let usage = sm
            .send(GetContextUsage {
                conversation: Conversation::chat(ChatId(5)),
            })
            .await
            .unwrap()
            .unwrap();
        assert!(usage.with_summary < usage.without_summary);
        let stats = sm
            .send(GetStats {
                conversation: Conversation::chat(ChatId(5)),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stats.compressions, 1);
        assert_eq!(stats.user_messages, 7, "folded messages are kept");
    }

    #[actix_rt::test]
    async fn a_compression_that_races_a_clear_changes_nothing() {
        let (_d, sm, turns) = start(None);
        for i in 0..4 {
            turns
                .begin(begin(&format!("q{i}"), i * 2, 100_000))
                .await
                .unwrap()
                .unwrap();
            turns
                .finish(finish(&format!("a{i}"), i * 2 + 1))
                .await
                .unwrap()
                .unwrap();
        }
        let input = sm
            .send(PrepareCompression {
                conversation: Conversation::chat(ChatId(5)),
                threshold: 1,
                keep_recent: 2,
                max_input: 100_000,
            })
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        sm.send(ClearHistory {
            conversation: Conversation::chat(ChatId(5)),
        })
        .await
        .unwrap()
        .unwrap();
        let committed = sm
            .send(CommitCompression {
                conversation: Conversation::chat(ChatId(5)),
                summary: "stale".into(),
                first_message_id: input.first_message_id,
                last_message_id: input.last_message_id,
                folded: input.turns.len(),
            })
            .await
            .unwrap()
            .unwrap();
        assert!(!committed);
        let stats = sm
            .send(GetStats {
                conversation: Conversation::chat(ChatId(5)),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stats.compressions, 0);
    }

    #[actix_rt::test]
    async fn retry_drops_the_last_answer_and_returns_its_question() {
        let (_d, sm, turns) = start(None);
        turns
            .begin(begin("first", 1, 10_000))
            .await
            .unwrap()
            .unwrap();
        turns
            .finish(finish("answer one", 2))
            .await
            .unwrap()
            .unwrap();
        turns
            .begin(begin("second", 3, 10_000))
            .await
            .unwrap()
            .unwrap();
        turns
            .finish(finish("answer two", 4))
            .await
            .unwrap()
            .unwrap();
        let again = sm
            .send(DropLastAnswer {
                conversation: Conversation::chat(ChatId(5)),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again, vec![(MessageId(3), "second".to_string())]);
        let ctx = turns
            .begin(begin("second", 3, 10_000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            contents(&ctx),
            ["first", "answer one", "second"],
            "the question is not stored twice"
        );
        let empty = start(None)
            .1
            .send(DropLastAnswer {
                conversation: Conversation::chat(ChatId(9)),
            })
            .await
            .unwrap()
            .unwrap();
        assert!(empty.is_empty());
    }

    #[actix_rt::test]
    async fn a_chat_system_prompt_overrides_the_default_until_reset() {
        let (_d, sm, turns) = start(Some("Default."));
        let set = sm
            .send(SetSystemPrompt {
                chat: chat(5),
                prompt: Some("Talk like a pirate.".into()),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(set.own.as_deref(), Some("Talk like a pirate."));
        let ctx = turns.begin(begin("hi", 1, 10_000)).await.unwrap().unwrap();
        assert_eq!(ctx.prompt[0].content, "Talk like a pirate.");
        sm.send(SetSystemPrompt {
            chat: chat(5),
            prompt: None,
        })
        .await
        .unwrap()
        .unwrap();
        let ctx = turns
            .begin(begin("hi again", 2, 10_000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ctx.prompt[0].content, "Default.");
        let shown = sm
            .send(GetSystemPrompt {
                conversation: Conversation::chat(ChatId(5)),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (shown.own, shown.default.as_deref()),
            (None, Some("Default."))
        );
    }

    #[actix_rt::test]
    async fn a_group_the_bot_was_removed_from_takes_no_message_until_it_is_added_again() {
        let (_d, sm, turns) = start(None);
        let group = ChatRef {
            kind: "group".into(),
            ..chat(-5)
        };
        let in_group = |text: &str, id| BeginTurn {
            chat: group.clone(),
            ..begin(text, id, 10_000)
        };
        turns.begin(in_group("hello", 1)).await.unwrap().unwrap();
        let membership = |active| SetMembership {
            chat: group.clone(),
            active,
        };
        let blocked_at = || async {
            let detail = sm.send(GetChat { chat_id: group.id }).await.unwrap();
            detail.unwrap().unwrap().chat.blocked_at
        };

        sm.send(membership(false)).await.unwrap().unwrap();
        let queued = turns
            .begin(in_group("still there?", 2))
            .await
            .unwrap()
            .unwrap();
        let removed_at = blocked_at().await;
        sm.send(membership(true)).await.unwrap().unwrap();
        let back = turns.begin(in_group("back", 3)).await.unwrap().unwrap();

        assert!(queued.inactive && queued.prompt.is_empty(), "{queued:?}");
        assert!(
            removed_at.is_some(),
            "a queued message does not make it active"
        );
        assert!(!back.inactive);
        assert_eq!(
            contents(&back)[1..],
            ["hello", "back"],
            "the refused message was not stored"
        );
        assert_eq!(blocked_at().await, None);
    }

    #[actix_rt::test]
    async fn a_removal_from_a_group_never_seen_stores_it_as_inactive_and_a_blocked_private_chat_that_writes_is_active(
    ) {
        let (_d, sm, turns) = start(None);
        let unseen = ChatRef {
            kind: "supergroup".into(),
            title: Some("Club".into()),
            ..chat(-1_000_000_000_007)
        };
        turns.begin(begin("hi", 1, 10_000)).await.unwrap().unwrap();
        sm.send(MarkBlocked { chat_id: ChatId(5) })
            .await
            .unwrap()
            .unwrap();
        sm.send(SetMembership {
            chat: unseen.clone(),
            active: false,
        })
        .await
        .unwrap()
        .unwrap();

        let first = BeginTurn {
            chat: unseen.clone(),
            ..begin("hi", 1, 10_000)
        };
        let refused = turns.begin(first).await.unwrap().unwrap();
        let private = turns
            .begin(begin("again", 2, 10_000))
            .await
            .unwrap()
            .unwrap();

        assert!(refused.inactive);
        assert!(!private.inactive, "private chats as before");
        let club = sm.send(GetChat { chat_id: unseen.id }).await.unwrap();
        let club = club.unwrap().unwrap().chat;
        assert_eq!(
            (club.title.as_deref(), club.blocked_at.is_some()),
            (Some("Club"), true)
        );
        let mine = sm.send(GetChat { chat_id: ChatId(5) }).await.unwrap();
        assert_eq!(mine.unwrap().unwrap().chat.blocked_at, None);
    }

    #[actix_rt::test]
    async fn a_group_upgraded_to_a_supergroup_goes_on_with_its_conversation_under_the_new_id() {
        let (_d, sm, turns) = start(None);
        let (group, supergroup) = (chat(-5), chat(-1_000_000_000_005));
        sm.send(SetSystemPrompt {
            chat: group.clone(),
            prompt: Some("Be brief.".into()),
        })
        .await
        .unwrap()
        .unwrap();
        let old = BeginTurn {
            chat: group.clone(),
            ..begin("hello", 1, 10_000)
        };
        turns.begin(old).await.unwrap().unwrap();
        let answer = FinishTurn {
            conversation: group.conversation(),
            ..finish("hi there", 2)
        };
        turns.finish(answer).await.unwrap().unwrap();
        let migrate = || MigrateChat {
            from: group.id,
            to: supergroup.id,
        };

        let moved = sm.send(migrate()).await.unwrap().unwrap();
        let again = sm.send(migrate()).await.unwrap().unwrap();

        assert!(moved);
        assert!(!again, "a second migration moves nothing");
        // The supergroup's message ids start again: its message 1 is not the group's message 1.
        let next = BeginTurn {
            chat: supergroup.clone(),
            ..begin("and now?", 1, 10_000)
        };
        let ctx = turns.begin(next).await.unwrap().unwrap();
        assert_eq!(
            contents(&ctx),
            ["Be brief.", "hello", "hi there", "and now?"]
        );
        let stats = sm
            .send(GetStats {
                conversation: supergroup.conversation(),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!((stats.user_messages, stats.prompt_tokens), (2, 10));
        let old = sm
            .send(GetChat { chat_id: group.id })
            .await
            .unwrap()
            .unwrap();
        assert!(old.is_none(), "the group's row is gone");
    }

    #[actix_rt::test]
    async fn a_user_at_a_limit_is_refused_before_anything_is_stored_until_the_day_rolls_over() {
        use crate::db::spending::{Source, Spend, SpendKind};
        use crate::usage::{Limits, Period, Periods};
        let (_dir, sm, turns) = start(None);
        // 2026-12-03 12:00 UTC, and the next day.
        let today = Periods::at(1_796_299_200);
        let tomorrow = Periods::at(today.day_ends_at);
        let quota = |periods: &Periods| {
            Some(Quota {
                user: UserId(7),
                limits: Limits::of(100, 1000),
                periods: periods.clone(),
            })
        };
        turns
            .begin(begin("first", 1, 10_000))
            .await
            .unwrap()
            .unwrap();
        let spent = Spend {
            day: today.day.clone(),
            user: UserId(7),
            chat: ChatId(5),
            model: "m".into(),
            kind: SpendKind::Chat,
            source: Source::Server,
            prompt_tokens: 90,
            completion_tokens: 10,
        };
        let finish = FinishTurn {
            spend: Some(spent),
            ..finish("an answer", 2)
        };
        turns.finish(finish.clone()).await.unwrap().unwrap();
        turns.finish(finish).await.unwrap().unwrap();

        let refused = turns
            .begin(BeginTurn {
                attachments: Vec::new(),
                caption: None,
                quota: quota(&today),
                ..begin("second", 3, 10_000)
            })
            .await
            .unwrap()
            .unwrap();
        let next_day = turns
            .begin(BeginTurn {
                attachments: Vec::new(),
                caption: None,
                quota: quota(&tomorrow),
                ..begin("second", 3, 10_000)
            })
            .await
            .unwrap()
            .unwrap();

        let hit = refused.over_limit.expect("at the daily limit");
        assert_eq!(
            (hit.period, hit.used, hit.limit),
            (Period::Day, 100, 100),
            "recorded once"
        );
        assert!(refused.prompt.is_empty(), "nothing for the model");
        assert!(next_day.over_limit.is_none(), "a new day, a new budget");
        let last = next_day.prompt.last().unwrap();
        assert_eq!(last.content, "second", "stored only when allowed");
        let stats = sm
            .send(GetStats {
                conversation: Conversation::chat(ChatId(5)),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stats.user_messages, 2, "the refused turn stored nothing");
    }
}
