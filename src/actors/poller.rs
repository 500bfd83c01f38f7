//! TelegramPoller: long-polls `getUpdates`, checks the allow-list, turns each update that needs one into a job
//! and queues it (a stranger is told "Access denied." once per `REFUSAL_NOTICE_INTERVAL`: [`Refusals`]).
//!
//! An update is confirmed to Telegram (the next call's `offset`) only after its job is in Redis: if queueing
//! fails, the same updates are fetched again and nothing is lost. Redelivered updates are recognised in Redis
//! by their id and not queued twice.

use crate::actors::supervision::{catch_panic, Backoff, DEPENDENCY_RETRY_MAX};
use crate::commands::{self, BotCommand, Parsed};
use crate::config::{AccessList, Config, GroupMode};
use crate::context::group_memory;
use crate::health::Health;
use crate::ids::{ChatId, Conversation, MessageId, UpdateId, UserId};
use crate::metrics::Metrics;
use crate::queue::poller_role::{Fence, POLLER_ROLE_EVERY};
use crate::queue::{ChatRef, Job, JobKind, KeptMessage, Notice, Priority, Queue, QueueError};
use crate::telegram::addressing::{self, BotIdentity};
use crate::telegram::callbacks::{CallbackMessage, CallbackQuery};
use crate::telegram::types::{ChatMemberUpdated, IncomingUpdate, Message, Update, User};
use crate::telegram::{BotApi, TelegramError};
use crate::tokens;
use actix::prelude::*;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Wait before retrying after a failed poll: doubles up to the cap.
pub const POLL_RETRY_BASE: Duration = Duration::from_millis(500);
pub const POLL_RETRY_MAX: Duration = DEPENDENCY_RETRY_MAX;

/// Whom the poller told lately (strangers, groups with `GROUP_MODE=off`), so each is told once.
#[path = "poller_told.rs"]
mod poller_told;
pub use poller_told::{GroupsTold, Refusals};

/// Claiming, renewing and losing the poller role: an `impl TelegramPoller` block of its own.
#[path = "poller_role.rs"]
mod poller_role;

/// Photos and documents become `Media` jobs.
#[path = "poller_media.rs"]
mod poller_media;

/// Webhook mode (`TELEGRAM_WEBHOOK_URL`): setting the webhook, watching it, taking its updates.
#[path = "poller_webhook.rs"]
mod poller_webhook;

// ---- Messages ----------------------------------------------------------------------------------------------

/// Sent by the poller to itself: fetch and queue the next batch.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Poll;

/// From the webhook endpoint (webhook mode): one update Telegram POSTed. Answered once the update is durably
/// queued (then the endpoint answers 200 and Telegram forgets it), or with why it is not (then 503, and
/// Telegram delivers it again).
#[derive(Debug, Message)]
#[rtype(result = "Result<Delivered, Undelivered>")]
pub struct Deliver(pub IncomingUpdate);

/// A webhook update taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Queued, or judged to need nothing (a malformed or unhandled update, a stranger told lately).
    Queued,
    /// Already queued once (Telegram delivered it again): nothing new was queued.
    Duplicate,
    /// JSON, but not an update the bot can read: logged and skipped (Telegram would send it forever).
    Malformed,
}

/// Why a webhook update could not be taken now; Telegram delivers it again.
#[derive(Debug, thiserror::Error)]
pub enum Undelivered {
    #[error("this process is stopping or does not serve the webhook")]
    NotServing,
    #[error(transparent)]
    Poll(#[from] PollError),
}

/// From the RootSupervisor at shutdown: fetch nothing more.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopPolling;

/// To the RootSupervisor: a failure no restart can fix; the process must stop with this exit code.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Fatal {
    pub reason: String,
    pub exit_code: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Telegram(#[from] TelegramError),
    #[error("cannot queue updates: {0}")]
    Queue(#[from] QueueError),
    #[error("poll panicked: {0}")]
    Panic(String),
}

/// One poll's result.
struct Polled {
    bot: BotIdentity,
    next_offset: Option<UpdateId>,
    queued: usize,
    received: usize,
    kinds: Vec<&'static str>,
}

// ---- Actor -------------------------------------------------------------------------------------------------

pub struct TelegramPoller {
    api: BotApi,
    metrics: Arc<Metrics>,
    queue: Queue,
    config: Arc<Config>,
    health: Arc<Health>,
    fatal: Recipient<Fatal>,
    /// Next `offset`: one past the highest update id queued. Kept across restarts of the actor.
    offset: Option<UpdateId>,
    /// Strangers told "Access denied." lately (shared with the poll in flight, on this arbiter).
    refusals: Rc<RefCell<Refusals>>,
    /// Groups told that the bot works in private chats only (`GROUP_MODE=off`), shared likewise.
    groups_told: Rc<RefCell<GroupsTold>>,
    /// Who the bot is, from `getMe` (once, before the first poll).
    bot: Option<BotIdentity>,
    backoff: Backoff,
    /// The first poll after start asks for no wait, so readiness is known at once.
    first_poll_done: bool,
    /// The poll in flight, cancelled at shutdown (and when the poller role is lost).
    in_flight: Option<SpawnHandle>,
    stopping: bool,
    /// The poller role's token while this process holds it (see `queue::poller_role`); `None`: standby.
    fence: Option<Fence>,
    /// A claim or renewal of the role is on its way to Redis (one at a time).
    claiming: bool,
    /// Webhook mode: the date of the last delivery error Telegram reported that was logged (each is logged once).
    webhook_error_seen: Option<i64>,
}

impl TelegramPoller {
    pub fn new(
        config: Arc<Config>,
        queue: Queue,
        health: Arc<Health>,
        metrics: Arc<Metrics>,
        fatal: Recipient<Fatal>,
    ) -> Self {
        let refusals = Refusals::new(config.refusal_notice_interval);
        Self {
            api: BotApi::new(&config.telegram.api_url, &config.telegram.token)
                .with_observer(metrics.telegram_observer()),
            metrics,
            queue,
            config,
            health,
            fatal,
            offset: None,
            refusals: Rc::new(RefCell::new(refusals)),
            groups_told: Rc::new(RefCell::new(GroupsTold::default())),
            bot: None,
            backoff: Backoff::new(POLL_RETRY_BASE, POLL_RETRY_MAX),
            first_poll_done: false,
            in_flight: None,
            stopping: false,
            fence: None,
            claiming: false,
            webhook_error_seen: None,
        }
    }
}

impl Actor for TelegramPoller {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.config.webhook.is_some() {
            // Telegram POSTs the updates: nothing to poll, no poller role to hold.
            ctx.run_later(self.backoff.delay(), |act, ctx| act.set_up_webhook(ctx));
            return;
        }
        ctx.run_later(self.backoff.delay(), |_, ctx| ctx.notify(Poll));
        // The holder renews the role; a lost role stops the poll in flight.
        ctx.run_interval(POLLER_ROLE_EVERY, |act, ctx| act.renew_role(ctx));
    }
}

impl Supervised for TelegramPoller {
    fn restarting(&mut self, _: &mut Context<Self>) {
        let n = self.health.record_restart("telegram_poller");
        self.backoff.fail();
        log::warn!("telegram poller restarting (restart #{n})");
    }
}

// ---- Handlers ----------------------------------------------------------------------------------------------

impl Handler<Poll> for TelegramPoller {
    type Result = ();

