//! Performance harness (not a test): the release binary of the bot against the test suite's fake Telegram and
//! fake LLM (actix-web servers inside this process) and a real `redis-server` configured as production should
//! be (append-only file, `appendfsync everysec`). Prints what ran, then one markdown table with every figure
//! next to its goal.
//!
//!     scripts/bench.sh                                  # the one command: installs Redis if missing, then this
//!     cargo bench --bench performance                   # the same, Redis already installed
//!     BENCH_ONLY=throughput,soak SOAK_SECS=120 cargo bench --bench performance
//!
//! `BENCH_ONLY` picks sections (comma list of `start`, `overhead`, `throughput`, `streaming`, `tokenizer`,
//! `soak`; default all); `SOAK_SECS` shortens the soak (default 600). A goal not met shows ✗. A failed
//! correctness check (an answer lost, duplicated or wrong, a WARN/ERROR line, a dead or failed job) shows ✗
//! in its row and makes the harness exit with 1 after printing everything.
//!
//! # Terms
//!
//! - **Final answer**: the answer to a message is the bot message whose visible text (tags stripped, as the
//!   user sees it after every edit) is the complete expected answer. The fake LLM echoes: the answer to `text`
//!   is `echo: text`. The bot may send it in one `sendMessage`, or stream it (`sendMessage`, then
//!   `editMessageText`s). The time the final answer *reached Telegram* is when the fake accepted the last
//!   `sendMessage`/`editMessageText` of that message that showed the complete answer.
//! - **Limits off**: the fake Telegram's flood limits off (its default) and the bot's own pacing off
//!   (`TELEGRAM_RATE_LIMIT=0`, `TELEGRAM_CHAT_GAP_MS=0`, `MERGE_WINDOW_MS=0`), `MAX_CONCURRENT_JOBS=256`.
//! - **LLM instant**: the fake LLM answers at once (the whole stream in one write).
//!
//! # Sections
//!
//! - **start**: five times, the bot process is spawned and `GET /ready` polled every millisecond (after the
//!   bot logged its port) until it answers 200; the median time from spawn to that 200. The bot then idles
//!   1 s and its VmRSS is read: "RSS idle" is the median of the five. Goal: start ≤ 150 ms, RSS ≤ 20 MB.
//! - **tokenizer**: the same with `TOKENIZER_PATH` pointing at a byte-level BPE `tokenizer.json` the harness
//!   generates (GPT-2 layout: 128,000 tokens, 127,744 merges, ByteLevel pre-tokenizer and decoder), which the
//!   `tokenizers` crate must load and round-trip first. Reported with the difference to the plain start.
//! - **overhead**: limits off, LLM instant. 20 chats run concurrently; each sends 10 messages one after the
//!   other, the next 20–120 ms (deterministic pseudo-random) after the previous final answer reached
//!   Telegram. Overhead = from the update becoming available (just before it is pushed into the fake Telegram)
//!   to the final answer reaching Telegram; p50 and p99 of the 200. Goals: p50 ≤ 2 ms, p99 ≤ 10 ms. All 20
//!   chats send their first message at the same moment (new chats, one `getUpdates` batch); the p99 without
//!   those 20 is printed beside it, and the five slowest answers under the table.
//! - **throughput**: limits off, LLM instant. 500 chats × 10 messages, all pushed at once (message i of every
//!   chat before message i+1 of any). Rate = 5,000 / (last final answer reaching Telegram − first push).
//!   Goal ≥ 5,000/s. Nothing lost: every chat shows exactly its 10 answers, in order, none twice; the bot's
//!   queue (`GET /ready`) shows every enqueued job completed, none dead, none waiting; no WARN/ERROR line in
//!   the bot's log. Also the CPU time per answer (utime + stime from `/proc/<pid>/stat`) of the bot, of
//!   `redis-server` and of this harness process (the fakes), which shows what limits the rate.
//! - **streaming**: real conditions: the bot's default pacing, the fake Telegram's flood limits on (429 above
//!   30 calls/s, or 3/s to one chat), `MAX_CONCURRENT_JOBS=256` so that all answers stream at once. 200 chats
//!   send one message at the same moment; the fake LLM streams a ~1,500-character Markdown answer (first
//!   token after 300 ms, then 3 characters every 20 ms). The bot's VmRSS is sampled every 10 ms until every
//!   chat shows the complete (formatted) answer. Goal: peak ≤ 40 MB; all 200 complete, each once.
//! - **soak**: limits off, 100 chats for `SOAK_SECS` (600 s), each in a closed loop: send, wait for the final
//!   answer, think 0.5–1.5 s, repeat. The mix: 73% short texts (instant echo), 10% `stream:` texts (the fake
//!   LLM streams them at 20 ms a chunk, about 1.7 s), 7% commands (`/stats`, `/context`, `/help`), 5% photos
//!   (the bot answers that it reads text only), 5% pastes of 3,000–3,900 characters (over
//!   `BACKGROUND_THRESHOLD_TOKENS=600`, so they take the `default` queue). `CONTEXT_WINDOW_TOKENS=4000` makes
//!   compression run again and again (counted as the fake LLM's summary requests). RSS is sampled every
//!   second; drift = (mean over the last minute − mean over the second minute) / mean over the second minute,
//!   goal < 5% (runs shorter than 4 minutes use quarters of the run instead of minutes). Errors: WARN/ERROR
//!   lines, dead letters, failed attempts. Lost: every message got exactly one answer, in order; the queue is
//!   empty at the end. The bot's notices (🗜 "summarised", ℹ️ "old messages left out") are not answers and
//!   are left out of that count; an error message to the user (⚠️) counts as an error.

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
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};
use support::{Behaviour, BotProcess, FakeTelegram, TestEnv};

// ----- goals ----------------------------------------------------------------------------------------------

const GOAL_START_MS: f64 = 150.0;
const GOAL_IDLE_RSS_MB: f64 = 20.0;
const GOAL_OVERHEAD_P50_MS: f64 = 2.0;
const GOAL_OVERHEAD_P99_MS: f64 = 10.0;
const GOAL_ANSWERS_PER_SEC: f64 = 5_000.0;
const GOAL_STREAMING_PEAK_MB: f64 = 40.0;
const GOAL_SOAK_DRIFT: f64 = 0.05;

// ----- load shapes ----------------------------------------------------------------------------------------

const START_RUNS: usize = 5;
/// How long the bot idles after `/ready` before its RSS is read.
const IDLE_BEFORE_RSS: Duration = Duration::from_secs(1);

const OVERHEAD_CHATS: i64 = 20;
const OVERHEAD_MESSAGES: usize = 10;
/// The pause after an answer before the chat's next message, drawn from this range.
const OVERHEAD_GAP_MS: (u64, u64) = (20, 120);

