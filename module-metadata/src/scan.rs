//! Linear pre-scans of nesting depth, run before a file reaches a
//! recursive-descent parser.
//!
//! The scans err on the deep side: unbalanced brackets inside heredocs count,
//! and a quoted string counts as one level. They never recurse and use
//! memory bounded by the limit they check.

/// Whether HCL native syntax `src` nests deeper than `max` levels.
///
/// Brackets, braces and parentheses count; so do quoted strings and the
/// `${`/`%{` sequences inside them. `#`, `//` and `/* */` comments are
/// skipped. A quoted string ends at its closing quote or at the end of the
/// line (HCL strings are single-line). Closing brackets pop one level
/// whatever they close.
pub(crate) fn hcl_too_deep(src: &str, max: usize) -> bool {
    /// Frames on the stack: an open bracket in code, or a quoted string.
    const STRING: u8 = b'"';
    const CODE: u8 = b'(';

    let bytes = src.as_bytes();
    let mut stack: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        if stack.last() == Some(&STRING) {
            match c {
                b'\\' => i += 1,
                b'"' | b'\n' => {
                    stack.pop();
                }
                b'$' | b'%' if next == Some(c) => i += 1,
                b'$' | b'%' if next == Some(b'{') => {
                    stack.push(CODE);
                    i += 1;
                }
                _ => {}
            }
        } else {
            match c {
                b'#' => i = line_end(bytes, i),
                b'/' if next == Some(b'/') => i = line_end(bytes, i),
                b'/' if next == Some(b'*') => {
                    i = find(bytes, i + 2, b"*/").map_or(bytes.len(), |end| end + 1);
                }
                b'"' => stack.push(STRING),
                b'(' | b'[' | b'{' => stack.push(CODE),
                b')' | b']' | b'}' => {
                    stack.pop();
                }
                _ => {}
            }
        }
        if stack.len() > max {
            return true;
        }
        i += 1;
    }
    false
}

/// Whether JSON `src` nests arrays and objects deeper than `max` levels.
/// Brackets inside strings do not count.
pub(crate) fn json_too_deep(src: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = 0;
    while i < src.len() {
        match (in_string, src[i]) {
            (true, b'\\') => i += 1,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'[' | b'{') => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

/// The index of the newline ending the line at `from`, or the input's end.
fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| from + p)
}

/// The index of the first `needle` at or after `from`.
fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_brackets_strings_and_interpolations() {
        // { ( { " ${ = 5 levels at the deepest point.
        let src = r#"variable "x" { type = object({ a = "${var.b}" }) }"#;
        assert!(!hcl_too_deep(src, 5));
        assert!(hcl_too_deep(src, 4));
    }

    #[test]
    fn skips_comments_and_escapes() {
        let src = "# ((((((\n// [[[[[[\n/* {{{{{{ */\na = \"(((( $${ %%{ \\\" [[[\"\n";
        assert!(!hcl_too_deep(src, 1));
    }

    #[test]
    fn unterminated_string_ends_at_newline() {
        let src = "a = \"open\nb = 1\nc = 2\n";
        assert!(!hcl_too_deep(src, 1));
    }

    #[test]
    fn deep_input_is_caught_early() {
        let deep = "[".repeat(1_000_000);
        assert!(hcl_too_deep(&format!("a = {deep}"), 64));
        assert!(json_too_deep(deep.as_bytes(), 64));
        assert!(!hcl_too_deep(
            &format!("a = {}{}", "[".repeat(64), "]".repeat(64)),
            64
        ));
    }

    #[test]
    fn json_ignores_brackets_in_strings() {
        assert!(!json_too_deep(br#"{"a": "[[[[\"{{{{"}"#, 1));
        assert!(json_too_deep(br#"{"a": [1]}"#, 1));
    }
}
