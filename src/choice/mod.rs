//! Choosing a chat's model and role from the server's catalog ([`crate::llm::catalog`]): pure functions, no I/O.
//!
//! - [`allowed`]: `ALLOWED_MODELS` ([`AllowedModels`]: exact ids, or prefixes ending in `*`).
//! - [`offered_models`]: the server's chat models that may be chosen, in the server's order.
//! - [`labels`]: button labels, shortened but never ambiguous.
//! - [`pages`]: the keyboards, [`PAGE_SIZE`] entries a page, the current one marked, ◀ / ▶ to turn pages.
//! - [`callback`]: the buttons' `callback_data` (short versioned keys, at most 64 bytes) and their total
//!   decoder, which tells a tap on an old keyboard whose entry moved or vanished (stale).
//! - [`closest`]: the names closest to an unknown one (`/model NAME`).

pub mod allowed;
pub mod callback;
pub mod closest;
pub mod labels;
pub mod pages;

pub use allowed::{AllowedModels, ModelPattern, PatternError};
pub use callback::{decode, Callback, Key};
pub use closest::closest;
pub use pages::{model_keyboard, page_of, role_keyboard, PAGE_SIZE};

use crate::llm::catalog::{Model, ModelKind};

/// The models a chat may choose: the server's chat models that `allowed` allows, in the server's order, each id
/// once (the first listing wins).
pub fn offered_models(models: &[Model], allowed: &AllowedModels) -> Vec<Model> {
    let mut seen = std::collections::HashSet::new();
    models
        .iter()
        .filter(|m| m.kind == ModelKind::Chat && allowed.allows(&m.id))
        .filter(|m| seen.insert(m.id.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, kind: ModelKind) -> Model {
        Model {
            id: id.into(),
            kind,
            max_input_tokens: None,
            max_output_tokens: None,
            supports_vision: false,
            input_price: None,
            output_price: None,
        }
    }

    #[test]
    fn only_allowed_chat_models_are_offered_in_the_servers_order_once() {
        let models = [
            model("openai:gpt-4o", ModelKind::Chat),
            model("openai:text-embedding-3-small", ModelKind::Embedding),
            model("claude:claude-3-5-sonnet", ModelKind::Chat),
            model("jina:reranker", ModelKind::Reranker),
            model("openai:o1", ModelKind::Chat),
            model("openai:gpt-4o", ModelKind::Chat),
        ];
        let ids = |allowed: &AllowedModels| -> Vec<String> {
            offered_models(&models, allowed)
                .into_iter()
                .map(|m| m.id)
                .collect()
        };
        assert_eq!(
            ids(&AllowedModels::all()),
            ["openai:gpt-4o", "claude:claude-3-5-sonnet", "openai:o1"]
        );
        assert_eq!(
            ids(&AllowedModels::parse("openai:*").unwrap()),
            ["openai:gpt-4o", "openai:o1"]
        );
        assert!(ids(&AllowedModels::parse("none:*").unwrap()).is_empty());
    }
}
