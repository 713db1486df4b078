//! Validation of uploaded module archives (`.tar.gz` / `.zip`).
//!
//! [`validate_archive`] is the gate every upload passes before it is stored.
//! Terraform (go-getter) unpacks the stored archive as it is, so the archive
//! must parse completely, stay within [`ArchiveLimits`], hold only relative
//! paths and links that stay inside the module, and have the module (a `.tf`
//! or `.tf.json` file) at its root. An archive whose only top-level entry is a
//! directory is rebuilt in the same format with that directory stripped.
//!
//! Where the Rust readers used here and Go's `archive/tar` / `archive/zip`
//! could read an archive differently (PAX records that disagree with the
//! header, data on header-only tar entries, zip Unicode path fields, bytes
//! after the end of the archive), the archive is refused rather than guessed
//! at: what is validated is what Terraform will unpack.
//!
//! This module holds the public API, the entry model both formats are read
//! into and the driver that ties the steps together. The steps live in:
//!
//! - `tar` / `zip`: reading and checking each format into entries, and
//!   rebuilding the archive without its top-level directory;
//! - `paths`: normalising and checking a single entry path or link target;
//! - `tree`: checks over all entries (module root, Terraform files at the
//!   root, hard links, symlink resolution).

use bytes::Bytes;

use self::tar::{rebuild_tar, scan_tar};
use self::tree::{check_tree, module_root};
use self::zip::{rebuild_zip, scan_zip};
use crate::storage::{Archive, ArchiveFormat};

mod paths;
mod tar;
#[cfg(test)]
mod test_support;
mod tree;
mod zip;

/// Limits on what an archive may expand to, so a decompression bomb is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveLimits {
    /// Total uncompressed bytes of all entries. Default 100 MiB.
    pub max_unpacked_bytes: u64,
    /// Number of entries (files, directories, links). Default 10,000.
    pub max_entries: u64,
}

impl ArchiveLimits {
    /// Builds limits.
    pub fn new(max_unpacked_bytes: u64, max_entries: u64) -> Self {
        Self {
            max_unpacked_bytes,
            max_entries,
        }
    }
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self::new(100 * 1024 * 1024, 10_000)
    }
}

