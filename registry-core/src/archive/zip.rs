//! Reading and checking `.zip` uploads, and rebuilding them without their
//! top-level directory.
//!
//! The end records and central directory are parsed from the raw bytes, as
//! Go's `archive/zip` does, and must agree with what the `zip` crate reads;
//! every entry's data is then decompressed and counted.

use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};

use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{ZipArchive, ZipWriter};

use super::paths::{normalize_path, MAX_PATH_LEN, R_EMPTY, R_LINK_TOO_LONG, R_NOT_UTF8};
use super::stream::{read_full, Failure, IoFault, TrackedWriter};
use super::tree::under_root;
use super::{
    corrupt, shown, too_large, too_many, unsafe_link, unsafe_path, ArchiveError, ArchiveLimits,
    Kind, Record,
};

const R_UNICODE_NAME: &str = "its Info-ZIP Unicode path field names a different file than its header; re-create the zip with UTF-8 file names";

/// Length of the end of central directory record, without its comment.
const EOCD_LEN: u64 = 22;
/// Length of the zip64 end of central directory locator.
const LOCATOR_LEN: u64 = 20;
/// Length of the zip64 end of central directory record, up to its last field read.
const ZIP64_RECORD_LEN: u64 = 56;
/// Length of a central directory header, without its name, extra field and comment.
const CENTRAL_HEADER_LEN: usize = 46;

/// Where the central directory is, per the end-of-central-directory records.
#[derive(Debug)]
struct ZipLayout {
    cd_offset: u64,
    cd_end: u64,
    entries: u64,
}

/// One central directory header, read from the raw bytes (as Go's reader does).
#[derive(Debug)]
struct CentralHeader {
    offset: u64,
    name: Vec<u8>,
    creator: u8,
    flags: u16,
    external: u32,
}

/// The archive's bytes from offset `start` on, as far as a record needs them
/// or to the end of the archive: a field beyond them is beyond the archive.
struct Span<B> {
    start: u64,
    bytes: B,
}

impl Span<Vec<u8>> {
    /// Up to `len` bytes at `start`.
    fn read(r: &mut (impl Read + Seek), start: u64, len: u64) -> Result<Self, ArchiveError> {
        r.seek(SeekFrom::Start(start)).map_err(read_error)?;
        let mut bytes = Vec::new();
        r.by_ref()
            .take(len)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        Ok(Self { start, bytes })
    }
}

impl<B: AsRef<[u8]>> Span<B> {
    fn get(&self, at: u64, len: u64) -> Option<&[u8]> {
        let from = usize::try_from(at.checked_sub(self.start)?).ok()?;
        let to = from.checked_add(usize::try_from(len).ok()?)?;
        self.bytes.as_ref().get(from..to)
    }

