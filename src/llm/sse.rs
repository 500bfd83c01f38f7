//! Incremental Server-Sent-Events decoder for OpenAI-style chat-completion streams. Pure: bytes in,
//! [`StreamEvent`]s out, no I/O.
//!
//! The body arrives in chunks cut anywhere, even inside a UTF-8 character or between the `\r` and `\n` of a
//! line ending, so bytes are buffered and only complete lines are decoded. Follows the SSE rules that matter
//! here (<https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>):
//! `\n`, `\r\n` and `\r` line endings; `:` comment lines (keep-alives); `data:` lines joined with `\n`; one
//! optional space after the colon; a blank line dispatches the event. `id:` and `retry:` are ignored, and so is
//! `event:` except `event: error`.

use super::types::{Finish, Usage};
use serde::Deserialize;

/// Largest event we hold in memory. A chat-completion chunk is a few hundred bytes; anything near this is a
/// broken or hostile server, and buffering it without bound could exhaust memory.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// How much of an unreadable `event: error` payload is kept as its message.
const MAX_ERROR_TEXT_CHARS: usize = 300;

/// What one stream event means for the answer being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// More answer text (never empty).
    Delta(String),
    /// A choice's `finish_reason` (`stop`, `length`, `content_filter`, …), when the server sets one (so never
    /// [`Finish::CutOff`]).
    Finish(Finish),
    /// Token counts, when a chunk carries them (OpenAI with `stream_options`; never aichat).
    Usage(Usage),
    /// An error reported inside the stream (`{"error":{"message":…}}`, `event: error`), or a chunk we could
    /// not read, or an oversized event that was skipped.
    Error(String),
    /// `data: [DONE]`: the server says the stream is complete.
    Done,
}

/// Feed it the body as it arrives with [`push`](SseDecoder::push), then call [`finish`](SseDecoder::finish)
/// at the end of the body.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The last byte seen was a `\r` ending a line: a `\n` right after it belongs to the same line ending.
    after_cr: bool,
    /// `data:` values of the event being read, joined with `\n`.
    data: String,
    /// A `data` field was seen in the event being read (it may be empty).
    has_data: bool,
    /// The event being read is `event: error`.
    error_event: bool,
    /// The event being read grew past [`MAX_EVENT_BYTES`]: its lines are dropped until the blank line that
    /// ends it.
    skipping: bool,
    /// While skipping: the current line had bytes (so its line ending is not a blank line).
    skipped_line_has_bytes: bool,
    /// No line has been completed yet (a leading byte-order mark is dropped from the first line).
    started: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes the next piece of the body and returns the events it completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        let mut rest = bytes;
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if let Some(tail) = rest.strip_prefix(b"\n") {
                rest = tail;
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, tail) = rest.split_at(pos);
            self.extend_line(head, &mut events);
            self.end_line(&mut events);
            // `tail` starts with the line ending found above.
            rest = match tail.split_first() {
                Some((b'\r', after)) => match after.split_first() {
                    Some((b'\n', after_lf)) => after_lf,
                    Some(_) => after,
                    None => {
                        self.after_cr = true;
                        after
                    }
                },
                Some((_, after)) => after,
                None => tail,
            };
        }
        self.extend_line(rest, &mut events);
        events
    }

    /// End of the body: completes a last line and event that had no trailing line ending or blank line, and
    /// resets the decoder.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if self.skipping {
            self.skipping = false;
            self.skipped_line_has_bytes = false;
        } else {
            if !self.line.is_empty() {
                self.end_line(&mut events);
            }
            self.dispatch(&mut events);
        }
        self.line.clear();
        self.after_cr = false;
        self.started = false;
        events
    }

    /// Appends bytes to the current line, or starts skipping the event if it would grow too large.
    fn extend_line(&mut self, bytes: &[u8], events: &mut Vec<StreamEvent>) {
        if bytes.is_empty() {
            return;
        }
        if self.skipping {
            self.skipped_line_has_bytes = true;
            return;
        }
        if self.line.len() + self.data.len() + bytes.len() > MAX_EVENT_BYTES {
            events.push(StreamEvent::Error(format!(
                "an event of more than {MAX_EVENT_BYTES} bytes was skipped"
            )));
            self.reset_event();
            // Release the memory, not just the length.
            self.line = Vec::new();
            self.data = String::new();
            self.skipping = true;
            self.skipped_line_has_bytes = true;
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    /// A line ending: a blank line dispatches the event, any other line is a field.
    fn end_line(&mut self, events: &mut Vec<StreamEvent>) {
        if self.skipping {
            if self.skipped_line_has_bytes {
                self.skipped_line_has_bytes = false;
            } else {
                self.skipping = false;
            }
            return;
        }
        let bytes = std::mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&bytes);
        if !self.started {
            self.started = true;
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = std::borrow::Cow::Owned(rest.to_string());
            }
        }
        if line.is_empty() {
            self.dispatch(events);
            // Keep the allocation for the next line.
            self.line = bytes;
            self.line.clear();
            return;
        }
        if line.starts_with(':') {
            return; // a comment, e.g. a `: ping` keep-alive
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match name {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.error_event = value == "error",
            _ => {} // `id`, `retry` and unknown fields
        }
        self.line = bytes;
        self.line.clear();
    }

    /// A blank line (or the end of the body): the event read so far, if it had data, is interpreted.
    fn dispatch(&mut self, events: &mut Vec<StreamEvent>) {
        if self.has_data {
            let data = std::mem::take(&mut self.data);
            interpret(&data, self.error_event, events);
        }
        self.reset_event();
    }

    fn reset_event(&mut self) {
        self.data.clear();
        self.has_data = false;
        self.error_event = false;
    }
}

