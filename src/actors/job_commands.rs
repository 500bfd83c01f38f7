//! The bot's commands, as a job runs them: `/retry` answers the last message again; every other command
//! replies with a text from [`crate::texts`] (its side effects, like `/clear`, are idempotent, so a retried
//! job may run them twice).

use crate::actors::jobs::{JobError, JobRunner};
use crate::actors::session_manager::{
    ClearHistory, DropLastAnswer, GetContextUsage, GetStats, GetSystemPrompt, SetSystemPrompt,
};
use crate::commands::BotCommand;
use crate::ids::MessageId;
use crate::queue::{ChatRef, Lease};
use crate::texts;

impl JobRunner {
    /// A command: `/retry` answers again, every other command replies with a text (its side effects, like
    /// `/clear`, are idempotent).
    pub(super) async fn command(
        &self,
        lease: &Lease,
        chat: &ChatRef,
        message_id: MessageId,
        command: &BotCommand,
    ) -> Result<(), JobError> {
        let chat_id = chat.id;
        let model = self.llm.model();
        let text = match command {
            BotCommand::Retry => {
                let again = self.sessions.send(DropLastAnswer { chat_id }).await??;
                if again.is_empty() {
                    texts::NOTHING_TO_RETRY.to_string()
                } else {
                    log::info!("chat {chat_id}: regenerating the last answer");
                    return self.chat_turn(lease, chat.clone(), again).await;
                }
            }
            BotCommand::Start | BotCommand::Help => texts::help(model),
            BotCommand::Clear => {
                let n = self.sessions.send(ClearHistory { chat_id }).await??;
                log::info!("chat {chat_id}: cleared {n} messages");
                if chat.kind != "private" && self.config.group_context_messages > 0 {
                    // What the group said before /clear is forgotten too. Only context: a failure costs nothing.
                    if let Err(e) = self.queue.forget_group_context(chat_id, message_id).await {
                        log::warn!(
                            "chat {chat_id}: the group's kept messages could not be cleared: {e}"
                        );
                    }
                }
                texts::CLEARED.to_string()
            }
            BotCommand::Stats => texts::stats(&self.sessions.send(GetStats { chat_id }).await??),
            BotCommand::Context => {
                let usage = self.sessions.send(GetContextUsage { chat_id }).await??;
                let corrected = texts::ContextFigures {
                    with_summary: self.tokens.corrected(model, usage.with_summary),
                    without_summary: self.tokens.corrected(model, usage.without_summary),
                    summary_tokens: self.tokens.corrected(model, usage.summary_tokens),
                };
                texts::context(model, &self.window, &corrected)
            }
            BotCommand::System { text: None } => {
                let prompt = self.sessions.send(GetSystemPrompt { chat_id }).await??;
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
            BotCommand::Cancel => if self.generations.cancel(chat_id) {
                texts::CANCELLING
            } else {
                texts::NOTHING_TO_CANCEL
            }
            .to_string(),
            BotCommand::Unknown { text } => texts::unknown_command(text),
        };
        self.reply(lease, chat_id, Some(message_id), &text).await
    }
}
