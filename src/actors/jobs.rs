//! One job, start to finish: what a ChatWorker runs for each job it takes. Not an actor: plain async code
//! over the Telegram and LLM clients and the SessionManager's address.
//!
//! A job never fails silently: any failure is logged once (with its cause) and the user gets a short,
//! human message — never a Rust error, never the bot token.

use crate::activity::kind_label;
use crate::actors::chat_worker::Generations;
use crate::actors::compressor::{CompressChat, CompressError, CompressOutcome, Compressor};
use crate::actors::delivery::{send_plain, Delivery};
use crate::actors::session_manager::{
    BeginTurn, ClearHistory, ContextUsage, FinishTurn, GetContextUsage, GetStats, GetSystemPrompt,
    SessionError, SessionManager, SetSystemPrompt, SystemPrompt,
};
use crate::actors::session_manager::{DropLastAnswer, MarkBlocked};
use crate::actors::supervision::catch_panic;
use crate::actors::turns::TurnBatcher;
use crate::commands::{self, BotCommand};
use crate::config::Config;
use crate::context::ContextWindow;
use crate::db::models::ChatStats;
use crate::ids::{ChatId, MessageId};
use crate::llm::reasoning::strip_reasoning;
use crate::llm::{Finish, LlmClient, LlmError};
use crate::queue::{
    FailOutcome, Job, JobKind, Lease, Notice, Priority, Progress, Queue, QueueError,
};
use crate::telegram::pacing::Pacer;
use crate::telegram::{BotApi, TelegramError};
use crate::text::{thousands, utc_minute};
use crate::tokens::TokenCounter;
use actix::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Telegram shows "typing…" for at most 5 s; refresh a little before that.
pub const TYPING_REFRESH: Duration = Duration::from_secs(4);
/// "typing…" is shown only when the model has not started its answer this long after being asked: a quick
/// answer is its own sign of life, and saves a Telegram call.
pub const TYPING_DELAY: Duration = Duration::from_millis(300);
/// How often a streaming answer looks at what arrived and updates the chat (pacing decides what goes).
pub const STREAM_TICK: Duration = Duration::from_millis(50);
/// Shown under an answer the model server may have cut short (aichat ends a failed stream like a normal one).
pub const CUT_OFF_NOTE: &str =
    "\n\n_(The answer may be incomplete: the model server stopped early.)_";
/// Shown under an answer the model ended at its output-token limit (`finish_reason: "length"`): it is cut.
pub const LENGTH_NOTE: &str =
    "\n\n_(The answer was cut off: it reached the model's length limit.)_";
/// Shown under an answer the server's content filter stopped (`finish_reason: "content_filter"`).
pub const FILTERED_NOTE: &str = "\n\n_(The model server's content filter stopped this answer.)_";
/// Shown under an answer stopped with /cancel.
pub const STOPPED_NOTE: &str = "\n\n_⏹ Stopped._";
/// Acknowledging a finished job is retried this often (Redis may be restarting) before giving up; the job
/// then runs again when its lease expires, and its recorded progress keeps the answer from being re-sent.
const ACK_ATTEMPTS: u32 = 5;
const ACK_RETRY_BASE: Duration = Duration::from_millis(200);

pub const TEXT_ONLY: &str =
    "I can only read text messages for now. Please send your question as text.";
pub const EMPTY_ANSWER: &str =
    "(The model returned an empty answer. Try rephrasing, or /clear to start over.)";
pub const INTERNAL_ERROR: &str =
    "⚠️ Something went wrong on my side while answering. Please try again.";
pub const MEMORY_ERROR: &str =
    "⚠️ I could not reach my memory of this conversation (a database problem). Please try again in a moment.";
pub const GAVE_UP: &str =
    "⚠️ Sorry, I could not answer your message: the bot was interrupted while \
    working on it. Please send it again.";
pub const NOTHING_TO_RETRY: &str = "There is no answer to regenerate yet.";
pub const QUEUE_ERROR: &str =
    "⚠️ I could not keep track of your message (the job queue is unavailable). \
    Please send it again in a moment.";

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
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Compress(#[from] CompressError),
}

