//! Markdown (as LLMs write it) to the small HTML subset Telegram accepts, and that HTML cut into
//! Telegram-sized messages that each stay valid on their own. Pure functions: no I/O.
//!
//! Telegram's HTML parse mode knows only `b/strong`, `i/em`, `u/ins`, `s/strike/del`,
//! `span class="tg-spoiler"`/`tg-spoiler`, `a href`, `code`, `pre` (+ `code class="language-x"`) and
//! `blockquote` (+ `expandable`). Any other `<`, `>`, `&` must be an entity; `pre`/`code` hold only text;
//! blockquotes don't nest. A message that breaks these rules is refused with "can't parse entities", so
//! everything here produces well-formed, properly nested HTML from any input.
//!
//! The pieces:
//! - [`markdown_to_telegram_html`]: Markdown to Telegram HTML (headings, lists and tables become text).
//! - [`split_html`]: cuts Telegram HTML into pieces of at most N visible UTF-16 units, closing the tags
//!   open at a cut and reopening them (with their attributes) in the next piece.
//! - [`visible_len_utf16`], [`html_to_plain`]: what Telegram counts and shows once the tags are parsed.
//! - [`escape_html`]: plain text made safe for parse mode HTML.

use std::ops::Range;

use pulldown_cmark::{Alignment, CodeBlockKind, Event, LinkType, Options, Parser, Tag, TagEnd};

/// Escapes `&`, `<` and `>` so that `text` shows verbatim when sent with parse mode HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        push_escaped_char(out, c);
    }
}

