//! `ALLOWED_MODELS`: which of the server's models a chat may choose.

/// One pattern of the list: a whole model id, or (with a trailing `*`) every id that starts with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelPattern {
    /// `openai:gpt-4o`: this id only.
    Exact(String),
    /// `openai:*`: every id starting with `openai:` (`*` alone: every id).
    Prefix(String),
}

impl ModelPattern {
    pub fn matches(&self, id: &str) -> bool {
        match self {
            ModelPattern::Exact(exact) => id == exact,
            ModelPattern::Prefix(prefix) => id.starts_with(prefix.as_str()),
        }
    }
}

/// The parsed `ALLOWED_MODELS`: a comma list of patterns; empty allows every model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedModels {
    patterns: Vec<ModelPattern>,
}

/// Why `ALLOWED_MODELS` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// A `*` that is not the last character of its pattern (`open*ai`, `*:gpt`).
    #[error("{0:?}: `*` may only end a pattern (as in `openai:*`)")]
    StarInside(String),
}

impl AllowedModels {
    /// Every model allowed.
    pub fn all() -> Self {
        Self::default()
    }

    /// Reads a comma list (`openai:*, claude:claude-3-5-sonnet`); blanks around and between items are ignored.
    pub fn parse(list: &str) -> Result<Self, PatternError> {
        let patterns = list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| match item.strip_suffix('*') {
                Some(prefix) if !prefix.contains('*') => {
                    Ok(ModelPattern::Prefix(prefix.to_string()))
                }
                None if !item.contains('*') => Ok(ModelPattern::Exact(item.to_string())),
                _ => Err(PatternError::StarInside(item.to_string())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { patterns })
    }

    /// Whether the model `id` may be chosen.
    pub fn allows(&self, id: &str) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches(id))
    }

    /// Whether every model is allowed (no patterns).
    pub fn allows_all(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn patterns(&self) -> &[ModelPattern] {
        &self.patterns
    }
}

impl std::fmt::Display for AllowedModels {
    /// The list as it would be written in `ALLOWED_MODELS` (`all` when empty), for `--check-config`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.patterns.is_empty() {
            return f.write_str("all");
        }
        let items: Vec<String> = self
            .patterns
            .iter()
            .map(|p| match p {
                ModelPattern::Exact(id) => id.clone(),
                ModelPattern::Prefix(prefix) => format!("{prefix}*"),
            })
            .collect();
        f.write_str(&items.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_allows_every_model() {
        for list in ["", " ", " , ,"] {
            let allowed = AllowedModels::parse(list).unwrap();
            assert!(allowed.allows_all());
            assert!(allowed.allows("anything:at-all"));
        }
    }

    #[test]
    fn a_trailing_star_matches_a_prefix_and_other_items_match_exactly() {
        let allowed = AllowedModels::parse(" openai:* , claude:claude-3-5-sonnet").unwrap();
        assert!(allowed.allows("openai:gpt-4o"));
        assert!(allowed.allows("openai:"));
        assert!(allowed.allows("claude:claude-3-5-sonnet"));
        assert!(!allowed.allows("claude:claude-3-5-sonnet-latest"));
        assert!(!allowed.allows("claude:claude-3-opus"));
        assert!(!allowed.allows("xopenai:gpt-4o"));
        assert_eq!(allowed.to_string(), "openai:*,claude:claude-3-5-sonnet");
    }

    #[test]
    fn a_star_alone_allows_every_model() {
        let allowed = AllowedModels::parse("*").unwrap();
        assert!(!allowed.allows_all());
        assert!(allowed.allows("x"));
    }

    #[test]
    fn a_star_inside_a_pattern_is_an_error() {
        for (list, bad) in [
            ("open*ai", "open*ai"),
            ("a:b, *:gpt", "*:gpt"),
            ("a**", "a**"),
        ] {
            assert_eq!(
                AllowedModels::parse(list),
                Err(PatternError::StarInside(bad.into())),
                "{list}"
            );
        }
    }
}
