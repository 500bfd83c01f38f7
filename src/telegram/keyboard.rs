//! Inline keyboards (`reply_markup.inline_keyboard`): buttons under a message that send `callback_data` back to
//! the bot when tapped (a `callback_query` update, see [`callbacks`](super::callbacks)).

use serde::{Deserialize, Serialize};

/// Telegram's limit on a button's `callback_data`, in bytes (1–64); a longer one is refused with
/// "BUTTON_DATA_INVALID".
pub const MAX_CALLBACK_DATA_BYTES: usize = 64;

/// `{"inline_keyboard": [[button, …], …]}`: rows of buttons, top to bottom.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineKeyboardMarkup {
    pub inline_keyboard: Vec<Vec<InlineKeyboardButton>>,
}

/// One button that calls back: its label and the data a tap sends. Other kinds of button (`url`, …) are not
/// made by the bot; read from a message, their `callback_data` is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineKeyboardButton {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_data: Option<String>,
}

impl InlineKeyboardButton {
    /// A button that sends `data` when tapped.
    pub fn callback(text: impl Into<String>, data: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            callback_data: Some(data.into()),
        }
    }
}

impl InlineKeyboardMarkup {
    /// Every button's `callback_data`, row by row.
    pub fn callback_data(&self) -> impl Iterator<Item = &str> {
        self.inline_keyboard
            .iter()
            .flatten()
            .filter_map(|b| b.callback_data.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_keyboard_is_written_as_telegram_reads_it() {
        let markup = InlineKeyboardMarkup {
            inline_keyboard: vec![
                vec![InlineKeyboardButton::callback("✓ a", "m=0:00000000")],
                vec![
                    InlineKeyboardButton::callback("◀", "m:0"),
                    InlineKeyboardButton::callback("2/2", "m:1"),
                ],
            ],
        };
        assert_eq!(
            serde_json::to_value(&markup).unwrap(),
            json!({"inline_keyboard": [
                [{"text": "✓ a", "callback_data": "m=0:00000000"}],
                [{"text": "◀", "callback_data": "m:0"}, {"text": "2/2", "callback_data": "m:1"}],
            ]})
        );
        assert_eq!(
            markup.callback_data().collect::<Vec<_>>(),
            ["m=0:00000000", "m:0", "m:1"]
        );
    }

    #[test]
    fn a_keyboard_with_other_buttons_is_read() {
        let markup: InlineKeyboardMarkup = serde_json::from_value(json!({"inline_keyboard": [
            [{"text": "site", "url": "https://example.org"}, {"text": "x", "callback_data": "d"}]]}))
        .unwrap();
        assert_eq!(markup.inline_keyboard[0][0].callback_data, None);
        assert_eq!(markup.callback_data().collect::<Vec<_>>(), ["d"]);
    }
}
