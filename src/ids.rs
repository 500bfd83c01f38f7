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
    /// A `getUpdates` update id; confirming offset `n` drops every update below `n`.
    UpdateId
);

/// A queue job id; derived from the update that caused it when there is one, so it is stable across redeliveries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
