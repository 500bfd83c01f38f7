//! Streaming answers through the real binary: progressive delivery, formatting, long answers, Telegram's
//! errors and limits, /cancel and /retry.

use crate::support::bot::ALLOWED_USER;
use crate::support::{Behaviour, Fault, TestEnv};
use aichat_telegram_bot::telegram::{html_to_plain, markdown_to_telegram_html};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// What the bot last sent for each of its messages in the chat (the raw text, HTML tags included).
fn shown_raw(env: &TestEnv, chat: i64) -> Vec<String> {
    let edits = env.telegram.edits();
    env.telegram
        .messages_to(chat)
        .iter()
        .map(|m| {
            edits
                .iter()
                .rev()
                .find(|e| e.chat_id == chat && e.message_id == m.message_id)
                .map_or_else(|| m.text.clone(), |e| e.text.clone())
        })
        .collect()
}

/// The texts the chat shows now, in order (edits applied, as the user sees them: tags stripped).
fn shown(env: &TestEnv, chat: i64) -> Vec<String> {
    env.telegram
        .messages_to(chat)
        .iter()
        .map(|m| {
            env.telegram
                .current_text(chat, m.message_id)
                .unwrap_or_default()
        })
        .collect()
}

/// Waits until the bot's last message in the chat shows `expected` (the final edit can come a moment after
/// the message exists).
async fn wait_shown(env: &TestEnv, chat: i64, what: &str, pred: impl Fn(&[String]) -> bool) {
    env.telegram
        .wait_until(what, T, |_| pred(&shown(env, chat)))
        .await;
}

fn words(n: usize) -> String {
    (0..n)
        .map(|i| format!("word{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[actix_web::test]
async fn an_answer_appears_as_it_is_written_and_ends_complete_and_formatted() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    let answer = format!("Here is **the plan** with `code`:\n\n{}", words(150));
    env.llm.set_behaviour(Behaviour::Fixed(answer.clone()));
    env.llm.set_chunk_delay(Duration::from_millis(15));

    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "plan?");
    let first = env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;
    let first_text = first[0].text.clone();
    let expected_html = markdown_to_telegram_html(&answer);
    env.telegram
        .wait_until("the formatted answer", T, |tg| {
            tg.edits()
                .last()
                .is_some_and(|e| e.parse_mode.as_deref() == Some("HTML"))
        })
        .await;
    assert_eq!(shown_raw(&env, ALLOWED_USER), vec![expected_html.clone()]);
    assert_eq!(shown(&env, ALLOWED_USER), [html_to_plain(&expected_html)]);

    assert!(
        first_text.len() < answer.len(),
        "the first text came before the answer was complete"
    );
    let edits = env.telegram.edits();
    assert!(
        edits.len() >= 2,
        "edited as more arrived, then formatted: {edits:?}"
    );
    assert!(edits.last().unwrap().parse_mode.as_deref() == Some("HTML"));
    assert!(
        expected_html.contains("<b>the plan</b>") && expected_html.contains("<code>code</code>")
    );
    for pair in edits.windows(2) {
        assert_ne!(pair[0].text, pair[1].text, "never an identical edit");
    }
}

#[actix_web::test]
async fn a_20000_character_answer_with_code_blocks_arrives_complete_and_well_formed() {
    let env = TestEnv::start();
    let bot = env.spawn_bot().await;
    let mut answer = String::new();
    for i in 0..16 {
        answer.push_str(&format!(
            "## Part {i}\n\nSome *text* & more {}\n\n",
            words(120)
        ));
        answer.push_str(&format!(
            "```rust\nfn part_{i}() -> Vec<u8> {{\n    let x = {i} < 10 && true;\n{}}}\n```\n\n",
            "    // line\n".repeat(30)
        ));
    }
    assert!(answer.len() > 20_000, "{}", answer.len());
    env.llm.set_behaviour(Behaviour::Fixed(answer.clone()));

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "write a lot");
    let expected = html_to_plain(&markdown_to_telegram_html(&answer));
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    wait_shown(&env, ALLOWED_USER, "the whole answer", |texts| {
        squash(&texts.concat()) == squash(&expected)
    })
    .await;

    let texts = shown_raw(&env, ALLOWED_USER);
    assert!(
        texts.len() >= 6,
        "split over several messages: {}",
        texts.len()
    );
    for t in &texts {
        let units: usize = html_to_plain(t).chars().map(char::len_utf16).sum();
        assert!(units <= 4096, "{units}");
        assert!(
            t.contains("<pre>") || t.contains("<b>"),
            "formatted: {t:.200}"
        );
    }
    assert!(
        !bot.logs().contains("refused the formatting"),
        "Telegram accepted every piece's HTML"
    );
}

