//! What a job does for groups: a group that became a supergroup is followed (its conversation, settings and
//! queued jobs move), and a group's memory of the messages not addressed to the bot joins the prompt.

use crate::actors::jobs::{JobError, JobRunner};
use crate::actors::session_manager::MigrateChat;
use crate::context::{add_group_memory, TurnContext};
use crate::ids::{ChatId, Conversation, MessageId};
use crate::queue::ChatRef;

impl JobRunner {
    /// The group `from` became the supergroup `to`: its conversation and settings move (SQLite), and its jobs
    /// still queued will run in `to` (Redis). Idempotent: Telegram tells it twice (a service message in each
    /// chat), and a job may learn it from an answer too.
    pub(super) async fn migrate(&self, from: ChatId, to: ChatId) -> Result<(), JobError> {
        // Redis first: a turn of the group that cannot store its answer any more looks there (see `chat_turn`).
        self.queue.record_migration(from, to).await?;
        let moved = self.sessions.send(MigrateChat { from, to }).await??;
        if moved {
            log::info!("chat {from} became the supergroup {to}: its conversation follows");
        }
        Ok(())
    }

    /// The chat a job of `chat` runs in, and whether it moved: a basic group that became a supergroup is
    /// followed there (only basic groups become supergroups, so other chats cost no lookup).
    pub(super) async fn current_chat(&self, chat: &ChatRef) -> Result<(ChatRef, bool), JobError> {
        if chat.kind != "group" {
            return Ok((chat.clone(), false));
        }
        Ok(match self.queue.migrated(chat.id).await? {
            Some(to) => (
                ChatRef {
                    id: to,
                    kind: "supergroup".into(),
                    title: chat.title.clone(),
                    // A basic group has no topics.
                    topic: None,
                },
                true,
            ),
            None => (chat.clone(), false),
        })
    }

    /// Adds the kept messages of the group (or its topic) before `up_to` to the prompt, within `budget`. The memory is only context:
    /// when Redis cannot give it, the turn goes on without it.
    pub(super) async fn add_group_memory(
        &self,
        chat: Conversation,
        up_to: MessageId,
        context: &mut TurnContext,
        budget: usize,
    ) {
        let kept = match self.queue.group_context(chat, up_to).await {
            Ok(kept) => kept,
            Err(e) => {
                log::warn!("chat {chat}: the group's kept messages are not available ({e}); answering without");
                return;
            }
        };
        if kept.is_empty() {
            return;
        }
        let left_out = add_group_memory(context, &kept, budget, |t| self.tokens.count_message(t));
        log::debug!(
            "chat {chat}: {} of the group's kept messages go with this turn",
            kept.len() - left_out
        );
    }
}

/// The id a message of a group keeps once its job runs in the supergroup the group became: negative, so it
/// names no message there (the supergroup's ids start again at 1) and a retried job still stores it once.
pub(super) fn of_old_group(id: MessageId) -> MessageId {
    MessageId(-id.0.abs())
}
