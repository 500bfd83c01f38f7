//! Proof that the fake Telegram serves files as the Bot API documents them: photos in several sizes, `getFile`
//! (its `file_path`, "file is too big" over 20 MB, "invalid file_id"), the file server (401 for a wrong token,
//! 404 for an unknown path, failures on demand), and an album's messages delivered together.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{FakeTelegram, Fault};

const TOKEN: &str = "123456:TEST-secret-token-abc";
const USER: i64 = 1001;

/// `POST /bot<token>/<method>` with a JSON body: status and body.
async fn call(tg: &FakeTelegram, method: &str, params: Value) -> (u16, Value) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let url = format!("{}/bot{TOKEN}/{method}", tg.url());
    let mut resp = client.post(&url).send_json(&params).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.body().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// `GET /file/bot<token>/<path>`: status and bytes.
async fn download(tg: &FakeTelegram, token: &str, path: &str) -> (u16, Vec<u8>) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let url = format!("{}/file/bot{token}/{path}", tg.url());
    let mut resp = client.get(&url).send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.body().limit(1 << 20).await.unwrap();
    (status, body.to_vec())
}

#[actix_web::test]
async fn fakes_telegram_serves_photos_and_documents_through_get_file_and_the_file_server() {
    let tg = FakeTelegram::start(TOKEN);
    tg.push_photo_with(USER, USER, Some("a cat"), None);
    tg.push_huge_document(USER, USER, "movie.txt", "text/plain", 21 * 1024 * 1024);
    let (_, updates) = call(&tg, "getUpdates", json!({})).await;
    let message = &updates["result"][0]["message"];
    assert_eq!(message["caption"], "a cat");
    let sizes = message["photo"].as_array().unwrap();
    assert_eq!(sizes.len(), 3, "Telegram sends each size it made");
    let widths: Vec<i64> = sizes.iter().map(|s| s["width"].as_i64().unwrap()).collect();
    assert_eq!(widths, [90, 320, 1280], "smallest first");
    for size in sizes {
        for field in ["file_id", "file_unique_id", "height", "file_size"] {
            assert!(size.get(field).is_some(), "{field} in {size}");
        }
    }

    let largest = &sizes[2];
    let (status, file) = call(&tg, "getFile", json!({"file_id": largest["file_id"]})).await;
    assert_eq!(status, 200, "{file}");
    let path = file["result"]["file_path"].as_str().unwrap().to_string();
    assert_eq!(file["result"]["file_size"], largest["file_size"]);
    assert_eq!(file["result"]["file_unique_id"], largest["file_unique_id"]);

    let (status, bytes) = download(&tg, TOKEN, &path).await;
    assert_eq!(status, 200);
    assert_eq!(bytes.len() as i64, largest["file_size"].as_i64().unwrap());
    assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
    assert_eq!(tg.file_downloads(), std::slice::from_ref(&path));

    assert_eq!(download(&tg, "123456:wrong", &path).await.0, 401);
    assert_eq!(download(&tg, TOKEN, "photos/nothing.jpg").await.0, 404);
    tg.fail_next("download", Fault::ServerError);
    assert_eq!(download(&tg, TOKEN, &path).await.0, 500, "on demand");
    assert_eq!(download(&tg, TOKEN, &path).await.0, 200, "then served");

    let (status, body) = call(&tg, "getFile", json!({"file_id": "no-such-file"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["description"], "Bad Request: invalid file_id");
    let huge = &updates["result"][1]["message"]["document"];
    assert_eq!(huge["file_name"], "movie.txt");
    let (status, body) = call(&tg, "getFile", json!({"file_id": huge["file_id"]})).await;
    assert_eq!(status, 400);
    assert_eq!(body["description"], "Bad Request: file is too big");
}

#[actix_web::test]
async fn fakes_telegram_delivers_an_albums_messages_together_with_one_caption() {
    let tg = FakeTelegram::start(TOKEN);
    tg.push_album(USER, USER, 3, Some("our trip"), "1357");
    let (_, updates) = call(&tg, "getUpdates", json!({})).await;
    let messages: Vec<&Value> = updates["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| &u["message"])
        .collect();
    assert_eq!(messages.len(), 3, "in one answer");
    assert!(messages.iter().all(|m| m["media_group_id"] == "1357"));
    let captions: Vec<&Value> = messages.iter().map(|m| &m["caption"]).collect();
    assert_eq!(captions, [&json!("our trip"), &Value::Null, &Value::Null]);
}
