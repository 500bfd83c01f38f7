//! Bot API wire types: only the fields the bot reads. Unknown fields are ignored, so new Telegram fields never
//! break parsing.

use crate::ids::{ChatId, Conversation, MessageId, TopicId, UpdateId, UserId};
use serde::{Deserialize, Serialize};

/// Every Bot API answer: `{"ok":true,"result":…}` or `{"ok":false,"error_code":…,"description":…}`.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    pub ok: bool,
    pub result: Option<T>,
    pub description: Option<String>,
    pub error_code: Option<u16>,
    pub parameters: Option<ResponseParameters>,
}

/// The `parameters` of a refusal: what Telegram tells us to do about it.
#[derive(Debug, Default, Deserialize)]
pub struct ResponseParameters {
    /// Seconds to wait before the next request (flood control).
    pub retry_after: Option<u64>,
    /// The group became a supergroup with this id; the call went to the old one.
    pub migrate_to_chat_id: Option<ChatId>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: UserId,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub first_name: String,
    pub username: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    pub id: ChatId,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    /// A supergroup with topics (a forum).
    #[serde(default)]
    pub is_forum: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MessageEntity {
    #[serde(rename = "type")]
    pub kind: String,
    /// In UTF-16 code units.
    pub offset: usize,
    pub length: usize,
    /// For a `text_mention` (a mention of someone without a username, picked from the member list): who.
    pub user: Option<User>,
}

/// The part of the replied-to message a user quoted (`quote` of a reply).
#[derive(Debug, Clone, Deserialize)]
pub struct TextQuote {
    pub text: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub message_id: MessageId,
    pub from: Option<User>,
    pub chat: Chat,
    #[serde(default)]
    pub date: i64,
    pub text: Option<String>,
    #[serde(default)]
    pub entities: Vec<MessageEntity>,
    /// The text of a photo, video or document.
    pub caption: Option<String>,
    /// The message this one replies to, as Telegram sends it (without its own `reply_to_message`).
    pub reply_to_message: Option<Box<Message>>,
    /// The part of `reply_to_message` the user quoted, when they quoted one.
    pub quote: Option<TextQuote>,
    /// Service message in a group that became a supergroup: the supergroup's id. Calls to this chat's id fail
    /// from now on.
    pub migrate_to_chat_id: Option<ChatId>,
    /// Service message in a new supergroup: the id of the group it was before.
    pub migrate_from_chat_id: Option<ChatId>,
    /// The thread the message belongs to: in a forum, its topic (the id of the message that created the
    /// topic); in a supergroup without topics, the thread of replies it is part of.
    pub message_thread_id: Option<TopicId>,
    /// True for a message in a forum topic (so `message_thread_id` names a topic, not a reply thread). Absent in
    /// a forum's General topic.
    #[serde(default)]
    pub is_topic_message: bool,
    /// Service message: a forum topic was created (this message starts it, and its id is the topic's id).
    pub forum_topic_created: Option<serde_json::Value>,
    /// A photo, in the sizes Telegram made of it (smallest first); empty when none.
    #[serde(default)]
    pub photo: Vec<super::files::PhotoSize>,
    /// A general file.
    pub document: Option<super::files::Document>,
    /// Shared by the messages of one album (photos sent together), each of which comes as its own update.
    pub media_group_id: Option<String>,
}

impl Message {
    /// The forum topic the message was written in, if any (reply threads of other supergroups are not topics).
    pub fn topic(&self) -> Option<TopicId> {
        self.message_thread_id.filter(|_| self.is_topic_message)
    }

    /// The conversation the message belongs to: its chat, or its topic there.
    pub fn conversation(&self) -> Conversation {
        Conversation {
            chat: self.chat.id,
            topic: self.topic(),
        }
    }

    /// The message it replies to, as a person meant it: in a forum topic, Telegram makes every message a reply
    /// to the service message that created the topic, which is nobody's reply.
    pub fn replied(&self) -> Option<&Message> {
        self.reply_to_message
            .as_deref()
            .filter(|r| r.forum_topic_created.is_none())
    }
}

/// A chat member's status (`ChatMember.status`): what the member may do in the chat, or that they are not
/// in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Created the chat.
    Creator,
    Administrator,
    Member,
    /// In the chat (or not: see [`ChatMember::is_member`]) with some rights taken away.
    Restricted,
    /// Not in the chat: left, or removed without a ban.
    Left,
    /// Banned from the chat (removed, and cannot come back until unbanned).
    Kicked,
    /// A status a later Bot API may add: read, never acted on.
    #[serde(other)]
    Unknown,
}

/// One member of a chat, as `my_chat_member` describes the bot before and after a change.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatMember {
    pub user: User,
    pub status: MemberStatus,
    /// For `restricted` only: whether the member is in the chat at the moment.
    pub is_member: Option<bool>,
}

impl ChatMember {
    /// Whether the member is in the chat (and so, for the bot, whether it can read and write there).
    pub fn is_in_chat(&self) -> bool {
        match self.status {
            MemberStatus::Creator | MemberStatus::Administrator | MemberStatus::Member => true,
            MemberStatus::Restricted => self.is_member.unwrap_or(true),
            MemberStatus::Left | MemberStatus::Kicked | MemberStatus::Unknown => false,
        }
    }
}

