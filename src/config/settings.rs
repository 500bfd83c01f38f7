//! The table of settings: every environment variable the bot reads, with its older names, its default, how its
//! text is checked and turned into a value, and how `--check-config` shows it.
//!
//! Each setting is a typed `static` [`Setting`], documented by its one-line doc comment (and, below it, why its
//! default is what it is); [`ALL`] lists them in the order `--check-config` prints them. [`super::Config`] is
//! built by reading each one through a [`Reader`], so a setting's name, default and rules are written once, here.
//! Before any parser sees a value it is trimmed, and an empty value counts as unset.

use super::{redact_token, redact_url_password, AccessList, Config, GroupMode};
use crate::ids::{ChatId, UserId};
use crate::secret::Secret;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// Telegram's public Bot API; a self-hosted Bot API server is set with `TELEGRAM_API_URL`.
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
/// Where `aichat --serve` listens by default.
pub const DEFAULT_AICHAT_BASE_URL: &str = "http://127.0.0.1:8000";
/// The database file of the Python bot this one replaces, so an upgrade finds its file name familiar.
const DEFAULT_DATABASE_PATH: &str = "sessions.db";

/// Workers take jobs from Redis; each runs many jobs at once, so one per CPU core is plenty: more threads than
/// cores only add context switches (measured: 2 workers on 2 cores answer 8–15% more messages per second
/// than 4; see docs/benchmarks.md).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 64))
}

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
];

// --- Telegram --------------------------------------------------------------------------------------------------

/// The bot's token from @BotFather. Required; secret.
pub static TELEGRAM_BOT_TOKEN: Setting<Secret> = Setting {
    name: "TELEGRAM_BOT_TOKEN",
    legacy: Legacy::None,
    default: Fallback::Required(
        "TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather in Telegram \
         (https://t.me/BotFather, command /newbot) and put the token it gives you here.",
    ),
    parse: |_, t| {
        if looks_like_bot_token(t) {
            Ok(Secret::new(t))
        } else {
            Err("TELEGRAM_BOT_TOKEN does not look like a bot token: expected digits, a colon, then letters, \
                 digits, '-' or '_' (as @BotFather gives it, e.g. 123456789:AAE...)."
                .into())
        }
    },
    show: |c| redact_token(c.telegram.token.expose()),
};

/// The Bot API server, without a trailing slash.
pub static TELEGRAM_API_URL: Setting<String> = Setting {
    name: "TELEGRAM_API_URL",
    legacy: Legacy::None,
    default: Fallback::Value(|| DEFAULT_TELEGRAM_API_URL.to_string()),
    parse: |name, s| http_url(name, s, DEFAULT_TELEGRAM_API_URL),
    show: |c| c.telegram.api_url.clone(),
};

/// The long-polling wait asked of Telegram per `getUpdates`, in seconds (no `s` suffix).
/// 30 s: few empty round trips, well under the 50 s allowed; the HTTP client waits a little longer than this.
pub static TELEGRAM_POLL_TIMEOUT: Setting<Duration> = Setting {
    name: "TELEGRAM_POLL_TIMEOUT",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(30)),
    parse: |name, s| whole(name, s, 1..=50, "seconds").map(Duration::from_secs),
    show: |c| c.telegram.poll_timeout.as_secs().to_string(),
};

/// Who may talk to the bot: numeric user ids separated by commas, or `*` for everyone. Required.
pub static ALLOWED_USER_IDS: Setting<AccessList> = Setting {
    name: "ALLOWED_USER_IDS",
    legacy: Legacy::None,
    default: Fallback::Required(
        "ALLOWED_USER_IDS is empty, so the bot would answer nobody. Set it to your numeric Telegram user \
         id (or several, separated by commas); the bot tells a refused user their id. Use * to allow \
         everyone on purpose.",
    ),
    parse: |_, s| access_list(s),
    show: |c| match &c.access {
        AccessList::Everyone => "* (everyone)".to_string(),
        AccessList::Only(ids) => ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(","),
    },
};

