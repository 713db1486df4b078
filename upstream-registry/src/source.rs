//! Go-getter source addresses: which ones can be pinned, and how to fetch them.
//!
//! [`parse_source`] follows go-getter's rules (forced getter `x::`, the `//`
//! subdirectory, `?ref=`, `?archive=`, `?checksum=`) for the two kinds of
//! source this crate can fetch as one archive:
//!
//! - git repositories on github.com, fetched as the tarball of a fixed ref;
//! - `.tar.gz`/`.tgz`/`.zip` archives over HTTP(S).
//!
//! Everything else is refused with a message that names the source
//! ([`shown_source`]: credentials and secret-looking query values removed).

use reqwest::Url;

/// A source this crate can fetch as one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A git repository on github.com at a fixed ref.
    GitHub {
        owner: String,
        repo: String,
        git_ref: String,
        subdir: Option<String>,
    },
    /// An archive over HTTP(S).
    Archive {
        /// The URL to fetch (`archive=` and `checksum=` removed).
        url: Url,
        subdir: Option<String>,
        /// The expected SHA-256 of the archive, if the source gave one.
        sha256: Option<[u8; 32]>,
    },
}

/// Parses a go-getter source address into something fetchable.
///
/// # Errors
/// A message naming the source and saying why it cannot be pinned.
pub(crate) fn parse_source(source: &str) -> Result<Source, String> {
    let shown = shown_source(source);
    let refuse = |why: &str| Err(format!("the source {shown} cannot be pinned: {why}"));
    let trimmed = source.trim();
    if trimmed.is_empty() {
        return refuse("it is empty");
    }
    let (forced, rest) = split_forced_getter(trimmed);
    let (src, subdir) = source_dir_subdir(rest);
    let subdir = match subdir_of(&subdir) {
        Ok(s) => s,
        Err(why) => return refuse(&why),
    };
    match forced.as_deref() {
        Some("git") => {
            if let Some(short) = strip_prefix_ci(&src, "github.com/") {
                return github_source(&format!("https://github.com/{short}"), subdir, &shown);
            }
            if let Ok(url) = Url::parse(&src) {
                if matches!(url.scheme(), "https" | "http") {
                    if url.host_str() == Some("github.com") {
                        return github_source(&src, subdir, &shown);
                    }
                    return refuse("only git repositories on github.com can be pinned (fetched as a tarball of the ref)");
                }
                return refuse(&format!(
                    "git over {} is not supported; only https git repositories on github.com can be pinned",
                    url.scheme()
                ));
            }
            refuse("only https git repositories on github.com can be pinned")
        }
        Some("http" | "https") => archive_source(&src, subdir, &shown),
        Some(other) => refuse(&format!(
            "{other}:: sources are not supported; only GitHub git repositories and .tar.gz/.zip archives over HTTP(S) can be pinned"
        )),
        None => {
            if let Some(short) = strip_prefix_ci(&src, "github.com/") {
                return github_source(&format!("https://github.com/{short}"), subdir, &shown);
            }
            if src.starts_with("git@") {
                return refuse("git over SSH is not supported; only https git repositories on github.com can be pinned");
            }
            match Url::parse(&src) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {
                    archive_source(&src, subdir, &shown)
                }
                Ok(url) => refuse(&format!(
                    "{}:// sources are not supported; only GitHub git repositories and .tar.gz/.zip archives over HTTP(S) can be pinned",
                    url.scheme()
                )),
                Err(_) => refuse(
                    "it is not a URL (local paths and other hosts' shorthands are not supported); only GitHub git repositories and .tar.gz/.zip archives over HTTP(S) can be pinned",
                ),
            }
        }
    }
}

/// go-getter's forced getter: `git::https://...` -> (`git`, `https://...`).
fn split_forced_getter(src: &str) -> (Option<String>, &str) {
    if let Some((getter, rest)) = src.split_once("::") {
        if !getter.is_empty()
            && getter.bytes().all(|b| b.is_ascii_alphanumeric())
            && !rest.is_empty()
        {
            return (Some(getter.to_ascii_lowercase()), rest);
        }
    }
    (None, src)
}

