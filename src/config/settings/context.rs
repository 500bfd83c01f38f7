//! The settings of tokens and context: counting tokens, the context window, compression and the system prompt.

use super::parse::whole;
use super::{Fallback, Legacy, Setting};
use std::path::PathBuf;

/// A Hugging Face `tokenizer.json` for exact token counts; unset: a fast estimate.
pub static TOKENIZER_PATH: Setting<Option<PathBuf>> = Setting {
    name: "TOKENIZER_PATH",
    legacy: Legacy::None,
    default: Fallback::Value(|| None),
    parse: |_, s| {
        let path = PathBuf::from(s);
        if path.is_file() {
            Ok(Some(path))
        } else {
            Err(format!(
                "TOKENIZER_PATH points to {}, which is not a readable file. Give the path of a Hugging Face \
                 tokenizer.json, or unset it to use the built-in estimate.",
                path.display()
            ))
        }
    },
    show: |c| {
        c.tokenizer_path
            .as_ref()
            .map_or("(not set: fast estimate)".into(), |p| {
                p.display().to_string()
            })
    },
};

/// The model's context window in tokens; when set, the model server is not asked for it.
/// 128000: a common window of current models, used until (or unless) the server reports the model's.
pub static CONTEXT_WINDOW_TOKENS: Setting<usize> = Setting {
    name: "CONTEXT_WINDOW_TOKENS",
    legacy: Legacy::Alias(&["DEFAULT_CONTEXT_WINDOW"]),
    default: Fallback::Value(|| 128_000),
    parse: |name, s| whole(name, s, 1024..=100_000_000, "tokens"),
    show: |c| c.context.window_tokens.to_string(),
};

/// The share of the window above which a conversation is compressed, strictly between 0 and 1.
/// 0.75: compression starts while a quarter of the window is still free, the most kept for an answer.
pub static COMPRESS_RATIO: Setting<f64> = Setting {
    name: "COMPRESS_RATIO",
    legacy: Legacy::None,
    default: Fallback::Value(|| 0.75),
    parse: |_, s| match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r < 1.0 => Ok(r),
        _ => Err(format!(
            "COMPRESS_RATIO must be a number between 0 and 1 (e.g. 0.75), not {s:?}."
        )),
    },
    show: |c| c.context.compress_ratio.to_string(),
};

/// The newest messages compression always keeps as they are.
/// 6: the last three exchanges stay word for word, enough for a follow-up question.
pub static KEEP_RECENT_MESSAGES: Setting<usize> = Setting {
    name: "KEEP_RECENT_MESSAGES",
    legacy: Legacy::None,
    default: Fallback::Value(|| 6),
    parse: |name, s| whole(name, s, 0..=1000, "messages"),
    show: |c| c.context.keep_recent_messages.to_string(),
};

/// The default system prompt of chats that have not set their own.
pub static SYSTEM_PROMPT: Setting<Option<String>> = Setting {
    name: "SYSTEM_PROMPT",
    legacy: Legacy::None,
    default: Fallback::Value(|| None),
    parse: |_, s| Ok(Some(s.to_string())),
    show: |c| {
        c.system_prompt
            .clone()
            .unwrap_or_else(|| "(not set)".into())
    },
};

/// Tell the chat when its conversation was compressed.
/// On: a user should know why the bot forgot details.
pub static COMPRESSION_NOTICE: Setting<bool> = Setting {
    name: "COMPRESSION_NOTICE",
    legacy: Legacy::None,
    default: Fallback::Value(|| true),
    parse: |_, s| {
        let v = s.to_ascii_lowercase();
        if ["1", "true", "yes", "on"].contains(&v.as_str()) {
            Ok(true)
        } else if ["0", "false", "no", "off"].contains(&v.as_str()) {
            Ok(false)
        } else {
            Err(format!(
                "COMPRESSION_NOTICE must be true or false, not {v:?}."
            ))
        }
    },
    show: |c| c.compression_notice.to_string(),
};
