//! Pacing of everything the bot sends, so that Telegram never has to throttle it.
//!
//! Telegram allows about 30 messages a second for the whole bot and about one a second per chat (short bursts
//! are tolerated); edits count like sends, and ignoring 429s makes the penalties grow. One [`Pacer`] is shared
//! by the whole process:
//! - a global token bucket (`global_rate` per second, burst `global_rate`) that every send and edit draws on;
//! - per chat, a minimum gap between two calls;
//! - two classes: [`Class::Urgent`] (new messages, final edits) waits for its turn; [`Class::Progress`]
//!   (intermediate streaming edits) only goes when the bucket has a reserve left and the chat's edit interval has
//!   passed, and is otherwise skipped — the next edit carries all the text anyway. So first messages and final
//!   edits go before intermediate edits when the budget is tight;
//! - a 429's `retry_after` holds that chat (or everything, for a global flood wait).
//!
//! Plain synchronisation (a std mutex held for microseconds), no actors: usable from every worker arbiter.

use crate::ids::ChatId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A new message, or the edit that makes a message final: must happen, waits its turn.
    Urgent,
    /// An intermediate edit while an answer streams: skipped when there is no room for it.
    Progress,
}

#[derive(Debug, Clone)]
pub struct PacingSettings {
    /// Calls per second for the whole bot (Telegram allows about 30).
    pub global_rate: f64,
    /// Share of the bucket kept free for urgent calls: progress edits only go above it.
    pub progress_reserve: f64,
    /// Minimum gap between two urgent calls to one chat.
    pub chat_gap: Duration,
    /// Minimum gap between two progress edits of one chat (`STREAM_EDIT_INTERVAL_MS`).
    pub edit_interval: Duration,
}

impl Default for PacingSettings {
    fn default() -> Self {
        Self {
            global_rate: 25.0,
            progress_reserve: 0.4,
            chat_gap: Duration::from_millis(350),
            edit_interval: Duration::from_millis(1000),
        }
    }
}

#[derive(Debug)]
struct ChatState {
    /// No call before this (a 429 for this chat, or the chat gap).
    next_call: Instant,
    next_progress: Instant,
    last_used: Instant,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    refilled: Instant,
    /// A global flood wait: nothing goes before this.
    held_until: Instant,
    chats: HashMap<ChatId, ChatState>,
}

/// Chats not written to for this long are forgotten (keeps the map small).
const CHAT_IDLE_FORGET: Duration = Duration::from_secs(300);

#[derive(Debug)]
pub struct Pacer {
    settings: PacingSettings,
    state: Mutex<State>,
}

/// The answer to "may I call now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Go,
    /// Try again after this long.
    Wait(Duration),
    /// A progress edit with no room now: skip it.
    Skip,
}