impl JobError {
    /// Worth another attempt later.
    fn retryable(&self) -> bool {
        match self {
            // A timeout already took the whole JOB_TIMEOUT: do not make the user wait that long again.
            JobError::Llm(LlmError::Timeout) => false,
            JobError::Llm(e) => e.is_transient(),
            JobError::Telegram(e) => e.is_transient(),
            JobError::Session(_)
            | JobError::Mailbox(_)
            | JobError::Queue(_)
            | JobError::Compress(_) => true,
        }
    }

    /// What the user is told when the job is given up, if anything can be told.
    fn user_message(&self) -> Option<&'static str> {
        match self {
            JobError::Llm(e) => Some(e.user_message()),
            JobError::Session(_) | JobError::Mailbox(_) => Some(MEMORY_ERROR),
            JobError::Queue(_) => Some(QUEUE_ERROR),
            // Telegram itself failed: a message about it would most likely fail too.
            JobError::Telegram(_) => None,
            // Compression is the bot's own housekeeping: the user is not bothered with its failures.
            JobError::Compress(_) => None,
        }
    }
}

/// Everything a job needs. Lives on one worker's arbiter (awc clients are not `Send`).
pub struct JobRunner {
    pub api: BotApi,
    pub llm: LlmClient,
    pub sessions: Addr<SessionManager>,
    /// The SessionManager's turn steps, batched with those of the other jobs.
    pub turns: TurnBatcher,
    pub compressor: Addr<Compressor>,
    pub queue: Queue,
    pub config: Arc<Config>,
    pub tokens: Arc<TokenCounter>,
    pub window: Arc<ContextWindow>,
    pub pacer: Arc<Pacer>,
    pub generations: Arc<Generations>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl JobRunner {
    /// Runs a leased job to its end — acknowledged, retried later, or dead-lettered with the user told —
    /// within `JOB_TIMEOUT`, catching panics, and keeping its lease alive meanwhile.
    pub async fn run(&self, lease: Lease) -> &'static str {
        let chat = lease.job.chat_id();
        let started = std::time::Instant::now();
        let work = catch_panic(tokio::time::timeout(
            self.config.job_timeout,
            self.execute(&lease),
        ));
        let outcome = tokio::select! {
            outcome = work => outcome,
            never = keep_alive(&self.queue, &lease) => match never {},
        };
        let result = match outcome {
            Ok(Ok(Ok(()))) => {
                self.acknowledge(&lease).await;
                log::debug!(
                    "job {} for chat {chat} done in {:?}",
                    lease.id,
                    started.elapsed()
                );
                "done"
            }
            Ok(Ok(Err(JobError::Telegram(TelegramError::Forbidden { description, .. })))) => {
                // The user blocked the bot (or it left the group): nothing can be delivered; end quietly.
                log::info!(
                    "chat {chat} is unreachable ({description}); job {} ends",
                    lease.id
                );
                if let Err(e) = self.sessions.send(MarkBlocked { chat_id: chat }).await {
                    log::warn!("cannot mark chat {chat} as blocked: {e}");
                }
                self.acknowledge(&lease).await;
                "blocked"
            }
            Ok(Ok(Err(e))) => {
                self.failed(&lease, &e.to_string(), e.retryable(), e.user_message())
                    .await
            }
            Ok(Err(_elapsed)) => {
                let reason = format!(
                    "timed out after {:?} (JOB_TIMEOUT)",
                    self.config.job_timeout
                );
                self.failed(
                    &lease,
                    &reason,
                    false,
                    Some(LlmError::Timeout.user_message()),
                )
                .await
            }
            Err(panic) => {
                self.failed(
                    &lease,
                    &format!("panicked: {panic}"),
                    true,
                    Some(INTERNAL_ERROR),
                )
                .await
            }
        };
        self.metrics
            .jobs
            .with_label_values(&[lease.priority.as_str(), result])
            .inc();
        self.metrics
            .job_seconds
            .with_label_values(&[kind_label(&lease.job.kind)])
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// A job the queue gave up on because every attempt was cut short (the process died each time).
    pub async fn gave_up(&self, job: Job) {
        let chat = job.chat_id();
        log::error!(
            "job {} for chat {chat} was dead-lettered: its attempts never finished",
            job.id
        );
        if !matches!(job.kind, JobKind::Compress { .. }) {
            if let Err(e) = self.send_text(chat, reply_target(&job), GAVE_UP).await {
                log::warn!("could not tell chat {chat} that its message was given up: {e}");
            }
        }
    }

    async fn acknowledge(&self, lease: &Lease) {
        let mut wait = ACK_RETRY_BASE;
        for attempt in 1..=ACK_ATTEMPTS {
            match self.queue.ack(lease).await {
                Ok(true) => return,
                Ok(false) => {
                    log::warn!("job {} finished after its lease was lost; another worker had it", lease.id);
                    return;
                }
                Err(e) if attempt < ACK_ATTEMPTS => {
                    log::warn!("cannot acknowledge job {} ({e}); retrying in {wait:?}", lease.id);
                    actix_rt::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                }
                Err(e) => log::error!(
                    "cannot acknowledge job {} ({e}); it will run again when its lease expires, without \
                     sending its answer twice",
                    lease.id
                ),
            }
        }
    }

    /// Records a failed attempt (retry or dead letter, telling the user when it is final); returns the
    /// outcome's metrics label.
    async fn failed(
        &self,
        lease: &Lease,
        reason: &str,
        retry: bool,
        tell: Option<&'static str>,
    ) -> &'static str {
        let chat = lease.job.chat_id();
        match self.queue.fail(lease, reason, retry).await {
            Ok(FailOutcome::Retry(after)) => {
                log::warn!(
                    "job {} for chat {chat} failed (attempt {}): {reason}; retrying in {after:?}",
                    lease.id,
                    lease.attempt
                );
                "retried"
            }
            Ok(FailOutcome::Dead) => {
                log::warn!(
                    "job {} for chat {chat} failed for good (attempt {}): {reason}; dead-lettered",
                    lease.id,
                    lease.attempt
                );
                if let (Some(text), false) =
                    (tell, matches!(lease.job.kind, JobKind::Compress { .. }))
                {
                    if let Err(e) = self.send_text(chat, reply_target(&lease.job), text).await {
                        log::warn!("could not tell chat {chat} about the failure: {e}");
                    }
                }
                "dead"
            }
            Ok(FailOutcome::Stale) => {
                log::warn!("job {} failed after its lease was lost: {reason}", lease.id);
                "stale"
            }
            Err(e) => {
                log::error!(
                    "job {} failed ({reason}) and the queue cannot record it ({e}); it runs again when its \
                     lease expires",
                    lease.id
                );
                "unrecorded"
            }
        }
    }

