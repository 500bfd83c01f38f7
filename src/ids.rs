//! Typed identifiers, so a chat id is never passed where a user id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
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
