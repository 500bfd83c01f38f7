//! Telegram Bot API over awc: wire types, the error enum, the client and message splitting.
//! Knows nothing of actors.

pub mod client;
pub mod delivery;
pub mod error;
pub mod format;
pub mod pacing;
pub mod split;
pub mod types;

pub use client::BotApi;
pub use error::TelegramError;
pub use split::{split_message, utf16_len, MAX_MESSAGE_UTF16};
