//! Configuration: environment variables (and `.env` in the working directory) to a validated [`Config`].
//!
//! Every setting is described once, in the table of `settings`: its names, default, rules and how
//! `--check-config` shows it. Every variable is read as text and checked there, so that all problems are
//! reported at once in plain words. Secrets are kept in [`Secret`] and never printed.

mod settings;

pub use settings::{default_workers, DEFAULT_AICHAT_BASE_URL, DEFAULT_TELEGRAM_API_URL};

use crate::ids::{ChatId, UserId};
use crate::queue::QueueSettings;
use crate::secret::{Redactor, Secret};
use crate::telegram::pacing::{PacingSettings, PROGRESS_RESERVE};
use settings::{Env, Reader};
use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

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

/// What the bot does with messages in groups and supergroups (`GROUP_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupMode {
    /// Answer only messages that address the bot: a mention, a reply to one of its messages, a command for it.
    Mention,
    /// Answer every text of a permitted user (as in a private chat).
    All,
    /// Answer nothing in groups; say once per group that the bot works in private chats only.
    Off,
}

impl GroupMode {
    /// The setting's value as written in the environment.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupMode::Mention => "mention",
            GroupMode::All => "all",
            GroupMode::Off => "off",
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
    /// The models a chat may choose (`ALLOWED_MODELS`); empty: every chat model the server lists.
    pub allowed_models: crate::choice::AllowedModels,
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// May carry a password, hence secret.
    pub url: Secret,
    /// Every key the bot writes starts with `{key_prefix}:`.
    pub key_prefix: String,
}

/// What a process does (`PROCESS_ROLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessRole {
    /// Workers, and polling while it holds the poller role (one process at a time does).
    All,
    /// Workers only: never polls.
    Worker,
}

/// Photos and files (`VISION_MODELS`, `MAX_IMAGE_BYTES`, `MAX_DOCUMENT_BYTES`, `IMAGE_CACHE_MB`).
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Models that see images besides those the server marks `supports_vision`; `None`: only those.
    pub vision_models: Option<crate::choice::AllowedModels>,
    pub max_image_bytes: u64,
    pub max_document_bytes: u64,
    pub image_cache_mb: u64,
}

/// `TELEGRAM_WEBHOOK_URL`: the public URL Telegram delivers updates to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    /// As the operator wrote it: what `setWebhook` is given.
    pub url: String,
    /// Its path (`/` when it has none): what the bot serves (a reverse proxy forwards the URL unchanged).
    pub path: String,
}

/// Webhook mode: Telegram POSTs each update to `url`, with `secret`; the bot serves `url.path`.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: WebhookUrl,
    pub secret: Secret,
    /// `WEBHOOK_PORT`: a server of its own for the webhook; `None`: the API server serves it too.
    pub port: Option<u16>,
}

/// Paths the API server serves: a webhook on the API server's port may not take them.
const API_PATHS: &[&str] = &["/", "/health", "/ready", "/metrics"];

/// Usage and budgets: the users' token limits and the models' prices.
#[derive(Debug, Clone, Default)]
pub struct UsageConfig {
    pub limits: crate::usage::UsageLimits,
    pub prices: crate::usage::ModelPrices,
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

/// The validated configuration. Built once at start and shared read-only. Each field is one setting of the
/// table in `settings` (where its meaning and default are documented), or a group of them.
#[derive(Debug, Clone)]
pub struct Config {
    pub telegram: TelegramConfig,
    pub access: AccessList,
    /// Groups whose every member may talk to the bot (`ALLOWED_CHAT_IDS`), besides the users of `access`.
    pub allowed_chats: BTreeSet<ChatId>,
    /// Which group messages the bot answers (`GROUP_MODE`).
    pub group_mode: GroupMode,
    /// How many unaddressed messages a group's memory keeps for the next turn that addresses the bot
    /// (`GROUP_CONTEXT_MESSAGES`; 0: no memory, and no Redis call for it).
    pub group_context_messages: usize,
    /// The least time between two "Access denied." replies to the same stranger (zero: reply to every
    /// message), so that a stranger who keeps writing does not make the bot spend its Telegram budget on them.
    pub refusal_notice_interval: Duration,
    pub llm: LlmConfig,
    pub redis: RedisConfig,
    pub database_path: PathBuf,
    pub api_host: String,
    pub api_port: u16,
    pub workers: usize,
    /// `PROCESS_ROLE`.
    pub process_role: ProcessRole,
    pub max_concurrent_jobs: usize,
    pub job_timeout: Duration,
    pub background_threshold_tokens: usize,
    pub tokenizer_path: Option<PathBuf>,
    pub context: ContextConfig,
    /// `ADMIN_USER_IDS`, `USER_DAILY_TOKENS`, `USER_MONTHLY_TOKENS`, `USER_LIMITS`, `MODEL_PRICES`.
    pub usage: UsageConfig,
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
    /// Webhook mode (`TELEGRAM_WEBHOOK_URL`, `WEBHOOK_SECRET`, `WEBHOOK_PORT`); `None`: the bot polls.
    pub webhook: Option<WebhookConfig>,
    pub media: MediaConfig,
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