/// The least time between two "Access denied." replies to the same stranger, in seconds; 0: reply to every message.
/// 300 s: a stranger still learns their user id at once, but one who keeps writing gets a reply every five minutes
/// at most, not one per message.
pub static REFUSAL_NOTICE_INTERVAL: Setting<Duration> = Setting {
    name: "REFUSAL_NOTICE_INTERVAL",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(300)),
    parse: |name, s| seconds(name, s, 0..=86_400),
    show: |c| c.refusal_notice_interval.as_secs().to_string(),
};

/// Groups whose every member may talk to the bot: their numeric chat ids (negative, as Telegram gives them),
/// separated by commas. Empty: in groups, only the users of `ALLOWED_USER_IDS` are answered.
pub static ALLOWED_CHAT_IDS: Setting<BTreeSet<ChatId>> = Setting {
    name: "ALLOWED_CHAT_IDS",
    legacy: Legacy::None,
    default: Fallback::Value(BTreeSet::new),
    parse: |name, s| chat_list(name, s),
    show: |c| {
        c.allowed_chats
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    },
};

/// Which messages the bot answers in groups: `mention` (only those that address it), `all` or `off`.
/// `mention`: a group is a conversation among people; the bot speaks when spoken to, as Telegram's privacy mode
/// intends.
pub static GROUP_MODE: Setting<GroupMode> = Setting {
    name: "GROUP_MODE",
    legacy: Legacy::None,
    default: Fallback::Value(|| GroupMode::Mention),
    parse: |name, s| match s.to_ascii_lowercase().as_str() {
        "mention" => Ok(GroupMode::Mention),
        "all" => Ok(GroupMode::All),
        "off" => Ok(GroupMode::Off),
        _ => Err(format!("{name} must be mention, all or off, not {s:?}.")),
    },
    show: |c| c.group_mode.as_str().to_string(),
};

/// The most unaddressed messages a group's memory may keep: 50 short messages are a few thousand tokens, a small
/// part of any prompt; more would be better served by adding the bot with `GROUP_MODE=all`.
pub const MAX_GROUP_CONTEXT_MESSAGES: usize = 50;

/// How many of a group's latest unaddressed messages are kept and given to the model with the next message that
/// addresses the bot (needs privacy mode off); 0: none. Not answered, not stored in the conversation.
/// 0: what people say among themselves reaches the model only when the operator chooses so.
pub static GROUP_CONTEXT_MESSAGES: Setting<usize> = Setting {
    name: "GROUP_CONTEXT_MESSAGES",
    legacy: Legacy::None,
    default: Fallback::Value(|| 0),
    parse: |name, s| whole(name, s, 0..=MAX_GROUP_CONTEXT_MESSAGES, "messages"),
    show: |c| c.group_context_messages.to_string(),
};

// --- The model server ------------------------------------------------------------------------------------------

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

// --- Storage ---------------------------------------------------------------------------------------------------

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

// --- HTTP ------------------------------------------------------------------------------------------------------

/// The address the HTTP server listens on (checked when it is bound, not here).
/// Loopback: `/health` and `/ready` have no authentication.
pub static API_HOST: Setting<String> = Setting {
    name: "API_HOST",
    legacy: Legacy::None,
    default: Fallback::Value(|| "127.0.0.1".to_string()),
    parse: |_, s| Ok(s.to_string()),
    show: |c| c.api_host.clone(),
};

/// The HTTP port; 0 picks a free one.
/// 8080: unprivileged (no root needed to bind it), the usual port of a local HTTP service.
pub static API_PORT: Setting<u16> = Setting {
    name: "API_PORT",
    legacy: Legacy::None,
    default: Fallback::Value(|| 8080),
    parse: |name, s| whole(name, s, 0..=65535, "a port"),
    show: |c| c.api_port.to_string(),
};

