//! `/model` and `/role` through the real binary: the server's models and roles as keyboards, taps answered
//! and applied in the chat's order, the choice kept in SQLite across a restart, `ALLOWED_MODELS`, paging, a
//! stranger's tap, a stale keyboard, a server without roles, and the context window following the model.

use crate::support::bot::ALLOWED_USER;
use crate::support::fake_llm::{aichat_model, aichat_role};
use crate::support::{FakeTelegram, TestEnv};
use serde_json::{json, Value};
use std::time::Duration;

/// Generous: a debug build on a busy 2-core CI machine.
const T: Duration = Duration::from_secs(20);
const USER: i64 = ALLOWED_USER;
const GROUP: i64 = -4101;
const STRANGER: i64 = 2002;

/// aichat's list: `default`, two chat models, an embedding model.
fn catalog() -> Vec<Value> {
    vec![
        aichat_model("default", "chat"),
        aichat_model("openai:gpt-4o", "chat"),
        aichat_model("claude:sonnet", "chat"),
        aichat_model("openai:text-embedding-3-small", "embedding"),
    ]
}

/// A test environment whose model server lists [`catalog`] and refuses models it does not list.
fn env() -> TestEnv {
    let env = TestEnv::start().with("AICHAT_MODEL", "openai:gpt-4o");
    env.llm.set_models(catalog());
    env.llm.reject_unknown_models(true);
    env
}

/// The `callback_data` of the button whose label is `label` (with or without the ✓ mark).
fn button(tg: &FakeTelegram, chat: i64, message: i64, label: &str) -> String {
    let rows = tg.buttons_of(chat, message);
    rows.iter()
        .flatten()
        .find(|(text, _)| text.trim_start_matches("✓ ") == label)
        .map(|(_, data)| data.clone())
        .unwrap_or_else(|| panic!("no button {label:?}: {rows:?}"))
}

/// Taps `data` and waits for the bot's answer to the tap.
async fn tap(tg: &FakeTelegram, chat: i64, user: i64, message: i64, data: &str) -> Option<String> {
    let query = tg.tap(chat, user, message, data);
    tg.wait_until("the tap answered", T, |tg| {
        tg.callback_answer(&query).is_some()
    })
    .await;
    tg.callback_answer(&query).unwrap().text
}

/// The model of the newest chat request.
fn last_model(env: &TestEnv) -> String {
    let requests = env.llm.chat_requests();
    requests.last().unwrap()["model"]
        .as_str()
        .unwrap()
        .to_string()
}

#[actix_web::test]
async fn a_tap_on_the_model_keyboard_switches_this_chats_model_for_good() {
    let env = env();
    let mut bot = env.spawn_bot().await;
    let tg = &env.telegram;

    tg.push_text(USER, USER, "/model");
    let menu = tg.wait_for_messages(USER, 1, T).await[0].clone();
    let rows = tg.buttons_of(USER, menu.message_id);
    let labels: Vec<&str> = rows.iter().flatten().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        labels,
        ["default", "✓ gpt-4o", "sonnet"],
        "chat models only, one row each, the current one marked: {}",
        menu.plain
    );
    assert!(rows.iter().all(|row| row.len() == 1));
    assert!(menu.plain.contains("openai:gpt-4o"), "{}", menu.plain);

    let sonnet = button(tg, USER, menu.message_id, "sonnet");
    let answer = tap(tg, USER, USER, menu.message_id, &sonnet).await;
    assert_eq!(
        answer.as_deref(),
        Some("✓ This chat now uses claude:sonnet.")
    );
    assert_eq!(
        tg.current_text(USER, menu.message_id).as_deref(),
        Some("✓ This chat now uses claude:sonnet."),
        "the keyboard message says which model is used now"
    );
    assert!(
        tg.keyboard_of(USER, menu.message_id).is_none(),
        "and its keyboard is gone"
    );

    tg.push_text(USER, USER, "hello");
    tg.wait_for_messages(USER, 2, T).await;
    assert_eq!(last_model(&env), "claude:sonnet");

    bot.terminate(T).await.expect("a clean stop");
    let _bot = env.spawn_bot().await;
    tg.push_text(USER, USER, "after a restart");
    tg.wait_for_messages(USER, 3, T).await;
    assert_eq!(last_model(&env), "claude:sonnet", "kept in SQLite");
}