    fn handle(&mut self, _: Poll, ctx: &mut Context<Self>) {
        if self.stopping || self.in_flight.is_some() || self.config.webhook.is_some() {
            return;
        }
        let Some(fence) = self.fence.clone() else {
            self.claim_role(ctx);
            return;
        };
        let api = self.api.clone();
        let queue = self.queue.clone();
        let config = self.config.clone();
        let known_bot = self.bot.clone();
        let offset = self.offset;
        let refusals = self.refusals.clone();
        let groups_told = self.groups_told.clone();
        let wait = if self.first_poll_done {
            config.telegram.poll_timeout
        } else {
            Duration::ZERO
        };
        let poll = async move {
            let bot = match known_bot {
                Some(bot) => bot,
                None => introduce(&api).await?,
            };
            let updates = api.get_updates(offset, wait).await?;
            let now = Instant::now();
            let plan = plan_batch(
                &updates,
                &Rules::of(&config),
                Some(&bot),
                &refusals.borrow(),
                &groups_told.borrow(),
                now,
            );
            let keep = config.group_context_messages;
            // Only while this process holds the poller role: a poller that lost it queues (and confirms)
            // nothing.
            let queued = queue
                .enqueue_updates_keeping(&plan.jobs, &plan.kept, keep, Some(&fence))
                .await?;
            // Only once queued: if queueing failed, the same updates come again and the strangers are told.
            refusals.borrow_mut().remember(&plan.told, now);
            groups_told.borrow_mut().remember(&plan.told_groups);
            Ok::<_, PollError>(Polled {
                bot,
                next_offset: plan.next_offset,
                queued,
                received: updates.len(),
                kinds: plan.kinds,
            })
        };
        let guarded = async move {
            catch_panic(poll)
                .await
                .unwrap_or_else(|p| Err(PollError::Panic(p)))
        };
        let handle = ctx.spawn(guarded.into_actor(self).map(|result, act, ctx| {
            act.in_flight = None;
            act.after_poll(result, ctx);
        }));
        self.in_flight = Some(handle);
    }
}

impl Handler<Deliver> for TelegramPoller {
    type Result = ResponseActFuture<Self, Result<Delivered, Undelivered>>;

    fn handle(&mut self, Deliver(update): Deliver, _: &mut Context<Self>) -> Self::Result {
        self.deliver(update)
    }
}

impl Handler<StopPolling> for TelegramPoller {
    type Result = ();

    fn handle(&mut self, _: StopPolling, ctx: &mut Context<Self>) {
        self.stopping = true;
        if self.config.webhook.is_some() {
            self.leave_webhook(ctx);
        }
        // Cancels a long poll in flight: its updates are not confirmed, so Telegram keeps them.
        if let Some(handle) = self.in_flight.take() {
            ctx.cancel_future(handle);
        }
        // Another process polls at once, not when the role expires.
        if let Some(fence) = self.fence.take() {
            self.metrics
                .poller_role
                .with_label_values(&["released"])
                .inc();
            let queue = self.queue.clone();
            ctx.spawn(
                async move {
                    if let Err(e) = queue.release_poller(&fence).await {
                        log::warn!("cannot give the poller role up ({e}); it expires by itself");
                    }
                }
                .into_actor(self),
            );
        }
    }
}

// ---- Helpers -----------------------------------------------------------------------------------------------

impl TelegramPoller {
    fn after_poll(&mut self, result: Result<Polled, PollError>, ctx: &mut Context<Self>) {
        match result {
            Ok(polled) => {
                if self.bot.is_none() {
                    log::info!("connected to Telegram as @{}", polled.bot.username);
                    self.health.set_bot_username(polled.bot.username.clone());
                }
                self.bot = Some(polled.bot);
                if polled.received > 0 {
                    log::debug!(
                        "received {} updates, queued {} jobs",
                        polled.received,
                        polled.queued
                    );
                }
                for kind in &polled.kinds {
                    self.metrics.updates.with_label_values(&[kind]).inc();
                }
                self.offset = polled.next_offset.or(self.offset);
                self.first_poll_done = true;
                self.health.poll_ok();
                self.backoff.reset();
                ctx.notify(Poll);
            }
            Err(PollError::Telegram(TelegramError::Unauthorized { .. })) => self.token_rejected(),
            Err(PollError::Telegram(TelegramError::WebhookActive { .. })) => {
                self.webhook_in_the_way(ctx)
            }
            Err(PollError::Panic(p)) => {
                log::error!("telegram poller panicked: {p}");
                self.health
                    .poll_failed("the poller failed and is restarting".into());
                ctx.stop();
            }
            Err(PollError::Queue(QueueError::NotThePoller)) => self.lose_role(ctx),
            Err(e) => {
                let delay = match &e {
                    PollError::Telegram(t) => {
                        t.retry_after().unwrap_or_else(|| self.backoff.fail())
                    }
                    _ => self.backoff.fail(),
                };
                let hint = hint_for(&e);
                if let PollError::Queue(_) = e {
                    // Telegram answered; Redis did not (`/ready` checks Redis itself): Telegram is fine.
                    log::warn!("{e}; the updates come again, retrying in {delay:?}");
                    self.health.poll_ok();
                } else {
                    log::warn!("polling Telegram failed: {e}{hint}; retrying in {delay:?}");
                    self.health.poll_failed(format!("{e}{hint}"));
                }
                // The next poll answers at once, so a dependency that is back is seen to be back at once
                // (a long poll would wait for an update first).
                self.first_poll_done = false;
                ctx.run_later(delay, |_, ctx| ctx.notify(Poll));
            }
        }
    }
}

impl TelegramPoller {
    /// Telegram refused the token: no restart can help; the process stops with exit code 2.
    fn token_rejected(&mut self) {
        self.stop_for_good(
            "Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized): the token is wrong or was revoked. Get the \
             current token from @BotFather (/mybots → your bot → API Token)."
                .to_string(),
        );
    }

