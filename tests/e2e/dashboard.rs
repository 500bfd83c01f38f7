//! The dashboard in a real headless browser (Debian's chromium): the page renders the live figures, each
//! session's model and role, and the usage panel (a bar per day with usage, the top users of the month).

use crate::support::bot::ALLOWED_USER;
use crate::support::fake_llm::{aichat_model, aichat_role};
use crate::support::{BotProcess, TestEnv};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const TOKEN: &str = "dashboard-test-token-0123456789";

/// Loads `url` in headless chromium and returns the DOM after the page's scripts ran.
fn render(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Let the page's fetches finish before the DOM is dumped.
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run chromium ({e}): run scripts/ensure-chromium.sh"));
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn dashboard_url(bot: &BotProcess) -> String {
    format!("{}/#token={TOKEN}", bot.base_url())
}

#[actix_web::test]
async fn the_dashboard_renders_live_figures_including_a_processed_job() {
    let mut env = TestEnv::start();
    env.set("API_TOKEN", TOKEN);
    let bot = env.spawn_bot().await;
    env.telegram
        .push_text(ALLOWED_USER, ALLOWED_USER, "hello dashboard");
    env.telegram.wait_for_messages(ALLOWED_USER, 1, T).await;
    // The job ends right after its answer is stored.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let dom = tokio::task::spawn_blocking({
        let url = dashboard_url(&bot);
        move || render(&url)
    })
    .await
    .unwrap();

    let text = |id: &str| -> String {
        let start = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in {dom:.3000}"));
        dom[start..].chars().take(1500).collect()
    };
    assert!(text("status").contains(">ok<"), "{}", text("status"));
    assert!(text("ready").contains(">ready<"), "{}", text("ready"));
    assert!(
        text("version").contains(env!("CARGO_PKG_VERSION")),
        "{}",
        text("version")
    );
    assert!(
        text("recent").contains("1001") && text("recent").contains("done"),
        "the processed job: {}",
        text("recent")
    );
    assert!(
        text("sessions").contains("1001"),
        "the session: {}",
        text("sessions")
    );
    assert!(
        dom.contains("<span id=\"error\" class=\"bad\"></span>"),
        "no error shown: {}",
        text("error")
    );
}

#[actix_web::test]
async fn the_dashboard_shows_each_sessions_model_and_role_and_default_when_it_chose_none() {
    const OTHER_USER: i64 = 1002;
    let mut env = TestEnv::start();
    env.set("API_TOKEN", TOKEN);
    env.set("ALLOWED_USER_IDS", format!("{ALLOWED_USER},{OTHER_USER}"));
    env.set("AICHAT_MODEL", "openai:gpt-4o");
    env.llm.set_models(vec![
        aichat_model("openai:gpt-4o", "chat"),
        aichat_model("claude:sonnet", "chat"),
    ]);
    env.llm
        .set_roles(vec![aichat_role("poet", "You write poems.", None)]);
    let bot = env.spawn_bot().await;
    for (user, text, sent) in [
        (ALLOWED_USER, "/model sonnet", 1),
        (ALLOWED_USER, "/role poet", 2),
        (OTHER_USER, "hello", 1),
    ] {
        env.telegram.push_text(user, user, text);
        env.telegram.wait_for_messages(user, sent, T).await;
    }
    env.telegram
        .push_photo_with(OTHER_USER, OTHER_USER, Some("what is this?"), None);
    env.telegram.wait_for_messages(OTHER_USER, 2, T).await;

    let dom = tokio::task::spawn_blocking({
        let url = dashboard_url(&bot);
        move || render(&url)
    })
    .await
    .unwrap();

    let start = dom
        .find("<tbody id=\"sessions\">")
        .expect("the sessions table");
    let table = &dom[start..start + dom[start..].find("</tbody>").unwrap()];
    let row_of = |id: i64| -> Vec<String> {
        let row = table
            .split("<tr>")
            .find(|row| row.starts_with(&format!("<td>{id}</td>")))
            .unwrap_or_else(|| panic!("no row for {id}: {table}"));
        row.split("<td>")
            .skip(1)
            .map(|cell| cell.split("</td>").next().unwrap().to_string())
            .collect()
    };
    let columns = ["model", "role", "messages", "photos", "files"];
    let header: Vec<&str> = columns
        .into_iter()
        .filter(|h| dom.contains(&format!("<th>{h}</th>")))
        .collect();
    assert_eq!(header, columns, "{dom:.3000}");
    let mine = row_of(ALLOWED_USER);
    assert!(
        mine.contains(&"claude:sonnet".to_string()) && mine.contains(&"poet".to_string()),
        "{mine:?}"
    );
    let other = row_of(OTHER_USER);
    assert_eq!(
        other.iter().filter(|cell| *cell == "default").count(),
        2,
        "no model and no role of its own: {other:?}"
    );
    // Messages, photos, files: two turns, one of them a photo.
    let messages = other.iter().position(|c| c == "4").expect("4 messages");
    assert_eq!(
        other[messages + 1..messages + 3],
        ["1".to_string(), "0".to_string()],
        "{other:?}"
    );
}

