//! Files over the Bot API: what a message carries (a photo's sizes, a document), `getFile` (which gives a
//! file's `file_path`, for files up to 20 MB), and the download from `{TELEGRAM_API_URL}/file/bot<token>/<path>`
//! — a URL that carries the token, so it is never logged and every error is redacted.

use super::client::{BotApi, CALL_TIMEOUT};
use super::error::TelegramError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The most a bot may download through the public Bot API: `getFile` answers "file is too big" above it.
pub const MAX_DOWNLOAD_BYTES: u64 = 20 * 1024 * 1024;

/// A download of a few megabytes over a slow link; bounds a hung connection.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// One size of a photo (`message.photo` is an array of them, smallest first). Only `file_id` is needed: a size
/// missing another field still parses (so the message is not lost to one odd field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoSize {
    /// What to download it by (valid for this bot only; may change, but keeps working).
    pub file_id: String,
    /// The same for every bot and over time: what the bot caches it under.
    #[serde(default)]
    pub file_unique_id: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    pub file_size: Option<u64>,
}

/// A general file (`message.document`): a text file, a PDF, an archive, …
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub file_id: String,
    #[serde(default)]
    pub file_unique_id: String,
    /// As the sender named it.
    pub file_name: Option<String>,
    /// As the sender's client declared it.
    pub mime_type: Option<String>,
    pub file_size: Option<u64>,
}

/// `getFile`'s answer: where the file can be downloaded from (for at least an hour).
#[derive(Debug, Clone, Deserialize)]
pub struct File {
    pub file_id: String,
    pub file_size: Option<u64>,
    /// Absent when Telegram cannot offer the file for download.
    pub file_path: Option<String>,
}

/// The largest of `sizes` that is at most `max_bytes` (a size whose `file_size` is unknown counts as fitting:
/// Telegram omits it for small ones), else the smallest.
pub fn pick_photo(sizes: &[PhotoSize], max_bytes: u64) -> Option<&PhotoSize> {
    let area = |p: &PhotoSize| u64::from(p.width) * u64::from(p.height);
    sizes
        .iter()
        .filter(|p| p.file_size.is_none_or(|s| s <= max_bytes))
        .max_by_key(|p| area(p))
        .or_else(|| sizes.iter().min_by_key(|p| area(p)))
}

impl BotApi {
    /// `getFile`: the file's `file_path`. [`TelegramError::FileTooBig`] above 20 MB.
    pub async fn get_file(&self, file_id: &str) -> Result<File, TelegramError> {
        self.call(
            "getFile",
            &serde_json::json!({ "file_id": file_id }),
            CALL_TIMEOUT,
        )
        .await
    }

    /// Downloads a file `getFile` gave the path of, at most `max_bytes` of it (more is
    /// [`TelegramError::FileTooBig`]). Errors never carry the URL (it holds the token).
    pub async fn download(
        &self,
        file_path: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, TelegramError> {
        const METHOD: &str = "download";
        let result = self.download_once(file_path, max_bytes).await;
        if let Some(observe) = &self.observer {
            let outcome = match &result {
                Ok(_) => "ok",
                Err(TelegramError::Server { .. }) => "5xx",
                Err(TelegramError::Network { .. }) => "network",
                Err(TelegramError::Timeout { .. }) => "timeout",
                Err(_) => "4xx",
            };
            observe(METHOD, outcome);
        }
        result
    }

    async fn download_once(
        &self,
        file_path: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, TelegramError> {
        const METHOD: &str = "download";
        let url = format!("{}{}", self.file_base, file_path.trim_start_matches('/'));
        let mut response = self
            .http
            .get(url)
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .await
            .map_err(|e| match e {
                awc::error::SendRequestError::Timeout => TelegramError::Timeout { method: METHOD },
                other => TelegramError::Network {
                    method: METHOD,
                    reason: self.redactor.redact(&other.to_string()).into_owned(),
                },
            })?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            401 => return Err(TelegramError::Unauthorized { method: METHOD }),
            500..=599 => {
                return Err(TelegramError::Server {
                    method: METHOD,
                    code: status,
                })
            }
            _ => {
                return Err(TelegramError::Rejected {
                    method: METHOD,
                    code: status,
                    description: format!("the file could not be downloaded (HTTP {status})"),
                })
            }
        }
        let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        let body = response.body().limit(limit).await.map_err(|e| match e {
            awc::error::PayloadError::Overflow => TelegramError::FileTooBig {
                method: METHOD,
                description: format!("the file is over {max_bytes} bytes"),
            },
            other => TelegramError::Network {
                method: METHOD,
                reason: self.redactor.redact(&other.to_string()).into_owned(),
            },
        })?;
        Ok(body.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(id: &str, w: u32, h: u32, bytes: Option<u64>) -> PhotoSize {
        PhotoSize {
            file_id: id.into(),
            file_unique_id: format!("u{id}"),
            width: w,
            height: h,
            file_size: bytes,
        }
    }

    #[test]
    fn the_largest_photo_size_under_the_limit_is_chosen() {
        let sizes = [
            size("s", 90, 60, Some(1_000)),
            size("m", 320, 240, Some(20_000)),
            size("x", 1280, 960, Some(200_000)),
            size("w", 2560, 1920, Some(6_000_000)),
        ];
        assert_eq!(pick_photo(&sizes, 5_000_000).unwrap().file_id, "x");
        assert_eq!(pick_photo(&sizes, 10_000_000).unwrap().file_id, "w");
        assert_eq!(
            pick_photo(&sizes, 500).unwrap().file_id,
            "s",
            "none fits: the smallest"
        );
        assert!(pick_photo(&[], 5_000_000).is_none());
        let unknown = [size("a", 90, 60, None), size("b", 800, 600, None)];
        assert_eq!(pick_photo(&unknown, 1).unwrap().file_id, "b");
    }

    #[test]
    fn a_message_with_a_photo_and_a_document_parses_as_telegram_sends_it() {
        let photo: Vec<PhotoSize> = serde_json::from_value(serde_json::json!([
            {"file_id": "AgAD1", "file_unique_id": "AQAD1", "width": 90, "height": 67, "file_size": 1200},
            {"file_id": "AgAD2", "file_unique_id": "AQAD2", "width": 1280, "height": 960}
        ]))
        .unwrap();
        assert_eq!(photo[1].file_size, None);
        let doc: Document = serde_json::from_value(serde_json::json!({
            "file_id": "BQAD", "file_unique_id": "AgAD", "file_name": "notes.md",
            "mime_type": "text/markdown", "file_size": 42
        }))
        .unwrap();
        assert_eq!(doc.file_name.as_deref(), Some("notes.md"));
    }
}