/// A change of the bot's own membership in a chat (`my_chat_member`): added, removed, made admin; in a
/// private chat, blocked or unblocked by the user.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatMemberUpdated {
    pub chat: Chat,
    /// Who made the change.
    pub from: User,
    /// When (Unix seconds).
    #[serde(default)]
    pub date: i64,
    pub old_chat_member: ChatMember,
    pub new_chat_member: ChatMember,
}

/// One update. Kinds the bot does not handle stay `None` and are confirmed without a job.
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    pub update_id: UpdateId,
    pub message: Option<Message>,
    pub edited_message: Option<Message>,
    /// The bot was added to or removed from a chat (only sent when `allowed_updates` asks for it).
    pub my_chat_member: Option<ChatMemberUpdated>,
    /// A tap on an inline keyboard button (only sent when `allowed_updates` asks for it).
    pub callback_query: Option<super::callbacks::CallbackQuery>,
}

/// One item of a `getUpdates` answer, parsed on its own: a malformed update must not hide the others of its
/// batch, and its id must still be confirmed, or Telegram sends it again and again.
#[derive(Debug, Clone)]
pub enum IncomingUpdate {
    /// Boxed: an `Update` is far larger than the `Malformed` variant.
    Parsed(Box<Update>),
    /// Not an update we can read.
    Malformed {
        /// Its `update_id`, when it has a numeric one (the offset moves past it).
        id: Option<UpdateId>,
        /// Why it could not be read, for the log.
        reason: String,
    },
}

impl IncomingUpdate {
    /// Parses one item of the `result` array of `getUpdates`.
    pub fn from_value(value: serde_json::Value) -> Self {
        let id = value
            .get("update_id")
            .and_then(serde_json::Value::as_i64)
            .map(UpdateId);
        match serde_json::from_value::<Update>(value) {
            Ok(update) => IncomingUpdate::Parsed(Box::new(update)),
            Err(e) => IncomingUpdate::Malformed {
                id,
                reason: e.to_string(),
            },
        }
    }

