//! Every sentence the bot says to its users, in one place (a later translation has one file to go through).
//!
//! Pure functions over plain values: no I/O, no actors. Errors are turned into words here, never shown as
//! they are: a user never sees a Rust error, a stack trace or the bot token.

use crate::commands::command_list;
use crate::context::WindowSize;
use crate::db::models::ChatStats;
use crate::ids::UserId;
use crate::llm::LlmError;
use crate::text::{thousands, utc_minute};
use crate::usage::{wait_text, LimitHit, Limits, Period, Periods};

// ---- Notes under an answer (stripped before the answer is stored: the model never sees them) --------------

/// Shown under an answer the model server may have cut short (aichat ends a failed stream like a normal one).
pub const CUT_OFF_NOTE: &str =
    "\n\n_(The answer may be incomplete: the model server stopped early.)_";
/// Shown under an answer the model ended at its output-token limit (`finish_reason: "length"`): it is cut.
pub const LENGTH_NOTE: &str =
    "\n\n_(The answer was cut off: it reached the model's length limit.)_";
/// Shown under an answer the server's content filter stopped (`finish_reason: "content_filter"`).
pub const FILTERED_NOTE: &str = "\n\n_(The model server's content filter stopped this answer.)_";
/// Shown under an answer stopped with /cancel.
pub const STOPPED_NOTE: &str = "\n\n_⏹ Stopped._";

/// Every note [`answer_for_history`] removes.
const NOTES: [&str; 4] = [CUT_OFF_NOTE, LENGTH_NOTE, FILTERED_NOTE, STOPPED_NOTE];

/// Shown instead of an answer that was empty (after reasoning blocks were removed).
pub const EMPTY_ANSWER: &str =
    "(The model returned an empty answer. Try rephrasing, or /clear to start over.)";

/// What of a shown answer goes into the conversation: the answer without the notes for the user, and nothing
/// for the empty-answer placeholder.
pub fn answer_for_history(shown: &str) -> String {
    if shown == EMPTY_ANSWER {
        return String::new();
    }
    NOTES
        .iter()
        .fold(shown, |text, note| text.trim_end_matches(note))
        .to_string()
}

// ---- Notices and failures ----------------------------------------------------------------------------------

pub const TEXT_ONLY: &str =
    "I can read text, photos and text files, but not voice messages, videos or stickers. Please send your \
     question as text.";
/// What the model is asked for a photo sent without a caption.
pub const DESCRIBE_IMAGE: &str = "Describe this image.";
/// … and for an album sent without a caption.
pub const DESCRIBE_IMAGES: &str = "Describe these images.";
pub const DOCUMENT_NOT_TEXT: &str =
    "I can read text files (plain text, Markdown, JSON, CSV, source code …) and \
     photos, but not this kind of file. Please send its text, or a screenshot as a photo.";
pub const FILE_TOO_BIG_FOR_TELEGRAM: &str =
    "⚠️ This file is too big: Telegram lets bots download files of up to 20 MB.";
pub const FILE_UNAVAILABLE: &str =
    "⚠️ I could not download this file from Telegram. Please send it again.";

/// A text document over `MAX_DOCUMENT_BYTES`.
pub fn document_too_big(limit_bytes: u64) -> String {
    format!(
        "⚠️ This file is too big for me to read: I take text files of up to {}. Please send a part of it.",
        bytes(limit_bytes)
    )
}

/// A photo for a model that sees no images; `can`: the models of `/model` that do.
pub fn no_vision(model: &str, can: &[String]) -> String {
    let mut text =
        format!("This model ({model}) can't see images, so I did not send it your photo.");
    if can.is_empty() {
        text.push_str(" None of the models I can use sees images.");
    } else {
        text.push_str(&format!(
            " Models that can: {}. Switch with /model.",
            can.join(", ")
        ));
    }
    text
}

/// How `count` photos stand in the history: what the user message stores, what a model without vision sees,
/// and what compression summarises.
pub fn photos_in_history(count: usize, caption: Option<&str>) -> String {
    let what = if count > 1 {
        format!("{count} photos")
    } else {
        "photo".to_string()
    };
    match caption.map(str::trim).filter(|c| !c.is_empty()) {
        Some(caption) => format!("[{what}: {caption}]"),
        None => format!("[{what}]"),
    }
}

/// What a model that sees `count` photos is asked with them: their caption, or to describe them.
pub fn ask_of_photos(count: usize, caption: Option<&str>) -> String {
    match caption.map(str::trim).filter(|c| !c.is_empty()) {
        Some(caption) => caption.to_string(),
        None if count > 1 => DESCRIBE_IMAGES.to_string(),
        None => DESCRIBE_IMAGE.to_string(),
    }
}