#[actix_web::test]
async fn the_dashboard_asks_for_the_token_and_shows_no_data_without_it() {
    let mut env = TestEnv::start();
    env.set("API_TOKEN", TOKEN);
    let bot = env.spawn_bot().await;

    let dom = tokio::task::spawn_blocking({
        let url = format!("{}/#token=wrong-token-wrong-token", bot.base_url());
        move || render(&url)
    })
    .await
    .unwrap();

    assert!(
        dom.contains("id=\"login\" style=\"display: block;\""),
        "{dom:.2000}"
    );
    assert!(!dom.contains(">1001<"));
}

/// Adds one request's usage to the bot's database before the bot starts.
fn record_usage(env: &TestEnv, day: &str, user: i64, summary: bool, tokens: i64) {
    use aichat_telegram_bot::db::spending::{record, Source, Spend, SpendKind};
    use aichat_telegram_bot::ids::{ChatId, UserId};
    let pool = aichat_telegram_bot::db::open(&env.database_path(), 1).unwrap();
    let spend = Spend {
        day: day.into(),
        user: UserId(user),
        chat: ChatId(if summary { ALLOWED_USER } else { user }),
        model: "test-model".into(),
        kind: if summary {
            SpendKind::Summary
        } else {
            SpendKind::Chat
        },
        source: Source::Server,
        prompt_tokens: tokens - tokens / 4,
        completion_tokens: tokens / 4,
    };
    record(&mut pool.get().unwrap(), &spend).unwrap();
}

/// The value of `name="…"` in an element's opening tag.
fn attribute<'a>(tag: &'a str, name: &str) -> &'a str {
    let start = tag
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + name.len()
        + 3;
    let end = tag[start..].find('"').unwrap() + start;
    &tag[start..end]
}

#[actix_web::test]
async fn the_usage_panel_draws_a_bar_per_day_with_usage_and_lists_the_months_top_users() {
    use jiff::ToSpan;
    const OTHER_USER: i64 = 1002;
    let mut env = TestEnv::start();
    env.set("API_TOKEN", TOKEN);
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let day = |back: i32| today.checked_sub(back.days()).unwrap().to_string();
    // Tokens per day: 300 ten days ago, 150 five days ago (100 of them a summary's), 190 today; and a day
    // outside the 30 days drawn. This month (whatever its day): user 1001 has 150 or more, user 1002 140 or
    // less; the summaries are no user's.
    for (back, user, summary, tokens) in [
        (40, ALLOWED_USER, false, 5000),
        (10, ALLOWED_USER, false, 300),
        (5, OTHER_USER, false, 100),
        (5, 0, true, 50),
        (0, ALLOWED_USER, false, 150),
        (0, OTHER_USER, false, 40),
    ] {
        record_usage(&env, &day(back), user, summary, tokens);
    }
    let bot = env.spawn_bot().await;

    let dom = tokio::task::spawn_blocking({
        let url = dashboard_url(&bot);
        move || render(&url)
    })
    .await
    .unwrap();

    let start = dom
        .find("<svg id=\"usage-chart\"")
        .unwrap_or_else(|| panic!("no chart: {dom:.3000}"));
    let chart = &dom[start..start + dom[start..].find("</svg>").unwrap()];
    let bars: Vec<(String, String, f64)> = chart
        .split("<rect")
        .skip(1)
        .filter(|tag| tag.contains(" data-day="))
        .map(|tag| {
            (
                attribute(tag, "data-day").to_string(),
                attribute(tag, "data-tokens").to_string(),
                attribute(tag, "height").parse().unwrap(),
            )
        })
        .collect();
    let days: Vec<(&str, &str)> = bars
        .iter()
        .map(|(d, t, _)| (d.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        days,
        [
            (day(10).as_str(), "300"),
            (day(5).as_str(), "150"),
            (day(0).as_str(), "190")
        ],
        "one bar per day with usage, oldest first: {chart}"
    );
    let heights: Vec<f64> = bars.iter().map(|b| b.2).collect();
    assert!(
        heights[1] > 0.0 && heights[1] < heights[2] && heights[2] < heights[0],
        "heights as the tokens: {heights:?}"
    );

    let start = dom.find("<tbody id=\"top-users\">").expect("the top users");
    let table = &dom[start..start + dom[start..].find("</tbody>").unwrap()];
    let users: Vec<&str> = table
        .split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td>")
                .nth(1)
                .unwrap()
                .split("</td>")
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(
        users,
        [ALLOWED_USER.to_string(), OTHER_USER.to_string()],
        "the most tokens first, no user 0: {table}"
    );
    assert!(
        dom.contains("<span id=\"error\" class=\"bad\"></span>"),
        "no error shown"
    );
}
