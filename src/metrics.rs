//! Prometheus metrics: one registry per process (no global), shared as `Arc<Metrics>` and served as text by
//! `GET /metrics`. Counters move where things happen; gauges that mirror other state (queue depths, actor
//! restarts, sessions) are filled in when scraped.

use prometheus::{
    CounterVec, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::BTreeMap;

/// Latency buckets (seconds) for jobs and the model's first token: from instant to a slow reasoning model.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

pub struct Metrics {
    registry: Registry,
    /// Updates received, by kind (`text`, `command`, `non_text`, `refused`, `refused_quiet`, `migration`,
    /// `unaddressed`, `private_only`, `group_off`, `ignored`, `malformed`: the labels of
    /// `poller::BatchPlan::kinds`).
    pub updates: IntCounterVec,
    /// Jobs ended, by priority and outcome (`done`, `retried`, `dead`, `blocked`, `stale`).
    pub jobs: IntCounterVec,
    /// Job run time, by job kind.
    pub job_seconds: HistogramVec,
    /// Time from asking the model to its first token (streamed answers).
    pub llm_first_token_seconds: Histogram,
    /// Tokens of the model requests, by model, kind (`chat`, `summary`) and source (`server`: its report;
    /// `estimate`: the bot's count). No user label: one series per user would grow without bound.
    prompt_tokens: IntCounterVec,
    completion_tokens: IntCounterVec,
    /// What the requests cost, by model, where its price is known (`MODEL_PRICES`, else the server's).
    cost: CounterVec,
    /// Telegram calls, by method and result (`ok`, `429`, `4xx`, `5xx`, `network`).
    pub telegram_calls: IntCounterVec,
    /// Conversations compressed.
    pub compressions: IntCounter,
    /// Actor restarts, by actor (mirrors `Health`).
    actor_restarts: IntCounterVec,
    /// Queue figures (filled at scrape time).
    queue: IntGaugeVec,
    /// Oldest ready job's age.
    queue_oldest_seconds: IntGauge,
    /// Chats known to the bot.
    pub sessions: IntGauge,
    /// This process's heartbeats in Redis, by result (`ok`, `failed`).
    pub heartbeats: IntCounterVec,
    /// The poller role changing hands in this process: `claimed`, `lost`, `released`.
    pub poller_role: IntCounterVec,
    /// Jobs taken back at once from crashed processes, by every process of this queue (mirrors the queue's
    /// total at scrape time).
    queue_reclaimed: IntGauge,
    /// Webhook requests by outcome: `queued`, `duplicate` (a redelivery of an update already queued),
    /// `unauthorized` (wrong or missing secret), `malformed`, `too_large`, `unavailable` (Redis away, or the
    /// process stopping: Telegram delivers it again).
    pub webhook_requests: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics { .. }")
    }
}

