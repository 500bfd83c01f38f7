//! Token counting: a Hugging Face `tokenizer.json` when `TOKENIZER_PATH` is set, otherwise a fast estimate,
//! corrected per model by what the server reports.
//!
//! Loaded once at start and shared (`Arc<TokenCounter>`). Counting never fails: special-token text, odd
//! Unicode and empty strings all get a number.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Chat formats wrap every message in a few tokens (role markers, separators).
pub const PER_MESSAGE_OVERHEAD: usize = 4;
/// Weight of one new observation in the running correction factor (exponential moving average).
const CORRECTION_WEIGHT: f64 = 0.3;
/// A factor outside this range means the observation is not about the same text (e.g. a server that adds
/// large hidden prompts); it is clamped so one odd answer cannot wreck the estimates.
const CORRECTION_RANGE: (f64, f64) = (0.25, 4.0);

#[derive(Debug, thiserror::Error)]
#[error("cannot load the tokenizer from {path}: {reason}")]
pub struct TokenizerError {
    pub path: String,
    pub reason: String,
}

pub struct TokenCounter {
    tokenizer: Option<tokenizers::Tokenizer>,
    /// Per model: reported prompt tokens / our count, smoothed.
    corrections: Mutex<HashMap<String, f64>>,
    /// Texts counted and the time it took (for benchmarks and metrics).
    counted: AtomicU64,
    counting_nanos: AtomicU64,
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
        Self {
            tokenizer: None,
            corrections: Mutex::new(HashMap::new()),
            counted: AtomicU64::new(0),
            counting_nanos: AtomicU64::new(0),
        }
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
        // The parse's scratch memory is far larger than the tokenizer it leaves.
        crate::memory::release_freed();
        Ok(Self {
            tokenizer: Some(tokenizer),
            ..Self::estimate_only()
        })
    }

    pub fn has_tokenizer(&self) -> bool {
        self.tokenizer.is_some()
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
        let started = Instant::now();
        let n = self.count_now(text);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.counted.fetch_add(1, Ordering::Relaxed);
        self.counting_nanos.fetch_add(nanos, Ordering::Relaxed);
        n
    }

    /// How many texts were counted, and the time spent counting them.
    pub fn counting_time(&self) -> (u64, Duration) {
        (
            self.counted.load(Ordering::Relaxed),
            Duration::from_nanos(self.counting_nanos.load(Ordering::Relaxed)),
        )
    }

    fn count_now(&self, text: &str) -> usize {
        match &self.tokenizer {
            // `add_special_tokens = false`: the text is content; special-token strings in it are just text.
            Some(t) => match t.encode(text, false) {
                Ok(enc) => enc.len(),
                Err(_) => estimate(text),
            },
            None => estimate(text),
        }
    }

    /// The model's correction factor (1.0 until the server has reported usage).
    pub fn correction(&self, model: &str) -> f64 {
        self.corrections
            .lock()
            .ok()
            .and_then(|m| m.get(model).copied())
            .unwrap_or(1.0)
    }

    /// Our count scaled by the model's correction factor: what the server will most likely count.
    pub fn corrected(&self, model: &str, counted: usize) -> usize {
        // Token counts are far below 2^52: the float round trip is exact enough.
        (counted as f64 * self.correction(model)).ceil() as usize
    }

    /// Learns from a server's report: `counted` is our count of the prompt, `reported` the server's
    /// `usage.prompt_tokens`. Zeros (aichat's "unknown") are ignored.
    pub fn observe(&self, model: &str, counted: usize, reported: u64) {
        if counted == 0 || reported == 0 {
            return;
        }
        let ratio =
            (reported as f64 / counted as f64).clamp(CORRECTION_RANGE.0, CORRECTION_RANGE.1);
        if let Ok(mut map) = self.corrections.lock() {
            let factor = map.entry(model.to_string()).or_insert(ratio);
            *factor += CORRECTION_WEIGHT * (ratio - *factor);
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
        let megabyte = "Lorem ipsum dolor sit amet, 😀 <|im_start|> ".repeat(25_000);
        assert!(megabyte.len() > 1_000_000);
        assert!(c.count(&megabyte) > 200_000);
    }

    #[test]
    fn loading_a_missing_file_is_an_error_not_a_panic() {
        let err = TokenCounter::load(Some(Path::new("/nonexistent/tokenizer.json"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/tokenizer.json"));
    }

    #[test]
    fn the_correction_factor_converges_to_what_the_server_reports() {
        let c = TokenCounter::estimate_only();
        assert_eq!(c.corrected("m", 1000), 1000);
        // The server counts 30% more than we do.
        for _ in 0..30 {
            c.observe("m", 1000, 1300);
        }
        assert!(
            (c.correction("m") - 1.3).abs() < 0.01,
            "{}",
            c.correction("m")
        );
        assert_eq!(c.corrected("m", 100), 130);
        // Other models are unaffected; zeros ("unknown") are ignored; outliers are clamped.
        assert_eq!(c.correction("other"), 1.0);
        c.observe("z", 100, 0);
        assert_eq!(c.correction("z"), 1.0);
        c.observe("z", 1, 1_000_000);
        assert_eq!(c.correction("z"), CORRECTION_RANGE.1);
    }

    /// A real tokenizer.json, trained here with the crate itself (no download).
    #[test]
    fn a_real_tokenizer_json_loads_and_counts_including_special_tokens_and_a_megabyte() {
        use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainer};
        use tokenizers::normalizers::NormalizerWrapper;
        use tokenizers::pre_tokenizers::whitespace::Whitespace;
        use tokenizers::{
            AddedToken, DecoderWrapper, PostProcessorWrapper, TokenizerBuilder, TokenizerImpl,
        };

        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("corpus.txt");
        std::fs::write(
            &corpus,
            "hello world\nthe quick brown fox jumps over the lazy dog\n",
        )
        .unwrap();
        let mut trainer = WordLevelTrainer::builder()
            .special_tokens(vec![
                AddedToken::from("[UNK]", true),
                AddedToken::from("<|endoftext|>", true),
            ])
            .build()
            .unwrap();
        let mut tokenizer: TokenizerImpl<
            WordLevel,
            NormalizerWrapper,
            Whitespace,
            PostProcessorWrapper,
            DecoderWrapper,
        > = TokenizerBuilder::new()
            .with_model(
                WordLevel::builder()
                    .unk_token("[UNK]".into())
                    .build()
                    .unwrap(),
            )
            .with_pre_tokenizer(Some(Whitespace {}))
            .build()
            .unwrap();
        tokenizer
            .train_from_files(&mut trainer, vec![corpus.to_string_lossy().into_owned()])
            .unwrap();
        let path = dir.path().join("tokenizer.json");
        tokenizer.save(&path, false).unwrap();

        let counter = TokenCounter::load(Some(&path)).unwrap();
        assert!(counter.has_tokenizer());
        assert_eq!(counter.count("hello world"), 2);
        assert_eq!(counter.count("the quick brown fox"), 4);
        assert_eq!(
            counter.count("<|endoftext|> hello"),
            2,
            "special tokens count as text, no error"
        );
        assert_eq!(counter.count(""), 0);
        let megabyte = "hello world ".repeat(90_000);
        assert_eq!(counter.count(&megabyte), 180_000);
    }
}
