//! Message text as Telegram reads it: the parse mode (HTML parsed with Telegram's tag subset and
//! tdlib's error texts, Markdown accepted as is), whitespace trimmed with the entities moved
//! along, emptiness and the length limit in UTF-16 code units.

use serde_json::{json, Value};

use super::wire::{ApiError, Params};
use super::MAX_TEXT_UTF16;

/// Tags Telegram's HTML parse mode accepts; anything else is "Unsupported start tag".
const SUPPORTED_TAGS: &[&str] = &[
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

/// A parsed `text` + `parse_mode`: what the user will see and the entities.
pub(super) struct Rendered {
    /// What the user sees: tags removed, entities decoded.
    pub(super) plain: String,
    /// The formatting, as `MessageEntity` objects (offsets in UTF-16 code units of `plain`).
    pub(super) entities: Vec<Value>,
}

/// Validates `text` like Telegram: entity parsing, then trimming, then emptiness and length in
/// UTF-16 code units. `too_long` differs between sendMessage and editMessageText.
pub(super) fn render(
    params: &Params,
    too_long: &str,
) -> Result<(String, Option<String>, Rendered), ApiError> {
    let text = params.string("text").unwrap_or_default();
    let parse_mode = params.string("parse_mode").filter(|p| !p.is_empty());
    let rendered = match parse_mode
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Rendered {
            plain: text.clone(),
            entities: Vec::new(),
        },
        Some("html") => parse_html(&text)
            .map_err(|e| ApiError::bad_request(format!("can't parse entities: {e}")))?,
        // Accepted without validation: see the module doc.
        Some("markdown") | Some("markdownv2") => Rendered {
            plain: text.clone(),
            entities: Vec::new(),
        },
        Some(_) => return Err(ApiError::bad_request("unsupported parse_mode")),
    };
    let rendered = trim(rendered);
    if rendered.plain.is_empty() {
        return Err(ApiError::bad_request("message text is empty"));
    }
    if rendered.plain.encode_utf16().count() > MAX_TEXT_UTF16 {
        return Err(ApiError::bad_request(too_long));
    }
    Ok((text, parse_mode, rendered))
}

/// Telegram strips leading and trailing whitespace from message text (after entity parsing),
/// moving entities with it; what remains is what is stored, measured and shown.
fn trim(rendered: Rendered) -> Rendered {
    let plain = rendered.plain.trim();
    let lead = rendered.plain.trim_start();
    let lead_utf16 = rendered.plain[..rendered.plain.len() - lead.len()]
        .encode_utf16()
        .count();
    let total = plain.encode_utf16().count();
    let entities = rendered
        .entities
        .into_iter()
        .filter_map(|mut e| {
            let start = e["offset"].as_u64().and_then(|o| usize::try_from(o).ok())?;
            let end = start + e["length"].as_u64().and_then(|l| usize::try_from(l).ok())?;
            let start = start.saturating_sub(lead_utf16);
            let end = end.saturating_sub(lead_utf16).min(total);
            (end > start).then(|| {
                e["offset"] = json!(start);
                e["length"] = json!(end - start);
                e
            })
        })
        .collect();
    Rendered {
        plain: plain.to_string(),
        entities,
    }
}

// ----- HTML parse mode ----------------------------------------------------------------------

/// A tag opened and not yet closed, while parsing.
struct OpenTag {
    /// Lower-cased, as Telegram matches tags.
    name: String,
    /// UTF-16 offset in the plain text where the entity starts.
    offset: usize,
    attrs: Vec<(String, String)>,
}

