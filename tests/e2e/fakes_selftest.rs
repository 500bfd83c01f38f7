//! Proof that the fakes behave like the services they stand for: if these pass, a bot that works
//! against the fakes has been held to the real services' rules.

use std::time::{Duration, Instant};

use aichat_telegram_bot::ids::{ChatId, Conversation};
use aichat_telegram_bot::secret::Secret;
use aichat_telegram_bot::telegram::types::{IncomingUpdate, MemberStatus};
use aichat_telegram_bot::telegram::{BotApi, TelegramError};
use serde_json::{json, Value};

use crate::support::fake_telegram::MAX_TEXT_UTF16;
use crate::support::{Behaviour, FakeLlm, FakeTelegram, Fault, RedisServer};

const TOKEN: &str = "123456:TEST-secret-token-abc";
const USER: i64 = 1001;

/// Calls a Bot API method with a JSON body, as the bot does.
async fn call(tg: &FakeTelegram, method: &str, params: Value) -> (u16, Value) {
    call_with_token(tg, TOKEN, method, params).await
}

async fn call_with_token(
    tg: &FakeTelegram,
    token: &str,
    method: &str,
    params: Value,
) -> (u16, Value) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let url = format!("{}/bot{token}/{method}", tg.url());
    let mut resp = client.post(&url).send_json(&params).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.body().limit(8 * 1024 * 1024).await.unwrap();
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    (status, value)
}

async fn post_llm(llm: &FakeLlm, body: Value, headers: &[(&str, &str)]) -> (u16, String) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let mut request = client.post(format!("{}/v1/chat/completions", llm.url()));
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let mut resp = request.send_json(&body).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.body().await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn update_ids(result: &Value) -> Vec<i64> {
    result["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .collect()
}

fn assert_bad_request(answer: &(u16, Value), description: &str) {
    assert_eq!(answer.0, 400, "{answer:?}");
    assert_eq!(answer.1["ok"], json!(false), "{answer:?}");
    assert_eq!(answer.1["error_code"], json!(400), "{answer:?}");
    let actual = answer.1["description"].as_str().unwrap();
    assert!(
        actual.starts_with(description),
        "expected {description:?}, got {actual:?}"
    );
}

// ----- Telegram: updates --------------------------------------------------------------------

#[actix_web::test]
async fn fakes_telegram_redelivers_an_update_until_an_offset_confirms_it_and_forgets_it_after() {
    let tg = FakeTelegram::start(TOKEN);
    let first = tg.push_text(USER, USER, "hello");
    let second = tg.push_text(USER, USER, "again");

    let (status, once) = call(&tg, "getUpdates", json!({})).await;
    let (_, twice) = call(&tg, "getUpdates", json!({ "offset": first })).await;
    let (_, after_confirm) = call(&tg, "getUpdates", json!({ "offset": first + 1 })).await;
    let (_, back_to_zero) = call(&tg, "getUpdates", json!({})).await;

    assert_eq!(status, 200);
    assert_eq!(once["ok"], json!(true));
    assert_eq!(update_ids(&once), vec![first, second]);
    assert_eq!(
        update_ids(&twice),
        vec![first, second],
        "not confirmed yet: delivered again"
    );
    assert_eq!(update_ids(&after_confirm), vec![second]);
    assert_eq!(
        update_ids(&back_to_zero),
        vec![second],
        "a confirmed update never comes back"
    );
    assert_eq!(tg.confirmed_below(), first + 1);
    assert_eq!(tg.pending_update_ids(), vec![second]);
    let message = &once["result"][0]["message"];
    assert_eq!(message["text"], json!("hello"));
    assert_eq!(message["chat"]["type"], json!("private"));
    assert_eq!(message["from"]["id"], json!(USER));
}

#[actix_web::test]
async fn fakes_telegram_honours_limit_and_marks_commands_with_a_bot_command_entity() {
    let tg = FakeTelegram::start(TOKEN);
    let first = tg.push_text(USER, USER, "/start now");
    tg.push_text(USER, USER, "two");
    tg.push_photo(USER, USER);

    let (_, limited) = call(&tg, "getUpdates", json!({ "limit": 1 })).await;
    let (_, zero) = call(&tg, "getUpdates", json!({ "limit": "0" })).await;
    let (_, all) = call(&tg, "getUpdates", json!({ "limit": 500 })).await;

    assert_eq!(update_ids(&limited), vec![first]);
    assert_eq!(
        update_ids(&zero),
        vec![first],
        "limit is clamped to 1..=100, not refused"
    );
    assert_eq!(update_ids(&all).len(), 3);
    let entity = &limited["result"][0]["message"]["entities"][0];
    assert_eq!(
        entity,
        &json!({ "offset": 0, "length": 6, "type": "bot_command" })
    );
    let photo = &all["result"][2]["message"];
    assert!(photo["text"].is_null());
    assert_eq!(photo["photo"].as_array().unwrap().len(), 3);
}

#[actix_web::test]
async fn fakes_telegram_long_poll_returns_early_when_an_update_is_pushed() {
    let tg = FakeTelegram::start(TOKEN);
    let started = Instant::now();

    let poll = call(&tg, "getUpdates", json!({ "timeout": 10 }));
    let push = async {
        tg.wait_for_polls(1, Duration::from_secs(5)).await;
        tg.push_text(USER, USER, "wake up")
    };
    let ((status, answer), pushed) = futures_util::future::join(poll, push).await;

    assert_eq!(status, 200);
    assert_eq!(update_ids(&answer), vec![pushed]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn fakes_telegram_long_poll_returns_an_empty_list_after_the_timeout() {
    let tg = FakeTelegram::start(TOKEN);
    let started = Instant::now();

    let (status, answer) = call(&tg, "getUpdates", json!({ "timeout": 1, "offset": 5 })).await;

    let elapsed = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(answer, json!({ "ok": true, "result": [] }));
    assert!(
        elapsed >= Duration::from_millis(950),
        "returned after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "returned after {elapsed:?}"
    );
    let calls = tg.get_updates_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].offset, calls[0].timeout, calls[0].limit),
        (Some(5), 1, 100)
    );
}

#[actix_web::test]
async fn fakes_telegram_answers_a_waiting_get_updates_with_409_when_a_second_one_arrives() {
    let tg = FakeTelegram::start(TOKEN);

    let first = call(&tg, "getUpdates", json!({ "timeout": 10 }));
    let second = async {
        tg.wait_for_polls(1, Duration::from_secs(5)).await;
        call(&tg, "getUpdates", json!({ "timeout": 0 })).await
    };
    let ((first_status, first_answer), (second_status, second_answer)) =
        futures_util::future::join(first, second).await;

    assert_eq!(first_status, 409);
    assert_eq!(
        first_answer,
        json!({
            "ok": false,
            "error_code": 409,
            "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
        })
    );
    assert_eq!(
        (second_status, second_answer),
        (200, json!({ "ok": true, "result": [] }))
    );
}

#[actix_web::test]
async fn fakes_telegram_refuses_get_updates_while_a_webhook_is_set_until_delete_webhook() {
    let tg = FakeTelegram::start(TOKEN);
    tg.set_webhook(Some("https://example.org/hook"));

    let refused = call(&tg, "getUpdates", json!({})).await;
    let deleted = call(
        &tg,
        "deleteWebhook",
        json!({ "drop_pending_updates": false }),
    )
    .await;
    let accepted = call(&tg, "getUpdates", json!({})).await;

    assert_eq!(refused.0, 409);
    assert!(refused.1["description"]
        .as_str()
        .unwrap()
        .contains("webhook is active"));
    assert_eq!(deleted, (200, json!({ "ok": true, "result": true })));
    assert_eq!(accepted.0, 200);
}

#[actix_web::test]
async fn fakes_telegram_stops_creating_update_types_left_out_of_allowed_updates() {
    let tg = FakeTelegram::start(TOKEN);
    call(
        &tg,
        "getUpdates",
        json!({ "allowed_updates": ["callback_query"] }),
    )
    .await;

    tg.push_text(USER, USER, "not wanted");
    let (_, answer) = call(&tg, "getUpdates", json!({})).await;

    assert_eq!(update_ids(&answer), Vec::<i64>::new());
    assert_eq!(tg.dropped_updates().len(), 1);
}

// ----- Telegram: authentication, methods ----------------------------------------------------

#[actix_web::test]
async fn fakes_telegram_answers_401_for_a_wrong_token_on_every_method() {
    let tg = FakeTelegram::start(TOKEN);

    for method in ["getMe", "getUpdates", "sendMessage", "noSuchMethod"] {
        let answer = call_with_token(&tg, "123456:wrong-secret", method, json!({})).await;
        assert_eq!(
            answer,
            (
                401,
                json!({ "ok": false, "error_code": 401, "description": "Unauthorized" })
            ),
            "{method}"
        );
    }
}

#[actix_web::test]
async fn fakes_telegram_answers_404_for_an_unknown_method_and_describes_the_bot_on_get_me() {
    let tg = FakeTelegram::start(TOKEN);

    let unknown = call(&tg, "sendTelepathy", json!({})).await;
    let me = call(&tg, "getme", json!({})).await;

    assert_eq!(
        unknown,
        (
            404,
            json!({ "ok": false, "error_code": 404, "description": "Not Found" })
        )
    );
    assert_eq!(me.0, 200, "method names are case-insensitive");
    assert_eq!(me.1["result"]["id"], json!(123_456));
    assert_eq!(me.1["result"]["is_bot"], json!(true));
    assert_eq!(me.1["result"]["username"], json!("test_bot"));
}

#[actix_web::test]
async fn fakes_telegram_accepts_query_string_parameters() {
    let tg = FakeTelegram::start(TOKEN);
    tg.push_text(USER, USER, "hi");
    let client = awc::Client::default();

    let url = format!(
        "{}/bot{TOKEN}/sendMessage?chat_id={USER}&text=from%20query",
        tg.url()
    );
    let mut resp = client.get(url).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();

    assert_eq!(resp.status().as_u16(), 200, "{body}");
    assert_eq!(tg.messages_to(USER)[0].text, "from query");
}

