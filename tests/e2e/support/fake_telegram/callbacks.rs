//! Inline keyboards and taps on them, as the Bot API documents them
//! (core.telegram.org/bots/api: `InlineKeyboardMarkup`, `CallbackQuery`, `editMessageReplyMarkup`,
//! `answerCallbackQuery`):
//!
//! - `reply_markup` of `sendMessage`, `editMessageText` and `editMessageReplyMarkup` is checked
//!   ([`check_markup`]): every button needs a text and an action, and `callback_data` is 1–64
//!   bytes, else "Bad Request: BUTTON_DATA_INVALID". The keyboard is kept with the message and
//!   comes back in the answer's `reply_markup`.
//! - `editMessageText` sets the keyboard the edit carries, and removes it when it carries none
//!   (as on Telegram); an edit with the same text but another keyboard is not "not modified".
//! - [`FakeTelegram::tap`] delivers a `callback_query` update as Telegram does, with `message` =
//!   the bot's message and its keyboard (only if `allowed_updates` lets `callback_query`
//!   through). `answerCallbackQuery` answers it once: an unknown or already answered id gets
//!   "Bad Request: query is too old and response timeout expired or query ID is invalid".
//!
//! Simplifications: no inline-mode messages (`inline_message_id`), no inaccessible messages (a
//! tap needs a message the bot can see), no answer deadline (a test expires a query with
//! [`FakeTelegram::expire_callback`]); the wordings of the refusals other than the two above are
//! the fake's own.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::server::NOT_MODIFIED;
use super::state::{update_allowed, Shared, State};
use super::wire::{bot_user, user, ApiError, ApiResult, Params};
use super::{lock, unix_now, FakeTelegram};

/// Telegram's limit on `callback_data`, in bytes.
const MAX_CALLBACK_DATA_BYTES: usize = 64;

/// Telegram's limit on the `text` of `answerCallbackQuery`, in characters.
const MAX_ANSWER_TEXT_CHARS: usize = 200;

/// Telegram's answer (after "Bad Request: ") to `answerCallbackQuery` with an unknown, answered or
/// expired id.
pub(super) const QUERY_INVALID: &str =
    "query is too old and response timeout expired or query ID is invalid";

/// The first callback query id handed out (Telegram's are long strings of digits).
const FIRST_QUERY_ID: u64 = 4_382_000_000_000_000_001;

/// What the fake remembers of keyboards and taps (kept in [`State`], under its lock).
#[derive(Default)]
pub(super) struct Callbacks {
    /// `(chat_id, message_id)` → the inline keyboard under that message of the bot.
    markups: HashMap<(i64, i64), Value>,
    /// Every keyboard change of a message already sent, in order.
    markup_edits: Vec<MarkupEdit>,
    /// Taps delivered, by query id.
    queries: HashMap<String, Tap>,
    /// Taps delivered, in order.
    order: Vec<String>,
    issued: u64,
}

/// One keyboard change by `editMessageText` or `editMessageReplyMarkup`.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkupEdit {
    pub method: String,
    pub chat_id: i64,
    pub message_id: i64,
    /// The new keyboard; `None` = removed.
    pub markup: Option<Value>,
}

/// A tap delivered to the bot, and how it was answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Tap {
    pub query_id: String,
    pub chat_id: i64,
    pub user_id: i64,
    pub message_id: i64,
    pub data: String,
    /// The bot's `answerCallbackQuery`, once it came.
    pub answer: Option<CallbackAnswer>,
    /// Expired by the test: answering it fails like a late answer on Telegram.
    pub expired: bool,
}

/// The parameters of an `answerCallbackQuery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackAnswer {
    pub text: Option<String>,
    pub show_alert: bool,
}

