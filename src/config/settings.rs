//! The table of settings: every environment variable the bot reads, with its older names, its default, how its
//! text is checked and turned into a value, and how `--check-config` shows it.
//!
//! Each setting is a typed `static` [`Setting`], documented by its one-line doc comment (and, below it, why its
//! default is what it is); [`ALL`] lists them in the order `--check-config` prints them. [`super::Config`] is
//! built by reading each one through a [`Reader`], so a setting's name, default and rules are written once, in
//! this table. Before any parser sees a value it is trimmed, and an empty value counts as unset.
//!
//! This file holds the machinery and [`ALL`]; the settings themselves are written in one file per group
//! (`telegram`, `model`, `storage`, `http`, `work`, `context`, `queue`, `pacing`, `usage`, `webhook`, `media`, roughly in the order of [`ALL`]) and
//! re-exported here, so each is reached as `settings::NAME`; `parse` holds the parsers they share.

mod context;
mod http;
mod media;
mod model;
mod pacing;
mod parse;
mod queue;
mod storage;
mod telegram;
mod usage;
mod webhook;
mod work;

pub use context::*;
pub use http::*;
pub use media::*;
pub use model::*;
pub use pacing::*;
pub use queue::*;
pub use storage::*;
pub use telegram::*;
pub use usage::*;
pub use webhook::*;
pub use work::*;

use super::Config;
use std::borrow::Cow;
use std::collections::HashMap;

/// The environment as the settings see it.
pub struct Env {
    /// Names in upper case (a name is matched whatever its case, as envy did before this table), values
    /// trimmed, empty values left out (empty means unset).
    vars: HashMap<String, String>,
}

impl Env {
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Env {
        let vars = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let value = value.trim();
                (!value.is_empty()).then(|| (name.to_uppercase(), value.to_string()))
            })
            .collect();
        Env { vars }
    }

    /// The trimmed, non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// Older names (the Python bot's) a setting is read from when its own name is not set.
pub enum Legacy {
    None,
    /// Other names for the same value, tried in order.
    Alias(&'static [&'static str]),
    /// Names whose values are put together into this one's text (`REDIS_HOST`, `REDIS_PORT`, `REDIS_DB` into a
    /// URL), used when at least one of them is set; the function gives each unset one its default.
    Parts(&'static [&'static str], fn(&Env) -> String),
}

/// What an unset setting means.
pub enum Fallback<T: 'static> {
    /// This value.
    Value(fn() -> T),
    /// A problem, told in these words.
    Required(&'static str),
}

/// One environment variable: see the module's doc.
pub struct Setting<T: 'static> {
    /// The name operators set (and `--check-config` prints).
    pub name: &'static str,
    pub legacy: Legacy,
    pub default: Fallback<T>,
    /// Turns the text into a value, or says in plain words what is wrong. It is given the setting's name to put
    /// in its message, and never repeats a secret's value.
    pub parse: fn(&'static str, &str) -> Result<T, String>,
    /// The value as `--check-config` prints it, secrets redacted.
    pub show: fn(&Config) -> String,
}

impl<T> Setting<T> {
    /// The text set for this setting: under its name, else under its legacy names.
    fn text<'e>(&self, env: &'e Env) -> Option<Cow<'e, str>> {
        if let Some(v) = env.get(self.name) {
            return Some(Cow::Borrowed(v));
        }
        match &self.legacy {
            Legacy::None => None,
            Legacy::Alias(names) => names.iter().find_map(|n| env.get(n)).map(Cow::Borrowed),
            Legacy::Parts(names, build) => names
                .iter()
                .any(|n| env.get(n).is_some())
                .then(|| Cow::Owned(build(env))),
        }
    }

    fn value(&self, env: &Env) -> Result<T, String> {
        match (self.text(env), &self.default) {
            (Some(text), _) => (self.parse)(self.name, &text),
            (None, Fallback::Value(default)) => Ok(default()),
            (None, Fallback::Required(problem)) => Err((*problem).to_string()),
        }
    }
}

