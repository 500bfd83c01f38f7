//! What an operator relies on: /health, /ready, surviving failures, configuration errors, a clean log.

use crate::support::bot::{ALLOWED_USER, TEST_TOKEN};
use crate::support::{BotProcess, Fault, TestEnv};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Polls `path` until its status is `want` (panics with the last answer after `timeout`).
async fn wait_status(
    bot: &BotProcess,
    path: &str,
    want: u16,
    timeout: Duration,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let (status, body) = bot.get_json(path).await;
        if status == want {
            return body;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "{path} stayed {status} (wanted {want}): {body}\n{}",
                bot.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn health_and_ready_report_the_state_of_the_bot() {
    let mut env = TestEnv::start();
    let bot = env.spawn_bot().await;

    let (status, health) = bot.get_json("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_seconds"].is_u64());

    let ready = wait_status(&bot, "/ready", 200, T).await;
    assert_eq!(ready["checks"]["sqlite"]["ok"], true);
    assert_eq!(ready["checks"]["redis"]["ok"], true);
    assert_eq!(ready["checks"]["telegram"]["ok"], true);
    assert_eq!(ready["bot"], "test_bot");

    env.redis.stop();
    let down = wait_status(&bot, "/ready", 503, T).await;
    assert_eq!(down["failing"], serde_json::json!(["redis"]), "{down}");
    assert_eq!(down["checks"]["redis"]["ok"], false);
    let (status, _) = bot.get_json("/health").await;
    assert_eq!(
        status, 200,
        "health is about the process, not its dependencies"
    );

    env.redis.restart();
    wait_status(&bot, "/ready", 200, T).await;
}

#[actix_web::test]
async fn workers_that_lose_redis_are_restarted_with_backoff_and_the_bot_keeps_answering() {
    let mut env = TestEnv::start();
    let bot = env.spawn_bot().await;
    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "before");
    env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;

    // Redis goes away under the workers' blocking pops: an error they cannot recover from in place.
    env.redis.restart();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let (_, health) = bot.get_json("/health").await;
        if health["restarts"]["chat_worker"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no worker restart counted: {health}\n{}",
            bot.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(bot.logs().contains("restarting"), "restarts are logged");

    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "after");
    let sent = env.telegram.wait_for_messages(ALLOWED_USER, 2, T).await;
    assert_eq!(sent[1].text, "echo: after");
}

/// The real `ChatWorker`, not a stand-in: while Redis is down each worker is restarted again and again, but
/// with growing waits between restarts (100 ms, 200 ms, 400 ms, … up to 2 s, each ±20 %), not in a tight loop;
/// and it comes back when Redis does.
#[actix_web::test]
async fn a_chat_worker_that_cannot_reach_redis_backs_off_between_restarts_and_comes_back() {
    let mut env = TestEnv::start().with("WORKERS", "2");
    let bot = env.spawn_bot().await;
    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "before");
    env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;

    env.redis.stop();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, health) = bot.get_json("/health").await;
    let restarts = health["restarts"]["chat_worker"].as_u64().unwrap_or(0);

    // 2.5 s of outage fit 100 + 200 + 400 + 800 ms of back-off: about 5 restarts per worker. Without back-off
    // a worker whose connection is refused restarts hundreds of times in that time.
    assert!(
        (2..=2 * 8).contains(&restarts),
        "{restarts} worker restarts in 2.5 s: {health}\n{}",
        bot.logs()
    );
    let logs = bot.logs();
    // Each wait is its back-off step ±20 % (jitter, so the workers do not all retry at the same instant).
    let waits: Vec<f64> = logs
        .lines()
        .filter_map(|l| l.split(" waits ").nth(1)?.split(" before taking").next())
        .filter_map(|w| match w.strip_suffix("ms") {
            Some(ms) => ms.parse().ok(),
            None => w.strip_suffix('s')?.parse::<f64>().ok().map(|s| s * 1000.0),
        })
        .collect();
    for step in [100.0, 200.0, 400.0] {
        assert!(
            waits.iter().any(|w| (step * 0.8..=step * 1.2).contains(w)),
            "the waits grow: none near {step} ms in {waits:?}\n{logs}"
        );
    }

    env.redis.restart();
    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "after");
    let sent = env.telegram.wait_for_messages(ALLOWED_USER, 2, T).await;
    assert_eq!(sent[1].text, "echo: after");
}