fn push_escaped_char(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

/// Escapes an attribute value (for use between double quotes): like [`escape_html`], plus `"`.
fn escape_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("&quot;"),
            c => push_escaped_char(&mut out, c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// Markdown to Telegram HTML
// ---------------------------------------------------------------------------------------------------------

/// URL schemes a link may keep; any other link (relative, `javascript:`, `file:`, …) becomes its text.
const LINK_SCHEMES: [&str; 4] = ["http://", "https://", "tg://", "mailto:"];

/// Longest language name kept on a code block: enough for any real one, short enough to be harmless.
const MAX_LANGUAGE_LEN: usize = 32;

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

#[derive(Debug, Default)]
struct TableState {
    alignments: Vec<Alignment>,
    rows: Vec<Vec<String>>,
    header_rows: usize,
    cell: Option<String>,
}

#[derive(Debug, Default)]
struct Renderer {
    out: String,
    pending: Break,
    /// Whether any visible text was written: breaks before the first text are dropped.
    wrote_text: bool,
    /// Where the open quote's content starts: breaks right after `<blockquote>` are dropped too.
    quote_start: usize,
    /// One entry per open list: the next number of an ordered list, `None` for bullets.
    lists: Vec<Option<u64>>,
    /// Just after an item's marker or a quote's opening tag: the first block inside owes no break.
    fresh: bool,
    quote_depth: usize,
    inline: Vec<Closer>,
    image_depth: usize,
    /// The language and text of the code block being read.
    code_block: Option<(String, String)>,
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

/// The first word of a code fence's info string, reduced to `[A-Za-z0-9_+-]`.
fn sanitize_language(info: &str) -> String {
    info.split_whitespace()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-'))
        .take(MAX_LANGUAGE_LEN)
        .collect()
}

/// The URL escaped for an `href`, if its scheme is one Telegram opens and it has no whitespace or controls.
fn safe_href(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let scheme = LINK_SCHEMES.iter().find(|s| lower.starts_with(*s))?;
    let well_formed =
        url.len() > scheme.len() && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    well_formed.then(|| escape_attr(url))
}

// ---------------------------------------------------------------------------------------------------------
// The Telegram HTML model: a sanitized stream of tags and characters
// ---------------------------------------------------------------------------------------------------------

/// An allowed tag with its canonical attributes (already escaped, with a leading space).
#[derive(Clone, Debug, PartialEq, Eq)]
struct HtmlTag {
    name: String,
    attrs: String,
}

impl HtmlTag {
    fn push_open(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        out.push_str(&self.attrs);
        out.push('>');
    }

    fn push_close(&self, out: &mut String) {
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// One unit of well-nested Telegram HTML: every `Open` has its `Close`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Atom {
    Open(HtmlTag),
    Close,
    /// A visible character; `preformatted` inside `pre`/`code`, where leading spaces matter.
    Char {
        ch: char,
        preformatted: bool,
    },
}

const ALLOWED_TAGS: [&str; 15] = [
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
];

/// A tag as written, before the nesting rules are applied.
enum RawTag {
    Open {
        name: String,
        attrs: Vec<(String, String)>,
    },
    Close {
        name: String,
    },
}

/// An entry of the parser's stack: the tag, and whether it was dropped (its close is then dropped too).
struct StackEntry {
    name: String,
    dropped: bool,
}

/// Parses Telegram HTML into well-nested atoms, the way Telegram reads it but forgiving: a `<` or `&` that
/// starts no allowed tag or known entity is text; tags Telegram forbids where they stand (a quote in a quote,
/// anything in `code`/`pre` but `pre > code`, a link in a link, `a` without `href`, `span` that is no spoiler)
/// are dropped; unmatched closing tags are dropped and unclosed tags closed at the end.
fn parse_html(html: &str) -> Vec<Atom> {
    let mut atoms = Vec::new();
    let mut stack: Vec<StackEntry> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        let preformatted = stack
            .iter()
            .any(|e| !e.dropped && (e.name == "pre" || e.name == "code"));
        let consumed = match c {
            '<' => match parse_tag(rest) {
                Some((RawTag::Open { name, attrs }, len)) => {
                    let tag = admit_tag(&stack, &name, &attrs);
                    stack.push(StackEntry {
                        name,
                        dropped: tag.is_none(),
                    });
                    if let Some(tag) = tag {
                        atoms.push(Atom::Open(tag));
                    }
                    len
                }
                Some((RawTag::Close { name }, len)) => {
                    if let Some(pos) = stack.iter().rposition(|e| e.name == name) {
                        for entry in stack.drain(pos..).rev() {
                            if !entry.dropped {
                                atoms.push(Atom::Close);
                            }
                        }
                    }
                    len
                }
                None => {
                    atoms.push(Atom::Char {
                        ch: '<',
                        preformatted,
                    });
                    1
                }
            },
            '&' => {
                let (ch, len) = parse_entity(rest).unwrap_or(('&', 1));
                atoms.push(Atom::Char { ch, preformatted });
                len
            }
            c => {
                atoms.push(Atom::Char {
                    ch: c,
                    preformatted,
                });
                c.len_utf8()
            }
        };
        rest = rest.get(consumed..).unwrap_or("");
    }
    for entry in stack.iter().rev() {
        if !entry.dropped {
            atoms.push(Atom::Close);
        }
    }
    atoms
}

/// The canonical tag to emit for an opening tag at this point, or `None` when Telegram would not allow it.
fn admit_tag(stack: &[StackEntry], name: &str, attrs: &[(String, String)]) -> Option<HtmlTag> {
    let open: Vec<&str> = stack
        .iter()
        .filter(|e| !e.dropped)
        .map(|e| e.name.as_str())
        .collect();
    let attr = |key: &str| {
        attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let in_code = open.contains(&"code");
    let in_pre = open.contains(&"pre");
    let attrs = match name {
        "code" if in_pre && !in_code && open.last() == Some(&"pre") => match attr("class") {
            Some(class) if class.starts_with("language-") => {
                let language = sanitize_language(class.get("language-".len()..).unwrap_or(""));
                if language.is_empty() {
                    String::new()
                } else {
                    format!(" class=\"language-{language}\"")
                }
            }
            _ => String::new(),
        },
        _ if in_code || in_pre => return None,
        "code" | "pre" if open.contains(&"a") => return None,
        "a" => {
            let href = attr("href").filter(|h| !h.trim().is_empty())?;
            if open.contains(&"a") {
                return None;
            }
            format!(" href=\"{}\"", escape_attr(href))
        }
        "span" => {
            if attr("class") != Some("tg-spoiler") {
                return None;
            }
            " class=\"tg-spoiler\"".to_string()
        }
        "blockquote" => {
            if open.contains(&"blockquote") {
                return None;
            }
            if attr("expandable").is_some() {
                " expandable".to_string()
            } else {
                String::new()
            }
        }
        _ => String::new(),
    };
    Some(HtmlTag {
        name: name.to_string(),
        attrs,
    })
}

/// A small cursor over a string, so the tag parser needs no indexing.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos..).and_then(|r| r.chars().next())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
        self.s.get(start..self.pos).unwrap_or("")
    }
}

/// Parses an allowed tag at the start of `s` (which begins with `<`): the tag and its length in bytes.
fn parse_tag(s: &str) -> Option<(RawTag, usize)> {
    let mut cur = Cursor { s, pos: 0 };
    cur.eat('<');
    let closing = cur.eat('/');
    let name = cur
        .take_while(|c| c.is_ascii_alphanumeric() || c == '-')
        .to_ascii_lowercase();
    if !ALLOWED_TAGS.contains(&name.as_str()) {
        return None;
    }
    if closing {
        cur.skip_whitespace();
        return cur.eat('>').then_some((RawTag::Close { name }, cur.pos));
    }
    let mut attrs = Vec::new();
    loop {
        let before = cur.pos;
        cur.skip_whitespace();
        if cur.eat('>') {
            return Some((RawTag::Open { name, attrs }, cur.pos));
        }
        if cur.pos == before {
            return None; // the name runs into something that is neither space nor `>`
        }
        let key = cur
            .take_while(|c| !c.is_whitespace() && !matches!(c, '=' | '>' | '/' | '"' | '\'' | '<'))
            .to_ascii_lowercase();
        if key.is_empty() {
            return None;
        }
        cur.skip_whitespace();
        let value = if cur.eat('=') {
            cur.skip_whitespace();
            let raw = match cur.peek()? {
                quote @ ('"' | '\'') => {
                    cur.bump();
                    let value = cur.take_while(|c| c != quote).to_string();
                    cur.eat(quote).then_some(value)?
                }
                _ => cur
                    .take_while(|c| !c.is_whitespace() && !matches!(c, '>' | '<' | '"' | '\''))
                    .to_string(),
            };
            decode_entities(&raw)
        } else {
            String::new()
        };
        attrs.push((key, value));
    }
}

/// Longest entity looked for, `;` included (`&#x10FFFF;` is ten).
const MAX_ENTITY_CHARS: usize = 12;

/// Decodes the entity at the start of `s` (which begins with `&`): the character and its length in bytes.
/// Telegram knows `&lt;`, `&gt;`, `&amp;`, `&quot;` and numeric entities; anything else is not one.
fn parse_entity(s: &str) -> Option<(char, usize)> {
    let end = s
        .char_indices()
        .take(MAX_ENTITY_CHARS)
        .find(|&(_, c)| c == ';')?
        .0;
    let body = s.get(1..end)?;
    let ch = match body {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let number = body.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code).filter(|&c| c != '\0')?
        }
    };
    Some((ch, end + 1))
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let (ch, len) = if c == '&' {
            parse_entity(rest).unwrap_or(('&', 1))
        } else {
            (c, c.len_utf8())
        };
        out.push(ch);
        rest = rest.get(len..).unwrap_or("");
    }
    out
}