    /// A failure no restart can fix (a configuration Telegram refuses): reported, and the process stops with
    /// exit code 2 (which systemd does not restart).
    fn stop_for_good(&mut self, reason: String) {
        log::error!("{reason}");
        self.health.poll_failed(reason.clone());
        self.stopping = true;
        self.fatal.do_send(Fatal {
            reason,
            exit_code: 2,
        });
    }
}

/// What the operator can do about a failed poll, appended to the log line and the health report.
fn hint_for(e: &PollError) -> &'static str {
    match e {
        PollError::Telegram(TelegramError::WebhookActive { .. }) => {
            " (a webhook is set for this bot: remove it with deleteWebhook to use polling)"
        }
        PollError::Telegram(TelegramError::Conflict { .. }) => {
            " (another process is polling with this token: stop it)"
        }
        _ => "",
    }
}

/// `getMe` (to learn the bot's id and username, which also proves the token) and `setMyCommands`.
async fn introduce(api: &BotApi) -> Result<BotIdentity, TelegramError> {
    let me = api.get_me().await?;
    if let Err(e) = api.set_my_commands(&commands::command_specs()).await {
        log::warn!("could not register the command list with Telegram: {e}");
    }
    Ok(BotIdentity {
        id: me.id,
        username: me.username.unwrap_or_default(),
    })
}

/// The rules an update is judged by, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Users who may talk to the bot anywhere (`ALLOWED_USER_IDS`).
    pub access: &'a AccessList,
    /// Groups whose every member may talk to it (`ALLOWED_CHAT_IDS`).
    pub allowed_chats: &'a BTreeSet<ChatId>,
    /// Which group messages it answers (`GROUP_MODE`).
    pub group_mode: GroupMode,
    /// Above this many tokens a message waits in the `default` queue (`BACKGROUND_THRESHOLD_TOKENS`).
    pub background_threshold_tokens: usize,
    /// How many unaddressed messages a group's memory keeps (`GROUP_CONTEXT_MESSAGES`; 0: none).
    pub group_context_messages: usize,
    /// The largest photo size taken (`MAX_IMAGE_BYTES`).
    pub max_image_bytes: u64,
}

impl<'a> Rules<'a> {
    pub fn of(config: &'a Config) -> Self {
        Self {
            access: &config.access,
            allowed_chats: &config.allowed_chats,
            group_mode: config.group_mode,
            background_threshold_tokens: config.background_threshold_tokens,
            group_context_messages: config.group_context_messages,
            max_image_bytes: config.media.max_image_bytes,
        }
    }
}

/// What to queue for a batch of raw updates, and the offset that confirms all of them.
#[derive(Debug, Default)]
pub struct BatchPlan {
    pub jobs: Vec<(UpdateId, Priority, Job)>,
    pub next_offset: Option<UpdateId>,
    /// One label per update, for the metrics: `text`, `command`, `non_text`, `refused` (told "Access
    /// denied."), `refused_quiet` (a stranger told lately), `unaddressed` (a group message not for the bot),
    /// `private_only` (a group told the bot works in private chats only), `group_off` (a group already told),
    /// `membership` (the bot added to or removed from a group), `ignored`, `malformed`.
    pub kinds: Vec<&'static str>,
    /// The strangers this batch tells "Access denied." (to remember once the batch is queued).
    pub told: Vec<UserId>,
    /// The groups this batch tells that the bot works in private chats only (likewise).
    pub told_groups: Vec<ChatId>,
    /// The unaddressed group messages to keep in their group's memory (`GROUP_CONTEXT_MESSAGES`), queued with
    /// the jobs in one step.
    pub kept: Vec<KeptMessage>,
}

/// Pure: turns updates into jobs. A malformed update is logged and skipped, never fatal; its id still
/// advances the offset so Telegram stops sending it. A stranger is told "Access denied." only if
/// `refusals` says it is due at `now` (and once per batch); a group is told it is not served only once
/// (`groups_told`). `bot`: the bot as `getMe` describes it (`None`: not known, so nothing mentions it).
pub fn plan_batch(
    updates: &[IncomingUpdate],
    rules: &Rules,
    bot: Option<&BotIdentity>,
    refusals: &Refusals,
    groups_told: &GroupsTold,
    now: Instant,
) -> BatchPlan {
    let mut plan = BatchPlan::default();
    for incoming in updates {
        if let Some(id) = incoming.id() {
            let next = UpdateId(id.0.saturating_add(1));
            plan.next_offset = Some(plan.next_offset.map_or(next, |o| o.max(next)));
        }
        let update = match incoming {
            IncomingUpdate::Parsed(update) => update,
            IncomingUpdate::Malformed { id, reason } => {
                log::warn!("skipping a malformed update (id {id:?}): {reason}");
                plan.kinds.push("malformed");
                continue;
            }
        };
        match job_for(update, rules, bot) {
            Decision::Queue(
                _,
                JobKind::Notice {
                    notice: Notice::AccessDenied { user_id },
                    ..
                },
                _,
            ) if !refusals.due(user_id, now, &plan.told) => {
                plan.kinds.push("refused_quiet");
            }
            Decision::Queue(
                _,
                JobKind::Notice {
                    chat_id,
                    notice: Notice::PrivateOnly,
                    ..
                },
                _,
            ) if !groups_told.due(chat_id, &plan.told_groups) => {
                plan.kinds.push("group_off");
            }
            Decision::Queue(priority, kind, label) => {
                match &kind {
                    JobKind::Notice {
                        notice: Notice::AccessDenied { user_id },
                        ..
                    } => plan.told.push(*user_id),
                    JobKind::Notice {
                        chat_id,
                        notice: Notice::PrivateOnly,
                        ..
                    } => plan.told_groups.push(*chat_id),
                    _ => {}
                }
                plan.kinds.push(label);
                plan.jobs.push((
                    update.update_id,
                    priority,
                    Job::from_update(update.update_id, kind),
                ));
            }
            Decision::Keep(conversation, message_id, text) => {
                plan.kinds.push("unaddressed");
                plan.kept.push(KeptMessage {
                    update_id: update.update_id,
                    conversation,
                    message_id,
                    text,
                });
            }
            Decision::Skip(label) => plan.kinds.push(label),
        }
    }
    plan
}

