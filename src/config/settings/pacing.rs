//! The pacing settings: how often answers are edited and sent to Telegram, and how long the model may be silent.

use super::parse::{millis, seconds, whole};
use super::{Fallback, Legacy, Setting};
use std::time::Duration;

/// The least time between two edits of a streaming answer in one chat, in milliseconds.
/// 1000 ms: Telegram allows about one message (or edit) a second to one chat.
pub static STREAM_EDIT_INTERVAL_MS: Setting<Duration> = Setting {
    name: "STREAM_EDIT_INTERVAL_MS",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_millis(1000)),
    parse: |name, s| millis(name, s, 100..=60_000),
    show: |c| c.stream_edit_interval.as_millis().to_string(),
};

/// Sends and edits in any rolling 1.1 s for the whole bot (see `telegram::pacing`); 0: no limit.
/// 28: Telegram allows about 30 a second; the rest is a margin.
pub static TELEGRAM_RATE_LIMIT: Setting<u32> = Setting {
    name: "TELEGRAM_RATE_LIMIT",
    legacy: Legacy::None,
    default: Fallback::Value(|| 28),
    parse: |name, s| whole(name, s, 0..=1000, "calls (0: no limit)"),
    show: |c| c.telegram_rate_limit.to_string(),
};

/// The least time between two calls to one chat, in milliseconds.
/// 350 ms: Telegram allows about one message a second to one chat, with short bursts; this keeps it under 3.
pub static TELEGRAM_CHAT_GAP_MS: Setting<Duration> = Setting {
    name: "TELEGRAM_CHAT_GAP_MS",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_millis(350)),
    parse: |name, s| millis(name, s, 0..=10_000),
    show: |c| c.telegram_chat_gap.as_millis().to_string(),
};

/// How long a streamed answer may stay silent (before its first token, or between two) before it fails.
/// 120 s: room for the slow first token of a long prompt or a reasoning model; a hung server is still noticed.
pub static LLM_IDLE_TIMEOUT: Setting<Duration> = Setting {
    name: "LLM_IDLE_TIMEOUT",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(120)),
    parse: |name, s| seconds(name, s, 1..=86_400),
    show: |c| c.llm_idle_timeout.as_secs().to_string(),
};
