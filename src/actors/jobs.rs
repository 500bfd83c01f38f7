//! One job, start to finish: what a ChatWorker runs for each job it takes. Not an actor: plain async code
//! over the Telegram and LLM clients and the SessionManager's address.
//!
//! A chat message's path, top-down: the worker takes the job → [`JobRunner::run`] → begin the turn (store
//! the user's messages, build the prompt) → generate (stream the answer into the chat) → save the answer →
//! finish the delivery (shown formatted) → finish the turn (store the answer) → queue a compression if due →
//! acknowledge.
//!
//! A job never fails silently: any failure is logged once (with its cause) and the user gets a short,
//! human message from [`crate::texts`] — never a Rust error, never the bot token.

use crate::activity::kind_label;
use crate::actors::compressor::{CompressError, Compressor};
use crate::actors::generations::Generations;
use crate::actors::job_groups::of_old_group;
use crate::actors::job_media::TurnMedia;
use crate::actors::session_manager::{
    BeginTurn, FinishTurn, MarkBlocked, Quota, SessionError, SessionManager, SetMembership,
    TurnContext,
};
use crate::actors::supervision::catch_panic;
use crate::actors::turns::TurnBatcher;
use crate::catalog::ModelCatalog;
use crate::config::Config;
use crate::ids::{ChatId, Conversation, MessageId, UserId};
use crate::llm::reasoning::strip_reasoning;
use crate::llm::{ChatMessage, Finish, LlmClient, LlmError, Usage};
use crate::queue::{
    AttachmentKind, ChatRef, FailOutcome, Job, JobKind, Lease, Notice, Queue, QueueError,
};
use crate::telegram::addressing::is_group;
use crate::telegram::delivery::{send_plain, Delivery, PartRecorder};
use crate::telegram::pacing::{Class, Pacer};
use crate::telegram::{BotApi, TelegramError};
use crate::text::now_unix;
use crate::texts;
use crate::tokens::TokenCounter;
use crate::usage::Periods;
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
/// Acknowledging a finished job is retried this often (Redis may be restarting) before giving up; the job
/// then runs again when its lease expires, and its recorded progress keeps the answer from being re-sent.
const ACK_ATTEMPTS: u32 = 5;
const ACK_RETRY_BASE: Duration = Duration::from_millis(200);

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
            JobError::Llm(e) => Some(texts::llm_failure(e)),
            JobError::Session(_) | JobError::Mailbox(_) => Some(texts::MEMORY_ERROR),
            JobError::Queue(_) => Some(texts::QUEUE_ERROR),
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
    /// The models: each conversation's window, the server's list, `AICHAT_MODEL`.
    pub catalog: Arc<ModelCatalog>,
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
            Ok(Ok(Err(JobError::Telegram(TelegramError::TopicGone { description, .. })))) => {
                // The forum topic was closed or deleted: nobody can read an answer there; end quietly.
                let conversation = lease.job.conversation();
                log::info!(
                    "chat {conversation}: the topic is closed or gone ({description}); job {} ends",
                    lease.id
                );
                self.acknowledge(&lease).await;
                "topic_gone"
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
                    Some(texts::llm_failure(&LlmError::Timeout)),
                )
                .await
            }
            Err(panic) => {
                self.failed(
                    &lease,
                    &format!("panicked: {panic}"),
                    true,
                    Some(texts::INTERNAL_ERROR),
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
        let chat = job.conversation();
        log::error!(
            "job {} for chat {chat} was dead-lettered: its attempts never finished",
            job.id
        );
        if tells_user(&job) {
            if let Err(e) = self
                .send_text(chat, reply_target(&job), texts::GAVE_UP)
                .await
            {
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
        let chat = lease.job.conversation();
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
                if let (Some(text), true) = (tell, tells_user(&lease.job)) {
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
        match &lease.job.kind {
            JobKind::Chat {
                chat,
                user_id,
                message_id,
                text,
            } => {
                // Read as the job was taken, with the messages merged into it.
                let mut messages = vec![(*message_id, text.clone())];
                for job in &lease.progress.merged {
                    if let JobKind::Chat {
                        message_id, text, ..
                    } = &job.kind
                    {
                        messages.push((*message_id, text.clone()));
                    }
                }
                if messages.len() > 1 {
                    log::debug!(
                        "chat {}: {} messages answered as one turn",
                        chat.id,
                        messages.len()
                    );
                }
                let (chat, moved) = self.current_chat(chat).await?;
                if moved {
                    for (id, _) in &mut messages {
                        *id = of_old_group(*id);
                    }
                }
                self.chat_turn(lease, chat, *user_id, messages, TurnMedia::default())
                    .await
            }
            JobKind::Media { .. } => self.media_job(lease).await,
            JobKind::Command {
                chat,
                user_id,
                message_id,
                command,
            } => {
                let (chat, moved) = self.current_chat(chat).await?;
                let message_id = if moved {
                    of_old_group(*message_id)
                } else {
                    *message_id
                };
                self.command(lease, &chat, *user_id, message_id, command)
                    .await
            }
            JobKind::Notice {
                reply_to, notice, ..
            } => {
                let mut delivery = self.delivery(lease, lease.job.conversation(), *reply_to);
                let text = match notice {
                    Notice::AccessDenied { user_id } => {
                        // Someone who may not use the bot waits behind everyone who may.
                        delivery = delivery.with_class(Class::Courtesy);
                        texts::access_denied(*user_id)
                    }
                    Notice::TextOnly => texts::TEXT_ONLY.to_string(),
                    Notice::PrivateOnly => texts::PRIVATE_ONLY.to_string(),
                };
                delivery.finish_plain(&text).await?;
                Ok(())
            }
            JobKind::Compress { .. } => self.compress(lease, lease.job.conversation()).await,
            JobKind::Migrate { from, to } => self.migrate(*from, *to).await,
            JobKind::Tap {
                chat,
                query_id,
                message_id,
                data,
                ..
            } => self.tap(chat, query_id, *message_id, data).await,
            JobKind::RefuseTap { query_id, .. } => self.refuse_tap(query_id).await,
            JobKind::Membership { chat, active } => {
                log::info!(
                    "chat {}: the bot was {} the group",
                    chat.id,
                    if *active { "added to" } else { "removed from" }
                );
                let (chat, active) = (chat.clone(), *active);
                Ok(self.sessions.send(SetMembership { chat, active }).await??)
            }
        }
    }

    /// A user's message(s), top-down: begin the turn → generate (streamed into the chat) → save the answer →
    /// finish the delivery (formatted) → finish the turn. On a retry, a saved answer is not asked again, and
    /// the messages an earlier attempt sent are edited instead of sending new ones.
    pub(super) async fn chat_turn(
        &self,
        lease: &Lease,
        chat: ChatRef,
        user: UserId,
        messages: Vec<(MessageId, String)>,
        media: TurnMedia,
    ) -> Result<(), JobError> {
        let conversation = chat.conversation();
        let now = now_unix();
        let periods = Periods::at(now);
        let is_file = media
            .attachments
            .iter()
            .any(|a| a.kind == AttachmentKind::Document);
        // Only a basic group can become a supergroup under a running turn.
        let basic_group = chat.kind == "group";
        let reply_to = messages.first().map(|(id, _)| *id);
        // The group's memory of the messages before this turn's last one (in a group, when it is on).
        let memory = messages
            .iter()
            .map(|(id, _)| *id)
            .max()
            .filter(|_| self.config.group_context_messages > 0 && is_group(&chat.kind));
        let mut context = self
            .turns
            .begin(BeginTurn {
                chat,
                messages,
                budget: self.prompt_budget(),
                attachments: media.attachments,
                caption: media.caption,
                quota: Some(Quota {
                    user,
                    limits: self.config.usage.limits.for_user(user),
                    periods: periods.clone(),
                }),
            })
            .await??;
        // The conversation's model, read with its context: the switch of a `/model` taken before this turn
        // holds, one taken after waits for it.
        let model = self.catalog.model_of(context.model.as_deref()).to_string();
        if context.inactive {
            log::info!(
                "chat {conversation}: the bot was removed from this group; the message ends unanswered"
            );
            return Ok(());
        }
        let mut delivery = self.delivery(lease, conversation, reply_to);
        if let Some(hit) = context.over_limit {
            log::info!(
                "chat {conversation}: user {user} is at a token limit; the model is not asked"
            );
            let text = texts::over_limit(&hit, &periods, now);
            delivery.finish_plain(&text).await?;
            return Ok(());
        }
        if let Some(size) = context.refused {
            let too_long = if is_file {
                texts::file_too_long
            } else {
                texts::too_long
            };
            let text = too_long(
                self.tokens.corrected(&model, size),
                self.catalog.size_of(&model).prompt_budget(),
            );
            delivery.finish_plain(&text).await?;
            return Ok(());
        }
        // `fresh`: the model was asked in this attempt (a saved answer was paid for before).
        let (shown, usage, fresh) = match &lease.progress.answer {
            Some(answer) => (answer.clone(), None, false),
            None => {
                self.show_photos(&model, &mut context, &media.fetched)
                    .await?;
                if let Some(up_to) = memory {
                    let budget = self.prompt_budget().of(context.model.as_deref());
                    self.add_group_memory(conversation, up_to, &mut context, budget)
                        .await;
                }
                let (shown, usage) = self
                    .answer(conversation, &model, &context, &mut delivery)
                    .await?;
                // Saved before any of it is shown formatted: a retry (even after a crash right after a send)
                // shows this same answer, never a second, different one.
                self.queue.save_answer(lease, &shown).await?;
                (shown, usage, true)
            }
        };
        let first = delivery.finish(&shown).await?;
        // Where the answer went: the supergroup, if the group became one on the way (the conversation moved).
        let conversation = delivery.conversation();
        // The answer as stored (without its notes): what the history keeps and what is counted as used.
        let content = texts::answer_for_history(&shown);
        let spend = self.spend_of(
            &periods,
            user,
            conversation,
            &model,
            &context,
            &content,
            usage,
        );
        if fresh {
            self.count_request(&spend);
        }
        let finish = |conversation| FinishTurn {
            conversation,
            content: content.clone(),
            telegram_message_id: first,
            usage,
            spend: Some(spend.clone()),
        };
        let (conversation, context_tokens) = match self.turns.finish(finish(conversation)).await? {
            Ok(tokens) => (conversation, tokens),
            // The group became a supergroup while this turn ran, and its conversation moved without this
            // answer (there is no chat to store it in now): the answer follows.
            Err(e) if basic_group => match self.queue.migrated(conversation.chat).await? {
                Some(to) => {
                    let to = Conversation::chat(to);
                    (to, self.turns.finish(finish(to)).await??)
                }
                None => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        if let Some(up_to) = memory {
            // Given once: the next turn gets only what was said after this one.
            if let Err(e) = self.queue.forget_group_context(conversation, up_to).await {
                log::warn!("chat {conversation}: could not forget the group's kept messages: {e}");
            }
        }
        self.queue_compression_if_due(conversation, &model, context_tokens)
            .await;
        Ok(())
    }

    /// Asks the model for the answer to `context`, streamed into `delivery`; teaches the token counter from
    /// the server's usage.
    async fn answer(
        &self,
        chat: Conversation,
        model: &str,
        context: &TurnContext,
        delivery: &mut Delivery<'_, LeaseRecorder<'_>>,
    ) -> Result<(String, Option<Usage>), JobError> {
        if context.trimmed > 0 {
            log::info!(
                "chat {chat}: {} older messages left out to fit the window",
                context.trimmed
            );
            send_plain(
                &self.api,
                &self.pacer,
                chat,
                None,
                &texts::trimmed(context.trimmed),
            )
            .await?;
        }
        log::debug!(
            "chat {chat}: asking {model} with {} messages (~{} tokens)",
            context.prompt.len(),
            context.tokens
        );
        let llm = self.llm.with_model(model);
        let (shown, usage) = self.generate(chat, &llm, &context.prompt, delivery).await?;
        if let Some(usage) = usage {
            self.tokens
                .observe(model, context.tokens, usage.prompt_tokens);
        }
        Ok((shown, usage))
    }

    /// Streams the model's answer into the chat: "typing…" (from [`TYPING_DELAY`]) until the first text, then
    /// the text as it grows (paced), until the stream ends or `/cancel`. Returns the answer to show (reasoning
    /// removed, with a note when it was cut short or stopped) and the server's usage.
    async fn generate(
        &self,
        chat: Conversation,
        llm: &LlmClient,
        prompt: &[ChatMessage],
        delivery: &mut Delivery<'_, LeaseRecorder<'_>>,
    ) -> Result<(String, Option<Usage>), JobError> {
        let asked = std::time::Instant::now();
        // Observed once, at the first token.
        let mut first_token = Some(self.metrics.llm_first_token_seconds.clone());
        let received = Rc::new(RefCell::new(String::new()));
        let sink = received.clone();
        // Wakes the loop at the first text, so it shows without waiting for the next tick.
        let first_text = Rc::new(tokio::sync::Notify::new());
        let first_signal = first_text.clone();
        let stream = llm.stream(
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
        // Registered for `/cancel` until this function returns, however it returns.
        let generation = self.generations.begin(chat);
        let mut last_typing: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(STREAM_TICK);
        let mut shown_len = 0;
        let result = loop {
            tokio::select! {
                // In this order: an answer that is already complete is shown once, formatted, without
                // streaming it first.
                biased;
                result = &mut stream => break Some(result),
                () = generation.cancelled() => break None,
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
        drop(generation);
        let (answer, note, usage) = match result {
            Some(Ok(outcome)) => {
                let note = match outcome.finish {
                    Finish::Stop => "",
                    Finish::Length => texts::LENGTH_NOTE,
                    Finish::ContentFilter => texts::FILTERED_NOTE,
                    Finish::CutOff => texts::CUT_OFF_NOTE,
                };
                (strip_reasoning(&outcome.content), note, outcome.usage)
            }
            Some(Err(e)) => return Err(e.into()),
            None => {
                log::info!("chat {chat}: answer stopped by /cancel");
                (
                    strip_reasoning(&received.borrow()),
                    texts::STOPPED_NOTE,
                    None,
                )
            }
        };
        let shown = if answer.is_empty() && note.is_empty() {
            texts::EMPTY_ANSWER.to_string()
        } else {
            format!("{answer}{note}")
        };
        Ok((shown, usage))
    }

    /// "typing…" in the chat; a failure only costs the indicator.
    async fn show_typing(&self, chat: Conversation) {
        if let Err(e) = self.api.send_chat_action(chat, "typing").await {
            log::debug!("typing action for chat {chat} failed: {e}");
        }
    }

    /// The job's delivery into `chat`: continues the messages an earlier attempt sent, and records each new
    /// one with the lease.
    pub(super) fn delivery<'a>(
        &'a self,
        lease: &'a Lease,
        chat: Conversation,
        reply_to: Option<MessageId>,
    ) -> Delivery<'a, LeaseRecorder<'a>> {
        Delivery::new(
            &self.api,
            &self.pacer,
            chat,
            // A message of a group that became a supergroup is not in the supergroup: reply to nothing.
            reply_to.filter(|id| id.0 > 0),
            lease.progress.delivered(),
            LeaseRecorder {
                runner: self,
                lease,
            },
        )
    }

    /// Delivers a plain-text reply exactly once (see [`Delivery`]).
    pub(super) async fn reply(
        &self,
        lease: &Lease,
        chat: Conversation,
        reply_to: Option<MessageId>,
        text: &str,
    ) -> Result<(), JobError> {
        self.delivery(lease, chat, reply_to)
            .finish_plain(text)
            .await?;
        Ok(())
    }

    /// Sends a text outside any job's delivery record (failure notices).
    async fn send_text(
        &self,
        chat: Conversation,
        reply_to: Option<MessageId>,
        text: &str,
    ) -> Result<(), TelegramError> {
        send_plain(&self.api, &self.pacer, chat, reply_to, text).await
    }
}

/// Records each delivered message of a job's answer with its lease, so a retried attempt continues them; and
/// moves the conversation when the delivery learns that its group became a supergroup.
pub struct LeaseRecorder<'a> {
    runner: &'a JobRunner,
    lease: &'a Lease,
}

impl PartRecorder for LeaseRecorder<'_> {
    async fn moved(&self, from: ChatId, to: ChatId) {
        if let Err(e) = self.runner.migrate(from, to).await {
            log::warn!("chat {from} became the supergroup {to}, but its conversation could not follow: {e}");
        }
    }

    async fn record(&self, index: usize, message_id: MessageId) {
        if let Err(e) = self
            .runner
            .queue
            .record_part(self.lease, index, message_id)
            .await
        {
            // Not fatal: the message is out. Only a crash before the job ends could now send it twice.
            log::warn!(
                "job {}: could not record delivered part {index}: {e}",
                self.lease.id
            );
        }
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

/// Whether the user hears of this job's failure: not of the bot's own housekeeping (compression, a chat's move,
/// the bot's membership), nor of a tap (its keyboard message and the client's spinner say enough).
fn tells_user(job: &Job) -> bool {
    !matches!(
        job.kind,
        JobKind::Compress { .. }
            | JobKind::Migrate { .. }
            | JobKind::Membership { .. }
            | JobKind::Tap { .. }
            | JobKind::RefuseTap { .. }
    )
}

fn reply_target(job: &Job) -> Option<MessageId> {
    match &job.kind {
        JobKind::Chat { message_id, .. }
        | JobKind::Media { message_id, .. }
        | JobKind::Command { message_id, .. } => Some(*message_id),
        JobKind::Notice { reply_to, .. } => *reply_to,
        JobKind::Compress { .. }
        | JobKind::Migrate { .. }
        | JobKind::Membership { .. }
        | JobKind::Tap { .. }
        | JobKind::RefuseTap { .. } => None,
    }
}