/// The visible characters of parsed HTML, with whether each is preformatted.
fn visible_chars(atoms: &[Atom]) -> Vec<(char, bool)> {
    atoms
        .iter()
        .filter_map(|a| match a {
            Atom::Char { ch, preformatted } => Some((*ch, *preformatted)),
            _ => None,
        })
        .collect()
}

/// Renders the visible characters in each range (indices into [`visible_chars`]) as one piece: tags open
/// at a piece's start are reopened there, tags still open at its end are closed, and tags that would hold
/// no character are left out. Characters outside every range are dropped.
fn render_pieces(atoms: &[Atom], ranges: &[Range<usize>]) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut out = String::new();
    // The open tags, each with whether it has been written into the current piece. Unwritten tags are
    // always a suffix of the stack: a character writes them all.
    let mut stack: Vec<(&HtmlTag, bool)> = Vec::new();
    let mut range_index = 0;
    let mut current: Option<usize> = None;
    let mut visible = 0;
    for atom in atoms {
        match atom {
            Atom::Open(tag) => stack.push((tag, false)),
            Atom::Close => {
                if let Some((tag, true)) = stack.pop() {
                    tag.push_close(&mut out);
                }
            }
            Atom::Char { ch, .. } => {
                let index = visible;
                visible += 1;
                while ranges.get(range_index).is_some_and(|r| r.end <= index) {
                    range_index += 1;
                }
                if ranges.get(range_index).is_none_or(|r| r.start > index) {
                    continue;
                }
                if current != Some(range_index) {
                    if current.is_some() {
                        finish_piece(&mut out, &mut stack, &mut pieces);
                    }
                    current = Some(range_index);
                }
                for (tag, written) in stack.iter_mut().filter(|(_, written)| !*written) {
                    tag.push_open(&mut out);
                    *written = true;
                }
                push_escaped_char(&mut out, *ch);
            }
        }
    }
    finish_piece(&mut out, &mut stack, &mut pieces);
    pieces
}

