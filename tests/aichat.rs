//! The real gateway: the bot in front of a real `aichat --serve` (0.30), which forwards to the fake LLM.
//!
//! ```text
//! FakeTelegram <-> bot <-> aichat --serve <-> FakeLlm (an `openai-compatible` client named `fake`)
//! ```
//!
//! Not part of `cargo test`: it needs an `aichat` binary, whose build takes minutes. Run it with
//! `scripts/e2e-aichat.sh` (which installs aichat), or
//! `AICHAT_BIN=/path/to/aichat cargo test --features aichat-e2e --test aichat`. Without `AICHAT_BIN` every
//! test fails loudly: a silently skipped gateway test would prove nothing.
//!
//! What aichat does differently from a plain OpenAI server, and what these tests pin down
//! (docs/operations.md, "The real gateway", has the list):
//! - model ids are `client:model` (`fake:test-model`) or `default`; a bare model name is refused;
//! - `/v1/models` lists `default` first, then every model as `client:model`, with `max_input_tokens`;
//! - every failed completion is HTTP 400 whose message is the upstream's message plus ` (type: …)` (no status
//!   code), or reqwest's "error sending request for url (…)" when the upstream is unreachable;
//! - no response headers before the first token, no read timeout towards the upstream, no `usage` in streams;
//! - an upstream stream cut mid-answer still ends with `finish_reason: "stop"` and `[DONE]`;
//! - a chat's `/model` choice is sent as `client:model` and forwarded upstream under the upstream's name, and
//!   each model's `max_input_tokens` is the window of the chats that use it;
//! - `/v1/models` lists `supports_vision: true` for a model configured with it (and nothing for the others),
//!   and a request's image parts are forwarded upstream as sent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "e2e/support/mod.rs"]
mod support;

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use support::bot::ALLOWED_USER;
use support::fake_llm::image_urls;
use support::{Behaviour, TestEnv};

/// Generous: a debug bot and aichat on a busy 2-core machine.
const T: Duration = Duration::from_secs(30);

/// The model as aichat names it: `<client name>:<model name>`.
const MODEL_ID: &str = "fake:test-model";

/// [`MODEL_ID`] as the upstream knows it: aichat forwards this name.
const UPSTREAM_MODEL: &str = "test-model";

/// A second model of the `fake` client, for `/model`: its upstream name, aichat's name, and a window of
/// its own so that `/context` tells which one a chat uses.
const SECOND_UPSTREAM_MODEL: &str = "small-model";
const SECOND_MODEL_ID: &str = "fake:small-model";
const SECOND_WINDOW: u64 = 8_000;

/// What aichat is told the model's context window is (and reports in `/v1/models`).
const WINDOW: u64 = 32_000;

/// How long `aichat --serve` may take to answer on its port.
const AICHAT_STARTUP: Duration = Duration::from_secs(20);

/// Ports to try: another process may take the probed port before aichat binds it.
const PORT_ATTEMPTS: usize = 5;

// ---- aichat --serve as a child process -------------------------------------------------------------------

/// A running `aichat --serve` with its own config directory. Dropping it kills the process; when a test
/// panics, its log is printed.
struct Aichat {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Aichat {
    /// The binary under test: `AICHAT_BIN`, required.
    fn binary() -> PathBuf {
        match std::env::var_os("AICHAT_BIN") {
            Some(path) if !path.is_empty() => {
                let path = PathBuf::from(path);
                assert!(
                    path.is_file(),
                    "AICHAT_BIN={} is not a file; run scripts/e2e-aichat.sh",
                    path.display()
                );
                path
            }
            _ => panic!(
                "\n\n*** AICHAT_BIN is not set. These tests need a real `aichat` (0.30): run \
                 scripts/e2e-aichat.sh, which installs it, or set AICHAT_BIN=/path/to/aichat ***\n\n"
            ),
        }
    }

