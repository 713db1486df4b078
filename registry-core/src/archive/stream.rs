//! What the format readers and writers read from and write to: any reader or
//! writer, with its I/O failures kept apart from verdicts on the archive.
//!
//! The `tar`, `flate2` and `zip` crates report a failing read the way they
//! report a truncated archive. The reader and the writer are therefore
//! wrapped in [`Tracked`] and [`TrackedWriter`], which record the first error
//! they give in an [`IoFault`]; that error then wins over whatever verdict was
//! reached ([`IoFault::verdict`]), so a file that cannot be read (or a spool
//! directory that is full) is never taken for a corrupt upload.

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use tempfile::TempPath;

use super::ArchiveError;

/// Why validation stopped: a verdict on the archive, or a failure to read it
/// or to write the rebuilt archive.
#[derive(Debug)]
pub(super) enum Failure {
    Archive(ArchiveError),
    Io(io::Error),
}

impl From<ArchiveError> for Failure {
    fn from(e: ArchiveError) -> Self {
        Self::Archive(e)
    }
}

/// The first read or write error of the [`Tracked`] readers and
/// [`TrackedWriter`]s sharing it.
#[derive(Default)]
pub(super) struct IoFault(Cell<Option<io::Error>>);

impl fmt::Debug for IoFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoFault").finish_non_exhaustive()
    }
}

impl IoFault {
    /// Wraps a reader whose failures this records.
    pub(super) fn track<T>(&self, inner: T) -> Tracked<'_, T> {
        Tracked { inner, fault: self }
    }

    /// Wraps a writer, which starts empty, whose failures this records.
    pub(super) fn track_writer<W>(&self, inner: W) -> TrackedWriter<'_, W> {
        TrackedWriter {
            inner,
            fault: self,
            broken: false,
            pos: 0,
            len: 0,
        }
    }

    /// Keeps `e` if it is the first, and gives the caller an error like it.
    fn record(&self, e: io::Error) -> io::Error {
        let like = io::Error::new(e.kind(), e.to_string());
        let first = self.0.take().unwrap_or(e);
        self.0.set(Some(first));
        like
    }

    /// `result`, unless a read or write failed on the way: then that failure,
    /// whatever the format readers made of it.
    pub(super) fn verdict<T>(&self, result: Result<T, ArchiveError>) -> Result<T, Failure> {
        match self.0.take() {
            Some(e) => Err(Failure::Io(e)),
            None => result.map_err(Failure::Archive),
        }
    }
}

/// A reader whose read errors its [`IoFault`] records. Interrupted reads are
/// retried here, so they never reach the formats.
///
/// Seek errors are not recorded: a seek fails only for a position the
/// archive's own offsets asked for (before the start), which is the archive's
/// fault.
#[derive(Debug)]
pub(super) struct Tracked<'a, T> {
    inner: T,
    fault: &'a IoFault,
}

impl<T: Read> Read for Tracked<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fault.record(e)),
                Ok(n) => return Ok(n),
            }
        }
    }
}

impl<T: Seek> Seek for Tracked<'_, T> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// A writer whose write errors its [`IoFault`] records.
///
/// After its first failure it takes everything and keeps nothing (moving a
/// virtual position as the writer would), since what it writes is abandoned:
/// a format writer finishing itself when dropped (the zip crate's, which
/// would print that failure to stderr) then finishes quietly, and the failure
/// is reported by [`IoFault::verdict`] all the same.
#[derive(Debug)]
pub(super) struct TrackedWriter<'a, W> {
    inner: W,
    fault: &'a IoFault,
    broken: bool,
    /// The position, and the length of what was written, as the writer has them.
    pos: u64,
    len: u64,
}

impl<W> TrackedWriter<'_, W> {
    pub(super) fn into_inner(self) -> W {
        self.inner
    }

    fn moved_to(&mut self, pos: u64) -> u64 {
        self.pos = pos;
        pos
    }

    fn wrote(&mut self, n: usize) -> usize {
        self.pos = self.pos.saturating_add(n as u64);
        self.len = self.len.max(self.pos);
        n
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        self.broken = true;
        self.fault.record(e)
    }
}

impl<W: Write> Write for TrackedWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            if self.broken {
                return Ok(self.wrote(buf.len()));
            }
            match self.inner.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(e)),
                Ok(n) => return Ok(self.wrote(n)),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        loop {
            if self.broken {
                return Ok(());
            }
            match self.inner.flush() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(e)),
                Ok(()) => return Ok(()),
            }
        }
    }
}

impl<W: Seek> Seek for TrackedWriter<'_, W> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        if !self.broken {
            let at = self.inner.seek(pos).map_err(|e| self.fail(e))?;
            return Ok(self.moved_to(at));
        }
        let at = match pos {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        };
        at.map(|at| self.moved_to(at))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
pub(super) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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

/// A rebuilt archive being written to a new temporary file, which is removed
/// if it is dropped before [`Spool::finish`].
#[derive(Debug)]
pub(super) struct Spool {
    file: BufWriter<File>,
    path: TempPath,
}

impl Spool {
    /// A new, empty temporary file in `dir`.
    pub(super) fn new_in(dir: &Path) -> io::Result<Self> {
        let (file, path) = tempfile::NamedTempFile::new_in(dir)?.into_parts();
        Ok(Self {
            file: BufWriter::new(file),
            path,
        })
    }

    /// Writes out what is buffered and closes the file.
    pub(super) fn finish(self) -> io::Result<TempPath> {
        let file = self
            .file
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        drop(file);
        Ok(self.path)
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Spool {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}