#[actix_web::test]
async fn fakes_telegram_records_commands_and_chat_actions() {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);
    let commands = json!([{ "command": "clear", "description": "Forget the conversation" }]);

    let set = call(&tg, "setMyCommands", json!({ "commands": commands })).await;
    let bad = call(
        &tg,
        "setMyCommands",
        json!({ "commands": [{ "command": "Bad Name", "description": "x" }] }),
    )
    .await;
    let typing = call(
        &tg,
        "sendChatAction",
        json!({ "chat_id": USER, "action": "typing" }),
    )
    .await;
    let wrong = call(
        &tg,
        "sendChatAction",
        json!({ "chat_id": USER, "action": "dancing" }),
    )
    .await;

    assert_eq!(set, (200, json!({ "ok": true, "result": true })));
    assert_bad_request(&bad, "Bad Request: BOT_COMMAND_INVALID");
    assert_eq!(tg.commands(), commands.as_array().unwrap().clone());
    assert_eq!(typing.0, 200);
    assert_bad_request(&wrong, "Bad Request: wrong parameter action in request");
    assert_eq!(tg.chat_actions(), vec![(USER, "typing".to_string())]);
}

// ----- Telegram: sendMessage / editMessageText validation -----------------------------------

#[actix_web::test]
async fn fakes_telegram_counts_message_length_in_utf16_code_units() {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);

    let at_limit = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "a".repeat(4096) }),
    )
    .await;
    let one_over = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "a".repeat(4097) }),
    )
    .await;
    let emoji_ok = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "😀".repeat(2048) }),
    )
    .await;
    // 2049 characters, but 4098 UTF-16 code units: too long for Telegram.
    let emoji_over = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "😀".repeat(2049) }),
    )
    .await;
    let markup_free = format!("<b>{}</b> &lt;", "a".repeat(4094));
    let html_ok = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": markup_free, "parse_mode": "HTML" }),
    )
    .await;

    assert_eq!(MAX_TEXT_UTF16, 4096);
    assert_eq!(at_limit.0, 200, "{at_limit:?}");
    assert_bad_request(&one_over, "Bad Request: message is too long");
    assert_eq!(emoji_ok.0, 200);
    assert_bad_request(&emoji_over, "Bad Request: message is too long");
    assert_eq!(
        html_ok.0, 200,
        "tags don't count, &lt; counts as one: {html_ok:?}"
    );
    assert_eq!(tg.sent_messages().len(), 3);
}

#[actix_web::test]
async fn fakes_telegram_rejects_empty_text_and_unknown_chats() {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);

    let empty = call(&tg, "sendMessage", json!({ "chat_id": USER, "text": "" })).await;
    let blank = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": " \n\t " }),
    )
    .await;
    let only_tags = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "<b></b>", "parse_mode": "HTML" }),
    )
    .await;
    let missing = call(&tg, "sendMessage", json!({ "chat_id": USER })).await;
    let stranger = call(&tg, "sendMessage", json!({ "chat_id": 999, "text": "hi" })).await;
    let no_chat = call(&tg, "sendMessage", json!({ "text": "hi" })).await;

    assert_bad_request(&empty, "Bad Request: message text is empty");
    assert_bad_request(&blank, "Bad Request: message text is empty");
    assert_bad_request(&only_tags, "Bad Request: message text is empty");
    assert_bad_request(&missing, "Bad Request: message text is empty");
    assert_bad_request(&stranger, "Bad Request: chat not found");
    assert_bad_request(&no_chat, "Bad Request: chat_id is empty");
    assert!(tg.sent_messages().is_empty());
}

#[actix_web::test]
async fn fakes_telegram_cannot_parse_entities_of_bad_html() {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);
    let send = |text: &str| {
        call(
            &tg,
            "sendMessage",
            json!({ "chat_id": USER, "text": text, "parse_mode": "HTML" }),
        )
    };

    let heading = send("<h1>Title</h1>").await;
    let unbalanced = send("<b>bold").await;
    let crossed = send("<b><i>x</b></i>").await;
    let stray_end = send("x</b>").await;
    let bare_lt = send("1 < 2").await;
    let bare_amp = send("fish & chips").await;
    let bare_span = send("<span>x</span>").await;

    for (answer, expected) in [
        (&heading, "Unsupported start tag \"h1\" at byte offset 0"),
        (
            &unbalanced,
            "Can't find end tag corresponding to start tag \"b\"",
        ),
        (
            &crossed,
            "Unmatched end tag at byte offset 7, expected \"</i>\", found \"</b>\"",
        ),
        (&stray_end, "Unexpected end tag at byte offset 1"),
        (&bare_lt, "Unsupported start tag \"\" at byte offset 2"),
        (&bare_amp, "unescaped '&' at byte offset 5"),
        (&bare_span, "Tag \"span\" must have class \"tg-spoiler\""),
    ] {
        assert_bad_request(
            answer,
            &format!("Bad Request: can't parse entities: {expected}"),
        );
    }
    assert!(tg.sent_messages().is_empty());
}

#[actix_web::test]
async fn fakes_telegram_accepts_telegram_html_and_returns_the_plain_text_with_entities() {
    let tg = FakeTelegram::start(TOKEN);
    let update = tg.push_text(USER, USER, "question");
    let (_, updates) = call(&tg, "getUpdates", json!({ "offset": update })).await;
    let user_message_id = updates["result"][0]["message"]["message_id"]
        .as_i64()
        .unwrap();
    let text = "<b>bold</b> <a href=\"https://x.org/?a=1&amp;b=2\">link</a> \
                <pre><code class=\"language-rust\">a &lt; b &amp;&amp; c &gt; d</code></pre> \
                <span class=\"tg-spoiler\">s</span> &#128512;";

    let (status, answer) = call(
        &tg,
        "sendMessage",
        json!({
            "chat_id": USER,
            "text": text,
            "parse_mode": "HTML",
            "reply_parameters": { "message_id": user_message_id },
        }),
    )
    .await;

    assert_eq!(status, 200, "{answer}");
    let message = &answer["result"];
    assert_eq!(message["text"], json!("bold link a < b && c > d s 😀"));
    assert_eq!(message["from"]["is_bot"], json!(true));
    assert_eq!(message["chat"]["id"], json!(USER));
    assert_eq!(
        message["message_id"],
        json!(user_message_id + 1),
        "ids are per chat, shared by both sides"
    );
    assert_eq!(
        message["entities"][0],
        json!({ "type": "bold", "offset": 0, "length": 4 })
    );
    assert_eq!(
        message["reply_to_message"]["message_id"],
        json!(user_message_id)
    );
    let sent = &tg.sent_messages()[0];
    assert_eq!(sent.text, text);
    assert_eq!(sent.plain, "bold link a < b && c > d s 😀");
    assert_eq!(sent.parse_mode.as_deref(), Some("HTML"));
    assert_eq!(sent.reply_to, Some(user_message_id));
}

#[actix_web::test]
async fn fakes_telegram_refuses_a_reply_to_a_message_that_does_not_exist() {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);

    let refused = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "x", "reply_to_message_id": 77 }),
    )
    .await;
    let tolerated = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "x", "reply_parameters": { "message_id": 77, "allow_sending_without_reply": true } }),
    )
    .await;

    assert_bad_request(&refused, "Bad Request: message to be replied not found");
    assert_eq!(tolerated.0, 200);
    assert_eq!(tg.sent_messages()[0].reply_to, None);
}

#[actix_web::test]
async fn fakes_telegram_edits_only_existing_bot_messages_and_refuses_identical_content() {
    let tg = FakeTelegram::start(TOKEN);
    tg.push_text(USER, USER, "user says");
    let (_, sent) = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "draft" }),
    )
    .await;
    let id = sent["result"]["message_id"].as_i64().unwrap();
    let edit = |message_id: i64, text: String| {
        call(
            &tg,
            "editMessageText",
            json!({ "chat_id": USER, "message_id": message_id, "text": text }),
        )
    };

    let changed = edit(id, "final".into()).await;
    let same = edit(id, "final".into()).await;
    let unknown = edit(id + 50, "x".into()).await;
    let users = edit(1, "x".into()).await;
    let too_long = edit(id, "b".repeat(4097)).await;

    assert_eq!(changed.0, 200, "{changed:?}");
    assert_eq!(changed.1["result"]["text"], json!("final"));
    assert_bad_request(
        &same,
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
    );
    assert_bad_request(&unknown, "Bad Request: message to edit not found");
    assert_bad_request(&users, "Bad Request: message can't be edited");
    assert_bad_request(&too_long, "Bad Request: MESSAGE_TOO_LONG");
    assert_eq!(tg.edits().len(), 1);
    assert_eq!(tg.current_text(USER, id).as_deref(), Some("final"));
    let padded = edit(id, "\n final  ".into()).await;
    assert_eq!(
        padded.0, 400,
        "Telegram trims the text, so this is not a change: {padded:?}"
    );
}

#[actix_web::test]
async fn fakes_telegram_trims_surrounding_whitespace_and_moves_entities_with_it() {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);

    let (status, answer) = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "\n  <b>x</b>y \n", "parse_mode": "HTML" }),
    )
    .await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["text"], json!("xy"));
    assert_eq!(
        answer["result"]["entities"],
        json!([{ "type": "bold", "offset": 0, "length": 1 }])
    );
    assert_eq!(tg.sent_messages()[0].plain, "xy");
}

// ----- Telegram: faults and limits ----------------------------------------------------------

#[actix_web::test]
async fn fakes_telegram_injected_faults_are_consumed_one_call_at_a_time() {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);
    tg.fail_next("sendMessage", Fault::TooManyRequests { retry_after: 7 });
    tg.fail_next("sendMessage", Fault::BadGateway);
    tg.fail_next("sendMessage", Fault::Forbidden);
    let send = || call(&tg, "sendMessage", json!({ "chat_id": USER, "text": "hi" }));

    let limited = send().await;
    let gateway = send().await;
    let blocked = send().await;
    let normal = send().await;

    assert_eq!(
        limited,
        (
            429,
            json!({
                "ok": false,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": { "retry_after": 7 },
            })
        )
    );
    assert_eq!(gateway.0, 502);
    assert!(
        gateway.1.as_str().unwrap().contains("502 Bad Gateway"),
        "nginx HTML, not JSON"
    );
    assert_eq!(blocked.0, 403);
    assert_eq!(
        blocked.1["description"],
        json!("Forbidden: bot was blocked by the user")
    );
    assert_eq!(normal.0, 200);
    assert_eq!(tg.sent_messages().len(), 1, "failed calls deliver nothing");
}