    /// Starts `aichat --serve` on a free port with one `openai-compatible` client named `fake` whose only
    /// model, `test-model`, lives at `http://127.0.0.1:{upstream_port}/v1` and has a context window of
    /// `max_input_tokens`. Waits until the port answers.
    fn start(upstream_port: u16, max_input_tokens: u64) -> Aichat {
        Self::start_with_models(upstream_port, &[(UPSTREAM_MODEL, max_input_tokens)])
    }

    /// [`Aichat::start`] with these models `(upstream name, max_input_tokens)` of the `fake` client, all at
    /// the same upstream; the first is aichat's `default`.
    fn start_with_models(upstream_port: u16, models: &[(&str, u64)]) -> Aichat {
        Self::start_with_vision(upstream_port, models, &[])
    }

    /// [`Aichat::start_with_models`], the models named in `vision` configured with `supports_vision: true`.
    fn start_with_vision(upstream_port: u16, models: &[(&str, u64)], vision: &[&str]) -> Aichat {
        let binary = Self::binary();
        let dir = tempfile::Builder::new()
            .prefix("e2e-aichat-")
            .tempdir()
            .expect("a temp dir for aichat's config");
        let default = models.first().map_or(UPSTREAM_MODEL, |(name, _)| name);
        let models: String = models
            .iter()
            .map(|(name, window)| {
                let vision = if vision.contains(name) {
                    "\x20   supports_vision: true\n"
                } else {
                    ""
                };
                format!("\x20 - name: {name}\n\x20   max_input_tokens: {window}\n{vision}")
            })
            .collect();
        let config = format!(
            "model: fake:{default}\n\
             save: false\n\
             highlight: false\n\
             clients:\n\
             - type: openai-compatible\n\
             \x20 name: fake\n\
             \x20 api_base: http://127.0.0.1:{upstream_port}/v1\n\
             \x20 api_key: \"x\"\n\
             \x20 models:\n\
             {models}"
        );
        std::fs::write(dir.path().join("config.yaml"), config).expect("aichat's config.yaml");

        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let log_path = dir.path().join("aichat.log");
            let log = File::create(&log_path).expect("aichat's log file");
            let log_err = log.try_clone().expect("a second handle on aichat's log");
            // A clean environment: aichat reads many `AICHAT_*` variables (`AICHAT_MODEL` among them, which
            // is also the bot's variable), and `RUST_BACKTRACE` would put backtraces into streamed errors.
            let mut child = Command::new(&binary)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", dir.path())
                .env("AICHAT_CONFIG_DIR", dir.path())
                .env("AICHAT_LOG_LEVEL", "debug")
                .arg("--serve")
                .arg(format!("127.0.0.1:{port}"))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(log_err))
                .spawn()
                .unwrap_or_else(|err| panic!("cannot spawn {}: {err}", binary.display()));
            let deadline = Instant::now() + AICHAT_STARTUP;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    failures.push(format!(
                        "port {port}: aichat exited with {status}:\n{}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    ));
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Aichat { child, port, dir };
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    failures.push(format!(
                        "port {port}: aichat did not listen within {AICHAT_STARTUP:?}:\n{}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    ));
                    break;
                }
                // aichat has no readiness signal other than accepting connections.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!(
            "aichat --serve did not start after {PORT_ATTEMPTS} attempts:\n{}",
            failures.join("\n")
        );
    }

    /// `http://127.0.0.1:PORT`, the bot's `AICHAT_BASE_URL`.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("aichat.log")).unwrap_or_default()
    }

    /// `GET path` on aichat: status and JSON body.
    async fn get_json(&self, path: &str) -> (u16, Value) {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(10))
            .finish();
        let mut resp = client
            .get(format!("{}{path}", self.url()))
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {path} on aichat failed: {err}"));
        let body = resp.body().await.expect("aichat's answer body");
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        (resp.status().as_u16(), value)
    }
}

impl Drop for Aichat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- aichat log ---\n{}--- end of aichat log ---",
                self.log()
            );
        }
    }
}

