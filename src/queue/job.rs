//! Job payloads: versioned JSON (never a format that executes code), validated when read.

use crate::commands::BotCommand;
use crate::ids::{ChatId, Conversation, JobId, MessageId, TopicId, UpdateId, UserId};
use serde::{Deserialize, Serialize};

pub use crate::media::{Attachment, AttachmentKind};

/// The merge key of an album's items. `absorb` (`lua/common.lua`) knows it: an album merges within
/// [`ALBUM_WINDOW`] even when `MERGE_WINDOW_MS` is shorter or off.
pub const ALBUM_KEY_PREFIX: &str = "album/";
/// How far apart an album's items may arrive and still be one turn (Telegram sends them together, as
/// consecutive updates).
pub const ALBUM_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);
/// How long an album's first item waits before it runs when it arrived alone (webhook mode: one update per
/// request), so the album's other items queue behind it and merge. Items that arrive together (one
/// `getUpdates` answer) do not wait.
pub const ALBUM_SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Bumped when a payload changes incompatibly; a worker refuses versions it does not know.
pub const JOB_VERSION: u32 = 1;

/// Queues are taken strictly in this order: `High` before `Default` before `Low`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Commands, notices and short messages: a person is waiting.
    High,
    /// Long messages (over `BACKGROUND_THRESHOLD_TOKENS`).
    Default,
    /// Compression and clean-up.
    Low,
}

impl Priority {
    /// Highest first: the order a worker takes them in.
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Default, Priority::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Default => "default",
            Priority::Low => "low",
        }
    }

    /// The inverse of [`Priority::as_str`].
    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// What the bot knows of a chat when a message arrives; stored with the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRef {
    pub id: ChatId,
    /// `private`, `group`, `supergroup` or `channel`.
    pub kind: String,
    pub title: Option<String>,
    /// The forum topic the message was written in (`message_thread_id` of a topic message): the topic is the
    /// conversation, and the answer goes there. `None` outside forums and in a forum's General topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicId>,
}

impl ChatRef {
    /// The conversation the message belongs to.
    pub fn conversation(&self) -> Conversation {
        Conversation {
            chat: self.id,
            topic: self.topic,
        }
    }
}