    async fn execute(&self, lease: &Lease) -> Result<(), JobError> {
        // Read as the job was taken, with the messages merged into it.
        let progress = &lease.progress;
        match &lease.job.kind {
            JobKind::Chat {
                chat,
                message_id,
                text,
                ..
            } => {
                let mut messages = vec![(*message_id, text.clone())];
                for job in progress.merged.clone() {
                    if let JobKind::Chat {
                        message_id, text, ..
                    } = job.kind
                    {
                        messages.push((message_id, text));
                    }
                }
                if messages.len() > 1 {
                    log::debug!(
                        "chat {}: {} messages answered as one turn",
                        chat.id,
                        messages.len()
                    );
                }
                self.chat_turn(lease, progress, chat.clone(), messages)
                    .await
            }
            JobKind::Command {
                chat,
                message_id,
                command: BotCommand::Retry,
                ..
            } => {
                let again = self
                    .sessions
                    .send(DropLastAnswer { chat_id: chat.id })
                    .await??;
                if again.is_empty() {
                    self.deliver(
                        lease,
                        progress,
                        chat.id,
                        Some(*message_id),
                        NOTHING_TO_RETRY,
                    )
                    .await?;
                    return Ok(());
                }
                log::info!("chat {}: regenerating the last answer", chat.id);
                self.chat_turn(lease, progress, chat.clone(), again).await
            }
            JobKind::Command {
                chat,
                message_id,
                command,
                ..
            } => {
                let text = self.command(chat, command).await?;
                self.deliver(lease, progress, chat.id, Some(*message_id), &text)
                    .await?;
                Ok(())
            }
            JobKind::Notice {
                chat_id,
                reply_to,
                notice,
            } => {
                let text = match notice {
                    Notice::AccessDenied { user_id } => access_denied_text(*user_id),
                    Notice::TextOnly => TEXT_ONLY.to_string(),
                };
                self.deliver(lease, progress, *chat_id, *reply_to, &text)
                    .await?;
                Ok(())
            }
            JobKind::Compress { chat_id, .. } => {
                let outcome = self
                    .compressor
                    .send(CompressChat { chat_id: *chat_id })
                    .await??;
                if matches!(outcome, CompressOutcome::Compressed { .. }) {
                    self.metrics.compressions.inc();
                }
                if let (CompressOutcome::Compressed { before, after, .. }, true) =
                    (outcome, self.config.compression_notice)
                {
                    let note = compression_note(
                        self.tokens.corrected(self.llm.model(), before),
                        self.tokens.corrected(self.llm.model(), after),
                    );
                    self.deliver(lease, progress, *chat_id, None, &note).await?;
                }
                Ok(())
            }
        }
    }

