//! Reading and checking `.tar.gz` uploads, and rebuilding them without their
//! top-level directory.
//!
//! The decompressed stream is capped, so a bomb stops early; entries are read
//! as Go's `archive/tar` would read them, and refused where it and the `tar`
//! crate could disagree.

use std::cell::Cell;
use std::io::{self, Cursor, Read, Write};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::paths::{normalize_path, R_EMPTY, R_NOT_UTF8};
use super::stream::{read_full, Failure, IoFault, TrackedWriter};
use super::tree::under_root;
use super::{
    corrupt, shown, too_large, too_many, unsafe_link, unsafe_path, ArchiveError, ArchiveLimits,
    Kind, Record,
};

const TAR_BLOCK: usize = 512;
/// Decompressed tar bytes allowed per entry on top of the entries' data
/// (headers, PAX records, long names, padding).
const TAR_OVERHEAD_PER_ENTRY: u64 = 4096;
const TAR_OVERHEAD_BASE: u64 = 1 << 20;

const R_FILE_SLASH: &str = "it is a regular file but its name ends with `/`; re-create the archive";

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

/// The decompressed tar stream: the first block, already read, then the rest.
type TarStream<'a, R> = io::Chain<Cursor<[u8; TAR_BLOCK]>, Budget<'a, MultiGzDecoder<R>>>;

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
fn open_tar<'a, R: Read>(
    input: R,
    limits: &ArchiveLimits,
    exceeded: &'a Cell<bool>,
) -> Result<tar::Archive<TarStream<'a, R>>, ArchiveError> {
    let cap = limits
        .max_unpacked_bytes
        .saturating_add(limits.max_entries.saturating_mul(TAR_OVERHEAD_PER_ENTRY))
        .saturating_add(TAR_OVERHEAD_BASE);
    let mut stream = Budget {
        inner: MultiGzDecoder::new(input),
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

/// Reads and checks every entry of a `.tar.gz` read from `input`, streaming.
pub(super) fn scan_tar(input: impl Read, limits: &ArchiveLimits) -> Result<Vec<Record>, Failure> {
    let fault = IoFault::default();
    let result = scan_tracked(fault.track(input), limits);
    fault.verdict(result)
}

fn scan_tracked<R: Read>(input: R, limits: &ArchiveLimits) -> Result<Vec<Record>, ArchiveError> {
    let exceeded = Cell::new(false);
    let mut archive = open_tar(input, limits, &exceeded)?;
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

/// Writes the `.tar.gz` read from `input` (whose entries are `records`) to
/// `out` again: only what is under `root` (all of it for `None`), each mode
/// reduced to its permission bits, owners and the root's own entry dropped.
pub(super) fn rebuild_tar<W: Write>(
    input: impl Read,
    records: &[Record],
    root: Option<&str>,
    limits: &ArchiveLimits,
    out: W,
) -> Result<W, Failure> {
    let fault = IoFault::default();
    let result = rebuild_tracked(
        fault.track(input),
        records,
        root,
        limits,
        fault.track_writer(out),
    );
    fault.verdict(result).map(TrackedWriter::into_inner)
}

fn rebuild_tracked<R: Read, W: Write>(
    input: R,
    records: &[Record],
    root: Option<&str>,
    limits: &ArchiveLimits,
    out: W,
) -> Result<W, ArchiveError> {
    let exceeded = Cell::new(false);
    let mut archive = open_tar(input, limits, &exceeded)?;
    let mut out = tar::Builder::new(GzEncoder::new(out, Compression::default()));
    let mut records = records.iter();
    let mut copy = || -> io::Result<()> {
        for entry in archive.entries()? {
            let mut entry = entry?;
            let record = records
                .next()
                .ok_or_else(|| io::Error::other("the archive changed while reading it"))?;
            let Some(path) = under_root(&record.path, root) else {
                continue;
            };
            let mut header = tar::Header::new_gnu();
            header.set_mode(record.kept_mode());
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
                    let target = under_root(target, root)
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
            corrupt(format!("cannot rebuild the archive ({e})"))
        });
    }
    out.into_inner()
        .and_then(GzEncoder::finish)
        .map_err(|e| corrupt(format!("cannot rebuild the archive ({e})")))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use bytes::Bytes;

    use super::super::paths::{R_ABSOLUTE, R_BACKSLASH, R_DOTS, R_DRIVE, R_PARENT};
    use super::super::test_support::*;
    use super::*;
    use crate::storage::ArchiveFormat;

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
    fn truncated_targz_is_corrupt() {
        let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let bytes = targz(&[E::File("main.tf", MAIN_TF), E::File("big.bin", &big)]);
        for cut in [bytes.len() - 1, bytes.len() - 8, bytes.len() / 2, 20] {
            assert_corrupt(check(bytes.slice(..cut)));
        }
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
        assert_ne!(archive.to_bytes().unwrap(), bytes);
        assert_eq!(archive.info().format, ArchiveFormat::TarGz);
        let files = untar(&archive.to_bytes().unwrap());
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
        assert_unchanged(archive.to_bytes().unwrap());
    }

    #[test]
    fn implicit_top_directory_is_flattened() {
        let bytes = targz(&[
            E::File("mymodule/main.tf", MAIN_TF),
            E::File("mymodule/sub/x.tf", b"x"),
        ]);
        let archive = check(bytes).unwrap();
        let files = untar(&archive.to_bytes().unwrap());
        assert_eq!(files.len(), 2);
        assert_eq!(find(&files, "main.tf").2, MAIN_TF);
        assert_eq!(find(&files, "sub/x.tf").2, b"x");
    }

    /// A module whose entries carry setuid, setgid and sticky bits, under `top`.
    fn special_bits_targz(top: &str) -> Bytes {
        let run = b"#!/bin/sh\n";
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, kind, data: &[u8], mode| {
            let name = format!("{top}{name}");
            let h = tar_header(&name, kind, data.len() as u64, "", mode);
            b.append(&h, data).unwrap();
        };
        add("main.tf", b'0', MAIN_TF, 0o644);
        add("run.sh", b'0', run, 0o4755);
        add("shared/", b'5', b"", 0o2755);
        add("tmp/", b'5', b"", 0o1777);
        add("shared/x.tf", b'0', b"x", 0o6640);
        Bytes::from(gz(&b.into_inner().unwrap()))
    }

    #[track_caller]
    fn assert_plain_modes(files: &Unpacked) {
        let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            names,
            ["main.tf", "run.sh", "shared/", "tmp/", "shared/x.tf"]
        );
        assert_eq!(find(files, "main.tf").3, 0o644);
        assert_eq!(find(files, "run.sh").3, 0o755, "setuid cleared, exec kept");
        assert_eq!(find(files, "run.sh").2, b"#!/bin/sh\n");
        assert_eq!(find(files, "shared/").3, 0o755, "setgid cleared");
        assert_eq!(find(files, "shared/").1, b'5');
        assert_eq!(find(files, "tmp/").3, 0o777, "sticky cleared");
        assert_eq!(find(files, "shared/x.tf").3, 0o640);
        assert_eq!(find(files, "shared/x.tf").2, b"x");
    }

    #[test]
    fn setuid_setgid_and_sticky_bits_are_cleared_in_targz() {
        let bytes = special_bits_targz("");
        let archive = check(bytes.clone()).unwrap();
        assert_ne!(archive.to_bytes().unwrap(), bytes, "rebuilt");
        assert_eq!(archive.info().format, ArchiveFormat::TarGz);
        assert_plain_modes(&untar(&archive.to_bytes().unwrap()));
        assert_unchanged(archive.to_bytes().unwrap());
        // Flattening keeps only the permission bits too.
        let archive = check(special_bits_targz("./mod/")).unwrap();
        assert_plain_modes(&untar(&archive.to_bytes().unwrap()));
        assert_unchanged(archive.to_bytes().unwrap());
    }

    #[test]
    fn sticky_archive_root_entry_is_dropped() {
        // `./` would chmod the directory Terraform unpacks into.
        let mut b = tar::Builder::new(Vec::new());
        b.append(&tar_header("./", b'5', 0, "", 0o1777), &[][..])
            .unwrap();
        append(&mut b, E::File("./main.tf", MAIN_TF));
        append(&mut b, E::Exec("./run.sh", b"#!/bin/sh"));
        let bytes = Bytes::from(gz(&b.into_inner().unwrap()));
        let archive = check(bytes.clone()).unwrap();
        assert_ne!(archive.to_bytes().unwrap(), bytes);
        let files = untar(&archive.to_bytes().unwrap());
        let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, ["main.tf", "run.sh"]);
        assert_eq!(find(&files, "run.sh").3, 0o755);
    }

    #[test]
    fn permission_bits_alone_keep_the_upload() {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, mode) in [
            ("./", b'5', 0o777),
            ("main.tf", b'0', 0o777),
            ("d/", b'5', 0o700),
            ("d/x", b'0', 0),
        ] {
            b.append(&tar_header(name, kind, 0, "", mode), &[][..])
                .unwrap();
        }
        assert_unchanged(Bytes::from(gz(&b.into_inner().unwrap())));
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
        let files = untar(&archive.to_bytes().unwrap());
        assert_eq!(find(&files, &long[4..]).2, MAIN_TF);
    }
}