/// go-getter's `SourceDirSubdir`: splits `url//subdir?query` into
/// (`url?query`, `subdir`). The `//` looked for is the first one after the
/// scheme's `://` and before any `?`.
pub(crate) fn source_dir_subdir(src: &str) -> (String, String) {
    let stop = src.find('?').unwrap_or(src.len());
    let offset = src[..stop].find("://").map_or(0, |i| i + 3);
    let Some(idx) = src[offset..stop].find("//") else {
        return (src.to_owned(), String::new());
    };
    let idx = idx + offset;
    let mut subdir = src[idx + 2..].to_owned();
    let mut dir = src[..idx].to_owned();
    if let Some(q) = subdir.find('?') {
        dir.push_str(&subdir[q..]);
        subdir.truncate(q);
    }
    (dir, subdir)
}

fn subdir_of(raw: &str) -> Result<Option<String>, String> {
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.contains(['*', '?', '[']) {
        return Err(format!(
            "the subdirectory //{raw} is a glob, which is not supported"
        ));
    }
    Ok(Some(trimmed.to_owned()))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn github_source(src: &str, subdir: Option<String>, shown: &str) -> Result<Source, String> {
    let refuse = |why: &str| Err(format!("the source {shown} cannot be pinned: {why}"));
    let Ok(url) = Url::parse(src) else {
        return refuse("it is not a valid URL");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("it carries credentials");
    }
    if url.port().is_some() {
        return refuse("github.com sources with a port are not supported");
    }
    let segments: Vec<&str> = url.path().trim_matches('/').split('/').collect();
    let [owner, repo] = segments[..] else {
        return refuse("a GitHub source must be github.com/OWNER/REPO");
    };
    let repo = repo.strip_suffix(".git").unwrap_or(repo);
    let owner_ok = !owner.is_empty()
        && owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let repo_ok = !repo.is_empty()
        && repo != "."
        && repo != ".."
        && repo
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !owner_ok || !repo_ok {
        return refuse("it does not name a valid GitHub OWNER/REPO");
    }
    let mut git_ref = None;
    for (key, value) in url.query_pairs() {
        match &*key {
            "ref" => git_ref = Some(value.into_owned()),
            "depth" => {}
            other => {
                return refuse(&format!(
                    "the query parameter {other:?} is not supported (only ref and depth)"
                ))
            }
        }
    }
    let Some(git_ref) = git_ref.filter(|r| !r.is_empty()) else {
        return refuse("it has no ?ref=; a pin needs a fixed tag or commit");
    };
    if !valid_git_ref(&git_ref) {
        return refuse(&format!("{git_ref:?} is not a valid git ref"));
    }
    Ok(Source::GitHub {
        owner: owner.to_owned(),
        repo: repo.to_owned(),
        git_ref,
        subdir,
    })
}

/// Git's `check-ref-format` rules that matter for building a URL path.
fn valid_git_ref(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 256
        && !r.starts_with(['/', '-'])
        && !r.ends_with(['/', '.'])
        && !r.contains("..")
        && !r.contains("//")
        && !r.contains("@{")
        && !r
            .split('/')
            .any(|part| part.starts_with('.') || part.ends_with(".lock"))
        && !r.chars().any(|c| {
            c.is_control()
                || c.is_whitespace()
                || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
        })
}

/// What archive type a go-getter name or `archive=` value denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArchiveType {
    /// `.tar.gz`, `.tgz` or `.zip`: fetchable.
    Supported,
    /// Another archive type go-getter knows.
    Other(&'static str),
}

const ARCHIVE_SUFFIXES: &[(&str, ArchiveType)] = &[
    (".tar.gz", ArchiveType::Supported),
    (".tgz", ArchiveType::Supported),
    (".zip", ArchiveType::Supported),
    (".tar.bz2", ArchiveType::Other("tar.bz2")),
    (".tbz2", ArchiveType::Other("tbz2")),
    (".tar.xz", ArchiveType::Other("tar.xz")),
    (".txz", ArchiveType::Other("txz")),
    (".tar.zst", ArchiveType::Other("tar.zst")),
    (".tzst", ArchiveType::Other("tzst")),
    (".tar", ArchiveType::Other("tar")),
    (".gz", ArchiveType::Other("gz")),
    (".bz2", ArchiveType::Other("bz2")),
    (".xz", ArchiveType::Other("xz")),
    (".zst", ArchiveType::Other("zst")),
];

fn archive_source(src: &str, subdir: Option<String>, shown: &str) -> Result<Source, String> {
    let refuse = |why: &str| Err(format!("the source {shown} cannot be pinned: {why}"));
    let Ok(mut url) = Url::parse(src) else {
        return refuse("it is not a valid URL");
    };
    if !matches!(url.scheme(), "http" | "https") {
        return refuse("only http and https archive URLs are supported");
    }
    if url.host_str().is_none() {
        return refuse("the URL has no host");
    }
    let mut archive_param = None;
    let mut checksum = None;
    for (key, value) in url.query_pairs() {
        match &*key {
            "archive" => archive_param = Some(value.into_owned()),
            "checksum" => checksum = Some(value.into_owned()),
            _ => {}
        }
    }
    let kind = match &archive_param {
        Some(a) => match a.to_ascii_lowercase().as_str() {
            "tar.gz" | "tgz" | "zip" => ArchiveType::Supported,
            "false" | "" => return refuse("it is not an archive (archive=false); only .tar.gz/.tgz/.zip archives can be pinned"),
            other => {
                return refuse(&format!(
                    "archive type {other:?} is not supported; only tar.gz, tgz and zip"
                ))
            }
        },
        None => {
            let path = url.path().to_ascii_lowercase();
            match ARCHIVE_SUFFIXES.iter().find(|(s, _)| path.ends_with(s)) {
                Some((_, kind)) => *kind,
                None => return refuse("it is not an archive (no .tar.gz, .tgz or .zip suffix and no archive= parameter); only archives and GitHub repositories can be pinned"),
            }
        }
    };
    if let ArchiveType::Other(t) = kind {
        return refuse(&format!(
            "archive type {t} is not supported; only .tar.gz, .tgz and .zip"
        ));
    }
    let sha256 = match checksum {
        None => None,
        Some(c) => Some(
            parse_checksum(&c)
                .map_err(|why| format!("the source {shown} cannot be pinned: {why}"))?,
        ),
    };
    remove_query_params(&mut url, &["archive", "checksum"]);
    Ok(Source::Archive {
        url,
        subdir,
        sha256,
    })
}

/// `sha256:HEX` or 64 bare hex digits; other checksum types are refused.
fn parse_checksum(value: &str) -> Result<[u8; 32], String> {
    let (kind, hex_part) = match value.split_once(':') {
        Some((k, h)) => (k.to_ascii_lowercase(), h),
        None => {
            let kind = match value.len() {
                32 => "md5",
                40 => "sha1",
                64 => "sha256",
                128 => "sha512",
                _ => "unknown",
            };
            (kind.to_owned(), value)
        }
    };
    if kind != "sha256" {
        return Err(format!(
            "checksum type {kind:?} is not supported; only sha256"
        ));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out)
        .map_err(|_| "the sha256 checksum is not 64 hex digits".to_owned())?;
    Ok(out)
}

/// Removes query parameters by (decoded) name, keeping the others exactly as
/// they were encoded (a presigned URL's signature must survive unchanged).
fn remove_query_params(url: &mut Url, names: &[&str]) {
    let Some(query) = url.query() else { return };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("");
            let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
            !names.contains(&&*key)
        })
        .collect();
    let kept = kept.join("&");
    url.set_query(if kept.is_empty() { None } else { Some(&kept) });
}

