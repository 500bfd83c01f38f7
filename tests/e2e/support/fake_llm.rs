//! A fake OpenAI-compatible server shaped like `aichat --serve`.
//!
//! Faithful to what the bot can observe of aichat 0.30 (`REFERENCE.md`, `BUILD-NOTES.md`):
//! every error is HTTP 400 with `{"error":{"message":…,"type":"invalid_request_error"}}`, even an
//! unknown endpoint; streamed answers send no headers before the first token, carry no `usage`,
//! and end with a `finish_reason: "stop"` chunk and `data: [DONE]` in the same write; non-streamed
//! answers always carry `usage`. Tests steer answers with [`Behaviour`] and one-shot queues.
//!
//! Beyond aichat, for other servers the bot may sit behind: [`Behaviour::Finished`] ends an answer
//! with another `finish_reason` (`length`, `content_filter`), as OpenAI does, and
//! [`FakeLlm::set_close_delimited`] sends streams whose body ends when the connection closes.
//!
//! The catalog: `/v1/models` lists models in aichat's shape ([`aichat_model`]) or plain OpenAI's
//! ([`openai_model`]), and `/v1/roles` aichat's roles ([`aichat_role`], [`FakeLlm::set_roles`]) or,
//! like OpenAI, 404 ([`FakeLlm::set_roles_unavailable`]).
//!
//! For benchmarks: [`FakeLlm::set_slow_prefix`] streams some answers slowly while the rest come
//! at once, and [`FakeLlm::set_recording`] stops keeping every request body (only counts).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::{lock, serve_on_loopback, unix_now};

/// How many characters go into one streamed chunk: small enough that every answer spans several
/// chunks (so the bot's SSE reassembly is exercised), and multi-byte characters straddle them.
const STREAM_CHUNK_CHARS: usize = 3;

/// Context window reported by `/v1/models` by default, as aichat reports for most chat models.
const DEFAULT_MAX_INPUT_TOKENS: u64 = 128_000;
const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 4_096;

/// aichat's single error type for everything.
const ERROR_TYPE: &str = "invalid_request_error";

/// How the server answers a valid chat completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// `"echo: <content of the last user message>"` (the default).
    Echo,
    /// Always this answer.
    Fixed(String),
    /// Always this answer, ended with this `finish_reason` instead of `stop` (OpenAI, llama.cpp and
    /// vLLM send `length` when the answer hit the output-token limit, `content_filter` when a filter
    /// stopped it; aichat always sends `stop`). Streams end like every stream here: a final chunk
    /// with an empty delta and the reason, then `data: [DONE]`.
    Finished {
        answer: String,
        finish_reason: String,
    },
    /// Wait, then echo (or, for a summary request, summarize). For streams the wait comes before any
    /// header, as with aichat.
    Delay(Duration),
    /// Never answer (like aichat behind a hung upstream: it has no read timeout).
    Hang,
    /// Fail with this HTTP status and message (aichat uses 400 for everything, including
    /// upstream 429/5xx whose text is in the message).
    Status(u16, String),
    /// A short summary, like a model asked to condense a conversation: `summary of N lines:` and
    /// the start of the conversation. The default for summary requests (see
    /// [`FakeLlm::set_summary_behaviour`]).
    Summarize,
}

/// The bot's compression requests start with a system message asking to condense the history.
const SUMMARY_MARKER: &str = "You condense chat histories";

/// The fake server. Dropping it stops the server.
pub struct FakeLlm {
    shared: Arc<Shared>,
    port: u16,
    handle: ServerHandle,
}

struct Shared {
    state: Mutex<State>,
    /// Woken after every request, for [`FakeLlm::wait_for_requests`].
    changed: Notify,
}

