//! Log lines written in batches per runtime worker; see [`log_writer`].

use std::cell::RefCell;
use std::io::{self, Write};

/// A worker writes its buffer once it holds this many bytes.
pub(crate) const FLUSH_AT: usize = 16 * 1024;

thread_local! {
    /// `Some` on runtime workers once they first park; `None` elsewhere.
    static BUFFER: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// A writer for `tracing_subscriber::fmt().with_writer(adapter_hyper::log_writer)`:
/// stderr, written in batches on the workers of [`runtime()`](crate::runtime()).
///
/// A busy server logs a line per request; a `write(2)` per line on the request
/// path cost ~15% of its throughput in the benchmark. A writer thread
/// (tracing-appender's) wins that back too, but it is one more thread
/// competing with the workers for the CPUs, behind a queue of up to 128,000
/// lines. Instead, each runtime worker
/// keeps its lines in a buffer of its own and writes the buffer to stderr
/// when it runs out of work (Tokio's `on_thread_park`), when the buffer holds
/// 16 KiB, and when the thread stops. An idle server therefore writes every
/// line at once; a saturated one writes a few kilobytes at a time. Other
/// threads (the main thread, the blocking pool, the workers of any other
/// runtime) write directly. Lines still buffered when the process is killed
/// with SIGKILL are lost; a normal stop writes them.
pub fn log_writer() -> LogWriter {
    LogWriter(())
}

/// See [`log_writer`].
#[derive(Debug)]
pub struct LogWriter(());

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let buffered = BUFFER
            .try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut slot) => match slot.as_mut() {
                    Some(buffer) => {
                        buffer.extend_from_slice(buf);
                        if buffer.len() >= FLUSH_AT {
                            write_out(buffer);
                        }
                        true
                    }
                    None => false,
                },
                Err(_) => false,
            })
            .unwrap_or(false);
        if !buffered {
            io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Tokio's `on_thread_park`: this thread is a worker with nothing to do, so
/// its lines go out now, and from here on it buffers.
pub(crate) fn on_park() {
    let _ = BUFFER.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            write_out(slot.get_or_insert_with(|| Vec::with_capacity(FLUSH_AT)));
        }
    });
}

/// Tokio's `on_thread_stop`: the last lines, and no more buffering.
pub(crate) fn on_stop() {
    let _ = BUFFER.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            if let Some(mut buffer) = slot.take() {
                write_out(&mut buffer);
            }
        }
    });
}

fn write_out(buffer: &mut Vec<u8>) {
    if !buffer.is_empty() {
        // Nowhere to report a failing stderr.
        let _ = io::stderr().write_all(buffer);
        buffer.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffered_len() -> Option<usize> {
        BUFFER.with(|cell| cell.borrow().as_ref().map(Vec::len))
    }

    #[test]
    fn buffers_only_after_parking_and_writes_out_on_park_size_and_stop() {
        std::thread::spawn(|| {
            let mut w = log_writer();
            w.write_all(b"direct\n").unwrap();
            assert_eq!(buffered_len(), None);

            on_park();
            w.write_all(b"line one\n").unwrap();
            w.write_all(b"line two\n").unwrap();
            assert_eq!(buffered_len(), Some(18));
            on_park();
            assert_eq!(buffered_len(), Some(0));

            let big = vec![b'x'; FLUSH_AT];
            w.write_all(&big).unwrap();
            assert_eq!(buffered_len(), Some(0), "a full buffer goes out at once");

            w.write_all(b"last\n").unwrap();
            on_stop();
            assert_eq!(buffered_len(), None);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_runtime_worker_buffers_and_a_blocking_thread_does_not() {
        let rt = crate::runtime().unwrap();
        rt.block_on(async {
            // Let a worker park at least once.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let on_worker = tokio::spawn(async { buffered_len().is_some() })
                .await
                .unwrap();
            assert!(on_worker);
            let on_blocking = tokio::task::spawn_blocking(|| buffered_len().is_some())
                .await
                .unwrap();
            assert!(!on_blocking);
        });
    }
}
