//! Markdown (as LLMs write it) to the small HTML subset Telegram accepts ([`markdown_to_telegram_html`]):
//! headings, lists and tables become text, everything else either a tag Telegram knows or escaped text.
//! Pure functions: no I/O.

use pulldown_cmark::{Alignment, CodeBlockKind, Event, LinkType, Options, Parser, Tag, TagEnd};

use super::cut::{skip_leading_whitespace, trim_trailing_whitespace};
use super::html::{
    escape_attr, parse_html, push_escaped, render_pieces, sanitize_language, visible_chars,
};

/// URL schemes a link may keep; any other link (relative, `javascript:`, `file:`, …) becomes its text.
const LINK_SCHEMES: [&str; 4] = ["http://", "https://", "tg://", "mailto:"];

/// What a horizontal rule becomes.
const RULE: &str = "———";

/// Converts Markdown to Telegram HTML.
///
/// Bold, italic, strikethrough, inline code, code blocks (with a `language-x` class when fenced with one) and
/// links to http/https/tg/mailto URLs keep their formatting; headings become bold lines, lists become text
/// (`• item`, `1. item`, two spaces of indent per level), tables become preformatted text, images become their
/// alt text and URL, nested block quotes are flattened into one `<blockquote>`, and HTML in the Markdown is
/// shown as text. The result is trimmed and always well-formed; an unclosed code fence (a stream cut short)
/// runs to the end.
pub fn markdown_to_telegram_html(markdown: &str) -> String {
    let options =
        Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;
    let mut renderer = Renderer::default();
    for event in Parser::new_ext(markdown, options) {
        renderer.event(event);
    }
    // One more pass through the HTML model drops empty elements (an empty heading, a quote holding only
    // an empty code block) and trims; it also guarantees well-formedness should the renderer slip.
    let atoms = parse_html(&renderer.out);
    let chars = visible_chars(&atoms);
    let start = skip_leading_whitespace(&chars, 0);
    let end = trim_trailing_whitespace(&chars, start, chars.len());
    let whole = start..end;
    render_pieces(&atoms, std::slice::from_ref(&whole)).concat()
}

/// The separation owed before the next content, written lazily so that no block leaves trailing breaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Break {
    #[default]
    None,
    Line,
    Paragraph,
}

