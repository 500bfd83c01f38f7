//! What the fake server remembers between calls: the update queue and its confirmations, the
//! chats and their messages, the per-call logs a test reads back, and the queued faults.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::Notify;

use super::{ApiCall, EditedMessage, Fault, GetUpdatesCall, SentMessage};

/// Update types Telegram leaves out when `allowed_updates` was never set or set to `[]`.
const NOT_DELIVERED_BY_DEFAULT: &[&str] =
    &["chat_member", "message_reaction", "message_reaction_count"];

/// State shared between the test and the server's worker thread.
pub(super) struct Shared {
    pub(super) token: String,
    pub(super) bot_id: i64,
    pub(super) state: Mutex<State>,
    /// Woken whenever the update queue or the poller generation changes: long polls wait on it.
    pub(super) updates_changed: Notify,
    /// Woken after every call: test-side waiters (`wait_until`) wait on it.
    pub(super) changed: Notify,
    /// Whether every call, `getUpdates` call and chat action is kept (see
    /// [`FakeTelegram::set_recording`](super::FakeTelegram::set_recording)). Outside the state
    /// lock so a call can skip copying its parameters without taking the lock.
    pub(super) recording: AtomicBool,
    /// Set when the fake stops: the webhook delivery loop ends.
    pub(super) stopped: AtomicBool,
}

#[derive(Default)]
pub(super) struct State {
    /// Unconfirmed updates, in id order.
    pub(super) pending: VecDeque<Value>,
    pub(super) next_update_id: i64,
    /// Highest positive offset any getUpdates carried: everything below it is confirmed.
    pub(super) confirmed_below: i64,
    /// Incremented by every getUpdates; a waiting poll whose generation is stale got replaced.
    pub(super) poll_generation: u64,
    /// Sticky `allowed_updates`; `None` = Telegram's default set.
    pub(super) allowed_updates: Option<Vec<String>>,
    /// The webhook, its delivery and the deliveries made (see `webhook.rs`).
    pub(super) webhook: super::webhook::Webhook,
    /// The files of the photos and documents pushed (see `files.rs`).
    pub(super) files: super::files::Files,
    pub(super) chats: HashMap<i64, Chat>,
    /// Groups upgraded to supergroups: old id → new id. Every call with an old id is refused
    /// with the new one, like Telegram does.
    pub(super) migrated: HashMap<i64, i64>,
    /// Groups the bot was removed from: chat id → whether it was kicked (banned) rather than made to
    /// leave. Every call with such a chat id is refused with 403, like Telegram does, and the
    /// chat's new messages never reach the bot.
    pub(super) removed: HashMap<i64, bool>,
    pub(super) faults: HashMap<String, VecDeque<Fault>>,
    pub(super) rate_limits: bool,
    pub(super) recent_sends: VecDeque<(Instant, i64)>,
    /// Per group (negative chat id): when its sends and edits of the last minute were accepted,
    /// oldest first (Telegram's ~20 a minute in one group).
    pub(super) recent_group_sends: HashMap<i64, VecDeque<Instant>>,
    pub(super) rate_limited: usize,
    pub(super) commands: Vec<Value>,
    pub(super) get_updates_calls: Vec<GetUpdatesCall>,
    /// Every `getUpdates` call, also while recording is off.
    pub(super) get_updates_count: usize,
    pub(super) sent: Vec<SentMessage>,
    pub(super) edits: Vec<EditedMessage>,
    /// Per chat: positions in `sent` and in `edits`, so one chat's traffic is found without a scan.
    pub(super) sent_by_chat: HashMap<i64, Vec<usize>>,
    pub(super) edits_by_chat: HashMap<i64, Vec<usize>>,
    /// Per chat: woken after every message sent, edited or deleted there
    /// ([`FakeTelegram::wait_until_in_chat`](super::FakeTelegram::wait_until_in_chat)). Created
    /// by the first waiter.
    pub(super) chat_changed: HashMap<i64, Arc<Notify>>,
    /// Every `sendChatAction`: chat, forum topic (`message_thread_id`), action.
    pub(super) chat_actions: Vec<(i64, Option<i64>, String)>,
    /// `(chat_id, message_id)` of every message the bot deleted.
    pub(super) deleted: Vec<(i64, i64)>,
    pub(super) calls: Vec<ApiCall>,
    /// Every call answered, also while recording is off.
    pub(super) call_count: usize,
    pub(super) dropped_updates: Vec<Value>,
    /// Inline keyboards under the bot's messages, and the taps on them.
    pub(super) callbacks: super::callbacks::Callbacks,
}

/// A chat the bot has seen (private unless a group message made it a group). Message ids are
/// per chat and shared by both sides, as in real chats.
#[derive(Default)]
pub(super) struct Chat {
    pub(super) next_message_id: i64,
    /// The `chat` object of its messages.
    pub(super) user: Value,
    pub(super) messages: HashMap<i64, StoredMessage>,
    /// In a forum (a supergroup with `is_forum`): its topics, by their `message_thread_id` (the id
    /// of the service message that created each).
    pub(super) topics: HashSet<i64>,
    /// Its topics an admin closed: only admins may write there (the bot is none here).
    pub(super) closed_topics: HashSet<i64>,
}