/// `1048576` → "1 MB", `1536` → "1.5 KB".
fn bytes(n: u64) -> String {
    const KB: f64 = 1024.0;
    let n = n as f64;
    let (value, unit) = if n >= KB * KB {
        (n / KB / KB, "MB")
    } else if n >= KB {
        (n / KB, "KB")
    } else {
        (n, "bytes")
    };
    let shown = format!("{value:.1}");
    format!("{} {unit}", shown.trim_end_matches(".0"))
}
/// The answer in a group when `GROUP_MODE=off` (said once per group).
pub const PRIVATE_ONLY: &str = "I only answer in private chats. Write to me directly to talk.";
pub const INTERNAL_ERROR: &str =
    "⚠️ Something went wrong on my side while answering. Please try again.";
pub const MEMORY_ERROR: &str =
    "⚠️ I could not reach my memory of this conversation (a database problem). Please try again in a moment.";
pub const GAVE_UP: &str =
    "⚠️ Sorry, I could not answer your message: the bot was interrupted while \
    working on it. Please send it again.";
pub const QUEUE_ERROR: &str =
    "⚠️ I could not keep track of your message (the job queue is unavailable). \
    Please send it again in a moment.";

pub fn access_denied(user: UserId) -> String {
    format!(
        "Access denied.\nYour Telegram user id is {user}. If this is your bot, add it to ALLOWED_USER_IDS."
    )
}

/// Why the model server could not answer, in words (the details go to the log only).
pub fn llm_failure(error: &LlmError) -> &'static str {
    match error {
        LlmError::Unreachable(_) => {
            "⚠️ The model server is not reachable right now, so I could not answer. Please try again in a moment."
        }
        LlmError::Timeout => "⚠️ The model took too long to answer, so I gave up. Please try again.",
        LlmError::Overloaded(_) => {
            "⚠️ The model is busy or rate-limited right now. Please try again in a minute."
        }
        LlmError::Rejected { .. } => {
            "⚠️ The model server could not answer this message (it reported an error). Please try again, or /clear to start over."
        }
        LlmError::Server { .. } | LlmError::BadResponse(_) => {
            "⚠️ The model server had a problem answering. Please try again in a moment."
        }
        LlmError::Unauthorized(_) => {
            "⚠️ The model server refused the bot's credentials. The bot's owner needs to check AICHAT_API_KEY."
        }
    }
}

pub fn too_long(size: usize, limit: usize) -> String {
    format!(
        "⚠️ Your message is too long for the model: about {} tokens, and at most {} fit in its context \
         window. Please send a shorter text.",
        thousands(size as u64),
        thousands(limit as u64)
    )
}

/// A text file whose content alone does not fit the model's window (`size`, `limit`: tokens).
pub fn file_too_long(size: usize, limit: usize) -> String {
    format!(
        "⚠️ This file is too long for the model: about {} tokens, and at most {} fit in its context window. \
         Please send a part of it.",
        thousands(size as u64),
        thousands(limit as u64)
    )
}

pub fn trimmed(left_out: usize) -> String {
    format!(
        "ℹ️ This conversation no longer fits the model's context window: the oldest {left_out} message(s) \
         are left out of this answer's context (they are still stored; /clear starts over)."
    )
}

pub fn compression_note(before: usize, after: usize) -> String {
    format!(
        "🗜 Our conversation got long, so I summarised its older part ({} → {} tokens of context). Nothing \
         was deleted: /context shows the details, /clear starts over.",
        thousands(before as u64),
        thousands(after as u64)
    )
}

// ---- Command replies ---------------------------------------------------------------------------------------

pub fn help(model: &str) -> String {
    format!(
        "I'm a chat bot connected to an AI model ({model}). Send me a message and I'll answer; \
         I remember our conversation until you /clear it.\n\nCommands:\n{}",
        command_list()
    )
}

pub fn unknown_command(command: &str) -> String {
    format!(
        "Sorry, I don't know the command {command}.\n\nCommands:\n{}",
        command_list()
    )
}

pub const CLEARED: &str = "Conversation cleared.";
pub const NOTHING_TO_RETRY: &str = "There is no answer to regenerate yet.";
pub const CANCELLING: &str = "Stopping the answer in progress.";
pub const NOTHING_TO_CANCEL: &str = "There is no answer in progress to stop.";
pub const SYSTEM_PROMPT_SET: &str =
    "System prompt set for this chat. It applies from your next message.";

