//! Checks on a single entry path or link target, as stored in the archive:
//! length, characters, absolute paths, `..`, drive letters. Each failure is
//! one of the `R_*` reasons shown to the publisher.

pub(super) const MAX_PATH_LEN: usize = 4096;

pub(super) const R_EMPTY: &str =
    "the name is empty; every entry needs a relative path such as `main.tf`";
pub(super) const R_TOO_LONG: &str = "the path is longer than 4096 bytes; shorten it";
pub(super) const R_NUL: &str = "the path contains a NUL byte; rename the file";
pub(super) const R_NOT_UTF8: &str =
    "the path is not valid UTF-8; rename the file using UTF-8 characters";
pub(super) const R_BACKSLASH: &str =
    "the path contains a backslash; archive paths must use `/` as the separator";
pub(super) const R_ABSOLUTE: &str = "the path is absolute; paths must be relative to the module directory (create the archive from inside it)";
pub(super) const R_DRIVE: &str =
    "the path contains a Windows drive letter; paths must be relative to the module directory";
pub(super) const R_PARENT: &str =
    "the path contains a `..` component; paths must stay inside the module directory";
pub(super) const R_DOTS: &str =
    "a path component consists only of dots and spaces, which Windows treats specially; rename it";
pub(super) const R_LINK_EMPTY: &str = "the link target is empty";
pub(super) const R_LINK_TOO_LONG: &str = "the link target is longer than 4096 bytes";
pub(super) const R_LINK_ABSOLUTE: &str =
    "the target is absolute; links must be relative and point inside the module";

fn check_chars(raw: &str) -> Result<(), &'static str> {
    if raw.len() > MAX_PATH_LEN {
        Err(R_TOO_LONG)
    } else if raw.contains('\0') {
        Err(R_NUL)
    } else if raw.contains('\\') {
        Err(R_BACKSLASH)
    } else {
        Ok(())
    }
}

/// A normal component (not empty, `.` or `..`).
fn check_component(c: &str) -> Result<(), &'static str> {
    let b = c.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        Err(R_DRIVE)
    } else if b.iter().all(|&x| x == b'.' || x == b' ') {
        Err(R_DOTS)
    } else {
        Ok(())
    }
}

/// Normalises an entry path (or a hard link's target): drops `.` and empty
/// components; refuses absolute paths, `..`, backslashes and drive letters.
/// The result is empty for the archive root (`.`, `./`).
pub(super) fn normalize_path(raw: &str) -> Result<String, &'static str> {
    if raw.is_empty() {
        return Err(R_EMPTY);
    }
    check_chars(raw)?;
    if raw.starts_with('/') {
        return Err(R_ABSOLUTE);
    }
    let mut out = String::with_capacity(raw.len());
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(R_PARENT),
            _ => {
                check_component(part)?;
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(part);
            }
        }
    }
    Ok(out)
}

pub(super) fn check_link_target(target: &str) -> Result<(), &'static str> {
    if target.is_empty() {
        return Err(R_LINK_EMPTY);
    }
    if target.len() > MAX_PATH_LEN {
        return Err(R_LINK_TOO_LONG);
    }
    check_chars(target)?;
    if target.starts_with('/') {
        return Err(R_LINK_ABSOLUTE);
    }
    for part in target.split('/') {
        if !matches!(part, "" | "." | "..") {
            check_component(part)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize_path("./a//b/./c/").unwrap(), "a/b/c");
        assert_eq!(normalize_path("./").unwrap(), "");
        assert_eq!(normalize_path(".").unwrap(), "");
        assert_eq!(normalize_path("..").unwrap_err(), R_PARENT);
        assert_eq!(normalize_path("a/..").unwrap_err(), R_PARENT);
        assert_eq!(normalize_path("//x").unwrap_err(), R_ABSOLUTE);
        assert_eq!(normalize_path("x\0y").unwrap_err(), R_NUL);
        assert_eq!(normalize_path(&"a".repeat(5000)).unwrap_err(), R_TOO_LONG);
    }
}