/// Enables the admin API (`/api/…`) and the dashboard, as the bearer token every call must carry. Secret.
pub static API_TOKEN: Setting<Option<Secret>> = Setting {
    name: "API_TOKEN",
    legacy: Legacy::None,
    default: Fallback::Value(|| None),
    parse: |_, t| {
        if t.len() < 16 {
            Err("API_TOKEN must be at least 16 characters long (it guards the admin API); generate one with \
                 e.g. `openssl rand -hex 24`."
                .into())
        } else {
            Ok(Some(Secret::new(t)))
        }
    },
    show: |c| {
        c.api_token
            .as_ref()
            .map_or("(not set: no admin API)".into(), |_| "<redacted>".into())
    },
};

// --- Work ------------------------------------------------------------------------------------------------------

/// Worker threads taking jobs from Redis. Default: one per CPU core (see [`default_workers`]).
pub static WORKERS: Setting<usize> = Setting {
    name: "WORKERS",
    legacy: Legacy::None,
    default: Fallback::Value(default_workers),
    parse: |name, s| whole(name, s, 1..=64, "workers"),
    show: |c| c.workers.to_string(),
};

/// Jobs in flight at once across all workers.
/// 64: jobs mostly wait on the LLM, so many can run at once.
pub static MAX_CONCURRENT_JOBS: Setting<usize> = Setting {
    name: "MAX_CONCURRENT_JOBS",
    legacy: Legacy::None,
    default: Fallback::Value(|| 64),
    parse: |name, s| whole(name, s, 1..=10_000, "jobs"),
    show: |c| c.max_concurrent_jobs.to_string(),
};

/// The longest one attempt of a job may take, in seconds.
/// 300 s: the Python bot's RQ job timeout.
pub static JOB_TIMEOUT: Setting<Duration> = Setting {
    name: "JOB_TIMEOUT",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(300)),
    parse: |name, s| seconds(name, s, 1..=86_400),
    show: |c| c.job_timeout.as_secs().to_string(),
};

/// Messages estimated at or above this many tokens go to the `default` queue instead of `high`.
/// 5000: far above a typed question, so only long pastes and documents wait behind the quick ones.
pub static BACKGROUND_THRESHOLD_TOKENS: Setting<usize> = Setting {
    name: "BACKGROUND_THRESHOLD_TOKENS",
    legacy: Legacy::None,
    default: Fallback::Value(|| 5000),
    parse: |name, s| whole(name, s, 1..=10_000_000, "tokens"),
    show: |c| c.background_threshold_tokens.to_string(),
};

// --- Tokens and context ----------------------------------------------------------------------------------------

/// A Hugging Face `tokenizer.json` for exact token counts; unset: a fast estimate.
pub static TOKENIZER_PATH: Setting<Option<PathBuf>> = Setting {
    name: "TOKENIZER_PATH",
    legacy: Legacy::None,
    default: Fallback::Value(|| None),
    parse: |_, s| {
        let path = PathBuf::from(s);
        if path.is_file() {
            Ok(Some(path))
        } else {
            Err(format!(
                "TOKENIZER_PATH points to {}, which is not a readable file. Give the path of a Hugging Face \
                 tokenizer.json, or unset it to use the built-in estimate.",
                path.display()
            ))
        }
    },
    show: |c| {
        c.tokenizer_path
            .as_ref()
            .map_or("(not set: fast estimate)".into(), |p| {
                p.display().to_string()
            })
    },
};

/// The model's context window in tokens; when set, the model server is not asked for it.
/// 128000: a common window of current models, used until (or unless) the server reports the model's.
pub static CONTEXT_WINDOW_TOKENS: Setting<usize> = Setting {
    name: "CONTEXT_WINDOW_TOKENS",
    legacy: Legacy::Alias(&["DEFAULT_CONTEXT_WINDOW"]),
    default: Fallback::Value(|| 128_000),
    parse: |name, s| whole(name, s, 1024..=100_000_000, "tokens"),
    show: |c| c.context.window_tokens.to_string(),
};

