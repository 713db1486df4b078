//! Shared by the property modules: the case count and a runtime to drive
//! `Registry::handle`.

use std::future::Future;

use proptest::test_runner::Config;

/// `default_cases` cases, unless `PROPTEST_CASES` says otherwise.
///
/// (`Config::with_cases` alone would ignore the variable.)
pub(crate) fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        // Archive cases are large: keep shrinking bounded.
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
}

/// Runs `f` on this thread's current-thread runtime (as an adapter would: the
/// registry moves archive work to the runtime's blocking pool).
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(f))
}
