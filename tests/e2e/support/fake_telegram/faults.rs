//! Failures on demand and flood control: the [`Fault`]s a test queues for a method, what each
//! does to the call it hits, and Telegram's rate limits (429 with `retry_after`), when a test
//! turns them on.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix_web::HttpResponse;

use super::state::State;
use super::wire::ApiError;
use super::{lock, FakeTelegram};

/// Rate limits applied when [`FakeTelegram::set_rate_limits`] is on: Telegram documents ~30
/// messages/s per bot and ~1/s per chat with short bursts tolerated; 3 per second per chat is
/// the burst we tolerate. Edits count like sends.
const GLOBAL_SENDS_PER_SECOND: usize = 30;
const CHAT_SENDS_PER_SECOND: usize = 3;
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// In one group or supergroup (a negative chat id) Telegram allows about 20 messages a minute
/// to a bot; edits count like sends. Counted over a rolling minute.
const GROUP_SENDS_PER_MINUTE: usize = 20;
const GROUP_RATE_WINDOW: Duration = Duration::from_secs(60);

/// What nginx in front of the Bot API returns when the backend is down: HTML, not JSON.
const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n";

/// A failure the next call of one method will get instead of (or before) its normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after = N`.
    TooManyRequests { retry_after: u64 },
    /// 500 `Internal Server Error`.
    ServerError,
    /// 502 with nginx's HTML page as the body (not JSON, as in real outages).
    BadGateway,
    /// 403 `Forbidden: bot was blocked by the user`.
    Forbidden,
    /// Sleep this long, then answer normally (the call takes effect after the sleep).
    Hang(Duration),
    /// Any status with a Bot API error envelope.
    Custom { status: u16, description: String },
}

/// What a [`Fault`] does to the call it hits.
pub(super) enum Effect {
    /// Sleep this long, then answer normally.
    Delay(Duration),
    /// 502 with nginx's HTML page ([`bad_gateway`]).
    BadGateway,
    /// This Bot API error instead of the normal answer.
    Refuse(ApiError),
}

impl Fault {
    /// The fault's meaning on the wire: the status and text Telegram (or nginx) would answer.
    pub(super) fn effect(self) -> Effect {
        match self {
            Fault::Hang(duration) => Effect::Delay(duration),
            Fault::BadGateway => Effect::BadGateway,
            Fault::TooManyRequests { retry_after } => {
                Effect::Refuse(ApiError::too_many_requests(retry_after))
            }
            Fault::ServerError => Effect::Refuse(ApiError::new(500, "Internal Server Error")),
            Fault::Forbidden => {
                Effect::Refuse(ApiError::new(403, "Forbidden: bot was blocked by the user"))
            }
            Fault::Custom {
                status,
                description,
            } => Effect::Refuse(ApiError::new(status, description)),
        }
    }
}

/// The answer of [`Fault::BadGateway`]: nginx's page, as in a real outage.
pub(super) fn bad_gateway() -> HttpResponse {
    HttpResponse::BadGateway()
        .content_type("text/html")
        .body(NGINX_502)
}

impl State {
    /// The fault queued for the next call of `method` (lower-cased), if any; it is used up.
    pub(super) fn take_fault(&mut self, method: &str) -> Option<Fault> {
        self.faults.get_mut(method).and_then(VecDeque::pop_front)
    }

    /// Flood control: records the send if allowed, otherwise says how long to wait.
    pub(super) fn check_rate(&mut self, chat_id: i64) -> Result<(), ApiError> {
        if !self.rate_limits {
            return Ok(());
        }
        let now = Instant::now();
        while self
            .recent_sends
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= RATE_WINDOW)
        {
            self.recent_sends.pop_front();
        }
        let in_chat = self
            .recent_sends
            .iter()
            .filter(|(_, c)| *c == chat_id)
            .count();
        if self.recent_sends.len() >= GLOBAL_SENDS_PER_SECOND || in_chat >= CHAT_SENDS_PER_SECOND {
            self.rate_limited += 1;
            return Err(ApiError::too_many_requests(1));
        }
        if chat_id < 0 {
            let group = self.recent_group_sends.entry(chat_id).or_default();
            while group
                .front()
                .is_some_and(|at| now.duration_since(*at) >= GROUP_RATE_WINDOW)
            {
                group.pop_front();
            }
            if group.len() >= GROUP_SENDS_PER_MINUTE {
                // The whole seconds until the oldest call leaves the window (at least 1), as
                // Telegram rounds its `retry_after` up.
                let room_in = group
                    .front()
                    .map_or(Duration::ZERO, |at| *at + GROUP_RATE_WINDOW - now);
                let retry_after = room_in.as_secs() + u64::from(room_in.subsec_nanos() > 0);
                self.rate_limited += 1;
                return Err(ApiError::too_many_requests(retry_after.max(1)));
            }
            group.push_back(now);
        }
        self.recent_sends.push_back((now, chat_id));
        Ok(())
    }
}

impl FakeTelegram {
    /// Queues a fault for the next call of `method` (case-insensitive; `download` for the file
    /// server's `/file/bot<token>/…`). Several queued faults are consumed one per call, in order.
    pub fn fail_next(&self, method: &str, fault: Fault) {
        lock(&self.shared.state)
            .faults
            .entry(method.to_ascii_lowercase())
            .or_default()
            .push_back(fault);
    }

    /// Turns Telegram's flood limits on or off (off by default): more than 30 sends+edits per
    /// second overall, or more than 3 per second in one chat, get 429 with `retry_after` 1; in a
    /// group or supergroup (negative chat id), more than 20 in a rolling minute get 429 with
    /// `retry_after` = the seconds until the minute has room again.
    pub fn set_rate_limits(&self, on: bool) {
        let mut st = lock(&self.shared.state);
        st.rate_limits = on;
        st.recent_sends.clear();
        st.recent_group_sends.clear();
    }

    /// How many calls were refused by the rate limiter.
    pub fn rate_limited_count(&self) -> usize {
        lock(&self.shared.state).rate_limited
    }
}
