//! One job, start to finish: what a ChatWorker runs for each job it takes. Not an actor: plain async code
//! over the Telegram and LLM clients and the SessionManager's address.
//!
//! A job never fails silently: any failure is logged once (with its cause) and the user gets a short,
//! human message — never a Rust error, never the bot token.

use crate::actors::compressor::{CompressChat, Compressor};
use crate::actors::session_manager::{
    BeginTurn, ClearHistory, FinishTurn, GetContextTokens, GetStats, SessionError, SessionManager,
};
use crate::actors::supervision::catch_panic;
use crate::commands::{self, BotCommand};
use crate::config::Config;
use crate::db::models::ChatStats;
use crate::ids::{ChatId, MessageId};
use crate::llm::{LlmClient, LlmError};
use crate::queue::{Job, JobKind, Notice, Priority, Queue};
use crate::telegram::types::{Message, ReplyParameters, SendMessage};
use crate::telegram::{split_message, BotApi, TelegramError, MAX_MESSAGE_UTF16};
use crate::text::{thousands, utc_minute};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// Telegram shows "typing…" for at most 5 s; refresh a little before that.
pub const TYPING_REFRESH: Duration = Duration::from_secs(4);
/// Sending one message is retried this many times on transient errors (5xx, network, 429).
pub const SEND_ATTEMPTS: u32 = 5;
/// First wait between send attempts (doubled each time) when Telegram gave no `retry_after`.
pub const SEND_RETRY_BASE: Duration = Duration::from_millis(500);
/// A `retry_after` longer than this is not waited out inside a job.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

pub const TEXT_ONLY: &str =
    "I can only read text messages for now. Please send your question as text.";
pub const EMPTY_ANSWER: &str =
    "(The model returned an empty answer. Try rephrasing, or /clear to start over.)";
pub const INTERNAL_ERROR: &str =
    "⚠️ Something went wrong on my side while answering. Please try again.";
pub const MEMORY_ERROR: &str =
    "⚠️ I could not reach my memory of this conversation (a database problem). Please try again in a moment.";

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Telegram(#[from] TelegramError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("the session manager is unavailable: {0}")]
    Mailbox(#[from] MailboxError),
}

impl JobError {
    /// What the user is told, if anything can be told.
    fn user_message(&self) -> Option<&'static str> {
        match self {
            JobError::Llm(e) => Some(e.user_message()),
            JobError::Session(_) | JobError::Mailbox(_) => Some(MEMORY_ERROR),
            // Telegram itself failed: a message about it would most likely fail too.
            JobError::Telegram(_) => None,
        }
    }
}

/// Everything a job needs. Lives on one worker's arbiter (awc clients are not `Send`).
pub struct JobRunner {
    pub api: BotApi,
    pub llm: LlmClient,
    pub sessions: Addr<SessionManager>,
    pub compressor: Addr<Compressor>,
    pub queue: Queue,
    pub config: Arc<Config>,
}

impl JobRunner {
    /// Runs a job within `JOB_TIMEOUT`, catching panics; failures end in a message to the user.
    pub async fn run(&self, job: Job) {
        let chat = job.chat_id();
        let reply_to = reply_target(&job);
        let started = std::time::Instant::now();
        let outcome = catch_panic(tokio::time::timeout(
            self.config.job_timeout,
            self.execute(&job),
        ))
        .await;
        let apology = match outcome {
            Ok(Ok(Ok(()))) => {
                log::debug!(
                    "job {} for chat {chat} done in {:?}",
                    job.id,
                    started.elapsed()
                );
                None
            }
            Ok(Ok(Err(e))) => {
                log::warn!("job {} for chat {chat} failed: {e}", job.id);
                e.user_message()
            }
            Ok(Err(_elapsed)) => {
                log::warn!(
                    "job {} for chat {chat} timed out after {:?} (JOB_TIMEOUT)",
                    job.id,
                    self.config.job_timeout
                );
                Some(LlmError::Timeout.user_message())
            }
            Err(panic) => {
                log::error!("job {} for chat {chat} panicked: {panic}", job.id);
                Some(INTERNAL_ERROR)
            }
        };
        if let (Some(text), false) = (apology, matches!(job.kind, JobKind::Compress { .. })) {
            if let Err(e) = self.send_text(chat, reply_to, text).await {
                log::warn!("could not tell chat {chat} about the failure: {e}");
            }
        }
    }