    /// A user's message(s): context → LLM, streamed into the chat → answer saved → shown formatted → stored.
    /// On a retry, a saved answer is not asked again, and the messages an earlier attempt sent are edited
    /// instead of sending new ones.
    async fn chat_turn(
        &self,
        lease: &Lease,
        progress: &Progress,
        chat: crate::queue::ChatRef,
        messages: Vec<(MessageId, String)>,
    ) -> Result<(), JobError> {
        let chat_id = chat.id;
        let model = self.llm.model();
        let reply_to = messages.first().map(|(id, _)| *id);
        // The window is in the server's tokens; the database counts ours.
        let budget = self.raw_tokens(self.window.prompt_budget());
        let context = self
            .turns
            .begin(BeginTurn {
                chat,
                messages,
                budget,
            })
            .await??;
        let mut delivery = Delivery::new(
            &self.api,
            &self.pacer,
            &self.queue,
            lease,
            chat_id,
            reply_to,
            progress,
        );
        if let Some(size) = context.refused {
            let text = too_long_text(
                self.tokens.corrected(model, size),
                self.window.prompt_budget(),
            );
            delivery.finish_plain(&text).await?;
            return Ok(());
        }
        let (shown, usage) = match &progress.answer {
            Some(answer) => (answer.clone(), None),
            None => {
                if context.trimmed > 0 {
                    log::info!(
                        "chat {chat_id}: {} older messages left out to fit the window",
                        context.trimmed
                    );
                    send_plain(
                        &self.api,
                        &self.pacer,
                        chat_id,
                        None,
                        &trimmed_text(context.trimmed),
                    )
                    .await?;
                }
                log::debug!(
                    "chat {chat_id}: asking the model with {} messages (~{} tokens)",
                    context.prompt.len(),
                    context.tokens
                );
                let (shown, usage) = self
                    .generate(chat_id, &context.prompt, &mut delivery)
                    .await?;
                if let Some(usage) = usage {
                    self.tokens
                        .observe(model, context.tokens, usage.prompt_tokens);
                }
                // Saved before any of it is shown formatted: a retry (even after a crash right after a send)
                // shows this same answer, never a second, different one.
                self.queue.save_answer(lease, &shown).await?;
                (shown, usage)
            }
        };
        let first = delivery.finish(&shown).await?;
        // The notes and the placeholder for an empty answer are for the user, not the model's later context.
        let stored = match shown.as_str() {
            EMPTY_ANSWER => String::new(),
            text => text
                .trim_end_matches(CUT_OFF_NOTE)
                .trim_end_matches(LENGTH_NOTE)
                .trim_end_matches(FILTERED_NOTE)
                .trim_end_matches(STOPPED_NOTE)
                .to_string(),
        };
        let context_tokens = self
            .turns
            .finish(FinishTurn {
                chat_id,
                content: stored,
                telegram_message_id: first,
                usage,
            })
            .await??;
        if self.tokens.corrected(model, context_tokens) > self.window.threshold() {
            let job = Job::internal(
                format!("compress-{chat_id}"),
                JobKind::Compress {
                    chat_id,
                    context_tokens,
                },
            );
            match self.queue.enqueue(Priority::Low, &job).await {
                Ok(true) => {
                    log::debug!("chat {chat_id}: compression queued ({context_tokens} tokens)")
                }
                Ok(false) => {}
                Err(e) => log::warn!("could not queue compression for chat {chat_id}: {e}"),
            }
        }
        Ok(())
    }

