//! The poller's webhook mode (`TELEGRAM_WEBHOOK_URL`): Telegram POSTs each update to the bot's endpoint
//! (`http::webhook`), which hands it here ([`super::Deliver`]); it is judged by the same rules as a polled
//! batch (`plan_batch`) and queued the same way, deduplicated by `update_id`. Also: setting the webhook at
//! start, watching it, and the switch between the modes, coordinated through Redis (`queue::poller_role`):
//! - a polling process finds a webhook set (409) and deletes it once no process in webhook mode lives;
//! - a process in webhook mode sets it again if it was removed while nobody polls.
//!
//! Split from `poller.rs` (whose child module this is) to keep that file short.

use super::{
    introduce, plan_batch, Delivered, Poll, PollError, Rules, TelegramPoller, Undelivered,
    POLL_RETRY_MAX,
};
use crate::actors::supervision::catch_panic;
use crate::queue::poller_role::POLLER_ROLE_EVERY;
use crate::telegram::types::IncomingUpdate;
use crate::telegram::webhook::WebhookInfo;
use crate::telegram::TelegramError;
use actix::prelude::*;
use std::time::{Duration, Instant};

/// How often a process in webhook mode asks `getWebhookInfo` and renews its place among the webhook processes:
/// keeps `/ready`'s Telegram check fresh, and notices a webhook removed or failing within seconds.
const WEBHOOK_CHECK_EVERY: Duration = Duration::from_secs(5);

/// What a look at the webhook found.
enum Looked {
    /// It is set to this process's URL.
    Ours(WebhookInfo),
    /// It was not (removed, or set elsewhere) and nobody polled: set again.
    SetAgain,
    /// It was not, and another process polls: this one stands aside.
    Polled,
}

impl TelegramPoller {
    /// Sets the webhook (after `getMe`), then watches it. Retried with back-off while Telegram cannot be
    /// reached; a URL Telegram refuses stops the process (a configuration problem).
    pub(super) fn set_up_webhook(&mut self, ctx: &mut Context<Self>) {
        let Some(webhook) = self.config.webhook.clone() else {
            return;
        };
        if self.stopping {
            return;
        }
        self.health.set_role("webhook");
        let (api, queue, known) = (self.api.clone(), self.queue.clone(), self.bot.clone());
        let setup = async move {
            let bot = match known {
                Some(bot) => bot,
                None => introduce(&api).await?,
            };
            api.set_webhook(&webhook.url.url, webhook.secret.expose())
                .await?;
            if let Err(e) = queue.announce_webhook().await {
                log::debug!("cannot list this process among the webhook processes yet: {e}");
            }
            Ok::<_, TelegramError>(bot)
        };
        ctx.spawn(setup.into_actor(self).map(|result, act, ctx| {
            if act.stopping {
                return;
            }
            match result {
                Ok(bot) => {
                    log::info!(
                        "connected to Telegram as @{}; webhook set: Telegram delivers updates to {}",
                        bot.username,
                        act.config.webhook.as_ref().map_or("", |w| w.url.url.as_str())
                    );
                    act.health.set_bot_username(bot.username.clone());
                    act.bot = Some(bot);
                    act.health.poll_ok();
                    act.backoff.reset();
                    ctx.run_later(WEBHOOK_CHECK_EVERY, |act, ctx| act.check_webhook(ctx));
                }
                Err(TelegramError::Unauthorized { .. }) => act.token_rejected(),
                Err(TelegramError::Rejected { description, .. }) => act.stop_for_good(format!(
                    "Telegram refused TELEGRAM_WEBHOOK_URL: {description}. It must be a public https:// URL on \
                     port 443, 80, 88 or 8443 whose host resolves, forwarded to this bot."
                )),
                Err(e) => {
                    let delay = e.retry_after().unwrap_or_else(|| act.backoff.fail());
                    log::warn!("cannot set the webhook: {e}; retrying in {delay:?}");
                    act.health.poll_failed(format!("cannot set the webhook: {e}"));
                    ctx.run_later(delay, |act, ctx| act.set_up_webhook(ctx));
                }
            }
        }));
    }

    /// Looks at the webhook every `WEBHOOK_CHECK_EVERY`: reports Telegram's new delivery errors, and sets the
    /// webhook again if it was removed while nobody polls.
    fn check_webhook(&mut self, ctx: &mut Context<Self>) {
        let Some(webhook) = self.config.webhook.clone() else {
            return;
        };
        if self.stopping {
            return;
        }
        let (api, queue) = (self.api.clone(), self.queue.clone());
        let look = async move {
            if let Err(e) = queue.announce_webhook().await {
                log::debug!("cannot renew this process among the webhook processes: {e}");
            }
            let info = api.get_webhook_info().await.map_err(PollError::from)?;
            if info.url == webhook.url.url {
                return Ok(Looked::Ours(info));
            }
            if queue.poller_held().await? {
                return Ok(Looked::Polled);
            }
            api.set_webhook(&webhook.url.url, webhook.secret.expose())
                .await?;
            Ok::<_, PollError>(Looked::SetAgain)
        };
        ctx.spawn(look.into_actor(self).map(|result, act, ctx| {
            match result {
                Ok(Looked::Ours(info)) => {
                    act.health.poll_ok();
                    act.report_delivery_error(&info);
                }
                Ok(Looked::SetAgain) => {
                    log::warn!("the webhook had been removed and no process polls: set it again");
                    act.health.poll_ok();
                }
                Ok(Looked::Polled) => {
                    let reason = "the webhook is not set to TELEGRAM_WEBHOOK_URL and another process of this bot \
                                  polls getUpdates: this one receives nothing (restart it in the mode the others run in)";
                    if act.health.poll_state().last_error.as_deref() != Some(reason) {
                        log::warn!("{reason}");
                    }
                    act.health.poll_failed(reason.to_string());
                }
                Err(e) => {
                    log::warn!("cannot look at the webhook: {e}");
                    act.health.poll_failed(format!("cannot look at the webhook: {e}"));
                }
            }
            ctx.run_later(WEBHOOK_CHECK_EVERY, |act, ctx| act.check_webhook(ctx));
        }));
    }

