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
//!
//! Known simplifications: no members, permissions or privacy mode in groups, no channels, no
//! files or media uploads, `Markdown`/`MarkdownV2` text is accepted without being parsed, no 48 h
//! edit window.

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use super::{lock, serve_on_loopback, unix_now};

/// The first `update_id` handed out. Real ids are arbitrary large numbers; a fixed base keeps
/// test output readable. [`FakeTelegram::set_next_update_id`] simulates Telegram's id reset.
const FIRST_UPDATE_ID: i64 = 100_000;

/// `getUpdates` `timeout` is clamped to this many seconds by the real server (tdlib's
/// `LONG_POLL_MAX_TIMEOUT`).
const MAX_LONG_POLL_SECS: u64 = 50;

/// Text limit of one message, in UTF-16 code units after entity parsing.
pub const MAX_TEXT_UTF16: usize = 4096;

/// Rate limits applied when [`FakeTelegram::set_rate_limits`] is on: Telegram documents ~30
/// messages/s per bot and ~1/s per chat with short bursts tolerated; 3 per second per chat is
/// the burst we tolerate. Edits count like sends.
const GLOBAL_SENDS_PER_SECOND: usize = 30;
const CHAT_SENDS_PER_SECOND: usize = 3;
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// What nginx in front of the Bot API returns when the backend is down: HTML, not JSON.
const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n";

const CONFLICT_OTHER_POLLER: &str =
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
const CONFLICT_WEBHOOK: &str =
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
/// Telegram's answer (after "Bad Request: ") to a call with the id of a group that became a
/// supergroup; `parameters.migrate_to_chat_id` carries the new id.
const CHAT_MIGRATED: &str = "group chat was upgraded to a supergroup chat";
const NOT_MODIFIED: &str = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

/// Tags Telegram's HTML parse mode accepts; anything else is "Unsupported start tag".
const SUPPORTED_TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
];

/// Telegram's "Group" bot (@GroupAnonymousBot): the sender of a supergroup's service messages,
/// such as the first one of a supergroup made from a group.
const GROUP_ANONYMOUS_BOT_ID: i64 = 1_087_968_824;

/// Actions `sendChatAction` accepts.
const CHAT_ACTIONS: &[&str] = &[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

/// Update types Telegram leaves out when `allowed_updates` was never set or set to `[]`.
const NOT_DELIVERED_BY_DEFAULT: &[&str] =
    &["chat_member", "message_reaction", "message_reaction_count"];

/// A failure the next call of one method will get instead of (or before) its normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after = N`.
    TooManyRequests { retry_after: u64 },
    /// 500 `Internal Server Error`.
    ServerError,
    /// 502 with nginx's HTML page as the body (not JSON, as in real outages).
    BadGateway,
    /// 403 `Forbidden: bot was blocked by the user`.
    Forbidden,
    /// Sleep this long, then answer normally (the call takes effect after the sleep).
    Hang(Duration),
    /// Any status with a Bot API error envelope.
    Custom { status: u16, description: String },
}

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

/// State shared between the test and the server's worker thread.
struct Shared {
    token: String,
    bot_id: i64,
    state: Mutex<State>,
    /// Woken whenever the update queue or the poller generation changes: long polls wait on it.
    updates_changed: Notify,
    /// Woken after every call: test-side waiters (`wait_until`) wait on it.
    changed: Notify,
    /// Whether every call, `getUpdates` call and chat action is kept (see
    /// [`FakeTelegram::set_recording`]). Outside the state lock so a call can skip copying its
    /// parameters without taking the lock.
    recording: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Unconfirmed updates, in id order.
    pending: VecDeque<Value>,
    next_update_id: i64,
    /// Highest positive offset any getUpdates carried: everything below it is confirmed.
    confirmed_below: i64,
    /// Incremented by every getUpdates; a waiting poll whose generation is stale got replaced.
    poll_generation: u64,
    /// Sticky `allowed_updates`; `None` = Telegram's default set.
    allowed_updates: Option<Vec<String>>,
    webhook_url: Option<String>,
    chats: HashMap<i64, Chat>,
    /// Groups upgraded to supergroups: old id → new id. Every call with an old id is refused
    /// with the new one, like Telegram does.
    migrated: HashMap<i64, i64>,
    faults: HashMap<String, VecDeque<Fault>>,
    rate_limits: bool,
    recent_sends: VecDeque<(Instant, i64)>,
    rate_limited: usize,
    commands: Vec<Value>,
    get_updates_calls: Vec<GetUpdatesCall>,
    /// Every `getUpdates` call, also while recording is off.
    get_updates_count: usize,
    sent: Vec<SentMessage>,
    edits: Vec<EditedMessage>,
    /// Per chat: positions in `sent` and in `edits`, so one chat's traffic is found without a scan.
    sent_by_chat: HashMap<i64, Vec<usize>>,
    edits_by_chat: HashMap<i64, Vec<usize>>,
    /// Per chat: woken after every message sent, edited or deleted there
    /// ([`FakeTelegram::wait_until_in_chat`]). Created by the first waiter.
    chat_changed: HashMap<i64, Arc<Notify>>,
    chat_actions: Vec<(i64, String)>,
    /// `(chat_id, message_id)` of every message the bot deleted.
    deleted: Vec<(i64, i64)>,
    calls: Vec<ApiCall>,
    /// Every call answered, also while recording is off.
    call_count: usize,
    dropped_updates: Vec<Value>,
}

/// A chat the bot has seen (private unless a group message made it a group). Message ids are
/// per chat and shared by both sides, as in real chats.
#[derive(Default)]
struct Chat {
    next_message_id: i64,
    /// The `chat` object of its messages.
    user: Value,
    messages: HashMap<i64, StoredMessage>,
}

struct StoredMessage {
    from_bot: bool,
    plain: String,
    entities: Vec<Value>,
}

/// A Bot API failure: becomes `{"ok":false,"error_code":..,"description":..}` with that status.
#[derive(Debug)]
struct ApiError {
    status: u16,
    description: String,
    /// `parameters.retry_after` (flood control).
    retry_after: Option<u64>,
    /// `parameters.migrate_to_chat_id` (the chat became this supergroup).
    migrate_to_chat_id: Option<i64>,
}

impl ApiError {
    fn new(status: u16, description: impl Into<String>) -> ApiError {
        ApiError {
            status,
            description: description.into(),
            retry_after: None,
            migrate_to_chat_id: None,
        }
    }

    fn migrated(to: i64) -> ApiError {
        ApiError {
            migrate_to_chat_id: Some(to),
            ..ApiError::bad_request(CHAT_MIGRATED)
        }
    }

    fn bad_request(description: impl AsRef<str>) -> ApiError {
        ApiError::new(400, format!("Bad Request: {}", description.as_ref()))
    }

    fn too_many_requests(retry_after: u64) -> ApiError {
        ApiError {
            status: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
            migrate_to_chat_id: None,
        }
    }
}

