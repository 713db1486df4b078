//! Test helpers shared by the archive tests: builders for `.tar.gz` and
//! `.zip` archives (including hand-written, malformed ones), readers for what
//! a validated archive unpacks to, and assertions on the verdict.

use std::io::{Cursor, Read, Write};

use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use zip::write::SimpleFileOptions;
use zip::{ZipArchive, ZipWriter};

use super::{validate_archive, validate_archive_file, ArchiveError, ArchiveLimits};
use crate::storage::Archive;

// -- builders ----------------------------------------------------------

/// An entry for the test archive builders.
#[derive(Clone, Copy)]
pub(super) enum E<'a> {
    File(&'a str, &'a [u8]),
    Exec(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hard(&'a str, &'a str),
    /// A raw tar type flag with no data (devices, FIFOs, ...).
    Special(&'a str, u8),
}

pub(super) const MAIN_TF: &[u8] = b"variable \"name\" {}\n";

/// A GNU header with the name and link name written as raw bytes, so
/// malicious names (`..`, absolute) can be built.
pub(super) fn tar_header(name: &str, kind: u8, size: u64, link: &str, mode: u32) -> tar::Header {
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

pub(super) fn append(b: &mut tar::Builder<Vec<u8>>, e: E<'_>) {
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

pub(super) fn tar_bytes(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for &e in entries {
        append(&mut b, e);
    }
    b.into_inner().unwrap()
}

pub(super) fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub(super) fn targz(entries: &[E<'_>]) -> Bytes {
    Bytes::from(gz(&tar_bytes(entries)))
}

pub(super) fn zip_bytes(entries: &[E<'_>]) -> Bytes {
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
pub(super) struct RawZip<'a> {
    name: &'a [u8],
    data: &'a [u8],
    pub(super) creator: u8,
    pub(super) external: u32,
    pub(super) extra: Vec<u8>,
}

impl<'a> RawZip<'a> {
    pub(super) fn file(name: &'a str, data: &'a [u8]) -> Self {
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

pub(super) fn raw_zip(entries: &[RawZip<'_>]) -> Vec<u8> {
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
pub(super) fn unicode_path_field(header_name: &[u8], unicode: &str) -> Vec<u8> {
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
pub(super) type Unpacked = Vec<(String, u8, Vec<u8>, u32)>;

pub(super) fn untar(bytes: &[u8]) -> Unpacked {
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
pub(super) fn unzip(bytes: &[u8]) -> Unpacked {
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

pub(super) fn find<'a>(unpacked: &'a Unpacked, path: &str) -> &'a (String, u8, Vec<u8>, u32) {
    unpacked
        .iter()
        .find(|e| e.0 == path)
        .unwrap_or_else(|| panic!("{path} missing from {unpacked:?}"))
}

// -- helpers ---------------------------------------------------------------

/// `validate_archive` with the default limits, checked against `validate_archive_file`.
#[track_caller]
pub(super) fn check(bytes: Bytes) -> Result<Archive, ArchiveError> {
    check_with(bytes, &ArchiveLimits::default())
}

/// Validates `bytes` both in memory and from a spooled file, asserts that both
/// give the same outcome (the same archive by format, SHA-256 and size, or the
/// same error), and returns the in-memory one.
#[track_caller]
pub(super) fn check_with(bytes: Bytes, limits: &ArchiveLimits) -> Result<Archive, ArchiveError> {
    let in_memory = validate_archive(bytes.clone(), limits);
    let from_file = validate_file(&bytes, limits);
    assert_eq!(from_file, in_memory, "from a file and in memory");
    if let Ok(archive) = &from_file {
        assert!(archive.file_path().is_some(), "{archive:?} is file-backed");
    }
    in_memory
}

/// A temporary file holding `bytes`, in `dir`, as an upload is spooled.
pub(super) fn spooled(bytes: &[u8], dir: &std::path::Path) -> tempfile::TempPath {
    let mut file = tempfile::NamedTempFile::new_in(dir).unwrap();
    file.write_all(bytes).unwrap();
    file.into_temp_path()
}

/// `validate_archive_file` on `bytes` written to a temporary file; the I/O
/// must succeed.
pub(super) fn validate_file(bytes: &[u8], limits: &ArchiveLimits) -> Result<Archive, ArchiveError> {
    let dir = std::env::temp_dir();
    validate_archive_file(spooled(bytes, &dir), limits, &dir).expect("no I/O error")
}

pub(super) fn assert_unchanged(bytes: Bytes) {
    let archive = check(bytes.clone()).unwrap();
    assert_eq!(archive.to_bytes().unwrap(), bytes);
    assert_eq!(
        archive.info().sha256,
        crate::storage::Sha256Digest::of(&bytes)
    );
}

#[track_caller]
pub(super) fn assert_unsafe_path(result: Result<Archive, ArchiveError>, reason: &str) {
    match result {
        Err(ArchiveError::UnsafePath { reason: r, .. }) => assert_eq!(r, reason),
        other => panic!("expected UnsafePath ({reason}), got {other:?}"),
    }
}

#[track_caller]
pub(super) fn assert_unsafe_link(result: Result<Archive, ArchiveError>, reason: &str) {
    match result {
        Err(ArchiveError::UnsafeLink { reason: r, .. }) => assert_eq!(r, reason),
        other => panic!("expected UnsafeLink ({reason}), got {other:?}"),
    }
}

#[track_caller]
pub(super) fn assert_corrupt(result: Result<Archive, ArchiveError>) {
    assert!(
        matches!(result, Err(ArchiveError::Corrupt(_))),
        "expected Corrupt, got {result:?}"
    );
}
