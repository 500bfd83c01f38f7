//! Where a long text is cut into Telegram-sized pieces: the one rule that plain text ([`split_message`]) and
//! HTML ([`split_html`]) both follow, applied to the text's visible characters.
//!
//! A piece ends at the last paragraph break (`\n\n`) in its second half if there is one, else at the last line
//! break there, else at the last word break there, else just before the first character that does not fit.
//! The break starts the next piece and is trimmed away with the whitespace around the cut. The text is a slice
//! of whole `char`s, so a cut never falls inside a character, nor inside a UTF-16 surrogate pair.
//!
//! [`split_message`]: super::split_message
//! [`split_html`]: super::split_html

use std::ops::Range;

/// A visible character, and whether it is preformatted: inside `pre`/`code`, where indentation matters, so
/// only line breaks are trimmed at a piece's start. No character of plain text is preformatted.
pub(super) type VisibleChar = (char, bool);

/// The smallest budget a piece is given, whatever the caller asks: a character outside the BMP is two UTF-16
/// units, so every piece holds at least one character and the splitting always moves on.
const MIN_PIECE_UTF16: usize = 2;

/// What "the second half of a piece" is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Measure {
    /// Visible characters.
    Chars,
    /// UTF-8 bytes (`split_message` has always measured its pieces in bytes of the `&str`).
    Utf8Bytes,
}

/// The points on which the plain and the HTML splitter have always differed. They are parameters, not two
/// cut finders, so that each caller keeps cutting exactly where it did ([`PLAIN`], [`HTML`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct CutRules {
    /// How the second half, where a break must lie to be used, is measured: breaks earlier than that are
    /// ignored so that no piece is tiny.
    pub(super) half_in: Measure,
    /// Whether a break may start on the limit itself (the first character that does not fit) and run past it.
    /// Its characters are trimmed either way; without this, the break must lie wholly before the limit.
    pub(super) break_may_overrun: bool,
    /// Which characters are word breaks, the last resort before a hard cut.
    pub(super) word_break: fn(char) -> bool,
}

/// `split_message`'s rules: halves in bytes, breaks wholly inside the piece, words broken at spaces only.
pub(super) const PLAIN: CutRules = CutRules {
    half_in: Measure::Utf8Bytes,
    break_may_overrun: false,
    word_break: is_space,
};

/// `split_html`'s rules: halves in characters, a break may start on the limit, words broken at any whitespace.
pub(super) const HTML: CutRules = CutRules {
    half_in: Measure::Chars,
    break_may_overrun: true,
    word_break: char::is_whitespace,
};

fn is_space(c: char) -> bool {
    c == ' '
}

/// The ranges of `chars` (indices) that become pieces of at most `max_utf16` UTF-16 units each, trimmed
/// (see [`skip_leading_whitespace`]), cut where `rules` say, never empty. Only the whitespace trimmed at the
/// cuts and at the ends is left out.
pub(super) fn plan_pieces(
    chars: &[VisibleChar],
    max_utf16: usize,
    rules: CutRules,
) -> Vec<Range<usize>> {
    let max_utf16 = max_utf16.max(MIN_PIECE_UTF16);
    let mut ranges = Vec::new();
    let mut start = skip_leading_whitespace(chars, 0);
    while start < chars.len() {
        // `limit`: the end of the longest run from `start` within the budget.
        let mut units = 0;
        let mut limit = chars.len();
        for (i, (c, _)) in chars.iter().enumerate().skip(start) {
            units += c.len_utf16();
            if units > max_utf16 {
                limit = i;
                break;
            }
        }
        let cut = if limit == chars.len() {
            limit
        } else {
            find_cut(chars, start, limit, rules)
        };
        let end = trim_trailing_whitespace(chars, start, cut);
        if end > start {
            ranges.push(start..end);
        }
        start = skip_leading_whitespace(chars, cut.max(start + 1));
    }
    ranges
}

