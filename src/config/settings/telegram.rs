//! The Telegram settings: the bot's token, the Bot API server, who may talk to the bot and how it behaves in groups.

use super::parse::{access_list, chat_list, http_url, looks_like_bot_token, seconds, whole};
use super::{Fallback, Legacy, Setting};
use crate::config::{redact_token, AccessList, GroupMode};
use crate::ids::ChatId;
use crate::secret::Secret;
use std::collections::BTreeSet;
use std::time::Duration;

/// Telegram's public Bot API; a self-hosted Bot API server is set with `TELEGRAM_API_URL`.
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";

/// The bot's token from @BotFather. Required; secret.
pub static TELEGRAM_BOT_TOKEN: Setting<Secret> = Setting {
    name: "TELEGRAM_BOT_TOKEN",
    legacy: Legacy::None,
    default: Fallback::Required(
        "TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather in Telegram \
         (https://t.me/BotFather, command /newbot) and put the token it gives you here.",
    ),
    parse: |_, t| {
        if looks_like_bot_token(t) {
            Ok(Secret::new(t))
        } else {
            Err("TELEGRAM_BOT_TOKEN does not look like a bot token: expected digits, a colon, then letters, \
                 digits, '-' or '_' (as @BotFather gives it, e.g. 123456789:AAE...)."
                .into())
        }
    },
    show: |c| redact_token(c.telegram.token.expose()),
};

/// The Bot API server, without a trailing slash.
pub static TELEGRAM_API_URL: Setting<String> = Setting {
    name: "TELEGRAM_API_URL",
    legacy: Legacy::None,
    default: Fallback::Value(|| DEFAULT_TELEGRAM_API_URL.to_string()),
    parse: |name, s| http_url(name, s, DEFAULT_TELEGRAM_API_URL),
    show: |c| c.telegram.api_url.clone(),
};

/// The long-polling wait asked of Telegram per `getUpdates`, in seconds (no `s` suffix).
/// 30 s: few empty round trips, well under the 50 s allowed; the HTTP client waits a little longer than this.
pub static TELEGRAM_POLL_TIMEOUT: Setting<Duration> = Setting {
    name: "TELEGRAM_POLL_TIMEOUT",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(30)),
    parse: |name, s| whole(name, s, 1..=50, "seconds").map(Duration::from_secs),
    show: |c| c.telegram.poll_timeout.as_secs().to_string(),
};

/// Who may talk to the bot: numeric user ids separated by commas, or `*` for everyone. Required.
pub static ALLOWED_USER_IDS: Setting<AccessList> = Setting {
    name: "ALLOWED_USER_IDS",
    legacy: Legacy::None,
    default: Fallback::Required(
        "ALLOWED_USER_IDS is empty, so the bot would answer nobody. Set it to your numeric Telegram user \
         id (or several, separated by commas); the bot tells a refused user their id. Use * to allow \
         everyone on purpose.",
    ),
    parse: |_, s| access_list(s),
    show: |c| match &c.access {
        AccessList::Everyone => "* (everyone)".to_string(),
        AccessList::Only(ids) => ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(","),
    },
};

/// The least time between two "Access denied." replies to the same stranger, in seconds; 0: reply to every message.
/// 300 s: a stranger still learns their user id at once, but one who keeps writing gets a reply every five minutes
/// at most, not one per message.
pub static REFUSAL_NOTICE_INTERVAL: Setting<Duration> = Setting {
    name: "REFUSAL_NOTICE_INTERVAL",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(300)),
    parse: |name, s| seconds(name, s, 0..=86_400),
    show: |c| c.refusal_notice_interval.as_secs().to_string(),
};

/// Groups whose every member may talk to the bot: their numeric chat ids (negative, as Telegram gives them),
/// separated by commas. Empty: in groups, only the users of `ALLOWED_USER_IDS` are answered.
pub static ALLOWED_CHAT_IDS: Setting<BTreeSet<ChatId>> = Setting {
    name: "ALLOWED_CHAT_IDS",
    legacy: Legacy::None,
    default: Fallback::Value(BTreeSet::new),
    parse: |name, s| chat_list(name, s),
    show: |c| {
        c.allowed_chats
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    },
};

/// Which messages the bot answers in groups: `mention` (only those that address it), `all` or `off`.
/// `mention`: a group is a conversation among people; the bot speaks when spoken to, as Telegram's privacy mode
/// intends.
pub static GROUP_MODE: Setting<GroupMode> = Setting {
    name: "GROUP_MODE",
    legacy: Legacy::None,
    default: Fallback::Value(|| GroupMode::Mention),
    parse: |name, s| match s.to_ascii_lowercase().as_str() {
        "mention" => Ok(GroupMode::Mention),
        "all" => Ok(GroupMode::All),
        "off" => Ok(GroupMode::Off),
        _ => Err(format!("{name} must be mention, all or off, not {s:?}.")),
    },
    show: |c| c.group_mode.as_str().to_string(),
};

/// The most unaddressed messages a group's memory may keep: 50 short messages are a few thousand tokens, a small
/// part of any prompt; more would be better served by adding the bot with `GROUP_MODE=all`.
pub const MAX_GROUP_CONTEXT_MESSAGES: usize = 50;

/// How many of a group's latest unaddressed messages are kept and given to the model with the next message that
/// addresses the bot (needs privacy mode off); 0: none. Not answered, not stored in the conversation.
/// 0: what people say among themselves reaches the model only when the operator chooses so.
pub static GROUP_CONTEXT_MESSAGES: Setting<usize> = Setting {
    name: "GROUP_CONTEXT_MESSAGES",
    legacy: Legacy::None,
    default: Fallback::Value(|| 0),
    parse: |name, s| whole(name, s, 0..=MAX_GROUP_CONTEXT_MESSAGES, "messages"),
    show: |c| c.group_context_messages.to_string(),
};
