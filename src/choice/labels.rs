//! Button labels for model (and role) names: short enough for a phone's button, never ambiguous.

use std::collections::{HashMap, HashSet};

/// Longest label, in characters: about what a phone shows on a full-width button without cutting it.
pub const MAX_LABEL_CHARS: usize = 30;

/// Characters kept before the `…` of a shortened name; the rest of the room goes to its end, where model
/// names differ most (versions, sizes, dates).
const HEAD_CHARS: usize = 12;

/// The label of each of `ids` (in order), all distinct and at most [`MAX_LABEL_CHARS`] long:
/// - aichat's `client:` prefix is dropped when the name after it is unique among `ids`;
/// - a long name keeps its start and its end around a `…`;
/// - where that still leaves two labels alike, those take the whole id (shortened the same way), and where even
///   that is ambiguous, their position in the list in front (`#3 …`), which is unique.
pub fn labels(ids: &[&str]) -> Vec<String> {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for id in ids {
        if let Some(name) = client_name(id) {
            *names.entry(name).or_default() += 1;
        }
    }
    // How far each label had to go: 0 = without the prefix, 1 = the whole id, 2 = numbered.
    let mut stage: Vec<u8> = ids
        .iter()
        .map(|id| match client_name(id) {
            Some(name) if names.get(name) == Some(&1) => 0,
            _ => 1,
        })
        .collect();
    loop {
        let labels: Vec<String> = ids
            .iter()
            .zip(&stage)
            .enumerate()
            .map(|(i, (id, stage))| label_at(i, id, *stage))
            .collect();
        let mut seen: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, label) in labels.iter().enumerate() {
            seen.entry(label.as_str()).or_default().push(i);
        }
        // In each clash, the labels that went least far move on (so `gpt-4o` stays when `openai:gpt-4o` has to
        // keep its prefix). Numbered labels never clash with each other, so each clash has a member below
        // numbered: every round moves one, and the loop ends.
        let mut moving: HashSet<usize> = HashSet::new();
        for group in seen.values().filter(|group| group.len() > 1) {
            let least = group.iter().filter_map(|i| stage.get(*i)).min().copied();
            moving.extend(group.iter().filter(|i| stage.get(**i).copied() == least));
        }
        let mut moved = false;
        for i in moving {
            if let Some(s) = stage.get_mut(i).filter(|s| **s < 2) {
                *s += 1;
                moved = true;
            }
        }
        if !moved {
            return labels;
        }
    }
}

/// The name after aichat's `client:` prefix, when there is a non-empty one.
fn client_name(id: &str) -> Option<&str> {
    id.split_once(':')
        .map(|(_, name)| name)
        .filter(|name| !name.is_empty())
}

fn label_at(position: usize, id: &str, stage: u8) -> String {
    match stage {
        0 => shorten(client_name(id).unwrap_or(id), MAX_LABEL_CHARS),
        1 => shorten(id, MAX_LABEL_CHARS),
        _ => {
            // "#<n> " ends at its first space, so two positions never give the same label.
            let number = format!("#{} ", position.saturating_add(1));
            let room = MAX_LABEL_CHARS
                .saturating_sub(number.chars().count())
                .max(2);
            format!("{number}{}", shorten(id, room))
        }
    }
}

/// `text` if it fits in `max` characters; else its start and its end around a `…`.
pub fn shorten(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let room = max.saturating_sub(1);
    let head = HEAD_CHARS.min(room / 2);
    let tail = room - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start}…{end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_prefix_goes_when_the_name_stays_unique() {
        let ids = [
            "openai:gpt-4o",
            "claude:claude-3-5-sonnet",
            "openai:o1",
            "groq:o1",
        ];
        assert_eq!(
            labels(&ids),
            ["gpt-4o", "claude-3-5-sonnet", "openai:o1", "groq:o1"]
        );
    }

    #[test]
    fn a_name_that_is_also_a_whole_id_keeps_its_prefix() {
        let ids = ["gpt-4o", "openai:gpt-4o", "default"];
        assert_eq!(labels(&ids), ["gpt-4o", "openai:gpt-4o", "default"]);
    }

    #[test]
    fn long_names_keep_their_start_and_end() {
        let ids = [
            "openrouter:meta-llama/llama-3.1-405b-instruct",
            "openrouter:meta-llama/llama-3.1-70b-instruct",
        ];
        let got = labels(&ids);
        assert_eq!(
            got,
            [
                "meta-llama/l…3.1-405b-instruct",
                "meta-llama/l…-3.1-70b-instruct"
            ]
        );
        assert!(got.iter().all(|l| l.chars().count() <= MAX_LABEL_CHARS));
    }

    #[test]
    fn names_alike_even_when_shortened_are_numbered() {
        let long = "x".repeat(40);
        let ids = [
            format!("a:{long}1{long}"),
            format!("a:{long}2{long}"),
            "short".to_string(),
        ];
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let got = labels(&ids);
        assert!(
            got[0].starts_with("#1 ") && got[1].starts_with("#2 "),
            "{got:?}"
        );
        assert_eq!(got[2], "short");
    }

    /// A small deterministic generator (xorshift), so the property test needs no crate and fails the same way
    /// every time.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// An id built from parts that make clashes likely: few clients, few names, long shared middles, digits,
    /// repeats, prefixes that are whole ids, and numbered-looking names.
    fn generated_id(rng: &mut Rng) -> String {
        let clients = ["", "a:", "openai:", "openrouter:", "#1 ", ":", "b:c:"];
        let names = [
            "gpt",
            "gpt-4o",
            "o1",
            "",
            "é",
            "#2 x",
            "…",
            "meta-llama/llama-3.1-",
        ];
        let mut id = rng.pick(&clients).to_string();
        for _ in 0..rng.below(4) {
            id.push_str(rng.pick(&names));
            if rng.below(3) == 0 {
                id.push_str(&"m".repeat(rng.below(40)));
            }
            if rng.below(2) == 0 {
                id.push_str(&rng.below(100).to_string());
            }
        }
        if id.is_empty() {
            id.push('z');
        }
        id
    }

    #[test]
    fn labels_are_distinct_short_and_non_empty_for_any_list() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            let ids: Vec<String> = (0..1 + rng.below(40))
                .map(|_| generated_id(&mut rng))
                .collect();
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();

            let got = labels(&refs);

            assert_eq!(got.len(), ids.len());
            let distinct: HashSet<&String> = got.iter().collect();
            assert_eq!(distinct.len(), got.len(), "{ids:?} -> {got:?}");
            for label in &got {
                assert!(!label.is_empty(), "{ids:?} -> {got:?}");
                assert!(label.chars().count() <= MAX_LABEL_CHARS, "{label}");
            }
        }
    }
}