type ApiResult = Result<Value, ApiError>;

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
        });
        // Bodies are small JSON; a generous cap still rejects runaway input.
        let (port, handle) = serve_on_loopback(
            "FakeTelegram",
            web::Data::from(shared.clone()),
            16 * 1024 * 1024,
            |cfg| {
                cfg.default_service(web::to(handle));
            },
        );
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
        drop(self.handle.stop(false));
    }

    // ----- updates -------------------------------------------------------------------------

    /// Queues an update. Assigns the next `update_id` unless the value already has one, and
    /// returns the id. Like Telegram, an update whose type is not in the sticky
    /// `allowed_updates` is never created (it is recorded in [`Self::dropped_updates`]).
    pub fn push_update(&self, mut update: Value) -> i64 {
        let id = {
            let mut st = lock(&self.shared.state);
            let id = match update.get("update_id").and_then(Value::as_i64) {
                Some(id) => id,
                None => st.next_update_id,
            };
            st.next_update_id = st.next_update_id.max(id + 1);
            if let Some(obj) = update.as_object_mut() {
                obj.insert("update_id".into(), json!(id));
            }
            if let Some(message) = update.get("message") {
                st.remember_user_message(message);
            }
            if update_allowed(&update, st.allowed_updates.as_deref()) {
                // Ids usually grow: append without a scan. Otherwise keep the queue in id order.
                let last = st
                    .pending
                    .back()
                    .map(|u| u["update_id"].as_i64().unwrap_or(0));
                if last.is_none_or(|last| id > last) {
                    st.pending.push_back(update);
                } else {
                    let at = st
                        .pending
                        .iter()
                        .position(|u| u["update_id"].as_i64().unwrap_or(0) > id)
                        .unwrap_or(st.pending.len());
                    st.pending.insert(at, update);
                }
            } else {
                st.dropped_updates.push(update);
            }
            id
        };
        self.shared.updates_changed.notify_waiters();
        self.shared.changed.notify_waiters();
        id
    }

    /// Queues a private-chat text message from `user_id`, shaped like a real update; a leading
    /// `/command` gets its `bot_command` entity. Returns the update id.
    pub fn push_text(&self, user_id: i64, chat_id: i64, text: &str) -> i64 {
        let mut message = self.new_user_message(user_id, chat_id);
        set_text(&mut message, text);
        self.push_update(json!({ "message": message }))
    }

    /// Queues a text message from `user_id` in the basic group `chat_id` called `title` (a
    /// negative id, as on Telegram), shaped like a real update; the group becomes a known chat.
    /// Returns the update id.
    pub fn push_group_text(&self, user_id: i64, chat_id: i64, title: &str, text: &str) -> i64 {
        let mut message = self.new_user_message(user_id, chat_id);
        message["chat"] = group_chat(chat_id, title);
        set_text(&mut message, text);
        self.push_update(json!({ "message": message }))
    }

    /// Like [`push_group_text`](Self::push_group_text), in the supergroup `chat_id` (ids like
    /// `-100…`).
    pub fn push_supergroup_text(&self, user_id: i64, chat_id: i64, title: &str, text: &str) -> i64 {
        let mut message = self.new_user_message(user_id, chat_id);
        message["chat"] = supergroup_chat(chat_id, title);
        set_text(&mut message, text);
        self.push_update(json!({ "message": message }))
    }

    /// Upgrades the group `old` to the supergroup `new`, as Telegram does when a group gets a
    /// public link, a topic or a big membership: from now on every method called with
    /// `chat_id = old` answers 400 "Bad Request: group chat was upgraded to a supergroup chat"
    /// with `parameters.migrate_to_chat_id = new`. The supergroup, with the group's title,
    /// becomes a known chat. The service messages come separately
    /// ([`push_migration_messages`](Self::push_migration_messages)).
    pub fn migrate_group(&self, old: i64, new: i64) {
        let mut st = lock(&self.shared.state);
        let supergroup = supergroup_chat(new, &st.title_of(old));
        st.migrated.insert(old, new);
        st.chat(new).user = supergroup;
    }

    /// Queues the two service messages of the upgrade of group `old` (upgraded by `user_id`)
    /// to supergroup `new`, in Telegram's order and shape: in the old group, a message from the
    /// user with `migrate_to_chat_id`; in the supergroup, a message from @GroupAnonymousBot
    /// (`sender_chat` the supergroup) with `migrate_from_chat_id`. Neither has text. Returns
    /// their update ids.
    pub fn push_migration_messages(&self, user_id: i64, old: i64, new: i64) -> (i64, i64) {
        let (in_group, in_supergroup) = {
            let mut st = lock(&self.shared.state);
            let title = st.title_of(old);
            let group = group_chat(old, &title);
            let supergroup = supergroup_chat(new, &title);
            let old_message_id = st.chat(old).take_message_id();
            let new_message_id = st.chat(new).take_message_id();
            let in_group = json!({
                "message_id": old_message_id,
                "from": user(user_id),
                "chat": group,
                "date": unix_now(),
                "migrate_to_chat_id": new,
            });
            let in_supergroup = json!({
                "message_id": new_message_id,
                "from": {
                    "id": GROUP_ANONYMOUS_BOT_ID,
                    "is_bot": true,
                    "first_name": "Group",
                    "username": "GroupAnonymousBot",
                },
                "sender_chat": supergroup,
                "chat": supergroup,
                "date": unix_now(),
                "migrate_from_chat_id": old,
            });
            (in_group, in_supergroup)
        };
        (
            self.push_update(json!({ "message": in_group })),
            self.push_update(json!({ "message": in_supergroup })),
        )
    }

    /// Queues a private-chat photo message (three sizes, no caption, no text).
    pub fn push_photo(&self, user_id: i64, chat_id: i64) -> i64 {
        let mut message = self.new_user_message(user_id, chat_id);
        let file = |n: u32, w: u32, h: u32, size: u32| {
            json!({
                "file_id": format!("AgACAgIAAxkBAAI{chat_id}{n}photo"),
                "file_unique_id": format!("AQAD{n}{chat_id}"),
                "file_size": size,
                "width": w,
                "height": h,
            })
        };
        message["photo"] = json!([
            file(1, 90, 67, 1_234),
            file(2, 320, 240, 15_678),
            file(3, 1280, 960, 98_765)
        ]);
        self.push_update(json!({ "message": message }))
    }

    /// Sets the id the next pushed update gets: Telegram restarts ids at a random value after a
    /// week without updates, so the bot must not assume ids only grow.
    pub fn set_next_update_id(&self, id: i64) {
        lock(&self.shared.state).next_update_id = id;
    }

    /// Ids of updates not yet confirmed by a `getUpdates` offset.
    pub fn pending_update_ids(&self) -> Vec<i64> {
        lock(&self.shared.state)
            .pending
            .iter()
            .filter_map(|u| u["update_id"].as_i64())
            .collect()
    }

    /// The highest `offset` seen: every update below it is confirmed (and forgotten).
    pub fn confirmed_below(&self) -> i64 {
        lock(&self.shared.state).confirmed_below
    }

    /// The `getUpdates` calls received (none are kept while recording is off).
    pub fn get_updates_calls(&self) -> Vec<GetUpdatesCall> {
        lock(&self.shared.state).get_updates_calls.clone()
    }

    /// How many `getUpdates` calls were received, whether recording is on or off.
    pub fn get_updates_count(&self) -> usize {
        lock(&self.shared.state).get_updates_count
    }

    /// Updates that were pushed but not created because of the sticky `allowed_updates`.
    pub fn dropped_updates(&self) -> Vec<Value> {
        lock(&self.shared.state).dropped_updates.clone()
    }

    /// Sets (or with `None` removes) a webhook: while one is set, `getUpdates` gets 409.
    pub fn set_webhook(&self, url: Option<&str>) {
        lock(&self.shared.state).webhook_url = url.map(str::to_string);
    }

    // ----- chats and outgoing messages ---------------------------------------------------

    /// Makes a chat known without a message from it (Telegram answers "chat not found" for
    /// chats that never talked to the bot).
    pub fn add_chat(&self, chat_id: i64) {
        lock(&self.shared.state).chat(chat_id);
    }

    pub fn sent_messages(&self) -> Vec<SentMessage> {
        lock(&self.shared.state).sent.clone()
    }

    /// How many messages the bot sent, to all chats.
    pub fn sent_count(&self) -> usize {
        lock(&self.shared.state).sent.len()
    }

    pub fn messages_to(&self, chat_id: i64) -> Vec<SentMessage> {
        let st = lock(&self.shared.state);
        st.sent_by_chat
            .get(&chat_id)
            .map(|positions| positions.iter().map(|&i| st.sent[i].clone()).collect())
            .unwrap_or_default()
    }

    /// How many messages the bot sent to `chat_id` (without copying them).
    pub fn count_to(&self, chat_id: i64) -> usize {
        lock(&self.shared.state)
            .sent_by_chat
            .get(&chat_id)
            .map_or(0, Vec::len)
    }

    pub fn edits(&self) -> Vec<EditedMessage> {
        lock(&self.shared.state).edits.clone()
    }

    /// The successful edits in one chat, in order.
    pub fn edits_to(&self, chat_id: i64) -> Vec<EditedMessage> {
        let st = lock(&self.shared.state);
        st.edits_by_chat
            .get(&chat_id)
            .map(|positions| positions.iter().map(|&i| st.edits[i].clone()).collect())
            .unwrap_or_default()
    }

    /// What the user sees of the bot's messages in `chat_id` now: `(message_id, plain text)` after
    /// every edit, oldest first, deleted messages left out.
    pub fn bot_messages_in(&self, chat_id: i64) -> Vec<(i64, String)> {
        self.bot_messages_after(chat_id, 0)
    }

    /// Like [`bot_messages_in`](Self::bot_messages_in), only the messages with an id above
    /// `after_id`: a waiter that already saw the older ones copies only what is new.
    pub fn bot_messages_after(&self, chat_id: i64, after_id: i64) -> Vec<(i64, String)> {
        let st = lock(&self.shared.state);
        let (Some(positions), Some(chat)) = (st.sent_by_chat.get(&chat_id), st.chats.get(&chat_id))
        else {
            return Vec::new();
        };
        // Message ids grow within a chat, so the positions are sorted by id.
        let start = positions.partition_point(|&i| st.sent[i].message_id <= after_id);
        positions[start..]
            .iter()
            .filter_map(|&i| {
                let id = st.sent[i].message_id;
                chat.messages.get(&id).map(|m| (id, m.plain.clone()))
            })
            .collect()
    }

    /// The text a user currently sees for a bot message (after any edits), tags stripped.
    pub fn current_text(&self, chat_id: i64, message_id: i64) -> Option<String> {
        lock(&self.shared.state)
            .chats
            .get(&chat_id)
            .and_then(|c| c.messages.get(&message_id))
            .map(|m| m.plain.clone())
    }

    /// `(chat_id, message_id)` of every message the bot deleted.
    pub fn deleted(&self) -> Vec<(i64, i64)> {
        lock(&self.shared.state).deleted.clone()
    }

    pub fn chat_actions(&self) -> Vec<(i64, String)> {
        lock(&self.shared.state).chat_actions.clone()
    }

    /// The commands of the last successful `setMyCommands`.
    pub fn commands(&self) -> Vec<Value> {
        lock(&self.shared.state).commands.clone()
    }

    /// Every call received, in order, with the status it got (none are kept while recording is
    /// off).
    pub fn calls(&self) -> Vec<ApiCall> {
        lock(&self.shared.state).calls.clone()
    }

    /// How many calls were answered, whether recording is on or off.
    pub fn call_count(&self) -> usize {
        lock(&self.shared.state).call_count
    }

    /// Whether every call ([`calls`](Self::calls)), every `getUpdates` call
    /// ([`get_updates_calls`](Self::get_updates_calls)) and every chat action is kept (on by
    /// default). A long benchmark turns it off so the fake does not grow with every call; the
    /// counts ([`call_count`](Self::call_count), [`get_updates_count`](Self::get_updates_count)),
    /// the sent messages and the edits are still kept.
    pub fn set_recording(&self, on: bool) {
        self.shared.recording.store(on, Ordering::Relaxed);
    }

    /// Calls of one method (case-insensitive, like Telegram's method names).
    pub fn calls_of(&self, method: &str) -> Vec<ApiCall> {
        let method = method.to_ascii_lowercase();
        lock(&self.shared.state)
            .calls
            .iter()
            .filter(|c| c.method.to_ascii_lowercase() == method)
            .cloned()
            .collect()
    }

    // ----- failures ----------------------------------------------------------------------

    /// Queues a fault for the next call of `method` (case-insensitive). Several queued faults
    /// are consumed one per call, in order.
    pub fn fail_next(&self, method: &str, fault: Fault) {
        lock(&self.shared.state)
            .faults
            .entry(method.to_ascii_lowercase())
            .or_default()
            .push_back(fault);
    }

    /// Turns Telegram's flood limits on or off (off by default): more than 30 sends+edits per
    /// second overall, or more than 3 per second in one chat, get 429 with `retry_after` 1.
    pub fn set_rate_limits(&self, on: bool) {
        let mut st = lock(&self.shared.state);
        st.rate_limits = on;
        st.recent_sends.clear();
    }

    /// How many calls were refused by the rate limiter.
    pub fn rate_limited_count(&self) -> usize {
        lock(&self.shared.state).rate_limited
    }

    // ----- waiting -----------------------------------------------------------------------

    /// Waits until `cond` holds, re-checking after every API call and every pushed update.
    /// Panics after `timeout` with `what` and a dump of everything the bot did.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&FakeTelegram) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut notified = pin!(self.shared.changed.notified());
            // Register before checking, so a change between the check and the await wakes us.
            notified.as_mut().enable();
            if cond(self) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if cond(self) {
                    return;
                }
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.dump()
                );
            }
        }
    }

    /// Like [`wait_until`](Self::wait_until), but re-checks only when a message in `chat_id` is
    /// sent, edited or deleted: many waiters on different chats do not wake each other. Returns
    /// whether `cond` held; `false` after `timeout` (no panic, so a benchmark can count it).
    pub async fn wait_until_in_chat(
        &self,
        chat_id: i64,
        timeout: Duration,
        cond: impl Fn(&FakeTelegram) -> bool,
    ) -> bool {
        let changed = lock(&self.shared.state)
            .chat_changed
            .entry(chat_id)
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut notified = pin!(changed.notified());
            notified.as_mut().enable();
            if cond(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return cond(self);
            }
        }
    }

    /// Waits until at least `n` messages were sent to `chat_id` and returns all of them.
    pub async fn wait_for_messages(
        &self,
        chat_id: i64,
        n: usize,
        timeout: Duration,
    ) -> Vec<SentMessage> {
        let what = format!("{n} message(s) to chat {chat_id}");
        self.wait_until(&what, timeout, |tg| tg.count_to(chat_id) >= n)
            .await;
        self.messages_to(chat_id)
    }

    /// Waits until the bot has called `getUpdates` at least `n` times.
    pub async fn wait_for_polls(&self, n: usize, timeout: Duration) {
        let what = format!("{n} getUpdates call(s)");
        self.wait_until(&what, timeout, |tg| tg.get_updates_count() >= n)
            .await;
    }

    /// Waits until every pushed update has been confirmed by an offset.
    pub async fn wait_for_confirmation(&self, timeout: Duration) {
        self.wait_until("all updates confirmed", timeout, |tg| {
            tg.pending_update_ids().is_empty()
        })
        .await;
    }

    /// A readable summary of the traffic, for failure messages.
    pub fn dump(&self) -> String {
        let st = lock(&self.shared.state);
        let mut out = String::from("--- FakeTelegram: sent messages ---\n");
        for m in &st.sent {
            out.push_str(&format!(
                "chat {} #{} (reply_to {:?}, parse_mode {:?}): {:?}\n",
                m.chat_id, m.message_id, m.reply_to, m.parse_mode, m.text
            ));
        }
        out.push_str("--- edits ---\n");
        for e in &st.edits {
            out.push_str(&format!(
                "chat {} #{}: {:?}\n",
                e.chat_id, e.message_id, e.text
            ));
        }
        out.push_str(&format!(
            "--- pending updates: {:?}; confirmed below {} ---\n--- calls ({}) ---\n",
            st.pending
                .iter()
                .filter_map(|u| u["update_id"].as_i64())
                .collect::<Vec<_>>(),
            st.confirmed_below,
            st.calls.len()
        ));
        // The tail is what matters when a long-running poller made thousands of calls.
        let skip = st.calls.len().saturating_sub(60);
        for c in st.calls.iter().skip(skip) {
            let mut params = c.params.to_string();
            if params.len() > 200 {
                let cut = (0..=200)
                    .rev()
                    .find(|&i| params.is_char_boundary(i))
                    .unwrap_or(0);
                params.truncate(cut);
                params.push('…');
            }
            out.push_str(&format!("{} {} {}\n", c.status, c.method, params));
        }
        out
    }

    fn new_user_message(&self, user_id: i64, chat_id: i64) -> Value {
        let mut st = lock(&self.shared.state);
        let message_id = st.chat(chat_id).take_message_id();
        json!({
            "message_id": message_id,
            "from": user(user_id),
            "chat": {
                "id": chat_id,
                "first_name": format!("User{user_id}"),
                "username": format!("user{user_id}"),
                "type": "private",
            },
            "date": unix_now(),
        })
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        // Sends the stop command now; the completion future is not needed.
        drop(self.handle.stop(false));
    }
}

