//! [`ArchiveBuilder`]: module archives for tests.

use std::io::{Cursor, Write as _};

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

use crate::storage::ArchiveFormat;

/// Builds `.tar.gz` and `.zip` archives, entry by entry, in the order given.
///
/// Paths are written as given, so unsafe ones (`../x`, `/etc/passwd`) can be
/// built too; names and link targets longer than a tar header holds become
/// GNU long-name entries. Directory names end in `/` in both formats. With
/// [`top_dir`](Self::top_dir) every entry (and every hard link's target)
/// moves under one directory, written first, as in a repository tarball.
/// The same builder gives the same bytes every time.
///
/// ```
/// use registry_core::archive::{extract_module, validate_archive};
/// use registry_core::testing::ArchiveBuilder;
/// use registry_core::ArchiveLimits;
///
/// let module = ArchiveBuilder::new()
///     .file("main.tf", "module \"net\" { source = \"./modules/net\" }\n")
///     .dir("modules/net")
///     .file("modules/net/main.tf", "variable \"cidr\" {}\n")
///     .file_with_mode("scripts/check.sh", "#!/bin/sh\n", 0o755)
///     .symlink("net", "modules/net");
/// let limits = ArchiveLimits::default();
/// assert!(validate_archive(module.tar_gz(), &limits).is_ok());
/// assert!(validate_archive(module.zip(), &limits).is_ok());
///
/// // A GitHub tarball: the module under `repo-v1/`, cut out by `extract_module`.
/// let tarball = module.top_dir("repo-v1").tar_gz();
/// assert!(extract_module(tarball, true, Some("modules/net"), &limits).is_ok());
///
/// let escaping = ArchiveBuilder::module("").file("../evil.tf", "").tar_gz();
/// assert!(validate_archive(escaping, &limits).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ArchiveBuilder {
    top_dir: Option<String>,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
enum Entry {
    File {
        path: String,
        data: Bytes,
        mode: u32,
    },
    Dir {
        path: String,
    },
    Symlink {
        path: String,
        target: String,
    },
    HardLink {
        path: String,
        target: String,
    },
}

impl ArchiveBuilder {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// A module of one `main.tf` holding `main_tf`.
    pub fn module(main_tf: impl Into<Bytes>) -> Self {
        Self::new().file("main.tf", main_tf)
    }

    /// A regular file, mode `0o644`.
    pub fn file(self, path: &str, data: impl Into<Bytes>) -> Self {
        self.file_with_mode(path, data, 0o644)
    }

    /// A regular file with permission bits `mode` (e.g. `0o755`).
    pub fn file_with_mode(mut self, path: &str, data: impl Into<Bytes>, mode: u32) -> Self {
        self.entries.push(Entry::File {
            path: path.to_owned(),
            data: data.into(),
            mode,
        });
        self
    }

    /// A directory, mode `0o755`.
    pub fn dir(mut self, path: &str) -> Self {
        self.entries.push(Entry::Dir {
            path: path.to_owned(),
        });
        self
    }

