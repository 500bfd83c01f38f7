//! Webhook mode: Telegram POSTs each update to the bot (through the reverse proxy the fake stands for), the
//! bot answers 200 only once the update is durably queued, and nothing is lost or doubled through a lost
//! answer, a crash, Redis away, or a switch between polling and the webhook.

use crate::support::fake_llm::{aichat_model, image_urls};
use crate::support::{BotProcess, TestEnv};
use std::time::{Duration, Instant};

/// Generous: a debug build on a busy 2-core CI machine.
const T: Duration = Duration::from_secs(20);
const URL: &str = "https://bot.example.org/telegram/hook";
const SECRET: &str = "s3cret_Token-for-the-webhook";

fn webhook_env() -> TestEnv {
    let mut env = TestEnv::start_durable();
    env.set("ALLOWED_USER_IDS", "*")
        .set("TELEGRAM_WEBHOOK_URL", URL)
        .set("WEBHOOK_SECRET", SECRET);
    env
}

/// Spawns a bot in webhook mode and points the fake's reverse proxy at it.
async fn spawn_webhook_bot(env: &TestEnv) -> BotProcess {
    let bot = env.spawn_bot().await;
    env.telegram.route_webhooks_to(&bot.base_url());
    bot
}

/// POSTs `body` to the bot's webhook path at `base`, with `secret` in Telegram's header; the status.
async fn post(base: &str, secret: Option<&str>, body: Vec<u8>) -> u16 {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let mut request = client
        .post(format!("{base}/telegram/hook"))
        .insert_header(("Content-Type", "application/json"));
    if let Some(secret) = secret {
        request = request.insert_header(("X-Telegram-Bot-Api-Secret-Token", secret));
    }
    match request.send_body(body).await {
        Ok(response) => response.status().as_u16(),
        Err(e) => panic!("POST {base}/telegram/hook failed: {e}"),
    }
}

async fn metrics(bot: &BotProcess) -> String {
    let (_, metrics) = bot.get_json("/metrics").await;
    metrics.as_str().unwrap_or_default().to_string()
}