struct State {
    behaviour: Behaviour,
    /// One-shot behaviours, used before `behaviour`.
    once: VecDeque<Behaviour>,
    /// How summary requests (the bot's compression) are answered; `summary_once` first.
    summary_behaviour: Behaviour,
    summary_once: VecDeque<Behaviour>,
    api_key: Option<String>,
    chunk_delay: Duration,
    /// Wait before a stream's first token (no headers before it, like aichat).
    first_token_delay: Duration,
    /// A last user message starting with this text is streamed with this chunk delay instead.
    slow_prefix: Option<(String, Duration)>,
    /// Streamed answers end by closing the connection (see [`FakeLlm::set_close_delimited`]).
    close_delimited: bool,
    /// Like OpenAI: a stream asked with `stream_options.include_usage` ends with a chunk carrying `usage`
    /// (see [`FakeLlm::set_stream_usage`]); off, like aichat, which never sends it.
    stream_usage: bool,
    models: Vec<Value>,
    reject_unknown_models: bool,
    /// `GET /v1/roles`; `None`: 404, like a plain OpenAI server.
    roles: Option<Vec<Value>>,
    /// Whether `requests` and `authorizations` keep every request (see [`FakeLlm::set_recording`]).
    recording: bool,
    requests: Vec<Value>,
    authorizations: Vec<Option<String>>,
    /// Every request, and every summary request, also while recording is off.
    request_count: usize,
    summary_request_count: usize,
}

/// An error answer in aichat/OpenAI shape.
struct LlmError {
    status: u16,
    message: String,
    code: Option<&'static str>,
}

impl LlmError {
    /// aichat's answer to anything it cannot handle.
    fn bad_request(message: impl Into<String>) -> LlmError {
        LlmError {
            status: 400,
            message: message.into(),
            code: None,
        }
    }

