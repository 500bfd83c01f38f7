//! Streaming benchmark (not a test): the release binary against the fake Telegram with Telegram's limits
//! switched on (429 above 30 calls a second, 3 a second to one chat, or 20 a minute to one group) and a fake
//! LLM at 300 ms to the first token and 20 ms per token, with 60-word answers. Prints, for 20 and for 200
//! chats writing at once: 429s received, answers whose final text differs from what the LLM produced, and the
//! time from the message reaching Telegram to the first visible text (p50, p99). Then 20 groups holding a
//! conversation of 3 messages that mention the bot, each sent when the previous answer is complete: 429s,
//! answers not as produced, first visible text p50/p99 and edits per answer.
//!
//!     cargo bench --bench streaming
//!
//! Needs redis-server (scripts/ensure-redis.sh installs it). Uses the test suite's fakes.

// A benchmark harness, like a test: a failed step should stop it loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/e2e/support/mod.rs"]
mod support;

use aichat_telegram_bot::telegram::{html_to_plain, markdown_to_telegram_html};
use std::time::{Duration, Instant};
use support::{Behaviour, BotProcess, TestEnv};

const FIRST_TOKEN: Duration = Duration::from_millis(300);
/// The fake streams 3 characters a chunk: about one token.
const PER_TOKEN: Duration = Duration::from_millis(20);