impl Pacer {
    pub fn new(settings: PacingSettings) -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(State {
                tokens: settings.global_rate,
                refilled: now,
                held_until: now,
                chats: HashMap::new(),
            }),
            settings,
        }
    }

    pub fn settings(&self) -> &PacingSettings {
        &self.settings
    }

    /// Decides for one call at `now`, and books it when the answer is `Go`. Pure apart from the state.
    pub fn decide(&self, chat: ChatId, class: Class, now: Instant) -> Decision {
        let Ok(mut st) = self.state.lock() else {
            return Decision::Go;
        };
        let s = &self.settings;
        // Refill the bucket.
        let elapsed = now.saturating_duration_since(st.refilled).as_secs_f64();
        st.tokens = (st.tokens + elapsed * s.global_rate).min(s.global_rate);
        st.refilled = now;
        if st.chats.len() > 1000 {
            st.chats
                .retain(|_, c| now.saturating_duration_since(c.last_used) < CHAT_IDLE_FORGET);
        }
        if now < st.held_until {
            return match class {
                Class::Urgent => Decision::Wait(st.held_until - now),
                Class::Progress => Decision::Skip,
            };
        }
        let tokens = st.tokens;
        let chat_state = st.chats.entry(chat).or_insert(ChatState {
            next_call: now,
            next_progress: now,
            last_used: now,
        });
        match class {
            Class::Urgent => {
                if now < chat_state.next_call {
                    return Decision::Wait(chat_state.next_call - now);
                }
                if tokens < 1.0 {
                    return Decision::Wait(Duration::from_secs_f64((1.0 - tokens) / s.global_rate));
                }
                chat_state.next_call = now + s.chat_gap;
            }
            Class::Progress => {
                let reserve = s.global_rate * s.progress_reserve;
                if now < chat_state.next_call
                    || now < chat_state.next_progress
                    || tokens < reserve + 1.0
                {
                    return Decision::Skip;
                }
                chat_state.next_call = now + s.chat_gap;
                chat_state.next_progress = now + s.edit_interval;
            }
        }
        chat_state.last_used = now;
        st.tokens -= 1.0;
        Decision::Go
    }

    /// Waits until an urgent call to `chat` may go (and books it).
    pub async fn urgent(&self, chat: ChatId) {
        loop {
            match self.decide(chat, Class::Urgent, Instant::now()) {
                Decision::Go | Decision::Skip => return,
                Decision::Wait(d) => actix_rt::time::sleep(d).await,
            }
        }
    }

    /// Whether a progress edit of `chat` may go now (booked if so).
    pub fn progress(&self, chat: ChatId) -> bool {
        self.decide(chat, Class::Progress, Instant::now()) == Decision::Go
    }

    /// Telegram answered 429 with `retry_after` for a call to `chat`.
    pub fn flood_wait(&self, chat: ChatId, retry_after: Duration, global: bool) {
        let now = Instant::now();
        if let Ok(mut st) = self.state.lock() {
            if global {
                st.held_until = st.held_until.max(now + retry_after);
            }
            let c = st.chats.entry(chat).or_insert(ChatState {
                next_call: now,
                next_progress: now,
                last_used: now,
            });
            c.next_call = c.next_call.max(now + retry_after);
            c.next_progress = c.next_progress.max(now + retry_after);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(rate: f64) -> Pacer {
        Pacer::new(PacingSettings {
            global_rate: rate,
            progress_reserve: 0.4,
            chat_gap: Duration::from_millis(350),
            edit_interval: Duration::from_secs(1),
        })
    }

    #[test]
    fn one_chat_is_spaced_by_the_chat_gap_and_the_edit_interval() {
        let p = pacer(30.0);
        let t0 = Instant::now();
        let c = ChatId(1);
        assert_eq!(p.decide(c, Class::Urgent, t0), Decision::Go);
        assert_eq!(
            p.decide(c, Class::Urgent, t0),
            Decision::Wait(Duration::from_millis(350))
        );
        assert_eq!(
            p.decide(c, Class::Progress, t0 + Duration::from_millis(100)),
            Decision::Skip
        );
        assert_eq!(
            p.decide(c, Class::Progress, t0 + Duration::from_millis(400)),
            Decision::Go
        );
        assert_eq!(
            p.decide(c, Class::Progress, t0 + Duration::from_millis(900)),
            Decision::Skip
        );
        assert_eq!(
            p.decide(c, Class::Progress, t0 + Duration::from_millis(1450)),
            Decision::Go
        );
    }

    #[test]
    fn the_global_budget_is_never_exceeded_and_urgent_calls_keep_a_reserve() {
        let p = pacer(30.0);
        let t0 = Instant::now();
        // 100 chats all want to edit at once: only the part above the reserve goes.
        let progress = (0..100)
            .filter(|i| p.decide(ChatId(*i), Class::Progress, t0) == Decision::Go)
            .count();
        assert_eq!(progress, 18, "down to the reserve of 12 (40% of 30)");
        // Urgent calls use the reserve, then wait for the refill.
        let urgent = (100..200)
            .filter(|i| p.decide(ChatId(*i), Class::Urgent, t0) == Decision::Go)
            .count();
        assert_eq!(urgent, 12);
        assert!(matches!(
            p.decide(ChatId(300), Class::Urgent, t0),
            Decision::Wait(_)
        ));
        // Within any one second, no more than the rate (plus the initial burst) goes.
        let mut sent = 0;
        for ms in (0..1000).step_by(10) {
            let now = t0 + Duration::from_millis(ms);
            for i in 0..50 {
                if p.decide(ChatId(1000 + ms as i64 * 100 + i), Class::Urgent, now) == Decision::Go
                {
                    sent += 1;
                }
            }
        }
        assert!(sent <= 30, "{sent} calls in the second after the burst");
    }

    #[test]
    fn a_flood_wait_holds_the_chat_or_everyone() {
        let p = pacer(30.0);
        let t0 = Instant::now();
        p.flood_wait(ChatId(1), Duration::from_secs(5), false);
        assert!(
            matches!(p.decide(ChatId(1), Class::Urgent, Instant::now()), Decision::Wait(d) if d > Duration::from_secs(4))
        );
        assert_eq!(p.decide(ChatId(2), Class::Urgent, t0), Decision::Go);
        p.flood_wait(ChatId(2), Duration::from_secs(3), true);
        assert!(matches!(
            p.decide(ChatId(3), Class::Urgent, Instant::now()),
            Decision::Wait(_)
        ));
        assert_eq!(
            p.decide(ChatId(3), Class::Progress, Instant::now()),
            Decision::Skip
        );
    }
}
