//! The chat flow through the real binary: allowed and refused users, commands, long answers, failures,
//! and history that survives a restart.

use crate::support::bot::ALLOWED_USER;
use crate::support::{Behaviour, TestEnv};
use std::time::Duration;

/// Generous: a debug build on a busy 2-core CI machine.
const T: Duration = Duration::from_secs(20);

fn user_contents(request: &serde_json::Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn an_allowed_user_gets_the_llm_answer_in_their_own_chat() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "Hello there");
    let sent = env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;

    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text, "echo: Hello there");
    assert!(
        sent[0].reply_to.is_some(),
        "the answer replies to the question"
    );
    let requests = env.llm.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["model"], "test-model");
    assert_eq!(
        user_contents(&requests[0]),
        vec![("user".to_string(), "Hello there".to_string())]
    );
    assert!(
        env.telegram
            .sent_messages()
            .iter()
            .all(|m| m.chat_id == ALLOWED_USER),
        "nothing went to another chat"
    );
    assert!(
        env.telegram.chat_actions().is_empty(),
        "an answer that comes at once needs no 'typing…': {}",
        env.telegram.dump()
    );
    let commands = env.telegram.commands();
    assert!(
        commands.iter().any(|c| c.to_string().contains("clear")),
        "the command list was registered with setMyCommands: {commands:?}"
    );
}

#[actix_web::test]
async fn a_slow_model_shows_typing_until_its_first_words() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    env.llm.set_first_token_delay(Duration::from_millis(1500));

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "Take your time");
    let sent = env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;

    assert_eq!(sent[0].plain, "echo: Take your time");
    assert_eq!(
        env.telegram.chat_actions(),
        vec![(ALLOWED_USER, "typing".to_string())],
        "'typing…' once, while the model had not started: {}",
        env.telegram.dump()
    );
}

#[actix_web::test]
async fn a_refused_user_gets_access_denied_with_their_id_and_nothing_reaches_the_llm() {
    // Every message of the stranger is answered (the once-per-interval rule has its own test).
    let env = TestEnv::start().with("REFUSAL_NOTICE_INTERVAL", "0");
    let _bot = env.spawn_bot().await;
    let stranger = 2002;

    env.telegram
        .push_text(stranger, stranger, "let me in, secret question");
    env.telegram.push_photo(stranger, stranger);
    let refused = env.telegram.wait_for_messages(stranger, 2, T).await;
    // An allowed message afterwards proves the queue was worked through.
    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "hi");
    env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;

    for m in &refused {
        assert!(m.text.starts_with("Access denied."), "{}", m.text);
        assert!(
            m.text.contains("2002"),
            "the refusal names the user id: {}",
            m.text
        );
    }
    let requests = env.llm.requests();
    assert_eq!(
        requests.len(),
        1,
        "only the allowed user's message reached the LLM"
    );
    assert!(!requests[0].to_string().contains("secret question"));
}

/// Sends one message from the allowed user and returns the text of the bot's next message.
async fn ask(tg: &crate::support::FakeTelegram, text: &str) -> String {
    let before = tg.messages_to(ALLOWED_USER).len();
    tg.push_text(ALLOWED_USER, ALLOWED_USER, text);
    tg.wait_for_messages(ALLOWED_USER, before + 1, T).await[before]
        .text
        .clone()
}

