//! The models a chat may use, in one place: the server's `/v1/models` list (the last one fetched: at start,
//! and by every `/model` and tap, which always ask the server, so a choice is checked against what it offers
//! now), `AICHAT_MODEL` (a conversation without a model of its own), `ALLOWED_MODELS`, and each model's context
//! window. Shared by every worker and the `SessionManager` (a `std` mutex around a list; no I/O under it).
//! The list is fetched by the caller's own [`LlmClient`] (awc clients belong to one thread).

use crate::choice::{offered_models, AllowedModels};
use crate::context::{ContextWindow, WindowSize};
use crate::llm::catalog::Model;
use crate::llm::{LlmClient, LlmError};
use crate::usage::{ModelPrices, Price};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A model list comes from a local gateway at once; a slow one is not waited for long.
pub const CATALOG_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct ModelCatalog {
    default_model: String,
    allowed: AllowedModels,
    /// `MODEL_PRICES`, over the server's prices.
    prices: ModelPrices,
    window: Arc<ContextWindow>,
    /// The last list fetched: each model's window comes from it.
    cached: Mutex<Option<Arc<Vec<Model>>>>,
}

impl ModelCatalog {
    pub fn new(
        default_model: &str,
        allowed: AllowedModels,
        prices: ModelPrices,
        window: Arc<ContextWindow>,
    ) -> Self {
        Self {
            default_model: default_model.to_string(),
            allowed,
            prices,
            window,
            cached: Mutex::new(None),
        }
    }

    /// The context window settings (and `AICHAT_MODEL`'s learned window).
    pub fn window(&self) -> &ContextWindow {
        &self.window
    }

    /// `AICHAT_MODEL`: the model of a conversation that chose none.
    pub fn default_model(&self) -> &str {
        &self.default_model
    }

    /// The model a conversation uses: its own, else `AICHAT_MODEL`.
    pub fn model_of<'a>(&'a self, own: Option<&'a str>) -> &'a str {
        own.unwrap_or(&self.default_model)
    }

    /// The server's models (every kind), asked with `llm` now, and kept as the last list.
    pub async fn models(&self, llm: &LlmClient) -> Result<Arc<Vec<Model>>, LlmError> {
        let list = Arc::new(llm.list_models(CATALOG_TIMEOUT).await?);
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some(list.clone());
        }
        Ok(list)
    }

    /// The models a chat may choose: the server's chat models that `ALLOWED_MODELS` allows.
    pub fn offered(&self, models: &[Model]) -> Vec<Model> {
        offered_models(models, &self.allowed)
    }

    /// Whether the last list marked `model` `supports_vision` (`None`: not in it), without copying its entry.
    pub fn supports_vision(&self, model: &str) -> Option<bool> {
        self.with_known(model, |m| m.supports_vision)
    }

    /// `read` of what the last list said of `model` (no copy of the entry: a turn asks this for its window).
    fn with_known<T>(&self, model: &str, read: impl FnOnce(&Model) -> T) -> Option<T> {
        let cached = self.cached.lock().ok()?;
        cached.as_ref()?.iter().find(|m| m.id == model).map(read)
    }

    /// The context window of `model`: `CONTEXT_WINDOW_TOKENS` when set; else the server's figures for it
    /// (from the last list); else, for `AICHAT_MODEL`, the window learned at start; else the configured
    /// default.
    pub fn size_of(&self, model: &str) -> WindowSize {
        if self.window.is_explicit() {
            return self.window.size();
        }
        let reported = self
            .with_known(model, |m| (m.max_input_tokens, m.max_output_tokens))
            .and_then(|(input, output)| self.window.size_for(input, output));
        match reported {
            Some(size) => size,
            None if model == self.default_model => self.window.size(),
            None => self.window.configured(),
        }
    }

    /// The price of `model`: `MODEL_PRICES`' entry for it, else what the server's last list says, else
    /// unknown.
    pub fn price_of(&self, model: &str) -> Option<Price> {
        let server = self
            .with_known(model, |m| {
                Some(Price {
                    input: m.input_price?,
                    output: m.output_price?,
                })
            })
            .flatten();
        self.prices.price_of(model, server)
    }

    /// Keeps `models` as the last list, as if just fetched.
    pub fn remember(&self, models: Vec<Model>) {
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some(Arc::new(models));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ContextConfig;
    use crate::llm::catalog::ModelKind;

    fn model(id: &str, window: Option<u64>) -> Model {
        Model {
            id: id.into(),
            kind: ModelKind::Chat,
            max_input_tokens: window,
            max_output_tokens: None,
            supports_vision: false,
            input_price: None,
            output_price: None,
        }
    }

    fn catalog(explicit: bool) -> ModelCatalog {
        let window = Arc::new(ContextWindow::new(&ContextConfig {
            window_tokens: 128_000,
            window_explicit: explicit,
            compress_ratio: 0.75,
            keep_recent_messages: 6,
        }));
        window.learn(Some(64_000), None);
        ModelCatalog::new(
            "a:big",
            AllowedModels::all(),
            ModelPrices::default(),
            window,
        )
    }

    #[test]
    fn each_model_has_the_window_the_server_reports_unless_one_was_configured() {
        let c = catalog(false);
        c.remember(vec![model("a:small", Some(8_000)), model("a:mute", None)]);

        assert_eq!(c.size_of("a:small").window, 8_000);
        assert_eq!(c.size_of("a:small").threshold(), 6_000);
        assert_eq!(
            c.size_of("a:big").window,
            64_000,
            "the default's, learned at start"
        );
        assert_eq!(
            c.size_of("a:mute").window,
            128_000,
            "nothing reported: the configured one"
        );
        assert_eq!(c.size_of("a:unknown").window, 128_000);
        let fixed = catalog(true);
        fixed.remember(vec![model("a:small", Some(8_000))]);
        assert_eq!(
            fixed.size_of("a:small").window,
            128_000,
            "CONTEXT_WINDOW_TOKENS wins"
        );
    }

    #[test]
    fn a_conversation_without_a_model_uses_the_default() {
        let c = catalog(false);
        assert_eq!(c.model_of(None), "a:big");
        assert_eq!(c.model_of(Some("a:small")), "a:small");
    }

    #[test]
    fn a_models_price_is_model_prices_else_the_servers_else_unknown() {
        let c = catalog(false);
        let priced = Model {
            input_price: Some(0.15),
            output_price: Some(0.6),
            ..model("a:small", None)
        };
        let prices = ModelPrices::parse("a:big=2/8").unwrap();
        let c = ModelCatalog::new("a:big", AllowedModels::all(), prices, c.window.clone());
        c.remember(vec![priced, model("a:free", None)]);

        let input = |m: &str| c.price_of(m).map(|p| p.input);

        assert_eq!(input("a:small"), Some(0.15), "the server's");
        assert_eq!(input("a:big"), Some(2.0), "MODEL_PRICES'");
        assert_eq!(input("a:free"), None, "listed without prices");
        assert_eq!(input("a:unknown"), None);
    }
}
