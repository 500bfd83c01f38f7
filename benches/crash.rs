//! Crash benchmark (not a test): `kill -9` of the bot while five answers are being written, then the time until
//! the jobs are taken back (the model is asked again) and until every interrupted answer is complete, once:
//! with an immediate restart (as systemd does), and with a second process already running (which finishes
//! them). Goal: ≤ 6 s from the kill to every answer complete (before owner heartbeats: the 30 s `JOB_LEASE`).
//! The interrupted requests hang at the fake model; asked again, it answers at once, so the figures are the
//! bot's own.
//!
//!     cargo bench --bench crash
//!
//! Needs redis-server (scripts/ensure-redis.sh installs it). Uses the test suite's fakes; `E2E_BOT_BINARY`
//! picks another binary.

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
use support::{Behaviour, TestEnv};

/// Chats whose answers are in flight at the kill.
const CHATS: i64 = 5;
/// Runs of each scenario; the table shows each run.
const RUNS: usize = 3;
/// How long the first requests hang: far longer than any recovery.
const HANG: Duration = Duration::from_secs(300);
const LIMIT: Duration = Duration::from_secs(90);

struct Figures {
    /// Kill → the model asked again for every interrupted answer (the jobs were taken back).
    taken_back: Duration,
    /// Kill → every interrupted answer complete.
    complete: Duration,
    /// Answers shown more than once, or not as expected (goal 0).
    wrong: usize,
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One run: `second` — a second process runs beside the killed one; else the killed one restarts at once.
async fn run(second: bool) -> Figures {
    let mut env = TestEnv::start();
    env.set("ALLOWED_USER_IDS", "*");
    env.set("RUST_LOG", "warn,aichat_telegram_bot::app=info");
    let mut first = env.spawn_bot().await;
    env.llm.set_behaviour(Behaviour::Echo);
    for _ in 0..CHATS {
        env.llm.push_once(Behaviour::Delay(HANG));
    }
    let chats: Vec<i64> = (0..CHATS).map(|i| 600_000 + i).collect();
    for c in &chats {
        env.telegram.push_text(*c, *c, &format!("question of {c}"));
    }
    wait_for("the model asked for every chat", || {
        env.llm.request_count() >= chats.len()
    })
    .await;
    // The jobs are all on `first`; a second process started now finds nothing to take until the kill.
    let other = if second {
        Some(env.spawn_bot_with(&[]).await)
    } else {
        None
    };
    let asked = env.llm.request_count();
    first.kill();
    let killed = Instant::now();
    let _restarted = if second {
        None
    } else {
        Some(env.spawn_bot().await)
    };
    wait_for("the jobs taken back", || {
        env.llm.request_count() >= asked + chats.len()
    })
    .await;
    let taken_back = killed.elapsed();
    wait_for("every answer complete", || {
        chats
            .iter()
            .all(|c| !env.telegram.messages_to(*c).is_empty())
    })
    .await;
    let complete = killed.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let wrong = chats
        .iter()
        .filter(|c| {
            let shown: Vec<String> = env
                .telegram
                .messages_to(**c)
                .into_iter()
                .map(|m| m.plain)
                .collect();
            shown != [format!("echo: question of {c}")]
        })
        .count();
    drop(other);
    Figures {
        taken_back,
        complete,
        wrong,
    }
}

fn main() {
    let system = actix_rt::System::new();
    let results = system.block_on(async {
        let mut out = Vec::new();
        for second in [false, true] {
            for _ in 0..RUNS {
                out.push((second, run(second).await));
            }
        }
        out
    });
    println!(
        "Crash benchmark: kill -9 with {CHATS} answers in flight (the model asked again answers at once); goal: \
         every answer complete ≤ 6 s after the kill (the 30 s JOB_LEASE before owner heartbeats)"
    );
    println!("| scenario | kill → jobs taken back | kill → every answer complete | answers wrong or twice (goal 0) |");
    println!("|---|---|---|---|");
    for (second, f) in results {
        println!(
            "| {} | {:.1} s | {:.1} s | {} |",
            if second {
                "a second process running"
            } else {
                "restarted at once"
            },
            f.taken_back.as_secs_f64(),
            f.complete.as_secs_f64(),
            f.wrong
        );
    }
}
