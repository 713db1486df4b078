//! The plain-text first paragraph of a README, for the registry's
//! `description`.
//!
//! This is a small line-and-character scanner, not a Markdown parser: it
//! knows the block forms that commonly precede a module's first sentence
//! (headings, badges, code fences, HTML) and strips inline markup. Every
//! scan is linear or bounded by [`LOOKAHEAD`], and stops once enough text
//! is collected.

/// Longest description, in characters, `…` included.
const MAX_CHARS: usize = 300;
/// How far a closing bracket, parenthesis, backtick or `>` is looked for.
const LOOKAHEAD: usize = 2048;
/// Raw bytes of one paragraph looked at, at most (lines past it are
/// ignored).
const MAX_PARAGRAPH_BYTES: usize = 16 * 1024;
/// Link text nested deeper than this is taken as it is.
const MAX_LINK_DEPTH: usize = 4;

/// The first paragraph of `readme` as plain text, cut to 300 characters at
/// a word boundary with `…`; `None` when there is none. See
/// [`ModuleMetadata::description`](crate::ModuleMetadata::description).
pub(crate) fn first_paragraph(readme: &str) -> Option<String> {
    let mut paragraph: Vec<&str> = Vec::new();
    let mut paragraph_bytes = 0;
    let mut fence: Option<(u8, usize)> = None;
    let mut in_comment = false;
    for line in readme.lines() {
        let trimmed = line.trim();
        if let Some((ch, len)) = fence {
            if closes_fence(trimmed, ch, len) {
                fence = None;
            }
            continue;
        }
        if in_comment {
            in_comment = !trimmed.contains("-->");
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let block_start = trimmed.is_empty()
            || is_heading(trimmed)
            || fence_open(trimmed).is_some()
            || is_break(trimmed)
            || trimmed.starts_with('|')
            || trimmed.starts_with("<!--")
            || is_link_definition(trimmed)
            || (paragraph.is_empty() && indent >= 4);
        if block_start {
            if let Some(text) = finish(&paragraph) {
                return Some(text);
            }
            paragraph.clear();
            paragraph_bytes = 0;
            if let Some(open) = fence_open(trimmed) {
                fence = Some(open);
            }
            if trimmed.starts_with("<!--") && !trimmed.contains("-->") {
                in_comment = true;
            }
            continue;
        }
        if is_setext_underline(trimmed) {
            // The lines before were a heading.
            paragraph.clear();
            paragraph_bytes = 0;
            continue;
        }
        if paragraph_bytes < MAX_PARAGRAPH_BYTES {
            paragraph_bytes += trimmed.len();
            paragraph.push(strip_line_markers(trimmed));
        }
    }
    finish(&paragraph)
}

/// The paragraph's text, or `None` when stripping leaves nothing.
fn finish(lines: &[&str]) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let mut out = Collector::default();
    for line in lines {
        strip_inline(line, &mut out, 0);
        out.space();
        if out.full() {
            break;
        }
    }
    out.finish()
}

/// ATX headings (`# Title`) and HTML headings (`<h1>`).
fn is_heading(line: &str) -> bool {
    let hashes = line.bytes().take_while(|&b| b == b'#').count();
    if (1..=6).contains(&hashes) {
        let rest = &line[hashes..];
        return rest.is_empty() || rest.starts_with([' ', '\t']);
    }
    let lower = line.get(..3).map(str::to_ascii_lowercase);
    matches!(
        lower.as_deref(),
        Some("<h1" | "<h2" | "<h3" | "<h4" | "<h5" | "<h6")
    )
}

/// A fence opening (```` ``` ```` or `~~~`, three or more): its character
/// and length.
fn fence_open(line: &str) -> Option<(u8, usize)> {
    let first = *line.as_bytes().first()?;
    if first != b'`' && first != b'~' {
        return None;
    }
    let len = line.bytes().take_while(|&b| b == first).count();
    (len >= 3).then_some((first, len))
}

fn closes_fence(line: &str, ch: u8, len: usize) -> bool {
    let run = line.bytes().take_while(|&b| b == ch).count();
    run >= len && line[run..].trim().is_empty()
}

/// `***`, `---`, `___` (spaces allowed).
fn is_break(line: &str) -> bool {
    let chars: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    chars.len() >= 3
        && ['*', '-', '_']
            .iter()
            .any(|&m| chars.iter().all(|&c| c == m))
}

/// `===` or `---` under a paragraph line.
fn is_setext_underline(line: &str) -> bool {
    !line.is_empty() && (line.bytes().all(|b| b == b'=') || line.bytes().all(|b| b == b'-'))
}