/// Parses Telegram-HTML into plain text and entities, with tdlib's error texts.
///
/// Stricter than tdlib in one documented way: a bare `&` that does not start a valid entity is
/// refused. Telegram's docs require `&amp;` (tdlib happens to keep such `&` literally), and a bot
/// that forgets to escape `&` will mangle text such as `&lt;` coming from the model.
fn parse_html(src: &str) -> Result<Rendered, String> {
    let bytes = src.as_bytes();
    let mut plain = String::with_capacity(src.len());
    let mut utf16 = 0usize;
    let mut stack: Vec<OpenTag> = Vec::new();
    let mut entities = Vec::new();
    let is_space = |b: u8| b.is_ascii_whitespace();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'&' => {
                let (ch, len) = decode_entity(&src[i..]).ok_or_else(|| {
                    format!("unescaped '&' at byte offset {i}; it must be written as &amp;")
                })?;
                plain.push(ch);
                utf16 += ch.len_utf16();
                i += len;
            }
            b'<' if bytes.get(i + 1) == Some(&b'/') => {
                let start = i;
                let close = src[i..]
                    .find('>')
                    .ok_or_else(|| format!("Unclosed end tag at byte offset {start}"))?;
                let name = src[i + 2..i + close].trim().to_ascii_lowercase();
                i += close + 1;
                let open = stack
                    .pop()
                    .ok_or_else(|| format!("Unexpected end tag at byte offset {start}"))?;
                if open.name != name {
                    return Err(format!(
                        "Unmatched end tag at byte offset {start}, expected \"</{}>\", found \"</{name}>\"",
                        open.name
                    ));
                }
                if utf16 > open.offset {
                    entities.push(entity(&open, utf16 - open.offset));
                }
            }
            b'<' => {
                let start = i;
                let mut j = i + 1;
                while j < bytes.len() && !is_space(bytes[j]) && bytes[j] != b'>' {
                    j += 1;
                }
                if j >= bytes.len() {
                    return Err(format!("Unclosed start tag at byte offset {start}"));
                }
                let name = src[i + 1..j].to_ascii_lowercase();
                if !SUPPORTED_TAGS.contains(&name.as_str()) {
                    return Err(format!(
                        "Unsupported start tag \"{name}\" at byte offset {start}"
                    ));
                }
                let mut attrs = Vec::new();
                loop {
                    while j < bytes.len() && is_space(bytes[j]) {
                        j += 1;
                    }
                    if j >= bytes.len() {
                        return Err(format!("Unclosed start tag at byte offset {start}"));
                    }
                    if bytes[j] == b'>' {
                        j += 1;
                        break;
                    }
                    let name_start = j;
                    while j < bytes.len()
                        && !is_space(bytes[j])
                        && bytes[j] != b'='
                        && bytes[j] != b'>'
                    {
                        j += 1;
                    }
                    let attr = src[name_start..j].to_ascii_lowercase();
                    if attr.is_empty() {
                        return Err(format!(
                            "Empty attribute name in the tag \"{name}\" at byte offset {start}"
                        ));
                    }
                    while j < bytes.len() && is_space(bytes[j]) {
                        j += 1;
                    }
                    let mut value = String::new();
                    if bytes.get(j) == Some(&b'=') {
                        j += 1;
                        while j < bytes.len() && is_space(bytes[j]) {
                            j += 1;
                        }
                        match bytes.get(j) {
                            None => {
                                return Err(format!("Unclosed start tag at byte offset {start}"))
                            }
                            Some(&q) if q == b'"' || q == b'\'' => {
                                let end = src[j + 1..].find(char::from(q)).ok_or_else(|| {
                                    format!("Unclosed end of attribute value in the tag \"{name}\" at byte offset {start}")
                                })?;
                                value = decode_lenient(&src[j + 1..j + 1 + end]);
                                j += end + 2;
                            }
                            Some(_) => {
                                let value_start = j;
                                while j < bytes.len() && !is_space(bytes[j]) && bytes[j] != b'>' {
                                    j += 1;
                                }
                                value = decode_lenient(&src[value_start..j]);
                            }
                        }
                    }
                    attrs.push((attr, value));
                }
                if name == "span" && !attrs.iter().any(|(k, v)| k == "class" && v == "tg-spoiler") {
                    return Err(format!(
                        "Tag \"span\" must have class \"tg-spoiler\" at byte offset {start}"
                    ));
                }
                i = j;
                stack.push(OpenTag {
                    name,
                    offset: utf16,
                    attrs,
                });
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
                plain.push(ch);
                utf16 += ch.len_utf16();
                i += ch.len_utf8().max(1);
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            open.name
        ));
    }
    entities.sort_by_key(|e: &Value| {
        (
            e["offset"].as_u64(),
            std::cmp::Reverse(e["length"].as_u64()),
        )
    });
    Ok(Rendered { plain, entities })
}

fn entity(tag: &OpenTag, length: usize) -> Value {
    let attr = |name: &str| {
        tag.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let kind = match tag.name.as_str() {
        "b" | "strong" => "bold",
        "i" | "em" => "italic",
        "u" | "ins" => "underline",
        "s" | "strike" | "del" => "strikethrough",
        "span" | "tg-spoiler" => "spoiler",
        "a" => "text_link",
        "code" => "code",
        "pre" => "pre",
        "blockquote" if attr("expandable").is_some() => "expandable_blockquote",
        _ => "blockquote",
    };
    let mut e = json!({ "type": kind, "offset": tag.offset, "length": length });
    if kind == "text_link" {
        e["url"] = json!(attr("href").unwrap_or_default());
    }
    if let Some(language) =
        attr("class").and_then(|c| c.strip_prefix("language-").map(str::to_string))
    {
        e["language"] = json!(language);
    }
    e
}

/// Decodes `&lt;` `&gt;` `&amp;` `&quot;` and numeric `&#NN;` / `&#xHH;` at the start of `s`:
/// the entities Telegram understands. Returns the character and the bytes consumed.
fn decode_entity(s: &str) -> Option<(char, usize)> {
    let semi = s.get(..12.min(s.len())).unwrap_or(s).find(';')?;
    let name = s.get(1..semi)?;
    let ch = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')?
        }
    };
    Some((ch, semi + 1))
}

/// Attribute values: entities decoded where valid, anything else kept.
fn decode_lenient(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        match decode_entity(&rest[pos..]) {
            Some((ch, len)) => {
                out.push(ch);
                rest = &rest[pos + len..];
            }
            None => {
                out.push('&');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}
