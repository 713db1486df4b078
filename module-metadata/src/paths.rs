//! Which archive paths extraction reads, and how file names are classified.

/// What a wanted file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `.tf` or `.tofu`: HCL native syntax.
    Hcl,
    /// `.tf.json` or `.tofu.json`: Terraform's JSON syntax.
    Json,
    /// `README.md`, any letter case.
    Readme,
}

/// A wanted path split into its directory (the part's path) and file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Classified<'a> {
    /// `""`, `modules/<dir>` or `examples/<dir>`.
    pub(crate) dir: &'a str,
    /// The file name, without directory.
    pub(crate) file: &'a str,
    /// What the file is.
    pub(crate) kind: FileKind,
}

const CONFIG_SUFFIXES: [(&str, FileKind); 4] = [
    (".tf", FileKind::Hcl),
    (".tofu", FileKind::Hcl),
    (".tf.json", FileKind::Json),
    (".tofu.json", FileKind::Json),
];

/// Whether extraction wants the archive file at `path`, so that the caller
/// reads only those files out of the archive.
///
/// Wanted are `*.tf`, `*.tf.json`, `*.tofu`, `*.tofu.json` (extensions in
/// lower case, as Terraform matches them; names starting with `.` are
/// hidden files and not wanted) and `README.md` (any letter case) directly
/// in the module root, in `modules/<dir>/` or in `examples/<dir>/`: exactly
/// one directory level under `modules/` or `examples/`, nothing deeper and
/// nowhere else. `path` is `/`-separated and relative; a path with an empty
/// segment or a leading `/` is not wanted.
///
/// ```
/// use module_metadata::wanted;
/// assert!(wanted("main.tf"));
/// assert!(wanted("modules/vpc/README.md"));
/// assert!(!wanted("modules/vpc/nested/main.tf"));
/// assert!(!wanted("docs/main.tf"));
/// ```
pub fn wanted(path: &str) -> bool {
    classify(path).is_some()
}

/// Splits a wanted path; `None` when [`wanted`] is `false`.
pub(crate) fn classify(path: &str) -> Option<Classified<'_>> {
    let (dir, file) = match path.rsplit_once('/') {
        None => ("", path),
        Some((dir, file)) => {
            let (top, sub) = dir.split_once('/')?;
            if !matches!(top, "modules" | "examples") || sub.is_empty() || sub.contains('/') {
                return None;
            }
            (dir, file)
        }
    };
    Some(Classified {
        dir,
        file,
        kind: file_kind(file)?,
    })
}

/// The kind of a file name, `None` when it is not wanted.
fn file_kind(file: &str) -> Option<FileKind> {
    if file.eq_ignore_ascii_case("README.md") {
        return Some(FileKind::Readme);
    }
    if file.starts_with('.') {
        return None;
    }
    CONFIG_SUFFIXES
        .iter()
        .find(|(suffix, _)| file.len() > suffix.len() && file.ends_with(suffix))
        .map(|(_, kind)| *kind)
}

/// The name without its configuration suffix (`main` for `main.tf.json`),
/// and whether the suffix is an OpenTofu one.
fn stem(file: &str) -> Option<(&str, bool)> {
    // Longest suffixes first, so `x.tf.json` is not read as `x.tf` + `.json`.
    [
        (".tofu.json", true),
        (".tf.json", false),
        (".tofu", true),
        (".tf", false),
    ]
    .iter()
    .find_map(|(suffix, tofu)| file.strip_suffix(suffix).map(|stem| (stem, *tofu)))
}

/// Whether `file` is an override file (`override.tf`, `*_override.tf` and
/// the `.tofu`/`.json` equivalents), which extraction skips.
pub(crate) fn is_override(file: &str) -> bool {
    stem(file).is_some_and(|(stem, _)| stem == "override" || stem.ends_with("_override"))
}

/// Whether OpenTofu ignores `file` because the same directory has its
/// `.tofu` twin: `x.tf` when `x.tofu` exists, `x.tf.json` when
/// `x.tofu.json` exists. `has` answers whether a file name is present.
pub(crate) fn shadowed_by_tofu(file: &str, has: impl Fn(&str) -> bool) -> bool {
    if let Some(stem) = file.strip_suffix(".tf.json") {
        has(&format!("{stem}.tofu.json"))
    } else if let Some(stem) = file.strip_suffix(".tf") {
        has(&format!("{stem}.tofu"))
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_splits_dir_and_file() {
        assert_eq!(
            classify("modules/vpc/main.tf.json"),
            Some(Classified {
                dir: "modules/vpc",
                file: "main.tf.json",
                kind: FileKind::Json
            })
        );
        assert_eq!(
            classify("readme.MD"),
            Some(Classified {
                dir: "",
                file: "readme.MD",
                kind: FileKind::Readme
            })
        );
    }

    #[test]
    fn override_files() {
        for file in [
            "override.tf",
            "override.tf.json",
            "x_override.tofu",
            "a_override.tofu.json",
        ] {
            assert!(is_override(file), "{file}");
        }
        for file in ["overrides.tf", "main.tf", "override_x.tf", "README.md"] {
            assert!(!is_override(file), "{file}");
        }
    }

    #[test]
    fn tofu_twins() {
        let names = ["main.tofu", "vars.tofu.json", "x.tf"];
        let has = |n: &str| names.contains(&n);
        assert!(shadowed_by_tofu("main.tf", has));
        assert!(shadowed_by_tofu("vars.tf.json", has));
        assert!(!shadowed_by_tofu("vars.tf", has));
        assert!(!shadowed_by_tofu("x.tf", has));
        assert!(!shadowed_by_tofu("main.tofu", has));
    }
}