#[actix_web::test]
async fn html_that_telegram_refuses_is_shown_as_plain_text_without_losing_anything() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Fixed("**Bold** claim".into()));
    env.telegram.fail_next(
        "editMessageText",
        Fault::Custom {
            status: 400,
            description:
                "Bad Request: can't parse entities: Unsupported start tag \"b\" at byte offset 0"
                    .into(),
        },
    );
    env.telegram.fail_next(
        "sendMessage",
        Fault::Custom {
            status: 400,
            description:
                "Bad Request: can't parse entities: Unsupported start tag \"b\" at byte offset 0"
                    .into(),
        },
    );

    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "claim?");
    wait_shown(&env, ALLOWED_USER, "the plain fallback", |texts| {
        texts.last().is_some_and(|t| t == "Bold claim")
    })
    .await;
}

#[actix_web::test]
async fn flood_control_during_a_stream_loses_nothing() {
    let mut env = TestEnv::start();
    env.set("ALLOWED_USER_IDS", "*");
    let _bot = env.spawn_bot().await;
    env.telegram.set_rate_limits(true);
    env.llm.set_chunk_delay(Duration::from_millis(5));
    env.telegram
        .fail_next("editMessageText", Fault::TooManyRequests { retry_after: 1 });
    env.telegram
        .fail_next("sendMessage", Fault::TooManyRequests { retry_after: 1 });
    let chats: Vec<i64> = (9001..=9010).collect();

    for c in &chats {
        env.llm
            .push_answer(format!("answer for {c}: {}", words(80)));
        env.telegram.push_text(*c, *c, "go");
    }
    for c in &chats {
        wait_shown(&env, *c, "a complete answer", |texts| {
            texts.len() == 1 && texts[0].starts_with("answer for") && texts[0].ends_with("word79")
        })
        .await;
    }
}

#[actix_web::test]
async fn twenty_groups_streaming_long_answers_at_once_get_them_complete_and_formatted_without_a_429(
) {
    let mut env = TestEnv::start();
    env.set("MAX_CONCURRENT_JOBS", "32");
    let _bot = env.spawn_bot().await;
    env.telegram.set_rate_limits(true);
    env.llm.set_first_token_delay(Duration::from_millis(300));
    // About 30 s of streaming per answer: longer than a group's minute budget allows at the private pace.
    env.llm.set_chunk_delay(Duration::from_millis(35));
    let groups: Vec<i64> = (1..=20).map(|i| -7000 - i).collect();
    let answer = |group: i64| format!("Answer **{}**: {}", -group, words(350));
    for group in &groups {
        env.llm.push_answer(answer(*group));
    }

    for group in &groups {
        env.telegram.push_group_text(
            ALLOWED_USER,
            *group,
            &format!("Team {}", -group),
            "@test_bot tell me a long story",
        );
    }

    // The LLM's answers go out in the order it is asked: each group gets one of them, whole.
    let expected: Vec<String> = groups
        .iter()
        .map(|g| markdown_to_telegram_html(&answer(*g)))
        .collect();
    let formatted = |env: &TestEnv, group: i64| {
        let raw = shown_raw(env, group);
        raw.len() == 1 && expected.contains(&raw[0])
    };
    env.telegram
        .wait_until(
            "every group's complete, formatted answer",
            Duration::from_secs(150),
            |_| groups.iter().all(|g| formatted(&env, *g)),
        )
        .await;
    let mut answers: Vec<String> = groups
        .iter()
        .map(|g| shown_raw(&env, *g).concat())
        .collect();
    answers.sort();
    answers.dedup();
    assert_eq!(
        answers.len(),
        groups.len(),
        "every group got its own answer"
    );
    assert_eq!(
        env.telegram.rate_limited_count(),
        0,
        "no call went over a group's 20 a minute (or the bot's 30 a second)"
    );
    for group in &groups {
        let edits = env.telegram.edits_to(*group).len();
        assert!(
            (3..20).contains(&edits),
            "group {group}: the answer grew in a few large edits, not {edits}"
        );
    }
}

#[actix_web::test]
async fn cancel_stops_the_answer_and_keeps_the_part_already_written() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    env.llm.set_behaviour(Behaviour::Fixed(words(400)));
    env.llm.set_chunk_delay(Duration::from_millis(40));

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "talk for a long time");
    wait_shown(&env, ALLOWED_USER, "a few words of the answer", |texts| {
        texts.iter().any(|t| t.contains("word5 "))
    })
    .await;
    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "/cancel");
    wait_shown(
        &env,
        ALLOWED_USER,
        "the stopped answer and the reply to /cancel",
        |texts| {
            texts.iter().any(|t| t.contains("Stopped."))
                && texts.iter().any(|t| t.contains("Stopping the answer"))
        },
    )
    .await;

    let texts = shown(&env, ALLOWED_USER);
    let answer = texts.iter().find(|t| t.contains("Stopped.")).unwrap();
    assert!(answer.starts_with("word0 word1"), "{answer}");
    assert!(!answer.contains("word399"), "stopped before the end");
    assert!(
        texts.iter().any(|t| t.contains("Stopping the answer")),
        "{texts:?}"
    );
    // The partial answer is the chat's history now.
    env.llm.set_behaviour(Behaviour::Echo);
    env.llm.set_chunk_delay(Duration::ZERO);
    let n = env.telegram.messages_to(ALLOWED_USER).len();
    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "and?");
    env.telegram.wait_for_messages(ALLOWED_USER, n + 1, T).await;
    let last = env.llm.requests().last().unwrap().to_string();
    assert!(
        last.contains("word0 word1") && !last.contains("Stopped."),
        "{last:.300}"
    );
}