const THROUGHPUT_CHATS: i64 = 500;
const THROUGHPUT_MESSAGES: usize = 10;

const STREAMING_CHATS: i64 = 200;
const STREAM_ANSWER_CHARS: usize = 1_500;
const STREAM_FIRST_TOKEN: Duration = Duration::from_millis(300);
const STREAM_CHUNK_DELAY: Duration = Duration::from_millis(20);
const STREAM_RSS_EVERY: Duration = Duration::from_millis(10);

const SOAK_CHATS: i64 = 100;
const SOAK_DEFAULT_SECS: u64 = 600;
const SOAK_THINK_MS: (u64, u64) = (500, 1_500);
const SOAK_RSS_EVERY: Duration = Duration::from_secs(1);
/// Messages starting with this are streamed slowly by the fake LLM.
const SLOW_PREFIX: &str = "stream:";
const SOAK_SLOW_CHUNK_DELAY: Duration = Duration::from_millis(20);
const SOAK_CONTEXT_WINDOW: &str = "4000";
const SOAK_BACKGROUND_THRESHOLD: &str = "600";
const PASTE_CHARS: (u64, u64) = (3_000, 3_900);
/// The bot's notices, which come besides answers: "🗜 Our conversation got long, so I summarised …" after a
/// compression, "ℹ️ This conversation no longer fits the model's context window: …" before an answer whose
/// prompt leaves old messages out.
const NOTICE_PREFIXES: &[char] = &['🗜', 'ℹ'];
/// The bot's error messages to the user ("⚠️ Something went wrong …") all start with this.
const ERROR_PREFIX: char = '⚠';

/// The longest wait for one answer before it counts as lost.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest wait for the queue to drain after the last answer.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The tokenizer the harness generates: 256 byte symbols plus one token per merge.
const TOKENIZER_MERGES: usize = 127_744;
const TOKENIZER_MAX_TOKEN_CHARS: usize = 16;

const SECTIONS: &[&str] = &[
    "start",
    "overhead",
    "throughput",
    "streaming",
    "tokenizer",
    "soak",
];

// ----- the report -----------------------------------------------------------------------------------------

/// Whether a figure met its goal. `Info` figures have none; `Broken` marks a failed correctness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Met {
    Yes,
    No,
    Broken,
    Info,
}

impl Met {
    fn goal(ok: bool) -> Met {
        if ok {
            Met::Yes
        } else {
            Met::No
        }
    }

    fn check(ok: bool) -> Met {
        if ok {
            Met::Yes
        } else {
            Met::Broken
        }
    }

    fn mark(self) -> &'static str {
        match self {
            Met::Yes => "✓",
            Met::No => "✗",
            Met::Broken => "✗ FAILED CHECK",
            Met::Info => "—",
        }
    }
}

struct Row {
    figure: String,
    measured: String,
    goal: String,
    met: Met,
}

fn row(figure: &str, measured: String, goal: &str, met: Met) -> Row {
    Row {
        figure: figure.to_string(),
        measured,
        goal: goal.to_string(),
        met,
    }
}

/// Rows in table order, plus notes printed under the table.
#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    fn not_run(&mut self, figures: &[(&str, &str)]) {
        for (figure, goal) in figures {
            self.rows
                .push(row(figure, "not run (BENCH_ONLY)".into(), goal, Met::Info));
        }
    }

    fn failed_checks(&self) -> bool {
        self.rows.iter().any(|r| r.met == Met::Broken)
    }

    fn print(&self) {
        println!("| figure | measured | goal | met? |");
        println!("|---|---|---|---|");
        for r in &self.rows {
            println!(
                "| {} | {} | {} | {} |",
                r.figure,
                r.measured,
                r.goal,
                r.met.mark()
            );
        }
        for note in &self.notes {
            println!("\n{note}");
        }
    }
}

// ----- measuring processes --------------------------------------------------------------------------------

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

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// utime + stime of a process (all its threads), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name in field 2 may hold spaces: count fields after its closing parenthesis.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux in practice).
fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU ticks of the bot, redis-server and this harness, read together.
#[derive(Clone, Copy)]
struct CpuSnapshot {
    bot: u64,
    redis: u64,
    harness: u64,
}