fn finish_piece(out: &mut String, stack: &mut [(&HtmlTag, bool)], pieces: &mut Vec<String>) {
    for (tag, written) in stack.iter_mut().rev() {
        if *written {
            tag.push_close(out);
            *written = false;
        }
    }
    if !out.is_empty() {
        pieces.push(std::mem::take(out));
    }
}

/// Index of the first character from `i` on that is not whitespace to trim at a piece's start. Inside
/// `pre`/`code` only line breaks are trimmed, so that indentation survives a cut.
fn skip_leading_whitespace(chars: &[(char, bool)], mut i: usize) -> usize {
    while let Some(&(c, preformatted)) = chars.get(i) {
        let trim = if preformatted {
            c == '\n' || c == '\r'
        } else {
            c.is_whitespace()
        };
        if !trim {
            break;
        }
        i += 1;
    }
    i
}

/// `end` moved back over trailing whitespace, not before `start`.
fn trim_trailing_whitespace(chars: &[(char, bool)], start: usize, mut end: usize) -> usize {
    while end > start && chars.get(end - 1).is_some_and(|(c, _)| c.is_whitespace()) {
        end -= 1;
    }
    end
}

// ---------------------------------------------------------------------------------------------------------
// Splitting, lengths, plain text
// ---------------------------------------------------------------------------------------------------------

/// Splits Telegram HTML into pieces whose visible text (what Telegram counts once the tags are parsed) is at
/// most `max_utf16` UTF-16 code units.
///
/// A cut goes at a paragraph break (`\n\n`) in the second half of a piece if there is one, else at a line
/// break, else at a space, else anywhere — never inside a tag, an entity or a character. Tags open at a cut
/// are closed at the end of the piece and reopened with their attributes at the start of the next, so a code
/// block cut in two stays a code block (with its language) in both. Pieces are trimmed (inside `pre`, only
/// line breaks at a piece's start, so indentation survives); no other visible text is lost or repeated.
/// Malformed input is repaired as [`html_to_plain`] would read it: unknown tags and stray `<`/`&` become text.
pub fn split_html(html: &str, max_utf16: usize) -> Vec<String> {
    let atoms = parse_html(html);
    let chars = visible_chars(&atoms);
    let ranges = plan_pieces(&chars, max_utf16.max(2));
    render_pieces(&atoms, &ranges)
}

/// The visible-character ranges of the pieces.
fn plan_pieces(chars: &[(char, bool)], max_utf16: usize) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = skip_leading_whitespace(chars, 0);
    while start < chars.len() {
        // `limit`: the end of the longest run from `start` within the budget.
        let mut units = 0;
        let mut limit = chars.len();
        for (i, (c, _)) in chars.iter().enumerate().skip(start) {
            units += c.len_utf16();
            if units > max_utf16 {
                limit = i;
                break;
            }
        }
        let cut = if limit == chars.len() {
            limit
        } else {
            find_cut(chars, start, limit)
        };
        let end = trim_trailing_whitespace(chars, start, cut);
        if end > start {
            ranges.push(start..end);
        }
        start = skip_leading_whitespace(chars, cut.max(start + 1));
    }
    ranges
}