impl Metrics {
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new_custom(Some("aichat_bot".into()), None)?;
        let counter_vec =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, MetricsError> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let counter = |name: &str, help: &str| -> Result<IntCounter, MetricsError> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let updates = counter_vec(
            "updates_received_total",
            "Telegram updates received, by kind",
            &["kind"],
        )?;
        let jobs = counter_vec(
            "jobs_total",
            "Jobs ended, by priority and outcome",
            &["priority", "outcome"],
        )?;
        let job_seconds = HistogramVec::new(
            HistogramOpts::new("job_duration_seconds", "Time a job ran, by kind")
                .buckets(SECONDS_BUCKETS.to_vec()),
            &["kind"],
        )?;
        registry.register(Box::new(job_seconds.clone()))?;
        let llm_first_token_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "llm_first_token_seconds",
                "Time from the request to the model's first token",
            )
            .buckets(SECONDS_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(llm_first_token_seconds.clone()))?;
        let prompt_tokens = counter_vec(
            "prompt_tokens_total",
            "Prompt tokens of the model requests, by model, kind and source",
            &["model", "kind", "source"],
        )?;
        let completion_tokens = counter_vec(
            "completion_tokens_total",
            "Completion tokens of the model requests, by model, kind and source",
            &["model", "kind", "source"],
        )?;
        let cost = CounterVec::new(
            Opts::new(
                "llm_cost_total",
                "What the model requests cost (per the models' prices), by model",
            ),
            &["model"],
        )?;
        registry.register(Box::new(cost.clone()))?;
        let telegram_calls = counter_vec(
            "telegram_calls_total",
            "Telegram Bot API calls, by method and result",
            &["method", "result"],
        )?;
        let compressions = counter(
            "compressions_total",
            "Conversations compressed into a summary",
        )?;
        let actor_restarts = counter_vec(
            "actor_restarts_total",
            "Actor restarts, by actor",
            &["actor"],
        )?;
        let queue = IntGaugeVec::new(
            Opts::new("queue_jobs", "Jobs in the queue, by state"),
            &["state"],
        )?;
        registry.register(Box::new(queue.clone()))?;
        let queue_oldest_seconds = IntGauge::new(
            "queue_oldest_job_age_seconds",
            "Age of the oldest ready job",
        )?;
        registry.register(Box::new(queue_oldest_seconds.clone()))?;
        let sessions = IntGauge::new("sessions", "Chats known to the bot")?;
        registry.register(Box::new(sessions.clone()))?;
        let heartbeats = counter_vec(
            "heartbeats_total",
            "This process's heartbeats in Redis, by result",
            &["result"],
        )?;
        let poller_role = counter_vec(
            "poller_role_changes_total",
            "The poller role taken, lost or given up by this process",
            &["change"],
        )?;
        let queue_reclaimed = IntGauge::new(
            "queue_reclaimed_jobs",
            "Jobs taken back at once from crashed processes (the queue's total)",
        )?;
        registry.register(Box::new(queue_reclaimed.clone()))?;
        let webhook_requests = counter_vec(
            "webhook_requests_total",
            "Webhook requests from Telegram, by outcome",
            &["outcome"],
        )?;
        Ok(Metrics {
            registry,
            updates,
            jobs,
            job_seconds,
            llm_first_token_seconds,
            prompt_tokens,
            completion_tokens,
            cost,
            telegram_calls,
            compressions,
            actor_restarts,
            queue,
            queue_oldest_seconds,
            sessions,
            heartbeats,
            poller_role,
            queue_reclaimed,
            webhook_requests,
        })
    }

    /// One model request's tokens (and cost, when its model's price is known).
    pub fn model_request(
        &self,
        model: &str,
        kind: &str,
        source: &str,
        (prompt, completion): (u64, u64),
        cost: Option<f64>,
    ) {
        let labels = [model, kind, source];
        self.prompt_tokens.with_label_values(&labels).inc_by(prompt);
        self.completion_tokens
            .with_label_values(&labels)
            .inc_by(completion);
        if let Some(cost) = cost.filter(|c| c.is_finite() && *c >= 0.0) {
            self.cost.with_label_values(&[model]).inc_by(cost);
        }
    }

    /// Mirrors the actor restart counts kept by `Health`.
    pub fn set_restarts(&self, restarts: &BTreeMap<&'static str, u64>) {
        for (actor, n) in restarts {
            let c = self.actor_restarts.with_label_values(&[actor]);
            let now = c.get();
            if *n > now {
                c.inc_by(n - now);
            }
        }
    }

    /// Mirrors the queue's figures.
    pub fn set_queue(&self, stats: &crate::queue::QueueStats) {
        let g = |state: &str, v: u64| {
            self.queue
                .with_label_values(&[state])
                .set(i64::try_from(v).unwrap_or(i64::MAX))
        };
        g("high", stats.high);
        g("default", stats.default);
        g("low", stats.low);
        g("chat_waiting", stats.chat_waiting);
        g("in_flight", stats.in_flight);
        g("delayed", stats.delayed);
        g("dead", stats.dead);
        self.queue_reclaimed
            .set(i64::try_from(stats.reclaimed).unwrap_or(i64::MAX));
        self.queue_oldest_seconds
            .set(i64::try_from(stats.oldest_age_ms.unwrap_or(0) / 1000).unwrap_or(i64::MAX));
    }

    /// A Telegram call's result, for `telegram_calls_total`.
    pub fn telegram_call(&self, method: &str, result: &str) {
        self.telegram_calls
            .with_label_values(&[method, result])
            .inc();
    }

    /// An observer for `BotApi` that counts every Telegram call.
    pub fn telegram_observer(self: &std::sync::Arc<Self>) -> crate::telegram::client::CallObserver {
        let metrics = self.clone();
        std::sync::Arc::new(move |method, result| metrics.telegram_call(method, result))
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_the_text_format_and_counters_move() {
        let m = Metrics::new().unwrap();
        m.updates.with_label_values(&["text"]).inc();
        m.jobs.with_label_values(&["high", "done"]).inc_by(2);
        m.telegram_call("sendMessage", "429");
        m.set_restarts(&BTreeMap::from([("chat_worker", 3)]));
        m.set_restarts(&BTreeMap::from([("chat_worker", 3)]));
        let text = m.render();
        assert!(
            text.contains("aichat_bot_updates_received_total{kind=\"text\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("aichat_bot_jobs_total{outcome=\"done\",priority=\"high\"} 2"),
            "{text}"
        );
        assert!(text
            .contains("aichat_bot_telegram_calls_total{method=\"sendMessage\",result=\"429\"} 1"));
        assert!(
            text.contains("aichat_bot_actor_restarts_total{actor=\"chat_worker\"} 3"),
            "{text}"
        );
        let lines: Vec<_> = text.lines().map(|l| Ok(l.to_string())).collect();
        prometheus_parse::Scrape::parse(lines.into_iter()).unwrap();
    }
}