    /// Validates a set of variables (the environment, or a test's map). Empty values count as unset (a `.env`
    /// line `AICHAT_API_KEY=` means "none").
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let env = Env::new(vars);
        let mut reader = Reader::new(&env);
        match build(&mut reader) {
            Some(config) if reader.problems.is_empty() => Ok(config),
            _ => Err(ConfigError {
                problems: reader.problems,
            }),
        }
    }

    /// Secrets to scrub from every log line and error.
    pub fn redactor(&self) -> Redactor {
        let mut secrets = vec![self.telegram.token.clone()];
        secrets.extend(self.llm.api_key.clone());
        secrets.extend(self.api_token.clone());
        secrets.extend(self.webhook.as_ref().map(|w| w.secret.clone()));
        if let Some(password) = redis_password(self.redis.url.expose()) {
            secrets.push(Secret::new(password));
        }
        Redactor::new(secrets)
    }

    /// How sends and edits are paced (see [`crate::telegram::pacing`]).
    pub fn pacing(&self) -> PacingSettings {
        PacingSettings {
            global_rate: self.telegram_rate_limit as usize,
            progress_reserve: PROGRESS_RESERVE,
            edit_interval: self.stream_edit_interval,
            chat_gap: self.telegram_chat_gap,
        }
    }

    /// The effective configuration for `--check-config`, secrets redacted: one `NAME = value` line per setting,
    /// in the order of the table.
    pub fn describe(&self) -> String {
        let width = settings::ALL
            .iter()
            .map(|s| s.name().len())
            .max()
            .unwrap_or(0);
        settings::ALL
            .iter()
            .map(|s| format!("{:width$} = {}\n", s.name(), s.show(self)))
            .collect()
    }
}

