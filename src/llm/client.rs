//! `POST {AICHAT_BASE_URL}/v1/chat/completions` with `AICHAT_MODEL` and an optional bearer key.
//!
//! awc's `Client` is not `Send`: build one `LlmClient` per actor or arbiter.

use super::close_delimited::{unreadable_over_tls, CloseDelimitedConnector};
use super::error::{classify, LlmError};
use super::sse::{SseDecoder, StreamEvent};
use super::types::{
    ChatMessage, ChatRequest, ChatResponse, Completion, ErrorBody, ErrorDetail, Finish, ModelInfo,
    ModelList, StreamOptions, StreamOutcome,
};
use crate::secret::Secret;
use futures_util::{Stream, StreamExt};
use std::time::Duration;

/// Largest answer we read; a model's answer is far smaller.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Largest streamed body we read (the same bound as a whole answer); past it the answer is treated as cut off.
const MAX_STREAM_BYTES: usize = MAX_BODY_BYTES;
/// How long a TCP connection may take; a local gateway answers at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// After `[DONE]`, the rest of a streamed body is read for at most this long and this much (see [`drain`]).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
const DRAIN_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct LlmClient {
    http: awc::Client,
    completions_url: String,
    models_url: String,
    model: String,
    api_key: Option<Secret>,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("completions_url", &self.completions_url)
            .field("model", &self.model)
            .finish()
    }
}

impl LlmClient {
    pub fn new(base_url: &str, model: &str, api_key: Option<Secret>) -> Self {
        // Its TCP streams let awc read a body that ends when the server closes the connection.
        let connector = awc::Connector::new()
            .connector(CloseDelimitedConnector::default())
            .timeout(CONNECT_TIMEOUT);
        let http = awc::Client::builder().connector(connector).finish();
        Self {
            http,
            completions_url: format!("{}/v1/chat/completions", base_url.trim_end_matches('/')),
            models_url: format!("{}/v1/models", base_url.trim_end_matches('/')),
            model: model.to_string(),
            api_key,
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// The same client asking for `model` (a conversation's own, chosen with `/model`). Cheap: the HTTP
    /// client is shared.
    pub fn with_model(&self, model: &str) -> LlmClient {
        LlmClient {
            model: model.to_string(),
            ..self.clone()
        }
    }

    /// A `GET {AICHAT_BASE_URL}/v1/{path}` with the API key, bounded by `timeout`: the catalog's lists
    /// (`catalog.rs`).
    pub(super) fn get_v1(&self, path: &str, timeout: Duration) -> awc::ClientRequest {
        let v1 = self
            .models_url
            .strip_suffix("models")
            .unwrap_or(&self.models_url);
        let mut req = self.http.get(format!("{v1}{path}")).timeout(timeout);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key.expose());
        }
        req
    }