#[actix_web::test]
async fn fakes_telegram_rate_limits_bursts_to_one_chat_when_enabled() {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);
    tg.set_rate_limits(true);

    let mut statuses = Vec::new();
    for i in 0..5 {
        let (status, body) = call(
            &tg,
            "sendMessage",
            json!({ "chat_id": USER, "text": format!("m{i}") }),
        )
        .await;
        if status == 429 {
            assert_eq!(body["parameters"]["retry_after"], json!(1));
        }
        statuses.push(status);
    }

    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    assert_eq!(tg.rate_limited_count(), 2);
}

#[actix_web::test]
async fn fakes_telegram_allows_20_sends_and_edits_a_minute_in_a_group_and_says_when_there_is_room()
{
    const GROUP: i64 = -4242;
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);
    tg.push_group_text(USER, GROUP, "Team", "hello");
    tg.set_rate_limits(true);
    let (_, first) = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": GROUP, "text": "m0" }),
    )
    .await;
    let message_id = first["result"]["message_id"].clone();
    let started = Instant::now();

    // 3 calls a second (under the per-chat burst limit) to the group, half of them edits, and as
    // many to a private chat: the group's 21st call in the minute is refused, the private chat's is not.
    let mut group_statuses = vec![200];
    let mut private_statuses = Vec::new();
    let mut refusal = Value::Null;
    let mut refused_after = Duration::ZERO;
    for i in 1..24 {
        let (status, body) = if i % 2 == 0 {
            let text = format!("edit {i}");
            let params = json!({ "chat_id": GROUP, "message_id": message_id, "text": text });
            call(&tg, "editMessageText", params).await
        } else {
            call(
                &tg,
                "sendMessage",
                json!({ "chat_id": GROUP, "text": format!("m{i}") }),
            )
            .await
        };
        if status == 429 && refusal.is_null() {
            refusal = body;
            refused_after = started.elapsed();
        }
        group_statuses.push(status);
        let private = call(
            &tg,
            "sendMessage",
            json!({ "chat_id": USER, "text": format!("p{i}") }),
        );
        private_statuses.push(private.await.0);
        if i % 3 == 2 {
            tokio::time::sleep(Duration::from_millis(1050)).await;
        }
    }

    assert_eq!(group_statuses[..20], [200; 20]);
    assert_eq!(group_statuses[20..], [429; 4]);
    assert!(
        private_statuses.iter().all(|s| *s == 200),
        "{private_statuses:?}"
    );
    let retry_after = refusal["parameters"]["retry_after"].as_u64().unwrap();
    let room_in = 60 - refused_after.as_secs();
    assert!(
        (room_in.saturating_sub(2)..=room_in + 1).contains(&retry_after),
        "retry_after {retry_after}, the first call leaves the minute in about {room_in} s"
    );
    assert_eq!(
        refusal["description"],
        json!(format!("Too Many Requests: retry after {retry_after}"))
    );
    assert_eq!(tg.rate_limited_count(), 4);
}

#[actix_web::test]
async fn fakes_telegram_wait_for_messages_returns_once_enough_messages_arrived() {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);

    let send = async {
        call(
            &tg,
            "sendMessage",
            json!({ "chat_id": USER, "text": "one" }),
        )
        .await;
        call(
            &tg,
            "sendMessage",
            json!({ "chat_id": USER, "text": "two" }),
        )
        .await;
    };
    let wait = tg.wait_for_messages(USER, 2, Duration::from_secs(5));
    let ((), messages) = futures_util::future::join(send, wait).await;

    let texts: Vec<_> = messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, vec!["one", "two"]);
}

#[actix_web::test]
async fn fakes_telegram_keeps_updates_in_id_order_whether_pushed_in_order_or_not() {
    let tg = FakeTelegram::start(TOKEN);
    let chat = json!({ "id": USER, "type": "private" });
    let from = json!({ "id": USER, "is_bot": false, "first_name": "U" });
    let update = |id: i64| {
        json!({ "update_id": id, "message": {
            "message_id": id, "date": 0, "chat": chat, "from": from, "text": "x" } })
    };

    tg.push_update(update(200_000));
    tg.push_update(update(300_000));
    tg.push_update(update(250_000));
    let next = tg.push_text(USER, USER, "auto");
    tg.push_update(update(150_000));

    assert_eq!(next, 300_001, "the next id follows the highest one");
    assert_eq!(
        tg.pending_update_ids(),
        vec![150_000, 200_000, 250_000, 300_000, 300_001]
    );
    let (_, delivered) = call(&tg, "getUpdates", json!({})).await;
    assert_eq!(
        update_ids(&delivered),
        vec![150_000, 200_000, 250_000, 300_000, 300_001]
    );
}

#[actix_web::test]
async fn fakes_telegram_indexes_messages_and_edits_per_chat_with_the_time_each_was_accepted() {
    let tg = FakeTelegram::start(TOKEN);
    let other = USER + 1;
    tg.add_chat(USER);
    tg.add_chat(other);
    let send = |chat: i64, text: &'static str| {
        call(&tg, "sendMessage", json!({ "chat_id": chat, "text": text }))
    };

    let before = Instant::now();
    let (_, first) = send(USER, "one").await;
    send(other, "elsewhere").await;
    let (_, second) = send(USER, "two").await;
    let first_id = first["result"]["message_id"].as_i64().unwrap();
    let second_id = second["result"]["message_id"].as_i64().unwrap();
    call(
        &tg,
        "editMessageText",
        json!({ "chat_id": USER, "message_id": first_id, "text": "one, edited" }),
    )
    .await;
    call(
        &tg,
        "deleteMessage",
        json!({ "chat_id": USER, "message_id": second_id }),
    )
    .await;
    let after = Instant::now();

    assert_eq!(tg.sent_count(), 3);
    assert_eq!(
        (tg.count_to(USER), tg.count_to(other), tg.count_to(7)),
        (2, 1, 0)
    );
    let texts: Vec<_> = tg.messages_to(USER).into_iter().map(|m| m.text).collect();
    assert_eq!(texts, vec!["one", "two"]);
    let edits = tg.edits_to(USER);
    assert_eq!(edits.len(), 1);
    assert!(tg.edits_to(other).is_empty());
    assert_eq!(edits[0].plain, "one, edited");
    let sent_at = tg.messages_to(USER)[0].at;
    assert!(before <= sent_at && sent_at <= edits[0].at && edits[0].at <= after);
    assert_eq!(
        tg.bot_messages_in(USER),
        vec![(first_id, "one, edited".to_string())],
        "what the user sees now: edited text, deleted message gone"
    );
    assert!(tg.bot_messages_in(7).is_empty());
    assert_eq!(
        tg.bot_messages_after(USER, first_id),
        vec![],
        "only newer messages"
    );
    assert_eq!(tg.bot_messages_after(USER, first_id - 1).len(), 1);
}

#[actix_web::test]
async fn fakes_telegram_stops_keeping_calls_but_still_counts_them_when_recording_is_off() {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);
    call(&tg, "getUpdates", json!({})).await;
    let recorded = tg.calls().len();

    tg.set_recording(false);
    call(&tg, "getUpdates", json!({})).await;
    call(
        &tg,
        "sendChatAction",
        json!({ "chat_id": USER, "action": "typing" }),
    )
    .await;
    call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "kept" }),
    )
    .await;

    assert_eq!(recorded, 1);
    assert_eq!(tg.calls().len(), 1, "no call recorded while off");
    assert_eq!(tg.get_updates_calls().len(), 1);
    assert!(tg.chat_actions().is_empty());
    assert_eq!(tg.call_count(), 4);
    assert_eq!(tg.get_updates_count(), 2);
    assert_eq!(
        tg.messages_to(USER)[0].text,
        "kept",
        "messages are still kept"
    );
    tg.set_recording(true);
    call(&tg, "getMe", json!({})).await;
    assert_eq!(tg.calls().len(), 2);
    assert_eq!(tg.call_count(), 5);
}

#[actix_web::test]
async fn fakes_telegram_wait_until_in_chat_returns_when_that_chat_changes_or_false_after_the_timeout(
) {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);
    tg.add_chat(USER + 1);

    let send = async {
        call(
            &tg,
            "sendMessage",
            json!({ "chat_id": USER + 1, "text": "x" }),
        )
        .await;
        call(&tg, "sendMessage", json!({ "chat_id": USER, "text": "y" })).await;
    };
    let wait = tg.wait_until_in_chat(USER, Duration::from_secs(5), |tg| tg.count_to(USER) == 1);
    let ((), arrived) = futures_util::future::join(send, wait).await;
    let started = Instant::now();
    let never = tg
        .wait_until_in_chat(USER, Duration::from_millis(100), |tg| {
            tg.count_to(USER) == 2
        })
        .await;

    assert!(arrived);
    assert!(!never);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

// ----- Telegram: a group upgraded to a supergroup --------------------------------------------

/// A basic group's id, and the id of the supergroup it becomes (Telegram's `-100…` form).
const GROUP: i64 = -354_277_871;
const SUPERGROUP: i64 = -1_001_180_035_764;

/// The answer Telegram gives to any call with the old group's id once it was upgraded.
fn migrated_answer() -> (u16, Value) {
    (
        400,
        json!({
            "ok": false,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": { "migrate_to_chat_id": SUPERGROUP },
        }),
    )
}