/// Why an archive was refused. Each message tells the publisher what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Neither gzip-compressed tar nor zip.
    #[error("the body is not a .tar.gz or .zip archive; upload the module as `tar -czf module.tar.gz -C dir .` or a zip file")]
    NotAnArchive,
    /// The archive could not be read.
    #[error("the archive is corrupt: {0}; re-create it and make sure the whole file is uploaded")]
    Corrupt(String),
    /// The body is gzip-compressed, but what it decompresses to is not a tar archive.
    #[error("the body is gzip-compressed but does not contain a tar archive; create it with `tar -czf module.tar.gz -C <module directory> .`")]
    NotATar,
    /// The archive uses a format feature this registry does not read (encryption,
    /// an unusual compression method, multi-disk zip).
    #[error("the archive uses a feature this registry does not support ({0}); re-create it without encryption, using deflate or no compression")]
    Unsupported(String),
    /// An entry's path is not safe to unpack.
    #[error("archive entry {path:?} is not allowed: {reason}")]
    UnsafePath {
        /// The entry's path as stored in the archive (possibly shortened).
        path: String,
        /// What is wrong with it and how to fix it.
        reason: &'static str,
    },
    /// A symlink or hard link points outside the module or to nothing valid.
    #[error("link {path:?} -> {target:?} is not allowed: {reason}")]
    UnsafeLink {
        /// The link's path as stored in the archive (possibly shortened).
        path: String,
        /// The link's target as stored in the archive (possibly shortened).
        target: String,
        /// What is wrong with it and how to fix it.
        reason: &'static str,
    },
    /// An entry is not a regular file, directory or link.
    #[error("archive entry {path:?} is a {kind}; only regular files, directories and links are allowed, so remove it from the archive")]
    UnsupportedEntry {
        /// The entry's path as stored in the archive (possibly shortened).
        path: String,
        /// What kind of entry it is, e.g. `"FIFO (named pipe)"`.
        kind: &'static str,
    },
    /// The entries unpack to more than [`ArchiveLimits::max_unpacked_bytes`].
    #[error("the archive unpacks to more than {limit} bytes; remove large files (build outputs, .terraform/ or .git/ directories) from the module")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The archive has more than [`ArchiveLimits::max_entries`] entries.
    #[error("the archive has more than {limit} entries; remove unneeded files (for example .terraform/ or .git/ directories) from the module")]
    TooManyEntries {
        /// The limit, in entries.
        limit: u64,
    },
    /// No Terraform configuration file at the module root.
    #[error("no .tf or .tf.json file at the archive's root: put main.tf at the top level (or in a single top-level directory)")]
    NoTerraformFiles,
    /// [`extract_module`] was asked to strip a top-level directory, and the
    /// archive has none (or more than one top-level entry).
    #[error("the archive does not hold everything in one top-level directory, as a repository tarball does")]
    NoTopDirectory,
    /// [`extract_module`]'s subdirectory is not a safe relative path, or is not
    /// a directory in the archive.
    #[error("the module directory {subdir:?} {reason}")]
    BadSubdir {
        /// The subdirectory asked for (possibly shortened).
        subdir: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Detects the format from the leading bytes (not from any Content-Type).
pub fn detect_format(bytes: &[u8]) -> Option<ArchiveFormat> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Some(ArchiveFormat::TarGz)
    } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        Some(ArchiveFormat::Zip)
    } else {
        None
    }
}

/// Validates an uploaded archive and returns the archive to store.
///
/// # Contract
///
/// - The format comes from the leading bytes ([`detect_format`]).
/// - The whole archive is read: every entry's data is decompressed (and
///   counted, so a bomb stops at `max_unpacked_bytes + 1` bytes without being
///   held in memory), gzip and zip checksums are verified, and nothing but
///   zero padding may follow the end of the archive.
/// - Entry paths are relative, `/`-separated and free of `..`; a leading `./`
///   is ignored. Only regular files, directories, symlinks and (tar) hard
///   links are allowed. A symlink's target, resolved from the link's
///   directory and through the archive's other symlinks, stays inside the
///   module; a hard link names a file stored earlier in the archive.
/// - At least one `.tf` or `.tf.json` file is at the module root.
/// - If the archive's only top-level entry is a directory, that directory is
///   the module root: the archive is rebuilt in the same format without it
///   (file modes and links kept, links checked against the new root). One
///   level only. Otherwise the uploaded bytes are returned unchanged, so the
///   stored checksum is that of the upload.
///
/// Pure and synchronous; never panics.
///
/// # Errors
///
/// An [`ArchiveError`] whose message says what the publisher has to fix.
pub fn validate_archive(bytes: Bytes, limits: &ArchiveLimits) -> Result<Archive, ArchiveError> {
    let format = detect_format(&bytes).ok_or(ArchiveError::NotAnArchive)?;
    let records = match format {
        ArchiveFormat::TarGz => scan_tar(&bytes, limits)?,
        ArchiveFormat::Zip => scan_zip(&bytes, limits)?,
    };
    let root = module_root(&records);
    check_tree(&records, root)?;
    let Some(root) = root else {
        return Ok(Archive::new(format, bytes));
    };
    let rebuilt = match format {
        ArchiveFormat::TarGz => rebuild_tar(&bytes, &records, root, limits)?,
        ArchiveFormat::Zip => rebuild_zip(&bytes, &records, root)?,
    };
    Ok(Archive::new(format, Bytes::from(rebuilt)))
}