    /// The server's model list (`GET /v1/models`), with context sizes where it reports them (aichat does).
    pub async fn models(&self, timeout: Duration) -> Result<Vec<ModelInfo>, LlmError> {
        let mut req = self.http.get(&self.models_url).timeout(timeout);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key.expose());
        }
        let mut response = req.send().await.map_err(send_failed)?;
        let status = response.status().as_u16();
        let body = response
            .body()
            .limit(MAX_BODY_BYTES)
            .await
            .map_err(|e| LlmError::BadResponse(e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(classify(
                status,
                String::from_utf8_lossy(&body).chars().take(300).collect(),
            ));
        }
        let list: ModelList = serde_json::from_slice(&body)
            .map_err(|e| LlmError::BadResponse(format!("not a model list: {e}")))?;
        Ok(list.data)
    }

    /// What the server reports for the configured model (for `default`, the first model listed).
    pub async fn model_info(&self, timeout: Duration) -> Result<Option<ModelInfo>, LlmError> {
        let models = self.models(timeout).await?;
        let wanted = models.iter().find(|m| m.id == self.model).cloned();
        Ok(wanted.or_else(|| {
            (self.model == "default")
                .then(|| models.into_iter().next())
                .flatten()
        }))
    }

    /// One non-streamed completion, bounded by `timeout` from request to the whole body.
    pub async fn complete(
        &self,
        messages: &[ChatMessage],
        timeout: Duration,
    ) -> Result<Completion, LlmError> {
        let request = ChatRequest {
            model: &self.model,
            messages,
            stream: false,
            stream_options: None,
        };
        let work = async {
            let mut req = self.http.post(&self.completions_url).timeout(timeout);
            if let Some(key) = &self.api_key {
                req = req.bearer_auth(key.expose());
            }
            let mut response = req.send_json(&request).await.map_err(send_failed)?;
            let status = response.status().as_u16();
            let body = response
                .body()
                .limit(MAX_BODY_BYTES)
                .await
                .map_err(|e| LlmError::BadResponse(e.to_string()))?;
            parse_answer(status, &body)
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(LlmError::Timeout),
        }
    }

    /// One streamed completion (`"stream": true`). Each piece of text is handed to `on_delta` as it arrives;
    /// the outcome repeats the whole text.
    ///
    /// - `idle_timeout` bounds every wait: for the response headers (aichat sends none before the first token,
    ///   and hangs with a hung upstream) and between two body chunks. `total_timeout` bounds the whole call.
    ///   Either one firing is `Err(Timeout)`, even after some text: the deltas already handed out are all
    ///   there is.
    /// - A non-2xx answer is classified like [`complete`](Self::complete) does. A server that ignores `stream`
    ///   and answers with one JSON completion is accepted (one delta).
    /// - An error reported inside the stream (or an unreadable chunk) is `Err(classify(400, message))` before
    ///   any text, and `Ok` with [`Finish::CutOff`] after some text (the message is logged). A connection that
    ///   breaks mid-body is treated the same way (`Unreachable` before any text).
    /// - The outcome's [`Finish`] is the last `finish_reason` sent, or `CutOff` when there was none.
    /// - An HTTP/1.1 body that ends at the connection's close is read to its end (see
    ///   [`close_delimited`](super::close_delimited)); over TLS, where that cannot be done, it is
    ///   `Err(BadResponse)` rather than an empty answer.
    ///
    /// Not `Send` (awc): run it on the arbiter that owns this client.
    pub async fn stream(
        &self,
        messages: &[ChatMessage],
        idle_timeout: Duration,
        total_timeout: Duration,
        mut on_delta: impl FnMut(&str),
    ) -> Result<StreamOutcome, LlmError> {
        let request = ChatRequest {
            model: &self.model,
            messages,
            stream: true,
            stream_options: Some(StreamOptions {
                include_usage: true,
            }),
        };
        let work = async {
            // awc's request timeout only covers the wait for the response head (the client's default is 5 s,
            // far too short for a model's first token): make it the idle timeout.
            let mut req = self
                .http
                .post(&self.completions_url)
                .timeout(idle_timeout)
                .insert_header((awc::http::header::ACCEPT, "text/event-stream"))
                // A compressor buffers, which would hold tokens back.
                .insert_header((awc::http::header::ACCEPT_ENCODING, "identity"));
            if let Some(key) = &self.api_key {
                req = req.bearer_auth(key.expose());
            }
            let mut response = tokio::time::timeout(idle_timeout, req.send_json(&request))
                .await
                .map_err(|_| LlmError::Timeout)?
                .map_err(send_failed)?;
            let status = response.status().as_u16();
            if response.status().is_success()
                && unreadable_over_tls(response.version(), response.status(), response.headers())
            {
                // Over plain HTTP `CloseDelimited` makes such a body readable; under TLS awc would read it
                // as empty, and a complete answer would look like a cut-off one with no text.
                return Err(LlmError::BadResponse(
                    "the answer's body ends at the connection's close (no Content-Length, no chunked \
                     encoding), which cannot be read over TLS"
                        .into(),
                ));
            }
            let is_json = response
                .headers()
                .get(awc::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim_start().starts_with("application/json"));
            if !(200..300).contains(&status) || is_json {
                let body =
                    tokio::time::timeout(idle_timeout, response.body().limit(MAX_BODY_BYTES))
                        .await
                        .map_err(|_| LlmError::Timeout)?
                        .map_err(|e| LlmError::BadResponse(e.to_string()))?;
                let completion = parse_answer(status, &body)?;
                if !completion.content.is_empty() {
                    on_delta(&completion.content);
                }
                return Ok(StreamOutcome {
                    content: completion.content,
                    finish: completion.finish,
                    usage: completion.usage,
                });
            }
            let outcome = read_stream(&mut response, idle_timeout, &mut on_delta).await;
            // The answer is complete at `[DONE]`; the body's end usually follows in the same write. Reading it
            // (in the background, so the answer does not wait) lets the connection go back to the pool instead
            // of being closed: no new TCP connection per answer.
            actix_rt::spawn(drain(response));
            outcome
        };
        match tokio::time::timeout(total_timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(LlmError::Timeout),
        }
    }
}

