//! `validate_archive` and `extract_module` on random bytes, mutated archives
//! and `.tar.gz` / `.zip` archives built from random entries (paths with `..`,
//! absolute paths, `./` prefixes, symlinks and hard links pointing anywhere,
//! duplicate names, directories, special entries, long names, big files).
//!
//! Properties:
//! - never a panic;
//! - an accepted archive, read back with the `tar` / `zip` crates, holds only
//!   files, directories and links at relative, normalised-safe paths inside the
//!   module; every symlink resolves (through the others, as a file system
//!   would) inside the root; hard links name an earlier file; nothing sits
//!   under a symlink; a `.tf` file is at the root; the limits hold;
//! - no accepted archive stores a setuid, setgid or sticky bit;
//! - the accepted archive re-validates to itself, keeps the input's format and
//!   file contents, and is the input unchanged unless it had one top directory
//!   or such mode bits;
//! - `validate_archive_file` on the same bytes, spooled to a file, gives the
//!   same verdict as `validate_archive`;
//! - an entry path that is unsafe anywhere in the input means refusal;
//! - generated valid modules are accepted.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{Cursor, Read, Write};

use bytes::Bytes;
use proptest::prelude::*;
use registry_core::archive::{
    detect_format, extract_module, validate_archive, validate_archive_file,
};
use registry_core::{Archive, ArchiveFormat, ArchiveLimits};

use super::support::config;

// -- the model ---------------------------------------------------------------

#[derive(Clone)]
enum Kind {
    File {
        len: usize,
        seed: u8,
        mode: u32,
    },
    Dir,
    Symlink(Vec<u8>),
    Hard(Vec<u8>),
    /// A tar type flag (devices, FIFOs, sparse files, global headers); in zip,
    /// a special file mode.
    Special(u8),
}

/// How a tar entry's name (and link name) is stored.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// In the header (long names fall back to GNU long names).
    Plain,
    /// As GNU `././@LongLink` entries.
    Gnu,
    /// As a PAX `path` / `linkpath` record.
    Pax,
}

#[derive(Clone)]
struct Entry {
    name: Vec<u8>,
    kind: Kind,
    form: Form,
}

/// Names and targets as `b"..."`, so shrunk inputs read like the tests.
struct Shown<'a>(&'a [u8]);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { len, seed, mode } => {
                write!(f, "File {{ len: {len}, seed: {seed}, mode: 0o{mode:o} }}")
            }
            Self::Dir => f.write_str("Dir"),
            Self::Symlink(t) => f.debug_tuple("Symlink").field(&Shown(t)).finish(),
            Self::Hard(t) => f.debug_tuple("Hard").field(&Shown(t)).finish(),
            Self::Special(flag) => write!(f, "Special(b'{}')", flag.escape_ascii()),
        }
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("name", &Shown(&self.name))
            .field("kind", &self.kind)
            .field("form", &self.form)
            .finish()
    }
}

#[derive(Debug, Clone)]
struct Model {
    entries: Vec<Entry>,
    /// Zip: written with the `zip` crate (deflate) rather than by hand (stored).
    deflate: bool,
}

fn file_data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            if seed == 0 {
                0
            } else {
                (i as u8).wrapping_mul(seed) ^ ((i >> 9) as u8)
            }
        })
        .collect()
}

// -- strategies --------------------------------------------------------------

/// How hostile an archive's entries are: 0 uses only well-formed names and
/// links, 1 mixes in an occasional bad one, 2 many.
type Level = u32;