    /// The update's id, if it has one: what the next `offset` must move past.
    pub fn id(&self) -> Option<UpdateId> {
        match self {
            IncomingUpdate::Parsed(update) => Some(update.update_id),
            IncomingUpdate::Malformed { id, .. } => *id,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BotCommandSpec {
    pub command: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplyParameters {
    pub message_id: MessageId,
    /// The user may have deleted their message; answer anyway.
    pub allow_sending_without_reply: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SendMessage {
    pub chat_id: ChatId,
    /// The forum topic to post in (`None`: the chat, or a forum's General topic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<TopicId>,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_parameters: Option<ReplyParameters>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GetUpdates {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<UpdateId>,
    pub limit: u8,
    /// Long-polling wait in seconds.
    pub timeout: u64,
    pub allowed_updates: &'static [&'static str],
}

#[derive(Debug, Clone, Serialize)]
pub struct SendChatAction {
    pub chat_id: ChatId,
    /// The forum topic the action shows in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<TopicId>,
    pub action: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct EditMessageText {
    pub chat_id: ChatId,
    pub message_id: MessageId,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeleteMessage {
    pub chat_id: ChatId,
    pub message_id: MessageId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_text_update_is_parsed_with_its_id() {
        let incoming = IncomingUpdate::from_value(json!({"update_id": 7, "message": {
            "message_id": 3, "date": 0, "from": {"id": 1, "is_bot": false, "first_name": "A"},
            "chat": {"id": 1, "type": "private"}, "text": "hi"}}));
        assert_eq!(incoming.id(), Some(UpdateId(7)));
        let IncomingUpdate::Parsed(update) = incoming else {
            panic!("not parsed: {incoming:?}");
        };
        let message = update.message.unwrap();
        assert_eq!(message.text.as_deref(), Some("hi"));
        assert_eq!(message.migrate_to_chat_id, None);
        assert_eq!(message.migrate_from_chat_id, None);
    }

    #[test]
    fn the_bot_removed_from_a_group_and_added_again_arrives_as_typed_member_updates() {
        // As Telegram sends them: banned by an admin, then added back.
        let bot =
            json!({"id": 123456, "is_bot": true, "first_name": "Test Bot", "username": "test_bot"});
        let kicked = IncomingUpdate::from_value(json!({"update_id": 5, "my_chat_member": {
            "chat": {"id": -5, "title": "Team", "type": "group", "all_members_are_administrators": false},
            "from": {"id": 7, "is_bot": false, "first_name": "Ann"},
            "date": 1700000000,
            "old_chat_member": {"user": bot, "status": "member"},
            "new_chat_member": {"user": bot, "status": "kicked", "until_date": 0}}}));
        let restricted_out = json!({"user": bot, "status": "restricted", "is_member": false,
            "can_send_messages": false, "until_date": 0});
        let IncomingUpdate::Parsed(update) = kicked else {
            panic!("not parsed: {kicked:?}");
        };
        let change = update.my_chat_member.unwrap();
        assert!(update.message.is_none());
        assert_eq!(change.chat.id, ChatId(-5));
        assert_eq!(change.from.id, UserId(7));
        assert_eq!(change.new_chat_member.user.id, UserId(123456));
        assert_eq!(change.old_chat_member.status, MemberStatus::Member);
        assert_eq!(change.new_chat_member.status, MemberStatus::Kicked);
        assert!(change.old_chat_member.is_in_chat());
        assert!(!change.new_chat_member.is_in_chat());
        let restricted: ChatMember = serde_json::from_value(restricted_out).unwrap();
        assert!(
            !restricted.is_in_chat(),
            "restricted, and not a member any more"
        );
        let novel: ChatMember =
            serde_json::from_value(json!({"user": bot, "status": "owner_of_the_future"})).unwrap();
        assert_eq!(novel.status, MemberStatus::Unknown);
    }

    #[test]
    fn a_malformed_update_keeps_its_id_and_the_reason() {
        let incoming = IncomingUpdate::from_value(
            json!({"update_id": 9, "message": {"chat": "not an object"}}),
        );
        assert_eq!(incoming.id(), Some(UpdateId(9)));
        assert!(
            matches!(&incoming, IncomingUpdate::Malformed { reason, .. } if !reason.is_empty()),
            "{incoming:?}"
        );
    }

    #[test]
    fn an_update_without_an_id_is_malformed_without_an_id() {
        let incoming = IncomingUpdate::from_value(json!({"no_id": true}));
        assert!(
            matches!(incoming, IncomingUpdate::Malformed { id: None, .. }),
            "{incoming:?}"
        );
    }

    #[test]
    fn the_service_message_in_an_upgraded_group_carries_the_supergroup_id() {
        // As Telegram sends it (the user who upgraded the group is `from`).
        let incoming = IncomingUpdate::from_value(json!({"update_id": 633651590, "message": {
            "message_id": 192,
            "from": {"id": 62626897, "is_bot": false, "first_name": "Andrey", "language_code": "ru"},
            "chat": {"id": -354277871, "title": "test", "type": "group", "all_members_are_administrators": false},
            "date": 1579209455,
            "migrate_to_chat_id": -1001180035764_i64}}));
        let IncomingUpdate::Parsed(update) = incoming else {
            panic!("not parsed: {incoming:?}");
        };
        let message = update.message.unwrap();
        assert_eq!(message.migrate_to_chat_id, Some(ChatId(-1001180035764)));
        assert_eq!(message.migrate_from_chat_id, None);
        assert_eq!(message.text, None);
    }

    #[test]
    fn the_service_message_in_the_new_supergroup_carries_the_old_group_id() {
        let incoming = IncomingUpdate::from_value(json!({"update_id": 626042422, "message": {
            "message_id": 1,
            "from": {"id": 1087968824, "is_bot": true, "first_name": "Group", "username": "GroupAnonymousBot"},
            "sender_chat": {"id": -1001241958329_i64, "title": "Test", "type": "supergroup"},
            "chat": {"id": -1001241958329_i64, "title": "Test", "type": "supergroup"},
            "date": 1639955462,
            "migrate_from_chat_id": -720793082}}));
        let IncomingUpdate::Parsed(update) = incoming else {
            panic!("not parsed: {incoming:?}");
        };
        let message = update.message.unwrap();
        assert_eq!(message.migrate_from_chat_id, Some(ChatId(-720793082)));
        assert_eq!(message.migrate_to_chat_id, None);
        assert_eq!(message.chat.kind, "supergroup");
    }

    #[test]
    fn a_reply_carries_the_replied_message_its_quote_and_the_mentions() {
        // As Telegram sends it: the reply's own `entities`, the replied message whole, and the quoted part.
        let incoming = IncomingUpdate::from_value(json!({"update_id": 1, "message": {
            "message_id": 12,
            "from": {"id": 7, "is_bot": false, "first_name": "Ann"},
            "chat": {"id": -5, "title": "t", "type": "group"},
            "date": 0,
            "text": "@test_bot and Bob what?",
            "entities": [
                {"type": "mention", "offset": 0, "length": 9},
                {"type": "text_mention", "offset": 14, "length": 3,
                 "user": {"id": 8, "is_bot": false, "first_name": "Bob"}}],
            "reply_to_message": {"message_id": 11,
                "from": {"id": 123456, "is_bot": true, "first_name": "Test Bot", "username": "test_bot"},
                "chat": {"id": -5, "title": "t", "type": "group"}, "date": 0, "text": "one two three"},
            "quote": {"text": "two", "position": 4}}}));
        let IncomingUpdate::Parsed(update) = incoming else {
            panic!("not parsed: {incoming:?}");
        };
        let message = update.message.unwrap();
        let replied = message.reply_to_message.unwrap();
        assert_eq!(replied.from.unwrap().id, UserId(123456));
        assert_eq!(replied.text.as_deref(), Some("one two three"));
        assert_eq!(message.quote.unwrap().text, "two");
        assert_eq!(message.entities[1].user.as_ref().unwrap().id, UserId(8));
        assert!(message.entities[0].user.is_none());
    }
}
