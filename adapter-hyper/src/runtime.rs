//! The Tokio runtime the servers run on.

/// Most threads Tokio's blocking pool grows to (its default is 512).
///
/// Storage backends such as storage-fs run every file operation there. With
/// the default, 64 concurrent publishes grew the pool to ~140 threads and the
/// server's RSS from 13 to 30 MiB (each thread's stack and allocator state),
/// for no more publishes per second on a small machine: their cost is CPU
/// (validation) and fsync, and 32 threads keep a disk's queue full.
/// Operations beyond this wait in Tokio's queue.
pub const MAX_BLOCKING_THREADS: usize = 32;

/// A multi-thread runtime (one worker per CPU, I/O and time enabled) whose
/// blocking pool is capped at [`MAX_BLOCKING_THREADS`] and whose workers
/// batch [`log_writer`](crate::log_writer)'s lines. Use it instead of
/// `#[tokio::main]` to get the settings the benchmarks measure.
///
/// # Errors
/// The OS refused to start the runtime's threads or its I/O driver.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .on_thread_park(crate::log_writer::on_park)
        .on_thread_stop(crate::log_writer::on_stop)
        .build()
}
