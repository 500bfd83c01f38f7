//! Telegram HTML cut into Telegram-sized messages that each stay valid on their own ([`split_html`]).
//! Pure functions: no I/O.

use super::cut::{plan_pieces, HTML};
use super::html::{parse_html, render_pieces, visible_chars};

/// Splits Telegram HTML into pieces whose visible text (what Telegram counts once the tags are parsed) is at
/// most `max_utf16` UTF-16 code units.
///
/// A cut goes at a paragraph break (`\n\n`) in the second half of a piece if there is one, else at a line
/// break, else at a space, else anywhere — never inside a tag, an entity or a character. Tags open at a cut
/// are closed at the end of the piece and reopened with their attributes at the start of the next, so a code
/// block cut in two stays a code block (with its language) in both. Pieces are trimmed (inside `pre`, only
/// line breaks at a piece's start, so indentation survives); no other visible text is lost or repeated.
/// Malformed input is repaired as [`html_to_plain`] would read it: unknown tags and stray `<`/`&` become text.
///
/// [`html_to_plain`]: super::html_to_plain
pub fn split_html(html: &str, max_utf16: usize) -> Vec<String> {
    let atoms = parse_html(html);
    let chars = visible_chars(&atoms);
    let ranges = plan_pieces(&chars, max_utf16, HTML);
    render_pieces(&atoms, &ranges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telegram::html_check::{md, split_and_check, valid, validate};
    use crate::telegram::MAX_MESSAGE_UTF16;
    use crate::telegram::{
        escape_html, html_to_plain, markdown_to_telegram_html, visible_len_utf16,
    };

    #[test]
    fn short_html_is_one_piece_and_blank_html_none() {
        assert_eq!(split_html("<b>hi</b>", 4096), vec!["<b>hi</b>"]);
        assert!(split_html("  \n<b> </b>\n", 4096).is_empty());
    }

    #[test]
    fn tags_open_at_a_cut_are_closed_and_reopened() {
        assert_eq!(
            split_and_check("<b>aaaa <i>bbbb</i> cccc</b>", 10),
            vec!["<b>aaaa <i>bbbb</i></b>", "<b>cccc</b>"]
        );
        assert_eq!(
            split_and_check(
                "<a href=\"https://e.com/?a=1&amp;b=&quot;\">one two three</a>",
                8
            ),
            vec![
                "<a href=\"https://e.com/?a=1&amp;b=&quot;\">one two</a>",
                "<a href=\"https://e.com/?a=1&amp;b=&quot;\">three</a>"
            ]
        );
    }

    #[test]
    fn a_code_block_cut_in_two_is_reopened_with_its_language() {
        let code: String = (0..20).map(|i| format!("    let x{i} = {i};\n")).collect();
        let html = format!(
            "<pre><code class=\"language-rust\">{}</code></pre>",
            escape_html(&code)
        );
        let pieces = split_and_check(&html, 100);
        assert!(pieces.len() > 2);
        for piece in &pieces {
            assert!(
                piece.starts_with("<pre><code class=\"language-rust\">    let x"),
                "{piece}"
            );
            assert!(piece.ends_with(";</code></pre>"), "{piece}");
        }
    }

    #[test]
    fn cuts_prefer_paragraphs_then_lines_then_spaces() {
        let a = "a".repeat(30);
        let b = "b".repeat(30);
        assert_eq!(
            split_and_check(&format!("{a} x\n{a}\n\n{b}"), 70),
            vec![format!("{a} x\n{a}"), b.clone()]
        );
        assert_eq!(
            split_and_check(&format!("{a} x {a}\n{b}"), 70),
            vec![format!("{a} x {a}"), b.clone()]
        );
        assert_eq!(split_and_check(&format!("{a} {b}"), 40), vec![a.clone(), b]);
        assert_eq!(split_and_check(&"c".repeat(25), 10).len(), 3);
    }

    #[test]
    fn a_cut_never_falls_inside_an_entity_or_an_emoji() {
        let pieces = split_and_check(&"&lt;&amp;".repeat(10), 4);
        assert!(
            pieces.iter().all(|p| p == "&lt;&amp;&lt;&amp;"),
            "{pieces:?}"
        );
        let emoji = "😀".repeat(3000); // 6000 UTF-16 units
        let pieces = split_and_check(&format!("<b>{emoji}</b>"), MAX_MESSAGE_UTF16);
        assert_eq!(pieces.len(), 2);
        assert_eq!(visible_len_utf16(&pieces[0]), MAX_MESSAGE_UTF16);
        assert_eq!(
            pieces.iter().map(|p| html_to_plain(p)).collect::<String>(),
            emoji
        );
    }

    #[test]
    fn malformed_html_is_repaired_rather_than_passed_on() {
        assert_eq!(
            split_html("<div>a & b</b><i>c <b>d", 100),
            vec!["&lt;div&gt;a &amp; b<i>c <b>d</b></i>"]
        );
        assert_eq!(
            split_html("<blockquote>a<blockquote>b</blockquote>c</blockquote>", 100),
            vec!["<blockquote>abc</blockquote>"]
        );
        assert_eq!(
            split_html("<a href=\"https://e.com\"><code>f</code></a>", 100),
            vec!["<a href=\"https://e.com\">f</a>"]
        );
        assert_eq!(
            split_html("<pre>x<b>y</b></pre><a>z</a>", 100),
            vec!["<pre>xy</pre>z"]
        );
    }

    /// A long answer: prose, lists and code blocks in several languages, about 22,000 characters.
    fn long_answer() -> String {
        let mut md = String::new();
        for section in 0..6 {
            md.push_str(&format!("## Section {section}\n\n"));
            for p in 0..4 {
                md.push_str(&format!(
                    "Paragraph {section}.{p} with **bold**, `code <{p}>`, a [link](https://e.com/{p}?a=1&b=2) \
                     and an emoji 😀. {}\n\n",
                    "Lorem ipsum dolor sit amet & more. ".repeat(8)
                ));
            }
            md.push_str("- item one\n- item two\n  - nested\n\n");
            let language = ["rust", "python", "c++"][section % 3];
            let tag = language.replace('+', "p");
            md.push_str(&format!("```{language}\n"));
            let lines = if section == 2 { 200 } else { 40 };
            for line in 0..lines {
                md.push_str(&format!("    {tag}_{section}_{line} = a < b && c > d;\n"));
            }
            md.push_str("```\n\n");
        }
        md
    }

    #[test]
    fn a_long_answer_splits_into_valid_pieces_with_code_blocks_reopened() {
        let markdown = long_answer();
        let length = markdown.chars().count();
        assert!(length > 20_000, "only {length} characters");
        let html = md(&markdown);
        let pieces = split_and_check(&html, MAX_MESSAGE_UTF16);
        assert!(pieces.len() >= 5, "{} pieces", pieces.len());
        // Every code line sits, in whatever piece, inside a code block of its own language.
        let mut reopened = 0;
        for piece in &pieces {
            let checked = valid(piece);
            let chars: Vec<char> = checked.text.chars().collect();
            let mut line_start = 0;
            for i in 0..=chars.len() {
                if i < chars.len() && chars[i] != '\n' {
                    continue;
                }
                let line: String = chars[line_start..i].iter().collect();
                for (tag, language) in [("rust_", "rust"), ("python_", "python"), ("cpp_", "c++")] {
                    if line.contains(tag) {
                        let class = format!("code class=\"language-{language}\"");
                        assert!(
                            checked.context[line_start..i]
                                .iter()
                                .all(|c| c.contains(&class)),
                            "{line} outside its code block"
                        );
                    }
                }
                line_start = i + 1;
            }
            if piece.starts_with("<pre><code class=\"language-") {
                reopened += 1;
            }
        }
        assert!(reopened >= 1, "no code block was cut and reopened");
    }

    // ----- property-style: generated documents -----

    /// xorshift64*: deterministic, no crate needed.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
        }
    }

    /// Builds random Markdown, remembering the unique words it contains (`w17z`), all of which must survive.
    struct Generator {
        rng: Rng,
        words: Vec<String>,
    }

    impl Generator {
        fn word(&mut self) -> String {
            let word = format!("w{}z", self.words.len());
            self.words.push(word.clone());
            word
        }

        fn inline(&mut self) -> String {
            let mut parts = Vec::new();
            for _ in 0..1 + self.rng.below(7) {
                let w = self.word();
                parts.push(match self.rng.below(16) {
                    0 => format!("**{w} {}**", self.word()),
                    1 => format!("*{w}*"),
                    2 => format!("~~{w}~~"),
                    3 => format!("`{w} <x> & y`"),
                    4 => format!("[{w}](https://e.com/?a=\"1\"&b=<2>)"),
                    5 => format!("[{w}](/relative)"),
                    6 => format!("![{w}](https://e.com/i.png)"),
                    7 => format!("<span>{w}</span>"),
                    8 => format!("a < b && {w} > c"),
                    9 => format!("😀{w}🎉"),
                    10 => format!("<think>{w}</think>"),
                    11 => format!("**[{w} `c`](https://e.com)**"),
                    12 => format!("{w} &amp;😀😀 &nbsp;&lt;é &#60;"),
                    _ => w,
                });
            }
            parts.join(" ")
        }

        fn block(&mut self, depth: usize) -> String {
            match self.rng.below(if depth > 2 { 3 } else { 11 }) {
                0 | 1 => self.inline(),
                2 => format!("{} {}", "#".repeat(1 + self.rng.below(6)), self.inline()),
                3 => {
                    let marker = if self.rng.below(2) == 0 { "-" } else { "1." };
                    let indent = " ".repeat(marker.len() + 1);
                    (0..1 + self.rng.below(4))
                        .map(|_| {
                            let item = self.block(depth + 1).replace('\n', &format!("\n{indent}"));
                            format!("{marker} {item}")
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                }
                4 => {
                    let inner = self.block(depth + 1);
                    inner
                        .lines()
                        .map(|l| format!("> {l}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                }
                5 | 6 => {
                    let language = ["", "rust", "c++", "<x>"][self.rng.below(4)];
                    let code: Vec<String> = (0..1 + self.rng.below(12))
                        .map(|_| format!("  {} <&> \"q\" {}", self.word(), self.word()))
                        .collect();
                    format!("```{language}\n{}\n```", code.join("\n"))
                }
                7 => format!(
                    "| {} | {} |\n|---|:-:|\n| {} | `{}` |",
                    self.word(),
                    self.word(),
                    self.inline(),
                    self.word()
                ),
                8 => "---".to_string(),
                9 => format!("<div>\n{}\n</div>", self.word()),
                _ => format!("{}  \n{}", self.inline(), self.inline()),
            }
        }

        fn document(&mut self) -> String {
            let mut blocks: Vec<String> =
                (0..1 + self.rng.below(12)).map(|_| self.block(0)).collect();
            if self.rng.below(5) == 0 {
                blocks.push(format!("```python\n{} <", self.word())); // a stream cut inside a fence
            }
            blocks.join("\n\n")
        }
    }

    #[test]
    fn generated_documents_convert_and_split_validly_without_losing_text() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..300 {
            let mut generator = Generator {
                rng: Rng(rng.below(usize::MAX) as u64 | 1),
                words: Vec::new(),
            };
            let markdown = generator.document();
            let html = markdown_to_telegram_html(&markdown);
            let checked = validate(&html).unwrap_or_else(|e| {
                panic!("case {case}: {e}\n--- markdown\n{markdown}\n--- html\n{html}")
            });
            for word in &generator.words {
                assert!(
                    checked.text.contains(word.as_str()),
                    "case {case}: {word} lost\n--- markdown\n{markdown}\n--- html\n{html}"
                );
            }
            assert_eq!(html_to_plain(&html), checked.text);
            for max in [40, 300, MAX_MESSAGE_UTF16] {
                split_and_check(&html, max);
            }
        }
    }
}