/// Reads what is left of a body (at most [`DRAIN_BYTES`] within [`DRAIN_TIMEOUT`]), so its connection can be
/// reused; gives up quietly otherwise (the connection is then closed).
async fn drain<S, B, E>(mut body: S)
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
{
    let mut left = DRAIN_BYTES;
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(Ok(bytes)) = body.next().await {
            left = left.saturating_sub(bytes.as_ref().len());
            if left == 0 {
                return;
            }
        }
    })
    .await;
}

/// Reads an SSE body chunk by chunk until `[DONE]`, its end, an error event or an idle gap.
async fn read_stream<S, B, E>(
    body: &mut S,
    idle_timeout: Duration,
    on_delta: &mut impl FnMut(&str),
) -> Result<StreamOutcome, LlmError>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let mut decoder = SseDecoder::new();
    let mut answer = StreamOutcome::default();
    let mut received = 0usize;
    loop {
        let next = tokio::time::timeout(idle_timeout, body.next())
            .await
            .map_err(|_| LlmError::Timeout)?;
        let (events, body_ended) = match next {
            Some(Ok(bytes)) => {
                let bytes = bytes.as_ref();
                received = received.saturating_add(bytes.len());
                if received > MAX_STREAM_BYTES {
                    return broken(
                        answer,
                        LlmError::BadResponse(format!(
                            "the streamed answer is larger than {MAX_STREAM_BYTES} bytes"
                        )),
                    );
                }
                (decoder.push(bytes), false)
            }
            Some(Err(e)) => {
                let reason = format!("the connection broke mid-answer: {e}");
                return broken(answer, LlmError::Unreachable(reason));
            }
            None => (decoder.finish(), true),
        };
        for event in events {
            match event {
                StreamEvent::Delta(text) => {
                    on_delta(&text);
                    answer.content.push_str(&text);
                }
                StreamEvent::Finish(finish) => answer.finish = finish,
                StreamEvent::Usage(usage) => answer.usage = Some(usage),
                StreamEvent::Error(message) => return broken(answer, classify(400, message)),
                StreamEvent::Done => return Ok(answer),
            }
        }
        // `[DONE]` or the end of the body: without any `finish_reason` the answer stays `Finish::CutOff`.
        if body_ended {
            return Ok(answer);
        }
    }
}

/// The stream failed with `error`: before any text that is the result; after some text, the partial answer
/// is kept and marked as [`Finish::CutOff`], and the error is logged here since the caller only sees that.
fn broken(mut answer: StreamOutcome, error: LlmError) -> Result<StreamOutcome, LlmError> {
    if answer.content.is_empty() {
        return Err(error);
    }
    log::warn!(
        "streamed answer cut off after {} bytes: {error}",
        answer.content.len()
    );
    answer.finish = Finish::CutOff;
    Ok(answer)
}

/// Reads a chat-completions answer (or error). Pure, so answer shapes are unit-tested.
pub(crate) fn parse_answer(status: u16, body: &[u8]) -> Result<Completion, LlmError> {
    if !(200..300).contains(&status) {
        return Err(error_from_body(status, body));
    }
    let parsed: ChatResponse = serde_json::from_slice(body)
        .map_err(|e| LlmError::BadResponse(format!("not a chat completion: {e}")))?;
    let choice = parsed
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::BadResponse("no choices in the answer".into()))?;
    Ok(Completion {
        content: choice.message.and_then(|m| m.content).unwrap_or_default(),
        finish: Finish::from_optional(choice.finish_reason.as_deref()),
        usage: parsed.usage,
    })
}

