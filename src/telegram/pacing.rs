//! Pacing of everything the bot sends, so that Telegram never has to throttle it.
//!
//! Telegram allows about 30 messages a second for the whole bot and about one a second per chat (short bursts
//! are tolerated); edits count like sends, and ignoring 429s makes the penalties grow. One [`Pacer`] is shared
//! by the whole process:
//! - a global sliding window: in any rolling 1.1 s at most `global_rate` calls go (sends and edits alike), so a
//!   burst of first messages goes at once and a sustained load never passes Telegram's ~30 a second (the
//!   extra 0.1 s absorbs the time between our decision and the call reaching Telegram);
//! - per chat, a minimum gap between two calls;
//! - three classes: [`Class::First`] (the first message of an answer: what a user waits to see) goes before
//!   everything else; [`Class::Urgent`] (other new messages, final edits) waits for its turn; [`Class::Progress`]
//!   (intermediate streaming edits) only goes when the bucket has a reserve left and the chat's edit interval has
//!   passed, and is otherwise skipped — the next edit carries all the text anyway. So first messages and final
//!   edits go before intermediate edits when the budget is tight. A fourth, [`Class::Courtesy`] (replies to
//!   people who may not use the bot), must go but only into the same spare room, and waits for it;
//! - a 429's `retry_after` holds that chat (or everything, for a global flood wait);
//! - a group or supergroup (a negative chat id) also has its own budget: Telegram allows a bot only about 20
//!   messages a minute in one group, edits included. In any rolling [`GROUP_WINDOW`] at most [`GROUP_RATE`]
//!   calls go to one group; progress edits there go only while [`GROUP_URGENT_RESERVE`] of those calls are
//!   still free, and at least [`GROUP_EDIT_INTERVAL`] apart (fewer, larger edits), so the first message and
//!   the final formatted edit of an answer always find room. Private chats are paced as before.
//!
//! Plain synchronisation (a std mutex held for microseconds), no actors: usable from every worker arbiter.

use crate::ids::ChatId;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The first message of an answer: must happen, and goes before the other urgent calls.
    First,
    /// A new message, or the edit that makes a message final: must happen, waits its turn.
    Urgent,
    /// An intermediate edit while an answer streams: skipped when there is no room for it.
    Progress,
    /// A courtesy to someone who may not use the bot ("Access denied."): must happen, but only in the room
    /// progress edits may use, and only while no user of the bot is waiting; it waits for that room. So
    /// strangers never take the budget the bot's users need.
    Courtesy,
}

#[derive(Debug, Clone)]
pub struct PacingSettings {
    /// Calls in any rolling window for the whole bot (Telegram allows about 30 a second). 0: no global limit
    /// (a self-hosted Bot API server, or benchmarks against a fake without limits).
    pub global_rate: usize,
    /// Share of that budget kept free for urgent calls: progress edits only go while the window is below it.
    pub progress_reserve: f64,
    /// Minimum gap between two urgent calls to one chat.
    pub chat_gap: Duration,
    /// Minimum gap between two progress edits of one chat (`STREAM_EDIT_INTERVAL_MS`).
    pub edit_interval: Duration,
}

/// The share of the global budget that progress edits leave free: 40 % keeps room for the new messages and final
/// edits that users wait for, while streaming still gets most of the budget (16 of 28 calls by default).
pub const PROGRESS_RESERVE: f64 = 0.4;

#[derive(Debug)]
struct ChatState {
    /// No call before this (a 429 for this chat, or the chat gap).
    next_call: Instant,
    next_progress: Instant,
    last_used: Instant,
    /// A group only: when its calls of the last [`GROUP_WINDOW`] went, oldest first (empty for a private chat).
    recent: VecDeque<Instant>,
}

impl ChatState {
    fn new(now: Instant) -> Self {
        Self {
            next_call: now,
            next_progress: now,
            last_used: now,
            recent: VecDeque::new(),
        }
    }
}

