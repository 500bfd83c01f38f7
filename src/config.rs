//! Configuration: environment variables (and `.env` in the working directory) to a validated [`Config`].
//!
//! Every variable is read as text and validated here, so that all problems are reported at once in plain
//! words (envy alone would stop at the first bad type). Secrets are kept in [`Secret`] and never printed.

use crate::ids::UserId;
use crate::queue::QueueSettings;
use crate::secret::{Redactor, Secret};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Telegram's public Bot API; a self-hosted Bot API server is set with `TELEGRAM_API_URL`.
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
/// Where `aichat --serve` listens by default.
pub const DEFAULT_AICHAT_BASE_URL: &str = "http://127.0.0.1:8000";
/// aichat accepts `default` for its configured model.
pub const DEFAULT_AICHAT_MODEL: &str = "default";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";
/// The database file of the Python bot this one replaces, so an upgrade finds its file name familiar.
pub const DEFAULT_DATABASE_PATH: &str = "sessions.db";
pub const DEFAULT_API_HOST: &str = "127.0.0.1";
pub const DEFAULT_API_PORT: u16 = 8080;
/// Workers take jobs from Redis; each runs many jobs at once, so one per CPU core is plenty: more threads than
/// cores only add context switches (measured: 2 workers on 2 cores answer 8–15% more messages per second
/// than 4; see docs/benchmarks.md).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 64))
}
/// Jobs mostly wait on the LLM; this bounds jobs in flight across all workers.
pub const DEFAULT_MAX_CONCURRENT_JOBS: usize = 64;
/// The Python bot's RQ job timeout.
pub const DEFAULT_JOB_TIMEOUT_SECS: u64 = 300;
/// Messages estimated above this many tokens go to the `default` queue instead of `high`.
pub const DEFAULT_BACKGROUND_THRESHOLD_TOKENS: usize = 5000;
pub const DEFAULT_CONTEXT_WINDOW_TOKENS: usize = 128_000;
pub const DEFAULT_COMPRESS_RATIO: f64 = 0.75;
pub const DEFAULT_KEEP_RECENT_MESSAGES: usize = 6;
/// Long-polling wait asked of Telegram; the HTTP client waits a little longer than this.
pub const DEFAULT_POLL_TIMEOUT_SECS: u64 = 30;
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "atb";
/// A taken job returns to the queue when its worker stops renewing it for this long (the process died).
pub const DEFAULT_JOB_LEASE_SECS: u64 = 30;
pub const DEFAULT_JOB_MAX_ATTEMPTS: u32 = 3;
pub const DEFAULT_JOB_RETRY_DELAY_SECS: u64 = 2;
/// Telegram splits a long paste into messages a fraction of a second apart.
pub const DEFAULT_MERGE_WINDOW_MS: u64 = 1500;
/// systemd's default stop timeout is 90 s; finishing answers in flight rarely needs more than this.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 20;
/// At most one edit of a streaming answer per chat per this interval.
pub const DEFAULT_STREAM_EDIT_INTERVAL_MS: u64 = 1000;
/// Sends and edits in any rolling 1.1 s for the whole bot (see `telegram::pacing`); Telegram allows about 30 a second.
pub const DEFAULT_TELEGRAM_RATE_LIMIT: u32 = 28;
/// Telegram allows about one message a second to one chat, with short bursts; 350 ms keeps it under 3 a second.
pub const DEFAULT_TELEGRAM_CHAT_GAP_MS: u64 = 350;
/// A streamed answer that stays silent this long (before its first token, or between two) has failed.
pub const DEFAULT_LLM_IDLE_TIMEOUT_SECS: u64 = 120;

/// Who may talk to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessList {
    /// `ALLOWED_USER_IDS=*`: explicitly open to everyone.
    Everyone,
    Only(BTreeSet<UserId>),
}

