# Sourced (from the repo root) by scripts/test: Renovate, for the lookup-only dry run
# in examples/local-server/tests/renovate_lookup.rs.
#
#   Renovate 39.264.1   the `renovate` npm package, pinned with its whole dependency
#                       tree in scripts/renovate/package-lock.json
#
# It goes into scripts/renovate/node_modules/ with `npm ci` (about 330 MB, a minute),
# and later runs reuse it while package-lock.json is unchanged. `--ignore-scripts`:
# the only install scripts in the tree are optional native add-ons (re2,
# better-sqlite3, dtrace-provider) that would download prebuilt binaries from GitHub
# or Node's headers, which this machine cannot reach; without them Renovate falls
# back to JavaScript's RegExp and its file cache, which is all a lookup needs.
# Needs Node.js ^20.15.1 or ^22.11.0 (Renovate 39's `engines`) with npm. Functions
# print progress and errors on stderr and return non-zero on failure; the caller
# decides whether that is fatal.

readonly RENOVATE_VERSION=39.264.1
readonly RENOVATE_DIR=scripts/renovate

renovate_say() {
    echo "$0: $*" >&2
}

# Installs Renovate into $RENOVATE_DIR/node_modules unless the locked tree is there
# and works; prints the path of its `renovate` binary.
install_renovate() {
    command -v node >/dev/null || { renovate_say "node is not on PATH (Renovate needs Node.js 20 or 22)"; return 1; }
    command -v npm >/dev/null || { renovate_say "npm is not on PATH"; return 1; }
    # Renovate 39's engines: ^20.15.1 || ^22.11.0.
    if ! node -e '
        const [major, minor] = process.versions.node.split(".").map(Number);
        process.exit((major === 20 && minor >= 15) || (major === 22 && minor >= 11) ? 0 : 1);
    '; then
        renovate_say "Renovate $RENOVATE_VERSION needs Node.js ^20.15.1 or ^22.11.0, this is $(node --version)"
        return 1
    fi
    local bin="$PWD/$RENOVATE_DIR/node_modules/.bin/renovate"
    local stamp="$RENOVATE_DIR/node_modules/.tfr-package-lock.sha256"
    local want have
    want="$(sha256sum "$RENOVATE_DIR/package-lock.json" | cut -d' ' -f1)" || return 1
    have="$(cat "$stamp" 2>/dev/null)" || true
    if [[ "$have" != "$want" ]] || [[ "$("$bin" --version 2>/dev/null | tail -n 1)" != "$RENOVATE_VERSION" ]]; then
        renovate_say "installing renovate@$RENOVATE_VERSION into $RENOVATE_DIR/node_modules/ (npm ci, one time)"
        npm ci --prefix "$RENOVATE_DIR" --ignore-scripts --no-audit --no-fund --loglevel=error >&2 ||
            return 1
        if [[ "$("$bin" --version 2>/dev/null | tail -n 1)" != "$RENOVATE_VERSION" ]]; then
            renovate_say "after npm ci, $bin --version does not print $RENOVATE_VERSION"
            return 1
        fi
        echo "$want" >"$stamp"
    fi
    echo "$bin"
}