    /// Streams the model's answer into the chat: "typing…" (from [`TYPING_DELAY`]) until the first text, then the text as it grows
    /// (paced), until the stream ends or `/cancel`. Returns the answer to show (reasoning removed, with a note
    /// when it was cut short or stopped) and the server's usage.
    async fn generate(
        &self,
        chat: ChatId,
        prompt: &[crate::llm::ChatMessage],
        delivery: &mut Delivery<'_>,
    ) -> Result<(String, Option<crate::llm::Usage>), JobError> {
        let asked = std::time::Instant::now();
        // Observed once, at the first token.
        let mut first_token = Some(self.metrics.llm_first_token_seconds.clone());
        let received = Rc::new(RefCell::new(String::new()));
        let sink = received.clone();
        // Wakes the loop at the first text, so it shows without waiting for the next tick.
        let first_text = Rc::new(tokio::sync::Notify::new());
        let first_signal = first_text.clone();
        let stream = self.llm.stream(
            prompt,
            self.config.llm_idle_timeout,
            self.config.job_timeout,
            move |delta| {
                if let Some(ttft) = first_token.take() {
                    ttft.observe(asked.elapsed().as_secs_f64());
                }
                sink.borrow_mut().push_str(delta);
                first_signal.notify_one();
            },
        );
        tokio::pin!(stream);
        let cancel = self.generations.begin(chat);
        let mut last_typing: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(STREAM_TICK);
        let mut shown_len = 0;
        let result = loop {
            tokio::select! {
                // In this order: an answer that is already complete is shown once, formatted, without
                // streaming it first.
                biased;
                result = &mut stream => break Some(result),
                () = cancel.notified() => break None,
                _ = async {
                    if shown_len == 0 {
                        first_text.notified().await;
                    } else {
                        std::future::pending::<()>().await;
                    }
                } => {
                    let text = strip_reasoning(&received.borrow());
                    if !text.is_empty() {
                        shown_len = text.len();
                        delivery.stream(&text).await?;
                    }
                }
                _ = tick.tick() => {
                    let text = strip_reasoning(&received.borrow());
                    if text.is_empty() {
                        let due = match last_typing {
                            None => asked.elapsed() >= TYPING_DELAY,
                            Some(at) => at.elapsed() >= TYPING_REFRESH,
                        };
                        if due {
                            self.show_typing(chat).await;
                            last_typing = Some(tokio::time::Instant::now());
                        }
                    } else if text.len() != shown_len {
                        shown_len = text.len();
                        delivery.stream(&text).await?;
                    }
                }
            }
        };
        self.generations.end(chat, &cancel);
        let (answer, note, usage) = match result {
            Some(Ok(outcome)) => {
                let note = match outcome.finish {
                    Finish::Stop => "",
                    Finish::Length => LENGTH_NOTE,
                    Finish::ContentFilter => FILTERED_NOTE,
                    Finish::CutOff => CUT_OFF_NOTE,
                };
                (strip_reasoning(&outcome.content), note, outcome.usage)
            }
            Some(Err(e)) => return Err(e.into()),
            None => {
                log::info!("chat {chat}: answer stopped by /cancel");
                (strip_reasoning(&received.borrow()), STOPPED_NOTE, None)
            }
        };
        let shown = if answer.is_empty() && note.is_empty() {
            EMPTY_ANSWER.to_string()
        } else {
            format!("{answer}{note}")
        };
        Ok((shown, usage))
    }

