//! Dependencies come back fast: after Redis or Telegram was away, work resumes within seconds, and `/ready`
//! names the dependency that actually failed, at each moment, and clears as soon as it works again.

use crate::support::{BotProcess, Fault, TestEnv};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Generous: a debug build on a busy 2-core CI machine.
const T: Duration = Duration::from_secs(20);

/// `/ready`'s status and its `failing` list.
async fn ready(bot: &BotProcess) -> (u16, Vec<String>) {
    let (status, body) = bot.get_json("/ready").await;
    let failing = body["failing"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    (status, failing)
}

#[actix_web::test]
async fn after_redis_was_down_work_resumes_at_once_and_ready_blames_only_redis_meanwhile() {
    let mut env = TestEnv::start_durable();
    env.set("ALLOWED_USER_IDS", "*");
    let bot = env.spawn_bot().await;
    env.telegram.push_text(7001, 7001, "before");
    env.telegram.wait_for_messages(7001, 1, T).await;

    env.redis.stop();
    let down = Instant::now();
    let mut seen = Vec::new();
    while down.elapsed() < Duration::from_secs(10) {
        let chat = 7100 + seen.len() as i64;
        env.telegram.push_text(chat, chat, "while Redis is down");
        tokio::time::sleep(Duration::from_millis(900)).await;
        seen.push(ready(&bot).await);
    }
    env.redis.restart();
    let back = Instant::now();
    let first_ready = ready(&bot).await;
    for i in 0..seen.len() {
        let chat = 7100 + i as i64;
        env.telegram.wait_for_messages(chat, 1, T).await;
    }
    let resumed = back.elapsed();

    for (status, failing) in &seen[1..] {
        assert_eq!(*status, 503);
        assert_eq!(failing, &["redis"], "Telegram answered all along: {seen:?}");
    }
    assert_eq!(
        first_ready,
        (200, vec![]),
        "fresh on its first call after Redis returned"
    );
    assert!(
        resumed < Duration::from_secs(6),
        "the messages sent meanwhile were answered {resumed:?} after Redis returned"
    );
}

#[actix_web::test]
async fn after_a_telegram_outage_ready_clears_within_a_second_of_its_return() {
    let env = TestEnv::start();
    let bot = env.spawn_bot().await;
    env.telegram.push_text(1001, 1001, "before");
    env.telegram.wait_for_messages(1001, 1, T).await;

    for _ in 0..3 {
        env.telegram.fail_next("getUpdates", Fault::BadGateway);
    }
    // Ends the long poll in flight; the next three polls fail.
    env.telegram.push_text(1001, 1001, "during");
    let deadline = Instant::now() + T;
    while ready(&bot).await.1 != ["telegram"] {
        assert!(Instant::now() < deadline, "the outage is seen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failing = Instant::now();
    while ready(&bot).await.0 != 200 {
        assert!(Instant::now() < deadline, "the outage ends");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cleared = failing.elapsed();

    assert!(
        cleared < Duration::from_secs(8),
        "/ready was ready again {cleared:?} after the failures began (3 failed polls, back-off capped)"
    );
}