/// `/system`: the prompt in force, `own` (the chat's) before `default` (the bot's).
pub fn system_prompt(own: Option<&str>, default: Option<&str>) -> String {
    match (own, default) {
        (Some(own), _) => format!("This chat's system prompt:\n{own}\n\n/system reset restores the default."),
        (None, Some(default)) => format!(
            "This chat uses the default system prompt:\n{default}\n\nSet your own with /system <text>."
        ),
        (None, None) => "This chat has no system prompt. Set one with /system <text>.".to_string(),
    }
}

/// `/system reset`: the default now in force.
pub fn system_prompt_reset(default: Option<&str>) -> String {
    format!(
        "System prompt reset to the default.\n\n{}",
        system_prompt(None, default)
    )
}

pub fn stats(s: &ChatStats) -> String {
    let total = s.user_messages + s.assistant_messages;
    if total == 0 {
        return "No conversation yet: send me a message to start one.".to_string();
    }
    let mut out = format!(
        "Messages: {} ({} from you, {} from me)\nTokens in history (estimated): {}",
        thousands(total.unsigned_abs()),
        thousands(s.user_messages.unsigned_abs()),
        thousands(s.assistant_messages.unsigned_abs()),
        thousands(s.tokens.unsigned_abs()),
    );
    if s.prompt_tokens > 0 || s.completion_tokens > 0 {
        out.push_str(&format!(
            "\nTokens reported by the model server: {} prompt, {} completion",
            thousands(s.prompt_tokens.unsigned_abs()),
            thousands(s.completion_tokens.unsigned_abs())
        ));
    }
    out.push_str(&format!(
        "\nCompressions: {}",
        thousands(s.compressions.unsigned_abs())
    ));
    if s.photos > 0 || s.documents > 0 {
        out.push_str(&format!(
            "\nPhotos: {}, files: {}",
            thousands(s.photos.unsigned_abs()),
            thousands(s.documents.unsigned_abs())
        ));
    }
    if let Some(first) = s.first_at {
        out.push_str(&format!("\nStarted: {}", utc_minute(first)));
    }
    if let Some(last) = s.last_at {
        out.push_str(&format!("\nLast activity: {}", utc_minute(last)));
    }
    out
}

/// The tokens `/context` reports (in the server's tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextFigures {
    /// What the next prompt would carry: system prompt, summary, unfolded turns.
    pub with_summary: usize,
    /// What it would carry without compression: system prompt and every turn.
    pub without_summary: usize,
    pub summary_tokens: usize,
}

pub fn context(model: &str, window: &WindowSize, usage: &ContextFigures) -> String {
    let size = window.window;
    // Display only: precision loss on huge numbers is irrelevant.
    let percent = |n: usize| n as f64 * 100.0 / size.max(1) as f64;
    let mut out = format!(
        "Model: {model}\nContext window: {} tokens\nCompression threshold: {} tokens ({:.0}%)\n\
         Current usage: {} tokens ({:.1}% of the window)",
        thousands(size as u64),
        thousands(window.threshold() as u64),
        window.ratio() * 100.0,
        thousands(usage.with_summary as u64),
        percent(usage.with_summary),
    );
    if usage.summary_tokens > 0 {
        out.push_str(&format!(
            "\nWithout the summary: {} tokens ({:.1}% of the window); the summary takes {}",
            thousands(usage.without_summary as u64),
            percent(usage.without_summary),
            thousands(usage.summary_tokens as u64),
        ));
    }
    out
}

// ---- /model and /role ---------------------------------------------------------------------------------------

/// Above `/model`'s keyboard.
pub fn model_menu(current: &str) -> String {
    format!("This chat uses {current}. Choose a model:")
}

/// The switch is done (`/model NAME`, a tap; the keyboard message is edited to this).
pub fn model_switched(model: &str) -> String {
    format!("✓ This chat now uses {model}.")
}

/// `/model NAME` with a name the server does not offer (or `ALLOWED_MODELS` does not allow).
pub fn model_unknown(name: &str, closest: &[&str]) -> String {
    let mut out =
        format!("I can't switch to \"{name}\": it is not one of the models I may use here.");
    if !closest.is_empty() {
        out.push_str(&format!("\nDid you mean: {}?", closest.join(", ")));
    }
    out.push_str("\nSend /model to choose from the list. Nothing was changed.");
    out
}

/// `/model` when the server offers no chat model (none listed, or none allowed).
pub fn no_models(default: &str) -> String {
    format!("The model server lists no model I may offer, so this chat keeps using {default}.")
}

