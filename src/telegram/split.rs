//! Splitting long texts into Telegram-sized messages.
//!
//! Telegram counts message length in UTF-16 code units (an emoji outside the BMP is two), at most 4096.

use std::ops::Range;

use super::cut::{plan_pieces, VisibleChar, PLAIN};

/// Telegram's limit for one message's text, in UTF-16 code units.
pub const MAX_MESSAGE_UTF16: usize = 4096;

/// The length Telegram counts for `s`: UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Splits `text` into pieces of at most `max` UTF-16 code units, cutting at a paragraph break if one is in the
/// second half of a piece, else at a line break, else at a space, else anywhere (never inside a character).
/// Pieces are trimmed of the break they were cut at; no text other than that whitespace is lost. Where it cuts
/// is the rule shared with HTML (`cut.rs`), with plain text's own details (`PLAIN`).
pub fn split_message(text: &str, max: usize) -> Vec<String> {
    // Trimmed first, so that whitespace at the very end never makes the last piece too long to fit.
    let text = text.trim();
    // Sized for ASCII, the common case: one character per byte, so no growing while it fills.
    let mut chars: Vec<VisibleChar> = Vec::with_capacity(text.len());
    chars.extend(text.chars().map(|c| (c, false)));
    let byte_len = |range: Range<usize>| -> usize {
        chars
            .get(range)
            .unwrap_or_default()
            .iter()
            .map(|&(c, _)| c.len_utf8())
            .sum()
    };
    // Each piece is copied out of `text` whole; `chars_done`, `bytes_done`: where the last piece ended.
    let (mut chars_done, mut bytes_done) = (0, 0);
    let mut pieces = Vec::new();
    for range in plan_pieces(&chars, max, PLAIN) {
        let start = bytes_done + byte_len(chars_done..range.start);
        let end = start + byte_len(range.clone());
        pieces.push(text.get(start..end).unwrap_or_default().to_string());
        (chars_done, bytes_done) = (range.end, end);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_piece() {
        assert_eq!(split_message("hello", MAX_MESSAGE_UTF16), vec!["hello"]);
        assert!(split_message("   ", MAX_MESSAGE_UTF16).is_empty());
    }

    #[test]
    fn emoji_count_as_two_units() {
        let text = "😀".repeat(3000); // 6000 units
        let pieces = split_message(&text, MAX_MESSAGE_UTF16);
        assert_eq!(pieces.len(), 2);
        assert!(pieces.iter().all(|p| utf16_len(p) <= MAX_MESSAGE_UTF16));
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn prefers_paragraph_then_line_then_word_boundaries() {
        let para = format!("{}\n\n{}", "a".repeat(30), "b".repeat(30));
        assert_eq!(
            split_message(&para, 40),
            vec!["a".repeat(30), "b".repeat(30)]
        );
        let lines = format!("{}\n{}", "a".repeat(30), "b".repeat(30));
        assert_eq!(
            split_message(&lines, 40),
            vec!["a".repeat(30), "b".repeat(30)]
        );
        let words = "word ".repeat(20);
        let pieces = split_message(&words, 22);
        assert!(pieces.iter().all(|p| p.len() <= 22 && !p.starts_with(' ')));
        assert_eq!(pieces.join(" ").split_whitespace().count(), 20);
    }

    #[test]
    fn no_text_is_lost_when_cutting_hard() {
        let text: String = (0..10_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let pieces = split_message(&text, MAX_MESSAGE_UTF16);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.concat(), text);
    }
}