/// Checks the `reply_markup` of the methods that take one; an inline keyboard must be rows of
/// buttons, each with a non-empty text and an action, `callback_data` 1–64 bytes.
pub(super) fn check_markup(method: &str, params: &Params) -> Result<(), ApiError> {
    if !matches!(
        method,
        "sendmessage" | "editmessagetext" | "editmessagereplymarkup"
    ) {
        return Ok(());
    }
    let Some(markup) = params.json("reply_markup")? else {
        return Ok(());
    };
    let Some(keyboard) = markup.get("inline_keyboard") else {
        // Reply keyboards and the like are not inline keyboards; the fake takes them as they are.
        return Ok(());
    };
    let rows = keyboard.as_array().ok_or_else(|| {
        ApiError::bad_request(
            "can't parse inline keyboard: field \"inline_keyboard\" must be an Array",
        )
    })?;
    for row in rows {
        let buttons = row.as_array().ok_or_else(|| {
            ApiError::bad_request("can't parse inline keyboard: a row must be an Array")
        })?;
        for button in buttons {
            let text = button["text"].as_str().unwrap_or_default();
            if text.trim().is_empty() {
                return Err(ApiError::bad_request(
                    "can't parse inline keyboard button: Text must be non-empty",
                ));
            }
            match &button["callback_data"] {
                Value::String(data) if (1..=MAX_CALLBACK_DATA_BYTES).contains(&data.len()) => {}
                Value::Null => {
                    let other_action =
                        ["url", "switch_inline_query", "web_app", "login_url", "pay"]
                            .iter()
                            .any(|a| !button[*a].is_null());
                    if !other_action {
                        return Err(ApiError::bad_request(
                            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                        ));
                    }
                }
                _ => return Err(ApiError::bad_request("BUTTON_DATA_INVALID")),
            }
        }
    }
    Ok(())
}

/// The inline keyboard a call carries: `None` when it carries none, or an empty one (which
/// removes the keyboard, as on Telegram).
fn inline_markup(params: &Params) -> Option<Value> {
    let markup = params.json("reply_markup").ok().flatten()?;
    let rows = markup.get("inline_keyboard")?.as_array()?;
    (!rows.is_empty()).then_some(markup)
}

/// After `sendMessage` and `editMessageText`: keeps (or removes) the message's keyboard and puts
/// it in the answer; turns "not modified" into success when only the keyboard changed.
pub(super) fn after(
    shared: &Shared,
    method: &str,
    params: &Params,
    result: ApiResult,
) -> ApiResult {
    match (method, result) {
        ("sendmessage", Ok(mut message)) => {
            let key = message_key(&message);
            if let (Some(key), Some(markup)) = (key, inline_markup(params)) {
                lock(&shared.state)
                    .callbacks
                    .markups
                    .insert(key, markup.clone());
                message["reply_markup"] = markup;
            }
            Ok(message)
        }
        ("editmessagetext", Ok(mut message)) => {
            if let Some((chat_id, message_id)) = message_key(&message) {
                let markup = inline_markup(params);
                let mut st = lock(&shared.state);
                set_markup(
                    &mut st,
                    "editMessageText",
                    chat_id,
                    message_id,
                    markup.clone(),
                );
                if let Some(markup) = markup {
                    message["reply_markup"] = markup;
                }
            }
            Ok(message)
        }
        ("editmessagetext", Err(err)) if err.description.contains(NOT_MODIFIED) => {
            let (Ok(Some(chat_id)), Ok(Some(message_id))) =
                (params.int("chat_id"), params.int("message_id"))
            else {
                return Err(err);
            };
            let markup = inline_markup(params);
            let mut st = lock(&shared.state);
            if st.callbacks.markups.get(&(chat_id, message_id)) == markup.as_ref() {
                return Err(err);
            }
            set_markup(&mut st, "editMessageText", chat_id, message_id, markup);
            st.chat_touched(chat_id);
            Ok(message_json(shared, &st, chat_id, message_id))
        }
        (_, result) => result,
    }
}