/// A port that was free a moment ago (aichat binds it right after; [`Aichat::start`] retries).
fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a probe socket on 127.0.0.1")
}

/// An upstream that answers every `POST` by streaming `pieces` (60 ms apart) as chat-completion chunks, then
/// dropping the connection mid-answer: chunked encoding without its last chunk, no `finish_reason`, no
/// `[DONE]`. Anything else gets a 404. Runs until the test process ends; returns its port.
fn cutting_upstream(pieces: Vec<String>) -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("a port for the cutting upstream");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let pieces = pieces.clone();
            std::thread::spawn(move || serve_and_cut(stream, &pieces));
        }
    });
    port
}

fn serve_and_cut(stream: TcpStream, pieces: &[String]) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    let _ = reader.read_line(&mut request_line);
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; content_length];
    let _ = reader.read_exact(&mut body);
    let mut stream = reader.into_inner();
    if !request_line.starts_with("POST ") {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return;
    }
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let _ = stream.write_all(head.as_bytes());
    for piece in pieces {
        let delta = json!({ "content": piece });
        let choice = json!({ "index": 0, "delta": delta, "finish_reason": null });
        let chunk = json!({ "object": "chat.completion.chunk", "choices": [choice] });
        let event = format!("data: {chunk}\n\n");
        let framed = format!("{:x}\r\n{event}\r\n", event.len());
        let _ = stream.write_all(framed.as_bytes());
        let _ = stream.flush();
        std::thread::sleep(Duration::from_millis(60));
    }
    // Returning drops the socket: the answer is cut.
}

// ---- helpers ---------------------------------------------------------------------------------------------

/// A [`TestEnv`] whose bot talks to a fresh aichat (context window `window`) in front of the env's fake LLM.
fn env_with_aichat(window: u64) -> (TestEnv, Aichat) {
    env_with_aichat_models(&[(UPSTREAM_MODEL, window)])
}

/// [`env_with_aichat`] with these models of aichat's `fake` client ([`Aichat::start_with_models`]); the bot's
/// `AICHAT_MODEL` is [`MODEL_ID`].
fn env_with_aichat_models(models: &[(&str, u64)]) -> (TestEnv, Aichat) {
    env_with_aichat_vision(models, &[])
}

/// [`env_with_aichat_models`], the models named in `vision` marked `supports_vision` in aichat's config.
fn env_with_aichat_vision(models: &[(&str, u64)], vision: &[&str]) -> (TestEnv, Aichat) {
    let mut env = TestEnv::start();
    let aichat = Aichat::start_with_vision(env.llm.port(), models, vision);
    env.set("AICHAT_BASE_URL", aichat.url());
    env.set("AICHAT_MODEL", MODEL_ID);
    (env, aichat)
}

/// What the chat shows now for each of the bot's messages, in order (edits applied, tags stripped).
fn shown(env: &TestEnv) -> Vec<String> {
    env.telegram
        .messages_to(ALLOWED_USER)
        .iter()
        .map(|m| {
            env.telegram
                .current_text(ALLOWED_USER, m.message_id)
                .unwrap_or_default()
        })
        .collect()
}

/// Sends `text` and waits until the bot's newest message shows exactly `expected` (answers stream in, so
/// the first text of the message is not the last).
async fn ask_expecting(env: &TestEnv, text: &str, expected: &str) {
    let before = env.telegram.messages_to(ALLOWED_USER).len();
    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, text);
    let what = format!("the answer {expected:?}");
    env.telegram
        .wait_until(&what, T, |_| {
            let texts = shown(env);
            texts.len() > before && texts.last().is_some_and(|t| t == expected)
        })
        .await;
}

/// Sends `text` and returns the text of the bot's next message as first sent (commands and error
/// messages are not streamed).
async fn ask(env: &TestEnv, text: &str) -> String {
    let before = env.telegram.messages_to(ALLOWED_USER).len();
    env.telegram.push_text(ALLOWED_USER, ALLOWED_USER, text);
    env.telegram
        .wait_for_messages(ALLOWED_USER, before + 1, T)
        .await[before]
        .text
        .clone()
}