fn component(level: Level) -> BoxedStrategy<Vec<u8>> {
    // (proptest refuses zero weights: level 0 draws benign values instead.)
    let bad = [1, 1, 4][level as usize];
    let hostile = level > 0;
    prop_oneof![
        24 => prop::sample::select(vec![
            "main.tf", "variables.tf", "outputs.tf.json", "README.md", "a", "b", "sub", "mod",
            "x.tf",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        bad * 2 => prop::sample::select(if hostile {
            vec!["..", ".", "", "...", ". .", "C:", "c:x", "a\\b", "é.tf", ".hidden.tf", "-", " "]
        } else {
            vec![".", "", "é.tf", ".hidden.tf", "-", "a.b"]
        })
        .prop_map(|s| s.as_bytes().to_vec()),
        2 => "[a-z]{1,8}".prop_map(String::into_bytes),
        1 => (90usize..300).prop_map(|n| vec![b'd'; n]),
        bad => prop::collection::vec(1u8..=255, 1..6)
            .prop_map(move |b| if hostile { b } else { b"c".to_vec() }),
    ]
    .boxed()
}

/// A path: an optional prefix (`./`, `/`, `../`) and components.
fn entry_name(top: Option<&'static str>, level: Level) -> impl Strategy<Value = Vec<u8>> {
    let bad = [1, 1, 2][level as usize];
    let hostile = level > 0;
    (
        prop_oneof![
            24 => Just(""),
            8 => Just("./"),
            bad => Just(if hostile { "/" } else { "" }),
            bad => Just(if hostile { "../" } else { "./" }),
            2 => Just(".//"),
        ],
        prop::collection::vec(component(level), 1..4),
    )
        .prop_map(move |(prefix, parts)| {
            let mut name = prefix.as_bytes().to_vec();
            if let Some(top) = top {
                name.extend_from_slice(top.as_bytes());
                name.push(b'/');
            }
            name.extend_from_slice(&parts.join(&b'/'));
            name
        })
}

fn link_target(level: Level) -> impl Strategy<Value = Vec<u8>> {
    let bad = [1, 1, 2][level as usize];
    let up = if level > 0 { "../" } else { "sub/" };
    prop_oneof![
        8 => (
            prop::bool::weighted([0.0, 0.03, 0.1][level as usize]),
            prop::collection::vec(
                prop::sample::select(vec!["..", ".", "", "main.tf", "sub", "a", "b", "mod", "l"]),
                1..6,
            ),
        )
            .prop_map(|(absolute, parts)| {
                let mut t = if absolute { "/".to_owned() } else { String::new() };
                t.push_str(&parts.join("/"));
                t.into_bytes()
            }),
        2 => entry_name(None, level),
        bad => (50usize..200).prop_map(move |n| up.repeat(n).into_bytes()),
    ]
}

fn kind(top: Option<&'static str>, level: Level) -> impl Strategy<Value = Kind> {
    let main = top.map_or("main.tf".to_owned(), |t| format!("{t}/main.tf"));
    let special = [1, 1, 2][level as usize];
    let specials = if level > 0 {
        vec![b'3', b'4', b'6', b'7', b'S', b'V', b'g', b'Z']
    } else {
        vec![b'g']
    };
    prop_oneof![
        16 => (
            prop_oneof![12 => 0usize..80, 1 => 1000usize..300_000],
            any::<u8>(),
            prop::sample::select(vec![0o644, 0o755, 0o600, 0o4755, 0, 0o7777]),
        )
            .prop_map(|(len, seed, mode)| Kind::File { len, seed, mode }),
        6 => Just(Kind::Dir),
        5 => link_target(level).prop_map(Kind::Symlink),
        3 => prop_oneof![
            entry_name(None, level),
            entry_name(top, level),
            Just(main.clone().into_bytes()),
            Just(format!("./{main}").into_bytes()),
        ]
        .prop_map(Kind::Hard),
        special => prop::sample::select(specials).prop_map(Kind::Special),
    ]
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![6 => Just(Form::Plain), 1 => Just(Form::Gnu), 1 => Just(Form::Pax)]
}

/// An entry; directories mostly end with `/`, other entries seldom (hostile).
fn entry(top: Option<&'static str>, level: Level) -> impl Strategy<Value = Entry> {
    let odd_slash = [0.0, 0.02, 0.1][level as usize];
    (
        entry_name(top, level),
        kind(top, level),
        form(),
        0.0..1.0f64,
    )
        .prop_map(move |(mut name, kind, form, dice)| {
            let slash = if matches!(kind, Kind::Dir) {
                dice < 0.7
            } else {
                dice < odd_slash
            };
            if slash {
                name.push(b'/');
            }
            Entry { name, kind, form }
        })
}

/// A random archive model: entries under an optional common top directory,
/// often with a `main.tf` at the module root so that some are accepted.
fn model() -> impl Strategy<Value = Model> {
    (
        prop::sample::select(vec![None, None, Some("mod"), Some("repo-abc")]),
        0..3 as Level,
        any::<bool>(),
        any::<prop::sample::Index>(),
        prop::bool::weighted(0.75),
        prop::bool::weighted(0.3),
    )
        .prop_flat_map(|(top, level, top_entry, at, with_main, deflate)| {
            prop::collection::vec(entry(top, level), 0..10).prop_map(move |mut entries| {
                let root = top.map_or(String::new(), |t| format!("{t}/"));
                if with_main {
                    let main = Entry {
                        name: format!("{root}main.tf").into_bytes(),
                        kind: Kind::File {
                            len: 19,
                            seed: 3,
                            mode: 0o644,
                        },
                        form: Form::Plain,
                    };
                    entries.insert(at.index(entries.len() + 1), main);
                }
                if let (Some(top), true) = (top, top_entry) {
                    let dir = Entry {
                        name: format!("{top}/").into_bytes(),
                        kind: Kind::Dir,
                        form: Form::Plain,
                    };
                    entries.insert(0, dir);
                }
                Model { entries, deflate }
            })
        })
}

fn limits() -> impl Strategy<Value = ArchiveLimits> {
    prop_oneof![
        3 => Just(ArchiveLimits::default()),
        1 => (0u64..400_000, 0u64..16).prop_map(|(bytes, entries)| ArchiveLimits::new(bytes, entries)),
    ]
}

fn subdir() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        prop::sample::select(vec![
            "sub", "mod", "./sub/", "a/b", "sub/", "../x", "/abs", "", ".", "a\\b", "C:x",
        ])
        .prop_map(String::from),
        "\\PC{0,8}",
    ])
}