/// Reads every setting first (so that every problem is noted), then puts the values together; `None` when any
/// setting had a problem.
fn build(r: &mut Reader) -> Option<Config> {
    use settings::*;
    let token = r.read(&TELEGRAM_BOT_TOKEN);
    let api_url = r.read(&TELEGRAM_API_URL);
    let poll_timeout = r.read(&TELEGRAM_POLL_TIMEOUT);
    let access = r.read(&ALLOWED_USER_IDS);
    let refusal_notice_interval = r.read(&REFUSAL_NOTICE_INTERVAL);
    let allowed_chats = r.read(&ALLOWED_CHAT_IDS);
    let group_mode = r.read(&GROUP_MODE);
    let group_context_messages = r.read(&GROUP_CONTEXT_MESSAGES);
    let base_url = r.read(&AICHAT_BASE_URL);
    let model = r.read(&AICHAT_MODEL);
    let api_key = r.read(&AICHAT_API_KEY);
    let allowed_models = r.read(&ALLOWED_MODELS);
    let redis_url = r.read(&REDIS_URL);
    let key_prefix = r.read(&REDIS_KEY_PREFIX);
    let database_path = r.read(&DATABASE_URL);
    let api_host = r.read(&API_HOST);
    let api_port = r.read(&API_PORT);
    let workers = r.read(&WORKERS);
    let process_role = r.read(&PROCESS_ROLE);
    let max_concurrent_jobs = r.read(&MAX_CONCURRENT_JOBS);
    let job_timeout = r.read(&JOB_TIMEOUT);
    let background_threshold_tokens = r.read(&BACKGROUND_THRESHOLD_TOKENS);
    let tokenizer_path = r.read(&TOKENIZER_PATH);
    let window_explicit = r.is_set(&CONTEXT_WINDOW_TOKENS);
    let window_tokens = r.read(&CONTEXT_WINDOW_TOKENS);
    let compress_ratio = r.read(&COMPRESS_RATIO);
    let keep_recent_messages = r.read(&KEEP_RECENT_MESSAGES);
    let system_prompt = r.read(&SYSTEM_PROMPT);
    let compression_notice = r.read(&COMPRESSION_NOTICE);
    let lease = r.read(&JOB_LEASE);
    let max_attempts = r.read(&JOB_MAX_ATTEMPTS);
    let retry_base = r.read(&JOB_RETRY_DELAY);
    let merge_window = r.read(&MERGE_WINDOW_MS);
    let shutdown_grace = r.read(&SHUTDOWN_GRACE);
    let stream_edit_interval = r.read(&STREAM_EDIT_INTERVAL_MS);
    let telegram_rate_limit = r.read(&TELEGRAM_RATE_LIMIT);
    let telegram_chat_gap = r.read(&TELEGRAM_CHAT_GAP_MS);
    let llm_idle_timeout = r.read(&LLM_IDLE_TIMEOUT);
    let admins = r.read(&ADMIN_USER_IDS);
    let daily_tokens = r.read(&USER_DAILY_TOKENS);
    let monthly_tokens = r.read(&USER_MONTHLY_TOKENS);
    let user_limits = r.read(&USER_LIMITS);
    let prices = r.read(&MODEL_PRICES);
    let webhook = read_webhook(r);
    let vision_models = r.read(&VISION_MODELS);
    let max_image_bytes = r.read(&MAX_IMAGE_BYTES);
    let max_document_bytes = r.read(&MAX_DOCUMENT_BYTES);
    let image_cache_mb = r.read(&IMAGE_CACHE_MB);
    // Read last, as before the table, so its problem comes last.
    let api_token = r.read(&API_TOKEN);

    Some(Config {
        telegram: TelegramConfig {
            api_url: api_url?,
            token: token?,
            poll_timeout: poll_timeout?,
        },
        access: access?,
        refusal_notice_interval: refusal_notice_interval?,
        allowed_chats: allowed_chats?,
        group_mode: group_mode?,
        group_context_messages: group_context_messages?,
        llm: LlmConfig {
            base_url: base_url?,
            model: model?,
            api_key: api_key?,
            allowed_models: allowed_models?,
        },
        redis: RedisConfig {
            url: redis_url?,
            key_prefix: key_prefix?,
        },
        database_path: database_path?,
        api_host: api_host?,
        api_port: api_port?,
        workers: workers?,
        process_role: process_role?,
        max_concurrent_jobs: max_concurrent_jobs?,
        job_timeout: job_timeout?,
        background_threshold_tokens: background_threshold_tokens?,
        tokenizer_path: tokenizer_path?,
        context: ContextConfig {
            window_tokens: window_tokens?,
            window_explicit,
            compress_ratio: compress_ratio?,
            keep_recent_messages: keep_recent_messages?,
        },
        system_prompt: system_prompt?,
        compression_notice: compression_notice?,
        usage: UsageConfig {
            limits: crate::usage::UsageLimits {
                default: crate::usage::Limits::of(daily_tokens?, monthly_tokens?),
                per_user: user_limits?,
                admins: admins?,
            },
            prices: prices?,
        },
        queue: QueueSettings {
            lease: lease?,
            max_attempts: max_attempts?,
            retry_base: retry_base?,
            merge_window: merge_window?,
        },
        shutdown_grace: shutdown_grace?,
        stream_edit_interval: stream_edit_interval?,
        telegram_rate_limit: telegram_rate_limit?,
        telegram_chat_gap: telegram_chat_gap?,
        llm_idle_timeout: llm_idle_timeout?,
        api_token: api_token?,
        webhook: webhook?,
        media: MediaConfig {
            vision_models: vision_models?,
            max_image_bytes: max_image_bytes?,
            max_document_bytes: max_document_bytes?,
            image_cache_mb: image_cache_mb?,
        },
    })
}

