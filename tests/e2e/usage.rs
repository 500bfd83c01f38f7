//! Usage and budgets through the real binary: every model request recorded in SQLite (`usage_daily`) from the
//! server's report or the bot's own count, daily and monthly limits that refuse with 0 further model calls,
//! per-user overrides and admins, limits kept across a restart, `/usage` and `/usage all`, and costs from the
//! server's prices and from `MODEL_PRICES`.

use crate::support::bot::ALLOWED_USER;
use crate::support::fake_llm::aichat_model;
use crate::support::TestEnv;
use aichat_telegram_bot::db::spending::{top_users, user_spending};
use aichat_telegram_bot::ids::UserId;
use aichat_telegram_bot::usage::Periods;
use std::time::Duration;

/// Generous: a debug build on a busy 2-core CI machine.
const T: Duration = Duration::from_secs(20);
const USER: i64 = ALLOWED_USER;
const OTHER: i64 = 1002;

/// Sends `text` from `user` and returns the bot's next message to them.
async fn ask(env: &TestEnv, user: i64, text: &str) -> String {
    let before = env.telegram.messages_to(user).len();
    env.telegram.push_text(user, user, text);
    env.telegram.wait_for_messages(user, before + 1, T).await[before]
        .plain
        .clone()
}

/// About 80 tokens by any count: with its echo, more than a budget of 60.
fn long_enough() -> String {
    format!("tell me {}", "lorem ipsum dolor sit amet ".repeat(12))
}

fn env_with(vars: &[(&str, &str)]) -> TestEnv {
    let mut env = TestEnv::start().with("ALLOWED_USER_IDS", format!("{USER},{OTHER}"));
    for (k, v) in vars {
        env.set(k, *v);
    }
    env
}

#[actix_web::test]
async fn a_user_at_the_daily_limit_is_told_when_it_resets_and_the_model_is_not_asked_even_after_a_restart(
) {
    let env = env_with(&[("USER_DAILY_TOKENS", "60")]);
    let mut bot = env.spawn_bot().await;

    let first = ask(&env, USER, &long_enough()).await;
    let refused = ask(&env, USER, "and more").await;
    bot.terminate(T).await.expect("a clean stop");
    let _bot = env.spawn_bot().await;
    let still = ask(&env, USER, "after a restart?").await;
    let other = ask(&env, OTHER, "my own budget").await;

    assert!(first.starts_with("echo:"), "{first}");
    for text in [&refused, &still] {
        assert!(
            text.starts_with("You have reached your daily limit:")
                && text.contains("of 60 tokens used")
                && text.contains("It resets in ")
                && text.contains("at 00:00 UTC"),
            "{text}"
        );
    }
    assert!(
        other.starts_with("echo:"),
        "each user has their own budget: {other}"
    );
    assert_eq!(
        env.llm.chat_requests().len(),
        2,
        "nothing more reached the model"
    );
}

#[actix_web::test]
async fn the_monthly_limit_holds_an_override_replaces_it_and_admins_have_none() {
    let env = env_with(&[
        ("USER_MONTHLY_TOKENS", "60"),
        ("USER_LIMITS", &format!("{OTHER}=0/0")),
    ]);
    let _bot = env.spawn_bot().await;

    ask(&env, USER, &long_enough()).await;
    let refused = ask(&env, USER, "and more").await;
    ask(&env, OTHER, &long_enough()).await;
    let unlimited = ask(&env, OTHER, "and more").await;

    assert!(
        refused.starts_with("You have reached your monthly limit:"),
        "{refused}"
    );
    assert!(
        refused.contains(" UTC."),
        "with the date it resets: {refused}"
    );
    assert!(unlimited.starts_with("echo:"), "{unlimited}");

    let env = env_with(&[
        ("USER_DAILY_TOKENS", "60"),
        ("ADMIN_USER_IDS", &USER.to_string()),
    ]);
    let _bot = env.spawn_bot().await;
    ask(&env, USER, &long_enough()).await;
    let admin = ask(&env, USER, "and more").await;
    assert!(admin.starts_with("echo:"), "an admin has no limit: {admin}");
}

