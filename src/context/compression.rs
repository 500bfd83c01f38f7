//! What a compression folds: the oldest of a chat's unfolded turns, as many as one summarising request can
//! take, never the newest few.

use super::prompt::{to_usize, StoredContext};
use crate::llm::{ChatMessage, Role};

/// The material of one compression.
#[derive(Debug, Clone)]
pub struct CompressionInput {
    /// The summary in use, which the new summary must include (it replaces it).
    pub previous_summary: Option<String>,
    /// The turns to fold, oldest first.
    pub turns: Vec<ChatMessage>,
    /// The range of `messages.id` the turns span (inclusive); the commit folds exactly these rows.
    pub first_message_id: i32,
    pub last_message_id: i32,
    /// The context size (tokens) before.
    pub context_tokens: usize,
}

/// What to summarise, if the context is over `threshold` tokens: everything but the `keep_recent` newest turns
/// may be folded, as many of the oldest as fit in `max_input` tokens together with the previous summary (at
/// least one, so that a single huge turn cannot block compression for good). `None`: nothing to do.
pub fn select_for_compression(
    stored: StoredContext,
    threshold: usize,
    keep_recent: usize,
    max_input: usize,
) -> Option<CompressionInput> {
    let context_tokens = stored.tokens();
    if context_tokens <= threshold || stored.history.len() <= keep_recent {
        return None;
    }
    let foldable = stored.history.len() - keep_recent;
    let mut budget = max_input.saturating_sub(stored.summary_tokens);
    let mut turns = Vec::new();
    let mut range: Option<(i32, i32)> = None;
    for row in stored.history.iter().take(foldable) {
        let tokens = to_usize(row.tokens);
        if tokens > budget && !turns.is_empty() {
            break;
        }
        budget = budget.saturating_sub(tokens);
        let Some(role) = Role::parse(&row.role) else {
            continue;
        };
        turns.push(ChatMessage::new(role, row.content.clone()));
        range = Some((range.map_or(row.id, |r| r.0), row.id));
    }
    range.map(|(first, last)| CompressionInput {
        previous_summary: stored.summary,
        turns,
        first_message_id: first,
        last_message_id: last,
        context_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::prompt::tests::row;

    /// `n` turns of 100 tokens each, alternating user and assistant, row ids 1..=n.
    fn turns(n: i32) -> StoredContext {
        StoredContext {
            history: (1..=n)
                .map(|i| {
                    let role = if i % 2 == 1 { "user" } else { "assistant" };
                    row(i, role, &format!("turn {i}"), 100)
                })
                .collect(),
            ..StoredContext::default()
        }
    }

    #[test]
    fn a_context_under_the_threshold_or_too_short_is_left_alone() {
        assert!(select_for_compression(turns(6), 600, 2, 10_000).is_none());
        assert!(select_for_compression(turns(4), 100, 4, 10_000).is_none());
    }

    #[test]
    fn everything_but_the_newest_turns_is_folded_when_it_fits() {
        let input = select_for_compression(turns(6), 100, 2, 10_000).unwrap();

        assert_eq!(input.turns.len(), 4);
        assert_eq!(input.turns[0], ChatMessage::new(Role::User, "turn 1"));
        assert_eq!((input.first_message_id, input.last_message_id), (1, 4));
        assert_eq!(input.context_tokens, 600);
    }

    #[test]
    fn the_oldest_turns_are_folded_as_far_as_the_input_budget_and_the_summary_allow() {
        let mut stored = turns(6);
        stored.summary = Some("before".into());
        stored.summary_tokens = 50;

        let input = select_for_compression(stored, 100, 2, 300).unwrap();

        assert_eq!((input.first_message_id, input.last_message_id), (1, 2));
        assert_eq!(input.previous_summary.as_deref(), Some("before"));
        assert_eq!(input.context_tokens, 650);
    }

    #[test]
    fn one_turn_bigger_than_the_input_budget_is_still_folded() {
        let input = select_for_compression(turns(4), 100, 2, 10).unwrap();

        assert_eq!((input.first_message_id, input.last_message_id), (1, 1));
        assert_eq!(input.turns.len(), 1);
    }
}