#[actix_web::test]
async fn a_typed_model_switches_directly_and_an_unknown_one_changes_nothing() {
    let env = env();
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;

    tg.push_text(USER, USER, "/model sonnet");
    let switched = tg.wait_for_messages(USER, 1, T).await;
    assert_eq!(switched[0].plain, "✓ This chat now uses claude:sonnet.");
    tg.push_text(USER, USER, "/model gtp-4o");
    let unknown = tg.wait_for_messages(USER, 2, T).await;
    assert!(
        unknown[1].plain.contains("Did you mean: openai:gpt-4o")
            && unknown[1].plain.contains("Nothing was changed"),
        "{}",
        unknown[1].plain
    );
    tg.push_text(USER, USER, "/model openai:text-embedding-3-small");
    tg.wait_for_messages(USER, 3, T).await;
    tg.push_text(USER, USER, "which model?");
    tg.wait_for_messages(USER, 4, T).await;

    assert_eq!(
        last_model(&env),
        "claude:sonnet",
        "an embedding model is no chat model"
    );
    assert_eq!(env.llm.chat_requests().len(), 1);
}

#[actix_web::test]
async fn allowed_models_limit_the_choice_and_thirty_models_come_in_pages() {
    let env = TestEnv::start()
        .with("AICHAT_MODEL", "openai:m00")
        .with("ALLOWED_MODELS", "openai:*");
    let mut models: Vec<Value> = (0..30)
        .map(|i| aichat_model(&format!("openai:m{i:02}"), "chat"))
        .collect();
    models.push(aichat_model("claude:sonnet", "chat"));
    env.llm.set_models(models);
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;

    tg.push_text(USER, USER, "/model");
    let menu = tg.wait_for_messages(USER, 1, T).await[0].clone();
    let rows = tg.buttons_of(USER, menu.message_id);
    assert_eq!(rows.len(), 9, "8 models and the page row: {rows:?}");
    let nav: Vec<&str> = rows[8].iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(nav, ["1/4", "▶"]);
    let next = rows[8][1].1.clone();
    assert!(tap(tg, USER, USER, menu.message_id, &next).await.is_none());
    let page = tg.buttons_of(USER, menu.message_id);
    assert_eq!(page[0][0].0, "m08", "the second page: {page:?}");
    let m09 = button(tg, USER, menu.message_id, "m09");
    tap(tg, USER, USER, menu.message_id, &m09).await;
    tg.push_text(USER, USER, "/model claude:sonnet");
    let refused = tg.wait_for_messages(USER, 2, T).await;
    assert!(
        refused[1].plain.contains("Nothing was changed"),
        "{}",
        refused[1].plain
    );
    tg.push_text(USER, USER, "hi");
    tg.wait_for_messages(USER, 3, T).await;

    assert_eq!(last_model(&env), "openai:m09");
    let every_label = rows
        .iter()
        .flatten()
        .map(|(t, _)| t.clone())
        .collect::<Vec<_>>();
    assert!(
        every_label.iter().all(|l| !l.contains("sonnet")),
        "{every_label:?}"
    );
}

