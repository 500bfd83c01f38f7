//! Getting one answer into Telegram: streamed into a growing message (and more messages when it outgrows
//! 4096 UTF-16 units), then shown formatted, exactly once. Not an actor: plain async code a job runs.
//!
//! Every call goes through the process-wide [`Pacer`], so Telegram's limits are never hit on purpose; a 429
//! still happening is obeyed (`retry_after` holds the chat, or everything). Each message of the answer is
//! handed to a [`PartRecorder`] as soon as it exists (the job stores it with its lease), and a delivery starts
//! from the messages an earlier attempt already sent, so a retried job edits them instead of sending a second
//! answer. Knows nothing of the queue or of actors.
//!
//! A group that became a supergroup (Telegram answers with `migrate_to_chat_id`) is followed: the delivery goes
//! on in the supergroup, and [`Delivery::chat`] tells the caller where it went.

use crate::ids::{ChatId, Conversation, MessageId};
use crate::telegram::keyboard::InlineKeyboardMarkup;
use crate::telegram::pacing::{Class, Pacer};
use crate::telegram::types::{EditMessageText, Message, ReplyParameters, SendMessage};
use crate::telegram::{html_to_plain, markdown_to_telegram_html, split_html};
use crate::telegram::{split_message, BotApi, TelegramError, MAX_MESSAGE_UTF16};
use std::future::Future;
use std::time::Duration;

/// Sending one message is tried this many times on transient errors (5xx, network, 429).
pub const SEND_ATTEMPTS: u32 = 5;
/// First wait between send attempts (doubled each time) when Telegram gave no `retry_after`.
pub const SEND_RETRY_BASE: Duration = Duration::from_millis(500);
/// A `retry_after` longer than this is not waited out inside a job: the job fails and is retried later.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// What an answer's extra messages show when they cannot be deleted (the formatted answer needs fewer).
const LEFTOVER_TEXT: &str = "…";

/// Keeps the messages of an answer as they are sent, so that a later attempt of the same job can continue
/// them (see [`Delivery::new`]).
pub trait PartRecorder {
    /// Message `index` (0 = the first) of the answer now exists as `message_id`. A failure to record is the
    /// recorder's to log: the message is out either way.
    fn record(&self, index: usize, message_id: MessageId) -> impl Future<Output = ()>;

    /// The group `from` became the supergroup `to`, and the answer goes on there: called before anything is
    /// sent to `to`, so that what belongs to the chat can follow it first.
    fn moved(&self, from: ChatId, to: ChatId) -> impl Future<Output = ()>;
}

/// The messages of one answer.
pub struct Delivery<'a, R: PartRecorder> {
    api: &'a BotApi,
    pacer: &'a Pacer,
    recorder: R,
    /// The pacing class of every new message, when not the default (the first message of an answer is
    /// [`Class::First`], the others [`Class::Urgent`]).
    class: Option<Class>,
    /// Where the answer goes: the chat, or its forum topic.
    to: Conversation,
    reply_to: Option<MessageId>,
    /// In order: each message's id and the text it shows (`None`: sent by an earlier attempt, text unknown).
    shown: Vec<(MessageId, Option<String>)>,
}

impl<'a, R: PartRecorder> Delivery<'a, R> {
    /// An answer in `to` (a chat, or its forum topic), replying to `reply_to`, that continues the messages
    /// `sent` (in order) by an earlier attempt, and hands each new one to `recorder`.
    pub fn new(
        api: &'a BotApi,
        pacer: &'a Pacer,
        to: Conversation,
        reply_to: Option<MessageId>,
        sent: impl IntoIterator<Item = MessageId>,
        recorder: R,
    ) -> Self {
        let shown = sent.into_iter().map(|id| (id, None)).collect();
        Self {
            api,
            pacer,
            recorder,
            class: None,
            to,
            reply_to,
            shown,
        }
    }

    /// Paces every new message of this delivery as `class` (e.g. [`Class::Courtesy`] for a stranger).
    pub fn with_class(mut self, class: Class) -> Self {
        self.class = Some(class);
        self
    }

    /// The conversation the answer goes to now: the one it was made for, or the supergroup that group became.
    pub fn conversation(&self) -> Conversation {
        self.to
    }