#[actix_web::test]
async fn every_command_answers_and_clear_forgets_the_history() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;

    let start = ask(tg, "/start").await;
    for c in ["/help", "/clear", "/stats", "/context"] {
        assert!(start.contains(c), "/start lists {c}: {start}");
    }
    assert!(start.contains("test-model"), "{start}");
    assert_eq!(ask(tg, "/help").await, start);

    let empty_stats = ask(tg, "/stats").await;
    assert!(empty_stats.contains("No conversation yet"), "{empty_stats}");

    assert_eq!(
        ask(tg, "remember the word pineapple").await,
        "echo: remember the word pineapple"
    );

    let stats = ask(tg, "/stats").await;
    assert!(
        stats.contains("Messages: 2 (1 from you, 1 from me)"),
        "{stats}"
    );
    // Streamed answers carry no usage (as with aichat): only the bot's own estimate is shown.
    assert!(stats.contains("Tokens in history (estimated): "), "{stats}");
    assert!(
        stats.contains("Started: ") && stats.contains("Last activity: "),
        "{stats}"
    );

    let context = ask(tg, "/context").await;
    assert!(context.contains("Model: test-model"), "{context}");
    assert!(
        context.contains("Context window: 128,000 tokens"),
        "{context}"
    );
    assert!(
        context.contains("Compression threshold: 96,000 tokens (75%)"),
        "{context}"
    );
    assert!(context.contains("Current usage: "), "{context}");
    assert!(!context.contains("Current usage: 0 tokens"), "{context}");

    let unknown = ask(tg, "/frobnicate now").await;
    assert!(unknown.contains("/frobnicate"), "{unknown}");
    assert!(
        unknown.contains("/help"),
        "the reply lists the commands: {unknown}"
    );

    let before = tg.messages_to(ALLOWED_USER).len();
    tg.push_photo(ALLOWED_USER, ALLOWED_USER);
    let photo = tg.wait_for_messages(ALLOWED_USER, before + 1, T).await[before]
        .text
        .clone();
    assert!(
        photo.contains("can't see images"),
        "a model without vision: {photo}"
    );

    assert_eq!(ask(tg, "/clear").await, "Conversation cleared.");
    ask(tg, "what was the word?").await;
    let requests = env.llm.requests();
    assert_eq!(requests.len(), 2, "commands never reach the LLM");
    assert_eq!(
        user_contents(&requests[1]),
        vec![("user".to_string(), "what was the word?".to_string())],
        "after /clear the old turns are gone"
    );
}

#[actix_web::test]
async fn the_conversation_is_remembered_across_a_restart() {
    let env = TestEnv::start();
    let mut bot = env.spawn_bot().await;
    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "my name is Ada");
    env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;

    let status = bot.terminate(T).await.expect("the bot stops on SIGTERM");
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    assert!(bot.logs().contains("shutting down"), "{}", bot.logs());

    let _bot = env.spawn_bot().await;
    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "what is my name?");
    env.telegram.wait_for_messages(ALLOWED_USER, 2, T).await;

    let requests = env.llm.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        user_contents(&requests[1]),
        vec![
            ("user".to_string(), "my name is Ada".to_string()),
            ("assistant".to_string(), "echo: my name is Ada".to_string()),
            ("user".to_string(), "what is my name?".to_string()),
        ]
    );
}

#[actix_web::test]
async fn a_long_answer_is_split_into_messages_telegram_accepts() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    // 3000 emoji = 6000 UTF-16 code units (but only 3000 chars): over the limit only when counted right.
    let answer = format!("{}\n\n{}", "😀".repeat(3000), "the end");
    env.llm.set_behaviour(Behaviour::Fixed(answer.clone()));

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "tell me a long story");
    let strip = |s: &str| s.split_whitespace().collect::<String>();
    // The answer streams in; wait for its final state (what the chat shows after the last edit).
    let shown = |tg: &crate::support::FakeTelegram| -> Vec<String> {
        tg.messages_to(ALLOWED_USER)
            .iter()
            .map(|m| {
                tg.current_text(ALLOWED_USER, m.message_id)
                    .unwrap_or_default()
            })
            .collect()
    };
    env.telegram
        .wait_until("the whole answer", T, |tg| {
            shown(tg).iter().map(|t| strip(t)).collect::<String>() == strip(&answer)
        })
        .await;

    let texts = shown(&env.telegram);
    assert_eq!(texts.len(), 2, "{texts:?}");
    for t in &texts {
        let units: usize = t.chars().map(char::len_utf16).sum();
        assert!(units <= 4096, "a piece has {units} UTF-16 units");
    }
}

