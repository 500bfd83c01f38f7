//! A fake Telegram Bot API server that behaves like the real one where the bot can tell.
//!
//! Faithful on purpose (see `REFERENCE.md`): updates stay until a `getUpdates` offset confirms
//! them, a second poller gets the first one answered with 409, text is measured in UTF-16 code
//! units, HTML is parsed with Telegram's tag subset and error texts, identical edits are "not
//! modified", unknown chats are "chat not found", 429s carry `parameters.retry_after`. Tests add
//! failures with [`FakeTelegram::fail_next`] and optional rate limits with
//! [`FakeTelegram::set_rate_limits`].
//!
//! Cheap enough for benchmarks, which share the CPU with the bot: updates pushed in id order are
//! appended without a scan, sent messages and edits are indexed per chat, waiters on one chat
//! ([`FakeTelegram::wait_until_in_chat`]) are woken only by that chat's messages, and
//! [`FakeTelegram::set_recording`] stops keeping the per-call logs that a long run would pile up.
//!
//! Groups exist as far as a group's upgrade to a supergroup goes ([`FakeTelegram::push_group_text`],
//! [`FakeTelegram::migrate_group`], [`FakeTelegram::push_migration_messages`]): after the upgrade,
//! every call with the old chat id gets 400 with `parameters.migrate_to_chat_id`, as on Telegram.
//! Forum topics ([`FakeTelegram::open_topic`], [`FakeTelegram::push_topic_text`]): a supergroup
//! becomes a forum, each topic starts with its `forum_topic_created` service message, its
//! messages carry `message_thread_id` and `is_topic_message` (and, unless they reply to something
//! else, the service message as `reply_to_message`); `sendMessage` and `sendChatAction` take
//! `message_thread_id` ("message thread not found" for anything but a topic of that forum), and
//! a sent message is recorded with the topic it went to ([`SentMessage::thread`]).
//! The bot can be removed from a group and added again ([`FakeTelegram::remove_bot_from`],
//! [`FakeTelegram::add_bot_to`]): a `my_chat_member` update each time, and 403 to every call in
//! between.
//!
//! Webhooks (`webhook.rs`): `setWebhook` checked like Telegram's, `getWebhookInfo` with the pending
//! count and the last delivery error, and delivery: each update POSTed on its own with the secret
//! header to where the reverse proxy forwards the URL ([`FakeTelegram::route_webhooks_to`]),
//! redelivered with a growing back-off on a non-2xx answer, no connection or a timeout; at most
//! `max_connections` at once and one per chat. `getUpdates` gets 409 while a webhook is set.
//!
//! Known simplifications: no members, permissions or privacy mode in groups, no channels, no
//! media uploads by the bot, `Markdown`/`MarkdownV2` text is accepted without being parsed, no 48 h
//! edit window.
//!
//! | file         | its job                                                                   |
//! |--------------|---------------------------------------------------------------------------|
//! | `mod.rs`     | the public types a test reads; [`FakeTelegram`]'s start, address and stop |
//! | `push.rs`    | what a test feeds in: updates, chats, groups (upgraded, bot removed), a webhook |
//! | `webhook.rs` | `setWebhook`, `deleteWebhook`, `getWebhookInfo`, and the delivery of updates by webhook |
//! | `inspect.rs` | what a test reads back (messages, edits, calls) and waits on              |
//! | `callbacks.rs` | inline keyboards kept with messages, `editMessageReplyMarkup`, taps (`callback_query`) and `answerCallbackQuery` |
//! | `files.rs`   | the files of photos and documents: `getFile`, and the download from `/file/bot<token>/<path>` |
//! | `faults.rs`  | [`Fault`]s a test queues, what each does to a call; the flood limits      |
//! | `server.rs`  | the HTTP entry point; one handler per Bot API method, as documented       |
//! | `state.rs`   | what the server remembers: updates, chats, messages, the call logs        |
//! | `text.rs`    | message text as Telegram reads it: parse mode, HTML, trimming, length     |
//! | `wire.rs`    | request parameters, the ok/error envelope, users and chats as JSON        |

