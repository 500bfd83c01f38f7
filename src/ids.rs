//! Typed identifiers, so a chat id is never passed where a user id is expected.
//!
//! The integer ids are also Diesel types (`BIGINT` in SQLite), so database rows carry them as they are: a row's
//! `chat_id` is a [`ChatId`], not an `i64` that could be mixed up with a message id.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::BigInt;
use diesel::sqlite::{Sqlite, SqliteValue};
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, AsExpression,
            FromSqlRow,
        )]
        #[serde(transparent)]
        #[diesel(sql_type = BigInt)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl ToSql<BigInt, Sqlite> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                <i64 as ToSql<BigInt, Sqlite>>::to_sql(&self.0, out)
            }
        }

        impl FromSql<BigInt, Sqlite> for $name {
            fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
                <i64 as FromSql<BigInt, Sqlite>>::from_sql(value).map(Self)
            }
        }
    };
}

id_type!(
    /// A Telegram chat (private chat, group, supergroup or channel). Sessions are keyed by it.
    ChatId
);
id_type!(
    /// A Telegram user; the allow-list is made of these.
    UserId
);
id_type!(
    /// A message id, unique within one chat.
    MessageId
);
id_type!(
    /// A forum topic of a supergroup: the `message_thread_id` of its messages (the id of the service message
    /// that created it). Stored as 0 where there is none (see [`Conversation`]).
    TopicId
);
id_type!(
    /// A `getUpdates` update id; confirming offset `n` drops every update below `n`.
    UpdateId
);

/// One conversation: a chat, or one topic of a forum supergroup (each topic has its own history, settings and
/// usage). Also where the bot's messages go: a message into a topic carries its `message_thread_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Conversation {
    pub chat: ChatId,
    /// `None`: a chat without topics, or a forum's General topic (whose messages carry no thread id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicId>,
}

impl Conversation {
    /// The conversation of a chat without topics.
    pub fn chat(chat: ChatId) -> Self {
        Self { chat, topic: None }
    }

    /// The topic as SQLite stores it: 0 for none (Telegram's thread ids are message ids, never 0).
    pub fn topic_key(&self) -> TopicId {
        self.topic.unwrap_or(TopicId(0))
    }

    /// The conversation a row names with `topic_key`.
    pub fn from_key(chat: ChatId, topic_key: TopicId) -> Self {
        Self {
            chat,
            topic: (topic_key.0 != 0).then_some(topic_key),
        }
    }
}

impl fmt::Display for Conversation {
    /// `-100123` for a chat, `-100123/45` for topic 45 of it (as logs and job ids name it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.topic {
            Some(topic) => write!(f, "{}/{}", self.chat, topic),
            None => write!(f, "{}", self.chat),
        }
    }
}

/// A queue job id; derived from the update that caused it when there is one, so it is stable across redeliveries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