#[actix_web::test]
async fn fakes_telegram_answers_every_call_to_an_upgraded_group_with_the_supergroup_id() {
    let tg = FakeTelegram::start(TOKEN);
    tg.push_group_text(USER, GROUP, "Team", "hello bot");
    let (status, before) = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": GROUP, "text": "hi all" }),
    )
    .await;
    assert_eq!(status, 200, "{before:?}");
    assert_eq!(before["result"]["chat"]["type"], json!("group"));
    let answer_id = before["result"]["message_id"].as_i64().unwrap();

    tg.migrate_group(GROUP, SUPERGROUP);
    let send = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": GROUP, "text": "again" }),
    )
    .await;
    let send_as_text = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": GROUP.to_string(), "text": "again" }),
    )
    .await;
    let edit = call(
        &tg,
        "editMessageText",
        json!({ "chat_id": GROUP, "message_id": answer_id, "text": "edited" }),
    )
    .await;
    let typing = call(
        &tg,
        "sendChatAction",
        json!({ "chat_id": GROUP, "action": "typing" }),
    )
    .await;
    let delete = call(
        &tg,
        "deleteMessage",
        json!({ "chat_id": GROUP, "message_id": answer_id }),
    )
    .await;
    let (new_status, in_supergroup) = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": SUPERGROUP, "text": "here now" }),
    )
    .await;

    for answer in [&send, &send_as_text, &edit, &typing, &delete] {
        assert_eq!(answer, &migrated_answer());
    }
    assert_eq!(new_status, 200, "{in_supergroup:?}");
    assert_eq!(in_supergroup["result"]["chat"]["id"], json!(SUPERGROUP));
    assert_eq!(in_supergroup["result"]["chat"]["type"], json!("supergroup"));
    assert_eq!(in_supergroup["result"]["chat"]["title"], json!("Team"));
    assert_eq!(
        tg.messages_to(GROUP).len(),
        1,
        "nothing more reached the old group"
    );
    assert!(tg.edits().is_empty());
    assert!(tg.deleted().is_empty());
    assert!(tg.chat_actions().is_empty());
}

#[actix_web::test]
async fn fakes_telegram_delivers_the_service_messages_of_a_group_upgrade_in_both_chats() {
    let tg = FakeTelegram::start(TOKEN);
    let hello = tg.push_group_text(USER, GROUP, "Team", "hello bot");
    tg.migrate_group(GROUP, SUPERGROUP);

    let (to_id, from_id) = tg.push_migration_messages(USER, GROUP, SUPERGROUP);
    let (_, updates) = call(&tg, "getUpdates", json!({})).await;

    assert_eq!(update_ids(&updates), vec![hello, to_id, from_id]);
    let hello = &updates["result"][0]["message"];
    assert_eq!(
        hello["chat"],
        json!({ "id": GROUP, "title": "Team", "type": "group", "all_members_are_administrators": false })
    );
    assert_eq!(hello["text"], json!("hello bot"));
    let in_group = &updates["result"][1]["message"];
    assert_eq!(in_group["chat"]["id"], json!(GROUP));
    assert_eq!(in_group["chat"]["type"], json!("group"));
    assert_eq!(in_group["from"]["id"], json!(USER));
    assert_eq!(in_group["migrate_to_chat_id"], json!(SUPERGROUP));
    assert!(in_group["text"].is_null());
    assert!(in_group["message_id"].as_i64().unwrap() > hello["message_id"].as_i64().unwrap());
    let in_supergroup = &updates["result"][2]["message"];
    assert_eq!(
        in_supergroup["chat"],
        json!({ "id": SUPERGROUP, "title": "Team", "type": "supergroup" })
    );
    assert_eq!(in_supergroup["sender_chat"], in_supergroup["chat"]);
    assert_eq!(
        in_supergroup["from"]["username"],
        json!("GroupAnonymousBot")
    );
    assert_eq!(in_supergroup["message_id"], json!(1));
    assert_eq!(in_supergroup["migrate_from_chat_id"], json!(GROUP));
    assert!(in_supergroup["text"].is_null());
}

#[actix_web::test]
async fn fakes_telegram_upgrade_is_read_by_the_bot_client_as_chat_migrated_and_typed_service_messages(
) {
    let tg = FakeTelegram::start(TOKEN);
    tg.push_group_text(USER, GROUP, "Team", "hello bot");
    tg.migrate_group(GROUP, SUPERGROUP);
    tg.push_migration_messages(USER, GROUP, SUPERGROUP);
    let api = BotApi::new(&tg.url(), &Secret::new(TOKEN));

    let refused = api
        .send_chat_action(Conversation::chat(ChatId(GROUP)), "typing")
        .await
        .unwrap_err();
    let updates = api.get_updates(None, Duration::ZERO).await.unwrap();

    assert_eq!(
        refused.migrated_to(),
        Some(ChatId(SUPERGROUP)),
        "{refused:?}"
    );
    let messages: Vec<_> = updates
        .iter()
        .map(|u| match u {
            IncomingUpdate::Parsed(update) => update.message.clone().unwrap(),
            IncomingUpdate::Malformed { reason, .. } => panic!("malformed: {reason}"),
        })
        .collect();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1].migrate_to_chat_id, Some(ChatId(SUPERGROUP)));
    assert_eq!(messages[2].migrate_from_chat_id, Some(ChatId(GROUP)));
    assert_eq!(messages[2].chat.kind, "supergroup");
}

// ----- Telegram: the bot removed from a group and added again --------------------------------

#[actix_web::test]
async fn fakes_telegram_tells_of_the_bot_removed_from_a_group_and_refuses_calls_to_it_until_it_is_added(
) {
    let tg = FakeTelegram::start(TOKEN);
    tg.push_group_text(USER, GROUP, "Team", "hello bot");
    call(
        &tg,
        "getUpdates",
        json!({ "allowed_updates": ["message", "my_chat_member"] }),
    )
    .await;

    let kicked = tg.remove_bot_from(USER, GROUP, true);
    let ignored = tg.push_group_text(USER, GROUP, "Team", "are you there?");
    let send = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": GROUP, "text": "hi" }),
    )
    .await;
    let typing = call(
        &tg,
        "sendChatAction",
        json!({ "chat_id": GROUP, "action": "typing" }),
    )
    .await;
    let added = tg.add_bot_to(USER, GROUP);
    let (status, again) = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": GROUP, "text": "back" }),
    )
    .await;
    let (_, updates) = call(&tg, "getUpdates", json!({})).await;

    let forbidden = json!({
        "ok": false,
        "error_code": 403,
        "description": "Forbidden: bot was kicked from the group chat",
    });
    assert_eq!(send, (403, forbidden.clone()));
    assert_eq!(typing, (403, forbidden));
    assert_eq!(status, 200, "{again:?}");
    let ids = update_ids(&updates);
    assert_eq!(
        &ids[1..],
        [kicked, added],
        "the removed group's message never came"
    );
    assert!(tg.dropped_updates()[0]["update_id"] == json!(ignored));
    let removal = &updates["result"][1]["my_chat_member"];
    assert_eq!(
        removal["chat"],
        json!({ "id": GROUP, "title": "Team", "type": "group", "all_members_are_administrators": false })
    );
    assert_eq!(removal["from"]["id"], json!(USER));
    assert_eq!(removal["old_chat_member"]["status"], json!("member"));
    assert_eq!(removal["new_chat_member"]["status"], json!("kicked"));
    assert_eq!(removal["new_chat_member"]["until_date"], json!(0));
    assert_eq!(removal["new_chat_member"]["user"]["id"], json!(tg.bot_id()));
    let readd = &updates["result"][2]["my_chat_member"];
    assert_eq!(readd["old_chat_member"]["status"], json!("kicked"));
    assert_eq!(readd["new_chat_member"]["status"], json!("member"));
}

#[actix_web::test]
async fn fakes_telegram_says_the_bot_is_not_a_member_of_a_group_it_left_and_sends_no_update_unasked(
) {
    let tg = FakeTelegram::start(TOKEN);
    tg.push_supergroup_text(USER, SUPERGROUP, "Club", "hello bot");
    call(&tg, "getUpdates", json!({ "allowed_updates": ["message"] })).await;

    tg.remove_bot_from(USER, SUPERGROUP, false);
    let send = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": SUPERGROUP, "text": "hi" }),
    )
    .await;
    let (_, updates) = call(&tg, "getUpdates", json!({})).await;

    assert_eq!(send.0, 403);
    assert_eq!(
        send.1["description"],
        json!("Forbidden: bot is not a member of the supergroup chat")
    );
    assert_eq!(
        update_ids(&updates).len(),
        1,
        "only the message: my_chat_member was not asked for"
    );
    assert!(tg.dropped_updates()[0]["my_chat_member"].is_object());
}

#[actix_web::test]
async fn fakes_telegram_removal_is_read_by_the_bot_client_as_forbidden_and_a_typed_member_update() {
    let tg = FakeTelegram::start(TOKEN);
    tg.push_group_text(USER, GROUP, "Team", "hello bot");
    tg.remove_bot_from(USER, GROUP, true);
    tg.add_bot_to(USER, GROUP);
    tg.remove_bot_from(USER, GROUP, false);
    let api = BotApi::new(&tg.url(), &Secret::new(TOKEN));

    let refused = api
        .send_chat_action(Conversation::chat(ChatId(GROUP)), "typing")
        .await
        .unwrap_err();
    let updates = api.get_updates(None, Duration::ZERO).await.unwrap();

    assert!(
        matches!(refused, TelegramError::Forbidden { .. }),
        "{refused:?}"
    );
    let statuses: Vec<_> = updates
        .iter()
        .filter_map(|u| match u {
            IncomingUpdate::Parsed(update) => update.my_chat_member.clone(),
            IncomingUpdate::Malformed { reason, .. } => panic!("malformed: {reason}"),
        })
        .map(|m| {
            assert_eq!(m.chat.id, ChatId(GROUP));
            assert_eq!(m.new_chat_member.user.id.0, tg.bot_id());
            (m.old_chat_member.status, m.new_chat_member.status)
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (MemberStatus::Member, MemberStatus::Kicked),
            (MemberStatus::Kicked, MemberStatus::Member),
            (MemberStatus::Member, MemberStatus::Left),
        ]
    );
}

// ----- LLM ----------------------------------------------------------------------------------

fn chat_body(content: &str) -> Value {
    json!({
        "model": "test-model",
        "messages": [
            { "role": "system", "content": "You are terse." },
            { "role": "user", "content": content },
        ],
    })
}

