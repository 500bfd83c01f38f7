//! The admin API (`/api`) through the real binary: the token, sessions (with their model and role), messages
//! with what compression folded, the queue, dead letters (list, re-queue, drop) and backups. Plus the
//! dead-letter queue operations as a library against a real redis-server.

use crate::support::bot::{ALLOWED_USER, TEST_TOKEN};
use crate::support::fake_llm::{aichat_model, aichat_role};
use crate::support::TakeOne;
use crate::support::{Behaviour, BotProcess, RedisServer, TestEnv};
use aichat_telegram_bot::config::Config;
use aichat_telegram_bot::db::queries::Scope;
use aichat_telegram_bot::ids::{ChatId, JobId, MessageId, UpdateId, UserId};
use aichat_telegram_bot::paging::Page;
use aichat_telegram_bot::queue::{
    ChatRef, Job, JobKind, Priority, Queue, QueueSettings, Requeued, Taken,
};
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
/// `API_TOKEN` of these tests (the bot wants 16 characters or more).
const TOKEN: &str = "admin-token-0123456789abcdef";
/// A second allowed user, chatting in their own private chat.
const OTHER_USER: i64 = 1002;

fn env_with_api() -> TestEnv {
    let mut env = TestEnv::start();
    env.set("API_TOKEN", TOKEN);
    env.set("ALLOWED_USER_IDS", format!("{ALLOWED_USER},{OTHER_USER}"));
    env
}

fn auth() -> String {
    format!("Bearer {TOKEN}")
}

/// An authorized API call.
async fn api(bot: &BotProcess, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let auth = auth();
    bot.request_json(method, path, &[("Authorization", &auth)], body)
        .await
}

