//! Tags as versions, and GitHub's `Link` pagination.

use std::collections::BTreeMap;

use registry_core::version::parse_version;
use registry_core::Version;
use reqwest::header::{HeaderMap, LINK};
use reqwest::Url;

/// A repository's versions, each with the tag it comes from.
///
/// A tag is a version if it is SemVer 2.0 as the registry parses it
/// ([`parse_version`]), with or without a leading `v` (or `V`). When several
/// tags spell the same version, the choice does not depend on their order:
/// the bare one (`1.2.0`) wins over `v1.2.0`, which wins over `V1.2.0`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TagList {
    /// Version -> (tag, its rank: 0 bare, 1 `v`, 2 `V`).
    by_version: BTreeMap<Version, (String, u8)>,
}

impl TagList {
    /// The versions among `tags`; `skipped(tag, why)` is told about the others.
    pub(crate) fn new<'a>(
        tags: impl IntoIterator<Item = &'a String>,
        mut skipped: impl FnMut(&str, &str),
    ) -> Self {
        let mut by_version: BTreeMap<Version, (String, u8)> = BTreeMap::new();
        for tag in tags {
            let Some((version, rank)) = tag_version(tag) else {
                skipped(tag, "not SemVer 2.0 (with or without a leading v)");
                continue;
            };
            match by_version.get(&version) {
                Some((_, existing)) if *existing <= rank => {
                    skipped(tag, "another tag spells the same version");
                }
                _ => {
                    if let Some((displaced, _)) = by_version.insert(version, (tag.clone(), rank)) {
                        skipped(&displaced, "another tag spells the same version");
                    }
                }
            }
        }
        Self { by_version }
    }

    /// The versions, ascending.
    pub(crate) fn versions(&self) -> impl Iterator<Item = &Version> {
        self.by_version.keys()
    }

    /// The tag of `version`.
    pub(crate) fn tag(&self, version: &Version) -> Option<&str> {
        self.by_version.get(version).map(|(tag, _)| tag.as_str())
    }

    pub(crate) fn len(&self) -> usize {
        self.by_version.len()
    }
}

/// The version a tag names, and how it is spelled (0 bare, 1 `v`, 2 `V`).
fn tag_version(tag: &str) -> Option<(Version, u8)> {
    if let Ok(version) = parse_version(tag) {
        return Some((version, 0));
    }
    let (rank, rest) = match tag.as_bytes().first() {
        Some(b'v') => (1, &tag[1..]),
        Some(b'V') => (2, &tag[1..]),
        _ => return None,
    };
    parse_version(rest).ok().map(|v| (v, rank))
}

/// The `rel="next"` target of a response's `Link` headers (RFC 8288),
/// resolved against `base`; `None` on the last page.
pub(crate) fn next_link(headers: &HeaderMap, base: &Url) -> Result<Option<Url>, String> {
    for value in headers.get_all(LINK) {
        let text = value
            .to_str()
            .map_err(|_| "it is not ASCII text".to_owned())?;
        let mut rest = text;
        while let Some(start) = rest.find('<') {
            let Some(len) = rest[start..].find('>') else {
                return Err("a '<' is never closed".to_owned());
            };
            let target = &rest[start + 1..start + len];
            let after = &rest[start + len + 1..];
            let params_end = after.find('<').unwrap_or(after.len());
            let is_next = after[..params_end].split(';').any(|param| {
                let param = param.trim().trim_end_matches(',').trim();
                let Some((key, value)) = param.split_once('=') else {
                    return false;
                };
                key.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            });
            if is_next {
                return base
                    .join(target)
                    .map(Some)
                    .map_err(|e| format!("the next page's URL is invalid ({e})"));
            }
            rest = &after[params_end..];
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(tags: &[&str]) -> (TagList, Vec<String>) {
        let owned: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        let mut skipped = Vec::new();
        let list = TagList::new(&owned, |tag, _| skipped.push(tag.to_owned()));
        (list, skipped)
    }

    fn v(s: &str) -> Version {
        parse_version(s).unwrap()
    }

    #[test]
    fn semver_tags_with_or_without_v() {
        let (l, skipped) = list(&[
            "v1.0.0",
            "1.1.0",
            "V2.0.0",
            "v2.1.0-rc.1",
            "3.0.0+build.7",
            "latest",
            "v1.0",
            "1.0",
            "release-1.0.0",
            "vv1.0.0",
            "01.0.0",
            "",
        ]);
        let versions: Vec<String> = l.versions().map(ToString::to_string).collect();
        assert_eq!(
            versions,
            ["1.0.0", "1.1.0", "2.0.0", "2.1.0-rc.1", "3.0.0+build.7"]
        );
        assert_eq!(l.tag(&v("1.0.0")), Some("v1.0.0"));
        assert_eq!(l.tag(&v("1.1.0")), Some("1.1.0"));
        assert_eq!(l.tag(&v("2.0.0")), Some("V2.0.0"));
        assert_eq!(l.tag(&v("3.0.0+build.7")), Some("3.0.0+build.7"));
        assert_eq!(l.tag(&v("9.0.0")), None);
        assert_eq!(
            skipped,
            [
                "latest",
                "v1.0",
                "1.0",
                "release-1.0.0",
                "vv1.0.0",
                "01.0.0",
                ""
            ]
        );
    }

    #[test]
    fn the_bare_tag_wins_whatever_the_order() {
        for tags in [
            &["v1.2.0", "1.2.0", "V1.2.0"][..],
            &["1.2.0", "V1.2.0", "v1.2.0"],
            &["V1.2.0", "v1.2.0", "1.2.0"],
        ] {
            let (l, skipped) = list(tags);
            assert_eq!(l.tag(&v("1.2.0")), Some("1.2.0"), "{tags:?}");
            assert_eq!(l.len(), 1);
            assert_eq!(skipped.len(), 2);
        }
        let (l, _) = list(&["V1.2.0", "v1.2.0"]);
        assert_eq!(l.tag(&v("1.2.0")), Some("v1.2.0"));
    }

    fn link(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for value in values {
            h.append(LINK, value.parse().unwrap());
        }
        h
    }

    #[test]
    fn next_links_github_style() {
        let base = Url::parse("https://api.github.com/repos/o/r/tags?per_page=100").unwrap();
        let h = link(&[
            r#"<https://api.github.com/repositories/1/tags?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/tags?per_page=100&page=5>; rel="last""#,
        ]);
        assert_eq!(
            next_link(&h, &base).unwrap().unwrap().as_str(),
            "https://api.github.com/repositories/1/tags?per_page=100&page=2"
        );
        // Last page: prev and first only.
        let h = link(&[
            r#"<https://api.github.com/x?page=4>; rel="prev", <https://api.github.com/x?page=1>; rel="first""#,
        ]);
        assert_eq!(next_link(&h, &base).unwrap(), None);
        assert_eq!(next_link(&HeaderMap::new(), &base).unwrap(), None);
        // Several headers, relative targets, unquoted and multi-valued rel.
        let h = link(&[
            "</a?page=1>; rel=first",
            "</a?page=3>; title=\"x\"; rel=\"last next\"",
        ]);
        assert_eq!(
            next_link(&h, &base).unwrap().unwrap().as_str(),
            "https://api.github.com/a?page=3"
        );
        assert!(next_link(&link(&["<https://x; rel=next"]), &base).is_err());
    }
}