/// What the end of an inline (or heading) element must do.
#[derive(Debug)]
enum Closer {
    /// Write this closing tag.
    Tag(&'static str),
    /// Close a link opened at byte `before` (whose opening tag ends at `after`); an empty link becomes its URL.
    Link {
        before: usize,
        after: usize,
        url: String,
    },
    /// A link inside a table cell: its URL is appended to the cell text unless the text is the URL.
    CellLink { start: usize, url: String },
    /// An image: its alt text (written since `start`) is followed by its URL.
    Image { start: usize, url: String },
    /// The element emitted nothing (suppressed, or already inside the same formatting).
    Nothing,
}

/// A table being read: it is laid out as text only at its end, once every column's width is known.
#[derive(Debug, Default)]
struct TableState {
    /// Each column's alignment, as the delimiter row gave it.
    alignments: Vec<Alignment>,
    /// The cells' plain text, row by row.
    rows: Vec<Vec<String>>,
    /// How many of `rows` are the header: the dashed line goes under them.
    header_rows: usize,
    /// The text of the cell being read.
    cell: Option<String>,
}

/// Turns pulldown-cmark's events into Telegram HTML, one event at a time.
#[derive(Debug, Default)]
struct Renderer {
    /// The HTML written so far.
    out: String,
    /// The break owed before the next content (see [`Break`]).
    pending: Break,
    /// Whether any visible text was written: breaks before the first text are dropped.
    wrote_text: bool,
    /// Where the open quote's content starts: breaks right after `<blockquote>` are dropped too.
    quote_start: usize,
    /// One entry per open list: the next number of an ordered list, `None` for bullets.
    lists: Vec<Option<u64>>,
    /// Just after an item's marker or a quote's opening tag: the first block inside owes no break.
    fresh: bool,
    /// How many block quotes are open: only the outermost writes `<blockquote>` (Telegram's don't nest).
    quote_depth: usize,
    /// One entry per open inline element (and heading): what its end must do.
    inline: Vec<Closer>,
    /// How many images are open: their alt text is written as plain text.
    image_depth: usize,
    /// The language and text of the code block being read.
    code_block: Option<(String, String)>,
    /// The table being read, if any: its text goes into its cells, not into `out`.
    table: Option<TableState>,
}

impl Renderer {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.text(&text),
            Event::Code(code) => self.inline_code(&code),
            Event::InlineMath(math) => self.text(&format!("${math}$")),
            Event::DisplayMath(math) => self.text(&format!("$${math}$$")),
            Event::Html(html) | Event::InlineHtml(html) => self.multiline_text(&html),
            Event::FootnoteReference(name) => self.text(&format!("[^{name}]")),
            Event::SoftBreak | Event::HardBreak => self.line_break(),
            Event::Rule => {
                self.block_start();
                self.text(RULE);
                self.pending = Break::Paragraph;
            }
            Event::TaskListMarker(done) => self.text(if done { "☑ " } else { "☐ " }),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph
            | Tag::HtmlBlock
            | Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::MetadataBlock(_) => self.block_start(),
            Tag::Heading { .. } => {
                self.block_start();
                let closer = self.open_tag("b");
                self.inline.push(closer);
            }
            Tag::BlockQuote(_) => {
                self.block_start();
                self.quote_depth += 1;
                if self.quote_depth == 1 {
                    self.flush_break(true);
                    self.out.push_str("<blockquote>");
                    self.pending = Break::None;
                    self.quote_start = self.out.len();
                    self.fresh = true;
                }
            }
            Tag::CodeBlock(kind) => {
                self.block_start();
                let language = match kind {
                    CodeBlockKind::Fenced(info) => sanitize_language(&info),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code_block = Some((language, String::new()));
            }
            Tag::List(first) => {
                if self.lists.is_empty() {
                    self.block_start();
                } else if !self.fresh {
                    // A sub-list follows its item's text on the next line, even in a loose list.
                    self.pending = Break::Line;
                }
                self.lists.push(first);
            }
            Tag::Item => {
                self.pending = self.pending.max(Break::Line);
                self.flush_break(false);
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let marker = format!("{n}. ");
                        *n = n.saturating_add(1);
                        marker
                    }
                    _ => "• ".to_string(),
                };
                self.out.push_str(&"  ".repeat(depth));
                self.out.push_str(&marker);
                self.wrote_text = true;
                self.fresh = true;
            }
            Tag::Table(alignments) => {
                self.block_start();
                self.table = Some(TableState {
                    alignments,
                    ..TableState::default()
                });
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(table) = self.table.as_mut() {
                    table.rows.push(Vec::new());
                }
            }
            Tag::TableCell => {
                if let Some(table) = self.table.as_mut() {
                    table.cell = Some(String::new());
                }
            }
            Tag::Emphasis => {
                let closer = self.open_tag("i");
                self.inline.push(closer);
            }
            Tag::Strong => {
                let closer = self.open_tag("b");
                self.inline.push(closer);
            }
            Tag::Strikethrough => {
                let closer = self.open_tag("s");
                self.inline.push(closer);
            }
            Tag::Superscript | Tag::Subscript => self.inline.push(Closer::Nothing),
            Tag::Link {
                link_type,
                dest_url,
                ..
            } => {
                let url = if link_type == LinkType::Email {
                    format!("mailto:{dest_url}")
                } else {
                    dest_url.to_string()
                };
                let closer = self.open_link(url);
                self.inline.push(closer);
            }
            Tag::Image { dest_url, .. } => {
                self.image_depth += 1;
                let start = self.sink_len();
                self.inline.push(Closer::Image {
                    start,
                    url: dest_url.to_string(),
                });
            }
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph
            | TagEnd::HtmlBlock
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::MetadataBlock(_) => self.pending = self.pending.max(Break::Paragraph),
            TagEnd::Heading(_) => {
                self.close_inline();
                self.pending = Break::Paragraph;
            }
            TagEnd::BlockQuote(_) => {
                self.quote_depth = self.quote_depth.saturating_sub(1);
                if self.quote_depth == 0 {
                    self.pending = Break::None;
                    self.out.push_str("</blockquote>");
                }
                self.fresh = false;
                self.pending = Break::Paragraph;
            }
            TagEnd::CodeBlock => self.end_code_block(),
            TagEnd::List(_) => {
                self.lists.pop();
                self.fresh = false;
                self.pending = self.pending.max(if self.lists.is_empty() {
                    Break::Paragraph
                } else {
                    Break::Line
                });
            }
            TagEnd::Item => {
                self.fresh = false;
                self.pending = self.pending.max(Break::Line);
            }
            TagEnd::Table => self.end_table(),
            TagEnd::TableHead => {
                if let Some(table) = self.table.as_mut() {
                    table.header_rows = table.rows.len();
                }
            }
            TagEnd::TableRow => {}
            TagEnd::TableCell => {
                if let Some(table) = self.table.as_mut() {
                    let cell = table.cell.take().unwrap_or_default();
                    if let Some(row) = table.rows.last_mut() {
                        row.push(cell.trim().to_string());
                    }
                }
            }
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::Link
            | TagEnd::Image => self.close_inline(),
        }
    }

    /// A block begins: it owes a blank line to what came before, unless it opens a list item.
    fn block_start(&mut self) {
        if !self.fresh {
            self.pending = self.pending.max(Break::Paragraph);
        }
    }

    fn line_break(&mut self) {
        if let Some(cell) = self.cell_mut() {
            cell.push(' ');
        } else if self.image_depth > 0 {
            self.text(" ");
        } else {
            self.pending = self.pending.max(Break::Line);
        }
    }

    /// Writes the owed break (if any text came before), indented under the list item when `indent`.
    fn flush_break(&mut self, indent: bool) {
        let pending = std::mem::take(&mut self.pending);
        if !self.wrote_text || (self.quote_depth > 0 && self.out.len() == self.quote_start) {
            return;
        }
        match pending {
            Break::None => return,
            Break::Line => self.out.push('\n'),
            Break::Paragraph => self.out.push_str("\n\n"),
        }
        if indent {
            self.out.push_str(&"  ".repeat(self.lists.len()));
        }
    }

    fn cell_mut(&mut self) -> Option<&mut String> {
        self.table.as_mut().and_then(|t| t.cell.as_mut())
    }

    /// Length of whatever text currently goes to: a table cell or the output.
    fn sink_len(&self) -> usize {
        match self.table.as_ref().and_then(|t| t.cell.as_ref()) {
            Some(cell) => cell.len(),
            None => self.out.len(),
        }
    }

    /// Formatting is dropped (text kept) inside table cells and image alt texts.
    fn formatting_suppressed(&self) -> bool {
        self.image_depth > 0 || self.table.is_some()
    }

    fn inside(&self, name: &str) -> bool {
        self.inline.iter().any(|c| match c {
            Closer::Tag(n) => *n == name,
            Closer::Link { .. } => name == "a",
            _ => false,
        })
    }

    fn open_tag(&mut self, name: &'static str) -> Closer {
        if self.formatting_suppressed() || self.inside(name) {
            return Closer::Nothing;
        }
        self.flush_break(true);
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        Closer::Tag(name)
    }

    fn open_link(&mut self, url: String) -> Closer {
        if self.image_depth > 0 {
            return Closer::Nothing;
        }
        if self.table.is_some() {
            return Closer::CellLink {
                start: self.sink_len(),
                url,
            };
        }
        match safe_href(&url) {
            Some(href) if !self.inside("a") => {
                self.flush_break(true);
                let before = self.out.len();
                self.out.push_str("<a href=\"");
                self.out.push_str(&href);
                self.out.push_str("\">");
                Closer::Link {
                    before,
                    after: self.out.len(),
                    url,
                }
            }
            _ => Closer::Nothing,
        }
    }

    fn close_inline(&mut self) {
        match self.inline.pop() {
            Some(Closer::Tag(name)) => {
                self.out.push_str("</");
                self.out.push_str(name);
                self.out.push('>');
            }
            Some(Closer::Link { before, after, url }) => {
                if self.out.len() == after {
                    // `[](https://…)`: no text to carry the link, so show the URL instead.
                    self.out.truncate(before);
                    self.text(&url);
                } else {
                    self.out.push_str("</a>");
                }
            }
            Some(Closer::CellLink { start, url }) => {
                let text = self
                    .table
                    .as_ref()
                    .and_then(|t| t.cell.as_ref())
                    .and_then(|cell| cell.get(start..))
                    .unwrap_or_default();
                if text.is_empty() {
                    self.text(&url);
                } else if text.trim() != url {
                    self.text(&format!(" ({url})"));
                }
            }
            Some(Closer::Image { start, url }) => {
                self.image_depth = self.image_depth.saturating_sub(1);
                if url.is_empty() {
                    return;
                }
                if self.sink_len() > start {
                    self.text(&format!(" ({url})"));
                } else {
                    self.text(&url);
                }
            }
            Some(Closer::Nothing) | None => {}
        }
    }

    fn text(&mut self, text: &str) {
        if let Some((_, code)) = self.code_block.as_mut() {
            code.push_str(text);
        } else if let Some(cell) = self.cell_mut() {
            cell.push_str(text);
        } else if !text.is_empty() {
            self.flush_break(true);
            push_escaped(&mut self.out, text);
            self.wrote_text = true;
            self.fresh = false;
        }
    }

    /// Text that may hold newlines (raw HTML): each newline becomes a line break.
    fn multiline_text(&mut self, text: &str) {
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                self.line_break();
            }
            self.text(line.trim_end_matches('\r'));
        }
    }

    fn inline_code(&mut self, code: &str) {
        // Telegram lets no entity but bold/italic/underline/strike/spoiler contain code, so inside a link
        // (and where formatting is dropped) the code is plain text.
        if self.formatting_suppressed() || self.inside("a") || code.is_empty() {
            self.text(code);
            return;
        }
        self.flush_break(true);
        self.out.push_str("<code>");
        push_escaped(&mut self.out, code);
        self.out.push_str("</code>");
        self.wrote_text = true;
        self.fresh = false;
    }

    fn end_code_block(&mut self) {
        let Some((language, code)) = self.code_block.take() else {
            return;
        };
        let code = code.trim_end_matches(['\n', '\r']);
        if !code.trim().is_empty() {
            self.preformatted(&language, code);
        }
        self.pending = Break::Paragraph;
    }

    fn preformatted(&mut self, language: &str, text: &str) {
        self.flush_break(true);
        if language.is_empty() {
            self.out.push_str("<pre>");
            push_escaped(&mut self.out, text);
            self.out.push_str("</pre>");
        } else {
            self.out.push_str("<pre><code class=\"language-");
            self.out.push_str(language);
            self.out.push_str("\">");
            push_escaped(&mut self.out, text);
            self.out.push_str("</code></pre>");
        }
        self.wrote_text = true;
        self.fresh = false;
    }

    fn end_table(&mut self) {
        let Some(table) = self.table.take() else {
            return;
        };
        let text = layout_table(&table);
        if !text.trim().is_empty() {
            self.preformatted("", &text);
        }
        self.pending = Break::Paragraph;
    }
}

