//! The parsers the settings share: each checks a setting's text and turns it into a value, or says in plain
//! words what is wrong.

use crate::config::{redact_url_password, AccessList};
use crate::ids::{ChatId, UserId};
use crate::secret::Secret;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

/// `digits:rest`, where rest is at least a few URL-safe characters.
pub(super) fn looks_like_bot_token(t: &str) -> bool {
    match t.split_once(':') {
        Some((id, rest)) => {
            !id.is_empty()
                && id.chars().all(|c| c.is_ascii_digit())
                && rest.len() >= 5
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }
        None => false,
    }
}

/// Positive user ids separated by commas (empty entries skipped), or `*`.
pub(super) fn access_list(list: &str) -> Result<AccessList, String> {
    if list == "*" {
        return Ok(AccessList::Everyone);
    }
    let mut ids = BTreeSet::new();
    let mut bad = Vec::new();
    for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match part.parse::<i64>() {
            Ok(id) if id > 0 => {
                ids.insert(UserId(id));
            }
            _ => bad.push(part.to_string()),
        }
    }
    if !bad.is_empty() {
        Err(format!(
            "ALLOWED_USER_IDS has entries that are not numeric user ids: {}. Use numbers separated by \
             commas, or * for everyone.",
            bad.join(", ")
        ))
    } else if ids.is_empty() {
        Err("ALLOWED_USER_IDS lists no user id. Use numbers separated by commas, or * for everyone.".into())
    } else {
        Ok(AccessList::Only(ids))
    }
}

/// Negative chat ids (groups and supergroups) separated by commas, empty entries skipped.
pub(super) fn chat_list(name: &str, list: &str) -> Result<BTreeSet<ChatId>, String> {
    let mut ids = BTreeSet::new();
    let mut bad = Vec::new();
    for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match part.parse::<i64>() {
            Ok(id) if id < 0 => {
                ids.insert(ChatId(id));
            }
            _ => bad.push(part.to_string()),
        }
    }
    if bad.is_empty() {
        Ok(ids)
    } else {
        Err(format!(
            "{name} has entries that are not group chat ids: {}. Group ids are negative numbers \
             (e.g. -1001234567890), separated by commas.",
            bad.join(", ")
        ))
    }
}

/// An `http://` or `https://` URL, without its trailing slashes; `example` is named in the problem.
pub(super) fn http_url(name: &str, url: &str, example: &str) -> Result<String, String> {
    if (url.starts_with("http://") || url.starts_with("https://")) && url.len() > "https://".len() {
        Ok(url.trim_end_matches('/').to_string())
    } else {
        Err(format!(
            "{name} must be an http:// or https:// URL (e.g. {example}), not {url:?}."
        ))
    }
}

/// A `redis://`, `rediss://` or `redis+unix://` URL the Redis client accepts. The problem hides its password.
pub(super) fn redis_url(url: &str) -> Result<Secret, String> {
    if !(url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("redis+unix://"))
    {
        return Err("REDIS_URL must start with redis://, rediss:// or redis+unix:// (e.g. redis://127.0.0.1:6379/0).".into());
    }
    match redis::Client::open(url) {
        Ok(_) => Ok(Secret::new(url)),
        Err(_) => Err(format!(
            "REDIS_URL is not a valid Redis URL ({}); expected e.g. redis://127.0.0.1:6379/0.",
            redact_url_password(url)
        )),
    }
}

/// A whole number within `range`; `unit` says what it counts, in the problem.
pub(super) fn whole<T>(
    name: &str,
    s: &str,
    range: RangeInclusive<T>,
    unit: &str,
) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + fmt::Display,
{
    match s.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "{name} must be a whole number of {unit} from {} to {}, not {s:?}.",
            range.start(),
            range.end()
        )),
    }
}

/// Whole seconds within `range`, with an optional `s` suffix (`300` or `300s`).
pub(super) fn seconds(name: &str, s: &str, range: RangeInclusive<u64>) -> Result<Duration, String> {
    whole(name, s.trim_end_matches('s').trim(), range, "seconds").map(Duration::from_secs)
}

/// Whole milliseconds within `range` (no unit suffix).
pub(super) fn millis(name: &str, s: &str, range: RangeInclusive<u64>) -> Result<Duration, String> {
    whole(name, s, range, "milliseconds").map(Duration::from_millis)
}