pub(super) struct StoredMessage {
    pub(super) from_bot: bool,
    /// The `from` of a user's message, as it was sent (a reply to it carries it again); `None` for the bot's.
    pub(super) from: Option<Value>,
    pub(super) plain: String,
    pub(super) entities: Vec<Value>,
    /// The forum topic it is in (`None`: the chat, or a forum's General topic).
    pub(super) thread: Option<i64>,
    /// The message as an update carried it, for a service message that starts a topic (Telegram
    /// makes every message of the topic a reply to it).
    pub(super) topic_start: Option<Value>,
}

impl State {
    /// A group's title, as its messages carry it ("Group" for a chat never seen as a group).
    pub(super) fn title_of(&self, chat_id: i64) -> String {
        self.chats
            .get(&chat_id)
            .and_then(|c| c.user["title"].as_str())
            .unwrap_or("Group")
            .to_string()
    }

    pub(super) fn chat(&mut self, chat_id: i64) -> &mut Chat {
        self.chats.entry(chat_id).or_insert_with(|| Chat {
            next_message_id: 1,
            user: json!({ "id": chat_id, "type": "private" }),
            messages: HashMap::new(),
            topics: HashSet::new(),
            closed_topics: HashSet::new(),
        })
    }

    /// Wakes the waiters on one chat
    /// ([`FakeTelegram::wait_until_in_chat`](super::FakeTelegram::wait_until_in_chat)), if there
    /// are any.
    pub(super) fn chat_touched(&self, chat_id: i64) {
        if let Some(changed) = self.chat_changed.get(&chat_id) {
            changed.notify_waiters();
        }
    }

    /// Records a user's message so the bot can reply to it, and the chat so it can write to it.
    pub(super) fn remember_user_message(&mut self, message: &Value) {
        let (Some(chat_id), Some(message_id)) = (
            message["chat"]["id"].as_i64(),
            message["message_id"].as_i64(),
        ) else {
            return;
        };
        let chat = self.chat(chat_id);
        chat.user = message["chat"].clone();
        chat.next_message_id = chat.next_message_id.max(message_id + 1);
        chat.messages.insert(
            message_id,
            StoredMessage {
                from_bot: false,
                from: Some(message["from"].clone()),
                plain: message["text"].as_str().unwrap_or_default().to_string(),
                entities: message["entities"].as_array().cloned().unwrap_or_default(),
                thread: topic_of(message),
                topic_start: message.get("forum_topic_created").map(|_| message.clone()),
            },
        );
        if message.get("forum_topic_created").is_some() {
            chat.topics.insert(message_id);
        }
    }

    /// "TOPIC_CLOSED" when `thread` is a closed topic of `chat_id`, as Telegram refuses a non-admin's message.
    pub(super) fn check_open(&self, chat_id: i64, thread: Option<i64>) -> Result<(), String> {
        match (self.chats.get(&chat_id), thread) {
            (Some(chat), Some(t)) if chat.closed_topics.contains(&t) => Err("TOPIC_CLOSED".into()),
            _ => Ok(()),
        }
    }

    /// The forum topic `message_thread_id` names in `chat_id`, checked like Telegram: `None` when
    /// the parameter is absent; "message thread not found" when the chat is not a forum or has
    /// no such topic.
    pub(super) fn topic_in(
        &self,
        chat_id: i64,
        thread: Option<i64>,
    ) -> Result<Option<i64>, String> {
        let Some(thread) = thread else {
            return Ok(None);
        };
        match self.chats.get(&chat_id) {
            Some(chat) if chat.user["is_forum"] == true && chat.topics.contains(&thread) => {
                Ok(Some(thread))
            }
            _ => Err("message thread not found".into()),
        }
    }
}

impl Chat {
    pub(super) fn take_message_id(&mut self) -> i64 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }
}

/// The forum topic a message is in: its `message_thread_id` when `is_topic_message` (in other
/// supergroups the thread id names a thread of replies, not a topic).
pub(super) fn topic_of(message: &Value) -> Option<i64> {
    message["message_thread_id"]
        .as_i64()
        .filter(|_| message["is_topic_message"] == true)
}

/// Whether `update` is created at all under the sticky `allowed_updates` (`None` or `[]`:
/// Telegram's default set).
pub(super) fn update_allowed(update: &Value, allowed: Option<&[String]>) -> bool {
    let kind = update
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "update_id").cloned())
        .unwrap_or_default();
    match allowed {
        Some(list) if !list.is_empty() => list.contains(&kind),
        _ => !NOT_DELIVERED_BY_DEFAULT.contains(&kind.as_str()),
    }
}