mod callbacks;
mod faults;
mod files;
mod inspect;
mod push;
mod server;
mod state;
mod text;
mod webhook;
mod wire;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::dev::ServerHandle;
use actix_web::web;
use serde_json::Value;
use tokio::sync::Notify;

use super::{lock, serve_on_loopback, unix_now};
use state::{Shared, State};

pub use callbacks::{CallbackAnswer, MarkupEdit, Tap};
pub use faults::Fault;
pub use files::jpeg_bytes;
pub use webhook::{WebhookDelivery, WebhookSet};

/// The first `update_id` handed out. Real ids are arbitrary large numbers; a fixed base keeps
/// test output readable. [`FakeTelegram::set_next_update_id`] simulates Telegram's id reset.
const FIRST_UPDATE_ID: i64 = 100_000;

/// Text limit of one message, in UTF-16 code units after entity parsing.
pub const MAX_TEXT_UTF16: usize = 4096;

/// One successful `sendMessage`, as recorded by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub chat_id: i64,
    pub message_id: i64,
    /// The `text` parameter exactly as the bot sent it (HTML tags and `&lt;` included).
    pub text: String,
    pub parse_mode: Option<String>,
    /// The message replied to, from `reply_to_message_id` or `reply_parameters.message_id`.
    pub reply_to: Option<i64>,
    /// The forum topic it went to (`message_thread_id`, or the replied message's topic); `None`:
    /// the chat itself, or a forum's General topic.
    pub thread: Option<i64>,
    /// What the user sees: tags stripped, entities decoded, surrounding whitespace trimmed
    /// (Telegram trims it).
    pub plain: String,
    /// When the fake accepted it (for latency measurements).
    pub at: Instant,
}

/// One successful `editMessageText`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditedMessage {
    pub chat_id: i64,
    pub message_id: i64,
    pub text: String,
    pub parse_mode: Option<String>,
    pub plain: String,
    /// When the fake accepted it (for latency measurements).
    pub at: Instant,
}

/// One `getUpdates` call, as received (after clamping like Telegram does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetUpdatesCall {
    pub offset: Option<i64>,
    pub limit: usize,
    pub timeout: u64,
    pub allowed_updates: Option<Vec<String>>,
}

/// Any call of any method, with its HTTP status: for debugging dumps and for assertions such as
/// "no more than N calls".
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    pub method: String,
    pub params: Value,
    pub status: u16,
}

/// The fake server. Dropping it stops the server.
pub struct FakeTelegram {
    shared: Arc<Shared>,
    port: u16,
    handle: ServerHandle,
}

impl FakeTelegram {
    /// Starts the server on 127.0.0.1 (free port) accepting `token`. Must be called inside an
    /// actix runtime (e.g. an `#[actix_web::test]`).
    pub fn start(token: &str) -> FakeTelegram {
        let bot_id = token
            .split(':')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or(123_456);
        let shared = Arc::new(Shared {
            token: token.to_string(),
            bot_id,
            state: Mutex::new(State {
                next_update_id: FIRST_UPDATE_ID,
                ..State::default()
            }),
            updates_changed: Notify::new(),
            changed: Notify::new(),
            recording: AtomicBool::new(true),
            stopped: AtomicBool::new(false),
        });
        // Bodies are small JSON; a generous cap still rejects runaway input.
        let (port, handle) = serve_on_loopback(
            "FakeTelegram",
            web::Data::from(shared.clone()),
            16 * 1024 * 1024,
            |cfg| {
                cfg.default_service(web::to(server::handle));
            },
        );
        actix_rt::spawn(webhook::deliver_forever(shared.clone()));
        FakeTelegram {
            shared,
            port,
            handle,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, the bot's `TELEGRAM_API_URL` (it appends `/bot<token>/<method>`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn token(&self) -> String {
        self.shared.token.clone()
    }

    /// The bot's own user id (the numeric part of the token, as on Telegram).
    pub fn bot_id(&self) -> i64 {
        self.shared.bot_id
    }

    /// Stops the HTTP server (connections are dropped, like a network outage).
    pub fn stop(&self) {
        self.shared
            .stopped
            .store(true, std::sync::atomic::Ordering::Relaxed);
        drop(self.handle.stop(false));
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        // Sends the stop command now; the completion future is not needed.
        self.stop();
    }
}