#[actix_web::test]
async fn telegram_outages_and_flood_control_are_waited_out() {
    let env = TestEnv::start();
    let bot = env.spawn_bot().await;
    env.telegram.fail_next("getUpdates", Fault::ServerError);
    env.telegram.fail_next("sendMessage", Fault::BadGateway);
    env.telegram
        .fail_next("sendMessage", Fault::TooManyRequests { retry_after: 1 });

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "are you there?");
    let sent = env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;

    assert_eq!(sent.len(), 1, "one answer, despite the failed attempts");
    assert_eq!(sent[0].text, "echo: are you there?");
    assert!(bot.logs().contains("retry"), "{}", bot.logs());
}

#[actix_web::test]
async fn bad_configuration_exits_2_and_names_every_problem() {
    let mut env = TestEnv::start();
    env.unset("TELEGRAM_BOT_TOKEN");
    env.set("ALLOWED_USER_IDS", "");
    env.set("API_PORT", "eighty");

    let (status, output) = env.run_bot_to_exit(T).await;

    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("TELEGRAM_BOT_TOKEN is not set"), "{output}");
    assert!(output.contains("@BotFather"), "{output}");
    assert!(output.contains("ALLOWED_USER_IDS is empty"), "{output}");
    assert!(output.contains("API_PORT"), "{output}");
    assert!(!output.contains("panicked"), "{output}");
}

#[actix_web::test]
async fn a_token_telegram_rejects_stops_the_bot_with_a_clear_message() {
    let mut env = TestEnv::start();
    env.set("TELEGRAM_BOT_TOKEN", "987654:WRONG-token-value");

    let (status, output) = env.run_bot_to_exit(T).await;

    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("401"), "{output}");
    assert!(output.contains("@BotFather"), "{output}");
    assert!(
        !output.contains("WRONG-token-value"),
        "the token is never printed: {output}"
    );
}

#[actix_web::test]
async fn check_config_prints_the_effective_configuration_without_secrets() {
    let env = TestEnv::start();
    let output = std::process::Command::new(BotProcess::binary())
        .arg("--check-config")
        .env_clear()
        .envs(env.env())
        .env("AICHAT_API_KEY", "sk-hidden-987654")
        .current_dir(env.workdir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);

    assert!(output.status.success(), "{text}");
    assert!(text.contains("ALLOWED_USER_IDS"), "{text}");
    assert!(
        text.contains("AICHAT_MODEL") && text.contains("test-model"),
        "{text}"
    );
    assert!(text.contains("123456:<redacted>"), "{text}");
    assert!(!text.contains("TEST-secret-token-abc"), "{text}");
    assert!(!text.contains("sk-hidden-987654"), "{text}");
}

#[actix_web::test]
async fn the_bot_token_never_appears_in_the_logs_even_at_trace_level() {
    let mut env = TestEnv::start();
    env.set("RUST_LOG", "trace");
    let mut bot = env.spawn_bot().await;
    env.telegram.fail_next("sendMessage", Fault::ServerError);
    env.telegram.fail_next("getUpdates", Fault::BadGateway);

    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "hello");
    env.telegram.push_text(3003, 3003, "stranger");
    env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;
    env.telegram.wait_for_messages(3003, 1, T).await;
    bot.terminate(T).await;

    let logs = bot.logs();
    assert!(
        logs.len() > 1000 && logs.contains("TRACE"),
        "trace logging was on"
    );
    assert!(logs.contains("sendMessage"), "the failing call is logged");
    assert!(!logs.contains(TEST_TOKEN), "the token leaked into the logs");
    assert!(
        !logs.contains("TEST-secret-token-abc"),
        "part of the token leaked into the logs"
    );
}

/// `GET /metrics`, parsed with a Prometheus text-format parser.
async fn scrape(bot: &BotProcess) -> prometheus_parse::Scrape {
    let (status, body) = bot.get_json("/metrics").await;
    assert_eq!(status, 200);
    let text = body.as_str().expect("the metrics are text").to_string();
    let lines = text.lines().map(|l| Ok(l.to_string())).collect::<Vec<_>>();
    prometheus_parse::Scrape::parse(lines.into_iter()).expect("valid Prometheus text format")
}

/// The value of a sample (0 when absent), by name and labels.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref buckets) => {
                buckets.last().map_or(0.0, |b| b.count)
            }
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