/// The `from` of a user's messages.
fn user(user_id: i64) -> Value {
    json!({
        "id": user_id,
        "is_bot": false,
        "first_name": format!("User{user_id}"),
        "username": format!("user{user_id}"),
        "language_code": "en",
    })
}

/// The `chat` of a basic group's messages.
fn group_chat(chat_id: i64, title: &str) -> Value {
    json!({
        "id": chat_id,
        "title": title,
        "type": "group",
        "all_members_are_administrators": false,
    })
}

/// The `chat` of a supergroup's messages.
fn supergroup_chat(chat_id: i64, title: &str) -> Value {
    json!({ "id": chat_id, "title": title, "type": "supergroup" })
}

/// Sets a message's text; a leading `/command` gets its `bot_command` entity, as on Telegram.
fn set_text(message: &mut Value, text: &str) {
    message["text"] = json!(text);
    if text.starts_with('/') {
        let command = text.split_whitespace().next().unwrap_or(text);
        message["entities"] = json!([{
            "offset": 0,
            "length": command.encode_utf16().count(),
            "type": "bot_command",
        }]);
    }
}

impl State {
    /// A group's title, as its messages carry it ("Group" for a chat never seen as a group).
    fn title_of(&self, chat_id: i64) -> String {
        self.chats
            .get(&chat_id)
            .and_then(|c| c.user["title"].as_str())
            .unwrap_or("Group")
            .to_string()
    }

