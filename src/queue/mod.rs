//! Jobs and the prioritized job queue in Redis. Knows nothing of actors.
//!
//! - [`job`]: the job payloads (`Job`, `JobKind`, `Priority`) and their encoding.
//! - [`redis_queue`]: the [`Queue`] itself (its keys are listed there), enqueueing, taking and finishing jobs.
//! - `types.rs`: what the queue hands out and reports ([`Lease`], [`Progress`], [`Taken`], [`FailOutcome`],
//!   [`QueueStats`], [`QueueSettings`], [`QueueError`]).
//! - [`group_context`]: a group's memory of the messages not addressed to the bot ([`KeptMessage`]).
//! - `batch.rs`: the records and acknowledgements of all running jobs, applied in batches.
//! - `dead.rs`: the dead letters for the admin API ([`DeadJob`], [`DeadPage`], [`Requeued`]).
//! - `taker.rs`: the consumer side ([`Taker`]): waiting for work without polling.
//! - `scripts.rs`: the Lua scripts of `lua/`, one per operation.

mod batch;
mod dead;
pub mod group_context;
pub mod holders;
pub mod job;
pub mod poller_role;
pub mod redis_queue;
mod scripts;
mod taker;
mod types;

pub use dead::{DeadJob, DeadPage, Requeued};
pub use group_context::KeptMessage;
pub use job::{Attachment, AttachmentKind, ChatRef, Job, JobKind, Notice, Priority};
pub use redis_queue::Queue;
pub use taker::Taker;
pub use types::{FailOutcome, Lease, Progress, QueueError, QueueSettings, QueueStats, Taken};