#[actix_web::test]
async fn metrics_parse_as_prometheus_text_and_move_as_a_job_runs() {
    let env = TestEnv::start();
    let bot = env.spawn_bot().await;
    let before = scrape(&bot).await;

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "count me");
    env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;
    // The job is acknowledged right after the answer is stored.
    let deadline = tokio::time::Instant::now() + T;
    let after = loop {
        let now = scrape(&bot).await;
        if sample(&now, "aichat_bot_jobs_total", &[("outcome", "done")]) >= 1.0
            || tokio::time::Instant::now() > deadline
        {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert_eq!(
        moved("aichat_bot_updates_received_total", &[("kind", "text")]),
        1.0
    );
    assert_eq!(
        moved(
            "aichat_bot_jobs_total",
            &[("priority", "high"), ("outcome", "done")]
        ),
        1.0
    );
    assert!(
        moved(
            "aichat_bot_telegram_calls_total",
            &[("method", "sendMessage"), ("result", "ok")]
        ) >= 1.0
    );
    assert!(
        moved(
            "aichat_bot_telegram_calls_total",
            &[("method", "getUpdates"), ("result", "ok")]
        ) >= 1.0
    );
    assert_eq!(
        moved("aichat_bot_job_duration_seconds_count", &[("kind", "chat")]),
        1.0
    );
    assert_eq!(moved("aichat_bot_llm_first_token_seconds_count", &[]), 1.0);
    assert_eq!(sample(&after, "aichat_bot_sessions", &[]), 1.0);
    assert!(
        after
            .samples
            .iter()
            .any(|s| s.metric == "aichat_bot_queue_jobs"),
        "queue depths are exported"
    );
}

/// 30 strangers send 10 messages each while an allowed user asks something: each stranger is told once, the
/// rest is only counted, Telegram never answers 429, and the allowed user's answer does not wait behind the
/// refusals.
#[actix_web::test]
async fn a_flood_of_strangers_is_told_once_each_and_never_delays_the_bots_users() {
    let env = TestEnv::start();
    let bot = env.spawn_bot().await;
    env.telegram.set_rate_limits(true);
    let strangers: Vec<i64> = (0..30).map(|i| 5000 + i).collect();

    for round in 0..10 {
        for &stranger in &strangers {
            env.telegram
                .push_text(stranger, stranger, &format!("let me in {round}"));
        }
    }
    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "am I first?");
    let answer = env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;
    env.telegram
        .wait_until("a refusal for every stranger", T, |tg| {
            strangers.iter().all(|s| tg.count_to(*s) >= 1)
        })
        .await;
    env.telegram.wait_for_confirmation(T).await;
    // Anything still coming would arrive within a few pacing windows.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    for &stranger in &strangers {
        let told = env.telegram.messages_to(stranger);
        assert_eq!(told.len(), 1, "stranger {stranger}: {told:?}");
        assert!(
            told[0].text.starts_with("Access denied."),
            "{}",
            told[0].text
        );
    }
    assert_eq!(env.telegram.rate_limited_count(), 0, "no 429");
    let last_refusal = strangers
        .iter()
        .flat_map(|s| env.telegram.messages_to(*s))
        .map(|m| m.at)
        .max()
        .unwrap();
    assert!(
        answer[0].at < last_refusal,
        "the allowed user's answer went before the refusals were done"
    );
    let metrics = scrape(&bot).await;
    assert_eq!(
        sample(
            &metrics,
            "aichat_bot_updates_received_total",
            &[("kind", "refused")]
        ),
        30.0
    );
    assert_eq!(
        sample(
            &metrics,
            "aichat_bot_updates_received_total",
            &[("kind", "refused_quiet")]
        ),
        270.0
    );
    assert_eq!(
        env.llm.request_count(),
        1,
        "only the allowed user's question"
    );
}

#[actix_web::test]
async fn metrics_count_the_tokens_and_cost_of_model_requests_by_model() {
    let env = TestEnv::start().with("MODEL_PRICES", "test-model=1000000/0");
    env.llm.set_stream_usage(true);
    let bot = env.spawn_bot().await;

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "count my tokens");
    env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;
    let deadline = tokio::time::Instant::now() + T;
    let after = loop {
        let now = scrape(&bot).await;
        // The cost is counted last of the three (a scrape may fall between the counters).
        if sample(&now, "aichat_bot_llm_cost_total", &[]) > 0.0
            || tokio::time::Instant::now() > deadline
        {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let labels = [
        ("model", "test-model"),
        ("kind", "chat"),
        ("source", "server"),
    ];
    let prompt = sample(&after, "aichat_bot_prompt_tokens_total", &labels);
    assert!(prompt >= 3.0, "the server's count of the prompt: {prompt}");
    assert_eq!(
        sample(&after, "aichat_bot_completion_tokens_total", &labels),
        ("echo: count my tokens".len() / 4) as f64
    );
    let cost = sample(
        &after,
        "aichat_bot_llm_cost_total",
        &[("model", "test-model")],
    );
    assert!((cost - prompt).abs() < 1e-9, "$1 a prompt token: {cost}");
    assert!(
        after
            .samples
            .iter()
            .all(|s| !s.labels.contains_key("user") && !s.labels.contains_key("user_id")),
        "no per-user label"
    );
}