#[actix_web::test]
async fn answers_are_recorded_by_the_bots_count_and_summaries_by_the_servers_against_the_chat() {
    let env = env_with(&[
        ("CONTEXT_WINDOW_TOKENS", "2048"),
        ("COMPRESS_RATIO", "0.5"),
        ("KEEP_RECENT_MESSAGES", "2"),
    ]);
    let _bot = env.spawn_bot().await;
    let long = |i: usize| format!("turn{i} {}", "lorem ipsum dolor sit amet ".repeat(22));
    for i in 1..=4 {
        ask(&env, USER, &long(i)).await;
    }
    env.telegram
        .wait_until("a compression", T, |_| {
            !env.llm.summary_requests().is_empty()
        })
        .await;

    let pool = aichat_telegram_bot::db::open(&env.database_path(), 1).unwrap();
    let mut conn = pool.get().unwrap();
    let periods = Periods::at(aichat_telegram_bot::text::now_unix());
    let mine = user_spending(&mut conn, UserId(USER), &periods.day, &periods.month_start).unwrap();
    let answers = mine.today.get("test-model").copied().unwrap();
    assert!(answers.requests >= 4, "{answers:?}");
    assert!(
        answers.prompt_tokens > 4 * 150 && answers.completion_tokens > 4 * 150,
        "{answers:?}"
    );
    let rows: Vec<(String, String, i64)> = diesel::RunQueryDsl::load(
        diesel::sql_query("SELECT kind, source, user_id FROM usage_daily ORDER BY kind, source"),
        &mut conn,
    )
    .map(|rows: Vec<KindSource>| {
        rows.into_iter()
            .map(|r| (r.kind, r.source, r.user_id))
            .collect()
    })
    .unwrap();
    assert_eq!(
        rows,
        [
            ("chat".to_string(), "estimate".to_string(), USER),
            ("summary".to_string(), "server".to_string(), 0)
        ],
        "streamed answers by the bot's count (no usage in the stream), the summary by the server's"
    );
    let top = top_users(&mut conn, &periods.day, 10).unwrap();
    assert_eq!(top.len(), 1, "the summary is no user's");
}

/// The rows of `usage_daily` (ordered by kind and source) once there are `n`: a row is stored with its
/// answer (or summary), a moment after the user saw it.
async fn rows_when(conn: &mut diesel::SqliteConnection, n: usize) -> Vec<KindSource> {
    let deadline = std::time::Instant::now() + T;
    loop {
        let rows: Vec<KindSource> = diesel::RunQueryDsl::load(
            diesel::sql_query(
                "SELECT kind, source, user_id FROM usage_daily ORDER BY kind, source",
            ),
            conn,
        )
        .unwrap();
        if rows.len() >= n || std::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(diesel::QueryableByName)]
struct KindSource {
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    source: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    user_id: i64,
}

#[actix_web::test]
async fn usage_shows_tokens_costs_limits_and_for_an_admin_everyone() {
    let env = env_with(&[
        ("USER_DAILY_TOKENS", "100000"),
        ("ADMIN_USER_IDS", &USER.to_string()),
        ("USER_LIMITS", &format!("{OTHER}=1000/0")),
        ("MODEL_PRICES", "test-model=1000/0"),
    ]);
    let _bot = env.spawn_bot().await;

    ask(&env, OTHER, "hello there").await;
    let mine = ask(&env, OTHER, "/usage").await;
    let all = ask(&env, USER, "/usage all").await;
    let refused = ask(&env, OTHER, "/usage all").await;

    assert!(mine.starts_with("Your usage\nToday: "), "{mine}");
    assert!(
        mine.contains("(1 requests) · $"),
        "priced by MODEL_PRICES: {mine}"
    );
    assert!(
        mine.contains("Daily limit: 1,000 tokens, ") && mine.contains("left; resets in "),
        "{mine}"
    );
    assert!(mine.contains("Monthly limit: none"), "{mine}");
    assert!(all.contains("Top users today:\n  1. user 1002: "), "{all}");
    assert!(refused.starts_with("Only an admin"), "{refused}");
}

#[actix_web::test]
async fn costs_come_from_the_servers_prices_when_no_model_price_is_set() {
    let env = env_with(&[]).with("AICHAT_MODEL", "openai:gpt-4o-mini");
    env.llm
        .set_models(vec![aichat_model("openai:gpt-4o-mini", "chat")]);
    let _bot = env.spawn_bot().await;

    ask(&env, USER, "hello there").await;
    let usage = ask(&env, USER, "/usage").await;

    assert!(usage.contains("(1 requests) · $0.0"), "{usage}");
}

#[actix_web::test]
async fn a_stream_that_reports_its_usage_is_recorded_by_the_servers_figures() {
    let env = env_with(&[]);
    env.llm.set_stream_usage(true);
    let _bot = env.spawn_bot().await;

    ask(&env, USER, "count me, server").await;

    let request = env.llm.chat_requests()[0].clone();
    assert_eq!(
        request["stream_options"]["include_usage"], true,
        "{request}"
    );
    let pool = aichat_telegram_bot::db::open(&env.database_path(), 1).unwrap();
    let mut conn = pool.get().unwrap();
    let rows = rows_when(&mut conn, 1).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].kind.as_str(), rows[0].source.as_str()),
        ("chat", "server")
    );
    let periods = Periods::at(aichat_telegram_bot::text::now_unix());
    let mine = user_spending(&mut conn, UserId(USER), &periods.day, &periods.month_start).unwrap();
    let t = mine.today["test-model"];
    // The fake's figures: 4 characters a token, of the prompt's texts and of the answer.
    assert_eq!(
        t.completion_tokens,
        ("echo: count me, server".len() / 4) as i64
    );
    assert!(
        t.prompt_tokens >= ("count me, server".len() / 4) as i64,
        "{t:?}"
    );
}