/// A setting whatever its type: what [`ALL`] lists.
pub trait Entry: Sync {
    fn name(&self) -> &'static str;
    /// The older names it is also read from.
    #[cfg(test)]
    fn legacy_names(&self) -> &'static [&'static str];
    fn show(&self, config: &Config) -> String;
}

impl<T> Entry for Setting<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    #[cfg(test)]
    fn legacy_names(&self) -> &'static [&'static str] {
        match self.legacy {
            Legacy::None => &[],
            Legacy::Alias(names) | Legacy::Parts(names, _) => names,
        }
    }
    fn show(&self, config: &Config) -> String {
        (self.show)(config)
    }
}

/// Reads settings, gathering every problem instead of stopping at the first.
pub struct Reader<'e> {
    env: &'e Env,
    /// Each problem in plain words, in the order found.
    pub problems: Vec<String>,
    /// The names read so far (a test checks they are exactly [`ALL`]).
    pub names: Vec<&'static str>,
}

impl<'e> Reader<'e> {
    pub fn new(env: &'e Env) -> Reader<'e> {
        Reader {
            env,
            problems: Vec::new(),
            names: Vec::new(),
        }
    }

    /// The setting's value (its default when unset), or `None` with the problem noted.
    pub fn read<T>(&mut self, setting: &Setting<T>) -> Option<T> {
        self.names.push(setting.name);
        setting
            .value(self.env)
            .map_err(|problem| self.problems.push(problem))
            .ok()
    }

    /// Whether the operator set it (under any of its names).
    pub fn is_set<T>(&self, setting: &Setting<T>) -> bool {
        setting.text(self.env).is_some()
    }
}

/// Every setting, in the order `--check-config` prints them.
pub static ALL: &[&dyn Entry] = &[
    &TELEGRAM_BOT_TOKEN,
    &TELEGRAM_API_URL,
    &TELEGRAM_POLL_TIMEOUT,
    &ALLOWED_USER_IDS,
    &REFUSAL_NOTICE_INTERVAL,
    &ALLOWED_CHAT_IDS,
    &GROUP_MODE,
    &GROUP_CONTEXT_MESSAGES,
    &AICHAT_BASE_URL,
    &AICHAT_MODEL,
    &AICHAT_API_KEY,
    &ALLOWED_MODELS,
    &REDIS_URL,
    &REDIS_KEY_PREFIX,
    &DATABASE_URL,
    &API_HOST,
    &API_PORT,
    &API_TOKEN,
    &WORKERS,
    &MAX_CONCURRENT_JOBS,
    &JOB_TIMEOUT,
    &BACKGROUND_THRESHOLD_TOKENS,
    &TOKENIZER_PATH,
    &CONTEXT_WINDOW_TOKENS,
    &COMPRESS_RATIO,
    &KEEP_RECENT_MESSAGES,
    &SYSTEM_PROMPT,
    &COMPRESSION_NOTICE,
    &JOB_LEASE,
    &JOB_MAX_ATTEMPTS,
    &JOB_RETRY_DELAY,
    &MERGE_WINDOW_MS,
    &SHUTDOWN_GRACE,
    &STREAM_EDIT_INTERVAL_MS,
    &TELEGRAM_RATE_LIMIT,
    &TELEGRAM_CHAT_GAP_MS,
    &LLM_IDLE_TIMEOUT,
    &ADMIN_USER_IDS,
    &USER_DAILY_TOKENS,
    &USER_MONTHLY_TOKENS,
    &USER_LIMITS,
    &MODEL_PRICES,
    &PROCESS_ROLE,
    &TELEGRAM_WEBHOOK_URL,
    &WEBHOOK_SECRET,
    &WEBHOOK_PORT,
    &VISION_MODELS,
    &MAX_IMAGE_BYTES,
    &MAX_DOCUMENT_BYTES,
    &IMAGE_CACHE_MB,
];
