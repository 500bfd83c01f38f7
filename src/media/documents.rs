//! Which documents the model can read: text-like files (`text/*`, JSON, YAML, XML, CSV, Markdown, source code
//! by extension), decoded without loss (UTF-8, or UTF-16 with its byte-order mark). PDFs, images sent as
//! files, archives and other binaries are not.

/// What a document is, judged by its name and declared type, before it is downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text the model can read once decoded.
    Text,
    /// Not text (a PDF, an archive, an office file, an image or media sent as a file, …).
    Binary,
}

/// Application types that are text.
const TEXT_MIME: &[&str] = &[
    "application/json",
    "application/ld+json",
    "application/xml",
    "application/yaml",
    "application/x-yaml",
    "application/toml",
    "application/x-toml",
    "application/javascript",
    "application/x-javascript",
    "application/typescript",
    "application/x-sh",
    "application/x-shellscript",
    "application/sql",
    "application/x-python",
    "application/x-python-code",
    "application/x-ruby",
    "application/x-perl",
    "application/x-php",
    "application/x-httpd-php",
    "application/graphql",
    "application/x-tex",
    "application/x-subrip",
    "application/csv",
];

/// File name extensions of text and source files (lower case), for clients that send them as
/// `application/octet-stream` or with no type at all.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "text",
    "md",
    "markdown",
    "rst",
    "adoc",
    "org",
    "tex",
    "csv",
    "tsv",
    "json",
    "jsonl",
    "ndjson",
    "yaml",
    "yml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "env",
    "properties",
    "xml",
    "html",
    "htm",
    "css",
    "scss",
    "less",
    "svg",
    "rs",
    "py",
    "pyi",
    "js",
    "mjs",
    "cjs",
    "ts",
    "tsx",
    "jsx",
    "go",
    "java",
    "kt",
    "kts",
    "scala",
    "c",
    "h",
    "cc",
    "cpp",
    "cxx",
    "hpp",
    "hh",
    "cs",
    "fs",
    "swift",
    "m",
    "mm",
    "rb",
    "php",
    "pl",
    "pm",
    "lua",
    "r",
    "jl",
    "dart",
    "ex",
    "exs",
    "erl",
    "hs",
    "ml",
    "mli",
    "clj",
    "elm",
    "nim",
    "zig",
    "v",
    "sh",
    "bash",
    "zsh",
    "fish",
    "ps1",
    "bat",
    "cmd",
    "sql",
    "graphql",
    "proto",
    "tf",
    "hcl",
    "nix",
    "dockerfile",
    "makefile",
    "cmake",
    "gradle",
    "vue",
    "svelte",
    "log",
    "diff",
    "patch",
    "srt",
    "vtt",
    "bib",
    "gitignore",
    "editorconfig",
    "lock",
];

/// Whether a document named `name`, declared as `mime`, is text (the extension decides for
/// `application/octet-stream` or no type; a type that is text decides the rest).
pub fn kind_of(name: Option<&str>, mime: Option<&str>) -> Kind {
    let mime = mime
        .map(|m| m.split(';').next().unwrap_or(m).trim().to_ascii_lowercase())
        .unwrap_or_default();
    if mime.starts_with("text/")
        || TEXT_MIME.contains(&mime.as_str())
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
    {
        return Kind::Text;
    }
    let generic = mime.is_empty() || mime == "application/octet-stream";
    let name = name.unwrap_or_default().to_ascii_lowercase();
    let extension = name.rsplit_once('.').map_or(name.as_str(), |(_, ext)| ext);
    if generic && TEXT_EXTENSIONS.contains(&extension) {
        Kind::Text
    } else {
        Kind::Binary
    }
}

/// The text of a document's bytes, decoded without loss: UTF-8 (a byte-order mark dropped), or UTF-16 with
/// its byte-order mark. `None`: not text in either (a binary sent under a text name), or it holds NUL bytes.
pub fn decode(bytes: &[u8]) -> Option<String> {
    let text = match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec()).ok()?,
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes)?,
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes)?,
        _ => String::from_utf8(bytes.to_vec()).ok()?,
    };
    (!text.contains('\0')).then_some(text)
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Option<String> {
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| {
            unit([
                pair.first().copied().unwrap_or(0),
                pair.get(1).copied().unwrap_or(0),
            ])
        })
        .collect();
    String::from_utf16(&units).ok()
}

/// How a document goes into a turn: its name and its text in a fenced block (a fence longer than any run of
/// backticks inside, so the text cannot close it), then the caption.
pub fn as_turn_text(name: &str, text: &str, caption: Option<&str>) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let mut turn = format!(
        "File: {name}\n{fence}\n{}\n{fence}",
        text.trim_end_matches('\n')
    );
    if let Some(caption) = caption.map(str::trim).filter(|c| !c.is_empty()) {
        turn.push_str("\n\n");
        turn.push_str(caption);
    }
    turn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_known_by_its_type_or_for_generic_types_by_its_extension() {
        assert_eq!(
            kind_of(Some("a.bin"), Some("text/plain; charset=utf-8")),
            Kind::Text
        );
        assert_eq!(kind_of(Some("x"), Some("application/json")), Kind::Text);
        assert_eq!(
            kind_of(Some("feed"), Some("application/atom+xml")),
            Kind::Text
        );
        assert_eq!(
            kind_of(Some("main.RS"), Some("application/octet-stream")),
            Kind::Text
        );
        assert_eq!(kind_of(Some("notes.md"), None), Kind::Text);
        assert_eq!(kind_of(Some("Dockerfile"), None), Kind::Text);
        assert_eq!(
            kind_of(Some("paper.pdf"), Some("application/pdf")),
            Kind::Binary
        );
        assert_eq!(
            kind_of(Some("notes.txt"), Some("application/pdf")),
            Kind::Binary,
            "the type wins"
        );
        assert_eq!(
            kind_of(Some("a.zip"), Some("application/zip")),
            Kind::Binary
        );
        assert_eq!(kind_of(Some("photo.jpg"), Some("image/jpeg")), Kind::Binary);
        assert_eq!(kind_of(None, None), Kind::Binary);
    }

    #[test]
    fn only_lossless_text_is_decoded() {
        assert_eq!(decode("héllo".as_bytes()).as_deref(), Some("héllo"));
        assert_eq!(decode(b"\xEF\xBB\xBFhi").as_deref(), Some("hi"));
        assert_eq!(decode(b"\xFF\xFEh\x00i\x00").as_deref(), Some("hi"));
        assert_eq!(decode(b"\xFE\xFF\x00h\x00i").as_deref(), Some("hi"));
        assert_eq!(decode(b"%PDF-1.7\n\xE2\xE3\xCF\xD3"), None);
        assert_eq!(decode(b"text\0with nul"), None);
        assert_eq!(decode(b"\xFF\xFEh"), None, "odd length");
    }

    #[test]
    fn a_document_is_its_name_a_fence_the_backticks_inside_cannot_close_and_the_caption() {
        assert_eq!(
            as_turn_text("a.py", "print(1)\n", Some(" what does it do? ")),
            "File: a.py\n```\nprint(1)\n```\n\nwhat does it do?"
        );
        let inner = "```rust\nfn f() {}\n```";
        let turn = as_turn_text("README.md", inner, None);
        assert!(turn.starts_with("File: README.md\n````\n"), "{turn}");
        assert!(turn.ends_with("\n````"), "{turn}");
    }
}