/// Lays a table out as monospace text: columns padded to their widest cell (counted in characters),
/// ` | ` between cells and a dashed line under the header.
fn layout_table(table: &TableState) -> String {
    let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |col: usize| {
        table
            .rows
            .iter()
            .filter_map(|row| row.get(col))
            .map(|cell| cell.chars().count())
            .max()
            .unwrap_or(0)
            .max(1)
    };
    let widths: Vec<usize> = (0..columns).map(width).collect();
    let mut lines = Vec::new();
    for (i, row) in table.rows.iter().enumerate() {
        let cells: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(col, &w)| {
                let cell = row.get(col).map(String::as_str).unwrap_or("");
                let pad = w.saturating_sub(cell.chars().count());
                match table.alignments.get(col) {
                    Some(Alignment::Right) => format!("{}{cell}", " ".repeat(pad)),
                    Some(Alignment::Center) => {
                        format!("{}{cell}{}", " ".repeat(pad / 2), " ".repeat(pad - pad / 2))
                    }
                    _ => format!("{cell}{}", " ".repeat(pad)),
                }
            })
            .collect();
        lines.push(cells.join(" | ").trim_end().to_string());
        if i + 1 == table.header_rows {
            let dashes: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
            lines.push(dashes.join("-+-"));
        }
    }
    lines.join("\n")
}