    fn into_response(self) -> HttpResponse {
        let mut error = json!({ "message": self.message, "type": ERROR_TYPE });
        if let Some(code) = self.code {
            error["code"] = json!(code);
            error["param"] = Value::Null;
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        HttpResponse::build(status).json(json!({ "error": error }))
    }
}

impl FakeLlm {
    /// Starts the server on 127.0.0.1 (free port). Must be called inside an actix runtime.
    pub fn start() -> FakeLlm {
        let model = |id: &str| {
            json!({
                "id": id,
                "object": "model",
                "owned_by": "fake",
                "max_input_tokens": DEFAULT_MAX_INPUT_TOKENS,
                "max_output_tokens": DEFAULT_MAX_OUTPUT_TOKENS,
            })
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                behaviour: Behaviour::Echo,
                once: VecDeque::new(),
                summary_behaviour: Behaviour::Summarize,
                summary_once: VecDeque::new(),
                api_key: None,
                chunk_delay: Duration::ZERO,
                first_token_delay: Duration::ZERO,
                slow_prefix: None,
                close_delimited: false,
                stream_usage: false,
                // aichat lists "default" first, then the configured models.
                models: vec![model("default"), model("test-model")],
                reject_unknown_models: false,
                roles: Some(Vec::new()),
                recording: true,
                requests: Vec::new(),
                authorizations: Vec::new(),
                request_count: 0,
                summary_request_count: 0,
            }),
            changed: Notify::new(),
        });
        let (port, handle) = serve_on_loopback(
            "FakeLlm",
            web::Data::from(shared.clone()),
            64 * 1024 * 1024,
            |cfg| {
                cfg.route("/v1/chat/completions", web::post().to(chat_completions))
                    .route("/v1/models", web::get().to(list_models))
                    .route("/v1/roles", web::get().to(list_roles))
                    .default_service(web::to(not_found));
            },
        );
        FakeLlm {
            shared,
            port,
            handle,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, the bot's `AICHAT_BASE_URL` (it appends `/v1/chat/completions`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the HTTP server (the bot then sees connection refused).
    pub fn stop(&self) {
        drop(self.handle.stop(false));
    }

    /// How the bot's summary (compression) requests are answered from now on.
    pub fn set_summary_behaviour(&self, behaviour: Behaviour) {
        lock(&self.shared.state).summary_behaviour = behaviour;
    }

    /// A one-shot behaviour for the next summary request.
    pub fn push_summary_once(&self, behaviour: Behaviour) {
        lock(&self.shared.state).summary_once.push_back(behaviour);
    }

    /// How many requests asked for a summary, whether recording is on or off.
    pub fn summary_request_count(&self) -> usize {
        lock(&self.shared.state).summary_request_count
    }

    /// The requests that asked for a summary (the bot's compression).
    pub fn summary_requests(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(is_summary_request)
            .collect()
    }

    /// The requests that were ordinary chat turns.
    pub fn chat_requests(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| !is_summary_request(r))
            .collect()
    }

    /// Changes the standing behaviour; takes effect for the next request.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        lock(&self.shared.state).behaviour = behaviour;
    }

    /// Queues a one-shot answer, used (in order) before the standing behaviour.
    pub fn push_answer(&self, answer: impl Into<String>) {
        self.push_once(Behaviour::Fixed(answer.into()));
    }

    /// Queues any one-shot behaviour, e.g. one failure followed by normal answers.
    pub fn push_once(&self, behaviour: Behaviour) {
        lock(&self.shared.state).once.push_back(behaviour);
    }

    /// Requires `Authorization: Bearer <key>` (aichat has no auth; OpenAI and most proxies do).
    pub fn require_api_key(&self, key: &str) {
        lock(&self.shared.state).api_key = Some(key.to_string());
    }

    /// Time to the first token of a stream (nothing, not even headers, is sent before it).
    pub fn set_first_token_delay(&self, delay: Duration) {
        lock(&self.shared.state).first_token_delay = delay;
    }

    /// Delay between streamed chunks, to make streams observable mid-way.
    pub fn set_chunk_delay(&self, delay: Duration) {
        lock(&self.shared.state).chunk_delay = delay;
    }

    /// Streams the answer to a request whose last user message starts with `prefix` with
    /// `chunk_delay` between chunks, whatever [`set_chunk_delay`](Self::set_chunk_delay) says: a
    /// mixed load where most answers come at once and some stream slowly. Summary requests are
    /// not affected.
    pub fn set_slow_prefix(&self, prefix: &str, chunk_delay: Duration) {
        lock(&self.shared.state).slow_prefix = Some((prefix.to_string(), chunk_delay));
    }

    /// Streams every answer as HTTP/1.1 with `Connection: close` and neither `Content-Length` nor
    /// `Transfer-Encoding`: the body is everything until the server closes the connection (RFC 9112
    /// §6.3), as some proxies and small servers answer a stream. Non-streamed answers are unchanged.
    pub fn set_close_delimited(&self, on: bool) {
        lock(&self.shared.state).close_delimited = on;
    }

    /// Like OpenAI (on) or aichat (off, the default): whether a stream asked with
    /// `stream_options: {"include_usage": true}` ends with a chunk of empty `choices` carrying `usage`
    /// (the fake's estimate: 4 characters a token).
    pub fn set_stream_usage(&self, on: bool) {
        lock(&self.shared.state).stream_usage = on;
    }

    /// Whether every request body and `Authorization` header is kept for [`requests`](Self::requests)
    /// and [`authorizations`](Self::authorizations) (on by default). A long benchmark turns it off
    /// so the fake does not keep every prompt; [`request_count`](Self::request_count) and
    /// [`summary_request_count`](Self::summary_request_count) still count.
    pub fn set_recording(&self, on: bool) {
        lock(&self.shared.state).recording = on;
    }

    /// Replaces the `/v1/roles` list (aichat's shape: see [`aichat_role`]).
    pub fn set_roles(&self, roles: Vec<Value>) {
        lock(&self.shared.state).roles = Some(roles);
    }

    /// `/v1/roles` answers 404 from now on, as a plain OpenAI-compatible server does.
    pub fn set_roles_unavailable(&self) {
        lock(&self.shared.state).roles = None;
    }

    /// Replaces the `/v1/models` list (objects with at least `id`; see [`aichat_model`] and
    /// [`openai_model`]).
    pub fn set_models(&self, models: Vec<Value>) {
        lock(&self.shared.state).models = models;
    }

    /// Like aichat: refuse a `model` that is neither `default` nor in the model list.
    pub fn reject_unknown_models(&self, on: bool) {
        lock(&self.shared.state).reject_unknown_models = on;
    }

    /// Every chat completion request body received, valid or not (non-JSON bodies as a string),
    /// while recording is on.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.shared.state).requests.clone()
    }

    /// How many chat completion requests were received, whether recording is on or off.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.state).request_count
    }

    /// The `Authorization` header of every request, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        lock(&self.shared.state).authorizations.clone()
    }

    /// Waits until at least `n` requests arrived; panics after `timeout` with the requests seen.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut notified = std::pin::pin!(self.shared.changed.notified());
            notified.as_mut().enable();
            if self.request_count() >= n {
                return self.requests();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err()
                && self.request_count() < n
            {
                panic!(
                    "timed out after {timeout:?} waiting for {n} LLM request(s); got:\n{:#?}",
                    self.requests()
                );
            }
        }
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// aichat answers unknown endpoints with its generic 400.
async fn not_found() -> HttpResponse {
    LlmError::bad_request("The requested endpoint was not found.").into_response()
}