#[actix_web::test]
async fn llm_failures_get_a_friendly_message_and_no_internals() {
    let mut env = TestEnv::start();
    env.set("JOB_TIMEOUT", "2");
    let bot = env.spawn_bot().await;
    let tg = &env.telegram;

    env.llm.set_behaviour(Behaviour::Status(
        400,
        "Failed to call chat-completions api: thread 'tokio' panicked at src/client.rs:42".into(),
    ));
    tg.push_text(ALLOWED_USER, ALLOWED_USER, "first");
    let rejected = tg.wait_for_messages(ALLOWED_USER, 1, T).await[0]
        .text
        .clone();
    assert!(rejected.contains("could not answer"), "{rejected}");
    assert!(
        !rejected.contains("panicked") && !rejected.contains("src/"),
        "{rejected}"
    );

    env.llm.set_behaviour(Behaviour::Hang);
    tg.push_text(ALLOWED_USER, ALLOWED_USER, "second");
    let timed_out = tg.wait_for_messages(ALLOWED_USER, 2, T).await[1]
        .text
        .clone();
    assert!(timed_out.contains("too long"), "{timed_out}");

    env.llm.stop();
    tg.push_text(ALLOWED_USER, ALLOWED_USER, "third");
    let unreachable = tg.wait_for_messages(ALLOWED_USER, 3, T).await[2]
        .text
        .clone();
    assert!(unreachable.contains("not reachable"), "{unreachable}");
    assert!(
        bot.logs().contains("failed"),
        "failures are logged for the operator"
    );
}

#[actix_web::test]
async fn the_api_key_is_sent_as_a_bearer_token_and_never_logged() {
    let mut env = TestEnv::start();
    env.llm.require_api_key("sk-test-key-123456");
    env.set("AICHAT_API_KEY", "sk-test-key-123456");
    env.set("RUST_LOG", "debug");
    let bot = env.spawn_bot().await;

    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "hi");
    let sent = env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;

    assert_eq!(sent[0].text, "echo: hi");
    assert!(!bot.logs().contains("sk-test-key-123456"));
}

#[actix_web::test]
async fn a_slow_model_does_not_make_other_chats_wait_even_with_one_worker() {
    let mut env = TestEnv::start();
    env.set("WORKERS", "1");
    env.set("MAX_CONCURRENT_JOBS", "8");
    env.set("ALLOWED_USER_IDS", "*");
    let _bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Delay(Duration::from_secs(2)));
    let chats: Vec<i64> = (1..=5).map(|i| 5000 + i).collect();

    for chat in &chats {
        env.telegram
            .push_text(*chat, *chat, &format!("question from {chat}"));
    }
    // Every chat's question reaches the model before the first (2 s) answer comes back.
    env.llm
        .wait_for_requests(chats.len(), Duration::from_millis(1500))
        .await;
    assert!(
        env.telegram.sent_messages().is_empty(),
        "all five were being answered at once, none had finished"
    );
    for chat in &chats {
        let sent = env.telegram.wait_for_messages(*chat, 1, T).await;
        assert_eq!(sent[0].text, format!("echo: question from {chat}"));
    }
}

const GROUP: i64 = -4001;
const SUPERGROUP: i64 = -1_000_000_004_001;

/// Waits until the bot has finished `n` jobs (an answer is visible a moment before its job ends).
async fn wait_jobs_done(bot: &crate::support::BotProcess, n: u64) {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let (_, ready) = bot.get_json("/ready").await;
        if ready["queue"]["completed"].as_u64().unwrap_or(0) >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} jobs not done: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Telegram's two service messages of a group's upgrade: the conversation, and /stats, follow the group to