/// Asserts a JSON error with this status.
fn assert_error(answer: &(u16, Value), status: u16, what: &str) {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    assert_eq!(answer.1["status"], status, "{what}: {}", answer.1);
    assert!(
        answer.1["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {}",
        answer.1
    );
}

/// Sends a message in the user's own chat and waits for the bot's next message there.
async fn ask(env: &TestEnv, user: i64, text: &str) -> String {
    let before = env.telegram.messages_to(user).len();
    env.telegram.push_text(user, user, text);
    env.telegram.wait_for_messages(user, before + 1, T).await[before]
        .text
        .clone()
}

/// Posts a raw body (which need not be JSON) with the token.
async fn post_raw(bot: &BotProcess, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let response = awc::Client::new()
        .post(format!("{}{path}", bot.base_url()))
        .insert_header(("Authorization", auth()))
        .insert_header(("Content-Type", content_type))
        .send_body(body.to_string())
        .await;
    let mut response = response.unwrap();
    let bytes = response.body().await.unwrap();
    (
        response.status().as_u16(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[actix_web::test]
async fn the_api_is_absent_without_a_token_and_refuses_a_missing_or_wrong_one() {
    let env = TestEnv::start();
    let bot = env.spawn_bot().await;
    for path in ["/api/sessions", "/api/queue", "/api/nothing-here"] {
        let answer = bot
            .request_json("GET", path, &[("Authorization", &auth())], None)
            .await;
        assert_error(&answer, 404, path);
    }
    assert_eq!(bot.get_json("/health").await.0, 200);
    drop(bot);

    let env = env_with_api();
    let bot = env.spawn_bot().await;
    assert_error(&bot.get_json("/api/sessions").await, 401, "no token");
    for wrong in [
        "Bearer admin-token-0123456789abcdeX".to_string(),
        format!("Bearer {TOKEN}x"),
        format!("Basic {TOKEN}"),
        TOKEN.to_string(),
    ] {
        let answer = bot
            .request_json("GET", "/api/queue", &[("Authorization", &wrong)], None)
            .await;
        assert_error(&answer, 401, &wrong);
    }
    assert_error(
        &bot.get_json("/api/nothing-here").await,
        401,
        "unknown paths are guarded too",
    );

    assert_eq!(api(&bot, "GET", "/api/queue", None).await.0, 200);
    assert_error(
        &api(&bot, "GET", "/api/nothing-here", None).await,
        404,
        "unknown",
    );
    assert_error(
        &api(&bot, "PUT", "/api/queue", None).await,
        405,
        "wrong method",
    );
    assert_eq!(bot.get_json("/health").await.0, 200, "untouched");
}

#[actix_web::test]
async fn sessions_are_listed_in_pages_shown_and_deleted_with_everything_of_theirs() {
    let env = env_with_api();
    let bot = env.spawn_bot().await;
    ask(&env, ALLOWED_USER, "first question").await;
    ask(&env, ALLOWED_USER, "second question").await;
    ask(&env, OTHER_USER, "hello from the other chat").await;

    let (status, list) = api(&bot, "GET", "/api/sessions", None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        (&list["total"], &list["page"], &list["per_page"]),
        (&json!(2), &json!(1), &json!(50)),
        "{list}"
    );
    let mine = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == ALLOWED_USER)
        .unwrap()
        .clone();
    assert_eq!(mine["kind"], "private");
    assert_eq!(
        (
            &mine["messages"],
            &mine["user_messages"],
            &mine["assistant_messages"]
        ),
        (&json!(4), &json!(2), &json!(2)),
        "{mine}"
    );
    assert!(mine["tokens"].as_i64().unwrap() > 0, "{mine}");
    assert!(mine["last_activity_at"].as_i64().unwrap() > 0, "{mine}");
    assert!(mine["blocked_at"].is_null());

    let (_, second) = api(&bot, "GET", "/api/sessions?page=2&per_page=1", None).await;
    assert_eq!((&second["total"], &second["page"]), (&json!(2), &json!(2)));
    assert_eq!(second["sessions"].as_array().unwrap().len(), 1);
    let (_, beyond) = api(&bot, "GET", "/api/sessions?page=3&per_page=1", None).await;
    assert_eq!(beyond["sessions"], json!([]));
    for bad in [
        "per_page=0",
        "per_page=501",
        "page=0",
        "page=abc",
        "page=-1",
        "per_page=1.5",
    ] {
        let path = format!("/api/sessions?{bad}");
        assert_error(&api(&bot, "GET", &path, None).await, 400, bad);
    }

    let one = format!("/api/sessions/{ALLOWED_USER}");
    let (status, detail) = api(&bot, "GET", &one, None).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["session"]["id"], ALLOWED_USER);
    assert_eq!(
        (
            &detail["stats"]["user_messages"],
            &detail["stats"]["assistant_messages"]
        ),
        (&json!(2), &json!(2))
    );
    assert!(detail["summary"].is_null(), "not compressed: {detail}");
    assert_error(
        &api(&bot, "GET", "/api/sessions/424242", None).await,
        404,
        "unknown",
    );
    assert_error(
        &api(&bot, "GET", "/api/sessions/abc", None).await,
        400,
        "non-numeric",
    );

    let (_, messages) = api(&bot, "GET", &format!("{one}/messages?per_page=3"), None).await;
    assert_eq!(messages["total"], 4, "{messages}");
    let texts: Vec<(&str, &str)> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        texts,
        [
            ("user", "first question"),
            ("assistant", "echo: first question"),
            ("user", "second question")
        ]
    );
    assert_eq!(messages["messages"][0]["folded"], false);
    assert!(messages["messages"][0]["telegram_message_id"].is_i64());
    assert_eq!(messages["summaries"], json!([]));
    assert_error(
        &api(&bot, "GET", "/api/sessions/424242/messages", None).await,
        404,
        "unknown",
    );

    let (status, deleted) = api(&bot, "DELETE", &one, None).await;
    assert_eq!(
        (status, &deleted["deleted"]),
        (200, &json!(true)),
        "{deleted}"
    );
    assert_error(&api(&bot, "GET", &one, None).await, 404, "deleted");
    assert_error(
        &api(&bot, "GET", &format!("{one}/messages"), None).await,
        404,
        "its messages went with it",
    );
    assert_error(&api(&bot, "DELETE", &one, None).await, 404, "twice");
    let (_, list) = api(&bot, "GET", "/api/sessions", None).await;
    assert_eq!(list["total"], 1);
    let stats = ask(&env, ALLOWED_USER, "/stats").await;
    assert!(
        stats.contains("No conversation yet"),
        "the deleted chat starts afresh: {stats}"
    );

    let (status, queue) = api(&bot, "GET", "/api/queue", None).await;
    assert_eq!(status, 200, "{queue}");
    assert!(queue["enqueued"].as_u64().unwrap() >= 4, "{queue}");
    assert!(queue["completed"].as_u64().unwrap() >= 3, "{queue}");
    assert_eq!(
        (&queue["dead"], &queue["high"]),
        (&json!(0), &json!(0)),
        "{queue}"
    );
}

#[actix_web::test]
async fn a_sessions_model_and_role_are_shown_in_the_list_and_in_its_detail_or_null_by_default() {
    let env = env_with_api().with("AICHAT_MODEL", "openai:gpt-4o");
    env.llm.set_models(vec![
        aichat_model("openai:gpt-4o", "chat"),
        aichat_model("claude:sonnet", "chat"),
    ]);
    env.llm
        .set_roles(vec![aichat_role("poet", "You write poems.", None)]);
    let bot = env.spawn_bot().await;
    let switched = ask(&env, ALLOWED_USER, "/model sonnet").await;
    assert!(switched.contains("claude:sonnet"), "{switched}");
    let role = ask(&env, ALLOWED_USER, "/role poet").await;
    assert!(role.contains("poet"), "{role}");
    ask(&env, OTHER_USER, "hello with the defaults").await;

    let (_, list) = api(&bot, "GET", "/api/sessions", None).await;
    let settings = |id: i64| {
        let session = list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no session {id}: {list}"));
        (session.get("model").cloned(), session.get("role").cloned())
    };
    assert_eq!(
        settings(ALLOWED_USER),
        (Some(json!("claude:sonnet")), Some(json!("poet")))
    );
    assert_eq!(
        settings(OTHER_USER),
        (Some(Value::Null), Some(Value::Null)),
        "null, not absent: AICHAT_MODEL and no role"
    );

    let (_, mine) = api(&bot, "GET", &format!("/api/sessions/{ALLOWED_USER}"), None).await;
    assert_eq!(
        (&mine["session"]["model"], &mine["session"]["role"]),
        (&json!("claude:sonnet"), &json!("poet")),
        "{mine}"
    );
    assert_eq!(mine["session"]["system_prompt"], "You write poems.");
    let (_, other) = api(&bot, "GET", &format!("/api/sessions/{OTHER_USER}"), None).await;
    assert_eq!(
        (other["session"].get("model"), other["session"].get("role")),
        (Some(&Value::Null), Some(&Value::Null)),
        "{other}"
    );
}

#[actix_web::test]
async fn the_messages_listing_marks_what_compression_folded_and_the_summary_covering_it() {
    let mut env = env_with_api();
    env.set("CONTEXT_WINDOW_TOKENS", "2048");
    env.set("COMPRESS_RATIO", "0.5");
    env.set("KEEP_RECENT_MESSAGES", "2");
    let bot = env.spawn_bot().await;
    for i in 1..=4 {
        let text = format!("turn{i} {}", "lorem ipsum dolor sit amet ".repeat(22));
        ask(&env, ALLOWED_USER, &text).await;
    }
    env.telegram
        .wait_until("the compression note", T, |tg| {
            tg.messages_to(ALLOWED_USER)
                .iter()
                .any(|m| m.text.starts_with("🗜"))
        })
        .await;

    let path = format!("/api/sessions/{ALLOWED_USER}/messages?per_page=500");
    let (status, listing) = api(&bot, "GET", &path, None).await;

    assert_eq!(status, 200, "{listing}");
    let messages = listing["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 8, "folded messages are kept: {listing}");
    assert!(messages.iter().all(|m| m["type"] == "message"));
    let folded: Vec<i64> = messages
        .iter()
        .filter(|m| m["folded"] == true)
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    let n = folded.len();
    assert!(
        (1..=6).contains(&n),
        "some, at most all but KEEP_RECENT_MESSAGES: {listing}"
    );
    assert!(
        messages.iter().take(n).all(|m| m["folded"] == true)
            && messages.iter().skip(n).all(|m| m["folded"] == false),
        "the oldest are folded, the newest kept: {listing}"
    );
    let summaries = listing["summaries"].as_array().unwrap();
    assert_eq!(summaries.len(), 1, "{listing}");
    let summary = &summaries[0];
    assert_eq!(
        (&summary["type"], &summary["in_use"]),
        (&json!("summary"), &json!(true))
    );
    assert_eq!(
        (
            summary["first_message_id"].as_i64(),
            summary["last_message_id"].as_i64()
        ),
        (folded.first().copied(), folded.last().copied()),
        "it covers exactly the folded messages"
    );
    assert!(summary["content"]
        .as_str()
        .is_some_and(|c| c.contains("summary of")));

    let (_, detail) = api(&bot, "GET", &format!("/api/sessions/{ALLOWED_USER}"), None).await;
    assert_eq!(detail["stats"]["compressions"], 1, "{detail}");
    assert_eq!(detail["summary"]["id"], summary["id"]);
    assert!(
        detail["summary"]["tokens"].as_i64().unwrap() > 0,
        "{detail}"
    );
    assert!(detail["summary"]["chars"].as_u64().unwrap() > 0, "{detail}");
}

#[actix_web::test]
async fn a_dead_job_is_listed_with_its_reason_retried_until_answered_or_dropped() {
    let mut env = env_with_api();
    env.set("JOB_MAX_ATTEMPTS", "1");
    let bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Status(503, "upstream unavailable".into()));
    let told = ask(&env, ALLOWED_USER, "hello?").await;
    assert!(told.contains("had a problem"), "{told}");

    let (status, dead) = api(&bot, "GET", "/api/dead", None).await;
    assert_eq!(status, 200, "{dead}");
    assert_eq!(dead["total"], 1, "{dead}");
    let job = &dead["jobs"][0];
    let id = job["id"].as_str().unwrap().to_string();
    assert!(
        job["reason"].as_str().is_some_and(|r| r.contains("503")),
        "{job}"
    );
    assert_eq!(
        (&job["attempts"], &job["priority"], &job["chat"]),
        (&json!(1), &json!("high"), &json!(ALLOWED_USER)),
        "{job}"
    );
    assert!(job["dead_at_ms"].as_i64().unwrap() > 0, "{job}");
    assert_eq!(job["payload"]["kind"]["text"], "hello?", "decoded: {job}");

    env.llm.set_behaviour(Behaviour::Echo);
    let before = env.telegram.messages_to(ALLOWED_USER).len();
    let (status, retried) = api(&bot, "POST", &format!("/api/dead/{id}/retry"), None).await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["state"], "ready", "{retried}");
    let sent = env
        .telegram
        .wait_for_messages(ALLOWED_USER, before + 1, T)
        .await;
    assert_eq!(sent[before].text, "echo: hello?");
    let (_, dead) = api(&bot, "GET", "/api/dead", None).await;
    assert_eq!(dead["total"], 0, "{dead}");
    assert_error(
        &api(&bot, "POST", &format!("/api/dead/{id}/retry"), None).await,
        404,
        "retried already",
    );

    env.llm
        .set_behaviour(Behaviour::Status(503, "upstream unavailable".into()));
    ask(&env, ALLOWED_USER, "and this one?").await;
    let (_, dead) = api(&bot, "GET", "/api/dead", None).await;
    let id = dead["jobs"][0]["id"].as_str().unwrap().to_string();
    let (status, dropped) = api(&bot, "DELETE", &format!("/api/dead/{id}"), None).await;
    assert_eq!(
        (status, &dropped["dropped"]),
        (200, &json!(true)),
        "{dropped}"
    );
    let (_, dead) = api(&bot, "GET", "/api/dead", None).await;
    assert_eq!(dead["total"], 0, "{dead}");
    assert_error(
        &api(&bot, "DELETE", &format!("/api/dead/{id}"), None).await,
        404,
        "dropped already",
    );
    assert_error(
        &api(&bot, "POST", "/api/dead/a:b/retry", None).await,
        400,
        "not a job id",
    );
    assert_error(
        &api(&bot, "GET", "/api/dead?per_page=0", None).await,
        400,
        "bad page",
    );
}