/// Where to end a piece that starts at `start` and may not reach past `limit` (exclusive): the character
/// there (a break) starts the rest. Breaks in the first half of the piece are ignored, to avoid tiny pieces.
fn find_cut(chars: &[(char, bool)], start: usize, limit: usize) -> usize {
    let half = start + (limit - start) / 2;
    let lowest = half.max(start + 1);
    let is = |i: usize, wanted: char| chars.get(i).is_some_and(|(c, _)| *c == wanted);
    let last = |pred: &dyn Fn(usize) -> bool| (lowest..=limit).rev().find(|&i| pred(i));
    last(&|i| is(i, '\n') && is(i + 1, '\n'))
        .or_else(|| last(&|i| is(i, '\n')))
        .or_else(|| last(&|i| chars.get(i).is_some_and(|(c, _)| c.is_whitespace())))
        .unwrap_or(limit)
}

/// The length Telegram counts for this HTML: visible text in UTF-16 code units, an entity counting as the
/// character it stands for.
pub fn visible_len_utf16(html: &str) -> usize {
    parse_html(html)
        .iter()
        .map(|a| match a {
            Atom::Char { ch, .. } => ch.len_utf16(),
            _ => 0,
        })
        .sum()
}

/// The visible text of Telegram HTML: tags stripped, entities decoded. The fallback to send without a parse
/// mode when Telegram refuses the entities anyway.
pub fn html_to_plain(html: &str) -> String {
    visible_chars(&parse_html(html))
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // ----- an independent checker of Telegram's HTML rules -----

    const TELEGRAM_TAGS: [&str; 15] = [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
    ];

    /// Visible text of valid Telegram HTML, each character with the open tags around it (with attributes).
    #[derive(Debug, Default)]
    struct Checked {
        text: String,
        context: Vec<String>,
    }

    fn decode_entity(entity: &str) -> Option<char> {
        match entity {
            "&lt;" => Some('<'),
            "&gt;" => Some('>'),
            "&amp;" => Some('&'),
            "&quot;" => Some('"'),
            _ => None,
        }
    }

    fn check_attribute_value(value: &str) -> Result<(), String> {
        if value.contains(['<', '>', '"']) {
            return Err(format!("raw special character in attribute {value:?}"));
        }
        let mut rest = value;
        while let Some(i) = rest.find('&') {
            let end = rest[i..].find(';').ok_or("bare & in attribute")?;
            decode_entity(&rest[i..=i + end]).ok_or("unknown entity in attribute")?;
            rest = &rest[i + end + 1..];
        }
        Ok(())
    }

    /// A stack-based checker: only Telegram's tags, with their only attributes, properly nested and closed;
    /// nothing inside `pre`/`code` but `pre > code`; no quote in a quote, no link in a link, no code in a
    /// link; every `&` an entity, no bare `>`.
    fn validate(html: &str) -> Result<Checked, String> {
        let mut stack: Vec<(String, String)> = Vec::new();
        let mut checked = Checked::default();
        let mut rest = html;
        while let Some(c) = rest.chars().next() {
            match c {
                '<' => {
                    let end = rest.find('>').ok_or("unterminated tag")?;
                    let inner = &rest[1..end];
                    if let Some(name) = inner.strip_prefix('/') {
                        let (open, _) = stack.pop().ok_or(format!("stray </{name}>"))?;
                        if open != name {
                            return Err(format!("<{open}> closed by </{name}>"));
                        }
                    } else {
                        let (name, attrs) = inner.split_once(' ').unwrap_or((inner, ""));
                        if !TELEGRAM_TAGS.contains(&name) {
                            return Err(format!("tag <{name}> is not Telegram's"));
                        }
                        let open = |n: &str| stack.iter().any(|(t, _)| t == n);
                        let top = stack.last().map(|(t, _)| t.as_str());
                        if (open("pre") || open("code")) && !(name == "code" && top == Some("pre"))
                        {
                            return Err(format!("<{name}> inside pre/code"));
                        }
                        if (name == "blockquote" && open("blockquote"))
                            || (name == "a" && open("a"))
                            || (name == "code" && open("a"))
                        {
                            return Err(format!("forbidden nesting of <{name}>"));
                        }
                        match name {
                            "a" => {
                                let value = attrs
                                    .strip_prefix("href=\"")
                                    .and_then(|v| v.strip_suffix('"'))
                                    .ok_or(format!("bad link attributes {attrs:?}"))?;
                                check_attribute_value(value)?;
                            }
                            "code" if !attrs.is_empty() => {
                                let language = attrs
                                    .strip_prefix("class=\"language-")
                                    .and_then(|v| v.strip_suffix('"'))
                                    .ok_or(format!("bad code attributes {attrs:?}"))?;
                                if language.is_empty()
                                    || !language
                                        .chars()
                                        .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
                                {
                                    return Err(format!("bad language {language:?}"));
                                }
                                if top != Some("pre") {
                                    return Err("language outside pre".into());
                                }
                            }
                            "span" if attrs != "class=\"tg-spoiler\"" => {
                                return Err("span without tg-spoiler".into())
                            }
                            "blockquote" if !attrs.is_empty() && attrs != "expandable" => {
                                return Err("bad blockquote attributes".into())
                            }
                            "span" | "blockquote" | "code" => {}
                            _ if !attrs.is_empty() => {
                                return Err(format!("<{name}> with attributes"))
                            }
                            _ => {}
                        }
                        stack.push((name.to_string(), attrs.to_string()));
                    }
                    rest = &rest[end + 1..];
                }
                '&' => {
                    let end = rest.find(';').ok_or("bare &")?;
                    let ch =
                        decode_entity(&rest[..=end]).ok_or(format!("bad entity in {rest:.12}"))?;
                    checked.push(ch, &stack);
                    rest = &rest[end + 1..];
                }
                '>' => return Err("bare >".into()),
                c => {
                    checked.push(c, &stack);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        match stack.last() {
            Some((open, _)) => Err(format!("<{open}> never closed")),
            None => Ok(checked),
        }
    }

    impl Checked {
        fn push(&mut self, c: char, stack: &[(String, String)]) {
            self.text.push(c);
            let context: Vec<String> = stack.iter().map(|(n, a)| format!("{n} {a}")).collect();
            self.context.push(context.join(">"));
        }
    }

    fn valid(html: &str) -> Checked {
        validate(html).unwrap_or_else(|e| panic!("invalid Telegram HTML ({e}):\n{html}"))
    }

    fn without_whitespace(s: &str) -> String {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    }

    /// Splits and checks every piece: valid, within `max`, and together all of the visible text.
    fn split_and_check(html: &str, max: usize) -> Vec<String> {
        let pieces = split_html(html, max);
        let mut joined = String::new();
        for piece in &pieces {
            let checked = valid(piece);
            let units: usize = checked.text.chars().map(char::len_utf16).sum();
            assert!(units <= max, "piece of {units} > {max} units: {piece}");
            assert_eq!(units, visible_len_utf16(piece));
            assert!(!checked.text.trim().is_empty(), "empty piece {piece:?}");
            joined.push_str(&checked.text);
        }
        assert_eq!(
            without_whitespace(&joined),
            without_whitespace(&valid(html).text),
            "visible text lost or repeated"
        );
        pieces
    }

    fn md(markdown: &str) -> String {
        let html = markdown_to_telegram_html(markdown);
        valid(&html);
        html
    }

    // ----- Markdown constructs -----

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

    // ----- escaping, lengths, plain text -----

    #[test]
    fn escape_html_escapes_the_three_special_characters() {
        assert_eq!(
            escape_html("<script> a < b && c > d \"q\""),
            "&lt;script&gt; a &lt; b &amp;&amp; c &gt; d \"q\""
        );
    }

    #[test]
    fn visible_length_counts_entities_once_and_emoji_twice() {
        assert_eq!(visible_len_utf16("<b>a &amp; b</b>"), 5);
        assert_eq!(visible_len_utf16("😀<i>é</i>&#x1F600;"), 5);
        assert_eq!(
            visible_len_utf16("<pre><code class=\"language-rust\">x</code></pre>"),
            1
        );
    }

    #[test]
    fn html_to_plain_strips_tags_and_decodes_entities() {
        assert_eq!(
            html_to_plain(
                "<a href=\"https://e.com?a=1&amp;b\">a &amp; b</a> &lt;3 &#128512; &quot;q&quot;"
            ),
            "a & b <3 😀 \"q\""
        );
        assert_eq!(
            html_to_plain("&amp;😀😀&lt;é&#233;&nbsp;&#xZZ;"),
            "&😀😀<éé&nbsp;&#xZZ;"
        );
    }

    // ----- splitting -----

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

    use super::super::split::MAX_MESSAGE_UTF16;

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
