//! The names closest to one that is not known (`/model gpt4` → `openai:gpt-4o`, …).

/// How many names are suggested.
pub const SUGGESTIONS: usize = 3;

/// Longest part of a typed name that is compared: names are far shorter, and the bound keeps the work
/// (quadratic in the lengths) small whatever a user types.
const MAX_COMPARED_CHARS: usize = 64;

/// Up to [`SUGGESTIONS`] of `candidates`, closest first (ties in the candidates' order), compared without regard
/// to case: names that contain what was typed come first, then by edit distance to
/// the whole name or to the name after its `client:` prefix, whichever is closer. Never empty when something
/// was typed and there are candidates: the caller decides how far is too far.
pub fn closest<'a>(typed: &str, candidates: &[&'a str]) -> Vec<&'a str> {
    let typed: String = typed
        .trim()
        .to_lowercase()
        .chars()
        .take(MAX_COMPARED_CHARS)
        .collect();
    if typed.is_empty() {
        return Vec::new();
    }
    let mut ranked: Vec<(bool, usize, usize, &'a str)> = candidates
        .iter()
        .enumerate()
        .map(|(position, candidate)| {
            let whole: String = candidate
                .to_lowercase()
                .chars()
                .take(MAX_COMPARED_CHARS)
                .collect();
            let name = whole.split_once(':').map_or(whole.as_str(), |(_, n)| n);
            let contains = whole.contains(&typed);
            let distance = edit_distance(&typed, &whole).min(edit_distance(&typed, name));
            (!contains, distance, position, *candidate)
        })
        .collect();
    ranked.sort();
    ranked
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(.., c)| c)
        .collect()
}

/// Levenshtein distance in characters (one row at a time).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = i;
        let mut next = Vec::with_capacity(row.len());
        next.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            let above = row
                .get(j + 1)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let left = next.last().copied().unwrap_or(usize::MAX).saturating_add(1);
            diagonal = row.get(j + 1).copied().unwrap_or(usize::MAX);
            next.push(substitute.min(above).min(left));
        }
        row = next;
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODELS: [&str; 6] = [
        "openai:gpt-4o",
        "openai:gpt-4o-mini",
        "openai:o1",
        "claude:claude-3-5-sonnet",
        "claude:claude-3-opus",
        "gemini:gemini-1.5-pro",
    ];

    #[test]
    fn the_distance_is_levenshtein() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("flaw", "lawn"), 2);
        assert_eq!(edit_distance("é", "e"), 1);
    }

    #[test]
    fn a_near_miss_finds_the_model_first() {
        assert_eq!(closest("gpt4o", &MODELS)[0], "openai:gpt-4o");
        assert_eq!(closest("Claude-3-Opus", &MODELS)[0], "claude:claude-3-opus");
        assert_eq!(
            closest("openai:gpt-4o-mni", &MODELS)[0],
            "openai:gpt-4o-mini"
        );
    }

    #[test]
    fn a_part_of_a_name_finds_the_names_containing_it() {
        assert_eq!(closest("sonnet", &MODELS)[0], "claude:claude-3-5-sonnet");
        assert_eq!(
            closest("claude", &MODELS)[..2],
            ["claude:claude-3-opus", "claude:claude-3-5-sonnet"]
        );
    }

    #[test]
    fn at_most_three_and_none_for_nothing_typed() {
        assert_eq!(closest("x", &MODELS).len(), SUGGESTIONS);
        assert!(closest("  ", &MODELS).is_empty());
        assert!(closest("gpt", &[]).is_empty());
        let long = "z".repeat(10_000);
        assert_eq!(closest(&long, &MODELS).len(), SUGGESTIONS);
    }
}
