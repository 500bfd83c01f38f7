//! Telegram Bot API over awc: wire types, the error enum, the client, message formatting and splitting.
//! Knows nothing of actors.
//!
//! Formatting and splitting, pure functions:
//! - [`markdown`]: Markdown to Telegram HTML ([`markdown_to_telegram_html`]).
//! - [`html`]: Telegram's HTML: escaping ([`escape_html`]), the parser, and what Telegram counts and shows
//!   ([`visible_len_utf16`], [`html_to_plain`]).
//! - [`html_split`]: HTML cut into pieces that each stay valid ([`split_html`]).
//! - [`split`]: plain text cut into pieces ([`split_message`]), lengths in UTF-16 ([`utf16_len`],
//!   [`MAX_MESSAGE_UTF16`]).
//! - `cut`: where a piece is cut, one rule for both splitters.
//!
//! Inline keyboards: [`keyboard`] (the markup), [`callbacks`] (the methods that send and edit it, and the
//! `callback_query` update of a tap).
//!
//! Files: [`files`] (photos and documents as messages carry them, `getFile`, the download).
//!
//! Webhooks: [`webhook`] (`setWebhook`, `deleteWebhook`, `getWebhookInfo`, and the secret Telegram sends back).
//!
//! Incoming messages: [`addressing`] (whether a message mentions or replies to the bot, who wrote it, what it
//! replies to).

pub mod addressing;
pub mod callbacks;
pub mod client;
mod cut;
pub mod delivery;
pub mod error;
pub mod files;
pub mod html;
#[cfg(test)]
mod html_check;
pub mod html_split;
pub mod keyboard;
pub mod markdown;
pub mod pacing;
pub mod split;
pub mod types;
pub mod webhook;

pub use client::BotApi;
pub use error::TelegramError;
pub use html::{escape_html, html_to_plain, visible_len_utf16};
pub use html_split::split_html;
pub use markdown::markdown_to_telegram_html;
pub use split::{split_message, utf16_len, MAX_MESSAGE_UTF16};