/// The URL escaped for an `href`, if its scheme is one Telegram opens and it has no whitespace or controls.
fn safe_href(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let scheme = LINK_SCHEMES.iter().find(|s| lower.starts_with(*s))?;
    let well_formed =
        url.len() > scheme.len() && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    well_formed.then(|| escape_attr(url))
}

#[cfg(test)]
mod tests {
    use crate::telegram::html_check::md;

    #[test]
    fn bold_italic_strikethrough_and_inline_code_become_telegram_tags() {
        assert_eq!(
            md("**bold** *italic* _also_ ~~gone~~ `x < y`"),
            "<b>bold</b> <i>italic</i> <i>also</i> <s>gone</s> <code>x &lt; y</code>"
        );
        assert_eq!(md("***both***"), "<i><b>both</b></i>");
    }

    #[test]
    fn fenced_code_keeps_its_language_and_escapes_its_text() {
        let html = md("```rust\nif a < b && c > d {\n    x();\n}\n```");
        assert_eq!(
            html,
            "<pre><code class=\"language-rust\">if a &lt; b &amp;&amp; c &gt; d {\n    x();\n}</code></pre>"
        );
    }

    #[test]
    fn code_without_a_language_has_no_class_and_languages_are_sanitized() {
        assert_eq!(md("```\nplain\n```"), "<pre>plain</pre>");
        assert_eq!(
            md("    indented <code>\n"),
            "<pre>indented &lt;code&gt;</pre>"
        );
        assert_eq!(
            md("```c++ {.numberLines}\nint x;\n```"),
            "<pre><code class=\"language-c++\">int x;</code></pre>"
        );
        assert_eq!(
            md("```\"><script>\nx\n```"),
            "<pre><code class=\"language-script\">x</code></pre>"
        );
        assert_eq!(md("```\n\n```\nafter"), "after");
    }