async fn list_models(shared: web::Data<Shared>) -> HttpResponse {
    let models = lock(&shared.state).models.clone();
    HttpResponse::Ok().json(json!({ "object": "list", "data": models }))
}

/// `GET /v1/roles`: aichat's `{"data": [...]}`, or OpenAI's 404 for a path it does not have.
async fn list_roles(shared: web::Data<Shared>) -> HttpResponse {
    match lock(&shared.state).roles.clone() {
        Some(roles) => HttpResponse::Ok().json(json!({ "data": roles })),
        None => HttpResponse::NotFound().json(json!({ "error": {
            "message": "Invalid URL (GET /v1/roles)",
            "type": ERROR_TYPE,
            "param": null,
            "code": null,
        }})),
    }
}

/// One model as `aichat --serve` lists it: `id` as `client:name`, `type` (`chat`, `embedding`
/// or `reranker`), its limits and prices per million tokens; `supports_vision` and
/// `supports_function_calling` only when true (here: chat models only). Change fields with
/// `model["max_input_tokens"] = json!(…)`.
pub fn aichat_model(id: &str, kind: &str) -> Value {
    let owned_by = id.split_once(':').map_or(id, |(client, _)| client);
    let mut model = json!({
        "id": id,
        "object": "model",
        "owned_by": owned_by,
        "type": kind,
        "max_input_tokens": DEFAULT_MAX_INPUT_TOKENS,
        "input_price": 0.15,
    });
    if kind == "chat" {
        model["max_output_tokens"] = json!(DEFAULT_MAX_OUTPUT_TOKENS);
        model["output_price"] = json!(0.6);
        model["supports_vision"] = json!(true);
        model["supports_function_calling"] = json!(true);
    }
    model
}

/// One model as plain OpenAI lists it: no `type`, no limits, no prices.
pub fn openai_model(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 1_715_367_049, "owned_by": "system" })
}

/// One role as aichat lists it: `name`, `prompt`, and `model` only when the role names one.
pub fn aichat_role(name: &str, prompt: &str, model: Option<&str>) -> Value {
    let mut role = json!({ "name": name, "prompt": prompt });
    if let Some(model) = model {
        role["model"] = json!(model);
    }
    role
}

/// A validated request: what the answer depends on.
struct Request {
    model: String,
    stream: bool,
    prompt_chars: usize,
    last_user: String,
    /// The bot asked for a summary (compression).
    summary: bool,
    /// `stream_options.include_usage`.
    include_usage: bool,
}