    /// A symbolic link at `path` to `target` (relative to the link's directory).
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry::Symlink {
            path: path.to_owned(),
            target: target.to_owned(),
        });
        self
    }

    /// A hard link at `path` to the entry at `target` (a path in the
    /// archive). Tar only: [`zip`](Self::zip) panics on one.
    pub fn hard_link(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry::HardLink {
            path: path.to_owned(),
            target: target.to_owned(),
        });
        self
    }

    /// Puts everything under the directory `name`.
    pub fn top_dir(mut self, name: &str) -> Self {
        self.top_dir = Some(name.trim_end_matches('/').to_owned());
        self
    }

    /// The archive in `format`.
    pub fn build(&self, format: ArchiveFormat) -> Bytes {
        match format {
            ArchiveFormat::TarGz => self.tar_gz(),
            ArchiveFormat::Zip => self.zip(),
        }
    }

    /// The uncompressed tar stream (ready to corrupt before gzipping).
    pub fn tar(&self) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for entry in self.placed() {
            let (kind, path, link, mode, data) = match &entry {
                Entry::File { path, data, mode } => (b'0', path, "", *mode, &data[..]),
                Entry::Dir { path } => (b'5', path, "", 0o755, &[][..]),
                Entry::Symlink { path, target } => (b'2', path, target.as_str(), 0o777, &[][..]),
                Entry::HardLink { path, target } => (b'1', path, target.as_str(), 0o644, &[][..]),
            };
            if link.len() > 100 {
                append_long_name(&mut tar, b'K', link);
            }
            if path.len() > 100 {
                append_long_name(&mut tar, b'L', path);
            }
            let header = tar_header(kind, path, link, mode, data.len());
            tar.append(&header, data).expect("writing to memory");
        }
        tar.into_inner().expect("writing to memory")
    }

    /// The `.tar.gz` archive.
    pub fn tar_gz(&self) -> Bytes {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&self.tar()).expect("writing to memory");
        Bytes::from(gz.finish().expect("writing to memory"))
    }

    /// The `.zip` archive (deflated entries, Unix modes).
    ///
    /// # Panics
    /// On a [`hard_link`](Self::hard_link): zip has none.
    pub fn zip(&self) -> Bytes {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let mode = |mode| SimpleFileOptions::default().unix_permissions(mode);
        for entry in self.placed() {
            let written = match entry {
                Entry::File {
                    path,
                    data,
                    mode: m,
                } => zip
                    .start_file(path, mode(m))
                    .and_then(|()| Ok(zip.write_all(&data)?)),
                Entry::Dir { path } => zip.add_directory(path, mode(0o755)),
                Entry::Symlink { path, target } => zip.add_symlink(path, target, mode(0o777)),
                Entry::HardLink { path, .. } => panic!("{path}: zip archives have no hard links"),
            };
            written.expect("writing to memory");
        }
        Bytes::from(zip.finish().expect("writing to memory").into_inner())
    }

    /// The entries as written: under the top directory if there is one, with
    /// directory names ending in `/`.
    fn placed(&self) -> Vec<Entry> {
        let under = |path: &str| match &self.top_dir {
            Some(top) => format!("{top}/{path}"),
            None => path.to_owned(),
        };
        let top = self.top_dir.iter().map(|top| Entry::Dir {
            path: format!("{top}/"),
        });
        let entries = self.entries.iter().map(|entry| match entry {
            Entry::File { path, data, mode } => Entry::File {
                path: under(path),
                data: data.clone(),
                mode: *mode,
            },
            Entry::Dir { path } if path.ends_with('/') => Entry::Dir { path: under(path) },
            Entry::Dir { path } => Entry::Dir {
                path: under(&format!("{path}/")),
            },
            Entry::Symlink { path, target } => Entry::Symlink {
                path: under(path),
                target: target.clone(),
            },
            Entry::HardLink { path, target } => Entry::HardLink {
                path: under(path),
                target: under(target),
            },
        });
        top.chain(entries).collect()
    }
}

/// A GNU header (`name` and `link` cut to the 100 bytes the header holds).
fn tar_header(kind: u8, name: &str, link: &str, mode: u32, size: usize) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    let old = header.as_old_mut();
    let (name, link) = (name.as_bytes(), link.as_bytes());
    old.name[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    old.linkname[..link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    header.set_entry_type(tar::EntryType::new(kind));
    header.set_mode(mode);
    header.set_size(size as u64);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
    header
}

/// A GNU `././@LongLink` entry carrying the full name (`L`) or link target (`K`)
/// of the entry after it.
fn append_long_name(tar: &mut tar::Builder<Vec<u8>>, kind: u8, value: &str) {
    let mut data = value.as_bytes().to_vec();
    data.push(0);
    let header = tar_header(kind, "././@LongLink", "", 0o644, data.len());
    tar.append(&header, &data[..]).expect("writing to memory");
}
