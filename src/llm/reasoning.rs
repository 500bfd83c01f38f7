//! Reasoning blocks (`<think>…</think>`) that reasoning models put before their answer: never shown to the
//! user, never sent back to the model.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// The answer without its reasoning blocks, trimmed.
///
/// - every `<think>…</think>` block is removed;
/// - an unclosed `<think>` (the answer was cut off while thinking) removes everything after it;
/// - a `</think>` with no opening tag (some chat templates open the block in the prompt) removes everything
///   before it.
pub fn strip_reasoning(text: &str) -> String {
    let mut rest = text;
    // A closing tag before any opening tag: the reasoning started in the prompt.
    if let Some(close) = rest.find(CLOSE) {
        if rest.find(OPEN).is_none_or(|open| open > close) {
            rest = rest.get(close + CLOSE.len()..).unwrap_or("");
        }
    }
    let mut out = String::with_capacity(rest.len());
    while let Some(open) = rest.find(OPEN) {
        out.push_str(rest.get(..open).unwrap_or(""));
        let after = rest.get(open + OPEN.len()..).unwrap_or("");
        match after.find(CLOSE) {
            Some(close) => rest = after.get(close + CLOSE.len()..).unwrap_or(""),
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_removed_wherever_they_are() {
        assert_eq!(
            strip_reasoning("<think>hmm, 2+2</think>\n\nIt is 4."),
            "It is 4."
        );
        assert_eq!(
            strip_reasoning("A <think>x</think>B<think>y</think> C"),
            "A B C"
        );
        assert_eq!(strip_reasoning("no reasoning here"), "no reasoning here");
    }

    #[test]
    fn unbalanced_tags_never_leak_reasoning() {
        assert_eq!(
            strip_reasoning("Answer.<think>cut off while thinking"),
            "Answer."
        );
        assert_eq!(
            strip_reasoning("opened in the prompt</think>The answer"),
            "The answer"
        );
        assert_eq!(strip_reasoning("<think>only thinking"), "");
        assert_eq!(strip_reasoning(""), "");
    }
}
