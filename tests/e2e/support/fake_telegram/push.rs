//! What a test feeds the fake: updates (text, photos, group and supergroup messages, forum topics
//! and their messages, the service messages of a group's upgrade), chats made known, a group upgraded to a supergroup, the bot
//! removed from a group and added again (`my_chat_member`), the next update id and a webhook.

use serde_json::{json, Value};

use super::state::{update_allowed, State};
use super::wire::{
    bot_user, group_anonymous_bot, group_chat, named_user, set_text, supergroup_chat, user,
};
use super::{lock, unix_now, FakeTelegram};

impl FakeTelegram {
    /// Queues an update. Assigns the next `update_id` unless the value already has one, and
    /// returns the id. Like Telegram, an update whose type is not in the sticky
    /// `allowed_updates` is never created (it is recorded in [`Self::dropped_updates`]), and
    /// neither is a message in a group the bot was removed from.
    pub fn push_update(&self, update: Value) -> i64 {
        self.push_updates_together(vec![update])
            .pop()
            .unwrap_or_default()
    }

    /// Queues `updates` at once, as one `getUpdates` answer would carry them (Telegram sends an album's
    /// messages together). Returns their update ids.
    pub fn push_updates_together(&self, updates: Vec<Value>) -> Vec<i64> {
        let ids = {
            let mut st = lock(&self.shared.state);
            updates
                .into_iter()
                .map(|update| queue_update(&mut st, update))
                .collect()
        };
        self.shared.updates_changed.notify_waiters();
        self.shared.changed.notify_waiters();
        ids
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

    /// Queues a text from the user `user_id` called `first_name` (with `username`, if any) in the
    /// group `chat_id` called `title` (a supergroup when its id starts with `-100`; a chat seen as a
    /// group before stays as it was, e.g. a forum, where this is its General topic), as Telegram
    /// sends it: `@username` mentions and a leading command get their entities. Returns the
    /// update id.
    pub fn push_named_group_text(
        &self,
        (user_id, first_name, username): (i64, &str, Option<&str>),
        chat_id: i64,
        title: &str,
        text: &str,
    ) -> i64 {
        let mut message = self.new_message_in(user_id, chat_id);
        message["from"] = named_user(user_id, first_name, username);
        if message["chat"]["type"] == "private" {
            message["chat"] = if chat_id.to_string().starts_with("-100") {
                supergroup_chat(chat_id, title)
            } else {
                group_chat(chat_id, title)
            };
        }
        set_text(&mut message, text);
        self.push_update(json!({ "message": message }))
    }

    /// Queues a text from `user_id` in the chat `chat_id` (a group it was seen as, else a private
    /// chat) that mentions the user `mentioned` by `name` without a username, as Telegram does when
    /// one is picked from the member list: a `text_mention` entity over `name` (which must be in
    /// `text`) carrying the user. `mentioned` = [`Self::bot_id`] mentions the bot. Returns the
    /// update id.
    pub fn push_text_mention(
        &self,
        user_id: i64,
        chat_id: i64,
        text: &str,
        name: &str,
        mentioned: i64,
    ) -> i64 {
        let mut message = self.new_message_in(user_id, chat_id);
        set_text(&mut message, text);
        let at = text.find(name).expect("the mentioned name is in the text");
        let user = if mentioned == self.shared.bot_id {
            bot_user(&self.shared)
        } else {
            user(mentioned)
        };
        let entity = json!({
            "offset": text[..at].encode_utf16().count(),
            "length": name.encode_utf16().count(),
            "type": "text_mention",
            "user": user,
        });
        match message["entities"].as_array_mut() {
            Some(entities) => entities.push(entity),
            None => message["entities"] = json!([entity]),
        }
        self.push_update(json!({ "message": message }))
    }

    /// Queues a reply from `user_id` in the chat `chat_id` (a group it was seen as, else a private
    /// chat) to its message `reply_to` (the bot's or a user's), as Telegram sends it:
    /// `reply_to_message` is the replied message whole (its sender, chat, text and entities, without
    /// its own reply), and `quote`, when the user quoted part of it, is that part with its UTF-16
    /// `position` in the replied text (it must be in it). Returns the update id.
    pub fn push_reply(
        &self,
        user_id: i64,
        chat_id: i64,
        reply_to: i64,
        text: &str,
        quote: Option<&str>,
    ) -> i64 {
        let mut message = self.new_message_in(user_id, chat_id);
        set_text(&mut message, text);
        let (replied, replied_thread) = {
            let st = lock(&self.shared.state);
            let chat = st.chats.get(&chat_id).expect("the chat is known");
            let stored = chat
                .messages
                .get(&reply_to)
                .expect("the replied message exists");
            let mut replied = json!({
                "message_id": reply_to,
                "from": stored.from.clone().unwrap_or_else(|| bot_user(&self.shared)),
                "chat": chat.user.clone(),
                "date": unix_now(),
                "text": stored.plain,
            });
            if !stored.entities.is_empty() {
                replied["entities"] = json!(stored.entities);
            }
            if let Some(thread) = stored.thread {
                replied["message_thread_id"] = json!(thread);
                replied["is_topic_message"] = json!(true);
            }
            (replied, stored.thread)
        };
        if let Some(quote) = quote {
            let plain = replied["text"].as_str().unwrap_or_default();
            let at = plain
                .find(quote)
                .expect("a quote is part of the replied text");
            message["quote"] = json!({
                "text": quote,
                "position": plain[..at].encode_utf16().count(),
                "is_manual": true,
            });
        }
        if let Some(thread) = replied_thread {
            // A reply to a message in a topic is in that topic.
            message["message_thread_id"] = json!(thread);
            message["is_topic_message"] = json!(true);
        }
        message["reply_to_message"] = replied;
        self.push_update(json!({ "message": message }))
    }

    /// A user `user_id` opens the topic `name` in the supergroup `chat_id` called `title`, which
    /// becomes a forum (`is_forum`) if it was not one: the service message `forum_topic_created`
    /// arrives as a message update, as on Telegram, and its id is the topic's `message_thread_id`.
    /// Returns the topic id.
    pub fn open_topic(&self, user_id: i64, chat_id: i64, title: &str, name: &str) -> i64 {
        let mut message = self.new_user_message(user_id, chat_id);
        let mut chat = supergroup_chat(chat_id, title);
        chat["is_forum"] = json!(true);
        message["chat"] = chat;
        let topic = message["message_id"].as_i64().expect("a message id");
        message["message_thread_id"] = json!(topic);
        message["is_topic_message"] = json!(true);
        message["forum_topic_created"] = json!({ "name": name, "icon_color": 7_322_096 });
        self.push_update(json!({ "message": message }));
        topic
    }

    /// An admin closes the topic `topic` of the forum `chat_id`: from now on the bot's messages and chat
    /// actions there get 400 "Bad Request: TOPIC_CLOSED", as on Telegram for a bot that is not an admin.
    pub fn close_topic(&self, chat_id: i64, topic: i64) {
        let mut st = lock(&self.shared.state);
        st.chat(chat_id).closed_topics.insert(topic);
    }

    /// Queues a text from `user_id` in the topic `topic` of the forum `chat_id` (opened with
    /// [`open_topic`](Self::open_topic)), as Telegram sends it: `message_thread_id`,
    /// `is_topic_message`, and — as for every message of a topic that replies to nothing — the
    /// topic's service message as `reply_to_message`; mentions and a leading command get their
    /// entities. Returns the update id.
    pub fn push_topic_text(&self, user_id: i64, chat_id: i64, topic: i64, text: &str) -> i64 {
        let mut message = self.new_message_in(user_id, chat_id);
        set_text(&mut message, text);
        let start = {
            let st = lock(&self.shared.state);
            st.chats
                .get(&chat_id)
                .and_then(|c| c.messages.get(&topic))
                .and_then(|m| m.topic_start.clone())
                .expect("the topic was opened with open_topic")
        };
        message["message_thread_id"] = json!(topic);
        message["is_topic_message"] = json!(true);
        message["reply_to_message"] = start;
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
                "from": group_anonymous_bot(),
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

    /// Removes the bot from the group `chat_id` (as it was last seen; a supergroup when its id starts
    /// with `-100`) by the user `user_id`, as Telegram does: a `my_chat_member` update whose
    /// `new_chat_member` is the bot with status `kicked` (banned, `until_date` 0: for ever) or
    /// `left`, queued like any update (so only when `allowed_updates` asks for it). From now on
    /// every call with `chat_id` answers 403 "Forbidden: bot was kicked from the group chat" (or
    /// "… is not a member of the …"), and the group's messages no longer reach the bot. Returns the
    /// update id.
    pub fn remove_bot_from(&self, user_id: i64, chat_id: i64, kicked: bool) -> i64 {
        let update = {
            let mut st = lock(&self.shared.state);
            st.removed.insert(chat_id, kicked);
            let new = if kicked {
                json!({ "user": bot_user(&self.shared), "status": "kicked", "until_date": 0 })
            } else {
                json!({ "user": bot_user(&self.shared), "status": "left" })
            };
            let old = json!({ "user": bot_user(&self.shared), "status": "member" });
            self.chat_member_updated(&mut st, user_id, chat_id, old, new)
        };
        self.push_update(update)
    }

    /// Adds the bot to the group `chat_id` by the user `user_id` (again, after
    /// [`remove_bot_from`](Self::remove_bot_from), or for the first time): calls to it work again, and
    /// a `my_chat_member` update is queued whose `new_chat_member` is the bot as a `member` (the old
    /// status `left`, or `kicked` if it was banned). Returns the update id.
    pub fn add_bot_to(&self, user_id: i64, chat_id: i64) -> i64 {
        let update = {
            let mut st = lock(&self.shared.state);
            let was = match st.removed.remove(&chat_id) {
                Some(true) => "kicked",
                _ => "left",
            };
            let old = json!({ "user": bot_user(&self.shared), "status": was });
            let new = json!({ "user": bot_user(&self.shared), "status": "member" });
            self.chat_member_updated(&mut st, user_id, chat_id, old, new)
        };
        self.push_update(update)
    }

    /// A `my_chat_member` update (without its id) about the bot in the group `chat_id`, changed by
    /// `user_id`; the group becomes a known chat.
    fn chat_member_updated(
        &self,
        st: &mut State,
        user_id: i64,
        chat_id: i64,
        old: Value,
        new: Value,
    ) -> Value {
        let title = st.title_of(chat_id);
        let chat = st.chat(chat_id);
        if chat.user["type"] == "private" {
            chat.user = if chat_id.to_string().starts_with("-100") {
                supergroup_chat(chat_id, &title)
            } else {
                group_chat(chat_id, &title)
            };
        }
        json!({ "my_chat_member": {
            "chat": chat.user.clone(),
            "from": user(user_id),
            "date": unix_now(),
            "old_chat_member": old,
            "new_chat_member": new,
        }})
    }

    /// Queues a private-chat photo message (three sizes, no caption, no text); its files can be
    /// fetched with `getFile` and downloaded.
    pub fn push_photo(&self, user_id: i64, chat_id: i64) -> i64 {
        self.push_photo_with(user_id, chat_id, None, None)
    }

    /// Sets the id the next pushed update gets: Telegram restarts ids at a random value after a
    /// week without updates, so the bot must not assume ids only grow.
    pub fn set_next_update_id(&self, id: i64) {
        lock(&self.shared.state).next_update_id = id;
    }

    /// Sets (or with `None` removes) a webhook: while one is set, `getUpdates` gets 409.
    pub fn set_webhook(&self, url: Option<&str>) {
        lock(&self.shared.state).webhook.set_url(url);
    }

    /// Makes a chat known without a message from it (Telegram answers "chat not found" for
    /// chats that never talked to the bot).
    pub fn add_chat(&self, chat_id: i64) {
        lock(&self.shared.state).chat(chat_id);
    }

    /// A user's message in `chat_id` as the chat was last seen (a group or supergroup), else in the
    /// private chat `chat_id`.
    fn new_message_in(&self, user_id: i64, chat_id: i64) -> Value {
        let known = lock(&self.shared.state)
            .chats
            .get(&chat_id)
            .map(|c| c.user.clone())
            .filter(|chat| chat["type"] != "private");
        let mut message = self.new_user_message(user_id, chat_id);
        if let Some(chat) = known {
            message["chat"] = chat;
        }
        message
    }

    /// A user's message in the private chat `chat_id`, with the chat's next message id: the
    /// base the `push_*` helpers add their content to.
    pub(super) fn new_user_message(&self, user_id: i64, chat_id: i64) -> Value {
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

/// Puts `update` in the pending queue (or among the dropped ones), with its id; returns the id.
fn queue_update(st: &mut State, mut update: Value) -> i64 {
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
    let in_removed_chat = update["message"]["chat"]["id"]
        .as_i64()
        .is_some_and(|chat| st.removed.contains_key(&chat));
    if update_allowed(&update, st.allowed_updates.as_deref()) && !in_removed_chat {
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
}