    /// Server tokens → our count, by the model's correction factor.
    fn raw_tokens(&self, server_tokens: usize) -> usize {
        let correction = self.tokens.correction(self.llm.model()).max(f64::EPSILON);
        (server_tokens as f64 / correction) as usize
    }

    /// "typing…" in the chat; a failure only costs the indicator.
    async fn show_typing(&self, chat: ChatId) {
        if let Err(e) = self.api.send_chat_action(chat, "typing").await {
            log::debug!("typing action for chat {chat} failed: {e}");
        }
    }

    /// The reply text of a command (its side effects, like `/clear`, are idempotent).
    async fn command(
        &self,
        chat: &crate::queue::ChatRef,
        command: &BotCommand,
    ) -> Result<String, JobError> {
        let chat_id = chat.id;
        Ok(match command {
            BotCommand::Start | BotCommand::Help => commands::help_text(self.llm.model()),
            BotCommand::Clear => {
                let n = self.sessions.send(ClearHistory { chat_id }).await??;
                log::info!("chat {chat_id}: cleared {n} messages");
                "Conversation cleared.".to_string()
            }
            BotCommand::Stats => {
                let stats = self.sessions.send(GetStats { chat_id }).await??;
                stats_text(&stats)
            }
            BotCommand::Context => {
                let usage = self.sessions.send(GetContextUsage { chat_id }).await??;
                let corrected = ContextUsage {
                    with_summary: self.tokens.corrected(self.llm.model(), usage.with_summary),
                    without_summary: self
                        .tokens
                        .corrected(self.llm.model(), usage.without_summary),
                    summary_tokens: self
                        .tokens
                        .corrected(self.llm.model(), usage.summary_tokens),
                };
                context_text(self.llm.model(), &self.window, &corrected)
            }
            BotCommand::System { text: None } => {
                let prompt = self.sessions.send(GetSystemPrompt { chat_id }).await??;
                system_text(&prompt)
            }
            BotCommand::System { text: Some(text) } => {
                let reset = text.eq_ignore_ascii_case("reset");
                let set = SetSystemPrompt {
                    chat: chat.clone(),
                    prompt: (!reset).then(|| text.clone()),
                };
                let prompt = self.sessions.send(set).await??;
                if reset {
                    format!(
                        "System prompt reset to the default.\n\n{}",
                        system_text(&prompt)
                    )
                } else {
                    "System prompt set for this chat. It applies from your next message."
                        .to_string()
                }
            }
            BotCommand::Cancel => {
                if self.generations.cancel(chat_id) {
                    "Stopping the answer in progress.".to_string()
                } else {
                    "There is no answer in progress to stop.".to_string()
                }
            }
            // Handled as a chat turn (see `execute`); never reaches here.
            BotCommand::Retry => String::new(),
            BotCommand::Unknown { text } => commands::unknown_command_text(text),
        })
    }

    /// Delivers a plain-text reply exactly once (see [`Delivery`]).
    async fn deliver(
        &self,
        lease: &Lease,
        progress: &Progress,
        chat: ChatId,
        reply_to: Option<MessageId>,
        text: &str,
    ) -> Result<Option<MessageId>, JobError> {
        let mut delivery = Delivery::new(
            &self.api,
            &self.pacer,
            &self.queue,
            lease,
            chat,
            reply_to,
            progress,
        );
        Ok(delivery.finish_plain(text).await?)
    }

    /// Sends a text outside any job's delivery record (failure notices).
    async fn send_text(
        &self,
        chat: ChatId,
        reply_to: Option<MessageId>,
        text: &str,
    ) -> Result<(), TelegramError> {
        send_plain(&self.api, &self.pacer, chat, reply_to, text).await
    }
}