fn cpu_snapshot(bot: &BotProcess, env: &TestEnv) -> CpuSnapshot {
    CpuSnapshot {
        bot: cpu_ticks(bot.pid()),
        redis: env.redis.pid().map_or(0, cpu_ticks),
        harness: cpu_ticks(std::process::id()),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Log lines at WARN or ERROR (the bot's format: `<time> <LEVEL> <target>: <message>`), and panics.
fn problem_lines(logs: &str) -> Vec<String> {
    logs.lines()
        .filter(|l| {
            matches!(l.split_whitespace().nth(1), Some("WARN" | "ERROR")) || l.contains("panicked")
        })
        .map(str::to_string)
        .collect()
}

// ----- deterministic pseudo-random numbers ----------------------------------------------------------------

/// xorshift64*: enough randomness for load shapes, and the same every run.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The vocabulary of generated texts: plain lowercase words, nothing Markdown would change.
const WORDS: &str = "the queue keeps every message until a worker answers it and redis stores jobs safely so nothing \
     is lost when process restarts model streams tokens into telegram chat with edits that grow \
     slowly over time while history gets summarised context window budget answer question";

/// Pseudo-random words from [`WORDS`] (lowercase, no Markdown), at least `min_chars` long.
fn words(rng: &mut Rng, min_chars: usize) -> String {
    let vocabulary: Vec<&str> = WORDS.split_whitespace().collect();
    let mut out = String::new();
    while out.len() < min_chars {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(vocabulary[rng.below(vocabulary.len() as u64) as usize]);
    }
    out
}

// ----- the bot's environment ------------------------------------------------------------------------------

/// A fresh Redis (AOF everysec), fakes and working directory, with the bot's defaults.
fn base_env() -> TestEnv {
    let mut env = TestEnv::start_with_aof_everysec();
    env.set("ALLOWED_USER_IDS", "*");
    // The bot logs nothing per message at info; warn keeps the harness's stderr readable. The app's
    // info lines (start, port, stop) are kept: the harness reads the port from them.
    env.set("RUST_LOG", "warn,aichat_telegram_bot::app=info");
    env
}

/// "Limits off": the bot's own pacing off, to measure the bot itself (the fake's limits are off by default).
fn limits_off_env() -> TestEnv {
    let mut env = base_env();
    env.set("MAX_CONCURRENT_JOBS", "256");
    env.set("TELEGRAM_RATE_LIMIT", "0");
    env.set("TELEGRAM_CHAT_GAP_MS", "0");
    env.set("MERGE_WINDOW_MS", "0");
    env
}

fn echo(text: &str) -> String {
    format!("echo: {text}")
}

/// When the fake accepted the last send or edit of the message that now shows `expected` in `chat`.
fn shown_at(tg: &FakeTelegram, chat: i64, expected: &str) -> Option<Instant> {
    let (id, _) = tg
        .bot_messages_in(chat)
        .into_iter()
        .rev()
        .find(|(_, text)| text == expected)?;
    let sent = tg
        .messages_to(chat)
        .into_iter()
        .filter(|m| m.message_id == id && m.plain == expected)
        .map(|m| m.at);
    let edited = tg
        .edits_to(chat)
        .into_iter()
        .filter(|e| e.message_id == id && e.plain == expected)
        .map(|e| e.at);
    sent.chain(edited).max()
}

fn is_notice(text: &str) -> bool {
    text.starts_with(NOTICE_PREFIXES)
}

/// The bot's messages in a chat that are answers (notices left out), oldest first.
fn answers_in(tg: &FakeTelegram, chat: i64) -> Vec<String> {
    tg.bot_messages_in(chat)
        .into_iter()
        .map(|(_, text)| text)
        .filter(|t| !is_notice(t))
        .collect()
}

/// What one chat received against what it should have: `expected[i]` is the answer to message i, `None` when
/// any one answer will do (commands, photos).
#[derive(Debug, Default, Clone, Copy)]
struct Delivery {
    messages: usize,
    /// Messages with no answer.
    lost: usize,
    /// Answers shown more than once, or more answers than messages.
    duplicated: usize,
    /// Known answers not in the order of their messages.
    out_of_order: usize,
}

impl Delivery {
    fn add(&mut self, other: Delivery) {
        self.messages += other.messages;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
    }

    fn clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.out_of_order == 0
    }

    fn describe(&self) -> String {
        format!(
            "{} lost, {} duplicated, {} out of order",
            self.lost, self.duplicated, self.out_of_order
        )
    }
}

fn check_delivery(expected: &[Option<String>], shown: &[String]) -> Delivery {
    let known: HashSet<&str> = expected.iter().flatten().map(String::as_str).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for text in shown {
        *counts.entry(text.as_str()).or_default() += 1;
    }
    let mut d = Delivery {
        messages: expected.len(),
        ..Delivery::default()
    };
    for text in &known {
        match counts.get(text).copied().unwrap_or(0) {
            0 => d.lost += 1,
            n => d.duplicated += n - 1,
        }
    }
    // The known answers must come in the order of their messages.
    let order: Vec<&str> = expected.iter().flatten().map(String::as_str).collect();
    let mut seen = HashSet::new();
    let shown_known: Vec<&str> = shown
        .iter()
        .map(String::as_str)
        .filter(|t| known.contains(t) && seen.insert(*t))
        .collect();
    let present: Vec<&str> = order
        .iter()
        .copied()
        .filter(|t| counts.contains_key(t))
        .collect();
    d.out_of_order = present
        .iter()
        .zip(&shown_known)
        .filter(|(a, b)| a != b)
        .count();
    // Messages that accept any answer: the other answers are theirs.
    let wanted_other = expected.iter().filter(|e| e.is_none()).count();
    let other = shown.iter().filter(|t| !known.contains(t.as_str())).count();
    d.lost += wanted_other.saturating_sub(other);
    d.duplicated += other.saturating_sub(wanted_other);
    d
}

/// The queue as `GET /ready` reports it.
#[derive(Debug, Default, Clone, Copy)]
struct QueueState {
    enqueued: u64,
    completed: u64,
    merged: u64,
    /// Ready, waiting behind their chat, delayed for a retry, or running.
    waiting: u64,
    dead: u64,
    dead_lettered: u64,
    retried: u64,
}

impl QueueState {
    fn from_ready(body: &Value) -> QueueState {
        let q = &body["queue"];
        let n = |k: &str| q[k].as_u64().unwrap_or(0);
        QueueState {
            enqueued: n("enqueued"),
            completed: n("completed"),
            merged: n("merged"),
            waiting: [
                "high",
                "default",
                "low",
                "chat_waiting",
                "delayed",
                "in_flight",
            ]
            .iter()
            .map(|k| n(k))
            .sum(),
            dead: n("dead"),
            dead_lettered: n("dead_lettered"),
            retried: n("retried"),
        }
    }

    fn drained(&self) -> bool {
        self.waiting == 0 && self.completed + self.merged + self.dead_lettered >= self.enqueued
    }

    /// Every job completed (or merged into one that did), none dead, none waiting.
    fn clean(&self) -> bool {
        self.waiting == 0
            && self.dead == 0
            && self.dead_lettered == 0
            && self.completed + self.merged == self.enqueued
    }

    fn describe(&self) -> String {
        format!(
            "{} enqueued, {} completed, {} merged, {} waiting, {} dead, {} failed attempts",
            self.enqueued,
            self.completed,
            self.merged,
            self.waiting,
            self.dead.max(self.dead_lettered),
            self.retried
        )
    }
}

/// Waits until nothing is queued or running (or `DRAIN_TIMEOUT`), and returns the queue's state.
async fn drained_queue(bot: &BotProcess) -> QueueState {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let (_, body) = bot.get_json("/ready").await;
        let state = QueueState::from_ready(&body);
        if state.drained() || Instant::now() > deadline {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ----- start and tokenizer --------------------------------------------------------------------------------

struct StartFigures {
    start: Duration,
    idle_rss_kib: u64,
}

/// Median start → `/ready` 200 and median idle RSS over `START_RUNS` starts of one environment.
async fn measure_start(env: &TestEnv) -> StartFigures {
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..START_RUNS {
        let started = Instant::now();
        let mut bot = env.spawn_bot_unready();
        bot.wait_for_port(Duration::from_secs(30)).await;
        // wait_ready polls every 20 ms: too coarse to time a start. The port is logged once bound, so the
        // requests below connect.
        loop {
            if bot.get_json("/ready").await.0 == 200 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the bot was not ready after 30 s:\n{}",
                bot.logs()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(started.elapsed());
        tokio::time::sleep(IDLE_BEFORE_RSS).await;
        rss.push(rss_kib(bot.pid()));
        bot.terminate(Duration::from_secs(30)).await;
    }
    times.sort();
    rss.sort();
    StartFigures {
        start: percentile(&times, 0.5),
        idle_rss_kib: rss[rss.len() / 2],
    }
}

async fn section_start(report: &mut Report) -> StartFigures {
    let env = base_env();
    let f = measure_start(&env).await;
    report.rows.push(row(
        "start: process start → /ready 200 (median of 5)",
        format!("{:.0} ms", ms(f.start)),
        "≤ 150 ms",
        Met::goal(ms(f.start) <= GOAL_START_MS),
    ));
    report.rows.push(row(
        "RSS idle after start (median of 5)",
        format!("{:.1} MB", mb(f.idle_rss_kib)),
        "≤ 20 MB",
        Met::goal(mb(f.idle_rss_kib) <= GOAL_IDLE_RSS_MB),
    ));
    f
}

/// GPT-2's map from bytes to printable characters, so every byte has a one-character symbol.
fn bytes_to_unicode() -> Vec<char> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut extra = 0;
    (0u32..256)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap()
            } else {
                extra += 1;
                char::from_u32(255 + extra).unwrap()
            }
        })
        .collect()
}

/// Writes a byte-level BPE `tokenizer.json` in the layout of GPT-2 and Llama 3: the 256 byte symbols, then
/// one token per merge, each the concatenation of two earlier tokens, so every merge is valid in rank order.
/// Tokens are word-like: the second part is usually a letter or a space symbol (`Ġ`), and early (short)
/// tokens are picked more often. Returns the number of tokens, of merges, and the mean token length in
/// characters (GPT-2's is about 6.5).
fn write_bpe_tokenizer(path: &Path) -> (usize, usize, f64) {
    let symbols = bytes_to_unicode();
    let mut vocab: Vec<String> = symbols.iter().map(|c| c.to_string()).collect();
    let mut known: HashSet<String> = vocab.iter().cloned().collect();
    let common: Vec<String> = "abcdefghijklmnopqrstuvwxyzĠeeaaiioonnttrrss"
        .chars()
        .map(|c| c.to_string())
        .collect();
    let mut merges = Vec::with_capacity(TOKENIZER_MERGES);
    let mut rng = Rng::new(2024);
    while merges.len() < TOKENIZER_MERGES {
        let n = vocab.len() as f64;
        let left = vocab[((n * rng.unit().powi(2)) as usize).min(vocab.len() - 1)].clone();
        let right = if rng.below(10) < 7 {
            common[rng.below(common.len() as u64) as usize].clone()
        } else {
            vocab[((n * rng.unit().powi(3)) as usize).min(vocab.len() - 1)].clone()
        };
        let token = format!("{left}{right}");
        if token.chars().count() > TOKENIZER_MAX_TOKEN_CHARS || known.contains(&token) {
            continue;
        }
        known.insert(token.clone());
        vocab.push(token);
        merges.push(format!("{left} {right}"));
    }
    let vocab_json: serde_json::Map<String, Value> = vocab
        .iter()
        .enumerate()
        .map(|(id, t)| (t.clone(), json!(id)))
        .collect();
    let byte_level = |add_prefix_space: bool, trim_offsets: bool| {
        json!({
            "type": "ByteLevel",
            "add_prefix_space": add_prefix_space,
            "trim_offsets": trim_offsets,
            "use_regex": true,
        })
    };
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [{
            "id": vocab.len(),
            "content": "<|endoftext|>",
            "single_word": false,
            "lstrip": false,
            "rstrip": false,
            "normalized": false,
            "special": true,
        }],
        "normalizer": null,
        "pre_tokenizer": byte_level(false, true),
        "post_processor": byte_level(true, false),
        "decoder": byte_level(true, true),
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": vocab_json,
            "merges": merges,
        },
    });
    std::fs::write(path, serde_json::to_vec(&tokenizer).unwrap()).unwrap();
    let mean_chars = mean(vocab.iter().map(|t| t.chars().count() as f64));
    (vocab.len(), merges.len(), mean_chars)
}