    fn chat(&mut self, chat_id: i64) -> &mut Chat {
        self.chats.entry(chat_id).or_insert_with(|| Chat {
            next_message_id: 1,
            user: json!({ "id": chat_id, "type": "private" }),
            messages: HashMap::new(),
        })
    }

    /// Wakes the waiters on one chat ([`FakeTelegram::wait_until_in_chat`]), if there are any.
    fn chat_touched(&self, chat_id: i64) {
        if let Some(changed) = self.chat_changed.get(&chat_id) {
            changed.notify_waiters();
        }
    }

    /// Records a user's message so the bot can reply to it, and the chat so it can write to it.
    fn remember_user_message(&mut self, message: &Value) {
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
                plain: message["text"].as_str().unwrap_or_default().to_string(),
                entities: Vec::new(),
            },
        );
    }

    /// Flood control: records the send if allowed, otherwise says how long to wait.
    fn check_rate(&mut self, chat_id: i64) -> Result<(), ApiError> {
        if !self.rate_limits {
            return Ok(());
        }
        let now = Instant::now();
        while self
            .recent_sends
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= RATE_WINDOW)
        {
            self.recent_sends.pop_front();
        }
        let in_chat = self
            .recent_sends
            .iter()
            .filter(|(_, c)| *c == chat_id)
            .count();
        if self.recent_sends.len() >= GLOBAL_SENDS_PER_SECOND || in_chat >= CHAT_SENDS_PER_SECOND {
            self.rate_limited += 1;
            return Err(ApiError::too_many_requests(1));
        }
        self.recent_sends.push_back((now, chat_id));
        Ok(())
    }
}