#[actix_web::test]
async fn a_backup_is_a_restorable_copy_beside_the_database_and_never_written_elsewhere() {
    let env = env_with_api();
    let bot = env.spawn_bot().await;
    ask(&env, ALLOWED_USER, "remember me").await;
    ask(&env, OTHER_USER, "me too").await;

    for bad in [
        "../x.db",
        "/tmp/x.db",
        "a/b.db",
        "..",
        ".env",
        "",
        "bot.db",
        "bot.db-wal",
    ] {
        let answer = api(&bot, "POST", "/api/backup", Some(&json!({ "name": bad }))).await;
        assert_error(&answer, 400, bad);
    }
    assert_error(
        &api(&bot, "POST", "/api/backup", Some(&json!({}))).await,
        400,
        "no name",
    );
    assert_error(
        &api(&bot, "POST", "/api/backup", Some(&json!({"name": 5}))).await,
        400,
        "not a string",
    );
    assert_error(
        &post_raw(&bot, "/api/backup", "application/json", "{not json").await,
        400,
        "bad JSON",
    );

    let body = json!({"name": "backup-2026-11-24.db"});
    let (status, made) = api(&bot, "POST", "/api/backup", Some(&body)).await;

    assert_eq!(status, 201, "{made}");
    let path = std::path::PathBuf::from(made["path"].as_str().unwrap());
    assert_eq!(path, env.workdir().join("backup-2026-11-24.db"));
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(made["bytes"], size, "{made}");
    let copy = aichat_telegram_bot::db::open(&path, 1).unwrap();
    let mut conn = copy.get().unwrap();
    assert_eq!(
        aichat_telegram_bot::db::queries::count_chats(&mut conn).unwrap(),
        2
    );
    let stats =
        aichat_telegram_bot::db::queries::chat_stats(&mut conn, Scope::Chat(ChatId(ALLOWED_USER)))
            .unwrap();
    assert_eq!((stats.user_messages, stats.assistant_messages), (1, 1));
    assert_error(
        &api(&bot, "POST", "/api/backup", Some(&body)).await,
        409,
        "exists",
    );
}