/// Calls to one group in any rolling [`GROUP_WINDOW`]: Telegram allows about 20 a minute in a group; 18 keeps
/// the same two-call margin as the global 28 of 30.
pub const GROUP_RATE: usize = 18;
/// The window a group's calls are counted over: Telegram's minute, plus a margin for the time between our
/// decision and the call reaching Telegram (as `WINDOW` for the global rate).
pub const GROUP_WINDOW: Duration = Duration::from_secs(61);
/// Calls of a group's budget that progress edits leave free: the first message and the final edit of three
/// answers in one minute (a busy group) still fit after streaming has used its share.
pub const GROUP_URGENT_RESERVE: usize = 6;
/// The least time between two progress edits in a group (at least; `STREAM_EDIT_INTERVAL_MS` when that is
/// longer): the progress share of a group's budget (12 a minute) spread over the minute, so a long answer keeps
/// showing progress instead of spending its share in the first half minute and then standing still.
pub const GROUP_EDIT_INTERVAL: Duration = Duration::from_secs(5);

/// Whether `chat` is a group, supergroup or channel (Telegram gives them negative ids): paced by its own
/// minute budget as well.
fn is_group(chat: ChatId) -> bool {
    chat.0 < 0
}

/// The window the global rate is counted over: Telegram's second, plus a margin for the time between our
/// decision and the call reaching Telegram (calls decided at the edges of two windows could otherwise land
/// in one of Telegram's).
const WINDOW: Duration = Duration::from_millis(1100);
/// After a first message had to wait, other urgent calls hold back this long (and look again).
const FIRST_PRIORITY: Duration = Duration::from_millis(50);
/// A courtesy call with no room looks again this often (it is not urgent; a user of the bot may be waiting).
const COURTESY_RETRY: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct State {
    /// When the calls of the last second went, oldest first.
    recent: VecDeque<Instant>,
    /// The last time an urgent call had to wait: progress edits then give way entirely for a while.
    urgent_waited: Option<Instant>,
    /// The last time a first message had to wait: other urgent calls then give way for a moment.
    first_waited: Option<Instant>,
    /// A global flood wait: nothing goes before this.
    held_until: Instant,
    chats: HashMap<ChatId, ChatState>,
    last_prune: Instant,
}