impl AccessList {
    pub fn allows(&self, user: UserId) -> bool {
        match self {
            AccessList::Everyone => true,
            AccessList::Only(ids) => ids.contains(&user),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TelegramConfig {
    /// Without a trailing slash; calls go to `{api_url}/bot<token>/<method>`.
    pub api_url: String,
    pub token: Secret,
    pub poll_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Without a trailing slash or `/v1`; calls go to `{base_url}/v1/chat/completions`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// May carry a password, hence secret.
    pub url: Secret,
    /// Every key the bot writes starts with `{key_prefix}:`.
    pub key_prefix: String,
}

#[derive(Debug, Clone)]
pub struct ContextConfig {
    pub window_tokens: usize,
    /// Set by the operator (then the server's figure is not used).
    pub window_explicit: bool,
    pub compress_ratio: f64,
    pub keep_recent_messages: usize,
}

impl ContextConfig {
    /// Tokens of context above which the conversation is compressed.
    pub fn compress_threshold(&self) -> usize {
        // Both factors are small and positive; the product fits easily.
        (self.window_tokens as f64 * self.compress_ratio) as usize
    }
}

/// The validated configuration. Built once at start and shared read-only.
#[derive(Debug, Clone)]
pub struct Config {
    pub telegram: TelegramConfig,
    pub access: AccessList,
    pub llm: LlmConfig,
    pub redis: RedisConfig,
    pub database_path: PathBuf,
    pub api_host: String,
    pub api_port: u16,
    pub workers: usize,
    pub max_concurrent_jobs: usize,
    pub job_timeout: Duration,
    pub background_threshold_tokens: usize,
    pub tokenizer_path: Option<PathBuf>,
    pub context: ContextConfig,
    pub system_prompt: Option<String>,
    /// Tell the user when their conversation was compressed.
    pub compression_notice: bool,
    /// Leases, retries and merging of jobs.
    pub queue: QueueSettings,
    /// How long shutdown waits for jobs in flight before handing them back to the queue.
    pub shutdown_grace: Duration,
    pub stream_edit_interval: Duration,
    pub telegram_rate_limit: u32,
    /// Minimum gap between two calls to one chat.
    pub telegram_chat_gap: Duration,
    pub llm_idle_timeout: Duration,
    /// Enables the admin API (`/api/…`) and the dashboard; every call must carry it as a bearer token.
    pub api_token: Option<Secret>,
}

/// Every problem found in the environment, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "The configuration has {} problem{}:",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        write!(
            f,
            "Set these in the environment or in a .env file in the working directory (see .env.example)."
        )
    }
}

impl std::error::Error for ConfigError {}

/// The environment as text. Empty values count as unset (a `.env` line `AICHAT_API_KEY=` means "none").
#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    telegram_bot_token: Option<String>,
    telegram_api_url: Option<String>,
    telegram_poll_timeout: Option<String>,
    allowed_user_ids: Option<String>,
    aichat_base_url: Option<String>,
    aichat_model: Option<String>,
    aichat_api_key: Option<String>,
    redis_url: Option<String>,
    // The Python bot's names, used when REDIS_URL is not set.
    redis_host: Option<String>,
    redis_port: Option<String>,
    redis_db: Option<String>,
    redis_key_prefix: Option<String>,
    database_url: Option<String>,
    // The Python bot's name for the database file.
    db_path: Option<String>,
    api_host: Option<String>,
    api_port: Option<String>,
    workers: Option<String>,
    max_concurrent_jobs: Option<String>,
    job_timeout: Option<String>,
    background_threshold_tokens: Option<String>,
    tokenizer_path: Option<String>,
    context_window_tokens: Option<String>,
    // The Python bot's name for the context window.
    default_context_window: Option<String>,
    compress_ratio: Option<String>,
    keep_recent_messages: Option<String>,
    system_prompt: Option<String>,
    compression_notice: Option<String>,
    job_lease: Option<String>,
    job_max_attempts: Option<String>,
    job_retry_delay: Option<String>,
    merge_window_ms: Option<String>,
    shutdown_grace: Option<String>,
    stream_edit_interval_ms: Option<String>,
    telegram_rate_limit: Option<String>,
    telegram_chat_gap_ms: Option<String>,
    llm_idle_timeout: Option<String>,
    api_token: Option<String>,
}

impl Config {
    /// Reads `.env` in the working directory (if present; not its parents) and the process environment.
    /// The environment wins over `.env`.
    pub fn from_env() -> Result<Config, ConfigError> {
        // A missing .env is normal; a malformed one is a problem worth reporting.
        let mut problems = Vec::new();
        if let Err(e) = dotenvy::from_path(".env") {
            if !e.not_found() {
                problems.push(format!("The .env file could not be read: {e}"));
            }
        }
        match Config::from_vars(std::env::vars()) {
            Ok(c) if problems.is_empty() => Ok(c),
            Ok(_) => Err(ConfigError { problems }),
            Err(mut e) => {
                problems.append(&mut e.problems);
                Err(ConfigError { problems })
            }
        }
    }