#[actix_web::test]
async fn a_backup_body_that_is_not_a_json_object_is_refused_and_nothing_is_written() {
    let env = env_with_api();
    let bot = env.spawn_bot().await;

    for body in [
        json!(["array.db"]),
        json!("string.db"),
        json!(5),
        json!(null),
    ] {
        let answer = api(&bot, "POST", "/api/backup", Some(&body)).await;

        assert_error(&answer, 400, &body.to_string());
        let error = answer.1["error"].as_str().unwrap_or_default();
        assert!(error.contains("JSON object"), "{body}: {error}");
    }
    assert!(
        !env.workdir().join("array.db").exists(),
        "an array is not read as the fields in order"
    );
}

/// Writes `request` as raw bytes on a new connection to the bot's HTTP port and returns what the server
/// writes back until it closes the connection (or 10 s pass): for requests no HTTP client would send.
async fn raw_exchange(bot: &BotProcess, request: String) -> String {
    use std::io::{Read, Write};
    let addr = bot.base_url().trim_start_matches("http://").to_string();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

/// The status and the body (JSON, or else the text as a JSON string) of the first response in `raw`.
fn first_response(raw: &str) -> (u16, Value) {
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let body = rest.get(..length).unwrap_or(rest);
    let value = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()));
    (status, value)
}

