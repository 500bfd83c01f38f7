//! Telegram's HTML: escaping, a forgiving parser into well-nested atoms (tags and visible characters,
//! entities decoded), the renderer that writes ranges of those characters back as well-formed pieces, and
//! what Telegram counts and shows once the tags are parsed. Pure functions: no I/O.
//!
//! Telegram's HTML parse mode knows only `b/strong`, `i/em`, `u/ins`, `s/strike/del`,
//! `span class="tg-spoiler"`/`tg-spoiler`, `a href`, `code`, `pre` (+ `code class="language-x"`) and
//! `blockquote` (+ `expandable`). Any other `<`, `>`, `&` must be an entity; `pre`/`code` hold only text;
//! blockquotes don't nest. A message that breaks these rules is refused with "can't parse entities", so
//! everything here produces well-formed, properly nested HTML from any input.

use std::ops::Range;

use super::cut::VisibleChar;

/// Escapes `&`, `<` and `>` so that `text` shows verbatim when sent with parse mode HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

pub(super) fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        push_escaped_char(out, c);
    }
}

pub(super) fn push_escaped_char(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

/// Escapes an attribute value (for use between double quotes): like [`escape_html`], plus `"`.
pub(super) fn escape_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("&quot;"),
            c => push_escaped_char(&mut out, c),
        }
    }
    out
}

/// Longest language name kept on a code block: enough for any real one, short enough to be harmless.
const MAX_LANGUAGE_LEN: usize = 32;

/// The first word of a code fence's info string, reduced to `[A-Za-z0-9_+-]`.
pub(super) fn sanitize_language(info: &str) -> String {
    info.split_whitespace()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-'))
        .take(MAX_LANGUAGE_LEN)
        .collect()
}

/// An allowed tag with its canonical attributes (already escaped, with a leading space).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct HtmlTag {
    /// The tag's name, lowercase, one of [`ALLOWED_TAGS`].
    name: String,
    /// The only attributes Telegram reads on this tag, escaped, each after a space (or empty).
    attrs: String,
}

impl HtmlTag {
    fn push_open(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        out.push_str(&self.attrs);
        out.push('>');
    }

    fn push_close(&self, out: &mut String) {
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// One unit of well-nested Telegram HTML: every `Open` has its `Close`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Atom {
    Open(HtmlTag),
    Close,
    /// A visible character; `preformatted` inside `pre`/`code`, where leading spaces matter.
    Char {
        ch: char,
        preformatted: bool,
    },
}

/// The tags Telegram's parse mode knows: a `<` that starts any other tag is text.
const ALLOWED_TAGS: [&str; 15] = [
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
];

/// A tag as written, before the nesting rules are applied.
enum RawTag {
    Open {
        /// Lowercase, one of [`ALLOWED_TAGS`].
        name: String,
        /// Every attribute as written: the key lowercase, the value with its entities decoded.
        attrs: Vec<(String, String)>,
    },
    Close {
        /// Lowercase, one of [`ALLOWED_TAGS`].
        name: String,
    },
}

/// An entry of the parser's stack: the tag, and whether it was dropped (its close is then dropped too).
struct StackEntry {
    /// The tag's name, to match its closing tag.
    name: String,
    /// Whether the tag was left out: its closing tag is then left out too.
    dropped: bool,
}

/// Parses Telegram HTML into well-nested atoms, the way Telegram reads it but forgiving: a `<` or `&` that
/// starts no allowed tag or known entity is text; tags Telegram forbids where they stand (a quote in a quote,
/// anything in `code`/`pre` but `pre > code`, a link in a link, `a` without `href`, `span` that is no spoiler)
/// are dropped; unmatched closing tags are dropped and unclosed tags closed at the end.
pub(super) fn parse_html(html: &str) -> Vec<Atom> {
    let mut atoms = Vec::new();
    let mut stack: Vec<StackEntry> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        let preformatted = stack
            .iter()
            .any(|e| !e.dropped && (e.name == "pre" || e.name == "code"));
        let consumed = match c {
            '<' => match parse_tag(rest) {
                Some((RawTag::Open { name, attrs }, len)) => {
                    let tag = admit_tag(&stack, &name, &attrs);
                    stack.push(StackEntry {
                        name,
                        dropped: tag.is_none(),
                    });
                    if let Some(tag) = tag {
                        atoms.push(Atom::Open(tag));
                    }
                    len
                }
                Some((RawTag::Close { name }, len)) => {
                    if let Some(pos) = stack.iter().rposition(|e| e.name == name) {
                        for entry in stack.drain(pos..).rev() {
                            if !entry.dropped {
                                atoms.push(Atom::Close);
                            }
                        }
                    }
                    len
                }
                None => {
                    atoms.push(Atom::Char {
                        ch: '<',
                        preformatted,
                    });
                    1
                }
            },
            '&' => {
                let (ch, len) = parse_entity(rest).unwrap_or(('&', 1));
                atoms.push(Atom::Char { ch, preformatted });
                len
            }
            c => {
                atoms.push(Atom::Char {
                    ch: c,
                    preformatted,
                });
                c.len_utf8()
            }
        };
        rest = rest.get(consumed..).unwrap_or("");
    }
    for entry in stack.iter().rev() {
        if !entry.dropped {
            atoms.push(Atom::Close);
        }
    }
    atoms
}

