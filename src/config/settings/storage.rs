//! The storage settings: the Redis server of the job queue, its key prefix and the SQLite file.

use super::parse::redis_url;
use super::{Fallback, Legacy, Setting};
use crate::config::redact_url_password;
use crate::secret::Secret;
use std::path::PathBuf;

/// The Redis server of the job queue; a password in it is secret.
/// The default: a local Redis on its standard port, database 0.
pub static REDIS_URL: Setting<Secret> = Setting {
    name: "REDIS_URL",
    legacy: Legacy::Parts(&["REDIS_HOST", "REDIS_PORT", "REDIS_DB"], |env| {
        format!(
            "redis://{}:{}/{}",
            env.get("REDIS_HOST").unwrap_or("127.0.0.1"),
            env.get("REDIS_PORT").unwrap_or("6379"),
            env.get("REDIS_DB").unwrap_or("0")
        )
    }),
    default: Fallback::Value(|| Secret::new("redis://127.0.0.1:6379/0")),
    parse: |_, url| redis_url(url),
    show: |c| redact_url_password(c.redis.url.expose()),
};

/// The start of every Redis key the bot writes (`{prefix}:…`).
/// `atb`: short for aichat-telegram-bot.
pub static REDIS_KEY_PREFIX: Setting<String> = Setting {
    name: "REDIS_KEY_PREFIX",
    legacy: Legacy::None,
    default: Fallback::Value(|| "atb".to_string()),
    parse: |_, s| {
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        {
            Ok(s.to_string())
        } else {
            Err("REDIS_KEY_PREFIX may only contain letters, digits, '-', '_', '.' and ':'.".into())
        }
    },
    show: |c| c.redis.key_prefix.clone(),
};

/// The SQLite file: a plain path, or `sqlite://path`, `sqlite:path`, `file:path`.
pub static DATABASE_URL: Setting<PathBuf> = Setting {
    name: "DATABASE_URL",
    legacy: Legacy::Alias(&["DB_PATH"]),
    default: Fallback::Value(|| database_path(None)),
    parse: |_, s| Ok(database_path(Some(s))),
    show: |c| c.database_path.display().to_string(),
};

/// The database file of the Python bot this one replaces, so an upgrade finds its file name familiar.
const DEFAULT_DATABASE_PATH: &str = "sessions.db";

/// Accepts a plain path or the `sqlite://path`, `sqlite:path` and `file:path` forms; `None` is the default file.
pub fn database_path(value: Option<&str>) -> PathBuf {
    let v = value.map(str::trim).unwrap_or(DEFAULT_DATABASE_PATH);
    let stripped = v
        .strip_prefix("sqlite://")
        .or_else(|| v.strip_prefix("sqlite:"))
        .or_else(|| v.strip_prefix("file:"))
        .unwrap_or(v);
    PathBuf::from(stripped)
}