#[actix_web::test]
async fn a_malformed_chunked_request_is_a_400_and_never_an_error_in_the_log() {
    let mut env = env_with_api();
    // The HTTP layer's own lines about refused requests, so the test sees that they were written, and where.
    env.set("RUST_LOG", "info,actix_http::h1::dispatcher=debug");
    let bot = env.spawn_bot().await;

    // A chunk size that is not hexadecimal: the API is reading the body when it breaks.
    let request = format!(
        "POST /api/backup HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n",
        auth()
    );
    let answer = first_response(&raw_exchange(&bot, request).await);

    assert_error(&answer, 400, "a malformed chunk");
    let error = answer.1["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("could not be read") && !error.contains("None"),
        "says what is wrong, in words: {error}"
    );

    // Chunked framing that the HTTP layer refuses before the API sees the request (beside a Content-Length,
    // or after another coding), from a client without the token. actix-http answers these itself, with an
    // empty body (docs/api.md says so); what the bot controls is that they are not logged as its errors.
    for framing in [
        "Transfer-Encoding: chunked\r\nContent-Length: 2",
        "Transfer-Encoding: gzip, chunked",
    ] {
        let request = format!(
            "POST /api/backup HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
        );
        let (status, _) = first_response(&raw_exchange(&bot, request).await);
        assert_eq!(status, 400, "{framing}");
    }
    bot.wait_for_log(
        "DEBUG actix_http::h1::dispatcher: stream error: request parse error",
        T,
    )
    .await;

    let logs = bot.logs();
    assert!(
        !logs.lines().any(|line| line.contains(" ERROR ")),
        "a client's malformed request is not the bot's error:\n{logs}"
    );
}

// ---- The dead-letter operations as a library -----------------------------------------------------------------

fn text_job(update: i64, chat: i64, text: &str) -> Job {
    Job::from_update(
        UpdateId(update),
        JobKind::Chat {
            chat: ChatRef {
                id: ChatId(chat),
                kind: "private".into(),
                title: None,
                topic: None,
            },
            user_id: UserId(chat),
            message_id: MessageId(update),
            text: text.into(),
        },
    )
}