/// `[label]: https://...`.
fn is_link_definition(line: &str) -> bool {
    line.starts_with('[') && line.find("]:").is_some_and(|i| i > 1)
}

/// The line without a blockquote `>` or list marker.
fn strip_line_markers(mut line: &str) -> &str {
    while let Some(rest) = line.strip_prefix('>') {
        line = rest.trim_start();
    }
    for marker in ["- ", "* ", "+ "] {
        if let Some(rest) = line.strip_prefix(marker) {
            return rest.trim_start();
        }
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        if let Some(rest) = line[digits..]
            .strip_prefix(". ")
            .or_else(|| line[digits..].strip_prefix(") "))
        {
            return rest.trim_start();
        }
    }
    line
}

/// Plain text with whitespace collapsed, up to a bit over [`MAX_CHARS`].
#[derive(Debug, Default)]
struct Collector {
    text: String,
    chars: usize,
    pending_space: bool,
}

impl Collector {
    fn push(&mut self, c: char) {
        if c.is_whitespace() {
            self.space();
            return;
        }
        if self.full() {
            return;
        }
        if self.pending_space && !self.text.is_empty() {
            self.text.push(' ');
            self.chars += 1;
        }
        self.pending_space = false;
        self.text.push(c);
        self.chars += 1;
    }

    fn push_str(&mut self, s: &str) {
        for c in s.chars() {
            self.push(c);
        }
    }

    fn space(&mut self) {
        self.pending_space = true;
    }

    /// Enough text to know whether it must be cut.
    fn full(&self) -> bool {
        self.chars > MAX_CHARS
    }

    fn finish(self) -> Option<String> {
        if self.text.is_empty() {
            return None;
        }
        if self.chars <= MAX_CHARS {
            return Some(self.text);
        }
        // Room for the ellipsis.
        let limit = self
            .text
            .char_indices()
            .nth(MAX_CHARS - 1)
            .map_or(self.text.len(), |(i, _)| i);
        let head = &self.text[..limit];
        // Cut before the word that does not fit (the text after `limit`
        // continues the word unless it starts with a space).
        let cut = if self.text[limit..].starts_with(' ') {
            head
        } else {
            head.rfind(' ').map_or(head, |i| &head[..i])
        };
        let cut = cut.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':'));
        Some(format!("{cut}…"))
    }
}