/// A canned answer that needs no LLM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// The sender is not on the allow-list; tell them their id so the owner can add it.
    AccessDenied { user_id: UserId },
    /// A photo, sticker, voice note …: only text is understood.
    TextOnly,
    /// Someone addressed the bot in a group while `GROUP_MODE=off`: it works in private chats only.
    PrivateOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobKind {
    /// A text message for the LLM.
    Chat {
        chat: ChatRef,
        user_id: UserId,
        message_id: MessageId,
        text: String,
    },
    /// A photo or a document for the LLM (with its caption, if any): downloaded by the job.
    Media {
        chat: ChatRef,
        user_id: UserId,
        message_id: MessageId,
        caption: Option<String>,
        /// Boxed: the other kinds are much smaller.
        attachment: Box<Attachment>,
        /// Telegram's `media_group_id`: the photos (or documents) of one album, sent together, merge into one
        /// turn.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        album: Option<String>,
    },
    Command {
        chat: ChatRef,
        user_id: UserId,
        message_id: MessageId,
        command: BotCommand,
    },
    Notice {
        chat_id: ChatId,
        /// The forum topic the notice goes to (where the message it answers was written).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<TopicId>,
        reply_to: Option<MessageId>,
        notice: Notice,
    },
    /// A tap on a button of one of the bot's keyboards (`/model`, `/role`), by someone who may use the bot:
    /// handled in the chat's order (a switch never races the answer in flight), and always answered
    /// (`answerCallbackQuery`), so the client stops its spinner.
    Tap {
        chat: ChatRef,
        user_id: UserId,
        /// Telegram's `callback_query.id`, to answer it.
        query_id: String,
        /// The bot's message that carries the keyboard.
        message_id: MessageId,
        /// The button's `callback_data` (see [`crate::choice::callback`]).
        data: String,
    },
    /// A tap by someone who may not use the bot: answered "Access denied." at once (outside the chat's
    /// order), nothing changes.
    RefuseTap { chat_id: ChatId, query_id: String },
    /// The group `from` became the supergroup `to` (Telegram's service message): its conversation and
    /// settings follow, and so do its jobs still queued.
    Migrate { from: ChatId, to: ChatId },
    /// The bot was removed from the group `chat` (`active: false`: its queued jobs end quietly) or added to it
    /// again (`active: true`), as a `my_chat_member` update told. A removal runs at once, beside the chat's
    /// jobs still queued (they must not reach the model); a re-adding waits its turn in the chat's order, so
    /// the messages after it find the group active.
    Membership { chat: ChatRef, active: bool },
    /// Summarise this conversation's older turns (the Compressor's work).
    Compress {
        chat_id: ChatId,
        /// The forum topic whose conversation it is, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<TopicId>,
        /// The chat's context size (tokens) when the job was made.
        #[serde(default)]
        context_tokens: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub v: u32,
    pub id: JobId,
    /// The update this job came from, if any (for de-duplication and tracing).
    #[serde(default)]
    pub update_id: Option<UpdateId>,
    pub enqueued_at_ms: i64,
    pub kind: JobKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobDecodeError {
    #[error("job payload is not valid JSON for a job: {0}")]
    Malformed(String),
    #[error("job payload has version {0}, this build reads version {JOB_VERSION}")]
    UnknownVersion(u32),
}

impl Job {
    /// A job caused by an update; its id is derived from the update id, so it is stable across redeliveries.
    pub fn from_update(update_id: UpdateId, kind: JobKind) -> Self {
        Self {
            v: JOB_VERSION,
            id: JobId(format!("u{}", update_id.0)),
            update_id: Some(update_id),
            enqueued_at_ms: crate::text::now_unix_ms(),
            kind,
        }
    }

    /// A job the bot makes itself (compression, clean-up). While a job with the same id is queued, another
    /// is not queued (so one compression per chat at a time).
    pub fn internal(id: String, kind: JobKind) -> Self {
        let now = crate::text::now_unix_ms();
        Self {
            v: JOB_VERSION,
            id: JobId(id),
            update_id: None,
            enqueued_at_ms: now,
            kind,
        }
    }

    pub fn encode(&self) -> String {
        // Serialising plain data with string keys cannot fail; fall back to an empty object just in case.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    pub fn decode(payload: &str) -> Result<Job, JobDecodeError> {
        #[derive(Deserialize)]
        struct Versioned {
            v: u32,
        }
        let version = serde_json::from_str::<Versioned>(payload)
            .map_err(|e| JobDecodeError::Malformed(e.to_string()))?
            .v;
        if version != JOB_VERSION {
            return Err(JobDecodeError::UnknownVersion(version));
        }
        serde_json::from_str(payload).map_err(|e| JobDecodeError::Malformed(e.to_string()))
    }

    /// The chat whose jobs run one at a time in arrival order; `None` for jobs outside any chat's order
    /// (compression, `/cancel` and the bot's removal from a group run beside the chat's turns).
    pub fn ordered_chat(&self) -> Option<ChatId> {
        match &self.kind {
            // `/cancel` must reach the turn it stops, not wait behind it.
            JobKind::Compress { .. }
            | JobKind::RefuseTap { .. }
            | JobKind::Membership { active: false, .. }
            | JobKind::Command {
                command: BotCommand::Cancel,
                ..
            } => None,
            _ => Some(self.chat_id()),
        }
    }

    /// The conversation the job belongs to (a migration's and a membership's: the chat's without topic).
    pub fn conversation(&self) -> Conversation {
        match &self.kind {
            JobKind::Chat { chat, .. }
            | JobKind::Media { chat, .. }
            | JobKind::Command { chat, .. }
            | JobKind::Tap { chat, .. } => chat.conversation(),
            JobKind::Notice { chat_id, topic, .. } | JobKind::Compress { chat_id, topic, .. } => {
                Conversation {
                    chat: *chat_id,
                    topic: *topic,
                }
            }
            JobKind::Membership { .. } | JobKind::Migrate { .. } | JobKind::RefuseTap { .. } => {
                Conversation::chat(self.chat_id())
            }
        }
    }

    /// Text messages can be merged into one turn when they arrive close together; which may merge: those of
    /// the same conversation, or the items of one album (`None`: this job merges with nothing). Jobs of one chat run in one order,
    /// whatever their topic; only a topic's own messages merge.
    pub fn merge_key(&self) -> Option<String> {
        match (&self.kind, self.conversation().topic) {
            (JobKind::Chat { .. }, None) => Some("1".to_string()),
            (JobKind::Chat { .. }, Some(topic)) => Some(format!("1/{topic}")),
            // An album's photos (or documents) are one turn, whatever the merge window (`ALBUM_KEY_PREFIX`).
            (
                JobKind::Media {
                    album: Some(album), ..
                },
                _,
            ) => Some(format!("{ALBUM_KEY_PREFIX}{album}")),
            _ => None,
        }
    }

    pub fn chat_id(&self) -> ChatId {
        match &self.kind {
            JobKind::Chat { chat, .. }
            | JobKind::Media { chat, .. }
            | JobKind::Command { chat, .. }
            | JobKind::Tap { chat, .. }
            | JobKind::Membership { chat, .. } => chat.id,
            JobKind::Notice { chat_id, .. }
            | JobKind::Compress { chat_id, .. }
            | JobKind::RefuseTap { chat_id, .. } => *chat_id,
            // In the supergroup's order: its first messages wait until the conversation has moved (the group's
            // jobs still queued follow it when they run).
            JobKind::Migrate { to, .. } => *to,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_job() -> Job {
        Job::from_update(
            UpdateId(77),
            JobKind::Chat {
                chat: ChatRef {
                    id: ChatId(5),
                    kind: "private".into(),
                    title: None,
                    topic: None,
                },
                user_id: UserId(9),
                message_id: MessageId(3),
                text: "hi".into(),
            },
        )
    }

    #[test]
    fn jobs_round_trip_through_json() {
        let job = chat_job();
        assert_eq!(Job::decode(&job.encode()).unwrap(), job);
        assert_eq!(job.id.0, "u77");
        assert_eq!(job.chat_id(), ChatId(5));
    }

    #[test]
    fn the_bot_s_removal_from_a_group_runs_beside_its_queued_jobs_and_its_return_in_their_order() {
        let group = ChatRef {
            id: ChatId(-5),
            kind: "group".into(),
            title: Some("Team".into()),
            topic: None,
        };
        let membership = |active| {
            Job::from_update(
                UpdateId(8),
                JobKind::Membership {
                    chat: group.clone(),
                    active,
                },
            )
        };

        let (removed, added) = (membership(false), membership(true));

        assert_eq!(removed.ordered_chat(), None);
        assert_eq!(removed.chat_id(), ChatId(-5));
        assert_eq!(added.ordered_chat(), Some(ChatId(-5)));
        assert_eq!(added.merge_key(), None);
        assert_eq!(Job::decode(&added.encode()).unwrap(), added);
        assert!(added.encode().contains(r#""type":"membership""#));
    }

    #[test]
    fn malformed_and_future_payloads_are_refused() {
        assert!(matches!(
            Job::decode("not json"),
            Err(JobDecodeError::Malformed(_))
        ));
        assert!(matches!(
            Job::decode(r#"{"v":1,"id":"x"}"#),
            Err(JobDecodeError::Malformed(_))
        ));
        assert_eq!(
            Job::decode(r#"{"v":99}"#),
            Err(JobDecodeError::UnknownVersion(99))
        );
    }
}