/// Chats not written to for this long are forgotten (keeps the map small)…
const CHAT_IDLE_FORGET: Duration = Duration::from_secs(300);
/// …looked for when the map has more chats than this, at most this often.
const PRUNE_ABOVE: usize = 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(10);

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
                recent: VecDeque::new(),
                urgent_waited: None,
                first_waited: None,
                held_until: now,
                chats: HashMap::new(),
                last_prune: now,
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
        while st
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            st.recent.pop_front();
        }
        if st.chats.len() > PRUNE_ABOVE
            && now.saturating_duration_since(st.last_prune) > PRUNE_EVERY
        {
            st.chats
                .retain(|_, c| now.saturating_duration_since(c.last_used) < CHAT_IDLE_FORGET);
            st.last_prune = now;
        }
        if now < st.held_until {
            return match class {
                Class::First | Class::Urgent | Class::Courtesy => {
                    Decision::Wait(st.held_until - now)
                }
                Class::Progress => Decision::Skip,
            };
        }
        let used = st.recent.len();
        let frees_at = st.recent.front().map(|t| *t + WINDOW);
        let urgent_waited = st.urgent_waited;
        let first_pending = st
            .first_waited
            .is_some_and(|t| now.saturating_duration_since(t) < FIRST_PRIORITY);
        let chat_state = st.chats.entry(chat).or_insert_with(|| ChatState::new(now));
        let group = is_group(chat);
        while chat_state
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= GROUP_WINDOW)
        {
            chat_state.recent.pop_front();
        }
        // A group's calls in its window, and when the window has room for the next one (`None`: it has now).
        let group_used = chat_state.recent.len();
        let group_frees = |limit: usize| {
            group_used
                .checked_sub(limit)
                .and_then(|over| chat_state.recent.get(over))
                .map(|t| (*t + GROUP_WINDOW).saturating_duration_since(now))
        };
        let group_full = group_frees(GROUP_RATE);
        let group_room = GROUP_RATE.saturating_sub(GROUP_URGENT_RESERVE);
        let group_spare = group_frees(group_room);
        let edit_interval = if group {
            s.edit_interval.max(GROUP_EDIT_INTERVAL)
        } else {
            s.edit_interval
        };
        // The room progress edits and courtesy calls may use: the budget less the reserve for urgent calls.
        // The budget is small: the float product is exact enough.
        let room = if s.global_rate == 0 {
            usize::MAX
        } else {
            (s.global_rate as f64 * (1.0 - s.progress_reserve)) as usize
        };
        let urgent_pending =
            urgent_waited.is_some_and(|t| now.saturating_duration_since(t) < WINDOW);
        match class {
            Class::First | Class::Urgent => {
                if now < chat_state.next_call {
                    return Decision::Wait(chat_state.next_call - now);
                }
                if group {
                    // The group's minute is spent: wait for its oldest call to leave the window. Not a wait
                    // of the global budget: other chats' calls go on.
                    if let Some(wait) = group_full {
                        return Decision::Wait(wait.max(Duration::from_millis(1)));
                    }
                }
                if class == Class::Urgent && first_pending {
                    return Decision::Wait(FIRST_PRIORITY);
                }
                if s.global_rate > 0 && used >= s.global_rate {
                    let wait = frees_at.map_or(Duration::from_millis(1), |t| {
                        t.saturating_duration_since(now)
                    });
                    st.urgent_waited = Some(now);
                    if class == Class::First {
                        st.first_waited = Some(now);
                    }
                    return Decision::Wait(wait.max(Duration::from_millis(1)));
                }
                chat_state.next_call = now + s.chat_gap;
            }
            Class::Progress => {
                if now < chat_state.next_call
                    || now < chat_state.next_progress
                    || used >= room
                    || urgent_pending
                    || (group && group_spare.is_some())
                {
                    return Decision::Skip;
                }
                chat_state.next_call = now + s.chat_gap;
                chat_state.next_progress = now + edit_interval;
            }
            Class::Courtesy => {
                if now < chat_state.next_call {
                    return Decision::Wait(chat_state.next_call - now);
                }
                if group {
                    if let Some(wait) = group_spare {
                        return Decision::Wait(wait.max(Duration::from_millis(1)));
                    }
                }
                if used >= room || urgent_pending || first_pending {
                    return Decision::Wait(COURTESY_RETRY);
                }
                chat_state.next_call = now + s.chat_gap;
            }
        }
        if group {
            chat_state.recent.push_back(now);
        }
        chat_state.last_used = now;
        st.recent.push_back(now);
        Decision::Go
    }

    /// Waits until an urgent call to `chat` may go (and books it).
    pub async fn urgent(&self, chat: ChatId) {
        self.wait_turn(chat, Class::Urgent).await;
    }

    /// Waits until a call of `class` (First, Urgent or Courtesy) to `chat` may go (and books it).
    pub async fn wait_turn(&self, chat: ChatId, class: Class) {
        loop {
            match self.decide(chat, class, Instant::now()) {
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
            let c = st.chats.entry(chat).or_insert_with(|| ChatState::new(now));
            c.next_call = c.next_call.max(now + retry_after);
            c.next_progress = c.next_progress.max(now + retry_after);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(rate: usize) -> Pacer {
        Pacer::new(PacingSettings {
            global_rate: rate,
            progress_reserve: 0.4,
            chat_gap: Duration::from_millis(350),
            edit_interval: Duration::from_secs(1),
        })
    }

    #[test]
    fn one_chat_is_spaced_by_the_chat_gap_and_the_edit_interval() {
        let p = pacer(30);
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
        let p = pacer(30);
        let t0 = Instant::now();
        // 100 chats all want to edit at once: only the part of the budget above the reserve goes.
        let progress = (0..100)
            .filter(|i| p.decide(ChatId(*i), Class::Progress, t0) == Decision::Go)
            .count();
        assert_eq!(
            progress, 18,
            "the reserve of 12 (40% of 30) is kept for urgent calls"
        );
        // Urgent calls use the reserve, then wait for the window to move on.
        let urgent = (100..200)
            .filter(|i| p.decide(ChatId(*i), Class::Urgent, t0) == Decision::Go)
            .count();
        assert_eq!(urgent, 12);
        assert!(matches!(
            p.decide(ChatId(300), Class::Urgent, t0),
            Decision::Wait(_)
        ));
        // In any rolling second, at most 30 calls go, however hard they push.
        let mut times = Vec::new();
        for ms in 0..3000u64 {
            let now = t0 + Duration::from_millis(ms);
            for i in 0..20 {
                if p.decide(
                    ChatId(1000 + (ms as i64 * 20 + i) % 5000),
                    Class::Urgent,
                    now,
                ) == Decision::Go
                {
                    times.push(ms);
                }
            }
        }
        for (i, start) in times.iter().enumerate() {
            let in_window = times
                .iter()
                .skip(i)
                .take_while(|t| **t < start + 1000)
                .count();
            assert!(
                in_window <= 30,
                "{in_window} calls in the second from {start} ms"
            );
        }
        assert_eq!(
            times.len(),
            60,
            "the full rate is used: 30 a second once the first second has passed"
        );
    }

    #[test]
    fn progress_edits_give_way_while_urgent_calls_wait() {
        let p = pacer(2);
        let t0 = Instant::now();
        assert_eq!(p.decide(ChatId(1), Class::Urgent, t0), Decision::Go);
        assert_eq!(p.decide(ChatId(2), Class::Urgent, t0), Decision::Go);
        assert!(matches!(
            p.decide(ChatId(3), Class::Urgent, t0),
            Decision::Wait(_)
        ));
        // The window frees up, but a first message is still waiting its turn: no progress edit yet.
        let later = t0 + Duration::from_millis(1100);
        assert_eq!(
            p.decide(
                ChatId(4),
                Class::Progress,
                later - Duration::from_millis(200)
            ),
            Decision::Skip
        );
        assert_eq!(p.decide(ChatId(3), Class::Urgent, later), Decision::Go);
        // A second after the last wait, with room in the window, progress edits go again.
        assert_eq!(
            p.decide(ChatId(5), Class::Progress, t0 + Duration::from_millis(2500)),
            Decision::Go
        );
    }

    #[test]
    fn first_messages_go_before_other_urgent_calls_when_the_budget_is_spent() {
        let p = pacer(2);
        let t0 = Instant::now();
        assert_eq!(p.decide(ChatId(1), Class::Urgent, t0), Decision::Go);
        assert_eq!(p.decide(ChatId(2), Class::Urgent, t0), Decision::Go);
        assert!(matches!(
            p.decide(ChatId(3), Class::First, t0),
            Decision::Wait(_)
        ));
        let freed = t0 + Duration::from_millis(1110);
        assert!(matches!(
            p.decide(ChatId(4), Class::Urgent, t0 + Duration::from_millis(20)),
            Decision::Wait(_)
        ));
        assert_eq!(p.decide(ChatId(3), Class::First, freed), Decision::Go);
    }

    #[test]
    fn a_flood_wait_holds_the_chat_or_everyone() {
        let p = pacer(30);
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

    #[test]
    fn a_courtesy_call_waits_for_the_spare_room_and_never_before_a_user_of_the_bot() {
        let p = pacer(10);
        let t0 = Instant::now();
        // 6 of 10 calls used: the spare room (60 %) is full; a courtesy call waits, an urgent one goes.
        for chat in 0..6 {
            assert_eq!(p.decide(ChatId(chat), Class::Urgent, t0), Decision::Go);
        }
        assert_eq!(
            p.decide(ChatId(100), Class::Courtesy, t0),
            Decision::Wait(COURTESY_RETRY)
        );
        assert_eq!(p.decide(ChatId(7), Class::First, t0), Decision::Go);
        // A window later the room is back.
        let later = t0 + WINDOW;
        assert_eq!(p.decide(ChatId(100), Class::Courtesy, later), Decision::Go);
        // A first message that had to wait holds courtesy calls back.
        let full = later + Duration::from_millis(1);
        for chat in 200..210 {
            let _ = p.decide(ChatId(chat), Class::Urgent, full);
        }
        assert!(matches!(
            p.decide(ChatId(300), Class::First, full + Duration::from_millis(500)),
            Decision::Wait(_)
        ));
        // The window's calls have expired, but a user of the bot waited less than a window ago.
        assert_eq!(
            p.decide(
                ChatId(101),
                Class::Courtesy,
                full + WINDOW + Duration::from_millis(1)
            ),
            Decision::Wait(COURTESY_RETRY),
        );
        assert_eq!(
            p.decide(ChatId(101), Class::Courtesy, full + 2 * WINDOW),
            Decision::Go
        );
    }

    /// The calls of `chat` and `class` that go when tried every `step` for `span` from `t0`, as offsets.
    fn goes(
        p: &Pacer,
        chat: ChatId,
        class: Class,
        t0: Instant,
        step: Duration,
        span: Duration,
    ) -> Vec<Duration> {
        let mut at = Duration::ZERO;
        let mut went = Vec::new();
        while at < span {
            if p.decide(chat, class, t0 + at) == Decision::Go {
                went.push(at);
            }
            at += step;
        }
        went
    }

    #[test]
    fn a_group_gets_at_most_its_minute_budget_and_an_urgent_call_then_waits_for_the_oldest_to_leave(
    ) {
        let p = pacer(30);
        let t0 = Instant::now();
        let group = ChatId(-100);
        let sec = Duration::from_secs(1);

        // One urgent call a second to the group and to a private chat (time only moves forward).
        let (mut to_group, mut to_private) = (0, 0);
        for i in 0..30 {
            let now = t0 + i * sec;
            to_group += usize::from(p.decide(group, Class::Urgent, now) == Decision::Go);
            to_private += usize::from(p.decide(ChatId(7), Class::Urgent, now) == Decision::Go);
        }

        assert_eq!(to_group, GROUP_RATE, "the group's budget is spent");
        assert_eq!(
            to_private, 30,
            "a private chat is not held to a minute budget"
        );
        let now = t0 + 30 * sec;
        assert_eq!(
            p.decide(group, Class::First, now),
            Decision::Wait(GROUP_WINDOW - 30 * sec),
            "until the first call leaves the window"
        );
        assert_eq!(
            p.decide(ChatId(-200), Class::Urgent, now),
            Decision::Go,
            "another group has its own budget"
        );
        assert_eq!(
            p.decide(group, Class::First, t0 + GROUP_WINDOW),
            Decision::Go
        );
    }

    #[test]
    fn progress_edits_in_a_group_leave_the_reserve_free_and_go_at_the_group_interval() {
        let p = pacer(30);
        let t0 = Instant::now();
        let group = ChatId(-100);
        let step = Duration::from_millis(100);

        assert_eq!(p.decide(group, Class::First, t0), Decision::Go);
        let went = goes(&p, group, Class::Progress, t0, step, GROUP_WINDOW);
        let gaps: Vec<Duration> = went.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|g| *g >= GROUP_EDIT_INTERVAL), "{gaps:?}");
        assert_eq!(
            went.len() + 1,
            GROUP_RATE - GROUP_URGENT_RESERVE,
            "progress edits stop where the reserve begins"
        );
        // The reserve is there for the final edit and the next answers.
        let urgent = (0..GROUP_URGENT_RESERVE as u32)
            .filter(|i| {
                p.decide(
                    group,
                    Class::Urgent,
                    t0 + GROUP_WINDOW - step + *i * Duration::from_millis(400),
                ) == Decision::Go
            })
            .count();
        assert_eq!(urgent, GROUP_URGENT_RESERVE);
        // A private chat streams at the configured interval, as before.
        let private = goes(
            &p,
            ChatId(7),
            Class::Progress,
            t0,
            step,
            10 * Duration::from_secs(1),
        );
        assert_eq!(private.len(), 10);
    }

    #[test]
    fn a_courtesy_call_in_a_group_waits_until_its_spare_room_is_back() {
        let p = pacer(30);
        let t0 = Instant::now();
        let group = ChatId(-100);
        let sec = Duration::from_secs(1);
        let room = GROUP_RATE - GROUP_URGENT_RESERVE;
        assert_eq!(
            goes(&p, group, Class::Urgent, t0, sec, room as u32 * sec).len(),
            room
        );

        let now = t0 + 20 * sec;
        assert_eq!(
            p.decide(group, Class::Courtesy, now),
            Decision::Wait(GROUP_WINDOW - 20 * sec)
        );
        assert_eq!(
            p.decide(group, Class::Courtesy, t0 + GROUP_WINDOW),
            Decision::Go
        );
    }
}
