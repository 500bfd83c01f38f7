//! The model's context window, shared by everything that sizes prompts: `CONTEXT_WINDOW_TOKENS` when set,
//! else what the server's `/v1/models` reports for the model (aichat reports `max_input_tokens`), else the
//! default. `AICHAT_MODEL`'s is learned once at start and read everywhere (atomics, no lock); another model's
//! comes from its figures ([`ContextWindow::size_for`], used by the `ModelCatalog`).

use crate::config::ContextConfig;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Room kept for the answer when the server does not say how long answers can be.
pub const DEFAULT_ANSWER_RESERVE: usize = 4096;

#[derive(Debug)]
pub struct ContextWindow {
    window: AtomicUsize,
    /// Tokens kept free for the answer.
    reserve: AtomicUsize,
    explicit: bool,
    ratio: f64,
    /// `CONTEXT_WINDOW_TOKENS` (or its default), kept for models the server says nothing about.
    configured: usize,
}

impl ContextWindow {
    pub fn new(config: &ContextConfig) -> Self {
        let window = config.window_tokens;
        Self {
            window: AtomicUsize::new(window),
            reserve: AtomicUsize::new(default_reserve(window)),
            explicit: config.window_explicit,
            ratio: config.compress_ratio,
            configured: window,
        }
    }

    /// The window, in the server's tokens.
    pub fn window(&self) -> usize {
        self.window.load(Ordering::Relaxed)
    }

    /// Above this many tokens of context, the chat is compressed.
    pub fn threshold(&self) -> usize {
        // Display-sized numbers: the float round trip is exact enough.
        (self.window() as f64 * self.ratio) as usize
    }

    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// The most a prompt may take: the window less the room kept for the answer.
    pub fn prompt_budget(&self) -> usize {
        self.window()
            .saturating_sub(self.reserve.load(Ordering::Relaxed))
            .max(1)
    }

    /// The default model's window, threshold and prompt budget, as one value.
    pub fn size(&self) -> WindowSize {
        WindowSize {
            window: self.window(),
            reserve: self.reserve.load(Ordering::Relaxed),
            ratio: self.ratio,
        }
    }

    /// The window of a model the server reports `max_input_tokens` and `max_output_tokens` for: those
    /// figures (as [`learn`](Self::learn) reads them), unless `CONTEXT_WINDOW_TOKENS` was set; `None` when
    /// they say nothing usable.
    pub fn size_for(
        &self,
        max_input_tokens: Option<u64>,
        max_output_tokens: Option<u64>,
    ) -> Option<WindowSize> {
        if self.explicit {
            return Some(self.size());
        }
        let (window, reserve) = read_figures(max_input_tokens, max_output_tokens)?;
        Some(WindowSize {
            window,
            reserve,
            ratio: self.ratio,
        })
    }

    /// The window configured (or the default), for a model the server says nothing about.
    pub fn configured(&self) -> WindowSize {
        WindowSize {
            window: self.configured,
            reserve: default_reserve(self.configured),
            ratio: self.ratio,
        }
    }

    /// Whether `CONTEXT_WINDOW_TOKENS` was set (then every model has that window).
    pub fn is_explicit(&self) -> bool {
        self.explicit
    }

    /// Takes the server's figures for the model, unless `CONTEXT_WINDOW_TOKENS` was set. Returns whether
    /// the window changed.
    pub fn learn(&self, max_input_tokens: Option<u64>, max_output_tokens: Option<u64>) -> bool {
        if self.explicit {
            return false;
        }
        let Some((window, reserve)) = read_figures(max_input_tokens, max_output_tokens) else {
            return false;
        };
        self.window.store(window, Ordering::Relaxed);
        self.reserve.store(reserve, Ordering::Relaxed);
        true
    }
}

/// The window and the answer's reserve the server's figures give: a window under 1024 tokens is nonsense
/// (`None`); the reserve is the model's longest answer, at most a quarter of the window.
fn read_figures(
    max_input_tokens: Option<u64>,
    max_output_tokens: Option<u64>,
) -> Option<(usize, usize)> {
    let window = max_input_tokens
        .and_then(|w| usize::try_from(w).ok())
        .filter(|w| *w >= 1024)?;
    let reserve = max_output_tokens
        .and_then(|r| usize::try_from(r).ok())
        .filter(|r| *r > 0)
        .map_or(default_reserve(window), |r| r.min(window / 4));
    Some((window, reserve))
}

/// One model's window, as a plain value: what a turn, `/context` and compression size themselves by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowSize {
    /// In the server's tokens.
    pub window: usize,
    /// Kept free for the answer.
    reserve: usize,
    ratio: f64,
}

impl WindowSize {
    /// Above this many tokens of context, the conversation is compressed.
    pub fn threshold(&self) -> usize {
        (self.window as f64 * self.ratio) as usize
    }

    /// The most a prompt may take: the window less the room kept for the answer.
    pub fn prompt_budget(&self) -> usize {
        self.window.saturating_sub(self.reserve).max(1)
    }

    pub fn ratio(&self) -> f64 {
        self.ratio
    }
}

fn default_reserve(window: usize) -> usize {
    DEFAULT_ANSWER_RESERVE.min(window / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(explicit: bool) -> ContextConfig {
        ContextConfig {
            window_tokens: 128_000,
            window_explicit: explicit,
            compress_ratio: 0.75,
            keep_recent_messages: 6,
        }
    }

    #[test]
    fn the_server_window_is_used_unless_one_was_configured() {
        let w = ContextWindow::new(&config(false));
        assert_eq!(
            (w.window(), w.threshold(), w.prompt_budget()),
            (128_000, 96_000, 123_904)
        );
        assert!(w.learn(Some(32_000), Some(2_000)));
        assert_eq!(
            (w.window(), w.threshold(), w.prompt_budget()),
            (32_000, 24_000, 30_000)
        );
        assert!(!w.learn(None, None));
        assert!(!w.learn(Some(10), None), "nonsense is ignored");
        let fixed = ContextWindow::new(&config(true));
        assert!(!fixed.learn(Some(32_000), None));
        assert_eq!(fixed.window(), 128_000);
    }
}
