//! The answers being generated in this process, by conversation (a chat, or a forum topic), so that `/cancel` can stop one.
//!
//! A job registers its generation with [`Generations::begin`] and holds the returned [`Generation`] while the
//! model writes; dropping it (however the job ends: done, failed, `?`, panic) unregisters it, so `/cancel`
//! never reports an answer in progress that no longer runs.

use crate::ids::Conversation;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Generations {
    running: Mutex<HashMap<Conversation, Arc<Notify>>>,
}

impl Generations {
    /// Registers a generation for `chat` (replacing an older one of the same chat); it stays registered until
    /// the returned guard is dropped.
    pub fn begin(self: &Arc<Self>, chat: Conversation) -> Generation {
        let signal = Arc::new(Notify::new());
        if let Ok(mut map) = self.running.lock() {
            map.insert(chat, signal.clone());
        }
        Generation {
            registry: self.clone(),
            chat,
            signal,
        }
    }

    /// Stops the chat's generation, if one runs. Returns whether there was one.
    pub fn cancel(&self, chat: Conversation) -> bool {
        let signal = self
            .running
            .lock()
            .ok()
            .and_then(|map| map.get(&chat).cloned());
        match signal {
            Some(s) => {
                s.notify_one();
                true
            }
            None => false,
        }
    }

    fn end(&self, chat: Conversation, signal: &Arc<Notify>) {
        if let Ok(mut map) = self.running.lock() {
            if map.get(&chat).is_some_and(|s| Arc::ptr_eq(s, signal)) {
                map.remove(&chat);
            }
        }
    }
}

/// One registered generation; unregisters itself when dropped.
#[derive(Debug)]
pub struct Generation {
    registry: Arc<Generations>,
    chat: Conversation,
    signal: Arc<Notify>,
}

impl Generation {
    /// Completes when `/cancel` asks this generation to stop.
    pub async fn cancelled(&self) {
        self.signal.notified().await;
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        self.registry.end(self.chat, &self.signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ChatId, TopicId};

    #[test]
    fn a_generation_is_cancellable_only_while_its_guard_lives() {
        let registry = Arc::new(Generations::default());
        assert!(!registry.cancel(Conversation::chat(ChatId(1))));
        let generation = registry.begin(Conversation::chat(ChatId(1)));
        assert!(registry.cancel(Conversation::chat(ChatId(1))));
        assert!(
            !registry.cancel(Conversation::chat(ChatId(2))),
            "other chats are not affected"
        );
        let topic = Conversation {
            chat: ChatId(1),
            topic: Some(TopicId(7)),
        };
        assert!(!registry.cancel(topic), "nor the chat's topics");
        drop(generation);
        assert!(
            !registry.cancel(Conversation::chat(ChatId(1))),
            "unregistered on drop"
        );
    }

    #[test]
    fn an_older_guard_does_not_unregister_a_newer_generation() {
        let registry = Arc::new(Generations::default());
        let old = registry.begin(Conversation::chat(ChatId(1)));
        let _new = registry.begin(Conversation::chat(ChatId(1)));
        drop(old);
        assert!(registry.cancel(Conversation::chat(ChatId(1))));
    }

    #[actix_rt::test]
    async fn cancel_wakes_the_running_generation() {
        let registry = Arc::new(Generations::default());
        let generation = registry.begin(Conversation::chat(ChatId(1)));
        assert!(registry.cancel(Conversation::chat(ChatId(1))));
        tokio::time::timeout(std::time::Duration::from_secs(1), generation.cancelled())
            .await
            .expect("woken");
    }
}
