//! Photos and documents: a photo goes to a model that sees images as an image part with its caption; a model
//! that does not is never sent one; a text file goes into the turn as a fenced block; what cannot be read is
//! refused with a clear message and reaches no model; the token never shows with the file URLs.

use crate::support::fake_llm::{aichat_model, image_urls};
use crate::support::fake_telegram::jpeg_bytes;
use crate::support::fake_telegram::Fault;
use crate::support::{Behaviour, TestEnv};
use base64::Engine;
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const VISION: &str = "openai:gpt-4o";
const BLIND: &str = "deepseek:deepseek-chat";

/// A server with a model that sees images and one that does not.
fn media_env(model: &str) -> TestEnv {
    let mut env = TestEnv::start();
    let mut blind = aichat_model(BLIND, "chat");
    blind.as_object_mut().unwrap().remove("supports_vision");
    env.llm.set_models(vec![
        aichat_model("default", "chat"),
        aichat_model(VISION, "chat"),
        blind,
    ]);
    env.set("ALLOWED_USER_IDS", "*").set("AICHAT_MODEL", model);
    env
}

/// The text parts of the last user message of a request.
fn last_user_text(request: &Value) -> String {
    let last = request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .unwrap()
        .clone();
    match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        other => panic!("content {other}"),
    }
}

#[actix_web::test]
async fn a_photo_reaches_a_model_that_sees_images_as_an_image_part_with_its_caption() {
    let env = media_env(VISION);
    let bot = env.spawn_bot().await;
    env.telegram
        .push_photo_with(9001, 9001, Some("what is on it?"), None);
    env.telegram.wait_for_messages(9001, 1, T).await;
    let requests = env.llm.chat_requests();
    assert_eq!(requests.len(), 1);
    let urls = image_urls(&requests[0]);
    assert_eq!(urls.len(), 1, "{:?}", requests[0]);
    // The largest size under MAX_IMAGE_BYTES: the 1280×960 one, as downloaded from the fake.
    let data = urls[0]
        .strip_prefix("data:image/jpeg;base64,")
        .expect("a data URL");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    assert_eq!(bytes.len(), 98_765);
    assert_eq!(&bytes[..4], &jpeg_bytes(4, 0)[..4]);
    assert_eq!(last_user_text(&requests[0]), "what is on it?");

    // Without a caption the model is asked to describe it.
    env.telegram.push_photo_with(9002, 9002, None, None);
    env.telegram.wait_for_messages(9002, 1, T).await;
    let requests = env.llm.chat_requests();
    assert_eq!(last_user_text(&requests[1]), "Describe this image.");
    assert_eq!(image_urls(&requests[1]).len(), 1);
    assert!(env
        .telegram
        .file_downloads()
        .iter()
        .all(|p| p.starts_with("photos/")));

    let logs = bot.logs();
    assert!(
        !logs.contains(&env.telegram.token()),
        "the token never shows:\n{logs}"
    );
}

#[actix_web::test]
async fn a_photo_for_a_model_that_sees_no_images_is_refused_with_the_models_that_can_and_reaches_no_model(
) {
    let env = media_env(BLIND);
    let _bot = env.spawn_bot().await;
    env.telegram.push_photo_with(9101, 9101, Some("look"), None);
    let reply = env.telegram.wait_for_messages(9101, 1, T).await[0]
        .plain
        .clone();
    assert!(reply.contains("can't see images"), "{reply}");
    assert!(
        reply.contains(VISION) && !reply.contains(&format!("{BLIND},")),
        "{reply}"
    );
    assert!(env.llm.chat_requests().is_empty(), "0 model calls");
    assert!(
        env.telegram.file_downloads().is_empty(),
        "nothing downloaded"
    );

    // A server that says nothing of vision (OpenAI's model list): VISION_MODELS says which models see.
    let mut env = TestEnv::start();
    env.llm.set_models(vec![
        serde_json::json!({"id": "gpt-4o", "object": "model", "owned_by": "openai"}),
        serde_json::json!({"id": "gpt-3.5-turbo", "object": "model", "owned_by": "openai"}),
    ]);
    env.set("ALLOWED_USER_IDS", "*")
        .set("AICHAT_MODEL", "gpt-4o");
    let _bot = env.spawn_bot_with(&[("VISION_MODELS", "gpt-4*")]).await;
    env.telegram.push_photo_with(9102, 9102, None, None);
    env.telegram.wait_for_messages(9102, 1, T).await;
    assert_eq!(image_urls(&env.llm.chat_requests()[0]).len(), 1);
}