fn answer_for(chat: i64) -> String {
    let words: Vec<String> = (0..60).map(|i| format!("w{}x{}", chat % 97, i)).collect();
    format!("Answer **{chat}**: {}", words.join(" "))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Row {
    chats: usize,
    rate_limited: usize,
    wrong: usize,
    p50: Duration,
    p99: Duration,
    all_done: Duration,
}

/// The bot against the fakes with Telegram's limits on and the slow model of this benchmark.
async fn start() -> (TestEnv, BotProcess) {
    let mut env = TestEnv::start();
    env.set("ALLOWED_USER_IDS", "*");
    env.set("MAX_CONCURRENT_JOBS", "256");
    env.set("RUST_LOG", "warn,aichat_telegram_bot::app=info");
    let bot = env.spawn_bot().await;
    env.telegram.set_rate_limits(true);
    env.llm.set_first_token_delay(FIRST_TOKEN);
    env.llm.set_chunk_delay(PER_TOKEN);
    env.llm.set_behaviour(Behaviour::Echo);
    (env, bot)
}

async fn run(chats: usize) -> Row {
    let (env, _bot) = start().await;
    let ids: Vec<i64> = (0..chats as i64).map(|i| 100_000 + i).collect();
    for id in &ids {
        env.llm.push_answer(answer_for(*id));
    }
    // push_answer is consumed in arrival order; the answers are checked by content, not by chat.
    let started = Instant::now();
    for id in &ids {
        env.telegram.push_text(*id, *id, "hello");
    }
    let mut first_seen: Vec<Option<Duration>> = vec![None; chats];
    let deadline = started + Duration::from_secs(180);
    let expected: Vec<String> = ids
        .iter()
        .map(|id| html_to_plain(&markdown_to_telegram_html(&answer_for(*id))))
        .collect();
    let mut wrong;
    loop {
        for (i, id) in ids.iter().enumerate() {
            if first_seen[i].is_none() && !env.telegram.messages_to(*id).is_empty() {
                first_seen[i] = Some(started.elapsed());
            }
        }
        let finals: Vec<String> = ids
            .iter()
            .map(|id| {
                let msgs = env.telegram.messages_to(*id);
                msgs.iter()
                    .map(|m| {
                        env.telegram
                            .current_text(*id, m.message_id)
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join("")
            })
            .collect();
        wrong = finals.iter().filter(|f| !expected.contains(f)).count();
        if wrong == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all_done = started.elapsed();
    let mut latencies: Vec<Duration> = first_seen.into_iter().flatten().collect();
    latencies.sort();
    Row {
        chats,
        rate_limited: env.telegram.rate_limited_count(),
        wrong,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        all_done,
    }
}

/// Groups in the group section, and the messages each sends (one after the other, as a conversation).
const GROUPS: i64 = 20;
const ROUNDS: usize = 3;

fn group_answer(group: i64, round: usize) -> String {
    let words: Vec<String> = (0..60)
        .map(|i| format!("g{}r{round}x{i}", -group))
        .collect();
    format!("Answer **{group}/{round}**: {}", words.join(" "))
}

struct GroupRow {
    rate_limited: usize,
    wrong: usize,
    p50: Duration,
    p99: Duration,
    edits_per_answer: f64,
    all_done: Duration,
}

async fn run_groups() -> GroupRow {
    let (env, _bot) = start().await;
    let groups: Vec<i64> = (1..=GROUPS).map(|i| -500_000 - i).collect();
    let mut expected = Vec::new();
    for round in 0..ROUNDS {
        for group in &groups {
            env.llm.push_answer(group_answer(*group, round));
            expected.push(html_to_plain(&markdown_to_telegram_html(&group_answer(
                *group, round,
            ))));
        }
    }
    // push_answer is consumed in arrival order; the answers are checked by content, not by group.
    let ask = |env: &TestEnv, group: i64, round: usize| {
        env.telegram.push_group_text(
            group.abs(),
            group,
            &format!("Team {}", -group),
            &format!("@test_bot question {}", round + 1),
        );
        Instant::now()
    };
    let started = Instant::now();
    // Per group: the round under way, when its question was sent, and whether its first text was seen.
    let mut round = vec![0usize; groups.len()];
    let mut asked: Vec<Instant> = groups.iter().map(|g| ask(&env, *g, 0)).collect();
    let mut seen = vec![false; groups.len()];
    let mut latencies = Vec::new();
    let deadline = started + Duration::from_secs(300);
    while round.iter().any(|r| *r < ROUNDS) && Instant::now() < deadline {
        for (i, group) in groups.iter().enumerate() {
            if round[i] >= ROUNDS {
                continue;
            }
            let msgs = env.telegram.messages_to(*group);
            let Some(answer) = msgs.get(round[i]) else {
                continue;
            };
            if !seen[i] {
                seen[i] = true;
                latencies.push(asked[i].elapsed());
            }
            let text = env
                .telegram
                .current_text(*group, answer.message_id)
                .unwrap_or_default();
            if expected.contains(&text) {
                round[i] += 1;
                seen[i] = false;
                if round[i] < ROUNDS {
                    asked[i] = ask(&env, *group, round[i]);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all_done = started.elapsed();
    let mut finals: Vec<String> = groups
        .iter()
        .flat_map(|g| {
            env.telegram
                .messages_to(*g)
                .iter()
                .map(|m| {
                    env.telegram
                        .current_text(*g, m.message_id)
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    finals.sort();
    finals.dedup();
    let right = finals.iter().filter(|f| expected.contains(f)).count();
    let edits: usize = groups.iter().map(|g| env.telegram.edits_to(*g).len()).sum();
    latencies.sort();
    GroupRow {
        rate_limited: env.telegram.rate_limited_count(),
        wrong: expected.len() - right,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        edits_per_answer: edits as f64 / expected.len() as f64,
        all_done,
    }
}

fn main() {
    let system = actix_rt::System::new();
    let (rows, groups) = system.block_on(async {
        let mut rows = Vec::new();
        for chats in [20, 200] {
            rows.push(run(chats).await);
        }
        (rows, run_groups().await)
    });
    println!(
        "Streaming benchmark: Telegram limits on, LLM {} ms to first token, {} ms per token, 60-word answers",
        FIRST_TOKEN.as_millis(),
        PER_TOKEN.as_millis()
    );
    println!("| chats | 429s (goal 0) | answers not as produced (goal 0) | first visible text p50 | p99 | all answers complete |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} ms | {} ms | {:.1} s |",
            r.chats,
            r.rate_limited,
            r.wrong,
            r.p50.as_millis(),
            r.p99.as_millis(),
            r.all_done.as_secs_f64()
        );
    }
    println!();
    println!(
        "Groups: {GROUPS} groups x {ROUNDS} messages mentioning the bot, each sent when the previous answer is complete (limit: 20 calls a minute in one group)"
    );
    println!("| answers | 429s (goal 0) | answers not as produced (goal 0) | first visible text p50 | p99 | edits per answer | all answers complete |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} ms | {} ms | {:.1} | {:.1} s |",
        GROUPS as usize * ROUNDS,
        groups.rate_limited,
        groups.wrong,
        groups.p50.as_millis(),
        groups.p99.as_millis(),
        groups.edits_per_answer,
        groups.all_done.as_secs_f64()
    );
}