/// One `chat.completion.chunk`, read leniently: unknown fields (`id`, `model`, `reasoning_content`, …) are
/// ignored and `null` is accepted wherever a field may be missing.
#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Option<Vec<ChunkChoice>>,
    /// Read separately so that an odd `usage` (nulls, extra shapes) never loses the chunk's text.
    #[serde(default)]
    usage: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    delta: Option<ChunkDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChunkDelta {
    /// Only the answer text; `role` and `reasoning_content` are ignored.
    #[serde(default)]
    content: Option<String>,
}

/// Turns the data of one event into stream events.
fn interpret(data: &str, error_event: bool, events: &mut Vec<StreamEvent>) {
    let trimmed = data.trim();
    if trimmed == "[DONE]" {
        events.push(StreamEvent::Done);
        return;
    }
    if error_event {
        events.push(StreamEvent::Error(error_text(trimmed)));
        return;
    }
    if trimmed.is_empty() {
        return;
    }
    let chunk: Chunk = match serde_json::from_str(trimmed) {
        Ok(chunk) => chunk,
        Err(e) => {
            events.push(StreamEvent::Error(format!("unreadable stream chunk: {e}")));
            return;
        }
    };
    if let Some(error) = chunk.error.filter(|e| !e.is_null()) {
        events.push(StreamEvent::Error(error_message(&error)));
        return;
    }
    // The bot never asks for several choices (`n`); only the first one is the answer.
    for choice in chunk
        .choices
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.index.unwrap_or(0) == 0)
    {
        if let Some(content) = choice.delta.and_then(|d| d.content) {
            if !content.is_empty() {
                events.push(StreamEvent::Delta(content));
            }
        }
        if let Some(reason) = choice.finish_reason {
            events.push(StreamEvent::Finish(Finish::from_reason(&reason)));
        }
    }
    if let Some(usage) = chunk
        .usage
        .and_then(|u| serde_json::from_value::<Usage>(u).ok())
    {
        events.push(StreamEvent::Usage(usage));
    }
}

/// The message of an `event: error` payload: JSON in the usual shapes, else the text itself (shortened).
fn error_text(data: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(data) {
        Ok(value) => match value.get("error") {
            Some(error) => error_message(error),
            None => error_message(&value),
        },
        Err(_) if data.is_empty() => "the server reported an error".to_string(),
        Err(_) => data.chars().take(MAX_ERROR_TEXT_CHARS).collect(),
    }
}

