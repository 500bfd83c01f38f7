//! Whom the poller told lately: strangers told "Access denied." ([`Refusals`]) and groups told that the bot
//! works in private chats only ([`GroupsTold`]). Plain data, kept in the poller actor across its restarts.
//! Split from `poller.rs` (whose child module this is) to keep that file short.

use crate::ids::{ChatId, UserId};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Strangers lately told "Access denied.", so that each is told once per `REFUSAL_NOTICE_INTERVAL`
/// however many messages they send; the rest are only counted (`refused_quiet` in `/metrics`).
#[derive(Debug)]
pub struct Refusals {
    interval: Duration,
    pub(super) told: HashMap<UserId, Instant>,
}

/// Above this many strangers remembered, those told longer ago than the interval are forgotten (keeps the map
/// small under a flood of new accounts; forgetting one too early only costs one more notice).
pub(super) const REFUSALS_REMEMBERED: usize = 10_000;

impl Refusals {
    /// `interval` zero: every message of a stranger is answered.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            told: HashMap::new(),
        }
    }

    /// Whether `user` may be told again at `now`, when `telling` are being told already (in this batch).
    pub fn due(&self, user: UserId, now: Instant, telling: &[UserId]) -> bool {
        self.interval.is_zero()
            || (!telling.contains(&user)
                && self
                    .told
                    .get(&user)
                    .is_none_or(|at| now.saturating_duration_since(*at) >= self.interval))
    }

    /// `users` were told at `now` (their notices are queued).
    pub fn remember(&mut self, users: &[UserId], now: Instant) {
        if self.interval.is_zero() {
            return;
        }
        for user in users {
            self.told.insert(*user, now);
        }
        if self.told.len() > REFUSALS_REMEMBERED {
            let interval = self.interval;
            self.told
                .retain(|_, at| now.saturating_duration_since(*at) < interval);
        }
    }
}

/// Groups lately told that the bot works in private chats only (`GROUP_MODE=off`), so that each is told once
/// while the process runs, however often its members address the bot.
#[derive(Debug, Default)]
pub struct GroupsTold {
    told: HashSet<ChatId>,
}

/// Above this many groups remembered, all are forgotten (a bot in that many groups with `GROUP_MODE=off` is
/// unusual; forgetting costs each group one more notice).
const GROUPS_REMEMBERED: usize = 10_000;

impl GroupsTold {
    /// Whether `chat` may be told, when `telling` are being told already (in this batch).
    pub fn due(&self, chat: ChatId, telling: &[ChatId]) -> bool {
        !self.told.contains(&chat) && !telling.contains(&chat)
    }

    /// `chats` were told (their notices are queued).
    pub fn remember(&mut self, chats: &[ChatId]) {
        if self.told.len() + chats.len() > GROUPS_REMEMBERED {
            self.told.clear();
        }
        self.told.extend(chats);
    }
}