impl Chat {
    fn take_message_id(&mut self) -> i64 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }
}

fn update_allowed(update: &Value, allowed: Option<&[String]>) -> bool {
    let kind = update
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "update_id").cloned())
        .unwrap_or_default();
    match allowed {
        Some(list) if !list.is_empty() => list.contains(&kind),
        _ => !NOT_DELIVERED_BY_DEFAULT.contains(&kind.as_str()),
    }
}

// ----- HTTP layer ---------------------------------------------------------------------------

/// Every request lands here: `/bot<token>/<method>` with params from the query string and a
/// JSON or form body, like the real server.
async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let Some((token, method)) = req
        .path()
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return envelope(Err(ApiError::new(404, "Not Found")));
    };
    let method = method.to_string();
    // Real tokens are `<bot id>:<secret>`; a malformed one is not even routed.
    let well_formed = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !secret.is_empty()
    });
    if !well_formed {
        return envelope(Err(ApiError::new(404, "Not Found")));
    }
    let params = match parse_params(&req, &body) {
        Ok(params) => params,
        Err(err) => return finish(&shared, &method, Value::Null, Err(err)),
    };
    // Copied only to be recorded: a benchmark with recording off skips the copy.
    let params_value = if shared.recording.load(Ordering::Relaxed) {
        Value::Object(params.0.clone())
    } else {
        Value::Null
    };
    if token != shared.token {
        return finish(
            &shared,
            &method,
            params_value,
            Err(ApiError::new(401, "Unauthorized")),
        );
    }

    let fault = {
        let mut st = lock(&shared.state);
        st.faults
            .get_mut(&method.to_ascii_lowercase())
            .and_then(VecDeque::pop_front)
    };
    match fault {
        None => {}
        Some(Fault::Hang(duration)) => tokio::time::sleep(duration).await,
        Some(Fault::BadGateway) => {
            record_call(&shared, &method, params_value, 502);
            return HttpResponse::BadGateway()
                .content_type("text/html")
                .body(NGINX_502);
        }
        Some(Fault::TooManyRequests { retry_after }) => {
            return finish(
                &shared,
                &method,
                params_value,
                Err(ApiError::too_many_requests(retry_after)),
            )
        }
        Some(Fault::ServerError) => {
            return finish(
                &shared,
                &method,
                params_value,
                Err(ApiError::new(500, "Internal Server Error")),
            )
        }
        Some(Fault::Forbidden) => {
            let err = ApiError::new(403, "Forbidden: bot was blocked by the user");
            return finish(&shared, &method, params_value, Err(err));
        }
        Some(Fault::Custom {
            status,
            description,
        }) => {
            return finish(
                &shared,
                &method,
                params_value,
                Err(ApiError::new(status, description)),
            )
        }
    }

    let result = match method.to_ascii_lowercase().as_str() {
        "getupdates" => get_updates(&shared, &params).await,
        "getme" => Ok(bot_user(&shared)),
        "sendmessage" => send_message(&shared, &params),
        "editmessagetext" => edit_message_text(&shared, &params),
        "deletemessage" => delete_message(&shared, &params),
        "sendchataction" => send_chat_action(&shared, &params),
        "setmycommands" => set_my_commands(&shared, &params),
        "getmycommands" => Ok(Value::Array(lock(&shared.state).commands.clone())),
        "deletewebhook" => delete_webhook(&shared, &params),
        "setwebhook" => set_webhook(&shared, &params),
        "getwebhookinfo" => get_webhook_info(&shared),
        _ => Err(ApiError::new(404, "Not Found")),
    };
    finish(&shared, &method, params_value, result)
}

fn finish(shared: &Shared, method: &str, params: Value, result: ApiResult) -> HttpResponse {
    let status = match &result {
        Ok(_) => 200,
        Err(err) => err.status,
    };
    record_call(shared, method, params, status);
    envelope(result)
}

fn record_call(shared: &Shared, method: &str, params: Value, status: u16) {
    {
        let mut st = lock(&shared.state);
        st.call_count += 1;
        if shared.recording.load(Ordering::Relaxed) {
            st.calls.push(ApiCall {
                method: method.to_string(),
                params,
                status,
            });
        }
    }
    shared.changed.notify_waiters();
}

fn envelope(result: ApiResult) -> HttpResponse {
    match result {
        Ok(result) => HttpResponse::Ok().json(json!({ "ok": true, "result": result })),
        Err(err) => {
            let mut body = json!({
                "ok": false,
                "error_code": err.status,
                "description": err.description,
            });
            let mut parameters = Map::new();
            if let Some(retry_after) = err.retry_after {
                parameters.insert("retry_after".into(), json!(retry_after));
            }
            if let Some(to) = err.migrate_to_chat_id {
                parameters.insert("migrate_to_chat_id".into(), json!(to));
            }
            if !parameters.is_empty() {
                body["parameters"] = Value::Object(parameters);
            }
            let status =
                StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            HttpResponse::build(status).json(body)
        }
    }
}

/// Request parameters, merged from the query string and the body (the body wins).
#[derive(Debug, Default)]
struct Params(Map<String, Value>);

fn parse_params(req: &HttpRequest, body: &[u8]) -> Result<Params, ApiError> {
    let mut map = Map::new();
    let add_form = |text: &str, map: &mut Map<String, Value>| -> Result<(), ApiError> {
        let pairs = web::Query::<Vec<(String, String)>>::from_query(text)
            .map_err(|_| ApiError::bad_request("can't parse parameters"))?;
        for (k, v) in pairs.into_inner() {
            map.insert(k, Value::String(v));
        }
        Ok(())
    };
    add_form(req.query_string(), &mut map)?;
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("request body is not UTF-8"))?;
    if text.trim().is_empty() {
        // nothing in the body
    } else if content_type.starts_with("application/json") || text.trim_start().starts_with('{') {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(obj)) => map.extend(obj),
            _ => return Err(ApiError::bad_request("can't parse JSON object")),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        add_form(text, &mut map)?;
    } else {
        return Err(ApiError::bad_request(format!(
            "unsupported content type {content_type:?}"
        )));
    }
    // Telegram treats null like an absent parameter.
    map.retain(|_, v| !v.is_null());
    Ok(Params(map))
}

