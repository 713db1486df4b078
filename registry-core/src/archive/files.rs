//! Reading the files metadata extraction wants out of a validated archive.

use std::io::{self, Read, Seek};

use module_metadata::{wanted, ExtractionLimits, SourceFile};

use super::paths::normalize_path;
use crate::storage::{Archive, ArchiveContent, ArchiveFormat};

/// The regular files of a validated archive that
/// [`module_metadata::wanted`] accepts, in archive order, for
/// [`module_metadata::extract`].
///
/// # Contract
/// - `archive` has passed [`validate_archive`](crate::archive::validate_archive)
///   (flat, safe paths); paths are normalised (`./main.tf` is `main.tf`).
/// - Only regular files: links, directories and anything else are skipped,
///   so a link cannot smuggle in content from elsewhere.
/// - Bounded like extraction itself: at most `max_files + 1` files; a
///   configuration file is read to at most `max_file_bytes + 1` bytes and a
///   README to at most `max_readme_bytes + 4` (extraction then warns about,
///   or cuts, what is over); reading stops once more than
///   `max_total_bytes` were read. Memory is therefore at most
///   `max_total_bytes` plus one file.
///
/// Blocking I/O (a file-backed archive, decompression): call it off the
/// async runtime's workers.
///
/// # Errors
/// What reading the archive fails with. A validated archive that stops
/// parsing here (it changed on disk) is an [`io::ErrorKind::InvalidData`].
pub fn module_files(archive: &Archive, limits: &ExtractionLimits) -> io::Result<Vec<SourceFile>> {
    match archive.content() {
        ArchiveContent::Memory(bytes) => {
            read_files(archive.info().format, io::Cursor::new(&bytes[..]), limits)
        }
        ArchiveContent::File(path) => read_files(
            archive.info().format,
            io::BufReader::new(std::fs::File::open(path)?),
            limits,
        ),
    }
}

fn read_files(
    format: ArchiveFormat,
    input: impl Read + Seek,
    limits: &ExtractionLimits,
) -> io::Result<Vec<SourceFile>> {
    let mut budget = Budget::new(limits);
    match format {
        ArchiveFormat::TarGz => {
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(input));
            for entry in tar.entries()? {
                let entry = entry?;
                if !entry.header().entry_type().is_file() {
                    continue;
                }
                let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                if !budget.take(&raw, entry)? {
                    break;
                }
            }
        }
        ArchiveFormat::Zip => {
            let mut zip = zip::ZipArchive::new(input).map_err(invalid)?;
            for index in 0..zip.len() {
                let file = zip.by_index(index).map_err(invalid)?;
                if !file.is_file() || file.is_symlink() {
                    continue;
                }
                let raw = file.name().to_owned();
                if !budget.take(&raw, file)? {
                    break;
                }
            }
        }
    }
    Ok(budget.files)
}

/// The files read so far and what the limits leave.
struct Budget<'a> {
    limits: &'a ExtractionLimits,
    files: Vec<SourceFile>,
    total: usize,
}

impl<'a> Budget<'a> {
    fn new(limits: &'a ExtractionLimits) -> Self {
        Self {
            limits,
            files: Vec::new(),
            total: 0,
        }
    }

    /// Reads the entry at `raw_path` if it is wanted; `false` once reading
    /// should stop.
    fn take(&mut self, raw_path: &str, entry: impl Read) -> io::Result<bool> {
        let Ok(path) = normalize_path(raw_path) else {
            return Ok(true);
        };
        if !wanted(&path) {
            return Ok(true);
        }
        let is_readme = path
            .rsplit('/')
            .next()
            .is_some_and(|f| f.eq_ignore_ascii_case("README.md"));
        let cap = if is_readme {
            self.limits.max_readme_bytes.saturating_add(4)
        } else {
            self.limits.max_file_bytes.saturating_add(1)
        };
        let mut contents = Vec::new();
        entry
            .take(u64::try_from(cap).unwrap_or(u64::MAX))
            .read_to_end(&mut contents)?;
        self.total = self.total.saturating_add(contents.len());
        self.files.push(SourceFile::new(path, contents));
        Ok(self.files.len() <= self.limits.max_files && self.total <= self.limits.max_total_bytes)
    }
}

fn invalid(e: zip::result::ZipError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn paths(files: &[SourceFile]) -> Vec<&str> {
        files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn reads_wanted_regular_files_of_both_formats() {
        let entries = [
            E::File("./main.tf", b"variable \"a\" {}\n"),
            E::File("README.md", b"# A\n"),
            E::File("modules/net/main.tf", b"output \"o\" { value = 1 }\n"),
            E::File("docs/other.tf", b"ignored"),
            E::File("image.png", b"ignored"),
        ];
        for archive in [
            check(targz(&entries)).unwrap(),
            check(zip_bytes(&entries)).unwrap(),
        ] {
            let files = module_files(&archive, &ExtractionLimits::default()).unwrap();
            assert_eq!(
                paths(&files),
                ["main.tf", "README.md", "modules/net/main.tf"]
            );
            assert_eq!(files[0].contents, b"variable \"a\" {}\n");
        }
    }

    #[test]
    fn links_are_not_followed() {
        let entries = [
            E::File("main.tf", b"variable \"a\" {}\n"),
            E::File("secret.txt", b"do not read"),
            E::Symlink("extra.tf", "secret.txt"),
        ];
        let archive = check(targz(&entries)).unwrap();
        let files = module_files(&archive, &ExtractionLimits::default()).unwrap();
        assert_eq!(paths(&files), ["main.tf"]);
    }

    #[test]
    fn reads_are_bounded() {
        let big = vec![b'#'; 5000];
        let mut entries = vec![E::File("main.tf", &big), E::File("README.md", &big)];
        let names: Vec<String> = (0..50).map(|i| format!("f{i}.tf")).collect();
        entries.extend(names.iter().map(|n| E::File(n, b"locals {}\n")));
        let archive = check(targz(&entries)).unwrap();
        let mut limits = ExtractionLimits::default();
        limits.max_file_bytes = 100;
        limits.max_readme_bytes = 10;
        limits.max_files = 5;
        let files = module_files(&archive, &limits).unwrap();
        assert_eq!(
            files[0].contents.len(),
            101,
            "one byte over, so extraction warns"
        );
        assert_eq!(files[1].contents.len(), 14);
        assert_eq!(files.len(), 6, "max_files + 1, so extraction warns");

        let mut limits = ExtractionLimits::default();
        limits.max_total_bytes = 6000;
        let files = module_files(&archive, &limits).unwrap();
        assert_eq!(paths(&files), ["main.tf", "README.md"]);
    }

    #[test]
    fn a_file_backed_archive_reads_the_same() {
        let entries = [E::File("main.tf", b"variable \"a\" {}\n")];
        let archive = validate_file(&zip_bytes(&entries), &Default::default()).unwrap();
        assert!(archive.file_path().is_some());
        let files = module_files(&archive, &ExtractionLimits::default()).unwrap();
        assert_eq!(paths(&files), ["main.tf"]);
    }
}