/// The message of an error value: `{"message":…}`, a bare string, or the JSON text (shortened).
fn error_message(error: &serde_json::Value) -> String {
    match error {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Object(fields) => match fields.get("message") {
            Some(serde_json::Value::String(text)) => text.clone(),
            _ => error
                .to_string()
                .chars()
                .take(MAX_ERROR_TEXT_CHARS)
                .collect(),
        },
        other => other
            .to_string()
            .chars()
            .take(MAX_ERROR_TEXT_CHARS)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream as aichat and OpenAI send it: a role-only chunk, content chunks (with multi-byte characters, a
    /// `reasoning_content` delta and an empty content), a final chunk with `finish_reason`, then `[DONE]`.
    const RECORDED: &str = concat!(
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"default","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"default","choices":[{"index":0,"delta":{"reasoning_content":"thinking…"},"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"default","choices":[{"index":0,"delta":{"content":"Café "},"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"default","choices":[{"index":0,"delta":{"content":"😀 and "},"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"default","choices":[{"index":0,"delta":{"content":"日本"},"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"default","choices":[{"index":0,"delta":{"content":"語 \u00e9\n"},"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"default","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        "\n\n",
        "data: [DONE]\n\n",
    );

    fn expected_recorded() -> Vec<StreamEvent> {
        vec![
            StreamEvent::Delta("Café ".into()),
            StreamEvent::Delta("😀 and ".into()),
            StreamEvent::Delta("日本".into()),
            StreamEvent::Delta("語 é\n".into()),
            StreamEvent::Finish(Finish::Stop),
            StreamEvent::Done,
        ]
    }

    /// Decodes `parts` in order, then finishes.
    fn decode_parts(parts: &[&[u8]]) -> Vec<StreamEvent> {
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        for part in parts {
            events.extend(decoder.push(part));
        }
        events.extend(decoder.finish());
        events
    }

    fn decode(bytes: &[u8]) -> Vec<StreamEvent> {
        decode_parts(&[bytes])
    }

    fn joined_text(events: &[StreamEvent]) -> String {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Delta(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Deterministic xorshift64, so random splits are reproducible without a new crate.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Cuts `bytes` at `count` random places (possibly the same place twice, giving an empty part).
    fn random_parts<'a>(bytes: &'a [u8], count: usize, rng: &mut Rng) -> Vec<&'a [u8]> {
        let mut cuts: Vec<usize> = (0..count).map(|_| rng.below(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut parts = Vec::new();
        let mut start = 0;
        for cut in cuts {
            parts.push(&bytes[start..cut]);
            start = cut;
        }
        parts.push(&bytes[start..]);
        parts
    }

    /// Asserts that every two-part split and a few hundred random many-part splits decode like the whole.
    fn assert_split_invariant(bytes: &[u8], expected: &[StreamEvent]) {
        assert_eq!(decode(bytes), expected, "decoded in one piece");
        let text = joined_text(expected);
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            let events = decode_parts(&[a, b]);
            assert_eq!(events, expected, "split at byte {cut}");
            assert_eq!(joined_text(&events), text);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..300 {
            let count = 1 + rng.below(40);
            let parts = random_parts(bytes, count, &mut rng);
            let events = decode_parts(&parts);
            assert_eq!(
                events, expected,
                "random split round {round} into {count}+1 parts"
            );
            assert_eq!(joined_text(&events), text);
        }
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_parts(&bytewise), expected, "one byte at a time");
    }

    #[test]
    fn a_recorded_stream_decodes_the_same_however_it_is_split() {
        assert!(RECORDED.contains('😀') && RECORDED.contains("日本"));
        assert_split_invariant(RECORDED.as_bytes(), &expected_recorded());
        assert_eq!(joined_text(&expected_recorded()), "Café 😀 and 日本語 é\n");
    }

    /// The recorded stream with every event's JSON spread over two `data:` lines (a line ending between `{`
    /// and `"id"` is JSON whitespace), so that a line ending mistaken for a blank line changes the events.
    fn recorded_multi_line() -> String {
        RECORDED.replace("data: {\"id\"", "data: {\ndata: \"id\"")
    }

    #[test]
    fn a_multi_line_lf_stream_decodes_the_same_however_it_is_split() {
        assert_split_invariant(recorded_multi_line().as_bytes(), &expected_recorded());
    }

    #[test]
    fn a_crlf_stream_decodes_the_same_however_it_is_split() {
        let crlf = recorded_multi_line().replace('\n', "\r\n");
        assert_split_invariant(crlf.as_bytes(), &expected_recorded());
    }

    #[test]
    fn a_stream_with_bare_cr_line_endings_decodes_the_same_however_it_is_split() {
        let cr = recorded_multi_line().replace('\n', "\r");
        assert_split_invariant(cr.as_bytes(), &expected_recorded());
    }

    #[test]
    fn comments_and_keep_alives_produce_nothing() {
        let stream = concat!(
            ": ping\n\n",
            ":\n",
            r#"data: {"choices":[{"delta":{"content":"a"}}]}"#,
            "\n",
            ": a comment inside an event\n",
            "\n",
            ": ping - 2024-01-01 00:00:00\r\n\r\n",
            "data: [DONE]\n\n",
        );
        assert_eq!(
            decode(stream.as_bytes()),
            vec![StreamEvent::Delta("a".into()), StreamEvent::Done]
        );
    }

    #[test]
    fn event_id_and_retry_fields_are_ignored() {
        let stream = concat!(
            "retry: 3000\n",
            "id: 7\n",
            "event: message\n",
            r#"data: {"choices":[{"delta":{"content":"x"}}]}"#,
            "\n\n",
            "id: 8\n\n",
            "event: completion\n\n",
        );
        assert_eq!(
            decode(stream.as_bytes()),
            vec![StreamEvent::Delta("x".into())]
        );
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let stream = concat!(
            "data: {\"choices\":\n",
            "data: [{\"delta\":{\"content\":\"multi\"}}]\n",
            "data: }\n\n",
        );
        assert_eq!(
            decode(stream.as_bytes()),
            vec![StreamEvent::Delta("multi".into())]
        );
        // A JSON string cannot hold a raw newline: the join really is `\n`.
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"a\ndata: b\"}}]}\n\n";
        assert!(matches!(
            &decode(stream.as_bytes())[..],
            [StreamEvent::Error(_)]
        ));
    }

    #[test]
    fn the_space_after_the_colon_is_optional_and_only_one_is_removed() {
        let stream = concat!(
            "data:{\"choices\":[{\"delta\":{\"content\":\"tight\"}}]}\n\n",
            "data:  {\"choices\":[{\"delta\":{\"content\":\"spaced\"}}]}\n\n",
            "data:[DONE]\n\n",
        );
        assert_eq!(
            decode(stream.as_bytes()),
            vec![
                StreamEvent::Delta("tight".into()),
                StreamEvent::Delta("spaced".into()),
                StreamEvent::Done
            ]
        );
    }

    #[test]
    fn role_only_and_empty_deltas_produce_nothing() {
        let stream = concat!(
            r#"data: {"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}"#,
            "\n\n",
            r#"data: {"choices":[{"index":0,"delta":{"content":""}}]}"#,
            "\n\n",
            r#"data: {"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"hmm"}}]}"#,
            "\n\n",
            r#"data: {"choices":[]}"#,
            "\n\n",
            "data:\n\n",
        );
        assert_eq!(decode(stream.as_bytes()), vec![]);
    }

    #[test]
    fn an_error_object_in_the_stream_is_reported() {
        let stream = concat!(
            r#"data: {"choices":[{"delta":{"content":"par"}}]}"#,
            "\n\n",
            r#"data: {"error":{"message":"upstream said 429 Too Many Requests","type":"api_error"}}"#,
            "\n\n",
            r#"data: {"error":"plain text error"}"#,
            "\n\n",
        );
        assert_eq!(
            decode(stream.as_bytes()),
            vec![
                StreamEvent::Delta("par".into()),
                StreamEvent::Error("upstream said 429 Too Many Requests".into()),
                StreamEvent::Error("plain text error".into()),
            ]
        );
    }

    #[test]
    fn an_error_event_is_reported_whatever_its_data() {
        let stream = concat!(
            "event: error\n",
            r#"data: {"error":{"message":"model overloaded"}}"#,
            "\n\n",
            "event: error\n",
            r#"data: {"message":"bare message"}"#,
            "\n\n",
            "event: error\n",
            "data: not json at all\n\n",
            r#"data: {"choices":[{"delta":{"content":"after"}}]}"#,
            "\n\n",
        );
        assert_eq!(
            decode(stream.as_bytes()),
            vec![
                StreamEvent::Error("model overloaded".into()),
                StreamEvent::Error("bare message".into()),
                StreamEvent::Error("not json at all".into()),
                StreamEvent::Delta("after".into()),
            ]
        );
    }

    #[test]
    fn malformed_json_is_reported_and_the_stream_goes_on() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"trunc\n\n",
            "data: 42\n\n",
            r#"data: {"choices":[{"delta":{"content":"ok"}}]}"#,
            "\n\n",
        );
        let events = decode(stream.as_bytes());
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(
            matches!(&events[0], StreamEvent::Error(m) if m.starts_with("unreadable stream chunk"))
        );
        assert!(matches!(&events[1], StreamEvent::Error(_)));
        assert_eq!(events[2], StreamEvent::Delta("ok".into()));
    }

    #[test]
    fn a_stream_that_just_ends_still_yields_its_last_event() {
        let stream = concat!(
            r#"data: {"choices":[{"delta":{"content":"cut "}}]}"#,
            "\n\n",
            r#"data: {"choices":[{"delta":{"content":"off"}}]}"#,
        );
        let mut decoder = SseDecoder::new();
        assert_eq!(
            decoder.push(stream.as_bytes()),
            vec![StreamEvent::Delta("cut ".into())]
        );
        assert_eq!(decoder.finish(), vec![StreamEvent::Delta("off".into())]);
        // Same with the last line ended but no blank line.
        let events = decode(format!("{stream}\n").as_bytes());
        assert_eq!(joined_text(&events), "cut off");
        assert!(!events
            .iter()
            .any(|e| matches!(e, StreamEvent::Finish(_) | StreamEvent::Done)));
    }

    #[test]
    fn a_usage_chunk_is_reported() {
        let stream = concat!(
            r#"data: {"choices":[{"delta":{"content":"hi"},"finish_reason":"length"}],"usage":null}"#,
            "\n\n",
            r#"data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#,
            "\n\n",
            r#"data: {"choices":null,"usage":{"prompt_tokens":null}}"#,
            "\n\n",
            "data: [DONE]\n\n",
        );
        assert_eq!(
            decode(stream.as_bytes()),
            vec![
                StreamEvent::Delta("hi".into()),
                StreamEvent::Finish(Finish::Length),
                StreamEvent::Usage(Usage {
                    prompt_tokens: 12,
                    completion_tokens: 3
                }),
                StreamEvent::Done,
            ]
        );
    }

    #[test]
    fn each_finish_reason_is_read_into_a_typed_finish() {
        let stream = concat!(
            r#"data: {"choices":[{"delta":{},"finish_reason":"length"}]}"#,
            "\n\n",
            r#"data: {"choices":[{"delta":{},"finish_reason":"content_filter"}]}"#,
            "\n\n",
            r#"data: {"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
            "\n\n",
            r#"data: {"choices":[{"delta":{},"finish_reason":null}]}"#,
            "\n\n",
        );
        assert_eq!(
            decode(stream.as_bytes()),
            vec![
                StreamEvent::Finish(Finish::Length),
                StreamEvent::Finish(Finish::ContentFilter),
                StreamEvent::Finish(Finish::Stop),
            ]
        );
    }

    #[test]
    fn only_the_first_choice_is_the_answer() {
        let stream = concat!(
            r#"data: {"choices":[{"index":1,"delta":{"content":"other"}},{"index":0,"delta":{"content":"mine"}}]}"#,
            "\n\n",
        );
        assert_eq!(
            decode(stream.as_bytes()),
            vec![StreamEvent::Delta("mine".into())]
        );
    }

    #[test]
    fn an_oversized_event_is_reported_skipped_and_not_buffered() {
        let big_line = format!("data: {}\n", "x".repeat(MAX_EVENT_BYTES / 2));
        let mut stream = String::new();
        for _ in 0..4 {
            stream.push_str(&big_line); // four lines of one event: twice the limit
        }
        stream.push('\n');
        stream.push_str("data: {\"choices\":[{\"delta\":{\"content\":\"next\"}}]}\n\n");
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        for part in stream.as_bytes().chunks(4096) {
            events.extend(decoder.push(part));
            assert!(decoder.line.len() + decoder.data.len() <= MAX_EVENT_BYTES);
        }
        events.extend(decoder.finish());
        assert_eq!(events.len(), 2, "one error, then the next event");
        assert!(matches!(&events[0], StreamEvent::Error(m) if m.contains("skipped")));
        assert_eq!(events[1], StreamEvent::Delta("next".into()));
    }

    #[test]
    fn an_endless_line_is_not_buffered() {
        let mut decoder = SseDecoder::new();
        let mut errors = 0;
        let piece = vec![b'y'; 64 * 1024];
        decoder.push(b"data: ");
        for _ in 0..40 {
            errors += decoder.push(&piece).len();
            assert!(decoder.line.len() <= MAX_EVENT_BYTES);
        }
        assert_eq!(errors, 1);
        assert_eq!(decoder.finish(), vec![]);
        // The decoder is usable again after `finish`.
        assert_eq!(decoder.push(b"data: [DONE]\n\n"), vec![StreamEvent::Done]);
    }

    #[test]
    fn a_byte_order_mark_before_the_first_line_is_ignored() {
        let stream = "\u{feff}data: [DONE]\n\n";
        assert_split_invariant(stream.as_bytes(), &[StreamEvent::Done]);
    }

    #[test]
    fn invalid_utf8_never_panics() {
        let events = decode(b"data: {\"choices\":[{\"delta\":{\"content\":\"\xff\xfe\"}}]}\n\n");
        assert_eq!(events, vec![StreamEvent::Delta("\u{fffd}\u{fffd}".into())]);
    }
}
