//! Validation of uploaded module archives (`.tar.gz` / `.zip`).
//!
//! [`validate_archive`] (in memory) and [`validate_archive_file`] (from a
//! spooled file, in bounded memory) are the gate every upload passes before it
//! is stored. Terraform (go-getter) unpacks the stored archive as it is, so the
//! archive must parse completely, stay within [`ArchiveLimits`], hold only
//! relative paths and links that stay inside the module, and have the module
//! (a `.tf` or `.tf.json` file) at its root. An archive whose only top-level
//! entry is a directory is rebuilt in the same format with that directory
//! stripped; one with setuid, setgid or sticky bits on an entry is rebuilt
//! without them.
//!
//! Where the Rust readers used here and Go's `archive/tar` / `archive/zip`
//! could read an archive differently (PAX records that disagree with the
//! header, data on header-only tar entries, zip Unicode path fields, bytes
//! after the end of the archive), the archive is refused rather than guessed
//! at: what is validated is what Terraform will unpack.
//!
//! This module holds the public API, the entry model both formats are read
//! into and the driver that ties the steps together, over any reader. The
//! steps live in:
//!
//! - `tar` / `zip`: reading and checking each format into entries, and
//!   rebuilding the archive (without its top-level directory, with plain
//!   permission bits);
//! - `paths`: normalising and checking a single entry path or link target;
//! - `tree`: checks over all entries (module root, Terraform files at the
//!   root, hard links, symlink resolution);
//! - `stream`: I/O failures of the reader and writer kept apart from verdicts
//!   on the archive, and the temporary file a rebuilt archive is spooled to.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, Write};
use std::path::Path;

use bytes::Bytes;

pub use self::files::module_files;
use self::stream::{read_full, Failure, Spool};
use self::tar::{rebuild_tar, scan_tar};
use self::tree::{check_tree, module_root};
use self::zip::{rebuild_zip, scan_zip};
use crate::storage::{Archive, ArchiveFormat};

mod files;
mod paths;
mod stream;
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
///   level only.
/// - If an entry's mode has a setuid, setgid or sticky bit (`0o7000`), the
///   archive is rebuilt in the same format with the same entries, contents
///   and links.
/// - A rebuilt archive keeps only the permission bits (`0o777`) of every
///   mode, and leaves out what unpacks nothing: the archive root's own entry
///   (`./`) and tar PAX global headers. It passes this validation unchanged.
/// - Otherwise (no single top-level directory, no such mode bits) the
///   uploaded bytes are returned unchanged, so the stored checksum is that of
///   the upload.
///
/// Pure and synchronous; never panics. [`validate_archive_file`] applies the
/// same rules to a file, in bounded memory.
///
/// # Errors
///
/// An [`ArchiveError`] whose message says what the publisher has to fix.
pub fn validate_archive(bytes: Bytes, limits: &ArchiveLimits) -> Result<Archive, ArchiveError> {
    let format = detect_format(&bytes).ok_or(ArchiveError::NotAnArchive)?;
    let verdict = validate_from(
        format,
        || Ok(Cursor::new(&bytes[..])),
        || Ok(Cursor::new(Vec::new())),
        limits,
    )
    .map_err(in_memory)?;
    Ok(match verdict {
        Verdict::Unchanged => Archive::new(format, bytes),
        Verdict::Rebuilt(out) => Archive::new(format, Bytes::from(out.into_inner())),
    })
}

