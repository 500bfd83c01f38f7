//! A group's memory (`GROUP_CONTEXT_MESSAGES`): its latest messages that did not address the bot, kept in Redis
//! as the list `p:groupctx:{conversation}` (`{chat}`, or `{chat}/{topic}` in a forum topic) for the next turn that addresses it. The poller keeps them in the same
//! atomic step that queues its batch ([`Queue::enqueue_updates_keeping`]); the job that answers the group
//! reads those before its message ([`Queue::group_context`]) and then forgets them
//! ([`Queue::forget_group_context`]).
//!
//! Each entry is `{message_id} {text}`: the id says which turn a kept message comes before (message ids grow
//! per chat, across its topics).

use super::job::Priority;
use super::poller_role::Fence;
use super::redis_queue::{bounded, Queue, CALL_TIMEOUT};
use super::types::QueueError;
use super::Job;
use crate::ids::{Conversation, MessageId, UpdateId};
use std::time::Duration;

/// A group's kept messages expire this long after the last one was kept: a discussion a day old is no longer
/// the context of a question, and a group that went quiet leaves nothing behind.
pub const GROUP_CONTEXT_TTL: Duration = Duration::from_secs(24 * 3600);

/// One group message that did not address the bot, to keep in the group's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptMessage {
    /// Its update: kept once, however often Telegram delivers it (the same `p:seen:{update_id}` mark as a job).
    pub update_id: UpdateId,
    /// The group, or its forum topic: each topic keeps its own.
    pub conversation: Conversation,
    pub message_id: MessageId,
    /// What the model is to read of it: `Name: text`.
    pub text: String,
}

/// What a batch keeps in the groups' memory: the messages, and how many a group keeps.
#[derive(Debug, Clone, Copy)]
pub(super) struct GroupMemory<'a> {
    pub(super) kept: &'a [KeptMessage],
    /// `GROUP_CONTEXT_MESSAGES`; 0 keeps nothing.
    pub(super) keep: usize,
}

impl GroupMemory<'_> {
    /// Nothing to keep (a job the bot made itself; group memory off).
    pub(super) const NONE: GroupMemory<'static> = GroupMemory { kept: &[], keep: 0 };

    /// The enqueue script's group-memory arguments: keep, expiry, count, then each message.
    pub(super) fn args(&self, inv: &mut redis::ScriptInvocation<'_>) {
        let kept = if self.keep == 0 { &[][..] } else { self.kept };
        inv.arg(self.keep)
            .arg(GROUP_CONTEXT_TTL.as_secs())
            .arg(kept.len());
        for m in kept {
            inv.arg(m.update_id.0)
                .arg(m.conversation.to_string())
                .arg(format!("{} {}", m.message_id.0, m.text));
        }
    }
}

impl Queue {
    /// Like [`Queue::enqueue_updates`], and keeps `kept` in their groups' memory (the last `keep` of each
    /// group), in the same atomic step: nothing is kept for a batch that was not queued. With a `fence`, only
    /// while it holds the poller role (else [`QueueError::NotThePoller`], nothing queued).
    pub async fn enqueue_updates_keeping(
        &self,
        jobs: &[(UpdateId, Priority, Job)],
        kept: &[KeptMessage],
        keep: usize,
        fence: Option<&Fence>,
    ) -> Result<usize, QueueError> {
        let items: Vec<(Option<UpdateId>, Priority, &Job)> =
            jobs.iter().map(|(u, p, j)| (Some(*u), *p, j)).collect();
        self.enqueue_all(&items, &GroupMemory { kept, keep }, fence)
            .await
    }

    /// The texts kept in the memory of `conversation` (a group or its topic) that came before the message
    /// `up_to` (its id at most), oldest first.
    pub async fn group_context(
        &self,
        conversation: Conversation,
        up_to: MessageId,
    ) -> Result<Vec<String>, QueueError> {
        let mut conn = self.conn.clone();
        let entries: Vec<String> = bounded(
            CALL_TIMEOUT,
            redis::cmd("LRANGE")
                .arg(self.key(&["groupctx", &conversation.to_string()]))
                .arg(0)
                .arg(-1)
                .query_async(&mut conn),
        )
        .await?;
        Ok(entries
            .iter()
            .filter_map(|e| parse_entry(e))
            .filter(|(id, _)| *id <= up_to.0)
            .map(|(_, text)| text.to_string())
            .collect())
    }

    /// Forgets what [`Queue::group_context`] gave for `up_to`; what came later stays. Returns how many went.
    pub async fn forget_group_context(
        &self,
        conversation: Conversation,
        up_to: MessageId,
    ) -> Result<usize, QueueError> {
        let mut inv = self.scripts.forget.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(conversation.to_string())
            .arg(up_to.0);
        let mut conn = self.conn.clone();
        bounded(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await
    }
}

/// `{message_id} {text}` → its parts; `None` for anything else (it is skipped, never fatal).
fn parse_entry(entry: &str) -> Option<(i64, &str)> {
    let (id, text) = entry.split_once(' ')?;
    Some((id.parse().ok()?, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_its_message_id_then_its_text() {
        assert_eq!(parse_entry("42 Ann: hi there"), Some((42, "Ann: hi there")));
        assert_eq!(parse_entry("-7 Bob: x"), Some((-7, "Bob: x")));
        assert_eq!(parse_entry("garbage"), None);
        assert_eq!(parse_entry("x Ann: hi"), None);
    }
}