impl Params {
    /// An integer given as a JSON number or a numeric string (both accepted by Telegram).
    fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid {name} specified"))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid {name} specified"))),
            Some(_) => Err(ApiError::bad_request(format!("invalid {name} specified"))),
        }
    }

    fn string(&self, name: &str) -> Option<String> {
        match self.0.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        }
    }

    fn bool(&self, name: &str) -> bool {
        match self.0.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.as_str(), "true" | "True" | "1"),
            Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
            _ => false,
        }
    }

    /// A structured parameter: JSON in a JSON body, or a JSON-serialized string in a form/query.
    fn json(&self, name: &str) -> Result<Option<Value>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("can't parse {name} JSON object"))),
            Some(v) => Ok(Some(v.clone())),
        }
    }

    /// `chat_id` as Telegram checks it: required, not a group that became a supergroup, and the
    /// chat must be known.
    fn chat_id(&self, st: &State) -> Result<i64, ApiError> {
        match self.0.get("chat_id") {
            None => Err(ApiError::bad_request("chat_id is empty")),
            // `@channelusername`: we model private chats only.
            Some(Value::String(s)) if s.starts_with('@') => {
                Err(ApiError::bad_request("chat not found"))
            }
            Some(_) => {
                let id = self
                    .int("chat_id")
                    .map_err(|_| ApiError::bad_request("chat not found"))?
                    .ok_or_else(|| ApiError::bad_request("chat_id is empty"))?;
                if let Some(&to) = st.migrated.get(&id) {
                    Err(ApiError::migrated(to))
                } else if st.chats.contains_key(&id) {
                    Ok(id)
                } else {
                    Err(ApiError::bad_request("chat not found"))
                }
            }
        }
    }
}

// ----- methods ------------------------------------------------------------------------------

fn bot_user(shared: &Shared) -> Value {
    json!({
        "id": shared.bot_id,
        "is_bot": true,
        "first_name": "Test Bot",
        "username": "test_bot",
        "can_join_groups": true,
        "can_read_all_group_messages": false,
        "supports_inline_queries": false,
    })
}

/// Long polling with Telegram's semantics: confirm below `offset`, answer at once when updates
/// are pending, else wait up to `timeout` s; a newer `getUpdates` ends this one with 409.
async fn get_updates(shared: &Shared, params: &Params) -> ApiResult {
    let offset = params.int("offset")?;
    // tdlib clamps rather than rejects out-of-range values.
    let limit = params.int("limit")?.unwrap_or(100).clamp(1, 100);
    let limit = usize::try_from(limit).unwrap_or(100);
    let timeout = params.int("timeout")?.unwrap_or(0).max(0);
    let timeout = u64::try_from(timeout).unwrap_or(0).min(MAX_LONG_POLL_SECS);
    let allowed_updates = match params.json("allowed_updates")? {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect::<Vec<_>>(),
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                "can't parse allowed_updates JSON array",
            ))
        }
    };

    let generation = {
        let mut st = lock(&shared.state);
        st.get_updates_count += 1;
        if shared.recording.load(Ordering::Relaxed) {
            st.get_updates_calls.push(GetUpdatesCall {
                offset,
                limit,
                timeout,
                allowed_updates: allowed_updates.clone(),
            });
        }
        if st.webhook_url.is_some() {
            return Err(ApiError::new(409, CONFLICT_WEBHOOK));
        }
        if let Some(list) = allowed_updates {
            st.allowed_updates = Some(list);
        }
        match offset {
            Some(offset) if offset > 0 => {
                st.pending
                    .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                st.confirmed_below = st.confirmed_below.max(offset);
            }
            Some(offset) if offset < 0 => {
                // "-N": keep only the last N updates, forget the rest.
                let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
                let drop_count = st.pending.len().saturating_sub(keep);
                st.pending.drain(..drop_count);
            }
            _ => {}
        }
        st.poll_generation += 1;
        st.poll_generation
    };
    // Wake an older waiting poll so it notices it was replaced, and test-side waiters that
    // watch `get_updates_calls` (the call is recorded in `calls` only when it is answered).
    shared.updates_changed.notify_waiters();
    shared.changed.notify_waiters();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut timed_out = false;
    loop {
        let mut notified = pin!(shared.updates_changed.notified());
        notified.as_mut().enable();
        {
            let st = lock(&shared.state);
            if st.poll_generation != generation {
                return Err(ApiError::new(409, CONFLICT_OTHER_POLLER));
            }
            if !st.pending.is_empty() || timeout == 0 || timed_out {
                return Ok(Value::Array(
                    st.pending.iter().take(limit).cloned().collect(),
                ));
            }
        }
        timed_out = tokio::time::timeout_at(deadline, notified).await.is_err();
    }
}

/// A parsed `text` + `parse_mode`: what the user will see and the entities.
struct Rendered {
    plain: String,
    entities: Vec<Value>,
}

/// Validates `text` like Telegram: entity parsing, then trimming, then emptiness and length in
/// UTF-16 code units. `too_long` differs between sendMessage and editMessageText.
fn render(params: &Params, too_long: &str) -> Result<(String, Option<String>, Rendered), ApiError> {
    let text = params.string("text").unwrap_or_default();
    let parse_mode = params.string("parse_mode").filter(|p| !p.is_empty());
    let rendered = match parse_mode
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Rendered {
            plain: text.clone(),
            entities: Vec::new(),
        },
        Some("html") => parse_html(&text)
            .map_err(|e| ApiError::bad_request(format!("can't parse entities: {e}")))?,
        // Accepted without validation: see the module doc.
        Some("markdown") | Some("markdownv2") => Rendered {
            plain: text.clone(),
            entities: Vec::new(),
        },
        Some(_) => return Err(ApiError::bad_request("unsupported parse_mode")),
    };
    let rendered = trim(rendered);
    if rendered.plain.is_empty() {
        return Err(ApiError::bad_request("message text is empty"));
    }
    if rendered.plain.encode_utf16().count() > MAX_TEXT_UTF16 {
        return Err(ApiError::bad_request(too_long));
    }
    Ok((text, parse_mode, rendered))
}

/// Telegram strips leading and trailing whitespace from message text (after entity parsing),
/// moving entities with it; what remains is what is stored, measured and shown.
fn trim(rendered: Rendered) -> Rendered {
    let plain = rendered.plain.trim();
    let lead = rendered.plain.trim_start();
    let lead_utf16 = rendered.plain[..rendered.plain.len() - lead.len()]
        .encode_utf16()
        .count();
    let total = plain.encode_utf16().count();
    let entities = rendered
        .entities
        .into_iter()
        .filter_map(|mut e| {
            let start = e["offset"].as_u64().and_then(|o| usize::try_from(o).ok())?;
            let end = start + e["length"].as_u64().and_then(|l| usize::try_from(l).ok())?;
            let start = start.saturating_sub(lead_utf16);
            let end = end.saturating_sub(lead_utf16).min(total);
            (end > start).then(|| {
                e["offset"] = json!(start);
                e["length"] = json!(end - start);
                e
            })
        })
        .collect();
    Rendered {
        plain: plain.to_string(),
        entities,
    }
}