#[actix_web::test]
async fn fakes_llm_echoes_the_last_user_message_with_usage() {
    let llm = FakeLlm::start();

    let (status, body) = post_llm(&llm, chat_body("hello there"), &[]).await;

    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["object"], json!("chat.completion"));
    assert_eq!(answer["model"], json!("test-model"));
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        json!("echo: hello there")
    );
    assert_eq!(answer["choices"][0]["finish_reason"], json!("stop"));
    let usage = &answer["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() >= 1);
    assert!(usage["completion_tokens"].as_u64().unwrap() >= 1);
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(llm.requests(), vec![chat_body("hello there")]);
}

#[actix_web::test]
async fn fakes_llm_answers_400_with_an_error_object_for_a_bad_body() {
    let llm = FakeLlm::start();
    let client = awc::Client::default();

    let not_json = client
        .post(format!("{}/v1/chat/completions", llm.url()))
        .insert_header(("content-type", "application/json"))
        .send_body("{not json")
        .await
        .unwrap()
        .status()
        .as_u16();
    let no_model = post_llm(
        &llm,
        json!({ "messages": [{ "role": "user", "content": "x" }] }),
        &[],
    )
    .await;
    let no_messages = post_llm(&llm, json!({ "model": "m", "messages": [] }), &[]).await;
    let bad_role = post_llm(
        &llm,
        json!({ "model": "m", "messages": [{ "role": "robot", "content": "x" }] }),
        &[],
    )
    .await;
    let wrong_path = client
        .get(format!("{}/v1/nothing", llm.url()))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();

    assert_eq!(not_json, 400);
    for (status, body) in [&no_model, &no_messages, &bad_role] {
        assert_eq!(*status, 400, "{body}");
        let error: Value = serde_json::from_str(body).unwrap();
        assert_eq!(error["error"]["type"], json!("invalid_request_error"));
        assert!(error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid request body"));
    }
    assert!(no_model.1.contains("missing field `model`"));
    assert_eq!(
        wrong_path, 400,
        "aichat answers unknown endpoints with 400 too"
    );
    assert_eq!(llm.request_count(), 4);
}

#[actix_web::test]
async fn fakes_llm_streams_small_chunks_ending_with_a_stop_chunk_and_done() {
    let llm = FakeLlm::start();
    llm.push_answer("héllo wörld 😀!");
    let mut body = chat_body("ignored");
    body["stream"] = json!(true);

    let client = awc::Client::default();
    let mut resp = client
        .post(format!("{}/v1/chat/completions", llm.url()))
        .send_json(&body)
        .await
        .unwrap();
    let content_type = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let raw = String::from_utf8(resp.body().await.unwrap().to_vec()).unwrap();

    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    assert!(raw.ends_with("data: [DONE]\n\n"), "{raw}");
    let events: Vec<Value> = raw
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(events.len() > 3, "several content chunks: {raw}");
    let text: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "héllo wörld 😀!");
    let last = events.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], json!("stop"));
    assert_eq!(last["choices"][0]["delta"], json!({}));
    assert!(events
        .iter()
        .all(|e| e["object"] == json!("chat.completion.chunk") && e["usage"].is_null()));
}

#[actix_web::test]
async fn fakes_llm_ends_a_finished_answer_with_its_finish_reason_then_done() {
    let llm = FakeLlm::start();
    llm.push_once(Behaviour::Finished {
        answer: "too long".into(),
        finish_reason: "length".into(),
    });
    llm.push_once(Behaviour::Finished {
        answer: "filtered".into(),
        finish_reason: "content_filter".into(),
    });
    let mut body = chat_body("ignored");
    body["stream"] = json!(true);

    let (_, streamed) = post_llm(&llm, body, &[]).await;
    let (_, whole) = post_llm(&llm, chat_body("ignored"), &[]).await;

    let events: Vec<&str> = streamed.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.last(), Some(&"data: [DONE]"), "{streamed}");
    let last: Value =
        serde_json::from_str(events[events.len() - 2].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], json!("length"));
    assert_eq!(last["choices"][0]["delta"], json!({}));
    let whole: Value = serde_json::from_str(&whole).unwrap();
    assert_eq!(
        whole["choices"][0]["finish_reason"],
        json!("content_filter")
    );
    assert_eq!(whole["choices"][0]["message"]["content"], json!("filtered"));
}

#[actix_web::test]
async fn fakes_llm_can_end_a_stream_by_closing_the_connection_without_length_or_chunks() {
    use std::io::{Read, Write};
    let llm = FakeLlm::start();
    llm.set_close_delimited(true);
    llm.push_answer("whole answer");
    let port = llm.port();
    let body = json!({
        "model": "default",
        "stream": true,
        "messages": [{"role": "user", "content": "hi"}],
    })
    .to_string();

    // A raw HTTP/1.1 client, to see the bytes as they are on the wire (blocking, off the runtime
    // that serves the fake).
    let raw = tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            tcp,
            "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        tcp.read_to_string(&mut raw).unwrap(); // returns only once the server closed the connection
        raw
    })
    .await
    .unwrap();

    let (head, events) = raw.split_once("\r\n\r\n").unwrap();
    let head = head.to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("\r\nconnection: close"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(
        events.starts_with("data: {"),
        "the events, unframed: {events}"
    );
    assert!(events.ends_with("data: [DONE]\n\n"), "{events}");
    let text: String = events
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(text, "whole answer");
}

#[actix_web::test]
async fn fakes_llm_uses_one_shot_answers_before_the_standing_behaviour() {
    let llm = FakeLlm::start();
    llm.set_behaviour(Behaviour::Status(
        400,
        "Too Many Requests (status: 429)".into(),
    ));
    llm.push_answer("first");

    let (first_status, first) = post_llm(&llm, chat_body("a"), &[]).await;
    let (second_status, second) = post_llm(&llm, chat_body("b"), &[]).await;

    assert_eq!(first_status, 200);
    assert!(first.contains("\"first\""), "{first}");
    assert_eq!(second_status, 400);
    let error: Value = serde_json::from_str(&second).unwrap();
    assert_eq!(
        error["error"]["message"],
        json!("Too Many Requests (status: 429)")
    );
}

#[actix_web::test]
async fn fakes_llm_requires_the_bearer_key_when_configured_and_lists_models() {
    let llm = FakeLlm::start();
    llm.require_api_key("sk-test");

    let (missing, _) = post_llm(&llm, chat_body("x"), &[]).await;
    let (wrong, _) = post_llm(&llm, chat_body("x"), &[("authorization", "Bearer nope")]).await;
    let (right, _) = post_llm(&llm, chat_body("x"), &[("authorization", "Bearer sk-test")]).await;
    let mut resp = awc::Client::default()
        .get(format!("{}/v1/models", llm.url()))
        .send()
        .await
        .unwrap();
    let models: Value = resp.json().await.unwrap();

    assert_eq!((missing, wrong, right), (401, 401, 200));
    assert_eq!(models["data"][0]["id"], json!("default"));
    assert_eq!(models["data"][0]["max_input_tokens"], json!(128_000));
}

#[actix_web::test]
async fn fakes_llm_hangs_until_the_client_gives_up() {
    let llm = FakeLlm::start();
    llm.set_behaviour(Behaviour::Hang);
    let client = awc::Client::builder()
        .timeout(Duration::from_millis(300))
        .finish();

    let result = client
        .post(format!("{}/v1/chat/completions", llm.url()))
        .send_json(&chat_body("x"))
        .await;

    assert!(
        matches!(result, Err(awc::error::SendRequestError::Timeout)),
        "{result:?}"
    );
    assert_eq!(llm.request_count(), 1);
}