    /// The little-endian field of `len` bytes at offset `at`.
    fn le(&self, at: u64, len: u64) -> Result<u64, ArchiveError> {
        let field = self
            .get(at, len)
            .ok_or_else(|| corrupt("a zip record is truncated"))?;
        Ok(field
            .iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    /// Whether the record at `at` starts with `signature`.
    fn has(&self, at: u64, signature: &[u8]) -> bool {
        self.get(at, signature.len() as u64) == Some(signature)
    }
}

fn read_error(e: io::Error) -> ArchiveError {
    corrupt(format!("cannot read the zip ({e})"))
}

fn to_usize(v: u64) -> Result<usize, ArchiveError> {
    usize::try_from(v).map_err(|_| corrupt("a zip offset is out of range"))
}

fn zip_layout(r: &mut (impl Read + Seek)) -> Result<ZipLayout, ArchiveError> {
    let len = r.seek(SeekFrom::End(0)).map_err(read_error)?;
    let last = len
        .checked_sub(EOCD_LEN)
        .ok_or_else(|| corrupt("it is too short to be a zip file"))?;
    let lowest = last.saturating_sub(u64::from(u16::MAX));
    // Every place the end record can be, and a zip64 locator before it.
    let tail_start = lowest.saturating_sub(LOCATOR_LEN);
    let b = Span::read(r, tail_start, len - tail_start)?;
    // The last signature, as Go and the zip crate both look for.
    let pos = (lowest..=last)
        .rev()
        .find(|&i| b.has(i, b"PK\x05\x06"))
        .ok_or_else(|| corrupt("the zip's end of central directory record is missing"))?;
    if pos + EOCD_LEN + b.le(pos + 20, 2)? != len {
        return Err(corrupt("there is data after the end of the zip archive"));
    }
    let disk = b.le(pos + 4, 2)?;
    let cd_disk = b.le(pos + 6, 2)?;
    let disk_entries = b.le(pos + 8, 2)?;
    let mut entries = b.le(pos + 10, 2)?;
    let mut cd_size = b.le(pos + 12, 4)?;
    let mut cd_offset = b.le(pos + 16, 4)?;
    if disk != 0 || cd_disk != 0 || disk_entries != entries {
        return Err(ArchiveError::Unsupported("a multi-disk zip".to_owned()));
    }
    let mut cd_end = pos;
    let locator = pos
        .checked_sub(LOCATOR_LEN)
        .filter(|&at| b.has(at, b"PK\x06\x07"));
    if let Some(at) = locator {
        if b.le(at + 4, 4)? != 0 || b.le(at + 16, 4)? > 1 {
            return Err(ArchiveError::Unsupported("a multi-disk zip".to_owned()));
        }
        let malformed = || corrupt("the zip64 end record is malformed");
        // Before the locator, so the offsets below cannot overflow.
        let record = b.le(at + 8, 8)?;
        if record >= at {
            return Err(malformed());
        }
        let z = Span::read(r, record, ZIP64_RECORD_LEN)?;
        let record_end = z
            .le(record + 4, 8)?
            .checked_add(record + 12)
            .ok_or_else(malformed)?;
        if !z.has(record, b"PK\x06\x06") || record_end != at {
            return Err(malformed());
        }
        if z.le(record + 16, 4)? != 0
            || z.le(record + 20, 4)? != 0
            || z.le(record + 24, 8)? != z.le(record + 32, 8)?
        {
            return Err(ArchiveError::Unsupported("a multi-disk zip".to_owned()));
        }
        let zip64 = (
            z.le(record + 32, 8)?,
            z.le(record + 40, 8)?,
            z.le(record + 48, 8)?,
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
        cd_end = record;
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

/// Reads the central directory headers the end records announce, in order.
fn central_headers(
    r: &mut (impl Read + Seek),
    layout: &ZipLayout,
) -> Result<Vec<CentralHeader>, ArchiveError> {
    r.seek(SeekFrom::Start(layout.cd_offset))
        .map_err(read_error)?;
    let mut r = BufReader::new(r);
    let mut headers = Vec::with_capacity(to_usize(layout.entries)?);
    let mut at = layout.cd_offset;
    for _ in 0..layout.entries {
        let (header, len) = central_header(&mut r, at)?;
        headers.push(header);
        at += len;
    }
    if at != layout.cd_end {
        return Err(corrupt(
            "the zip's central directory does not match its entry count",
        ));
    }
    Ok(headers)
}

/// The central directory header at `offset`, where `r` is; leaves `r` after
/// it, or at the end of the archive.
fn central_header(r: &mut impl Read, offset: u64) -> Result<(CentralHeader, u64), ArchiveError> {
    let mut fixed = [0u8; CENTRAL_HEADER_LEN];
    let n = read_full(r, &mut fixed).map_err(read_error)?;
    let b = Span {
        start: offset,
        bytes: &fixed[..n],
    };
    if !b.has(offset, b"PK\x01\x02") {
        return Err(corrupt("a zip central directory header is missing"));
    }
    let truncated = || corrupt("a zip record is truncated");
    if n < CENTRAL_HEADER_LEN {
        return Err(truncated());
    }
    let name_len = b.le(offset + 28, 2)?;
    let extra_len = b.le(offset + 30, 2)?;
    let comment_len = b.le(offset + 32, 2)?;
    let mut name = Vec::new();
    r.by_ref()
        .take(name_len)
        .read_to_end(&mut name)
        .map_err(read_error)?;
    if name.len() as u64 != name_len {
        return Err(truncated());
    }
    // The extra field and comment are not read; past the end, the next
    // header is missing.
    io::copy(&mut r.take(extra_len + comment_len), &mut io::sink()).map_err(read_error)?;
    let header = CentralHeader {
        offset,
        name,
        creator: u8::try_from(b.le(offset + 5, 1)?).unwrap_or(u8::MAX),
        flags: u16::try_from(b.le(offset + 8, 2)?).unwrap_or(u16::MAX),
        external: u32::try_from(b.le(offset + 38, 4)?).unwrap_or(u32::MAX),
    };
    let len = CENTRAL_HEADER_LEN as u64 + name_len + extra_len + comment_len;
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
fn zip_kind(header: &CentralHeader, name: &str) -> Result<ZipKind, &'static str> {
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

/// Reads and checks every entry of a `.zip` read from `input`, entry by entry.
pub(super) fn scan_zip(
    input: impl Read + Seek,
    limits: &ArchiveLimits,
) -> Result<Vec<Record>, Failure> {
    let fault = IoFault::default();
    let result = scan_tracked(fault.track(input), limits);
    fault.verdict(result)
}

fn scan_tracked(
    mut input: impl Read + Seek,
    limits: &ArchiveLimits,
) -> Result<Vec<Record>, ArchiveError> {
    let layout = zip_layout(&mut input)?;
    if layout.entries > limits.max_entries {
        return Err(too_many(limits));
    }
    // Each central header takes at least 46 bytes.
    if layout.entries.saturating_mul(46) > layout.cd_end - layout.cd_offset {
        return Err(corrupt(
            "the zip's entry count does not fit its central directory",
        ));
    }
    let headers = central_headers(&mut input, &layout)?;

    let mut zip = ZipArchive::new(input).map_err(zip_error)?;
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
        let raw = std::str::from_utf8(&header.name)
            .map_err(|_| unsafe_path(&String::from_utf8_lossy(&header.name), R_NOT_UTF8))?;
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

/// Writes the `.zip` read from `input` (whose entries are `records`) to `out`
/// again: only what is under `root` (all of it for `None`), each mode reduced
/// to its permission bits, the root's own entry dropped. File data is copied
/// compressed, as it is.
pub(super) fn rebuild_zip<W: Write + Seek>(
    input: impl Read + Seek,
    records: &[Record],
    root: Option<&str>,
    out: W,
) -> Result<W, Failure> {
    let fault = IoFault::default();
    let result = rebuild_tracked(fault.track(input), records, root, fault.track_writer(out));
    fault.verdict(result).map(TrackedWriter::into_inner)
}

fn rebuild_tracked<W: Write + Seek>(
    input: impl Read + Seek,
    records: &[Record],
    root: Option<&str>,
    out: W,
) -> Result<W, ArchiveError> {
    let rebuild_error = |e: ZipError| corrupt(format!("cannot rebuild the archive ({e})"));
    let mut zip = ZipArchive::new(input).map_err(zip_error)?;
    let mut out = ZipWriter::new(out);
    for (index, record) in records.iter().enumerate() {
        let Some(path) = under_root(&record.path, root) else {
            continue;
        };
        let file = zip.by_index_raw(index).map_err(zip_error)?;
        // The zip writer keeps only the permission bits (`0o777`) of a mode.
        let options = SimpleFileOptions::default()
            .last_modified_time(file.last_modified().unwrap_or_default())
            .unix_permissions(record.kept_mode());
        match &record.kind {
            // Copies the compressed data as is, with the permission bits the
            // zip crate reads from the entry.
            Kind::File => out.raw_copy_file_rename(file, path),
            Kind::Dir => out.add_directory(path, options),
            Kind::Symlink(target) => out.add_symlink(path, target, options),
            Kind::HardLink(_) | Kind::Ignored => Ok(()),
        }
        .map_err(rebuild_error)?;
    }
    out.finish().map_err(rebuild_error)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::time::{Duration, Instant};

    use bytes::Bytes;

    use super::super::detect_format;
    use super::super::paths::{R_ABSOLUTE, R_BACKSLASH, R_LINK_ABSOLUTE, R_PARENT};
    use super::super::test_support::*;
    use super::super::tree::R_LINK_ESCAPES;
    use super::*;
    use crate::storage::ArchiveFormat;

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

    /// A module whose entries carry setuid, setgid and sticky bits, under `top`.
    fn special_bits_zip(top: &str) -> Bytes {
        let names: Vec<String> = ["main.tf", "run.sh", "shared/", "tmp/", "shared/x.tf"]
            .iter()
            .map(|n| format!("{top}{n}"))
            .collect();
        let mut entries = vec![
            RawZip::file(&names[0], MAIN_TF),
            RawZip::file(&names[1], b"#!/bin/sh\n"),
            RawZip::file(&names[2], b""),
            RawZip::file(&names[3], b""),
            RawZip::file(&names[4], b"x"),
        ];
        for (entry, mode) in entries[1..]
            .iter_mut()
            .zip([0o104_755, 0o042_755, 0o041_777, 0o106_640])
        {
            entry.external = mode << 16;
        }
        Bytes::from(raw_zip(&entries))
    }

    #[track_caller]
    fn assert_plain_modes(files: &Unpacked) {
        let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            names,
            ["main.tf", "run.sh", "shared/", "tmp/", "shared/x.tf"]
        );
        assert_eq!(find(files, "main.tf").3 & 0o7777, 0o644);
        assert_eq!(
            find(files, "run.sh").3 & 0o7777,
            0o755,
            "setuid cleared, exec kept"
        );
        assert_eq!(find(files, "run.sh").2, b"#!/bin/sh\n");
        assert_eq!(find(files, "shared/").3 & 0o7777, 0o755, "setgid cleared");
        assert_eq!(find(files, "shared/").1, b'd');
        assert_eq!(find(files, "tmp/").3 & 0o7777, 0o777, "sticky cleared");
        assert_eq!(find(files, "shared/x.tf").3 & 0o7777, 0o640);
        assert_eq!(find(files, "shared/x.tf").2, b"x");
    }

    #[test]
    fn setuid_setgid_and_sticky_bits_are_cleared_in_zip() {
        let bytes = special_bits_zip("");
        let archive = check(bytes.clone()).unwrap();
        assert_ne!(archive.to_bytes().unwrap(), bytes, "rebuilt");
        assert_eq!(archive.info().format, ArchiveFormat::Zip);
        assert_plain_modes(&unzip(&archive.to_bytes().unwrap()));
        assert_unchanged(archive.to_bytes().unwrap());
        // Flattening keeps only the permission bits too.
        let archive = check(special_bits_zip("mod/")).unwrap();
        assert_plain_modes(&unzip(&archive.to_bytes().unwrap()));
        assert_unchanged(archive.to_bytes().unwrap());
    }

    #[test]
    fn zip_mode_bits_are_read_only_from_unix_creators() {
        // A DOS creator's external attributes hold no unix mode.
        let mut file = RawZip::file("main.tf", MAIN_TF);
        file.creator = 0;
        file.external = 0o104_755 << 16 | 0x20;
        assert_unchanged(Bytes::from(raw_zip(&[file])));
        // macOS (creator 19) stores one, as Go reads it.
        let mut file = RawZip::file("main.tf", MAIN_TF);
        file.creator = 19;
        file.external = 0o104_644 << 16;
        let bytes = Bytes::from(raw_zip(&[file]));
        let archive = check(bytes.clone()).unwrap();
        assert_ne!(archive.to_bytes().unwrap(), bytes);
        assert_eq!(
            find(&unzip(&archive.to_bytes().unwrap()), "main.tf").3 & 0o7777,
            0o644
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
        assert_ne!(archive.to_bytes().unwrap(), bytes);
        assert_eq!(archive.info().format, ArchiveFormat::Zip);
        assert_eq!(
            detect_format(&archive.to_bytes().unwrap()),
            Some(ArchiveFormat::Zip)
        );
        let files = unzip(&archive.to_bytes().unwrap());
        let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, ["main.tf", "run.sh", "sub/", "sub/x.tf", "link"]);
        assert_eq!(find(&files, "main.tf").2, MAIN_TF);
        assert_eq!(find(&files, "main.tf").3 & 0o777, 0o644);
        assert_eq!(find(&files, "run.sh").2, run);
        assert_eq!(find(&files, "run.sh").3 & 0o777, 0o755);
        assert_eq!(find(&files, "sub/").1, b'd');
        assert_eq!(find(&files, "link").1, b'l');
        assert_eq!(find(&files, "link").2, b"main.tf");
        assert_unchanged(archive.to_bytes().unwrap());
    }
}
