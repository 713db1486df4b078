//! Request bodies: what an adapter hands to [`Registry::respond`](crate::Registry::respond)
//! after admission, and the [`BodySpool`] it reads a streamed body into.

use std::io::Write as _;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};

use super::router::BodyKind;
use super::AdapterError;

/// An upload is held in memory up to this many bytes, then written to a
/// temporary file in chunks of this size: the memory a body costs while it
/// arrives, whatever its size.
pub(crate) const SPOOL_CHUNK_BYTES: usize = 256 * 1024;

/// The body of an admitted request: in memory, or spooled to a temporary file
/// (removed when dropped).
///
/// Adapters that have the whole body already (Lambda events, tests) convert
/// `Bytes` with `From`; streaming adapters fill a [`BodySpool`].
#[derive(Debug)]
pub struct RequestBody(Inner);

#[derive(Debug)]
enum Inner {
    Memory(Bytes),
    File { path: tempfile::TempPath, len: u64 },
}

impl RequestBody {
    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        match &self.0 {
            Inner::Memory(bytes) => bytes.len() as u64,
            Inner::File { len, .. } => *len,
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the body was spooled to a temporary file.
    pub fn is_spooled(&self) -> bool {
        matches!(self.0, Inner::File { .. })
    }

    /// The body as in-memory bytes or as its temporary file.
    pub(crate) fn into_content(self) -> BodyContent {
        match self.0 {
            Inner::Memory(bytes) => BodyContent::Memory(bytes),
            Inner::File { path, .. } => BodyContent::File(path),
        }
    }
}

impl From<Bytes> for RequestBody {
    fn from(bytes: Bytes) -> Self {
        Self(Inner::Memory(bytes))
    }
}

/// [`RequestBody`]'s content, for the use cases.
#[derive(Debug)]
pub(crate) enum BodyContent {
    Memory(Bytes),
    File(tempfile::TempPath),
}

/// Collects a request body that arrives in chunks, within the limit the
/// registry set at admission, in bounded memory.
///
/// # Contract
/// - [`push`](Self::push) refuses a chunk that would take the body past
///   [`Admitted::body_limit`](super::Admitted::body_limit) with
///   [`AdapterError::BodyTooLarge`]; nothing past the limit is kept.
/// - An upload (a module archive) is held in memory only up to
///   256 KiB; past that it is written to a temporary file in
///   [`RegistryConfig::spool_dir`](crate::RegistryConfig::spool_dir) (the
///   system's temporary directory by default) in 256 KiB writes, off the async
///   runtime's worker threads. Other bodies are small and stay in memory.
/// - Dropping the spool (a failed or abandoned read) removes its file.
#[derive(Debug)]
pub struct BodySpool {
    limit: u64,
    /// `None`: never spooled (not an upload).
    spool_dir: Option<PathBuf>,
    buffer: BytesMut,
    file: Option<(std::fs::File, tempfile::TempPath)>,
    len: u64,
}

impl BodySpool {
    pub(crate) fn new(limit: usize, kind: BodyKind, spool_dir: Option<PathBuf>) -> Self {
        let spool_dir =
            (kind == BodyKind::Archive).then(|| spool_dir.unwrap_or_else(std::env::temp_dir));
        Self {
            limit: limit as u64,
            spool_dir,
            buffer: BytesMut::new(),
            file: None,
            len: 0,
        }
    }

    /// Adds the next chunk of the body.
    ///
    /// # Errors
    /// [`AdapterError::BodyTooLarge`] past the limit;
    /// [`AdapterError::BodySpoolFailed`] if the temporary file cannot be
    /// created or written (e.g. the disk is full).
    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), AdapterError> {
        let len = self.len.saturating_add(chunk.len() as u64);
        if len > self.limit {
            return Err(AdapterError::BodyTooLarge {
                limit: usize::try_from(self.limit).unwrap_or(usize::MAX),
            });
        }
        self.len = len;
        self.buffer.extend_from_slice(chunk);
        if self.spool_dir.is_some() && self.buffer.len() >= SPOOL_CHUNK_BYTES {
            self.write_buffer().await?;
        }
        Ok(())
    }

