//! The queue's guarantees through the real binary: nothing lost and nothing doubled through kill -9, Redis
//! restarts and shutdowns; per-chat order; merged pastes; dead letters with the user told.

use crate::support::bot::ALLOWED_USER;
use crate::support::{Behaviour, BotProcess, Fault, TestEnv};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn texts(env: &TestEnv, chat: i64) -> Vec<String> {
    env.telegram
        .messages_to(chat)
        .into_iter()
        .map(|m| m.text)
        .collect()
}

fn signal(bot: &BotProcess, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &bot.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Roles and contents of one LLM request.
fn turns(request: &serde_json::Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().into(),
                m["content"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn a_killed_bot_answers_every_message_exactly_once_and_in_order_after_restart() {
    let mut env = TestEnv::start();
    env.set("ALLOWED_USER_IDS", "*");
    env.set("JOB_LEASE", "2");
    env.set("MERGE_WINDOW_MS", "0");
    let mut bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Delay(Duration::from_secs(60)));
    let chats = [7001_i64, 7002, 7003];

    for c in chats {
        env.telegram.push_text(c, c, &format!("first from {c}"));
    }
    env.llm.wait_for_requests(chats.len(), T).await;
    for c in chats {
        env.telegram.push_text(c, c, &format!("second from {c}"));
    }
    env.telegram.wait_for_confirmation(T).await;
    bot.kill();
    assert!(
        env.telegram.sent_messages().is_empty(),
        "nothing was answered before the crash"
    );

    env.llm.set_behaviour(Behaviour::Echo);
    let _bot = env.spawn_bot().await;
    for c in chats {
        env.telegram.wait_for_messages(c, 2, T).await;
    }
    // Longer than a lease: a duplicate would have shown up by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for c in chats {
        assert_eq!(
            texts(&env, c),
            vec![
                format!("echo: first from {c}"),
                format!("echo: second from {c}")
            ],
            "chat {c}: each message answered once, complete, in order"
        );
    }
}

#[actix_web::test]
async fn a_redis_restart_under_load_loses_nothing_and_doubles_nothing() {
    let mut env = TestEnv::start_durable();
    env.set("ALLOWED_USER_IDS", "*");
    env.set("MERGE_WINDOW_MS", "0");
    let _bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Delay(Duration::from_millis(300)));
    let chats: Vec<i64> = (8001..=8005).collect();
    let rounds = 4;

    for round in 0..rounds {
        for c in &chats {
            env.telegram
                .push_text(*c, *c, &format!("round {round} from {c}"));
        }
        if round == 1 {
            env.redis.restart();
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    for c in &chats {
        env.telegram
            .wait_for_messages(*c, rounds, Duration::from_secs(60))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for c in &chats {
        let expected: Vec<String> = (0..rounds)
            .map(|r| format!("echo: round {r} from {c}"))
            .collect();
        assert_eq!(texts(&env, *c), expected, "chat {c}");
    }
}

#[actix_web::test]
async fn a_job_that_keeps_failing_is_dead_lettered_and_the_user_is_told() {
    let mut env = TestEnv::start();
    env.set("JOB_MAX_ATTEMPTS", "2");
    env.set("JOB_RETRY_DELAY", "1");
    let bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Status(503, "upstream unavailable".into()));

    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "hello?");
    let sent = env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;

    assert!(sent[0].text.contains("had a problem"), "{}", sent[0].text);
    assert_eq!(env.llm.request_count(), 2, "tried twice (JOB_MAX_ATTEMPTS)");
    let (_, ready) = bot.get_json("/ready").await;
    assert_eq!(ready["queue"]["dead"], 1, "{ready}");
    assert_eq!(ready["queue"]["retried"], 1, "{ready}");
    assert!(bot.logs().contains("dead-lettered"), "{}", bot.logs());

    // The chat is not blocked by its dead job.
    env.llm.set_behaviour(Behaviour::Echo);
    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "and now?");
    let sent = env.telegram.wait_for_messages(ALLOWED_USER, 2, T).await;
    assert_eq!(sent[1].text, "echo: and now?");
}

#[actix_web::test]
async fn an_update_redelivered_after_a_crash_is_not_answered_twice() {
    let env = TestEnv::start();
    let mut bot = env.spawn_bot().await;
    // The poll after the one that brings the message hangs, so its offset never confirms the message.
    env.telegram.wait_for_polls(2, T).await;
    env.telegram
        .fail_next("getUpdates", Fault::Hang(Duration::from_secs(60)));

    let update = env
        .telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "only once please");
    env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;
    // Killed once the job is done: this is about the update coming again, not about a crash in the instant
    // between Telegram accepting the answer and the bot recording it (a documented gap: that part is sent
    // again, see docs/queue.md#limits).
    let deadline = std::time::Instant::now() + T;
    while bot.get_json("/ready").await.1["queue"]["completed"].as_u64() < Some(1) {
        assert!(
            std::time::Instant::now() < deadline,
            "the job is acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bot.kill();
    assert!(
        env.telegram.pending_update_ids().contains(&update),
        "Telegram still holds the update, so the next bot gets it again"
    );

    let _bot = env.spawn_bot().await;
    env.telegram.wait_for_confirmation(T).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        texts(&env, ALLOWED_USER),
        vec!["echo: only once please".to_string()]
    );
    assert_eq!(env.llm.request_count(), 1);
}