    /// While the answer streams: makes the messages show `text` (plain) as far as pacing allows now. A new
    /// message goes at once (the first text appears as soon as it exists, overflow continues in a new
    /// message); the growing last message is edited only when the chat's edit interval has passed and the
    /// global budget has room, else the edit is skipped (the next one carries all the text).
    pub async fn stream(&mut self, text: &str) -> Result<(), TelegramError> {
        let pieces = split_message(text, MAX_MESSAGE_UTF16);
        let count = pieces.len();
        for (i, piece) in pieces.into_iter().enumerate() {
            let current = self.shown.get(i).map(|(_, t)| t.clone());
            match current {
                None => self.send(i, piece, false).await?,
                Some(Some(shown)) if shown == piece => {}
                // A finished piece (the text moved on to a next message) is made right at once.
                Some(_) if i + 1 < count => self.edit(i, piece, false, true).await?,
                Some(_) => {
                    if self.pacer.progress(self.to.chat) {
                        self.edit(i, piece, false, false).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The complete answer: converted to Telegram HTML, split, and every message made to show exactly its
    /// part (HTML that Telegram still refuses goes as plain text: no text is lost). Extra messages left from
    /// streaming are deleted. Returns the id of the first message.
    pub async fn finish(&mut self, markdown: &str) -> Result<Option<MessageId>, TelegramError> {
        let html = markdown_to_telegram_html(markdown);
        let pieces = split_html(&html, MAX_MESSAGE_UTF16);
        let used = pieces.len().max(1);
        for (i, piece) in pieces.into_iter().enumerate() {
            if i < self.shown.len() {
                self.edit(i, piece, true, true).await?;
            } else {
                self.send(i, piece, true).await?;
            }
        }
        while self.shown.len() > used {
            let Some((id, _)) = self.shown.pop() else {
                break;
            };
            self.pacer.urgent(self.to.chat).await;
            if self.api.delete_message(self.to.chat, id).await.is_err() {
                let edit = EditMessageText {
                    chat_id: self.to.chat,
                    message_id: id,
                    text: LEFTOVER_TEXT.to_string(),
                    parse_mode: None,
                };
                let _ = self.api.edit_message_text(&edit).await;
            }
        }
        Ok(self.shown.first().map(|(id, _)| *id))
    }

    /// A plain-text reply (commands, notices): split, each part shown exactly once.
    pub async fn finish_plain(&mut self, text: &str) -> Result<Option<MessageId>, TelegramError> {
        for (i, piece) in split_message(text, MAX_MESSAGE_UTF16)
            .into_iter()
            .enumerate()
        {
            if i < self.shown.len() {
                self.edit(i, piece, false, true).await?;
            } else {
                self.send(i, piece, false).await?;
            }
        }
        Ok(self.shown.first().map(|(id, _)| *id))
    }

    /// Sends part `index` as a new message (the first replies to the user's message) and records it.
    async fn send(&mut self, index: usize, text: String, html: bool) -> Result<(), TelegramError> {
        let reply_to = self.reply_to.filter(|_| index == 0);
        // The first message of an answer is what the user is waiting for.
        let class = match self.class {
            Some(class) => class,
            None if self.shown.is_empty() => Class::First,
            None => Class::Urgent,
        };
        let sent = match self.post(&text, reply_to, html, class).await {
            Err(e) => match e.migrated_to() {
                // The message replied to stayed in the old group.
                Some(to) => {
                    self.follow(to).await;
                    self.post(&text, None, html, class).await?
                }
                None => return Err(e),
            },
            Ok(sent) => sent,
        };
        self.recorder.record(index, sent.message_id).await;
        if index < self.shown.len() {
            if let Some(slot) = self.shown.get_mut(index) {
                *slot = (sent.message_id, Some(text));
            }
        } else {
            self.shown.push((sent.message_id, Some(text)));
        }
        Ok(())
    }

    /// Sends `text` as one new message; HTML that Telegram refuses goes again as plain text.
    async fn post(
        &self,
        text: &str,
        reply_to: Option<MessageId>,
        html: bool,
        class: Class,
    ) -> Result<Message, TelegramError> {
        let message = outgoing(self.to, text.to_string(), reply_to, html);
        match send_paced_as(self.api, self.pacer, &message, class).await {
            Err(e) if html && e.is_entity_error() => {
                log::warn!(
                    "chat {}: Telegram refused the formatting ({e}); sending plain text",
                    self.to.chat
                );
                let plain = outgoing(self.to, html_to_plain(text), reply_to, false);
                send_paced(self.api, self.pacer, &plain).await
            }
            other => other,
        }
    }

    /// The group became the supergroup `to`: the rest of the answer goes there, replying to nothing (the
    /// user's message stayed in the old group).
    async fn follow(&mut self, to: ChatId) {
        log::info!(
            "chat {} became the supergroup {to}; the answer goes on there",
            self.to.chat
        );
        self.recorder.moved(self.to.chat, to).await;
        // Only basic groups become supergroups, and they have no topics.
        self.to = Conversation::chat(to);
        self.reply_to = None;
    }

    /// Makes message `index` show `text`. An urgent edit waits its turn and is retried; a progress edit is
    /// tried once (a 429 holds the chat and the edit is dropped). A deleted message is sent again.
    async fn edit(
        &mut self,
        index: usize,
        text: String,
        html: bool,
        urgent: bool,
    ) -> Result<(), TelegramError> {
        let Some((id, current)) = self.shown.get(index).cloned() else {
            return Ok(());
        };
        if current.as_deref() == Some(text.as_str()) {
            // Never send an identical edit.
            return Ok(());
        }
        let edit = EditMessageText {
            chat_id: self.to.chat,
            message_id: id,
            text: text.clone(),
            parse_mode: html.then_some("HTML"),
        };
        let result = if urgent {
            edit_paced(self.api, self.pacer, &edit).await
        } else {
            match self.api.edit_message_text(&edit).await {
                Err(e) if e.retry_after().is_some() => {
                    self.pacer
                        .flood_wait(self.to.chat, e.retry_after().unwrap_or_default(), false);
                    return Ok(());
                }
                Err(e) if e.is_transient() => return Ok(()),
                other => other,
            }
        };
        match result {
            Ok(()) => {}
            Err(TelegramError::ChatMigrated { to, .. }) => {
                // The message stayed in the old group: this part goes to the supergroup as a new message.
                self.follow(to).await;
                return self.send(index, text, html).await;
            }
            Err(e) if e.is_edit_target_gone() => {
                log::info!(
                    "chat {}: message {id} was deleted; sending that part again",
                    self.to.chat
                );
                return self.send(index, text, html).await;
            }
            Err(e) if html && e.is_entity_error() => {
                log::warn!(
                    "chat {}: Telegram refused the formatting ({e}); showing plain text",
                    self.to.chat
                );
                let plain = EditMessageText {
                    parse_mode: None,
                    text: html_to_plain(&text),
                    ..edit
                };
                edit_paced(self.api, self.pacer, &plain).await?;
            }
            Err(e) => return Err(e),
        }
        if let Some(slot) = self.shown.get_mut(index) {
            slot.1 = Some(text);
        }
        Ok(())
    }
}

fn outgoing(
    to: Conversation,
    text: String,
    reply_to: Option<MessageId>,
    html: bool,
) -> SendMessage {
    SendMessage {
        chat_id: to.chat,
        message_thread_id: to.topic,
        text,
        parse_mode: html.then_some("HTML"),
        reply_parameters: reply_to.map(|message_id| ReplyParameters {
            message_id,
            allow_sending_without_reply: true,
        }),
    }
}

/// Sends plain text of any length as as many messages as it takes (outside any delivery record: notices
/// and failure messages). The first replies to `reply_to`.
pub async fn send_plain(
    api: &BotApi,
    pacer: &Pacer,
    to: Conversation,
    reply_to: Option<MessageId>,
    text: &str,
) -> Result<(), TelegramError> {
    let mut to = to;
    for (i, piece) in split_message(text, MAX_MESSAGE_UTF16)
        .into_iter()
        .enumerate()
    {
        let reply_to = reply_to.filter(|_| i == 0);
        match send_paced(api, pacer, &outgoing(to, piece.clone(), reply_to, false)).await {
            Err(TelegramError::ChatMigrated { to: supergroup, .. }) => {
                to = Conversation::chat(supergroup);
                send_paced(api, pacer, &outgoing(to, piece, None, false)).await?;
            }
            other => {
                other?;
            }
        }
    }
    Ok(())
}

/// Sends one message when the pacer allows, waiting out `retry_after` and retrying 5xx and network failures
/// with back-off.
pub async fn send_paced(
    api: &BotApi,
    pacer: &Pacer,
    message: &SendMessage,
) -> Result<Message, TelegramError> {
    send_paced_as(api, pacer, message, Class::Urgent).await
}

/// [`send_paced`] with a pacing class ([`Class::First`] for the message a user is waiting to see).
pub async fn send_paced_as(
    api: &BotApi,
    pacer: &Pacer,
    message: &SendMessage,
    class: Class,
) -> Result<Message, TelegramError> {
    retrying(pacer, message.chat_id, "sendMessage", class, || {
        api.send_message(message)
    })
    .await
}

/// A plain message (no parse mode) into `to`, replying to `reply_to` if it still exists.
pub fn plain_message(to: Conversation, text: &str, reply_to: Option<MessageId>) -> SendMessage {
    outgoing(to, text.to_string(), reply_to, false)
}

/// Sends one message with an inline keyboard (a menu a user is waiting for) when the pacer allows, with the
/// same retries as [`send_paced`].
pub async fn send_keyboard_paced(
    api: &BotApi,
    pacer: &Pacer,
    message: &SendMessage,
    keyboard: &InlineKeyboardMarkup,
) -> Result<Message, TelegramError> {
    retrying(pacer, message.chat_id, "sendMessage", Class::First, || {
        api.send_message_with_keyboard(message, keyboard)
    })
    .await
}

/// Edits a keyboard message: its text, and its keyboard (`None` takes it away, as an edit without
/// `reply_markup` does), with the same retries.
pub async fn edit_keyboard_paced(
    api: &BotApi,
    pacer: &Pacer,
    edit: &EditMessageText,
    keyboard: Option<&InlineKeyboardMarkup>,
) -> Result<(), TelegramError> {
    retrying(
        pacer,
        edit.chat_id,
        "editMessageText",
        Class::Urgent,
        || async {
            match keyboard {
                Some(keyboard) => api.edit_message_text_with_keyboard(edit, keyboard).await,
                None => api.edit_message_text(edit).await,
            }
        },
    )
    .await
}

/// Replaces only the keyboard of a message (turning a menu's page), with the same retries.
pub async fn edit_markup_paced(
    api: &BotApi,
    pacer: &Pacer,
    chat: ChatId,
    message_id: MessageId,
    keyboard: &InlineKeyboardMarkup,
) -> Result<(), TelegramError> {
    retrying(pacer, chat, "editMessageReplyMarkup", Class::Urgent, || {
        api.edit_message_reply_markup(chat, message_id, Some(keyboard))
    })
    .await
}

/// Edits one message when the pacer allows, with the same retries.
pub async fn edit_paced(
    api: &BotApi,
    pacer: &Pacer,
    edit: &EditMessageText,
) -> Result<(), TelegramError> {
    retrying(
        pacer,
        edit.chat_id,
        "editMessageText",
        Class::Urgent,
        || api.edit_message_text(edit),
    )
    .await
}

async fn retrying<T, F, Fut>(
    pacer: &Pacer,
    chat: ChatId,
    what: &str,
    class: Class,
    mut call: F,
) -> Result<T, TelegramError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TelegramError>>,
{
    let mut wait = SEND_RETRY_BASE;
    let mut attempt = 1;
    loop {
        pacer.wait_turn(chat, class).await;
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && attempt < SEND_ATTEMPTS => {
                match e.retry_after() {
                    Some(after) if after > MAX_RETRY_AFTER => return Err(e),
                    Some(after) => pacer.flood_wait(chat, after, false),
                    None => {
                        actix_rt::time::sleep(wait).await;
                        wait = wait.saturating_mul(2);
                    }
                }
                log::warn!("{what} to chat {chat} failed ({e}); retrying (attempt {attempt}/{SEND_ATTEMPTS})");
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