/// Extends the lease every third of its length, for as long as the job runs (never returns).
async fn keep_alive(queue: &Queue, lease: &Lease) -> std::convert::Infallible {
    let period = queue.settings().lease / 3;
    let mut lost = false;
    loop {
        actix_rt::time::sleep(period).await;
        if lost {
            continue;
        }
        match queue.extend(lease).await {
            Ok(true) => {}
            Ok(false) => {
                log::warn!(
                    "job {} lost its lease (it ran too long without renewing it)",
                    lease.id
                );
                lost = true;
            }
            Err(e) => log::warn!("cannot extend the lease of job {}: {e}", lease.id),
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
        "Messages: {} ({} from you, {} from me)\nTokens in history (estimated): {}",
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
    out.push_str(&format!(
        "\nCompressions: {}",
        thousands(s.compressions.unsigned_abs())
    ));
    if let Some(first) = s.first_at {
        out.push_str(&format!("\nStarted: {}", utc_minute(first)));
    }
    if let Some(last) = s.last_at {
        out.push_str(&format!("\nLast activity: {}", utc_minute(last)));
    }
    out
}

pub fn context_text(model: &str, window: &ContextWindow, usage: &ContextUsage) -> String {
    let size = window.window();
    // Display only: precision loss on huge numbers is irrelevant.
    let percent = |n: usize| n as f64 * 100.0 / size.max(1) as f64;
    let mut out = format!(
        "Model: {model}\nContext window: {} tokens\nCompression threshold: {} tokens ({:.0}%)\n\
         Current usage: {} tokens ({:.1}% of the window)",
        thousands(size as u64),
        thousands(window.threshold() as u64),
        window.ratio() * 100.0,
        thousands(usage.with_summary as u64),
        percent(usage.with_summary),
    );
    if usage.summary_tokens > 0 {
        out.push_str(&format!(
            "\nWithout the summary: {} tokens ({:.1}% of the window); the summary takes {}",
            thousands(usage.without_summary as u64),
            percent(usage.without_summary),
            thousands(usage.summary_tokens as u64),
        ));
    }
    out
}

pub fn system_text(prompt: &SystemPrompt) -> String {
    match (&prompt.own, &prompt.default) {
        (Some(own), _) => format!("This chat's system prompt:\n{own}\n\n/system reset restores the default."),
        (None, Some(default)) => format!(
            "This chat uses the default system prompt:\n{default}\n\nSet your own with /system <text>."
        ),
        (None, None) => "This chat has no system prompt. Set one with /system <text>.".to_string(),
    }
}

pub fn compression_note(before: usize, after: usize) -> String {
    format!(
        "🗜 Our conversation got long, so I summarised its older part ({} → {} tokens of context). Nothing \
         was deleted: /context shows the details, /clear starts over.",
        thousands(before as u64),
        thousands(after as u64)
    )
}

pub fn too_long_text(size: usize, limit: usize) -> String {
    format!(
        "⚠️ Your message is too long for the model: about {} tokens, and at most {} fit in its context \
         window. Please send a shorter text.",
        thousands(size as u64),
        thousands(limit as u64)
    )
}

pub fn trimmed_text(left_out: usize) -> String {
    format!(
        "ℹ️ This conversation no longer fits the model's context window: the oldest {left_out} message(s) \
         are left out of this answer's context (they are still stored; /clear starts over)."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ContextConfig;

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
            compressions: 1,
        };
        let t = stats_text(&s);
        assert!(t.contains("Messages: 4 (2 from you, 2 from me)"), "{t}");
        assert!(t.contains("Tokens in history (estimated): 1,234"), "{t}");
        assert!(t.contains("Compressions: 1"), "{t}");
        assert!(t.contains("Started: 1970-01-01 00:00 UTC"), "{t}");
        assert!(t.contains("Last activity: 1970-01-01 00:01 UTC"), "{t}");
        assert!(stats_text(&ChatStats::default()).contains("No conversation yet"));
    }

    #[test]
    fn context_text_shows_window_threshold_and_usage_with_and_without_summary() {
        let window = ContextWindow::new(&ContextConfig {
            window_tokens: 128_000,
            window_explicit: false,
            compress_ratio: 0.75,
            keep_recent_messages: 6,
        });
        let usage = ContextUsage {
            with_summary: 1280,
            without_summary: 64_000,
            summary_tokens: 300,
        };
        let t = context_text("m1", &window, &usage);
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
        assert!(
            t.contains("Without the summary: 64,000 tokens (50.0% of the window)"),
            "{t}"
        );
    }
}
