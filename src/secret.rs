//! Secrets (the bot token, API keys) that never show up in `Debug`, `Display` or logs.

use std::borrow::Cow;
use std::fmt;

/// A string that must not be printed. `expose()` is the only way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the one place that must send it (a URL, a header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this secret, compared in constant time: how long the comparison takes does
    /// not depend on where the first wrong byte is, so a caller cannot guess the secret byte by byte. (It
    /// does tell a wrong length at once; the length is not the secret.)
    pub fn verify(&self, candidate: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Replaces every occurrence of known secrets in a text. Used by the log formatter and by error constructors,
/// because the bot token is part of every Telegram URL and any library may print a URL.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

/// Shorter secrets would match ordinary words; nothing we hold is that short.
const MIN_SECRET_LEN: usize = 6;

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> Self {
        let mut secrets: Vec<Secret> = secrets
            .into_iter()
            .filter(|s| s.expose().len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
        Self { secrets }
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.expose()) {
                out = Cow::Owned(out.replace(secret.expose(), "<redacted>"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("123456:ABCDEF");
        assert!(!format!("{s:?}{s}").contains("ABCDEF"));
    }

    #[test]
    fn verify_accepts_only_the_exact_secret() {
        let s = Secret::new("0123456789abcdef-token");
        assert!(s.verify(b"0123456789abcdef-token"));
        assert!(!s.verify(b"0123456789abcdef-tokeN"));
        assert!(!s.verify(b"X123456789abcdef-token"));
        assert!(!s.verify(b"0123456789abcdef-toke"));
        assert!(!s.verify(b"0123456789abcdef-token "));
        assert!(!s.verify(b""));
    }

    #[test]
    fn redactor_replaces_every_occurrence() {
        let r = Redactor::new([Secret::new("123456:ABCDEF")]);
        let out = r.redact("GET /bot123456:ABCDEF/getMe failed; token 123456:ABCDEF");
        assert_eq!(out, "GET /bot<redacted>/getMe failed; token <redacted>");
    }

    #[test]
    fn redactor_ignores_too_short_secrets() {
        let r = Redactor::new([Secret::new("ab")]);
        assert_eq!(r.redact("abc"), "abc");
    }
}
