//! Files, as the Bot API serves them: the photos and documents a test sends carry `file_id`s the fake
//! knows; `getFile` answers with the file's `file_path` (or "file is too big" over 20 MB, "invalid file_id"
//! for an id it never gave), and `/file/bot<token>/<file_path>` serves the bytes (401 for a wrong token, 404
//! for an unknown path, like Telegram).

use std::collections::HashMap;

use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::state::Shared;
use super::wire::{ApiError, ApiResult, Params};
use super::{lock, FakeTelegram};

/// The most a bot may download from the public Bot API.
const MAX_DOWNLOAD: u64 = 20 * 1024 * 1024;

/// A file the fake holds.
#[derive(Debug, Clone)]
pub(super) struct StoredFile {
    unique_id: String,
    /// Its size as Telegram reports it.
    size: u64,
    /// `None` for a file too big to ever be downloaded (only its size is known).
    bytes: Option<Vec<u8>>,
    path: String,
}

/// The fake's files (inside `State`).
#[derive(Debug, Default)]
pub(super) struct Files {
    by_id: HashMap<String, StoredFile>,
    /// `file_path` → `file_id`.
    by_path: HashMap<String, String>,
    next: u64,
    /// Every download served, by `file_path`.
    downloads: Vec<String>,
}

impl Files {
    /// Keeps a file; returns its `file_id` and `file_unique_id`.
    fn add(
        &mut self,
        folder: &str,
        extension: &str,
        size: u64,
        bytes: Option<Vec<u8>>,
    ) -> (String, String) {
        self.next += 1;
        let n = self.next;
        let file_id = format!("BQACAgIAAxkBAAIF{n:04}file");
        let unique_id = format!("AgADF{n:04}");
        let path = format!("{folder}/file_{n}.{extension}");
        self.by_path.insert(path.clone(), file_id.clone());
        self.by_id.insert(
            file_id.clone(),
            StoredFile {
                unique_id: unique_id.clone(),
                size,
                bytes,
                path,
            },
        );
        (file_id, unique_id)
    }
}

/// `getFile`.
pub(super) fn get_file(shared: &Shared, params: &Params) -> ApiResult {
    let Some(file_id) = params.string("file_id") else {
        return Err(ApiError::bad_request("file_id is empty"));
    };
    let st = lock(&shared.state);
    let Some(file) = st.files.by_id.get(&file_id) else {
        return Err(ApiError::bad_request("invalid file_id"));
    };
    if file.size > MAX_DOWNLOAD {
        return Err(ApiError::bad_request("file is too big"));
    }
    Ok(json!({
        "file_id": file_id,
        "file_unique_id": file.unique_id,
        "file_size": file.size,
        "file_path": file.path,
    }))
}

/// `GET /file/bot<token>/<file_path>` (`rest` is what follows `/file/bot`).
pub(super) fn download(shared: &Shared, rest: &str) -> HttpResponse {
    let not = |status: u16, description: &str| {
        let code = actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::NOT_FOUND);
        HttpResponse::build(code)
            .json(json!({"ok": false, "error_code": status, "description": description}))
    };
    let Some((token, path)) = rest.split_once('/') else {
        return not(404, "Not Found");
    };
    if token != shared.token {
        return not(401, "Unauthorized");
    }
    let mut st = lock(&shared.state);
    let bytes = st
        .files
        .by_path
        .get(path)
        .and_then(|id| st.files.by_id.get(id))
        .and_then(|f| f.bytes.clone());
    match bytes {
        Some(bytes) => {
            st.files.downloads.push(path.to_string());
            HttpResponse::Ok()
                .content_type("application/octet-stream")
                .body(bytes)
        }
        None => not(404, "Not Found"),
    }
}

/// A photo's sizes as Telegram makes them, each a file the fake holds (`(width, height, bytes)`).
fn photo_sizes(st: &mut super::state::State, sizes: &[(u32, u32, Vec<u8>)]) -> Value {
    let sizes: Vec<Value> = sizes
        .iter()
        .map(|(w, h, bytes)| {
            let size = bytes.len() as u64;
            let (file_id, unique_id) = st.files.add("photos", "jpg", size, Some(bytes.clone()));
            json!({"file_id": file_id, "file_unique_id": unique_id, "width": w, "height": h, "file_size": size})
        })
        .collect();
    Value::Array(sizes)
}

/// Bytes that stand for a JPEG of `len` bytes (its start marker, then a pattern).
pub fn jpeg_bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..len.saturating_sub(4)).map(|i| seed.wrapping_add(i as u8)));
    bytes
}