/// The model (or role) list could not be had from the server.
pub const CATALOG_UNAVAILABLE: &str =
    "I could not get the list from the model server just now. Please try again in a moment.";

/// A tap on an old keyboard whose model (or role) is no longer offered.
pub const STALE_CHOICE: &str =
    "That choice is no longer available. Send /model or /role again for the current list.";

/// A tap by someone who may not use the bot.
pub const TAP_ACCESS_DENIED: &str = "Access denied.";

/// Above `/role`'s keyboard.
pub fn role_menu(current: Option<&str>) -> String {
    match current {
        Some(role) => format!("This chat has the role {role}. Choose a role:"),
        None => "This chat has no role. Choose a role:".to_string(),
    }
}

/// The last button of `/role`'s keyboard: no role.
pub const ROLE_OFF_LABEL: &str = "No role";

/// A role was taken (`/role NAME`, a tap): its prompt is the system prompt, and its model if it named one.
pub fn role_set(role: &str, model: Option<&str>) -> String {
    match model {
        Some(model) => format!(
            "✓ Role {role}: its prompt is now this chat's system prompt, and it uses {model}."
        ),
        None => format!("✓ Role {role}: its prompt is now this chat's system prompt."),
    }
}

/// `/role off`, or the keyboard's "No role".
pub const ROLE_CLEARED: &str = "✓ No role: this chat uses the default system prompt again.";

/// `/role NAME` with a name the server does not list.
pub fn role_unknown(name: &str, closest: &[&str]) -> String {
    let mut out = format!("There is no role \"{name}\" on the model server.");
    if !closest.is_empty() {
        out.push_str(&format!("\nDid you mean: {}?", closest.join(", ")));
    }
    out.push_str("\nSend /role to choose from the list. Nothing was changed.");
    out
}

/// `/role` on a server without roles (a plain OpenAI-compatible server answers `/v1/roles` with 404), or one
/// that lists none.
pub const ROLES_UNAVAILABLE: &str =
    "Roles are not available on this model server. Use /system <text> to set \
     this chat's system prompt instead.";

// ---- Usage and limits ----------------------------------------------------------------------------------------

/// A period's usage as `/usage` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageLine {
    pub tokens: u64,
    pub requests: u64,
    /// `None`: no price known for any model used; `Some` with `partly`: some models had no price.
    pub cost: Option<f64>,
    pub partly: bool,
}

/// `$0.0123`: four decimals under a dollar, else two.
fn money(cost: f64) -> String {
    if cost < 1.0 {
        format!("${cost:.4}")
    } else {
        format!("${cost:.2}")
    }
}

fn usage_line(u: &UsageLine) -> String {
    let mut out = format!(
        "{} tokens ({} requests)",
        thousands(u.tokens),
        thousands(u.requests)
    );
    if let Some(cost) = u.cost {
        out.push_str(&format!(" · {}", money(cost)));
        if u.partly {
            out.push_str(" (some models have no known price)");
        }
    }
    out
}

/// When a period's limit resets: `in 5 h 12 min, at 00:00 UTC` (the month's: with its date).
fn resets(period: Period, periods: &Periods, now: i64) -> String {
    match period {
        Period::Day => format!("in {}, at 00:00 UTC", wait_text(now, periods.day_ends_at)),
        Period::Month => format!(
            "in {}, at {}",
            wait_text(now, periods.month_ends_at),
            utc_minute(periods.month_ends_at)
        ),
    }
}

/// A user at or over a limit: which, how much was used, when it resets. Nothing went to the model.
pub fn over_limit(hit: &LimitHit, periods: &Periods, now: i64) -> String {
    let which = match hit.period {
        Period::Day => "daily",
        Period::Month => "monthly",
    };
    format!(
        "You have reached your {which} limit: {} of {} tokens used. It resets {}. Until then I can't send \
         your messages to the model.",
        thousands(hit.used),
        thousands(hit.limit),
        resets(hit.period, periods, now)
    )
}

/// `/usage`: the user's tokens (and cost) today and this month, the limits, what is left and when they reset.
pub fn usage(
    today: &UsageLine,
    month: &UsageLine,
    limits: &Limits,
    periods: &Periods,
    now: i64,
) -> String {
    let mut out = format!(
        "Your usage\nToday: {}\nThis month: {}",
        usage_line(today),
        usage_line(month)
    );
    for (label, limit, used, period) in [
        ("Daily limit", limits.daily, today.tokens, Period::Day),
        ("Monthly limit", limits.monthly, month.tokens, Period::Month),
    ] {
        match limit {
            Some(limit) => out.push_str(&format!(
                "\n{label}: {} tokens, {} left; resets {}",
                thousands(limit),
                thousands(limit.saturating_sub(used)),
                resets(period, periods, now)
            )),
            None => out.push_str(&format!("\n{label}: none")),
        }
    }
    out
}