    /// Validates a set of variables (the environment, or a test's map).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let vars = vars.into_iter().filter(|(_, v)| !v.trim().is_empty());
        let raw: RawConfig = envy::from_iter(vars).map_err(|e| ConfigError {
            problems: vec![format!("The environment could not be read: {e}")],
        })?;
        validate(raw)
    }

    /// Secrets to scrub from every log line and error.
    pub fn redactor(&self) -> Redactor {
        let mut secrets = vec![self.telegram.token.clone()];
        secrets.extend(self.llm.api_key.clone());
        secrets.extend(self.api_token.clone());
        if let Some(password) = redis_password(self.redis.url.expose()) {
            secrets.push(Secret::new(password));
        }
        Redactor::new(secrets)
    }

    /// How sends and edits are paced (see [`crate::telegram::pacing`]).
    pub fn pacing(&self) -> crate::telegram::pacing::PacingSettings {
        crate::telegram::pacing::PacingSettings {
            global_rate: self.telegram_rate_limit as usize,
            edit_interval: self.stream_edit_interval,
            chat_gap: self.telegram_chat_gap,
            ..Default::default()
        }
    }

    /// The effective configuration for `--check-config`, secrets redacted.
    pub fn describe(&self) -> String {
        let access = match &self.access {
            AccessList::Everyone => "* (everyone)".to_string(),
            AccessList::Only(ids) => ids
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(","),
        };
        let rows: Vec<(&str, String)> = vec![
            (
                "TELEGRAM_BOT_TOKEN",
                redact_token(self.telegram.token.expose()),
            ),
            ("TELEGRAM_API_URL", self.telegram.api_url.clone()),
            (
                "TELEGRAM_POLL_TIMEOUT",
                self.telegram.poll_timeout.as_secs().to_string(),
            ),
            ("ALLOWED_USER_IDS", access),
            ("AICHAT_BASE_URL", self.llm.base_url.clone()),
            ("AICHAT_MODEL", self.llm.model.clone()),
            (
                "AICHAT_API_KEY",
                self.llm
                    .api_key
                    .as_ref()
                    .map_or("(not set)".into(), |_| "<redacted>".into()),
            ),
            ("REDIS_URL", redact_url_password(self.redis.url.expose())),
            ("REDIS_KEY_PREFIX", self.redis.key_prefix.clone()),
            ("DATABASE_URL", self.database_path.display().to_string()),
            ("API_HOST", self.api_host.clone()),
            ("API_PORT", self.api_port.to_string()),
            (
                "API_TOKEN",
                self.api_token
                    .as_ref()
                    .map_or("(not set: no admin API)".into(), |_| "<redacted>".into()),
            ),
            ("WORKERS", self.workers.to_string()),
            ("MAX_CONCURRENT_JOBS", self.max_concurrent_jobs.to_string()),
            ("JOB_TIMEOUT", self.job_timeout.as_secs().to_string()),
            (
                "BACKGROUND_THRESHOLD_TOKENS",
                self.background_threshold_tokens.to_string(),
            ),
            (
                "TOKENIZER_PATH",
                self.tokenizer_path
                    .as_ref()
                    .map_or("(not set: fast estimate)".into(), |p| {
                        p.display().to_string()
                    }),
            ),
            (
                "CONTEXT_WINDOW_TOKENS",
                self.context.window_tokens.to_string(),
            ),
            ("COMPRESS_RATIO", self.context.compress_ratio.to_string()),
            (
                "KEEP_RECENT_MESSAGES",
                self.context.keep_recent_messages.to_string(),
            ),
            (
                "SYSTEM_PROMPT",
                self.system_prompt
                    .clone()
                    .unwrap_or_else(|| "(not set)".into()),
            ),
            ("COMPRESSION_NOTICE", self.compression_notice.to_string()),
            ("JOB_LEASE", self.queue.lease.as_secs().to_string()),
            ("JOB_MAX_ATTEMPTS", self.queue.max_attempts.to_string()),
            (
                "JOB_RETRY_DELAY",
                self.queue.retry_base.as_secs().to_string(),
            ),
            (
                "MERGE_WINDOW_MS",
                self.queue.merge_window.as_millis().to_string(),
            ),
            ("SHUTDOWN_GRACE", self.shutdown_grace.as_secs().to_string()),
            (
                "STREAM_EDIT_INTERVAL_MS",
                self.stream_edit_interval.as_millis().to_string(),
            ),
            ("TELEGRAM_RATE_LIMIT", self.telegram_rate_limit.to_string()),
            (
                "TELEGRAM_CHAT_GAP_MS",
                self.telegram_chat_gap.as_millis().to_string(),
            ),
            (
                "LLM_IDLE_TIMEOUT",
                self.llm_idle_timeout.as_secs().to_string(),
            ),
        ];
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(k, v)| format!("{k:width$} = {v}\n"))
            .collect()
    }
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let mut p: Vec<String> = Vec::new();

    let token = match raw.telegram_bot_token.as_deref().map(str::trim) {
        None => {
            p.push(
                "TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather in Telegram \
                 (https://t.me/BotFather, command /newbot) and put the token it gives you here."
                    .into(),
            );
            None
        }
        Some(t) if !looks_like_bot_token(t) => {
            p.push(
                "TELEGRAM_BOT_TOKEN does not look like a bot token: expected digits, a colon, then letters, digits, \
                 '-' or '_' (as @BotFather gives it, e.g. 123456789:AAE...)."
                    .into(),
            );
            None
        }
        Some(t) => Some(Secret::new(t)),
    };

    let telegram_api_url = http_url(
        &mut p,
        "TELEGRAM_API_URL",
        raw.telegram_api_url.as_deref(),
        DEFAULT_TELEGRAM_API_URL,
    );
    let poll_timeout = number(
        &mut p,
        "TELEGRAM_POLL_TIMEOUT",
        raw.telegram_poll_timeout.as_deref(),
        DEFAULT_POLL_TIMEOUT_SECS,
        1..=50,
        "seconds",
    );

    let access = match raw.allowed_user_ids.as_deref().map(str::trim) {
        None => {
            p.push(
                "ALLOWED_USER_IDS is empty, so the bot would answer nobody. Set it to your numeric Telegram user \
                 id (or several, separated by commas); the bot tells a refused user their id. Use * to allow \
                 everyone on purpose."
                    .into(),
            );
            None
        }
        Some("*") => Some(AccessList::Everyone),
        Some(list) => {
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
                p.push(format!(
                    "ALLOWED_USER_IDS has entries that are not numeric user ids: {}. Use numbers separated by \
                     commas, or * for everyone.",
                    bad.join(", ")
                ));
                None
            } else if ids.is_empty() {
                p.push("ALLOWED_USER_IDS lists no user id. Use numbers separated by commas, or * for everyone.".into());
                None
            } else {
                Some(AccessList::Only(ids))
            }
        }
    };

    let aichat_base_url = http_url(
        &mut p,
        "AICHAT_BASE_URL",
        raw.aichat_base_url.as_deref(),
        DEFAULT_AICHAT_BASE_URL,
    )
    .map(|u| u.strip_suffix("/v1").map(str::to_string).unwrap_or(u));
    let model = raw
        .aichat_model
        .map(|m| m.trim().to_string())
        .unwrap_or_else(|| DEFAULT_AICHAT_MODEL.to_string());
    let api_key = raw.aichat_api_key.map(|k| Secret::new(k.trim()));

    let redis_url = match raw.redis_url {
        Some(url) => Some(url.trim().to_string()),
        None if raw.redis_host.is_some() || raw.redis_port.is_some() || raw.redis_db.is_some() => {
            Some(format!(
                "redis://{}:{}/{}",
                raw.redis_host.as_deref().unwrap_or("127.0.0.1").trim(),
                raw.redis_port.as_deref().unwrap_or("6379").trim(),
                raw.redis_db.as_deref().unwrap_or("0").trim()
            ))
        }
        None => Some(DEFAULT_REDIS_URL.to_string()),
    }
    .and_then(|url| {
        if url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("redis+unix://") {
            match redis::Client::open(url.as_str()) {
                Ok(_) => Some(url),
                Err(_) => {
                    p.push(format!(
                        "REDIS_URL is not a valid Redis URL ({}); expected e.g. redis://127.0.0.1:6379/0.",
                        redact_url_password(&url)
                    ));
                    None
                }
            }
        } else {
            p.push("REDIS_URL must start with redis://, rediss:// or redis+unix:// (e.g. redis://127.0.0.1:6379/0).".into());
            None
        }
    });
    let key_prefix = raw
        .redis_key_prefix
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| DEFAULT_REDIS_KEY_PREFIX.to_string());
    if !key_prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        p.push("REDIS_KEY_PREFIX may only contain letters, digits, '-', '_', '.' and ':'.".into());
    }

    let database_path = database_path(raw.database_url.as_deref().or(raw.db_path.as_deref()));

    let api_host = raw
        .api_host
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| DEFAULT_API_HOST.to_string());
    let api_port = number(
        &mut p,
        "API_PORT",
        raw.api_port.as_deref(),
        DEFAULT_API_PORT,
        0..=65535,
        "a port",
    );
    let workers = number(
        &mut p,
        "WORKERS",
        raw.workers.as_deref(),
        default_workers(),
        1..=64,
        "workers",
    );
    let max_concurrent_jobs = number(
        &mut p,
        "MAX_CONCURRENT_JOBS",
        raw.max_concurrent_jobs.as_deref(),
        DEFAULT_MAX_CONCURRENT_JOBS,
        1..=10_000,
        "jobs",
    );
    let job_timeout = seconds(
        &mut p,
        "JOB_TIMEOUT",
        raw.job_timeout.as_deref(),
        DEFAULT_JOB_TIMEOUT_SECS,
    );
    let background_threshold_tokens = number(
        &mut p,
        "BACKGROUND_THRESHOLD_TOKENS",
        raw.background_threshold_tokens.as_deref(),
        DEFAULT_BACKGROUND_THRESHOLD_TOKENS,
        1..=10_000_000,
        "tokens",
    );
    let tokenizer_path = raw.tokenizer_path.map(|s| PathBuf::from(s.trim()));
    if let Some(path) = &tokenizer_path {
        if !path.is_file() {
            p.push(format!(
                "TOKENIZER_PATH points to {}, which is not a readable file. Give the path of a Hugging Face \
                 tokenizer.json, or unset it to use the built-in estimate.",
                path.display()
            ));
        }
    }
    let window_explicit =
        raw.context_window_tokens.is_some() || raw.default_context_window.is_some();
    let window_tokens = number(
        &mut p,
        "CONTEXT_WINDOW_TOKENS",
        raw.context_window_tokens
            .as_deref()
            .or(raw.default_context_window.as_deref()),
        DEFAULT_CONTEXT_WINDOW_TOKENS,
        1024..=100_000_000,
        "tokens",
    );
    let compress_ratio = match raw.compress_ratio.as_deref().map(str::trim) {
        None => Some(DEFAULT_COMPRESS_RATIO),
        Some(s) => match s.parse::<f64>() {
            Ok(r) if r > 0.0 && r < 1.0 => Some(r),
            _ => {
                p.push(format!(
                    "COMPRESS_RATIO must be a number between 0 and 1 (e.g. 0.75), not {s:?}."
                ));
                None
            }
        },
    };
    let keep_recent_messages = number(
        &mut p,
        "KEEP_RECENT_MESSAGES",
        raw.keep_recent_messages.as_deref(),
        DEFAULT_KEEP_RECENT_MESSAGES,
        0..=1000,
        "messages",
    );
    let system_prompt = raw.system_prompt.map(|s| s.trim().to_string());
    let compression_notice = match raw
        .compression_notice
        .as_deref()
        .map(|s| s.trim().to_ascii_lowercase())
    {
        None => true,
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => true,
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => false,
        Some(v) => {
            p.push(format!(
                "COMPRESSION_NOTICE must be true or false, not {v:?}."
            ));
            true
        }
    };
    let job_lease = seconds(
        &mut p,
        "JOB_LEASE",
        raw.job_lease.as_deref(),
        DEFAULT_JOB_LEASE_SECS,
    );
    let job_max_attempts = number(
        &mut p,
        "JOB_MAX_ATTEMPTS",
        raw.job_max_attempts.as_deref(),
        DEFAULT_JOB_MAX_ATTEMPTS,
        1..=100,
        "attempts",
    );
    let job_retry_delay = seconds_in(
        &mut p,
        "JOB_RETRY_DELAY",
        raw.job_retry_delay.as_deref(),
        DEFAULT_JOB_RETRY_DELAY_SECS,
        0..=120,
    );
    let merge_window = number(
        &mut p,
        "MERGE_WINDOW_MS",
        raw.merge_window_ms.as_deref(),
        DEFAULT_MERGE_WINDOW_MS,
        0..=60_000,
        "milliseconds",
    )
    .map(Duration::from_millis);
    let shutdown_grace = seconds_in(
        &mut p,
        "SHUTDOWN_GRACE",
        raw.shutdown_grace.as_deref(),
        DEFAULT_SHUTDOWN_GRACE_SECS,
        0..=3600,
    );
    let stream_edit_interval = number(
        &mut p,
        "STREAM_EDIT_INTERVAL_MS",
        raw.stream_edit_interval_ms.as_deref(),
        DEFAULT_STREAM_EDIT_INTERVAL_MS,
        100..=60_000,
        "milliseconds",
    )
    .map(Duration::from_millis);
    let telegram_rate_limit = number(
        &mut p,
        "TELEGRAM_RATE_LIMIT",
        raw.telegram_rate_limit.as_deref(),
        DEFAULT_TELEGRAM_RATE_LIMIT,
        0..=1000,
        "calls (0: no limit)",
    );
    let telegram_chat_gap = number(
        &mut p,
        "TELEGRAM_CHAT_GAP_MS",
        raw.telegram_chat_gap_ms.as_deref(),
        DEFAULT_TELEGRAM_CHAT_GAP_MS,
        0..=10_000,
        "milliseconds",
    )
    .map(Duration::from_millis);
    let llm_idle_timeout = seconds(
        &mut p,
        "LLM_IDLE_TIMEOUT",
        raw.llm_idle_timeout.as_deref(),
        DEFAULT_LLM_IDLE_TIMEOUT_SECS,
    );
    let api_token = raw.api_token.map(|t| t.trim().to_string());
    if api_token.as_ref().is_some_and(|t| t.len() < 16) {
        p.push("API_TOKEN must be at least 16 characters long (it guards the admin API); generate one with e.g. `openssl rand -hex 24`.".into());
    }
    let api_token = api_token.map(Secret::new);
    let queue = match (job_lease, job_max_attempts, job_retry_delay, merge_window) {
        (Some(lease), Some(max_attempts), Some(retry_base), Some(merge_window)) => {
            Some(QueueSettings {
                lease,
                max_attempts,
                retry_base,
                merge_window,
            })
        }
        _ => None,
    };

    match (
        token,
        telegram_api_url,
        poll_timeout,
        access,
        aichat_base_url,
        redis_url,
        api_port,
        workers,
        max_concurrent_jobs,
        job_timeout,
        background_threshold_tokens,
        window_tokens,
        compress_ratio,
        keep_recent_messages,
        queue,
        shutdown_grace,
        stream_edit_interval,
        telegram_rate_limit,
        telegram_chat_gap,
        llm_idle_timeout,
    ) {
        (
            Some(token),
            Some(api_url),
            Some(poll_timeout),
            Some(access),
            Some(base_url),
            Some(redis_url),
            Some(api_port),
            Some(workers),
            Some(max_concurrent_jobs),
            Some(job_timeout),
            Some(background_threshold_tokens),
            Some(window_tokens),
            Some(compress_ratio),
            Some(keep_recent_messages),
            Some(queue),
            Some(shutdown_grace),
            Some(stream_edit_interval),
            Some(telegram_rate_limit),
            Some(telegram_chat_gap),
            Some(llm_idle_timeout),
        ) if p.is_empty() => Ok(Config {
            telegram: TelegramConfig {
                api_url,
                token,
                poll_timeout: Duration::from_secs(poll_timeout),
            },
            access,
            llm: LlmConfig {
                base_url,
                model,
                api_key,
            },
            redis: RedisConfig {
                url: Secret::new(redis_url),
                key_prefix,
            },
            database_path,
            api_host,
            api_port,
            workers,
            max_concurrent_jobs,
            job_timeout,
            background_threshold_tokens,
            tokenizer_path,
            context: ContextConfig {
                window_tokens,
                window_explicit,
                compress_ratio,
                keep_recent_messages,
            },
            system_prompt,
            compression_notice,
            queue,
            shutdown_grace,
            stream_edit_interval,
            telegram_rate_limit,
            telegram_chat_gap,
            llm_idle_timeout,
            api_token,
        }),
        _ => Err(ConfigError { problems: p }),
    }
}

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

