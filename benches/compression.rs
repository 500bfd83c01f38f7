//! Compression benchmark (not a test): a scripted 300-turn conversation through the real SessionManager and
//! Compressor against an in-process fake LLM that gives answers and summaries of realistic length.
//!
//! Prints, per context window: the largest prompt sent (it must stay under the window), total prompt tokens
//! with compression (summary requests included) and without, the number of compressions, and the time
//! spent counting tokens.
//!
//!     cargo bench --bench compression
//!
//! `BENCH_TURNS` changes the number of turns (default 300).

// A benchmark harness, like a test: a failed step should stop it loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use actix::prelude::*;
use actix_web::{web, App, HttpResponse, HttpServer};
use aichat_telegram_bot::actors::compressor::{CompressChat, CompressOutcome, Compressor};
use aichat_telegram_bot::actors::session_manager::{
    BeginTurn, FinishTurn, GetContextUsage, SessionManager,
};
use aichat_telegram_bot::actors::turns::TurnBatcher;
use aichat_telegram_bot::catalog::ModelCatalog;
use aichat_telegram_bot::choice::AllowedModels;
use aichat_telegram_bot::config::Config;
use aichat_telegram_bot::context::{ContextWindow, PromptBudget};
use aichat_telegram_bot::health::Health;
use aichat_telegram_bot::ids::{ChatId, MessageId};
use aichat_telegram_bot::llm::LlmClient;
use aichat_telegram_bot::queue::ChatRef;
use aichat_telegram_bot::tokens::{estimate, TokenCounter};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WORDS: &[&str] = &[
    "the",
    "model",
    "answer",
    "context",
    "window",
    "token",
    "summary",
    "history",
    "request",
    "user",
    "bot",
    "server",
    "queue",
    "redis",
    "database",
    "message",
    "chat",
    "system",
    "prompt",
    "compression",
    "latency",
    "memory",
    "design",
    "question",
    "example",
    "detail",
    "because",
    "however",
    "therefore",
    "which",
    "would",
    "could",
    "should",
    "about",
    "before",
    "after",
    "between",
    "during",
    "without",
    "within",
    "rust",
    "actor",
];

/// A deterministic pseudo-random text of `n` words.
fn words(seed: u64, n: usize) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51afd7ed558ccd);
        x ^= x >> 29;
        let w = WORDS[(x % WORDS.len() as u64) as usize];
        out.push(if i % 14 == 13 {
            format!("{w}.")
        } else {
            w.to_string()
        });
    }
    out.join(" ")
}

/// Prompt tokens the fake spent on summary requests.
static SUMMARY_PROMPT_TOKENS: AtomicU64 = AtomicU64::new(0);

async fn fake_completions(body: web::Json<serde_json::Value>) -> HttpResponse {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let prompt_tokens: usize = messages
        .iter()
        .map(|m| estimate(m["content"].as_str().unwrap_or("")) + 4)
        .sum();
    let first = messages
        .first()
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let seed = prompt_tokens as u64;
    let content = if first.starts_with("You condense chat histories") {
        SUMMARY_PROMPT_TOKENS.fetch_add(prompt_tokens as u64, Ordering::Relaxed);
        words(seed, 220)
    } else {
        // Answers of 120 to 250 words.
        words(seed, 120 + (seed % 131) as usize)
    };
    HttpResponse::Ok().json(serde_json::json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": estimate(&content)},
    }))
}

struct Row {
    window: usize,
    largest: usize,
    with: u64,
    without: u64,
    compressions: u32,
    counted: u64,
    counting: Duration,
    elapsed: Duration,
}

