//! The model server's settings: where the OpenAI-compatible server is, the model asked for, its key, and the
//! models a chat may choose.

use super::parse::http_url;
use super::{Fallback, Legacy, Setting};
use crate::choice::AllowedModels;
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

/// Which of the server's models a chat may choose (`/model`): a comma list of model ids, where a trailing `*`
/// matches every id starting with the rest (`openai:*`). Unset or empty: every chat model the server lists.
pub static ALLOWED_MODELS: Setting<AllowedModels> = Setting {
    name: "ALLOWED_MODELS",
    legacy: Legacy::None,
    default: Fallback::Value(AllowedModels::all),
    parse: |name, s| AllowedModels::parse(s).map_err(|e| format!("{name}: {e}.")),
    show: |c| c.llm.allowed_models.to_string(),
};

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        [
            ("TELEGRAM_BOT_TOKEN", "123456:ABCdef-ghi_jkl"),
            ("ALLOWED_USER_IDS", "42"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn allowed_models_are_every_model_unless_listed() {
        let all = Config::from_vars(env(&[])).unwrap();
        let listed = Config::from_vars(env(&[(
            "ALLOWED_MODELS",
            "openai:*, claude:claude-3-5-sonnet",
        )]))
        .unwrap();

        assert!(all.llm.allowed_models.allows_all());
        assert!(listed.llm.allowed_models.allows("openai:gpt-4o"));
        assert!(!listed.llm.allowed_models.allows("claude:claude-3-opus"));
        assert!(listed
            .describe()
            .contains("openai:*,claude:claude-3-5-sonnet"));
    }

    #[test]
    fn a_star_inside_an_allowed_model_is_a_problem_listed_with_the_others() {
        let err =
            Config::from_vars(env(&[("ALLOWED_MODELS", "open*ai"), ("WORKERS", "0")])).unwrap_err();
        assert_eq!(err.problems.len(), 2, "{:?}", err.problems);
        assert!(
            err.problems.iter().any(|p| p
                == "ALLOWED_MODELS: \"open*ai\": `*` may only end a pattern (as in `openai:*`)."),
            "{:?}",
            err.problems
        );
    }
}
