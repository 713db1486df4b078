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

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::{self, Cursor, Read};

use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{ZipArchive, ZipWriter};

use crate::storage::{Archive, ArchiveFormat};

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

const MAX_PATH_LEN: usize = 4096;
const MAX_LINK_HOPS: u32 = 40;
/// Bytes of paths looked up while resolving all symlinks of one archive.
const LINK_WORK_BUDGET: u64 = 64 << 20;
const TAR_BLOCK: usize = 512;
/// Decompressed tar bytes allowed per entry on top of the entries' data
/// (headers, PAX records, long names, padding).
const TAR_OVERHEAD_PER_ENTRY: u64 = 4096;
const TAR_OVERHEAD_BASE: u64 = 1 << 20;

const R_EMPTY: &str = "the name is empty; every entry needs a relative path such as `main.tf`";
const R_TOO_LONG: &str = "the path is longer than 4096 bytes; shorten it";
const R_NUL: &str = "the path contains a NUL byte; rename the file";
const R_NOT_UTF8: &str = "the path is not valid UTF-8; rename the file using UTF-8 characters";
const R_BACKSLASH: &str =
    "the path contains a backslash; archive paths must use `/` as the separator";
const R_ABSOLUTE: &str = "the path is absolute; paths must be relative to the module directory (create the archive from inside it)";
const R_DRIVE: &str =
    "the path contains a Windows drive letter; paths must be relative to the module directory";
const R_PARENT: &str =
    "the path contains a `..` component; paths must stay inside the module directory";
const R_DOTS: &str =
    "a path component consists only of dots and spaces, which Windows treats specially; rename it";
const R_FILE_SLASH: &str = "it is a regular file but its name ends with `/`; re-create the archive";
const R_UNDER_SYMLINK: &str = "it is inside a directory that the archive stores as a symlink; store the directory itself, not a link to it";
const R_DUPLICATE_LINK: &str =
    "the archive stores this path more than once, at least once as a symlink; keep only one entry";
const R_UNICODE_NAME: &str = "its Info-ZIP Unicode path field names a different file than its header; re-create the zip with UTF-8 file names";
const R_LINK_EMPTY: &str = "the link target is empty";
const R_LINK_TOO_LONG: &str = "the link target is longer than 4096 bytes";
const R_LINK_ABSOLUTE: &str =
    "the target is absolute; links must be relative and point inside the module";
const R_LINK_ESCAPES: &str =
    "the target resolves outside the module directory; links must point inside the module";
const R_LINK_LOOP: &str =
    "resolving the target follows more than 40 links (probably a loop); remove the loop";
const R_LINK_COMPLEX: &str = "the archive's symlinks are too many or too deeply chained to check; replace some of them with copies of the files";
const R_HARDLINK_TARGET: &str = "a hard link must name a regular file stored earlier in the archive; store a copy of the file instead";

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

// ---------------------------------------------------------------------------
// Paths and link targets.

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
fn normalize_path(raw: &str) -> Result<String, &'static str> {
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

fn check_link_target(target: &str) -> Result<(), &'static str> {
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

/// `path` relative to the module root; `None` for the root itself (and for
/// the stripped top-level directory).
fn under_root<'a>(path: &'a str, root: Option<&str>) -> Option<&'a str> {
    if path.is_empty() {
        return None;
    }
    match root {
        None => Some(path),
        Some(root) => path.strip_prefix(root)?.strip_prefix('/'),
    }
}

/// The single top-level directory that holds everything else, if any.
fn module_root(records: &[Record]) -> Option<&str> {
    let mut top: Option<&str> = None;
    for record in records {
        if record.path.is_empty() {
            continue;
        }
        let first = match record.path.split_once('/') {
            Some((first, _)) => first,
            None if matches!(record.kind, Kind::Dir) => record.path.as_str(),
            None => return None,
        };
        match top {
            Some(t) if t != first => return None,
            _ => top = Some(first),
        }
    }
    top
}

fn is_root_tf(path: &str) -> bool {
    !path.contains('/')
        && !path.starts_with('.')
        && (path.ends_with(".tf") || path.ends_with(".tf.json"))
}

/// Checks links against the module root and that the root has Terraform files.
fn check_tree(records: &[Record], root: Option<&str>) -> Result<(), ArchiveError> {
    let mut has_tf = false;
    let mut has_symlinks = false;
    let mut has_hardlinks = false;
    for record in records {
        let Some(path) = under_root(&record.path, root) else {
            continue;
        };
        match record.kind {
            Kind::File => has_tf |= is_root_tf(path),
            Kind::HardLink(_) => {
                has_hardlinks = true;
                has_tf |= is_root_tf(path);
            }
            Kind::Symlink(_) => has_symlinks = true,
            Kind::Dir | Kind::Ignored => {}
        }
    }
    if has_hardlinks {
        check_hardlinks(records, root)?;
    }
    if has_symlinks {
        check_symlinks(records, root)?;
    }
    if !has_tf {
        return Err(ArchiveError::NoTerraformFiles);
    }
    Ok(())
}

fn check_hardlinks(records: &[Record], root: Option<&str>) -> Result<(), ArchiveError> {
    let mut files: HashSet<&str> = HashSet::new();
    for record in records {
        let Some(path) = under_root(&record.path, root) else {
            continue;
        };
        match &record.kind {
            Kind::File => {
                files.insert(path);
            }
            Kind::HardLink(target) => match under_root(target, root) {
                Some(target) if files.contains(target) => {
                    files.insert(path);
                }
                _ => return Err(unsafe_link(&record.path, target, R_HARDLINK_TARGET)),
            },
            Kind::Dir | Kind::Symlink(_) | Kind::Ignored => {}
        }
    }
    Ok(())
}

fn check_symlinks(records: &[Record], root: Option<&str>) -> Result<(), ArchiveError> {
    let mut links: HashMap<&str, &str> = HashMap::new();
    for record in records {
        if let (Some(path), Kind::Symlink(target)) = (under_root(&record.path, root), &record.kind)
        {
            if links.insert(path, target).is_some() {
                return Err(unsafe_path(&record.path, R_DUPLICATE_LINK));
            }
        }
    }
    for record in records {
        let Some(path) = under_root(&record.path, root) else {
            continue;
        };
        if !matches!(record.kind, Kind::Symlink(_)) && links.contains_key(path) {
            return Err(unsafe_path(&record.path, R_DUPLICATE_LINK));
        }
        // Nothing may be unpacked through a symlink.
        for (at, _) in path.match_indices('/') {
            if links.contains_key(&path[..at]) {
                return Err(unsafe_path(&record.path, R_UNDER_SYMLINK));
            }
        }
    }
    let mut work = LINK_WORK_BUDGET;
    for record in records {
        if let (Some(path), Kind::Symlink(target)) = (under_root(&record.path, root), &record.kind)
        {
            resolve_symlink(path, target, &links, &mut work)
                .map_err(|reason| unsafe_link(&record.path, target, reason))?;
        }
    }
    Ok(())
}

/// Resolves the symlink at `path` (relative to the module root) as the file
/// system would once unpacked, following the archive's other symlinks, and
/// fails if that leaves the module root. `work` bounds the bytes looked up
/// over all links of an archive, so crafted link chains cannot stall it.
fn resolve_symlink(
    path: &str,
    target: &str,
    links: &HashMap<&str, &str>,
    work: &mut u64,
) -> Result<(), &'static str> {
    check_link_target(target)?;
    // `current` is the resolved directory; `marks[i]` its length before component i.
    let mut current = String::with_capacity(path.len() + target.len());
    let mut marks: Vec<usize> = Vec::new();
    let push = |current: &mut String, marks: &mut Vec<usize>, part: &str| {
        marks.push(current.len());
        if !current.is_empty() {
            current.push('/');
        }
        current.push_str(part);
    };
    if let Some((dir, _)) = path.rsplit_once('/') {
        for part in dir.split('/') {
            push(&mut current, &mut marks, part);
        }
    }
    // Components still to resolve, the next one last.
    let mut pending: Vec<&str> = target.rsplit('/').collect();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part {
            "" | "." => {}
            ".." => match marks.pop() {
                Some(mark) => current.truncate(mark),
                None => return Err(R_LINK_ESCAPES),
            },
            _ => {
                push(&mut current, &mut marks, part);
                *work = work
                    .checked_sub(current.len() as u64 + 1)
                    .ok_or(R_LINK_COMPLEX)?;
                if let Some(next) = links.get(current.as_str()) {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err(R_LINK_LOOP);
                    }
                    *work = work.checked_sub(next.len() as u64).ok_or(R_LINK_COMPLEX)?;
                    check_link_target(next)?;
                    // Replace the link by its target, from the link's directory.
                    if let Some(mark) = marks.pop() {
                        current.truncate(mark);
                    }
                    pending.extend(next.rsplit('/'));
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// tar.gz

/// Caps a reader at `left` bytes; reading past it sets `exceeded` and fails.
struct Budget<'a, R> {
    inner: R,
    left: u64,
    exceeded: &'a Cell<bool>,
}

impl<R: Read> Read for Budget<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // At the cap: fine if the stream ends here, a bomb if it does not.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded.set(true);
                    Err(io::Error::other("the archive exceeds the size limit"))
                }
            };
        }
        let max = usize::try_from(self.left).map_or(buf.len(), |left| left.min(buf.len()));
        let n = self.inner.read(&mut buf[..max])?;
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