async fn run(window_tokens: usize, turns: usize, llm_url: &str) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_vars([
        ("TELEGRAM_BOT_TOKEN".to_string(), "1:benchmark".to_string()),
        ("ALLOWED_USER_IDS".to_string(), "*".to_string()),
        ("AICHAT_BASE_URL".to_string(), llm_url.to_string()),
        (
            "CONTEXT_WINDOW_TOKENS".to_string(),
            window_tokens.to_string(),
        ),
    ])
    .unwrap();
    let config = Arc::new(config);
    let health = Arc::new(Health::new());
    let tokens = Arc::new(TokenCounter::estimate_only());
    let window = Arc::new(ContextWindow::new(&config.context));
    let catalog = Arc::new(ModelCatalog::new(
        &config.llm.model,
        AllowedModels::all(),
        Default::default(),
        window.clone(),
    ));
    let pool = aichat_telegram_bot::db::open(&dir.path().join("bench.db"), 3).unwrap();
    let sessions = SessionManager::start(2, pool, tokens.clone(), None, health.clone());
    let batcher = TurnBatcher::start(
        sessions.clone(),
        std::sync::Arc::new(aichat_telegram_bot::health::Health::new()),
    );
    let compressor = Compressor::new(
        config.clone(),
        health,
        sessions.clone(),
        tokens.clone(),
        catalog,
        Arc::new(aichat_telegram_bot::metrics::Metrics::new().unwrap()),
    )
    .start();
    let llm = LlmClient::new(llm_url, "default", None);
    let chat = ChatRef {
        id: ChatId(1),
        kind: "private".into(),
        title: None,
        topic: None,
    };
    SUMMARY_PROMPT_TOKENS.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let (mut largest, mut with, mut without, mut compressions) = (0usize, 0u64, 0u64, 0u32);
    for turn in 0..turns {
        let question = words(turn as u64 * 7919, 10 + turn % 50);
        let begin = BeginTurn {
            chat: chat.clone(),
            messages: vec![(MessageId(turn as i64 * 2), question)],
            budget: PromptBudget::fixed(window.prompt_budget()),
            attachments: Vec::new(),
            caption: None,
            quota: None,
        };
        let context = batcher.begin(begin).await.unwrap().unwrap();
        assert!(context.refused.is_none());
        largest = largest.max(context.tokens);
        with += context.tokens as u64;
        let usage = sessions
            .send(GetContextUsage {
                conversation: chat.conversation(),
            })
            .await
            .unwrap()
            .unwrap();
        without += usage.without_summary as u64;
        let answer = llm
            .complete(&context.prompt, Duration::from_secs(30))
            .await
            .unwrap();
        let after = batcher
            .finish(FinishTurn {
                conversation: chat.conversation(),
                content: answer.content,
                telegram_message_id: Some(MessageId(turn as i64 * 2 + 1)),
                usage: answer.usage,
                spend: None,
            })
            .await
            .unwrap()
            .unwrap();
        if after > window.threshold() {
            if let CompressOutcome::Compressed { .. } = compressor
                .send(CompressChat {
                    conversation: chat.conversation(),
                    model: config.llm.model.clone(),
                })
                .await
                .unwrap()
                .unwrap()
            {
                compressions += 1;
            }
        }
    }
    with += SUMMARY_PROMPT_TOKENS.load(Ordering::Relaxed);
    let (counted, counting) = tokens.counting_time();
    Row {
        window: window_tokens,
        largest,
        with,
        without,
        compressions,
        counted,
        counting,
        elapsed: started.elapsed(),
    }
}

fn main() {
    let turns: usize = std::env::var("BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let system = actix_rt::System::new();
    let rows = system.block_on(async move {
        let server = HttpServer::new(|| {
            App::new().route("/v1/chat/completions", web::post().to(fake_completions))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let url = format!("http://127.0.0.1:{}", server.addrs()[0].port());
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        let mut rows = Vec::new();
        for window in [16_384, 32_768, 128_000] {
            rows.push(run(window, turns, &url).await);
        }
        handle.stop(false).await;
        rows
    });
    println!(
        "Compression benchmark: {turns} turns, answers of 120-250 words, questions of 10-60 words"
    );
    println!(
        "| window | largest prompt | under window | prompt tokens, compressed (incl. summaries) | uncompressed | ratio (goal <= 30%) | compressions | counting: texts, time | wall time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {:.1}% | {} | {}, {:.1} ms | {:.2} s |",
            r.window,
            r.largest,
            if r.largest <= r.window { "yes" } else { "NO" },
            r.with,
            r.without,
            r.with as f64 * 100.0 / r.without.max(1) as f64,
            r.compressions,
            r.counted,
            r.counting.as_secs_f64() * 1000.0,
            r.elapsed.as_secs_f64(),
        );
    }
}