/// The webhook settings, checked together: a URL needs a secret, and on the API server's port its path must be
/// one the API does not serve.
fn read_webhook(r: &mut Reader) -> Option<Option<WebhookConfig>> {
    use settings::*;
    let (url, secret, port) = (
        r.read(&TELEGRAM_WEBHOOK_URL),
        r.read(&WEBHOOK_SECRET),
        r.read(&WEBHOOK_PORT),
    );
    let (url, secret, port) = (url?, secret?, port?);
    let Some(url) = url else {
        return Some(None);
    };
    let Some(secret) = secret else {
        r.problems.push(
            "WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL: the bot gives it to Telegram and accepts only \
             the requests that carry it. Generate one with e.g. `openssl rand -hex 32`."
                .into(),
        );
        return None;
    };
    let taken = API_PATHS.contains(&url.path.as_str())
        || url.path == "/api"
        || url.path.starts_with("/api/");
    if port.is_none() && taken {
        r.problems.push(format!(
            "TELEGRAM_WEBHOOK_URL's path {} is one the API server serves: give the webhook a path of its own \
             (e.g. https://bot.example.org/telegram/webhook), or its own port with WEBHOOK_PORT.",
            url.path
        ));
        return None;
    }
    Some(Some(WebhookConfig { url, secret, port }))
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
    use super::settings::database_path;
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

    #[test]
    fn every_setting_of_the_table_is_read_once_when_the_config_is_built() {
        let env = settings::Env::new(minimal());
        let mut reader = Reader::new(&env);
        assert!(build(&mut reader).is_some(), "{:?}", reader.problems);
        let mut read = reader.names.clone();
        read.sort_unstable();
        let mut table: Vec<&str> = settings::ALL.iter().map(|s| s.name()).collect();
        table.sort_unstable();
        assert_eq!(read, table);
    }

    #[test]
    fn every_setting_and_legacy_name_is_documented_in_env_example_and_configuration_md() {
        let example = include_str!("../../.env.example");
        let docs = include_str!("../../docs/configuration.md");
        for setting in settings::ALL {
            for name in
                std::iter::once(setting.name()).chain(setting.legacy_names().iter().copied())
            {
                let line = format!("{name}=");
                assert!(
                    example
                        .lines()
                        .any(|l| l.trim_start_matches(['#', ' ']).starts_with(&line)),
                    "{name} is not in .env.example"
                );
                assert!(
                    docs.contains(&format!("`{name}`")),
                    "{name} is not in docs/configuration.md"
                );
            }
        }
    }

    #[test]
    fn describe_prints_every_setting_once_in_the_order_of_the_table() {
        let text = Config::from_vars(minimal()).unwrap().describe();
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim_end()))
            .collect();
        let table: Vec<&str> = settings::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, table);
    }

    #[test]
    fn names_are_matched_whatever_their_case() {
        let mut v = minimal();
        v.push(("job_timeout".into(), "7".into()));
        assert_eq!(
            Config::from_vars(v).unwrap().job_timeout,
            Duration::from_secs(7)
        );
    }

    #[test]
    fn refusal_notice_interval_is_seconds_and_defaults_to_five_minutes() {
        let c = Config::from_vars(minimal()).unwrap();
        assert_eq!(c.refusal_notice_interval, Duration::from_secs(300));
        assert!(c.describe().contains("REFUSAL_NOTICE_INTERVAL"));

        for (text, secs) in [("0", 0), ("60s", 60), ("86400", 86_400)] {
            let mut v = minimal();
            v.push(("REFUSAL_NOTICE_INTERVAL".into(), text.into()));
            let c = Config::from_vars(v).unwrap();
            assert_eq!(
                c.refusal_notice_interval,
                Duration::from_secs(secs),
                "{text}"
            );
        }

        for text in ["-1", "86401", "soon"] {
            let mut v = minimal();
            v.push(("REFUSAL_NOTICE_INTERVAL".into(), text.into()));
            let err = Config::from_vars(v).unwrap_err();
            assert_eq!(
                err.problems,
                [format!(
                    "REFUSAL_NOTICE_INTERVAL must be a whole number of seconds from 0 to 86400, not {text:?}."
                )]
            );
        }
    }

    #[test]
    fn a_webhook_needs_its_secret_and_a_path_the_api_server_does_not_serve() {
        assert!(Config::from_vars(minimal()).unwrap().webhook.is_none());
        let with = |pairs: &[(&str, &str)]| {
            let mut v = minimal();
            v.extend(vars(pairs));
            Config::from_vars(v)
        };
        let url = ("TELEGRAM_WEBHOOK_URL", "https://bot.example.org/tg/hook");
        let secret = ("WEBHOOK_SECRET", "abc_DEF-123456");
        let c = with(&[url, secret]).unwrap();
        let w = c.webhook.as_ref().unwrap();
        assert_eq!((w.url.path.as_str(), w.port), ("/tg/hook", None));
        assert!(!c.describe().contains("abc_DEF-123456"), "{}", c.describe());
        assert_eq!(c.redactor().redact("x abc_DEF-123456 y"), "x <redacted> y");

        let e = with(&[url]).unwrap_err();
        assert!(
            e.problems[0].starts_with("WEBHOOK_SECRET is required"),
            "{e}"
        );
        let e = with(&[url, ("WEBHOOK_SECRET", "has space")]).unwrap_err();
        assert!(
            e.problems[0].starts_with("WEBHOOK_SECRET must be 1 to 256"),
            "{e}"
        );
        assert!(!e.to_string().contains("has space"), "{e}");
        for taken in [
            "https://b.example.org",
            "https://b.example.org/health",
            "https://b.example.org/api/x",
        ] {
            let e = with(&[("TELEGRAM_WEBHOOK_URL", taken), secret]).unwrap_err();
            assert!(
                e.problems[0].contains("is one the API server serves"),
                "{e}"
            );
            let c = with(&[
                ("TELEGRAM_WEBHOOK_URL", taken),
                secret,
                ("WEBHOOK_PORT", "8443"),
            ])
            .unwrap();
            assert_eq!(c.webhook.unwrap().port, Some(8443));
        }
        // Without a URL the other two change nothing.
        assert!(with(&[secret, ("WEBHOOK_PORT", "9000")])
            .unwrap()
            .webhook
            .is_none());
    }

    #[test]
    fn groups_are_answered_when_addressed_and_only_listed_groups_admit_every_member() {
        let c = Config::from_vars(minimal()).unwrap();
        assert_eq!(c.group_mode, GroupMode::Mention);
        assert!(c.allowed_chats.is_empty());

        let mut v = minimal();
        v.extend(vars(&[
            ("GROUP_MODE", "All"),
            ("ALLOWED_CHAT_IDS", "-1001234567890, ,-42"),
        ]));
        let c = Config::from_vars(v).unwrap();
        assert_eq!(c.group_mode, GroupMode::All);
        assert_eq!(
            c.allowed_chats,
            BTreeSet::from([ChatId(-1001234567890), ChatId(-42)])
        );
        assert!(c.describe().contains("-1001234567890,-42"));

        let mut v = minimal();
        v.extend(vars(&[
            ("GROUP_MODE", "sometimes"),
            ("ALLOWED_CHAT_IDS", "42,x"),
        ]));
        let text = Config::from_vars(v).unwrap_err().to_string();
        assert!(
            text.contains("GROUP_MODE must be mention, all or off"),
            "{text}"
        );
        assert!(text.contains("not group chat ids: 42, x"), "{text}");
    }

    #[test]
    fn group_memory_is_off_by_default_and_keeps_at_most_fifty_messages() {
        let c = Config::from_vars(minimal()).unwrap();
        assert_eq!(c.group_context_messages, 0);

        let mut v = minimal();
        v.push(("GROUP_CONTEXT_MESSAGES".into(), "50".into()));
        assert_eq!(Config::from_vars(v).unwrap().group_context_messages, 50);

        let mut v = minimal();
        v.push(("GROUP_CONTEXT_MESSAGES".into(), "51".into()));
        assert_eq!(
            Config::from_vars(v).unwrap_err().problems,
            ["GROUP_CONTEXT_MESSAGES must be a whole number of messages from 0 to 50, not \"51\"."]
        );
    }
}