    #[test]
    fn links_keep_only_http_https_tg_and_mailto_urls() {
        assert_eq!(
            md("[site](https://example.com/a?b=1&c=2)"),
            "<a href=\"https://example.com/a?b=1&amp;c=2\">site</a>"
        );
        assert_eq!(
            md("[me](tg://user?id=42) [mail](mailto:a@b.org)"),
            "<a href=\"tg://user?id=42\">me</a> <a href=\"mailto:a@b.org\">mail</a>"
        );
        assert_eq!(md("<a@b.org>"), "<a href=\"mailto:a@b.org\">a@b.org</a>");
        assert_eq!(
            md("<https://x.org>"),
            "<a href=\"https://x.org\">https://x.org</a>"
        );
        assert_eq!(md("[evil](javascript:alert(1)) [rel](/docs)"), "evil rel");
    }

    #[test]
    fn a_quote_in_a_link_url_is_escaped_in_the_href() {
        assert_eq!(
            md("[q](https://e.com/?q=\"a\"&b=<c>)"),
            "<a href=\"https://e.com/?q=&quot;a&quot;&amp;b=&lt;c&gt;\">q</a>"
        );
    }

    #[test]
    fn a_link_without_text_shows_its_url_and_code_in_a_link_is_plain() {
        assert_eq!(md("[](https://e.com)"), "https://e.com");
        assert_eq!(
            md("**[`f()`](https://e.com)**"),
            "<b><a href=\"https://e.com\">f()</a></b>"
        );
    }

    #[test]
    fn images_become_their_alt_text_and_url() {
        assert_eq!(
            md("![a *cat*](https://e.com/cat.png) and ![](https://e.com/x.png)"),
            "a cat (https://e.com/cat.png) and https://e.com/x.png"
        );
    }

