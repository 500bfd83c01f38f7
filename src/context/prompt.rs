//! A turn's prompt, built from a chat's stored context: the system prompt, the summary in use, then as many of
//! the newest turns as fit the budget.

use crate::db::models::{AttachmentRow, MessageRow};
use crate::llm::{ChatMessage, Role};
use crate::media::Attachment;
use crate::telegram::addressing::is_group;
use std::sync::Arc;

/// How the summary is put in front of the model: it tells the model that what follows the summary is the
/// rest of the same conversation, not a new one.
pub const SUMMARY_PREFIX: &str = "Summary of the earlier part of this conversation:\n";

/// Added to the system prompt in groups: the model reads many people, each message as `Name: text` (the
/// poller puts the name in the text), and should answer the one who addressed it.
pub const GROUP_NOTE: &str = "This is a group conversation: each user message starts with the name of the \
     person who wrote it (\"Name: text\"). Answer the latest message, addressing its author when it helps.";

/// The system prompt for a chat of this `kind`: in a group or supergroup, `system` followed by [`GROUP_NOTE`]
/// (or the note alone); elsewhere `system` unchanged.
pub fn system_for_chat(system: Option<String>, kind: &str) -> Option<String> {
    if !is_group(kind) {
        return system;
    }
    Some(match system {
        Some(system) => format!("{system}\n\n{GROUP_NOTE}"),
        None => GROUP_NOTE.to_string(),
    })
}

/// A turn's prompt budget (our tokens), by the conversation's own model (`None`: `AICHAT_MODEL`). Asked in
/// the transaction that reads the conversation, so the budget is that of the model that will answer, even
/// when `/model` switched it a moment before.
#[derive(Clone)]
pub struct PromptBudget(Arc<BudgetByModel>);

/// Our tokens a prompt may take, given the conversation's own model (`None`: `AICHAT_MODEL`).
type BudgetByModel = dyn Fn(Option<&str>) -> usize + Send + Sync;

impl PromptBudget {
    pub fn new(by_model: impl Fn(Option<&str>) -> usize + Send + Sync + 'static) -> Self {
        Self(Arc::new(by_model))
    }

    /// The same budget whatever the model (tests, benchmarks).
    pub fn fixed(budget: usize) -> Self {
        Self::new(move |_| budget)
    }

    /// The budget for a conversation whose own model is `model`.
    pub fn of(&self, model: Option<&str>) -> usize {
        (self.0)(model)
    }
}

impl std::fmt::Debug for PromptBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PromptBudget(by model)")
    }
}

/// A chat's context as stored, read in one transaction so the summary and the turns it does not cover agree.
#[derive(Debug, Clone, Default)]
pub struct StoredContext {
    /// The system prompt in force (the chat's own, else the default), if any.
    pub system: Option<String>,
    /// `system`'s size by our count, so the budget can take it into account without counting again.
    pub system_tokens: usize,
    /// The summary in use (the newest), without [`SUMMARY_PREFIX`].
    pub summary: Option<String>,
    /// The summary's stored size (our count, the prefix included).
    pub summary_tokens: usize,
    /// The unfolded turns, oldest first: what the summary does not cover.
    pub history: Vec<MessageRow>,
    /// The photos of `history`'s messages, in order.
    pub photos: Vec<AttachmentRow>,
}

impl StoredContext {
    /// The context's whole size by our count: what the next prompt would carry if nothing were left out.
    pub fn tokens(&self) -> usize {
        self.system_tokens
            + self.summary_tokens
            + self
                .history
                .iter()
                .map(|m| to_usize(m.tokens))
                .sum::<usize>()
    }
}

/// `/context`'s figures, by our count (the `SessionManager`'s reply to `GetContextUsage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextUsage {
    /// What the next prompt would carry: system prompt, summary, unfolded turns.
    pub with_summary: usize,
    /// What it would carry without compression: system prompt and every turn.
    pub without_summary: usize,
    pub summary_tokens: usize,
}

