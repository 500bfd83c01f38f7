//! Who a message is for, who wrote it, and what it replies to: pure functions over the wire types. The poller
//! uses them to decide whether a group message addresses the bot, and to build the text the model sees.
//!
//! Entity offsets and lengths are in UTF-16 code units, as Telegram counts them; a text is a Rust `str`, so
//! each range is turned into a byte range first (an entity that does not fit the text is not a mention).

use crate::ids::UserId;
use crate::telegram::types::{Message, MessageEntity, User};

/// The longest replied-to text that goes with a turn, in characters (an ellipsis marks the cut): enough for the
/// model to know what is meant, small enough that replying to a long answer does not double the prompt.
pub const REPLY_CONTEXT_CHARS: usize = 300;

/// The bot as `getMe` describes it: what a mention of it or a reply to it is recognised by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    /// Its user id: the `from` of its messages, the `user` of a `text_mention` of it.
    pub id: UserId,
    /// Its username without `@` (empty if Telegram gave none): what a `mention` entity spells.
    pub username: String,
}

/// Whether a chat of this `type` is a group conversation (`group` or `supergroup`).
pub fn is_group(kind: &str) -> bool {
    kind == "group" || kind == "supergroup"
}

/// Whether the text mentions the bot: a `mention` entity spelling `@username` (any case), or a
/// `text_mention` whose user is the bot.
pub fn mentions_bot(text: &str, entities: &[MessageEntity], bot: &BotIdentity) -> bool {
    entities.iter().any(|e| is_mention_of(e, text, bot))
}

/// Whether the message replies to one of the bot's own messages.
pub fn replies_to_bot(message: &Message, bot: &BotIdentity) -> bool {
    message
        .replied()
        .and_then(|r| r.from.as_ref())
        .is_some_and(|from| from.id == bot.id)
}