/// Validates an uploaded archive spooled to a temporary file, in memory that
/// does not grow with the archive's size, and returns the archive to store.
///
/// # Contract
///
/// - Same rules, same verdicts and same errors as [`validate_archive`] on the
///   file's bytes: the inner result is exactly what [`validate_archive`]
///   gives, and an archive it accepts has the same [`ArchiveInfo`]
///   (format, SHA-256, size).
/// - The file is read in a streaming way (gzip and tar entry by entry, zip
///   through its central directory), twice when it must be rebuilt. What is
///   held in memory is bounded by [`ArchiveLimits::max_entries`] (one record
///   per entry, and the zip central directory), not by the archive's size.
/// - If the archive is kept unchanged, the returned archive is `file` itself
///   (file-backed, no copy). If it is rebuilt, the rebuilt archive is written
///   to a new temporary file in `spool_dir` and returned file-backed, and
///   `file` is deleted. On every error `file` is deleted, and so is a
///   partly written rebuild.
///
/// Blocking I/O; never panics.
///
/// # Errors
///
/// The outer [`io::Error`] only when the spooled file cannot be read or the
/// rebuilt one cannot be created or written in `spool_dir` (a server error,
/// not the publisher's). Every problem with the archive itself is the inner
/// [`ArchiveError`], as [`validate_archive`] gives it.
///
/// [`ArchiveInfo`]: crate::storage::ArchiveInfo
pub fn validate_archive_file(
    file: tempfile::TempPath,
    limits: &ArchiveLimits,
    spool_dir: &Path,
) -> io::Result<Result<Archive, ArchiveError>> {
    let open = || File::open(&file).map(BufReader::new);
    let mut head = [0u8; 4];
    let n = read_full(&mut open()?, &mut head)?;
    let Some(format) = detect_format(&head[..n]) else {
        return Ok(Err(ArchiveError::NotAnArchive));
    };
    match validate_from(format, open, || Spool::new_in(spool_dir), limits) {
        Ok(Verdict::Unchanged) => Archive::from_temp_file(format, file).map(Ok),
        Ok(Verdict::Rebuilt(spool)) => {
            let rebuilt = spool.finish()?;
            drop(file);
            Archive::from_temp_file(format, rebuilt).map(Ok)
        }
        Err(Failure::Archive(e)) => Ok(Err(e)),
        Err(Failure::Io(e)) => Err(e),
    }
}

/// What validation decided about an archive.
enum Verdict<W> {
    /// Store the archive as it is.
    Unchanged,
    /// Store the archive rebuilt into this output instead.
    Rebuilt(W),
}

/// The rules, for an archive of `format` that `open` reads from its first
/// byte (once to check it, once more to rebuild it); a rebuilt archive goes
/// to the writer `output` makes.
fn validate_from<R, W>(
    format: ArchiveFormat,
    open: impl Fn() -> io::Result<R>,
    output: impl FnOnce() -> io::Result<W>,
    limits: &ArchiveLimits,
) -> Result<Verdict<W>, Failure>
where
    R: Read + Seek,
    W: Write + Seek,
{
    let records = scan(format, open().map_err(Failure::Io)?, limits)?;
    let root = module_root(&records);
    check_tree(&records, root)?;
    if root.is_none() && !records.iter().any(Record::has_special_bits) {
        return Ok(Verdict::Unchanged);
    }
    let out = output().map_err(Failure::Io)?;
    let input = open().map_err(Failure::Io)?;
    rebuild(format, input, &records, root, limits, out).map(Verdict::Rebuilt)
}

/// Reads and checks every entry, as the format's reader does.
fn scan(
    format: ArchiveFormat,
    input: impl Read + Seek,
    limits: &ArchiveLimits,
) -> Result<Vec<Record>, Failure> {
    match format {
        ArchiveFormat::TarGz => scan_tar(input, limits),
        ArchiveFormat::Zip => scan_zip(input, limits),
    }
}

/// Writes the archive again in its format: what is under `root` (everything
/// for `None`), with plain permission bits.
fn rebuild<W: Write + Seek>(
    format: ArchiveFormat,
    input: impl Read + Seek,
    records: &[Record],
    root: Option<&str>,
    limits: &ArchiveLimits,
    out: W,
) -> Result<W, Failure> {
    match format {
        ArchiveFormat::TarGz => rebuild_tar(input, records, root, limits, out),
        ArchiveFormat::Zip => rebuild_zip(input, records, root, out),
    }
}