/// the supergroup's id.
/// The bot answering every text of a group (`GROUP_MODE=all`: these plain texts do not mention it), after one
/// answered turn in the group ("remember the word pineapple"), its job done.
async fn group_with_one_answer() -> (TestEnv, crate::support::BotProcess) {
    let env = TestEnv::start().with("GROUP_MODE", "all");
    let bot = env.spawn_bot().await;
    env.telegram
        .push_group_text(ALLOWED_USER, GROUP, "Team", "remember the word pineapple");
    env.telegram.wait_for_messages(GROUP, 1, T).await;
    wait_jobs_done(&bot, 1).await;
    (env, bot)
}

#[actix_web::test]
async fn a_group_that_becomes_a_supergroup_keeps_its_conversation() {
    let (env, _bot) = group_with_one_answer().await;
    let tg = &env.telegram;

    tg.migrate_group(GROUP, SUPERGROUP);
    tg.push_migration_messages(ALLOWED_USER, GROUP, SUPERGROUP);
    tg.push_supergroup_text(ALLOWED_USER, SUPERGROUP, "Team", "which word?");
    let answer = tg.wait_for_messages(SUPERGROUP, 1, T).await;

    assert_eq!(answer[0].text, "echo: User1001: which word?");
    let last = env.llm.requests().last().unwrap().to_string();
    assert!(last.contains("pineapple"), "the history came along: {last}");
    tg.push_supergroup_text(ALLOWED_USER, SUPERGROUP, "Team", "/stats");
    let stats = tg.wait_for_messages(SUPERGROUP, 2, T).await;
    assert!(
        stats[1]
            .text
            .contains("Messages: 4 (2 from you, 2 from me)"),
        "{}",
        stats[1].text
    );
    assert_eq!(tg.count_to(GROUP), 1, "nothing more went to the old id");
}

/// A message of the group still queued when the group was upgraded: Telegram refuses the old id with
/// `migrate_to_chat_id`; the answer goes to the supergroup and the conversation follows, with the message.
#[actix_web::test]
async fn an_answer_refused_because_the_group_was_upgraded_goes_to_the_supergroup() {
    let (env, _bot) = group_with_one_answer().await;
    let tg = &env.telegram;

    tg.migrate_group(GROUP, SUPERGROUP);
    tg.push_group_text(ALLOWED_USER, GROUP, "Team", "and the word mango");
    let answer = tg.wait_for_messages(SUPERGROUP, 1, T).await;
    assert_eq!(answer[0].text, "echo: User1001: and the word mango");
    assert!(env
        .llm
        .requests()
        .last()
        .unwrap()
        .to_string()
        .contains("pineapple"));

    tg.push_supergroup_text(ALLOWED_USER, SUPERGROUP, "Team", "which words?");
    tg.wait_for_messages(SUPERGROUP, 2, T).await;
    let last = env.llm.requests().last().unwrap().to_string();
    assert!(
        last.contains("pineapple") && last.contains("mango"),
        "the whole conversation is the supergroup's now: {last}"
    );
    assert_eq!(tg.count_to(GROUP), 1);
}

/// A message of the group that is still queued when the group has moved (its job runs after the upgrade):
/// it is answered in the supergroup, with the conversation, and replies to nothing there (the supergroup's
/// message ids start again, so the old id would name some other message).
#[actix_web::test]
async fn a_message_of_the_group_answered_after_the_upgrade_goes_to_the_supergroup() {
    let (env, bot) = group_with_one_answer().await;
    let tg = &env.telegram;
    tg.migrate_group(GROUP, SUPERGROUP);
    tg.push_migration_messages(ALLOWED_USER, GROUP, SUPERGROUP);
    wait_jobs_done(&bot, 3).await;

    tg.push_group_text(ALLOWED_USER, GROUP, "Team", "late: which word?");
    let answer = tg.wait_for_messages(SUPERGROUP, 1, T).await;

    assert_eq!(answer[0].text, "echo: User1001: late: which word?");
    assert_eq!(
        answer[0].reply_to, None,
        "no message of the supergroup is meant"
    );
    let last = env.llm.requests().last().unwrap().to_string();
    assert!(last.contains("pineapple"), "{last}");
    assert_eq!(tg.count_to(GROUP), 1);
}
