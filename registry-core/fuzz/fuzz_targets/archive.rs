//! `validate_archive` and `extract_module` on the bytes: never a panic; an
//! accepted archive keeps its format, re-validates to itself and, read back
//! with the `tar` / `zip` crates, holds only relative paths free of `..`, no
//! absolute or backslashed link targets, and a `.tf` file at its root.
//!
//! The first byte holds options: bit 0 strips a top directory, bits 1-2 pick
//! a subdirectory (none, `sub`, `mod`, `a/b`), bit 3 small limits, bit 4
//! gzips the rest first (so mutations reach the tar reader past gzip's CRC).

#![no_main]

use std::io::{Cursor, Read};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use registry_core::archive::{detect_format, extract_module, validate_archive};
use registry_core::{Archive, ArchiveFormat, ArchiveLimits};

fn safe_path(path: &str) -> bool {
    !path.starts_with('/') && !path.contains(['\\', '\0']) && path.split('/').all(|c| c != "..")
}

/// (path, is a link, link target) of every entry.
fn entries(archive: &Archive) -> Vec<(String, bool, String)> {
    let mut out = Vec::new();
    match archive.info().format {
        ArchiveFormat::TarGz => {
            let mut tar =
                tar::Archive::new(flate2::read::MultiGzDecoder::new(Cursor::new(archive.to_bytes().unwrap())));
            for entry in tar.entries().expect("an accepted tar reads") {
                let entry = entry.expect("an accepted tar reads");
                let kind = entry.header().entry_type();
                if kind == tar::EntryType::XGlobalHeader {
                    continue;
                }
                assert!(
                    matches!(
                        kind,
                        tar::EntryType::Regular
                            | tar::EntryType::Directory
                            | tar::EntryType::Symlink
                            | tar::EntryType::Link
                    ),
                    "entry type {kind:?}"
                );
                let path = String::from_utf8(entry.path_bytes().into_owned()).expect("UTF-8 path");
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8(t.into_owned()).expect("UTF-8 target"));
                out.push((path, target.is_some(), target.unwrap_or_default()));
            }
        }
        ArchiveFormat::Zip => {
            let mut zip = zip::ZipArchive::new(Cursor::new(archive.to_bytes().unwrap()))
                .expect("an accepted zip reads");
            for i in 0..zip.len() {
                let mut f = zip.by_index(i).expect("an accepted zip reads");
                let path = String::from_utf8(f.name_raw().to_vec()).expect("UTF-8 path");
                let link = f.unix_mode().is_some_and(|m| m & 0o170_000 == 0o120_000);
                let mut data = Vec::new();
                f.read_to_end(&mut data).expect("an accepted zip reads");
                let target = if link {
                    String::from_utf8(data).expect("UTF-8 target")
                } else {
                    String::new()
                };
                out.push((path, link, target));
            }
        }
    }
    out
}

fn check(archive: &Archive, limits: &ArchiveLimits) {
    assert_eq!(detect_format(&archive.to_bytes().unwrap()), Some(archive.info().format));
    let again = validate_archive(archive.to_bytes().unwrap(), limits);
    assert_eq!(again.as_ref(), Ok(archive), "re-validation");
    let entries = entries(archive);
    assert!(entries.len() as u64 <= limits.max_entries);
    let mut root_tf = false;
    for (path, link, target) in &entries {
        assert!(safe_path(path), "{path:?}");
        if *link {
            assert!(
                !target.is_empty() && !target.starts_with('/') && !target.contains('\\'),
                "{path:?} -> {target:?}"
            );
        }
        let name = path.trim_start_matches("./");
        root_tf |= !name.contains('/')
            && !name.starts_with('.')
            && (name.ends_with(".tf") || name.ends_with(".tf.json"));
    }
    assert!(root_tf, "no .tf at the root: {entries:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let limits = if options & 8 != 0 {
        ArchiveLimits::new(4096, 8)
    } else {
        ArchiveLimits::default()
    };
    let bytes = if options & 16 != 0 {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, rest).unwrap();
        Bytes::from(gz.finish().unwrap())
    } else {
        Bytes::copy_from_slice(rest)
    };
    if let Ok(archive) = validate_archive(bytes.clone(), &limits) {
        check(&archive, &limits);
    }
    let strip = options & 1 != 0;
    let subdir = [None, Some("sub"), Some("mod"), Some("a/b")][usize::from(options >> 1 & 3)];
    if let Ok(archive) = extract_module(bytes, strip, subdir, &limits) {
        check(&archive, &limits);
    }
});
