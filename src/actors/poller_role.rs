//! The poller's part in the poller role (`queue::poller_role`): claiming it before polling, renewing it
//! while holding it, and standing by when another process holds it. Split from `poller.rs` (whose child module
//! this is) to keep that file short.

use super::{Poll, TelegramPoller};
use crate::queue::poller_role::POLLER_ROLE_EVERY;
use actix::prelude::*;

impl TelegramPoller {
    /// Claims the poller role; polls once it holds it, else waits as a standby and tries again.
    pub(super) fn claim_role(&mut self, ctx: &mut Context<Self>) {
        if self.claiming {
            return;
        }
        self.claiming = true;
        let queue = self.queue.clone();
        let claim = async move { queue.claim_poller().await };
        ctx.spawn(claim.into_actor(self).map(|result, act, ctx| {
            act.claiming = false;
            if act.stopping {
                return;
            }
            match result {
                Ok(Some(fence)) => {
                    log::info!("this process polls Telegram now (poller role {})", fence.0);
                    act.fence = Some(fence);
                    act.health.set_role("poller");
                    act.metrics
                        .poller_role
                        .with_label_values(&["claimed"])
                        .inc();
                    // The previous poller may have left updates unconfirmed: ask at once.
                    act.first_poll_done = false;
                    ctx.notify(Poll);
                }
                Ok(None) => {
                    if act.health.poll_state().role != Some("standby") {
                        log::info!("another process polls Telegram; this one stands by");
                    }
                    act.health.set_role("standby");
                    ctx.run_later(POLLER_ROLE_EVERY, |_, ctx| ctx.notify(Poll));
                }
                Err(e) => {
                    let delay = act.backoff.fail();
                    log::warn!("cannot claim the poller role ({e}); retrying in {delay:?}");
                    ctx.run_later(delay, |_, ctx| ctx.notify(Poll));
                }
            }
        }));
    }

    /// Renews the role this process holds (every `POLLER_ROLE_EVERY`). Lost (another process claimed it after
    /// it expired): the poll in flight stops, unconfirmed, and this process stands by.
    pub(super) fn renew_role(&mut self, ctx: &mut Context<Self>) {
        let Some(fence) = self.fence.clone() else {
            return;
        };
        if self.claiming || self.stopping {
            return;
        }
        self.claiming = true;
        let queue = self.queue.clone();
        let claim = async move { queue.claim_poller().await };
        ctx.spawn(claim.into_actor(self).map(move |result, act, ctx| {
            act.claiming = false;
            match result {
                Ok(Some(now)) if now == fence => {}
                Ok(_) => act.lose_role(ctx),
                // Redis is away: the role may expire meanwhile; the fence tells when queueing.
                Err(e) => log::debug!("cannot renew the poller role: {e}"),
            }
        }));
    }

    /// The role is gone: the poll in flight stops (its updates stay unconfirmed) and the role is claimed anew.
    pub(super) fn lose_role(&mut self, ctx: &mut Context<Self>) {
        log::warn!("this process lost the poller role; it stops polling");
        self.metrics.poller_role.with_label_values(&["lost"]).inc();
        self.fence = None;
        if let Some(handle) = self.in_flight.take() {
            ctx.cancel_future(handle);
        }
        ctx.run_later(POLLER_ROLE_EVERY, |_, ctx| ctx.notify(Poll));
    }
}