#[actix_web::test]
async fn fakes_llm_streams_answers_to_messages_with_the_slow_prefix_slowly_and_others_at_once() {
    let llm = FakeLlm::start();
    llm.set_slow_prefix("stream:", Duration::from_millis(20));
    let streamed = |content: &str| {
        let mut body = chat_body(content);
        body["stream"] = json!(true);
        body
    };

    let started = Instant::now();
    let (_, fast) = post_llm(&llm, streamed("quick one"), &[]).await;
    let fast_took = started.elapsed();
    let started = Instant::now();
    // "echo: stream: 123456789" is 23 characters: 8 chunks, 7 waits between them, then the end.
    let (_, slow) = post_llm(&llm, streamed("stream: 123456789"), &[]).await;
    let slow_took = started.elapsed();

    let text = |raw: &str| -> String {
        raw.split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .filter_map(|d| {
                serde_json::from_str::<Value>(d).ok()?["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    };
    assert_eq!(text(&fast), "echo: quick one");
    assert_eq!(text(&slow), "echo: stream: 123456789");
    assert!(slow_took >= Duration::from_millis(160), "{slow_took:?}");
    assert!(fast_took < Duration::from_millis(100), "{fast_took:?}");
}

#[actix_web::test]
async fn fakes_llm_counts_requests_and_summary_requests_without_keeping_them_when_recording_is_off()
{
    let llm = FakeLlm::start();
    let summary = json!({
        "model": "test-model",
        "messages": [
            { "role": "system", "content": "You condense chat histories into short summaries." },
            { "role": "user", "content": "a\nb" },
        ],
    });
    post_llm(&llm, chat_body("kept"), &[]).await;

    llm.set_recording(false);
    post_llm(
        &llm,
        chat_body("not kept"),
        &[("authorization", "Bearer k")],
    )
    .await;
    let (status, answer) = post_llm(&llm, summary, &[]).await;

    assert_eq!(status, 200);
    assert!(answer.contains("summary of 2 lines"), "{answer}");
    assert_eq!(llm.requests(), vec![chat_body("kept")]);
    assert_eq!(llm.authorizations(), vec![None]);
    assert_eq!(llm.request_count(), 3);
    assert_eq!(llm.summary_request_count(), 1);
    assert!(llm.summary_requests().is_empty(), "bodies are not kept");
}

// ----- Redis --------------------------------------------------------------------------------

#[actix_web::test]
async fn fakes_redis_server_answers_ping_and_restarts_on_the_same_port() {
    let mut redis = RedisServer::start();
    let port = redis.port();
    redis.cmd(&["RPUSH", "q", "a", "b"]);

    let pong = redis.cmd(&["PING"]);
    let length = redis.cmd_int(&["LLEN", "q"]);
    redis.stop();
    let down = redis.try_cmd(&["PING"]);
    redis.restart();

    assert_eq!(pong, "PONG");
    assert_eq!(length, 2);
    assert!(down.is_err(), "stopped server must not answer");
    assert_eq!(redis.port(), port);
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}/0"));
    assert_eq!(redis.cmd(&["PING"]), "PONG");
    assert_eq!(
        redis.keys("*"),
        Vec::<String>::new(),
        "a restarted server starts empty"
    );
}

#[actix_web::test]
async fn fakes_redis_server_with_aof_everysec_is_configured_like_production_and_keeps_data_on_restart(
) {
    let mut redis = RedisServer::start_with_aof_everysec();
    redis.cmd(&["SET", "kept", "yes"]);
    let pid = redis.pid().unwrap();

    let appendonly = redis.cmd(&["CONFIG", "GET", "appendonly"]);
    let fsync = redis.cmd(&["CONFIG", "GET", "appendfsync"]);
    let info = redis.cmd(&["INFO", "server"]);
    redis.restart();

    assert_eq!(appendonly, "appendonly\nyes");
    assert_eq!(fsync, "appendfsync\neverysec");
    assert!(info.contains(&format!("process_id:{pid}")), "{info}");
    assert_ne!(redis.pid(), Some(pid), "a new process after the restart");
    assert_eq!(
        redis.cmd(&["GET", "kept"]),
        "yes",
        "the append-only file is written before the reply, so a killed Redis keeps the write"
    );
}

/// Mentions as Telegram marks them: `@username` as a `mention` entity, a name picked from the member list
/// as a `text_mention` carrying the user; offsets in UTF-16 code units (an emoji counts two).
#[actix_web::test]
async fn fakes_telegram_marks_mentions_in_group_messages_from_named_users() {
    let tg = FakeTelegram::start(TOKEN);
    let group = -4242;
    tg.push_named_group_text((USER, "Ann", Some("ann")), group, "Team", "👍 @test_bot hi");
    tg.push_text_mention(USER + 1, group, "Test Bot, hello", "Test Bot", tg.bot_id());

    let (_, got) = call(&tg, "getUpdates", json!({})).await;

    let first = &got["result"][0]["message"];
    assert_eq!(first["from"]["first_name"], "Ann");
    assert_eq!(first["chat"]["type"], "group");
    assert_eq!(
        first["entities"],
        json!([{ "offset": 3, "length": 9, "type": "mention" }])
    );
    let second = &got["result"][1]["message"];
    assert_eq!(second["chat"]["id"], group, "in the group it was seen as");
    assert_eq!(second["entities"][0]["type"], "text_mention");
    assert_eq!(second["entities"][0]["length"], 8);
    assert_eq!(second["entities"][0]["user"]["id"], tg.bot_id());
    let parsed = IncomingUpdate::from_value(got["result"][1].clone());
    assert!(matches!(parsed, IncomingUpdate::Parsed(_)), "{parsed:?}");
}

/// A reply carries the replied message whole (the bot's here: its `from` is the bot) and the quoted part
/// with its UTF-16 position.
#[actix_web::test]
async fn fakes_telegram_sends_a_reply_with_the_replied_message_and_its_quote() {
    let tg = FakeTelegram::start(TOKEN);
    tg.push_text(USER, USER, "hi");
    let (status, sent) = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "Hello 👋 there" }),
    )
    .await;
    assert_eq!(status, 200);
    let bot_message = sent["result"]["message_id"].as_i64().unwrap();
    tg.push_reply(USER, USER, bot_message, "why there?", Some("there"));

    let (_, got) = call(&tg, "getUpdates", json!({})).await;

    let reply = &got["result"][1]["message"];
    assert_eq!(reply["text"], "why there?");
    assert_eq!(reply["reply_to_message"]["message_id"], bot_message);
    assert_eq!(reply["reply_to_message"]["from"]["id"], tg.bot_id());
    assert_eq!(reply["reply_to_message"]["text"], "Hello 👋 there");
    assert_eq!(
        reply["quote"],
        json!({ "text": "there", "position": 9, "is_manual": true })
    );
}

#[actix_web::test]
async fn fakes_telegram_opens_forum_topics_and_shapes_their_messages_like_telegram() {
    let tg = FakeTelegram::start(TOKEN);
    let forum = -1_009_001;
    let topic = tg.open_topic(USER, forum, "Team", "Plans");
    tg.push_topic_text(USER, forum, topic, "@test_bot hello");

    let (_, got) = call(&tg, "getUpdates", json!({})).await;

    let opened = &got["result"][0]["message"];
    assert_eq!(
        opened["message_id"], topic,
        "the topic's id is its first message's"
    );
    assert_eq!(opened["message_thread_id"], topic);
    assert_eq!(opened["is_topic_message"], true);
    assert_eq!(opened["forum_topic_created"]["name"], "Plans");
    assert_eq!(opened["chat"]["is_forum"], true);
    let said = &got["result"][1]["message"];
    assert_eq!(said["message_thread_id"], topic);
    assert_eq!(said["is_topic_message"], true);
    assert_eq!(
        said["reply_to_message"]["message_id"], topic,
        "a topic's message replies to its opening message"
    );
    assert!(said["reply_to_message"]["forum_topic_created"].is_object());
    assert_eq!(said["entities"][0]["type"], "mention");
    // The bot's client reads the topic, and no reply in it.
    let IncomingUpdate::Parsed(update) = IncomingUpdate::from_value(got["result"][1].clone())
    else {
        panic!("not parsed");
    };
    let message = update.message.unwrap();
    assert_eq!(message.topic().map(|t| t.0), Some(topic));
    assert!(message.replied().is_none());
}

#[actix_web::test]
async fn fakes_telegram_sends_into_a_topic_named_or_replied_to_and_refuses_a_thread_that_is_not_one(
) {
    let tg = FakeTelegram::start(TOKEN);
    let forum = -1_009_001;
    let topic = tg.open_topic(USER, forum, "Team", "Plans");
    tg.push_topic_text(USER, forum, topic, "hi");
    tg.push_supergroup_text(USER, -1_009_002, "Plain", "no topics here");

    let named = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": forum, "message_thread_id": topic, "text": "named" }),
    )
    .await;
    let replied = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": forum, "text": "replied",
                "reply_parameters": {"message_id": topic + 1}}),
    )
    .await;
    let general = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": forum, "text": "general" }),
    )
    .await;
    let typing = call(
        &tg,
        "sendChatAction",
        json!({ "chat_id": forum, "message_thread_id": topic, "action": "typing" }),
    )
    .await;

    assert_eq!(named.1["result"]["message_thread_id"], topic);
    assert_eq!(named.1["result"]["is_topic_message"], true);
    assert_eq!(replied.1["result"]["message_thread_id"], topic);
    assert!(general.1["result"].get("message_thread_id").is_none());
    assert_eq!(typing.0, 200);
    let threads: Vec<Option<i64>> = tg.messages_to(forum).iter().map(|m| m.thread).collect();
    assert_eq!(threads, [Some(topic), Some(topic), None]);
    assert_eq!(
        tg.chat_actions_in_topics(),
        [(forum, Some(topic), "typing".to_string())]
    );
    for (chat, thread) in [(forum, topic + 50), (-1_009_002, topic)] {
        let refused = call(
            &tg,
            "sendMessage",
            json!({ "chat_id": chat, "message_thread_id": thread, "text": "x" }),
        )
        .await;
        assert_bad_request(&refused, "Bad Request: message thread not found");
        let refused = call(
            &tg,
            "sendChatAction",
            json!({ "chat_id": chat, "message_thread_id": thread, "action": "typing" }),
        )
        .await;
        assert_bad_request(&refused, "Bad Request: message thread not found");
    }
}

// --- Inline keyboards, taps and the model server's catalog ------------------------------------

fn one_button(data: &str) -> Value {
    json!({ "inline_keyboard": [[{ "text": "gpt-4o", "callback_data": data }]] })
}

/// A chat with one message of the bot carrying `markup`; returns the message id.
async fn keyboard_message(tg: &FakeTelegram, markup: Value) -> i64 {
    tg.add_chat(USER);
    let (status, sent) = call(
        tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "Choose a model:", "reply_markup": markup }),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    sent["result"]["message_id"].as_i64().unwrap()
}

#[actix_web::test]
async fn fakes_telegram_keeps_a_sent_keyboard_and_delivers_a_tap_with_the_message() {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);

    let (_, sent) = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": USER, "text": "Choose a model:", "reply_markup": one_button("m=0:1a2b3c4d") }),
    )
    .await;
    let message_id = sent["result"]["message_id"].as_i64().unwrap();
    let query_id = tg.tap(USER, 2002, message_id, "m=0:1a2b3c4d");
    let (_, updates) = call(&tg, "getUpdates", json!({})).await;

    assert_eq!(sent["result"]["reply_markup"], one_button("m=0:1a2b3c4d"));
    assert_eq!(
        tg.buttons_of(USER, message_id),
        [vec![("gpt-4o".to_string(), "m=0:1a2b3c4d".to_string())]]
    );
    let tap = &updates["result"][0]["callback_query"];
    assert_eq!(tap["id"], json!(query_id));
    assert_eq!(tap["from"]["id"], json!(2002));
    assert_eq!(tap["data"], json!("m=0:1a2b3c4d"));
    assert!(tap["chat_instance"].is_string());
    assert_eq!(tap["message"]["message_id"], json!(message_id));
    assert_eq!(tap["message"]["chat"]["id"], json!(USER));
    assert_eq!(tap["message"]["from"]["is_bot"], json!(true));
    assert!(
        tap["message"]["date"].as_i64().unwrap() > 0,
        "an accessible message"
    );
    assert_eq!(tap["message"]["text"], json!("Choose a model:"));
    assert_eq!(tap["message"]["reply_markup"], one_button("m=0:1a2b3c4d"));
    // The bot's own client reads it.
    let IncomingUpdate::Parsed(update) = IncomingUpdate::from_value(updates["result"][0].clone())
    else {
        panic!("not parsed");
    };
    assert_eq!(
        update.callback_query.unwrap().data.as_deref(),
        Some("m=0:1a2b3c4d")
    );
}