fn send_message(shared: &Shared, params: &Params) -> ApiResult {
    let mut st = lock(&shared.state);
    let chat_id = params.chat_id(&st)?;
    let (text, parse_mode, rendered) = render(params, "message is too long")?;
    let reply_parameters = params.json("reply_parameters")?;
    let reply_to = match &reply_parameters {
        Some(rp) => rp["message_id"].as_i64(),
        None => params.int("reply_to_message_id")?,
    };
    let allow_without_reply = params.bool("allow_sending_without_reply")
        || reply_parameters
            .as_ref()
            .is_some_and(|rp| rp["allow_sending_without_reply"].as_bool() == Some(true));
    let reply_target = match reply_to {
        Some(id) => match st.chats.get(&chat_id).and_then(|c| c.messages.get(&id)) {
            Some(m) => Some((id, m.plain.clone(), m.from_bot)),
            None if allow_without_reply => None,
            None => return Err(ApiError::bad_request("message to be replied not found")),
        },
        None => None,
    };
    st.check_rate(chat_id)?;
    let chat = st.chat(chat_id);
    let message_id = chat.take_message_id();
    let chat_json = chat.user.clone();
    chat.messages.insert(
        message_id,
        StoredMessage {
            from_bot: true,
            plain: rendered.plain.clone(),
            entities: rendered.entities.clone(),
        },
    );
    let position = st.sent.len();
    st.sent_by_chat.entry(chat_id).or_default().push(position);
    st.sent.push(SentMessage {
        chat_id,
        message_id,
        text,
        parse_mode,
        reply_to: reply_target.as_ref().map(|(id, _, _)| *id),
        plain: rendered.plain.clone(),
        at: Instant::now(),
    });
    st.chat_touched(chat_id);
    let mut message = json!({
        "message_id": message_id,
        "from": bot_user(shared),
        "chat": chat_json,
        "date": unix_now(),
        "text": rendered.plain,
    });
    if !rendered.entities.is_empty() {
        message["entities"] = Value::Array(rendered.entities);
    }
    if let Some((id, plain, from_bot)) = reply_target {
        message["reply_to_message"] = json!({
            "message_id": id,
            "chat": message["chat"].clone(),
            "date": unix_now(),
            "text": plain,
            "from": if from_bot { bot_user(shared) } else { message["chat"].clone() },
        });
    }
    Ok(message)
}

/// `deleteMessage`: a bot may delete its own messages (and, in private chats, any): `true`; a message that
/// does not exist: 400 "message to delete not found". Deleted messages are recorded.
fn delete_message(shared: &Shared, params: &Params) -> ApiResult {
    let mut st = lock(&shared.state);
    let chat_id = params.chat_id(&st)?;
    let message_id = params
        .int("message_id")?
        .ok_or_else(|| ApiError::bad_request("message identifier is not specified"))?;
    let removed = st.chat(chat_id).messages.remove(&message_id);
    if removed.is_none() {
        return Err(ApiError::bad_request("message to delete not found"));
    }
    st.deleted.push((chat_id, message_id));
    st.chat_touched(chat_id);
    Ok(json!(true))
}

fn edit_message_text(shared: &Shared, params: &Params) -> ApiResult {
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
    let (text, parse_mode, rendered) = render(params, "MESSAGE_TOO_LONG")?;
    let chat = st
        .chats
        .get(&chat_id)
        .ok_or_else(|| ApiError::bad_request("chat not found"))?;
    let chat_json = chat.user.clone();
    let stored = chat
        .messages
        .get(&message_id)
        .ok_or_else(|| ApiError::bad_request("message to edit not found"))?;
    if !stored.from_bot {
        return Err(ApiError::bad_request("message can't be edited"));
    }
    if stored.plain == rendered.plain && stored.entities == rendered.entities {
        return Err(ApiError::bad_request(NOT_MODIFIED));
    }
    st.check_rate(chat_id)?;
    if let Some(m) = st.chat(chat_id).messages.get_mut(&message_id) {
        m.plain = rendered.plain.clone();
        m.entities = rendered.entities.clone();
    }
    let position = st.edits.len();
    st.edits_by_chat.entry(chat_id).or_default().push(position);
    st.edits.push(EditedMessage {
        chat_id,
        message_id,
        text,
        parse_mode,
        plain: rendered.plain.clone(),
        at: Instant::now(),
    });
    st.chat_touched(chat_id);
    let mut message = json!({
        "message_id": message_id,
        "from": bot_user(shared),
        "chat": chat_json,
        "date": unix_now(),
        "edit_date": unix_now(),
        "text": rendered.plain,
    });
    if !rendered.entities.is_empty() {
        message["entities"] = Value::Array(rendered.entities);
    }
    Ok(message)
}

fn send_chat_action(shared: &Shared, params: &Params) -> ApiResult {
    let mut st = lock(&shared.state);
    let chat_id = params.chat_id(&st)?;
    let action = params.string("action").unwrap_or_default();
    if action.is_empty() {
        return Err(ApiError::bad_request("action is empty"));
    }
    if !CHAT_ACTIONS.contains(&action.as_str()) {
        return Err(ApiError::bad_request("wrong parameter action in request"));
    }
    if shared.recording.load(Ordering::Relaxed) {
        st.chat_actions.push((chat_id, action));
    }
    Ok(json!(true))
}

fn set_my_commands(shared: &Shared, params: &Params) -> ApiResult {
    let commands = match params.json("commands")? {
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::bad_request("can't parse commands JSON object")),
        None => return Err(ApiError::bad_request("parameter \"commands\" is required")),
    };
    if commands.len() > 100 {
        return Err(ApiError::bad_request("too many commands specified"));
    }
    for c in &commands {
        let command = c["command"].as_str().unwrap_or_default();
        let description = c["description"].as_str().unwrap_or_default();
        let valid_name = !command.is_empty()
            && command.len() <= 32
            && command
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(ApiError::bad_request("BOT_COMMAND_INVALID"));
        }
        let described = (1..=256).contains(&description.chars().count());
        if !described {
            return Err(ApiError::bad_request("command description is empty"));
        }
    }
    lock(&shared.state).commands = commands;
    Ok(json!(true))
}

fn delete_webhook(shared: &Shared, params: &Params) -> ApiResult {
    let mut st = lock(&shared.state);
    st.webhook_url = None;
    if params.bool("drop_pending_updates") {
        st.pending.clear();
    }
    Ok(json!(true))
}

fn set_webhook(shared: &Shared, params: &Params) -> ApiResult {
    let url = params.string("url").unwrap_or_default();
    if url.is_empty() {
        lock(&shared.state).webhook_url = None;
        return Ok(json!(true));
    }
    if !url.starts_with("https://") {
        return Err(ApiError::bad_request(
            "bad webhook: An HTTPS URL must be provided for webhook",
        ));
    }
    lock(&shared.state).webhook_url = Some(url);
    Ok(json!(true))
}