/// The share of the window above which a conversation is compressed, strictly between 0 and 1.
/// 0.75: compression starts while a quarter of the window is still free, the most kept for an answer.
pub static COMPRESS_RATIO: Setting<f64> = Setting {
    name: "COMPRESS_RATIO",
    legacy: Legacy::None,
    default: Fallback::Value(|| 0.75),
    parse: |_, s| match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r < 1.0 => Ok(r),
        _ => Err(format!(
            "COMPRESS_RATIO must be a number between 0 and 1 (e.g. 0.75), not {s:?}."
        )),
    },
    show: |c| c.context.compress_ratio.to_string(),
};

/// The newest messages compression always keeps as they are.
/// 6: the last three exchanges stay word for word, enough for a follow-up question.
pub static KEEP_RECENT_MESSAGES: Setting<usize> = Setting {
    name: "KEEP_RECENT_MESSAGES",
    legacy: Legacy::None,
    default: Fallback::Value(|| 6),
    parse: |name, s| whole(name, s, 0..=1000, "messages"),
    show: |c| c.context.keep_recent_messages.to_string(),
};

/// The default system prompt of chats that have not set their own.
pub static SYSTEM_PROMPT: Setting<Option<String>> = Setting {
    name: "SYSTEM_PROMPT",
    legacy: Legacy::None,
    default: Fallback::Value(|| None),
    parse: |_, s| Ok(Some(s.to_string())),
    show: |c| {
        c.system_prompt
            .clone()
            .unwrap_or_else(|| "(not set)".into())
    },
};

/// Tell the chat when its conversation was compressed.
/// On: a user should know why the bot forgot details.
pub static COMPRESSION_NOTICE: Setting<bool> = Setting {
    name: "COMPRESSION_NOTICE",
    legacy: Legacy::None,
    default: Fallback::Value(|| true),
    parse: |_, s| {
        let v = s.to_ascii_lowercase();
        if ["1", "true", "yes", "on"].contains(&v.as_str()) {
            Ok(true)
        } else if ["0", "false", "no", "off"].contains(&v.as_str()) {
            Ok(false)
        } else {
            Err(format!(
                "COMPRESSION_NOTICE must be true or false, not {v:?}."
            ))
        }
    },
    show: |c| c.compression_notice.to_string(),
};

// --- Queue reliability -----------------------------------------------------------------------------------------

/// How long a taken job stays leased without renewal, in seconds.
/// 30 s: a job whose worker died returns to the queue within half a minute, while a worker that loses Redis
/// for a few seconds keeps its jobs.
pub static JOB_LEASE: Setting<Duration> = Setting {
    name: "JOB_LEASE",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(30)),
    parse: |name, s| seconds(name, s, 1..=86_400),
    show: |c| c.queue.lease.as_secs().to_string(),
};

/// Attempts of a job before it is dead-lettered.
/// 3: a transient failure gets two more chances; a persistent one does not hold the chat for long.
pub static JOB_MAX_ATTEMPTS: Setting<u32> = Setting {
    name: "JOB_MAX_ATTEMPTS",
    legacy: Legacy::None,
    default: Fallback::Value(|| 3),
    parse: |name, s| whole(name, s, 1..=100, "attempts"),
    show: |c| c.queue.max_attempts.to_string(),
};

/// The wait before the first retry, in seconds; doubled per attempt.
/// 2 s: long enough for a brief network failure to pass, short enough that the user hardly notices.
pub static JOB_RETRY_DELAY: Setting<Duration> = Setting {
    name: "JOB_RETRY_DELAY",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(2)),
    parse: |name, s| seconds(name, s, 0..=120),
    show: |c| c.queue.retry_base.as_secs().to_string(),
};

/// Text messages of one chat queued within this many milliseconds of each other are answered as one turn.
/// 1500 ms: Telegram splits a long paste into messages a fraction of a second apart.
pub static MERGE_WINDOW_MS: Setting<Duration> = Setting {
    name: "MERGE_WINDOW_MS",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_millis(1500)),
    parse: |name, s| millis(name, s, 0..=60_000),
    show: |c| c.queue.merge_window.as_millis().to_string(),
};