/// Appends `s` without inline Markdown and HTML to `out`.
fn strip_inline(s: &str, out: &mut Collector, depth: usize) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() && !out.full() {
        let rest = &s[i..];
        match bytes[i] {
            b'\\' if bytes.get(i + 1).is_some_and(u8::is_ascii_punctuation) => {
                out.push(char::from(bytes[i + 1]));
                i += 2;
            }
            b'!' if bytes.get(i + 1) == Some(&b'[') => match link_end(s, i + 1) {
                // An image or badge: dropped.
                Some((_, end)) => i = end,
                None => {
                    out.push('!');
                    i += 1;
                }
            },
            b'[' => match link_end(s, i) {
                Some((text_end, end)) => {
                    let text = &s[i + 1..text_end];
                    if depth < MAX_LINK_DEPTH {
                        strip_inline(text, out, depth + 1);
                    } else {
                        out.push_str(text);
                    }
                    i = end;
                }
                None => {
                    out.push('[');
                    i += 1;
                }
            },
            b'`' => {
                let run = rest.bytes().take_while(|&b| b == b'`').count();
                let fence = &rest[..run];
                let body = &rest[run..];
                match find_within(body, fence) {
                    Some(close) => {
                        out.push_str(&body[..close]);
                        i += run + close + run;
                    }
                    None => {
                        out.push_str(fence);
                        i += run;
                    }
                }
            }
            b'<' => match html_end(rest) {
                Some((end, autolink)) => {
                    if autolink {
                        out.push_str(&rest[1..end - 1]);
                    }
                    i += end;
                }
                None => {
                    out.push('<');
                    i += 1;
                }
            },
            b'&' => match ENTITIES.iter().find(|(name, _)| rest.starts_with(name)) {
                Some((name, c)) => {
                    out.push(*c);
                    i += name.len();
                }
                None => {
                    out.push('&');
                    i += 1;
                }
            },
            b'*' | b'_' | b'~' => {
                let marker = bytes[i];
                let run = rest.bytes().take_while(|&b| b == marker).count();
                let before = s[..i].chars().next_back();
                let after = s[i + run..].chars().next();
                if marker == b'~' && run < 2 || !is_emphasis(before, after) {
                    out.push_str(&rest[..run]);
                }
                i += run;
            }
            _ => {
                let c = rest.chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
}

/// Whether a `*`/`_`/`~~` run between `before` and `after` opens or closes
/// emphasis: it touches text on one side and is not inside a word.
fn is_emphasis(before: Option<char>, after: Option<char>) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let space = |c: Option<char>| c.is_none_or(char::is_whitespace);
    (!alnum(before) && !space(after)) || (!alnum(after) && !space(before))
}

/// For a `[` at `open`: the index of its `]` and the index after the
/// `(url)` or `[ref]` that follows, when both are there within
/// [`LOOKAHEAD`].
fn link_end(s: &str, open: usize) -> Option<(usize, usize)> {
    let close = matching(s, open, b'[', b']')?;
    match s.as_bytes().get(close + 1) {
        Some(b'(') => Some((close, matching(s, close + 1, b'(', b')')? + 1)),
        Some(b'[') => Some((close, matching(s, close + 1, b'[', b']')? + 1)),
        _ => None,
    }
}

/// The index of the bracket closing the one at `open`, nesting counted.
fn matching(s: &str, open: usize, opener: u8, closer: u8) -> Option<usize> {
    let mut depth = 0usize;
    for (offset, &b) in s.as_bytes()[open..].iter().enumerate().take(LOOKAHEAD) {
        if b == opener {
            depth += 1;
        } else if b == closer {
            depth -= 1;
            if depth == 0 {
                return Some(open + offset);
            }
        }
    }
    None
}

/// The first `needle` in `s` within [`LOOKAHEAD`] bytes.
fn find_within(s: &str, needle: &str) -> Option<usize> {
    let window = crate::text::prefix(s, LOOKAHEAD + needle.len());
    window.find(needle)
}

/// For `<` at the start of `s`: the index after the tag's `>` and whether it
/// is an autolink (`<https://...>`), when `s` starts a tag.
fn html_end(s: &str) -> Option<(usize, bool)> {
    let next = s.as_bytes().get(1)?;
    if !(next.is_ascii_alphabetic() || *next == b'/' || *next == b'!') {
        return None;
    }
    let end = find_within(s, ">")? + 1;
    let inner = &s[1..end - 1];
    let autolink = inner.starts_with("http://")
        || inner.starts_with("https://")
        || inner.starts_with("mailto:");
    Some((end, autolink))
}

/// Entities decoded.
const ENTITIES: [(&str, char); 7] = [
    ("&amp;", '&'),
    ("&lt;", '<'),
    ("&gt;", '>'),
    ("&quot;", '"'),
    ("&#39;", '\''),
    ("&apos;", '\''),
    ("&nbsp;", ' '),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(s: &str) -> Option<String> {
        first_paragraph(s)
    }

    #[test]
    fn inline_markup_is_stripped() {
        assert_eq!(
            desc("Some **bold**, _it_, `code`, ~~gone~~ and [a link](https://x.y \"t\").")
                .as_deref(),
            Some("Some bold, it, code, gone and a link.")
        );
        assert_eq!(
            desc("snake_case and 2 * 3 stay").as_deref(),
            Some("snake_case and 2 * 3 stay")
        );
        assert_eq!(
            desc("<p align=\"center\">Hi <b>there</b> &amp; <https://x.y></p>").as_deref(),
            Some("Hi there & https://x.y")
        );
        assert_eq!(
            desc("A \\*literal\\* star").as_deref(),
            Some("A *literal* star")
        );
        assert_eq!(
            desc("[![b](https://b/x.svg)](https://l) Text [ref][1]").as_deref(),
            Some("Text ref")
        );
    }

    #[test]
    fn block_forms_are_skipped() {
        let readme = "Title\n=====\n\n<!-- a\ncomment -->\n\n```hcl\nmodule \"x\" {}\n```\n\n    indented code\n\n---\n\n| a | b |\n\n[1]: https://x\n\n> Quoted *text*\n";
        assert_eq!(desc(readme).as_deref(), Some("Quoted text"));
        assert_eq!(desc("<h1>Title</h1>\nBody").as_deref(), Some("Body"));
    }

    #[test]
    fn unbalanced_and_hostile_input_is_linear() {
        let s = "[".repeat(200_000);
        let start = std::time::Instant::now();
        let got = desc(&s).unwrap();
        assert!(got.chars().count() <= MAX_CHARS);
        let s = "![a](b)".repeat(30_000) + " tail";
        assert_eq!(desc(&s).as_deref(), Some("tail"));
        assert!(start.elapsed().as_secs() < 5);
    }
}