/// Query parameters whose values are shown in messages; others are masked.
const SHOWN_PARAMS: &[&str] = &["ref", "depth", "archive", "checksum"];

/// The source for messages and logs: credentials removed and the values of
/// query parameters other than `ref`, `depth`, `archive` and `checksum`
/// replaced by `***` (they may be signatures).
pub(crate) fn shown_source(source: &str) -> String {
    let source = source.trim();
    let (head, query) = match source.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (source, None),
    };
    // Credentials: `scheme://user:pass@host` -> `scheme://host`.
    let head = match head.find("://") {
        Some(i) => {
            let after = &head[i + 3..];
            let authority_end = after.find('/').unwrap_or(after.len());
            match after[..authority_end].rfind('@') {
                Some(at) => format!("{}{}", &head[..i + 3], &after[at + 1..]),
                None => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    match query {
        None => head,
        Some(q) => {
            let masked: Vec<String> = q
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if !SHOWN_PARAMS.contains(&k) => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{head}?{}", masked.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github(owner: &str, repo: &str, git_ref: &str, subdir: Option<&str>) -> Source {
        Source::GitHub {
            owner: owner.into(),
            repo: repo.into(),
            git_ref: git_ref.into(),
            subdir: subdir.map(Into::into),
        }
    }

    fn refused(source: &str) -> String {
        match parse_source(source) {
            Ok(s) => panic!("{source} was accepted as {s:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn subdir_split_follows_go_getter() {
        let cases = [
            ("https://h/p//sub", ("https://h/p", "sub")),
            ("https://h/p//sub?ref=x", ("https://h/p?ref=x", "sub")),
            (
                "https://h/p?x=http://a//b",
                ("https://h/p?x=http://a//b", ""),
            ),
            ("github.com/o/r//a/b?ref=v", ("github.com/o/r?ref=v", "a/b")),
            ("https://h/p", ("https://h/p", "")),
            ("https://h//", ("https://h", "")),
        ];
        for (input, (dir, sub)) in cases {
            assert_eq!(
                source_dir_subdir(input),
                (dir.to_owned(), sub.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn github_sources() {
        let cases = [
            (
                "git::https://github.com/o/r?ref=v1.0.0",
                github("o", "r", "v1.0.0", None),
            ),
            (
                "git::https://github.com/o/r.git?ref=v1",
                github("o", "r", "v1", None),
            ),
            (
                "git::https://github.com/o/r.git//modules/x?ref=v1",
                github("o", "r", "v1", Some("modules/x")),
            ),
            (
                "github.com/o/r?ref=abc123",
                github("o", "r", "abc123", None),
            ),
            (
                "github.com/o/r//sub/?ref=release/1.x",
                github("o", "r", "release/1.x", Some("sub")),
            ),
            (
                "git::github.com/o/r?ref=v2&depth=1",
                github("o", "r", "v2", None),
            ),
            (
                "GIT::https://github.com/Hashi-Corp/terraform_aws.consul?ref=v0.1.0",
                github("Hashi-Corp", "terraform_aws.consul", "v0.1.0", None),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_source(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn github_sources_refused() {
        for (input, why) in [
            ("git::https://github.com/o/r", "has no ?ref="),
            ("github.com/o/r?ref=", "has no ?ref="),
            (
                "git::https://github.com/o/r?ref=v1&sshkey=abc",
                "\"sshkey\" is not supported",
            ),
            ("git::https://github.com/o?ref=v1", "OWNER/REPO"),
            ("git::https://github.com/o/r/tree/x?ref=v1", "OWNER/REPO"),
            ("git::https://github.com/o/..?ref=v1", "OWNER/REPO"),
            (
                "git::https://github.com/o/r?ref=../../x",
                "not a valid git ref",
            ),
            (
                "git::https://github.com/o/r?ref=a%20b",
                "not a valid git ref",
            ),
            ("git::https://user:pw@github.com/o/r?ref=v1", "credentials"),
            (
                "git::https://gitlab.com/o/r?ref=x",
                "only git repositories on github.com",
            ),
            ("git::ssh://git@github.com/o/r.git?ref=v1", "git over ssh"),
            ("git@github.com:o/r.git?ref=v1", "SSH"),
            ("git::https://github.com/o/r//mod/*?ref=v1", "glob"),
        ] {
            let e = refused(input);
            assert!(e.contains(why), "{input}: {e}");
            assert!(e.contains("cannot be pinned"), "{input}: {e}");
        }
    }

    #[test]
    fn archive_sources() {
        let s = parse_source("https://h.example/a/m.tar.gz").unwrap();
        assert_eq!(
            s,
            Source::Archive {
                url: Url::parse("https://h.example/a/m.tar.gz").unwrap(),
                subdir: None,
                sha256: None
            }
        );
        let hex64 = "ab".repeat(32);
        let s = parse_source("https::https://h.example/get?archive=zip&next=http://x//y");
        // The `//` after `?` is part of the query, not a subdir.
        assert!(
            matches!(s, Ok(Source::Archive { subdir: None, .. })),
            "{s:?}"
        );
        let s = parse_source(&format!(
            "http::https://h.example/get//mods/a?X-Sig=a%2Fb&archive=zip&checksum={hex64}"
        ))
        .unwrap();
        let Source::Archive {
            url,
            subdir,
            sha256,
        } = s
        else {
            panic!()
        };
        assert_eq!(url.as_str(), "https://h.example/get?X-Sig=a%2Fb");
        assert_eq!(subdir.as_deref(), Some("mods/a"));
        assert_eq!(sha256, Some([0xab; 32]));
        let s = parse_source("https://h.example/m.TGZ?x=1&archive=tgz").unwrap();
        let Source::Archive { url, .. } = s else {
            panic!()
        };
        assert_eq!(url.as_str(), "https://h.example/m.TGZ?x=1");
        assert!(parse_source("http://127.0.0.1:8080/archives/m.zip").is_ok());
    }

    #[test]
    fn archive_sources_refused() {
        for (input, why) in [
            ("https://h.example/m", "not an archive"),
            ("https://h.example/m.tar.gz?archive=false", "not an archive"),
            ("https://h.example/m.tar.xz", "tar.xz is not supported"),
            (
                "https://h.example/m?archive=tar.bz2",
                "\"tar.bz2\" is not supported",
            ),
            (
                "https://h.example/m.zip?checksum=md5:00",
                "\"md5\" is not supported",
            ),
            (
                "https://h.example/m.zip?checksum=0123456789abcdef0123456789abcdef",
                "\"md5\" is not supported",
            ),
            (
                "https://h.example/m.zip?checksum=sha256:xyz",
                "not 64 hex digits",
            ),
            (
                "s3::https://s3.amazonaws.com/b/m.zip",
                "s3:: sources are not supported",
            ),
            (
                "gcs::https://www.googleapis.com/storage/v1/b/m.zip",
                "gcs::",
            ),
            ("hg::https://h.example/r", "hg::"),
            ("./local/module", "not a URL"),
            ("/abs/module", "not a URL"),
            ("bitbucket.org/o/r", "not a URL"),
            ("ftp://h.example/m.zip", "ftp://"),
            ("", "empty"),
        ] {
            let e = refused(input);
            assert!(e.contains(why), "{input}: {e}");
        }
    }

    #[test]
    fn messages_hide_secrets() {
        let e = refused("https://user:hunter2@h.example/m?X-Amz-Signature=topsecret&ref=v1");
        assert!(!e.contains("hunter2") && !e.contains("topsecret"), "{e}");
        assert!(
            e.contains("https://h.example/m?X-Amz-Signature=***&ref=v1"),
            "{e}"
        );
        assert_eq!(
            shown_source("git::https://github.com/o/r?ref=v1"),
            "git::https://github.com/o/r?ref=v1"
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        for input in [
            "::",
            "git::",
            "a::b",
            "//",
            "?",
            "://",
            "https://",
            "git::https://github.com/",
            "github.com/",
            "https://h/p//?",
            "ü::ü",
            "https://[::1]:1/x.zip//ü?archive=zip",
            "git::https://github.com/o/r?ref=%ff",
        ] {
            let _ = parse_source(input);
            let _ = shown_source(input);
        }
    }
}