impl FakeTelegram {
    /// Queues a private-chat photo message in three sizes (90×67, 320×240, 1280×960), with `caption`, and in
    /// the album `media_group` if given. Returns the update id.
    pub fn push_photo_with(
        &self,
        user_id: i64,
        chat_id: i64,
        caption: Option<&str>,
        media_group: Option<&str>,
    ) -> i64 {
        let message = self.photo_message(user_id, chat_id, caption, media_group);
        self.push_update(json!({ "message": message }))
    }

    /// Queues an album of `count` photos from `user_id` (one `media_group_id`, the caption on the first),
    /// together, as Telegram sends an album's messages. Returns their update ids.
    pub fn push_album(
        &self,
        user_id: i64,
        chat_id: i64,
        count: usize,
        caption: Option<&str>,
        media_group: &str,
    ) -> Vec<i64> {
        let updates = (0..count)
            .map(|i| {
                let caption = caption.filter(|_| i == 0);
                json!({ "message": self.photo_message(user_id, chat_id, caption, Some(media_group)) })
            })
            .collect();
        self.push_updates_together(updates)
    }

    /// A private-chat photo message (its sizes kept as files), not queued yet.
    fn photo_message(
        &self,
        user_id: i64,
        chat_id: i64,
        caption: Option<&str>,
        media_group: Option<&str>,
    ) -> Value {
        let mut message = self.new_user_message(user_id, chat_id);
        let seed = (chat_id as u8).wrapping_add(message["message_id"].as_i64().unwrap_or(0) as u8);
        {
            let mut st = lock(&self.shared.state);
            message["photo"] = photo_sizes(
                &mut st,
                &[
                    (90, 67, jpeg_bytes(1_234, seed)),
                    (320, 240, jpeg_bytes(15_678, seed)),
                    (1280, 960, jpeg_bytes(98_765, seed)),
                ],
            );
        }
        if let Some(caption) = caption {
            message["caption"] = json!(caption);
        }
        if let Some(group) = media_group {
            message["media_group_id"] = json!(group);
        }
        message
    }

    /// Queues a private-chat document `name` of type `mime` holding `bytes`, with `caption`.
    pub fn push_document(
        &self,
        user_id: i64,
        chat_id: i64,
        name: &str,
        mime: &str,
        bytes: &[u8],
        caption: Option<&str>,
    ) -> i64 {
        let extension = name.rsplit_once('.').map_or("bin", |(_, e)| e).to_string();
        let (file_id, unique_id) = lock(&self.shared.state).files.add(
            "documents",
            &extension,
            bytes.len() as u64,
            Some(bytes.to_vec()),
        );
        self.push_document_message(
            user_id,
            chat_id,
            name,
            mime,
            bytes.len() as u64,
            &file_id,
            &unique_id,
            caption,
        )
    }

    /// Queues a private-chat document of `size` bytes that is never downloadable (over 20 MB: `getFile`
    /// answers "file is too big").
    pub fn push_huge_document(
        &self,
        user_id: i64,
        chat_id: i64,
        name: &str,
        mime: &str,
        size: u64,
    ) -> i64 {
        let (file_id, unique_id) =
            lock(&self.shared.state)
                .files
                .add("documents", "bin", size, None);
        self.push_document_message(
            user_id, chat_id, name, mime, size, &file_id, &unique_id, None,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn push_document_message(
        &self,
        user_id: i64,
        chat_id: i64,
        name: &str,
        mime: &str,
        size: u64,
        file_id: &str,
        unique_id: &str,
        caption: Option<&str>,
    ) -> i64 {
        let mut message = self.new_user_message(user_id, chat_id);
        message["document"] = json!({
            "file_id": file_id, "file_unique_id": unique_id, "file_name": name,
            "mime_type": mime, "file_size": size,
        });
        if let Some(caption) = caption {
            message["caption"] = json!(caption);
        }
        self.push_update(json!({ "message": message }))
    }

    /// Every file download served so far, by `file_path`.
    pub fn file_downloads(&self) -> Vec<String> {
        lock(&self.shared.state).files.downloads.clone()
    }

    /// The bytes the fake serves at `file_path` (as [`FakeTelegram::file_downloads`] names it).
    pub fn file_bytes(&self, file_path: &str) -> Option<Vec<u8>> {
        let st = lock(&self.shared.state);
        let file_id = st.files.by_path.get(file_path)?;
        st.files.by_id.get(file_id)?.bytes.clone()
    }
}