/// `/system`'s figures: the prompts a chat's turns can start with (the `SessionManager`'s reply to
/// `GetSystemPrompt` and `SetSystemPrompt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemPrompt {
    /// The chat's own prompt, if set.
    pub own: Option<String>,
    /// `SYSTEM_PROMPT`, if set.
    pub default: Option<String>,
}

/// The photos of one message of a prompt: a model that sees images gets them (and `caption`, or a request to
/// describe them) in place of the message's stored text (`[photo: …]`, what any other model gets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptPhotos {
    /// The message's place in [`TurnContext::prompt`].
    pub index: usize,
    pub photos: Vec<Attachment>,
    pub caption: Option<String>,
}

/// What a turn sends to the LLM.
#[derive(Debug, Clone, Default)]
pub struct TurnContext {
    pub prompt: Vec<ChatMessage>,
    /// The photos of `prompt`'s messages (their tokens are in the messages' stored counts, so in `tokens`).
    pub photos: Vec<PromptPhotos>,
    /// Tokens of `prompt` by our count.
    pub tokens: usize,
    /// Older messages left out of the prompt to stay within the budget.
    pub trimmed: usize,
    /// Set when the new messages alone are over the budget: their size in tokens. Nothing was stored.
    pub refused: Option<usize>,
    /// The chat is a group the bot was removed from: nothing was stored, and the turn ends quietly.
    pub inactive: bool,
    /// The conversation's own model (`/model`), read with its context; `None`: `AICHAT_MODEL`.
    pub model: Option<String>,
    /// The user reached a token limit: nothing was stored, and nothing goes to the model.
    pub over_limit: Option<crate::usage::LimitHit>,
}

/// System prompt, summary, then as many of the newest turns as fit in `budget`. The newest user messages
/// (this turn's) are always kept (the caller checked that they fit); then the summary, if it fits; then older
/// turns, newest first, while they fit. What does not fit is left out of this prompt, not deleted.
pub fn build_prompt(stored: StoredContext, budget: usize) -> TurnContext {
    let mut used = stored.system_tokens;
    let rows = &stored.history;
    let this_turn = rows.iter().rev().take_while(|r| r.role == "user").count();
    let mut kept = 0;
    for row in rows.iter().rev().take(this_turn) {
        used += to_usize(row.tokens);
        kept += 1;
    }
    let keep_summary = stored.summary.is_some() && used + stored.summary_tokens <= budget;
    if keep_summary {
        used += stored.summary_tokens;
    }
    for row in rows.iter().rev().skip(this_turn) {
        let t = to_usize(row.tokens);
        if used + t > budget {
            break;
        }
        used += t;
        kept += 1;
    }
    let trimmed = rows.len() - kept + usize::from(stored.summary.is_some() && !keep_summary);
    let mut prompt = Vec::with_capacity(kept + 2);
    if let Some(system) = stored.system {
        prompt.push(ChatMessage::new(Role::System, system));
    }
    if let (true, Some(summary)) = (keep_summary, stored.summary) {
        prompt.push(ChatMessage::new(
            Role::System,
            format!("{SUMMARY_PREFIX}{summary}"),
        ));
    }
    let mut photos: Vec<PromptPhotos> = Vec::new();
    for row in rows.iter().skip(rows.len() - kept) {
        if let Some(role) = Role::parse(&row.role) {
            let of_row = stored.photos.iter().filter(|p| p.message_id == row.id);
            for photo in of_row {
                match photos.last_mut() {
                    Some(last) if last.index == prompt.len() => {
                        last.photos.push(photo.attachment())
                    }
                    _ => photos.push(PromptPhotos {
                        index: prompt.len(),
                        photos: vec![photo.attachment()],
                        caption: photo.caption.clone(),
                    }),
                }
            }
            prompt.push(ChatMessage::new(role, row.content.clone()));
        }
    }
    TurnContext {
        prompt,
        photos,
        tokens: used,
        trimmed,
        refused: None,
        inactive: false,
        model: None,
        over_limit: None,
    }
}