fn get_webhook_info(shared: &Shared) -> ApiResult {
    let st = lock(&shared.state);
    Ok(json!({
        "url": st.webhook_url.clone().unwrap_or_default(),
        "has_custom_certificate": false,
        "pending_update_count": st.pending.len(),
    }))
}

// ----- HTML parse mode ----------------------------------------------------------------------

struct OpenTag {
    name: String,
    /// UTF-16 offset in the plain text where the entity starts.
    offset: usize,
    attrs: Vec<(String, String)>,
}

/// Parses Telegram-HTML into plain text and entities, with tdlib's error texts.
///
/// Stricter than tdlib in one documented way: a bare `&` that does not start a valid entity is
/// refused. Telegram's docs require `&amp;` (tdlib happens to keep such `&` literally), and a bot
/// that forgets to escape `&` will mangle text such as `&lt;` coming from the model.
fn parse_html(src: &str) -> Result<Rendered, String> {
    let bytes = src.as_bytes();
    let mut plain = String::with_capacity(src.len());
    let mut utf16 = 0usize;
    let mut stack: Vec<OpenTag> = Vec::new();
    let mut entities = Vec::new();
    let is_space = |b: u8| b.is_ascii_whitespace();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'&' => {
                let (ch, len) = decode_entity(&src[i..]).ok_or_else(|| {
                    format!("unescaped '&' at byte offset {i}; it must be written as &amp;")
                })?;
                plain.push(ch);
                utf16 += ch.len_utf16();
                i += len;
            }
            b'<' if bytes.get(i + 1) == Some(&b'/') => {
                let start = i;
                let close = src[i..]
                    .find('>')
                    .ok_or_else(|| format!("Unclosed end tag at byte offset {start}"))?;
                let name = src[i + 2..i + close].trim().to_ascii_lowercase();
                i += close + 1;
                let open = stack
                    .pop()
                    .ok_or_else(|| format!("Unexpected end tag at byte offset {start}"))?;
                if open.name != name {
                    return Err(format!(
                        "Unmatched end tag at byte offset {start}, expected \"</{}>\", found \"</{name}>\"",
                        open.name
                    ));
                }
                if utf16 > open.offset {
                    entities.push(entity(&open, utf16 - open.offset));
                }
            }
            b'<' => {
                let start = i;
                let mut j = i + 1;
                while j < bytes.len() && !is_space(bytes[j]) && bytes[j] != b'>' {
                    j += 1;
                }
                if j >= bytes.len() {
                    return Err(format!("Unclosed start tag at byte offset {start}"));
                }
                let name = src[i + 1..j].to_ascii_lowercase();
                if !SUPPORTED_TAGS.contains(&name.as_str()) {
                    return Err(format!(
                        "Unsupported start tag \"{name}\" at byte offset {start}"
                    ));
                }
                let mut attrs = Vec::new();
                loop {
                    while j < bytes.len() && is_space(bytes[j]) {
                        j += 1;
                    }
                    if j >= bytes.len() {
                        return Err(format!("Unclosed start tag at byte offset {start}"));
                    }
                    if bytes[j] == b'>' {
                        j += 1;
                        break;
                    }
                    let name_start = j;
                    while j < bytes.len()
                        && !is_space(bytes[j])
                        && bytes[j] != b'='
                        && bytes[j] != b'>'
                    {
                        j += 1;
                    }
                    let attr = src[name_start..j].to_ascii_lowercase();
                    if attr.is_empty() {
                        return Err(format!(
                            "Empty attribute name in the tag \"{name}\" at byte offset {start}"
                        ));
                    }
                    while j < bytes.len() && is_space(bytes[j]) {
                        j += 1;
                    }
                    let mut value = String::new();
                    if bytes.get(j) == Some(&b'=') {
                        j += 1;
                        while j < bytes.len() && is_space(bytes[j]) {
                            j += 1;
                        }
                        match bytes.get(j) {
                            None => {
                                return Err(format!("Unclosed start tag at byte offset {start}"))
                            }
                            Some(&q) if q == b'"' || q == b'\'' => {
                                let end = src[j + 1..].find(char::from(q)).ok_or_else(|| {
                                    format!("Unclosed end of attribute value in the tag \"{name}\" at byte offset {start}")
                                })?;
                                value = decode_lenient(&src[j + 1..j + 1 + end]);
                                j += end + 2;
                            }
                            Some(_) => {
                                let value_start = j;
                                while j < bytes.len() && !is_space(bytes[j]) && bytes[j] != b'>' {
                                    j += 1;
                                }
                                value = decode_lenient(&src[value_start..j]);
                            }
                        }
                    }
                    attrs.push((attr, value));
                }
                if name == "span" && !attrs.iter().any(|(k, v)| k == "class" && v == "tg-spoiler") {
                    return Err(format!(
                        "Tag \"span\" must have class \"tg-spoiler\" at byte offset {start}"
                    ));
                }
                i = j;
                stack.push(OpenTag {
                    name,
                    offset: utf16,
                    attrs,
                });
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
                plain.push(ch);
                utf16 += ch.len_utf16();
                i += ch.len_utf8().max(1);
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            open.name
        ));
    }
    entities.sort_by_key(|e: &Value| {
        (
            e["offset"].as_u64(),
            std::cmp::Reverse(e["length"].as_u64()),
        )
    });
    Ok(Rendered { plain, entities })
}

fn entity(tag: &OpenTag, length: usize) -> Value {
    let attr = |name: &str| {
        tag.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let kind = match tag.name.as_str() {
        "b" | "strong" => "bold",
        "i" | "em" => "italic",
        "u" | "ins" => "underline",
        "s" | "strike" | "del" => "strikethrough",
        "span" | "tg-spoiler" => "spoiler",
        "a" => "text_link",
        "code" => "code",
        "pre" => "pre",
        "blockquote" if attr("expandable").is_some() => "expandable_blockquote",
        _ => "blockquote",
    };
    let mut e = json!({ "type": kind, "offset": tag.offset, "length": length });
    if kind == "text_link" {
        e["url"] = json!(attr("href").unwrap_or_default());
    }
    if let Some(language) =
        attr("class").and_then(|c| c.strip_prefix("language-").map(str::to_string))
    {
        e["language"] = json!(language);
    }
    e
}

/// Decodes `&lt;` `&gt;` `&amp;` `&quot;` and numeric `&#NN;` / `&#xHH;` at the start of `s`:
/// the entities Telegram understands. Returns the character and the bytes consumed.
fn decode_entity(s: &str) -> Option<(char, usize)> {
    let semi = s.get(..12.min(s.len())).unwrap_or(s).find(';')?;
    let name = s.get(1..semi)?;
    let ch = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')?
        }
    };
    Some((ch, semi + 1))
}

/// Attribute values: entities decoded where valid, anything else kept.
fn decode_lenient(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        match decode_entity(&rest[pos..]) {
            Some((ch, len)) => {
                out.push(ch);
                rest = &rest[pos + len..];
            }
            None => {
                out.push('&');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}
