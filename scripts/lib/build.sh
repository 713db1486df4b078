# Sourced (from the repo root) by scripts/schemathesis-test and
# scripts/lambda-emulator-test: the one debug build the test scripts share.
#
# scripts/test runs `cargo test --workspace --all-features --locked` first. Cargo
# resolves features per command: that one unifies the dev-dependencies' features
# (tokio's test-util, reqwest's blocking, the crates' `fake` features, ...) across
# the whole workspace, while `cargo build -p local-server` or `cargo run -p
# serverless-aws` would resolve their own smaller sets and so compile tokio, hyper,
# reqwest, aws-sdk-s3 and everything above them a second and a third time.
#
# `cargo build --workspace --all-features --all-targets --locked` selects the same
# packages, features and targets as that `cargo test` (tests are among the targets,
# so the dev-dependencies are in), plus every binary as a binary. After `cargo test`
# it compiles at most the binaries `cargo test` does not build (serverless-aws: it
# has no integration tests) and reuses everything else; run alone it is a correct
# build that the later `cargo test` reuses in turn. Its outputs:
#
#   $CARGO_TARGET_DIR/debug/local-server               (scripts/schemathesis-test)
#   $CARGO_TARGET_DIR/debug/serverless-aws             (scripts/lambda-emulator-test)
#   $CARGO_TARGET_DIR/debug/examples/fake_github       (scripts/lambda-emulator-test)
#
# Keep this command and scripts/test's `cargo test` flags in step (workspace, all
# features, debug), or the scripts build the heavy crates again.

readonly WORKSPACE_BUILD=(cargo build --workspace --all-features --all-targets --locked)
readonly DEBUG_DIR="${CARGO_TARGET_DIR:-target}/debug"

# Runs WORKSPACE_BUILD (a no-op when `cargo test` or an earlier script built it).
build_workspace() {
    echo "$0: ${WORKSPACE_BUILD[*]}" >&2
    "${WORKSPACE_BUILD[@]}"
}