    async fn execute(&self, job: &Job) -> Result<(), JobError> {
        match &job.kind {
            JobKind::Chat {
                chat,
                message_id,
                text,
                ..
            } => {
                self.chat_turn(BeginTurn {
                    chat: chat.clone(),
                    message_id: *message_id,
                    text: text.clone(),
                })
                .await
            }
            JobKind::Command {
                chat,
                message_id,
                command,
                ..
            } => self.command(chat.id, *message_id, command).await,
            JobKind::Notice {
                chat_id,
                reply_to,
                notice,
            } => {
                let text = match notice {
                    Notice::AccessDenied { user_id } => access_denied_text(*user_id),
                    Notice::TextOnly => TEXT_ONLY.to_string(),
                };
                self.send_text(*chat_id, *reply_to, &text).await?;
                Ok(())
            }
            JobKind::Compress {
                chat_id,
                context_tokens,
            } => {
                self.compressor
                    .send(CompressChat {
                        chat_id: *chat_id,
                        context_tokens: *context_tokens,
                    })
                    .await?;
                Ok(())
            }
        }
    }

    /// A user's message: context → LLM (showing "typing…") → answer delivered → answer stored.
    async fn chat_turn(&self, begin: BeginTurn) -> Result<(), JobError> {
        let chat = begin.chat.id;
        let reply_to = begin.message_id;
        let context = self.sessions.send(begin).await??;
        log::debug!(
            "chat {chat}: asking the model with {} messages (~{} tokens)",
            context.prompt.len(),
            context.tokens
        );
        let completion = {
            self.show_typing(chat).await;
            let llm = self.llm.complete(&context.prompt, self.config.job_timeout);
            tokio::pin!(llm);
            let start = tokio::time::Instant::now() + TYPING_REFRESH;
            let mut typing = tokio::time::interval_at(start, TYPING_REFRESH);
            loop {
                tokio::select! {
                    result = &mut llm => break result?,
                    _ = typing.tick() => self.show_typing(chat).await,
                }
            }
        };
        let answer = completion.content.trim();
        let text = if answer.is_empty() {
            EMPTY_ANSWER
        } else {
            answer
        };
        let first = self.send_text(chat, Some(reply_to), text).await?;
        let context_tokens = self
            .sessions
            .send(FinishTurn {
                chat_id: chat,
                content: text.to_string(),
                telegram_message_id: first,
                usage: completion.usage,
            })
            .await??;
        if context_tokens > self.config.context.compress_threshold() {
            let job = Job::internal(
                "compress",
                JobKind::Compress {
                    chat_id: chat,
                    context_tokens,
                },
            );
            if let Err(e) = self.queue.enqueue(Priority::Low, &job).await {
                log::warn!("could not queue compression for chat {chat}: {e}");
            }
        }
        Ok(())
    }

    /// "typing…" in the chat; a failure only costs the indicator.
    async fn show_typing(&self, chat: ChatId) {
        if let Err(e) = self.api.send_chat_action(chat, "typing").await {
            log::debug!("typing action for chat {chat} failed: {e}");
        }
    }

    async fn command(
        &self,
        chat: ChatId,
        reply_to: MessageId,
        command: &BotCommand,
    ) -> Result<(), JobError> {
        let text = match command {
            BotCommand::Start | BotCommand::Help => commands::help_text(self.llm.model()),
            BotCommand::Clear => {
                let n = self.sessions.send(ClearHistory { chat_id: chat }).await??;
                log::info!("chat {chat}: cleared {n} messages");
                "Conversation cleared.".to_string()
            }
            BotCommand::Stats => {
                let stats = self.sessions.send(GetStats { chat_id: chat }).await??;
                stats_text(&stats)
            }
            BotCommand::Context => {
                let used = self
                    .sessions
                    .send(GetContextTokens { chat_id: chat })
                    .await??;
                context_text(self.llm.model(), &self.config, used)
            }
            BotCommand::Unknown { text } => commands::unknown_command_text(text),
        };
        self.send_text(chat, Some(reply_to), &text).await?;
        Ok(())
    }

    /// Sends a text of any length as as many messages as it takes; the first replies to `reply_to`.
    /// Returns the id of the first message sent.
    async fn send_text(
        &self,
        chat: ChatId,
        reply_to: Option<MessageId>,
        text: &str,
    ) -> Result<Option<MessageId>, TelegramError> {
        let mut first = None;
        for (i, piece) in split_message(text, MAX_MESSAGE_UTF16)
            .into_iter()
            .enumerate()
        {
            let message = SendMessage {
                chat_id: chat,
                text: piece,
                parse_mode: None,
                reply_parameters: reply_to
                    .filter(|_| i == 0)
                    .map(|message_id| ReplyParameters {
                        message_id,
                        allow_sending_without_reply: true,
                    }),
            };
            let sent = send_with_retry(&self.api, &message).await?;
            first = first.or(Some(sent.message_id));
        }
        Ok(first)
    }
}