/// `webhook_requests_total{outcome}` (0 when not counted yet).
fn webhook_requests(metrics: &str, outcome: &str) -> u64 {
    let line = format!("aichat_bot_webhook_requests_total{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the fake has made at least `n` delivery attempts answered `status`.
async fn wait_for_deliveries(env: &TestEnv, status: Option<u16>, n: usize) {
    let deadline = Instant::now() + T;
    loop {
        let seen = env
            .telegram
            .webhook_deliveries()
            .iter()
            .filter(|d| d.status == status)
            .count();
        if seen >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {n} deliveries answered {status:?}: {:?}",
            env.telegram.webhook_deliveries()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn in_webhook_mode_telegram_delivers_each_update_with_the_secret_and_the_bot_answers_without_polling(
) {
    let env = webhook_env();
    let bot = spawn_webhook_bot(&env).await;

    let set = env.telegram.webhook().expect("the bot set the webhook");
    assert_eq!(set.url, URL);
    assert_eq!(set.secret.as_deref(), Some(SECRET));
    assert_eq!(set.max_connections, 40);
    let allowed = set.allowed_updates.clone().unwrap_or_default();
    for kind in ["message", "callback_query", "my_chat_member"] {
        assert!(allowed.iter().any(|a| a == kind), "{allowed:?}");
    }
    let set_calls = env.telegram.calls_of("setWebhook");
    assert_eq!(
        set_calls[0].params["drop_pending_updates"], false,
        "{set_calls:?}"
    );

    env.telegram.push_text(8001, 8001, "hello by webhook");
    env.telegram.push_text(8002, 8002, "and another");
    env.telegram.wait_for_messages(8001, 1, T).await;
    env.telegram.wait_for_messages(8002, 1, T).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.telegram.count_to(8001), 1);
    assert_eq!(env.telegram.count_to(8002), 1);

    assert_eq!(
        env.telegram.get_updates_count(),
        0,
        "nothing polls in webhook mode"
    );
    assert!(
        env.redis.keys("*:poller").is_empty(),
        "the poller role is unused: {:?}",
        env.redis.keys("*")
    );
    let deliveries = env.telegram.webhook_deliveries();
    assert!(deliveries.len() >= 2, "{deliveries:?}");
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == Some(200) && d.secret.as_deref() == Some(SECRET)),
        "{deliveries:?}"
    );
    assert_eq!(env.telegram.pending_update_count(), 0);
    let (_, health) = bot.get_json("/health").await;
    assert_eq!(health["role"], "webhook", "{health}");
    let (status, ready) = bot.get_json("/ready").await;
    assert_eq!(
        (status, ready["role"].as_str()),
        (200, Some("webhook")),
        "{ready}"
    );
    assert!(webhook_requests(&metrics(&bot).await, "queued") >= 2);
}

#[actix_web::test]
async fn the_webhook_refuses_a_wrong_secret_and_a_huge_body_and_takes_a_malformed_one_without_a_retry(
) {
    let mut env = webhook_env();
    // On a port of its own: the API port does not serve the webhook's path.
    env.set("WEBHOOK_PORT", "0");
    let bot = env.spawn_bot().await;
    let logs = bot.logs();
    let port: u16 = logs
        .lines()
        .find_map(|l| l.split("webhook listening on 127.0.0.1:").nth(1))
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no webhook port in the log:\n{logs}"));
    let hook = format!("http://127.0.0.1:{port}");
    env.telegram.route_webhooks_to(&hook);

    // A hand-made update, posted as Telegram would: the fake knows the chat, so the answer can go there.
    env.telegram.add_chat(8101);
    let update = |id: i64| {
        serde_json::to_vec(&serde_json::json!({
            "update_id": id,
            "message": {
                "message_id": 1, "date": 1_700_000_000, "text": "direct",
                "chat": {"id": 8101, "type": "private", "first_name": "D"},
                "from": {"id": 8101, "is_bot": false, "first_name": "D"},
            }
        }))
        .unwrap()
    };
    assert_eq!(post(&hook, None, update(1)).await, 401, "no secret");
    assert_eq!(
        post(&hook, Some("s3cret_Token-for-the-webhooK"), update(2)).await,
        401
    );
    assert_eq!(
        post(&hook, Some(SECRET), vec![b' '; 2 * 1024 * 1024]).await,
        413
    );
    assert_eq!(post(&hook, Some(SECRET), b"{not json".to_vec()).await, 200);
    assert_eq!(
        post(&bot.base_url(), Some(SECRET), update(3)).await,
        404,
        "API port"
    );
    assert_eq!(
        env.telegram.count_to(8101),
        0,
        "nothing refused reached a chat"
    );

    assert_eq!(post(&hook, Some(SECRET), update(4)).await, 200);
    env.telegram.wait_for_messages(8101, 1, T).await;
    assert_eq!(post(&hook, Some(SECRET), update(4)).await, 200, "a repeat");
    // Through Telegram as well.
    env.telegram.push_text(8102, 8102, "via the proxy");
    env.telegram.wait_for_messages(8102, 1, T).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        env.telegram.count_to(8101),
        1,
        "the repeat was not answered again"
    );

    let metrics = metrics(&bot).await;
    assert_eq!(webhook_requests(&metrics, "unauthorized"), 2, "{metrics}");
    assert_eq!(webhook_requests(&metrics, "too_large"), 1, "{metrics}");
    assert_eq!(webhook_requests(&metrics, "malformed"), 1, "{metrics}");
    assert_eq!(webhook_requests(&metrics, "duplicate"), 1, "{metrics}");
    assert!(webhook_requests(&metrics, "queued") >= 2, "{metrics}");
    let logs = bot.logs();
    assert!(
        !logs.contains(SECRET),
        "the secret is never logged:\n{logs}"
    );
}

#[actix_web::test]
async fn an_update_telegram_got_no_200_for_is_delivered_again_and_answered_once_also_through_a_crash(
) {
    let env = webhook_env();
    let mut bot = spawn_webhook_bot(&env).await;
    env.telegram.set_webhook_timeout(Duration::from_millis(300));
    let pause = |ms: &str| {
        env.redis.cmd(&["CLIENT", "PAUSE", ms, "WRITE"]);
    };

    // Received and queued, but the 200 came after Telegram stopped waiting: delivered again, queued once.
    pause("1500");
    env.telegram.push_text(8201, 8201, "slow to queue");
    wait_for_deliveries(&env, None, 1).await;
    env.telegram.wait_for_messages(8201, 1, T).await;
    wait_for_deliveries(&env, Some(200), 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.telegram.count_to(8201), 1, "answered once");
    assert_eq!(env.telegram.pending_update_count(), 0);
    assert!(webhook_requests(&metrics(&bot).await, "duplicate") >= 1);

    // Received, and the process killed before it answered: delivered again to the restarted one.
    pause("1500");
    env.telegram.push_text(8202, 8202, "crash before the 200");
    wait_for_deliveries(&env, None, 2).await;
    bot.kill();
    let mut bot = spawn_webhook_bot(&env).await;
    env.telegram.wait_for_messages(8202, 1, T).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.telegram.count_to(8202), 1, "answered once");
    assert_eq!(env.telegram.count_to(8201), 1);
    assert_eq!(env.telegram.pending_update_count(), 0);
    bot.terminate(T).await;
}