type TarStream<'a> = io::Chain<Cursor<[u8; TAR_BLOCK]>, Budget<'a, MultiGzDecoder<&'a [u8]>>>;

/// Either a verdict on the archive or an I/O error still to be classified.
enum Fail {
    Archive(ArchiveError),
    Io(io::Error),
}

impl From<ArchiveError> for Fail {
    fn from(e: ArchiveError) -> Self {
        Self::Archive(e)
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

fn tar_io_error(e: io::Error, exceeded: &Cell<bool>, limits: &ArchiveLimits) -> ArchiveError {
    if exceeded.get() {
        too_large(limits)
    } else {
        corrupt(format!("cannot read the .tar.gz ({e})"))
    }
}

fn tar_fail(fail: Fail, exceeded: &Cell<bool>, limits: &ArchiveLimits) -> ArchiveError {
    match fail {
        Fail::Archive(e) => e,
        Fail::Io(e) => tar_io_error(e, exceeded, limits),
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether a 512-byte block is a tar header (valid checksum) or an end-of-archive block.
fn is_tar_header(block: &[u8; TAR_BLOCK]) -> bool {
    if block.iter().all(|&b| b == 0) {
        return true;
    }
    let field = &block[148..156];
    let digits = field
        .iter()
        .skip_while(|&&b| b == b' ')
        .take_while(|&&b| (b'0'..=b'7').contains(&b));
    let mut stored: u32 = 0;
    let mut any = false;
    for &d in digits {
        any = true;
        stored = match stored.checked_mul(8) {
            Some(v) => v + u32::from(d - b'0'),
            None => return false,
        };
    }
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    any && stored == sum
}

/// Opens the decompressed stream, checking that it starts like a tar.
fn open_tar<'a>(
    bytes: &'a [u8],
    limits: &ArchiveLimits,
    exceeded: &'a Cell<bool>,
) -> Result<tar::Archive<TarStream<'a>>, ArchiveError> {
    let cap = limits
        .max_unpacked_bytes
        .saturating_add(limits.max_entries.saturating_mul(TAR_OVERHEAD_PER_ENTRY))
        .saturating_add(TAR_OVERHEAD_BASE);
    let mut stream = Budget {
        inner: MultiGzDecoder::new(bytes),
        left: cap,
        exceeded,
    };
    let mut first = [0u8; TAR_BLOCK];
    let n = read_full(&mut stream, &mut first).map_err(|e| tar_io_error(e, exceeded, limits))?;
    if n < TAR_BLOCK || !is_tar_header(&first) {
        return Err(ArchiveError::NotATar);
    }
    Ok(tar::Archive::new(Cursor::new(first).chain(stream)))
}

fn scan_tar(bytes: &[u8], limits: &ArchiveLimits) -> Result<Vec<Record>, ArchiveError> {
    let exceeded = Cell::new(false);
    let mut archive = open_tar(bytes, limits, &exceeded)?;
    let mut records = Vec::new();
    let mut total = 0u64;
    let entries = archive
        .entries()
        .map_err(|e| tar_io_error(e, &exceeded, limits))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| tar_io_error(e, &exceeded, limits))?;
        if records.len() as u64 >= limits.max_entries {
            return Err(too_many(limits));
        }
        let record = tar_record(&mut entry, limits, &mut total)
            .map_err(|f| tar_fail(f, &exceeded, limits))?;
        records.push(record);
    }
    // Only zero padding may follow the end-of-archive block; reading it to
    // the end also verifies the gzip trailer (CRC and length).
    let (_, mut rest) = archive.into_inner().into_inner();
    let mut buf = [0u8; 8192];
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(tar_io_error(e, &exceeded, limits)),
        };
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(corrupt("there is data after the end of the tar archive"));
        }
    }
    Ok(records)
}

fn tar_kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO (named pipe)",
        tar::EntryType::Continuous => "contiguous file",
        tar::EntryType::GNUSparse => "sparse file",
        tar::EntryType::GNULongName | tar::EntryType::GNULongLink | tar::EntryType::XHeader => {
            "misplaced extension header"
        }
        _ => "special entry of an unknown type",
    }
}

/// Whether Go's `archive/tar` would read the header's name as the tar crate does:
/// a USTAR name prefix is used by both only with version `00` and no star trailer.
fn tar_name_unambiguous(header: &tar::Header) -> bool {
    let b = header.as_bytes();
    if &b[257..263] == b"ustar\0" && b[345] != 0 {
        &b[263..265] == b"00" && &b[508..512] != b"tar\0"
    } else {
        true
    }
}

fn tar_record<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    limits: &ArchiveLimits,
    total: &mut u64,
) -> Result<Record, Fail> {
    let kind = entry.header().entry_type();
    if kind == tar::EntryType::XGlobalHeader {
        // e.g. `git archive`'s commit id; nothing is unpacked from it.
        return Ok(Record::ignored());
    }
    let (path, trailing_slash) = {
        let raw = entry.path_bytes();
        let raw = std::str::from_utf8(&raw)
            .map_err(|_| unsafe_path(&String::from_utf8_lossy(&raw), R_NOT_UTF8))?;
        let path = normalize_path(raw).map_err(|reason| unsafe_path(raw, reason))?;
        (path, raw.ends_with('/'))
    };
    let shown_path = || {
        if path.is_empty() {
            ".".to_owned()
        } else {
            shown(&path)
        }
    };
    if !matches!(
        kind,
        tar::EntryType::Regular
            | tar::EntryType::Directory
            | tar::EntryType::Symlink
            | tar::EntryType::Link
    ) {
        return Err(ArchiveError::UnsupportedEntry {
            path: shown_path(),
            kind: tar_kind_name(kind),
        }
        .into());
    }
    if !tar_name_unambiguous(entry.header()) {
        return Err(corrupt(format!(
            "entry {:?} has a USTAR name prefix that tar readers disagree on",
            shown_path()
        ))
        .into());
    }
    let link = match kind {
        tar::EntryType::Symlink | tar::EntryType::Link => {
            let raw = entry.link_name_bytes().unwrap_or_default();
            let target = std::str::from_utf8(&raw)
                .map_err(|_| unsafe_link(&path, &String::from_utf8_lossy(&raw), R_NOT_UTF8))?;
            Some(target.to_owned())
        }
        _ => None,
    };
    let size = entry.size();
    let mode = entry.header().mode()? & 0o7777;
    entry.header().mtime()?;

    // PAX records must agree with what the tar crate reports, since Go's
    // reader and the tar crate resolve conflicts differently.
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            let value = extension.value_bytes();
            let agrees = match extension.key_bytes() {
                b"path" => std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| normalize_path(v).ok())
                    .is_some_and(|v| v == path),
                b"linkpath" => link.as_ref().is_none_or(|l| l.as_bytes() == value),
                b"size" => {
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                        == Some(size)
                }
                key if key.starts_with(b"GNU.sparse.") => {
                    return Err(ArchiveError::UnsupportedEntry {
                        path: shown_path(),
                        kind: "sparse file",
                    }
                    .into());
                }
                _ => true,
            };
            if !agrees {
                return Err(corrupt(format!(
                    "entry {:?} has PAX records that disagree with its tar header",
                    shown_path()
                ))
                .into());
            }
        }
    }

    if kind != tar::EntryType::Regular && size != 0 {
        // Go's reader skips no data for these; the tar crate would skip `size`.
        return Err(corrupt(format!(
            "entry {:?} is a directory or link but carries {size} bytes of data",
            shown_path()
        ))
        .into());
    }
    let kind = match kind {
        tar::EntryType::Regular => {
            if trailing_slash {
                return Err(unsafe_path(&path, R_FILE_SLASH).into());
            }
            if path.is_empty() {
                return Err(unsafe_path(".", R_EMPTY).into());
            }
            let budget = limits.max_unpacked_bytes.saturating_sub(*total);
            let n = io::copy(
                &mut (&mut *entry).take(budget.saturating_add(1)),
                &mut io::sink(),
            )?;
            if n > budget {
                return Err(too_large(limits).into());
            }
            if n != size {
                return Err(corrupt(format!(
                    "entry {:?} is shorter than its header says",
                    shown_path()
                ))
                .into());
            }
            *total += n;
            Kind::File
        }
        tar::EntryType::Directory if path.is_empty() => Kind::Ignored,
        tar::EntryType::Directory => Kind::Dir,
        _ if path.is_empty() => return Err(unsafe_path(".", R_EMPTY).into()),
        tar::EntryType::Symlink => Kind::Symlink(link.unwrap_or_default()),
        _ => {
            let target = link.unwrap_or_default();
            let normalized =
                normalize_path(&target).map_err(|reason| unsafe_link(&path, &target, reason))?;
            Kind::HardLink(normalized)
        }
    };
    Ok(Record { path, kind, mode })
}

