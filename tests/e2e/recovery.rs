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

/// `/health`'s role of a process.
async fn role(bot: &BotProcess) -> String {
    let (_, health) = bot.get_json("/health").await;
    health["role"].as_str().unwrap_or_default().to_string()
}

/// Waits until one of the two processes polls and the other stands by; returns (poller, standby).
async fn roles<'a>(
    a: &'a mut BotProcess,
    b: &'a mut BotProcess,
) -> (&'a mut BotProcess, &'a mut BotProcess) {
    let deadline = Instant::now() + T;
    loop {
        match (role(a).await.as_str(), role(b).await.as_str()) {
            ("poller", "standby") => return (a, b),
            ("standby", "poller") => return (b, a),
            other => assert!(Instant::now() < deadline, "roles never settled: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn of_two_processes_exactly_one_polls_and_when_it_dies_the_other_takes_over_within_seconds() {
    let mut env = TestEnv::start();
    env.set("ALLOWED_USER_IDS", "*");
    let mut first = env.spawn_bot().await;
    let mut second = env.spawn_bot().await;
    let (poller, standby) = roles(&mut first, &mut second).await;

    for c in 7301..=7310_i64 {
        env.telegram.push_text(c, c, &format!("hello from {c}"));
    }
    for c in 7301..=7310_i64 {
        env.telegram.wait_for_messages(c, 1, T).await;
    }
    let (status, ready) = standby.get_json("/ready").await;
    assert_eq!(status, 200, "a standby is ready: {ready}");
    assert_eq!(ready["role"], "standby");
    // Killed once those jobs are done: this is about polling, not about a crash in the instant between
    // Telegram taking an answer's message and the bot recording it (a documented gap, docs/queue.md).
    let deadline = Instant::now() + T;
    while standby.get_json("/ready").await.1["queue"]["completed"].as_u64() < Some(10) {
        assert!(Instant::now() < deadline, "the ten jobs are acknowledged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    poller.kill();
    let died = Instant::now();
    env.telegram.push_text(7311, 7311, "who polls now?");
    env.telegram.wait_for_messages(7311, 1, T).await;
    let took_over = died.elapsed();

    assert_eq!(role(standby).await, "poller");
    assert!(
        took_over < Duration::from_secs(10),
        "answered {took_over:?} after the poller died (the role lasts 5 s)"
    );
    let conflicts = env
        .telegram
        .calls_of("getUpdates")
        .iter()
        .filter(|c| c.status == 409)
        .count();
    // At most the dead poller's long poll, answered 409 by the fake when the new poller's first call came.
    assert!(
        conflicts <= 1,
        "no two pollers at once: {conflicts} conflicts"
    );
    for c in 7301..=7311_i64 {
        assert_eq!(env.telegram.count_to(c), 1, "chat {c}: answered once");
    }
}

#[actix_web::test]
async fn a_clean_stop_hands_polling_over_at_once_and_a_worker_process_only_works() {
    let mut env = TestEnv::start();
    env.set("ALLOWED_USER_IDS", "*");
    let mut first = env.spawn_bot().await;
    let mut second = env.spawn_bot().await;
    let worker = env.spawn_bot_with(&[("PROCESS_ROLE", "worker")]).await;
    let (poller, standby) = roles(&mut first, &mut second).await;
    assert_eq!(role(&worker).await, "worker");

    poller.terminate(T).await.expect("a clean stop");
    let stopped = Instant::now();
    env.telegram.push_text(7401, 7401, "after the handover");
    env.telegram.wait_for_messages(7401, 1, T).await;

    assert_eq!(role(standby).await, "poller");
    assert!(
        stopped.elapsed() < Duration::from_secs(4),
        "handed over at once, not after the role expired: {:?}",
        stopped.elapsed()
    );
    let (_, metrics) = standby.get_json("/metrics").await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("aichat_bot_poller_role_changes_total{change=\"claimed\"} 1"),
        "the hand-over is counted: {metrics}"
    );
    assert!(
        metrics.contains("aichat_bot_heartbeats_total{result=\"ok\"}"),
        "{metrics}"
    );
    let (status, ready) = worker.get_json("/ready").await;
    assert_eq!(
        (status, ready["role"].as_str()),
        (200, Some("worker")),
        "{ready}"
    );
}

#[actix_web::test]
async fn after_a_kill_9_a_second_process_finishes_the_dead_ones_answers_once() {
    let mut env = TestEnv::start();
    env.set("ALLOWED_USER_IDS", "*");
    let mut first = env.spawn_bot().await;
    env.llm.set_behaviour(crate::support::Behaviour::Echo);
    for _ in 0..3 {
        env.llm
            .push_once(crate::support::Behaviour::Delay(Duration::from_secs(300)));
    }
    let chats = [7501_i64, 7502, 7503];
    for c in chats {
        env.telegram.push_text(c, c, &format!("question of {c}"));
    }
    env.llm.wait_for_requests(chats.len(), T).await;
    // Started after the jobs were taken: they are all the first process's.
    let _second = env.spawn_bot().await;
    first.kill();

    for c in chats {
        env.telegram.wait_for_messages(c, 1, T).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for c in chats {
        let texts: Vec<String> = env
            .telegram
            .messages_to(c)
            .into_iter()
            .map(|m| m.plain)
            .collect();
        assert_eq!(texts, [format!("echo: question of {c}")], "chat {c}: once");
    }
}

#[actix_web::test]
async fn a_rolling_restart_under_load_loses_nothing_and_doubles_nothing() {
    let mut env = TestEnv::start();
    env.set("ALLOWED_USER_IDS", "*");
    env.set("MERGE_WINDOW_MS", "0");
    let mut old = env.spawn_bot().await;
    env.llm
        .set_behaviour(crate::support::Behaviour::Delay(Duration::from_millis(300)));
    let chats: Vec<i64> = (7601..=7606).collect();
    let rounds = 4;
    let mut new = None;
    for round in 0..rounds {
        for c in &chats {
            env.telegram
                .push_text(*c, *c, &format!("round {round} from {c}"));
        }
        match round {
            // The new process comes up beside the old one, then the old one is stopped as systemd would.
            1 => new = Some(env.spawn_bot().await),
            2 => {
                old.terminate(T).await.expect("a clean stop");
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for c in &chats {
        env.telegram.wait_for_messages(*c, rounds, T).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    for c in &chats {
        let texts: Vec<String> = env
            .telegram
            .messages_to(*c)
            .into_iter()
            .map(|m| m.plain)
            .collect();
        let expected: Vec<String> = (0..rounds)
            .map(|r| format!("echo: round {r} from {c}"))
            .collect();
        assert_eq!(texts, expected, "chat {c}: every message once, in order");
    }
    let conflicts = env
        .telegram
        .calls_of("getUpdates")
        .iter()
        .filter(|c| c.status == 409)
        .count();
    // At most the old poller's long poll, abandoned when it stopped and answered 409 by the fake when the new
    // poller's first call came: nobody reads that answer.
    assert!(conflicts <= 1, "no 409 storm: {conflicts}");
    drop(new);
}