/// The text without the bot's mentions, spaces around them closed up and a comma or colon right after a
/// leading mention dropped (`@bot, what is…` → `what is…`). A text that is nothing but the mention is kept
/// as it is, so the model still gets something to answer.
pub fn strip_mentions(text: &str, entities: &[MessageEntity], bot: &BotIdentity) -> String {
    let mut ranges: Vec<(usize, usize)> = entities
        .iter()
        .filter(|e| is_mention_of(e, text, bot))
        .filter_map(|e| byte_range(text, e.offset, e.length))
        .collect();
    if ranges.is_empty() {
        return text.to_string();
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in ranges {
        if start < at {
            continue;
        }
        out.push_str(text.get(at..start).unwrap_or_default());
        at = end;
        // Close up: "a @bot b" → "a b".
        let rest = text.get(at..).unwrap_or_default();
        if out.ends_with(char::is_whitespace) || out.is_empty() {
            at += rest.len() - rest.trim_start_matches([' ', '\t']).len();
        }
    }
    out.push_str(text.get(at..).unwrap_or_default());
    let stripped = out
        .trim()
        .trim_start_matches([',', ':'])
        .trim_start()
        .to_string();
    if stripped.is_empty() {
        text.to_string()
    } else {
        stripped
    }
}

/// How a speaker is named to the model: their first name, else `@username`, else `user <id>`; on one line.
pub fn speaker_name(user: &User) -> String {
    let first = user.first_name.trim();
    let name = if !first.is_empty() {
        first.to_string()
    } else if let Some(username) = user.username.as_deref().filter(|u| !u.is_empty()) {
        format!("@{username}")
    } else {
        format!("user {}", user.id)
    };
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The line that tells the model what the message replies to: `[Replying to Name: "…"]` (`you` for the bot's
/// own message), with the part the user quoted, else the replied message's text or caption, cut to
/// [`REPLY_CONTEXT_CHARS`]. `None` when it replies to nothing, or to something without text.
pub fn reply_context(message: &Message, bot: &BotIdentity) -> Option<String> {
    let replied = message.replied()?;
    let quoted = message
        .quote
        .as_ref()
        .map(|q| q.text.as_str())
        .or(replied.text.as_deref())
        .or(replied.caption.as_deref())
        .map(str::trim)
        .filter(|t| !t.is_empty())?;
    let who = match replied.from.as_ref() {
        Some(from) if from.id == bot.id => "you".to_string(),
        Some(from) => speaker_name(from),
        None => "someone".to_string(),
    };
    Some(format!("[Replying to {who}: \"{}\"]", cut(quoted)))
}

/// `text` cut to [`REPLY_CONTEXT_CHARS`] characters, with `…` when something was cut.
fn cut(text: &str) -> String {
    match text.char_indices().nth(REPLY_CONTEXT_CHARS) {
        Some((at, _)) => format!("{}…", text.get(..at).unwrap_or(text).trim_end()),
        None => text.to_string(),
    }
}

fn is_mention_of(entity: &MessageEntity, text: &str, bot: &BotIdentity) -> bool {
    match entity.kind.as_str() {
        "mention" => {
            !bot.username.is_empty()
                && byte_range(text, entity.offset, entity.length)
                    .and_then(|(start, end)| text.get(start..end))
                    .and_then(|m| m.strip_prefix('@'))
                    .is_some_and(|name| name.eq_ignore_ascii_case(&bot.username))
        }
        "text_mention" => entity.user.as_ref().is_some_and(|u| u.id == bot.id),
        _ => false,
    }
}

/// The byte range of the UTF-16 range `offset..offset + length` of `text`; `None` if it does not fall on
/// character boundaries inside the text.
fn byte_range(text: &str, offset: usize, length: usize) -> Option<(usize, usize)> {
    let end16 = offset.checked_add(length)?;
    let (mut start, mut end) = (None, None);
    let mut units = 0;
    for (at, c) in text.char_indices() {
        if units == offset {
            start = Some(at);
        }
        if units == end16 {
            end = Some(at);
            break;
        }
        units += c.len_utf16();
    }
    if units == end16 && end.is_none() {
        end = Some(text.len());
    }
    match (start, end) {
        (Some(s), Some(e)) if s <= e => Some((s, e)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ChatId, MessageId};
    use crate::telegram::types::Chat;
    use crate::telegram::types::TextQuote;

    fn bot() -> BotIdentity {
        BotIdentity {
            id: UserId(99),
            username: "test_bot".into(),
        }
    }

    fn user(id: i64, first: &str, username: Option<&str>) -> User {
        User {
            id: UserId(id),
            is_bot: false,
            first_name: first.into(),
            username: username.map(str::to_string),
        }
    }

    /// A `kind` entity over the UTF-16 range of `part` in `text` (its first occurrence).
    fn entity(kind: &str, text: &str, part: &str, user: Option<User>) -> MessageEntity {
        let at = text.find(part).unwrap();
        MessageEntity {
            kind: kind.into(),
            offset: text[..at].encode_utf16().count(),
            length: part.encode_utf16().count(),
            user,
        }
    }

    fn message(from: Option<User>, text: Option<&str>) -> Message {
        Message {
            message_id: MessageId(1),
            from,
            chat: Chat {
                id: ChatId(-5),
                kind: "group".into(),
                title: None,
                username: None,
                first_name: None,
                is_forum: false,
            },
            date: 0,
            text: text.map(str::to_string),
            entities: Vec::new(),
            caption: None,
            reply_to_message: None,
            quote: None,
            migrate_to_chat_id: None,
            migrate_from_chat_id: None,
            message_thread_id: None,
            is_topic_message: false,
            forum_topic_created: None,
            photo: Vec::new(),
            document: None,
            media_group_id: None,
        }
    }

    #[test]
    fn a_mention_is_found_by_its_utf16_offsets_after_emoji_and_in_any_case() {
        let text = "👍🏽 héllo @Test_Bot, what now?";
        let entities = [entity("mention", text, "@Test_Bot", None)];

        assert!(mentions_bot(text, &entities, &bot()));
        assert_eq!(
            strip_mentions(text, &entities, &bot()),
            "👍🏽 héllo , what now?"
        );
    }

    #[test]
    fn a_mention_of_another_bot_or_an_entity_off_the_text_is_not_a_mention() {
        let text = "ask @other_bot please";
        let other = [entity("mention", text, "@other_bot", None)];
        let off = [MessageEntity {
            kind: "mention".into(),
            offset: 40,
            length: 9,
            user: None,
        }];

        assert!(!mentions_bot(text, &other, &bot()));
        assert!(!mentions_bot(text, &off, &bot()));
        assert_eq!(strip_mentions(text, &other, &bot()), text);
    }

    #[test]
    fn a_text_mention_of_the_bot_counts_and_one_of_someone_else_does_not() {
        let text = "Test Bot, and Bob, hello";
        let entities = [
            entity(
                "text_mention",
                text,
                "Test Bot",
                Some(user(99, "Test Bot", None)),
            ),
            entity("text_mention", text, "Bob", Some(user(8, "Bob", None))),
        ];

        assert!(mentions_bot(text, &entities, &bot()));
        assert!(!mentions_bot(text, &entities[1..], &bot()));
        assert_eq!(strip_mentions(text, &entities, &bot()), "and Bob, hello");
    }

    #[test]
    fn stripping_closes_up_the_spaces_and_keeps_a_bare_mention() {
        let text = "what is @test_bot 2+2";
        let bare = "@test_bot";

        assert_eq!(
            strip_mentions(text, &[entity("mention", text, "@test_bot", None)], &bot()),
            "what is 2+2"
        );
        assert_eq!(
            strip_mentions(bare, &[entity("mention", bare, bare, None)], &bot()),
            "@test_bot"
        );
    }

    #[test]
    fn a_speaker_is_named_by_first_name_else_username_else_id() {
        assert_eq!(
            speaker_name(&user(1, "Ann\nMarie", Some("ann"))),
            "Ann Marie"
        );
        assert_eq!(speaker_name(&user(2, "", Some("bob"))), "@bob");
        assert_eq!(speaker_name(&user(3, " ", None)), "user 3");
    }

    #[test]
    fn a_reply_carries_the_quote_else_the_replied_text_cut_to_length() {
        let mut replied = message(
            Some(user(99, "Test Bot", Some("test_bot"))),
            Some("one two three"),
        );
        let mut reply = message(Some(user(7, "Ann", None)), Some("why?"));
        reply.reply_to_message = Some(Box::new(replied.clone()));
        assert!(replies_to_bot(&reply, &bot()));
        assert_eq!(
            reply_context(&reply, &bot()).as_deref(),
            Some("[Replying to you: \"one two three\"]")
        );

        reply.quote = Some(TextQuote { text: "two".into() });
        assert_eq!(
            reply_context(&reply, &bot()).as_deref(),
            Some("[Replying to you: \"two\"]")
        );

        replied.from = Some(user(8, "Bob", None));
        replied.text = None;
        replied.caption = Some("x".repeat(REPLY_CONTEXT_CHARS + 10));
        reply.reply_to_message = Some(Box::new(replied));
        reply.quote = None;
        let line = reply_context(&reply, &bot()).unwrap();
        assert!(!replies_to_bot(&reply, &bot()));
        assert!(line.starts_with("[Replying to Bob: \"xxx"), "{line}");
        assert!(line.ends_with("x…\"]"), "{line}");
        assert_eq!(
            line.chars().filter(|c| *c == 'x').count(),
            REPLY_CONTEXT_CHARS
        );
    }

    #[test]
    fn a_message_that_replies_to_nothing_or_to_no_text_has_no_reply_context() {
        let mut reply = message(Some(user(7, "Ann", None)), Some("hm"));
        assert_eq!(reply_context(&reply, &bot()), None);
        reply.reply_to_message = Some(Box::new(message(Some(user(8, "Bob", None)), None)));
        assert_eq!(reply_context(&reply, &bot()), None);
    }
}