    /// Logs a delivery error Telegram reports, once per error.
    fn report_delivery_error(&mut self, info: &WebhookInfo) {
        if info.last_error_date.is_none() || info.last_error_date == self.webhook_error_seen {
            return;
        }
        self.webhook_error_seen = info.last_error_date;
        log::warn!(
            "Telegram reports a failed webhook delivery: {} ({} updates waiting)",
            info.last_error_message
                .as_deref()
                .unwrap_or("no reason given"),
            info.pending_update_count
        );
    }

    /// At a clean stop in webhook mode: off the list of webhook processes, so a poller waiting for the last of
    /// them goes on at once. The webhook stays set: Telegram keeps the updates for the next process.
    pub(super) fn leave_webhook(&mut self, ctx: &mut Context<Self>) {
        let queue = self.queue.clone();
        ctx.spawn(
            async move {
                if let Err(e) = queue.withdraw_webhook().await {
                    log::debug!(
                        "cannot leave the list of webhook processes ({e}); it expires by itself"
                    );
                }
            }
            .into_actor(self),
        );
    }

    /// A poll got 409 because a webhook is set. Deleted (keeping the updates that wait) once no process in
    /// webhook mode lives: the operator switched back to polling. While one lives, this process waits for it.
    pub(super) fn webhook_in_the_way(&mut self, ctx: &mut Context<Self>) {
        let (api, queue) = (self.api.clone(), self.queue.clone());
        let clear = async move {
            if queue.webhooks_alive().await? > 0 {
                return Ok(false);
            }
            api.delete_webhook().await?;
            Ok::<_, PollError>(true)
        };
        ctx.spawn(clear.into_actor(self).map(|result, act, ctx| {
            let delay = match result {
                Ok(true) => {
                    log::info!(
                        "a webhook was set for this bot and no process serves it: deleted it (its waiting updates \
                         are kept); polling"
                    );
                    act.backoff.reset();
                    Duration::ZERO
                }
                Ok(false) => {
                    let reason = "another process of this bot receives updates by webhook: this one polls once \
                                  that process stops";
                    if act.health.poll_state().last_error.as_deref() != Some(reason) {
                        log::info!("{reason}");
                    }
                    act.health.poll_failed(reason.to_string());
                    POLLER_ROLE_EVERY
                }
                Err(e) => {
                    let delay = act.backoff.fail().min(POLL_RETRY_MAX);
                    log::warn!("a webhook is set and cannot be deleted yet ({e}); retrying in {delay:?}");
                    act.health.poll_failed(format!("a webhook is set and cannot be deleted: {e}"));
                    delay
                }
            };
            act.first_poll_done = false;
            ctx.run_later(delay, |_, ctx| ctx.notify(Poll));
        }));
    }

    /// Takes one webhook update: judged like a polled one, queued under no fence (webhook mode has no poller
    /// role), and deduplicated by `update_id` in the queue, so a delivery repeated after a lost answer queues
    /// nothing twice.
    pub(super) fn deliver(
        &mut self,
        update: IncomingUpdate,
    ) -> ResponseActFuture<Self, Result<Delivered, Undelivered>> {
        if self.stopping || self.config.webhook.is_none() {
            return Box::pin(fut::ready(Err(Undelivered::NotServing)));
        }
        let (api, queue, config) = (self.api.clone(), self.queue.clone(), self.config.clone());
        let (known_bot, refusals, groups_told) = (
            self.bot.clone(),
            self.refusals.clone(),
            self.groups_told.clone(),
        );
        let take = async move {
            let bot = match known_bot {
                Some(bot) => bot,
                None => introduce(&api).await?,
            };
            let now = Instant::now();
            let plan = plan_batch(
                std::slice::from_ref(&update),
                &Rules::of(&config),
                Some(&bot),
                &refusals.borrow(),
                &groups_told.borrow(),
                now,
            );
            let queued = queue
                .enqueue_updates_keeping(
                    &plan.jobs,
                    &plan.kept,
                    config.group_context_messages,
                    None,
                )
                .await?;
            refusals.borrow_mut().remember(&plan.told, now);
            groups_told.borrow_mut().remember(&plan.told_groups);
            let outcome = if queued == 0 && !plan.jobs.is_empty() {
                Delivered::Duplicate
            } else if plan.kinds == ["malformed"] {
                Delivered::Malformed
            } else {
                Delivered::Queued
            };
            Ok::<_, PollError>((bot, plan.kinds, outcome))
        };
        let guarded = async move {
            catch_panic(take)
                .await
                .unwrap_or_else(|p| Err(PollError::Panic(p)))
        };
        Box::pin(guarded.into_actor(self).map(|result, act, _| {
            let (bot, kinds, outcome) = result?;
            if act.bot.is_none() {
                act.health.set_bot_username(bot.username.clone());
                act.bot = Some(bot);
            }
            // A redelivery was counted when it first came.
            if outcome != Delivered::Duplicate {
                for kind in &kinds {
                    act.metrics.updates.with_label_values(&[kind]).inc();
                }
            }
            Ok(outcome)
        }))
    }
}