#[actix_web::test]
async fn a_text_file_goes_into_the_turn_as_a_fenced_block_with_its_caption() {
    let env = media_env(BLIND);
    let _bot = env.spawn_bot().await;
    let code = "fn main() {\n    println!(\"hi\");\n}\n";
    env.telegram.push_document(
        9201,
        9201,
        "main.rs",
        "application/octet-stream",
        code.as_bytes(),
        Some("review this"),
    );
    env.telegram.wait_for_messages(9201, 1, T).await;
    let asked = last_user_text(&env.llm.chat_requests()[0]);
    assert_eq!(
        asked,
        format!(
            "File: main.rs\n```\n{}\n```\n\nreview this",
            code.trim_end()
        )
    );

    // UTF-16 with its byte-order mark is decoded without loss.
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend("héllo".encode_utf16().flat_map(u16::to_le_bytes));
    env.telegram
        .push_document(9202, 9202, "note.txt", "text/plain", &utf16, None);
    env.telegram.wait_for_messages(9202, 1, T).await;
    assert_eq!(
        last_user_text(&env.llm.chat_requests()[1]),
        "File: note.txt\n```\nhéllo\n```"
    );
}

#[actix_web::test]
async fn binary_too_big_and_undownloadable_files_are_refused_clearly_and_reach_no_model() {
    let env = media_env(VISION);
    let _bot = env.spawn_bot_with(&[("MAX_DOCUMENT_BYTES", "1000")]).await;
    let ask = |chat: i64| {
        let tg = &env.telegram;
        async move { tg.wait_for_messages(chat, 1, T).await[0].plain.clone() }
    };
    env.telegram.push_document(
        9301,
        9301,
        "paper.pdf",
        "application/pdf",
        b"%PDF-1.7\n\xE2\xE3",
        None,
    );
    assert!(ask(9301).await.contains("I can read text files"), "binary");
    env.telegram
        .push_document(9302, 9302, "notes.txt", "text/plain", &[b'a'; 2000], None);
    let reply = ask(9302).await;
    assert!(
        reply.contains("too big") && reply.contains("1000 bytes"),
        "{reply}"
    );
    env.telegram
        .push_huge_document(9303, 9303, "movie.txt", "text/plain", 21 * 1024 * 1024);
    let reply = ask(9303).await;
    assert!(
        reply.contains("20 MB"),
        "Telegram's limit, not ours: {reply}"
    );
    env.telegram.push_document(
        9304,
        9304,
        "fake.txt",
        "text/plain",
        b"\x00\x01\x02binary",
        None,
    );
    assert!(
        ask(9304).await.contains("I can read text files"),
        "not text inside"
    );
    assert!(env.llm.chat_requests().is_empty(), "0 model calls");
    assert!(
        env.telegram.file_downloads().len() <= 1,
        "only the one that looked like text"
    );
    // A sticker: the note as before.
    env.telegram.push_update(serde_json::json!({"message": {
        "message_id": 1, "date": 0, "chat": {"id": 9305, "type": "private"},
        "from": {"id": 9305, "is_bot": false, "first_name": "S"},
        "sticker": {"file_id": "CAAC", "file_unique_id": "AgAD", "width": 512, "height": 512,
                    "is_animated": false, "is_video": false, "type": "regular"}}}));
    env.telegram.add_chat(9305);
    let note = ask(9305).await;
    assert!(
        note.contains("not voice messages, videos or stickers"),
        "{note}"
    );
}

#[actix_web::test]
async fn a_retried_photo_turn_reuses_the_cached_image_and_without_a_cache_downloads_it_again() {
    for (cache_mb, downloads) in [("200", 1), ("0", 2)] {
        let env = media_env(VISION);
        let _bot = env
            .spawn_bot_with(&[("IMAGE_CACHE_MB", cache_mb), ("JOB_RETRY_DELAY", "1")])
            .await;
        env.llm
            .push_once(Behaviour::Status(500, "upstream failed".into()));
        env.telegram
            .push_photo_with(9401, 9401, Some("again"), None);
        env.telegram.wait_for_messages(9401, 1, T).await;
        let requests = env.llm.chat_requests();
        assert_eq!(requests.len(), 2, "asked twice: the first failed");
        assert_eq!(image_urls(&requests[1]), image_urls(&requests[0]));
        assert_eq!(
            env.telegram.file_downloads().len(),
            downloads,
            "IMAGE_CACHE_MB={cache_mb}"
        );
    }
}

/// The user messages of a request that carry images: (their text, how many images).
fn messages_with_images(request: &Value) -> Vec<(String, usize)> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| {
            let parts = m["content"].as_array()?;
            let text = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            let images = parts.iter().filter(|p| p["type"] == "image_url").count();
            Some((text, images))
        })
        .collect()
}