/// Cuts a module out of an archive fetched from elsewhere (pinning), and
/// validates it like an upload.
///
/// # Contract
///
/// - If `strip_top_dir`, the archive must hold everything in one top-level
///   directory (a repository tarball's `repo-ref/`); it is removed.
/// - Then, if `subdir` is given (go-getter's `//subdir`, relative to what is
///   left), only that directory is kept, as the module root. Entries outside
///   it are dropped; links inside it must stay inside it.
/// - The result is rebuilt in the same format and then passes
///   [`validate_archive`], so it obeys every rule an upload does (including
///   `.tf` files at its root and the [`ArchiveLimits`]). With neither option,
///   this is exactly [`validate_archive`].
///
/// Pure and synchronous; never panics.
///
/// # Errors
///
/// [`ArchiveError::NoTopDirectory`], [`ArchiveError::BadSubdir`], or any error
/// [`validate_archive`] gives.
pub fn extract_module(
    bytes: Bytes,
    strip_top_dir: bool,
    subdir: Option<&str>,
    limits: &ArchiveLimits,
) -> Result<Archive, ArchiveError> {
    let subdir = match subdir {
        None => None,
        Some(raw) => {
            let bad = |reason| ArchiveError::BadSubdir {
                subdir: shown(raw),
                reason,
            };
            let normalized = paths::normalize_path(raw).map_err(bad)?;
            if normalized.is_empty() {
                None
            } else {
                Some(normalized)
            }
        }
    };
    if !strip_top_dir && subdir.is_none() {
        return validate_archive(bytes, limits);
    }
    let format = detect_format(&bytes).ok_or(ArchiveError::NotAnArchive)?;
    let records = match format {
        ArchiveFormat::TarGz => scan_tar(&bytes, limits)?,
        ArchiveFormat::Zip => scan_zip(&bytes, limits)?,
    };
    let top = if strip_top_dir {
        Some(module_root(&records).ok_or(ArchiveError::NoTopDirectory)?)
    } else {
        None
    };
    let root = match (top, &subdir) {
        (Some(top), Some(sub)) => format!("{top}/{sub}"),
        (Some(top), None) => top.to_owned(),
        (None, Some(sub)) => sub.clone(),
        (None, None) => unreachable!("handled above"),
    };
    if let Some(sub) = &subdir {
        let is_dir = records
            .iter()
            .any(|r| r.path.starts_with(&root) && r.path[root.len()..].starts_with('/'));
        if !is_dir {
            return Err(ArchiveError::BadSubdir {
                subdir: shown(sub),
                reason: "is not a directory in the archive; check the module source's //subdir",
            });
        }
    }
    check_tree(&records, Some(&root))?;
    let rebuilt = match format {
        ArchiveFormat::TarGz => rebuild_tar(&bytes, &records, &root, limits)?,
        ArchiveFormat::Zip => rebuild_zip(&bytes, &records, &root)?,
    };
    validate_archive(Bytes::from(rebuilt), limits)
}

// ---------------------------------------------------------------------------
// Entries, as read from either format.

/// One archive entry, in archive order.
#[derive(Debug)]
struct Record {
    /// Normalised path: no `./`, no empty components, no trailing `/`.
    /// Empty for [`Kind::Ignored`].
    path: String,
    kind: Kind,
    /// Permission bits (`0o7777`).
    mode: u32,
}

#[derive(Debug)]
enum Kind {
    /// The archive root itself (`./`) or a tar PAX global header.
    Ignored,
    Dir,
    File,
    /// Target exactly as stored.
    Symlink(String),
    /// Normalised archive-relative target.
    HardLink(String),
}

impl Record {
    fn ignored() -> Self {
        Self {
            path: String::new(),
            kind: Kind::Ignored,
            mode: 0,
        }
    }
}

// ---------------------------------------------------------------------------
// Errors, as built by every step.

/// A path or target for an error message: at most 200 characters.
fn shown(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_owned(),
    }
}