#[actix_web::test]
async fn a_strangers_tap_and_a_tap_on_a_stale_keyboard_change_nothing_and_are_answered() {
    let env = env();
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;
    tg.push_named_group_text((USER, "Ann", None), GROUP, "Team", "/model");
    let menu = tg.wait_for_messages(GROUP, 1, T).await[0].clone();
    let sonnet = button(tg, GROUP, menu.message_id, "sonnet");

    let refused = tap(tg, GROUP, STRANGER, menu.message_id, &sonnet).await;
    assert_eq!(refused.as_deref(), Some("Access denied."));
    env.llm
        .set_models(vec![aichat_model("openai:gpt-4o", "chat")]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stale = tap(tg, GROUP, USER, menu.message_id, &sonnet).await;
    tg.push_named_group_text((USER, "Ann", None), GROUP, "Team", "@test_bot which model?");
    tg.wait_for_messages(GROUP, 2, T).await;

    assert!(
        stale
            .as_deref()
            .is_some_and(|t| t.contains("no longer available")),
        "{stale:?}"
    );
    assert_eq!(last_model(&env), "openai:gpt-4o");
}

#[actix_web::test]
async fn a_role_sets_the_prompt_and_its_model_and_off_takes_the_prompt_away() {
    let env = env();
    env.llm.set_roles(vec![
        aichat_role("coder", "You write code.", Some("claude:sonnet")),
        aichat_role("poet", "You write poems.", None),
    ]);
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;

    tg.push_text(USER, USER, "/role");
    let menu = tg.wait_for_messages(USER, 1, T).await[0].clone();
    let labels: Vec<String> = tg
        .buttons_of(USER, menu.message_id)
        .into_iter()
        .flatten()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(labels, ["coder", "poet", "✓ No role"]);
    let coder = button(tg, USER, menu.message_id, "coder");
    let answer = tap(tg, USER, USER, menu.message_id, &coder).await;
    assert!(
        answer
            .as_deref()
            .is_some_and(|a| a.contains("claude:sonnet")),
        "{answer:?}"
    );
    tg.push_text(USER, USER, "sort a list");
    tg.wait_for_messages(USER, 2, T).await;
    let request = env.llm.chat_requests().last().unwrap().clone();
    assert_eq!(request["messages"][0]["content"], "You write code.");
    assert_eq!(request["model"], "claude:sonnet");

    tg.push_text(USER, USER, "/role off");
    tg.wait_for_messages(USER, 3, T).await;
    tg.push_text(USER, USER, "and now?");
    tg.wait_for_messages(USER, 4, T).await;
    let request = env.llm.chat_requests().last().unwrap().clone();
    assert_ne!(request["messages"][0]["role"], json!("system"), "{request}");
    assert_eq!(request["model"], "claude:sonnet", "the model stays");
}

#[actix_web::test]
async fn a_server_without_roles_points_to_system() {
    let env = env();
    env.llm.set_roles_unavailable();
    let _bot = env.spawn_bot().await;

    env.telegram.push_text(USER, USER, "/role");
    let sent = env.telegram.wait_for_messages(USER, 1, T).await;

    assert!(
        sent[0].plain.contains("not available") && sent[0].plain.contains("/system"),
        "{}",
        sent[0].plain
    );
}

#[actix_web::test]
async fn the_context_window_follows_the_chats_model() {
    let env = env();
    let mut small = aichat_model("local:small", "chat");
    small["max_input_tokens"] = json!(8000);
    small["max_output_tokens"] = json!(1000);
    env.llm.set_models([catalog(), vec![small]].concat());
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;

    tg.push_text(USER, USER, "/model local:small");
    tg.wait_for_messages(USER, 1, T).await;
    tg.push_text(USER, USER, "/context");
    let sent = tg.wait_for_messages(USER, 2, T).await;

    assert!(
        sent[1].plain.contains("Model: local:small")
            && sent[1].plain.contains("Context window: 8,000 tokens")
            && sent[1]
                .plain
                .contains("Compression threshold: 6,000 tokens"),
        "{}",
        sent[1].plain
    );
}

#[actix_web::test]
async fn help_and_the_command_menu_list_model_role_cancel_and_retry() {
    let env = env();
    let _bot = env.spawn_bot().await;
    env.telegram.push_text(USER, USER, "/help");
    let help = env.telegram.wait_for_messages(USER, 1, T).await;

    for command in ["/model", "/role", "/cancel", "/retry"] {
        assert!(
            help[0].plain.contains(command),
            "{command}: {}",
            help[0].plain
        );
    }
    let menu = Value::Array(env.telegram.commands()).to_string();
    assert!(
        menu.contains("\"model\"") && menu.contains("\"role\""),
        "{menu}"
    );
}

#[actix_web::test]
async fn a_tap_during_an_answer_waits_for_it_and_the_answer_in_flight_keeps_its_model() {
    let env = env();
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;
    tg.push_text(USER, USER, "/model");
    let menu = tg.wait_for_messages(USER, 1, T).await[0].clone();
    let sonnet = button(tg, USER, menu.message_id, "sonnet");

    env.llm.set_first_token_delay(Duration::from_millis(1500));
    tg.push_text(USER, USER, "a slow question");
    env.llm.wait_for_requests(1, T).await;
    let answer = tap(tg, USER, USER, menu.message_id, &sonnet).await;
    let answered = tg.wait_for_messages(USER, 2, T).await;
    env.llm.set_first_token_delay(Duration::ZERO);
    tg.push_text(USER, USER, "the next one");
    tg.wait_for_messages(USER, 3, T).await;

    assert_eq!(
        answer.as_deref(),
        Some("✓ This chat now uses claude:sonnet.")
    );
    assert_eq!(answered[1].plain, "echo: a slow question");
    let models: Vec<String> = env
        .llm
        .chat_requests()
        .iter()
        .map(|r| r["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(models, ["openai:gpt-4o", "claude:sonnet"]);
    let switched = tg
        .edits_to(USER)
        .into_iter()
        .find(|e| e.message_id == menu.message_id)
        .expect("the keyboard message was edited");
    assert!(
        switched.at >= answered[1].at,
        "the switch waited for the answer in flight"
    );
}

#[actix_web::test]
async fn a_conversation_on_a_small_model_is_compressed_by_that_model_within_its_window() {
    let env = env()
        .with("COMPRESS_RATIO", "0.5")
        .with("KEEP_RECENT_MESSAGES", "2");
    let mut small = aichat_model("local:small", "chat");
    small["max_input_tokens"] = json!(2048);
    small["max_output_tokens"] = json!(256);
    env.llm.set_models([catalog(), vec![small]].concat());
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;
    tg.push_text(USER, USER, "/model local:small");
    tg.wait_for_messages(USER, 1, T).await;

    let long = |i: usize| format!("turn{i} {}", "lorem ipsum dolor sit amet ".repeat(22));
    for i in 1..=4 {
        tg.push_text(USER, USER, &long(i));
        tg.wait_for_messages(USER, 1 + i, T).await;
    }
    tg.wait_until("a compression", T, |_| {
        !env.llm.summary_requests().is_empty()
    })
    .await;

    let summary = &env.llm.summary_requests()[0];
    assert_eq!(
        summary["model"], "local:small",
        "summarised by the chat's model"
    );
    assert_eq!(
        last_model(&env),
        "local:small",
        "and its 2,048-token window made it due (AICHAT_MODEL's 128,000 would not)"
    );
}

#[actix_web::test]
async fn a_server_that_lists_no_chat_model_keeps_the_configured_one() {
    let env = env();
    env.llm.set_models(vec![aichat_model(
        "openai:text-embedding-3-small",
        "embedding",
    )]);
    env.llm.reject_unknown_models(false);
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;

    tg.push_text(USER, USER, "/model");
    let sent = tg.wait_for_messages(USER, 1, T).await;
    tg.push_text(USER, USER, "hi");
    tg.wait_for_messages(USER, 2, T).await;

    assert_eq!(
        sent[0].plain,
        "The model server lists no model I may offer, so this chat keeps using openai:gpt-4o."
    );
    assert!(tg.keyboard_of(USER, sent[0].message_id).is_none());
    assert_eq!(last_model(&env), "openai:gpt-4o");
}