fn rebuild_tar(
    bytes: &[u8],
    records: &[Record],
    root: &str,
    limits: &ArchiveLimits,
) -> Result<Vec<u8>, ArchiveError> {
    let exceeded = Cell::new(false);
    let mut archive = open_tar(bytes, limits, &exceeded)?;
    let mut out = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    let mut records = records.iter();
    let mut copy = || -> io::Result<()> {
        for entry in archive.entries()? {
            let mut entry = entry?;
            let record = records
                .next()
                .ok_or_else(|| io::Error::other("the archive changed while reading it"))?;
            let Some(path) = under_root(&record.path, Some(root)) else {
                continue;
            };
            let mut header = tar::Header::new_gnu();
            header.set_mode(record.mode);
            header.set_mtime(entry.header().mtime().unwrap_or(0));
            header.set_uid(0);
            header.set_gid(0);
            header.set_size(0);
            match &record.kind {
                Kind::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    out.append_data(&mut header, format!("{path}/"), io::empty())?;
                }
                Kind::File => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(entry.size());
                    out.append_data(&mut header, path, &mut entry)?;
                }
                Kind::Symlink(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    out.append_link(&mut header, path, target)?;
                }
                Kind::HardLink(target) => {
                    let target = under_root(target, Some(root))
                        .ok_or_else(|| io::Error::other("hard link target outside the root"))?;
                    header.set_entry_type(tar::EntryType::Link);
                    out.append_link(&mut header, path, target)?;
                }
                Kind::Ignored => {}
            }
        }
        Ok(())
    };
    if let Err(e) = copy() {
        return Err(if exceeded.get() {
            too_large(limits)
        } else {
            corrupt(format!(
                "cannot rebuild the archive without its top directory ({e})"
            ))
        });
    }
    out.into_inner()
        .and_then(GzEncoder::finish)
        .map_err(|e| corrupt(format!("cannot rebuild the archive ({e})")))
}

// ---------------------------------------------------------------------------
// zip

/// Where the central directory is, per the end-of-central-directory records.
#[derive(Debug)]
struct ZipLayout {
    cd_offset: u64,
    cd_end: u64,
    entries: u64,
}

/// One central directory header, read from the raw bytes (as Go's reader does).
#[derive(Debug)]
struct CentralHeader<'a> {
    offset: u64,
    name: &'a [u8],
    creator: u8,
    flags: u16,
    external: u32,
}

