//! SessionManager: owns all SQLite state (chats, messages, token counts, usage) through Diesel.
//!
//! Runs on a `SyncArbiter` (Diesel blocks). Every handler runs inside [`catch_panic_sync`]: a panic is turned
//! into an error for the sender, and the actor stops, so the arbiter builds a fresh one from its factory.

use crate::actors::supervision::catch_panic_sync;
use crate::db::models::{ChatStats, NewChat, NewMessage};
use crate::db::{self, queries, DbError, DbPool};
use crate::health::Health;
use crate::ids::{ChatId, MessageId};
use crate::llm::{ChatMessage, Role, Usage};
use crate::queue::ChatRef;
use crate::text::now_unix;
use crate::tokens::TokenCounter;
use actix::prelude::*;
use diesel::Connection;
use std::sync::Arc;

// ---- Messages ----------------------------------------------------------------------------------------------

/// From a ChatWorker when a user's message (or several merged ones) is taken up: stores them (once, however
/// often the job runs) and returns the prompt for the LLM — system prompt, then the chat's history ending
/// with these messages.
#[derive(Debug, Message)]
#[rtype(result = "Result<TurnContext, SessionError>")]
pub struct BeginTurn {
    pub chat: ChatRef,
    /// In arrival order.
    pub messages: Vec<(MessageId, String)>,
}

/// From a ChatWorker once the answer was delivered: stores it with its token count and the server's usage
/// (once: a retried job that stores the same delivered message again changes nothing). Replies with the
/// chat's context size afterwards (tokens), so the worker can ask for compression.
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, SessionError>")]
pub struct FinishTurn {
    pub chat_id: ChatId,
    pub content: String,
    pub telegram_message_id: Option<MessageId>,
    pub usage: Option<Usage>,
}

/// `/clear`: forgets the chat's history. Replies with the number of messages deleted.
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, SessionError>")]
pub struct ClearHistory {
    pub chat_id: ChatId,
}

/// `/stats`.
#[derive(Debug, Message)]
#[rtype(result = "Result<ChatStats, SessionError>")]
pub struct GetStats {
    pub chat_id: ChatId,
}

/// `/context`: the tokens the chat's context currently takes (system prompt included).
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, SessionError>")]
pub struct GetContextTokens {
    pub chat_id: ChatId,
}

/// From `/ready`: can the database be queried?
#[derive(Debug, Message)]
#[rtype(result = "Result<(), SessionError>")]
pub struct Ping;

/// What a turn sends to the LLM.
#[derive(Debug, Clone)]
pub struct TurnContext {
    pub prompt: Vec<ChatMessage>,
    /// Tokens of `prompt` by our count.
    pub tokens: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("session manager failed: {0}")]
    Internal(String),
}

impl From<diesel::result::Error> for SessionError {
    fn from(e: diesel::result::Error) -> Self {
        SessionError::Db(DbError::Query(e))
    }
}

impl From<r2d2::Error> for SessionError {
    fn from(e: r2d2::Error) -> Self {
        SessionError::Db(DbError::Pool(e))
    }
}

// ---- Actor -------------------------------------------------------------------------------------------------

pub struct SessionManager {
    pool: DbPool,
    tokens: Arc<TokenCounter>,
    /// `SYSTEM_PROMPT`, used when a chat has none of its own.
    default_system_prompt: Option<String>,
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
            default_system_prompt,
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

