//! The bot's commands: one table that feeds parsing, `setMyCommands`, `/help` and the unknown-command reply.

use crate::telegram::types::BotCommandSpec;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum BotCommand {
    Start,
    Help,
    Clear,
    Stats,
    Context,
    /// Stops the answer being generated for this chat (runs beside the chat's turn, not after it).
    Cancel,
    /// Regenerates the last answer, replacing it in the history.
    Retry,
    /// `/system` shows this chat's system prompt, `/system reset` restores the default, `/system <text>` sets it.
    System {
        text: Option<String>,
    },
    /// `/model` shows the server's models as buttons; `/model NAME` switches this chat's model to NAME.
    Model {
        choice: Option<String>,
    },
    /// `/role` shows the server's roles as buttons; `/role NAME` takes that role, `/role off` none.
    Role {
        choice: Option<String>,
    },
    /// `/usage`: the user's tokens today and this month, and their limits; `/usage all` (admins): the top users.
    Usage {
        all: bool,
    },
    /// Anything else that looks like a command; the reply says so and lists the real ones.
    Unknown {
        text: String,
    },
}

/// `(command, description)`, in the order users see them.
pub const COMMANDS: &[(&str, &str)] = &[
    ("start", "What this bot is"),
    ("help", "How to use the bot and its commands"),
    ("clear", "Forget this conversation"),
    ("stats", "Messages and tokens in this conversation"),
    ("context", "Model, context window and current usage"),
    (
        "system",
        "Show or set this chat's system prompt (/system reset for the default)",
    ),
    ("model", "Choose this chat's model"),
    ("role", "Choose a role for this chat (/role off for none)"),
    ("usage", "Your token usage and limits"),
    ("cancel", "Stop the answer being written"),
    ("retry", "Write the last answer again"),
];

/// For `setMyCommands`.
pub fn command_specs() -> Vec<BotCommandSpec> {
    COMMANDS
        .iter()
        .map(|(c, d)| BotCommandSpec {
            command: (*c).to_string(),
            description: (*d).to_string(),
        })
        .collect()
}

/// The command list as text: `/start – What this bot is` per line.
pub fn command_list() -> String {
    COMMANDS
        .iter()
        .map(|(c, d)| format!("/{c} – {d}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a message's text means: a command (for this bot), or ordinary text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Command(BotCommand),
    /// `/cmd@other_bot`: meant for another bot in the group; ignore it.
    ForAnotherBot,
    Text,
}

/// Parses `/cmd`, `/cmd args` and `/cmd@bot_username`. `bot_username` is compared case-insensitively.
pub fn parse(text: &str, bot_username: Option<&str>) -> Parsed {
    let Some(rest) = text.trim_start().strip_prefix('/') else {
        return Parsed::Text;
    };
    let word = rest.split(char::is_whitespace).next().unwrap_or("");
    if word.is_empty() {
        return Parsed::Text;
    }
    let args = rest.get(word.len()..).unwrap_or("").trim();
    let (name, addressee) = match word.split_once('@') {
        Some((n, a)) => (n, Some(a)),
        None => (word, None),
    };
    if let (Some(to), Some(me)) = (addressee, bot_username) {
        if !to.eq_ignore_ascii_case(me) {
            return Parsed::ForAnotherBot;
        }
    }
    Parsed::Command(match name.to_ascii_lowercase().as_str() {
        "start" => BotCommand::Start,
        "help" => BotCommand::Help,
        "clear" => BotCommand::Clear,
        "stats" => BotCommand::Stats,
        "context" => BotCommand::Context,
        "cancel" => BotCommand::Cancel,
        "retry" => BotCommand::Retry,
        "system" => BotCommand::System {
            text: (!args.is_empty()).then(|| args.to_string()),
        },
        "model" => BotCommand::Model {
            choice: (!args.is_empty()).then(|| args.to_string()),
        },
        "usage" => BotCommand::Usage {
            all: args.eq_ignore_ascii_case("all"),
        },
        "role" => BotCommand::Role {
            choice: (!args.is_empty()).then(|| args.to_string()),
        },
        _ => BotCommand::Unknown {
            text: format!("/{name}"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised_with_and_without_addressee() {
        assert_eq!(parse("/start", None), Parsed::Command(BotCommand::Start));
        assert_eq!(
            parse("/Help extra words", None),
            Parsed::Command(BotCommand::Help)
        );
        assert_eq!(
            parse("/clear@Test_Bot", Some("test_bot")),
            Parsed::Command(BotCommand::Clear)
        );
        assert_eq!(
            parse("/clear@other_bot", Some("test_bot")),
            Parsed::ForAnotherBot
        );
    }

    #[test]
    fn system_keeps_its_text_with_line_breaks() {
        assert_eq!(
            parse("/system", None),
            Parsed::Command(BotCommand::System { text: None })
        );
        assert_eq!(
            parse("/system@bot You are terse.\nAlways.", Some("bot")),
            Parsed::Command(BotCommand::System {
                text: Some("You are terse.\nAlways.".into())
            })
        );
    }

    #[test]
    fn unknown_commands_and_plain_text() {
        assert_eq!(
            parse("/frobnicate now", None),
            Parsed::Command(BotCommand::Unknown {
                text: "/frobnicate".into()
            })
        );
        assert_eq!(parse("hello /start", None), Parsed::Text);
        assert_eq!(parse("/ spaced", None), Parsed::Text);
        assert_eq!(parse("", None), Parsed::Text);
    }
}