/// Where to end a piece that starts at `start` and may not reach past `limit` (exclusive): the character
/// there (a break) starts the rest. Breaks in the first half of the piece are ignored, to avoid tiny pieces.
fn find_cut(chars: &[VisibleChar], start: usize, limit: usize, rules: CutRules) -> usize {
    let lowest = second_half_start(chars, start, limit, rules.half_in);
    let is = |i: usize, wanted: char| chars.get(i).is_some_and(|&(c, _)| c == wanted);
    // The last break of `len` characters for which `at` holds, in the second half.
    let last = |len: usize, at: &dyn Fn(usize) -> bool| {
        (lowest..=limit)
            .rev()
            .find(|&i| (rules.break_may_overrun || i + len <= limit) && at(i))
    };
    last(2, &|i| is(i, '\n') && is(i + 1, '\n'))
        .or_else(|| last(1, &|i| is(i, '\n')))
        .or_else(|| {
            last(1, &|i| {
                chars.get(i).is_some_and(|&(c, _)| (rules.word_break)(c))
            })
        })
        .unwrap_or(limit)
}

/// The first index after `start` at which the second half of `start..limit` begins, as `measure` counts.
fn second_half_start(chars: &[VisibleChar], start: usize, limit: usize, measure: Measure) -> usize {
    let weight = |c: char| match measure {
        Measure::Chars => 1,
        Measure::Utf8Bytes => c.len_utf8(),
    };
    let piece = chars.get(start..limit).unwrap_or_default();
    let half = piece.iter().map(|&(c, _)| weight(c)).sum::<usize>() / 2;
    let mut before = 0;
    for (offset, &(c, _)) in piece.iter().enumerate() {
        if offset > 0 && before >= half {
            return start + offset;
        }
        before += weight(c);
    }
    limit
}

/// Index of the first character from `i` on that is not whitespace to trim at a piece's start. Inside
/// `pre`/`code` only line breaks are trimmed, so that indentation survives a cut.
pub(super) fn skip_leading_whitespace(chars: &[VisibleChar], mut i: usize) -> usize {
    while let Some(&(c, preformatted)) = chars.get(i) {
        let trim = if preformatted {
            c == '\n' || c == '\r'
        } else {
            c.is_whitespace()
        };
        if !trim {
            break;
        }
        i += 1;
    }
    i
}

/// `end` moved back over trailing whitespace, not before `start`.
pub(super) fn trim_trailing_whitespace(
    chars: &[VisibleChar],
    start: usize,
    mut end: usize,
) -> usize {
    while end > start && chars.get(end - 1).is_some_and(|(c, _)| c.is_whitespace()) {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::super::{split_html, split_message};

    #[test]
    fn plain_and_html_text_keep_the_cut_details_they_have_always_differed_on() {
        // A line break right on the limit: HTML cuts there; plain text looks before it and takes the space.
        assert_eq!(split_html("aaaa aaa\nbbb", 8), vec!["aaaa aaa", "bbb"]);
        assert_eq!(split_message("aaaa aaa\nbbb", 8), vec!["aaaa", "aaa\nbbb"]);
        // A tab is a word break in HTML, not in plain text.
        assert_eq!(split_html("aaaaa\tbbbbbb", 8), vec!["aaaaa", "bbbbbb"]);
        assert_eq!(split_message("aaaaa\tbbbbbb", 8), vec!["aaaaa\tbb", "bbbb"]);
        // The second half is counted in characters in HTML, in UTF-8 bytes in plain text (`é` is two).
        assert_eq!(split_html("éééé aaaaaaa", 10), vec!["éééé aaaaa", "aa"]);
        assert_eq!(split_message("éééé aaaaaaa", 10), vec!["éééé", "aaaaaaa"]);
        // Plain text is trimmed before it is measured; HTML counts whitespace at its end.
        assert_eq!(split_html("aaaa\n\nbbb   ", 10), vec!["aaaa", "bbb"]);
        assert_eq!(split_message("aaaa\n\nbbb   ", 10), vec!["aaaa\n\nbbb"]);
    }
}