async fn chat_completions(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let is_summary = parsed.as_ref().is_ok_and(is_summary_request);
    let (
        api_key,
        behaviour,
        chunk_delay,
        first_token_delay,
        known_models,
        slow_prefix,
        close_delimited,
        stream_usage,
        vision_refused,
    ) = {
        let mut st = lock(&shared.state);
        st.request_count += 1;
        if is_summary {
            st.summary_request_count += 1;
        }
        if st.recording {
            st.requests.push(match &parsed {
                Ok(v) => v.clone(),
                Err(_) => Value::String(String::from_utf8_lossy(&body).into_owned()),
            });
            st.authorizations.push(authorization.clone());
        }
        let behaviour = if is_summary {
            st.summary_once
                .pop_front()
                .unwrap_or_else(|| st.summary_behaviour.clone())
        } else {
            st.once.pop_front().unwrap_or_else(|| st.behaviour.clone())
        };
        // Like aichat: image parts only for a model configured with `supports_vision` (a model listed the
        // way OpenAI lists them, without aichat's fields, takes them).
        let sees_images = |model: &str| {
            st.models.iter().any(|m| {
                m["id"] == model && (m["supports_vision"] == true || m.get("type").is_none())
            })
        };
        let vision_refused = parsed.as_ref().ok().and_then(|body| {
            let model = body["model"].as_str().unwrap_or_default();
            (count_images(body) > 0 && !sees_images(model)).then(|| model.to_string())
        });
        let known_models = st.reject_unknown_models.then(|| {
            st.models
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        });
        (
            st.api_key.clone(),
            behaviour,
            st.chunk_delay,
            st.first_token_delay,
            known_models,
            st.slow_prefix.clone(),
            st.close_delimited,
            st.stream_usage,
            vision_refused,
        )
    };
    shared.changed.notify_waiters();

    if let Some(key) = api_key {
        let expected = format!("Bearer {key}");
        if authorization.as_deref() != Some(expected.as_str()) {
            let message = match authorization {
                None => "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).".to_string(),
                Some(_) => "Incorrect API key provided.".to_string(),
            };
            return LlmError {
                status: 401,
                message,
                code: Some("invalid_api_key"),
            }
            .into_response();
        }
    }

    let request = match parsed
        .map_err(|err| LlmError::bad_request(format!("Invalid request json, {err}")))
        .and_then(|value| validate(&value))
    {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    if vision_refused.is_some() {
        return LlmError::bad_request(
            "The current model does not support vision. Is the model configured with `supports_vision: true`?"
                .to_string(),
        )
        .into_response();
    }
    if let Some(known) = known_models {
        if request.model != "default" && !known.contains(&request.model) {
            return LlmError::bad_request(format!("Unknown chat model '{}'", request.model))
                .into_response();
        }
    }

    let summarize = || {
        let lines = request.last_user.lines().count();
        let start: String = request.last_user.chars().take(60).collect();
        format!("summary of {lines} lines: {start}")
    };
    let mut finish_reason = "stop".to_string();
    let answer = match behaviour {
        Behaviour::Echo => format!("echo: {}", request.last_user),
        Behaviour::Fixed(answer) => answer,
        Behaviour::Finished {
            answer,
            finish_reason: reason,
        } => {
            finish_reason = reason;
            answer
        }
        Behaviour::Summarize => summarize(),
        // After the wait, the usual answer: a summary for a summary request, else the echo.
        Behaviour::Delay(delay) => {
            tokio::time::sleep(delay).await;
            if request.summary {
                summarize()
            } else {
                format!("echo: {}", request.last_user)
            }
        }
        Behaviour::Hang => {
            // The request stays open until the client gives up or the server stops.
            std::future::pending::<()>().await;
            String::new()
        }
        Behaviour::Status(status, message) => {
            return LlmError {
                status,
                message,
                code: None,
            }
            .into_response()
        }
    };

    let id = format!(
        "chatcmpl-{}",
        std::process::id() ^ u32::try_from(unix_now() & 0xffff_ffff).unwrap_or(0)
    );
    let chunk_delay = match slow_prefix {
        Some((prefix, slow)) if !request.summary && request.last_user.starts_with(&prefix) => slow,
        _ => chunk_delay,
    };
    if request.stream {
        // No timer at all for no delay: tokio rounds a timer up to the next millisecond.
        if !first_token_delay.is_zero() {
            tokio::time::sleep(first_token_delay).await;
        }
        let usage = (stream_usage && request.include_usage).then(|| {
            json!({
                "prompt_tokens": estimate_tokens(request.prompt_chars),
                "completion_tokens": estimate_tokens(answer.chars().count()),
                "total_tokens": estimate_tokens(request.prompt_chars)
                    + estimate_tokens(answer.chars().count()),
            })
        });
        let ending = Ending {
            finish_reason: &finish_reason,
            close_delimited,
            usage,
        };
        stream_answer(id, request.model, &answer, chunk_delay, &ending)
    } else {
        let prompt_tokens = estimate_tokens(request.prompt_chars);
        let completion_tokens = estimate_tokens(answer.chars().count());
        HttpResponse::Ok().json(json!({
            "id": id,
            "object": "chat.completion",
            "created": unix_now(),
            "model": request.model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": answer },
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }))
    }
}

/// A rough token estimate (4 characters per token, at least 1), like usage from a real model
/// but deterministic.
fn estimate_tokens(chars: usize) -> usize {
    (chars / 4).max(1)
}

/// Checks the body as aichat's serde model would, with similar messages.
fn validate(body: &Value) -> Result<Request, LlmError> {
    let invalid = |why: &str| LlmError::bad_request(format!("Invalid request body, {why}"));
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("invalid type: expected struct ChatCompletionsReqBody"))?;
    let model = match obj.get("model") {
        Some(Value::String(m)) => m.clone(),
        Some(_) => return Err(invalid("invalid type for `model`: expected a string")),
        None => return Err(invalid("missing field `model`")),
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => m,
        Some(_) => return Err(invalid("invalid type for `messages`: expected a sequence")),
        None => return Err(invalid("missing field `messages`")),
    };
    if messages.is_empty() {
        return Err(invalid("`messages` must contain at least one message"));
    }
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("invalid type for `stream`: expected a boolean")),
    };
    let mut prompt_chars = 0;
    let mut last_user = String::new();
    for (i, message) in messages.iter().enumerate() {
        let role = message["role"]
            .as_str()
            .ok_or_else(|| invalid(&format!("messages[{i}]: missing field `role`")))?;
        if !["system", "user", "assistant", "tool"].contains(&role) {
            return Err(invalid(&format!(
                "messages[{i}]: unknown variant `{role}`, expected one of `system`, `assistant`, `user`, `tool`"
            )));
        }
        let content = match &message["content"] {
            Value::String(s) => s.clone(),
            // OpenAI's multi-part form: only text parts carry text.
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(""),
            Value::Null => return Err(invalid(&format!("messages[{i}]: missing field `content`"))),
            _ => {
                return Err(invalid(&format!(
                    "messages[{i}]: invalid type for `content`"
                )))
            }
        };
        prompt_chars += content.chars().count();
        if role == "user" {
            last_user = content;
        }
    }
    Ok(Request {
        model,
        stream,
        prompt_chars,
        last_user,
        summary: is_summary_request(body),
        include_usage: body["stream_options"]["include_usage"] == true,
    })
}