async fn section_tokenizer(report: &mut Report, plain: Option<&StartFigures>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    let (tokens, merges, mean_chars) = write_bpe_tokenizer(&path);
    // The file must be one the bot can load, and a working tokenizer.
    let tokenizer = tokenizers::Tokenizer::from_file(&path).unwrap();
    let sample = "Hello world, the queue keeps every message: ünïcode 😀 too.";
    let encoding = tokenizer.encode(sample, false).unwrap();
    let decoded = tokenizer.decode(encoding.get_ids(), false).unwrap();
    assert_eq!(decoded, sample, "the generated tokenizer must round-trip");
    assert_eq!(tokenizer.get_vocab_size(true), tokens + 1);
    let size_mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;

    let without = match plain {
        Some(f) => StartFigures {
            start: f.start,
            idle_rss_kib: f.idle_rss_kib,
        },
        None => measure_start(&base_env()).await,
    };
    let mut env = base_env();
    env.set("TOKENIZER_PATH", path.display().to_string());
    let with = measure_start(&env).await;
    let what = format!(
        "{tokens} tokens (mean {mean_chars:.1} characters), {merges} merges, {size_mb:.1} MB; {} tokens for the {}-character sample",
        encoding.get_ids().len(),
        sample.chars().count()
    );
    report.rows.push(row(
        "start with TOKENIZER_PATH (byte-level BPE, 128k tokens; median of 5)",
        format!(
            "{:.0} ms ({:+.0} ms)",
            ms(with.start),
            ms(with.start) - ms(without.start)
        ),
        "reported separately",
        Met::Info,
    ));
    report.rows.push(row(
        "RSS idle with TOKENIZER_PATH (median of 5)",
        format!(
            "{:.1} MB ({:+.1} MB)",
            mb(with.idle_rss_kib),
            mb(with.idle_rss_kib) - mb(without.idle_rss_kib)
        ),
        "reported separately",
        Met::Info,
    ));
    report.notes.push(format!(
        "Tokenizer: generated tokenizer.json with {what}. Differences are to the start without it ({:.0} ms, {:.1} MB).",
        ms(without.start),
        mb(without.idle_rss_kib)
    ));
}

// ----- overhead -------------------------------------------------------------------------------------------

