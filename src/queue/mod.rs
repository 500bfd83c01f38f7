//! Jobs and the prioritized job queue in Redis. Knows nothing of actors.

pub mod job;
pub mod redis_queue;

pub use job::{ChatRef, Job, JobKind, Notice, Priority};
pub use redis_queue::{
    DeadJob, DeadPage, FailOutcome, Lease, Progress, Queue, QueueError, QueueSettings, QueueStats,
    Requeued, Taken, Taker,
};