/// What one update comes to.
enum Decision {
    /// A job to queue, with its metrics label.
    Queue(Priority, JobKind, &'static str),
    /// A group message not for the bot, kept in its group's (or topic's) memory as this text (counted
    /// `unaddressed`).
    Keep(Conversation, MessageId, String),
    /// Nothing to do; the metrics label says why.
    Skip(&'static str),
}

/// The job for one update.
fn job_for(update: &Update, rules: &Rules, bot: Option<&BotIdentity>) -> Decision {
    if let Some(query) = update.callback_query.as_ref() {
        return tap_job(query, rules);
    }
    if let Some(change) = update.my_chat_member.as_ref() {
        return membership_job(change, bot);
    }
    let Some(message) = update.message.as_ref() else {
        return Decision::Skip("ignored");
    };
    // The service messages of a group's upgrade to a supergroup (one in each chat; Telegram writes them, so
    // no allow-list applies): the conversation follows the group to its new id.
    let migration = match (message.migrate_to_chat_id, message.migrate_from_chat_id) {
        (Some(to), _) => Some((message.chat.id, to)),
        (None, Some(from)) => Some((from, message.chat.id)),
        (None, None) => None,
    };
    if let Some((from, to)) = migration {
        return Decision::Queue(Priority::High, JobKind::Migrate { from, to }, "migration");
    }
    let Some(from) = message.from.as_ref().filter(|f| !f.is_bot) else {
        return Decision::Skip("ignored");
    };
    let chat = ChatRef {
        id: message.chat.id,
        kind: message.chat.kind.clone(),
        title: message.chat.title.clone(),
        topic: message.topic(),
    };
    if chat.kind == "private" {
        return private_job(message, from, chat, rules, bot);
    }
    // In a group (or anything else not private): only text is read, and only what addresses the bot (unless GROUP_MODE=all); strangers get
    // silence.
    let Some(text) = message.text.as_ref() else {
        return Decision::Skip("ignored");
    };
    let parsed = commands::parse(text, bot.map(|b| b.username.as_str()));
    let addressed = match &parsed {
        Parsed::Command(_) => true,
        Parsed::ForAnotherBot => return Decision::Skip("ignored"),
        Parsed::Text => {
            rules.group_mode == GroupMode::All
                || bot.is_some_and(|bot| {
                    addressing::mentions_bot(text, &message.entities, bot)
                        || addressing::replies_to_bot(message, bot)
                })
        }
    };
    let may_talk = rules.access.allows(from.id) || rules.allowed_chats.contains(&chat.id);
    if !addressed {
        // Kept only from those who may talk here: nothing a stranger writes reaches the model. Only with
        // `mention` (with `off` no turn would ever read the memory; with `all` every message is addressed).
        return if may_talk
            && rules.group_context_messages > 0
            && rules.group_mode == GroupMode::Mention
        {
            let name = addressing::speaker_name(from);
            Decision::Keep(
                chat.conversation(),
                message.message_id,
                group_memory::kept_text(&name, text),
            )
        } else {
            Decision::Skip("unaddressed")
        };
    }
    if !may_talk {
        log::info!("refused user {} in chat {}", from.id, chat.id);
        return Decision::Skip("ignored");
    }
    if rules.group_mode == GroupMode::Off {
        return Decision::Queue(
            Priority::High,
            JobKind::Notice {
                chat_id: chat.id,
                topic: chat.topic,
                reply_to: Some(message.message_id),
                notice: Notice::PrivateOnly,
            },
            "private_only",
        );
    }
    match parsed {
        Parsed::Command(command) => command_job(message, from, chat, command),
        Parsed::ForAnotherBot | Parsed::Text => {
            let said = bot.map_or_else(
                || text.clone(),
                |bot| addressing::strip_mentions(text, &message.entities, bot),
            );
            let said = format!("{}: {said}", addressing::speaker_name(from));
            chat_job(message, from, chat, said, rules, bot)
        }
    }
}

/// The bot added to or removed from a group (Telegram tells it, so no allow-list applies). Private chats (a
/// user blocking the bot) are left to the 403 of the next answer, as before.
fn membership_job(change: &ChatMemberUpdated, bot: Option<&BotIdentity>) -> Decision {
    let about_bot = bot.is_none_or(|bot| change.new_chat_member.user.id == bot.id);
    if !about_bot || !addressing::is_group(&change.chat.kind) {
        return Decision::Skip("ignored");
    }
    let chat = ChatRef {
        id: change.chat.id,
        kind: change.chat.kind.clone(),
        title: change.chat.title.clone(),
        topic: None,
    };
    let active = change.new_chat_member.is_in_chat();
    Decision::Queue(
        Priority::High,
        JobKind::Membership { chat, active },
        "membership",
    )
}

/// A tap on a button of the bot's keyboards: a `tap` job in the chat's order when the user may talk to the
/// bot there, else a refusal (answered at once). A tap without a message (inline mode, which the bot does not
/// use) gets no job.
fn tap_job(query: &CallbackQuery, rules: &Rules) -> Decision {
    let Some(message) = query.message.as_ref() else {
        return Decision::Skip("ignored");
    };
    let on = message.chat();
    let may_talk = rules.access.allows(query.from.id)
        || (addressing::is_group(&on.kind) && rules.allowed_chats.contains(&on.id));
    let query_id = query.id.0.clone();
    if !may_talk {
        log::info!("refused a tap by user {} in chat {}", query.from.id, on.id);
        let kind = JobKind::RefuseTap {
            chat_id: on.id,
            query_id,
        };
        return Decision::Queue(Priority::High, kind, "tap_refused");
    }
    let topic = match message {
        CallbackMessage::Accessible(message) => message.topic(),
        CallbackMessage::Inaccessible { .. } => None,
    };
    let chat = ChatRef {
        id: on.id,
        kind: on.kind.clone(),
        title: on.title.clone(),
        topic,
    };
    let kind = JobKind::Tap {
        chat,
        user_id: query.from.id,
        query_id,
        message_id: message.message_id(),
        data: query.data.clone().unwrap_or_default(),
    };
    Decision::Queue(Priority::High, kind, "tap")
}

/// The job for a message in a private chat: only the allow-list applies.
fn private_job(
    message: &Message,
    from: &User,
    chat: ChatRef,
    rules: &Rules,
    bot: Option<&BotIdentity>,
) -> Decision {
    if !rules.access.allows(from.id) {
        log::info!("refused user {} in chat {}", from.id, chat.id);
        // A notice waits behind the work of the bot's users (`low`), and is paced as a courtesy.
        return Decision::Queue(
            Priority::Low,
            JobKind::Notice {
                chat_id: chat.id,
                topic: chat.topic,
                reply_to: Some(message.message_id),
                notice: Notice::AccessDenied { user_id: from.id },
            },
            "refused",
        );
    }
    let Some(text) = message.text.as_ref() else {
        if let Some(media) = poller_media::media_job(message, from.id, chat.clone(), rules) {
            return media;
        }
        return Decision::Queue(
            Priority::High,
            JobKind::Notice {
                chat_id: chat.id,
                topic: chat.topic,
                reply_to: Some(message.message_id),
                notice: Notice::TextOnly,
            },
            "non_text",
        );
    };
    match commands::parse(text, bot.map(|b| b.username.as_str())) {
        Parsed::Command(command) => command_job(message, from, chat, command),
        Parsed::ForAnotherBot => Decision::Skip("ignored"),
        Parsed::Text => chat_job(message, from, chat, text.clone(), rules, bot),
    }
}

fn command_job(message: &Message, from: &User, chat: ChatRef, command: BotCommand) -> Decision {
    Decision::Queue(
        Priority::High,
        JobKind::Command {
            chat,
            user_id: from.id,
            message_id: message.message_id,
            command,
        },
        "command",
    )
}

/// A chat job whose text is `said` (what the model sees of this message), after the line saying what it
/// replies to, if it replies to something.
fn chat_job(
    message: &Message,
    from: &User,
    chat: ChatRef,
    said: String,
    rules: &Rules,
    bot: Option<&BotIdentity>,
) -> Decision {
    let text = match message
        .replied()
        .is_some()
        .then(|| addressing::reply_context(message, bot.unwrap_or(&UNKNOWN_BOT)))
    {
        Some(Some(line)) => format!("{line}\n{said}"),
        _ => said,
    };
    let priority = if tokens::estimate(&text) < rules.background_threshold_tokens {
        Priority::High
    } else {
        Priority::Default
    };
    Decision::Queue(
        priority,
        JobKind::Chat {
            chat,
            user_id: from.id,
            message_id: message.message_id,
            text,
        },
        "text",
    )
}

/// Stands for the bot before `getMe` told who it is: no message is its own.
const UNKNOWN_BOT: BotIdentity = BotIdentity {
    id: UserId(0),
    username: String::new(),
};

#[cfg(test)]
mod tests {
    use super::poller_told::REFUSALS_REMEMBERED;
    use super::*;
    use crate::commands::BotCommand;
    use crate::ids::{ChatId, MessageId, UserId};
    use serde_json::json;

    fn text_update(id: i64, user: i64, text: &str) -> serde_json::Value {
        json!({"update_id": id, "message": {"message_id": 10, "date": 0,
            "from": {"id": user, "is_bot": false, "first_name": "A"},
            "chat": {"id": user, "type": "private"}, "text": text}})
    }

    /// The updates as `BotApi::get_updates` hands them over.
    fn incoming<const N: usize>(values: [serde_json::Value; N]) -> Vec<IncomingUpdate> {
        values.into_iter().map(IncomingUpdate::from_value).collect()
    }

    /// A batch planned with every stranger due a notice.
    fn plan(
        updates: &[IncomingUpdate],
        access: &AccessList,
        bot_username: Option<&str>,
        background_threshold_tokens: usize,
    ) -> BatchPlan {
        plan_batch(
            updates,
            &rules(access, background_threshold_tokens),
            bot_username
                .map(|username| BotIdentity {
                    id: UserId(BOT_ID),
                    username: username.into(),
                })
                .as_ref(),
            &Refusals::new(Duration::ZERO),
            &GroupsTold::default(),
            Instant::now(),
        )
    }

    /// The bot's user id in these tests.
    const BOT_ID: i64 = 99;

    static NO_CHATS: BTreeSet<ChatId> = BTreeSet::new();

    fn rules(access: &AccessList, background_threshold_tokens: usize) -> Rules<'_> {
        Rules {
            access,
            allowed_chats: &NO_CHATS,
            group_mode: GroupMode::Mention,
            background_threshold_tokens,
            group_context_messages: 0,
            max_image_bytes: 5 * 1024 * 1024,
        }
    }

    fn only(ids: &[i64]) -> AccessList {
        AccessList::Only(ids.iter().map(|i| UserId(*i)).collect())
    }

    #[test]
    fn allowed_text_becomes_a_chat_job_and_confirms_the_batch() {
        let plan = plan(
            &incoming([text_update(5, 1, "hi"), text_update(6, 1, "/stats")]),
            &only(&[1]),
            Some("bot"),
            5000,
        );
        assert_eq!(plan.next_offset, Some(UpdateId(7)));
        assert_eq!(plan.jobs.len(), 2);
        assert!(matches!(plan.jobs[0].2.kind, JobKind::Chat { ref text, .. } if text == "hi"));
        assert_eq!(plan.jobs[0].1, Priority::High);
        assert!(matches!(
            plan.jobs[1].2.kind,
            JobKind::Command {
                command: BotCommand::Stats,
                ..
            }
        ));
    }

    #[test]
    fn refused_users_get_only_a_notice() {
        let plan = plan(
            &incoming([text_update(5, 2, "hi")]),
            &only(&[1]),
            None,
            5000,
        );
        assert!(matches!(
            plan.jobs[0].2.kind,
            JobKind::Notice {
                notice: Notice::AccessDenied { user_id: UserId(2) },
                ..
            }
        ));
    }

    #[test]
    fn long_messages_go_to_the_default_queue() {
        let long = "word ".repeat(100);
        let plan = plan(
            &incoming([text_update(1, 1, &long)]),
            &AccessList::Everyone,
            None,
            50,
        );
        assert_eq!(plan.jobs[0].1, Priority::Default);
    }

    #[test]
    fn malformed_and_unhandled_updates_are_confirmed_without_jobs() {
        let raw = incoming([
            json!({"update_id": 9, "message": {"chat": "not an object"}}),
            json!({"update_id": 10, "edited_message": {}}),
            json!({"no_id": true}),
            json!({"update_id": 11, "message": {"message_id": 1, "date": 0,
                "from": {"id": 1, "is_bot": false, "first_name": "A"},
                "chat": {"id": 1, "type": "private"}, "sticker": {"file_id": "x"}}}),
        ]);
        let plan = plan(&raw, &AccessList::Everyone, None, 5000);
        assert_eq!(plan.next_offset, Some(UpdateId(12)));
        assert_eq!(plan.jobs.len(), 1);
        assert!(matches!(
            plan.jobs[0].2.kind,
            JobKind::Notice {
                notice: Notice::TextOnly,
                ..
            }
        ));
        assert_eq!(
            plan.kinds
                .iter()
                .filter(|k| ["malformed", "ignored"].contains(k))
                .count(),
            3
        );
        assert_eq!(
            plan.kinds,
            ["malformed", "malformed", "malformed", "non_text"]
        );
    }

    #[test]
    fn the_service_messages_of_a_group_upgrade_move_its_conversation_to_the_supergroup() {
        let raw = incoming([
            json!({"update_id": 20, "message": {"message_id": 192, "date": 0,
                "from": {"id": 1, "is_bot": false, "first_name": "A"},
                "chat": {"id": -354277871, "title": "t", "type": "group"},
                "migrate_to_chat_id": -1001180035764_i64}}),
            json!({"update_id": 21, "message": {"message_id": 1, "date": 0,
                "from": {"id": 1, "is_bot": false, "first_name": "A"},
                "chat": {"id": -1001180035764_i64, "title": "t", "type": "supergroup"},
                "migrate_from_chat_id": -354277871}}),
        ]);
        let plan = plan(&raw, &only(&[7]), None, 5000);
        assert_eq!(plan.next_offset, Some(UpdateId(22)));
        let migration = JobKind::Migrate {
            from: ChatId(-354277871),
            to: ChatId(-1001180035764),
        };
        assert_eq!(
            plan.jobs.len(),
            2,
            "one from each chat; the second moves nothing"
        );
        assert!(plan
            .jobs
            .iter()
            .all(|(_, p, job)| *p == Priority::High && job.kind == migration));
        assert_eq!(plan.kinds, ["migration", "migration"]);
    }

    /// The bot's membership in the chat `chat` (of `kind`) changing from `old` to `new` (for `user`).
    fn member_update(
        id: i64,
        chat: i64,
        kind: &str,
        user: i64,
        statuses: [&str; 2],
    ) -> serde_json::Value {
        let member = |status: &str| {
            json!({"user": {"id": user, "is_bot": true, "first_name": "B"},
            "status": status})
        };
        json!({"update_id": id, "my_chat_member": {
            "chat": {"id": chat, "title": "Team", "type": kind},
            "from": {"id": 7, "is_bot": false, "first_name": "Ann"}, "date": 0,
            "old_chat_member": member(statuses[0]), "new_chat_member": member(statuses[1])}})
    }

    #[test]
    fn the_bot_removed_from_a_group_or_added_to_it_becomes_a_membership_job_whoever_did_it() {
        let raw = incoming([
            member_update(1, -5, "group", BOT_ID, ["member", "kicked"]),
            member_update(2, -5, "group", BOT_ID, ["kicked", "member"]),
            member_update(3, -1005, "supergroup", BOT_ID, ["administrator", "left"]),
            member_update(4, -1005, "supergroup", BOT_ID, ["left", "restricted"]),
            member_update(5, 1, "private", BOT_ID, ["member", "kicked"]),
            member_update(6, -5, "group", 1234, ["member", "left"]),
        ]);

        let plan = plan(&raw, &only(&[99_999]), Some("test_bot"), 5000);

        let changes: Vec<_> = plan
            .jobs
            .iter()
            .map(|(_, priority, job)| match &job.kind {
                JobKind::Membership { chat, active } => (chat.id.0, *active, *priority),
                other => panic!("not a membership job: {other:?}"),
            })
            .collect();
        assert_eq!(
            changes,
            [
                (-5, false, Priority::High),
                (-5, true, Priority::High),
                (-1005, false, Priority::High),
                (-1005, true, Priority::High),
            ]
        );
        assert_eq!(
            plan.kinds,
            ["membership", "membership", "membership", "membership", "ignored", "ignored"],
            "a private chat's block is left to the next 403; another member's change is not the bot's"
        );
        assert_eq!(plan.next_offset, Some(UpdateId(7)));
    }

    #[test]
    fn a_conflict_is_explained_by_its_cause() {
        let webhook = PollError::Telegram(TelegramError::WebhookActive {
            method: "getUpdates",
            description: "Conflict: can't use getUpdates method while webhook is active".into(),
        });
        let other_poller = PollError::Telegram(TelegramError::Conflict {
            method: "getUpdates",
            description: "Conflict: terminated by other getUpdates request".into(),
        });
        let server = PollError::Telegram(TelegramError::Server {
            method: "getUpdates",
            code: 502,
        });
        assert!(hint_for(&webhook).contains("remove it with deleteWebhook"));
        assert!(hint_for(&other_poller).contains("another process is polling"));
        assert_eq!(hint_for(&server), "");
    }

    #[test]
    fn a_stranger_is_told_once_per_interval_however_many_messages_they_send() {
        let mut refusals = Refusals::new(Duration::from_secs(300));
        let t0 = Instant::now();
        let flood = incoming([
            text_update(1, 2, "hi"),
            text_update(2, 2, "hello?"),
            text_update(3, 3, "me too"),
            text_update(4, 1, "I may"),
        ]);

        let told = GroupsTold::default();
        let access = only(&[1]);
        let first = plan_batch(&flood, &rules(&access, 5000), None, &refusals, &told, t0);
        refusals.remember(&first.told, t0);
        let again = plan_batch(
            &incoming([text_update(5, 2, "still there?")]),
            &rules(&access, 5000),
            None,
            &refusals,
            &told,
            t0 + Duration::from_secs(299),
        );
        let later = plan_batch(
            &incoming([text_update(6, 2, "and now?")]),
            &rules(&access, 5000),
            None,
            &refusals,
            &told,
            t0 + Duration::from_secs(300),
        );

        assert_eq!(first.kinds, ["refused", "refused_quiet", "refused", "text"]);
        assert_eq!(first.told, [UserId(2), UserId(3)]);
        assert_eq!(first.jobs.len(), 3, "two notices and the allowed text");
        assert_eq!(first.jobs[0].1, Priority::Low, "notices wait behind users");
        assert_eq!(again.kinds, ["refused_quiet"]);
        assert!(again.jobs.is_empty());
        assert_eq!(again.next_offset, Some(UpdateId(6)), "still confirmed");
        assert_eq!(later.kinds, ["refused"], "told again after the interval");
    }

    #[test]
    fn an_interval_of_zero_answers_every_message_and_remembers_nobody() {
        let mut refusals = Refusals::new(Duration::ZERO);
        let now = Instant::now();
        refusals.remember(&[UserId(2)], now);
        assert!(refusals.due(UserId(2), now, &[UserId(2)]));
        assert!(refusals.told.is_empty());
    }

    #[test]
    fn a_flood_of_new_strangers_is_forgotten_once_their_interval_is_over() {
        let mut refusals = Refusals::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let many: Vec<UserId> = (0..REFUSALS_REMEMBERED as i64).map(UserId).collect();
        refusals.remember(&many, t0);
        refusals.remember(&[UserId(-1)], t0 + Duration::from_secs(61));
        assert_eq!(refusals.told.len(), 1, "only the recent one is kept");
    }

    /// A text from `user` (named `Ann`) in the group -5, with `entities`, and `extra` fields of the message.
    fn group_update(
        id: i64,
        user: i64,
        text: &str,
        entities: serde_json::Value,
        extra: serde_json::Value,
    ) -> serde_json::Value {
        let mut message = json!({"message_id": id, "date": 0,
            "from": {"id": user, "is_bot": false, "first_name": "Ann", "username": "ann"},
            "chat": {"id": -5, "title": "Team", "type": "group"}, "text": text, "entities": entities});
        if let (Some(m), Some(extra)) = (message.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        json!({"update_id": id, "message": message})
    }

    fn group_plan(
        updates: &[IncomingUpdate],
        mode: GroupMode,
        chats: &BTreeSet<ChatId>,
    ) -> BatchPlan {
        let access = only(&[1]);
        let rules = Rules {
            group_mode: mode,
            allowed_chats: chats,
            ..rules(&access, 5000)
        };
        let bot = BotIdentity {
            id: UserId(BOT_ID),
            username: "test_bot".into(),
        };
        plan_batch(
            updates,
            &rules,
            Some(&bot),
            &Refusals::new(Duration::ZERO),
            &GroupsTold::default(),
            Instant::now(),
        )
    }

    fn chat_texts(plan: &BatchPlan) -> Vec<String> {
        plan.jobs
            .iter()
            .filter_map(|(_, _, job)| match &job.kind {
                JobKind::Chat { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    fn replied_by_bot() -> serde_json::Value {
        json!({"reply_to_message": {"message_id": 3, "date": 0,
            "from": {"id": BOT_ID, "is_bot": true, "first_name": "Test Bot", "username": "test_bot"},
            "chat": {"id": -5, "title": "Team", "type": "group"}, "text": "It is 4."}})
    }

    #[test]
    fn a_tap_becomes_a_tap_job_in_the_chats_order_and_a_strangers_a_refusal_answered_at_once() {
        let tap = |id: i64, user: i64| {
            json!({"update_id": id, "callback_query": {"id": format!("q{id}"), "chat_instance": "1",
                "from": {"id": user, "is_bot": false, "first_name": "Ann"}, "data": "m=1:0badf00d",
                "message": {"message_id": 5, "date": 1, "chat": {"id": -5, "title": "Team", "type": "group"},
                    "from": {"id": BOT_ID, "is_bot": true, "first_name": "Test Bot"}, "text": "Choose:"}}})
        };
        let raw = incoming([tap(1, 1), tap(2, 2002)]);

        let plan = group_plan(&raw, GroupMode::Mention, &BTreeSet::new());

        assert_eq!(plan.kinds, ["tap", "tap_refused"]);
        let (_, priority, job) = &plan.jobs[0];
        assert_eq!(*priority, Priority::High);
        assert_eq!(job.ordered_chat(), Some(ChatId(-5)), "in the chat's order");
        assert!(
            matches!(&job.kind, JobKind::Tap { query_id, message_id, data, .. }
            if query_id == "q1" && *message_id == MessageId(5) && data == "m=1:0badf00d")
        );
        let refused = &plan.jobs[1].2;
        assert_eq!(refused.ordered_chat(), None, "answered at once");
        assert!(matches!(&refused.kind, JobKind::RefuseTap { query_id, .. } if query_id == "q2"));
    }

    #[test]
    fn a_forum_topic_message_belongs_to_its_topic_and_the_topics_opening_is_nobodys_reply() {
        // Opened by the bot itself (an admin bot may): a reply to it would look addressed to the bot.
        let opening = json!({"message_id": 7, "date": 0, "message_thread_id": 7, "is_topic_message": true,
            "from": {"id": BOT_ID, "is_bot": true, "first_name": "Test Bot", "username": "test_bot"},
            "chat": {"id": -5, "title": "Team", "type": "supergroup", "is_forum": true},
            "forum_topic_created": {"name": "Plans", "icon_color": 7322096}});
        let in_topic = json!({"message_thread_id": 7, "is_topic_message": true,
            "reply_to_message": opening.clone()});
        let mention = json!([{"type": "mention", "offset": 0, "length": 9}]);
        let raw = incoming([
            json!({"update_id": 7, "message": opening}),
            group_update(8, 1, "chatter in the topic", json!([]), in_topic.clone()),
            group_update(9, 1, "@test_bot hi", mention.clone(), in_topic),
            // A reply thread of a supergroup without topics is not a topic.
            group_update(
                10,
                1,
                "@test_bot and here?",
                mention,
                json!({"message_thread_id": 3}),
            ),
        ]);

        let plan = group_plan(&raw, GroupMode::Mention, &BTreeSet::new());

        assert_eq!(
            chat_texts(&plan),
            ["Ann: hi", "Ann: and here?"],
            "no reply context from the topic's opening, and chatter there is not addressed"
        );
        let topics: Vec<Option<i64>> = plan
            .jobs
            .iter()
            .map(|(_, _, job)| job.conversation().topic.map(|t| t.0))
            .collect();
        assert_eq!(topics, [Some(7), None]);
    }

    #[test]
    fn in_a_group_only_messages_that_address_the_bot_become_jobs_named_by_their_speaker() {
        let raw = incoming([
            group_update(1, 1, "lunch at noon?", json!([]), json!({})),
            group_update(
                2,
                1,
                "@test_bot what is 2+2",
                json!([{"type": "mention", "offset": 0, "length": 9}]),
                json!({}),
            ),
            group_update(
                3,
                1,
                "Test Bot, hi",
                json!([{"type": "text_mention", "offset": 0, "length": 8,
                        "user": {"id": BOT_ID, "is_bot": true, "first_name": "Test Bot"}}]),
                json!({}),
            ),
            group_update(4, 1, "and 3+3?", json!([]), replied_by_bot()),
            group_update(
                5,
                1,
                "/stats",
                json!([{"type": "bot_command", "offset": 0, "length": 6}]),
                json!({}),
            ),
            group_update(
                6,
                1,
                "/stats@other_bot",
                json!([{"type": "bot_command", "offset": 0, "length": 16}]),
                json!({}),
            ),
            group_update(
                7,
                1,
                "ask @other_bot",
                json!([{"type": "mention", "offset": 4, "length": 10}]),
                json!({}),
            ),
        ]);

        let plan = group_plan(&raw, GroupMode::Mention, &BTreeSet::new());

        assert_eq!(
            plan.kinds,
            [
                "unaddressed",
                "text",
                "text",
                "text",
                "command",
                "ignored",
                "unaddressed"
            ]
        );
        assert_eq!(
            chat_texts(&plan),
            [
                "Ann: what is 2+2",
                "Ann: hi",
                "[Replying to you: \"It is 4.\"]\nAnn: and 3+3?"
            ]
        );
        assert_eq!(plan.next_offset, Some(UpdateId(8)), "all confirmed");
    }

    #[test]
    fn with_group_mode_all_every_text_of_a_permitted_user_is_answered() {
        let raw = incoming([group_update(1, 1, "lunch at noon?", json!([]), json!({}))]);

        let plan = group_plan(&raw, GroupMode::All, &BTreeSet::new());

        assert_eq!(chat_texts(&plan), ["Ann: lunch at noon?"]);
    }

    #[test]
    fn a_stranger_in_a_group_gets_silence_unless_the_group_is_allowed() {
        let mention = json!([{"type": "mention", "offset": 0, "length": 9}]);
        let raw = incoming([group_update(1, 2, "@test_bot hi", mention, json!({}))]);

        let elsewhere = group_plan(&raw, GroupMode::Mention, &BTreeSet::new());
        let allowed = group_plan(&raw, GroupMode::Mention, &BTreeSet::from([ChatId(-5)]));

        assert_eq!(elsewhere.kinds, ["ignored"]);
        assert!(elsewhere.jobs.is_empty());
        assert_eq!(chat_texts(&allowed), ["Ann: hi"]);
    }

    #[test]
    fn with_group_mode_off_a_group_is_told_once_that_the_bot_works_in_private_chats() {
        let mention = json!([{"type": "mention", "offset": 0, "length": 9}]);
        let raw = incoming([
            group_update(1, 1, "@test_bot hi", mention.clone(), json!({})),
            group_update(2, 1, "@test_bot hello?", mention.clone(), json!({})),
            group_update(3, 1, "chatter", json!([]), json!({})),
        ]);
        let access = only(&[1]);
        let rules = Rules {
            group_mode: GroupMode::Off,
            ..rules(&access, 5000)
        };
        let bot = BotIdentity {
            id: UserId(BOT_ID),
            username: "test_bot".into(),
        };
        let refusals = Refusals::new(Duration::ZERO);
        let mut told = GroupsTold::default();

        let first = plan_batch(&raw, &rules, Some(&bot), &refusals, &told, Instant::now());
        told.remember(&first.told_groups);
        let later = plan_batch(
            &raw[..1],
            &rules,
            Some(&bot),
            &refusals,
            &told,
            Instant::now(),
        );

        assert_eq!(first.kinds, ["private_only", "group_off", "unaddressed"]);
        assert!(matches!(
            first.jobs[0].2.kind,
            JobKind::Notice {
                notice: Notice::PrivateOnly,
                chat_id: ChatId(-5),
                ..
            }
        ));
        assert_eq!(first.jobs.len(), 1);
        assert_eq!(later.kinds, ["group_off"]);
        assert!(later.jobs.is_empty());
    }

    #[test]
    fn a_reply_in_a_private_chat_carries_what_it_replies_to_without_a_name() {
        let raw = incoming([
            json!({"update_id": 1, "message": {"message_id": 4, "date": 0,
            "from": {"id": 1, "is_bot": false, "first_name": "A"},
            "chat": {"id": 1, "type": "private"}, "text": "why?",
            "reply_to_message": {"message_id": 3, "date": 0,
                "from": {"id": BOT_ID, "is_bot": true, "first_name": "Test Bot"},
                "chat": {"id": 1, "type": "private"}, "text": "Because."},
            "quote": {"text": "Because", "position": 0}}}),
        ]);

        let plan = plan(&raw, &only(&[1]), Some("test_bot"), 5000);

        assert_eq!(chat_texts(&plan), ["[Replying to you: \"Because\"]\nwhy?"]);
    }

    #[test]
    fn with_group_memory_the_chatter_of_those_who_may_talk_there_is_kept_named_and_never_a_job() {
        let mention = json!([{"type": "mention", "offset": 0, "length": 9}]);
        let raw = incoming([
            group_update(1, 1, "lunch at noon?", json!([]), json!({})),
            group_update(2, 2, "a stranger's chatter", json!([]), json!({})),
            group_update(3, 1, "@test_bot where?", mention, json!({})),
        ]);
        let access = only(&[1]);
        let bot = BotIdentity {
            id: UserId(BOT_ID),
            username: "test_bot".into(),
        };
        let planned = |mode: GroupMode, keep: usize| {
            let rules = Rules {
                group_mode: mode,
                group_context_messages: keep,
                ..rules(&access, 5000)
            };
            plan_batch(
                &raw,
                &rules,
                Some(&bot),
                &Refusals::new(Duration::ZERO),
                &GroupsTold::default(),
                Instant::now(),
            )
        };

        let kept = planned(GroupMode::Mention, 3);

        assert_eq!(kept.kinds, ["unaddressed", "unaddressed", "text"]);
        assert_eq!(
            kept.kept,
            [KeptMessage {
                update_id: UpdateId(1),
                conversation: Conversation::chat(ChatId(-5)),
                message_id: MessageId(1),
                text: "Ann: lunch at noon?".into(),
            }]
        );
        assert_eq!(chat_texts(&kept), ["Ann: where?"]);
        assert!(planned(GroupMode::Mention, 0).kept.is_empty(), "memory off");
        assert!(planned(GroupMode::Off, 3).kept.is_empty(), "groups off");
    }
}
