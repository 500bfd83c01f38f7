//! Sessions through the real binary: compression that never loses history, the context window, reasoning
//! blocks, per-chat system prompts, and commands that reflect it all.

use crate::support::bot::ALLOWED_USER;
use crate::support::{Behaviour, TestEnv};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// About 150 tokens by the bot's estimate.
fn long_text(tag: &str) -> String {
    sized_text(tag, 22)
}

/// About `reps * 7` tokens by the bot's estimate.
fn sized_text(tag: &str, reps: usize) -> String {
    format!("{tag} {}", "lorem ipsum dolor sit amet ".repeat(reps))
}

/// Sends a message and waits for the bot's next message in the chat; returns its text.
async fn ask(env: &TestEnv, text: &str) -> String {
    let before = env.telegram.messages_to(ALLOWED_USER).len();
    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, text);
    env.telegram
        .wait_for_messages(ALLOWED_USER, before + 1, T)
        .await[before]
        .text
        .clone()
}

fn notes(env: &TestEnv) -> Vec<String> {
    env.telegram
        .messages_to(ALLOWED_USER)
        .into_iter()
        .map(|m| m.text)
        .filter(|t| t.starts_with("🗜"))
        .collect()
}

fn contents(request: &serde_json::Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

/// A small window so a few turns cross the threshold (1024 tokens).
fn small_window(env: &mut TestEnv) {
    env.set("CONTEXT_WINDOW_TOKENS", "2048");
    env.set("COMPRESS_RATIO", "0.5");
    env.set("KEEP_RECENT_MESSAGES", "2");
}

#[actix_web::test]
async fn crossing_the_threshold_compresses_once_and_later_turns_carry_the_summary() {
    let mut env = TestEnv::start();
    small_window(&mut env);
    let _bot = env.spawn_bot().await;

    for i in 1..=4 {
        ask(&env, &long_text(&format!("turn{i}"))).await;
    }
    env.telegram
        .wait_until("the compression note", T, |tg| {
            tg.messages_to(ALLOWED_USER)
                .iter()
                .any(|m| m.text.starts_with("🗜"))
        })
        .await;
    ask(&env, "turn5 short").await;
    ask(&env, "turn6 short").await;

    assert_eq!(
        env.llm.summary_requests().len(),
        1,
        "compressed exactly once"
    );
    assert_eq!(notes(&env).len(), 1);
    let summary_request = contents(&env.llm.summary_requests()[0]).join("\n");
    assert!(
        summary_request.contains("turn1") && summary_request.contains("turn3"),
        "{summary_request}"
    );
    let last = contents(env.llm.chat_requests().last().unwrap());
    assert!(
        last[0].starts_with("Summary of the earlier part of this conversation:"),
        "{last:?}"
    );
    assert!(last[0].contains("summary of"), "{last:?}");
    assert!(
        !last.iter().any(|c| c.starts_with("turn1 ")),
        "turn 1 is folded: {last:?}"
    );
    assert!(
        last.iter().any(|c| c.starts_with("turn4 ")),
        "recent turns stay: {last:?}"
    );
    assert_eq!(last.last().unwrap(), "turn6 short");

    let stats = ask(&env, "/stats").await;
    assert!(stats.contains("Compressions: 1"), "{stats}");
    assert!(
        stats.contains("Messages: 12 (6 from you, 6 from me)"),
        "folded messages are kept: {stats}"
    );
    let context = ask(&env, "/context").await;
    assert!(context.contains("Without the summary:"), "{context}");
}

#[actix_web::test]
async fn a_failed_summary_leaves_the_history_whole_and_compression_happens_later() {
    let mut env = TestEnv::start();
    small_window(&mut env);
    env.set("JOB_MAX_ATTEMPTS", "1");
    let bot = env.spawn_bot().await;
    env.llm.push_summary_once(Behaviour::Status(
        400,
        "upstream error: 503 Service Unavailable".into(),
    ));

    for i in 1..=4 {
        ask(&env, &long_text(&format!("turn{i}"))).await;
    }
    env.llm.wait_for_requests(5, T).await;
    bot.wait_for_log("failed for good", T).await;
    ask(&env, "turn5 short").await;

    let fifth = contents(env.llm.chat_requests().last().unwrap());
    assert_eq!(
        fifth.len(),
        9,
        "all eight earlier messages and the new one, no summary: {fifth:?}"
    );
    assert!(fifth[0].starts_with("turn1 "));
    env.telegram
        .wait_until("the compression note", T, |tg| {
            tg.messages_to(ALLOWED_USER)
                .iter()
                .any(|m| m.text.starts_with("🗜"))
        })
        .await;
    assert_eq!(env.llm.summary_requests().len(), 2);
    assert_eq!(notes(&env).len(), 1);
    assert!(
        !env.telegram
            .messages_to(ALLOWED_USER)
            .iter()
            .any(|m| m.text.contains("⚠")),
        "the user is not bothered with a failed compression"
    );
}

#[actix_web::test]
async fn clear_during_a_compression_wins_and_the_summary_is_discarded() {
    let mut env = TestEnv::start();
    small_window(&mut env);
    let bot = env.spawn_bot().await;
    env.llm
        .set_summary_behaviour(Behaviour::Delay(Duration::from_millis(1500)));

    for i in 1..=4 {
        ask(&env, &long_text(&format!("turn{i}"))).await;
    }
    env.llm.wait_for_requests(5, T).await;
    assert_eq!(
        env.llm.summary_requests().len(),
        1,
        "the compression is under way"
    );
    assert_eq!(ask(&env, "/clear").await, "Conversation cleared.");
    bot.wait_for_log("summary discarded", T).await;

    assert!(notes(&env).is_empty());
    let stats = ask(&env, "/stats").await;
    assert!(stats.contains("No conversation yet"), "{stats}");
}

#[actix_web::test]
async fn a_message_too_big_for_the_window_is_refused_and_old_turns_are_left_out_when_needed() {
    let mut env = TestEnv::start();
    env.set("CONTEXT_WINDOW_TOKENS", "1024");
    env.set("COMPRESS_RATIO", "0.99");
    let _bot = env.spawn_bot().await;

    let refused = ask(&env, &"word ".repeat(800)).await;
    assert!(refused.contains("too long for the model"), "{refused}");
    assert_eq!(env.llm.request_count(), 0, "nothing was sent to the model");

    ask(&env, &sized_text("t1", 30)).await;
    ask(&env, &sized_text("t2", 30)).await;
    let note = ask(&env, &sized_text("t3", 30)).await;
    assert!(note.contains("left out"), "{note}");
    let n = env.telegram.messages_to(ALLOWED_USER).len();
    env.telegram.wait_for_messages(ALLOWED_USER, n + 1, T).await;
    let sent = contents(env.llm.chat_requests().last().unwrap());
    assert!(!sent.iter().any(|c| c.starts_with("t1 ")), "{sent:?}");
    assert!(sent.last().unwrap().starts_with("t3 "));
    let stats = ask(&env, "/stats").await;
    assert!(
        stats.contains("Messages: 6"),
        "nothing was deleted: {stats}"
    );
}

#[actix_web::test]
async fn reasoning_is_neither_shown_nor_sent_back() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    env.llm.set_behaviour(Behaviour::Fixed(
        "<think>the secret plan</think>\n\nThe answer is 4.".into(),
    ));

    assert_eq!(ask(&env, "2+2?").await, "The answer is 4.");
    env.llm.set_behaviour(Behaviour::Echo);
    ask(&env, "thanks").await;

    let second = env.llm.requests()[1].to_string();
    assert!(second.contains("The answer is 4."));
    assert!(!second.contains("secret plan"), "{second}");
}

#[actix_web::test]
async fn a_chat_can_set_show_and_reset_its_system_prompt() {
    let mut env = TestEnv::start();
    env.set("SYSTEM_PROMPT", "You are helpful.");
    let _bot = env.spawn_bot().await;

    let shown = ask(&env, "/system").await;
    assert!(
        shown.contains("default system prompt") && shown.contains("You are helpful."),
        "{shown}"
    );
    let set = ask(&env, "/system Talk like a pirate.").await;
    assert!(set.contains("set for this chat"), "{set}");
    ask(&env, "hello").await;
    assert_eq!(contents(&env.llm.requests()[0])[0], "Talk like a pirate.");
    assert!(ask(&env, "/system").await.contains("Talk like a pirate."));
    let reset = ask(&env, "/system reset").await;
    assert!(reset.contains("reset"), "{reset}");
    ask(&env, "hello again").await;
    assert_eq!(contents(&env.llm.requests()[1])[0], "You are helpful.");
}