    #[test]
    fn headings_become_bold_lines() {
        assert_eq!(
            md("# Title\ntext\n## Sub **bold**\nmore"),
            "<b>Title</b>\n\ntext\n\n<b>Sub bold</b>\n\nmore"
        );
    }

    #[test]
    fn lists_become_bullets_and_numbers_indented_two_spaces_per_level() {
        let html = md("intro\n\n- a\n- b\n  - c\n    1. d\n    2. e\n- f\n\n3. x\n4. y\n\nend");
        assert_eq!(
            html,
            "intro\n\n• a\n• b\n  • c\n    1. d\n    2. e\n• f\n\n3. x\n4. y\n\nend"
        );
        assert_eq!(md("- [x] done\n- [ ] todo"), "• ☑ done\n• ☐ todo");
    }

    #[test]
    fn loose_list_items_keep_their_paragraphs() {
        assert_eq!(
            md("1. first\n\n   more\n\n2. second"),
            "1. first\n\n  more\n\n2. second"
        );
        assert_eq!(
            md("1. first\n   - sub\n\n2. second"),
            "1. first\n  • sub\n2. second"
        );
    }

    #[test]
    fn block_quotes_become_one_blockquote_with_nested_quotes_flattened() {
        assert_eq!(
            md("> outer\n>\n> > inner\n\nafter"),
            "<blockquote>outer\n\ninner</blockquote>\n\nafter"
        );
        assert_eq!(
            md("before\n> quoted\n\nafter"),
            "before\n\n<blockquote>quoted</blockquote>\n\nafter"
        );
        assert_eq!(
            md("before\n\n> - a\n> - b"),
            "before\n\n<blockquote>• a\n• b</blockquote>"
        );
        assert_eq!(
            md("> ```py\n> x = 1\n> ```"),
            "<blockquote><pre><code class=\"language-py\">x = 1</code></pre></blockquote>"
        );
    }

    #[test]
    fn rules_and_breaks_become_lines() {
        assert_eq!(md("a\n\n---\n\nb"), "a\n\n———\n\nb");
        assert_eq!(
            md("soft\nbreak and hard  \nbreak"),
            "soft\nbreak and hard\nbreak"
        );
    }

    #[test]
    fn html_in_markdown_is_escaped_never_passed_through() {
        assert_eq!(
            md("<script>alert('x')</script>"),
            "&lt;script&gt;alert('x')&lt;/script&gt;"
        );
        assert_eq!(md("a < b && c > d"), "a &lt; b &amp;&amp; c &gt; d");
        assert_eq!(
            md("inline <b onclick=\"x\">tag</b> here"),
            "inline &lt;b onclick=\"x\"&gt;tag&lt;/b&gt; here"
        );
        assert_eq!(
            md("<div>\n<p>block</p>\n</div>\n\nnext"),
            "&lt;div&gt;\n&lt;p&gt;block&lt;/p&gt;\n&lt;/div&gt;\n\nnext"
        );
    }

    #[test]
    fn tables_become_preformatted_text_keeping_every_cell() {
        let html = md(
            "| name | qty |\n|:-----|----:|\n| **apple** | 3 |\n| [kiwi](https://k.org) | `12` |",
        );
        assert_eq!(
            html,
            "<pre>name                 | qty\n\
             ---------------------+----\n\
             apple                |   3\n\
             kiwi (https://k.org) |  12</pre>"
        );
    }

    #[test]
    fn an_unclosed_fence_at_the_end_still_yields_valid_html() {
        let html = md("Here:\n\n```python\nprint('<x>')\nfor i in");
        assert_eq!(
            html,
            "Here:\n\n<pre><code class=\"language-python\">print('&lt;x&gt;')\nfor i in</code></pre>"
        );
        assert_eq!(md("**unclosed bold and `code"), "**unclosed bold and `code");
    }

    #[test]
    fn output_is_trimmed_and_empty_input_gives_nothing() {
        assert_eq!(md("\n\n   hello  \n\n"), "hello");
        assert_eq!(md(""), "");
        assert_eq!(md("#\n\n"), "");
    }
}
