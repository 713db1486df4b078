//! Small string helpers shared by the extractors.

/// The longest prefix of `s` that is at most `max` bytes and ends on a
/// character boundary.
pub(crate) fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Cuts `s` to at most `max` bytes on a character boundary; `true` when it
/// was cut.
pub(crate) fn cut(s: &mut String, max: usize) -> bool {
    let keep = prefix(s, max).len();
    if keep < s.len() {
        s.truncate(keep);
        true
    } else {
        false
    }
}

/// A parser message made fit for one warning line: newlines folded and at
/// most about 300 bytes.
pub(crate) fn short_message(message: &str) -> String {
    const MAX: usize = 300;
    let folded = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.len() <= MAX {
        folded
    } else {
        format!("{}…", prefix(&folded, MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_respects_char_boundaries() {
        assert_eq!(prefix("héllo", 2), "h");
        assert_eq!(prefix("héllo", 3), "hé");
        assert_eq!(prefix("héllo", 100), "héllo");
        let mut s = String::from("ééé");
        assert!(cut(&mut s, 5));
        assert_eq!(s, "éé");
        assert!(!cut(&mut s, 5));
    }

    #[test]
    fn short_message_folds_and_cuts() {
        assert_eq!(short_message("a\n  b"), "a b");
        let long = "x".repeat(1000);
        assert_eq!(short_message(&long).chars().count(), 301);
    }
}
