//! Token counting: a Hugging Face `tokenizer.json` when `TOKENIZER_PATH` is set, otherwise a fast estimate.
//!
//! Loaded once at start and shared (`Arc<TokenCounter>`). Counting never fails: special-token text, odd
//! Unicode and empty strings all get a number.

use std::path::Path;

/// Chat formats wrap every message in a few tokens (role markers, separators).
pub const PER_MESSAGE_OVERHEAD: usize = 4;

#[derive(Debug, thiserror::Error)]
#[error("cannot load the tokenizer from {path}: {reason}")]
pub struct TokenizerError {
    pub path: String,
    pub reason: String,
}

pub struct TokenCounter {
    tokenizer: Option<tokenizers::Tokenizer>,
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCounter")
            .field("tokenizer", &self.tokenizer.is_some())
            .finish()
    }
}

impl TokenCounter {
    /// The estimate only.
    pub fn estimate_only() -> Self {
        Self { tokenizer: None }
    }

    pub fn load(path: Option<&Path>) -> Result<Self, TokenizerError> {
        let Some(path) = path else {
            return Ok(Self::estimate_only());
        };
        let mut tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| TokenizerError {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        // BERT-style files carry truncation and padding; counting wants neither.
        let _ = tokenizer.with_truncation(None);
        tokenizer.with_padding(None);
        Ok(Self {
            tokenizer: Some(tokenizer),
        })
    }

    /// Tokens in one message's content, including the per-message overhead.
    pub fn count_message(&self, text: &str) -> usize {
        self.count(text) + PER_MESSAGE_OVERHEAD
    }

    /// Tokens in a text.
    pub fn count(&self, text: &str) -> usize {
        if text.is_empty() {
            return 0;
        }
        match &self.tokenizer {
            // `add_special_tokens = false`: the text is content; special-token strings in it are just text.
            Some(t) => match t.encode(text, false) {
                Ok(enc) => enc.len(),
                Err(_) => estimate(text),
            },
            None => estimate(text),
        }
    }
}

/// A fast estimate: about four bytes of English per token, and about one token per character for scripts
/// whose characters are three or four UTF-8 bytes (CJK, emoji), which BPE tokenizers split finely.
pub fn estimate(text: &str) -> usize {
    let mut ascii = 0usize;
    let mut wide = 0usize;
    for c in text.chars() {
        if c.is_ascii() {
            ascii += 1;
        } else if c.len_utf8() >= 3 {
            wide += 1;
        } else {
            ascii += 2;
        }
    }
    (ascii.div_ceil(4) + wide).max(usize::from(!text.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_is_zero_only_for_empty_text() {
        assert_eq!(estimate(""), 0);
        assert_eq!(estimate("a"), 1);
        assert_eq!(estimate("hello world, how are you?"), 7);
        assert_eq!(estimate("你好世界"), 4);
    }

    #[test]
    fn counter_without_tokenizer_never_fails() {
        let c = TokenCounter::estimate_only();
        assert_eq!(c.count(""), 0);
        assert!(c.count("<|endoftext|> <s></s> \u{0}\u{feff}") > 0);
        assert_eq!(c.count_message(""), PER_MESSAGE_OVERHEAD);
    }

    #[test]
    fn loading_a_missing_file_is_an_error_not_a_panic() {
        let err = TokenCounter::load(Some(Path::new("/nonexistent/tokenizer.json"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/tokenizer.json"));
    }
}