/// Every text of a request's messages.
fn texts_of(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
            _ => String::new(),
        })
        .collect()
}

#[actix_web::test]
async fn a_photo_stays_in_the_conversation_and_a_model_without_vision_gets_it_as_text() {
    let env = media_env(VISION);
    let _bot = env.spawn_bot().await;
    let chat = 9501;
    env.telegram
        .push_photo_with(chat, chat, Some("what breed is this dog?"), None);
    env.telegram.wait_for_messages(chat, 1, T).await;
    env.telegram.push_text(chat, chat, "and how old is it?");
    env.telegram.wait_for_messages(chat, 2, T).await;

    let requests = env.llm.chat_requests();
    assert_eq!(requests.len(), 2);
    // The follow-up carries the earlier photo, with its caption, and the new question as text.
    assert_eq!(
        messages_with_images(&requests[1]),
        [("what breed is this dog?".to_string(), 1)]
    );
    assert_eq!(image_urls(&requests[1]), image_urls(&requests[0]));
    assert_eq!(last_user_text(&requests[1]), "and how old is it?");
    assert_eq!(
        env.telegram.file_downloads().len(),
        1,
        "the second turn's image came from the cache"
    );

    // After a switch to a model without vision, the photo is text in the history, never an image part.
    env.telegram
        .push_text(chat, chat, &format!("/model {BLIND}"));
    env.telegram.wait_for_messages(chat, 3, T).await;
    env.telegram.push_text(chat, chat, "one more thing");
    env.telegram.wait_for_messages(chat, 4, T).await;
    let requests = env.llm.chat_requests();
    let last = requests.last().unwrap();
    assert_eq!(last["model"], BLIND);
    assert!(image_urls(last).is_empty(), "{last}");
    assert!(
        texts_of(last).contains(&"[photo: what breed is this dog?]".to_string()),
        "{last}"
    );
}

#[actix_web::test]
async fn a_photo_no_longer_in_the_cache_is_fetched_again_by_its_file_id() {
    let env = media_env(VISION);
    let _bot = env.spawn_bot_with(&[("IMAGE_CACHE_MB", "0")]).await;
    let chat = 9551;
    env.telegram.push_photo_with(chat, chat, None, None);
    env.telegram.wait_for_messages(chat, 1, T).await;
    env.telegram.push_text(chat, chat, "what colour is it?");
    env.telegram.wait_for_messages(chat, 2, T).await;

    let requests = env.llm.chat_requests();
    assert_eq!(
        messages_with_images(&requests[1]),
        [("Describe this image.".to_string(), 1)]
    );
    assert_eq!(image_urls(&requests[1]), image_urls(&requests[0]));
    let downloads = env.telegram.file_downloads();
    assert_eq!(downloads.len(), 2, "fetched again: {downloads:?}");
    assert_eq!(downloads[0], downloads[1]);
}

#[actix_web::test]
async fn an_album_is_one_turn_with_every_photo_and_its_caption() {
    let env = media_env(VISION);
    let _bot = env.spawn_bot().await;
    let chat = 9601;
    env.telegram
        .push_album(chat, chat, 3, Some("which one is sharpest?"), "13579");
    env.telegram.wait_for_messages(chat, 1, T).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let requests = env.llm.chat_requests();
    assert_eq!(requests.len(), 1, "one turn for the album");
    assert_eq!(
        messages_with_images(&requests[0]),
        [("which one is sharpest?".to_string(), 3)]
    );
    let urls = image_urls(&requests[0]);
    assert_eq!(
        urls.iter().collect::<std::collections::HashSet<_>>().len(),
        3,
        "three different photos"
    );
    assert_eq!(env.telegram.count_to(chat), 1, "one answer");

    // The album is one stored message with three photos.
    env.telegram.push_text(chat, chat, "/stats");
    let stats = env.telegram.wait_for_messages(chat, 2, T).await[1]
        .plain
        .clone();
    assert!(stats.contains("Photos: 3, files: 0"), "{stats}");
}