/// `editMessageReplyMarkup`: the bot's own message, a keyboard or none (removed); "not modified"
/// when it is the one already there. Counts against the flood limit like an edit.
pub(super) fn edit_message_reply_markup(shared: &Shared, params: &Params) -> ApiResult {
    let mut st = lock(&shared.state);
    if params.0.contains_key("inline_message_id") {
        return Err(ApiError::bad_request(
            "inline messages are not supported by this fake",
        ));
    }
    let chat_id = params.chat_id(&st)?;
    let message_id = params
        .int("message_id")?
        .ok_or_else(|| ApiError::bad_request("message identifier is not specified"))?;
    let from_bot = st
        .chats
        .get(&chat_id)
        .and_then(|c| c.messages.get(&message_id))
        .map(|m| m.from_bot)
        .ok_or_else(|| ApiError::bad_request("message to edit not found"))?;
    if !from_bot {
        return Err(ApiError::bad_request("message can't be edited"));
    }
    let markup = inline_markup(params);
    if st.callbacks.markups.get(&(chat_id, message_id)) == markup.as_ref() {
        return Err(ApiError::bad_request(NOT_MODIFIED));
    }
    st.check_rate(chat_id)?;
    set_markup(
        &mut st,
        "editMessageReplyMarkup",
        chat_id,
        message_id,
        markup,
    );
    st.chat_touched(chat_id);
    Ok(message_json(shared, &st, chat_id, message_id))
}

/// `answerCallbackQuery`: once per delivered tap, `text` at most 200 characters.
pub(super) fn answer_callback_query(shared: &Shared, params: &Params) -> ApiResult {
    let id = params.string("callback_query_id").unwrap_or_default();
    let text = params.string("text");
    if text
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_ANSWER_TEXT_CHARS)
    {
        return Err(ApiError::bad_request("MESSAGE_TOO_LONG"));
    }
    let mut st = lock(&shared.state);
    match st.callbacks.queries.get_mut(&id) {
        Some(tap) if tap.answer.is_none() && !tap.expired => {
            tap.answer = Some(CallbackAnswer {
                text,
                show_alert: params.bool("show_alert"),
            });
            Ok(json!(true))
        }
        _ => Err(ApiError::bad_request(QUERY_INVALID)),
    }
}

fn set_markup(st: &mut State, method: &str, chat_id: i64, message_id: i64, markup: Option<Value>) {
    let before = match &markup {
        Some(m) => st
            .callbacks
            .markups
            .insert((chat_id, message_id), m.clone()),
        None => st.callbacks.markups.remove(&(chat_id, message_id)),
    };
    if before != markup {
        st.callbacks.markup_edits.push(MarkupEdit {
            method: method.to_string(),
            chat_id,
            message_id,
            markup,
        });
    }
}

fn message_key(message: &Value) -> Option<(i64, i64)> {
    Some((
        message["chat"]["id"].as_i64()?,
        message["message_id"].as_i64()?,
    ))
}

/// The bot's message as Telegram shows it in answers and in a tap's `message`.
fn message_json(shared: &Shared, st: &State, chat_id: i64, message_id: i64) -> Value {
    let chat = st.chats.get(&chat_id);
    let stored = chat.and_then(|c| c.messages.get(&message_id));
    let mut message = json!({
        "message_id": message_id,
        "from": bot_user(shared),
        "chat": chat.map(|c| c.user.clone()).unwrap_or(json!({"id": chat_id, "type": "private"})),
        "date": unix_now(),
        "text": stored.map(|m| m.plain.clone()).unwrap_or_default(),
    });
    if let Some(entities) = stored.map(|m| &m.entities).filter(|e| !e.is_empty()) {
        message["entities"] = Value::Array(entities.clone());
    }
    if let Some(markup) = st.callbacks.markups.get(&(chat_id, message_id)) {
        message["reply_markup"] = markup.clone();
    }
    message
}