/// Waits for the final, formatted edit of an answer, then returns what the chat shows.
async fn final_text(env: &TestEnv) -> Vec<String> {
    env.telegram
        .wait_until("the final, formatted edit", T, |tg| {
            tg.edits()
                .last()
                .is_some_and(|e| e.parse_mode.as_deref() == Some("HTML"))
        })
        .await;
    shown(env)
}

/// `(role, content)` of every message of a chat completion request.
fn turns(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .expect("a messages array")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or_default().to_string(),
                m["content"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn turn(role: &str, content: &str) -> (String, String) {
    (role.to_string(), content.to_string())
}

// ---- tests -----------------------------------------------------------------------------------------------

#[actix_web::test]
async fn aichat_lists_the_model_as_client_colon_name_with_its_context_window() {
    let env = TestEnv::start();
    let aichat = Aichat::start(env.llm.port(), WINDOW);

    let (status, models) = aichat.get_json("/v1/models").await;

    assert_eq!(status, 200, "{models}");
    let data = models["data"].as_array().expect("a data array");
    let ids: Vec<&str> = data.iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["default", MODEL_ID], "{models}");
    for model in data {
        assert_eq!(model["max_input_tokens"], json!(WINDOW), "{model}");
        assert_eq!(model["owned_by"], "fake", "{model}");
    }
}

#[actix_web::test]
async fn a_three_turn_conversation_streams_through_aichat_with_its_history() {
    let (mut env, aichat) = env_with_aichat(WINDOW);
    env.set("SYSTEM_PROMPT", "You are a terse assistant.");
    env.set("STREAM_EDIT_INTERVAL_MS", "200");
    let _bot = env.spawn_bot().await;
    // ~30 chunks of 3 characters, 60 ms apart: about 2 s of streaming through aichat.
    env.llm.set_chunk_delay(Duration::from_millis(60));

    let first = "Tell me, step by step, how an answer travels from the model to this chat";
    let first_answer = format!("echo: {first}");
    ask_expecting(&env, first, &first_answer).await;

    // Streaming went through aichat: the message appeared early and grew by edits to the final text.
    let sent = env.telegram.messages_to(ALLOWED_USER);
    assert_eq!(sent.len(), 1, "one message for the answer: {sent:?}");
    let initial = &sent[0].plain;
    assert!(
        !initial.is_empty() && initial.len() < first_answer.len(),
        "the first text ({initial:?}) came before the answer was complete"
    );
    assert!(
        first_answer.starts_with(initial.trim_end_matches('…').trim_end()),
        "the first text is the start of the answer: {initial:?}"
    );
    let edits: Vec<_> = env
        .telegram
        .edits()
        .into_iter()
        .filter(|e| e.message_id == sent[0].message_id)
        .collect();
    assert!(
        edits.len() >= 2,
        "the message grew while the answer streamed: {edits:?}"
    );
    assert!(
        sent[0].reply_to.is_some(),
        "the answer replies to the question"
    );

    ask_expecting(&env, "And then?", "echo: And then?").await;
    ask_expecting(&env, "Thanks, that is all", "echo: Thanks, that is all").await;

    // What aichat sent upstream: the whole history, in order, with the system prompt, streamed, and the
    // model under its upstream name.
    let requests = env.llm.chat_requests();
    assert_eq!(requests.len(), 3, "one upstream request per turn");
    for request in &requests {
        assert_eq!(request["model"], "test-model", "{request}");
        assert_eq!(request["stream"], true, "{request}");
    }
    assert_eq!(
        turns(&requests[2]),
        vec![
            turn("system", "You are a terse assistant."),
            turn("user", first),
            turn("assistant", &first_answer),
            turn("user", "And then?"),
            turn("assistant", "echo: And then?"),
            turn("user", "Thanks, that is all"),
        ]
    );
    let log = aichat.log();
    assert_eq!(
        log.matches("POST /v1/chat/completions 200").count(),
        3,
        "aichat served the three turns:\n{log}"
    );
}

#[actix_web::test]
async fn context_shows_the_window_the_bot_learned_from_aichat() {
    let (env, _aichat) = env_with_aichat(WINDOW);
    let bot = env.spawn_bot().await;
    bot.wait_for_log("context window 32000 tokens (reported by the server)", T)
        .await;

    let context = ask(&env, "/context").await;

    assert!(context.contains(&format!("Model: {MODEL_ID}")), "{context}");
    assert!(
        context.contains("Context window: 32,000 tokens"),
        "{context}"
    );
    assert!(
        context.contains("Compression threshold: 24,000 tokens (75%)"),
        "{context}"
    );
    let start = ask(&env, "/start").await;
    assert!(start.contains(MODEL_ID), "{start}");
}

#[actix_web::test]
async fn the_default_model_name_works_and_learns_the_same_window() {
    let (mut env, _aichat) = env_with_aichat(WINDOW);
    env.set("AICHAT_MODEL", "default");
    let bot = env.spawn_bot().await;
    bot.wait_for_log("context window 32000 tokens (reported by the server)", T)
        .await;

    ask_expecting(&env, "hello", "echo: hello").await;

    assert_eq!(env.llm.chat_requests()[0]["model"], "test-model");
}

#[actix_web::test]
async fn a_model_name_aichat_does_not_know_is_refused_with_a_friendly_message() {
    let (mut env, _aichat) = env_with_aichat(WINDOW);
    // The name as the upstream knows it, not as aichat does (`fake:test-model`).
    env.set("AICHAT_MODEL", "test-model");
    let bot = env.spawn_bot().await;

    let answer = ask(&env, "hello").await;

    assert!(answer.contains("could not answer"), "{answer}");
    assert_eq!(env.llm.request_count(), 0, "nothing reached the upstream");
    bot.wait_for_log("Unknown chat model 'test-model'", T).await;
}

#[actix_web::test]
async fn an_upstream_failure_is_retried_and_ends_in_a_friendly_message() {
    let (mut env, aichat) = env_with_aichat(WINDOW);
    env.set("JOB_MAX_ATTEMPTS", "2");
    env.set("JOB_RETRY_DELAY", "0");
    let bot = env.spawn_bot().await;
    env.llm
        .set_behaviour(Behaviour::Status(503, "Service Unavailable".into()));

    let answer = ask(&env, "are you there?").await;

    // aichat answers 400 "Service Unavailable (type: invalid_request_error)": the bot reads the text, sees
    // an upstream outage, and retries before giving up.
    assert!(answer.contains("had a problem answering"), "{answer}");
    for internal in [
        "503",
        "type:",
        "invalid_request_error",
        "Service Unavailable",
    ] {
        assert!(!answer.contains(internal), "{internal} in {answer}");
    }
    assert_eq!(env.llm.request_count(), 2, "retried once, as transient");
    assert!(
        aichat.log().contains("POST /v1/chat/completions 400"),
        "aichat reported it as a 400:\n{}",
        aichat.log()
    );
    bot.wait_for_log("Service Unavailable", T).await;

    // The next message is answered normally.
    env.llm.set_behaviour(Behaviour::Echo);
    ask_expecting(&env, "now?", "echo: now?").await;
}

#[actix_web::test]
async fn an_upstream_refusal_is_not_retried_and_ends_in_a_friendly_message() {
    let (env, _aichat) = env_with_aichat(WINDOW);
    let _bot = env.spawn_bot().await;
    env.llm.push_once(Behaviour::Status(
        400,
        "This model's maximum context length is 32000 tokens".into(),
    ));

    let answer = ask(&env, "a question").await;

    assert!(answer.contains("could not answer"), "{answer}");
    assert!(!answer.contains("context length"), "{answer}");
    assert_eq!(env.llm.request_count(), 1, "a refusal is not retried");
}

#[actix_web::test]
async fn a_hung_upstream_ends_in_the_bots_own_timeout() {
    let (mut env, _aichat) = env_with_aichat(WINDOW);
    // aichat has no read timeout towards the upstream and sends no headers before the first token.
    env.set("LLM_IDLE_TIMEOUT", "2");
    let _bot = env.spawn_bot().await;
    env.llm.push_once(Behaviour::Hang);

    let answer = ask(&env, "hello?").await;

    assert!(answer.contains("too long"), "{answer}");
    ask_expecting(&env, "still there?", "echo: still there?").await;
}

#[actix_web::test]
async fn an_unreachable_upstream_is_retried_and_ends_in_a_friendly_message() {
    let (mut env, aichat) = env_with_aichat(WINDOW);
    env.set("JOB_MAX_ATTEMPTS", "2");
    env.set("JOB_RETRY_DELAY", "0");
    let bot = env.spawn_bot().await;
    env.llm.stop();

    let answer = ask(&env, "anyone?").await;

    // aichat answers 400 "error sending request for url (…)": an upstream outage, worth a retry.
    assert!(answer.contains("had a problem answering"), "{answer}");
    assert!(!answer.contains("127.0.0.1"), "{answer}");
    bot.wait_for_log("error sending request for url", T).await;
    assert!(
        bot.logs().contains("retrying"),
        "retried as transient:\n{}",
        bot.logs()
    );
    assert_eq!(
        aichat
            .log()
            .matches("POST /v1/chat/completions 400")
            .count(),
        2,
        "{}",
        aichat.log()
    );
}

#[actix_web::test]
async fn an_upstream_stream_cut_mid_answer_looks_complete_behind_aichat() {
    // aichat ends a stream whose upstream broke like a finished one (`finish_reason: "stop"`, `[DONE]`), so
    // the bot cannot tell: the shortened answer is shown as complete, without the "may be incomplete" note
    // it adds when it sees the cut itself (shown first, talking to the same upstream directly). This pins
    // the behaviour down; see docs/operations.md.
    let pieces: Vec<String> = (0..8).map(|i| format!("part{i} ")).collect();
    let cut = pieces.concat().trim_end().to_string();
    let upstream = cutting_upstream(pieces);
    let direct = TestEnv::start()
        .with("AICHAT_BASE_URL", format!("http://127.0.0.1:{upstream}"))
        .with("AICHAT_MODEL", "test-model");
    let bot = direct.spawn_bot().await;
    direct
        .telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "a long one");
    let texts = final_text(&direct).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with(&cut) && texts[0].contains("may be incomplete"),
        "without aichat the bot sees the cut: {texts:?}"
    );
    drop(bot);

    let mut env = TestEnv::start();
    let aichat = Aichat::start(upstream, WINDOW);
    env.set("AICHAT_BASE_URL", aichat.url());
    env.set("AICHAT_MODEL", MODEL_ID);
    let _bot = env.spawn_bot().await;
    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "a long one");
    let texts = final_text(&env).await;
    assert_eq!(
        texts,
        [cut.as_str()],
        "behind aichat the cut answer looks complete"
    );
}

