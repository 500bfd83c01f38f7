//! Splitting long texts into Telegram-sized messages.
//!
//! Telegram counts message length in UTF-16 code units (an emoji outside the BMP is two), at most 4096.

/// Telegram's limit for one message's text, in UTF-16 code units.
pub const MAX_MESSAGE_UTF16: usize = 4096;

pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Splits `text` into pieces of at most `max` UTF-16 code units, cutting at a paragraph break if one is in the
/// second half of a piece, else at a line break, else after a space, else anywhere (never inside a character).
/// Pieces are trimmed of the break they were cut at; no text other than that whitespace is lost.
pub fn split_message(text: &str, max: usize) -> Vec<String> {
    let max = max.max(2);
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if utf16_len(rest) <= max {
            pieces.push(rest.to_string());
            break;
        }
        // Byte index of the longest prefix within `max` units.
        let mut units = 0;
        let mut limit = rest.len();
        for (i, c) in rest.char_indices() {
            if units + c.len_utf16() > max {
                limit = i;
                break;
            }
            units += c.len_utf16();
        }
        let window = rest.get(..limit).unwrap_or(rest);
        let half = limit / 2;
        let cut = [window.rfind("\n\n"), window.rfind('\n'), window.rfind(' ')]
            .into_iter()
            .flatten()
            .find(|&i| i >= half && i > 0)
            .unwrap_or(limit);
        let (head, tail) = rest.split_at(cut);
        let head = head.trim_end();
        if !head.is_empty() {
            pieces.push(head.to_string());
        }
        rest = tail.trim_start();
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
