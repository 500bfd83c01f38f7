//! What the workers are doing: the jobs running now (so that shutdown can wait for them and hand back the
//! unfinished ones, and the dashboard can show them) and the jobs that ended recently. Shared by all workers
//! as `Arc<Activity>`; locks are held only to copy small values.

use crate::ids::{ChatId, JobId};
use crate::queue::{JobKind, Lease};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

/// How many ended jobs are remembered for the dashboard.
pub const RECENT_JOBS: usize = 50;

struct Running {
    lease: Lease,
    worker: usize,
    started: Instant,
}

/// A running job, as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunningJob {
    pub id: JobId,
    pub chat: ChatId,
    pub kind: &'static str,
    pub priority: &'static str,
    pub attempt: u32,
    pub worker: usize,
    pub running_ms: u64,
}

/// A job that ended.
#[derive(Debug, Clone, Serialize)]
pub struct EndedJob {
    pub id: JobId,
    pub chat: ChatId,
    pub kind: &'static str,
    pub outcome: &'static str,
    pub duration_ms: u64,
    pub ended_at_ms: i64,
}

#[derive(Default)]
pub struct Activity {
    running: Mutex<HashMap<JobId, Running>>,
    recent: Mutex<VecDeque<EndedJob>>,
}

impl std::fmt::Debug for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activity")
            .field("running", &self.len())
            .finish()
    }
}

/// The label of a job's kind (metrics, dashboard).
pub fn kind_label(kind: &JobKind) -> &'static str {
    match kind {
        JobKind::Chat { .. } => "chat",
        JobKind::Media { .. } => "media",
        JobKind::Command { .. } => "command",
        JobKind::Notice { .. } => "notice",
        JobKind::Compress { .. } => "compress",
        JobKind::Migrate { .. } => "migrate",
        JobKind::Membership { .. } => "membership",
        JobKind::Tap { .. } => "tap",
        JobKind::RefuseTap { .. } => "refuse_tap",
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Activity {
    pub fn start(&self, lease: &Lease, worker: usize) {
        if let Ok(mut map) = self.running.lock() {
            map.insert(
                lease.id.clone(),
                Running {
                    lease: lease.clone(),
                    worker,
                    started: Instant::now(),
                },
            );
        }
    }

    /// The job ended with this outcome (`done`, `retried`, `dead`, …).
    pub fn end(&self, id: &JobId, outcome: &'static str) {
        let Some(ended) = self.running.lock().ok().and_then(|mut map| map.remove(id)) else {
            return;
        };
        let record = EndedJob {
            id: id.clone(),
            chat: ended.lease.job.chat_id(),
            kind: kind_label(&ended.lease.job.kind),
            outcome,
            duration_ms: millis(ended.started.elapsed()),
            ended_at_ms: crate::text::now_unix_ms(),
        };
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() >= RECENT_JOBS {
                recent.pop_back();
            }
            recent.push_front(record);
        }
    }

    pub fn len(&self) -> usize {
        self.running.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The leases of the jobs still running.
    pub fn leases(&self) -> Vec<Lease> {
        self.running
            .lock()
            .map(|m| m.values().map(|r| r.lease.clone()).collect())
            .unwrap_or_default()
    }

    /// The jobs running now (longest first) and the jobs that ended recently (newest first).
    pub fn snapshot(&self) -> (Vec<RunningJob>, Vec<EndedJob>) {
        let mut running: Vec<RunningJob> = self
            .running
            .lock()
            .map(|m| {
                m.values()
                    .map(|r| RunningJob {
                        id: r.lease.id.clone(),
                        chat: r.lease.job.chat_id(),
                        kind: kind_label(&r.lease.job.kind),
                        priority: r.lease.priority.as_str(),
                        attempt: r.lease.attempt,
                        worker: r.worker,
                        running_ms: millis(r.started.elapsed()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        running.sort_by_key(|r| std::cmp::Reverse(r.running_ms));
        let recent = self
            .recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        (running, recent)
    }
}