/// How long shutdown waits for jobs in flight before handing them back to the queue, in seconds.
/// 20 s: finishing answers in flight rarely needs more, and it stays well under systemd's 90 s stop timeout.
pub static SHUTDOWN_GRACE: Setting<Duration> = Setting {
    name: "SHUTDOWN_GRACE",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(20)),
    parse: |name, s| seconds(name, s, 0..=3600),
    show: |c| c.shutdown_grace.as_secs().to_string(),
};

// --- Telegram pacing -------------------------------------------------------------------------------------------

/// The least time between two edits of a streaming answer in one chat, in milliseconds.
/// 1000 ms: Telegram allows about one message (or edit) a second to one chat.
pub static STREAM_EDIT_INTERVAL_MS: Setting<Duration> = Setting {
    name: "STREAM_EDIT_INTERVAL_MS",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_millis(1000)),
    parse: |name, s| millis(name, s, 100..=60_000),
    show: |c| c.stream_edit_interval.as_millis().to_string(),
};

/// Sends and edits in any rolling 1.1 s for the whole bot (see `telegram::pacing`); 0: no limit.
/// 28: Telegram allows about 30 a second; the rest is a margin.
pub static TELEGRAM_RATE_LIMIT: Setting<u32> = Setting {
    name: "TELEGRAM_RATE_LIMIT",
    legacy: Legacy::None,
    default: Fallback::Value(|| 28),
    parse: |name, s| whole(name, s, 0..=1000, "calls (0: no limit)"),
    show: |c| c.telegram_rate_limit.to_string(),
};

/// The least time between two calls to one chat, in milliseconds.
/// 350 ms: Telegram allows about one message a second to one chat, with short bursts; this keeps it under 3.
pub static TELEGRAM_CHAT_GAP_MS: Setting<Duration> = Setting {
    name: "TELEGRAM_CHAT_GAP_MS",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_millis(350)),
    parse: |name, s| millis(name, s, 0..=10_000),
    show: |c| c.telegram_chat_gap.as_millis().to_string(),
};

/// How long a streamed answer may stay silent (before its first token, or between two) before it fails.
/// 120 s: room for the slow first token of a long prompt or a reasoning model; a hung server is still noticed.
pub static LLM_IDLE_TIMEOUT: Setting<Duration> = Setting {
    name: "LLM_IDLE_TIMEOUT",
    legacy: Legacy::None,
    default: Fallback::Value(|| Duration::from_secs(120)),
    parse: |name, s| seconds(name, s, 1..=86_400),
    show: |c| c.llm_idle_timeout.as_secs().to_string(),
};

// --- Parsers ---------------------------------------------------------------------------------------------------

/// `digits:rest`, where rest is at least a few URL-safe characters.
fn looks_like_bot_token(t: &str) -> bool {
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
fn access_list(list: &str) -> Result<AccessList, String> {
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
fn chat_list(name: &str, list: &str) -> Result<BTreeSet<ChatId>, String> {
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
fn http_url(name: &str, url: &str, example: &str) -> Result<String, String> {
    if (url.starts_with("http://") || url.starts_with("https://")) && url.len() > "https://".len() {
        Ok(url.trim_end_matches('/').to_string())
    } else {
        Err(format!(
            "{name} must be an http:// or https:// URL (e.g. {example}), not {url:?}."
        ))
    }
}

/// A `redis://`, `rediss://` or `redis+unix://` URL the Redis client accepts. The problem hides its password.
fn redis_url(url: &str) -> Result<Secret, String> {
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
fn whole<T>(name: &str, s: &str, range: RangeInclusive<T>, unit: &str) -> Result<T, String>
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
fn seconds(name: &str, s: &str, range: RangeInclusive<u64>) -> Result<Duration, String> {
    whole(name, s.trim_end_matches('s').trim(), range, "seconds").map(Duration::from_secs)
}

/// Whole milliseconds within `range` (no unit suffix).
fn millis(name: &str, s: &str, range: RangeInclusive<u64>) -> Result<Duration, String> {
    whole(name, s, range, "milliseconds").map(Duration::from_millis)
}

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