// -- writers -----------------------------------------------------------------

const BLOCK: usize = 512;

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % BLOCK;
    if rem != 0 {
        out.resize(out.len() + BLOCK - rem, 0);
    }
}

fn header(name: &[u8], flag: u8, size: u64, link: &[u8], mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let n = name.len().min(100);
    h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
    let l = link.len().min(100);
    h.as_old_mut().linkname[..l].copy_from_slice(&link[..l]);
    h.set_entry_type(tar::EntryType::new(flag));
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    h
}

fn push_entry(out: &mut Vec<u8>, h: &tar::Header, data: &[u8]) {
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    pad(out);
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len.to_string().len() + rest != len {
        len = len.to_string().len() + rest;
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// The uncompressed tar stream of a model.
fn tar_stream(model: &Model) -> Vec<u8> {
    let mut out = Vec::new();
    for e in &model.entries {
        let (flag, data, link, mode): (u8, Vec<u8>, &[u8], u32) = match &e.kind {
            Kind::File { len, seed, mode } => (b'0', file_data(*len, *seed), b"", *mode),
            Kind::Dir => (b'5', Vec::new(), b"", 0o755),
            Kind::Symlink(t) => (b'2', Vec::new(), t, 0o777),
            Kind::Hard(t) => (b'1', Vec::new(), t, 0o644),
            Kind::Special(f) => (*f, Vec::new(), b"", 0o644),
        };
        let long_name = e.name.len() > 100 || matches!(e.form, Form::Gnu);
        let long_link = link.len() > 100 || (matches!(e.form, Form::Gnu) && !link.is_empty());
        match e.form {
            Form::Pax => {
                let mut records = pax_record("path", &e.name);
                if !link.is_empty() {
                    records.extend(pax_record("linkpath", link));
                }
                let h = header(b"PaxHeaders/entry", b'x', records.len() as u64, b"", 0o644);
                push_entry(&mut out, &h, &records);
            }
            Form::Plain | Form::Gnu => {
                if long_link {
                    let mut l = link.to_vec();
                    l.push(0);
                    let h = header(b"././@LongLink", b'K', l.len() as u64, b"", 0o644);
                    push_entry(&mut out, &h, &l);
                }
                if long_name {
                    let mut n = e.name.clone();
                    n.push(0);
                    let h = header(b"././@LongLink", b'L', n.len() as u64, b"", 0o644);
                    push_entry(&mut out, &h, &n);
                }
            }
        }
        let h = header(&e.name, flag, data.len() as u64, link, mode);
        push_entry(&mut out, &h, &data);
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

/// (name, data, unix mode) for a zip entry; hard links are stored as files.
fn zip_entries(model: &Model) -> Vec<(Vec<u8>, Vec<u8>, u32)> {
    model
        .entries
        .iter()
        .map(|e| match &e.kind {
            Kind::File { len, seed, mode } => {
                (e.name.clone(), file_data(*len, *seed), 0o100_000 | mode)
            }
            Kind::Dir => (e.name.clone(), Vec::new(), 0o040_755),
            Kind::Symlink(t) => (e.name.clone(), t.clone(), 0o120_777),
            Kind::Hard(_) => (e.name.clone(), b"hard".to_vec(), 0o100_644),
            Kind::Special(f) => {
                let t = [0o010_000, 0o020_000, 0o060_000, 0o140_000];
                (e.name.clone(), Vec::new(), t[usize::from(*f) % 4] | 0o644)
            }
        })
        .collect()
}

/// A zip written by hand: stored entries, Unix creator, any names (duplicates too).
fn raw_zip(entries: &[(Vec<u8>, Vec<u8>, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, mode) in entries {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let len = data.len() as u32;
        let name_len = name.len() as u16;
        out.extend_from_slice(b"PK\x03\x04");
        for v in [20u16, 0, 0, 0, 33] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(data);

        central.extend_from_slice(b"PK\x01\x02");
        for v in [(3u16 << 8) | 20, 20, 0, 0, 0, 33] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&len.to_le_bytes());
        central.extend_from_slice(&len.to_le_bytes());
        for v in [name_len, 0, 0, 0, 0] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&(mode << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    let count = entries.len() as u16;
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The same entries through the `zip` crate's writer (deflate), if it takes them.
fn deflate_zip(entries: &[(Vec<u8>, Vec<u8>, u32)]) -> Option<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data, mode) in entries {
        let name = std::str::from_utf8(name).ok()?;
        let options = SimpleFileOptions::default().unix_permissions(mode & 0o7777);
        match mode & 0o170_000 {
            0o040_000 => w.add_directory(name, options).ok()?,
            0o120_000 => w
                .add_symlink(name, std::str::from_utf8(data).ok()?, options)
                .ok()?,
            0o100_000 => {
                w.start_file(name, options).ok()?;
                w.write_all(data).ok()?;
            }
            _ => return None,
        }
    }
    Some(w.finish().ok()?.into_inner())
}

fn targz_of(model: &Model) -> Bytes {
    Bytes::from(gzip(&tar_stream(model)))
}

fn zip_of(model: &Model) -> Bytes {
    let entries = zip_entries(model);
    let bytes = if model.deflate {
        deflate_zip(&entries).unwrap_or_else(|| raw_zip(&entries))
    } else {
        raw_zip(&entries)
    };
    Bytes::from(bytes)
}

// -- oracles -----------------------------------------------------------------

/// The documented path rules, written independently: relative, `/`-separated,
/// no `..`, no backslash or NUL, no drive letters, no all-dots-and-spaces
/// components, at most 4096 bytes; `.` and empty components dropped.
fn normalize(raw: &[u8]) -> Result<String, &'static str> {
    let raw = std::str::from_utf8(raw).map_err(|_| "not UTF-8")?;
    if raw.is_empty() {
        return Err("empty");
    }
    if raw.len() > 4096 {
        return Err("too long");
    }
    if raw.contains(['\\', '\0']) {
        return Err("backslash or NUL");
    }
    if raw.starts_with('/') {
        return Err("absolute");
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("parent"),
            p if p.len() >= 2
                && p.as_bytes()[0].is_ascii_alphabetic()
                && p.as_bytes()[1] == b':' =>
            {
                return Err("drive letter")
            }
            p if p.bytes().all(|b| b == b'.' || b == b' ') => return Err("dots"),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

#[derive(Debug)]
enum OutKind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hard(String),
}

#[derive(Debug)]
struct Out {
    path: String,
    kind: OutKind,
    /// The unix mode as stored (0 where a zip entry has none).
    mode: u32,
}

/// Reads an accepted archive back with the `tar` / `zip` crates.
fn read_back(archive: &Archive) -> Result<Vec<Out>, String> {
    let mut out = Vec::new();
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|e| format!("not UTF-8: {e}"));
    match archive.info().format {
        ArchiveFormat::TarGz => {
            let mut tar = tar::Archive::new(flate2::read::MultiGzDecoder::new(Cursor::new(
                archive.to_bytes().unwrap(),
            )));
            for entry in tar.entries().map_err(|e| e.to_string())? {
                let mut entry = entry.map_err(|e| e.to_string())?;
                // Nothing is unpacked from a global header (go-getter skips it).
                if entry.header().entry_type() == tar::EntryType::XGlobalHeader {
                    continue;
                }
                let path = text(&entry.path_bytes())?;
                let link = text(&entry.link_name_bytes().unwrap_or_default())?;
                let kind = match entry.header().entry_type() {
                    tar::EntryType::Regular => {
                        let mut data = Vec::new();
                        entry.read_to_end(&mut data).map_err(|e| e.to_string())?;
                        OutKind::File(data)
                    }
                    tar::EntryType::Directory => OutKind::Dir,
                    tar::EntryType::Symlink => OutKind::Symlink(link),
                    tar::EntryType::Link => OutKind::Hard(link),
                    other => return Err(format!("{path:?} is a {other:?}")),
                };
                let mode = entry.header().mode().map_err(|e| e.to_string())?;
                out.push(Out { path, kind, mode });
            }
        }
        ArchiveFormat::Zip => {
            let mut zip = zip::ZipArchive::new(Cursor::new(archive.to_bytes().unwrap()))
                .map_err(|e| e.to_string())?;
            for i in 0..zip.len() {
                let mut f = zip.by_index(i).map_err(|e| e.to_string())?;
                let path = text(f.name_raw())?;
                let mode = f.unix_mode().unwrap_or(0);
                let mut data = Vec::new();
                f.read_to_end(&mut data).map_err(|e| e.to_string())?;
                let kind = match mode & 0o170_000 {
                    0o120_000 => OutKind::Symlink(text(&data)?),
                    0o040_000 => OutKind::Dir,
                    0 | 0o100_000 if path.ends_with('/') => OutKind::Dir,
                    0 | 0o100_000 => OutKind::File(data),
                    other => return Err(format!("{path:?} has mode {other:o}")),
                };
                out.push(Out { path, kind, mode });
            }
        }
    }
    Ok(out)
}

/// Resolves the symlink at `path` to `target` as a file system would, through
/// the other symlinks; fails if that leaves the root.
fn resolve(path: &str, target: &str, links: &HashMap<String, String>) -> Result<(), String> {
    let mut dir: Vec<&str> = path.split('/').collect();
    dir.pop();
    let mut pending: VecDeque<String> = target.split('/').map(str::to_owned).collect();
    let mut hops = 0;
    let mut stack: Vec<String> = dir.into_iter().map(str::to_owned).collect();
    while let Some(part) = pending.pop_front() {
        match part.as_str() {
            "" | "." => {}
            ".." => {
                stack
                    .pop()
                    .ok_or_else(|| format!("{path} -> {target} escapes"))?;
            }
            _ => {
                stack.push(part);
                if let Some(next) = links.get(&stack.join("/")) {
                    hops += 1;
                    if hops > 64 {
                        return Err(format!("{path} -> {target}: too many hops"));
                    }
                    if next.starts_with('/') {
                        return Err(format!("{path} -> {target}: via absolute {next}"));
                    }
                    stack.pop();
                    for p in next.split('/').rev() {
                        pending.push_front(p.to_owned());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Everything an accepted archive must be. Returns the files (normalised path
/// and contents).
fn check_accepted(
    archive: &Archive,
    limits: &ArchiveLimits,
) -> Result<Vec<(String, Vec<u8>)>, TestCaseError> {
    prop_assert_eq!(
        detect_format(&archive.to_bytes().unwrap()),
        Some(archive.info().format)
    );
    let entries = read_back(archive).map_err(TestCaseError::fail)?;
    prop_assert!(
        entries.len() as u64 <= limits.max_entries,
        "{} entries",
        entries.len()
    );
    let mut links: HashMap<String, String> = HashMap::new();
    let mut earlier_files: HashSet<String> = HashSet::new();
    let mut files = Vec::new();
    let mut all: Vec<(String, bool)> = Vec::new();
    let mut total = 0u64;
    let mut root_tf = false;
    for e in &entries {
        let path = normalize(e.path.as_bytes())
            .map_err(|why| TestCaseError::fail(format!("{:?}: {why}", e.path)))?;
        prop_assert!(e.mode & 0o7000 == 0, "{:?} has mode 0o{:o}", e.path, e.mode);
        prop_assert!(
            !path.is_empty() || matches!(e.kind, OutKind::Dir),
            "{:?}",
            e.path
        );
        let is_tf = !path.contains('/')
            && !path.starts_with('.')
            && (path.ends_with(".tf") || path.ends_with(".tf.json"));
        match &e.kind {
            OutKind::File(data) => {
                total += data.len() as u64;
                root_tf |= is_tf;
                earlier_files.insert(path.clone());
                files.push((path.clone(), data.clone()));
            }
            OutKind::Hard(target) => {
                let target = normalize(target.as_bytes()).map_err(|why| {
                    TestCaseError::fail(format!("hard link {path} -> {target:?}: {why}"))
                })?;
                prop_assert!(
                    earlier_files.contains(&target),
                    "hard link {path} -> {target} names no earlier file"
                );
                root_tf |= is_tf;
                earlier_files.insert(path.clone());
            }
            OutKind::Symlink(target) => {
                prop_assert!(
                    !target.is_empty() && !target.starts_with('/') && !target.contains('\\'),
                    "symlink {path} -> {target:?}"
                );
                prop_assert!(
                    links.insert(path.clone(), target.clone()).is_none(),
                    "symlink {path} stored twice"
                );
            }
            OutKind::Dir => {}
        }
        if !path.is_empty() {
            all.push((path, matches!(e.kind, OutKind::Symlink(_))));
        }
    }
    prop_assert!(root_tf, "no .tf at the root: {entries:?}");
    prop_assert!(total <= limits.max_unpacked_bytes, "{total} bytes");
    for (path, is_link) in &all {
        prop_assert!(
            *is_link || !links.contains_key(path),
            "{path} is a symlink and something else"
        );
        for (at, _) in path.match_indices('/') {
            prop_assert!(
                !links.contains_key(&path[..at]),
                "{path} is under the symlink {}",
                &path[..at]
            );
        }
    }
    for (path, target) in &links {
        resolve(path, target, &links).map_err(TestCaseError::fail)?;
    }
    // The result re-validates to itself.
    let again = validate_archive(archive.to_bytes().unwrap(), limits);
    prop_assert_eq!(again.as_ref(), Ok(archive), "re-validation");
    Ok(files)
}

/// The module root `validate_archive` flattens: the single top-level
/// directory holding everything, per the contract.
fn single_top(model: &Model) -> Option<String> {
    let mut top: Option<String> = None;
    for e in &model.entries {
        if matches!(e.kind, Kind::Special(b'g')) {
            continue;
        }
        let path = normalize(&e.name).ok()?;
        if path.is_empty() {
            continue;
        }
        // A zip entry named `x/` is a directory whatever its mode (as Go reads
        // it); in tar such a file is refused anyway.
        let is_dir = matches!(e.kind, Kind::Dir) || e.name.ends_with(b"/");
        let first = match path.split_once('/') {
            Some((first, _)) => first.to_owned(),
            None if is_dir => path,
            None => return None,
        };
        match &top {
            Some(t) if *t != first => return None,
            _ => top = Some(first),
        }
    }
    top
}

/// Whether some entry's own path breaks the path rules (so the archive must be refused).
fn has_unsafe_path(model: &Model) -> bool {
    model
        .entries
        .iter()
        .any(|e| !matches!(e.kind, Kind::Special(b'g')) && normalize(&e.name).is_err())
}

/// Whether some file's mode has setuid, setgid or sticky bits (then the
/// archive may be rebuilt without them; the zip crate's writer drops them).
fn has_special_mode(model: &Model) -> bool {
    model
        .entries
        .iter()
        .any(|e| matches!(e.kind, Kind::File { mode, .. } if mode & 0o7000 != 0))
}

fn has_absolute_symlink(model: &Model) -> bool {
    model
        .entries
        .iter()
        .any(|e| matches!(&e.kind, Kind::Symlink(t) if t.starts_with(b"/")))
}

/// Every output file is an input file (at `prefix` + its path, or with
/// `one_more_level` also at `prefix` + one directory + its path) with the same
/// contents.
fn check_contents(
    model: &Model,
    files: &[(String, Vec<u8>)],
    prefix: &str,
    format: ArchiveFormat,
    one_more_level: bool,
) -> Result<(), TestCaseError> {
    for (path, data) in files {
        let full = format!("{prefix}{path}");
        let at_path = |p: &str| {
            p == full
                || (one_more_level
                    && p.strip_prefix(prefix)
                        .and_then(|rest| rest.split_once('/'))
                        .is_some_and(|(_, rest)| rest == path))
        };
        let found = model.entries.iter().any(|e| {
            normalize(&e.name).is_ok_and(|p| at_path(&p))
                && match &e.kind {
                    Kind::File { len, seed, .. } => file_data(*len, *seed) == *data,
                    // Hard links are plain files in zip models.
                    Kind::Hard(_) => format == ArchiveFormat::Zip && data == b"hard",
                    _ => false,
                }
        });
        prop_assert!(
            found,
            "output file {path} ({} bytes) is not input {full}",
            data.len()
        );
    }
    Ok(())
}

fn check_validated(
    model: &Model,
    input: &Bytes,
    limits: &ArchiveLimits,
) -> Result<(), TestCaseError> {
    let format = detect_format(input).unwrap();
    match validate_archive(input.clone(), limits) {
        Ok(archive) => {
            prop_assert!(!has_unsafe_path(model), "accepted an unsafe path");
            prop_assert!(!has_absolute_symlink(model), "accepted an absolute symlink");
            prop_assert_eq!(archive.info().format, format);
            let files = check_accepted(&archive, limits)?;
            let prefix = if archive.to_bytes().unwrap() == input {
                String::new()
            } else if let Some(top) = single_top(model) {
                format!("{top}/")
            } else {
                prop_assert!(
                    has_special_mode(model),
                    "rebuilt without a single top directory or special mode bits"
                );
                String::new()
            };
            check_contents(model, &files, &prefix, format, false)?;
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

// -- properties --------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn random_targz_archives(model in model(), limits in limits()) {
        check_validated(&model, &targz_of(&model), &limits)?;
    }

    #[test]
    fn random_zip_archives(model in model(), limits in limits()) {
        check_validated(&model, &zip_of(&model), &limits)?;
    }

    #[test]
    fn extract_module_on_random_archives(
        model in model(),
        zip in any::<bool>(),
        strip in any::<bool>(),
        subdir in subdir(),
        limits in limits(),
    ) {
        let input = if zip { zip_of(&model) } else { targz_of(&model) };
        let format = detect_format(&input).unwrap();
        let result = extract_module(input.clone(), strip, subdir.as_deref(), &limits);
        let Ok(archive) = result else {
            return Ok(());
        };
        prop_assert!(!has_unsafe_path(&model), "accepted an unsafe path");
        prop_assert_eq!(archive.info().format, format);
        let files = check_accepted(&archive, &limits)?;
        let sub = subdir.as_deref().map(|s| normalize(s.as_bytes()).unwrap()).unwrap_or_default();
        if !strip && sub.is_empty() {
            let validated = validate_archive(input, &limits);
            prop_assert_eq!(Ok(&archive), validated.as_ref());
            return Ok(());
        }
        let mut prefix = String::new();
        if strip {
            let top = single_top(&model);
            prop_assert!(top.is_some(), "stripped without a single top directory");
            prefix = format!("{}/", top.unwrap());
        }
        if !sub.is_empty() {
            prefix = format!("{prefix}{sub}/");
        }
        // The cut then passes validate_archive, which flattens it once more if
        // it left a single top directory.
        check_contents(&model, &files, &prefix, format, true)?;
    }

    #[test]
    fn mutated_archives(
        model in model(),
        zip in any::<bool>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
        compressed in any::<bool>(),
        strip in any::<bool>(),
        limits in limits(),
    ) {
        // Edits to the tar stream itself (re-compressed) reach the tar reader;
        // edits to the compressed bytes reach the gzip and zip readers.
        let mut bytes = if zip { zip_of(&model).to_vec() } else if compressed {
            targz_of(&model).to_vec()
        } else {
            tar_stream(&model)
        };
        for (at, byte) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        if !zip && !compressed {
            bytes = gzip(&bytes);
        }
        let bytes = Bytes::from(bytes);
        if let Ok(archive) = validate_archive(bytes.clone(), &limits) {
            check_accepted(&archive, &limits)?;
        }
        if let Ok(archive) = extract_module(bytes, strip, Some("sub"), &limits) {
            check_accepted(&archive, &limits)?;
        }
    }

    #[test]
    fn random_bytes(
        magic in prop::sample::select(vec![
            &b""[..], b"\x1f\x8b", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", b"PK\x03\x04", b"PK\x05\x06",
        ]),
        rest in prop::collection::vec(any::<u8>(), 0..2048),
        gzipped in prop::bool::weighted(0.3),
        strip in any::<bool>(),
        subdir in subdir(),
    ) {
        let limits = ArchiveLimits::default();
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&rest);
        if gzipped {
            bytes = gzip(&bytes);
        }
        let bytes = Bytes::from(bytes);
        if let Ok(archive) = validate_archive(bytes.clone(), &limits) {
            check_accepted(&archive, &limits)?;
        }
        if let Ok(archive) = extract_module(bytes, strip, subdir.as_deref(), &limits) {
            check_accepted(&archive, &limits)?;
        }
    }
}

/// `validate_archive_file` on `input` spooled to a temporary file agrees with
/// `validate_archive`: the same archive (format, SHA-256, size) or the same
/// error, and a file-backed result.
fn check_file_agrees(input: &Bytes, limits: &ArchiveLimits) -> Result<(), TestCaseError> {
    let dir = std::env::temp_dir();
    let mut file = tempfile::NamedTempFile::new_in(&dir).unwrap();
    file.write_all(input).unwrap();
    let path = file.into_temp_path();
    let spooled = path.to_path_buf();
    let from_file = validate_archive_file(path, limits, &dir)
        .map_err(|e| TestCaseError::fail(format!("I/O error: {e}")))?;
    let in_memory = validate_archive(input.clone(), limits);
    prop_assert_eq!(&from_file, &in_memory);
    if let Ok(archive) = &from_file {
        let stored = archive.file_path().map(std::path::Path::to_path_buf);
        prop_assert!(stored.is_some(), "not file-backed");
        let kept = archive.to_bytes().unwrap() == input;
        prop_assert_eq!(
            kept,
            stored == Some(spooled.clone()),
            "kept iff the same file"
        );
    }
    drop(from_file);
    prop_assert!(!spooled.exists(), "the spooled upload is left behind");
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn file_validation_agrees_with_memory(
        model in model(),
        zip in any::<bool>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        cut in prop::option::weighted(0.1, any::<prop::sample::Index>()),
        limits in limits(),
    ) {
        let mut bytes = if zip { zip_of(&model).to_vec() } else { targz_of(&model).to_vec() };
        for (at, byte) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        check_file_agrees(&Bytes::from(bytes), &limits)?;
    }
}

// -- valid modules are accepted ---------------------------------------------------

/// A valid module: unique file paths (`[a-k]` names, so they never collide
/// with the links), a `main.tf` at the root, symlinks (`zl*`, at the root) to
/// files or directories, tar hard links (`zh*`) to earlier files.
fn valid_module() -> impl Strategy<Value = (Model, bool)> {
    (
        prop::collection::btree_set("[a-k]{1,6}(/[a-k]{1,6}){0,2}\\.(tf|txt|sh)", 0..8),
        prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        prop::option::of(prop::sample::select(vec!["mod", "./mod", "repo-1"])),
        prop::bool::weighted(0.5),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(paths, links, hards, top, dot, deflate, zip)| {
            let mut root = match top {
                Some(t) => format!("{t}/"),
                None => String::new(),
            };
            if dot && top.is_none() {
                root = "./".to_owned();
            }
            let mut files: Vec<String> = vec!["main.tf".to_owned()];
            files.extend(paths.into_iter().filter(|p| p != "main.tf"));
            let mut entries = Vec::new();
            let mut dirs = HashSet::new();
            for (i, f) in files.iter().enumerate() {
                let mut dir = String::new();
                for part in f.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
                    dir = if dir.is_empty() {
                        (*part).to_owned()
                    } else {
                        format!("{dir}/{part}")
                    };
                    if dirs.insert(dir.clone()) {
                        entries.push(Entry {
                            name: format!("{root}{dir}/").into_bytes(),
                            kind: Kind::Dir,
                            form: Form::Plain,
                        });
                    }
                }
                entries.push(Entry {
                    name: format!("{root}{f}").into_bytes(),
                    kind: Kind::File {
                        len: 10 + i,
                        seed: i as u8,
                        mode: 0o644,
                    },
                    form: if f.len() > 12 { Form::Pax } else { Form::Plain },
                });
            }
            let targets: Vec<String> = files.iter().cloned().chain(dirs.iter().cloned()).collect();
            for (i, at) in links.iter().enumerate() {
                entries.push(Entry {
                    name: format!("{root}zl{i}").into_bytes(),
                    kind: Kind::Symlink(at.get(&targets).clone().into_bytes()),
                    form: Form::Plain,
                });
            }
            if !zip {
                for (i, at) in hards.iter().enumerate() {
                    entries.push(Entry {
                        name: format!("{root}zh{i}").into_bytes(),
                        kind: Kind::Hard(format!("{root}{}", at.get(&files)).into_bytes()),
                        form: Form::Plain,
                    });
                }
            }
            (Model { entries, deflate }, zip)
        })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn valid_modules_are_accepted((model, zip) in valid_module()) {
        let limits = ArchiveLimits::default();
        let input = if zip { zip_of(&model) } else { targz_of(&model) };
        let archive = validate_archive(input.clone(), &limits)
            .map_err(|e| TestCaseError::fail(format!("{e} for {model:?}")))?;
        let files = check_accepted(&archive, &limits)?;
        let prefix = single_top(&model).map(|t| format!("{t}/")).unwrap_or_default();
        prop_assert_eq!(prefix.is_empty(), archive.to_bytes().unwrap() == input, "flattened iff one top directory");
        check_contents(&model, &files, &prefix, archive.info().format, false)?;
        let expected = model.entries.iter().filter(|e| matches!(e.kind, Kind::File { .. })).count();
        prop_assert_eq!(files.len(), expected);
    }
}