fn http_url(p: &mut Vec<String>, name: &str, value: Option<&str>, default: &str) -> Option<String> {
    let url = value.map(str::trim).unwrap_or(default);
    if (url.starts_with("http://") || url.starts_with("https://")) && url.len() > "https://".len() {
        Some(url.trim_end_matches('/').to_string())
    } else {
        p.push(format!(
            "{name} must be an http:// or https:// URL (e.g. {default}), not {url:?}."
        ));
        None
    }
}

fn number<T>(
    p: &mut Vec<String>,
    name: &str,
    value: Option<&str>,
    default: T,
    range: std::ops::RangeInclusive<T>,
    unit: &str,
) -> Option<T>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(s) = value.map(str::trim) else {
        return Some(default);
    };
    match s.parse::<T>() {
        Ok(n) if range.contains(&n) => Some(n),
        _ => {
            p.push(format!(
                "{name} must be a whole number of {unit} from {} to {}, not {s:?}.",
                range.start(),
                range.end()
            ));
            None
        }
    }
}

/// Whole seconds, with an optional `s` suffix (`300` or `300s`).
fn seconds(p: &mut Vec<String>, name: &str, value: Option<&str>, default: u64) -> Option<Duration> {
    seconds_in(p, name, value, default, 1..=86_400)
}