async fn queue_one(q: &Queue, update: i64, chat: i64, text: &str) {
    let job = text_job(update, chat, text);
    let added = q
        .enqueue_updates(&[(UpdateId(update), Priority::High, job)])
        .await
        .unwrap();
    assert_eq!(added, 1);
}

/// Takes the next job and dead-letters it.
async fn take_and_kill(q: &Queue, reason: &str) -> JobId {
    let Some(Taken::Job(lease)) = q.try_take().await.unwrap() else {
        panic!("nothing to take");
    };
    q.fail(&lease, reason, false).await.unwrap();
    lease.id
}

/// The queue settings of a bot that sets none of the queue's variables.
fn default_queue_settings() -> QueueSettings {
    let vars = [
        ("TELEGRAM_BOT_TOKEN", TEST_TOKEN),
        ("ALLOWED_USER_IDS", "1"),
    ];
    Config::from_vars(vars.map(|(k, v)| (k.to_string(), v.to_string())))
        .unwrap()
        .queue
}

#[actix_web::test]
async fn dead_jobs_come_newest_first_and_a_requeued_one_waits_behind_its_chats_running_job() {
    let redis = RedisServer::start();
    let q = Queue::new(&redis.url(), "adm", default_queue_settings()).unwrap();
    for (update, chat) in [(1, 10), (2, 20), (3, 30)] {
        queue_one(&q, update, chat, &format!("message {update}")).await;
        take_and_kill(&q, &format!("reason {update}")).await;
    }

    let first = q
        .dead_jobs(Page::new(Some(1), Some(2)).unwrap())
        .await
        .unwrap();
    let second = q
        .dead_jobs(Page::new(Some(2), Some(2)).unwrap())
        .await
        .unwrap();
    let far = q
        .dead_jobs(Page::new(Some(9), Some(2)).unwrap())
        .await
        .unwrap();

    let ids = |p: &aichat_telegram_bot::queue::DeadPage| {
        p.jobs.iter().map(|j| j.id.0.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        (first.total, ids(&first)),
        (3, vec!["u3".into(), "u2".into()])
    );
    assert_eq!(ids(&second), ["u1"]);
    assert!(far.jobs.is_empty());
    let u1 = &second.jobs[0];
    assert_eq!(u1.reason.as_deref(), Some("reason 1"));
    assert_eq!((u1.attempts, u1.chat), (Some(1), Some(ChatId(10))));
    assert_eq!(u1.priority, Some(Priority::High));

    // Chat 10 is busy with a new message: the re-queued one waits for its turn.
    queue_one(&q, 4, 10, "message 4").await;
    let Some(Taken::Job(running)) = q.try_take().await.unwrap() else {
        panic!("message 4 should run");
    };
    assert_eq!(
        q.requeue_dead(&JobId("u1".into())).await.unwrap(),
        Requeued::Waiting
    );
    assert_eq!(q.stats().await.unwrap().chat_waiting, 1);
    assert!(q.try_take().await.unwrap().is_none(), "not before its turn");
    q.ack(&running).await.unwrap();
    let Some(Taken::Job(again)) = q.try_take().await.unwrap() else {
        panic!("the re-queued job runs after the chat's job");
    };
    assert_eq!(
        (again.id.0.as_str(), again.attempt),
        ("u1", 1),
        "a full set of attempts"
    );
    assert_eq!(q.dead_jobs(Page::default()).await.unwrap().total, 2);

    // A new job took the id while the old one was dead: re-queueing it would clobber the new one.
    q.fail(&again, "reason 1 again", false).await.unwrap();
    assert!(q
        .enqueue(Priority::High, &text_job(1, 10, "new"))
        .await
        .unwrap());
    assert_eq!(
        q.requeue_dead(&JobId("u1".into())).await.unwrap(),
        Requeued::Conflict
    );
    assert_eq!(q.dead_jobs(Page::default()).await.unwrap().total, 3);
    assert!(q.drop_dead(&JobId("u1".into())).await.unwrap());
    assert!(!q.drop_dead(&JobId("u1".into())).await.unwrap());
    assert_eq!(
        q.requeue_dead(&JobId("u1".into())).await.unwrap(),
        Requeued::NotFound
    );
    assert_eq!(redis.cmd(&["EXISTS", "adm:deadjob:u1"]), "0");
    let Some(Taken::Job(live)) = q.try_take().await.unwrap() else {
        panic!("the new job with the id is untouched");
    };
    assert_eq!(live.id.0, "u1");
}

// ---- Usage -------------------------------------------------------------------------------------------------

/// `GET path` once its answer satisfies `done` (usage is stored a moment after the user saw the answer).
async fn usage_when(bot: &BotProcess, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + T;
    loop {
        let (status, body) = api(bot, "GET", path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        if done(&body) || std::time::Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Adds one request's usage to the bot's database (before the bot starts, or beside it).
fn record_usage(
    env: &TestEnv,
    day: &str,
    user: i64,
    model: &str,
    summary: bool,
    tokens: (i64, i64),
) {
    use aichat_telegram_bot::db::spending::{record, Source, Spend, SpendKind};
    let pool = aichat_telegram_bot::db::open(&env.database_path(), 1).unwrap();
    let spend = Spend {
        day: day.into(),
        user: UserId(user),
        chat: ChatId(if summary { ALLOWED_USER } else { user }),
        model: model.into(),
        kind: if summary {
            SpendKind::Summary
        } else {
            SpendKind::Chat
        },
        source: Source::Server,
        prompt_tokens: tokens.0,
        completion_tokens: tokens.1,
    };
    record(&mut pool.get().unwrap(), &spend).unwrap();
}

fn rows(report: &Value) -> &Vec<Value> {
    report["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {report}"))
}

fn n(v: &Value) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("not a whole number: {v}"))
}

#[actix_web::test]
async fn the_usage_report_groups_by_user_and_model_with_the_servers_prices_and_the_summaries_apart()
{
    let env = env_with_api().with("AICHAT_MODEL", "openai:gpt-4o");
    let mut unpriced = aichat_model("claude:sonnet", "chat");
    for price in ["input_price", "output_price"] {
        unpriced.as_object_mut().unwrap().remove(price);
    }
    env.llm
        .set_models(vec![aichat_model("openai:gpt-4o", "chat"), unpriced]);
    let today = aichat_telegram_bot::usage::Periods::at(aichat_telegram_bot::text::now_unix()).day;
    record_usage(&env, &today, 0, "openai:gpt-4o", true, (300, 30));
    let bot = env.spawn_bot().await;
    ask(&env, ALLOWED_USER, "a short one on the default model").await;
    ask(&env, ALLOWED_USER, "/model sonnet").await;
    let long = format!("a long one: {}", "lorem ipsum dolor sit amet ".repeat(20));
    ask(&env, ALLOWED_USER, &long).await;
    ask(&env, OTHER_USER, "hello").await;

    let all_three = |r: &Value| rows(r).iter().map(|row| n(&row["requests"])).sum::<i64>() == 3;
    let users = usage_when(&bot, "/api/usage?group_by=user", all_three).await;
    let (_, models) = api(&bot, "GET", "/api/usage?group_by=model", None).await;
    let (_, days) = api(&bot, "GET", "/api/usage", None).await;
    let (_, other) = api(
        &bot,
        "GET",
        &format!("/api/usage?group_by=model&user_id={OTHER_USER}"),
        None,
    )
    .await;

    let ids: Vec<&Value> = rows(&users).iter().map(|r| &r["user_id"]).collect();
    assert_eq!(
        ids,
        [&json!(ALLOWED_USER), &json!(OTHER_USER)],
        "the most tokens first, no user 0: {users}"
    );
    let mine = &rows(&users)[0];
    assert_eq!(
        (
            &mine["requests"],
            &mine["cost_partial"],
            &mine["summary_tokens"]
        ),
        (&json!(2), &json!(true), &json!(0)),
        "one answer priced by the server, one not: {mine}"
    );
    assert_eq!(
        n(&mine["estimated_tokens"]),
        n(&mine["tokens"]),
        "streamed: the bot's own count"
    );
    assert_eq!(
        users["summaries"]["tokens"], 330,
        "the summary, apart: {users}"
    );
    assert_eq!(
        (&users["group_by"], &users["to"]),
        (&json!("user"), &json!(today))
    );

    let names: Vec<&Value> = rows(&models).iter().map(|r| &r["model"]).collect();
    assert_eq!(
        names,
        [&json!("claude:sonnet"), &json!("openai:gpt-4o")],
        "{models}"
    );
    let (sonnet, gpt) = (&rows(&models)[0], &rows(&models)[1]);
    assert_eq!(
        (&sonnet["cost"], &sonnet["cost_partial"]),
        (&Value::Null, &json!(false)),
        "{sonnet}"
    );
    let expected =
        (n(&gpt["prompt_tokens"]) as f64 * 0.15 + n(&gpt["completion_tokens"]) as f64 * 0.6) / 1e6;
    let cost = gpt["cost"]
        .as_f64()
        .unwrap_or_else(|| panic!("priced: {gpt}"));
    assert!(
        (cost - expected).abs() < 1e-12,
        "the server's prices: {cost} vs {expected}"
    );
    assert_eq!(
        (
            &gpt["requests"],
            &gpt["summary_requests"],
            &gpt["summary_tokens"]
        ),
        (&json!(2), &json!(1), &json!(330))
    );

    let day_rows = rows(&days);
    assert_eq!(day_rows.len(), 1, "{days}");
    assert_eq!(day_rows[0]["day"], json!(today));
    assert_eq!(
        n(&day_rows[0]["tokens"]),
        n(&mine["tokens"]) + n(&rows(&users)[1]["tokens"])
    );
    assert_eq!(day_rows[0]["summary_tokens"], 330);

    assert_eq!(other["user_id"], OTHER_USER);
    assert_eq!(rows(&other).len(), 1, "{other}");
    assert_eq!(rows(&other)[0]["model"], "openai:gpt-4o");
    assert_eq!(
        other["summaries"]["tokens"], 0,
        "summaries are no user's: {other}"
    );
}

#[actix_web::test]
async fn the_usage_report_by_day_is_oldest_first_over_the_range_priced_by_model_prices_and_paged() {
    let env = env_with_api().with("MODEL_PRICES", "priced=1000/2000");
    for (day, tokens) in [
        ("2026-03-31", (1, 1)),
        ("2026-04-03", (30, 3)),
        ("2026-04-01", (10, 1)),
        ("2026-04-02", (20, 2)),
        ("2026-04-06", (5, 5)),
    ] {
        record_usage(&env, day, ALLOWED_USER, "priced", false, tokens);
    }
    let bot = env.spawn_bot().await;
    let path =
        |page: u32| format!("/api/usage?from=2026-04-01&to=2026-04-05&per_page=2&page={page}");

    let (status, first) = api(&bot, "GET", &path(1), None).await;
    let (_, second) = api(&bot, "GET", &path(2), None).await;
    let (_, third) = api(&bot, "GET", &path(3), None).await;

    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (
            &first["page"],
            &first["per_page"],
            &first["total"],
            &first["from"],
            &first["to"],
            &first["group_by"]
        ),
        (
            &json!(1),
            &json!(2),
            &json!(3),
            &json!("2026-04-01"),
            &json!("2026-04-05"),
            &json!("day")
        )
    );
    let days: Vec<(&Value, &Value)> = rows(&first)
        .iter()
        .chain(rows(&second))
        .map(|r| (&r["day"], &r["tokens"]))
        .collect();
    assert_eq!(
        days,
        [
            (&json!("2026-04-01"), &json!(11)),
            (&json!("2026-04-02"), &json!(22)),
            (&json!("2026-04-03"), &json!(33))
        ],
        "March 31st and April 6th are outside"
    );
    assert_eq!(second["total"], 3);
    assert!(rows(&third).is_empty(), "{third}");
    let cost = rows(&first)[0]["cost"].as_f64().unwrap();
    assert!(
        (cost - (10.0 * 1000.0 + 1.0 * 2000.0) / 1e6).abs() < 1e-12,
        "MODEL_PRICES: {cost}"
    );
    assert_eq!(
        rows(&first)[0]["estimated_tokens"],
        0,
        "the server's figures"
    );
}

#[actix_web::test]
async fn a_bad_usage_query_is_a_400_in_json() {
    let env = env_with_api();
    let bot = env.spawn_bot().await;

    for query in [
        "from=2026-13-01",
        "to=2026-02-30",
        "from=03/04/2026",
        "from=2026-04-02&to=2026-04-01",
        "from=2025-01-01&to=2026-01-02",
        "user_id=abc",
        "user_id=0",
        "group_by=chat",
        "page=0",
        "per_page=501",
        "per_page=many",
    ] {
        let answer = api(&bot, "GET", &format!("/api/usage?{query}"), None).await;
        assert_error(&answer, 400, query);
    }
    let (status, year) = api(
        &bot,
        "GET",
        "/api/usage?from=2024-01-01&to=2024-12-31",
        None,
    )
    .await;
    assert_eq!(
        (status, &year["total"]),
        (200, &json!(0)),
        "366 days, none used: {year}"
    );
    assert_error(
        &api(&bot, "POST", "/api/usage", None).await,
        405,
        "read only",
    );
}
