//! For tests only: an independent checker of Telegram's HTML rules, written apart from the parser it checks,
//! and the helpers the Markdown and splitting tests share.
#![cfg(test)]

use super::{markdown_to_telegram_html, split_html, visible_len_utf16};

/// Telegram's tags, listed again here so that the checker does not trust the parser's list.
const TELEGRAM_TAGS: [&str; 15] = [
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

/// Visible text of valid Telegram HTML, each character with the open tags around it (with attributes).
#[derive(Debug, Default)]
pub(super) struct Checked {
    /// The visible text, entities decoded.
    pub(super) text: String,
    /// For each character of `text`, the open tags around it, outermost first, joined by `>`.
    pub(super) context: Vec<String>,
}

fn decode_entity(entity: &str) -> Option<char> {
    match entity {
        "&lt;" => Some('<'),
        "&gt;" => Some('>'),
        "&amp;" => Some('&'),
        "&quot;" => Some('"'),
        _ => None,
    }
}

fn check_attribute_value(value: &str) -> Result<(), String> {
    if value.contains(['<', '>', '"']) {
        return Err(format!("raw special character in attribute {value:?}"));
    }
    let mut rest = value;
    while let Some(i) = rest.find('&') {
        let end = rest[i..].find(';').ok_or("bare & in attribute")?;
        decode_entity(&rest[i..=i + end]).ok_or("unknown entity in attribute")?;
        rest = &rest[i + end + 1..];
    }
    Ok(())
}

/// A stack-based checker: only Telegram's tags, with their only attributes, properly nested and closed;
/// nothing inside `pre`/`code` but `pre > code`; no quote in a quote, no link in a link, no code in a
/// link; every `&` an entity, no bare `>`.
pub(super) fn validate(html: &str) -> Result<Checked, String> {
    let mut stack: Vec<(String, String)> = Vec::new();
    let mut checked = Checked::default();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').ok_or("unterminated tag")?;
                let inner = &rest[1..end];
                if let Some(name) = inner.strip_prefix('/') {
                    let (open, _) = stack.pop().ok_or(format!("stray </{name}>"))?;
                    if open != name {
                        return Err(format!("<{open}> closed by </{name}>"));
                    }
                } else {
                    let (name, attrs) = inner.split_once(' ').unwrap_or((inner, ""));
                    if !TELEGRAM_TAGS.contains(&name) {
                        return Err(format!("tag <{name}> is not Telegram's"));
                    }
                    let open = |n: &str| stack.iter().any(|(t, _)| t == n);
                    let top = stack.last().map(|(t, _)| t.as_str());
                    if (open("pre") || open("code")) && !(name == "code" && top == Some("pre")) {
                        return Err(format!("<{name}> inside pre/code"));
                    }
                    if (name == "blockquote" && open("blockquote"))
                        || (name == "a" && open("a"))
                        || (name == "code" && open("a"))
                    {
                        return Err(format!("forbidden nesting of <{name}>"));
                    }
                    match name {
                        "a" => {
                            let value = attrs
                                .strip_prefix("href=\"")
                                .and_then(|v| v.strip_suffix('"'))
                                .ok_or(format!("bad link attributes {attrs:?}"))?;
                            check_attribute_value(value)?;
                        }
                        "code" if !attrs.is_empty() => {
                            let language = attrs
                                .strip_prefix("class=\"language-")
                                .and_then(|v| v.strip_suffix('"'))
                                .ok_or(format!("bad code attributes {attrs:?}"))?;
                            if language.is_empty()
                                || !language
                                    .chars()
                                    .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
                            {
                                return Err(format!("bad language {language:?}"));
                            }
                            if top != Some("pre") {
                                return Err("language outside pre".into());
                            }
                        }
                        "span" if attrs != "class=\"tg-spoiler\"" => {
                            return Err("span without tg-spoiler".into())
                        }
                        "blockquote" if !attrs.is_empty() && attrs != "expandable" => {
                            return Err("bad blockquote attributes".into())
                        }
                        "span" | "blockquote" | "code" => {}
                        _ if !attrs.is_empty() => return Err(format!("<{name}> with attributes")),
                        _ => {}
                    }
                    stack.push((name.to_string(), attrs.to_string()));
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest.find(';').ok_or("bare &")?;
                let ch = decode_entity(&rest[..=end]).ok_or(format!("bad entity in {rest:.12}"))?;
                checked.push(ch, &stack);
                rest = &rest[end + 1..];
            }
            '>' => return Err("bare >".into()),
            c => {
                checked.push(c, &stack);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    match stack.last() {
        Some((open, _)) => Err(format!("<{open}> never closed")),
        None => Ok(checked),
    }
}

impl Checked {
    fn push(&mut self, c: char, stack: &[(String, String)]) {
        self.text.push(c);
        let context: Vec<String> = stack.iter().map(|(n, a)| format!("{n} {a}")).collect();
        self.context.push(context.join(">"));
    }
}

pub(super) fn valid(html: &str) -> Checked {
    let checked = validate(html);
    assert!(
        checked.is_ok(),
        "invalid Telegram HTML ({:?}):\n{html}",
        checked.as_ref().err()
    );
    checked.unwrap_or_default()
}

fn without_whitespace(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Splits and checks every piece: valid, within `max`, and together all of the visible text.
pub(super) fn split_and_check(html: &str, max: usize) -> Vec<String> {
    let pieces = split_html(html, max);
    let mut joined = String::new();
    for piece in &pieces {
        let checked = valid(piece);
        let units: usize = checked.text.chars().map(char::len_utf16).sum();
        assert!(units <= max, "piece of {units} > {max} units: {piece}");
        assert_eq!(units, visible_len_utf16(piece));
        assert!(!checked.text.trim().is_empty(), "empty piece {piece:?}");
        joined.push_str(&checked.text);
    }
    assert_eq!(
        without_whitespace(&joined),
        without_whitespace(&valid(html).text),
        "visible text lost or repeated"
    );
    pieces
}

/// Markdown converted, and checked to be valid Telegram HTML.
pub(super) fn md(markdown: &str) -> String {
    let html = markdown_to_telegram_html(markdown);
    valid(&html);
    html
}