#[actix_web::test]
async fn fakes_telegram_answers_a_tap_once_and_refuses_unknown_answered_and_expired_ones() {
    let tg = FakeTelegram::start(TOKEN);
    let message_id = keyboard_message(&tg, one_button("m:1")).await;
    let first = tg.tap(USER, USER, message_id, "m:1");
    let second = tg.tap(USER, USER, message_id, "m:1");
    const TOO_OLD: &str =
        "Bad Request: query is too old and response timeout expired or query ID is invalid";

    let (ok, answered) = call(
        &tg,
        "answerCallbackQuery",
        json!({ "callback_query_id": first, "text": "Now: gpt-4o" }),
    )
    .await;
    let (again, again_body) = call(
        &tg,
        "answerCallbackQuery",
        json!({ "callback_query_id": first }),
    )
    .await;
    let (unknown, unknown_body) = call(
        &tg,
        "answerCallbackQuery",
        json!({ "callback_query_id": "42" }),
    )
    .await;
    tg.expire_callback(&second);
    let (late, late_body) = call(
        &tg,
        "answerCallbackQuery",
        json!({ "callback_query_id": second }),
    )
    .await;

    assert_eq!((ok, answered["result"].clone()), (200, json!(true)));
    assert_eq!(
        tg.callback_answer(&first).unwrap(),
        crate::support::fake_telegram::CallbackAnswer {
            text: Some("Now: gpt-4o".into()),
            show_alert: false
        }
    );
    for (status, body) in [
        (again, again_body),
        (unknown, unknown_body),
        (late, late_body),
    ] {
        assert_eq!(status, 400);
        assert_eq!(body["description"], json!(TOO_OLD));
    }
    assert_eq!(tg.callback_answer(&second), None);
    assert_eq!(tg.taps().len(), 2);
    // The bot's client types the refusal.
    let api = BotApi::new(&tg.url(), &Secret::new(TOKEN));
    let refused = api
        .answer_callback_query(
            &aichat_telegram_bot::telegram::callbacks::AnswerCallbackQuery {
                callback_query_id: aichat_telegram_bot::telegram::callbacks::CallbackQueryId(first),
                text: None,
                show_alert: false,
            },
        )
        .await
        .unwrap_err();
    assert!(refused.is_callback_query_expired(), "{refused:?}");
}

#[actix_web::test]
async fn fakes_telegram_refuses_callback_data_over_64_bytes_and_buttons_without_an_action() {
    let tg = FakeTelegram::start(TOKEN);
    tg.add_chat(USER);
    let send = |markup: Value| {
        call(
            &tg,
            "sendMessage",
            json!({ "chat_id": USER, "text": "Choose:", "reply_markup": markup }),
        )
    };

    let (long, long_body) = send(one_button(&"x".repeat(65))).await;
    let (empty, empty_body) = send(one_button("")).await;
    let (bare, _) = send(json!({ "inline_keyboard": [[{ "text": "no action" }]] })).await;
    let (exact, _) = send(one_button(&"é".repeat(32))).await;
    let (over, _) = send(one_button(&format!("{}x", "é".repeat(32)))).await;

    assert_eq!(long, 400);
    assert_eq!(
        long_body["description"],
        json!("Bad Request: BUTTON_DATA_INVALID")
    );
    assert_eq!(
        (empty, empty_body["description"].clone()),
        (400, json!("Bad Request: BUTTON_DATA_INVALID"))
    );
    assert_eq!(bare, 400);
    assert_eq!(exact, 200, "64 bytes fit, counted in bytes");
    assert_eq!(over, 400, "65 bytes do not");
    assert_eq!(tg.sent_count(), 1);
}

#[actix_web::test]
async fn fakes_telegram_changes_and_removes_keyboards_as_telegram_does() {
    let tg = FakeTelegram::start(TOKEN);
    let message_id = keyboard_message(&tg, one_button("m:0")).await;
    let target = json!({ "chat_id": USER, "message_id": message_id });
    let with = |extra: Value| {
        let mut params = target.clone();
        params
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        params
    };

    let (changed, changed_body) = call(
        &tg,
        "editMessageReplyMarkup",
        with(json!({ "reply_markup": one_button("m:1") })),
    )
    .await;
    let (same, same_body) = call(
        &tg,
        "editMessageReplyMarkup",
        with(json!({ "reply_markup": one_button("m:1") })),
    )
    .await;
    let (only_markup, _) = call(
        &tg,
        "editMessageText",
        with(json!({ "text": "Choose a model:", "reply_markup": one_button("m:2") })),
    )
    .await;
    let kept = tg.keyboard_of(USER, message_id);
    let (text_only, text_only_body) = call(
        &tg,
        "editMessageText",
        with(json!({ "text": "Now: gpt-4o" })),
    )
    .await;
    let after_text_edit = tg.keyboard_of(USER, message_id);
    let (back, _) = call(
        &tg,
        "editMessageText",
        with(json!({ "text": "Choose again:", "reply_markup": one_button("m:3") })),
    )
    .await;
    let (removed, _) = call(&tg, "editMessageReplyMarkup", target.clone()).await;
    let (gone, gone_body) = call(
        &tg,
        "editMessageReplyMarkup",
        json!({ "chat_id": USER, "message_id": 999, "reply_markup": one_button("m:1") }),
    )
    .await;

    assert_eq!(changed, 200, "{changed_body}");
    assert_eq!(changed_body["result"]["reply_markup"], one_button("m:1"));
    assert_eq!(same, 400);
    assert!(
        same_body["description"]
            .as_str()
            .unwrap()
            .starts_with("Bad Request: message is not modified"),
        "{same_body}"
    );
    assert_eq!(
        only_markup, 200,
        "the same text with another keyboard is a change"
    );
    assert_eq!(kept, Some(one_button("m:2")));
    assert_eq!(text_only, 200);
    assert!(text_only_body["result"].get("reply_markup").is_none());
    assert_eq!(
        after_text_edit, None,
        "an edit without reply_markup removes the keyboard"
    );
    assert_eq!(back, 200);
    assert_eq!(removed, 200);
    assert_eq!(tg.keyboard_of(USER, message_id), None);
    assert_eq!(
        (gone, gone_body["description"].clone()),
        (400, json!("Bad Request: message to edit not found"))
    );
    let edits: Vec<(String, Option<Value>)> = tg
        .markup_edits()
        .into_iter()
        .map(|e| (e.method, e.markup))
        .collect();
    assert_eq!(
        edits,
        [
            (
                "editMessageReplyMarkup".to_string(),
                Some(one_button("m:1"))
            ),
            ("editMessageText".to_string(), Some(one_button("m:2"))),
            ("editMessageText".to_string(), None),
            ("editMessageText".to_string(), Some(one_button("m:3"))),
            ("editMessageReplyMarkup".to_string(), None),
        ]
    );
}

#[actix_web::test]
async fn fakes_telegram_delivers_taps_only_when_allowed_updates_asks_for_them() {
    let tg = FakeTelegram::start(TOKEN);
    let message_id = keyboard_message(&tg, one_button("m:0")).await;
    // The bot's list today: no callback_query.
    call(
        &tg,
        "getUpdates",
        json!({ "allowed_updates": ["message", "my_chat_member"] }),
    )
    .await;

    let left_out = tg.tap(USER, USER, message_id, "m:0");
    call(
        &tg,
        "getUpdates",
        json!({ "allowed_updates": ["message", "callback_query"] }),
    )
    .await;
    let delivered = tg.tap(USER, USER, message_id, "m:0");
    let (_, updates) = call(&tg, "getUpdates", json!({})).await;

    assert_eq!(tg.dropped_updates().len(), 1);
    assert_eq!(
        tg.dropped_updates()[0]["callback_query"]["id"],
        json!(left_out)
    );
    assert_eq!(
        tg.tap_state(&left_out),
        None,
        "never created: nothing to answer"
    );
    assert_eq!(updates["result"].as_array().unwrap().len(), 1);
    assert_eq!(
        updates["result"][0]["callback_query"]["id"],
        json!(delivered)
    );
}

#[actix_web::test]
async fn fakes_llm_lists_models_like_aichat_or_plain_openai_and_roles_or_404() {
    use crate::support::fake_llm::{aichat_model, aichat_role, openai_model};
    use aichat_telegram_bot::llm::{CatalogError, LlmClient, ModelKind};
    let llm = FakeLlm::start();
    let client = LlmClient::new(&llm.url(), "default", None);
    let second = Duration::from_secs(5);

    llm.set_models(vec![
        aichat_model("openai:gpt-4o", "chat"),
        aichat_model("openai:text-embedding-3-small", "embedding"),
        aichat_model("jina:jina-reranker-v2", "reranker"),
    ]);
    let aichat = client.list_models(second).await.unwrap();
    llm.set_models(vec![openai_model("gpt-4o")]);
    let openai = client.list_models(second).await.unwrap();
    llm.set_roles(vec![
        aichat_role("coder", "Write code only.", Some("openai:gpt-4o")),
        aichat_role("poet", "Answer in verse.", None),
    ]);
    let roles = client.list_roles(second).await.unwrap();
    let (_, raw_roles) = {
        let mut resp = awc::Client::default()
            .get(format!("{}/v1/roles", llm.url()))
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json::<Value>().await.unwrap())
    };
    llm.set_roles_unavailable();
    let mut missing = awc::Client::default()
        .get(format!("{}/v1/roles", llm.url()))
        .send()
        .await
        .unwrap();
    let missing_body: Value = missing.json().await.unwrap();
    let unavailable = client.list_roles(second).await;

    let kinds: Vec<ModelKind> = aichat.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [ModelKind::Chat, ModelKind::Embedding, ModelKind::Reranker]
    );
    assert_eq!(aichat[0].max_input_tokens, Some(128_000));
    assert!(aichat[0].supports_vision && !aichat[1].supports_vision);
    assert_eq!(
        (aichat[0].input_price, aichat[0].output_price),
        (Some(0.15), Some(0.6))
    );
    assert_eq!(openai[0].kind, ModelKind::Chat);
    assert_eq!(
        (openai[0].max_input_tokens, openai[0].supports_vision),
        (None, false)
    );
    assert_eq!(roles[0].model.as_deref(), Some("openai:gpt-4o"));
    assert_eq!(roles[1].model, None);
    assert!(
        raw_roles["data"][1].get("model").is_none(),
        "aichat leaves out a role's missing model"
    );
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(
        missing_body["error"]["message"],
        json!("Invalid URL (GET /v1/roles)")
    );
    assert!(
        matches!(unavailable, Err(CatalogError::RolesUnavailable)),
        "{unavailable:?}"
    );
}

