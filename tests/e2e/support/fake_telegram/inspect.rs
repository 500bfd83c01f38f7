//! What a test reads back from the fake (updates confirmed or pending, messages sent and edited as
//! the user sees them, chat actions, every call) and the waiters that wake on a change rather
//! than sleep, with a readable dump of the traffic for their failure messages.

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use super::{lock, ApiCall, EditedMessage, FakeTelegram, GetUpdatesCall, SentMessage};

impl FakeTelegram {
    // ----- updates -----------------------------------------------------------------------

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

    // ----- outgoing messages and calls ---------------------------------------------------

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
        lock(&self.shared.state)
            .chat_actions
            .iter()
            .map(|(chat, _, action)| (*chat, action.clone()))
            .collect()
    }

    /// Every `sendChatAction` with the forum topic it showed in: `(chat, topic, action)`.
    pub fn chat_actions_in_topics(&self) -> Vec<(i64, Option<i64>, String)> {
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
}
