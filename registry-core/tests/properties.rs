//! Property tests (proptest) of the registry's input-facing code: address,
//! pattern and version parsing, `Registry::handle` on the in-memory fakes, and
//! archive validation.
//!
//! Each property runs a moderate number of cases by default (see
//! [`support::config`]); `PROPTEST_CASES=N` overrides it for every property,
//! e.g. `PROPTEST_CASES=5000 cargo test -p registry-core --test properties`.
//! Failures found by these properties (or by the fuzz targets in
//! `registry-core/fuzz/`) stay as plain `#[test]`s in the module they belong to.

#[path = "properties/support.rs"]
mod support;

#[path = "properties/archive.rs"]
mod archive;
#[path = "properties/parsing.rs"]
mod parsing;
#[path = "properties/router.rs"]
mod router;
