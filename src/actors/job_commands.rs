//! The bot's commands, as a job runs them: `/retry` answers the last message again; every other command
//! replies with a text from [`crate::texts`] (its side effects, like `/clear`, are idempotent, so a retried
//! job may run them twice).

use crate::actors::job_media::TurnMedia;
use crate::actors::jobs::{JobError, JobRunner};
use crate::actors::session_manager::{
    ClearHistory, DropLastAnswer, GetContextUsage, GetSettings, GetStats, GetSystemPrompt,
    SetSystemPrompt,
};
use crate::commands::BotCommand;
use crate::ids::{Conversation, MessageId, UserId};
use crate::queue::{ChatRef, Lease};
use crate::texts;

impl JobRunner {
    /// A command: `/retry` answers again, every other command replies with a text (its side effects, like
    /// `/clear`, are idempotent).
    pub(super) async fn command(
        &self,
        lease: &Lease,
        chat: &ChatRef,
        user: UserId,
        message_id: MessageId,
        command: &BotCommand,
    ) -> Result<(), JobError> {
        let conversation = chat.conversation();
        let text = match command {
            BotCommand::Retry => {
                let again = self
                    .sessions
                    .send(DropLastAnswer { conversation })
                    .await??;
                if again.is_empty() {
                    texts::NOTHING_TO_RETRY.to_string()
                } else {
                    log::info!("chat {conversation}: regenerating the last answer");
                    return self
                        .chat_turn(lease, chat.clone(), user, again, TurnMedia::default())
                        .await;
                }
            }
            BotCommand::Start | BotCommand::Help => {
                texts::help(&self.model_of(conversation).await?)
            }
            BotCommand::Clear => {
                let n = self.sessions.send(ClearHistory { conversation }).await??;
                log::info!("chat {conversation}: cleared {n} messages");
                if chat.kind != "private" && self.config.group_context_messages > 0 {
                    // What the group said before /clear is forgotten too. Only context: a failure costs nothing.
                    if let Err(e) = self
                        .queue
                        .forget_group_context(conversation, message_id)
                        .await
                    {
                        log::warn!(
                            "chat {conversation}: the group's kept messages could not be cleared: {e}"
                        );
                    }
                }
                texts::CLEARED.to_string()
            }
            BotCommand::Stats => {
                texts::stats(&self.sessions.send(GetStats { conversation }).await??)
            }
            BotCommand::Context => {
                let model = self.model_of(conversation).await?;
                let model = model.as_str();
                let usage = self
                    .sessions
                    .send(GetContextUsage { conversation })
                    .await??;
                let corrected = texts::ContextFigures {
                    with_summary: self.tokens.corrected(model, usage.with_summary),
                    without_summary: self.tokens.corrected(model, usage.without_summary),
                    summary_tokens: self.tokens.corrected(model, usage.summary_tokens),
                };
                texts::context(model, &self.catalog.size_of(model), &corrected)
            }
            BotCommand::System { text: None } => {
                let prompt = self
                    .sessions
                    .send(GetSystemPrompt { conversation })
                    .await??;
                texts::system_prompt(prompt.own.as_deref(), prompt.default.as_deref())
            }
            BotCommand::System { text: Some(text) } => {
                let reset = text.eq_ignore_ascii_case("reset");
                let set = SetSystemPrompt {
                    chat: chat.clone(),
                    prompt: (!reset).then(|| text.clone()),
                };
                let prompt = self.sessions.send(set).await??;
                if reset {
                    texts::system_prompt_reset(prompt.default.as_deref())
                } else {
                    texts::SYSTEM_PROMPT_SET.to_string()
                }
            }
            BotCommand::Cancel => if self.generations.cancel(conversation) {
                texts::CANCELLING
            } else {
                texts::NOTHING_TO_CANCEL
            }
            .to_string(),
            BotCommand::Model { choice } => {
                return self
                    .model_command(lease, chat, message_id, choice.as_deref())
                    .await;
            }
            BotCommand::Role { choice } => {
                return self
                    .role_command(lease, chat, message_id, choice.as_deref())
                    .await;
            }
            BotCommand::Usage { all } => self.usage_text(user, *all).await?,
            BotCommand::Unknown { text } => texts::unknown_command(text),
        };
        self.reply(lease, conversation, Some(message_id), &text)
            .await
    }

    /// The model the conversation uses (its own, else `AICHAT_MODEL`), read when a command shows it or a
    /// compression needs it.
    pub(super) async fn model_of(&self, conversation: Conversation) -> Result<String, JobError> {
        let settings = self.sessions.send(GetSettings { conversation }).await??;
        Ok(self.catalog.model_of(settings.model.as_deref()).to_string())
    }
}
