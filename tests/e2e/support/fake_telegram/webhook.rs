//! Webhooks, as Telegram runs them: `setWebhook` (checked like Telegram: HTTPS, ports 80/88/443/8443, the
//! secret's characters, `max_connections` 1–100), `deleteWebhook`, `getWebhookInfo` (pending count, the last
//! delivery error), and the delivery itself. While a webhook is set, every pending update is POSTed, one per
//! request, JSON, with `X-Telegram-Bot-Api-Secret-Token` when a secret was set. A 2xx confirms it; anything
//! else (another status, no connection, no answer within the timeout) is recorded as the last error and the
//! update is delivered again after a back-off, which grows with each failure and resets after a success. At
//! most `max_connections` requests are open at once, and one per chat, so a chat's updates arrive in order.
//!
//! The URL is public HTTPS, so the fake needs to know where the operator's reverse proxy forwards it
//! ([`FakeTelegram::route_webhooks_to`]): a delivery for `https://host/path?q` goes to `{route}/path?q`.

use std::collections::HashSet;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::state::Shared;
use super::wire::{ApiError, ApiResult, Params};
use super::{lock, unix_now, FakeTelegram};

/// Telegram's default `max_connections`.
const DEFAULT_MAX_CONNECTIONS: u64 = 40;
/// How long a delivery waits for the bot's answer unless a test sets it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The first retry's wait and the most a retry waits, unless a test sets them (Telegram's are longer; a
/// test should not wait for minutes).
const DEFAULT_RETRY_FIRST: Duration = Duration::from_millis(200);
const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(2);

/// The webhook as set: what a test reads back ([`FakeTelegram::webhook`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSet {
    pub url: String,
    pub secret: Option<String>,
    pub max_connections: u64,
    /// As given to `setWebhook` (`None`: not given).
    pub allowed_updates: Option<Vec<String>>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub update_id: i64,
    /// The bot's HTTP status; `None`: no answer (no connection, or the timeout).
    pub status: Option<u16>,
    /// Why it failed, as `getWebhookInfo` says it; `None` for a 2xx.
    pub error: Option<String>,
    /// The secret header sent.
    pub secret: Option<String>,
    pub at: Instant,
}

/// The fake's webhook state (inside `State`).
#[derive(Debug)]
pub(super) struct Webhook {
    set: Option<WebhookSet>,
    /// Where the reverse proxy forwards the public URL (`http://127.0.0.1:PORT`).
    route: Option<String>,
    timeout: Duration,
    retry_first: Duration,
    retry_max: Duration,
    /// The next failure's back-off.
    backoff: Duration,
    /// No delivery before this (after a failure).
    retry_at: Option<Instant>,
    last_error: Option<(i64, String)>,
    in_flight: HashSet<i64>,
    chats_in_flight: HashSet<i64>,
    deliveries: Vec<WebhookDelivery>,
}

impl Default for Webhook {
    fn default() -> Self {
        Webhook {
            set: None,
            route: None,
            timeout: DEFAULT_TIMEOUT,
            retry_first: DEFAULT_RETRY_FIRST,
            retry_max: DEFAULT_RETRY_MAX,
            backoff: DEFAULT_RETRY_FIRST,
            retry_at: None,
            last_error: None,
            in_flight: HashSet::new(),
            chats_in_flight: HashSet::new(),
            deliveries: Vec::new(),
        }
    }
}

impl Webhook {
    pub(super) fn is_set(&self) -> bool {
        self.set.is_some()
    }

    /// Sets it as a test would (no checks), or removes it.
    pub(super) fn set_url(&mut self, url: Option<&str>) {
        self.set = url.map(|url| WebhookSet {
            url: url.to_string(),
            secret: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            allowed_updates: None,
        });
    }
}

/// The chat an update belongs to, for the one-request-per-chat rule.
fn chat_of(update: &Value) -> Option<i64> {
    ["message", "edited_message", "my_chat_member", "chat_member"]
        .iter()
        .find_map(|kind| update[kind]["chat"]["id"].as_i64())
        .or_else(|| update["callback_query"]["message"]["chat"]["id"].as_i64())
}