/// The canonical tag to emit for an opening tag at this point, or `None` when Telegram would not allow it.
fn admit_tag(stack: &[StackEntry], name: &str, attrs: &[(String, String)]) -> Option<HtmlTag> {
    let open: Vec<&str> = stack
        .iter()
        .filter(|e| !e.dropped)
        .map(|e| e.name.as_str())
        .collect();
    let attr = |key: &str| {
        attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let in_code = open.contains(&"code");
    let in_pre = open.contains(&"pre");
    let attrs = match name {
        "code" if in_pre && !in_code && open.last() == Some(&"pre") => match attr("class") {
            Some(class) if class.starts_with("language-") => {
                let language = sanitize_language(class.get("language-".len()..).unwrap_or(""));
                if language.is_empty() {
                    String::new()
                } else {
                    format!(" class=\"language-{language}\"")
                }
            }
            _ => String::new(),
        },
        _ if in_code || in_pre => return None,
        "code" | "pre" if open.contains(&"a") => return None,
        "a" => {
            let href = attr("href").filter(|h| !h.trim().is_empty())?;
            if open.contains(&"a") {
                return None;
            }
            format!(" href=\"{}\"", escape_attr(href))
        }
        "span" => {
            if attr("class") != Some("tg-spoiler") {
                return None;
            }
            " class=\"tg-spoiler\"".to_string()
        }
        "blockquote" => {
            if open.contains(&"blockquote") {
                return None;
            }
            if attr("expandable").is_some() {
                " expandable".to_string()
            } else {
                String::new()
            }
        }
        _ => String::new(),
    };
    Some(HtmlTag {
        name: name.to_string(),
        attrs,
    })
}

/// A small cursor over a string, so the tag parser needs no indexing.
struct Cursor<'a> {
    /// The text read.
    s: &'a str,
    /// Byte offset of the next character, always on a character boundary.
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos..).and_then(|r| r.chars().next())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
        self.s.get(start..self.pos).unwrap_or("")
    }
}

/// Parses an allowed tag at the start of `s` (which begins with `<`): the tag and its length in bytes.
fn parse_tag(s: &str) -> Option<(RawTag, usize)> {
    let mut cur = Cursor { s, pos: 0 };
    cur.eat('<');
    let closing = cur.eat('/');
    let name = cur
        .take_while(|c| c.is_ascii_alphanumeric() || c == '-')
        .to_ascii_lowercase();
    if !ALLOWED_TAGS.contains(&name.as_str()) {
        return None;
    }
    if closing {
        cur.skip_whitespace();
        return cur.eat('>').then_some((RawTag::Close { name }, cur.pos));
    }
    let mut attrs = Vec::new();
    loop {
        let before = cur.pos;
        cur.skip_whitespace();
        if cur.eat('>') {
            return Some((RawTag::Open { name, attrs }, cur.pos));
        }
        if cur.pos == before {
            return None; // the name runs into something that is neither space nor `>`
        }
        let key = cur
            .take_while(|c| !c.is_whitespace() && !matches!(c, '=' | '>' | '/' | '"' | '\'' | '<'))
            .to_ascii_lowercase();
        if key.is_empty() {
            return None;
        }
        cur.skip_whitespace();
        let value = if cur.eat('=') {
            cur.skip_whitespace();
            let raw = match cur.peek()? {
                quote @ ('"' | '\'') => {
                    cur.bump();
                    let value = cur.take_while(|c| c != quote).to_string();
                    cur.eat(quote).then_some(value)?
                }
                _ => cur
                    .take_while(|c| !c.is_whitespace() && !matches!(c, '>' | '<' | '"' | '\''))
                    .to_string(),
            };
            decode_entities(&raw)
        } else {
            String::new()
        };
        attrs.push((key, value));
    }
}

/// Longest entity looked for, `;` included (`&#x10FFFF;` is ten).
const MAX_ENTITY_CHARS: usize = 12;