/// The error an answer with a non-2xx `status` stands for, read from its body (both error shapes, or the text).
pub(crate) fn error_from_body(status: u16, body: &[u8]) -> LlmError {
    let message = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            error: ErrorDetail::Object { message } | ErrorDetail::Text(message),
        }) => message,
        Err(_) => String::from_utf8_lossy(body).chars().take(500).collect(),
    };
    classify(status, message)
}

/// A request that could not be sent (or got no answer head in time), as an [`LlmError`].
pub(super) fn send_failed(e: awc::error::SendRequestError) -> LlmError {
    match e {
        awc::error::SendRequestError::Timeout => LlmError::Timeout,
        other => LlmError::Unreachable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_normal_answer_is_read_with_usage() {
        let body = br#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;
        let c = parse_answer(200, body).unwrap();
        assert_eq!(c.content, "Hi!");
        assert_eq!(c.finish, Finish::Stop);
        assert_eq!(c.usage.unwrap().prompt_tokens, 12);
    }

    #[test]
    fn each_finish_reason_is_read_into_a_typed_finish() {
        let answer = |reason: &str| {
            format!(r#"{{"choices":[{{"message":{{"content":"x"}},"finish_reason":{reason}}}]}}"#)
        };
        let finish = |reason: &str| parse_answer(200, answer(reason).as_bytes()).unwrap().finish;

        assert_eq!(finish(r#""stop""#), Finish::Stop);
        assert_eq!(finish(r#""length""#), Finish::Length);
        assert_eq!(finish(r#""content_filter""#), Finish::ContentFilter);
        assert_eq!(
            finish(r#""tool_calls""#),
            Finish::Stop,
            "complete as far as the bot can tell"
        );
        assert_eq!(finish("null"), Finish::CutOff);
    }

    #[test]
    fn error_bodies_of_both_shapes_are_read() {
        let e = parse_answer(
            400,
            br#"{"error":{"message":"Unknown model","type":"invalid_request_error"}}"#,
        )
        .unwrap_err();
        assert!(matches!(e, LlmError::Rejected { ref message, .. } if message == "Unknown model"));
        let e = parse_answer(500, br#"{"error":"boom"}"#).unwrap_err();
        assert!(matches!(e, LlmError::Server { status: 500, .. }));
        let e = parse_answer(502, b"<html>Bad Gateway</html>").unwrap_err();
        assert!(matches!(e, LlmError::Server { status: 502, .. }));
    }

    #[test]
    fn an_answer_without_choices_is_a_bad_response() {
        assert!(matches!(
            parse_answer(200, br#"{"choices":[]}"#),
            Err(LlmError::BadResponse(_))
        ));
        assert!(matches!(
            parse_answer(200, b"not json"),
            Err(LlmError::BadResponse(_))
        ));
    }
}

#[cfg(test)]
mod stream_tests {
    //! `LlmClient::stream` against a tiny in-process server that streams like aichat.

    use super::*;
    use actix_web::{web, App, HttpResponse, HttpServer};
    use serde_json::json;
    use std::time::Instant;

    /// Pause between streamed body chunks.
    const CHUNK_DELAY: Duration = Duration::from_millis(100);

    fn chunk(delta: serde_json::Value, finish_reason: Option<&str>) -> String {
        let chunk = json!({
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "default",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        });
        format!("data: {chunk}\n\n")
    }

    /// A body sent as these byte pieces, with a pause before each.
    fn paced(pieces: Vec<Vec<u8>>) -> HttpResponse {
        let body = futures_util::stream::unfold(pieces.into_iter(), |mut rest| async move {
            let piece = rest.next()?;
            actix_rt::time::sleep(CHUNK_DELAY).await;
            Some((Ok::<_, std::io::Error>(web::Bytes::from(piece)), rest))
        });
        HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(body)
    }

    /// A normal answer, with a multi-byte character cut across two body chunks.
    async fn normal(request: web::Json<serde_json::Value>) -> HttpResponse {
        if request.get("stream") != Some(&json!(true)) {
            return HttpResponse::UnprocessableEntity().body("expected stream: true");
        }
        let emoji = chunk(json!({"content": "😀!"}), None).into_bytes();
        let cut = emoji.iter().position(|&b| b == 0xF0).unwrap() + 2;
        paced(vec![
            chunk(json!({"role": "assistant", "content": ""}), None).into_bytes(),
            chunk(json!({"content": "Hel"}), None).into_bytes(),
            ": keep-alive\n\n".into(),
            chunk(json!({"content": "lo é "}), None).into_bytes(),
            emoji[..cut].to_vec(),
            emoji[cut..].to_vec(),
            format!("{}data: [DONE]\n\n", chunk(json!({}), Some("stop"))).into_bytes(),
        ])
    }

    /// The normal answer's events over HTTP/1.1 with `Connection: close` and neither `Content-Length` nor
    /// chunked encoding: the body is everything until the server closes the connection (RFC 9112 §6.3, the
    /// last rule), as some proxies and small servers send it.
    async fn close_delimited() -> HttpResponse {
        let mut response = paced(vec![
            chunk(json!({"content": "Hel"}), None).into_bytes(),
            chunk(json!({"content": "lo"}), None).into_bytes(),
            format!("{}data: [DONE]\n\n", chunk(json!({}), Some("stop"))).into_bytes(),
        ]);
        response.head_mut().no_chunking(true);
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        response
    }

    /// Text, then a final chunk with the `finish_reason` in the path (`length`, `content_filter`), then
    /// `[DONE]`, as OpenAI ends an answer it cut or filtered.
    async fn finished(reason: web::Path<String>) -> HttpResponse {
        paced(vec![
            chunk(json!({"content": "so much to say"}), None).into_bytes(),
            chunk(json!({}), Some(reason.as_str())).into_bytes(),
            b"data: [DONE]\n\n".to_vec(),
        ])
    }

    /// Text, then the body just ends: no `finish_reason`, no `[DONE]`.
    async fn unfinished() -> HttpResponse {
        paced(vec![
            chunk(json!({"content": "half an "}), None).into_bytes(),
            chunk(json!({"content": "answer"}), None).into_bytes(),
        ])
    }

    /// Headers, then nothing ever.
    async fn hang_after_headers() -> HttpResponse {
        HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(futures_util::stream::pending::<
                Result<web::Bytes, std::io::Error>,
            >())
    }

    /// No headers at all, like aichat waiting on a hung upstream.
    async fn hang_before_headers() -> HttpResponse {
        actix_rt::time::sleep(Duration::from_secs(3600)).await;
        HttpResponse::Ok().finish()
    }

    /// aichat's answer to an upstream rate limit: HTTP 400 with the upstream text.
    async fn rejected() -> HttpResponse {
        HttpResponse::BadRequest().json(json!({"error": {
            "message": "Failed to call chat-completions api (status: 429): Too Many Requests",
            "type": "invalid_request_error",
        }}))
    }

    async fn error_after_text() -> HttpResponse {
        paced(vec![
            chunk(json!({"content": "partial"}), None).into_bytes(),
            b"data: {\"error\":{\"message\":\"upstream went away\"}}\n\n".to_vec(),
        ])
    }

    async fn error_first() -> HttpResponse {
        paced(vec![
            b"event: error\ndata: {\"error\":{\"message\":\"model is overloaded\"}}\n\n".to_vec(),
        ])
    }

    /// Keep-alives forever: never idle, never done.
    async fn endless_pings() -> HttpResponse {
        let body = futures_util::stream::unfold((), |()| async {
            actix_rt::time::sleep(CHUNK_DELAY).await;
            Some((
                Ok::<_, std::io::Error>(web::Bytes::from_static(b": ping\n\n")),
                (),
            ))
        });
        HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(body)
    }

    /// A server that ignores `stream: true`.
    async fn not_streamed() -> HttpResponse {
        HttpResponse::Ok().json(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "all at once"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3},
        }))
    }

    struct Server {
        port: u16,
        handle: actix_web::dev::ServerHandle,
    }

    impl Server {
        fn start() -> Self {
            let server = HttpServer::new(|| {
                let at = |scenario: &str| format!("/{scenario}/v1/chat/completions");
                App::new()
                    .route(&at("normal"), web::post().to(normal))
                    .route(&at("unfinished"), web::post().to(unfinished))
                    .route(&at("close-delimited"), web::post().to(close_delimited))
                    .route(&at("finish-{reason}"), web::post().to(finished))
                    .route(
                        &at("hang-after-headers"),
                        web::post().to(hang_after_headers),
                    )
                    .route(
                        &at("hang-before-headers"),
                        web::post().to(hang_before_headers),
                    )
                    .route(&at("rejected"), web::post().to(rejected))
                    .route(&at("error-after-text"), web::post().to(error_after_text))
                    .route(&at("error-first"), web::post().to(error_first))
                    .route(&at("endless-pings"), web::post().to(endless_pings))
                    .route(&at("not-streamed"), web::post().to(not_streamed))
            })
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
            let port = server.addrs()[0].port();
            let server = server.run();
            let handle = server.handle();
            actix_rt::spawn(server);
            Self { port, handle }
        }

        fn client(&self, scenario: &str) -> LlmClient {
            LlmClient::new(
                &format!("http://127.0.0.1:{}/{scenario}", self.port),
                "default",
                None,
            )
        }

        async fn stop(self) {
            self.handle.stop(false).await;
        }
    }

    fn question() -> Vec<ChatMessage> {
        vec![ChatMessage::new(super::super::Role::User, "Hi")]
    }

    /// Streams `scenario` and returns the result with the deltas seen on the way.
    async fn stream(
        server: &Server,
        scenario: &str,
        idle: Duration,
        total: Duration,
    ) -> (Result<StreamOutcome, LlmError>, Vec<String>) {
        let mut deltas = Vec::new();
        let result = server
            .client(scenario)
            .stream(&question(), idle, total, |d| deltas.push(d.to_string()))
            .await;
        (result, deltas)
    }

    const GENEROUS: Duration = Duration::from_secs(10);
    const SHORT: Duration = Duration::from_millis(400);

    #[actix_rt::test]
    async fn a_paced_stream_hands_out_each_delta_and_the_whole_answer() {
        let server = Server::start();

        // Each gap is well under the idle timeout, the whole stream (7 pauses) well over it.
        let (result, deltas) = stream(&server, "normal", SHORT, GENEROUS).await;

        let outcome = result.unwrap();
        assert_eq!(deltas, vec!["Hel", "lo é ", "😀!"]);
        assert_eq!(outcome.content, "Hello é 😀!");
        assert_eq!(outcome.finish, Finish::Stop);
        assert_eq!(outcome.usage, None);
        server.stop().await;
    }

    #[actix_rt::test]
    async fn a_body_that_ends_when_the_server_closes_the_connection_is_read_to_its_end() {
        let server = Server::start();

        let (result, deltas) = stream(&server, "close-delimited", GENEROUS, GENEROUS).await;

        let outcome = result.unwrap();
        assert_eq!(deltas, vec!["Hel", "lo"]);
        assert_eq!(outcome.content, "Hello");
        assert_eq!(outcome.finish, Finish::Stop);
        server.stop().await;
    }

    #[actix_rt::test]
    async fn a_stream_ended_by_the_length_limit_or_the_content_filter_says_so() {
        let server = Server::start();

        let (length, _) = stream(&server, "finish-length", GENEROUS, GENEROUS).await;
        let (filtered, _) = stream(&server, "finish-content_filter", GENEROUS, GENEROUS).await;

        let length = length.unwrap();
        assert_eq!(length.content, "so much to say");
        assert_eq!(length.finish, Finish::Length);
        assert_eq!(filtered.unwrap().finish, Finish::ContentFilter);
        server.stop().await;
    }

    #[actix_rt::test]
    async fn a_stream_that_ends_without_finish_reason_is_marked_cut_off() {
        let server = Server::start();

        let (result, deltas) = stream(&server, "unfinished", GENEROUS, GENEROUS).await;

        let outcome = result.unwrap();
        assert_eq!(deltas.concat(), "half an answer");
        assert_eq!(outcome.content, "half an answer");
        assert_eq!(outcome.finish, Finish::CutOff);
        server.stop().await;
    }

    #[actix_rt::test]
    async fn headers_then_silence_times_out_after_the_idle_timeout() {
        let server = Server::start();
        let url = format!(
            "http://127.0.0.1:{}/hang-after-headers/v1/chat/completions",
            server.port
        );
        let head = awc::Client::new().post(url).send_json(&json!({})).await;
        assert_eq!(head.unwrap().status(), 200, "the headers do arrive");
        let started = Instant::now();

        let (result, deltas) = stream(&server, "hang-after-headers", SHORT, GENEROUS).await;

        assert!(matches!(result, Err(LlmError::Timeout)), "{result:?}");
        assert!(deltas.is_empty());
        assert!(started.elapsed() < Duration::from_secs(3));
        server.stop().await;
    }

    #[actix_rt::test]
    async fn no_headers_at_all_times_out_after_the_idle_timeout() {
        let server = Server::start();
        let started = Instant::now();

        let (result, _) = stream(&server, "hang-before-headers", SHORT, GENEROUS).await;

        assert!(matches!(result, Err(LlmError::Timeout)), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        server.stop().await;
    }

    #[actix_rt::test]
    async fn a_stream_that_never_finishes_is_bounded_by_the_total_timeout() {
        let server = Server::start();
        let started = Instant::now();

        let (result, _) = stream(&server, "endless-pings", GENEROUS, SHORT).await;

        assert!(matches!(result, Err(LlmError::Timeout)), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        server.stop().await;
    }

    #[actix_rt::test]
    async fn an_aichat_400_is_classified_like_a_non_streamed_answer() {
        let server = Server::start();

        let (result, deltas) = stream(&server, "rejected", GENEROUS, GENEROUS).await;

        assert!(
            matches!(result, Err(LlmError::Overloaded(ref m)) if m.contains("Too Many Requests")),
            "{result:?}"
        );
        assert!(deltas.is_empty());
        server.stop().await;
    }

    #[actix_rt::test]
    async fn an_error_event_before_any_text_is_an_error() {
        let server = Server::start();

        let (result, _) = stream(&server, "error-first", GENEROUS, GENEROUS).await;

        assert!(
            matches!(result, Err(LlmError::Overloaded(ref m)) if m == "model is overloaded"),
            "{result:?}"
        );
        server.stop().await;
    }

    #[actix_rt::test]
    async fn an_error_event_after_some_text_keeps_the_partial_answer() {
        let server = Server::start();

        let (result, deltas) = stream(&server, "error-after-text", GENEROUS, GENEROUS).await;

        let outcome = result.unwrap();
        assert_eq!(deltas, vec!["partial"]);
        assert_eq!(outcome.content, "partial");
        assert_eq!(outcome.finish, Finish::CutOff);
        server.stop().await;
    }

    #[actix_rt::test]
    async fn a_server_that_ignores_stream_true_is_read_as_one_delta() {
        let server = Server::start();

        let (result, deltas) = stream(&server, "not-streamed", GENEROUS, GENEROUS).await;

        let outcome = result.unwrap();
        assert_eq!(deltas, vec!["all at once"]);
        assert_eq!(outcome.finish, Finish::Stop);
        assert_eq!(outcome.usage.map(|u| u.completion_tokens), Some(3));
        server.stop().await;
    }

    #[actix_rt::test]
    async fn a_connection_that_breaks_mid_answer_keeps_the_partial_answer() {
        // Arrange: a body stream that yields text, then a transport error.
        let mut body = futures_util::stream::iter(vec![
            Ok(chunk(json!({"content": "so far"}), None).into_bytes()),
            Err("connection reset"),
        ]);
        let mut deltas = Vec::new();

        let outcome = read_stream(&mut body, GENEROUS, &mut |d: &str| {
            deltas.push(d.to_string())
        })
        .await
        .unwrap();

        assert_eq!(outcome.content, "so far");
        assert_eq!(outcome.finish, Finish::CutOff);
        let mut body = futures_util::stream::iter(vec![Err::<Vec<u8>, _>("connection reset")]);
        let result = read_stream(&mut body, GENEROUS, &mut |_: &str| {}).await;
        assert!(
            matches!(result, Err(LlmError::Unreachable(_))),
            "{result:?}"
        );
    }
}