fn unsafe_path(path: &str, reason: &'static str) -> ArchiveError {
    ArchiveError::UnsafePath {
        path: shown(path),
        reason,
    }
}

fn unsafe_link(path: &str, target: &str, reason: &'static str) -> ArchiveError {
    ArchiveError::UnsafeLink {
        path: shown(path),
        target: shown(target),
        reason,
    }
}

fn too_large(limits: &ArchiveLimits) -> ArchiveError {
    ArchiveError::TooLarge {
        limit: limits.max_unpacked_bytes,
    }
}

fn too_many(limits: &ArchiveLimits) -> ArchiveError {
    ArchiveError::TooManyEntries {
        limit: limits.max_entries,
    }
}

fn corrupt(message: impl Into<String>) -> ArchiveError {
    ArchiveError::Corrupt(message.into())
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn detects_formats_from_magic_bytes() {
        assert_eq!(detect_format(&gz(b"x")), Some(ArchiveFormat::TarGz));
        assert_eq!(detect_format(b"PK\x03\x04rest"), Some(ArchiveFormat::Zip));
        assert_eq!(detect_format(b"PK\x05\x06rest"), Some(ArchiveFormat::Zip));
        assert_eq!(detect_format(b"ustar"), None);
        assert_eq!(detect_format(b""), None);
    }

    #[test]
    fn random_bytes_are_not_an_archive() {
        let noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(
            check(Bytes::from(noise)).unwrap_err(),
            ArchiveError::NotAnArchive
        );
        assert_eq!(check(Bytes::new()).unwrap_err(), ArchiveError::NotAnArchive);
        assert_eq!(
            check(Bytes::from_static(b"main.tf")).unwrap_err(),
            ArchiveError::NotAnArchive
        );
    }

    #[test]
    fn size_limit_counts_actual_bytes() {
        let limits = |max| ArchiveLimits::new(max, 100);
        let bytes = targz(&[
            E::File("main.tf", &[b'#'; 600]),
            E::File("b.tf", &[b'#'; 400]),
        ]);
        assert!(validate_archive(bytes.clone(), &limits(1000)).is_ok());
        assert_eq!(
            validate_archive(bytes, &limits(999)).unwrap_err(),
            ArchiveError::TooLarge { limit: 999 }
        );
        let zip = zip_bytes(&[
            E::File("main.tf", &[b'#'; 600]),
            E::File("b.tf", &[b'#'; 400]),
        ]);
        assert!(validate_archive(zip.clone(), &limits(1000)).is_ok());
        assert_eq!(
            validate_archive(zip, &limits(999)).unwrap_err(),
            ArchiveError::TooLarge { limit: 999 }
        );
    }

    #[test]
    fn too_many_entries_are_refused() {
        let limits = ArchiveLimits::new(1 << 20, 3);
        let entries = [
            E::File("main.tf", MAIN_TF),
            E::File("a.tf", b""),
            E::File("b.tf", b""),
            E::File("c.tf", b""),
        ];
        assert_eq!(
            validate_archive(targz(&entries), &limits).unwrap_err(),
            ArchiveError::TooManyEntries { limit: 3 }
        );
        assert_eq!(
            validate_archive(zip_bytes(&entries), &limits).unwrap_err(),
            ArchiveError::TooManyEntries { limit: 3 }
        );
        assert!(validate_archive(targz(&entries[..3]), &limits).is_ok());
        assert!(validate_archive(zip_bytes(&entries[..3]), &limits).is_ok());
    }

    #[test]
    fn trailing_data_is_corrupt() {
        let tar = tar_bytes(&[E::File("main.tf", MAIN_TF)]);
        let mut inside = tar.clone();
        inside.extend_from_slice(&[b'x'; 512]);
        assert_corrupt(check(Bytes::from(gz(&inside))));
        let mut after = gz(&tar);
        after.extend_from_slice(b"garbage");
        assert_corrupt(check(Bytes::from(after)));
        let mut zip = zip_bytes(&[E::File("main.tf", MAIN_TF)]).to_vec();
        zip.extend_from_slice(b"garbage");
        assert_corrupt(check(Bytes::from(zip)));
    }

    #[test]
    fn error_messages_say_what_to_fix() {
        let e = check(targz(&[
            E::File("main.tf", MAIN_TF),
            E::File("../x.tf", b""),
        ]))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "archive entry \"../x.tf\" is not allowed: the path contains a `..` component; \
             paths must stay inside the module directory"
        );
        let e = check(targz(&[
            E::File("main.tf", MAIN_TF),
            E::Symlink("l", "/etc/passwd"),
        ]))
        .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("link \"l\" -> \"/etc/passwd\" is not allowed"));
        assert!(shown(&"x".repeat(1000)).len() < 210);
    }

    #[test]
    fn never_panics_on_mangled_archives() {
        let tar = targz(&[
            E::File("mod/main.tf", MAIN_TF),
            E::Symlink("mod/l", "main.tf"),
            E::Dir("mod/d/"),
        ]);
        let zip = zip_bytes(&[
            E::File("mod/main.tf", MAIN_TF),
            E::Symlink("mod/l", "main.tf"),
        ]);
        for original in [tar, zip] {
            for i in 0..original.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut bytes = original.to_vec();
                    bytes[i] ^= flip;
                    let _ = check(Bytes::from(bytes));
                }
                let _ = check(original.slice(..i));
            }
        }
    }

    fn extract(bytes: Bytes, strip: bool, subdir: Option<&str>) -> Result<Archive, ArchiveError> {
        extract_module(bytes, strip, subdir, &ArchiveLimits::default())
    }

    fn paths(u: &Unpacked) -> Vec<&str> {
        let mut p: Vec<&str> = u.iter().map(|e| e.0.as_str()).collect();
        p.sort_unstable();
        p
    }

    /// A repository tarball as GitHub serves it: everything under `repo-ref/`.
    fn repo_entries() -> Vec<E<'static>> {
        vec![
            E::Dir("terraform-aws-consul-abc123/"),
            E::File("terraform-aws-consul-abc123/main.tf", MAIN_TF),
            E::File("terraform-aws-consul-abc123/README.md", b"root"),
            E::Dir("terraform-aws-consul-abc123/modules/"),
            E::Dir("terraform-aws-consul-abc123/modules/cluster/"),
            E::File(
                "terraform-aws-consul-abc123/modules/cluster/main.tf",
                b"# cluster",
            ),
            E::Exec(
                "terraform-aws-consul-abc123/modules/cluster/run.sh",
                b"#!/bin/sh",
            ),
            E::Symlink(
                "terraform-aws-consul-abc123/modules/cluster/vars.tf",
                "main.tf",
            ),
        ]
    }

    #[test]
    fn extract_strips_the_repository_directory() {
        let a = extract(targz(&repo_entries()), true, None).unwrap();
        assert_eq!(a.info().format, ArchiveFormat::TarGz);
        let u = untar(&a.to_bytes().unwrap());
        assert_eq!(
            paths(&u),
            [
                "README.md",
                "main.tf",
                "modules/",
                "modules/cluster/",
                "modules/cluster/main.tf",
                "modules/cluster/run.sh",
                "modules/cluster/vars.tf"
            ]
        );
    }

    #[test]
    fn extract_keeps_only_the_subdirectory_as_root() {
        for bytes in [targz(&repo_entries()), zip_bytes(&repo_entries())] {
            let format = detect_format(&bytes).unwrap();
            let a = extract(bytes, true, Some("modules/cluster")).unwrap();
            assert_eq!(a.info().format, format);
            let u = match format {
                ArchiveFormat::TarGz => untar(&a.to_bytes().unwrap()),
                ArchiveFormat::Zip => unzip(&a.to_bytes().unwrap()),
            };
            assert_eq!(paths(&u), ["main.tf", "run.sh", "vars.tf"], "{format:?}");
            assert_eq!(find(&u, "main.tf").2, b"# cluster");
            assert_eq!(find(&u, "run.sh").3 & 0o777, 0o755, "modes kept");
        }
        // `./x/` and a trailing slash mean the same directory.
        let a = extract(targz(&repo_entries()), true, Some("./modules/cluster/")).unwrap();
        assert_eq!(
            paths(&untar(&a.to_bytes().unwrap())),
            ["main.tf", "run.sh", "vars.tf"]
        );
    }

    #[test]
    fn extract_subdir_without_stripping_is_relative_to_the_archive_root() {
        let bytes = targz(&[
            E::File("README.md", b""),
            E::Dir("mod/"),
            E::File("mod/main.tf", MAIN_TF),
        ]);
        let a = extract(bytes, false, Some("mod")).unwrap();
        assert_eq!(paths(&untar(&a.to_bytes().unwrap())), ["main.tf"]);
    }

    #[test]
    fn extract_without_options_is_validate() {
        let bytes = targz(&repo_entries());
        assert_eq!(
            extract(bytes.clone(), false, None).unwrap(),
            check(bytes).unwrap()
        );
    }

    #[test]
    fn extract_refuses_what_it_cannot_cut() {
        let flat = targz(&[E::File("main.tf", MAIN_TF), E::File("b.tf", b"")]);
        assert_eq!(
            extract(flat, true, None).unwrap_err(),
            ArchiveError::NoTopDirectory
        );
        for (subdir, reason) in [
            ("../escape", "`..`"),
            ("/abs", "absolute"),
            ("modules/missing", "is not a directory"),
            ("main.tf", "is not a directory"),
            ("modules/clus", "is not a directory"),
        ] {
            let e = extract(targz(&repo_entries()), true, Some(subdir)).unwrap_err();
            assert!(
                matches!(&e, ArchiveError::BadSubdir { .. }) && e.to_string().contains(reason),
                "{subdir}: {e}"
            );
        }
        // The subdirectory has no .tf at its root.
        assert_eq!(
            extract(targz(&repo_entries()), true, Some("modules")).unwrap_err(),
            ArchiveError::NoTerraformFiles
        );
    }

    #[test]
    fn extract_refuses_links_leaving_the_subdirectory() {
        let entries = [
            E::Dir("repo/"),
            E::File("repo/main.tf", MAIN_TF),
            E::File("repo/secret.txt", b"s"),
            E::Dir("repo/mod/"),
            E::File("repo/mod/main.tf", MAIN_TF),
            // Inside the repository, but outside the module once mod/ is the root.
            E::Symlink("repo/mod/s", "../secret.txt"),
        ];
        assert!(extract(targz(&entries), true, None).is_ok());
        assert!(matches!(
            extract(targz(&entries), true, Some("mod")).unwrap_err(),
            ArchiveError::UnsafeLink { .. }
        ));
        let hard = [
            E::Dir("repo/"),
            E::File("repo/secret.txt", b"s"),
            E::Dir("repo/mod/"),
            E::File("repo/mod/main.tf", MAIN_TF),
            E::Hard("repo/mod/h", "repo/secret.txt"),
        ];
        assert!(matches!(
            extract(targz(&hard), true, Some("mod")).unwrap_err(),
            ArchiveError::UnsafeLink { .. }
        ));
    }

    #[test]
    fn extract_still_refuses_unsafe_entries_anywhere() {
        let entries = [
            E::Dir("repo/"),
            E::File("repo/main.tf", MAIN_TF),
            E::File("repo/../../etc/x", b""),
        ];
        assert!(matches!(
            extract(targz(&entries), true, None).unwrap_err(),
            ArchiveError::UnsafePath { .. }
        ));
    }
}