/// Whole seconds within `range`, with an optional `s` suffix.
fn seconds_in(
    p: &mut Vec<String>,
    name: &str,
    value: Option<&str>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Option<Duration> {
    let trimmed = value.map(|s| s.trim().trim_end_matches('s').to_string());
    number(p, name, trimmed.as_deref(), default, range, "seconds").map(Duration::from_secs)
}

/// Accepts a plain path or the `sqlite://path`, `sqlite:path` and `file:path` forms.
fn database_path(value: Option<&str>) -> PathBuf {
    let v = value.map(str::trim).unwrap_or(DEFAULT_DATABASE_PATH);
    let stripped = v
        .strip_prefix("sqlite://")
        .or_else(|| v.strip_prefix("sqlite:"))
        .or_else(|| v.strip_prefix("file:"))
        .unwrap_or(v);
    PathBuf::from(stripped)
}

/// `123456:ABC…` → `123456:<redacted>`: the bot id is public, the rest is the secret.
fn redact_token(token: &str) -> String {
    match token.split_once(':') {
        Some((id, _)) => format!("{id}:<redacted>"),
        None => "<redacted>".into(),
    }
}

fn redis_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    let password = userinfo.split_once(':').map_or(userinfo, |(_, pw)| pw);
    (!password.is_empty()).then(|| password.to_string())
}