/// `/usage all`: the top users today and this month.
pub fn usage_all(today: &[(UserId, UsageLine)], month: &[(UserId, UsageLine)]) -> String {
    let list = |users: &[(UserId, UsageLine)]| -> String {
        if users.is_empty() {
            return "\n  nobody yet".to_string();
        }
        users
            .iter()
            .enumerate()
            .map(|(i, (user, line))| format!("\n  {}. user {user}: {}", i + 1, usage_line(line)))
            .collect()
    };
    format!(
        "Top users today:{}\nTop users this month:{}",
        list(today),
        list(month)
    )
}

/// `/usage all` from someone not in `ADMIN_USER_IDS`.
pub const USAGE_ALL_ADMINS_ONLY: &str =
    "Only an admin (ADMIN_USER_IDS) can see everyone's usage. /usage shows yours.";
#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::COMMANDS;
    use crate::config::ContextConfig;
    use crate::context::ContextWindow;

    #[test]
    fn stats_text_reads_well() {
        let s = ChatStats {
            user_messages: 2,
            assistant_messages: 2,
            tokens: 1234,
            prompt_tokens: 0,
            completion_tokens: 0,
            first_at: Some(0),
            last_at: Some(60),
            compressions: 1,
            photos: 0,
            documents: 0,
        };
        let t = stats(&s);
        assert!(!t.contains("Photos"), "none sent: {t}");
        let with_files = stats(&ChatStats {
            photos: 3,
            documents: 1,
            ..s.clone()
        });
        assert!(with_files.contains("\nPhotos: 3, files: 1"), "{with_files}");
        assert!(t.contains("Messages: 4 (2 from you, 2 from me)"), "{t}");
        assert!(t.contains("Tokens in history (estimated): 1,234"), "{t}");
        assert!(t.contains("Compressions: 1"), "{t}");
        assert!(t.contains("Started: 1970-01-01 00:00 UTC"), "{t}");
        assert!(t.contains("Last activity: 1970-01-01 00:01 UTC"), "{t}");
        assert!(stats(&ChatStats::default()).contains("No conversation yet"));
    }

    #[test]
    fn context_text_shows_window_threshold_and_usage_with_and_without_summary() {
        let window = ContextWindow::new(&ContextConfig {
            window_tokens: 128_000,
            window_explicit: false,
            compress_ratio: 0.75,
            keep_recent_messages: 6,
        });
        let usage = ContextFigures {
            with_summary: 1280,
            without_summary: 64_000,
            summary_tokens: 300,
        };
        let t = context("m1", &window.size(), &usage);
        assert!(t.contains("Model: m1"), "{t}");
        assert!(t.contains("Context window: 128,000 tokens"), "{t}");
        assert!(
            t.contains("Compression threshold: 96,000 tokens (75%)"),
            "{t}"
        );
        assert!(
            t.contains("Current usage: 1,280 tokens (1.0% of the window)"),
            "{t}"
        );
        assert!(
            t.contains("Without the summary: 64,000 tokens (50.0% of the window)"),
            "{t}"
        );
    }

    #[test]
    fn help_lists_every_command() {
        let help = help("m");
        for (c, _) in COMMANDS {
            assert!(help.contains(&format!("/{c}")), "{help}");
        }
        assert!(unknown_command("/x").contains("/context"));
    }

    #[test]
    fn user_messages_never_carry_details() {
        let e = LlmError::Rejected {
            status: 400,
            message: "thread 'main' panicked at src/x.rs".into(),
        };
        assert!(!llm_failure(&e).contains("panicked"));
        assert!(
            e.to_string().contains("panicked"),
            "the log keeps the detail"
        );
    }

    #[test]
    fn notes_and_the_empty_placeholder_stay_out_of_the_history() {
        assert_eq!(answer_for_history(&format!("hi{CUT_OFF_NOTE}")), "hi");
        assert_eq!(answer_for_history(&format!("hi{STOPPED_NOTE}")), "hi");
        assert_eq!(answer_for_history(EMPTY_ANSWER), "");
        assert_eq!(answer_for_history("plain"), "plain");
    }
}
