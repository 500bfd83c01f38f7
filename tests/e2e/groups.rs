//! Groups through the real binary: the bot answers only what addresses it (GROUP_MODE), who may talk
//! (ALLOWED_USER_IDS anywhere, every member of an ALLOWED_CHAT_IDS group), the speaker's name and the
//! reply context in the model's input, the group memory (GROUP_CONTEXT_MESSAGES), and the bot removed from
//! a group and added again.

use crate::support::bot::ALLOWED_USER;
use crate::support::{BotProcess, TestEnv};
use std::time::Duration;

/// Generous: a debug build on a busy 2-core CI machine.
const T: Duration = Duration::from_secs(20);

const GROUP: i64 = -4001;
const ANN: (i64, &str, Option<&str>) = (ALLOWED_USER, "Ann", Some("ann"));
const STRANGER: i64 = 2002;

/// The last user message of a model request, and its first (system) message.
fn last_user_and_system(request: &serde_json::Value) -> (String, String) {
    let messages = request["messages"].as_array().unwrap();
    let last = messages.iter().rev().find(|m| m["role"] == "user").unwrap();
    (
        last["content"].as_str().unwrap().to_string(),
        messages[0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[actix_web::test]
async fn in_a_group_the_bot_answers_each_form_of_address_and_nothing_else() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;

    tg.push_named_group_text(ANN, GROUP, "Team", "lunch at noon?");
    tg.push_named_group_text(ANN, GROUP, "Team", "/stats@other_bot");
    tg.push_named_group_text(ANN, GROUP, "Team", "@test_bot what is up?");
    let first = tg.wait_for_messages(GROUP, 1, T).await;
    tg.push_text_mention(
        ALLOWED_USER,
        GROUP,
        "Test Bot, and now?",
        "Test Bot",
        tg.bot_id(),
    );
    tg.wait_for_messages(GROUP, 2, T).await;
    tg.push_reply(ALLOWED_USER, GROUP, first[0].message_id, "really?", None);
    tg.wait_for_messages(GROUP, 3, T).await;
    tg.push_named_group_text(ANN, GROUP, "Team", "/help@test_bot");
    let sent = tg.wait_for_messages(GROUP, 4, T).await;

    let requests = env.llm.requests();
    assert_eq!(
        requests.len(),
        3,
        "chatter and /cmd@other_bot reach no model"
    );
    let (said, system) = last_user_and_system(&requests[0]);
    assert_eq!(said, "Ann: what is up?", "named, the mention taken out");
    assert!(system.contains("group conversation"), "{system}");
    assert_eq!(last_user_and_system(&requests[1]).0, "User1001: and now?");
    assert_eq!(
        last_user_and_system(&requests[2]).0,
        "[Replying to you: \"echo: Ann: what is up?\"]\nUser1001: really?"
    );
    assert!(
        sent[3].plain.contains("/clear"),
        "the help: {}",
        sent[3].plain
    );
    assert_eq!(tg.count_to(GROUP), 4);
}

#[actix_web::test]
async fn a_stranger_gets_silence_except_in_an_allowed_group() {
    let env = TestEnv::start().with("ALLOWED_CHAT_IDS", "-4002");
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;

    tg.push_named_group_text((STRANGER, "Zed", None), GROUP, "Team", "@test_bot hi");
    tg.push_named_group_text((STRANGER, "Zed", None), -4002, "Club", "@test_bot hi");
    let answered = tg.wait_for_messages(-4002, 1, T).await;

    assert_eq!(answered[0].text, "echo: Zed: hi");
    assert_eq!(tg.count_to(GROUP), 0, "silence elsewhere");
    assert_eq!(env.llm.request_count(), 1);
}

#[actix_web::test]
async fn with_group_mode_all_every_text_is_answered_and_with_off_the_group_is_told_once() {
    let env = TestEnv::start().with("GROUP_MODE", "all");
    let _bot = env.spawn_bot().await;
    env.telegram
        .push_named_group_text(ANN, GROUP, "Team", "lunch at noon?");
    let all = env.telegram.wait_for_messages(GROUP, 1, T).await;
    assert_eq!(all[0].text, "echo: Ann: lunch at noon?");

    let env = TestEnv::start().with("GROUP_MODE", "off");
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;
    tg.push_named_group_text(ANN, GROUP, "Team", "@test_bot hi");
    tg.push_named_group_text(ANN, GROUP, "Team", "@test_bot hello?");
    tg.push_text(ALLOWED_USER, ALLOWED_USER, "hi");
    tg.wait_for_messages(ALLOWED_USER, 1, T).await;
    let told = tg.wait_for_messages(GROUP, 1, T).await;

    assert!(told[0].plain.contains("private chats"), "{}", told[0].plain);
    assert_eq!(tg.count_to(GROUP), 1, "once");
    assert_eq!(env.llm.request_count(), 1, "only the private chat's");
}

#[actix_web::test]
async fn a_reply_in_a_private_chat_carries_the_quoted_text() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;
    tg.push_text(ALLOWED_USER, ALLOWED_USER, "name two fruits");
    let answer = tg.wait_for_messages(ALLOWED_USER, 1, T).await;

    tg.push_reply(
        ALLOWED_USER,
        ALLOWED_USER,
        answer[0].message_id,
        "why that?",
        Some("two fruits"),
    );
    tg.wait_for_messages(ALLOWED_USER, 2, T).await;

    let requests = env.llm.requests();
    assert_eq!(
        last_user_and_system(requests.last().unwrap()).0,
        "[Replying to you: \"two fruits\"]\nwhy that?"
    );
}

/// `API_TOKEN` of the tests that read the stored conversation through the admin API (16 characters or more).
const API_TOKEN: &str = "group-memory-token-0123456789";

/// The contents of every message of a model request, in order.
fn contents(request: &serde_json::Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[actix_web::test]
async fn with_group_memory_the_last_chatter_goes_once_to_the_model_and_is_never_stored_or_answered()
{
    let env = TestEnv::start()
        .with("GROUP_CONTEXT_MESSAGES", "3")
        .with("API_TOKEN", API_TOKEN);
    let bot = env.spawn_bot().await;
    let tg = &env.telegram;

    for n in ["one", "two", "three", "four", "five"] {
        tg.push_named_group_text(ANN, GROUP, "Team", &format!("chatter {n}"));
    }
    tg.push_named_group_text((STRANGER, "Zed", None), GROUP, "Team", "stranger chatter");
    tg.push_named_group_text(ANN, GROUP, "Team", "@test_bot what did we say?");
    tg.wait_for_messages(GROUP, 1, T).await;
    tg.push_named_group_text(ANN, GROUP, "Team", "@test_bot and now?");
    let sent = tg.wait_for_messages(GROUP, 2, T).await;

    let requests = env.llm.requests();
    assert_eq!(requests.len(), 2, "the chatter is not answered");
    let first = contents(&requests[0]);
    let n = first.len();
    assert_eq!(first[n - 1], "Ann: what did we say?");
    let memory = &first[n - 2];
    assert!(
        memory.starts_with("Recent messages in this group, not addressed to you:"),
        "{first:?}"
    );
    for kept in [
        "Ann: chatter three",
        "Ann: chatter four",
        "Ann: chatter five",
    ] {
        assert!(memory.contains(kept), "{kept} missing: {memory}");
    }
    for dropped in ["chatter one", "chatter two", "stranger chatter"] {
        assert!(!memory.contains(dropped), "{dropped} kept: {memory}");
    }
    let second = contents(&requests[1]);
    assert!(
        second.iter().all(|m| !m.contains("chatter")),
        "the chatter is given once and not stored: {second:?}"
    );
    assert_eq!(second.last().unwrap(), "Ann: and now?");
    assert_eq!(tg.count_to(GROUP), 2, "{sent:?}");
    let auth = format!("Bearer {API_TOKEN}");
    // The answer is stored just after it is shown.
    let deadline = std::time::Instant::now() + T;
    let stored = loop {
        let (status, stored) = bot
            .request_json(
                "GET",
                &format!("/api/sessions/{GROUP}/messages"),
                &[("Authorization", &auth)],
                None,
            )
            .await;
        assert_eq!(status, 200, "{stored}");
        let stored = stored["messages"].as_array().unwrap().clone();
        if stored.len() >= 4 || std::time::Instant::now() > deadline {
            break stored;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(stored.len(), 4, "two questions, two answers: {stored:?}");
    assert!(
        stored
            .iter()
            .all(|m| !m["content"].as_str().unwrap().contains("chatter")),
        "{stored:?}"
    );
    assert!(
        env.redis.keys("*groupctx*").is_empty(),
        "given, then cleared"
    );
}

#[actix_web::test]
async fn clear_forgets_the_groups_kept_messages_too() {
    let env = TestEnv::start().with("GROUP_CONTEXT_MESSAGES", "3");
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;

    tg.push_named_group_text(ANN, GROUP, "Team", "chatter before the clear");
    tg.push_named_group_text(ANN, GROUP, "Team", "/clear");
    tg.wait_for_messages(GROUP, 1, T).await;
    tg.push_named_group_text(ANN, GROUP, "Team", "@test_bot a fresh start?");
    tg.wait_for_messages(GROUP, 2, T).await;

    let request = &env.llm.requests()[0];
    assert!(
        contents(request).iter().all(|m| !m.contains("chatter")),
        "what was said before /clear is gone: {request}"
    );
    assert!(env.redis.keys("*groupctx*").is_empty());
}

#[actix_web::test]
async fn without_group_memory_chatter_is_not_kept_anywhere() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;

    tg.push_named_group_text(ANN, GROUP, "Team", "chatter one");
    tg.push_named_group_text(ANN, GROUP, "Team", "@test_bot hi");
    tg.wait_for_messages(GROUP, 1, T).await;

    let request = &env.llm.requests()[0];
    assert!(
        contents(request).iter().all(|m| !m.contains("chatter")),
        "{request}"
    );
    assert!(env.redis.keys("*groupctx*").is_empty());
}

/// The group's `blocked_at` as the admin API shows it (`GET /api/sessions/{id}`).
async fn blocked_at(bot: &BotProcess, chat: i64) -> serde_json::Value {
    let (status, body) = bot
        .get_json_as(&format!("/api/sessions/{chat}"), API_TOKEN)
        .await;
    assert_eq!(status, 200, "{body}");
    body["session"]["blocked_at"].clone()
}

#[actix_web::test]
async fn removed_from_a_group_its_queued_messages_end_quietly_and_once_re_added_it_is_answered_again(
) {
    let env = TestEnv::start().with("API_TOKEN", API_TOKEN);
    let bot = env.spawn_bot().await;
    let tg = &env.telegram;
    tg.push_named_group_text(ANN, GROUP, "Team", "@test_bot hello");
    tg.wait_for_messages(GROUP, 1, T).await;
    assert!(blocked_at(&bot, GROUP).await.is_null());

    // One message is with the (slow) model, one waits behind it, when an admin removes the bot.
    env.llm.set_first_token_delay(Duration::from_secs(3));
    tg.push_named_group_text(ANN, GROUP, "Team", "@test_bot slow question");
    env.llm.wait_for_requests(2, T).await;
    tg.push_named_group_text(ANN, GROUP, "Team", "@test_bot queued question");
    tg.remove_bot_from(ALLOWED_USER, GROUP, true);
    let deadline = tokio::time::Instant::now() + T;
    while blocked_at(&bot, GROUP).await.is_null() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never marked inactive"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let removed_at = blocked_at(&bot, GROUP).await;
    tg.wait_until("the slow answer refused with 403", T, |tg| {
        tg.calls_of("sendMessage")
            .iter()
            .any(|c| c.status == 403 && c.params["chat_id"] == GROUP)
    })
    .await;
    env.llm.set_first_token_delay(Duration::ZERO);
    tg.add_bot_to(ALLOWED_USER, GROUP);
    tg.push_named_group_text(ANN, GROUP, "Team", "@test_bot back again");
    let sent = tg.wait_for_messages(GROUP, 2, T).await;

    assert!(removed_at.is_i64(), "blocked_at: {removed_at}");
    assert_eq!(sent[1].text, "echo: Ann: back again");
    let requests = env.llm.requests();
    assert_eq!(
        requests.len(),
        3,
        "the message queued when the bot was removed reached no model"
    );
    assert!(
        requests
            .iter()
            .all(|r| !r.to_string().contains("queued question")),
        "nor the conversation"
    );
    assert!(blocked_at(&bot, GROUP).await.is_null(), "active again");
    assert_eq!(tg.count_to(GROUP), 2, "nothing else was sent");
}
