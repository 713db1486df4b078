//! The token rule shared by indexing and queries.

/// Splits `text` into search tokens: the maximal runs of ASCII letters and
/// digits, lowercased, in order (repeats kept). Everything else — spaces,
/// punctuation, `-`, `_`, any non-ASCII character — separates tokens.
///
/// `terraform-aws-VPC_endpoints` gives `terraform`, `aws`, `vpc`,
/// `endpoints`. Module fields and search queries are both split this way.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = String::new();
    for_each_token(text, &mut buf, |t| out.push(t.to_owned()));
    out
}

/// Calls `f` with each token of `text` (see [`tokenize`]), using `buf` as
/// scratch space so that indexing allocates nothing per token.
pub(crate) fn for_each_token(text: &str, buf: &mut String, mut f: impl FnMut(&str)) {
    buf.clear();
    buf.push_str(text);
    buf.make_ascii_lowercase();
    for token in buf.split(|c: char| !c.is_ascii_alphanumeric()) {
        if !token.is_empty() {
            f(token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    #[test]
    fn splits_on_everything_but_ascii_alphanumerics() {
        assert_eq!(
            tokenize("terraform-aws-VPC_endpoints"),
            ["terraform", "aws", "vpc", "endpoints"]
        );
        assert_eq!(tokenize("  Créé: v2.0, s3!!"), ["cr", "v2", "0", "s3"]);
        assert!(tokenize("--- _ ").is_empty());
        assert!(tokenize("").is_empty());
    }
}