/// Sends one message, waiting out `retry_after` and retrying 5xx and network failures with back-off.
pub async fn send_with_retry(
    api: &BotApi,
    message: &SendMessage,
) -> Result<Message, TelegramError> {
    let mut wait = SEND_RETRY_BASE;
    let mut attempt = 1;
    loop {
        match api.send_message(message).await {
            Ok(sent) => return Ok(sent),
            Err(e) if e.is_transient() && attempt < SEND_ATTEMPTS => {
                let delay = match e.retry_after() {
                    Some(after) if after > MAX_RETRY_AFTER => return Err(e),
                    Some(after) => after,
                    None => wait,
                };
                log::warn!(
                    "sendMessage to chat {} failed ({e}); retrying in {delay:?} (attempt {attempt}/{SEND_ATTEMPTS})",
                    message.chat_id
                );
                actix_rt::time::sleep(delay).await;
                wait = wait.saturating_mul(2);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn reply_target(job: &Job) -> Option<MessageId> {
    match &job.kind {
        JobKind::Chat { message_id, .. } | JobKind::Command { message_id, .. } => Some(*message_id),
        JobKind::Notice { reply_to, .. } => *reply_to,
        JobKind::Compress { .. } => None,
    }
}

pub fn access_denied_text(user: crate::ids::UserId) -> String {
    format!(
        "Access denied.\nYour Telegram user id is {user}. If this is your bot, add it to ALLOWED_USER_IDS."
    )
}

pub fn stats_text(s: &ChatStats) -> String {
    let total = s.user_messages + s.assistant_messages;
    if total == 0 {
        return "No conversation yet: send me a message to start one.".to_string();
    }
    let mut out = format!(
        "Messages: {} ({} from you, {} from me)\nTokens in history: {}",
        thousands(total.unsigned_abs()),
        thousands(s.user_messages.unsigned_abs()),
        thousands(s.assistant_messages.unsigned_abs()),
        thousands(s.tokens.unsigned_abs()),
    );
    if s.prompt_tokens > 0 || s.completion_tokens > 0 {
        out.push_str(&format!(
            "\nTokens reported by the model server: {} prompt, {} completion",
            thousands(s.prompt_tokens.unsigned_abs()),
            thousands(s.completion_tokens.unsigned_abs())
        ));
    }
    if let Some(first) = s.first_at {
        out.push_str(&format!("\nStarted: {}", utc_minute(first)));
    }
    if let Some(last) = s.last_at {
        out.push_str(&format!("\nLast activity: {}", utc_minute(last)));
    }
    out
}

pub fn context_text(model: &str, config: &Config, used: usize) -> String {
    let window = config.context.window_tokens;
    let threshold = config.context.compress_threshold();
    // Display only: precision loss on huge numbers is irrelevant.
    let percent = used as f64 * 100.0 / window.max(1) as f64;
    format!(
        "Model: {model}\nContext window: {} tokens\nCompression threshold: {} tokens ({:.0}%)\nCurrent usage: {} tokens ({percent:.1}% of the window)",
        thousands(window as u64),
        thousands(threshold as u64),
        config.context.compress_ratio * 100.0,
        thousands(used as u64),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_text_reads_well() {
        let s = ChatStats {
            user_messages: 2,
            assistant_messages: 2,
            tokens: 1234,
            prompt_tokens: 0,
            completion_tokens: 0,
            first_at: Some(0),
            last_at: Some(60),
        };
        let t = stats_text(&s);
        assert!(t.contains("Messages: 4 (2 from you, 2 from me)"), "{t}");
        assert!(t.contains("Tokens in history: 1,234"), "{t}");
        assert!(t.contains("Started: 1970-01-01 00:00 UTC"), "{t}");
        assert!(t.contains("Last activity: 1970-01-01 00:01 UTC"), "{t}");
        assert!(stats_text(&ChatStats::default()).contains("No conversation yet"));
    }

    #[test]
    fn context_text_shows_window_threshold_and_usage() {
        let config = Config::from_vars([
            ("TELEGRAM_BOT_TOKEN".to_string(), "1:abcdef".to_string()),
            ("ALLOWED_USER_IDS".to_string(), "1".to_string()),
        ])
        .unwrap();
        let t = context_text("m1", &config, 1280);
        assert!(t.contains("Model: m1"), "{t}");
        assert!(t.contains("Context window: 128,000 tokens"), "{t}");
        assert!(
            t.contains("Compression threshold: 96,000 tokens (75%)"),
            "{t}"
        );
        assert!(
            t.contains("Current usage: 1,280 tokens (1.0% of the window)"),
            "{t}"
        );
    }
}