#[actix_web::test]
async fn fakes_telegram_refuses_messages_into_a_closed_topic_like_telegram() {
    let tg = FakeTelegram::start(TOKEN);
    let forum = -1_009_001;
    let topic = tg.open_topic(USER, forum, "Team", "Plans");
    tg.close_topic(forum, topic);

    let sent = call(
        &tg,
        "sendMessage",
        json!({ "chat_id": forum, "message_thread_id": topic, "text": "x" }),
    )
    .await;
    let general = call(&tg, "sendMessage", json!({ "chat_id": forum, "text": "y" })).await;

    assert_bad_request(&sent, "Bad Request: TOPIC_CLOSED");
    assert_eq!(general.0, 200, "the rest of the forum is open");
    let api = BotApi::new(&tg.url(), &Secret::new(TOKEN));
    let typed = api
        .send_chat_action(
            Conversation {
                chat: ChatId(forum),
                topic: Some(aichat_telegram_bot::ids::TopicId(topic)),
            },
            "typing",
        )
        .await;
    assert!(
        matches!(typed, Err(TelegramError::TopicGone { .. })),
        "{typed:?}"
    );
}

/// A stand-in for the bot's webhook endpoint: records each request (its secret header and body) and answers
/// with the statuses queued (200 once they run out), after `delay` for the first request if set.
#[derive(Default)]
struct Receiver {
    answers: std::collections::VecDeque<u16>,
    delay_first: Option<Duration>,
    /// Answers a message with this text only after this long.
    slow: Option<(String, Duration)>,
    got: Vec<(Option<String>, Value)>,
}

type SharedReceiver = std::sync::Mutex<Receiver>;

async fn receive(
    req: actix_web::HttpRequest,
    body: actix_web::web::Json<Value>,
    receiver: actix_web::web::Data<SharedReceiver>,
) -> actix_web::HttpResponse {
    let (status, delay) = {
        let mut r = receiver.lock().unwrap();
        let secret = req
            .headers()
            .get("X-Telegram-Bot-Api-Secret-Token")
            .map(|v| v.to_str().unwrap().to_string());
        let body = body.into_inner();
        let slow = r
            .slow
            .clone()
            .filter(|(text, _)| body["message"]["text"] == text.as_str())
            .map(|(_, delay)| delay);
        r.got.push((secret, body));
        (
            r.answers.pop_front().unwrap_or(200),
            r.delay_first.take().or(slow),
        )
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    actix_web::HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

fn start_receiver(receiver: Receiver) -> (String, actix_web::web::Data<SharedReceiver>) {
    let data = actix_web::web::Data::new(std::sync::Mutex::new(receiver));
    let (port, _handle) =
        crate::support::serve_on_loopback("receiver", data.clone(), 1 << 20, |cfg| {
            cfg.route("/hook", actix_web::web::post().to(receive));
        });
    (format!("http://127.0.0.1:{port}"), data)
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_web::test]
async fn fakes_telegram_checks_set_webhook_like_telegram() {
    let tg = FakeTelegram::start(TOKEN);
    let refused = |url: &str, secret: &str| {
        let params = json!({"url": url, "secret_token": secret});
        let tg = &tg;
        async move { call(tg, "setWebhook", params).await }
    };
    let (status, body) = refused("http://bot.example.org/hook", "s").await;
    assert_eq!(status, 400);
    assert!(body["description"]
        .as_str()
        .unwrap()
        .contains("HTTPS URL must be provided"));
    let (status, body) = refused("https://bot.example.org:8080/hook", "s").await;
    assert_eq!(status, 400);
    assert!(body["description"]
        .as_str()
        .unwrap()
        .contains("ports 80, 88, 443 or 8443"));
    let (status, body) = refused("https://bot.example.org/hook", "not allowed!").await;
    assert_eq!(status, 400);
    assert!(body["description"]
        .as_str()
        .unwrap()
        .contains("unallowed characters"));
    assert!(tg.webhook().is_none());

    let (status, _) = call(
        &tg,
        "setWebhook",
        json!({"url": "https://bot.example.org:8443/hook", "secret_token": "abc_-1",
               "max_connections": 500, "allowed_updates": ["message"]}),
    )
    .await;
    assert_eq!(status, 200);
    let set = tg.webhook().unwrap();
    assert_eq!(
        (set.secret.as_deref(), set.max_connections),
        (Some("abc_-1"), 100)
    );
    let (_, info) = call(&tg, "getWebhookInfo", json!({})).await;
    assert_eq!(info["result"]["url"], "https://bot.example.org:8443/hook");
    assert_eq!(info["result"]["max_connections"], 100);
    assert_eq!(info["result"]["allowed_updates"], json!(["message"]));
    assert!(info["result"].get("last_error_message").is_none());
    assert_eq!(call(&tg, "getUpdates", json!({})).await.0, 409);
}

#[actix_web::test]
async fn fakes_telegram_delivers_each_update_with_the_secret_and_again_after_a_failure_or_a_timeout(
) {
    let tg = FakeTelegram::start(TOKEN);
    tg.set_webhook_retry(Duration::from_millis(50), Duration::from_millis(200));
    tg.set_webhook_timeout(Duration::from_millis(300));
    let (base, receiver) = start_receiver(Receiver {
        answers: [503].into(),
        ..Receiver::default()
    });
    call(
        &tg,
        "setWebhook",
        json!({"url": "https://bot.example.org/hook", "secret_token": "sec"}),
    )
    .await;
    let first = tg.push_text(USER, USER, "one");
    // No route yet: like a proxy that cannot be reached.
    wait_for("a refused delivery", || !tg.webhook_deliveries().is_empty()).await;
    assert_eq!(
        tg.webhook_deliveries()[0].error.as_deref(),
        Some("Connection refused")
    );
    tg.route_webhooks_to(&base);
    wait_for("the update confirmed", || tg.pending_update_count() == 0).await;

    let got = receiver.lock().unwrap().got.clone();
    assert_eq!(got.len(), 2, "503, then again: {got:?}");
    for (secret, body) in &got {
        assert_eq!(secret.as_deref(), Some("sec"));
        assert_eq!(body["update_id"], first);
        assert_eq!(body["message"]["text"], "one");
    }
    let statuses: Vec<_> = tg.webhook_deliveries().iter().map(|d| d.status).collect();
    assert_eq!(statuses, [None, Some(503), Some(200)]);
    let info = tg.webhook_info();
    assert_eq!(
        info["last_error_message"],
        "Wrong response from the webhook: 503 Service Unavailable"
    );
    assert_eq!(info["pending_update_count"], 0);

    // No answer within the timeout: delivered again.
    receiver.lock().unwrap().delay_first = Some(Duration::from_millis(600));
    tg.push_text(USER, USER, "two");
    wait_for("the slow one confirmed", || tg.pending_update_count() == 0).await;
    assert!(tg
        .webhook_deliveries()
        .iter()
        .any(|d| d.error.as_deref() == Some("Read timeout expired")));
    assert_eq!(receiver.lock().unwrap().got.len(), 4);
}

#[actix_web::test]
async fn fakes_telegram_delivers_a_chats_updates_in_order_while_other_chats_go_on() {
    let tg = FakeTelegram::start(TOKEN);
    let (base, receiver) = start_receiver(Receiver {
        slow: Some(("a1".into(), Duration::from_millis(500))),
        ..Receiver::default()
    });
    tg.route_webhooks_to(&base);
    let a1 = tg.push_text(1, 1, "a1");
    let a2 = tg.push_text(1, 1, "a2");
    let b1 = tg.push_text(2, 2, "b1");
    call(
        &tg,
        "setWebhook",
        json!({"url": "https://bot.example.org/hook"}),
    )
    .await;
    wait_for("all confirmed", || tg.pending_update_count() == 0).await;
    let arrived: Vec<i64> = receiver
        .lock()
        .unwrap()
        .got
        .iter()
        .map(|(_, body)| body["update_id"].as_i64().unwrap())
        .collect();
    let confirmed: Vec<i64> = tg
        .webhook_deliveries()
        .iter()
        .map(|d| d.update_id)
        .collect();
    // a1 is slow: b1 does not wait for it, a2 does.
    assert_eq!(arrived.last(), Some(&a2), "{arrived:?}");
    assert_eq!(confirmed, [b1, a1, a2], "{confirmed:?}");
    assert!(receiver
        .lock()
        .unwrap()
        .got
        .iter()
        .all(|(secret, _)| secret.is_none()));
}

#[actix_web::test]
async fn fakes_telegram_keeps_the_pending_updates_for_get_updates_when_the_webhook_is_deleted() {
    let tg = FakeTelegram::start(TOKEN);
    call(
        &tg,
        "setWebhook",
        json!({"url": "https://bot.example.org/hook"}),
    )
    .await;
    let id = tg.push_text(USER, USER, "waits");
    call(&tg, "deleteWebhook", json!({})).await;
    let (_, polled) = call(&tg, "getUpdates", json!({})).await;
    assert_eq!(polled["result"][0]["update_id"], id);

    call(
        &tg,
        "setWebhook",
        json!({"url": "https://bot.example.org/hook"}),
    )
    .await;
    call(&tg, "deleteWebhook", json!({"drop_pending_updates": true})).await;
    let (_, polled) = call(&tg, "getUpdates", json!({})).await;
    assert_eq!(polled["result"], json!([]));
}