#[actix_web::test]
async fn retry_regenerates_the_last_answer_and_replaces_it_in_the_history() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    env.llm.set_behaviour(Behaviour::Fixed("first try".into()));
    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "tell me a joke");
    wait_shown(&env, ALLOWED_USER, "the first answer", |t| {
        t == ["first try"]
    })
    .await;

    env.llm.set_behaviour(Behaviour::Fixed("second try".into()));
    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "/retry");
    wait_shown(&env, ALLOWED_USER, "the new answer", |t| {
        t.len() == 2 && t[1] == "second try"
    })
    .await;

    let retry_request = env.llm.requests()[1].to_string();
    assert!(retry_request.contains("tell me a joke"));
    assert!(
        !retry_request.contains("first try"),
        "the old answer is not in the context"
    );
    env.llm.set_behaviour(Behaviour::Echo);
    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "again");
    env.telegram.wait_for_messages(ALLOWED_USER, 3, T).await;
    let next = env.llm.requests()[2].to_string();
    assert!(
        next.contains("second try") && !next.contains("first try"),
        "{next}"
    );
}

#[actix_web::test]
async fn a_user_who_blocked_the_bot_ends_the_job_quietly() {
    let env = TestEnv::start();
    let bot = env.spawn_bot().await;
    env.telegram.fail_next("sendMessage", Fault::Forbidden);

    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "hi");
    bot.wait_for_log("unreachable", T).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert!(env.telegram.sent_messages().is_empty());
    assert_eq!(env.llm.request_count(), 1, "not retried");
    let (_, ready) = bot.get_json("/ready").await;
    assert_eq!(
        ready["queue"]["dead"], 0,
        "not a failure to dead-letter: {ready}"
    );
}

#[actix_web::test]
async fn cancel_after_an_answer_whose_delivery_failed_says_nothing_is_running() {
    let env = TestEnv::start();
    let bot = env.spawn_bot().await;
    // The first text of the answer cannot be delivered: the job ends in the middle of the stream.
    env.llm.set_behaviour(Behaviour::Fixed(words(200)));
    env.llm.set_chunk_delay(Duration::from_millis(20));
    env.telegram.fail_next("sendMessage", Fault::Forbidden);
    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "hi");
    bot.wait_for_log("unreachable", T).await;

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "/cancel");
    let sent = env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;

    assert_eq!(
        sent[0].text, "There is no answer in progress to stop.",
        "nothing runs in this chat any more"
    );
}

#[actix_web::test]
async fn an_answer_whose_body_ends_when_the_server_closes_the_connection_arrives_whole() {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    let answer = format!("All of it: {}", words(40));
    env.llm.set_close_delimited(true);
    env.llm.set_behaviour(Behaviour::Fixed(answer.clone()));
    env.llm.set_chunk_delay(Duration::from_millis(5));

    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "everything please");
    wait_shown(&env, ALLOWED_USER, "the whole answer", |texts| {
        texts.iter().any(|t| t.contains("word39"))
    })
    .await;

    assert_eq!(shown(&env, ALLOWED_USER), [answer], "no cut-off note");
}

#[actix_web::test]
async fn an_answer_cut_by_the_length_limit_or_the_content_filter_says_so_and_the_note_stays_out_of_the_history(
) {
    let env = TestEnv::start();
    let _bot = env.spawn_bot().await;
    let finished = |answer: &str, finish_reason: &str| Behaviour::Finished {
        answer: answer.into(),
        finish_reason: finish_reason.into(),
    };
    env.llm.push_once(finished("A long story that", "length"));
    env.llm
        .push_once(finished("Something the", "content_filter"));
    env.llm.push_once(finished("A complete answer.", "stop"));

    let expected = [
        "A long story that\n\n(The answer was cut off: it reached the model's length limit.)",
        "Something the\n\n(The model server's content filter stopped this answer.)",
        "A complete answer.",
    ];

    for (i, question) in ["tell a story", "say it", "and now?"].iter().enumerate() {
        env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, question);
        wait_shown(&env, ALLOWED_USER, expected[i], |texts| {
            texts.len() == i + 1 && texts[i] == expected[i]
        })
        .await;
    }

    assert_eq!(shown(&env, ALLOWED_USER), expected);
    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, "go on");
    env.telegram.wait_for_messages(ALLOWED_USER, 4, T).await;
    let next = env.llm.chat_requests().last().unwrap().to_string();
    assert!(
        next.contains("A long story that") && next.contains("Something the"),
        "the answers are in the history: {next}"
    );
    assert!(
        !next.contains("cut off") && !next.contains("content filter"),
        "the notes are not: {next}"
    );
}