/// A stored token count as a size; stored counts are never negative.
pub(crate) fn to_usize(n: i32) -> usize {
    usize::try_from(n).unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ids::{ChatId, MessageId, TopicId};

    /// A stored turn of `tokens` tokens; its row id is `id`.
    pub(crate) fn row(id: i32, role: &str, content: &str, tokens: i32) -> MessageRow {
        MessageRow {
            id,
            chat_id: ChatId(5),
            role: role.into(),
            content: content.into(),
            tokens,
            telegram_message_id: Some(MessageId(i64::from(id))),
            created_at: 100,
            folded: false,
            topic_id: TopicId(0),
        }
    }

    fn contents(ctx: &TurnContext) -> Vec<&str> {
        ctx.prompt.iter().map(|m| m.content.as_str()).collect()
    }

    fn stored(summary: Option<(&str, usize)>, history: Vec<MessageRow>) -> StoredContext {
        StoredContext {
            system: Some("Be brief.".into()),
            system_tokens: 10,
            summary: summary.map(|(s, _)| s.to_string()),
            summary_tokens: summary.map_or(0, |(_, t)| t),
            history,
            photos: Vec::new(),
        }
    }

    #[test]
    fn with_room_the_prompt_is_the_system_prompt_the_summary_and_every_turn() {
        let history = vec![
            row(1, "user", "q1", 20),
            row(2, "assistant", "a1", 20),
            row(3, "user", "q2", 20),
        ];

        let ctx = build_prompt(stored(Some(("earlier", 30)), history), 1_000);

        assert_eq!(
            contents(&ctx),
            [
                "Be brief.",
                &format!("{SUMMARY_PREFIX}earlier"),
                "q1",
                "a1",
                "q2"
            ]
        );
        assert_eq!((ctx.tokens, ctx.trimmed, ctx.refused), (100, 0, None));
        assert_eq!(ctx.prompt[1].role, Role::System);
    }

    #[test]
    fn the_oldest_turns_are_left_out_first_and_this_turn_is_always_kept() {
        let history = vec![
            row(1, "user", "q1", 20),
            row(2, "assistant", "a1", 20),
            row(3, "user", "q2", 20),
            row(4, "user", "q2 continued", 20),
        ];

        let ctx = build_prompt(stored(None, history), 70);

        assert_eq!(contents(&ctx), ["Be brief.", "a1", "q2", "q2 continued"]);
        assert_eq!((ctx.tokens, ctx.trimmed), (70, 1));
    }

    #[test]
    fn a_summary_that_does_not_fit_is_left_out_and_counted_as_trimmed() {
        let history = vec![row(1, "assistant", "a1", 20), row(2, "user", "q2", 20)];

        let ctx = build_prompt(stored(Some(("earlier", 500)), history), 100);

        assert_eq!(contents(&ctx), ["Be brief.", "a1", "q2"]);
        assert_eq!((ctx.tokens, ctx.trimmed), (50, 1));
    }

    #[test]
    fn the_stored_size_counts_system_prompt_summary_and_turns() {
        let history = vec![row(1, "user", "q1", 20), row(2, "assistant", "a1", 25)];

        assert_eq!(stored(Some(("s", 7)), history).tokens(), 10 + 7 + 45);
    }

    #[test]
    fn in_groups_the_system_prompt_says_it_is_a_group_conversation() {
        assert_eq!(
            system_for_chat(Some("Be brief.".into()), "private").as_deref(),
            Some("Be brief.")
        );
        assert_eq!(system_for_chat(None, "private"), None);
        assert_eq!(
            system_for_chat(Some("Be brief.".into()), "supergroup"),
            Some(format!("Be brief.\n\n{GROUP_NOTE}"))
        );
        assert_eq!(system_for_chat(None, "group").as_deref(), Some(GROUP_NOTE));
    }
}
