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

#[actix_web::test]
async fn after_a_kill_9_the_restarted_bot_takes_the_dead_ones_jobs_back_at_once_not_after_the_lease(
) {
    let mut env = TestEnv::start();
    env.set("ALLOWED_USER_IDS", "*");
    // The default lease: waiting it out would take 30 s.
    env.set("JOB_LEASE", "30");
    env.set("MERGE_WINDOW_MS", "0");
    let mut bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(crate::support::Behaviour::Delay(Duration::from_secs(60)));
    let chats = [7201_i64, 7202, 7203];
    for c in chats {
        env.telegram.push_text(c, c, &format!("first from {c}"));
    }
    env.llm.wait_for_requests(chats.len(), T).await;
    for c in chats {
        env.telegram.push_text(c, c, &format!("second from {c}"));
    }
    env.telegram.wait_for_confirmation(T).await;
    bot.kill();

    env.llm.set_behaviour(crate::support::Behaviour::Echo);
    let restarted = Instant::now();
    let _bot = env.spawn_bot().await;
    for c in chats {
        env.telegram.wait_for_messages(c, 2, T).await;
    }
    let answered = restarted.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert!(
        answered < Duration::from_secs(12),
        "answered {answered:?} after the restart (the lease is 30 s; the heartbeat lasts 4 s)"
    );
    for c in chats {
        let texts: Vec<String> = env
            .telegram
            .messages_to(c)
            .into_iter()
            .map(|m| m.plain)
            .collect();
        assert_eq!(
            texts,
            [
                format!("echo: first from {c}"),
                format!("echo: second from {c}")
            ],
            "chat {c}: each once, in order"
        );
    }
    let (_, ready) = _bot.get_json("/ready").await;
    assert!(
        ready["queue"]["reclaimed"].as_u64().unwrap_or(0) >= 3,
        "{ready}"
    );
}