impl FakeTelegram {
    /// The user `user_id` taps the button with `data` under the bot's message `message_id` in
    /// `chat_id`: queues a `callback_query` update as Telegram sends it and returns the query's
    /// id. Like Telegram, the update is not created when the sticky `allowed_updates` leaves
    /// `callback_query` out (it is then in [`Self::dropped_updates`], and no answer is expected).
    /// Panics if the message has no such button: no client can tap it.
    pub fn tap(&self, chat_id: i64, user_id: i64, message_id: i64, data: &str) -> String {
        let update = {
            let mut st = lock(&self.shared.state);
            let markup = st.callbacks.markups.get(&(chat_id, message_id)).cloned();
            let has_button = markup.as_ref().is_some_and(|m| {
                m["inline_keyboard"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|row| row.as_array().into_iter().flatten())
                    .any(|b| b["callback_data"].as_str() == Some(data))
            });
            assert!(
                has_button,
                "no button {data:?} under message {message_id} in chat {chat_id}: {markup:?}"
            );
            let query_id = (FIRST_QUERY_ID + st.callbacks.issued).to_string();
            st.callbacks.issued += 1;
            let update = json!({ "callback_query": {
                "id": query_id,
                "from": user(user_id),
                "message": message_json(&self.shared, &st, chat_id, message_id),
                // One value per chat, as Telegram's `chat_instance`.
                "chat_instance": chat_id.wrapping_mul(7_919).wrapping_sub(1).to_string(),
                "data": data,
            }});
            if update_allowed(&update, st.allowed_updates.as_deref()) {
                st.callbacks.order.push(query_id.clone());
                st.callbacks.queries.insert(
                    query_id.clone(),
                    Tap {
                        query_id,
                        chat_id,
                        user_id,
                        message_id,
                        data: data.to_string(),
                        answer: None,
                        expired: false,
                    },
                );
            }
            update
        };
        let query_id = update["callback_query"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.push_update(update);
        query_id
    }

    /// The tap with this query id, with its answer once the bot gave one.
    pub fn tap_state(&self, query_id: &str) -> Option<Tap> {
        lock(&self.shared.state)
            .callbacks
            .queries
            .get(query_id)
            .cloned()
    }

    /// The answer to the tap `query_id`, if the bot answered it.
    pub fn callback_answer(&self, query_id: &str) -> Option<CallbackAnswer> {
        self.tap_state(query_id).and_then(|t| t.answer)
    }

    /// Every tap delivered, in order.
    pub fn taps(&self) -> Vec<Tap> {
        let st = lock(&self.shared.state);
        st.callbacks
            .order
            .iter()
            .filter_map(|id| st.callbacks.queries.get(id).cloned())
            .collect()
    }

    /// Makes the tap `query_id` too old to answer, as Telegram does some seconds after the tap.
    pub fn expire_callback(&self, query_id: &str) {
        if let Some(tap) = lock(&self.shared.state).callbacks.queries.get_mut(query_id) {
            tap.expired = true;
        }
    }

    /// The inline keyboard under the bot's message now (`{"inline_keyboard": …}`), if it has one.
    pub fn keyboard_of(&self, chat_id: i64, message_id: i64) -> Option<Value> {
        lock(&self.shared.state)
            .callbacks
            .markups
            .get(&(chat_id, message_id))
            .cloned()
    }

    /// The keyboard under the message now, as rows of `(text, callback_data)`; empty without one.
    pub fn buttons_of(&self, chat_id: i64, message_id: i64) -> Vec<Vec<(String, String)>> {
        let Some(markup) = self.keyboard_of(chat_id, message_id) else {
            return Vec::new();
        };
        markup["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| {
                row.as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| {
                        let text = b["text"].as_str().unwrap_or_default().to_string();
                        let data = b["callback_data"].as_str().unwrap_or_default().to_string();
                        (text, data)
                    })
                    .collect()
            })
            .collect()
    }

    /// Every keyboard change of a message already sent, in order.
    pub fn markup_edits(&self) -> Vec<MarkupEdit> {
        lock(&self.shared.state).callbacks.markup_edits.clone()
    }
}