#[actix_web::test]
async fn compression_goes_through_aichat_as_a_non_streamed_request() {
    // A small window (learned from aichat) so that a few turns cross the compression threshold.
    let (mut env, _aichat) = env_with_aichat(2048);
    env.set("COMPRESS_RATIO", "0.5");
    env.set("KEEP_RECENT_MESSAGES", "2");
    let bot = env.spawn_bot().await;
    bot.wait_for_log("context window 2048 tokens (reported by the server)", T)
        .await;

    for i in 1..=4 {
        let text = format!("turn{i} {}", "lorem ipsum dolor sit amet ".repeat(22));
        let text = text.trim_end();
        let expected = format!("echo: {text}");
        ask_expecting(&env, text, &expected).await;
    }
    env.telegram
        .wait_until("the compression note", T, |tg| {
            tg.messages_to(ALLOWED_USER)
                .iter()
                .any(|m| m.text.starts_with("🗜"))
        })
        .await;
    ask_expecting(&env, "turn5 short", "echo: turn5 short").await;

    let summaries = env.llm.summary_requests();
    assert_eq!(summaries.len(), 1, "compressed once");
    assert_ne!(
        summaries[0]["stream"], true,
        "not streamed: {}",
        summaries[0]
    );
    let last = turns(env.llm.chat_requests().last().unwrap());
    assert!(
        last[0]
            .1
            .starts_with("Summary of the earlier part of this conversation:"),
        "{last:?}"
    );
    let stats = ask(&env, "/stats").await;
    assert!(stats.contains("Compressions: 1"), "{stats}");
}

