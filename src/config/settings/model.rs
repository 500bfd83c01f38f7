//! The model server's settings: where the OpenAI-compatible server is, the model asked for and its key.

use super::parse::http_url;
use super::{Fallback, Legacy, Setting};
use crate::secret::Secret;

/// Where `aichat --serve` listens by default.
pub const DEFAULT_AICHAT_BASE_URL: &str = "http://127.0.0.1:8000";

/// The OpenAI-compatible server, without a trailing slash or `/v1`.
pub static AICHAT_BASE_URL: Setting<String> = Setting {
    name: "AICHAT_BASE_URL",
    legacy: Legacy::None,
    default: Fallback::Value(|| DEFAULT_AICHAT_BASE_URL.to_string()),
    parse: |name, s| {
        http_url(name, s, DEFAULT_AICHAT_BASE_URL)
            .map(|u| u.strip_suffix("/v1").map(str::to_string).unwrap_or(u))
    },
    show: |c| c.llm.base_url.clone(),
};

/// The model name sent with each request.
/// `default`: aichat accepts it for its configured model.
pub static AICHAT_MODEL: Setting<String> = Setting {
    name: "AICHAT_MODEL",
    legacy: Legacy::None,
    default: Fallback::Value(|| "default".to_string()),
    parse: |_, s| Ok(s.to_string()),
    show: |c| c.llm.model.clone(),
};

/// The bearer key for the model server, if it wants one. Secret.
pub static AICHAT_API_KEY: Setting<Option<Secret>> = Setting {
    name: "AICHAT_API_KEY",
    legacy: Legacy::None,
    default: Fallback::Value(|| None),
    parse: |_, s| Ok(Some(Secret::new(s))),
    show: |c| {
        c.llm
            .api_key
            .as_ref()
            .map_or("(not set)".into(), |_| "<redacted>".into())
    },
};