    /// Runs a handler body; a panic becomes an error and the actor is replaced.
    fn guarded<T>(
        &mut self,
        ctx: &mut SyncContext<Self>,
        what: &str,
        f: impl FnOnce(&mut Self) -> Result<T, SessionError>,
    ) -> Result<T, SessionError> {
        match catch_panic_sync(|| f(self)) {
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

    fn system_prompt(&self, chat_prompt: Option<String>) -> Option<String> {
        chat_prompt
            .or_else(|| self.default_system_prompt.clone())
            .filter(|p| !p.trim().is_empty())
    }
}

impl Actor for SessionManager {
    type Context = SyncContext<Self>;
}

// ---- Handlers ----------------------------------------------------------------------------------------------

impl Handler<BeginTurn> for SessionManager {
    type Result = Result<TurnContext, SessionError>;

    fn handle(&mut self, msg: BeginTurn, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.guarded(ctx, "BeginTurn", |this| {
            let now = now_unix();
            let counted: Vec<(MessageId, &str, usize)> = msg
                .messages
                .iter()
                .map(|(id, text)| (*id, text.as_str(), this.tokens.count_message(text)))
                .collect();
            let mut conn = this.pool.get()?;
            let (chat_prompt, history) = conn.transaction::<_, SessionError, _>(|conn| {
                queries::upsert_chat(
                    conn,
                    &NewChat {
                        id: msg.chat.id.0,
                        kind: &msg.chat.kind,
                        title: msg.chat.title.as_deref(),
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                for (id, text, tokens) in &counted {
                    queries::insert_message(
                        conn,
                        &NewMessage {
                            chat_id: msg.chat.id.0,
                            role: Role::User.as_str(),
                            content: text,
                            tokens: clamp_i32(*tokens),
                            telegram_message_id: Some(id.0),
                            created_at: now,
                        },
                    )?;
                }
                let chat = queries::find_chat(conn, msg.chat.id)?;
                let history = queries::active_history(conn, msg.chat.id)?;
                Ok((chat.and_then(|c| c.system_prompt), history))
            })?;
            let mut prompt = Vec::with_capacity(history.len() + 1);
            let mut tokens = 0usize;
            if let Some(system) = this.system_prompt(chat_prompt) {
                tokens += this.tokens.count_message(&system);
                prompt.push(ChatMessage::new(Role::System, system));
            }
            for row in history {
                let Some(role) = Role::parse(&row.role) else {
                    continue;
                };
                tokens += usize::try_from(row.tokens).unwrap_or(0);
                prompt.push(ChatMessage::new(role, row.content));
            }
            Ok(TurnContext { prompt, tokens })
        })
    }
}

impl Handler<FinishTurn> for SessionManager {
    type Result = Result<usize, SessionError>;

    fn handle(&mut self, msg: FinishTurn, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.guarded(ctx, "FinishTurn", |this| {
            let tokens = this.tokens.count_message(&msg.content);
            let mut conn = this.pool.get()?;
            conn.transaction::<_, SessionError, _>(|conn| {
                let added = queries::insert_message(
                    conn,
                    &NewMessage {
                        chat_id: msg.chat_id.0,
                        role: Role::Assistant.as_str(),
                        content: &msg.content,
                        tokens: clamp_i32(tokens),
                        telegram_message_id: msg.telegram_message_id.map(|m| m.0),
                        created_at: now_unix(),
                    },
                )?;
                if let (true, Some(usage)) = (added, msg.usage) {
                    queries::add_usage(
                        conn,
                        msg.chat_id,
                        i64::try_from(usage.prompt_tokens).unwrap_or(i64::MAX),
                        i64::try_from(usage.completion_tokens).unwrap_or(i64::MAX),
                    )?;
                }
                let total = queries::active_tokens(conn, msg.chat_id)?;
                Ok(usize::try_from(total).unwrap_or(0))
            })
        })
    }
}

impl Handler<ClearHistory> for SessionManager {
    type Result = Result<usize, SessionError>;

    fn handle(&mut self, msg: ClearHistory, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.guarded(ctx, "ClearHistory", |this| {
            let mut conn = this.pool.get()?;
            Ok(queries::clear_history(&mut conn, msg.chat_id)?)
        })
    }
}

impl Handler<GetStats> for SessionManager {
    type Result = Result<ChatStats, SessionError>;

    fn handle(&mut self, msg: GetStats, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.guarded(ctx, "GetStats", |this| {
            let mut conn = this.pool.get()?;
            Ok(queries::chat_stats(&mut conn, msg.chat_id)?)
        })
    }
}

impl Handler<GetContextTokens> for SessionManager {
    type Result = Result<usize, SessionError>;

    fn handle(&mut self, msg: GetContextTokens, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.guarded(ctx, "GetContextTokens", |this| {
            let mut conn = this.pool.get()?;
            let history = queries::active_tokens(&mut conn, msg.chat_id)?;
            let chat_prompt =
                queries::find_chat(&mut conn, msg.chat_id)?.and_then(|c| c.system_prompt);
            let system = this
                .system_prompt(chat_prompt)
                .map_or(0, |s| this.tokens.count_message(&s));
            Ok(usize::try_from(history).unwrap_or(0) + system)
        })
    }
}

impl Handler<Ping> for SessionManager {
    type Result = Result<(), SessionError>;

    fn handle(&mut self, _: Ping, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.guarded(ctx, "Ping", |this| {
            let mut conn = this.pool.get()?;
            diesel::RunQueryDsl::execute(diesel::sql_query("SELECT 1"), &mut conn)?;
            Ok(())
        })
    }
}

/// Token counts are stored as SQLite INTEGER via i32; a single message never comes near the limit.
fn clamp_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
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

    fn chat(id: i64) -> ChatRef {
        ChatRef {
            id: ChatId(id),
            kind: "private".into(),
            title: None,
        }
    }

    #[actix_rt::test]
    async fn a_turn_is_stored_and_comes_back_as_context() {
        let dir = tempfile::tempdir().unwrap();
        let pool = db::open(&dir.path().join("s.db"), 2).unwrap();
        let sm = SessionManager::start(
            1,
            pool,
            Arc::new(TokenCounter::estimate_only()),
            Some("Be brief.".into()),
            Arc::new(Health::new()),
        );
        let begin = |text: &str, id: i64| BeginTurn {
            chat: chat(5),
            messages: vec![(MessageId(id), text.into())],
        };
        let first = sm.send(begin("hello", 1)).await.unwrap().unwrap();
        assert_eq!(first.prompt.len(), 2);
        assert_eq!(first.prompt[0], ChatMessage::new(Role::System, "Be brief."));
        let after = sm
            .send(FinishTurn {
                chat_id: ChatId(5),
                content: "hi there".into(),
                telegram_message_id: Some(MessageId(2)),
                usage: Some(Usage {
                    prompt_tokens: 10,
                    completion_tokens: 2,
                }),
            })
            .await
            .unwrap()
            .unwrap();
        assert!(after > 0);
        // The same user message again (a retried job) is not stored twice.
        sm.send(begin("hello", 1)).await.unwrap().unwrap();
        let second = sm.send(begin("and you?", 3)).await.unwrap().unwrap();
        let contents: Vec<_> = second.prompt.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["Be brief.", "hello", "hi there", "and you?"]);
        let stats = sm
            .send(GetStats { chat_id: ChatId(5) })
            .await
            .unwrap()
            .unwrap();
        assert_eq!((stats.user_messages, stats.assistant_messages), (2, 1));
        assert_eq!(stats.prompt_tokens, 10);
        assert_eq!(
            sm.send(ClearHistory { chat_id: ChatId(5) })
                .await
                .unwrap()
                .unwrap(),
            3
        );
        assert!(sm.send(Ping).await.unwrap().is_ok());
    }
}