/// The verdict for an archive in memory, whose reads and writes cannot fail
/// (were one to, the archive is refused as unreadable).
fn in_memory(failure: Failure) -> ArchiveError {
    match failure {
        Failure::Archive(e) => e,
        Failure::Io(e) => corrupt(format!("it cannot be read ({e})")),
    }
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
/// - The result is rebuilt in the same format (keeping only the permission
///   bits `0o777` of each mode, as every rebuild does) and then passes
///   [`validate_archive`], so it obeys every rule an upload does (including
///   `.tf` files at its root and the [`ArchiveLimits`]). With neither option,
///   this is exactly [`validate_archive`].
/// - In memory, like [`validate_archive`].
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
    let records = scan(format, Cursor::new(&bytes[..]), limits).map_err(in_memory)?;
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
    let rebuilt = rebuild(
        format,
        Cursor::new(&bytes[..]),
        &records,
        Some(&root),
        limits,
        Cursor::new(Vec::new()),
    )
    .map_err(in_memory)?;
    validate_archive(Bytes::from(rebuilt.into_inner()), limits)
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
    /// Permission, setuid, setgid and sticky bits (`0o7777`).
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

/// Setuid, setgid and sticky bits: never stored.
const SPECIAL_BITS: u32 = 0o7000;
/// The mode bits a rebuilt archive keeps.
const PERMISSION_BITS: u32 = 0o777;

impl Record {
    fn ignored() -> Self {
        Self {
            path: String::new(),
            kind: Kind::Ignored,
            mode: 0,
        }
    }

    /// Whether the mode has setuid, setgid or sticky bits, so that the
    /// archive must be rebuilt without them.
    fn has_special_bits(&self) -> bool {
        self.mode & SPECIAL_BITS != 0
    }

    /// The mode a rebuilt archive stores: the permission bits only.
    fn kept_mode(&self) -> u32 {
        self.mode & PERMISSION_BITS
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
        assert!(check_with(bytes.clone(), &limits(1000)).is_ok());
        assert_eq!(
            check_with(bytes, &limits(999)).unwrap_err(),
            ArchiveError::TooLarge { limit: 999 }
        );
        let zip = zip_bytes(&[
            E::File("main.tf", &[b'#'; 600]),
            E::File("b.tf", &[b'#'; 400]),
        ]);
        assert!(check_with(zip.clone(), &limits(1000)).is_ok());
        assert_eq!(
            check_with(zip, &limits(999)).unwrap_err(),
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
            check_with(targz(&entries), &limits).unwrap_err(),
            ArchiveError::TooManyEntries { limit: 3 }
        );
        assert_eq!(
            check_with(zip_bytes(&entries), &limits).unwrap_err(),
            ArchiveError::TooManyEntries { limit: 3 }
        );
        assert!(check_with(targz(&entries[..3]), &limits).is_ok());
        assert!(check_with(zip_bytes(&entries[..3]), &limits).is_ok());
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
    fn extract_keeps_only_permission_bits() {
        let mut b = ::tar::Builder::new(Vec::new());
        for (name, kind, data, mode) in [
            ("repo/", b'5', &b""[..], 0o1755),
            ("repo/main.tf", b'0', MAIN_TF, 0o644),
            ("repo/mod/", b'5', b"", 0o2755),
            ("repo/mod/main.tf", b'0', MAIN_TF, 0o6644),
            ("repo/mod/run.sh", b'0', b"#!/bin/sh", 0o4755),
        ] {
            let h = tar_header(name, kind, data.len() as u64, "", mode);
            b.append(&h, data).unwrap();
        }
        let bytes = Bytes::from(gz(&b.into_inner().unwrap()));
        let u = untar(
            &extract(bytes.clone(), true, None)
                .unwrap()
                .to_bytes()
                .unwrap(),
        );
        assert_eq!(paths(&u), ["main.tf", "mod/", "mod/main.tf", "mod/run.sh"]);
        assert_eq!(find(&u, "mod/").3, 0o755);
        assert_eq!(find(&u, "mod/main.tf").3, 0o644);
        assert_eq!(find(&u, "mod/run.sh").3, 0o755);
        let u = untar(
            &extract(bytes, true, Some("mod"))
                .unwrap()
                .to_bytes()
                .unwrap(),
        );
        assert_eq!(paths(&u), ["main.tf", "run.sh"]);
        assert_eq!(find(&u, "main.tf").3, 0o644);
        assert_eq!(find(&u, "run.sh").3, 0o755);
    }

    // -- validate_archive_file ------------------------------------------------

    /// A flat module, a module in one top directory, and a flat module with a
    /// setuid file, in both formats.
    fn upload_cases() -> [(Bytes, bool); 6] {
        let flat = [E::File("main.tf", MAIN_TF), E::Exec("run.sh", b"#!/bin/sh")];
        let top = [E::Dir("mod/"), E::File("mod/main.tf", MAIN_TF)];
        let mut setuid_tar = ::tar::Builder::new(Vec::new());
        append(&mut setuid_tar, E::File("main.tf", MAIN_TF));
        let h = tar_header("run.sh", b'0', 2, "", 0o4755);
        setuid_tar.append(&h, &b"#!"[..]).unwrap();
        let mut setuid = RawZip::file("run.sh", b"#!");
        setuid.external = 0o104_755 << 16;
        [
            (targz(&flat), false),
            (zip_bytes(&flat), false),
            (targz(&top), true),
            (zip_bytes(&top), true),
            (Bytes::from(gz(&setuid_tar.into_inner().unwrap())), true),
            (
                Bytes::from(raw_zip(&[RawZip::file("main.tf", MAIN_TF), setuid])),
                true,
            ),
        ]
    }

    #[test]
    fn file_validation_keeps_an_unchanged_upload_in_its_file() {
        for (bytes, rebuilt) in upload_cases() {
            if rebuilt {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let input = spooled(&bytes, dir.path());
            let path = input.to_path_buf();
            let spool = dir.path().join("spool");
            std::fs::create_dir(&spool).unwrap();
            let archive = validate_archive_file(input, &ArchiveLimits::default(), &spool)
                .unwrap()
                .unwrap();
            assert_eq!(archive.file_path(), Some(path.as_path()), "the same file");
            assert_eq!(
                archive.info().sha256,
                crate::storage::Sha256Digest::of(&bytes)
            );
            assert_eq!(archive.to_bytes().unwrap(), bytes);
            assert_eq!(
                std::fs::read_dir(&spool).unwrap().count(),
                0,
                "nothing spooled"
            );
            drop(archive);
            assert!(!path.exists(), "removed with the archive");
        }
    }

    #[test]
    fn file_validation_spools_a_rebuilt_archive() {
        for (bytes, rebuilt) in upload_cases() {
            if !rebuilt {
                continue;
            }
            let uploads = tempfile::tempdir().unwrap();
            let spool = tempfile::tempdir().unwrap();
            let input = spooled(&bytes, uploads.path());
            let input_path = input.to_path_buf();
            let archive = validate_archive_file(input, &ArchiveLimits::default(), spool.path())
                .unwrap()
                .unwrap();
            assert!(!input_path.exists(), "the upload's file is deleted");
            let path = archive.file_path().expect("file-backed").to_path_buf();
            assert_eq!(path.parent(), Some(spool.path()), "in the spool directory");
            assert_eq!(
                archive,
                validate_archive(bytes.clone(), &ArchiveLimits::default()).unwrap()
            );
            assert_ne!(archive.to_bytes().unwrap(), bytes);
            drop(archive);
            assert!(!path.exists(), "removed with the archive");
        }
    }

    #[test]
    fn file_validation_refusals_are_inner_errors() {
        let dir = tempfile::tempdir().unwrap();
        let limits = ArchiveLimits::default();
        for bytes in [
            Bytes::new(),
            Bytes::from_static(b"PK\x05"),
            Bytes::from_static(b"\x1f\x8b"),
            targz(&[E::File("README.md", b"")]),
            zip_bytes(&[E::File("../x.tf", b"")]),
        ] {
            let input = spooled(&bytes, dir.path());
            let path = input.to_path_buf();
            let verdict = validate_archive_file(input, &limits, dir.path()).unwrap();
            assert_eq!(verdict, validate_archive(bytes, &limits));
            assert!(verdict.is_err());
            assert!(!path.exists(), "the upload's file is deleted");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn file_validation_io_failures_are_outer_errors() {
        let dir = tempfile::tempdir().unwrap();
        let limits = ArchiveLimits::default();
        let missing = dir.path().join("missing");
        for (bytes, rebuilt) in upload_cases() {
            // The spool directory is only needed for a rebuild.
            let input = spooled(&bytes, dir.path());
            let path = input.to_path_buf();
            let result = validate_archive_file(input, &limits, &missing);
            assert_eq!(result.is_err(), rebuilt, "{result:?}");
            drop(result);
            assert!(!path.exists());
            // An upload file that is gone cannot be read.
            let input = spooled(&bytes, dir.path());
            std::fs::remove_file(&input).unwrap();
            let e = validate_archive_file(input, &limits, dir.path()).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
        }
    }

    /// Reads `data`, failing once a read reaches offset `fail_at`.
    struct FailingReader {
        data: Cursor<Bytes>,
        fail_at: u64,
    }

    impl Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let left = self.fail_at.saturating_sub(self.data.position());
            if left == 0 && !buf.is_empty() {
                return Err(io::Error::other("the disk is gone"));
            }
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            self.data.read(&mut buf[..n])
        }
    }

    impl Seek for FailingReader {
        fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
            self.data.seek(pos)
        }
    }

    /// Accepts `ok` bytes, then fails every write.
    struct FailingWriter {
        ok: usize,
        data: Cursor<Vec<u8>>,
    }

    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let left = self.ok.saturating_sub(self.data.get_ref().len());
            if left == 0 {
                return Err(io::Error::other("the disk is full"));
            }
            self.data.write(&buf[..buf.len().min(left)])
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for FailingWriter {
        fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
            self.data.seek(pos)
        }
    }

    #[test]
    fn read_and_write_failures_are_not_verdicts_on_the_archive() {
        let limits = ArchiveLimits::default();
        for (bytes, rebuilt) in upload_cases() {
            let format = detect_format(&bytes).unwrap();
            let len = bytes.len() as u64;
            for fail_at in [0, 1, 30, len / 2, len - 1] {
                let open = || {
                    Ok(FailingReader {
                        data: Cursor::new(bytes.clone()),
                        fail_at,
                    })
                };
                let output = || Ok(Cursor::new(Vec::new()));
                match validate_from(format, open, output, &limits) {
                    Err(Failure::Io(e)) => assert_eq!(e.to_string(), "the disk is gone"),
                    Err(Failure::Archive(e)) => panic!("{format:?} at {fail_at}: {e}"),
                    Ok(_) => panic!("{format:?} at {fail_at}: read past a failure"),
                }
            }
            for ok in [0, 10, 100] {
                let open = || Ok(Cursor::new(bytes.clone()));
                let output = || {
                    Ok(FailingWriter {
                        ok,
                        data: Cursor::new(Vec::new()),
                    })
                };
                match validate_from(format, open, output, &limits) {
                    Err(Failure::Io(e)) if rebuilt => assert_eq!(e.to_string(), "the disk is full"),
                    Ok(Verdict::Unchanged) if !rebuilt => {}
                    Err(e) => panic!("{format:?} writing {ok} bytes: {e:?}"),
                    Ok(_) => panic!("{format:?} writing {ok} bytes: wrote past a failure"),
                }
            }
        }
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