    /// The whole body.
    ///
    /// # Errors
    /// [`AdapterError::BodySpoolFailed`] if the rest cannot be written to the
    /// temporary file.
    pub async fn finish(mut self) -> Result<RequestBody, AdapterError> {
        if self.file.is_none() {
            return Ok(RequestBody(Inner::Memory(self.buffer.freeze())));
        }
        self.write_buffer().await?;
        let (file, path) = self.file.take().expect("checked above");
        let len = self.len;
        blocking(move || file.sync_data()).await?;
        Ok(RequestBody(Inner::File { path, len }))
    }

    /// Writes the buffer to the temporary file, creating it first if needed.
    async fn write_buffer(&mut self) -> Result<(), AdapterError> {
        let chunk = self.buffer.split().freeze();
        let file = self.file.take();
        let dir = self.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
        let written = blocking(move || {
            let (mut file, path) = match file {
                Some(open) => open,
                None => tempfile::Builder::new()
                    .prefix(".tfr-upload-")
                    .tempfile_in(&dir)?
                    .into_parts(),
            };
            file.write_all(&chunk)?;
            Ok((file, path))
        })
        .await?;
        self.file = Some(written);
        Ok(())
    }
}

/// Runs blocking file I/O off the runtime's workers (inline without a runtime).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, AdapterError> {
    let result = match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(work)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e))),
        Err(_) => work(),
    };
    result.map_err(|error| {
        tracing::warn!(%error, "upload body could not be spooled");
        AdapterError::BodySpoolFailed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_bodies_stay_in_memory_and_uploads_spool_past_the_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let mut json = BodySpool::new(1 << 20, BodyKind::Json, Some(dir.path().into()));
        json.push(&[b'x'; SPOOL_CHUNK_BYTES * 2]).await.unwrap();
        let body = json.finish().await.unwrap();
        assert!(!body.is_spooled());
        assert_eq!(body.len(), (SPOOL_CHUNK_BYTES * 2) as u64);

        let mut upload = BodySpool::new(1 << 20, BodyKind::Archive, Some(dir.path().into()));
        upload.push(b"small").await.unwrap();
        assert!(!upload.finish().await.unwrap().is_spooled());

        let mut upload = BodySpool::new(1 << 20, BodyKind::Archive, Some(dir.path().into()));
        for i in 0..5u8 {
            upload.push(&[i; 100_000]).await.unwrap();
        }
        let body = upload.finish().await.unwrap();
        assert!(body.is_spooled());
        assert_eq!(body.len(), 500_000);
        let BodyContent::File(path) = body.into_content() else {
            panic!("spooled")
        };
        assert!(path.starts_with(dir.path()));
        let stored = std::fs::read(&path).unwrap();
        assert_eq!(stored.len(), 500_000);
        assert!(stored[..100_000].iter().all(|b| *b == 0));
        assert!(stored[400_000..].iter().all(|b| *b == 4));
        let kept = path.to_path_buf();
        drop(path);
        assert!(!kept.exists(), "the spool file is removed with the body");
    }

    #[tokio::test]
    async fn the_limit_is_enforced_on_what_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let mut upload = BodySpool::new(300_000, BodyKind::Archive, Some(dir.path().into()));
        upload.push(&[1; 299_999]).await.unwrap();
        upload.push(&[1]).await.unwrap();
        assert_eq!(
            upload.push(&[1]).await,
            Err(AdapterError::BodyTooLarge { limit: 300_000 })
        );
        drop(upload);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "an abandoned spool leaves no file"
        );
    }

    #[tokio::test]
    async fn an_unwritable_spool_dir_is_a_spool_failure() {
        let mut upload = BodySpool::new(
            1 << 20,
            BodyKind::Archive,
            Some("/nonexistent/tfr-spool".into()),
        );
        assert_eq!(
            upload.push(&[0; SPOOL_CHUNK_BYTES]).await,
            Err(AdapterError::BodySpoolFailed)
        );
    }
}