async fn section_overhead(report: &mut Report) {
    let env = limits_off_env();
    let bot = env.spawn_bot().await;
    let lost = Cell::new(0usize);
    let started = Instant::now();
    // Each answer's overhead, with its chat, message number and when it was sent (for the slowest ones).
    let chat_runs = (0..OVERHEAD_CHATS).map(|i| {
        let chat = 200_000 + i;
        let env = &env;
        let lost = &lost;
        async move {
            let mut rng = Rng::new(chat as u64);
            let mut latencies = Vec::new();
            for n in 0..OVERHEAD_MESSAGES {
                let text = format!("chat {chat} message {n}");
                let expected = echo(&text);
                let pushed = Instant::now();
                env.telegram.push_text(chat, chat, &text);
                let shown = env
                    .telegram
                    .wait_until_in_chat(chat, ANSWER_TIMEOUT, |tg| {
                        tg.bot_messages_in(chat).iter().any(|(_, t)| *t == expected)
                    })
                    .await;
                let Some(at) = shown
                    .then(|| shown_at(&env.telegram, chat, &expected))
                    .flatten()
                else {
                    lost.set(lost.get() + 1);
                    continue;
                };
                latencies.push((
                    at.saturating_duration_since(pushed),
                    chat,
                    n,
                    pushed - started,
                ));
                let gap = Duration::from_millis(rng.between(OVERHEAD_GAP_MS));
                tokio::time::sleep_until(tokio::time::Instant::from_std(at + gap)).await;
            }
            latencies
        }
    });
    let mut answers: Vec<(Duration, i64, usize, Duration)> =
        join_all(chat_runs).await.into_iter().flatten().collect();
    answers.sort();
    let latencies: Vec<Duration> = answers.iter().map(|a| a.0).collect();
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    // All chats send their first message at the same moment, to a bot that has not seen them yet: shown
    // apart, so a slow first message is told from a slow steady state.
    let later: Vec<Duration> = answers.iter().filter(|a| a.2 > 0).map(|a| a.0).collect();
    let problems = problem_lines(&bot.logs());
    let all = OVERHEAD_CHATS as usize * OVERHEAD_MESSAGES;
    report.rows.push(row(
        "overhead p50 (20 chats × 10 messages, limits off, LLM instant)",
        format!("{:.2} ms", ms(p50)),
        "≤ 2 ms",
        Met::goal(ms(p50) <= GOAL_OVERHEAD_P50_MS),
    ));
    report.rows.push(row(
        "overhead p99",
        format!(
            "{:.2} ms (max {:.2} ms; without each chat's first message: p99 {:.2} ms)",
            ms(p99),
            ms(latencies.last().copied().unwrap_or_default()),
            ms(percentile(&later, 0.99))
        ),
        "≤ 10 ms",
        Met::goal(ms(p99) <= GOAL_OVERHEAD_P99_MS),
    ));
    report.rows.push(row(
        "overhead: every answer arrived, no WARN/ERROR",
        format!(
            "{} of {all} answered, {} WARN/ERROR lines",
            latencies.len(),
            problems.len()
        ),
        "all, none",
        Met::check(lost.get() == 0 && latencies.len() == all && problems.is_empty()),
    ));
    report.notes.push(format!(
        "overhead: the slowest answers: {}.",
        answers
            .iter()
            .rev()
            .take(5)
            .map(|(took, chat, n, at)| format!(
                "{:.2} ms (chat {chat}, message {n}, sent {:.3} s into the run)",
                ms(*took),
                at.as_secs_f64()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    note_problems(report, "overhead", &problems);
}

fn note_problems(report: &mut Report, section: &str, problems: &[String]) {
    if !problems.is_empty() {
        report.notes.push(format!(
            "{section}: the bot logged {} WARN/ERROR lines; the first ones:\n{}",
            problems.len(),
            problems
                .iter()
                .take(10)
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
}

// ----- throughput -----------------------------------------------------------------------------------------

async fn section_throughput(report: &mut Report, tck: f64) {
    let env = limits_off_env();
    env.telegram.set_recording(false);
    env.llm.set_recording(false);
    let bot = env.spawn_bot().await;
    let chats: Vec<i64> = (0..THROUGHPUT_CHATS).map(|i| 300_000 + i).collect();
    let text = |chat: i64, n: usize| format!("chat {chat} message {n}");
    let total = chats.len() * THROUGHPUT_MESSAGES;

    let cpu_before = cpu_snapshot(&bot, &env);
    let started = Instant::now();
    for n in 0..THROUGHPUT_MESSAGES {
        for &chat in &chats {
            env.telegram.push_text(chat, chat, &text(chat, n));
        }
    }
    let pushed_in = started.elapsed();
    // Every answer sent, then every answer complete (an answer may stream: sent first, edited after).
    let deadline = started + Duration::from_secs(300);
    while env.telegram.sent_count() < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let expected: HashMap<i64, Vec<String>> = chats
        .iter()
        .map(|&c| {
            let answers = (0..THROUGHPUT_MESSAGES)
                .map(|n| echo(&text(c, n)))
                .collect();
            (c, answers)
        })
        .collect();
    let mut incomplete: Vec<i64> = chats.clone();
    while !incomplete.is_empty() && Instant::now() < deadline {
        incomplete.retain(|c| {
            let last = expected[c].last().unwrap();
            !answers_in(&env.telegram, *c).contains(last)
        });
        if !incomplete.is_empty() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let cpu_after = cpu_snapshot(&bot, &env);

    let mut last_at = started;
    let mut delivery = Delivery::default();
    for &chat in &chats {
        let want: Vec<Option<String>> = expected[&chat].iter().cloned().map(Some).collect();
        delivery.add(check_delivery(&want, &answers_in(&env.telegram, chat)));
        for answer in &expected[&chat] {
            if let Some(at) = shown_at(&env.telegram, chat, answer) {
                last_at = last_at.max(at);
            }
        }
    }
    let elapsed = last_at.saturating_duration_since(started);
    let answered = total - delivery.lost.min(total);
    let rate = answered as f64 / elapsed.as_secs_f64().max(1e-9);
    let queue = drained_queue(&bot).await;
    let problems = problem_lines(&bot.logs());
    let nothing_lost = delivery.clean() && queue.clean() && problems.is_empty();

    let per_answer_us = |ticks: u64| ticks as f64 / tck * 1e6 / answered.max(1) as f64;
    report.rows.push(row(
        "throughput (500 chats × 10 messages at once, limits off, LLM instant)",
        format!(
            "{rate:.0} answers/s ({answered} in {:.2} s; pushed in {:.0} ms)",
            elapsed.as_secs_f64(),
            ms(pushed_in)
        ),
        "≥ 5,000/s",
        Met::goal(rate >= GOAL_ANSWERS_PER_SEC),
    ));
    report.rows.push(row(
        "throughput: nothing lost",
        format!(
            "{}: {}; queue: {}; {} WARN/ERROR lines",
            if nothing_lost { "yes" } else { "NO" },
            delivery.describe(),
            queue.describe(),
            problems.len()
        ),
        "each chat exactly its 10 answers in order; every job completed, none dead; no WARN/ERROR",
        Met::check(nothing_lost),
    ));
    report.rows.push(row(
        "throughput: CPU time per answer",
        format!(
            "bot {:.0} µs, redis-server {:.0} µs, harness (fakes) {:.0} µs",
            per_answer_us(cpu_after.bot - cpu_before.bot),
            per_answer_us(cpu_after.redis - cpu_before.redis),
            per_answer_us(cpu_after.harness - cpu_before.harness),
        ),
        "reported (2 cores shared by all three)",
        Met::Info,
    ));
    note_problems(report, "throughput", &problems);
}

// ----- streaming ------------------------------------------------------------------------------------------

/// A ~1,500-character Markdown answer: paragraphs, bold, inline code, a list.
fn long_markdown_answer() -> String {
    let mut rng = Rng::new(1500);
    let mut out = String::from("Here is a **detailed** answer in a few parts.\n\n");
    let mut sentences = 0;
    while out.chars().count() < STREAM_ANSWER_CHARS - 120 {
        let length = 60 + rng.below(60) as usize;
        let sentence = words(&mut rng, length);
        let mut chars = sentence.chars();
        let first = chars.next().unwrap().to_ascii_uppercase();
        out.push(first);
        out.push_str(chars.as_str());
        out.push_str(". ");
        sentences += 1;
        if sentences % 4 == 0 {
            out.push_str("\n\n");
        }
    }
    out.push_str("\n\n- the `queue` keeps jobs\n- **redis** persists them\n- answers stream in");
    out
}

async fn section_streaming(report: &mut Report) {
    let mut env = base_env();
    // Default pacing: TELEGRAM_RATE_LIMIT and TELEGRAM_CHAT_GAP_MS are not set. All answers at once.
    env.set("MAX_CONCURRENT_JOBS", "256");
    env.telegram.set_rate_limits(true);
    env.telegram.set_recording(false);
    env.llm.set_recording(false);
    let answer = long_markdown_answer();
    let expected = html_to_plain(&markdown_to_telegram_html(&answer))
        .trim()
        .to_string();
    env.llm.set_behaviour(Behaviour::Fixed(answer.clone()));
    env.llm.set_first_token_delay(STREAM_FIRST_TOKEN);
    env.llm.set_chunk_delay(STREAM_CHUNK_DELAY);
    let bot = env.spawn_bot().await;
    let idle = rss_kib(bot.pid());

    let chats: Vec<i64> = (0..STREAMING_CHATS).map(|i| 400_000 + i).collect();
    let started = Instant::now();
    for &chat in &chats {
        env.telegram
            .push_text(chat, chat, "Tell me about the queue, in detail.");
    }
    let mut peak = idle;
    let mut pending = chats.clone();
    let deadline = started + Duration::from_secs(300);
    while !pending.is_empty() && Instant::now() < deadline {
        peak = peak.max(rss_kib(bot.pid()));
        pending.retain(|&c| {
            env.telegram
                .bot_messages_in(c)
                .last()
                .is_none_or(|(_, t)| *t != expected)
        });
        tokio::time::sleep(STREAM_RSS_EVERY).await;
    }
    let all_done = started.elapsed();
    peak = peak.max(rss_kib(bot.pid()));

    let mut delivery = Delivery::default();
    for &chat in &chats {
        delivery.add(check_delivery(
            &[Some(expected.clone())],
            &answers_in(&env.telegram, chat),
        ));
    }
    let queue = drained_queue(&bot).await;
    let problems = problem_lines(&bot.logs());
    let ok = pending.is_empty() && delivery.clean() && queue.clean() && problems.is_empty();
    report.rows.push(row(
        "peak RSS, 200 chats streaming (default pacing, Telegram limits on; sampled every 10 ms)",
        format!("{:.1} MB (idle before: {:.1} MB)", mb(peak), mb(idle)),
        "≤ 40 MB",
        Met::goal(mb(peak) <= GOAL_STREAMING_PEAK_MB),
    ));
    report.rows.push(row(
        "streaming: every answer complete, once",
        format!(
            "{} of 200 complete after {:.1} s; {}; {} 429s; queue: {}; {} WARN/ERROR lines",
            chats.len() - pending.len(),
            all_done.as_secs_f64(),
            delivery.describe(),
            env.telegram.rate_limited_count(),
            queue.describe(),
            problems.len()
        ),
        "all 200, no WARN/ERROR",
        Met::check(ok),
    ));
    note_problems(report, "streaming", &problems);
}

// ----- soak -----------------------------------------------------------------------------------------------

/// What a soak chat sends (the index into [`SoakTally::sent`]).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Short,
    Streamed,
    Command,
    Photo,
    Paste,
}

impl Kind {
    fn pick(rng: &mut Rng) -> Kind {
        match rng.below(100) {
            0..=72 => Kind::Short,
            73..=82 => Kind::Streamed,
            83..=89 => Kind::Command,
            90..=94 => Kind::Photo,
            _ => Kind::Paste,
        }
    }
}

#[derive(Default)]
struct SoakTally {
    sent: [usize; 5],
    timeouts: usize,
    timeout_examples: Vec<String>,
}

/// One chat's closed loop until `until`; returns the expected answer of each message sent.
async fn soak_chat(
    env: &TestEnv,
    chat: i64,
    until: Instant,
    tally: &RefCell<SoakTally>,
) -> Vec<Option<String>> {
    let tg = &env.telegram;
    let mut rng = Rng::new(chat as u64 ^ 0x50a6);
    let mut expected = Vec::new();
    let mut last_answer_id = 0;
    let mut n = 0;
    while Instant::now() < until {
        let kind = Kind::pick(&mut rng);
        let want = match kind {
            Kind::Short => {
                let text = format!("c{chat} n{n} {}", words(&mut rng, 20));
                tg.push_text(chat, chat, &text);
                Some(echo(&text))
            }
            Kind::Streamed => {
                let text = format!("{SLOW_PREFIX} c{chat} n{n} {}", words(&mut rng, 250));
                tg.push_text(chat, chat, &text);
                Some(echo(&text))
            }
            Kind::Command => {
                let command = ["/stats", "/context", "/help"][rng.below(3) as usize];
                tg.push_text(chat, chat, command);
                None
            }
            Kind::Photo => {
                tg.push_photo(chat, chat);
                None
            }
            Kind::Paste => {
                let size = rng.between(PASTE_CHARS) as usize;
                let text = format!("c{chat} n{n} paste {}", words(&mut rng, size));
                tg.push_text(chat, chat, &text);
                Some(echo(&text))
            }
        };
        tally.borrow_mut().sent[kind as usize] += 1;
        let found = Cell::new(None);
        let answered = tg
            .wait_until_in_chat(chat, ANSWER_TIMEOUT, |tg| {
                let first = tg
                    .bot_messages_after(chat, last_answer_id)
                    .into_iter()
                    .find(|(_, t)| !is_notice(t));
                match first {
                    Some((id, text)) if want.as_ref().is_none_or(|w| *w == text) => {
                        found.set(Some(id));
                        true
                    }
                    _ => false,
                }
            })
            .await;
        match found.get() {
            Some(id) if answered => last_answer_id = id,
            _ => {
                let mut t = tally.borrow_mut();
                t.timeouts += 1;
                if t.timeout_examples.len() < 5 {
                    let shown = tg.bot_messages_after(chat, last_answer_id);
                    t.timeout_examples.push(format!(
                        "chat {chat} message {n}: no answer {:?} within {ANSWER_TIMEOUT:?}; new bot messages: {shown:?}",
                        want.as_deref().map(|w| w.chars().take(80).collect::<String>())
                    ));
                }
                // Carry on after whatever is there, so one loss does not hide the next answers.
                last_answer_id = tg
                    .bot_messages_in(chat)
                    .last()
                    .map_or(last_answer_id, |(id, _)| *id);
            }
        }
        expected.push(want);
        n += 1;
        tokio::time::sleep(Duration::from_millis(rng.between(SOAK_THINK_MS))).await;
    }
    expected
}

/// `(before, after)` from a compression notice: "… older part (3,655 → 1,925 tokens of context) …".
fn compression_sizes(notice: &str) -> Option<(u64, u64)> {
    let inside = notice.split_once('(')?.1.split_once(" tokens")?.0;
    let (before, after) = inside.split_once(" → ")?;
    let number = |s: &str| s.replace(',', "").trim().parse().ok();
    Some((number(before)?, number(after)?))
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    sum / count.max(1) as f64
}

async fn section_soak(report: &mut Report, secs: u64, tck: f64) {
    let mut env = limits_off_env();
    env.set("CONTEXT_WINDOW_TOKENS", SOAK_CONTEXT_WINDOW);
    env.set("BACKGROUND_THRESHOLD_TOKENS", SOAK_BACKGROUND_THRESHOLD);
    env.telegram.set_recording(false);
    env.llm.set_recording(false);
    env.llm.set_slow_prefix(SLOW_PREFIX, SOAK_SLOW_CHUNK_DELAY);
    let bot = env.spawn_bot().await;
    let pid = bot.pid();

    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let cpu_before = cpu_snapshot(&bot, &env);
    let tally = RefCell::new(SoakTally::default());
    let running = Cell::new(true);
    let samples = RefCell::new(Vec::new());
    let sampler = async {
        while running.get() {
            samples
                .borrow_mut()
                .push((started.elapsed().as_secs_f64(), rss_kib(pid)));
            tokio::time::sleep(SOAK_RSS_EVERY).await;
        }
    };
    let chats: Vec<i64> = (0..SOAK_CHATS).map(|i| 500_000 + i).collect();
    let loops = async {
        let expected = join_all(
            chats
                .iter()
                .map(|&chat| soak_chat(&env, chat, until, &tally)),
        )
        .await;
        running.set(false);
        expected
    };
    let (expected, ()) = futures_util::future::join(loops, sampler).await;
    let ran_for = started.elapsed();
    let cpu_after = cpu_snapshot(&bot, &env);

    let queue = drained_queue(&bot).await;
    // A compression queued by the last answers may still send its notice: let it land before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut delivery = Delivery::default();
    let mut notices: HashMap<char, usize> = HashMap::new();
    let mut compressed: Vec<(u64, u64)> = Vec::new();
    let mut error_answers = Vec::new();
    for (chat, want) in chats.iter().zip(&expected) {
        let answers = answers_in(&env.telegram, *chat);
        delivery.add(check_delivery(want, &answers));
        error_answers.extend(answers.into_iter().filter(|t| t.starts_with(ERROR_PREFIX)));
        for (_, text) in env.telegram.bot_messages_in(*chat) {
            if let Some(c) = text.chars().next().filter(|_| is_notice(&text)) {
                *notices.entry(c).or_default() += 1;
            }
            compressed.extend(compression_sizes(&text));
        }
    }
    let problems = problem_lines(&bot.logs());
    let tally = tally.into_inner();

    // RSS drift: the second window against the last one (minutes, or quarters of a short run).
    let samples = samples.into_inner();
    let total = secs as f64;
    let window = (total / 4.0).min(60.0);
    let in_window = |lo: f64, hi: f64| {
        mean(
            samples
                .iter()
                .filter(|(t, _)| *t >= lo && *t < hi)
                .map(|(_, k)| *k as f64),
        )
    };
    let second = in_window(window, 2.0 * window);
    let last = in_window(total - window, total + 1.0);
    let drift = (last - second) / second;
    let peak = samples.iter().map(|(_, k)| *k).max().unwrap_or(0);
    let trend: Vec<String> = (0..(total / window).ceil() as usize)
        .map(|i| {
            let lo = i as f64 * window;
            format!("{:.1}", in_window(lo, lo + window) / 1024.0)
        })
        .collect();

    let answered = delivery.messages - delivery.lost;
    let errors_ok = problems.is_empty()
        && error_answers.is_empty()
        && queue.dead == 0
        && queue.dead_lettered == 0
        && queue.retried == 0
        && tally.timeouts == 0;
    let lost_ok = delivery.clean() && queue.clean() && tally.timeouts == 0;
    let bot_cpu = (cpu_after.bot - cpu_before.bot) as f64 / tck / ran_for.as_secs_f64();
    report.rows.push(row(
        &format!("soak RSS drift ({secs} s, 100 chats, mixed load)"),
        format!(
            "{:+.2}% (mean {:.1} MB at {:.0}–{:.0} s → {:.1} MB at {:.0}–{:.0} s; peak {:.1} MB)",
            drift * 100.0,
            second / 1024.0,
            window,
            2.0 * window,
            last / 1024.0,
            total - window,
            total,
            mb(peak)
        ),
        "< 5%",
        Met::goal(drift < GOAL_SOAK_DRIFT),
    ));
    report.rows.push(row(
        "soak errors",
        format!(
            "{} WARN/ERROR lines, {} ⚠️ error answers, {} dead letters, {} failed attempts, {} answers timed out",
            problems.len(),
            error_answers.len(),
            queue.dead.max(queue.dead_lettered),
            queue.retried,
            tally.timeouts
        ),
        "none",
        Met::check(errors_ok),
    ));
    report.rows.push(row(
        "soak lost",
        format!(
            "{}; queue at the end: {}",
            delivery.describe(),
            queue.describe()
        ),
        "every message exactly one answer, in order; queue empty",
        Met::check(lost_ok),
    ));
    let [short, streamed, commands, photos, pastes] = tally.sent;
    report.rows.push(row(
        "soak load",
        format!(
            "{answered} of {} messages answered in {:.0} s ({:.1}/s): {short} short, {streamed} streamed, \
             {commands} commands, {photos} photos, {pastes} pastes; {} compressions ({} 🗜 notices); \
             {} ℹ️ notices (old messages left out of a prompt); bot CPU {:.0}% of one core",
            delivery.messages,
            ran_for.as_secs_f64(),
            answered as f64 / ran_for.as_secs_f64(),
            env.llm.summary_request_count(),
            notices.get(&'🗜').copied().unwrap_or(0),
            notices.get(&'ℹ').copied().unwrap_or(0),
            bot_cpu * 100.0
        ),
        "reported",
        Met::Info,
    ));
    note_problems(report, "soak", &problems);
    report.notes.push(format!(
        "soak: mean RSS per {window:.0} s of the run, in MB: {}.",
        trend.join(", ")
    ));
    if !compressed.is_empty() {
        let mut ratios: Vec<f64> = compressed
            .iter()
            .map(|(before, after)| *after as f64 / (*before).max(1) as f64)
            .collect();
        ratios.sort_by(f64::total_cmp);
        let small = ratios.iter().filter(|r| **r > 0.9).count();
        report.notes.push(format!(
            "soak: the 🗜 notices report the context shrinking to {:.0}% of its size (median; best {:.0}%); \
             {small} of {} compressions kept more than 90% of it.",
            ratios[ratios.len() / 2] * 100.0,
            ratios[0] * 100.0,
            ratios.len()
        ));
    }
    if !error_answers.is_empty() {
        report.notes.push(format!(
            "soak: {} error answers; the first ones:\n{}",
            error_answers.len(),
            error_answers
                .iter()
                .take(5)
                .map(|t| format!("    {t}"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    if !tally.timeout_examples.is_empty() {
        report.notes.push(format!(
            "soak: answers that did not arrive:\n{}",
            tally.timeout_examples.join("\n")
        ));
    }
}

// ----- main -----------------------------------------------------------------------------------------------

fn selected_sections() -> Vec<String> {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.trim().is_empty() {
        return SECTIONS.iter().map(|s| s.to_string()).collect();
    }
    let chosen: Vec<String> = only
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for s in &chosen {
        assert!(
            SECTIONS.contains(&s.as_str()),
            "BENCH_ONLY: unknown section {s:?}; the sections are {}",
            SECTIONS.join(",")
        );
    }
    chosen
}

fn redis_version() -> String {
    std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.split_whitespace()
                .find_map(|w| w.strip_prefix("v=").map(str::to_string))
        })
        .unwrap_or_else(|| "?".into())
}

/// A line on stderr, so a long run shows where it is (the table goes to stdout at the end).
fn progress(what: &str) {
    eprintln!("[bench] {what} …");
}

fn main() {
    let sections = selected_sections();
    let runs = |name: &str| sections.iter().any(|s| s == name);
    let soak_secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .map(|v| {
            v.trim()
                .parse()
                .expect("SOAK_SECS must be a whole number of seconds")
        })
        .unwrap_or(SOAK_DEFAULT_SECS);
    // RSS is sampled every second, and the drift compares two windows of at least two samples each.
    assert!(
        soak_secs >= 8,
        "SOAK_SECS must be at least 8 (600 by default)"
    );
    let tck = clock_ticks_per_sec();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let soak_note = if runs("soak") {
        format!(" (soak {soak_secs} s)")
    } else {
        String::new()
    };
    let binary = match std::env::var_os("E2E_BOT_BINARY") {
        Some(_) => format!("{} (from E2E_BOT_BINARY)", BotProcess::binary().display()),
        None => format!("{} (release build)", BotProcess::binary().display()),
    };
    let what_ran = format!(
        "Performance harness: bot {binary}, redis-server {} (AOF, appendfsync everysec), fake Telegram \
         and fake LLM in this process, {cpus} CPUs; sections: {}{soak_note}.",
        redis_version(),
        sections.join(", "),
    );
    eprintln!("{what_ran}");

    let system = actix_rt::System::new();
    let report = system.block_on(async {
        let mut report = Report::default();
        let plain_start = if runs("start") {
            progress("start: 5 starts");
            Some(section_start(&mut report).await)
        } else {
            report.not_run(&[
                (
                    "start: process start → /ready 200 (median of 5)",
                    "≤ 150 ms",
                ),
                ("RSS idle after start (median of 5)", "≤ 20 MB"),
            ]);
            None
        };
        if runs("tokenizer") {
            progress(
                "tokenizer: generating a 128k-token BPE tokenizer.json, then 5 starts with it",
            );
            section_tokenizer(&mut report, plain_start.as_ref()).await;
        } else {
            report.not_run(&[
                ("start with TOKENIZER_PATH", "reported separately"),
                ("RSS idle with TOKENIZER_PATH", "reported separately"),
            ]);
        }
        if runs("overhead") {
            progress("overhead: 20 chats × 10 messages");
            section_overhead(&mut report).await;
        } else {
            report.not_run(&[
                ("overhead p50", "≤ 2 ms"),
                ("overhead p99", "≤ 10 ms"),
                ("overhead: every answer arrived, no WARN/ERROR", "all, none"),
            ]);
        }
        if runs("throughput") {
            progress("throughput: 500 chats × 10 messages");
            section_throughput(&mut report, tck).await;
        } else {
            report.not_run(&[
                ("throughput", "≥ 5,000/s"),
                ("throughput: nothing lost", "yes"),
                ("throughput: CPU time per answer", "reported"),
            ]);
        }
        if runs("streaming") {
            progress("streaming: 200 chats, 1,500-character answers, Telegram limits on");
            section_streaming(&mut report).await;
        } else {
            report.not_run(&[
                ("peak RSS, 200 chats streaming", "≤ 40 MB"),
                (
                    "streaming: every answer complete, once",
                    "all 200, no WARN/ERROR",
                ),
            ]);
        }
        if runs("soak") {
            progress(&format!("soak: 100 chats, mixed load, {soak_secs} s"));
            section_soak(&mut report, soak_secs, tck).await;
        } else {
            report.not_run(&[
                ("soak RSS drift", "< 5%"),
                ("soak errors", "none"),
                ("soak lost", "none"),
                ("soak load", "reported"),
            ]);
        }
        report
    });

    println!("{what_ran}\n");
    report.print();
    if report.failed_checks() {
        println!("\nA correctness check FAILED (rows marked \"✗ FAILED CHECK\").");
        std::process::exit(1);
    }
}