/// `setWebhook`.
pub(super) fn set_webhook(shared: &Shared, params: &Params) -> ApiResult {
    let url = params.string("url").unwrap_or_default();
    let mut st = lock(&shared.state);
    if url.is_empty() {
        st.webhook.set = None;
        if params.bool("drop_pending_updates") {
            st.pending.clear();
        }
        return Ok(json!(true));
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(ApiError::bad_request(
            "bad webhook: An HTTPS URL must be provided for webhook",
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let port = match authority.rsplit_once(':') {
        Some((_, port)) if !authority.ends_with(']') => port.parse::<u16>().ok(),
        _ => Some(443),
    };
    if !port.is_some_and(|p| [80, 88, 443, 8443].contains(&p)) {
        return Err(ApiError::bad_request(
            "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ));
    }
    let secret = params.string("secret_token").filter(|s| !s.is_empty());
    if let Some(secret) = &secret {
        let allowed = secret.len() <= 256
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !allowed {
            return Err(ApiError::bad_request(
                "secret token contains unallowed characters",
            ));
        }
    }
    let max_connections = match params.int("max_connections")? {
        None => DEFAULT_MAX_CONNECTIONS,
        // Telegram keeps the value within its range rather than refusing it.
        Some(n) => u64::try_from(n.clamp(1, 100)).unwrap_or(DEFAULT_MAX_CONNECTIONS),
    };
    let allowed_updates = match params.json("allowed_updates")? {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect::<Vec<_>>(),
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                "can't parse allowed_updates JSON array",
            ))
        }
    };
    if let Some(list) = &allowed_updates {
        st.allowed_updates = Some(list.clone());
    }
    if params.bool("drop_pending_updates") {
        st.pending.clear();
    }
    st.webhook.set = Some(WebhookSet {
        url,
        secret,
        max_connections,
        allowed_updates,
    });
    st.webhook.retry_at = None;
    st.webhook.backoff = st.webhook.retry_first;
    drop(st);
    shared.updates_changed.notify_waiters();
    Ok(json!(true))
}

/// `deleteWebhook`: removes the webhook, and with `drop_pending_updates` the queued updates.
pub(super) fn delete_webhook(shared: &Shared, params: &Params) -> ApiResult {
    let mut st = lock(&shared.state);
    st.webhook.set = None;
    if params.bool("drop_pending_updates") {
        st.pending.clear();
    }
    Ok(json!(true))
}

/// `getWebhookInfo`.
pub(super) fn get_webhook_info(shared: &Shared) -> ApiResult {
    Ok(webhook_info_of(&lock(&shared.state)))
}

fn webhook_info_of(st: &super::state::State) -> Value {
    let mut info = json!({
        "url": st.webhook.set.as_ref().map(|w| w.url.clone()).unwrap_or_default(),
        "has_custom_certificate": false,
        "pending_update_count": st.pending.len(),
    });
    if let Some(set) = &st.webhook.set {
        info["max_connections"] = json!(set.max_connections);
        if let Some(allowed) = &set.allowed_updates {
            info["allowed_updates"] = json!(allowed);
        }
    }
    if let Some((date, message)) = &st.webhook.last_error {
        info["last_error_date"] = json!(date);
        info["last_error_message"] = json!(message);
    }
    info
}

/// What the delivery loop sends next: the updates to POST now, and when to look again at the latest.
struct Due {
    updates: Vec<(i64, Option<i64>, Value)>,
    target: Option<(String, Option<String>, Duration)>,
    retry_at: Option<Instant>,
}

/// Picks the updates to deliver now, marking them in flight.
fn due(shared: &Shared) -> Due {
    let mut st = lock(&shared.state);
    let nothing = |retry_at| Due {
        updates: Vec::new(),
        target: None,
        retry_at,
    };
    let Some(set) = st.webhook.set.clone() else {
        return nothing(None);
    };
    if let Some(at) = st.webhook.retry_at {
        if Instant::now() < at {
            return nothing(Some(at));
        }
    }
    let path = set
        .url
        .strip_prefix("https://")
        .and_then(|rest| rest.find(['/', '?']).map(|i| rest[i..].to_string()))
        .unwrap_or_else(|| "/".into());
    let target = st.webhook.route.as_ref().map(|route| {
        (
            format!("{}{path}", route.trim_end_matches('/')),
            set.secret.clone(),
            st.webhook.timeout,
        )
    });
    let room = usize::try_from(set.max_connections)
        .unwrap_or(1)
        .saturating_sub(st.webhook.in_flight.len());
    let mut updates = Vec::new();
    let mut waiting_chats = st.webhook.chats_in_flight.clone();
    for update in &st.pending {
        if updates.len() >= room {
            break;
        }
        let id = update["update_id"].as_i64().unwrap_or(0);
        let chat = chat_of(update);
        if st.webhook.in_flight.contains(&id) {
            continue;
        }
        if let Some(chat) = chat {
            // A chat's later update waits for its earlier one.
            if !waiting_chats.insert(chat) {
                continue;
            }
        }
        updates.push((id, chat, update.clone()));
    }
    for (id, chat, _) in &updates {
        st.webhook.in_flight.insert(*id);
        if let Some(chat) = chat {
            st.webhook.chats_in_flight.insert(*chat);
        }
    }
    Due {
        updates,
        target,
        retry_at: None,
    }
}

/// The delivery loop: runs on the test's runtime until the fake stops, asleep while nothing is due.
pub(super) async fn deliver_forever(shared: Arc<Shared>) {
    while !shared.stopped.load(Ordering::Relaxed) {
        let mut notified = pin!(shared.updates_changed.notified());
        notified.as_mut().enable();
        let due = due(&shared);
        for (id, chat, update) in due.updates {
            actix_rt::spawn(deliver_one(
                shared.clone(),
                due.target.clone(),
                id,
                chat,
                update,
            ));
        }
        // Woken by a new update, a setWebhook, a finished delivery; at the latest when a retry is due (and
        // every second, to notice the fake stopped).
        let wake = due
            .retry_at
            .map_or(Duration::from_secs(1), |at| {
                at.saturating_duration_since(Instant::now())
            })
            .min(Duration::from_secs(1));
        let _ = tokio::time::timeout(wake, notified).await;
    }
}

/// One POST of one update; records the outcome and wakes the loop.
async fn deliver_one(
    shared: Arc<Shared>,
    target: Option<(String, Option<String>, Duration)>,
    id: i64,
    chat: Option<i64>,
    update: Value,
) {
    let secret = target.as_ref().and_then(|(_, s, _)| s.clone());
    let (status, error) = match target {
        None => (None, Some("Connection refused".to_string())),
        Some((url, secret, timeout)) => {
            let client = awc::Client::builder().timeout(timeout).finish();
            let mut request = client.post(url);
            if let Some(secret) = &secret {
                request =
                    request.insert_header(("X-Telegram-Bot-Api-Secret-Token", secret.as_str()));
            }
            match request.send_json(&update).await {
                Ok(response) if response.status().is_success() => {
                    (Some(response.status().as_u16()), None)
                }
                Ok(response) => {
                    let status = response.status();
                    let reason = status.canonical_reason().unwrap_or("");
                    (
                        Some(status.as_u16()),
                        Some(format!(
                            "Wrong response from the webhook: {} {reason}",
                            status.as_u16()
                        )),
                    )
                }
                Err(awc::error::SendRequestError::Timeout) => {
                    (None, Some("Read timeout expired".to_string()))
                }
                Err(awc::error::SendRequestError::Connect(_)) => {
                    (None, Some("Connection refused".to_string()))
                }
                Err(e) => (None, Some(format!("Connection failed: {e}"))),
            }
        }
    };
    {
        let mut st = lock(&shared.state);
        st.webhook.in_flight.remove(&id);
        if let Some(chat) = chat {
            st.webhook.chats_in_flight.remove(&chat);
        }
        match &error {
            None => {
                st.pending.retain(|u| u["update_id"].as_i64() != Some(id));
                st.webhook.backoff = st.webhook.retry_first;
            }
            Some(message) => {
                st.webhook.last_error = Some((unix_now(), message.clone()));
                let wait = st.webhook.backoff;
                st.webhook.retry_at = Some(Instant::now() + wait);
                st.webhook.backoff = (wait * 2).min(st.webhook.retry_max);
            }
        }
        st.webhook.deliveries.push(WebhookDelivery {
            update_id: id,
            status,
            error,
            secret,
            at: Instant::now(),
        });
    }
    shared.updates_changed.notify_waiters();
    shared.changed.notify_waiters();
}

impl FakeTelegram {
    /// Where the reverse proxy forwards the webhook's public URL: `base` (e.g. `http://127.0.0.1:PORT`) plus
    /// the URL's path and query. Until it is set, deliveries fail as "Connection refused".
    pub fn route_webhooks_to(&self, base: &str) {
        lock(&self.shared.state).webhook.route = Some(base.to_string());
        self.shared.updates_changed.notify_waiters();
    }

    /// How long a delivery waits for the bot's answer (default 10 s).
    pub fn set_webhook_timeout(&self, timeout: Duration) {
        lock(&self.shared.state).webhook.timeout = timeout;
    }

    /// The back-off of redeliveries: `first` after the first failure, doubling up to `max`.
    pub fn set_webhook_retry(&self, first: Duration, max: Duration) {
        let mut st = lock(&self.shared.state);
        st.webhook.retry_first = first;
        st.webhook.retry_max = max;
        st.webhook.backoff = first;
    }

    /// Every delivery attempt so far, in the order they ended.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        lock(&self.shared.state).webhook.deliveries.clone()
    }

    /// The webhook as set now.
    pub fn webhook(&self) -> Option<WebhookSet> {
        lock(&self.shared.state).webhook.set.clone()
    }

    /// What `getWebhookInfo` answers now.
    pub fn webhook_info(&self) -> Value {
        webhook_info_of(&lock(&self.shared.state))
    }

    /// Updates not yet confirmed (by `getUpdates` or a webhook delivery).
    pub fn pending_update_count(&self) -> usize {
        lock(&self.shared.state).pending.len()
    }

    /// Waits until a webhook is set (`set`) or not.
    pub async fn wait_for_webhook(&self, set: bool, timeout: Duration) {
        let what = if set { "a webhook set" } else { "no webhook" };
        self.wait_until(what, timeout, |tg| tg.webhook().is_some() == set)
            .await;
    }
}
