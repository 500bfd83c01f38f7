//! A group's memory in a turn's prompt: the messages people wrote in the group, not to the bot, since its last
//! turn there (`GROUP_CONTEXT_MESSAGES`). They go to the model as one user message just before this turn's, so
//! it knows what was being discussed; they are never stored, and they get only the room the prompt has left.

use crate::context::TurnContext;
use crate::llm::{ChatMessage, Role};

/// How the kept messages are introduced to the model: they are context, not questions for it.
pub const GROUP_MEMORY_HEADER: &str = "Recent messages in this group, not addressed to you:";

/// The longest text kept of one message, in characters (an ellipsis marks the cut): a long paste among the
/// chatter should not fill the memory alone, and Redis keeps each group's memory small.
pub const KEPT_MESSAGE_CHARS: usize = 500;

/// What is kept of one unaddressed message: `Name: text`, as an addressed message reaches the model, the text
/// cut to [`KEPT_MESSAGE_CHARS`].
pub fn kept_text(name: &str, text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(KEPT_MESSAGE_CHARS) {
        Some((at, _)) => format!("{name}: {}…", text.get(..at).unwrap_or(text).trim_end()),
        None => format!("{name}: {text}"),
    }
}

/// Puts `kept` (oldest first) into the prompt as one user message before this turn's messages, leaving out the
/// oldest while the prompt would pass `budget` (our tokens, as `count` counts a message). Returns how many were
/// left out.
pub fn add_group_memory(
    context: &mut TurnContext,
    kept: &[String],
    budget: usize,
    count: impl Fn(&str) -> usize,
) -> usize {
    let room = budget.saturating_sub(context.tokens);
    for from in 0..kept.len() {
        let message = memory_message(kept.get(from..).unwrap_or_default());
        let tokens = count(&message);
        if tokens <= room {
            let this_turn = context
                .prompt
                .iter()
                .rev()
                .take_while(|m| m.role == Role::User)
                .count();
            let at = context.prompt.len() - this_turn;
            context
                .prompt
                .insert(at, ChatMessage::new(Role::User, message));
            context.tokens += tokens;
            return from;
        }
    }
    kept.len()
}

fn memory_message(kept: &[String]) -> String {
    format!("{GROUP_MEMORY_HEADER}\n{}", kept.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(prompt: &[(Role, &str)], tokens: usize) -> TurnContext {
        TurnContext {
            prompt: prompt
                .iter()
                .map(|(role, text)| ChatMessage::new(*role, *text))
                .collect(),
            tokens,
            ..TurnContext::default()
        }
    }

    fn words(text: &str) -> usize {
        text.split_whitespace().count()
    }

    fn kept(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| (*t).to_string()).collect()
    }

    #[test]
    fn the_kept_messages_go_in_one_message_just_before_this_turns() {
        let mut ctx = context(
            &[
                (Role::System, "Be brief."),
                (Role::User, "Ann: q1"),
                (Role::Assistant, "a1"),
                (Role::User, "Ann: q2"),
                (Role::User, "Ann: q2 continued"),
            ],
            20,
        );

        let left_out = add_group_memory(&mut ctx, &kept(&["Bob: hi", "Cy: yo"]), 1_000, words);

        let expected = format!("{GROUP_MEMORY_HEADER}\nBob: hi\nCy: yo");
        assert_eq!(left_out, 0);
        assert_eq!(
            ctx.prompt[3],
            ChatMessage::new(Role::User, expected.clone())
        );
        assert_eq!(ctx.prompt[4].content, "Ann: q2");
        assert_eq!(ctx.prompt.len(), 6);
        assert_eq!(ctx.tokens, 20 + words(&expected));
    }

    #[test]
    fn the_oldest_kept_messages_are_left_out_when_the_prompt_would_pass_the_budget() {
        let mut ctx = context(&[(Role::User, "Ann: q")], 90);
        let header = words(GROUP_MEMORY_HEADER);

        let left_out = add_group_memory(
            &mut ctx,
            &kept(&["Bob: one two three", "Cy: four", "Di: five"]),
            90 + header + 4,
            words,
        );

        assert_eq!(left_out, 1);
        assert_eq!(
            ctx.prompt[0].content,
            format!("{GROUP_MEMORY_HEADER}\nCy: four\nDi: five")
        );
        assert_eq!(ctx.tokens, 90 + header + 4);
    }

    #[test]
    fn with_no_room_nothing_is_added() {
        let mut ctx = context(&[(Role::User, "Ann: q")], 100);

        let left_out = add_group_memory(&mut ctx, &kept(&["Bob: hi"]), 100, words);

        assert_eq!(left_out, 1);
        assert_eq!(ctx.prompt.len(), 1);
        assert_eq!(ctx.tokens, 100);
    }

    #[test]
    fn a_kept_message_is_named_and_cut_to_its_length() {
        assert_eq!(kept_text("Ann", " lunch? "), "Ann: lunch?");
        let long = "é".repeat(KEPT_MESSAGE_CHARS + 10);
        let cut = kept_text("Ann", &long);
        assert_eq!(cut.chars().count(), "Ann: ".len() + KEPT_MESSAGE_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