#[actix_web::test]
async fn model_lists_aichats_two_models_a_tap_switches_and_a_typed_name_switches_back() {
    let (env, _aichat) = env_with_aichat_models(&[
        (UPSTREAM_MODEL, WINDOW),
        (SECOND_UPSTREAM_MODEL, SECOND_WINDOW),
    ]);
    let _bot = env.spawn_bot().await;
    let tg = &env.telegram;

    tg.push_text(ALLOWED_USER, ALLOWED_USER, "/model");
    let menu = tg.wait_for_messages(ALLOWED_USER, 1, T).await[0].clone();
    let rows = tg.buttons_of(ALLOWED_USER, menu.message_id);
    let labels: Vec<&str> = rows.iter().flatten().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        labels,
        ["default", "✓ test-model", "small-model"],
        "aichat's list (`default` first), the current model marked: {}",
        menu.plain
    );
    assert!(menu.plain.contains(MODEL_ID), "{}", menu.plain);

    let (_, second) = rows
        .iter()
        .flatten()
        .find(|(label, _)| label == SECOND_UPSTREAM_MODEL)
        .unwrap();
    let query = tg.tap(ALLOWED_USER, ALLOWED_USER, menu.message_id, second);
    tg.wait_until("the tap answered", T, |tg| {
        tg.callback_answer(&query).is_some()
    })
    .await;
    let answer = tg.callback_answer(&query).unwrap().text;
    assert_eq!(
        answer.as_deref(),
        Some(format!("✓ This chat now uses {SECOND_MODEL_ID}.").as_str()),
        "named as aichat names it"
    );

    ask_expecting(&env, "which model?", "echo: which model?").await;
    let upstream = |env: &TestEnv| env.llm.chat_requests().last().unwrap()["model"].clone();
    assert_eq!(
        upstream(&env),
        SECOND_UPSTREAM_MODEL,
        "aichat forwards the upstream's name of the chosen model"
    );
    let context = ask(&env, "/context").await;
    assert!(
        context.contains(&format!("Model: {SECOND_MODEL_ID}"))
            && context.contains("Context window: 8,000 tokens")
            && context.contains("Compression threshold: 6,000 tokens"),
        "the second model's window, as aichat reports it: {context}"
    );

    let back = ask(&env, &format!("/model {MODEL_ID}")).await;
    assert!(back.contains(&format!("now uses {MODEL_ID}")), "{back}");
    ask_expecting(&env, "and now?", "echo: and now?").await;
    assert_eq!(upstream(&env), UPSTREAM_MODEL);
    let context = ask(&env, "/context").await;
    assert!(
        context.contains("Context window: 32,000 tokens"),
        "{context}"
    );
}

