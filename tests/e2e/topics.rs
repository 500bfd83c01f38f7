//! Forum topics through the real binary: in a supergroup with topics each topic is its own conversation
//! (history, system prompt, group memory, `/clear`, `/stats`), and every answer, notice and "typing…" goes
//! into the topic it answers; a forum's General topic is the chat's own conversation.

use crate::support::bot::ALLOWED_USER;
use crate::support::TestEnv;
use std::time::Duration;

/// Generous: a debug build on a busy 2-core CI machine.
const T: Duration = Duration::from_secs(20);

const FORUM: i64 = -1_009_001;
const ANN: i64 = ALLOWED_USER;

/// Every message's content of a model request, in order (the system prompt first).
fn contents(request: &serde_json::Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[actix_web::test]
async fn each_forum_topic_is_a_conversation_of_its_own_and_its_answers_go_into_it() {
    let env = TestEnv::start().with("GROUP_CONTEXT_MESSAGES", "3");
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;
    let plans = tg.open_topic(ANN, FORUM, "Team", "Plans");
    let food = tg.open_topic(ANN, FORUM, "Team", "Food");

    tg.push_topic_text(ANN, FORUM, plans, "@test_bot the code is 42");
    let sent = tg.wait_for_messages(FORUM, 1, T).await;
    tg.push_topic_text(ANN, FORUM, food, "pizza tonight, anyone?");
    tg.push_topic_text(ANN, FORUM, food, "@test_bot what is the code?");
    let sent = [sent, tg.wait_for_messages(FORUM, 2, T).await].concat();

    assert_eq!(sent[0].thread, Some(plans), "{}", tg.dump());
    assert_eq!(sent[2].thread, Some(food));
    let requests = env.llm.requests();
    assert_eq!(
        requests.len(),
        2,
        "the topics' service messages and the chatter reach no model"
    );
    let food_input = contents(&requests[1]);
    assert!(
        food_input.iter().all(|m| !m.contains("42")),
        "the other topic's history stays there: {food_input:?}"
    );
    assert!(
        food_input.iter().any(|m| m.contains("pizza tonight")),
        "the topic's own chatter goes with its turn: {food_input:?}"
    );
    assert_eq!(
        food_input.last().unwrap(),
        "User1001: what is the code?",
        "a topic's messages reply to its opening message, which is nobody's reply"
    );

    tg.push_topic_text(ANN, FORUM, plans, "/system Answer in French.");
    tg.push_topic_text(ANN, FORUM, food, "/clear");
    let replies = tg.wait_for_messages(FORUM, 4, T).await;
    assert_eq!(
        replies[2].thread,
        Some(plans),
        "a command's reply goes into its topic"
    );
    assert_eq!(replies[3].thread, Some(food));

    env.llm.set_first_token_delay(Duration::from_millis(1500));
    tg.push_topic_text(ANN, FORUM, plans, "@test_bot and now?");
    tg.wait_for_messages(FORUM, 5, T).await;
    env.llm.set_first_token_delay(Duration::ZERO);
    tg.push_topic_text(ANN, FORUM, food, "@test_bot hello?");
    tg.wait_for_messages(FORUM, 6, T).await;

    let requests = env.llm.requests();
    let plans_input = contents(&requests[2]);
    assert!(
        plans_input[0].contains("Answer in French."),
        "{plans_input:?}"
    );
    assert!(
        plans_input.iter().any(|m| m.contains("the code is 42")),
        "the topic's history: {plans_input:?}"
    );
    let food_input = contents(&requests[3]);
    assert!(
        !food_input[0].contains("French"),
        "a topic's /system is its own: {food_input:?}"
    );
    assert_eq!(
        food_input.len(),
        2,
        "/clear in a topic forgot that topic's history: {food_input:?}"
    );
    assert!(
        tg.chat_actions_in_topics()
            .contains(&(FORUM, Some(plans), "typing".to_string())),
        "'typing…' shows in the topic: {:?}",
        tg.chat_actions_in_topics()
    );

    tg.push_topic_text(ANN, FORUM, plans, "/stats");
    let stats = tg.wait_for_messages(FORUM, 7, T).await;
    assert_eq!(stats[6].thread, Some(plans));
    assert!(
        stats[6]
            .plain
            .starts_with("Messages: 4 (2 from you, 2 from me)"),
        "the topic's own figures, not the forum's: {}",
        stats[6].plain
    );
}

#[actix_web::test]
async fn the_general_topic_of_a_forum_is_the_chats_own_conversation() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;
    let plans = tg.open_topic(ANN, FORUM, "Team", "Plans");

    tg.push_topic_text(ANN, FORUM, plans, "@test_bot in plans");
    tg.wait_for_messages(FORUM, 1, T).await;
    tg.push_named_group_text(
        (ANN, "Ann", Some("ann")),
        FORUM,
        "Team",
        "@test_bot in general",
    );
    let sent = tg.wait_for_messages(FORUM, 2, T).await;

    assert_eq!(sent[1].thread, None, "General: no message_thread_id");
    let general = contents(&env.llm.requests()[1]);
    assert!(
        general.iter().all(|m| !m.contains("in plans")),
        "{general:?}"
    );
}

#[actix_web::test]
async fn a_topic_closed_while_its_answer_is_written_ends_the_job_quietly_and_the_forum_goes_on() {
    let env = TestEnv::start();
    let bot = env.spawn_bot().await;
    let tg = &env.telegram;
    let plans = tg.open_topic(ANN, FORUM, "Team", "Plans");
    let food = tg.open_topic(ANN, FORUM, "Team", "Food");
    env.llm.set_first_token_delay(Duration::from_millis(800));

    tg.push_topic_text(ANN, FORUM, plans, "@test_bot a slow question");
    env.llm.wait_for_requests(1, T).await;
    tg.close_topic(FORUM, plans);
    bot.wait_for_log("the topic is closed or gone", T).await;
    env.llm.set_first_token_delay(Duration::ZERO);
    tg.push_topic_text(ANN, FORUM, food, "@test_bot still here?");
    let sent = tg.wait_for_messages(FORUM, 1, T).await;

    assert_eq!(sent[0].thread, Some(food));
    assert_eq!(
        tg.count_to(FORUM),
        1,
        "nothing went to the closed topic, no failure notice either"
    );
    assert!(!bot.logs().contains("dead-lettered"), "{}", bot.logs());
}