/// How a stream ends: its last chunk's `finish_reason`, and how its body ends.
struct Ending<'a> {
    finish_reason: &'a str,
    /// No `Content-Length`, no chunked encoding, `Connection: close`: the body ends at the close.
    close_delimited: bool,
    /// OpenAI's last chunk before `[DONE]` when asked (`stream_options.include_usage`): empty `choices`.
    usage: Option<Value>,
}

/// SSE like aichat: content chunks (`finish_reason: null`), then one write holding the final
/// chunk (empty delta, `finish_reason` from `ending`: `stop` but for [`Behaviour::Finished`]) and
/// `data: [DONE]`. No `usage`.
fn stream_answer(
    id: String,
    model: String,
    answer: &str,
    delay: Duration,
    ending: &Ending<'_>,
) -> HttpResponse {
    let created = unix_now();
    let chars: Vec<char> = answer.chars().collect();
    let mut events: Vec<String> = chars
        .chunks(STREAM_CHUNK_CHARS)
        .enumerate()
        .map(|(i, piece)| {
            let content: String = piece.iter().collect();
            // OpenAI puts the role in the first delta only; aichat omits it. Clients must accept both.
            let delta = if i == 0 {
                json!({ "role": "assistant", "content": content })
            } else {
                json!({ "content": content })
            };
            let chunk = json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": null }],
            });
            format!("data: {chunk}\n\n")
        })
        .collect();
    let last = json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{ "index": 0, "delta": {}, "finish_reason": ending.finish_reason }],
    });
    let usage = ending.usage.as_ref().map_or(String::new(), |usage| {
        let chunk = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": usage,
        });
        format!("data: {chunk}\n\n")
    });
    events.push(format!("data: {last}\n\n{usage}data: [DONE]\n\n"));
    // Without a delay the whole stream is one write, as a fast server's answer would arrive (tests that do
    // not look at streaming then see the complete answer at once; the SSE parsing is the same).
    if delay.is_zero() && !ending.close_delimited {
        return HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .body(events.concat());
    }

    let stream = futures_util::stream::unfold(
        (events.into_iter(), true),
        move |(mut rest, first)| async move {
            let event = rest.next()?;
            if !first && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Some((
                Ok::<_, std::convert::Infallible>(web::Bytes::from(event)),
                (rest, false),
            ))
        },
    );
    let mut response = HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream);
    if ending.close_delimited {
        // actix-web then writes neither `transfer-encoding` nor `content-length`, writes
        // `connection: close`, and closes the connection after the last event.
        response.head_mut().no_chunking(true);
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    response
}

/// Whether a request body is the bot's request for a summary.
pub fn is_summary_request(body: &Value) -> bool {
    body["messages"][0]["role"] == "system"
        && body["messages"][0]["content"]
            .as_str()
            .is_some_and(|c| c.starts_with(SUMMARY_MARKER))
}

/// The image parts (`image_url`) in a chat request's messages.
pub fn count_images(body: &Value) -> usize {
    image_urls(body).len()
}

/// The `image_url.url`s of a chat request's messages, in order.
pub fn image_urls(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|part| part["type"] == "image_url")
        .filter_map(|part| part["image_url"]["url"].as_str().map(str::to_string))
        .collect()
}
