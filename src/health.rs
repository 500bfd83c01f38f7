//! Liveness facts shared between the actors (who write them) and the HTTP server (who reads them).
//!
//! Passed explicitly as `Arc<Health>`; there is no global. Locks are held only to copy small values.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the poller last saw of `getUpdates`.
#[derive(Debug, Clone, Default)]
pub struct PollState {
    /// Set once `getMe` succeeded.
    pub bot_username: Option<String>,
    /// When the last `getUpdates` answered successfully.
    pub last_ok: Option<Instant>,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
    /// This process's part in polling: `poller` (it polls), `standby` (another process does; this one takes
    /// over if that one stops), `worker` (`PROCESS_ROLE=worker`: never polls). `None` before the first claim.
    pub role: Option<&'static str>,
}

#[derive(Debug)]
pub struct Health {
    started: Instant,
    restarts: Mutex<BTreeMap<&'static str, u64>>,
    poll: Mutex<PollState>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            restarts: Mutex::new(BTreeMap::new()),
            poll: Mutex::new(PollState::default()),
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counts one restart of an actor; called from `Supervised::restarting`.
    pub fn record_restart(&self, actor: &'static str) -> u64 {
        match self.restarts.lock() {
            Ok(mut map) => {
                let n = map.entry(actor).or_insert(0);
                *n += 1;
                *n
            }
            Err(_) => 0,
        }
    }

    pub fn restarts(&self) -> BTreeMap<&'static str, u64> {
        self.restarts.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn set_bot_username(&self, name: String) {
        if let Ok(mut p) = self.poll.lock() {
            p.bot_username = Some(name);
        }
    }

    pub fn poll_ok(&self) {
        if let Ok(mut p) = self.poll.lock() {
            p.last_ok = Some(Instant::now());
            p.last_error = None;
        }
    }

    pub fn poll_failed(&self, reason: String) {
        if let Ok(mut p) = self.poll.lock() {
            p.last_error = Some(reason);
        }
    }

    /// This process's role in polling (see [`PollState::role`]).
    pub fn set_role(&self, role: &'static str) {
        if let Ok(mut p) = self.poll.lock() {
            p.role = Some(role);
        }
    }

    pub fn poll_state(&self) -> PollState {
        self.poll.lock().map(|p| p.clone()).unwrap_or_default()
    }
}