/// Decodes the entity at the start of `s` (which begins with `&`): the character and its length in bytes.
/// Telegram knows `&lt;`, `&gt;`, `&amp;`, `&quot;` and numeric entities; anything else is not one.
fn parse_entity(s: &str) -> Option<(char, usize)> {
    let end = s
        .char_indices()
        .take(MAX_ENTITY_CHARS)
        .find(|&(_, c)| c == ';')?
        .0;
    let body = s.get(1..end)?;
    let ch = match body {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let number = body.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code).filter(|&c| c != '\0')?
        }
    };
    Some((ch, end + 1))
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let (ch, len) = if c == '&' {
            parse_entity(rest).unwrap_or(('&', 1))
        } else {
            (c, c.len_utf8())
        };
        out.push(ch);
        rest = rest.get(len..).unwrap_or("");
    }
    out
}

/// The visible characters of parsed HTML, with whether each is preformatted.
pub(super) fn visible_chars(atoms: &[Atom]) -> Vec<VisibleChar> {
    atoms
        .iter()
        .filter_map(|a| match a {
            Atom::Char { ch, preformatted } => Some((*ch, *preformatted)),
            _ => None,
        })
        .collect()
}

/// Renders the visible characters in each range (indices into [`visible_chars`]) as one piece: tags open
/// at a piece's start are reopened there, tags still open at its end are closed, and tags that would hold
/// no character are left out. Characters outside every range are dropped.
pub(super) fn render_pieces(atoms: &[Atom], ranges: &[Range<usize>]) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut out = String::new();
    // The open tags, each with whether it has been written into the current piece. Unwritten tags are
    // always a suffix of the stack: a character writes them all.
    let mut stack: Vec<(&HtmlTag, bool)> = Vec::new();
    let mut range_index = 0;
    let mut current: Option<usize> = None;
    let mut visible = 0;
    for atom in atoms {
        match atom {
            Atom::Open(tag) => stack.push((tag, false)),
            Atom::Close => {
                if let Some((tag, true)) = stack.pop() {
                    tag.push_close(&mut out);
                }
            }
            Atom::Char { ch, .. } => {
                let index = visible;
                visible += 1;
                while ranges.get(range_index).is_some_and(|r| r.end <= index) {
                    range_index += 1;
                }
                if ranges.get(range_index).is_none_or(|r| r.start > index) {
                    continue;
                }
                if current != Some(range_index) {
                    if current.is_some() {
                        finish_piece(&mut out, &mut stack, &mut pieces);
                    }
                    current = Some(range_index);
                }
                for (tag, written) in stack.iter_mut().filter(|(_, written)| !*written) {
                    tag.push_open(&mut out);
                    *written = true;
                }
                push_escaped_char(&mut out, *ch);
            }
        }
    }
    finish_piece(&mut out, &mut stack, &mut pieces);
    pieces
}

fn finish_piece(out: &mut String, stack: &mut [(&HtmlTag, bool)], pieces: &mut Vec<String>) {
    for (tag, written) in stack.iter_mut().rev() {
        if *written {
            tag.push_close(out);
            *written = false;
        }
    }
    if !out.is_empty() {
        pieces.push(std::mem::take(out));
    }
}

/// The length Telegram counts for this HTML: visible text in UTF-16 code units, an entity counting as the
/// character it stands for.
pub fn visible_len_utf16(html: &str) -> usize {
    parse_html(html)
        .iter()
        .map(|a| match a {
            Atom::Char { ch, .. } => ch.len_utf16(),
            _ => 0,
        })
        .sum()
}

/// The visible text of Telegram HTML: tags stripped, entities decoded. The fallback to send without a parse
/// mode when Telegram refuses the entities anyway.
pub fn html_to_plain(html: &str) -> String {
    visible_chars(&parse_html(html))
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_html_escapes_the_three_special_characters() {
        assert_eq!(
            escape_html("<script> a < b && c > d \"q\""),
            "&lt;script&gt; a &lt; b &amp;&amp; c &gt; d \"q\""
        );
    }

    #[test]
    fn visible_length_counts_entities_once_and_emoji_twice() {
        assert_eq!(visible_len_utf16("<b>a &amp; b</b>"), 5);
        assert_eq!(visible_len_utf16("😀<i>é</i>&#x1F600;"), 5);
        assert_eq!(
            visible_len_utf16("<pre><code class=\"language-rust\">x</code></pre>"),
            1
        );
    }

    #[test]
    fn html_to_plain_strips_tags_and_decodes_entities() {
        assert_eq!(
            html_to_plain(
                "<a href=\"https://e.com?a=1&amp;b\">a &amp; b</a> &lt;3 &#128512; &quot;q&quot;"
            ),
            "a & b <3 😀 \"q\""
        );
        assert_eq!(
            html_to_plain("&amp;😀😀&lt;é&#233;&nbsp;&#xZZ;"),
            "&😀😀<éé&nbsp;&#xZZ;"
        );
    }
}
