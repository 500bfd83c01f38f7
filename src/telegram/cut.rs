//! Where a long text is cut into Telegram-sized pieces, over its visible characters.

use std::ops::Range;

/// A visible character, and whether it is preformatted: inside `pre`/`code`, where indentation matters, so
/// only line breaks are trimmed at a piece's start.
pub(super) type VisibleChar = (char, bool);

/// The visible-character ranges of the pieces.
pub(super) fn plan_pieces(chars: &[VisibleChar], max_utf16: usize) -> Vec<Range<usize>> {
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
            find_cut(chars, start, limit)
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
fn find_cut(chars: &[VisibleChar], start: usize, limit: usize) -> usize {
    let half = start + (limit - start) / 2;
    let lowest = half.max(start + 1);
    let is = |i: usize, wanted: char| chars.get(i).is_some_and(|(c, _)| *c == wanted);
    let last = |pred: &dyn Fn(usize) -> bool| (lowest..=limit).rev().find(|&i| pred(i));
    last(&|i| is(i, '\n') && is(i + 1, '\n'))
        .or_else(|| last(&|i| is(i, '\n')))
        .or_else(|| last(&|i| chars.get(i).is_some_and(|(c, _)| c.is_whitespace())))
        .unwrap_or(limit)
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