fn redact_url_password(url: &str) -> String {
    match redis_password(url) {
        Some(pw) => url.replace(&pw, "<redacted>"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The environment has one value per name: a later pair replaces an earlier one.
    struct Env(Vec<(String, String)>);

    impl Env {
        fn push(&mut self, (k, v): (String, String)) {
            self.0.retain(|(name, _)| *name != k);
            self.0.push((k, v));
        }
        fn extend(&mut self, pairs: Vec<(String, String)>) {
            for p in pairs {
                self.push(p);
            }
        }
    }

    impl IntoIterator for Env {
        type Item = (String, String);
        type IntoIter = std::vec::IntoIter<(String, String)>;
        fn into_iter(self) -> Self::IntoIter {
            self.0.into_iter()
        }
    }

    fn minimal() -> Env {
        Env(vars(&[
            ("TELEGRAM_BOT_TOKEN", "123456:ABCdef-ghi_jkl"),
            ("ALLOWED_USER_IDS", "42, 43"),
        ]))
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = Config::from_vars(minimal()).unwrap();
        assert_eq!(c.telegram.api_url, DEFAULT_TELEGRAM_API_URL);
        assert_eq!(c.llm.base_url, DEFAULT_AICHAT_BASE_URL);
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(c.workers, cores.min(64), "one worker per CPU core");
        assert_eq!(c.max_concurrent_jobs, 64);
        assert_eq!(c.job_timeout, Duration::from_secs(300));
        assert_eq!(c.api_port, 8080);
        assert_eq!(c.context.compress_threshold(), 96_000);
        assert!(c.access.allows(UserId(42)) && c.access.allows(UserId(43)));
        assert!(!c.access.allows(UserId(44)));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Config::from_vars(vars(&[("API_PORT", "eighty"), ("WORKERS", "0")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("TELEGRAM_BOT_TOKEN is not set"), "{text}");
        assert!(text.contains("@BotFather"), "{text}");
        assert!(text.contains("ALLOWED_USER_IDS is empty"), "{text}");
        assert!(text.contains("API_PORT"), "{text}");
        assert!(text.contains("WORKERS"), "{text}");
        assert_eq!(err.problems.len(), 4);
    }

    #[test]
    fn star_allows_everyone_and_bad_ids_are_named() {
        let mut v = minimal();
        v.push(("ALLOWED_USER_IDS".into(), "*".into()));
        assert_eq!(Config::from_vars(v).unwrap().access, AccessList::Everyone);
        let mut v = minimal();
        v.push(("ALLOWED_USER_IDS".into(), "12,abc,-5".into()));
        let err = Config::from_vars(v).unwrap_err().to_string();
        assert!(err.contains("abc, -5"), "{err}");
    }

    #[test]
    fn a_malformed_token_is_refused_without_echoing_it() {
        let err = Config::from_vars(vars(&[
            ("TELEGRAM_BOT_TOKEN", "not-a-token-secretvalue"),
            ("ALLOWED_USER_IDS", "1"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("does not look like a bot token"), "{err}");
        assert!(!err.contains("secretvalue"), "{err}");
    }

    #[test]
    fn urls_are_normalised() {
        let mut v = minimal();
        v.push(("AICHAT_BASE_URL".into(), "http://127.0.0.1:8000/v1/".into()));
        v.push(("TELEGRAM_API_URL".into(), "http://localhost:8081/".into()));
        let c = Config::from_vars(v).unwrap();
        assert_eq!(c.llm.base_url, "http://127.0.0.1:8000");
        assert_eq!(c.telegram.api_url, "http://localhost:8081");
    }

    #[test]
    fn legacy_redis_and_db_names_still_work() {
        let mut v = minimal();
        v.extend(vars(&[
            ("REDIS_HOST", "10.0.0.5"),
            ("REDIS_PORT", "6380"),
            ("DB_PATH", "old.db"),
        ]));
        let c = Config::from_vars(v).unwrap();
        assert_eq!(c.redis.url.expose(), "redis://10.0.0.5:6380/0");
        assert_eq!(c.database_path, PathBuf::from("old.db"));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let mut v = minimal();
        v.push(("AICHAT_API_KEY".into(), "".into()));
        v.push(("WORKERS".into(), " ".into()));
        let c = Config::from_vars(v).unwrap();
        assert!(c.llm.api_key.is_none());
        assert_eq!(c.workers, default_workers());
    }

    #[test]
    fn describe_redacts_every_secret() {
        let mut v = minimal();
        v.push(("AICHAT_API_KEY".into(), "sk-verysecretkey".into()));
        v.push((
            "REDIS_URL".into(),
            "redis://:hunter2pw@127.0.0.1:6379/0".into(),
        ));
        let c = Config::from_vars(v).unwrap();
        let text = c.describe();
        assert!(text.contains("123456:<redacted>"), "{text}");
        assert!(!text.contains("ABCdef"), "{text}");
        assert!(!text.contains("verysecret"), "{text}");
        assert!(!text.contains("hunter2pw"), "{text}");
        for name in [
            "JOB_LEASE",
            "JOB_MAX_ATTEMPTS",
            "MERGE_WINDOW_MS",
            "SHUTDOWN_GRACE",
            "COMPRESSION_NOTICE",
        ] {
            assert!(text.contains(name), "{name} missing: {text}");
        }
        let r = c.redactor();
        assert_eq!(
            r.redact("x hunter2pw sk-verysecretkey 123456:ABCdef-ghi_jkl"),
            "x <redacted> <redacted> <redacted>"
        );
    }

    #[test]
    fn database_url_forms_are_accepted() {
        assert_eq!(
            database_path(Some("sqlite:///var/lib/bot/b.db")),
            PathBuf::from("/var/lib/bot/b.db")
        );
        assert_eq!(database_path(Some("sqlite:b.db")), PathBuf::from("b.db"));
        assert_eq!(database_path(None), PathBuf::from("sessions.db"));
    }
}
