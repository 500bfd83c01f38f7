//! Performance harness (not a test): the release binary against the fake Telegram (limits off, and the bot's
//! own pacing off: TELEGRAM_RATE_LIMIT=0, TELEGRAM_CHAT_GAP_MS=0) and a fake LLM
//! that answers at once, with a real redis-server. Prints each figure next to its goal:
//! start time (process start → /ready 200), idle RSS, overhead per message (20 chats × 10 messages, from the
//! update becoming available to the answer reaching Telegram, p50/p99), throughput (500 chats writing at once)
//! and peak RSS during it.
//!
//!     cargo bench --bench performance
//!
//! Needs redis-server (scripts/ensure-redis.sh). Not yet measured here: the 10-minute soak and the RSS with 200
//! chats streaming (see docs/benchmarks.md).

// A benchmark harness, like a test: a failed step should stop it loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/e2e/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};
use support::{BotProcess, TestEnv};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

fn env() -> TestEnv {
    let mut env = TestEnv::start();
    env.set("ALLOWED_USER_IDS", "*");
    env.set("RUST_LOG", "warn,aichat_telegram_bot::app=info");
    env.set("MAX_CONCURRENT_JOBS", "256");
    // "Telegram limits off": the bot's own pacing off too, to measure the bot itself.
    env.set("TELEGRAM_RATE_LIMIT", "0");
    env.set("TELEGRAM_CHAT_GAP_MS", "0");
    env.set("MERGE_WINDOW_MS", "0");
    env
}

async fn start_time() -> (Duration, u64) {
    let env = env();
    let mut times = Vec::new();
    let mut rss = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let mut bot: BotProcess = env.spawn_bot_unready();
        bot.wait_ready(Duration::from_secs(30)).await;
        times.push(started.elapsed());
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss = rss_kib(bot.pid());
        bot.terminate(Duration::from_secs(30)).await;
    }
    times.sort();
    (percentile(&times, 0.5), rss)
}

async fn overhead() -> (Duration, Duration) {
    let env = env();
    let _bot = env.spawn_bot().await;
    let chats: Vec<i64> = (0..20).map(|i| 200_000 + i).collect();
    let mut latencies = Vec::new();
    for round in 0..10 {
        let mut pushed = Vec::new();
        for c in &chats {
            pushed.push((*c, Instant::now()));
            env.telegram.push_text(*c, *c, &format!("message {round}"));
        }
        for (c, at) in pushed {
            let sent = env
                .telegram
                .wait_for_messages(c, round + 1, Duration::from_secs(30))
                .await;
            latencies.push(sent[round].at.saturating_duration_since(at));
        }
    }
    latencies.sort();
    (percentile(&latencies, 0.5), percentile(&latencies, 0.99))
}

async fn throughput() -> (f64, u64, usize) {
    let env = env();
    let bot = env.spawn_bot().await;
    let chats: Vec<i64> = (0..500).map(|i| 300_000 + i).collect();
    let per_chat = 4;
    let started = Instant::now();
    for round in 0..per_chat {
        for c in &chats {
            env.telegram.push_text(*c, *c, &format!("m{round}"));
        }
    }
    let total = chats.len() * per_chat;
    let mut peak = 0;
    let deadline = started + Duration::from_secs(300);
    loop {
        peak = peak.max(rss_kib(bot.pid()));
        if env.telegram.sent_messages().len() >= total || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let answered = env.telegram.sent_messages().len();
    (answered as f64 / elapsed.as_secs_f64(), peak, answered)
}

fn main() {
    let system = actix_rt::System::new();
    let (start, idle_rss, (p50, p99), (rate, peak_rss, answered)) = system.block_on(async {
        let (start, idle) = start_time().await;
        let overhead = overhead().await;
        let throughput = throughput().await;
        (start, idle, overhead, throughput)
    });
    println!("Performance harness (release binary, fake Telegram limits off, LLM answers at once)");
    println!("| figure | measured | goal |");
    println!("|---|---|---|");
    println!(
        "| start: process start → /ready 200 (median of 5) | {} ms | ≤ 150 ms |",
        start.as_millis()
    );
    println!(
        "| RSS idle after start | {:.1} MB | ≤ 20 MB |",
        idle_rss as f64 / 1024.0
    );
    println!(
        "| overhead p50 (20 chats × 10 messages) | {:.1} ms | ≤ 2 ms |",
        p50.as_secs_f64() * 1000.0
    );
    println!(
        "| overhead p99 | {:.1} ms | ≤ 10 ms |",
        p99.as_secs_f64() * 1000.0
    );
    println!("| throughput, 500 chats × 4 messages | {rate:.0} answers/s ({answered} of 2000) | ≥ 5,000/s |");
    println!("| peak RSS during the throughput run | {:.1} MB | ≤ 40 MB (goal is for 200 chats streaming) |", peak_rss as f64 / 1024.0);
}