#[actix_web::test]
async fn while_redis_is_down_the_webhook_answers_503_and_the_update_is_answered_once_redis_is_back()
{
    let mut env = webhook_env();
    let bot = spawn_webhook_bot(&env).await;
    env.telegram.push_text(8301, 8301, "before");
    env.telegram.wait_for_messages(8301, 1, T).await;

    env.redis.stop();
    env.telegram.push_text(8302, 8302, "while Redis is down");
    wait_for_deliveries(&env, Some(503), 2).await;
    let info = env.telegram.webhook_info();
    assert!(
        info["last_error_message"]
            .as_str()
            .is_some_and(|m| m.contains("503")),
        "{info}"
    );
    assert_eq!(env.telegram.count_to(8302), 0);
    env.redis.restart();
    env.telegram.wait_for_messages(8302, 1, T).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.telegram.count_to(8302), 1);
    assert!(webhook_requests(&metrics(&bot).await, "unavailable") >= 2);
}

#[actix_web::test]
async fn switching_from_polling_to_the_webhook_and_back_loses_and_doubles_nothing() {
    let mut env = TestEnv::start_durable();
    env.set("ALLOWED_USER_IDS", "*");
    let mut polling = env.spawn_bot().await;
    env.telegram.push_text(8401, 8401, "one");
    env.telegram.wait_for_messages(8401, 1, T).await;
    polling.terminate(T).await;

    // Sent while no process runs; a process in webhook mode gets it.
    env.telegram.push_text(8402, 8402, "two");
    let mut hooked = env
        .spawn_bot_with(&[("TELEGRAM_WEBHOOK_URL", URL), ("WEBHOOK_SECRET", SECRET)])
        .await;
    env.telegram.route_webhooks_to(&hooked.base_url());
    env.telegram.wait_for_messages(8402, 1, T).await;
    env.telegram.push_text(8403, 8403, "three");
    env.telegram.wait_for_messages(8403, 1, T).await;
    hooked.terminate(T).await;
    assert!(
        env.telegram.webhook().is_some(),
        "a clean stop leaves the webhook set"
    );

    // Sent while the webhook is set and nobody serves it; a polling process deletes the webhook, keeping it.
    env.telegram.push_text(8404, 8404, "four");
    wait_for_deliveries(&env, None, 1).await;
    let polling = env.spawn_bot().await;
    env.telegram.wait_for_messages(8404, 1, T).await;
    assert!(env.telegram.webhook().is_none());
    let deleted = env.telegram.calls_of("deleteWebhook");
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_ne!(
        deleted[0].params["drop_pending_updates"], true,
        "{deleted:?}"
    );
    env.telegram.push_text(8405, 8405, "five");
    env.telegram.wait_for_messages(8405, 1, T).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for chat in 8401..=8405 {
        assert_eq!(env.telegram.count_to(chat), 1, "chat {chat}");
    }
    let (_, health) = polling.get_json("/health").await;
    assert_eq!(health["role"], "poller", "{health}");
}

#[actix_web::test]
async fn during_a_rolling_switch_back_to_polling_the_poller_waits_for_the_webhook_process_to_stop()
{
    let env = webhook_env();
    let mut hooked = spawn_webhook_bot(&env).await;
    let mut polling = BotProcess::spawn(
        &env.env()
            .into_iter()
            .filter(|(k, _)| k != "TELEGRAM_WEBHOOK_URL" && k != "WEBHOOK_SECRET")
            .collect::<Vec<_>>(),
        env.workdir(),
    );
    polling.wait_for_port(T).await;
    polling
        .wait_for_log("another process of this bot receives updates by webhook", T)
        .await;
    env.telegram.push_text(8501, 8501, "while both run");
    env.telegram.wait_for_messages(8501, 1, T).await;
    assert!(
        env.telegram.webhook().is_some(),
        "the webhook process still serves it"
    );
    assert!(env.telegram.calls_of("deleteWebhook").is_empty());

    hooked.terminate(T).await;
    let stopped = Instant::now();
    env.telegram.wait_for_webhook(false, T).await;
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "the poller goes on soon after: {:?}",
        stopped.elapsed()
    );
    env.telegram.push_text(8502, 8502, "after the switch");
    env.telegram.wait_for_messages(8502, 1, T).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.telegram.count_to(8501), 1);
    assert_eq!(env.telegram.count_to(8502), 1);
    polling.terminate(T).await;
}

#[actix_web::test]
async fn in_webhook_mode_an_albums_photos_posted_one_by_one_are_answered_as_one_turn() {
    let mut env = webhook_env();
    env.llm
        .set_models(vec![aichat_model("openai:gpt-4o", "chat")]);
    env.set("AICHAT_MODEL", "openai:gpt-4o");
    let _bot = spawn_webhook_bot(&env).await;
    let chat = 8101;

    env.telegram
        .push_album(chat, chat, 3, Some("which is best?"), "24680");
    env.telegram.wait_for_messages(chat, 1, T).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let posts = env.telegram.webhook_deliveries();
    assert_eq!(posts.len(), 3, "one update per POST: {posts:?}");
    let requests = env.llm.chat_requests();
    assert_eq!(requests.len(), 1, "one turn");
    assert_eq!(image_urls(&requests[0]).len(), 3);
    assert_eq!(env.telegram.count_to(chat), 1, "one answer");
}