#[actix_web::test]
async fn messages_of_one_chat_are_answered_in_order_each_with_the_previous_answers() {
    let mut env = TestEnv::start();
    env.set("MERGE_WINDOW_MS", "0");
    let _bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Delay(Duration::from_millis(200)));

    for i in 1..=4 {
        env.telegram
            .push_text(ALLOWED_USER, ALLOWED_USER, &format!("m{i}"));
    }
    env.telegram.wait_for_messages(ALLOWED_USER, 4, T).await;

    assert_eq!(
        texts(&env, ALLOWED_USER),
        ["echo: m1", "echo: m2", "echo: m3", "echo: m4"]
    );
    let requests = env.llm.requests();
    assert_eq!(requests.len(), 4);
    let u = |s: &str| ("user".to_string(), s.to_string());
    let a = |s: &str| ("assistant".to_string(), s.to_string());
    assert_eq!(
        turns(&requests[3]),
        vec![
            u("m1"),
            a("echo: m1"),
            u("m2"),
            a("echo: m2"),
            u("m3"),
            a("echo: m3"),
            u("m4")
        ]
    );
}

#[actix_web::test]
async fn a_paste_split_into_several_messages_is_answered_as_one_turn() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Delay(Duration::from_millis(800)));

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "question one");
    env.llm.wait_for_requests(1, T).await;
    // Telegram delivers a long paste as several messages a moment apart, while the chat is busy.
    for part in ["part 1", "part 2", "part 3"] {
        env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, part);
    }
    env.telegram.wait_for_messages(ALLOWED_USER, 2, T).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(
        texts(&env, ALLOWED_USER),
        ["echo: question one", "echo: part 3"]
    );
    let requests = env.llm.requests();
    assert_eq!(requests.len(), 2, "one turn for the three parts");
    let last: Vec<_> = turns(&requests[1])
        .into_iter()
        .rev()
        .take(3)
        .rev()
        .collect();
    let u = |s: &str| ("user".to_string(), s.to_string());
    assert_eq!(last, vec![u("part 1"), u("part 2"), u("part 3")]);
}

#[actix_web::test]
async fn sigterm_lets_an_answer_in_flight_finish() {
    let env = TestEnv::start();
    let mut bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Delay(Duration::from_millis(1500)));

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "quick, before you go");
    env.llm.wait_for_requests(1, T).await;
    let status = bot.terminate(T).await.expect("exits");

    assert!(status.success(), "{status:?}");
    assert_eq!(texts(&env, ALLOWED_USER), ["echo: quick, before you go"]);
}

#[actix_web::test]
async fn a_job_still_running_at_the_end_of_the_grace_period_is_handed_back_and_answered_after_restart(
) {
    let mut env = TestEnv::start();
    env.set("SHUTDOWN_GRACE", "1");
    env.set("JOB_LEASE", "120");
    let mut bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Delay(Duration::from_secs(60)));

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "a long question");
    env.llm.wait_for_requests(1, T).await;
    let status = bot
        .terminate(Duration::from_secs(15))
        .await
        .expect("exits after the grace period");
    assert!(status.success(), "{status:?}");
    assert!(bot.logs().contains("handed back"), "{}", bot.logs());

    env.llm.set_behaviour(Behaviour::Echo);
    let _bot = env.spawn_bot().await;
    // Far sooner than the 120 s lease: the job was handed back, not left to expire.
    env.telegram
        .wait_for_messages(ALLOWED_USER, 1, Duration::from_secs(15))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(texts(&env, ALLOWED_USER), ["echo: a long question"]);
}

#[actix_web::test]
async fn a_second_sigterm_stops_the_bot_at_once() {
    let mut env = TestEnv::start();
    env.set("SHUTDOWN_GRACE", "60");
    let mut bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Delay(Duration::from_secs(60)));
    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "this takes a while");
    env.llm.wait_for_requests(1, T).await;

    signal(&bot, "-TERM");
    bot.wait_for_log("shutting down", T).await;
    signal(&bot, "-TERM");
    let status = bot.wait_exit(Duration::from_secs(5)).await;

    assert!(
        status.is_some_and(|s| s.success()),
        "stopped at once: {}",
        bot.logs()
    );
}

#[actix_web::test]
async fn a_message_whose_attempts_all_died_with_the_bot_is_dead_lettered_and_the_user_is_told() {
    let mut env = TestEnv::start();
    env.set("JOB_MAX_ATTEMPTS", "1");
    env.set("JOB_LEASE", "1");
    let mut bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Delay(Duration::from_secs(60)));
    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "this one is cursed");
    env.llm.wait_for_requests(1, T).await;
    bot.kill();

    env.llm.set_behaviour(Behaviour::Echo);
    let bot = env.spawn_bot().await;
    let sent = env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;

    assert!(sent[0].text.contains("interrupted"), "{}", sent[0].text);
    assert_eq!(
        env.llm.request_count(),
        1,
        "not tried beyond JOB_MAX_ATTEMPTS"
    );
    let (_, ready) = bot.get_json("/ready").await;
    assert_eq!(ready["queue"]["dead"], 1, "{ready}");
}