#[actix_web::test]
async fn what_a_message_carried_is_stored_and_shown_by_stats_and_the_admin_api() {
    const TOKEN: &str = "admin-token-0123456789abcdef";
    let mut env = media_env(VISION);
    env.set("API_TOKEN", TOKEN);
    let bot = env.spawn_bot().await;
    let chat = 9701;
    env.telegram.push_photo_with(chat, chat, Some("look"), None);
    env.telegram.wait_for_messages(chat, 1, T).await;
    env.telegram.push_document(
        chat,
        chat,
        "notes.md",
        "text/markdown",
        b"# Notes\n- one\n",
        None,
    );
    env.telegram.wait_for_messages(chat, 2, T).await;
    env.telegram.push_text(chat, chat, "/stats");
    let stats = env.telegram.wait_for_messages(chat, 3, T).await[2]
        .plain
        .clone();
    assert!(stats.contains("Photos: 1, files: 1"), "{stats}");

    let (status, body) = bot
        .get_json_as(&format!("/api/sessions/{chat}/messages"), TOKEN)
        .await;
    assert_eq!(status, 200, "{body}");
    let with: Vec<&Value> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m.get("attachments").is_some())
        .collect();
    assert_eq!(with.len(), 2, "{body}");
    assert_eq!(with[0]["content"], "[photo: look]");
    assert_eq!(with[0]["attachments"][0]["kind"], "photo");
    assert_eq!(with[0]["attachments"][0]["width"], 1280);
    assert_eq!(with[0]["attachments"][0]["size"], 98_765);
    assert_eq!(with[1]["attachments"][0]["kind"], "document");
    assert_eq!(with[1]["attachments"][0]["name"], "notes.md");
    assert_eq!(with[1]["attachments"][0]["size"], 14);
    let (_, session) = bot
        .get_json_as(&format!("/api/sessions/{chat}"), TOKEN)
        .await;
    assert_eq!(
        (&session["stats"]["photos"], &session["stats"]["documents"]),
        (&Value::from(1), &Value::from(1)),
        "{session}"
    );
}

#[actix_web::test]
async fn compression_folds_a_photo_into_the_summary_as_its_caption_line_without_the_image() {
    let env = media_env(VISION);
    let _bot = env
        .spawn_bot_with(&[
            ("CONTEXT_WINDOW_TOKENS", "3000"),
            ("COMPRESS_RATIO", "0.3"),
            ("KEEP_RECENT_MESSAGES", "2"),
        ])
        .await;
    let chat = 9801;
    env.telegram
        .push_photo_with(chat, chat, Some("a red bicycle"), None);
    env.telegram.wait_for_messages(chat, 1, T).await;
    // The photo (765 tokens by the tile rule) and this turn cross the threshold of 900.
    let long = format!("tell me more {}", "lorem ipsum dolor sit amet ".repeat(22));
    env.telegram.push_text(chat, chat, &long);
    env.telegram
        .wait_until("a summary request", T, |_| {
            !env.llm.summary_requests().is_empty()
        })
        .await;
    env.telegram.wait_for_messages(chat, 2, T).await;

    let summary = &env.llm.summary_requests()[0];
    assert!(image_urls(summary).is_empty(), "no image to the summary");
    assert!(
        texts_of(summary)
            .concat()
            .contains("[photo: a red bicycle]"),
        "{summary}"
    );
}

#[actix_web::test]
async fn a_text_file_too_long_for_the_window_is_refused_saying_so() {
    let env = media_env(BLIND);
    let _bot = env
        .spawn_bot_with(&[("CONTEXT_WINDOW_TOKENS", "2048")])
        .await;
    let chat = 9851;
    let text = "lorem ipsum dolor sit amet\n".repeat(400);
    env.telegram
        .push_document(chat, chat, "long.txt", "text/plain", text.as_bytes(), None);
    let reply = env.telegram.wait_for_messages(chat, 1, T).await[0]
        .plain
        .clone();
    assert!(
        reply.contains("This file is too long for the model"),
        "{reply}"
    );
    assert!(env.llm.chat_requests().is_empty(), "0 model calls");
}

#[actix_web::test]
async fn a_download_that_fails_for_a_while_is_retried_and_the_photo_answered_once() {
    let env = media_env(VISION);
    let bot = env.spawn_bot_with(&[("JOB_RETRY_DELAY", "1")]).await;
    let chat = 9901;
    env.telegram.fail_next("getFile", Fault::BadGateway);
    env.telegram.fail_next("download", Fault::ServerError);
    env.telegram
        .push_photo_with(chat, chat, Some("again?"), None);
    env.telegram.wait_for_messages(chat, 1, T).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(env.llm.chat_requests().len(), 1);
    assert_eq!(image_urls(&env.llm.chat_requests()[0]).len(), 1);
    assert_eq!(env.telegram.count_to(chat), 1, "answered once");
    assert_eq!(
        env.telegram.file_downloads().len(),
        1,
        "one download got through"
    );
    let logs = bot.logs();
    assert!(
        logs.contains("download") || logs.contains("getFile"),
        "the failures are logged:\n{logs}"
    );
    assert!(
        !logs.contains(&env.telegram.token()),
        "the token never shows, not even in a failed download:\n{logs}"
    );
}