#[actix_web::test]
async fn a_photo_reaches_a_model_aichat_marks_for_vision_as_one_image_part_and_a_model_it_does_not_refuses_it(
) {
    // aichat's config marks `test-model` `supports_vision: true`, not `small-model`; the bot learns which
    // model sees images from aichat's `/v1/models` alone (no VISION_MODELS).
    let models = [
        (UPSTREAM_MODEL, WINDOW),
        (SECOND_UPSTREAM_MODEL, SECOND_WINDOW),
    ];
    let (env, aichat) = env_with_aichat_vision(&models, &[UPSTREAM_MODEL]);
    let (status, listed) = aichat.get_json("/v1/models").await;
    assert_eq!(status, 200, "{listed}");
    let vision: Vec<(&str, bool)> = listed["data"]
        .as_array()
        .expect("a data array")
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap_or_default(),
                m["supports_vision"] == true,
            )
        })
        .collect();
    assert_eq!(
        vision,
        [
            ("default", true),
            (MODEL_ID, true),
            (SECOND_MODEL_ID, false)
        ],
        "aichat reports supports_vision for the model configured with it: {listed}"
    );
    let _bot = env.spawn_bot().await;
    let caption = "what is on it?";

    env.telegram
        .push_photo_with(ALLOWED_USER, ALLOWED_USER, Some(caption), None);
    let expected = format!("echo: {caption}");
    env.telegram
        .wait_until("the answer to the photo", T, |_| {
            shown(&env).last().is_some_and(|t| *t == expected)
        })
        .await;

    // What aichat forwarded upstream: one request, one image part holding the photo as downloaded from
    // Telegram (its largest size), and the caption as the text.
    let requests = env.llm.chat_requests();
    assert_eq!(requests.len(), 1, "one upstream request");
    let request = &requests[0];
    // The request with its image data cut short, for failure messages.
    let brief: String = request.to_string().chars().take(600).collect();
    assert_eq!(request["model"], UPSTREAM_MODEL, "{brief}");
    let urls = image_urls(request);
    assert_eq!(urls.len(), 1, "exactly one image part: {brief}");
    let downloads = env.telegram.file_downloads();
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    let served = env
        .telegram
        .file_bytes(&downloads[0])
        .expect("the bytes the fake Telegram served");
    let data = urls[0]
        .strip_prefix("data:image/jpeg;base64,")
        .unwrap_or_else(|| panic!("a JPEG data URL: {:.80}", urls[0]));
    let sent = base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64 in the data URL");
    assert_eq!(served.len(), 98_765, "the largest size was downloaded");
    assert!(
        sent == served,
        "the image part is the photo Telegram served ({} bytes sent, {} served)",
        sent.len(),
        served.len()
    );
    let user = request["messages"]
        .as_array()
        .expect("a messages array")
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .expect("a user message");
    let texts: Vec<&str> = user["content"]
        .as_array()
        .unwrap_or_else(|| panic!("a multi-part user message: {brief}"))
        .iter()
        .filter(|part| part["type"] == "text")
        .filter_map(|part| part["text"].as_str())
        .collect();
    assert_eq!(texts, [caption], "the caption is the text: {brief}");

    // A model aichat does not mark for vision: the bot refuses the photo and nothing reaches the upstream.
    let (mut env, _aichat) = env_with_aichat_vision(&models, &[UPSTREAM_MODEL]);
    env.set("AICHAT_MODEL", SECOND_MODEL_ID);
    let _bot = env.spawn_bot().await;

    env.telegram
        .push_photo_with(ALLOWED_USER, ALLOWED_USER, Some(caption), None);
    let reply = env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await[0]
        .plain
        .clone();

    assert!(
        reply.contains(&format!("This model ({SECOND_MODEL_ID}) can't see images")),
        "{reply}"
    );
    let (_, can) = reply
        .split_once("Models that can:")
        .unwrap_or_else(|| panic!("the models that see images: {reply}"));
    assert!(
        can.contains(MODEL_ID) && !can.contains(SECOND_MODEL_ID),
        "{reply}"
    );
    assert_eq!(env.llm.request_count(), 0, "nothing reached the upstream");
    assert!(
        env.telegram.file_downloads().is_empty(),
        "nothing downloaded"
    );
}