fn le(b: &[u8], at: usize, len: usize) -> Result<u64, ArchiveError> {
    let field = at
        .checked_add(len)
        .and_then(|end| b.get(at..end))
        .ok_or_else(|| corrupt("a zip record is truncated"))?;
    Ok(field
        .iter()
        .rev()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

fn to_usize(v: u64) -> Result<usize, ArchiveError> {
    usize::try_from(v).map_err(|_| corrupt("a zip offset is out of range"))
}

fn zip_layout(b: &[u8]) -> Result<ZipLayout, ArchiveError> {
    const EOCD_LEN: usize = 22;
    let last = b
        .len()
        .checked_sub(EOCD_LEN)
        .ok_or_else(|| corrupt("it is too short to be a zip file"))?;
    let lowest = last.saturating_sub(usize::from(u16::MAX));
    // The last signature, as Go and the zip crate both look for.
    let pos = (lowest..=last)
        .rev()
        .find(|&i| b[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(|| corrupt("the zip's end of central directory record is missing"))?;
    if pos + EOCD_LEN + to_usize(le(b, pos + 20, 2)?)? != b.len() {
        return Err(corrupt("there is data after the end of the zip archive"));
    }
    let disk = le(b, pos + 4, 2)?;
    let cd_disk = le(b, pos + 6, 2)?;
    let disk_entries = le(b, pos + 8, 2)?;
    let mut entries = le(b, pos + 10, 2)?;
    let mut cd_size = le(b, pos + 12, 4)?;
    let mut cd_offset = le(b, pos + 16, 4)?;
    if disk != 0 || cd_disk != 0 || disk_entries != entries {
        return Err(ArchiveError::Unsupported("a multi-disk zip".to_owned()));
    }
    let mut cd_end = pos as u64;
    let locator = pos
        .checked_sub(20)
        .filter(|&at| b[at..].starts_with(b"PK\x06\x07"));
    if let Some(at) = locator {
        if le(b, at + 4, 4)? != 0 || le(b, at + 16, 4)? > 1 {
            return Err(ArchiveError::Unsupported("a multi-disk zip".to_owned()));
        }
        let malformed = || corrupt("the zip64 end record is malformed");
        // Before the locator, so the offsets below cannot overflow.
        let record = usize::try_from(le(b, at + 8, 8)?)
            .ok()
            .filter(|&record| record < at)
            .ok_or_else(malformed)?;
        let record_end = le(b, record + 4, 8)?
            .checked_add(record as u64 + 12)
            .ok_or_else(malformed)?;
        if !b[record..].starts_with(b"PK\x06\x06") || record_end != at as u64 {
            return Err(malformed());
        }
        if le(b, record + 16, 4)? != 0
            || le(b, record + 20, 4)? != 0
            || le(b, record + 24, 8)? != le(b, record + 32, 8)?
        {
            return Err(ArchiveError::Unsupported("a multi-disk zip".to_owned()));
        }
        let zip64 = (
            le(b, record + 32, 8)?,
            le(b, record + 40, 8)?,
            le(b, record + 48, 8)?,
        );
        if entries == 0xFFFF || cd_offset == 0xFFFF_FFFF {
            // Saturated: every reader takes the zip64 values.
            (entries, cd_size, cd_offset) = zip64;
        } else if zip64 != (entries, cd_size, cd_offset) {
            // Readers differ on which record they believe; make it not matter.
            return Err(corrupt(
                "the zip's zip64 end record disagrees with its end record",
            ));
        }
        cd_end = record as u64;
    }
    if cd_offset.checked_add(cd_size) != Some(cd_end) {
        return Err(corrupt(
            "the zip's central directory is not where its end record says",
        ));
    }
    Ok(ZipLayout {
        cd_offset,
        cd_end,
        entries,
    })
}

fn central_header(b: &[u8], offset: u64) -> Result<(CentralHeader<'_>, u64), ArchiveError> {
    let at = to_usize(offset)?;
    if !b.get(at..).is_some_and(|h| h.starts_with(b"PK\x01\x02")) {
        return Err(corrupt("a zip central directory header is missing"));
    }
    let name_len = to_usize(le(b, at + 28, 2)?)?;
    let extra_len = le(b, at + 30, 2)?;
    let comment_len = le(b, at + 32, 2)?;
    let name = b
        .get(at + 46..at + 46 + name_len)
        .ok_or_else(|| corrupt("a zip record is truncated"))?;
    let header = CentralHeader {
        offset,
        name,
        creator: u8::try_from(le(b, at + 5, 1)?).unwrap_or(u8::MAX),
        flags: u16::try_from(le(b, at + 8, 2)?).unwrap_or(u16::MAX),
        external: u32::try_from(le(b, at + 38, 4)?).unwrap_or(u32::MAX),
    };
    let len = 46 + name_len as u64 + extra_len + comment_len;
    Ok((header, len))
}

fn zip_error(e: ZipError) -> ArchiveError {
    match e {
        ZipError::UnsupportedArchive(what) => ArchiveError::Unsupported(what.to_owned()),
        other => corrupt(format!("cannot read the zip ({other})")),
    }
}

enum ZipKind {
    Dir,
    File,
    Symlink,
}

/// The entry's type as Go's `archive/zip` derives it.
fn zip_kind(header: &CentralHeader<'_>, name: &str) -> Result<ZipKind, &'static str> {
    const UNIX: u8 = 3;
    const MACOSX: u8 = 19;
    let unix_mode = matches!(header.creator, UNIX | MACOSX).then_some(header.external >> 16);
    let dos_dir = matches!(header.creator, 0 | 11 | 14) && header.external & 0x10 != 0;
    let trailing_slash = name.ends_with('/');
    match unix_mode.map_or(0, |m| m & 0o170_000) {
        0 | 0o100_000 if trailing_slash || dos_dir => Ok(ZipKind::Dir),
        0 | 0o100_000 => Ok(ZipKind::File),
        0o040_000 => Ok(ZipKind::Dir),
        0o120_000 if !trailing_slash => Ok(ZipKind::Symlink),
        0o120_000 => Err("symlink whose name ends with `/`"),
        0o020_000 => Err("character device"),
        0o060_000 => Err("block device"),
        0o010_000 => Err("FIFO (named pipe)"),
        0o140_000 => Err("socket"),
        _ => Err("special entry of an unknown type"),
    }
}

fn scan_zip(bytes: &[u8], limits: &ArchiveLimits) -> Result<Vec<Record>, ArchiveError> {
    let layout = zip_layout(bytes)?;
    if layout.entries > limits.max_entries {
        return Err(too_many(limits));
    }
    // Each central header takes at least 46 bytes.
    if layout.entries.saturating_mul(46) > layout.cd_end - layout.cd_offset {
        return Err(corrupt(
            "the zip's entry count does not fit its central directory",
        ));
    }
    let mut headers = Vec::with_capacity(to_usize(layout.entries)?);
    let mut at = layout.cd_offset;
    for _ in 0..layout.entries {
        let (header, len) = central_header(bytes, at)?;
        headers.push(header);
        at += len;
    }
    if at != layout.cd_end {
        return Err(corrupt(
            "the zip's central directory does not match its entry count",
        ));
    }

    let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(zip_error)?;
    if zip.offset() != 0
        || zip.central_directory_start() != layout.cd_offset
        || zip.len() as u64 != layout.entries
    {
        return Err(corrupt(
            "zip readers disagree on its contents (an entry name may appear twice)",
        ));
    }

    let mut records = Vec::with_capacity(headers.len());
    let mut total = 0u64;
    for (index, header) in headers.iter().enumerate() {
        let raw = std::str::from_utf8(header.name)
            .map_err(|_| unsafe_path(&String::from_utf8_lossy(header.name), R_NOT_UTF8))?;
        let path = normalize_path(raw).map_err(|reason| unsafe_path(raw, reason))?;
        let kind = zip_kind(header, raw).map_err(|kind| ArchiveError::UnsupportedEntry {
            path: shown(raw),
            kind,
        })?;
        if header.flags & 1 != 0 {
            return Err(ArchiveError::Unsupported(format!(
                "entry {:?} is encrypted",
                shown(raw)
            )));
        }
        let mut file = zip.by_index(index).map_err(zip_error)?;
        if file.central_header_start() != header.offset {
            return Err(corrupt("zip readers disagree on its contents"));
        }
        if file.name_raw() != header.name {
            return Err(unsafe_path(raw, R_UNICODE_NAME));
        }
        // The rebuild copies `compressed_size` bytes as they are.
        if file
            .data_start()
            .checked_add(file.compressed_size())
            .is_none_or(|end| end > layout.cd_offset)
        {
            return Err(corrupt(format!(
                "zip entry {:?} claims more compressed data than the archive holds",
                shown(raw)
            )));
        }
        let declared = file.size();
        let budget = limits.max_unpacked_bytes.saturating_sub(total);
        let read_error =
            |e: io::Error| corrupt(format!("cannot read zip entry {:?} ({e})", shown(raw)));
        let mut target = Vec::new();
        let n = match kind {
            ZipKind::Symlink => {
                let cap = budget.min(MAX_PATH_LEN as u64).saturating_add(1);
                (&mut file)
                    .take(cap)
                    .read_to_end(&mut target)
                    .map_err(read_error)? as u64
            }
            ZipKind::Dir | ZipKind::File => io::copy(
                &mut (&mut file).take(budget.saturating_add(1)),
                &mut io::sink(),
            )
            .map_err(read_error)?,
        };
        if matches!(kind, ZipKind::Symlink) && n > MAX_PATH_LEN as u64 {
            return Err(unsafe_link(
                raw,
                &String::from_utf8_lossy(&target),
                R_LINK_TOO_LONG,
            ));
        }
        if n > budget {
            return Err(too_large(limits));
        }
        if n != declared {
            return Err(corrupt(format!(
                "zip entry {:?} does not have the size its header says",
                shown(raw)
            )));
        }
        total += n;
        let unix_mode =
            matches!(header.creator, 3 | 19).then_some((header.external >> 16) & 0o7777);
        let (kind, default_mode) = match kind {
            ZipKind::Dir if n != 0 => {
                return Err(corrupt(format!(
                    "zip directory entry {:?} has content",
                    shown(raw)
                )))
            }
            ZipKind::Dir if path.is_empty() => (Kind::Ignored, 0),
            ZipKind::Dir => (Kind::Dir, 0o755),
            _ if path.is_empty() => return Err(unsafe_path(raw, R_EMPTY)),
            ZipKind::File => (Kind::File, 0o644),
            ZipKind::Symlink => {
                let target = String::from_utf8(target).map_err(|e| {
                    unsafe_link(raw, &String::from_utf8_lossy(e.as_bytes()), R_NOT_UTF8)
                })?;
                (Kind::Symlink(target), 0o777)
            }
        };
        let mode = unix_mode.filter(|&m| m != 0).unwrap_or(default_mode);
        records.push(Record { path, kind, mode });
    }
    Ok(records)
}

fn rebuild_zip(bytes: &[u8], records: &[Record], root: &str) -> Result<Vec<u8>, ArchiveError> {
    let rebuild_error = |e: ZipError| {
        corrupt(format!(
            "cannot rebuild the archive without its top directory ({e})"
        ))
    };
    let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(zip_error)?;
    let mut out = ZipWriter::new(Cursor::new(Vec::new()));
    for (index, record) in records.iter().enumerate() {
        let Some(path) = under_root(&record.path, Some(root)) else {
            continue;
        };
        let file = zip.by_index_raw(index).map_err(zip_error)?;
        let options = SimpleFileOptions::default()
            .last_modified_time(file.last_modified().unwrap_or_default())
            .unix_permissions(record.mode);
        match &record.kind {
            // Copies the compressed data as is; keeps the permission bits.
            Kind::File => out.raw_copy_file_rename(file, path),
            Kind::Dir => out.add_directory(path, options),
            Kind::Symlink(target) => out.add_symlink(path, target, options),
            Kind::HardLink(_) | Kind::Ignored => Ok(()),
        }
        .map_err(rebuild_error)?;
    }
    out.finish().map(Cursor::into_inner).map_err(rebuild_error)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::{Duration, Instant};

    use super::*;

    // -- builders ----------------------------------------------------------

    /// An entry for the test archive builders.
    #[derive(Clone, Copy)]
    enum E<'a> {
        File(&'a str, &'a [u8]),
        Exec(&'a str, &'a [u8]),
        Dir(&'a str),
        Symlink(&'a str, &'a str),
        Hard(&'a str, &'a str),
        /// A raw tar type flag with no data (devices, FIFOs, ...).
        Special(&'a str, u8),
    }

    const MAIN_TF: &[u8] = b"variable \"name\" {}\n";

    /// A GNU header with the name and link name written as raw bytes, so
    /// malicious names (`..`, absolute) can be built.
    fn tar_header(name: &str, kind: u8, size: u64, link: &str, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        h
    }

    fn append(b: &mut tar::Builder<Vec<u8>>, e: E<'_>) {
        let (h, data): (tar::Header, &[u8]) = match e {
            E::File(n, d) => (tar_header(n, b'0', d.len() as u64, "", 0o644), d),
            E::Exec(n, d) => (tar_header(n, b'0', d.len() as u64, "", 0o755), d),
            E::Dir(n) => (tar_header(n, b'5', 0, "", 0o755), &[]),
            E::Symlink(n, t) => (tar_header(n, b'2', 0, t, 0o777), &[]),
            E::Hard(n, t) => (tar_header(n, b'1', 0, t, 0o644), &[]),
            E::Special(n, k) => (tar_header(n, k, 0, "", 0o644), &[]),
        };
        b.append(&h, data).unwrap();
    }

    fn tar_bytes(entries: &[E<'_>]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for &e in entries {
            append(&mut b, e);
        }
        b.into_inner().unwrap()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn targz(entries: &[E<'_>]) -> Bytes {
        Bytes::from(gz(&tar_bytes(entries)))
    }

    fn zip_bytes(entries: &[E<'_>]) -> Bytes {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        let opts = |mode| SimpleFileOptions::default().unix_permissions(mode);
        for &e in entries {
            match e {
                E::File(n, d) | E::Exec(n, d) => {
                    let mode = if matches!(e, E::Exec(..)) {
                        0o755
                    } else {
                        0o644
                    };
                    w.start_file(n, opts(mode)).unwrap();
                    w.write_all(d).unwrap();
                }
                E::Dir(n) => w.add_directory(n, opts(0o755)).unwrap(),
                E::Symlink(n, t) => w.add_symlink(n, t, opts(0o777)).unwrap(),
                E::Hard(..) | E::Special(..) => unreachable!("not in zip tests"),
            }
        }
        Bytes::from(w.finish().unwrap().into_inner())
    }

    /// A zip entry written by hand (stored), for headers no writer produces.
    struct RawZip<'a> {
        name: &'a [u8],
        data: &'a [u8],
        creator: u8,
        external: u32,
        extra: Vec<u8>,
    }

    impl<'a> RawZip<'a> {
        fn file(name: &'a str, data: &'a [u8]) -> Self {
            Self {
                name: name.as_bytes(),
                data,
                creator: 3,
                external: 0o100_644 << 16,
                extra: Vec::new(),
            }
        }
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        crc.sum()
    }

    fn raw_zip(entries: &[RawZip<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for e in entries {
            let offset = out.len() as u32;
            let crc = crc32(e.data);
            let len = e.data.len() as u32;
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // flags
            out.extend_from_slice(&0u16.to_le_bytes()); // stored
            out.extend_from_slice(&0u16.to_le_bytes()); // time
            out.extend_from_slice(&33u16.to_le_bytes()); // 1980-01-01
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(e.name);
            out.extend_from_slice(e.data);

            central.extend_from_slice(b"PK\x01\x02");
            central.extend_from_slice(&(u16::from(e.creator) << 8 | 20).to_le_bytes());
            central.extend_from_slice(&20u16.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes());
            central.extend_from_slice(&33u16.to_le_bytes());
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&len.to_le_bytes());
            central.extend_from_slice(&len.to_le_bytes());
            central.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            central.extend_from_slice(&(e.extra.len() as u16).to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes()); // comment
            central.extend_from_slice(&0u16.to_le_bytes()); // disk
            central.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
            central.extend_from_slice(&e.external.to_le_bytes());
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(e.name);
            central.extend_from_slice(&e.extra);
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    /// An Info-ZIP Unicode Path extra field for a header name.
    fn unicode_path_field(header_name: &[u8], unicode: &str) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&0x7075u16.to_le_bytes());
        f.extend_from_slice(&(5 + unicode.len() as u16).to_le_bytes());
        f.push(1);
        f.extend_from_slice(&crc32(header_name).to_le_bytes());
        f.extend_from_slice(unicode.as_bytes());
        f
    }

    // -- readers -------------------------------------------------------------

    /// (path, tar type flag, content or link target, mode)
    type Unpacked = Vec<(String, u8, Vec<u8>, u32)>;

    fn untar(bytes: &[u8]) -> Unpacked {
        let mut archive = tar::Archive::new(MultiGzDecoder::new(bytes));
        let mut out = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            let kind = entry.header().entry_type().as_byte();
            let mode = entry.header().mode().unwrap();
            let mut data = Vec::new();
            if let Some(link) = entry.link_name_bytes() {
                data = link.into_owned();
            } else {
                entry.read_to_end(&mut data).unwrap();
            }
            out.push((path, kind, data, mode));
        }
        out
    }

    /// (path, 'd' / 'l' / 'f', content, unix mode)
    fn unzip(bytes: &[u8]) -> Unpacked {
        let mut zip = ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut out = Vec::new();
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).unwrap();
            let mode = f.unix_mode().unwrap();
            let kind = if f.is_dir() {
                b'd'
            } else if f.is_symlink() {
                b'l'
            } else {
                b'f'
            };
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            out.push((f.name().to_owned(), kind, data, mode));
        }
        out
    }

    fn find<'a>(unpacked: &'a Unpacked, path: &str) -> &'a (String, u8, Vec<u8>, u32) {
        unpacked
            .iter()
            .find(|e| e.0 == path)
            .unwrap_or_else(|| panic!("{path} missing from {unpacked:?}"))
    }

    // -- helpers ---------------------------------------------------------------

    fn check(bytes: Bytes) -> Result<Archive, ArchiveError> {
        validate_archive(bytes, &ArchiveLimits::default())
    }

    fn assert_unchanged(bytes: Bytes) {
        let archive = check(bytes.clone()).unwrap();
        assert_eq!(archive.bytes(), &bytes);
        assert_eq!(
            archive.info().sha256,
            crate::storage::Sha256Digest::of(&bytes)
        );
    }

    #[track_caller]
    fn assert_unsafe_path(result: Result<Archive, ArchiveError>, reason: &str) {
        match result {
            Err(ArchiveError::UnsafePath { reason: r, .. }) => assert_eq!(r, reason),
            other => panic!("expected UnsafePath ({reason}), got {other:?}"),
        }
    }

    #[track_caller]
    fn assert_unsafe_link(result: Result<Archive, ArchiveError>, reason: &str) {
        match result {
            Err(ArchiveError::UnsafeLink { reason: r, .. }) => assert_eq!(r, reason),
            other => panic!("expected UnsafeLink ({reason}), got {other:?}"),
        }
    }

    #[track_caller]
    fn assert_corrupt(result: Result<Archive, ArchiveError>) {
        assert!(
            matches!(result, Err(ArchiveError::Corrupt(_))),
            "expected Corrupt, got {result:?}"
        );
    }

    // -- format detection ----------------------------------------------------

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
    fn gzip_without_a_tar_inside_is_refused() {
        let garbage: Vec<u8> = (0..2048u32).map(|i| (i * 7 + 3) as u8).collect();
        assert_eq!(
            check(Bytes::from(gz(&garbage))).unwrap_err(),
            ArchiveError::NotATar
        );
        assert_eq!(
            check(Bytes::from(gz(b""))).unwrap_err(),
            ArchiveError::NotATar
        );
        assert_eq!(
            check(Bytes::from(gz(MAIN_TF))).unwrap_err(),
            ArchiveError::NotATar
        );
    }

    // -- valid archives ----------------------------------------------------

    #[test]
    fn valid_targz_is_returned_unchanged() {
        let bytes = targz(&[
            E::File("main.tf", MAIN_TF),
            E::File("outputs.tf.json", b"{}"),
            E::Dir("modules/"),
            E::File("modules/x/main.tf", MAIN_TF),
            E::Symlink("link.tf", "modules/x/main.tf"),
            E::Hard("copy.tf", "main.tf"),
        ]);
        assert_unchanged(bytes);
    }

    #[test]
    fn tar_made_from_inside_the_module_dir_is_accepted() {
        // `tar -czf m.tar.gz -C dir .` names everything `./...`.
        let bytes = targz(&[
            E::Dir("./"),
            E::File("./main.tf", MAIN_TF),
            E::Dir("./sub/"),
            E::File("./sub/x.tf", MAIN_TF),
        ]);
        assert_unchanged(bytes);
    }

    #[test]
    fn git_archive_global_header_is_accepted() {
        let mut b = tar::Builder::new(Vec::new());
        let comment = b"52 comment=0123456789012345678901234567890123456789\n";
        let mut h = tar::Header::new_ustar();
        h.set_path("pax_global_header").unwrap();
        h.set_entry_type(tar::EntryType::XGlobalHeader);
        h.set_size(comment.len() as u64);
        h.set_cksum();
        b.append(&h, &comment[..]).unwrap();
        append(&mut b, E::File("main.tf", MAIN_TF));
        assert_unchanged(Bytes::from(gz(&b.into_inner().unwrap())));
    }

    #[test]
    fn valid_zip_is_returned_unchanged() {
        let bytes = zip_bytes(&[
            E::File("main.tf", MAIN_TF),
            E::Exec("run.sh", b"#!/bin/sh\n"),
            E::Dir("sub"),
            E::File("sub/x.tf", MAIN_TF),
            E::Symlink("link.tf", "sub/x.tf"),
        ]);
        assert_unchanged(bytes);
    }

    // -- paths ---------------------------------------------------------------

    #[test]
    fn tar_traversal_is_refused() {
        let ok = E::File("main.tf", MAIN_TF);
        assert_unsafe_path(check(targz(&[ok, E::File("../x.tf", b"x")])), R_PARENT);
        assert_unsafe_path(check(targz(&[ok, E::File("a/../../x", b"x")])), R_PARENT);
        assert_unsafe_path(check(targz(&[ok, E::File("a/../b.tf", b"x")])), R_PARENT);
        assert_unsafe_path(check(targz(&[ok, E::Dir("../")])), R_PARENT);
    }

    #[test]
    fn tar_absolute_and_windows_paths_are_refused() {
        let ok = E::File("main.tf", MAIN_TF);
        assert_unsafe_path(check(targz(&[ok, E::File("/etc/x", b"x")])), R_ABSOLUTE);
        assert_unsafe_path(check(targz(&[ok, E::File("C:\\x", b"x")])), R_BACKSLASH);
        assert_unsafe_path(check(targz(&[ok, E::File("\\x", b"x")])), R_BACKSLASH);
        assert_unsafe_path(check(targz(&[ok, E::File("C:x", b"x")])), R_DRIVE);
        assert_unsafe_path(check(targz(&[ok, E::File("a/.../b", b"x")])), R_DOTS);
        assert_unsafe_path(check(targz(&[ok, E::File("", b"x")])), R_EMPTY);
        assert_unsafe_path(check(targz(&[ok, E::File("./", b"x")])), R_FILE_SLASH);
    }

    #[test]
    fn pax_path_is_the_one_checked() {
        let mut b = tar::Builder::new(Vec::new());
        append(&mut b, E::File("main.tf", MAIN_TF));
        b.append_pax_extensions([("path", &b"../evil.tf"[..])])
            .unwrap();
        append(&mut b, E::File("ok.tf", b"x"));
        let bytes = Bytes::from(gz(&b.into_inner().unwrap()));
        assert_unsafe_path(check(bytes), R_PARENT);
    }

    #[test]
    fn conflicting_long_name_and_pax_path_are_refused() {
        let mut b = tar::Builder::new(Vec::new());
        append(&mut b, E::File("main.tf", MAIN_TF));
        b.append_pax_extensions([("path", &b"b.tf"[..])]).unwrap();
        let long = b"a.tf\0";
        b.append(
            &tar_header("././@LongLink", b'L', long.len() as u64, "", 0o644),
            &long[..],
        )
        .unwrap();
        append(&mut b, E::File("a.tf", b"x"));
        assert_corrupt(check(Bytes::from(gz(&b.into_inner().unwrap()))));
    }

    #[test]
    fn pax_sparse_files_are_refused() {
        let mut b = tar::Builder::new(Vec::new());
        append(&mut b, E::File("main.tf", MAIN_TF));
        b.append_pax_extensions([("GNU.sparse.realsize", &b"999999999999"[..])])
            .unwrap();
        append(&mut b, E::File("x.tf", b"x"));
        let result = check(Bytes::from(gz(&b.into_inner().unwrap())));
        assert!(
            matches!(
                result,
                Err(ArchiveError::UnsupportedEntry {
                    kind: "sparse file",
                    ..
                })
            ),
            "{result:?}"
        );
    }

    #[test]
    fn ustar_prefix_that_readers_disagree_on_is_refused() {
        let mut h = tar::Header::new_ustar();
        h.as_ustar_mut().unwrap().prefix[..5].copy_from_slice(b"../..");
        h.as_old_mut().name[..7].copy_from_slice(b"main.tf");
        h.as_ustar_mut().unwrap().version = *b"\0\0"; // the tar crate now ignores the prefix; Go does not
        h.set_size(MAIN_TF.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, MAIN_TF).unwrap();
        assert_corrupt(check(Bytes::from(gz(&b.into_inner().unwrap()))));
    }

    // -- links ----------------------------------------------------------------

    #[test]
    fn escaping_symlinks_are_refused() {
        let ok = E::File("main.tf", MAIN_TF);
        assert_unsafe_link(
            check(targz(&[ok, E::Symlink("link", "../../etc/passwd")])),
            R_LINK_ESCAPES,
        );
        assert_unsafe_link(
            check(targz(&[ok, E::Symlink("link", "/etc/passwd")])),
            R_LINK_ABSOLUTE,
        );
        assert_unsafe_link(
            check(targz(&[
                ok,
                E::Dir("sub/"),
                E::Symlink("sub/link", "../.."),
            ])),
            R_LINK_ESCAPES,
        );
        assert_unsafe_link(check(targz(&[ok, E::Symlink("link", "")])), R_LINK_EMPTY);
        assert_unsafe_link(check(targz(&[ok, E::Symlink("link", "C:/x")])), R_DRIVE);
    }

    #[test]
    fn symlinks_inside_the_module_are_accepted() {
        assert_unchanged(targz(&[
            E::File("main.tf", MAIN_TF),
            E::Dir("sub/"),
            E::File("sub/main.tf", MAIN_TF),
            E::Symlink("link", "sub/main.tf"),
            E::Symlink("sub/up.tf", "../main.tf"),
            E::Symlink("sub/dir", "."),
            E::Symlink("self", "./"),
            E::Symlink("dangling", "sub/missing"),
        ]));
    }

    #[test]
    fn chained_symlinks_cannot_escape() {
        // sub/d -> .. is the root; sub/e -> d/.. is then the root's parent.
        assert_unsafe_link(
            check(targz(&[
                E::File("main.tf", MAIN_TF),
                E::Dir("sub/"),
                E::Symlink("sub/d", ".."),
                E::Symlink("sub/e", "d/.."),
            ])),
            R_LINK_ESCAPES,
        );
        assert_unsafe_link(
            check(targz(&[
                E::File("main.tf", MAIN_TF),
                E::Symlink("a", "b"),
                E::Symlink("b", "a"),
            ])),
            R_LINK_LOOP,
        );
    }

    #[test]
    fn link_resolution_work_is_bounded() {
        // Each target is 2,000 plain components: quadratic to resolve naively.
        let deep = vec!["d"; 2000].join("/");
        let mut b = tar::Builder::new(Vec::new());
        append(&mut b, E::File("main.tf", MAIN_TF));
        for i in 0..3000 {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            b.append_link(&mut h, format!("l{i}"), &deep).unwrap();
        }
        let bytes = Bytes::from(gz(&b.into_inner().unwrap()));
        let start = Instant::now();
        assert_unsafe_link(check(bytes), R_LINK_COMPLEX);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn nothing_is_unpacked_through_a_symlink() {
        assert_unsafe_path(
            check(targz(&[
                E::File("main.tf", MAIN_TF),
                E::Dir("sub/"),
                E::Symlink("lnk", "sub"),
                E::File("lnk/x.tf", b"x"),
            ])),
            R_UNDER_SYMLINK,
        );
        assert_unsafe_path(
            check(targz(&[
                E::File("main.tf", MAIN_TF),
                E::Symlink("x.tf", "main.tf"),
                E::File("x.tf", b"x"),
            ])),
            R_DUPLICATE_LINK,
        );
    }

    #[test]
    fn hard_links_must_name_an_earlier_file() {
        let ok = E::File("main.tf", MAIN_TF);
        assert_unsafe_link(
            check(targz(&[ok, E::Hard("evil", "../etc/passwd")])),
            R_PARENT,
        );
        assert_unsafe_link(
            check(targz(&[ok, E::Hard("evil", "/etc/passwd")])),
            R_ABSOLUTE,
        );
        assert_unsafe_link(
            check(targz(&[
                ok,
                E::Hard("x", "later.tf"),
                E::File("later.tf", b""),
            ])),
            R_HARDLINK_TARGET,
        );
        assert_unsafe_link(
            check(targz(&[ok, E::Dir("d/"), E::Hard("x", "d")])),
            R_HARDLINK_TARGET,
        );
        assert_unchanged(targz(&[
            E::File("./a.tf", MAIN_TF),
            E::Hard("./b.tf", "./a.tf"),
        ]));
    }

    #[test]
    fn special_entries_are_refused() {
        for (flag, kind) in [
            (b'3', "character device"),
            (b'4', "block device"),
            (b'6', "FIFO (named pipe)"),
            (b'7', "contiguous file"),
            (b'V', "special entry of an unknown type"),
        ] {
            let result = check(targz(&[
                E::File("main.tf", MAIN_TF),
                E::Special("dev", flag),
            ]));
            assert_eq!(
                result.unwrap_err(),
                ArchiveError::UnsupportedEntry {
                    path: "dev".into(),
                    kind
                }
            );
        }
    }

    #[test]
    fn header_only_entries_with_data_are_refused() {
        // Go skips no data after a symlink header; the tar crate would skip 512 bytes.
        let mut b = tar::Builder::new(Vec::new());
        append(&mut b, E::File("main.tf", MAIN_TF));
        b.append(
            &tar_header("link", b'2', 512, "main.tf", 0o777),
            &[0u8; 512][..],
        )
        .unwrap();
        assert_corrupt(check(Bytes::from(gz(&b.into_inner().unwrap()))));
    }

    // -- limits -----------------------------------------------------------------

    /// A .tar.gz holding one file of `size` zeros, streamed through the encoder.
    fn targz_bomb(size: u64) -> Bytes {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(tar_header("bomb.tf", b'0', size, "", 0o644).as_bytes())
            .unwrap();
        let zeros = vec![0u8; 1 << 20];
        let mut left = size + 2 * 512 + (512 - size % 512) % 512;
        while left > 0 {
            let n = left.min(zeros.len() as u64);
            enc.write_all(&zeros[..n as usize]).unwrap();
            left -= n;
        }
        Bytes::from(enc.finish().unwrap())
    }

    #[test]
    fn targz_bomb_is_refused_early() {
        let bomb = targz_bomb(200 << 20);
        assert!(bomb.len() < 400 << 10, "bomb is {} bytes", bomb.len());
        let start = Instant::now();
        assert_eq!(
            check(bomb).unwrap_err(),
            ArchiveError::TooLarge { limit: 100 << 20 }
        );
        assert!(start.elapsed() < Duration::from_secs(20));
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
    fn zip_bomb_is_refused_early() {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file(
            "bomb.tf",
            SimpleFileOptions::default().compression_level(Some(9)),
        )
        .unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..200 {
            w.write_all(&zeros).unwrap();
        }
        let bomb = Bytes::from(w.finish().unwrap().into_inner());
        assert!(bomb.len() < 400 << 10, "bomb is {} bytes", bomb.len());
        let start = Instant::now();
        assert_eq!(
            check(bomb).unwrap_err(),
            ArchiveError::TooLarge { limit: 100 << 20 }
        );
        assert!(start.elapsed() < Duration::from_secs(20));
    }

    // -- corruption -------------------------------------------------------------

    #[test]
    fn truncated_targz_is_corrupt() {
        let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let bytes = targz(&[E::File("main.tf", MAIN_TF), E::File("big.bin", &big)]);
        for cut in [bytes.len() - 1, bytes.len() - 8, bytes.len() / 2, 20] {
            assert_corrupt(check(bytes.slice(..cut)));
        }
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
    fn truncated_zip_is_corrupt() {
        let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let bytes = zip_bytes(&[E::File("main.tf", MAIN_TF), E::File("big.bin", &big)]);
        for cut in [bytes.len() - 1, bytes.len() - 30, bytes.len() / 2, 10] {
            assert_corrupt(check(bytes.slice(..cut)));
        }
    }

    #[test]
    fn zip_with_wrong_sizes_or_checksums_is_corrupt() {
        let mut bytes = raw_zip(&[RawZip::file("main.tf", MAIN_TF)]);
        let cd = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        bytes[cd + 16] ^= 0xff; // CRC in the central directory
        bytes[18] ^= 0xff; // and in the local header
        assert_corrupt(check(Bytes::from(bytes)));

        // A deflate stream that ends early, in a range running past the entries.
        let mut bytes = zip_bytes(&[E::File("mod/main.tf", MAIN_TF)]).to_vec();
        let cd = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        bytes[cd + 20..cd + 24].copy_from_slice(&1000u32.to_le_bytes());
        assert_corrupt(check(Bytes::from(bytes)));
    }

    #[test]
    fn encrypted_zip_is_unsupported() {
        let mut bytes = raw_zip(&[RawZip::file("main.tf", MAIN_TF)]);
        let cd = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        bytes[cd + 8] |= 1;
        bytes[6] |= 1;
        assert!(matches!(
            check(Bytes::from(bytes)),
            Err(ArchiveError::Unsupported(_))
        ));
    }

    // -- Terraform files and flattening --------------------------------------

    #[test]
    fn archives_without_root_tf_files_are_refused() {
        for entries in [
            &[E::File("README.md", b"# x")][..],
            &[
                E::File("README.md", b"# x"),
                E::File("modules/x/main.tf", MAIN_TF),
            ],
            &[E::File("a/b/main.tf", MAIN_TF)], // flattened one level only
            &[E::File(".hidden.tf", MAIN_TF)],
            &[E::Dir("mod/")],
            &[E::Symlink("main.tf", "other")],
        ] {
            assert_eq!(
                check(targz(entries)).unwrap_err(),
                ArchiveError::NoTerraformFiles
            );
        }
        assert_eq!(
            check(targz(&[])).unwrap_err(),
            ArchiveError::NoTerraformFiles
        );
        assert_eq!(
            check(Bytes::from_static(
                b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
            ))
            .unwrap_err(),
            ArchiveError::NoTerraformFiles
        );
        assert!(ArchiveError::NoTerraformFiles
            .to_string()
            .contains("put main.tf at the top level"));
    }

    #[test]
    fn single_top_directory_is_flattened_in_targz() {
        let run = b"#!/bin/sh\necho hi\n";
        let bytes = targz(&[
            E::Dir("./"),
            E::Dir("./mod/"),
            E::File("./mod/main.tf", MAIN_TF),
            E::Exec("./mod/run.sh", run),
            E::Dir("./mod/sub/"),
            E::File("./mod/sub/x.tf", b"x"),
            E::Symlink("./mod/link", "sub/x.tf"),
            E::Hard("./mod/hard.tf", "./mod/main.tf"),
        ]);
        let archive = check(bytes.clone()).unwrap();
        assert_ne!(archive.bytes(), &bytes);
        assert_eq!(archive.info().format, ArchiveFormat::TarGz);
        let files = untar(archive.bytes());
        let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            names,
            ["main.tf", "run.sh", "sub/", "sub/x.tf", "link", "hard.tf"]
        );
        assert_eq!(find(&files, "main.tf").2, MAIN_TF);
        assert_eq!(find(&files, "main.tf").3, 0o644);
        assert_eq!(find(&files, "run.sh").2, run);
        assert_eq!(find(&files, "run.sh").3, 0o755);
        assert_eq!(find(&files, "sub/").1, b'5');
        assert_eq!(find(&files, "link").1, b'2');
        assert_eq!(find(&files, "link").2, b"sub/x.tf");
        assert_eq!(find(&files, "hard.tf").1, b'1');
        assert_eq!(find(&files, "hard.tf").2, b"main.tf");
        // The flattened archive is flat: validating it again keeps it.
        assert_unchanged(archive.bytes().clone());
    }

    #[test]
    fn implicit_top_directory_is_flattened() {
        let bytes = targz(&[
            E::File("mymodule/main.tf", MAIN_TF),
            E::File("mymodule/sub/x.tf", b"x"),
        ]);
        let archive = check(bytes).unwrap();
        let files = untar(archive.bytes());
        assert_eq!(files.len(), 2);
        assert_eq!(find(&files, "main.tf").2, MAIN_TF);
        assert_eq!(find(&files, "sub/x.tf").2, b"x");
    }

    #[test]
    fn long_paths_survive_flattening() {
        let long = format!("mod/{}/main.tf", "d".repeat(150));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(MAIN_TF.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, MAIN_TF).unwrap();
        append(&mut b, E::File("mod/main.tf", MAIN_TF));
        let archive = check(Bytes::from(gz(&b.into_inner().unwrap()))).unwrap();
        let files = untar(archive.bytes());
        assert_eq!(find(&files, &long[4..]).2, MAIN_TF);
    }

    #[test]
    fn flattening_rechecks_links_against_the_new_root() {
        // Inside the upload, but outside the module once `mod/` is the root.
        assert_unsafe_link(
            check(targz(&[
                E::Dir("mod/"),
                E::File("mod/main.tf", MAIN_TF),
                E::Symlink("mod/up", "../mod/main.tf"),
            ])),
            R_LINK_ESCAPES,
        );
        assert_unsafe_link(
            check(zip_bytes(&[
                E::File("mod/main.tf", MAIN_TF),
                E::Symlink("mod/up", "../mod/main.tf"),
            ])),
            R_LINK_ESCAPES,
        );
    }

    #[test]
    fn single_top_directory_is_flattened_in_zip() {
        let run = b"#!/bin/sh\n";
        let bytes = zip_bytes(&[
            E::Dir("mod/"),
            E::File("mod/main.tf", MAIN_TF),
            E::Exec("mod/run.sh", run),
            E::Dir("mod/sub/"),
            E::File("mod/sub/x.tf", b"x"),
            E::Symlink("mod/link", "main.tf"),
        ]);
        let archive = check(bytes.clone()).unwrap();
        assert_ne!(archive.bytes(), &bytes);
        assert_eq!(archive.info().format, ArchiveFormat::Zip);
        assert_eq!(detect_format(archive.bytes()), Some(ArchiveFormat::Zip));
        let files = unzip(archive.bytes());
        let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, ["main.tf", "run.sh", "sub/", "sub/x.tf", "link"]);
        assert_eq!(find(&files, "main.tf").2, MAIN_TF);
        assert_eq!(find(&files, "main.tf").3 & 0o777, 0o644);
        assert_eq!(find(&files, "run.sh").2, run);
        assert_eq!(find(&files, "run.sh").3 & 0o777, 0o755);
        assert_eq!(find(&files, "sub/").1, b'd');
        assert_eq!(find(&files, "link").1, b'l');
        assert_eq!(find(&files, "link").2, b"main.tf");
        assert_unchanged(archive.bytes().clone());
    }

    // -- zip specifics ----------------------------------------------------------

    #[test]
    fn zip_traversal_is_refused() {
        let result = check(zip_bytes(&[
            E::File("main.tf", MAIN_TF),
            E::File("../evil.tf", b"x"),
        ]));
        assert_unsafe_path(result, R_PARENT);
        let result = check(zip_bytes(&[
            E::File("main.tf", MAIN_TF),
            E::File("/abs.tf", b"x"),
        ]));
        assert_unsafe_path(result, R_ABSOLUTE);
        let raw = raw_zip(&[
            RawZip::file("main.tf", MAIN_TF),
            RawZip::file("..\\evil.tf", b"x"),
        ]);
        assert_unsafe_path(check(Bytes::from(raw)), R_BACKSLASH);
    }

    #[test]
    fn zip_raw_name_is_checked_not_the_unicode_field() {
        // The zip crate would report `evil.tf`; Go unpacks `../evil.tf`.
        let mut entry = RawZip::file("../evil.tf", b"x");
        entry.extra = unicode_path_field(b"../evil.tf", "evil.tf");
        let raw = raw_zip(&[RawZip::file("main.tf", MAIN_TF), entry]);
        assert_unsafe_path(check(Bytes::from(raw)), R_PARENT);

        let mut entry = RawZip::file("a.tf", b"x");
        entry.extra = unicode_path_field(b"a.tf", "b.tf");
        let raw = raw_zip(&[RawZip::file("main.tf", MAIN_TF), entry]);
        assert_unsafe_path(check(Bytes::from(raw)), R_UNICODE_NAME);
    }

    #[test]
    fn zip_symlink_escape_is_refused() {
        assert_unsafe_link(
            check(zip_bytes(&[
                E::File("main.tf", MAIN_TF),
                E::Symlink("link", "../../etc/passwd"),
            ])),
            R_LINK_ESCAPES,
        );
        assert_unsafe_link(
            check(zip_bytes(&[
                E::File("main.tf", MAIN_TF),
                E::Symlink("link", "/etc/passwd"),
            ])),
            R_LINK_ABSOLUTE,
        );
        // Made on macOS (creator 19): Go still reads the unix mode.
        let mut link = RawZip::file("link", b"../../etc/passwd");
        link.creator = 19;
        link.external = 0o120_777 << 16;
        let raw = raw_zip(&[RawZip::file("main.tf", MAIN_TF), link]);
        assert_unsafe_link(check(Bytes::from(raw)), R_LINK_ESCAPES);
    }

    #[test]
    fn zip_special_entries_are_refused() {
        let mut fifo = RawZip::file("fifo", b"");
        fifo.external = 0o010_644 << 16;
        let raw = raw_zip(&[RawZip::file("main.tf", MAIN_TF), fifo]);
        assert_eq!(
            check(Bytes::from(raw)).unwrap_err(),
            ArchiveError::UnsupportedEntry {
                path: "fifo".into(),
                kind: "FIFO (named pipe)"
            }
        );
    }

    #[test]
    fn zip64_end_records_are_read() {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.set_zip64_comment(Some(""));
        w.start_file("main.tf", SimpleFileOptions::default())
            .unwrap();
        w.write_all(MAIN_TF).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let eocd = bytes.len() - 22;
        assert_eq!(&bytes[eocd - 20..eocd - 16], b"PK\x06\x07");
        // zip64 records alongside an end record that does not need them.
        assert_unchanged(Bytes::from(bytes.clone()));
        // Saturated end record: the zip64 values are the ones to use.
        let mut saturated = bytes.clone();
        saturated[eocd + 8..eocd + 12].copy_from_slice(&[0xff; 4]);
        saturated[eocd + 16..eocd + 20].copy_from_slice(&[0xff; 4]);
        assert_unchanged(Bytes::from(saturated));
        // zip64 values that disagree with the end record's.
        let mut disagree = bytes;
        let record = eocd - 20 - 56;
        assert_eq!(&disagree[record..record + 4], b"PK\x06\x06");
        disagree[record + 48] ^= 1;
        assert_corrupt(check(Bytes::from(disagree)));
    }

    #[test]
    fn dos_zip_is_accepted() {
        let mut dir = RawZip::file("sub", b"");
        dir.creator = 0;
        dir.external = 0x10;
        let mut file = RawZip::file("main.tf", MAIN_TF);
        file.creator = 0;
        file.external = 0x20;
        assert_unchanged(Bytes::from(raw_zip(&[file, dir])));
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
}
