//! Compressor: summarises a chat's older turns when its context passes the threshold.
//!
//! For now it receives and logs its message; summarising comes with the compression issue.

use crate::health::Health;
use crate::ids::ChatId;
use actix::prelude::*;
use std::sync::Arc;

// ---- Messages ----------------------------------------------------------------------------------------------

/// From a ChatWorker running a `low`-priority compression job: this chat's context is over the threshold.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CompressChat {
    pub chat_id: ChatId,
    /// The chat's context size when the job was made.
    pub context_tokens: usize,
}

// ---- Actor -------------------------------------------------------------------------------------------------

pub struct Compressor {
    health: Arc<Health>,
}

impl Compressor {
    pub fn new(health: Arc<Health>) -> Self {
        Self { health }
    }
}

impl Actor for Compressor {
    type Context = Context<Self>;
}

impl Supervised for Compressor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        let n = self.health.record_restart("compressor");
        log::warn!("compressor restarting (restart #{n})");
    }
}

// ---- Handlers ----------------------------------------------------------------------------------------------

impl Handler<CompressChat> for Compressor {
    type Result = ();

    fn handle(&mut self, msg: CompressChat, _: &mut Context<Self>) {
        log::info!(
            "chat {} needs compression ({} tokens of context); summarising is not implemented yet, history kept as is",
            msg.chat_id,
            msg.context_tokens
        );
    }
}
